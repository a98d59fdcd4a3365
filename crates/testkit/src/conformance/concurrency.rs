//! Many writers and readers at once.

use std::collections::HashSet;

use eventblocks_core::{retry_on_unmet_condition, Error, EventStore, WriteCondition};

use super::support::{log, stream};
use crate::builders::events;
use crate::load::{run_load, LoadConfig};

/// Of many writers racing to create the same stream, exactly one wins; the
/// others see an unmet condition.
pub async fn one_of_many_conditional_writers_wins(store: EventStore) {
    let handle = stream(&store, "race", "s");
    let racers: Vec<_> = (0..16)
        .map(|_| {
            let handle = handle.clone();
            tokio::spawn(async move {
                handle
                    .publish(events("created", 2), WriteCondition::StreamIsEmpty)
                    .await
            })
        })
        .collect();
    let mut winners = 0;
    for racer in racers {
        match racer.await.expect("the task finished") {
            Ok(_) => winners += 1,
            Err(Error::UnmetCondition { found, .. }) => assert_eq!(found, Some(1)),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(handle.read().await.expect("read").len(), 2);
}

/// N writers × M conditional appends to one stream, each retried on an unmet
/// condition, fill positions 0..N·M exactly once.
pub async fn retrying_writers_fill_every_position_once(store: EventStore) {
    const WRITERS: usize = 8;
    const APPENDS: usize = 10;
    let handle = stream(&store, "race", "counter");
    let writers: Vec<_> = (0..WRITERS)
        .map(|_| {
            let handle = handle.clone();
            tokio::spawn(async move {
                for _ in 0..APPENDS {
                    retry_on_unmet_condition(1000, || async {
                        let last = handle.latest().await?.map(|event| event.position);
                        handle
                            .publish(events("incremented", 1), WriteCondition::PositionIs(last))
                            .await
                    })
                    .await
                    .expect("the append succeeds within the retries");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("the writer finished");
    }
    let stored = handle.read().await.expect("read");
    let positions: Vec<u64> = stored.iter().map(|e| e.position).collect();
    let expected: Vec<u64> = (0..(WRITERS * APPENDS) as u64).collect();
    assert_eq!(positions, expected);
    let ids: HashSet<_> = stored.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), WRITERS * APPENDS, "no event stored twice");
}

/// Writers on different streams at once: every event stored once, each stream
/// gapless, the log in increasing sequence order.
pub async fn concurrent_writers_lose_nothing(store: EventStore) {
    const WRITERS: usize = 16;
    const BATCHES: usize = 10;
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let handle = stream(
                &store,
                if writer % 2 == 0 { "even" } else { "odd" },
                &format!("w{writer}"),
            );
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for batch in 0..BATCHES {
                    let stored = handle
                        .publish(
                            events("written", 1 + batch % 3),
                            WriteCondition::NoCondition,
                        )
                        .await
                        .expect("publish");
                    ids.extend(stored.iter().map(|e| e.id));
                }
                ids
            })
        })
        .collect();
    let mut published = HashSet::new();
    for writer in writers {
        published.extend(writer.await.expect("the writer finished"));
    }
    let stored = log(&store).await;
    let logged: HashSet<_> = stored.iter().map(|e| e.id).collect();
    assert_eq!(stored.len(), logged.len(), "no event appears twice");
    assert_eq!(
        logged, published,
        "every acknowledged event is in the log, nothing else"
    );
    assert!(stored
        .windows(2)
        .all(|w| w[0].sequence_number < w[1].sequence_number));
    for writer in 0..WRITERS {
        let positions: Vec<u64> = stored
            .iter()
            .filter(|e| e.stream.stream.as_str() == format!("w{writer}"))
            .map(|e| e.position)
            .collect();
        let expected: Vec<u64> = (0..positions.len() as u64).collect();
        assert_eq!(positions, expected, "stream w{writer} is gapless");
    }
}

/// The ordering checker: concurrent conditional writers with retries and
/// tailing readers that resume from checkpoints; every reader sees every
/// committed event exactly once, in order.
pub async fn tailing_readers_see_every_event_in_order(store: EventStore) {
    let config = LoadConfig::standard("ordering").with_writers(16, 40);
    match run_load(&store, &config).await {
        Ok(report) => assert!(report.events > 0 && report.deliveries > 0, "{report:?}"),
        Err(violations) => panic!(
            "{} ordering violations, the first: {}",
            violations.len(),
            violations
                .iter()
                .take(5)
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}
