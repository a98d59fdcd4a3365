//! `eventblocks`: the operator's command for an eventblocks store on
//! PostgreSQL or SQLite. See `crates/cli/README.md` for the commands and the
//! exit codes.

mod catalogue;
mod failure;
mod ops;
mod output;
mod read;
mod target;
mod write;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::failure::Failure;
use crate::output::Format;

/// Inspect, tail, back up and check an eventblocks event store.
///
/// STORE is a PostgreSQL URL (postgres://user@host/db) or a SQLite file
/// (sqlite:path, or a plain path).
#[derive(Debug, Parser)]
#[command(name = "eventblocks", version, about, long_about = None)]
struct Cli {
    /// The store: a PostgreSQL URL or a SQLite file.
    #[arg(long, short = 's', env = "EVENTBLOCKS_STORE", global = true)]
    store: Option<String>,
    /// The PostgreSQL schema holding the event table.
    #[arg(long, default_value = "eventblocks", global = true)]
    schema: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create or upgrade the store's schema (idempotent).
    Migrate,
    /// Append events, one JSON object per line on standard input, to one
    /// stream in one atomic publish.
    Append(write::AppendArgs),
    /// Print the events of one stream.
    Read(read::ReadArgs),
    /// Print the events of the log, a category or a query, and follow new
    /// ones with --follow.
    Tail(read::TailArgs),
    /// List the categories.
    Categories(catalogue::ListArgs),
    /// List the streams of a category with their lengths.
    Streams(catalogue::StreamsArgs),
    /// List the event names in use.
    EventTypes(catalogue::ListArgs),
    /// Counts and sizes: events, streams, bytes, the head.
    Stats(OutputArgs),
    /// Every consumer checkpoint and lease, with its lag behind the head.
    Consumers(OutputArgs),
    /// The read horizon (PostgreSQL): whether tailing readers are held back,
    /// and by which session.
    Health(ops::HealthArgs),
    /// Write every event, with all its fields, as JSON lines.
    Export(read::ExportArgs),
    /// Read events exported as JSON lines and store those not yet stored
    /// (idempotent by event id).
    Import(write::ImportArgs),
}

/// How a command prints what it found.
#[derive(Debug, Clone, Args)]
struct OutputArgs {
    /// JSON lines, whatever standard output is.
    #[arg(long, conflicts_with = "table")]
    json: bool,
    /// A table, whatever standard output is.
    #[arg(long)]
    table: bool,
}

impl OutputArgs {
    fn format(&self) -> Format {
        Format::choose(self.json, self.table)
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // Help and version go to standard output with status 0; usage
            // errors are one message with status 2.
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 2 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            output::note(&format!("eventblocks: cannot start: {error}"));
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(run(cli));
    // Leave background tasks (a listener, a pool) to be dropped, not awaited.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            output::note(&format!("eventblocks: {failure}"));
            ExitCode::from(failure.code)
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let Some(store) = cli.store.as_deref() else {
        return Err(Failure::usage(
            "no store given: pass --store postgres://… or --store path/to/file.db (or set EVENTBLOCKS_STORE)",
        ));
    };
    let creates = matches!(cli.command, Command::Migrate);
    let target = target::Target::open(store, &cli.schema, creates).await?;
    match cli.command {
        Command::Migrate => target.migrate().await,
        Command::Append(args) => write::append(&target, args).await,
        Command::Read(args) => read::read(&target, args).await,
        Command::Tail(args) => read::tail(&target, args).await,
        Command::Categories(args) => catalogue::categories(&target, args).await,
        Command::Streams(args) => catalogue::streams(&target, args).await,
        Command::EventTypes(args) => catalogue::event_types(&target, args).await,
        Command::Stats(args) => catalogue::stats(&target, args.format()).await,
        Command::Consumers(args) => ops::consumers(&target, args.format()).await,
        Command::Health(args) => ops::health(&target, args).await,
        Command::Export(args) => read::export(&target, args).await,
        Command::Import(args) => write::import(&target, args).await,
    }
}
