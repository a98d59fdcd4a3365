//! Validated JSON documents, as stored in event payloads and metadata.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{Error, Result};

/// A JSON document that every adapter can store unchanged.
///
/// It holds the JSON text (cheap to clone: a reference count), so numbers keep
/// every digit they were given. Construction rejects what a storage backend could
/// not keep exactly: a NUL character in any string or key (PostgreSQL's `jsonb`
/// refuses it) and numbers beyond the range of an `f64` such as `1e400`.
///
/// Two documents are equal when they hold the same JSON value, whatever their
/// white space or key order.
#[derive(Clone)]
pub struct Json(Arc<RawValue>);

impl Json {
    /// Serialises `value` into a document.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `field` if `value` cannot be serialised to JSON or
    /// breaks the rules above.
    pub fn to_json<T: Serialize + ?Sized>(field: &'static str, value: &T) -> Result<Self> {
        let raw = serde_json::value::to_raw_value(value)
            .map_err(|error| Error::invalid(field, format!("cannot be serialised: {error}")))?;
        Self::checked(field, raw)
    }

    /// Parses and checks JSON text.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `field` if `text` is not JSON or breaks the rules above.
    pub fn from_text(field: &'static str, text: impl Into<String>) -> Result<Self> {
        let raw = RawValue::from_string(text.into())
            .map_err(|error| Error::invalid(field, format!("is not valid JSON: {error}")))?;
        Self::checked(field, raw)
    }

    /// Wraps JSON text that a storage backend returned, without the checks made on
    /// input.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if `text` is not JSON.
    pub fn from_stored(text: String) -> Result<Self> {
        RawValue::from_string(text)
            .map(|raw| Self(Arc::from(raw)))
            .map_err(|error| Error::corrupt(format!("stored JSON does not parse: {error}")))
    }

    /// The empty object `{}`, shared by every caller.
    pub fn empty_object() -> Self {
        static EMPTY: OnceLock<Json> = OnceLock::new();
        EMPTY
            .get_or_init(|| {
                Self(Arc::from(
                    RawValue::from_string("{}".to_owned()).unwrap_or_else(|_| unreachable!()),
                ))
            })
            .clone()
    }

    fn checked(field: &'static str, raw: Box<RawValue>) -> Result<Self> {
        serde_json::from_str::<StorableJson>(raw.get())
            .map_err(|error| Error::invalid(field, error.to_string()))?;
        Ok(Self(Arc::from(raw)))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.0.get()
    }

    /// Whether the document is a JSON object.
    pub fn is_object(&self) -> bool {
        self.as_str().trim_start().starts_with('{')
    }

    /// Deserialises the document into `T`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `payload`) if the document does not fit `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_str(self.as_str()).map_err(|error| {
            Error::invalid(
                "payload",
                format!("does not fit the requested type: {error}"),
            )
        })
    }

    /// The document as a [`serde_json::Value`].
    ///
    /// Integers beyond the range of `i64`/`u64` become `f64` in a `Value`; use
    /// [`Json::as_str`] or [`Json::deserialize`] into your own type to keep them.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.as_str()).unwrap_or(Value::Null)
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str() || self.to_value() == other.to_value()
    }
}

impl Eq for Json {}

impl fmt::Debug for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Json {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Json::checked("json", raw).map_err(de::Error::custom)
    }
}

/// Walks a document and fails on what a backend cannot store exactly.
struct StorableJson;

impl<'de> Deserialize<'de> for StorableJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_any(StorableVisitor)
    }
}

struct StorableVisitor;

fn reject_nul<E: de::Error>(value: &str) -> std::result::Result<StorableJson, E> {
    if value.contains('\0') {
        Err(E::custom(
            "contains a NUL character (\\u0000), which cannot be stored",
        ))
    } else {
        Ok(StorableJson)
    }
}

impl<'de> Visitor<'de> for StorableVisitor {
    type Value = StorableJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> std::result::Result<StorableJson, E> {
        Ok(StorableJson)
    }

    fn visit_i64<E>(self, _: i64) -> std::result::Result<StorableJson, E> {
        Ok(StorableJson)
    }

    fn visit_u64<E>(self, _: u64) -> std::result::Result<StorableJson, E> {
        Ok(StorableJson)
    }

    fn visit_f64<E>(self, _: f64) -> std::result::Result<StorableJson, E> {
        Ok(StorableJson)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> std::result::Result<StorableJson, E> {
        reject_nul(value)
    }

    fn visit_unit<E>(self) -> std::result::Result<StorableJson, E> {
        Ok(StorableJson)
    }

    fn visit_seq<A: SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<StorableJson, A::Error> {
        while seq.next_element::<StorableJson>()?.is_some() {}
        Ok(StorableJson)
    }

    fn visit_map<A: MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<StorableJson, A::Error> {
        while map.next_key::<KeyCheck>()?.is_some() {
            map.next_value::<StorableJson>()?;
        }
        Ok(StorableJson)
    }
}

/// A map key, checked for NUL like any other string.
struct KeyCheck;

impl<'de> Deserialize<'de> for KeyCheck {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let key = std::borrow::Cow::<str>::deserialize(deserializer)?;
        if key.contains('\0') {
            return Err(de::Error::custom(
                "has a key containing a NUL character (\\u0000), which cannot be stored",
            ));
        }
        Ok(KeyCheck)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_big_integers_exactly() {
        let text = r#"{"big":18446744073709551617123}"#;
        let json = Json::from_text("payload", text).unwrap();
        assert_eq!(json.as_str(), text);
    }

    #[test]
    fn rejects_nul_in_strings_and_keys() {
        let error = Json::to_json("payload", &json!({"a": ["x\u{0}y"]})).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("invalid payload: contains a NUL"),
            "{error}"
        );
        let error = Json::to_json("metadata", &json!({"a\u{0}": 1})).unwrap_err();
        assert!(
            error.to_string().contains("key containing a NUL"),
            "{error}"
        );
        // An escaped backslash followed by "u0000" is not a NUL.
        assert!(Json::from_text("payload", r#"{"a":"\\u0000"}"#).is_ok());
    }

    #[test]
    fn rejects_numbers_out_of_range_and_bad_text() {
        assert!(Json::from_text("payload", "[1e400]").is_err());
        assert!(Json::from_text("payload", "{").is_err());
    }

    #[test]
    fn equality_is_by_value() {
        let a = Json::from_text("p", r#"{"a": 1, "b": [true, null]}"#).unwrap();
        let b = Json::from_text("p", r#"{"b":[true,null],"a":1}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, Json::empty_object());
        assert!(Json::empty_object().is_object());
    }
}
