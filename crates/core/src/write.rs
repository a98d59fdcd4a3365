//! Validated write requests and the one decision procedure every adapter uses
//! to carry them out.

use std::collections::{HashMap, HashSet};

use uuid::Uuid;

use crate::condition::{StreamState, WriteCondition};
use crate::error::{Error, Result};
use crate::event::{NewEvent, StoredEvent};
use crate::identifier::{CategoryIdentifier, StreamIdentifier};

/// The most events one save may hold, over all its streams. Backends number a
/// transaction's events within a fixed range (PostgreSQL: 16 bits beside the
/// transaction id), and every adapter refuses the same saves.
pub const MAX_EVENTS_PER_SAVE: usize = 65_536;

/// The most bytes of payload and metadata JSON one save may hold, unless a
/// single event may be larger (see
/// [`StorageAdapter::max_event_bytes`](crate::StorageAdapter::max_event_bytes)):
/// a save is held in memory whole, on the client and on the server.
pub const MAX_SAVE_BYTES: usize = 64 << 20;

/// Events to append to one stream, and the condition the stream must meet.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamWrite {
    /// The stream to append to.
    pub stream: StreamIdentifier,
    /// The events, in the order they take in the stream.
    pub events: Vec<NewEvent>,
    /// What must hold of the stream for the append to go ahead.
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

/// A validated, atomic write of one or more streams of one category.
///
/// Adapters only ever see requests that passed these checks, so bad input fails
/// the same way, before any storage is touched, on every adapter: at least one
/// stream; streams all in one category and each named once; at least one event
/// per stream (an empty publish is an error, not a no-op); at most
/// [`MAX_EVENTS_PER_SAVE`] events; event ids unique within the request and not
/// nil; metadata an object; timestamps within the storable years; condition
/// positions at most `i64::MAX`.
#[derive(Debug, Clone, PartialEq)]
pub struct SaveRequest {
    category: CategoryIdentifier,
    writes: Vec<StreamWrite>,
}

/// What an adapter must do to carry out a [`SaveRequest`], decided by
/// [`SaveRequest::plan`].
#[derive(Debug, Clone, PartialEq)]
pub enum SavePlan {
    /// Append each write's events starting at the given position (one entry per
    /// write, in request order).
    Append(Vec<u64>),
    /// The request is a retry of a save that was already stored: return these
    /// events (in request order) and write nothing.
    AlreadyStored(Vec<StoredEvent>),
}

impl SaveRequest {
    /// Validates `writes` as one atomic save.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field at fault.
    pub fn new(writes: Vec<StreamWrite>) -> Result<Self> {
        let first = writes
            .first()
            .ok_or_else(|| Error::invalid("writes", "a save needs at least one stream"))?;
        let category = first.stream.category_identifier();
        let mut streams = HashSet::new();
        let mut ids = HashSet::new();
        for write in &writes {
            check_write(write, &category, &mut streams, &mut ids)?;
        }
        if ids.len() > MAX_EVENTS_PER_SAVE {
            return Err(Error::invalid(
                "events",
                format!(
                    "a save of {} events is too large; at most {MAX_EVENTS_PER_SAVE} are accepted",
                    ids.len()
                ),
            ));
        }
        Ok(Self { category, writes })
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

    /// The category every written stream belongs to.
    pub fn category(&self) -> &CategoryIdentifier {
        &self.category
    }

    /// The writes, in request order.
    pub fn writes(&self) -> &[StreamWrite] {
        &self.writes
    }

    /// Takes the writes out.
    pub fn into_writes(self) -> Vec<StreamWrite> {
        self.writes
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

    /// Decides how to carry out the request.
    ///
    /// `states` holds each write's stream state (in request order) read under the
    /// serialisation lock; `stored` holds every already stored event, of any stream,
    /// whose id is one of the request's ([`SaveRequest::event_ids`]).
    ///
    /// # Errors
    /// [`Error::UnmetCondition`] for the first write whose condition fails;
    /// [`Error::EventIdConflict`] if some ids are stored but the request is not an
    /// exact retry of that save.
    pub fn plan(&self, states: &[StreamState], stored: &[StoredEvent]) -> Result<SavePlan> {
        assert_eq!(
            states.len(),
            self.writes.len(),
            "one stream state per write"
        );
        if stored.is_empty() {
            return self.plan_append(states);
        }
        self.plan_retry(states, stored)
    }

    fn plan_append(&self, states: &[StreamState]) -> Result<SavePlan> {
        for (write, state) in self.writes.iter().zip(states) {
            write.condition.check(&write.stream, state)?;
        }
        Ok(SavePlan::Append(
            states.iter().map(StreamState::next_position).collect(),
        ))
    }

    fn plan_retry(&self, states: &[StreamState], stored: &[StoredEvent]) -> Result<SavePlan> {
        let by_id: HashMap<Uuid, &StoredEvent> =
            stored.iter().map(|event| (event.id, event)).collect();
        // Name an id that is stored when the request is only partly stored.
        let stored_id = self
            .event_ids()
            .find(|id| by_id.contains_key(id))
            .unwrap_or_default();
        let mut found = Vec::with_capacity(self.event_count());
        for (write, state) in self.writes.iter().zip(states) {
            found.extend(retried_events(write, state, &by_id, stored_id)?);
        }
        Ok(SavePlan::AlreadyStored(found))
    }
}

impl SaveRequest {
    /// Checks that no event is larger than `max_event_bytes` (its payload's and
    /// metadata's JSON text together; see
    /// [`StorageAdapter::max_event_bytes`](crate::StorageAdapter::max_event_bytes)),
    /// and that the events together are at most [`MAX_SAVE_BYTES`] (or
    /// `max_event_bytes`, if larger).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the first event that is too large, or
    /// `events` when the save is.
    pub fn check_event_sizes(&self, max_event_bytes: usize) -> Result<()> {
        let mut total = 0;
        for write in &self.writes {
            for (index, event) in write.events.iter().enumerate() {
                let size = event.payload().as_str().len() + event.metadata().as_str().len();
                total += size;
                if size > max_event_bytes {
                    return Err(Error::invalid(
                        format!("events[{index}]"),
                        format!(
                            "the event for stream {} is {size} bytes of payload and metadata \
                             together; at most {max_event_bytes} are accepted",
                            write.stream
                        ),
                    ));
                }
            }
        }
        let max_save_bytes = MAX_SAVE_BYTES.max(max_event_bytes);
        if total > max_save_bytes {
            return Err(Error::invalid(
                "events",
                format!(
                    "the save holds {total} bytes of payload and metadata; at most \
                     {max_save_bytes} are accepted in one save"
                ),
            ));
        }
        Ok(())
    }
}

fn check_write(
    write: &StreamWrite,
    category: &CategoryIdentifier,
    streams: &mut HashSet<StreamIdentifier>,
    ids: &mut HashSet<Uuid>,
) -> Result<()> {
    if write.stream.category != category.category {
        return Err(Error::invalid(
            "writes",
            format!(
                "all streams of one save must be in one category; found {} and {}",
                category, write.stream.category
            ),
        ));
    }
    if !streams.insert(write.stream.clone()) {
        return Err(Error::invalid(
            "writes",
            format!("stream {} appears more than once", write.stream),
        ));
    }
    if write.events.is_empty() {
        return Err(Error::invalid(
            "events",
            "a publish needs at least one event",
        ));
    }
    write.condition.validate("condition")?;
    for (index, event) in write.events.iter().enumerate() {
        event.validate(index)?;
        if !ids.insert(event.id()) {
            return Err(Error::invalid(
                format!("events[{index}].id"),
                format!("event id {} appears more than once in one save", event.id()),
            ));
        }
    }
    Ok(())
}

/// The stored events of `write` if it is an exact retry of a stored publish.
fn retried_events(
    write: &StreamWrite,
    state: &StreamState,
    by_id: &HashMap<Uuid, &StoredEvent>,
    stored_id: Uuid,
) -> Result<Vec<StoredEvent>> {
    let mut found = Vec::with_capacity(write.events.len());
    for event in &write.events {
        let Some(stored) = by_id.get(&event.id()) else {
            return Err(Error::EventIdConflict {
                id: stored_id,
                reason: "only some of the events of this save are already stored, so it is not a retry of one save".into(),
            });
        };
        check_same_event(write, event, stored, found.last())?;
        found.push((*stored).clone());
    }
    let first = found[0].position;
    let state_before = StreamState::new(first.checked_sub(1));
    if !write.condition.is_met_by(&state_before) {
        // The events are stored, but not where a retry of this call would put them.
        write.condition.check(&write.stream, state)?;
    }
    Ok(found)
}

fn check_same_event(
    write: &StreamWrite,
    event: &NewEvent,
    stored: &StoredEvent,
    previous: Option<&StoredEvent>,
) -> Result<()> {
    let conflict = |reason: String| Error::EventIdConflict {
        id: event.id(),
        reason: reason.into(),
    };
    if stored.stream != write.stream {
        return Err(conflict(format!(
            "it is stored in stream {}, not {}",
            stored.stream, write.stream
        )));
    }
    if !event.has_same_content_as(stored) {
        return Err(conflict(
            "it is stored with a different name, payload or metadata".to_owned(),
        ));
    }
    if previous.is_some_and(|previous| previous.position + 1 != stored.position) {
        return Err(conflict(
            "the events are stored in a different order or apart".to_owned(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use WriteCondition::*;

    fn stream(name: &str) -> StreamIdentifier {
        StreamIdentifier::new("orders", name).unwrap()
    }

    fn event(name: &str) -> NewEvent {
        NewEvent::new(name, &json!({"n": name})).unwrap()
    }

    fn stored(events: &[NewEvent], on: &StreamIdentifier, first: u64) -> Vec<StoredEvent> {
        let at = |i: usize| first + u64::try_from(i).unwrap();
        events
            .iter()
            .enumerate()
            .map(|(i, e)| e.clone().into_stored(on.clone(), at(i), at(i) + 100))
            .collect()
    }

    #[test]
    fn rejects_bad_requests() {
        let invalid = |writes| SaveRequest::new(writes).unwrap_err().to_string();
        assert_eq!(
            invalid(vec![]),
            "invalid writes: a save needs at least one stream"
        );
        assert_eq!(
            invalid(vec![StreamWrite::new(stream("a"), [], NoCondition)]),
            "invalid events: a publish needs at least one event"
        );
        let other = StreamIdentifier::new("users", "a").unwrap();
        assert!(invalid(vec![
            StreamWrite::new(stream("a"), [event("x")], NoCondition),
            StreamWrite::new(other, [event("x")], NoCondition)
        ])
        .contains("one category"));
        let e = event("x");
        assert!(invalid(vec![StreamWrite::new(
            stream("a"),
            [e.clone(), e],
            NoCondition
        )])
        .contains("more than once"));
        assert!(invalid(vec![StreamWrite::new(
            stream("a"),
            [event("x")],
            PositionIs(Some(u64::MAX))
        )])
        .contains("largest storable"));
    }

    #[test]
    fn plans_appends_after_the_last_position() {
        let request = SaveRequest::new(vec![
            StreamWrite::new(stream("a"), [event("x")], StreamIsEmpty),
            StreamWrite::new(stream("b"), [event("y")], PositionIs(Some(3))),
        ])
        .unwrap();
        let plan = request
            .plan(&[StreamState::new(None), StreamState::new(Some(3))], &[])
            .unwrap();
        assert_eq!(plan, SavePlan::Append(vec![0, 4]));
        let error = request
            .plan(&[StreamState::new(None), StreamState::new(Some(4))], &[])
            .unwrap_err();
        assert!(matches!(
            error,
            Error::UnmetCondition { found: Some(4), .. }
        ));
    }

    #[test]
    fn recognises_an_exact_retry() {
        let events = vec![event("x"), event("y")];
        let request =
            SaveRequest::single(stream("a"), events.clone(), PositionIs(Some(1))).unwrap();
        let already = stored(&events, &stream("a"), 2);
        let plan = request
            .plan(&[StreamState::new(Some(3))], &already)
            .unwrap();
        assert_eq!(plan, SavePlan::AlreadyStored(already));
    }

    #[test]
    fn refuses_retries_that_differ() {
        let events = vec![event("x"), event("y")];
        let request = SaveRequest::single(stream("a"), events.clone(), NoCondition).unwrap();
        let state = [StreamState::new(Some(1))];
        let elsewhere = stored(&events, &stream("b"), 0);
        assert!(matches!(
            request.plan(&state, &elsewhere),
            Err(Error::EventIdConflict { .. })
        ));
        let partial = stored(&events[..1], &stream("a"), 0);
        assert!(matches!(
            request.plan(&state, &partial),
            Err(Error::EventIdConflict { .. })
        ));
        let mut changed = stored(&events, &stream("a"), 0);
        changed[1].payload = crate::Json::to_json("payload", &1).unwrap();
        assert!(request
            .plan(&state, &changed)
            .unwrap_err()
            .to_string()
            .contains("different name, payload"));
        let conditional = SaveRequest::single(stream("a"), events.clone(), StreamIsEmpty).unwrap();
        let later = stored(&events, &stream("a"), 5);
        assert!(conditional
            .plan(&[StreamState::new(Some(6))], &later)
            .unwrap_err()
            .is_unmet_condition());
    }

    #[test]
    fn locks_streams_in_name_order() {
        let request = SaveRequest::new(vec![
            StreamWrite::new(stream("c"), [event("x")], NoCondition),
            StreamWrite::new(stream("a"), [event("x")], NoCondition),
            StreamWrite::new(stream("b"), [event("x")], NoCondition),
        ])
        .unwrap();
        assert_eq!(request.lock_order(), vec![1, 2, 0]);
    }
}
