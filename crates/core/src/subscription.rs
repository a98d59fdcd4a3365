//! Catch-up subscriptions: the stored events after a checkpoint, then new ones as
//! they are committed, with no gap and no duplicate.
//!
//! A subscription is built only on [`StorageAdapter::scan`] and the ordering
//! guarantee: it scans after the last sequence number it delivered, so an event
//! committed out of order is still delivered. An adapter makes it live by
//! offering [`StorageAdapter::wake_ups`]; without them, or when a wake-up is
//! lost, the subscription polls every [`SubscriptionOptions::poll_interval`], so a
//! lost wake-up only delays delivery, never stalls it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{future, StreamExt, TryStreamExt};

use crate::adapter::StorageAdapter;
use crate::error::{Error, Result};
use crate::event::StoredEvent;
use crate::head::Head;
use crate::identifier::EventSourceIdentifier;
use crate::metrics;
use crate::scan::{ScanQuery, ScanRequest};

/// Signals that new events may have been committed. Each item is a hint only;
/// subscriptions re-scan after it.
pub type WakeUps = BoxStream<'static, ()>;

/// The items of a subscription.
pub type SubscriptionStream = BoxStream<'static, Result<SubscriptionMessage>>;

/// What a subscription delivers.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SubscriptionMessage {
    /// The next event, in increasing sequence order.
    Event(StoredEvent),
    /// Every event committed so far has been delivered; the subscription now waits
    /// for new ones. Sent once each time the subscription runs dry.
    CaughtUp {
        /// The sequence number of the last event delivered (or the starting
        /// checkpoint), if any.
        checkpoint: Option<u64>,
    },
}

/// Where a subscription starts and what it follows.
///
/// ```
/// use std::time::Duration;
/// use eventblocks_core::SubscriptionOptions;
///
/// let options = SubscriptionOptions::new()
///     .after(41)
///     .names(["order-placed"])
///     .poll_interval(Duration::from_millis(500));
/// # let _ = options;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionOptions {
    after: Option<u64>,
    after_head: Option<Head>,
    /// The name filters, the only options of this query that are set.
    names: ScanQuery,
    poll_interval: Duration,
    page_size: u64,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self {
            after: None,
            after_head: None,
            names: ScanQuery::new(),
            poll_interval: Duration::from_secs(1),
            page_size: 1000,
        }
    }
}

impl SubscriptionOptions {
    /// From the beginning of the source, waking on the adapter's signals and
    /// polling once a second.
    pub fn new() -> Self {
        Self::default()
    }

    /// Start after this sequence number (a consumer's checkpoint), exclusive.
    #[must_use]
    pub fn after(mut self, checkpoint: u64) -> Self {
        self.after = Some(checkpoint);
        self.after_head = None;
        self
    }

    /// Start after `checkpoint` if there is one, else at the beginning.
    #[must_use]
    pub fn after_checkpoint(mut self, checkpoint: Option<u64>) -> Self {
        self.after = checkpoint;
        self.after_head = None;
        self
    }

    /// Start with the events that became visible after `head` (from a query
    /// read of the same store): follow on from what a decision or a
    /// projection read.
    #[must_use]
    pub fn after_head(mut self, head: Head) -> Self {
        self.after_head = Some(head);
        self.after = None;
        self
    }

    /// Only events with one of these names, as in [`ScanQuery::names`].
    #[must_use]
    pub fn names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.names = self.names.names(names);
        self
    }

    /// Only events whose names start with one of these prefixes, as in
    /// [`ScanQuery::name_prefixes`].
    #[must_use]
    pub fn name_prefixes<S: Into<String>>(mut self, prefixes: impl IntoIterator<Item = S>) -> Self {
        self.names = self.names.name_prefixes(prefixes);
        self
    }

    /// Leaves out events with these names, as in [`ScanQuery::exclude_names`].
    #[must_use]
    pub fn exclude_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.names = self.names.exclude_names(names);
        self
    }

    /// Leaves out events whose names start with one of these prefixes, as in
    /// [`ScanQuery::exclude_prefixes`].
    #[must_use]
    pub fn exclude_prefixes<S: Into<String>>(
        mut self,
        prefixes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.names = self.names.exclude_prefixes(prefixes);
        self
    }

    /// How long to wait for a wake-up before scanning anyway.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// How many events to read per scan while catching up.
    #[must_use]
    pub fn page_size(mut self, page_size: u64) -> Self {
        self.page_size = page_size;
        self
    }

    fn validate(&self) -> Result<()> {
        if self.poll_interval.is_zero() {
            return Err(Error::invalid("poll_interval", "must be longer than zero"));
        }
        if self.page_size == 0 {
            return Err(Error::invalid("page_size", "must be at least 1"));
        }
        Ok(())
    }

    /// A scan of the events this subscription delivers: its name filters,
    /// and nothing else (no start, no limit). A consumer uses it to read
    /// what its subscription would, between two sequence numbers, say.
    pub fn scan_query(&self) -> ScanQuery {
        self.names.clone()
    }

    fn page_query(&self, after: Option<u64>) -> ScanQuery {
        let query = self.names.clone().limit(self.page_size);
        match after {
            Some(after) => query.after(after),
            None => query,
        }
    }
}

/// Starts a subscription to `target` over `adapter`.
pub(crate) fn subscribe(
    adapter: Arc<dyn StorageAdapter>,
    target: EventSourceIdentifier,
    options: SubscriptionOptions,
) -> Result<SubscriptionStream> {
    options.validate()?;
    let start = match &options.after_head {
        // Every event visible at the head lies below its frontier and every
        // later one at or above it, so resuming after `frontier - 1` is exact.
        Some(head) => head
            .frontier_in(adapter.store_id(), "after_head")?
            .checked_sub(1),
        None => options.after,
    };
    // Validate the target and names once, up front.
    ScanRequest::new(target.clone(), options.page_query(start))?;
    // Ask for wake-ups before the first scan, so nothing committed during it is
    // missed.
    let wake_ups = adapter.wake_ups();
    let follower = Follower {
        lag: Lag::new(&target),
        adapter,
        target,
        checkpoint: start,
        options,
        buffered: VecDeque::new(),
        wake_ups,
        reported_caught_up: false,
        failed: false,
    };
    Ok(
        futures::stream::unfold(follower, |mut follower| async move {
            let message = follower.next().await?;
            Some((message, follower))
        })
        .boxed(),
    )
}

struct Follower {
    adapter: Arc<dyn StorageAdapter>,
    target: EventSourceIdentifier,
    options: SubscriptionOptions,
    checkpoint: Option<u64>,
    buffered: VecDeque<StoredEvent>,
    wake_ups: Option<WakeUps>,
    reported_caught_up: bool,
    failed: bool,
    lag: Lag,
}

/// The subscription's lag gauges and its count of rows read.
struct Lag {
    events: ::metrics::Gauge,
    seconds: ::metrics::Gauge,
    rows: ::metrics::Counter,
}

impl Lag {
    fn new(target: &EventSourceIdentifier) -> Self {
        let source = metrics::subscription_source(target);
        Self {
            events: ::metrics::gauge!(metrics::SUBSCRIPTION_LAG_EVENTS, "source" => source.clone()),
            seconds: ::metrics::gauge!(metrics::SUBSCRIPTION_LAG_SECONDS, "source" => source),
            rows: ::metrics::counter!(metrics::SCAN_ROWS, "source" => metrics::scan_source(target)),
        }
    }

    /// Nothing waiting: the subscription has handed over everything visible.
    fn caught_up(&self) {
        self.events.set(0.0);
        self.seconds.set(0.0);
    }

    /// An event handed over, with `waiting` more read and not yet handed over.
    fn delivered(&self, event: &StoredEvent, waiting: usize) {
        self.events.set(waiting as f64);
        let age = chrono::Utc::now() - event.observed_at;
        self.seconds.set(age.as_seconds_f64().max(0.0));
    }
}

impl Follower {
    async fn next(&mut self) -> Option<Result<SubscriptionMessage>> {
        if self.failed {
            return None;
        }
        loop {
            if let Some(event) = self.buffered.pop_front() {
                self.lag.delivered(&event, self.buffered.len());
                self.checkpoint = Some(event.sequence_number);
                return Some(Ok(SubscriptionMessage::Event(event)));
            }
            match self.fetch().await {
                Err(error) => {
                    self.failed = true;
                    return Some(Err(error));
                }
                Ok(true) => continue,
                Ok(false) => {}
            }
            if !self.reported_caught_up {
                self.reported_caught_up = true;
                self.lag.caught_up();
                return Some(Ok(SubscriptionMessage::CaughtUp {
                    checkpoint: self.checkpoint,
                }));
            }
            self.wait().await;
        }
    }

    /// Reads the next page after the checkpoint; whether it found any events.
    async fn fetch(&mut self) -> Result<bool> {
        let request = ScanRequest::new(
            self.target.clone(),
            self.options.page_query(self.checkpoint),
        )?;
        let page: Vec<StoredEvent> = self.adapter.scan(request).try_collect().await?;
        if page.is_empty() {
            return Ok(false);
        }
        self.lag.rows.increment(page.len() as u64);
        self.reported_caught_up = false;
        self.buffered.extend(page);
        Ok(true)
    }

    async fn wait(&mut self) {
        let sleep = std::pin::pin!(tokio::time::sleep(self.options.poll_interval));
        let Some(wake_ups) = &mut self.wake_ups else {
            sleep.await;
            return;
        };
        if let future::Either::Left((None, _)) = future::select(wake_ups.next(), sleep).await {
            tracing::debug!("wake-ups ended; the subscription polls from now on");
            self.wake_ups = None;
        }
    }
}
