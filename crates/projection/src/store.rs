//! The projection store: where projections are kept, found and searched.

use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::{EventSourceIdentifier, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::projection::{Projection, StoredProjection};
use crate::query::{Field, Filter, Operator, Page, Search};

/// What a projection storage backend implements. Searches arrive validated
/// ([`Search::validate`], and [`crate::query::check_filters`] for counts); every adapter must give the results the query
/// language defines (see [`crate::query`]), which the testkit's projection
/// suite checks.
///
/// # Contract
/// - [`ProjectionStorageAdapter::save`] inserts, or replaces the projection with
///   the same name and id.
/// - [`ProjectionStorageAdapter::search`] returns the page of projections passing
///   every filter, in the search's total order; it reads at most one projection
///   beyond the page to tell whether another page follows (see
///   [`Page::from_rows`]).
/// - [`ProjectionStorageAdapter::count`] counts the projections passing every
///   filter.
#[async_trait]
pub trait ProjectionStorageAdapter: Send + Sync + std::fmt::Debug + 'static {
    /// Inserts or replaces a projection.
    ///
    /// # Errors
    /// Backend failures.
    async fn save(&self, projection: StoredProjection) -> Result<()>;

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

#[async_trait]
impl<T: ProjectionStorageAdapter + ?Sized> ProjectionStorageAdapter for Arc<T> {
    async fn save(&self, projection: StoredProjection) -> Result<()> {
        (**self).save(projection).await
    }

    async fn search(&self, search: &Search) -> Result<Page> {
        (**self).search(search).await
    }

    async fn count(&self, filters: &[Filter]) -> Result<u64> {
        (**self).count(filters).await
    }
}

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

    /// Saves `projection`, replacing the one with the same name and id.
    ///
    /// # Errors
    /// [`eventblocks_core::Error::InvalidInput`] if it cannot be stored (see
    /// [`Projection::to_stored`]); backend failures.
    pub async fn save<State: Serialize, Metadata: Serialize>(
        &self,
        projection: &Projection<State, Metadata>,
    ) -> Result<()> {
        self.adapter.save(projection.to_stored()?).await
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

    /// The projection `name` keeps for `source`.
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
