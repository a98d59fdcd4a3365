//! Carrying out a [`SaveRequest`].
//!
//! The common case takes one statement: the save function locks the streams,
//! reads their states and inserts, but only if every stream is in the state the
//! save was decided against with core's [`SaveRequest::plan`]. The decision
//! starts from a guess taken from the conditions; when the guess was wrong, the
//! function returns the states it found and the save is decided again. Unmet
//! conditions and possible retries (an event id already stored) are decided in
//! an explicit transaction that also reads the stored events by id.

mod arguments;

use std::collections::HashMap;

use deadpool_postgres::Client;
use eventblocks_core::{
    Error, Result, SavePlan, SaveRequest, StoredEvent, StreamState, WriteOutcome,
};
use futures::future::join;
use tokio_postgres::Row;
use tracing::debug;
use uuid::Uuid;

use self::arguments::{lock_keys, Arguments, Expected};
use crate::adapter::Inner;
use crate::session::Session;
use crate::{error, row};

/// Single-statement attempts before deciding in a transaction: each failed
/// attempt means another writer changed a stream in between.
const STATEMENT_ATTEMPTS: usize = 3;

/// Rounds of deciding a save before giving up with a retryable
/// [`Error::Conflict`]: a round is lost only when another writer took a
/// position the save was about to write (see
/// [`MAX_STREAM_LOCKS`](arguments::MAX_STREAM_LOCKS)).
const ROUNDS: usize = 8;

pub(crate) async fn save(inner: &Inner, request: SaveRequest) -> Result<Vec<StoredEvent>> {
    for _ in 0..ROUNDS {
        if let Some(events) = decide_and_save(inner, &request).await? {
            return Ok(events);
        }
        debug!("a position was taken by another writer; deciding the save again");
    }
    Err(Error::Conflict {
        message: "other writers kept appending to the streams of this save while it was decided"
            .into(),
        source: None,
    })
}

/// One round: the saved events, or `None` when another writer took a position
/// first (nothing was written).
async fn decide_and_save(inner: &Inner, request: &SaveRequest) -> Result<Option<Vec<StoredEvent>>> {
    let mut guess = Expected::guess(request);
    for _ in 0..STATEMENT_ATTEMPTS {
        // Only states that core's plan accepts are ever sent.
        let Some(expected) = guess.take() else { break };
        match in_one_statement(inner, request, &expected).await? {
            Outcome::Saved(events) => return Ok(Some(events)),
            Outcome::Found(states) => match request.plan(&states, &[]) {
                Ok(SavePlan::Append(_)) => guess = Some(Expected::found(&states)),
                _ => break,
            },
            Outcome::PositionTaken => return Ok(None),
            Outcome::IdTaken => break,
        }
    }
    debug!("deciding the save in a transaction");
    in_transaction(inner, request).await
}

/// What the save function did.
enum Outcome {
    Saved(Vec<StoredEvent>),
    /// Nothing inserted: a stream was not in the expected state.
    Found(Vec<StreamState>),
    /// Nothing inserted: another writer inserted at a position this save was
    /// about to take (possible only for saves that take no stream locks).
    PositionTaken,
    /// Nothing inserted: an event id is already stored.
    IdTaken,
}

/// One autocommit statement: its own transaction, so a broken connection
/// leaves the outcome unknown.
async fn in_one_statement(
    inner: &Inner,
    request: &SaveRequest,
    expected: &[Expected],
) -> Result<Outcome> {
    let client = inner.pool.get().await.map_err(error::pool)?;
    let arguments = Arguments::new(request, keys(inner, request), expected);
    let statement = client
        .prepare_cached(&inner.sql.events.save)
        .await
        .map_err(|e| error::database(e, "preparing a save", WriteOutcome::NotWritten))?;
    match client.query_one(&statement, &arguments.parameters()).await {
        Ok(row) => outcome(request, &row),
        Err(e) if error::violates(&e, &inner.names.constraint("_id_key")) => Ok(Outcome::IdTaken),
        Err(e) if error::violates(&e, &inner.names.constraint("_position_key")) => {
            Ok(Outcome::PositionTaken)
        }
        Err(e) => {
            error::release(client, &e);
            Err(error::database(e, "saving events", WriteOutcome::Unknown))
        }
    }
}

fn outcome(request: &SaveRequest, row: &Row) -> Result<Outcome> {
    let corrupt = |e| Error::corrupt(format!("the save function returned {e}"));
    let first: Option<i64> = row.try_get(0).map_err(corrupt)?;
    let found: Vec<Option<i64>> = row.try_get(1).map_err(corrupt)?;
    let states = found
        .into_iter()
        .map(|last| {
            let last = last.map(u64::try_from).transpose();
            last.map(StreamState::new)
                .map_err(|_| Error::corrupt("a stored position is negative"))
        })
        .collect::<Result<Vec<_>>>()?;
    if states.len() != request.writes().len() {
        return Err(Error::corrupt(
            "the save function returned a state per stream",
        ));
    }
    let Some(first) = first else {
        return Ok(Outcome::Found(states));
    };
    let first_positions: Vec<u64> = states.iter().map(StreamState::next_position).collect();
    Ok(Outcome::Saved(stored_events(
        request,
        &first_positions,
        first,
    )))
}

/// An explicit transaction in two round trips: `BEGIN` travels with the
/// locking read, `COMMIT` with the save function (if that fails, the `COMMIT`
/// rolls back). Also reads the stored events with the request's ids, so core
/// can recognise a retry.
async fn in_transaction(inner: &Inner, request: &SaveRequest) -> Result<Option<Vec<StoredEvent>>> {
    let not_written = |what| move |e| error::database(e, what, WriteOutcome::NotWritten);
    let session = Session::new(inner.pool.get().await.map_err(error::pool)?);
    let client = session.client();
    let lock = client
        .prepare_cached(&inner.sql.events.lock_streams)
        .await
        .map_err(not_written("preparing a save"))?;
    let save = client
        .prepare_cached(&inner.sql.events.save)
        .await
        .map_err(not_written("preparing a save"))?;
    let keys = keys(inner, request);
    let streams: Vec<&str> = request
        .writes()
        .iter()
        .map(|w| w.stream.stream.as_str())
        .collect();
    let category = request.category().category.as_str();
    let (begun, locked) = join(
        client.batch_execute("BEGIN"),
        client.query(&lock, &[&keys, &category, &streams]),
    )
    .await;
    begun.map_err(not_written("starting a save"))?;
    let decided = match locked {
        Ok(rows) => decide(inner, client, request, &rows).await,
        Err(e) => Err(not_written("locking streams")(e)),
    };
    let states = match decided {
        Ok((states, SavePlan::Append(_))) => states,
        decided => {
            session.roll_back().await;
            return decided.map(|(_, plan)| match plan {
                SavePlan::AlreadyStored(events) => Some(events),
                SavePlan::Append(_) => unreachable!("handled above"),
            });
        }
    };
    let arguments = Arguments::new(request, keys, &Expected::found(&states));
    let (saved, committed) = join(
        client.query_one(&save, &arguments.parameters()),
        client.batch_execute("COMMIT"),
    )
    .await;
    committed.map_err(|e| error::database(e, "committing a save", WriteOutcome::Unknown))?;
    session.finish();
    let saved = match saved {
        // Another writer took a position or an event id first: decide again.
        Err(e) if error::violates(&e, &inner.names.constraint("_position_key")) => return Ok(None),
        Err(e) if error::violates(&e, &inner.names.constraint("_id_key")) => return Ok(None),
        saved => saved.map_err(not_written("saving events"))?,
    };
    match outcome(request, &saved)? {
        Outcome::Saved(events) => Ok(Some(events)),
        // A writer that locks differently (another process with another
        // serialisation guarantee) appended between the read and the save.
        Outcome::Found(_) | Outcome::PositionTaken => Ok(None),
        Outcome::IdTaken => Err(Error::corrupt(
            "an event id was taken while its save was locked",
        )),
    }
}

/// Reads the states the locking query returned and the stored events with the
/// request's ids, and decides with core's plan.
async fn decide(
    inner: &Inner,
    client: &Client,
    request: &SaveRequest,
    rows: &[Row],
) -> Result<(Vec<StreamState>, SavePlan)> {
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        let stream: &str = row.get(0);
        let last: Option<i64> = row.get(1);
        let last = last
            .map(u64::try_from)
            .transpose()
            .map_err(|_| Error::corrupt("a stored position is negative"))?;
        found.insert(stream, last);
    }
    let states: Vec<StreamState> = request
        .writes()
        .iter()
        .map(|write| StreamState::new(found.get(write.stream.stream.as_str()).copied().flatten()))
        .collect();
    let stored = stored_with_ids(inner, client, request).await?;
    let plan = request.plan(&states, &stored)?;
    Ok((states, plan))
}

fn keys(inner: &Inner, request: &SaveRequest) -> Vec<String> {
    lock_keys(
        &inner.names.lock_namespace(),
        inner.settings.serialisation,
        request,
    )
}

/// Every stored event, of any stream, with one of the request's ids.
async fn stored_with_ids(
    inner: &Inner,
    client: &Client,
    request: &SaveRequest,
) -> Result<Vec<StoredEvent>> {
    let ids: Vec<Uuid> = request.event_ids().collect();
    let rows = client
        .query(&inner.sql.events.select_by_ids, &[&ids])
        .await
        .map_err(|e| error::database(e, "reading stored events", WriteOutcome::NotWritten))?;
    rows.iter().map(row::stored_event).collect()
}

/// The request's events as stored, numbered from `first_sequence_number`.
fn stored_events(
    request: &SaveRequest,
    first_positions: &[u64],
    first_sequence_number: i64,
) -> Vec<StoredEvent> {
    let mut sequence_number = u64::try_from(first_sequence_number).unwrap_or_default();
    let mut stored = Vec::with_capacity(request.event_count());
    for (write, first_position) in request.writes().iter().zip(first_positions) {
        for (offset, event) in (0u64..).zip(&write.events) {
            stored.push(event.clone().into_stored(
                write.stream.clone(),
                first_position + offset,
                sequence_number,
            ));
            sequence_number += 1;
        }
    }
    stored
}
