//! How far a runner has got, per checkpoint (the whole source, or one
//! partition), and waiting for it.

use std::collections::HashMap;
use std::time::Duration;

use eventblocks_core::{partition_checkpoint, Name, WriteOutcome};

use super::partitions::{agree, count_of};
use super::ProjectionRunner;
use crate::error::{Error, Result};
use crate::projector::Projector;

/// How often a waiter reads the durable checkpoints of partitions this
/// instance does not follow.
const CHECKPOINT_POLL: Duration = Duration::from_millis(50);

/// What this instance has applied, per checkpoint it keeps.
///
/// Kept per checkpoint, never as one number: a partition that has caught up
/// says nothing about the events of another.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// How many partitions the runner runs with; 0 until it runs.
    partitions: u32,
    /// The sequence number each checkpoint has reached here: every event of
    /// its partition up to it is applied.
    applied: HashMap<Name, u64>,
}

impl Progress {
    pub(super) fn run_with(&mut self, partitions: u32) {
        self.partitions = partitions;
    }

    /// Records that `checkpoint` reached `to`; whether that is news.
    pub(super) fn raise(&mut self, checkpoint: &Name, to: u64) -> bool {
        let applied = self.applied.entry(checkpoint.clone()).or_default();
        if to > *applied {
            *applied = to;
            return true;
        }
        false
    }

    /// The partitions to wait for: one when the runner runs unpartitioned or
    /// not at all.
    fn partitions(&self) -> u32 {
        self.partitions.max(1)
    }

    fn reached(&self, checkpoint: &Name, sequence_number: u64) -> bool {
        self.applied
            .get(checkpoint)
            .is_some_and(|&applied| applied >= sequence_number)
    }
}

impl<P: Projector + 'static> ProjectionRunner<P> {
    /// Waits until every event up to `sequence_number` in the source has been
    /// applied: by this instance, or by any instance whose checkpoints show
    /// it. For a runner running [`partitioned`](ProjectionRunner::run_partitioned),
    /// every partition must have applied its events up to `sequence_number`;
    /// one partition racing ahead is not enough.
    ///
    /// A runner that is not running waits for the number of partitions
    /// recorded for its consumer (one if none is);
    /// [`ProjectionRunner::wait_until_partitioned`] is told the number.
    ///
    /// # Errors
    /// [`eventblocks_core::Error::Timeout`] if that takes longer than `timeout`.
    pub async fn wait_until(&self, sequence_number: u64, timeout: Duration) -> Result<()> {
        self.wait(None, sequence_number, timeout).await
    }

    /// As [`ProjectionRunner::wait_until`], for a runner run (by whichever
    /// instances) with `partitions` partitions.
    ///
    /// # Errors
    /// [`Error::PartitionCount`] if the consumer is recorded with another
    /// number of partitions; [`eventblocks_core::Error::Timeout`] after
    /// `timeout`.
    pub async fn wait_until_partitioned(
        &self,
        partitions: u32,
        sequence_number: u64,
        timeout: Duration,
    ) -> Result<()> {
        self.wait(Some(partitions), sequence_number, timeout).await
    }

    async fn wait(
        &self,
        partitions: Option<u32>,
        sequence_number: u64,
        timeout: Duration,
    ) -> Result<()> {
        let consumer = self.consumer_name()?;
        if let Some(count) = partitions {
            if let Some(recorded) = self.recorded_partitions(&consumer).await? {
                agree(&consumer, recorded, count)?;
            }
        }
        let mut progress = self.progress.subscribe();
        // The recorded number, once read: it overrides a guess.
        let mut recorded = None;
        let waiting = async {
            loop {
                let known = progress.borrow_and_update().partitions();
                let count = partitions.or(recorded).unwrap_or(known);
                if self.all_reached(&consumer, count, sequence_number).await? {
                    if partitions.is_some() || recorded.is_some() {
                        return Ok(());
                    }
                    // A guess is only trusted for the number the checkpoints
                    // were made with; read once, when it matters.
                    match self.recorded_partitions(&consumer).await? {
                        Some(number) if number != u64::from(count) => {
                            recorded = Some(count_of(number)?);
                            continue;
                        }
                        _ => return Ok(()),
                    }
                }
                let _ = tokio::time::timeout(CHECKPOINT_POLL, progress.changed()).await;
            }
        };
        tokio::time::timeout(timeout, waiting).await.map_err(|_| {
            Error::Store(eventblocks_core::Error::Timeout {
                outcome: WriteOutcome::NotWritten,
                message: format!(
                    "projector {} had not reached sequence number {sequence_number}",
                    self.projector.name()
                )
                .into(),
                source: None,
            })
        })?
    }

    /// Whether every partition has applied its events up to
    /// `sequence_number`, here or (by its durable checkpoint) elsewhere.
    async fn all_reached(
        &self,
        consumer: &Name,
        partitions: u32,
        sequence_number: u64,
    ) -> Result<bool> {
        for partition in 0..partitions {
            let checkpoint = partition_checkpoint(consumer, partition, partitions)?;
            let here = self.progress.borrow().reached(&checkpoint, sequence_number);
            if here {
                continue;
            }
            let durable = self.checkpoints.load(&checkpoint).await?;
            if durable.is_none_or(|done| done < sequence_number) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}
