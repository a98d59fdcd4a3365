//! Exactly-once effects: a consumer's effect and its checkpoint commit in one
//! transaction, under a lease's fence when the consumer is partitioned.

use std::fmt;

use eventblocks_core::{Fence, Name, Result, WriteOutcome};
#[cfg(feature = "projections")]
use eventblocks_projection::{Projection, StoredProjection};
use futures::future::join;
#[cfg(feature = "projections")]
use serde::Serialize;
use tokio_postgres::Client;

use crate::adapter::PostgresAdapter;
use crate::checkpoint::{position, PostgresCheckpointStore};
use crate::error;
use crate::fence::FenceParameters;
#[cfg(feature = "projections")]
use crate::projection::{self, ProjectionParameters};
use crate::session::Session;
use crate::statements::FenceStatements;

impl PostgresCheckpointStore {
    /// Opens a transaction for the effect of the event at `sequence_number` on
    /// `consumer`, or `None` if the consumer's checkpoint is already there (the
    /// event was processed). The checkpoint row stays locked until the unit
    /// ends, so two processes never apply the same consumer's events at once.
    ///
    /// Dropping the returned future, or the unit, at any point closes the
    /// connection unless its transaction is known to have ended: a pooled
    /// connection never goes back to the pool inside a transaction.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn begin(
        &self,
        consumer: &Name,
        sequence_number: u64,
    ) -> Result<Option<ExactlyOnce>> {
        self.open(consumer, sequence_number, None).await
    }

    /// As [`PostgresCheckpointStore::begin`], for a consumer partition held
    /// under a lease: the unit's commit checks `fence` (as its last statement
    /// before `COMMIT`, so a stalled unit does not hold up a takeover) and is
    /// refused with [`Error::Fenced`](eventblocks_core::Error::Fenced) if
    /// another holder has taken the partition since. Units of one checkpoint
    /// still run one at a time (the checkpoint row stays locked): a new
    /// holder's unit waits for a stalled one to end.
    ///
    /// ```no_run
    /// # use eventblocks_core::{Lease, Name, StoredEvent};
    /// # use eventblocks_postgres::PostgresCheckpointStore;
    /// # async fn handle(
    /// #     checkpoints: &PostgresCheckpointStore,
    /// #     lease: &dyn Lease,
    /// #     checkpoint: &Name,
    /// #     event: &StoredEvent,
    /// # ) -> eventblocks_core::Result<()> {
    /// let fence = lease.fence();
    /// if let Some(unit) = checkpoints.begin_fenced(checkpoint, event.sequence_number, &fence).await? {
    ///     // … the effect, on unit.client() …
    ///     match unit.commit().await {
    ///         Err(error) if error.is_fenced() => return Ok(()), // taken over: stop
    ///         committed => committed?,
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// Backend failures.
    pub async fn begin_fenced(
        &self,
        consumer: &Name,
        sequence_number: u64,
        fence: &Fence,
    ) -> Result<Option<ExactlyOnce>> {
        self.open(consumer, sequence_number, Some(fence.clone()))
            .await
    }

    async fn open(
        &self,
        consumer: &Name,
        sequence_number: u64,
        fence: Option<Fence>,
    ) -> Result<Option<ExactlyOnce>> {
        let sequence = position(sequence_number)?;
        FenceParameters::new(fence.as_ref())?;
        let failed = |what| move |e| error::database(e, what, WriteOutcome::NotWritten);
        let client = error::pooled(&self.adapter.inner.pool).await?;
        // Autocommit: dropped here, the connection is in no transaction.
        client
            .execute(&self.sql().checkpoints.claim, &[&consumer.as_str()])
            .await
            .map_err(failed("creating a checkpoint"))?;
        // From `BEGIN` on, the session closes the connection unless it sees
        // the transaction end.
        let session = Session::new(client);
        let (begun, locked) = join(
            session.client().batch_execute("BEGIN"),
            session
                .client()
                .query_one(&self.sql().checkpoints.lock, &[&consumer.as_str()]),
        )
        .await;
        begun.map_err(failed("beginning a unit of work"))?;
        let done: i64 = locked.map_err(failed("locking a checkpoint"))?.get(0);
        if done >= sequence {
            session.roll_back().await;
            return Ok(None);
        }
        Ok(Some(ExactlyOnce {
            session,
            consumer: consumer.clone(),
            sequence_number: sequence,
            fence,
            adapter: self.adapter.clone(),
        }))
    }
}

/// An open transaction whose effects commit with a consumer's checkpoint; see
/// [`PostgresCheckpointStore::begin`]. Dropped without
/// [`commit`](ExactlyOnce::commit), or while committing or rolling back, it
/// closes its connection (which rolls back whatever did not commit).
pub struct ExactlyOnce {
    session: Session,
    consumer: Name,
    sequence_number: i64,
    fence: Option<Fence>,
    adapter: PostgresAdapter,
}

impl ExactlyOnce {
    /// The transaction's connection: run the effect's SQL on it.
    pub fn client(&self) -> &Client {
        self.session.client()
    }

    /// Saves a projection in the unit's transaction (into the projection store
    /// of the same adapter, see [`crate::PostgresProjectionStore`]), replacing
    /// the projection of its name and source.
    ///
    /// # Errors
    /// [`Error::InvalidInput`](eventblocks_core::Error::InvalidInput) if the
    /// projection cannot be stored, or its id names another source's
    /// projection (the unit's transaction is then aborted); backend failures.
    #[cfg(feature = "projections")]
    pub async fn save_projection<State: Serialize, Metadata: Serialize>(
        &self,
        projection: &Projection<State, Metadata>,
    ) -> Result<()> {
        let stored: StoredProjection = projection.to_stored()?;
        let saved = ProjectionParameters::new(&stored)?;
        // The unit's fence is checked at commit, for all its writes at once.
        let unfenced = FenceParameters::NONE;
        self.client()
            .execute(
                &self.adapter.inner.sql.projections.save,
                &saved.with(&unfenced),
            )
            .await
            .map_err(|e| {
                let key = projection::primary_key(&self.adapter.inner.names);
                projection::save_failed(e, &key)
            })?;
        Ok(())
    }

    /// Advances the checkpoint, checks the fence (if the unit has one) and
    /// commits the effects with them.
    ///
    /// # Errors
    /// [`Error::Fenced`](eventblocks_core::Error::Fenced) if the unit's lease
    /// was taken over (nothing is committed); backend failures;
    /// [`Error::Unavailable`](eventblocks_core::Error::Unavailable) with an
    /// unknown outcome if the connection broke during `COMMIT`.
    pub async fn commit(self) -> Result<()> {
        let Self {
            session,
            consumer,
            sequence_number,
            fence,
            adapter,
        } = self;
        let sql = &adapter.inner.sql;
        // Dropped at any await below, `session` closes the connection.
        let [no_consumer, no_partition, no_token] = FenceParameters::NONE.parameters();
        session
            .client()
            .query_one(
                &sql.checkpoints.advance,
                &[
                    &consumer.as_str(),
                    &sequence_number,
                    no_consumer,
                    no_partition,
                    no_token,
                ],
            )
            .await
            .map_err(|e| error::database(e, "advancing a checkpoint", WriteOutcome::NotWritten))?;
        if let Some(fence) = &fence {
            if let Err(refused) = check_fence(&session, &sql.fences, fence).await {
                session.roll_back().await;
                return Err(refused);
            }
        }
        session
            .end("COMMIT")
            .await
            .map_err(|e| error::database(e, "committing a unit of work", WriteOutcome::Unknown))
    }

    /// Abandons the effects.
    ///
    /// # Errors
    /// Backend failures (the connection is then closed, which also rolls back).
    pub async fn rollback(self) -> Result<()> {
        self.session
            .end("ROLLBACK")
            .await
            .map_err(|e| error::database(e, "rolling back", WriteOutcome::NotWritten))
    }
}

/// The last statement before `COMMIT`: admits the unit under `fence`, or
/// refuses it. The fence row stays locked until the commit, so a takeover
/// waits for a unit already admitted.
async fn check_fence(session: &Session, sql: &FenceStatements, fence: &Fence) -> Result<()> {
    let fenced = FenceParameters::new(Some(fence))?;
    let admitted = session
        .client()
        .query_opt(&sql.check, &fenced.parameters())
        .await
        .map_err(|e| error::database(e, "checking a fence", WriteOutcome::NotWritten))?;
    if admitted.is_some() {
        return Ok(());
    }
    // Read in the unit's transaction, before it ends: a new statement sees
    // the takeover's token.
    Err(sql.refusal(session.client(), fence).await)
}

impl fmt::Debug for ExactlyOnce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExactlyOnce")
            .field("consumer", &self.consumer)
            .field("sequence_number", &self.sequence_number)
            .field("fence", &self.fence)
            .finish_non_exhaustive()
    }
}
