//! Scans: key-set paging, one pooled connection per page and none held while
//! the caller consumes a page.
//!
//! Log and category scans only return events of transactions older than the
//! snapshot's `xmin`. Sequence numbers are derived from the writing
//! transaction's id (see the allocation function in the migrations), so they
//! are in transaction-id order, and once an event is
//! returned, no event with a smaller sequence number can commit later: a reader
//! resuming after the last sequence number it saw never misses one.
//!
//! A scan may be served by a replica (see `replica`): it keeps the server it
//! started on for every page unless that server fails.

use std::sync::Arc;

use eventblocks_core::{
    Direction, Error, EventSourceIdentifier, EventStream, NamePattern, Result, ScanRequest,
    StoredEvent, WriteOutcome,
};
use futures::{stream, StreamExt, TryStreamExt};
use tokio::time::Instant;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::adapter::Inner;
use crate::bound::BoundSql;
use crate::replica::{self, Reads, Route, Wanted};
use crate::{error, row};

pub(crate) fn scan(inner: Arc<Inner>, reads: Reads, request: ScanRequest) -> EventStream {
    let pages = stream::try_unfold(
        Cursor::new(inner, reads, request),
        |mut cursor| async move {
            let page = cursor.next_page().await?;
            Ok::<_, Error>(page.map(|page| (stream::iter(page.into_iter().map(Ok)), cursor)))
        },
    );
    pages.try_flatten().boxed()
}

/// Where a scan has got to.
struct Cursor {
    inner: Arc<Inner>,
    request: ScanRequest,
    reads: Reads,
    /// The server the scan reads from, once chosen (at its first page).
    route: Option<Route>,
    /// The key (sequence number, or position for stream scans) of the last event
    /// returned.
    last_key: Option<i64>,
    /// Events still allowed by the request's limit.
    remaining: Option<u64>,
    done: bool,
}

impl Cursor {
    fn new(inner: Arc<Inner>, reads: Reads, request: ScanRequest) -> Self {
        let remaining = request.limit();
        Self {
            inner,
            request,
            reads,
            route: None,
            last_key: None,
            remaining,
            done: false,
        }
    }

    fn by_stream(&self) -> bool {
        matches!(self.request.target(), EventSourceIdentifier::Stream(_))
    }

    async fn next_page(&mut self) -> Result<Option<Vec<StoredEvent>>> {
        if self.done {
            return Ok(None);
        }
        if self.route.is_none() {
            self.route = Some(self.start().await?);
        }
        let page_size = self.inner.settings.page_size;
        let limit = self.remaining.map_or(page_size, |remaining| {
            u32::try_from(remaining).map_or(page_size, |remaining| remaining.min(page_size))
        });
        let events = self.fetch(limit).await?;
        if events.len() < limit as usize {
            self.done = true;
        }
        if let Some(remaining) = &mut self.remaining {
            *remaining -= events.len() as u64;
            self.done |= *remaining == 0;
        }
        let Some(last) = events.last() else {
            return Ok(None);
        };
        let key = if self.by_stream() {
            last.position
        } else {
            last.sequence_number
        };
        self.last_key = Some(i64::try_from(key).map_err(|_| Error::corrupt("key out of range"))?);
        Ok(Some(events))
    }

    /// Chooses the server and waits, bounded, until it can serve the scan:
    /// what the scan must see is visible there and, for log and category
    /// scans, writes in flight have settled.
    async fn start(&self) -> Result<Route> {
        let by_stream = self.by_stream();
        let mut route = Route::choose(&self.inner, self.reads, by_stream)?;
        let forwards = self.request.direction() == Direction::Forwards;
        let wanted = Wanted {
            settled: (!by_stream).then(|| self.request.target()),
            resuming_after: self.request.after().filter(|_| forwards && !by_stream),
        };
        replica::settle(&self.inner, &mut route, wanted).await?;
        Ok(route)
    }

    async fn fetch(&mut self, limit: u32) -> Result<Vec<StoredEvent>> {
        let query = self.query(limit);
        let route = self.route.as_mut().expect("chosen at the first page");
        let rows = read_on(
            &self.inner,
            route,
            query.text(),
            &query.parameters(),
            "scanning events",
        )
        .await?;
        rows.iter().map(row::stored_event).collect()
    }

    /// The query for the next page: only bound values, in SQL built from fixed
    /// fragments.
    fn query(&self, limit: u32) -> BoundSql {
        let mut query = BoundSql::new(&self.inner.sql.events.select);
        let forwards = self.request.direction() == Direction::Forwards;
        let (beyond, order) = if forwards {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        let key = if self.by_stream() {
            "position"
        } else {
            "sequence_number"
        };
        match self.request.target() {
            EventSourceIdentifier::Log(_) => {}
            EventSourceIdentifier::Category(category) => {
                let category = query.bind(category.category.to_string());
                query.and_where(&format!("category = {category}"));
            }
            EventSourceIdentifier::Stream(stream) => {
                let category = query.bind(stream.category.to_string());
                query.and_where(&format!("category = {category}"));
                let name = query.bind(stream.stream.to_string());
                query.and_where(&format!("stream = {name}"));
            }
        }
        if let Some(after) = self.request.after() {
            let after = query.bind(i64::try_from(after).unwrap_or(i64::MAX));
            query.and_where(&format!("sequence_number {beyond} {after}"));
        }
        if let Some(from) = self.request.from_position() {
            let from = query.bind(i64::try_from(from).unwrap_or(i64::MAX));
            query.and_where(&format!("position {beyond}= {from}"));
        }
        if let Some(before) = self.request.before() {
            let short = if forwards { "<" } else { ">" };
            let before = query.bind(i64::try_from(before).unwrap_or(i64::MAX));
            query.and_where(&format!("sequence_number {short} {before}"));
        }
        let names = self.request.names();
        if let Some(include) = names_predicate(&mut query, &names.include) {
            query.and_where(&include);
        }
        if let Some(exclude) = names_predicate(&mut query, &names.exclude) {
            query.and_where(&format!("NOT {exclude}"));
        }
        if let Some(last) = self.last_key {
            let last = query.bind(last);
            query.and_where(&format!("{key} {beyond} {last}"));
        }
        if !self.by_stream() {
            query.and_where("transaction_id < pg_snapshot_xmin(pg_current_snapshot())");
        }
        query.push(&format!("ORDER BY {key} {order}"));
        query.push(&format!("LIMIT {limit}"));
        query
    }
}

/// The condition that an event's name matches one of `patterns`, or `None`
/// for no patterns. Prefixes become `LIKE` patterns with their wildcards
/// escaped, so `order_*` matches `order_placed` but not `orderXplaced`.
fn names_predicate(query: &mut BoundSql, patterns: &[NamePattern]) -> Option<String> {
    let mut exact = Vec::new();
    let mut prefixes = Vec::new();
    for pattern in patterns {
        match pattern {
            NamePattern::Exact(name) => exact.push(name.to_string()),
            NamePattern::Prefix(prefix) => prefixes.push(like_prefix(prefix)),
        }
    }
    let mut alternatives = Vec::new();
    if !exact.is_empty() {
        alternatives.push(format!("name = ANY({})", query.bind(exact)));
    }
    if !prefixes.is_empty() {
        alternatives.push(format!("name LIKE ANY({})", query.bind(prefixes)));
    }
    (!alternatives.is_empty()).then(|| format!("({})", alternatives.join(" OR ")))
}

fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for character in prefix.chars() {
        if matches!(character, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

/// Runs a read on the primary; see [`read_on`].
pub(crate) async fn read(
    inner: &Inner,
    sql: &str,
    parameters: &[&(dyn ToSql + Sync)],
    what: &'static str,
) -> Result<Vec<Row>> {
    read_on(inner, &mut Route::primary(), sql, parameters, what).await
}

/// Runs a read on a pooled connection of the route's server, holding it only
/// for the query. A read that finds its connection broken (the server ended
/// it since it was last used) is tried once more on another; a read a replica
/// fails moves on as the route allows (to the primary, say). The whole read,
/// moves included, is bounded by the operation timeout; a try that may still
/// move on gets half of what is left.
pub(crate) async fn read_on(
    inner: &Inner,
    route: &mut Route,
    sql: &str,
    parameters: &[&(dyn ToSql + Sync)],
    what: &'static str,
) -> Result<Vec<Row>> {
    let deadline = Instant::now() + inner.settings.operation_timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let budget = if route.on_replica() { left / 2 } else { left };
        let reading = read_once(route.pool(inner), sql, parameters, what);
        let result = tokio::time::timeout(budget, reading)
            .await
            .unwrap_or_else(|_| Err(error::timed_out(what, WriteOutcome::NotWritten)));
        match result {
            Err(error) if route.fall_back(inner, &error) => {
                tracing::debug!(%error, "a read failed on a replica; reading elsewhere");
            }
            result => return result,
        }
    }
}

async fn read_once(
    pool: &deadpool_postgres::Pool,
    sql: &str,
    parameters: &[&(dyn ToSql + Sync)],
    what: &'static str,
) -> Result<Vec<Row>> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let client = error::pooled(pool).await?;
        let result = match client.prepare_cached(sql).await {
            Ok(statement) => client.query(&statement, parameters).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(rows) => return Ok(rows),
            Err(e) if error::is_broken(&e) && attempts < 2 => error::release(client, &e),
            Err(e) => {
                error::release(client, &e);
                return Err(error::database(e, what, WriteOutcome::NotWritten));
            }
        }
    }
}
