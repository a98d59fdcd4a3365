//! The projection store: where projections are kept, found and searched.

use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::{Error, EventSourceIdentifier, Fence, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::projection::{Projection, StoredProjection};
use crate::projector::Projector;
use crate::query::{Field, Filter, Operator, Page, Search};

/// What a projection storage backend implements. Searches arrive validated
/// ([`Search::validate`], and [`crate::query::check_filters`] for counts); every adapter must give the results the query
/// language defines (see [`crate::query`]), which the testkit's projection
/// suite checks.
///
/// # Contract
/// - **One projection per name and source.** [`ProjectionStorageAdapter::save`]
///   inserts the projection, or replaces the stored projection with the same
///   name and source whatever its id (a projector's id may change as its state
///   does, see [`Projector::id`](crate::Projector::id)). The replacement is
///   atomic: concurrent saves of one source leave exactly one projection. An
///   id names one projection of a name ([`ProjectionStore::load`]): a save
///   whose id already names the projection of another source is refused with
///   [`Error::InvalidInput`](eventblocks_core::Error::InvalidInput), writing
///   nothing (nor raising its fence's token); the stored projection keeps its
///   source, state and metadata. (logicblocks keeps the first source too, but
///   writes the new state into it, so one projection would hold another
///   source's data; the refusal tells at once that two sources gave one id.)
/// - **Fencing.** A save made under a lease carries the lease's [`Fence`]. The
///   store keeps the newest token it has seen for each (consumer, partition)
///   of a fence and refuses a save whose token is older with
///   [`Error::Fenced`](eventblocks_core::Error::Fenced), writing nothing;
///   the check and the save are one atomic step, and a save with a newer
///   token makes it the newest. Saves without a fence are not checked. The
///   fence is a required parameter so that no store can forget it.
/// - [`ProjectionStorageAdapter::search`] returns the page of projections passing
///   every filter, in the search's total order; it reads at most one projection
///   beyond the page to tell whether another page follows (see
///   [`Page::from_rows`]).
/// - [`ProjectionStorageAdapter::count`] counts the projections passing every
///   filter.
#[async_trait]
pub trait ProjectionStorageAdapter: Send + Sync + std::fmt::Debug + 'static {
    /// Inserts a projection or replaces the one of its name and source (see the
    /// contract), unless `fence` is older than the newest seen for its
    /// partition.
    ///
    /// # Errors
    /// [`Error::Fenced`](eventblocks_core::Error::Fenced) for an older fence;
    /// [`Error::InvalidInput`](eventblocks_core::Error::InvalidInput) for an id
    /// naming another source's projection; backend failures.
    async fn save(&self, projection: StoredProjection, fence: Option<&Fence>) -> Result<()>;

    /// One page of a search.
    ///
    /// # Errors
    /// Backend failures.
    async fn search(&self, search: &Search) -> Result<Page>;

    /// How many projections pass every filter.
    ///
    /// # Errors
    /// Backend failures.
    async fn count(&self, filters: &[Filter]) -> Result<u64>;
}

eventblocks_core::__forward_trait!(ProjectionStorageAdapter, [Arc, Box] {
    async fn save(&self, projection: StoredProjection, fence: Option<&Fence>) -> Result<()>;
    async fn search(&self, search: &Search) -> Result<Page>;
    async fn count(&self, filters: &[Filter]) -> Result<u64>;
});

/// The facade applications use: saves, and loads and searches typed by the
/// projector whose projections they read.
///
/// ```
/// use eventblocks_core::{BoxError, EventStore, NewEvent, StoredEvent, WriteCondition};
/// use eventblocks_memory::{MemoryAdapter, MemoryProjectionStore};
/// use eventblocks_projection::query::{Field, Filter, Operator, Search, Sort};
/// use eventblocks_projection::{Handled, ProjectionStore, Projector, Tracked};
/// use serde_json::json;
///
/// /// How many events each stream holds.
/// struct Counts;
///
/// impl Projector for Counts {
///     type State = u64;
///     type Metadata = Tracked;
///     fn name(&self) -> &str { "counts" }
///     fn initial_state(&self) -> u64 { 0 }
///     fn apply(&self, count: &mut u64, _: &StoredEvent) -> Result<Handled, BoxError> {
///         *count += 1;
///         Ok(Handled::Applied)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> eventblocks_core::Result<()> {
/// let events = EventStore::new(MemoryAdapter::new());
/// let projections = ProjectionStore::new(MemoryProjectionStore::new());
/// for (stream, count) in [("a", 1), ("b", 3)] {
///     let stream = events.stream("things", stream)?;
///     for _ in 0..count {
///         let event = NewEvent::new("happened", &json!({}))?;
///         stream.publish([event], WriteCondition::NoCondition).await?;
///     }
///     projections.save(&Counts.project(&events, stream.identifier().clone()).await?).await?;
/// }
///
/// // Typed state and metadata, by the projector:
/// let b = projections.load(&Counts, "b").await?.expect("saved");
/// assert_eq!((b.state, b.metadata.events), (3, 3));
///
/// // Typed search results, among the projector's projections:
/// let busy = Search::new()
///     .filter(Filter::new(Field::metadata("events"), Operator::GreaterThan, 1))
///     .sort(Sort::descending(Field::Id));
/// let page = projections.search(&Counts, &busy).await?;
/// let found: Vec<(&str, u64)> = page.projections.iter().map(|p| (p.id.as_str(), p.state)).collect();
/// assert_eq!(found, [("b", 3)]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ProjectionStore {
    adapter: Arc<dyn ProjectionStorageAdapter>,
}

impl ProjectionStore {
    /// A store over `adapter`.
    pub fn new(adapter: impl ProjectionStorageAdapter) -> Self {
        Self {
            adapter: Arc::new(adapter),
        }
    }

    /// The adapter underneath.
    pub fn adapter(&self) -> &Arc<dyn ProjectionStorageAdapter> {
        &self.adapter
    }

    /// Saves `projection`, replacing the one with the same name and source
    /// (whatever its id).
    ///
    /// An id names one projection of a name: saving under the id of another
    /// source's projection is refused and changes nothing (see the
    /// [contract](ProjectionStorageAdapter#contract)).
    ///
    /// ```
    /// use eventblocks_core::{Error, StreamIdentifier};
    /// use eventblocks_memory::MemoryProjectionStore;
    /// use eventblocks_projection::{Projection, ProjectionStore};
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> eventblocks_core::Result<()> {
    /// let store = ProjectionStore::new(MemoryProjectionStore::new());
    /// let order = |stream: &str, total: u32| -> eventblocks_core::Result<_> {
    ///     Ok(Projection {
    ///         id: "order".to_owned(),
    ///         name: "totals".to_owned(),
    ///         source: StreamIdentifier::new("orders", stream)?.into(),
    ///         state: json!({ "total": total }),
    ///         metadata: json!({}),
    ///     })
    /// };
    /// store.save(&order("order-1", 3)?).await?;
    /// let taken = store.save(&order("order-2", 5)?).await;
    /// assert!(matches!(taken, Err(Error::InvalidInput { .. })));
    /// let kept = store.load_stored("totals", "order").await?;
    /// assert_eq!(kept, Some(order("order-1", 3)?));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if it cannot be stored (see
    /// [`Projection::to_stored`]) or its id already names the projection of
    /// another source; backend failures.
    pub async fn save<State: Serialize, Metadata: Serialize>(
        &self,
        projection: &Projection<State, Metadata>,
    ) -> Result<()> {
        self.adapter.save(projection.to_stored()?, None).await
    }

    /// Saves `projection` as [`ProjectionStore::save`] does, under the lease
    /// `fence` comes from: refused if a newer holder of its partition has
    /// written (or, where leases raise the token when taken, exists).
    ///
    /// ```
    /// use eventblocks_core::{Error, Fence, Name, StreamIdentifier};
    /// use eventblocks_memory::MemoryProjectionStore;
    /// use eventblocks_projection::{Projection, ProjectionStore};
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> eventblocks_core::Result<()> {
    /// let store = ProjectionStore::new(MemoryProjectionStore::new());
    /// let consumer = Name::new("consumer", "totals")?;
    /// let projection = Projection {
    ///     id: "order-1".to_owned(),
    ///     name: "totals".to_owned(),
    ///     source: StreamIdentifier::new("orders", "order-1")?.into(),
    ///     state: json!({"total": 3}),
    ///     metadata: json!({}),
    /// };
    /// store.save_fenced(&projection, &Fence::new(consumer.clone(), 0, 2)).await?;
    /// // The holder of token 1 lost the lease before it wrote:
    /// let stale = store.save_fenced(&projection, &Fence::new(consumer, 0, 1)).await;
    /// assert!(matches!(stale, Err(Error::Fenced { newest: 2, .. })));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::Fenced`] if `fence` is older than the newest token seen for
    /// its partition; as [`ProjectionStore::save`].
    pub async fn save_fenced<State: Serialize, Metadata: Serialize>(
        &self,
        projection: &Projection<State, Metadata>,
        fence: &Fence,
    ) -> Result<()> {
        self.adapter
            .save(projection.to_stored()?, Some(fence))
            .await
    }

    /// The projection `projector` keeps under `id`, with its typed state and
    /// metadata.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the stored state or metadata does not fit
    /// the projector's types; backend failures.
    pub async fn load<P: Projector>(
        &self,
        projector: &P,
        id: &str,
    ) -> Result<Option<Projection<P::State, P::Metadata>>> {
        typed(self.load_stored(projector.name(), id).await?)
    }

    /// The projection `projector` keeps for `source` (there is at most one),
    /// with its typed state and metadata.
    ///
    /// # Errors
    /// As [`ProjectionStore::load`].
    pub async fn locate<P: Projector>(
        &self,
        projector: &P,
        source: &EventSourceIdentifier,
    ) -> Result<Option<Projection<P::State, P::Metadata>>> {
        typed(self.locate_stored(projector.name(), source).await?)
    }

    /// One page of `projector`'s projections passing `search` (its filters,
    /// and one more on the projector's name), typed.
    ///
    /// # Errors
    /// As [`ProjectionStore::search_stored`]; [`Error::InvalidInput`] if a
    /// projection does not fit the projector's types.
    pub async fn search<P: Projector>(
        &self,
        projector: &P,
        search: &Search,
    ) -> Result<Page<Projection<P::State, P::Metadata>>> {
        let named = search.clone().filter(named(projector.name()));
        self.search_stored(&named).await?.into_typed()
    }

    /// The one projection of `projector` passing `search`'s filters, typed;
    /// `None` when none does.
    ///
    /// Only the filters decide: the search's page size and paging are
    /// ignored, and its sort order only tells which two projections an
    /// [`Error::SeveralMatches`] names. It reads at most two projections.
    ///
    /// ```
    /// use eventblocks_core::{BoxError, Error, StoredEvent, StreamIdentifier};
    /// use eventblocks_memory::MemoryProjectionStore;
    /// use eventblocks_projection::query::{Field, Filter, Search};
    /// use eventblocks_projection::{Handled, Projection, ProjectionStore, Projector};
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(Serialize, Deserialize)]
    /// struct Profile { email: String, plan: String }
    ///
    /// struct Profiles;
    ///
    /// impl Projector for Profiles {
    ///     type State = Profile;
    ///     type Metadata = ();
    ///     fn name(&self) -> &str { "profile" }
    ///     fn initial_state(&self) -> Profile {
    ///         Profile { email: String::new(), plan: "free".to_owned() }
    ///     }
    ///     fn apply(&self, _: &mut Profile, _: &StoredEvent) -> Result<Handled, BoxError> {
    ///         Ok(Handled::NoHandler)
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let store = ProjectionStore::new(MemoryProjectionStore::new());
    /// for (id, email) in [("joe", "joe@example.com"), ("ann", "ann@example.com")] {
    ///     store
    ///         .save(&Projection {
    ///             id: id.to_owned(),
    ///             name: "profile".to_owned(),
    ///             source: StreamIdentifier::new("profiles", id)?.into(),
    ///             state: Profile { email: email.to_owned(), plan: "free".to_owned() },
    ///             metadata: (),
    ///         })
    ///         .await?;
    /// }
    /// let by = |path: &str, value: &str| Search::new().filter(Filter::equal(Field::state(path), value));
    ///
    /// let joe = store.find_one(&Profiles, &by("email", "joe@example.com")).await?;
    /// assert_eq!(joe.map(|joe| joe.state.email).as_deref(), Some("joe@example.com"));
    ///
    /// let nobody = store.find_one(&Profiles, &by("email", "x@example.com")).await?;
    /// assert!(nobody.is_none());
    ///
    /// let several = store.find_one(&Profiles, &by("plan", "free")).await;
    /// assert!(matches!(several, Err(Error::SeveralMatches { .. })));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::SeveralMatches`] when more than one projection passes the
    /// filters; [`Error::InvalidInput`] for an invalid search (see
    /// [`Search::validate`]) or a projection that does not fit the types, and
    /// backend failures.
    pub async fn find_one<P: Projector>(
        &self,
        projector: &P,
        search: &Search,
    ) -> Result<Option<Projection<P::State, P::Metadata>>> {
        let named = search.clone().filter(named(projector.name()));
        typed(self.find_one_stored(&named).await?)
    }

    /// The projection `name` keeps under `id`, its state and metadata as
    /// JSON: for tools that read projections of any projector.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn load_stored(&self, name: &str, id: &str) -> Result<Option<StoredProjection>> {
        let search = Search::new()
            .filter(named(name))
            .filter(Filter::equal(Field::Id, id))
            .limit(1);
        Ok(self.search_stored(&search).await?.projections.pop())
    }

    /// The projection `name` keeps for `source`, as JSON.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn locate_stored(
        &self,
        name: &str,
        source: &EventSourceIdentifier,
    ) -> Result<Option<StoredProjection>> {
        let search = Search::new()
            .filter(named(name))
            .filter(Filter::equal(Field::Source, source))
            .limit(1);
        Ok(self.search_stored(&search).await?.projections.pop())
    }

    /// One page of the projections (of any projector) passing `search`, as
    /// JSON.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an invalid search (see
    /// [`Search::validate`]); backend failures.
    pub async fn search_stored(&self, search: &Search) -> Result<Page> {
        search.validate()?;
        self.adapter.search(search).await
    }

    /// The one projection (of any projector) passing `search`'s filters, as
    /// JSON, as [`ProjectionStore::find_one`] finds it.
    ///
    /// # Errors
    /// As [`ProjectionStore::find_one`].
    pub async fn find_one_stored(&self, search: &Search) -> Result<Option<StoredProjection>> {
        let first_two = search
            .sort_keys()
            .iter()
            .fold(Search::new().limit(2), |first_two, key| {
                first_two.sort(key.clone())
            });
        let first_two = search
            .filters()
            .iter()
            .fold(first_two, |first_two, filter| {
                first_two.filter(filter.clone())
            });
        let mut page = self.search_stored(&first_two).await?;
        match page.projections.as_slice() {
            [_, _, ..] => {
                let second = page.projections.swap_remove(1);
                let first = page.projections.swap_remove(0);
                Err(Error::SeveralMatches {
                    first: (first.name, first.id),
                    second: (second.name, second.id),
                })
            }
            _ => Ok(page.projections.pop()),
        }
    }

    /// How many projections (of any projector) pass every filter.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an invalid filter or more than
    /// [`MAX_FILTERS`](crate::query::MAX_FILTERS) filters; backend failures.
    pub async fn count(&self, filters: &[Filter]) -> Result<u64> {
        crate::query::check_filters(filters)?;
        self.adapter.count(filters).await
    }
}

/// The filter on a projector's name.
fn named(name: &str) -> Filter {
    Filter::new(Field::Name, Operator::Equal, name)
}

fn typed<State: DeserializeOwned, Metadata: DeserializeOwned>(
    stored: Option<StoredProjection>,
) -> Result<Option<Projection<State, Metadata>>> {
    stored.as_ref().map(StoredProjection::to_typed).transpose()
}
