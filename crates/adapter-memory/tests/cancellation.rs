//! The cancellation harness on the in-memory adapter and stores.

use std::sync::Arc;

use eventblocks_core::EventStore;
use eventblocks_memory::{
    MemoryAdapter, MemoryCheckpointStore, MemoryLeases, MemoryProjectionStore,
};
use eventblocks_projection::ProjectionStore;
use eventblocks_testkit::cancellation::{CancellationFixture, NothingHeld, Observed};
use eventblocks_testkit::projection::runner::RunnerFixture;
use futures::FutureExt;

eventblocks_testkit::cancellation_suite!(|| async {
    let events = EventStore::new(MemoryAdapter::with_page_size(100));
    let leases = MemoryLeases::new();
    let stores = RunnerFixture {
        events: events.clone(),
        projections: ProjectionStore::new(MemoryProjectionStore::new()),
        checkpoints: Arc::new(MemoryCheckpointStore::new()),
        leases: Arc::new(leases.clone()),
        revoke: Arc::new(move |consumer, partition| {
            leases.revoke(&consumer, partition);
            async {}.boxed()
        }),
    };
    let observed = Observed {
        checkpoints: stores.checkpoints.clone(),
        projections: stores.projections.clone(),
    };
    CancellationFixture {
        stores,
        observer: events,
        observed,
        leftovers: Arc::new(NothingHeld),
    }
});
