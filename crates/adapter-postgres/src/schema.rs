//! Versioned, idempotent migrations.

use eventblocks_core::{Result, WriteOutcome};
use tracing::info;

use crate::error;
use crate::names::Names;

/// The migrations, in the order they are applied. A migration, once released,
/// never changes; changes come as new migrations.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "create events",
        include_str!("../sql/migrations/0001_create_events.sql"),
    ),
    (
        2,
        "create projections",
        include_str!("../sql/migrations/0002_create_projections.sql"),
    ),
    (
        3,
        "create checkpoints",
        include_str!("../sql/migrations/0003_create_checkpoints.sql"),
    ),
    (
        4,
        "saves without session locks",
        include_str!("../sql/migrations/0004_saves_without_session_locks.sql"),
    ),
    (
        5,
        "create fences",
        include_str!("../sql/migrations/0005_create_fences.sql"),
    ),
    (
        6,
        "one projection per source",
        include_str!("../sql/migrations/0006_one_projection_per_source.sql"),
    ),
];

/// Brings the schema up to the newest version and returns how many migrations
/// were applied.
///
/// Everything runs in one transaction under an advisory lock on the schema, so
/// concurrent callers wait for each other and a failure leaves no half-applied
/// migration.
pub(crate) async fn migrate(client: &mut tokio_postgres::Client, names: &Names) -> Result<usize> {
    let failed = |what| move |e| error::database(e, what, WriteOutcome::NotWritten);
    let transaction = client
        .transaction()
        .await
        .map_err(failed("starting the migration"))?;
    transaction
        .execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&format!("{}:migrate", names.lock_namespace())],
        )
        .await
        .map_err(failed("locking the schema for migration"))?;
    let setup = names.render(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {migrations} (
             version    integer     PRIMARY KEY,
             name       text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    );
    transaction
        .batch_execute(&setup)
        .await
        .map_err(failed("creating the schema"))?;
    let applied: Option<i32> = transaction
        .query_one(&names.render("SELECT max(version) FROM {migrations}"), &[])
        .await
        .map_err(failed("reading the schema version"))?
        .get(0);
    let applied = applied.unwrap_or(0);
    let mut count = 0;
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > applied) {
        transaction
            .batch_execute(&names.render(sql))
            .await
            .map_err(failed("applying a migration"))?;
        transaction
            .execute(
                &names.render("INSERT INTO {migrations} (version, name) VALUES ($1, $2)"),
                &[version, name],
            )
            .await
            .map_err(failed("recording a migration"))?;
        info!(
            schema = names.schema(),
            table = names.table(),
            version,
            name,
            "applied migration"
        );
        count += 1;
    }
    transaction
        .commit()
        .await
        .map_err(failed("committing the migration"))?;
    Ok(count)
}

/// The newest schema version this build knows.
pub(crate) fn latest_version() -> i32 {
    MIGRATIONS.last().map_or(0, |(version, _, _)| *version)
}
