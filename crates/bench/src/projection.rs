//! Projection scenarios: folding the log through a simple projector, and (on
//! PostgreSQL) searching many stored projections by an indexed state field.

use std::time::Instant;

use eventblocks_core::{BoxError, LogIdentifier, StoredEvent};
use eventblocks_projection::query::{Field, Filter, Operator, Search};
use eventblocks_projection::{Handled, ProjectionStore, Projector};

use crate::report::{Latency, Row, Stats};
use crate::subject::{BenchResult, StoreSubject, Subject};

/// Counts the events it folds.
struct Counter;

impl Projector for Counter {
    type State = u64;
    type Metadata = ();

    fn name(&self) -> &str {
        "counter"
    }

    fn initial_state(&self) -> u64 {
        0
    }

    fn apply(&self, count: &mut u64, event: &StoredEvent) -> Result<Handled, BoxError> {
        match event.name.as_str() {
            "order-placed" => *count += 1,
            _ => return Ok(Handled::NoHandler),
        }
        Ok(Handled::Applied)
    }
}

/// Folds the whole log `runs` times.
pub(crate) async fn fold(subject: &StoreSubject, runs: usize) -> BenchResult<Row> {
    let mut rates = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let projection = Counter.project(subject.store(), LogIdentifier).await?;
        rates.push(projection.state as f64 / started.elapsed().as_secs_f64());
    }
    Ok(Row::new(
        "projection fold of the log",
        "events/s",
        Stats::new(subject.label(), rates),
        vec![],
    ))
}

/// Times `searches` searches for one projection by an equality filter on a
/// state field; `find(i)` runs search `i` and returns how many it found.
pub(crate) async fn timed_searches<F, Fut>(
    label: &str,
    searches: usize,
    mut find: F,
) -> BenchResult<(Stats, Vec<f64>)>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = BenchResult<usize>>,
{
    let mut latencies = Vec::with_capacity(searches);
    let started = Instant::now();
    for i in 0..searches {
        let one = Instant::now();
        if find(i).await? != 1 {
            return Err(format!("search {i} did not find exactly one projection").into());
        }
        latencies.push(one.elapsed().as_secs_f64() * 1000.0);
    }
    let rate = searches as f64 / started.elapsed().as_secs_f64();
    Ok((Stats::new(label, vec![rate]), latencies))
}

/// The search the PostgreSQL scenario runs, for projection `i`.
pub(crate) fn email_search(i: usize) -> BenchResult<Search> {
    Ok(Search::new()
        .filter(Filter::new(Field::Name, Operator::Equal, "bench"))
        .filter(Filter::new(
            Field::state("email"),
            Operator::Equal,
            format!("user{i}@example.com"),
        ))
        .limit(10))
}

/// Runs [`email_search`]es through `store`.
pub(crate) async fn search_store(
    store: &ProjectionStore,
    searches: usize,
    total: usize,
) -> BenchResult<(Stats, Vec<f64>)> {
    timed_searches("eventblocks", searches, |i| async move {
        let search = email_search((i * 7919) % total + 1)?;
        Ok(store.search_stored(&search).await?.projections.len())
    })
    .await
}

/// A row for the search scenario: the adapter's latency percentiles.
pub(crate) fn search_row(total: usize, adapter: (Stats, Vec<f64>), raw: Stats) -> Row {
    Row::new(
        &format!("search {total} projections"),
        "searches/s",
        adapter.0,
        vec![raw],
    )
    .with_latency(Latency::of(adapter.1))
}
