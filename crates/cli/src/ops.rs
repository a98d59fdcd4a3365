//! `consumers` and `health`.

use std::process::ExitCode;

use clap::Args;
use serde_json::{json, Value};

use crate::failure::{Failure, STALLED};
use crate::output::{table, Format, Out};
use crate::target::{pg_failed, sqlite_failed, Backend, Target};
use crate::OutputArgs;

/// The most events counted behind one checkpoint: counting walks the
/// sequence number index, so a consumer far behind on a large store costs at
/// most this many index entries; beyond it the lag is shown as `>N`
/// (`lag_events_capped` in JSON), and its age in seconds still tells how far.
const LAG_COUNTED: i64 = 10_000;

/// Every checkpoint with its lag (events after it, and the age of the oldest
/// of them), then every lease.
pub(crate) async fn consumers(target: &Target, format: Format) -> Result<ExitCode, Failure> {
    let (checkpoints, leases) = match &target.backend {
        Backend::Postgres { adapter, schema } => {
            let client = Target::postgres_client(adapter).await?;
            let failed = pg_failed("reading the consumers");
            let checkpoints = client
                .query(
                    &format!(
                        "SELECT c.consumer, c.sequence_number,
                                (SELECT count(*) FROM (
                                    SELECT FROM \"{schema}\".events e
                                     WHERE e.sequence_number > c.sequence_number
                                     LIMIT {counted}) AS lag),
                                extract(epoch FROM now() - (
                                    SELECT e.observed_at FROM \"{schema}\".events e
                                     WHERE e.sequence_number > c.sequence_number
                                     ORDER BY e.sequence_number LIMIT 1))::float8
                           FROM \"{schema}\".events_checkpoints c ORDER BY c.consumer",
                        counted = LAG_COUNTED + 1
                    ),
                    &[],
                )
                .await
                .map_err(&failed)?
                .iter()
                .map(|row| checkpoint(row.get(0), row.get(1), row.get(2), row.get(3)))
                .collect();
            let leases = client
                .query(
                    &format!(
                        "SELECT consumer, partition, token FROM \"{schema}\".events_fences
                          ORDER BY consumer, partition"
                    ),
                    &[],
                )
                .await
                .map_err(&failed)?
                .iter()
                .map(|row| {
                    let (consumer, partition, token): (String, i64, i64) =
                        (row.get(0), row.get(1), row.get(2));
                    json!({"kind": "lease", "consumer": consumer, "partition": partition,
                           "token": token, "holder": Value::Null, "expires_at": Value::Null})
                })
                .collect();
            (checkpoints, leases)
        }
        Backend::Sqlite { path, .. } => {
            let connection = Target::sqlite_reader(path)?;
            let failed = sqlite_failed("reading the consumers");
            let mut statement = connection
                .prepare(
                    "SELECT c.consumer, c.sequence_number,
                            (SELECT count(*) FROM (
                                SELECT 1 FROM eventblocks_events e
                                 WHERE e.sequence_number > c.sequence_number
                                 LIMIT ?1)),
                            (SELECT (unixepoch('subsec') * 1000000 - e.observed_at) / 1e6
                               FROM eventblocks_events e
                              WHERE e.sequence_number > c.sequence_number
                              ORDER BY e.sequence_number LIMIT 1)
                       FROM eventblocks_checkpoints c ORDER BY c.consumer",
                )
                .map_err(&failed)?;
            let checkpoints = statement
                .query_map([LAG_COUNTED + 1], |row| {
                    Ok(checkpoint(
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                    ))
                })
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(&failed)?;
            let mut statement = connection
                .prepare(
                    "SELECT consumer, partition, holder, token, expires_at
                       FROM eventblocks_leases ORDER BY consumer, partition",
                )
                .map_err(&failed)?;
            let leases = statement
                .query_map([], |row| {
                    let expires: i64 = row.get(4)?;
                    let expires = chrono::DateTime::from_timestamp_millis(expires);
                    Ok(
                        json!({"kind": "lease", "consumer": row.get::<_, String>(0)?,
                              "partition": row.get::<_, i64>(1)?,
                              "holder": row.get::<_, Option<String>>(2)?,
                              "token": row.get::<_, i64>(3)?, "expires_at": expires}),
                    )
                })
                .and_then(Iterator::collect::<Result<Vec<_>, _>>)
                .map_err(&failed)?;
            (checkpoints, leases)
        }
    };
    let mut out = Out::new();
    match format {
        Format::Json => {
            for entry in checkpoints.iter().chain(&leases) {
                out.json(entry)?;
            }
        }
        Format::Table => {
            let text = |value: &Value| match value {
                Value::Null => "-".to_owned(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let rows: Vec<Vec<String>> = checkpoints
                .iter()
                .map(|c| {
                    let mut row: Vec<String> =
                        ["consumer", "position", "lag_events", "lag_seconds"]
                            .iter()
                            .map(|field| text(&c[*field]))
                            .collect();
                    if c["lag_events_capped"] == Value::Bool(true) {
                        row[2] = format!(">{LAG_COUNTED}");
                    }
                    row
                })
                .collect();
            table(
                &mut out,
                &["CONSUMER", "POSITION", "LAG (EVENTS)", "LAG (SECONDS)"],
                &rows,
            )?;
            if !leases.is_empty() {
                out.line("")?;
                let rows: Vec<Vec<String>> = leases
                    .iter()
                    .map(|l| {
                        ["consumer", "partition", "holder", "token", "expires_at"]
                            .iter()
                            .map(|field| text(&l[*field]))
                            .collect()
                    })
                    .collect();
                table(
                    &mut out,
                    &["LEASE", "PARTITION", "HOLDER", "TOKEN", "EXPIRES AT"],
                    &rows,
                )?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn checkpoint(consumer: String, position: i64, lag_events: i64, lag_seconds: Option<f64>) -> Value {
    json!({"kind": "checkpoint", "consumer": consumer, "position": position,
           "lag_events": lag_events.min(LAG_COUNTED),
           "lag_events_capped": lag_events > LAG_COUNTED,
           "lag_seconds": lag_seconds.unwrap_or(0.0).max(0.0)})
}

#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// Exit with status 4 when the horizon has been held back longer than
    /// this many seconds.
    #[arg(long, default_value_t = 60.0)]
    threshold: f64,
    #[command(flatten)]
    output: OutputArgs,
}

pub(crate) async fn health(target: &Target, args: HealthArgs) -> Result<ExitCode, Failure> {
    if !args.threshold.is_finite() || args.threshold < 0.0 {
        return Err(Failure::usage(
            "--threshold must be a number of seconds, 0 or more",
        ));
    }
    let format = args.output.format();
    let Backend::Postgres { adapter, .. } = &target.backend else {
        let report = json!({"healthy": true, "committed": Value::Null, "settled": Value::Null,
            "note": "SQLite commits in sequence order from one writer: its read horizon never stalls"});
        print_health(format, &report)?;
        return Ok(ExitCode::SUCCESS);
    };
    let horizon = adapter
        .read_horizon()
        .await
        .map_err(|error| Failure::failed(format!("reading the read horizon failed: {error}")))?;
    let held_back = horizon.is_stalled();
    let blocker = horizon.blocker.as_ref().filter(|_| held_back);
    let age = blocker
        .and_then(|blocker| blocker.transaction_age)
        .map(|age| age.as_secs_f64());
    // How long readers have been held back: the blocking transaction's age
    // or, when the server does not show it to this role, the age of the
    // oldest event they are held back from.
    let stalled_for = age.or(horizon
        .held_back_for
        .filter(|_| held_back)
        .map(|held| held.as_secs_f64()));
    let pid = blocker.and_then(|blocker| blocker.pid);
    let stalled = held_back && stalled_for.unwrap_or(0.0) > args.threshold;
    let (committed, settled) = (horizon.committed, horizon.settled);
    let blocker = blocker.map_or(Value::Null, |blocker| {
        json!({
            "pid": blocker.pid,
            "application_name": blocker.application_name,
            "state": blocker.state,
            "database": blocker.database,
            "transaction_age_seconds": age,
            "query": blocker.query,
            "inspect": format!("{};", blocker.inspect_command()),
            "end_it": blocker.pid.map(|pid| format!("SELECT pg_terminate_backend({pid});")),
        })
    });
    let report = json!({
        "healthy": !stalled, "committed": committed, "settled": settled,
        "held_back": held_back, "held_back_seconds": stalled_for,
        "threshold_seconds": args.threshold, "blocker": blocker,
    });
    print_health(format, &report)?;
    if stalled {
        return Err(Failure::failed(format!(
                "the read horizon has been held back for {:.1} s (threshold {} s){}",
                stalled_for.unwrap_or(0.0),
                args.threshold,
                pid.map_or_else(String::new, |pid| format!(
                    " by session {pid}; inspect it with: psql -c 'SELECT * FROM pg_stat_activity WHERE pid = {pid}'"
                ))
            ))
            .with_code(STALLED));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_health(format: Format, report: &Value) -> Result<(), Failure> {
    let mut out = Out::new();
    match format {
        Format::Json => out.json(report)?,
        Format::Table => {
            let text = |value: &Value| match value {
                Value::Null => "-".to_owned(),
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let mut rows = vec![
                vec!["healthy".to_owned(), text(&report["healthy"])],
                vec!["newest committed".to_owned(), text(&report["committed"])],
                vec!["newest settled".to_owned(), text(&report["settled"])],
            ];
            if let Some(seconds) = report.get("held_back_seconds").filter(|s| !s.is_null()) {
                rows.push(vec!["held back (seconds)".to_owned(), text(seconds)]);
            }
            if let Some(note) = report.get("note") {
                rows.push(vec!["note".to_owned(), text(note)]);
            }
            if let Value::Object(blocker) = &report["blocker"] {
                for field in [
                    "pid",
                    "application_name",
                    "state",
                    "transaction_age_seconds",
                    "query",
                    "inspect",
                    "end_it",
                ] {
                    let value = blocker.get(field).unwrap_or(&Value::Null);
                    rows.push(vec![
                        format!("blocker {}", field.replace('_', " ")),
                        text(value),
                    ]);
                }
            }
            table(&mut out, &["", ""], &rows)?;
        }
    }
    out.flush()
}
