//! The `--replica` mode: a private primary and an asynchronous hot standby of
//! it (PostgreSQL's streaming replication, made with `pg_basebackup -R`),
//! both on this machine. It measures, in the same run:
//!
//! - catch-up (a subscription from the start of a full log) served by the
//!   standby, as a ratio to the same catch-up served by the primary;
//! - the delay from publish (on the primary) to delivery to a subscription on
//!   the standby, under 8 writers, p50 and p99; and on the primary alongside,
//!   for comparison.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventblocks_core::{
    EventStore, Name, NewEvent, SubscriptionMessage, SubscriptionOptions, WriteCondition,
};
use eventblocks_postgres::testing::{PrivateServer, Replication};
use eventblocks_postgres::{NodePreference, PostgresAdapter};
use futures::TryStreamExt;
use parking_lot::Mutex;

use crate::report::{Latency, Row, Stats};
use crate::subject::{payload, BenchResult, StoreSubject, CATEGORY};
use crate::Options;

const WRITERS: usize = 8;

pub(crate) async fn run(options: &Options) -> BenchResult<Vec<Row>> {
    let primary = tokio::task::spawn_blocking(PrivateServer::start).await??;
    PostgresAdapter::connect(primary.url())?.migrate().await?;
    let primary = Arc::new(primary);
    let standby = tokio::task::spawn_blocking({
        let primary = primary.clone();
        move || primary.start_standby(Replication::Asynchronous)
    })
    .await??;
    let adapter = PostgresAdapter::builder()
        .url(primary.url())
        .replica_url(standby.url())
        .pool_size(16)
        .build()?;
    let on_primary = StoreSubject::new("primary", EventStore::new(adapter.clone()));
    let on_replica = StoreSubject::new(
        "replica",
        EventStore::new(adapter.reading_from(NodePreference::ReplicaOnly)),
    );
    let mut rows = Vec::new();
    if options.wants("catch-up") {
        let events = if options.quick { 50_000 } else { 300_000 };
        let last = fill(on_primary.store(), events).await?;
        replayed(&adapter, last).await?;
        rows.push(catch_up(&on_replica, &on_primary, options.runs, events).await?);
    }
    if options.wants("delivery") {
        let per_writer = if options.quick { 100 } else { 400 };
        rows.extend(delivery(&on_primary, &on_replica, per_writer).await?);
    }
    drop(standby);
    Ok(rows)
}

/// Publishes `events` events in batches of 1000; the last sequence number.
async fn fill(store: &EventStore, events: usize) -> BenchResult<u64> {
    let name = Name::new("event name", "order-placed")?;
    let mut last = 0;
    for batch in 0..events.div_ceil(1000) {
        let size = (events - batch * 1000).min(1000);
        let stream = store.stream(CATEGORY, &format!("fill-{batch}"))?;
        let batch: Vec<NewEvent> = (0..size)
            .map(|_| NewEvent::with_json(name.clone(), payload()))
            .collect();
        let stored = stream.publish(batch, WriteCondition::NoCondition).await?;
        last = stored.last().map_or(last, |event| event.sequence_number);
    }
    Ok(last)
}

/// Waits until the standby shows sequence number `last`.
async fn replayed(adapter: &PostgresAdapter, last: u64) -> BenchResult<()> {
    let replica = adapter
        .reading_from(NodePreference::ReplicaOnly)
        .at_least(last);
    let store = EventStore::new(replica);
    for _ in 0..60 {
        match store.log().latest().await {
            Ok(Some(event)) if event.sequence_number >= last => return Ok(()),
            Ok(_) => {}
            Err(error) if error.is_retryable() => {}
            Err(error) => return Err(error.into()),
        }
    }
    Err("the standby did not replay the log within two minutes".into())
}

/// Catch-up of the whole log, alternating the replica and the primary run by
/// run.
async fn catch_up(
    replica: &StoreSubject,
    primary: &StoreSubject,
    runs: usize,
    events: usize,
) -> BenchResult<Row> {
    let (mut on_replica, mut on_primary) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        for (subject, rates) in [(replica, &mut on_replica), (primary, &mut on_primary)] {
            let started = Instant::now();
            let seen = subject.catch_up(usize::MAX).await?;
            if seen < events {
                return Err(format!("catch-up delivered only {seen} of {events} events").into());
            }
            rates.push(seen as f64 / started.elapsed().as_secs_f64());
        }
    }
    Ok(Row::new(
        "catch-up: replica vs primary",
        "events/s",
        Stats::new("replica", on_replica),
        vec![Stats::new("primary", on_primary)],
    ))
}

/// When each event was published, by id.
type Sent = Arc<Mutex<HashMap<uuid::Uuid, Instant>>>;

/// 8 writers publish one event at a time; subscriptions on the replica and on
/// the primary record how long after its publish began each event arrived.
async fn delivery(
    primary: &StoreSubject,
    replica: &StoreSubject,
    per_writer: usize,
) -> BenchResult<Vec<Row>> {
    let total = WRITERS * per_writer;
    let sent: Sent = Arc::default();
    let head = primary
        .store()
        .log()
        .latest()
        .await?
        .map(|event| event.sequence_number);
    let receivers: Vec<_> = [replica, primary]
        .iter()
        .map(|subject| receive(subject.store(), head, total, sent.clone()))
        .collect::<BenchResult<_>>()?;
    let started = Instant::now();
    let writers = (0..WRITERS).map(|writer| {
        let (store, sent) = (primary.store().clone(), sent.clone());
        tokio::spawn(async move {
            let stream = store.stream(CATEGORY, &format!("live-{writer}"))?;
            let name = Name::new("event name", "ping")?;
            for _ in 0..per_writer {
                let event = NewEvent::with_json(name.clone(), payload());
                sent.lock().insert(event.id(), Instant::now());
                stream.publish([event], WriteCondition::NoCondition).await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            BenchResult::Ok(())
        })
    });
    for writer in futures::future::join_all(writers).await {
        writer??;
    }
    let mut rows = Vec::new();
    for (receiver, label) in receivers.into_iter().zip(["replica", "primary"]) {
        let latencies = tokio::time::timeout(Duration::from_secs(120), receiver).await???;
        let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
        let row = Row::new(
            &format!("publish to delivery on the {label}, {WRITERS} writers"),
            "events/s",
            Stats::new(label, vec![rate]),
            vec![],
        );
        rows.push(row.with_latency(Latency::of(latencies)));
    }
    Ok(rows)
}

/// A subscription after `head` collecting the delay of `total` events.
fn receive(
    store: &EventStore,
    head: Option<u64>,
    total: usize,
    sent: Sent,
) -> BenchResult<tokio::task::JoinHandle<BenchResult<Vec<f64>>>> {
    let options = SubscriptionOptions::new().after_checkpoint(head);
    let mut subscription = store.log().subscribe(options)?;
    Ok(tokio::spawn(async move {
        let mut latencies = Vec::with_capacity(total);
        while latencies.len() < total {
            match subscription.try_next().await? {
                Some(SubscriptionMessage::Event(event)) => {
                    let delivered = Instant::now();
                    if let Some(&at) = sent.lock().get(&event.id) {
                        latencies.push(delivered.duration_since(at).as_secs_f64() * 1000.0);
                    }
                }
                Some(_) => {}
                None => break,
            }
        }
        Ok(latencies)
    }))
}
