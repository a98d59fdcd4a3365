//! The projection runner on the in-memory stores.

use std::sync::Arc;

use eventblocks_core::EventStore;
use eventblocks_memory::{
    MemoryAdapter, MemoryCheckpointStore, MemoryLeases, MemoryProjectionStore,
};
use eventblocks_projection::ProjectionStore;
use eventblocks_testkit::projection::runner::RunnerFixture;
use futures::FutureExt;

async fn fixture() -> RunnerFixture {
    let leases = MemoryLeases::new();
    RunnerFixture {
        events: EventStore::new(MemoryAdapter::new()),
        projections: ProjectionStore::new(MemoryProjectionStore::new()),
        checkpoints: Arc::new(MemoryCheckpointStore::new()),
        leases: Arc::new(leases.clone()),
        revoke: Arc::new(move |consumer, partition| {
            leases.revoke(&consumer, partition);
            async {}.boxed()
        }),
    }
}

eventblocks_testkit::runner_suite!(fixture);
