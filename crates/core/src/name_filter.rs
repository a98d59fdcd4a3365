//! Filters on event names for scans and subscriptions: names to keep and
//! names to leave out, each an exact name or a prefix.

use std::fmt;

use crate::error::{Error, Result};
use crate::identifier::{Name, MAX_NAME_BYTES};

/// An exact event name, or every name starting with a prefix.
///
/// Exhaustive on purpose: an adapter that translates patterns into its own
/// query language must handle every kind, and a new kind is a breaking change.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum NamePattern {
    /// Exactly this name.
    Exact(Name),
    /// Every name starting with this text (possibly empty: every name).
    Prefix(String),
}

impl NamePattern {
    /// A prefix pattern.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `field` for a prefix with a NUL or longer
    /// than a name may be.
    pub fn prefix(field: &'static str, prefix: &str) -> Result<Self> {
        if prefix.contains('\0') || prefix.len() > MAX_NAME_BYTES {
            return Err(Error::invalid(
                field,
                format!("{prefix:.40?} is not a name prefix: a NUL, or longer than {MAX_NAME_BYTES} bytes"),
            ));
        }
        Ok(Self::Prefix(prefix.to_owned()))
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Self::Exact(exact) => exact.as_str() == name,
            Self::Prefix(prefix) => name.starts_with(prefix.as_str()),
        }
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(name) => write!(f, "{:?}", name.as_str()),
            Self::Prefix(prefix) => write!(f, "{prefix:?}…"),
        }
    }
}

/// Which event names a scan keeps: those matching one of `include` (every
/// name when it is empty) and none of `exclude`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameFilter {
    /// Names to keep; empty: every name.
    pub include: Vec<NamePattern>,
    /// Names to leave out, even when included.
    pub exclude: Vec<NamePattern>,
}

impl NameFilter {
    /// Whether the filter lets every name through.
    pub fn is_everything(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }

    /// Whether `name` passes.
    pub fn matches(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|pattern| pattern.matches(name)))
            && !self.exclude.iter().any(|pattern| pattern.matches(name))
    }
}

/// Event names a caller asked for, not yet validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NamesWanted {
    pub(crate) exact: Option<Vec<String>>,
    pub(crate) prefixes: Option<Vec<String>>,
}

impl NamesWanted {
    /// Validates the names and prefixes into patterns; `field` names the
    /// exact names and `prefix_field` the prefixes in errors.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty list or an invalid name or prefix.
    pub(crate) fn patterns(
        &self,
        field: &'static str,
        prefix_field: &'static str,
    ) -> Result<Vec<NamePattern>> {
        let mut patterns = Vec::new();
        if let Some(exact) = &self.exact {
            non_empty(field, exact)?;
            for name in exact {
                patterns.push(NamePattern::Exact(Name::new(field, name.as_str())?));
            }
        }
        if let Some(prefixes) = &self.prefixes {
            non_empty(prefix_field, prefixes)?;
            for prefix in prefixes {
                patterns.push(NamePattern::prefix(prefix_field, prefix)?);
            }
        }
        Ok(patterns)
    }
}

fn non_empty(field: &'static str, values: &[String]) -> Result<()> {
    if values.is_empty() {
        return Err(Error::invalid(
            field,
            "an event-name filter needs at least one name",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(name: &str) -> NamePattern {
        NamePattern::Exact(Name::new("names", name).unwrap())
    }

    #[test]
    fn exact_names_and_prefixes() {
        let filter = NameFilter {
            include: vec![
                NamePattern::prefix("name_prefixes", "order-").unwrap(),
                exact("shipped"),
            ],
            exclude: vec![exact("order-cancelled")],
        };
        assert!(filter.matches("order-placed") && filter.matches("shipped"));
        assert!(!filter.matches("order-cancelled") && !filter.matches("refunded"));
        assert!(NamePattern::prefix("p", "").unwrap().matches("anything"));
        assert!(exact("a*").matches("a*") && !exact("a*").matches("ab"));
        assert!(NamePattern::prefix("p", "a\0").is_err());
        assert!(NameFilter::default().matches("x"));
    }

    #[test]
    fn wanted_names_are_validated() {
        let wanted = NamesWanted {
            exact: Some(vec![]),
            prefixes: None,
        };
        assert!(wanted.patterns("names", "name_prefixes").is_err());
        let wanted = NamesWanted {
            exact: Some(vec!["a".into()]),
            prefixes: Some(vec!["b".into(), String::new()]),
        };
        assert_eq!(wanted.patterns("names", "name_prefixes").unwrap().len(), 3);
    }
}
