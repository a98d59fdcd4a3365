//! JSON numbers as written: their exact value, and the limits every adapter
//! applies to them.
//!
//! A number is kept as the text it was given (`-12.50e3`) and compared by the
//! decimal value that text denotes, so `1e2`, `100`, `100.0` and `1.00E+2` are
//! one value, and `9007199254740993` is not `9007199254740992` (as it would be
//! through an `f64`).

use std::fmt;

/// The most digits after the decimal point a stored number may have once
/// written out without its exponent: PostgreSQL's `numeric`, which holds
/// `jsonb` numbers, keeps at most this many (its `NUMERIC_DSCALE_MAX`).
pub(crate) const MAX_FRACTION_DIGITS: i128 = 16_383;

/// PostgreSQL refuses a number whose exponent is this large in magnitude
/// (`INT_MAX / 2`), whatever its digits, even `0e1073741823`.
pub(crate) const EXPONENT_LIMIT: u64 = 1_073_741_823;

/// A JSON number token split into its parts: `-` `integer` `.fraction`
/// `e exponent`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Number<'a> {
    text: &'a str,
    negative: bool,
    integer: &'a [u8],
    fraction: &'a [u8],
    /// Whether the text has a fraction part.
    has_point: bool,
    /// Whether the text has an exponent part.
    has_exponent: bool,
    /// The written exponent, saturated at the bounds of `i64`: numbers that
    /// large are refused on input, so saturation never merges two accepted
    /// values.
    exponent: i64,
}

impl<'a> Number<'a> {
    /// Splits `text`, or `None` if it is not a JSON number.
    pub(crate) fn parse(text: &'a str) -> Option<Self> {
        let bytes = text.as_bytes();
        let negative = bytes.first() == Some(&b'-');
        let rest = &bytes[usize::from(negative)..];
        let (integer, rest) = split_digits(rest);
        let (has_point, fraction, rest) = match rest.split_first() {
            Some((b'.', after)) => {
                let (fraction, rest) = split_digits(after);
                (true, fraction, rest)
            }
            _ => (false, &rest[..0], rest),
        };
        let (has_exponent, exponent, rest) = match rest.split_first() {
            Some((b'e' | b'E', after)) => {
                let (exponent, rest) = parse_exponent(after)?;
                (true, exponent, rest)
            }
            _ => (false, 0, rest),
        };
        let well_formed = !integer.is_empty()
            && (integer == b"0" || integer[0] != b'0')
            && (!has_point || !fraction.is_empty())
            && rest.is_empty();
        well_formed.then_some(Self {
            text,
            negative,
            integer,
            fraction,
            has_point,
            has_exponent,
            exponent,
        })
    }

    /// Whether the number is written as a plain integer (no fraction, no
    /// exponent), the only spelling serde reads into an integer type.
    pub(crate) fn is_plain_integer(&self) -> bool {
        !self.has_point && !self.has_exponent
    }

    /// How many digits follow the decimal point when the number is written
    /// out without its exponent, trailing zeros included (`1.50e-3` is
    /// `0.00150`: 5).
    pub(crate) fn fraction_digits(&self) -> i128 {
        (len(self.fraction) - i128::from(self.exponent)).max(0)
    }

    /// The magnitude of the written exponent.
    pub(crate) fn exponent_magnitude(&self) -> u64 {
        self.exponent.unsigned_abs()
    }

    /// Whether both denote the same decimal value (`-0` is `0`).
    pub(crate) fn same_value(&self, other: &Number<'_>) -> bool {
        match (self.significand(), other.significand()) {
            (None, None) => true,
            (Some(a), Some(b)) => {
                self.negative == other.negative
                    && a.count == b.count
                    && a.exponent == b.exponent
                    && self
                        .digits()
                        .skip(a.skip)
                        .take(a.count)
                        .eq(other.digits().skip(b.skip).take(b.count))
            }
            _ => false,
        }
    }

    fn digits(&self) -> impl DoubleEndedIterator<Item = u8> + 'a {
        self.integer.iter().chain(self.fraction).copied()
    }

    /// The significant digits (without leading or trailing zeros), or `None`
    /// for zero.
    fn significand(&self) -> Option<Significand> {
        let total = self.integer.len() + self.fraction.len();
        let skip = self.digits().take_while(|&digit| digit == b'0').count();
        if skip == total {
            return None;
        }
        let trailing = self
            .digits()
            .rev()
            .take_while(|&digit| digit == b'0')
            .count();
        Some(Significand {
            skip,
            count: total - skip - trailing,
            exponent: i128::from(self.exponent) - len(self.fraction) + len_usize(trailing),
        })
    }
}

impl fmt::Display for Number<'_> {
    /// The text, shortened if long, for error messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 40;
        match self.text.get(..SHOWN) {
            Some(start) if self.text.len() > SHOWN => write!(f, "{start}…"),
            _ => f.write_str(self.text),
        }
    }
}

/// Where a number's significant digits sit among its written digits, and the
/// decimal exponent of the last of them: the value is
/// `digits[skip..skip + count] × 10^exponent`.
struct Significand {
    skip: usize,
    count: usize,
    exponent: i128,
}

fn split_digits(bytes: &[u8]) -> (&[u8], &[u8]) {
    let end = bytes
        .iter()
        .position(|byte| !byte.is_ascii_digit())
        .unwrap_or(bytes.len());
    bytes.split_at(end)
}

/// The exponent after `e`, saturated at the bounds of `i64`, and what follows.
fn parse_exponent(bytes: &[u8]) -> Option<(i64, &[u8])> {
    let (negative, bytes) = match bytes.split_first() {
        Some((b'-', after)) => (true, after),
        Some((b'+', after)) => (false, after),
        _ => (false, bytes),
    };
    let (digits, rest) = split_digits(bytes);
    if digits.is_empty() {
        return None;
    }
    let magnitude = digits.iter().fold(0_i64, |value, digit| {
        value
            .saturating_mul(10)
            .saturating_add(i64::from(digit - b'0'))
    });
    let exponent = if negative { -magnitude } else { magnitude };
    Some((exponent, rest))
}

fn len(bytes: &[u8]) -> i128 {
    len_usize(bytes.len())
}

fn len_usize(count: usize) -> i128 {
    i128::try_from(count).unwrap_or(i128::MAX)
}

/// Why a [`serde_json::Value`] cannot hold the number `token` exactly, if it
/// cannot: a `Value` holds an `i64`, a `u64` or an `f64`.
pub(crate) fn value_refusal(token: &str) -> Option<String> {
    let Some(number) = Number::parse(token) else {
        return Some(format!("holds {token:?}, which is not a JSON number"));
    };
    if number.is_plain_integer() {
        let fits = token.parse::<i64>().is_ok() || token.parse::<u64>().is_ok();
        return (!fits).then(|| {
            format!("holds the integer {number}, beyond the ranges of i64 and u64, which cannot be kept exactly")
        });
    }
    let Ok(nearest) = serde_json::from_str::<f64>(token) else {
        return Some(format!(
            "holds the number {number}, beyond the range of an f64"
        ));
    };
    let held = serde_json::to_string(&nearest).unwrap_or_default();
    let exact = Number::parse(&held).is_some_and(|held| held.same_value(&number));
    (!exact).then(|| {
        format!("holds the number {number}, which would be kept as the f64 {held}, another value")
    })
}

/// The number tokens of valid JSON text, in order.
pub(crate) fn number_tokens(text: &str) -> NumberTokens<'_> {
    NumberTokens { text, at: 0 }
}

/// See [`number_tokens`]. It relies on the text being valid JSON: outside
/// strings, a number is the only value that starts with `-` or a digit, and
/// it runs until the first byte that cannot be part of one.
#[derive(Debug)]
pub(crate) struct NumberTokens<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for NumberTokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.text.as_bytes();
        while let Some(&byte) = bytes.get(self.at) {
            match byte {
                b'"' => self.at = end_of_string(bytes, self.at + 1),
                b'-' | b'0'..=b'9' => {
                    let start = self.at;
                    self.at += bytes[start..]
                        .iter()
                        .position(|byte| !is_number_byte(*byte))
                        .unwrap_or(bytes.len() - start);
                    return self.text.get(start..self.at);
                }
                _ => self.at += 1,
            }
        }
        None
    }
}

fn is_number_byte(byte: u8) -> bool {
    matches!(byte, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
}

/// The index just after the string whose contents start at `at`.
fn end_of_string(bytes: &[u8], mut at: usize) -> usize {
    while let Some(&byte) = bytes.get(at) {
        match byte {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    at
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Number<'_> {
        Number::parse(text).unwrap_or_else(|| panic!("{text} is a number"))
    }

    fn same(a: &str, b: &str) -> bool {
        number(a).same_value(&number(b))
    }

    #[test]
    fn spellings_of_one_value_are_equal() {
        for spelling in [
            "100", "1e2", "1E+2", "100.0", "1.00E+2", "0.1e3", "10000e-2",
        ] {
            assert!(same("100", spelling), "{spelling}");
            assert!(same(spelling, "100"), "{spelling}");
        }
        assert!(same("-0", "0"));
        assert!(same("-0.0e5", "0"));
        assert!(same("0e-400", "0"));
        assert!(same("0.1e1", "1"));
        assert!(same("-1.5", "-15e-1"));
    }

    #[test]
    fn different_values_are_not_equal() {
        assert!(!same("9007199254740993", "9007199254740992"));
        assert!(!same("18446744073709551617123", "18446744073709551617124"));
        assert!(same(
            "18446744073709551617123",
            "1.8446744073709551617123e22"
        ));
        assert!(!same("1", "-1"));
        assert!(!same("1", "10"));
        assert!(!same("0", "1e-400"));
        assert!(!same("1e2", "1e3"));
        assert!(!same("0.1", "0.10000000000000001"));
    }

    #[test]
    fn huge_exponents_saturate() {
        let huge = number("1e99999999999999999999999");
        assert_eq!(huge.exponent_magnitude(), i64::MAX.unsigned_abs());
        assert_eq!(
            number("1e-99999999999999999999").fraction_digits(),
            i128::from(i64::MAX)
        );
    }

    #[test]
    fn fraction_digits_count_trailing_zeros() {
        assert_eq!(number("1.50e-3").fraction_digits(), 5);
        assert_eq!(number("1.5e3").fraction_digits(), 0);
        assert_eq!(number("0.000").fraction_digits(), 3);
        assert_eq!(number("7").fraction_digits(), 0);
    }

    #[test]
    fn only_json_numbers_parse() {
        for bad in [
            "", "-", "01", "1.", ".5", "1e", "1e+", "+1", "1x", "--1", "0x1",
        ] {
            assert!(Number::parse(bad).is_none(), "{bad:?}");
        }
        assert!(number("12").is_plain_integer());
        assert!(!number("12.0").is_plain_integer());
        assert!(!number("12e0").is_plain_integer());
    }

    #[test]
    fn tokens_skip_strings() {
        let text = r#"{"a1":-1.5e3,"b":["x\"9",2,true,null,0],"-3":{"c":1E+2}}"#;
        let tokens: Vec<_> = number_tokens(text).collect();
        assert_eq!(tokens, ["-1.5e3", "2", "0", "1E+2"]);
    }

    #[test]
    fn values_hold_integers_of_i64_or_u64_and_f64_spellings() {
        for fits in [
            "-9223372036854775808",
            "18446744073709551615",
            "-0",
            "0.1",
            "1e16",
            "1.5e300",
            "5e-324",
            "100.0",
            "1.00E+2",
        ] {
            assert_eq!(value_refusal(fits), None, "{fits}");
        }
        for lost in [
            "18446744073709551616",
            "-9223372036854775809",
            "0.10000000000000000001",
            "1e-400",
            "9007199254740993.0",
        ] {
            assert!(value_refusal(lost).is_some(), "{lost}");
        }
    }

    #[test]
    fn long_numbers_are_shortened_in_messages() {
        let text = "1".repeat(100);
        assert_eq!(number(&text).to_string(), format!("{}…", "1".repeat(40)));
        assert_eq!(number("1e2").to_string(), "1e2");
    }
}
