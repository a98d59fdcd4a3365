//! Consistency-boundary scenarios, on any adapter through the facade:
//! query-conditioned appends beside stream-conditioned ones in the same run,
//! and boundary reads among a log of tagged events.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use eventblocks_core::{
    EventStore, Head, Json, Name, NewEvent, Query, QueryItem, QueryOptions, StreamHandle, Tag,
    WriteCondition,
};
use futures::TryStreamExt;

use crate::report::{Latency, Row, Stats};
use crate::subject::{payload, BenchResult, CATEGORY};

/// How many events of the filled log each course tag is on: a boundary read
/// of one course returns this many.
pub(crate) const PER_COURSE: usize = 100;

/// Numbers the boundaries and streams of a process, so no two writers share one.
static WRITERS: AtomicU64 = AtomicU64::new(0);

/// The query of one course's boundary.
pub(crate) fn course(course: usize) -> BenchResult<Query> {
    Ok(Query::new().or(QueryItem::new().tags([format!("course:c{course}")])?))
}

/// Makes the events the scenarios publish: one name and payload, built once.
#[derive(Clone)]
struct Events {
    name: Name,
    payload: Json,
}

impl Events {
    fn new() -> BenchResult<Self> {
        Ok(Self {
            name: Name::new("event name", "student-enrolled")?,
            payload: payload(),
        })
    }

    fn tagged(&self, tag: &Tag) -> NewEvent {
        NewEvent::with_json(self.name.clone(), self.payload.clone()).with_tag(tag.clone())
    }
}

/// A writer on a boundary of its own (a tag no other writer uses), with the
/// head of a read of it.
struct BoundaryWriter {
    tag: Tag,
    query: Query,
    head: Head,
    stream: StreamHandle,
}

impl BoundaryWriter {
    /// Reads the new writer's boundary (untimed: a read waits until every
    /// transaction older than its snapshot has finished, however long other
    /// clients of a shared server keep theirs open).
    async fn new(store: &EventStore) -> BenchResult<Self> {
        let writer = WRITERS.fetch_add(1, Ordering::Relaxed);
        let tag = Tag::new(format!("writer:{writer}-{}", uuid::Uuid::new_v4().simple()))?;
        let query = Query::new().or(QueryItem::new().tags([tag.as_str()])?);
        let read = store
            .log()
            .query(query.clone(), QueryOptions::new())
            .await?;
        let head = read.head;
        drop(read);
        let stream = store.stream(CATEGORY, &format!("boundary-{writer}"))?;
        Ok(Self {
            tag,
            query,
            head,
            stream,
        })
    }
}

/// One writer's `calls` appends of one event to its own stream under
/// `NoneMatchAfter` of the writer's own boundary and the head just past its
/// previous event: nothing else matches the boundary, so each append's
/// condition holds, as a decision made on a fresh read of it would. The
/// stream plays no part in the condition.
async fn query_conditioned(
    store: EventStore,
    events: Events,
    mut writer: BoundaryWriter,
    calls: usize,
) -> BenchResult<()> {
    let store_id = store.adapter().store_id();
    for _ in 0..calls {
        let condition = WriteCondition::NoneMatchAfter(writer.query.clone(), writer.head);
        let stored = writer
            .stream
            .publish([events.tagged(&writer.tag)], condition)
            .await?;
        let last = stored.last().ok_or("a publish stored nothing")?;
        writer.head = Head::new(store_id, last.sequence_number + 1);
    }
    Ok(())
}

/// One writer's `calls` appends of one event (tagged alike) to its own
/// stream, each conditioned on the stream's last position.
async fn stream_conditioned(store: EventStore, events: Events, calls: usize) -> BenchResult<()> {
    let writer = WRITERS.fetch_add(1, Ordering::Relaxed);
    let stream = store.stream(CATEGORY, &format!("positioned-{writer}"))?;
    let tag = Tag::new(format!("writer:{writer}-{}", uuid::Uuid::new_v4().simple()))?;
    let mut last = None;
    for _ in 0..calls {
        let stored = stream
            .publish([events.tagged(&tag)], WriteCondition::PositionIs(last))
            .await?;
        last = stored.last().map(|event| event.position);
    }
    Ok(())
}

/// How many slices each run of the append scenarios is cut into, the two
/// kinds of append alternating slice by slice, so that load from elsewhere on
/// a shared machine falls on both alike.
const SLICES: usize = 10;

/// `writers` writers on disjoint boundaries appending one event per call with
/// a query condition, next to as many appending with a stream condition,
/// alternating slice by slice. Each slice starts new writers; a
/// query-conditioned writer's first read of its boundary is not timed.
pub(crate) async fn appends(
    store: &EventStore,
    label: &str,
    writers: usize,
    calls: usize,
    runs: usize,
) -> BenchResult<Row> {
    let events = Events::new()?;
    let (mut query_rates, mut stream_rates) = (Vec::new(), Vec::new());
    let calls = (calls / SLICES).max(1);
    for _ in 0..runs {
        let mut elapsed = [0.0, 0.0];
        for _ in 0..SLICES {
            for query in [true, false] {
                let mut boundary_writers = Vec::new();
                if query {
                    for _ in 0..writers {
                        boundary_writers.push(Some(BoundaryWriter::new(store).await?));
                    }
                } else {
                    boundary_writers.resize_with(writers, || None);
                }
                let started = Instant::now();
                let tasks = boundary_writers.into_iter().map(|writer| {
                    let (store, events) = (store.clone(), events.clone());
                    tokio::spawn(async move {
                        match writer {
                            Some(writer) => query_conditioned(store, events, writer, calls).await,
                            None => stream_conditioned(store, events, calls).await,
                        }
                    })
                });
                for task in futures::future::join_all(tasks).await {
                    task??;
                }
                elapsed[usize::from(!query)] += started.elapsed().as_secs_f64();
            }
        }
        let appended = (writers * calls * SLICES) as f64;
        query_rates.push(appended / elapsed[0]);
        stream_rates.push(appended / elapsed[1]);
    }
    let writers_name = match writers {
        1 => "1 writer".to_owned(),
        _ => format!("{writers} writers"),
    };
    Ok(Row::new(
        &format!("query-cond. append 1/call, {writers_name}"),
        "events/s",
        Stats::new(label, query_rates),
        vec![Stats::new("stream-conditioned", stream_rates)],
    )
    .with_note("raw column: stream-conditioned append"))
}

/// Fills the log with `events` tagged events in publishes of 1000: event `i`
/// carries `course:c<i mod courses>` and `student:s<i>`, so each course is on
/// [`PER_COURSE`] events spread over the whole log.
pub(crate) async fn fill(store: &EventStore, events: usize) -> BenchResult<usize> {
    let courses = events / PER_COURSE;
    let name = Name::new("event name", "student-enrolled")?;
    let payload = payload();
    for batch in 0..events / 1000 {
        let stream = store.stream(CATEGORY, &format!("enrolments-{batch}"))?;
        let enrolments = (batch * 1000..(batch + 1) * 1000)
            .map(|i| {
                NewEvent::with_json(name.clone(), payload.clone())
                    .tags([format!("course:c{}", i % courses), format!("student:s{i}")])
            })
            .collect::<Result<Vec<_>, _>>()?;
        stream
            .publish(enrolments, WriteCondition::NoCondition)
            .await?;
    }
    Ok(courses)
}

/// The longest a run of [`timed`] goes on: a slow baseline stops early.
const RUN_BUDGET: Duration = Duration::from_secs(10);

/// Times up to `samples` calls of `call(i)` a run (fewer if the run reaches
/// [`RUN_BUDGET`]), each returning how many events it handled, checked
/// against `expected` when given: calls per second over `runs` runs, and the
/// latency of every call.
pub(crate) async fn timed<F, Fut>(
    label: &str,
    runs: usize,
    samples: usize,
    expected: Option<usize>,
    mut call: F,
) -> BenchResult<(Stats, Option<Latency>)>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = BenchResult<usize>>,
{
    let (mut rates, mut latencies) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let started = Instant::now();
        let mut calls = 0;
        for sample in 0..samples {
            if started.elapsed() > RUN_BUDGET {
                break;
            }
            calls += 1;
            let at = Instant::now();
            let handled = call(run * samples + sample).await?;
            latencies.push(at.elapsed().as_secs_f64() * 1000.0);
            if let Some(expected) = expected {
                if handled != expected {
                    return Err(format!("{label}: {handled} events, not {expected}").into());
                }
            }
        }
        rates.push(calls as f64 / started.elapsed().as_secs_f64());
    }
    Ok((Stats::new(label, rates), Latency::of(latencies)))
}

/// A course picked evenly over the courses by sample number.
pub(crate) fn pick(sample: usize, courses: usize) -> usize {
    (sample * 7919) % courses
}

/// Boundary reads of one course ([`PER_COURSE`] events) among the filled log.
pub(crate) async fn reads(
    store: &EventStore,
    label: &str,
    courses: usize,
    runs: usize,
    samples: usize,
) -> BenchResult<Row> {
    let (stats, latency) = timed(label, runs, samples, Some(PER_COURSE), |sample| {
        let store = store.clone();
        async move {
            let read = store
                .log()
                .query(course(pick(sample, courses))?, QueryOptions::new())
                .await?;
            let events: Vec<_> = read.events.try_collect().await?;
            Ok(events.len())
        }
    })
    .await?;
    let events = courses * PER_COURSE;
    Ok(Row::new(
        &format!("boundary read {PER_COURSE} of {events}"),
        "reads/s",
        stats,
        vec![],
    )
    .with_latency(latency))
}

/// Query-conditioned appends of one event to a course boundary among the
/// filled log, with the head of a read of it: the condition check among
/// many events, end to end.
pub(crate) async fn checked_appends(
    store: &EventStore,
    label: &str,
    courses: usize,
    runs: usize,
    samples: usize,
) -> BenchResult<Row> {
    let events = Events::new()?;
    let (stats, latency) = timed(label, runs, samples, None, |sample| {
        let (store, events) = (store.clone(), events.clone());
        async move {
            let course = pick(sample, courses);
            let query = self::course(course)?;
            let head = store
                .log()
                .query(query.clone(), QueryOptions::new().limit(1))
                .await?
                .head;
            let stream = store.stream(CATEGORY, &format!("checked-{}", uuid::Uuid::new_v4()))?;
            let tag = Tag::new(format!("course:c{course}"))?;
            stream
                .publish(
                    [events.tagged(&tag)],
                    WriteCondition::NoneMatchAfter(query, head),
                )
                .await?;
            Ok(1)
        }
    })
    .await?;
    let events = courses * PER_COURSE;
    Ok(Row::new(
        &format!("read + query-cond. append, {events}"),
        "calls/s",
        stats,
        vec![],
    )
    .with_latency(latency))
}
