//! Partitions and leases: how several processes running the same consumer share
//! its work so that each partition is processed by one of them at a time.

use std::hash::Hasher;
use std::sync::Arc;

use async_trait::async_trait;
use futures::future::BoxFuture;

use crate::error::Result;
use crate::fence::Fence;
use crate::identifier::{Name, StreamIdentifier};

/// The partition, out of `partitions`, that `stream`'s events belong to.
///
/// Every event of a stream is in the same partition, so per-stream order is kept
/// when partitions are processed in parallel. The hash is stable across
/// processes, platforms and releases (64-bit FNV-1a over the category, a NUL and
/// the stream name, modulo `partitions`).
///
/// ```
/// use eventblocks_core::{partition_of, StreamIdentifier};
///
/// let stream = StreamIdentifier::new("orders", "order-42")?;
/// assert!(partition_of(&stream, 8) < 8);
/// assert_eq!(partition_of(&stream, 8), partition_of(&stream, 8));
/// # Ok::<(), eventblocks_core::Error>(())
/// ```
pub fn partition_of(stream: &StreamIdentifier, partitions: u32) -> u32 {
    let mut hasher = Fnv1a::default();
    // Names hold no NUL, so NUL separates them unambiguously.
    hasher.write(stream.category.as_bytes());
    hasher.write(&[0]);
    hasher.write(stream.stream.as_bytes());
    let partitions = u64::from(partitions.max(1));
    u32::try_from(hasher.finish() % partitions).unwrap_or(0)
}

/// FNV-1a, chosen because it is fixed by its specification: partition numbers
/// must not change when the standard library's hasher does.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// A held lease on one partition of a consumer. Dropping it, or its holder's
/// death (a closed database connection, a dead process), releases it.
///
/// A lease can be lost while its holder is stalled (paused by the runtime, a
/// slow handler, a network partition) and taken by another instance before the
/// holder notices. So every write a holder makes for the partition carries the
/// lease's [`Fence`], and stores refuse the writes of a holder whose token is
/// older than the newest (see [`CheckpointStore`](crate::CheckpointStore)).
pub trait Lease: Send + Sync + std::fmt::Debug {
    /// The consumer the lease is for.
    fn consumer(&self) -> &Name;

    /// The partition held.
    fn partition(&self) -> u32;

    /// The fencing token of this acquisition: larger than the token of every
    /// earlier acquisition of the same (consumer, partition).
    fn token(&self) -> u64;

    /// What writes made under this lease carry.
    fn fence(&self) -> Fence {
        Fence::new(self.consumer().clone(), self.partition(), self.token())
    }

    /// Resolves if the lease is lost (the connection holding it died); a holder
    /// must then stop processing the partition.
    fn lost(&self) -> BoxFuture<'static, ()>;
}

/// Hands out leases on consumer partitions.
///
/// # Contract
/// - At most one [`Lease`] per (consumer, partition) exists at a time, across
///   every process sharing the backend. A lease whose holder dies is released
///   without the holder's help.
/// - Every acquisition of a (consumer, partition) gets a [`Lease::token`]
///   larger than that of every earlier acquisition of it, across every process
///   sharing the backend and across releases: tokens never repeat and never go
///   back. Tokens count acquisitions (the first is 1), so they stay within
///   [`Fence::MAX_TOKEN`], beyond which stores refuse them.
/// - A backend whose stores share the leases' storage should raise the
///   partition's newest token there when a lease is taken, so the stores refuse
///   the previous holder's writes from that moment, not only from the new
///   holder's first write.
#[async_trait]
pub trait Leases: Send + Sync + std::fmt::Debug + 'static {
    /// Takes the lease on `partition` of `consumer` if nobody holds it.
    ///
    /// Dropped before it returns (at any `.await`), it leaves the partition
    /// free and nothing held on its behalf.
    ///
    /// # Errors
    /// Backend failures. They say nothing about the partition (it may be free
    /// or held): a caller tries again later.
    async fn try_acquire(&self, consumer: &Name, partition: u32) -> Result<Option<Box<dyn Lease>>>;
}

crate::__forward_trait!(Lease, [Box] {
    sync fn consumer(&self) -> &Name;
    sync fn partition(&self) -> u32;
    sync fn token(&self) -> u64;
    sync fn fence(&self) -> Fence;
    sync fn lost(&self) -> BoxFuture<'static, ()>;
});

crate::__forward_trait!(Leases, [Arc, Box] {
    async fn try_acquire(&self, consumer: &Name, partition: u32) -> Result<Option<Box<dyn Lease>>>;
});

/// The checkpoint name of one partition of a consumer: `consumer` for a consumer
/// with a single partition, `consumer#partition` otherwise.
///
/// # Errors
/// If the combined name is too long.
pub fn partition_checkpoint(consumer: &Name, partition: u32, partitions: u32) -> Result<Name> {
    if partitions <= 1 {
        return Ok(consumer.clone());
    }
    Name::new("consumer", format!("{consumer}#{partition}"))
}

/// The reserved checkpoint name under which a partitioned consumer's number of
/// partitions is recorded: `consumer#partitions`.
///
/// A consumer's partition checkpoints ([`partition_checkpoint`]) only mean
/// something for the number of partitions they were made with: a stream's
/// partition depends on it. So a runner records the number on its first start
/// (as the checkpoint's value) and refuses to run with another.
///
/// # Errors
/// If the combined name is too long.
pub fn partitions_checkpoint(consumer: &Name) -> Result<Name> {
    Name::new("consumer", format!("{consumer}#partitions"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        let stream = |name: &str| StreamIdentifier::new("orders", name).unwrap();
        // Fixed values: a change here would move streams between partitions.
        assert_eq!(
            partition_of(&stream("order-1"), u32::MAX),
            fnv_reference("orders\0order-1")
        );
        let mut counts = [0_u32; 4];
        for index in 0..4000 {
            counts[partition_of(&stream(&format!("order-{index}")), 4) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&count| (800..1200).contains(&count)),
            "{counts:?}"
        );
        assert_eq!(partition_of(&stream("x"), 0), 0);
    }

    /// FNV-1a written out from its specification.
    fn fnv_reference(text: &str) -> u32 {
        let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        u32::try_from(hash % u64::from(u32::MAX)).unwrap()
    }

    #[test]
    fn checkpoint_names() {
        let consumer = Name::new("consumer", "emails").unwrap();
        assert_eq!(partition_checkpoint(&consumer, 0, 1).unwrap(), consumer);
        assert_eq!(
            partition_checkpoint(&consumer, 3, 8).unwrap().as_str(),
            "emails#3"
        );
        assert_eq!(
            partitions_checkpoint(&consumer).unwrap().as_str(),
            "emails#partitions"
        );
    }
}
