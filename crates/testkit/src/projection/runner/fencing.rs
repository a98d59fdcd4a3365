//! Fencing: a holder that lost its lease changes nothing once another holder
//! has the partition.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{Error, EventSourceIdentifier, Fence, Lease, Leases, Name};
use eventblocks_projection::{Projection, ProjectionRunner, Projector};
use serde_json::{json, Value};

use super::gate::Gate;
use super::{consumer, publish, publish_to, read_model, runner, stream, RunnerFixture, Tally};

/// Asserts that `result` is a refusal of a write under a token older than
/// `newest`.
fn assert_fenced<T: std::fmt::Debug>(result: eventblocks_core::Result<T>, newest: u64, what: &str) {
    match result {
        Err(Error::Fenced { newest: found, .. }) => {
            assert_eq!(found, newest, "{what}: the newest token")
        }
        other => panic!("{what}: expected a fenced write, got {other:?}"),
    }
}

/// Unit-level: the checkpoint and the projection store refuse a write under
/// an older token once they have seen a newer one for the partition, write
/// nothing, and accept the newest token again; other partitions are apart.
pub async fn stores_refuse_writes_under_an_older_fence(fixture: RunnerFixture) {
    let owner = consumer("fenced");
    let newer = Fence::new(owner.clone(), 0, 5);
    let older = Fence::new(owner.clone(), 0, 4);
    let elsewhere = Fence::new(owner.clone(), 1, 1);
    let checkpoint = consumer("fenced#0");
    let checkpoints = fixture.checkpoints.as_ref();
    let moved = checkpoints.advance(&checkpoint, 10, Some(&newer)).await;
    assert!(moved.unwrap_or_else(|e| panic!("{e}")));
    let stale = checkpoints.advance(&checkpoint, 11, Some(&older)).await;
    assert_fenced(stale, 5, "an older checkpoint write");
    assert_eq!(checkpoints.load(&checkpoint).await.ok().flatten(), Some(10));
    let moved = checkpoints.advance(&checkpoint, 11, Some(&newer)).await;
    assert!(
        moved.unwrap_or_else(|e| panic!("{e}")),
        "the newest token again"
    );
    let other = checkpoints
        .advance(&consumer("fenced#1"), 3, Some(&elsewhere))
        .await;
    assert!(
        other.unwrap_or_else(|e| panic!("{e}")),
        "partitions are fenced apart"
    );

    let projections = &fixture.projections;
    let saved = fenced_projection(1);
    let save = projections.save_fenced(&saved, &newer).await;
    save.unwrap_or_else(|e| panic!("{e}"));
    let stale = projections.save_fenced(&fenced_projection(2), &older).await;
    assert_fenced(stale, 5, "an older projection save");
    let stored: Option<Projection<Value, Value>> = projections
        .locate_stored("fenced", &saved.source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored, Some(saved), "a refused save writes nothing");
    for (version, fence) in [(3, &newer), (4, &elsewhere)] {
        let save = projections
            .save_fenced(&fenced_projection(version), fence)
            .await;
        save.unwrap_or_else(|e| panic!("{e}"));
    }
}

fn fenced_projection(version: u64) -> Projection<Value, Value> {
    Projection {
        id: "f".to_owned(),
        name: "fenced".to_owned(),
        source: EventSourceIdentifier::Stream(stream("f")),
        state: json!({ "version": version }),
        metadata: json!({}),
    }
}

/// Each acquisition of a partition gets a larger token than the one before,
/// across releases and takeovers.
pub async fn lease_tokens_grow_with_every_acquisition(fixture: RunnerFixture) {
    let owner = consumer("leased");
    let mut tokens = Vec::new();
    for round in 0..3 {
        let lease = acquire(fixture.leases.as_ref(), &owner, 7).await;
        assert_eq!(lease.fence(), Fence::new(owner.clone(), 7, lease.token()));
        tokens.push(lease.token());
        if round == 1 {
            (fixture.revoke)(owner.clone(), 7).await;
        }
        drop(lease);
    }
    assert!(
        tokens.windows(2).all(|pair| pair[0] < pair[1]),
        "tokens must grow: {tokens:?}"
    );
}

/// A write under a token no lease hands out (beyond [`Fence::MAX_TOKEN`]) is
/// refused as invalid by the checkpoint and projection stores, writes
/// nothing, and leaves the partition to its real holders: the next lease's
/// token is larger than the last one and its writes are admitted.
pub async fn a_made_up_fencing_token_is_refused_and_leases_go_on(fixture: RunnerFixture) {
    let owner = consumer("forged");
    let taken = acquire(fixture.leases.as_ref(), &owner, 0).await.token();
    let checkpoint = consumer("forged#0");
    for token in [Fence::MAX_TOKEN + 1, u64::MAX >> 1, u64::MAX] {
        let forged = Fence::new(owner.clone(), 0, token);
        let advanced = fixture
            .checkpoints
            .advance(&checkpoint, 5, Some(&forged))
            .await;
        assert_invalid(advanced, token, "a checkpoint advance");
        let saved = fixture
            .projections
            .save_fenced(&fenced_projection(1), &forged)
            .await;
        assert_invalid(saved, token, "a projection save");
    }
    let loaded = fixture.checkpoints.load(&checkpoint).await;
    assert_eq!(loaded.unwrap_or_else(|e| panic!("{e}")), None);
    let stored: Option<Projection<Value, Value>> = fixture
        .projections
        .locate_stored("fenced", &fenced_projection(1).source)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(stored, None, "a refused save writes nothing");

    let lease = acquire(fixture.leases.as_ref(), &owner, 0).await;
    assert!(lease.token() > taken, "{} after {taken}", lease.token());
    let fence = lease.fence();
    let advanced = fixture.checkpoints.advance(&checkpoint, 5, Some(&fence));
    assert!(advanced.await.unwrap_or_else(|e| panic!("{e}")));
    let projection = fenced_projection(2);
    let saved = fixture.projections.save_fenced(&projection, &fence).await;
    saved.unwrap_or_else(|e| panic!("{e}"));
}

fn assert_invalid<T: std::fmt::Debug>(result: eventblocks_core::Result<T>, token: u64, what: &str) {
    assert!(
        matches!(result, Err(Error::InvalidInput { .. })),
        "{what} under the made-up token {token}: {result:?}"
    );
}

/// Takes the lease, waiting for a released one to become free (a backend may
/// take a moment to notice a released holder).
async fn acquire(leases: &dyn Leases, owner: &Name, partition: u32) -> Box<dyn Lease> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let taken = leases.try_acquire(owner, partition).await;
        if let Some(lease) = taken.unwrap_or_else(|e| panic!("taking a lease: {e}")) {
            return lease;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the lease never became free"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An instance stalls inside a handler; its lease is taken away and another
/// instance takes the partition over and applies later events; then the
/// stalled instance goes on. It must change nothing, and apply nothing more:
/// every event is applied exactly once and the read model holds the new
/// holder's tallies.
pub async fn a_stalled_instance_that_lost_its_lease_changes_nothing(fixture: RunnerFixture) {
    let mut expected = HashMap::new();
    let streams: Vec<String> = (0..6).map(|index| format!("s{}", index % 3)).collect();
    let first = publish_to(&fixture.events, &streams, &mut expected).await;
    // The third event: two are applied (and checkpointed) before the stall.
    let stall_at = first[2].sequence_number;
    let stall = Gate::closed(move |event| event.sequence_number == stall_at);
    // Whatever the stalled instance would apply after it: held, so that a
    // stale write it made stays in the read model for the test to see.
    let after = Gate::closed(move |event| event.sequence_number > stall_at);
    let _unblock = (stall.opened_on_drop(), after.opened_on_drop());
    let stalled = Arc::new(runner(&fixture, Tally::gated(&[&stall, &after])));
    let stalled_task = tokio::spawn({
        let (stalled, leases) = (stalled.clone(), fixture.leases.clone());
        async move { stalled.run_partitioned(1, leases).await }
    });
    stall.until_held(Duration::from_secs(20)).await;
    (fixture.revoke)(consumer(Tally::default().name()), 0).await;

    let taker = Arc::new(runner(&fixture, Tally::default()));
    let taker_task = tokio::spawn({
        let (taker, leases) = (taker.clone(), fixture.leases.clone());
        async move { taker.run_partitioned(1, leases).await }
    });
    let last = publish(&fixture.events, 3, 6, &mut expected).await;
    wait(&taker, last, "the new holder never caught up").await;

    stall.open();
    stall.until_passed(Duration::from_secs(10)).await;
    // More events for the new holder, which applies them to whatever the
    // stalled instance may have written meanwhile.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let last = publish(&fixture.events, 3, 3, &mut expected).await;
    wait(&taker, last, "the new holder stopped").await;
    assert_eq!(
        read_model(&fixture.projections).await,
        expected,
        "the stale holder changed the read model"
    );
    assert_eq!(after.held(), 0, "the stale holder applied another event");
    assert!(
        !stalled_task.is_finished(),
        "a fenced instance stops quietly"
    );
    assert!(!taker_task.is_finished(), "the new holder runs on");
    stalled_task.abort();
    taker_task.abort();
}

async fn wait(runner: &ProjectionRunner<Tally>, sequence_number: u64, what: &str) {
    runner
        .wait_until(sequence_number, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("{what}: {e}"));
}
