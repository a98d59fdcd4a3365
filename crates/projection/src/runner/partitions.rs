//! The number of partitions a consumer runs with, recorded durably on its
//! first start and checked on every later one.
//!
//! A partition checkpoint (`consumer#p`) says how far partition `p` got, and
//! which streams are in `p` depends on the number of partitions: resuming
//! one with another number would skip the events its new streams had left
//! in their old partitions, and instances running with different numbers at
//! once would process the same streams under different leases. So the number
//! is recorded as the value of the reserved checkpoint `consumer#partitions`
//! ([`partitions_checkpoint`]), and a runner started with another number
//! stops at once with [`Error::PartitionCount`].

use std::time::Duration;

use eventblocks_core::{partitions_checkpoint, Error, Lease, Leases, Name, Result};
use tracing::warn;

use super::ProjectionRunner;
use crate::projector::Projector;

/// The most partitions [`ProjectionRunner::run_partitioned`] accepts. Each
/// partition an instance holds follows the source with a subscription of its
/// own, so the number is bounded to what one instance can follow.
pub const MAX_PARTITIONS: u32 = 256;

/// The partition whose lease guards recording the number of partitions:
/// never one that holds streams (there are at most [`MAX_PARTITIONS`]).
const RECORDING: u32 = u32::MAX;

/// How long an instance waits before trying again for the lease of
/// [`RECORDING`], held by another instance recording (for a moment).
const RECORDING_RETRY: Duration = Duration::from_millis(50);

impl<P: Projector + 'static> ProjectionRunner<P> {
    /// Makes sure `partitions` is the consumer's recorded number of
    /// partitions, recording it if none is. With `leases` (a partitioned
    /// runner) the first recording is made under a lease, so that instances
    /// starting at once with different numbers cannot both record theirs.
    ///
    /// # Errors
    /// [`Error::PartitionCount`] if another number is recorded; the stores'
    /// errors.
    pub(super) async fn register(
        &self,
        consumer: &Name,
        partitions: u32,
        leases: Option<&dyn Leases>,
    ) -> Result<()> {
        let record = partitions_checkpoint(consumer)?;
        if let Some(recorded) = self.checkpoints.load(&record).await? {
            return agree(consumer, recorded, partitions);
        }
        let lease = match leases {
            Some(leases) => Some(recording_lease(leases, consumer).await),
            None => None,
        };
        let fence = lease.as_ref().map(|lease| lease.fence());
        // Read again under the lease: another instance may have recorded first.
        if self.checkpoints.load(&record).await?.is_none() {
            let count = u64::from(partitions);
            self.checkpoints
                .advance(&record, count, fence.as_ref())
                .await?;
        }
        // Read back: a runner recording without a lease ([`Self::run`]) may
        // have raced this one, and the larger number wins the checkpoint.
        let recorded = self.checkpoints.load(&record).await?;
        agree(consumer, recorded.unwrap_or_default(), partitions)
    }

    /// The number of partitions recorded for `consumer`, if any.
    ///
    /// # Errors
    /// The checkpoint store's.
    pub(super) async fn recorded_partitions(&self, consumer: &Name) -> Result<Option<u64>> {
        let record = partitions_checkpoint(consumer)?;
        self.checkpoints.load(&record).await
    }

    /// The number of partitions recorded for `consumer`, 1 if none is.
    ///
    /// # Errors
    /// As [`count_of`]; the checkpoint store's.
    pub(super) async fn partitions_of(&self, consumer: &Name) -> Result<u32> {
        match self.recorded_partitions(consumer).await? {
            Some(recorded) => count_of(recorded),
            None => Ok(1),
        }
    }
}

/// A recorded number of partitions as a count.
///
/// # Errors
/// [`Error::Corrupt`] for a number no runner runs with.
pub(super) fn count_of(recorded: u64) -> Result<u32> {
    u32::try_from(recorded)
        .ok()
        .filter(|count| (1..=MAX_PARTITIONS).contains(count))
        .ok_or_else(|| {
            Error::corrupt(format!(
                "{recorded} partitions recorded, more than any runner runs with"
            ))
        })
}

/// Takes the lease guarding the record, waiting while another instance holds
/// it and trying again after an acquisition error (both pass).
async fn recording_lease(leases: &dyn Leases, consumer: &Name) -> Box<dyn Lease> {
    loop {
        match leases.try_acquire(consumer, RECORDING).await {
            Ok(Some(lease)) => return lease,
            Ok(None) => {}
            Err(error) => warn!(%consumer, %error, "could not take the lease to record partitions"),
        }
        tokio::time::sleep(RECORDING_RETRY).await;
    }
}

/// Whether the recorded number is the one asked for.
///
/// # Errors
/// [`Error::PartitionCount`] if not.
pub(super) fn agree(consumer: &Name, recorded: u64, requested: u32) -> Result<()> {
    if recorded == u64::from(requested) {
        return Ok(());
    }
    Err(Error::PartitionCount {
        consumer: consumer.clone(),
        recorded,
        requested,
    })
}

/// Checks the number of partitions asked of a partitioned runner.
///
/// # Errors
/// [`Error::InvalidInput`] outside `1..=MAX_PARTITIONS`.
pub(super) fn check_count(partitions: u32) -> Result<()> {
    if (1..=MAX_PARTITIONS).contains(&partitions) {
        return Ok(());
    }
    Err(Error::invalid(
        "partitions",
        format!("must be between 1 and {MAX_PARTITIONS}, not {partitions}"),
    ))
}
