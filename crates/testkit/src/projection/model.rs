//! Random searches over random projections, compared with the reference.

use eventblocks_core::{EventSourceIdentifier, StreamIdentifier};
use eventblocks_projection::query::{Cursor, Field, Filter, Operator, Search, Sort};
use eventblocks_projection::{Projection, ProjectionStore, StoredProjection};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use super::reference::reference_page;

/// How many random data sets the model case tries (`EVENTBLOCKS_MODEL_CASES`,
/// default 16), each searched 12 times.
fn data_sets() -> u64 {
    std::env::var("EVENTBLOCKS_MODEL_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(16)
}

/// Random searches give the same pages on the store as on the reference,
/// sorts by similarity included.
pub async fn random_searches_match_the_reference(store: ProjectionStore) {
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    for set in 0..data_sets() {
        let name = format!("model-{set}");
        let all = random_projections(&mut rng, &name);
        for projection in &all {
            store
                .save(projection)
                .await
                .unwrap_or_else(|e| panic!("saving: {e}"));
        }
        for _ in 0..12 {
            let search = random_search(&mut rng, &name, &all);
            let description = format!("{search:?} (seed {seed})");
            let page = store
                .search(&search)
                .await
                .unwrap_or_else(|e| panic!("{description}: {e}"));
            let found: Vec<&str> = page.projections.iter().map(|p| p.id.as_str()).collect();
            let expected = reference_page(&all, &search);
            let expected: Vec<&str> = expected.iter().map(|p| p.id.as_str()).collect();
            assert_eq!(found, expected, "search {description}");
        }
    }
}

fn random_projections(rng: &mut StdRng, name: &str) -> Vec<StoredProjection> {
    (0..rng.random_range(0..25))
        .map(|i| {
            let id = format!("id-{i:02}");
            let mut state = serde_json::Map::new();
            for key in ["a", "b"] {
                if rng.random_bool(0.8) {
                    state.insert(key.to_owned(), random_value(rng, 2));
                }
            }
            Projection {
                source: EventSourceIdentifier::Stream(
                    StreamIdentifier::new("model", id.as_str()).unwrap_or_else(|e| panic!("{e}")),
                ),
                id,
                name: name.to_owned(),
                state: Value::Object(state),
                metadata: json!({ "m": random_scalar(rng) }),
            }
        })
        .collect()
}

fn random_scalar(rng: &mut StdRng) -> Value {
    match rng.random_range(0..7) {
        0 => Value::Null,
        1 => json!(rng.random_bool(0.5)),
        2 => json!(rng.random_range(-3..4)),
        3 => json!(f64::from(rng.random_range(-6..7)) / 2.0),
        4 => json!(
            ["", "a", "ab", "B", "b", "ä", "10", "9", "a\nb", "\n", "b\n", "\r\n"].choose(rng)
        ),
        5 => random_number(rng),
        _ => json!(format!("x{}", rng.random_range(0..3))),
    }
}

/// Numbers where an `f64` comparison would err: integers around 2^53 and the
/// floats near them, zero signed both ways, a tenth.
fn random_number(rng: &mut StdRng) -> Value {
    let two_53 = 9_007_199_254_740_992_i64;
    match rng.random_range(0..5) {
        0 => json!(two_53 + rng.random_range(-1..3)),
        1 => json!(9_007_199_254_740_992.0),
        2 => json!(-0.0),
        3 => json!(0.1),
        _ => json!(0),
    }
}

fn random_value(rng: &mut StdRng, depth: u32) -> Value {
    if depth == 0 || rng.random_bool(0.7) {
        return random_scalar(rng);
    }
    if rng.random_bool(0.5) {
        Value::Array(
            (0..rng.random_range(0..3))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        )
    } else {
        json!({ "c": random_value(rng, depth - 1) })
    }
}

fn random_field(rng: &mut StdRng) -> Field {
    let paths = ["a", "b", "a.c", "b.0", "a.-1"];
    if rng.random_bool(0.15) {
        return Field::metadata("m").unwrap_or_else(|e| panic!("{e}"));
    }
    if rng.random_bool(0.1) {
        return Field::Id;
    }
    Field::state(paths.choose(rng).copied().unwrap_or("a")).unwrap_or_else(|e| panic!("{e}"))
}

fn random_filter(rng: &mut StdRng) -> Option<Filter> {
    let field = random_field(rng);
    let operators = Operator::ALL;
    let operator = *operators.choose(rng)?;
    let value = match operator {
        Operator::In => Value::Array((0..3).map(|_| random_scalar(rng)).collect()),
        Operator::Matches | Operator::NotMatches => json!(random_pattern(rng, 2)),
        _ => random_scalar(rng),
    };
    Filter::new(field, operator, value).ok()
}

/// A random pattern of the dialect: literals (a line feed among them), `.`,
/// classes, anchors, repetitions, groups and alternation.
fn random_pattern(rng: &mut StdRng, depth: u32) -> String {
    let atoms = [
        "a", "b", "B", "ä", "1", "x", r"\n", "\n", ".", "[ab]", "[^a]", "[a-c]", r"[^\n]", r"\d",
        r"\w", r"\s", r"\W", "^", "$",
    ];
    let mut pattern = String::new();
    for _ in 0..rng.random_range(1..4) {
        let atom = if depth > 0 && rng.random_bool(0.25) {
            format!("({})", random_alternation(rng, depth - 1))
        } else {
            (*atoms.choose(rng).unwrap_or(&"a")).to_owned()
        };
        let repeat = ["", "", "", "*", "+", "?", "{2}", "{1,2}", "{0,}"];
        pattern.push_str(&atom);
        if !matches!(atom.as_str(), "^" | "$") {
            pattern.push_str(repeat.choose(rng).unwrap_or(&""));
        }
    }
    pattern
}

fn random_alternation(rng: &mut StdRng, depth: u32) -> String {
    let branches: Vec<String> = (0..rng.random_range(1..3))
        .map(|_| random_pattern(rng, depth))
        .collect();
    branches.join("|")
}

/// A text to sort by similarity to: words the random strings hold, in other
/// cases and combinations, letters beyond ASCII, no words at all.
fn random_similarity_text(rng: &mut StdRng) -> &'static str {
    let texts = [
        "a", "AB", "b a", "x1", "X2 x0", "ä", "Ä b", "10 9", "", "\n", "č", "tbu",
    ];
    texts.choose(rng).copied().unwrap_or("a")
}

fn random_search(rng: &mut StdRng, name: &str, all: &[StoredProjection]) -> Search {
    let mut search = Search::new()
        .filter(Filter::new(Field::Name, Operator::Equal, name).unwrap_or_else(|e| panic!("{e}")))
        .limit(rng.random_range(1..8));
    for _ in 0..rng.random_range(0..3) {
        if let Some(filter) = random_filter(rng) {
            search = search.filter(filter);
        }
    }
    for _ in 0..rng.random_range(0..3) {
        let field = random_field(rng);
        let key = if rng.random_bool(0.5) {
            Sort::ascending(field)
        } else {
            Sort::descending(field)
        };
        search = search.sort(if rng.random_bool(0.3) {
            key.similar_to(random_similarity_text(rng))
        } else {
            key
        });
    }
    let sort = search.sort_keys().to_vec();
    let cursor = all
        .choose(rng)
        .map(|projection| Cursor::of(projection, &sort));
    match (rng.random_range(0..4), cursor) {
        (0, _) => search.offset(rng.random_range(0..10)),
        (1, Some(cursor)) => search.after(cursor),
        (2, Some(cursor)) => search.before(cursor),
        _ => search,
    }
}
