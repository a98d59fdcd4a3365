//! What the boundary model test generates: the vocabulary, and random
//! publishes, query reads and tracked-position reads over it.

use std::collections::BTreeSet;

use proptest::prelude::*;

pub(super) const CATEGORIES: [&str; 2] = ["q0", "q1"];
pub(super) const STREAMS: [&str; 2] = ["s0", "s1"];
pub(super) const NAMES: [&str; 3] = ["a", "b", "c"];
pub(super) const TAGS: [&str; 4] = ["t0", "t1", "t2", "t3"];
pub(super) const CONSUMERS: [&str; 2] = ["c0", "c1"];

/// A query item as generated: indices into [`NAMES`] and [`TAGS`].
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) names: BTreeSet<usize>,
    pub(super) tags: BTreeSet<usize>,
}

/// A query as generated: items ORed; none matches every event.
pub(super) type Items = Vec<Item>;

#[derive(Debug, Clone)]
pub(super) enum Condition {
    None,
    Empty,
    NotEmpty,
    Position(Option<u64>),
    /// The stream's last event id (`true`) or an id it does not have.
    LastIs(bool),
    /// No match after the head of the read with this index (modulo).
    NoneAfter(Items, usize),
    NoneEver(Items),
    And(Box<Condition>, Box<Condition>),
    Or(Box<Condition>, Box<Condition>),
}

#[derive(Debug, Clone)]
pub(super) struct Write {
    pub(super) category: usize,
    pub(super) stream: usize,
    /// Each event's name and tags.
    pub(super) events: Vec<(usize, BTreeSet<usize>)>,
    pub(super) condition: Condition,
}

#[derive(Debug, Clone)]
pub(super) enum Operation {
    Publish {
        writes: Vec<Write>,
        /// The condition of the whole publish (query conditions only).
        whole: Option<Condition>,
        tracking: Option<(usize, u64)>,
    },
    Read {
        items: Items,
        category: Option<usize>,
        after: Option<usize>,
        backwards: bool,
        limit: Option<u64>,
    },
    Tracked(usize),
}

fn item() -> impl Strategy<Value = Item> {
    (
        prop::collection::btree_set(0..NAMES.len(), 0..=2),
        prop::collection::btree_set(0..TAGS.len(), 0..=2),
    )
        .prop_map(|(names, tags)| Item { names, tags })
}

fn items() -> impl Strategy<Value = Items> {
    prop_oneof![
        1 => Just(Vec::new()),
        6 => prop::collection::vec(item(), 1..3),
    ]
}

fn query_leaf() -> impl Strategy<Value = Condition> {
    prop_oneof![
        3 => (items(), any::<usize>()).prop_map(|(items, head)| Condition::NoneAfter(items, head)),
        1 => items().prop_map(Condition::NoneEver),
    ]
}

fn combined(leaf: BoxedStrategy<Condition>) -> impl Strategy<Value = Condition> {
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone())
                .prop_map(|(l, r)| Condition::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner).prop_map(|(l, r)| Condition::Or(Box::new(l), Box::new(r))),
        ]
    })
}

fn stream_condition() -> impl Strategy<Value = Condition> {
    let leaf = prop_oneof![
        3 => Just(Condition::None),
        1 => Just(Condition::Empty),
        1 => Just(Condition::NotEmpty),
        1 => prop::option::of(0..3u64).prop_map(Condition::Position),
        1 => any::<bool>().prop_map(Condition::LastIs),
        3 => query_leaf(),
    ];
    combined(leaf.boxed())
}

fn write() -> impl Strategy<Value = Write> {
    let tagged_event = (
        0..NAMES.len(),
        prop::collection::btree_set(0..TAGS.len(), 0..=3),
    );
    (
        0..CATEGORIES.len(),
        0..STREAMS.len(),
        prop::collection::vec(tagged_event, 1..3),
        stream_condition(),
    )
        .prop_map(|(category, stream, events, condition)| Write {
            category,
            stream,
            events,
            condition,
        })
}

fn operation() -> impl Strategy<Value = Operation> {
    let publish = (
        prop::collection::vec(write(), 1..3),
        prop::option::of(combined(query_leaf().boxed())),
        prop::option::weighted(0.25, (0..CONSUMERS.len(), 0..5u64)),
    )
        .prop_map(|(mut writes, whole, tracking)| {
            writes.sort_by_key(|write| (write.category, write.stream));
            writes.dedup_by_key(|write| (write.category, write.stream));
            Operation::Publish {
                writes,
                whole,
                tracking,
            }
        });
    let read = (
        items(),
        prop::option::weighted(0.3, 0..CATEGORIES.len()),
        prop::option::weighted(0.4, any::<usize>()),
        any::<bool>(),
        prop::option::weighted(0.3, 1..4u64),
    )
        .prop_map(
            |(items, category, after, backwards, limit)| Operation::Read {
                items,
                category,
                after,
                backwards,
                limit,
            },
        );
    prop_oneof![
        5 => publish,
        4 => read,
        1 => (0..CONSUMERS.len()).prop_map(Operation::Tracked),
    ]
}

/// Sequences of operations, for [`generate`](crate::conformance::model::generate).
pub(super) fn sequences() -> impl Strategy<Value = Vec<Operation>> {
    prop::collection::vec(operation(), 1..20)
}
