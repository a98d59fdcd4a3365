//! Partition leases as session advisory locks, each on a connection of its
//! own: PostgreSQL releases the lock when that connection ends, so a holder
//! that dies (process crash, network loss, `pg_terminate_backend`) gives its
//! partitions up without anyone's help.
//!
//! Taking a lease raises the partition's fencing token in the table
//! `<table>_fences`, the one every fenced write checks, so the previous
//! holder's writes are refused from that moment on.

use std::fmt;

use async_trait::async_trait;
use eventblocks_core::{Error, Lease, Leases, Name, Result, WriteOutcome};
use futures::future::BoxFuture;
use futures::FutureExt;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio_postgres::Client;

use crate::adapter::PostgresAdapter;
use crate::connect::Dedicated;
use crate::error;

/// Hands out partition leases across every process sharing the database.
///
/// Needs a connection string (the adapter's [`url`](crate::PostgresAdapterBuilder::url)
/// or [`notifications_url`](crate::PostgresAdapterBuilder::notifications_url)):
/// each held lease keeps a connection of its own, outside the pool. Needs the
/// schema [`migrate`](PostgresAdapter::migrate)d: fencing tokens are kept in
/// the table `<table>_fences`.
#[derive(Clone)]
pub struct PostgresLeases {
    adapter: PostgresAdapter,
}

impl PostgresLeases {
    /// Leases over `adapter`'s database.
    pub fn new(adapter: &PostgresAdapter) -> Self {
        Self {
            adapter: adapter.clone(),
        }
    }

    fn key(&self, consumer: &Name, partition: u32) -> String {
        let namespace = self.adapter.inner.names.lock_namespace();
        format!("{namespace}:lease:{consumer}#{partition}")
    }
}

impl fmt::Debug for PostgresLeases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLeases")
            .field("schema", &self.adapter.schema())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Leases for PostgresLeases {
    async fn try_acquire(&self, consumer: &Name, partition: u32) -> Result<Option<Box<dyn Lease>>> {
        let connector = self
            .adapter
            .inner
            .notifications
            .connector()
            .ok_or_else(|| {
                Error::invalid(
                    "leases",
                    "need a connection string: build the adapter with url or notifications_url",
                )
            })?;
        let Dedicated { client, driver } = connector
            .dedicated(
                || {},
                |e| error::database(e, "connecting for a lease", WriteOutcome::NotWritten),
            )
            .await?;
        let (lost_sender, lost) = watch::channel(false);
        let driver_handle = driver.abort_handle();
        tokio::spawn(async move {
            let _ = driver.await;
            lost_sender.send_replace(true);
        });
        // Whatever ends this call early (an error, no lock, the caller
        // dropping it) ends the session, releasing the lock.
        let driver = Driver(driver_handle);
        let key = self.key(consumer, partition);
        if !take(&client, &self.adapter.inner.sql.leases.try_lock, &key).await? {
            return Ok(None);
        }
        let token = self.raise(&client, consumer, partition).await?;
        Ok(Some(Box::new(PostgresLease {
            consumer: consumer.clone(),
            partition,
            token,
            _session: client,
            lost,
            _driver: driver,
        })))
    }
}

/// The task driving a lease's session: aborting it closes the session.
struct Driver(AbortHandle);

impl Drop for Driver {
    fn drop(&mut self) {
        // Ending the connection releases the lock.
        self.0.abort();
    }
}

/// Tries the lease's advisory lock on its session.
async fn take(client: &Client, try_lock: &str, key: &str) -> Result<bool> {
    let row = client
        .query_one(try_lock, &[&key])
        .await
        .map_err(|e| error::database(e, "taking a lease", WriteOutcome::NotWritten))?;
    Ok(row.get(0))
}

impl PostgresLeases {
    /// Raises the partition's fencing token, on the lease's session (which
    /// holds the lock, so no other acquirer races it). It waits for a fenced
    /// write of the previous holder that is already past its check.
    async fn raise(&self, client: &Client, consumer: &Name, partition: u32) -> Result<u64> {
        let row = client
            .query_one(
                &self.adapter.inner.sql.fences.raise,
                &[&consumer.as_str(), &i64::from(partition)],
            )
            .await
            .map_err(|e| error::database(e, "raising a fencing token", WriteOutcome::NotWritten))?;
        let token: i64 = row.get(0);
        u64::try_from(token).map_err(|_| Error::corrupt("a negative fencing token"))
    }
}

/// A held lease: its connection holds the advisory lock.
struct PostgresLease {
    consumer: Name,
    partition: u32,
    token: u64,
    /// Kept so the session (and the lock) lives as long as the lease.
    _session: Client,
    lost: watch::Receiver<bool>,
    /// Ends the session, and so the lock, when the lease is dropped.
    _driver: Driver,
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
        let mut lost = self.lost.clone();
        async move {
            let _ = lost.wait_for(|lost| *lost).await;
        }
        .boxed()
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
