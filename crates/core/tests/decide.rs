//! The decision helper against a store that fails on purpose: retryable
//! failures are retried, a publish whose outcome is unknown is published
//! again with the same events (stored once), and other failures and the
//! application's refusals come back untouched.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{
    async_trait, Capabilities, DecideError, DecideOptions, Error, EventSourceIdentifier,
    EventStore, EventStream, Limits, Name, NewEvent, QueryRead, QueryRequest, Result, SaveRequest,
    ScanRequest, StorageAdapter, StoredEvent, WakeUps, WriteOutcome,
};
use eventblocks_memory::MemoryAdapter;
use parking_lot::Mutex;
use serde_json::json;

/// What the next save does.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// Stores the events, then reports that the connection broke during the
    /// commit.
    CommitThenLose,
    /// Stores nothing, and reports an unknown outcome.
    LoseBeforeCommit,
    /// Stores nothing: a conflict worth retrying.
    Conflict,
    /// Stores nothing: corrupt data, not worth retrying.
    Corrupt,
}

/// A memory store whose saves and scans fail as scripted, once each.
#[derive(Debug, Clone)]
struct Faulty {
    inner: MemoryAdapter,
    saves: Arc<Mutex<VecDeque<Fault>>>,
    scans: Arc<Mutex<u32>>,
}

fn unknown() -> Error {
    Error::Unavailable {
        outcome: WriteOutcome::Unknown,
        message: "the connection broke during the commit".into(),
        source: None,
    }
}

#[async_trait]
impl StorageAdapter for Faulty {
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
        let fault = self.saves.lock().pop_front();
        match fault {
            None => self.inner.save(request).await,
            Some(Fault::CommitThenLose) => {
                self.inner.save(request).await?;
                Err(unknown())
            }
            Some(Fault::LoseBeforeCommit) => Err(unknown()),
            Some(Fault::Conflict) => Err(Error::Conflict {
                message: "a serialisation failure".into(),
                source: None,
            }),
            Some(Fault::Corrupt) => Err(Error::corrupt("a bad row")),
        }
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        let mut failing = self.scans.lock();
        if *failing > 0 {
            *failing -= 1;
            let timeout = Error::Timeout {
                outcome: WriteOutcome::NotWritten,
                message: "a slow read".into(),
                source: None,
            };
            return Box::pin(futures::stream::once(async { Err(timeout) }));
        }
        self.inner.scan(request)
    }

    async fn latest(&self, target: &EventSourceIdentifier) -> Result<Option<StoredEvent>> {
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
        self.inner.read_query(request).await
    }

    async fn tracked_position(&self, consumer: &Name) -> Result<Option<u64>> {
        self.inner.tracked_position(consumer).await
    }
}

fn faulty(saves: &[Fault], scans: u32) -> (EventStore, Faulty) {
    let adapter = Faulty {
        inner: MemoryAdapter::new(),
        saves: Arc::new(Mutex::new(saves.iter().copied().collect())),
        scans: Arc::new(Mutex::new(scans)),
    };
    (EventStore::new(adapter.clone()), adapter)
}

fn fast() -> DecideOptions {
    DecideOptions::default()
        .attempts(5)
        .backoff(Duration::from_millis(1), Duration::from_millis(5))
}

/// Decides a deposit on `acc`: counts the events it read, and how often it
/// was asked to decide.
async fn deposit(
    store: &EventStore,
    decisions: &Mutex<u32>,
) -> std::result::Result<Vec<StoredEvent>, DecideError<&'static str>> {
    store
        .stream("accounts", "acc")
        .expect("a valid name")
        .decide(
            0_u32,
            |seen, _| {
                *seen += 1;
                Ok(())
            },
            |_| {
                *decisions.lock() += 1;
                Ok(vec![NewEvent::new("deposited", &json!(10)).expect("valid")])
            },
            fast(),
        )
        .await
}

async fn stored(store: &EventStore) -> usize {
    let stream = store.stream("accounts", "acc").expect("a valid name");
    stream.read().await.expect("readable").len()
}

#[tokio::test]
async fn a_commit_whose_reply_was_lost_is_published_again_and_stored_once() {
    let (store, _) = faulty(&[Fault::CommitThenLose], 0);
    let decisions = Mutex::new(0);
    let events = deposit(&store, &decisions).await.expect("decided");
    assert_eq!(events.len(), 1);
    assert_eq!(stored(&store).await, 1, "the retry wrote nothing more");
    assert_eq!(*decisions.lock(), 1, "the same events were published again");
}

#[tokio::test]
async fn an_unknown_outcome_keeps_its_events_through_later_failures() {
    // The outcome is unknown, then a republish conflicts (writing nothing,
    // which says nothing of the first publish): the same events again.
    let faults = [
        Fault::CommitThenLose,
        Fault::Conflict,
        Fault::LoseBeforeCommit,
    ];
    let (store, _) = faulty(&faults, 0);
    let decisions = Mutex::new(0);
    let events = deposit(&store, &decisions).await.expect("decided");
    assert_eq!(events.len(), 1);
    assert_eq!(stored(&store).await, 1);
    assert_eq!(*decisions.lock(), 1);
}

#[tokio::test]
async fn a_lost_publish_that_was_not_stored_is_stored_by_its_retry() {
    let (store, _) = faulty(&[Fault::LoseBeforeCommit], 0);
    let decisions = Mutex::new(0);
    deposit(&store, &decisions).await.expect("decided");
    assert_eq!(stored(&store).await, 1);
    assert_eq!(*decisions.lock(), 1);
}

#[tokio::test]
async fn a_retryable_failure_that_wrote_nothing_decides_again() {
    let (store, _) = faulty(&[Fault::Conflict, Fault::Conflict], 0);
    let decisions = Mutex::new(0);
    deposit(&store, &decisions).await.expect("decided");
    assert_eq!(stored(&store).await, 1);
    assert_eq!(*decisions.lock(), 3);
}

#[tokio::test]
async fn a_retryable_read_failure_reads_again() {
    let (store, _) = faulty(&[], 2);
    let decisions = Mutex::new(0);
    deposit(&store, &decisions).await.expect("decided");
    assert_eq!(stored(&store).await, 1);
    assert_eq!(*decisions.lock(), 1);
}

#[tokio::test]
async fn other_failures_and_refusals_come_back_untouched() {
    let (store, _) = faulty(&[Fault::Corrupt], 0);
    let decisions = Mutex::new(0);
    match deposit(&store, &decisions).await {
        Err(DecideError::Store(Error::Corrupt { .. })) => {}
        other => panic!("expected the corrupt row, got {other:?}"),
    }
    assert_eq!(*decisions.lock(), 1, "not retried");

    let refused = store
        .stream("accounts", "acc")
        .expect("a valid name")
        .decide(
            (),
            |_, _| Ok(()),
            |()| Err::<Vec<NewEvent>, _>("closed"),
            fast(),
        )
        .await;
    assert!(matches!(refused, Err(DecideError::Rejected("closed"))));
}

#[tokio::test]
async fn retries_end_with_the_last_error() {
    let (store, _) = faulty(&[Fault::Conflict; 5], 0);
    let decisions = Mutex::new(0);
    match deposit(&store, &decisions).await {
        Err(DecideError::Store(error)) => assert!(error.is_retryable(), "{error}"),
        other => panic!("expected the last conflict, got {other:?}"),
    }
    assert_eq!(*decisions.lock(), 5, "one decision per attempt");
    assert_eq!(stored(&store).await, 0);
}
