#![doc = include_str!("../README.md")]

mod adapter;
mod checkpoint;
mod condition;
mod error;
mod event;
mod fence;
mod forward;
mod identifier;
mod json;
mod lease;
mod retry;
mod scan;
mod store;
mod subscription;
mod write;

pub use adapter::{EventStream, SerialisationGuarantee, StorageAdapter, DEFAULT_MAX_EVENT_BYTES};
pub use checkpoint::CheckpointStore;
pub use condition::{StreamState, WriteCondition};
pub use error::{BoxError, Error, Result, WriteOutcome};
pub use event::{NewEvent, StoredEvent};
pub use fence::Fence;
pub use identifier::{
    CategoryIdentifier, EventSourceIdentifier, LogIdentifier, Name, StreamIdentifier,
    MAX_NAME_BYTES,
};
pub use json::Json;
pub use lease::{partition_checkpoint, partition_of, partitions_checkpoint, Lease, Leases};
pub use retry::{ignore_unmet_condition, retry_on_unmet_condition};
pub use scan::{Direction, ScanQuery, ScanRequest};
pub use store::{CategoryHandle, EventStore, LogHandle, StreamHandle};
pub use subscription::{SubscriptionMessage, SubscriptionOptions, SubscriptionStream, WakeUps};
pub use write::{SavePlan, SaveRequest, StreamWrite, MAX_EVENTS_PER_SAVE, MAX_SAVE_BYTES};

/// Re-exported so adapters implement [`StorageAdapter`] with the same version.
pub use async_trait::async_trait;
