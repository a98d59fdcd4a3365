//! The in-memory projection store against the projection-store suite.

use eventblocks_memory::MemoryProjectionStore;
use eventblocks_projection::ProjectionStore;

eventblocks_testkit::projection_store_suite!(|| async {
    ProjectionStore::new(MemoryProjectionStore::new())
});
