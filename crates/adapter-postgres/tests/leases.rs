//! Partition leases on PostgreSQL.

mod common;

use std::time::Duration;

use eventblocks_core::{Leases, Name};
use eventblocks_postgres::PostgresLeases;

fn consumer() -> Name {
    Name::new("consumer", "projector").unwrap()
}

/// Tries to take a lease until `timeout`: a released lock is freed when the
/// server notices its session ended, which takes a moment.
async fn acquire_within(leases: &PostgresLeases, partition: u32, timeout: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if leases
            .try_acquire(&consumer(), partition)
            .await
            .unwrap()
            .is_some()
        {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_holder_per_partition_until_released() {
    let test = common::adapter().await;
    let leases = PostgresLeases::new(&test.adapter);
    let held = leases
        .try_acquire(&consumer(), 0)
        .await
        .unwrap()
        .expect("a free partition");
    assert_eq!(held.partition(), 0);
    assert!(
        leases.try_acquire(&consumer(), 0).await.unwrap().is_none(),
        "held elsewhere"
    );
    let other = leases.try_acquire(&consumer(), 1).await.unwrap();
    assert!(other.is_some(), "partitions are leased separately");
    drop(held);
    assert!(
        acquire_within(&leases, 0, Duration::from_secs(5)).await,
        "released on drop"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_holder_whose_session_dies_loses_its_lease() {
    let test = common::adapter().await;
    let leases = PostgresLeases::new(&test.adapter);
    let held = leases
        .try_acquire(&consumer(), 3)
        .await
        .unwrap()
        .expect("a free partition");
    let lost = held.lost();
    // Kill every lease session of this test (they are the ones holding
    // advisory locks, named after the test's schema).
    let client = test.adapter.pool().get().await.unwrap();
    client
        .execute(
            "SELECT pg_terminate_backend(l.pid) FROM pg_locks l
               JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND a.application_name = $1",
            &[&test.schema],
        )
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), lost)
        .await
        .expect("the holder learns its lease is lost");
    assert!(
        acquire_within(&leases, 3, Duration::from_secs(5)).await,
        "another takes over"
    );
    drop(held);
}

/// A server that accepts the connection and then says nothing: taking a lease
/// fails with a typed timeout after the connect timeout instead of hanging.
#[tokio::test]
async fn a_silent_server_times_out_a_lease() {
    use eventblocks_core::Error;
    use eventblocks_postgres::PostgresAdapter;

    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = silent.local_addr().unwrap();
    let accepting = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let adapter = PostgresAdapter::builder()
        .url(format!("postgres://postgres@{address}/postgres"))
        .connect_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    let result = PostgresLeases::new(&adapter)
        .try_acquire(&consumer(), 0)
        .await;
    assert!(matches!(result, Err(Error::Timeout { .. })), "{result:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    accepting.abort();
}
