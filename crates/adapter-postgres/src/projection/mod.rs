//! The PostgreSQL projection store.

mod bounded;
mod query;
mod save;
mod similarity;

pub(crate) use self::similarity::enable_similarity;

#[cfg(feature = "checkpoints")]
pub(crate) use self::save::{failed as save_failed, primary_key, ProjectionParameters};

use std::fmt;

use async_trait::async_trait;
use eventblocks_core::{Error, Fence, Result, WriteOutcome};
use eventblocks_projection::query::{Filter, Page, Search};
use eventblocks_projection::{ProjectionStorageAdapter, StoredProjection};
use serde_json::Value;
use tokio_postgres::Row;

use self::query::Sql;
use crate::adapter::PostgresAdapter;
use crate::error;
use crate::statements::Statements;

/// Projections in PostgreSQL, in the table `<table>_projections` beside the
/// adapter's events, which [`PostgresAdapter::migrate`] creates.
///
/// A save replaces the projection of its name and source (whatever its id) in
/// one statement; an id already naming another source's projection is refused
/// as invalid input; made under a lease's fence, the same statement checks the
/// partition's token (see [`PostgresCheckpointStore`](crate::PostgresCheckpointStore)).
///
/// Searches become one SQL statement each, with every value and path bound as a
/// parameter. Lookups by name and id or by name and source use indexes; for
/// equality filters on state paths, [`PostgresProjectionStore::create_state_index`]
/// adds a GIN index.
///
/// A sort by similarity ([`Sort::similar_to`](eventblocks_projection::query::Sort::similar_to))
/// calls the `pg_trgm` extension's `similarity()`. [`PostgresAdapter::migrate`]
/// installs the extension where its role may; where it may not (or where the
/// database's `LC_CTYPE` is `C` or `POSIX`, in which `pg_trgm` would read
/// letters beyond ASCII otherwise than the in-memory store), everything else
/// is migrated, a warning is logged, and a similarity search fails with
/// [`Error::Unsupported`] saying how to enable it: run
/// `CREATE EXTENSION pg_trgm` as a role that may, then `migrate()` again.
///
/// A search or count is bounded on the server: it runs in a read-only
/// transaction whose `statement_timeout` is the adapter's
/// [operation timeout](crate::PostgresAdapterBuilder::operation_timeout)
/// (pipelined, so it costs no round trip), the server stops a statement that
/// runs longer, and the call fails with [`Error::Timeout`]. A search or count
/// dropped before it returns is cancelled on the server.
///
/// ```no_run
/// use eventblocks_postgres::{PostgresAdapter, PostgresProjectionStore};
/// use eventblocks_projection::ProjectionStore;
///
/// # async fn example() -> eventblocks_core::Result<()> {
/// let adapter = PostgresAdapter::connect("postgres://postgres@localhost/postgres")?;
/// adapter.migrate().await?;
/// let projections = ProjectionStore::new(PostgresProjectionStore::new(&adapter));
/// # let _ = projections;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresProjectionStore {
    adapter: PostgresAdapter,
}

impl PostgresProjectionStore {
    /// A store sharing `adapter`'s pool, schema and table names.
    pub fn new(adapter: &PostgresAdapter) -> Self {
        Self {
            adapter: adapter.clone(),
        }
    }

    pub(super) fn sql(&self) -> &Statements {
        &self.adapter.inner.sql
    }

    /// Creates a GIN index on the projections' state, which equality filters on
    /// state paths use. Idempotent; it takes a lock that blocks saves while the
    /// index builds.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn create_state_index(&self) -> Result<()> {
        let client = error::pooled(&self.adapter.inner.pool).await?;
        client
            .batch_execute(&self.sql().projections.state_index)
            .await
            .map_err(|e| error::database(e, "creating the state index", WriteOutcome::NotWritten))
    }

    async fn query(&self, sql: &Sql) -> Result<Vec<Row>> {
        bounded::query(&self.adapter.inner, sql.text(), &sql.parameters()).await
    }
}

impl fmt::Debug for PostgresProjectionStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresProjectionStore")
            .field("schema", &self.adapter.schema())
            .field("table", &format!("{}_projections", self.adapter.table()))
            .finish()
    }
}

#[async_trait]
impl ProjectionStorageAdapter for PostgresProjectionStore {
    async fn save(&self, projection: StoredProjection, fence: Option<&Fence>) -> Result<()> {
        self.save_stored(&projection, fence).await
    }

    async fn search(&self, search: &Search) -> Result<Page> {
        let statements = &self.sql().projections;
        let mut sql = Sql::new(&statements.select, &statements.similarity);
        sql.search(search);
        let rows = self.query(&sql).await?;
        let projections = rows.iter().map(projection).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(search, projections))
    }

    async fn count(&self, filters: &[Filter]) -> Result<u64> {
        let statements = &self.sql().projections;
        let mut sql = Sql::new(&statements.count, &statements.similarity);
        sql.filter(filters, None);
        let rows = self.query(&sql).await?;
        let count: i64 = rows
            .first()
            .ok_or_else(|| Error::corrupt("count returned no row"))?
            .get(0);
        u64::try_from(count).map_err(|_| Error::corrupt("a negative count"))
    }
}

fn projection(row: &Row) -> Result<StoredProjection> {
    let json = |index: usize| -> Result<Value> {
        let text: String = row
            .try_get(index)
            .map_err(|e| Error::corrupt(e.to_string()))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::corrupt(format!("stored projection JSON: {e}")))
    };
    let source = serde_json::from_value(json(2)?)
        .map_err(|e| Error::corrupt(format!("stored projection source: {e}")))?;
    Ok(StoredProjection {
        name: row.try_get(0).map_err(|e| Error::corrupt(e.to_string()))?,
        id: row.try_get(1).map_err(|e| Error::corrupt(e.to_string()))?,
        source,
        state: json(3)?,
        metadata: json(4)?,
    })
}
