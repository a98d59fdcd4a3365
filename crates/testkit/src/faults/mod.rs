//! Fault injection for adapter tests against a real database: a private
//! PostgreSQL server that can be crashed and restarted, and a proxy that cuts or
//! black-holes connections at chosen moments.

mod proxy;
mod server;

pub use proxy::{CommitFault, FaultProxy};
pub use server::PrivateServer;
