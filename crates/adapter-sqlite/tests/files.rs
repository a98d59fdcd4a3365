//! Bad paths and bad files: each is refused with a clear, typed error, and
//! the file is left exactly as it was.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use eventblocks_core::{Error, EventStore, NewEvent, WriteCondition};
use eventblocks_sqlite::rusqlite::Connection;
use eventblocks_sqlite::{SqliteAdapter, SqliteError};

async fn publish_one(store: &EventStore) -> eventblocks_core::Result<()> {
    let event = NewEvent::new("written", &1)?;
    store
        .stream("files", "f-1")?
        .publish([event], WriteCondition::NoCondition)
        .await
        .map(|_| ())
}

/// A migrated file holding one event, closed.
async fn written_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("events.db");
    let adapter = SqliteAdapter::open(&path).await.unwrap();
    adapter.migrate().await.unwrap();
    publish_one(&EventStore::new(adapter)).await.unwrap();
    // The adapter's threads close its connections after the drop; the last
    // to close folds the write-ahead log into the file and removes it.
    let wal = dir.join("events.db-wal");
    for _ in 0..500 {
        if !wal.exists() {
            return path;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the adapter's connections were never closed");
}

#[tokio::test]
async fn a_path_in_a_missing_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing").join("events.db");
    let error = SqliteAdapter::open(&path).await.unwrap_err();
    assert!(
        matches!(&error, SqliteError::MissingDirectory { path: named } if named == &path),
        "{error:?}"
    );
    assert!(error.to_string().contains("does not exist"), "{error}");
    assert!(!dir.path().join("missing").exists(), "nothing was created");
    // As eventblocks' error: unavailable, nothing written.
    assert!(matches!(Error::from(error), Error::Unavailable { .. }));
}

#[tokio::test]
async fn a_file_that_is_not_sqlite_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    let text = "these are my notes, not a database\n".repeat(200);
    std::fs::write(&path, &text).unwrap();
    let error = SqliteAdapter::open(&path).await.unwrap_err();
    assert!(
        matches!(error, SqliteError::NotADatabase { .. }),
        "{error:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        text,
        "the file is untouched"
    );
}

#[tokio::test]
async fn a_database_of_a_newer_schema_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = written_file(dir.path()).await;
    let newer: i64 = {
        let connection = Connection::open(&path).unwrap();
        let current: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        connection
            .pragma_update(None, "user_version", current + 1)
            .unwrap();
        current + 1
    };
    let error = SqliteAdapter::open(&path).await.unwrap_err();
    assert!(
        matches!(error, SqliteError::NewerSchema { found, supported } if found == newer && supported == newer - 1),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("upgrade eventblocks-sqlite"),
        "{error}"
    );
    let connection = Connection::open(&path).unwrap();
    let (version, events): (i64, i64) = connection
        .query_row(
            "SELECT (SELECT user_version FROM pragma_user_version), count(*) FROM eventblocks_events",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .unwrap();
    assert_eq!((version, events), (newer, 1), "the file is untouched");
}

/// Whether this process may write whatever the permissions say (root).
fn privileged() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|proc| proc.uid() == 0)
}

#[tokio::test]
async fn a_read_only_file_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let path = written_file(dir.path()).await;
    let before = std::fs::read(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    // Permissions do not stop root: make the file immutable instead.
    let immutable = privileged();
    if immutable {
        let status = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status()
            .unwrap();
        assert!(status.success(), "chattr +i failed");
    }
    let opened = SqliteAdapter::open(&path).await;
    if immutable {
        std::process::Command::new("chattr")
            .arg("-i")
            .arg(&path)
            .status()
            .unwrap();
    }
    let error = opened.unwrap_err();
    assert!(matches!(error, SqliteError::ReadOnly { .. }), "{error:?}");
    assert!(error.to_string().contains("read-only"), "{error}");
    assert!(
        std::fs::read(&path).unwrap() == before,
        "the file is untouched"
    );
}

#[tokio::test]
async fn a_database_locked_past_the_busy_timeout_times_out_and_writes_nothing() {
    let file =
        common::adapter_with(|builder| builder.busy_timeout(Duration::from_millis(200))).await;
    let store = EventStore::new(file.clone());
    publish_one(&store).await.unwrap();
    let other = Connection::open(file.adapter.path()).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let error = publish_one(&store).await.unwrap_err();
    assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
    assert_eq!(
        error.write_outcome(),
        eventblocks_core::WriteOutcome::NotWritten
    );
    let source = std::error::Error::source(&error).expect("the cause is kept");
    assert!(source.to_string().contains("locked"), "{source}");
    other.execute_batch("COMMIT").unwrap();
    // Nothing of the timed-out save was written, and the store goes on.
    let stream = store.stream("files", "f-1").unwrap();
    assert_eq!(stream.read().await.unwrap().len(), 1);
    publish_one(&store).await.unwrap();
    assert_eq!(stream.read().await.unwrap().len(), 2);
}

#[tokio::test]
async fn operations_before_migrate_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let adapter = SqliteAdapter::open(dir.path().join("events.db"))
        .await
        .unwrap();
    let error = publish_one(&EventStore::new(adapter.clone()))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("migrate"), "{error}");
    assert!(adapter.migrate().await.unwrap() >= 1);
    assert_eq!(
        adapter.migrate().await.unwrap(),
        0,
        "migrating again changes nothing"
    );
    publish_one(&EventStore::new(adapter)).await.unwrap();
}

/// A file of the first schema version (no catalogue tables) gets them on
/// migration, filled from the events it already holds.
#[tokio::test]
async fn migrating_an_older_file_fills_the_catalogue() {
    let dir = tempfile::tempdir().unwrap();
    let path = written_file(dir.path()).await;
    {
        let connection = Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "DROP TRIGGER eventblocks_events_catalogue;
                 DROP TABLE eventblocks_streams;
                 DROP TABLE eventblocks_event_names;
                 PRAGMA user_version = 1;",
            )
            .unwrap();
    }
    let adapter = SqliteAdapter::open(&path).await.unwrap();
    assert_eq!(adapter.migrate().await.unwrap(), 1);
    let store = EventStore::new(adapter);
    publish_one(&store).await.unwrap();
    let catalogue = store.catalogue();
    let summary = catalogue.stream("files", "f-1").await.unwrap().unwrap();
    assert_eq!((summary.length, summary.last_position), (2, 1));
    let names = catalogue.event_names(Default::default()).await.unwrap();
    assert_eq!(names.items, ["written"]);
}
