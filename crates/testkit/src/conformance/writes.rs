//! Saving and reading back.

use chrono::{TimeZone, Utc};
use eventblocks_core::{EventStore, ScanQuery, StreamWrite, WriteCondition};
use serde_json::json;
use uuid::Uuid;

use super::support::{collect, log, names, publish, sequence_numbers, stream};
use crate::builders::event;

/// Every field of an event survives the round trip.
pub async fn round_trip_keeps_every_field(store: EventStore) {
    let handle = stream(&store, "profiles", "joe.bloggs");
    let id = Uuid::now_v7();
    let occurred_at = Utc.with_ymd_and_hms(1992, 7, 10, 8, 30, 0).unwrap();
    let new = event("profile-created")
        .id(id)
        .payload(json!({ "name": "Joe", "tags": ["a", "b"], "age": 34, "ratio": 0.5, "ok": true, "none": null, "nested": { "é": "ü" } }))
        .metadata(json!({ "causation": "signup" }))
        .occurred_at(occurred_at)
        .build();
    let observed_at = new.observed_at();
    let stored = handle
        .publish([new.clone()], WriteCondition::StreamIsEmpty)
        .await
        .expect("publish");
    assert_eq!(stored.len(), 1);
    let event = &stored[0];
    assert_eq!(event.id, id);
    assert_eq!(event.name.as_str(), "profile-created");
    assert_eq!(&event.stream, handle.identifier());
    assert_eq!(event.position, 0);
    assert_eq!(event.payload, *new.payload());
    assert_eq!(event.metadata, *new.metadata());
    assert_eq!(event.occurred_at, occurred_at);
    assert_eq!(event.observed_at, observed_at);
    assert_eq!(handle.read().await.expect("read"), stored, "read back");
    assert_eq!(log(&store).await, stored, "in the log");
}

/// The events of one publish take consecutive positions and increasing
/// sequence numbers.
pub async fn a_publish_is_stored_contiguously(store: EventStore) {
    let handle = stream(&store, "orders", "o-1");
    let first = publish(&handle, "item-added", 3).await;
    let second = publish(&handle, "item-removed", 2).await;
    let positions: Vec<u64> = first.iter().chain(&second).map(|e| e.position).collect();
    assert_eq!(positions, [0, 1, 2, 3, 4]);
    let numbers = sequence_numbers(&[first, second].concat());
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
}

/// Sequence numbers increase across the whole log.
pub async fn sequence_numbers_increase_across_streams(store: EventStore) {
    let mut stored = Vec::new();
    for (category, name) in [("a", "1"), ("b", "1"), ("a", "2"), ("a", "1")] {
        stored.extend(publish(&stream(&store, category, name), "happened", 2).await);
    }
    let numbers = sequence_numbers(&stored);
    assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{numbers:?}");
    assert_eq!(log(&store).await, stored);
}

/// A category publish writes each stream's events at that stream's next
/// positions, and returns them in request order.
pub async fn a_category_publish_writes_every_stream(store: EventStore) {
    let existing = publish(&stream(&store, "accounts", "a"), "opened", 1).await;
    let category = store.category("accounts").expect("category");
    let a = category.stream("a").expect("stream");
    let b = category.stream("b").expect("stream");
    let stored = category
        .publish(vec![
            StreamWrite::new(
                b.identifier().clone(),
                [event("opened").build()],
                WriteCondition::StreamIsEmpty,
            ),
            StreamWrite::new(
                a.identifier().clone(),
                [event("debited").build(), event("closed").build()],
                WriteCondition::PositionIs(Some(0)),
            ),
        ])
        .await
        .expect("category publish");
    assert_eq!(names(&stored), ["opened", "debited", "closed"]);
    assert_eq!(stored[0].position, 0);
    assert_eq!((stored[1].position, stored[2].position), (1, 2));
    assert_eq!(b.read().await.expect("read"), stored[..1]);
    assert_eq!(
        a.read().await.expect("read"),
        [&existing[..], &stored[1..]].concat()
    );
    let in_category = collect(category.scan(ScanQuery::new())).await;
    assert_eq!(in_category.len(), 4);
}
