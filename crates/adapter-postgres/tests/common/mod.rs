//! Test support shared by the PostgreSQL adapter's test files.

//! A fresh schema per test, dropped when the test passes (kept for inspection
//! when it fails).

#![allow(dead_code, unreachable_pub)]

use std::sync::atomic::{AtomicU64, Ordering};

use eventblocks_core::{
    async_trait, EventSourceIdentifier, EventStore, EventStream, Name, Result, SaveRequest,
    ScanRequest, StorageAdapter, StoredEvent,
};
use eventblocks_core::{CheckpointStore, Fence};
use eventblocks_postgres::{
    PostgresAdapter, PostgresAdapterBuilder, PostgresCheckpointStore, PostgresLeases,
    PostgresProjectionStore,
};
use eventblocks_projection::ProjectionStore;
use eventblocks_testkit::projection::runner::RunnerFixture;
use futures::FutureExt;
use std::sync::Arc;

pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".to_owned())
}

/// A schema name no other test (or test process) uses.
pub fn unique_schema() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "eventblocks_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..8)
            .unwrap_or_default()
    )
}

/// The database URL with the test's schema as the application name, so the
/// test's sessions can be found and ended when the test is over.
pub fn url_named(schema: &str) -> String {
    let url = database_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}application_name={schema}")
}

/// A migrated adapter in a fresh schema, configured by `configure`.
pub async fn adapter_with(
    configure: impl FnOnce(PostgresAdapterBuilder) -> PostgresAdapterBuilder,
) -> TestAdapter {
    let schema = unique_schema();
    let builder = PostgresAdapter::builder()
        .url(url_named(&schema))
        .schema(&schema)
        .pool_size(8)
        // Tests share the server, and a test's long transaction holds every
        // other test's read horizon back: let scans wait it out rather than
        // trail (as they may, documented, after `horizon_wait`).
        .horizon_wait(std::time::Duration::from_secs(10));
    let adapter = configure(builder).build().expect("a valid configuration");
    adapter.migrate().await.unwrap_or_else(|error| {
        panic!("could not migrate a test schema at DATABASE_URL ({error}); is PostgreSQL running?")
    });
    TestAdapter { adapter, schema }
}

pub async fn adapter() -> TestAdapter {
    adapter_with(|builder| builder).await
}

pub async fn store() -> EventStore {
    EventStore::new(adapter().await)
}

/// An adapter whose schema is dropped with it, unless the test is failing.
#[derive(Debug)]
pub struct TestAdapter {
    pub adapter: PostgresAdapter,
    pub schema: String,
}

impl Drop for TestAdapter {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keeping schema {} of a failed test", self.schema);
            return;
        }
        drop_schema(self.schema.clone());
    }
}

/// Ends the test's sessions and drops `schema`, on a thread of its own: the
/// test's runtime may be the one blocked in this `drop`, so its connections
/// cannot be relied on to close.
pub fn drop_schema(schema: String) {
    let url = database_url();
    let dropping = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect to drop a test schema");
            tokio::spawn(connection);
            client
                .execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                      WHERE application_name = $1 AND pid <> pg_backend_pid()",
                    &[&schema],
                )
                .await
                .expect("end a test's sessions");
            client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
                .await
                .expect("drop a test schema");
        });
    });
    dropping.join().expect("the schema was dropped");
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

    fn wake_ups(&self) -> Option<eventblocks_core::WakeUps> {
        self.adapter.wake_ups()
    }

    fn limits(&self) -> eventblocks_core::Limits {
        self.adapter.limits()
    }

    fn capabilities(&self) -> eventblocks_core::Capabilities {
        self.adapter.capabilities()
    }

    fn store_id(&self) -> u64 {
        self.adapter.store_id()
    }

    async fn read_query(
        &self,
        request: eventblocks_core::QueryRequest,
    ) -> Result<eventblocks_core::QueryRead> {
        self.adapter.read_query(request).await
    }

    async fn tracked_position(&self, consumer: &eventblocks_core::Name) -> Result<Option<u64>> {
        self.adapter.tracked_position(consumer).await
    }
}

/// Ends the session holding the lease on `partition` of `consumer` (and so
/// every other lease of the same `PostgresLeases`), as a lost connection
/// would, and waits until it is gone: the holder is not told, and the
/// partitions are free for another instance.
pub async fn end_lease_session(adapter: &PostgresAdapter, consumer: &Name, partition: u32) {
    // The advisory lock key PostgresLeases takes, split by pg_locks into its
    // high (classid) and low (objid) halves.
    let key = format!(
        "eventblocks:{}.{}:lease:{consumer}#{partition}",
        adapter.schema(),
        adapter.table()
    );
    let client = adapter.pool().get().await.expect("a connection");
    client
        .execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_locks
              WHERE locktype = 'advisory' AND granted AND objsubid = 1
                AND ((classid::bigint << 32) | objid::bigint) = hashtextextended($1, 0)",
            &[&key],
        )
        .await
        .expect("end a lease's session");
}

/// Checkpoints that keep the test's schema alive until the fixture is dropped.
#[derive(Debug)]
struct SchemaCheckpoints {
    checkpoints: PostgresCheckpointStore,
    _schema: TestAdapter,
}

#[async_trait]
impl CheckpointStore for SchemaCheckpoints {
    async fn load(&self, consumer: &Name) -> Result<Option<u64>> {
        self.checkpoints.load(consumer).await
    }

    async fn advance(
        &self,
        consumer: &Name,
        sequence_number: u64,
        fence: Option<&Fence>,
    ) -> Result<bool> {
        self.checkpoints
            .advance(consumer, sequence_number, fence)
            .await
    }
}

/// A runner fixture whose stores share one fresh schema (dropped with it), and
/// the schema's name.
pub async fn runner_fixture(pool_size: usize) -> (RunnerFixture, String) {
    let test = adapter_with(|builder| builder.pool_size(pool_size)).await;
    let schema = test.schema.clone();
    let adapter = test.adapter.clone();
    let revoking = adapter.clone();
    let fixture = RunnerFixture {
        events: EventStore::new(adapter.clone()),
        projections: ProjectionStore::new(PostgresProjectionStore::new(&adapter)),
        checkpoints: Arc::new(SchemaCheckpoints {
            checkpoints: PostgresCheckpointStore::new(&adapter),
            _schema: test,
        }),
        leases: Arc::new(PostgresLeases::new(&adapter)),
        revoke: Arc::new(move |consumer, partition| {
            let adapter = revoking.clone();
            async move { end_lease_session(&adapter, &consumer, partition).await }.boxed()
        }),
    };
    (fixture, schema)
}
