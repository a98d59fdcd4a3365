//! Partition leases for several processes on one file: a row per
//! (consumer, partition) naming its holder, kept alive by heartbeats.
//!
//! Why a table rather than file locks: it works the same within one process
//! and across processes, needs no platform-specific locking, and carries the
//! fencing token next to the holder. Each acquisition happens in the writer's
//! transaction: it takes a partition that is free (released, or its holder's
//! lease expired), gives it the next token and raises the partition's fence
//! to that token at once, so the stores refuse a previous holder's writes
//! from that moment.
//!
//! A holder renews every lease it holds every quarter of the lease time. A
//! holder that crashed stops renewing, and its partitions are taken over once
//! their lease time has passed. A holder that finds its row changed (taken
//! over, or revoked), or that could not renew for a whole lease time, reports
//! the lease lost. Processes on one file must share a clock: SQLite's WAL
//! needs them on one machine anyway.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use eventblocks_core::{Lease, Leases, Name, Result, WriteOutcome};
use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::watch;

use crate::adapter::SqliteAdapter;
use crate::fence;
use crate::row::{from_sql, to_sql};

/// How long a lease lasts without renewal, by default.
pub const DEFAULT_LEASE_TIME: Duration = Duration::from_secs(10);

type Key = (Name, u32);

fn failed(what: &'static str) -> impl Fn(rusqlite::Error) -> eventblocks_core::Error {
    move |error| crate::error::database(error, what, WriteOutcome::NotWritten)
}

/// [`Leases`] kept in the adapter's file; see the module docs of the crate
/// for how a crashed holder's lease is taken over. Clones share the held
/// leases and their heartbeat.
#[derive(Debug, Clone)]
pub struct SqliteLeases {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    adapter: SqliteAdapter,
    /// Names this instance in the lease rows it holds.
    holder: String,
    lease_time: Duration,
    /// The leases held, with their tokens and the means to say they are lost.
    held: Mutex<HashMap<Key, (u64, watch::Sender<bool>)>>,
}

impl SqliteLeases {
    /// Leases in `adapter`'s file lasting [`DEFAULT_LEASE_TIME`].
    pub fn new(adapter: &SqliteAdapter) -> Self {
        Self::with_lease_time(adapter, DEFAULT_LEASE_TIME)
    }

    /// Leases lasting `lease_time` (at least 40 ms) without renewal: how
    /// long a crashed holder's partitions wait before another instance may
    /// take them. Holders renew every quarter of it.
    pub fn with_lease_time(adapter: &SqliteAdapter, lease_time: Duration) -> Self {
        let lease_time = lease_time.max(Duration::from_millis(40));
        let state = Arc::new(State {
            adapter: adapter.clone(),
            holder: uuid::Uuid::new_v4().to_string(),
            lease_time,
            held: Mutex::new(HashMap::new()),
        });
        let heartbeat = Arc::downgrade(&state);
        let started = std::thread::Builder::new()
            .name("eventblocks-sqlite-leases".to_owned())
            .spawn(move || beat(&heartbeat, lease_time / 4));
        if let Err(error) = started {
            tracing::error!(%error, "the lease heartbeat did not start: leases will expire");
        }
        Self { state }
    }

    /// Takes the lease on `partition` of `consumer` from whoever holds it, as
    /// a crashed holder's expiry would: the partition is free at once, and
    /// the holder learns it lost the lease at its next heartbeat.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn revoke(&self, consumer: &Name, partition: u32) -> Result<()> {
        let consumer = consumer.clone();
        self.state
            .adapter
            .shared
            .writer
            .run("revoking a lease", move |connection| {
                connection
                    .execute(
                        "UPDATE eventblocks_leases SET holder = NULL, expires_at = 0
                         WHERE consumer = ?1 AND partition = ?2",
                        params![consumer.as_str(), partition],
                    )
                    .map_err(failed("revoking a lease"))?;
                Ok(())
            })
            .await
    }
}

fn now_millis() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl State {
    /// In the writer's transaction: takes the partition if it is free, with
    /// the next token, raising its fence.
    fn acquire(
        self: &Arc<Self>,
        connection: &Connection,
        key: Key,
    ) -> Result<Option<Box<dyn Lease>>> {
        let (consumer, partition) = (&key.0, key.1);
        let now = now_millis();
        let row: Option<(Option<String>, i64, i64)> = connection
            .prepare_cached(
                "SELECT holder, token, expires_at FROM eventblocks_leases
                 WHERE consumer = ?1 AND partition = ?2",
            )
            .and_then(|mut statement| {
                statement
                    .query_row(params![consumer.as_str(), partition], |row| {
                        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                    })
                    .optional()
            })
            .map_err(failed("taking a lease"))?;
        if let Some((Some(_), _, expires_at)) = &row {
            if *expires_at > now {
                return Ok(None);
            }
        }
        let last = match &row {
            Some((_, token, _)) => from_sql("lease token", *token)?,
            None => 0,
        };
        let fenced = fence::newest(connection, consumer, partition)?.unwrap_or(0);
        let token = last.max(fenced) + 1;
        connection
            .prepare_cached(
                "INSERT INTO eventblocks_leases (consumer, partition, holder, token, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (consumer, partition) DO UPDATE SET holder = excluded.holder,
                     token = excluded.token, expires_at = excluded.expires_at",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    consumer.as_str(),
                    partition,
                    self.holder,
                    to_sql("lease token", token).unwrap_or(i64::MAX),
                    now.saturating_add(millis(self.lease_time)),
                ])
            })
            .map_err(failed("taking a lease"))?;
        fence::raise(connection, consumer, partition, token)?;
        let (lost, watcher) = watch::channel(false);
        self.held.lock().insert(key.clone(), (token, lost));
        Ok(Some(Box::new(SqliteLease {
            key,
            token,
            state: self.clone(),
            watcher,
        })))
    }

    /// In the writer's transaction: renews every lease in `leases`; the keys
    /// of those found taken.
    fn renew(&self, connection: &Connection, leases: &[(Key, u64)]) -> Result<Vec<Key>> {
        let expires_at = now_millis().saturating_add(millis(self.lease_time));
        let mut statement = connection
            .prepare_cached(
                "UPDATE eventblocks_leases SET expires_at = ?1
                 WHERE consumer = ?2 AND partition = ?3 AND holder = ?4 AND token = ?5",
            )
            .map_err(failed("renewing leases"))?;
        let mut taken = Vec::new();
        for ((consumer, partition), token) in leases {
            let token = to_sql("lease token", *token)?;
            let renewed = statement
                .execute(params![
                    expires_at,
                    consumer.as_str(),
                    partition,
                    self.holder,
                    token
                ])
                .map_err(failed("renewing leases"))?;
            if renewed == 0 {
                taken.push((consumer.clone(), *partition));
            }
        }
        Ok(taken)
    }

    /// Forgets `keys` (if still held under `tokens`) and tells their holders
    /// they are lost.
    fn lose(&self, keys: &[(Key, u64)]) {
        let mut held = self.held.lock();
        for (key, token) in keys {
            if held
                .get(key)
                .is_some_and(|(held_token, _)| held_token == token)
            {
                if let Some((_, lost)) = held.remove(key) {
                    lost.send_replace(true);
                }
            }
        }
    }
}

/// The heartbeat: until the leases are dropped, renews what is held every
/// `every`, and reports lost what was taken or could not be renewed for a
/// whole lease time.
fn beat(state: &Weak<State>, every: Duration) {
    let mut renewed_at = Instant::now();
    loop {
        std::thread::sleep(every);
        let Some(state) = state.upgrade() else {
            return;
        };
        let leases: Vec<(Key, u64)> = state
            .held
            .lock()
            .iter()
            .map(|(key, (token, _))| (key.clone(), *token))
            .collect();
        if leases.is_empty() {
            renewed_at = Instant::now();
            continue;
        }
        let renewing = state.clone();
        let sent = leases.clone();
        let renewal = futures::executor::block_on(
            state
                .adapter
                .shared
                .writer
                .run("renewing leases", move |connection| {
                    renewing.renew(connection, &sent)
                }),
        );
        match renewal {
            Ok(taken) => {
                renewed_at = Instant::now();
                let lost: Vec<(Key, u64)> = leases
                    .into_iter()
                    .filter(|(key, _)| taken.contains(key))
                    .collect();
                state.lose(&lost);
            }
            Err(error) => {
                tracing::warn!(%error, "renewing leases failed");
                if renewed_at.elapsed() >= state.lease_time {
                    state.lose(&leases);
                }
            }
        }
    }
}

#[async_trait]
impl Leases for SqliteLeases {
    async fn try_acquire(&self, consumer: &Name, partition: u32) -> Result<Option<Box<dyn Lease>>> {
        let state = self.state.clone();
        let key = (consumer.clone(), partition);
        // The lease is made on the writer thread: if this future is dropped
        // before it arrives, dropping it there releases it.
        self.state
            .adapter
            .shared
            .writer
            .run("taking a lease", move |connection| {
                state.acquire(connection, key)
            })
            .await
    }
}

#[derive(Debug)]
struct SqliteLease {
    key: Key,
    token: u64,
    state: Arc<State>,
    watcher: watch::Receiver<bool>,
}

impl Lease for SqliteLease {
    fn consumer(&self) -> &Name {
        &self.key.0
    }

    fn partition(&self) -> u32 {
        self.key.1
    }

    fn token(&self) -> u64 {
        self.token
    }

    fn lost(&self) -> BoxFuture<'static, ()> {
        let mut watcher = self.watcher.clone();
        async move {
            // A dropped sender (the lease forgotten) counts as lost too.
            let _ = watcher.wait_for(|lost| *lost).await;
        }
        .boxed()
    }
}

impl Drop for SqliteLease {
    fn drop(&mut self) {
        {
            let mut held = self.state.held.lock();
            if held
                .get(&self.key)
                .is_some_and(|(token, _)| *token == self.token)
            {
                held.remove(&self.key);
            }
        }
        let (consumer, partition) = self.key.clone();
        let holder = self.state.holder.clone();
        let token = to_sql("lease token", self.token).unwrap_or(i64::MAX);
        // Only this acquisition's row: a newer holder's stays.
        self.state
            .adapter
            .shared
            .writer
            .spawn("releasing a lease", move |connection| {
                connection
                    .execute(
                        "UPDATE eventblocks_leases SET holder = NULL, expires_at = 0
                         WHERE consumer = ?1 AND partition = ?2 AND holder = ?3 AND token = ?4",
                        params![consumer.as_str(), partition, holder, token],
                    )
                    .map_err(failed("releasing a lease"))?;
                Ok(())
            });
    }
}
