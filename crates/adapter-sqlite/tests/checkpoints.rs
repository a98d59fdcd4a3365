//! Checkpoints, exactly-once units and leases on SQLite, beyond what the
//! runner and cancellation suites check: effects commit with their
//! checkpoint or not at all, stale fences are refused across adapters on one
//! file, and a crashed holder's lease is taken over once it expires.

mod common;

use std::time::Duration;

use eventblocks_core::{CheckpointStore, Error, Leases, Name};
use eventblocks_sqlite::{SqliteCheckpointStore, SqliteLeases};

fn consumer() -> Name {
    Name::new("consumer", "mailer").unwrap()
}

fn sent(file: &common::TestAdapter) -> Vec<i64> {
    let connection = eventblocks_sqlite::rusqlite::Connection::open(file.adapter.path()).unwrap();
    let mut statement = connection.prepare("SELECT n FROM sent ORDER BY n").unwrap();
    let rows = statement.query_map([], |row| row.get(0)).unwrap();
    rows.map(Result::unwrap).collect()
}

#[tokio::test]
async fn an_effect_commits_with_its_checkpoint_once() {
    let file = common::adapter().await;
    let checkpoints = SqliteCheckpointStore::new(&file.adapter);
    let effect = |n: i64| {
        move |unit: &eventblocks_sqlite::Unit<'_>| {
            unit.connection()
                .execute_batch("CREATE TABLE IF NOT EXISTS sent (n INTEGER)")
                .and_then(|()| {
                    unit.connection()
                        .execute("INSERT INTO sent VALUES (?1)", [n])
                })
                .map_err(|error| Error::backend("sending", error))?;
            Ok(())
        }
    };
    assert!(checkpoints
        .apply_once(&consumer(), 1, None, effect(1))
        .await
        .unwrap());
    assert!(
        !checkpoints
            .apply_once(&consumer(), 1, None, effect(1))
            .await
            .unwrap(),
        "a redelivery"
    );
    // A failing effect rolls back its writes and leaves the checkpoint.
    let failing = |unit: &eventblocks_sqlite::Unit<'_>| {
        unit.connection()
            .execute("INSERT INTO sent VALUES (2)", [])
            .unwrap();
        Err(Error::invalid("mail", "bounced"))
    };
    let error = checkpoints
        .apply_once(&consumer(), 2, None, failing)
        .await
        .unwrap_err();
    assert!(error.is_invalid_input(), "{error:?}");
    assert_eq!(checkpoints.load(&consumer()).await.unwrap(), Some(1));
    // So does one that panics; the writer goes on.
    let panicking = |unit: &eventblocks_sqlite::Unit<'_>| -> eventblocks_core::Result<()> {
        unit.connection()
            .execute("INSERT INTO sent VALUES (2)", [])
            .unwrap();
        panic!("a bug in the effect")
    };
    assert!(checkpoints
        .apply_once(&consumer(), 2, None, panicking)
        .await
        .is_err());
    assert!(checkpoints
        .apply_once(&consumer(), 2, None, effect(2))
        .await
        .unwrap());
    assert_eq!(sent(&file), [1, 2]);
    assert_eq!(checkpoints.load(&consumer()).await.unwrap(), Some(2));
}

#[tokio::test]
async fn a_taken_over_lease_fences_its_old_holder_in_every_process() {
    let file = common::adapter().await;
    let other = file.reopen().await;
    let first = SqliteLeases::with_lease_time(&file.adapter, Duration::from_secs(1));
    let second = SqliteLeases::with_lease_time(&other.adapter, Duration::from_secs(1));
    let old = first
        .try_acquire(&consumer(), 0)
        .await
        .unwrap()
        .expect("free");
    assert!(
        second.try_acquire(&consumer(), 0).await.unwrap().is_none(),
        "held elsewhere"
    );
    let checkpoints = SqliteCheckpointStore::new(&file.adapter);
    assert!(checkpoints
        .advance(&consumer(), 1, Some(&old.fence()))
        .await
        .unwrap());
    second.revoke(&consumer(), 0).await.unwrap();
    let new = second
        .try_acquire(&consumer(), 0)
        .await
        .unwrap()
        .expect("revoked");
    assert!(new.token() > old.token());
    // From the moment the new holder has the lease, the old one is refused,
    // through either adapter.
    let stale = checkpoints
        .advance(&consumer(), 2, Some(&old.fence()))
        .await;
    assert!(matches!(stale, Err(Error::Fenced { .. })), "{stale:?}");
    let elsewhere = SqliteCheckpointStore::new(&other.adapter);
    assert!(elsewhere
        .advance(&consumer(), 2, Some(&new.fence()))
        .await
        .unwrap());
    // The old holder learns it lost the lease at its next heartbeat.
    tokio::time::timeout(Duration::from_secs(5), old.lost())
        .await
        .expect("the old holder is told");
}

#[tokio::test]
async fn a_crashed_holders_lease_is_taken_over_once_it_expires() {
    let file = common::adapter().await;
    let lease_time = Duration::from_millis(400);
    // What a holder that crashed right after taking the lease leaves: its
    // row, never renewed again.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let expires_at = i64::try_from(now).unwrap() + 400;
    eventblocks_sqlite::rusqlite::Connection::open(file.adapter.path())
        .unwrap()
        .execute(
            "INSERT INTO eventblocks_leases VALUES ('mailer', 1, 'crashed', 1, ?1);
             ",
            [expires_at],
        )
        .unwrap();
    let survivor = SqliteLeases::with_lease_time(&file.adapter, lease_time);
    let started = std::time::Instant::now();
    let taken = loop {
        if let Some(lease) = survivor.try_acquire(&consumer(), 1).await.unwrap() {
            break lease;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never taken over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "not before it expired"
    );
    assert_eq!(taken.token(), 2, "the next token");
}
