//! The projection store: where projections are kept, found and searched.

use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::{EventSourceIdentifier, Fence, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;
use crate::projection::{Projection, StoredProjection};
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

/// The facade applications use: typed saves and loads, searches.
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
    /// use eventblocks_projection::{MemoryProjectionStore, Projection, ProjectionStore};
    /// use serde_json::{json, Value};
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
    /// let kept: Option<Projection<Value, Value>> = store.load("totals", "order").await?;
    /// assert_eq!(kept, Some(order("order-1", 3)?));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`eventblocks_core::Error::InvalidInput`] if it cannot be stored (see
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
    /// use eventblocks_projection::{MemoryProjectionStore, Projection, ProjectionStore};
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
    /// [`eventblocks_core::Error::Fenced`] if `fence` is older than the newest
    /// token seen for its partition; as [`ProjectionStore::save`].
    pub async fn save_fenced<State: Serialize, Metadata: Serialize>(
        &self,
        projection: &Projection<State, Metadata>,
        fence: &Fence,
    ) -> Result<()> {
        self.adapter
            .save(projection.to_stored()?, Some(fence))
            .await
    }

    /// The projection `name` keeps under `id`.
    ///
    /// # Errors
    /// [`eventblocks_core::Error::InvalidInput`] if it does not fit the types;
    /// backend failures.
    pub async fn load<State: DeserializeOwned, Metadata: DeserializeOwned>(
        &self,
        name: &str,
        id: &str,
    ) -> Result<Option<Projection<State, Metadata>>> {
        let search = Search::new()
            .filter(Filter::new(Field::Name, Operator::Equal, name)?)
            .filter(Filter::new(Field::Id, Operator::Equal, id)?)
            .limit(1);
        self.first(search).await
    }

    /// The projection `name` keeps for `source` (there is at most one).
    ///
    /// # Errors
    /// As [`ProjectionStore::load`].
    pub async fn locate<State: DeserializeOwned, Metadata: DeserializeOwned>(
        &self,
        source: &EventSourceIdentifier,
        name: &str,
    ) -> Result<Option<Projection<State, Metadata>>> {
        let search = Search::new()
            .filter(Filter::new(Field::Name, Operator::Equal, name)?)
            .filter(Filter::new(Field::Source, Operator::Equal, source)?)
            .limit(1);
        self.first(search).await
    }

    /// The one projection passing `search`'s filters, `None` when none does.
    ///
    /// Only the filters decide: the search's page size and paging are
    /// ignored, and its sort order only tells which two projections an
    /// [`Error::SeveralMatches`] names. It reads at most two projections.
    ///
    /// ```
    /// use eventblocks_core::StreamIdentifier;
    /// use eventblocks_projection::query::{Field, Filter, Operator, Search};
    /// use eventblocks_projection::{Error, MemoryProjectionStore, Projection, ProjectionStore};
    /// use serde_json::{json, Value};
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
    ///             state: json!({ "email": email, "plan": "free" }),
    ///             metadata: json!({}),
    ///         })
    ///         .await?;
    /// }
    /// let by = |path: &str, value: &str| -> eventblocks_core::Result<Search> {
    ///     Ok(Search::new().filter(Filter::new(Field::state(path)?, Operator::Equal, value)?))
    /// };
    ///
    /// let joe = store
    ///     .find_one::<Value, Value>(&by("email", "joe@example.com")?)
    ///     .await?;
    /// assert_eq!(joe.map(|joe| joe.id).as_deref(), Some("joe"));
    ///
    /// let nobody = store.find_one::<Value, Value>(&by("email", "x@example.com")?).await?;
    /// assert!(nobody.is_none());
    ///
    /// let several = store.find_one::<Value, Value>(&by("plan", "free")?).await;
    /// assert!(matches!(several, Err(Error::SeveralMatches { .. })));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`Error::SeveralMatches`] when more than one projection passes the
    /// filters; [`Error::Store`] holding
    /// [`eventblocks_core::Error::InvalidInput`] for an invalid search (see
    /// [`Search::validate`]) or a projection that does not fit the types, and
    /// backend failures.
    pub async fn find_one<State: DeserializeOwned, Metadata: DeserializeOwned>(
        &self,
        search: &Search,
    ) -> crate::Result<Option<Projection<State, Metadata>>> {
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
        let page = self.search(&first_two).await?;
        match page.projections.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.to_typed()?)),
            [first, second, ..] => Err(Error::SeveralMatches {
                first: (first.name.clone(), first.id.clone()),
                second: (second.name.clone(), second.id.clone()),
            }),
        }
    }

    async fn first<State: DeserializeOwned, Metadata: DeserializeOwned>(
        &self,
        search: Search,
    ) -> Result<Option<Projection<State, Metadata>>> {
        let page = self.search(&search).await?;
        page.projections
            .first()
            .map(StoredProjection::to_typed)
            .transpose()
    }

    /// One page of a search.
    ///
    /// # Errors
    /// [`eventblocks_core::Error::InvalidInput`] for an invalid search (see
    /// [`Search::validate`]); backend failures.
    pub async fn search(&self, search: &Search) -> Result<Page> {
        search.validate()?;
        self.adapter.search(search).await
    }

    /// How many projections pass every filter.
    ///
    /// # Errors
    /// [`eventblocks_core::Error::InvalidInput`] for more than
    /// [`MAX_FILTERS`](crate::query::MAX_FILTERS) filters; backend failures.
    pub async fn count(&self, filters: &[Filter]) -> Result<u64> {
        crate::query::check_filters(filters)?;
        self.adapter.count(filters).await
    }
}
