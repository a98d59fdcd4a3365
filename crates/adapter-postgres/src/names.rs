//! The names of the adapter's database objects, validated once and quoted for
//! splicing into SQL text. Only these names are ever spliced; values are always
//! bound parameters.

use eventblocks_core::{Error, Result};

/// PostgreSQL truncates identifiers longer than this many bytes, silently.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// The longest suffix added to the table name to name a related object.
const LONGEST_SUFFIX: &str = "_projections_source";

/// The schema and table the adapter keeps its events in, and every object named
/// after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    schema: String,
    table: String,
}

impl Names {
    /// Validates `schema` and `table`: ASCII letters, digits and `_`, not starting
    /// with a digit, short enough that no derived name is truncated.
    pub(crate) fn new(schema: &str, table: &str) -> Result<Self> {
        check_identifier("schema", schema, MAX_IDENTIFIER_BYTES)?;
        check_identifier("table", table, MAX_IDENTIFIER_BYTES - LONGEST_SUFFIX.len())?;
        Ok(Self {
            schema: schema.to_owned(),
            table: table.to_owned(),
        })
    }

    pub(crate) fn schema(&self) -> &str {
        &self.schema
    }

    pub(crate) fn table(&self) -> &str {
        &self.table
    }

    /// The schema, quoted.
    pub(crate) fn quoted_schema(&self) -> String {
        quote(&self.schema)
    }

    /// `"schema"."table<suffix>"`.
    pub(crate) fn qualified(&self, suffix: &str) -> String {
        format!(
            "{}.{}",
            quote(&self.schema),
            quote(&format!("{}{suffix}", self.table))
        )
    }

    /// `"table<suffix>"`, for constraints and indexes (named within the table's
    /// schema).
    pub(crate) fn local(&self, suffix: &str) -> String {
        quote(&format!("{}{suffix}", self.table))
    }

    /// The name PostgreSQL reports for the constraint `suffix`.
    pub(crate) fn constraint(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.table)
    }

    /// Text that identifies this event table among all tables of the cluster's
    /// database, the prefix of every advisory lock key the adapter uses.
    pub(crate) fn lock_namespace(&self) -> String {
        format!("eventblocks:{}.{}", self.schema, self.table)
    }

    /// The `LISTEN/NOTIFY` channel announcing new events in this table: a hash
    /// of the qualified name, so any schema and table fit PostgreSQL's 63-byte
    /// limit on channel names. The hash (64-bit FNV-1a) is fixed, so processes
    /// of different builds agree on it.
    pub(crate) fn notification_channel(&self) -> String {
        let hash = self
            .lock_namespace()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            });
        format!("eventblocks_{hash:016x}")
    }

    /// The identity of the event table, which query heads carry (64-bit
    /// FNV-1a of the qualified name: fixed, so every process agrees).
    pub(crate) fn store_id(&self) -> u64 {
        self.lock_namespace()
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
            })
    }

    /// Replaces every `{placeholder}` in `template` with the object it names.
    pub(crate) fn render(&self, template: &str) -> String {
        let sequence = self.qualified("_sequence_number");
        let replacements = [
            ("{events}", self.qualified("")),
            ("{schema}", self.quoted_schema()),
            ("{schema_literal}", literal(&self.schema)),
            ("{migrations}", self.qualified("_migrations")),
            ("{sequence}", sequence.clone()),
            ("{sequence_literal}", literal(&sequence)),
            ("{primary_key}", self.local("_pkey")),
            ("{id_key}", self.local("_id_key")),
            ("{position_key}", self.local("_position_key")),
            ("{category_index}", self.local("_category_idx")),
            ("{name_index}", self.local("_name_idx")),
            ("{lock_streams}", self.qualified("_lock_streams")),
            ("{allocate}", self.qualified("_allocate")),
            ("{allocation}", self.qualified("_allocation")),
            ("{sequence_base}", self.qualified("_sequence_base")),
            ("{take_locks}", self.qualified("_take_locks")),
            ("{tags_index}", self.local("_tags_idx")),
            ("{tags}", self.qualified("_tags")),
            ("{tags_key}", self.local("_tags_pkey")),
            ("{find_probing}", self.qualified("_find_probing")),
            ("{flat_checks}", self.qualified("_flat_checks")),
            ("{save_with_tags}", self.qualified("_save_with_tags")),
            ("{tracking}", self.qualified("_tracking")),
            ("{tracking_key}", self.local("_tracking_pkey")),
            ("{find_matches}", self.qualified("_find_matches")),
            ("{lock_states}", self.qualified("_lock_states")),
            ("{save_tagged}", self.qualified("_save_tagged")),
            ("{save}", self.qualified("_save")),
            ("{streams}", self.qualified("_streams")),
            ("{streams_key}", self.local("_streams_pkey")),
            ("{event_names}", self.qualified("_event_names")),
            ("{event_names_index}", self.local("_event_names_idx")),
            ("{catalogue_saved}", self.qualified("_catalogue_saved")),
            ("{catalogue_trigger}", self.local("_catalogue")),
            ("{projections}", self.qualified("_projections")),
            ("{similarity}", self.qualified("_similarity")),
            ("{no_similarity}", self.qualified("_no_similarity")),
            ("{checkpoints}", self.qualified("_checkpoints")),
            ("{checkpoints_key}", self.local("_checkpoints_pkey")),
            ("{fences}", self.qualified("_fences")),
            ("{fences_key}", self.local("_fences_pkey")),
            ("{projections_key}", self.local("_projections_pkey")),
            (
                "{projections_source_index}",
                self.local("_projections_source"),
            ),
            (
                "{projections_state_index}",
                self.local("_projections_state"),
            ),
            (
                "{allocate_lock_key}",
                literal(&format!("{}:allocate", self.lock_namespace())),
            ),
        ];
        replacements
            .iter()
            .fold(template.to_owned(), |sql, (placeholder, name)| {
                sql.replace(placeholder, name)
            })
    }
}

fn check_identifier(field: &'static str, name: &str, max_bytes: usize) -> Result<()> {
    let mut chars = name.chars();
    let starts_well = chars
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_');
    if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(Error::invalid(
            field,
            format!(
                "{name:?} must be ASCII letters, digits and underscores, not starting with a digit"
            ),
        ));
    }
    if name.len() > max_bytes {
        return Err(Error::invalid(
            field,
            format!("{name:?} is longer than {max_bytes} bytes, which PostgreSQL would truncate"),
        ));
    }
    Ok(())
}

/// Quotes an identifier that passed `check_identifier` (it holds no quotes).
fn quote(identifier: &str) -> String {
    format!("\"{identifier}\"")
}

/// A string literal of text made only of checked identifiers and punctuation.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_identifiers() {
        let names = Names::new("eventblocks", "events").unwrap();
        assert_eq!(names.qualified(""), "\"eventblocks\".\"events\"");
        assert_eq!(names.local("_id_key"), "\"events_id_key\"");
    }

    #[test]
    fn rejects_identifiers_that_need_quoting_or_would_be_truncated() {
        for bad in [
            "",
            "1events",
            "my events",
            "events\"; DROP",
            "évents",
            "a-b",
        ] {
            let error = Names::new("public", bad).unwrap_err();
            assert!(error.is_invalid_input(), "{bad:?}: {error}");
        }
        assert!(Names::new(&"s".repeat(64), "events").is_err());
        assert!(Names::new("public", &"t".repeat(45)).is_err());
        assert!(Names::new("public", &"t".repeat(44)).is_ok());
    }

    #[test]
    fn renders_every_placeholder_of_every_migration() {
        let names = Names::new("app", "events").unwrap();
        for template in crate::schema::all_sql() {
            let sql = names.render(template);
            assert!(!sql.contains('{'), "unrendered placeholder in:\n{sql}");
        }
        let sql = names.render(include_str!("../sql/migrations/0001_create_events.sql"));
        assert!(sql.contains("nextval('\"app\".\"events_sequence_number\"')"));
    }
}
