//! Crash safety: a child process publishing from 16 tasks is killed with
//! SIGKILL at a random moment, ten times over one file. After each kill the
//! file passes SQLite's integrity check and the history checker finds every
//! acknowledged event stored exactly once, every unacknowledged save stored
//! whole or not at all, and every stream gapless.
//!
//! The child is this test binary run again with `EVENTBLOCKS_CRASH_FILE` set
//! (the `publishing_child` test, which does nothing otherwise).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use eventblocks_core::{EventStore, NewEvent, ScanQuery, StoredEvent, WriteCondition};
use eventblocks_sqlite::rusqlite::Connection;
use eventblocks_sqlite::SqliteAdapter;
use eventblocks_testkit::history::History;
use futures::TryStreamExt;
use rand::Rng;

use common::lines::{self, Replay};

const FILE: &str = "EVENTBLOCKS_CRASH_FILE";
const TASKS: usize = 16;

/// The child: publishes until killed, printing each append before and
/// after (see [`lines`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn publishing_child() {
    let Ok(path) = std::env::var(FILE) else {
        return;
    };
    let adapter = SqliteAdapter::open(&path).await.unwrap();
    adapter.migrate().await.unwrap();
    let store = EventStore::new(adapter);
    let run = std::process::id();
    println!("EB ready");
    let tasks: Vec<_> = (0..TASKS)
        .map(|task| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0_usize.. {
                    let stream = store
                        .stream("crash", &format!("s{}", (task + round) % 24))
                        .unwrap();
                    let size = 1 + round % 3;
                    let events: Vec<NewEvent> = (0..size)
                        .map(|n| NewEvent::new("written", &(task, round, n)).unwrap())
                        .collect();
                    let key = format!("{run}-{task}-{round}");
                    println!("{}", lines::invoked(&key, stream.identifier(), &events));
                    let stored = stream
                        .publish(events, WriteCondition::NoCondition)
                        .await
                        .unwrap();
                    println!("{}", lines::acknowledged(&key, &stored));
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}

/// Starts the child on `path`, waits until it publishes, kills it at a
/// random moment, and replays its output into `history`.
fn run_and_kill(path: &std::path::Path, history: &History) -> usize {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "publishing_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FILE, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut output = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("EB ready") {
        line.clear();
        assert_ne!(output.read_line(&mut line).unwrap(), 0, "the child ended");
    }
    // Read while the child runs: a full pipe would stall its publishers.
    let history = history.clone();
    let reader = std::thread::spawn(move || {
        let mut replay = Replay::default();
        for line in output.lines() {
            replay.line(&history, &line.unwrap());
        }
        replay.acknowledged
    });
    let moment = rand::rng().random_range(100..800);
    std::thread::sleep(Duration::from_millis(moment));
    // SIGKILL: no destructor, no flush, no checkpoint runs.
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_publishers_lose_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let history = History::new();
    for kill in 0..10 {
        let acknowledged = {
            let path = path.clone();
            let history = history.clone();
            tokio::task::spawn_blocking(move || run_and_kill(&path, &history))
                .await
                .unwrap()
        };
        assert!(
            acknowledged > 0,
            "kill {kill}: the child acknowledged nothing"
        );
        let integrity: String = Connection::open(&path)
            .unwrap()
            .query_row("PRAGMA integrity_check", [], |row| row.get(0))
            .unwrap();
        assert_eq!(integrity, "ok", "kill {kill}");
        let adapter = SqliteAdapter::open(&path).await.unwrap();
        adapter.migrate().await.unwrap();
        let log: Vec<StoredEvent> = EventStore::new(adapter)
            .log()
            .scan(ScanQuery::new())
            .try_collect()
            .await
            .unwrap();
        if let Err(violations) = history.check(&log) {
            panic!(
                "kill {kill}: {} violations: {violations:?}",
                violations.len()
            );
        }
        eprintln!(
            "kill {kill}: {acknowledged} acknowledged, {} events stored",
            log.len()
        );
    }
}
