//! What a store's sessions hold that no running operation should.

use async_trait::async_trait;
use eventblocks_core::{Error, Result, WriteOutcome};
use eventblocks_testkit::cancellation::Leftovers;

use crate::error;

/// Reports the sessions with one `application_name` that sit idle inside a
/// transaction, or idle holding an advisory lock: what a dropped operation
/// must never leave behind. Give the store under test's connection string an
/// `application_name` of its own, and this a connection string of the same
/// server.
#[derive(Debug)]
pub struct SessionLeftovers {
    admin: tokio_postgres::Client,
    application_name: String,
}

impl SessionLeftovers {
    /// Watches the sessions named `application_name`, through a connection
    /// of its own to `url`.
    ///
    /// # Errors
    /// If it cannot connect.
    pub async fn connect(url: &str, application_name: &str) -> Result<Self> {
        let (admin, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .map_err(|e| error::database(e, "connecting", WriteOutcome::NotWritten))?;
        tokio::spawn(connection);
        Ok(Self {
            admin,
            application_name: application_name.to_owned(),
        })
    }

    async fn query(&self) -> Result<Vec<String>> {
        let rows = self
            .admin
            .query(
                "SELECT a.pid, a.state, count(l.pid) AS advisory_locks
                   FROM pg_stat_activity a
                   LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory'
                  WHERE a.application_name = $1
                  GROUP BY a.pid, a.state
                 HAVING a.state LIKE 'idle in transaction%'
                     OR (a.state = 'idle' AND count(l.pid) > 0)",
                &[&self.application_name],
            )
            .await
            .map_err(|e| {
                error::database(e, "reading pg_stat_activity", WriteOutcome::NotWritten)
            })?;
        Ok(rows
            .iter()
            .map(|row| {
                let (pid, state, locks): (i32, String, i64) = (row.get(0), row.get(1), row.get(2));
                format!("session {pid} is {state} holding {locks} advisory locks")
            })
            .collect())
    }
}

#[async_trait]
impl Leftovers for SessionLeftovers {
    async fn held(&self) -> Vec<String> {
        self.query()
            .await
            .unwrap_or_else(|error: Error| vec![format!("cannot tell: {error}")])
    }
}
