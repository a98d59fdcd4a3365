//! The catalogue: what a store holds, without reading its events. The
//! categories, the streams of a category with their length, the event names in
//! use, and the log's head.
//!
//! Listings are paged by name: a [`CatalogueQuery`] asks for at most `limit`
//! names greater than `after` that start with `prefix`, in byte order of their
//! UTF-8 (the order of Rust's `str`, PostgreSQL's `"C"` collation and SQLite's
//! `BINARY`), and a [`CataloguePage`] carries the token that continues it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::identifier::{CategoryIdentifier, Name, StreamIdentifier, MAX_NAME_BYTES};

/// The most names one catalogue page may ask for.
pub const MAX_CATALOGUE_PAGE: usize = 1000;

/// The page size of a [`CatalogueQuery`] that names none.
pub const DEFAULT_CATALOGUE_PAGE: usize = 100;

/// Which names of a catalogue listing to return: those starting with
/// `prefix`, after `after`, at most `limit` of them.
///
/// ```
/// use eventblocks_core::CatalogueQuery;
///
/// let first = CatalogueQuery::new().prefix("order-").limit(50);
/// let next = first.clone().after("order-0042");
/// # let _ = next;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueQuery {
    prefix: String,
    after: Option<String>,
    limit: usize,
}

impl Default for CatalogueQuery {
    fn default() -> Self {
        Self::new()
    }
}

impl CatalogueQuery {
    /// Every name, the first [`DEFAULT_CATALOGUE_PAGE`] of them.
    pub fn new() -> Self {
        Self {
            prefix: String::new(),
            after: None,
            limit: DEFAULT_CATALOGUE_PAGE,
        }
    }

    /// Only names starting with `prefix` (byte for byte).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Only names after `after`: the last name of the previous page, or a
    /// page's [`CataloguePage::next`] token.
    #[must_use]
    pub fn after(mut self, after: impl Into<String>) -> Self {
        self.after = Some(after.into());
        self
    }

    /// At most `limit` names, from 1 to [`MAX_CATALOGUE_PAGE`].
    #[must_use]
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
}

/// A validated [`CatalogueQuery`], as an adapter receives it.
///
/// # Contract
/// An adapter returns the names `n` with `n > after` (when given) and `n`
/// starting with `prefix`, in increasing byte order, at most `limit` of them.
/// [`CatalogueRequest::range`] gives the same set as a half-open range, so an
/// ordered index answers it with one range scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueRequest {
    prefix: String,
    after: Option<String>,
    limit: usize,
}

impl CatalogueRequest {
    /// Validates `query`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a limit of 0 or above
    /// [`MAX_CATALOGUE_PAGE`], or a prefix or `after` longer than
    /// [`MAX_NAME_BYTES`] or holding a NUL character.
    pub fn new(query: CatalogueQuery) -> Result<Self> {
        if query.limit == 0 || query.limit > MAX_CATALOGUE_PAGE {
            return Err(Error::invalid(
                "limit",
                format!(
                    "is {}; a catalogue page holds 1 to {MAX_CATALOGUE_PAGE} names",
                    query.limit
                ),
            ));
        }
        check_text("prefix", &query.prefix)?;
        if let Some(after) = &query.after {
            check_text("after", after)?;
        }
        Ok(Self {
            prefix: query.prefix,
            after: query.after,
            limit: query.limit,
        })
    }

    /// The prefix every name returned starts with (may be empty).
    pub fn prefix_text(&self) -> &str {
        &self.prefix
    }

    /// The name every name returned is greater than, if any.
    pub fn after_text(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// The most names to return.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The requested names as a range: those `n` with `lower < n` (or
    /// `lower <= n` when `inclusive`), and `n < upper` when there is an upper
    /// bound. Equivalent to the prefix and `after` together.
    pub fn range(&self) -> CatalogueRange {
        let after_prefix = self
            .after
            .as_deref()
            .filter(|after| **after >= *self.prefix);
        let (lower, inclusive) = match after_prefix {
            Some(after) => (after.to_owned(), false),
            None => (self.prefix.clone(), true),
        };
        CatalogueRange {
            lower,
            inclusive,
            upper: successor(&self.prefix),
        }
    }

    /// Whether `name` is one the request selects.
    pub fn matches(&self, name: &str) -> bool {
        name.starts_with(&self.prefix) && self.after.as_deref().is_none_or(|after| name > after)
    }
}

/// The names a [`CatalogueRequest`] selects, as bounds on an ordered index.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CatalogueRange {
    /// The lower bound.
    pub lower: String,
    /// Whether `lower` itself is selected.
    pub inclusive: bool,
    /// Names are below this, when there is a bound.
    pub upper: Option<String>,
}

/// The least string greater than every string starting with `prefix`, or
/// `None` when there is none (an empty prefix, or one of only the greatest
/// character). Strings compare by code point, the order of their UTF-8 bytes.
fn successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            0xD800 => Some('\u{E000}'),
            code => char::from_u32(code),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn check_text(field: &'static str, text: &str) -> Result<()> {
    if text.len() > MAX_NAME_BYTES {
        return Err(Error::invalid(
            field,
            format!(
                "is {} bytes long; names are at most {MAX_NAME_BYTES}",
                text.len()
            ),
        ));
    }
    if text.contains('\0') {
        return Err(Error::invalid(field, "must not contain a NUL character"));
    }
    Ok(())
}

/// One page of a catalogue listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CataloguePage<T> {
    /// The entries, in increasing order of name.
    pub items: Vec<T>,
    /// When the page is full, the token to pass as
    /// [`CatalogueQuery::after`] for the next one; `None` on the last page.
    pub next: Option<String>,
}

impl<T> CataloguePage<T> {
    /// A page of `items` for `request`, with a token to continue when it is
    /// full; `name` gives each entry's name.
    pub(crate) fn new(
        items: Vec<T>,
        request: &CatalogueRequest,
        name: impl Fn(&T) -> &str,
    ) -> Self {
        let next = (items.len() >= request.limit())
            .then(|| items.last().map(|last| name(last).to_owned()))
            .flatten();
        Self { items, next }
    }
}

/// A stream as the catalogue knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StreamSummary {
    /// The stream.
    pub stream: StreamIdentifier,
    /// How many events it holds.
    pub length: u64,
    /// The position of its last event (`length - 1`: positions are gapless
    /// from 0).
    pub last_position: u64,
}

impl StreamSummary {
    /// The summary of `stream`, whose last event is at `last_position`.
    pub fn new(stream: StreamIdentifier, last_position: u64) -> Self {
        Self {
            stream,
            length: last_position.saturating_add(1),
            last_position,
        }
    }
}

/// What [`crate::EventStore::catalogue`] lists.
///
/// ```
/// use eventblocks_core::{CatalogueQuery, EventStore, Result};
///
/// async fn list(store: &EventStore) -> Result<()> {
///     let catalogue = store.catalogue();
///     let mut query = CatalogueQuery::new().limit(500);
///     loop {
///         let page = catalogue.streams("orders", query.clone()).await?;
///         for summary in &page.items {
///             println!("{} holds {} events", summary.stream, summary.length);
///         }
///         match page.next {
///             Some(token) => query = query.after(token),
///             None => break,
///         }
///     }
///     Ok(())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub(crate) adapter: std::sync::Arc<dyn crate::StorageAdapter>,
}

impl Catalogue {
    /// The categories holding at least one stream.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad query; backend failures.
    pub async fn categories(
        &self,
        query: CatalogueQuery,
    ) -> Result<CataloguePage<CategoryIdentifier>> {
        let request = CatalogueRequest::new(query)?;
        let items = self.adapter.categories(request.clone()).await?;
        Ok(CataloguePage::new(items, &request, |category| {
            category.category.as_str()
        }))
    }

    /// The streams of `category`, with their lengths.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad category name or query; backend
    /// failures.
    pub async fn streams(
        &self,
        category: &str,
        query: CatalogueQuery,
    ) -> Result<CataloguePage<StreamSummary>> {
        let category = CategoryIdentifier::new(category)?;
        let request = CatalogueRequest::new(query)?;
        let items = self.adapter.streams(&category, request.clone()).await?;
        Ok(CataloguePage::new(items, &request, |summary| {
            summary.stream.stream.as_str()
        }))
    }

    /// The event names in use (of at least one stored event).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a bad query; backend failures.
    pub async fn event_names(&self, query: CatalogueQuery) -> Result<CataloguePage<Name>> {
        let request = CatalogueRequest::new(query)?;
        let items = self.adapter.event_names(request.clone()).await?;
        Ok(CataloguePage::new(items, &request, Name::as_str))
    }

    /// The length and last position of one stream, or `None` when it holds
    /// no event.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for bad names; backend failures.
    pub async fn stream(&self, category: &str, stream: &str) -> Result<Option<StreamSummary>> {
        let stream = StreamIdentifier::new(category, stream)?;
        self.adapter.stream_summary(&stream).await
    }

    /// The sequence number of the newest event a log scan returns now, or
    /// `None` when it returns none.
    ///
    /// # Errors
    /// Backend failures.
    pub async fn head(&self) -> Result<Option<u64>> {
        self.adapter.log_head().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: CatalogueQuery) -> CatalogueRequest {
        CatalogueRequest::new(query).unwrap()
    }

    #[test]
    fn bad_limits_and_texts_are_refused() {
        for limit in [0, MAX_CATALOGUE_PAGE + 1] {
            let error = CatalogueRequest::new(CatalogueQuery::new().limit(limit)).unwrap_err();
            assert!(error.is_invalid_input(), "{error}");
        }
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        assert!(CatalogueRequest::new(CatalogueQuery::new().prefix(long.clone())).is_err());
        assert!(CatalogueRequest::new(CatalogueQuery::new().after(long)).is_err());
        assert!(CatalogueRequest::new(CatalogueQuery::new().prefix("a\0")).is_err());
        assert!(CatalogueRequest::new(CatalogueQuery::new().limit(MAX_CATALOGUE_PAGE)).is_ok());
    }

    #[test]
    fn the_range_selects_exactly_what_matches() {
        let names = [
            "",
            "a",
            "ab",
            "abc",
            "abd",
            "ac",
            "b",
            "a\u{10FFFF}",
            "a\u{D7FF}",
            "a\u{E000}",
            "\u{10FFFF}",
            "\u{10FFFF}a",
        ];
        let queries = [
            CatalogueQuery::new(),
            CatalogueQuery::new().prefix("ab"),
            CatalogueQuery::new().prefix("ab").after("abc"),
            CatalogueQuery::new().prefix("ab").after("a"),
            CatalogueQuery::new().prefix("ab").after("b"),
            CatalogueQuery::new().after("ab"),
            CatalogueQuery::new().prefix("a\u{10FFFF}"),
            CatalogueQuery::new().prefix("a\u{D7FF}"),
            CatalogueQuery::new().prefix("\u{10FFFF}"),
        ];
        for query in queries {
            let request = request(query);
            let range = request.range();
            for name in names {
                let above = if range.inclusive {
                    name >= range.lower.as_str()
                } else {
                    name > range.lower.as_str()
                };
                let below = range.upper.as_deref().is_none_or(|upper| name < upper);
                assert_eq!(
                    above && below,
                    request.matches(name),
                    "{request:?} {name:?}"
                );
            }
        }
    }

    #[test]
    fn a_full_page_carries_the_token_of_its_last_name() {
        let request = request(CatalogueQuery::new().limit(2));
        let full = CataloguePage::new(vec!["a", "b"], &request, |name| name);
        assert_eq!(full.next.as_deref(), Some("b"));
        let last = CataloguePage::new(vec!["c"], &request, |name| name);
        assert_eq!(last.next, None);
    }
}
