//! The cancellation harness on the in-memory adapter.

use std::sync::Arc;

use eventblocks_core::EventStore;
use eventblocks_memory::MemoryAdapter;
use eventblocks_testkit::cancellation::{CancellationFixture, NothingHeld};

eventblocks_testkit::cancellation_suite!(|| async {
    let store = EventStore::new(MemoryAdapter::with_page_size(100));
    CancellationFixture {
        observer: store.clone(),
        store,
        leftovers: Arc::new(NothingHeld),
    }
});
