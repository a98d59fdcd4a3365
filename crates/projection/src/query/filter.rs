//! Filters: a field, an operator and a value, checked when built and
//! refused, if invalid, when a search or count runs.

use std::borrow::Cow;
use std::fmt;

use eventblocks_core::{Error, EventSourceIdentifier, Result};
use serde::Serialize;
use serde_json::Value;

use super::field::Field;
use super::pattern::Pattern;
use crate::projection::StoredProjection;
use crate::value;

/// The most values an [`Operator::In`] filter may list.
pub const MAX_IN_VALUES: usize = 1000;

/// How deeply arrays and objects may nest in a filter's value.
pub const MAX_VALUE_DEPTH: usize = 128;

/// How a filter compares a field with its value.
///
/// A path that finds nothing counts as JSON `null` for [`Operator::Equal`],
/// [`Operator::NotEqual`] and [`Operator::In`], and matches no other operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operator {
    /// JSON equality; numbers by value (`1` equals `1.0`).
    Equal,
    /// Not [`Operator::Equal`].
    NotEqual,
    /// Less than: numbers, strings (by bytes) or booleans, of the same kind as the
    /// value; anything else does not match.
    LessThan,
    /// Less than or equal, as [`Operator::LessThan`].
    LessThanOrEqual,
    /// Greater than, as [`Operator::LessThan`].
    GreaterThan,
    /// Greater than or equal, as [`Operator::LessThan`].
    GreaterThanOrEqual,
    /// Equal to one of the values of an array.
    In,
    /// A string field containing the string value, or an array field with an
    /// element equal to the value.
    Contains,
    /// A string field matching the regular expression.
    Matches,
    /// A string field not matching the regular expression.
    NotMatches,
}

impl Operator {
    /// Every operator, for tests and tools that try them all.
    pub const ALL: [Operator; 10] = [
        Operator::Equal,
        Operator::NotEqual,
        Operator::LessThan,
        Operator::LessThanOrEqual,
        Operator::GreaterThan,
        Operator::GreaterThanOrEqual,
        Operator::In,
        Operator::Contains,
        Operator::Matches,
        Operator::NotMatches,
    ];
}

/// One condition of a search.
#[derive(Clone)]
pub struct Filter {
    field: Field,
    operator: Operator,
    value: Value,
    pattern: Option<Pattern>,
    /// Why the filter cannot run, found when it was built; reported by
    /// [`Filter::validate`] when a search or count runs.
    invalid: Option<Invalid>,
}

/// An invalid filter's field and reason (an [`Error::InvalidInput`] kept
/// until a search reports it).
#[derive(Debug, Clone)]
struct Invalid {
    field: Cow<'static, str>,
    reason: Cow<'static, str>,
}

impl Filter {
    /// A filter on `field`.
    ///
    /// Regular expressions are those of the query dialect (see
    /// [`Pattern`](super::Pattern) and [the `query` module](super#regular-expressions)).
    ///
    /// Building a filter never fails: it is checked here, and a search or
    /// count that holds an invalid filter is refused with
    /// [`Error::InvalidInput`] before any I/O (see [`Filter::validate`]).
    pub fn new(field: Field, operator: Operator, value: impl Serialize) -> Self {
        let (value, checked) = match serde_json::to_value(value) {
            Ok(value) => {
                let checked = check(&field, operator, &value);
                (value, checked)
            }
            Err(e) => (
                Value::Null,
                Err(Error::invalid(
                    "filter value",
                    format!("cannot be serialised: {e}"),
                )),
            ),
        };
        let (pattern, invalid) = match checked {
            Ok(pattern) => (pattern, None),
            Err(error) => (None, Some(Invalid::from(error))),
        };
        Self {
            field,
            operator,
            value,
            pattern,
            invalid,
        }
    }

    /// `field` equal to `value` ([`Operator::Equal`]).
    pub fn equal(field: Field, value: impl Serialize) -> Self {
        Self::new(field, Operator::Equal, value)
    }

    /// Whether the filter can run: every search and count checks its filters
    /// with this before any I/O.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the field's path is invalid (see
    /// [`Field::validate`]), when the value cannot be serialised or does not
    /// fit the operator (a comparison needs a number, string or boolean; `In`
    /// an array of at most [`MAX_IN_VALUES`] values; the regular expression
    /// operators a pattern of the dialect within its limits), when an id or
    /// name filter is given a value of another kind than a string, when a
    /// source filter uses anything but equality or `In`, when a string holds
    /// a NUL character, or when the value nests deeper than
    /// [`MAX_VALUE_DEPTH`].
    ///
    /// ```
    /// use eventblocks_projection::query::{Field, Filter, Operator};
    ///
    /// let filter = Filter::new(Field::state("age"), Operator::LessThan, [1, 2]);
    /// assert!(filter.validate().unwrap_err().is_invalid_input());
    /// assert!(Filter::equal(Field::state("age"), 18).validate().is_ok());
    /// ```
    pub fn validate(&self) -> Result<()> {
        match &self.invalid {
            None => Ok(()),
            Some(invalid) => Err(Error::InvalidInput {
                field: invalid.field.clone(),
                reason: invalid.reason.clone(),
            }),
        }
    }

    /// The field filtered on.
    pub fn field(&self) -> &Field {
        &self.field
    }

    /// The operator.
    pub fn operator(&self) -> Operator {
        self.operator
    }

    /// The value compared with.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The regular expression of a [`Operator::Matches`] or
    /// [`Operator::NotMatches`] filter.
    pub fn pattern(&self) -> Option<&Pattern> {
        self.pattern.as_ref()
    }

    /// Whether `projection` passes this filter.
    pub fn matches(&self, projection: &StoredProjection) -> bool {
        self.holds_for(self.field.value_in(projection).as_ref())
    }

    fn holds_for(&self, found: Option<&Value>) -> bool {
        let null = Value::Null;
        let equal_to = |expected: &Value| value::equal(found.unwrap_or(&null), expected);
        match self.operator {
            Operator::Equal => equal_to(&self.value),
            Operator::NotEqual => !equal_to(&self.value),
            Operator::In => self
                .value
                .as_array()
                .is_some_and(|values| values.iter().any(equal_to)),
            Operator::LessThan => self.compares(found, |o| o.is_lt()),
            Operator::LessThanOrEqual => self.compares(found, |o| o.is_le()),
            Operator::GreaterThan => self.compares(found, |o| o.is_gt()),
            Operator::GreaterThanOrEqual => self.compares(found, |o| o.is_ge()),
            Operator::Contains => found.is_some_and(|found| value::contains(found, &self.value)),
            Operator::Matches => self.pattern_match(found) == Some(true),
            Operator::NotMatches => self.pattern_match(found) == Some(false),
        }
    }

    fn compares(&self, found: Option<&Value>, test: impl Fn(std::cmp::Ordering) -> bool) -> bool {
        found
            .and_then(|found| value::compare_scalars(found, &self.value))
            .is_some_and(test)
    }

    fn pattern_match(&self, found: Option<&Value>) -> Option<bool> {
        let text = found?.as_str()?;
        Some(self.pattern.as_ref()?.is_match(text))
    }
}

impl fmt::Debug for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?} {}", self.field, self.operator, self.value)
    }
}

/// Every check of a filter; its pattern, for the regular expression
/// operators.
fn check(field: &Field, operator: Operator, value: &Value) -> Result<Option<Pattern>> {
    field.validate()?;
    check_value(value, 0)?;
    check_operands(field, operator, value)
}

impl From<Error> for Invalid {
    fn from(error: Error) -> Self {
        match error {
            Error::InvalidInput { field, reason } => Self { field, reason },
            other => Self {
                field: "filter".into(),
                reason: other.to_string().into(),
            },
        }
    }
}

fn check_operands(field: &Field, operator: Operator, value: &Value) -> Result<Option<Pattern>> {
    let invalid = |reason: String| Err(Error::invalid(format!("filter on {field}"), reason));
    match (operator, value) {
        (Operator::In, Value::Array(values)) if values.len() > MAX_IN_VALUES => {
            return invalid(format!(
                "In takes at most {MAX_IN_VALUES} values, not {}",
                values.len()
            ));
        }
        _ => {}
    }
    if *field == Field::Source {
        return check_source(field, operator, value).map(|()| None);
    }
    if field.is_text() && !all_strings(operator, value) {
        return invalid(format!("{operator:?} on {field} needs string values"));
    }
    match operator {
        Operator::LessThan
        | Operator::LessThanOrEqual
        | Operator::GreaterThan
        | Operator::GreaterThanOrEqual
            if !(value.is_number() || value.is_string() || value.is_boolean()) =>
        {
            invalid(format!(
                "{operator:?} needs a number, string or boolean, not {value}"
            ))
        }
        Operator::In if !value.is_array() => invalid(format!("In needs an array, not {value}")),
        Operator::Matches | Operator::NotMatches => compile(field, value).map(Some),
        _ => Ok(None),
    }
}

fn all_strings(operator: Operator, value: &Value) -> bool {
    match (operator, value) {
        (Operator::In, Value::Array(values)) => values.iter().all(Value::is_string),
        (_, value) => value.is_string(),
    }
}

fn check_source(field: &Field, operator: Operator, value: &Value) -> Result<()> {
    let values: Vec<&Value> = match (operator, value) {
        (Operator::Equal | Operator::NotEqual, value) => vec![value],
        (Operator::In, Value::Array(values)) => values.iter().collect(),
        _ => {
            return Err(Error::invalid(
                format!("filter on {field}"),
                format!("{operator:?} is not supported on the source; use Equal, NotEqual or In"),
            ))
        }
    };
    for value in values {
        serde_json::from_value::<EventSourceIdentifier>(value.clone()).map_err(|e| {
            Error::invalid(
                format!("filter on {field}"),
                format!("{value} is not a source: {e}"),
            )
        })?;
    }
    Ok(())
}

fn compile(field: &Field, value: &Value) -> Result<Pattern> {
    let invalid = |reason: String| Error::invalid(format!("filter on {field}"), reason);
    let Some(pattern) = value.as_str() else {
        return Err(invalid(format!(
            "a regular expression must be a string, not {value}"
        )));
    };
    Pattern::parse(pattern)
        .map_err(|reason| invalid(format!("the regular expression {pattern:?} {reason}")))
}

/// Refuses a NUL character, which no stored text holds (PostgreSQL cannot
/// store one), and nesting deeper than [`MAX_VALUE_DEPTH`], beyond what any
/// store accepts, so no value could match it and PostgreSQL might refuse it.
fn check_value(value: &Value, depth: usize) -> Result<()> {
    let nested = match value {
        Value::String(text) => return check_text(text),
        Value::Array(values) => values.iter().collect::<Vec<_>>(),
        Value::Object(map) => {
            map.keys().try_for_each(|key| check_text(key))?;
            map.values().collect()
        }
        _ => return Ok(()),
    };
    if depth >= MAX_VALUE_DEPTH {
        return Err(Error::invalid(
            "filter value",
            format!("nests arrays and objects deeper than {MAX_VALUE_DEPTH} levels"),
        ));
    }
    nested
        .into_iter()
        .try_for_each(|value| check_value(value, depth + 1))
}

fn check_text(text: &str) -> Result<()> {
    if text.contains('\0') {
        return Err(Error::invalid("filter value", "contains a NUL character"));
    }
    Ok(())
}
