//! The in-memory projection store against the projection-store suite.

use eventblocks_projection::{MemoryProjectionStore, ProjectionStore};

eventblocks_testkit::projection_store_suite!(|| async {
    ProjectionStore::new(MemoryProjectionStore::new())
});
