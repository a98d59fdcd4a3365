//! The in-memory projection store (feature `projections`, on by default).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use eventblocks_core::{Error, EventSourceIdentifier, Fence, Name, Result};
use eventblocks_projection::query::{Cursor, Filter, Page, Paging, Search};
use eventblocks_projection::{ProjectionStorageAdapter, StoredProjection};
use parking_lot::RwLock;

/// Projections in memory, beside [`MemoryCheckpointStore`](crate::MemoryCheckpointStore)
/// and [`MemoryLeases`](crate::MemoryLeases): for tests, prototypes and
/// single-process applications. Use it through an
/// [`eventblocks_projection::ProjectionStore`]. Searches scan every
/// projection.
#[derive(Debug, Clone, Default)]
pub struct MemoryProjectionStore {
    projections: Arc<RwLock<Projections>>,
}

/// The projections by name and id, the id each (name, source) has, and the
/// newest fencing token seen per partition: one lock over all three, so a
/// save checks its fence and replaces its source's projection in one step.
#[derive(Debug, Default)]
struct Projections {
    by_id: BTreeMap<(String, String), StoredProjection>,
    ids: HashMap<(String, EventSourceIdentifier), String>,
    fences: HashMap<(Name, u32), u64>,
}

impl Projections {
    fn values(&self) -> impl Iterator<Item = &StoredProjection> {
        self.by_id.values()
    }

    /// Saves `projection` unless `fence` is older than the newest token seen
    /// for its partition or its id names another source's projection; the
    /// token is kept only if the save is made.
    fn save(&mut self, projection: StoredProjection, fence: Option<&Fence>) -> Result<()> {
        let newest = fence.map(|fence| self.admit(fence)).transpose()?;
        let key = (projection.name.clone(), projection.id.clone());
        if self
            .by_id
            .get(&key)
            .is_some_and(|stored| stored.source != projection.source)
        {
            return Err(Error::invalid(
                "projection id",
                "already names the projection of another source of the same projector",
            ));
        }
        if let Some((partition, newest)) = newest {
            self.fences.insert(partition, newest);
        }
        self.replace(key, projection);
        Ok(())
    }

    /// The partition of `fence` and the newest token to keep for it, unless
    /// `fence` is older than the newest seen.
    fn admit(&self, fence: &Fence) -> Result<((Name, u32), u64)> {
        let partition = (fence.consumer().clone(), fence.partition());
        let newest = fence.admit(self.fences.get(&partition).copied())?;
        Ok((partition, newest))
    }

    /// Replaces the projection of the same name and source, whatever its id.
    fn replace(&mut self, key: (String, String), projection: StoredProjection) {
        let source = (projection.name.clone(), projection.source.clone());
        if let Some(old_id) = self.ids.insert(source, projection.id.clone()) {
            self.by_id.remove(&(projection.name.clone(), old_id));
        }
        self.by_id.insert(key, projection);
    }
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
    async fn save(&self, projection: StoredProjection, fence: Option<&Fence>) -> Result<()> {
        self.projections.write().save(projection, fence)
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
            other => {
                return Err(Error::Unsupported {
                    what: format!("paging {other:?}").into(),
                })
            }
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
