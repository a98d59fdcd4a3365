//! Translation of PostgreSQL and pool failures into [`eventblocks_core::Error`].

use deadpool_postgres::PoolError;
use eventblocks_core::{Error, WriteOutcome};
use tokio_postgres::error::SqlState;

/// Maps a failure of the statement `what`, keeping the original error as the
/// source. `outcome` says whether a write may have been committed had the
/// connection broken at this point.
pub(crate) fn database(
    error: tokio_postgres::Error,
    what: &'static str,
    outcome: WriteOutcome,
) -> Error {
    let Some(code) = error.code().cloned() else {
        return connection(error, what, outcome);
    };
    let mut message = format!("{what}: {}", describe(&error));
    let retryable_conflict = [
        SqlState::T_R_SERIALIZATION_FAILURE,
        SqlState::T_R_DEADLOCK_DETECTED,
        SqlState::UNIQUE_VIOLATION,
    ];
    if retryable_conflict.contains(&code) {
        return Error::Conflict {
            message: message.into(),
            source: Some(error.into()),
        };
    }
    if code == SqlState::QUERY_CANCELED || code == SqlState::LOCK_NOT_AVAILABLE {
        return Error::Timeout {
            outcome: WriteOutcome::NotWritten,
            message: message.into(),
            source: Some(error.into()),
        };
    }
    if code == SqlState::READ_ONLY_SQL_TRANSACTION {
        // The server no longer takes writes (it was demoted, or a failover
        // manager fenced it): the statement was refused, and the primary is
        // elsewhere now.
        return Error::Unavailable {
            outcome: WriteOutcome::NotWritten,
            message: format!("{message}; the server is read-only, the primary has moved").into(),
            source: Some(error.into()),
        };
    }
    if is_unavailable(&code) {
        return Error::Unavailable {
            outcome,
            message: message.into(),
            source: Some(error.into()),
        };
    }
    // What a schema that was never migrated, or not since an upgrade of this
    // crate, lacks: its schema, tables, functions, types or newer columns.
    let missing_object = [
        SqlState::UNDEFINED_TABLE,
        SqlState::UNDEFINED_FUNCTION,
        SqlState::UNDEFINED_OBJECT,
        SqlState::UNDEFINED_COLUMN,
        SqlState::INVALID_SCHEMA_NAME,
    ];
    if missing_object.contains(&code) {
        message.push_str(" (has `migrate()` been run for this schema?)");
    }
    Error::Backend {
        message: message.into(),
        source: Some(error.into()),
    }
}

/// Whether the server is down, starting, full or gone: worth waiting out.
fn is_unavailable(code: &SqlState) -> bool {
    code.code().starts_with("08")
        || *code == SqlState::ADMIN_SHUTDOWN
        || *code == SqlState::CRASH_SHUTDOWN
        || *code == SqlState::CANNOT_CONNECT_NOW
        || *code == SqlState::TOO_MANY_CONNECTIONS
}

/// A failure without a SQLSTATE: the connection broke or could not be used.
fn connection(error: tokio_postgres::Error, what: &'static str, outcome: WriteOutcome) -> Error {
    // The client's own message names only the kind of failure; the cause
    // (refused, reset, which certificate check failed) is its source.
    let message = match std::error::Error::source(&error) {
        Some(cause) => format!("{what}: {error}: {cause}"),
        None => format!("{what}: {error}"),
    };
    let io =
        std::error::Error::source(&error).and_then(|cause| cause.downcast_ref::<std::io::Error>());
    if error.is_closed() || io.is_some_and(|io| !is_certificate_rejection(io)) {
        return Error::Unavailable {
            outcome,
            message: message.into(),
            source: Some(error.into()),
        };
    }
    Error::Backend {
        message: message.into(),
        source: Some(error.into()),
    }
}

/// Whether the TLS handshake refused the server (its certificate, name or
/// protocol): a setting to fix, not an outage to wait out.
#[cfg(feature = "tls")]
fn is_certificate_rejection(error: &std::io::Error) -> bool {
    error
        .get_ref()
        .is_some_and(|inner| inner.is::<rustls::Error>())
}

#[cfg(not(feature = "tls"))]
fn is_certificate_rejection(_: &std::io::Error) -> bool {
    false
}

/// The server's message, which `tokio_postgres::Error`'s `Display` leaves out.
fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => error.to_string(),
    }
}

/// Maps a failure to get a connection from the pool; nothing was written.
/// A connection from `pool`, the wait recorded in the pool-wait metric.
///
/// # Errors
/// The pool's failure, as [`pool`] maps it.
pub(crate) async fn pooled(
    connections: &deadpool_postgres::Pool,
) -> Result<deadpool_postgres::Object, Error> {
    let started = std::time::Instant::now();
    let client = connections.get().await;
    eventblocks_core::metrics::record_pool_wait(started.elapsed());
    client.map_err(pool)
}

fn pool(error: PoolError) -> Error {
    match error {
        PoolError::Timeout(kind) => Error::Timeout {
            outcome: WriteOutcome::NotWritten,
            message: format!("no database connection became available in time ({kind:?})").into(),
            source: None,
        },
        PoolError::Backend(error) => database(error, "connecting", WriteOutcome::NotWritten),
        PoolError::Closed => Error::Unavailable {
            outcome: WriteOutcome::NotWritten,
            message: "the connection pool is closed".into(),
            source: None,
        },
        other => Error::Unavailable {
            outcome: WriteOutcome::NotWritten,
            message: format!("could not get a database connection: {other}").into(),
            source: Some(other.into()),
        },
    }
}

/// Whether `error` is a unique violation of the constraint named `constraint`.
pub(crate) fn violates(error: &tokio_postgres::Error, constraint: &str) -> bool {
    error.as_db_error().is_some_and(|db| {
        *db.code() == SqlState::UNIQUE_VIOLATION && db.constraint() == Some(constraint)
    })
}

/// Whether `error` means the connection can no longer be used: it closed,
/// the server ended the session, or the server no longer takes writes (a
/// connection to a demoted primary must not serve the next write).
pub(crate) fn is_broken(error: &tokio_postgres::Error) -> bool {
    error.is_closed()
        || error.code().is_some_and(|code| {
            code.code().starts_with("08")
                || *code == SqlState::ADMIN_SHUTDOWN
                || *code == SqlState::CRASH_SHUTDOWN
                || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        })
}

/// After a write failed with `error`: if the server refused it as read-only
/// (the primary has moved: a failover), drops every idle connection of
/// `pool`, all to the old primary, so the next writes connect afresh and a
/// multi-host URL with `target_session_attrs=read-write` finds the new
/// primary. Connections in use are closed as they fail.
pub(crate) fn after_failover(pool: &deadpool_postgres::Pool, error: &Error) {
    let read_only = std::error::Error::source(error)
        .and_then(|source| source.downcast_ref::<tokio_postgres::Error>())
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|code| *code == SqlState::READ_ONLY_SQL_TRANSACTION);
    if read_only {
        let dropped = pool.retain(|_, _| false).removed.len();
        tracing::info!(
            dropped,
            "the server refused a write as read-only; reconnecting to find the primary"
        );
    }
}

/// Returns `client` to the pool, unless `error` broke its connection: then it
/// is closed, so no later operation picks it up.
pub(crate) fn release(client: deadpool_postgres::Object, error: &tokio_postgres::Error) {
    if is_broken(error) {
        drop(deadpool_postgres::Object::take(client));
    }
}

/// The operation `what` took longer than the adapter's operation timeout.
pub(crate) fn timed_out(what: &'static str, outcome: WriteOutcome) -> Error {
    Error::Timeout {
        outcome,
        message: format!("{what} took longer than the operation timeout").into(),
        source: None,
    }
}
