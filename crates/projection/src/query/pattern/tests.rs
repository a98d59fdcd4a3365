use super::*;

fn accepted(pattern: &str) -> Pattern {
    Pattern::parse(pattern).unwrap_or_else(|e| panic!("{pattern:?} refused: {e}"))
}

fn refused(pattern: &str, reason: &str) {
    match Pattern::parse(pattern) {
        Ok(_) => panic!("{pattern:?} was accepted"),
        Err(error) => assert!(error.contains(reason), "{pattern:?}: {error}"),
    }
}

#[test]
fn dot_and_negated_classes_match_a_line_feed_and_anchors_are_the_texts_ends() {
    assert!(accepted("a.b").is_match("a\nb"));
    assert!(accepted("a[^x]b").is_match("a\nb"));
    assert!(!accepted("^b").is_match("a\nb"));
    assert!(!accepted("a$").is_match("a\nb"));
    assert!(!accepted("a$").is_match("a\n"));
    assert!(accepted(r"\Aa\z").is_match("a"));
}

#[test]
fn perl_classes_are_ascii() {
    assert!(!accepted(r"\d").is_match("٣"));
    assert!(!accepted(r"\w").is_match("é"));
    assert!(accepted(r"\W").is_match("é"));
    assert!(!accepted(r"\s").is_match("\u{a0}"));
    assert!(accepted(r"^\s+$").is_match(" \t\n\u{b}\u{c}\r"));
    assert!(accepted(r"^[\d_]+$").is_match("1_2"));
    assert!(!accepted(r"[^\D]").is_match("x"));
}

#[test]
fn the_subset_is_accepted() {
    for pattern in [
        "",
        "abc",
        "a|b|",
        "(a)(?:b)(?P<name>c)",
        "[a-z0-9_]",
        "[^a]",
        "[]a]",
        "[a[bc]]",
        r"\.\*\+\?\(\)\[\]\{\}\|\^\$\\",
        r"\x41\x{1F600}\t\n",
        "a*b+c?d{2}e{2,}f{2,5}",
        "a*?b+?",
        "é😀",
        "^*",
    ] {
        accepted(pattern);
    }
}

#[test]
fn constructs_outside_the_dialect_are_refused_by_name() {
    refused("(?i)abc", "flags");
    refused("(?i:abc)", "flags");
    refused("(?s).", "flags");
    refused(r"\pL", "Unicode classes");
    refused(r"[\p{Greek}]", "Unicode classes");
    refused("[[:alpha:]]", "POSIX classes");
    refused(r"\bword", "word boundaries");
    refused(r"\B", "word boundaries");
    refused("[a-z&&b]", "class operations");
    refused("[a-z--b]", "class operations");
    refused(r"(a)\1", "does not parse");
    refused("(?=a)", "does not parse");
    refused("(unclosed", "does not parse");
}

#[test]
fn resource_limits_are_refused_up_front() {
    refused("a{256}", "repetition count above 255");
    refused("a{0,256}", "repetition count above 255");
    accepted("a{255}");
    refused("(a{0,200}){0,200}", "too complex");
    accepted("(a{0,20}){0,20}");
    refused(&"a".repeat(MAX_PATTERN_LENGTH + 1), "longer than");
    refused(
        &format!("{}a{}", "(".repeat(70), ")".repeat(70)),
        "does not parse",
    );
}

/// Chains of parts that may be skipped cost PostgreSQL the square of their
/// length, and more when repeated: these took it from a second to minutes.
#[test]
fn skippable_chains_are_limited() {
    refused(&format!("({}){{1,45}}y", ".*".repeat(20)), "too complex");
    refused(&".*".repeat(500), "too complex");
    refused(&"a?".repeat(500), "too complex");
    refused("(a*){0,255}", "too complex");
    refused("(b|c|a|){0,160}", "too complex");
    accepted(&".*".repeat(50));
    accepted(&"a?".repeat(50));
    accepted("a{0,255}");
    accepted("(a*){0,20}");
}

/// A negated class is a transition per character class the rest of the
/// pattern tells apart: 150 literals (not one class of them) make `[^a]?`
/// many times as costly; 100 such took PostgreSQL over a second.
#[test]
fn classes_cost_the_characters_the_pattern_names() {
    let distinct: String = ('\u{100}'..'\u{196}').collect();
    let cheap = format!("[{distinct}]{}", "[^a]?".repeat(40));
    let costly = format!("{distinct}{}", "[^a]?".repeat(40));
    accepted(&cheap);
    refused(&costly, "too complex");
    assert!(cost::size(&tree(&costly)) > 20 * cost::size(&tree(&cheap)));
}

#[test]
fn end_then_start_without_a_character_between_is_refused() {
    for pattern in [
        "$^",
        "(^|$|a){0,16}",
        "^?$?^?$?",
        "($|a)(^|b)",
        "$(?:)^",
        "(?:$|^|a){2}",
    ] {
        refused(pattern, "`$` followed by `^`");
    }
    for pattern in [
        "^$",
        "^a*$",
        "^$|b",
        "(?:(?:^|,)[^,]*){0,10}$",
        "$a^",
        "(^|a?){0,10}",
    ] {
        accepted(pattern);
    }
}

/// `((($|a)*|b){0,16})*` took PostgreSQL a third of a second, and more nested
/// loops around anchors far longer.
#[test]
fn anchors_inside_unbounded_repetitions_are_refused() {
    for pattern in [
        "(^|a)*",
        "($|a)+",
        "(?:(?:$?|a){0,16})*",
        "(a^){2,}",
        "((a|$)b){0,3}*",
    ] {
        refused(pattern, "anchor inside a repetition without an upper bound");
    }
    for pattern in ["^(a|b)*$", "(^|a){0,20}", "(?:^|,)(?:[^,]*,)*[^,]*$"] {
        accepted(pattern);
    }
}

/// Repeating what reads no character means one round of it, or an optional
/// one: so it is written, for every engine.
#[test]
fn repeated_anchors_are_simplified() {
    assert_eq!(accepted("^*a").to_postgres(), "(?cs)(?:^){0,1}a");
    assert_eq!(accepted("$+").to_postgres(), "(?cs)$");
    assert_eq!(accepted("(?:^$){2,}").to_rust(), r"\A\z");
    assert_eq!(accepted("a(?:){3,}").to_rust(), "a(?:)");
    assert!(accepted("^*a").is_match("ba"));
    assert!(!accepted("^+a").is_match("ba"));
    assert!(accepted("(?:$|^)*").is_match("x"));
}

/// Everyday patterns stay far within the limits.
#[test]
fn common_patterns_are_accepted() {
    for pattern in [
        r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$",
        r"^\d{4}-\d{2}-\d{2}",
        "(foo|bar)+",
        ".*error.*",
        r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        r"^https?://[^/\s]+(/\S*)?$",
        r"(?:^|,)\s*(\w+)\s*=\s*([^,]*)",
    ] {
        let size = cost::size(&tree(pattern));
        assert!(size < MAX_PATTERN_SIZE / 20, "{pattern:?}: {size}");
        accepted(pattern);
    }
}

/// The dialect's tree of `pattern`, however large.
fn tree(pattern: &str) -> lower::Node {
    let ast = ParserBuilder::new()
        .build()
        .parse(pattern)
        .unwrap_or_else(|e| panic!("{pattern:?}: {e}"));
    lower::lower(pattern, &ast).unwrap_or_else(|e| panic!("{pattern:?}: {e}"))
}

#[test]
fn every_character_is_escaped_for_postgresql() {
    assert_eq!(accepted("a.b").to_postgres(), "(?cs)a.b");
    assert_eq!(
        accepted(r"^[^a\-]x*$").to_postgres(),
        r"(?cs)^[^\u002Da](?:x){0,}$"
    );
    assert_eq!(
        accepted("é|😀").to_postgres(),
        r"(?cs)(?:\u00E9|\U0001F600)"
    );
    assert_eq!(accepted(r"\d").to_rust(), r"[0-9]");
    assert_eq!(accepted("a.b").to_rust(), r"a(?s:.)b");
}

#[test]
fn an_empty_class_matches_nothing() {
    let nothing = accepted(r"[^\x00-\x{10FFFF}]");
    assert!(!nothing.is_match("a"));
    let nested = accepted(r"[[^\x00-\x{10FFFF}]]");
    assert!(!nested.is_match("a"));
    assert!(accepted(r"[^[^\x00-\x{10FFFF}]]").is_match("a"));
}
