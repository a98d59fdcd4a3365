//! Conformance suites, builders and proptest strategies for eventblocks.
//!
//! - [`event_store_suite!`] runs the event-store conformance suite against an
//!   adapter: one `#[tokio::test]` per case (see [`conformance`]).
//! - [`projection_store_suite!`] does the same for projection stores, and
//!   [`projection::given`] tests projectors (see [`projection`]).
//! - [`builders`] and [`strategies`] make events for your own tests.
//! - [`load`] and [`history`] run concurrent writers and tailing readers and
//!   check what every reader saw; [`cancellation`] drops every operation at
//!   every poll and checks what it left. Backend-specific fault tooling lives
//!   with its backend (PostgreSQL's in `eventblocks_postgres::testing`).

pub mod builders;
pub mod cancellation;
pub mod conformance;
pub mod history;
pub mod load;
pub mod projection;
pub mod strategies;
mod suite;

#[doc(hidden)]
pub mod __reexports {
    pub use crate::suite::run_case;
    pub use eventblocks_core::EventStore;
    pub use eventblocks_projection::ProjectionStore;
}
