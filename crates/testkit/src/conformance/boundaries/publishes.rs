//! Log publishes spanning categories, tracked publishes, retries of boundary
//! publishes, and subscriptions from a head.

use std::time::Duration;

use eventblocks_core::{
    Error, EventStore, Query, QueryOptions, StoredEvent, SubscriptionMessage, SubscriptionOptions,
    WriteCondition,
};
use futures::StreamExt;

use super::{offers_boundaries, put, read, tag_query, tagged, write};
use crate::conformance::support::{assert_invalid, assert_unmet, log, stream};

/// A publish to streams of three categories stores every event, in request
/// order, with increasing sequence numbers, each stream's condition checked;
/// one unmet stream condition or whole-publish condition writes nothing in
/// any category.
pub async fn a_log_publish_is_atomic_across_categories(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let enrolment = || {
        vec![
            write(
                "students",
                "s1",
                [tagged("student-enrolled", &["course:c1", "student:s1"])],
                WriteCondition::NoCondition,
            ),
            write(
                "courses",
                "c1",
                [
                    tagged("seat-taken", &["course:c1"]),
                    tagged("seat-counted", &["course:c1"]),
                ],
                WriteCondition::StreamIsEmpty,
            ),
            write(
                "audit",
                "a",
                [tagged("noted", &[])],
                WriteCondition::NoCondition,
            ),
        ]
    };
    let stored = store.log().publish(enrolment()).await.expect("publish");
    let streams: Vec<String> = stored.iter().map(|e| e.stream.to_string()).collect();
    assert_eq!(streams.len(), 4);
    assert_eq!(stored[0].stream.category.as_str(), "students");
    assert_eq!(stored[3].stream.category.as_str(), "audit");
    assert_eq!(
        stored
            .iter()
            .map(|event| event.position)
            .collect::<Vec<_>>(),
        [0, 0, 1, 0]
    );
    assert!(stored
        .windows(2)
        .all(|pair| pair[0].sequence_number < pair[1].sequence_number));
    assert_eq!(log(&store).await, stored, "every event, in the log");
    let courses = stream(&store, "courses", "c1");
    assert_unmet(store.log().publish(enrolment()).await, &courses, Some(1));
    let mut whole = enrolment();
    whole[1].condition = WriteCondition::PositionIs(Some(1));
    let course = tag_query("course:c1");
    let guard = WriteCondition::NoneMatch(course.clone());
    let refused = store.log().publish(whole.clone()).condition(guard).await;
    assert!(
        matches!(refused, Err(Error::AlreadyMatched { .. })),
        "{refused:?}"
    );
    assert_eq!(log(&store).await, stored, "failed publishes wrote nothing");
    let (head, _) = read(&store, &course, QueryOptions::new()).await;
    let more = store
        .log()
        .publish(whole)
        .condition(WriteCondition::NoneMatchAfter(course, head))
        .await
        .expect("each condition holds");
    assert_eq!(more.len(), 4);
}

/// A tracked publish records the consumer's upstream position with its
/// events; a publish tracking that position or an earlier one writes nothing
/// and returns no events (even when its condition would fail); a later one
/// writes and moves the position; a failed publish records nothing;
/// consumers are independent; log and category publishes track alike.
pub async fn a_tracked_publish_records_its_position_and_writes_a_replay_once(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let tracked = |consumer: &'static str| {
        let store = store.clone();
        async move { store.tracked_position(consumer).await.expect("tracked") }
    };
    assert_eq!(tracked("emails").await, None);
    let handle = stream(&store, "emails", "welcome");
    let sent = || [tagged("email-sent", &[])];
    let first = handle
        .publish(sent(), WriteCondition::StreamIsEmpty)
        .tracking("emails", 5)
        .await
        .expect("tracked publish");
    assert_eq!(first.len(), 1);
    assert_eq!(tracked("emails").await, Some(5));
    for (position, condition) in [
        (5, WriteCondition::NoCondition),
        (3, WriteCondition::NoCondition),
        (0, WriteCondition::NoCondition),
        (4, WriteCondition::StreamIsEmpty),
    ] {
        let replay = handle
            .publish(sent(), condition)
            .tracking("emails", position)
            .await
            .expect("a replay succeeds");
        assert!(
            replay.is_empty(),
            "a replay of {position} returns no events"
        );
    }
    assert_eq!(
        handle.read().await.expect("read"),
        first,
        "replays wrote nothing"
    );
    assert_eq!(tracked("emails").await, Some(5));
    assert_unmet(
        handle
            .publish(sent(), WriteCondition::StreamIsEmpty)
            .tracking("emails", 6)
            .await,
        &handle,
        Some(0),
    );
    assert_eq!(
        tracked("emails").await,
        Some(5),
        "a failed publish records nothing"
    );
    let next = handle
        .publish(sent(), WriteCondition::PositionIs(Some(0)))
        .tracking("emails", 6)
        .await
        .expect("a later position");
    assert_eq!(next[0].position, 1);
    assert_eq!(tracked("emails").await, Some(6));
    assert_eq!(tracked("sms").await, None, "consumers are independent");
    let fan_out = vec![
        write("emails", "digest", sent(), WriteCondition::NoCondition),
        write(
            "sms",
            "digest",
            [tagged("sms-sent", &[])],
            WriteCondition::NoCondition,
        ),
    ];
    let logged = store
        .log()
        .publish(fan_out.clone())
        .tracking("digests", u64::try_from(i64::MAX).expect("fits"))
        .await
        .expect("a tracked log publish");
    assert_eq!(logged.len(), 2);
    let replay = store
        .log()
        .publish(vec![
            write("emails", "digest", sent(), WriteCondition::NoCondition),
            write(
                "sms",
                "digest",
                [tagged("sms-sent", &[])],
                WriteCondition::NoCondition,
            ),
        ])
        .tracking("digests", 1)
        .await
        .expect("a replay");
    assert!(replay.is_empty());
    assert_eq!(tracked("digests").await, Some(i64::MAX as u64));
    let category = store.category("emails").expect("category");
    let categorised = category
        .publish(vec![write(
            "emails",
            "x",
            sent(),
            WriteCondition::NoCondition,
        )])
        .tracking("emails", 7)
        .await
        .expect("a tracked category publish");
    assert_eq!(categorised.len(), 1);
    assert_eq!(tracked("emails").await, Some(7));
    assert_eq!(tracked("sms").await, None);
    assert_eq!(log(&store).await.len(), 5);
    assert_invalid(store.tracked_position("").await, "consumer");
    assert_invalid(
        handle
            .publish(sent(), WriteCondition::NoCondition)
            .tracking("", 9)
            .await,
        "consumer",
    );
    assert_invalid(
        handle
            .publish(sent(), WriteCondition::NoCondition)
            .tracking("emails", u64::MAX)
            .await,
        "tracking",
    );
    assert_eq!(
        log(&store).await.len(),
        5,
        "invalid publishes wrote nothing"
    );
}

/// Publishing again the events of a query-conditioned, guarded, tracked or
/// log publish (same ids, same conditions), as a client does after an unknown
/// outcome, returns the stored events and writes nothing, though the events
/// stored now match the conditions' queries and the consumer's position is
/// recorded.
pub async fn retries_of_boundary_publishes_return_the_stored_events(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    let course = tag_query("course:c1");
    let (head, _) = read(&store, &course, QueryOptions::new()).await;
    let s1 = stream(&store, "students", "s1");
    let enrolment = vec![tagged("student-enrolled", &["course:c1", "student:s1"])];
    let decided = WriteCondition::NoneMatchAfter(course.clone(), head);
    let first = s1
        .publish(enrolment.clone(), decided.clone())
        .await
        .expect("publish");
    let retried = s1.publish(enrolment.clone(), decided).await.expect("retry");
    assert_eq!(retried, first, "a query-conditioned retry");
    let u1 = stream(&store, "users", "u1");
    let registration = vec![tagged("user-registered", &["username:joe"])];
    let guard = WriteCondition::NoneMatch(tag_query("username:joe"));
    let registered = u1
        .publish(registration.clone(), guard.clone())
        .await
        .expect("publish");
    let retried = u1.publish(registration, guard).await.expect("retry");
    assert_eq!(retried, registered, "a guarded retry");
    let emails = stream(&store, "emails", "e1");
    let sent = vec![tagged("email-sent", &[])];
    let tracked = emails
        .publish(sent.clone(), WriteCondition::NoCondition)
        .tracking("emails", 3)
        .await
        .expect("publish");
    let retried = emails
        .publish(sent, WriteCondition::NoCondition)
        .tracking("emails", 3)
        .await
        .expect("retry");
    assert_eq!(retried, tracked, "a tracked retry returns the events");
    let (head, _) = read(&store, &course, QueryOptions::new()).await;
    let writes = vec![
        write(
            "students",
            "s2",
            [tagged("student-enrolled", &["course:c1", "student:s2"])],
            WriteCondition::StreamIsEmpty,
        ),
        write(
            "courses",
            "c1",
            [tagged("seat-taken", &["course:c1"])],
            WriteCondition::StreamIsEmpty,
        ),
    ];
    let condition = WriteCondition::NoneMatchAfter(course, head);
    let publish = || {
        store
            .log()
            .publish(writes.clone())
            .condition(condition.clone())
            .tracking("enrolments", 1)
    };
    let logged = publish().await.expect("publish");
    assert_eq!(
        publish().await.expect("retry"),
        logged,
        "a log publish retry"
    );
    let everything = log(&store).await;
    assert_eq!(everything.len(), 5, "nothing written twice");
    assert_eq!(
        store.tracked_position("emails").await.expect("tracked"),
        Some(3)
    );
}

/// A subscription after a query read's head delivers exactly the events
/// that became visible after the head, of every name and tag, in order;
/// a category subscription keeps to its category.
pub async fn a_subscription_after_a_head_starts_right_after_it(store: EventStore) {
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
    put(&store, "notes", "n", [tagged("noted", &[])]).await;
    let (head, _) = read(&store, &course, QueryOptions::new()).await;
    let after = [
        put(&store, "notes", "n", [tagged("noted", &[])]).await,
        put(
            &store,
            "courses",
            "c2",
            [tagged("course-defined", &["course:c2"])],
        )
        .await,
        put(
            &store,
            "courses",
            "c1",
            [tagged("capacity-changed", &["course:c1"])],
        )
        .await,
    ]
    .concat();
    let options = || {
        SubscriptionOptions::new()
            .after_head(head)
            .poll_interval(Duration::from_millis(20))
    };
    let log_subscription = store.log().subscribe(options()).expect("subscribe");
    assert_eq!(
        until_caught_up(log_subscription).await,
        after,
        "the log after the head"
    );
    let courses = store.category("courses").expect("category");
    let category_subscription = courses.subscribe(options()).expect("subscribe");
    let in_courses: Vec<StoredEvent> = after
        .iter()
        .filter(|event| event.stream.category.as_str() == "courses")
        .cloned()
        .collect();
    assert_eq!(until_caught_up(category_subscription).await, in_courses);
    let (latest, _) = read(&store, &Query::all(), QueryOptions::new()).await;
    let subscription = store
        .log()
        .subscribe(SubscriptionOptions::new().after_head(latest))
        .expect("subscribe");
    assert!(
        until_caught_up(subscription).await.is_empty(),
        "nothing after the latest head"
    );
}

/// The events a subscription delivers before it first catches up.
async fn until_caught_up(subscription: eventblocks_core::SubscriptionStream) -> Vec<StoredEvent> {
    let delivered = subscription
        .take_while(|message| {
            let caught_up = matches!(message, Ok(SubscriptionMessage::CaughtUp { .. }));
            std::future::ready(!caught_up)
        })
        .map(|message| match message {
            Ok(SubscriptionMessage::Event(event)) => event,
            other => panic!("the subscription failed: {other:?}"),
        })
        .collect::<Vec<_>>();
    tokio::time::timeout(Duration::from_secs(30), delivered)
        .await
        .expect("the subscription caught up")
}
