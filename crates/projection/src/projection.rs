//! Projections: the state a projector folded from a source, with its metadata.

use eventblocks_core::{Error, EventSourceIdentifier, Json, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a projector made of a source's events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projection<State, Metadata> {
    /// Identifies the projection among those of its projector.
    pub id: String,
    /// The projector's name.
    pub name: String,
    /// The events folded.
    pub source: EventSourceIdentifier,
    /// The folded state.
    pub state: State,
    /// Bookkeeping about the fold, e.g. the last sequence number applied.
    pub metadata: Metadata,
}

/// A projection as the projection store keeps it: state and metadata as JSON.
pub type StoredProjection = Projection<Value, Value>;

impl<State: Serialize, Metadata: Serialize> Projection<State, Metadata> {
    /// The projection with its state and metadata as JSON, checked to be
    /// storable by every adapter.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty or NUL-holding id or name, state or
    /// metadata that does not serialise, holds a NUL character or a number
    /// beyond `f64`.
    pub fn to_stored(&self) -> Result<StoredProjection> {
        check_text("projection id", &self.id)?;
        check_text("projection name", &self.name)?;
        Ok(StoredProjection {
            id: self.id.clone(),
            name: self.name.clone(),
            source: self.source.clone(),
            state: storable("projection state", &self.state)?,
            metadata: storable("projection metadata", &self.metadata)?,
        })
    }
}

impl StoredProjection {
    /// The projection with its state and metadata deserialised.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the state or metadata does not fit the types.
    pub fn to_typed<State: DeserializeOwned, Metadata: DeserializeOwned>(
        &self,
    ) -> Result<Projection<State, Metadata>> {
        let fit = |field: &'static str, error: serde_json::Error| {
            Error::invalid(field, format!("does not fit the requested type: {error}"))
        };
        Ok(Projection {
            id: self.id.clone(),
            name: self.name.clone(),
            source: self.source.clone(),
            state: State::deserialize(&self.state).map_err(|e| fit("projection state", e))?,
            metadata: Metadata::deserialize(&self.metadata)
                .map_err(|e| fit("projection metadata", e))?,
        })
    }
}

fn check_text(field: &'static str, text: &str) -> Result<()> {
    if text.is_empty() {
        return Err(Error::invalid(field, "is empty"));
    }
    if text.contains('\0') {
        return Err(Error::invalid(field, "contains a NUL character"));
    }
    Ok(())
}

/// Serialises through core's [`Json`] checks, which every event adapter applies
/// to payloads too.
fn storable(field: &'static str, value: &impl Serialize) -> Result<Value> {
    Ok(Json::to_json(field, value)?.to_value())
}
