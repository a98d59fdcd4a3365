//! The adapter: its builder, opening a file, migrating it, and the
//! [`StorageAdapter`] implementation.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use eventblocks_core::{
    Capabilities, CatalogueRequest, CategoryIdentifier, Direction, EventSourceIdentifier,
    EventStream, Head, Limits, LogIdentifier, Name, QueryRead, QueryRequest, Result, SaveRequest,
    ScanRequest, StorageAdapter, StoredEvent, StreamIdentifier, StreamSummary, WakeUps,
    WriteOutcome,
};
use futures::{stream, StreamExt};

use crate::boundary::{self, Window};
use crate::config::{Config, JournalMode, Synchronous};
use crate::error::{into_error, SqliteError};
use crate::notify::Notifier;
use crate::readers::Readers;
use crate::writer::Writer;
use crate::{catalogue, row, save, scan, schema};

/// An event store in one SQLite file.
///
/// One writer thread holds the only writing connection of the process and
/// commits the saves waiting for it together, each inside its own savepoint
/// (a failing save rolls back alone); a small pool of reading connections
/// serves scans on tokio's blocking threads. Async callers never wait on
/// SQLite itself. Clones share the file's connections.
///
/// Durable by default: WAL with `synchronous = FULL`, so a save that
/// returned `Ok` survives a crash of the process or the machine. Several
/// processes may open the same file: SQLite's write lock serialises their
/// writers (a save waits up to the busy timeout for it), and subscriptions
/// notice other processes' commits within the poll interval.
///
/// See the crate docs for an example.
#[derive(Debug, Clone)]
pub struct SqliteAdapter {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) writer: Writer,
    pub(crate) readers: Arc<Readers>,
    notifier: Notifier,
    config: Config,
    /// The store's identity, known once the schema exists (0 before).
    store_id: AtomicU64,
    limits: Limits,
}

/// Settings for [`SqliteAdapter`]; start with [`SqliteAdapter::builder`].
#[derive(Debug, Clone)]
pub struct SqliteAdapterBuilder {
    config: Config,
    limits: Limits,
}

impl SqliteAdapterBuilder {
    /// The journal mode (default [`JournalMode::Wal`]).
    #[must_use]
    pub fn journal_mode(mut self, mode: JournalMode) -> Self {
        self.config.journal_mode = mode;
        self
    }

    /// How commits are synced (default [`Synchronous::Full`]: an
    /// acknowledged save survives power loss).
    #[must_use]
    pub fn synchronous(mut self, synchronous: Synchronous) -> Self {
        self.config.synchronous = synchronous;
        self
    }

    /// How long an operation waits for another connection's lock on the
    /// file before failing with [`eventblocks_core::Error::Timeout`]
    /// (default 5 s).
    #[must_use]
    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.config.busy_timeout = timeout;
        self
    }

    /// The page size of a new file, in bytes (a power of two from 512 to
    /// 65536); an existing file keeps its own.
    #[must_use]
    pub fn page_size(mut self, bytes: u32) -> Self {
        self.config.page_size = Some(bytes);
        self
    }

    /// How many reading connections scans share (default 4, at least 1).
    #[must_use]
    pub fn readers(mut self, readers: usize) -> Self {
        self.config.readers = readers.max(1);
        self
    }

    /// How many events a scan reads per page (default 1000, at least 1).
    #[must_use]
    pub fn scan_page(mut self, events: usize) -> Self {
        self.config.scan_page = events.max(1);
        self
    }

    /// How often subscriptions look for commits of other processes on the
    /// same file (default 100 ms). Commits of this process wake them at once.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.config.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// The adapter accepts what `limits` allow.
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Opens (creating if needed) the file. It does not create the schema:
    /// call [`SqliteAdapter::migrate`].
    ///
    /// # Errors
    /// A [`SqliteError`] saying what is wrong with the path or file (a
    /// missing directory, a read-only or locked file, not a SQLite file, a
    /// schema from a newer release); the file is left as it was.
    pub async fn open(self) -> Result<SqliteAdapter, SqliteError> {
        let config = self.config;
        let limits = self.limits;
        tokio::task::spawn_blocking(move || SqliteAdapter::open_blocking(config, limits))
            .await
            .map_err(|error| SqliteError::Thread(std::io::Error::other(error.to_string())))?
    }
}

impl SqliteAdapter {
    /// Opens `path` with the default settings; see [`SqliteAdapter::builder`].
    ///
    /// # Errors
    /// As [`SqliteAdapterBuilder::open`].
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, SqliteError> {
        Self::builder(path).open().await
    }

    /// Settings for opening `path`.
    pub fn builder(path: impl Into<PathBuf>) -> SqliteAdapterBuilder {
        SqliteAdapterBuilder {
            config: Config::new(path.into()),
            limits: Limits::default(),
        }
    }

    fn open_blocking(config: Config, limits: Limits) -> Result<Self, SqliteError> {
        let connection = config.connect()?;
        // Each save runs in a savepoint: keep what SQLite saves to roll one
        // back in memory (bounded by the batch, already in memory) rather
        // than in a temporary file.
        connection
            .pragma_update(None, "temp_store", "MEMORY")
            .map_err(|error| crate::error::classify(error, None))?;
        let version = schema::check_not_newer(&connection)?;
        let store_id = if version > 0 {
            schema::store_id(&connection)?
        } else {
            0
        };
        let notifier = Notifier::new(config.clone());
        let writer = Writer::start(connection, &config, notifier.commits())?;
        Ok(Self {
            shared: Arc::new(Shared {
                writer,
                readers: Arc::new(Readers::new(config.clone())),
                notifier,
                config,
                store_id: AtomicU64::new(store_id),
                limits,
            }),
        })
    }

    /// Creates or upgrades the schema; returns how many migrations ran (0 when
    /// it was up to date). Idempotent; safe to run from several processes at
    /// once.
    ///
    /// # Errors
    /// [`eventblocks_core::Error::Backend`] whose source is
    /// [`SqliteError::NewerSchema`] for a file of a newer release; backend
    /// failures.
    pub async fn migrate(&self) -> Result<usize> {
        let (ran, store_id) = self
            .shared
            .writer
            .run("migrating the schema", |connection| {
                let migrated = schema::migrate(connection)
                    .and_then(|ran| Ok((ran, schema::store_id(connection)?)));
                migrated.map_err(|error| {
                    into_error(error, "migrating the schema", WriteOutcome::NotWritten)
                })
            })
            .await?;
        self.shared.store_id.store(store_id, Ordering::Relaxed);
        Ok(ran)
    }

    /// The path of the database file.
    pub fn path(&self) -> &std::path::Path {
        &self.shared.config.path
    }

    /// The store's identity, or an error before the schema exists.
    fn known_store_id(&self) -> Result<u64> {
        match self.shared.store_id.load(Ordering::Relaxed) {
            0 => Err(into_error(
                SqliteError::NotMigrated,
                "reading a query",
                WriteOutcome::NotWritten,
            )),
            id => Ok(id),
        }
    }
}

#[async_trait]
impl StorageAdapter for SqliteAdapter {
    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        self.shared
            .writer
            .run("saving events", move |connection| {
                save::save(connection, request)
            })
            .await
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        let page = self.shared.config.scan_page;
        scan::pages(self.shared.readers.clone(), request, page)
    }

    async fn latest(&self, target: &EventSourceIdentifier) -> Result<Option<StoredEvent>> {
        scan::latest(self.shared.readers.clone(), target).await
    }

    async fn categories(&self, request: CatalogueRequest) -> Result<Vec<CategoryIdentifier>> {
        self.shared
            .readers
            .run("listing categories", move |connection| {
                catalogue::categories(connection, &request)
            })
            .await
    }

    async fn streams(
        &self,
        category: &CategoryIdentifier,
        request: CatalogueRequest,
    ) -> Result<Vec<StreamSummary>> {
        let category = category.clone();
        self.shared
            .readers
            .run("listing streams", move |connection| {
                catalogue::streams(connection, &category, &request)
            })
            .await
    }

    async fn event_names(&self, request: CatalogueRequest) -> Result<Vec<Name>> {
        self.shared
            .readers
            .run("listing event names", move |connection| {
                catalogue::event_names(connection, &request)
            })
            .await
    }

    async fn stream_summary(&self, stream: &StreamIdentifier) -> Result<Option<StreamSummary>> {
        let stream = stream.clone();
        self.shared
            .readers
            .run("reading a stream's length", move |connection| {
                catalogue::stream(connection, &stream)
            })
            .await
    }

    async fn log_head(&self) -> Result<Option<u64>> {
        let latest = self.latest(&LogIdentifier.into()).await?;
        Ok(latest.map(|event| event.sequence_number))
    }

    fn wake_ups(&self) -> Option<WakeUps> {
        Some(self.shared.notifier.wake_ups())
    }

    fn limits(&self) -> Limits {
        self.shared.limits
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }

    fn store_id(&self) -> u64 {
        self.shared.store_id.load(Ordering::Relaxed)
    }

    async fn read_query(&self, request: QueryRequest) -> Result<QueryRead> {
        let store = self.known_store_id()?;
        let frontier = self
            .shared
            .readers
            .run("reading the head", |connection| {
                boundary::frontier(connection)
            })
            .await?;
        let events = query_pages(
            self.shared.readers.clone(),
            request,
            frontier,
            self.shared.config.scan_page,
        );
        Ok(QueryRead {
            head: Head::new(store, frontier),
            events,
        })
    }

    async fn tracked_position(&self, consumer: &Name) -> Result<Option<u64>> {
        let consumer = consumer.clone();
        self.shared
            .readers
            .run("reading a tracked position", move |connection| {
                save::tracked(connection, &consumer)
            })
            .await
    }
}

/// Where a query read stands between pages.
struct QueryCursor {
    readers: Arc<Readers>,
    request: QueryRequest,
    /// Matches lie strictly between these.
    lower: u64,
    upper: u64,
    page: usize,
    done: bool,
}

/// The events of a query read below `frontier`, page by page. Every page
/// answers to the one head: nothing can become visible below the frontier.
fn query_pages(
    readers: Arc<Readers>,
    request: QueryRequest,
    frontier: u64,
    page: usize,
) -> EventStream {
    let lower = request
        .after()
        .map_or(0, |after| after.frontier().saturating_sub(1));
    let limit = request.limit().map_or(usize::MAX, |limit| {
        usize::try_from(limit).unwrap_or(usize::MAX)
    });
    let cursor = QueryCursor {
        readers,
        request,
        lower,
        upper: frontier,
        page: page.max(1),
        done: false,
    };
    stream::unfold(cursor, |mut cursor| async move {
        if cursor.done {
            return None;
        }
        let page = cursor.next_page().await;
        let items: Vec<Result<StoredEvent>> = match page {
            Ok(events) => events.into_iter().map(Ok).collect(),
            Err(error) => {
                cursor.done = true;
                vec![Err(error)]
            }
        };
        Some((items, cursor))
    })
    .flat_map(stream::iter)
    .take(limit)
    .boxed()
}

impl QueryCursor {
    async fn next_page(&mut self) -> Result<Vec<StoredEvent>> {
        let query = self.request.query().clone();
        let category = match self.request.target() {
            EventSourceIdentifier::Category(category) => Some(category.category.clone()),
            _ => None,
        };
        let window = (self.lower, self.upper, self.request.direction());
        let page = self.page;
        let events = self
            .readers
            .run("reading a query", move |connection| {
                let window = Window {
                    lower: window.0,
                    upper: window.1,
                    direction: window.2,
                    category: category.as_ref(),
                };
                let numbers = boundary::page(connection, &query, &window, page)?;
                numbers
                    .iter()
                    .map(|&number| event_at(connection, number))
                    .collect::<Result<Vec<_>>>()
            })
            .await?;
        self.done = events.len() < self.page;
        if let Some(last) = events.last() {
            match self.request.direction() {
                Direction::Forwards => self.lower = last.sequence_number,
                Direction::Backwards => self.upper = last.sequence_number,
            }
        }
        Ok(events)
    }
}

fn event_at(connection: &rusqlite::Connection, sequence_number: u64) -> Result<StoredEvent> {
    let failed =
        |error| crate::error::database(error, "reading an event", WriteOutcome::NotWritten);
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {} FROM eventblocks_events WHERE sequence_number = ?1",
            row::EVENT_COLUMNS
        ))
        .map_err(failed)?;
    let mut rows = statement
        .query([row::to_sql("sequence number", sequence_number)?])
        .map_err(failed)?;
    match rows.next().map_err(failed)? {
        Some(found) => row::event(found),
        None => Err(crate::error::corrupt(format!(
            "event {sequence_number} vanished"
        ))),
    }
}
