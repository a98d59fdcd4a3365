//! Keeping projections up to date: a runner follows a source with a catch-up
//! subscription and keeps one projection per stream in a projection store.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{
    partition_checkpoint, partition_of, CheckpointStore, EventSourceIdentifier, EventStore, Lease,
    Leases, LogIdentifier, Name, ScanQuery, StoredEvent, SubscriptionMessage, SubscriptionOptions,
};
use futures::TryStreamExt;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::error::{Error, Result};
use crate::metadata::ProjectionMetadata;
use crate::projector::Projector;
use crate::store::ProjectionStore;

/// What a runner does when applying an event fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorPolicy {
    /// Stop, returning the error. The event stays unprocessed (its checkpoint
    /// is not advanced), so a restarted runner tries it again.
    Stop,
    /// Try the event again up to `attempts` more times, `backoff` apart, then
    /// stop as [`ErrorPolicy::Stop`] does.
    Retry {
        /// Further attempts after the first.
        attempts: u32,
        /// The pause between attempts.
        backoff: Duration,
    },
}

/// How often a partitioned runner looks for partitions nobody holds.
const TAKEOVER_INTERVAL: Duration = Duration::from_millis(250);

/// Keeps a projector's projections (one per stream of its source) up to date
/// in a projection store, from a catch-up subscription, with a durable
/// checkpoint.
///
/// Each event is applied exactly once when the projector's metadata keeps the
/// last sequence number (as [`Tracked`](crate::Tracked) does): after a crash
/// between saving a projection and advancing the checkpoint, the redelivered
/// event is recognised from the projection itself and skipped.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use std::time::Duration;
/// # use eventblocks_projection::{ProjectionRunner, ProjectionStore, Projector};
/// # async fn example<P: Projector + 'static>(
/// #     projector: P,
/// #     events: eventblocks_core::EventStore,
/// #     projections: ProjectionStore,
/// #     checkpoints: impl eventblocks_core::CheckpointStore,
/// # ) -> eventblocks_projection::Result<()> {
/// let runner = Arc::new(ProjectionRunner::new(projector, events, projections, checkpoints));
/// tokio::spawn({
///     let runner = runner.clone();
///     async move { runner.run().await }
/// });
/// // After publishing an event with sequence number 42 to the source:
/// runner.wait_until(42, Duration::from_secs(5)).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ProjectionRunner<P> {
    projector: P,
    events: EventStore,
    projections: ProjectionStore,
    checkpoints: Arc<dyn CheckpointStore>,
    consumer: Option<Name>,
    source: EventSourceIdentifier,
    on_error: ErrorPolicy,
    subscription: SubscriptionOptions,
    progress: watch::Sender<u64>,
}

impl<P: Projector + 'static> ProjectionRunner<P> {
    /// A runner over the whole log, its checkpoint named after the projector,
    /// stopping on the first error.
    pub fn new(
        projector: P,
        events: EventStore,
        projections: ProjectionStore,
        checkpoints: impl CheckpointStore,
    ) -> Self {
        Self {
            projector,
            events,
            projections,
            checkpoints: Arc::new(checkpoints),
            consumer: None,
            source: LogIdentifier.into(),
            on_error: ErrorPolicy::Stop,
            subscription: SubscriptionOptions::new(),
            progress: watch::channel(0).0,
        }
    }

    /// Follows `source` (a category, say) instead of the whole log.
    #[must_use]
    pub fn source(mut self, source: impl Into<EventSourceIdentifier>) -> Self {
        self.source = source.into();
        self
    }

    /// Names the checkpoint (the projector's name by default).
    #[must_use]
    pub fn consumer(mut self, consumer: Name) -> Self {
        self.consumer = Some(consumer);
        self
    }

    /// What to do when applying an event fails.
    #[must_use]
    pub fn on_error(mut self, policy: ErrorPolicy) -> Self {
        self.on_error = policy;
        self
    }

    /// Options of the subscription (poll interval, page size; the starting
    /// point is the checkpoint).
    #[must_use]
    pub fn subscription(mut self, options: SubscriptionOptions) -> Self {
        self.subscription = options;
        self
    }

    fn consumer_name(&self) -> Result<Name> {
        match &self.consumer {
            Some(name) => Ok(name.clone()),
            None => Ok(Name::new("consumer", self.projector.name())?),
        }
    }

    /// Follows the source from the checkpoint until an error stops it (it
    /// never ends otherwise).
    ///
    /// # Errors
    /// The error that stopped it, after the [`ErrorPolicy`] gave up.
    pub async fn run(&self) -> Result<()> {
        let consumer = self.consumer_name()?;
        self.follow(&consumer, None).await
    }

    /// Follows one partition (of `partitions`, by [`partition_of`] the stream)
    /// with a checkpoint of its own, until an error.
    async fn follow(&self, checkpoint: &Name, partition: Option<(u32, u32)>) -> Result<()> {
        let start = self.checkpoints.load(checkpoint).await?;
        let options = self.subscription.clone().after_checkpoint(start);
        let mut subscription = self.events.subscribe(self.source.clone(), options)?;
        let mut seen = start;
        let mut saved = start;
        while let Some(message) = subscription.try_next().await? {
            match message {
                SubscriptionMessage::Event(event) => {
                    seen = Some(event.sequence_number);
                    let mine = partition.is_none_or(|(p, n)| partition_of(&event.stream, n) == p);
                    if mine {
                        self.process_with_policy(&event).await?;
                        self.checkpoints
                            .advance(checkpoint, event.sequence_number)
                            .await?;
                        saved = seen;
                        self.progress
                            .send_if_modified(|p| raise(p, event.sequence_number));
                    }
                }
                SubscriptionMessage::CaughtUp { .. } => {
                    if let Some(seen) = seen.filter(|_| seen != saved) {
                        self.checkpoints.advance(checkpoint, seen).await?;
                        saved = Some(seen);
                        self.progress.send_if_modified(|p| raise(p, seen));
                    }
                    debug!(projector = self.projector.name(), %checkpoint, ?seen, "caught up");
                }
                _ => {}
            }
        }
        Ok(())
    }

    async fn process_with_policy(&self, event: &StoredEvent) -> Result<()> {
        let mut failures = 0;
        loop {
            match self.process(event).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    failures += 1;
                    let ErrorPolicy::Retry { attempts, backoff } = self.on_error else {
                        return Err(error);
                    };
                    if failures > attempts {
                        return Err(error);
                    }
                    warn!(projector = self.projector.name(), %error, failures, "retrying an event");
                    tokio::time::sleep(backoff).await;
                }
            }
        }
    }

    /// Applies one event to its stream's projection and saves it, unless the
    /// projection has already applied it.
    ///
    /// # Errors
    /// What the projector or the projection store reports.
    pub async fn process(&self, event: &StoredEvent) -> Result<()> {
        let source = EventSourceIdentifier::Stream(event.stream.clone());
        let stored = self
            .projections
            .locate::<P::State, P::Metadata>(&source, self.projector.name())
            .await?;
        let mut projection = stored.unwrap_or_else(|| self.projector.initial(source));
        let applied = projection.metadata.last_sequence_number();
        if applied.is_some_and(|applied| applied >= event.sequence_number) {
            debug!(sequence_number = event.sequence_number, "already applied");
            return Ok(());
        }
        self.projector.apply_event(&mut projection, event)?;
        self.projections.save(&projection).await?;
        Ok(())
    }

    /// Waits until every event up to `sequence_number` in the source has been
    /// applied (by this runner, or by any instance whose checkpoints show it).
    ///
    /// # Errors
    /// [`eventblocks_core::Error::Timeout`] if that takes longer than `timeout`.
    pub async fn wait_until(&self, sequence_number: u64, timeout: Duration) -> Result<()> {
        let consumer = self.consumer_name()?;
        let mut progress = self.progress.subscribe();
        let waiting = async {
            loop {
                if *progress.borrow_and_update() >= sequence_number {
                    return Ok(());
                }
                let checkpoint = self.checkpoints.load(&consumer).await?;
                if checkpoint.is_some_and(|done| done >= sequence_number) {
                    return Ok(());
                }
                let _ = tokio::time::timeout(Duration::from_millis(50), progress.changed()).await;
            }
        };
        tokio::time::timeout(timeout, waiting).await.map_err(|_| {
            Error::Store(eventblocks_core::Error::Timeout {
                outcome: eventblocks_core::WriteOutcome::NotWritten,
                message: format!(
                    "projector {} had not reached sequence number {sequence_number}",
                    self.projector.name()
                )
                .into(),
                source: None,
            })
        })?
    }

    /// Rebuilds every projection from scratch: folds the whole source again,
    /// replacing what is stored, and moves the checkpoint to the end. Run it
    /// while no runner follows the same projector. Returns the events folded.
    ///
    /// Memory grows with the number of streams (one entry each), not events.
    ///
    /// # Errors
    /// What the projector or the stores report.
    pub async fn rebuild(&self) -> Result<u64> {
        let consumer = self.consumer_name()?;
        let mut rebuilt: HashSet<EventSourceIdentifier> = HashSet::new();
        let mut events = self.events.scan(self.source.clone(), ScanQuery::new());
        let mut folded = 0;
        while let Some(event) = events.try_next().await? {
            let source = EventSourceIdentifier::Stream(event.stream.clone());
            let mut projection = if rebuilt.insert(source.clone()) {
                self.projector.initial(source)
            } else {
                let stored = self
                    .projections
                    .locate(&source, self.projector.name())
                    .await?;
                stored.unwrap_or_else(|| self.projector.initial(source))
            };
            self.projector.apply_event(&mut projection, &event)?;
            self.projections.save(&projection).await?;
            self.checkpoints
                .advance(&consumer, event.sequence_number)
                .await?;
            folded += 1;
        }
        info!(projector = self.projector.name(), folded, "rebuilt");
        Ok(folded)
    }
}

impl<P: Projector + 'static> ProjectionRunner<P> {
    /// Runs as one of several instances sharing the work: the source's streams
    /// fall into `partitions` partitions, each followed by whichever instance
    /// holds its lease, with a checkpoint per partition. Partitions whose
    /// holder died are taken over. Runs until an error.
    ///
    /// # Errors
    /// The first error of a partition, after the [`ErrorPolicy`] gave up.
    pub async fn run_partitioned(
        self: &Arc<Self>,
        partitions: u32,
        leases: Arc<dyn Leases>,
    ) -> Result<()> {
        let consumer = self.consumer_name()?;
        // Dropping the join set (this future cancelled, or an error) aborts the
        // partition tasks, whose leases are then released.
        let mut held: HashSet<u32> = HashSet::new();
        let mut running: JoinSet<(u32, Result<()>)> = JoinSet::new();
        loop {
            let free: Vec<u32> = (0..partitions).filter(|p| !held.contains(p)).collect();
            for partition in free {
                if let Some(lease) = leases.try_acquire(&consumer, partition).await? {
                    info!(%consumer, partition, "took a partition");
                    let runner = Arc::clone(self);
                    running.spawn(async move {
                        let result = runner.follow_leased(lease, partitions).await;
                        (partition, result)
                    });
                    held.insert(partition);
                }
            }
            let pause = tokio::time::sleep(TAKEOVER_INTERVAL);
            tokio::select! {
                Some(finished) = running.join_next() => {
                    let (partition, result) = finished.map_err(|e| {
                        Error::Store(eventblocks_core::Error::backend("a partition task failed", e))
                    })?;
                    held.remove(&partition);
                    result?;
                }
                () = pause => {}
            }
        }
    }

    /// Follows a leased partition until the lease is lost (then returns `Ok`,
    /// dropping the lease) or an error.
    async fn follow_leased(&self, lease: Box<dyn Lease>, partitions: u32) -> Result<()> {
        let partition = lease.partition();
        let checkpoint = partition_checkpoint(lease.consumer(), partition, partitions)?;
        let lost = lease.lost();
        tokio::select! {
            () = lost => {
                warn!(partition, "lost the lease of a partition");
                Ok(())
            }
            result = self.follow(&checkpoint, Some((partition, partitions))) => result,
        }
    }

    /// Waits until every partition's checkpoint has reached `sequence_number`,
    /// whichever instance holds them.
    ///
    /// # Errors
    /// [`eventblocks_core::Error::Timeout`] after `timeout`.
    pub async fn wait_until_partitioned(
        &self,
        partitions: u32,
        sequence_number: u64,
        timeout: Duration,
    ) -> Result<()> {
        let consumer = self.consumer_name()?;
        let waiting = async {
            loop {
                let mut lowest = u64::MAX;
                for partition in 0..partitions {
                    let name = partition_checkpoint(&consumer, partition, partitions)?;
                    lowest = lowest.min(self.checkpoints.load(&name).await?.unwrap_or(0));
                }
                if lowest >= sequence_number {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::time::timeout(timeout, waiting).await.map_err(|_| {
            Error::Store(eventblocks_core::Error::Timeout {
                outcome: eventblocks_core::WriteOutcome::NotWritten,
                message: format!("partitions had not reached sequence number {sequence_number}")
                    .into(),
                source: None,
            })
        })?
    }
}

fn raise(progress: &mut u64, to: u64) -> bool {
    if to > *progress {
        *progress = to;
        return true;
    }
    false
}
