#![doc = include_str!("../README.md")]

mod adapter;
mod checkpoint;
mod config;
mod connect;
mod error;
mod exactly_once;
mod fence;
mod lease;
mod names;
mod notify;
mod projection;
mod row;
mod save;
mod scan;
mod schema;
mod session;
#[cfg(feature = "testing")]
pub mod testing;

pub use adapter::PostgresAdapter;
pub use checkpoint::PostgresCheckpointStore;
pub use config::{PostgresAdapterBuilder, DEFAULT_SCHEMA, DEFAULT_TABLE};
#[cfg(feature = "tls")]
pub use connect::Tls;
pub use exactly_once::ExactlyOnce;
pub use lease::PostgresLeases;
pub use projection::PostgresProjectionStore;

/// Re-exported so callers build pools with the same version the adapter uses.
pub use deadpool_postgres;
/// Re-exported so a [`Tls::from_rustls`] configuration is built with the
/// same rustls the adapter uses.
#[cfg(feature = "tls")]
pub use rustls;
/// Re-exported so callers use the same client version the adapter uses.
pub use tokio_postgres;
