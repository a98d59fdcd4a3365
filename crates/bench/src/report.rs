//! Measurements, their statistics, and the table and JSON output.

use serde::Serialize;

/// The figures of one subject over several runs.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Stats {
    pub(crate) subject: String,
    pub(crate) runs: Vec<f64>,
    pub(crate) min: f64,
    pub(crate) median: f64,
    pub(crate) max: f64,
}

impl Stats {
    pub(crate) fn new(subject: &str, mut runs: Vec<f64>) -> Self {
        runs.sort_by(f64::total_cmp);
        let middle = runs.len() / 2;
        let median = if runs.len() % 2 == 1 {
            runs[middle]
        } else {
            (runs[middle - 1] + runs[middle]) / 2.0
        };
        Self {
            subject: subject.to_owned(),
            min: runs[0],
            max: runs[runs.len() - 1],
            median,
            runs,
        }
    }
}

/// One scenario's result: the adapter, and the baselines measured alongside.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Row {
    pub(crate) scenario: String,
    /// What the figures count, e.g. `events/s`.
    pub(crate) unit: &'static str,
    pub(crate) adapter: Stats,
    pub(crate) baselines: Vec<Stats>,
    /// The adapter's median over each baseline's median, in baseline order.
    pub(crate) ratios: Vec<f64>,
    /// Latency percentiles in milliseconds, where measured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) latency_ms: Option<Latency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

/// Latency percentiles of one scenario, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
}

impl Latency {
    pub(crate) fn of(mut samples_ms: Vec<f64>) -> Option<Self> {
        if samples_ms.is_empty() {
            return None;
        }
        samples_ms.sort_by(f64::total_cmp);
        // Nearest-rank percentile on the sorted samples.
        let at = |percent: usize| samples_ms[(samples_ms.len() - 1) * percent / 100];
        Some(Self {
            p50: at(50),
            p99: at(99),
        })
    }
}

impl Row {
    pub(crate) fn new(
        scenario: &str,
        unit: &'static str,
        adapter: Stats,
        baselines: Vec<Stats>,
    ) -> Self {
        let ratios = baselines
            .iter()
            .map(|baseline| adapter.median / baseline.median)
            .collect();
        Self {
            scenario: scenario.to_owned(),
            unit,
            adapter,
            baselines,
            ratios,
            latency_ms: None,
            note: None,
        }
    }

    pub(crate) fn with_latency(mut self, latency: Option<Latency>) -> Self {
        self.latency_ms = latency;
        self
    }

    pub(crate) fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// Prints the rows as a table.
pub(crate) fn print_table(rows: &[Row]) {
    println!(
        "{:<34} {:>14} {:>14} {:>7} {:>14} {:>7} {:>16}  unit",
        "scenario", "adapter", "raw", "ratio", "global lock", "ratio", "p50 / p99 ms"
    );
    for row in rows {
        let baseline = |index: usize| {
            row.baselines
                .get(index)
                .map_or(("-".to_owned(), "-".to_owned()), |stats| {
                    (
                        format_rate(stats.median),
                        format!("{:.2}", row.ratios[index]),
                    )
                })
        };
        let (raw, raw_ratio) = baseline(0);
        let (lock, lock_ratio) = baseline(1);
        let latency = row.latency_ms.map_or("-".to_owned(), |l| {
            format!("{} / {}", format_ms(l.p50), format_ms(l.p99))
        });
        println!(
            "{:<34} {:>14} {:>14} {:>7} {:>14} {:>7} {:>16}  {}{}",
            row.scenario,
            format_rate(row.adapter.median),
            raw,
            raw_ratio,
            lock,
            lock_ratio,
            latency,
            row.unit,
            row.note
                .as_ref()
                .map_or(String::new(), |note| format!("  ({note})")),
        );
    }
}

/// Milliseconds: one decimal, or three below one millisecond.
fn format_ms(value: f64) -> String {
    if value >= 1.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    }
}

fn format_rate(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

/// Prints one JSON object per row, one per line.
pub(crate) fn print_json(rows: &[Row]) {
    for row in rows {
        println!("{}", serde_json::to_string(row).unwrap_or_default());
    }
}
