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

/// A row of [`EVENT_COLUMNS`] as read, its JSON not yet checked: reading a
/// page and decoding it are separate steps, so a scan can read the next page
/// while it decodes this one.
#[derive(Debug)]
pub(crate) struct RawEvent {
    pub(crate) sequence_number: i64,
    id: [u8; 16],
    stream: StreamIdentifier,
    pub(crate) position: i64,
    name: Name,
    tags: Option<String>,
    pub(crate) payload: String,
    /// `None` for the empty object, the usual metadata.
    pub(crate) metadata: Option<String>,
    occurred_at: i64,
    observed_at: i64,
}

/// Reads rows, sharing one value per stream and per event name among
/// consecutive rows that repeat them (a stream read repeats both), so a
/// repeated name costs a comparison rather than an allocation.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    stream: Option<StreamIdentifier>,
    name: Option<Name>,
}

fn text<'a>(row: &'a Row<'_>, index: usize) -> Result<&'a str> {
    row.get_ref(index)
        .and_then(|value| value.as_str().map_err(rusqlite::Error::from))
        .map_err(|error| corrupt(format!("reading an event: {error}")))
}

impl Reader {
    /// Reads a row of [`EVENT_COLUMNS`].
    pub(crate) fn read(&mut self, row: &Row<'_>) -> Result<RawEvent> {
        let column = |error: rusqlite::Error| corrupt(format!("reading an event: {error}"));
        let metadata = text(row, 8)?;
        Ok(RawEvent {
            sequence_number: row.get(0).map_err(column)?,
            id: row.get(1).map_err(column)?,
            stream: self.stream(text(row, 2)?, text(row, 3)?)?,
            position: row.get(4).map_err(column)?,
            name: self.name(text(row, 5)?)?,
            tags: row.get(6).map_err(column)?,
            payload: text(row, 7)?.to_owned(),
            metadata: (metadata != "{}").then(|| metadata.to_owned()),
            occurred_at: row.get(9).map_err(column)?,
            observed_at: row.get(10).map_err(column)?,
        })
    }

    fn stream(&mut self, category: &str, stream: &str) -> Result<StreamIdentifier> {
        if let Some(known) = &self.stream {
            if known.category.as_str() == category && known.stream.as_str() == stream {
                return Ok(known.clone());
            }
        }
        let stream = StreamIdentifier::new(category, stream)
            .map_err(|error| corrupt(format!("stored stream: {error}")))?;
        Ok(self.stream.insert(stream).clone())
    }

    fn name(&mut self, name: &str) -> Result<Name> {
        if let Some(known) = &self.name {
            if known.as_str() == name {
                return Ok(known.clone());
            }
        }
        let name = Name::new("event name", name)
            .map_err(|error| corrupt(format!("stored event name: {error}")))?;
        Ok(self.name.insert(name).clone())
    }
}

impl RawEvent {
    /// The event, its JSON checked.
    pub(crate) fn decode(self) -> Result<StoredEvent> {
        let metadata = match self.metadata {
            None => Json::empty_object(),
            Some(metadata) => Json::from_stored(metadata)?,
        };
        Ok(StoredEvent {
            id: Uuid::from_bytes(self.id),
            name: self.name,
            tags: tags(self.tags)?,
            stream: self.stream,
            position: from_sql("position", self.position)?,
            sequence_number: from_sql("sequence number", self.sequence_number)?,
            payload: Json::from_stored(self.payload)?,
            metadata,
            occurred_at: timestamp("occurred_at", self.occurred_at)?,
            observed_at: timestamp("observed_at", self.observed_at)?,
        })
    }
}

/// Decodes a row of [`EVENT_COLUMNS`].
pub(crate) fn event(row: &Row<'_>) -> Result<StoredEvent> {
    Reader::default().read(row)?.decode()
}
