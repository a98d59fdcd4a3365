//! The [`EventStore`] facade: publish, scan and ask for the latest event of the
//! log, a category or a stream.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use crate::adapter::{EventStream, StorageAdapter};
use crate::condition::WriteCondition;
use crate::error::{Error, Result};
use crate::event::{NewEvent, StoredEvent};
use crate::identifier::{
    CategoryIdentifier, EventSourceIdentifier, LogIdentifier, Name, StreamIdentifier,
};
use crate::metrics;
use crate::publish::Publish;
use crate::query::Query;
use crate::query_read::{self, QueryOptions, QueryRead};
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

    /// What the store holds: categories, streams, event names, the head.
    pub fn catalogue(&self) -> crate::Catalogue {
        crate::Catalogue {
            adapter: self.adapter.clone(),
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

    /// The upstream position `consumer` last recorded with a tracked publish
    /// ([`Publish::tracking`]), or `None` if it recorded none.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an invalid name; [`Error::Unsupported`] on
    /// an adapter without consistency boundaries; backend failures.
    pub async fn tracked_position(&self, consumer: &str) -> Result<Option<u64>> {
        let consumer = Name::new("consumer", consumer.to_owned())?;
        if !self.adapter.capabilities().boundaries {
            return Err(Error::Unsupported {
                what: "tracked publishes (consistency boundaries)".into(),
            });
        }
        self.adapter.tracked_position(&consumer).await
    }
}

fn scan(
    adapter: &Arc<dyn StorageAdapter>,
    target: EventSourceIdentifier,
    query: ScanQuery,
) -> EventStream {
    let rows = ::metrics::counter!(metrics::SCAN_ROWS, "source" => metrics::scan_source(&target));
    let events = uncounted_scan(adapter, target, query);
    Box::pin(events.inspect_ok(move |_| rows.increment(1)))
}

fn uncounted_scan(
    adapter: &Arc<dyn StorageAdapter>,
    target: EventSourceIdentifier,
    query: ScanQuery,
) -> EventStream {
    let Some(name) = query.latest_name().map(str::to_owned) else {
        return match ScanRequest::new(target, query) {
            Ok(request) => adapter.scan(request),
            Err(error) => failed(error),
        };
    };
    if query.is_backwards() {
        return failed(Error::invalid(
            "from_latest",
            "applies to forwards scans only",
        ));
    }
    // Find the latest event of the name first, then scan from it: two reads,
    // but the second starts at a sequence number that no later commit moves.
    let latest = ScanQuery::new().backwards().limit(1).names([name]);
    let marker = match ScanRequest::new(target.clone(), latest) {
        Ok(request) => adapter.scan(request),
        Err(error) => return failed(error),
    };
    let adapter = adapter.clone();
    let rest = async move {
        let mut marker = marker;
        let first = marker.next().await.transpose()?;
        let request = ScanRequest::new(
            target,
            query.starting_at(first.map(|event| event.sequence_number)),
        )?;
        Ok::<_, Error>(adapter.scan(request))
    };
    Box::pin(futures::stream::once(rest).try_flatten())
}

fn failed(error: Error) -> EventStream {
    Box::pin(futures::stream::once(async { Err(error) }))
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
    pub fn publish(
        &self,
        events: impl IntoIterator<Item = NewEvent>,
        condition: impl Into<WriteCondition>,
    ) -> Publish {
        let request = SaveRequest::single(self.identifier.clone(), events, condition);
        Publish::new(self.adapter.clone(), request)
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
    pub fn publish(&self, writes: Vec<StreamWrite>) -> Publish {
        let request = SaveRequest::new(writes).and_then(|request| {
            match request
                .categories()
                .into_iter()
                .find(|category| *category != self.identifier)
            {
                Some(other) => Err(Error::invalid(
                    "writes",
                    format!(
                        "streams of category {other} cannot be published through category {}",
                        self.identifier
                    ),
                )),
                None => Ok(request),
            }
        });
        Publish::new(self.adapter.clone(), request)
    }

    /// Reads the category's events matching `query` and the head to publish a
    /// decision made from them against (see [`LogHandle::query`]).
    ///
    /// # Errors
    /// As [`LogHandle::query`].
    pub async fn query(&self, query: Query, options: QueryOptions) -> Result<QueryRead> {
        let target = self.identifier.clone().into();
        query_read::read(&self.adapter, target, query, options).await
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
    /// The log's identifier (there is one log per store), as
    /// [`StreamHandle::identifier`] and [`CategoryHandle::identifier`] give
    /// theirs: what to pass wherever an [`EventSourceIdentifier`] is taken.
    pub fn identifier(&self) -> &LogIdentifier {
        &LogIdentifier
    }

    /// Publishes to streams of any categories in one atomic save, each with
    /// its own condition: all or nothing. Returns the stored events in the
    /// order of `writes`. Saves spanning categories need an adapter offering
    /// consistency boundaries.
    ///
    /// With [`Publish::condition`], a decision made on a consistency boundary:
    ///
    /// ```no_run
    /// # async fn example(store: eventblocks_core::EventStore) -> Result<(), Box<dyn std::error::Error>> {
    /// use eventblocks_core::{NewEvent, Query, QueryItem, QueryOptions, StreamWrite, WriteCondition};
    /// use futures::TryStreamExt;
    /// use serde_json::json;
    ///
    /// let course = Query::new().or(QueryItem::new().tags(["course:c1"])?);
    /// let read = store.log().query(course.clone(), QueryOptions::new()).await?;
    /// let seats_taken = read.events.try_collect::<Vec<_>>().await?.len();
    /// if seats_taken < 30 {
    ///     let joined = NewEvent::new("student-subscribed", &json!({"course": "c1"}))?
    ///         .tags(["course:c1", "student:s7"])?;
    ///     let student = store.stream("students", "s7")?;
    ///     let write = StreamWrite::new(student.identifier().clone(), [joined], WriteCondition::NoCondition);
    ///     store
    ///         .log()
    ///         .publish(vec![write])
    ///         // Error::BoundaryMoved if another subscription got in first.
    ///         .condition(WriteCondition::NoneMatchAfter(course, read.head))
    ///         .await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`StreamHandle::publish`]; [`Error::Unsupported`] for streams of
    /// several categories on an adapter without consistency boundaries.
    pub fn publish(&self, writes: Vec<StreamWrite>) -> Publish {
        Publish::new(self.adapter.clone(), SaveRequest::new(writes))
    }

    /// Reads the events matching `query`, in log order, lazily, and the head
    /// to publish a decision made from them against: everything the read
    /// sees lies below the head, everything that becomes visible later at or
    /// above it. Publish with [`WriteCondition::NoneMatchAfter`] and the head
    /// to fail if the boundary moved in between.
    ///
    /// ```no_run
    /// # async fn example(store: eventblocks_core::EventStore) -> eventblocks_core::Result<()> {
    /// use eventblocks_core::{NewEvent, Query, QueryItem, QueryOptions, WriteCondition};
    /// use futures::TryStreamExt;
    ///
    /// let course = Query::new().or(QueryItem::new().tags(["course:c1"])?);
    /// let read = store.log().query(course.clone(), QueryOptions::new()).await?;
    /// let enrolled: Vec<_> = read.events.try_collect().await?;
    /// if enrolled.len() < 30 {
    ///     let enrolment = NewEvent::new("student-enrolled", &serde_json::json!({}))?
    ///         .tags(["course:c1", "student:s7"])?;
    ///     store
    ///         .stream("enrolments", "s7-c1")?
    ///         .publish([enrolment], WriteCondition::NoneMatchAfter(course, read.head))
    ///         .await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a query beyond the adapter's limits or a
    /// head of another store; [`Error::Unsupported`] on an adapter without
    /// consistency boundaries; backend failures.
    pub async fn query(&self, query: Query, options: QueryOptions) -> Result<QueryRead> {
        let target = LogIdentifier.into();
        query_read::read(&self.adapter, target, query, options).await
    }

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
