//! The quickstart: an event-sourced user profile on the in-memory adapter.
//!
//! Run it with `cargo run --example quickstart`.

use eventblocks_core::{Error, EventStore, NewEvent, ScanQuery, StoredEvent, WriteCondition};
use eventblocks_memory::MemoryAdapter;
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Serialize, Deserialize)]
struct ProfileCreated {
    name: String,
    email: String,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let store = EventStore::new(MemoryAdapter::new());
    let profile = store.stream("profiles", "joe.bloggs")?;

    println!("Publishing two events to {}:", profile.identifier());
    let created = NewEvent::new(
        "profile-created",
        &ProfileCreated {
            name: "Joe Bloggs".into(),
            email: "joe.bloggs@example.com".into(),
        },
    )?;
    let stored = profile
        .publish([created], WriteCondition::StreamIsEmpty)
        .await?;
    print_events(&stored);

    let dob = NewEvent::new("date-of-birth-set", &json!({ "dob": "1992-07-10" }))?;
    let stored = profile
        .publish([dob], WriteCondition::PositionIs(Some(0)))
        .await?;
    print_events(&stored);

    println!("\nA second sign-up for the same profile must only succeed if the stream is empty:");
    let duplicate = NewEvent::new(
        "profile-created",
        &ProfileCreated {
            name: "Joe Imposter".into(),
            email: "imposter@example.com".into(),
        },
    )?;
    match profile
        .publish([duplicate], WriteCondition::StreamIsEmpty)
        .await
    {
        Err(error @ Error::UnmetCondition { .. }) => println!("  rejected: {error}"),
        other => panic!("the conditional publish should have been rejected, got {other:?}"),
    }

    println!("\nThe stream read back:");
    print_events(&profile.read().await?);
    let first: ProfileCreated = profile.read().await?[0].payload_as()?;
    println!("  (typed payload of position 0: {first:?})");

    let latest = profile.latest().await?.expect("the stream has events");
    println!(
        "\nThe latest event: {} at position {}",
        latest.name, latest.position
    );

    store
        .stream("profiles", "jane.doe")?
        .publish(
            [NewEvent::new(
                "profile-created",
                &json!({ "name": "Jane Doe" }),
            )?],
            WriteCondition::StreamIsEmpty,
        )
        .await?;
    println!("\nThe whole log, resumed after sequence number 0:");
    let log: Vec<StoredEvent> = store
        .log()
        .scan(ScanQuery::new().after(0))
        .try_collect()
        .await?;
    print_events(&log);
    Ok(())
}

fn print_events(events: &[StoredEvent]) {
    for event in events {
        println!(
            "  #{:<3} {:<22} position {}  {:<18} {}",
            event.sequence_number,
            event.stream.to_string(),
            event.position,
            event.name.as_str(),
            event.payload
        );
    }
}
