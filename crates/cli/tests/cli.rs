//! The `eventblocks` command end to end, against SQLite files and a private
//! schema per test on the PostgreSQL at `DATABASE_URL`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use eventblocks_postgres::testing::PrivateServer;
use eventblocks_postgres::tokio_postgres::{self, NoTls};
use serde_json::Value;

fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".to_owned())
}

/// A schema no other test or test process uses (named after the process, so
/// the test script can clear what a crashed run left).
fn unique_schema() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    format!(
        "eventblocks_test_{}_{}_cli",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A store address and its arguments.
#[derive(Debug, Clone)]
struct Store {
    args: Vec<String>,
}

impl Store {
    fn sqlite(path: &Path) -> Self {
        Self {
            args: vec!["--store".into(), format!("sqlite:{}", path.display())],
        }
    }

    fn postgres(schema: &str) -> Self {
        Self::postgres_at(&database_url(), schema)
    }

    fn postgres_at(url: &str, schema: &str) -> Self {
        Self {
            args: vec![
                "--store".into(),
                url.to_owned(),
                "--schema".into(),
                schema.to_owned(),
            ],
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::cargo_bin("eventblocks").expect("the binary is built");
        command.args(&self.args).args(args);
        command.timeout(Duration::from_secs(60));
        command
    }

    fn run(&self, args: &[&str], stdin: &str) -> Output {
        self.command(args)
            .write_stdin(stdin.to_owned())
            .output()
            .expect("the command runs")
    }

    /// Runs a command that must succeed; its standard output.
    fn ok(&self, args: &[&str], stdin: &str) -> String {
        let output = self.run(args, stdin);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("UTF-8 output")
    }

    fn json_lines(&self, args: &[&str]) -> Vec<Value> {
        let mut args = args.to_vec();
        args.push("--json");
        lines(&self.ok(&args, ""))
    }
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("a JSON line"))
        .collect()
}

/// Asserts a failure with `code` and one clear line on standard error.
fn assert_fails(output: &Output, code: i32, mentions: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains(mentions),
        "{stderr:?} mentions {mentions:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

async fn pg_client(application_name: &str) -> tokio_postgres::Client {
    pg_client_at(&database_url(), application_name).await
}

async fn pg_client_at(url: &str, application_name: &str) -> tokio_postgres::Client {
    let mut config: tokio_postgres::Config = url.parse().expect("a URL");
    config.application_name(application_name);
    let (client, connection) = config.connect(NoTls).await.expect("connect");
    tokio::spawn(connection);
    client
}

/// A migrated private schema, dropped when the test ends well.
struct Schema {
    name: String,
}

impl Schema {
    fn new() -> Self {
        let name = unique_schema();
        Store::postgres(&name).ok(&["migrate"], "");
        Self { name }
    }

    fn store(&self) -> Store {
        Store::postgres(&self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("keeping schema {} of a failed test", self.name);
            return;
        }
        let name = self.name.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().expect("a runtime");
            runtime.block_on(async {
                let client = pg_client("cli-test-cleanup").await;
                let _ = client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                    .await;
            });
        })
        .join()
        .expect("dropped");
    }
}

const ORDERS: &str = concat!(
    r#"{"name": "order-placed", "payload": {"total": 1e2, "items": [1, 2]}, "tags": ["customer:7"], "metadata": {"by": "test"}}"#,
    "\n",
    r#"{"name": "order-paid", "payload": {"total": 100}}"#,
    "\n",
);

/// Every read and catalogue command on a store holding a few events.
fn every_subcommand(store: &Store) {
    let appended = lines(&store.ok(
        &["append", "orders", "o-1", "--expect-empty", "--json"],
        ORDERS,
    ));
    assert_eq!(appended.len(), 2);
    assert_eq!(appended[0]["position"], 0);
    store.ok(
        &["append", "orders", "o-2", "--json"],
        "{\"name\": \"order-placed\", \"payload\": {}}\n",
    );
    let empty = store.run(&["append", "audit", "a-1"], "\n");
    assert_fails(&empty, 2, "no events");
    let unmet = store.run(
        &["append", "orders", "o-1", "--expect-position", "5"],
        "{\"name\": \"late\", \"payload\": 1}\n",
    );
    assert_fails(&unmet, 3, "condition");

    let read = store.json_lines(&["read", "orders", "o-1"]);
    assert_eq!(read, appended, "read returns what append stored");
    let table = store.ok(&["read", "orders", "o-1", "--table"], "");
    assert!(table.starts_with("SEQUENCE"), "{table}");
    assert!(table.contains("order-paid"), "{table}");

    let categories = store.json_lines(&["categories"]);
    assert_eq!(categories, [serde_json::json!({"category": "orders"})]);
    let streams = store.json_lines(&["streams", "orders"]);
    assert_eq!(streams[0]["stream"], "o-1");
    assert_eq!(streams[0]["length"], 2);
    assert_eq!(streams[1]["last_position"], 0);
    let limited = store.json_lines(&["streams", "orders", "--limit", "1"]);
    assert_eq!(limited.len(), 1);
    let prefixed = store.json_lines(&["streams", "orders", "--prefix", "o-2"]);
    assert_eq!(prefixed.len(), 1);
    let table = store.ok(&["streams", "orders", "--table"], "");
    assert!(table.contains("LAST POSITION"), "{table}");
    let names = store.json_lines(&["event-types"]);
    let names: Vec<&str> = names.iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names, ["order-paid", "order-placed"]);
    let stats = store.json_lines(&["stats"]);
    assert_eq!(stats[0]["events"], 3);
    assert_eq!(stats[0]["streams"], 2);
    assert!(stats[0]["bytes"].as_i64().unwrap() > 0);
    assert_eq!(stats[0]["head"], read_head(store));
    assert!(store.ok(&["stats", "--table"], "").contains("head"));

    let all = store.json_lines(&["tail"]);
    assert_eq!(all.len(), 3);
    let placed = store.json_lines(&["tail", "--name", "order-placed"]);
    assert_eq!(placed.len(), 2);
    let not_placed = store.json_lines(&["tail", "--exclude-name", "order-placed"]);
    assert_eq!(not_placed.len(), 1);
    let first = all[0]["sequence_number"].as_u64().unwrap().to_string();
    let after = store.json_lines(&["tail", "--after", &first]);
    assert_eq!(after.len(), 2);
    let tagged = store.json_lines(&["tail", "--tag", "customer:7"]);
    assert_eq!(tagged.len(), 1);
    assert_eq!(tagged[0]["name"], "order-placed");
    let category = store.json_lines(&["tail", "--category", "orders", "--limit", "1"]);
    assert_eq!(category.len(), 1);
    assert!(store.ok(&["tail", "--table"], "").starts_with("SEQUENCE"));
}

fn read_head(store: &Store) -> Value {
    let all = store.json_lines(&["tail"]);
    all.last()
        .map_or(Value::Null, |event| event["sequence_number"].clone())
}

#[test]
fn every_subcommand_works_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::sqlite(&dir.path().join("events.db"));
    assert!(store.ok(&["migrate"], "").contains("migrated"));
    assert!(store.ok(&["migrate"], "").contains("0 migration"));
    every_subcommand(&store);
}

#[test]
fn every_subcommand_works_on_postgres() {
    let schema = Schema::new();
    every_subcommand(&schema.store());
}

/// The fields that travel: everything but the sequence number, which each
/// store hands out.
fn portable(events: &[Value]) -> Vec<Value> {
    events
        .iter()
        .map(|event| {
            let mut event = event.clone();
            event.as_object_mut().unwrap().remove("sequence_number");
            event
        })
        .collect()
}

#[test]
fn export_from_postgres_imports_into_sqlite_and_back() {
    let schema = Schema::new();
    let postgres = schema.store();
    postgres.ok(&["append", "orders", "o-1"], ORDERS);
    postgres.ok(&["append", "payments", "p-1"], ORDERS);
    postgres.ok(&["append", "orders", "o-1"], ORDERS);
    let dir = tempfile::tempdir().unwrap();
    let exported = dir.path().join("export.jsonl");
    let exported_arg = exported.to_str().unwrap();
    postgres.ok(&["export", "--output", exported_arg], "");
    let from_postgres = lines(&std::fs::read_to_string(&exported).unwrap());
    assert_eq!(from_postgres.len(), 6);

    let sqlite = Store::sqlite(&dir.path().join("copy.db"));
    sqlite.ok(&["migrate"], "");
    sqlite.ok(&["import", exported_arg], "");
    // Importing again is idempotent: the same events, nothing added.
    sqlite.ok(&["import", exported_arg], "");
    let from_sqlite = lines(&sqlite.ok(&["export"], ""));
    assert_eq!(portable(&from_sqlite), portable(&from_postgres));

    let back = Schema::new();
    let text = sqlite.ok(&["export"], "");
    back.store().ok(&["import"], &text);
    let round_trip = lines(&back.store().ok(&["export"], ""));
    assert_eq!(portable(&round_trip), portable(&from_postgres));
}

#[test]
fn health_names_the_session_holding_the_horizon_back() {
    let server = PrivateServer::start().expect("a private server");
    let store = Store::postgres_at(&server.url(), "eventblocks");
    store.ok(&["migrate"], "");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let application = "cli-test-holder";
    let holder = runtime.block_on(async {
        let client = pg_client_at(&server.url(), application).await;
        client
            .batch_execute("BEGIN; SELECT pg_current_xact_id();")
            .await
            .unwrap();
        client
    });
    store.ok(&["append", "orders", "o-1"], ORDERS);
    std::thread::sleep(Duration::from_millis(1500));
    let output = store.run(&["health", "--threshold", "1", "--json"], "");
    let stderr = assert_fails(&output, 4, "held back");
    let report = lines(&String::from_utf8_lossy(&output.stdout));
    let blocker = &report[0]["blocker"];
    assert_eq!(blocker["application_name"], application, "{report:?}");
    assert_ne!(report[0]["committed"], report[0]["settled"]);
    let pid = blocker["pid"].as_i64().unwrap();
    assert!(stderr.contains(&pid.to_string()), "{stderr}");
    assert!(
        blocker["inspect"]
            .as_str()
            .unwrap()
            .contains("pg_stat_activity"),
        "{blocker}"
    );
    let table = store.ok(&["health", "--threshold", "3600", "--table"], "");
    assert!(table.contains(application), "{table}");

    runtime.block_on(async { holder.batch_execute("COMMIT").await.unwrap() });
    drop(holder);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = store.run(&["health", "--threshold", "5", "--json"], "");
        if output.status.success() {
            let report = lines(&String::from_utf8_lossy(&output.stdout));
            assert_eq!(report[0]["healthy"], true);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the horizon never became healthy"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn consumers_show_checkpoints_with_their_lag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = Store::sqlite(&path);
    store.ok(&["migrate"], "");
    store.ok(&["append", "orders", "o-1"], ORDERS);
    store.ok(&["append", "orders", "o-1"], ORDERS);
    {
        let connection = eventblocks_sqlite::rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "INSERT INTO eventblocks_checkpoints (consumer, sequence_number) VALUES ('billing', 1), ('done', 4);
                 INSERT INTO eventblocks_leases (consumer, partition, holder, token, expires_at)
                 VALUES ('billing', 0, 'instance-a', 3, 0);",
            )
            .unwrap();
    }
    let consumers = store.json_lines(&["consumers"]);
    assert_eq!(consumers[0]["consumer"], "billing");
    assert_eq!(consumers[0]["lag_events"], 3);
    assert!(consumers[0]["lag_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(consumers[1]["lag_events"], 0);
    assert_eq!(consumers[2]["kind"], "lease");
    assert_eq!(consumers[2]["holder"], "instance-a");
    let table = store.ok(&["consumers", "--table"], "");
    assert!(
        table.contains("LAG (EVENTS)") && table.contains("instance-a"),
        "{table}"
    );
}

#[test]
fn consumers_on_postgres_read_checkpoints() {
    let schema = Schema::new();
    let store = schema.store();
    store.ok(&["append", "orders", "o-1"], ORDERS);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = pg_client("cli-test").await;
        client
            .batch_execute(&format!(
                "INSERT INTO \"{0}\".events_checkpoints (consumer, sequence_number) VALUES ('billing', 0);
                 INSERT INTO \"{0}\".events_fences (consumer, partition, token) VALUES ('billing', 0, 2);",
                schema.name
            ))
            .await
            .unwrap();
    });
    let consumers = store.json_lines(&["consumers"]);
    assert_eq!(consumers[0]["lag_events"], 2);
    assert!(consumers[0]["lag_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(consumers[1]["token"], 2);
}

#[test]
fn tail_follows_new_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::sqlite(&dir.path().join("events.db"));
    store.ok(&["migrate"], "");
    store.ok(&["append", "orders", "o-1"], ORDERS);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("eventblocks"))
        .args(&store.args)
        .args(["tail", "--follow", "--json", "--name", "order-paid"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if sender.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    let first = receiver.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(first.contains("order-paid"), "{first}");
    store.ok(&["append", "orders", "o-2"], ORDERS);
    let live = receiver.recv_timeout(Duration::from_secs(20)).unwrap();
    assert!(live.contains("o-2"), "{live}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_addresses_and_files_are_one_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let none = Store {
        args: vec!["--store".into(), "mysql://localhost/x".into()],
    };
    assert_fails(
        &none.run(&["categories"], ""),
        2,
        "unsupported store address",
    );
    let unreachable = Store {
        args: vec!["--store".into(), "postgres://nobody@127.0.0.1:1/x".into()],
    };
    assert_fails(&unreachable.run(&["stats"], ""), 1, "reachable");
    let bad_schema = Store {
        args: vec![
            "--store".into(),
            database_url(),
            "--schema".into(),
            "no such; schema".into(),
        ],
    };
    assert_fails(&bad_schema.run(&["categories"], ""), 2, "schema");
    let missing = dir.path().join("missing.db");
    assert_fails(
        &Store::sqlite(&missing).run(&["categories"], ""),
        2,
        "no SQLite store",
    );
    assert!(!missing.exists(), "nothing is created");
    let not_sqlite = dir.path().join("notes.txt");
    std::fs::write(
        &not_sqlite,
        "just some text, long enough to have a header of sorts ...",
    )
    .unwrap();
    let before = std::fs::read(&not_sqlite).unwrap();
    assert_fails(
        &Store::sqlite(&not_sqlite).run(&["categories"], ""),
        2,
        "not a SQLite",
    );
    assert_eq!(
        std::fs::read(&not_sqlite).unwrap(),
        before,
        "the file is left alone"
    );
    let not_migrated = Schema {
        name: unique_schema(),
    };
    assert_fails(
        &not_migrated.store().run(&["streams", "x"], ""),
        1,
        "migrate",
    );
    let no_store = Command::cargo_bin("eventblocks")
        .unwrap()
        .env_remove("EVENTBLOCKS_STORE")
        .arg("stats")
        .output()
        .unwrap();
    assert_fails(&no_store, 2, "--store");
}

/// A malformed line anywhere makes append and import write nothing.
fn malformed_lines_write_nothing(store: &Store) {
    let good = "{\"name\": \"ok\", \"payload\": 1}\n";
    for bad in [
        "{\"name\": \"ok\", \"payload\": ",
        "{\"payload\": 1}",
        "{\"name\": \"\", \"payload\": 1}",
        "{\"name\": \"x\", \"payload\": 1, \"metadata\": [1]}",
        "not json at all",
    ] {
        let input = format!("{good}{bad}\n");
        let output = store.run(&["append", "orders", "o-1"], &input);
        assert_fails(&output, 2, "line 2");
        let output = store.run(&["import"], &format!("{bad}\n"));
        assert_fails(&output, 2, "line 1");
    }
    let exported = r#"{"id":"01a252c0-5294-709a-8ed2-838041226f08","name":"a","stream":{"category":"c","stream":"s"},"position":0,"sequence_number":1,"payload":1,"metadata":{},"occurred_at":"2026-01-01T00:00:00Z","observed_at":"2026-01-01T00:00:00Z"}"#;
    let output = store.run(&["import"], &format!("{exported}\n{{broken\n"));
    assert_fails(&output, 2, "line 2");
    let stats = store.json_lines(&["stats"]);
    assert_eq!(stats[0]["events"], 0, "nothing was written");
}

#[test]
fn malformed_lines_write_nothing_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::sqlite(&dir.path().join("events.db"));
    store.ok(&["migrate"], "");
    malformed_lines_write_nothing(&store);
}

#[test]
fn malformed_lines_write_nothing_on_postgres() {
    let schema = Schema::new();
    malformed_lines_write_nothing(&schema.store());
}

#[test]
fn every_subcommand_has_help() {
    let store = Store { args: Vec::new() };
    assert!(store.ok(&["--help"], "").contains("health"));
    for command in [
        "migrate",
        "append",
        "read",
        "tail",
        "categories",
        "streams",
        "event-types",
        "stats",
        "consumers",
        "health",
        "export",
        "import",
    ] {
        let help = store.ok(&[command, "--help"], "");
        assert!(help.contains("Usage: eventblocks"), "{command}: {help}");
    }
    let output = store.run(&["no-such-command"], "");
    assert_eq!(output.status.code(), Some(2));
}

/// An import of a later export of the same store (a stream has grown since
/// the first import) stores only the new events.
fn import_resumes_a_grown_stream(source: &Store, copy: &Store) {
    source.ok(&["append", "orders", "o-1"], ORDERS);
    let first = source.ok(&["export"], "");
    copy.ok(&["import"], &first);
    source.ok(&["append", "orders", "o-1"], ORDERS);
    source.ok(&["append", "payments", "p-1"], ORDERS);
    let second = source.ok(&["export"], "");
    copy.ok(&["import"], &second);
    copy.ok(&["import"], &second);
    let copied = lines(&copy.ok(&["export"], ""));
    assert_eq!(portable(&copied), portable(&lines(&second)));
    // An event of the file that differs from the one stored at its position
    // is still refused.
    let changed = second.replacen("order-paid", "order-cancelled", 1);
    assert_fails(&copy.run(&["import"], &changed), 1, "conflicts");
}

#[test]
fn import_resumes_a_grown_stream_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let source = Store::sqlite(&dir.path().join("source.db"));
    let copy = Store::sqlite(&dir.path().join("copy.db"));
    source.ok(&["migrate"], "");
    copy.ok(&["migrate"], "");
    import_resumes_a_grown_stream(&source, &copy);
}

#[test]
fn import_resumes_a_grown_stream_on_postgres() {
    let (source, copy) = (Schema::new(), Schema::new());
    import_resumes_a_grown_stream(&source.store(), &copy.store());
}

/// A PostgreSQL role made for one test, dropped with it.
struct Role {
    name: String,
    server: String,
}

impl Role {
    fn new(runtime: &tokio::runtime::Runtime, server: &str, suffix: &str, grants_on: &str) -> Self {
        let name = format!("eventblocks_runtime_{}_cli_{suffix}", std::process::id());
        runtime.block_on(async {
            let client = pg_client_at(server, "cli-test").await;
            client
                .batch_execute(&format!(
                    "DROP ROLE IF EXISTS {name}; CREATE ROLE {name} LOGIN;
                     GRANT USAGE ON SCHEMA \"{grants_on}\" TO {name};
                     GRANT SELECT ON ALL TABLES IN SCHEMA \"{grants_on}\" TO {name};"
                ))
                .await
                .unwrap();
        });
        Self {
            name,
            server: server.to_owned(),
        }
    }

    fn url(&self) -> String {
        let url = &self.server;
        let rest = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
        let rest = rest.split_once('@').map_or(rest, |(_, host)| host);
        format!("postgres://{}@{rest}", self.name)
    }
}

#[test]
fn health_fails_for_a_role_that_cannot_see_the_blocking_session() {
    let server = PrivateServer::start().expect("a private server");
    let store = Store::postgres_at(&server.url(), "eventblocks");
    store.ok(&["migrate"], "");
    store.ok(&["append", "orders", "o-1"], ORDERS);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let holder_role = Role::new(&runtime, &server.url(), "holder", "eventblocks");
    let operator = Role::new(&runtime, &server.url(), "operator", "eventblocks");
    let holder = runtime.block_on(async {
        let mut config: tokio_postgres::Config = holder_role.url().parse().unwrap();
        config.application_name("cli-test-hidden-holder");
        let (client, connection) = config.connect(NoTls).await.unwrap();
        tokio::spawn(connection);
        client
            .batch_execute("BEGIN; SELECT pg_current_xact_id();")
            .await
            .unwrap();
        client
    });
    store.ok(&["append", "orders", "o-1"], ORDERS);
    std::thread::sleep(Duration::from_millis(1500));
    let as_operator = Store {
        args: vec![
            "--store".into(),
            operator.url(),
            "--schema".into(),
            "eventblocks".into(),
        ],
    };
    let output = as_operator.run(&["health", "--threshold", "1", "--json"], "");
    let report = lines(&String::from_utf8_lossy(&output.stdout));
    assert_eq!(report[0]["held_back"], true, "{report:?}");
    assert_fails(&output, 4, "held back");
    drop(holder);
}

#[test]
fn output_closed_early_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = Store::sqlite(&path);
    for args in [&["migrate"][..], &["export"][..], &["stats", "--table"][..]] {
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("eventblocks"))
            .args(&store.args)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn consumers_count_a_long_lag_only_up_to_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.db");
    let store = Store::sqlite(&path);
    store.ok(&["migrate"], "");
    let input = "{\"name\": \"tick\", \"payload\": 1}\n".repeat(10_050);
    store.ok(&["append", "clock", "c-1"], &input);
    {
        let connection = eventblocks_sqlite::rusqlite::Connection::open(&path).unwrap();
        connection
            .execute_batch(
                "INSERT INTO eventblocks_checkpoints (consumer, sequence_number) VALUES ('slow', 1), ('near', 10040);",
            )
            .unwrap();
    }
    let consumers = store.json_lines(&["consumers"]);
    assert_eq!(consumers[0]["consumer"], "near");
    assert_eq!(consumers[0]["lag_events"], 10);
    assert_eq!(consumers[0]["lag_events_capped"], false);
    assert_eq!(consumers[1]["consumer"], "slow");
    assert_eq!(consumers[1]["lag_events"], 10_000);
    assert_eq!(consumers[1]["lag_events_capped"], true);
    let table = store.ok(&["consumers", "--table"], "");
    assert!(table.contains(">10000"), "{table}");
}
