//! The projection runner on PostgreSQL: events, projections, checkpoints and
//! leases all in one fresh schema per case.

mod common;

use std::sync::Arc;

use eventblocks_core::{async_trait, CheckpointStore, EventStore, Fence, Name, Result};
use eventblocks_postgres::{PostgresCheckpointStore, PostgresLeases, PostgresProjectionStore};
use eventblocks_projection::ProjectionStore;
use eventblocks_testkit::runner::RunnerFixture;
use futures::FutureExt;

/// Checkpoints that keep the test's schema alive until the fixture is dropped.
#[derive(Debug)]
struct SchemaCheckpoints {
    checkpoints: PostgresCheckpointStore,
    _schema: common::TestAdapter,
}

#[async_trait]
impl CheckpointStore for SchemaCheckpoints {
    async fn load(&self, consumer: &Name) -> Result<Option<u64>> {
        self.checkpoints.load(consumer).await
    }

    async fn advance(
        &self,
        consumer: &Name,
        sequence_number: u64,
        fence: Option<&Fence>,
    ) -> Result<bool> {
        self.checkpoints
            .advance(consumer, sequence_number, fence)
            .await
    }
}

async fn fixture() -> RunnerFixture {
    let test = common::adapter_with(|builder| builder.pool_size(16)).await;
    let adapter = test.adapter.clone();
    let revoking = adapter.clone();
    RunnerFixture {
        events: EventStore::new(adapter.clone()),
        projections: ProjectionStore::new(PostgresProjectionStore::new(&adapter)),
        checkpoints: Arc::new(SchemaCheckpoints {
            checkpoints: PostgresCheckpointStore::new(&adapter),
            _schema: test,
        }),
        leases: Arc::new(PostgresLeases::new(&adapter)),
        revoke: Arc::new(move |consumer, partition| {
            let adapter = revoking.clone();
            async move { common::end_lease_session(&adapter, &consumer, partition).await }.boxed()
        }),
    }
}

eventblocks_testkit::runner_suite!(fixture);
