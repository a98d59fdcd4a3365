//! Values PostgreSQL 15's `pg_trgm` gives (`show_trgm`, `similarity`), pinned.

use super::*;

/// `show_trgm`'s spelling of a trigram: the bytes read as a big-endian number.
fn shown(trigram: Trigram) -> String {
    let [a, b, c] = trigram;
    format!("0x{:06x}", u32::from_be_bytes([0, a, b, c]))
}

#[test]
fn trigrams_beyond_ascii_are_the_crc_bytes_pg_trgm_keeps() {
    // SELECT show_trgm('é') gives {0xe69b54,0xe82c48}.
    let spelled: Vec<String> = trigrams("é").into_iter().map(shown).collect();
    assert_eq!(spelled, ["0xe69b54", "0xe82c48"]);
    // SELECT show_trgm('ǅx') (a title-case letter, lower-cased) gives
    // {0xe8d6f9,0xf3fd00,0x1c2a25}.
    let mut spelled: Vec<String> = trigrams("ǅx").into_iter().map(shown).collect();
    spelled.sort();
    assert_eq!(spelled, ["0x1c2a25", "0xe8d6f9", "0xf3fd00"]);
}

#[test]
fn ascii_trigrams_are_padded_lower_cased_words() {
    let words: Vec<Trigram> = ["  a", "  b", " a ", " bc", "bc "]
        .iter()
        .map(|t| compact(t.as_bytes()))
        .collect();
    assert_eq!(trigrams("A, bC!"), words);
}

#[test]
fn similarities_are_pg_trgm_s() {
    let cases: [(&str, &str, f32); 10] = [
        ("word", "two words", 0.363_636_37),
        ("café", "cafe", 0.428_571_43),
        ("", "", 0.0),
        ("a", "", 0.0),
        ("İstanbul", "istanbul", 1.0),
        ("Straße", "STRASSE", 0.363_636_37),
        ("ǅ", "ǆ", 1.0),
        // `²` is no digit: a separator.
        ("a²b", "a b", 1.0),
        // The CRC of "  č" is the trigram "tbu".
        ("č", "tbu", 0.2),
        ("?!", "?!", 0.0),
    ];
    for (left, right, expected) in cases {
        assert_eq!(similarity(left, right), expected, "{left:?} ~ {right:?}");
    }
}
