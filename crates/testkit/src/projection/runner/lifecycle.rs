//! What a caller sees of a runner: its status, a shutdown that finishes the
//! event in hand, waiters told at once when it stopped, and events outside
//! its source counted as passed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventblocks_core::{Error, EventStore, NewEvent, WriteCondition};
use eventblocks_projection::{ErrorPolicy, RunnerStatus};

use super::gate::{wait_for, Gate};
use super::{publish, publish_to, read_model, runner, stream, RunnerFixture, Tally};

/// How long a waiter that should fail at once is given: far less than its
/// own timeout, so a waiter that sat out its timeout fails the case.
const AT_ONCE: Duration = Duration::from_secs(5);

/// A wait that must not end by timing out.
const LONG_WAIT: Duration = Duration::from_secs(60);

/// Publishes one event named `name` to `stream` of `category`; its sequence
/// number.
async fn publish_named(events: &EventStore, category: &str, stream: &str, name: &str) -> u64 {
    let event = NewEvent::new(name, &serde_json::json!({})).unwrap_or_else(|e| panic!("{e}"));
    let stored = events
        .stream(category, stream)
        .unwrap_or_else(|e| panic!("{e}"))
        .publish([event], WriteCondition::NoCondition)
        .await
        .unwrap_or_else(|e| panic!("publishing: {e}"));
    stored[0].sequence_number
}

/// `shutdown` lets the handler finish the event in hand (it is applied and
/// checkpointed), reads no further event, and returns once the runner has
/// stopped; the runner's `run` returns `Ok`, its status says it was shut
/// down, a later run returns at once, and waiters fail at once.
pub async fn a_shutdown_finishes_the_event_in_hand(fixture: RunnerFixture) {
    let held = stream("held");
    let gate = Gate::closed(move |event| event.stream == held);
    let _unblock = gate.opened_on_drop();
    let runner = Arc::new(runner(&fixture, Tally::gated(&[&gate])));
    assert!(
        matches!(runner.status(), RunnerStatus::Idle),
        "{}",
        runner.status()
    );
    let running = tokio::spawn({
        let runner = runner.clone();
        async move { runner.run().await }
    });
    let mut expected = HashMap::new();
    let in_hand = publish_to(&fixture.events, &["held".to_owned()], &mut expected).await;
    let later = publish(&fixture.events, 1, 1, &mut HashMap::new()).await;
    gate.until_held(Duration::from_secs(20)).await;
    assert!(runner.status().is_running(), "{}", runner.status());

    let shutting_down = tokio::spawn({
        let runner = runner.clone();
        async move { runner.shutdown().await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !shutting_down.is_finished(),
        "shutdown returned while the handler still held an event"
    );
    gate.open();
    tokio::time::timeout(Duration::from_secs(20), shutting_down)
        .await
        .expect("shutdown returned once the event in hand was done")
        .unwrap_or_else(|e| panic!("{e}"));
    let ran = running.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(ran.is_ok(), "a shut down run ends well: {ran:?}");
    assert!(
        matches!(runner.status(), RunnerStatus::ShutDown),
        "{}",
        runner.status()
    );
    assert_eq!(
        read_model(&fixture.projections).await,
        expected,
        "the event in hand, {}, and nothing after it, was applied",
        in_hand[0].sequence_number
    );

    let again = tokio::time::timeout(AT_ONCE, runner.run()).await;
    assert!(
        matches!(again, Ok(Ok(()))),
        "a shut down runner stays down: {again:?}"
    );
    let started = Instant::now();
    let waited = runner.wait_until(later, LONG_WAIT).await;
    assert!(
        matches!(waited, Err(Error::Stopped { source: None, .. })),
        "{waited:?}"
    );
    assert!(
        started.elapsed() < AT_ONCE,
        "waited {:?}",
        started.elapsed()
    );
}

/// A runner stopped by an event it cannot apply says so: its status holds the
/// error, `run` returns it (as the source of `Error::Stopped`), and a waiter
/// already waiting and one arriving later are told at once, with the same
/// error, instead of sitting out their timeouts.
pub async fn a_stopped_runner_fails_its_waiters_at_once(fixture: RunnerFixture) {
    let runner = Arc::new(runner(&fixture, Tally::default()).on_error(ErrorPolicy::Stop));
    let running = tokio::spawn({
        let runner = runner.clone();
        async move { runner.run().await }
    });
    let first = publish(&fixture.events, 1, 1, &mut HashMap::new()).await;
    runner
        .wait_until(first, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    wait_for(Duration::from_secs(20), "the runner to catch up", || {
        matches!(runner.status(), RunnerStatus::CaughtUp { applied: Some(applied) } if applied >= first)
    })
    .await;

    let waiting = tokio::spawn({
        let runner = runner.clone();
        async move {
            let started = Instant::now();
            // Far beyond any event of the case: only the stop can end it.
            let beyond = first + (1 << 40);
            (runner.wait_until(beyond, LONG_WAIT).await, started)
        }
    });
    // Tally has no handler for this name, and fails on it.
    let poison = publish_named(&fixture.events, super::CATEGORY, "s0", "poisoned").await;
    let ran = tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the runner stopped")
        .unwrap_or_else(|e| panic!("{e}"));
    let stopped_at = Instant::now();
    let no_handler = |error: &Error| matches!(error.stop_cause(), Some(Error::NoHandler { sequence_number, .. }) if *sequence_number == poison);
    assert!(
        ran.as_ref().is_err_and(no_handler),
        "run returns what stopped it: {ran:?}"
    );
    match runner.status() {
        RunnerStatus::Failed(error) => {
            assert!(matches!(*error, Error::NoHandler { .. }), "{error}")
        }
        other => panic!("the status should hold the error: {other}"),
    }

    let (waited, _) = tokio::time::timeout(AT_ONCE, waiting)
        .await
        .expect("the waiter was told at once")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        waited.as_ref().is_err_and(no_handler),
        "a waiter is told why: {waited:?}"
    );
    let told_after = stopped_at.elapsed();
    let started = Instant::now();
    let late = runner.wait_until(poison, LONG_WAIT).await;
    assert!(late.as_ref().is_err_and(no_handler), "{late:?}");
    assert!(
        started.elapsed() < AT_ONCE && told_after < AT_ONCE,
        "waiters took {:?} and {told_after:?}",
        started.elapsed()
    );
    // What it had applied before it stopped, a waiter still gets.
    runner
        .wait_until(first, Duration::from_secs(1))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// `wait_until` counts an event outside the runner's source (another
/// category) as passed once the source events before it are applied: for
/// the running instance and for one that only reads the checkpoints.
pub async fn events_outside_the_source_count_as_passed(fixture: RunnerFixture) {
    let runner = Arc::new(runner(&fixture, Tally::default()));
    let running = tokio::spawn({
        let runner = runner.clone();
        async move { runner.run().await }
    });
    let mut expected = HashMap::new();
    publish(&fixture.events, 2, 4, &mut expected).await;
    let outside = publish_named(&fixture.events, "elsewhere", "x", "noted").await;
    runner
        .wait_until(outside, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("an event outside the source was never passed: {e}"));
    assert_eq!(
        read_model(&fixture.projections).await,
        expected,
        "the source events before it are applied"
    );
    let observer = super::runner(&fixture, Tally::default());
    observer
        .wait_until(outside, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("the checkpoints pass it too: {e}"));
    let beyond = observer.wait_until(outside + 1_000_000, Duration::from_millis(300));
    assert!(
        beyond.await.is_err_and(|e| e.is_timeout()),
        "a number nobody reached is waited for"
    );
    running.abort();
}
