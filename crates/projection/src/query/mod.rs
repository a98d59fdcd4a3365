//! The projection store's query language: filters, sort order and paging.
//!
//! This module defines the one dialect every projection store implements with
//! identical results; the testkit's projection suite holds each store to it.
//! What one engine cannot do the same way is refused on all, as
//! [`Error::InvalidInput`] when the filter or search is built or checked,
//! before any I/O.
//!
//! # Values and paths
//!
//! - A path (`Field::state("a.b.0")`) walks object keys; on an array a segment
//!   is an index as PostgreSQL reads one (optional leading white space and
//!   sign, decimal digits, within `i32`; negative counts from the end), see
//!   [`crate::value::array_index`]. A path that finds
//!   nothing is *missing*.
//! - Numbers compare by the exact decimal they are written as (an `f64` as the
//!   shortest decimal that reads back as it, which is how it is stored):
//!   `1` equals `1.0` and `-0` equals `0`, but `9007199254740993` is not
//!   `9007199254740992.0` and `0.1` is greater than `0`. No comparison goes
//!   through an `f64`.
//! - [`Operator::Equal`], [`Operator::NotEqual`] and [`Operator::In`] treat a
//!   missing value as `null`; every other operator matches no missing value.
//!   Comparisons (`<`, `<=`, `>`, `>=`) match only a value of the operand's
//!   kind (number, string by bytes, boolean); [`Operator::Contains`] a string
//!   holding the operand or an array with an element equal to it; the regular
//!   expression operators only strings.
//! - Sorting orders kinds as missing, `null`, booleans, numbers, strings,
//!   arrays, objects (see [`Search`]).
//!
//! # Sorting by similarity
//!
//! A sort key can be how similar a field's text is to a given text
//! ([`Sort::similar_to`]), logicblocks' `Similarity` sort: PostgreSQL's
//! `pg_trgm` `similarity()`, which the in-memory store computes bit for bit
//! ([`similarity`]: the same words, lower-casing, trigrams and single-precision
//! division), so both stores order, break ties (by the later keys, then name
//! and id) and page alike. A cursor holds the similarity of the projection it
//! was taken from, so key-set paging continues exactly where it stopped.
//!
//! # Regular expressions
//!
//! [`Operator::Matches`] and [`Operator::NotMatches`] take a [`Pattern`]: it
//! matches when it matches anywhere in the string. The dialect is a subset of
//! the `regex` crate's syntax that PostgreSQL's advanced regular expressions
//! also implement; each store is given the pattern rewritten into its own
//! engine's syntax with the same meaning ([`Pattern::to_rust`],
//! [`Pattern::to_postgres`]), so the two match identically by construction.
//!
//! | accepted | meaning |
//! | --- | --- |
//! | `a`, `é`, `\.`, `\x41`, `\x{1F600}`, `\n`, `\t` | that character (escape any metacharacter) |
//! | `.` | any character, **a line feed included** |
//! | `[a-z_]`, `[^0-9]`, `[a[bc]]` | one character of (or not of) the set, ranges by code point; a negated class matches a line feed |
//! | `\d` `\w` `\s` and `\D` `\W` `\S` | ASCII only: `[0-9]`, `[0-9A-Za-z_]`, `[\t\n\v\f\r ]` and their complements |
//! | `^`, `$`, `\A`, `\z` | the start and end of the **whole text** (never of a line) |
//! | `x*` `x+` `x?` `x{n}` `x{n,}` `x{n,m}` | repetition, counts at most [`MAX_REPETITION`]; lazy forms (`x*?`) mean the same, since only whether a match exists counts |
//! | `(x)`, `(?:x)`, `(?P<name>x)` | grouping (captures are never read) |
//! | `x\|y` | alternation |
//!
//! Refused, naming the construct: flags (`(?i)`, `(?m)`, `(?s)`, `(?x)`, also
//! inside groups), Unicode classes (`\pL`, `\p{Greek}`), POSIX classes
//! (`[[:alpha:]]`, locale-dependent in PostgreSQL), word boundaries (`\b`,
//! `\B`, `\<`), class set operations (`&&`, `--`, `~~`), and everything the
//! `regex` crate does not parse (backreferences, look-around).
//!
//! ## Resource limits
//!
//! A pattern is also refused, the same way on every store, when PostgreSQL
//! could not compile and match it promptly: more than [`MAX_PATTERN_LENGTH`]
//! bytes, nesting deeper than [`MAX_PATTERN_NESTING`], a repetition count
//! above [`MAX_REPETITION`], an automaton larger than [`MAX_PATTERN_SIZE`],
//! `$` followed by `^` with no character between them, or an anchor inside a
//! repetition without an upper bound (`*`, `+`, `{n,}`). The `regex` crate
//! compiles any of these in microseconds and matches in time linear in the
//! text; PostgreSQL's engine (Henry Spencer's) is what they bound:
//!
//! - **Counted repetitions are expanded**: `x{m,n}` becomes `n` copies of
//!   `x`, so nesting multiplies (`(a{0,200}){0,200}` is 40,000 copies of `a`),
//!   and PostgreSQL refuses counts above 255.
//! - **Parts that may be skipped multiply with what follows them.** Each
//!   optional or starred part is joined to the rest by empty transitions,
//!   which PostgreSQL removes by copying into every state the transitions of
//!   every state that reaches it through empty ones alone. A chain of `k`
//!   skippable parts (`.*.*.*…`, `a?a?a?…`, or a counted repetition of a part
//!   that may be empty, `(.*){1,45}`) becomes about `k²/2` transitions, and
//!   finding them takes longer still: 500 `.*` took PostgreSQL 15 over a
//!   second, `(.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*.*){1,45}y` over a minute,
//!   before it read a row.
//! - **Transitions are per color**: PostgreSQL labels them with the classes of
//!   characters the pattern does not tell apart, so a bracket class costs a
//!   transition per class it holds, and `[^a]` as many as the pattern names
//!   other characters.
//! - **Matching walks the automaton**: a lazily built DFA whose states are sets
//!   of the automaton's states, so when the text keeps reaching new ones each
//!   character costs up to a visit of every transition; the automaton's size
//!   bounds the cost of matching each character of each row.
//! - **Anchors are constraints moved through the automaton**, with work that
//!   doubles each time `$` and then `^` follow each other on a path without a
//!   character (`(^|$|a){0,16}` takes seconds, a few more rounds exhaust
//!   PostgreSQL), and that explodes when a loop runs around them
//!   (`((($|a)*|b){0,16})*` takes a third of a second). A path from `$` to `^`
//!   can only match the empty text, which `^$` says; `^` can only hold on a
//!   loop's first round and `$` on its last, so they can be written outside
//!   it. Runs of one anchor repeated a bounded number of times (`(?:^|,)`),
//!   `^` before `$`, and anchors outside loops are accepted, and a repeated
//!   anchor alone (`^*`, `$+`) is read as the one round it means.
//!
//! So the size of a pattern is an upper bound, worked out from how PostgreSQL
//! builds its automaton, on the states and transitions it has once counted
//! repetitions are expanded and empty transitions removed: each pair of states
//! joined by empty transitions counts one plus the transitions copied along
//! it. `(a{0,20}){0,20}$b` is about 8,900 and accepted, `(a{0,200}){0,200}`
//! and 500 `.*` are refused, and everyday patterns are a few dozen. At the
//! limit PostgreSQL compiles any pattern in a few milliseconds, and matching
//! costs at most some microseconds per character of text; the PostgreSQL
//! adapter's tests measure adversarial and random patterns at the limits.
//!
//! # Limits
//!
//! A search has at most [`MAX_FILTERS`] filters and [`MAX_SORT_KEYS`] sort
//! keys and a page of 1 to [`MAX_PAGE_SIZE`]; an `In` lists at most
//! [`MAX_IN_VALUES`] values; a filter value nests at most [`MAX_VALUE_DEPTH`]
//! levels.
//!
//! ```
//! use eventblocks_projection::query::{Field, Filter, Operator, Search, Sort};
//!
//! # fn main() -> eventblocks_core::Result<()> {
//! let adults_in_leeds = Search::new()
//!     .filter(Filter::new(Field::Name, Operator::Equal, "profile")?)
//!     .filter(Filter::new(Field::state("address.city")?, Operator::Equal, "Leeds")?)
//!     .filter(Filter::new(Field::state("age")?, Operator::GreaterThanOrEqual, 18)?)
//!     .sort(Sort::descending(Field::state("age")?))
//!     .limit(20);
//! # let _ = adults_in_leeds;
//! # Ok(())
//! # }
//! ```

mod field;
mod filter;
mod pattern;
mod similarity;
mod sort;

use std::cmp::Ordering;

use eventblocks_core::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use field::{Field, MAX_PATH_SEGMENTS};
pub use filter::{Filter, Operator, MAX_IN_VALUES, MAX_VALUE_DEPTH};
pub use pattern::{
    Pattern, MAX_PATTERN_LENGTH, MAX_PATTERN_NESTING, MAX_PATTERN_SIZE, MAX_REPETITION,
};
pub use similarity::{similarity, MAX_SIMILARITY_TEXT_LENGTH};
pub use sort::Sort;

use crate::projection::StoredProjection;
use crate::value;

/// The most projections one page may hold.
pub const MAX_PAGE_SIZE: u32 = 10_000;

/// The page size of a search that sets none.
pub const DEFAULT_PAGE_SIZE: u32 = 100;

/// The most filters a search or count may have.
pub const MAX_FILTERS: usize = 64;

/// The most sort keys a search may have.
pub const MAX_SORT_KEYS: usize = 16;

/// Checks what building each filter could not: how many there are.
///
/// # Errors
/// [`Error::InvalidInput`] for more than [`MAX_FILTERS`] filters.
pub fn check_filters(filters: &[Filter]) -> Result<()> {
    if filters.len() > MAX_FILTERS {
        return Err(Error::invalid(
            "filters",
            format!("at most {MAX_FILTERS}, not {}", filters.len()),
        ));
    }
    Ok(())
}

/// Which part of the sorted results a search returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Paging {
    /// Skip `offset` results.
    Offset(u64),
    /// The results after the one a cursor was taken from (from the start when
    /// `None`).
    After(Option<Cursor>),
    /// The results before the one a cursor was taken from.
    Before(Cursor),
}

/// A place in a search's results, taken from one projection: its sort-key
/// values. Pass it back with the same filters and sort order to continue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// The value of each sort key: the field's (`None` where the path found
    /// nothing), or for a similarity key the similarity, a number.
    pub values: Vec<Option<Value>>,
    /// The projection's name, which breaks ties.
    pub name: String,
    /// The projection's id, which breaks the remaining ties.
    pub id: String,
}

impl Cursor {
    /// The cursor of `projection` under `sort`.
    pub fn of(projection: &StoredProjection, sort: &[Sort]) -> Self {
        Self {
            values: sort.iter().map(|key| key.value_in(projection)).collect(),
            name: projection.name.clone(),
            id: projection.id.clone(),
        }
    }
}

/// A search: filters (all must hold), a sort order, and a page.
///
/// Results are ordered by the sort keys, then by name and id, so the order is
/// total and paging never repeats or skips a projection. Values of different
/// kinds sort in the order missing, `null`, booleans, numbers, strings, arrays,
/// objects; strings by bytes; arrays and objects tie with each other.
#[derive(Debug, Clone)]
pub struct Search {
    filters: Vec<Filter>,
    sort: Vec<Sort>,
    paging: Paging,
    limit: u32,
}

impl Default for Search {
    fn default() -> Self {
        Self::new()
    }
}

impl Search {
    /// Every projection, first page.
    pub fn new() -> Self {
        Self {
            filters: Vec::new(),
            sort: Vec::new(),
            paging: Paging::After(None),
            limit: DEFAULT_PAGE_SIZE,
        }
    }

    /// Adds a filter.
    #[must_use]
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filters.push(filter);
        self
    }

    /// Adds a sort key after those already given.
    #[must_use]
    pub fn sort(mut self, sort: Sort) -> Self {
        self.sort.push(sort);
        self
    }

    /// The page size (1 to [`MAX_PAGE_SIZE`]; checked when the search runs).
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Skips `offset` results.
    #[must_use]
    pub fn offset(mut self, offset: u64) -> Self {
        self.paging = Paging::Offset(offset);
        self
    }

    /// The results after `cursor`.
    #[must_use]
    pub fn after(mut self, cursor: Cursor) -> Self {
        self.paging = Paging::After(Some(cursor));
        self
    }

    /// The results before `cursor`, in the same order.
    #[must_use]
    pub fn before(mut self, cursor: Cursor) -> Self {
        self.paging = Paging::Before(cursor);
        self
    }

    /// The filters.
    pub fn filters(&self) -> &[Filter] {
        &self.filters
    }

    /// The sort keys given.
    pub fn sort_keys(&self) -> &[Sort] {
        &self.sort
    }

    /// The paging.
    pub fn paging(&self) -> &Paging {
        &self.paging
    }

    /// The page size.
    pub fn page_size(&self) -> u32 {
        self.limit
    }

    /// Checks what the builder methods could not.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a page size outside 1 to [`MAX_PAGE_SIZE`],
    /// more than [`MAX_FILTERS`] filters or [`MAX_SORT_KEYS`] sort keys, a
    /// sort on the source, a field built with a bad path, a similarity text
    /// longer than [`MAX_SIMILARITY_TEXT_LENGTH`] bytes or holding a NUL, or a
    /// cursor with a value for another number of sort keys or without a
    /// similarity where a similarity key needs one.
    pub fn validate(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_PAGE_SIZE {
            return Err(Error::invalid(
                "limit",
                format!("must be between 1 and {MAX_PAGE_SIZE}, not {}", self.limit),
            ));
        }
        check_filters(&self.filters)?;
        if self.sort.len() > MAX_SORT_KEYS {
            return Err(Error::invalid(
                "sort",
                format!("at most {MAX_SORT_KEYS} keys, not {}", self.sort.len()),
            ));
        }
        for sort in &self.sort {
            sort.validate()?;
        }
        let cursor = match &self.paging {
            Paging::After(Some(cursor)) | Paging::Before(cursor) => cursor,
            _ => return Ok(()),
        };
        if cursor.values.len() != self.sort.len() {
            return Err(Error::invalid(
                "cursor",
                "was taken under a different sort order",
            ));
        }
        self.sort
            .iter()
            .zip(&cursor.values)
            .try_for_each(|(sort, value)| sort.check_cursor_value(value.as_ref()))
    }

    /// Whether `projection` passes every filter.
    pub fn matches(&self, projection: &StoredProjection) -> bool {
        self.filters.iter().all(|filter| filter.matches(projection))
    }

    /// The result order of two cursors under this search's sort.
    pub fn order(&self, left: &Cursor, right: &Cursor) -> Ordering {
        self.sort
            .iter()
            .zip(left.values.iter().zip(&right.values))
            .map(|(sort, (l, r))| {
                let order = value::sort_order(l.as_ref(), r.as_ref());
                if sort.descending {
                    order.reverse()
                } else {
                    order
                }
            })
            .find(|order| order.is_ne())
            .unwrap_or(Ordering::Equal)
            .then_with(|| left.name.as_bytes().cmp(right.name.as_bytes()))
            .then_with(|| left.id.as_bytes().cmp(right.id.as_bytes()))
    }
}

/// One page of search results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The projections, in result order.
    pub projections: Vec<StoredProjection>,
    /// Where the next page starts, when there are results after this page.
    pub next: Option<Cursor>,
    /// Where the previous page ends, when there are results before this page.
    pub previous: Option<Cursor>,
}

impl Page {
    /// Builds a page from the sorted results around it: `rows` holds the page
    /// plus at most one more result in the paging direction, which tells
    /// whether there is a further page.
    pub fn from_rows(search: &Search, mut rows: Vec<StoredProjection>) -> Self {
        let limit = search.page_size() as usize;
        let more = rows.len() > limit;
        let backwards = matches!(search.paging(), Paging::Before(_));
        if backwards {
            // Rows arrive nearest the cursor first.
            rows.truncate(limit);
            rows.reverse();
        } else {
            rows.truncate(limit);
        }
        let cursor = |projection: Option<&StoredProjection>| {
            projection.map(|projection| Cursor::of(projection, search.sort_keys()))
        };
        let started_later = match search.paging() {
            Paging::Offset(offset) => *offset > 0,
            Paging::After(cursor) => cursor.is_some(),
            Paging::Before(_) => more,
        };
        let ends_early = if backwards { true } else { more };
        Page {
            next: ends_early.then(|| cursor(rows.last())).flatten(),
            previous: started_later.then(|| cursor(rows.first())).flatten(),
            projections: rows,
        }
    }
}
