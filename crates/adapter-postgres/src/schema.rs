//! Versioned, idempotent migrations.

use std::collections::HashSet;

use eventblocks_core::{Result, WriteOutcome};
use tracing::info;

use crate::adapter::Inner;
use crate::error;

/// Which of the crate's features a migration belongs to: the tables of a
/// store are created only when the store is compiled in.
#[derive(Debug, Clone, Copy)]
enum Part {
    /// The event log: always.
    Events,
    /// `PostgresProjectionStore` (feature `projections`).
    Projections,
    /// `PostgresCheckpointStore` and `PostgresLeases` (feature `checkpoints`).
    Checkpoints,
    /// Fencing, which every store written under a lease needs.
    Fences,
}

impl Part {
    fn enabled(self) -> bool {
        match self {
            Self::Events => true,
            Self::Projections => cfg!(feature = "projections"),
            Self::Checkpoints => cfg!(feature = "checkpoints"),
            Self::Fences => cfg!(any(feature = "projections", feature = "checkpoints")),
        }
    }
}

/// One migration: its version, name, part and SQL.
struct Migration {
    version: i32,
    name: &'static str,
    part: Part,
    sql: &'static str,
}

/// The migrations, in the order they are applied. A migration, once released,
/// never changes; changes come as new migrations.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "create events",
        part: Part::Events,
        sql: include_str!("../sql/migrations/0001_create_events.sql"),
    },
    Migration {
        version: 2,
        name: "create projections",
        part: Part::Projections,
        sql: include_str!("../sql/migrations/0002_create_projections.sql"),
    },
    Migration {
        version: 3,
        name: "create checkpoints",
        part: Part::Checkpoints,
        sql: include_str!("../sql/migrations/0003_create_checkpoints.sql"),
    },
    Migration {
        version: 4,
        name: "saves without session locks",
        part: Part::Events,
        sql: include_str!("../sql/migrations/0004_saves_without_session_locks.sql"),
    },
    Migration {
        version: 5,
        name: "create fences",
        part: Part::Fences,
        sql: include_str!("../sql/migrations/0005_create_fences.sql"),
    },
    Migration {
        version: 6,
        name: "one projection per source",
        part: Part::Projections,
        sql: include_str!("../sql/migrations/0006_one_projection_per_source.sql"),
    },
    Migration {
        version: 7,
        name: "consistency boundaries",
        part: Part::Events,
        sql: include_str!("../sql/migrations/0007_consistency_boundaries.sql"),
    },
    Migration {
        version: 8,
        name: "similarity",
        part: Part::Projections,
        sql: include_str!("../sql/migrations/0008_similarity.sql"),
    },
    Migration {
        version: 9,
        name: "tag table",
        part: Part::Events,
        sql: include_str!("../sql/migrations/0009_tag_table.sql"),
    },
    Migration {
        version: 10,
        name: "catalogue",
        part: Part::Events,
        sql: include_str!("../sql/migrations/0010_catalogue.sql"),
    },
];

/// Applies every migration of the enabled parts that the schema lacks, in
/// order, and returns how many it applied. A part enabled later (a build with
/// another feature) gets its migrations then.
///
/// Everything runs in one transaction under an advisory lock on the schema, so
/// concurrent callers wait for each other and a failure leaves no half-applied
/// migration.
pub(crate) async fn migrate(client: &mut tokio_postgres::Client, inner: &Inner) -> Result<usize> {
    let (names, sql) = (&inner.names, &inner.sql.schema);
    let failed = |what| move |e| error::database(e, what, WriteOutcome::NotWritten);
    let mut transaction = client
        .transaction()
        .await
        .map_err(failed("starting the migration"))?;
    let key = format!("{}:migrate", names.lock_namespace());
    transaction
        .execute(&sql.lock, &[&key])
        .await
        .map_err(failed("locking the schema for migration"))?;
    transaction
        .batch_execute(&sql.setup)
        .await
        .map_err(failed("creating the schema"))?;
    let applied: HashSet<i32> = transaction
        .query(&sql.applied, &[])
        .await
        .map_err(failed("reading the schema version"))?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut count = 0;
    let missing = MIGRATIONS
        .iter()
        .filter(|migration| migration.part.enabled() && !applied.contains(&migration.version));
    for migration in missing {
        transaction
            .batch_execute(&names.render(migration.sql))
            .await
            .map_err(failed("applying a migration"))?;
        transaction
            .execute(&sql.record, &[&migration.version, &migration.name])
            .await
            .map_err(failed("recording a migration"))?;
        info!(
            schema = names.schema(),
            table = names.table(),
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
        count += 1;
    }
    #[cfg(feature = "projections")]
    crate::projection::enable_similarity(&mut transaction, inner).await?;
    transaction
        .batch_execute(&sql.anchor)
        .await
        .map_err(failed("anchoring sequence numbers"))?;
    transaction
        .commit()
        .await
        .map_err(failed("committing the migration"))?;
    Ok(count)
}

/// The newest schema version this build knows.
pub(crate) fn latest_version() -> i32 {
    MIGRATIONS
        .iter()
        .filter(|migration| migration.part.enabled())
        .map(|migration| migration.version)
        .max()
        .unwrap_or(0)
}

/// Every migration's SQL, for the check that each renders completely.
#[cfg(test)]
pub(crate) fn all_sql() -> impl Iterator<Item = &'static str> {
    MIGRATIONS.iter().map(|migration| migration.sql)
}
