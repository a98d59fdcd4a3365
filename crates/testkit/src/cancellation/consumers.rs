//! The harness's cases for consumers: checkpoints, leases, projections and
//! the runner.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{
    CheckpointStore, EventSourceIdentifier, Lease, ScanQuery, StoredEvent, StreamIdentifier,
};
use eventblocks_projection::query::{Field, Filter, Operator, Search};
use eventblocks_projection::{ProjectionRunner, Projector};
use futures::TryStreamExt;

use super::cases::{check_reads_after, promptly, MAX_POLLS};
use super::{assert_nothing_held, drop_after_polls, CancellationFixture, Ending};
use crate::projection::runner::{consumer, publish, read_model, runner, Tally};

/// A checkpoint advance dropped after every number of polls, with and
/// without a fence, leaves nothing held and moves the checkpoint at most
/// once: afterwards it is either where it was or where it was sent, and an
/// advance that returned is durable.
pub async fn a_dropped_checkpoint_advance_moves_it_at_most_once(fixture: CancellationFixture) {
    let checkpoints = &fixture.stores.checkpoints;
    // A fence stays valid until the partition is taken again; the lease
    // itself (an idle session holding a lock, on PostgreSQL) is let go.
    let fence = acquire(&fixture, "cancelled-checkpoints", 0).await.fence();
    for fenced in [None, Some(&fence)] {
        let name = consumer(if fenced.is_some() {
            "fenced"
        } else {
            "unfenced"
        });
        let mut position = 0;
        for polls in 1..=MAX_POLLS {
            let before = load(checkpoints.as_ref(), &name).await;
            position += 10;
            let advance = checkpoints.advance(&name, position, fenced);
            let ending = drop_after_polls(advance, polls).await;
            let how = format!("a checkpoint advance dropped after {polls} polls");
            assert_nothing_held(&*fixture.leftovers, &how).await;
            // Seen through other sessions: a returned advance is durable there.
            let after = load(fixture.observed.checkpoints.as_ref(), &name).await;
            assert!(
                after == before || after == Some(position),
                "after {how} the checkpoint is {after:?}; it was {before:?} and was sent {position}"
            );
            if let Ending::Completed(moved) = ending {
                let moved = moved.unwrap_or_else(|error| panic!("an advance failed: {error}"));
                assert!(moved, "the advance moved the checkpoint");
                assert_eq!(after, Some(position), "a returned advance is durable");
                break;
            }
        }
    }
}

/// A lease acquisition dropped after every number of polls leaves nothing
/// held and the partition free; a released lease frees it at once.
pub async fn a_dropped_lease_acquisition_leaves_the_partition_free(fixture: CancellationFixture) {
    let leases = &fixture.stores.leases;
    let name = consumer("cancelled-leases");
    for polls in 1..=MAX_POLLS {
        let ending = drop_after_polls(leases.try_acquire(&name, 3), polls).await;
        let how = format!("a lease acquisition dropped after {polls} polls");
        // The lease, if taken, is released when dropped here.
        let completed = matches!(ending, Ending::Completed(Ok(Some(_))));
        drop(ending);
        assert_nothing_held(&*fixture.leftovers, &how).await;
        let again = acquire(&fixture, "cancelled-leases", 3).await;
        drop(again);
        if completed {
            return;
        }
    }
    panic!("a lease acquisition never completed within {MAX_POLLS} polls");
}

/// Takes the lease on `partition`, waiting a little for a released one's
/// holder to let go; fails the case if it stays taken.
async fn acquire(
    fixture: &CancellationFixture,
    consumer_name: &str,
    partition: u32,
) -> Box<dyn Lease> {
    let name = consumer(consumer_name);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let taken = promptly(
            "taking a lease",
            fixture.stores.leases.try_acquire(&name, partition),
        )
        .await
        .unwrap_or_else(|error| panic!("taking a lease failed: {error}"));
        if let Some(lease) = taken {
            return lease;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "partition {partition} of {consumer_name} stayed taken after its holder was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn load(checkpoints: &dyn CheckpointStore, name: &eventblocks_core::Name) -> Option<u64> {
    promptly("loading a checkpoint", checkpoints.load(name))
        .await
        .unwrap_or_else(|error| panic!("loading a checkpoint failed: {error}"))
}

/// A projection save (with and without a fence) and a search, dropped after
/// every number of polls, leave nothing held and exactly one projection of the
/// source, holding the old state or the new.
pub async fn a_dropped_projection_save_or_search_leaves_one_projection(
    fixture: CancellationFixture,
) {
    let projections = &fixture.stores.projections;
    let fence = acquire(&fixture, "cancelled-projections", 0).await.fence();
    let source: EventSourceIdentifier = StreamIdentifier::new("tallied", "saved")
        .unwrap_or_else(|error| panic!("{error}"))
        .into();
    let mut projection = Tally::default().initial(source.clone());
    for fenced in [None, Some(&fence)] {
        for polls in 1..=MAX_POLLS {
            let before = projection.state.count;
            projection.state.count += 1;
            let save = async {
                match fenced {
                    Some(fence) => projections.save_fenced(&projection, fence).await,
                    None => projections.save(&projection).await,
                }
            };
            let ending = drop_after_polls(save, polls).await;
            let how = format!("a projection save dropped after {polls} polls");
            assert_nothing_held(&*fixture.leftovers, &how).await;
            let stored = stored_counts(&fixture).await;
            assert!(
                stored.len() <= 1,
                "after {how}: {} projections of one source",
                stored.len()
            );
            // Nothing stored yet counts as the state before the first save.
            let count = stored.first().copied().unwrap_or(0);
            assert!(
                count == before || count == projection.state.count,
                "after {how}"
            );
            if let Ending::Completed(saved) = ending {
                saved.unwrap_or_else(|error| panic!("a save failed: {error}"));
                assert_eq!(count, projection.state.count, "a returned save is durable");
                break;
            }
            projection.state.count = count;
        }
    }
    for polls in 1..=MAX_POLLS {
        let ending = drop_after_polls(projections.search_stored(&tally_search()), polls).await;
        let how = format!("a projection search dropped after {polls} polls");
        assert_nothing_held(&*fixture.leftovers, &how).await;
        if let Ending::Completed(page) = ending {
            let page = page.unwrap_or_else(|error| panic!("a search failed: {error}"));
            assert_eq!(page.projections.len(), 1);
            return;
        }
    }
}

fn tally_search() -> Search {
    let name = Filter::new(Field::Name, Operator::Equal, "tally");
    Search::new().filter(name)
}

/// The counts of every stored tally projection.
async fn stored_counts(fixture: &CancellationFixture) -> Vec<u64> {
    let page = promptly(
        "a search",
        fixture.observed.projections.search_stored(&tally_search()),
    )
    .await
    .unwrap_or_else(|error| panic!("a search failed: {error}"));
    page.projections
        .iter()
        .map(|projection| projection.state["count"].as_u64().unwrap_or_default())
        .collect()
}

/// A runner whose step or whole run is dropped after every number of polls,
/// then run again, ends with the exact read model: no event lost, none
/// applied twice, nothing held.
pub async fn a_runner_dropped_at_any_point_converges_exactly(fixture: CancellationFixture) {
    let mut expected = HashMap::new();
    let events = &fixture.stores.events;
    let last = publish(events, 3, 12, &mut expected).await;
    let runner = Arc::new(runner(&fixture.stores, Tally::default()));
    for polls in 1..=MAX_POLLS {
        let ending = drop_after_polls(runner.run(), polls).await;
        assert!(
            matches!(ending, Ending::Dropped),
            "a runner's run never ends by itself: {ending:?}"
        );
        check_reads_after(
            &*fixture.leftovers,
            &probe_stream(&fixture),
            &format!("a run dropped after {polls} polls"),
        )
        .await;
        if runner
            .wait_until(last, Duration::from_millis(1))
            .await
            .is_ok()
        {
            break;
        }
    }
    finish(&runner, last).await;
    assert_eq!(
        read_model(&fixture.stores.projections).await,
        expected,
        "after dropped runs"
    );
    let step_runner = runner_for_steps(&fixture);
    let more = publish(events, 3, 6, &mut expected).await;
    let category = eventblocks_core::CategoryIdentifier::new("tallied")
        .unwrap_or_else(|error| panic!("{error}"));
    let events_to_apply: Vec<StoredEvent> = events
        .scan(category, ScanQuery::new().after(last))
        .try_collect()
        .await
        .unwrap_or_else(|error| panic!("a scan failed: {error}"));
    for event in &events_to_apply {
        for polls in 1..=MAX_POLLS {
            let ending = drop_after_polls(step_runner.process(event), polls).await;
            check_reads_after(
                &*fixture.leftovers,
                &probe_stream(&fixture),
                &format!("a runner step dropped after {polls} polls"),
            )
            .await;
            if let Ending::Completed(result) = ending {
                result.unwrap_or_else(|error| panic!("a step failed: {error}"));
                break;
            }
        }
        // Applying it again changes nothing: it was applied once.
        step_runner
            .process(event)
            .await
            .unwrap_or_else(|error| panic!("a step failed: {error}"));
    }
    assert!(events_to_apply
        .last()
        .is_some_and(|event| event.sequence_number == more));
    assert_eq!(
        read_model(&fixture.stores.projections).await,
        expected,
        "after dropped steps"
    );
}

fn runner_for_steps(fixture: &CancellationFixture) -> ProjectionRunner<Tally> {
    runner(&fixture.stores, Tally::default())
}

fn probe_stream(fixture: &CancellationFixture) -> eventblocks_core::StreamHandle {
    fixture
        .stores
        .events
        .stream("cancelled-probe", "s")
        .unwrap_or_else(|error| panic!("{error}"))
}

/// Runs `runner` until it has applied everything up to `last`.
async fn finish(runner: &Arc<ProjectionRunner<Tally>>, last: u64) {
    let running = tokio::spawn({
        let runner = Arc::clone(runner);
        async move { runner.run().await }
    });
    runner
        .wait_until(last, Duration::from_secs(20))
        .await
        .unwrap_or_else(|error| panic!("the runner never caught up: {error}"));
    running.abort();
}
