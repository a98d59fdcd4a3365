//! The tables `migrate()` creates follow the crate's features: a store that is
//! not compiled in has no tables. `scripts/test` runs this file once more
//! without default features, where only the event log's tables may exist.

use eventblocks_postgres::PostgresAdapter;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".to_owned())
}

#[tokio::test]
async fn migrate_creates_the_tables_of_the_enabled_stores_only() {
    // Named like every test schema, after the process, so a test run clears
    // it only once this process has gone.
    let schema = format!(
        "eventblocks_test_{}_tables_{}",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    );
    let adapter = PostgresAdapter::builder()
        .url(database_url())
        .schema(&schema)
        .build()
        .expect("a valid configuration");
    adapter.migrate().await.expect("migrate");
    let (client, connection) = tokio_postgres::connect(&database_url(), tokio_postgres::NoTls)
        .await
        .expect("connect to DATABASE_URL");
    tokio::spawn(connection);
    let rows = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1
              ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap();
    let tables: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    let mut expected = vec![
        "events",
        "events_allocation",
        "events_event_names",
        "events_migrations",
        "events_streams",
        "events_tags",
        "events_tracking",
    ];
    if cfg!(feature = "checkpoints") {
        expected.push("events_checkpoints");
    }
    if cfg!(any(feature = "projections", feature = "checkpoints")) {
        expected.push("events_fences");
    }
    if cfg!(feature = "projections") {
        expected.push("events_projections");
    }
    expected.sort_unstable();
    assert_eq!(tables, expected);
    assert_eq!(
        adapter.migrate().await.expect("migrate again"),
        0,
        "nothing left to apply"
    );
    client
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}
