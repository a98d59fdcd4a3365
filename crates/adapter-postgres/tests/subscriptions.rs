//! Live subscriptions on PostgreSQL: `LISTEN/NOTIFY` wake-ups between adapters.

mod common;

use std::time::Duration;

use eventblocks_core::{
    EventStore, NewEvent, SubscriptionMessage, SubscriptionOptions, WriteCondition,
};
use eventblocks_postgres::PostgresAdapter;
use futures::TryStreamExt;
use serde_json::json;

async fn publish(store: &EventStore, stream: &str) {
    let event = NewEvent::new("pinged", &json!({ "stream": stream })).unwrap();
    store
        .stream("pings", stream)
        .unwrap()
        .publish([event], WriteCondition::NoCondition)
        .await
        .unwrap();
}

/// One adapter writes, another (as in another process) subscribes with a poll
/// interval far longer than the test: only a notification can deliver in time.
#[tokio::test(flavor = "multi_thread")]
async fn a_commit_through_one_adapter_wakes_a_subscriber_on_another() {
    let test = common::adapter().await;
    let writer = EventStore::new(test.adapter.clone());
    let reader_adapter = PostgresAdapter::builder()
        .url(common::url_named(&test.schema))
        .schema(&test.schema)
        .build()
        .unwrap();
    let reader = EventStore::new(reader_adapter);
    publish(&writer, "before").await;

    let options = SubscriptionOptions::new().poll_interval(Duration::from_secs(3600));
    let mut subscription = reader.log().subscribe(options).unwrap();
    let first = subscription.try_next().await.unwrap();
    assert!(
        matches!(first, Some(SubscriptionMessage::Event(_))),
        "{first:?}"
    );
    let caught_up = subscription.try_next().await.unwrap();
    assert!(
        matches!(caught_up, Some(SubscriptionMessage::CaughtUp { .. })),
        "{caught_up:?}"
    );

    let waiting = tokio::spawn(async move { subscription.try_next().await });
    // Let the listener connect before the commit it must hear about.
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish(&writer, "live").await;
    let delivered = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the live event arrives without waiting for a poll")
        .unwrap()
        .unwrap();
    match delivered {
        Some(SubscriptionMessage::Event(event)) => assert_eq!(event.stream.stream.as_str(), "live"),
        other => panic!("expected the live event, got {other:?}"),
    }
}

/// An adapter built on a caller's pool, without a notifications URL, has no
/// wake-ups: its subscriptions poll.
#[tokio::test]
async fn an_adapter_on_a_pool_without_a_url_polls() {
    use eventblocks_core::StorageAdapter;
    let test = common::adapter().await;
    let pooled = PostgresAdapter::from_pool(test.adapter.pool().clone());
    assert!(pooled.wake_ups().is_none());
    let with_url = PostgresAdapter::builder()
        .pool(test.adapter.pool().clone())
        .notifications_url(common::url_named(&test.schema))
        .build()
        .unwrap();
    assert!(with_url.wake_ups().is_some());
}
