//! The PostgreSQL projection store against the projection-store suite, each
//! case in a fresh schema.

mod common;

use eventblocks_core::{async_trait, Fence, Result};
use eventblocks_postgres::PostgresProjectionStore;
use eventblocks_projection::query::{Filter, Page, Search};
use eventblocks_projection::{ProjectionStorageAdapter, ProjectionStore, StoredProjection};

/// A projection store whose schema is dropped with it.
#[derive(Debug)]
struct TestProjections {
    store: PostgresProjectionStore,
    _schema: common::TestAdapter,
}

#[async_trait]
impl ProjectionStorageAdapter for TestProjections {
    async fn save(&self, projection: StoredProjection, fence: Option<&Fence>) -> Result<()> {
        self.store.save(projection, fence).await
    }

    async fn search(&self, search: &Search) -> Result<Page> {
        self.store.search(search).await
    }

    async fn count(&self, filters: &[Filter]) -> Result<u64> {
        self.store.count(filters).await
    }
}

async fn projections() -> ProjectionStore {
    let schema = common::adapter().await;
    let store = PostgresProjectionStore::new(&schema.adapter);
    store.create_state_index().await.unwrap();
    ProjectionStore::new(TestProjections {
        store,
        _schema: schema,
    })
}

eventblocks_testkit::projection_store_suite!(projections);

/// Earlier releases could split one source's projection into several rows
/// (saved by id, found by source). Migrating keeps one row per name and
/// source: the one that applied the most events, else the greatest id.
#[tokio::test]
async fn migrating_keeps_one_projection_per_source() {
    use eventblocks_core::{EventSourceIdentifier, StreamIdentifier};
    use serde_json::{json, Value};

    let test = common::adapter().await;
    let client = test.adapter.pool().get().await.unwrap();
    let schema = &test.schema;
    // The schema as it was before: a plain index, and no record of the change.
    client
        .batch_execute(&format!(
            r#"DROP INDEX "{schema}".events_projections_source;
               CREATE INDEX events_projections_source
                   ON "{schema}".events_projections (name, source);
               DELETE FROM "{schema}".events_migrations WHERE version = 6;"#
        ))
        .await
        .unwrap();
    let source = |name: &str| {
        let stream = StreamIdentifier::new("things", name).unwrap();
        serde_json::to_value(EventSourceIdentifier::Stream(stream)).unwrap()
    };
    let rows: [(&str, Value, Value); 5] = [
        ("a@0", source("a"), json!({ "last_sequence_number": 3 })),
        ("a@1", source("a"), json!({ "last_sequence_number": 12 })),
        ("a@2", source("a"), json!({ "last_sequence_number": 7 })),
        ("b-old", source("b"), json!({})),
        ("b-new", source("b"), json!({})),
    ];
    for (id, source, metadata) in &rows {
        client
            .execute(
                &format!(
                    r#"INSERT INTO "{schema}".events_projections (name, id, source, state, metadata)
                       VALUES ('tally', $1, $2, '{{}}', $3)"#
                ),
                &[id, source, metadata],
            )
            .await
            .unwrap();
    }
    assert_eq!(test.adapter.migrate().await.unwrap(), 1);
    let kept: Vec<String> = client
        .query(
            &format!(r#"SELECT id FROM "{schema}".events_projections ORDER BY id"#),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(kept, ["a@1", "b-old"]);
}

/// A pattern that costs PostgreSQL some tens of milliseconds per row of
/// [`slow_rows`]: its lazily built DFA meets new states at every character.
const SLOW: &str = "(?:a.{70}){70}c";

/// Saves `count` projections whose text makes [`SLOW`] slow to match.
async fn slow_rows(store: &ProjectionStore, count: usize) {
    use eventblocks_core::{EventSourceIdentifier, StreamIdentifier};
    use rand::{Rng, SeedableRng};

    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    for index in 0..count {
        let letters: String = (0..6000)
            .map(|_| if rng.random_bool(0.5) { 'a' } else { 'b' })
            .collect();
        let id = format!("slow-{index}");
        let projection = eventblocks_projection::Projection {
            source: EventSourceIdentifier::Stream(
                StreamIdentifier::new("slow", id.as_str()).unwrap(),
            ),
            id,
            name: "slow".to_owned(),
            state: serde_json::json!({ "t": letters }),
            metadata: serde_json::json!({}),
        };
        store.save(&projection).await.unwrap();
    }
}

fn slow_filter() -> Filter {
    use eventblocks_projection::query::{Field, Operator};
    Filter::new(Field::state("t"), Operator::Matches, SLOW)
}

/// The test's sessions that are running a statement or sit inside a
/// transaction, seen from a connection of another name.
async fn busy_sessions(schema: &str) -> Vec<String> {
    let (client, connection) =
        tokio_postgres::connect(&common::database_url(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    client
        .query(
            "SELECT state || ': ' || query FROM pg_stat_activity
              WHERE application_name = $1 AND state <> 'idle'",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Waits up to `within` for the test's sessions to be idle.
async fn sessions_idle_within(schema: &str, within: std::time::Duration) -> Vec<String> {
    let started = std::time::Instant::now();
    loop {
        let busy = busy_sessions(schema).await;
        if busy.is_empty() || started.elapsed() > within {
            return busy;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn stopped_by_the_server(error: &eventblocks_core::Error) -> bool {
    let Some(source) = std::error::Error::source(error) else {
        return false;
    };
    source
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        == Some(&tokio_postgres::error::SqlState::QUERY_CANCELED)
}

/// A search or count running past the operation timeout is stopped by the
/// server (its statement timeout), reported as a timeout promptly, and leaves
/// its session idle and the store serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_past_the_operation_timeout_is_stopped_by_the_server() {
    use std::time::{Duration, Instant};

    let timeout = Duration::from_millis(500);
    let test = common::adapter_with(|builder| builder.operation_timeout(timeout)).await;
    let store = ProjectionStore::new(PostgresProjectionStore::new(&test.adapter));
    slow_rows(&store, 200).await;
    let search = Search::new().filter(slow_filter());
    for counting in [false, true] {
        let started = Instant::now();
        let error = if counting {
            store.count(&[slow_filter()]).await.map(|_| ())
        } else {
            store.search_stored(&search).await.map(|_| ())
        }
        .expect_err("the query takes seconds");
        let took = started.elapsed();
        assert!(
            matches!(error, eventblocks_core::Error::Timeout { .. }),
            "{error}"
        );
        assert!(stopped_by_the_server(&error), "{error:?}");
        assert!(took < timeout * 3, "reported after {took:?}");
        let busy = busy_sessions(&test.schema).await;
        assert!(busy.is_empty(), "after the timeout: {busy:?}");
    }
    let quick = Search::new().limit(1);
    assert_eq!(
        store.search_stored(&quick).await.unwrap().projections.len(),
        1
    );
}

/// A search or count dropped by its caller (its own timeout) is cancelled
/// on the server, which would otherwise match every row for seconds, and its
/// connection is not pooled inside a transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_query_is_cancelled_on_the_server() {
    use std::time::Duration;

    let test = common::adapter().await;
    let store = ProjectionStore::new(PostgresProjectionStore::new(&test.adapter));
    slow_rows(&store, 200).await;
    let search = Search::new().filter(slow_filter());
    let filters = [slow_filter()];
    for counting in [false, true] {
        let wait = Duration::from_millis(300);
        let dropped = if counting {
            tokio::time::timeout(wait, async { store.count(&filters).await.map(|_| ()) }).await
        } else {
            tokio::time::timeout(wait, async {
                store.search_stored(&search).await.map(|_| ())
            })
            .await
        };
        assert!(dropped.is_err(), "the query takes seconds");
        let busy = sessions_idle_within(&test.schema, Duration::from_secs(2)).await;
        assert!(busy.is_empty(), "after the drop: {busy:?}");
    }
}

/// An operation timeout too long to add to the clock bounds nothing and
/// breaks nothing.
#[tokio::test]
async fn an_endless_operation_timeout_still_searches() {
    let test =
        common::adapter_with(|builder| builder.operation_timeout(std::time::Duration::MAX)).await;
    let store = ProjectionStore::new(PostgresProjectionStore::new(&test.adapter));
    assert_eq!(store.count(&[]).await.unwrap(), 0);
    assert!(store
        .search_stored(&Search::new())
        .await
        .unwrap()
        .projections
        .is_empty());
}
