//! The scenarios: each runs the same work on every subject, alternating between
//! them run by run so that drift on a noisy machine affects all alike.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use eventblocks_core::{NewEvent, SubscriptionMessage, SubscriptionOptions, WriteCondition};
use futures::TryStreamExt;
use tokio::sync::Mutex;

use crate::report::{Latency, Row, Stats};
use crate::subject::{payload, BenchResult, StoreSubject, Subject, CATEGORY};

/// How much work each scenario does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub(crate) runs: usize,
    /// Calls per writer in the one-event append scenarios, at 1 writer.
    pub(crate) single_appends: usize,
    /// Calls of the batch scenarios.
    pub(crate) batch_calls: usize,
    pub(crate) stream_reads: usize,
    pub(crate) log_events: usize,
    pub(crate) latest_calls: usize,
    pub(crate) live_events_per_writer: usize,
    /// Events from each writer of the mixed scenario.
    pub(crate) mixed_per_writer: usize,
}

/// Runs scenarios over one adapter subject and its baselines.
pub(crate) struct Bench {
    pub(crate) subjects: Vec<Arc<dyn Subject>>,
    pub(crate) sizes: Sizes,
}

/// Numbers the streams of a process: every stream a scenario writes is new,
/// whichever `Bench` it comes from, so baselines that track positions
/// themselves never meet a stream another subject wrote.
static STREAMS: AtomicU64 = AtomicU64::new(0);

impl Bench {
    pub(crate) fn new(subjects: Vec<Arc<dyn Subject>>, sizes: Sizes) -> Self {
        Self { subjects, sizes }
    }

    fn fresh_stream(&self) -> String {
        format!("stream-{}", STREAMS.fetch_add(1, Ordering::Relaxed))
    }

    /// Times `work` on every subject `runs` times; `work` returns the events it
    /// handled.
    async fn measure<F, Fut>(
        &self,
        subjects: &[Arc<dyn Subject>],
        mut work: F,
    ) -> BenchResult<Vec<Stats>>
    where
        F: FnMut(Arc<dyn Subject>) -> Fut,
        Fut: std::future::Future<Output = BenchResult<usize>>,
    {
        self.measure_calls(subjects, |subject| {
            let work = work(subject);
            async move { Ok((work.await?, Vec::new())) }
        })
        .await
    }

    /// As [`Bench::measure`], `work` also returning the latencies of its
    /// calls in nanoseconds, one list per task: they are merged after the
    /// timed part, over every run, into each subject's percentiles.
    async fn measure_calls<F, Fut>(
        &self,
        subjects: &[Arc<dyn Subject>],
        mut work: F,
    ) -> BenchResult<Vec<Stats>>
    where
        F: FnMut(Arc<dyn Subject>) -> Fut,
        Fut: std::future::Future<Output = BenchResult<(usize, Vec<Vec<u64>>)>>,
    {
        let mut rates = vec![Vec::new(); subjects.len()];
        let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); subjects.len()];
        for run in 0..self.sizes.runs {
            // Every other run goes through the subjects in reverse, so that no
            // subject always follows the same one (which may leave it work,
            // such as a checkpoint due, or a cold cache).
            let mut order: Vec<usize> = (0..subjects.len()).collect();
            if run % 2 == 1 {
                order.reverse();
            }
            for index in order {
                let started = Instant::now();
                let (events, calls) = work(subjects[index].clone()).await?;
                rates[index].push(events as f64 / started.elapsed().as_secs_f64());
                latencies[index].extend(calls.into_iter().flatten());
            }
        }
        Ok(subjects
            .iter()
            .zip(rates)
            .zip(latencies)
            .map(|((subject, runs), calls)| {
                Stats::new(subject.label(), runs).with_latency(Latency::of_nanos(calls))
            })
            .collect())
    }

    fn row(name: &str, mut stats: Vec<Stats>) -> Row {
        let adapter = stats.remove(0);
        Row::new(name, "events/s", adapter, stats)
    }

    /// `writers` concurrent writers, each on its own stream, each appending
    /// `batch` events per call; the latency of every call.
    pub(crate) async fn appends(
        &self,
        writers: usize,
        batch: usize,
        calls: usize,
        conditional: bool,
    ) -> BenchResult<Row> {
        let stats = self
            .measure_calls(&self.subjects, |subject| {
                let streams: Vec<String> = (0..writers).map(|_| self.fresh_stream()).collect();
                async move {
                    let tasks = streams.into_iter().map(|stream| {
                        let subject = subject.clone();
                        tokio::spawn(async move {
                            write_stream(subject.as_ref(), &stream, batch, calls, conditional).await
                        })
                    });
                    let mut latencies = Vec::with_capacity(writers);
                    for task in futures::future::join_all(tasks).await {
                        latencies.push(task??);
                    }
                    Ok((writers * batch * calls, latencies))
                }
            })
            .await?;
        let name = append_name(writers, batch, conditional);
        Ok(Self::row(&name, stats))
    }

    /// Reads a stream of 1000 events, repeatedly.
    pub(crate) async fn stream_reads(&self) -> BenchResult<Row> {
        let stream = self.fresh_stream();
        self.subjects[0].append(&stream, 1000, None).await?;
        let reads = self.sizes.stream_reads;
        let stream = &stream;
        let stats = self
            .measure(&self.subjects, |subject| async move {
                let mut events = 0;
                for _ in 0..reads {
                    events += subject.read_stream(stream).await?;
                }
                Ok(events)
            })
            .await?;
        Ok(Self::row("read stream of 1000", stats))
    }

    /// Fills the log up to `log_events` events, in batches of 1000.
    pub(crate) async fn fill_log(&self, already: usize) -> BenchResult<()> {
        let stream = self.fresh_stream();
        let mut stored = already;
        while stored < self.sizes.log_events {
            self.subjects[0].append(&stream, 1000, None).await?;
            stored += 1000;
        }
        Ok(())
    }

    pub(crate) async fn log_scan(&self) -> BenchResult<Row> {
        let stats = self
            .measure(
                &self.subjects,
                |subject| async move { subject.scan_log().await },
            )
            .await?;
        Ok(Self::row(
            &format!("scan log of ~{}", self.sizes.log_events),
            stats,
        ))
    }

    pub(crate) async fn latest(&self) -> BenchResult<Row> {
        let stream = self.fresh_stream();
        self.subjects[0].append(&stream, 10, None).await?;
        let calls = self.sizes.latest_calls;
        let stream = &stream;
        let stats = self
            .measure(&self.subjects, |subject| async move {
                for _ in 0..calls {
                    subject.latest(stream).await?;
                }
                Ok(calls)
            })
            .await?;
        Ok(Self::row("latest of a stream", stats).with_note("calls/s"))
    }
}

/// The name of an append scenario.
pub(crate) fn append_name(writers: usize, batch: usize, conditional: bool) -> String {
    let kind = if conditional {
        "conditional append"
    } else {
        "append"
    };
    match (batch, writers) {
        (1, 1) => format!("{kind} 1/call, 1 writer"),
        (1, _) => format!("{kind} 1/call, {writers} writers"),
        _ => format!("batch append {batch}/call"),
    }
}

/// Appends `calls` times to `stream`; the latency of each call, nanoseconds.
///
/// One clock read per call (each call ends where the next begins) into a
/// list sized beforehand: nothing allocates or synchronises while timed.
async fn write_stream(
    subject: &dyn Subject,
    stream: &str,
    batch: usize,
    calls: usize,
    conditional: bool,
) -> BenchResult<Vec<u64>> {
    let appended = u64::try_from(batch)?;
    let mut latencies = Vec::with_capacity(calls);
    let mut last: Option<u64> = None;
    let mut call_started = Instant::now();
    for _ in 0..calls {
        subject
            .append(stream, batch, conditional.then_some(last))
            .await?;
        let now = Instant::now();
        latencies.push(nanos(now.duration_since(call_started)));
        call_started = now;
        last = Some(last.map_or(appended - 1, |position| position + appended));
    }
    Ok(latencies)
}

/// `duration` in nanoseconds (saturating: no call lasts 584 years).
pub(crate) fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// Subscribes to the whole log from the start and counts what it delivers until
/// caught up.
pub(crate) async fn catch_up(
    subject: &StoreSubject,
    runs: usize,
    log_events: usize,
) -> BenchResult<Row> {
    let mut rates = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let events = subject.catch_up(usize::MAX).await?;
        if events < log_events / 2 {
            return Err(format!("catch-up delivered only {events} events").into());
        }
        rates.push(events as f64 / started.elapsed().as_secs_f64());
    }
    Ok(Row::new(
        "subscription catch-up",
        "events/s",
        Stats::new(subject.label(), rates),
        vec![],
    ))
}

/// `writers` tasks publish one event at a time with a short pause while one
/// subscriber receives them live; the time from just before each publish to its
/// delivery.
pub(crate) async fn live_latency(
    subject: &StoreSubject,
    writers: usize,
    per_writer: usize,
) -> BenchResult<Row> {
    let store = subject.store().clone();
    let head = store
        .log()
        .latest()
        .await?
        .map(|event| event.sequence_number);
    let sent: Arc<Mutex<HashMap<uuid::Uuid, Instant>>> = Arc::default();
    let total = writers * per_writer;
    let options = SubscriptionOptions::new().after_checkpoint(head);
    let mut subscription = store.log().subscribe(options)?;
    let receiver = {
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(total);
            while latencies.len() < total {
                match subscription.try_next().await? {
                    Some(SubscriptionMessage::Event(event)) => {
                        let delivered = Instant::now();
                        if let Some(at) = sent.lock().await.remove(&event.id) {
                            latencies.push(delivered.duration_since(at).as_secs_f64() * 1000.0);
                        }
                    }
                    Some(_) => {}
                    None => break,
                }
            }
            BenchResult::Ok(latencies)
        })
    };
    let started = Instant::now();
    let tasks = (0..writers).map(|writer| {
        let (store, sent) = (store.clone(), sent.clone());
        tokio::spawn(async move {
            let stream =
                store.stream(CATEGORY, &format!("live-{writer}-{}", uuid::Uuid::new_v4()))?;
            for _ in 0..per_writer {
                let event = NewEvent::with_json(
                    eventblocks_core::Name::new("event name", "ping")?,
                    payload(),
                );
                sent.lock().await.insert(event.id(), Instant::now());
                stream.publish([event], WriteCondition::NoCondition).await?;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            BenchResult::Ok(())
        })
    });
    for task in futures::future::join_all(tasks).await {
        task??;
    }
    let latencies = tokio::time::timeout(Duration::from_secs(60), receiver).await???;
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    let row = Row::new(
        &format!("live delivery, {writers} writers"),
        "events/s",
        Stats::new(subject.label(), vec![rate]),
        vec![],
    );
    Ok(row.with_latency(Latency::of(latencies)))
}

/// The scenarios on a full log: fills it (once, if any of them is wanted),
/// then scans it, catches up with it and folds it.
pub(crate) async fn on_the_log(
    bench: &Bench,
    subject: &StoreSubject,
    options: &crate::Options,
) -> BenchResult<Vec<Row>> {
    let mut rows = Vec::new();
    let wanted = ["scan log", "subscription", "projection fold"];
    if wanted.iter().any(|name| options.wants(name)) {
        bench.fill_log(0).await?;
    }
    if options.wants("scan log") {
        rows.push(bench.log_scan().await?);
    }
    if options.wants("subscription") {
        rows.push(catch_up(subject, bench.sizes.runs, bench.sizes.log_events).await?);
    }
    if options.wants("projection fold") {
        rows.push(crate::projection::fold(subject, bench.sizes.runs).await?);
    }
    Ok(rows)
}
