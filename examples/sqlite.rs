//! The quickstart on a SQLite file: events and a projection written, the
//! adapter closed, the file opened again, and everything still there.
//!
//! Run it with `cargo run --example sqlite` (a file in a temporary
//! directory), or `cargo run --example sqlite -- events.db` to keep the file;
//! run that twice and the second run finds the first run's events.

use eventblocks_core::{Error, EventStore, NewEvent, ScanQuery, StoredEvent, WriteCondition};
use eventblocks_projection::query::{Field, Filter, Operator, Search};
use eventblocks_projection::{Projection, ProjectionStore};
use eventblocks_sqlite::{SqliteAdapter, SqliteProjectionStore};
use futures::TryStreamExt;
use serde_json::json;

/// Opens (and migrates) the file: what a service does on every start.
async fn open(path: &std::path::Path) -> Result<SqliteAdapter, Box<dyn std::error::Error>> {
    let adapter = SqliteAdapter::open(path).await?;
    adapter.migrate().await?; // idempotent: safe on every start
    Ok(adapter)
}

async fn write(adapter: &SqliteAdapter) -> Result<(), Box<dyn std::error::Error>> {
    let store = EventStore::new(adapter.clone());
    let profile = store.stream("profiles", "joe.bloggs")?;
    let created = NewEvent::new(
        "profile-created",
        &json!({"name": "Joe Bloggs", "email": "joe.bloggs@example.com"}),
    )?;
    match profile
        .publish([created], WriteCondition::StreamIsEmpty)
        .await
    {
        Ok(stored) => println!(
            "published {} at position {}",
            stored[0].name, stored[0].position
        ),
        // A second run on a kept file: the profile exists already.
        Err(error @ Error::UnmetCondition { .. }) => println!("already there: {error}"),
        Err(error) => return Err(error.into()),
    }
    let dob = NewEvent::new("date-of-birth-set", &json!({"dob": "1992-07-10"}))?;
    let last = profile.latest().await?.map(|event| event.position);
    profile
        .publish([dob], WriteCondition::PositionIs(last))
        .await?;
    let projections = ProjectionStore::new(SqliteProjectionStore::new(adapter));
    let events = profile.read().await?;
    projections
        .save(&Projection {
            id: "joe.bloggs".to_owned(),
            name: "profile".to_owned(),
            source: profile.identifier().clone().into(),
            state: json!({"name": "Joe Bloggs", "events": events.len()}),
            metadata: json!({}),
        })
        .await?;
    Ok(())
}

async fn read(adapter: &SqliteAdapter) -> Result<Vec<StoredEvent>, Box<dyn std::error::Error>> {
    let store = EventStore::new(adapter.clone());
    let log: Vec<StoredEvent> = store.log().scan(ScanQuery::new()).try_collect().await?;
    for event in &log {
        println!(
            "  #{} {}[{}] {} {}",
            event.sequence_number, event.stream, event.position, event.name, event.payload
        );
    }
    let projections = ProjectionStore::new(SqliteProjectionStore::new(adapter));
    let found = projections
        .search_stored(&Search::new().filter(Filter::new(
            Field::state("name"),
            Operator::Equal,
            "Joe Bloggs",
        )))
        .await?;
    println!("  projection: {}", found.projections[0].state);
    Ok(log)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temporary = tempfile::tempdir()?;
    let path = match std::env::args().nth(1) {
        Some(path) => path.into(),
        None => temporary.path().join("events.db"),
    };
    println!("Writing to {}:", path.display());
    let adapter = open(&path).await?;
    write(&adapter).await?;
    let before = read(&adapter).await?;
    drop(adapter);

    println!("Opened again:");
    let adapter = open(&path).await?;
    let after = read(&adapter).await?;
    assert_eq!(before, after, "the file kept every event");
    Ok(())
}
