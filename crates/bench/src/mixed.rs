//! The mixed scenario: writers, tailing subscriptions and a projection runner
//! on one store at the same time, as an application runs them.
//!
//! [`WRITERS`] writers publish one event per call, each to a stream of its
//! own, a fixed number of events each; [`SUBSCRIPTIONS`] subscriptions tail
//! the log; a [`ProjectionRunner`] with a counting projector follows the
//! category on the backend's own projection and checkpoint stores. Reported:
//! the write rate and call latency, the delivery latency (from just before
//! the publish to the subscription receiving the event) and the runner's lag
//! (from just before the publish to the projector applying the event; its
//! save and checkpoint follow), and how far the runner is behind when the
//! writes end.
//!
//! Each event's publish time is kept in a slot found from its stream and
//! position (both known before the publish), so neither the writers nor the
//! readers share a lock or a map while timed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventblocks_core::{
    BoxError, CategoryIdentifier, CheckpointStore, EventStore, Name, NewEvent, StoredEvent,
    SubscriptionMessage, SubscriptionOptions, SubscriptionStream, WriteCondition,
};
use eventblocks_projection::{Handled, ProjectionRunner, ProjectionStore, Projector, RunnerStatus};
use futures::TryStreamExt;

use crate::report::{Latency, Row, Stats};
use crate::scenarios::nanos;
use crate::subject::{payload, BenchResult};

/// Concurrent writers.
pub(crate) const WRITERS: usize = 16;
/// Subscriptions tailing the log.
pub(crate) const SUBSCRIPTIONS: usize = 4;
/// The category the writers write and the runner follows.
const CATEGORY: &str = "mixed";
/// How long the readers may take to get ready, and to finish after the
/// writes.
const PATIENCE: Duration = Duration::from_secs(600);

/// When each event was published and when the projector applied it, as
/// nanoseconds after `epoch` plus one (zero: not yet), by writer and position.
#[derive(Debug)]
struct Timeline {
    epoch: Instant,
    published: Vec<Vec<AtomicU64>>,
    applied: Vec<Vec<AtomicU64>>,
}

impl Timeline {
    fn new(writers: usize, per_writer: usize) -> Self {
        let table = || {
            (0..writers)
                .map(|_| (0..per_writer).map(|_| AtomicU64::new(0)).collect())
                .collect()
        };
        Self {
            epoch: Instant::now(),
            published: table(),
            applied: table(),
        }
    }

    fn now(&self) -> u64 {
        nanos(self.epoch.elapsed()).saturating_add(1)
    }

    /// `event`'s slot in `table`: its stream is `w<writer>`, its position
    /// the writer's call.
    fn slot<'a>(table: &'a [Vec<AtomicU64>], event: &StoredEvent) -> Option<&'a AtomicU64> {
        let writer: usize = event
            .stream
            .stream
            .as_str()
            .strip_prefix('w')?
            .parse()
            .ok()?;
        table
            .get(writer)?
            .get(usize::try_from(event.position).ok()?)
    }

    /// The time from `event`'s publish to `at`, if it was published here.
    fn since_published(&self, event: &StoredEvent, at: u64) -> Option<u64> {
        let published = Self::slot(&self.published, event)?.load(Ordering::Acquire);
        (published != 0).then(|| at.saturating_sub(published))
    }

    /// Records the first time `event` was applied.
    fn mark_applied(&self, event: &StoredEvent) {
        if let Some(slot) = Self::slot(&self.applied, event) {
            let _ = slot.compare_exchange(0, self.now(), Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Publish-to-apply times of every event applied.
    fn lags(&self) -> Vec<u64> {
        let pairs = self
            .published
            .iter()
            .flatten()
            .zip(self.applied.iter().flatten());
        pairs
            .filter_map(|(published, applied)| {
                let (published, applied) = (
                    published.load(Ordering::Acquire),
                    applied.load(Ordering::Acquire),
                );
                (published != 0 && applied != 0).then(|| applied.saturating_sub(published))
            })
            .collect()
    }
}

/// Counts each stream's events, recording when it applies each.
#[derive(Debug)]
struct Counting(Arc<Timeline>);

impl Projector for Counting {
    type State = u64;
    type Metadata = ();

    fn name(&self) -> &str {
        "mixed-counter"
    }

    fn initial_state(&self) -> u64 {
        0
    }

    fn apply(&self, count: &mut u64, event: &StoredEvent) -> Result<Handled, BoxError> {
        *count += 1;
        self.0.mark_applied(event);
        Ok(Handled::Applied)
    }
}

/// Runs the scenario on `events` (a store whose log holds nothing of the
/// category yet), its runner on `projections` and `checkpoints`, with
/// `per_writer` events from each writer.
pub(crate) async fn run(
    label: &str,
    events: &EventStore,
    projections: ProjectionStore,
    checkpoints: impl CheckpointStore,
    per_writer: usize,
) -> BenchResult<Vec<Row>> {
    let timeline = Arc::new(Timeline::new(WRITERS, per_writer));
    let total = WRITERS * per_writer;
    let head = events
        .log()
        .latest()
        .await?
        .map(|event| event.sequence_number);
    let mut subscribers = Vec::with_capacity(SUBSCRIPTIONS);
    for _ in 0..SUBSCRIPTIONS {
        let options = SubscriptionOptions::new().after_checkpoint(head);
        let mut subscription = events.log().subscribe(options)?;
        caught_up(&mut subscription).await?;
        let timeline = timeline.clone();
        subscribers.push(tokio::spawn(deliveries(subscription, timeline, total)));
    }
    let runner = ProjectionRunner::new(
        Counting(timeline.clone()),
        events.clone(),
        projections,
        checkpoints,
    );
    let runner = Arc::new(runner.source(CategoryIdentifier::new(CATEGORY)?));
    let running = runner.spawn();
    runner_ready(&runner).await?;

    let started = Instant::now();
    let writers = (0..WRITERS).map(|writer| {
        let (events, timeline) = (events.clone(), timeline.clone());
        tokio::spawn(async move { write(&events, &timeline, writer, per_writer).await })
    });
    let mut calls = Vec::with_capacity(total);
    let mut last = 0;
    for writer in futures::future::join_all(writers).await {
        let (latencies, sequence_number) = writer??;
        calls.extend(latencies);
        last = last.max(sequence_number);
    }
    let written = started.elapsed();
    runner.wait_until(last, PATIENCE).await?;
    let applied = started.elapsed();
    let mut delivered = Vec::with_capacity(total * SUBSCRIPTIONS);
    let mut all_delivered = started;
    for subscriber in subscribers {
        let (latencies, done) = tokio::time::timeout(PATIENCE, subscriber).await???;
        delivered.extend(latencies);
        all_delivered = all_delivered.max(done);
    }
    runner.shutdown().await;
    running.await??;

    let rate = |elapsed: Duration| total as f64 / elapsed.as_secs_f64();
    let behind = applied.saturating_sub(written);
    let writes = Stats::new(label, vec![rate(written)]).with_latency(Latency::of_nanos(calls));
    let deliveries = Stats::new(label, vec![rate(all_delivered.duration_since(started))])
        .with_latency(Latency::of_nanos(delivered));
    let runner =
        Stats::new(label, vec![rate(applied)]).with_latency(Latency::of_nanos(timeline.lags()));
    Ok(vec![
        Row::new(
            &format!("mixed: {WRITERS} writers, 1/call"),
            "events/s",
            writes,
            vec![],
        )
        .with_note(format!("{total} events")),
        Row::new(
            &format!("mixed: delivery to {SUBSCRIPTIONS} subs"),
            "events/s",
            deliveries,
            vec![],
        )
        .with_note("publish to delivery"),
        Row::new("mixed: projection runner lag", "events/s", runner, vec![]).with_note(format!(
            "publish to applied; {:.1} ms behind when the writes ended",
            behind.as_secs_f64() * 1000.0
        )),
    ])
}

/// Publishes `per_writer` events one at a time to stream `w<writer>`; each
/// call's latency in nanoseconds, and the last sequence number.
async fn write(
    events: &EventStore,
    timeline: &Timeline,
    writer: usize,
    per_writer: usize,
) -> BenchResult<(Vec<u64>, u64)> {
    let stream = events.stream(CATEGORY, &format!("w{writer}"))?;
    let name = Name::new("event name", "order-placed")?;
    let payload = payload();
    let slots = timeline.published.get(writer).ok_or("no such writer")?;
    let mut latencies = Vec::with_capacity(per_writer);
    let mut last = 0;
    for slot in slots {
        let event = NewEvent::with_json(name.clone(), payload.clone());
        let published = timeline.now();
        slot.store(published, Ordering::Release);
        let stored = stream.publish([event], WriteCondition::NoCondition).await?;
        latencies.push(timeline.now().saturating_sub(published));
        last = stored.last().map_or(last, |event| event.sequence_number);
    }
    Ok((latencies, last))
}

/// Waits for `subscription` to report that it is caught up (the log after
/// its start holding nothing yet).
async fn caught_up(subscription: &mut SubscriptionStream) -> BenchResult<()> {
    loop {
        match tokio::time::timeout(PATIENCE, subscription.try_next()).await?? {
            Some(SubscriptionMessage::CaughtUp { .. }) => return Ok(()),
            Some(SubscriptionMessage::Event(_)) => {
                return Err("the log grew before the mixed scenario began".into())
            }
            Some(_) => {}
            None => return Err("a subscription ended before it was caught up".into()),
        }
    }
}

/// Receives `total` events of the category; the publish-to-delivery time of
/// each, nanoseconds, and when the last came.
async fn deliveries(
    mut subscription: SubscriptionStream,
    timeline: Arc<Timeline>,
    total: usize,
) -> BenchResult<(Vec<u64>, Instant)> {
    let mut latencies = Vec::with_capacity(total);
    let mut seen = 0;
    while seen < total {
        match subscription.try_next().await? {
            Some(SubscriptionMessage::Event(event)) => {
                let at = timeline.now();
                if event.category().as_str() == CATEGORY {
                    seen += 1;
                    latencies.extend(timeline.since_published(&event, at));
                }
            }
            Some(_) => {}
            None => return Err("a subscription ended early".into()),
        }
    }
    Ok((latencies, Instant::now()))
}

/// Waits until the runner has caught up with the (empty) category.
async fn runner_ready<P: Projector + 'static>(runner: &ProjectionRunner<P>) -> BenchResult<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match runner.status() {
            RunnerStatus::CaughtUp { .. } => return Ok(()),
            RunnerStatus::Failed(error) => return Err(format!("the runner failed: {error}").into()),
            _ if Instant::now() > deadline => return Err("the runner did not start".into()),
            _ => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}
