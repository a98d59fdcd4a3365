//! The catalogue, read from the tables the save path keeps
//! (`sql/migrations/0010_catalogue.sql`): each listing is one range scan of
//! a primary key, categories one index probe each, whatever the number of
//! streams or events stored.

use eventblocks_core::{
    CatalogueRequest, CategoryIdentifier, Error, Name, Result, StreamIdentifier, StreamSummary,
};

use crate::adapter::Inner;
use crate::scan;

/// Greater than every valid name: names are at most 255 bytes, and no UTF-8
/// byte sequence sorts above a run of U+10FFFF (`F4 8F BF BF`) at least as
/// long, so this 256-byte run bounds every listing that has no upper bound
/// of its own.
fn beyond_every_name() -> String {
    "\u{10FFFF}".repeat(64)
}

/// `request`'s range as an inclusive lower and an exclusive upper bound: the
/// least name above `s` is `s` followed by U+0001 (names hold no NUL).
fn bounds(request: &CatalogueRequest) -> (String, String) {
    let range = request.range();
    let mut lower = range.lower;
    if !range.inclusive {
        lower.push('\u{1}');
    }
    (lower, range.upper.unwrap_or_else(beyond_every_name))
}

fn limit(request: &CatalogueRequest) -> i64 {
    i64::try_from(request.limit()).unwrap_or(i64::MAX)
}

fn name(field: &'static str, text: String) -> Result<Name> {
    Name::new(field, text).map_err(|error| Error::corrupt(format!("a stored {field}: {error}")))
}

fn last_position(value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| Error::corrupt("a stream's last position is negative"))
}

pub(crate) async fn categories(
    inner: &Inner,
    request: &CatalogueRequest,
) -> Result<Vec<CategoryIdentifier>> {
    let (lower, upper) = bounds(request);
    let sql = &inner.sql.catalogue.categories;
    let rows = scan::read(
        inner,
        sql,
        &[&lower, &upper, &limit(request)],
        "listing categories",
    )
    .await?;
    rows.iter()
        .map(|row| {
            Ok(CategoryIdentifier {
                category: name("category", row.get(0))?,
            })
        })
        .collect()
}

pub(crate) async fn streams(
    inner: &Inner,
    category: &CategoryIdentifier,
    request: &CatalogueRequest,
) -> Result<Vec<StreamSummary>> {
    let (lower, upper) = bounds(request);
    let parameters: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
        [&category.category.as_str(), &lower, &upper, &limit(request)];
    let sql = &inner.sql.catalogue.streams;
    let rows = scan::read(inner, sql, &parameters, "listing streams").await?;
    rows.iter()
        .map(|row| {
            let stream = StreamIdentifier {
                category: category.category.clone(),
                stream: name("stream", row.get(0))?,
            };
            Ok(StreamSummary::new(stream, last_position(row.get(1))?))
        })
        .collect()
}

pub(crate) async fn event_names(inner: &Inner, request: &CatalogueRequest) -> Result<Vec<Name>> {
    let (lower, upper) = bounds(request);
    let sql = &inner.sql.catalogue.event_names;
    let rows = scan::read(
        inner,
        sql,
        &[&lower, &upper, &limit(request)],
        "listing event names",
    )
    .await?;
    rows.iter()
        .map(|row| name("event name", row.get(0)))
        .collect()
}

pub(crate) async fn stream(
    inner: &Inner,
    stream: &StreamIdentifier,
) -> Result<Option<StreamSummary>> {
    let parameters: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
        [&stream.category.as_str(), &stream.stream.as_str()];
    let sql = &inner.sql.catalogue.stream;
    let rows = scan::read(inner, sql, &parameters, "reading a stream's length").await?;
    match rows.first() {
        Some(row) => Ok(Some(StreamSummary::new(
            stream.clone(),
            last_position(row.get(0))?,
        ))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_beyond_every_name_is_above_the_greatest_names() {
        let beyond = beyond_every_name();
        let greatest = "\u{10FFFF}".repeat(63) + "\u{7F}\u{7F}\u{7F}";
        assert!(greatest.len() <= eventblocks_core::MAX_NAME_BYTES);
        assert!(greatest.as_bytes() < beyond.as_bytes());
        assert!("\u{10FFFF}".repeat(63).as_bytes() < beyond.as_bytes());
    }
}
