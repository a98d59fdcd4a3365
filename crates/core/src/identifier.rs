//! Validated names and the identifiers of the log, a category and a stream.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// The longest name accepted, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 255;

/// A validated category, stream or event name.
///
/// A name is 1 to [`MAX_NAME_BYTES`] bytes of UTF-8, is not made of white space
/// only, and contains no NUL character. Anything else is kept byte for byte: names
/// are never trimmed or normalised. Cloning is cheap (a reference count).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Arc<str>);

impl Name {
    /// Validates `value` as the name of `field` (used in the error).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming `field` and the rule broken.
    pub fn new(field: &'static str, value: impl AsRef<str> + Into<Arc<str>>) -> Result<Self> {
        check_name(field, value.as_ref())?;
        Ok(Self(value.into()))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_name(field: &'static str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_NAME_BYTES {
        let reason = format!(
            "is {} bytes long; at most {MAX_NAME_BYTES} are allowed",
            value.len()
        );
        return Err(Error::invalid(field, reason));
    }
    if value.contains('\0') {
        return Err(Error::invalid(field, "must not contain a NUL character"));
    }
    if value.chars().all(char::is_whitespace) {
        return Err(Error::invalid(field, "must not be only white space"));
    }
    Ok(())
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl Serialize for Name {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Name::new("name", value).map_err(serde::de::Error::custom)
    }
}

/// The whole log: every event of every stream, in sequence order.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct LogIdentifier;

/// A named group of streams, such as `orders`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CategoryIdentifier {
    /// The category's name.
    pub category: Name,
}

impl CategoryIdentifier {
    /// Validates `category` and makes its identifier.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on field `category` if the name is invalid (see [`Name`]).
    pub fn new(category: impl AsRef<str> + Into<Arc<str>>) -> Result<Self> {
        Ok(Self {
            category: Name::new("category", category)?,
        })
    }

    /// The identifier of stream `stream` in this category.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on field `stream` if the name is invalid.
    pub fn stream(&self, stream: impl AsRef<str> + Into<Arc<str>>) -> Result<StreamIdentifier> {
        Ok(StreamIdentifier {
            category: self.category.clone(),
            stream: Name::new("stream", stream)?,
        })
    }
}

impl fmt::Display for CategoryIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.category)
    }
}

/// One stream, such as `orders/order-42`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StreamIdentifier {
    /// The category the stream belongs to.
    pub category: Name,
    /// The stream's name within its category.
    pub stream: Name,
}

impl StreamIdentifier {
    /// Validates both names and makes the identifier.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on field `category` or `stream`.
    pub fn new(
        category: impl AsRef<str> + Into<Arc<str>>,
        stream: impl AsRef<str> + Into<Arc<str>>,
    ) -> Result<Self> {
        CategoryIdentifier::new(category)?.stream(stream)
    }

    /// The identifier of the stream's category.
    pub fn category_identifier(&self) -> CategoryIdentifier {
        CategoryIdentifier {
            category: self.category.clone(),
        }
    }
}

impl fmt::Display for StreamIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.category, self.stream)
    }
}

/// Any source of events: the log, a category or a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventSourceIdentifier {
    /// The whole log.
    Log(LogIdentifier),
    /// One category.
    Category(CategoryIdentifier),
    /// One stream.
    Stream(StreamIdentifier),
}

impl EventSourceIdentifier {
    /// The category this source is limited to, if any.
    pub fn category(&self) -> Option<&Name> {
        match self {
            Self::Log(_) => None,
            Self::Category(category) => Some(&category.category),
            Self::Stream(stream) => Some(&stream.category),
        }
    }
}

impl fmt::Display for EventSourceIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Log(_) => f.write_str("the log"),
            Self::Category(category) => write!(f, "category {category}"),
            Self::Stream(stream) => write!(f, "stream {stream}"),
        }
    }
}

impl From<LogIdentifier> for EventSourceIdentifier {
    fn from(value: LogIdentifier) -> Self {
        Self::Log(value)
    }
}

impl From<CategoryIdentifier> for EventSourceIdentifier {
    fn from(value: CategoryIdentifier) -> Self {
        Self::Category(value)
    }
}

impl From<StreamIdentifier> for EventSourceIdentifier {
    fn from(value: StreamIdentifier) -> Self {
        Self::Stream(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(result: Result<Name>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn names_are_kept_byte_for_byte() {
        let name = Name::new("stream", " Ünïcode ✓ 'quoted'; DROP TABLE x; ").unwrap();
        assert_eq!(name.as_str(), " Ünïcode ✓ 'quoted'; DROP TABLE x; ");
    }

    #[test]
    fn bad_names_are_rejected_with_the_field_and_rule() {
        assert_eq!(
            reason(Name::new("stream", "")),
            "invalid stream: must not be empty"
        );
        assert_eq!(
            reason(Name::new("category", " \t\n")),
            "invalid category: must not be only white space"
        );
        assert_eq!(
            reason(Name::new("event name", "a\0b")),
            "invalid event name: must not contain a NUL character"
        );
        assert!(reason(Name::new("stream", "x".repeat(256))).contains("256 bytes"));
        assert!(Name::new("stream", "é".repeat(127)).is_ok());
        assert!(Name::new("stream", "é".repeat(128)).is_err());
    }

    #[test]
    fn identifiers_name_the_field_at_fault() {
        let error = StreamIdentifier::new("orders", "").unwrap_err();
        assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "stream"));
        let error = StreamIdentifier::new("", "x").unwrap_err();
        assert!(matches!(error, Error::InvalidInput { ref field, .. } if field == "category"));
    }

    #[test]
    fn deserialising_validates() {
        assert!(serde_json::from_str::<Name>("\"\"").is_err());
        let stream: StreamIdentifier =
            serde_json::from_str(r#"{"category":"a","stream":"b"}"#).unwrap();
        assert_eq!(stream.to_string(), "a/b");
    }
}
