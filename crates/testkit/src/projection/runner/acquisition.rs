//! A lease acquisition that fails (the backend unreachable for a moment)
//! passes: the partitioned runner tries again and goes on.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{async_trait, Error, Lease, Leases, Name, Result, WriteOutcome};
use parking_lot::Mutex;

use super::gate::wait_for;
use super::{consumer, publish, read_model, runner, RunnerFixture, Tally};

/// Leases whose acquisitions of some partitions fail a given number of times
/// before they reach the backend's leases.
#[derive(Debug)]
struct FailingLeases {
    inner: Arc<dyn Leases>,
    /// Failures still to come, per partition.
    failures: Mutex<HashMap<u32, u32>>,
}

impl FailingLeases {
    /// Fails the next `count` acquisitions of `partition`.
    fn fail(&self, partition: u32, count: u32) {
        self.failures.lock().insert(partition, count);
    }

    fn failures_left(&self) -> u32 {
        self.failures.lock().values().sum()
    }
}

#[async_trait]
impl Leases for FailingLeases {
    async fn try_acquire(&self, consumer: &Name, partition: u32) -> Result<Option<Box<dyn Lease>>> {
        let failing = match self.failures.lock().get_mut(&partition) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        };
        if failing {
            return Err(Error::Unavailable {
                outcome: WriteOutcome::NotWritten,
                message: "an injected failure to take a lease".into(),
                source: None,
            });
        }
        self.inner.try_acquire(consumer, partition).await
    }
}

/// Acquisitions of a partition fail at the start, and again after the
/// runner lost its leases mid-run: it keeps running, takes the partitions
/// once acquisitions succeed, and applies every event exactly once.
pub async fn a_failed_lease_acquisition_does_not_stop_a_partitioned_runner(fixture: RunnerFixture) {
    let leases = Arc::new(FailingLeases {
        inner: fixture.leases.clone(),
        failures: Mutex::new(HashMap::new()),
    });
    leases.fail(0, 3);
    let mut expected = HashMap::new();
    let last = publish(&fixture.events, 6, 12, &mut expected).await;
    let instance = Arc::new(runner(&fixture, Tally::default()));
    let running = tokio::spawn({
        let (instance, leases) = (instance.clone(), leases.clone() as Arc<dyn Leases>);
        async move { instance.run_partitioned(2, leases).await }
    });
    wait(
        &instance,
        last,
        "the runner never took the failing partition",
    )
    .await;
    assert_eq!(leases.failures_left(), 0, "every injected failure was met");

    leases.fail(1, 3);
    (fixture.revoke)(consumer("tally"), 1).await;
    wait_for(
        Duration::from_secs(10),
        "the runner to try the lost partition again",
        || leases.failures_left() == 0,
    )
    .await;
    let last = publish(&fixture.events, 6, 12, &mut expected).await;
    wait(
        &instance,
        last,
        "the runner never took a lost partition again",
    )
    .await;
    if running.is_finished() {
        panic!(
            "a failed acquisition stopped the runner: {:?}",
            running.await
        );
    }
    running.abort();
    assert_eq!(read_model(&fixture.projections).await, expected);
}

async fn wait(instance: &eventblocks_projection::ProjectionRunner<Tally>, last: u64, what: &str) {
    instance
        .wait_until(last, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}
