//! Metrics, recorded through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! eventblocks records; the application chooses where the figures go by
//! installing a recorder (for instance `metrics-exporter-prometheus`, see the
//! `metrics` example). With no recorder installed every call here is a no-op.
//!
//! Every name and label eventblocks records is listed below, in one place.
//! Labels take few values: outcomes, source kinds, consumer names — never
//! stream names or ids, so a store of millions of streams makes no more
//! series than one of ten.
//!
//! | name | kind | labels | what it measures |
//! | --- | --- | --- | --- |
//! | `eventblocks_saves_total` | counter | `outcome` | publishes, by how they ended (see [`SaveOutcome`]) |
//! | `eventblocks_events_written_total` | counter | | events stored by successful publishes (an idempotent retry's events count again) |
//! | `eventblocks_save_duration_seconds` | histogram | `outcome` | time from handing a publish to the adapter to its answer |
//! | `eventblocks_scan_rows_total` | counter | `source` (`log`, `category`, `stream`, `query`) | events read by scans, query reads and subscriptions |
//! | `eventblocks_subscription_lag_events` | gauge | `source` | events a subscription has read from the store but not yet handed to its consumer; exact once it has read to the head, a lower bound while it catches up |
//! | `eventblocks_subscription_lag_seconds` | gauge | `source` | age of the event a subscription last handed over (now minus its `observed_at`) |
//! | `eventblocks_runner_events_total` | counter | `consumer`, `outcome` (`applied`, `skipped`, `failed`, `retried`) | events a projection runner processed |
//! | `eventblocks_read_horizon_stall_seconds` | histogram | | how long a log or category read waited for writes in flight to settle before it gave up and read what was settled (PostgreSQL) |
//! | `eventblocks_pool_wait_seconds` | histogram | | time spent waiting for a pooled connection (PostgreSQL) |
//!
//! A subscription's `source` label is `log`, `category:<name>` or `stream`
//! (a stream's name would make a series per stream).

use std::time::Duration;

use crate::error::Error;
use crate::identifier::EventSourceIdentifier;

/// `eventblocks_saves_total`.
pub const SAVES: &str = "eventblocks_saves_total";
/// `eventblocks_events_written_total`.
pub const EVENTS_WRITTEN: &str = "eventblocks_events_written_total";
/// `eventblocks_save_duration_seconds`.
pub const SAVE_DURATION: &str = "eventblocks_save_duration_seconds";
/// `eventblocks_scan_rows_total`.
pub const SCAN_ROWS: &str = "eventblocks_scan_rows_total";
/// `eventblocks_subscription_lag_events`.
pub const SUBSCRIPTION_LAG_EVENTS: &str = "eventblocks_subscription_lag_events";
/// `eventblocks_subscription_lag_seconds`.
pub const SUBSCRIPTION_LAG_SECONDS: &str = "eventblocks_subscription_lag_seconds";
/// `eventblocks_runner_events_total`.
pub const RUNNER_EVENTS: &str = "eventblocks_runner_events_total";
/// `eventblocks_read_horizon_stall_seconds`.
pub const READ_HORIZON_STALL: &str = "eventblocks_read_horizon_stall_seconds";
/// `eventblocks_pool_wait_seconds`.
pub const POOL_WAIT: &str = "eventblocks_pool_wait_seconds";

/// How a publish ended: the `outcome` label of [`SAVES`] and [`SAVE_DURATION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    /// `ok`: stored (or recognised as an idempotent retry).
    Ok,
    /// `unmet_condition`: a write condition did not hold; nothing was written.
    UnmetCondition,
    /// `conflict`: a retryable failure (conflict, unavailable, timeout) that
    /// certainly wrote nothing.
    Conflict,
    /// `unknown`: the store may or may not have written it; retry with the
    /// same event ids.
    Unknown,
    /// `invalid_input`: refused before any I/O.
    InvalidInput,
    /// `error`: any other failure.
    Error,
}

impl SaveOutcome {
    /// The outcome of a publish that returned `result`.
    pub fn of<T>(result: &Result<T, Error>) -> Self {
        let Err(error) = result else {
            return Self::Ok;
        };
        if error.write_outcome() == crate::WriteOutcome::Unknown {
            Self::Unknown
        } else if error.is_unmet_condition() {
            Self::UnmetCondition
        } else if error.is_retryable() {
            Self::Conflict
        } else if error.is_invalid_input() {
            Self::InvalidInput
        } else {
            Self::Error
        }
    }

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::UnmetCondition => "unmet_condition",
            Self::Conflict => "conflict",
            Self::Unknown => "unknown",
            Self::InvalidInput => "invalid_input",
            Self::Error => "error",
        }
    }
}

/// Records one publish: its outcome, its duration and, when it succeeded,
/// the events it stored.
pub(crate) fn record_save(outcome: SaveOutcome, events: usize, took: Duration) {
    let label = outcome.as_str();
    metrics::counter!(SAVES, "outcome" => label).increment(1);
    metrics::histogram!(SAVE_DURATION, "outcome" => label).record(took.as_secs_f64());
    if events > 0 {
        metrics::counter!(EVENTS_WRITTEN).increment(events as u64);
    }
}

/// The `source` label of a scan: its kind only.
pub(crate) fn scan_source(target: &EventSourceIdentifier) -> &'static str {
    match target {
        EventSourceIdentifier::Log(_) => "log",
        EventSourceIdentifier::Category(_) => "category",
        EventSourceIdentifier::Stream(_) => "stream",
    }
}

/// The `source` label of a subscription: the log, a category by name, or a
/// stream (without its name).
pub(crate) fn subscription_source(target: &EventSourceIdentifier) -> String {
    match target {
        EventSourceIdentifier::Log(_) => "log".to_owned(),
        EventSourceIdentifier::Category(category) => format!("category:{category}"),
        EventSourceIdentifier::Stream(_) => "stream".to_owned(),
    }
}

/// Records one runner outcome for `consumer`: `applied`, `skipped`,
/// `failed` or `retried`.
pub fn record_runner_event(consumer: &str, outcome: &'static str) {
    metrics::counter!(RUNNER_EVENTS, "consumer" => consumer.to_owned(), "outcome" => outcome)
        .increment(1);
}

/// Records how long a read waited on a held-back read horizon.
pub fn record_horizon_stall(waited: Duration) {
    metrics::histogram!(READ_HORIZON_STALL).record(waited.as_secs_f64());
}

/// Records how long a caller waited for a pooled connection.
pub fn record_pool_wait(waited: Duration) {
    metrics::histogram!(POOL_WAIT).record(waited.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifier::StreamIdentifier;

    #[test]
    fn outcomes_say_whether_anything_may_have_been_written() {
        let ok: Result<(), Error> = Ok(());
        assert_eq!(SaveOutcome::of(&ok), SaveOutcome::Ok);
        let unmet: Result<(), Error> = Err(Error::UnmetCondition {
            stream: StreamIdentifier::new("orders", "1").unwrap(),
            expected: crate::WriteCondition::StreamIsEmpty,
            found: Some(0),
        });
        assert_eq!(SaveOutcome::of(&unmet), SaveOutcome::UnmetCondition);
        let invalid: Result<(), Error> = Err(Error::invalid("name", "empty"));
        assert_eq!(SaveOutcome::of(&invalid), SaveOutcome::InvalidInput);
        let unknown: Result<(), Error> = Err(Error::Unavailable {
            message: "cut".into(),
            outcome: crate::WriteOutcome::Unknown,
            source: None,
        });
        assert_eq!(SaveOutcome::of(&unknown), SaveOutcome::Unknown);
    }
}
