//! Partition leases on PostgreSQL.

mod common;

use std::time::Duration;

use eventblocks_core::{Leases, Name};
use eventblocks_postgres::PostgresLeases;

fn consumer() -> Name {
    Name::new("consumer", "projector").unwrap()
}

/// Tries to take a lease until `timeout`: a released lock is freed when the
/// server notices its session ended, which takes a moment.
async fn acquire_within(leases: &PostgresLeases, partition: u32, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if leases
            .try_acquire(&consumer(), partition)
            .await
            .unwrap()
            .is_some()
        {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_holder_per_partition_until_released() {
    let test = common::adapter().await;
    let leases = PostgresLeases::new(&test.adapter);
    let held = leases
        .try_acquire(&consumer(), 0)
        .await
        .unwrap()
        .expect("a free partition");
    assert_eq!(held.partition(), 0);
    assert!(
        leases.try_acquire(&consumer(), 0).await.unwrap().is_none(),
        "held elsewhere"
    );
    let other = leases.try_acquire(&consumer(), 1).await.unwrap();
    assert!(other.is_some(), "partitions are leased separately");
    drop(held);
    assert!(
        acquire_within(&leases, 0, Duration::from_secs(5)).await,
        "released on drop"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_holder_whose_session_dies_loses_its_lease() {
    let test = common::adapter().await;
    let leases = PostgresLeases::new(&test.adapter);
    let held = leases
        .try_acquire(&consumer(), 3)
        .await
        .unwrap()
        .expect("a free partition");
    let lost = held.lost();
    // Kill every lease session of this test (they are the ones holding
    // advisory locks, named after the test's schema).
    let client = test.adapter.pool().get().await.unwrap();
    client
        .execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l
               JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND a.application_name = $1",
            &[&test.schema],
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), lost)
        .await
        .expect("the holder learns its lease is lost");
    assert!(
        acquire_within(&leases, 3, Duration::from_secs(5)).await,
        "another takes over"
    );
    drop(held);
}

/// A server that accepts the connection and then says nothing: taking a lease
/// fails with a typed timeout after the connect timeout instead of hanging.
#[tokio::test]
async fn a_silent_server_times_out_a_lease() {
    use eventblocks_core::Error;
    use eventblocks_postgres::PostgresAdapter;

    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let adapter = PostgresAdapter::builder()
        .url(format!("postgres://postgres@{address}/postgres"))
        .connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let result = PostgresLeases::new(&adapter)
        .try_acquire(&consumer(), 0)
        .await;
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    accepting.abort();
}

mod fencing {
    use super::*;

    use eventblocks_core::{CheckpointStore, Error, Lease, NewEvent, StreamIdentifier};
    use eventblocks_core::{EventSourceIdentifier, EventStore, WriteCondition};
    use eventblocks_postgres::{PostgresCheckpointStore, PostgresProjectionStore};
    use eventblocks_projection::{Projection, ProjectionStore};
    use serde_json::{json, Value};

    /// Takes the partition, waiting for a previous holder's session to end.
    async fn take(leases: &PostgresLeases, partition: u32) -> Box<dyn Lease> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(lease) = leases.try_acquire(&consumer(), partition).await.unwrap() {
                return lease;
            }
            assert!(tokio::time::Instant::now() < deadline, "never free");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn projection(version: u64) -> Projection<Value, Value> {
        Projection {
            id: "p".to_owned(),
            name: "fenced".to_owned(),
            source: EventSourceIdentifier::Stream(StreamIdentifier::new("s", "p").unwrap()),
            state: json!({ "version": version }),
            metadata: json!({}),
        }
    }

    fn assert_fenced<T: std::fmt::Debug>(result: eventblocks_core::Result<T>, newest: u64) {
        match result {
            Err(Error::Fenced { newest: found, .. }) => assert_eq!(found, newest),
            other => panic!("expected a fenced write, got {other:?}"),
        }
    }

    async fn publish_one(test: &common::TestAdapter) -> u64 {
        let stored = EventStore::new(test.adapter.clone())
            .stream("things", "thing")
            .unwrap()
            .publish(
                [NewEvent::new("happened", &json!({})).unwrap()],
                WriteCondition::NoCondition,
            )
            .await
            .unwrap();
        stored[0].sequence_number
    }

    /// Taking a lease raises the partition's token in the database, so the
    /// previous holder's writes are refused before the new holder writes
    /// anything: checkpoint advances, projection saves and exactly-once units.
    #[tokio::test(flavor = "multi_thread")]
    async fn taking_a_lease_fences_the_previous_holder_at_once() {
        let test = common::adapter().await;
        let leases = PostgresLeases::new(&test.adapter);
        let checkpoints = PostgresCheckpointStore::new(&test.adapter);
        let projections = ProjectionStore::new(PostgresProjectionStore::new(&test.adapter));
        let sequence_number = publish_one(&test).await;
        let old = take(&leases, 0).await;
        common::end_lease_session(&test.adapter, &consumer(), 0).await;
        let new = take(&leases, 0).await;
        assert!(
            new.token() > old.token(),
            "{} then {}",
            old.token(),
            new.token()
        );
        let (stale, current) = (old.fence(), new.fence());
        let checkpoint = Name::new("consumer", "projector#0").unwrap();

        let advanced = checkpoints.advance(&checkpoint, 1, Some(&stale)).await;
        assert_fenced(advanced, new.token());
        assert_fenced(
            projections.save_fenced(&projection(1), &stale).await,
            new.token(),
        );
        let unit = checkpoints
            .begin_fenced(&checkpoint, sequence_number, &stale)
            .await
            .unwrap()
            .expect("not yet processed");
        unit.save_projection(&projection(2)).await.unwrap();
        assert_fenced(unit.commit().await, new.token());
        assert_eq!(checkpoints.load(&checkpoint).await.unwrap(), None);
        let stored: Option<Projection<Value, Value>> =
            projections.load_stored("fenced", "p").await.unwrap();
        assert_eq!(stored, None, "no stale write landed");

        assert!(checkpoints
            .advance(&checkpoint, 1, Some(&current))
            .await
            .unwrap());
        projections
            .save_fenced(&projection(3), &current)
            .await
            .unwrap();
        drop((old, new));
    }

    /// A fenced unit checks its fence only as it commits: a unit stalled
    /// after its effect does not hold up another instance taking the lease,
    /// and its commit is then refused, leaving nothing.
    #[tokio::test(flavor = "multi_thread")]
    async fn a_stalled_fenced_unit_does_not_hold_up_a_takeover() {
        let test = common::adapter().await;
        let leases = PostgresLeases::new(&test.adapter);
        let checkpoints = PostgresCheckpointStore::new(&test.adapter);
        let projections = ProjectionStore::new(PostgresProjectionStore::new(&test.adapter));
        let sequence_number = publish_one(&test).await;
        let checkpoint = Name::new("consumer", "projector#1").unwrap();
        let old = take(&leases, 1).await;
        let stalled = checkpoints
            .begin_fenced(&checkpoint, sequence_number, &old.fence())
            .await
            .unwrap()
            .expect("not yet processed");
        stalled.save_projection(&projection(1)).await.unwrap();

        common::end_lease_session(&test.adapter, &consumer(), 1).await;
        let new = tokio::time::timeout(Duration::from_secs(5), take(&leases, 1))
            .await
            .expect("the takeover does not wait for the stalled unit");
        assert_fenced(stalled.commit().await, new.token());
        let stored: Option<Projection<Value, Value>> =
            projections.load_stored("fenced", "p").await.unwrap();
        assert_eq!(stored, None, "the stalled unit's effect rolled back");

        let unit = checkpoints
            .begin_fenced(&checkpoint, sequence_number, &new.fence())
            .await
            .unwrap()
            .expect("still not processed");
        unit.save_projection(&projection(2)).await.unwrap();
        unit.commit().await.unwrap();
        assert_eq!(
            checkpoints.load(&checkpoint).await.unwrap(),
            Some(sequence_number)
        );
    }
}

/// One test store's sessions, those holding advisory locks, and the locks,
/// by what pg_stat_activity and pg_locks say.
#[derive(Debug, PartialEq, Eq)]
struct Counts {
    sessions: i64,
    locking: i64,
    locks: i64,
}

async fn count_sessions(test: &common::TestAdapter) -> Counts {
    let client = test.adapter.pool().get().await.unwrap();
    let row = client
        .query_one(
            "SELECT count(DISTINCT a.pid), count(DISTINCT l.pid), count(l.pid)
               FROM pg_stat_activity a
               LEFT JOIN pg_locks l
                 ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted
              WHERE a.application_name = $1",
            &[&test.schema],
        )
        .await
        .unwrap();
    Counts {
        sessions: row.get(0),
        locking: row.get(1),
        locks: row.get(2),
    }
}

/// Takes `partition` of `consumer` with `leases`, waiting for a released or
/// lost holder's lock to go.
async fn take_within(
    leases: &PostgresLeases,
    consumer: &Name,
    partition: u32,
) -> Box<dyn eventblocks_core::Lease> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(lease) = leases.try_acquire(consumer, partition).await.unwrap() {
            return lease;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "partition {partition} never became free"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// However many partitions one `PostgresLeases` holds, they cost one server
/// session (beside the pool, which raises the tokens).
#[tokio::test(flavor = "multi_thread")]
async fn many_leases_share_one_session() {
    let test = common::adapter_with(|builder| builder.pool_size(4)).await;
    let leases = PostgresLeases::new(&test.adapter);
    let mut held = Vec::new();
    for partition in 0..200 {
        held.push(leases.try_acquire(&consumer(), partition).await.unwrap());
    }
    assert!(held.iter().all(Option::is_some), "every partition was free");
    let counts = count_sessions(&test).await;
    assert_eq!((counts.locking, counts.locks), (1, 200), "{counts:?}");
    assert!(counts.sessions <= 4 + 1, "{counts:?}");
    drop(held);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while count_sessions(&test).await.locks > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "dropped leases stayed locked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The session holding the leases dies: every lease says it is lost, every
/// partition is free for another process, and the same `PostgresLeases`
/// takes leases again on a new session.
#[tokio::test(flavor = "multi_thread")]
async fn a_dead_lease_session_loses_every_lease_and_frees_every_partition() {
    let test = common::adapter().await;
    let leases = PostgresLeases::new(&test.adapter);
    let mut held = Vec::new();
    for partition in 0..40 {
        held.push(take_within(&leases, &consumer(), partition).await);
    }
    let lost = futures::future::join_all(held.iter().map(|lease| lease.lost()));
    common::end_lease_session(&test.adapter, &consumer(), 0).await;
    tokio::time::timeout(Duration::from_secs(5), lost)
        .await
        .expect("every lease on the dead session reports itself lost");

    let elsewhere = PostgresLeases::new(&test.adapter);
    let mut taken = Vec::new();
    for partition in 0..40 {
        taken.push(take_within(&elsewhere, &consumer(), partition).await);
    }
    let blocked = leases.try_acquire(&consumer(), 0).await.unwrap();
    assert!(blocked.is_none(), "held by the other process");
    drop(taken);
    let again = take_within(&leases, &consumer(), 0).await;
    assert!(again.token() > held[0].token());
    drop(held);
}

/// Beside a lease the session holds, an acquisition dropped after every
/// number of polls leaves no lock of its own on the shared session, and the
/// partition is free for another process.
#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_acquisition_beside_held_leases_leaves_no_lock() {
    use eventblocks_testkit::cancellation::{drop_after_polls, Ending};

    let test = common::adapter().await;
    let leases = PostgresLeases::new(&test.adapter);
    let kept = take_within(&leases, &consumer(), 1).await;
    let elsewhere = PostgresLeases::new(&test.adapter);
    for polls in 0..200 {
        let ending = drop_after_polls(leases.try_acquire(&consumer(), 0), polls).await;
        let completed = matches!(ending, Ending::Completed(Ok(Some(_))));
        drop(ending);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let counts = count_sessions(&test).await;
            if (counts.locking, counts.locks) == (1, 1) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "after {polls} polls: {counts:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(take_within(&elsewhere, &consumer(), 0).await);
        if completed {
            assert!(polls > 0);
            drop(kept);
            return;
        }
    }
    panic!("an acquisition never completed within 200 polls");
}

/// Fence misuse on PostgreSQL, where leases raise the stored token: a write
/// under i64::MAX is refused and the partition can still be leased; one at
/// the limit is admitted, and the leases after it (beyond the limit) still
/// write.
#[tokio::test(flavor = "multi_thread")]
async fn a_made_up_token_cannot_lock_a_partition_out() {
    use eventblocks_core::{CheckpointStore, Error, Fence};
    use eventblocks_postgres::PostgresCheckpointStore;

    let test = common::adapter().await;
    let leases = PostgresLeases::new(&test.adapter);
    let checkpoints = PostgresCheckpointStore::new(&test.adapter);
    let checkpoint = Name::new("consumer", "projector#0").unwrap();
    let forged = Fence::new(consumer(), 0, u64::MAX >> 1);
    let refused = checkpoints.advance(&checkpoint, 1, Some(&forged)).await;
    assert!(
        matches!(refused, Err(Error::InvalidInput { .. })),
        "{refused:?}"
    );
    let lease = leases.try_acquire(&consumer(), 0).await;
    let lease = lease.expect("the partition can be leased").unwrap();
    assert_eq!(lease.token(), 1);
    drop(lease);

    let at_limit = Fence::new(consumer(), 0, Fence::MAX_TOKEN);
    assert!(checkpoints
        .advance(&checkpoint, 2, Some(&at_limit))
        .await
        .unwrap());
    for round in 1..=2 {
        let lease = take_within(&leases, &consumer(), 0).await;
        assert_eq!(lease.token(), Fence::MAX_TOKEN + round);
        let advanced = checkpoints
            .advance(&checkpoint, 2 + round, Some(&lease.fence()))
            .await;
        assert!(advanced.unwrap(), "the holder's write is admitted");
    }
}

/// A network that stops delivering: an acquisition on the silent lease
/// session fails with a typed timeout after the operation timeout rather than
/// hang (and every acquisition of the process behind it), the session is
/// given up, and the leases held on it are reported lost.
#[tokio::test(flavor = "multi_thread")]
async fn a_silent_lease_session_times_out_and_loses_its_leases() {
    use eventblocks_core::Error;
    use eventblocks_postgres::testing::FaultProxy;
    use eventblocks_postgres::PostgresAdapter;

    let test = common::adapter().await;
    let upstream: tokio_postgres::Config = common::database_url().parse().unwrap();
    let port = upstream.get_ports().first().copied().unwrap_or(5432);
    let proxy = FaultProxy::start(([127, 0, 0, 1], port).into())
        .await
        .unwrap();
    let timeout = Duration::from_secs(1);
    let adapter = PostgresAdapter::builder()
        .url(format!(
            "postgres://postgres@{}/postgres?application_name={}",
            proxy.address(),
            test.schema
        ))
        .schema(&test.schema)
        .operation_timeout(timeout)
        .connect_timeout(timeout)
        .pool_wait_timeout(timeout)
        .build()
        .unwrap();
    let leases = PostgresLeases::new(&adapter);
    let held = leases.try_acquire(&consumer(), 0).await.unwrap().unwrap();
    let lost = held.lost();

    proxy.black_hole();
    let started = std::time::Instant::now();
    let taken = leases.try_acquire(&consumer(), 1).await;
    assert!(matches!(taken, Err(Error::Timeout { .. })), "{taken:?}");
    assert!(started.elapsed() < timeout * 3, "{:?}", started.elapsed());
    tokio::time::timeout(timeout, lost)
        .await
        .expect("the lease on the silent session is reported lost");
    drop(held);
}
