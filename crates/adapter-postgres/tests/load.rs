//! The standard load scenario against PostgreSQL: 16 writers × 500
//! read-then-append operations of 1–5 events over 32 streams with retries, and
//! 4 tailing readers (2 from the start, 2 joining mid-run, one restarted from
//! its checkpoint), checked by the history checker.

mod common;

use eventblocks_core::EventStore;
use eventblocks_testkit::load::{run_load, LoadConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_standard_load_holds_every_guarantee() {
    let test = common::adapter_with(|builder| builder.pool_size(24)).await;
    let store = EventStore::new(test.adapter.clone());
    let report = run_load(&store, &LoadConfig::standard("load"))
        .await
        .unwrap_or_else(|violations| panic!("{} violations: {violations:?}", violations.len()));
    eprintln!("{report:?}");
    assert_eq!(
        report.acknowledged,
        16 * 500,
        "every operation was acknowledged"
    );
    assert!(report.conflicts > 0, "the writers really raced: {report:?}");
    assert!(
        report.deliveries >= 4 * report.events / 2,
        "the readers kept up: {report:?}"
    );
}
