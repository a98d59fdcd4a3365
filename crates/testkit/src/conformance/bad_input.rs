//! Bad input: each rejected up front with a typed error naming the field, and
//! nothing written.

use eventblocks_core::{EventStore, NewEvent, ScanQuery, StreamWrite, WriteCondition};
use futures::TryStreamExt;
use serde_json::json;
use uuid::Uuid;

use super::support::{assert_invalid, log, stream};
use crate::builders::{event, events};

/// Names no store accepts. White space around a name is kept as it is, but a
/// name of only white space is rejected.
pub fn bad_names() -> Vec<String> {
    vec![
        String::new(),
        " ".to_owned(),
        "\t\n ".to_owned(),
        "x".repeat(256),
        "é".repeat(128),
        "nul\0inside".to_owned(),
        "\0".to_owned(),
    ]
}

/// Bad category, stream and event names, and names in a scan's name filter.
pub async fn bad_names_are_rejected(store: EventStore) {
    for bad in bad_names() {
        assert_invalid(store.stream(&bad, "s"), "category");
        assert_invalid(store.category(&bad), "category");
        assert_invalid(store.stream("c", &bad), "stream");
        assert_invalid(event(&bad).try_build(), "event name");
        let scan: Result<Vec<_>, _> = store
            .log()
            .scan(ScanQuery::new().names([bad.clone()]))
            .try_collect()
            .await;
        assert_invalid(scan, "names");
    }
    let longest = "x".repeat(255);
    let handle = stream(&store, &longest, &longest);
    handle
        .publish([event(&longest).build()], WriteCondition::NoCondition)
        .await
        .expect("255-byte names are allowed");
    let padded = stream(&store, " c ", " s ");
    padded
        .publish(events("e", 1), WriteCondition::NoCondition)
        .await
        .expect("surrounding white space is kept");
    assert_eq!(
        padded.read().await.expect("read")[0].stream.stream.as_str(),
        " s "
    );
}

/// NUL in any payload or metadata string or key (PostgreSQL cannot store it).
pub async fn nul_characters_in_json_are_rejected(store: EventStore) {
    let _ = &store;
    for bad in [
        json!("a\u{0}b"),
        json!({ "key\u{0}": 1 }),
        json!({ "nested": ["ok", { "deep": "\u{0}" }] }),
    ] {
        assert_invalid(NewEvent::new("e", &bad), "payload");
        assert_invalid(
            event("e").metadata(json!({ "m": bad.clone() })).try_build(),
            "metadata",
        );
    }
    assert_invalid(
        event("e").metadata(json!({ "\u{0}": true })).try_build(),
        "metadata",
    );
}

/// Metadata must be a JSON object.
pub async fn metadata_must_be_an_object(store: EventStore) {
    let handle = stream(&store, "c", "s");
    for bad in [
        json!([1, 2]),
        json!("text"),
        json!(3),
        json!(null),
        json!(true),
    ] {
        let result = match event("e").metadata(bad).try_build() {
            Ok(event) => handle.publish([event], WriteCondition::NoCondition).await,
            Err(error) => Err(error),
        };
        assert_invalid(result, "metadata");
    }
}

/// One publish may not carry the same id twice.
pub async fn duplicate_ids_in_one_publish_are_rejected(store: EventStore) {
    let handle = stream(&store, "c", "s");
    let id = Uuid::now_v7();
    let result = handle
        .publish(
            [event("a").id(id).build(), event("b").id(id).build()],
            WriteCondition::NoCondition,
        )
        .await;
    assert_invalid(result, "events[1].id");
    let category = store.category("c").expect("category");
    let other = category.stream("t").expect("stream");
    let result = category
        .publish(vec![
            StreamWrite::new(
                handle.identifier().clone(),
                [event("a").id(id).build()],
                WriteCondition::NoCondition,
            ),
            StreamWrite::new(
                other.identifier().clone(),
                [event("b").id(id).build()],
                WriteCondition::NoCondition,
            ),
        ])
        .await;
    assert_invalid(result, "events[0].id");
}

/// The nil UUID is not an event id.
pub async fn a_nil_id_is_rejected(store: EventStore) {
    let handle = stream(&store, "c", "s");
    let result = handle
        .publish(
            [event("e").id(Uuid::nil()).build()],
            WriteCondition::NoCondition,
        )
        .await;
    assert_invalid(result, "events[0].id");
}

/// Publishing no events is an error, not a no-op: it is almost always a bug,
/// and a condition checked with nothing to write would say nothing useful.
pub async fn an_empty_publish_is_rejected(store: EventStore) {
    let handle = stream(&store, "c", "s");
    assert_invalid(
        handle
            .publish(Vec::<NewEvent>::new(), WriteCondition::NoCondition)
            .await,
        "events",
    );
    let category = store.category("c").expect("category");
    assert_invalid(category.publish(Vec::new()).await, "writes");
    let result = category
        .publish(vec![StreamWrite::new(
            handle.identifier().clone(),
            Vec::new(),
            WriteCondition::NoCondition,
        )])
        .await;
    assert_invalid(result, "events");
}

/// Positions and sequence numbers beyond `i64::MAX` cannot be stored.
pub async fn positions_beyond_i64_are_rejected(store: EventStore) {
    let handle = stream(&store, "c", "s");
    let too_large = u64::try_from(i64::MAX).unwrap_or(u64::MAX) + 1;
    for condition in [
        WriteCondition::PositionIs(Some(too_large)),
        WriteCondition::StreamIsEmpty | WriteCondition::PositionIs(Some(u64::MAX)),
    ] {
        assert_invalid(handle.publish(events("e", 1), condition).await, "condition");
    }
    let scan: Result<Vec<_>, _> = store
        .log()
        .scan(ScanQuery::new().after(too_large))
        .try_collect()
        .await;
    assert_invalid(scan, "after");
    let scan: Result<Vec<_>, _> = handle
        .scan(ScanQuery::new().from_position(too_large))
        .try_collect()
        .await;
    assert_invalid(scan, "from_position");
}

/// A limit of 0 is rejected, not taken to mean "no limit".
pub async fn a_limit_of_zero_is_rejected(store: EventStore) {
    let scan: Result<Vec<_>, _> = store
        .log()
        .scan(ScanQuery::new().limit(0))
        .try_collect()
        .await;
    assert_invalid(scan, "limit");
    assert_invalid(
        stream(&store, "c", "s")
            .scan(ScanQuery::new().limit(0))
            .try_collect::<Vec<_>>()
            .await,
        "limit",
    );
}

/// After every kind of bad input above, the store is still empty.
pub async fn bad_input_writes_nothing(store: EventStore) {
    Box::pin(metadata_must_be_an_object(store.clone())).await;
    Box::pin(duplicate_ids_in_one_publish_are_rejected(store.clone())).await;
    Box::pin(a_nil_id_is_rejected(store.clone())).await;
    Box::pin(an_empty_publish_is_rejected(store.clone())).await;
    Box::pin(positions_beyond_i64_are_rejected(store.clone())).await;
    assert!(log(&store).await.is_empty(), "bad input wrote something");
}
