//! A load scenario any adapter can run: concurrent read-then-append writers with
//! retries, and tailing readers that join late and restart from checkpoints,
//! all recorded in a [`History`] and checked at the end.

use std::time::{Duration, Instant};

use eventblocks_core::{
    CategoryHandle, Error, EventStore, NewEvent, ScanQuery, StoredEvent, StreamHandle,
    SubscriptionMessage, SubscriptionOptions, WriteCondition,
};
use futures::TryStreamExt;
use rand::Rng;

use crate::history::{History, Violation};

/// How hard to push.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadConfig {
    /// The category every stream of the run is in.
    pub category: String,
    /// Concurrent writer tasks.
    pub writers: usize,
    /// Read-then-append operations per writer.
    pub operations_per_writer: usize,
    /// Streams the writers share (fewer streams, more conflicts).
    pub streams: usize,
    /// Each append carries 1 to this many events.
    pub max_batch: usize,
    /// Tailing readers: this many from the start, as many again joining mid-run.
    pub readers_per_wave: usize,
    /// Attempts per operation before giving up on a conflict.
    pub max_attempts: u32,
    /// Where every other reader reads (a store over a read replica, say);
    /// `None`: every reader reads where the writers write.
    pub other_readers: Option<EventStore>,
}

impl LoadConfig {
    /// 16 writers × 500 operations of 1–5 events over 32 streams, 2 + 2 readers.
    pub fn standard(category: &str) -> Self {
        Self {
            category: category.to_owned(),
            writers: 16,
            operations_per_writer: 500,
            streams: 32,
            max_batch: 5,
            readers_per_wave: 2,
            max_attempts: 100,
            other_readers: None,
        }
    }

    /// Sets the number of writers and operations per writer.
    #[must_use]
    pub fn with_writers(mut self, writers: usize, operations_per_writer: usize) -> Self {
        self.writers = writers;
        self.operations_per_writer = operations_per_writer;
        self
    }

    /// Sets the number of streams and the largest batch.
    #[must_use]
    pub fn with_streams(mut self, streams: usize, max_batch: usize) -> Self {
        self.streams = streams;
        self.max_batch = max_batch;
        self
    }

    /// Sets the number of readers per wave (0 for none).
    #[must_use]
    pub fn with_readers(mut self, readers_per_wave: usize) -> Self {
        self.readers_per_wave = readers_per_wave;
        self
    }

    /// Lets every other reader (the second of each wave, the fourth, …) read
    /// from `store`, a store over the same events (through a read replica,
    /// say), while writers and the other readers use the store the run is
    /// given.
    #[must_use]
    pub fn with_other_readers(mut self, store: EventStore) -> Self {
        self.other_readers = Some(store);
        self
    }

    /// The store reader `index` of a wave reads from.
    fn reader_store<'a>(&'a self, index: usize, store: &'a EventStore) -> &'a EventStore {
        match &self.other_readers {
            Some(other) if index % 2 == 1 => other,
            _ => store,
        }
    }
}

/// What a load run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Appends acknowledged.
    pub acknowledged: usize,
    /// Events in the category at the end.
    pub events: usize,
    /// Conditional appends that lost a race and were retried.
    pub conflicts: usize,
    /// Appends whose outcome was unknown and were retried with the same ids.
    pub unknown_outcomes: usize,
    /// Events delivered to readers, all readers together.
    pub deliveries: usize,
    /// How long the run took.
    pub elapsed: Duration,
}

/// Runs the scenario against `store` and checks the history.
///
/// # Errors
/// The violations found, or a description of what stopped the run.
pub async fn run_load(
    store: &EventStore,
    config: &LoadConfig,
) -> Result<LoadReport, Vec<Violation>> {
    let started = Instant::now();
    let history = History::new();
    let fail = |message: String| vec![Violation(message)];
    let mut readers = Vec::new();
    for index in 0..config.readers_per_wave {
        readers.push(spawn_reader(
            config.reader_store(index, store),
            config,
            &history,
            format!("early-{index}"),
            index == 0,
        ));
    }
    let writers: Vec<_> = (0..config.writers)
        .map(|writer| {
            tokio::spawn(write(
                store.clone(),
                config.clone(),
                history.clone(),
                writer,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    for index in 0..config.readers_per_wave {
        readers.push(spawn_reader(
            config.reader_store(index, store),
            config,
            &history,
            format!("late-{index}"),
            false,
        ));
    }
    let (mut conflicts, mut unknown_outcomes) = (0, 0);
    for writer in writers {
        let counts = writer
            .await
            .map_err(|error| fail(format!("a writer panicked: {error}")))?;
        let (writer_conflicts, writer_unknown) =
            counts.map_err(|error| fail(format!("a writer failed: {error}")))?;
        conflicts += writer_conflicts;
        unknown_outcomes += writer_unknown;
    }
    let category = store
        .category(&config.category)
        .map_err(|error| fail(error.to_string()))?;
    let head = retrying(|| category.latest())
        .await
        .map_err(|error| fail(error.to_string()))?
        .map(|event| event.sequence_number);
    let mut deliveries = 0;
    for reader in readers {
        reader.1.send_replace(Some(head));
        deliveries += reader
            .0
            .await
            .map_err(|error| fail(format!("a reader panicked: {error}")))?
            .map_err(|error| fail(format!("a reader failed: {error}")))?;
    }
    let log = retrying(|| complete_log(&category, config.streams))
        .await
        .map_err(|error| fail(error.to_string()))?;
    history.check(&log)?;
    Ok(LoadReport {
        acknowledged: history.counts().0,
        events: log.len(),
        conflicts,
        unknown_outcomes,
        deliveries,
        elapsed: started.elapsed(),
    })
}

/// Runs a read again while it fails with a retryable error (faults may still
/// be injected while the run's results are read), for up to ten seconds.
async fn retrying<T, F, Fut>(mut read: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, Error>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match read().await {
            Err(error) if error.is_retryable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            result => return result,
        }
    }
}

/// Every event of the run, in log order, read stream by stream: stream reads
/// see every committed event at once, while a category scan may trail the
/// newest commits while a transaction elsewhere in the database is open.
async fn complete_log(
    category: &CategoryHandle,
    streams: usize,
) -> Result<Vec<StoredEvent>, Error> {
    let mut log = Vec::new();
    for index in 0..streams {
        let stream = category.stream(&format!("stream-{index}"))?;
        let events: Vec<StoredEvent> = stream.scan(ScanQuery::new()).try_collect().await?;
        log.extend(events);
    }
    log.sort_by_key(|event| event.sequence_number);
    Ok(log)
}

/// A reader's task, and where to tell it the sequence number to stop at (the
/// inner `None`: the category is empty).
type ReaderTask = (
    tokio::task::JoinHandle<Result<usize, Error>>,
    tokio::sync::watch::Sender<Option<Option<u64>>>,
);

/// A tailing reader of the category; `restarts` makes it drop its subscription
/// and resume from its checkpoint twice along the way.
fn spawn_reader(
    store: &EventStore,
    config: &LoadConfig,
    history: &History,
    name: String,
    restarts: bool,
) -> ReaderTask {
    let (stop_at, mut stop) = tokio::sync::watch::channel(None::<Option<u64>>);
    let (store, history, category) = (store.clone(), history.clone(), config.category.clone());
    let task = tokio::spawn(async move {
        let category = store.category(&category)?;
        let mut checkpoint = None;
        history.start_reader(
            &name,
            checkpoint,
            Some(category.identifier().category.as_str()),
        );
        let mut delivered = 0;
        let mut restarts_left = if restarts { 2 } else { 0 };
        'subscribe: loop {
            let options = SubscriptionOptions::new()
                .after_checkpoint(checkpoint)
                .poll_interval(Duration::from_millis(200));
            let mut subscription = category.subscribe(options)?;
            loop {
                if let Some(end) = *stop.borrow() {
                    if checkpoint >= end {
                        return Ok(delivered);
                    }
                }
                let message = tokio::select! {
                    message = subscription.try_next() => match message {
                        Ok(message) => message,
                        // A real consumer resumes from its checkpoint after a
                        // transient failure; so does this one.
                        Err(error) if error.is_retryable() => {
                            tracing::debug!(%error, reader = %name, "resubscribing");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue 'subscribe;
                        }
                        Err(error) => return Err(error),
                    },
                    changed = stop.changed() => {
                        if changed.is_err() {
                            return Ok(delivered);
                        }
                        continue;
                    }
                };
                match message {
                    Some(SubscriptionMessage::Event(event)) => {
                        history.saw(&name, &event);
                        checkpoint = Some(event.sequence_number);
                        delivered += 1;
                        if restarts_left > 0 && delivered % 200 == 0 {
                            restarts_left -= 1;
                            continue 'subscribe;
                        }
                    }
                    Some(_) => {}
                    None => return Ok(delivered),
                }
            }
        }
    });
    (task, stop_at)
}

/// One writer: read a random stream's last position, append after it, retry on
/// conflict; returns (conflicts, unknown outcomes).
async fn write(
    store: EventStore,
    config: LoadConfig,
    history: History,
    writer: usize,
) -> Result<(usize, usize), Error> {
    let category = store.category(&config.category)?;
    let mut acknowledged: Vec<Option<u64>> = vec![None; config.streams];
    let (mut conflicts, mut unknown) = (0, 0);
    for operation in 0..config.operations_per_writer {
        let index = rand::rng().random_range(0..config.streams);
        let stream = category.stream(&format!("stream-{index}"))?;
        let size = rand::rng().random_range(1..=config.max_batch);
        let events: Vec<NewEvent> = (0..size)
            .map(|n| {
                NewEvent::new(
                    "load-event",
                    &serde_json::json!({"writer": writer, "operation": operation, "n": n}),
                )
            })
            .collect::<Result<_, _>>()?;
        let (stored, lost, uncertain) = append(
            &stream,
            &events,
            &history,
            acknowledged[index],
            config.max_attempts,
        )
        .await?;
        acknowledged[index] = stored.last().map(|event| event.position);
        conflicts += lost;
        unknown += uncertain;
    }
    Ok((conflicts, unknown))
}

/// Reads the stream, appends conditionally, retries: a conflict re-reads, an
/// unknown outcome retries the same events.
async fn append(
    stream: &StreamHandle,
    events: &[NewEvent],
    history: &History,
    acknowledged: Option<u64>,
    max_attempts: u32,
) -> Result<(Vec<StoredEvent>, usize, usize), Error> {
    let (mut conflicts, mut unknown) = (0, 0);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = match stream.latest().await {
            Ok(latest) => latest.map(|event| event.position),
            Err(error) if attempt < max_attempts && error.is_retryable() => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
            Err(error) => return Err(error),
        };
        history.read_own_writes(stream.identifier(), acknowledged, last);
        let invoked = history.invoke(stream.identifier(), events);
        match stream
            .publish(events.to_vec(), WriteCondition::PositionIs(last))
            .await
        {
            Ok(stored) => {
                invoked.succeeded(&stored);
                return Ok((stored, conflicts, unknown));
            }
            Err(error)
                if attempt < max_attempts
                    && (error.is_unmet_condition() || error.is_retryable()) =>
            {
                invoked.failed(&error);
                if error.is_unmet_condition() {
                    conflicts += 1;
                } else {
                    unknown += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
            Err(error) => {
                invoked.failed(&error);
                return Err(error);
            }
        }
    }
}
