//! The in-memory adapter runs the whole event-store conformance suite.

use eventblocks_core::EventStore;
use eventblocks_memory::MemoryAdapter;

eventblocks_testkit::event_store_suite!(|| async { EventStore::new(MemoryAdapter::new()) });

/// Small pages make every scan cross page boundaries.
mod small_pages {
    use super::*;

    eventblocks_testkit::event_store_suite!(|| async {
        EventStore::new(MemoryAdapter::with_page_size(2))
    });
}

#[tokio::test]
async fn the_function_form_reports_no_failures() {
    let failures = eventblocks_testkit::conformance::run_all(|| async {
        EventStore::new(MemoryAdapter::new())
    })
    .await;
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(eventblocks_testkit::conformance::CASES.len() >= 40);
}
