//! A fresh database file per test, removed with the adapter.

#![allow(dead_code, unreachable_pub)]

pub mod lines;

use std::sync::Arc;

use eventblocks_core::{
    async_trait, Capabilities, EventSourceIdentifier, EventStore, EventStream, Limits, Name,
    QueryRead, QueryRequest, Result, SaveRequest, ScanRequest, StorageAdapter, StoredEvent,
    WakeUps,
};
use eventblocks_sqlite::{SqliteAdapter, SqliteAdapterBuilder};
use tempfile::TempDir;

/// An adapter on a file in a temporary directory that lives as long as any
/// clone of it.
#[derive(Debug, Clone)]
pub struct TestAdapter {
    pub adapter: SqliteAdapter,
    pub dir: Arc<TempDir>,
}

impl TestAdapter {
    /// Another adapter (its own writer and readers) on the same file, as
    /// another process would have.
    pub async fn reopen(&self) -> TestAdapter {
        let adapter = SqliteAdapter::open(self.adapter.path()).await.unwrap();
        adapter.migrate().await.unwrap();
        TestAdapter {
            adapter,
            dir: self.dir.clone(),
        }
    }
}

/// A migrated adapter on a new file, with `settings` applied.
pub async fn adapter_with(
    settings: impl FnOnce(SqliteAdapterBuilder) -> SqliteAdapterBuilder,
) -> TestAdapter {
    let dir = tempfile::tempdir().unwrap();
    let builder = settings(SqliteAdapter::builder(dir.path().join("events.db")));
    let adapter = builder.open().await.unwrap();
    adapter.migrate().await.unwrap();
    TestAdapter {
        adapter,
        dir: Arc::new(dir),
    }
}

/// A migrated adapter on a new file.
pub async fn adapter() -> TestAdapter {
    adapter_with(|builder| builder).await
}

/// An event store on a new file.
pub async fn store() -> EventStore {
    EventStore::new(adapter().await)
}

#[async_trait]
impl StorageAdapter for TestAdapter {
    async fn categories(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::CategoryIdentifier>> {
        self.adapter.categories(request).await
    }

    async fn streams(
        &self,
        category: &eventblocks_core::CategoryIdentifier,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::StreamSummary>> {
        self.adapter.streams(category, request).await
    }

    async fn event_names(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::Name>> {
        self.adapter.event_names(request).await
    }

    async fn stream_summary(
        &self,
        stream: &eventblocks_core::StreamIdentifier,
    ) -> eventblocks_core::Result<Option<eventblocks_core::StreamSummary>> {
        self.adapter.stream_summary(stream).await
    }

    async fn log_head(&self) -> eventblocks_core::Result<Option<u64>> {
        self.adapter.log_head().await
    }

    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        self.adapter.save(request).await
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        self.adapter.scan(request)
    }

    async fn latest(&self, target: &EventSourceIdentifier) -> Result<Option<StoredEvent>> {
        self.adapter.latest(target).await
    }

    fn wake_ups(&self) -> Option<WakeUps> {
        self.adapter.wake_ups()
    }

    fn limits(&self) -> Limits {
        self.adapter.limits()
    }

    fn capabilities(&self) -> Capabilities {
        self.adapter.capabilities()
    }

    fn store_id(&self) -> u64 {
        self.adapter.store_id()
    }

    async fn read_query(&self, request: QueryRequest) -> Result<QueryRead> {
        self.adapter.read_query(request).await
    }

    async fn tracked_position(&self, consumer: &Name) -> Result<Option<u64>> {
        self.adapter.tracked_position(consumer).await
    }
}

/// A runner fixture on one new file: events, projections, checkpoints and
/// leases (a short lease time, so revoked holders notice soon).
pub async fn runner_fixture() -> eventblocks_testkit::projection::runner::RunnerFixture {
    runner_fixture_on(adapter().await)
}

/// A runner fixture on `file`.
pub fn runner_fixture_on(
    file: TestAdapter,
) -> eventblocks_testkit::projection::runner::RunnerFixture {
    use eventblocks_projection::ProjectionStore;
    use eventblocks_sqlite::{SqliteCheckpointStore, SqliteLeases, SqliteProjectionStore};
    use futures::FutureExt;

    let leases = SqliteLeases::with_lease_time(&file.adapter, std::time::Duration::from_secs(1));
    let revoking = leases.clone();
    eventblocks_testkit::projection::runner::RunnerFixture {
        projections: ProjectionStore::new(SqliteProjectionStore::new(&file.adapter)),
        checkpoints: Arc::new(SqliteCheckpointStore::new(&file.adapter)),
        leases: Arc::new(leases),
        revoke: Arc::new(move |consumer, partition| {
            let leases = revoking.clone();
            async move { leases.revoke(&consumer, partition).await.unwrap() }.boxed()
        }),
        events: EventStore::new(file),
    }
}
