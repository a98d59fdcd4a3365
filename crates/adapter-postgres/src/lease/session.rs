//! The one connection holding every lease of a
//! [`PostgresLeases`](super::PostgresLeases): a task owns it and runs the
//! lock and unlock commands of acquisitions and leases one at a time, in the
//! order they were sent.
//!
//! Why a task and a queue: session-level advisory locks belong to the session
//! and are re-entrant, so the session must know which of its locks belongs to
//! which acquisition, and an unlock must run after the lock it undoes. An
//! acquisition dropped after sending its lock command queues the unlock
//! behind it (see [`Held`]), so no lock outlives the acquisition or lease it
//! was taken for. A lock or unlock that fails leaves the lock's state unknown:
//! the session is then ended, which releases every lock it held, and every
//! lease on it reports itself lost.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{AbortHandle, JoinHandle};
use tokio_postgres::{Client, Row, Statement};
use tracing::warn;

use crate::connect::Dedicated;
use crate::statements::LeaseStatements;

/// Tells acquisitions apart, so that an unlock undoes only its own lock.
static OWNERS: AtomicU64 = AtomicU64::new(0);

/// What the session's task is asked to do.
enum Command {
    /// Take the lock of `key` for `owner`, unless this session holds it.
    Lock {
        key: String,
        owner: u64,
        granted: oneshot::Sender<Result<bool, Failure>>,
    },
    /// Release the lock of `key` if `owner` holds it.
    Unlock { key: String, owner: u64 },
}

/// Why a lock command gave no answer.
#[derive(Debug)]
pub(super) enum Failure {
    /// The session had ended: a new session may succeed.
    Ended,
    /// The statement failed; the session has been ended (the lock's state was
    /// unknown), so a new session may succeed.
    Statement(tokio_postgres::Error),
    /// The statement took longer than the operation timeout (a network that
    /// stopped delivering, say); the session has been ended.
    TimedOut,
}

/// A handle on a shared lease session; clones share it. The session ends when
/// its connection does, or when every handle and [`Held`] lock is gone.
#[derive(Clone)]
pub(super) struct LeaseSession {
    commands: mpsc::UnboundedSender<Command>,
    ended: watch::Receiver<bool>,
}

/// The statements a lease session runs, prepared on it, and how long each
/// may take.
struct Prepared {
    lock: Statement,
    unlock: Statement,
    timeout: Duration,
}

/// A lock asked for on a session: dropping it queues the unlock, which runs
/// after the lock (whether or not the lock was granted, or even answered).
pub(super) struct Held {
    commands: mpsc::UnboundedSender<Command>,
    key: String,
    owner: u64,
}

impl Drop for Held {
    fn drop(&mut self) {
        let key = std::mem::take(&mut self.key);
        // A session already ended holds nothing any more.
        let _ = self.commands.send(Command::Unlock {
            key,
            owner: self.owner,
        });
    }
}

/// Aborts a connection's driver (closing the connection) unless defused.
struct AbortOnDrop(Option<AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(driver) = self.0.take() {
            driver.abort();
        }
    }
}

impl LeaseSession {
    /// Prepares the lease statements on `connection` and starts the task that
    /// owns it, which ends the session if a statement takes longer than
    /// `timeout`. Dropped while preparing, it closes the connection.
    ///
    /// # Errors
    /// If a statement cannot be prepared (the connection is then closed).
    pub(super) async fn start(
        connection: Dedicated,
        sql: &LeaseStatements,
        timeout: Duration,
    ) -> Result<Self, tokio_postgres::Error> {
        let Dedicated { client, driver } = connection;
        let mut closing = AbortOnDrop(Some(driver.abort_handle()));
        let prepared = Prepared {
            lock: client.prepare(&sql.try_lock).await?,
            unlock: client.prepare(&sql.unlock).await?,
            timeout,
        };
        closing.0 = None;
        let (commands, receiver) = mpsc::unbounded_channel();
        let (ended_sender, ended) = watch::channel(false);
        tokio::spawn(serve(client, driver, prepared, receiver, ended_sender));
        Ok(Self { commands, ended })
    }

    /// Whether the session has ended (its locks are then released).
    pub(super) fn is_ended(&self) -> bool {
        *self.ended.borrow() || self.commands.is_closed()
    }

    /// Resolves once the session has ended.
    pub(super) fn ended(&self) -> BoxFuture<'static, ()> {
        let mut ended = self.ended.clone();
        async move {
            // A dropped sender means the task is gone: ended too.
            let _ = ended.wait_for(|ended| *ended).await;
        }
        .boxed()
    }

    /// Tries the lock of `key` on this session: the lock if granted, `None`
    /// if another session (or another lease on this one) holds it. Dropped
    /// before it returns, it leaves the lock released.
    ///
    /// # Errors
    /// [`Failure`]: the session ended, before or because of this command.
    pub(super) async fn try_lock(&self, key: &str) -> Result<Option<Held>, Failure> {
        let held = Held {
            commands: self.commands.clone(),
            key: key.to_owned(),
            owner: OWNERS.fetch_add(1, Ordering::Relaxed),
        };
        let (granted, answer) = oneshot::channel();
        let lock = Command::Lock {
            key: held.key.clone(),
            owner: held.owner,
            granted,
        };
        self.commands.send(lock).map_err(|_| Failure::Ended)?;
        // From here on, dropping `held` queues the unlock behind the lock.
        match answer.await {
            Ok(Ok(true)) => Ok(Some(held)),
            Ok(Ok(false)) => Ok(None),
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(Failure::Ended),
        }
    }
}

/// What to do after a command.
enum Next {
    Continue,
    /// End the session, then give the failure (if any) to the lock that
    /// failed: in this order, so that its caller sees the session ended.
    End(Option<(oneshot::Sender<Result<bool, Failure>>, Failure)>),
}

/// Runs commands until the connection ends, a command fails or nobody can
/// send any more; then marks the session ended and closes the connection.
async fn serve(
    client: Client,
    mut driver: JoinHandle<Result<(), tokio_postgres::Error>>,
    prepared: Prepared,
    mut commands: mpsc::UnboundedReceiver<Command>,
    ended: watch::Sender<bool>,
) {
    let mut held: HashMap<String, u64> = HashMap::new();
    let failed = loop {
        let command = tokio::select! {
            command = commands.recv() => command,
            _ = &mut driver => None,
        };
        let Some(command) = command else { break None };
        if let Next::End(failed) = run(&client, &prepared, &mut held, command).await {
            break failed;
        }
    };
    ended.send_replace(true);
    if let Some((granted, failure)) = failed {
        let _ = granted.send(Err(failure));
    }
    driver.abort();
}

async fn run(
    client: &Client,
    prepared: &Prepared,
    held: &mut HashMap<String, u64>,
    command: Command,
) -> Next {
    match command {
        Command::Lock {
            key,
            owner,
            granted,
        } => {
            if held.contains_key(&key) {
                let _ = granted.send(Ok(false));
                return Next::Continue;
            }
            match answer(prepared, client.query_one(&prepared.lock, &[&key])).await {
                Ok(taken) => {
                    if taken {
                        held.insert(key, owner);
                    }
                    let _ = granted.send(Ok(taken));
                    Next::Continue
                }
                Err(failure) => {
                    warn!(
                        ?failure,
                        "taking a lease failed; ending the leases' session"
                    );
                    Next::End(Some((granted, failure)))
                }
            }
        }
        Command::Unlock { key, owner } => {
            if held.get(&key) != Some(&owner) {
                return Next::Continue;
            }
            held.remove(&key);
            match answer(prepared, client.query_one(&prepared.unlock, &[&key])).await {
                Ok(true) => Next::Continue,
                Ok(false) => {
                    warn!("a lease's lock was not held by its session; ending the session");
                    Next::End(None)
                }
                Err(failure) => {
                    warn!(
                        ?failure,
                        "releasing a lease failed; ending the leases' session"
                    );
                    Next::End(None)
                }
            }
        }
    }
}

/// The boolean a lock or unlock statement returns, within the timeout.
async fn answer(
    prepared: &Prepared,
    statement: impl Future<Output = Result<Row, tokio_postgres::Error>>,
) -> Result<bool, Failure> {
    let row = tokio::time::timeout(prepared.timeout, statement)
        .await
        .map_err(|_| Failure::TimedOut)?;
    let failed = |error: tokio_postgres::Error| {
        if error.is_closed() {
            Failure::Ended
        } else {
            Failure::Statement(error)
        }
    };
    row.map_err(failed)?.try_get(0).map_err(failed)
}
