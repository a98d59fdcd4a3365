//! What an adapter accepts and what it offers, so the store can refuse what
//! it cannot take before any I/O.

use crate::tag::DEFAULT_MAX_TAGS_PER_EVENT;

/// The default for [`Limits::max_event_bytes`]: 4 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 4 << 20;

/// The sizes an adapter accepts. [`crate::EventStore`] refuses larger input
/// with [`Error::InvalidInput`](crate::Error::InvalidInput) before the
/// adapter sees it, so one oversized request cannot tie up a connection, a
/// lock table or the log.
///
/// ```
/// use eventblocks_core::Limits;
///
/// let small = Limits::default().with_max_event_bytes(64 << 10);
/// assert_eq!(small.max_event_bytes, 64 << 10);
/// assert_eq!(small.max_tags_per_event, 64);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest event: the bytes of its payload's and metadata's JSON text
    /// together.
    pub max_event_bytes: usize,
    /// The most tags one event may carry.
    pub max_tags_per_event: usize,
    /// The most items one query may have (in a read or a condition).
    pub max_query_items: usize,
    /// The most names and tags, together, one query item may have.
    pub max_query_item_terms: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_tags_per_event: DEFAULT_MAX_TAGS_PER_EVENT,
            max_query_items: 32,
            max_query_item_terms: 32,
        }
    }
}

impl Limits {
    /// The same limits with another largest event (at least 1 byte).
    #[must_use]
    pub fn with_max_event_bytes(mut self, bytes: usize) -> Self {
        self.max_event_bytes = bytes.max(1);
        self
    }

    /// The same limits with another most tags per event.
    #[must_use]
    pub fn with_max_tags_per_event(mut self, tags: usize) -> Self {
        self.max_tags_per_event = tags;
        self
    }
}

/// What an adapter offers beyond events in streams, so the store can refuse a
/// request the adapter could not carry out, as
/// [`Error::Unsupported`](crate::Error::Unsupported), before it gets there.
///
/// The conformance kit runs the cases of what an adapter offers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Consistency boundaries: query reads with a head, query conditions
    /// ([`WriteCondition::NoneMatchAfter`](crate::WriteCondition::NoneMatchAfter),
    /// [`WriteCondition::NoneMatch`](crate::WriteCondition::NoneMatch)), the
    /// last-event-id condition, saves spanning categories, and tracked
    /// publishes.
    pub boundaries: bool,
}

impl Capabilities {
    /// Nothing beyond events in streams.
    pub fn none() -> Self {
        Self::default()
    }

    /// Everything this version of the contract describes.
    pub fn all() -> Self {
        Self { boundaries: true }
    }
}
