//! The read horizon as an operator sees it: the newest committed event, the
//! newest settled one (below which log and category readers may go), and,
//! when they differ, the session holding the horizon back.
//!
//! A transaction left open anywhere on the server (any database, any role)
//! holds every tailing reader of the log back: events committed after it
//! began are not settled until it ends. Readers never skip; they wait up to
//! the horizon wait and then read what is settled. [`PostgresAdapter::read_horizon`]
//! says which session it is, and a read that gives up waiting says so in a
//! `warn!` (at most once a minute per adapter) and in the
//! `eventblocks_read_horizon_stall_seconds` metric.

use std::fmt;
use std::time::{Duration, Instant};

use eventblocks_core::{Error, Result, WriteOutcome};

use crate::adapter::Inner;
use crate::{error, PostgresAdapter};

/// How often a stalled horizon may be warned of, per adapter.
const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// The read horizon of the log, on the primary.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ReadHorizon {
    /// The newest committed event's sequence number (`None`: the log is empty).
    pub committed: Option<u64>,
    /// The newest settled one: no running transaction can still commit an
    /// event before it. Readers of the log and of categories go up to here.
    pub settled: Option<u64>,
    /// When `committed` and `settled` differ, the transaction holding the
    /// horizon back, if the server shows it.
    pub blocker: Option<HorizonBlocker>,
    /// When `committed` and `settled` differ, how long ago the oldest event
    /// readers are held back from was observed: how long the horizon has
    /// stalled, known even to a role the server does not show the blocking
    /// session's age to (an imported event keeps its original observation
    /// time, so this may overstate a stall over imported events).
    pub held_back_for: Option<Duration>,
}

impl ReadHorizon {
    /// Whether a running transaction holds readers back from committed events.
    pub fn is_stalled(&self) -> bool {
        self.committed != self.settled
    }
}

/// The transaction that holds the read horizon back.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct HorizonBlocker {
    /// Its server process (`None` for a prepared transaction).
    pub pid: Option<i32>,
    /// Its session's `application_name` (for a prepared transaction, its gid).
    pub application_name: String,
    /// Its session's state (`idle in transaction`, `active`, …), if shown.
    pub state: Option<String>,
    /// The database it is connected to, if shown.
    pub database: Option<String>,
    /// How long its transaction has been open, if shown.
    pub transaction_age: Option<Duration>,
    /// The start of its session's latest statement (200 characters), if
    /// shown.
    pub query: Option<String>,
}

impl HorizonBlocker {
    /// The SQL an operator runs to inspect it.
    pub fn inspect_command(&self) -> String {
        match self.pid {
            Some(pid) => format!("SELECT * FROM pg_stat_activity WHERE pid = {pid}"),
            None => "SELECT * FROM pg_prepared_xacts ORDER BY prepared".to_owned(),
        }
    }
}

impl fmt::Display for HorizonBlocker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}")?,
            None => f.write_str("no session")?,
        }
        write!(f, ", application {:?}", self.application_name)?;
        if let Some(state) = &self.state {
            write!(f, ", {state}")?;
        }
        if let Some(database) = &self.database {
            write!(f, ", database {database}")?;
        }
        if let Some(age) = self.transaction_age {
            write!(f, ", transaction open {:.1} s", age.as_secs_f64())?;
        }
        Ok(())
    }
}

impl PostgresAdapter {
    /// The log's read horizon on the primary, and the transaction holding it
    /// back when there is one: what `eventblocks health` shows.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn read_horizon(&self) -> Result<ReadHorizon> {
        let what = "reading the read horizon";
        let reading = async {
            let client = error::pooled(&self.inner.pool).await?;
            client
                .query_one(&self.inner.sql.events.horizon_log, &[])
                .await
                .map_err(|e| error::database(e, what, WriteOutcome::NotWritten))
        };
        let row = tokio::time::timeout(self.inner.settings.operation_timeout, reading)
            .await
            .unwrap_or_else(|_| Err(error::timed_out(what, WriteOutcome::NotWritten)))?;
        let committed = sequence(row.get(0))?;
        let settled = sequence(row.get(1))?;
        let (blocker, held_back_for) = if committed == settled {
            (None, None)
        } else {
            let settled = row.get::<_, Option<i64>>(1).unwrap_or(-1);
            (
                blocker(&self.inner).await?,
                held_back_for(&self.inner, settled).await?,
            )
        };
        Ok(ReadHorizon {
            committed,
            settled,
            blocker,
            held_back_for,
        })
    }
}

fn sequence(value: Option<i64>) -> Result<Option<u64>> {
    value
        .map(|number| {
            u64::try_from(number).map_err(|_| Error::corrupt("a negative sequence number"))
        })
        .transpose()
}

/// How long ago the oldest event above `settled` was observed.
async fn held_back_for(inner: &Inner, settled: i64) -> Result<Option<Duration>> {
    let what = "reading how long the read horizon has been held back";
    let reading = async {
        let client = error::pooled(&inner.pool).await?;
        client
            .query_opt(&inner.sql.events.horizon_held_back, &[&settled])
            .await
            .map_err(|e| error::database(e, what, WriteOutcome::NotWritten))
    };
    let row = tokio::time::timeout(inner.settings.operation_timeout, reading)
        .await
        .unwrap_or_else(|_| Err(error::timed_out(what, WriteOutcome::NotWritten)))?;
    Ok(row
        .and_then(|row| row.get::<_, Option<f64>>(0))
        .and_then(|seconds| Duration::try_from_secs_f64(seconds.max(0.0)).ok()))
}

/// The transaction holding the horizon back, as the server shows it.
pub(crate) async fn blocker(inner: &Inner) -> Result<Option<HorizonBlocker>> {
    let what = "finding the session that holds the read horizon back";
    let finding = async {
        let client = error::pooled(&inner.pool).await?;
        client
            .query_opt(&inner.sql.events.horizon_blocker, &[])
            .await
            .map_err(|e| error::database(e, what, WriteOutcome::NotWritten))
    };
    let row = tokio::time::timeout(inner.settings.operation_timeout, finding)
        .await
        .unwrap_or_else(|_| Err(error::timed_out(what, WriteOutcome::NotWritten)))?;
    Ok(row.map(|row| HorizonBlocker {
        pid: row.get(0),
        application_name: row.get::<_, Option<String>>(1).unwrap_or_default(),
        state: row.get(2),
        database: row.get(3),
        transaction_age: row
            .get::<_, Option<f64>>(4)
            .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok()),
        query: row.get(5),
    }))
}

/// A read waited `waited` for the horizon and gave up: records the stall and,
/// at most once per interval, warns naming the blocking transaction.
pub(crate) async fn stalled(
    inner: &Inner,
    waited: Duration,
    committed: Option<i64>,
    settled: Option<i64>,
) {
    eventblocks_core::metrics::record_horizon_stall(waited);
    {
        let mut warned = inner.stall_warned.lock();
        let now = Instant::now();
        if warned.is_some_and(|at| now.duration_since(at) < WARNING_INTERVAL) {
            return;
        }
        *warned = Some(now);
    }
    let blocking = match blocker(inner).await {
        Ok(Some(blocker)) => {
            let inspect = blocker.inspect_command();
            format!("held back by {blocker}; inspect it with: {inspect}")
        }
        Ok(None) => "the holding transaction has ended".to_owned(),
        Err(error) => format!("the holding transaction could not be found: {error}"),
    };
    tracing::warn!(
        ?committed,
        ?settled,
        waited_seconds = waited.as_secs_f64(),
        "readers of the log are held back by a running transaction: {blocking}"
    );
}
