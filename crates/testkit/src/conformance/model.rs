//! The model test: random operation sequences run against the adapter and
//! against a plain in-memory reference; every result must agree.

use eventblocks_core::{
    Error, EventSourceIdentifier, EventStore, LogIdentifier, NewEvent, ScanQuery, StoredEvent,
    StreamIdentifier, StreamWrite, WriteCondition,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

use super::support::collect;
use crate::builders::event;

/// How many random sequences the model test runs: `EVENTBLOCKS_MODEL_CASES`,
/// 24 by default.
pub fn model_cases() -> u32 {
    std::env::var("EVENTBLOCKS_MODEL_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(24)
}

const CATEGORIES: [&str; 2] = ["m0", "m1"];
const STREAMS: [&str; 3] = ["s0", "s1", "s2"];
const NAMES: [&str; 2] = ["a", "b"];

/// A condition as generated: `PositionIs` positions are small so they
/// sometimes hold.
#[derive(Debug, Clone)]
enum Condition {
    None,
    Empty,
    Position(Option<u64>),
    Or(Box<Condition>, Box<Condition>),
    And(Box<Condition>, Box<Condition>),
}

impl Condition {
    fn build(&self) -> WriteCondition {
        match self {
            Self::None => WriteCondition::NoCondition,
            Self::Empty => WriteCondition::StreamIsEmpty,
            Self::Position(position) => WriteCondition::PositionIs(*position),
            Self::Or(left, right) => left.build() | right.build(),
            Self::And(left, right) => left.build() & right.build(),
        }
    }

    fn holds(&self, last: Option<u64>) -> bool {
        match self {
            Self::None => true,
            Self::Empty => last.is_none(),
            Self::Position(position) => *position == last,
            Self::Or(left, right) => left.holds(last) || right.holds(last),
            Self::And(left, right) => left.holds(last) && right.holds(last),
        }
    }
}

#[derive(Debug, Clone)]
enum Target {
    Log,
    Category(usize),
    Stream(usize, usize),
}

#[derive(Debug, Clone)]
enum Operation {
    /// Publish events (by name) to one or more streams of a category.
    Publish {
        category: usize,
        writes: Vec<(usize, Vec<usize>, Condition)>,
    },
    /// Scan; `after` picks an event of the model's log by index (modulo its
    /// length).
    Scan {
        target: Target,
        after: Option<usize>,
        backwards: bool,
        limit: Option<u64>,
        name: Option<usize>,
    },
    Latest(Target),
}

fn condition() -> impl Strategy<Value = Condition> {
    let leaf = prop_oneof![
        Just(Condition::None),
        Just(Condition::Empty),
        prop::option::of(0..4u64).prop_map(Condition::Position),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone())
                .prop_map(|(l, r)| Condition::Or(Box::new(l), Box::new(r))),
            (inner.clone(), inner).prop_map(|(l, r)| Condition::And(Box::new(l), Box::new(r))),
        ]
    })
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Log),
        (0..CATEGORIES.len()).prop_map(Target::Category),
        (0..CATEGORIES.len(), 0..STREAMS.len()).prop_map(|(c, s)| Target::Stream(c, s)),
    ]
}

fn operation() -> impl Strategy<Value = Operation> {
    let write = (
        0..STREAMS.len(),
        prop::collection::vec(0..NAMES.len(), 1..4),
        condition(),
    );
    prop_oneof![
        4 => (0..CATEGORIES.len(), prop::collection::vec(write, 1..3)).prop_map(|(category, mut writes)| {
            writes.sort_by_key(|w| w.0);
            writes.dedup_by_key(|w| w.0);
            Operation::Publish { category, writes }
        }),
        3 => (target(), prop::option::of(0..12usize), any::<bool>(), prop::option::of(1..5u64), prop::option::of(0..NAMES.len()))
            .prop_map(|(target, after, backwards, limit, name)| Operation::Scan { target, after, backwards, limit, name }),
        1 => target().prop_map(Operation::Latest),
    ]
}

/// The reference: the log as a list, conditions checked by hand.
#[derive(Default)]
struct Model {
    log: Vec<StoredEvent>,
}

impl Model {
    fn last_position(&self, stream: &StreamIdentifier) -> Option<u64> {
        self.log
            .iter()
            .filter(|e| &e.stream == stream)
            .map(|e| e.position)
            .max()
    }

    fn in_target(target: &EventSourceIdentifier, event: &StoredEvent) -> bool {
        match target {
            EventSourceIdentifier::Log(_) => true,
            EventSourceIdentifier::Category(c) => event.stream.category == c.category,
            EventSourceIdentifier::Stream(s) => &event.stream == s,
        }
    }

    fn scan(
        &self,
        target: &EventSourceIdentifier,
        after: Option<u64>,
        backwards: bool,
        limit: Option<u64>,
        name: Option<&str>,
    ) -> Vec<StoredEvent> {
        let mut events: Vec<StoredEvent> = self
            .log
            .iter()
            .filter(|e| Self::in_target(target, e))
            .filter(|e| name.is_none_or(|name| e.name.as_str() == name))
            .filter(|e| {
                after.is_none_or(|after| {
                    if backwards {
                        e.sequence_number < after
                    } else {
                        e.sequence_number > after
                    }
                })
            })
            .cloned()
            .collect();
        if backwards {
            events.reverse();
        }
        events.truncate(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)));
        events
    }
}

fn identifier(target: &Target) -> EventSourceIdentifier {
    match target {
        Target::Log => LogIdentifier.into(),
        Target::Category(c) => EventSourceIdentifier::Category(
            eventblocks_core::CategoryIdentifier::new(CATEGORIES[*c]).expect("valid"),
        ),
        Target::Stream(c, s) => EventSourceIdentifier::Stream(
            StreamIdentifier::new(CATEGORIES[*c], STREAMS[*s]).expect("valid"),
        ),
    }
}

async fn apply(store: &EventStore, model: &mut Model, operation: &Operation) {
    match operation {
        Operation::Publish { category, writes } => {
            let requests: Vec<StreamWrite> = writes
                .iter()
                .map(|(stream, names, condition)| {
                    let events: Vec<NewEvent> =
                        names.iter().map(|n| event(NAMES[*n]).build()).collect();
                    let id = StreamIdentifier::new(CATEGORIES[*category], STREAMS[*stream])
                        .expect("valid");
                    StreamWrite::new(id, events, condition.build())
                })
                .collect();
            let failing = writes
                .iter()
                .zip(&requests)
                .find(|((_, _, condition), request)| {
                    !condition.holds(model.last_position(&request.stream))
                });
            let category = store.category(CATEGORIES[*category]).expect("valid");
            let result = category.publish(requests.clone()).await;
            match (failing, result) {
                (None, Ok(stored)) => {
                    let mut index = 0;
                    for request in &requests {
                        let first = model.last_position(&request.stream).map_or(0, |p| p + 1);
                        for (offset, new) in (0u64..).zip(&request.events) {
                            let event = &stored[index];
                            assert_eq!(
                                (event.id, &event.stream, event.position),
                                (new.id(), &request.stream, first + offset)
                            );
                            index += 1;
                        }
                    }
                    if let (Some(last), Some(first)) = (model.log.last(), stored.first()) {
                        assert!(
                            first.sequence_number > last.sequence_number,
                            "sequence numbers increase"
                        );
                    }
                    model.log.extend(stored);
                }
                (Some((_, request)), Err(Error::UnmetCondition { stream, found, .. })) => {
                    assert_eq!(stream, request.stream);
                    assert_eq!(found, model.last_position(&request.stream));
                }
                (expected, actual) => panic!(
                    "model expected failure on {:?}, the adapter returned {actual:?}",
                    expected.map(|(_, r)| r.stream.to_string())
                ),
            }
        }
        Operation::Scan {
            target,
            after,
            backwards,
            limit,
            name,
        } => {
            let after = after.and_then(|index| {
                (!model.log.is_empty()).then(|| model.log[index % model.log.len()].sequence_number)
            });
            let id = identifier(target);
            let mut query = ScanQuery::new();
            if let Some(after) = after {
                query = query.after(after);
            }
            if *backwards {
                query = query.backwards();
            }
            if let Some(limit) = limit {
                query = query.limit(*limit);
            }
            let name = name.map(|n| NAMES[n]);
            if let Some(name) = name {
                query = query.names([name]);
            }
            let scanned = collect(store.scan(id.clone(), query)).await;
            let expected = model.scan(&id, after, *backwards, *limit, name);
            assert_eq!(scanned, expected, "scan of {id}");
        }
        Operation::Latest(target) => {
            let id = identifier(target);
            let latest = store.latest(id.clone()).await.expect("latest");
            assert_eq!(
                latest,
                model.scan(&id, None, true, Some(1), None).pop(),
                "latest of {id}"
            );
        }
    }
}

/// Generates `count` values of `strategy` up front: the runner is not
/// `Send`, so it must not live across an `.await`.
pub(crate) fn generate<S: Strategy>(strategy: S, count: u32) -> Vec<S::Value> {
    let mut runner = TestRunner::new(Config::with_cases(count));
    (0..count)
        .map(|_| {
            strategy
                .new_tree(&mut runner)
                .expect("values can be generated")
                .current()
        })
        .collect()
}

/// Runs one step of a model test; if it panics, says which operation of
/// which sequence disagreed with the model, then fails the case.
pub(crate) async fn step<O: std::fmt::Debug>(
    step: impl std::future::Future<Output = ()>,
    index: usize,
    operations: &[O],
) {
    let step = std::panic::AssertUnwindSafe(step);
    if let Err(panic) = futures::FutureExt::catch_unwind(step).await {
        eprintln!("operation {index} of {operations:#?} disagreed with the model");
        std::panic::resume_unwind(panic);
    }
}

/// Random sequences of publishes (with random conditions, to one or several
/// streams), scans and `latest`, checked against the reference model. The
/// number of sequences comes from [`model_cases`].
pub async fn random_operations_match_a_reference_model(store: EventStore) {
    let mut model = Model::default();
    let sequences = prop::collection::vec(operation(), 1..24);
    for operations in generate(sequences, model_cases()) {
        for (index, operation) in operations.iter().enumerate() {
            step(apply(&store, &mut model, operation), index, &operations).await;
        }
    }
}
