//! The storage adapter trait: the seam between eventblocks and a storage backend.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::catalogue::{CatalogueRequest, StreamSummary};
use crate::error::{Error, Result};
use crate::event::StoredEvent;
use crate::identifier::{CategoryIdentifier, EventSourceIdentifier, Name, StreamIdentifier};
use crate::limits::{Capabilities, Limits};
use crate::query_read::{QueryRead, QueryRequest};
use crate::scan::{ScanQuery, ScanRequest};
use crate::subscription::WakeUps;
use crate::write::SaveRequest;

/// A lazily produced sequence of events that borrows nothing; errors arrive as
/// items.
pub type EventStream = BoxStream<'static, Result<StoredEvent>>;

/// The scope within which an adapter serialises writes: the lock a write holds
/// while its condition is checked and its events inserted.
///
/// The ordering guarantee for readers holds under all three, so the default is
/// [`SerialisationGuarantee::Stream`], which lets writes to different streams
/// proceed in parallel. Choose a wider scope when an application's invariants span
/// streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum SerialisationGuarantee {
    /// One write at a time in the whole log.
    Log,
    /// One write at a time per category.
    Category,
    /// One write at a time per stream.
    #[default]
    Stream,
}

/// Storage for events. Implement this to add a backend; run
/// `eventblocks-testkit`'s conformance suite to prove it behaves like the others.
///
/// Callers use it through [`crate::EventStore`]. Requests arrive validated
/// ([`SaveRequest`], [`ScanRequest`], [`QueryRequest`]), within the adapter's
/// [`Limits`] and [`Capabilities`], so an adapter never sees bad input.
///
/// # Contract
/// - **Atomic saves.** [`StorageAdapter::save`] stores every event of the request,
///   at consecutive positions of each stream, or none. Conditions are checked
///   against each stream's state read under the serialisation lock, by
///   [`SaveRequest::plan`], which also recognises an idempotent retry.
/// - **Positions** are 0-based and gapless within a stream.
/// - **Sequence numbers** start at 1, are unique and increase in the order
///   readers see events; they may have gaps. A scan "after 0" reads from the
///   start.
/// - **Ordering guarantee.** A reader that scans the log or a category, remembers
///   the last sequence number it saw and later scans again after it, never misses
///   an event, however many writers commit concurrently.
/// - **Read-your-writes.** A stream scan or `latest` of a stream right after a save
///   returns sees the saved events.
/// - **Consistency boundaries** (with [`Capabilities::boundaries`]). Query
///   conditions are decided under locks (or a single writer) such that of two
///   saves whose boundaries overlap, each sees the other's events or waits
///   for it, and saves whose boundaries are disjoint never wait for each other
///   (see the `boundary` lock keys this crate offers). The adapter answers the
///   request's [`SaveRequest::checks`] under those locks and
///   [`SaveRequest::plan`] decides.
///
/// # Cancellation
/// Every `.await` is a point where the caller may drop the future (a timeout, a
/// `select!`), and so is every item of a returned stream. Dropping any of them
/// at any point must leave no connection back in a pool inside a transaction
/// or holding a lock (close a connection whose state is unknown instead), no
/// lock held on the server, and no partial write; a save that returned `Ok`
/// stays durable, and a dropped save may or may not have committed, so that its
/// idempotent retry stores it exactly once. The testkit's `cancellation`
/// harness checks this by dropping every operation after every number of polls.
///
/// # Bounds
/// Requests arrive within [`MAX_EVENTS_PER_SAVE`](crate::MAX_EVENTS_PER_SAVE)
/// and [`MAX_SAVE_BYTES`](crate::MAX_SAVE_BYTES); a save of any accepted size
/// must succeed or fail for its own reasons, never exhaust a resource the
/// backend shares with others (a server's lock table, its memory).
#[async_trait]
pub trait StorageAdapter: Send + Sync + fmt::Debug + 'static {
    /// Carries out an atomic save of one or more streams of one category and
    /// returns the stored events in request order.
    ///
    /// # Errors
    /// [`crate::Error::UnmetCondition`] or [`crate::Error::EventIdConflict`] as
    /// decided by [`SaveRequest::plan`] (nothing written); backend failures as
    /// [`crate::Error::Conflict`], [`crate::Error::Unavailable`],
    /// [`crate::Error::Timeout`] or [`crate::Error::Backend`], with
    /// [`crate::WriteOutcome::Unknown`] when the save may have been committed.
    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>>;

    /// Streams the events `request` selects, lazily, in bounded memory.
    ///
    /// # Errors
    /// Backend failures arrive as stream items; the stream ends after one.
    fn scan(&self, request: ScanRequest) -> EventStream;

    /// The last event of `target`, or `None` when it has none.
    ///
    /// The default takes the first event of a backwards scan; override it when the
    /// backend has something faster.
    ///
    /// # Errors
    /// Backend failures.
    async fn latest(&self, target: &EventSourceIdentifier) -> Result<Option<StoredEvent>> {
        let request = ScanRequest::new(target.clone(), ScanQuery::new().backwards().limit(1))?;
        self.scan(request).next().await.transpose()
    }

    /// The categories holding at least one event, as `request` selects
    /// them (see [`CatalogueRequest`]).
    ///
    /// # Contract
    /// Names in increasing byte order, at most [`CatalogueRequest::limit`];
    /// a category appears once its first save has committed. Answer from
    /// what the backend maintains or indexes, never by reading every event:
    /// the cost of a page must not grow with the size of the log.
    ///
    /// # Errors
    /// Backend failures.
    async fn categories(&self, request: CatalogueRequest) -> Result<Vec<CategoryIdentifier>>;

    /// The streams of `category` with their lengths, as `request` selects
    /// them by stream name; the same contract as
    /// [`StorageAdapter::categories`].
    ///
    /// # Errors
    /// Backend failures.
    async fn streams(
        &self,
        category: &CategoryIdentifier,
        request: CatalogueRequest,
    ) -> Result<Vec<StreamSummary>>;

    /// The names of stored events, as `request` selects them; the same
    /// contract as [`StorageAdapter::categories`].
    ///
    /// # Errors
    /// Backend failures.
    async fn event_names(&self, request: CatalogueRequest) -> Result<Vec<Name>>;

    /// The length and last position of `stream`, or `None` when it holds no
    /// event. Read-your-writes, like a stream scan.
    ///
    /// # Errors
    /// Backend failures.
    async fn stream_summary(&self, stream: &StreamIdentifier) -> Result<Option<StreamSummary>>;

    /// The sequence number of the newest event a log scan would return now
    /// (so it trails the newest commits as log scans do), or `None` when the
    /// log is empty.
    ///
    /// # Errors
    /// Backend failures.
    async fn log_head(&self) -> Result<Option<u64>>;

    /// Signals that new events may have been committed, for live subscriptions.
    ///
    /// Return a stream that yields soon after each commit (a notification
    /// channel, `LISTEN/NOTIFY`, …); the default, `None`, makes subscriptions
    /// poll. Subscriptions always poll as a fallback as well, so a missed signal
    /// only delays delivery.
    fn wake_ups(&self) -> Option<WakeUps> {
        None
    }

    /// What the adapter accepts: [`crate::EventStore`] refuses larger input
    /// with [`crate::Error::InvalidInput`] before the adapter sees it (so the
    /// adapter never checks these itself), so one oversized event cannot tie
    /// up a connection or the log. The default is [`Limits::default`]; make
    /// them configurable when the backend can take more. A wrapper around
    /// another adapter must forward this method, or the limits fall back to
    /// the defaults.
    fn limits(&self) -> Limits {
        Limits::default()
    }

    /// What the adapter offers beyond events in streams; the default offers
    /// nothing more, and the store refuses requests that need more as
    /// [`Error::Unsupported`]. An adapter that offers
    /// [`Capabilities::boundaries`] implements [`StorageAdapter::read_query`],
    /// [`StorageAdapter::tracked_position`] and [`StorageAdapter::store_id`],
    /// and carries out query conditions, saves spanning categories and tracked
    /// saves.
    fn capabilities(&self) -> Capabilities {
        Capabilities::none()
    }

    /// The identity of the store, stable for its lifetime, that its
    /// [`Head`](crate::Head)s carry, so a head read from one store is refused
    /// by another. The default, 0, is for adapters without
    /// [`Capabilities::boundaries`].
    fn store_id(&self) -> u64 {
        0
    }

    /// Reads the events matching a query, and the head to publish a decision
    /// made from them against.
    ///
    /// # Contract
    /// See [`QueryRequest`]: the head is taken in the same snapshot as the
    /// events.
    ///
    /// # Errors
    /// [`Error::Unsupported`] by default; backend failures.
    async fn read_query(&self, request: QueryRequest) -> Result<QueryRead> {
        let _ = request;
        Err(unsupported("query reads"))
    }

    /// The upstream position a consumer last recorded with a tracked save
    /// ([`SaveRequest::tracking`]), or `None` if it recorded none.
    ///
    /// # Errors
    /// [`Error::Unsupported`] by default; backend failures.
    async fn tracked_position(&self, consumer: &Name) -> Result<Option<u64>> {
        let _ = consumer;
        Err(unsupported("tracked publishes"))
    }
}

fn unsupported(what: &'static str) -> Error {
    Error::Unsupported { what: what.into() }
}

crate::__forward_trait!(StorageAdapter, [Arc, Box] {
    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>>;
    sync fn scan(&self, request: ScanRequest) -> EventStream;
    async fn latest(&self, target: &EventSourceIdentifier) -> Result<Option<StoredEvent>>;
    async fn categories(&self, request: CatalogueRequest) -> Result<Vec<CategoryIdentifier>>;
    async fn streams(
        &self,
        category: &CategoryIdentifier,
        request: CatalogueRequest,
    ) -> Result<Vec<StreamSummary>>;
    async fn event_names(&self, request: CatalogueRequest) -> Result<Vec<Name>>;
    async fn stream_summary(&self, stream: &StreamIdentifier) -> Result<Option<StreamSummary>>;
    async fn log_head(&self) -> Result<Option<u64>>;
    sync fn wake_ups(&self) -> Option<WakeUps>;
    sync fn limits(&self) -> Limits;
    sync fn capabilities(&self) -> Capabilities;
    sync fn store_id(&self) -> u64;
    async fn read_query(&self, request: QueryRequest) -> Result<QueryRead>;
    async fn tracked_position(&self, consumer: &Name) -> Result<Option<u64>>;
});
