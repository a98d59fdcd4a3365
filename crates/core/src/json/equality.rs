//! Whether two JSON texts hold the same value: the one comparison every
//! adapter's idempotent retries rely on.
//!
//! Numbers compare by exact decimal value (see [`Number::same_value`]), object
//! members in any order, strings after unescaping, white space not at all. The
//! walk captures each node as raw text so a number's digits are never rounded
//! through an `f64`; a node spelt identically on both sides is equal without
//! being parsed.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use super::number::Number;

/// Whether `a` and `b` hold the same JSON value. Text that does not parse is
/// equal only to the same text.
pub(super) fn same_value(a: &str, b: &str) -> bool {
    let (a, b) = (trim(a), trim(b));
    if a == b {
        return true;
    }
    match (a.as_bytes().first(), b.as_bytes().first()) {
        (Some(b'{'), Some(b'{')) => same_objects(a, b),
        (Some(b'['), Some(b'[')) => same_arrays(a, b),
        (Some(b'"'), Some(b'"')) => same_strings(a, b),
        (Some(b'-' | b'0'..=b'9'), Some(b'-' | b'0'..=b'9')) => same_numbers(a, b),
        // `true`, `false` and `null` have one spelling each.
        _ => false,
    }
}

fn trim(text: &str) -> &str {
    text.trim_matches([' ', '\t', '\n', '\r'])
}

fn same_numbers(a: &str, b: &str) -> bool {
    match (Number::parse(a), Number::parse(b)) {
        (Some(a), Some(b)) => a.same_value(&b),
        _ => false,
    }
}

fn same_strings(a: &str, b: &str) -> bool {
    match (
        serde_json::from_str::<String>(a),
        serde_json::from_str::<String>(b),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

fn same_arrays(a: &str, b: &str) -> bool {
    let parse = serde_json::from_str::<Vec<&RawValue>>;
    match (parse(a), parse(b)) {
        (Ok(a), Ok(b)) => {
            a.len() == b.len() && a.iter().zip(&b).all(|(a, b)| same_value(a.get(), b.get()))
        }
        _ => false,
    }
}

/// Members compared by key. Stored documents have no key twice (input is
/// checked); were one to, the last member with that key counts, as in
/// PostgreSQL's `jsonb`.
fn same_objects(a: &str, b: &str) -> bool {
    let parse = serde_json::from_str::<BTreeMap<String, &RawValue>>;
    match (parse(a), parse(b)) {
        (Ok(a), Ok(b)) => {
            a.len() == b.len()
                && a.iter()
                    .zip(&b)
                    .all(|((key_a, a), (key_b, b))| key_a == key_b && same_value(a.get(), b.get()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_exact_value() {
        assert!(same_value("[1e2, -0, 0.1e1]", "[100,0,1]"));
        assert!(same_value("1.00E+2", "100.0"));
        assert!(same_value(
            r#"{"big":18446744073709551617123}"#,
            r#"{"big":1.8446744073709551617123e22}"#
        ));
        assert!(!same_value("9007199254740993", "9007199254740992"));
        assert!(!same_value(
            "[18446744073709551617123]",
            "[18446744073709551617124]"
        ));
        assert!(!same_value("1e16", "10000000000000001"));
    }

    #[test]
    fn members_compare_in_any_order() {
        assert!(same_value(
            r#"{"a": 1, "b": {"c": [true, null], "d": "x"}}"#,
            r#"{"b":{"d":"x","c":[true,null]},"a":1.0}"#
        ));
        assert!(!same_value(r#"{"a":1}"#, r#"{"a":1,"b":1}"#));
        assert!(!same_value(r#"{"a":1}"#, r#"{"b":1}"#));
        assert!(!same_value("[1,2]", "[2,1]"));
        assert!(!same_value("[1]", "[1,1]"));
    }

    #[test]
    fn strings_compare_unescaped() {
        assert!(same_value(r#""\u0061\n""#, "\"a\\n\""));
        assert!(same_value(r#"{"\u00e9":1}"#, r#"{"é":1}"#));
        assert!(!same_value(r#""1""#, "1"));
        assert!(!same_value(r#""a""#, r#""b""#));
    }

    #[test]
    fn kinds_never_match_across() {
        assert!(same_value(" true ", "true"));
        assert!(!same_value("true", "false"));
        assert!(!same_value("null", "0"));
        assert!(!same_value("[]", "{}"));
        assert!(!same_value("{", "{}"));
        assert!(same_value("{", "{"));
    }
}
