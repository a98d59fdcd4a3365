//! The quickstart against PostgreSQL.
//!
//! Run it with `cargo run --example postgres`; it connects to `DATABASE_URL`
//! (default `postgres://postgres@localhost:5432/postgres`) and keeps its events
//! in the schema `eventblocks_example`, which it creates on first run.

use eventblocks_core::{EventStore, NewEvent, ScanQuery, StoredEvent, WriteCondition};
use eventblocks_postgres::PostgresAdapter;
use futures::TryStreamExt;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".to_owned());
    let adapter = PostgresAdapter::builder()
        .url(url)
        .schema("eventblocks_example")
        .build()?;
    let applied = adapter.migrate().await?;
    println!("Connected ({adapter:?}); {applied} migration(s) applied.");
    let store = EventStore::new(adapter);

    // Where the log ended before this run: a reader's checkpoint.
    let checkpoint = store.log().latest().await?.map_or(0, |e| e.sequence_number);

    // A new profile per run, so the example can run again and again.
    let handle = format!("user-{}", uuid::Uuid::now_v7().simple());
    let profile = store.stream("profiles", &handle)?;
    println!("\nPublishing to {}:", profile.identifier());
    let created = NewEvent::new("profile-created", &json!({ "name": "Joe Bloggs" }))?;
    let dob = NewEvent::new("date-of-birth-set", &json!({ "dob": "1992-07-10" }))?;
    print_events(
        &profile
            .publish([created, dob], WriteCondition::StreamIsEmpty)
            .await?,
    );

    println!("\nA second sign-up must only succeed if the stream is empty:");
    let again = NewEvent::new("profile-created", &json!({ "name": "Joe Imposter" }))?;
    match profile
        .publish([again], WriteCondition::StreamIsEmpty)
        .await
    {
        Err(error) if error.is_unmet_condition() => println!("  rejected: {error}"),
        other => println!("  unexpected: {other:?}"),
    }

    println!("\nThe log after sequence number {checkpoint} (this run's events):");
    let log: Vec<StoredEvent> = store
        .log()
        .scan(ScanQuery::new().after(checkpoint))
        .try_collect()
        .await?;
    print_events(&log);
    Ok(())
}

fn print_events(events: &[StoredEvent]) {
    for event in events {
        println!(
            "  #{:<4} {}@{} {} {}",
            event.sequence_number, event.stream, event.position, event.name, event.payload
        );
    }
}
