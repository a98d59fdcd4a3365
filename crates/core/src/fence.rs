//! Fencing: what a write made under a lease carries, so that a holder which
//! lost its lease cannot change anything after another holder took over.

use std::fmt;

use crate::error::{Error, Result};
use crate::identifier::Name;

/// The partition a write is made for and the token of the lease it is made
/// under.
///
/// Every acquisition of a (consumer, partition) lease gets a larger token than
/// the one before, across every process sharing the backend (see
/// [`Lease::token`](crate::Lease::token)). A store that accepts fenced writes
/// remembers the newest token it has seen for each partition and refuses a
/// write whose token is older with [`Error::Fenced`], atomically with the
/// write; so once a new holder has the lease (or, on backends whose leases
/// raise the token when taken, from the moment it takes it), the old holder's
/// writes change nothing.
///
/// ```
/// use eventblocks_core::{Fence, Name};
///
/// let consumer = Name::new("consumer", "emails")?;
/// let old = Fence::new(consumer.clone(), 3, 7);
/// let new = Fence::new(consumer, 3, 8);
/// assert!(old.is_older_than(new.token()));
/// assert_eq!(new.to_string(), "partition 3 of emails, token 8");
/// # Ok::<(), eventblocks_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    consumer: Name,
    partition: u32,
    token: u64,
}

impl Fence {
    /// The fence of `partition` of `consumer` under the lease with `token`.
    pub fn new(consumer: Name, partition: u32, token: u64) -> Self {
        Self {
            consumer,
            partition,
            token,
        }
    }

    /// The consumer whose partition is fenced.
    pub fn consumer(&self) -> &Name {
        &self.consumer
    }

    /// The partition.
    pub fn partition(&self) -> u32 {
        self.partition
    }

    /// The token of the lease the write is made under.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Whether a write under this fence must be refused once `newest` has been
    /// seen for the partition.
    pub fn is_older_than(&self, newest: u64) -> bool {
        self.token < newest
    }

    /// Checks this fence against the newest token a store has seen for the
    /// partition (`None`: none yet), and returns the newest token to keep.
    ///
    /// For stores that keep their tokens in memory: call it and record the
    /// returned token in the same critical section as the write.
    ///
    /// # Errors
    /// [`Error::Fenced`] if this fence's token is older than `newest`.
    pub fn admit(&self, newest: Option<u64>) -> Result<u64> {
        match newest {
            Some(newest) if self.is_older_than(newest) => Err(self.refused(newest)),
            Some(newest) => Ok(newest.max(self.token)),
            None => Ok(self.token),
        }
    }

    /// The error refusing a write under this fence, `newest` being the token a
    /// newer holder has.
    pub fn refused(&self, newest: u64) -> Error {
        Error::Fenced {
            consumer: self.consumer.clone(),
            partition: self.partition,
            token: self.token,
            newest,
        }
    }
}

impl fmt::Display for Fence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "partition {} of {}, token {}",
            self.partition, self.consumer, self.token
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fence(token: u64) -> Fence {
        Fence::new(Name::new("consumer", "emails").unwrap(), 1, token)
    }

    #[test]
    fn an_older_token_is_refused_and_a_newer_one_kept() {
        assert_eq!(fence(4).admit(None).unwrap(), 4);
        assert_eq!(fence(4).admit(Some(4)).unwrap(), 4);
        assert_eq!(fence(5).admit(Some(4)).unwrap(), 5);
        let refused = fence(3).admit(Some(4)).unwrap_err();
        assert!(
            matches!(
                refused,
                Error::Fenced {
                    partition: 1,
                    token: 3,
                    newest: 4,
                    ..
                }
            ),
            "{refused:?}"
        );
        assert!(!refused.is_retryable());
        assert!(refused.is_fenced());
    }
}
