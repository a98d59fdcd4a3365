#![doc = include_str!("../README.md")]

mod boundary;
mod catalogue;
mod checkpoint;
mod lease;
mod log;
#[cfg(feature = "projections")]
mod projection;
mod scan;

use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::{
    Capabilities, CatalogueRequest, CategoryIdentifier, EventSourceIdentifier, EventStream, Limits,
    Name, QueryRead, QueryRequest, Result, SaveRequest, ScanRequest, StorageAdapter, StoredEvent,
    StreamIdentifier, StreamSummary, WakeUps,
};
use futures::StreamExt;
use parking_lot::RwLock;
use tokio::sync::watch;

use crate::log::Log;

pub use checkpoint::MemoryCheckpointStore;
pub use lease::MemoryLeases;
#[cfg(feature = "projections")]
pub use projection::MemoryProjectionStore;

/// Events scanned per lock acquisition: large enough to make locking cheap per
/// event, small enough that writers never wait long behind a reader.
const DEFAULT_PAGE_SIZE: usize = 1024;

/// An event store adapter that keeps everything in memory.
///
/// Safe to share between tasks and threads (clones share the same log). Writes are
/// serialised on one lock for the whole log, which satisfies every
/// [`eventblocks_core::SerialisationGuarantee`]; events become visible in sequence
/// order, so a reader resuming after the last sequence number it saw never misses
/// one. Scans copy one page of events at a time and hold no lock between pages.
#[derive(Debug, Clone)]
pub struct MemoryAdapter {
    shared: Arc<Shared>,
    limits: Limits,
}

#[derive(Debug)]
struct Shared {
    log: RwLock<Log>,
    head: watch::Sender<u64>,
    page_size: usize,
    /// What this store's heads carry, so another store refuses them.
    store_id: u64,
}

impl Default for MemoryAdapter {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryAdapter {
    /// An empty store.
    pub fn new() -> Self {
        Self::with_page_size(DEFAULT_PAGE_SIZE)
    }

    /// An empty store whose scans copy `page_size` events (at least 1) per lock
    /// acquisition.
    pub fn with_page_size(page_size: usize) -> Self {
        let (head, _) = watch::channel(0);
        Self {
            shared: Arc::new(Shared {
                log: RwLock::new(Log::default()),
                head,
                page_size: page_size.max(1),
                store_id: uuid::Uuid::new_v4().as_u64_pair().0,
            }),
            limits: Limits::default(),
        }
    }

    /// The same store, accepting events of up to `max_event_bytes` bytes of
    /// payload and metadata, at least one (default
    /// [`DEFAULT_MAX_EVENT_BYTES`](eventblocks_core::DEFAULT_MAX_EVENT_BYTES)).
    ///
    /// ```
    /// use eventblocks_core::{Error, EventStore, NewEvent, WriteCondition};
    /// use eventblocks_memory::MemoryAdapter;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let store = EventStore::new(MemoryAdapter::new().with_max_event_bytes(16));
    /// let event = NewEvent::new("note-taken", &"far more than sixteen bytes")?;
    /// let stream = store.stream("notes", "n-1")?;
    /// let result = stream.publish([event], WriteCondition::NoCondition).await;
    /// assert!(matches!(result, Err(Error::InvalidInput { .. })));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_max_event_bytes(mut self, max_event_bytes: usize) -> Self {
        self.limits = self.limits.with_max_event_bytes(max_event_bytes);
        self
    }

    /// The same store, accepting what `limits` allow.
    #[must_use]
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// A receiver of the log's head: the number of events stored, which is also the
    /// next sequence number. It changes after every save, so a reader can wait for
    /// new events instead of polling.
    pub fn watch_head(&self) -> watch::Receiver<u64> {
        let mut receiver = self.shared.head.subscribe();
        // Saves leave the value alone while nobody watches (notifying costs
        // more than the rest of a small save): bring it up to date now that a
        // receiver exists. A save ending after `subscribe` sees the receiver
        // and sends its own head.
        let head = self.len();
        self.shared
            .head
            .send_if_modified(|current| advance(current, head));
        receiver.borrow_and_update();
        receiver
    }

    /// The number of events stored.
    pub fn len(&self) -> u64 {
        self.shared.log.read().len()
    }

    /// Whether no event is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Moves `current` up to `head`; whether it moved.
fn advance(current: &mut u64, head: u64) -> bool {
    let moved = *current < head;
    if moved {
        *current = head;
    }
    moved
}

#[async_trait]
impl StorageAdapter for MemoryAdapter {
    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        let (stored, head) = {
            let mut log = self.shared.log.write();
            (log.save(request)?, log.len())
        };
        // The head only moves forwards, whichever order concurrent saves
        // send it in; with no receiver there is nobody to wake.
        if self.shared.head.receiver_count() > 0 {
            self.shared
                .head
                .send_if_modified(|current| advance(current, head));
        }
        Ok(stored)
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        scan::pages(self.shared.clone(), request)
    }

    async fn latest(&self, target: &EventSourceIdentifier) -> Result<Option<StoredEvent>> {
        let log = self.shared.log.read();
        let targeted = log.targeted(target);
        Ok(targeted
            .len()
            .checked_sub(1)
            .map(|last| log.stored(targeted.get(last))))
    }

    async fn categories(&self, request: CatalogueRequest) -> Result<Vec<CategoryIdentifier>> {
        Ok(catalogue::categories(&self.shared.log.read(), &request))
    }

    async fn streams(
        &self,
        category: &CategoryIdentifier,
        request: CatalogueRequest,
    ) -> Result<Vec<StreamSummary>> {
        Ok(catalogue::streams(
            &self.shared.log.read(),
            category,
            &request,
        ))
    }

    async fn event_names(&self, request: CatalogueRequest) -> Result<Vec<Name>> {
        Ok(catalogue::event_names(
            &self.shared.log.read().event_names,
            &request,
        ))
    }

    async fn stream_summary(&self, stream: &StreamIdentifier) -> Result<Option<StreamSummary>> {
        Ok(catalogue::stream(&self.shared.log.read(), stream))
    }

    async fn log_head(&self) -> Result<Option<u64>> {
        Ok(Some(self.shared.log.read().len()).filter(|&head| head > 0))
    }

    fn wake_ups(&self) -> Option<WakeUps> {
        let head = self.watch_head();
        let changes = futures::stream::unfold(head, |mut head| async move {
            head.changed().await.ok()?;
            Some(((), head))
        });
        Some(changes.boxed())
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::all()
    }

    fn store_id(&self) -> u64 {
        self.shared.store_id
    }

    async fn read_query(&self, request: QueryRequest) -> Result<QueryRead> {
        Ok(boundary::read(self.shared.clone(), request))
    }

    async fn tracked_position(&self, consumer: &Name) -> Result<Option<u64>> {
        Ok(self.shared.log.read().tracked(consumer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventblocks_core::{
        EventStore, NewEvent, ScanQuery, StreamWrite, SubscriptionMessage, SubscriptionOptions,
        WriteCondition,
    };
    use futures::TryStreamExt;
    use serde_json::json;
    use std::time::Duration;

    async fn fill(store: &EventStore, streams: &[&str], per_stream: usize) {
        for round in 0..per_stream {
            for (index, stream) in streams.iter().enumerate() {
                let name = if index % 2 == 0 { "even" } else { "odd" };
                let event = NewEvent::new(name, &json!({ "round": round })).unwrap();
                let category = if index < 2 { "a" } else { "b" };
                store
                    .stream(category, stream)
                    .unwrap()
                    .publish([event], WriteCondition::NoCondition)
                    .await
                    .unwrap();
            }
        }
    }

    async fn sequence_numbers(
        store: &EventStore,
        target: EventSourceIdentifier,
        query: ScanQuery,
    ) -> Vec<u64> {
        let events: Vec<StoredEvent> = store.scan(target, query).try_collect().await.unwrap();
        events.iter().map(|event| event.sequence_number).collect()
    }

    #[tokio::test]
    async fn small_pages_give_the_same_results_as_large_ones() {
        let small = EventStore::new(MemoryAdapter::with_page_size(2));
        let large = EventStore::new(MemoryAdapter::new());
        for store in [&small, &large] {
            fill(store, &["s1", "s2", "s3"], 7).await;
        }
        let category: EventSourceIdentifier = eventblocks_core::CategoryIdentifier::new("a")
            .unwrap()
            .into();
        let stream: EventSourceIdentifier = eventblocks_core::StreamIdentifier::new("b", "s3")
            .unwrap()
            .into();
        let queries = [
            (category.clone(), ScanQuery::new()),
            (category.clone(), ScanQuery::new().after(4).limit(5)),
            (category.clone(), ScanQuery::new().backwards().after(15)),
            (
                category,
                ScanQuery::new().names(["odd"]).backwards().limit(3),
            ),
            (stream.clone(), ScanQuery::new().from_position(3)),
            (stream, ScanQuery::new().from_position(3).backwards()),
        ];
        for (target, query) in queries {
            let expected = sequence_numbers(&large, target.clone(), query.clone()).await;
            assert!(!expected.is_empty());
            assert_eq!(sequence_numbers(&small, target, query).await, expected);
        }
    }

    #[tokio::test]
    async fn a_paused_scan_does_not_block_writers() {
        let adapter = MemoryAdapter::with_page_size(1);
        let store = EventStore::new(adapter.clone());
        fill(&store, &["s1"], 3).await;
        let mut scan = store.log().scan(ScanQuery::new());
        assert_eq!(scan.try_next().await.unwrap().unwrap().sequence_number, 1);
        // The scan is suspended between pages; a write must still go through.
        fill(&store, &["s1"], 1).await;
        assert_eq!(adapter.len(), 4);
        let rest: Vec<StoredEvent> = scan.try_collect().await.unwrap();
        assert_eq!(rest.len(), 3);
    }

    #[tokio::test]
    async fn ids_out_of_order_are_still_found() {
        let store = EventStore::new(MemoryAdapter::new());
        let stream = store.stream("a", "ids").unwrap();
        // Ids in decreasing order, then increasing, then between them.
        let ids = [9_u128, 5, 1, 20, 30, 7];
        let mut published = Vec::new();
        for id in ids {
            let event = NewEvent::new("x", &id)
                .unwrap()
                .with_id(uuid::Uuid::from_u128(id));
            stream
                .publish([event.clone()], WriteCondition::NoCondition)
                .await
                .unwrap();
            published.push(event);
        }
        for (position, event) in published.into_iter().enumerate() {
            // A retry of each is recognised, not stored again.
            let retried = store
                .stream("a", "ids")
                .unwrap()
                .publish([event.clone()], WriteCondition::NoCondition)
                .await
                .unwrap();
            assert_eq!(retried[0].position, position as u64);
            // The same id elsewhere is a conflict.
            let elsewhere = store
                .stream("a", "other")
                .unwrap()
                .publish([event], WriteCondition::NoCondition)
                .await;
            assert!(matches!(
                elsewhere,
                Err(eventblocks_core::Error::EventIdConflict { .. })
            ));
        }
        let fresh = NewEvent::new("x", &0).unwrap();
        let stored = stream
            .publish([fresh], WriteCondition::NoCondition)
            .await
            .unwrap();
        assert_eq!(stored[0].position, 6);
    }

    #[tokio::test]
    async fn a_receiver_made_after_unwatched_saves_starts_at_the_head() {
        let adapter = MemoryAdapter::new();
        let store = EventStore::new(adapter.clone());
        fill(&store, &["s1"], 3).await;
        let mut head = adapter.watch_head();
        assert_eq!(*head.borrow(), 3);
        assert!(!head.has_changed().unwrap());
        fill(&store, &["s1"], 1).await;
        head.changed().await.unwrap();
        assert_eq!(*head.borrow(), 4);
    }

    #[tokio::test]
    async fn the_head_moves_on_every_save() {
        let adapter = MemoryAdapter::new();
        let mut head = adapter.watch_head();
        let store = EventStore::new(adapter);
        let waiter = tokio::spawn(async move {
            head.changed().await.unwrap();
            *head.borrow()
        });
        let stream = store.stream("a", "b").unwrap();
        let events = [
            NewEvent::new("x", &1).unwrap(),
            NewEvent::new("y", &2).unwrap(),
        ];
        stream
            .publish(events, WriteCondition::NoCondition)
            .await
            .unwrap();
        assert_eq!(waiter.await.unwrap(), 2);
    }

    #[tokio::test]
    async fn writes_from_many_threads_are_all_kept() {
        let store = EventStore::new(MemoryAdapter::new());
        let threads: Vec<_> = (0..4)
            .map(|thread| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let category = store.category("threads").unwrap();
                        for round in 0..250_u64 {
                            let writes = vec![
                                StreamWrite::new(
                                    category
                                        .stream(&format!("t{thread}"))
                                        .unwrap()
                                        .identifier()
                                        .clone(),
                                    [NewEvent::new("x", &round).unwrap()],
                                    WriteCondition::PositionIs(round.checked_sub(1)),
                                ),
                                StreamWrite::new(
                                    category.stream("shared").unwrap().identifier().clone(),
                                    [NewEvent::new("y", &round).unwrap()],
                                    WriteCondition::NoCondition,
                                ),
                            ];
                            category.publish(writes).await.unwrap();
                        }
                    });
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let all: Vec<StoredEvent> = store
            .log()
            .scan(ScanQuery::new())
            .try_collect()
            .await
            .unwrap();
        assert_eq!(all.len(), 2000);
        assert!(all
            .windows(2)
            .all(|pair| pair[0].sequence_number < pair[1].sequence_number));
        let shared = store
            .stream("threads", "shared")
            .unwrap()
            .read()
            .await
            .unwrap();
        assert!(shared
            .iter()
            .enumerate()
            .all(|(index, event)| event.position == index as u64));
    }

    #[tokio::test]
    async fn a_subscription_catches_up_then_goes_live_without_polling() {
        let store = EventStore::new(MemoryAdapter::new());
        fill(&store, &["s1", "s2"], 3).await;
        // A poll interval far longer than the test: only wake-ups can deliver.
        let options = SubscriptionOptions::new()
            .after(1)
            .poll_interval(Duration::from_secs(3600));
        let mut subscription = store.log().subscribe(options).unwrap();
        let mut seen = Vec::new();
        while let Some(SubscriptionMessage::Event(event)) = subscription.try_next().await.unwrap() {
            seen.push(event.sequence_number);
        }
        assert_eq!(seen, vec![2, 3, 4, 5, 6]);
        // The subscriber is waiting before the event is published: only a
        // wake-up can deliver it within the timeout.
        let waiting = tokio::spawn(async move { subscription.try_next().await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        fill(&store, &["s3"], 1).await;
        let live = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        match live
            .expect("a live event is delivered promptly")
            .unwrap()
            .unwrap()
        {
            Some(SubscriptionMessage::Event(event)) => assert_eq!(event.sequence_number, 7),
            other => panic!("expected the live event, got {other:?}"),
        }
    }
}
