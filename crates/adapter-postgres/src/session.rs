//! The one guard for a pooled connection whose transaction is managed by
//! hand (`BEGIN` … `COMMIT`).
//!
//! Every `.await` is a point where the caller may drop the future. A pooled
//! connection dropped there goes back to the pool in whatever state it is
//! in: inside a transaction that a later, unrelated operation then runs in
//! (its writes invisible to others, and erased by a later rollback), holding
//! the transaction's locks. So a connection whose transaction state is not
//! known to be "none" never goes back to the pool: the guard closes it, which
//! makes the server roll the transaction back and release its locks.

use deadpool_postgres::{Client, Object};
use tracing::debug;

/// A pooled connection whose transaction this crate manages by hand. Unless
/// the transaction was seen to end ([`Session::finish`], or a successful
/// [`Session::end`]), dropping it closes the connection instead of returning
/// it to the pool.
///
/// Create it before sending `BEGIN`: from then on the state is unknown.
pub(crate) struct Session {
    client: Option<Object>,
}

impl Session {
    pub(crate) fn new(client: Object) -> Self {
        Self {
            client: Some(client),
        }
    }

    pub(crate) fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("present until the session ends")
    }

    /// The transaction has ended: the connection can go back to the pool.
    pub(crate) fn finish(mut self) {
        self.client.take();
    }

    /// Sends `command` (`COMMIT` or `ROLLBACK`); back to the pool if it
    /// succeeded, closed if not.
    pub(crate) async fn end(self, command: &'static str) -> Result<(), tokio_postgres::Error> {
        self.client().batch_execute(command).await?;
        self.finish();
        Ok(())
    }

    /// Rolls back, ignoring failures (the connection is then closed, which
    /// rolls back too).
    pub(crate) async fn roll_back(self) {
        let _ = self.end("ROLLBACK").await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            debug!("a transaction's end was not seen; closing its connection");
            drop(Object::take(client));
        }
    }
}
