//! Reads served by hot standbys: which server a read goes to (the node
//! preference), what it does when a replica is down or behind, and how a read
//! that must see a given sequence number waits for its replica.
//!
//! Why any server will do for log and category reads: on every server, a
//! primary or a standby at any point of its replay, those reads return only
//! events of transactions older than the snapshot's `xmin`, and every
//! transaction older than that has finished there. A standby learns of every
//! transaction id from the WAL before any later one (replaying a record of
//! transaction `x` marks every id up to `x` as running until its commit or
//! abort is replayed), so its `xmin` never passes a transaction the primary
//! may still commit. What a server shows is therefore always a prefix, in
//! sequence order, of the log: a reader may move between servers, page by
//! page, and at worst waits for one that is behind; it never skips.

mod floor;
mod wake;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use eventblocks_core::{Error, WriteOutcome};
use parking_lot::Mutex;
use tokio::time::Instant;

use crate::adapter::Inner;

pub(crate) use self::floor::{settle, Wanted};
pub(crate) use self::wake::{parse_position, ReplicaWakeUps};

/// Which server a read goes to, as EventStoreDB's node preference: set it for
/// an adapter with
/// [`PostgresAdapterBuilder::node_preference`](crate::PostgresAdapterBuilder::node_preference)
/// and for some reads with
/// [`PostgresAdapter::reading_from`](crate::PostgresAdapter::reading_from).
///
/// It applies to log and category scans, subscriptions, query reads and the
/// reads of a projection runner given such an adapter. Writes, stream scans,
/// the latest event of a stream and tracked positions (the reads whose
/// contract promises read-your-writes) go to the primary, unless the read asks
/// for [`NodePreference::ReplicaOnly`] or to see
/// [at least](crate::PostgresAdapter::at_least) a sequence number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodePreference {
    /// The primary: every read sees every acknowledged write at once (the
    /// default).
    #[default]
    Primary,
    /// A replica that is up, taking turns; the primary when none is, or when
    /// the replica fails.
    PreferReplica,
    /// A replica only: when none is up, a read fails with
    /// [`Error::Unavailable`] rather than load the primary.
    ReplicaOnly,
}

/// What a read that must see a sequence number does when its replica has not
/// replayed it within the
/// [replica wait](crate::PostgresAdapterBuilder::replica_wait).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WhenBehind {
    /// Read from the primary instead (the default). Under
    /// [`NodePreference::ReplicaOnly`] the read fails as with
    /// [`WhenBehind::Fail`].
    #[default]
    ReadPrimary,
    /// Fail with [`Error::Timeout`].
    Fail,
}

/// How long a replica that could not be reached is left out before a read
/// tries it again.
const DOWN_FOR: Duration = Duration::from_secs(2);

/// The replicas an adapter reads from, and how.
pub(crate) struct Replicas {
    /// Shared with the task that wakes subscriptions on replicas.
    nodes: Arc<Vec<Replica>>,
    /// Whose turn it is.
    next: AtomicUsize,
    pub(crate) wait: Duration,
    pub(crate) when_behind: WhenBehind,
    pub(crate) wake_ups: ReplicaWakeUps,
}

pub(crate) struct Replica {
    pool: Pool,
    /// Until when the replica is left out, after it could not be reached.
    down_until: Mutex<Option<Instant>>,
}

impl Replica {
    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    pub(crate) fn is_up(&self, now: Instant) -> bool {
        self.down_until.lock().is_none_or(|until| until <= now)
    }

    pub(crate) fn mark_down(&self) {
        *self.down_until.lock() = Some(Instant::now() + DOWN_FOR);
    }
}

impl Replicas {
    pub(crate) fn new(pools: Vec<Pool>, wait: Duration, when_behind: WhenBehind) -> Self {
        let nodes = Arc::new(
            pools
                .into_iter()
                .map(|pool| Replica {
                    pool,
                    down_until: Mutex::new(None),
                })
                .collect(),
        );
        Self {
            nodes,
            next: AtomicUsize::new(0),
            wait,
            when_behind,
            wake_ups: ReplicaWakeUps::default(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub(crate) fn pools(&self) -> impl Iterator<Item = &Pool> {
        self.nodes.iter().map(|node| &node.pool)
    }

    /// The replicas, for the task that wakes subscriptions on them.
    pub(crate) fn shared(&self) -> Arc<Vec<Replica>> {
        Arc::clone(&self.nodes)
    }

    /// The next replica that is not left out, taking turns.
    fn pick(&self) -> Option<usize> {
        let count = self.nodes.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        (0..count)
            .map(|offset| (start + offset) % count)
            .find(|&index| self.nodes[index].is_up(now))
    }

    fn mark_down(&self, index: usize) {
        tracing::debug!(
            replica = index,
            "a replica could not be reached; reads leave it out for a while"
        );
        self.nodes[index].mark_down();
    }
}

/// Where an adapter's reads go: its node preference, and the sequence
/// frontier every read must have reached (from
/// [`PostgresAdapter::at_least`](crate::PostgresAdapter::at_least)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    pub(crate) preference: NodePreference,
    /// Every event below this sequence number must be visible to the read.
    pub(crate) floor: Option<u64>,
}

/// A server of the adapter's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Node {
    Primary,
    Replica(usize),
}

/// Where one read goes, and where it may go instead if that fails.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) node: Node,
    pub(crate) reads: Reads,
}

impl Route {
    /// The primary, for reads that must see the caller's own writes.
    pub(crate) fn primary() -> Self {
        Self {
            node: Node::Primary,
            reads: Reads::default(),
        }
    }

    /// Where a read goes under `reads`; `own_writes` for the reads whose
    /// contract promises read-your-writes (stream scans), which stay on the
    /// primary unless the read names what it must see or wants replicas only.
    ///
    /// # Errors
    /// [`Error::Unavailable`] under [`NodePreference::ReplicaOnly`] when every
    /// replica is down; [`Error::InvalidInput`] when the adapter has none.
    pub(crate) fn choose(
        inner: &Inner,
        reads: Reads,
        own_writes: bool,
    ) -> eventblocks_core::Result<Self> {
        let node = match reads.preference {
            NodePreference::Primary => Node::Primary,
            NodePreference::PreferReplica if own_writes && reads.floor.is_none() => Node::Primary,
            NodePreference::PreferReplica => {
                inner.replicas.pick().map_or(Node::Primary, Node::Replica)
            }
            NodePreference::ReplicaOnly if inner.replicas.is_empty() => {
                return Err(Error::invalid(
                    "node_preference",
                    "replica only, but the adapter has no replica",
                ))
            }
            NodePreference::ReplicaOnly => {
                Node::Replica(inner.replicas.pick().ok_or_else(no_replica_up)?)
            }
        };
        Ok(Self { node, reads })
    }

    pub(crate) fn pool<'a>(&self, inner: &'a Inner) -> &'a Pool {
        match self.node {
            Node::Primary => &inner.pool,
            Node::Replica(index) => &inner.replicas.nodes[index].pool,
        }
    }

    pub(crate) fn on_replica(&self) -> bool {
        matches!(self.node, Node::Replica(_))
    }

    /// Whether the read may leave its replica for the primary.
    fn may_fall_back(&self) -> bool {
        self.on_replica() && self.reads.preference == NodePreference::PreferReplica
    }

    /// After a read on this route failed with `error`: whether to try again
    /// elsewhere (then the route has moved). A replica that could not be
    /// reached is left out for a while; a read preferring replicas moves to
    /// the primary, and one on replicas only to another replica that is up.
    pub(crate) fn fall_back(&mut self, inner: &Inner, error: &Error) -> bool {
        let Node::Replica(index) = self.node else {
            return false;
        };
        let unreachable = matches!(error, Error::Unavailable { .. } | Error::Timeout { .. });
        if unreachable {
            inner.replicas.mark_down(index);
        }
        if !(unreachable || matches!(error, Error::Conflict { .. })) {
            return false;
        }
        if self.may_fall_back() {
            self.node = Node::Primary;
            return true;
        }
        match inner.replicas.pick() {
            Some(other) if other != index => {
                self.node = Node::Replica(other);
                true
            }
            _ => false,
        }
    }

    /// The replica has not replayed what the read must see within the
    /// replica wait: move to the primary, or fail, as configured.
    fn behind(&mut self, inner: &Inner, floor: u64) -> eventblocks_core::Result<()> {
        let allowed = self.reads.preference != NodePreference::ReplicaOnly
            && inner.replicas.when_behind == WhenBehind::ReadPrimary;
        if allowed {
            tracing::debug!(floor, "a replica is behind; reading from the primary");
            self.node = Node::Primary;
            return Ok(());
        }
        Err(Error::Timeout {
            outcome: WriteOutcome::NotWritten,
            message: format!(
                "the replica had not replayed up to sequence number {} within the replica wait ({:?})",
                floor.saturating_sub(1),
                inner.replicas.wait
            )
            .into(),
            source: None,
        })
    }
}

fn no_replica_up() -> Error {
    Error::Unavailable {
        outcome: WriteOutcome::NotWritten,
        message: "no replica is up (node preference: replica only)".into(),
        source: None,
    }
}
