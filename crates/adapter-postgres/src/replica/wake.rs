//! Live wake-ups for subscriptions reading from replicas.
//!
//! A standby cannot `LISTEN`, and the primary's `NOTIFY` arrives before a
//! standby has replayed what it announces, so a subscription woken by it would
//! find nothing new on its replica and sleep until its next poll. Instead the
//! primary's notifications carry the primary's WAL position, and one task per
//! adapter, on each notification, watches the replicas' replay positions
//! (one small query each, a few milliseconds apart, for at most
//! [`REPLAY_WAIT`]) until every replica that is up has replayed that far, and
//! only then wakes the subscriptions. No subscription polls the replicas
//! itself; with no writes there is no query at all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::WakeUps;
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::Replica;
use crate::adapter::Inner;

/// The longest a wake-up waits for the replicas to replay what the primary
/// announced; past it the subscriptions are woken anyway (they poll as well).
const REPLAY_WAIT: Duration = Duration::from_secs(1);

/// The longest pause between two looks at the replicas' replay positions.
const MAX_PAUSE: Duration = Duration::from_millis(8);

/// How often an idle task checks whether any subscription still listens.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// The wake-ups of subscriptions on replicas, and the task making them.
pub(crate) struct ReplicaWakeUps {
    sender: broadcast::Sender<()>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Default for ReplicaWakeUps {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(16).0,
            task: Mutex::new(None),
        }
    }
}

impl ReplicaWakeUps {
    /// A stream of wake-ups, each once the replicas have replayed what the
    /// primary announced; `None` when the primary's notifications are not
    /// available (the subscriptions then poll).
    pub(crate) fn wake_ups(&self, inner: &Inner) -> Option<WakeUps> {
        let receiver = self.sender.subscribe();
        let mut task = self.task.lock();
        if task.as_ref().is_none_or(JoinHandle::is_finished) {
            let announced = inner.notifications.wake_ups()?;
            let watcher = Watcher {
                announced,
                position: inner.notifications.announced_position(),
                replicas: inner.replicas.shared(),
                sender: self.sender.clone(),
            };
            *task = Some(tokio::spawn(watcher.run()));
        }
        let wake_ups = futures::stream::unfold(receiver, |mut receiver| async move {
            match receiver.recv().await {
                Ok(()) | Err(broadcast::error::RecvError::Lagged(_)) => Some(((), receiver)),
                Err(broadcast::error::RecvError::Closed) => None,
            }
        });
        Some(wake_ups.boxed())
    }
}

impl Drop for ReplicaWakeUps {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().take() {
            task.abort();
        }
    }
}

/// The task: the primary's wake-ups in, the replicas' out.
struct Watcher {
    announced: WakeUps,
    /// The newest WAL position the primary announced.
    position: Arc<AtomicU64>,
    /// The replicas, and which are up (shared with the adapter).
    replicas: Arc<Vec<Replica>>,
    sender: broadcast::Sender<()>,
}

impl Watcher {
    async fn run(mut self) {
        while self.sender.receiver_count() > 0 {
            let announced = tokio::time::timeout(IDLE_CHECK, self.announced.next()).await;
            match announced {
                Err(_) => continue,
                Ok(None) => return,
                Ok(Some(())) => {}
            }
            let wanted = self.position.load(Ordering::Acquire);
            wait_for_replay(&self.replicas, wanted).await;
            let _ = self.sender.send(());
        }
    }
}

/// Waits until every replica that is up has replayed the WAL up to
/// `wanted`, for at most [`REPLAY_WAIT`]. A replica that cannot say is left
/// out for a while, as reads leave it out.
async fn wait_for_replay(replicas: &[Replica], wanted: u64) {
    let deadline = Instant::now() + REPLAY_WAIT;
    let mut pause = Duration::from_millis(1);
    let now = Instant::now();
    let mut waiting: Vec<&Replica> = replicas.iter().filter(|r| r.is_up(now)).collect();
    while !waiting.is_empty() && Instant::now() < deadline {
        let mut behind = Vec::new();
        for replica in waiting {
            match replayed(replica.pool(), deadline).await {
                Ok(Some(replayed)) if replayed < wanted => behind.push(replica),
                Ok(_) => {}
                Err(()) => replica.mark_down(),
            }
        }
        waiting = behind;
        if !waiting.is_empty() {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// How far a replica has replayed; `Ok(None)` when it is no longer a standby
/// or `deadline` passed (nothing more to wait for), `Err` when it could not
/// be asked.
async fn replayed(pool: &deadpool_postgres::Pool, deadline: Instant) -> Result<Option<u64>, ()> {
    let looking = async {
        let client = pool.get().await.map_err(drop)?;
        let row = client
            .query_one("SELECT pg_last_wal_replay_lsn()::text", &[])
            .await
            .map_err(drop)?;
        Ok(row
            .get::<_, Option<String>>(0)
            .as_deref()
            .and_then(parse_position))
    };
    tokio::time::timeout_at(deadline, looking)
        .await
        .unwrap_or(Ok(None))
}

/// A WAL position as PostgreSQL writes it (`16/B374D848`), as a number.
pub(crate) fn parse_position(text: &str) -> Option<u64> {
    let (high, low) = text.trim().split_once('/')?;
    let high = u64::from_str_radix(high, 16).ok()?;
    let low = u64::from_str_radix(low, 16).ok()?;
    Some((high << 32) | low)
}

#[cfg(test)]
mod tests {
    use super::parse_position;

    #[test]
    fn positions_read_as_postgresql_writes_them() {
        assert_eq!(parse_position("0/0"), Some(0));
        assert_eq!(
            parse_position("16/B374D848"),
            Some((0x16 << 32) | 0xB374_D848)
        );
        assert_eq!(parse_position("garbage"), None);
        assert_eq!(parse_position(""), None);
    }
}
