//! Decisions under concurrency: the decision helper keeps an invariant of a
//! stream, and of a consistency boundary across streams, however many
//! commands race.

use std::sync::Arc;

use eventblocks_core::{
    DecideError, DecideOptions, EventStore, NewEvent, Query, QueryItem, StreamIdentifier,
    StreamWrite, WriteCondition,
};
use serde_json::json;

fn amount(event: &eventblocks_core::StoredEvent) -> eventblocks_core::Result<i64> {
    let payload: serde_json::Value = event.payload_as()?;
    Ok(payload["amount"].as_i64().unwrap_or_default())
}

/// Twenty withdrawals of 10 race for a balance of 100: exactly ten succeed,
/// the others are refused by the decide function, and the balance ends at 0.
pub async fn stream_decisions_keep_an_invariant_under_concurrency(store: EventStore) {
    let account = store
        .stream("accounts", "a-1")
        .unwrap_or_else(|error| panic!("{error}"));
    let opened = NewEvent::new("deposited", &json!({ "amount": 100 }))
        .unwrap_or_else(|error| panic!("{error}"));
    account
        .publish([opened], WriteCondition::StreamIsEmpty)
        .await
        .unwrap_or_else(|error| panic!("opening the account failed: {error}"));
    let options = DecideOptions::default().attempts(200);
    let racers: Vec<_> = (0..20)
        .map(|_| {
            let account = account.clone();
            tokio::spawn(async move {
                account
                    .decide(
                        0_i64,
                        |balance, event| {
                            let change = amount(event)?;
                            *balance += if event.name.as_str() == "deposited" {
                                change
                            } else {
                                -change
                            };
                            Ok(())
                        },
                        |balance| {
                            if *balance < 10 {
                                return Err("insufficient funds");
                            }
                            Ok(vec![NewEvent::new("withdrawn", &json!({ "amount": 10 }))
                                .unwrap_or_else(|error| panic!("{error}"))])
                        },
                        options,
                    )
                    .await
            })
        })
        .collect();
    let (mut withdrawn, mut refused) = (0, 0);
    for racer in racers {
        match racer.await.expect("the task finished") {
            Ok(events) => withdrawn += events.len(),
            Err(DecideError::Rejected(_)) => refused += 1,
            Err(other) => panic!("a withdrawal failed: {other:?}"),
        }
    }
    assert_eq!((withdrawn, refused), (10, 10));
    let events = account
        .read()
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    assert_eq!(events.len(), 11, "the deposit and ten withdrawals");
}

/// Twelve students race for the five seats of a course; each enrolment goes to
/// the student's own stream and is decided over the course's boundary (every
/// event tagged with the course): exactly five are enrolled.
pub async fn boundary_decisions_keep_an_invariant_across_streams(store: EventStore) {
    if !store.adapter().capabilities().boundaries {
        return;
    }
    const SEATS: usize = 5;
    let course = Arc::new(
        Query::new().or(QueryItem::new()
            .names(["student-enrolled"])
            .and_then(|item| item.tags(["course:c1"]))
            .unwrap_or_else(|error| panic!("{error}"))),
    );
    let options = DecideOptions::default().attempts(200);
    let racers: Vec<_> = (0..12)
        .map(|student| {
            let (store, course) = (store.clone(), Arc::clone(&course));
            tokio::spawn(async move {
                store
                    .log()
                    .decide(
                        (*course).clone(),
                        0_usize,
                        |enrolled, _| {
                            *enrolled += 1;
                            Ok(())
                        },
                        |enrolled| {
                            if *enrolled >= SEATS {
                                return Err("the course is full");
                            }
                            let stream =
                                StreamIdentifier::new("students", format!("s{student}").as_str())
                                    .unwrap_or_else(|error| panic!("{error}"));
                            let enrolment =
                                NewEvent::new("student-enrolled", &json!({ "course": "c1" }))
                                    .and_then(|event| {
                                        event.tags(["course:c1", &format!("student:s{student}")])
                                    })
                                    .unwrap_or_else(|error| panic!("{error}"));
                            Ok(vec![StreamWrite::new(
                                stream,
                                [enrolment],
                                WriteCondition::NoCondition,
                            )])
                        },
                        options,
                    )
                    .await
            })
        })
        .collect();
    let mut enrolled = 0;
    for racer in racers {
        match racer.await.expect("the task finished") {
            Ok(events) => enrolled += events.len(),
            Err(DecideError::Rejected(_)) => {}
            Err(other) => panic!("an enrolment failed: {other:?}"),
        }
    }
    assert_eq!(enrolled, SEATS);
    let read = store
        .log()
        .query((*course).clone(), eventblocks_core::QueryOptions::new())
        .await
        .unwrap_or_else(|error| panic!("{error}"));
    let stored: Vec<_> = futures::TryStreamExt::try_collect(read.events)
        .await
        .unwrap_or_else(|error: eventblocks_core::Error| panic!("{error}"));
    assert_eq!(stored.len(), SEATS, "exactly the seats, stored");
}
