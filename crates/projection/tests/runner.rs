//! The projection runner on the in-memory stores.

use std::sync::Arc;

use eventblocks_core::EventStore;
use eventblocks_memory::{MemoryAdapter, MemoryCheckpointStore, MemoryLeases};
use eventblocks_projection::{MemoryProjectionStore, ProjectionStore};
use eventblocks_testkit::runner::RunnerFixture;

async fn fixture() -> RunnerFixture {
    RunnerFixture {
        events: EventStore::new(MemoryAdapter::new()),
        projections: ProjectionStore::new(MemoryProjectionStore::new()),
        checkpoints: Arc::new(MemoryCheckpointStore::new()),
        leases: Arc::new(MemoryLeases::new()),
    }
}

eventblocks_testkit::runner_suite!(fixture);
