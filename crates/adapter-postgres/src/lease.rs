//! Partition leases as session advisory locks, each on a connection of its
//! own: PostgreSQL releases the lock when that connection ends, so a holder
//! that dies (process crash, network loss, `pg_terminate_backend`) gives its
//! partitions up without anyone's help.

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
/// each held lease keeps a connection of its own, outside the pool.
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
        let driver = driver_handle;
        let taken = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtextextended($1, 0))",
                &[&self.key(consumer, partition)],
            )
            .await;
        let taken: bool = match taken {
            Ok(row) => row.get(0),
            Err(e) => {
                driver.abort();
                return Err(error::database(
                    e,
                    "taking a lease",
                    WriteOutcome::NotWritten,
                ));
            }
        };
        if !taken {
            driver.abort();
            return Ok(None);
        }
        Ok(Some(Box::new(PostgresLease {
            consumer: consumer.clone(),
            partition,
            _session: client,
            lost,
            driver,
        })))
    }
}

/// A held lease: its connection holds the advisory lock.
struct PostgresLease {
    consumer: Name,
    partition: u32,
    /// Kept so the session (and the lock) lives as long as the lease.
    _session: Client,
    lost: watch::Receiver<bool>,
    driver: AbortHandle,
}

impl Lease for PostgresLease {
    fn consumer(&self) -> &Name {
        &self.consumer
    }

    fn partition(&self) -> u32 {
        self.partition
    }

    fn lost(&self) -> BoxFuture<'static, ()> {
        let mut lost = self.lost.clone();
        async move {
            let _ = lost.wait_for(|lost| *lost).await;
        }
        .boxed()
    }
}

impl Drop for PostgresLease {
    fn drop(&mut self) {
        // Ending the connection releases the lock.
        self.driver.abort();
    }
}

impl fmt::Debug for PostgresLease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresLease")
            .field("consumer", &self.consumer)
            .field("partition", &self.partition)
            .finish_non_exhaustive()
    }
}
