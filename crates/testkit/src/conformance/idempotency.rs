//! Idempotent retry by event id.

use eventblocks_core::{Error, EventStore, StreamWrite, WriteCondition};
use serde_json::json;

use super::support::{log, stream};
use crate::builders::{event, events};

/// Publishing events whose ids are already stored, as a retry would, returns
/// the stored events and writes nothing, whatever the condition says now.
pub async fn a_retry_returns_the_stored_events(store: EventStore) {
    let handle = stream(&store, "payments", "p-1");
    let batch = events("authorised", 3);
    let stored = handle
        .publish(batch.clone(), WriteCondition::StreamIsEmpty)
        .await
        .expect("first publish");
    for condition in [WriteCondition::StreamIsEmpty, WriteCondition::NoCondition] {
        let retried = handle
            .publish(batch.clone(), condition)
            .await
            .expect("the retry returns the stored events");
        assert_eq!(retried, stored);
    }
    assert_eq!(log(&store).await, stored, "nothing written twice");
    let next = handle
        .publish(events("captured", 1), WriteCondition::PositionIs(Some(2)))
        .await
        .expect("later publishes carry on");
    assert_eq!(next[0].position, 3);
}

/// The same for an atomic publish to several streams.
pub async fn a_retry_of_a_category_publish_returns_the_stored_events(store: EventStore) {
    let category = store.category("transfers").expect("category");
    let from = category.stream("from").expect("stream");
    let to = category.stream("to").expect("stream");
    let writes = vec![
        StreamWrite::new(
            from.identifier().clone(),
            events("debited", 1),
            WriteCondition::StreamIsEmpty,
        ),
        StreamWrite::new(
            to.identifier().clone(),
            events("credited", 2),
            WriteCondition::StreamIsEmpty,
        ),
    ];
    let stored = category
        .publish(writes.clone())
        .await
        .expect("first publish");
    let retried = category.publish(writes).await.expect("the retry");
    assert_eq!(retried, stored);
    assert_eq!(log(&store).await.len(), 3);
}

/// An id stored with different content is a conflict, not a retry.
pub async fn reusing_an_id_with_other_content_is_rejected(store: EventStore) {
    let handle = stream(&store, "c", "s");
    let original = event("e").payload(json!({ "amount": 1 })).build();
    handle
        .publish([original.clone()], WriteCondition::NoCondition)
        .await
        .expect("publish");
    let impostor = event("e")
        .payload(json!({ "amount": 2 }))
        .id(original.id())
        .build();
    match handle
        .publish([impostor], WriteCondition::NoCondition)
        .await
    {
        Err(Error::EventIdConflict { id, .. }) => assert_eq!(id, original.id()),
        other => panic!("expected an event id conflict, got {other:?}"),
    }
    assert_eq!(log(&store).await.len(), 1);
}

/// An id stored in one stream cannot be stored in another.
pub async fn reusing_an_id_in_another_stream_is_rejected(store: EventStore) {
    let first = stream(&store, "c", "first");
    let second = stream(&store, "c", "second");
    let shared = event("e").build();
    first
        .publish([shared.clone()], WriteCondition::NoCondition)
        .await
        .expect("publish");
    match second
        .publish(
            [event("other").build(), shared.clone()],
            WriteCondition::NoCondition,
        )
        .await
    {
        Err(Error::EventIdConflict { id, .. }) => assert_eq!(id, shared.id()),
        other => panic!("expected an event id conflict, got {other:?}"),
    }
    assert!(second.latest().await.expect("latest").is_none());
}
