//! Partition leases as session advisory locks, all held on one connection
//! per [`PostgresLeases`]: PostgreSQL releases the locks when that connection
//! ends, so a holder that dies (process crash, network loss,
//! `pg_terminate_backend`) gives its partitions up without anyone's help, and
//! however many partitions a process takes, they cost one server session.
//!
//! Taking a lease raises the partition's fencing token in the table
//! `<table>_fences`, the one every fenced write checks, so the previous
//! holder's writes are refused from that moment on.

mod session;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::{Error, Lease, Leases, Name, Result, WriteOutcome};
use futures::future::BoxFuture;
use tokio::sync::Mutex;

use self::session::{Failure, Held, LeaseSession};
use crate::adapter::PostgresAdapter;
use crate::error;

/// Hands out partition leases across every process sharing the database.
///
/// Every lease one `PostgresLeases` (or any of its clones) hands out is held
/// on the same connection of its own, outside the pool, opened on the first
/// acquisition and kept while the value or any of its leases lives: a process
/// holding any number of partitions uses one server session for them. So a
/// lost connection loses all of them at once; each lease's
/// [`Lease::lost`] then resolves, and the next acquisition opens a new
/// session. Taking a lease also raises its fencing token, on a pooled
/// connection.
///
/// Needs a connection string (the adapter's [`url`](crate::PostgresAdapterBuilder::url)
/// or [`notifications_url`](crate::PostgresAdapterBuilder::notifications_url))
/// for its session, and the schema [`migrate`](PostgresAdapter::migrate)d:
/// fencing tokens are kept in the table `<table>_fences`.
#[derive(Clone)]
pub struct PostgresLeases {
    shared: Arc<Shared>,
}

struct Shared {
    adapter: PostgresAdapter,
    /// The session the leases are taken on; replaced once it has ended.
    session: Mutex<Option<LeaseSession>>,
}

impl PostgresLeases {
    /// Leases over `adapter`'s database.
    pub fn new(adapter: &PostgresAdapter) -> Self {
        Self {
            shared: Arc::new(Shared {
                adapter: adapter.clone(),
                session: Mutex::new(None),
            }),
        }
    }

    fn adapter(&self) -> &PostgresAdapter {
        &self.shared.adapter
    }

    fn key(&self, consumer: &Name, partition: u32) -> String {
        let namespace = self.adapter().inner.names.lock_namespace();
        format!("{namespace}:lease:{consumer}#{partition}")
    }

    /// The session to take leases on: the current one, or a new one if it
    /// has ended (or none was opened yet).
    async fn session(&self) -> Result<LeaseSession> {
        let mut current = self.shared.session.lock().await;
        if let Some(session) = current.as_ref().filter(|session| !session.is_ended()) {
            return Ok(session.clone());
        }
        let session = self.open().await?;
        *current = Some(session.clone());
        Ok(session)
    }

    async fn open(&self) -> Result<LeaseSession> {
        let inner = &self.adapter().inner;
        let connector = inner.notifications.connector().ok_or_else(|| {
            Error::invalid(
                "leases",
                "need a connection string: build the adapter with url or notifications_url",
            )
        })?;
        let connection = connector
            .dedicated(
                |_| {},
                |e| error::database(e, "connecting for leases", WriteOutcome::NotWritten),
            )
            .await?;
        let timeout = inner.settings.operation_timeout;
        LeaseSession::start(connection, &inner.sql.leases, timeout)
            .await
            .map_err(|e| error::database(e, "preparing to take leases", WriteOutcome::NotWritten))
    }

    /// Takes the advisory lock of `key` on the current session, if free.
    /// A session found ended (its connection died unnoticed) is replaced once.
    async fn lock(&self, key: &str) -> Result<Option<(LeaseSession, Held)>> {
        for _ in 0..2 {
            let session = self.session().await?;
            match session.try_lock(key).await {
                Ok(held) => return Ok(held.map(|held| (session, held))),
                Err(Failure::Ended) => {}
                Err(Failure::Statement(e)) => {
                    return Err(error::database(
                        e,
                        "taking a lease",
                        WriteOutcome::NotWritten,
                    ))
                }
                Err(Failure::TimedOut) => {
                    return Err(Error::Timeout {
                        outcome: WriteOutcome::NotWritten,
                        message: "taking a lease took longer than the operation timeout".into(),
                        source: None,
                    })
                }
            }
        }
        Err(Error::Unavailable {
            outcome: WriteOutcome::NotWritten,
            message: "the leases' connection ended twice while taking a lease".into(),
            source: None,
        })
    }

    /// Raises the partition's fencing token, on a pooled connection (the
    /// caller holds the partition's lock, so no other acquirer races it). It
    /// waits for a fenced write of the previous holder that is already past
    /// its check; the leases' own session stays free meanwhile.
    async fn raise(&self, consumer: &Name, partition: u32) -> Result<u64> {
        let inner = &self.adapter().inner;
        let client = error::pooled(&inner.pool).await?;
        let raised = |e| error::database(e, "raising a fencing token", WriteOutcome::NotWritten);
        let row = client
            .query_one(
                &inner.sql.fences.raise,
                &[&consumer.as_str(), &i64::from(partition)],
            )
            .await
            .map_err(raised)?;
        let token: i64 = row.try_get(0).map_err(raised)?;
        u64::try_from(token).map_err(|_| Error::corrupt("a negative fencing token"))
    }
}

impl fmt::Debug for PostgresLeases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLeases")
            .field("schema", &self.adapter().schema())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Leases for PostgresLeases {
    async fn try_acquire(&self, consumer: &Name, partition: u32) -> Result<Option<Box<dyn Lease>>> {
        let key = self.key(consumer, partition);
        // Whatever ends this call early (an error, the caller dropping it)
        // drops `held`, which releases the lock.
        let Some((session, held)) = self.lock(&key).await? else {
            return Ok(None);
        };
        let token = self.raise(consumer, partition).await?;
        Ok(Some(Box::new(PostgresLease {
            consumer: consumer.clone(),
            partition,
            token,
            session,
            _held: held,
        })))
    }
}

/// A held lease: the leases' session holds its advisory lock.
struct PostgresLease {
    consumer: Name,
    partition: u32,
    token: u64,
    session: LeaseSession,
    /// Releases the lock when the lease is dropped.
    _held: Held,
}

impl Lease for PostgresLease {
    fn consumer(&self) -> &Name {
        &self.consumer
    }

    fn partition(&self) -> u32 {
        self.partition
    }

    fn token(&self) -> u64 {
        self.token
    }

    fn lost(&self) -> BoxFuture<'static, ()> {
        self.session.ended()
    }
}

impl fmt::Debug for PostgresLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLease")
            .field("consumer", &self.consumer)
            .field("partition", &self.partition)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}
