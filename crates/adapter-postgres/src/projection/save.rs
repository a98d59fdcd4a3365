//! Saving a projection: one statement that replaces the projection of its
//! name and source, checking the fence of the lease it is saved under.

use eventblocks_core::{Error, Fence, Result, WriteOutcome};
use eventblocks_projection::StoredProjection;
use serde_json::Value;
use tokio_postgres::types::ToSql;

use super::PostgresProjectionStore;
use crate::error;
use crate::fence::FenceParameters;
use crate::names::Names;

/// A projection as the save statement's first five parameters.
pub(crate) struct ProjectionParameters<'a> {
    projection: &'a StoredProjection,
    source: Value,
}

impl<'a> ProjectionParameters<'a> {
    /// # Errors
    /// [`Error::InvalidInput`] if the source does not serialise.
    pub(crate) fn new(projection: &'a StoredProjection) -> Result<Self> {
        let source = serde_json::to_value(&projection.source)
            .map_err(|e| Error::invalid("projection source", e.to_string()))?;
        Ok(Self { projection, source })
    }

    /// The save statement's parameters, with `fence`'s.
    pub(crate) fn with<'b>(
        &'b self,
        fence: &'b FenceParameters<'b>,
    ) -> [&'b (dyn ToSql + Sync); 8] {
        let [consumer, partition, token] = fence.parameters();
        [
            &self.projection.name,
            &self.projection.id,
            &self.source,
            &self.projection.state,
            &self.projection.metadata,
            consumer,
            partition,
            token,
        ]
    }
}

/// The name PostgreSQL reports for the projections' primary key.
pub(crate) fn primary_key(names: &Names) -> String {
    names.constraint("_projections_pkey")
}

/// Maps a failed save: an id that already names another source's
/// projection (a violation of `primary_key`) is the caller's to fix.
pub(crate) fn failed(error: tokio_postgres::Error, primary_key: &str) -> Error {
    if error::violates(&error, primary_key) {
        return Error::invalid(
            "projection id",
            "already names the projection of another source of the same projector",
        );
    }
    error::database(error, "saving a projection", WriteOutcome::Unknown)
}

impl PostgresProjectionStore {
    pub(super) async fn save_stored(
        &self,
        projection: &StoredProjection,
        fence: Option<&Fence>,
    ) -> Result<()> {
        let saved = ProjectionParameters::new(projection)?;
        let fenced = FenceParameters::new(fence)?;
        let client = error::pooled(&self.adapter.inner.pool).await?;
        let statement = client
            .prepare_cached(&self.sql().projections.save)
            .await
            .map_err(|e| {
                error::database(e, "preparing a projection save", WriteOutcome::NotWritten)
            })?;
        let row = match client.query_one(&statement, &saved.with(&fenced)).await {
            Ok(row) => row,
            Err(e) => {
                error::release(client, &e);
                return Err(failed(e, &primary_key(&self.adapter.inner.names)));
            }
        };
        let admitted: bool = row.get(0);
        match fence {
            Some(fence) if !admitted => Err(self.sql().fences.refusal(&client, fence).await),
            _ => Ok(()),
        }
    }
}
