//! How a child process reports its appends to the test that started it: one
//! line before each publish and one after each acknowledged one, so the
//! parent can rebuild the history even when the child is killed.

use std::collections::HashMap;

use eventblocks_core::{NewEvent, StoredEvent, StreamIdentifier};
use eventblocks_testkit::history::{History, InvokedAppend};
use uuid::Uuid;

/// The line printed before publishing `events` to `stream` as append `key`.
pub fn invoked(key: &str, stream: &StreamIdentifier, events: &[NewEvent]) -> String {
    let ids: Vec<String> = events.iter().map(|event| event.id().to_string()).collect();
    format!(
        "EB invoke {key} {} {} {}",
        stream.category,
        stream.stream,
        ids.join(",")
    )
}

/// The line printed once append `key` was acknowledged with `stored`.
pub fn acknowledged(key: &str, stored: &[StoredEvent]) -> String {
    let positions: Vec<String> = stored.iter().map(|e| e.position.to_string()).collect();
    format!("EB ack {key} {}", positions.join(","))
}

/// Rebuilds a child's appends into `history` from its output lines.
#[derive(Default)]
pub struct Replay {
    pending: HashMap<String, (InvokedAppend, StreamIdentifier, Vec<Uuid>)>,
    /// Appends attempted so far.
    pub invoked: usize,
    /// Appends acknowledged so far.
    pub acknowledged: usize,
}

impl Replay {
    /// Records one line of the child's output (other lines are ignored).
    pub fn line(&mut self, history: &History, line: &str) {
        // The test harness may print its own text before a child's first line.
        let Some(start) = line.find("EB ") else {
            return;
        };
        let words: Vec<&str> = line[start..].split(' ').collect();
        match words.as_slice() {
            ["EB", "invoke", key, category, stream, ids] => {
                let stream = StreamIdentifier::new(*category, *stream).unwrap();
                let ids: Vec<Uuid> = ids.split(',').map(|id| id.parse().unwrap()).collect();
                let events: Vec<NewEvent> = ids
                    .iter()
                    .map(|&id| NewEvent::new("x", &0).unwrap().with_id(id))
                    .collect();
                let invoked = history.invoke(&stream, &events);
                self.invoked += 1;
                self.pending
                    .insert((*key).to_owned(), (invoked, stream, ids));
            }
            ["EB", "ack", key, positions] => {
                let (invoked, stream, ids) = self.pending.remove(*key).expect("invoked first");
                let stored: Vec<StoredEvent> = ids
                    .into_iter()
                    .zip(positions.split(','))
                    .map(|(id, position)| {
                        NewEvent::new("x", &0).unwrap().with_id(id).into_stored(
                            stream.clone(),
                            position.parse().unwrap(),
                            0,
                        )
                    })
                    .collect();
                invoked.succeeded(&stored);
                self.acknowledged += 1;
            }
            _ => {}
        }
    }
}
