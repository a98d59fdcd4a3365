//! Decoding stored rows.

use std::fmt::Display;

use eventblocks_core::{Error, Json, Name, Result, StoredEvent, StreamIdentifier};
use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

/// Decodes a row selected by `sql/select_events.sql`.
pub(crate) fn stored_event(row: &Row) -> Result<StoredEvent> {
    Ok(StoredEvent {
        sequence_number: number(column(row, 0)?)?,
        id: column(row, 1)?,
        stream: StreamIdentifier::new(column::<String>(row, 2)?, column::<String>(row, 3)?)
            .map_err(corrupt)?,
        position: number(column(row, 4)?)?,
        name: Name::new("name", column::<String>(row, 5)?).map_err(corrupt)?,
        payload: Json::from_stored(column(row, 6)?)?,
        metadata: Json::from_stored(column(row, 7)?)?,
        occurred_at: column(row, 8)?,
        observed_at: column(row, 9)?,
    })
}

fn column<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<T> {
    row.try_get(index).map_err(corrupt)
}

fn number(value: i64) -> Result<u64> {
    u64::try_from(value).map_err(corrupt)
}

fn corrupt(reason: impl Display) -> Error {
    Error::corrupt(format!("an event row could not be decoded: {reason}"))
}
