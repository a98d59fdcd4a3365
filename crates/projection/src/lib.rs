//! Projectors and the projection store.
//!
//! A [`Projector`] reduces a sequence of events to a state. It is written in
//! application code: the handlers are the arms of a `match` on the event name.
//!
//! ```
//! use eventblocks_core::{BoxError, EventStore, StoredEvent, StreamIdentifier, WriteCondition};
//! use eventblocks_core::NewEvent;
//! use eventblocks_memory::MemoryAdapter;
//! use eventblocks_projection::query::{Field, Filter, Operator, Search};
//! use eventblocks_projection::{
//!     Handled, MemoryProjectionStore, ProjectionStore, Projector, Tracked,
//! };
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Debug, Default, Serialize, Deserialize)]
//! struct Profile {
//!     name: Option<String>,
//!     email: Option<String>,
//!     date_of_birth: Option<String>,
//! }
//!
//! #[derive(Deserialize)]
//! struct ProfileCreated {
//!     name: String,
//!     email: String,
//! }
//!
//! #[derive(Deserialize)]
//! struct DateOfBirthSet {
//!     date_of_birth: String,
//! }
//!
//! struct ProfileProjector;
//!
//! impl Projector for ProfileProjector {
//!     type State = Profile;
//!     type Metadata = Tracked;
//!
//!     fn name(&self) -> &str {
//!         "profile"
//!     }
//!
//!     fn initial_state(&self) -> Profile {
//!         Profile::default()
//!     }
//!
//!     fn apply(&self, profile: &mut Profile, event: &StoredEvent) -> Result<Handled, BoxError> {
//!         match event.name.as_str() {
//!             "profile-created" => {
//!                 let created: ProfileCreated = event.payload_as()?;
//!                 profile.name = Some(created.name);
//!                 profile.email = Some(created.email);
//!             }
//!             "date-of-birth-set" => {
//!                 let set: DateOfBirthSet = event.payload_as()?;
//!                 profile.date_of_birth = Some(set.date_of_birth);
//!             }
//!             _ => return Ok(Handled::NoHandler),
//!         }
//!         Ok(Handled::Applied)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let events = EventStore::new(MemoryAdapter::new());
//! let joe = StreamIdentifier::new("profiles", "joe.bloggs")?;
//! events.stream_of(joe.clone()).publish(vec![
//!     NewEvent::new("profile-created", &serde_json::json!({
//!         "name": "Joe Bloggs", "email": "joe.bloggs@example.com"
//!     }))?,
//!     NewEvent::new("date-of-birth-set", &serde_json::json!({"date_of_birth": "1992-01-01"}))?,
//! ], WriteCondition::NoCondition).await?;
//!
//! let projection = ProfileProjector.project(&events, joe).await?;
//! assert_eq!(projection.id, "joe.bloggs");
//! assert_eq!(projection.state.date_of_birth.as_deref(), Some("1992-01-01"));
//! assert_eq!(projection.metadata.events, 2);
//!
//! let projections = ProjectionStore::new(MemoryProjectionStore::new());
//! projections.save(&projection).await?;
//! let found = projections
//!     .search(&Search::new().filter(Filter::new(
//!         Field::state("email")?,
//!         Operator::Equal,
//!         "joe.bloggs@example.com",
//!     )?))
//!     .await?;
//! assert_eq!(found.projections[0].id, "joe.bloggs");
//! # Ok(())
//! # }
//! ```
//!
//! Projections are kept in a [`ProjectionStore`] over a
//! [`ProjectionStorageAdapter`]: [`MemoryProjectionStore`] here, and
//! `PostgresProjectionStore` in `eventblocks-postgres`, which shares that crate's
//! connection pool, migrations and error mapping. Searches use the
//! [`query`] language and give the same results on every adapter, sorts by
//! trigram similarity ([`query::Sort::similar_to`], PostgreSQL's `pg_trgm`)
//! included. [`ProjectionStore::find_one`] gives the one projection a
//! search's filters select, or [`Error::SeveralMatches`].
//!
//! A store keeps one projection per projector name and source, whatever its
//! id (an id may change with the state), and an id names one projection of a
//! name: saving under the id of another source's projection is refused (see
//! [`ProjectionStorageAdapter`]'s contract).
//!
//! State and metadata are kept as [`serde_json::Value`]s, which hold integers
//! of the `i64` and `u64` ranges and `f64`s. So that every saved projection
//! loads back into the types it was saved from, a save refuses, as
//! `InvalidInput`, state or metadata a `Value` cannot hold exactly (a `u128`
//! beyond `u64::MAX`, a decimal an `f64` would round), besides what
//! [`eventblocks_core::Json`] refuses for event payloads.

mod error;
mod memory;
mod metadata;
mod number;
mod projection;
mod projector;
pub mod query;
mod runner;
mod store;
pub mod value;

pub use error::{Error, Result};
pub use memory::MemoryProjectionStore;
pub use metadata::{ProjectionMetadata, Tracked};
pub use projection::{Projection, StoredProjection};
pub use projector::{Handled, MissingHandler, Projector};
pub use runner::{ErrorPolicy, ProjectionRunner, MAX_PARTITIONS};
pub use store::{ProjectionStorageAdapter, ProjectionStore};
