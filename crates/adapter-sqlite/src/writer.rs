//! The single writer: one thread owning the one connection that writes, so
//! async callers never block on SQLite and writes never wait on each other's
//! locks inside this process.
//!
//! Jobs queue on a channel. The thread takes every job waiting (up to a batch),
//! runs each inside its own savepoint (one alone needs none) of one
//! `BEGIN IMMEDIATE` transaction, commits once, and only then answers the
//! callers whose jobs succeeded: one sync of the log for the whole batch
//! (group commit), and an `Ok` is durable when it arrives. A job that fails is rolled back to its savepoint and
//! answered at once; the others still commit.
//!
//! Cancellation: a caller that drops its future only drops the receiving end
//! of its answer. A job not yet started is then skipped; a started one runs
//! to its end or rolls back on this thread, never half-way.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Arc;

use eventblocks_core::{Error, Result, WriteOutcome};
use rusqlite::Connection;
use tokio::sync::{oneshot, watch};

use crate::config::Config;
use crate::error::{into_error, SqliteError};

/// Called once the fate of a job's transaction is known: `None` if it
/// committed, else why it did not.
type Finish = Box<dyn FnOnce(Option<&Arc<SqliteError>>) + Send>;

/// A unit of work for the writer thread.
trait Job: Send {
    /// Whether the caller is gone, so the job need not run.
    fn abandoned(&self) -> bool;
    /// Runs the job inside the open transaction. `Some` when it succeeded and
    /// its answer waits for the commit; `None` when it failed (it has already
    /// answered) and its changes must be rolled back.
    fn run(self: Box<Self>, connection: &Connection) -> Option<Finish>;
    /// Answers that the job could not run at all.
    fn refuse(self: Box<Self>, error: &Arc<SqliteError>);
}

struct Work<T, F> {
    what: &'static str,
    work: F,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Work<T, F>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    fn run(self: Box<Self>, connection: &Connection) -> Option<Finish> {
        let Work { what, work, reply } = *self;
        let result = catch_unwind(AssertUnwindSafe(|| work(connection))).unwrap_or_else(|_| {
            Err(Error::Backend {
                message: format!("{what}: the work panicked; it was rolled back").into(),
                source: None,
            })
        });
        match result {
            Ok(value) => Some(Box::new(move |failure: Option<&Arc<SqliteError>>| {
                let answer = match failure {
                    None => Ok(value),
                    Some(error) => Err(shared_error(error, what, WriteOutcome::Unknown)),
                };
                // A caller that is gone has nothing to learn.
                let _ = reply.send(answer);
            })),
            Err(error) => {
                let _ = reply.send(Err(error));
                None
            }
        }
    }

    fn refuse(self: Box<Self>, error: &Arc<SqliteError>) {
        let _ = self.reply.send(Err(shared_error(
            error,
            self.what,
            WriteOutcome::NotWritten,
        )));
    }
}

/// An error shared by every job of a batch, as eventblocks' error.
fn shared_error(error: &Arc<SqliteError>, what: &str, outcome: WriteOutcome) -> Error {
    let message = format!("{what}: {error}").into();
    let source = Some(Box::new(error.clone()) as eventblocks_core::BoxError);
    match error.as_ref() {
        SqliteError::Locked => Error::Timeout {
            outcome,
            message,
            source,
        },
        _ => Error::Unavailable {
            outcome,
            message,
            source,
        },
    }
}

/// The handle callers send work through; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `connection`. `commits` moves after every
    /// commit, for subscriptions.
    pub(crate) fn start(
        connection: Connection,
        config: &Config,
        commits: Arc<watch::Sender<u64>>,
    ) -> Result<Self, SqliteError> {
        let (jobs, queue) = mpsc::channel::<Box<dyn Job>>();
        let max_batch = config.max_batch.max(1);
        std::thread::Builder::new()
            .name("eventblocks-sqlite-writer".to_owned())
            .spawn(move || serve(&connection, &queue, max_batch, &commits))
            .map_err(SqliteError::Thread)?;
        Ok(Self { jobs })
    }

    /// Runs `work` in a write transaction on the writer thread and returns
    /// its result once the transaction has committed (or failed).
    ///
    /// Dropping the returned future never interrupts `work`: it runs to its
    /// end or rolls back (see the module docs).
    ///
    /// # Errors
    /// `work`'s own error (its changes rolled back), or the transaction's.
    pub(crate) async fn run<T, F>(&self, what: &'static str, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        self.submit(Box::new(Work { what, work, reply }))?;
        answer.await.unwrap_or_else(|_| {
            Err(into_error(
                SqliteError::WriterStopped,
                what,
                WriteOutcome::Unknown,
            ))
        })
    }

    /// Queues `work` without waiting for it: for releases made from `Drop`.
    pub(crate) fn spawn<F>(&self, what: &'static str, work: F)
    where
        F: FnOnce(&Connection) -> Result<()> + Send + 'static,
    {
        // Nobody listens for the answer, so the job must not count as
        // abandoned: keep the receiver alive inside the job's reply path.
        let (reply, answer) = oneshot::channel::<Result<()>>();
        let work = move |connection: &Connection| {
            let _keep = &answer;
            let result = work(connection);
            if let Err(error) = &result {
                tracing::warn!(%error, what, "a background write failed");
            }
            result
        };
        let _ = self.submit(Box::new(Work { what, work, reply }));
    }

    fn submit(&self, job: Box<dyn Job>) -> Result<()> {
        self.jobs.send(job).map_err(|_| {
            into_error(
                SqliteError::WriterStopped,
                "sending work to the writer",
                WriteOutcome::NotWritten,
            )
        })
    }
}

/// The writer thread: batches of jobs, one transaction each, until every
/// handle is gone.
fn serve(
    connection: &Connection,
    queue: &mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    commits: &watch::Sender<u64>,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        batch.retain(|job| !job.abandoned());
        if batch.is_empty() {
            continue;
        }
        if commit_batch(connection, batch) {
            commits.send_modify(|count| *count = count.wrapping_add(1));
        }
    }
}

/// Runs `batch` in one transaction; whether anything committed.
fn commit_batch(connection: &Connection, batch: Vec<Box<dyn Job>>) -> bool {
    if !connection.is_autocommit() {
        // Only a failed rollback leaves a transaction behind: end it now.
        let _ = connection.execute_batch("ROLLBACK");
    }
    if let Err(error) = execute(connection, "BEGIN IMMEDIATE") {
        let error = Arc::new(crate::error::classify(error, None));
        for job in batch {
            job.refuse(&error);
        }
        return false;
    }
    // A job alone needs no savepoint: if it fails, the whole transaction
    // rolls back.
    let alone = batch.len() == 1;
    let mut finishes = Vec::with_capacity(batch.len());
    for job in batch {
        if alone {
            match job.run(connection) {
                Some(finish) => finishes.push(finish),
                None => {
                    release(connection, "ROLLBACK");
                    return false;
                }
            }
            continue;
        }
        if let Err(error) = execute(connection, "SAVEPOINT job") {
            job.refuse(&Arc::new(crate::error::classify(error, None)));
            continue;
        }
        match job.run(connection) {
            Some(finish) => {
                finishes.push(finish);
                release(connection, "RELEASE job");
            }
            None => {
                release(connection, "ROLLBACK TO job");
                release(connection, "RELEASE job");
            }
        }
    }
    let failure = execute(connection, "COMMIT").err().map(|error| {
        // A failed COMMIT may leave the transaction open: end it.
        let _ = connection.execute_batch("ROLLBACK");
        Arc::new(crate::error::classify(error, None))
    });
    let committed = failure.is_none() && !finishes.is_empty();
    match &failure {
        None => tracing::trace!(saves = finishes.len(), "committed a batch"),
        Some(error) => tracing::warn!(%error, saves = finishes.len(), "a batch did not commit"),
    }
    for finish in finishes {
        finish(failure.as_ref());
    }
    committed
}

/// Runs a statement of the transaction's own, prepared once per connection.
fn execute(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn release(connection: &Connection, sql: &str) {
    if let Err(error) = execute(connection, sql) {
        tracing::error!(%error, sql, "ending a savepoint failed");
    }
}
