//! Query conditions, alone and composed with stream conditions, and the two
//! stream conditions that came with them.

use eventblocks_core::{EventStore, NewEvent, Query, QueryOptions, StoredEvent, WriteCondition};

use super::{
    assert_matched, assert_moved, item, offers_boundaries, put, query, read, read_after, tag_query,
    tagged, write,
};
use crate::conformance::support::{assert_invalid, assert_unmet, log, stream};

/// A student's enrolment in course c1.
fn enrolled(student: &str) -> [NewEvent; 1] {
    [tagged(
        "student-enrolled",
        &["course:c1", &format!("student:{student}")],
    )]
}

/// `NoneMatchAfter(query, head)` holds while no event matching the query
/// follows the head, whatever else is written, and fails with
/// `BoundaryMoved` naming the head and a matching event once one does: an
/// event carrying more tags than the query, an event of one of a names-only
/// query's names, any event for a query matching everything. Nothing is
/// written when it fails.
pub async fn none_match_after_holds_until_a_matching_event_follows_the_head(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let course = tag_query("course:c1");
    let (head, _) = read(&store, &course, QueryOptions::new()).await;
    put(
        &store,
        "courses",
        "c2",
        [tagged("course-defined", &["course:c2"])],
    )
    .await;
    put(&store, "notes", "n", [tagged("noted", &[])]).await;
    let s1 = stream(&store, "students", "s1");
    let first = s1
        .publish(
            enrolled("s1"),
            WriteCondition::NoneMatchAfter(course.clone(), head),
        )
        .await
        .expect("other boundaries' events do not move it");
    assert_moved(
        stream(&store, "students", "s2")
            .publish(
                enrolled("s2"),
                WriteCondition::NoneMatchAfter(course.clone(), head),
            )
            .await,
        head,
        &first,
    );
    let (head, seen) = read(&store, &course, QueryOptions::new()).await;
    assert_eq!(seen, first, "the read covers the event");
    let extra = put(
        &store,
        "students",
        "s3",
        [tagged(
            "student-left",
            &["course:c1", "student:s3", "term:t1"],
        )],
    )
    .await;
    assert_moved(
        s1.publish(
            enrolled("s1"),
            WriteCondition::NoneMatchAfter(course.clone(), head),
        )
        .await,
        head,
        &extra,
    );
    let names = query([item(&["course-defined"], &[])]);
    let (head, _) = read(&store, &names, QueryOptions::new()).await;
    let defined = put(&store, "courses", "c3", [tagged("course-defined", &[])]).await;
    let condition = WriteCondition::NoneMatchAfter(names, head);
    assert_moved(s1.publish(enrolled("s1"), condition).await, head, &defined);
    let (head, _) = read(&store, &Query::all(), QueryOptions::new()).await;
    let noted = put(&store, "notes", "n", [tagged("noted", &[])]).await;
    let condition = WriteCondition::NoneMatchAfter(Query::all(), head);
    assert_moved(s1.publish(enrolled("s1"), condition).await, head, &noted);
    assert_eq!(log(&store).await.len(), 6, "failed publishes wrote nothing");
}

/// `NoneMatch(query)` holds while no event ever matched the query (a
/// uniqueness guard) and fails with `AlreadyMatched`, not `BoundaryMoved`,
/// so a caller can tell "exists" from "decide again"; events of other names
/// or without every tag do not count, events with more tags do.
pub async fn none_match_guards_uniqueness_and_is_reported_distinctly(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let joe = tag_query("username:joe");
    let register = |user: &str, username: &str| {
        [tagged(
            "user-registered",
            &[&format!("username:{username}"), &format!("user:{user}")],
        )]
    };
    let first = stream(&store, "users", "u1")
        .publish(
            register("u1", "joe"),
            WriteCondition::NoneMatch(joe.clone()),
        )
        .await
        .expect("the first joe");
    let u2 = stream(&store, "users", "u2");
    assert_matched(
        u2.publish(
            register("u2", "joe"),
            WriteCondition::NoneMatch(joe.clone()),
        )
        .await,
        &first,
    );
    u2.publish(
        register("u2", "ann"),
        WriteCondition::NoneMatch(tag_query("username:ann")),
    )
    .await
    .expect("another username is free");
    let invoice = query([item(&["invoice-issued"], &["invoice:42"])]);
    put(
        &store,
        "invoices",
        "a",
        [tagged("invoice-drafted", &["invoice:42"])],
    )
    .await;
    put(
        &store,
        "invoices",
        "a",
        [tagged("invoice-issued", &["invoice:43"])],
    )
    .await;
    let issue = || [tagged("invoice-issued", &["invoice:42", "customer:c7"])];
    let issued = stream(&store, "invoices", "b")
        .publish(issue(), WriteCondition::NoneMatch(invoice.clone()))
        .await
        .expect("no invoice 42 was issued yet");
    assert_matched(
        stream(&store, "invoices", "c")
            .publish(issue(), WriteCondition::NoneMatch(invoice))
            .await,
        &issued,
    );
    let writes = vec![write(
        "users",
        "u3",
        register("u3", "joe"),
        WriteCondition::NoCondition,
    )];
    assert_matched(
        store
            .log()
            .publish(writes)
            .condition(WriteCondition::NoneMatch(joe))
            .await,
        &first,
    );
    assert_eq!(log(&store).await.len(), 5, "failed guards wrote nothing");
}

/// Query conditions compose with stream conditions by `and` and `or`, on a
/// stream publish, per stream of a category publish, and as the condition of
/// a whole log publish (which may hold no stream condition). An unmet
/// composition is reported by its failing query condition if one fails, else
/// as an unmet stream condition.
pub async fn query_conditions_compose_with_stream_conditions(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let course = tag_query("course:c1");
    let free = WriteCondition::NoneMatch(tag_query("course:none"));
    let (head, _) = read(&store, &course, QueryOptions::new()).await;
    let moved = WriteCondition::NoneMatchAfter(course.clone(), head);
    let s1 = stream(&store, "students", "s1");
    s1.publish(
        enrolled("s1"),
        WriteCondition::StreamIsEmpty & moved.clone(),
    )
    .await
    .expect("both hold");
    assert_unmet(
        s1.publish(enrolled("s1"), WriteCondition::StreamIsEmpty & free.clone())
            .await,
        &s1,
        Some(0),
    );
    let matching = read_after(&store, &course, head).await;
    assert_moved(
        s1.publish(
            enrolled("s1"),
            WriteCondition::PositionIs(Some(0)) & moved.clone(),
        )
        .await,
        head,
        &matching,
    );
    s1.publish(
        enrolled("s1"),
        WriteCondition::PositionIs(Some(7)) | free.clone(),
    )
    .await
    .expect("the query condition holds");
    s1.publish(
        enrolled("s1"),
        moved.clone() | WriteCondition::PositionIs(Some(1)),
    )
    .await
    .expect("the stream condition holds");
    let matching = read_after(&store, &course, head).await;
    assert_moved(
        s1.publish(
            enrolled("s1"),
            WriteCondition::PositionIs(Some(9)) | moved.clone(),
        )
        .await,
        head,
        &matching,
    );
    let category = store.category("students").expect("category");
    let both = |second: WriteCondition| {
        vec![
            write(
                "students",
                "s2",
                enrolled("s2"),
                WriteCondition::StreamIsEmpty & free.clone(),
            ),
            write("students", "s3", enrolled("s3"), second),
        ]
    };
    assert_moved(
        category
            .publish(both(WriteCondition::StreamIsEmpty & moved.clone()))
            .await,
        head,
        &matching,
    );
    let stored = category
        .publish(both(WriteCondition::StreamIsEmpty | moved.clone()))
        .await
        .expect("each stream's condition holds");
    assert_eq!(stored.len(), 2);
    let log_writes = |condition: WriteCondition| {
        vec![
            write("students", "s4", enrolled("s4"), condition),
            write(
                "courses",
                "c1",
                [tagged("seat-taken", &["course:c1"])],
                WriteCondition::NoCondition,
            ),
        ]
    };
    let matching = read_after(&store, &course, head).await;
    assert_moved(
        store
            .log()
            .publish(log_writes(WriteCondition::StreamIsEmpty))
            .condition(free.clone() & moved.clone())
            .await,
        head,
        &matching,
    );
    assert_unmet(
        store
            .log()
            .publish(log_writes(WriteCondition::PositionIs(Some(3))))
            .condition(free.clone() | moved.clone())
            .await,
        &stream(&store, "students", "s4"),
        None,
    );
    assert_invalid(
        store
            .log()
            .publish(log_writes(WriteCondition::NoCondition))
            .condition(free.clone() | WriteCondition::StreamIsEmpty)
            .await,
        "condition",
    );
    let (now, _) = read(&store, &course, QueryOptions::new()).await;
    store
        .log()
        .publish(log_writes(WriteCondition::StreamIsEmpty))
        .condition(free & WriteCondition::NoneMatchAfter(course, now))
        .await
        .expect("all hold");
    assert_eq!(log(&store).await.len(), 7, "failed publishes wrote nothing");
}

/// `StreamIsNotEmpty` holds once a stream has an event; `LastEventIs(id)`
/// holds when the stream's last event has that id (not an earlier event's,
/// not another stream's), and never on an empty stream.
pub async fn stream_is_not_empty_and_last_event_is_check_the_stream(store: EventStore) {
    let account = stream(&store, "accounts", "a1");
    let event = || [tagged("noted", &[])];
    assert_unmet(
        account
            .publish(event(), WriteCondition::StreamIsNotEmpty)
            .await,
        &account,
        None,
    );
    let opened = account
        .publish(event(), WriteCondition::StreamIsEmpty)
        .await
        .expect("empty");
    let second = account
        .publish(event(), WriteCondition::StreamIsNotEmpty)
        .await
        .expect("not empty");
    if !offers_boundaries(&store).await {
        return;
    }
    let other = stream(&store, "accounts", "a2");
    let last = second[0].id;
    assert_unmet(
        account
            .publish(event(), WriteCondition::LastEventIs(opened[0].id))
            .await,
        &account,
        Some(1),
    );
    assert_unmet(
        other
            .publish(event(), WriteCondition::LastEventIs(last))
            .await,
        &other,
        None,
    );
    let third = account
        .publish(event(), WriteCondition::LastEventIs(last))
        .await
        .expect("the last event");
    let mine = other
        .publish(
            event(),
            WriteCondition::LastEventIs(last) | WriteCondition::StreamIsEmpty,
        )
        .await
        .expect("empty");
    assert_unmet(
        other
            .publish(event(), WriteCondition::LastEventIs(third[0].id))
            .await,
        &other,
        Some(0),
    );
    let category = store.category("accounts").expect("category");
    let writes = vec![
        write(
            "accounts",
            "a1",
            event(),
            WriteCondition::LastEventIs(third[0].id) & WriteCondition::StreamIsNotEmpty,
        ),
        write(
            "accounts",
            "a2",
            event(),
            WriteCondition::LastEventIs(mine[0].id),
        ),
    ];
    assert_eq!(category.publish(writes).await.expect("both hold").len(), 2);
    assert_eq!(log(&store).await.len(), 6);
}

/// An event's name and tags.
type Probe = (&'static str, &'static [&'static str]);

/// Reads and conditions decide with one matching rule: for each query and
/// probe event, a read after a head returns the probe exactly when a
/// `NoneMatchAfter` on that head fails, events with more tags than the query
/// included.
pub async fn reads_and_conditions_share_the_matching_rule(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let probes: Vec<(Query, Probe, bool)> = vec![
        (
            tag_query("course:c1"),
            ("student-left", &["course:c1", "student:s1", "term:t1"]),
            true,
        ),
        (
            query([item(&[], &["course:c1", "student:s1"])]),
            ("student-enrolled", &["course:c1"]),
            false,
        ),
        (
            query([item(&["student-enrolled"], &["course:c1"])]),
            ("student-left", &["course:c1"]),
            false,
        ),
        (
            query([item(&["student-enrolled", "student-left"], &["course:c1"])]),
            ("student-left", &["course:c1", "x"]),
            true,
        ),
        (
            query([item(&["course-defined"], &[]), item(&[], &["student:s1"])]),
            ("noted", &["student:s1"]),
            true,
        ),
        (Query::all(), ("noted", &[]), true),
        (query([item(&["noted"], &[])]), ("noted", &[]), true),
        (tag_query("course:c1"), ("noted", &[]), false),
        (tag_query("course:c1"), ("noted", &["course:c10"]), false),
    ];
    for (index, (query, (name, tags), matches)) in probes.into_iter().enumerate() {
        let (head, _) = read(&store, &query, QueryOptions::new()).await;
        let probe = put(&store, "probes", &format!("p{index}"), [tagged(name, tags)]).await;
        let found = read_after(&store, &query, head).await;
        let expected: &[StoredEvent] = if matches { &probe } else { &[] };
        assert_eq!(found, expected, "read of {query} after {name} {tags:?}");
        let result = stream(&store, "decisions", &format!("d{index}"))
            .publish(
                [tagged("decided", &["decision"])],
                WriteCondition::NoneMatchAfter(query.clone(), head),
            )
            .await;
        if matches {
            assert_moved(result, head, &probe);
        } else {
            result.unwrap_or_else(|error| {
                panic!("{name} {tags:?} does not match {query}, yet the condition failed: {error}")
            });
        }
    }
}
