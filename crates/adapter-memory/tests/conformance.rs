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

/// The store enforces the adapter's own limits, not the defaults: the
/// oversized-input case on a store with small ones.
#[tokio::test]
async fn small_query_and_tag_limits_are_enforced() {
    let mut limits = eventblocks_core::Limits::default().with_max_tags_per_event(3);
    limits.max_query_items = 2;
    limits.max_query_item_terms = 4;
    let store = EventStore::new(MemoryAdapter::new().with_limits(limits));
    eventblocks_testkit::conformance::oversized_queries_and_tags_are_refused_before_the_adapter_sees_them(store).await;
}
