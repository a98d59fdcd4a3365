//! Wake-ups for live subscriptions: in-process, the writer moves a counter
//! after every commit; commits of other processes on the same file are
//! noticed through `PRAGMA data_version`, polled at a bounded interval by one
//! thread per adapter, and only while someone listens.

use std::sync::{Arc, Weak};
use std::time::Duration;

use eventblocks_core::WakeUps;
use futures::StreamExt;
use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::watch;

use crate::config::Config;

/// The commit counter and the poller watching other processes.
#[derive(Debug)]
pub(crate) struct Notifier {
    commits: Arc<watch::Sender<u64>>,
    poller: Mutex<bool>,
    config: Config,
}

impl Notifier {
    pub(crate) fn new(config: Config) -> Self {
        let (commits, _) = watch::channel(0);
        Self {
            commits: Arc::new(commits),
            poller: Mutex::new(false),
            config,
        }
    }

    /// What the writer moves after each commit.
    pub(crate) fn commits(&self) -> Arc<watch::Sender<u64>> {
        self.commits.clone()
    }

    /// A stream yielding after each commit, of this process or another.
    pub(crate) fn wake_ups(&self) -> WakeUps {
        self.start_poller();
        let changes = futures::stream::unfold(self.commits.subscribe(), |mut commits| async move {
            commits.changed().await.ok()?;
            Some(((), commits))
        });
        changes.boxed()
    }

    /// Starts the poller the first time someone listens. Without it, a
    /// subscription still polls by itself; it only learns later.
    fn start_poller(&self) {
        let mut started = self.poller.lock();
        if *started {
            return;
        }
        let Ok(connection) = self.config.connect() else {
            return;
        };
        let commits = Arc::downgrade(&self.commits);
        let interval = self.config.poll_interval;
        let spawned = std::thread::Builder::new()
            .name("eventblocks-sqlite-poller".to_owned())
            .spawn(move || poll(&connection, &commits, interval));
        *started = spawned.is_ok();
    }
}

/// Until the adapter is gone: every `interval`, if anyone listens, signal
/// when the file's data version moved.
fn poll(connection: &Connection, commits: &Weak<watch::Sender<u64>>, interval: Duration) {
    let mut seen: Option<i64> = None;
    loop {
        std::thread::sleep(interval);
        let Some(commits) = commits.upgrade() else {
            return;
        };
        if commits.receiver_count() == 0 {
            seen = None;
            continue;
        }
        let version = connection.query_row("PRAGMA data_version", [], |row| row.get::<_, i64>(0));
        match version {
            Ok(version) if seen.is_some_and(|seen| seen != version) => {
                seen = Some(version);
                commits.send_modify(|count| *count = count.wrapping_add(1));
            }
            Ok(version) => seen = Some(version),
            Err(error) => tracing::debug!(%error, "polling the data version failed"),
        }
    }
}
