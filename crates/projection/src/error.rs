//! The projection crate's errors.

use eventblocks_core::{BoxError, Name};

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why folding events or storing a projection failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading events or using the projection store failed, or input was
    /// invalid; the core error says which.
    #[error(transparent)]
    Store(#[from] eventblocks_core::Error),

    /// The projector has no handler for an event and is configured to fail.
    #[error("projector {projector} has no handler for event {event} (sequence number {sequence_number})")]
    NoHandler {
        /// The projector's name.
        projector: String,
        /// The event's name.
        event: String,
        /// The event's sequence number.
        sequence_number: u64,
    },

    /// A handler returned an error.
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

    /// [`ProjectionStore::find_one`](crate::ProjectionStore::find_one) found
    /// more than one projection passing the search's filters. It reads no
    /// more than two, so there may be more.
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

    /// A runner was started with another number of partitions than the
    /// consumer's checkpoints were made with (see
    /// [`ProjectionRunner::run_partitioned`](crate::ProjectionRunner::run_partitioned)).
    /// Nothing was processed.
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
        /// The number the runner was started with (1 for
        /// [`ProjectionRunner::run`](crate::ProjectionRunner::run)).
        requested: u32,
    },
}
