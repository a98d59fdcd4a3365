//! The standard load scenario on a SQLite file: 16 writers × 500
//! read-then-append operations with retries over 32 streams, and tailing
//! readers, checked by the history checker.

mod common;

use eventblocks_core::EventStore;
use eventblocks_testkit::load::{run_load, LoadConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_standard_load_holds_every_guarantee() {
    let store = EventStore::new(common::adapter().await);
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
}
