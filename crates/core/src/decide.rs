//! Deciding: read what a command depends on, fold it into a state, let
//! application code decide the events, publish them on the condition that
//! what was read still stands, and read and decide again when it does not.
//!
//! One helper serves both kinds of decision:
//! - a stream decision ([`StreamHandle::decide`]): the state is the stream's
//!   events; the publish is conditioned on the stream's last position;
//! - a boundary decision ([`LogHandle::decide`]): the state is the events a
//!   query matches, across streams; the publish is conditioned on no matching
//!   event appearing after the read's head
//!   ([`WriteCondition::NoneMatchAfter`]).

use std::fmt;
use std::time::Duration;

use futures::TryStreamExt;

use crate::condition::WriteCondition;
use crate::error::{Error, Result, WriteOutcome};
use crate::event::{NewEvent, StoredEvent};
use crate::query::Query;
use crate::query_read::QueryOptions;
use crate::scan::ScanQuery;
use crate::store::{LogHandle, StreamHandle};
use crate::write::StreamWrite;

/// How hard a decision tries before giving up.
///
/// Between attempts it waits a random time up to a bound that doubles from
/// [`DecideOptions::backoff`] to [`DecideOptions::max_backoff`] (full jitter),
/// so racing deciders spread out instead of colliding again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct DecideOptions {
    /// Attempts in all, at least 1 (default 20: enough for some twenty
    /// writers racing on one stream).
    pub attempts: u32,
    /// The bound of the first pause (default 2 ms).
    pub backoff: Duration,
    /// The largest bound a pause may reach (default 250 ms).
    pub max_backoff: Duration,
}

impl Default for DecideOptions {
    fn default() -> Self {
        Self {
            attempts: 20,
            backoff: Duration::from_millis(2),
            max_backoff: Duration::from_millis(250),
        }
    }
}

impl DecideOptions {
    /// The same options with `attempts` attempts in all (at least 1).
    #[must_use]
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The same options with pauses starting at `backoff` and growing to
    /// `max_backoff`.
    #[must_use]
    pub fn backoff(mut self, backoff: Duration, max_backoff: Duration) -> Self {
        self.backoff = backoff;
        self.max_backoff = max_backoff.max(backoff);
        self
    }

    /// The pause before attempt `attempt` (counting from 1 for the first
    /// retry): a random time below the attempt's bound.
    fn pause(&self, attempt: u32) -> Duration {
        let doubled = self
            .backoff
            .saturating_mul(1 << attempt.saturating_sub(1).min(20));
        let bound = doubled.min(self.max_backoff);
        let random = uuid::Uuid::new_v4().as_u64_pair().0;
        let fraction =
            f64::from(u32::try_from(random >> 32).unwrap_or(u32::MAX)) / f64::from(u32::MAX);
        bound.mul_f64(fraction)
    }
}

/// Why a decision produced no events.
#[derive(Debug)]
#[non_exhaustive]
pub enum DecideError<E> {
    /// The application's decide function refused the command, with its own
    /// error, untouched.
    Rejected(E),
    /// The store failed: an error that retrying did not cure, or an unmet
    /// condition still unmet after the last attempt.
    Store(Error),
}

impl<E> From<Error> for DecideError<E> {
    fn from(error: Error) -> Self {
        Self::Store(error)
    }
}

impl<E: fmt::Display> fmt::Display for DecideError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Rejected(error) => write!(f, "refused: {error}"),
            Self::Store(error) => write!(f, "{error}"),
        }
    }
}

/// An error whatever the application's error type, as long as it can be
/// shown (`&'static str` and `String` will do), so `?` takes a decision's
/// error wherever a `Box<dyn Error>` is expected. The store's error is the
/// source; a rejection is in the message, and in
/// [`DecideError::Rejected`] for matching.
impl<E: fmt::Debug + fmt::Display> std::error::Error for DecideError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Rejected(_) => None,
            Self::Store(error) => Some(error),
        }
    }
}

impl<E> DecideError<E> {
    /// The application's refusal, if the decision was refused.
    pub fn rejection(&self) -> Option<&E> {
        match self {
            Self::Rejected(error) => Some(error),
            Self::Store(_) => None,
        }
    }
}

/// Why an attempt ended before publishing.
enum Unpublished<E> {
    /// Reading what the decision depends on failed; retried when retryable.
    Read(Error),
    /// The fold failed (a payload it could not read, say): not retried.
    Fold(Error),
    /// The application's decide function refused.
    Rejected(E),
}

/// What a decision reads, and where its publish goes.
enum Source<'a> {
    /// A stream: its events; the publish is conditioned on its last position.
    Stream(&'a StreamHandle),
    /// A boundary: the events a query matches; the publish is conditioned on
    /// the read's head.
    Boundary(&'a LogHandle, &'a Query),
}

/// A decision ready to publish: the writes, and the condition that what they
/// were decided from still stands.
#[derive(Clone)]
struct Decided {
    writes: Vec<StreamWrite>,
    condition: WriteCondition,
}

impl Source<'_> {
    /// Reads and folds, and asks `decide`; `None` when it decided nothing.
    async fn read_and_decide<S, E, F, D>(
        &self,
        mut state: S,
        fold: &mut F,
        decide: &mut D,
    ) -> Result<Option<Decided>, Unpublished<E>>
    where
        F: FnMut(&mut S, &StoredEvent) -> Result<()>,
        D: FnMut(&S) -> Result<Vec<StreamWrite>, E>,
    {
        let (mut events, condition) = match self {
            Self::Stream(stream) => (stream.scan(ScanQuery::new()), None),
            Self::Boundary(log, query) => {
                let read = log
                    .query((*query).clone(), QueryOptions::new())
                    .await
                    .map_err(Unpublished::Read)?;
                let condition = WriteCondition::NoneMatchAfter((*query).clone(), read.head);
                (read.events, Some(condition))
            }
        };
        let mut last = None;
        while let Some(event) = events.try_next().await.map_err(Unpublished::Read)? {
            fold(&mut state, &event).map_err(Unpublished::Fold)?;
            last = Some(event.position);
        }
        // A stream decision holds while the stream is where it was read.
        let condition = condition.unwrap_or(WriteCondition::PositionIs(last));
        let writes = decide(&state).map_err(Unpublished::Rejected)?;
        let nothing = writes.iter().all(|write| write.events.is_empty());
        Ok((!nothing).then_some(Decided { writes, condition }))
    }

    async fn publish(&self, decided: Decided) -> Result<Vec<StoredEvent>> {
        match self {
            Self::Stream(stream) => {
                let events = decided.writes.into_iter().flat_map(|write| write.events);
                stream.publish(events, decided.condition).await
            }
            Self::Boundary(log, _) => {
                log.publish(decided.writes)
                    .condition(decided.condition)
                    .await
            }
        }
    }
}

/// The loop both kinds of decision share: read, fold, decide, publish; on an
/// unmet condition read and decide again; on a retryable failure of a read
/// or a publish that surely wrote nothing, try again; on a publish whose
/// outcome is unknown, publish the same events (the same ids) until the
/// store says whether they were stored, so that a retry cannot store a second
/// decision beside the first.
async fn decide_loop<S, E, F, D>(
    source: Source<'_>,
    initial: S,
    mut fold: F,
    mut decide: D,
    options: DecideOptions,
) -> Result<Vec<StoredEvent>, DecideError<E>>
where
    S: Clone,
    F: FnMut(&mut S, &StoredEvent) -> Result<()>,
    D: FnMut(&S) -> Result<Vec<StreamWrite>, E>,
{
    // The decision whose publish may have been stored: it is published again
    // (never decided afresh) until the store tells.
    let mut unknown: Option<Decided> = None;
    let mut attempt = 1;
    loop {
        let last = attempt >= options.attempts;
        let republishing = unknown.is_some();
        let decided = match unknown.take() {
            Some(decided) => decided,
            None => {
                let read = source.read_and_decide(initial.clone(), &mut fold, &mut decide);
                match read.await {
                    Ok(Some(decided)) => decided,
                    Ok(None) => return Ok(Vec::new()),
                    Err(Unpublished::Read(error)) if error.is_retryable() && !last => {
                        tracing::debug!(attempt, %error, "reading again");
                        tokio::time::sleep(options.pause(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    Err(Unpublished::Read(error) | Unpublished::Fold(error)) => {
                        return Err(DecideError::Store(error))
                    }
                    Err(Unpublished::Rejected(error)) => return Err(DecideError::Rejected(error)),
                }
            }
        };
        let kept = decided.clone();
        match source.publish(decided).await {
            Ok(events) => return Ok(events),
            Err(error) if last => return Err(DecideError::Store(error)),
            // What was read changed, and the events are not stored (a
            // stored retry would have been recognised): decide again.
            Err(error) if error.should_decide_again() => {
                tracing::debug!(attempt, %error, "deciding again");
            }
            Err(error) if error.is_retryable() => {
                // A failed republish that wrote nothing says nothing about the
                // first publish: the events may still be stored.
                if error.write_outcome() == WriteOutcome::Unknown || republishing {
                    tracing::debug!(attempt, %error, "publishing the same events again");
                    unknown = Some(kept);
                } else {
                    tracing::debug!(attempt, %error, "deciding again");
                }
            }
            Err(error) => return Err(DecideError::Store(error)),
        }
        tokio::time::sleep(options.pause(attempt)).await;
        attempt += 1;
    }
}

impl StreamHandle {
    /// Decides a command on this stream: folds the stream's events into
    /// `initial` with `fold`, asks `decide` for the events to publish, and
    /// publishes them on the condition that the stream is still at the
    /// position it was read at. When another writer got there first, it reads
    /// and decides again; when a publish's outcome is unknown it publishes the
    /// same events (same ids) again, which is safe; it waits a jittered
    /// backoff between attempts (see [`DecideOptions`]). Returns the stored
    /// events (none if `decide` chose none).
    ///
    /// ```
    /// use eventblocks_core::{DecideError, DecideOptions, EventStore, NewEvent, WriteCondition};
    /// use eventblocks_memory::MemoryAdapter;
    /// use serde_json::json;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = EventStore::new(MemoryAdapter::new());
    /// let account = store.stream("accounts", "acc-1")?;
    /// let deposit = NewEvent::new("deposited", &json!({"amount": 50}))?;
    /// account.publish([deposit], WriteCondition::NoCondition).await?;
    ///
    /// let withdraw = |amount: i64| {
    ///     account.decide(
    ///         0_i64,
    ///         |balance, event| {
    ///             let change: i64 = event.payload_as::<serde_json::Value>()?["amount"].as_i64().unwrap_or(0);
    ///             *balance += if event.name.as_str() == "deposited" { change } else { -change };
    ///             Ok(())
    ///         },
    ///         move |balance| {
    ///             if *balance < amount {
    ///                 return Err("insufficient funds");
    ///             }
    ///             Ok(vec![NewEvent::new("withdrawn", &json!({"amount": amount})).unwrap()])
    ///         },
    ///         DecideOptions::default(),
    ///     )
    /// };
    /// assert_eq!(withdraw(30).await?.len(), 1); // `?` takes a DecideError as any error
    /// assert!(matches!(withdraw(30).await, Err(DecideError::Rejected("insufficient funds"))));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`DecideError::Rejected`] with `decide`'s own error;
    /// [`DecideError::Store`] when reading or folding failed, when the
    /// stream kept changing for every attempt, or when the store failed in a
    /// way retrying does not cure.
    pub async fn decide<S, E, F, D>(
        &self,
        initial: S,
        fold: F,
        mut decide: D,
        options: DecideOptions,
    ) -> Result<Vec<StoredEvent>, DecideError<E>>
    where
        S: Clone,
        F: FnMut(&mut S, &StoredEvent) -> Result<()>,
        D: FnMut(&S) -> Result<Vec<NewEvent>, E>,
    {
        let stream = self.identifier().clone();
        let decide = move |state: &S| {
            let events = decide(state)?;
            Ok(vec![StreamWrite::new(
                stream.clone(),
                events,
                WriteCondition::NoCondition,
            )])
        };
        decide_loop(Source::Stream(self), initial, fold, decide, options).await
    }
}

impl LogHandle {
    /// Decides a command on a consistency boundary: reads the events `query`
    /// matches, folds them into `initial` with `fold`, asks `decide` for the
    /// writes to make (events for any streams), and publishes them atomically
    /// on the condition that no event matching `query` became visible after
    /// the read's head. Retries as [`StreamHandle::decide`] does. Returns the
    /// stored events (none if `decide` chose none).
    ///
    /// ```
    /// use eventblocks_core::{DecideError, DecideOptions, EventStore, NewEvent, Query};
    /// use eventblocks_core::{QueryItem, StoredEvent, StreamIdentifier, StreamWrite, WriteCondition};
    /// use eventblocks_memory::MemoryAdapter;
    /// use serde_json::json;
    ///
    /// /// A username is claimed once, whichever user's stream claimed it.
    /// async fn claim(
    ///     store: &EventStore,
    ///     user: &str,
    /// ) -> Result<Vec<StoredEvent>, DecideError<&'static str>> {
    ///     let taken = Query::new().or(QueryItem::new().tags(["username:joe"])?);
    ///     let user = StreamIdentifier::new("users", user)?;
    ///     let decide = |&taken: &bool| {
    ///         if taken {
    ///             return Err("the username is taken");
    ///         }
    ///         let event = NewEvent::new("username-claimed", &json!("joe"))
    ///             .and_then(|event| event.tag("username:joe"))
    ///             .expect("valid");
    ///         Ok(vec![StreamWrite::new(user.clone(), [event], WriteCondition::NoCondition)])
    ///     };
    ///     let fold = |taken: &mut bool, _: &StoredEvent| Ok(*taken = true);
    ///     let log = store.log();
    ///     log.decide(taken, false, fold, decide, DecideOptions::default()).await
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = EventStore::new(MemoryAdapter::new());
    /// assert_eq!(claim(&store, "u1").await?.len(), 1);
    /// let again = claim(&store, "u2").await;
    /// assert!(matches!(again, Err(DecideError::Rejected("the username is taken"))));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`StreamHandle::decide`]; the boundary kept moving for every
    /// attempt is a [`DecideError::Store`] with [`Error::BoundaryMoved`].
    pub async fn decide<S, E, F, D>(
        &self,
        query: Query,
        initial: S,
        fold: F,
        decide: D,
        options: DecideOptions,
    ) -> Result<Vec<StoredEvent>, DecideError<E>>
    where
        S: Clone,
        F: FnMut(&mut S, &StoredEvent) -> Result<()>,
        D: FnMut(&S) -> Result<Vec<StreamWrite>, E>,
    {
        decide_loop(
            Source::Boundary(self, &query),
            initial,
            fold,
            decide,
            options,
        )
        .await
    }
}
