//! The adapter: saves and reads over a connection pool.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Pool;
use eventblocks_core::{
    Capabilities, CatalogueRequest, CategoryIdentifier, EventStream, Head, Limits, LogIdentifier,
    Name, QueryRead, QueryRequest, Result, SaveRequest, ScanRequest, SerialisationGuarantee,
    StorageAdapter, StoredEvent, StreamIdentifier, StreamSummary, WakeUps, WriteOutcome,
};

use crate::config::PostgresAdapterBuilder;
use crate::connect::{Connector, Transport};
use crate::names::Names;
use crate::notify::Notifications;
use crate::replica::{NodePreference, Reads, Replicas};
use crate::statements::Statements;
use crate::{catalogue, error, query, save, scan, schema};

/// A [`StorageAdapter`] that keeps events in PostgreSQL.
///
/// Cheap to clone: clones share the pool. See the crate documentation for the
/// schema, the locking scheme and the ordering guarantee, and
/// `docs/replicas.md` for reads served by replicas.
#[derive(Clone)]
pub struct PostgresAdapter {
    pub(crate) inner: Arc<Inner>,
    /// Where this handle's reads go.
    reads: Reads,
}

pub(crate) struct Inner {
    /// The primary's pool: every write, and the reads that must see them.
    pub(crate) pool: Pool,
    pub(crate) replicas: Replicas,
    pub(crate) names: Names,
    pub(crate) sql: Statements,
    pub(crate) settings: Settings,
    pub(crate) notifications: Notifications,
    /// What this store's heads carry: a hash of its schema and table, so a
    /// head read from another event table is refused.
    pub(crate) store_id: u64,
    /// When a read last warned of a stalled read horizon.
    pub(crate) stall_warned: parking_lot::Mutex<Option<std::time::Instant>>,
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
        replicas: Replicas,
        names: Names,
        settings: Settings,
        listen: Option<Connector>,
        preference: NodePreference,
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
                replicas,
                names,
                sql,
                settings,
                notifications,
                store_id,
                stall_warned: parking_lot::Mutex::new(None),
            }),
            reads: Reads {
                preference,
                floor: None,
            },
        }
    }

    /// The same adapter (sharing its pools), its reads going where
    /// `preference` says. Writes always go to the primary.
    ///
    /// ```no_run
    /// use eventblocks_core::EventStore;
    /// use eventblocks_postgres::{NodePreference, PostgresAdapter};
    ///
    /// let adapter = PostgresAdapter::builder()
    ///     .url("postgres://app@primary/app")
    ///     .replica_url("postgres://app@replica/app")
    ///     .build()?;
    /// // Publishes go to the primary; this store's log and category reads,
    /// // subscriptions and query reads to the replica.
    /// let reporting = EventStore::new(adapter.reading_from(NodePreference::PreferReplica));
    /// # let _ = reporting;
    /// # Ok::<(), eventblocks_core::Error>(())
    /// ```
    pub fn reading_from(&self, preference: NodePreference) -> Self {
        let mut adapter = self.clone();
        adapter.reads.preference = preference;
        adapter
    }

    /// The same adapter, each of whose reads sees at least every event up to
    /// `sequence_number` (a publish's, say): read-your-writes on a replica.
    ///
    /// A read served by a replica first waits, up to the
    /// [replica wait](crate::PostgresAdapterBuilder::replica_wait), until the
    /// replica has replayed that far and every earlier transaction has
    /// finished there; then it reads from the primary or fails with
    /// [`eventblocks_core::Error::Timeout`], as
    /// [`WhenBehind`](crate::WhenBehind) says. On the primary it waits as
    /// log scans do, up to the horizon wait. Stream scans under
    /// [`NodePreference::PreferReplica`] go to a replica too when given one.
    pub fn at_least(&self, sequence_number: u64) -> Self {
        let mut adapter = self.clone();
        adapter.reads.floor = Some(sequence_number.saturating_add(1));
        adapter
    }

    /// As [`at_least`](Self::at_least), for every event visible at `head`
    /// (from a query read of this store).
    ///
    /// # Errors
    /// [`eventblocks_core::Error::InvalidInput`] for a head of another store.
    pub fn at_least_head(&self, head: &Head) -> Result<Self> {
        let frontier = head.frontier_in(self.inner.store_id, "head")?;
        let mut adapter = self.clone();
        adapter.reads.floor = Some(frontier);
        Ok(adapter)
    }

    /// Where this adapter's reads go.
    pub fn node_preference(&self) -> NodePreference {
        self.reads.preference
    }

    /// The pools of the replicas the adapter may read from, in the order they
    /// were given.
    pub fn replica_pools(&self) -> impl Iterator<Item = &Pool> {
        self.inner.replicas.pools()
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
        let mut client = error::pooled(&self.inner.pool).await?;
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
            .field("replicas", &self.inner.replicas.pools().count())
            .field("reads", &self.reads)
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
        let saved = tokio::time::timeout(self.inner.settings.operation_timeout, saving)
            .await
            .map_err(|_| error::timed_out("saving events", WriteOutcome::Unknown))?;
        let events = saved.inspect_err(|error| error::after_failover(&self.inner.pool, error))?;
        self.inner.notifications.saved(&self.inner.pool);
        Ok(events)
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        scan::scan(Arc::clone(&self.inner), self.reads, request)
    }

    async fn categories(&self, request: CatalogueRequest) -> Result<Vec<CategoryIdentifier>> {
        catalogue::categories(&self.inner, &request).await
    }

    async fn streams(
        &self,
        category: &CategoryIdentifier,
        request: CatalogueRequest,
    ) -> Result<Vec<StreamSummary>> {
        catalogue::streams(&self.inner, category, &request).await
    }

    async fn event_names(&self, request: CatalogueRequest) -> Result<Vec<Name>> {
        catalogue::event_names(&self.inner, &request).await
    }

    async fn stream_summary(&self, stream: &StreamIdentifier) -> Result<Option<StreamSummary>> {
        catalogue::stream(&self.inner, stream).await
    }

    /// The newest event of a log scan's backwards read, which waits for the
    /// read horizon like every log scan.
    async fn log_head(&self) -> Result<Option<u64>> {
        let latest = self.latest(&LogIdentifier.into()).await?;
        Ok(latest.map(|event| event.sequence_number))
    }

    /// Wake-ups from `LISTEN` on a dedicated connection to the primary, when
    /// the adapter knows a connection string (given with
    /// [`PostgresAdapterBuilder::url`] or
    /// [`PostgresAdapterBuilder::notifications_url`]). An adapter reading
    /// from replicas wakes its subscriptions once the replicas have replayed
    /// what the primary announced.
    fn wake_ups(&self) -> Option<WakeUps> {
        if self.reads.preference == NodePreference::Primary || self.inner.replicas.is_empty() {
            return self.inner.notifications.wake_ups();
        }
        tokio::runtime::Handle::try_current().ok()?;
        self.inner.replicas.wake_ups.wake_ups(&self.inner)
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
        let reading = query::read(Arc::clone(&self.inner), self.reads, request);
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
