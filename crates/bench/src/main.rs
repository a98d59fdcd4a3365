//! The eventblocks benchmark: each adapter next to raw baselines doing the same
//! work in the same run, reported as ratios.
//!
//! ```text
//! cargo run -p eventblocks-bench --release -- --adapter memory|postgres|sqlite [--quick] [--json] [--runs N]
//! cargo run -p eventblocks-bench --release -- --replica [--quick] [--json] [--runs N]
//! ```

mod boundaries;
mod memory;
mod mixed;
mod postgres;
mod projection;
mod replica;
mod report;
mod rss;
mod scenarios;
mod sqlite;
mod subject;

use std::process::ExitCode;

use crate::subject::BenchResult;

/// The command line.
#[derive(Debug, Clone)]
struct Options {
    adapter: String,
    quick: bool,
    json: bool,
    runs: usize,
    /// Run only the scenarios whose name contains this.
    only: Option<String>,
    footprint_child: Option<usize>,
    /// A private primary and standby instead of an adapter (`replica.rs`).
    replica: bool,
}

const USAGE: &str =
    "usage: eventblocks-bench --adapter memory|postgres|sqlite|--replica [--quick] [--json] [--runs N] [--only SCENARIO-SUBSTRING]";

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut options = Options {
        adapter: String::new(),
        quick: false,
        json: false,
        runs: 3,
        only: None,
        footprint_child: None,
        replica: false,
    };
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| {
            args.next()
                .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--adapter" => options.adapter = value("--adapter")?,
            "--quick" => options.quick = true,
            "--replica" => options.replica = true,
            "--json" => options.json = true,
            "--runs" => {
                options.runs = value("--runs")?
                    .parse()
                    .map_err(|_| format!("--runs takes a number\n{USAGE}"))?
            }
            "--only" => options.only = Some(value("--only")?),
            "--footprint-child" => {
                options.footprint_child = value("--footprint-child")?.parse().ok()
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if options.footprint_child.is_none()
        && !options.replica
        && !matches!(options.adapter.as_str(), "memory" | "postgres" | "sqlite")
    {
        return Err(format!(
            "--adapter must be memory, postgres or sqlite\n{USAGE}"
        ));
    }
    if options.runs == 0 {
        return Err(format!("--runs must be at least 1\n{USAGE}"));
    }
    Ok(options)
}

impl Options {
    /// Whether the scenario called `name` is to run.
    fn wants(&self, name: &str) -> bool {
        self.only
            .as_ref()
            .is_none_or(|only| name.contains(only.as_str()))
    }
}

fn main() -> ExitCode {
    let options = match parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("benchmark failed: {error}");
            let mut source = error.source();
            while let Some(cause) = source {
                eprintln!("  caused by: {cause}");
                source = cause.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> BenchResult<()> {
    if let Some(events) = options.footprint_child {
        return rss::child(events).await;
    }
    let started = std::time::Instant::now();
    let rows = match options.adapter.as_str() {
        _ if options.replica => replica::run(&options).await?,
        "memory" => memory::run(&options).await?,
        "sqlite" => sqlite::run(&options).await?,
        _ => postgres::run(&options).await?,
    };
    if options.json {
        report::print_json(&rows);
    } else {
        report::print_table(&rows);
        let subject = if options.replica {
            "primary and standby"
        } else {
            options.adapter.as_str()
        };
        println!(
            "\n{subject} adapter, {} runs per figure, {:.0} s in total",
            options.runs,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
