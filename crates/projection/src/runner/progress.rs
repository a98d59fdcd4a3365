//! How far a runner has got, per checkpoint (the whole source, or one
//! partition), whether it runs, and waiting for it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{partition_checkpoint, partition_of, Error, Name, Result, WriteOutcome};
use futures::TryStreamExt;

use super::partitions::{agree, count_of};
use super::ProjectionRunner;
use crate::projector::Projector;

/// How often a waiter reads the durable checkpoints of partitions this
/// instance does not follow.
const CHECKPOINT_POLL: Duration = Duration::from_millis(50);

/// The most source events a waiter reads to tell whether an event outside
/// the source has been passed; beyond them it waits for the runner instead.
const OUTSIDE_SCAN: u64 = 64;

/// What a runner is doing, as [`ProjectionRunner::status`] reports it.
///
/// ```
/// use eventblocks_projection::RunnerStatus;
///
/// let status = RunnerStatus::CaughtUp { applied: Some(42) };
/// assert_eq!(status.to_string(), "caught up: every event up to 42 applied");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RunnerStatus {
    /// Not running in this instance: not started yet, or its run was
    /// dropped. [`ProjectionRunner::wait_until`] still waits, for the
    /// checkpoints other instances keep.
    Idle,
    /// Running, with events to apply that it has read or is reading.
    /// `applied`: every source event up to it is applied (for a partitioned
    /// runner, in every partition this instance follows).
    CatchingUp {
        /// Every source event up to this sequence number is applied.
        applied: Option<u64>,
    },
    /// Running, and every event committed when it last looked is applied
    /// (in every partition this instance follows); it waits for new ones.
    CaughtUp {
        /// Every source event up to this sequence number is applied.
        applied: Option<u64>,
    },
    /// Stopped by [`ProjectionRunner::shutdown`], for good.
    ShutDown,
    /// Stopped by an error: the one its run returned (as the source of an
    /// [`Error::Stopped`]), shared. Running it again starts afresh.
    Failed(Arc<Error>),
}

impl RunnerStatus {
    /// Whether the runner is running in this instance.
    pub fn is_running(&self) -> bool {
        matches!(self, Self::CatchingUp { .. } | Self::CaughtUp { .. })
    }

    /// The error that stopped the runner, if one did.
    pub fn error(&self) -> Option<&Arc<Error>> {
        match self {
            Self::Failed(error) => Some(error),
            _ => None,
        }
    }
}

impl fmt::Display for RunnerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let applied = |f: &mut fmt::Formatter<'_>, applied: &Option<u64>| match applied {
            Some(applied) => write!(f, "every event up to {applied} applied"),
            None => f.write_str("no event applied yet"),
        };
        match self {
            Self::Idle => f.write_str("not running"),
            Self::CatchingUp { applied: up_to } => {
                f.write_str("catching up: ")?;
                applied(f, up_to)
            }
            Self::CaughtUp { applied: up_to } => {
                f.write_str("caught up: ")?;
                applied(f, up_to)
            }
            Self::ShutDown => f.write_str("shut down"),
            Self::Failed(error) => write!(f, "stopped by an error: {error}"),
        }
    }
}

/// Whether a runner runs here, and how it ended.
#[derive(Debug, Default, Clone)]
enum Run {
    #[default]
    Idle,
    Running,
    ShutDown,
    Failed(Arc<Error>),
}

/// Whether a waiter's sequence number is passed.
enum Passed {
    Yes,
    NotYet,
    /// Not, and never by this instance: it has stopped.
    Never(Error),
}

/// What [`Progress::start`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    Started,
    /// The runner was shut down: the run returns at once.
    ShutDown,
    AlreadyRunning,
}

/// What this instance has applied, per checkpoint it keeps, and whether it
/// runs.
///
/// Kept per checkpoint, never as one number: a partition that has caught up
/// says nothing about the events of another.
#[derive(Debug, Default)]
pub(super) struct Progress {
    /// How many partitions the runner runs with; 0 until it runs.
    partitions: u32,
    /// The sequence number each checkpoint has reached here: every event of
    /// its partition up to it is applied.
    applied: HashMap<Name, u64>,
    /// The checkpoints followed right now, and whether each has caught up.
    following: HashMap<Name, bool>,
    run: Run,
}

impl Progress {
    /// Starts a run with `partitions`, unless the runner was shut down (for
    /// good: `stopping`) or already runs.
    pub(super) fn start(&mut self, partitions: u32, stopping: bool) -> Start {
        match self.run {
            Run::Running => return Start::AlreadyRunning,
            _ if stopping => return Start::ShutDown,
            Run::ShutDown => return Start::ShutDown,
            Run::Idle | Run::Failed(_) => {}
        }
        self.partitions = partitions;
        self.run = Run::Running;
        Start::Started
    }

    /// Marks an idle runner as shut down; whether it was idle. (A failed
    /// one keeps its error to show.)
    pub(super) fn shut_down_if_idle(&mut self) -> bool {
        if matches!(self.run, Run::Idle) {
            self.run = Run::ShutDown;
            return true;
        }
        false
    }

    /// Records how a run ended: shut down, failed with `error`, or (when
    /// neither, as when its future is dropped) no longer running.
    pub(super) fn end(&mut self, shut_down: bool, error: Option<Arc<Error>>) {
        self.following.clear();
        self.run = match (error, shut_down) {
            (Some(error), _) => Run::Failed(error),
            (None, true) => Run::ShutDown,
            (None, false) => Run::Idle,
        };
    }

    pub(super) fn is_running(&self) -> bool {
        matches!(self.run, Run::Running)
    }

    /// Records that `checkpoint` is followed (or no longer is).
    pub(super) fn follow(&mut self, checkpoint: &Name, following: bool) {
        if following {
            self.following.insert(checkpoint.clone(), false);
        } else {
            self.following.remove(checkpoint);
        }
    }

    /// Records whether `checkpoint` has caught up; whether that is news.
    pub(super) fn caught_up(&mut self, checkpoint: &Name, caught_up: bool) -> bool {
        match self.following.get_mut(checkpoint) {
            Some(was) if *was != caught_up => {
                *was = caught_up;
                true
            }
            _ => false,
        }
    }

    /// Records that `checkpoint` reached `to`; whether that is news.
    pub(super) fn raise(&mut self, checkpoint: &Name, to: u64) -> bool {
        let applied = self.applied.entry(checkpoint.clone()).or_default();
        if to > *applied {
            *applied = to;
            return true;
        }
        false
    }

    /// The partitions to wait for: one when the runner runs unpartitioned or
    /// not at all.
    fn partitions(&self) -> u32 {
        self.partitions.max(1)
    }

    fn applied(&self, checkpoint: &Name) -> Option<u64> {
        self.applied.get(checkpoint).copied()
    }

    pub(super) fn status(&self) -> RunnerStatus {
        match &self.run {
            Run::Idle => RunnerStatus::Idle,
            Run::ShutDown => RunnerStatus::ShutDown,
            Run::Failed(error) => RunnerStatus::Failed(Arc::clone(error)),
            Run::Running => {
                let applied = self
                    .following
                    .keys()
                    .map(|checkpoint| self.applied(checkpoint))
                    .min()
                    .flatten();
                let caught_up = !self.following.is_empty() && self.following.values().all(|&c| c);
                if caught_up {
                    RunnerStatus::CaughtUp { applied }
                } else {
                    RunnerStatus::CatchingUp { applied }
                }
            }
        }
    }

    /// Why a waiter should stop waiting on this instance: it was shut down or
    /// failed.
    fn stopped(&self, runner: &str) -> Option<Error> {
        let source = match &self.run {
            Run::ShutDown => None,
            Run::Failed(error) => Some(Arc::clone(error)),
            Run::Idle | Run::Running => return None,
        };
        Some(Error::Stopped {
            runner: runner.to_owned(),
            source,
        })
    }
}

impl<P: Projector + 'static> ProjectionRunner<P> {
    /// What the runner is doing: not running here, catching up or caught up
    /// (and how far it has applied), shut down, or stopped by an error (which
    /// one).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use eventblocks_projection::{ProjectionRunner, Projector, RunnerStatus};
    /// # fn example<P: Projector + 'static>(runner: Arc<ProjectionRunner<P>>) {
    /// match runner.status() {
    ///     RunnerStatus::CaughtUp { applied } => println!("up to date at {applied:?}"),
    ///     RunnerStatus::Failed(error) => eprintln!("the projection stopped: {error}"),
    ///     other => println!("{other}"),
    /// }
    /// # }
    /// ```
    pub fn status(&self) -> RunnerStatus {
        self.progress.borrow().status()
    }

    /// Waits until every event up to `sequence_number` in the source has been
    /// applied: by this instance, or by any instance whose checkpoints show
    /// it. For a runner running [`partitioned`](ProjectionRunner::run_partitioned),
    /// every partition must have applied its events up to `sequence_number`;
    /// one partition racing ahead is not enough.
    ///
    /// `sequence_number` may be that of any event, in the source or not
    /// (another category's, one the runner's name filters leave out): once
    /// it is visible to readers and the source events before it are
    /// applied, it is passed. So a caller can publish anything and wait for
    /// its number to read its own writes.
    ///
    /// A runner that is not running here waits for the number of partitions
    /// recorded for its consumer (one if none is), from the checkpoints;
    /// [`ProjectionRunner::wait_until_partitioned`] is told the number.
    ///
    /// The errors are eventblocks' one [`Error`], matched as anywhere else:
    ///
    /// ```
    /// use std::time::Duration;
    /// use eventblocks_core::{BoxError, Error, EventStore, StoredEvent};
    /// use eventblocks_memory::{MemoryAdapter, MemoryCheckpointStore, MemoryProjectionStore};
    /// use eventblocks_projection::{Handled, ProjectionRunner, ProjectionStore, Projector};
    ///
    /// struct Nothing;
    ///
    /// impl Projector for Nothing {
    ///     type State = ();
    ///     type Metadata = ();
    ///     fn name(&self) -> &str { "nothing" }
    ///     fn initial_state(&self) {}
    ///     fn apply(&self, _: &mut (), _: &StoredEvent) -> Result<Handled, BoxError> {
    ///         Ok(Handled::Applied)
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let events = EventStore::new(MemoryAdapter::new());
    /// let projections = ProjectionStore::new(MemoryProjectionStore::new());
    /// let runner = ProjectionRunner::new(Nothing, events, projections, MemoryCheckpointStore::new());
    /// // Nobody published event 42, and the runner is not even running:
    /// match runner.wait_until(42, Duration::from_millis(20)).await {
    ///     Err(Error::Timeout { .. }) => {}
    ///     Err(Error::Stopped { source, .. }) => panic!("it stopped: {source:?}"),
    ///     other => panic!("{other:?}"),
    /// }
    /// runner.shutdown().await;
    /// let stopped = runner.wait_until(42, Duration::from_secs(60)).await;
    /// assert!(stopped.is_err_and(|error| error.is_stopped()), "at once, not in a minute");
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Timeout`] if that takes longer than `timeout`;
    /// [`Error::Stopped`] at once when this instance's runner has stopped
    /// (shut down, or failed: the error that stopped it is the source) before
    /// getting there; the stores' errors.
    pub async fn wait_until(&self, sequence_number: u64, timeout: Duration) -> Result<()> {
        self.wait(None, sequence_number, timeout).await
    }

    /// As [`ProjectionRunner::wait_until`], for a runner run (by whichever
    /// instances) with `partitions` partitions.
    ///
    /// # Errors
    /// [`Error::PartitionCount`] if the consumer is recorded with another
    /// number of partitions; as [`ProjectionRunner::wait_until`].
    pub async fn wait_until_partitioned(
        &self,
        partitions: u32,
        sequence_number: u64,
        timeout: Duration,
    ) -> Result<()> {
        self.wait(Some(partitions), sequence_number, timeout).await
    }

    async fn wait(
        &self,
        partitions: Option<u32>,
        sequence_number: u64,
        timeout: Duration,
    ) -> Result<()> {
        let consumer = self.consumer_name()?;
        if let Some(count) = partitions {
            if let Some(recorded) = self.recorded_partitions(&consumer).await? {
                agree(&consumer, recorded, count)?;
            }
        }
        let mut progress = self.progress.subscribe();
        // The recorded number, once read: it overrides a guess.
        let mut recorded = None;
        let waiting = async {
            loop {
                let known = progress.borrow_and_update().partitions();
                let count = partitions.or(recorded).unwrap_or(known);
                let passed = match self.passed(&consumer, count, sequence_number).await? {
                    Passed::Yes => true,
                    Passed::NotYet => false,
                    Passed::Never(stopped) => return Err(stopped),
                };
                if passed {
                    if partitions.is_some() || recorded.is_some() {
                        return Ok(());
                    }
                    // A guess is only trusted for the number the checkpoints
                    // were made with; read once, when it matters.
                    match self.recorded_partitions(&consumer).await? {
                        Some(number) if number != u64::from(count) => {
                            recorded = Some(count_of(number)?);
                            continue;
                        }
                        _ => return Ok(()),
                    }
                }
                let _ = tokio::time::timeout(CHECKPOINT_POLL, progress.changed()).await;
            }
        };
        tokio::time::timeout(timeout, waiting)
            .await
            .map_err(|_| Error::Timeout {
                outcome: WriteOutcome::NotWritten,
                message: format!(
                    "projector {} had not reached sequence number {sequence_number} (it is {})",
                    self.projector.name(),
                    self.status()
                )
                .into(),
                source: None,
            })?
    }

    /// Whether every partition has applied its events up to
    /// `sequence_number`, here or (by its durable checkpoint) elsewhere; or
    /// never will here, as this instance has stopped.
    async fn passed(
        &self,
        consumer: &Name,
        partitions: u32,
        sequence_number: u64,
    ) -> Result<Passed> {
        let mut applied = Vec::with_capacity(partitions as usize);
        for partition in 0..partitions {
            let checkpoint = partition_checkpoint(consumer, partition, partitions)?;
            let here = self.progress.borrow().applied(&checkpoint);
            let reached = match here {
                Some(here) if here >= sequence_number => here,
                _ => {
                    let durable = self.checkpoints.load(&checkpoint).await?;
                    here.max(durable).unwrap_or(0)
                }
            };
            applied.push(reached);
        }
        if applied.iter().all(|&reached| reached >= sequence_number) {
            return Ok(Passed::Yes);
        }
        if let Some(stopped) = self.progress.borrow().stopped(self.projector.name()) {
            return Ok(Passed::Never(stopped));
        }
        // While this instance reads events, a later checkpoint will tell.
        if matches!(self.status(), RunnerStatus::CatchingUp { .. }) {
            return Ok(Passed::NotYet);
        }
        Ok(
            match self.passed_outside(&applied, sequence_number).await? {
                true => Passed::Yes,
                false => Passed::NotYet,
            },
        )
    }

    /// Whether `sequence_number` is passed though no checkpoint reached it:
    /// it is visible to readers (so every event below it that will ever be
    /// visible already is), and every source event up to it is applied in
    /// its partition. How an event outside the source is passed.
    async fn passed_outside(&self, applied: &[u64], sequence_number: u64) -> Result<bool> {
        if i64::try_from(sequence_number).is_err() {
            // Beyond any number a store hands out.
            return Ok(false);
        }
        // Visible once the log's last visible event is at or past it. (Not a
        // scan after it: a store may refuse to resume after a number it never
        // handed out, as after losing events in a failover.)
        let newest = self.events.log().latest().await?;
        if newest.is_none_or(|event| event.sequence_number < sequence_number) {
            return Ok(false);
        }
        let least = applied.iter().copied().min().unwrap_or(0);
        let pending = self
            .subscription
            .scan_query()
            .after(least)
            .before(sequence_number.saturating_add(1))
            .limit(OUTSIDE_SCAN);
        let partitions = u32::try_from(applied.len()).unwrap_or(u32::MAX);
        let mut events = self.events.scan(self.source.clone(), pending);
        let mut read = 0;
        while let Some(event) = events.try_next().await? {
            read += 1;
            let partition = partition_of(&event.stream, partitions) as usize;
            if applied
                .get(partition)
                .is_none_or(|&a| a < event.sequence_number)
            {
                return Ok(false);
            }
        }
        Ok(read < OUTSIDE_SCAN)
    }
}
