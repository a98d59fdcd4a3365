//! The arguments of the save function (`{table}_save_with_tags` in the
//! migrations): one array per column, so a publish of any size binds the same
//! twenty-three parameters.

use chrono::{DateTime, Utc};
use eventblocks_core::{QueryCheck, SaveRequest, StreamState, WriteCondition};
use serde_json::json;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// What a save was decided against: each write's stream state, and whether
/// each query check found a match.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expected {
    pub(crate) states: Vec<ExpectedState>,
    pub(crate) found: Vec<bool>,
}

/// The stream state a write was decided against.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExpectedState {
    /// The write goes ahead whatever the stream holds (`NoCondition`).
    AnyState,
    /// The stream's last position must be this.
    Last(Option<u64>),
}

impl Expected {
    /// A first guess from the conditions alone: a write whose condition names
    /// a state is most likely made when the stream is in it, and a query
    /// condition most likely finds nothing. Every state guessed meets its
    /// write's stream condition; `None` when some condition names no state
    /// that meets it (it cannot hold, and core must say why).
    pub(crate) fn guess(request: &SaveRequest) -> Option<Self> {
        let states = request
            .writes()
            .iter()
            .map(|write| match &write.condition {
                condition if !reads_the_stream(condition) => Some(ExpectedState::AnyState),
                condition => condition
                    .likely_state()
                    .map(|state| ExpectedState::Last(state.last_position)),
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self {
            states,
            found: vec![false; request.checks().len()],
        })
    }

    /// Exactly what was found.
    pub(crate) fn found(states: &[StreamState], matches: &[Option<u64>]) -> Self {
        Self {
            states: states
                .iter()
                .map(|state| ExpectedState::Last(state.last_position))
                .collect(),
            found: matches.iter().map(Option::is_some).collect(),
        }
    }
}

/// Whether `condition` depends on its stream's state: a condition made only
/// of query leaves holds or not whatever the stream holds, so its write is
/// made in any state (and the position it takes is still read under the
/// stream's lock).
fn reads_the_stream(condition: &WriteCondition) -> bool {
    match condition {
        WriteCondition::NoCondition
        | WriteCondition::NoneMatchAfter(..)
        | WriteCondition::NoneMatch(_) => false,
        WriteCondition::And(left, right) | WriteCondition::Or(left, right) => {
            reads_the_stream(left) || reads_the_stream(right)
        }
        _ => true,
    }
}

/// The query checks as the save function reads them (see `find_probing` in
/// the migrations): flat arrays, frontiers in sequence numbers.
#[derive(Debug, Default)]
pub(crate) struct Checks<'a> {
    frontiers: Vec<Option<i64>>,
    /// The check (1-based) of each item.
    item_checks: Vec<i32>,
    /// Where each item's tags and names end in `tags` and `names`.
    tag_ends: Vec<i32>,
    name_ends: Vec<i32>,
    tags: Vec<&'a str>,
    names: Vec<&'a str>,
}

impl<'a> Checks<'a> {
    pub(crate) fn new(checks: &'a [QueryCheck]) -> Self {
        let mut flat = Self::default();
        for (index, check) in (1i32..).zip(checks) {
            // Heads beyond i64 are refused before a save is planned.
            let frontier = check
                .after
                .map(|head| i64::try_from(head.frontier()).unwrap_or(i64::MAX));
            flat.frontiers.push(frontier);
            if check.query.items().is_empty() {
                // Matches every event: one item with neither tags nor names.
                flat.item(index);
            }
            for item in check.query.items() {
                flat.tags
                    .extend(item.tag_set().iter().map(|tag| tag.as_str()));
                flat.names
                    .extend(item.name_set().iter().map(|name| name.as_str()));
                flat.item(index);
            }
        }
        flat
    }

    /// Ends an item of check `index` at what was pushed so far.
    fn item(&mut self, index: i32) {
        // Bounded by the limits on queries, far below i32::MAX.
        let end = |terms: usize| i32::try_from(terms).unwrap_or(i32::MAX);
        self.item_checks.push(index);
        self.tag_ends.push(end(self.tags.len()));
        self.name_ends.push(end(self.names.len()));
    }

    /// In `sql/events/find_matches.sql`'s order.
    pub(crate) fn parameters(&self) -> [&(dyn ToSql + Sync); 6] {
        [
            &self.frontiers,
            &self.item_checks,
            &self.tag_ends,
            &self.name_ends,
            &self.tags,
            &self.names,
        ]
    }
}

/// The save function's arguments for one request.
pub(crate) struct Arguments<'a> {
    lock_keys: Vec<String>,
    categories: Vec<&'a str>,
    streams: Vec<&'a str>,
    expected_last: Vec<Option<i64>>,
    any_state: Vec<bool>,
    event_streams: Vec<i32>,
    event_offsets: Vec<i64>,
    ids: Vec<Uuid>,
    names: Vec<&'a str>,
    payloads: Vec<&'a str>,
    metadata: Vec<&'a str>,
    occurred_at: Vec<DateTime<Utc>>,
    observed_at: Vec<DateTime<Utc>>,
    tags: Vec<String>,
    checks: Checks<'a>,
    expected_found: Vec<bool>,
    tracking_consumer: Option<&'a str>,
    tracking_position: Option<i64>,
}

impl<'a> Arguments<'a> {
    pub(crate) fn new(
        request: &'a SaveRequest,
        lock_keys: Vec<String>,
        expected: &Expected,
    ) -> Self {
        let count = request.event_count();
        let writes = request.writes().len();
        let tracking = request.tracking();
        let mut arguments = Self {
            lock_keys,
            categories: Vec::with_capacity(writes),
            streams: Vec::with_capacity(writes),
            expected_last: Vec::with_capacity(writes),
            any_state: Vec::with_capacity(writes),
            event_streams: Vec::with_capacity(count),
            event_offsets: Vec::with_capacity(count),
            ids: Vec::with_capacity(count),
            names: Vec::with_capacity(count),
            payloads: Vec::with_capacity(count),
            metadata: Vec::with_capacity(count),
            occurred_at: Vec::with_capacity(count),
            observed_at: Vec::with_capacity(count),
            tags: Vec::with_capacity(count),
            checks: Checks::new(request.checks()),
            expected_found: expected.found.clone(),
            tracking_consumer: tracking.map(|tracking| tracking.consumer.as_str()),
            // Positions beyond i64 are refused as the request is built.
            tracking_position: tracking.and_then(|tracking| i64::try_from(tracking.position).ok()),
        };
        for ((index, write), expected) in (1i32..).zip(request.writes()).zip(&expected.states) {
            arguments.categories.push(write.stream.category.as_str());
            arguments.streams.push(write.stream.stream.as_str());
            let (last, any) = match expected {
                ExpectedState::AnyState => (None, true),
                // Positions were validated to fit in an i64 by the request.
                ExpectedState::Last(last) => (last.and_then(|p| i64::try_from(p).ok()), false),
            };
            arguments.expected_last.push(last);
            arguments.any_state.push(any);
            for (offset, event) in (0i64..).zip(&write.events) {
                arguments.event_streams.push(index);
                arguments.event_offsets.push(offset);
                arguments.ids.push(event.id());
                arguments.names.push(event.name().as_str());
                arguments.payloads.push(event.payload().as_str());
                arguments.metadata.push(event.metadata().as_str());
                arguments.occurred_at.push(event.occurred_at());
                arguments.observed_at.push(event.observed_at());
                let tags: Vec<&str> = event.tag_set().iter().map(|tag| tag.as_str()).collect();
                arguments.tags.push(json!(tags).to_string());
            }
        }
        arguments
    }

    /// The stream names and categories, for the locking read.
    pub(crate) fn streams(&self) -> (&[&'a str], &[&'a str]) {
        (&self.categories, &self.streams)
    }

    /// The lock keys, for the locking read.
    pub(crate) fn lock_keys(&self) -> &[String] {
        &self.lock_keys
    }

    /// The query checks, for the locking read.
    pub(crate) fn checks(&self) -> &Checks<'a> {
        &self.checks
    }

    /// In `sql/events/save.sql`'s order.
    pub(crate) fn parameters(&self) -> [&(dyn ToSql + Sync); 23] {
        let [frontiers, item_checks, tag_ends, name_ends, tags, names] = self.checks.parameters();
        [
            &self.lock_keys,
            &self.categories,
            &self.streams,
            &self.expected_last,
            &self.any_state,
            &self.event_streams,
            &self.event_offsets,
            &self.ids,
            &self.names,
            &self.payloads,
            &self.metadata,
            &self.occurred_at,
            &self.observed_at,
            &self.tags,
            frontiers,
            item_checks,
            tag_ends,
            name_ends,
            tags,
            names,
            &self.expected_found,
            &self.tracking_consumer,
            &self.tracking_position,
        ]
    }

    /// The same arguments, expecting `expected` instead.
    pub(crate) fn expecting(mut self, expected: &Expected) -> Self {
        self.expected_found = expected.found.clone();
        for (index, state) in expected.states.iter().enumerate() {
            let (last, any) = match state {
                ExpectedState::AnyState => (None, true),
                ExpectedState::Last(last) => (last.and_then(|p| i64::try_from(p).ok()), false),
            };
            self.expected_last[index] = last;
            self.any_state[index] = any;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventblocks_core::{NewEvent, StreamIdentifier};

    fn request(condition: WriteCondition) -> SaveRequest {
        let stream = StreamIdentifier::new("c", "s").unwrap();
        SaveRequest::single(stream, [NewEvent::new("e", &1).unwrap()], condition).unwrap()
    }

    #[test]
    fn guesses_a_state_that_meets_the_condition() {
        let guess =
            |condition| Expected::guess(&request(condition)).map(|expected| expected.states);
        let last = |position| Some(vec![ExpectedState::Last(position)]);
        assert_eq!(
            guess(WriteCondition::NoCondition),
            Some(vec![ExpectedState::AnyState])
        );
        assert_eq!(guess(WriteCondition::StreamIsEmpty), last(None));
        assert_eq!(guess(WriteCondition::PositionIs(Some(4))), last(Some(4)));
        let either = WriteCondition::PositionIs(Some(2)) | WriteCondition::PositionIs(Some(7));
        assert_eq!(guess(either), last(Some(2)));
        let never = WriteCondition::StreamIsEmpty & WriteCondition::PositionIs(Some(0));
        assert_eq!(guess(never), None, "no state meets it");
        let course = eventblocks_core::Query::new().or(eventblocks_core::QueryItem::new()
            .tags(["course:c1"])
            .unwrap());
        let boundary = WriteCondition::NoneMatch(course.clone());
        assert_eq!(
            guess(boundary.clone()),
            Some(vec![ExpectedState::AnyState]),
            "a query condition holds in any stream state"
        );
        assert_eq!(
            guess(boundary & WriteCondition::PositionIs(Some(1))),
            last(Some(1))
        );
    }
}
