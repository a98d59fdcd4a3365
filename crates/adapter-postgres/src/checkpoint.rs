//! Durable consumer checkpoints, fenced when written under a lease.

use std::fmt;

use async_trait::async_trait;
use eventblocks_core::{CheckpointStore, Error, Fence, Name, Result, WriteOutcome};

use crate::adapter::PostgresAdapter;
use crate::error;
use crate::fence::FenceParameters;
use crate::statements::Statements;

/// Checkpoints in the table `<table>_checkpoints` beside the adapter's events,
/// which [`PostgresAdapter::migrate`] creates.
///
/// A checkpoint advanced under a lease's [`Fence`] is checked against the
/// partition's newest token in the table `<table>_fences` in the same
/// statement; [`PostgresLeases`](crate::PostgresLeases) raises that token when
/// a lease is taken, so a holder that lost its lease is refused from the
/// moment another takes it.
///
/// Besides the [`CheckpointStore`] operations, [`PostgresCheckpointStore::begin`]
/// opens a unit of work whose effects commit together with the checkpoint, so
/// a crash between the two cannot happen and a redelivered event is skipped:
///
/// ```no_run
/// # use eventblocks_core::{Name, StoredEvent};
/// # use eventblocks_postgres::PostgresCheckpointStore;
/// # async fn handle(checkpoints: &PostgresCheckpointStore, event: &StoredEvent) -> eventblocks_core::Result<()> {
/// let consumer = Name::new("consumer", "welcome-emails")?;
/// if let Some(unit) = checkpoints.begin(&consumer, event.sequence_number).await? {
///     unit.client()
///         .execute("INSERT INTO app.outbox (event_id) VALUES ($1)", &[&event.id])
///         .await
///         .map_err(|e| eventblocks_core::Error::backend("writing the outbox", e))?;
///     unit.commit().await?;
/// } // else: already processed; nothing to do.
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresCheckpointStore {
    pub(crate) adapter: PostgresAdapter,
}

impl PostgresCheckpointStore {
    /// A store sharing `adapter`'s pool, schema and table names.
    pub fn new(adapter: &PostgresAdapter) -> Self {
        Self {
            adapter: adapter.clone(),
        }
    }

    pub(crate) fn sql(&self) -> &Statements {
        &self.adapter.inner.sql
    }
}

impl fmt::Debug for PostgresCheckpointStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresCheckpointStore")
            .field("schema", &self.adapter.schema())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl CheckpointStore for PostgresCheckpointStore {
    async fn load(&self, consumer: &Name) -> Result<Option<u64>> {
        let client = error::pooled(&self.adapter.inner.pool).await?;
        let row = client
            .query_opt(&self.sql().checkpoints.load, &[&consumer.as_str()])
            .await
            .map_err(|e| error::database(e, "reading a checkpoint", WriteOutcome::NotWritten))?;
        let Some(row) = row else { return Ok(None) };
        let stored: i64 = row.get(0);
        // 0 is the placeholder a unit of work creates before its first commit.
        Ok((stored > 0).then(|| u64::try_from(stored).unwrap_or(0)))
    }

    async fn advance(
        &self,
        consumer: &Name,
        sequence_number: u64,
        fence: Option<&Fence>,
    ) -> Result<bool> {
        let sequence_number = position(sequence_number)?;
        let fenced = FenceParameters::new(fence)?;
        let [fence_consumer, partition, token] = fenced.parameters();
        let client = error::pooled(&self.adapter.inner.pool).await?;
        let row = client
            .query_one(
                &self.sql().checkpoints.advance,
                &[
                    &consumer.as_str(),
                    &sequence_number,
                    fence_consumer,
                    partition,
                    token,
                ],
            )
            .await
            .map_err(|e| error::database(e, "advancing a checkpoint", WriteOutcome::Unknown))?;
        let (admitted, moved): (bool, bool) = (row.get(0), row.get(1));
        match fence {
            Some(fence) if !admitted => Err(self.sql().fences.refusal(&client, fence).await),
            _ => Ok(moved),
        }
    }
}

/// A sequence number as PostgreSQL stores it.
///
/// # Errors
/// [`Error::InvalidInput`] beyond `i64::MAX`.
pub(crate) fn position(sequence_number: u64) -> Result<i64> {
    i64::try_from(sequence_number)
        .map_err(|_| Error::invalid("sequence_number", "is beyond the range PostgreSQL stores"))
}
