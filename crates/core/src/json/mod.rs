//! Validated JSON documents, as stored in event payloads and metadata.

mod check;
mod equality;
mod number;

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::{self, DeserializeOwned};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{Error, Result};

/// A JSON document that every adapter stores and gives back as the same value.
///
/// It holds the JSON text (cheap to clone: a reference count), so numbers keep
/// every digit they were given. The text is checked once, on its way in
/// ([`Json::from_text`], [`Json::to_json`], deserialisation); what a backend
/// gives back ([`Json::from_stored`]) is not parsed again until it is read.
///
/// # What is accepted
///
/// Construction refuses, as [`Error::InvalidInput`] on the field named, what
/// some backend could not store or could not give back as the same value, so
/// that every adapter accepts exactly the same documents:
/// - a NUL character (`\u0000`) in any string or key (PostgreSQL's `jsonb`
///   refuses it);
/// - a key given twice in one object (backends disagree on which member
///   survives);
/// - a number whose magnitude is beyond the range of an `f64` (it rounds to
///   infinity, such as `1e400` or a 400-digit integer), so every accepted
///   document decodes into a [`serde_json::Value`]; tiny numbers such as
///   `1e-400` are accepted (they decode to `0.0`);
/// - a number with more than 16383 digits after the decimal point once written
///   out without its exponent, trailing zeros included (`1e-16383` is
///   accepted; `1e-16384`, `1.0e-16383` and `0e-20000` are not), or with an
///   exponent of 1073741823 or more in magnitude (even `0e1073741823`): the
///   limits of PostgreSQL's `numeric`, which holds `jsonb` numbers.
///
/// # What comes back
///
/// A stored document comes back as the same value, not always as the same
/// text: a backend may change white space and member order, or spell a
/// number differently (a projection store on PostgreSQL's `jsonb` writes every
/// number out in full without an exponent, `1e2` as `100` and `f64::MAX` as a
/// 309-digit integer, and `-0` as `0`; the event adapters of this project keep
/// payloads and metadata as the text given). Every spelling decodes into the
/// type the value was encoded from: an `f64` comes back as the same `f64` (a
/// negative zero as a zero, which compares equal), an integer as the same
/// integer. Exact decoding of long decimals needs serde_json's
/// `float_roundtrip` feature, which this crate enables; Cargo unifies
/// features, so every crate of a build that uses `eventblocks-core` parses
/// floats with it (correctly rounded, a little more slowly). A
/// [`serde_json::Value`] may hold an integer where an `f64` was given (`1e16`
/// respelt as `10000000000000000`); [`Json`]'s equality treats them as one
/// value.
///
/// # Equality
///
/// Two documents are equal when they hold the same JSON value: numbers by
/// exact decimal value (`1e2`, `100`, `100.0` and `1.00E+2` are equal; `-0`
/// equals `0`; `9007199254740993` does not equal `9007199254740992`), object
/// members in any order, strings after unescaping, white space ignored. This
/// is the comparison idempotent retries use on every adapter.
///
/// ```
/// use eventblocks_core::Json;
///
/// let given = Json::from_text("payload", r#"{"amount": 1e2, "fee": -0}"#)?;
/// let stored = Json::from_text("payload", r#"{"fee": 0, "amount": 100}"#)?;
/// assert_eq!(given, stored);
/// assert!(Json::from_text("payload", r#"{"a": 1, "a": 2}"#).is_err());
/// assert!(Json::from_text("payload", "1e-16384").is_err());
/// # Ok::<(), eventblocks_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Json(Arc<str>);

impl Json {
    /// Serialises `value` into a document.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `field` if `value` cannot be serialised to JSON or
    /// breaks the rules above.
    pub fn to_json<T: Serialize + ?Sized>(field: &'static str, value: &T) -> Result<Self> {
        let raw = serde_json::value::to_raw_value(value)
            .map_err(|error| Error::invalid(field, format!("cannot be serialised: {error}")))?;
        Self::checked(field, &raw)
    }

    /// Parses and checks JSON text.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `field` if `text` is not JSON or breaks the rules above.
    pub fn from_text(field: &'static str, text: impl Into<String>) -> Result<Self> {
        let raw = RawValue::from_string(text.into())
            .map_err(|error| Error::invalid(field, format!("is not valid JSON: {error}")))?;
        Self::checked(field, &raw)
    }

    /// Wraps JSON text that a storage backend returned, without the checks made on
    /// input and without parsing it: it was checked when it was stored, and
    /// parsing every payload of a scan again would cost more than reading it.
    /// Text that is not JSON (a damaged store) fails where it is read, in
    /// [`Json::deserialize`] and the like.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if `text` is empty, which no JSON document is.
    ///
    /// `text` may be borrowed (`&str`, copied once into the value) or owned.
    pub fn from_stored(text: impl Into<Arc<str>>) -> Result<Self> {
        let text = text.into();
        if text.trim().is_empty() {
            return Err(Error::corrupt("stored JSON is empty"));
        }
        Ok(Self(text))
    }

    /// The empty object `{}`, shared by every caller.
    pub fn empty_object() -> Self {
        static EMPTY: OnceLock<Json> = OnceLock::new();
        EMPTY.get_or_init(|| Self(Arc::from("{}"))).clone()
    }

    fn checked(field: &'static str, raw: &RawValue) -> Result<Self> {
        match check::refusal(raw.get()) {
            Some(reason) => Err(Error::invalid(field, reason)),
            None => Ok(Self(Arc::from(raw.get()))),
        }
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
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
    /// Integers beyond the range of `i64`/`u64` become `f64` in a `Value`, and
    /// so do decimals, rounded; use [`Json::as_str`], [`Json::deserialize`]
    /// into your own type, or [`Json::to_exact_value`] to keep them.
    pub fn to_value(&self) -> Value {
        serde_json::from_str(self.as_str()).unwrap_or(Value::Null)
    }

    /// The document as a [`serde_json::Value`] that holds exactly the same
    /// value, for callers that keep documents as `Value`s.
    ///
    /// ```
    /// use eventblocks_core::Json;
    ///
    /// let fits = Json::from_text("state", r#"{"count": 18446744073709551615, "ratio": 0.1}"#)?;
    /// assert!(fits.to_exact_value("state").is_ok());
    /// let too_big = Json::from_text("state", "18446744073709551616")?;
    /// assert!(too_big.to_exact_value("state").is_err());
    /// # Ok::<(), eventblocks_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `field` if a `Value` cannot hold a number of
    /// the document exactly: an integer beyond the ranges of `i64` and `u64`
    /// (it would become an `f64`, losing digits, and no longer decode into an
    /// integer type), or a number with a fraction or exponent whose nearest
    /// `f64` has another value (`0.10000000000000000001`, `1e-400`).
    pub fn to_exact_value(&self, field: &'static str) -> Result<Value> {
        match number::number_tokens(self.as_str()).find_map(number::value_refusal) {
            Some(reason) => Err(Error::invalid(field, reason)),
            None => Ok(self.to_value()),
        }
    }
}

impl PartialEq for Json {
    fn eq(&self, other: &Self) -> bool {
        equality::same_value(self.as_str(), other.as_str())
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
        // Written out as the JSON it holds, not as a string of it.
        RawValue::from_string(self.0.to_string())
            .map_err(serde::ser::Error::custom)?
            .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        Json::checked("json", &raw).map_err(de::Error::custom)
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
    fn rejects_what_a_backend_cannot_store_and_bad_text() {
        for text in [
            "[1e400]",
            "1e-16384",
            "0e1073741823",
            r#"{"a":1,"a":1}"#,
            "{",
        ] {
            let error = Json::from_text("payload", text).unwrap_err();
            assert!(
                error.to_string().starts_with("invalid payload: "),
                "{error}"
            );
        }
        let error = Json::to_json("metadata", &json!({"n": [1, {"k": 1e300}]})).map(drop);
        assert!(error.is_ok(), "{error:?}");
    }

    #[test]
    fn equality_is_by_exact_value() {
        let a = Json::from_text("p", r#"{"a": 1e2, "b": [true, null, -0]}"#).unwrap();
        let b = Json::from_text("p", r#"{"b":[true,null,0],"a":100.0}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, Json::empty_object());
        assert!(Json::empty_object().is_object());
        let near = |text: &str| Json::from_text("p", text).unwrap();
        assert_ne!(near("9007199254740993"), near("9007199254740992"));
        assert_eq!(
            near("18446744073709551617123"),
            near("1.8446744073709551617123e22")
        );
    }

    #[test]
    fn long_plain_decimals_decode_to_the_same_f64() {
        // How PostgreSQL writes f64::MAX and the smallest subnormal back.
        let max = format!("17976931348623157{}", "0".repeat(292));
        let tiny = format!("0.{}5", "0".repeat(323));
        for (text, expected) in [(max, f64::MAX), (tiny, 5e-324)] {
            let json = Json::from_stored(text).unwrap();
            assert_eq!(
                json.deserialize::<f64>().unwrap().to_bits(),
                expected.to_bits()
            );
            assert_eq!(json.to_value().as_f64(), Some(expected));
        }
    }

    #[test]
    fn exact_values_keep_every_number_or_refuse() {
        let json = Json::from_text(
            "state",
            r#"{"n":[-9223372036854775808,18446744073709551615,0.1]}"#,
        );
        let value = json.unwrap().to_exact_value("state").unwrap();
        assert_eq!(value, json!({"n": [i64::MIN, u64::MAX, 0.1]}));
        for lost in [
            "[18446744073709551616]",
            r#"{"x":0.10000000000000000001}"#,
            "1e-400",
        ] {
            let json = Json::from_text("state", lost).unwrap();
            let error = json.to_exact_value("state").unwrap_err();
            assert!(
                error.to_string().starts_with("invalid state: holds the"),
                "{error}"
            );
        }
    }
}
