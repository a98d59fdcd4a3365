//! Small helpers shared by the cases.

use eventblocks_core::{
    Error, EventStore, EventStream, Result, ScanQuery, StoredEvent, StreamHandle, WriteCondition,
};
use futures::TryStreamExt;

use crate::builders;

/// Collects a scan, failing the case on an error.
pub(crate) async fn collect(stream: EventStream) -> Vec<StoredEvent> {
    stream
        .try_collect()
        .await
        .unwrap_or_else(|error| panic!("scan failed: {error}"))
}

pub(crate) async fn log(store: &EventStore) -> Vec<StoredEvent> {
    collect(store.log().scan(ScanQuery::new())).await
}

pub(crate) fn stream(store: &EventStore, category: &str, name: &str) -> StreamHandle {
    store
        .stream(category, name)
        .unwrap_or_else(|error| panic!("{category}/{name} is a valid stream: {error}"))
}

/// Publishes `count` events named `name`, failing the case on an error.
pub(crate) async fn publish(handle: &StreamHandle, name: &str, count: usize) -> Vec<StoredEvent> {
    handle
        .publish(builders::events(name, count), WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|error| panic!("publish to {} failed: {error}", handle.identifier()))
}

/// Asserts that `result` is an unmet condition on `stream` that found `found`.
pub(crate) fn assert_unmet<T: std::fmt::Debug>(
    result: Result<T>,
    stream: &StreamHandle,
    found: Option<u64>,
) {
    match result {
        Err(Error::UnmetCondition {
            stream: failed,
            found: actual,
            ..
        }) => {
            assert_eq!(&failed, stream.identifier(), "the error names the stream");
            assert_eq!(actual, found, "the error says what was found");
        }
        other => panic!(
            "expected an unmet condition on {}, got {other:?}",
            stream.identifier()
        ),
    }
}

/// Asserts that `result` is invalid input on a field whose name contains
/// `field`.
pub(crate) fn assert_invalid<T: std::fmt::Debug>(result: Result<T>, field: &str) {
    match result {
        Err(Error::InvalidInput { field: actual, .. }) => assert!(
            actual.contains(field),
            "expected invalid input on {field}, got it on {actual}"
        ),
        other => panic!("expected invalid input on {field}, got {other:?}"),
    }
}

pub(crate) fn names(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|event| event.name.as_str()).collect()
}

pub(crate) fn sequence_numbers(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|event| event.sequence_number).collect()
}
