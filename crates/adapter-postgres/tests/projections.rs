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
