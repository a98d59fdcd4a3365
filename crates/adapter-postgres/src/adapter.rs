//! The adapter: saves and reads over a connection pool.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use eventblocks_core::{
    Capabilities, EventStream, Limits, Name, QueryRead, QueryRequest, Result, SaveRequest,
    ScanRequest, SerialisationGuarantee, StorageAdapter, StoredEvent, WakeUps, WriteOutcome,
};

use crate::config::PostgresAdapterBuilder;
use crate::connect::{Connector, Transport};
use crate::names::Names;
use crate::notify::Notifications;
use crate::statements::Statements;
use crate::{error, query, save, scan, schema};

/// A [`StorageAdapter`] that keeps events in PostgreSQL.
///
/// Cheap to clone: clones share the pool. See the crate documentation for the
/// schema, the locking scheme and the ordering guarantee.
#[derive(Clone)]
pub struct PostgresAdapter {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) pool: Pool,
    pub(crate) names: Names,
    pub(crate) sql: Statements,
    pub(crate) settings: Settings,
    pub(crate) notifications: Notifications,
    /// What this store's heads carry: a hash of its schema and table, so a
    /// head read from another event table is refused.
    pub(crate) store_id: u64,
}

/// The builder's settings the adapter keeps.
pub(crate) struct Settings {
    pub(crate) serialisation: SerialisationGuarantee,
    pub(crate) page_size: u32,
    pub(crate) horizon_wait: Duration,
    pub(crate) operation_timeout: Duration,
    pub(crate) max_event_bytes: usize,
    /// How the pool's connections are opened, which cancel requests repeat.
    pub(crate) transport: Transport,
}

impl PostgresAdapter {
    /// Starts configuring an adapter.
    pub fn builder() -> PostgresAdapterBuilder {
        PostgresAdapterBuilder::default()
    }

    /// An adapter with default settings connecting to `url`.
    ///
    /// # Errors
    /// [`eventblocks_core::Error::InvalidInput`] if `url` is not a connection
    /// string.
    pub fn connect(url: impl Into<String>) -> Result<Self> {
        Self::builder().url(url).build()
    }

    /// An adapter with default settings using the caller's pool.
    pub fn from_pool(pool: Pool) -> Self {
        Self::builder()
            .pool(pool)
            .build()
            .expect("the default settings are valid")
    }

    pub(crate) fn new(
        pool: Pool,
        names: Names,
        settings: Settings,
        listen: Option<Connector>,
    ) -> Self {
        let sql = Statements::new(&names);
        let notifications = Notifications::new(
            names.notification_channel(),
            sql.events.notify.clone(),
            listen,
        );
        let store_id = names.store_id();
        Self {
            inner: Arc::new(Inner {
                pool,
                names,
                sql,
                settings,
                notifications,
                store_id,
            }),
        }
    }

    /// Creates or upgrades the schema, table, indexes and functions the adapter
    /// needs, and returns how many migrations it applied (0 when up to date).
    ///
    /// Safe to call from several processes at once, and on every start.
    ///
    /// # Errors
    /// Connection failures, or a database user without the rights to create
    /// the schema.
    pub async fn migrate(&self) -> Result<usize> {
        let mut client = self.inner.pool.get().await.map_err(error::pool)?;
        schema::migrate(&mut client, &self.inner).await
    }

    /// The newest schema version this build of the adapter knows.
    pub fn schema_version() -> i32 {
        schema::latest_version()
    }

    /// The pool the adapter uses.
    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    /// The schema holding the event table.
    pub fn schema(&self) -> &str {
        self.inner.names.schema()
    }

    /// The event table's name.
    pub fn table(&self) -> &str {
        self.inner.names.table()
    }

    /// The scope within which writes are serialised.
    pub fn serialisation_guarantee(&self) -> SerialisationGuarantee {
        self.inner.settings.serialisation
    }
}

impl fmt::Debug for PostgresAdapter {
    /// Shows where events are kept, never connection settings (they may hold a
    /// password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.inner.pool.status();
        f.debug_struct("PostgresAdapter")
            .field("schema", &self.inner.names.schema())
            .field("table", &self.inner.names.table())
            .field("serialisation", &self.inner.settings.serialisation)
            .field("page_size", &self.inner.settings.page_size)
            .field("pool_size", &status.max_size)
            .field("pool_in_use", &(status.size - status.available))
            .finish()
    }
}

#[async_trait]
impl StorageAdapter for PostgresAdapter {
    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        let saving = save::save(&self.inner, request);
        let events = tokio::time::timeout(self.inner.settings.operation_timeout, saving)
            .await
            .map_err(|_| error::timed_out("saving events", WriteOutcome::Unknown))??;
        self.inner.notifications.saved(&self.inner.pool);
        Ok(events)
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        scan::scan(Arc::clone(&self.inner), request)
    }

    /// Wake-ups from `LISTEN` on a dedicated connection, when the adapter knows
    /// a connection string (given with [`PostgresAdapterBuilder::url`] or
    /// [`PostgresAdapterBuilder::notifications_url`]).
    fn wake_ups(&self) -> Option<WakeUps> {
        self.inner.notifications.wake_ups()
    }

    fn limits(&self) -> Limits {
        Limits::default().with_max_event_bytes(self.inner.settings.max_event_bytes)
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }

    fn store_id(&self) -> u64 {
        self.inner.store_id
    }

    async fn read_query(&self, request: QueryRequest) -> Result<QueryRead> {
        let reading = query::read(Arc::clone(&self.inner), request);
        tokio::time::timeout(self.inner.settings.operation_timeout, reading)
            .await
            .map_err(|_| error::timed_out("reading a query", WriteOutcome::NotWritten))?
    }

    async fn tracked_position(&self, consumer: &Name) -> Result<Option<u64>> {
        let rows = scan::read(
            &self.inner,
            &self.inner.sql.events.tracked,
            &[&consumer.as_str()],
            "reading a tracked position",
        )
        .await?;
        let position: Option<i64> = rows.first().map(|row| row.get(0));
        position
            .map(u64::try_from)
            .transpose()
            .map_err(|_| eventblocks_core::Error::corrupt("a tracked position is negative"))
    }
}
