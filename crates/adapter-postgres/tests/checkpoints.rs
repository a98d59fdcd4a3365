//! Checkpoints and exactly-once effects on PostgreSQL.

mod common;

use eventblocks_core::{
    CheckpointStore, EventSourceIdentifier, EventStore, Name, NewEvent, ScanQuery, StoredEvent,
    StreamIdentifier, WriteCondition,
};
use eventblocks_postgres::{PostgresCheckpointStore, PostgresProjectionStore};
use eventblocks_projection::{Projection, ProjectionStore};
use futures::TryStreamExt;
use rand::Rng;
use serde_json::{json, Value};

fn consumer(name: &str) -> Name {
    Name::new("consumer", name).unwrap()
}

#[tokio::test]
async fn checkpoints_only_move_forwards() {
    let test = common::adapter().await;
    let checkpoints = PostgresCheckpointStore::new(&test.adapter);
    let emails = consumer("emails");
    assert_eq!(checkpoints.load(&emails).await.unwrap(), None);
    assert!(checkpoints.advance(&emails, 5, None).await.unwrap());
    assert!(!checkpoints.advance(&emails, 5, None).await.unwrap());
    assert!(!checkpoints.advance(&emails, 3, None).await.unwrap());
    assert!(checkpoints.advance(&emails, 9, None).await.unwrap());
    assert_eq!(checkpoints.load(&emails).await.unwrap(), Some(9));
    assert_eq!(checkpoints.load(&consumer("other")).await.unwrap(), None);
}

/// The read model: how many events each stream has, kept as projections.
fn count_projection(event: &StoredEvent, count: u64) -> Projection<Value, Value> {
    Projection {
        id: event.stream.stream.to_string(),
        name: "counts".to_owned(),
        source: EventSourceIdentifier::Stream(event.stream.clone()),
        state: json!({ "count": count }),
        metadata: json!({ "last_sequence_number": event.sequence_number }),
    }
}

async fn publish_events(store: &EventStore, count: usize) -> Vec<StoredEvent> {
    let mut stored = Vec::new();
    for index in 0..count {
        let stream = StreamIdentifier::new("things", format!("thing-{}", index % 5)).unwrap();
        let event = NewEvent::new("happened", &json!({ "index": index })).unwrap();
        stored.extend(
            store
                .stream_of(stream)
                .publish([event], WriteCondition::NoCondition)
                .await
                .unwrap(),
        );
    }
    stored
}

/// What failure, if any, to inject while processing one event.
#[derive(Clone, Copy, PartialEq)]
enum Crash {
    None,
    /// After the effect, before the commit (the unit is dropped).
    BeforeCommit,
    /// After the commit, before the consumer records it anywhere else.
    AfterCommit,
}

/// Runs the consumer from its checkpoint until it has processed every event
/// or crashes; whether it finished.
async fn consume(
    store: &EventStore,
    checkpoints: &PostgresCheckpointStore,
    projections: &ProjectionStore,
    name: &Name,
    crash: &mut impl FnMut() -> Crash,
) -> bool {
    let after = checkpoints.load(name).await.unwrap();
    let mut query = ScanQuery::new();
    if let Some(after) = after {
        query = query.after(after);
    }
    let events: Vec<StoredEvent> = store.log().scan(query).try_collect().await.unwrap();
    for event in events {
        let Some(unit) = checkpoints
            .begin(name, event.sequence_number)
            .await
            .unwrap()
        else {
            continue;
        };
        let current: Option<Projection<Value, Value>> = projections
            .load_stored("counts", event.stream.stream.as_str())
            .await
            .unwrap();
        let count = current.map_or(0, |p| p.state["count"].as_u64().unwrap());
        unit.save_projection(&count_projection(&event, count + 1))
            .await
            .unwrap();
        match crash() {
            Crash::BeforeCommit => {
                drop(unit);
                return false;
            }
            Crash::AfterCommit => {
                unit.commit().await.unwrap();
                return false;
            }
            Crash::None => unit.commit().await.unwrap(),
        }
    }
    true
}

async fn read_model(projections: &ProjectionStore) -> Vec<(String, Value)> {
    let search = eventblocks_projection::query::Search::new().limit(100);
    let page = projections.search_stored(&search).await.unwrap();
    page.projections
        .into_iter()
        .map(|p| (format!("{}/{}", p.name, p.id), p.state))
        .collect()
}

/// A consumer crashed at random points, effect-before-commit included, and
/// restarted from its checkpoint builds the same read model as one that never
/// crashed.
#[tokio::test(flavor = "multi_thread")]
async fn a_crashing_consumer_builds_the_same_read_model_as_an_uninterrupted_one() {
    let steady = common::adapter().await;
    let crashing = common::adapter().await;
    let mut models = Vec::new();
    for (test, crash_rate) in [(&steady, 0.0), (&crashing, 0.3)] {
        let store = EventStore::new(test.adapter.clone());
        publish_events(&store, 40).await;
        let checkpoints = PostgresCheckpointStore::new(&test.adapter);
        let projections = ProjectionStore::new(PostgresProjectionStore::new(&test.adapter));
        let name = consumer("counter");
        let mut rng = rand::rng();
        let mut crashes = 0;
        let mut crash = || {
            if rng.random_bool(crash_rate) {
                crashes += 1;
                if rng.random_bool(0.5) {
                    Crash::BeforeCommit
                } else {
                    Crash::AfterCommit
                }
            } else {
                Crash::None
            }
        };
        let mut restarts = 0;
        while !consume(&store, &checkpoints, &projections, &name, &mut crash).await {
            restarts += 1;
            assert!(restarts < 1000, "the consumer never finished");
        }
        if crash_rate > 0.0 {
            assert!(restarts > 0, "the crashing consumer crashed at least once");
        }
        models.push(read_model(&projections).await);
    }
    assert_eq!(models[0].len(), 5);
    assert_eq!(models[0], models[1], "crashes changed the read model");
}

/// Opens a unit for `event` and saves its projection in it.
async fn begin_and_save(
    checkpoints: &PostgresCheckpointStore,
    name: &Name,
    event: &StoredEvent,
) -> eventblocks_postgres::ExactlyOnce {
    let unit = checkpoints
        .begin(name, event.sequence_number)
        .await
        .unwrap()
        .expect("not yet processed");
    unit.save_projection(&count_projection(event, 1))
        .await
        .unwrap();
    unit
}

/// A redelivered event is recognised, and an abandoned unit leaves nothing.
#[tokio::test]
async fn a_processed_event_is_skipped_and_an_abandoned_unit_leaves_nothing() {
    let test = common::adapter().await;
    let store = EventStore::new(test.adapter.clone());
    let events = publish_events(&store, 2).await;
    let checkpoints = PostgresCheckpointStore::new(&test.adapter);
    let projections = ProjectionStore::new(PostgresProjectionStore::new(&test.adapter));
    let name = consumer("once");

    let unit = begin_and_save(&checkpoints, &name, &events[0]).await;
    drop(unit);
    assert!(
        read_model(&projections).await.is_empty(),
        "an abandoned effect is rolled back"
    );
    assert_eq!(checkpoints.load(&name).await.unwrap(), None);

    let unit = begin_and_save(&checkpoints, &name, &events[0]).await;
    unit.commit().await.unwrap();
    assert_eq!(
        checkpoints.load(&name).await.unwrap(),
        Some(events[0].sequence_number)
    );
    assert!(
        checkpoints
            .begin(&name, events[0].sequence_number)
            .await
            .unwrap()
            .is_none(),
        "a redelivered event is recognised"
    );
    assert!(checkpoints
        .begin(&name, events[1].sequence_number)
        .await
        .unwrap()
        .is_some());
}
