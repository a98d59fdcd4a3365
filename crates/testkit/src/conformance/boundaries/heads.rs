//! Heads: text and JSON forms, refusal of foreign and malformed ones, and a
//! read's head of one moment with its events.

use eventblocks_core::{
    EventStore, Head, QueryOptions, StoredEvent, SubscriptionOptions, WriteCondition,
};
use futures::StreamExt;

use super::{assert_moved, offers_boundaries, put, read, read_after, tag_query, tagged, try_read};
use crate::conformance::support::{assert_invalid, log};

/// A head crosses processes as text: its `Display` parses back with
/// `FromStr`, and serde (as a JSON string) gives the same head, which reads
/// and conditions accept as the original.
pub async fn heads_round_trip_as_text_and_json(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let course = tag_query("course:c1");
    put(
        &store,
        "courses",
        "c1",
        [tagged("course-defined", &["course:c1"])],
    )
    .await;
    let (head, _) = read(&store, &course, QueryOptions::new()).await;
    let parsed: Head = head.to_string().parse().expect("a head parses back");
    assert_eq!(parsed, head);
    let json = serde_json::to_value(head).expect("serialises");
    assert!(json.is_string(), "a head is a JSON string: {json}");
    let decoded: Head = serde_json::from_value(json).expect("deserialises");
    assert_eq!(decoded, head);
    let new = put(
        &store,
        "courses",
        "c1",
        [tagged("course-renamed", &["course:c1"])],
    )
    .await;
    assert_eq!(read_after(&store, &course, decoded).await, new);
    let moved = store
        .stream("courses", "c1")
        .expect("stream")
        .publish(
            [tagged("course-closed", &["course:c1"])],
            WriteCondition::NoneMatchAfter(course, parsed),
        )
        .await;
    assert_moved(moved, head, &new);
}

/// A malformed head does not parse, and a head of another store is refused
/// by reads, conditions and subscriptions as invalid input, writing nothing.
pub async fn a_head_from_another_store_or_malformed_is_refused(store: EventStore) {
    for malformed in [
        "",
        "head",
        "12",
        "zz-1",
        "0000000000000000-",
        "0000000000000000-x",
    ] {
        assert_invalid(malformed.parse::<Head>(), "head");
        assert!(
            serde_json::from_value::<Head>(serde_json::json!(malformed)).is_err(),
            "{malformed:?} does not deserialise"
        );
    }
    if !offers_boundaries(&store).await {
        return;
    }
    let course = tag_query("course:c1");
    let (head, _) = read(&store, &course, QueryOptions::new()).await;
    let foreign = Head::new(head.store().wrapping_add(1), head.frontier());
    let foreign: Head = foreign.to_string().parse().expect("well formed");
    assert_invalid(
        try_read(&store, &course, QueryOptions::new().after(foreign)).await,
        "after",
    );
    let category = store.category("courses").expect("category");
    assert_invalid(
        category
            .query(course.clone(), QueryOptions::new().after(foreign))
            .await,
        "after",
    );
    let handle = store.stream("courses", "c1").expect("stream");
    let event = || [tagged("course-defined", &["course:c1"])];
    let condition = WriteCondition::NoneMatchAfter(course.clone(), foreign);
    assert_invalid(
        handle.publish(event(), condition.clone()).await,
        "condition",
    );
    assert_invalid(
        handle
            .publish(event(), WriteCondition::StreamIsEmpty | condition.clone())
            .await,
        "condition",
    );
    let writes = vec![super::write(
        "courses",
        "c1",
        event(),
        WriteCondition::NoCondition,
    )];
    assert_invalid(
        store.log().publish(writes).condition(condition).await,
        "condition",
    );
    assert_invalid(
        store
            .log()
            .subscribe(SubscriptionOptions::new().after_head(foreign))
            .map(drop),
        "after_head",
    );
    assert!(log(&store).await.is_empty(), "nothing was written");
}

/// The head is of the same moment as the events: events published while a
/// read is consumed, page after page, are not among its events, and lie
/// after its head (a read after it returns them, and a condition on it
/// fails). Another store's head taken at another moment than its events
/// (Marten's bug) lets a decision miss them.
pub async fn a_query_read_and_its_head_are_one_snapshot(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let course = tag_query("course:c1");
    let before: Vec<StoredEvent> = put(
        &store,
        "students",
        "s1",
        (0..30).map(|_| tagged("student-enrolled", &["course:c1"])),
    )
    .await;
    let reading = store
        .log()
        .query(course.clone(), QueryOptions::new())
        .await
        .expect("read");
    let head = reading.head;
    let mut events = reading.events;
    let mut seen = Vec::new();
    // One before the first event is even asked for: a lazy first page too
    // keeps to the head.
    let mut during = put(
        &store,
        "students",
        "s2",
        [tagged("student-enrolled", &["course:c1"])],
    )
    .await;
    while let Some(event) = events.next().await {
        seen.push(event.expect("read"));
        if seen.len() % 5 == 1 {
            during.extend(
                put(
                    &store,
                    "students",
                    "s2",
                    [tagged("student-enrolled", &["course:c1"])],
                )
                .await,
            );
        }
    }
    assert_eq!(
        seen, before,
        "the events of the read's moment, no later ones"
    );
    assert_eq!(read_after(&store, &course, head).await, during);
    let moved = store
        .stream("students", "s3")
        .expect("stream")
        .publish(
            [tagged("student-enrolled", &["course:c1"])],
            WriteCondition::NoneMatchAfter(course, head),
        )
        .await;
    assert_moved(moved, head, &during);
}
