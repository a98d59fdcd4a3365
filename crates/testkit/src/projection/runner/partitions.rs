//! A consumer's number of partitions is fixed: another number, in a later
//! deployment or beside the running one, is refused before it processes
//! anything.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{partition_checkpoint, Leases};
use eventblocks_projection::{Error, ProjectionRunner};
use tokio::task::JoinHandle;

use super::{consumer, publish, read_model, runner, until_checkpoint, RunnerFixture, Tally};

/// How long a refused start may take.
const REFUSED_WITHIN: Duration = Duration::from_secs(10);

type Running = JoinHandle<eventblocks_projection::Result<()>>;

fn start(
    runner: &Arc<ProjectionRunner<Tally>>,
    partitions: u32,
    leases: &Arc<dyn Leases>,
) -> Running {
    let (runner, leases) = (Arc::clone(runner), Arc::clone(leases));
    tokio::spawn(async move { runner.run_partitioned(partitions, leases).await })
}

/// Asserts that `result` refuses a start with `requested` partitions of a
/// consumer recorded with `recorded`: a run stopped by the refusal, or a
/// waiter told it.
fn assert_refused(result: eventblocks_projection::Result<()>, recorded: u64, requested: u32) {
    let error = result.as_ref().err();
    match error.and_then(Error::stop_cause).or(error) {
        Some(Error::PartitionCount {
            recorded: found,
            requested: asked,
            ..
        }) => assert_eq!((*found, *asked), (recorded, requested)),
        _ => panic!("expected a refused number of partitions, got {result:?}"),
    }
}

/// A deployment with 4 partitions, one of them lagging (held by a hung
/// instance), is followed by one with 3: resuming the partition checkpoints
/// would skip the lagging partition's events in streams that moved. The new
/// number is refused before anything is processed, and so are `run()` and a
/// waiter told the wrong number; under a new consumer name, 3 partitions
/// apply every event exactly once.
pub async fn changing_the_number_of_partitions_is_refused(fixture: RunnerFixture) {
    let mut expected = HashMap::new();
    let first = publish(&fixture.events, 12, 12, &mut expected).await;
    let owner = consumer("tally");
    let hung = fixture.leases.try_acquire(&owner, 1).await;
    let hung = hung
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("partition 1 is free");
    let four = Arc::new(runner(&fixture, Tally::default()));
    let running = start(&four, 4, &fixture.leases);
    for partition in [0, 2, 3] {
        let name = partition_checkpoint(&owner, partition, 4).unwrap_or_else(|e| panic!("{e}"));
        until_checkpoint(fixture.checkpoints.as_ref(), &name, first).await;
    }
    running.abort();
    let _ = running.await;
    drop(hung);
    let second = publish(&fixture.events, 12, 12, &mut expected).await;
    let before = read_model(&fixture.projections).await;

    let three = Arc::new(runner(&fixture, Tally::default()));
    let refused = tokio::time::timeout(REFUSED_WITHIN, start(&three, 3, &fixture.leases)).await;
    let refused = refused.expect("3 partitions ran where 4 were recorded");
    assert_refused(refused.unwrap_or_else(|e| panic!("{e}")), 4, 3);
    let alone = tokio::time::timeout(REFUSED_WITHIN, three.run()).await;
    assert_refused(
        alone.expect("run() ran where 4 partitions were recorded"),
        4,
        1,
    );
    let waited = three
        .wait_until_partitioned(3, second, Duration::from_secs(1))
        .await;
    assert_refused(waited, 4, 3);
    assert_eq!(
        read_model(&fixture.projections).await,
        before,
        "a refused runner processed events"
    );

    let renamed = runner(&fixture, Tally::default()).consumer(consumer("tally-in-3"));
    let renamed = Arc::new(renamed);
    let running = start(&renamed, 3, &fixture.leases);
    renamed
        .wait_until(second, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("the renamed consumer never caught up: {e}"));
    running.abort();
    assert_eq!(read_model(&fixture.projections).await, expected);
}

/// A rolling deployment: instances with 2 and 3 partitions start at once.
/// Exactly one number is recorded; the other instance stops at once, as does
/// an unpartitioned `run()`, and the survivor applies every event once.
pub async fn instances_with_other_numbers_of_partitions_do_not_run_at_once(fixture: RunnerFixture) {
    let mut expected = HashMap::new();
    publish(&fixture.events, 6, 12, &mut expected).await;
    let instances: Vec<(u32, Arc<ProjectionRunner<Tally>>)> = [2, 3]
        .into_iter()
        .map(|count| (count, Arc::new(runner(&fixture, Tally::default()))))
        .collect();
    let mut running: Vec<Running> = instances
        .iter()
        .map(|(count, instance)| start(instance, *count, &fixture.leases))
        .collect();
    let deadline = tokio::time::Instant::now() + REFUSED_WITHIN;
    while running.iter().all(|task| !task.is_finished()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "instances with 2 and 3 partitions ran at once"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = running
        .iter()
        .position(JoinHandle::is_finished)
        .unwrap_or(0);
    let survivor = 1 - refused;
    let (recorded, requested) = (instances[survivor].0, instances[refused].0);
    let result = running
        .remove(refused)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_refused(result, u64::from(recorded), requested);
    let alone = tokio::time::timeout(REFUSED_WITHIN, instances[refused].1.run()).await;
    assert_refused(
        alone.expect("run() ran beside partitioned instances"),
        recorded.into(),
        1,
    );

    let last = publish(&fixture.events, 6, 6, &mut expected).await;
    instances[survivor]
        .1
        .wait_until(last, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("the recorded instance never caught up: {e}"));
    assert!(!running[0].is_finished(), "the recorded instance runs on");
    running[0].abort();
    assert_eq!(read_model(&fixture.projections).await, expected);
}

/// A rebuild of a consumer recorded with 2 partitions moves both partition
/// checkpoints to the end (not a checkpoint of one partition nobody reads),
/// so a waiter told the number sees it done, and a later partitioned run
/// applies nothing twice.
pub async fn a_rebuild_of_a_partitioned_consumer_moves_every_partition(fixture: RunnerFixture) {
    let mut expected = HashMap::new();
    let first = publish(&fixture.events, 6, 6, &mut expected).await;
    let instance = Arc::new(runner(&fixture, Tally::default()));
    let running = start(&instance, 2, &fixture.leases);
    instance
        .wait_until(first, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("the runner never caught up: {e}"));
    running.abort();
    let _ = running.await;
    let last = publish(&fixture.events, 6, 6, &mut expected).await;

    let rebuilt = instance.rebuild().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(rebuilt, 12);
    assert_eq!(read_model(&fixture.projections).await, expected);
    instance
        .wait_until_partitioned(2, last, Duration::from_secs(1))
        .await
        .unwrap_or_else(|e| panic!("the rebuild left a partition behind: {e}"));
    let running = start(&instance, 2, &fixture.leases);
    let more = publish(&fixture.events, 6, 6, &mut expected).await;
    instance
        .wait_until(more, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("the runner never caught up after the rebuild: {e}"));
    running.abort();
    assert_eq!(read_model(&fixture.projections).await, expected);
}
