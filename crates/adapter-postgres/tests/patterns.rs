//! The regular-expression dialect's limits against PostgreSQL's regex
//! compiler: every pattern the dialect accepts, however it spends its size,
//! is compiled and matched by PostgreSQL promptly and with the in-memory
//! result; what PostgreSQL refuses as too complex, the dialect refuses first.

mod common;

use std::time::{Duration, Instant};

use eventblocks_core::{EventSourceIdentifier, StreamIdentifier};
use eventblocks_postgres::PostgresProjectionStore;
use eventblocks_projection::query::{
    Field, Filter, Operator, Pattern, Search, MAX_PATTERN_LENGTH, MAX_PATTERN_NESTING,
    MAX_REPETITION,
};
use eventblocks_projection::{Projection, ProjectionStore, StoredProjection};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;

/// How long one search may take: compiling the pattern and matching it
/// against a few texts, the longest 6,000 characters, on a loaded machine.
/// Each takes milliseconds; before the limits modelled PostgreSQL's costs,
/// patterns within them took seconds to minutes.
const PROMPTLY: Duration = Duration::from_secs(1);

fn text(id: &str, text: &str) -> StoredProjection {
    Projection {
        id: id.to_owned(),
        name: "patterns".to_owned(),
        source: EventSourceIdentifier::Stream(StreamIdentifier::new("p", id).unwrap()),
        state: json!({ "t": text }),
        metadata: json!({}),
    }
}

fn texts() -> Vec<StoredProjection> {
    // Random letters keep PostgreSQL's lazily built DFA meeting new states,
    // so each character costs a walk over the automaton.
    let mut rng = StdRng::seed_from_u64(7);
    let letters: String = (0..6000)
        .map(|_| if rng.random_bool(0.5) { 'a' } else { 'b' })
        .collect();
    vec![
        text("short", "aab"),
        text("lines", "ab\nba\nxyz"),
        text("long", &"ab\n".repeat(2000)),
        text("letters", &letters),
        text("mixed", "a1_é😀 \t.b"),
        text("empty", ""),
    ]
}

/// `shape` with the largest count `k` (up to [`MAX_REPETITION`]) the dialect
/// accepts, so the pattern sits at the size limit; `None` when it accepts none.
fn largest(shape: impl Fn(u32) -> String) -> Option<String> {
    if Pattern::new(&shape(1)).is_err() {
        return None;
    }
    let (mut accepted, mut refused) = (1, MAX_REPETITION + 1);
    while refused - accepted > 1 {
        let k = (accepted + refused) / 2;
        if Pattern::new(&shape(k)).is_ok() {
            accepted = k;
        } else {
            refused = k;
        }
    }
    Some(shape(accepted))
}

/// `shape` with every `K` replaced by the count.
fn counted(shape: &str) -> impl Fn(u32) -> String + '_ {
    move |k| shape.replace('K', &k.to_string())
}

fn nest(depth: usize, shape: &str) -> impl Fn(u32) -> String + '_ {
    move |k| {
        let mut pattern = "a".to_owned();
        for _ in 0..depth {
            pattern = format!("({pattern}){}", shape.replace('k', &k.to_string()));
        }
        pattern
    }
}

/// Patterns that spend the dialect's size, length and nesting in the ways
/// PostgreSQL finds most costly: nested counted repetitions, chains of parts
/// that may be skipped, counted repetitions of groups holding unbounded ones,
/// alternations, classes split into many colors, anchors, and automata whose
/// DFA never settles.
fn costly_patterns() -> Vec<String> {
    let mut shapes: Vec<Option<String>> = Vec::new();
    for depth in 1..=12 {
        shapes.push(largest(nest(depth, "{0,k}")));
        shapes.push(largest(nest(depth, "{k}")));
        shapes.push(largest(nest(depth, "{k,}")));
        shapes.push(largest(nest(depth, "{1,k}*")));
    }
    let twenty_stars = ".*".repeat(20);
    let distinct: String = ('\u{100}'..'\u{1a0}').collect();
    let alternatives: Vec<String> = ('c'..='z').map(|c| format!("[{c}-z]")).collect();
    let repeated = [
        format!("({twenty_stars}){{1,K}}y"),
        "(.*){1,K}y".to_owned(),
        "(a*){0,K}".to_owned(),
        "(a?){K}".to_owned(),
        "(a*b*){K}c".to_owned(),
        "((a|b)*c?){0,K}".to_owned(),
        "(.*x.*){1,K}".to_owned(),
        "(a|b*|c?){0,K}".to_owned(),
        "(b|c|a|){0,K}".to_owned(),
        format!("(?:{}){{0,K}}", alternatives.join("|")),
        "(.{0,K}){0,K}$b".to_owned(),
        r"([^\n]{0,K}[ab]){0,K}".to_owned(),
        "a{0,K}a{0,K}a{0,K}".to_owned(),
        format!("{distinct}([^a][^b]){{0,K}}"),
        format!("[{distinct}]([^a][^b]){{0,K}}"),
        format!("{distinct}[^a]{{0,K}}"),
        format!("{distinct}([^a]?){{K}}"),
        "(^|a?){0,K}".to_owned(),
        "($|a){0,K}b".to_owned(),
        "(^|,)(?:[^,]*(?:^|,)){0,K}".to_owned(),
        "(?:(?:^|,)[^,]*){0,K}$".to_owned(),
        "^(a|$){0,K}".to_owned(),
        "(^*a?$*){0,K}".to_owned(),
        "(?:(?:$?|a){0,K}){0,K}".to_owned(),
        "(?:(?:^?|a){0,K}){0,K}".to_owned(),
        "(?:(?:^|a)b*){0,K}".to_owned(),
        "(?:^?(?:a|b)*){1,K}".to_owned(),
        "(?:(?:a*|$)(?:b*|$)){0,K}".to_owned(),
        "^*(?:a*^?){0,K}".to_owned(),
        "(?:^?.?){0,K}(?:$?.?){0,K}".to_owned(),
        "(?:[ab]*a[ab]{20}){K}c".to_owned(),
        "(?:a[ab]{K}){K}c".to_owned(),
        "(?:a.{K}){K}c".to_owned(),
        "(?:.*a.{K}b){4}c".to_owned(),
        "(?:.{0,K}a){K}c".to_owned(),
    ];
    shapes.extend(repeated.iter().map(|shape| largest(counted(shape))));
    for k in 1..=8 {
        shapes.push(largest(|n| ".*".repeat(usize::try_from(n).unwrap() * k)));
        shapes.push(largest(|n| "a?".repeat(usize::try_from(n).unwrap() * k)));
    }
    let mut patterns: Vec<String> = shapes.into_iter().flatten().collect();
    // A repeated group nests twice: once for the group, once for the
    // repetition. Nested loops are cheap for PostgreSQL, but the dialect's
    // estimate does not know it: take the deepest it accepts.
    let groups = usize::try_from(MAX_PATTERN_NESTING).unwrap() / 2;
    patterns.extend(
        (1..=groups)
            .rev()
            .map(|depth| format!("{}a{}", "(".repeat(depth), ")*".repeat(depth)))
            .find(|pattern| Pattern::new(pattern).is_ok()),
    );
    patterns.push(format!(
        "{}a?{}",
        "(".repeat(groups - 1),
        ")?".repeat(groups - 1)
    ));
    let literals: String = ('\u{4e00}'..).take(MAX_PATTERN_LENGTH / 3).collect();
    patterns.push(literals);
    assert!(patterns.len() > 60, "most shapes fit the limits");
    patterns
}

/// A random pattern with counts written `K`, mixing the constructs the
/// dialect allows.
fn random_shape(rng: &mut StdRng, depth: u32) -> String {
    const ATOMS: [&str; 14] = [
        "a", "b", "x", ".", "[^a]", "[a-c]", r"\d", r"\w", r"\S", "^", "$", "(?:)", "é", "😀",
    ];
    const QUANTIFIERS: [&str; 11] = [
        "*", "+", "?", "{K}", "{0,K}", "{1,K}", "{K,}", "{2,K}", "{0,2}", "{3}", "*?",
    ];
    if depth == 0 || rng.random_bool(0.25) {
        if rng.random_bool(0.1) {
            return char::from_u32(0x100 + rng.random_range(0..300))
                .unwrap()
                .to_string();
        }
        return ATOMS[rng.random_range(0..ATOMS.len())].to_owned();
    }
    match rng.random_range(0..10) {
        0..4 => {
            let quantifier = QUANTIFIERS[rng.random_range(0..QUANTIFIERS.len())];
            format!("(?:{}){quantifier}", random_shape(rng, depth - 1))
        }
        4..7 => (0..rng.random_range(2..=4))
            .map(|_| random_shape(rng, depth - 1))
            .collect(),
        _ => {
            let alternatives: Vec<String> = (0..rng.random_range(2..=3))
                .map(|_| random_shape(rng, depth - 1))
                .collect();
            format!("(?:{})", alternatives.join("|"))
        }
    }
}

/// Random patterns at the size limit, some after many distinct characters
/// (which split PostgreSQL's character classes into many colors).
fn random_patterns(seed: u64, count: usize) -> Vec<String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut patterns = Vec::new();
    while patterns.len() < count {
        let depth = rng.random_range(2..=5);
        let mut shape = random_shape(&mut rng, depth);
        if rng.random_bool(0.2) {
            let distinct = rng.random_range(10..120);
            let prefix: String = ('\u{100}'..).take(distinct).collect();
            shape = prefix + &shape;
        }
        patterns.extend(largest(counted(&shape)));
    }
    patterns
}

/// Searches with each pattern, asserting the in-memory result and that
/// PostgreSQL answers within [`PROMPTLY`].
async fn search_promptly(patterns: Vec<String>) {
    // A server-side bound, so that a pattern PostgreSQL cannot compile fails
    // the test in seconds instead of occupying the shared server for minutes.
    let schema = common::adapter_with(|builder| builder.operation_timeout(PROMPTLY * 5)).await;
    let store = ProjectionStore::new(PostgresProjectionStore::new(&schema.adapter));
    let all = texts();
    for projection in &all {
        store.save(projection).await.unwrap();
    }
    let mut timings = Vec::new();
    for pattern in patterns {
        let filter = Filter::new(Field::state("t"), Operator::Matches, &pattern);
        let search = Search::new().filter(filter).limit(100);
        let started = Instant::now();
        let page = store.search_stored(&search).await;
        let elapsed = started.elapsed();
        let page = page.unwrap_or_else(|e| panic!("PostgreSQL failed {pattern:?}: {e}"));
        let mut found: Vec<String> = page.projections.into_iter().map(|p| p.id).collect();
        found.sort();
        let mut expected: Vec<String> = all
            .iter()
            .filter(|p| search.matches(p))
            .map(|p| p.id.clone())
            .collect();
        expected.sort();
        assert_eq!(found, expected, "{pattern:?}");
        timings.push((elapsed, pattern));
    }
    timings.sort();
    let slowest: Vec<_> = timings.iter().rev().take(5).collect();
    eprintln!("slowest searches: {slowest:#?}");
    let slow: Vec<_> = timings
        .iter()
        .filter(|(took, _)| *took > PROMPTLY)
        .collect();
    assert!(slow.is_empty(), "PostgreSQL took too long: {slow:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_costliest_patterns_within_the_limits_run_promptly_as_in_memory() {
    search_promptly(costly_patterns()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_patterns_at_the_limits_run_promptly_as_in_memory() {
    search_promptly(random_patterns(1, 150)).await;
}

/// What PostgreSQL calls too complex is refused when the filter is built, as
/// the same invalid input on every store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_postgresql_refuses_the_dialect_refuses_first() {
    let schema = common::adapter().await;
    let client = schema.adapter.pool().get().await.unwrap();
    for pattern in [
        "(a{0,200}){0,200}$b",
        "((a{0,20}){0,20}){0,20}",
        "(((((((((((((a{0,2}){0,2}){0,2}){0,2}){0,2}){0,2}){0,2}){0,2}){0,2}){0,2}){0,2}){0,2})",
        "a{256}",
    ] {
        let refused = client
            .query_one("SELECT 'x' ~ $1", &[&pattern])
            .await
            .expect_err("PostgreSQL refuses it");
        assert_eq!(
            refused.code(),
            Some(
                &eventblocks_postgres::tokio_postgres::error::SqlState::INVALID_REGULAR_EXPRESSION
            ),
            "{pattern:?}"
        );
        let filter = Filter::new(Field::state("t"), Operator::Matches, pattern);
        match filter.validate() {
            Err(error) => assert!(error.is_invalid_input(), "{pattern:?}: {error}"),
            Ok(_) => panic!("the dialect accepted {pattern:?}"),
        }
    }
}
