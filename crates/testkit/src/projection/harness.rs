//! `given(events).when(projector).then(expected)`: tests for projectors written
//! in application code, without a store.
//!
//! ```
//! use eventblocks_core::{BoxError, StoredEvent};
//! use eventblocks_projection::{Handled, Projector};
//! use eventblocks_testkit::builders::event;
//! use eventblocks_testkit::projection::given;
//! use serde_json::json;
//!
//! struct Counter;
//!
//! impl Projector for Counter {
//!     type State = u64;
//!     type Metadata = ();
//!     fn name(&self) -> &str { "counter" }
//!     fn initial_state(&self) -> u64 { 0 }
//!     fn apply(&self, count: &mut u64, event: &StoredEvent) -> Result<Handled, BoxError> {
//!         match event.name.as_str() {
//!             "clicked" => *count += 1,
//!             _ => return Ok(Handled::NoHandler),
//!         }
//!         Ok(Handled::Applied)
//!     }
//! }
//!
//! given([event("clicked").build(), event("clicked").build()])
//!     .when(Counter)
//!     .then(2);
//! given([event("scrolled").build()])
//!     .when(Counter)
//!     .then_fails_with("no handler for event scrolled");
//! ```

use std::fmt::Debug;

use eventblocks_core::{EventSourceIdentifier, NewEvent, StoredEvent, StreamIdentifier};
use eventblocks_projection::{Projection, Projector, Result};

/// The events a projector test starts from, stored in one stream
/// (`test/stream` unless [`Given::in_stream`] says otherwise).
pub fn given(events: impl IntoIterator<Item = NewEvent>) -> Given {
    Given {
        events: events.into_iter().collect(),
        stream: StreamIdentifier::new("test", "stream")
            .unwrap_or_else(|e| panic!("the default test stream is valid: {e}")),
    }
}

/// See [`given`].
#[derive(Debug, Clone)]
#[must_use]
pub struct Given {
    events: Vec<NewEvent>,
    stream: StreamIdentifier,
}

impl Given {
    /// Stores the events in `category`/`stream`.
    ///
    /// # Panics
    /// If the names are invalid.
    pub fn in_stream(mut self, category: &str, stream: &str) -> Self {
        self.stream = StreamIdentifier::new(category, stream)
            .unwrap_or_else(|e| panic!("invalid test stream: {e}"));
        self
    }

    /// Folds the events with `projector`.
    pub fn when<P: Projector>(self, projector: P) -> When<P> {
        When {
            given: self,
            projector,
        }
    }

    fn stored(&self) -> Vec<StoredEvent> {
        self.events
            .iter()
            .cloned()
            .zip(0_u64..)
            .map(|(event, index)| event.into_stored(self.stream.clone(), index, index + 1))
            .collect()
    }
}

/// See [`given`].
#[derive(Debug)]
pub struct When<P> {
    given: Given,
    projector: P,
}

impl<P: Projector> When<P> {
    /// The projection, or the error folding stopped with.
    ///
    /// # Errors
    /// What [`Projector::apply_event`] returns.
    pub fn projection(&self) -> Result<Projection<P::State, P::Metadata>> {
        let source = EventSourceIdentifier::Stream(self.given.stream.clone());
        let mut projection = self.projector.initial(source);
        for event in self.given.stored() {
            self.projector.apply_event(&mut projection, &event)?;
        }
        Ok(projection)
    }

    /// Asserts that folding gives `expected`.
    ///
    /// # Panics
    /// If folding fails or gives another state.
    pub fn then(self, expected: P::State)
    where
        P::State: PartialEq + Debug,
    {
        match self.projection() {
            Ok(projection) => assert_eq!(
                projection.state,
                expected,
                "projector {} folded another state",
                self.projector.name()
            ),
            Err(error) => panic!("projector {} failed: {error}", self.projector.name()),
        }
    }

    /// Asserts that folding fails with an error whose message contains `text`.
    ///
    /// # Panics
    /// If folding succeeds or fails otherwise.
    pub fn then_fails_with(self, text: &str) {
        match self.projection() {
            Ok(_) => panic!(
                "projector {} succeeded; expected an error containing {text:?}",
                self.projector.name()
            ),
            Err(error) => assert!(
                error.to_string().contains(text),
                "projector {} failed with {error:?}, expected {text:?}",
                self.projector.name()
            ),
        }
    }
}
