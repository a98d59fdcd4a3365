//! Carrying out a [`SaveRequest`].
//!
//! The common case takes one statement: the save function takes the locks,
//! reads the streams' states, answers the query checks and reads the tracked
//! position, and inserts, but only if all of that is what the save was decided
//! against with core's [`SaveRequest::plan`]. The decision starts from a guess
//! taken from the conditions; when the guess was wrong, the function returns
//! what it found and the save is decided again. Unmet conditions, possible
//! retries (an event id already stored) and conditions on a last event id are
//! decided in an explicit transaction that reads everything under the locks.

mod arguments;
mod locks;

use deadpool_postgres::Client;
use eventblocks_core::{
    Error, Result, SaveFacts, SavePlan, SaveRequest, StoredEvent, StreamState, WriteOutcome,
};
use futures::future::join;
use tokio_postgres::Row;
use tracing::debug;
use uuid::Uuid;

use self::arguments::{Arguments, Expected};
use crate::adapter::Inner;
use crate::session::Session;
use crate::{error, row};

/// Single-statement attempts before deciding in a transaction: each failed
/// attempt means another writer changed something in between.
const STATEMENT_ATTEMPTS: usize = 3;

/// Rounds of deciding a save before giving up with a retryable
/// [`Error::Conflict`]: a round is lost only when another writer that locks
/// differently took a position or an id the save was about to write.
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
    let mut guess = (!request.needs_last_event_ids())
        .then(|| Expected::guess(request))
        .flatten();
    for _ in 0..STATEMENT_ATTEMPTS {
        // Only facts that core's plan accepts are ever sent.
        let Some(expected) = guess.take() else { break };
        match in_one_statement(inner, request, &expected).await? {
            Outcome::Saved(events) => return Ok(Some(events)),
            // Anything but another guess to append is decided in the
            // transaction, which also reads the stored events with the
            // request's ids: a tracked save whose position is recorded is a
            // replay (no events) only if its events are not the ones stored
            // (a retry returns them), which the statement cannot tell.
            Outcome::Found(found) => match request.plan(found.facts()) {
                Ok(SavePlan::Append(_)) => guess = Some(found.expected()),
                _ => break,
            },
            Outcome::Taken => return Ok(None),
            Outcome::IdTaken => break,
        }
    }
    debug!("deciding the save in a transaction");
    in_transaction(inner, request).await
}

/// What the save function found instead of what the save was decided against.
struct Found {
    states: Vec<StreamState>,
    matches: Vec<Option<u64>>,
    tracked: Option<u64>,
}

impl Found {
    fn facts(&self) -> SaveFacts<'_> {
        SaveFacts::new(&self.states, &[])
            .with_matches(&self.matches)
            .with_tracked(self.tracked)
    }

    fn expected(&self) -> Expected {
        Expected::found(&self.states, &self.matches)
    }
}

/// What the save function did.
enum Outcome {
    Saved(Vec<StoredEvent>),
    /// Nothing inserted: something was not as expected.
    Found(Found),
    /// Nothing inserted: a writer that locks differently took a position (or
    /// a tracking row) this save was about to write.
    Taken,
    /// Nothing inserted: an event id is already stored.
    IdTaken,
}

/// One autocommit statement: its own transaction, so a broken connection
/// leaves the outcome unknown.
async fn in_one_statement(
    inner: &Inner,
    request: &SaveRequest,
    expected: &Expected,
) -> Result<Outcome> {
    let client = error::pooled(&inner.pool).await?;
    let arguments = Arguments::new(request, keys(inner, request), expected);
    let statement = client
        .prepare_cached(&inner.sql.events.save)
        .await
        .map_err(|e| error::database(e, "preparing a save", WriteOutcome::NotWritten))?;
    match client.query_one(&statement, &arguments.parameters()).await {
        Ok(row) => outcome(request, &row),
        Err(e) if error::violates(&e, &inner.names.constraint("_id_key")) => Ok(Outcome::IdTaken),
        Err(e) if taken(inner, &e) => Ok(Outcome::Taken),
        Err(e) => {
            error::release(client, &e);
            Err(error::database(e, "saving events", WriteOutcome::Unknown))
        }
    }
}

/// Whether `error` says another writer took a position or a consumer's
/// tracking row first.
fn taken(inner: &Inner, error: &tokio_postgres::Error) -> bool {
    error::violates(error, &inner.names.constraint("_position_key"))
        || error::violates(error, &inner.names.constraint("_tracking_pkey"))
}

fn outcome(request: &SaveRequest, row: &Row) -> Result<Outcome> {
    let corrupt = |e| Error::corrupt(format!("the save function returned {e}"));
    let first: Option<i64> = row.try_get(0).map_err(corrupt)?;
    let last: Vec<Option<i64>> = row.try_get(1).map_err(corrupt)?;
    let matches: Vec<Option<i64>> = row.try_get(2).map_err(corrupt)?;
    let tracked: Option<i64> = row.try_get(3).map_err(corrupt)?;
    let states = last
        .into_iter()
        .map(|last| Ok(StreamState::new(position(last)?)))
        .collect::<Result<Vec<_>>>()?;
    if states.len() != request.writes().len() || matches.len() != request.checks().len() {
        return Err(Error::corrupt(
            "the save function returned a state per stream and an answer per check",
        ));
    }
    let Some(first) = first else {
        return Ok(Outcome::Found(Found {
            states,
            matches: matches.into_iter().map(position).collect::<Result<_>>()?,
            tracked: position(tracked)?,
        }));
    };
    let first_positions: Vec<u64> = states.iter().map(StreamState::next_position).collect();
    Ok(Outcome::Saved(stored_events(
        request,
        &first_positions,
        first,
    )))
}

fn position(value: Option<i64>) -> Result<Option<u64>> {
    value
        .map(u64::try_from)
        .transpose()
        .map_err(|_| Error::corrupt("a stored position or sequence number is negative"))
}

/// An explicit transaction in two round trips: `BEGIN` travels with the
/// locking reads, `COMMIT` with the save function (if that fails, the `COMMIT`
/// rolls back). The reads take every lock the save needs, then read the stream
/// states (with last event ids), the query checks' answers, the tracked
/// position and the stored events with the request's ids, so core decides from
/// all of it.
async fn in_transaction(inner: &Inner, request: &SaveRequest) -> Result<Option<Vec<StoredEvent>>> {
    let not_written = |what| move |e| error::database(e, what, WriteOutcome::NotWritten);
    let session = Session::new(error::pooled(&inner.pool).await?);
    let client = session.client();
    let save = client
        .prepare_cached(&inner.sql.events.save)
        .await
        .map_err(not_written("preparing a save"))?;
    let guess = Expected::found(
        &vec![StreamState::new(None); request.writes().len()],
        &vec![None; request.checks().len()],
    );
    let arguments = Arguments::new(request, keys(inner, request), &guess);
    let (begun, read) = join(
        client.batch_execute("BEGIN"),
        read_facts(inner, client, request, &arguments),
    )
    .await;
    begun.map_err(not_written("starting a save"))?;
    let decided = match read {
        Ok(facts) => facts.decide(request).map(|plan| (facts, plan)),
        Err(e) => Err(e),
    };
    let facts = match decided {
        Ok((facts, SavePlan::Append(_))) => facts,
        decided => {
            session.roll_back().await;
            return decided.map(|(_, plan)| match plan {
                SavePlan::AlreadyStored(events) => Some(events),
                SavePlan::AlreadyTracked => Some(Vec::new()),
                SavePlan::Append(_) => unreachable!("handled above"),
            });
        }
    };
    let arguments = arguments.expecting(&Expected::found(&facts.states, &facts.matches));
    let (saved, committed) = join(
        client.query_one(&save, &arguments.parameters()),
        client.batch_execute("COMMIT"),
    )
    .await;
    committed.map_err(|e| error::database(e, "committing a save", WriteOutcome::Unknown))?;
    session.finish();
    let saved = match saved {
        // Another writer took a position, a tracking row or an event id
        // first: decide again.
        Err(e) if taken(inner, &e) => return Ok(None),
        Err(e) if error::violates(&e, &inner.names.constraint("_id_key")) => return Ok(None),
        saved => saved.map_err(not_written("saving events"))?,
    };
    match outcome(request, &saved)? {
        Outcome::Saved(events) => Ok(Some(events)),
        // A writer that locks differently (another process with another
        // serialisation guarantee) appended between the read and the save.
        Outcome::Found(_) | Outcome::Taken => Ok(None),
        Outcome::IdTaken => Err(Error::corrupt(
            "an event id was taken while its save was locked",
        )),
    }
}

/// Everything a save is decided from, read under its locks.
struct ReadFacts {
    states: Vec<StreamState>,
    matches: Vec<Option<u64>>,
    tracked: Option<u64>,
    stored: Vec<StoredEvent>,
}

impl ReadFacts {
    fn decide(&self, request: &SaveRequest) -> Result<SavePlan> {
        request.plan(
            SaveFacts::new(&self.states, &self.stored)
                .with_matches(&self.matches)
                .with_tracked(self.tracked),
        )
    }
}

/// Takes the save's locks and reads what it is decided from, in the session's
/// transaction.
async fn read_facts(
    inner: &Inner,
    client: &Client,
    request: &SaveRequest,
    arguments: &Arguments<'_>,
) -> Result<ReadFacts> {
    let not_written = |what| move |e| error::database(e, what, WriteOutcome::NotWritten);
    let (categories, streams) = arguments.streams();
    let row = client
        .query_one(
            &inner.sql.events.lock_streams,
            &[&arguments.lock_keys(), &categories, &streams],
        )
        .await
        .map_err(not_written("locking streams"))?;
    let last: Vec<Option<i64>> = row.get(0);
    let ids: Vec<Option<Uuid>> = row.get(1);
    let states = last
        .into_iter()
        .zip(ids)
        .map(|(last, id)| Ok(StreamState::new(position(last)?).with_last_event_id(id)))
        .collect::<Result<Vec<_>>>()?;
    let matches = if request.checks().is_empty() {
        Vec::new()
    } else {
        let row = client
            .query_one(
                &inner.sql.events.find_matches,
                &arguments.checks().parameters(),
            )
            .await
            .map_err(not_written("checking query conditions"))?;
        let found: Vec<Option<i64>> = row.get(0);
        found.into_iter().map(position).collect::<Result<_>>()?
    };
    let tracked = match request.tracking() {
        None => None,
        Some(tracking) => {
            let row = client
                .query_opt(&inner.sql.events.tracked, &[&tracking.consumer.as_str()])
                .await
                .map_err(not_written("reading a tracked position"))?;
            position(row.map(|row| row.get(0)))?
        }
    };
    let stored = stored_with_ids(inner, client, request).await?;
    Ok(ReadFacts {
        states,
        matches,
        tracked,
        stored,
    })
}

fn keys(inner: &Inner, request: &SaveRequest) -> Vec<String> {
    locks::lock_keys(
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
