//! Holds the `custom_adapter` example (`examples/custom_adapter.rs`), built
//! with only the dependencies an adapter crate has:
//! `cargo run --example custom_adapter`, and `cargo test --example
//! custom_adapter` to run the conformance suites against it.
