//! A projection's id may change with its state; it stays one projection.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use eventblocks_core::{BoxError, EventSourceIdentifier, StoredEvent};
use eventblocks_projection::{Handled, Projection, Projector, Tracked};

use super::{projections_of, publish, runner, stream, RunnerFixture, Totals};

/// Tallies like [`Tally`](super::Tally), with an id that names how far the
/// tally got: it changes every second event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Renaming;

impl Projector for Renaming {
    type State = Totals;
    type Metadata = Tracked;

    fn name(&self) -> &str {
        "renaming"
    }

    fn initial_state(&self) -> Totals {
        Totals::default()
    }

    fn apply(&self, totals: &mut Totals, event: &StoredEvent) -> Result<Handled, BoxError> {
        Ok(totals.add(event))
    }

    fn id(&self, totals: &Totals, source: &EventSourceIdentifier) -> String {
        let stream = match source {
            EventSourceIdentifier::Stream(stream) => stream.stream.to_string(),
            _ => "all".to_owned(),
        };
        format!("{stream}@{}", totals.count / 2)
    }
}

/// A runner keeps exactly the projection a fold gives, one per stream, even
/// though the projector's id changes as events arrive.
pub async fn a_projection_whose_id_changes_stays_one_projection(fixture: RunnerFixture) {
    const STREAMS: usize = 3;
    let mut published = HashMap::new();
    publish(&fixture.events, STREAMS, 6, &mut published).await;
    let instance = Arc::new(runner(&fixture, Renaming));
    let running = tokio::spawn({
        let instance = instance.clone();
        async move { instance.run().await }
    });
    let last = publish(&fixture.events, STREAMS, 9, &mut published).await;
    instance
        .wait_until(last, Duration::from_secs(20))
        .await
        .unwrap_or_else(|e| panic!("waiting for the runner: {e}"));
    running.abort();
    let stored = projections_of(&fixture.projections, Renaming.name()).await;
    assert_eq!(
        stored.len(),
        STREAMS,
        "one projection per stream: {stored:#?}"
    );
    for index in 0..STREAMS {
        let source = stream(&format!("s{index}"));
        let folded = Renaming
            .project(&fixture.events, source.clone())
            .await
            .unwrap_or_else(|e| panic!("folding: {e}"));
        let located: Option<Projection<Totals, Tracked>> = fixture
            .projections
            .locate(&Renaming, &source.into())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(located, Some(folded), "the runner and a fold agree");
    }
}
