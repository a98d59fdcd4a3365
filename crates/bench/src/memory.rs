//! The in-memory adapter's scenarios (there is no raw baseline for memory).

use std::sync::Arc;

use eventblocks_core::EventStore;
use eventblocks_memory::{MemoryAdapter, MemoryCheckpointStore, MemoryProjectionStore};
use eventblocks_projection::ProjectionStore;

use crate::report::Row;
use crate::scenarios::{self, append_name, Bench, Sizes};
use crate::subject::{BenchResult, StoreSubject, Subject};
use crate::{boundaries, mixed, rss, Options};

pub(crate) async fn run(options: &Options) -> BenchResult<Vec<Row>> {
    let sizes = if options.quick {
        Sizes {
            runs: options.runs,
            single_appends: 100_000,
            batch_calls: 200,
            stream_reads: 200,
            log_events: 100_000,
            latest_calls: 100_000,
            live_events_per_writer: 100,
            mixed_per_writer: 2_000,
        }
    } else {
        Sizes {
            runs: options.runs,
            single_appends: 1_000_000,
            batch_calls: 1000,
            stream_reads: 2000,
            log_events: 1_000_000,
            latest_calls: 1_000_000,
            live_events_per_writer: 300,
            mixed_per_writer: 20_000,
        }
    };
    let subject = Arc::new(StoreSubject::new(
        "memory",
        EventStore::new(MemoryAdapter::new()),
    ));
    let bench = Bench::new(vec![subject.clone() as Arc<dyn Subject>], sizes);
    let mut rows = Vec::new();
    let appends = [
        (1, 1, sizes.single_appends, false),
        (8, 1, sizes.single_appends / 8, false),
        (32, 1, sizes.single_appends / 32, false),
        (1, 1, sizes.single_appends, true),
        (1, 100, sizes.batch_calls * 10, false),
        (1, 1000, sizes.batch_calls, false),
    ];
    for (writers, batch, calls, conditional) in appends {
        if options.wants(&append_name(writers, batch, conditional)) {
            rows.push(bench.appends(writers, batch, calls, conditional).await?);
        }
    }
    if options.wants("read stream") {
        rows.push(bench.stream_reads().await?);
    }
    if options.wants("latest") {
        rows.push(bench.latest().await?);
    }
    // The scans start from a fresh store holding exactly the log size.
    let subject = Arc::new(StoreSubject::new(
        "memory",
        EventStore::new(MemoryAdapter::new()),
    ));
    let bench = Bench::new(vec![subject.clone() as Arc<dyn Subject>], sizes);
    rows.extend(scenarios::on_the_log(&bench, &subject, options).await?);
    if options.wants("live") {
        rows.push(scenarios::live_latency(&subject, 8, sizes.live_events_per_writer).await?);
    }
    if options.wants("mixed") {
        let store = EventStore::new(MemoryAdapter::new());
        let projections = ProjectionStore::new(MemoryProjectionStore::new());
        let checkpoints = MemoryCheckpointStore::new();
        let per_writer = sizes.mixed_per_writer;
        rows.extend(mixed::run("memory", &store, projections, checkpoints, per_writer).await?);
    }
    if options.wants("query-cond. append") {
        let store = EventStore::new(MemoryAdapter::new());
        for (writers, calls) in [
            (1, sizes.single_appends),
            (8, sizes.single_appends / 8),
            (32, sizes.single_appends / 32),
        ] {
            let row = boundaries::appends(&store, "memory", writers, calls, sizes.runs);
            rows.push(row.await?);
        }
    }
    if options.wants("boundary read") {
        let store = EventStore::new(MemoryAdapter::new());
        let courses = boundaries::fill(&store, sizes.log_events).await?;
        let samples = if options.quick { 200 } else { 1000 };
        rows.push(boundaries::reads(&store, "memory", courses, sizes.runs, samples).await?);
        let row = boundaries::checked_appends(&store, "memory", courses, sizes.runs, samples);
        rows.push(row.await?);
    }
    if options.wants("footprint") {
        rows.push(rss::measure(sizes.log_events)?);
    }
    Ok(rows)
}
