//! Saves of many streams at once: any size the API accepts succeeds, and racing
//! narrow saves on the same streams still keep every condition.

use eventblocks_core::{
    CategoryHandle, Error, EventStore, Result, StoredEvent, StreamIdentifier, StreamWrite,
    WriteCondition, MAX_EVENTS_PER_SAVE,
};

use super::support::log;
use crate::builders::events;

/// The streams of each race: more than a backend may lock in one save.
const STREAMS: usize = 64;

fn category(store: &EventStore, name: &str) -> CategoryHandle {
    store
        .category(name)
        .unwrap_or_else(|error| panic!("{name} is a valid category: {error}"))
}

fn stream_id(category: &str, index: usize) -> StreamIdentifier {
    StreamIdentifier::new(category, format!("s{index}").as_str())
        .unwrap_or_else(|error| panic!("a valid stream: {error}"))
}

/// One write of one event to each of `streams` streams of `category`.
fn writes(
    category: &str,
    streams: std::ops::Range<usize>,
    condition: &WriteCondition,
) -> Vec<StreamWrite> {
    streams
        .map(|index| {
            StreamWrite::new(
                stream_id(category, index),
                events("opened", 1),
                condition.clone(),
            )
        })
        .collect()
}

/// A save of 20,000 streams succeeds, and so do two concurrent saves of 8,000
/// streams each: no size the API accepts may exhaust a resource of the backend
/// (PostgreSQL's shared lock table holds 64 locks per allowed connection, for
/// the whole server: 6,400 with the default 100 connections).
pub async fn saves_of_thousands_of_streams_succeed(store: EventStore) {
    let wide = category(&store, "wide");
    let stored = wide
        .publish(writes(
            "wide",
            0..MAX_EVENTS_PER_SAVE,
            &WriteCondition::StreamIsEmpty,
        ))
        .await
        .unwrap_or_else(|error| panic!("a save of {MAX_EVENTS_PER_SAVE} streams failed: {error}"));
    assert_eq!(stored.len(), MAX_EVENTS_PER_SAVE);
    let racers: Vec<_> = [0..20_000, 20_000..40_000]
        .into_iter()
        .map(|streams| {
            let handle = category(&store, "wider");
            tokio::spawn(async move {
                handle
                    .publish(writes("wider", streams, &WriteCondition::StreamIsEmpty))
                    .await
            })
        })
        .collect();
    for racer in racers {
        let saved = racer.await.expect("the task finished");
        let saved =
            saved.unwrap_or_else(|error| panic!("a save of 20,000 streams failed: {error}"));
        assert_eq!(saved.len(), 20_000);
    }
    assert_eq!(log(&store).await.len(), MAX_EVENTS_PER_SAVE + 40_000);
}

/// A save of more events than [`MAX_EVENTS_PER_SAVE`] is refused before any
/// storage is touched, on every adapter alike.
pub async fn a_save_beyond_the_event_limit_is_refused(store: EventStore) {
    let handle = category(&store, "limits")
        .stream("s")
        .unwrap_or_else(|error| panic!("a valid stream: {error}"));
    let error = handle
        .publish(
            events("tick", MAX_EVENTS_PER_SAVE + 1),
            WriteCondition::NoCondition,
        )
        .await
        .expect_err("too many events for one save");
    assert!(error.is_invalid_input(), "{error}");
    assert!(log(&store).await.is_empty(), "nothing was written");
}

/// A save of 64 streams races 64 saves of one stream each, all on the
/// condition that their streams are empty: either the wide save wins every
/// stream and every narrow one sees an unmet condition, or the wide one fails
/// and writes nothing. Without conditions, everything is stored once.
pub async fn wide_and_narrow_saves_race_without_breaking_conditions(store: EventStore) {
    for round in 0..5 {
        let name = format!("race{round}");
        let (wide, narrow) = race(&store, &name, STREAMS, &WriteCondition::StreamIsEmpty).await;
        let narrow_wins = narrow.iter().filter(|result| result.is_ok()).count();
        match wide {
            Ok(_) => assert_eq!(
                narrow_wins, 0,
                "a narrow save won a stream the wide one wrote"
            ),
            Err(Error::UnmetCondition { .. }) => {
                assert!(narrow_wins > 0, "the wide save lost to nobody");
            }
            Err(other) => panic!("unexpected error from the wide save: {other}"),
        }
        for result in &narrow {
            if let Err(error) = result {
                assert!(error.is_unmet_condition(), "unexpected error: {error}");
            }
        }
        let stored = category_events(&store, &name).await;
        assert_eq!(stored.len(), STREAMS, "one event per stream, never two");
        assert!(stored.iter().all(|event| event.position == 0));
    }
    let name = "unconditional";
    let (wide, narrow) = race(&store, name, STREAMS, &WriteCondition::NoCondition).await;
    let written = usize::from(wide.is_ok()) * STREAMS + narrow.iter().filter(|r| r.is_ok()).count();
    if let Err(error) = &wide {
        assert!(error.is_retryable(), "only a retryable conflict: {error}");
    }
    let stored = category_events(&store, name).await;
    assert_eq!(
        stored.len(),
        written,
        "every acknowledged event stored once"
    );
    for index in 0..STREAMS {
        let stream = stream_id(name, index);
        let positions: Vec<u64> = stored
            .iter()
            .filter(|event| event.stream == stream)
            .map(|event| event.position)
            .collect();
        let expected: Vec<u64> = (0..positions.len() as u64).collect();
        assert_eq!(positions, expected, "{stream} is gapless");
    }
}

/// Runs one save of `streams` streams against one save per stream, at once.
async fn race(
    store: &EventStore,
    name: &str,
    streams: usize,
    condition: &WriteCondition,
) -> (Result<Vec<StoredEvent>>, Vec<Result<Vec<StoredEvent>>>) {
    let handle = category(store, name);
    let all = writes(name, 0..streams, condition);
    let wide = tokio::spawn(async move { handle.publish(all).await });
    let narrow: Vec<_> = (0..streams)
        .map(|index| {
            let handle = category(store, name);
            let write = writes(name, index..index + 1, condition);
            tokio::spawn(async move { handle.publish(write).await })
        })
        .collect();
    let wide = wide.await.expect("the task finished");
    let mut results = Vec::with_capacity(streams);
    for task in narrow {
        results.push(task.await.expect("the task finished"));
    }
    (wide, results)
}

/// Every event of the race's streams, read stream by stream: unlike a log
/// scan, a stream read sees every save that returned.
async fn category_events(store: &EventStore, name: &str) -> Vec<StoredEvent> {
    let mut stored = Vec::new();
    for index in 0..STREAMS {
        let events = store
            .stream_of(stream_id(name, index))
            .read()
            .await
            .unwrap_or_else(|error| panic!("reading a stream failed: {error}"));
        stored.extend(events);
    }
    stored
}

/// Two saves of the same 40 new streams, listed in opposite orders, both
/// succeed: concurrent saves cannot deadlock, whatever order their streams are
/// given in.
pub async fn wide_saves_in_opposite_orders_do_not_deadlock(store: EventStore) {
    for round in 0..5 {
        let name = format!("opposite{round}");
        let forwards = writes(&name, 0..40, &WriteCondition::NoCondition);
        let mut backwards = writes(&name, 0..40, &WriteCondition::NoCondition);
        backwards.reverse();
        let racers: Vec<_> = [forwards, backwards]
            .into_iter()
            .map(|writes| {
                let handle = category(&store, &name);
                tokio::spawn(async move { handle.publish(writes).await })
            })
            .collect();
        for racer in racers {
            let saved = racer.await.expect("the task finished");
            saved.unwrap_or_else(|error| panic!("a save failed: {error}"));
        }
    }
}

/// A save of 2,000 streams, one of which three writers keep appending to,
/// succeeds every time: a busy stream cannot starve a wide save.
pub async fn a_wide_save_is_not_starved_by_a_busy_stream(store: EventStore) {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let hot = stream_id("starve", 0);
    let writers: Vec<_> = (0..3)
        .map(|_| {
            let handle = store.stream_of(hot.clone());
            let done = std::sync::Arc::clone(&done);
            tokio::spawn(async move {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    handle
                        .publish(events("busy", 1), WriteCondition::NoCondition)
                        .await
                        .unwrap_or_else(|error| panic!("a busy writer failed: {error}"));
                }
            })
        })
        .collect();
    let wide = category(&store, "starve");
    for _ in 0..10 {
        wide.publish(writes("starve", 0..2_000, &WriteCondition::NoCondition))
            .await
            .unwrap_or_else(|error| panic!("a wide save beside a busy stream failed: {error}"));
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.expect("the writer finished");
    }
}
