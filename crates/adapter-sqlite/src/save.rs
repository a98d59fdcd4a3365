//! A save, carried out on the writer thread inside its write transaction:
//! read what [`SaveRequest::plan`] needs, let it decide, append.
//!
//! The writer holds SQLite's write lock for the whole transaction, across
//! every process sharing the file, so the states read here cannot change
//! before the insert: every serialisation guarantee holds, and query
//! conditions are checked atomically with the write.

use eventblocks_core::{
    Error, Name, NewEvent, Result, SaveFacts, SavePlan, SaveRequest, StoredEvent, StreamIdentifier,
    StreamState, WriteOutcome,
};
use rusqlite::{params, Connection, OptionalExtension};
use uuid::Uuid;

use crate::boundary;
use crate::row::{self, from_sql, to_sql};

fn failed(what: &'static str) -> impl Fn(rusqlite::Error) -> Error {
    move |error| crate::error::database(error, what, WriteOutcome::NotWritten)
}

/// Carries out `request` in the open transaction.
pub(crate) fn save(connection: &Connection, request: SaveRequest) -> Result<Vec<StoredEvent>> {
    let with_ids = request.needs_last_event_ids();
    let states = request
        .writes()
        .iter()
        .map(|write| stream_state(connection, &write.stream, with_ids))
        .collect::<Result<Vec<_>>>()?;
    let already = stored_with_ids(connection, &request)?;
    let matches = request
        .checks()
        .iter()
        .map(|check| boundary::first_match(connection, check))
        .collect::<Result<Vec<_>>>()?;
    let tracked = match request.tracking() {
        Some(tracking) => tracked(connection, &tracking.consumer)?,
        None => None,
    };
    let facts = SaveFacts::new(&states, &already)
        .with_matches(&matches)
        .with_tracked(tracked);
    match request.plan(facts)? {
        SavePlan::AlreadyStored(events) => Ok(events),
        SavePlan::AlreadyTracked => Ok(Vec::new()),
        SavePlan::Append(positions) => {
            if let Some(tracking) = request.tracking() {
                track(connection, &tracking.consumer, tracking.position)?;
            }
            append(connection, request, &positions)
        }
    }
}

fn stream_state(
    connection: &Connection,
    stream: &StreamIdentifier,
    with_id: bool,
) -> Result<StreamState> {
    let mut statement = connection
        .prepare_cached(
            "SELECT position, id FROM eventblocks_events
             WHERE category = ?1 AND stream = ?2 ORDER BY position DESC LIMIT 1",
        )
        .map_err(failed("reading a stream's state"))?;
    let last: Option<(i64, [u8; 16])> = statement
        .query_row(
            params![stream.category.as_str(), stream.stream.as_str()],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()
        .map_err(failed("reading a stream's state"))?;
    let Some((position, id)) = last else {
        return Ok(StreamState::new(None));
    };
    let state = StreamState::new(Some(from_sql("position", position)?));
    Ok(if with_id {
        state.with_last_event_id(Some(Uuid::from_bytes(id)))
    } else {
        state
    })
}

/// Every stored event with one of the request's ids, in any stream.
fn stored_with_ids(connection: &Connection, request: &SaveRequest) -> Result<Vec<StoredEvent>> {
    // Fresh UUIDv7 ids sort after every stored one: then none can be stored,
    // and one probe of the id index replaces one per event.
    let newest: Option<[u8; 16]> = connection
        .prepare_cached("SELECT max(id) FROM eventblocks_events")
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .map_err(failed("reading the newest event id"))?;
    let newest = newest.map(Uuid::from_bytes);
    if request
        .event_ids()
        .all(|id| newest.is_none_or(|newest| id > newest))
    {
        return Ok(Vec::new());
    }
    let mut statement = connection
        .prepare_cached(&format!(
            "SELECT {} FROM eventblocks_events WHERE id = ?1",
            row::EVENT_COLUMNS
        ))
        .map_err(failed("looking up event ids"))?;
    let mut found = Vec::new();
    for id in request.event_ids() {
        let mut rows = statement
            .query([id.as_bytes().as_slice()])
            .map_err(failed("looking up event ids"))?;
        if let Some(stored) = rows.next().map_err(failed("looking up event ids"))? {
            found.push(row::event(stored)?);
        }
    }
    Ok(found)
}

/// The upstream position `consumer` last tracked.
pub(crate) fn tracked(connection: &Connection, consumer: &Name) -> Result<Option<u64>> {
    let position: Option<i64> = connection
        .prepare_cached("SELECT position FROM eventblocks_tracking WHERE consumer = ?1")
        .and_then(|mut statement| {
            statement
                .query_row([consumer.as_str()], |row| row.get(0))
                .optional()
        })
        .map_err(failed("reading a tracked position"))?;
    position
        .map(|position| from_sql("tracked position", position))
        .transpose()
}

fn track(connection: &Connection, consumer: &Name, position: u64) -> Result<()> {
    let position = to_sql("position", position)?;
    connection
        .prepare_cached(
            "INSERT INTO eventblocks_tracking (consumer, position) VALUES (?1, ?2)
             ON CONFLICT (consumer) DO UPDATE SET position = excluded.position",
        )
        .and_then(|mut statement| statement.execute(params![consumer.as_str(), position]))
        .map_err(failed("recording a tracked position"))?;
    Ok(())
}

/// Appends every write's events from the positions the plan gave, numbering
/// them after the last stored event.
fn append(
    connection: &Connection,
    request: SaveRequest,
    positions: &[u64],
) -> Result<Vec<StoredEvent>> {
    let last: i64 = connection
        .prepare_cached("SELECT coalesce(max(sequence_number), 0) FROM eventblocks_events")
        .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
        .map_err(failed("reading the last sequence number"))?;
    let mut next = from_sql("sequence number", last)? + 1;
    let mut stored = Vec::with_capacity(request.event_count());
    let mut insert = connection
        .prepare_cached(&format!(
            "INSERT INTO eventblocks_events ({}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            row::EVENT_COLUMNS
        ))
        .map_err(failed("appending events"))?;
    for (write, &first) in request.into_writes().into_iter().zip(positions) {
        for (offset, event) in (0_u64..).zip(write.events) {
            let position = first + offset;
            insert_event(
                connection,
                &mut insert,
                &write.stream,
                &event,
                position,
                next,
            )?;
            stored.push(event.into_stored(write.stream.clone(), position, next));
            next += 1;
        }
    }
    Ok(stored)
}

fn insert_event(
    connection: &Connection,
    insert: &mut rusqlite::CachedStatement<'_>,
    stream: &StreamIdentifier,
    event: &NewEvent,
    position: u64,
    sequence_number: u64,
) -> Result<()> {
    let sequence = to_sql("sequence number", sequence_number)?;
    insert
        .execute(params![
            sequence,
            event.id().as_bytes().as_slice(),
            stream.category.as_str(),
            stream.stream.as_str(),
            to_sql("position", position)?,
            event.name().as_str(),
            row::tags_text(event.tag_set().iter()),
            event.payload().as_str(),
            event.metadata().as_str(),
            row::micros(event.occurred_at()),
            row::micros(event.observed_at()),
        ])
        .map_err(failed("appending an event"))?;
    if event.tag_set().is_empty() {
        return Ok(());
    }
    let mut tag = connection
        .prepare_cached("INSERT INTO eventblocks_event_tags (tag, sequence_number) VALUES (?1, ?2)")
        .map_err(failed("appending an event's tags"))?;
    for each in event.tag_set() {
        tag.execute(params![each.as_str(), sequence])
            .map_err(failed("appending an event's tags"))?;
    }
    Ok(())
}
