//! The projection crate's errors.

use eventblocks_core::BoxError;

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
}
