//! Live wake-ups over `LISTEN/NOTIFY`.
//!
//! Writers do not notify inside their transactions: a `NOTIFY` takes a
//! cluster-wide lock while its transaction commits, which would serialise the
//! commits that group commit lets share an fsync. Instead each successful save
//! marks the adapter's notifier, and one background task sends a `NOTIFY` on a
//! pooled connection afterwards, one for however many saves happened meanwhile.
//! Listeners hold one dedicated connection per adapter and fan each
//! notification out to every live subscription. A notification lost to a crash
//! or a broken connection only delays delivery: subscriptions still poll.
//!
//! Each notification carries the primary's WAL insert position at the time it
//! was sent, past the commits it announces, so that subscriptions reading from
//! replicas can be woken once the replicas have replayed that far (see
//! `replica/wake.rs`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use eventblocks_core::{WakeUps, WriteOutcome};
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;
use tracing::debug;

use crate::connect::{Connector, Dedicated};
use crate::error;

/// How long a listener waits before reconnecting after its connection failed.
const RECONNECT_PAUSE: Duration = Duration::from_millis(500);

/// How often an idle listener checks whether any subscription still listens.
const IDLE_CHECK: Duration = Duration::from_secs(1);

pub(crate) struct Notifications {
    channel: String,
    /// The `NOTIFY` statement (`sql/events/notify.sql`).
    notify: String,
    /// Where listeners connect; `None` when the adapter was given a pool and no
    /// URL, so subscriptions poll.
    listen: Option<Connector>,
    sender: broadcast::Sender<()>,
    listener: Mutex<Option<JoinHandle<()>>>,
    pending: Arc<Pending>,
    /// The newest WAL position a notification carried.
    announced: Arc<AtomicU64>,
}

/// Saves not yet announced.
struct Pending {
    dirty: AtomicBool,
    wake: Notify,
    started: AtomicBool,
    closed: AtomicBool,
}

impl Notifications {
    pub(crate) fn new(channel: String, notify: String, listen: Option<Connector>) -> Self {
        Self {
            channel,
            notify,
            listen,
            sender: broadcast::channel(16).0,
            listener: Mutex::new(None),
            pending: Arc::new(Pending {
                dirty: AtomicBool::new(false),
                wake: Notify::new(),
                started: AtomicBool::new(false),
                closed: AtomicBool::new(false),
            }),
            announced: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The newest WAL position the primary announced, kept up to date while
    /// a listener runs.
    pub(crate) fn announced_position(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.announced)
    }

    /// How to open a dedicated connection, when the adapter knows.
    #[cfg(feature = "checkpoints")]
    pub(crate) fn connector(&self) -> Option<&Connector> {
        self.listen.as_ref()
    }

    /// Records that a save committed, starting the notifier task on first use.
    pub(crate) fn saved(&self, pool: &Pool) {
        self.pending.dirty.store(true, Ordering::Release);
        if !self.pending.started.swap(true, Ordering::AcqRel) {
            let task = announce(
                Arc::clone(&self.pending),
                pool.clone(),
                self.channel.clone(),
                self.notify.clone(),
            );
            tokio::spawn(task);
        }
        self.pending.wake.notify_one();
    }

    /// A stream of wake-ups, starting the listener if none runs.
    pub(crate) fn wake_ups(&self) -> Option<WakeUps> {
        let config = self.listen.clone()?;
        tokio::runtime::Handle::try_current().ok()?;
        let receiver = self.sender.subscribe();
        let mut listener = self.listener.lock();
        if listener.as_ref().is_none_or(JoinHandle::is_finished) {
            let task = listen(
                config,
                self.channel.clone(),
                self.sender.clone(),
                Arc::clone(&self.announced),
            );
            *listener = Some(tokio::spawn(task));
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

impl Drop for Notifications {
    fn drop(&mut self) {
        self.pending.closed.store(true, Ordering::Release);
        self.pending.wake.notify_one();
        if let Some(listener) = self.listener.lock().take() {
            listener.abort();
        }
    }
}

/// Sends one `NOTIFY` per burst of saves until the adapter is dropped.
async fn announce(pending: Arc<Pending>, pool: Pool, channel: String, statement: String) {
    loop {
        if pending.closed.load(Ordering::Acquire) {
            return;
        }
        if !pending.dirty.swap(false, Ordering::AcqRel) {
            // A wake-up given before this wait began is kept, so none is lost.
            pending.wake.notified().await;
            continue;
        }
        if let Err(error) = notify(&pool, &statement, &channel).await {
            debug!(%error, "could not announce new events; subscribers will poll");
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
}

async fn notify(
    pool: &Pool,
    statement: &str,
    channel: &str,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let client = pool.get().await?;
    let statement = client.prepare_cached(statement).await?;
    client.execute(&statement, &[&channel]).await?;
    Ok(())
}

/// Listens on a dedicated connection, reconnecting after failures, until no
/// subscription is left.
async fn listen(
    connector: Connector,
    channel: String,
    sender: broadcast::Sender<()>,
    announced: Arc<AtomicU64>,
) {
    while sender.receiver_count() > 0 {
        if let Err(error) = listen_once(&connector, &channel, &sender, &announced).await {
            debug!(%error, "the wake-up listener's connection failed");
        }
        if sender.receiver_count() > 0 {
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }
}

/// One connection's worth of listening, until it closes or no subscription is
/// left.
async fn listen_once(
    connector: &Connector,
    channel: &str,
    sender: &broadcast::Sender<()>,
    announced: &Arc<AtomicU64>,
) -> eventblocks_core::Result<()> {
    let broken = |e| error::database(e, "listening for wake-ups", WriteOutcome::NotWritten);
    let forwarding = sender.clone();
    let position = Arc::clone(announced);
    let Dedicated { client, driver } = connector
        .dedicated(
            move |payload| {
                if let Some(at) = crate::replica::parse_position(payload) {
                    position.fetch_max(at, Ordering::AcqRel);
                }
                let _ = forwarding.send(());
            },
            |e| error::database(e, "connecting to listen", WriteOutcome::NotWritten),
        )
        .await?;
    let listening = client.batch_execute(&format!("LISTEN \"{channel}\"")).await;
    if let Err(error) = listening {
        driver.abort();
        return Err(broken(error));
    }
    // Events committed while no listener was connected.
    let _ = sender.send(());
    let mut driver = driver;
    loop {
        tokio::select! {
            ended = &mut driver => {
                return match ended {
                    Ok(Err(error)) => Err(broken(error)),
                    _ => Ok(()),
                };
            }
            () = tokio::time::sleep(IDLE_CHECK) => {
                if sender.receiver_count() == 0 {
                    driver.abort();
                    drop(client);
                    return Ok(());
                }
            }
        }
    }
}
