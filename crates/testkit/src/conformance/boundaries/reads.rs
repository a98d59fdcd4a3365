//! Query reads: the DCB matching rule, log order, paging, options, a
//! category's own events, and a start from the latest event of a name.

use eventblocks_core::{Error, EventStore, Query, QueryOptions, StoredEvent};
use futures::{StreamExt, TryStreamExt};

use super::{item, offers_boundaries, put, query, read, read_after, tag_query, tagged, try_read};
use crate::conformance::support::{assert_invalid, collect, sequence_numbers};

/// Eight events over three categories, one publish each, in log order:
///
/// | # | stream | name | tags |
/// |---|--------|------|------|
/// | 0 | courses/c1 | course-defined | course:c1 |
/// | 1 | courses/c2 | course-defined | course:c2 |
/// | 2 | students/s1 | student-enrolled | course:c1, student:s1 |
/// | 3 | students/s2 | student-enrolled | course:c2, student:s2 |
/// | 4 | students/s1 | student-enrolled | course:c2, student:s1 |
/// | 5 | courses/c1 | capacity-changed | course:c1 |
/// | 6 | notes/n | noted | (none) |
/// | 7 | students/s1 | student-left | course:c1, student:s1, term:t1 |
pub(crate) async fn courses(store: &EventStore) -> Vec<StoredEvent> {
    let rows: [(&str, &str, &str, &[&str]); 8] = [
        ("courses", "c1", "course-defined", &["course:c1"]),
        ("courses", "c2", "course-defined", &["course:c2"]),
        (
            "students",
            "s1",
            "student-enrolled",
            &["course:c1", "student:s1"],
        ),
        (
            "students",
            "s2",
            "student-enrolled",
            &["course:c2", "student:s2"],
        ),
        (
            "students",
            "s1",
            "student-enrolled",
            &["course:c2", "student:s1"],
        ),
        ("courses", "c1", "capacity-changed", &["course:c1"]),
        ("notes", "n", "noted", &[]),
        (
            "students",
            "s1",
            "student-left",
            &["course:c1", "student:s1", "term:t1"],
        ),
    ];
    let mut stored = Vec::new();
    for (category, name, event_name, tags) in rows {
        stored.extend(put(store, category, name, [tagged(event_name, tags)]).await);
    }
    stored
}

fn pick(events: &[StoredEvent], indices: &[usize]) -> Vec<StoredEvent> {
    indices.iter().map(|&index| events[index].clone()).collect()
}

/// The matching rule exactly as the DCB specification has it: items are ORed;
/// within an item the event's name is one of the item's names (any, if it has
/// none) and the event carries every one of the item's tags, and maybe more;
/// an empty query matches every event. Results come in log order, each event
/// once even when several items match it.
pub async fn query_reads_match_by_the_dcb_rule(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let all = courses(&store).await;
    let cases: Vec<(&str, Query, Vec<usize>)> = vec![
        ("the empty query", Query::all(), (0..8).collect()),
        (
            "an item matching all",
            query([item(&[], &[])]),
            (0..8).collect(),
        ),
        (
            "one tag, events carrying more",
            tag_query("course:c1"),
            vec![0, 2, 5, 7],
        ),
        (
            "two tags, all of them",
            query([item(&[], &["course:c1", "student:s1"])]),
            vec![2, 7],
        ),
        (
            "names only, any of them",
            query([item(&["course-defined", "noted"], &[])]),
            vec![0, 1, 6],
        ),
        (
            "a name and a tag",
            query([item(&["student-enrolled"], &["student:s1"])]),
            vec![2, 4],
        ),
        (
            "items ORed, overlapping",
            query([
                item(&["student-enrolled"], &["course:c2"]),
                item(&[], &["student:s1"]),
            ]),
            vec![2, 3, 4, 7],
        ),
        (
            "a tag no event carries",
            query([item(&[], &["course:c1", "course:c2"])]),
            vec![],
        ),
        (
            "a name no event has",
            query([item(&["course-closed"], &[])]),
            vec![],
        ),
        (
            "an item matching all among others",
            query([item(&["noted"], &[]), item(&[], &[])]),
            (0..8).collect(),
        ),
    ];
    for (what, query, indices) in cases {
        let expected = pick(&all, &indices);
        let (_, events) = read(&store, &query, QueryOptions::new()).await;
        assert_eq!(
            sequence_numbers(&events),
            sequence_numbers(&expected),
            "{what}: {query}"
        );
        assert_eq!(events, expected, "{what}: the events as stored");
        let by_rule: Vec<StoredEvent> = all
            .iter()
            .filter(|event| query.matches_event(event))
            .cloned()
            .collect();
        assert_eq!(by_rule, expected, "{what}: Query::matches agrees");
    }
}

/// A query read over many more matching events than a page returns them all
/// in log order, lazily: a consumer may stop early. Backwards reads return
/// them newest first, and a limit caps the events returned (after the
/// matching rule).
pub async fn query_reads_page_lazily_in_log_order(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let mut matching = Vec::new();
    for batch in 0..3 {
        let events = (0..100).map(|index| {
            let course = if index % 3 == 0 {
                "course:c1"
            } else {
                "course:c2"
            };
            tagged("student-enrolled", &[course, &format!("batch:{batch}")])
        });
        let stored = put(&store, "students", &format!("s{batch}"), events).await;
        matching.extend(
            stored
                .into_iter()
                .filter(|event| event.tags.iter().any(|tag| tag.as_str() == "course:c1")),
        );
    }
    let course = tag_query("course:c1");
    let (_, events) = read(&store, &course, QueryOptions::new()).await;
    assert_eq!(events, matching, "every match, in log order");
    let mut lazily = store
        .log()
        .query(course.clone(), QueryOptions::new())
        .await
        .expect("read")
        .events;
    let first: Vec<StoredEvent> = (&mut lazily).take(3).try_collect().await.expect("read");
    assert_eq!(first, matching[..3], "the first few, then dropped");
    drop(lazily);
    let newest_first: Vec<StoredEvent> = matching.iter().rev().cloned().collect();
    let (_, backwards) = read(&store, &course, QueryOptions::new().backwards()).await;
    assert_eq!(backwards, newest_first, "backwards");
    let (_, limited) = read(&store, &course, QueryOptions::new().limit(40)).await;
    assert_eq!(limited, matching[..40], "the first 40");
    let (_, newest) = read(&store, &course, QueryOptions::new().backwards().limit(5)).await;
    assert_eq!(newest, newest_first[..5], "the newest 5");
    assert_invalid(
        try_read(&store, &course, QueryOptions::new().limit(0)).await,
        "limit",
    );
}

/// A read, then a publish, then a read after the first read's head returns
/// exactly the new matching events (forwards or backwards, limited or not);
/// after the second read's head, nothing.
pub async fn a_query_read_after_a_head_returns_only_what_is_new(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let course = tag_query("course:c1");
    let (empty_head, nothing) = read(&store, &course, QueryOptions::new()).await;
    assert!(nothing.is_empty(), "an empty store matches nothing");
    let old = courses(&store).await;
    assert_eq!(
        read_after(&store, &course, empty_head).await,
        pick(&old, &[0, 2, 5, 7]),
        "after the head of an empty store: everything"
    );
    let (head, _) = read(&store, &course, QueryOptions::new()).await;
    let new = [
        put(
            &store,
            "courses",
            "c1",
            [tagged("course-renamed", &["course:c1"])],
        )
        .await,
        put(
            &store,
            "courses",
            "c2",
            [tagged("course-renamed", &["course:c2"])],
        )
        .await,
        put(
            &store,
            "students",
            "s9",
            [tagged("student-enrolled", &["course:c1", "student:s9"])],
        )
        .await,
    ]
    .concat();
    let fresh = pick(&new, &[0, 2]);
    assert_eq!(
        read_after(&store, &course, head).await,
        fresh,
        "only the new"
    );
    let (_, backwards) = read(&store, &course, QueryOptions::new().after(head).backwards()).await;
    assert_eq!(backwards, pick(&new, &[2, 0]), "the new, newest first");
    let (_, one) = read(&store, &course, QueryOptions::new().after(head).limit(1)).await;
    assert_eq!(one, pick(&new, &[0]));
    let (later, everything) = read(&store, &course, QueryOptions::new()).await;
    assert_eq!(everything.len(), 6);
    assert!(
        read_after(&store, &course, later).await.is_empty(),
        "nothing after the latest head"
    );
    assert!(
        read_after(&store, &Query::all(), later).await.is_empty(),
        "not even of other boundaries: the head covers the whole log"
    );
}

/// A category query returns only the category's matching events; its head
/// serves reads after it like a log query's.
pub async fn a_category_query_keeps_to_its_category(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let all = courses(&store).await;
    let students = store.category("students").expect("category");
    let course = tag_query("course:c1");
    let read = students
        .query(course.clone(), QueryOptions::new())
        .await
        .expect("read");
    let head = read.head;
    assert_eq!(collect(read.events).await, pick(&all, &[2, 7]));
    let everything = students
        .query(Query::all(), QueryOptions::new().backwards())
        .await
        .expect("read");
    assert_eq!(collect(everything.events).await, pick(&all, &[7, 4, 3, 2]));
    put(
        &store,
        "courses",
        "c1",
        [tagged("course-renamed", &["course:c1"])],
    )
    .await;
    let enrolled = put(
        &store,
        "students",
        "s3",
        [tagged("student-enrolled", &["course:c1"])],
    )
    .await;
    let after = students
        .query(course, QueryOptions::new().after(head))
        .await
        .expect("read");
    assert_eq!(collect(after.events).await, enrolled, "the category's new");
    let nowhere = store.category("nowhere").expect("category");
    let read = nowhere
        .query(Query::all(), QueryOptions::new())
        .await
        .expect("read");
    assert!(collect(read.events).await.is_empty());
}

/// A query read from the latest event of a name starts at that event
/// (inclusive), or at the beginning when no matching event has the name;
/// the query and the other options still apply.
pub async fn a_query_read_starts_from_the_latest_event_of_a_name(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let course = tag_query("course:c1");
    let names = [
        "course-defined",
        "student-enrolled",
        "course-snapshot",
        "student-enrolled",
        "course-snapshot",
        "student-enrolled",
    ];
    let mut stored = Vec::new();
    for name in names {
        stored.extend(put(&store, "courses", "c1", [tagged(name, &["course:c1"])]).await);
    }
    put(
        &store,
        "courses",
        "c2",
        [tagged("course-snapshot", &["course:c2"])],
    )
    .await;
    let (_, from) = read(
        &store,
        &course,
        QueryOptions::new().from_latest("course-snapshot"),
    )
    .await;
    assert_eq!(
        from,
        stored[4..],
        "from the latest snapshot of the boundary"
    );
    let (_, limited) = read(
        &store,
        &course,
        QueryOptions::new().from_latest("course-snapshot").limit(1),
    )
    .await;
    assert_eq!(limited, stored[4..5]);
    let (head, never) = read(
        &store,
        &course,
        QueryOptions::new().from_latest("course-closed"),
    )
    .await;
    assert_eq!(never, stored, "no such event: the whole boundary");
    let new = put(
        &store,
        "courses",
        "c1",
        [tagged("course-snapshot", &["course:c1"])],
    )
    .await;
    let (_, after) = read(
        &store,
        &course,
        QueryOptions::new()
            .after(head)
            .from_latest("student-enrolled"),
    )
    .await;
    assert_eq!(
        after, new,
        "after the head, even if the latest lies before it"
    );
    let backwards = try_read(
        &store,
        &course,
        QueryOptions::new()
            .from_latest("course-snapshot")
            .backwards(),
    )
    .await;
    assert!(
        matches!(backwards, Err(Error::InvalidInput { .. })),
        "{backwards:?}"
    );
}
