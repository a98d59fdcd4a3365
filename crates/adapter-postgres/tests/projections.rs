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
