//! Bank accounts: `decide` commands (20 racing withdrawals never overdraw, a transfer is atomic),
//! a balance projection kept by the runner and read after a write. `-- --postgres`: PostgreSQL.
use std::{sync::Arc, time::Duration};

use eventblocks_core::{BoxError, DecideError, DecideOptions, EventStore, NewEvent, Query};
use eventblocks_core::{QueryItem, StoredEvent, StreamIdentifier, StreamWrite, WriteCondition};
use eventblocks_projection::{Handled, ProjectionRunner, Projector, Tracked};

/// An account's balance in cents; `None` until it is opened.
type Balance = Option<i64>;

/// The one fold: the balance projection the runner keeps, and every decision's state.
struct Balances;

impl Projector for Balances {
    type State = Balance;
    type Metadata = Tracked;
    fn name(&self) -> &str {
        "balance"
    }
    fn initial_state(&self) -> Balance {
        None
    }
    fn apply(&self, balance: &mut Balance, event: &StoredEvent) -> Result<Handled, BoxError> {
        let cents: i64 = event.payload_as()?;
        match (event.name.as_str(), balance.as_mut()) {
            ("opened", _) => *balance = Some(0),
            ("deposited", Some(balance)) => *balance += cents,
            ("withdrawn", Some(balance)) => *balance -= cents,
            _ => return Ok(Handled::NoHandler),
        }
        Ok(Handled::Applied)
    }
}

/// The rules: an account opens once; money moves only in open accounts, never below zero.
fn decide(balance: Balance, id: &str, name: &str, cents: i64) -> Result<StreamWrite, &'static str> {
    match (name, balance) {
        ("opened", Some(_)) => return Err("the account is open"),
        ("deposited" | "withdrawn", None) => return Err("no such account"),
        ("withdrawn", Some(balance)) if balance < cents => return Err("insufficient funds"),
        _ => {}
    }
    let event = NewEvent::new(name, &cents).and_then(|e| e.tag(format!("account:{id}")));
    let stream = StreamIdentifier::new("accounts", id).and_then(|s| Ok((s, event?)));
    let (stream, event) = stream.expect("the example's names are valid");
    let write = StreamWrite::new(stream, [event], WriteCondition::NoCondition);
    Ok(write)
}

type Outcome = Result<Vec<StoredEvent>, DecideError<&'static str>>;

/// Opens, deposits to or withdraws from an account: a decision on its stream.
async fn command(store: EventStore, id: String, name: &'static str, cents: i64) -> Outcome {
    let rules = |balance: &Balance| Ok(decide(*balance, &id, name, cents)?.events);
    let (stream, fold) = (store.stream("accounts", &id)?, Balances.folder());
    let options = DecideOptions::default();
    stream.decide(None, fold, rules, options).await
}

/// Moves money: one decision on the boundary of both accounts, published atomically.
async fn transfer(store: &EventStore, from: &str, to: &str, cents: i64) -> Outcome {
    let tagged = |id: &str| QueryItem::new().tags([format!("account:{id}")]);
    let both = Query::new().or(tagged(from)?).or(tagged(to)?);
    let fold = |(a, b): &mut (Balance, Balance), e: &StoredEvent| match e.stream.stream == from {
        true => Balances.evolve(a, e),
        false => Balances.evolve(b, e),
    };
    let rules = |&(a, b): &(Balance, Balance)| {
        let out = decide(a, from, "withdrawn", cents)?;
        Ok(vec![out, decide(b, to, "deposited", cents)?])
    };
    let (log, options) = (store.log(), DecideOptions::default());
    log.decide(both, (None, None), fold, rules, options).await
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let (store, projections, checkpoints) = eventblocks_examples::stores("bank").await?;
    let runner = ProjectionRunner::new(Balances, store.clone(), projections.clone(), checkpoints);
    let runner = Arc::new(runner.source(store.category("accounts")?.identifier().clone()));
    let running = runner.spawn();
    let run = uuid::Uuid::new_v4().simple().to_string(); // fresh accounts on every run
    let (alice, bob) = (format!("alice-{run:.8}"), format!("bob-{run:.8}"));
    command(store.clone(), alice.clone(), "opened", 0).await?;
    command(store.clone(), bob.clone(), "opened", 0).await?;
    command(store.clone(), alice.clone(), "deposited", 1_000).await?;
    let withdraw = |_| tokio::spawn(command(store.clone(), alice.clone(), "withdrawn", 100));
    let outcomes = futures::future::try_join_all((0..20).map(withdraw)).await?;
    let refused = |o: &Outcome| matches!(o, Err(DecideError::Rejected("insufficient funds")));
    assert!(outcomes.iter().all(|o| o.is_ok() || refused(o)));
    let paid = outcomes.iter().filter(|outcome| outcome.is_ok()).count();
    assert_eq!(paid, 10, "1000 cents pay ten withdrawals of 100, no more");
    command(store.clone(), alice.clone(), "deposited", 500).await?;
    let sent = transfer(&store, &alice, &bob, 300).await?;
    assert!(refused(&transfer(&store, &alice, &bob, 1_000).await));
    let last = sent[1].sequence_number;
    runner.wait_until(last, Duration::from_secs(10)).await?; // read your writes
    for (id, cents) in [(&alice, 200), (&bob, 300)] {
        let balance = projections.load(&Balances, id).await?.ok_or("projected")?;
        assert_eq!(balance.state, Some(cents), "{id}");
        println!("{id}: {cents} cents, {} events", balance.metadata.events);
    }
    runner.shutdown().await;
    Ok(running.await??)
}
