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
    /// Latency percentiles of this subject's calls in milliseconds, where
    /// measured (over every run together).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) latency_ms: Option<Latency>,
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
            latency_ms: None,
        }
    }

    pub(crate) fn with_latency(mut self, latency: Option<Latency>) -> Self {
        self.latency_ms = latency;
        self
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
    /// Latency percentiles in milliseconds of what the row as a whole
    /// measures, where that is one latency (the subjects' own call latencies,
    /// where measured, are in their [`Stats`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) latency_ms: Option<Latency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

/// Latency percentiles of one scenario, in milliseconds: nearest rank (the
/// smallest sample at least that share of all samples is at or below).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) p99_9: f64,
    /// How many samples the percentiles are of (p99.9 of fewer than 1000
    /// is the largest or close to it).
    pub(crate) samples: usize,
}

impl Latency {
    /// The percentiles of `samples_ms`, milliseconds.
    pub(crate) fn of(mut samples_ms: Vec<f64>) -> Option<Self> {
        samples_ms.sort_by(f64::total_cmp);
        Self::of_sorted(&samples_ms, |ms| ms)
    }

    /// The percentiles of `samples_ns`, nanoseconds.
    pub(crate) fn of_nanos(mut samples_ns: Vec<u64>) -> Option<Self> {
        samples_ns.sort_unstable();
        Self::of_sorted(&samples_ns, |ns| ns as f64 / 1e6)
    }

    fn of_sorted<T: Copy>(sorted: &[T], to_ms: impl Fn(T) -> f64) -> Option<Self> {
        if sorted.is_empty() {
            return None;
        }
        let at = |per_mille: usize| to_ms(sorted[nearest_rank(sorted.len(), per_mille) - 1]);
        Some(Self {
            p50: at(500),
            p99: at(990),
            p99_9: at(999),
            samples: sorted.len(),
        })
    }
}

/// The nearest rank (1-based) of the `per_mille` percentile among `count`
/// sorted samples: `ceil(per_mille / 1000 * count)`, at least 1.
fn nearest_rank(count: usize, per_mille: usize) -> usize {
    (count * per_mille).div_ceil(1000).clamp(1, count)
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

/// Prints the rows as a table; the baselines' call latencies, where
/// measured, on an indented line below their row.
pub(crate) fn print_table(rows: &[Row]) {
    println!(
        "{:<34} {:>14} {:>14} {:>7} {:>14} {:>7} {:>24}  unit",
        "scenario", "adapter", "raw", "ratio", "global lock", "ratio", "p50 / p99 / p99.9 ms"
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
        let latency = row
            .latency_ms
            .or(row.adapter.latency_ms)
            .map_or("-".to_owned(), format_latency);
        println!(
            "{:<34} {:>14} {:>14} {:>7} {:>14} {:>7} {:>24}  {}{}",
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
        let baselines: Vec<String> = row
            .baselines
            .iter()
            .filter_map(|stats| {
                let latency = stats.latency_ms?;
                Some(format!("{} {}", stats.subject, format_latency(latency)))
            })
            .collect();
        if !baselines.is_empty() {
            println!("    p50 / p99 / p99.9 ms: {}", baselines.join(", "));
        }
    }
}

/// `p50 / p99 / p99.9`, in milliseconds.
fn format_latency(latency: Latency) -> String {
    format!(
        "{} / {} / {}",
        format_ms(latency.p50),
        format_ms(latency.p99),
        format_ms(latency.p99_9)
    )
}

/// Milliseconds: one decimal, three below one millisecond, four below ten
/// microseconds (in-process calls).
fn format_ms(value: f64) -> String {
    if value >= 1.0 {
        format!("{value:.1}")
    } else if value >= 0.01 {
        format!("{value:.3}")
    } else {
        format!("{value:.4}")
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        // 1..=1000 ms: the p-th percentile is the sample ranked ceil(p * n).
        let samples: Vec<f64> = (1..=1000).map(f64::from).collect();
        let latency = Latency::of(samples).unwrap();
        assert_eq!(
            (latency.p50, latency.p99, latency.p99_9),
            (500.0, 990.0, 999.0)
        );
        assert_eq!(latency.samples, 1000);
    }

    #[test]
    fn percentiles_of_few_samples_round_up() {
        // 10 samples: p50 is the 5th, p99 and p99.9 the 10th.
        let samples: Vec<u64> = (1..=10).rev().map(|ms| ms * 1_000_000).collect();
        let latency = Latency::of_nanos(samples).unwrap();
        assert_eq!((latency.p50, latency.p99, latency.p99_9), (5.0, 10.0, 10.0));
        let one = Latency::of_nanos(vec![2_500_000]).unwrap();
        assert_eq!((one.p50, one.p99_9), (2.5, 2.5));
        assert_eq!(Latency::of_nanos(Vec::new()), None);
    }

    #[test]
    fn the_table_line_shows_three_percentiles() {
        let latency = Latency {
            p50: 0.25,
            p99: 1.5,
            p99_9: 12.0,
            samples: 3,
        };
        assert_eq!(format_latency(latency), "0.250 / 1.5 / 12.0");
        assert_eq!(format_ms(0.00152), "0.0015");
    }
}
