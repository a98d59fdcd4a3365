//! Queries: which events a consistency boundary spans, as the DCB
//! specification defines them.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::event::StoredEvent;
use crate::identifier::Name;
use crate::tag::Tag;

/// The events a decision depends on: a list of [`QueryItem`]s combined with
/// OR. An empty query (the default, [`Query::all`]) matches every event.
///
/// ```
/// use eventblocks_core::{Query, QueryItem};
///
/// // The course's own events, and every enrolment in it.
/// let course = Query::new()
///     .or(QueryItem::new().names(["course-defined", "capacity-changed"])?.tags(["course:c1"])?)
///     .or(QueryItem::new().names(["student-enrolled"])?.tags(["course:c1"])?);
/// assert_eq!(course.items().len(), 2);
/// # Ok::<(), eventblocks_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Query {
    items: Vec<QueryItem>,
}

/// One alternative of a [`Query`]: it matches an event whose name is one of
/// the item's names (or the item names none) and which carries every one of
/// the item's tags (or the item has none). An event may carry more tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QueryItem {
    names: BTreeSet<Name>,
    tags: BTreeSet<Tag>,
}

impl Query {
    /// The query that matches every event.
    pub fn all() -> Self {
        Self::default()
    }

    /// A query matching nothing yet: add items with [`Query::or`]. (With no
    /// items it matches every event, as [`Query::all`].)
    pub fn new() -> Self {
        Self::default()
    }

    /// This query, or `item`.
    #[must_use]
    pub fn or(mut self, item: QueryItem) -> Self {
        self.items.push(item);
        self
    }

    /// The items, combined with OR.
    pub fn items(&self) -> &[QueryItem] {
        &self.items
    }

    /// Whether the query matches every event.
    pub fn is_all(&self) -> bool {
        self.items.is_empty() || self.items.iter().any(QueryItem::is_all)
    }

    /// Whether an event called `name` carrying `tags` matches: the one
    /// matching rule, for reads and conditions on every adapter.
    pub fn matches(&self, name: &str, tags: &BTreeSet<Tag>) -> bool {
        self.items.is_empty() || self.items.iter().any(|item| item.matches(name, tags))
    }

    /// Whether `event` matches.
    pub fn matches_event(&self, event: &StoredEvent) -> bool {
        self.matches(&event.name, &event.tags)
    }

    /// Checks the query against `limits`, reporting as `field`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when it has more items, or an item more names or
    /// tags, than `limits` allow.
    pub fn check(&self, field: &str, limits: &crate::Limits) -> Result<()> {
        if self.items.len() > limits.max_query_items {
            return Err(Error::invalid(
                field.to_owned(),
                format!(
                    "has {} items; at most {} are accepted",
                    self.items.len(),
                    limits.max_query_items
                ),
            ));
        }
        for (index, item) in self.items.iter().enumerate() {
            let terms = item.names.len() + item.tags.len();
            if terms > limits.max_query_item_terms {
                return Err(Error::invalid(
                    format!("{field}.items[{index}]"),
                    format!(
                        "has {terms} names and tags; at most {} are accepted",
                        limits.max_query_item_terms
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Query {
    /// The events of this query that are called `name`, or `None` when no
    /// item can match that name.
    pub(crate) fn only_named(&self, name: &Name) -> Option<Query> {
        if self.is_all() {
            return Some(Query::new().or(QueryItem::named(name, BTreeSet::new())));
        }
        let items: Vec<QueryItem> = self
            .items
            .iter()
            .filter(|item| item.names.is_empty() || item.names.contains(name))
            .map(|item| QueryItem::named(name, item.tags.clone()))
            .collect();
        (!items.is_empty()).then_some(Query { items })
    }
}

impl QueryItem {
    fn named(name: &Name, tags: BTreeSet<Tag>) -> Self {
        Self {
            names: BTreeSet::from([name.clone()]),
            tags,
        }
    }

    /// An item matching every event: narrow it with [`QueryItem::names`] and
    /// [`QueryItem::tags`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events with one of these names (added to those given before).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an invalid name.
    pub fn names<S: AsRef<str>>(mut self, names: impl IntoIterator<Item = S>) -> Result<Self> {
        for name in names {
            self.names
                .insert(Name::new("query name", name.as_ref().to_owned())?);
        }
        Ok(self)
    }

    /// Only events carrying all of these tags (added to those given before).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an invalid tag.
    pub fn tags<S: AsRef<str>>(mut self, tags: impl IntoIterator<Item = S>) -> Result<Self> {
        for tag in tags {
            self.tags.insert(Tag::new(tag.as_ref().to_owned())?);
        }
        Ok(self)
    }

    /// The item's names; empty: any name.
    pub fn name_set(&self) -> &BTreeSet<Name> {
        &self.names
    }

    /// The item's tags; empty: no tag required.
    pub fn tag_set(&self) -> &BTreeSet<Tag> {
        &self.tags
    }

    /// Whether the item matches every event.
    pub fn is_all(&self) -> bool {
        self.names.is_empty() && self.tags.is_empty()
    }

    /// Whether an event called `name` carrying `tags` matches the item.
    pub fn matches(&self, name: &str, tags: &BTreeSet<Tag>) -> bool {
        (self.names.is_empty() || self.names.contains(name)) && self.tags.is_subset(tags)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.items.is_empty() {
            return f.write_str("every event");
        }
        for (index, item) in self.items.iter().enumerate() {
            if index > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

impl fmt::Display for QueryItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.names.iter().map(Name::as_str).collect();
        let tags: Vec<&str> = self.tags.iter().map(Tag::as_str).collect();
        match (names.is_empty(), tags.is_empty()) {
            (true, true) => f.write_str("(any event)"),
            (false, true) => write!(f, "({})", names.join(" | ")),
            (true, false) => write!(f, "(tagged {})", tags.join(" & ")),
            (false, false) => write!(f, "({} tagged {})", names.join(" | "), tags.join(" & ")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(values: &[&str]) -> BTreeSet<Tag> {
        values
            .iter()
            .map(|value| Tag::new(*value).unwrap())
            .collect()
    }

    #[test]
    fn items_are_ored_names_ored_and_tags_anded() {
        let query = Query::new()
            .or(QueryItem::new()
                .names(["a", "b"])
                .unwrap()
                .tags(["x", "y"])
                .unwrap())
            .or(QueryItem::new().tags(["z"]).unwrap());
        assert!(query.matches("a", &tags(&["x", "y"])));
        assert!(
            query.matches("b", &tags(&["x", "y", "extra"])),
            "more tags still match"
        );
        assert!(!query.matches("a", &tags(&["x"])), "every tag of the item");
        assert!(!query.matches("c", &tags(&["x", "y"])), "one of the names");
        assert!(
            query.matches("c", &tags(&["z"])),
            "a tag-only item takes any name"
        );
        assert!(Query::all().matches("anything", &BTreeSet::new()));
        assert!(QueryItem::new()
            .names(["a"])
            .unwrap()
            .matches("a", &BTreeSet::new()));
    }

    #[test]
    fn refuses_bad_terms_and_oversized_queries() {
        assert!(QueryItem::new().tags([""]).is_err());
        assert!(QueryItem::new().names(["a\0b"]).is_err());
        let limits = crate::Limits::default();
        let wide = (0..=limits.max_query_items).fold(Query::new(), |query, index| {
            query.or(QueryItem::new().tags([format!("t{index}")]).unwrap())
        });
        assert!(wide
            .check("condition", &limits)
            .unwrap_err()
            .is_invalid_input());
        let item = QueryItem::new()
            .tags((0..=limits.max_query_item_terms).map(|index| format!("t{index}")))
            .unwrap();
        let error = Query::new().or(item).check("query", &limits).unwrap_err();
        assert!(error.to_string().contains("query.items[0]"), "{error}");
    }
}
