//! The adapter's own errors, and how SQLite's errors map onto eventblocks'.

use std::path::PathBuf;

use eventblocks_core::{Error, WriteOutcome};
use rusqlite::ErrorCode;

/// Why a database file could not be opened or used. Every variant leaves the
/// file as it was.
///
/// Operations of the store report these as the `source` of an
/// [`eventblocks_core::Error`], so a caller can downcast to tell them apart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// The directory the file would be in does not exist.
    #[error("the directory of {path} does not exist")]
    MissingDirectory {
        /// The database path.
        path: PathBuf,
    },
    /// The file (or its directory, where SQLite keeps the write-ahead log)
    /// cannot be written.
    #[error("{path} is read-only: the file or its directory cannot be written")]
    ReadOnly {
        /// The database path.
        path: PathBuf,
    },
    /// The file exists but is not a SQLite database.
    #[error("{path} is not a SQLite database")]
    NotADatabase {
        /// The database path.
        path: PathBuf,
    },
    /// The database was written by a newer release of eventblocks, whose
    /// schema this release does not know.
    #[error(
        "the database was written with schema version {found}, newer than {supported}, \
         the newest this release of eventblocks-sqlite knows: upgrade eventblocks-sqlite"
    )]
    NewerSchema {
        /// The schema version in the file.
        found: i64,
        /// The newest this release knows.
        supported: i64,
    },
    /// The schema has not been created: call `migrate()` first.
    #[error("the database has no eventblocks schema yet: call SqliteAdapter::migrate first")]
    NotMigrated,
    /// Another connection held the database's lock for longer than the busy
    /// timeout.
    #[error("the database stayed locked by another connection past the busy timeout")]
    Locked,
    /// The adapter's writer thread has stopped (it can no longer write).
    #[error("the adapter's writer has stopped")]
    WriterStopped,
    /// A thread of the adapter could not be started.
    #[error("starting a thread of the adapter failed: {0}")]
    Thread(#[source] std::io::Error),
    /// Any other SQLite failure.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

impl From<SqliteError> for Error {
    fn from(error: SqliteError) -> Self {
        into_error(error, "opening the database", WriteOutcome::NotWritten)
    }
}

/// Maps `error`, met while `what`, onto eventblocks' error, keeping it as the
/// source. `outcome` says whether a write may have committed.
pub(crate) fn into_error(error: SqliteError, what: &str, outcome: WriteOutcome) -> Error {
    let message = format!("{what}: {error}");
    match &error {
        SqliteError::Locked => Error::Timeout {
            outcome,
            message: message.into(),
            source: Some(Box::new(error)),
        },
        SqliteError::MissingDirectory { .. }
        | SqliteError::ReadOnly { .. }
        | SqliteError::WriterStopped => Error::Unavailable {
            outcome,
            message: message.into(),
            source: Some(Box::new(error)),
        },
        SqliteError::NotADatabase { .. } => Error::Corrupt {
            message: message.into(),
        },
        _ => Error::Backend {
            message: message.into(),
            source: Some(Box::new(error)),
        },
    }
}

/// Maps a SQLite error met while `what` onto eventblocks' error.
pub(crate) fn database(error: rusqlite::Error, what: &str, outcome: WriteOutcome) -> Error {
    into_error(classify(error, None), what, outcome)
}

/// Sorts a SQLite error into the cases a caller can act on; `path` names the
/// file in the errors that concern it.
pub(crate) fn classify(error: rusqlite::Error, path: Option<&std::path::Path>) -> SqliteError {
    let path = || path.map(PathBuf::from).unwrap_or_default();
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => SqliteError::Locked,
        Some(ErrorCode::ReadOnly) => SqliteError::ReadOnly { path: path() },
        Some(ErrorCode::NotADatabase) => SqliteError::NotADatabase { path: path() },
        _ if is_missing_schema(&error) => SqliteError::NotMigrated,
        _ => SqliteError::Sqlite(error),
    }
}

fn is_missing_schema(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(_, Some(message))
        if message.starts_with("no such table: eventblocks_"))
}

/// Stored data that does not decode.
pub(crate) fn corrupt(what: impl std::fmt::Display) -> Error {
    Error::Corrupt {
        message: format!("{what}").into(),
    }
}
