//! Every SQL statement the adapter runs, rendered once for its schema and
//! table. The statements themselves live in `sql/`, one per file, grouped by
//! what they touch; `{placeholders}` name the adapter's objects (see
//! [`Names::render`]), `$n` are bound parameters.

use crate::names::Names;

/// The adapter's statements, rendered for its names.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) events: EventStatements,
    #[cfg(feature = "projections")]
    pub(crate) projections: ProjectionStatements,
    #[cfg(feature = "checkpoints")]
    pub(crate) checkpoints: CheckpointStatements,
    #[cfg(any(feature = "projections", feature = "checkpoints"))]
    pub(crate) fences: FenceStatements,
    #[cfg(feature = "checkpoints")]
    pub(crate) leases: LeaseStatements,
    pub(crate) schema: SchemaStatements,
    pub(crate) catalogue: CatalogueStatements,
}

/// Reading the catalogue.
#[derive(Debug)]
pub(crate) struct CatalogueStatements {
    pub(crate) categories: String,
    pub(crate) streams: String,
    pub(crate) event_names: String,
    pub(crate) stream: String,
}

/// Saving and reading events.
#[derive(Debug)]
pub(crate) struct EventStatements {
    pub(crate) save: String,
    pub(crate) lock_streams: String,
    pub(crate) select: String,
    pub(crate) select_by_ids: String,
    pub(crate) horizon_log: String,
    pub(crate) horizon_category: String,
    pub(crate) horizon_blocker: String,
    pub(crate) horizon_held_back: String,
    pub(crate) notify: String,
    pub(crate) find_matches: String,
    pub(crate) tracked: String,
    /// An expression: the frontier of a query read's snapshot.
    pub(crate) frontier: String,
}

/// The projection store.
#[cfg(feature = "projections")]
#[derive(Debug)]
pub(crate) struct ProjectionStatements {
    /// Fenced: the projection's five columns, then the fence's three
    /// parameters.
    pub(crate) save: String,
    pub(crate) select: String,
    pub(crate) count: String,
    pub(crate) state_index: String,
    /// The name of the function searches sort by similarity with.
    pub(crate) similarity: String,
    pub(crate) no_similarity: String,
    pub(crate) install_pg_trgm: String,
    /// Writes the similarity function; run by every `migrate()`.
    pub(crate) similarity_function: String,
}

/// Checkpoints and units of work.
#[cfg(feature = "checkpoints")]
#[derive(Debug)]
pub(crate) struct CheckpointStatements {
    pub(crate) load: String,
    /// Fenced: consumer, sequence number, then the fence's three parameters.
    pub(crate) advance: String,
    pub(crate) claim: String,
    pub(crate) lock: String,
}

/// Fencing tokens.
#[cfg(any(feature = "projections", feature = "checkpoints"))]
#[derive(Debug)]
pub(crate) struct FenceStatements {
    /// Admits a write under a fence, in the writer's transaction.
    #[cfg(feature = "checkpoints")]
    pub(crate) check: String,
    /// Raises a partition's token when its lease is taken.
    #[cfg(feature = "checkpoints")]
    pub(crate) raise: String,
    pub(crate) newest: String,
}

/// Partition leases.
#[cfg(feature = "checkpoints")]
#[derive(Debug)]
pub(crate) struct LeaseStatements {
    pub(crate) try_lock: String,
    pub(crate) unlock: String,
}

/// Migrations.
#[derive(Debug)]
pub(crate) struct SchemaStatements {
    pub(crate) lock: String,
    pub(crate) setup: String,
    pub(crate) applied: String,
    pub(crate) record: String,
    pub(crate) anchor: String,
}

/// Every statement file, by path under `sql/`, for the check that each
/// renders completely.
pub(crate) const FILES: &[(&str, &str)] = &[
    ("events/save.sql", include_str!("../sql/events/save.sql")),
    (
        "catalogue/categories.sql",
        include_str!("../sql/catalogue/categories.sql"),
    ),
    (
        "catalogue/streams.sql",
        include_str!("../sql/catalogue/streams.sql"),
    ),
    (
        "catalogue/event_names.sql",
        include_str!("../sql/catalogue/event_names.sql"),
    ),
    (
        "catalogue/stream.sql",
        include_str!("../sql/catalogue/stream.sql"),
    ),
    (
        "events/lock_streams.sql",
        include_str!("../sql/events/lock_streams.sql"),
    ),
    (
        "events/select.sql",
        include_str!("../sql/events/select.sql"),
    ),
    (
        "events/select_by_ids.sql",
        include_str!("../sql/events/select_by_ids.sql"),
    ),
    (
        "events/horizon_log.sql",
        include_str!("../sql/events/horizon_log.sql"),
    ),
    (
        "events/horizon_category.sql",
        include_str!("../sql/events/horizon_category.sql"),
    ),
    (
        "events/horizon_blocker.sql",
        include_str!("../sql/events/horizon_blocker.sql"),
    ),
    (
        "events/horizon_held_back.sql",
        include_str!("../sql/events/horizon_held_back.sql"),
    ),
    (
        "events/notify.sql",
        include_str!("../sql/events/notify.sql"),
    ),
    (
        "events/find_matches.sql",
        include_str!("../sql/events/find_matches.sql"),
    ),
    (
        "events/tracked.sql",
        include_str!("../sql/events/tracked.sql"),
    ),
    (
        "events/frontier.sql",
        include_str!("../sql/events/frontier.sql"),
    ),
    (
        "projections/save.sql",
        include_str!("../sql/projections/save.sql"),
    ),
    (
        "projections/select.sql",
        include_str!("../sql/projections/select.sql"),
    ),
    (
        "projections/count.sql",
        include_str!("../sql/projections/count.sql"),
    ),
    (
        "projections/state_index.sql",
        include_str!("../sql/projections/state_index.sql"),
    ),
    (
        "projections/no_similarity.sql",
        include_str!("../sql/projections/no_similarity.sql"),
    ),
    (
        "projections/install_pg_trgm.sql",
        include_str!("../sql/projections/install_pg_trgm.sql"),
    ),
    (
        "projections/similarity_function.sql",
        include_str!("../sql/projections/similarity_function.sql"),
    ),
    (
        "checkpoints/load.sql",
        include_str!("../sql/checkpoints/load.sql"),
    ),
    (
        "checkpoints/advance.sql",
        include_str!("../sql/checkpoints/advance.sql"),
    ),
    (
        "checkpoints/claim.sql",
        include_str!("../sql/checkpoints/claim.sql"),
    ),
    (
        "checkpoints/lock.sql",
        include_str!("../sql/checkpoints/lock.sql"),
    ),
    ("fences/check.sql", include_str!("../sql/fences/check.sql")),
    ("fences/raise.sql", include_str!("../sql/fences/raise.sql")),
    (
        "fences/newest.sql",
        include_str!("../sql/fences/newest.sql"),
    ),
    (
        "leases/try_lock.sql",
        include_str!("../sql/leases/try_lock.sql"),
    ),
    (
        "leases/unlock.sql",
        include_str!("../sql/leases/unlock.sql"),
    ),
    ("schema/lock.sql", include_str!("../sql/schema/lock.sql")),
    ("schema/setup.sql", include_str!("../sql/schema/setup.sql")),
    (
        "schema/applied.sql",
        include_str!("../sql/schema/applied.sql"),
    ),
    (
        "schema/record.sql",
        include_str!("../sql/schema/record.sql"),
    ),
    (
        "schema/anchor.sql",
        include_str!("../sql/schema/anchor.sql"),
    ),
];

impl Statements {
    pub(crate) fn new(names: &Names) -> Self {
        let sql = |path: &str| {
            let (_, template) = FILES
                .iter()
                .find(|(file, _)| *file == path)
                .unwrap_or_else(|| unreachable!("every statement file is listed: {path}"));
            names.render(template)
        };
        Self {
            events: EventStatements {
                save: sql("events/save.sql"),
                lock_streams: sql("events/lock_streams.sql"),
                select: sql("events/select.sql"),
                select_by_ids: sql("events/select_by_ids.sql"),
                horizon_log: sql("events/horizon_log.sql"),
                horizon_category: sql("events/horizon_category.sql"),
                horizon_blocker: sql("events/horizon_blocker.sql"),
                horizon_held_back: sql("events/horizon_held_back.sql"),
                notify: sql("events/notify.sql"),
                find_matches: sql("events/find_matches.sql"),
                tracked: sql("events/tracked.sql"),
                frontier: sql("events/frontier.sql"),
            },
            #[cfg(feature = "projections")]
            projections: ProjectionStatements {
                save: sql("projections/save.sql"),
                select: sql("projections/select.sql"),
                count: sql("projections/count.sql"),
                state_index: sql("projections/state_index.sql"),
                similarity: names.render("{similarity}"),
                no_similarity: sql("projections/no_similarity.sql"),
                install_pg_trgm: sql("projections/install_pg_trgm.sql"),
                similarity_function: sql("projections/similarity_function.sql"),
            },
            #[cfg(feature = "checkpoints")]
            checkpoints: CheckpointStatements {
                load: sql("checkpoints/load.sql"),
                advance: sql("checkpoints/advance.sql"),
                claim: sql("checkpoints/claim.sql"),
                lock: sql("checkpoints/lock.sql"),
            },
            #[cfg(any(feature = "projections", feature = "checkpoints"))]
            fences: FenceStatements {
                #[cfg(feature = "checkpoints")]
                check: sql("fences/check.sql"),
                #[cfg(feature = "checkpoints")]
                raise: sql("fences/raise.sql"),
                newest: sql("fences/newest.sql"),
            },
            #[cfg(feature = "checkpoints")]
            leases: LeaseStatements {
                try_lock: sql("leases/try_lock.sql"),
                unlock: sql("leases/unlock.sql"),
            },
            schema: SchemaStatements {
                lock: sql("schema/lock.sql"),
                setup: sql("schema/setup.sql"),
                applied: sql("schema/applied.sql"),
                record: sql("schema/record.sql"),
                anchor: sql("schema/anchor.sql"),
            },
            catalogue: CatalogueStatements {
                categories: sql("catalogue/categories.sql"),
                streams: sql("catalogue/streams.sql"),
                event_names: sql("catalogue/event_names.sql"),
                stream: sql("catalogue/stream.sql"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_statement_renders_completely() {
        let names = Names::new("app", "events").unwrap();
        for (file, template) in FILES {
            let sql = names.render(template);
            assert!(
                !sql.contains('{'),
                "unrendered placeholder in {file}:\n{sql}"
            );
        }
        Statements::new(&names);
    }
}
