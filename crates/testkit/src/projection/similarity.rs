//! Sorting by similarity (PostgreSQL's `pg_trgm`): the same order, ties and
//! pages on every store, and `find_one`.

use eventblocks_core::Result;
use eventblocks_projection::query::{
    Cursor, Field, Filter, Operator, Search, Sort, MAX_SIMILARITY_TEXT_LENGTH,
};
use eventblocks_projection::{Error, ProjectionStore, StoredProjection};
use serde_json::{json, Value};

use super::cases::{ids, projection, save_all, state, walk_backwards, walk_forwards};
use super::reference::{reference_page, reference_results};

/// Texts where a trigram similarity has choices to make: case, letters beyond
/// ASCII, characters that split words, a checksum collision, no words at
/// all; and values that are not strings.
pub fn similarity_texts() -> Vec<StoredProjection> {
    let values = [
        ("word", json!("word")),
        ("words", json!("two words")),
        ("upper", json!("WORD")),
        ("cafe-accent", json!("café")),
        ("cafe", json!("cafe")),
        ("istanbul-dotted", json!("İstanbul")),
        ("istanbul", json!("istanbul")),
        ("strasse-sharp", json!("Straße")),
        ("strasse", json!("STRASSE")),
        ("superscript", json!("a²b")),
        ("spaced", json!("a b")),
        ("c-caron", json!("č")),
        ("tbu", json!("tbu")),
        ("title-dz", json!("ǅ")),
        ("empty", json!("")),
        ("punctuation", json!("?!")),
        ("line-feed", json!("word\nword")),
        ("cyrillic", json!("Слово")),
        ("han", json!("中文字")),
        ("number", json!(42)),
        ("null", json!(null)),
        ("array", json!(["word"])),
    ];
    let mut all: Vec<StoredProjection> = values
        .into_iter()
        .map(|(id, text)| projection("similar", id, json!({ "t": text, "rank": id.len() % 3 })))
        .collect();
    all.push(projection("similar", "missing", json!({ "rank": 0 })));
    all
}

async fn sorted(store: &ProjectionStore, search: &Search) -> Vec<String> {
    let page = store
        .search(search)
        .await
        .unwrap_or_else(|e| panic!("{search:?}: {e}"));
    ids(&page.projections)
}

fn similar(text: &str) -> Sort {
    Sort::descending(state("t")).similar_to(text)
}

/// The order `pg_trgm` gives, on every store: hand-checked similarities
/// (PostgreSQL 15's; exact ties show as the reverse order of ids, the second
/// key), then every text against every other, both ways.
pub async fn similarity_sorts_order_as_pg_trgm_does(store: ProjectionStore) {
    let all = similarity_texts();
    save_all(&store, &all).await;
    let first = |text: &str, count: usize| {
        let store = store.clone();
        let search = Search::new()
            .sort(similar(text))
            .sort(Sort::descending(Field::Id))
            .limit(1000);
        async move { sorted(&store, &search).await[..count].to_vec() }
    };
    assert_eq!(
        first("tbu", 2).await,
        ["tbu", "c-caron"],
        "the checksum of \"  č\" is the trigram \"tbu\" (similarity 0.2)"
    );
    assert_eq!(
        first("ISTANBUL", 2).await,
        ["istanbul-dotted", "istanbul"],
        "İ lower-cases to i"
    );
    assert_eq!(
        first("word", 4).await,
        ["word", "upper", "line-feed", "words"],
        "case is ignored, a line feed splits words"
    );
    assert_eq!(
        first("a b", 2).await,
        ["superscript", "spaced"],
        "² is no digit: it splits words"
    );
    assert_eq!(first("ǆ", 1).await, ["title-dz"], "ǅ lower-cases to ǆ");
    assert_eq!(
        first("слово", 1).await,
        ["cyrillic"],
        "Cyrillic lower-cases"
    );
    let texts = all.iter().filter_map(|p| p.state["t"].as_str());
    for text in texts.chain(["", "zzz", "中文", "STRASSE cafe"]) {
        for key in [similar(text), Sort::ascending(state("t")).similar_to(text)] {
            let search = Search::new().sort(key).limit(1000);
            let expected = ids(&reference_results(&all, &search));
            assert_eq!(sorted(&store, &search).await, expected, "{search:?}");
        }
    }
}

/// Ties in similarity are broken by the later sort keys, then by name and id;
/// similarities of several fields combine; id and name can be compared too.
pub async fn similarity_ties_break_alike(store: ProjectionStore) {
    let all = similarity_texts();
    save_all(&store, &all).await;
    let orders = [
        vec![similar("word"), Sort::descending(state("rank"))],
        vec![similar("cafe"), Sort::ascending(state("t"))],
        vec![
            Sort::ascending(state("rank")),
            similar("istanbul"),
            Sort::descending(Field::Id).similar_to("strasse"),
        ],
        vec![Sort::descending(Field::Id).similar_to("cafe accent")],
        vec![Sort::ascending(Field::Name).similar_to("similar")],
        vec![
            Sort::descending(Field::metadata("version").unwrap_or_else(|e| panic!("{e}")))
                .similar_to("7"),
        ],
    ];
    for order in orders {
        let search = order
            .into_iter()
            .fold(Search::new().limit(1000), Search::sort);
        let expected = ids(&reference_results(&all, &search));
        assert_eq!(sorted(&store, &search).await, expected, "{search:?}");
    }
}

/// Key-set pages (a cursor holds the similarity it was taken at) and offset
/// pages under a similarity sort cover every result once, in order.
pub async fn similarity_pages_cover_every_result_once(store: ProjectionStore) {
    let all = similarity_texts();
    save_all(&store, &all).await;
    for text in ["word", "cafe", ""] {
        let base = Search::new().sort(similar(text)).limit(3);
        let expected = ids(&reference_results(&all, &base));
        let (forwards, last) = walk_forwards(&store, &base).await;
        assert_eq!(forwards, expected, "forwards by similarity to {text:?}");
        let mut backwards = walk_backwards(&store, &base, last.clone()).await;
        backwards.push(last.id);
        assert_eq!(backwards, expected, "backwards by similarity to {text:?}");
        for offset in [0, 4, 20] {
            let search = base.clone().offset(offset);
            let page = sorted(&store, &search).await;
            assert_eq!(page, ids(&reference_page(&all, &search)), "{search:?}");
        }
    }
}

fn invalid<T>(result: Result<T>, what: &str) {
    match result {
        Err(error) => assert!(error.is_invalid_input(), "{what}: {error}"),
        Ok(_) => panic!("{what} was accepted"),
    }
}

/// A similarity text too long or holding a NUL, a similarity of the source,
/// and a cursor whose value no similarity can be are refused alike, as
/// invalid input, before any I/O.
pub async fn similarity_inputs_are_refused_before_any_io(store: ProjectionStore) {
    let search = |key: Sort| Search::new().sort(key);
    let longest = "a".repeat(MAX_SIMILARITY_TEXT_LENGTH);
    let too_long = "é".repeat(MAX_SIMILARITY_TEXT_LENGTH / 2 + 1);
    invalid(
        store.search(&search(similar(&too_long))).await,
        "a similarity text too long",
    );
    invalid(
        store.search(&search(similar("a\0b"))).await,
        "a NUL in a similarity text",
    );
    invalid(
        store
            .search(&search(Sort::descending(Field::Source).similar_to("a")))
            .await,
        "a similarity of the source",
    );
    let anywhere = |value: Value| Cursor {
        values: vec![Some(value)],
        name: "similar".to_owned(),
        id: "word".to_owned(),
    };
    for value in [json!("0.5"), json!(0.1), json!(1.5), json!(-0.25)] {
        let after = search(similar("word")).after(anywhere(value.clone()));
        invalid(store.search(&after).await, &format!("a cursor at {value}"));
    }
    let mut none = anywhere(json!(0));
    none.values = vec![None];
    invalid(
        store.search(&search(similar("word")).before(none)).await,
        "a cursor without a similarity",
    );
    // Just within the limits, every store answers.
    let page = store.search(&search(similar(&longest))).await;
    assert_eq!(page.map(|page| page.projections.len()).ok(), Some(0));
    let exact = search(similar("word")).after(anywhere(json!(0.5)));
    assert!(store.search(&exact).await.is_ok(), "a cursor at 0.5");
}

/// `find_one`: the one projection passing the filters, `None` when none does,
/// and [`Error::SeveralMatches`] naming the first two (in the search's order)
/// when more do, whatever the search's page.
pub async fn find_one_finds_the_single_match(store: ProjectionStore) {
    let all = similarity_texts();
    save_all(&store, &all).await;
    let equal = |path: &str, value: Value| {
        let filter = Filter::new(state(path), Operator::Equal, value);
        Search::new().filter(filter.unwrap_or_else(|e| panic!("{e}")))
    };
    let found = store
        .find_one::<Value, Value>(&equal("t", json!("cafe")).limit(1).offset(5))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        found.map(|p| p.id).as_deref(),
        Some("cafe"),
        "paging is ignored"
    );
    let none = store
        .find_one::<Value, Value>(&equal("t", json!("x")))
        .await;
    assert!(matches!(none, Ok(None)), "{none:?}");
    let several = equal("rank", json!(0)).sort(Sort::descending(Field::Id));
    let expected = ids(&reference_results(&all, &several));
    match store.find_one::<Value, Value>(&several).await {
        Err(Error::SeveralMatches { first, second }) => {
            assert_eq!(
                [first.1, second.1],
                expected[..2],
                "the first two, in order"
            );
            assert_eq!(first.0, "similar");
        }
        other => panic!("several match: {other:?}"),
    }
    let bad = equal("t", json!("cafe")).sort(Sort::ascending(Field::Source));
    match store.find_one::<Value, Value>(&bad).await {
        Err(Error::Store(error)) => assert!(error.is_invalid_input(), "{error}"),
        other => panic!("an invalid search: {other:?}"),
    }
}
