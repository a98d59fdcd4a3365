//! A history checker: record what every writer and reader did while a store was
//! under load or faults, then check the store's promises against the final log.
//!
//! ```
//! use eventblocks_testkit::history::History;
//! # use eventblocks_core::{NewEvent, StreamIdentifier};
//! # fn example(stored: Vec<eventblocks_core::StoredEvent>, final_log: Vec<eventblocks_core::StoredEvent>) {
//! let history = History::new();
//! let stream = StreamIdentifier::new("accounts", "acc-1").unwrap();
//! let events = vec![NewEvent::new("opened", &1).unwrap()];
//! let append = history.invoke(&stream, &events);
//! // ... publish `events`, then record the outcome:
//! append.succeeded(&stored);
//! // ... readers call `history.saw(reader, &event)` for every event delivered.
//! history.check(&final_log).expect("no violations");
//! # }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use eventblocks_core::{Error, NewEvent, StoredEvent, StreamIdentifier, WriteOutcome};
use parking_lot::Mutex;
use uuid::Uuid;

/// What became of an append.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Still running (or the recorder was dropped).
    Invoked,
    /// Acknowledged, with the events as stored.
    Succeeded(Vec<(Uuid, u64)>),
    /// Definitely not written (an unmet condition, invalid input, a failure
    /// before commit).
    Failed,
    /// May or may not have been written (the connection died around commit).
    Unknown,
}

#[derive(Debug, Clone)]
struct Append {
    stream: StreamIdentifier,
    ids: Vec<Uuid>,
    outcome: Outcome,
}

#[derive(Debug, Default)]
struct Record {
    appends: Vec<Append>,
    /// Per reader: the sequence numbers and ids it was delivered, in order, and
    /// the checkpoint it started after.
    readers: BTreeMap<String, Reader>,
    stream_reads: Vec<StreamRead>,
}

#[derive(Debug, Default)]
struct Reader {
    started_after: Option<u64>,
    category: Option<String>,
    seen: Vec<(u64, Uuid)>,
}

#[derive(Debug)]
struct StreamRead {
    stream: StreamIdentifier,
    acknowledged: Option<u64>,
    seen: Option<u64>,
}

/// The recorded history of a run. Cheap to clone; clones share the record.
#[derive(Debug, Clone, Default)]
pub struct History {
    record: Arc<Mutex<Record>>,
}

/// An append in flight; record its outcome with one of the methods.
#[derive(Debug)]
pub struct InvokedAppend {
    record: Arc<Mutex<Record>>,
    index: usize,
}

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation(pub String);

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl History {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that an append of `events` to `stream` was invoked.
    pub fn invoke(&self, stream: &StreamIdentifier, events: &[NewEvent]) -> InvokedAppend {
        let mut record = self.record.lock();
        record.appends.push(Append {
            stream: stream.clone(),
            ids: events.iter().map(NewEvent::id).collect(),
            outcome: Outcome::Invoked,
        });
        InvokedAppend {
            record: self.record.clone(),
            index: record.appends.len() - 1,
        }
    }

    /// Registers a tailing reader that starts after `checkpoint`, over the log
    /// (`category` `None`) or one category.
    pub fn start_reader(&self, reader: &str, checkpoint: Option<u64>, category: Option<&str>) {
        let mut record = self.record.lock();
        let entry = record.readers.entry(reader.to_owned()).or_default();
        if entry.seen.is_empty() {
            entry.started_after = checkpoint;
        }
        entry.category = category.map(str::to_owned);
    }

    /// Records that `reader` was delivered `event`.
    pub fn saw(&self, reader: &str, event: &StoredEvent) {
        let mut record = self.record.lock();
        let entry = record.readers.entry(reader.to_owned()).or_default();
        entry.seen.push((event.sequence_number, event.id));
    }

    /// Records a stream read made after this writer's last acknowledged append
    /// to the stream (at `acknowledged`), which saw up to position `seen`.
    pub fn read_own_writes(
        &self,
        stream: &StreamIdentifier,
        acknowledged: Option<u64>,
        seen: Option<u64>,
    ) {
        self.record.lock().stream_reads.push(StreamRead {
            stream: stream.clone(),
            acknowledged,
            seen,
        });
    }

    /// The number of appends recorded with each outcome: (succeeded, failed,
    /// unknown, still invoked).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let record = self.record.lock();
        let count = |wanted: fn(&Outcome) -> bool| {
            record
                .appends
                .iter()
                .filter(|append| wanted(&append.outcome))
                .count()
        };
        (
            count(|o| matches!(o, Outcome::Succeeded(_))),
            count(|o| matches!(o, Outcome::Failed)),
            count(|o| matches!(o, Outcome::Unknown)),
            count(|o| matches!(o, Outcome::Invoked)),
        )
    }

    /// Checks every promise against `final_log`, the whole log read after the run
    /// in sequence order.
    ///
    /// # Errors
    /// Every violation found.
    pub fn check(&self, final_log: &[StoredEvent]) -> Result<(), Vec<Violation>> {
        let record = self.record.lock();
        let mut violations = Vec::new();
        let by_id = index_log(final_log, &mut violations);
        check_log_order(final_log, &mut violations);
        check_appends(&record.appends, &by_id, &mut violations);
        for (name, reader) in &record.readers {
            check_reader(name, reader, final_log, &mut violations);
        }
        for read in &record.stream_reads {
            if read.seen < read.acknowledged {
                violations.push(Violation(format!(
                    "a read of {} saw up to {:?} after an append to it was acknowledged at {:?}",
                    read.stream, read.seen, read.acknowledged
                )));
            }
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }
}

impl InvokedAppend {
    /// The append was acknowledged with these stored events.
    pub fn succeeded(self, stored: &[StoredEvent]) {
        let positions = stored
            .iter()
            .map(|event| (event.id, event.position))
            .collect();
        self.set(Outcome::Succeeded(positions));
    }

    /// The append failed with `error`: definitely or with an unknown outcome,
    /// as the error says.
    pub fn failed(self, error: &Error) {
        let outcome = match error.write_outcome() {
            WriteOutcome::Unknown => Outcome::Unknown,
            _ => Outcome::Failed,
        };
        self.set(outcome);
    }

    fn set(self, outcome: Outcome) {
        self.record.lock().appends[self.index].outcome = outcome;
    }
}

fn index_log<'a>(
    log: &'a [StoredEvent],
    violations: &mut Vec<Violation>,
) -> HashMap<Uuid, &'a StoredEvent> {
    let mut by_id = HashMap::new();
    for event in log {
        if by_id.insert(event.id, event).is_some() {
            violations.push(Violation(format!(
                "event {} is stored more than once",
                event.id
            )));
        }
    }
    by_id
}

/// Sequence numbers increase; each stream's positions are 0.. without gaps, in
/// sequence order.
fn check_log_order(log: &[StoredEvent], violations: &mut Vec<Violation>) {
    let mut next_position: HashMap<&StreamIdentifier, u64> = HashMap::new();
    for (index, event) in log.iter().enumerate() {
        if index > 0 && log[index - 1].sequence_number >= event.sequence_number {
            violations.push(Violation(format!(
                "sequence numbers go backwards at {}",
                event.sequence_number
            )));
        }
        let expected = next_position.entry(&event.stream).or_insert(0);
        if event.position != *expected {
            violations.push(Violation(format!(
                "{} has position {} where {} was due (gap, duplicate, or log order disagreeing with stream order)",
                event.stream, event.position, expected
            )));
        }
        *expected = event.position + 1;
    }
}

fn check_appends(
    appends: &[Append],
    by_id: &HashMap<Uuid, &StoredEvent>,
    violations: &mut Vec<Violation>,
) {
    // Ids acknowledged by some attempt (a retry with the same ids included).
    let acknowledged: HashSet<Uuid> = appends
        .iter()
        .filter(|append| matches!(append.outcome, Outcome::Succeeded(_)))
        .flat_map(|append| append.ids.iter().copied())
        .collect();
    for append in appends {
        match &append.outcome {
            Outcome::Succeeded(positions) => {
                check_acknowledged(append, positions, by_id, violations)
            }
            Outcome::Failed if !append.ids.iter().any(|id| acknowledged.contains(id)) => {
                if let Some(id) = append.ids.iter().find(|id| by_id.contains_key(id)) {
                    violations.push(Violation(format!(
                        "event {id} of a definitely failed append is stored"
                    )));
                }
            }
            Outcome::Unknown | Outcome::Invoked | Outcome::Failed => {
                check_all_or_nothing(append, by_id, violations)
            }
        }
    }
}

fn check_acknowledged(
    append: &Append,
    positions: &[(Uuid, u64)],
    by_id: &HashMap<Uuid, &StoredEvent>,
    violations: &mut Vec<Violation>,
) {
    for (id, position) in positions {
        match by_id.get(id) {
            None => violations.push(Violation(format!(
                "acknowledged event {id} is missing from the log"
            ))),
            Some(stored) if stored.position != *position || stored.stream != append.stream => {
                violations.push(Violation(format!(
                    "acknowledged event {id} was reported at {}#{position} but is stored at {}#{}",
                    append.stream, stored.stream, stored.position
                )));
            }
            Some(_) => {}
        }
    }
    let reported: Vec<u64> = positions.iter().map(|(_, position)| *position).collect();
    if reported.windows(2).any(|pair| pair[1] != pair[0] + 1) {
        violations.push(Violation(format!(
            "a batch to {} was stored apart: {reported:?}",
            append.stream
        )));
    }
}

/// An append of unknown outcome is stored whole and contiguous, or not at all.
fn check_all_or_nothing(
    append: &Append,
    by_id: &HashMap<Uuid, &StoredEvent>,
    violations: &mut Vec<Violation>,
) {
    let stored: Vec<&StoredEvent> = append
        .ids
        .iter()
        .filter_map(|id| by_id.get(id).copied())
        .collect();
    if stored.is_empty() {
        return;
    }
    if stored.len() != append.ids.len() {
        violations.push(Violation(format!(
            "only {} of the {} events of an append to {} are stored",
            stored.len(),
            append.ids.len(),
            append.stream
        )));
    } else if stored
        .windows(2)
        .any(|pair| pair[1].position != pair[0].position + 1)
    {
        violations.push(Violation(format!(
            "a batch to {} was stored apart",
            append.stream
        )));
    }
}

/// A reader saw exactly the log's events after its start, up to the last one it
/// saw, each once, in order.
fn check_reader(name: &str, reader: &Reader, log: &[StoredEvent], violations: &mut Vec<Violation>) {
    let Some(&(last, _)) = reader.seen.last() else {
        return;
    };
    let expected: Vec<(u64, Uuid)> = log
        .iter()
        .filter(|event| {
            reader
                .started_after
                .is_none_or(|start| event.sequence_number > start)
        })
        .filter(|event| event.sequence_number <= last)
        .filter(|event| {
            reader
                .category
                .as_ref()
                .is_none_or(|category| event.stream.category.as_str() == category)
        })
        .map(|event| (event.sequence_number, event.id))
        .collect();
    if reader.seen == expected {
        return;
    }
    let seen: HashSet<&(u64, Uuid)> = reader.seen.iter().collect();
    let missed = expected
        .iter()
        .filter(|event| !seen.contains(event))
        .count();
    let out_of_order = reader
        .seen
        .windows(2)
        .filter(|pair| pair[1].0 <= pair[0].0)
        .count();
    violations.push(Violation(format!(
        "reader {name} saw {} events where {} were due: {missed} missed, {out_of_order} out of order or repeated",
        reader.seen.len(),
        expected.len()
    )));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> StreamIdentifier {
        StreamIdentifier::new("a", "s").unwrap()
    }

    fn events(count: usize) -> Vec<NewEvent> {
        (0..count)
            .map(|_| NewEvent::new("x", &1).unwrap())
            .collect()
    }

    fn store(log: &mut Vec<StoredEvent>, events: &[NewEvent]) -> Vec<StoredEvent> {
        let mut stored = Vec::new();
        for event in events {
            let position = log.iter().filter(|e| e.stream == stream()).count() as u64;
            let sequence = log.len() as u64 + 1;
            let event = event.clone().into_stored(stream(), position, sequence);
            log.push(event.clone());
            stored.push(event);
        }
        stored
    }

    #[test]
    fn a_clean_history_passes() {
        let history = History::new();
        let mut log = Vec::new();
        let batch = events(2);
        let stored = store(&mut log, &batch);
        history.invoke(&stream(), &batch).succeeded(&stored);
        history.start_reader("r", None, None);
        for event in &log {
            history.saw("r", event);
        }
        let failed = events(1);
        history
            .invoke(&stream(), &failed)
            .failed(&Error::invalid("x", "y"));
        assert_eq!(history.check(&log), Ok(()));
        assert_eq!(history.counts(), (1, 1, 0, 0));
    }

    #[test]
    fn lost_and_phantom_events_are_violations() {
        let history = History::new();
        let mut log = Vec::new();
        let batch = events(1);
        let stored = store(&mut log, &batch);
        history.invoke(&stream(), &batch).succeeded(&stored);
        let phantom = events(1);
        store(&mut log, &phantom);
        history
            .invoke(&stream(), &phantom)
            .failed(&Error::invalid("x", "y"));
        let violations = history.check(&log[..0]).unwrap_err();
        assert!(violations[0].0.contains("missing"), "{violations:?}");
        let violations = history.check(&log).unwrap_err();
        assert!(
            violations[0].0.contains("definitely failed"),
            "{violations:?}"
        );
    }

    #[test]
    fn a_reader_that_skips_is_a_violation() {
        let history = History::new();
        let mut log = Vec::new();
        store(&mut log, &events(3));
        history.start_reader("r", None, None);
        history.saw("r", &log[0]);
        history.saw("r", &log[2]);
        let violations = history.check(&log).unwrap_err();
        assert!(violations[0].0.contains("1 missed"), "{violations:?}");
    }

    #[test]
    fn partial_unknown_appends_and_stale_reads_are_violations() {
        let history = History::new();
        let mut log = Vec::new();
        let batch = events(2);
        store(&mut log, &batch[..1]);
        let unknown = Error::Unavailable {
            outcome: WriteOutcome::Unknown,
            message: "cut".into(),
            source: None,
        };
        history.invoke(&stream(), &batch).failed(&unknown);
        history.read_own_writes(&stream(), Some(3), Some(2));
        let violations = history.check(&log).unwrap_err();
        assert_eq!(violations.len(), 2, "{violations:?}");
    }
}
