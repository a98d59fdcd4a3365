//! Partition leases held in memory, for consumers running in one process.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::{Lease, Leases, Name, Result};
use futures::future::BoxFuture;
use futures::FutureExt;
use parking_lot::Mutex;
use tokio::sync::watch;

/// A consumer and one of its partitions.
type Key = (Name, u32);

/// The held leases, each with the means to tell its holder it is lost, and
/// the last token handed out per partition (kept after release, so tokens
/// never repeat).
#[derive(Debug, Default)]
struct Holders {
    held: HashMap<Key, watch::Sender<bool>>,
    tokens: HashMap<Key, u64>,
}

/// [`Leases`] in memory: a lease is released when it is dropped (when the task
/// holding it ends or is aborted), or taken away with [`MemoryLeases::revoke`].
///
/// Each acquisition of a partition gets the next fencing token (1, 2, …).
/// The in-memory stores learn a new token from its holder's first write, so a
/// revoked holder's writes are refused from then on.
#[derive(Debug, Clone, Default)]
pub struct MemoryLeases {
    holders: Arc<Mutex<Holders>>,
}

impl MemoryLeases {
    /// No lease held.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the lease on `partition` of `consumer` from its holder, as if the
    /// holder's connection had died: its [`Lease::lost`] resolves and the
    /// partition is free again.
    pub fn revoke(&self, consumer: &Name, partition: u32) {
        let removed = self
            .holders
            .lock()
            .held
            .remove(&(consumer.clone(), partition));
        if let Some(lost) = removed {
            lost.send_replace(true);
        }
    }
}

#[async_trait]
impl Leases for MemoryLeases {
    async fn try_acquire(&self, consumer: &Name, partition: u32) -> Result<Option<Box<dyn Lease>>> {
        let key = (consumer.clone(), partition);
        let mut holders = self.holders.lock();
        if holders.held.contains_key(&key) {
            return Ok(None);
        }
        let (lost, watcher) = watch::channel(false);
        holders.held.insert(key.clone(), lost);
        let token = holders.tokens.entry(key.clone()).or_default();
        *token += 1;
        Ok(Some(Box::new(MemoryLease {
            token: *token,
            key,
            leases: self.clone(),
            watcher,
        })))
    }
}

#[derive(Debug)]
struct MemoryLease {
    key: Key,
    token: u64,
    leases: MemoryLeases,
    watcher: watch::Receiver<bool>,
}

impl Lease for MemoryLease {
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
            // A dropped sender (the lease released) counts as lost too.
            let _ = watcher.wait_for(|lost| *lost).await;
        }
        .boxed()
    }
}

impl Drop for MemoryLease {
    fn drop(&mut self) {
        // A revoked lease no longer owns its entry: a new holder may.
        if !*self.watcher.borrow() {
            self.leases.holders.lock().held.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_holder_at_a_time_and_released_on_drop() {
        let leases = MemoryLeases::new();
        let consumer = Name::new("consumer", "emails").unwrap();
        let lease = leases
            .try_acquire(&consumer, 0)
            .await
            .unwrap()
            .expect("free");
        assert!(leases.try_acquire(&consumer, 0).await.unwrap().is_none());
        assert!(leases.try_acquire(&consumer, 1).await.unwrap().is_some());
        drop(lease);
        assert!(leases.try_acquire(&consumer, 0).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn a_revoked_lease_is_lost_and_free() {
        let leases = MemoryLeases::new();
        let consumer = Name::new("consumer", "emails").unwrap();
        let lease = leases.try_acquire(&consumer, 2).await.unwrap().unwrap();
        let lost = lease.lost();
        leases.revoke(&consumer, 2);
        tokio::time::timeout(Duration::from_secs(1), lost)
            .await
            .expect("lost resolves");
        let again = leases.try_acquire(&consumer, 2).await.unwrap();
        assert!(again.is_some());
        drop(lease);
        // The old holder's drop must not free the new holder's lease.
        assert!(leases.try_acquire(&consumer, 2).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn tokens_grow_with_every_acquisition_and_survive_release() {
        let leases = MemoryLeases::new();
        let consumer = Name::new("consumer", "emails").unwrap();
        let mut tokens = Vec::new();
        for _ in 0..3 {
            let lease = leases.try_acquire(&consumer, 0).await.unwrap().unwrap();
            tokens.push(lease.token());
            assert_eq!(lease.fence().token(), lease.token());
        }
        let revoked = leases.try_acquire(&consumer, 0).await.unwrap().unwrap();
        leases.revoke(&consumer, 0);
        let taken_over = leases.try_acquire(&consumer, 0).await.unwrap().unwrap();
        tokens.extend([revoked.token(), taken_over.token()]);
        assert_eq!(tokens, vec![1, 2, 3, 4, 5]);
        let other = leases.try_acquire(&consumer, 1).await.unwrap().unwrap();
        assert_eq!(other.token(), 1, "partitions count their own tokens");
    }
}
