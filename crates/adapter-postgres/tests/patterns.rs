//! The regular-expression dialect's limits against PostgreSQL's regex
//! compiler: every pattern the dialect accepts, however it spends its size, is
//! compiled and matched by PostgreSQL with the in-memory result; what
//! PostgreSQL refuses as too complex, the dialect refuses first.

mod common;

use std::time::{Duration, Instant};

use eventblocks_core::{EventSourceIdentifier, StreamIdentifier};
use eventblocks_postgres::PostgresProjectionStore;
use eventblocks_projection::query::{
    Field, Filter, Operator, Pattern, Search, MAX_PATTERN_LENGTH, MAX_PATTERN_NESTING,
    MAX_REPETITION,
};
use eventblocks_projection::{Projection, ProjectionStore, StoredProjection};
use serde_json::json;

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
    vec![
        text("short", "aab"),
        text("lines", "ab\nba\nxyz"),
        text("long", &"ab\n".repeat(2000)),
        text("mixed", "a1_é😀 \t.b"),
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
/// PostgreSQL finds most costly.
fn costly_patterns() -> Vec<String> {
    let mut shapes: Vec<Option<String>> = Vec::new();
    for depth in 1..=12 {
        shapes.push(largest(nest(depth, "{0,k}")));
        shapes.push(largest(nest(depth, "{k}")));
        shapes.push(largest(nest(depth, "{k,}")));
    }
    shapes.push(largest(|k| format!("(.{{0,{k}}}){{0,{k}}}$b")));
    shapes.push(largest(|k| format!(r"([^\n]{{0,{k}}}[ab]){{0,{k}}}")));
    shapes.push(largest(|k| "a{0,k}".replace('k', &k.to_string()).repeat(3)));
    // Many distinct characters make many character groups inside PostgreSQL,
    // which every negated class then spans.
    let distinct: String = ('\u{100}'..'\u{1a0}').collect();
    shapes.push(largest(|k| format!("[{distinct}]([^a][^b]){{0,{k}}}")));
    let alternatives: Vec<String> = ('c'..='z').map(|c| format!("[{c}-z]")).collect();
    shapes.push(largest(|k| {
        format!("(?:{}){{0,{k}}}", alternatives.join("|"))
    }));
    let mut patterns: Vec<String> = shapes.into_iter().flatten().collect();
    // A repeated group nests twice: once for the group, once for the repetition.
    let groups = usize::try_from(MAX_PATTERN_NESTING).unwrap() / 2;
    patterns.push(format!("{}a{}", "(".repeat(groups), ")*".repeat(groups)));
    let literals: String = ('\u{4e00}'..).take(MAX_PATTERN_LENGTH / 3).collect();
    patterns.push(literals);
    assert!(patterns.len() > 30, "most shapes fit the limits");
    patterns
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_runs_every_pattern_within_the_limits_as_memory_does() {
    let schema = common::adapter().await;
    let store = ProjectionStore::new(PostgresProjectionStore::new(&schema.adapter));
    let all = texts();
    for projection in &all {
        store.save(projection).await.unwrap();
    }
    for pattern in costly_patterns() {
        let filter = Filter::new(Field::state("t").unwrap(), Operator::Matches, &pattern)
            .unwrap_or_else(|e| panic!("{pattern:?} is within the limits: {e}"));
        let search = Search::new().filter(filter).limit(100);
        let started = Instant::now();
        let page = store
            .search(&search)
            .await
            .unwrap_or_else(|e| panic!("PostgreSQL refused {pattern:?}: {e}"));
        let elapsed = started.elapsed();
        let mut found: Vec<String> = page.projections.into_iter().map(|p| p.id).collect();
        found.sort();
        let mut expected: Vec<String> = all
            .iter()
            .filter(|p| search.matches(p))
            .map(|p| p.id.clone())
            .collect();
        expected.sort();
        assert_eq!(found, expected, "{pattern:?}");
        assert!(
            elapsed < Duration::from_secs(10),
            "{pattern:?} took {elapsed:?} on PostgreSQL"
        );
    }
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
        let filter = Filter::new(Field::state("t").unwrap(), Operator::Matches, pattern);
        match filter {
            Err(error) => assert!(error.is_invalid_input(), "{pattern:?}: {error}"),
            Ok(_) => panic!("the dialect accepted {pattern:?}"),
        }
    }
}
