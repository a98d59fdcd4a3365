//! Durable consumer checkpoints, and exactly-once effects: a consumer's effect
//! and its checkpoint commit in one transaction.

use std::fmt;

use async_trait::async_trait;
use deadpool_postgres::Object;
use eventblocks_core::{CheckpointStore, Error, Name, Result, WriteOutcome};
use eventblocks_projection::{Projection, StoredProjection};
use serde::Serialize;
use tokio_postgres::Client;
use tracing::debug;

use crate::adapter::PostgresAdapter;
use crate::error;

/// Checkpoints in the table `<table>_checkpoints` beside the adapter's events,
/// which [`PostgresAdapter::migrate`] creates.
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
    adapter: PostgresAdapter,
    load: String,
    advance: String,
    claim: String,
    lock: String,
    projection_save: String,
}

impl PostgresCheckpointStore {
    /// A store sharing `adapter`'s pool, schema and table names.
    pub fn new(adapter: &PostgresAdapter) -> Self {
        let names = &adapter.inner.names;
        Self {
            adapter: adapter.clone(),
            load: names.render("SELECT sequence_number FROM {checkpoints} WHERE consumer = $1"),
            advance: names.render(
                "INSERT INTO {checkpoints} (consumer, sequence_number) VALUES ($1, $2)
                 ON CONFLICT (consumer) DO UPDATE
                    SET sequence_number = EXCLUDED.sequence_number, updated_at = now()
                  WHERE {checkpoints}.sequence_number < EXCLUDED.sequence_number",
            ),
            claim: names.render(
                "INSERT INTO {checkpoints} (consumer, sequence_number) VALUES ($1, 0)
                 ON CONFLICT (consumer) DO NOTHING;",
            ),
            lock: names
                .render("SELECT sequence_number FROM {checkpoints} WHERE consumer = $1 FOR UPDATE"),
            projection_save: names.render(include_str!("../sql/projection_save.sql")),
        }
    }

    /// Opens a transaction for the effect of the event at `sequence_number` on
    /// `consumer`, or `None` if the consumer's checkpoint is already there (the
    /// event was processed). The checkpoint row stays locked until the unit
    /// ends, so two processes never apply the same consumer's events at once.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn begin(
        &self,
        consumer: &Name,
        sequence_number: u64,
    ) -> Result<Option<ExactlyOnce>> {
        let sequence = position(sequence_number)?;
        let client = self.adapter.inner.pool.get().await.map_err(error::pool)?;
        let failed = |what| move |e| error::database(e, what, WriteOutcome::NotWritten);
        client
            .execute(&self.claim, &[&consumer.as_str()])
            .await
            .map_err(failed("creating a checkpoint"))?;
        client
            .batch_execute("BEGIN")
            .await
            .map_err(failed("beginning a unit of work"))?;
        let unit = ExactlyOnce {
            client: Some(client),
            consumer: consumer.clone(),
            sequence_number: sequence,
            advance: self.advance.clone(),
            projection_save: self.projection_save.clone(),
        };
        // On error the unit is dropped, which closes its connection.
        let row = unit
            .client()
            .query_one(&self.lock, &[&consumer.as_str()])
            .await
            .map_err(failed("locking a checkpoint"))?;
        let done: i64 = row.get(0);
        if done >= sequence {
            unit.rollback().await?;
            return Ok(None);
        }
        Ok(Some(unit))
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
        let client = self.adapter.inner.pool.get().await.map_err(error::pool)?;
        let row = client
            .query_opt(&self.load, &[&consumer.as_str()])
            .await
            .map_err(|e| error::database(e, "reading a checkpoint", WriteOutcome::NotWritten))?;
        let Some(row) = row else { return Ok(None) };
        let stored: i64 = row.get(0);
        // 0 is the placeholder a unit of work creates before its first commit.
        Ok((stored > 0).then(|| u64::try_from(stored).unwrap_or(0)))
    }

    async fn advance(&self, consumer: &Name, sequence_number: u64) -> Result<bool> {
        let client = self.adapter.inner.pool.get().await.map_err(error::pool)?;
        let moved = client
            .execute(
                &self.advance,
                &[&consumer.as_str(), &position(sequence_number)?],
            )
            .await
            .map_err(|e| error::database(e, "advancing a checkpoint", WriteOutcome::Unknown))?;
        Ok(moved == 1)
    }
}

/// An open transaction whose effects commit with a consumer's checkpoint; see
/// [`PostgresCheckpointStore::begin`]. Dropped without
/// [`commit`](ExactlyOnce::commit), it rolls back (its connection is closed).
pub struct ExactlyOnce {
    client: Option<Object>,
    consumer: Name,
    sequence_number: i64,
    advance: String,
    projection_save: String,
}

impl ExactlyOnce {
    /// The transaction's connection: run the effect's SQL on it.
    pub fn client(&self) -> &Client {
        self.client
            .as_ref()
            .map(|object| &***object)
            .unwrap_or_else(|| unreachable!("a unit's client is only taken when it ends"))
    }

    /// Saves a projection in the unit's transaction (into the projection store
    /// of the same adapter, see [`crate::PostgresProjectionStore`]).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the projection cannot be stored; backend
    /// failures.
    pub async fn save_projection<State: Serialize, Metadata: Serialize>(
        &self,
        projection: &Projection<State, Metadata>,
    ) -> Result<()> {
        let stored: StoredProjection = projection.to_stored()?;
        let source = serde_json::to_value(&stored.source)
            .map_err(|e| Error::invalid("projection source", e.to_string()))?;
        self.client()
            .execute(
                &self.projection_save,
                &[
                    &stored.name,
                    &stored.id,
                    &source,
                    &stored.state,
                    &stored.metadata,
                ],
            )
            .await
            .map_err(|e| error::database(e, "saving a projection", WriteOutcome::NotWritten))?;
        Ok(())
    }

    /// Advances the checkpoint and commits the effects with it.
    ///
    /// # Errors
    /// Backend failures; [`Error::Unavailable`] with an unknown outcome if the
    /// connection broke during `COMMIT`.
    pub async fn commit(mut self) -> Result<()> {
        let client = self.client.take().unwrap_or_else(|| unreachable!());
        let advanced = client
            .execute(
                &self.advance,
                &[&self.consumer.as_str(), &self.sequence_number],
            )
            .await;
        if let Err(e) = advanced {
            discard(client);
            return Err(error::database(
                e,
                "advancing a checkpoint",
                WriteOutcome::NotWritten,
            ));
        }
        if let Err(e) = client.batch_execute("COMMIT").await {
            discard(client);
            return Err(error::database(
                e,
                "committing a unit of work",
                WriteOutcome::Unknown,
            ));
        }
        Ok(())
    }

    /// Abandons the effects.
    ///
    /// # Errors
    /// Backend failures (the connection is then closed, which also rolls back).
    pub async fn rollback(mut self) -> Result<()> {
        let client = self.client.take().unwrap_or_else(|| unreachable!());
        if let Err(e) = client.batch_execute("ROLLBACK").await {
            discard(client);
            return Err(error::database(e, "rolling back", WriteOutcome::NotWritten));
        }
        Ok(())
    }
}

impl Drop for ExactlyOnce {
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            debug!(consumer = %self.consumer, "a unit of work ended without commit; closing its connection");
            discard(client);
        }
    }
}

impl fmt::Debug for ExactlyOnce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExactlyOnce")
            .field("consumer", &self.consumer)
            .field("sequence_number", &self.sequence_number)
            .finish_non_exhaustive()
    }
}

/// Closes a connection instead of returning it to the pool: closing rolls back
/// any open transaction, and a pooled connection must never go back inside one.
fn discard(client: Object) {
    drop(Object::take(client));
}

fn position(sequence_number: u64) -> Result<i64> {
    i64::try_from(sequence_number)
        .map_err(|_| Error::invalid("sequence_number", "is beyond the range PostgreSQL stores"))
}
