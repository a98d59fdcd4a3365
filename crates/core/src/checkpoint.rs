//! Durable consumer checkpoints: the last sequence number a named consumer has
//! processed.

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::Result;
use crate::fence::Fence;
use crate::identifier::Name;

/// Where consumers keep their checkpoints.
///
/// # Contract
/// - [`CheckpointStore::load`] returns the last checkpoint saved for the consumer,
///   or `None` if there is none.
/// - [`CheckpointStore::advance`] only ever moves a checkpoint forwards: saving a
///   sequence number at or below the stored one changes nothing and returns
///   `false`, so a redelivered event is recognised.
/// - **Fencing.** A write made under a lease carries the lease's [`Fence`]. The
///   store keeps the newest token it has seen for each (consumer, partition) of
///   a fence, and refuses a write whose token is older than that with
///   [`Error::Fenced`](crate::Error::Fenced), writing nothing. The check and the
///   write are one atomic step: no write with an older token can land after
///   one with a newer token, whatever the interleaving of processes. A write
///   with a newer (or the first) token makes it the newest. Writes without a
///   fence (a consumer running alone) are not checked.
///
/// The fence is a required parameter of every write, rather than an optional
/// extra method, so that a store cannot forget it: an implementation must
/// decide what to do with it.
#[async_trait]
pub trait CheckpointStore: Send + Sync + std::fmt::Debug + 'static {
    /// The consumer's checkpoint.
    ///
    /// # Errors
    /// Backend failures.
    async fn load(&self, consumer: &Name) -> Result<Option<u64>>;

    /// Moves the consumer's checkpoint to `sequence_number` if that is beyond the
    /// stored one; whether it moved. `fence` is the lease the write is made
    /// under, if any.
    ///
    /// # Errors
    /// [`Error::Fenced`](crate::Error::Fenced) if `fence` is older than the
    /// newest token seen for its partition; backend failures.
    async fn advance(
        &self,
        consumer: &Name,
        sequence_number: u64,
        fence: Option<&Fence>,
    ) -> Result<bool>;
}

crate::__forward_trait!(CheckpointStore, [Arc, Box] {
    async fn load(&self, consumer: &Name) -> Result<Option<u64>>;
    async fn advance(&self, consumer: &Name, sequence_number: u64, fence: Option<&Fence>) -> Result<bool>;
});
