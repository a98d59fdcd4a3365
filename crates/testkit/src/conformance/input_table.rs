//! The input table: every hostile or unusual input, each either stored and
//! read back as the same value (byte for byte, but for white space and how a
//! backend spells numbers) or rejected with the same typed error, with nothing
//! written. The JSON number rules are pinned by [`numbers_that_round_trip`] and
//! [`numbers_that_are_refused`].

use std::time::Duration;

use chrono::{TimeZone, Utc};
use eventblocks_core::{
    Error, EventStore, Json, Name, NewEvent, ScanQuery, SubscriptionMessage, SubscriptionOptions,
    WriteCondition,
};
use futures::TryStreamExt;
use serde_json::json;
use uuid::Uuid;

use super::numbers::{numbers_that_round_trip, refused_numbers, round_trip_number};
use super::support::{assert_invalid, collect, log, stream};
use crate::builders::event;

/// Names that must round-trip exactly: SQL, quotes, format strings, emoji,
/// right-to-left text, combining characters, padding.
pub fn names_that_round_trip() -> Vec<String> {
    vec![
        "x".repeat(255),
        "'; DROP TABLE events; --".to_owned(),
        "Robert'); DROP TABLE students;--".to_owned(),
        "$1".to_owned(),
        "\"quoted\"".to_owned(),
        "back\\slash".to_owned(),
        "%s %n {0}".to_owned(),
        "😀🚀".to_owned(),
        "שלום".to_owned(),
        "e\u{301}".to_owned(),
        "\u{202E}override".to_owned(),
        " padded ".to_owned(),
    ]
}

/// Payload texts that must round-trip as the same JSON value, and (all but the
/// exponent, which a backend may write out in full) digit for digit.
pub fn payloads_that_round_trip() -> Vec<String> {
    vec![
        "18446744073709551616".to_owned(),
        "-9223372036854775809".to_owned(),
        "[1.5e300]".to_owned(),
        format!("{}1{}", "[".repeat(100), "]".repeat(100)),
        json!({ "big": "x".repeat(1 << 20) }).to_string(),
        json!(["'); DELETE FROM events; --", "🚀", "\u{202E}"]).to_string(),
    ]
}

/// Every entry of the table against `store`.
pub async fn every_input_in_the_table_is_handled_alike(store: EventStore) {
    let mut tried = 0;
    for name in names_that_round_trip() {
        round_trip_name(&store, &name).await;
        tried += 1;
    }
    for text in payloads_that_round_trip() {
        round_trip_payload(&store, &text).await;
        tried += 1;
    }
    for text in numbers_that_round_trip() {
        round_trip_number(&store, &text).await;
        tried += 1;
    }
    a_reused_id_conflicts(&store).await;
    tried += 1;
    an_event_at_the_size_limit_is_stored(&store).await;
    tried += 1;
    tried += huge_limits_read_everything(&store).await;
    let stored_before = log(&store).await.len();
    tried += rejected_inputs(&store).await;
    tried += refused_numbers();
    assert_eq!(
        log(&store).await.len(),
        stored_before,
        "a rejected input wrote something"
    );
    assert!(tried >= 30, "the table has {tried} inputs");
}

async fn round_trip_name(store: &EventStore, name: &str) {
    let handle = stream(store, name, name);
    let published = handle
        .publish([event(name).build()], WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|e| panic!("publishing under {name:?}: {e}"));
    let read = handle
        .read()
        .await
        .unwrap_or_else(|e| panic!("reading {name:?}: {e}"));
    assert_eq!(read, published, "{name:?} changed on the way");
    assert_eq!(read[0].stream.category.as_str().as_bytes(), name.as_bytes());
    assert_eq!(read[0].stream.stream.as_str().as_bytes(), name.as_bytes());
    assert_eq!(read[0].name.as_str().as_bytes(), name.as_bytes());
}

async fn round_trip_payload(store: &EventStore, text: &str) {
    let payload = Json::from_text("payload", text.to_owned())
        .unwrap_or_else(|e| panic!("{text:.40} is storable: {e}"));
    let name = Name::new("event name", "odd-payload").unwrap_or_else(|e| panic!("{e}"));
    let handle = stream(store, "payloads", "odd");
    let published = handle
        .publish(
            [NewEvent::with_json(name, payload.clone())],
            WriteCondition::NoCondition,
        )
        .await
        .unwrap_or_else(|e| panic!("publishing {text:.40}: {e}"));
    let read = collect(handle.scan(ScanQuery::new().from_position(published[0].position))).await;
    assert_eq!(
        read[0].payload, payload,
        "{text:.60} changed value on the way"
    );
    let stored = read[0].payload.as_str();
    if text.contains('e') && !text.contains('"') {
        // A backend may write the number out without its exponent.
        return;
    }
    assert_eq!(
        compact(stored),
        compact(text),
        "{text:.60} changed on the way"
    );
}

/// The JSON text without insignificant white space, so PostgreSQL's `jsonb`
/// output (`", "`, `": "`) compares with the input; numbers keep their digits.
fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => escaped = false,
            }
        } else if !c.is_whitespace() {
            in_string = c == '"';
            out.push(c);
        }
    }
    out
}

/// Inputs every store rejects with [`Error::InvalidInput`] (or, for a reused
/// id, [`Error::EventIdConflict`]); how many were tried.
async fn rejected_inputs(store: &EventStore) -> usize {
    let mut tried = 0;
    let mut check = |result: eventblocks_core::Result<()>, field: &str| {
        assert_invalid(result, field);
        tried += 1;
    };
    for bad in ["", " ", "\t", "nul\0", &"x".repeat(256)] {
        check(store.stream(bad, "s").map(drop), "category");
        check(store.stream("c", bad).map(drop), "stream");
        check(event(bad).try_build().map(drop), "event name");
    }
    for payload in [json!("a\u{0}"), json!({ "k\u{0}": 1 })] {
        check(NewEvent::new("e", &payload).map(drop), "payload");
    }
    for text in [r#"{"a":1,"a":2}"#, r#"[{"k":{"a":1,"\u0061":1}}]"#] {
        check(Json::from_text("payload", text).map(drop), "payload");
        let metadata = Json::from_text("metadata", format!(r#"{{"m":{text}}}"#));
        check(metadata.map(drop), "metadata");
    }
    for metadata in [json!([]), json!("text"), json!(null), json!(1)] {
        check(
            event("e").metadata(metadata).try_build().map(drop),
            "metadata",
        );
    }
    let handle = stream(store, "bad", "input");
    let publish = |events: Vec<NewEvent>| handle.publish(events, WriteCondition::NoCondition);
    let id = Uuid::now_v7();
    check(
        publish(vec![event("e").id(id).build(), event("f").id(id).build()])
            .await
            .map(drop),
        "id",
    );
    check(
        publish(vec![event("e").id(Uuid::nil()).build()])
            .await
            .map(drop),
        "id",
    );
    check(publish(vec![]).await.map(drop), "events");
    for year in [0, 10_000] {
        let when = Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).single();
        if let Some(when) = when {
            check(
                publish(vec![event("e").occurred_at(when).build()])
                    .await
                    .map(drop),
                "occurred_at",
            );
        }
    }
    let unreachable = WriteCondition::PositionIs(Some(u64::MAX));
    check(
        handle
            .publish([event("e").build()], unreachable)
            .await
            .map(drop),
        "condition",
    );
    check(
        publish(vec![event_of_size(
            store.adapter().limits().max_event_bytes + 1,
        )])
        .await
        .map(drop),
        "events[0]",
    );
    let zero_limit: eventblocks_core::Result<Vec<_>> = store
        .log()
        .scan(ScanQuery::new().limit(0))
        .try_collect()
        .await;
    check(zero_limit.map(drop), "limit");
    let zero_page = SubscriptionOptions::new().page_size(0);
    check(store.log().subscribe(zero_page).map(drop), "page_size");
    let zero_poll = SubscriptionOptions::new().poll_interval(Duration::ZERO);
    check(store.log().subscribe(zero_poll).map(drop), "poll_interval");
    tried
}

/// An event whose payload and (empty object) metadata are `size` bytes of
/// JSON text together.
fn event_of_size(size: usize) -> NewEvent {
    let metadata = Json::empty_object();
    let quotes = 2;
    let text = format!(
        "\"{}\"",
        "x".repeat(size - metadata.as_str().len() - quotes)
    );
    let payload = Json::from_text("payload", text).unwrap_or_else(|e| panic!("{e}"));
    let name = Name::new("event name", "sized").unwrap_or_else(|e| panic!("{e}"));
    NewEvent::with_json(name, payload)
}

/// The largest event the adapter accepts is stored whole.
async fn an_event_at_the_size_limit_is_stored(store: &EventStore) {
    let limit = store.adapter().limits().max_event_bytes;
    let handle = stream(store, "sizes", "at-limit");
    let published = handle
        .publish([event_of_size(limit)], WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|e| panic!("an event of exactly {limit} bytes: {e}"));
    let read = handle.read().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(read, published);
    assert_eq!(
        read[0].payload.as_str().len() + read[0].metadata.as_str().len(),
        limit
    );
}

/// The largest scan limit and subscription page size read the whole log, in
/// pages the adapter bounds.
async fn huge_limits_read_everything(store: &EventStore) -> usize {
    let everything = log(store).await;
    let scanned = collect(store.log().scan(ScanQuery::new().limit(u64::MAX))).await;
    assert_eq!(scanned, everything, "a scan limited to u64::MAX");
    let options = SubscriptionOptions::new().page_size(u64::MAX);
    let mut subscription = store
        .log()
        .subscribe(options)
        .unwrap_or_else(|e| panic!("a page size of u64::MAX: {e}"));
    let mut delivered = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(30), subscription.try_next()).await;
        match next.unwrap_or_else(|_| panic!("the subscription stalled")) {
            Ok(Some(SubscriptionMessage::Event(event))) => delivered.push(event),
            Ok(Some(SubscriptionMessage::CaughtUp { .. })) => break,
            Ok(Some(_)) => {}
            Ok(None) => panic!("the subscription ended"),
            Err(e) => panic!("subscribing with a page size of u64::MAX: {e}"),
        }
    }
    assert_eq!(delivered, everything, "a subscription paging by u64::MAX");
    2
}

/// The same id again with other content conflicts, and writes nothing.
async fn a_reused_id_conflicts(store: &EventStore) {
    let handle = stream(store, "reused", "id");
    let original = event("original").build();
    let reused_id = original.id();
    handle
        .publish([original], WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let other = event("other").id(reused_id).build();
    match handle.publish([other], WriteCondition::NoCondition).await {
        Err(Error::EventIdConflict { id, .. }) => assert_eq!(id, reused_id),
        other => panic!("expected an id conflict, got {other:?}"),
    }
    assert_eq!(handle.read().await.map(|events| events.len()).ok(), Some(1));
}
