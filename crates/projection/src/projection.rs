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
    /// metadata that does not serialise, that [`Json`]'s rules refuse (a NUL
    /// character, a key given twice, a number no backend can store exactly),
    /// or that a [`serde_json::Value`] cannot hold exactly (an integer beyond
    /// the ranges of `i64` and `u64`, such as a large `u128`, or a decimal
    /// that an `f64` would round; see [`Json::to_exact_value`]): what is
    /// stored must load back into the types it was saved from.
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
/// to payloads too, into a `Value` that holds exactly what was serialised.
fn storable(field: &'static str, value: &impl Serialize) -> Result<Value> {
    Json::to_json(field, value)?.to_exact_value(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use eventblocks_core::LogIdentifier;

    fn projection<State>(state: State) -> Projection<State, Value> {
        Projection {
            id: "id".to_owned(),
            name: "name".to_owned(),
            source: EventSourceIdentifier::Log(LogIdentifier),
            state,
            metadata: Value::Null,
        }
    }

    fn refusal<State: Serialize>(state: State) -> String {
        match projection(state).to_stored() {
            Err(Error::InvalidInput { field, reason }) => format!("{field}: {reason}"),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn numbers_a_value_holds_load_back_unchanged() {
        let state = (
            u128::from(u64::MAX),
            i128::from(i64::MIN),
            0.1_f64,
            f64::MAX,
            5e-324,
        );
        let stored = projection(state).to_stored().unwrap();
        let typed = stored
            .to_typed::<(u128, i128, f64, f64, f64), Value>()
            .unwrap();
        assert_eq!(typed.state, state);
    }

    #[test]
    fn integers_beyond_i64_and_u64_are_refused() {
        let reason = refusal(u128::from(u64::MAX) + 1);
        assert!(
            reason.starts_with("projection state: holds the integer 18446744073709551616"),
            "{reason}"
        );
        assert!(refusal(i128::from(i64::MIN) - 1).contains("-9223372036854775809"));
        let state = projection(0);
        let metadata = Projection {
            id: state.id,
            name: state.name,
            source: state.source,
            state: state.state,
            metadata: [u128::MAX],
        };
        match metadata.to_stored() {
            Err(Error::InvalidInput { field, .. }) => assert_eq!(field, "projection metadata"),
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    #[test]
    fn decimals_an_f64_would_round_are_refused() {
        for text in ["0.10000000000000000001", "1e-400", "9007199254740993.0"] {
            let state = Json::from_text("state", text).unwrap();
            assert!(
                refusal(&state).contains("would be kept as the f64"),
                "{text}"
            );
        }
    }

    /// A map that serialises the key `a` twice.
    struct Repeated;

    impl Serialize for Repeated {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry("a", &1)?;
            map.serialize_entry("a", &2)?;
            map.end()
        }
    }

    #[test]
    fn the_event_rules_apply() {
        assert!(refusal(Repeated).contains("\"a\" more than once"));
        assert!(refusal(serde_json::json!({"a\u{0}": 1})).contains("NUL"));
    }
}
