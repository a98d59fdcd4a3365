//! Sorting by similarity: `pg_trgm`'s `similarity()`, reached through a
//! function of the adapter's schema that `migrate()` writes
//! (`sql/projections/similarity_function.sql`), so a search names no schema
//! but its own and works whichever schema the extension was installed in.
//!
//! `migrate()` installs `pg_trgm` when the extension is missing and the role
//! may (it is a trusted extension: a role with `CREATE` on the database may);
//! when it may not, everything else is migrated all the same, a warning says
//! why, and a search sorting by similarity fails with
//! [`Error::Unsupported`] saying how to enable it.

use eventblocks_core::{Error, Result, WriteOutcome};
use tokio_postgres::error::SqlState;
use tokio_postgres::Transaction;
use tracing::warn;

use crate::adapter::Inner;
use crate::error;

/// Installs `pg_trgm` if it is missing and the role may, and writes the
/// similarity function, in the migrating transaction.
///
/// # Errors
/// Backend failures other than a refusal to install the extension.
pub(crate) async fn enable_similarity(
    transaction: &mut Transaction<'_>,
    inner: &Inner,
) -> Result<()> {
    let sql = &inner.sql.projections;
    if unavailable(transaction, inner).await?.is_some() {
        install(transaction, inner).await?;
    }
    transaction
        .batch_execute(&sql.similarity_function)
        .await
        .map_err(failed("writing the similarity function"))?;
    if let Some(reason) = unavailable(transaction, inner).await? {
        warn!(
            schema = inner.names.schema(),
            "projections cannot be sorted by similarity: {reason}"
        );
    }
    Ok(())
}

/// Why similarity sorts cannot run in this database, if they cannot.
async fn unavailable(transaction: &Transaction<'_>, inner: &Inner) -> Result<Option<String>> {
    let row = transaction
        .query_one(&inner.sql.projections.no_similarity, &[])
        .await
        .map_err(failed("checking for pg_trgm"))?;
    Ok(row.get(0))
}

/// Tries to install `pg_trgm`, in a savepoint so that a refusal leaves the
/// migration going. One migration at a time tries (under a lock of the whole
/// database's), so concurrent migrations of other schemas do not collide
/// installing it.
async fn install(transaction: &mut Transaction<'_>, inner: &Inner) -> Result<()> {
    transaction
        .execute(&inner.sql.schema.lock, &[&"eventblocks:pg_trgm"])
        .await
        .map_err(failed("locking to install pg_trgm"))?;
    let savepoint = transaction
        .savepoint("install_pg_trgm")
        .await
        .map_err(failed("installing pg_trgm"))?;
    let installed = savepoint
        .batch_execute(&inner.sql.projections.install_pg_trgm)
        .await;
    match installed {
        Ok(()) => savepoint.commit().await,
        // Refused (no privilege, no contrib package): go on without it.
        Err(refusal) if refusal.code().is_some() => {
            warn!(
                schema = inner.names.schema(),
                "could not install pg_trgm: {refusal}"
            );
            savepoint.rollback().await
        }
        Err(broken) => Err(broken),
    }
    .map_err(failed("installing pg_trgm"))
}

fn failed(what: &'static str) -> impl Fn(tokio_postgres::Error) -> Error {
    move |e| error::database(e, what, WriteOutcome::NotWritten)
}

/// A search that sorts by similarity where it cannot be done: the similarity
/// function refusing (it says why), or a function missing (a schema not
/// migrated since, or `pg_trgm` dropped after `migrate()`).
pub(super) fn refusal(error: &tokio_postgres::Error) -> Option<Error> {
    let database = error.as_db_error()?;
    let what = if *database.code() == SqlState::FEATURE_NOT_SUPPORTED {
        database.message().to_owned()
    } else if *database.code() == SqlState::UNDEFINED_FUNCTION {
        format!(
            "sorting projections by similarity: {}; install the pg_trgm extension \
             (CREATE EXTENSION pg_trgm) and run migrate() again",
            database.message()
        )
    } else {
        return None;
    };
    Some(Error::Unsupported { what: what.into() })
}
