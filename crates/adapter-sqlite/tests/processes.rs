//! Two processes on one file: both run conditional read-then-append writers
//! on the same streams, and a reader tailing the log in this process sees
//! every event of both, in order. The other process is this test binary run
//! again with `EVENTBLOCKS_SHARED_FILE` set (the `writing_child` test, which
//! does nothing otherwise).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use eventblocks_core::{
    EventStore, NewEvent, ScanQuery, StoredEvent, SubscriptionMessage, SubscriptionOptions,
    WriteCondition,
};
use eventblocks_sqlite::SqliteAdapter;
use eventblocks_testkit::history::History;
use futures::TryStreamExt;
use tokio::sync::mpsc;

use common::lines::{self, Replay};

const FILE: &str = "EVENTBLOCKS_SHARED_FILE";
const WRITERS: usize = 4;
const APPENDS: usize = 60;
const STREAMS: usize = 3;

/// Appends `APPENDS` events, each after reading its stream's last position
/// and on the condition that it is still the last, retrying when another
/// writer got there first; reports every attempt as [`lines`].
async fn write(
    store: EventStore,
    side: &'static str,
    writer: usize,
    out: mpsc::UnboundedSender<String>,
) {
    let run = std::process::id();
    let mut attempt = 0;
    for append in 0..APPENDS {
        let stream = store
            .stream("shared", &format!("s{}", (writer + append) % STREAMS))
            .unwrap();
        loop {
            attempt += 1;
            let last = stream.latest().await.unwrap().map(|event| event.position);
            let events = vec![NewEvent::new("appended", &(side, writer, append)).unwrap()];
            let key = format!("{side}{run}-{writer}-{attempt}");
            out.send(lines::invoked(&key, stream.identifier(), &events))
                .unwrap();
            match stream
                .publish(events, WriteCondition::PositionIs(last))
                .await
            {
                Ok(stored) => {
                    out.send(lines::acknowledged(&key, &stored)).unwrap();
                    break;
                }
                Err(error) if error.is_unmet_condition() => continue,
                Err(error) => panic!("{error}"),
            }
        }
    }
}

async fn writers(store: &EventStore, side: &'static str) -> mpsc::UnboundedReceiver<String> {
    let (out, lines) = mpsc::unbounded_channel();
    for writer in 0..WRITERS {
        tokio::spawn(write(store.clone(), side, writer, out.clone()));
    }
    lines
}

/// The other process: writes, printing its appends, then ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_child() {
    let Ok(path) = std::env::var(FILE) else {
        return;
    };
    let adapter = SqliteAdapter::open(&path).await.unwrap();
    adapter.migrate().await.unwrap();
    println!("EB start");
    let mut lines = writers(&EventStore::new(adapter), "child").await;
    while let Some(line) = lines.recv().await {
        println!("{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_write_one_gapless_log_and_tail_it() {
    let file = common::adapter().await;
    let store = EventStore::new(file.clone());
    let history = History::new();
    // A tailing reader, polling rarely: the other process's commits must wake
    // it through the data version.
    history.start_reader("tail", None, None);
    let options = SubscriptionOptions::new().poll_interval(Duration::from_secs(3600));
    let mut tail = store.log().subscribe(options).unwrap();
    let total = 2 * WRITERS * APPENDS;
    let tailing = {
        let history = history.clone();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < total {
                match tail.try_next().await.unwrap() {
                    Some(SubscriptionMessage::Event(event)) => {
                        history.saw("tail", &event);
                        seen.push(event.sequence_number);
                    }
                    Some(_) => {}
                    None => panic!("the subscription ended"),
                }
            }
            seen
        })
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "writing_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FILE, file.adapter.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let output = BufReader::new(child.stdout.take().unwrap());
    let child_history = history.clone();
    let (started, start) = tokio::sync::oneshot::channel();
    let child_lines = tokio::task::spawn_blocking(move || {
        let mut replay = Replay::default();
        let mut started = Some(started);
        for line in output.lines() {
            let line = line.unwrap();
            if line.contains("EB start") {
                let _ = started.take().map(|started| started.send(()));
            }
            replay.line(&child_history, &line);
        }
        (replay.invoked, replay.acknowledged)
    });
    // Both processes write at once: start when the other is ready.
    start.await.expect("the other process started");
    let mut own = writers(&store, "parent").await;
    let mut replay = Replay::default();
    while let Some(line) = own.recv().await {
        replay.line(&history, &line);
    }
    assert!(child.wait().unwrap().success(), "the other process failed");
    let (child_invoked, child_acknowledged) = child_lines.await.unwrap();
    assert!(child_acknowledged > 0, "the other process wrote");
    let acknowledged = replay.acknowledged + child_acknowledged;
    assert_eq!(acknowledged, total, "every append was acknowledged once");
    let attempts = replay.invoked + child_invoked;
    assert!(attempts > total, "the writers raced: {attempts} attempts");
    let seen = tokio::time::timeout(Duration::from_secs(30), tailing)
        .await
        .expect("the tailing reader saw every event")
        .unwrap();
    let log: Vec<StoredEvent> = store
        .log()
        .scan(ScanQuery::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(log.len(), total);
    let numbers: Vec<u64> = log.iter().map(|event| event.sequence_number).collect();
    assert_eq!(seen, numbers, "the reader saw the log, in order");
    if let Err(violations) = history.check(&log) {
        panic!("{} violations: {violations:?}", violations.len());
    }
}
