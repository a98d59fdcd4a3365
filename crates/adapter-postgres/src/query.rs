//! Query reads: the events a consistency boundary spans, below a frontier
//! taken in the same snapshot as the first page, so the head a read returns
//! is exact whatever order transactions commit in.
//!
//! The frontier is `base + xmin × 65536` (see `sql/events/frontier.sql`):
//! every event of a transaction older than the snapshot's `xmin` lies below it
//! (and is visible, since every such transaction has finished), every event of
//! a later transaction at or above it. Later pages keep the first page's
//! frontier, so the whole read is of one moment.

use std::sync::Arc;

use eventblocks_core::{
    Direction, Error, EventSourceIdentifier, Head, QueryRead, QueryRequest, Result, StoredEvent,
};
use futures::{stream, StreamExt, TryStreamExt};

use crate::adapter::Inner;
use crate::bound::BoundSql;
use crate::replica::{self, Reads, Route, Wanted};
use crate::{row, scan};

pub(crate) async fn read(
    inner: Arc<Inner>,
    reads: Reads,
    request: QueryRequest,
) -> Result<QueryRead> {
    let mut route = Route::choose(&inner, reads, false)?;
    let wanted = Wanted {
        settled: Some(request.target()),
        resuming_after: None,
    };
    replica::settle(&inner, &mut route, wanted).await?;
    let mut cursor = Cursor {
        inner,
        route,
        request,
        frontier: 0,
        last: None,
        remaining: None,
        done: false,
    };
    cursor.remaining = cursor.request.limit();
    let first = cursor.first_page().await?;
    let frontier = u64::try_from(cursor.frontier)
        .map_err(|_| Error::corrupt("a query frontier is negative"))?;
    let head = Head::new(cursor.inner.store_id, frontier);
    let rest = stream::try_unfold(cursor, |mut cursor| async move {
        let page = cursor.next_page().await?;
        Ok::<_, Error>(page.map(|page| (stream::iter(page.into_iter().map(Ok)), cursor)))
    })
    .try_flatten();
    let events = stream::iter(first.into_iter().map(Ok)).chain(rest);
    Ok(QueryRead {
        head,
        events: events.boxed(),
    })
}

struct Cursor {
    inner: Arc<Inner>,
    /// The server the read is served by.
    route: Route,
    request: QueryRequest,
    /// Events at or above this were not visible when the read began.
    frontier: i64,
    /// The sequence number of the last event returned.
    last: Option<i64>,
    remaining: Option<u64>,
    done: bool,
}

impl Cursor {
    fn page_size(&mut self) -> u32 {
        let page_size = self.inner.settings.page_size;
        self.remaining.map_or(page_size, |remaining| {
            u32::try_from(remaining).map_or(page_size, |remaining| remaining.min(page_size))
        })
    }

    /// The first page, with the frontier of its snapshot.
    async fn first_page(&mut self) -> Result<Vec<StoredEvent>> {
        let limit = self.page_size();
        let mut sql = BoundSql::new(&format!(
            "SELECT frontier.f, e.* FROM (SELECT {} AS f) frontier LEFT JOIN LATERAL ({}",
            self.inner.sql.events.frontier, self.inner.sql.events.select
        ));
        self.conditions(&mut sql, "frontier.f", limit);
        self.finish(&mut sql, limit);
        sql.push(") e ON true");
        let rows = scan::read_on(
            &self.inner,
            &mut self.route,
            sql.text(),
            &sql.parameters(),
            "reading a query",
        )
        .await?;
        let frontier: Option<i64> = rows.first().and_then(|row| row.get(0));
        self.frontier = frontier.ok_or_else(|| Error::corrupt("a query read found no frontier"))?;
        let events = rows
            .iter()
            .filter(|row| row.get::<_, Option<i64>>(1).is_some())
            .map(|row| row::stored_event_at(row, 1))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.took(events, limit))
    }

    async fn next_page(&mut self) -> Result<Option<Vec<StoredEvent>>> {
        if self.done {
            return Ok(None);
        }
        let limit = self.page_size();
        let mut sql = BoundSql::new(&self.inner.sql.events.select);
        let frontier = sql.bind(self.frontier);
        self.conditions(&mut sql, &frontier, limit);
        self.finish(&mut sql, limit);
        let rows = scan::read_on(
            &self.inner,
            &mut self.route,
            sql.text(),
            &sql.parameters(),
            "reading a query",
        )
        .await?;
        let events = rows
            .iter()
            .map(row::stored_event)
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(self.took(events, limit)))
    }

    /// Notes what a page returned, and whether another may follow.
    fn took(&mut self, events: Vec<StoredEvent>, limit: u32) -> Vec<StoredEvent> {
        if let Some(remaining) = &mut self.remaining {
            *remaining -= events.len() as u64;
            self.done |= *remaining == 0;
        }
        self.done |= events.len() < limit as usize;
        if let Some(last) = events.last() {
            self.last = i64::try_from(last.sequence_number).ok();
        }
        events
    }

    /// The page's conditions: the query, the target, the window between the
    /// `after` head and the frontier, and the cursor.
    fn conditions(&self, sql: &mut BoundSql, frontier: &str, limit: u32) {
        let window = self.window(sql, frontier);
        for condition in &window {
            sql.and_where(&condition.replace("{e}", ""));
        }
        if let Some(matching) = self.matching(sql, &window, limit) {
            sql.and_where(&matching);
        }
    }

    /// The target, the window and the cursor, as conditions on an event
    /// table aliased `{e}`.
    fn window(&self, sql: &mut BoundSql, frontier: &str) -> Vec<String> {
        let forwards = self.request.direction() == Direction::Forwards;
        let mut window = vec![format!("{{e}}sequence_number < {frontier}")];
        if let EventSourceIdentifier::Category(category) = self.request.target() {
            let category = sql.bind(category.category.to_string());
            window.push(format!("{{e}}category = {category}"));
        }
        if let Some(after) = self.request.after() {
            let after = sql.bind(i64::try_from(after.frontier()).unwrap_or(i64::MAX));
            window.push(format!("{{e}}sequence_number >= {after}"));
        }
        if let Some(last) = self.last {
            let last = sql.bind(last);
            let beyond = if forwards { ">" } else { "<" };
            window.push(format!("{{e}}sequence_number {beyond} {last}"));
        }
        window
    }

    /// The query's matching rule (`None`: every event) as the sequence
    /// numbers of the page's first `limit` matches of each item, each found
    /// by one ordered index scan: an item with tags walks the tag table from
    /// its first tag and checks the rest on the event, an item with names
    /// only walks the `(name, sequence_number)` index once per name.
    fn matching(&self, sql: &mut BoundSql, window: &[String], limit: u32) -> Option<String> {
        let query = self.request.query();
        if query.is_all() {
            return None;
        }
        let order = match self.request.direction() {
            Direction::Forwards => "ASC",
            Direction::Backwards => "DESC",
        };
        let (events, tags) = (
            self.inner.names.qualified(""),
            self.inner.names.qualified("_tags"),
        );
        let mut branches = Vec::new();
        for item in query.items() {
            let names: Vec<String> = item.name_set().iter().map(ToString::to_string).collect();
            let tag_set: Vec<String> = item.tag_set().iter().map(ToString::to_string).collect();
            if let Some(first) = tag_set.first() {
                // The window bounds the walk of the tag table itself.
                let mut terms: Vec<String> = window
                    .iter()
                    .map(|term| {
                        term.replace("{e}sequence_number", "t.sequence_number")
                            .replace("{e}", "x.")
                    })
                    .collect();
                terms.push(format!("t.tag = {}", sql.bind(first.clone())));
                terms.push(format!(
                    "t.sequence_number = x.sequence_number AND x.tags @> {}::text[]",
                    sql.bind(tag_set)
                ));
                if !names.is_empty() {
                    terms.push(format!("x.name = ANY({}::text[])", sql.bind(names)));
                }
                branches.push(format!(
                    "(SELECT t.sequence_number FROM {tags} t, {events} x WHERE {} \
                     ORDER BY t.sequence_number {order} LIMIT {limit})",
                    terms.join(" AND ")
                ));
            } else {
                for name in names {
                    let mut terms: Vec<String> = window
                        .iter()
                        .map(|term| term.replace("{e}", "x."))
                        .collect();
                    terms.push(format!("x.name = {}", sql.bind(name)));
                    branches.push(format!(
                        "(SELECT x.sequence_number FROM {events} x WHERE {} \
                         ORDER BY x.sequence_number {order} LIMIT {limit})",
                        terms.join(" AND ")
                    ));
                }
            }
        }
        Some(format!(
            "sequence_number IN ({})",
            branches.join(" UNION ALL ")
        ))
    }

    fn finish(&self, sql: &mut BoundSql, limit: u32) {
        let order = match self.request.direction() {
            Direction::Forwards => "ASC",
            Direction::Backwards => "DESC",
        };
        sql.push(&format!("ORDER BY sequence_number {order}"));
        sql.push(&format!("LIMIT {limit}"));
    }
}
