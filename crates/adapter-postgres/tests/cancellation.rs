//! The cancellation harness on PostgreSQL: operations dropped at every poll
//! leave no session idle in a transaction or holding a lock, and what returned
//! `Ok` is visible through other connections.

mod common;

use std::sync::Arc;

use eventblocks_core::EventStore;
use eventblocks_postgres::testing::SessionLeftovers;
use eventblocks_postgres::{PostgresAdapter, PostgresCheckpointStore, PostgresProjectionStore};
use eventblocks_projection::ProjectionStore;
use eventblocks_testkit::cancellation::{CancellationFixture, Observed};

async fn fixture() -> CancellationFixture {
    let (stores, schema) = common::runner_fixture(4).await;
    let observer = PostgresAdapter::builder()
        .url(common::database_url())
        .schema(&schema)
        .build()
        .expect("a valid configuration");
    let observed = Observed {
        checkpoints: Arc::new(PostgresCheckpointStore::new(&observer)),
        projections: ProjectionStore::new(PostgresProjectionStore::new(&observer)),
    };
    CancellationFixture {
        stores,
        observer: EventStore::new(observer),
        observed,
        leftovers: Arc::new(
            SessionLeftovers::connect(&common::database_url(), &schema)
                .await
                .expect("connect to DATABASE_URL"),
        ),
    }
}

eventblocks_testkit::cancellation_suite!(fixture);
