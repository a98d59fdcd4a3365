//! Tags: what a consistency boundary selects events by, beside their names.

use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Result;
use crate::identifier::Name;

/// How many tags an event may carry unless the adapter says otherwise (see
/// [`Limits`](crate::Limits)).
pub const DEFAULT_MAX_TAGS_PER_EVENT: usize = 64;

/// A tag on an event, such as `course:c1` or `student:s42`.
///
/// Tags are validated like names: 1 to 255 bytes of UTF-8, not only white
/// space, no NUL character, kept byte for byte. What a tag means (a key and a
/// value, say) is the application's business; the store only compares them.
/// An event keeps its tags as a sorted set.
///
/// ```
/// use eventblocks_core::Tag;
///
/// let tag = Tag::new("course:c1")?;
/// assert_eq!(tag.as_str(), "course:c1");
/// assert!(Tag::new("").is_err());
/// # Ok::<(), eventblocks_core::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(Name);

impl Tag {
    /// Validates `value` as a tag.
    ///
    /// # Errors
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) on `tag` for a value
    /// that is empty, too long, only white space or holds a NUL.
    pub fn new(value: impl AsRef<str> + Into<std::sync::Arc<str>>) -> Result<Self> {
        Name::new("tag", value).map(Self)
    }

    /// The tag as a string slice.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Deref for Tag {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Tag {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl Serialize for Tag {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Tag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Tag::new(value).map_err(serde::de::Error::custom)
    }
}
