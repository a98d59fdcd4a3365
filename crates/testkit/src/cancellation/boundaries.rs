//! The harness's cases for consistency boundaries: query reads,
//! query-conditioned, log and tracked publishes, dropped after every number
//! of polls. They run on adapters that offer
//! [`Capabilities::boundaries`](eventblocks_core::Capabilities::boundaries)
//! and pass at once on others.

use eventblocks_core::{
    EventStore, NewEvent, Query, QueryItem, QueryOptions, Result, StoredEvent, StreamHandle,
    StreamWrite, WriteCondition,
};
use futures::TryStreamExt;
use uuid::Uuid;

use super::cases::{after, check_publish, ids, observed, promptly, stream, MAX_POLLS};
use super::{assert_nothing_held, drop_after_polls, Ending, EventStoreFixture, EventStoreParts};
use crate::builders::event;

fn boundaries(fixture: &EventStoreFixture) -> bool {
    fixture.events.adapter().capabilities().boundaries
}

fn tag_query(tag: &str) -> Query {
    let item = QueryItem::new()
        .tags([tag])
        .unwrap_or_else(|error| panic!("a valid tag: {error}"));
    Query::new().or(item)
}

fn tagged(name: &str, tag: &str, count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|_| event(name).tags([tag]).build())
        .collect()
}

/// The head of a read of `query` now, on the store whose operations are
/// dropped.
async fn head(store: &EventStore, query: &Query) -> eventblocks_core::Head {
    promptly(
        "a query read",
        store.log().query(query.clone(), QueryOptions::new()),
    )
    .await
    .unwrap_or_else(|error| panic!("a query read failed: {error}"))
    .head
}

/// Query reads of the log and of a category, dropped after every number of
/// polls while they read page after page, leave nothing held, and the store
/// keeps serving reads.
pub async fn dropped_query_reads_leave_nothing_held(fixture: impl EventStoreParts) {
    let fixture = &fixture.event_store_parts();
    if !boundaries(fixture) {
        return;
    }
    let handle = stream(&fixture.events, "cancelled-queries", "s");
    // More matching events than a page of either adapter's defaults.
    for _ in 0..3 {
        let mut events = tagged("read", "kept", 700);
        events.extend(tagged("read", "other", 100));
        promptly(
            "a publish",
            handle.publish(events, WriteCondition::NoCondition),
        )
        .await
        .unwrap_or_else(|error| panic!("publishing failed: {error}"));
    }
    let kept = tag_query("kept");
    for in_category in [false, true] {
        for polls in 1..=MAX_POLLS {
            let reading = query_read(&fixture.events, &handle, &kept, in_category);
            let ending = drop_after_polls(reading, polls).await;
            let how = format!("a query read (category: {in_category}) dropped after {polls} polls");
            super::cases::check_reads_after(&*fixture.leftovers, &handle, &how).await;
            if let Ending::Completed(result) = ending {
                let read = result.unwrap_or_else(|error| panic!("a query read failed: {error}"));
                assert_eq!(read.len(), 2100, "every kept event");
                break;
            }
        }
    }
}

async fn query_read(
    store: &EventStore,
    handle: &StreamHandle,
    query: &Query,
    in_category: bool,
) -> Result<Vec<StoredEvent>> {
    let read = if in_category {
        let category = store.category_of(handle.identifier().category_identifier());
        category.query(query.clone(), QueryOptions::new()).await?
    } else {
        store
            .log()
            .query(query.clone(), QueryOptions::new())
            .await?
    };
    read.events.try_collect().await
}

/// A publish conditioned on a boundary (and its stream's position), dropped
/// after every number of polls, leaves nothing held; its retry with the same
/// condition stores it once (the boundary it moved is its own), and one that
/// completed is visible to other sessions.
pub async fn a_dropped_boundary_publish_is_stored_once_by_its_retry(fixture: impl EventStoreParts) {
    let fixture = &fixture.event_store_parts();
    if !boundaries(fixture) {
        return;
    }
    let handle = stream(&fixture.events, "cancelled-boundary", "s");
    let course = tag_query("course:cancelled");
    let mut expected = Vec::new();
    for polls in 1..=MAX_POLLS {
        let batch = tagged("enrolled", "course:cancelled", 2);
        let decided =
            WriteCondition::NoneMatchAfter(course.clone(), head(&fixture.events, &course).await);
        let condition = after(&expected) & decided;
        let publish = handle.publish(batch.clone(), condition.clone());
        let ending = drop_after_polls(publish, polls).await;
        let how = format!("query-conditioned and dropped after {polls} polls");
        if check_publish(
            fixture,
            &handle,
            &batch,
            condition,
            ending,
            &mut expected,
            &how,
        )
        .await
        {
            return;
        }
    }
    panic!("a query-conditioned publish never completed within {MAX_POLLS} polls");
}

/// A publish to streams of three categories under a whole-publish guard,
/// dropped after every number of polls, is all or nothing as other sessions
/// see it, and its retry stores it once.
pub async fn a_dropped_log_publish_is_all_or_nothing(fixture: impl EventStoreParts) {
    let fixture = &fixture.event_store_parts();
    if !boundaries(fixture) {
        return;
    }
    let streams: Vec<StreamHandle> = ["log-a", "log-b", "log-c"]
        .iter()
        .map(|category| stream(&fixture.events, category, "s"))
        .collect();
    let mut expected: Vec<Vec<Uuid>> = vec![Vec::new(); streams.len()];
    for polls in 1..=MAX_POLLS {
        let round = format!("round:{polls}");
        let writes: Vec<StreamWrite> = streams
            .iter()
            .zip(&expected)
            .map(|(handle, stored)| {
                StreamWrite::new(
                    handle.identifier().clone(),
                    tagged("spread", &round, 1),
                    after(stored),
                )
            })
            .collect();
        let guard = WriteCondition::NoneMatch(tag_query(&round));
        let publish = |writes: Vec<StreamWrite>| {
            fixture
                .events
                .log()
                .publish(writes)
                .condition(guard.clone())
        };
        let ending = drop_after_polls(publish(writes.clone()), polls).await;
        let completed = matches!(ending, Ending::Completed(Ok(_)));
        if let Ending::Completed(Err(error)) = &ending {
            assert!(error.is_retryable(), "a log publish failed: {error}");
        }
        let how = format!("a log publish dropped after {polls} polls");
        assert_nothing_held(&*fixture.leftovers, &how).await;
        let mut counts = Vec::new();
        for (handle, before) in streams.iter().zip(&expected) {
            counts.push(observed(fixture, handle).await.len() - before.len());
        }
        assert!(
            counts.iter().all(|&count| count == counts[0]),
            "{how} was partly written: {counts:?} new events per stream"
        );
        assert!(
            !completed || counts[0] == 1,
            "{how} returned Ok: it is visible"
        );
        promptly("the retry", publish(writes.clone()))
            .await
            .unwrap_or_else(|error| panic!("the retry of {how} failed: {error}"));
        for ((handle, write), stored) in streams.iter().zip(&writes).zip(&mut expected) {
            stored.extend(write.events.iter().map(NewEvent::id));
            assert_eq!(observed(fixture, handle).await, *stored, "after {how}");
        }
        if completed {
            return;
        }
    }
    panic!("a log publish never completed within {MAX_POLLS} polls");
}

/// A tracked publish dropped after every number of polls leaves nothing
/// held and records its position with its events or not at all; its retry
/// stores the events once, returns them, and records the position, which
/// other sessions see.
pub async fn a_dropped_tracked_publish_is_recorded_once(fixture: impl EventStoreParts) {
    let fixture = &fixture.event_store_parts();
    if !boundaries(fixture) {
        return;
    }
    let handle = stream(&fixture.events, "cancelled-tracked", "s");
    let tracked = || async {
        promptly(
            "a tracked position",
            fixture.observer.tracked_position("cancelled"),
        )
        .await
        .unwrap_or_else(|error| panic!("reading a tracked position failed: {error}"))
    };
    let mut expected = Vec::new();
    let mut previous = None;
    for polls in 1..=MAX_POLLS {
        let position = u64::try_from(polls).expect("small");
        let batch = tagged("emitted", "tracked", 2);
        let publish = || {
            handle
                .publish(batch.clone(), after(&expected))
                .tracking("cancelled", position)
        };
        let ending = drop_after_polls(publish(), polls).await;
        let how = format!("a tracked publish dropped after {polls} polls");
        let completed = match ending {
            Ending::Completed(Ok(_)) => true,
            Ending::Completed(Err(error)) if error.is_retryable() => false,
            Ending::Completed(Err(error)) => panic!("{how} failed: {error}"),
            Ending::Dropped => false,
        };
        assert_nothing_held(&*fixture.leftovers, &how).await;
        let seen = observed(fixture, &handle).await;
        let recorded = tracked().await;
        let written = seen.len() > expected.len();
        assert_eq!(
            recorded,
            if written { Some(position) } else { previous },
            "{how}: the position is recorded with the events, or not at all"
        );
        assert!(!completed || written, "{how} returned Ok: it is visible");
        let retried = promptly("the retry", publish())
            .await
            .unwrap_or_else(|error| panic!("the retry of {how} failed: {error}"));
        let batch_ids: Vec<Uuid> = batch.iter().map(NewEvent::id).collect();
        assert_eq!(
            ids(&retried),
            batch_ids,
            "the retry of {how} returns the batch"
        );
        expected.extend(batch_ids);
        assert_eq!(observed(fixture, &handle).await, expected, "after {how}");
        assert_eq!(tracked().await, Some(position), "after the retry of {how}");
        previous = Some(position);
        if completed {
            return;
        }
    }
    panic!("a tracked publish never completed within {MAX_POLLS} polls");
}
