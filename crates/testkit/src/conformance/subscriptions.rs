//! Catch-up subscriptions: live delivery through the adapter's wake-ups,
//! catching up then following without a gap or a repeat, and resuming after
//! a checkpoint.
//!
//! Subscriptions are built by core on [`StorageAdapter::scan`] and
//! [`StorageAdapter::wake_ups`](eventblocks_core::StorageAdapter::wake_ups):
//! these cases catch an adapter (a wrapper, typically) that scans correctly
//! but never signals new commits, whose subscriptions would fall back to
//! polling without a word.
//!
//! [`StorageAdapter::scan`]: eventblocks_core::StorageAdapter::scan

use std::collections::HashSet;
use std::time::Duration;

use eventblocks_core::{
    EventStore, StoredEvent, SubscriptionMessage, SubscriptionOptions, SubscriptionStream,
};
use futures::TryStreamExt;

use super::support::{publish, stream};

/// How soon after its commit a live subscription must receive an event, while
/// its poll interval is an hour: only the adapter's wake-ups can deliver it.
///
/// An adapter whose backend cannot signal commits (other processes writing
/// one SQLite file, say) may implement `wake_ups` as a poll of its own, as
/// long as it signals a commit well within this bound: every second or
/// faster. In memory and on PostgreSQL (`LISTEN/NOTIFY`) delivery takes
/// milliseconds; the bound leaves room for a busy test machine.
pub const LIVE_DELIVERY_BOUND: Duration = Duration::from_secs(5);

/// How long a live subscription is left to look for events and start
/// waiting before the case publishes.
const SETTLE: Duration = Duration::from_millis(200);

/// Subscriptions in these cases poll this often (when a case does not test
/// wake-ups), so that a slow wake-up only slows them.
const POLL: Duration = Duration::from_millis(100);

/// The next message, failing the case after `within`.
async fn next_within(
    subscription: &mut SubscriptionStream,
    within: Duration,
) -> Option<SubscriptionMessage> {
    tokio::time::timeout(within, subscription.try_next())
        .await
        .ok()?
        .unwrap_or_else(|error| panic!("the subscription failed: {error}"))
}

/// Reads events until `count` have arrived (skipping `CaughtUp`), failing
/// the case after 30 seconds.
async fn events(subscription: &mut SubscriptionStream, count: usize) -> Vec<StoredEvent> {
    let mut received = Vec::with_capacity(count);
    while received.len() < count {
        match next_within(subscription, Duration::from_secs(30)).await {
            Some(SubscriptionMessage::Event(event)) => received.push(event),
            Some(_) => {}
            None => panic!(
                "the subscription delivered {} of {count} events, then nothing for 30 s",
                received.len()
            ),
        }
    }
    received
}

/// The events up to the next `CaughtUp`, failing the case after 30 seconds.
async fn until_caught_up(subscription: &mut SubscriptionStream) -> Vec<StoredEvent> {
    let mut received = Vec::new();
    loop {
        match next_within(subscription, Duration::from_secs(30)).await {
            Some(SubscriptionMessage::Event(event)) => received.push(event),
            Some(SubscriptionMessage::CaughtUp { .. }) => return received,
            Some(_) => {}
            None => panic!("the subscription never caught up"),
        }
    }
}

/// Reads up to the next `CaughtUp`, failing on an event or after 30 seconds.
async fn caught_up(subscription: &mut SubscriptionStream) {
    match next_within(subscription, Duration::from_secs(30)).await {
        Some(SubscriptionMessage::CaughtUp { .. }) => {}
        other => panic!("expected the subscription to report it caught up, got {other:?}"),
    }
}

/// A subscription that has caught up receives an event published afterwards
/// within [`LIVE_DELIVERY_BOUND`], though it would poll only once an hour:
/// the adapter's wake-ups signal the commit.
pub async fn a_live_subscription_receives_a_new_event_promptly(store: EventStore) {
    assert!(
        store.adapter().wake_ups().is_some(),
        "the adapter's wake_ups() returned None, so subscriptions can only poll; an adapter \
         must signal new commits (a wrapper must forward StorageAdapter::wake_ups to the \
         adapter it wraps)"
    );
    let handle = stream(&store, "live", "s");
    publish(&handle, "before", 1).await;
    let hourly = SubscriptionOptions::new().poll_interval(Duration::from_secs(3600));
    for mut subscription in [
        store.log().subscribe(hourly.clone()),
        store
            .category("live")
            .and_then(|category| category.subscribe(hourly.clone())),
    ]
    .map(|subscription| subscription.unwrap_or_else(|error| panic!("subscribing: {error}")))
    {
        let before = until_caught_up(&mut subscription).await;
        let mut next = subscription.try_next();
        // Let it look once more, find nothing and wait, before the commit:
        // then only a wake-up can deliver it.
        tokio::select! {
            early = &mut next => panic!("a message arrived with nothing published: {early:?}"),
            () = tokio::time::sleep(SETTLE) => {}
        }
        let published = publish(&handle, "after", 1).await;
        let live = tokio::time::timeout(LIVE_DELIVERY_BOUND, next).await;
        let live = live.map(|message| {
            message.unwrap_or_else(|error| panic!("the subscription failed: {error}"))
        });
        match live {
            Ok(Some(SubscriptionMessage::Event(event))) => assert_eq!(event, published[0]),
            Ok(other) => panic!("expected the new event, got {other:?}"),
            Err(_) => panic!(
                "a subscription that had caught up (after event {}) did not receive an event \
                 published {:?} earlier; it polls once an hour, so the adapter's wake-ups \
                 never signalled the commit. An adapter must signal commits through \
                 StorageAdapter::wake_ups, and a wrapper must forward StorageAdapter::wake_ups to the adapter \
                 it wraps",
                before.last().map(|event| event.sequence_number).unwrap_or_default(),
                LIVE_DELIVERY_BOUND
            ),
        }
    }
}

/// A subscription delivers the stored events, then new ones as writers keep
/// publishing during and after its catch-up, each exactly once, in
/// increasing sequence order, and only its category's.
pub async fn catch_up_then_live_never_skips_or_repeats(store: EventStore) {
    let (ours, theirs) = (
        stream(&store, "followed", "s"),
        stream(&store, "other", "s"),
    );
    let mut expected = Vec::new();
    for _ in 0..5 {
        expected.extend(publish(&ours, "stored", 4).await);
        publish(&theirs, "elsewhere", 1).await;
    }
    let options = SubscriptionOptions::new().page_size(3).poll_interval(POLL);
    let mut subscription = store
        .category("followed")
        .and_then(|category| category.subscribe(options))
        .unwrap_or_else(|error| panic!("subscribing: {error}"));
    let writer = tokio::spawn({
        let (ours, theirs) = (ours.clone(), theirs.clone());
        async move {
            let mut written = Vec::new();
            for round in 0..10 {
                written.extend(publish(&ours, "live", 2).await);
                publish(&theirs, "elsewhere", 1).await;
                if round % 3 == 0 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            written
        }
    });
    let mut received = events(&mut subscription, expected.len()).await;
    expected.extend(writer.await.unwrap_or_else(|error| panic!("{error}")));
    received.extend(events(&mut subscription, expected.len() - received.len()).await);
    let mut seen = HashSet::new();
    for pair in received.windows(2) {
        assert!(
            pair[0].sequence_number < pair[1].sequence_number,
            "delivered out of order: {} then {}",
            pair[0].sequence_number,
            pair[1].sequence_number
        );
    }
    for event in &received {
        assert!(
            seen.insert(event.id),
            "event {} delivered twice",
            event.sequence_number
        );
        assert_eq!(
            event.category().as_str(),
            "followed",
            "another category's event"
        );
    }
    assert_eq!(received, expected, "every event, once, as stored");
    caught_up(&mut subscription).await;
}

/// A consumer that stopped after some events and subscribes again after the
/// last one it saw receives exactly the rest: those it had not seen, then
/// the ones published meanwhile.
pub async fn a_subscription_resumes_after_a_checkpoint(store: EventStore) {
    let handle = stream(&store, "resumed", "s");
    let first = publish(&handle, "first", 6).await;
    let options = SubscriptionOptions::new().poll_interval(POLL);
    let mut subscription = store
        .log()
        .subscribe(options.clone())
        .unwrap_or_else(|error| panic!("subscribing: {error}"));
    let seen = events(&mut subscription, 4).await;
    assert_eq!(seen[..], first[..4]);
    drop(subscription);
    let checkpoint = seen[3].sequence_number;
    let meanwhile = publish(&handle, "meanwhile", 3).await;

    let mut resumed = store
        .log()
        .subscribe(options.after(checkpoint))
        .unwrap_or_else(|error| panic!("resuming: {error}"));
    let rest = events(&mut resumed, 5).await;
    let expected: Vec<StoredEvent> = first[4..].iter().chain(&meanwhile).cloned().collect();
    assert_eq!(rest, expected, "exactly the events after the checkpoint");
    caught_up(&mut resumed).await;
    let last = publish(&handle, "last", 1).await;
    assert_eq!(events(&mut resumed, 1).await, last, "and then new ones");
}
