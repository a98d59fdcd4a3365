//! Durable consumer checkpoints: the last sequence number a named consumer has
//! processed.

use async_trait::async_trait;

use crate::error::Result;
use crate::identifier::Name;

/// Where consumers keep their checkpoints.
///
/// # Contract
/// - [`CheckpointStore::load`] returns the last checkpoint saved for the consumer,
///   or `None` if there is none.
/// - [`CheckpointStore::advance`] only ever moves a checkpoint forwards: saving a
///   sequence number at or below the stored one changes nothing and returns
///   `false`, so a redelivered event is recognised.
#[async_trait]
pub trait CheckpointStore: Send + Sync + std::fmt::Debug + 'static {
    /// The consumer's checkpoint.
    ///
    /// # Errors
    /// Backend failures.
    async fn load(&self, consumer: &Name) -> Result<Option<u64>>;

    /// Moves the consumer's checkpoint to `sequence_number` if that is beyond the
    /// stored one; whether it moved.
    ///
    /// # Errors
    /// Backend failures.
    async fn advance(&self, consumer: &Name, sequence_number: u64) -> Result<bool>;
}

#[async_trait]
impl<T: CheckpointStore + ?Sized> CheckpointStore for std::sync::Arc<T> {
    async fn load(&self, consumer: &Name) -> Result<Option<u64>> {
        (**self).load(consumer).await
    }

    async fn advance(&self, consumer: &Name, sequence_number: u64) -> Result<bool> {
        (**self).advance(consumer, sequence_number).await
    }
}
