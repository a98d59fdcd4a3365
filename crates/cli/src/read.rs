//! `read`, `tail` and `export`: events out, lazily, in bounded memory.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use eventblocks_core::{
    CategoryIdentifier, EventSourceIdentifier, LogIdentifier, ScanQuery, StoredEvent,
    StreamIdentifier, SubscriptionMessage, SubscriptionOptions, Tag,
};
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::failure::{Failure, OrFail};
use crate::output::{EventPrinter, Format, Out};
use crate::target::Target;
use crate::OutputArgs;

#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    /// The stream's category.
    category: String,
    /// The stream.
    stream: String,
    /// Start at this position.
    #[arg(long)]
    from: Option<u64>,
    /// At most this many events.
    #[arg(long)]
    limit: Option<u64>,
    #[command(flatten)]
    output: OutputArgs,
}

pub(crate) async fn read(target: &Target, args: ReadArgs) -> Result<ExitCode, Failure> {
    let stream = StreamIdentifier::new(args.category.as_str(), args.stream.as_str())
        .map_err(|error| Failure::usage(format!("bad stream: {error}")))?;
    let mut query = ScanQuery::new();
    if let Some(from) = args.from {
        query = query.from_position(from);
    }
    if let Some(limit) = args.limit {
        query = query.limit(limit);
    }
    let events = target.store.scan(stream, query);
    print_all(events, args.output.format(), &Filter::default()).await
}

#[derive(Debug, Args)]
pub(crate) struct TailArgs {
    /// Only this category (default: the whole log).
    #[arg(long)]
    category: Option<String>,
    /// Only events after this sequence number.
    #[arg(long)]
    after: Option<u64>,
    /// Keep printing new events as they are committed (until interrupted).
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only events with this name (repeatable).
    #[arg(long = "name")]
    names: Vec<String>,
    /// Leave out events with this name (repeatable).
    #[arg(long = "exclude-name")]
    exclude_names: Vec<String>,
    /// Only events carrying this tag (repeatable: all of them), a query.
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// At most this many events (without --follow).
    #[arg(long, conflicts_with = "follow")]
    limit: Option<u64>,
    #[command(flatten)]
    output: OutputArgs,
}

/// What the store's scan cannot select: the tags of a query.
#[derive(Debug, Default)]
struct Filter {
    tags: BTreeSet<Tag>,
}

impl Filter {
    fn keeps(&self, event: &StoredEvent) -> bool {
        self.tags.is_subset(&event.tags)
    }
}

pub(crate) async fn tail(target: &Target, args: TailArgs) -> Result<ExitCode, Failure> {
    let source: EventSourceIdentifier = match &args.category {
        Some(category) => CategoryIdentifier::new(category.as_str())
            .map_err(|error| Failure::usage(format!("bad category: {error}")))?
            .into(),
        None => LogIdentifier.into(),
    };
    let tags = args
        .tags
        .iter()
        .map(|tag| Tag::new(tag.as_str()))
        .collect::<Result<BTreeSet<_>, _>>()
        .map_err(|error| Failure::usage(format!("bad tag: {error}")))?;
    let filter = Filter { tags };
    let format = args.output.format();
    if args.follow {
        return follow(target, source, &args, &filter, format).await;
    }
    let mut query = ScanQuery::new();
    if let Some(after) = args.after {
        query = query.after(after);
    }
    if !args.names.is_empty() {
        query = query.names(args.names.clone());
    }
    if !args.exclude_names.is_empty() {
        query = query.exclude_names(args.exclude_names.clone());
    }
    if let (Some(limit), true) = (args.limit, filter.tags.is_empty()) {
        query = query.limit(limit);
    }
    let events = target.store.scan(source, query);
    let events = events.try_filter(move |event| futures::future::ready(filter.keeps(event)));
    let events = match args.limit {
        Some(limit) => events
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .left_stream(),
        None => events.right_stream(),
    };
    print_all(events, format, &Filter::default()).await
}

use futures::StreamExt;

async fn follow(
    target: &Target,
    source: EventSourceIdentifier,
    args: &TailArgs,
    filter: &Filter,
    format: Format,
) -> Result<ExitCode, Failure> {
    let mut options = SubscriptionOptions::new().after_checkpoint(args.after);
    if !args.names.is_empty() {
        options = options.names(args.names.clone());
    }
    if !args.exclude_names.is_empty() {
        options = options.exclude_names(args.exclude_names.clone());
    }
    let mut subscription = target
        .store
        .subscribe(source, options)
        .or_fail("following the events")?;
    let mut printer = EventPrinter::new(format);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let message = tokio::select! {
            _ = &mut interrupted => break,
            message = subscription.try_next() => message,
        };
        match message.or_fail("following the events")? {
            Some(SubscriptionMessage::Event(event)) => {
                if filter.keeps(&event) {
                    printer.print(&event)?;
                }
            }
            Some(SubscriptionMessage::CaughtUp { .. }) => printer.flush()?,
            Some(_) => {}
            None => break,
        }
    }
    printer.flush()?;
    Ok(ExitCode::SUCCESS)
}

async fn print_all(
    events: impl futures::Stream<Item = eventblocks_core::Result<StoredEvent>> + Unpin,
    format: Format,
    filter: &Filter,
) -> Result<ExitCode, Failure> {
    let mut events = events;
    let mut printer = EventPrinter::new(format);
    while let Some(event) = events.try_next().await.or_fail("reading events")? {
        if filter.keeps(&event) {
            printer.print(&event)?;
        }
    }
    printer.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Write to this file instead of standard output.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

pub(crate) async fn export(target: &Target, args: ExportArgs) -> Result<ExitCode, Failure> {
    let total = target
        .store
        .catalogue()
        .head()
        .await
        .or_fail("reading the head")?;
    let mut file = match &args.output {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|error| {
                Failure::usage(format!("cannot write {}: {error}", path.display()))
            })?,
        )),
        None => None,
    };
    let mut out = Out::new();
    let progress = progress_bar(total);
    let mut events = target.store.log().scan(ScanQuery::new());
    let mut count = 0_u64;
    while let Some(event) = events.try_next().await.or_fail("exporting events")? {
        match &mut file {
            Some(file) => {
                serde_json::to_writer(&mut *file, &event).map_err(|error| {
                    Failure::failed(format!("writing the export failed: {error}"))
                })?;
                std::io::Write::write_all(file, b"\n").map_err(|error| {
                    Failure::failed(format!("writing the export failed: {error}"))
                })?;
            }
            None => out.json(&event)?,
        }
        count += 1;
        progress.set_position(event.sequence_number);
    }
    if let Some(mut file) = file {
        std::io::Write::flush(&mut file)
            .map_err(|error| Failure::failed(format!("writing the export failed: {error}")))?;
    }
    out.flush()?;
    progress.finish_and_clear();
    crate::output::note(&format!("exported {count} events"));
    Ok(ExitCode::SUCCESS)
}

/// A bar over sequence numbers up to the head (they may have gaps, so the
/// bar tracks progress through the log rather than counting events), on a
/// terminal only.
fn progress_bar(head: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(head, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {percent}%  {eta} left") {
        bar.set_style(style);
    }
    bar
}
