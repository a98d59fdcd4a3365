#![doc = include_str!("../README.md")]

mod adapter;
mod bound;
mod catalogue;
#[cfg(feature = "checkpoints")]
mod checkpoint;
mod config;
mod connect;
mod error;
#[cfg(feature = "checkpoints")]
mod exactly_once;
#[cfg(any(feature = "projections", feature = "checkpoints"))]
mod fence;
mod horizon;
#[cfg(feature = "checkpoints")]
mod lease;
mod names;
mod notify;
#[cfg(feature = "projections")]
mod projection;
mod query;
mod replica;
mod row;
mod save;
mod scan;
mod schema;
mod session;
mod statements;
#[cfg(feature = "testing")]
pub mod testing;

pub use adapter::PostgresAdapter;
#[cfg(feature = "checkpoints")]
pub use checkpoint::PostgresCheckpointStore;
pub use config::{PostgresAdapterBuilder, DEFAULT_SCHEMA, DEFAULT_TABLE};
#[cfg(feature = "tls")]
pub use connect::Tls;
#[cfg(feature = "checkpoints")]
pub use exactly_once::ExactlyOnce;
pub use horizon::{HorizonBlocker, ReadHorizon};
#[cfg(feature = "checkpoints")]
pub use lease::PostgresLeases;
#[cfg(feature = "projections")]
pub use projection::PostgresProjectionStore;
pub use replica::{NodePreference, WhenBehind};

/// Re-exported so callers build pools with the same version the adapter uses.
pub use deadpool_postgres;
/// Re-exported so a [`Tls::from_rustls`] configuration is built with the
/// same rustls the adapter uses.
#[cfg(feature = "tls")]
pub use rustls;
/// Re-exported so callers use the same client version the adapter uses.
pub use tokio_postgres;
