//! The query dialect's finer points, where engines left to themselves differ:
//! regular expressions against line feeds, numbers beyond an `f64`'s integers,
//! array-index path segments, and resource limits.

use eventblocks_core::Result;
use eventblocks_projection::query::{
    Field, Filter, Operator, Search, Sort, MAX_FILTERS, MAX_IN_VALUES, MAX_SORT_KEYS,
    MAX_VALUE_DEPTH,
};
use eventblocks_projection::{ProjectionStore, StoredProjection};
use serde_json::{json, Value};

use super::cases::{check_filter, ids, projection, save_all, state};
use super::reference::reference_results;

/// Texts with line feeds, and a few without.
fn texts() -> Vec<StoredProjection> {
    [
        ("lines", "a\nb"),
        ("trailing", "a\n"),
        ("leading", "\nb"),
        ("plain", "ab"),
        ("crlf", "a\r\nb"),
        ("digits", "12"),
        ("arabic-digit", "\u{663}"),
        ("accent", "é"),
        ("nbsp", "\u{a0}"),
    ]
    .into_iter()
    .map(|(id, text)| projection("texts", id, json!({ "t": text })))
    .collect()
}

async fn selected(store: &ProjectionStore, filter: Filter) -> Vec<String> {
    let search = Search::new().filter(filter).limit(1000);
    let mut found = ids(&store
        .search_stored(&search)
        .await
        .unwrap_or_else(|e| panic!("{search:?}: {e}"))
        .projections);
    found.sort();
    found
}

fn matches(pattern: &str) -> Filter {
    Filter::new(state("t"), Operator::Matches, pattern)
}

/// `.` and negated classes match a line feed, `^` and `$` are the ends of the
/// whole text, `\d`, `\w` and `\s` are ASCII: on every store alike.
pub async fn regexes_mean_the_same_with_line_feeds(store: ProjectionStore) {
    let all = texts();
    save_all(&store, &all).await;
    let pinned: [(&str, &[&str]); 8] = [
        ("^a.b$", &["lines"]),
        ("^a[^x]b$", &["lines"]),
        ("^a..b$", &["crlf"]),
        ("^b", &[]),
        ("a$", &[]),
        (r"\n$", &["trailing"]),
        (r"^\d+$", &["digits"]),
        (r"^[\w]$|^\s$", &[]),
    ];
    for (pattern, expected) in pinned {
        assert_eq!(
            selected(&store, matches(pattern)).await,
            expected,
            "{pattern:?} on texts with line feeds"
        );
    }
    for pattern in [".", "^.$", "(?:a|\n)+", r"[^\n]", r"\W", r"\S\s", "^$|b"] {
        check_filter(&store, &all, matches(pattern)).await;
        let not = Filter::new(state("t"), Operator::NotMatches, pattern);
        check_filter(&store, &all, not).await;
    }
}

/// Numbers compare by their exact value: `2^53 + 1` is not the float `2^53`,
/// `0.1` is not `0`, `-0` is `0`, for every operator and for sorting.
pub async fn numbers_compare_exactly(store: ProjectionStore) {
    let values = [
        ("big", json!(9_007_199_254_740_993_i64)),
        ("big-float", json!(9_007_199_254_740_992.0_f64)),
        ("big-int", json!(9_007_199_254_740_992_i64)),
        ("tenth", json!(0.1)),
        ("zero", json!(0)),
        ("negative-zero", json!(-0.0)),
        ("huge", json!(u64::MAX)),
        ("in-array", json!([9_007_199_254_740_993_i64])),
    ];
    let all: Vec<StoredProjection> = values
        .into_iter()
        .map(|(id, value)| projection("numbers", id, json!({ "v": value })))
        .collect();
    save_all(&store, &all).await;
    let v = |operator, value: Value| Filter::new(state("v"), operator, value);
    let two_53 = 9_007_199_254_740_992_i64;
    assert_eq!(
        selected(&store, v(Operator::Equal, json!(two_53 + 1))).await,
        ["big"],
        "2^53 + 1 equals only itself"
    );
    assert_eq!(
        selected(&store, v(Operator::Equal, json!(9_007_199_254_740_992.0))).await,
        ["big-float", "big-int"],
        "2^53 as a float equals 2^53"
    );
    assert_eq!(
        selected(
            &store,
            v(Operator::GreaterThan, json!(9_007_199_254_740_992.0))
        )
        .await,
        ["big", "huge"],
        "2^53 + 1 is greater than the float 2^53"
    );
    assert_eq!(
        selected(&store, v(Operator::Equal, json!(0))).await,
        ["negative-zero", "zero"],
        "-0 equals 0"
    );
    assert_eq!(
        selected(&store, v(Operator::LessThanOrEqual, json!(0))).await,
        ["negative-zero", "zero"],
        "0.1 is not 0"
    );
    assert_eq!(
        selected(&store, v(Operator::Contains, json!(two_53 + 1))).await,
        ["in-array"],
        "array elements compare exactly"
    );
    for (operator, value) in [
        (Operator::NotEqual, json!(two_53 + 1)),
        (Operator::In, json!([two_53, 0.1, -0.0])),
        (Operator::Contains, json!(9_007_199_254_740_992.0)),
        (Operator::GreaterThanOrEqual, json!(two_53 + 1)),
        (Operator::LessThan, json!(0.1)),
    ] {
        check_filter(&store, &all, v(operator, value)).await;
    }
    let sorted = Search::new().sort(Sort::ascending(state("v"))).limit(100);
    let found = ids(&store.search_stored(&sorted).await.unwrap().projections);
    assert_eq!(found, ids(&reference_results(&all, &sorted)), "sort order");
    let big_after_float =
        found.iter().position(|id| id == "big") > found.iter().position(|id| id == "big-float");
    assert!(big_after_float, "2^53 + 1 sorts after 2^53: {found:?}");
}

/// A path segment names an array element as PostgreSQL reads it: `" 1"`,
/// `"+1"` and `"01"` are element 1, `"1 "` is no element.
pub async fn array_index_segments_read_alike(store: ProjectionStore) {
    let all = vec![
        projection("paths", "array", json!({ "a": [10, 20, 30] })),
        projection("paths", "object", json!({ "a": { " 1": 20, "1 ": 20 } })),
        projection("roots", "root-array", json!([20, { "a": 1 }])),
        projection("roots", "root-scalar", json!(20)),
    ];
    save_all(&store, &all).await;
    // A path walks into a root array, and finds nothing under a root scalar.
    for path in ["0", " 0", "-1", "1.a", "a"] {
        for (operator, value) in [
            (Operator::Equal, json!(20)),
            (Operator::Equal, json!(null)),
            (Operator::NotEqual, json!(20)),
            (Operator::In, json!([1, null])),
            (Operator::LessThan, json!(30)),
        ] {
            let filter = Filter::new(Field::state(path), operator, value);
            check_filter(&store, &all, filter).await;
        }
    }
    for segment in [" 1", "+1", "01", "\t-2", "1 "] {
        let field = Field::State(vec!["a".to_owned(), segment.to_owned()]);
        let expected: &[&str] = match segment {
            " 1" => &["array", "object"],
            "1 " => &["object"],
            _ => &["array"],
        };
        let equal = Filter::new(field.clone(), Operator::Equal, 20);
        assert_eq!(
            selected(&store, equal).await,
            expected,
            "segment {segment:?}"
        );
        for (operator, value) in [
            (Operator::In, json!([20])),
            (Operator::NotEqual, json!(20)),
            (Operator::GreaterThan, json!(15)),
        ] {
            check_filter(&store, &all, Filter::new(field.clone(), operator, value)).await;
        }
    }
}

fn invalid<T>(result: Result<T>, what: &str) {
    match result {
        Err(error) => assert!(error.is_invalid_input(), "{what}: {error}"),
        Ok(_) => panic!("{what} was accepted"),
    }
}

/// What one engine could not run is refused on all, as invalid input, before
/// any I/O: regexes too complex or outside the dialect, too many filters, sort
/// keys or `In` values, values nested too deeply.
pub async fn limits_are_refused_alike_before_any_io(store: ProjectionStore) {
    let t = || state("t");
    for pattern in [
        "(a{0,200}){0,200}$b",
        "a{256}",
        "(?i)a",
        r"\p{Greek}",
        "[[:alpha:]]",
        r"\bword\b",
    ] {
        invalid(
            Filter::new(t(), Operator::Matches, pattern).validate(),
            &format!("the pattern {pattern:?}"),
        );
        let search = Search::new().filter(Filter::new(t(), Operator::Matches, pattern));
        invalid(
            store.search_stored(&search).await,
            &format!("a search for the pattern {pattern:?}"),
        );
    }
    let many: Vec<u32> = (0..=u32::try_from(MAX_IN_VALUES).unwrap()).collect();
    invalid(
        Filter::new(t(), Operator::In, &many).validate(),
        "too many In values",
    );
    let mut deep = json!(1);
    for _ in 0..=MAX_VALUE_DEPTH {
        deep = json!([deep]);
    }
    invalid(
        store
            .count(&[Filter::new(t(), Operator::Equal, &deep)])
            .await,
        "a value nested too deeply",
    );
    let filter = Filter::new(t(), Operator::Equal, 1);
    let filters = vec![filter; MAX_FILTERS + 1];
    let mut search = Search::new();
    for filter in &filters {
        search = search.filter(filter.clone());
    }
    invalid(store.search_stored(&search).await, "too many filters");
    invalid(
        store.count(&filters).await,
        "counting with too many filters",
    );
    let mut sorted = Search::new();
    for _ in 0..=MAX_SORT_KEYS {
        sorted = sorted.sort(Sort::ascending(t()));
    }
    invalid(store.search_stored(&sorted).await, "too many sort keys");
    // Just within the limits, every store answers.
    let at_limit = &filters[..MAX_FILTERS];
    assert_eq!(store.count(at_limit).await.unwrap(), 0, "the most filters");
    let pattern = "(a{0,20}){0,20}$b";
    let complex = Filter::new(t(), Operator::Matches, pattern);
    assert_eq!(store.count(&[complex]).await.unwrap(), 0, "{pattern}");
}
