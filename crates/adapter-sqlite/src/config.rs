//! How a database file is opened: the builder's settings and the pragmas
//! every connection gets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{classify, SqliteError};

/// How SQLite makes a commit durable (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Synchronous {
    /// Every commit is synced to disk before it is acknowledged: an
    /// acknowledged save survives a power loss. The default.
    #[default]
    Full,
    /// In WAL mode, commits are synced at checkpoints only: an acknowledged
    /// save survives a crash of the process but may be lost with the power.
    /// Much faster for small saves.
    Normal,
    /// Nothing is synced: a crash of the operating system can lose or
    /// corrupt the database. For throwaway data only.
    Off,
}

impl Synchronous {
    fn pragma(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Normal => "NORMAL",
            Self::Off => "OFF",
        }
    }
}

/// How SQLite keeps the changes of a transaction (`PRAGMA journal_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum JournalMode {
    /// A write-ahead log: readers never wait for the writer nor the writer for
    /// readers. The default.
    #[default]
    Wal,
    /// A rollback journal, deleted after each commit: readers and the writer
    /// exclude each other (reads and saves wait up to the busy timeout).
    Delete,
}

impl JournalMode {
    fn pragma(self) -> &'static str {
        match self {
            Self::Wal => "WAL",
            Self::Delete => "DELETE",
        }
    }
}

/// Everything the adapter's connections are opened with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) path: PathBuf,
    pub(crate) journal_mode: JournalMode,
    pub(crate) synchronous: Synchronous,
    pub(crate) busy_timeout: Duration,
    pub(crate) page_size: Option<u32>,
    pub(crate) readers: usize,
    pub(crate) scan_page: usize,
    pub(crate) poll_interval: Duration,
    pub(crate) max_batch: usize,
}

impl Config {
    pub(crate) fn new(path: PathBuf) -> Self {
        Self {
            path,
            journal_mode: JournalMode::default(),
            synchronous: Synchronous::default(),
            busy_timeout: Duration::from_secs(5),
            page_size: None,
            readers: 4,
            scan_page: 1000,
            poll_interval: Duration::from_millis(100),
            max_batch: 256,
        }
    }

    /// Opens a connection to the file with the configured pragmas, checking
    /// that it can be written and is a SQLite database.
    pub(crate) fn connect(&self) -> Result<Connection, SqliteError> {
        self.check_directory()?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let classified = |error| classify(error, Some(&self.path));
        let connection = Connection::open_with_flags(&self.path, flags).map_err(classified)?;
        connection
            .busy_timeout(self.busy_timeout)
            .map_err(classified)?;
        if connection
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(classified)?
        {
            return Err(SqliteError::ReadOnly {
                path: self.path.clone(),
            });
        }
        connection.set_prepared_statement_cache_capacity(64);
        self.apply_pragmas(&connection).map_err(classified)?;
        Ok(connection)
    }

    fn check_directory(&self) -> Result<(), SqliteError> {
        let directory = match self.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if directory.is_dir() {
            return Ok(());
        }
        Err(SqliteError::MissingDirectory {
            path: self.path.clone(),
        })
    }

    fn apply_pragmas(&self, connection: &Connection) -> rusqlite::Result<()> {
        if let Some(page_size) = self.page_size {
            // Takes effect only while the file is still empty.
            connection.pragma_update(None, "page_size", page_size)?;
        }
        let wanted = self.journal_mode.pragma();
        let mode: String =
            connection.query_row(&format!("PRAGMA journal_mode = {wanted}"), [], |row| {
                row.get(0)
            })?;
        if !mode.eq_ignore_ascii_case(wanted) {
            tracing::warn!(wanted, got = %mode, "SQLite kept another journal mode");
        }
        connection.pragma_update(None, "synchronous", self.synchronous.pragma())?;
        // Fail at once rather than later on a file with a bad header.
        connection.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
    }
}
