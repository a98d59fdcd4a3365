//! Runnable examples of eventblocks; see the `[[example]]` entries of this
//! package: `cargo run --example quickstart`.
