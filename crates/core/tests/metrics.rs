//! What eventblocks records through the `metrics` facade, read back with
//! `metrics-util`'s debugging recorder: a publish, an unmet condition, scan
//! rows and a subscription's lag.
//!
//! Each test installs its own recorder for its thread only and runs on a
//! runtime on that thread, so tests in one process do not see each other's
//! figures. (Reading a snapshot resets what it read.)

use std::future::Future;

use eventblocks_core::metrics::{
    EVENTS_WRITTEN, SAVES, SAVE_DURATION, SCAN_ROWS, SUBSCRIPTION_LAG_EVENTS,
    SUBSCRIPTION_LAG_SECONDS,
};
use eventblocks_core::{
    EventStore, NewEvent, ScanQuery, SubscriptionMessage, SubscriptionOptions, WriteCondition,
};
use eventblocks_memory::MemoryAdapter;
use futures::{StreamExt, TryStreamExt};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::CompositeKey;
use serde_json::json;

/// Runs `body` with a recorder of its own, handing it the recorder's snapshotter.
fn recorded<F: Future<Output = ()>>(body: impl FnOnce(Snapshotter) -> F) {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || runtime.block_on(body(snapshotter)));
}

/// What was recorded since the last look (a look resets what it read).
fn look(snapshotter: &Snapshotter) -> Vec<(CompositeKey, DebugValue)> {
    let snapshot = snapshotter.snapshot().into_vec();
    snapshot
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect()
}

/// What the series `name` whose labels include every one of `labels`
/// recorded in `seen`: counters' increments, gauges' values, the number of
/// values histograms took.
fn value(seen: &[(CompositeKey, DebugValue)], name: &str, labels: &[(&str, &str)]) -> f64 {
    seen.iter()
        .filter(|(key, ..)| key.key().name() == name)
        .filter(|(key, ..)| {
            labels.iter().all(|(label, wanted)| {
                key.key()
                    .labels()
                    .any(|l| l.key() == *label && l.value() == *wanted)
            })
        })
        .map(|(_, value)| match value {
            DebugValue::Counter(count) => *count as f64,
            DebugValue::Gauge(gauge) => gauge.into_inner(),
            DebugValue::Histogram(values) => values.len() as f64,
        })
        .sum()
}

fn event(name: &str) -> NewEvent {
    NewEvent::new(name, &json!({"n": 1})).unwrap()
}

#[test]
fn a_publish_and_an_unmet_condition_are_counted_by_outcome() {
    recorded(|metrics| async move {
        let store = EventStore::new(MemoryAdapter::new());
        let stream = store.stream("metrics-saves", "s1").unwrap();

        stream
            .publish([event("a"), event("b")], WriteCondition::StreamIsEmpty)
            .await
            .unwrap();
        let refused = stream
            .publish([event("c")], WriteCondition::StreamIsEmpty)
            .await
            .unwrap_err();
        assert!(refused.is_unmet_condition());

        let seen = look(&metrics);
        let snapshot = |name, labels| value(&seen, name, labels);
        assert_eq!(snapshot(SAVES, &[("outcome", "ok")]), 1.0);
        assert_eq!(snapshot(SAVES, &[("outcome", "unmet_condition")]), 1.0);
        assert_eq!(snapshot(EVENTS_WRITTEN, &[]), 2.0);
        assert_eq!(
            snapshot(SAVE_DURATION, &[]),
            2.0,
            "a latency sample per publish"
        );
    });
}

#[test]
fn scans_count_the_rows_they_read() {
    recorded(|metrics| async move {
        let store = EventStore::new(MemoryAdapter::new());
        let stream = store.stream("metrics-scans", "s1").unwrap();
        stream
            .publish(
                [event("a"), event("b"), event("c")],
                WriteCondition::NoCondition,
            )
            .await
            .unwrap();
        let read: Vec<_> = stream.scan(ScanQuery::new()).try_collect().await.unwrap();
        assert_eq!(read.len(), 3);
        assert_eq!(
            value(&look(&metrics), SCAN_ROWS, &[("source", "stream")]),
            3.0
        );
    });
}

#[test]
fn a_subscription_reports_its_lag_and_zero_once_caught_up() {
    recorded(|metrics| async move {
        let store = EventStore::new(MemoryAdapter::new());
        let category = store.category("metrics-lag").unwrap();
        for id in ["a", "b", "c", "d"] {
            let stream = store.stream("metrics-lag", id).unwrap();
            stream
                .publish([event("x")], WriteCondition::NoCondition)
                .await
                .unwrap();
        }
        let source = [("source", "category:metrics-lag")];
        let mut subscription = category.subscribe(SubscriptionOptions::new()).unwrap();

        let first = subscription.next().await.unwrap().unwrap();
        assert!(matches!(first, SubscriptionMessage::Event(_)));
        assert_eq!(
            value(&look(&metrics), SUBSCRIPTION_LAG_EVENTS, &source),
            3.0,
            "three events read and not yet handed over"
        );

        for _ in 0..3 {
            subscription.next().await.unwrap().unwrap();
        }
        let caught_up = subscription.next().await.unwrap().unwrap();
        assert!(matches!(caught_up, SubscriptionMessage::CaughtUp { .. }));
        assert_eq!(
            value(&look(&metrics), SUBSCRIPTION_LAG_EVENTS, &source),
            0.0
        );
        assert_eq!(
            value(&look(&metrics), SUBSCRIPTION_LAG_SECONDS, &source),
            0.0
        );
    });
}
