//! Faults injected while the adapter works, each checked for the promises in
//! the README: no acknowledged event lost, no event skipped or repeated by a
//! reader, typed errors instead of hangs.

mod common;

use std::time::Duration;

use eventblocks_core::{
    Error, EventStore, ScanQuery, StoredEvent, SubscriptionMessage, SubscriptionOptions,
    WriteCondition,
};
use eventblocks_testkit::builders::events;
use eventblocks_testkit::load::{run_load, LoadConfig, LoadReport};
use futures::TryStreamExt;

async fn connect() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&common::database_url(), tokio_postgres::NoTls)
            .await
            .expect("connect");
    tokio::spawn(connection);
    client
}

/// A fault proxy in front of the server at `DATABASE_URL`.
async fn proxy_to_database() -> eventblocks_postgres::testing::FaultProxy {
    let upstream: tokio_postgres::Config = common::database_url().parse().unwrap();
    let port = upstream.get_ports().first().copied().unwrap_or(5432);
    eventblocks_postgres::testing::FaultProxy::start(([127, 0, 0, 1], port).into())
        .await
        .unwrap()
}

/// An adapter for `schema` connecting through `proxy`.
fn through(
    proxy: &eventblocks_postgres::testing::FaultProxy,
    schema: &str,
) -> eventblocks_postgres::PostgresAdapterBuilder {
    eventblocks_postgres::PostgresAdapter::builder()
        .url(format!(
            "postgres://postgres@{}/postgres?application_name={schema}",
            proxy.address()
        ))
        .schema(schema)
}

fn checked(result: Result<LoadReport, Vec<eventblocks_testkit::history::Violation>>) -> LoadReport {
    result.unwrap_or_else(|violations| panic!("{} violations: {violations:?}", violations.len()))
}

/// A random session of the adapter is terminated every 200 ms during the load.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminated_sessions_lose_nothing() {
    let test = common::adapter_with(|builder| builder.pool_size(24)).await;
    let store = EventStore::new(test.adapter.clone());
    let killer = tokio::spawn({
        let schema = test.schema.clone();
        async move {
            let client = connect().await;
            let mut killed = 0;
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let rows = client
                    .query(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                        &[&schema],
                    )
                    .await
                    .unwrap();
                let pids: Vec<i32> = rows.iter().map(|row| row.get(0)).collect();
                let victim = (!pids.is_empty()).then(|| pids[rand::random_range(0..pids.len())]);
                if let Some(pid) = victim {
                    client
                        .execute("SELECT pg_terminate_backend($1)", &[&pid])
                        .await
                        .unwrap();
                    killed += 1;
                }
                if killed > 1000 {
                    return;
                }
            }
        }
    });
    let config = LoadConfig::standard("faults").with_writers(16, 150);
    let report = checked(run_load(&store, &config).await);
    killer.abort();
    eprintln!("{report:?}");
    assert_eq!(report.acknowledged, 16 * 150);
}

/// Statements of the adapter's sessions are cancelled (`pg_cancel_backend`,
/// as `statement_timeout` and `lock_timeout` do) every few milliseconds during
/// the load: nothing acknowledged is lost, and afterwards no session holds a
/// lock or sits in a transaction, and another process's saves go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_statements_lose_nothing_and_leave_no_lock() {
    let test = common::adapter_with(|builder| builder.pool_size(24)).await;
    let store = EventStore::new(test.adapter.clone());
    let canceller = tokio::spawn({
        let schema = test.schema.clone();
        async move {
            let client = connect().await;
            let mut cancelled = 0_u64;
            loop {
                tokio::time::sleep(Duration::from_millis(3)).await;
                let row = client
                    .query_one(
                        "SELECT count(*) FILTER (WHERE pg_cancel_backend(pid)) FROM
                           (SELECT pid FROM pg_stat_activity
                             WHERE application_name = $1 AND state = 'active'
                             ORDER BY random() LIMIT 2) victims",
                        &[&schema],
                    )
                    .await
                    .unwrap();
                cancelled += u64::try_from(row.get::<_, i64>(0)).unwrap();
                if cancelled > 5000 {
                    return;
                }
            }
        }
    });
    let config = LoadConfig::standard("cancels").with_writers(16, 150);
    let report = checked(run_load(&store, &config).await);
    canceller.abort();
    eprintln!("{report:?}");
    assert_eq!(report.acknowledged, 16 * 150);

    let admin = connect().await;
    let settled = async {
        loop {
            let row = admin
                .query_one(
                    "SELECT count(*) FILTER (WHERE state <> 'idle'),
                            (SELECT count(*) FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid
                              WHERE s.application_name = $1 AND l.locktype = 'advisory')
                       FROM pg_stat_activity WHERE application_name = $1",
                    &[&test.schema],
                )
                .await
                .unwrap();
            let (busy, locks): (i64, i64) = (row.get(0), row.get(1));
            if busy == 0 {
                return locks;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let locks = tokio::time::timeout(Duration::from_secs(10), settled)
        .await
        .expect("a session stayed busy or in a transaction");
    assert_eq!(locks, 0, "an idle session holds an advisory lock");
    let other = EventStore::new(
        eventblocks_postgres::PostgresAdapter::builder()
            .url(common::database_url())
            .schema(&test.schema)
            .build()
            .unwrap(),
    );
    tokio::time::timeout(
        Duration::from_secs(5),
        other
            .stream("cancels", "after")
            .unwrap()
            .publish(events("after", 1), WriteCondition::NoCondition),
    )
    .await
    .expect("a lock was left behind")
    .unwrap();
}

/// A transaction holding an xid open elsewhere stalls tailing readers: they
/// deliver nothing committed after it began until it ends, then everything,
/// in order, once. On a private server: the open transaction would stall the
/// log scans of every other test sharing a server.
#[tokio::test(flavor = "multi_thread")]
async fn a_long_transaction_stalls_readers_without_skipping() {
    let server = eventblocks_postgres::testing::PrivateServer::start().expect("a private server");
    let adapter = eventblocks_postgres::PostgresAdapter::connect(server.url()).unwrap();
    adapter.migrate().await.unwrap();
    let store = EventStore::new(adapter);
    let handle = store.stream("c", "s").unwrap();
    handle
        .publish(events("before", 2), WriteCondition::NoCondition)
        .await
        .unwrap();

    let (holder, connection) = tokio_postgres::connect(&server.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    holder
        .batch_execute("BEGIN; SELECT pg_current_xact_id();")
        .await
        .unwrap();
    handle
        .publish(events("during", 3), WriteCondition::NoCondition)
        .await
        .unwrap();

    let options = SubscriptionOptions::new().poll_interval(Duration::from_millis(100));
    let mut subscription = store.log().subscribe(options).unwrap();
    let mut seen: Vec<StoredEvent> = Vec::new();
    let hold = tokio::time::sleep(Duration::from_secs(10));
    tokio::pin!(hold);
    loop {
        tokio::select! {
            () = &mut hold => break,
            message = subscription.try_next() => {
                if let Some(SubscriptionMessage::Event(event)) = message.unwrap() {
                    seen.push(event);
                }
            }
        }
    }
    let names: Vec<&str> = seen.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        ["before", "before"],
        "nothing newer than the open transaction"
    );
    holder.batch_execute("COMMIT").await.unwrap();
    while seen.len() < 5 {
        let message = tokio::time::timeout(Duration::from_secs(5), subscription.try_next())
            .await
            .expect("readers catch up once the transaction ends")
            .unwrap();
        if let Some(SubscriptionMessage::Event(event)) = message {
            seen.push(event);
        }
    }
    let sequence: Vec<u64> = seen.iter().map(|e| e.sequence_number).collect();
    let mut sorted = sequence.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sequence, sorted, "in order, once each");
    let log: Vec<StoredEvent> = store
        .log()
        .scan(ScanQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(seen, log);
}

/// A save blocked past `statement_timeout` fails with a typed timeout that
/// says nothing was written, and the adapter keeps working.
#[tokio::test(flavor = "multi_thread")]
async fn a_statement_timeout_is_a_typed_timeout() {
    let test = common::adapter_with(|builder| builder.pool_size(2)).await;
    let url = common::url_named(&test.schema);
    let separator = if url.contains('?') { '&' } else { '?' };
    let limited = eventblocks_postgres::PostgresAdapter::builder()
        .url(format!(
            "{url}{separator}options=-c%20statement_timeout%3D300"
        ))
        .schema(&test.schema)
        .build()
        .unwrap();
    let store = EventStore::new(limited);
    let handle = store.stream("c", "s").unwrap();
    handle
        .publish(events("first", 1), WriteCondition::NoCondition)
        .await
        .unwrap();

    let blocker = connect().await;
    blocker
        .batch_execute(&format!(
            "BEGIN; LOCK TABLE \"{}\".events IN EXCLUSIVE MODE;",
            test.schema
        ))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let blocked = handle
        .publish(events("blocked", 1), WriteCondition::NoCondition)
        .await;
    match blocked {
        Err(Error::Timeout { outcome, .. }) => {
            assert_eq!(outcome, eventblocks_core::WriteOutcome::NotWritten);
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(5), "no hang");
    blocker.batch_execute("ROLLBACK").await.unwrap();
    let after = handle
        .publish(events("after", 1), WriteCondition::NoCondition)
        .await;
    assert!(after.is_ok(), "the adapter keeps working: {after:?}");
    let names: Vec<String> = handle
        .read()
        .await
        .unwrap()
        .iter()
        .map(|e| e.name.to_string())
        .collect();
    assert_eq!(names, ["first", "after"]);
}

/// The server is killed (`pg_ctl stop -m immediate`) in the middle of the load
/// and restarted: writers retry, readers resume from their checkpoints, and
/// every acknowledged event is there afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_crash_and_restart_loses_nothing() {
    let server = std::sync::Arc::new(
        eventblocks_postgres::testing::PrivateServer::start().expect("a private PostgreSQL server"),
    );
    let adapter = eventblocks_postgres::PostgresAdapter::builder()
        .url(server.url())
        .pool_size(24)
        .build()
        .unwrap();
    adapter.migrate().await.unwrap();
    let store = EventStore::new(adapter);
    let crasher = tokio::spawn({
        let server = server.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(800)).await;
            tokio::task::spawn_blocking(move || {
                server.crash().expect("crash the server");
                std::thread::sleep(Duration::from_millis(500));
                server.restart().expect("restart the server");
            })
            .await
            .unwrap();
        }
    });
    let mut config = LoadConfig::standard("crash").with_writers(16, 150);
    config.max_attempts = 2000;
    let report = checked(run_load(&store, &config).await);
    crasher.await.unwrap();
    eprintln!("{report:?}");
    assert_eq!(report.acknowledged, 16 * 150);
}

/// A network that silently stops delivering for 5 s: every call fails within
/// its timeout plus a second instead of hanging, and work resumes within 5 s
/// of the network healing; publishes whose outcome was unknown are retried
/// with the same ids and stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_network_black_hole_times_out_and_recovers() {
    // A private server: a transaction stranded by the black hole must not
    // hold back the read horizon of other tests.
    let server = eventblocks_postgres::testing::PrivateServer::start().expect("a private server");
    let migrator = eventblocks_postgres::PostgresAdapter::connect(server.url()).unwrap();
    migrator.migrate().await.unwrap();
    let proxy = eventblocks_postgres::testing::FaultProxy::start(server.address())
        .await
        .unwrap();
    let timeout = Duration::from_secs(1);
    let adapter = eventblocks_postgres::PostgresAdapter::builder()
        .url(format!("postgres://postgres@{}/postgres", proxy.address()))
        .operation_timeout(timeout)
        .pool_wait_timeout(timeout)
        .connect_timeout(timeout)
        .build()
        .unwrap();
    let store = EventStore::new(adapter);
    let handle = store.stream("net", "s").unwrap();
    handle
        .publish(events("before", 1), WriteCondition::NoCondition)
        .await
        .unwrap();

    proxy.black_hole();
    let blackout = std::time::Instant::now();
    let mut unknown = Vec::new();
    let mut calls = 0;
    while blackout.elapsed() < Duration::from_secs(5) {
        let batch = events("during", 1);
        let started = std::time::Instant::now();
        let result = handle
            .publish(batch.clone(), WriteCondition::NoCondition)
            .await;
        assert!(
            started.elapsed() < timeout + Duration::from_secs(1),
            "a call hung"
        );
        match result {
            Err(error) if error.is_retryable() => unknown.push(batch),
            other => panic!("expected a timeout during the black hole, got {other:?}"),
        }
        calls += 1;
    }
    assert!(calls >= 3, "{calls} calls in 5 s");
    proxy.heal();
    let healed = std::time::Instant::now();
    loop {
        let attempt = handle
            .publish(events("after", 1), WriteCondition::NoCondition)
            .await;
        if attempt.is_ok() {
            break;
        }
        assert!(
            healed.elapsed() < Duration::from_secs(5),
            "no progress 5 s after healing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for batch in &unknown {
        handle
            .publish(batch.clone(), WriteCondition::NoCondition)
            .await
            .unwrap();
    }
    let stored = handle.read().await.unwrap();
    let during = stored
        .iter()
        .filter(|e| e.name.as_str() == "during")
        .count();
    assert_eq!(
        during,
        unknown.len(),
        "each unknown-outcome publish stored exactly once"
    );
}

/// The connection is cut just before and just after the `COMMIT` of an
/// exactly-once unit: before, nothing was applied and the retry applies it;
/// after, the commit happened and the retry recognises the event as done.
/// Either way the effect is applied exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn cuts_around_commit_keep_effects_exactly_once() {
    use eventblocks_core::{CheckpointStore, Name};
    use eventblocks_postgres::testing::CommitFault;
    use eventblocks_postgres::PostgresCheckpointStore;

    let test = common::adapter().await;
    let proxy = proxy_to_database().await;
    let through_proxy = through(&proxy, &test.schema).build().unwrap();
    let checkpoints = PostgresCheckpointStore::new(&through_proxy);
    let direct = connect().await;
    let effects = format!("\"{}\".effects", test.schema);
    direct
        .batch_execute(&format!(
            "CREATE TABLE {effects} (sequence_number bigint NOT NULL)"
        ))
        .await
        .unwrap();
    let insert = format!("INSERT INTO {effects} VALUES ($1)");
    let consumer = Name::new("consumer", "cut").unwrap();

    for (sequence_number, fault) in [
        (1_i64, CommitFault::CutBeforeCommit),
        (2, CommitFault::CutAfterCommit),
    ] {
        let event = u64::try_from(sequence_number).unwrap();
        let unit = checkpoints
            .begin(&consumer, event)
            .await
            .unwrap()
            .expect("not yet processed");
        unit.client()
            .execute(&insert, &[&sequence_number])
            .await
            .unwrap();
        proxy.arm(fault);
        let error = unit.commit().await.expect_err("the connection was cut");
        assert!(error.is_retryable(), "{error:?}");
        // The consumer retries: applied once, whichever side of COMMIT the cut fell.
        if let Some(unit) = checkpoints.begin(&consumer, event).await.unwrap() {
            assert_eq!(
                fault,
                CommitFault::CutBeforeCommit,
                "a committed unit is recognised"
            );
            unit.client()
                .execute(&insert, &[&sequence_number])
                .await
                .unwrap();
            unit.commit().await.unwrap();
        } else {
            assert_eq!(
                fault,
                CommitFault::CutAfterCommit,
                "an uncommitted unit is redone"
            );
        }
        let applied: i64 = direct
            .query_one(
                &format!("SELECT count(*) FROM {effects} WHERE sequence_number = $1"),
                &[&sequence_number],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(applied, 1, "{fault:?}: the effect is applied exactly once");
        assert_eq!(checkpoints.load(&consumer).await.unwrap(), Some(event));
    }
}

/// During the load, writers' connections are cut just before and just after a
/// save commits, in turn: before, nothing was stored; after, the save is
/// stored but its caller never hears so. Either way the writer sees an
/// unknown outcome, retries with the same ids, and the checker finds every
/// acknowledged event exactly once and no event twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cuts_around_the_commit_of_saves_lose_and_repeat_nothing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    use eventblocks_postgres::testing::CommitFault;

    let test = common::adapter().await;
    let proxy = Arc::new(proxy_to_database().await);
    // The save function's statement commits when it ends (autocommit).
    proxy.commit_on_statements_containing(format!("{}_save", eventblocks_postgres::DEFAULT_TABLE));
    let through_proxy = through(&proxy, &test.schema).pool_size(24).build().unwrap();
    let store = EventStore::new(through_proxy);
    let stop = Arc::new(AtomicBool::new(false));
    let faults = tokio::spawn({
        let (proxy, stop) = (proxy.clone(), stop.clone());
        async move {
            let mut struck = [0_u64; 2];
            let order = [CommitFault::CutBeforeCommit, CommitFault::CutAfterCommit];
            for round in 0.. {
                let strikes = proxy.strikes();
                proxy.arm(order[round % 2]);
                while proxy.strikes() == strikes {
                    if stop.load(Ordering::SeqCst) {
                        return struck;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                struck[round % 2] += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            struck
        }
    });
    let config = LoadConfig::standard("cuts").with_writers(16, 150);
    let report = checked(run_load(&store, &config).await);
    stop.store(true, Ordering::SeqCst);
    let [before, after] = faults.await.unwrap();
    eprintln!("{report:?}; cut before commit {before}, after commit {after}");
    assert_eq!(report.acknowledged, 16 * 150);
    assert!(
        before >= 5 && after >= 5,
        "too few cuts: {before} before, {after} after"
    );
    assert!(
        report.unknown_outcomes >= usize::try_from(before + after).unwrap(),
        "every cut save is an unknown outcome, retried: {report:?}"
    );
}

/// A schema dumped with `pg_dump` and restored into another cluster (a move to
/// another server, a major-version upgrade by dump), whose transaction ids
/// start lower down: after `migrate()`, the restored events are visible to log
/// and category scans, new events are numbered after them, and a subscriber
/// resuming from its checkpoint sees the new event.
#[tokio::test(flavor = "multi_thread")]
async fn a_store_restored_into_another_cluster_keeps_order_and_visibility() {
    let test = common::adapter().await;
    let store = EventStore::new(test.adapter.clone());
    let before = store
        .stream("orders", "o-1")
        .unwrap()
        .publish(events("placed", 3), WriteCondition::NoCondition)
        .await
        .unwrap();
    let dump = std::process::Command::new("pg_dump")
        .args([
            "-d",
            &common::database_url(),
            "-n",
            &test.schema,
            "--no-owner",
            "--inserts",
        ])
        .output()
        .expect("pg_dump runs");
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    // Given to `psql -c`, which runs no meta-commands.
    let dump: String = String::from_utf8(dump.stdout)
        .unwrap()
        .lines()
        .filter(|line| !line.starts_with('\\'))
        .map(|line| format!("{line}\n"))
        .collect();

    let server = eventblocks_postgres::testing::PrivateServer::start().expect("a private server");
    server.psql(&dump).expect("the dump restores");
    let restored = eventblocks_postgres::PostgresAdapter::builder()
        .url(server.url())
        .schema(&test.schema)
        .build()
        .unwrap();
    assert_eq!(restored.migrate().await.unwrap(), 0, "nothing to migrate");
    let restored = EventStore::new(restored);
    let after = restored
        .stream("orders", "o-1")
        .unwrap()
        .publish(events("shipped", 1), WriteCondition::NoCondition)
        .await
        .unwrap();
    let last_before = before.last().unwrap().sequence_number;
    assert!(
        after[0].sequence_number > last_before,
        "a new event ({}) is numbered after every restored one ({last_before})",
        after[0].sequence_number
    );
    let category = restored.category("orders").unwrap();
    let all: Vec<StoredEvent> = category.scan(ScanQuery::new()).try_collect().await.unwrap();
    assert_eq!(all.len(), 4, "every event is visible to category scans");
    let resumed: Vec<StoredEvent> = category
        .scan(ScanQuery::new().after(last_before))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(resumed, after, "a subscriber resuming after the restore");
}
