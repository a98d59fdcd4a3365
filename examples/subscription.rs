//! A projection kept up to date by a runner while a writer publishes, and a
//! caller waiting until the projection reflects its write.
//!
//! Run it with `cargo run --example subscription` (in memory, no set-up).

use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{BoxError, EventStore, NewEvent, StoredEvent, WriteCondition};
use eventblocks_memory::{MemoryAdapter, MemoryCheckpointStore, MemoryProjectionStore};
use eventblocks_projection::{Handled, ProjectionRunner, ProjectionStore, Projector, Tracked};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// An account's balance, folded from deposits and withdrawals.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Balance {
    cents: i64,
}

#[derive(Deserialize)]
struct Amount {
    cents: i64,
}

struct BalanceProjector;

impl Projector for BalanceProjector {
    type State = Balance;
    type Metadata = Tracked;

    fn name(&self) -> &str {
        "balance"
    }

    fn initial_state(&self) -> Balance {
        Balance::default()
    }

    fn apply(&self, balance: &mut Balance, event: &StoredEvent) -> Result<Handled, BoxError> {
        let amount: Amount = event.payload_as()?;
        match event.name.as_str() {
            "deposited" => balance.cents += amount.cents,
            "withdrawn" => balance.cents -= amount.cents,
            _ => return Ok(Handled::NoHandler),
        }
        Ok(Handled::Applied)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events = EventStore::new(MemoryAdapter::new());
    let projections = ProjectionStore::new(MemoryProjectionStore::new());
    let runner = Arc::new(
        ProjectionRunner::new(
            BalanceProjector,
            events.clone(),
            projections.clone(),
            MemoryCheckpointStore::new(),
        )
        .source(events.category("accounts")?.identifier().clone()),
    );
    let running = tokio::spawn({
        let runner = runner.clone();
        async move { runner.run().await }
    });

    let writer = tokio::spawn({
        let events = events.clone();
        async move {
            for index in 1..=20_i64 {
                let account = format!("account-{}", index % 3);
                let event = NewEvent::new("deposited", &json!({ "cents": index * 100 }))?;
                events
                    .stream("accounts", &account)?
                    .publish([event], WriteCondition::NoCondition)
                    .await?;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok::<_, eventblocks_core::Error>(())
        }
    });
    writer.await??;

    let withdrawal = NewEvent::new("withdrawn", &json!({ "cents": 250 }))?;
    let stored = events
        .stream("accounts", "account-1")?
        .publish([withdrawal], WriteCondition::NoCondition)
        .await?;
    let written = stored[0].sequence_number;
    println!("withdrew 2.50 from account-1 at sequence number {written}; waiting for the view");
    runner.wait_until(written, Duration::from_secs(5)).await?;

    for account in ["account-0", "account-1", "account-2"] {
        let projection = projections
            .load(&BalanceProjector, account)
            .await?
            .ok_or("the runner has projected every account")?;
        println!(
            "  {account}: {:>7.2} after {} events (last sequence number {:?})",
            projection.state.cents as f64 / 100.0,
            projection.metadata.events,
            projection.metadata.last_sequence_number
        );
    }
    runner.shutdown().await;
    running.await??;
    Ok(())
}
