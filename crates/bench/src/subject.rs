//! What a scenario measures: the adapter through the `EventStore` facade, or a
//! baseline doing the same work by hand.

use async_trait::async_trait;
use eventblocks_core::{
    EventStore, Json, Name, NewEvent, ScanQuery, StreamIdentifier, SubscriptionMessage,
    SubscriptionOptions, WriteCondition,
};
use futures::TryStreamExt;

/// The errors of a benchmark run: any failure stops it.
pub(crate) type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The category every benchmark stream is in.
pub(crate) const CATEGORY: &str = "bench";

/// The operations the scenarios time.
#[async_trait]
pub(crate) trait Subject: Send + Sync {
    /// A short name for the report.
    fn label(&self) -> &str;

    /// Appends `batch` events to `stream`; with `expected`, only if the stream's
    /// last position is `expected`.
    async fn append(
        &self,
        stream: &str,
        batch: usize,
        expected: Option<Option<u64>>,
    ) -> BenchResult<()>;

    /// Reads a whole stream; the number of events read.
    async fn read_stream(&self, stream: &str) -> BenchResult<usize>;

    /// Reads the whole log; the number of events read.
    async fn scan_log(&self) -> BenchResult<usize>;

    /// Reads the last event of `stream`.
    async fn latest(&self, stream: &str) -> BenchResult<()>;
}

/// A payload of about 200 bytes of JSON, like a typical domain event.
pub(crate) fn payload() -> Json {
    let text = r#"{"order_id":"order-000042","customer":{"id":"customer-1337","tier":"gold"},"lines":[{"sku":"SKU-12345","quantity":2,"price_cents":1999},{"sku":"SKU-67890","quantity":1,"price_cents":4999}],"currency":"EUR"}"#;
    Json::from_text("payload", text).unwrap_or_else(|_| Json::empty_object())
}

/// The adapter under test, through the facade applications use.
pub(crate) struct StoreSubject {
    label: String,
    store: EventStore,
    event_name: Name,
    payload: Json,
}

impl StoreSubject {
    pub(crate) fn new(label: &str, store: EventStore) -> Self {
        Self {
            label: label.to_owned(),
            store,
            event_name: Name::new("event name", "order-placed").unwrap_or_else(|_| unreachable!()),
            payload: payload(),
        }
    }

    pub(crate) fn store(&self) -> &EventStore {
        &self.store
    }

    fn events(&self, batch: usize) -> Vec<NewEvent> {
        (0..batch)
            .map(|_| NewEvent::with_json(self.event_name.clone(), self.payload.clone()))
            .collect()
    }

    /// Subscribes to the log from the start and counts `expected` events.
    pub(crate) async fn catch_up(&self, expected: usize) -> BenchResult<usize> {
        let mut subscription = self.store.log().subscribe(SubscriptionOptions::new())?;
        let mut seen = 0;
        while seen < expected {
            match subscription.try_next().await? {
                Some(SubscriptionMessage::Event(_)) => seen += 1,
                Some(SubscriptionMessage::CaughtUp { .. }) => break,
                None => break,
                Some(_) => {}
            }
        }
        Ok(seen)
    }
}

#[async_trait]
impl Subject for StoreSubject {
    fn label(&self) -> &str {
        &self.label
    }

    async fn append(
        &self,
        stream: &str,
        batch: usize,
        expected: Option<Option<u64>>,
    ) -> BenchResult<()> {
        let stream = self
            .store
            .stream_of(StreamIdentifier::new(CATEGORY, stream)?);
        let condition = expected.map_or(WriteCondition::NoCondition, WriteCondition::PositionIs);
        stream.publish(self.events(batch), condition).await?;
        Ok(())
    }

    async fn read_stream(&self, stream: &str) -> BenchResult<usize> {
        let events = self.store.stream(CATEGORY, stream)?.scan(ScanQuery::new());
        Ok(events
            .try_fold(0, |count, _| async move { Ok(count + 1) })
            .await?)
    }

    async fn scan_log(&self) -> BenchResult<usize> {
        let events = self.store.log().scan(ScanQuery::new());
        Ok(events
            .try_fold(0, |count, _| async move { Ok(count + 1) })
            .await?)
    }

    async fn latest(&self, stream: &str) -> BenchResult<()> {
        self.store.stream(CATEGORY, stream)?.latest().await?;
        Ok(())
    }
}
