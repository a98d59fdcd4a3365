//! Publishing: a save built by a handle, with its options, carried out when
//! awaited.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tracing::Instrument;

use crate::adapter::StorageAdapter;
use crate::condition::WriteCondition;
use crate::error::Result;
use crate::event::StoredEvent;
use crate::identifier::Name;
use crate::metrics::{self, SaveOutcome};
use crate::write::SaveRequest;

/// A publish being built; `.await` it to carry it out. Returned by the
/// handles' `publish` methods:
///
/// ```no_run
/// # async fn example(store: eventblocks_core::EventStore, upstream: u64) -> eventblocks_core::Result<()> {
/// use eventblocks_core::{NewEvent, WriteCondition};
///
/// let stream = store.stream("emails", "welcome-joe")?;
/// let sent = NewEvent::new("welcome-sent", &serde_json::json!({}))?;
/// stream
///     .publish([sent], WriteCondition::StreamIsEmpty)
///     // Recorded atomically with the event; a replay of `upstream` writes nothing.
///     .tracking("welcome-emails", upstream)
///     .await?;
/// # Ok(())
/// # }
/// ```
#[must_use = "a publish does nothing until it is awaited"]
pub struct Publish {
    adapter: Arc<dyn StorageAdapter>,
    /// The request until the first poll; then the save under way.
    state: State,
}

enum State {
    Building(Result<SaveRequest>),
    Saving(Pin<Box<dyn Future<Output = Result<Vec<StoredEvent>>> + Send>>),
    Done,
}

impl Publish {
    pub(crate) fn new(adapter: Arc<dyn StorageAdapter>, request: Result<SaveRequest>) -> Self {
        Self {
            adapter,
            state: State::Building(request),
        }
    }

    fn map_request(mut self, change: impl FnOnce(SaveRequest) -> Result<SaveRequest>) -> Self {
        if let State::Building(request) = self.state {
            self.state = State::Building(request.and_then(change));
        }
        self
    }

    /// Records atomically with the events that `consumer` processed everything
    /// upstream up to `position` (for a process that emits events from the
    /// events it reads). A publish tracking the same consumer at `position` or
    /// before writes nothing and returns no events: a replay is recognised.
    /// Read the consumer's position with
    /// [`EventStore::tracked_position`](crate::EventStore::tracked_position).
    ///
    /// An invalid consumer name, or a position beyond `i64::MAX`, fails the
    /// publish when awaited.
    pub fn tracking(self, consumer: impl AsRef<str>, position: u64) -> Self {
        let consumer = Name::new("consumer", consumer.as_ref().to_owned());
        self.map_request(|request| request.with_tracking(consumer?, position))
    }

    /// Adds a condition of the whole publish, made of query conditions (a
    /// consistency boundary spanning the publish's streams).
    ///
    /// A condition naming a stream fails the publish when awaited.
    pub fn condition(self, condition: impl Into<WriteCondition>) -> Self {
        let condition = condition.into();
        self.map_request(|request| request.with_condition(condition))
    }
}

impl Future for Publish {
    type Output = Result<Vec<StoredEvent>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let State::Building(_) = this.state {
            let State::Building(request) = std::mem::replace(&mut this.state, State::Done) else {
                unreachable!()
            };
            let adapter = Arc::clone(&this.adapter);
            this.state = State::Saving(Box::pin(async move { save(&adapter, request).await }));
        }
        match &mut this.state {
            State::Saving(saving) => {
                let output = std::task::ready!(saving.as_mut().poll(cx));
                this.state = State::Done;
                Poll::Ready(output)
            }
            _ => panic!("a publish polled after it completed"),
        }
    }
}

impl fmt::Debug for Publish {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Publish");
        if let State::Building(request) = &self.state {
            debug.field("request", request);
        }
        debug.finish_non_exhaustive()
    }
}

/// Checks a save against what the adapter accepts and offers, then has the
/// adapter carry it out, recording the outcome in the metrics.
async fn save(
    adapter: &Arc<dyn StorageAdapter>,
    request: Result<SaveRequest>,
) -> Result<Vec<StoredEvent>> {
    let started = std::time::Instant::now();
    let result = checked_save(adapter, request).await;
    let stored = result.as_ref().map_or(0, Vec::len);
    metrics::record_save(SaveOutcome::of(&result), stored, started.elapsed());
    result
}

async fn checked_save(
    adapter: &Arc<dyn StorageAdapter>,
    request: Result<SaveRequest>,
) -> Result<Vec<StoredEvent>> {
    let request = request?;
    request.check_limits(&adapter.limits())?;
    request.check_capabilities(&adapter.capabilities(), adapter.store_id())?;
    let span = tracing::debug_span!(
        "eventblocks.save",
        streams = request.writes().len(),
        events = request.event_count(),
        checks = request.checks().len(),
    );
    let result = adapter.save(request).instrument(span).await;
    match &result {
        Ok(events) => tracing::trace!(events = events.len(), "saved"),
        Err(error) => tracing::debug!(%error, "save failed"),
    }
    result
}
