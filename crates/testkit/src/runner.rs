//! The projection-runner suite: a runner's read model stays exactly right
//! through crashes, restarts and a partitioned instance dying mid-run.
//!
//! Run it with one macro and a factory returning a [`RunnerFixture`] whose
//! parts share one backend:
//!
//! ```ignore
//! eventblocks_testkit::runner_suite!(|| async { my_fixture().await });
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{
    async_trait, BoxError, CategoryIdentifier, CheckpointStore, EventStore, Leases, Name, NewEvent,
    StoredEvent, StreamIdentifier, SubscriptionOptions, WriteCondition,
};
use eventblocks_projection::query::{Field, Filter, Operator, Search};
use eventblocks_projection::{
    ErrorPolicy, Handled, ProjectionRunner, ProjectionStore, Projector, Tracked,
};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Everything a runner needs, on one backend.
#[derive(Debug, Clone)]
pub struct RunnerFixture {
    /// The event store.
    pub events: EventStore,
    /// Where projections are kept.
    pub projections: ProjectionStore,
    /// Where checkpoints are kept.
    pub checkpoints: Arc<dyn CheckpointStore>,
    /// Partition leases.
    pub leases: Arc<dyn Leases>,
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

/// A projector that tallies each stream's events, failing on purpose at the
/// rate it is given (in thousandths).
#[derive(Debug, Clone, Default)]
pub struct Tally {
    failure_rate: Arc<AtomicU64>,
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
        let rate = self.failure_rate.load(Ordering::Relaxed);
        if rate > 0 && rand::rng().random_range(0..1000) < rate {
            return Err("an injected failure".into());
        }
        match event.name.as_str() {
            "counted" => {
                totals.count += 1;
                totals.sum += event.sequence_number;
            }
            _ => return Ok(Handled::NoHandler),
        }
        Ok(Handled::Applied)
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
    ) -> eventblocks_core::Result<bool> {
        let rate = self.failure_rate.load(Ordering::Relaxed);
        if rate > 0 && rand::rng().random_range(0..1000) < rate {
            return Err(eventblocks_core::Error::backend(
                "advancing a checkpoint",
                "an injected failure after the effect",
            ));
        }
        self.inner.advance(consumer, sequence_number).await
    }
}

fn runner(fixture: &RunnerFixture, tally: Tally) -> ProjectionRunner<Tally> {
    runner_with(fixture, tally, fixture.checkpoints.clone())
}

fn runner_with(
    fixture: &RunnerFixture,
    tally: Tally,
    checkpoints: Arc<dyn CheckpointStore>,
) -> ProjectionRunner<Tally> {
    ProjectionRunner::new(
        tally,
        fixture.events.clone(),
        fixture.projections.clone(),
        checkpoints,
    )
    .source(CategoryIdentifier::new(CATEGORY).unwrap_or_else(|e| panic!("{e}")))
    .subscription(SubscriptionOptions::new().poll_interval(Duration::from_millis(100)))
}

/// Publishes `count` events round-robin over `streams` streams; the expected
/// totals per stream.
async fn publish(
    events: &EventStore,
    streams: usize,
    count: usize,
    expected: &mut HashMap<String, Totals>,
) -> u64 {
    let mut last = 0;
    for index in 0..count {
        let name = format!("s{}", index % streams);
        let stream =
            StreamIdentifier::new(CATEGORY, name.as_str()).unwrap_or_else(|e| panic!("{e}"));
        let event =
            NewEvent::new("counted", &json!({ "index": index })).unwrap_or_else(|e| panic!("{e}"));
        let stored = events
            .stream_of(stream)
            .publish([event], WriteCondition::NoCondition)
            .await
            .unwrap_or_else(|e| panic!("publishing: {e}"));
        let totals = expected.entry(name).or_default();
        totals.count += 1;
        totals.sum += stored[0].sequence_number;
        last = stored[0].sequence_number;
    }
    last
}

async fn read_model(projections: &ProjectionStore) -> HashMap<String, Totals> {
    let search = Search::new()
        .filter(
            Filter::new(Field::Name, Operator::Equal, "tally").unwrap_or_else(|e| panic!("{e}")),
        )
        .limit(1000);
    let page = projections
        .search(&search)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    page.projections
        .into_iter()
        .map(|p| {
            let totals: Totals = serde_json::from_value(p.state).unwrap_or_else(|e| panic!("{e}"));
            (p.id, totals)
        })
        .collect()
}

/// A runner keeps projections up to date and a caller can wait for a write.
pub async fn a_runner_follows_new_events_and_can_be_waited_for(fixture: RunnerFixture) {
    let mut expected = HashMap::new();
    publish(&fixture.events, 3, 10, &mut expected).await;
    let runner = Arc::new(runner(&fixture, Tally::default()));
    let running = tokio::spawn({
        let runner = runner.clone();
        async move { runner.run().await }
    });
    let last = publish(&fixture.events, 3, 10, &mut expected).await;
    runner
        .wait_until(last, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("waiting for the runner: {e}"));
    assert_eq!(read_model(&fixture.projections).await, expected);
    running.abort();
}

/// A runner stopped at random moments (between saving a projection and its
/// checkpoint included) and by failing handlers, then restarted, ends with the
/// read model of an uninterrupted run.
pub async fn a_runner_killed_at_random_points_converges_exactly(fixture: RunnerFixture) {
    let mut expected = HashMap::new();
    let last = publish(&fixture.events, 4, 60, &mut expected).await;
    let tally = Tally::default();
    tally.failure_rate.store(50, Ordering::Relaxed);
    let checkpoint_failures = Arc::new(AtomicU64::new(100));
    let flaky: Arc<dyn CheckpointStore> = Arc::new(FlakyCheckpoints {
        inner: fixture.checkpoints.clone(),
        failure_rate: checkpoint_failures.clone(),
    });
    let mut rng = rand::rng();
    for restart in 0..500 {
        let runner = runner_with(&fixture, tally.clone(), flaky.clone());
        let runner = Arc::new(runner.on_error(ErrorPolicy::Stop));
        if runner
            .wait_until(last, Duration::from_millis(1))
            .await
            .is_ok()
        {
            assert!(restart > 0, "the first run cannot have finished already");
            break;
        }
        let running = tokio::spawn({
            let runner = runner.clone();
            async move { runner.run().await }
        });
        let lifetime = Duration::from_millis(rng.random_range(1..30));
        tokio::time::sleep(lifetime).await;
        running.abort();
        let _ = running.await;
    }
    tally.failure_rate.store(0, Ordering::Relaxed);
    checkpoint_failures.store(0, Ordering::Relaxed);
    let runner = Arc::new(runner(&fixture, tally));
    let running = tokio::spawn({
        let runner = runner.clone();
        async move { runner.run().await }
    });
    runner
        .wait_until(last, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("the runner never finished: {e}"));
    running.abort();
    assert_eq!(
        read_model(&fixture.projections).await,
        expected,
        "a crash changed the read model"
    );
}

/// Three instances share four partitions; one is killed mid-run; the others
/// take its partitions over and every event is applied exactly once.
pub async fn partitioned_runners_survive_a_killed_instance(fixture: RunnerFixture) {
    const PARTITIONS: u32 = 4;
    let mut expected = HashMap::new();
    publish(&fixture.events, 12, 36, &mut expected).await;
    let instances: Vec<_> = (0..3)
        .map(|_| {
            let runner = Arc::new(runner(&fixture, Tally::default()));
            let leases = fixture.leases.clone();
            let task = tokio::spawn({
                let runner = runner.clone();
                async move { runner.run_partitioned(PARTITIONS, leases).await }
            });
            (runner, task)
        })
        .collect();
    publish(&fixture.events, 12, 36, &mut expected).await;
    instances[0].1.abort();
    let last = publish(&fixture.events, 12, 36, &mut expected).await;
    instances[1]
        .0
        .wait_until_partitioned(PARTITIONS, last, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("the surviving instances never caught up: {e}"));
    for (_, task) in &instances {
        task.abort();
    }
    assert_eq!(
        read_model(&fixture.projections).await,
        expected,
        "an event was lost or repeated"
    );
}

/// Rebuilding folds every event again into fresh projections.
pub async fn a_rebuild_starts_from_scratch(fixture: RunnerFixture) {
    let mut expected = HashMap::new();
    publish(&fixture.events, 2, 8, &mut expected).await;
    let runner = runner(&fixture, Tally::default());
    // A stale projection the rebuild must replace.
    let mut stale = Tally::default().initial(
        StreamIdentifier::new(CATEGORY, "s0")
            .unwrap_or_else(|e| panic!("{e}"))
            .into(),
    );
    stale.state.count = 999;
    fixture
        .projections
        .save(&stale)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(runner.rebuild().await.unwrap_or_else(|e| panic!("{e}")), 8);
    assert_eq!(read_model(&fixture.projections).await, expected);
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
        }
    };
}

/// Expands to one `#[tokio::test]` per runner case, each with a fresh
/// [`RunnerFixture`] from `$factory`.
#[macro_export]
macro_rules! runner_suite {
    ($factory:expr) => {
        $crate::__with_runner_cases!(__runner_tests!($factory));
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __runner_tests {
    ($factory:expr ; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let fixture: $crate::runner::RunnerFixture = ($factory)().await;
                $crate::runner::$case(fixture).await;
            }
        )*
    };
}
