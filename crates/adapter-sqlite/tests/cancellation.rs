//! The cancellation harness on SQLite: every operation dropped after every
//! number of polls. A dropped operation's work runs to its end (or rolls
//! back) on the adapter's own threads, so nothing can be left held; what a
//! dropped operation returned `Ok` for is checked through another adapter on
//! the same file, as another process would see it.

mod common;

use std::sync::Arc;

use eventblocks_core::async_trait;
use eventblocks_core::EventStore;
use eventblocks_projection::ProjectionStore;
use eventblocks_sqlite::rusqlite::{Connection, ErrorCode};
use eventblocks_sqlite::{SqliteCheckpointStore, SqliteProjectionStore};
use eventblocks_testkit::cancellation::{CancellationFixture, Leftovers, Observed};

/// What a dropped operation could strand on a SQLite file: the write lock
/// (a transaction left open by the writer), or a reader's snapshot that
/// keeps the write-ahead log from being checkpointed.
#[derive(Debug)]
struct FileLocks {
    path: std::path::PathBuf,
}

#[async_trait]
impl Leftovers for FileLocks {
    async fn held(&self) -> Vec<String> {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let connection = Connection::open(&path).unwrap();
            connection.busy_timeout(std::time::Duration::ZERO).unwrap();
            match connection.execute_batch("BEGIN IMMEDIATE; ROLLBACK") {
                Ok(()) => {}
                Err(error) if error.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) => {
                    return vec!["the write lock".to_owned()];
                }
                Err(error) => panic!("checking the write lock: {error}"),
            }
            // A truncating checkpoint waits for no reader: it is busy while
            // one still reads an older snapshot.
            let busy: i64 = connection
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| row.get(0))
                .unwrap();
            if busy != 0 {
                return vec!["a reader's snapshot".to_owned()];
            }
            Vec::new()
        })
        .await
        .unwrap()
    }
}

eventblocks_testkit::cancellation_suite!(|| async {
    let file = common::adapter().await;
    let other = file.reopen().await;
    let path = file.adapter.path().to_owned();
    CancellationFixture {
        stores: common::runner_fixture_on(file),
        observed: Observed {
            checkpoints: Arc::new(SqliteCheckpointStore::new(&other.adapter)),
            projections: ProjectionStore::new(SqliteProjectionStore::new(&other.adapter)),
        },
        observer: EventStore::new(other),
        leftovers: Arc::new(FileLocks { path }),
    }
});

/// The check above can fail: a transaction left open is seen.
#[tokio::test]
async fn the_leftover_check_sees_an_open_transaction() {
    let file = common::adapter().await;
    let leftovers = FileLocks {
        path: file.adapter.path().to_owned(),
    };
    assert!(leftovers.held().await.is_empty());
    let open = Connection::open(file.adapter.path()).unwrap();
    open.execute_batch("BEGIN IMMEDIATE").unwrap();
    assert_eq!(leftovers.held().await, ["the write lock"]);
    open.execute_batch("ROLLBACK").unwrap();
    assert!(leftovers.held().await.is_empty());
    // A reader in the middle of a transaction, over a log with new commits.
    open.execute_batch("BEGIN; SELECT count(*) FROM eventblocks_events;")
        .unwrap();
    let store = eventblocks_core::EventStore::new(file.clone());
    let event = eventblocks_core::NewEvent::new("x", &1).unwrap();
    store
        .stream("a", "b")
        .unwrap()
        .publish([event], eventblocks_core::WriteCondition::NoCondition)
        .await
        .unwrap();
    assert_eq!(leftovers.held().await, ["a reader's snapshot"]);
    open.execute_batch("COMMIT").unwrap();
    assert!(leftovers.held().await.is_empty());
}
