//! Operations that manage a transaction or a lock by hand, dropped after
//! every number of polls (as a caller's timeout or `select!` drops them):
//! afterwards no session of the adapter is left inside a transaction or
//! holding an advisory lock, an acknowledged publish is visible to other
//! sessions, and a unit's effect and checkpoint commit together or not at
//! all.

mod common;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use eventblocks_core::{
    EventSourceIdentifier, EventStore, Fence, Leases, Name, NewEvent, StoredEvent,
    StreamIdentifier, WriteCondition,
};
use eventblocks_postgres::{ExactlyOnce, PostgresCheckpointStore, PostgresLeases};
use eventblocks_projection::Projection;
use serde_json::{json, Value};

/// The most polls any of these operations takes; a loop past it is a hang.
const MAX_POLLS: usize = 200;

/// Polls `future` up to `polls` times, letting its I/O happen between polls,
/// then drops it; its output if it completed first.
async fn poll_then_drop<F: Future>(future: F, polls: usize) -> Option<F::Output> {
    let mut future = pin!(future);
    for _ in 0..polls {
        if let Poll::Ready(output) = futures::poll!(future.as_mut()) {
            return Some(output);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

/// A connection of its own, to look at the adapter's sessions from outside.
async fn observer() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&common::database_url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
    tokio::spawn(connection);
    client
}

/// What the test's sessions leave behind: sessions inside a transaction, and
/// advisory locks held.
async fn leftovers(observer: &tokio_postgres::Client, schema: &str) -> (i64, i64) {
    let row = observer
        .query_one(
            "SELECT
               (SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = $1 AND state LIKE 'idle in transaction%'),
               (SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE a.application_name = $1 AND l.locktype = 'advisory')",
            &[&schema],
        )
        .await
        .expect("read pg_stat_activity");
    (row.get(0), row.get(1))
}

/// Waits (closing a connection takes the server a moment) until nothing is
/// left behind; panics naming what was.
async fn assert_nothing_left(observer: &tokio_postgres::Client, schema: &str, after: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = leftovers(observer, schema).await;
        if left == (0, 0) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{after}: {} session(s) idle in transaction, {} advisory lock(s) held",
            left.0,
            left.1
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Publishes one event through the adapter's pool and checks that another
/// session sees it: a pooled connection left inside a transaction would
/// acknowledge it without committing it.
async fn assert_publish_visible(
    store: &EventStore,
    observer: &tokio_postgres::Client,
    schema: &str,
    probe: &str,
) {
    let stream = StreamIdentifier::new("probes", probe).unwrap();
    let event = NewEvent::new("probed", &json!({})).unwrap();
    store
        .stream_of(stream)
        .publish([event], WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|e| panic!("publishing {probe}: {e}"));
    let seen: i64 = observer
        .query_one(
            &format!("SELECT count(*) FROM \"{schema}\".events WHERE stream = $1"),
            &[&probe],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        seen, 1,
        "{probe} was acknowledged but other sessions cannot see it"
    );
}

struct Fixture {
    test: common::TestAdapter,
    store: EventStore,
    checkpoints: PostgresCheckpointStore,
    observer: tokio_postgres::Client,
    event: StoredEvent,
}

/// One pooled connection, so whatever a dropped operation leaves on it is
/// what the next operation gets.
async fn fixture() -> Fixture {
    let test = common::adapter_with(|builder| builder.pool_size(1)).await;
    let store = EventStore::new(test.adapter.clone());
    let stream = StreamIdentifier::new("things", "thing-1").unwrap();
    let event = NewEvent::new("happened", &json!({})).unwrap();
    let stored = store
        .stream_of(stream)
        .publish([event], WriteCondition::NoCondition)
        .await
        .unwrap();
    Fixture {
        checkpoints: PostgresCheckpointStore::new(&test.adapter),
        store,
        observer: observer().await,
        event: stored[0].clone(),
        test,
    }
}

impl Fixture {
    /// After a drop: nothing left behind, and the pool still commits.
    async fn check(&self, after: &str) {
        assert_nothing_left(&self.observer, &self.test.schema, after).await;
        let probe = after.replace(' ', "-");
        assert_publish_visible(&self.store, &self.observer, &self.test.schema, &probe).await;
    }

    /// The stored checkpoint of `consumer`, and whether the unit's effect (a
    /// projection named after the consumer) is stored, seen from outside.
    async fn committed(&self, consumer: &Name) -> (Option<i64>, bool) {
        let schema = &self.test.schema;
        let row = self
            .observer
            .query_one(
                &format!(
                    "SELECT
                       (SELECT sequence_number FROM \"{schema}\".events_checkpoints
                         WHERE consumer = $1 AND sequence_number > 0),
                       EXISTS (SELECT FROM \"{schema}\".events_projections WHERE name = $1)"
                ),
                &[&consumer.as_str()],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }
}

fn effect(consumer: &Name, event: &StoredEvent) -> Projection<Value, Value> {
    Projection {
        id: "effect".to_owned(),
        name: consumer.to_string(),
        source: EventSourceIdentifier::Stream(event.stream.clone()),
        state: json!({ "done": true }),
        metadata: json!({}),
    }
}

/// `begin` dropped at every point: never a pooled connection left in the
/// transaction it began (the defect: one dropped while `BEGIN` was in flight
/// went back to the pool inside it).
#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_begin_leaves_no_transaction_open() {
    let fixture = fixture().await;
    let consumer = Name::new("consumer", "begun").unwrap();
    let fence = Fence::new(consumer.clone(), 0, 1);
    for fenced in [false, true] {
        for polls in 0..MAX_POLLS {
            let sequence_number = fixture.event.sequence_number;
            let begin = async {
                match fenced {
                    true => {
                        fixture
                            .checkpoints
                            .begin_fenced(&consumer, sequence_number, &fence)
                            .await
                    }
                    false => fixture.checkpoints.begin(&consumer, sequence_number).await,
                }
            };
            let begun = poll_then_drop(begin, polls).await;
            let completed = begun.is_some();
            if let Some(unit) = begun {
                let unit = unit.unwrap().expect("not yet processed");
                unit.rollback().await.unwrap();
            }
            fixture
                .check(&format!(
                    "begin fenced {fenced} dropped after {polls} polls"
                ))
                .await;
            if completed {
                break;
            }
            assert!(polls + 1 < MAX_POLLS, "begin never completed");
        }
    }
    assert_eq!(fixture.committed(&consumer).await, (None, false));
}

/// How a unit ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum End {
    Commit,
    CommitFenced,
    Rollback,
}

/// A unit with its effect done, for `consumer`.
async fn unit_with_effect(fixture: &Fixture, consumer: &Name, end: End) -> ExactlyOnce {
    let sequence_number = fixture.event.sequence_number;
    let fence = Fence::new(consumer.clone(), 0, 1);
    let unit = match end {
        End::CommitFenced => {
            fixture
                .checkpoints
                .begin_fenced(consumer, sequence_number, &fence)
                .await
        }
        End::Commit | End::Rollback => fixture.checkpoints.begin(consumer, sequence_number).await,
    };
    let unit = unit.unwrap().expect("not yet processed");
    unit.save_projection(&effect(consumer, &fixture.event))
        .await
        .unwrap();
    unit
}

/// `commit` and `rollback` dropped at every point (the defect: a dropped
/// `commit` put its connection back into the pool inside the open
/// transaction; a later publish on it was acknowledged but invisible, and a
/// later rollback on it erased it). The effect and the checkpoint commit
/// together or not at all; a completed commit is durable.
#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_commit_or_rollback_leaves_no_transaction_open() {
    let fixture = fixture().await;
    for end in [End::Commit, End::CommitFenced, End::Rollback] {
        for polls in 0..MAX_POLLS {
            let consumer = Name::new("consumer", format!("{end:?}-{polls}")).unwrap();
            let unit = unit_with_effect(&fixture, &consumer, end).await;
            let ending = async {
                match end {
                    End::Commit | End::CommitFenced => unit.commit().await,
                    End::Rollback => unit.rollback().await,
                }
            };
            let ended = poll_then_drop(ending, polls).await;
            let after = format!("{end:?} dropped after {polls} polls");
            fixture.check(&after).await;
            let (checkpoint, effect) = fixture.committed(&consumer).await;
            assert_eq!(
                checkpoint.is_some(),
                effect,
                "{after}: the effect and the checkpoint commit together"
            );
            if end == End::Rollback {
                assert!(!effect, "{after}: a rolled back effect stays undone");
            }
            if let Some(ended) = ended {
                ended.unwrap_or_else(|e| panic!("{after}: {e}"));
                assert_eq!(
                    effect,
                    end != End::Rollback,
                    "{after}: a commit that returned Ok"
                );
                break;
            }
            assert!(polls + 1 < MAX_POLLS, "{end:?} never completed");
        }
    }
}

/// Migrations run in a transaction under a transaction-level advisory lock;
/// tokio-postgres rolls a dropped `Transaction` back. Dropped at every point,
/// a migration leaves no transaction or lock behind, and a later one
/// completes.
#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_migration_leaves_no_transaction_or_lock() {
    let schema = common::unique_schema();
    let adapter = eventblocks_postgres::PostgresAdapter::builder()
        .url(common::url_named(&schema))
        .schema(&schema)
        .pool_size(1)
        .build()
        .unwrap();
    let observer = observer().await;
    for polls in 0..MAX_POLLS {
        let migrated = poll_then_drop(adapter.migrate(), polls).await;
        assert_nothing_left(&observer, &schema, &format!("migrate after {polls} polls")).await;
        if let Some(migrated) = migrated {
            migrated.unwrap();
            break;
        }
    }
    assert_eq!(
        adapter.migrate().await.unwrap(),
        0,
        "the schema is up to date"
    );
    drop(adapter);
    common::drop_schema(schema);
}

/// A lease's session holds an advisory lock: `try_acquire` dropped at every
/// point leaves no lock behind, and the partition can be taken afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_lease_acquisition_leaves_no_lock() {
    let fixture = fixture().await;
    let leases = PostgresLeases::new(&fixture.test.adapter);
    let consumer = Name::new("consumer", "leased").unwrap();
    for polls in 0..MAX_POLLS {
        let acquired = poll_then_drop(leases.try_acquire(&consumer, 0), polls).await;
        if let Some(lease) = acquired {
            assert!(lease.unwrap().is_some(), "the partition was free");
            break;
        }
        let after = format!("try_acquire dropped after {polls} polls");
        assert_nothing_left(&fixture.observer, &fixture.test.schema, &after).await;
        assert!(polls + 1 < MAX_POLLS, "try_acquire never completed");
    }
    assert_nothing_left(&fixture.observer, &fixture.test.schema, "the lease dropped").await;
}
