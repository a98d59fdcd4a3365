//! Fencing: what a write made under a lease carries, so that a holder which
//! lost its lease cannot change anything after another holder took over.

use std::fmt;

use crate::error::{Error, Result};
use crate::identifier::Name;

/// The partition a write is made for and the token of the lease it is made
/// under.
///
/// A fence names one partition of one consumer: use it only for that
/// partition's writes (its checkpoint, the projections of its streams, its
/// exactly-once units), and only as [`Lease::fence`](crate::Lease::fence)
/// gives it. Stores cannot tell a fence lent to another partition's writes
/// from a rightful one: such a write is checked against the wrong
/// partition's token, so fencing no longer protects it, and it raises that
/// partition's newest token, refusing its rightful holder.
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
/// Tokens count acquisitions, so none beyond [`Fence::MAX_TOKEN`] is ever
/// handed out: stores refuse a write under a larger token (one made up
/// rather than taken from a lease) as [`Error::InvalidInput`], writing
/// nothing, unless it is exactly the newest token they hold (see
/// [`Fence::admit`]). Without that rule such a token would become the
/// partition's newest, refusing every real holder's writes, and a backend
/// adding one to it for the next acquisition would overflow.
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
    /// The largest token an acquisition hands out: 2<sup>53</sup>, which any
    /// backend stores exactly (a JSON number, an `f64`, a signed 64-bit
    /// integer with room to count on). At a million acquisitions a second a
    /// partition would reach it after 285 years.
    pub const MAX_TOKEN: u64 = 1 << 53;

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
    /// returned token in the same critical section as the write. Stores that
    /// check in their database apply the same rules there (and may call
    /// [`Fence::refusal`] to name the error).
    ///
    /// # Errors
    /// - [`Error::Fenced`] if this fence's token is older than `newest`;
    /// - [`Error::InvalidInput`] if its token is beyond [`Fence::MAX_TOKEN`]
    ///   and is not `newest` itself: no acquisition handed it out. (A backend
    ///   whose leases raise the stored token may raise it past the limit after
    ///   such a token was once admitted; its holders' tokens are then the
    ///   newest, and admitted.)
    pub fn admit(&self, newest: Option<u64>) -> Result<u64> {
        match newest {
            Some(newest) if self.is_older_than(newest) => Err(self.refused(newest)),
            Some(newest) if newest == self.token => Ok(newest),
            _ if self.token > Self::MAX_TOKEN => Err(self.beyond_any_lease()),
            Some(newest) => Ok(newest.max(self.token)),
            None => Ok(self.token),
        }
    }

    /// The error a store that refused a write under this fence reports, given
    /// the newest token it holds for the partition (`None`: none): what
    /// [`Fence::admit`] says, or, if it would admit the write after all (the
    /// newest token changed since the refusal), [`Error::Fenced`].
    pub fn refusal(&self, newest: Option<u64>) -> Error {
        match self.admit(newest) {
            Err(error) => error,
            Ok(_) => self.refused(newest.unwrap_or_default()),
        }
    }

    /// The error refusing a write under a token no acquisition produced.
    fn beyond_any_lease(&self) -> Error {
        Error::invalid(
            "fence",
            format!(
                "token {} of partition {} of {} is beyond {}, which no lease hands out: \
                 take fences from Lease::fence",
                self.token,
                self.partition,
                self.consumer,
                Self::MAX_TOKEN
            ),
        )
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

    #[test]
    fn a_token_no_lease_hands_out_is_invalid_unless_it_is_the_newest() {
        let limit = Fence::MAX_TOKEN;
        assert_eq!(fence(limit).admit(None).unwrap(), limit);
        for forged in [limit + 1, u64::MAX >> 1, u64::MAX] {
            for newest in [None, Some(1), Some(limit)] {
                let refused = fence(forged).admit(newest).unwrap_err();
                assert!(
                    matches!(refused, Error::InvalidInput { .. }),
                    "{forged} over {newest:?}: {refused:?}"
                );
            }
        }
        // Raised past the limit by a backend's leases: the holder may write.
        assert_eq!(fence(limit + 1).admit(Some(limit + 1)).unwrap(), limit + 1);
        assert!(fence(limit + 1)
            .admit(Some(limit + 2))
            .unwrap_err()
            .is_fenced());
    }

    #[test]
    fn a_refusal_names_its_reason() {
        assert!(fence(3).refusal(Some(4)).is_fenced());
        let forged = fence(u64::MAX).refusal(None);
        assert!(matches!(forged, Error::InvalidInput { .. }), "{forged:?}");
        assert!(fence(5).refusal(Some(4)).is_fenced());
    }
}
