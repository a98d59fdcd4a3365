//! Converting between stored rows and eventblocks' values.

use chrono::{DateTime, Utc};
use eventblocks_core::{Json, Name, Result, StoredEvent, StreamIdentifier, Tag};
use rusqlite::types::ValueRef;
use rusqlite::Row;
use uuid::Uuid;

use crate::error::corrupt;

/// The columns [`event`] reads, in its order.
pub(crate) const EVENT_COLUMNS: &str = "sequence_number, id, category, stream, position, name, \
     tags, payload, metadata, occurred_at, observed_at";

/// A number as SQLite stores it (numbers the store accepts fit in `i64`).
pub(crate) fn to_sql(field: &'static str, value: u64) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        eventblocks_core::Error::invalid(
            field,
            format!("{value} is larger than the largest storable number"),
        )
    })
}

/// A stored number that must not be negative.
pub(crate) fn from_sql(field: &str, value: i64) -> Result<u64> {
    u64::try_from(value).map_err(|_| corrupt(format!("stored {field} {value} is negative")))
}

/// Microseconds since the epoch: timestamps are kept to the microsecond.
pub(crate) fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

fn timestamp(field: &str, micros: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| corrupt(format!("stored {field} {micros} is not a timestamp")))
}

/// The tags column: NULL when there are none.
pub(crate) fn tags_text<'a>(tags: impl ExactSizeIterator<Item = &'a Tag>) -> Option<String> {
    if tags.len() == 0 {
        return None;
    }
    let tags: Vec<&str> = tags.map(Tag::as_str).collect();
    serde_json::to_string(&tags).ok()
}

fn tags(text: Option<&str>) -> Result<std::collections::BTreeSet<Tag>> {
    let Some(text) = text else {
        return Ok(Default::default());
    };
    // Owned: a tag's JSON text may hold escapes.
    let tags: Vec<String> =
        serde_json::from_str(text).map_err(|error| corrupt(format!("stored tags: {error}")))?;
    tags.into_iter()
        .map(|tag| Tag::new(tag).map_err(|error| corrupt(format!("stored tag: {error}"))))
        .collect()
}

/// Reads rows of [`EVENT_COLUMNS`], sharing one value per stream and per
/// event name among consecutive rows that repeat them (a stream read repeats
/// both), so a repeated name costs a comparison of bytes rather than a check
/// and an allocation.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    stream: Option<StreamIdentifier>,
    name: Option<Name>,
}

fn failed(error: rusqlite::Error) -> eventblocks_core::Error {
    corrupt(format!("reading an event: {error}"))
}

/// A column's raw text, as SQLite holds it (not yet checked as UTF-8).
fn bytes<'a>(row: &'a Row<'_>, index: usize) -> Result<&'a [u8]> {
    row.get_ref(index)
        .and_then(|value| value.as_bytes().map_err(rusqlite::Error::from))
        .map_err(failed)
}

fn utf8(bytes: &[u8]) -> Result<&str> {
    std::str::from_utf8(bytes).map_err(|error| corrupt(format!("reading an event: {error}")))
}

fn text<'a>(row: &'a Row<'_>, index: usize) -> Result<&'a str> {
    utf8(bytes(row, index)?)
}

fn integer(row: &Row<'_>, index: usize) -> Result<i64> {
    row.get_ref(index)
        .and_then(|value| value.as_i64().map_err(rusqlite::Error::from))
        .map_err(failed)
}

impl Reader {
    /// Reads and decodes a row of [`EVENT_COLUMNS`].
    pub(crate) fn read(&mut self, row: &Row<'_>) -> Result<StoredEvent> {
        let id: [u8; 16] = row.get(1).map_err(failed)?;
        let tag_list = match row.get_ref(6).map_err(failed)? {
            ValueRef::Null => None,
            _ => Some(text(row, 6)?),
        };
        let metadata = match bytes(row, 8)? {
            b"{}" => Json::empty_object(),
            other => Json::from_stored(utf8(other)?)?,
        };
        Ok(StoredEvent {
            id: Uuid::from_bytes(id),
            stream: self.stream(bytes(row, 2)?, bytes(row, 3)?)?,
            name: self.name(bytes(row, 5)?)?,
            tags: tags(tag_list)?,
            position: from_sql("position", integer(row, 4)?)?,
            sequence_number: from_sql("sequence number", integer(row, 0)?)?,
            payload: Json::from_stored(text(row, 7)?)?,
            metadata,
            occurred_at: timestamp("occurred_at", integer(row, 9)?)?,
            observed_at: timestamp("observed_at", integer(row, 10)?)?,
        })
    }

    fn stream(&mut self, category: &[u8], stream: &[u8]) -> Result<StreamIdentifier> {
        if let Some(known) = &self.stream {
            if known.category.as_str().as_bytes() == category
                && known.stream.as_str().as_bytes() == stream
            {
                return Ok(known.clone());
            }
        }
        let stream = StreamIdentifier::new(utf8(category)?, utf8(stream)?)
            .map_err(|error| corrupt(format!("stored stream: {error}")))?;
        Ok(self.stream.insert(stream).clone())
    }

    fn name(&mut self, name: &[u8]) -> Result<Name> {
        if let Some(known) = &self.name {
            if known.as_str().as_bytes() == name {
                return Ok(known.clone());
            }
        }
        let name = Name::new("event name", utf8(name)?)
            .map_err(|error| corrupt(format!("stored event name: {error}")))?;
        Ok(self.name.insert(name).clone())
    }
}

/// Decodes a row of [`EVENT_COLUMNS`].
pub(crate) fn event(row: &Row<'_>) -> Result<StoredEvent> {
    Reader::default().read(row)
}
