//! Validated write requests, and the one decision procedure every adapter
//! uses to carry them out ([`plan`]).

mod plan;
mod validate;

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::condition::{QueryCheck, WriteCondition};
use crate::error::{Error, Result};
use crate::event::NewEvent;
use crate::identifier::{CategoryIdentifier, Name, StreamIdentifier};
use crate::limits::{Capabilities, Limits};

pub use plan::{SaveFacts, SavePlan};

/// The most events one save may hold, over all its streams. Backends number a
/// transaction's events within a fixed range (PostgreSQL: 16 bits beside the
/// transaction id), and every adapter refuses the same saves.
pub const MAX_EVENTS_PER_SAVE: usize = 65_536;

/// The most bytes of payload and metadata JSON one save may hold, unless a
/// single event may be larger (see [`Limits::max_event_bytes`]): a save is
/// held in memory whole, on the client and on the server.
pub const MAX_SAVE_BYTES: usize = 64 << 20;

/// Events to append to one stream, and the condition that must hold for the
/// append to go ahead.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamWrite {
    /// The stream to append to.
    pub stream: StreamIdentifier,
    /// The events, in the order they take in the stream.
    pub events: Vec<NewEvent>,
    /// What must hold of the stream (and of any query it names) for the append
    /// to go ahead.
    pub condition: WriteCondition,
}

impl StreamWrite {
    /// Appends `events` to `stream` if `condition` holds.
    pub fn new(
        stream: StreamIdentifier,
        events: impl IntoIterator<Item = NewEvent>,
        condition: impl Into<WriteCondition>,
    ) -> Self {
        Self {
            stream,
            events: events.into_iter().collect(),
            condition: condition.into(),
        }
    }
}

/// A consumer's record, saved atomically with the events it emitted, that it
/// processed everything upstream up to `position` (see
/// [`SaveRequest::tracking`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tracking {
    /// The consumer.
    pub consumer: Name,
    /// The upstream position it processed (a sequence number of its source,
    /// for instance).
    pub position: u64,
}

/// A validated, atomic write of one or more streams.
///
/// Adapters only ever see requests that passed these checks, so bad input fails
/// the same way, before any storage is touched, on every adapter: at least one
/// stream; each stream named once; at least one event per stream (an empty
/// publish is an error, not a no-op); at most [`MAX_EVENTS_PER_SAVE`] events;
/// event ids unique within the request and not nil; metadata an object;
/// timestamps within the storable years; condition and tracked positions at
/// most `i64::MAX`; a condition of the whole save names no stream. The store also
/// checks the request against the adapter's [`Limits`] and [`Capabilities`]
/// ([`SaveRequest::check_limits`], [`SaveRequest::check_capabilities`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SaveRequest {
    writes: Vec<StreamWrite>,
    condition: WriteCondition,
    tracking: Option<Tracking>,
    checks: Vec<QueryCheck>,
}

impl SaveRequest {
    /// Validates `writes` as one atomic save.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field at fault.
    pub fn new(writes: Vec<StreamWrite>) -> Result<Self> {
        validate::writes(&writes)?;
        let mut request = Self {
            writes,
            condition: WriteCondition::NoCondition,
            tracking: None,
            checks: Vec::new(),
        };
        request.collect_checks();
        Ok(request)
    }

    /// A save of `events` to one stream.
    ///
    /// # Errors
    /// As [`SaveRequest::new`].
    pub fn single(
        stream: StreamIdentifier,
        events: impl IntoIterator<Item = NewEvent>,
        condition: impl Into<WriteCondition>,
    ) -> Result<Self> {
        Self::new(vec![StreamWrite::new(stream, events, condition)])
    }

    /// The same save, if also `condition` holds: a condition of the whole
    /// save, made of query conditions (it names no stream).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a condition that names a stream.
    pub fn with_condition(mut self, condition: impl Into<WriteCondition>) -> Result<Self> {
        let condition = condition.into();
        if condition.names_a_stream() {
            return Err(Error::invalid(
                "condition",
                "a condition of the whole save may only hold query conditions; give stream \
                 conditions to their streams' writes",
            ));
        }
        validate::condition("condition", &condition)?;
        self.condition = condition;
        self.collect_checks();
        Ok(self)
    }

    /// The same save, recording atomically with it that `consumer` processed
    /// everything upstream up to `position`. A later save tracking the same
    /// consumer at `position` or before writes nothing: a replay is recognised.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `tracking.position` for a position beyond
    /// `i64::MAX`, which no backend stores (as for condition positions).
    pub fn with_tracking(mut self, consumer: Name, position: u64) -> Result<Self> {
        if i64::try_from(position).is_err() {
            return Err(Error::invalid(
                "tracking.position",
                format!(
                    "position {position} is larger than the largest storable position {}",
                    i64::MAX
                ),
            ));
        }
        self.tracking = Some(Tracking { consumer, position });
        Ok(self)
    }

    fn collect_checks(&mut self) {
        let mut checks = Vec::new();
        self.condition.collect_checks(&mut checks);
        for write in &self.writes {
            write.condition.collect_checks(&mut checks);
        }
        self.checks = checks;
    }

    /// The writes, in request order.
    pub fn writes(&self) -> &[StreamWrite] {
        &self.writes
    }

    /// Takes the writes out.
    pub fn into_writes(self) -> Vec<StreamWrite> {
        self.writes
    }

    /// The condition of the whole save (query conditions only).
    pub fn condition(&self) -> &WriteCondition {
        &self.condition
    }

    /// The consumer position recorded with the save, if any.
    pub fn tracking(&self) -> Option<&Tracking> {
        self.tracking.as_ref()
    }

    /// Every query the conditions need checked, each once: the adapter finds,
    /// under its locks, whether an event matches each (see [`SaveFacts`]).
    pub fn checks(&self) -> &[QueryCheck] {
        &self.checks
    }

    /// The categories the save writes to, sorted.
    pub fn categories(&self) -> BTreeSet<CategoryIdentifier> {
        self.writes
            .iter()
            .map(|write| write.stream.category_identifier())
            .collect()
    }

    /// Whether the save writes to streams of more than one category.
    pub fn spans_categories(&self) -> bool {
        let first = &self.writes[0].stream.category;
        self.writes
            .iter()
            .any(|write| &write.stream.category != first)
    }

    /// Whether some stream's state must include its last event's id (a
    /// [`WriteCondition::LastEventIs`] names it).
    pub fn needs_last_event_ids(&self) -> bool {
        self.writes
            .iter()
            .any(|write| write.condition.needs_last_event_id())
    }

    /// The number of events in the request.
    pub fn event_count(&self) -> usize {
        self.writes.iter().map(|write| write.events.len()).sum()
    }

    /// Every event id in the request, in request order.
    pub fn event_ids(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.writes
            .iter()
            .flat_map(|write| write.events.iter().map(NewEvent::id))
    }

    /// The indices of the writes in the order their streams must be locked, so that
    /// concurrent saves of overlapping streams cannot deadlock.
    pub fn lock_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.writes.len()).collect();
        order.sort_by(|&a, &b| self.writes[a].stream.cmp(&self.writes[b].stream));
        order
    }

    /// Checks the request against an adapter's limits: no event larger than
    /// [`Limits::max_event_bytes`] (its payload's and metadata's JSON text
    /// together), the events together at most [`MAX_SAVE_BYTES`] (or the
    /// largest event, if larger), no event with more tags than
    /// [`Limits::max_tags_per_event`], no query beyond the query limits.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first event or condition at fault, or
    /// `events` when the save is too large.
    pub fn check_limits(&self, limits: &Limits) -> Result<()> {
        validate::limits(self, limits)
    }

    /// Checks that an adapter offering `capabilities` can carry out the
    /// request, and that its heads were read from the store `store_id`.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for a request needing what the adapter lacks;
    /// [`Error::InvalidInput`] for a head of another store.
    pub fn check_capabilities(&self, capabilities: &Capabilities, store_id: u64) -> Result<()> {
        validate::capabilities(self, capabilities, store_id)
    }
}
