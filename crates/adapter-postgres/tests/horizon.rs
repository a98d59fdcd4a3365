//! A transaction held open elsewhere on the server holds the read horizon
//! back: `read_horizon` names its session, a log read that gives up waiting
//! records the stall in the metrics and warns naming the same session, and
//! once the transaction ends the horizon is healthy again.
//!
//! On a private server: an open transaction would stall the log reads of
//! every other test sharing a server. One test in this binary, because it
//! installs a process-wide metrics recorder and tracing subscriber.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventblocks_core::metrics::READ_HORIZON_STALL;
use eventblocks_core::{EventStore, NewEvent, ScanQuery, WriteCondition};
use eventblocks_postgres::testing::PrivateServer;
use eventblocks_postgres::PostgresAdapter;
use futures::TryStreamExt;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

/// Collects everything the tracing subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn events(name: &str, count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|n| NewEvent::new(name, &n).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_held_horizon_is_named_warned_of_and_measured() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().unwrap();
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::WARN)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let server = PrivateServer::start().expect("a private server");
    let adapter = PostgresAdapter::builder()
        .url(server.url())
        .horizon_wait(Duration::from_millis(300))
        .build()
        .unwrap();
    adapter.migrate().await.unwrap();
    let store = EventStore::new(adapter.clone());
    let stream = store.stream("c", "s").unwrap();
    stream
        .publish(events("before", 2), WriteCondition::NoCondition)
        .await
        .unwrap();
    let healthy = adapter.read_horizon().await.unwrap();
    assert!(
        !healthy.is_stalled() && healthy.blocker.is_none(),
        "{healthy:?}"
    );

    let mut config: tokio_postgres::Config = server.url().parse().unwrap();
    let (holder, connection) = config
        .application_name("held-open")
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let pid: i32 = holder
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    holder
        .batch_execute("BEGIN; SELECT pg_current_xact_id();")
        .await
        .unwrap();
    stream
        .publish(events("during", 3), WriteCondition::NoCondition)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;

    let held = adapter.read_horizon().await.unwrap();
    assert!(held.is_stalled(), "{held:?}");
    assert!(held.committed > held.settled);
    let blocker = held.blocker.expect("the holding session is named");
    assert_eq!(blocker.pid, Some(pid));
    assert_eq!(blocker.application_name, "held-open");
    assert_eq!(blocker.state.as_deref(), Some("idle in transaction"));
    assert!(blocker
        .transaction_age
        .is_some_and(|age| age >= Duration::from_millis(50)));
    assert!(blocker.inspect_command().contains(&pid.to_string()));

    let read: Vec<_> = store
        .log()
        .scan(ScanQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(read.len(), 2, "only what is settled: {read:?}");
    let stalls: usize = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == READ_HORIZON_STALL)
        .map(|(.., value)| match value {
            DebugValue::Histogram(values) => values.len(),
            _ => 0,
        })
        .sum();
    assert!(stalls >= 1, "the stalled read is measured");
    let warned = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        warned.contains("held back") && warned.contains(&format!("pid {pid}")),
        "the warning names the session: {warned}"
    );

    holder.batch_execute("COMMIT").await.unwrap();
    let healthy = adapter.read_horizon().await.unwrap();
    assert!(
        !healthy.is_stalled() && healthy.blocker.is_none(),
        "{healthy:?}"
    );
    let read: Vec<_> = store
        .log()
        .scan(ScanQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(read.len(), 5);
}
