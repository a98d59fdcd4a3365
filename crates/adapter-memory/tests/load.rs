//! The load scenario against the in-memory adapter: 64 writers × 1000
//! read-then-append operations, with tailing readers, checked by the history
//! checker.

use eventblocks_core::EventStore;
use eventblocks_memory::MemoryAdapter;
use eventblocks_testkit::load::{run_load, LoadConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_writers_hold_every_guarantee() {
    let store = EventStore::new(MemoryAdapter::new());
    let config = LoadConfig::standard("load").with_writers(64, 1000);
    let report = run_load(&store, &config)
        .await
        .unwrap_or_else(|violations| panic!("{} violations: {violations:?}", violations.len()));
    eprintln!("{report:?}");
    assert_eq!(
        report.acknowledged,
        64 * 1000,
        "every operation was acknowledged"
    );
    assert!(report.conflicts > 0, "the writers really raced: {report:?}");
}
