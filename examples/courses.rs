//! Course subscriptions on a consistency boundary: a course takes at most its
//! capacity of students and a student takes at most two courses, however many
//! subscribe commands race. Each command reads the events of its course and of
//! its student (one query spanning both), decides, and publishes on the
//! condition that nothing it read has changed; on a conflict it reads and
//! decides again.
//!
//! Run it with `cargo run --example courses` (in memory), or with
//! `cargo run --example courses -- --postgres` (PostgreSQL at `DATABASE_URL`,
//! default `postgres://postgres@localhost:5432/postgres`, in the schema
//! `eventblocks_example_courses`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use eventblocks_core::{
    DecideError, DecideOptions, Error, EventStore, NewEvent, Query, QueryItem, QueryOptions,
    StoredEvent, StreamIdentifier, StreamWrite, WriteCondition,
};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};

const STUDENT_COURSE_LIMIT: usize = 2;

#[derive(Debug, Serialize, Deserialize)]
struct CourseDefined {
    course: String,
    capacity: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct StudentSubscribed {
    course: String,
    student: String,
}

/// What a subscribe command needs to know, folded from its boundary.
#[derive(Debug, Clone, Default)]
struct Boundary {
    capacity: Option<usize>,
    course_students: BTreeSet<String>,
    student_courses: BTreeSet<String>,
}

/// Why a subscription was refused: the application's own errors.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    NoSuchCourse,
    CourseFull,
    AlreadySubscribed,
    TooManyCourses,
}

fn course_tag(course: &str) -> String {
    format!("course:{course}")
}

fn student_tag(student: &str) -> String {
    format!("student:{student}")
}

/// The events a subscribe decision depends on: the course's definition and
/// subscriptions, and the student's subscriptions.
fn boundary(course: &str, student: &str) -> Result<Query, Error> {
    Ok(Query::new()
        .or(QueryItem::new()
            .names(["course-defined", "student-subscribed"])?
            .tags([course_tag(course)])?)
        .or(QueryItem::new()
            .names(["student-subscribed"])?
            .tags([student_tag(student)])?))
}

fn fold(
    course: &str,
    student: &str,
) -> impl FnMut(&mut Boundary, &StoredEvent) -> Result<(), Error> {
    let (course, student) = (course.to_owned(), student.to_owned());
    move |state, event| {
        match event.name.as_str() {
            "course-defined" => {
                state.capacity = Some(event.payload_as::<CourseDefined>()?.capacity)
            }
            "student-subscribed" => {
                let subscribed: StudentSubscribed = event.payload_as()?;
                if subscribed.course == course {
                    state.course_students.insert(subscribed.student.clone());
                }
                if subscribed.student == student {
                    state.student_courses.insert(subscribed.course);
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn decide(
    course: &str,
    student: &str,
) -> impl FnMut(&Boundary) -> Result<Vec<StreamWrite>, Refused> {
    let (course, student) = (course.to_owned(), student.to_owned());
    move |state| {
        let capacity = state.capacity.ok_or(Refused::NoSuchCourse)?;
        if state.student_courses.contains(&course) {
            return Err(Refused::AlreadySubscribed);
        }
        if state.course_students.len() >= capacity {
            return Err(Refused::CourseFull);
        }
        if state.student_courses.len() >= STUDENT_COURSE_LIMIT {
            return Err(Refused::TooManyCourses);
        }
        let subscribed = StudentSubscribed {
            course: course.clone(),
            student: student.clone(),
        };
        let event = NewEvent::new("student-subscribed", &subscribed)
            .and_then(|event| event.tags([course_tag(&course), student_tag(&student)]))
            .expect("names and tags of the example are valid");
        let stream = StreamIdentifier::new("students", student.as_str())
            .expect("student stream names of the example are valid");
        Ok(vec![StreamWrite::new(
            stream,
            [event],
            WriteCondition::NoCondition,
        )])
    }
}

/// Subscribes `student` to `course`: the decision of one command.
async fn subscribe(
    store: &EventStore,
    course: &str,
    student: &str,
) -> Result<Vec<StoredEvent>, DecideError<Refused>> {
    let query = boundary(course, student).map_err(DecideError::Store)?;
    let options = DecideOptions::default().attempts(100);
    store
        .log()
        .decide(
            query,
            Boundary::default(),
            fold(course, student),
            decide(course, student),
            options,
        )
        .await
}

/// Defines a course once: a second definition of the same course id is
/// refused by a `NoneMatch` condition, a uniqueness guard.
async fn define_course(store: &EventStore, course: &str, capacity: usize) -> Result<(), Error> {
    let defined = CourseDefined {
        course: course.to_owned(),
        capacity,
    };
    let event = NewEvent::new("course-defined", &defined)?.tag(course_tag(course))?;
    let already = Query::new().or(QueryItem::new()
        .names(["course-defined"])?
        .tags([course_tag(course)])?);
    store
        .stream("courses", course)?
        .publish([event], WriteCondition::NoneMatch(already))
        .await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), eventblocks_core::BoxError> {
    // In memory, or with `--postgres` on PostgreSQL.
    let (store, _, _) = eventblocks_examples::stores("courses").await?;
    // Fresh ids each run, so the example runs again and again on one store.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let courses: Vec<String> = (0..4).map(|n| format!("course-{n}-{run:.8}")).collect();
    for course in &courses {
        define_course(&store, course, 3).await?;
    }
    let again = define_course(&store, &courses[0], 10).await;
    assert!(
        matches!(again, Err(Error::AlreadyMatched { .. })),
        "{again:?}"
    );

    // Eight students each try every course at once: 32 racing commands for
    // 12 seats, with at most 2 courses a student.
    let students: Vec<String> = (0..8).map(|n| format!("student-{n}-{run:.8}")).collect();
    let store = Arc::new(store);
    let mut commands = Vec::new();
    for student in &students {
        for course in &courses {
            let (store, course, student) = (store.clone(), course.clone(), student.clone());
            commands.push(tokio::spawn(async move {
                let outcome = subscribe(&store, &course, &student).await;
                (course, student, outcome)
            }));
        }
    }
    let mut refusals: BTreeMap<String, usize> = BTreeMap::new();
    for command in commands {
        let (_, _, outcome) = command.await?;
        match outcome {
            Ok(_) => {}
            Err(DecideError::Rejected(refused)) => {
                *refusals.entry(format!("{refused:?}")).or_default() += 1
            }
            Err(DecideError::Store(error)) => return Err(error.into()),
            Err(other) => return Err(format!("{other:?}").into()),
        }
    }

    let subscriptions = subscriptions(&store, &courses).await?;
    for (course, students) in &subscriptions {
        println!("{course}: {} of 3 seats: {students:?}", students.len());
        assert!(students.len() <= 3, "a course is never over capacity");
    }
    for student in &students {
        let taken = subscriptions
            .values()
            .filter(|s| s.contains(student))
            .count();
        assert!(
            taken <= STUDENT_COURSE_LIMIT,
            "a student never takes more than two courses"
        );
    }
    println!("refused: {refusals:?}");
    Ok(())
}

/// Every course's students, read back with one query.
async fn subscriptions(
    store: &EventStore,
    courses: &[String],
) -> Result<BTreeMap<String, Vec<String>>, Error> {
    let mut query = Query::new();
    for course in courses {
        query = query.or(QueryItem::new()
            .names(["student-subscribed"])?
            .tags([course_tag(course)])?);
    }
    let read = store.log().query(query, QueryOptions::new()).await?;
    let events: Vec<StoredEvent> = read.events.try_collect().await?;
    let mut by_course: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for event in events {
        let subscribed: StudentSubscribed = event.payload_as()?;
        by_course
            .entry(subscribed.course)
            .or_default()
            .push(subscribed.student);
    }
    Ok(by_course)
}
