//! The projection-store conformance cases.

use eventblocks_core::{CategoryIdentifier, EventSourceIdentifier, StreamIdentifier};
use eventblocks_projection::query::{Cursor, Field, Filter, Operator, Search, Sort};
use eventblocks_projection::{Projection, ProjectionStore, StoredProjection};
use serde_json::{json, Value};

use super::reference::{reference_page, reference_results};

fn stream(name: &str) -> EventSourceIdentifier {
    EventSourceIdentifier::Stream(
        StreamIdentifier::new("things", name).unwrap_or_else(|e| panic!("valid stream: {e}")),
    )
}

pub(super) fn projection(name: &str, id: &str, state: Value) -> StoredProjection {
    Projection {
        id: id.to_owned(),
        name: name.to_owned(),
        source: stream(id),
        state,
        metadata: json!({ "version": id.len() }),
    }
}

pub(super) async fn save_all(store: &ProjectionStore, projections: &[StoredProjection]) {
    for projection in projections {
        store
            .save(projection)
            .await
            .unwrap_or_else(|e| panic!("saving {}: {e}", projection.id));
    }
}

/// One value of every JSON kind at `state.v`, plus a projection without it.
pub fn every_kind() -> Vec<StoredProjection> {
    let values = [
        ("null", json!(null)),
        ("false", json!(false)),
        ("true", json!(true)),
        ("int-neg", json!(-7)),
        ("int-zero", json!(0)),
        ("int-one", json!(1)),
        ("float-one", json!(1.0)),
        ("float-half", json!(2.5)),
        ("big", json!(9_007_199_254_740_993_i64)),
        ("str-empty", json!("")),
        ("str-upper", json!("Banana")),
        ("str-lower", json!("apple")),
        ("str-accent", json!("épée")),
        ("str-digits", json!("10")),
        ("arr-empty", json!([])),
        ("arr-nums", json!([1, 2, 3])),
        ("arr-mixed", json!(["apple", 1, null])),
        ("obj-empty", json!({})),
        ("obj", json!({"a": 1, "b": "apple"})),
    ];
    let mut all: Vec<StoredProjection> = values
        .into_iter()
        .map(|(id, value)| projection("kinds", id, json!({ "v": value, "n": { "w": value } })))
        .collect();
    all.push(projection("kinds", "missing", json!({ "other": 1 })));
    all
}

/// Every operator with values of every kind: the store must select what the
/// reference rules select.
pub async fn every_operator_on_every_kind(store: ProjectionStore) {
    let all = every_kind();
    save_all(&store, &all).await;
    let values = [
        json!(null),
        json!(true),
        json!(false),
        json!(1),
        json!(1.0),
        json!(-7),
        json!(2),
        json!(""),
        json!("apple"),
        json!("b"),
        json!("Banana"),
        json!("10"),
        json!([1, 2, 3]),
        json!({"a": 1, "b": "apple"}),
    ];
    // In and the regular expressions take other values; they follow below.
    let comparisons = Operator::ALL.into_iter().filter(|operator| {
        !matches!(
            operator,
            Operator::In | Operator::Matches | Operator::NotMatches
        )
    });
    for field in ["v", "n.w"] {
        for operator in comparisons.clone() {
            for value in &values {
                let Ok(filter) = Filter::new(state(field), operator, value) else {
                    continue;
                };
                check_filter(&store, &all, filter).await;
            }
        }
        for operand in [
            json!([1, "apple", null]),
            json!([]),
            json!([[1, 2, 3], false]),
        ] {
            check_filter(
                &store,
                &all,
                Filter::new(state(field), Operator::In, operand).unwrap(),
            )
            .await;
        }
        for pattern in ["^a", "an", "^$", "[0-9]+", "^[bB]", "é", ".", r"\d$"] {
            for operator in [Operator::Matches, Operator::NotMatches] {
                let filter = Filter::new(state(field), operator, pattern).unwrap();
                check_filter(&store, &all, filter).await;
            }
        }
    }
}

pub(super) fn state(path: &str) -> Field {
    Field::state(path).unwrap_or_else(|e| panic!("valid path {path}: {e}"))
}

pub(super) async fn check_filter(
    store: &ProjectionStore,
    all: &[StoredProjection],
    filter: Filter,
) {
    let description = format!("{filter:?}");
    let search = Search::new().filter(filter).limit(1000);
    let found = ids(&store
        .search(&search)
        .await
        .unwrap_or_else(|e| panic!("{description}: {e}"))
        .projections);
    let mut found = found;
    found.sort();
    let mut expected = ids(&reference_results(all, &search));
    expected.sort();
    assert_eq!(
        found, expected,
        "filter {description} selected other projections"
    );
    let count = store
        .count(search.filters())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(count, expected.len() as u64, "count of {description}");
}

pub(super) fn ids(projections: &[StoredProjection]) -> Vec<String> {
    projections.iter().map(|p| p.id.clone()).collect()
}

/// Hand-checked semantics, so the rules themselves are pinned down.
pub async fn the_rules_hold_for_nulls_missing_paths_and_numbers(store: ProjectionStore) {
    let all = every_kind();
    save_all(&store, &all).await;
    let select = |operator, value: Value| {
        let store = store.clone();
        async move {
            let search = Search::new()
                .filter(Filter::new(state("v"), operator, value).unwrap())
                .limit(1000);
            let mut found = ids(&store.search(&search).await.unwrap().projections);
            found.sort();
            found
        }
    };
    assert_eq!(
        select(Operator::Equal, json!(null)).await,
        ["missing", "null"],
        "null matches missing paths"
    );
    assert_eq!(
        select(Operator::Equal, json!(1)).await,
        ["float-one", "int-one"],
        "numbers equal by value"
    );
    assert_eq!(
        select(Operator::LessThan, json!("a")).await,
        ["str-digits", "str-empty", "str-upper"],
        "strings compare by bytes"
    );
    assert_eq!(
        select(Operator::Contains, json!("pp")).await,
        ["str-lower"],
        "substring"
    );
    assert_eq!(
        select(Operator::Contains, json!(2)).await,
        ["arr-nums"],
        "array element"
    );
    assert_eq!(
        select(Operator::Matches, json!("^[a-z]")).await,
        ["str-lower"],
        "regex on strings only"
    );
    assert!(
        !select(Operator::NotMatches, json!("^[a-z]"))
            .await
            .contains(&"missing".to_owned()),
        "a missing path matches no regex operator"
    );
}

/// Save, load, replace and locate.
pub async fn saves_load_and_replace(store: ProjectionStore) {
    let first = projection("profile", "joe", json!({"name": "Joe"}));
    save_all(&store, std::slice::from_ref(&first)).await;
    let loaded: Option<Projection<Value, Value>> = store.load("profile", "joe").await.unwrap();
    assert_eq!(loaded.as_ref(), Some(&first), "load returns what was saved");
    let replaced = projection("profile", "joe", json!({"name": "Joseph"}));
    save_all(&store, std::slice::from_ref(&replaced)).await;
    let loaded: Option<Projection<Value, Value>> = store.load("profile", "joe").await.unwrap();
    assert_eq!(
        loaded,
        Some(replaced.clone()),
        "a save replaces by name and id"
    );
    let located: Option<Projection<Value, Value>> =
        store.locate(&stream("joe"), "profile").await.unwrap();
    assert_eq!(located, Some(replaced), "locate finds by source and name");
    let missing: Option<Projection<Value, Value>> = store.load("profile", "nobody").await.unwrap();
    assert!(missing.is_none(), "loading a missing projection gives None");
    let other: Option<Projection<Value, Value>> = store.load("other", "joe").await.unwrap();
    assert!(other.is_none(), "names keep projections apart");
    assert_eq!(store.count(&[]).await.unwrap(), 1);
}

/// Filters on the id, the name and the source.
pub async fn id_name_and_source_filters(store: ProjectionStore) {
    let mut all = every_kind();
    let mut by_category = projection("totals", "things", json!({}));
    by_category.source =
        EventSourceIdentifier::Category(CategoryIdentifier::new("things").unwrap());
    all.push(by_category.clone());
    save_all(&store, &all).await;
    let filters = [
        Filter::new(Field::Id, Operator::Equal, "obj").unwrap(),
        Filter::new(Field::Id, Operator::LessThan, "b").unwrap(),
        Filter::new(Field::Id, Operator::In, ["null", "obj", "nothing"]).unwrap(),
        Filter::new(Field::Id, Operator::Contains, "-").unwrap(),
        Filter::new(Field::Id, Operator::Matches, "^str-").unwrap(),
        Filter::new(Field::Name, Operator::NotEqual, "kinds").unwrap(),
        Filter::new(Field::Source, Operator::Equal, &by_category.source).unwrap(),
        Filter::new(Field::Source, Operator::NotEqual, stream("obj")).unwrap(),
        Filter::new(Field::Source, Operator::In, [stream("obj"), stream("null")]).unwrap(),
        Filter::new(
            Field::metadata("version").unwrap(),
            Operator::GreaterThan,
            5,
        )
        .unwrap(),
    ];
    for filter in filters {
        check_filter(&store, &all, filter).await;
    }
}

/// Several sort keys, ties broken by name and id, in both directions.
pub async fn sorts_on_several_fields(store: ProjectionStore) {
    let all: Vec<StoredProjection> = (0..40)
        .map(|i| {
            let state =
                json!({"group": i % 3, "score": (i * 7) % 10, "label": format!("L{}", i % 4)});
            projection("sorted", &format!("p{i:02}"), state)
        })
        .chain(every_kind())
        .collect();
    save_all(&store, &all).await;
    let orders = [
        vec![
            Sort::ascending(state("group")),
            Sort::descending(state("score")),
        ],
        vec![Sort::descending(state("label")), Sort::ascending(Field::Id)],
        vec![Sort::ascending(state("v"))],
        vec![Sort::descending(state("v")), Sort::descending(Field::Name)],
        vec![Sort::ascending(Field::metadata("version").unwrap())],
    ];
    for order in orders {
        let mut search = Search::new().limit(1000);
        for key in &order {
            search = search.sort(key.clone());
        }
        let found = ids(&store.search(&search).await.unwrap().projections);
        assert_eq!(
            found,
            ids(&reference_results(&all, &search)),
            "order {order:?}"
        );
    }
}

/// Offset pages and key-set pages in both directions cover every result once.
pub async fn pages_cover_every_result_once(store: ProjectionStore) {
    let all: Vec<StoredProjection> = (0..23)
        .map(|i| projection("paged", &format!("p{i:02}"), json!({"rank": i % 5})))
        .collect();
    save_all(&store, &all).await;
    let base = Search::new().sort(Sort::descending(state("rank"))).limit(4);
    let expected = ids(&reference_results(&all, &base));

    let mut by_offset = Vec::new();
    for page in 0..7_u64 {
        let search = base.clone().offset(page * 4);
        let found = store.search(&search).await.unwrap();
        assert_eq!(
            ids(&found.projections),
            ids(&reference_page(&all, &search)),
            "offset {}",
            page * 4
        );
        by_offset.extend(ids(&found.projections));
    }
    assert_eq!(by_offset, expected, "offset pages");

    let (forwards, last) = walk_forwards(&store, &base).await;
    assert_eq!(forwards, expected, "key-set pages forwards");
    let after_last = store
        .search(&base.clone().after(last.clone()))
        .await
        .unwrap();
    assert!(
        after_last.projections.is_empty(),
        "nothing after the last result"
    );
    let mut backwards = walk_backwards(&store, &base, last.clone()).await;
    backwards.push(last.id);
    assert_eq!(backwards, expected, "key-set pages backwards");
}

pub(super) async fn walk_forwards(store: &ProjectionStore, base: &Search) -> (Vec<String>, Cursor) {
    let mut seen = Vec::new();
    let mut search = base.clone();
    for _ in 0..100 {
        let page = store.search(&search).await.unwrap();
        seen.extend(ids(&page.projections));
        match page.next {
            Some(next) => search = base.clone().after(next),
            None => {
                let last = page.projections.last().expect("a last page with results");
                return (seen, Cursor::of(last, base.sort_keys()));
            }
        }
    }
    panic!("paging forwards did not end");
}

/// Every result before `end`, walking pages backwards.
pub(super) async fn walk_backwards(
    store: &ProjectionStore,
    base: &Search,
    end: Cursor,
) -> Vec<String> {
    let mut pages = Vec::new();
    let mut search = base.clone().before(end);
    for _ in 0..100 {
        let page = store.search(&search).await.unwrap();
        pages.push(ids(&page.projections));
        match page.previous {
            Some(previous) => search = base.clone().before(previous),
            None => return pages.into_iter().rev().flatten().collect(),
        }
    }
    panic!("paging backwards did not end");
}

/// Bad input is a clear error before anything is stored.
pub async fn bad_input_is_rejected(store: ProjectionStore) {
    let invalid = |result: eventblocks_core::Result<()>, what: &str| match result {
        Err(error) => assert!(error.is_invalid_input(), "{what}: {error}"),
        Ok(()) => panic!("{what} was accepted"),
    };
    invalid(
        Filter::new(state("v"), Operator::Matches, "(unclosed").map(drop),
        "a bad regex",
    );
    invalid(
        Filter::new(state("v"), Operator::LessThan, json!([1])).map(drop),
        "ordering an array",
    );
    invalid(
        Filter::new(state("v"), Operator::GreaterThan, json!(null)).map(drop),
        "ordering against null",
    );
    invalid(
        Filter::new(state("v"), Operator::In, 1).map(drop),
        "In without an array",
    );
    invalid(
        Filter::new(Field::Id, Operator::Equal, 1).map(drop),
        "a number for the id",
    );
    invalid(
        Filter::new(Field::Source, Operator::Contains, "x").map(drop),
        "Contains on the source",
    );
    invalid(
        Filter::new(state("v"), Operator::Equal, "a\0b").map(drop),
        "a NUL in a value",
    );
    invalid(Field::state("a..b").map(drop), "an empty path segment");
    invalid(Field::state("").map(drop), "an empty path");
    invalid(
        store.search(&Search::new().limit(0)).await.map(drop),
        "a page size of 0",
    );
    invalid(
        store
            .search(&Search::new().limit(1_000_000))
            .await
            .map(drop),
        "a huge page size",
    );
    invalid(
        store
            .search(&Search::new().sort(Sort::ascending(Field::Source)))
            .await
            .map(drop),
        "sorting on the source",
    );
    invalid(
        store
            .save(&projection("p", "nul", json!({"s": "a\0"})))
            .await,
        "a NUL in state",
    );
    let mut empty_id = projection("p", "x", json!({}));
    empty_id.id = String::new();
    invalid(store.save(&empty_id).await, "an empty id");
    let template = projection("p", "map", json!({}));
    let unserialisable = Projection {
        state: std::collections::HashMap::from([((1, 2), 3)]),
        id: template.id,
        name: template.name,
        source: template.source,
        metadata: template.metadata,
    };
    invalid(
        store.save(&unserialisable).await,
        "state that does not serialise",
    );
    assert_eq!(store.count(&[]).await.unwrap(), 0, "nothing was stored");
}
