#![doc = include_str!("../README.md")]

mod adapter;
pub mod boundary;
mod catalogue;
mod checkpoint;
mod condition;
mod decide;
mod error;
mod event;
mod fence;
mod forward;
mod head;
mod identifier;
mod json;
mod lease;
mod limits;
pub mod metrics;
mod name_filter;
mod publish;
mod query;
mod query_read;
mod retry;
mod scan;
mod store;
mod subscription;
mod tag;
mod write;

pub use adapter::{EventStream, SerialisationGuarantee, StorageAdapter};
pub use catalogue::{
    Catalogue, CataloguePage, CatalogueQuery, CatalogueRange, CatalogueRequest, StreamSummary,
    DEFAULT_CATALOGUE_PAGE, MAX_CATALOGUE_PAGE,
};
pub use checkpoint::CheckpointStore;
pub use condition::{CheckResults, QueryCheck, StreamState, WriteCondition};
pub use decide::{DecideError, DecideOptions};
pub use error::{BoxError, Error, Result, WriteOutcome};
pub use event::{NewEvent, StoredEvent};
pub use fence::Fence;
pub use head::Head;
pub use identifier::{
    CategoryIdentifier, EventSourceIdentifier, LogIdentifier, Name, StreamIdentifier,
    MAX_NAME_BYTES,
};
pub use json::Json;
pub use lease::{partition_checkpoint, partition_of, partitions_checkpoint, Lease, Leases};
pub use limits::{Capabilities, Limits, DEFAULT_MAX_EVENT_BYTES};
pub use name_filter::{NameFilter, NamePattern};
pub use publish::Publish;
pub use query::{Query, QueryItem};
pub use query_read::{QueryOptions, QueryRead, QueryRequest};
pub use retry::{ignore_unmet_condition, retry_on_unmet_condition};
pub use scan::{Direction, ScanQuery, ScanRequest};
pub use store::{CategoryHandle, EventStore, LogHandle, StreamHandle};
pub use subscription::{SubscriptionMessage, SubscriptionOptions, SubscriptionStream, WakeUps};
pub use tag::{Tag, DEFAULT_MAX_TAGS_PER_EVENT};
pub use write::{
    SaveFacts, SavePlan, SaveRequest, StreamWrite, Tracking, MAX_EVENTS_PER_SAVE, MAX_SAVE_BYTES,
};

/// Re-exported so adapters implement [`StorageAdapter`] with the same version.
pub use async_trait::async_trait;
/// The time types of events' timestamps ([`NewEvent::with_occurred_at`],
/// [`StoredEvent::observed_at`]), re-exported so callers use the same
/// version of `chrono`.
pub use chrono::{DateTime, Utc};
/// The type of event ids ([`NewEvent::with_id`], [`StoredEvent::id`]),
/// re-exported so callers use the same version of `uuid`.
pub use uuid::Uuid;
