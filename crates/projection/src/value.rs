//! The meaning of JSON values in searches, shared by every adapter: how a path
//! finds a value, when two values are equal, and how values sort.
//!
//! PostgreSQL's `jsonb` operators differ from these rules in places (string
//! order follows the database collation, arrays sort by length); adapters
//! translate these rules, not their backend's.

use std::cmp::Ordering;

use serde_json::{Number, Value};

use crate::number;

/// The value at `path` in `document`, if there is one.
///
/// A segment names an object key; on an array it is an index (see
/// [`array_index`]), counted from the end when negative (as PostgreSQL's `#>`
/// does).
pub fn lookup<'a>(document: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter()
        .try_fold(document, |value, segment| match value {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => {
                let index = i64::from(array_index(segment)?);
                let index = if index < 0 {
                    i64::try_from(items.len()).ok()? + index
                } else {
                    index
                };
                items.get(usize::try_from(index).ok()?)
            }
            _ => None,
        })
}

/// The array index a path segment names, read as PostgreSQL reads it
/// (C's `strtol` into an `int`): optional leading white space (space, tab,
/// line feed, vertical tab, form feed, carriage return), an optional sign and at
/// least one decimal digit, nothing after, within `i32`. So `" 1"`, `"+1"` and
/// `"01"` name element 1 and `"1 "` names none.
pub fn array_index(segment: &str) -> Option<i32> {
    let trimmed = segment.trim_start_matches([' ', '\t', '\n', '\u{b}', '\u{c}', '\r']);
    let digits = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    trimmed.parse().ok()
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
pub fn equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => compare_numbers(left, right).is_eq(),
        (Value::Array(left), Value::Array(right)) => {
            left.len() == right.len() && left.iter().zip(right).all(|(l, r)| equal(l, r))
        }
        (Value::Object(left), Value::Object(right)) => {
            left.len() == right.len()
                && left
                    .iter()
                    .all(|(key, l)| right.get(key).is_some_and(|r| equal(l, r)))
        }
        _ => left == right,
    }
}

/// Orders two scalars of the same kind (numbers, strings by bytes, booleans);
/// `None` for anything else, which no comparison filter matches.
pub fn compare_scalars(left: &Value, right: &Value) -> Option<Ordering> {
    match (left, right) {
        (Value::Number(left), Value::Number(right)) => Some(compare_numbers(left, right)),
        (Value::String(left), Value::String(right)) => Some(left.as_bytes().cmp(right.as_bytes())),
        (Value::Bool(left), Value::Bool(right)) => Some(left.cmp(right)),
        _ => None,
    }
}

/// Numbers by their exact value, as written: see the `number` module.
fn compare_numbers(left: &Number, right: &Number) -> Ordering {
    number::compare(left, right)
}

/// Where a value sorts among values of other kinds: a missing value first, then
/// `null`, booleans, numbers, strings, arrays and objects.
pub fn rank(value: Option<&Value>) -> u8 {
    match value {
        None => 0,
        Some(Value::Null) => 1,
        Some(Value::Bool(_)) => 2,
        Some(Value::Number(_)) => 3,
        Some(Value::String(_)) => 4,
        Some(Value::Array(_)) => 5,
        Some(Value::Object(_)) => 6,
    }
}

/// The sort order of possibly missing values: by [`rank`], then scalars by
/// value. Arrays and objects sort as equal to each other within their rank.
pub fn sort_order(left: Option<&Value>, right: Option<&Value>) -> Ordering {
    rank(left)
        .cmp(&rank(right))
        .then_with(|| match (left, right) {
            (Some(left), Some(right)) => compare_scalars(left, right).unwrap_or(Ordering::Equal),
            _ => Ordering::Equal,
        })
}

/// Whether `value` contains `needle`: a substring of a string, or an element
/// (by [`equal`]) of an array.
pub fn contains(value: &Value, needle: &Value) -> bool {
    match (value, needle) {
        (Value::String(value), Value::String(needle)) => value.contains(needle.as_str()),
        (Value::Array(items), needle) => items.iter().any(|item| equal(item, needle)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn path(segments: &[&str]) -> Vec<String> {
        segments.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn paths_walk_objects_and_arrays() {
        let document = json!({"a": {"b": [10, 20, 30]}, "0": "key"});
        assert_eq!(lookup(&document, &path(&["a", "b", "1"])), Some(&json!(20)));
        assert_eq!(
            lookup(&document, &path(&["a", "b", "-1"])),
            Some(&json!(30))
        );
        assert_eq!(lookup(&document, &path(&["0"])), Some(&json!("key")));
        assert_eq!(lookup(&document, &path(&["a", "b", "3"])), None);
        assert_eq!(lookup(&document, &path(&["a", "b", "x"])), None);
        assert_eq!(lookup(&document, &path(&["a", "b", "1", "c"])), None);
    }

    #[test]
    fn array_indexes_read_as_postgresql_reads_them() {
        let document = json!([10, 20, 30]);
        for (segment, found) in [
            (" 1", Some(20)),
            ("\u{b}\t1", Some(20)),
            ("+1", Some(20)),
            ("01", Some(20)),
            ("-0", Some(10)),
            ("\t-1", Some(30)),
            ("1 ", None),
            ("", None),
            ("+", None),
            ("1e0", None),
            ("4294967297", None),
            ("-2147483648", None),
        ] {
            assert_eq!(
                lookup(&document, &path(&[segment])),
                found.map(|n| json!(n)).as_ref(),
                "segment {segment:?}"
            );
        }
    }

    #[test]
    fn numbers_are_equal_by_value() {
        assert!(equal(&json!(1), &json!(1.0)));
        assert!(equal(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!equal(&json!(1), &json!("1")));
        assert!(!equal(&json!([1]), &json!([1, 1])));
    }

    #[test]
    fn kinds_sort_in_rank_order() {
        let values = [
            json!(null),
            json!(true),
            json!(-1.5),
            json!("a"),
            json!([]),
            json!({}),
        ];
        assert_eq!(sort_order(None, Some(&values[0])), Ordering::Less);
        for pair in values.windows(2) {
            assert_eq!(sort_order(Some(&pair[0]), Some(&pair[1])), Ordering::Less);
        }
        assert_eq!(
            sort_order(Some(&json!("B")), Some(&json!("a"))),
            Ordering::Less
        );
        assert_eq!(
            sort_order(Some(&json!([2])), Some(&json!([1]))),
            Ordering::Equal
        );
    }
}
