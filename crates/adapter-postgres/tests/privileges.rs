//! Least privilege: the whole conformance kit passes when the adapter connects
//! as a runtime role that can only read and append events (no UPDATE, DELETE or
//! TRUNCATE on them), after a privileged role migrated the schema.

mod common;

use eventblocks_core::{
    async_trait, EventStore, EventStream, Result, SaveRequest, ScanRequest, StorageAdapter,
    StoredEvent,
};
use eventblocks_postgres::deadpool_postgres::{
    self, Manager, ManagerConfig, Pool, RecyclingMethod,
};
use eventblocks_postgres::PostgresAdapter;

/// The grants the README documents for the runtime role.
const RUNTIME_GRANTS: &str = r#"
GRANT USAGE ON SCHEMA {schema} TO {role};
GRANT SELECT, INSERT ON {schema}.events, {schema}.events_tags TO {role};
GRANT SELECT, INSERT, UPDATE ON {schema}.events_projections TO {role};
GRANT SELECT, INSERT, UPDATE ON {schema}.events_checkpoints TO {role};
GRANT SELECT, INSERT, UPDATE ON {schema}.events_fences TO {role};
GRANT SELECT, INSERT, UPDATE ON {schema}.events_tracking TO {role};
GRANT SELECT, INSERT, UPDATE ON {schema}.events_streams TO {role};
GRANT SELECT, INSERT ON {schema}.events_event_names TO {role};
"#;

async fn superuser() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&common::database_url(), tokio_postgres::NoTls)
            .await
            .expect("connect as the migrating role");
    tokio::spawn(connection);
    client
}

/// The test's runtime role, created once per process.
fn role() -> String {
    format!("eventblocks_runtime_{}", std::process::id())
}

async fn ensure_role(client: &tokio_postgres::Client) {
    let role = role();
    let exists = client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .unwrap()
        .is_some();
    if !exists {
        // Another case may create it at the same moment.
        let _ = client
            .batch_execute(&format!("CREATE ROLE {role} LOGIN"))
            .await;
    }
}

/// The runtime role's connection settings for the test's schema.
fn runtime_config(schema: &str) -> tokio_postgres::Config {
    let mut config: tokio_postgres::Config = common::database_url().parse().unwrap();
    config.user(role()).application_name(schema);
    config
}

/// The runtime role's connection string, for the adapter's wake-up listener
/// (the pool is built from [`runtime_config`]).
fn runtime_url(schema: &str) -> String {
    let config = runtime_config(schema);
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Unix(path)) => path.display().to_string(),
        Some(tokio_postgres::config::Host::Tcp(host)) => host.clone(),
        None => "localhost".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let dbname = config.get_dbname().unwrap_or("postgres");
    let user = role();
    format!("host={host} port={port} dbname={dbname} user={user} application_name={schema}")
}

/// The runtime adapter, keeping the test's schema until it is dropped.
#[derive(Debug)]
struct RuntimeAdapter {
    runtime: PostgresAdapter,
    _schema: common::TestAdapter,
}

#[async_trait]
impl StorageAdapter for RuntimeAdapter {
    async fn categories(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::CategoryIdentifier>> {
        self.runtime.categories(request).await
    }

    async fn streams(
        &self,
        category: &eventblocks_core::CategoryIdentifier,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::StreamSummary>> {
        self.runtime.streams(category, request).await
    }

    async fn event_names(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::Name>> {
        self.runtime.event_names(request).await
    }

    async fn stream_summary(
        &self,
        stream: &eventblocks_core::StreamIdentifier,
    ) -> eventblocks_core::Result<Option<eventblocks_core::StreamSummary>> {
        self.runtime.stream_summary(stream).await
    }

    async fn log_head(&self) -> eventblocks_core::Result<Option<u64>> {
        self.runtime.log_head().await
    }

    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        self.runtime.save(request).await
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        self.runtime.scan(request)
    }

    fn wake_ups(&self) -> Option<eventblocks_core::WakeUps> {
        self.runtime.wake_ups()
    }

    fn limits(&self) -> eventblocks_core::Limits {
        self.runtime.limits()
    }

    fn capabilities(&self) -> eventblocks_core::Capabilities {
        self.runtime.capabilities()
    }

    fn store_id(&self) -> u64 {
        self.runtime.store_id()
    }

    async fn read_query(
        &self,
        request: eventblocks_core::QueryRequest,
    ) -> Result<eventblocks_core::QueryRead> {
        self.runtime.read_query(request).await
    }

    async fn tracked_position(&self, consumer: &eventblocks_core::Name) -> Result<Option<u64>> {
        self.runtime.tracked_position(consumer).await
    }
}

/// A fresh schema migrated by the privileged role, with the README's grants to
/// the runtime role.
async fn migrated_for_runtime() -> common::TestAdapter {
    let migrated = common::adapter().await;
    let client = superuser().await;
    ensure_role(&client).await;
    let grants = RUNTIME_GRANTS
        .replace("{schema}", &format!("\"{}\"", migrated.schema))
        .replace("{role}", &role());
    client
        .batch_execute(&grants)
        .await
        .expect("grant the runtime role");
    migrated
}

/// A schema migrated by the privileged role, used through the runtime role.
async fn runtime_store() -> EventStore {
    let migrated = migrated_for_runtime().await;
    let manager = Manager::from_config(
        runtime_config(&migrated.schema),
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    let pool = Pool::builder(manager)
        .max_size(8)
        .wait_timeout(Some(std::time::Duration::from_secs(10)))
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .build()
        .unwrap();
    let runtime = PostgresAdapter::builder()
        .pool(pool)
        // Live subscriptions listen as the runtime role too.
        .notifications_url(runtime_url(&migrated.schema))
        .schema(&migrated.schema)
        // As every test adapter: wait out other tests' transactions on the
        // shared server rather than trail them (see `common::adapter_with`).
        .horizon_wait(std::time::Duration::from_secs(10))
        .build()
        .unwrap();
    EventStore::new(RuntimeAdapter {
        runtime,
        _schema: migrated,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_conformance_kit_passes_as_the_runtime_role() {
    let failures = eventblocks_testkit::conformance::run_all(runtime_store).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn the_runtime_role_cannot_rewrite_history() {
    let migrated = migrated_for_runtime().await;
    let (runtime, connection) = runtime_config(&migrated.schema)
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let events = format!("\"{}\".events", migrated.schema);
    runtime
        .batch_execute(&format!("SELECT count(*) FROM {events}"))
        .await
        .expect("the runtime role reads events");
    for statement in [
        "UPDATE {e} SET name = 'x'",
        "DELETE FROM {e}",
        "TRUNCATE {e}",
    ] {
        let sql = statement.replace("{e}", &events);
        let error = runtime.batch_execute(&sql).await.expect_err(&sql);
        assert_eq!(
            error.code(),
            Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE),
            "{sql}: {error}"
        );
    }
}
