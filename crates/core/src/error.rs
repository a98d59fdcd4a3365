//! The one error type every crate of eventblocks speaks.

use std::borrow::Cow;
use std::error::Error as StdError;

use uuid::Uuid;

use crate::condition::WriteCondition;
use crate::head::Head;
use crate::identifier::{Name, StreamIdentifier};
use crate::query::Query;

/// A boxed error from a storage backend, kept as the `source` of an [`Error`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// `Result` with eventblocks' [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether a failed write may nevertheless have been committed.
///
/// A write that fails because its connection died while `COMMIT` was in flight
/// cannot know whether the database committed it. Retrying such a write with the
/// same event ids is safe: the store recognises an idempotent retry and returns the
/// events it stored the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteOutcome {
    /// Nothing was written.
    NotWritten,
    /// The write may or may not have been committed.
    Unknown,
}

/// Everything that can go wrong in eventblocks.
///
/// Match on the variant to decide what to do: fix the input
/// ([`Error::InvalidInput`]), re-read and decide again ([`Error::UnmetCondition`]),
/// retry ([`Error::Conflict`], [`Error::Unavailable`], [`Error::Timeout`]; see
/// [`Error::is_retryable`]), stop processing a partition whose lease was lost
/// ([`Error::Fenced`]) or give up ([`Error::EventIdConflict`],
/// [`Error::Corrupt`], [`Error::Backend`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input was rejected before anything was written or read.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field or argument at fault, e.g. `stream` or `events[2].payload`.
        field: Cow<'static, str>,
        /// Why it was rejected.
        reason: Cow<'static, str>,
    },

    /// A write condition did not hold; nothing was written.
    #[error("condition not met on stream {stream}: expected {expected}, found {}", describe_position(*found))]
    UnmetCondition {
        /// The stream whose condition failed.
        stream: StreamIdentifier,
        /// The condition the caller asked for.
        expected: WriteCondition,
        /// The stream's last position at the time of the write (`None`: empty).
        found: Option<u64>,
    },

    /// An event matching a [`WriteCondition::NoneMatchAfter`] query became
    /// visible after the head the decision was made at; nothing was written.
    /// Read the boundary again and decide again.
    #[error("the consistency boundary {query} moved after {head}: event {found} matches it")]
    BoundaryMoved {
        /// The boundary's query.
        query: Query,
        /// The head the decision was made at.
        head: Head,
        /// The sequence number of an event that matches the query after the head.
        found: u64,
    },

    /// An event matching a [`WriteCondition::NoneMatch`] query is already
    /// stored (what the guard was to prevent exists); nothing was written.
    #[error("an event matching {query} already exists: event {found}")]
    AlreadyMatched {
        /// The guard's query.
        query: Query,
        /// The sequence number of an event that matches it.
        found: u64,
    },

    /// The adapter does not offer what the request needs (see
    /// [`Capabilities`](crate::Capabilities)); nothing was read or written.
    #[error("not supported by this adapter: {what}")]
    Unsupported {
        /// What was asked for.
        what: Cow<'static, str>,
    },

    /// An event id is already stored with different content, or in another
    /// stream; nothing was written.
    #[error("event id {id} conflicts with a stored event: {reason}")]
    EventIdConflict {
        /// The event id.
        id: Uuid,
        /// What differs.
        reason: Cow<'static, str>,
    },

    /// A concurrent write got in the way (a serialisation failure, a deadlock);
    /// nothing was written and the same call may succeed if retried.
    #[error("conflicting concurrent write: {message}")]
    Conflict {
        /// What happened.
        message: Cow<'static, str>,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },

    /// The backend could not be reached or the connection broke.
    #[error("storage unavailable ({outcome:?}): {message}")]
    Unavailable {
        /// Whether a write may have been committed anyway.
        outcome: WriteOutcome,
        /// What happened.
        message: Cow<'static, str>,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },

    /// An operation, or the wait for a connection, took longer than allowed.
    #[error("timed out ({outcome:?}): {message}")]
    Timeout {
        /// Whether a write may have been committed anyway.
        outcome: WriteOutcome,
        /// What timed out.
        message: Cow<'static, str>,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },

    /// A write made under a lease was refused because a newer holder of the
    /// partition's lease exists (see [`Fence`](crate::Fence)); nothing was
    /// written. Not retryable: the holder lost its lease and must stop
    /// processing the partition.
    #[error("write refused: partition {partition} of consumer {consumer} was taken over (this write's token {token}, the newest {newest})")]
    Fenced {
        /// The consumer whose partition it is.
        consumer: Name,
        /// The partition.
        partition: u32,
        /// The token the refused write carried.
        token: u64,
        /// The newest token the store has seen for the partition.
        newest: u64,
    },

    /// Stored data could not be understood (a schema or data problem).
    #[error("stored data is corrupt or unexpected: {message}")]
    Corrupt {
        /// What was wrong.
        message: Cow<'static, str>,
    },

    /// Any other backend failure.
    #[error("storage backend failed: {message}")]
    Backend {
        /// What happened.
        message: Cow<'static, str>,
        /// The backend's own error.
        #[source]
        source: Option<BoxError>,
    },
}

fn describe_position(position: Option<u64>) -> String {
    match position {
        None => "an empty stream".to_owned(),
        Some(position) => format!("last position {position}"),
    }
}

impl Error {
    /// An [`Error::InvalidInput`] for `field`.
    pub fn invalid(
        field: impl Into<Cow<'static, str>>,
        reason: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::Backend`] wrapping `source`.
    pub fn backend(message: impl Into<Cow<'static, str>>, source: impl Into<BoxError>) -> Self {
        Self::Backend {
            message: message.into(),
            source: Some(source.into()),
        }
    }

    /// An [`Error::Corrupt`].
    pub fn corrupt(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Corrupt {
            message: message.into(),
        }
    }

    /// Whether retrying the same call unchanged may succeed.
    ///
    /// True for conflicts, unavailability and timeouts. For a write whose
    /// [`Error::write_outcome`] is [`WriteOutcome::Unknown`], retry with the *same*
    /// event ids so the store can recognise the retry.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Conflict { .. } | Self::Unavailable { .. } | Self::Timeout { .. }
        )
    }

    /// Whether a write condition did not hold (nothing was written): a stream
    /// condition ([`Error::UnmetCondition`]), a consistency boundary that
    /// moved ([`Error::BoundaryMoved`]) or a uniqueness guard that found its
    /// event ([`Error::AlreadyMatched`]).
    pub fn is_unmet_condition(&self) -> bool {
        matches!(
            self,
            Self::UnmetCondition { .. } | Self::BoundaryMoved { .. } | Self::AlreadyMatched { .. }
        )
    }

    /// Whether the write failed because what it was decided from changed, so
    /// that reading again and deciding again may succeed: an
    /// [`Error::UnmetCondition`] or an [`Error::BoundaryMoved`], but not an
    /// [`Error::AlreadyMatched`] (what the guard prevents exists, and stays).
    pub fn should_decide_again(&self) -> bool {
        matches!(
            self,
            Self::UnmetCondition { .. } | Self::BoundaryMoved { .. }
        )
    }

    /// Whether this is an [`Error::Fenced`]: the lease a write was made under
    /// was taken over.
    pub fn is_fenced(&self) -> bool {
        matches!(self, Self::Fenced { .. })
    }

    /// Whether this is an [`Error::InvalidInput`].
    pub fn is_invalid_input(&self) -> bool {
        matches!(self, Self::InvalidInput { .. })
    }

    /// Whether a failed write may have been committed anyway.
    pub fn write_outcome(&self) -> WriteOutcome {
        match self {
            Self::Unavailable { outcome, .. } | Self::Timeout { outcome, .. } => *outcome,
            _ => WriteOutcome::NotWritten,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmet_condition_says_what_was_expected_and_found() {
        let error = Error::UnmetCondition {
            stream: StreamIdentifier::new("orders", "order-1").unwrap(),
            expected: WriteCondition::PositionIs(Some(3)),
            found: None,
        };
        assert_eq!(
            error.to_string(),
            "condition not met on stream orders/order-1: expected position is 3, found an empty stream"
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn unknown_outcome_is_reported() {
        let error = Error::Unavailable {
            outcome: WriteOutcome::Unknown,
            message: "connection closed during commit".into(),
            source: None,
        };
        assert!(error.is_retryable());
        assert_eq!(error.write_outcome(), WriteOutcome::Unknown);
    }
}
