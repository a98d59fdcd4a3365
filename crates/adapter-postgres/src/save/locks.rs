//! The advisory locks a save takes: its streams' (or its categories', or the
//! log's) under the serialisation guarantee, and its consistency boundaries'.
//!
//! Keys are text that PostgreSQL hashes to 64 bits (`hashtextextended`), so
//! every client agrees on them; lengths make them unambiguous. A key to take
//! in shared mode is written `shared <key>` (see the `take_locks` function of
//! the migrations). Every save takes its keys in one global order (sorted by
//! key), so no two saves wait for each other in a cycle.

use std::collections::BTreeMap;

use eventblocks_core::boundary::{written_keys, BoundaryKey};
use eventblocks_core::{SaveRequest, SerialisationGuarantee};

/// The most stream locks one save takes. Every advisory lock uses a slot of the
/// server's shared lock table (`max_locks_per_transaction` slots per
/// connection, shared by the whole cluster), so a save of thousands of streams
/// must not take one per stream.
pub(crate) const MAX_STREAM_LOCKS: usize = 32;

/// The most boundary locks one save takes, for the same reason: a save whose
/// events and checks would need more takes the boundary of every event
/// exclusively instead.
pub(crate) const MAX_BOUNDARY_LOCKS: usize = 32;

/// Whether a lock is shared with other holders or held alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    Shared,
    Exclusive,
}

/// The keys for `request` under `guarantee`, in the order they must be taken.
///
/// - Streams: under the `Stream` guarantee, a save of up to
///   [`MAX_STREAM_LOCKS`] streams holds each of its categories' locks shared
///   and each stream's exclusively; a wider save holds its categories' locks
///   exclusively instead, so it waits for the narrow saves in flight, holds
///   back new ones, and cannot be starved by them. Should a writer that locks
///   differently (another process with another guarantee) append to a stream
///   at the same time, the unique `(category, stream, position)` constraint
///   still lets only one of them commit, and the other decides again.
/// - Boundaries: each query check's [`Query::checked_keys`] exclusively, each
///   event's [`written_keys`] shared, and [`BoundaryKey::All`] shared (see
///   `eventblocks_core::boundary` for why this is exact).
///
/// [`Query::checked_keys`]: eventblocks_core::Query::checked_keys
pub(crate) fn lock_keys(
    namespace: &str,
    guarantee: SerialisationGuarantee,
    request: &SaveRequest,
) -> Vec<String> {
    let mut keys = BTreeMap::new();
    stream_keys(namespace, guarantee, request, &mut keys);
    boundary_keys(namespace, request, &mut keys);
    keys.into_iter()
        .map(|(key, mode)| match mode {
            Mode::Shared => format!("shared {key}"),
            Mode::Exclusive => key,
        })
        .collect()
}

/// Adds `key` in `mode`; a key wanted in both modes is held exclusively.
fn want(keys: &mut BTreeMap<String, Mode>, key: String, mode: Mode) {
    let held = keys.entry(key).or_insert(mode);
    *held = (*held).max(mode);
}

fn stream_keys(
    namespace: &str,
    guarantee: SerialisationGuarantee,
    request: &SaveRequest,
    keys: &mut BTreeMap<String, Mode>,
) {
    let category_key =
        |category: &str| format!("{namespace}:category:{}:{category}", category.len());
    let wide = request.writes().len() > MAX_STREAM_LOCKS;
    match guarantee {
        SerialisationGuarantee::Log => want(keys, format!("{namespace}:log"), Mode::Exclusive),
        SerialisationGuarantee::Category => {
            for category in request.categories() {
                want(keys, category_key(&category.category), Mode::Exclusive);
            }
        }
        SerialisationGuarantee::Stream if wide => {
            for category in request.categories() {
                want(keys, category_key(&category.category), Mode::Exclusive);
            }
        }
        SerialisationGuarantee::Stream => {
            for write in request.writes() {
                let (category, stream) = (&write.stream.category, &write.stream.stream);
                want(keys, category_key(category), Mode::Shared);
                let key = format!("{namespace}:stream:{}:{category}{stream}", category.len());
                want(keys, key, Mode::Exclusive);
            }
        }
    }
}

fn boundary_keys(namespace: &str, request: &SaveRequest, keys: &mut BTreeMap<String, Mode>) {
    let mut wanted: BTreeMap<BoundaryKey, Mode> = BTreeMap::new();
    for check in request.checks() {
        for key in check.query.checked_keys() {
            wanted.insert(key, Mode::Exclusive);
        }
    }
    for write in request.writes() {
        for event in &write.events {
            for key in written_keys(event.name(), event.tag_set()) {
                wanted.entry(key).or_insert(Mode::Shared);
            }
        }
    }
    let all = if wanted.len() > MAX_BOUNDARY_LOCKS
        || wanted.get(&BoundaryKey::All) == Some(&Mode::Exclusive)
    {
        // Too many to hold one by one: every boundary at once, alone.
        wanted.clear();
        Mode::Exclusive
    } else {
        Mode::Shared
    };
    wanted.insert(BoundaryKey::All, all);
    for (key, mode) in wanted {
        want(keys, boundary_key(namespace, &key), mode);
    }
}

fn boundary_key(namespace: &str, key: &BoundaryKey) -> String {
    match key {
        BoundaryKey::All => format!("{namespace}:boundary:all"),
        BoundaryKey::Name(name) => format!("{namespace}:boundary:name:{name}"),
        BoundaryKey::Tag(tag) => format!("{namespace}:boundary:tag:{tag}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventblocks_core::{Head, NewEvent, Query, QueryItem, StreamIdentifier, WriteCondition};

    fn event() -> NewEvent {
        NewEvent::new("enrolled", &1)
            .unwrap()
            .tags(["course:c1", "student:s1"])
            .unwrap()
    }

    fn keys(condition: WriteCondition) -> Vec<String> {
        let stream = StreamIdentifier::new("c", "s").unwrap();
        let request = SaveRequest::single(stream, [event()], condition).unwrap();
        lock_keys("ns", SerialisationGuarantee::Stream, &request)
    }

    #[test]
    fn writes_hold_their_boundaries_shared_and_checks_exclusively() {
        let plain = keys(WriteCondition::NoCondition);
        assert!(plain.contains(&"shared ns:boundary:all".to_owned()));
        assert!(plain.contains(&"shared ns:boundary:tag:course:c1".to_owned()));
        assert!(plain.contains(&"shared ns:boundary:name:enrolled".to_owned()));
        assert!(plain.contains(&"ns:stream:1:cs".to_owned()));
        let course = Query::new().or(QueryItem::new().tags(["course:c1"]).unwrap());
        let checked = keys(WriteCondition::NoneMatchAfter(course, Head::new(0, 1)));
        assert!(
            checked.contains(&"ns:boundary:tag:course:c1".to_owned()),
            "{checked:?}"
        );
        assert!(!checked.contains(&"shared ns:boundary:tag:course:c1".to_owned()));
        let mut sorted = checked.clone();
        sorted.sort_by_key(|key| key.trim_start_matches("shared ").to_owned());
        assert_eq!(checked, sorted, "taken in key order");
    }

    #[test]
    fn boundaries_beyond_the_bound_are_taken_whole() {
        let many = (0..=MAX_BOUNDARY_LOCKS).map(|index| format!("t{index}"));
        let stream = StreamIdentifier::new("c", "s").unwrap();
        let tagged = NewEvent::new("e", &1).unwrap().tags(many).unwrap();
        let request = SaveRequest::single(stream, [tagged], WriteCondition::NoCondition).unwrap();
        let keys = lock_keys("ns", SerialisationGuarantee::Stream, &request);
        let boundary: Vec<&String> = keys.iter().filter(|key| key.contains("boundary")).collect();
        assert_eq!(boundary, [&"ns:boundary:all".to_owned()]);
    }
}
