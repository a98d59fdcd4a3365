//! Consumer checkpoints in the file, and exactly-once units: an effect and
//! its checkpoint in one SQLite transaction.

use async_trait::async_trait;
use eventblocks_core::{CheckpointStore, Fence, Name, Result, WriteOutcome};
use rusqlite::{params, Connection, OptionalExtension};

use crate::adapter::SqliteAdapter;
use crate::fence;
use crate::row::{from_sql, to_sql};

fn failed(what: &'static str) -> impl Fn(rusqlite::Error) -> eventblocks_core::Error {
    move |error| crate::error::database(error, what, WriteOutcome::NotWritten)
}

/// A [`CheckpointStore`] in the adapter's file; clones share it.
///
/// Advances, fence checks and exactly-once units run on the adapter's writer
/// thread, each in its write transaction: the fence check and the write it
/// guards are atomic across every process sharing the file.
#[derive(Debug, Clone)]
pub struct SqliteCheckpointStore {
    adapter: SqliteAdapter,
}

impl SqliteCheckpointStore {
    /// The checkpoint store of `adapter`'s file (its schema comes with
    /// [`SqliteAdapter::migrate`]).
    pub fn new(adapter: &SqliteAdapter) -> Self {
        Self {
            adapter: adapter.clone(),
        }
    }

    /// Runs `effect` for the event at `sequence_number` and moves `consumer`'s
    /// checkpoint to it, in one SQLite transaction, unless the checkpoint is
    /// already there (a redelivery: `effect` does not run). With a `fence`,
    /// nothing runs if a newer lease holder exists. Returns whether the effect
    /// ran.
    ///
    /// `effect` runs on the adapter's writer thread, inside the transaction
    /// (the [`Unit`] it is given): keep it short, and write only through the
    /// unit. If it fails (or panics), everything it did is rolled back and the
    /// checkpoint does not move. Dropping the returned future never stops it
    /// half-way: the unit commits whole or not at all.
    ///
    /// ```
    /// # use eventblocks_core::{Error, Name};
    /// # use eventblocks_sqlite::{SqliteAdapter, SqliteCheckpointStore};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let adapter = SqliteAdapter::open(dir.path().join("events.db")).await?;
    /// adapter.migrate().await?;
    /// let checkpoints = SqliteCheckpointStore::new(&adapter);
    /// let consumer = Name::new("consumer", "mailer")?;
    /// for _delivery in 0..2 {
    ///     checkpoints
    ///         .apply_once(&consumer, 7, None, |unit| {
    ///             unit.connection()
    ///                 .execute_batch(
    ///                     "CREATE TABLE IF NOT EXISTS sent (n INTEGER); INSERT INTO sent VALUES (7);",
    ///                 )
    ///                 .map_err(|error| Error::backend("sending", error))
    ///         })
    ///         .await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Fenced`](eventblocks_core::Error::Fenced) for a stale fence;
    /// the effect's error; backend failures.
    pub async fn apply_once<F>(
        &self,
        consumer: &Name,
        sequence_number: u64,
        fence: Option<&Fence>,
        effect: F,
    ) -> Result<bool>
    where
        F: FnOnce(&Unit<'_>) -> Result<()> + Send + 'static,
    {
        let consumer = consumer.clone();
        let sequence = to_sql("sequence_number", sequence_number)?;
        let fence = fence.cloned();
        self.adapter
            .shared
            .writer
            .run("applying an effect once", move |connection| {
                fence::admit(connection, fence.as_ref())?;
                if load(connection, &consumer)?.is_some_and(|done| done >= sequence_number) {
                    return Ok(false);
                }
                effect(&Unit { connection })?;
                advance(connection, &consumer, sequence)?;
                Ok(true)
            })
            .await
    }
}

/// The transaction of an exactly-once effect; see
/// [`SqliteCheckpointStore::apply_once`].
#[derive(Debug)]
pub struct Unit<'a> {
    pub(crate) connection: &'a Connection,
}

impl Unit<'_> {
    /// The connection, inside the unit's transaction: run the effect's SQL on
    /// it (do not commit or roll back yourself).
    pub fn connection(&self) -> &Connection {
        self.connection
    }
}

fn load(connection: &Connection, consumer: &Name) -> Result<Option<u64>> {
    let done: Option<i64> = connection
        .prepare_cached("SELECT sequence_number FROM eventblocks_checkpoints WHERE consumer = ?1")
        .and_then(|mut statement| {
            statement
                .query_row([consumer.as_str()], |row| row.get(0))
                .optional()
        })
        .map_err(failed("loading a checkpoint"))?;
    done.map(|done| from_sql("checkpoint", done)).transpose()
}

/// Moves the checkpoint forwards; whether it moved.
fn advance(connection: &Connection, consumer: &Name, sequence: i64) -> Result<bool> {
    let changed = connection
        .prepare_cached(
            "INSERT INTO eventblocks_checkpoints (consumer, sequence_number) VALUES (?1, ?2)
             ON CONFLICT (consumer) DO UPDATE SET sequence_number = excluded.sequence_number
             WHERE excluded.sequence_number > sequence_number",
        )
        .and_then(|mut statement| statement.execute(params![consumer.as_str(), sequence]))
        .map_err(failed("advancing a checkpoint"))?;
    Ok(changed > 0)
}

#[async_trait]
impl CheckpointStore for SqliteCheckpointStore {
    async fn load(&self, consumer: &Name) -> Result<Option<u64>> {
        let consumer = consumer.clone();
        self.adapter
            .shared
            .readers
            .run("loading a checkpoint", move |connection| {
                load(connection, &consumer)
            })
            .await
    }

    async fn advance(
        &self,
        consumer: &Name,
        sequence_number: u64,
        fence: Option<&Fence>,
    ) -> Result<bool> {
        // Moving a checkpoint is a unit with no effect.
        self.apply_once(consumer, sequence_number, fence, |_| Ok(()))
            .await
    }
}
