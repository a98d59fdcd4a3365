//! A sentinel password never shows in any formatted configuration, store,
//! error, or in the `tracing` output of failing connections and saves.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use eventblocks_core::{EventStore, Name, WriteCondition};
use eventblocks_postgres::{
    PostgresAdapter, PostgresCheckpointStore, PostgresLeases, PostgresProjectionStore,
};
use eventblocks_projection::ProjectionStore;

const SENTINEL: &str = "sentinel-Pa55w0rd";

/// Collects everything the subscriber writes.
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

#[tokio::test]
async fn the_password_never_appears_in_output_or_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let url = format!("postgres://eventblocks:{SENTINEL}@127.0.0.1:9/postgres?connect_timeout=1");
    let builder = PostgresAdapter::builder()
        .url(&url)
        .connect_timeout(Duration::from_millis(300))
        .pool_wait_timeout(Duration::from_millis(300));
    let builder_shown = format!("{builder:?}");
    let adapter = builder.build().unwrap();
    let store = EventStore::new(adapter.clone());
    let mut shown = vec![builder_shown, format!("{adapter:?}"), format!("{store:?}")];
    let publish = store
        .stream("c", "s")
        .unwrap()
        .publish(
            eventblocks_testkit::builders::events("e", 1),
            WriteCondition::NoCondition,
        )
        .await
        .unwrap_err();
    shown.push(format!("{publish} {publish:?}"));
    let migrate = adapter.migrate().await.unwrap_err();
    shown.push(format!("{migrate} {migrate:?}"));
    let projections = ProjectionStore::new(PostgresProjectionStore::new(&adapter));
    shown.push(format!("{projections:?}"));
    let checkpoints = PostgresCheckpointStore::new(&adapter);
    shown.push(format!("{checkpoints:?}"));
    let consumer = Name::new("consumer", "c").unwrap();
    if let Err(error) = eventblocks_core::CheckpointStore::load(&checkpoints, &consumer).await {
        shown.push(format!("{error} {error:?}"));
    }
    let leases = PostgresLeases::new(&adapter);
    shown.push(format!("{leases:?}"));
    if let Err(error) = eventblocks_core::Leases::try_acquire(&leases, &consumer, 0).await {
        shown.push(format!("{error} {error:?}"));
    }
    let parse = PostgresAdapter::connect(format!("postgres://u:{SENTINEL}@[::1")).unwrap_err();
    shown.push(format!("{parse} {parse:?}"));

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(!logs.is_empty(), "the failures were logged at all");
    for text in shown.iter().chain(std::iter::once(&logs)) {
        assert!(!text.contains(SENTINEL), "the password leaked: {text}");
    }
}

/// Hostile names and values change no catalog: after the whole input table
/// (SQL-looking names included) the schema holds the same relations and no
/// schema or table came or went anywhere else in the database.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_input_changes_no_catalog() {
    let test = common::adapter().await;
    let schema = test.schema.clone();
    let (client, connection) =
        tokio_postgres::connect(&common::database_url(), tokio_postgres::NoTls)
            .await
            .unwrap();
    tokio::spawn(connection);
    let catalog = || async {
        let rows = client
            .query(
                "SELECT c.relname, c.relkind::text FROM pg_class c
                   JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = $1 ORDER BY 1",
                &[&schema],
            )
            .await
            .unwrap();
        let relations: Vec<(String, String)> =
            rows.iter().map(|row| (row.get(0), row.get(1))).collect();
        let students = client
            .query_one(
                "SELECT count(*) FROM pg_class WHERE relname = 'students'",
                &[],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        (relations, students)
    };
    let before = catalog().await;
    eventblocks_testkit::conformance::every_input_in_the_table_is_handled_alike(EventStore::new(
        test.adapter.clone(),
    ))
    .await;
    assert_eq!(catalog().await, before, "an input changed the catalog");
}
