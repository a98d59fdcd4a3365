//! Building a [`PostgresAdapter`]: where to connect, where the events live, how
//! writes are serialised, and the limits that keep the adapter from waiting
//! forever.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::Pool;
use eventblocks_core::{Error, Result, SerialisationGuarantee, DEFAULT_MAX_EVENT_BYTES};

use crate::adapter::{PostgresAdapter, Settings};
use crate::connect::{Connector, PoolLimits, Transport};
use crate::names::Names;
use crate::replica::{NodePreference, Replicas, WhenBehind};

/// Default schema for the event table.
pub const DEFAULT_SCHEMA: &str = "eventblocks";
/// Default event table name.
pub const DEFAULT_TABLE: &str = "events";

/// Configures and builds a [`PostgresAdapter`]; start with
/// [`PostgresAdapter::builder`].
///
/// Every wait is bounded by default: getting a connection from the pool, opening
/// one, and (for log and category scans) waiting for in-flight writes to settle.
///
/// ```
/// use std::time::Duration;
/// use eventblocks_core::SerialisationGuarantee;
/// use eventblocks_postgres::PostgresAdapter;
///
/// let adapter = PostgresAdapter::builder()
///     .url("postgres://app:secret@localhost:5432/app")
///     .schema("billing")
///     .serialisation_guarantee(SerialisationGuarantee::Category)
///     .pool_size(32)
///     .pool_wait_timeout(Duration::from_secs(2))
///     .build()?;
/// assert!(!format!("{adapter:?}").contains("secret"));
/// # Ok::<(), eventblocks_core::Error>(())
/// ```
#[must_use]
pub struct PostgresAdapterBuilder {
    source: Option<Source>,
    schema: String,
    table: String,
    serialisation: SerialisationGuarantee,
    page_size: u32,
    pool_size: usize,
    pool_wait_timeout: Duration,
    connect_timeout: Duration,
    horizon_wait: Duration,
    operation_timeout: Duration,
    max_event_bytes: usize,
    notifications_url: Option<String>,
    transport: Transport,
    replicas: Vec<Source>,
    node_preference: NodePreference,
    replica_wait: Duration,
    when_behind: WhenBehind,
}

enum Source {
    Url(String),
    Pool(Pool),
}

impl Default for PostgresAdapterBuilder {
    fn default() -> Self {
        Self {
            source: None,
            schema: DEFAULT_SCHEMA.to_owned(),
            table: DEFAULT_TABLE.to_owned(),
            serialisation: SerialisationGuarantee::default(),
            page_size: 1000,
            pool_size: 16,
            pool_wait_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(5),
            horizon_wait: Duration::from_secs(1),
            operation_timeout: Duration::from_secs(30),
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            notifications_url: None,
            transport: Transport::Plain,
            replicas: Vec::new(),
            node_preference: NodePreference::Primary,
            replica_wait: Duration::from_secs(2),
            when_behind: WhenBehind::ReadPrimary,
        }
    }
}

impl fmt::Debug for PostgresAdapterBuilder {
    /// Leaves out the connection string: it may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            None => "none",
            Some(Source::Url(_)) => "url",
            Some(Source::Pool(_)) => "pool",
        };
        f.debug_struct("PostgresAdapterBuilder")
            .field("source", &source)
            .field("schema", &self.schema)
            .field("table", &self.table)
            .field("serialisation", &self.serialisation)
            .field("page_size", &self.page_size)
            .field("pool_size", &self.pool_size)
            .field("pool_wait_timeout", &self.pool_wait_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("horizon_wait", &self.horizon_wait)
            .field("operation_timeout", &self.operation_timeout)
            .field("max_event_bytes", &self.max_event_bytes)
            .field("tls", &!matches!(self.transport, Transport::Plain))
            .field("replicas", &self.replicas.len())
            .field("node_preference", &self.node_preference)
            .field("replica_wait", &self.replica_wait)
            .field("when_behind", &self.when_behind)
            .finish()
    }
}

impl PostgresAdapterBuilder {
    /// Connects with a libpq-style URL or key-value string, through a pool the
    /// adapter creates.
    ///
    /// For failover, name every server that may become the primary and ask
    /// for the writable one, as libpq does:
    /// `postgres://app@db1:5432,db2:5432/app?target_session_attrs=read-write`.
    /// Each new connection then goes to whichever accepts writes; after a
    /// promotion, connections to the old primary fail and are dropped, never
    /// reused (see `docs/replicas.md`).
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.source = Some(Source::Url(url.into()));
        self
    }

    /// Uses a pool the caller owns. Pool size and timeouts are then the pool's
    /// own; configure them on it (a pool without a wait timeout can wait forever).
    pub fn pool(mut self, pool: Pool) -> Self {
        self.source = Some(Source::Pool(pool));
        self
    }

    /// Where live subscriptions open their `LISTEN` connection when the adapter
    /// uses a caller's [`pool`](Self::pool) (with [`url`](Self::url) the same
    /// URL serves). Without either, subscriptions poll.
    pub fn notifications_url(mut self, url: impl Into<String>) -> Self {
        self.notifications_url = Some(url.into());
        self
    }

    /// Adds a read replica (a hot standby of the primary), reached with a
    /// pool the adapter creates as for [`url`](Self::url), with the same
    /// size and timeouts. Call it once per replica. Reads go to replicas only
    /// as the [node preference](Self::node_preference) says.
    pub fn replica_url(mut self, url: impl Into<String>) -> Self {
        self.replicas.push(Source::Url(url.into()));
        self
    }

    /// Adds a read replica reached through a pool the caller owns.
    pub fn replica_pool(mut self, pool: Pool) -> Self {
        self.replicas.push(Source::Pool(pool));
        self
    }

    /// Where the adapter's reads go (default [`NodePreference::Primary`]);
    /// [`PostgresAdapter::reading_from`] changes it for some reads.
    pub fn node_preference(mut self, preference: NodePreference) -> Self {
        self.node_preference = preference;
        self
    }

    /// How long a read that must see a sequence number
    /// ([`PostgresAdapter::at_least`]) waits for its replica to replay it
    /// (default 2 s) before doing what [`when_behind`](Self::when_behind)
    /// says.
    pub fn replica_wait(mut self, wait: Duration) -> Self {
        self.replica_wait = wait;
        self
    }

    /// What a read does when its replica has not replayed what it must see
    /// within the [replica wait](Self::replica_wait) (default
    /// [`WhenBehind::ReadPrimary`]).
    pub fn when_behind(mut self, when_behind: WhenBehind) -> Self {
        self.when_behind = when_behind;
        self
    }

    /// The schema holding the event table (default `eventblocks`).
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The event table's name (default `events`); related objects are named
    /// after it.
    pub fn table(mut self, table: impl Into<String>) -> Self {
        self.table = table.into();
        self
    }

    /// The scope within which writes are serialised (default
    /// [`SerialisationGuarantee::Stream`]). Every process writing to the same
    /// table must use the same setting.
    pub fn serialisation_guarantee(mut self, guarantee: SerialisationGuarantee) -> Self {
        self.serialisation = guarantee;
        self
    }

    /// How many events a scan fetches per query (default 1000).
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// The most connections the adapter's own pool opens (default 16).
    pub fn pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = pool_size;
        self
    }

    /// How long an operation waits for a free pooled connection before failing
    /// with [`Error::Timeout`] (default 5 s).
    pub fn pool_wait_timeout(mut self, timeout: Duration) -> Self {
        self.pool_wait_timeout = timeout;
        self
    }

    /// How long opening a connection may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a log or category scan waits, at its start, for writes that
    /// began before already committed ones to finish (default 1 s).
    ///
    /// Such a scan only returns an event once no transaction that could still
    /// commit an earlier sequence number is running. Waiting briefly makes a scan
    /// right after a publish see it; if a long transaction elsewhere in the
    /// database cluster holds the horizon back for longer, the scan returns what
    /// is settled and a later scan picks up the rest, in order.
    pub fn horizon_wait(mut self, wait: Duration) -> Self {
        self.horizon_wait = wait;
        self
    }

    /// The longest a save, one page of a scan, or a projection search or count
    /// may take (default 30 s), waiting for a connection included. A network
    /// that stops delivering (rather than failing) would otherwise hang the
    /// call: past this limit it fails with [`Error::Timeout`] (for a save, with
    /// an unknown outcome: retry it with the same event ids). A projection
    /// search or count is also stopped by the server itself at this limit
    /// (its `statement_timeout`), so no statement outlives its caller's wait.
    /// It also bounds each lock and unlock on the connection holding the
    /// leases of a `PostgresLeases`: past it that connection is closed, and
    /// its leases are lost.
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// The largest event a save accepts: the bytes of its payload's and
    /// metadata's JSON text together (default
    /// [`DEFAULT_MAX_EVENT_BYTES`], 4 MiB). Larger events are rejected with
    /// [`Error::InvalidInput`] before any SQL runs. PostgreSQL itself cannot
    /// store a `jsonb` value much over 255 MB.
    pub fn max_event_bytes(mut self, max_event_bytes: usize) -> Self {
        self.max_event_bytes = max_event_bytes;
        self
    }

    /// Connects over TLS, verifying the server's certificate and host name,
    /// for every connection the adapter opens from a connection string: the
    /// pool made from [`url`](Self::url), the wake-up listener and leases. A
    /// caller's [`pool`](Self::pool) connects the way it was built to.
    ///
    /// TLS is then required: a server that does not offer it is refused, never
    /// used in plaintext, and a connection string saying `sslmode=disable` is
    /// invalid.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, tls: crate::Tls) -> Self {
        self.transport = Transport::Tls(tls);
        self
    }

    /// Builds the adapter. No connection is opened until the first operation.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a missing or malformed connection string, an
    /// unusable schema or table name, a page or pool size or event size limit
    /// of 0, a TLS setting the connection string contradicts, or a node
    /// preference for replicas without a replica.
    pub fn build(self) -> Result<PostgresAdapter> {
        let names = Names::new(&self.schema, &self.table)?;
        if self.page_size == 0 {
            return Err(Error::invalid("page_size", "must be at least 1"));
        }
        if self.pool_size == 0 {
            return Err(Error::invalid("pool_size", "must be at least 1"));
        }
        if self.max_event_bytes == 0 {
            return Err(Error::invalid("max_event_bytes", "must be at least 1"));
        }
        if self.operation_timeout.is_zero() {
            return Err(Error::invalid(
                "operation_timeout",
                "must be longer than zero",
            ));
        }
        let listen = match (&self.notifications_url, &self.source) {
            (Some(url), _) | (None, Some(Source::Url(url))) => Some(self.connector(url)?),
            _ => None,
        };
        let pool = match self.source {
            None => return Err(Error::invalid("url", "give a connection string or a pool")),
            Some(Source::Pool(ref pool)) => pool.clone(),
            Some(Source::Url(ref url)) => self.build_pool(url)?,
        };
        if self.node_preference != NodePreference::Primary && self.replicas.is_empty() {
            return Err(Error::invalid(
                "node_preference",
                "reads from replicas need a replica: add one with replica_url or replica_pool",
            ));
        }
        let replica_pools = self
            .replicas
            .iter()
            .map(|source| match source {
                Source::Pool(pool) => Ok(pool.clone()),
                Source::Url(url) => self.build_pool(url),
            })
            .collect::<Result<Vec<_>>>()?;
        let replicas = Replicas::new(replica_pools, self.replica_wait, self.when_behind);
        let settings = Settings {
            serialisation: self.serialisation,
            page_size: self.page_size,
            horizon_wait: self.horizon_wait,
            operation_timeout: self.operation_timeout,
            max_event_bytes: self.max_event_bytes,
            transport: self.transport.clone(),
        };
        Ok(PostgresAdapter::new(
            pool,
            replicas,
            names,
            settings,
            listen,
            self.node_preference,
        ))
    }

    fn connector(&self, url: &str) -> Result<Connector> {
        Connector::new(
            self.connection_config(url)?,
            self.transport.clone(),
            self.connect_timeout,
        )
    }

    fn connection_config(&self, url: &str) -> Result<tokio_postgres::Config> {
        let url = self.accept_libpq_verification(url);
        // The parser's message can quote the string, password and all.
        let mut config = tokio_postgres::Config::from_str(&url).map_err(|_| {
            Error::invalid("url", "not a valid PostgreSQL connection string or URL")
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(self.connect_timeout);
        }
        if config.get_application_name().is_none() {
            config.application_name("eventblocks");
        }
        Ok(config)
    }

    /// libpq's `sslmode=verify-ca` and `verify-full`, which the client does
    /// not parse, as `require`: with [`tls`](Self::tls) set the certificate
    /// and the host name are always verified.
    fn accept_libpq_verification<'a>(&self, url: &'a str) -> std::borrow::Cow<'a, str> {
        if matches!(self.transport, Transport::Plain) {
            return url.into();
        }
        url.replace("sslmode=verify-full", "sslmode=require")
            .replace("sslmode=verify-ca", "sslmode=require")
            .into()
    }

    fn build_pool(&self, url: &str) -> Result<Pool> {
        let limits = PoolLimits {
            size: self.pool_size,
            wait: self.pool_wait_timeout,
            connect: self.connect_timeout,
        };
        self.connector(url)?
            .pool(&limits)
            .map_err(|error| Error::invalid("pool", format!("could not build the pool: {error}")))
    }
}
