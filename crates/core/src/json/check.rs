//! The checks a document passes before any adapter sees it: what one backend
//! could not store, or could not give back as the same value, is refused for
//! all, so every adapter accepts exactly the same documents.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use super::number::{number_tokens, Number, EXPONENT_LIMIT, MAX_FRACTION_DIGITS};

/// Why `text` (valid JSON) cannot be stored, if it cannot.
pub(super) fn refusal(text: &str) -> Option<String> {
    if let Err(error) = serde_json::from_str::<Storable>(text) {
        return Some(error.to_string());
    }
    number_tokens(text).find_map(number_refusal)
}

/// Why a number token cannot be stored exactly, if it cannot. The range of an
/// `f64` is checked by the walk in [`Storable`] (serde_json refuses what
/// rounds to infinity), so every document decodes into a `serde_json::Value`.
fn number_refusal(token: &str) -> Option<String> {
    let Some(number) = Number::parse(token) else {
        return Some(format!("holds {token:?}, which is not a JSON number"));
    };
    if number.exponent_magnitude() >= EXPONENT_LIMIT {
        return Some(format!(
            "holds the number {number}, whose exponent is beyond ±{}, which cannot be stored",
            EXPONENT_LIMIT - 1
        ));
    }
    if number.fraction_digits() > MAX_FRACTION_DIGITS {
        return Some(format!(
            "holds the number {number}, which has more than {MAX_FRACTION_DIGITS} digits after \
             the decimal point when written without an exponent (trailing zeros count), \
             which cannot be stored exactly"
        ));
    }
    None
}

/// Walks a document and fails on a NUL character in a string or key, a key
/// given twice in one object, or a number beyond the range of an `f64`.
struct Storable;

impl<'de> Deserialize<'de> for Storable {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StorableVisitor)
    }
}

struct StorableVisitor;

fn reject_nul<E: de::Error>(value: &str) -> Result<Storable, E> {
    if value.contains('\0') {
        Err(E::custom(
            "contains a NUL character (\\u0000), which cannot be stored",
        ))
    } else {
        Ok(Storable)
    }
}

impl<'de> Visitor<'de> for StorableVisitor {
    type Value = Storable;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Storable, E> {
        Ok(Storable)
    }

    fn visit_i64<E>(self, _: i64) -> Result<Storable, E> {
        Ok(Storable)
    }

    fn visit_u64<E>(self, _: u64) -> Result<Storable, E> {
        Ok(Storable)
    }

    fn visit_f64<E>(self, _: f64) -> Result<Storable, E> {
        Ok(Storable)
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Storable, E> {
        reject_nul(value)
    }

    fn visit_unit<E>(self) -> Result<Storable, E> {
        Ok(Storable)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Storable, A::Error> {
        while seq.next_element::<Storable>()?.is_some() {}
        Ok(Storable)
    }

    /// Backends disagree on a repeated key (PostgreSQL's `jsonb` keeps the
    /// last, text keeps both, serde's derived types refuse it), so it is
    /// refused before any of them sees it.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Storable, A::Error> {
        let mut seen = HashSet::new();
        while let Some(Key(key)) = map.next_key()? {
            if key.contains('\0') {
                return Err(de::Error::custom(
                    "has a key containing a NUL character (\\u0000), which cannot be stored",
                ));
            }
            map.next_value::<Storable>()?;
            if let Some(key) = seen.replace(key) {
                return Err(de::Error::custom(format!(
                    "has the key {:?} more than once in one object",
                    shortened(&key)
                )));
            }
        }
        Ok(Storable)
    }
}

/// `text`, cut after 40 characters for an error message.
fn shortened(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(40) {
        Some((end, _)) => Cow::Owned(format!("{}…", &text[..end])),
        None => Cow::Borrowed(text),
    }
}

/// A map key, borrowed from the text when it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(key)))
    }

    fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(key.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        refusal(text).unwrap_or_else(|| panic!("{text:.40} was accepted"))
    }

    #[test]
    fn refuses_nul_in_strings_and_keys() {
        assert!(refused(r#"{"a":["x\u0000y"]}"#).starts_with("contains a NUL"));
        assert!(refused(r#"{"a\u0000":1}"#).contains("key containing a NUL"));
        // An escaped backslash followed by "u0000" is not a NUL.
        assert_eq!(refusal(r#"{"a":"\\u0000"}"#), None);
    }

    #[test]
    fn refuses_lone_surrogates_as_the_parser_does() {
        // Neither serde_json nor PostgreSQL's jsonb takes half a surrogate pair.
        assert!(refusal(r#""\ud800""#).is_some());
        assert!(refusal(r#"{"\udc00":1}"#).is_some());
        assert_eq!(refusal(r#""\ud83d\ude00""#), None);
    }

    #[test]
    fn refuses_a_key_given_twice() {
        let reason = refused(r#"{"a":1,"b":{"c":2,"c":2}}"#);
        assert!(reason.contains("\"c\" more than once"), "{reason}");
        // The same key after unescaping.
        assert!(refused(r#"{"a":1,"\u0061":1}"#).contains("\"a\" more than once"));
        assert_eq!(refusal(r#"{"a":{"a":1},"b":[{"a":1},{"a":2}]}"#), None);
    }

    #[test]
    fn refuses_numbers_beyond_f64() {
        for text in [
            "1e400",
            "-1e400",
            "[1e999]",
            &format!("1{}", "0".repeat(400)),
        ] {
            assert!(refused(text).contains("out of range"), "{text:.20}");
        }
        for text in [
            "1.7976931348623157e308",
            "-1.7976931348623157e308",
            "1e-400",
            "5e-324",
        ] {
            assert_eq!(refusal(text), None, "{text}");
        }
    }

    #[test]
    fn refuses_numbers_postgresql_numeric_cannot_hold() {
        for text in [
            "1e-16384",
            "1.0e-16383",
            "0e-16384",
            "1e-20000",
            "0e-99999",
            "100e-16385",
        ] {
            assert!(refused(text).contains("16383 digits"), "{text}");
        }
        for text in [
            "0e1073741823",
            "0e-1073741823",
            "1e-99999999999999999999999",
        ] {
            assert!(refused(text).contains("exponent"), "{text}");
        }
        for text in [
            "1e-16383",
            "0e-16383",
            "1.5e-16382",
            "10e-16383",
            "0e1073741822",
        ] {
            assert_eq!(refusal(text), None, "{text}");
        }
        let long_fraction = format!("0.{}", "0".repeat(16_383));
        assert_eq!(refusal(&long_fraction), None);
        assert!(refused(&format!("{long_fraction}0")).contains("16383 digits"));
    }
}
