//! Projectors and the projection store.
