//! Lock keys of consistency boundaries, for adapters that serialise query
//! conditions with locks (shared and exclusive) rather than one writer.
//!
//! A save that checks a query condition takes the query's
//! [`Query::checked_keys`] exclusively; every save takes the
//! [`written_keys`] of each event it writes in shared mode, plus
//! [`BoundaryKey::All`] shared unless it holds it exclusively. Then:
//!
//! - a check and a write of an event the query matches always share a key,
//!   one side exclusive: an item with tags locks its smallest tag, which every
//!   matching event carries; an item with names only locks each name, one of
//!   which every matching event has; an item matching everything locks
//!   [`BoundaryKey::All`], which every write holds shared. So the check waits
//!   for a matching write in flight, or the write for the check, and never
//!   decides without seeing it;
//! - two checks of overlapping boundaries share an exclusive key and take
//!   turns, so at most one of two racers on one boundary wins;
//! - writes only take shared keys, and checks of disjoint boundaries take
//!   disjoint keys, so they never wait for each other.
//!
//! The keys are sets, so an adapter takes them in their sorted order and
//! concurrent saves cannot deadlock.

use std::collections::BTreeSet;

use crate::identifier::Name;
use crate::query::Query;
use crate::tag::Tag;

/// One lock key of a boundary.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BoundaryKey {
    /// Every event: what a query matching everything locks exclusively and
    /// every write holds shared.
    All,
    /// Every event with this name.
    Name(Name),
    /// Every event carrying this tag.
    Tag(Tag),
}

impl Query {
    /// The keys a save checking this query must hold exclusively.
    pub fn checked_keys(&self) -> BTreeSet<BoundaryKey> {
        if self.is_all() {
            return BTreeSet::from([BoundaryKey::All]);
        }
        let mut keys = BTreeSet::new();
        for item in self.items() {
            match item.tag_set().first() {
                Some(tag) => {
                    keys.insert(BoundaryKey::Tag(tag.clone()));
                }
                None => keys.extend(item.name_set().iter().cloned().map(BoundaryKey::Name)),
            }
        }
        keys
    }
}

/// The keys a save writing an event called `name` carrying `tags` must hold
/// in shared mode (beside [`BoundaryKey::All`]).
pub fn written_keys(name: &Name, tags: &BTreeSet<Tag>) -> BTreeSet<BoundaryKey> {
    std::iter::once(BoundaryKey::Name(name.clone()))
        .chain(tags.iter().cloned().map(BoundaryKey::Tag))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::QueryItem;

    fn tags(values: &[&str]) -> BTreeSet<Tag> {
        values
            .iter()
            .map(|value| Tag::new(*value).unwrap())
            .collect()
    }

    /// Every event a query matches shares a key with the query's checks.
    #[test]
    fn a_matching_write_always_shares_a_key_with_the_check() {
        let queries = [
            Query::new().or(QueryItem::new()
                .names(["a"])
                .unwrap()
                .tags(["y", "x"])
                .unwrap()),
            Query::new().or(QueryItem::new().names(["a", "b"]).unwrap()),
            Query::new().or(QueryItem::new().tags(["x"]).unwrap()),
            Query::all(),
        ];
        let events = [
            ("a", tags(&["x", "y", "z"])),
            ("b", tags(&[])),
            ("c", tags(&["x"])),
        ];
        for query in &queries {
            let checked = query.checked_keys();
            for (name, event_tags) in &events {
                let name = Name::new("name", *name).unwrap();
                if query.matches(&name, event_tags) {
                    let mut written = written_keys(&name, event_tags);
                    written.insert(BoundaryKey::All);
                    assert!(
                        !checked.is_disjoint(&written),
                        "{query} matches {name} {event_tags:?} but shares no key with it"
                    );
                }
            }
        }
    }

    #[test]
    fn disjoint_boundaries_take_disjoint_keys() {
        let course =
            |id: &str| Query::new().or(QueryItem::new().tags([format!("course:{id}")]).unwrap());
        assert!(course("c1")
            .checked_keys()
            .is_disjoint(&course("c2").checked_keys()));
    }
}
