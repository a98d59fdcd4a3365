//! Failover: the primary is killed under load and its standby promoted; the
//! adapter finds the new primary through a multi-host URL with
//! `target_session_attrs=read-write`, without a restart. With a synchronous
//! standby nothing acknowledged is lost; with an asynchronous one the loss is
//! measured, and a reader that saw lost events is told so rather than skip
//! the events numbered in their place. Slow: each test runs its own primary
//! and standby.

mod replication;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventblocks_core::{
    Error, EventStore, ScanQuery, StoredEvent, SubscriptionMessage, SubscriptionOptions,
    WriteCondition,
};
use eventblocks_postgres::testing::{PrivateServer, Replication};
use eventblocks_postgres::{NodePreference, PostgresAdapter};
use eventblocks_testkit::builders::events;
use eventblocks_testkit::history::History;
use eventblocks_testkit::load::{run_load, LoadConfig};
use futures::TryStreamExt;
use replication::Pair;

/// An adapter writing through the pair's failover URL, with the standby as
/// its read replica.
fn failover_adapter(pair: &Pair) -> PostgresAdapter {
    PostgresAdapter::builder()
        .url(pair.failover_url())
        .replica_url(pair.standby.url())
        .pool_size(24)
        .connect_timeout(Duration::from_secs(1))
        .pool_wait_timeout(Duration::from_secs(2))
        .operation_timeout(Duration::from_secs(5))
        .horizon_wait(Duration::from_secs(2))
        .build()
        .unwrap()
}

/// Kills the primary (`pg_ctl stop -m immediate`) and promotes the standby;
/// returns when the kill began.
async fn fail_over(pair: &Pair) -> Instant {
    let killed = Instant::now();
    Pair::on_server(&pair.primary, PrivateServer::crash).await;
    Pair::on_server(&pair.standby, PrivateServer::promote).await;
    killed
}

/// Publishes to a probe stream every few milliseconds from `from` on, and
/// returns how long after `from` the first publish was acknowledged.
async fn first_acknowledged(store: &EventStore, from: Instant) -> Duration {
    let probe = store.stream("probe", "p").unwrap();
    let batch = events("probe", 1);
    loop {
        match probe
            .publish(batch.clone(), WriteCondition::NoCondition)
            .await
        {
            Ok(_) => return from.elapsed(),
            Err(error) if error.is_retryable() => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(error) => panic!("probe: {error}"),
        }
    }
}

/// Test 3. 16 writers and 4 tailing readers (two on the replica); the primary
/// is killed and the synchronous standby promoted mid-run; writers carry on
/// against the new primary through the multi-host URL. The history checker
/// finds no acknowledged event lost, none duplicated after idempotent
/// retries, and every reader in order without a skip.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failover_to_a_synchronous_standby_loses_nothing() {
    let pair = Pair::start(Replication::Synchronous).await;
    let adapter = failover_adapter(&pair);
    let store = EventStore::new(adapter.clone());
    let replica = EventStore::new(adapter.reading_from(NodePreference::PreferReplica));
    let failing = tokio::spawn({
        let pair = (pair.primary.clone(), pair.standby.clone());
        let store = store.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let pair = Pair {
                primary: pair.0,
                standby: pair.1,
            };
            let killed = fail_over(&pair).await;
            first_acknowledged(&store, killed).await
        }
    });
    let mut config = LoadConfig::standard("failover")
        .with_writers(16, 100)
        .with_other_readers(replica);
    config.max_attempts = 2000;
    let report = run_load(&store, &config)
        .await
        .unwrap_or_else(|violations| panic!("{} violations: {violations:?}", violations.len()));
    let recovered = failing.await.unwrap();
    eprintln!("synchronous standby: {report:?}; kill to first acknowledged write: {recovered:?}");
    assert_eq!(report.acknowledged, 16 * 100);
    assert!(
        !pair.standby.is_standby().unwrap(),
        "the standby was promoted"
    );
}

/// Writers publishing one event at a time to a stream each, retrying
/// retryable failures with the same events, all recorded in a history.
struct Writers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// While set, writers hold their next attempt.
    paused: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    /// The highest sequence number acknowledged so far.
    newest: Arc<parking_lot::Mutex<u64>>,
}

impl Writers {
    fn start(store: &EventStore, history: &History, count: usize) -> Self {
        let paused = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicBool::new(false));
        let newest = Arc::new(parking_lot::Mutex::new(0));
        let tasks = (0..count)
            .map(|writer| {
                let (store, history) = (store.clone(), history.clone());
                let (paused, stopped, newest) = (paused.clone(), stopped.clone(), newest.clone());
                tokio::spawn(async move {
                    let stream = store.stream("async", &format!("writer-{writer}")).unwrap();
                    while !stopped.load(Ordering::SeqCst) {
                        let batch = events("w", 1);
                        loop {
                            while paused.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_millis(5)).await;
                            }
                            let invoked = history.invoke(stream.identifier(), &batch);
                            let published = stream
                                .publish(batch.clone(), WriteCondition::NoCondition)
                                .await;
                            match published {
                                Ok(stored) => {
                                    invoked.succeeded(&stored);
                                    let mut newest = newest.lock();
                                    *newest = (*newest).max(stored[0].sequence_number);
                                    break;
                                }
                                Err(error) if error.is_retryable() => {
                                    invoked.failed(&error);
                                    tokio::time::sleep(Duration::from_millis(10)).await;
                                }
                                Err(error) => panic!("a writer failed: {error}"),
                            }
                        }
                    }
                })
            })
            .collect();
        Self {
            tasks,
            paused,
            stopped,
            newest,
        }
    }

    fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    fn newest(&self) -> u64 {
        *self.newest.lock()
    }

    async fn stop(self) {
        self.stopped.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.unwrap();
        }
    }
}

/// Every event of the writers' category, stream by stream (stream reads see
/// every commit at once), in sequence order.
async fn final_log(store: &EventStore, writers: usize) -> Vec<StoredEvent> {
    let mut log = Vec::new();
    for writer in 0..writers {
        let stream = store.stream("async", &format!("writer-{writer}")).unwrap();
        let events: Vec<StoredEvent> = stream.scan(ScanQuery::new()).try_collect().await.unwrap();
        log.extend(events);
    }
    log.sort_by_key(|event| event.sequence_number);
    log
}

/// Checks the history against the new primary's log: the only broken
/// promise may be acknowledged events missing (lost with the old primary).
/// Returns how many were lost.
fn lost_events(history: &History, log: &[StoredEvent]) -> usize {
    let violations = match history.check(log) {
        Ok(()) => return 0,
        Err(violations) => violations,
    };
    let (lost, other): (Vec<_>, Vec<_>) = violations
        .iter()
        .partition(|violation| violation.0.contains("is missing from the log"));
    assert!(other.is_empty(), "beyond lost events: {other:?}");
    lost.len()
}

/// Test 4. The same failover with an asynchronous standby, twice. First
/// under load as it comes: the acknowledged events the promotion lost are
/// counted (the history shows no other broken promise). Then with the
/// standby cut off from its primary for a moment before the kill, so that
/// acknowledged events are surely lost: a reader resuming after one of them
/// on the new primary is told, with an error, rather than skip what the new
/// primary numbers in their place.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failover_to_an_asynchronous_standby_is_measured_and_divergence_reported() {
    const WRITERS: usize = 16;
    let pair = Pair::start(Replication::Asynchronous).await;
    let store = EventStore::new(failover_adapter(&pair));
    let history = History::new();
    let writers = Writers::start(&store, &history, WRITERS);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let killed = fail_over(&pair).await;
    let promoted = killed.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    writers.stop().await;
    let lost = lost_events(&history, &final_log(&store, WRITERS).await);
    let (acknowledged, ..) = history.counts();
    eprintln!(
        "asynchronous standby: {lost} of {acknowledged} acknowledged events lost; kill to promoted {promoted:?}"
    );

    // The promoted server is the primary now; give it a standby of its own,
    // and cut that off before the next kill.
    let old = pair.standby.clone();
    let standby = tokio::task::spawn_blocking({
        let old = old.clone();
        move || old.start_standby(Replication::Asynchronous)
    })
    .await
    .unwrap()
    .unwrap();
    let pair = Pair {
        primary: old,
        standby: Arc::new(standby),
    };
    let store = EventStore::new(failover_adapter(&pair));
    let history = History::new();
    let writers = Writers::start(&store, &history, WRITERS);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Pair::on_server(&pair.standby, PrivateServer::detach_from_primary).await;
    let received = writers.newest();
    tokio::time::sleep(Duration::from_millis(300)).await;
    writers.pause(true);
    let newest = writers.newest();
    assert!(newest > received, "writes were acknowledged after the cut");
    fail_over(&pair).await;

    let resumed = store
        .category("async")
        .unwrap()
        .subscribe(SubscriptionOptions::new().after(newest))
        .unwrap()
        .try_next()
        .await;
    match resumed {
        Err(Error::Corrupt { message }) => {
            assert!(message.contains("not in the store"), "{message}")
        }
        other => panic!("a reader ahead of the new primary was not told: {other:?}"),
    }
    writers.pause(false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    writers.stop().await;
    let log = final_log(&store, WRITERS).await;
    let lost = lost_events(&history, &log);
    assert!(lost > 0, "the cut-off standby lost acknowledged events");
    eprintln!(
        "asynchronous standby cut off 300 ms before the kill: {lost} acknowledged events lost"
    );
    let tail = EventStore::new(failover_adapter(&pair))
        .category("async")
        .unwrap()
        .subscribe(SubscriptionOptions::new())
        .unwrap();
    let seen = collect_until_caught_up(tail).await;
    let ids = |events: &[StoredEvent]| events.iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(&seen),
        ids(&log),
        "a reader from the start sees the new primary's log"
    );
}

async fn collect_until_caught_up(
    mut subscription: eventblocks_core::SubscriptionStream,
) -> Vec<StoredEvent> {
    let mut seen = Vec::new();
    while let Some(message) = subscription.try_next().await.unwrap() {
        match message {
            SubscriptionMessage::Event(event) => seen.push(event),
            SubscriptionMessage::CaughtUp { .. } => return seen,
            _ => {}
        }
    }
    seen
}

/// The old primary stays up but stops taking writes (as a failover manager
/// fences it, with `default_transaction_read_only`) while the standby is
/// promoted. The first write refused by the old primary drops every idle
/// pooled connection, so the next writes connect afresh and the multi-host
/// URL finds the new primary: one write fails (retryably), not one per
/// pooled connection to the old primary.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_to_a_demoted_primary_are_dropped_not_reused() {
    let pair = Pair::start(Replication::Asynchronous).await;
    let adapter = PostgresAdapter::builder()
        .url(pair.failover_url())
        .pool_size(8)
        .build()
        .unwrap();
    let store = EventStore::new(adapter.clone());
    for round in 0..3 {
        let publishes = (0..8).map(|writer| {
            let stream = store.stream("demoted", &format!("warm-{writer}")).unwrap();
            async move {
                stream
                    .publish(events("warm", 1), WriteCondition::NoCondition)
                    .await
            }
        });
        for published in futures::future::join_all(publishes).await {
            published.unwrap_or_else(|error| panic!("round {round}: {error}"));
        }
    }
    assert_eq!(adapter.pool().status().size, 8, "every connection pooled");

    Pair::on_server(&pair.standby, PrivateServer::promote).await;
    pair.primary
        .psql("ALTER SYSTEM SET default_transaction_read_only = on")
        .unwrap();
    pair.primary.psql("SELECT pg_reload_conf()").unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stream = store.stream("demoted", "after").unwrap();
    let mut refused = 0;
    for _ in 0..20 {
        let batch = events("after", 1);
        loop {
            match stream
                .publish(batch.clone(), WriteCondition::NoCondition)
                .await
            {
                Ok(_) => break,
                Err(error @ Error::Unavailable { .. }) => {
                    assert_eq!(
                        error.write_outcome(),
                        eventblocks_core::WriteOutcome::NotWritten
                    );
                    refused += 1;
                    assert!(
                        refused < 20,
                        "writes keep going to the old primary: {error}"
                    );
                }
                Err(error) => panic!("{error}"),
            }
        }
    }
    assert_eq!(
        refused, 1,
        "one refusal, then every write went to the new primary"
    );
    let on_new = pair
        .standby
        .psql("SELECT count(*) FROM eventblocks.events WHERE stream = 'after'")
        .unwrap();
    assert_eq!(on_new.trim(), "20");
}
