//! Consistency boundaries: tags, query reads with a head, query conditions,
//! log and tracked publishes, and the races other stores shipped as bugs.
//!
//! Tags are stored by every adapter. The other cases run in full on an
//! adapter that offers [`Capabilities::boundaries`]; on one that does not,
//! each checks instead that the store refuses what needs it as
//! [`Error::Unsupported`], writing nothing.
//!
//! [`Capabilities::boundaries`]: eventblocks_core::Capabilities::boundaries

mod conditions;
mod heads;
mod limits;
mod model;
mod publishes;
mod races;
mod reads;
mod tags;

use eventblocks_core::{
    Error, EventStore, Head, NewEvent, Query, QueryItem, QueryOptions, Result, StoredEvent,
    StreamIdentifier, StreamWrite, WriteCondition,
};
use futures::TryStreamExt;

pub use conditions::*;
pub use heads::*;
pub use limits::*;
pub use model::*;
pub use publishes::*;
pub use races::*;
pub use reads::*;
pub use tags::*;

use super::support::{collect, log, stream};
use crate::builders::event;

/// An event named `name` carrying `tags`.
pub(crate) fn tagged(name: &str, tags: &[&str]) -> NewEvent {
    event(name).tags(tags.iter().copied()).build()
}

/// A query item of these names and tags.
pub(crate) fn item(names: &[&str], tags: &[&str]) -> QueryItem {
    QueryItem::new()
        .names(names.iter().copied())
        .and_then(|item| item.tags(tags.iter().copied()))
        .unwrap_or_else(|error| panic!("a valid query item: {error}"))
}

/// The query of these items, combined with OR.
pub(crate) fn query(items: impl IntoIterator<Item = QueryItem>) -> Query {
    items.into_iter().fold(Query::new(), Query::or)
}

/// The query of the events carrying `tag`.
pub(crate) fn tag_query(tag: &str) -> Query {
    query([item(&[], &[tag])])
}

pub(crate) fn stream_id(category: &str, name: &str) -> StreamIdentifier {
    StreamIdentifier::new(category, name)
        .unwrap_or_else(|error| panic!("{category}/{name} is a valid stream: {error}"))
}

/// A write of `events` to `category/name` under `condition`.
pub(crate) fn write(
    category: &str,
    name: &str,
    events: impl IntoIterator<Item = NewEvent>,
    condition: WriteCondition,
) -> StreamWrite {
    StreamWrite::new(stream_id(category, name), events, condition)
}

/// A query read of the log, collected: its head and its events.
pub(crate) async fn read(
    store: &EventStore,
    query: &Query,
    options: QueryOptions,
) -> (Head, Vec<StoredEvent>) {
    let read = store
        .log()
        .query(query.clone(), options)
        .await
        .unwrap_or_else(|error| panic!("the query read of {query} failed: {error}"));
    (read.head, collect(read.events).await)
}

/// A query read of the log's events after `head`, collected.
pub(crate) async fn read_after(store: &EventStore, query: &Query, head: Head) -> Vec<StoredEvent> {
    read(store, query, QueryOptions::new().after(head)).await.1
}

/// A query read, or its error.
pub(crate) async fn try_read(
    store: &EventStore,
    query: &Query,
    options: QueryOptions,
) -> Result<Vec<StoredEvent>> {
    let read = store.log().query(query.clone(), options).await?;
    read.events.try_collect().await
}

/// Publishes `events` to `category/name` with no condition.
pub(crate) async fn put(
    store: &EventStore,
    category: &str,
    name: &str,
    events: impl IntoIterator<Item = NewEvent>,
) -> Vec<StoredEvent> {
    stream(store, category, name)
        .publish(events, WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|error| panic!("publishing to {category}/{name} failed: {error}"))
}

/// Asserts that `result` is [`Error::BoundaryMoved`] on `head`, reporting one
/// of the events in `moved` (those matching the query after the head).
#[track_caller]
pub(crate) fn assert_moved<T: std::fmt::Debug>(
    result: Result<T>,
    head: Head,
    moved: &[StoredEvent],
) {
    match result {
        Err(
            ref error @ Error::BoundaryMoved {
                head: reported,
                found,
                ..
            },
        ) => {
            assert_eq!(reported, head, "the error names the head decided at");
            assert!(
                moved.iter().any(|event| event.sequence_number == found),
                "the error names event {found}, which is not one that moved the boundary: {:?}",
                super::support::sequence_numbers(moved)
            );
            assert!(error.is_unmet_condition(), "an unmet condition");
            assert!(
                error.should_decide_again(),
                "a moved boundary is decided again"
            );
        }
        other => panic!("expected the boundary to have moved, got {other:?}"),
    }
}

/// Asserts that `result` is [`Error::AlreadyMatched`] naming one of
/// `matching`.
#[track_caller]
pub(crate) fn assert_matched<T: std::fmt::Debug>(result: Result<T>, matching: &[StoredEvent]) {
    match result {
        Err(error @ Error::AlreadyMatched { found, .. }) => {
            assert!(
                matching.iter().any(|event| event.sequence_number == found),
                "the error names event {found}, which does not match the guard"
            );
            assert!(error.is_unmet_condition(), "an unmet condition");
            assert!(
                !error.should_decide_again(),
                "what a guard prevents stays: deciding again cannot help"
            );
        }
        other => panic!("expected the guard to find a match, got {other:?}"),
    }
}

/// Whether the store offers consistency boundaries. When it does not, checks
/// that every request needing them is refused as [`Error::Unsupported`] and
/// writes nothing, so a case can end there.
pub(crate) async fn offers_boundaries(store: &EventStore) -> bool {
    if store.adapter().capabilities().boundaries {
        return true;
    }
    let before = log(store).await;
    let course = tag_query("course:c1");
    let handle = stream(store, "refused", "s");
    let one = || [tagged("noted", &["course:c1"])];
    let refusals: Vec<(&str, Result<()>)> = vec![
        (
            "a log query",
            try_read(store, &course, QueryOptions::new())
                .await
                .map(drop),
        ),
        (
            "a category query",
            match store.category("refused") {
                Ok(category) => category
                    .query(course.clone(), QueryOptions::new())
                    .await
                    .map(drop),
                Err(error) => Err(error),
            },
        ),
        (
            "a query condition",
            handle
                .publish(one(), WriteCondition::NoneMatch(course.clone()))
                .await
                .map(drop),
        ),
        (
            "a last event id condition",
            handle
                .publish(one(), WriteCondition::LastEventIs(uuid::Uuid::now_v7()))
                .await
                .map(drop),
        ),
        (
            "a condition of a whole publish",
            store
                .log()
                .publish(vec![write(
                    "refused",
                    "s",
                    one(),
                    WriteCondition::NoCondition,
                )])
                .condition(WriteCondition::NoneMatch(course.clone()))
                .await
                .map(drop),
        ),
        (
            "a publish spanning categories",
            store
                .log()
                .publish(vec![
                    write("refused", "s", one(), WriteCondition::NoCondition),
                    write("refused-too", "s", one(), WriteCondition::NoCondition),
                ])
                .await
                .map(drop),
        ),
        (
            "a tracked publish",
            handle
                .publish(one(), WriteCondition::NoCondition)
                .tracking("consumer", 1)
                .await
                .map(drop),
        ),
        (
            "a tracked position",
            store.tracked_position("consumer").await.map(drop),
        ),
    ];
    for (what, result) in refusals {
        assert!(
            matches!(result, Err(Error::Unsupported { .. })),
            "{what} without consistency boundaries must be unsupported, got {result:?}"
        );
    }
    assert_eq!(log(store).await, before, "refused requests write nothing");
    false
}
