#![doc = include_str!("../README.md")]

mod adapter;
mod boundary;
mod catalogue;
mod checkpoint;
mod config;
mod error;
mod fence;
mod lease;
mod notify;
mod projection;
mod readers;
mod row;
mod save;
mod scan;
mod schema;
mod writer;

pub use adapter::{SqliteAdapter, SqliteAdapterBuilder};
pub use checkpoint::{SqliteCheckpointStore, Unit};
pub use config::{JournalMode, Synchronous};
pub use error::SqliteError;
pub use lease::{SqliteLeases, DEFAULT_LEASE_TIME};
pub use projection::SqliteProjectionStore;

/// Re-exported so callers use the same version in exactly-once effects.
pub use rusqlite;
