//! Scans: pages of events read by key set on a reader, one short read per
//! page, so a slow consumer holds no connection and no snapshot between
//! pages. While a page is decoded (off the async threads too) the next one is
//! already being read, so reading and decoding share the machine's cores.
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
use crate::row::{self, to_sql, RawEvent, Reader};

/// Pages this small are decoded on the async thread: handing them to another
/// thread would cost more than decoding them.
const DECODE_INLINE: usize = 64;

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
    /// The next page, already being read.
    ahead: Option<tokio::task::JoinHandle<Result<Read>>>,
}

/// The last event of `target`: one read, decoded on the spot.
pub(crate) async fn latest(
    readers: Arc<Readers>,
    target: &eventblocks_core::EventSourceIdentifier,
) -> Result<Option<StoredEvent>> {
    let query = eventblocks_core::ScanQuery::new().backwards().limit(1);
    let cursor = Cursor::new(readers, ScanRequest::new(target.clone(), query)?, 1)?;
    let read = cursor.read();
    let read = cursor.readers.run("reading the latest event", read).await?;
    Ok(match read.page {
        Page::Decoded(events) => events.into_iter().next(),
        Page::Raw(rows) => decode_now(rows)?.into_iter().next(),
    })
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
            ahead: None,
        })
    }

    /// How many events the next page reads: without a name filter every
    /// event read is returned, so no more than the limit needs.
    fn size(&self) -> usize {
        if self.request.names().is_everything() {
            usize::try_from(self.remaining).map_or(self.page, |left| left.min(self.page))
        } else {
            self.page
        }
    }

    /// The next page's read, to run on a reader.
    fn read(&self) -> impl FnOnce(&Connection) -> Result<Read> + Send + 'static {
        let size = self.size();
        // One row more than the page tells whether another page follows.
        let (sql, arguments) = self.sql(size + 1);
        move |connection| read_page(connection, &sql, arguments, size)
    }

    /// Starts reading the next page while this one is decoded.
    fn read_ahead(&self) -> tokio::task::JoinHandle<Result<Read>> {
        let (readers, read) = (self.readers.clone(), self.read());
        tokio::spawn(async move { readers.run("scanning events", read).await })
    }

    /// Reads the next page and moves past it; the events of it the request
    /// wants.
    async fn next_page(&mut self) -> Result<Vec<StoredEvent>> {
        let read = match self.ahead.take() {
            Some(reading) => {
                reading
                    .await
                    .map_err(|error| eventblocks_core::Error::Backend {
                        message: format!("scanning events: {error}").into(),
                        source: None,
                    })??
            }
            None => self.readers.run("scanning events", self.read()).await?,
        };
        self.done = read.exhausted;
        if let Some((sequence, position)) = read.last {
            self.advance(sequence, position);
        }
        let wanted_more = !self.request.names().is_everything() || self.remaining > read.count;
        if !self.done && wanted_more {
            self.ahead = Some(self.read_ahead());
        }
        let events = match read.page {
            Page::Decoded(events) => events,
            Page::Raw(rows) => decode(rows).await?,
        };
        let mut wanted: Vec<StoredEvent> = events
            .into_iter()
            .filter(|event| self.request.matches(event))
            .collect();
        let left = usize::try_from(self.remaining).unwrap_or(usize::MAX);
        wanted.truncate(left);
        self.remaining -= wanted.len() as u64;
        if self.remaining == 0 {
            self.done = true;
            self.ahead = None;
        }
        Ok(wanted)
    }

    /// Moves the cursor past the last event read.
    fn advance(&mut self, sequence: i64, position: i64) {
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

/// A page's events: decoded where they were read when no page follows
/// (nothing to overlap with), else left for the caller to decode while the
/// next page is read.
enum Page {
    Raw(Vec<RawEvent>),
    Decoded(Vec<StoredEvent>),
}

/// A page as read.
struct Read {
    page: Page,
    /// How many events the page holds.
    count: u64,
    /// The sequence number and position of its last event.
    last: Option<(i64, i64)>,
    /// Whether nothing is left beyond the page.
    exhausted: bool,
}

/// Reads up to `size` events with `sql`, which asks for one more to tell
/// whether more follow.
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
    let mut read = Vec::new();
    let mut reader = Reader::default();
    let mut bytes = 0;
    let mut exhausted = true;
    while let Some(row) = rows.next().map_err(failed)? {
        if read.len() == size || bytes >= PAGE_BYTES {
            // A further event, or a page cut short by its size.
            exhausted = false;
            break;
        }
        let event = reader.read(row)?;
        bytes += event.payload.len() + event.metadata.as_ref().map_or(0, String::len);
        read.push(event);
    }
    let last = read
        .last()
        .map(|event| (event.sequence_number, event.position));
    let count = read.len() as u64;
    let page = if exhausted {
        Page::Decoded(decode_now(read)?)
    } else {
        Page::Raw(read)
    };
    Ok(Read {
        page,
        count,
        last,
        exhausted,
    })
}

fn decode_now(rows: Vec<RawEvent>) -> Result<Vec<StoredEvent>> {
    rows.into_iter().map(RawEvent::decode).collect()
}

/// Decodes a page, off the async threads unless it is small.
async fn decode(rows: Vec<RawEvent>) -> Result<Vec<StoredEvent>> {
    if rows.len() <= DECODE_INLINE {
        return decode_now(rows);
    }
    tokio::task::spawn_blocking(move || decode_now(rows))
        .await
        .map_err(|error| eventblocks_core::Error::Backend {
            message: format!("decoding events: {error}").into(),
            source: None,
        })?
}
