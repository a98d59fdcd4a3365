#![doc = include_str!("../README.md")]

mod adapter;
mod boundary;
mod config;
mod error;
mod notify;
mod readers;
mod row;
mod save;
mod scan;
mod schema;
mod writer;

pub use adapter::{SqliteAdapter, SqliteAdapterBuilder};
pub use config::{JournalMode, Synchronous};
pub use error::SqliteError;

/// Re-exported so callers use the same version in exactly-once effects.
pub use rusqlite;
