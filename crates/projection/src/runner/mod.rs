//! Keeping projections up to date: a runner follows a source with a catch-up
//! subscription and keeps one projection per stream in a projection store.

mod partitioned;
mod partitions;
mod progress;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{
    partition_checkpoint, partition_of, CheckpointStore, EventSourceIdentifier, EventStore, Fence,
    LogIdentifier, Name, ScanQuery, StoredEvent, SubscriptionMessage, SubscriptionOptions,
};
use futures::TryStreamExt;
use tokio::sync::watch;
use tracing::{debug, info, warn};

pub use self::partitions::MAX_PARTITIONS;
use self::progress::Progress;
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

/// Keeps a projector's projections (one per stream of its source) up to date
/// in a projection store, from a catch-up subscription, with a durable
/// checkpoint.
///
/// Each event is applied exactly once when the projector's metadata keeps the
/// last sequence number (as [`Tracked`](crate::Tracked) does): after a crash
/// between saving a projection and advancing the checkpoint, the redelivered
/// event is recognised from the projection itself and skipped. Run
/// partitioned ([`ProjectionRunner::run_partitioned`]), every projection save
/// and checkpoint advance carries the partition lease's [`Fence`], so an
/// instance that lost its lease while stalled changes nothing once another
/// has taken over.
///
/// A stream's projection is found by its source and saved by its source: its
/// id ([`Projector::id`]) may change as events arrive, and the runner keeps
/// exactly the projection [`Projector::fold`] gives.
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
    progress: watch::Sender<Progress>,
}

/// What one follower follows: the checkpoint it keeps, the partition of the
/// source it applies (`None`: all of it), and the fence its writes carry.
#[derive(Debug)]
struct Target {
    checkpoint: Name,
    partition: Option<(u32, u32)>,
    fence: Option<Fence>,
}

impl Target {
    fn applies(&self, event: &StoredEvent) -> bool {
        self.partition.is_none_or(|(partition, partitions)| {
            partition_of(&event.stream, partitions) == partition
        })
    }
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
            progress: watch::channel(Progress::default()).0,
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
    /// It takes no lease: run it in one instance at a time, never beside
    /// [`run_partitioned`](Self::run_partitioned) instances of the same
    /// consumer. It counts as one partition, and a consumer recorded with
    /// another number of partitions is refused (see
    /// [`run_partitioned`](Self::run_partitioned)); on a consumer's very
    /// first start the record is made without a lease, so it does not keep
    /// out a partitioned instance starting at the same moment.
    ///
    /// # Errors
    /// [`Error::PartitionCount`] if the consumer runs partitioned; the error
    /// that stopped it, after the [`ErrorPolicy`] gave up.
    pub async fn run(&self) -> Result<()> {
        let checkpoint = self.consumer_name()?;
        self.register(&checkpoint, 1, None).await?;
        self.progress.send_modify(|progress| progress.run_with(1));
        let target = Target {
            checkpoint,
            partition: None,
            fence: None,
        };
        self.follow(&target).await
    }

    /// Follows the source from `target`'s checkpoint, applying `target`'s
    /// events, until an error.
    async fn follow(&self, target: &Target) -> Result<()> {
        let checkpoint = &target.checkpoint;
        let start = self.checkpoints.load(checkpoint).await?;
        let options = self.subscription.clone().after_checkpoint(start);
        let mut subscription = self.events.subscribe(self.source.clone(), options)?;
        let mut seen = start;
        let mut saved = start;
        while let Some(message) = subscription.try_next().await? {
            match message {
                SubscriptionMessage::Event(event) => {
                    seen = Some(event.sequence_number);
                    if target.applies(&event) {
                        self.process_with_policy(&event, target.fence.as_ref())
                            .await?;
                        self.advance(target, event.sequence_number).await?;
                        saved = seen;
                    }
                }
                SubscriptionMessage::CaughtUp { .. } => {
                    // Every event up to `seen` has been delivered, and this
                    // target's ones applied: the checkpoint may move past the
                    // others.
                    if let Some(seen) = seen.filter(|_| seen != saved) {
                        self.advance(target, seen).await?;
                        saved = Some(seen);
                    }
                    debug!(projector = self.projector.name(), %checkpoint, ?seen, "caught up");
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Moves `target`'s checkpoint, and this runner's record of its progress,
    /// to `sequence_number`.
    async fn advance(&self, target: &Target, sequence_number: u64) -> Result<()> {
        self.checkpoints
            .advance(&target.checkpoint, sequence_number, target.fence.as_ref())
            .await?;
        self.progress
            .send_if_modified(|progress| progress.raise(&target.checkpoint, sequence_number));
        Ok(())
    }

    async fn process_with_policy(&self, event: &StoredEvent, fence: Option<&Fence>) -> Result<()> {
        let mut failures = 0;
        loop {
            match self.apply(event, fence).await {
                Ok(()) => return Ok(()),
                // The lease was taken over: trying again cannot help.
                Err(error) if is_fenced(&error) => return Err(error),
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
        self.apply(event, None).await
    }

    /// [`ProjectionRunner::process`], its save carrying `fence`.
    async fn apply(&self, event: &StoredEvent, fence: Option<&Fence>) -> Result<()> {
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
        match fence {
            Some(fence) => self.projections.save_fenced(&projection, fence).await?,
            None => self.projections.save(&projection).await?,
        }
        Ok(())
    }

    /// Rebuilds every projection from scratch: folds the whole source again,
    /// replacing what is stored, and moves the checkpoints (each partition's,
    /// for a consumer recorded as partitioned) to the end. Run it while no
    /// runner follows the same projector. Returns the events folded.
    ///
    /// Memory grows with the number of streams (one entry each), not events.
    ///
    /// # Errors
    /// What the projector or the stores report.
    pub async fn rebuild(&self) -> Result<u64> {
        let consumer = self.consumer_name()?;
        let partitions = self.partitions_of(&consumer).await?;
        let mut rebuilt: HashSet<EventSourceIdentifier> = HashSet::new();
        let mut events = self.events.scan(self.source.clone(), ScanQuery::new());
        let (mut folded, mut last) = (0, None);
        while let Some(event) = events.try_next().await? {
            self.refold(&event, &mut rebuilt).await?;
            let partition = partition_of(&event.stream, partitions);
            let checkpoint = partition_checkpoint(&consumer, partition, partitions)?;
            self.checkpoints
                .advance(&checkpoint, event.sequence_number, None)
                .await?;
            folded += 1;
            last = Some(event.sequence_number);
        }
        if let Some(last) = last {
            // Partitions without events late in the source end there too.
            for partition in 0..partitions {
                let checkpoint = partition_checkpoint(&consumer, partition, partitions)?;
                self.checkpoints.advance(&checkpoint, last, None).await?;
            }
        }
        info!(projector = self.projector.name(), folded, "rebuilt");
        Ok(folded)
    }

    /// Applies `event` to its stream's projection as a rebuild does: to the
    /// initial state for a stream not `rebuilt` yet (then recorded as
    /// rebuilt), to the stored projection otherwise.
    async fn refold(
        &self,
        event: &StoredEvent,
        rebuilt: &mut HashSet<EventSourceIdentifier>,
    ) -> Result<()> {
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
        self.projector.apply_event(&mut projection, event)?;
        self.projections.save(&projection).await?;
        Ok(())
    }
}

/// Whether `error` says the lease a write was made under was taken over.
fn is_fenced(error: &Error) -> bool {
    matches!(error, Error::Store(store) if store.is_fenced())
}
