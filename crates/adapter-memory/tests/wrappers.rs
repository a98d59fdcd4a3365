//! The kit fails a wrapper adapter that loses the inner adapter's wake-ups:
//! one that forwards only the required methods (so `wake_ups` falls back to the
//! default, `None`), and one whose wake-ups never fire. A wrapper that
//! forwards them passes.

use std::panic::AssertUnwindSafe;

use eventblocks_core::{
    async_trait, EventStore, EventStream, Result, SaveRequest, ScanRequest, StorageAdapter,
    StoredEvent, WakeUps,
};
use eventblocks_memory::MemoryAdapter;
use eventblocks_testkit::conformance::a_live_subscription_receives_a_new_event_promptly as live_case;
use futures::{FutureExt, StreamExt};

/// Wraps the memory adapter (for metrics, say), forwarding only the
/// required methods: the mistake the case is there to catch.
#[derive(Debug, Default)]
struct OnlySaveAndScan(MemoryAdapter);

#[async_trait]
impl StorageAdapter for OnlySaveAndScan {
    async fn categories(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::CategoryIdentifier>> {
        self.0.categories(request).await
    }

    async fn streams(
        &self,
        category: &eventblocks_core::CategoryIdentifier,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::StreamSummary>> {
        self.0.streams(category, request).await
    }

    async fn event_names(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::Name>> {
        self.0.event_names(request).await
    }

    async fn stream_summary(
        &self,
        stream: &eventblocks_core::StreamIdentifier,
    ) -> eventblocks_core::Result<Option<eventblocks_core::StreamSummary>> {
        self.0.stream_summary(stream).await
    }

    async fn log_head(&self) -> eventblocks_core::Result<Option<u64>> {
        self.0.log_head().await
    }

    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        self.0.save(request).await
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        self.0.scan(request)
    }
}

/// Forwards save and scan, and has wake-ups that never fire.
#[derive(Debug, Default)]
struct SilentWakeUps(MemoryAdapter);

#[async_trait]
impl StorageAdapter for SilentWakeUps {
    async fn categories(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::CategoryIdentifier>> {
        self.0.categories(request).await
    }

    async fn streams(
        &self,
        category: &eventblocks_core::CategoryIdentifier,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::StreamSummary>> {
        self.0.streams(category, request).await
    }

    async fn event_names(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::Name>> {
        self.0.event_names(request).await
    }

    async fn stream_summary(
        &self,
        stream: &eventblocks_core::StreamIdentifier,
    ) -> eventblocks_core::Result<Option<eventblocks_core::StreamSummary>> {
        self.0.stream_summary(stream).await
    }

    async fn log_head(&self) -> eventblocks_core::Result<Option<u64>> {
        self.0.log_head().await
    }

    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        self.0.save(request).await
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        self.0.scan(request)
    }

    fn wake_ups(&self) -> Option<WakeUps> {
        Some(futures::stream::pending().boxed())
    }
}

/// Forwards save, scan and wake-ups.
#[derive(Debug, Default)]
struct Forwarding(MemoryAdapter);

#[async_trait]
impl StorageAdapter for Forwarding {
    async fn categories(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::CategoryIdentifier>> {
        self.0.categories(request).await
    }

    async fn streams(
        &self,
        category: &eventblocks_core::CategoryIdentifier,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::StreamSummary>> {
        self.0.streams(category, request).await
    }

    async fn event_names(
        &self,
        request: eventblocks_core::CatalogueRequest,
    ) -> eventblocks_core::Result<Vec<eventblocks_core::Name>> {
        self.0.event_names(request).await
    }

    async fn stream_summary(
        &self,
        stream: &eventblocks_core::StreamIdentifier,
    ) -> eventblocks_core::Result<Option<eventblocks_core::StreamSummary>> {
        self.0.stream_summary(stream).await
    }

    async fn log_head(&self) -> eventblocks_core::Result<Option<u64>> {
        self.0.log_head().await
    }

    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        self.0.save(request).await
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        self.0.scan(request)
    }

    fn wake_ups(&self) -> Option<WakeUps> {
        self.0.wake_ups()
    }
}

/// The case's panic message, or `None` when it passed.
async fn failure(adapter: impl StorageAdapter) -> Option<String> {
    let outcome = AssertUnwindSafe(live_case(EventStore::new(adapter)))
        .catch_unwind()
        .await;
    let panic = outcome.err()?;
    Some(
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default(),
    )
}

#[tokio::test]
async fn a_wrapper_that_forwards_only_save_and_scan_fails_and_is_told_to_forward_wake_ups() {
    let message = failure(OnlySaveAndScan::default())
        .await
        .expect("the kit passed a wrapper that drops wake_ups");
    assert!(
        message.contains("forward StorageAdapter::wake_ups"),
        "{message}"
    );
}

// The clock is paused, so the case's bound passes in no time: nothing but a
// wake-up could deliver before the subscription's hourly poll.
#[tokio::test(start_paused = true)]
async fn a_wrapper_whose_wake_ups_never_fire_fails_within_the_bound() {
    let started = tokio::time::Instant::now();
    let message = failure(SilentWakeUps::default())
        .await
        .expect("the kit passed a wrapper whose wake-ups never fire");
    assert!(message.contains("wake_ups"), "{message}");
    let waited = started.elapsed();
    assert!(
        waited >= eventblocks_testkit::conformance::LIVE_DELIVERY_BOUND
            && waited < std::time::Duration::from_secs(60),
        "the case waited {waited:?}, not its bound"
    );
}

#[tokio::test]
async fn a_wrapper_that_forwards_wake_ups_passes() {
    assert_eq!(failure(Forwarding::default()).await, None);
}
