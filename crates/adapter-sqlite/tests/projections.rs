//! The SQLite projection store against the projection-store suite, each case
//! on a new file.

mod common;

use eventblocks_core::{async_trait, Fence, Result};
use eventblocks_projection::query::{Filter, Page, Search};
use eventblocks_projection::{ProjectionStorageAdapter, ProjectionStore, StoredProjection};
use eventblocks_sqlite::SqliteProjectionStore;

/// A projection store whose file is removed with it.
#[derive(Debug)]
struct TestProjections {
    store: SqliteProjectionStore,
    _file: common::TestAdapter,
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
    let file = common::adapter().await;
    ProjectionStore::new(TestProjections {
        store: SqliteProjectionStore::new(&file.adapter),
        _file: file,
    })
}

eventblocks_testkit::projection_store_suite!(projections);
