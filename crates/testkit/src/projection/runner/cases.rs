//! Crashes, restarts, a killed instance and rebuilds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::CheckpointStore;
use eventblocks_projection::{ErrorPolicy, Projector};
use rand::Rng;

use super::{
    publish, read_model, runner, runner_with, stream, FlakyCheckpoints, RunnerFixture, Tally,
};

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
        .wait_until(last, Duration::from_secs(30))
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
    let mut stale = Tally::default().initial(stream("s0").into());
    stale.state.count = 999;
    fixture
        .projections
        .save(&stale)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(runner.rebuild().await.unwrap_or_else(|e| panic!("{e}")), 8);
    assert_eq!(read_model(&fixture.projections).await, expected);
}
