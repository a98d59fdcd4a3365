//! The one error type every crate of eventblocks speaks.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::sync::Arc;

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
/// Every crate of eventblocks returns this one type — the event store, the
/// decision helper's store errors, projectors, projection stores and the
/// projection runner — so a timeout, an unmet condition or a stopped runner
/// is matched the same way wherever the call was made.
///
/// Match on the variant to decide what to do: fix the input
/// ([`Error::InvalidInput`]), re-read and decide again ([`Error::UnmetCondition`]),
/// retry ([`Error::Conflict`], [`Error::Unavailable`], [`Error::Timeout`]; see
/// [`Error::is_retryable`]), stop processing a partition whose lease was lost
/// ([`Error::Fenced`]) or give up ([`Error::EventIdConflict`],
/// [`Error::Corrupt`], [`Error::Backend`]). The predicates
/// ([`Error::is_timeout`], [`Error::is_unmet_condition`],
/// [`Error::is_stopped`], …) say the same without naming fields; the error
/// that caused another is its [`source`](StdError::source).
///
/// ```
/// use std::time::Duration;
/// use eventblocks_core::{Error, EventStore, NewEvent, WriteCondition};
/// use eventblocks_memory::MemoryAdapter;
/// use serde_json::json;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let store = EventStore::new(MemoryAdapter::new());
/// let stream = store.stream("accounts", "acc-1")?;
/// let opened = NewEvent::new("opened", &json!({}))?;
/// stream.publish([opened], WriteCondition::StreamIsEmpty).await?;
/// let again = NewEvent::new("opened", &json!({}))?;
/// match stream.publish([again], WriteCondition::StreamIsEmpty).await {
///     Err(Error::UnmetCondition { found, .. }) => assert_eq!(found, Some(0)),
///     Err(error) if error.is_timeout() => { /* try again later */ }
///     other => panic!("unexpected: {other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
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

    /// A projector's handler failed on an event (its error is the source).
    #[error("projector {projector} failed on event {event} (sequence number {sequence_number})")]
    Handler {
        /// The projector's name.
        projector: String,
        /// The event's name.
        event: String,
        /// The event's sequence number.
        sequence_number: u64,
        /// What the handler reported.
        #[source]
        source: BoxError,
    },

    /// A projector has no handler for an event and is configured to fail.
    #[error("projector {projector} has no handler for event {event} (sequence number {sequence_number})")]
    NoHandler {
        /// The projector's name.
        projector: String,
        /// The event's name.
        event: String,
        /// The event's sequence number.
        sequence_number: u64,
    },

    /// A search that should select one projection selected more than one. It
    /// reads no more than two, so there may be more.
    #[error(
        "the search matches more than one projection: at least {}/{} and {}/{}",
        first.0, first.1, second.0, second.1
    )]
    SeveralMatches {
        /// The name and id of the first projection found, in the search's
        /// order.
        first: (String, String),
        /// The name and id of the second.
        second: (String, String),
    },

    /// A consumer was started with another number of partitions than its
    /// checkpoints were made with. Nothing was processed.
    #[error(
        "consumer {consumer} runs with {recorded} partition(s), not {requested}: its checkpoints \
         hold only for that number; run it with {recorded}, or stop every instance and run \
         under a new consumer name, which processes the source again from the start (the \
         projections skip the events they have applied)"
    )]
    PartitionCount {
        /// The consumer.
        consumer: Name,
        /// The number of partitions recorded for it.
        recorded: u64,
        /// The number the consumer was started with.
        requested: u32,
    },

    /// A projection runner has stopped, so what was asked of it (waiting for
    /// it to reach an event, say) cannot happen. `source` is the error that
    /// stopped it, shared by everyone who asks; `None` when it was shut down.
    #[error("the projection runner of {runner} has stopped: {}", describe_stop(source.as_deref()))]
    Stopped {
        /// The runner's projector.
        runner: String,
        /// The error that stopped it; `None` when it was shut down.
        #[source]
        source: Option<Arc<Error>>,
    },
}

fn describe_stop(cause: Option<&Error>) -> String {
    match cause {
        None => "it was shut down".to_owned(),
        Some(cause) => cause.to_string(),
    }
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

    /// Whether this is an [`Error::Timeout`]: an operation, a wait for a
    /// connection or a wait for a runner took longer than allowed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// Whether this is an [`Error::Stopped`]: a runner the call depended on
    /// has stopped.
    pub fn is_stopped(&self) -> bool {
        matches!(self, Self::Stopped { .. })
    }

    /// The error that stopped a runner, for an [`Error::Stopped`] that one
    /// stopped (not a shut down): what `run` failed with, what every waiter
    /// is told.
    pub fn stop_cause(&self) -> Option<&Error> {
        match self {
            Self::Stopped {
                source: Some(cause),
                ..
            } => Some(cause),
            _ => None,
        }
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
