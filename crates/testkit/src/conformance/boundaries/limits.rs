//! Queries and tags beyond the adapter's limits, refused before the adapter
//! is called.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use eventblocks_core::{
    async_trait, Capabilities, EventSourceIdentifier, EventStore, EventStream, Limits, Name, Query,
    QueryItem, QueryOptions, QueryRead, QueryRequest, Result, SaveRequest, ScanRequest,
    StorageAdapter, StoredEvent, WakeUps, WriteCondition,
};

use super::{offers_boundaries, read, tagged, try_read, write};
use crate::conformance::support::{assert_invalid, log, stream};

/// Counts the calls that reach the adapter it wraps, forwarding every method.
#[derive(Debug)]
struct Watched {
    inner: Arc<dyn StorageAdapter>,
    calls: AtomicUsize,
}

impl Watched {
    fn touch(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl StorageAdapter for Watched {
    async fn categories(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::CategoryIdentifier>> {
        self.inner.categories(request).await
    }

    async fn streams(
        &self,
        category: &eventblocks_core::CategoryIdentifier,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::StreamSummary>> {
        self.inner.streams(category, request).await
    }

    async fn event_names(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::Name>> {
        self.inner.event_names(request).await
    }

    async fn stream_summary(
        &self,
        stream: &eventblocks_core::StreamIdentifier,
    ) -> eventblocks_core::Result<Option<eventblocks_core::StreamSummary>> {
        self.inner.stream_summary(stream).await
    }

    async fn log_head(&self) -> eventblocks_core::Result<Option<u64>> {
        self.inner.log_head().await
    }

    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        self.touch();
        self.inner.save(request).await
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        self.touch();
        self.inner.scan(request)
    }

    async fn latest(&self, target: &EventSourceIdentifier) -> Result<Option<StoredEvent>> {
        self.touch();
        self.inner.latest(target).await
    }

    fn wake_ups(&self) -> Option<WakeUps> {
        self.inner.wake_ups()
    }

    fn limits(&self) -> Limits {
        self.inner.limits()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn store_id(&self) -> u64 {
        self.inner.store_id()
    }

    async fn read_query(&self, request: QueryRequest) -> Result<QueryRead> {
        self.touch();
        self.inner.read_query(request).await
    }

    async fn tracked_position(&self, consumer: &Name) -> Result<Option<u64>> {
        self.touch();
        self.inner.tracked_position(consumer).await
    }
}

fn tags(count: usize) -> impl Iterator<Item = String> {
    (0..count).map(|index| format!("t{index}"))
}

/// A query with more items than the adapter's
/// [`Limits::max_query_items`], or an item with more names and tags than
/// [`Limits::max_query_item_terms`], is refused as invalid input by reads and
/// by every place a condition goes, as is an event with too many tags,
/// without the adapter being called; queries at the limits are served.
pub async fn oversized_queries_and_tags_are_refused_before_the_adapter_sees_them(
    store: EventStore,
) {
    if !offers_boundaries(&store).await {
        return;
    }
    let limits = store.adapter().limits();
    let (items, terms) = (limits.max_query_items, limits.max_query_item_terms);
    if items.max(terms).max(limits.max_tags_per_event) >= 10_000 {
        return;
    }
    let watched = Arc::new(Watched {
        inner: Arc::clone(store.adapter()),
        calls: AtomicUsize::new(0),
    });
    let store = EventStore::from_arc(watched.clone());
    let wide = |count: usize| {
        (0..count).fold(Query::new(), |query, index| {
            query.or(QueryItem::new().tags([format!("t{index}")]).expect("tag"))
        })
    };
    let long = |count: usize| {
        let item = QueryItem::new()
            .names(["named"])
            .and_then(|item| item.tags(tags(count - 1)))
            .expect("valid item");
        Query::new().or(item)
    };
    let (head, _) = read(&store, &Query::all(), QueryOptions::new()).await;
    let before = watched.calls.load(Ordering::SeqCst);
    let handle = stream(&store, "limits", "s");
    let event = || [tagged("noted", &[])];
    for (query, field) in [
        (wide(items + 1), "query"),
        (long(terms + 1), "query.items[0]"),
    ] {
        assert_invalid(try_read(&store, &query, QueryOptions::new()).await, field);
        let category = store.category("limits").expect("category");
        assert_invalid(
            category.query(query.clone(), QueryOptions::new()).await,
            field,
        );
        for condition in [
            WriteCondition::NoneMatch(query.clone()),
            WriteCondition::StreamIsEmpty | WriteCondition::NoneMatchAfter(query.clone(), head),
        ] {
            assert_invalid(
                handle.publish(event(), condition.clone()).await,
                "condition",
            );
            let writes = vec![write("limits", "s", event(), WriteCondition::NoCondition)];
            assert_invalid(
                store
                    .log()
                    .publish(writes)
                    .condition(WriteCondition::NoneMatch(query.clone()))
                    .await,
                "condition",
            );
            let writes = vec![write("limits", "s", event(), condition)];
            assert_invalid(store.log().publish(writes).await, "condition");
        }
    }
    let crowded = crate::builders::event("crowded")
        .tags(tags(limits.max_tags_per_event + 1))
        .build();
    assert_invalid(
        handle.publish([crowded], WriteCondition::NoCondition).await,
        "events[0].tags",
    );
    assert_eq!(
        watched.calls.load(Ordering::SeqCst),
        before,
        "refused before the adapter was called"
    );
    for query in [wide(items), long(terms)] {
        assert!(try_read(&store, &query, QueryOptions::new())
            .await
            .expect("read")
            .is_empty());
        handle
            .publish(event(), WriteCondition::NoneMatch(query))
            .await
            .expect("a query at the limits");
    }
    let at_most = crate::builders::event("full")
        .tags(tags(limits.max_tags_per_event))
        .build();
    handle
        .publish([at_most], WriteCondition::NoCondition)
        .await
        .expect("as many tags as allowed");
    assert_eq!(log(&store).await.len(), 3);
}
