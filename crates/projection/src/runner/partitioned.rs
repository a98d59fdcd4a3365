//! Several instances of one runner sharing the work: each partition of the
//! source is followed by the instance holding its lease, under the lease's
//! fence.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{partition_checkpoint, Error, Lease, Leases, Name, Result};
use tokio::task::{JoinError, JoinSet};
use tracing::{info, warn};

use super::partitions::check_count;
use super::{is_fenced, ProjectionRunner, Target};
use crate::projector::Projector;

/// How often a partitioned runner looks for partitions nobody holds.
const TAKEOVER_INTERVAL: Duration = Duration::from_millis(250);

impl<P: Projector + 'static> ProjectionRunner<P> {
    /// Runs as one of several instances sharing the work: the source's streams
    /// fall into `partitions` partitions, each followed by whichever instance
    /// holds its lease, with a checkpoint per partition. Partitions whose
    /// holder died are taken over.
    ///
    /// Every projection save and checkpoint advance of a partition carries its
    /// lease's [`Fence`](eventblocks_core::Fence): if the lease is lost while
    /// this instance is stalled (inside a handler, say) and another instance
    /// takes the partition over, the stores refuse this instance's later
    /// writes, and it stops following the partition as it does when it
    /// notices the loss. Runs until an error.
    ///
    /// # The number of partitions is fixed per consumer
    /// Which partition a stream is in depends on `partitions`, and so does
    /// what each partition's checkpoint means. The first start of a consumer
    /// records the number (in the checkpoint store, as the checkpoint
    /// [`partitions_checkpoint`](eventblocks_core::partitions_checkpoint)),
    /// and every later start with another number, partitioned or
    /// [`run`](Self::run) (which counts as one partition), is refused with
    /// [`Error::PartitionCount`] before anything is processed: so neither
    /// a redeployment with another number nor a rolling deployment running
    /// both numbers at once can skip or double-process events. To change the
    /// number, stop every instance and run under a new
    /// [consumer name](Self::consumer): it follows the source from the start
    /// again, and a projector whose metadata keeps the last sequence number
    /// (as [`Tracked`](crate::Tracked) does) skips what its projections have
    /// applied.
    ///
    /// # Acquisition failures pass
    /// An error taking a lease (the backend unreachable for a moment, say) is
    /// logged and the partitions are tried again at the next look for free
    /// ones (every 250 ms); partitions already held go on meanwhile.
    ///
    /// # Errors
    /// - [`Error::InvalidInput`] unless `partitions` is
    ///   between 1 and [`MAX_PARTITIONS`](crate::MAX_PARTITIONS);
    /// - [`Error::Stopped`] (see [`Error::stop_cause`]) holding
    ///   [`Error::PartitionCount`] if the consumer runs with another number,
    ///   or the first error of a partition, after the
    ///   [`ErrorPolicy`](super::ErrorPolicy) gave up; as
    ///   [`run`](Self::run), it returns `Ok` once [shut
    ///   down](Self::shutdown).
    pub async fn run_partitioned(
        self: &Arc<Self>,
        partitions: u32,
        leases: Arc<dyn Leases>,
    ) -> Result<()> {
        check_count(partitions)?;
        let consumer = self.consumer_name()?;
        self.running(partitions, async {
            self.register(&consumer, partitions, Some(leases.as_ref()))
                .await?;
            self.share(&consumer, partitions, leases.as_ref()).await
        })
        .await
    }

    /// Takes the partitions nobody holds and follows each in a task of its
    /// own, until a partition fails or a shutdown has stopped every one.
    async fn share(
        self: &Arc<Self>,
        consumer: &Name,
        partitions: u32,
        leases: &dyn Leases,
    ) -> Result<()> {
        // Dropping the join set (this future cancelled, or an error) aborts the
        // partition tasks, whose leases are then released.
        let mut held: HashSet<u32> = HashSet::new();
        let mut running: JoinSet<(u32, Result<()>)> = JoinSet::new();
        loop {
            if *self.stopping.borrow() {
                // Each partition finishes the event in hand and stops.
                while let Some(finished) = running.join_next().await {
                    finished_partition(finished)?.1?;
                }
                return Ok(());
            }
            let free: Vec<u32> = (0..partitions).filter(|p| !held.contains(p)).collect();
            for partition in free {
                let lease = match leases.try_acquire(consumer, partition).await {
                    Ok(Some(lease)) => lease,
                    Ok(None) => continue,
                    Err(error) => {
                        // Says nothing about the partitions: look again later.
                        warn!(%consumer, partition, %error, "could not take a partition");
                        break;
                    }
                };
                info!(%consumer, partition, token = lease.token(), "took a partition");
                let runner = Arc::clone(self);
                running.spawn(async move {
                    let result = runner.follow_leased(lease, partitions).await;
                    (partition, result)
                });
                held.insert(partition);
            }
            let pause = tokio::time::sleep(TAKEOVER_INTERVAL);
            tokio::select! {
                Some(finished) = running.join_next() => {
                    let (partition, result) = finished_partition(finished)?;
                    held.remove(&partition);
                    result?;
                }
                () = pause => {}
                () = self.shutting_down() => {}
            }
        }
    }

    /// Follows a leased partition until the lease is lost or a store refuses
    /// a write under its fence (then returns `Ok`, dropping the lease), or an
    /// error.
    async fn follow_leased(&self, lease: Box<dyn Lease>, partitions: u32) -> Result<()> {
        let partition = lease.partition();
        let target = Target {
            checkpoint: partition_checkpoint(lease.consumer(), partition, partitions)?,
            partition: Some((partition, partitions)),
            fence: Some(lease.fence()),
        };
        let lost = lease.lost();
        tokio::select! {
            () = lost => {
                warn!(partition, "lost the lease of a partition");
                Ok(())
            }
            result = self.follow(&target) => match result {
                Err(error) if is_fenced(&error) => {
                    warn!(partition, %error, "another instance took the partition over");
                    Ok(())
                }
                result => result,
            },
        }
    }
}

/// A finished partition task's partition and result.
///
/// # Errors
/// [`Error::Backend`] if the task panicked.
fn finished_partition(
    finished: std::result::Result<(u32, Result<()>), JoinError>,
) -> Result<(u32, Result<()>)> {
    finished.map_err(|e| Error::backend("a partition task failed", e))
}
