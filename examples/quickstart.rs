//! The quickstart: an event-sourced user profile on the in-memory adapter.
//! Commands are decisions (`stream.decide`): fold the stream with the
//! projector, decide, publish on the condition that the stream did not move.
//! The same projector keeps the read side, found again by a search.
//!
//! Run it with `cargo run --example quickstart`.

use eventblocks_core::{
    BoxError, DecideError, DecideOptions, EventStore, NewEvent, ScanQuery, StoredEvent,
    StreamHandle,
};
use eventblocks_memory::{MemoryAdapter, MemoryProjectionStore};
use eventblocks_projection::query::{Field, Filter, Operator, Search};
use eventblocks_projection::{Handled, ProjectionStore, Projector, Tracked};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Serialize, Deserialize)]
struct ProfileCreated {
    name: String,
    email: String,
}

#[derive(Debug, Deserialize)]
struct DateOfBirthSet {
    dob: String,
}

/// The profile as the application sees it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Profile {
    name: Option<String>,
    email: Option<String>,
    dob: Option<String>,
}

/// Why a command was refused: the application's own errors.
#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("this profile already exists")]
    AlreadyExists,
    #[error("there is no such profile")]
    NoSuchProfile,
}

/// Folds a profile stream into a [`Profile`]: for the projection, and for the
/// commands' decisions.
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

/// A command: decides on the profile's current state, publishes what it
/// decided only if nobody changed the profile meanwhile (and decides again
/// if somebody did).
async fn command(
    profile: &StreamHandle,
    decide: impl FnMut(&Profile) -> Result<Vec<NewEvent>, Refused>,
) -> Result<Vec<StoredEvent>, DecideError<Refused>> {
    let (initial, fold) = (ProfileProjector.initial_state(), ProfileProjector.folder());
    profile
        .decide(initial, fold, decide, DecideOptions::default())
        .await
}

fn sign_up(name: &str, email: &str) -> impl FnMut(&Profile) -> Result<Vec<NewEvent>, Refused> {
    let created = ProfileCreated {
        name: name.to_owned(),
        email: email.to_owned(),
    };
    move |profile| match profile.name {
        Some(_) => Err(Refused::AlreadyExists),
        None => Ok(vec![new_event("profile-created", &created)]),
    }
}

fn set_date_of_birth(dob: &str) -> impl FnMut(&Profile) -> Result<Vec<NewEvent>, Refused> {
    let set = json!({ "dob": dob });
    move |profile| match profile.name {
        None => Err(Refused::NoSuchProfile),
        Some(_) => Ok(vec![new_event("date-of-birth-set", &set)]),
    }
}

fn new_event(name: &str, payload: &impl Serialize) -> NewEvent {
    NewEvent::new(name, payload).expect("the example's names and payloads are valid")
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = EventStore::new(MemoryAdapter::new());
    let joe = store.stream("profiles", "joe.bloggs")?;

    println!("Two commands on {}:", joe.identifier());
    print_events(&command(&joe, sign_up("Joe Bloggs", "joe.bloggs@example.com")).await?);
    print_events(&command(&joe, set_date_of_birth("1992-07-10")).await?);

    println!("\nA second sign-up for the same profile is refused by the decision:");
    match command(&joe, sign_up("Joe Imposter", "imposter@example.com")).await {
        Err(DecideError::Rejected(refused)) => println!("  refused: {refused}"),
        other => panic!("the second sign-up should have been refused, got {other:?}"),
    }
    let nobody = store.stream("profiles", "nobody")?;
    match command(&nobody, set_date_of_birth("2000-01-01")).await {
        Err(DecideError::Rejected(refused)) => println!("  refused: {refused}"),
        other => panic!("a profile that does not exist has no birthday, got {other:?}"),
    }

    println!("\nThe stream read back:");
    print_events(&joe.read().await?);
    let first: ProfileCreated = joe.read().await?[0].payload_as()?;
    println!("  (typed payload of position 0: {first:?})");
    let latest = joe.latest().await?.expect("the stream has events");
    println!(
        "\nThe latest event: {} at position {}",
        latest.name, latest.position
    );

    let jane = store.stream("profiles", "jane.doe")?;
    command(&jane, sign_up("Jane Doe", "jane@example.com")).await?;
    println!("\nThe whole log, resumed after sequence number 1:");
    let log: Vec<StoredEvent> = store
        .log()
        .scan(ScanQuery::new().after(1))
        .try_collect()
        .await?;
    print_events(&log);

    println!("\nThe profile projector folds profiles/joe.bloggs into a projection:");
    let projections = ProjectionStore::new(MemoryProjectionStore::new());
    for profile in [&joe, &jane] {
        let projection = ProfileProjector
            .project(&store, profile.identifier().clone())
            .await?;
        projections.save(&projection).await?;
    }
    let projection = projections
        .load(&ProfileProjector, "joe.bloggs")
        .await?
        .expect("saved above");
    println!(
        "  projection {}/{}: {:?}, last sequence number {:?}",
        projection.name, projection.id, projection.state, projection.metadata.last_sequence_number
    );

    let born_before_2000 = Search::new().filter(Filter::new(
        Field::state("dob"),
        Operator::LessThan,
        "2000-01-01",
    ));
    let found = projections
        .search(&ProfileProjector, &born_before_2000)
        .await?;
    println!("\nProfiles born before 2000, from the projection store:");
    for found in &found.projections {
        println!("  {} {:?}", found.id, found.state.name);
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
