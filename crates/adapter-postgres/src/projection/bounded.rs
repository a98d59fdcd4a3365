//! Projection searches and counts, bounded on the server.
//!
//! A search can be slow in ways its caller cannot foresee (a regular
//! expression over many long texts, a filter no index serves), and a caller
//! that stops waiting must not leave the server working: a timeout on the
//! client alone lets the statement run on, and retries pile up behind it. So
//! each query runs in a read-only transaction whose first statement sets
//! `statement_timeout` to what is left of the adapter's operation timeout.
//! `BEGIN`, the query and `COMMIT` are pipelined: one round trip, as a lone
//! query takes. A statement that runs too long is stopped by the server and
//! reported as [`Error::Timeout`]; a query dropped before it finishes (a
//! caller's own timeout, a `select!`) is cancelled on the server, and its
//! connection closed rather than pooled inside the transaction.

use std::time::Duration;

use eventblocks_core::{Error, Result, WriteOutcome};
use futures::future::join3;
use tokio::time::Instant;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{CancelToken, Row};

use crate::adapter::Inner;
use crate::connect::Transport;
use crate::error;
use crate::session::Session;

/// How long past the operation timeout the adapter waits for the server to
/// report the statement it stopped, before giving up on the connection (one
/// that stopped delivering).
const ANSWER_GRACE: Duration = Duration::from_secs(1);

/// Runs the query `text` with `parameters`, stopped by the server once the
/// operation timeout has passed.
///
/// # Errors
/// [`Error::Timeout`] past the operation timeout (nothing was written);
/// [`Error::InvalidInput`] for a regular expression PostgreSQL refuses;
/// otherwise as the pool and the server report.
pub(super) async fn query(
    inner: &Inner,
    text: &str,
    parameters: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>> {
    let deadline = later(Instant::now(), inner.settings.operation_timeout);
    tokio::time::timeout_at(
        later(deadline, ANSWER_GRACE),
        query_until(inner, deadline, text, parameters),
    )
    .await
    .map_err(|_| error::timed_out("querying projections", WriteOutcome::NotWritten))?
}

/// `instant + wait`, or a time too far off to matter when that overflows (an
/// operation timeout of years, say).
fn later(instant: Instant, wait: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);
    instant
        .checked_add(wait)
        .or_else(|| instant.checked_add(CENTURY))
        .unwrap_or(instant)
}

async fn query_until(
    inner: &Inner,
    deadline: Instant,
    text: &str,
    parameters: &[&(dyn ToSql + Sync)],
) -> Result<Vec<Row>> {
    let failed = |e| failure(e, "querying projections");
    let client = error::pooled(&inner.pool).await?;
    let statement = client
        .prepare_cached(text)
        .await
        .map_err(|e| failure(e, "preparing a projection query"))?;
    // From `BEGIN` on, a drop closes the connection and cancels its statement.
    let cancel = CancelOnDrop::new(client.cancel_token(), &inner.settings.transport);
    let session = Session::new(client);
    let client = session.client();
    let (begun, rows, ended) = join3(
        client.batch_execute(&begin(deadline)),
        client.query(&statement, parameters),
        // After a failed query, this rolls the transaction back.
        client.batch_execute("COMMIT"),
    )
    .await;
    cancel.disarm();
    if ended.is_ok() {
        session.finish();
    }
    begun.map_err(failed)?;
    rows.map_err(failed)
}

/// Starts the transaction, bounding its statements by what is left until
/// `deadline` (at least a millisecond: zero would mean no bound).
fn begin(deadline: Instant) -> String {
    let left = deadline.saturating_duration_since(Instant::now());
    let milliseconds = left.as_millis().clamp(1, i32::MAX.unsigned_abs().into());
    format!("BEGIN READ ONLY; SET LOCAL statement_timeout = {milliseconds}")
}

/// A statement the server stopped at the statement timeout is a timeout (as
/// [`error::database`] maps it); a regular expression it refuses is the
/// caller's to fix, though the dialect refuses first every one it knows of;
/// a sort by similarity where it cannot run is unsupported, saying why.
fn failure(e: tokio_postgres::Error, what: &'static str) -> Error {
    if e.code() == Some(&SqlState::INVALID_REGULAR_EXPRESSION) {
        return Error::invalid(
            "filter",
            format!("PostgreSQL rejected a regular expression: {e}"),
        );
    }
    if let Some(refusal) = super::similarity::refusal(&e) {
        return refusal;
    }
    error::database(e, what, WriteOutcome::NotWritten)
}

/// Asks the server to cancel a connection's statement if dropped before
/// [`CancelOnDrop::disarm`]: a caller that stops waiting for a query stops
/// the server working on it.
struct CancelOnDrop {
    token: Option<CancelToken>,
    transport: Transport,
}

impl CancelOnDrop {
    fn new(token: CancelToken, transport: &Transport) -> Self {
        Self {
            token: Some(token),
            transport: transport.clone(),
        }
    }

    /// The statement has finished: nothing to cancel.
    fn disarm(mut self) {
        self.token.take();
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(token) = self.token.take() else {
            return;
        };
        // Outside a runtime nothing can be sent; the connection closes, and
        // the statement timeout still ends the statement.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let transport = self.transport.clone();
        runtime.spawn(async move {
            if let Err(e) = transport.cancel(&token).await {
                tracing::debug!("could not cancel a dropped projection query: {e}");
            }
        });
    }
}
