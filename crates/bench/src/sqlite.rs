//! The SQLite adapter's scenarios, next to a raw rusqlite baseline on the
//! same file, the same table and the same durability (WAL,
//! `synchronous = FULL`) in the same run:
//!
//! - appends: one `BEGIN IMMEDIATE … INSERT … COMMIT` transaction per call on
//!   one connection (a batch inserts its rows in the one transaction), behind
//!   a mutex as SQLite allows one writer; no conditions, no retry detection;
//! - reads: key-set pages of 1000 on one connection, every column decoded
//!   into owned Rust values; each page is read on a blocking thread and
//!   handed to the async caller, as any async use of rusqlite must (an async
//!   thread never waits on SQLite, and no connection is held while the caller
//!   goes through a page). Like the adapter, a page asks for one row more
//!   than it returns, to know without another query whether more follow.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::{EventStore, Json};
use eventblocks_projection::ProjectionStore;
use eventblocks_sqlite::rusqlite::{params, Connection};
use eventblocks_sqlite::{SqliteAdapter, SqliteCheckpointStore, SqliteProjectionStore};
use parking_lot::Mutex;
use uuid::Uuid;

use crate::report::Row;
use crate::scenarios::{self, append_name, Bench, Sizes};
use crate::subject::{payload, BenchResult, StoreSubject, Subject, CATEGORY};
use crate::{mixed, Options};

pub(crate) async fn run(options: &Options) -> BenchResult<Vec<Row>> {
    let sizes = sizes(options);
    let dir = std::env::temp_dir().join(format!("eventblocks-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let rows = scenarios_on(&dir, options, sizes).await;
    std::fs::remove_dir_all(&dir)?;
    rows
}

async fn scenarios_on(
    dir: &std::path::Path,
    options: &Options,
    sizes: Sizes,
) -> BenchResult<Vec<Row>> {
    let mut rows = Vec::new();
    let (adapter, raw) = fresh(&dir.join("appends.db")).await?;
    let bench = Bench::new(vec![adapter as Arc<dyn Subject>, raw], sizes);
    let appends = [
        (1, 1, sizes.single_appends, false),
        (8, 1, sizes.single_appends / 4, false),
        (1, 1, sizes.single_appends, true),
        (1, 100, sizes.batch_calls * 5, false),
        (1, 1000, sizes.batch_calls, false),
    ];
    for (writers, batch, calls, conditional) in appends {
        if options.wants(&append_name(writers, batch, conditional)) {
            rows.push(bench.appends(writers, batch, calls, conditional).await?);
        }
    }
    if options.wants("read stream") {
        rows.push(bench.stream_reads().await?);
    }
    if options.wants("latest") {
        rows.push(bench.latest().await?);
    }
    // The scans start from a fresh file holding exactly the log size.
    let (adapter, raw) = fresh(&dir.join("log.db")).await?;
    let subject = adapter.clone();
    let bench = Bench::new(vec![adapter as Arc<dyn Subject>, raw], sizes);
    rows.extend(scenarios::on_the_log(&bench, &subject, options).await?);
    if options.wants("live") {
        rows.push(scenarios::live_latency(&subject, 8, sizes.live_events_per_writer).await?);
    }
    if options.wants("mixed") {
        let adapter = SqliteAdapter::open(&dir.join("mixed.db")).await?;
        adapter.migrate().await?;
        let projections = ProjectionStore::new(SqliteProjectionStore::new(&adapter));
        let checkpoints = SqliteCheckpointStore::new(&adapter);
        let store = EventStore::new(adapter);
        let per_writer = sizes.mixed_per_writer;
        rows.extend(mixed::run("eventblocks", &store, projections, checkpoints, per_writer).await?);
    }
    Ok(rows)
}

fn sizes(options: &Options) -> Sizes {
    let scale = if options.quick { 1 } else { 4 };
    Sizes {
        runs: options.runs,
        single_appends: 500 * scale,
        batch_calls: 10 * scale,
        stream_reads: 50 * scale,
        log_events: if options.quick { 100_000 } else { 1_000_000 },
        latest_calls: 5000 * scale,
        live_events_per_writer: 25 * scale,
        mixed_per_writer: 50 * scale,
    }
}

/// A new migrated file, the adapter on it and the raw baseline beside it.
async fn fresh(path: &std::path::Path) -> BenchResult<(Arc<StoreSubject>, Arc<dyn Subject>)> {
    let adapter = SqliteAdapter::open(path).await?;
    adapter.migrate().await?;
    let store = StoreSubject::new("eventblocks", EventStore::new(adapter));
    let raw = RawSubject::open(path.to_owned())?;
    Ok((Arc::new(store), Arc::new(raw)))
}

/// Hand-written SQL on the adapter's table, through rusqlite.
struct RawSubject {
    writer: Arc<Mutex<Connection>>,
    reader: Arc<Mutex<Connection>>,
    payload: Json,
    /// The next position of each stream this subject writes.
    next_positions: Mutex<HashMap<String, i64>>,
}

const COLUMNS: &str = "sequence_number, id, category, stream, position, name, tags, payload, \
                       metadata, occurred_at, observed_at";

fn connect(path: &PathBuf) -> BenchResult<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(30))?;
    connection.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    connection.pragma_update(None, "synchronous", "FULL")?;
    Ok(connection)
}

impl RawSubject {
    fn open(path: PathBuf) -> BenchResult<Self> {
        Ok(Self {
            writer: Arc::new(Mutex::new(connect(&path)?)),
            reader: Arc::new(Mutex::new(connect(&path)?)),
            payload: payload(),
            next_positions: Mutex::default(),
        })
    }

    fn first_position(&self, stream: &str, count: usize) -> i64 {
        let mut next = self.next_positions.lock();
        let first = next.entry(stream.to_owned()).or_insert(0);
        let position = *first;
        *first += i64::try_from(count).unwrap_or(i64::MAX);
        position
    }

    /// Key-set pages of [`PAGE`] events, each read and decoded on a blocking
    /// thread and handed to the caller, which drops it.
    async fn paged(&self, sql: &str, stream: Option<String>) -> BenchResult<usize> {
        let sql: Arc<str> = Arc::from(sql);
        let (mut last, mut count) = (-1_i64, 0);
        loop {
            let (reader, sql, wanted) = (self.reader.clone(), sql.clone(), stream.clone());
            let (page, more) = tokio::task::spawn_blocking(move || {
                let connection = reader.lock();
                let mut statement = connection.prepare_cached(&sql)?;
                let mut rows = match &wanted {
                    Some(stream) => statement.query(params![CATEGORY, stream, last])?,
                    None => statement.query(params![last])?,
                };
                let mut page = Vec::with_capacity(PAGE);
                while let Some(row) = rows.next()? {
                    if page.len() == PAGE {
                        return BenchResult::Ok((page, true));
                    }
                    page.push(RawRow::decode(row)?);
                }
                Ok((page, false))
            })
            .await??;
            if let Some(row) = page.last() {
                last = if stream.is_some() {
                    row.position
                } else {
                    row.sequence_number
                };
            }
            count += page.len();
            drop(page);
            if !more {
                return Ok(count);
            }
        }
    }
}

/// Events per page; a page's statement asks for one more.
const PAGE: usize = 1000;

/// A stored event as read by hand: every column as an owned Rust value.
#[allow(dead_code)] // Read to be handed over, not looked at.
struct RawRow {
    sequence_number: i64,
    id: [u8; 16],
    category: String,
    stream: String,
    position: i64,
    name: String,
    tags: Option<String>,
    payload: String,
    metadata: String,
    occurred_at: i64,
    observed_at: i64,
}

impl RawRow {
    fn decode(row: &eventblocks_sqlite::rusqlite::Row<'_>) -> BenchResult<Self> {
        Ok(Self {
            sequence_number: row.get(0)?,
            id: row.get(1)?,
            category: row.get(2)?,
            stream: row.get(3)?,
            position: row.get(4)?,
            name: row.get(5)?,
            tags: row.get(6)?,
            payload: row.get(7)?,
            metadata: row.get(8)?,
            occurred_at: row.get(9)?,
            observed_at: row.get(10)?,
        })
    }
}

#[async_trait]
impl Subject for RawSubject {
    fn label(&self) -> &str {
        "raw rusqlite"
    }

    async fn append(
        &self,
        stream: &str,
        batch: usize,
        _expected: Option<Option<u64>>,
    ) -> BenchResult<()> {
        let first = self.first_position(stream, batch);
        let (writer, payload, stream) =
            (self.writer.clone(), self.payload.clone(), stream.to_owned());
        tokio::task::spawn_blocking(move || {
            let connection = writer.lock();
            connection.execute_batch("BEGIN IMMEDIATE")?;
            let now = chrono::Utc::now().timestamp_micros();
            let mut insert = connection.prepare_cached(&format!(
                "INSERT INTO eventblocks_events ({COLUMNS})
                 VALUES (NULL, ?1, ?2, ?3, ?4, 'order-placed', NULL, ?5, '{{}}', ?6, ?6)"
            ))?;
            for position in first..first + i64::try_from(batch)? {
                let id = Uuid::now_v7();
                insert.execute(params![
                    id.as_bytes().as_slice(),
                    CATEGORY,
                    stream,
                    position,
                    payload.as_str(),
                    now
                ])?;
            }
            drop(insert);
            connection.execute_batch("COMMIT")?;
            BenchResult::Ok(())
        })
        .await?
    }

    async fn read_stream(&self, stream: &str) -> BenchResult<usize> {
        let sql = format!(
            "SELECT {COLUMNS} FROM eventblocks_events
              WHERE category = ?1 AND stream = ?2 AND position > ?3
              ORDER BY position LIMIT {}",
            PAGE + 1
        );
        self.paged(&sql, Some(stream.to_owned())).await
    }

    async fn scan_log(&self) -> BenchResult<usize> {
        let sql = format!(
            "SELECT {COLUMNS} FROM eventblocks_events
              WHERE sequence_number > ?1 ORDER BY sequence_number LIMIT {}",
            PAGE + 1
        );
        self.paged(&sql, None).await
    }

    async fn latest(&self, stream: &str) -> BenchResult<()> {
        let reader = self.reader.clone();
        let stream = stream.to_owned();
        tokio::task::spawn_blocking(move || {
            let connection = reader.lock();
            let mut statement = connection.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM eventblocks_events
                  WHERE category = ?1 AND stream = ?2 ORDER BY position DESC LIMIT 1"
            ))?;
            let mut rows = statement.query(params![CATEGORY, stream])?;
            if let Some(row) = rows.next()? {
                RawRow::decode(row)?;
            }
            BenchResult::Ok(())
        })
        .await?
    }
}
