//! Exact comparison of JSON numbers.
//!
//! A number's value is the decimal it is written as: an integer exactly, and an
//! `f64` as the shortest decimal that reads back as the same `f64`, which is how
//! `serde_json` writes it and so what a database that keeps JSON numbers as
//! decimals (PostgreSQL's `jsonb`) stores. Comparing that decimal, never an
//! `f64` approximation of the other side, is what lets every store agree:
//! `9007199254740993` is not `9007199254740992.0`, and the `f64`
//! `1.152921504606847e18` is `1152921504606847000`, not the binary value
//! `1152921504606846976` it stands for.

use std::cmp::Ordering;

use serde_json::Number;

/// The exact order of two JSON numbers; `-0` equals `0`.
pub(crate) fn compare(left: &Number, right: &Number) -> Ordering {
    match (integer(left), integer(right)) {
        (Some(left), Some(right)) => left.cmp(&right),
        // Two floats: distinct `f64`s have distinct shortest decimals in the same
        // order, so comparing the floats compares the decimals.
        (None, None) => match (left.as_f64(), right.as_f64()) {
            (Some(left), Some(right)) => left.partial_cmp(&right).unwrap_or(Ordering::Equal),
            _ => Decimal::of(left).cmp(&Decimal::of(right)),
        },
        _ => Decimal::of(left).cmp(&Decimal::of(right)),
    }
}

fn integer(number: &Number) -> Option<i128> {
    number
        .as_i64()
        .map(i128::from)
        .or_else(|| number.as_u64().map(i128::from))
}

/// A decimal `±0.d₁d₂…dₙ × 10^exponent`, with no leading or trailing zero digit
/// (zero has no digits), so equal values have equal fields.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    exponent: i64,
}

impl Decimal {
    /// The value `number` is written as.
    fn of(number: &Number) -> Self {
        Self::parse(&number.to_string())
    }

    /// Reads JSON number text (`-12.5e-3`); what does not parse reads as zero,
    /// which `serde_json`'s own output never needs.
    fn parse(text: &str) -> Self {
        let (negative, text) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exponent) = match text.find(['e', 'E']) {
            Some(at) => (&text[..at], text[at + 1..].parse::<i64>().unwrap_or(0)),
            None => (text, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all: Vec<u8> = whole
            .bytes()
            .chain(fraction.bytes())
            .filter(u8::is_ascii_digit)
            .map(|digit| digit - b'0')
            .collect();
        let leading = all.iter().take_while(|&&digit| digit == 0).count();
        let whole_len = i64::try_from(whole.len()).unwrap_or(i64::MAX);
        let leading_len = i64::try_from(leading).unwrap_or(i64::MAX);
        let mut digits = all[leading..].to_vec();
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            return Self {
                negative: false,
                digits,
                exponent: 0,
            };
        }
        Self {
            negative,
            digits,
            exponent: exponent.saturating_add(whole_len - leading_len),
        }
    }

    fn cmp_magnitude(&self, other: &Self) -> Ordering {
        match (self.digits.is_empty(), other.digits.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            // Digits are compared as a fraction: `[1, 2]` (0.12) < `[1, 3]`, and
            // `[1]` (0.1) < `[1, 2]`, which slice order gives.
            (false, false) => self
                .exponent
                .cmp(&other.exponent)
                .then_with(|| self.digits.cmp(&other.digits)),
        }
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn order(left: serde_json::Value, right: serde_json::Value) -> Ordering {
        match (left, right) {
            (serde_json::Value::Number(left), serde_json::Value::Number(right)) => {
                compare(&left, &right)
            }
            _ => panic!("numbers expected"),
        }
    }

    #[test]
    fn integers_and_floats_compare_by_their_exact_decimal() {
        let two_53 = 9_007_199_254_740_992_i64;
        assert_eq!(
            order(json!(two_53 + 1), json!(9_007_199_254_740_992.0)),
            Ordering::Greater
        );
        assert_eq!(
            order(json!(two_53), json!(9_007_199_254_740_992.0)),
            Ordering::Equal
        );
        assert_eq!(order(json!(0.1), json!(0)), Ordering::Greater);
        assert_eq!(order(json!(-0.1), json!(0)), Ordering::Less);
        assert_eq!(order(json!(-0.0), json!(0)), Ordering::Equal);
        assert_eq!(order(json!(-0.0), json!(0.0)), Ordering::Equal);
        assert_eq!(order(json!(1), json!(1.0)), Ordering::Equal);
        // 2^60 as an f64 is written 1.152921504606847e18.
        let float = json!(1_152_921_504_606_846_976.0_f64);
        assert_eq!(
            order(float.clone(), json!(1_152_921_504_606_847_000_u64)),
            Ordering::Equal
        );
        assert_eq!(
            order(float, json!(1_152_921_504_606_846_976_u64)),
            Ordering::Greater
        );
        assert_eq!(order(json!(u64::MAX), json!(-1)), Ordering::Greater);
        assert_eq!(order(json!(i64::MAX), json!(u64::MAX)), Ordering::Less);
        assert_eq!(order(json!(1e300), json!(u64::MAX)), Ordering::Greater);
        assert_eq!(order(json!(-1e300), json!(i64::MIN)), Ordering::Less);
        assert_eq!(order(json!(5e-324), json!(0)), Ordering::Greater);
    }

    #[test]
    fn decimals_parse_every_json_spelling() {
        let parse = Decimal::parse;
        assert_eq!(parse("100"), parse("1e2"));
        assert_eq!(parse("1E+2"), parse("0.1e3"));
        assert_eq!(parse("-0"), parse("0.000"));
        assert_eq!(parse("12.50"), parse("1.25e1"));
        assert!(parse("0.12") < parse("0.13"));
        assert!(parse("0.1") < parse("0.12"));
        assert!(parse("-0.1") > parse("-0.12"));
        assert!(parse("99") < parse("100"));
        assert!(parse("0.001") < parse("0.01"));
    }
}
