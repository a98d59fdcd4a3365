//! Consistency boundaries: the events a query matches, for query conditions
//! (inside the writer's transaction) and query reads (on a reader).
//!
//! With one writer at a time, committing in sequence order, a head is simply
//! the next sequence number a reader's snapshot would give: every event
//! below it is visible, every later one is at or above it.

use std::collections::BTreeSet;

use eventblocks_core::{Direction, Name, Query, QueryCheck, QueryItem, Result, WriteOutcome};
use rusqlite::types::Value;
use rusqlite::Connection;

/// Where a page of matches is looked for: sequence numbers strictly between
/// `lower` and `upper`, in `direction`, in `category` if given.
#[derive(Debug, Clone)]
pub(crate) struct Window<'a> {
    pub(crate) lower: u64,
    pub(crate) upper: u64,
    pub(crate) direction: Direction,
    pub(crate) category: Option<&'a Name>,
}

/// An event matching `check` at or above its head's frontier (any, without
/// a head): what a query condition needs to know.
pub(crate) fn first_match(connection: &Connection, check: &QueryCheck) -> Result<Option<u64>> {
    let from = check.after.map_or(1, |head| head.frontier());
    let window = Window {
        lower: from.saturating_sub(1),
        upper: u64::MAX,
        direction: Direction::Forwards,
        category: None,
    };
    Ok(page(connection, &check.query, &window, 1)?.first().copied())
}

/// The next sequence number: the frontier of a head read now.
pub(crate) fn frontier(connection: &Connection) -> Result<u64> {
    let last: i64 = connection
        .prepare_cached("SELECT coalesce(max(sequence_number), 0) FROM eventblocks_events")
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .map_err(|error| {
            crate::error::database(error, "reading the head", WriteOutcome::NotWritten)
        })?;
    Ok(crate::row::from_sql("sequence number", last)? + 1)
}

/// Up to `limit` sequence numbers of events matching `query` in `window`,
/// in its direction. Each item is looked up through an index (its first
/// tag, or each of its names); the first `limit` of the union are among the
/// first `limit` of each lookup.
pub(crate) fn page(
    connection: &Connection,
    query: &Query,
    window: &Window<'_>,
    limit: usize,
) -> Result<Vec<u64>> {
    let everything = query.is_all() || query.items().iter().any(QueryItem::is_all);
    let lookups: Vec<Lookup> = if everything {
        vec![Lookup::all()]
    } else {
        query.items().iter().flat_map(Lookup::of).collect()
    };
    let mut found = BTreeSet::new();
    for lookup in &lookups {
        found.extend(lookup.run(connection, window, limit)?);
    }
    let numbers: Box<dyn Iterator<Item = u64>> = match window.direction {
        Direction::Forwards => Box::new(found.into_iter()),
        Direction::Backwards => Box::new(found.into_iter().rev()),
    };
    Ok(numbers.take(limit).collect())
}

/// One indexed lookup of the events an item (or part of it) may match.
struct Lookup {
    /// The tag whose index drives the lookup, if any.
    tag: Option<String>,
    /// Further tags every match carries.
    also_tags: Vec<String>,
    /// Names a match has one of (any, when empty).
    names: Vec<String>,
}

impl Lookup {
    fn all() -> Self {
        Self {
            tag: None,
            also_tags: Vec::new(),
            names: Vec::new(),
        }
    }

    /// An item with tags is found through its first tag; an item with names
    /// only, through each name's index.
    fn of(item: &QueryItem) -> Vec<Self> {
        let names: Vec<String> = item
            .name_set()
            .iter()
            .map(|n| n.as_str().to_owned())
            .collect();
        let mut tags = item.tag_set().iter().map(|t| t.as_str().to_owned());
        match tags.next() {
            Some(first) => vec![Self {
                tag: Some(first),
                also_tags: tags.collect(),
                names,
            }],
            None => names
                .into_iter()
                .map(|name| Self {
                    tag: None,
                    also_tags: Vec::new(),
                    names: vec![name],
                })
                .collect(),
        }
    }

    fn run(&self, connection: &Connection, window: &Window<'_>, limit: usize) -> Result<Vec<u64>> {
        let (sql, arguments) = self.sql(window, limit);
        let failed = |error| {
            crate::error::database(error, "finding a query's events", WriteOutcome::NotWritten)
        };
        let mut statement = connection.prepare_cached(&sql).map_err(failed)?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(arguments), |row| {
                row.get::<_, i64>(0)
            })
            .map_err(failed)?;
        let mut numbers = Vec::new();
        for number in rows {
            numbers.push(crate::row::from_sql(
                "sequence number",
                number.map_err(failed)?,
            )?);
        }
        Ok(numbers)
    }

    /// The lookup's statement and its arguments.
    fn sql(&self, window: &Window<'_>, limit: usize) -> (String, Vec<Value>) {
        let mut arguments = Vec::new();
        let mut bind = |value: Value| {
            arguments.push(value);
            format!("?{}", arguments.len())
        };
        let (from, number) = match &self.tag {
            Some(tag) => (
                format!(
                    "eventblocks_event_tags t CROSS JOIN eventblocks_events e \
                     ON e.sequence_number = t.sequence_number WHERE t.tag = {}",
                    bind(Value::Text(tag.clone()))
                ),
                "t.sequence_number",
            ),
            None => (
                "eventblocks_events e WHERE 1".to_owned(),
                "e.sequence_number",
            ),
        };
        let mut sql = format!("SELECT {number} FROM {from}");
        let lower = bind(Value::Integer(clamp(window.lower)));
        let upper = bind(Value::Integer(clamp(window.upper)));
        sql.push_str(&format!(" AND {number} > {lower} AND {number} < {upper}"));
        for tag in &self.also_tags {
            let tag = bind(Value::Text(tag.clone()));
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM eventblocks_event_tags u \
                 WHERE u.tag = {tag} AND u.sequence_number = {number})"
            ));
        }
        if !self.names.is_empty() {
            let names: Vec<String> = self
                .names
                .iter()
                .map(|name| bind(Value::Text(name.clone())))
                .collect();
            sql.push_str(&format!(" AND e.name IN ({})", names.join(", ")));
        }
        if let Some(category) = window.category {
            let category = bind(Value::Text(category.as_str().to_owned()));
            sql.push_str(&format!(" AND e.category = {category}"));
        }
        let order = match window.direction {
            Direction::Forwards => "ASC",
            Direction::Backwards => "DESC",
        };
        let limit = bind(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX)));
        sql.push_str(&format!(" ORDER BY {number} {order} LIMIT {limit}"));
        (sql, arguments)
    }
}

fn clamp(number: u64) -> i64 {
    i64::try_from(number).unwrap_or(i64::MAX)
}
