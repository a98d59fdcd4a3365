//! Scans: pages of events read by key set on a reader, one short read per
//! page, so a slow consumer holds no connection and no snapshot between
//! pages.
//!
//! The single writer commits events in sequence order, so a page read after
//! another can only find events numbered above every event already seen: a
//! reader resuming after the last number it saw never misses one.

use std::sync::Arc;

use eventblocks_core::{
    Direction, EventSourceIdentifier, EventStream, Result, ScanRequest, StoredEvent, WriteOutcome,
};
use futures::{stream, StreamExt};
use rusqlite::types::Value;
use rusqlite::Connection;

use crate::readers::Readers;
use crate::row::{self, to_sql};

/// A page holds at most this many bytes of payload and metadata (besides
/// one event, whatever its size), so pages stay small in memory.
const PAGE_BYTES: usize = 4 << 20;

/// Where a scan stands between pages.
struct Cursor {
    readers: Arc<Readers>,
    request: ScanRequest,
    page: usize,
    /// Sequence numbers strictly between these remain to be read.
    lower: i64,
    upper: i64,
    /// For stream scans: the next position to read (inclusive).
    position: Option<i64>,
    /// Events still to return under the request's limit.
    remaining: u64,
    done: bool,
}

/// Streams the events `request` selects.
pub(crate) fn pages(readers: Arc<Readers>, request: ScanRequest, page: usize) -> EventStream {
    let cursor = match Cursor::new(readers, request, page) {
        Ok(cursor) => cursor,
        Err(error) => return stream::once(async { Err(error) }).boxed(),
    };
    stream::unfold(cursor, |mut cursor| async move {
        if cursor.done {
            return None;
        }
        match cursor.next_page().await {
            Ok(events) => Some((events.into_iter().map(Ok).collect::<Vec<_>>(), cursor)),
            Err(error) => {
                cursor.done = true;
                Some((vec![Err(error)], cursor))
            }
        }
    })
    .flat_map(stream::iter)
    .boxed()
}

impl Cursor {
    fn new(readers: Arc<Readers>, request: ScanRequest, page: usize) -> Result<Self> {
        let bound = |field, value: Option<u64>, default| {
            value.map_or(Ok(default), |value| to_sql(field, value))
        };
        let (lower, upper) = match request.direction() {
            Direction::Forwards => (
                bound("after", request.after(), 0)?,
                bound("before", request.before(), i64::MAX)?,
            ),
            Direction::Backwards => (
                bound("before", request.before(), 0)?,
                bound("after", request.after(), i64::MAX)?,
            ),
        };
        let position = match request.target() {
            EventSourceIdentifier::Stream(_) => Some(match request.direction() {
                Direction::Forwards => bound("from_position", request.from_position(), 0)?,
                Direction::Backwards => bound("from_position", request.from_position(), i64::MAX)?,
            }),
            _ => None,
        };
        Ok(Self {
            remaining: request.limit().unwrap_or(u64::MAX),
            readers,
            request,
            page: page.max(1),
            lower,
            upper,
            position,
            done: false,
        })
    }

    /// Reads the next page and moves past it; the events of it the request
    /// wants.
    async fn next_page(&mut self) -> Result<Vec<StoredEvent>> {
        // Without a name filter every event read is returned: read no more
        // than the limit needs.
        let size = if self.request.names().is_everything() {
            usize::try_from(self.remaining).map_or(self.page, |left| left.min(self.page))
        } else {
            self.page
        };
        let (sql, arguments) = self.sql(size);
        let read = self
            .readers
            .run("scanning events", move |connection| {
                read_page(connection, &sql, arguments, size)
            })
            .await?;
        self.done = read.exhausted;
        if let Some(last) = read.events.last() {
            self.advance(last)?;
        }
        let mut wanted: Vec<StoredEvent> = read
            .events
            .into_iter()
            .filter(|event| self.request.matches(event))
            .collect();
        let left = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        wanted.truncate(left);
        self.remaining -= wanted.len() as u64;
        if self.remaining == 0 {
            self.done = true;
        }
        Ok(wanted)
    }

    /// Moves the cursor past `last`, the last event read.
    fn advance(&mut self, last: &StoredEvent) -> Result<()> {
        let sequence = to_sql("sequence number", last.sequence_number)?;
        let position = to_sql("position", last.position)?;
        match self.request.direction() {
            Direction::Forwards => {
                self.lower = sequence;
                self.position = self.position.map(|_| position + 1);
            }
            Direction::Backwards => {
                self.upper = sequence;
                self.position = self.position.map(|_| position - 1);
            }
        }
        Ok(())
    }

    /// The page's statement: by sequence number for the log and categories,
    /// by position (through the stream index) for streams.
    fn sql(&self, size: usize) -> (String, Vec<Value>) {
        let mut arguments = vec![Value::Integer(self.lower), Value::Integer(self.upper)];
        let mut sql = format!(
            "SELECT {} FROM eventblocks_events WHERE sequence_number > ?1 AND sequence_number < ?2",
            row::EVENT_COLUMNS
        );
        let backwards = self.request.direction() == Direction::Backwards;
        let mut order = "sequence_number";
        match self.request.target() {
            EventSourceIdentifier::Log(_) => {}
            EventSourceIdentifier::Category(category) => {
                arguments.push(Value::Text(category.category.as_str().to_owned()));
                sql.push_str(" AND category = ?3");
            }
            EventSourceIdentifier::Stream(stream) => {
                arguments.push(Value::Text(stream.category.as_str().to_owned()));
                arguments.push(Value::Text(stream.stream.as_str().to_owned()));
                arguments.push(Value::Integer(self.position.unwrap_or(0)));
                let compare = if backwards { "<=" } else { ">=" };
                sql.push_str(&format!(
                    " AND category = ?3 AND stream = ?4 AND position {compare} ?5"
                ));
                order = "position";
            }
        }
        let direction = if backwards { "DESC" } else { "ASC" };
        arguments.push(Value::Integer(i64::try_from(size).unwrap_or(i64::MAX)));
        sql.push_str(&format!(
            " ORDER BY {order} {direction} LIMIT ?{}",
            arguments.len()
        ));
        (sql, arguments)
    }
}

struct Read {
    events: Vec<StoredEvent>,
    /// Whether nothing is left beyond the page.
    exhausted: bool,
}

fn read_page(
    connection: &Connection,
    sql: &str,
    arguments: Vec<Value>,
    size: usize,
) -> Result<Read> {
    let failed = |error| crate::error::database(error, "scanning events", WriteOutcome::NotWritten);
    let mut statement = connection.prepare_cached(sql).map_err(failed)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(arguments))
        .map_err(failed)?;
    let mut events = Vec::new();
    let mut bytes = 0;
    while let Some(row) = rows.next().map_err(failed)? {
        let event = row::event(row)?;
        bytes += event.payload.as_str().len() + event.metadata.as_str().len();
        events.push(event);
        if bytes >= PAGE_BYTES && events.len() < size {
            // Cut short by size: more may follow.
            return Ok(Read {
                events,
                exhausted: false,
            });
        }
    }
    Ok(Read {
        exhausted: events.len() < size,
        events,
    })
}
