//! Decoding stored rows.

use std::fmt::Display;

use eventblocks_core::{Error, Json, Name, Result, StoredEvent, StreamIdentifier, Tag};
use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

/// Decodes a row selected by `sql/events/select.sql`.
pub(crate) fn stored_event(row: &Row) -> Result<StoredEvent> {
    stored_event_at(row, 0)
}

/// Decodes the columns of `sql/events/select.sql` starting at column `at`.
pub(crate) fn stored_event_at(row: &Row, at: usize) -> Result<StoredEvent> {
    let column = |index: usize| at + index;
    Ok(StoredEvent {
        sequence_number: number(get(row, column(0))?)?,
        id: get(row, column(1))?,
        stream: StreamIdentifier::new(
            get::<String>(row, column(2))?,
            get::<String>(row, column(3))?,
        )
        .map_err(corrupt)?,
        position: number(get(row, column(4))?)?,
        name: Name::new("name", get::<String>(row, column(5))?).map_err(corrupt)?,
        tags: get::<Vec<String>>(row, column(10))?
            .into_iter()
            .map(|tag| Tag::new(tag).map_err(corrupt))
            .collect::<Result<_>>()?,
        payload: Json::from_stored(get::<&str>(row, column(6))?)?,
        metadata: Json::from_stored(get::<&str>(row, column(7))?)?,
        occurred_at: get(row, column(8))?,
        observed_at: get(row, column(9))?,
    })
}

fn get<'a, T: FromSql<'a>>(row: &'a Row, index: usize) -> Result<T> {
    row.try_get(index).map_err(corrupt)
}

fn number(value: i64) -> Result<u64> {
    u64::try_from(value).map_err(corrupt)
}

fn corrupt(reason: impl Display) -> Error {
    Error::corrupt(format!("an event row could not be decoded: {reason}"))
}
