//! Regular expressions of the query dialect (see [the `query`
//! module](crate::query#regular-expressions)): parsed once, checked against the
//! dialect, and written out for each engine.

mod anchors;
mod colors;
mod cost;
mod lower;
mod render;

use std::fmt;

use eventblocks_core::{Error, Result};
use regex::Regex;
use regex_syntax::ast::parse::ParserBuilder;

/// The longest regular expression a filter accepts, in bytes.
pub const MAX_PATTERN_LENGTH: usize = 1024;

/// The largest repetition count (`{n}`, `{n,}`, `{n,m}`): PostgreSQL's limit.
pub const MAX_REPETITION: u32 = 255;

/// The largest size a pattern may have: an upper bound on the states and
/// transitions of PostgreSQL's automaton for it, once counted repetitions are
/// expanded and empty transitions removed (see [the `query`
/// module](crate::query#resource-limits) for what counts, and why). Within it,
/// PostgreSQL compiles any pattern in milliseconds.
pub const MAX_PATTERN_SIZE: u64 = 10_000;

/// How deeply groups, classes and repetitions may nest, each counting a level
/// (so `((a)*)*` nests 4 deep).
pub const MAX_PATTERN_NESTING: u32 = 64;

/// A regular expression of the query dialect, which every projection store
/// matches alike.
///
/// ```
/// use eventblocks_projection::query::Pattern;
///
/// # fn main() -> eventblocks_core::Result<()> {
/// let pattern = Pattern::new(r"^order-\d{2,}$")?;
/// assert!(pattern.is_match("order-42"));
/// assert!(!pattern.is_match("order-4"));
/// assert!(Pattern::new("a.b")?.is_match("a\nb"), "`.` matches a line feed");
/// assert!(Pattern::new("(?i)abc").is_err(), "the dialect has no flags");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
    postgres: String,
}

impl Pattern {
    /// Parses and checks `pattern`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] (field `pattern`) for a syntax error, a
    /// construct the dialect lacks (named in the reason), more than
    /// [`MAX_PATTERN_LENGTH`] bytes, a repetition count above
    /// [`MAX_REPETITION`], a size above [`MAX_PATTERN_SIZE`], nesting deeper
    /// than [`MAX_PATTERN_NESTING`], or `$` followed by `^` with no character
    /// between them.
    pub fn new(pattern: &str) -> Result<Self> {
        Self::parse(pattern).map_err(|reason| Error::invalid("pattern", reason))
    }

    /// As [`Pattern::new`], with the reason alone, for callers that name the
    /// field themselves.
    pub(crate) fn parse(pattern: &str) -> std::result::Result<Self, String> {
        if pattern.len() > MAX_PATTERN_LENGTH {
            return Err(format!(
                "is longer than {MAX_PATTERN_LENGTH} bytes ({})",
                pattern.len()
            ));
        }
        let ast = ParserBuilder::new()
            .nest_limit(MAX_PATTERN_NESTING)
            .octal(false)
            .ignore_whitespace(false)
            .build()
            .parse(pattern)
            .map_err(|e| format!("does not parse: {}", e.kind()))?;
        let node = lower::lower(pattern, &ast)?;
        cost::check(&node)?;
        let regex =
            Regex::new(&render::rust(&node)).map_err(|e| format!("does not compile: {e}"))?;
        Ok(Self {
            source: pattern.to_owned(),
            regex,
            postgres: render::postgres(&node),
        })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the pattern matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The pattern in the `regex` crate's syntax, with the dialect's meaning:
    /// for adapters that match with that crate.
    pub fn to_rust(&self) -> &str {
        self.regex.as_str()
    }

    /// The pattern in PostgreSQL's advanced regular expression syntax, with the
    /// dialect's meaning under the case-sensitive `~` and `!~` operators in a
    /// UTF8 database (non-ASCII characters are written as `\uXXXX` escapes,
    /// which name code points only there).
    pub fn to_postgres(&self) -> &str {
        &self.postgres
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.source, f)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Eq for Pattern {}

#[cfg(test)]
mod tests;
