//! The one decision every adapter makes the same way: given what it found
//! under its locks, append, return the events of an idempotent retry, write
//! nothing for a replayed tracked save, or fail.

use std::collections::HashMap;

use uuid::Uuid;

use super::{SaveRequest, StreamWrite};
use crate::condition::{QueryCheck, StreamState};
use crate::error::{Error, Result};
use crate::event::{NewEvent, StoredEvent};

/// What an adapter found, under its serialisation locks, for a
/// [`SaveRequest`]: everything [`SaveRequest::plan`] decides from.
#[derive(Debug, Clone, Copy)]
pub struct SaveFacts<'a> {
    states: &'a [StreamState],
    stored: &'a [StoredEvent],
    matches: &'a [Option<u64>],
    tracked: Option<u64>,
}

impl<'a> SaveFacts<'a> {
    /// `states` holds each write's stream state (in request order; with the
    /// last event's id when [`SaveRequest::needs_last_event_ids`]); `stored`
    /// every already stored event, of any stream, whose id is one of the
    /// request's ([`SaveRequest::event_ids`]).
    pub fn new(states: &'a [StreamState], stored: &'a [StoredEvent]) -> Self {
        Self {
            states,
            stored,
            matches: &[],
            tracked: None,
        }
    }

    /// For each of [`SaveRequest::checks`], in order, the sequence number of a
    /// stored event matching it (`None`: none does).
    #[must_use]
    pub fn with_matches(mut self, matches: &'a [Option<u64>]) -> Self {
        self.matches = matches;
        self
    }

    /// The position last tracked for the request's consumer (see
    /// [`SaveRequest::tracking`]), if any.
    #[must_use]
    pub fn with_tracked(mut self, tracked: Option<u64>) -> Self {
        self.tracked = tracked;
        self
    }

    fn found(&self, checks: &[QueryCheck], check: &QueryCheck) -> Option<u64> {
        let index = checks.iter().position(|known| known == check)?;
        self.matches.get(index).copied().flatten()
    }
}

/// What an adapter must do to carry out a [`SaveRequest`], decided by
/// [`SaveRequest::plan`]. Deliberately exhaustive: an adapter must handle
/// every plan, and a new one fails its build rather than passing silently.
#[derive(Debug, Clone, PartialEq)]
pub enum SavePlan {
    /// Append each write's events starting at the given position (one entry per
    /// write, in request order), and record the tracking, if any.
    Append(Vec<u64>),
    /// The request is a retry of a save that was already stored: return these
    /// events (in request order) and write nothing.
    AlreadyStored(Vec<StoredEvent>),
    /// The request's consumer already tracked its position (a replay): write
    /// nothing and return no events.
    AlreadyTracked,
}

impl SaveRequest {
    /// Decides how to carry out the request from what the adapter found.
    ///
    /// # Errors
    /// [`Error::UnmetCondition`], [`Error::BoundaryMoved`] or
    /// [`Error::AlreadyMatched`] for the first condition that fails;
    /// [`Error::EventIdConflict`] if some ids are stored but the request is not
    /// an exact retry of that save.
    ///
    /// # Panics
    /// If `facts` does not hold one stream state per write: a bug of the
    /// adapter's.
    pub fn plan(&self, facts: SaveFacts<'_>) -> Result<SavePlan> {
        assert_eq!(
            facts.states.len(),
            self.writes.len(),
            "one stream state per write"
        );
        if !facts.stored.is_empty() {
            return self.plan_retry(facts.states, facts.stored);
        }
        let replayed = self
            .tracking
            .as_ref()
            .is_some_and(|tracking| facts.tracked.is_some_and(|done| done >= tracking.position));
        if replayed {
            return Ok(SavePlan::AlreadyTracked);
        }
        let mut found = |check: &QueryCheck| facts.found(&self.checks, check);
        self.condition
            .verify(None, &StreamState::default(), &mut found)?;
        for (write, state) in self.writes.iter().zip(facts.states) {
            write
                .condition
                .verify(Some(&write.stream), state, &mut found)?;
        }
        Ok(SavePlan::Append(
            facts
                .states
                .iter()
                .map(StreamState::next_position)
                .collect(),
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

/// The stored events of `write` if it is an exact retry of a stored publish.
/// Query conditions are not checked again: the events they guarded are the
/// retried save's own.
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
            "it is stored with a different name, tags, payload or metadata".to_owned(),
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
    use crate::condition::WriteCondition::{self, *};
    use crate::head::Head;
    use crate::identifier::{Name, StreamIdentifier};
    use crate::query::{Query, QueryItem};
    use crate::write::StreamWrite;
    use serde_json::json;

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

    fn plan(
        request: &SaveRequest,
        states: &[StreamState],
        stored: &[StoredEvent],
    ) -> Result<SavePlan> {
        request.plan(SaveFacts::new(states, stored))
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
        let request = SaveRequest::single(stream("a"), [event("x")], NoCondition).unwrap();
        assert!(request
            .with_condition(StreamIsEmpty)
            .unwrap_err()
            .is_invalid_input());
    }

    #[test]
    fn plans_appends_after_the_last_position() {
        let request = SaveRequest::new(vec![
            StreamWrite::new(stream("a"), [event("x")], StreamIsEmpty),
            StreamWrite::new(stream("b"), [event("y")], PositionIs(Some(3))),
        ])
        .unwrap();
        let planned = plan(
            &request,
            &[StreamState::new(None), StreamState::new(Some(3))],
            &[],
        );
        assert_eq!(planned.unwrap(), SavePlan::Append(vec![0, 4]));
        let error = plan(
            &request,
            &[StreamState::new(None), StreamState::new(Some(4))],
            &[],
        )
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
        let planned = plan(&request, &[StreamState::new(Some(3))], &already).unwrap();
        assert_eq!(planned, SavePlan::AlreadyStored(already));
    }

    #[test]
    fn refuses_retries_that_differ() {
        let events = vec![event("x"), event("y")];
        let request = SaveRequest::single(stream("a"), events.clone(), NoCondition).unwrap();
        let state = [StreamState::new(Some(1))];
        let elsewhere = stored(&events, &stream("b"), 0);
        assert!(matches!(
            plan(&request, &state, &elsewhere),
            Err(Error::EventIdConflict { .. })
        ));
        let partial = stored(&events[..1], &stream("a"), 0);
        assert!(matches!(
            plan(&request, &state, &partial),
            Err(Error::EventIdConflict { .. })
        ));
        let mut changed = stored(&events, &stream("a"), 0);
        changed[1].payload = crate::Json::to_json("payload", &1).unwrap();
        assert!(plan(&request, &state, &changed)
            .unwrap_err()
            .to_string()
            .contains("different name, tags, payload"));
        let conditional = SaveRequest::single(stream("a"), events.clone(), StreamIsEmpty).unwrap();
        let later = stored(&events, &stream("a"), 5);
        assert!(plan(&conditional, &[StreamState::new(Some(6))], &later)
            .unwrap_err()
            .is_unmet_condition());
    }

    fn boundary() -> (Query, Head) {
        let query = Query::new().or(QueryItem::new().tags(["course:c1"]).unwrap());
        (query, Head::new(0, 10))
    }

    #[test]
    fn query_conditions_decide_from_what_the_adapter_found() {
        let (query, head) = boundary();
        let request = SaveRequest::single(
            stream("a"),
            [event("x")],
            WriteCondition::NoneMatchAfter(query.clone(), head) & StreamIsEmpty,
        )
        .unwrap()
        .with_condition(WriteCondition::NoneMatch(query.clone()))
        .unwrap();
        assert_eq!(request.checks().len(), 2, "each check once");
        let states = [StreamState::new(None)];
        let facts = SaveFacts::new(&states, &[]);
        assert_eq!(
            request.plan(facts.with_matches(&[None, None])).unwrap(),
            SavePlan::Append(vec![0])
        );
        let moved = request
            .plan(facts.with_matches(&[None, Some(11)]))
            .unwrap_err();
        assert!(
            matches!(moved, Error::BoundaryMoved { found: 11, .. }),
            "{moved:?}"
        );
        let taken = request
            .plan(facts.with_matches(&[Some(3), None]))
            .unwrap_err();
        assert!(
            matches!(taken, Error::AlreadyMatched { found: 3, .. }),
            "{taken:?}"
        );
        assert!(taken.is_unmet_condition() && !taken.should_decide_again());
        assert!(moved.should_decide_again());
    }

    #[test]
    fn a_retry_of_a_query_conditioned_save_is_recognised() {
        let (query, head) = boundary();
        let events = vec![event("x")];
        let request = SaveRequest::single(
            stream("a"),
            events.clone(),
            WriteCondition::NoneMatchAfter(query, head),
        )
        .unwrap();
        let already = stored(&events, &stream("a"), 0);
        let states = [StreamState::new(Some(0))];
        let facts = SaveFacts::new(&states, &already);
        // The event found matching the boundary is the save's own.
        let planned = request.plan(facts.with_matches(&[Some(100)])).unwrap();
        assert_eq!(planned, SavePlan::AlreadyStored(already));
    }

    #[test]
    fn a_replayed_tracked_save_writes_nothing() {
        let consumer = Name::new("consumer", "emails").unwrap();
        let request = SaveRequest::single(stream("a"), [event("x")], NoCondition)
            .unwrap()
            .with_tracking(consumer.clone(), 7)
            .unwrap();
        let states = [StreamState::new(None)];
        let facts = SaveFacts::new(&states, &[]);
        assert_eq!(
            request.plan(facts.with_tracked(Some(7))).unwrap(),
            SavePlan::AlreadyTracked
        );
        assert_eq!(
            request.plan(facts.with_tracked(Some(6))).unwrap(),
            SavePlan::Append(vec![0])
        );
        assert_eq!(request.plan(facts).unwrap(), SavePlan::Append(vec![0]));
        let beyond = SaveRequest::single(stream("a"), [event("x")], NoCondition)
            .unwrap()
            .with_tracking(consumer, u64::MAX);
        assert!(beyond.unwrap_err().is_invalid_input());
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
