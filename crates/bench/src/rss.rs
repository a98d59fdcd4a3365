//! The memory adapter's footprint, measured in a child process so that nothing
//! else the benchmark allocated is counted.

use std::process::Command;

use eventblocks_core::{EventStore, Json, Name, NewEvent, WriteCondition};
use eventblocks_memory::MemoryAdapter;
use serde::{Deserialize, Serialize};

use crate::report::{Row, Stats};
use crate::subject::BenchResult;

/// What the child reports.
#[derive(Debug, Serialize, Deserialize)]
struct Footprint {
    events: usize,
    json_bytes: usize,
    rss_growth_bytes: u64,
    peak_rss_bytes: u64,
}

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Loads `events` events of about 200 bytes of JSON each and prints the footprint.
pub(crate) async fn child(events: usize) -> BenchResult<()> {
    let store = EventStore::new(MemoryAdapter::new());
    let name = Name::new("event name", "order-placed")?;
    let before = status_kib("VmRSS:");
    let mut json_bytes = 0;
    for batch in 0..events.div_ceil(1000) {
        let stream = store.stream("orders", &format!("order-{batch}"))?;
        let mut new_events = Vec::with_capacity(1000);
        for index in 0..1000.min(events - batch * 1000) {
            let text = format!(
                r#"{{"order_id":"order-{batch:06}-{index:04}","customer":{{"id":"customer-{index}","tier":"gold"}},"lines":[{{"sku":"SKU-{index:05}","quantity":2,"price_cents":1999}}],"currency":"EUR"}}"#
            );
            json_bytes += text.len() + "{}".len();
            new_events.push(NewEvent::with_json(
                name.clone(),
                Json::from_text("payload", text)?,
            ));
        }
        store
            .stream_of(stream.identifier().clone())
            .publish(new_events, WriteCondition::NoCondition)
            .await?;
    }
    let footprint = Footprint {
        events,
        json_bytes,
        rss_growth_bytes: (status_kib("VmRSS:") - before) * 1024,
        peak_rss_bytes: status_kib("VmHWM:") * 1024,
    };
    println!("{}", serde_json::to_string(&footprint)?);
    Ok(())
}

/// Runs the child and turns its report into a row.
pub(crate) fn measure(events: usize) -> BenchResult<Row> {
    let output = Command::new(std::env::current_exe()?)
        .args(["--footprint-child", &events.to_string()])
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "footprint child failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let footprint: Footprint = serde_json::from_slice(&output.stdout)?;
    let per_event = footprint.rss_growth_bytes as f64 / footprint.events as f64;
    let json_per_event = footprint.json_bytes as f64 / footprint.events as f64;
    let budget = 3.0 * json_per_event + 100.0;
    let note = format!(
        "{per_event:.0} B/event resident for {json_per_event:.0} B of JSON; budget {budget:.0}; peak RSS {} MiB",
        footprint.peak_rss_bytes / (1 << 20)
    );
    Ok(Row::new(
        &format!("memory footprint, {} events", footprint.events),
        "bytes/event",
        Stats::new("memory", vec![per_event]),
        vec![],
    )
    .with_note(note))
}
