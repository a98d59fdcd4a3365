//! The harness's cases for the event store's operations.

use std::future::Future;
use std::time::Duration;

use eventblocks_core::{
    CatalogueQuery, EventStore, NewEvent, Result, ScanQuery, StoredEvent, StreamHandle,
    StreamWrite, SubscriptionMessage, SubscriptionOptions, WriteCondition,
};
use futures::{StreamExt, TryStreamExt};
use rand::Rng;
use uuid::Uuid;

use super::{
    assert_nothing_held, drop_after_polls, Ending, EventStoreFixture, EventStoreParts, Leftovers,
    PROMPTLY,
};
use crate::builders::events;

/// A bound on the polls any operation may need; reaching it fails the case.
pub(super) const MAX_POLLS: usize = 500;

/// Drops made under random short timeouts, per operation.
const RANDOM_TIMEOUTS: usize = 40;

/// Awaits `future`, failing the case if it takes longer than "promptly".
pub(super) async fn promptly<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PROMPTLY, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish promptly after a dropped operation"))
}

pub(super) fn stream(store: &EventStore, category: &str, name: &str) -> StreamHandle {
    store
        .stream(category, name)
        .unwrap_or_else(|error| panic!("a valid stream: {error}"))
}

pub(super) fn ids(events: &[StoredEvent]) -> Vec<Uuid> {
    events.iter().map(|event| event.id).collect()
}

/// The events of `handle`'s stream as the observer (other sessions) sees them.
pub(super) async fn observed(fixture: &EventStoreFixture, handle: &StreamHandle) -> Vec<Uuid> {
    let events = promptly(
        "reading through another session",
        fixture
            .observer
            .stream_of(handle.identifier().clone())
            .read(),
    )
    .await
    .unwrap_or_else(|error| panic!("the observer's read failed: {error}"));
    ids(&events)
}

/// One round of the publish rules: `publish` ran under some way of dropping
/// it; the store must hold nothing, the retry must store the batch once, and
/// other sessions must see it. Returns whether the dropped publish completed.
pub(super) async fn check_publish(
    fixture: &EventStoreFixture,
    handle: &StreamHandle,
    batch: &[NewEvent],
    condition: WriteCondition,
    ending: Ending<Result<Vec<StoredEvent>>>,
    expected: &mut Vec<Uuid>,
    how: &str,
) -> bool {
    let completed = match ending {
        Ending::Completed(Ok(_)) => true,
        // A timeout of the adapter's own, say: the outcome is unknown, as
        // when dropped.
        Ending::Completed(Err(error)) if error.is_retryable() => false,
        Ending::Completed(Err(error)) => panic!("a publish {how} failed: {error}"),
        Ending::Dropped => false,
    };
    assert_nothing_held(&*fixture.leftovers, &format!("a publish {how}")).await;
    let retried = promptly("the retry", handle.publish(batch.to_vec(), condition))
        .await
        .unwrap_or_else(|error| panic!("the retry of a publish {how} failed: {error}"));
    let batch_ids: Vec<Uuid> = batch.iter().map(NewEvent::id).collect();
    assert_eq!(ids(&retried), batch_ids, "the retry returns the batch");
    expected.extend(batch_ids);
    assert_eq!(
        observed(fixture, handle).await,
        *expected,
        "after a publish {how} and its retry, other sessions see every batch once, in order"
    );
    completed
}

/// The condition a batch is published under: the stream's last position as
/// the harness knows it.
pub(super) fn after(expected: &[Uuid]) -> WriteCondition {
    WriteCondition::PositionIs(expected.len().checked_sub(1).map(|last| last as u64))
}

/// A publish dropped after every number of polls leaves nothing held; its
/// retry (same events, same condition) stores it exactly once, and a publish
/// that completed is visible to other sessions.
pub async fn a_dropped_publish_is_stored_once_by_its_retry(fixture: impl EventStoreParts) {
    let fixture = &fixture.event_store_parts();
    let handle = stream(&fixture.events, "cancelled", "publish");
    let mut expected = Vec::new();
    for polls in 1..=MAX_POLLS {
        let batch = events("dropped", 2);
        let condition = after(&expected);
        let publish = handle.publish(batch.clone(), condition.clone());
        let ending = drop_after_polls(publish, polls).await;
        let how = format!("dropped after {polls} polls");
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
    panic!("a publish never completed within {MAX_POLLS} polls");
}

/// Publishes cut off by random short timeouts keep the same rules.
pub async fn publishes_under_random_timeouts_are_stored_once_by_their_retries(
    fixture: impl EventStoreParts,
) {
    let fixture = &fixture.event_store_parts();
    let handle = stream(&fixture.events, "cancelled", "timeouts");
    let mut expected = Vec::new();
    for _ in 0..RANDOM_TIMEOUTS {
        let batch = events("timed-out", 3);
        let condition = after(&expected);
        let limit = Duration::from_micros(rand::rng().random_range(0..3000));
        let publish = handle.publish(batch.clone(), condition.clone());
        let ending = match tokio::time::timeout(limit, publish).await {
            Ok(result) => Ending::Completed(result),
            Err(_) => Ending::Dropped,
        };
        let how = format!("cut off after {limit:?}");
        check_publish(
            fixture,
            &handle,
            &batch,
            condition,
            ending,
            &mut expected,
            &how,
        )
        .await;
    }
}

/// A publish to several streams of a category, dropped after every number of
/// polls, is all or nothing, and its retry stores it once.
pub async fn a_dropped_category_publish_is_all_or_nothing(fixture: impl EventStoreParts) {
    let fixture = &fixture.event_store_parts();
    let category = fixture
        .events
        .category("cancelled-category")
        .unwrap_or_else(|error| panic!("a valid category: {error}"));
    let streams: Vec<StreamHandle> = ["a", "b", "c"]
        .iter()
        .map(|name| stream(&fixture.events, "cancelled-category", name))
        .collect();
    let mut expected: Vec<Vec<Uuid>> = vec![Vec::new(); streams.len()];
    for polls in 1..=MAX_POLLS {
        let writes: Vec<StreamWrite> = streams
            .iter()
            .zip(&expected)
            .map(|(handle, stored)| {
                StreamWrite::new(
                    handle.identifier().clone(),
                    events("dropped", 2),
                    after(stored),
                )
            })
            .collect();
        let ending = drop_after_polls(category.publish(writes.clone()), polls).await;
        let completed = matches!(ending, Ending::Completed(Ok(_)));
        if let Ending::Completed(Err(error)) = &ending {
            assert!(error.is_retryable(), "a category publish failed: {error}");
        }
        let how = format!("a category publish dropped after {polls} polls");
        assert_nothing_held(&*fixture.leftovers, &how).await;
        let counts: Vec<usize> =
            futures::future::join_all(streams.iter().map(|handle| observed(fixture, handle)))
                .await
                .iter()
                .zip(&expected)
                .map(|(seen, before)| seen.len() - before.len())
                .collect();
        assert!(
            counts.iter().all(|&count| count == counts[0]),
            "{how} was partly written: {counts:?} new events per stream"
        );
        promptly("the retry", category.publish(writes.clone()))
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
    panic!("a category publish never completed within {MAX_POLLS} polls");
}

/// Scans of every target and `latest`, dropped after every number of polls,
/// leave nothing held, and the store keeps serving reads.
pub async fn dropped_reads_leave_nothing_held(fixture: impl EventStoreParts) {
    let fixture = &fixture.event_store_parts();
    let handle = stream(&fixture.events, "cancelled-reads", "s");
    for _ in 0..5 {
        promptly(
            "a publish",
            handle.publish(events("read", 500), WriteCondition::NoCondition),
        )
        .await
        .unwrap_or_else(|error| panic!("publishing failed: {error}"));
    }
    for what in Read::ALL {
        for polls in 1..=MAX_POLLS {
            let ending = drop_after_polls(what.run(&fixture.events, &handle), polls).await;
            let how = format!("{what:?} dropped after {polls} polls");
            assert_nothing_held(&*fixture.leftovers, &how).await;
            let read = promptly("a read", handle.read())
                .await
                .unwrap_or_else(|error| panic!("a read after {how} failed: {error}"));
            assert_eq!(read.len(), 2500);
            if let Ending::Completed(result) = ending {
                result.unwrap_or_else(|error| panic!("{what:?} failed: {error}"));
                break;
            }
        }
    }
}

/// The reads the harness drops.
#[derive(Debug, Clone, Copy)]
enum Read {
    LogScan,
    CategoryScan,
    StreamScan,
    Latest,
    /// Every catalogue listing and look-up, one after the other.
    Catalogue,
}

impl Read {
    const ALL: [Self; 5] = [
        Self::LogScan,
        Self::CategoryScan,
        Self::StreamScan,
        Self::Latest,
        Self::Catalogue,
    ];

    /// Runs the read to its end; how many events it returned.
    async fn run(self, store: &EventStore, handle: &StreamHandle) -> Result<usize> {
        let all = |events: eventblocks_core::EventStream| async move {
            events
                .try_collect::<Vec<_>>()
                .await
                .map(|events| events.len())
        };
        let category = handle.identifier().category_identifier();
        match self {
            Self::LogScan => all(store.log().scan(ScanQuery::new())).await,
            Self::CategoryScan => all(store.scan(category, ScanQuery::new())).await,
            Self::StreamScan => all(handle.scan(ScanQuery::new())).await,
            Self::Latest => store
                .log()
                .latest()
                .await
                .map(|latest| usize::from(latest.is_some())),
            Self::Catalogue => {
                let catalogue = store.catalogue();
                let listing = CatalogueQuery::new;
                let categories = catalogue.categories(listing()).await?.items.len();
                let streams = catalogue
                    .streams(category.category.as_str(), listing())
                    .await?
                    .items
                    .len();
                let names = catalogue.event_names(listing()).await?.items.len();
                let identifier = handle.identifier();
                let summary = catalogue
                    .stream(identifier.category.as_str(), identifier.stream.as_str())
                    .await?;
                let head = catalogue.head().await?;
                Ok(categories + streams + names + usize::from(summary.is_some() && head.is_some()))
            }
        }
    }
}

/// A subscription dropped after every number of polls while it catches up,
/// and while it waits live for new events, leaves nothing held.
pub async fn a_dropped_subscription_leaves_nothing_held(fixture: impl EventStoreParts) {
    let fixture = &fixture.event_store_parts();
    let handle = stream(&fixture.events, "cancelled-subscription", "s");
    promptly(
        "a publish",
        handle.publish(events("read", 300), WriteCondition::NoCondition),
    )
    .await
    .unwrap_or_else(|error| panic!("publishing failed: {error}"));
    let subscribe = || {
        let options = SubscriptionOptions::new()
            .page_size(50)
            .poll_interval(Duration::from_millis(5));
        fixture
            .events
            .log()
            .subscribe(options)
            .unwrap_or_else(|error| panic!("subscribing failed: {error}"))
    };
    for polls in 1..=MAX_POLLS {
        let catching_up = subscribe()
            .take_while(|message| {
                let caught_up = matches!(message, Ok(SubscriptionMessage::CaughtUp { .. }));
                std::future::ready(!caught_up)
            })
            .try_collect::<Vec<_>>();
        let ending = drop_after_polls(catching_up, polls).await;
        check_reads_after(
            &*fixture.leftovers,
            &handle,
            &format!("a catching-up subscription dropped after {polls} polls"),
        )
        .await;
        if let Ending::Completed(result) = ending {
            let messages =
                result.unwrap_or_else(|error| panic!("the subscription failed: {error}"));
            assert_eq!(messages.len(), 300, "every event before catching up");
            break;
        }
    }
    for polls in 1..=20 {
        let mut live = subscribe();
        while let Some(message) = promptly("catching up", live.next()).await {
            let message =
                message.unwrap_or_else(|error| panic!("the subscription failed: {error}"));
            if matches!(message, SubscriptionMessage::CaughtUp { .. }) {
                break;
            }
        }
        let ending = drop_after_polls(live.next(), polls).await;
        assert!(
            matches!(ending, Ending::Dropped),
            "nothing new was published"
        );
        check_reads_after(
            &*fixture.leftovers,
            &handle,
            &format!("a live subscription dropped after {polls} polls"),
        )
        .await;
    }
}

pub(super) async fn check_reads_after(leftovers: &dyn Leftovers, handle: &StreamHandle, how: &str) {
    assert_nothing_held(leftovers, how).await;
    promptly("a read", handle.read())
        .await
        .unwrap_or_else(|error| panic!("a read after {how} failed: {error}"));
}
