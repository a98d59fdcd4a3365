//! The schema and its versions. The version is SQLite's `user_version`, set
//! in the same transaction as each migration, so a file is always at one
//! known version.

use rusqlite::Connection;

use crate::error::{classify, SqliteError};

/// Each migration, in order: version `n` is `MIGRATIONS[n - 1]`.
const MIGRATIONS: &[&str] = &[
    include_str!("../sql/migrations/0001_initial.sql"),
    include_str!("../sql/migrations/0002_catalogue.sql"),
];

/// The newest schema version this release knows.
// A handful of migrations: the cast cannot wrap.
#[allow(clippy::cast_possible_wrap)]
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// The file's schema version.
pub(crate) fn version(connection: &Connection) -> Result<i64, SqliteError> {
    connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(|error| classify(error, None))
}

/// Refuses a file written by a newer release.
pub(crate) fn check_not_newer(connection: &Connection) -> Result<i64, SqliteError> {
    let found = version(connection)?;
    if found > LATEST {
        return Err(SqliteError::NewerSchema {
            found,
            supported: LATEST,
        });
    }
    Ok(found)
}

/// Brings the schema to [`LATEST`]; how many migrations ran. Runs inside
/// the writer's transaction, which re-reads the version first, so it is
/// idempotent and safe when several processes migrate one file at once.
pub(crate) fn migrate(connection: &Connection) -> Result<usize, SqliteError> {
    let classified = |error| classify(error, None);
    let found = check_not_newer(connection)?;
    let start = usize::try_from(found).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(start) {
        connection.execute_batch(migration).map_err(classified)?;
        tracing::info!(version = index + 1, "migrated the SQLite schema");
    }
    connection
        .pragma_update(None, "user_version", LATEST)
        .map_err(classified)?;
    Ok(MIGRATIONS.len().saturating_sub(start))
}

/// The store's identity, which its heads carry.
pub(crate) fn store_id(connection: &Connection) -> Result<u64, SqliteError> {
    let value: i64 = connection
        .query_row(
            "SELECT value FROM eventblocks_store WHERE key = 'store_id'",
            [],
            |row| row.get(0),
        )
        .map_err(|error| classify(error, None))?;
    Ok(u64::from_be_bytes(value.to_be_bytes()))
}
