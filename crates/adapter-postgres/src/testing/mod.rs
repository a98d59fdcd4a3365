//! Test tooling for PostgreSQL, behind the `testing` feature: a private server
//! that can be crashed and restarted, hot standbys of it (synchronous or
//! asynchronous, paused, cut off, promoted), a wire-protocol proxy that cuts or
//! black-holes connections at chosen moments, and a report of what a test's
//! sessions hold (for the testkit's cancellation harness).
//!
//! Adapter authors who wrap [`PostgresAdapter`](crate::PostgresAdapter) can
//! use them for their own fault tests:
//!
//! ```toml
//! [dev-dependencies]
//! eventblocks-postgres = { version = "0.1", features = ["testing"] }
//! ```

mod leftovers;
mod proxy;
mod replication;
mod server;

pub use leftovers::SessionLeftovers;
pub use proxy::{CommitFault, FaultProxy};
pub use replication::Replication;
pub use server::PrivateServer;
