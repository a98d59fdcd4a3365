//! Tags on events: stored as a sorted set by every adapter, validated before
//! anything is written, and part of what makes a retry the same event.

use std::collections::BTreeSet;

use eventblocks_core::{Error, EventStore, NewEvent, Tag, WriteCondition};

use super::{put, write};
use crate::builders::event;
use crate::conformance::support::{assert_invalid, log, stream};

fn tag_set(values: &[&str]) -> BTreeSet<Tag> {
    values
        .iter()
        .map(|value| Tag::new(*value).unwrap_or_else(|error| panic!("{value:?}: {error}")))
        .collect()
}

/// Tags come back from a publish, a stream read and a log scan as the sorted
/// set given (order and repeats do not matter), byte for byte, up to the
/// adapter's most tags per event; an event without tags has none.
pub async fn tags_come_back_as_a_sorted_set(store: EventStore) {
    let longest = "t".repeat(255);
    let given = [
        "student:s1",
        "course:c1",
        " padded ",
        "ü:ß",
        "course:c1",
        &longest,
    ];
    let most = store.adapter().limits().max_tags_per_event.min(256);
    let many: Vec<String> = (0..most).map(|index| format!("many:{index:03}")).collect();
    let events = vec![
        event("student-enrolled").tags(given).build(),
        event("noted").build(),
        event("crowded").tags(many.iter().cloned()).build(),
    ];
    let stored = put(&store, "tagged", "s", events).await;
    let expected = [
        tag_set(&given),
        BTreeSet::new(),
        many.iter()
            .map(|tag| Tag::new(tag.as_str()).expect("valid"))
            .collect(),
    ];
    let stored_tags: Vec<&BTreeSet<Tag>> = stored.iter().map(|event| &event.tags).collect();
    assert_eq!(
        stored_tags,
        expected.iter().collect::<Vec<_>>(),
        "as published"
    );
    let sorted: Vec<&str> = stored[0].tags.iter().map(Tag::as_str).collect();
    let mut by_hand: Vec<&str> = given.to_vec();
    by_hand.sort_unstable();
    by_hand.dedup();
    assert_eq!(sorted, by_hand, "a sorted set, byte for byte");
    let read = stream(&store, "tagged", "s").read().await.expect("read");
    assert_eq!(read, stored, "read back");
    assert_eq!(log(&store).await, stored, "in the log");
}

/// Tags that are empty, only white space, longer than 255 bytes or hold a NUL
/// are refused where they are given; more tags than the adapter's
/// [`Limits::max_tags_per_event`](eventblocks_core::Limits) are refused by
/// the publish, in any write of it, before anything is written.
pub async fn invalid_tags_are_refused_before_anything_is_written(store: EventStore) {
    let too_long = "x".repeat(256);
    for bad in ["", " ", "\t", "nul\0inside", too_long.as_str()] {
        assert_invalid(NewEvent::new("e", &1).and_then(|e| e.tag(bad)), "tag");
        assert_invalid(event("e").tags([bad]).try_build(), "tag");
        assert_invalid(eventblocks_core::QueryItem::new().tags([bad]), "tag");
        assert_invalid(Tag::new(bad), "tag");
    }
    assert!(
        serde_json::from_str::<Tag>("\"\"").is_err(),
        "a tag deserialised is validated"
    );
    let most = store.adapter().limits().max_tags_per_event;
    if most >= 10_000 {
        return;
    }
    let crowded = || {
        event("crowded")
            .tags((0..=most).map(|index| format!("t{index}")))
            .build()
    };
    let handle = stream(&store, "tagged", "s");
    assert_invalid(
        handle
            .publish([crowded()], WriteCondition::NoCondition)
            .await,
        "events[0].tags",
    );
    let fine = event("fine").tags(["t"]).build();
    assert_invalid(
        handle
            .publish([fine.clone(), crowded()], WriteCondition::NoCondition)
            .await,
        "events[1].tags",
    );
    let category = store.category("tagged").expect("category");
    let writes = vec![
        write("tagged", "a", [fine.clone()], WriteCondition::NoCondition),
        write("tagged", "b", [crowded()], WriteCondition::NoCondition),
    ];
    assert_invalid(category.publish(writes.clone()).await, "tags");
    assert_invalid(store.log().publish(writes).await, "tags");
    assert!(log(&store).await.is_empty(), "nothing was written");
}

/// A retry is the same event only with the same tags: the same set in any
/// order is a retry, another set is a conflicting id.
pub async fn tags_count_in_retry_equality(store: EventStore) {
    let handle = stream(&store, "tagged", "s");
    let first = event("student-enrolled")
        .tags(["course:c1", "student:s1"])
        .build();
    let stored = handle
        .publish([first.clone()], WriteCondition::StreamIsEmpty)
        .await
        .expect("first publish");
    let same = event("student-enrolled")
        .id(first.id())
        .tags(["student:s1", "course:c1", "student:s1"])
        .build();
    let retried = handle
        .publish([same], WriteCondition::StreamIsEmpty)
        .await
        .expect("the same tags in another order are a retry");
    assert_eq!(retried, stored);
    for other in [
        event("student-enrolled")
            .id(first.id())
            .tags(["course:c1"])
            .build(),
        event("student-enrolled")
            .id(first.id())
            .tags(["course:c1", "student:s1", "extra"])
            .build(),
        event("student-enrolled").id(first.id()).build(),
    ] {
        let result = handle.publish([other], WriteCondition::NoCondition).await;
        assert!(
            matches!(result, Err(Error::EventIdConflict { id, .. }) if id == first.id()),
            "other tags are another event: {result:?}"
        );
    }
    assert_eq!(log(&store).await, stored, "nothing written twice");
}
