//! Reads served by a hot standby: the ordering guarantee there, reads that
//! must see a sequence number, live delivery, a runner reading from it, and a
//! replica that is down or behind. Each test runs its own private primary
//! and standby (made with `pg_basebackup -R`).

mod replication;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventblocks_core::{
    Error, EventStore, Query, QueryOptions, ScanQuery, StoredEvent, SubscriptionMessage,
    SubscriptionOptions, WriteCondition,
};
use eventblocks_postgres::testing::{FaultProxy, PrivateServer, Replication};
use eventblocks_postgres::{
    NodePreference, PostgresAdapter, PostgresCheckpointStore, PostgresLeases,
    PostgresProjectionStore, WhenBehind,
};
use eventblocks_projection::ProjectionStore;
use eventblocks_testkit::builders::events;
use eventblocks_testkit::projection::runner::{self, RunnerFixture};
use futures::{FutureExt, TryStreamExt};
use replication::{write_in_flight, Pair};

/// Collects what a subscription delivers until `count` events arrived.
fn tail(
    store: &EventStore,
    category: &str,
    count: usize,
) -> tokio::task::JoinHandle<(Vec<StoredEvent>, tokio::sync::watch::Receiver<usize>)> {
    let options = SubscriptionOptions::new().poll_interval(Duration::from_millis(100));
    let mut subscription = store
        .category(category)
        .unwrap()
        .subscribe(options)
        .unwrap();
    let (progress, watching) = tokio::sync::watch::channel(0);
    tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < count {
            match subscription.try_next().await.unwrap() {
                Some(SubscriptionMessage::Event(event)) => {
                    seen.push(event);
                    progress.send_replace(seen.len());
                }
                Some(_) => {}
                None => break,
            }
        }
        (seen, watching)
    })
}

/// Test 1. A reader tailing a category on the standby, while 16 writers
/// commit on the primary and one event is forced to commit after later ones,
/// sees every event exactly once, in order: while the early-numbered event's
/// transaction is open, nothing numbered after it reaches the reader.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_on_a_standby_sees_every_event_once_in_order() {
    const WRITERS: usize = 16;
    const PUBLISHES: usize = 40;
    let pair = Pair::start(Replication::Asynchronous).await;
    let adapter = pair.builder().build().unwrap();
    let store = EventStore::new(adapter.clone());
    let replica = EventStore::new(adapter.reading_from(NodePreference::ReplicaOnly));
    let reader = tail(&replica, "load", WRITERS * PUBLISHES + 1);

    let (slow, slow_number) = write_in_flight(&pair.primary, "load", "slow").await;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let store = store.clone();
            tokio::spawn(async move {
                let stream = store.stream("load", &format!("writer-{writer}")).unwrap();
                let mut numbers = Vec::new();
                for _ in 0..PUBLISHES {
                    let stored = stream
                        .publish(events("e", 1), WriteCondition::NoCondition)
                        .await
                        .unwrap();
                    numbers.push(stored[0].sequence_number);
                }
                numbers
            })
        })
        .collect();
    let mut later = Vec::new();
    for writer in writers {
        later.extend(writer.await.unwrap());
    }
    assert!(
        later.iter().all(|&number| number > slow_number),
        "every later write is numbered after the open transaction"
    );
    // Give the standby time to replay every later commit: a reader that
    // trusted them would now run past the open transaction's number.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let early: Vec<StoredEvent> = replica
        .category("load")
        .unwrap()
        .scan(ScanQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert!(
        early.is_empty(),
        "nothing numbered after a transaction still open is visible on the standby ({} events)",
        early.len()
    );
    slow.batch_execute("COMMIT").await.unwrap();

    let (seen, _) = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the reader got every event")
        .unwrap();
    let log: Vec<StoredEvent> = store
        .category("load")
        .unwrap()
        .scan(ScanQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(log.len(), WRITERS * PUBLISHES + 1);
    let ids = |events: &[StoredEvent]| events.iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(&seen),
        ids(&log),
        "the standby reader saw the log exactly"
    );
    assert_eq!(
        seen[0].sequence_number, slow_number,
        "the early number first"
    );
}

/// The latest event of category `category` read through `adapter`.
async fn latest(adapter: &PostgresAdapter, category: &str) -> Result<Option<u64>, Error> {
    let store = EventStore::new(adapter.clone());
    let latest = store.category(category).unwrap().latest().await?;
    Ok(latest.map(|event| event.sequence_number))
}

/// Test 2. A read asking to see a sequence number just published on the
/// primary always sees it on the standby; with the standby's replay paused,
/// the bounded wait ends as configured: a typed timeout, or a read from the
/// primary (never under "replica only").
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_that_must_see_a_write_wait_for_the_standby_boundedly() {
    let pair = Pair::start(Replication::Asynchronous).await;
    let wait = Duration::from_millis(400);
    let adapter = pair.builder().replica_wait(wait).build().unwrap();
    let failing = pair
        .builder()
        .replica_wait(wait)
        .when_behind(WhenBehind::Fail)
        .build()
        .unwrap();
    let store = EventStore::new(adapter.clone());
    let stream = store.stream("ryw", "s").unwrap();
    let replica = adapter.reading_from(NodePreference::ReplicaOnly);
    for round in 0..100 {
        let stored = stream
            .publish(events("e", 1), WriteCondition::NoCondition)
            .await
            .unwrap();
        let number = stored[0].sequence_number;
        let seen = latest(&replica.at_least(number), "ryw").await.unwrap();
        assert_eq!(
            seen,
            Some(number),
            "round {round}: the replica read saw the write"
        );
        let own: Vec<StoredEvent> = EventStore::new(replica.at_least(number))
            .stream("ryw", "s")
            .unwrap()
            .scan(ScanQuery::new())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(own.last().map(|e| e.sequence_number), Some(number));
    }
    let read = store
        .log()
        .query(Query::all(), QueryOptions::new())
        .await
        .unwrap();
    let on_replica = EventStore::new(replica.at_least_head(&read.head).unwrap());
    let again = on_replica
        .log()
        .query(Query::all(), QueryOptions::new())
        .await
        .unwrap();
    assert!(again.head.frontier() >= read.head.frontier());
    assert_eq!(
        again.events.try_collect::<Vec<_>>().await.unwrap().len(),
        100
    );

    Pair::on_server(&pair.standby, PrivateServer::pause_replay).await;
    let stored = stream
        .publish(events("e", 1), WriteCondition::NoCondition)
        .await
        .unwrap();
    let number = stored[0].sequence_number;
    let started = Instant::now();
    let timed_out = latest(
        &failing
            .reading_from(NodePreference::PreferReplica)
            .at_least(number),
        "ryw",
    )
    .await;
    let waited = started.elapsed();
    assert!(
        matches!(timed_out, Err(Error::Timeout { .. })),
        "{timed_out:?}"
    );
    assert!(
        waited >= wait && waited < wait + Duration::from_secs(2),
        "{waited:?}"
    );
    let fell_back = latest(
        &adapter
            .reading_from(NodePreference::PreferReplica)
            .at_least(number),
        "ryw",
    )
    .await;
    assert_eq!(fell_back.unwrap(), Some(number), "read from the primary");
    let replica_only = latest(&replica.at_least(number), "ryw").await;
    assert!(
        matches!(replica_only, Err(Error::Timeout { .. })),
        "replica only never reads the primary: {replica_only:?}"
    );
    let stale = latest(&replica, "ryw").await.unwrap();
    assert!(
        stale < Some(number),
        "without a floor, a replica read may trail"
    );

    Pair::on_server(&pair.standby, PrivateServer::resume_replay).await;
    let caught_up = latest(&replica.at_least(number), "ryw").await.unwrap();
    assert_eq!(caught_up, Some(number));
}

/// Live delivery from the standby without polling: with a poll interval far
/// longer than the test, every event published on the primary reaches a
/// subscription on the standby, woken once the standby has replayed it,
/// even while its replay is paused when the primary announces it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn subscriptions_on_the_standby_are_woken_once_it_has_replayed() {
    let pair = Pair::start(Replication::Asynchronous).await;
    let adapter = pair.builder().build().unwrap();
    let store = EventStore::new(adapter.clone());
    let replica = EventStore::new(adapter.reading_from(NodePreference::ReplicaOnly));
    let options = SubscriptionOptions::new().poll_interval(Duration::from_secs(600));
    let mut subscription = replica
        .category("live")
        .unwrap()
        .subscribe(options)
        .unwrap();
    assert!(matches!(
        subscription.try_next().await.unwrap(),
        Some(SubscriptionMessage::CaughtUp { .. })
    ));
    let stream = store.stream("live", "s").unwrap();
    let mut delays = Vec::new();
    for round in 0..40 {
        let paused = round % 10 == 9;
        if paused {
            Pair::on_server(&pair.standby, PrivateServer::pause_replay).await;
        }
        let published = Instant::now();
        let stored = stream
            .publish(events("e", 1), WriteCondition::NoCondition)
            .await
            .unwrap();
        if paused {
            tokio::time::sleep(Duration::from_millis(200)).await;
            Pair::on_server(&pair.standby, PrivateServer::resume_replay).await;
        }
        let delivered = next_event(&mut subscription, Duration::from_secs(5)).await;
        assert_eq!(delivered.id, stored[0].id);
        delays.push(published.elapsed());
    }
    delays.sort();
    eprintln!(
        "publish to delivery on the standby: p50 {:?}, max {:?}",
        delays[delays.len() / 2],
        delays[delays.len() - 1]
    );
}

async fn next_event(
    subscription: &mut eventblocks_core::SubscriptionStream,
    within: Duration,
) -> StoredEvent {
    let waiting = async {
        loop {
            if let Some(SubscriptionMessage::Event(event)) = subscription.try_next().await.unwrap()
            {
                return event;
            }
        }
    };
    tokio::time::timeout(within, waiting)
        .await
        .expect("delivered without waiting for a poll")
}

/// A projection runner whose events come from the standby (its projections
/// and checkpoints on the primary) keeps up, and `wait_until` a number
/// published on the primary returns once the runner applied it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_runner_reading_from_the_standby_can_be_waited_for() {
    let pair = Pair::start(Replication::Asynchronous).await;
    let adapter = pair.builder().build().unwrap();
    let fixture = RunnerFixture {
        events: EventStore::new(adapter.reading_from(NodePreference::ReplicaOnly)),
        projections: ProjectionStore::new(PostgresProjectionStore::new(&adapter)),
        checkpoints: Arc::new(PostgresCheckpointStore::new(&adapter)),
        leases: Arc::new(PostgresLeases::new(&adapter)),
        revoke: Arc::new(|_, _| async {}.boxed()),
    };
    runner::a_runner_follows_new_events_and_can_be_waited_for(fixture).await;
}

/// Test 5. A replica that cannot be reached (black-holed, then stopped):
/// reads preferring replicas are served by the primary, reads on replicas
/// only fail with a typed error, and none waits past the operation timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_that_is_down_is_left_for_the_primary_or_reported() {
    let pair = Pair::start(Replication::Asynchronous).await;
    let proxy = FaultProxy::start(pair.standby.address()).await.unwrap();
    let timeout = Duration::from_secs(2);
    let adapter = PostgresAdapter::builder()
        .url(pair.primary.url())
        .replica_url(format!("postgres://postgres@{}/postgres", proxy.address()))
        .operation_timeout(timeout)
        .connect_timeout(Duration::from_millis(500))
        .pool_wait_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let store = EventStore::new(adapter.clone());
    let stored = store
        .stream("down", "s")
        .unwrap()
        .publish(events("e", 3), WriteCondition::NoCondition)
        .await
        .unwrap();
    let last = stored[2].sequence_number;
    let prefer = adapter.reading_from(NodePreference::PreferReplica);
    let only = adapter.reading_from(NodePreference::ReplicaOnly);
    assert_eq!(
        latest(&only.at_least(last), "down").await.unwrap(),
        Some(last)
    );

    proxy.black_hole();
    for (what, outage) in [("black-holed", true), ("stopped", false)] {
        if !outage {
            proxy.heal();
            Pair::on_server(&pair.standby, PrivateServer::crash).await;
        }
        for round in 0..3 {
            let started = Instant::now();
            let read = latest(&prefer.at_least(last), "down").await;
            assert_eq!(read.unwrap(), Some(last), "{what}, round {round}");
            assert!(
                started.elapsed() < timeout,
                "{what}: {:?}",
                started.elapsed()
            );
            let started = Instant::now();
            let read = latest(&only, "down").await;
            assert!(
                matches!(read, Err(Error::Unavailable { .. } | Error::Timeout { .. })),
                "{what}: {read:?}"
            );
            assert!(started.elapsed() < timeout + Duration::from_millis(500));
        }
    }
}
