//! What a filter or a sort looks at.

use std::fmt;

use eventblocks_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::projection::StoredProjection;
use crate::value;

/// The most segments a JSON path may have.
pub const MAX_PATH_SEGMENTS: usize = 32;

/// A field of a stored projection.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "field", content = "path", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Field {
    /// The projection's id.
    Id,
    /// The projector's name.
    Name,
    /// The event source the projection folds.
    Source,
    /// A value inside the state, by path.
    State(Vec<String>),
    /// A value inside the metadata, by path.
    Metadata(Vec<String>),
}

impl Field {
    /// A path into the state, its segments separated by dots: `"address.city"`,
    /// `"lines.0.sku"` (on an array a segment is an index; negative counts from
    /// the end).
    ///
    /// The path is checked when a search or count using the field runs,
    /// before any I/O: an empty path or segment, a NUL character, or more
    /// than [`MAX_PATH_SEGMENTS`] segments is [`Error::InvalidInput`] there
    /// (see [`Field::validate`]).
    pub fn state(path: &str) -> Self {
        Self::State(split_path(path))
    }

    /// A path into the metadata, as [`Field::state`].
    pub fn metadata(path: &str) -> Self {
        Self::Metadata(split_path(path))
    }

    /// Checks the field's path, as every search and count does before it
    /// runs.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty path or segment, a NUL character,
    /// or more than [`MAX_PATH_SEGMENTS`] segments.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::State(path) | Self::Metadata(path) => check_segments(path),
            Self::Id | Self::Name | Self::Source => Ok(()),
        }
    }

    /// Whether the field holds a string (id and name always do).
    pub(crate) fn is_text(&self) -> bool {
        matches!(self, Self::Id | Self::Name)
    }

    /// The field's value in `projection`, `None` when a path finds nothing.
    pub(crate) fn value_in(&self, projection: &StoredProjection) -> Option<Value> {
        match self {
            Self::Id => Some(Value::String(projection.id.clone())),
            Self::Name => Some(Value::String(projection.name.clone())),
            Self::Source => serde_json::to_value(&projection.source).ok(),
            Self::State(path) => value::lookup(&projection.state, path).cloned(),
            Self::Metadata(path) => value::lookup(&projection.metadata, path).cloned(),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id => f.write_str("id"),
            Self::Name => f.write_str("name"),
            Self::Source => f.write_str("source"),
            Self::State(path) => write!(f, "state.{}", path.join(".")),
            Self::Metadata(path) => write!(f, "metadata.{}", path.join(".")),
        }
    }
}

fn split_path(path: &str) -> Vec<String> {
    path.split('.').map(str::to_owned).collect()
}

fn check_segments(segments: &[String]) -> Result<()> {
    let reason = if segments.is_empty() {
        "is empty"
    } else if segments.len() > MAX_PATH_SEGMENTS {
        "has more than 32 segments"
    } else if segments.iter().any(String::is_empty) {
        "has an empty segment"
    } else if segments.iter().any(|segment| segment.contains('\0')) {
        "contains a NUL character"
    } else {
        return Ok(());
    };
    Err(Error::invalid("path", reason))
}
