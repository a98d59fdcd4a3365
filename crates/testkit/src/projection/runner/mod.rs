//! The projection-runner suite: a runner's read model stays exactly right
//! through crashes, restarts, a partitioned instance dying mid-run, an
//! instance that lost its lease while stalled, failing lease acquisitions and
//! deployments with another number of partitions.
//!
//! Run it with one macro and a factory returning a [`RunnerFixture`] whose
//! parts share one backend:
//!
//! ```ignore
//! eventblocks_testkit::runner_suite!(|| async { my_fixture().await });
//! ```

mod acquisition;
mod cases;
mod fencing;
mod gate;
mod identity;
mod lifecycle;
mod partitions;
mod progress;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{
    async_trait, BoxError, CategoryIdentifier, CheckpointStore, EventStore, Fence, Leases, Name,
    NewEvent, StoredEvent, StreamIdentifier, SubscriptionOptions, WriteCondition,
};
use eventblocks_projection::query::{Field, Filter, Operator, Search};
use eventblocks_projection::{
    Handled, ProjectionRunner, ProjectionStore, Projector, StoredProjection, Tracked,
};
use futures::future::BoxFuture;
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

pub use acquisition::*;
pub use cases::*;
pub use fencing::*;
pub use identity::*;
pub use lifecycle::*;
pub use partitions::*;
pub use progress::*;

use self::gate::Gate;

/// Takes a lease away from its holder as the backend would on a lost
/// connection: the holder learns nothing until it next looks, and the
/// partition is free for another instance. Given the consumer and partition;
/// a backend may take more leases away with it (PostgreSQL: every lease held
/// on the same connection).
pub type Revoke = Arc<dyn Fn(Name, u32) -> BoxFuture<'static, ()> + Send + Sync>;

/// Everything a runner needs, on one backend.
#[derive(Clone)]
pub struct RunnerFixture {
    /// The event store.
    pub events: EventStore,
    /// Where projections are kept.
    pub projections: ProjectionStore,
    /// Where checkpoints are kept.
    pub checkpoints: Arc<dyn CheckpointStore>,
    /// Partition leases.
    pub leases: Arc<dyn Leases>,
    /// Takes a held lease away (memory: `MemoryLeases::revoke`; PostgreSQL:
    /// terminating the session holding it, and so its other leases).
    pub revoke: Revoke,
}

impl fmt::Debug for RunnerFixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunnerFixture")
            .field("events", &self.events)
            .field("projections", &self.projections)
            .field("checkpoints", &self.checkpoints)
            .field("leases", &self.leases)
            .finish_non_exhaustive()
    }
}

/// The state of a [`Tally`] projection: how many events, and the sum of their
/// sequence numbers (which tells a repeated event from a missing one).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    /// Events applied.
    pub count: u64,
    /// Sum of their sequence numbers.
    pub sum: u64,
}

impl Totals {
    fn add(&mut self, event: &StoredEvent) -> Handled {
        match event.name.as_str() {
            "counted" => {
                self.count += 1;
                self.sum += event.sequence_number;
                Handled::Applied
            }
            _ => Handled::NoHandler,
        }
    }
}

/// A projector that tallies each stream's events, failing on purpose at the
/// rate it is given (in thousandths), and stopping at the gates it has.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    failure_rate: Arc<AtomicU64>,
    gates: Vec<Gate>,
}

impl Tally {
    /// A tally whose handler waits at each of `gates` for the events it
    /// holds.
    fn gated(gates: &[&Gate]) -> Self {
        Self {
            gates: gates.iter().map(|&gate| gate.clone()).collect(),
            ..Self::default()
        }
    }
}

impl Projector for Tally {
    type State = Totals;
    type Metadata = Tracked;

    fn name(&self) -> &str {
        "tally"
    }

    fn initial_state(&self) -> Totals {
        Totals::default()
    }

    fn apply(&self, totals: &mut Totals, event: &StoredEvent) -> Result<Handled, BoxError> {
        for gate in &self.gates {
            gate.pass(event);
        }
        let rate = self.failure_rate.load(Ordering::Relaxed);
        if rate > 0 && rand::rng().random_range(0..1000) < rate {
            return Err("an injected failure".into());
        }
        Ok(totals.add(event))
    }
}

const CATEGORY: &str = "tallied";

/// Checkpoints whose `advance` fails at a rate (in thousandths): a crash
/// after a projection was saved and before its checkpoint moved.
#[derive(Debug)]
struct FlakyCheckpoints {
    inner: Arc<dyn CheckpointStore>,
    failure_rate: Arc<AtomicU64>,
}

#[async_trait]
impl CheckpointStore for FlakyCheckpoints {
    async fn load(&self, consumer: &Name) -> eventblocks_core::Result<Option<u64>> {
        self.inner.load(consumer).await
    }

    async fn advance(
        &self,
        consumer: &Name,
        sequence_number: u64,
        fence: Option<&Fence>,
    ) -> eventblocks_core::Result<bool> {
        let rate = self.failure_rate.load(Ordering::Relaxed);
        if rate > 0 && rand::rng().random_range(0..1000) < rate {
            return Err(eventblocks_core::Error::backend(
                "advancing a checkpoint",
                "an injected failure after the effect",
            ));
        }
        self.inner.advance(consumer, sequence_number, fence).await
    }
}

pub(crate) fn runner<P: Projector + 'static>(
    fixture: &RunnerFixture,
    projector: P,
) -> ProjectionRunner<P> {
    runner_with(fixture, projector, fixture.checkpoints.clone())
}

fn runner_with<P: Projector + 'static>(
    fixture: &RunnerFixture,
    projector: P,
    checkpoints: Arc<dyn CheckpointStore>,
) -> ProjectionRunner<P> {
    ProjectionRunner::new(
        projector,
        fixture.events.clone(),
        fixture.projections.clone(),
        checkpoints,
    )
    .source(category())
    .subscription(SubscriptionOptions::new().poll_interval(Duration::from_millis(100)))
}

fn category() -> CategoryIdentifier {
    CategoryIdentifier::new(CATEGORY).unwrap_or_else(|e| panic!("{e}"))
}

fn stream(name: &str) -> StreamIdentifier {
    StreamIdentifier::new(CATEGORY, name).unwrap_or_else(|e| panic!("{e}"))
}

pub(crate) fn consumer(name: &str) -> Name {
    Name::new("consumer", name).unwrap_or_else(|e| panic!("{e}"))
}

/// Publishes one event to each of `streams` in turn, recording the expected
/// totals per stream; the stored events.
async fn publish_to(
    events: &EventStore,
    streams: &[String],
    expected: &mut HashMap<String, Totals>,
) -> Vec<StoredEvent> {
    let mut published = Vec::with_capacity(streams.len());
    for (index, name) in streams.iter().enumerate() {
        let event =
            NewEvent::new("counted", &json!({ "index": index })).unwrap_or_else(|e| panic!("{e}"));
        let stored = events
            .stream_of(stream(name))
            .publish([event], WriteCondition::NoCondition)
            .await
            .unwrap_or_else(|e| panic!("publishing: {e}"));
        expected.entry(name.clone()).or_default().add(&stored[0]);
        published.extend(stored);
    }
    published
}

/// Publishes `count` events round-robin over `streams` streams; the last
/// sequence number.
pub(crate) async fn publish(
    events: &EventStore,
    streams: usize,
    count: usize,
    expected: &mut HashMap<String, Totals>,
) -> u64 {
    let names: Vec<String> = (0..count)
        .map(|index| format!("s{}", index % streams))
        .collect();
    let published = publish_to(events, &names, expected).await;
    published.last().map_or(0, |event| event.sequence_number)
}

/// The stored projections of the projector `name`.
async fn projections_of(projections: &ProjectionStore, name: &str) -> Vec<StoredProjection> {
    let search = Search::new()
        .filter(Filter::new(Field::Name, Operator::Equal, name))
        .limit(1000);
    let page = projections
        .search_stored(&search)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    page.projections
}

pub(crate) async fn read_model(projections: &ProjectionStore) -> HashMap<String, Totals> {
    projections_of(projections, "tally")
        .await
        .into_iter()
        .map(|p| {
            let totals: Totals = serde_json::from_value(p.state).unwrap_or_else(|e| panic!("{e}"));
            (p.id, totals)
        })
        .collect()
}

/// Waits until the durable checkpoint `name` reaches `sequence_number`,
/// failing the case after 20 seconds.
pub(crate) async fn until_checkpoint(
    checkpoints: &dyn CheckpointStore,
    name: &Name,
    sequence_number: u64,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reached = checkpoints
            .load(name)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        if reached.is_some_and(|reached| reached >= sequence_number) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "checkpoint {name} never reached {sequence_number}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls `$callback!($($args)*; case, …)` with every runner case.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_runner_cases {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { $($args)* ;
            a_runner_follows_new_events_and_can_be_waited_for,
            a_runner_killed_at_random_points_converges_exactly,
            partitioned_runners_survive_a_killed_instance,
            a_rebuild_starts_from_scratch,
            stores_refuse_writes_under_an_older_fence,
            lease_tokens_grow_with_every_acquisition,
            a_stalled_instance_that_lost_its_lease_changes_nothing,
            waiting_on_a_partitioned_runner_waits_for_every_partition,
            a_projection_whose_id_changes_stays_one_projection,
            changing_the_number_of_partitions_is_refused,
            instances_with_other_numbers_of_partitions_do_not_run_at_once,
            a_rebuild_of_a_partitioned_consumer_moves_every_partition,
            a_failed_lease_acquisition_does_not_stop_a_partitioned_runner,
            a_made_up_fencing_token_is_refused_and_leases_go_on,
            a_shutdown_finishes_the_event_in_hand,
            a_stopped_runner_fails_its_waiters_at_once,
            events_outside_the_source_count_as_passed,
        }
    };
}

/// Expands to one test per runner case, each with a fresh [`RunnerFixture`]
/// from `$factory` (a closure returning a future of one).
///
/// The tests run on a multi-threaded runtime of the testkit's own; the crate
/// that calls this needs no tokio dependency.
#[macro_export]
macro_rules! runner_suite {
    ($factory:expr) => {
        $crate::__with_runner_cases!(__suite_tests!(
            $crate::projection::runner::RunnerFixture,
            [$crate::projection::runner],
            4,
            $factory
        ));
    };
}
