//! Heads: where a query read stopped, for the condition of the decision built
//! from it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// Where a query read stood: every event it could see lies below the head,
/// and every event that becomes visible later lies at or above it, whatever
/// order transactions commit in. A decision built from the read is published
/// with [`WriteCondition::NoneMatchAfter`](crate::WriteCondition::NoneMatchAfter)
/// and the head, so it fails if anything it depended on changed since.
///
/// A head is opaque: it names the store it was taken from and a frontier only
/// that store interprets, and only that store accepts it back. It crosses
/// process boundaries as text (its `Display` and `FromStr`, or serde as a
/// string), for a decision made in one HTTP request and published in the next.
///
/// ```
/// use eventblocks_core::Head;
///
/// let head: Head = "00000000000000ff-42".parse()?;
/// assert_eq!(head.to_string(), "00000000000000ff-42");
/// assert!("not a head".parse::<Head>().is_err());
/// # Ok::<(), eventblocks_core::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Head {
    store: u64,
    frontier: u64,
}

impl Head {
    /// For adapters: the head of a read of the store `store` (an identity the
    /// adapter chooses, stable for the store's lifetime) whose every visible
    /// event has a sequence number below `frontier`, and every later one a
    /// sequence number at or above it.
    pub fn new(store: u64, frontier: u64) -> Self {
        Self { store, frontier }
    }

    /// The identity of the store the head was taken from.
    pub fn store(&self) -> u64 {
        self.store
    }

    /// For adapters: the frontier, in the sequence numbers of the store the
    /// head came from.
    pub fn frontier(&self) -> u64 {
        self.frontier
    }

    /// For adapters: the frontier, after checking the head came from `store`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `field` for a head of another store.
    pub fn frontier_in(&self, store: u64, field: &'static str) -> Result<u64> {
        if self.store != store {
            return Err(Error::invalid(
                field,
                "was taken from another store; a head is valid only where it was read",
            ));
        }
        Ok(self.frontier)
    }
}

impl fmt::Display for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}-{}", self.store, self.frontier)
    }
}

impl fmt::Debug for Head {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Head({self})")
    }
}

impl FromStr for Head {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let malformed = || Error::invalid("head", format!("{text:.40?} is not a head"));
        let (store, frontier) = text.split_once('-').ok_or_else(malformed)?;
        if store.len() != 16 {
            return Err(malformed());
        }
        let store = u64::from_str_radix(store, 16).map_err(|_| malformed())?;
        let frontier: u64 = frontier.parse().map_err(|_| malformed())?;
        if i64::try_from(frontier).is_err() {
            return Err(malformed());
        }
        Ok(Self { store, frontier })
    }
}

impl Serialize for Head {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Head {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_text_and_refuses_malformed_heads() {
        let head = Head::new(u64::MAX, 7);
        assert_eq!(head.to_string().parse::<Head>().unwrap(), head);
        let json = serde_json::to_string(&head).unwrap();
        assert_eq!(serde_json::from_str::<Head>(&json).unwrap(), head);
        for bad in [
            "",
            "7",
            "ff-1",
            "000000000000000g-1",
            "00000000000000ff-",
            "00000000000000ff--1",
            "00000000000000ff-99999999999999999999",
            "00000000000000ff-9223372036854775808",
        ] {
            assert!(
                bad.parse::<Head>().unwrap_err().is_invalid_input(),
                "{bad:?}"
            );
        }
        assert!(head.frontier_in(1, "head").unwrap_err().is_invalid_input());
        assert_eq!(head.frontier_in(u64::MAX, "head").unwrap(), 7);
    }
}
