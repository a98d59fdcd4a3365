//! Runnable examples of eventblocks; see the `[[example]]` entries of this
//! package: `cargo run --example quickstart`.
//!
//! What the examples share: the stores they run on, in memory, or on
//! PostgreSQL when run with `--postgres`.

use std::sync::Arc;

use eventblocks_core::{BoxError, CheckpointStore, EventStore};
use eventblocks_memory::{MemoryAdapter, MemoryCheckpointStore, MemoryProjectionStore};
use eventblocks_postgres::{PostgresAdapter, PostgresCheckpointStore, PostgresProjectionStore};
use eventblocks_projection::ProjectionStore;

/// An event store, and the projection and checkpoint stores of the same
/// backend.
pub type Stores = (EventStore, ProjectionStore, Arc<dyn CheckpointStore>);

/// Fresh in-memory stores; or, when the program was given `--postgres`, the
/// stores of PostgreSQL at `DATABASE_URL` (default
/// `postgres://postgres@localhost:5432/postgres`) in the schema
/// `eventblocks_example_{example}`, migrated (created on the first run).
///
/// # Errors
/// A bad `DATABASE_URL`, or PostgreSQL unreachable or refusing to migrate.
pub async fn stores(example: &str) -> Result<Stores, BoxError> {
    if !std::env::args().any(|arg| arg == "--postgres") {
        return Ok((
            EventStore::new(MemoryAdapter::new()),
            ProjectionStore::new(MemoryProjectionStore::new()),
            Arc::new(MemoryCheckpointStore::new()),
        ));
    }
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".to_owned());
    let adapter = PostgresAdapter::builder()
        .url(url)
        .schema(format!("eventblocks_example_{example}"))
        .build()?;
    adapter.migrate().await?;
    Ok((
        EventStore::new(adapter.clone()),
        ProjectionStore::new(PostgresProjectionStore::new(&adapter)),
        Arc::new(PostgresCheckpointStore::new(&adapter)),
    ))
}
