//! Trigram similarity, computed exactly as PostgreSQL's `pg_trgm` computes
//! its `similarity()`, so that a sort by similarity orders alike on every
//! store.
//!
//! `pg_trgm` splits a text into words (runs of letters and digits), lower-cases
//! each word, pads it with two spaces before and one after, and takes every
//! run of three characters as a trigram. The similarity of two texts is the
//! number of trigrams they share divided by the number of distinct trigrams
//! of both, a single-precision float (`real`); a text without words has no
//! trigrams, and its similarity to anything is 0.
//!
//! What `pg_trgm` leaves to its server is pinned down here as PostgreSQL 15
//! does it in a UTF-8 locale of glibc 2.36 (`C.UTF-8`, `en_US.UTF-8`):
//! - Letters and digits are ASCII's and those that locale classifies so
//!   (Unicode 14's letters and decimal digits: `é`, `ß`, `я`, `中`, `٣`; not
//!   `²`, `½`, nor combining accents, which split words).
//! - Lower-casing maps one character to one (`İ` to `i`, the Kelvin sign to
//!   `k`).
//! - A trigram of three ASCII characters is its three bytes; any other is the
//!   low three bytes of a CRC-32 of its UTF-8, so two different trigrams can
//!   rarely count as one, the same way on every store.

mod words;

/// The most bytes of text a similarity sort compares with
/// ([`Sort::similar_to`](super::Sort::similar_to)).
pub const MAX_SIMILARITY_TEXT_LENGTH: usize = 1024;

/// A trigram as `pg_trgm` keeps it: three bytes.
type Trigram = [u8; 3];

/// The trigram similarity of `left` and `right`, between 0 and 1, exactly as
/// PostgreSQL's `pg_trgm` computes `similarity(left, right)`.
///
/// ```
/// use eventblocks_projection::query::similarity;
///
/// assert_eq!(similarity("word", "WORD"), 1.0);
/// assert_eq!(similarity("word", "two words"), 4.0 / 11.0);
/// assert_eq!(similarity("", ""), 0.0);
/// assert_eq!(similarity("café", "cafe"), 3.0 / 7.0);
/// ```
pub fn similarity(left: &str, right: &str) -> f32 {
    let (left, right) = (trigrams(left), trigrams(right));
    if left.is_empty() || right.is_empty() {
        return 0.0;
    }
    let common = common(&left, &right);
    // As pg_trgm divides: the count and the union as `float4`.
    common as f32 / (left.len() + right.len() - common) as f32
}

/// The distinct trigrams of `text`, sorted.
fn trigrams(text: &str) -> Vec<Trigram> {
    let mut trigrams = Vec::new();
    for word in text.split(|c| !is_word_character(c)) {
        if !word.is_empty() {
            word_trigrams(word, &mut trigrams);
        }
    }
    trigrams.sort_unstable();
    trigrams.dedup();
    trigrams
}

/// Pushes the trigrams of one word: lower-cased, two spaces before it and one
/// after.
fn word_trigrams(word: &str, trigrams: &mut Vec<Trigram>) {
    let padded: Vec<char> = [' ', ' ']
        .into_iter()
        .chain(word.chars().map(lower))
        .chain([' '])
        .collect();
    let mut bytes = [0_u8; 12];
    for window in padded.windows(3) {
        let mut length = 0;
        for character in window {
            length += character.encode_utf8(&mut bytes[length..]).len();
        }
        trigrams.push(compact(&bytes[..length]));
    }
}

fn is_word_character(character: char) -> bool {
    if character.is_ascii() {
        character.is_ascii_alphanumeric()
    } else {
        words::is_word_character(character)
    }
}

/// The simple lower-case mapping, one character to one, as glibc's `towlower`
/// has it: Rust's full mapping differs only in lower-casing `İ` to `i` and a
/// combining dot.
fn lower(character: char) -> char {
    if character == '\u{130}' {
        return 'i';
    }
    let mut lower = character.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(lower), None) => lower,
        _ => character,
    }
}

/// Three bytes as they are; more (a character beyond ASCII) as the first three
/// bytes in memory of the CRC, as a little-endian server stores them.
fn compact(bytes: &[u8]) -> Trigram {
    match bytes {
        [a, b, c] => [*a, *b, *c],
        _ => {
            let [a, b, c, _] = legacy_crc32(bytes).to_le_bytes();
            [a, b, c]
        }
    }
}

/// PostgreSQL's legacy CRC-32 (`COMP_LEGACY_CRC32`): the table of the usual
/// reflected CRC-32 (polynomial 0xEDB88320), applied as to a non-reflected one
/// (the byte enters at the top, the register shifts left).
fn legacy_crc32(bytes: &[u8]) -> u32 {
    let crc = bytes.iter().fold(u32::MAX, |crc, &byte| {
        let index = ((crc >> 24) ^ u32::from(byte)) & 0xFF;
        CRC_TABLE[index as usize] ^ (crc << 8)
    });
    !crc
}

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0_u32; 256];
    let mut index: u32 = 0;
    while index < 256 {
        let mut crc = index;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                0xEDB8_8320 ^ (crc >> 1)
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[index as usize] = crc;
        index += 1;
    }
    table
}

/// How many trigrams two sorted, distinct lists share.
fn common(left: &[Trigram], right: &[Trigram]) -> usize {
    let (mut i, mut j, mut count) = (0, 0, 0);
    while i < left.len() && j < right.len() {
        match left[i].cmp(&right[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                count += 1;
                i += 1;
                j += 1;
            }
        }
    }
    count
}

#[cfg(test)]
mod tests;
