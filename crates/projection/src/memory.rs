//! The in-memory projection store.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::Result;
use parking_lot::RwLock;

use crate::projection::StoredProjection;
use crate::query::{Cursor, Filter, Page, Paging, Search};
use crate::store::ProjectionStorageAdapter;

/// Projections in memory: for tests, prototypes and single-process
/// applications. Searches scan every projection.
#[derive(Debug, Clone, Default)]
pub struct MemoryProjectionStore {
    projections: Arc<RwLock<BTreeMap<(String, String), StoredProjection>>>,
}

impl MemoryProjectionStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The sorted projections passing `search`'s filters, with their cursors.
    fn matching(&self, search: &Search) -> Vec<(Cursor, StoredProjection)> {
        let projections = self.projections.read();
        let mut found: Vec<(Cursor, StoredProjection)> = projections
            .values()
            .filter(|projection| search.matches(projection))
            .map(|projection| {
                (
                    Cursor::of(projection, search.sort_keys()),
                    projection.clone(),
                )
            })
            .collect();
        found.sort_by(|(left, _), (right, _)| search.order(left, right));
        found
    }
}

#[async_trait]
impl ProjectionStorageAdapter for MemoryProjectionStore {
    async fn save(&self, projection: StoredProjection) -> Result<()> {
        let key = (projection.name.clone(), projection.id.clone());
        self.projections.write().insert(key, projection);
        Ok(())
    }

    async fn search(&self, search: &Search) -> Result<Page> {
        let found = self.matching(search);
        let wanted = search.page_size() as usize + 1;
        let rows: Vec<StoredProjection> = match search.paging() {
            Paging::Offset(offset) => found
                .into_iter()
                .skip(usize::try_from(*offset).unwrap_or(usize::MAX))
                .take(wanted)
                .map(|(_, projection)| projection)
                .collect(),
            Paging::After(cursor) => found
                .into_iter()
                .filter(|(key, _)| cursor.as_ref().is_none_or(|c| search.order(key, c).is_gt()))
                .take(wanted)
                .map(|(_, projection)| projection)
                .collect(),
            Paging::Before(cursor) => found
                .into_iter()
                .rev()
                .filter(|(key, _)| search.order(key, cursor).is_lt())
                .take(wanted)
                .map(|(_, projection)| projection)
                .collect(),
        };
        Ok(Page::from_rows(search, rows))
    }

    async fn count(&self, filters: &[Filter]) -> Result<u64> {
        let projections = self.projections.read();
        let count = projections
            .values()
            .filter(|projection| filters.iter().all(|filter| filter.matches(projection)))
            .count();
        Ok(count as u64)
    }
}
