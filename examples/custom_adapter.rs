//! A storage adapter written from scratch against `eventblocks-core`'s public
//! API: every event in one `Vec` behind a `Mutex`. It passes the whole
//! event-store conformance suite and the cancellation harness's event-store
//! cases (the tests at the end of this file).
//!
//! `cargo run --example custom_adapter` publishes and reads a few events;
//! `cargo test --example custom_adapter` runs the suites against the adapter.
//!
//! What an adapter decides for itself is little: how to store events, how to
//! read the state a save is decided on, and how to page a scan. Everything
//! else — validating input, evaluating write conditions, recognising an
//! idempotent retry, refusing oversized events — is done for it by
//! `eventblocks-core`, identically for every adapter.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use eventblocks_core::{
    async_trait, CatalogueRequest, CategoryIdentifier, Direction, EventSourceIdentifier,
    EventStore, EventStream, Name, NewEvent, Result, SaveFacts, SavePlan, SaveRequest, ScanQuery,
    ScanRequest, StorageAdapter, StoredEvent, StreamIdentifier, StreamState, StreamSummary,
    WakeUps, WriteCondition,
};
use futures::channel::mpsc;
use futures::{stream, StreamExt, TryStreamExt};
use uuid::Uuid;

/// Events examined per lock acquisition while scanning: a scan holds the lock
/// for one page at a time, so writers never wait long behind a reader.
const PAGE_SIZE: usize = 256;

/// An event store adapter that keeps every event in one vector.
///
/// Every save takes the one lock, decides, and appends before it lets go, so
/// writes are serialised over the whole log and events become visible in
/// sequence order: a reader that resumes after the last sequence number it
/// saw never misses one. Clones share the same log.
#[derive(Debug, Clone, Default)]
pub struct VecAdapter {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    log: Mutex<Log>,
    /// One sender per live subscription, to wake it after a save.
    subscribers: Mutex<Vec<mpsc::Sender<()>>>,
}

/// The events and the two lookups a save needs.
#[derive(Debug, Default)]
struct Log {
    /// Every event in sequence order; the event at index `i` has sequence
    /// number `i + 1`, so a scan "after 0" starts at the first event.
    events: Vec<StoredEvent>,
    /// The position of each stream's last event, ordered by category and
    /// stream: the catalogue lists streams from it.
    last_positions: BTreeMap<StreamIdentifier, u64>,
    /// The names of the stored events, in order, for the catalogue.
    names: BTreeSet<Name>,
    /// The index of each event by id: for idempotent retries.
    by_id: HashMap<Uuid, usize>,
}

impl VecAdapter {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Locks `mutex`, even if a panic elsewhere poisoned it: the log is never
/// left half-changed, because a save decides everything before it appends,
/// and appending cannot fail.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[async_trait]
impl StorageAdapter for VecAdapter {
    async fn save(&self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        // No `.await` while the lock is held: a dropped save either ran
        // whole or not at all, and the lock is never held across a poll.
        let stored = lock(&self.shared.log).save(request)?;
        self.wake_subscribers();
        Ok(stored)
    }

    fn scan(&self, request: ScanRequest) -> EventStream {
        // The stream owns a clone of the shared log and borrows nothing, and
        // copies one page per lock acquisition: bounded memory, lazily.
        let cursor = Cursor {
            shared: self.shared.clone(),
            bound: request.after(),
            left: request.limit(),
            request,
        };
        stream::unfold(cursor, |mut cursor| async move {
            let page = cursor.next_page()?;
            Some((stream::iter(page.into_iter().map(Ok)), cursor))
        })
        .flatten()
        .boxed()
    }

    // The catalogue, from the ordered maps the log keeps as it saves. A
    // small adapter may filter them whole; a large one answers from an
    // ordered index with `CatalogueRequest::range`, as the shipped ones do.
    async fn categories(&self, request: CatalogueRequest) -> Result<Vec<CategoryIdentifier>> {
        let log = lock(&self.shared.log);
        let mut categories: Vec<CategoryIdentifier> = Vec::new();
        for stream in log.last_positions.keys() {
            let new = categories
                .last()
                .is_none_or(|last| last.category != stream.category);
            if new && request.matches(&stream.category) {
                categories.push(stream.category_identifier());
            }
        }
        categories.truncate(request.limit());
        Ok(categories)
    }

    async fn streams(
        &self,
        category: &CategoryIdentifier,
        request: CatalogueRequest,
    ) -> Result<Vec<StreamSummary>> {
        let log = lock(&self.shared.log);
        Ok(log
            .last_positions
            .iter()
            .filter(|(stream, _)| stream.category == category.category)
            .filter(|(stream, _)| request.matches(&stream.stream))
            .take(request.limit())
            .map(|(stream, &last)| StreamSummary::new(stream.clone(), last))
            .collect())
    }

    async fn event_names(&self, request: CatalogueRequest) -> Result<Vec<Name>> {
        let log = lock(&self.shared.log);
        Ok(log
            .names
            .iter()
            .filter(|name| request.matches(name))
            .take(request.limit())
            .cloned()
            .collect())
    }

    async fn stream_summary(&self, stream: &StreamIdentifier) -> Result<Option<StreamSummary>> {
        let log = lock(&self.shared.log);
        let last = log.last_positions.get(stream).copied();
        Ok(last.map(|last| StreamSummary::new(stream.clone(), last)))
    }

    async fn log_head(&self) -> Result<Option<u64>> {
        let log = lock(&self.shared.log);
        Ok(log.events.last().map(|event| event.sequence_number))
    }

    fn wake_ups(&self) -> Option<WakeUps> {
        // A channel of one: a wake-up is only a hint to scan again, so one
        // waiting is as good as many.
        let (sender, receiver) = mpsc::channel(1);
        lock(&self.shared.subscribers).push(sender);
        Some(receiver.boxed())
    }

    // `latest` keeps its default (the first event of a backwards scan), and
    // `max_event_bytes` its default limit, which `EventStore` enforces before
    // a save reaches the adapter.
}

impl VecAdapter {
    fn wake_subscribers(&self) {
        // A full channel already holds a wake-up; a closed one belongs to a
        // subscription that is gone.
        lock(&self.shared.subscribers).retain_mut(|sender| match sender.try_send(()) {
            Ok(()) => true,
            Err(error) => error.is_full(),
        });
    }
}

impl Log {
    /// Carries out a save with the decision every adapter shares.
    fn save(&mut self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        // What `SaveRequest::plan` decides on, read under the lock: each
        // stream's state, and the stored events that have one of the
        // request's ids (in any stream).
        let states: Vec<StreamState> = request
            .writes()
            .iter()
            .map(|write| StreamState::new(self.last_positions.get(&write.stream).copied()))
            .collect();
        let ids: HashSet<Uuid> = request.event_ids().collect();
        let already: Vec<StoredEvent> = ids
            .iter()
            .filter_map(|id| self.by_id.get(id).map(|&index| self.events[index].clone()))
            .collect();
        // Conditions, retries and id conflicts are decided here, not by us.
        match request.plan(SaveFacts::new(&states, &already))? {
            SavePlan::AlreadyStored(events) => Ok(events),
            SavePlan::Append(positions) => Ok(self.append(request, &positions)),
            // Only tracked saves are replays, and this adapter offers no
            // tracking (the store never sends it one).
            SavePlan::AlreadyTracked => Ok(Vec::new()),
        }
    }

    /// Appends each write's events from the position the plan gave it.
    fn append(&mut self, request: SaveRequest, positions: &[u64]) -> Vec<StoredEvent> {
        let mut stored = Vec::with_capacity(request.event_count());
        for (write, &first) in request.into_writes().into_iter().zip(positions) {
            for (position, event) in (first..).zip(write.events) {
                stored.push(self.push(event, write.stream.clone(), position));
            }
        }
        stored
    }

    fn push(&mut self, event: NewEvent, stream: StreamIdentifier, position: u64) -> StoredEvent {
        let index = self.events.len();
        let event = event.into_stored(stream, position, index as u64 + 1);
        self.last_positions.insert(event.stream.clone(), position);
        self.names.insert(event.name.clone());
        self.by_id.insert(event.id, index);
        self.events.push(event.clone());
        event
    }
}

/// Where a scan has got to.
struct Cursor {
    shared: Arc<Shared>,
    request: ScanRequest,
    /// The sequence number last examined: the next page starts beyond it.
    bound: Option<u64>,
    /// How many more events the scan may return, if limited.
    left: Option<u64>,
}

impl Cursor {
    /// The matching events of the next page (possibly none), or `None` once
    /// the scan is over.
    fn next_page(&mut self) -> Option<Vec<StoredEvent>> {
        if self.left == Some(0) {
            return None;
        }
        let log = lock(&self.shared.log);
        let mut page = Vec::new();
        let mut examined = 0;
        for event in self.beyond_bound(&log.events).take(PAGE_SIZE) {
            examined += 1;
            self.bound = Some(event.sequence_number);
            if in_target(self.request.target(), event) && self.request.matches(event) {
                page.push(event.clone());
                if self.left.is_some_and(|left| page.len() as u64 == left) {
                    break;
                }
            }
        }
        if examined == 0 {
            return None;
        }
        if let Some(left) = &mut self.left {
            *left -= page.len() as u64;
        }
        Some(page)
    }

    /// The events beyond the bound, in the scan's direction.
    fn beyond_bound<'a>(
        &self,
        events: &'a [StoredEvent],
    ) -> Box<dyn Iterator<Item = &'a StoredEvent> + 'a> {
        // Sequence number `n` is at index `n - 1`: the events after `n` start
        // at index `n`, the events before it end just before index `n - 1`.
        let index = |bound: u64| usize::try_from(bound).unwrap_or(usize::MAX);
        match self.request.direction() {
            Direction::Forwards => {
                let start = self.bound.map_or(0, index).min(events.len());
                Box::new(events[start..].iter())
            }
            Direction::Backwards => {
                let end = self
                    .bound
                    .map_or(events.len(), |bound| index(bound.saturating_sub(1)))
                    .min(events.len());
                Box::new(events[..end].iter().rev())
            }
        }
    }
}

/// Whether `event` belongs to the scanned source. `ScanRequest::matches`
/// checks the rest: the bounds and the name filter.
fn in_target(target: &EventSourceIdentifier, event: &StoredEvent) -> bool {
    match target {
        EventSourceIdentifier::Log(_) => true,
        EventSourceIdentifier::Category(category) => event.stream.category == category.category,
        EventSourceIdentifier::Stream(stream) => event.stream == *stream,
    }
}

/// The adapter in use, through the store applications see.
fn main() -> Result<()> {
    futures::executor::block_on(async {
        let store = EventStore::new(VecAdapter::new());
        let order = store.stream("orders", "order-1")?;
        order
            .publish(
                [NewEvent::new("order-placed", &"two coffees")?],
                WriteCondition::StreamIsEmpty,
            )
            .await?;
        order
            .publish(
                [NewEvent::new("order-paid", &4.5)?],
                WriteCondition::PositionIs(Some(0)),
            )
            .await?;
        let log: Vec<StoredEvent> = store.log().scan(ScanQuery::new()).try_collect().await?;
        for event in log {
            println!(
                "{} {} at {}: {}",
                event.sequence_number, event.stream, event.position, event.name
            );
        }
        Ok(())
    })
}

/// The whole event-store conformance suite: one test per case, each on a
/// fresh, empty store.
#[cfg(test)]
mod conformance {
    use super::*;

    eventblocks_testkit::event_store_suite!(|| async { EventStore::new(VecAdapter::new()) });
}

/// The cancellation harness's event-store cases: every operation dropped at
/// every poll. An in-process adapter holds no sessions or server locks, so
/// nothing can be left held, and the observer is the store itself.
#[cfg(test)]
mod cancellation {
    use super::*;
    use eventblocks_testkit::cancellation::{EventStoreFixture, NothingHeld};

    eventblocks_testkit::event_store_cancellation_suite!(|| async {
        let events = EventStore::new(VecAdapter::new());
        EventStoreFixture {
            observer: events.clone(),
            events,
            leftovers: Arc::new(NothingHeld),
        }
    });
}
