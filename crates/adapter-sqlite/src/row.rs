//! Converting between stored rows and eventblocks' values.

use chrono::{DateTime, Utc};
use eventblocks_core::{Json, Name, Result, StoredEvent, StreamIdentifier, Tag};
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

fn tags(text: Option<String>) -> Result<std::collections::BTreeSet<Tag>> {
    let Some(text) = text else {
        return Ok(Default::default());
    };
    let tags: Vec<String> =
        serde_json::from_str(&text).map_err(|error| corrupt(format!("stored tags: {error}")))?;
    tags.into_iter()
        .map(|tag| Tag::new(tag).map_err(|error| corrupt(format!("stored tag: {error}"))))
        .collect()
}

/// A row of [`EVENT_COLUMNS`] as read, not yet decoded: reading a page and
/// decoding it are separate steps, so a scan can read the next page while it
/// decodes this one.
#[derive(Debug)]
pub(crate) struct RawEvent {
    pub(crate) sequence_number: i64,
    id: [u8; 16],
    category: String,
    stream: String,
    pub(crate) position: i64,
    name: String,
    tags: Option<String>,
    pub(crate) payload: String,
    pub(crate) metadata: String,
    occurred_at: i64,
    observed_at: i64,
}

impl RawEvent {
    /// Reads a row of [`EVENT_COLUMNS`].
    pub(crate) fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            sequence_number: row.get(0)?,
            id: row.get(1)?,
            category: row.get(2)?,
            stream: row.get(3)?,
            position: row.get(4)?,
            name: row.get(5)?,
            tags: row.get(6)?,
            payload: row.get(7)?,
            metadata: row.get(8)?,
            occurred_at: row.get(9)?,
            observed_at: row.get(10)?,
        })
    }
}

/// Decodes rows, sharing one value per stream and per event name among
/// consecutive rows that repeat them (a stream read repeats both).
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    stream: Option<StreamIdentifier>,
    name: Option<Name>,
}

impl Decoder {
    pub(crate) fn decode(&mut self, raw: RawEvent) -> Result<StoredEvent> {
        let stream = match &self.stream {
            Some(known)
                if known.category.as_str() == raw.category
                    && known.stream.as_str() == raw.stream =>
            {
                known.clone()
            }
            _ => {
                let stream = StreamIdentifier::new(raw.category, raw.stream)
                    .map_err(|error| corrupt(format!("stored stream: {error}")))?;
                self.stream.insert(stream).clone()
            }
        };
        let name = match &self.name {
            Some(known) if known.as_str() == raw.name => known.clone(),
            _ => {
                let name = Name::new("event name", raw.name)
                    .map_err(|error| corrupt(format!("stored event name: {error}")))?;
                self.name.insert(name).clone()
            }
        };
        let metadata = if raw.metadata == "{}" {
            Json::empty_object()
        } else {
            Json::from_stored(raw.metadata)?
        };
        Ok(StoredEvent {
            id: Uuid::from_bytes(raw.id),
            name,
            tags: tags(raw.tags)?,
            stream,
            position: from_sql("position", raw.position)?,
            sequence_number: from_sql("sequence number", raw.sequence_number)?,
            payload: Json::from_stored(raw.payload)?,
            metadata,
            occurred_at: timestamp("occurred_at", raw.occurred_at)?,
            observed_at: timestamp("observed_at", raw.observed_at)?,
        })
    }
}

/// Decodes a row of [`EVENT_COLUMNS`].
pub(crate) fn event(row: &Row<'_>) -> Result<StoredEvent> {
    let column = |error: rusqlite::Error| corrupt(format!("reading an event: {error}"));
    let id: [u8; 16] = row.get(1).map_err(column)?;
    let category: String = row.get(2).map_err(column)?;
    let stream: String = row.get(3).map_err(column)?;
    let name: String = row.get(5).map_err(column)?;
    let stream = StreamIdentifier::new(category, stream)
        .map_err(|error| corrupt(format!("stored stream: {error}")))?;
    Ok(StoredEvent {
        id: Uuid::from_bytes(id),
        name: Name::new("event name", name)
            .map_err(|error| corrupt(format!("stored event name: {error}")))?,
        tags: tags(row.get(6).map_err(column)?)?,
        stream,
        position: from_sql("position", row.get(4).map_err(column)?)?,
        sequence_number: from_sql("sequence number", row.get(0).map_err(column)?)?,
        payload: Json::from_stored(row.get(7).map_err(column)?)?,
        metadata: Json::from_stored(row.get(8).map_err(column)?)?,
        occurred_at: timestamp("occurred_at", row.get(9).map_err(column)?)?,
        observed_at: timestamp("observed_at", row.get(10).map_err(column)?)?,
    })
}
