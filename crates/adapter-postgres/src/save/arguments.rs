//! The arguments of the save function (`{table}_save` in the migrations): one
//! array per column, so a publish of any size binds thirteen parameters.

use chrono::{DateTime, Utc};
use eventblocks_core::{SaveRequest, SerialisationGuarantee, StreamState, WriteCondition};
use tokio_postgres::types::ToSql;
use uuid::Uuid;

/// The stream states a save was decided against, one per write.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expected {
    /// The write goes ahead whatever the stream holds (`NoCondition`).
    AnyState,
    /// The stream's last position must be this.
    Last(Option<u64>),
}

impl Expected {
    /// A first guess from the conditions alone: a write whose condition names
    /// a state is most likely made when the stream is in it. Every state
    /// guessed meets its write's condition; `None` when some condition names no
    /// state that meets it (it cannot hold, and core must say why).
    pub(crate) fn guess(request: &SaveRequest) -> Option<Vec<Self>> {
        request
            .writes()
            .iter()
            .map(|write| match &write.condition {
                WriteCondition::NoCondition => Some(Self::AnyState),
                condition => condition
                    .likely_state()
                    .map(|state| Self::Last(state.last_position)),
            })
            .collect()
    }

    /// Exactly the states found.
    pub(crate) fn found(states: &[StreamState]) -> Vec<Self> {
        states
            .iter()
            .map(|state| Self::Last(state.last_position))
            .collect()
    }
}

/// The save function's arguments for one request.
pub(crate) struct Arguments<'a> {
    lock_keys: Vec<String>,
    category: &'a str,
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
}

impl<'a> Arguments<'a> {
    pub(crate) fn new(
        request: &'a SaveRequest,
        lock_keys: Vec<String>,
        expected: &[Expected],
    ) -> Self {
        let count = request.event_count();
        let mut arguments = Self {
            lock_keys,
            category: request.category().category.as_str(),
            streams: Vec::with_capacity(request.writes().len()),
            expected_last: Vec::with_capacity(expected.len()),
            any_state: Vec::with_capacity(expected.len()),
            event_streams: Vec::with_capacity(count),
            event_offsets: Vec::with_capacity(count),
            ids: Vec::with_capacity(count),
            names: Vec::with_capacity(count),
            payloads: Vec::with_capacity(count),
            metadata: Vec::with_capacity(count),
            occurred_at: Vec::with_capacity(count),
            observed_at: Vec::with_capacity(count),
        };
        for ((index, write), expected) in (1i32..).zip(request.writes()).zip(expected) {
            arguments.streams.push(write.stream.stream.as_str());
            let (last, any) = match expected {
                Expected::AnyState => (None, true),
                // Positions were validated to fit in an i64 by the request.
                Expected::Last(last) => (last.and_then(|p| i64::try_from(p).ok()), false),
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
            }
        }
        arguments
    }

    /// In `sql/save.sql`'s order.
    pub(crate) fn parameters(&self) -> [&(dyn ToSql + Sync); 13] {
        [
            &self.lock_keys,
            &self.category,
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
        ]
    }
}

/// The most stream locks one save takes. Every advisory lock uses a slot of the
/// server's shared lock table (`max_locks_per_transaction` slots per
/// connection, shared by the whole cluster), so a save of thousands of streams
/// must not take one per stream.
pub(crate) const MAX_STREAM_LOCKS: usize = 32;

/// The advisory lock keys for `request` under `guarantee`, in the order they
/// must be taken; keys to take in shared mode are written `shared <key>` (see
/// the `take_locks` function of the migrations). PostgreSQL hashes them to 64
/// bits (`hashtextextended`), so every client agrees on them; the lengths make
/// the keys unambiguous.
///
/// Under the `Stream` guarantee a save of up to [`MAX_STREAM_LOCKS`] streams
/// holds its category's lock shared and each stream's exclusively, in stream
/// order; a wider save holds the category's lock exclusively instead, so it
/// waits for the narrow saves in flight, holds back new ones, and cannot be
/// starved or deadlocked by them. The category lock comes first everywhere,
/// so no two saves wait for each other in a cycle. Should a writer that locks
/// differently (another process with another guarantee) append to a stream at
/// the same time, the unique `(category, stream, position)` constraint still
/// lets only one of them commit, and the other decides again.
pub(crate) fn lock_keys(
    namespace: &str,
    guarantee: SerialisationGuarantee,
    request: &SaveRequest,
) -> Vec<String> {
    let category = request.category().category.as_str();
    let category_key = format!("{namespace}:category:{}:{category}", category.len());
    match guarantee {
        SerialisationGuarantee::Log => vec![format!("{namespace}:log")],
        SerialisationGuarantee::Category => vec![category_key],
        SerialisationGuarantee::Stream if request.writes().len() > MAX_STREAM_LOCKS => {
            vec![category_key]
        }
        SerialisationGuarantee::Stream => {
            let streams = request.lock_order().into_iter().map(|index| {
                let stream = request.writes()[index].stream.stream.as_str();
                format!("{namespace}:stream:{}:{category}{stream}", category.len())
            });
            std::iter::once(format!("shared {category_key}"))
                .chain(streams)
                .collect()
        }
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
        let guess = |condition| Expected::guess(&request(condition));
        let last = |position| Some(vec![Expected::Last(position)]);
        assert_eq!(
            guess(WriteCondition::NoCondition),
            Some(vec![Expected::AnyState])
        );
        assert_eq!(guess(WriteCondition::StreamIsEmpty), last(None));
        assert_eq!(guess(WriteCondition::PositionIs(Some(4))), last(Some(4)));
        let either = WriteCondition::PositionIs(Some(2)) | WriteCondition::PositionIs(Some(7));
        assert_eq!(guess(either), last(Some(2)));
        let never = WriteCondition::StreamIsEmpty & WriteCondition::PositionIs(Some(0));
        assert_eq!(guess(never), None, "no state meets it");
    }
}
