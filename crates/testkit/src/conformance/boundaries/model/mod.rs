//! The boundary model test: random tagged publishes (spanning categories,
//! with stream conditions, query conditions and tracking), query reads and
//! tracked positions, run against the adapter and against a plain reference
//! that applies the DCB matching rule by hand. Every result must agree.

mod generate;

use std::collections::BTreeMap;

use eventblocks_core::{
    CategoryIdentifier, Error, EventStore, Head, Query, QueryItem, QueryOptions, StoredEvent,
    StreamIdentifier, StreamWrite, WriteCondition,
};
use uuid::Uuid;

use self::generate::{
    sequences, Condition, Item, Items, Operation, Write, CATEGORIES, CONSUMERS, NAMES, STREAMS,
    TAGS,
};
use super::offers_boundaries;
use crate::builders::event;
use crate::conformance::model::{generate, step};
use crate::conformance::model_cases;
use crate::conformance::support::collect;

/// The reference: the log as a list, the heads read so far with the length
/// of the log each covered, and the tracked positions.
#[derive(Default)]
struct Model {
    log: Vec<StoredEvent>,
    heads: Vec<(Head, usize)>,
    tracked: BTreeMap<usize, u64>,
}

/// What a publish should come to, by the rules every adapter shares.
#[derive(Debug)]
enum Expected {
    Replayed,
    Moved(Query, Head),
    Matched(Query),
    Unmet(StreamIdentifier),
    Appended,
}

/// The DCB rule, written out apart from core's.
fn item_matches(item: &Item, event: &StoredEvent) -> bool {
    let named = item.names.is_empty()
        || item
            .names
            .iter()
            .any(|&name| NAMES[name] == event.name.as_str());
    named
        && item.tags.iter().all(|&tag| {
            event
                .tags
                .iter()
                .any(|carried| carried.as_str() == TAGS[tag])
        })
}

fn query_matches(items: &Items, event: &StoredEvent) -> bool {
    items.is_empty() || items.iter().any(|item| item_matches(item, event))
}

fn build_query(items: &Items) -> Query {
    items.iter().fold(Query::new(), |query, item| {
        let built = QueryItem::new()
            .names(item.names.iter().map(|&name| NAMES[name]))
            .and_then(|built| built.tags(item.tags.iter().map(|&tag| TAGS[tag])))
            .expect("valid item");
        query.or(built)
    })
}

fn stream_of(category: usize, stream: usize) -> StreamIdentifier {
    StreamIdentifier::new(CATEGORIES[category], STREAMS[stream]).expect("valid")
}

impl Model {
    fn last(&self, stream: &StreamIdentifier) -> Option<&StoredEvent> {
        self.log.iter().rev().find(|event| &event.stream == stream)
    }

    fn head(&self, index: usize) -> (Head, usize) {
        self.heads[index % self.heads.len()]
    }

    /// The events matching `items` among the first `from`… of the log.
    fn matching_from(&self, items: &Items, from: usize) -> Vec<StoredEvent> {
        self.log[from..]
            .iter()
            .filter(|event| query_matches(items, event))
            .cloned()
            .collect()
    }

    /// The condition as the store takes it, resolving heads and ids.
    fn build(&self, condition: &Condition, stream: Option<&StreamIdentifier>) -> WriteCondition {
        match condition {
            Condition::None => WriteCondition::NoCondition,
            Condition::Empty => WriteCondition::StreamIsEmpty,
            Condition::NotEmpty => WriteCondition::StreamIsNotEmpty,
            Condition::Position(position) => WriteCondition::PositionIs(*position),
            Condition::LastIs(last) => {
                let known = stream.and_then(|stream| self.last(stream)).map(|e| e.id);
                let id = known
                    .filter(|_| *last)
                    .unwrap_or_else(|| Uuid::from_u128(7));
                WriteCondition::LastEventIs(id)
            }
            Condition::NoneAfter(items, head) => {
                WriteCondition::NoneMatchAfter(build_query(items), self.head(*head).0)
            }
            Condition::NoneEver(items) => WriteCondition::NoneMatch(build_query(items)),
            Condition::And(left, right) => self.build(left, stream) & self.build(right, stream),
            Condition::Or(left, right) => self.build(left, stream) | self.build(right, stream),
        }
    }

    /// Whether `condition` holds for `stream` (`None`: a whole publish).
    fn holds(&self, condition: &Condition, stream: Option<&StreamIdentifier>) -> bool {
        let last = stream.and_then(|stream| self.last(stream));
        match condition {
            Condition::None => true,
            Condition::Empty => last.is_none(),
            Condition::NotEmpty => last.is_some(),
            Condition::Position(position) => last.map(|e| e.position) == *position,
            Condition::LastIs(known) => *known && last.is_some(),
            Condition::NoneAfter(..) | Condition::NoneEver(_) => self.failing(condition).is_none(),
            Condition::And(left, right) => self.holds(left, stream) && self.holds(right, stream),
            Condition::Or(left, right) => self.holds(left, stream) || self.holds(right, stream),
        }
    }

    /// A query leaf's failure, if it fails.
    fn failing(&self, leaf: &Condition) -> Option<Expected> {
        match leaf {
            Condition::NoneAfter(items, head) => {
                let (head, covered) = self.head(*head);
                (!self.matching_from(items, covered).is_empty())
                    .then(|| Expected::Moved(build_query(items), head))
            }
            Condition::NoneEver(items) => (!self.matching_from(items, 0).is_empty())
                .then(|| Expected::Matched(build_query(items))),
            _ => None,
        }
    }

    /// The first failing query leaf, left to right.
    fn first_failing(&self, condition: &Condition) -> Option<Expected> {
        match condition {
            Condition::And(left, right) | Condition::Or(left, right) => self
                .first_failing(left)
                .or_else(|| self.first_failing(right)),
            leaf => self.failing(leaf),
        }
    }

    fn expected(
        &self,
        writes: &[Write],
        whole: Option<&Condition>,
        tracking: Option<(usize, u64)>,
    ) -> Expected {
        let replayed = tracking.is_some_and(|(consumer, position)| {
            self.tracked
                .get(&consumer)
                .is_some_and(|&done| done >= position)
        });
        if replayed {
            return Expected::Replayed;
        }
        if let Some(whole) = whole.filter(|whole| !self.holds(whole, None)) {
            return self
                .first_failing(whole)
                .expect("an unmet whole condition has a failing query");
        }
        for write in writes {
            let stream = stream_of(write.category, write.stream);
            if !self.holds(&write.condition, Some(&stream)) {
                return self
                    .first_failing(&write.condition)
                    .unwrap_or(Expected::Unmet(stream));
            }
        }
        Expected::Appended
    }
}

async fn publish(
    store: &EventStore,
    model: &mut Model,
    writes: &[Write],
    whole: Option<&Condition>,
    tracking: Option<(usize, u64)>,
) {
    let requests: Vec<StreamWrite> = writes
        .iter()
        .map(|write| {
            let stream = stream_of(write.category, write.stream);
            let events = write.events.iter().map(|(name, tags)| {
                event(NAMES[*name])
                    .tags(tags.iter().map(|&tag| TAGS[tag]))
                    .build()
            });
            let condition = model.build(&write.condition, Some(&stream));
            StreamWrite::new(stream, events, condition)
        })
        .collect();
    let mut publishing = store.log().publish(requests.clone());
    if let Some(whole) = whole {
        publishing = publishing.condition(model.build(whole, None));
    }
    if let Some((consumer, position)) = tracking {
        publishing = publishing.tracking(CONSUMERS[consumer], position);
    }
    let expected = model.expected(writes, whole, tracking);
    let result = publishing.await;
    match (expected, result) {
        (Expected::Replayed, Ok(events)) => assert!(events.is_empty(), "a replay writes nothing"),
        (Expected::Appended, Ok(stored)) => {
            let mut index = 0;
            for request in &requests {
                let first = model.last(&request.stream).map_or(0, |e| e.position + 1);
                for (offset, new) in (0u64..).zip(&request.events) {
                    let event = &stored[index];
                    assert_eq!(
                        (event.id, &event.stream, event.position, &event.tags),
                        (new.id(), &request.stream, first + offset, new.tag_set())
                    );
                    index += 1;
                }
            }
            assert_eq!(index, stored.len(), "every event, once");
            let last = model.log.last().map_or(0, |e| e.sequence_number);
            assert!(
                stored
                    .windows(2)
                    .all(|w| w[0].sequence_number < w[1].sequence_number)
                    && stored[0].sequence_number > last,
                "sequence numbers increase"
            );
            if let Some((consumer, position)) = tracking {
                model.tracked.insert(consumer, position);
            }
            model.log.extend(stored);
        }
        (
            Expected::Moved(query, head),
            Err(Error::BoundaryMoved {
                query: q,
                head: h,
                found,
            }),
        ) => {
            assert_eq!((&q, h), (&query, head), "the first failing boundary");
            let covered = model
                .heads
                .iter()
                .find(|(known, _)| *known == head)
                .expect("known")
                .1;
            let moved = model.log[covered..]
                .iter()
                .any(|e| e.sequence_number == found && query.matches_event(e));
            assert!(moved, "event {found} moved {query} after {head}");
        }
        (Expected::Matched(query), Err(Error::AlreadyMatched { query: q, found })) => {
            assert_eq!(q, query, "the first failing guard");
            assert!(
                model
                    .log
                    .iter()
                    .any(|e| e.sequence_number == found && query.matches_event(e)),
                "event {found} matches {query}"
            );
        }
        (
            Expected::Unmet(stream),
            Err(Error::UnmetCondition {
                stream: s, found, ..
            }),
        ) => {
            assert_eq!(s, stream);
            assert_eq!(found, model.last(&stream).map(|e| e.position));
        }
        (expected, actual) => {
            panic!("the model expected {expected:?}, the adapter returned {actual:?}")
        }
    }
}

async fn read(
    store: &EventStore,
    model: &mut Model,
    items: &Items,
    category: Option<usize>,
    after: Option<usize>,
    backwards: bool,
    limit: Option<u64>,
) {
    let mut options = QueryOptions::new();
    let mut from = 0;
    if let Some(after) = after {
        let (head, covered) = model.head(after);
        options = options.after(head);
        from = covered;
    }
    if backwards {
        options = options.backwards();
    }
    if let Some(limit) = limit {
        options = options.limit(limit);
    }
    let query = build_query(items);
    let read = match category {
        Some(category) => {
            let id = CategoryIdentifier::new(CATEGORIES[category]).expect("valid");
            store.category_of(id).query(query.clone(), options).await
        }
        None => store.log().query(query.clone(), options).await,
    }
    .unwrap_or_else(|error| panic!("the read of {query} failed: {error}"));
    let found = collect(read.events).await;
    let mut expected: Vec<StoredEvent> = model
        .matching_from(items, from)
        .into_iter()
        .filter(|e| category.is_none_or(|c| e.stream.category.as_str() == CATEGORIES[c]))
        .collect();
    if backwards {
        expected.reverse();
    }
    expected.truncate(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)));
    assert_eq!(found, expected, "the read of {query}");
    // A log read's head covers the whole log as it stood. A category read's
    // covers the category, and may lie below other categories' events where
    // transactions of other sessions are running (the contract allows a head
    // to be conservative), so the model keeps only log heads.
    if category.is_none() {
        model.heads.push((read.head, model.log.len()));
    }
}

async fn apply(store: &EventStore, model: &mut Model, operation: &Operation) {
    match operation {
        Operation::Publish {
            writes,
            whole,
            tracking,
        } => publish(store, model, writes, whole.as_ref(), *tracking).await,
        Operation::Read {
            items,
            category,
            after,
            backwards,
            limit,
        } => read(store, model, items, *category, *after, *backwards, *limit).await,
        Operation::Tracked(consumer) => {
            let tracked = store
                .tracked_position(CONSUMERS[*consumer])
                .await
                .expect("tracked position");
            assert_eq!(tracked, model.tracked.get(consumer).copied());
        }
    }
}

/// Random sequences of tagged publishes (across categories, with random
/// stream and query conditions and tracking), query reads (of the log or a
/// category, after earlier heads, backwards, limited) and tracked positions,
/// checked against a reference model that applies the DCB matching rule and
/// the shared decision order by hand. The number of sequences comes from
/// [`model_cases`].
pub async fn random_boundary_operations_match_a_reference_model(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let mut model = Model::default();
    let first = store
        .log()
        .query(Query::all(), QueryOptions::new())
        .await
        .expect("the first read");
    model.heads.push((first.head, 0));
    for operations in generate(sequences(), model_cases()) {
        for (index, operation) in operations.iter().enumerate() {
            step(apply(&store, &mut model, operation), index, &operations).await;
        }
    }
}
