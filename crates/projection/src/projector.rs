//! Projectors: how a sequence of events reduces to a state.

use std::future::Future;

use eventblocks_core::{
    BoxError, Error, EventSourceIdentifier, EventStore, Result, ScanQuery, StoredEvent,
};
use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

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

    /// Folds one more event into `state` alone, as a fold does (an event
    /// without a handler fails or is skipped as
    /// [`Projector::missing_handler`] says).
    ///
    /// # Errors
    /// [`Error::Handler`] if the handler fails; [`Error::NoHandler`] if there is
    /// none and the projector is configured to fail.
    fn evolve(&self, state: &mut Self::State, event: &StoredEvent) -> Result<()> {
        let describe = || (self.name().to_owned(), event.name.to_string());
        match self.apply(state, event) {
            Ok(Handled::Applied) => Ok(()),
            Ok(Handled::NoHandler) if self.missing_handler() == MissingHandler::Ignore => Ok(()),
            Ok(Handled::NoHandler) => {
                let (projector, event_name) = describe();
                Err(Error::NoHandler {
                    projector,
                    event: event_name,
                    sequence_number: event.sequence_number,
                })
            }
            Err(source) => {
                let (projector, event_name) = describe();
                Err(Error::Handler {
                    projector,
                    event: event_name,
                    sequence_number: event.sequence_number,
                    source,
                })
            }
        }
    }

    /// [`Projector::evolve`] as a closure: the fold a decision takes, so a
    /// command decides on the very state its projection shows.
    ///
    /// ```
    /// use eventblocks_core::{BoxError, DecideOptions, EventStore, NewEvent, StoredEvent};
    /// use eventblocks_memory::MemoryAdapter;
    /// use eventblocks_projection::{Handled, Projector};
    /// use serde_json::json;
    ///
    /// /// An account's balance in cents.
    /// struct Balance;
    ///
    /// impl Projector for Balance {
    ///     type State = i64;
    ///     type Metadata = ();
    ///     fn name(&self) -> &str { "balance" }
    ///     fn initial_state(&self) -> i64 { 0 }
    ///     fn apply(&self, cents: &mut i64, event: &StoredEvent) -> Result<Handled, BoxError> {
    ///         let amount: i64 = event.payload_as()?;
    ///         match event.name.as_str() {
    ///             "deposited" => *cents += amount,
    ///             "withdrawn" => *cents -= amount,
    ///             _ => return Ok(Handled::NoHandler),
    ///         }
    ///         Ok(Handled::Applied)
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = EventStore::new(MemoryAdapter::new());
    /// let account = store.stream("accounts", "acc-1")?;
    /// let withdraw = |amount: i64| {
    ///     account.decide(Balance.initial_state(), Balance.folder(), move |cents: &i64| {
    ///         if *cents < amount {
    ///             return Err("insufficient funds");
    ///         }
    ///         Ok(vec![NewEvent::new("withdrawn", &json!(amount)).expect("a number")])
    ///     }, DecideOptions::default())
    /// };
    /// assert!(withdraw(10).await.is_err());
    /// account.publish([NewEvent::new("deposited", &json!(25))?], eventblocks_core::WriteCondition::NoCondition).await?;
    /// assert_eq!(withdraw(10).await?.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    fn folder(&self) -> impl FnMut(&mut Self::State, &StoredEvent) -> Result<()> + Send + '_
    where
        Self: Sized,
    {
        move |state, event| self.evolve(state, event)
    }

    /// Folds one more event into `projection`, updating its metadata and id.
    ///
    /// # Errors
    /// As [`Projector::evolve`].
    fn apply_event(
        &self,
        projection: &mut Projection<Self::State, Self::Metadata>,
        event: &StoredEvent,
    ) -> Result<()> {
        self.evolve(&mut projection.state, event)?;
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
