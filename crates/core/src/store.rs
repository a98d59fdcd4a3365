//! The [`EventStore`] facade: publish, scan and ask for the latest event of the
//! log, a category or a stream.

use std::sync::Arc;

use futures::TryStreamExt;
use tracing::Instrument;

use crate::adapter::{EventStream, StorageAdapter};
use crate::condition::WriteCondition;
use crate::error::Result;
use crate::event::{NewEvent, StoredEvent};
use crate::identifier::{
    CategoryIdentifier, EventSourceIdentifier, LogIdentifier, StreamIdentifier,
};
use crate::scan::{ScanQuery, ScanRequest};
use crate::subscription::{self, SubscriptionOptions, SubscriptionStream};
use crate::write::{SaveRequest, StreamWrite};

/// An event store over any [`StorageAdapter`]. Cheap to clone; clones share the
/// adapter.
///
/// ```
/// use eventblocks_core::{EventStore, NewEvent, Result, WriteCondition};
/// use futures::TryStreamExt;
/// use serde_json::json;
///
/// async fn sign_up(store: &EventStore) -> Result<()> {
///     let profile = store.stream("profiles", "joe.bloggs")?;
///     let created = NewEvent::new("profile-created", &json!({"name": "Joe Bloggs"}))?;
///     profile.publish([created], WriteCondition::StreamIsEmpty).await?;
///     let events: Vec<_> = profile.scan(Default::default()).try_collect().await?;
///     assert_eq!(events[0].position, 0);
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct EventStore {
    adapter: Arc<dyn StorageAdapter>,
}

impl EventStore {
    /// A store over `adapter`.
    pub fn new(adapter: impl StorageAdapter) -> Self {
        Self {
            adapter: Arc::new(adapter),
        }
    }

    /// A store over an adapter that is already shared.
    pub fn from_arc(adapter: Arc<dyn StorageAdapter>) -> Self {
        Self { adapter }
    }

    /// The adapter behind the store.
    pub fn adapter(&self) -> &Arc<dyn StorageAdapter> {
        &self.adapter
    }

    /// Stream `stream` of category `category`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] if either name is invalid.
    pub fn stream(&self, category: &str, stream: &str) -> Result<StreamHandle> {
        Ok(self.stream_of(StreamIdentifier::new(category, stream)?))
    }

    /// The stream with identifier `identifier`.
    pub fn stream_of(&self, identifier: StreamIdentifier) -> StreamHandle {
        StreamHandle {
            adapter: self.adapter.clone(),
            identifier,
        }
    }

    /// Category `category`.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] if the name is invalid.
    pub fn category(&self, category: &str) -> Result<CategoryHandle> {
        Ok(self.category_of(CategoryIdentifier::new(category)?))
    }

    /// The category with identifier `identifier`.
    pub fn category_of(&self, identifier: CategoryIdentifier) -> CategoryHandle {
        CategoryHandle {
            adapter: self.adapter.clone(),
            identifier,
        }
    }

    /// The whole log.
    pub fn log(&self) -> LogHandle {
        LogHandle {
            adapter: self.adapter.clone(),
        }
    }

    /// Scans any source.
    pub fn scan(&self, target: impl Into<EventSourceIdentifier>, query: ScanQuery) -> EventStream {
        scan(&self.adapter, target.into(), query)
    }

    /// Subscribes to any source: first the stored events after the options'
    /// checkpoint, then new ones as they are committed (see
    /// [`crate::SubscriptionMessage`]).
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] for invalid options.
    pub fn subscribe(
        &self,
        target: impl Into<EventSourceIdentifier>,
        options: SubscriptionOptions,
    ) -> Result<SubscriptionStream> {
        subscription::subscribe(self.adapter.clone(), target.into(), options)
    }

    /// The last event of any source.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn latest(
        &self,
        target: impl Into<EventSourceIdentifier>,
    ) -> Result<Option<StoredEvent>> {
        self.adapter.latest(&target.into()).await
    }
}

fn scan(
    adapter: &Arc<dyn StorageAdapter>,
    target: EventSourceIdentifier,
    query: ScanQuery,
) -> EventStream {
    match ScanRequest::new(target, query) {
        Ok(request) => adapter.scan(request),
        Err(error) => Box::pin(futures::stream::once(async { Err(error) })),
    }
}

async fn save(adapter: &Arc<dyn StorageAdapter>, request: SaveRequest) -> Result<Vec<StoredEvent>> {
    request.check_event_sizes(adapter.max_event_bytes())?;
    let span = tracing::debug_span!(
        "eventblocks.save",
        category = %request.category(),
        streams = request.writes().len(),
        events = request.event_count()
    );
    let result = adapter.save(request).instrument(span).await;
    match &result {
        Ok(events) => tracing::trace!(events = events.len(), "saved"),
        Err(error) => tracing::debug!(%error, "save failed"),
    }
    result
}

/// One stream of a store.
#[derive(Debug, Clone)]
pub struct StreamHandle {
    adapter: Arc<dyn StorageAdapter>,
    identifier: StreamIdentifier,
}

impl StreamHandle {
    /// The stream's identifier.
    pub fn identifier(&self) -> &StreamIdentifier {
        &self.identifier
    }

    /// Appends `events` atomically and contiguously if `condition` holds, and
    /// returns them as stored. Publishing the same events (same ids) again is an
    /// idempotent retry that returns the events stored the first time.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] for bad input (an empty list included),
    /// [`crate::Error::UnmetCondition`] when `condition` fails,
    /// [`crate::Error::EventIdConflict`] for reused ids, and backend failures.
    pub async fn publish(
        &self,
        events: impl IntoIterator<Item = NewEvent>,
        condition: impl Into<WriteCondition>,
    ) -> Result<Vec<StoredEvent>> {
        let request = SaveRequest::single(self.identifier.clone(), events, condition)?;
        save(&self.adapter, request).await
    }

    /// Scans the stream in position order.
    pub fn scan(&self, query: ScanQuery) -> EventStream {
        scan(&self.adapter, self.identifier.clone().into(), query)
    }

    /// Every event of the stream, collected into memory (for short streams).
    ///
    /// # Errors
    /// Backend failures.
    pub async fn read(&self) -> Result<Vec<StoredEvent>> {
        self.scan(ScanQuery::new()).try_collect().await
    }

    /// The stream's last event.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn latest(&self) -> Result<Option<StoredEvent>> {
        self.adapter.latest(&self.identifier.clone().into()).await
    }
}

/// One category of a store.
#[derive(Debug, Clone)]
pub struct CategoryHandle {
    adapter: Arc<dyn StorageAdapter>,
    identifier: CategoryIdentifier,
}

impl CategoryHandle {
    /// The category's identifier.
    pub fn identifier(&self) -> &CategoryIdentifier {
        &self.identifier
    }

    /// Stream `stream` of this category.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] if the name is invalid.
    pub fn stream(&self, stream: &str) -> Result<StreamHandle> {
        Ok(StreamHandle {
            adapter: self.adapter.clone(),
            identifier: self.identifier.stream(stream)?,
        })
    }

    /// Publishes to several streams of this category in one atomic save, each
    /// with its own condition: all or nothing. Returns the stored events in the
    /// order of `writes`.
    ///
    /// # Errors
    /// As [`StreamHandle::publish`]; a stream outside this category is invalid input.
    pub async fn publish(&self, writes: Vec<StreamWrite>) -> Result<Vec<StoredEvent>> {
        let request = SaveRequest::new(writes)?;
        if request.category() != &self.identifier {
            return Err(crate::Error::invalid(
                "writes",
                format!(
                    "streams of category {} cannot be published through category {}",
                    request.category(),
                    self.identifier
                ),
            ));
        }
        save(&self.adapter, request).await
    }

    /// Scans the category in sequence order.
    pub fn scan(&self, query: ScanQuery) -> EventStream {
        scan(&self.adapter, self.identifier.clone().into(), query)
    }

    /// Subscribes to the category: its stored events after the options'
    /// checkpoint, then new ones as they are committed.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] for invalid options.
    pub fn subscribe(&self, options: SubscriptionOptions) -> Result<SubscriptionStream> {
        subscription::subscribe(
            self.adapter.clone(),
            self.identifier.clone().into(),
            options,
        )
    }

    /// The category's last event.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn latest(&self) -> Result<Option<StoredEvent>> {
        self.adapter.latest(&self.identifier.clone().into()).await
    }
}

/// The whole log of a store.
#[derive(Debug, Clone)]
pub struct LogHandle {
    adapter: Arc<dyn StorageAdapter>,
}

impl LogHandle {
    /// Scans the log in sequence order.
    ///
    /// A log scan may trail the newest commits by the time that writes still in
    /// flight take to finish: it never returns an event while an earlier sequence
    /// number could still commit, so a reader resuming after the last sequence
    /// number it saw never misses one.
    pub fn scan(&self, query: ScanQuery) -> EventStream {
        scan(&self.adapter, LogIdentifier.into(), query)
    }

    /// Subscribes to the log: the stored events after the options' checkpoint,
    /// then new ones as they are committed.
    ///
    /// # Errors
    /// [`crate::Error::InvalidInput`] for invalid options.
    pub fn subscribe(&self, options: SubscriptionOptions) -> Result<SubscriptionStream> {
        subscription::subscribe(self.adapter.clone(), LogIdentifier.into(), options)
    }

    /// The log's last event.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn latest(&self) -> Result<Option<StoredEvent>> {
        self.adapter.latest(&LogIdentifier.into()).await
    }
}
