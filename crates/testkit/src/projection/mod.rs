//! The projection-store conformance suite.
