//! The projection store in the file. Filters, sort order and cursors are the
//! projection crate's own ([`Search::matches`], [`Search::order`],
//! [`Cursor::of`]), registered with SQLite as a function and a collation for
//! the search at hand, so every search gives exactly the results of every
//! other store: numbers, regular expressions and missing paths included.
//! SQLite's sorter keeps memory bounded whatever the number of projections.

use std::cmp::Ordering;
use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::{EventSourceIdentifier, Fence, Result, WriteOutcome};
use eventblocks_projection::query::{Cursor, Field, Filter, Operator, Page, Paging, Search};
use eventblocks_projection::{Projection, ProjectionStorageAdapter, StoredProjection};
use rusqlite::functions::FunctionFlags;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::Serialize;

use crate::adapter::SqliteAdapter;
use crate::checkpoint::Unit;
use crate::error::corrupt;
use crate::fence;

fn failed(what: &'static str) -> impl Fn(rusqlite::Error) -> eventblocks_core::Error {
    move |error| crate::error::database(error, what, WriteOutcome::NotWritten)
}

/// A [`ProjectionStorageAdapter`] in the adapter's file; clones share it.
///
/// Searches scan the projections of the names they filter on (through an
/// index when a filter fixes the name), as the in-memory store does.
#[derive(Debug, Clone)]
pub struct SqliteProjectionStore {
    adapter: SqliteAdapter,
}

impl SqliteProjectionStore {
    /// The projection store of `adapter`'s file (its schema comes with
    /// [`SqliteAdapter::migrate`]).
    pub fn new(adapter: &SqliteAdapter) -> Self {
        Self {
            adapter: adapter.clone(),
        }
    }
}

impl Unit<'_> {
    /// Saves a projection in the unit's transaction, replacing the one of
    /// its name and source.
    ///
    /// # Errors
    /// [`Error::InvalidInput`](eventblocks_core::Error::InvalidInput) if it
    /// cannot be stored or its id names another source's projection;
    /// backend failures.
    pub fn save_projection<State: Serialize, Metadata: Serialize>(
        &self,
        projection: &Projection<State, Metadata>,
    ) -> Result<()> {
        save(self.connection, &Record::from(projection.to_stored()?)?)
    }
}

/// A projection as its row holds it.
struct Record {
    name: String,
    id: String,
    source: String,
    state: String,
    metadata: String,
}

impl Record {
    fn from(projection: StoredProjection) -> Result<Self> {
        let text = |what: &str, value: &serde_json::Value| {
            serde_json::to_string(value).map_err(|error| corrupt(format!("{what}: {error}")))
        };
        Ok(Self {
            source: serde_json::to_string(&projection.source)
                .map_err(|error| corrupt(format!("source: {error}")))?,
            state: text("state", &projection.state)?,
            metadata: text("metadata", &projection.metadata)?,
            name: projection.name,
            id: projection.id,
        })
    }
}

fn save(connection: &Connection, row: &Record) -> Result<()> {
    let other: Option<String> = connection
        .prepare_cached("SELECT source FROM eventblocks_projections WHERE name = ?1 AND id = ?2")
        .and_then(|mut statement| {
            statement
                .query_row(params![row.name, row.id], |found| found.get(0))
                .optional()
        })
        .map_err(failed("saving a projection"))?;
    if other.is_some_and(|source| source != row.source) {
        return Err(eventblocks_core::Error::invalid(
            "projection id",
            "already names the projection of another source of the same projector",
        ));
    }
    connection
        .prepare_cached("DELETE FROM eventblocks_projections WHERE name = ?1 AND source = ?2")
        .and_then(|mut statement| statement.execute(params![row.name, row.source]))
        .map_err(failed("saving a projection"))?;
    connection
        .prepare_cached(
            "INSERT INTO eventblocks_projections (name, id, source, state, metadata)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .and_then(|mut statement| {
            statement.execute(params![
                row.name,
                row.id,
                row.source,
                row.state,
                row.metadata
            ])
        })
        .map_err(failed("saving a projection"))?;
    Ok(())
}

/// The columns [`decode`] reads, in its order.
const COLUMNS: &str = "name, id, source, state, metadata";

fn decode_texts(texts: [&str; 5]) -> Result<StoredProjection> {
    let [name, id, source, state, metadata] = texts;
    fn json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
        serde_json::from_str(text)
            .map_err(|error| corrupt(format!("stored projection {what}: {error}")))
    }
    let source: EventSourceIdentifier = json("source", source)?;
    Ok(StoredProjection {
        name: name.to_owned(),
        id: id.to_owned(),
        source,
        state: json("state", state)?,
        metadata: json("metadata", metadata)?,
    })
}

fn decode(row: &Row<'_>) -> Result<StoredProjection> {
    let column = |index| -> Result<String> {
        row.get(index)
            .map_err(|error| corrupt(format!("reading a projection: {error}")))
    };
    let texts = [column(0)?, column(1)?, column(2)?, column(3)?, column(4)?];
    decode_texts([&texts[0], &texts[1], &texts[2], &texts[3], &texts[4]])
}

/// The filters that fix the name or the id, as SQL an index answers, with
/// their arguments: a narrowing only, every filter is still applied whole.
fn narrowing(filters: &[Filter]) -> (String, Vec<Value>) {
    let mut sql = String::from("1");
    let mut arguments = Vec::new();
    for filter in filters {
        let column = match filter.field() {
            Field::Name => "name",
            Field::Id => "id",
            _ => continue,
        };
        if let (Operator::Equal, serde_json::Value::String(text)) =
            (filter.operator(), filter.value())
        {
            arguments.push(Value::Text(text.clone()));
            sql.push_str(&format!(" AND {column} = ?{}", arguments.len()));
        }
    }
    (sql, arguments)
}

/// The projection a function call's arguments hold ([`COLUMNS`]).
fn argued(context: &rusqlite::functions::Context<'_>) -> rusqlite::Result<StoredProjection> {
    let text = |index| {
        context
            .get_raw(index)
            .as_str()
            .map_err(rusqlite::Error::from)
    };
    let texts = [text(0)?, text(1)?, text(2)?, text(3)?, text(4)?];
    decode_texts(texts).map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
}

/// A cursor as the key function writes it: each sort value as a list of
/// none or one value, so a missing value stays apart from `null` (which a
/// cursor's `Option<Value>` would not, written as JSON).
#[derive(Serialize, serde::Deserialize)]
struct Key {
    values: Vec<Vec<serde_json::Value>>,
    name: String,
    id: String,
}

impl Key {
    fn of(cursor: Cursor) -> Self {
        Self {
            values: cursor
                .values
                .into_iter()
                .map(|value| value.into_iter().collect())
                .collect(),
            name: cursor.name,
            id: cursor.id,
        }
    }

    fn read(text: &str) -> Option<Cursor> {
        let key: Self = serde_json::from_str(text).ok()?;
        Some(Cursor {
            values: key
                .values
                .into_iter()
                .map(|value| value.into_iter().next())
                .collect(),
            name: key.name,
            id: key.id,
        })
    }
}

/// Registers, on `connection`, what running `search` needs: a key function
/// giving the cursor (as JSON) of each projection in the page's range, NULL
/// for the others, and the collation ordering those keys.
fn register_search(connection: &Connection, search: &Arc<Search>) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    let keyed = search.clone();
    connection.create_scalar_function("eventblocks_key", 5, flags, move |context| {
        let projection = argued(context)?;
        if !keyed.matches(&projection) {
            return Ok(None);
        }
        let cursor = Cursor::of(&projection, keyed.sort_keys());
        let in_range = match keyed.paging() {
            Paging::After(Some(after)) => keyed.order(&cursor, after).is_gt(),
            Paging::Before(before) => keyed.order(&cursor, before).is_lt(),
            _ => true,
        };
        if !in_range {
            return Ok(None);
        }
        serde_json::to_string(&Key::of(cursor))
            .map(Some)
            .map_err(|error| rusqlite::Error::UserFunctionError(Box::new(error)))
    })?;
    let ordered = search.clone();
    connection.create_collation("eventblocks_order", move |left: &str, right: &str| {
        match (Key::read(left), Key::read(right)) {
            (Some(left), Some(right)) => ordered.order(&left, &right),
            _ => Ordering::Equal,
        }
    })
}

/// Registers the filter function counts use.
fn register_filters(connection: &Connection, filters: Arc<Vec<Filter>>) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    connection.create_scalar_function("eventblocks_passes", 5, flags, move |context| {
        let projection = argued(context)?;
        Ok(filters.iter().all(|filter| filter.matches(&projection)))
    })
}

fn search_page(connection: &Connection, search: &Arc<Search>) -> Result<Vec<StoredProjection>> {
    register_search(connection, search).map_err(failed("searching projections"))?;
    let (narrowing, mut arguments) = narrowing(search.filters());
    let (direction, offset) = match search.paging() {
        Paging::Before(_) => ("DESC", 0),
        Paging::Offset(offset) => ("ASC", *offset),
        _ => ("ASC", 0),
    };
    let wanted = i64::from(search.page_size()) + 1;
    arguments.push(Value::Integer(wanted));
    arguments.push(Value::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
    let count = arguments.len();
    let sql = format!(
        "SELECT {COLUMNS} FROM (
             SELECT {COLUMNS}, eventblocks_key({COLUMNS}) AS key
             FROM eventblocks_projections WHERE {narrowing}
         ) WHERE key IS NOT NULL
         ORDER BY key COLLATE eventblocks_order {direction}
         LIMIT ?{} OFFSET ?{count}",
        count - 1
    );
    let mut statement = connection
        .prepare(&sql)
        .map_err(failed("searching projections"))?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(arguments))
        .map_err(failed("searching projections"))?;
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(search_failure)? {
        found.push(decode(row)?);
    }
    Ok(found)
}

/// A search's error: a stored projection that did not decode inside the
/// key function is corrupt data, anything else a backend failure.
fn search_failure(error: rusqlite::Error) -> eventblocks_core::Error {
    failed("searching projections")(error)
}

fn count(connection: &Connection, filters: Arc<Vec<Filter>>) -> Result<u64> {
    let (narrowing, arguments) = narrowing(&filters);
    register_filters(connection, filters).map_err(failed("counting projections"))?;
    let sql = format!(
        "SELECT count(*) FROM eventblocks_projections
         WHERE {narrowing} AND eventblocks_passes({COLUMNS})"
    );
    let counted: i64 = connection
        .prepare(&sql)
        .and_then(|mut statement| {
            statement.query_row(rusqlite::params_from_iter(arguments), |row| row.get(0))
        })
        .map_err(failed("counting projections"))?;
    crate::row::from_sql("count", counted)
}

#[async_trait]
impl ProjectionStorageAdapter for SqliteProjectionStore {
    async fn save(&self, projection: StoredProjection, fence: Option<&Fence>) -> Result<()> {
        let record = Record::from(projection)?;
        let fence = fence.cloned();
        self.adapter
            .shared
            .writer
            .run("saving a projection", move |connection| {
                fence::admit(connection, fence.as_ref())?;
                save(connection, &record)
            })
            .await
    }

    async fn search(&self, search: &Search) -> Result<Page> {
        let search = Arc::new(search.clone());
        let searched = search.clone();
        let rows = self
            .adapter
            .shared
            .readers
            .run("searching projections", move |connection| {
                search_page(connection, &searched)
            })
            .await?;
        Ok(Page::from_rows(&search, rows))
    }

    async fn count(&self, filters: &[Filter]) -> Result<u64> {
        let filters = Arc::new(filters.to_vec());
        self.adapter
            .shared
            .readers
            .run("counting projections", move |connection| {
                count(connection, filters)
            })
            .await
    }
}
