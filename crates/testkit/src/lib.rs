#![doc = include_str!("../README.md")]

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
