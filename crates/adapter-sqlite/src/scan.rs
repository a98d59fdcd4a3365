//! Scans: pages of events read by key set on a reader, one short read per
//! page, so a slow consumer holds no connection and no snapshot between
//! pages. A page is read and decoded on a blocking thread; while the caller
//! goes through it, the next one is already being read.
//!
//! The single writer commits events in sequence order, so a page read after
//! another can only find events numbered above every event already seen: a
//! reader resuming after the last number it saw never misses one.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use eventblocks_core::{
    Direction, EventSourceIdentifier, EventStream, Result, ScanRequest, StoredEvent, WriteOutcome,
};
use futures::future::BoxFuture;
use futures::{stream, FutureExt, Stream, StreamExt};
use rusqlite::types::Value;
use rusqlite::Connection;

use crate::readers::Readers;
use crate::row::{self, to_sql, Reader};

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
    Ok(read.events.into_iter().next())
}

/// Streams the events `request` selects.
pub(crate) fn pages(readers: Arc<Readers>, request: ScanRequest, page: usize) -> EventStream {
    match Cursor::new(readers, request, page) {
        Ok(cursor) => Box::pin(Scan {
            events: Vec::new().into_iter(),
            cursor: Some(cursor),
            reading: None,
        }),
        Err(error) => stream::once(async { Err(error) }).boxed(),
    }
}

/// A scan as a stream: hands out the events of the page at hand one by one,
/// then waits for the next page.
struct Scan {
    events: std::vec::IntoIter<StoredEvent>,
    /// Between pages; `None` while a page is awaited and once the scan ended.
    cursor: Option<Cursor>,
    /// The page awaited, and the cursor past it.
    reading: Option<BoxFuture<'static, (Cursor, Result<Vec<StoredEvent>>)>>,
}

impl Stream for Scan {
    type Item = Result<StoredEvent>;

    fn poll_next(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            if let Some(event) = this.events.next() {
                return Poll::Ready(Some(Ok(event)));
            }
            let reading = match &mut this.reading {
                Some(reading) => reading,
                None => match this.cursor.take() {
                    Some(mut cursor) if !cursor.done => this.reading.insert(
                        async move {
                            let page = cursor.next_page().await;
                            (cursor, page)
                        }
                        .boxed(),
                    ),
                    _ => return Poll::Ready(None),
                },
            };
            let (mut cursor, page) = match reading.as_mut().poll(context) {
                Poll::Ready(read) => read,
                Poll::Pending => return Poll::Pending,
            };
            this.reading = None;
            match page {
                Ok(events) => this.events = events.into_iter(),
                Err(error) => {
                    cursor.done = true;
                    cursor.ahead = None;
                    this.cursor = Some(cursor);
                    return Poll::Ready(Some(Err(error)));
                }
            }
            this.cursor = Some(cursor);
        }
    }
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
        let (sql, arguments) = self.sql();
        move |connection| read_page(connection, &sql, arguments, size)
    }

    /// Starts reading the next page while the caller goes through this one.
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
        let mut wanted = read.events;
        wanted.retain(|event| self.request.matches(event));
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
    ///
    /// Its limit is written into the text, one row more than a page (which
    /// tells whether another page follows): SQLite prepares a statement again
    /// each time a value is bound to a `LIMIT` parameter, so a bound limit
    /// would cost a parse and a plan per page. A page cut shorter by the
    /// request's limit stops reading early instead of using another text.
    fn sql(&self) -> (String, Vec<Value>) {
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
        let limit = self.page.saturating_add(1);
        sql.push_str(&format!(" ORDER BY {order} {direction} LIMIT {limit}"));
        (sql, arguments)
    }
}

/// A page as read.
struct Read {
    events: Vec<StoredEvent>,
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
    let mut events = Vec::with_capacity(size.min(1024));
    let mut reader = Reader::default();
    let mut bytes = 0;
    let mut exhausted = true;
    while let Some(row) = rows.next().map_err(failed)? {
        if events.len() == size || bytes >= PAGE_BYTES {
            // A further event, or a page cut short by its size.
            exhausted = false;
            break;
        }
        let event = reader.read(row)?;
        bytes += event.payload.as_str().len() + event.metadata.as_str().len();
        events.push(event);
    }
    // Both were read from `i64`s.
    let key = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    let last = events
        .last()
        .map(|event| (key(event.sequence_number), key(event.position)));
    Ok(Read {
        count: events.len() as u64,
        events,
        last,
        exhausted,
    })
}
