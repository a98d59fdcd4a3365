//! Projection metadata: bookkeeping updated with every event folded.

use chrono::{DateTime, Utc};
use eventblocks_core::StoredEvent;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Metadata a projector keeps beside its state.
pub trait ProjectionMetadata: Serialize + DeserializeOwned + Send + Sync {
    /// The metadata before any event.
    fn initial() -> Self;

    /// Records that `event` was folded.
    fn record(&mut self, event: &StoredEvent);

    /// The sequence number of the last event folded, if the metadata keeps it.
    /// A [`ProjectionRunner`](crate::ProjectionRunner) uses it to recognise an
    /// event it already applied (after a crash between saving the projection
    /// and its checkpoint); without it, such an event is applied again.
    fn last_sequence_number(&self) -> Option<u64> {
        None
    }
}

/// The usual metadata: how far the fold got and when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracked {
    /// The sequence number of the last event folded.
    pub last_sequence_number: Option<u64>,
    /// How many events were folded.
    pub events: u64,
    /// When the last event folded was observed by the store.
    pub updated_at: Option<DateTime<Utc>>,
}

impl ProjectionMetadata for Tracked {
    fn initial() -> Self {
        Self::default()
    }

    fn record(&mut self, event: &StoredEvent) {
        self.last_sequence_number = Some(event.sequence_number);
        self.events += 1;
        self.updated_at = Some(event.observed_at);
    }

    fn last_sequence_number(&self) -> Option<u64> {
        self.last_sequence_number
    }
}

/// No metadata.
impl ProjectionMetadata for () {
    fn initial() -> Self {}

    fn record(&mut self, _event: &StoredEvent) {}
}
