//! Query reads: the events a decision depends on, and the head to publish
//! the decision against.

use std::fmt;
use std::sync::Arc;

use futures::TryStreamExt;

use crate::adapter::{EventStream, StorageAdapter};
use crate::error::{Error, Result};
use crate::head::Head;
use crate::identifier::{EventSourceIdentifier, Name};
use crate::limits::Limits;
use crate::query::Query;
use crate::scan::Direction;

/// Options of a query read; every option is off by default (every matching
/// event, oldest first).
///
/// ```
/// use eventblocks_core::QueryOptions;
///
/// let newest_ten = QueryOptions::new().backwards().limit(10);
/// # let _ = newest_ten;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryOptions {
    after: Option<Head>,
    direction: Direction,
    limit: Option<u64>,
    from_latest: Option<String>,
}

impl QueryOptions {
    /// Every matching event, oldest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events that became visible after `head` (a head an earlier read
    /// returned): what changed since.
    #[must_use]
    pub fn after(mut self, head: Head) -> Self {
        self.after = Some(head);
        self
    }

    /// Newest first.
    #[must_use]
    pub fn backwards(mut self) -> Self {
        self.direction = Direction::Backwards;
        self
    }

    /// At most `limit` events (at least 1).
    #[must_use]
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Starts at the latest matching event named `name` (inclusive), or at
    /// the beginning if there is none: the last snapshot of a boundary, say.
    /// Forwards reads only.
    #[must_use]
    pub fn from_latest(mut self, name: impl Into<String>) -> Self {
        self.from_latest = Some(name.into());
        self
    }

    /// The name the read starts from the latest of, taken out of the options.
    pub(crate) fn take_latest(&mut self) -> Option<String> {
        self.from_latest.take()
    }
}

/// A validated query read, as adapters receive it.
///
/// # Contract
/// An adapter returns, in [`QueryRequest::direction`], the events of
/// [`QueryRequest::target`] that match [`QueryRequest::query`] (by
/// [`Query::matches`]) and lie below the head it returns, and above
/// [`QueryRequest::after`] when set: at most [`QueryRequest::limit`] of them.
/// The head is taken in the same snapshot as the events: every event that
/// becomes visible later, whatever order transactions commit in, lies at or
/// above it (see [`Head`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryRequest {
    target: EventSourceIdentifier,
    query: Query,
    after: Option<Head>,
    direction: Direction,
    limit: Option<u64>,
}

impl QueryRequest {
    /// Validates a read of `query` in `target` (the log or a category).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a stream target, a limit of 0, or a query
    /// beyond `limits`.
    pub fn new(
        target: impl Into<EventSourceIdentifier>,
        query: Query,
        options: QueryOptions,
        limits: &Limits,
    ) -> Result<Self> {
        let target = target.into();
        if matches!(target, EventSourceIdentifier::Stream(_)) {
            return Err(Error::invalid(
                "target",
                format!("query reads span the log or a category, not the stream {target}"),
            ));
        }
        if options.limit == Some(0) {
            return Err(Error::invalid("limit", "must be at least 1"));
        }
        if options.from_latest.is_some() {
            return Err(Error::invalid(
                "from_latest",
                "is resolved by the store; adapters receive the head it found",
            ));
        }
        query.check("query", limits)?;
        Ok(Self {
            target,
            query,
            after: options.after,
            direction: options.direction,
            limit: options.limit,
        })
    }

    /// The log or the category read.
    pub fn target(&self) -> &EventSourceIdentifier {
        &self.target
    }

    /// The events wanted.
    pub fn query(&self) -> &Query {
        &self.query
    }

    /// Only events after this head, if set.
    pub fn after(&self) -> Option<&Head> {
        self.after.as_ref()
    }

    /// The order of the events.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The most events to return.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// The same read, starting at `sequence_number` (inclusive) unless its
    /// `after` head lies later.
    pub(crate) fn starting_at(mut self, store: u64, sequence_number: u64) -> Self {
        let frontier = self.after.map_or(sequence_number, |after| {
            after.frontier().max(sequence_number)
        });
        self.after = Some(Head::new(store, frontier));
        self
    }

    /// A read of the latest event matching `query` (within this read's
    /// bounds).
    pub(crate) fn latest_of(&self, query: Query) -> Self {
        Self {
            target: self.target.clone(),
            query,
            after: self.after,
            direction: Direction::Backwards,
            limit: Some(1),
        }
    }
}

/// What a query read returns: the head, and the matching events below it.
pub struct QueryRead {
    /// Where the read stood: publish a decision made from these events with
    /// [`WriteCondition::NoneMatchAfter`](crate::WriteCondition::NoneMatchAfter)
    /// and this head.
    pub head: Head,
    /// The matching events, lazily, in the read's direction.
    pub events: EventStream,
}

impl fmt::Debug for QueryRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryRead")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

/// Validates a read of `query` in `target`, checks it against what the adapter
/// offers, resolves a start from the latest event of a name, and has the
/// adapter carry it out.
pub(crate) async fn read(
    adapter: &Arc<dyn StorageAdapter>,
    target: EventSourceIdentifier,
    query: Query,
    options: QueryOptions,
) -> Result<QueryRead> {
    let mut read = uncounted_read(adapter, target, query, options).await?;
    let rows = ::metrics::counter!(crate::metrics::SCAN_ROWS, "source" => "query");
    read.events = Box::pin(read.events.inspect_ok(move |_| rows.increment(1)));
    Ok(read)
}

async fn uncounted_read(
    adapter: &Arc<dyn StorageAdapter>,
    target: EventSourceIdentifier,
    query: Query,
    mut options: QueryOptions,
) -> Result<QueryRead> {
    let latest = options
        .take_latest()
        .map(|name| Name::new("from_latest", name))
        .transpose()?;
    if latest.is_some() && options.direction == Direction::Backwards {
        return Err(Error::invalid(
            "from_latest",
            "applies to forwards reads only",
        ));
    }
    let request = QueryRequest::new(target, query, options, &adapter.limits())?;
    if !adapter.capabilities().boundaries {
        return Err(Error::Unsupported {
            what: "query reads (consistency boundaries)".into(),
        });
    }
    let store = adapter.store_id();
    if let Some(head) = request.after() {
        head.frontier_in(store, "after")?;
    }
    let Some(marker) = latest.and_then(|name| request.query().only_named(&name)) else {
        return adapter.read_query(request).await;
    };
    // Two reads: the latest marker first, then the events from it. The head
    // returned is the second read's, so it covers everything returned.
    let found = adapter.read_query(request.latest_of(marker)).await?;
    let mut events = found.events;
    match events.try_next().await? {
        Some(event) => {
            adapter
                .read_query(request.starting_at(store, event.sequence_number))
                .await
        }
        None => adapter.read_query(request).await,
    }
}
