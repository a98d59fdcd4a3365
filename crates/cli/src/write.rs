//! `append` and `import`: every line is checked before anything is written.

use std::io::{BufRead, BufReader, IsTerminal, Seek, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Args;
use eventblocks_core::{
    Error, Json, Name, NewEvent, StoredEvent, StreamIdentifier, WriteCondition, MAX_EVENTS_PER_SAVE,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use uuid::Uuid;

use crate::failure::{Failure, OrFail};
use crate::output::EventPrinter;
use crate::target::Target;
use crate::OutputArgs;

#[derive(Debug, Args)]
pub(crate) struct AppendArgs {
    /// The stream's category.
    category: String,
    /// The stream.
    stream: String,
    /// Append only if the stream's last event is at this position.
    #[arg(long, conflicts_with = "expect_empty")]
    expect_position: Option<u64>,
    /// Append only if the stream holds no event.
    #[arg(long)]
    expect_empty: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// One line of `append`'s input.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InputEvent {
    name: String,
    payload: serde_json::Value,
    #[serde(default)]
    metadata: Option<serde_json::Value>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    id: Option<Uuid>,
    #[serde(default)]
    occurred_at: Option<DateTime<Utc>>,
}

impl InputEvent {
    fn into_new(self) -> eventblocks_core::Result<NewEvent> {
        let name = Name::new("name", self.name)?;
        let payload = Json::to_json("payload", &self.payload)?;
        let mut event = NewEvent::with_json(name, payload).tags(self.tags)?;
        if let Some(metadata) = self.metadata {
            event = event.with_metadata(&metadata)?;
        }
        if let Some(id) = self.id {
            event = event.with_id(id);
        }
        if let Some(at) = self.occurred_at {
            event = event.with_occurred_at(at);
        }
        Ok(event)
    }
}

fn bad_line(number: usize, reason: impl std::fmt::Display) -> Failure {
    Failure::usage(format!(
        "line {number} of the input is not a valid event: {reason}; nothing was written"
    ))
}

pub(crate) async fn append(target: &Target, args: AppendArgs) -> Result<ExitCode, Failure> {
    let stream = StreamIdentifier::new(args.category.as_str(), args.stream.as_str())
        .map_err(|error| Failure::usage(format!("bad stream: {error}")))?;
    let mut events = Vec::new();
    for (index, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line
            .map_err(|error| Failure::usage(format!("reading standard input failed: {error}")))?;
        if line.trim().is_empty() {
            continue;
        }
        if events.len() == MAX_EVENTS_PER_SAVE {
            return Err(Failure::usage(format!(
                "more than {MAX_EVENTS_PER_SAVE} events in one append; split the input; nothing was written"
            )));
        }
        let input: InputEvent =
            serde_json::from_str(&line).map_err(|error| bad_line(index + 1, error))?;
        events.push(
            input
                .into_new()
                .map_err(|error| bad_line(index + 1, error))?,
        );
    }
    if events.is_empty() {
        return Err(Failure::usage(
            "no events on standard input: give one JSON object per line, e.g. {\"name\": \"order-placed\", \"payload\": {}}",
        ));
    }
    let condition = match (args.expect_empty, args.expect_position) {
        (true, _) => WriteCondition::StreamIsEmpty,
        (false, Some(position)) => WriteCondition::PositionIs(Some(position)),
        (false, None) => WriteCondition::NoCondition,
    };
    let stored = target
        .store
        .stream_of(stream)
        .publish(events, condition)
        .await
        .or_fail("appending the events")?;
    let mut printer = EventPrinter::new(args.output.format());
    for event in &stored {
        printer.print(event)?;
    }
    printer.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// The file of JSON lines (as `export` writes them); standard input when
    /// absent.
    file: Option<PathBuf>,
}

/// Events of one stream published together.
const BATCH: usize = 1000;

pub(crate) async fn import(target: &Target, args: ImportArgs) -> Result<ExitCode, Failure> {
    let mut input = match &args.file {
        Some(path) => std::fs::File::open(path)
            .map_err(|error| Failure::usage(format!("cannot read {}: {error}", path.display())))?,
        None => spool_stdin()?,
    };
    // First every line is checked, so a bad one writes nothing; then the
    // events are stored.
    let total = check_lines(&input)?;
    input
        .rewind()
        .map_err(|error| Failure::failed(format!("rereading the input failed: {error}")))?;
    let progress = progress_bar(total);
    let mut batch: Vec<StoredEvent> = Vec::new();
    let mut stored = 0_u64;
    for line in BufReader::new(input).lines() {
        let line =
            line.map_err(|error| Failure::failed(format!("reading the input failed: {error}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let event: StoredEvent = serde_json::from_str(&line).map_err(|error| {
            Failure::failed(format!("the input changed while importing: {error}"))
        })?;
        let continues = batch
            .last()
            .is_some_and(|last| last.stream == event.stream && last.position + 1 == event.position);
        if !continues || batch.len() == BATCH {
            stored += publish(target, std::mem::take(&mut batch)).await?;
            progress.set_position(stored);
        }
        batch.push(event);
    }
    stored += publish(target, batch).await?;
    progress.finish_and_clear();
    crate::output::note(&format!("imported {stored} events"));
    Ok(ExitCode::SUCCESS)
}

/// Standard input copied to a temporary file, so it can be checked whole
/// before anything is written, in bounded memory.
fn spool_stdin() -> Result<std::fs::File, Failure> {
    let failed = |error: std::io::Error| {
        Failure::failed(format!("buffering standard input failed: {error}"))
    };
    let mut file = tempfile::tempfile().map_err(failed)?;
    std::io::copy(&mut std::io::stdin().lock(), &mut file).map_err(failed)?;
    file.flush().map_err(failed)?;
    file.rewind().map_err(failed)?;
    Ok(file)
}

/// Checks that every line is an exported event the store would accept; the
/// number of events.
fn check_lines(input: &std::fs::File) -> Result<u64, Failure> {
    let mut count = 0;
    for (index, line) in BufReader::new(input).lines().enumerate() {
        let line =
            line.map_err(|error| Failure::usage(format!("reading the input failed: {error}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let event: StoredEvent =
            serde_json::from_str(&line).map_err(|error| bad_line(index + 1, error))?;
        to_new(&event).map_err(|error| bad_line(index + 1, error))?;
        count += 1;
    }
    Ok(count)
}

fn to_new(event: &StoredEvent) -> eventblocks_core::Result<NewEvent> {
    Ok(
        NewEvent::with_json(event.name.clone(), event.payload.clone())
            .with_id(event.id)
            .with_metadata(&event.metadata)?
            .tags(event.tags.iter())?
            .with_occurred_at(event.occurred_at)
            .with_observed_at(event.observed_at),
    )
}

/// Publishes `batch` (consecutive events of one stream) at the positions it
/// had; events already stored there with the same ids are an idempotent
/// retry and are left as they are. When only the first events of the batch
/// are stored (an earlier import of an older export, before the stream
/// grew), those are checked as a retry and the rest appended after them.
async fn publish(target: &Target, batch: Vec<StoredEvent>) -> Result<u64, Failure> {
    let Some(first) = batch.first() else {
        return Ok(0);
    };
    let what = format!(
        "importing {} from position {}",
        first.stream, first.position
    );
    let count = batch.len() as u64;
    let error = match publish_at(target, &batch).await {
        Ok(()) => return Ok(count),
        Err(error @ (Error::EventIdConflict { .. } | Error::UnmetCondition { .. })) => error,
        Err(error) => return Err(Failure::store(&what, &error)),
    };
    let stored = target
        .store
        .catalogue()
        .stream(first.stream.category.as_str(), first.stream.stream.as_str())
        .await
        .or_fail(&what)?
        .map_or(0, |summary| summary.length);
    let split = usize::try_from(stored.saturating_sub(first.position)).unwrap_or(usize::MAX);
    if split == 0 || split >= batch.len() {
        return Err(Failure::store(&what, &error));
    }
    publish_at(target, &batch[..split]).await.or_fail(&what)?;
    publish_at(target, &batch[split..]).await.or_fail(&what)?;
    Ok(count)
}

/// Publishes `events` (consecutive events of one stream) at their positions.
async fn publish_at(target: &Target, events: &[StoredEvent]) -> eventblocks_core::Result<()> {
    let Some(first) = events.first() else {
        return Ok(());
    };
    let condition = WriteCondition::PositionIs(first.position.checked_sub(1));
    let new = events.iter().map(to_new).collect::<Result<Vec<_>, _>>()?;
    target
        .store
        .stream_of(first.stream.clone())
        .publish(new, condition)
        .await?;
    Ok(())
}

/// A bar with rate and time left on a terminal; nothing otherwise.
fn progress_bar(total: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} events  {per_sec}  {eta} left")
    {
        bar.set_style(style);
    }
    bar
}
