//! Write conditions on stream and category publishes.

use eventblocks_core::{EventStore, StreamWrite, WriteCondition};

use super::support::{assert_unmet, log, publish, stream};
use crate::builders::{event, events};

/// `NoCondition` writes to empty and non-empty streams alike.
pub async fn no_condition_always_holds(store: EventStore) {
    let handle = stream(&store, "c", "s");
    for _ in 0..2 {
        handle
            .publish(events("e", 1), WriteCondition::NoCondition)
            .await
            .expect("no condition always holds");
    }
    assert_eq!(handle.read().await.expect("read").len(), 2);
}

/// `PositionIs` holds exactly when the stream's last position is the one given.
pub async fn position_is_checks_the_last_position(store: EventStore) {
    let handle = stream(&store, "c", "s");
    assert_unmet(
        handle
            .publish(events("e", 1), WriteCondition::PositionIs(Some(0)))
            .await,
        &handle,
        None,
    );
    handle
        .publish(events("e", 2), WriteCondition::PositionIs(None))
        .await
        .expect("None means empty");
    for wrong in [None, Some(0), Some(2)] {
        assert_unmet(
            handle
                .publish(events("e", 1), WriteCondition::PositionIs(wrong))
                .await,
            &handle,
            Some(1),
        );
    }
    let stored = handle
        .publish(events("e", 1), WriteCondition::PositionIs(Some(1)))
        .await
        .expect("the last position is 1");
    assert_eq!(stored[0].position, 2);
    assert_eq!(
        handle.read().await.expect("read").len(),
        3,
        "failures wrote nothing"
    );
}

/// `StreamIsEmpty` holds only before the first event.
pub async fn stream_is_empty_checks_for_no_events(store: EventStore) {
    let handle = stream(&store, "c", "s");
    handle
        .publish(events("e", 1), WriteCondition::StreamIsEmpty)
        .await
        .expect("the stream is empty");
    assert_unmet(
        handle
            .publish(events("e", 1), WriteCondition::StreamIsEmpty)
            .await,
        &handle,
        Some(0),
    );
    publish(&stream(&store, "c", "other"), "e", 1).await;
    assert_eq!(handle.read().await.expect("read").len(), 1);
}

/// `and` (and `&`) holds when both sides hold.
pub async fn and_needs_both_conditions(store: EventStore) {
    let handle = stream(&store, "c", "s");
    let impossible = WriteCondition::StreamIsEmpty.and(WriteCondition::PositionIs(Some(0)));
    assert_unmet(
        handle.publish(events("e", 1), impossible).await,
        &handle,
        None,
    );
    let both = WriteCondition::StreamIsEmpty & WriteCondition::PositionIs(None);
    handle
        .publish(events("e", 1), both)
        .await
        .expect("both hold");
    assert_unmet(
        handle
            .publish(
                events("e", 1),
                WriteCondition::NoCondition & WriteCondition::StreamIsEmpty,
            )
            .await,
        &handle,
        Some(0),
    );
    assert_eq!(handle.read().await.expect("read").len(), 1);
}

/// `or` (and `|`) holds when either side holds.
pub async fn or_needs_either_condition(store: EventStore) {
    let handle = stream(&store, "c", "s");
    let either = WriteCondition::StreamIsEmpty.or(WriteCondition::PositionIs(Some(0)));
    handle
        .publish(events("e", 1), either.clone())
        .await
        .expect("empty");
    handle
        .publish(events("e", 1), either.clone())
        .await
        .expect("last position 0");
    assert_unmet(
        handle.publish(events("e", 1), either).await,
        &handle,
        Some(1),
    );
    let nested = (WriteCondition::StreamIsEmpty | WriteCondition::PositionIs(Some(5)))
        | (WriteCondition::PositionIs(Some(1)) & WriteCondition::NoCondition);
    handle
        .publish(events("e", 1), nested)
        .await
        .expect("the nested right side holds");
    assert_eq!(handle.read().await.expect("read").len(), 3);
}

/// In a category publish each stream's condition is checked against that
/// stream.
pub async fn category_conditions_hold_per_stream(store: EventStore) {
    let category = store.category("c").expect("category");
    let a = category.stream("a").expect("stream");
    let b = category.stream("b").expect("stream");
    publish(&a, "e", 2).await;
    let stored = category
        .publish(vec![
            StreamWrite::new(
                a.identifier().clone(),
                events("e", 1),
                WriteCondition::PositionIs(Some(1)),
            ),
            StreamWrite::new(
                b.identifier().clone(),
                events("e", 1),
                WriteCondition::StreamIsEmpty,
            ),
        ])
        .await
        .expect("both conditions hold");
    assert_eq!((stored[0].position, stored[1].position), (2, 0));
}

/// When one stream's condition fails, no stream of the publish is written
/// and the error names the failing stream.
pub async fn a_failed_category_publish_writes_no_stream(store: EventStore) {
    let category = store.category("c").expect("category");
    let a = category.stream("a").expect("stream");
    let b = category.stream("b").expect("stream");
    publish(&b, "e", 1).await;
    let before = log(&store).await;
    let result = category
        .publish(vec![
            StreamWrite::new(
                a.identifier().clone(),
                [event("first").build()],
                WriteCondition::StreamIsEmpty,
            ),
            StreamWrite::new(
                b.identifier().clone(),
                [event("second").build()],
                WriteCondition::StreamIsEmpty,
            ),
        ])
        .await;
    assert_unmet(result, &b, Some(0));
    assert_eq!(log(&store).await, before, "nothing was written");
    assert!(a.latest().await.expect("latest").is_none());
}
