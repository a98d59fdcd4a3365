//! The cancellation harness: every `.await` is a point where a caller may drop
//! an operation (a timeout, a `select!`), and dropping it anywhere must leave
//! the backend as the design's "Cancellation" rules say:
//!
//! Operations: publish, category publish, scans of every target, `latest`,
//! subscriptions; with consistency boundaries, query reads and
//! query-conditioned, log and tracked publishes; checkpoint advances, lease acquisition and release,
//! projection saves and searches, and runner steps.
//!
//! - nothing stranded on the server or in a pool (no connection idle inside a
//!   transaction, no lock), which the backend's [`Leftovers`] reports;
//! - an operation that returned `Ok` is durable and visible to other sessions
//!   (the fixture's `observer`);
//! - a dropped publish may or may not have committed, and its idempotent retry
//!   stores it exactly once;
//! - the store still serves new calls promptly.
//!
//! Each case drives one operation, dropping it after 1, 2, 3, … polls until it
//! completes within the budget (see [`drop_after_polls`]), then under random
//! short timeouts, and checks the rules after every drop.
//!
//! Run every case with [`cancellation_suite!`](crate::cancellation_suite) and
//! a factory of [`CancellationFixture`]s, or only the event store's cases
//! (publishes, category publishes, reads, subscriptions, and the boundary
//! cases on adapters that offer them) with
//! [`event_store_cancellation_suite!`](crate::event_store_cancellation_suite)
//! and a factory of [`EventStoreFixture`]s, for an adapter that stores events
//! and nothing else:
//!
//! ```ignore
//! eventblocks_testkit::cancellation_suite!(|| async { my_cancellation_fixture().await });
//! eventblocks_testkit::event_store_cancellation_suite!(|| async { my_event_store_fixture().await });
//! ```

mod boundaries;
mod cases;
mod consumers;
mod poll;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{async_trait, CheckpointStore, EventStore};
use eventblocks_projection::ProjectionStore;

use crate::projection::runner::RunnerFixture;

pub use boundaries::*;
pub use cases::*;
pub use consumers::*;
pub use poll::{drop_after_polls, Ending};

/// What a backend shows of the resources a dropped operation could strand.
#[async_trait]
pub trait Leftovers: Send + Sync + fmt::Debug {
    /// Everything held that no running operation should hold, one description
    /// each (empty when clean): for PostgreSQL, the store's sessions that sit
    /// idle inside a transaction or hold a lock.
    async fn held(&self) -> Vec<String>;
}

/// For backends with nothing a dropped operation could strand (memory).
#[derive(Debug, Clone, Copy, Default)]
pub struct NothingHeld;

#[async_trait]
impl Leftovers for NothingHeld {
    async fn held(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The stores to cancel operations on, and the means to check what they left.
#[derive(Debug, Clone)]
pub struct CancellationFixture {
    /// The event store, projection store, checkpoints and leases whose
    /// operations are dropped, all on one backend.
    pub stores: RunnerFixture,
    /// Another event store on the same backend through other connections:
    /// what it sees is visible to other sessions. May be a clone of the event
    /// store for backends without sessions.
    pub observer: EventStore,
    /// The checkpoints and projections as other sessions see them (clones of
    /// the stores' for backends without sessions): a checkpoint advance or
    /// projection save that returned must be visible there.
    pub observed: Observed,
    /// What the backend holds that it should not.
    pub leftovers: Arc<dyn Leftovers>,
}

/// The consumer stores of a [`CancellationFixture`] as other sessions see
/// them.
#[derive(Debug, Clone)]
pub struct Observed {
    /// The checkpoints, through other connections.
    pub checkpoints: Arc<dyn CheckpointStore>,
    /// The projections, through other connections.
    pub projections: ProjectionStore,
}

/// The event store to cancel operations on, and the means to check what they
/// left: what the event store's cases need of a [`CancellationFixture`].
#[derive(Debug, Clone)]
pub struct EventStoreFixture {
    /// The event store whose operations are dropped.
    pub events: EventStore,
    /// Another event store on the same backend through other connections:
    /// what it sees is visible to other sessions. May be a clone of `events`
    /// for backends without sessions.
    pub observer: EventStore,
    /// What the backend holds that it should not.
    pub leftovers: Arc<dyn Leftovers>,
}

/// What the event store's cases take: an [`EventStoreFixture`], or a whole
/// [`CancellationFixture`], which then lives (and keeps its backend) until
/// the case ends.
pub trait EventStoreParts: Send + Sync + 'static {
    /// The event store, observer and leftovers report of the fixture.
    fn event_store_parts(&self) -> EventStoreFixture;
}

impl EventStoreParts for EventStoreFixture {
    fn event_store_parts(&self) -> EventStoreFixture {
        self.clone()
    }
}

impl EventStoreParts for CancellationFixture {
    fn event_store_parts(&self) -> EventStoreFixture {
        EventStoreFixture {
            events: self.stores.events.clone(),
            observer: self.observer.clone(),
            leftovers: self.leftovers.clone(),
        }
    }
}

/// How long resources of a dropped operation may take to be released (a
/// closed connection's server session ends soon after, not at once).
const SETTLE: Duration = Duration::from_secs(10);

/// How long a call after a drop may take: "promptly".
const PROMPTLY: Duration = Duration::from_secs(5);

/// Waits until the backend holds nothing it should not, failing the case with
/// what it still holds after ten seconds.
pub async fn assert_nothing_held(leftovers: &dyn Leftovers, after: &str) {
    let deadline = tokio::time::Instant::now() + SETTLE;
    loop {
        let held = leftovers.held().await;
        if held.is_empty() {
            return;
        }
        if tokio::time::Instant::now() >= deadline {
            panic!("after {after}, the backend still holds: {held:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Calls `$callback!($($args)*; case, …)` with every cancellation case of the
/// event store.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_event_store_cancellation_cases {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { $($args)* ;
            a_dropped_publish_is_stored_once_by_its_retry,
            publishes_under_random_timeouts_are_stored_once_by_their_retries,
            a_dropped_category_publish_is_all_or_nothing,
            dropped_reads_leave_nothing_held,
            a_dropped_subscription_leaves_nothing_held,
            dropped_query_reads_leave_nothing_held,
            a_dropped_boundary_publish_is_stored_once_by_its_retry,
            a_dropped_log_publish_is_all_or_nothing,
            a_dropped_tracked_publish_is_recorded_once,
        }
    };
}

/// Calls `$callback!($($args)*; case, …)` with every cancellation case of the
/// consumers: checkpoints, leases, projections and the runner.
#[doc(hidden)]
#[macro_export]
macro_rules! __with_consumer_cancellation_cases {
    ($callback:ident ! ($($args:tt)*)) => {
        $crate::$callback! { $($args)* ;
            a_dropped_checkpoint_advance_moves_it_at_most_once,
            a_dropped_lease_acquisition_leaves_the_partition_free,
            a_dropped_projection_save_or_search_leaves_one_projection,
            a_runner_dropped_at_any_point_converges_exactly,
        }
    };
}

/// Expands to one test per cancellation case, the event store's and the
/// consumers', each with a fresh [`CancellationFixture`] from `$factory` (a
/// closure returning a future of one).
///
/// The tests run on a multi-threaded runtime of the testkit's own; the crate
/// that calls this needs no tokio dependency.
#[macro_export]
macro_rules! cancellation_suite {
    ($factory:expr) => {
        $crate::__with_event_store_cancellation_cases!(__suite_tests!(
            $crate::cancellation::CancellationFixture,
            [$crate::cancellation],
            4,
            $factory
        ));
        $crate::__with_consumer_cancellation_cases!(__suite_tests!(
            $crate::cancellation::CancellationFixture,
            [$crate::cancellation],
            4,
            $factory
        ));
    };
}

/// Expands to one test per cancellation case of the event store, each with a
/// fresh [`EventStoreFixture`] from `$factory` (a closure returning a future
/// of one): for an adapter that stores events and no consumer state.
///
/// The tests run on a multi-threaded runtime of the testkit's own; the crate
/// that calls this needs no tokio dependency.
#[macro_export]
macro_rules! event_store_cancellation_suite {
    ($factory:expr) => {
        $crate::__with_event_store_cancellation_cases!(__suite_tests!(
            $crate::cancellation::EventStoreFixture,
            [$crate::cancellation],
            4,
            $factory
        ));
    };
}
