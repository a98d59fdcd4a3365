//! Waiting for a partitioned runner: only once the awaited event's own
//! partition has applied it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{partition_checkpoint, partition_of, CheckpointStore, Name};

use super::gate::Gate;
use super::{
    consumer, publish_to, read_model, runner, stream, until_checkpoint, RunnerFixture, Tally,
};

const PARTITIONS: u32 = 2;

/// Stream names, `count` of them, all in `partition`.
fn streams_in(partition: u32, count: usize) -> Vec<String> {
    (0..)
        .map(|index| format!("s{index}"))
        .filter(|name| partition_of(&stream(name), PARTITIONS) == partition)
        .take(count)
        .collect()
}

/// With the handler of partition 0 held back and partition 1 caught up past
/// it, `wait_until` for an event of partition 0 does not return (nor does a
/// waiter that only reads checkpoints); once the handler goes on, it does.
pub async fn waiting_on_a_partitioned_runner_waits_for_every_partition(fixture: RunnerFixture) {
    let slow = streams_in(0, 2);
    let fast = streams_in(1, 2);
    let gate = Gate::closed(|event| partition_of(&event.stream, PARTITIONS) == 0);
    let _unblock = gate.opened_on_drop();
    let instance = Arc::new(runner(&fixture, Tally::gated(&[&gate])));
    let running = tokio::spawn({
        let (instance, leases) = (instance.clone(), fixture.leases.clone());
        async move { instance.run_partitioned(PARTITIONS, leases).await }
    });
    let mut expected = HashMap::new();
    let held = publish_to(&fixture.events, &slow, &mut expected).await;
    let raced = publish_to(&fixture.events, &fast, &mut expected).await;
    let (awaited, last) = (held[0].sequence_number, raced[1].sequence_number);
    gate.until_held(Duration::from_secs(20)).await;
    until_partition(fixture.checkpoints.as_ref(), 1, last).await;

    let early = instance
        .wait_until(awaited, Duration::from_millis(500))
        .await;
    assert!(
        early.is_err(),
        "wait_until returned while the event's partition had applied nothing"
    );
    let observer = runner(&fixture, Tally::default());
    let early = observer
        .wait_until_partitioned(PARTITIONS, awaited, Duration::from_millis(300))
        .await;
    assert!(early.is_err(), "the checkpoints say partition 0 is behind");

    gate.open();
    instance
        .wait_until(last, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("the runner never caught up: {e}"));
    assert_eq!(read_model(&fixture.projections).await, expected);
    observer
        .wait_until_partitioned(PARTITIONS, last, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("the checkpoints never caught up: {e}"));
    running.abort();
}

/// Waits until the durable checkpoint of `partition` reaches `sequence_number`.
async fn until_partition(checkpoints: &dyn CheckpointStore, partition: u32, sequence_number: u64) {
    let name: Name = partition_checkpoint(&consumer("tally"), partition, PARTITIONS)
        .unwrap_or_else(|e| panic!("{e}"));
    until_checkpoint(checkpoints, &name, sequence_number).await;
}
