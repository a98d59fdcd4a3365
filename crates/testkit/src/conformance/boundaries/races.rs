//! Races on consistency boundaries: the shapes other stores shipped as bugs
//! (several winners of a check-then-insert, a head read apart from its
//! events, an event committed below the head and missed), and disjoint
//! boundaries that must never conflict.

use std::sync::Arc;

use eventblocks_core::{Error, EventStore, Query, QueryOptions, WriteCondition};
use serde_json::json;
use tokio::sync::Barrier;

use super::{offers_boundaries, put, read, tag_query, tagged};
use crate::builders::event;
use crate::conformance::support::{log, stream};

/// Racers per round, and rounds, of the same-boundary races.
const RACERS: usize = 8;
const ROUNDS: usize = 4;

/// Runs `racer(index)` on `count` tasks at once and returns their results.
async fn race<T, F, Fut>(count: usize, racer: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let tasks: Vec<_> = (0..count).map(|index| tokio::spawn(racer(index))).collect();
    let mut results = Vec::with_capacity(count);
    for task in tasks {
        results.push(task.await.expect("a racer panicked"));
    }
    results
}

/// Racers that all read the same boundary, then all publish on the head they
/// read: in each round exactly one wins and every other is told the boundary
/// moved.
pub async fn racers_on_one_boundary_win_one_at_a_time(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    for round in 0..ROUNDS {
        let boundary = tag_query(&format!("course:r{round}"));
        let barrier = Arc::new(Barrier::new(RACERS));
        let results = race(RACERS, |racer| {
            let (store, boundary, barrier) = (store.clone(), boundary.clone(), barrier.clone());
            async move {
                let (head, seen) = read(&store, &boundary, QueryOptions::new()).await;
                assert!(seen.is_empty(), "a fresh boundary");
                // Every racer holds its head before any publishes.
                barrier.wait().await;
                let seat = tagged("seat-taken", &[&format!("course:r{round}")]);
                store
                    .stream("racers", &format!("r{round}-{racer}"))
                    .expect("stream")
                    .publish([seat], WriteCondition::NoneMatchAfter(boundary, head))
                    .await
            }
        })
        .await;
        let winners = results.iter().filter(|result| result.is_ok()).count();
        let moved = results
            .iter()
            .filter(|result| matches!(result, Err(Error::BoundaryMoved { .. })))
            .count();
        assert_eq!(
            (winners, moved),
            (1, RACERS - 1),
            "round {round}: one winner, the rest moved: {results:?}"
        );
    }
    assert_eq!(log(&store).await.len(), ROUNDS);
}

/// Racers each deciding on a boundary of its own (read, then publish on the
/// head), many times over, beside unconditional writers of other tags:
/// none of them is ever refused, since no two boundaries overlap (the
/// DCB benchmark's "0 % errors for unrelated appends").
pub async fn racers_on_disjoint_boundaries_never_conflict(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    const DISJOINT: usize = 12;
    const DECISIONS: usize = 8;
    let results = race(DISJOINT + 2, |racer| {
        let store = store.clone();
        async move {
            let mut refused = Vec::new();
            for decision in 0..DECISIONS {
                if racer >= DISJOINT {
                    // A bystander: writes tagged events no racer reads.
                    let noise = tagged("noted", &[&format!("noise:{racer}"), "noise"]);
                    put(&store, "noise", &format!("n{racer}"), [noise]).await;
                    continue;
                }
                let boundary = tag_query(&format!("account:{racer}"));
                let (head, seen) = read(&store, &boundary, QueryOptions::new()).await;
                assert_eq!(seen.len(), decision, "racer {racer} sees its own decisions");
                let result = store
                    .stream("accounts", &format!("a{racer}"))
                    .expect("stream")
                    .publish(
                        [tagged("decided", &[&format!("account:{racer}")])],
                        WriteCondition::NoneMatchAfter(boundary, head),
                    )
                    .await;
                if let Err(error) = result {
                    refused.push(error.to_string());
                }
            }
            refused
        }
    })
    .await;
    let refused: Vec<String> = results.into_iter().flatten().collect();
    assert!(
        refused.is_empty(),
        "{} of {} decisions on disjoint boundaries were refused: {refused:?}",
        refused.len(),
        DISJOINT * DECISIONS
    );
    assert_eq!(log(&store).await.len(), (DISJOINT + 2) * DECISIONS);
}

/// Check-then-insert racers, in each round all registering the same
/// username: with a `NoneMatch` guard, or by reading and then publishing on
/// the head, exactly one registers it; the guard's losers are told it is
/// taken.
pub async fn check_then_insert_racers_have_one_winner(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    for round in 0..ROUNDS {
        let guarded = round % 2 == 0;
        let username = tag_query(&format!("username:u{round}"));
        let barrier = Arc::new(Barrier::new(RACERS));
        let results = race(RACERS, |racer| {
            let (store, username, barrier) = (store.clone(), username.clone(), barrier.clone());
            async move {
                let condition = if guarded {
                    WriteCondition::NoneMatch(username)
                } else {
                    let (head, seen) = read(&store, &username, QueryOptions::new()).await;
                    assert!(seen.is_empty(), "every racer reads before any publishes");
                    WriteCondition::NoneMatchAfter(username, head)
                };
                barrier.wait().await;
                let registered = tagged(
                    "user-registered",
                    &[&format!("username:u{round}"), &format!("user:{racer}")],
                );
                store
                    .stream("users", &format!("{round}-{racer}"))
                    .expect("stream")
                    .publish([registered], condition)
                    .await
            }
        })
        .await;
        let winners = results.iter().filter(|result| result.is_ok()).count();
        let losers_told = results.iter().all(|result| match result {
            Ok(_) => true,
            Err(Error::AlreadyMatched { .. }) => guarded,
            Err(Error::BoundaryMoved { .. }) => !guarded,
            Err(_) => false,
        });
        assert!(
            winners == 1 && losers_told,
            "round {round} (guarded: {guarded}): one winner: {results:?}"
        );
    }
    assert_eq!(log(&store).await.len(), ROUNDS);
}

/// Deciders that count a boundary's events and publish the count they saw,
/// on the head of their read, racing each other and writers that add to the
/// boundary unconditionally (so that, on a backend with concurrent
/// transactions, events commit out of order around the heads): every
/// published count equals the number of the boundary's events before it in
/// the log. A head taken apart from its events, or one that lets an event
/// committed below it go unseen, publishes a count that is too small.
pub async fn decisions_count_every_event_before_them(store: EventStore) {
    if !offers_boundaries(&store).await {
        return;
    }
    const DECIDERS: usize = 4;
    const WRITERS: usize = 2;
    const DECISIONS: usize = 6;
    let boundary = tag_query("counter:c1");
    race(DECIDERS + WRITERS, |task| {
        let (store, boundary) = (store.clone(), boundary.clone());
        async move {
            if task >= DECIDERS {
                for _ in 0..DECISIONS * 2 {
                    let bump = tagged("bumped", &["counter:c1"]);
                    put(&store, "bumps", &format!("w{task}"), [bump]).await;
                }
                return;
            }
            let mut decided = 0;
            while decided < DECISIONS {
                decided += usize::from(decide(&store, &boundary, task).await);
            }
        }
    })
    .await;
    let mut counted = 0;
    for (before, event) in (0_u64..).zip(log(&store).await) {
        if event.name.as_str() == "counted" {
            let seen: serde_json::Value = event.payload_as().expect("payload");
            assert_eq!(
                seen["seen"].as_u64(),
                Some(before),
                "event {} was decided having seen {} of the boundary's {before} earlier events",
                event.sequence_number,
                seen["seen"]
            );
            counted += 1;
        }
    }
    assert_eq!(counted, DECIDERS * DECISIONS);
}

/// One decision: counts the boundary's events and publishes the count on the
/// read's head; whether it was published (`false`: the boundary moved).
async fn decide(store: &EventStore, boundary: &Query, decider: usize) -> bool {
    let (head, seen) = read(store, boundary, QueryOptions::new()).await;
    let counted = event("counted")
        .payload(json!({ "seen": seen.len() }))
        .tags(["counter:c1"])
        .build();
    let result = stream(store, "deciders", &format!("d{decider}"))
        .publish(
            [counted],
            WriteCondition::NoneMatchAfter(boundary.clone(), head),
        )
        .await;
    match result {
        Ok(_) => true,
        Err(Error::BoundaryMoved { .. }) => false,
        Err(error) => panic!("a decision failed: {error}"),
    }
}
