//! A small pool of reading connections, used off the async threads.
//!
//! Each read runs on tokio's blocking pool with a connection taken from the
//! pool, and gives the connection back itself when it ends: dropping the
//! caller's future leaves the read to finish on its own, so no connection is
//! ever stranded or returned inside a transaction.

use std::sync::Arc;

use eventblocks_core::{Error, Result, WriteOutcome};
use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::error::into_error;

#[derive(Debug)]
pub(crate) struct Readers {
    config: Config,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
}

impl Readers {
    pub(crate) fn new(config: Config) -> Self {
        let permits = Arc::new(Semaphore::new(config.readers.max(1)));
        Self {
            config,
            idle: Mutex::new(Vec::new()),
            permits,
        }
    }

    /// Runs `work` on a reading connection and returns what it returns.
    ///
    /// # Errors
    /// `work`'s error, or failing to open a connection.
    pub(crate) async fn run<T, F>(self: &Arc<Self>, what: &'static str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Backend {
                message: "the reader pool is closed".into(),
                source: None,
            })?;
        let readers = self.clone();
        let read = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let connection = readers.take(what)?;
            let result = work(&connection);
            // A read that left a transaction open is ended here, never in
            // the pool.
            if connection.is_autocommit() || connection.execute_batch("ROLLBACK").is_ok() {
                readers.idle.lock().push(connection);
            }
            result
        });
        read.await.unwrap_or_else(|error| {
            Err(Error::Backend {
                message: format!("{what}: the read failed: {error}").into(),
                source: None,
            })
        })
    }

    fn take(&self, what: &'static str) -> Result<Connection> {
        if let Some(connection) = self.idle.lock().pop() {
            return Ok(connection);
        }
        let connection = self
            .config
            .connect()
            .map_err(|error| into_error(error, what, WriteOutcome::NotWritten))?;
        // Reads only: a bug that tried to write here fails instead.
        connection
            .pragma_update(None, "query_only", true)
            .map_err(|error| crate::error::database(error, what, WriteOutcome::NotWritten))?;
        Ok(connection)
    }
}
