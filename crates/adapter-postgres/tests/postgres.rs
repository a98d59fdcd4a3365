//! Behaviour only the PostgreSQL adapter has to show: its schema, its locking,
//! its failure handling and the ordering guarantee against real concurrency.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventblocks_core::{
    CheckpointStore, Error, EventStore, Name, NewEvent, ScanQuery, StoredEvent, WriteCondition,
    WriteOutcome,
};
use eventblocks_postgres::{PostgresAdapter, PostgresCheckpointStore, PostgresProjectionStore};
use eventblocks_projection::query::Search;
use eventblocks_projection::{Projection, ProjectionStore};
use futures::TryStreamExt;
use serde_json::json;
use tokio_postgres::NoTls;

fn event(name: &str) -> NewEvent {
    NewEvent::new(name, &json!({ "name": name })).unwrap()
}

async fn connect() -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&common::database_url(), NoTls)
        .await
        .expect("connect to DATABASE_URL");
    tokio::spawn(connection);
    client
}

async fn log(store: &EventStore, after: u64) -> Vec<StoredEvent> {
    store
        .log()
        .scan(ScanQuery::new().after(after))
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn publishes_and_reads_back_through_every_target() {
    let store = common::store().await;
    let stream = store.stream("profiles", "joe").unwrap();
    let stored = stream
        .publish(
            [event("created"), event("renamed")],
            WriteCondition::StreamIsEmpty,
        )
        .await
        .unwrap();
    let read: Vec<_> = stream.scan(ScanQuery::new()).try_collect().await.unwrap();
    assert_eq!(read, stored);
    assert_eq!(log(&store, 0).await, stored);
    let category = store.category("profiles").unwrap();
    assert_eq!(category.latest().await.unwrap().as_ref(), stored.last());
}

#[tokio::test]
async fn migrating_again_or_concurrently_changes_nothing() {
    let test = common::adapter().await;
    assert_eq!(test.adapter.migrate().await.unwrap(), 0);
    let fresh = PostgresAdapter::builder()
        .url(common::database_url())
        .schema(common::unique_schema())
        .build()
        .unwrap();
    let runs = futures::future::join_all((0..4).map(|_| fresh.migrate())).await;
    let applied: usize = runs.into_iter().map(Result::unwrap).sum();
    // Versions may have gaps: count the migrations recorded.
    let client = fresh.pool().get().await.unwrap();
    let recorded = client
        .query_one(
            &format!(
                "SELECT count(*), max(version) FROM \"{}\".events_migrations",
                fresh.schema()
            ),
            &[],
        )
        .await
        .unwrap();
    let (count, newest): (i64, i32) = (recorded.get(0), recorded.get(1));
    assert_eq!(
        applied,
        usize::try_from(count).unwrap(),
        "exactly one of the concurrent runs applies the migrations"
    );
    assert_eq!(newest, PostgresAdapter::schema_version());
    drop(client);
    common::drop_schema(fresh.schema().to_owned());
}

/// Sequence numbers are not committed in order: a reader tailing the log must
/// not skip one that commits late.
#[tokio::test(flavor = "multi_thread")]
async fn a_reader_does_not_skip_an_event_that_commits_after_a_later_one() {
    let test = common::adapter_with(|b| b.horizon_wait(Duration::from_millis(50))).await;
    let schema = test.schema.clone();
    let store = EventStore::new(test);
    let first = store
        .stream("orders", "a")
        .unwrap()
        .publish([event("placed")], WriteCondition::NoCondition)
        .await
        .unwrap();
    // Other tests' transactions on the shared server may hold the horizon
    // back for a while: wait rather than trail.
    assert!(wait_for(|| async { log(&store, 0).await == first }).await);
    let checkpoint = first[0].sequence_number;

    // A transaction takes the next sequence number and stays open.
    let mut slow = connect().await;
    let slow = slow.transaction().await.unwrap();
    slow.query_one(
        &format!(
            "INSERT INTO \"{schema}\".events
                 (sequence_number, id, category, stream, position, name, payload, metadata,
                  occurred_at, observed_at)
             VALUES (\"{schema}\".events_allocate(1), gen_random_uuid(), 'orders', 'slow', 0,
                     'placed', '{{}}', '{{}}', now(), now())
             RETURNING sequence_number"
        ),
        &[],
    )
    .await
    .unwrap();

    // A later sequence number commits first.
    let later = store
        .stream("orders", "b")
        .unwrap()
        .publish([event("placed")], WriteCondition::NoCondition)
        .await
        .unwrap();
    assert!(
        log(&store, checkpoint).await.is_empty(),
        "the later event must wait for the earlier transaction"
    );

    slow.commit().await.unwrap();
    assert!(wait_for(|| async { log(&store, checkpoint).await.len() == 2 }).await);
    let seen = log(&store, checkpoint).await;
    let streams: Vec<&str> = seen.iter().map(|e| e.stream.stream.as_str()).collect();
    assert_eq!(streams, ["slow", "b"], "both, in sequence order");
    assert_eq!(seen[1], later[0]);
}

#[tokio::test]
async fn publishes_twenty_thousand_events_at_once() {
    let store = common::store().await;
    let events: Vec<NewEvent> = (0..20_000).map(|_| event("tick")).collect();
    let stored = store
        .stream("clock", "ticks")
        .unwrap()
        .publish(events, WriteCondition::StreamIsEmpty)
        .await
        .unwrap();
    assert_eq!(stored.len(), 20_000);
    let positions: Vec<u64> = stored.iter().map(|e| e.position).collect();
    assert_eq!(positions, (0..20_000).collect::<Vec<u64>>());
    let read: Vec<StoredEvent> = store
        .stream("clock", "ticks")
        .unwrap()
        .scan(ScanQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(read, stored);
}

/// A save whose backend is killed writes nothing, and retrying it stores the
/// events exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_killed_save_leaves_nothing_and_its_retry_succeeds_once() {
    let test = common::adapter().await;
    let schema = test.schema.clone();
    let store = EventStore::new(test);
    let stream = store.stream("payments", "p-1").unwrap();
    let events = vec![event("authorised"), event("captured")];

    // Hold the stream's lock so the save waits inside its transaction.
    let mut blocker = connect().await;
    let blocker = blocker.transaction().await.unwrap();
    let key = format!("eventblocks:{schema}.events:stream:8:paymentsp-1");
    blocker
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&key],
        )
        .await
        .unwrap();
    let saving = tokio::spawn({
        let stream = stream.clone();
        let events = events.clone();
        async move { stream.publish(events, WriteCondition::StreamIsEmpty).await }
    });
    let killer = connect().await;
    let killed = wait_for(|| async {
        let row = killer
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                  WHERE application_name = $1 AND wait_event_type = 'Lock'",
                &[&schema],
            )
            .await
            .unwrap();
        row.get::<_, i64>(0) == 1
    })
    .await;
    assert!(killed, "the save never waited for the lock");
    let error = saving.await.unwrap().unwrap_err();
    assert!(matches!(error, Error::Unavailable { .. }), "{error:?}");
    blocker.rollback().await.unwrap();
    assert!(log(&store, 0).await.is_empty(), "nothing was written");

    let stored = stream
        .publish(events.clone(), WriteCondition::StreamIsEmpty)
        .await
        .unwrap();
    let again = stream
        .publish(events, WriteCondition::StreamIsEmpty)
        .await
        .unwrap();
    assert_eq!(again, stored, "the second retry returns the stored events");
    assert_eq!(log(&store, 0).await, stored, "stored exactly once");
}

/// A cancel that reaches a save just as it is granted an advisory lock (the
/// holder releases it and cancels the waiter in one statement) leaves no lock
/// on the server: the write path holds no session-level lock a cancel could
/// strand. Checked for every advisory lock a save has waited on: its stream's,
/// and the sequence-number allocation lock of earlier versions.
#[tokio::test(flavor = "multi_thread")]
async fn a_save_cancelled_as_it_is_granted_a_lock_leaves_none_behind() {
    let test = common::adapter_with(|b| b.pool_size(1)).await;
    let schema = test.schema.clone();
    let store = EventStore::new(test);
    let namespace = format!("eventblocks:{schema}.events");
    let keys = [
        format!(
            "{namespace}:stream:{}:{}{}",
            "accounts".len(),
            "accounts",
            "a-1"
        ),
        format!("{namespace}:allocate"),
    ];
    let admin = connect().await;
    for key in keys {
        let holder = connect().await;
        holder
            .execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", &[&key])
            .await
            .unwrap();
        let saving = tokio::spawn({
            let stream = store.stream("accounts", "a-1").unwrap();
            async move {
                stream
                    .publish([event("credited")], WriteCondition::NoCondition)
                    .await
            }
        });
        let waiter = wait_for_lock_waiter(&admin, &schema, &saving).await;
        if let Some(pid) = waiter {
            holder
                .execute(
                    "SELECT pg_advisory_unlock(hashtextextended($1, 0)), pg_cancel_backend($2)",
                    &[&key, &pid],
                )
                .await
                .unwrap();
        }
        let _ = saving.await.unwrap();
        drop(holder);
        // The cancelled transaction's locks go when the server has processed
        // the cancel; a stranded session lock never goes.
        let released = wait_for(|| async { advisory_locks_of(&admin, &schema).await == 0 }).await;
        assert!(released, "a cancelled save left a lock waiting on {key:?}");
        // Another session must get through every lock a save takes.
        let other = EventStore::new(
            PostgresAdapter::builder()
                .url(common::database_url())
                .schema(&schema)
                .build()
                .unwrap(),
        );
        tokio::time::timeout(
            Duration::from_secs(5),
            other
                .stream("accounts", "a-1")
                .unwrap()
                .publish([event("credited")], WriteCondition::NoCondition),
        )
        .await
        .expect("a lock was left behind")
        .unwrap();
    }
}

/// The pid of the test's session once it waits for an advisory lock, or
/// `None` if the save finished without waiting.
async fn wait_for_lock_waiter<T>(
    admin: &tokio_postgres::Client,
    schema: &str,
    saving: &tokio::task::JoinHandle<T>,
) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline && !saving.is_finished() {
        let waiting = admin
            .query_opt(
                "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                  WHERE a.application_name = $1 AND l.locktype = 'advisory' AND NOT l.granted",
                &[&schema],
            )
            .await
            .unwrap();
        if let Some(row) = waiting {
            return Some(row.get(0));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    None
}

/// How many advisory locks the sessions of `schema`'s test hold or wait for.
async fn advisory_locks_of(admin: &tokio_postgres::Client, schema: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE a.application_name = $1 AND l.locktype = 'advisory'",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn an_exhausted_pool_times_out_within_the_configured_wait() {
    let test =
        common::adapter_with(|b| b.pool_size(1).pool_wait_timeout(Duration::from_millis(200)))
            .await;
    let held = test.adapter.pool().get().await.unwrap();
    let store = EventStore::new(test);
    let started = Instant::now();
    let error = store
        .stream("queue", "q")
        .unwrap()
        .publish([event("enqueued")], WriteCondition::NoCondition)
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(
            error,
            Error::Timeout {
                outcome: WriteOutcome::NotWritten,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.is_retryable());
    assert!(waited < Duration::from_secs(2), "waited {waited:?}");
    drop(held);
}

#[tokio::test]
async fn connection_secrets_stay_out_of_debug_output_and_errors() {
    let url = "postgres://eventblocks:hunter2-secret@127.0.0.1:9/postgres";
    let adapter = PostgresAdapter::builder()
        .url(url)
        .connect_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let error = adapter.migrate().await.unwrap_err();
    let shown = format!(
        "{adapter:?} {error} {error:?} {:?}",
        PostgresAdapter::builder().url(url)
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(
        matches!(error, Error::Unavailable { .. } | Error::Timeout { .. }),
        "{error:?}"
    );

    let error = PostgresAdapter::connect("postgres://user:hunter2@[::1").unwrap_err();
    assert!(error.is_invalid_input());
    assert!(!format!("{error} {error:?}").contains("hunter2"));
}

#[tokio::test]
async fn rejects_names_postgres_would_truncate_or_that_need_quoting() {
    for (schema, table) in [("bad schema", "events"), ("ok", "x".repeat(60).as_str())] {
        let error = PostgresAdapter::builder()
            .url(common::database_url())
            .schema(schema)
            .table(table)
            .build()
            .unwrap_err();
        assert!(error.is_invalid_input(), "{error}");
    }
}

async fn wait_for<F, Fut>(mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    false
}

#[allow(dead_code)]
fn assert_send_sync(adapter: PostgresAdapter) -> Arc<dyn eventblocks_core::StorageAdapter> {
    Arc::new(adapter)
}

#[tokio::test]
async fn the_configured_event_size_limit_is_enforced_before_any_sql() {
    let test = common::adapter_with(|builder| builder.max_event_bytes(64)).await;
    let store = EventStore::new(test.adapter.clone());
    let stream = store.stream("sizes", "s-1").unwrap();
    // `"…"` of 62 bytes, and `{}` of metadata: 64 bytes in all.
    let at_limit = NewEvent::new("sized", &"x".repeat(60)).unwrap();
    stream
        .publish([at_limit], WriteCondition::NoCondition)
        .await
        .unwrap();
    let over = NewEvent::new("sized", &"x".repeat(61)).unwrap();
    let error = stream
        .publish([over], WriteCondition::NoCondition)
        .await
        .unwrap_err();
    assert!(
        matches!(error, Error::InvalidInput { ref field, .. } if field == "events[0]"),
        "{error:?}"
    );
    assert!(error.to_string().contains("at most 64"), "{error}");
    assert_eq!(
        log(&store, 0).await.len(),
        1,
        "the larger event was written"
    );
    let zero = PostgresAdapter::builder()
        .url(common::database_url())
        .max_event_bytes(0)
        .build();
    assert!(matches!(zero, Err(Error::InvalidInput { .. })));
}

/// Saves and reads against a schema `migrate()` never ran on say so, and
/// name what to do: whether the schema is missing or exists empty (made for
/// a role that will own it, say).
#[tokio::test]
async fn a_schema_that_was_never_migrated_asks_for_migrate() {
    let admin = connect().await;
    for exists in [false, true] {
        let schema = common::unique_schema();
        if exists {
            admin
                .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
                .await
                .unwrap();
        }
        let adapter = PostgresAdapter::builder()
            .url(common::url_named(&schema))
            .schema(&schema)
            .build()
            .unwrap();
        let checkpoints = PostgresCheckpointStore::new(&adapter);
        let projections = ProjectionStore::new(PostgresProjectionStore::new(&adapter));
        let store = EventStore::new(adapter);
        let stream = store.stream("accounts", "a").unwrap();
        let consumer = Name::new("consumer", "c").unwrap();
        let advanced = checkpoints.advance(&consumer, 1, None).await.unwrap_err();
        let loaded = checkpoints.load(&consumer).await.unwrap_err();
        let projection = Projection {
            id: "a".to_owned(),
            name: "balances".to_owned(),
            source: stream.identifier().clone().into(),
            state: json!(1),
            metadata: json!({}),
        };
        let projected = projections.save(&projection).await.unwrap_err();
        let searched = projections.search_stored(&Search::new()).await.unwrap_err();
        let saved = stream
            .publish([event("opened")], WriteCondition::NoCondition)
            .await
            .unwrap_err();
        let read = stream.read().await.unwrap_err();
        let scanned = store
            .log()
            .scan(ScanQuery::new())
            .try_collect::<Vec<_>>()
            .await
            .unwrap_err();
        let latest = store.log().latest().await.unwrap_err();
        let errors = [
            saved, read, scanned, latest, advanced, loaded, projected, searched,
        ];
        for error in errors {
            assert!(
                error.to_string().contains("has `migrate()` been run"),
                "schema exists: {exists}: {error}"
            );
            assert!(!error.is_retryable(), "{error:?}");
        }
        common::drop_schema(schema);
    }
}

/// A schema migrated before the catalogue existed gets it filled from the
/// events already stored, and saves keep it from then on.
#[tokio::test]
async fn the_catalogue_migration_fills_it_from_stored_events() {
    let test = common::adapter().await;
    let store = EventStore::new(test.adapter.clone());
    let stream = store.stream("backfill", "b-1").unwrap();
    stream
        .publish(
            [event("first"), event("second")],
            WriteCondition::NoCondition,
        )
        .await
        .unwrap();
    let client = test.adapter.pool().get().await.unwrap();
    let schema = &test.schema;
    client
        .batch_execute(&format!(
            "DROP TABLE \"{schema}\".events_streams;
             DROP TABLE \"{schema}\".events_event_names CASCADE;
             DROP FUNCTION \"{schema}\".events_catalogue_saved() CASCADE;
             DELETE FROM \"{schema}\".events_migrations WHERE version = 10;"
        ))
        .await
        .unwrap();
    assert_eq!(test.adapter.migrate().await.unwrap(), 1);
    let catalogue = store.catalogue();
    let summary = catalogue.stream("backfill", "b-1").await.unwrap().unwrap();
    assert_eq!((summary.length, summary.last_position), (2, 1));
    stream
        .publish([event("third")], WriteCondition::NoCondition)
        .await
        .unwrap();
    let summary = catalogue.stream("backfill", "b-1").await.unwrap().unwrap();
    assert_eq!(summary.length, 3);
    let names = catalogue.event_names(Default::default()).await.unwrap();
    assert_eq!(names.items, ["first", "second", "third"]);
}

/// A transaction still open that was the first to use an event name does not
/// hold back other saves using the name (the catalogue's names have no
/// unique key to wait on), and the name is listed once both commit.
#[tokio::test]
async fn a_new_event_name_in_an_open_transaction_does_not_block_other_saves() {
    let test = common::adapter().await;
    let schema = test.schema.clone();
    let store = EventStore::new(test.adapter.clone());
    let open = connect().await;
    open.batch_execute(&format!(
        "BEGIN;
         INSERT INTO \"{schema}\".events
             (sequence_number, id, category, stream, position, name, payload, metadata,
              occurred_at, observed_at)
         VALUES (\"{schema}\".events_allocate(1), gen_random_uuid(), 'names', 'open', 0,
                 'brand-new', '{{}}', '{{}}', now(), now());"
    ))
    .await
    .unwrap();
    let stream = store.stream("names", "other").unwrap();
    let saving = stream.publish([event("brand-new")], WriteCondition::NoCondition);
    tokio::time::timeout(Duration::from_secs(5), saving)
        .await
        .expect("the save does not wait for the open transaction")
        .unwrap();
    open.batch_execute("COMMIT").await.unwrap();
    let names = store
        .catalogue()
        .event_names(Default::default())
        .await
        .unwrap();
    assert_eq!(names.items, ["brand-new"]);
    let streams = store
        .catalogue()
        .streams("names", Default::default())
        .await
        .unwrap();
    assert_eq!(streams.items.len(), 2);
}
