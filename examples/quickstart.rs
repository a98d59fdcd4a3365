//! The quickstart: an event-sourced user profile on the in-memory adapter,
//! folded into a projection by a projector and found again by a search.
//!
//! Run it with `cargo run --example quickstart`.

use eventblocks_core::{
    BoxError, Error, EventStore, NewEvent, ScanQuery, StoredEvent, WriteCondition,
};
use eventblocks_memory::MemoryAdapter;
use eventblocks_projection::query::{Field, Filter, Operator, Search};
use eventblocks_projection::{Handled, MemoryProjectionStore, ProjectionStore, Projector, Tracked};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Serialize, Deserialize)]
struct ProfileCreated {
    name: String,
    email: String,
}

/// The profile as the application sees it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Profile {
    name: Option<String>,
    email: Option<String>,
    dob: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DateOfBirthSet {
    dob: String,
}

/// Folds a profile stream into a [`Profile`].
struct ProfileProjector;

impl Projector for ProfileProjector {
    type State = Profile;
    type Metadata = Tracked;

    fn name(&self) -> &str {
        "profile"
    }

    fn initial_state(&self) -> Profile {
        Profile::default()
    }

    fn apply(&self, profile: &mut Profile, event: &StoredEvent) -> Result<Handled, BoxError> {
        match event.name.as_str() {
            "profile-created" => {
                let created: ProfileCreated = event.payload_as()?;
                profile.name = Some(created.name);
                profile.email = Some(created.email);
            }
            "date-of-birth-set" => {
                let set: DateOfBirthSet = event.payload_as()?;
                profile.dob = Some(set.dob);
            }
            _ => return Ok(Handled::NoHandler),
        }
        Ok(Handled::Applied)
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
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

    println!("\nThe profile projector folds profiles/joe.bloggs:");
    let projection = ProfileProjector
        .project(&store, profile.identifier().clone())
        .await?;
    println!(
        "  projection {}/{}: {:?}, last sequence number {:?}",
        projection.name, projection.id, projection.state, projection.metadata.last_sequence_number
    );

    let projections = ProjectionStore::new(MemoryProjectionStore::new());
    projections.save(&projection).await?;
    let search = Search::new()
        .filter(Filter::new(Field::Name, Operator::Equal, "profile")?)
        .filter(Filter::new(
            Field::state("dob")?,
            Operator::LessThan,
            "2000-01-01",
        )?);
    let found = projections.search(&search).await?;
    println!("\nProfiles born before 2000, from the projection store:");
    for found in &found.projections {
        println!("  {} {}", found.id, found.state);
    }
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
