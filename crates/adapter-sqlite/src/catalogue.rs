//! The catalogue, read from the tables the save path keeps
//! (`sql/migrations/0002_catalogue.sql`): every listing is a range scan of a
//! primary key, and categories are found by one index probe each.

use eventblocks_core::{
    CatalogueRequest, CategoryIdentifier, Name, Result, StreamIdentifier, StreamSummary,
    WriteOutcome,
};
use rusqlite::types::Value;
use rusqlite::Connection;

use crate::error::database;
use crate::row::from_sql;

/// The condition on `column` for `request`'s range, with its parameters
/// numbered from `first`.
fn range(column: &str, request: &CatalogueRequest, first: usize) -> (String, Vec<Value>) {
    let range = request.range();
    let operator = if range.inclusive { ">=" } else { ">" };
    let mut sql = format!("{column} {operator} ?{first}");
    let mut values = vec![Value::Text(range.lower)];
    if let Some(upper) = range.upper {
        sql.push_str(&format!(" AND {column} < ?{}", first + 1));
        values.push(Value::Text(upper));
    }
    (sql, values)
}

fn failed(what: &'static str) -> impl Fn(rusqlite::Error) -> eventblocks_core::Error {
    move |error| database(error, what, WriteOutcome::NotWritten)
}

fn name(field: &'static str, text: String) -> Result<Name> {
    Name::new(field, text).map_err(|error| crate::error::corrupt(format!("a stored name: {error}")))
}

pub(crate) fn categories(
    connection: &Connection,
    request: &CatalogueRequest,
) -> Result<Vec<CategoryIdentifier>> {
    let failed = failed("listing categories");
    let range = request.range();
    let upper = if range.upper.is_some() {
        " AND category < ?2"
    } else {
        ""
    };
    let probe = |operator: &str| {
        format!(
            "SELECT category FROM eventblocks_streams \
              WHERE category {operator} ?1{upper} ORDER BY category LIMIT 1"
        )
    };
    let (first, next) = (probe(if range.inclusive { ">=" } else { ">" }), probe(">"));
    let mut lower = range.lower;
    let mut found = Vec::new();
    while found.len() < request.limit() {
        let sql = if found.is_empty() { &first } else { &next };
        let mut statement = connection.prepare_cached(sql).map_err(&failed)?;
        let mut values = vec![Value::Text(lower)];
        values.extend(range.upper.clone().map(Value::Text));
        let mut rows = statement
            .query(rusqlite::params_from_iter(values.iter()))
            .map_err(&failed)?;
        let Some(row) = rows.next().map_err(&failed)? else {
            break;
        };
        let category: String = row.get(0).map_err(&failed)?;
        lower = category.clone();
        found.push(CategoryIdentifier {
            category: name("category", category)?,
        });
    }
    Ok(found)
}

pub(crate) fn streams(
    connection: &Connection,
    category: &CategoryIdentifier,
    request: &CatalogueRequest,
) -> Result<Vec<StreamSummary>> {
    let failed = failed("listing streams");
    let (condition, mut values) = range("stream", request, 2);
    values.insert(0, Value::Text(category.category.as_str().to_owned()));
    let limit = i64::try_from(request.limit()).unwrap_or(i64::MAX);
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT stream, last_position FROM eventblocks_streams \
              WHERE category = ?1 AND {condition} ORDER BY stream LIMIT {limit}"
        ))
        .map_err(&failed)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(values.iter()))
        .map_err(&failed)?;
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(&failed)? {
        let stream = StreamIdentifier {
            category: category.category.clone(),
            stream: name("stream", row.get(0).map_err(&failed)?)?,
        };
        let last = from_sql("last position", row.get(1).map_err(&failed)?)?;
        found.push(StreamSummary::new(stream, last));
    }
    Ok(found)
}

pub(crate) fn event_names(
    connection: &Connection,
    request: &CatalogueRequest,
) -> Result<Vec<Name>> {
    let failed = failed("listing event names");
    let (condition, values) = range("name", request, 1);
    let limit = i64::try_from(request.limit()).unwrap_or(i64::MAX);
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT name FROM eventblocks_event_names WHERE {condition} ORDER BY name LIMIT {limit}"
        ))
        .map_err(&failed)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(values.iter()))
        .map_err(&failed)?;
    let mut found = Vec::new();
    while let Some(row) = rows.next().map_err(&failed)? {
        found.push(name("event name", row.get(0).map_err(&failed)?)?);
    }
    Ok(found)
}

pub(crate) fn stream(
    connection: &Connection,
    stream: &StreamIdentifier,
) -> Result<Option<StreamSummary>> {
    let failed = failed("reading a stream's length");
    let mut statement = connection
        .prepare_cached(
            "SELECT last_position FROM eventblocks_streams WHERE category = ?1 AND stream = ?2",
        )
        .map_err(&failed)?;
    let mut rows = statement
        .query([stream.category.as_str(), stream.stream.as_str()])
        .map_err(&failed)?;
    match rows.next().map_err(&failed)? {
        Some(row) => {
            let last = from_sql("last position", row.get(0).map_err(&failed)?)?;
            Ok(Some(StreamSummary::new(stream.clone(), last)))
        }
        None => Ok(None),
    }
}
