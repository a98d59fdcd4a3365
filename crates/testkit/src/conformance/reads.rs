//! Scans and `latest` for the log, categories and streams.

use eventblocks_core::{EventStore, ScanQuery, StoredEvent};
use futures::TryStreamExt;

use super::support::{collect, log, names, publish, sequence_numbers, stream};
use crate::builders::event;

/// Three streams in two categories: `a/1` (3 events), `b/1` (2), `a/2` (1),
/// published in that order, names alternating `even`/`odd` by position.
async fn populate(store: &EventStore) -> Vec<StoredEvent> {
    let mut stored = Vec::new();
    for (category, name, count) in [("a", "1", 3), ("b", "1", 2), ("a", "2", 1)] {
        let handle = stream(store, category, name);
        let events = (0..count)
            .map(|position| event(if position % 2 == 0 { "even" } else { "odd" }).build());
        stored.extend(
            handle
                .publish(events, eventblocks_core::WriteCondition::NoCondition)
                .await
                .expect("publish"),
        );
    }
    stored
}

fn only(events: &[StoredEvent], category: &str, name: Option<&str>) -> Vec<StoredEvent> {
    events
        .iter()
        .filter(|e| e.category().as_str() == category)
        .filter(|e| name.is_none_or(|name| e.stream.stream.as_str() == name))
        .cloned()
        .collect()
}

/// An empty store has nothing to scan and no latest event, for every target.
pub async fn empty_targets_have_nothing(store: EventStore) {
    assert!(log(&store).await.is_empty());
    assert!(store.log().latest().await.expect("latest").is_none());
    let category = store.category("empty").expect("category");
    assert!(collect(category.scan(ScanQuery::new())).await.is_empty());
    assert!(category.latest().await.expect("latest").is_none());
    let handle = stream(&store, "empty", "stream");
    assert!(handle.read().await.expect("read").is_empty());
    assert!(handle.latest().await.expect("latest").is_none());
    publish(&stream(&store, "other", "s"), "e", 1).await;
    assert!(
        category.latest().await.expect("latest").is_none(),
        "other categories do not count"
    );
    assert!(handle.latest().await.expect("latest").is_none());
}

/// `latest` is the last event of the log, the category, the stream.
pub async fn latest_of_every_target(store: EventStore) {
    let stored = populate(&store).await;
    let latest_log = store.log().latest().await.expect("latest");
    assert_eq!(latest_log.as_ref(), stored.last());
    let latest_b = store
        .category("b")
        .expect("category")
        .latest()
        .await
        .expect("latest");
    assert_eq!(latest_b.as_ref(), only(&stored, "b", None).last());
    let latest_a1 = stream(&store, "a", "1").latest().await.expect("latest");
    assert_eq!(latest_a1.as_ref(), only(&stored, "a", Some("1")).last());
}

/// A log scan after a sequence number returns exactly the later events.
pub async fn a_log_scan_resumes_after_a_sequence_number(store: EventStore) {
    let stored = populate(&store).await;
    assert_eq!(log(&store).await, stored);
    for (index, event) in stored.iter().enumerate() {
        let after = collect(
            store
                .log()
                .scan(ScanQuery::new().after(event.sequence_number)),
        )
        .await;
        assert_eq!(
            after,
            stored[index + 1..],
            "after {}",
            event.sequence_number
        );
    }
    let before_all = collect(store.log().scan(ScanQuery::new().after(0))).await;
    assert_eq!(
        before_all, stored,
        "after 0 is everything (sequence numbers start above 0)"
    );
}

/// A category scan returns the category's events in sequence order, and
/// resumes after a sequence number.
pub async fn a_category_scan_keeps_to_its_category(store: EventStore) {
    let stored = populate(&store).await;
    let category = store.category("a").expect("category");
    let a = only(&stored, "a", None);
    assert_eq!(collect(category.scan(ScanQuery::new())).await, a);
    let after = collect(category.scan(ScanQuery::new().after(a[1].sequence_number))).await;
    assert_eq!(after, a[2..]);
}

/// A stream scan from a position starts at that position (inclusive).
pub async fn a_stream_scan_starts_from_a_position(store: EventStore) {
    let stored = populate(&store).await;
    let a1 = only(&stored, "a", Some("1"));
    let handle = stream(&store, "a", "1");
    for from in 0..4u64 {
        let scanned = collect(handle.scan(ScanQuery::new().from_position(from))).await;
        let expected: Vec<StoredEvent> =
            a1.iter().filter(|e| e.position >= from).cloned().collect();
        assert_eq!(scanned, expected, "from position {from}");
    }
}

/// Backwards scans return the same events newest first.
pub async fn scans_run_backwards(store: EventStore) {
    let stored = populate(&store).await;
    let reversed = |events: Vec<StoredEvent>| events.into_iter().rev().collect::<Vec<_>>();
    assert_eq!(
        collect(store.log().scan(ScanQuery::new().backwards())).await,
        reversed(stored.clone())
    );
    let category = store.category("a").expect("category");
    assert_eq!(
        collect(category.scan(ScanQuery::new().backwards())).await,
        reversed(only(&stored, "a", None))
    );
    let a1 = only(&stored, "a", Some("1"));
    let handle = stream(&store, "a", "1");
    assert_eq!(
        collect(handle.scan(ScanQuery::new().backwards())).await,
        reversed(a1.clone())
    );
    let from_one = collect(handle.scan(ScanQuery::new().backwards().from_position(1))).await;
    assert_eq!(
        from_one,
        vec![a1[1].clone(), a1[0].clone()],
        "backwards from position 1"
    );
    let before = collect(
        store.log().scan(
            ScanQuery::new()
                .backwards()
                .after(stored[3].sequence_number),
        ),
    )
    .await;
    assert_eq!(
        before,
        reversed(stored[..3].to_vec()),
        "backwards, before a sequence number"
    );
}

/// A limit returns the first events of the scan, in its direction.
pub async fn a_limit_caps_a_scan(store: EventStore) {
    let stored = populate(&store).await;
    for limit in 1..=7u64 {
        let take = usize::try_from(limit)
            .unwrap_or(usize::MAX)
            .min(stored.len());
        let forwards = collect(store.log().scan(ScanQuery::new().limit(limit))).await;
        assert_eq!(forwards, stored[..take], "limit {limit}");
        let backwards = collect(store.log().scan(ScanQuery::new().backwards().limit(limit))).await;
        let expected: Vec<StoredEvent> = stored.iter().rev().take(take).cloned().collect();
        assert_eq!(backwards, expected, "backwards limit {limit}");
    }
    let handle = stream(&store, "a", "1");
    let one = collect(handle.scan(ScanQuery::new().limit(1))).await;
    assert_eq!(one, only(&stored, "a", Some("1"))[..1]);
}

/// A name filter keeps only events with those names, for every target.
pub async fn a_name_filter_keeps_only_those_names(store: EventStore) {
    let stored = populate(&store).await;
    let odd: Vec<StoredEvent> = stored
        .iter()
        .filter(|e| e.name.as_str() == "odd")
        .cloned()
        .collect();
    assert_eq!(
        collect(store.log().scan(ScanQuery::new().names(["odd"]))).await,
        odd
    );
    let both = collect(store.log().scan(ScanQuery::new().names(["odd", "even"]))).await;
    assert_eq!(both, stored);
    let none = collect(store.log().scan(ScanQuery::new().names(["missing"]))).await;
    assert!(none.is_empty());
    let category = store.category("a").expect("category");
    let a_odd: Vec<StoredEvent> = odd
        .iter()
        .filter(|e| e.category().as_str() == "a")
        .cloned()
        .collect();
    assert_eq!(
        collect(category.scan(ScanQuery::new().names(["odd"]))).await,
        a_odd
    );
    let handle = stream(&store, "b", "1");
    let b_even = collect(handle.scan(ScanQuery::new().names(["even"]))).await;
    assert_eq!(names(&b_even), ["even"]);
}

/// After, backwards, limit and names combine.
pub async fn query_options_combine(store: EventStore) {
    let stored = populate(&store).await;
    let even: Vec<StoredEvent> = stored
        .iter()
        .filter(|e| e.name.as_str() == "even")
        .cloned()
        .collect();
    let query = ScanQuery::new()
        .after(even[0].sequence_number)
        .names(["even"])
        .limit(2);
    assert_eq!(collect(store.log().scan(query)).await, even[1..3]);
    let query = ScanQuery::new()
        .backwards()
        .after(stored[5].sequence_number)
        .names(["even"])
        .limit(1);
    let expected: Vec<StoredEvent> = even
        .iter()
        .rev()
        .filter(|e| e.sequence_number < stored[5].sequence_number)
        .take(1)
        .cloned()
        .collect();
    assert_eq!(collect(store.log().scan(query)).await, expected);
    let handle = stream(&store, "a", "1");
    let query = ScanQuery::new().from_position(1).names(["even"]).limit(5);
    let scanned = collect(handle.scan(query)).await;
    assert_eq!(scanned.iter().map(|e| e.position).collect::<Vec<_>>(), [2]);
}

/// A stream scan and `latest` right after a publish see it, as does a log scan
/// when no other write is in flight.
pub async fn reads_see_the_writer_own_writes(store: EventStore) {
    let handle = stream(&store, "c", "s");
    for round in 1..=5usize {
        let stored = publish(&handle, "e", 1).await;
        assert_eq!(
            handle.latest().await.expect("latest").as_ref(),
            stored.last()
        );
        assert_eq!(handle.read().await.expect("read").len(), round);
        assert_eq!(
            store.log().latest().await.expect("latest").as_ref(),
            stored.last()
        );
    }
}

/// Scans of more events than any sensible page size return every event once,
/// in order.
pub async fn scans_page_through_many_events(store: EventStore) {
    let handle = stream(&store, "bulk", "s");
    let mut stored = Vec::new();
    for _ in 0..5 {
        stored.extend(publish(&handle, "e", 1000).await);
    }
    let scanned = log(&store).await;
    assert_eq!(scanned.len(), 5000);
    assert_eq!(sequence_numbers(&scanned), sequence_numbers(&stored));
    let backwards = collect(handle.scan(ScanQuery::new().backwards())).await;
    assert_eq!(backwards.len(), 5000);
    assert!(backwards
        .windows(2)
        .all(|w| w[0].position == w[1].position + 1));
}

/// `after` and `before` bound a window of sequence numbers, both exclusive, in
/// the scan's direction, for every target, with or without a limit.
pub async fn before_bounds_a_window(store: EventStore) {
    let stored = populate(&store).await;
    let seq = |index: usize| stored[index].sequence_number;
    let window = ScanQuery::new().after(seq(0)).before(seq(4));
    assert_eq!(
        collect(store.log().scan(window.clone())).await,
        stored[1..4],
        "forwards window"
    );
    let backwards = ScanQuery::new().backwards().after(seq(5)).before(seq(1));
    let expected: Vec<StoredEvent> = stored[2..5].iter().rev().cloned().collect();
    assert_eq!(collect(store.log().scan(backwards)).await, expected);
    let limited = window.clone().limit(2);
    assert_eq!(collect(store.log().scan(limited)).await, stored[1..3]);
    let up_to = ScanQuery::new().before(seq(2));
    assert_eq!(collect(store.log().scan(up_to)).await, stored[..2]);
    let category = store.category("a").expect("category");
    let a_window: Vec<StoredEvent> = only(&stored[1..4], "a", None);
    assert_eq!(collect(category.scan(window.clone())).await, a_window);
    let handle = stream(&store, "a", "1");
    let in_stream = collect(handle.scan(ScanQuery::new().before(seq(2)))).await;
    assert_eq!(in_stream, stored[..2]);
    let empty = ScanQuery::new().after(seq(3)).before(seq(3));
    assert!(collect(store.log().scan(empty)).await.is_empty());
    let beyond = ScanQuery::new().before(seq(5) + 1_000_000);
    assert_eq!(collect(store.log().scan(beyond)).await, stored);
}

/// Publishes one event per name in `names`, in order, to one stream.
async fn publish_names(store: &EventStore, names: &[&str]) -> Vec<StoredEvent> {
    let handle = stream(store, "named", "s");
    let events = names.iter().map(|name| event(name).build());
    handle
        .publish(events, eventblocks_core::WriteCondition::NoCondition)
        .await
        .expect("publish")
}

fn scanned_names(events: &[StoredEvent]) -> Vec<&str> {
    events.iter().map(|event| event.name.as_str()).collect()
}

async fn log_names(store: &EventStore, query: ScanQuery) -> Vec<String> {
    let events = collect(store.log().scan(query)).await;
    events
        .into_iter()
        .map(|event| event.name.to_string())
        .collect()
}

/// Name prefixes keep every name starting with them, taken literally (no
/// character is a wildcard), exclusions leave names out even when kept, and
/// an exact name ending in `*` is only that name.
pub async fn name_prefixes_and_exclusions_filter_names(store: EventStore) {
    let all = [
        "order-placed",
        "order-cancelled",
        "order_paid",
        "orderXpaid",
        "shipped",
        "100%",
        "1000",
        "a\\b",
        "a\\\\b",
        "star*",
        "starry",
    ];
    publish_names(&store, &all).await;
    let names_of = |query: ScanQuery| log_names(&store, query);
    assert_eq!(
        names_of(ScanQuery::new().name_prefixes(["order-"])).await,
        ["order-placed", "order-cancelled"]
    );
    assert_eq!(
        names_of(ScanQuery::new().name_prefixes(["order_"])).await,
        ["order_paid"]
    );
    assert_eq!(
        names_of(ScanQuery::new().name_prefixes(["100%"])).await,
        ["100%"]
    );
    assert_eq!(
        names_of(ScanQuery::new().name_prefixes(["a\\"])).await,
        ["a\\b", "a\\\\b"]
    );
    assert_eq!(
        names_of(ScanQuery::new().name_prefixes(["a\\\\"])).await,
        ["a\\\\b"]
    );
    assert_eq!(names_of(ScanQuery::new().names(["star*"])).await, ["star*"]);
    assert_eq!(
        names_of(ScanQuery::new().name_prefixes([""])).await.len(),
        all.len()
    );
    assert_eq!(
        names_of(
            ScanQuery::new()
                .names(["shipped"])
                .name_prefixes(["order-"])
        )
        .await,
        ["order-placed", "order-cancelled", "shipped"]
    );
    assert_eq!(
        names_of(
            ScanQuery::new()
                .name_prefixes(["order"])
                .exclude_names(["order-cancelled"])
                .exclude_prefixes(["order_"])
        )
        .await,
        ["order-placed", "orderXpaid"]
    );
    let without_orders = names_of(
        ScanQuery::new()
            .exclude_prefixes(["order"])
            .backwards()
            .limit(3),
    )
    .await;
    assert_eq!(without_orders, ["starry", "star*", "a\\\\b"]);
    let handle = stream(&store, "named", "s");
    let in_stream =
        collect(handle.scan(ScanQuery::new().name_prefixes(["star"]).from_position(9))).await;
    assert_eq!(scanned_names(&in_stream), ["star*", "starry"]);
}

/// A name filter with a limit over many more events than a page returns
/// the first matching events, in order, however sparse they are.
pub async fn a_sparse_name_filter_pages_through_many_events(store: EventStore) {
    let handle = stream(&store, "sparse", "s");
    let mut kept = Vec::new();
    for _ in 0..6 {
        let events = (0..1000)
            .map(|index| event(if index % 97 == 0 { "kept-one" } else { "other" }).build());
        let stored = handle
            .publish(events, eventblocks_core::WriteCondition::NoCondition)
            .await
            .expect("publish");
        kept.extend(stored.into_iter().filter(|e| e.name.as_str() == "kept-one"));
    }
    for query in [
        ScanQuery::new().names(["kept-one"]).limit(50),
        ScanQuery::new().name_prefixes(["kept"]).limit(50),
        ScanQuery::new().exclude_names(["other"]).limit(50),
    ] {
        assert_eq!(collect(store.log().scan(query.clone())).await, kept[..50]);
        assert_eq!(collect(handle.scan(query)).await, kept[..50]);
    }
    let backwards = ScanQuery::new().names(["kept-one"]).backwards();
    let expected: Vec<StoredEvent> = kept.iter().rev().cloned().collect();
    assert_eq!(collect(store.log().scan(backwards)).await, expected);
}

/// A scan from the latest event of a name starts at that event (the last
/// snapshot, say), or at the beginning when there is none; the other
/// options still apply, and only forwards scans may use it.
pub async fn a_scan_starts_from_the_latest_event_of_a_name(store: EventStore) {
    let stored = publish_names(
        &store,
        &[
            "opened",
            "deposited",
            "snapshot",
            "deposited",
            "snapshot",
            "withdrawn",
            "deposited",
        ],
    )
    .await;
    let handle = stream(&store, "named", "s");
    let from_snapshot = collect(handle.scan(ScanQuery::new().from_latest("snapshot"))).await;
    assert_eq!(from_snapshot, stored[4..]);
    let in_log = collect(store.log().scan(ScanQuery::new().from_latest("snapshot"))).await;
    assert_eq!(in_log, stored[4..]);
    let filtered = ScanQuery::new()
        .from_latest("snapshot")
        .names(["deposited"]);
    assert_eq!(collect(handle.scan(filtered)).await, stored[6..]);
    let never = collect(handle.scan(ScanQuery::new().from_latest("closed"))).await;
    assert_eq!(never, stored, "no such event: the whole stream");
    let later = ScanQuery::new()
        .from_latest("snapshot")
        .after(stored[5].sequence_number);
    assert_eq!(collect(handle.scan(later)).await, stored[6..]);
    let other = stream(&store, "named", "other");
    publish(&other, "snapshot", 1).await;
    assert_eq!(
        collect(handle.scan(ScanQuery::new().from_latest("snapshot"))).await,
        stored[4..],
        "another stream's snapshot does not count"
    );
    let backwards = ScanQuery::new().from_latest("snapshot").backwards();
    let error = handle
        .scan(backwards)
        .try_collect::<Vec<_>>()
        .await
        .expect_err("backwards from the latest is refused");
    assert!(
        matches!(error, eventblocks_core::Error::InvalidInput { .. }),
        "{error}"
    );
}
