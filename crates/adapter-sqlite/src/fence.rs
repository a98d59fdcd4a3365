//! Fencing tokens kept in the file: the newest token seen per consumer
//! partition, checked and raised inside the writer's transaction, so the
//! check and the write it guards are one atomic step across processes.

use eventblocks_core::{Fence, Name, Result, WriteOutcome};
use rusqlite::{params, Connection, OptionalExtension};

use crate::row::{from_sql, to_sql};

fn failed(error: rusqlite::Error) -> eventblocks_core::Error {
    crate::error::database(error, "checking a fence", WriteOutcome::NotWritten)
}

/// The newest token seen for `partition` of `consumer`.
pub(crate) fn newest(
    connection: &Connection,
    consumer: &Name,
    partition: u32,
) -> Result<Option<u64>> {
    let token: Option<i64> = connection
        .prepare_cached(
            "SELECT token FROM eventblocks_fences WHERE consumer = ?1 AND partition = ?2",
        )
        .and_then(|mut statement| {
            statement
                .query_row(params![consumer.as_str(), partition], |row| row.get(0))
                .optional()
        })
        .map_err(failed)?;
    token
        .map(|token| from_sql("fencing token", token))
        .transpose()
}

/// Makes `token` the newest of the partition (callers have checked it is
/// not older).
pub(crate) fn raise(
    connection: &Connection,
    consumer: &Name,
    partition: u32,
    token: u64,
) -> Result<()> {
    let token = to_sql("fence", token)?;
    connection
        .prepare_cached(
            "INSERT INTO eventblocks_fences (consumer, partition, token) VALUES (?1, ?2, ?3)
             ON CONFLICT (consumer, partition) DO UPDATE SET token = max(token, excluded.token)",
        )
        .and_then(|mut statement| statement.execute(params![consumer.as_str(), partition, token]))
        .map_err(failed)?;
    Ok(())
}

/// Refuses a write under `fence` if it is older than the newest token seen
/// (see [`Fence::admit`]), and keeps it as the newest otherwise. Call it in
/// the transaction of the write it guards; writes without a fence pass.
pub(crate) fn admit(connection: &Connection, fence: Option<&Fence>) -> Result<()> {
    let Some(fence) = fence else {
        return Ok(());
    };
    let newest = newest(connection, fence.consumer(), fence.partition())?;
    let keep = fence.admit(newest)?;
    if newest != Some(keep) {
        raise(connection, fence.consumer(), fence.partition(), keep)?;
    }
    Ok(())
}
