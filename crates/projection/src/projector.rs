//! Projectors: how a sequence of events reduces to a state.

use std::future::Future;

use eventblocks_core::{BoxError, EventSourceIdentifier, EventStore, ScanQuery, StoredEvent};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::metadata::ProjectionMetadata;
use crate::projection::Projection;

/// Whether a projector had a handler for an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// The event changed (or deliberately left) the state.
    Applied,
    /// The projector does not handle events of this name.
    NoHandler,
}

/// What folding does with an event the projector has no handler for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MissingHandler {
    /// Stop with [`Error::NoHandler`] naming the event and the projector.
    #[default]
    Fail,
    /// Skip the event (its metadata is still recorded).
    Ignore,
}

/// The reduction of an event sequence into a state, written in application code.
///
/// Handlers are the arms of a `match` on the event name in [`Projector::apply`];
/// typed payloads come from [`StoredEvent::payload_as`]. See the crate docs for a
/// whole projector.
pub trait Projector: Send + Sync {
    /// The folded state.
    type State: Serialize + DeserializeOwned + Send + Sync;
    /// Bookkeeping kept beside the state, e.g. [`Tracked`](crate::Tracked).
    type Metadata: ProjectionMetadata;

    /// The projector's name: projections are stored under it.
    fn name(&self) -> &str;

    /// The state before any event.
    fn initial_state(&self) -> Self::State;

    /// Applies one event to the state.
    ///
    /// # Errors
    /// Whatever the handler reports; folding stops with [`Error::Handler`].
    fn apply(&self, state: &mut Self::State, event: &StoredEvent) -> Result<Handled, BoxError>;

    /// What to do with an event [`Projector::apply`] has no handler for.
    fn missing_handler(&self) -> MissingHandler {
        MissingHandler::Fail
    }

    /// The projection's id. By default the stream's name for a stream, the
    /// category's name for a category and `"log"` for the log.
    ///
    /// A projector has one projection per source. The id names it for
    /// [`ProjectionStore::load`](crate::ProjectionStore::load); it is
    /// recomputed after every event ([`Projector::apply_event`]) and may
    /// change with the state. Saving a projection replaces the stored
    /// projection of the same name and source whatever its old id, so a
    /// [`ProjectionRunner`](crate::ProjectionRunner) keeps exactly one
    /// projection per source, the one [`Projector::fold`] gives. Ids must
    /// differ between sources: saving a projection whose id names another
    /// source's projection is refused as invalid input.
    fn id(&self, state: &Self::State, source: &EventSourceIdentifier) -> String {
        let _ = state;
        match source {
            EventSourceIdentifier::Log(_) => "log".to_owned(),
            EventSourceIdentifier::Category(category) => category.category.to_string(),
            EventSourceIdentifier::Stream(stream) => stream.stream.to_string(),
        }
    }

    /// The projection of `source` before any event.
    fn initial(&self, source: EventSourceIdentifier) -> Projection<Self::State, Self::Metadata> {
        let state = self.initial_state();
        Projection {
            id: self.id(&state, &source),
            name: self.name().to_owned(),
            source,
            state,
            metadata: Self::Metadata::initial(),
        }
    }

    /// Folds one more event into `projection`, updating its metadata and id.
    ///
    /// # Errors
    /// [`Error::Handler`] if the handler fails; [`Error::NoHandler`] if there is
    /// none and the projector is configured to fail.
    fn apply_event(
        &self,
        projection: &mut Projection<Self::State, Self::Metadata>,
        event: &StoredEvent,
    ) -> Result<()> {
        let describe = || (self.name().to_owned(), event.name.to_string());
        match self.apply(&mut projection.state, event) {
            Ok(Handled::Applied) => {}
            Ok(Handled::NoHandler) if self.missing_handler() == MissingHandler::Ignore => {}
            Ok(Handled::NoHandler) => {
                let (projector, event_name) = describe();
                return Err(Error::NoHandler {
                    projector,
                    event: event_name,
                    sequence_number: event.sequence_number,
                });
            }
            Err(source) => {
                let (projector, event_name) = describe();
                return Err(Error::Handler {
                    projector,
                    event: event_name,
                    sequence_number: event.sequence_number,
                    source,
                });
            }
        }
        projection.metadata.record(event);
        projection.id = self.id(&projection.state, &projection.source);
        Ok(())
    }

    /// Folds `events`, taken from `source`, one at a time (memory stays bounded
    /// whatever their number).
    ///
    /// # Errors
    /// The first error of the event stream or of [`Projector::apply_event`].
    fn fold<S>(
        &self,
        source: EventSourceIdentifier,
        events: S,
    ) -> impl Future<Output = Result<Projection<Self::State, Self::Metadata>>> + Send
    where
        Self: Sized,
        S: Stream<Item = eventblocks_core::Result<StoredEvent>> + Send,
    {
        async move {
            let mut projection = self.initial(source);
            let mut events = std::pin::pin!(events);
            while let Some(event) = events.next().await {
                self.apply_event(&mut projection, &event?)?;
            }
            Ok(projection)
        }
    }

    /// Folds every event of `source` in `store`.
    ///
    /// # Errors
    /// As [`Projector::fold`].
    fn project(
        &self,
        store: &EventStore,
        source: impl Into<EventSourceIdentifier>,
    ) -> impl Future<Output = Result<Projection<Self::State, Self::Metadata>>> + Send
    where
        Self: Sized,
    {
        let source = source.into();
        let events = store.scan(source.clone(), ScanQuery::new());
        self.fold(source, events)
    }
}
