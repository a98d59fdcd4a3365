//! Scans: key-set paging, one pooled connection per page and none held while
//! the caller consumes a page.
//!
//! Log and category scans only return events of transactions older than the
//! snapshot's `xmin`. Sequence numbers are derived from the writing
//! transaction's id (see the allocation function in the migrations), so they
//! are in transaction-id order, and once an event is
//! returned, no event with a smaller sequence number can commit later: a reader
//! resuming after the last sequence number it saw never misses one.

use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{
    Direction, Error, EventSourceIdentifier, EventStream, NamePattern, Result, ScanRequest,
    StoredEvent, WriteOutcome,
};
use futures::{stream, StreamExt, TryStreamExt};
use tokio::time::{sleep, Instant};
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use crate::adapter::Inner;
use crate::bound::BoundSql;
use crate::{error, row};

pub(crate) fn scan(inner: Arc<Inner>, request: ScanRequest) -> EventStream {
    let pages = stream::try_unfold(Cursor::new(inner, request), |mut cursor| async move {
        let page = cursor.next_page().await?;
        Ok::<_, Error>(page.map(|page| (stream::iter(page.into_iter().map(Ok)), cursor)))
    });
    pages.try_flatten().boxed()
}

/// Where a scan has got to.
struct Cursor {
    inner: Arc<Inner>,
    request: ScanRequest,
    /// The key (sequence number, or position for stream scans) of the last event
    /// returned.
    last_key: Option<i64>,
    /// Events still allowed by the request's limit.
    remaining: Option<u64>,
    settled: bool,
    done: bool,
}

impl Cursor {
    fn new(inner: Arc<Inner>, request: ScanRequest) -> Self {
        let remaining = request.limit();
        Self {
            inner,
            request,
            last_key: None,
            remaining,
            settled: false,
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
        if !self.settled && !self.by_stream() {
            self.settled = true;
            wait_for_horizon(&self.inner, self.request.target()).await?;
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

    async fn fetch(&self, limit: u32) -> Result<Vec<StoredEvent>> {
        let query = self.query(limit);
        let rows = read(
            &self.inner,
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

/// Waits, up to the adapter's horizon wait, until every event already committed
/// in `target` is older than every running transaction, so a scan sees what
/// committed before it began unless a long transaction holds the horizon back.
pub(crate) async fn wait_for_horizon(inner: &Inner, target: &EventSourceIdentifier) -> Result<()> {
    let deadline = Instant::now() + inner.settings.horizon_wait;
    let mut pause = Duration::from_millis(1);
    loop {
        let (committed, settled) = horizon(inner, target).await?;
        if committed == settled || Instant::now() >= deadline {
            if committed != settled {
                tracing::debug!(
                    ?committed,
                    ?settled,
                    "a running transaction holds the read horizon back; scanning what is settled"
                );
            }
            return Ok(());
        }
        sleep(pause.min(deadline.saturating_duration_since(Instant::now()))).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

async fn horizon(
    inner: &Inner,
    target: &EventSourceIdentifier,
) -> Result<(Option<i64>, Option<i64>)> {
    let what = "reading the read horizon";
    let rows = match target.category() {
        None => read(inner, &inner.sql.events.horizon_log, &[], what).await?,
        Some(category) => {
            read(
                inner,
                &inner.sql.events.horizon_category,
                &[&category.as_str()],
                what,
            )
            .await?
        }
    };
    let row = rows
        .first()
        .ok_or_else(|| Error::corrupt("the read horizon query returned no row"))?;
    Ok((row.get(0), row.get(1)))
}

/// Runs a read on a pooled connection, holding it only for the query. A read
/// that finds its connection broken (the server ended it since it was last
/// used) is tried once more on another.
pub(crate) async fn read(
    inner: &Inner,
    sql: &str,
    parameters: &[&(dyn ToSql + Sync)],
    what: &'static str,
) -> Result<Vec<Row>> {
    tokio::time::timeout(
        inner.settings.operation_timeout,
        read_once(inner, sql, parameters, what),
    )
    .await
    .map_err(|_| error::timed_out(what, WriteOutcome::NotWritten))?
}

async fn read_once(
    inner: &Inner,
    sql: &str,
    parameters: &[&(dyn ToSql + Sync)],
    what: &'static str,
) -> Result<Vec<Row>> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let client = inner.pool.get().await.map_err(error::pool)?;
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
