//! Write conditions: what must hold for a write to go ahead, of the stream
//! written and of the events a decision depended on.

use std::fmt;
use std::ops::{BitAnd, BitOr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::head::Head;
use crate::identifier::StreamIdentifier;
use crate::query::Query;

/// The state of a stream that stream conditions are checked against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StreamState {
    /// The position of the stream's last event; `None` when the stream is empty.
    pub last_position: Option<u64>,
    /// The id of the stream's last event; `None` when the stream is empty or
    /// the adapter did not read it (it must when a condition names an id, see
    /// [`WriteCondition::needs_last_event_id`]).
    pub last_event_id: Option<Uuid>,
}

impl StreamState {
    /// The state of a stream whose last event is at `last_position`.
    pub fn new(last_position: Option<u64>) -> Self {
        Self {
            last_position,
            last_event_id: None,
        }
    }

    /// The same state, knowing the last event's id.
    #[must_use]
    pub fn with_last_event_id(mut self, id: Option<Uuid>) -> Self {
        self.last_event_id = id;
        self
    }

    /// The position the next event appended to the stream takes.
    pub fn next_position(&self) -> u64 {
        self.last_position.map_or(0, |position| position + 1)
    }
}

/// A condition checked atomically with a write; when it does not hold, nothing
/// is written and the write fails with an error that says why (see
/// [`Error::is_unmet_condition`]).
///
/// Stream conditions look at the stream written: its last position
/// ([`PositionIs`](Self::PositionIs), [`StreamIsEmpty`](Self::StreamIsEmpty),
/// [`StreamIsNotEmpty`](Self::StreamIsNotEmpty)) or its last event
/// ([`LastEventIs`](Self::LastEventIs)). Query conditions look at every event
/// a decision depended on, across streams (a consistency boundary):
/// [`NoneMatchAfter`](Self::NoneMatchAfter) and
/// [`NoneMatch`](Self::NoneMatch). Combine them with [`WriteCondition::and`] /
/// [`WriteCondition::or`] or the `&` and `|` operators:
///
/// ```
/// use eventblocks_core::{StreamState, WriteCondition};
///
/// let condition = WriteCondition::StreamIsEmpty | WriteCondition::PositionIs(Some(0));
/// assert!(condition.is_met_by(&StreamState::new(None)));
/// assert!(condition.is_met_by(&StreamState::new(Some(0))));
/// assert!(!condition.is_met_by(&StreamState::new(Some(1))));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WriteCondition {
    /// Always holds.
    #[default]
    NoCondition,
    /// The stream's last position is exactly this (`None`: the stream is empty).
    PositionIs(Option<u64>),
    /// The stream has no events.
    StreamIsEmpty,
    /// The stream has at least one event.
    StreamIsNotEmpty,
    /// The stream's last event has this id.
    LastEventIs(Uuid),
    /// No event matching the query became visible after the head: the
    /// decision made from a query read that returned `head` still stands.
    /// Unmet, the write fails with [`Error::BoundaryMoved`]: read and decide
    /// again.
    NoneMatchAfter(Query, Head),
    /// No event matching the query was ever stored: a uniqueness guard.
    /// Unmet, the write fails with [`Error::AlreadyMatched`].
    NoneMatch(Query),
    /// Both conditions hold.
    And(Box<WriteCondition>, Box<WriteCondition>),
    /// At least one of the conditions holds.
    Or(Box<WriteCondition>, Box<WriteCondition>),
}

/// A query a save must check under its locks: does an event matching it
/// exist at or above a frontier (any at all when `after` is `None`)?
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueryCheck {
    /// The events looked for.
    pub query: Query,
    /// The head the check is relative to (`None`: since the beginning).
    pub after: Option<Head>,
}

/// What an adapter found for each of a save's [`QueryCheck`]s, in the order
/// of [`SaveRequest::checks`](crate::SaveRequest::checks): the sequence
/// number of an event matching the check, or `None` when there is none.
pub type CheckResults = [Option<u64>];

impl WriteCondition {
    /// This condition and `other`.
    #[must_use]
    pub fn and(self, other: WriteCondition) -> WriteCondition {
        WriteCondition::And(Box::new(self), Box::new(other))
    }

    /// This condition or `other`.
    #[must_use]
    pub fn or(self, other: WriteCondition) -> WriteCondition {
        WriteCondition::Or(Box::new(self), Box::new(other))
    }

    /// Whether the condition holds for a stream in `state`, taking every query
    /// condition to hold: the stream part of the decision, which is what an
    /// adapter guessing the state it will find needs. Saves decide with
    /// [`SaveRequest::plan`](crate::SaveRequest::plan), which knows both.
    pub fn is_met_by(&self, state: &StreamState) -> bool {
        self.holds(state, &mut |_| None)
    }

    /// Whether the condition holds for a stream in `state`, where `found`
    /// answers each query check with the sequence number of an event matching
    /// it, if any.
    pub(crate) fn holds(
        &self,
        state: &StreamState,
        found: &mut dyn FnMut(&QueryCheck) -> Option<u64>,
    ) -> bool {
        match self {
            Self::NoCondition => true,
            Self::PositionIs(position) => state.last_position == *position,
            Self::StreamIsEmpty => state.last_position.is_none(),
            Self::StreamIsNotEmpty => state.last_position.is_some(),
            Self::LastEventIs(id) => state.last_event_id == Some(*id),
            Self::NoneMatchAfter(..) | Self::NoneMatch(_) => self
                .query_check()
                .is_none_or(|check| found(&check).is_none()),
            Self::And(left, right) => left.holds(state, found) && right.holds(state, found),
            Self::Or(left, right) => left.holds(state, found) || right.holds(state, found),
        }
    }

    /// Checks the condition for `stream` in `state` and the query checks'
    /// results.
    ///
    /// # Errors
    /// When it does not hold: [`Error::BoundaryMoved`] or
    /// [`Error::AlreadyMatched`] if a query condition failed (the first that
    /// did), else [`Error::UnmetCondition`] carrying the condition and the
    /// state found.
    pub(crate) fn verify(
        &self,
        stream: Option<&StreamIdentifier>,
        state: &StreamState,
        found: &mut dyn FnMut(&QueryCheck) -> Option<u64>,
    ) -> Result<()> {
        if self.holds(state, found) {
            return Ok(());
        }
        if let Some(error) = self.failed_query(found) {
            return Err(error);
        }
        let stream = stream.cloned().ok_or_else(|| {
            Error::invalid("condition", "a condition of the whole save names no stream")
        })?;
        Err(Error::UnmetCondition {
            stream,
            expected: self.clone(),
            found: state.last_position,
        })
    }

    /// Checks the condition for `stream` in `state`, with no query
    /// conditions.
    ///
    /// # Errors
    /// [`Error::UnmetCondition`] carrying the condition and the state found.
    pub fn check(&self, stream: &StreamIdentifier, state: &StreamState) -> Result<()> {
        self.verify(Some(stream), state, &mut |_| None)
    }

    /// The first query condition that fails, as its error.
    fn failed_query(&self, found: &mut dyn FnMut(&QueryCheck) -> Option<u64>) -> Option<Error> {
        match self {
            Self::NoneMatchAfter(query, head) => {
                let check = QueryCheck {
                    query: query.clone(),
                    after: Some(*head),
                };
                found(&check).map(|found| Error::BoundaryMoved {
                    query: query.clone(),
                    head: *head,
                    found,
                })
            }
            Self::NoneMatch(query) => {
                let check = QueryCheck {
                    query: query.clone(),
                    after: None,
                };
                found(&check).map(|found| Error::AlreadyMatched {
                    query: query.clone(),
                    found,
                })
            }
            Self::And(left, right) | Self::Or(left, right) => left
                .failed_query(found)
                .or_else(|| right.failed_query(found)),
            Self::NoCondition
            | Self::PositionIs(_)
            | Self::StreamIsEmpty
            | Self::StreamIsNotEmpty
            | Self::LastEventIs(_) => None,
        }
    }

    /// The query check of a query leaf.
    fn query_check(&self) -> Option<QueryCheck> {
        match self {
            Self::NoneMatchAfter(query, head) => Some(QueryCheck {
                query: query.clone(),
                after: Some(*head),
            }),
            Self::NoneMatch(query) => Some(QueryCheck {
                query: query.clone(),
                after: None,
            }),
            _ => None,
        }
    }

    /// Every query check of the condition, in order, each once.
    pub(crate) fn collect_checks(&self, into: &mut Vec<QueryCheck>) {
        match self {
            Self::NoneMatchAfter(..) | Self::NoneMatch(_) => {
                let check = self.query_check().unwrap_or_else(|| unreachable!());
                if !into.contains(&check) {
                    into.push(check);
                }
            }
            Self::And(left, right) | Self::Or(left, right) => {
                left.collect_checks(into);
                right.collect_checks(into);
            }
            Self::NoCondition
            | Self::PositionIs(_)
            | Self::StreamIsEmpty
            | Self::StreamIsNotEmpty
            | Self::LastEventIs(_) => {}
        }
    }

    /// Whether the condition looks at the stream's last event id, which the
    /// adapter must then read with the stream's state.
    pub fn needs_last_event_id(&self) -> bool {
        match self {
            Self::LastEventIs(_) => true,
            Self::And(left, right) | Self::Or(left, right) => {
                left.needs_last_event_id() || right.needs_last_event_id()
            }
            Self::NoCondition
            | Self::PositionIs(_)
            | Self::StreamIsEmpty
            | Self::StreamIsNotEmpty
            | Self::NoneMatchAfter(..)
            | Self::NoneMatch(_) => false,
        }
    }

    /// Whether the condition looks at the stream written (rather than only at
    /// queries), so it cannot be a condition of a whole save.
    pub(crate) fn names_a_stream(&self) -> bool {
        match self {
            Self::PositionIs(_)
            | Self::StreamIsEmpty
            | Self::StreamIsNotEmpty
            | Self::LastEventIs(_) => true,
            Self::And(left, right) | Self::Or(left, right) => {
                left.names_a_stream() || right.names_a_stream()
            }
            Self::NoCondition | Self::NoneMatchAfter(..) | Self::NoneMatch(_) => false,
        }
    }

    /// Rejects positions no backend can store (beyond `i64::MAX`).
    pub(crate) fn validate_positions(&self, field: &'static str) -> Result<()> {
        match self {
            Self::PositionIs(Some(position)) if i64::try_from(*position).is_err() => {
                Err(Error::invalid(
                    field,
                    format!(
                        "position {position} is larger than the largest storable position {}",
                        i64::MAX
                    ),
                ))
            }
            Self::And(left, right) | Self::Or(left, right) => {
                left.validate_positions(field)?;
                right.validate_positions(field)
            }
            Self::NoCondition
            | Self::StreamIsEmpty
            | Self::StreamIsNotEmpty
            | Self::PositionIs(_)
            | Self::LastEventIs(_)
            | Self::NoneMatchAfter(..)
            | Self::NoneMatch(_) => Ok(()),
        }
    }

    /// Rejects queries beyond `limits`.
    pub(crate) fn check_queries(&self, field: &str, limits: &crate::Limits) -> Result<()> {
        match self {
            Self::NoneMatchAfter(query, _) | Self::NoneMatch(query) => query.check(field, limits),
            Self::And(left, right) | Self::Or(left, right) => {
                left.check_queries(field, limits)?;
                right.check_queries(field, limits)
            }
            Self::NoCondition
            | Self::StreamIsEmpty
            | Self::StreamIsNotEmpty
            | Self::PositionIs(_)
            | Self::LastEventIs(_) => Ok(()),
        }
    }

    /// Whether the condition holds anything only an adapter offering
    /// consistency boundaries carries out (query conditions, a last event id).
    pub(crate) fn needs_boundaries(&self) -> bool {
        match self {
            Self::NoneMatchAfter(..) | Self::NoneMatch(_) | Self::LastEventIs(_) => true,
            Self::And(left, right) | Self::Or(left, right) => {
                left.needs_boundaries() || right.needs_boundaries()
            }
            Self::NoCondition
            | Self::StreamIsEmpty
            | Self::StreamIsNotEmpty
            | Self::PositionIs(_) => false,
        }
    }

    /// Every head the condition names.
    pub(crate) fn heads(&self, into: &mut Vec<Head>) {
        match self {
            Self::NoneMatchAfter(_, head) => into.push(*head),
            Self::And(left, right) | Self::Or(left, right) => {
                left.heads(into);
                right.heads(into);
            }
            Self::NoCondition
            | Self::StreamIsEmpty
            | Self::StreamIsNotEmpty
            | Self::PositionIs(_)
            | Self::LastEventIs(_)
            | Self::NoneMatch(_) => {}
        }
    }

    /// A stream state that meets the condition, read off the positions it
    /// names (an empty stream first, then each named position in turn);
    /// `None` when none of them meets it.
    ///
    /// Adapters that write optimistically, in one round trip, use it as their
    /// guess of the state they will find, and decide again from the real state
    /// when the guess was wrong.
    pub fn likely_state(&self) -> Option<StreamState> {
        let mut candidates = vec![None];
        self.named_positions(&mut candidates);
        candidates
            .into_iter()
            .map(StreamState::new)
            .find(|state| self.is_met_by(state))
    }

    fn named_positions(&self, into: &mut Vec<Option<u64>>) {
        match self {
            Self::PositionIs(position) => into.push(*position),
            // Any position will do; the real state decides.
            Self::StreamIsNotEmpty => into.push(Some(0)),
            Self::And(left, right) | Self::Or(left, right) => {
                left.named_positions(into);
                right.named_positions(into);
            }
            Self::NoCondition
            | Self::StreamIsEmpty
            | Self::LastEventIs(_)
            | Self::NoneMatchAfter(..)
            | Self::NoneMatch(_) => {}
        }
    }
}

impl BitAnd for WriteCondition {
    type Output = WriteCondition;
    fn bitand(self, other: WriteCondition) -> WriteCondition {
        self.and(other)
    }
}

impl BitOr for WriteCondition {
    type Output = WriteCondition;
    fn bitor(self, other: WriteCondition) -> WriteCondition {
        self.or(other)
    }
}

impl fmt::Display for WriteCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCondition => f.write_str("no condition"),
            Self::PositionIs(None) => f.write_str("position is none (an empty stream)"),
            Self::PositionIs(Some(position)) => write!(f, "position is {position}"),
            Self::StreamIsEmpty => f.write_str("stream is empty"),
            Self::StreamIsNotEmpty => f.write_str("stream is not empty"),
            Self::LastEventIs(id) => write!(f, "last event is {id}"),
            Self::NoneMatchAfter(query, head) => {
                write!(f, "no event matching {query} after {head}")
            }
            Self::NoneMatch(query) => write!(f, "no event matching {query}"),
            Self::And(left, right) => write!(f, "({left} and {right})"),
            Self::Or(left, right) => write!(f, "({left} or {right})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::QueryItem;
    use WriteCondition::*;

    const EMPTY: StreamState = StreamState {
        last_position: None,
        last_event_id: None,
    };
    const AT_2: StreamState = StreamState {
        last_position: Some(2),
        last_event_id: None,
    };

    #[test]
    fn leaf_conditions() {
        assert!(NoCondition.is_met_by(&EMPTY) && NoCondition.is_met_by(&AT_2));
        assert!(StreamIsEmpty.is_met_by(&EMPTY) && !StreamIsEmpty.is_met_by(&AT_2));
        assert!(!StreamIsNotEmpty.is_met_by(&EMPTY) && StreamIsNotEmpty.is_met_by(&AT_2));
        assert!(PositionIs(None).is_met_by(&EMPTY) && !PositionIs(None).is_met_by(&AT_2));
        assert!(PositionIs(Some(2)).is_met_by(&AT_2) && !PositionIs(Some(1)).is_met_by(&AT_2));
        let id = Uuid::from_u128(7);
        assert!(LastEventIs(id).is_met_by(&AT_2.with_last_event_id(Some(id))));
        assert!(!LastEventIs(id).is_met_by(&AT_2));
    }

    #[test]
    fn combinators() {
        assert!(!(StreamIsEmpty & PositionIs(Some(2))).is_met_by(&AT_2));
        assert!((StreamIsEmpty | PositionIs(Some(2))).is_met_by(&AT_2));
        assert!((NoCondition & PositionIs(Some(2))).is_met_by(&AT_2));
        assert!(!(StreamIsEmpty | PositionIs(Some(5))).is_met_by(&AT_2));
    }

    #[test]
    fn check_reports_expected_and_found() {
        let stream = StreamIdentifier::new("a", "b").unwrap();
        let error = StreamIsEmpty.check(&stream, &AT_2).unwrap_err();
        assert!(matches!(
            error,
            Error::UnmetCondition {
                found: Some(2),
                expected: StreamIsEmpty,
                ..
            }
        ));
    }

    #[test]
    fn query_conditions_report_what_they_found() {
        let query = Query::new().or(QueryItem::new().tags(["user:joe"]).unwrap());
        let head = Head::new(1, 10);
        let stream = StreamIdentifier::new("a", "b").unwrap();
        let mut matched = |_: &QueryCheck| Some(12);
        let moved = NoneMatchAfter(query.clone(), head).verify(Some(&stream), &EMPTY, &mut matched);
        assert!(matches!(moved, Err(Error::BoundaryMoved { found: 12, .. })));
        let taken =
            (StreamIsEmpty & NoneMatch(query.clone())).verify(Some(&stream), &EMPTY, &mut matched);
        assert!(matches!(
            taken,
            Err(Error::AlreadyMatched { found: 12, .. })
        ));
        let either = NoneMatch(query) | StreamIsEmpty;
        assert!(either.verify(Some(&stream), &EMPTY, &mut matched).is_ok());
    }

    #[test]
    fn positions_beyond_i64_are_invalid() {
        let condition = StreamIsEmpty | PositionIs(Some(u64::MAX));
        assert!(condition
            .validate_positions("condition")
            .unwrap_err()
            .is_invalid_input());
        assert!(PositionIs(Some(i64::MAX as u64))
            .validate_positions("condition")
            .is_ok());
    }
}
