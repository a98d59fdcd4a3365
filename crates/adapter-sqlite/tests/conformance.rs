//! The SQLite adapter runs the whole event-store conformance suite, each
//! case on a new file.

mod common;

eventblocks_testkit::event_store_suite!(common::store);

/// Small scan pages make every scan and query read cross page boundaries.
mod small_pages {
    use super::common;
    use eventblocks_core::EventStore;

    eventblocks_testkit::event_store_suite!(|| async {
        EventStore::new(common::adapter_with(|builder| builder.scan_page(2)).await)
    });
}

/// The rollback journal instead of the write-ahead log: readers and the
/// writer exclude each other, and everything still holds.
mod rollback_journal {
    use super::common;
    use eventblocks_core::EventStore;
    use eventblocks_sqlite::JournalMode;

    eventblocks_testkit::event_store_suite!(|| async {
        EventStore::new(
            common::adapter_with(|builder| builder.journal_mode(JournalMode::Delete)).await,
        )
    });
}
