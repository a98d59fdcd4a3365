//! Keeping projections up to date: a runner follows a source with a catch-up
//! subscription and keeps one projection per stream in a projection store.

mod partitioned;
mod partitions;
mod progress;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{
    partition_checkpoint, partition_of, CheckpointStore, Error, EventSourceIdentifier, EventStore,
    Fence, LogIdentifier, Name, Result, ScanQuery, StoredEvent, SubscriptionMessage,
    SubscriptionOptions,
};
use futures::TryStreamExt;
use tokio::sync::watch;
use tracing::{debug, info, warn};

pub use self::partitions::MAX_PARTITIONS;
pub use self::progress::RunnerStatus;
use self::progress::{Progress, Start};
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
/// It is observable: [`ProjectionRunner::status`] says whether it is
/// catching up, caught up (to which sequence number), shut down or stopped by
/// an error (which); [`ProjectionRunner::wait_until`] fails at once, with
/// that error, once it has stopped; [`ProjectionRunner::shutdown`] stops it
/// after the event in hand.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use eventblocks_core::{BoxError, EventStore, NewEvent, StoredEvent, WriteCondition};
/// use eventblocks_memory::{MemoryAdapter, MemoryCheckpointStore, MemoryProjectionStore};
/// use eventblocks_projection::{Handled, ProjectionRunner, ProjectionStore, Projector, RunnerStatus};
/// use serde_json::json;
///
/// /// How many events each stream holds.
/// struct Counts;
///
/// impl Projector for Counts {
///     type State = u64;
///     type Metadata = eventblocks_projection::Tracked;
///     fn name(&self) -> &str { "counts" }
///     fn initial_state(&self) -> u64 { 0 }
///     fn apply(&self, count: &mut u64, _: &StoredEvent) -> Result<Handled, BoxError> {
///         *count += 1;
///         Ok(Handled::Applied)
///     }
/// }
///
/// # #[tokio::main(flavor = "multi_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let events = EventStore::new(MemoryAdapter::new());
/// let projections = ProjectionStore::new(MemoryProjectionStore::new());
/// let runner = Arc::new(ProjectionRunner::new(
///     Counts, events.clone(), projections.clone(), MemoryCheckpointStore::new(),
/// ));
/// let running = runner.spawn(); // runner.run() in a task of its own
///
/// let stream = events.stream("things", "a")?;
/// let stored = stream.publish([NewEvent::new("happened", &json!({}))?], WriteCondition::NoCondition).await?;
/// // Read your own write: wait until the runner has applied it.
/// runner.wait_until(stored[0].sequence_number, Duration::from_secs(5)).await?;
/// assert_eq!(projections.load(&Counts, "a").await?.map(|p| p.state), Some(1));
///
/// runner.shutdown().await;
/// assert!(matches!(runner.status(), RunnerStatus::ShutDown));
/// running.await??;
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
    /// Raised by [`ProjectionRunner::shutdown`], for good: every follower
    /// stops before its next event.
    stopping: watch::Sender<bool>,
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
            stopping: watch::channel(false).0,
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

    /// Follows the source from the checkpoint until an error stops it or
    /// [`ProjectionRunner::shutdown`] does (it never ends otherwise).
    ///
    /// It takes no lease: run it in one instance at a time, never beside
    /// [`run_partitioned`](Self::run_partitioned) instances of the same
    /// consumer. It counts as one partition, and a consumer recorded with
    /// another number of partitions is refused (see
    /// [`run_partitioned`](Self::run_partitioned)); on a consumer's very
    /// first start the record is made without a lease, so it does not keep
    /// out a partitioned instance starting at the same moment.
    ///
    /// Returns `Ok` once shut down (at once if it was shut down before).
    /// Dropping its future stops it too, leaving it [idle](RunnerStatus::Idle):
    /// it may be run again.
    ///
    /// # Errors
    /// [`Error::Stopped`] whose source (see [`Error::stop_cause`]) is the
    /// error that stopped it, after the [`ErrorPolicy`] gave up, or
    /// [`Error::PartitionCount`] if the consumer runs partitioned. Every
    /// waiter is told the same, and [`ProjectionRunner::status`] keeps it.
    /// [`Error::InvalidInput`] if it is already running (it is left running).
    pub async fn run(&self) -> Result<()> {
        let checkpoint = self.consumer_name()?;
        self.running(1, async {
            self.register(&checkpoint, 1, None).await?;
            let target = Target {
                checkpoint,
                partition: None,
                fence: None,
            };
            self.follow(&target).await
        })
        .await
    }

    /// [`run`](Self::run) in a task of its own, on the current tokio
    /// runtime: the task ends when the run does (after a
    /// [`shutdown`](Self::shutdown), say), with its result.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn spawn(self: &Arc<Self>) -> tokio::task::JoinHandle<Result<()>> {
        let runner = Arc::clone(self);
        tokio::spawn(async move { runner.run().await })
    }

    /// Runs `run` as this runner's run with `partitions`: records that it
    /// runs, and how it ended (shut down, failed, or dropped).
    async fn running(
        &self,
        partitions: u32,
        run: impl std::future::Future<Output = Result<()>>,
    ) -> Result<()> {
        let mut start = Start::Started;
        let stopping = *self.stopping.borrow();
        self.progress.send_if_modified(|progress| {
            start = progress.start(partitions, stopping);
            start == Start::Started
        });
        match start {
            Start::Started => {}
            Start::ShutDown => return Ok(()),
            Start::AlreadyRunning => {
                return Err(Error::invalid(
                    "runner",
                    "is already running: run one of run() and run_partitioned() at a time",
                ))
            }
        }
        let mut ended = EndOnDrop {
            progress: &self.progress,
            armed: true,
        };
        let result = run.await;
        ended.armed = false;
        match result {
            Ok(()) => {
                let shut_down = *self.stopping.borrow();
                self.progress
                    .send_modify(|progress| progress.end(shut_down, None));
                Ok(())
            }
            Err(error) => {
                warn!(projector = self.projector.name(), %error, "the runner stopped");
                let error = Arc::new(error);
                self.progress
                    .send_modify(|progress| progress.end(false, Some(Arc::clone(&error))));
                Err(Error::Stopped {
                    runner: self.projector.name().to_owned(),
                    source: Some(error),
                })
            }
        }
    }

    /// Stops the runner: each follower finishes the event in hand (applies
    /// it and moves its checkpoint) and reads no more, and
    /// [`run`](Self::run) or [`run_partitioned`](Self::run_partitioned)
    /// returns `Ok`. Returns once it has stopped (at once if it is not
    /// running).
    ///
    /// Shutting down is for good: a later run returns at once, and waiters
    /// fail with [`Error::Stopped`] (they would wait in vain). Make a new
    /// runner to run again. A runner an error stopped keeps showing that
    /// error.
    pub async fn shutdown(&self) {
        self.stopping.send_replace(true);
        self.progress
            .send_if_modified(|progress| progress.shut_down_if_idle());
        let mut progress = self.progress.subscribe();
        let _ = progress.wait_for(|progress| !progress.is_running()).await;
    }

    /// Resolves once [`ProjectionRunner::shutdown`] was called.
    async fn shutting_down(&self) {
        let mut stopping = self.stopping.subscribe();
        let _ = stopping.wait_for(|stopping| *stopping).await;
    }

    /// Follows the source from `target`'s checkpoint, applying `target`'s
    /// events, until an error or a shutdown.
    async fn follow(&self, target: &Target) -> Result<()> {
        let checkpoint = &target.checkpoint;
        self.progress
            .send_modify(|progress| progress.follow(checkpoint, true));
        let _followed = Unfollow(&self.progress, checkpoint);
        let start = self.checkpoints.load(checkpoint).await?;
        if let Some(start) = start {
            // Every event up to the checkpoint is applied.
            self.progress
                .send_if_modified(|progress| progress.raise(checkpoint, start));
        }
        let options = self.subscription.clone().after_checkpoint(start);
        let mut subscription = self.events.subscribe(self.source.clone(), options)?;
        let mut seen = start;
        let mut saved = start;
        loop {
            // A shutdown stops the wait for the next event, never an event's
            // processing: the event in hand is applied and checkpointed.
            let message = tokio::select! {
                biased;
                () = self.shutting_down() => return Ok(()),
                message = subscription.try_next() => message?,
            };
            let Some(message) = message else {
                return Ok(());
            };
            match message {
                SubscriptionMessage::Event(event) => {
                    self.progress
                        .send_if_modified(|progress| progress.caught_up(checkpoint, false));
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
                    self.progress
                        .send_if_modified(|progress| progress.caught_up(checkpoint, true));
                    debug!(projector = self.projector.name(), %checkpoint, ?seen, "caught up");
                }
                _ => {}
            }
        }
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
                        self.count("failed");
                        return Err(error);
                    };
                    if failures > attempts {
                        self.count("failed");
                        return Err(error);
                    }
                    self.count("retried");
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
        let stored = self.projections.locate(&self.projector, &source).await?;
        let mut projection = stored.unwrap_or_else(|| self.projector.initial(source));
        let applied = projection.metadata.last_sequence_number();
        if applied.is_some_and(|applied| applied >= event.sequence_number) {
            debug!(sequence_number = event.sequence_number, "already applied");
            self.count("skipped");
            return Ok(());
        }
        self.projector.apply_event(&mut projection, event)?;
        match fence {
            Some(fence) => self.projections.save_fenced(&projection, fence).await?,
            None => self.projections.save(&projection).await?,
        }
        self.count("applied");
        Ok(())
    }

    /// Counts one event's outcome in `eventblocks_runner_events_total`.
    fn count(&self, outcome: &'static str) {
        let consumer = self
            .consumer
            .as_ref()
            .map_or(self.projector.name(), Name::as_str);
        eventblocks_core::metrics::record_runner_event(consumer, outcome);
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
            let stored = self.projections.locate(&self.projector, &source).await?;
            stored.unwrap_or_else(|| self.projector.initial(source))
        };
        self.projector.apply_event(&mut projection, event)?;
        self.projections.save(&projection).await?;
        Ok(())
    }
}

/// Whether `error` says the lease a write was made under was taken over.
fn is_fenced(error: &Error) -> bool {
    error.is_fenced()
}

/// Records, when a run's future is dropped, that the runner no longer runs.
struct EndOnDrop<'a> {
    progress: &'a watch::Sender<Progress>,
    /// Whether the run is still under way (its end not yet recorded).
    armed: bool,
}

impl Drop for EndOnDrop<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.progress
                .send_modify(|progress| progress.end(false, None));
        }
    }
}

/// Records, when a follower ends however it ends, that its checkpoint is no
/// longer followed.
struct Unfollow<'a>(&'a watch::Sender<Progress>, &'a Name);

impl Drop for Unfollow<'_> {
    fn drop(&mut self) {
        self.0
            .send_modify(|progress| progress.follow(self.1, false));
    }
}
