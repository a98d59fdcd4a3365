//! Events: what callers publish ([`NewEvent`]) and what the store returns
//! ([`StoredEvent`]).

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, SubsecRound, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::identifier::{Name, StreamIdentifier};
use crate::json::Json;
use crate::tag::Tag;

/// An event to publish.
///
/// Every `NewEvent` has an id from the moment it is made (a time-ordered UUIDv7
/// unless you set one), so publishing the same value again after an error is an
/// idempotent retry. Timestamps are kept to the microsecond, the precision every
/// adapter stores.
///
/// ```
/// use eventblocks_core::NewEvent;
/// use serde_json::json;
///
/// let event = NewEvent::new("profile-created", &json!({"name": "Joe Bloggs"}))?
///     .with_metadata(&json!({"source": "signup-form"}))?;
/// assert_eq!(event.name(), "profile-created");
/// # Ok::<(), eventblocks_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    id: Uuid,
    name: Name,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    tags: BTreeSet<Tag>,
    payload: Json,
    metadata: Json,
    occurred_at: DateTime<Utc>,
    observed_at: DateTime<Utc>,
}

impl NewEvent {
    /// An event called `name` carrying `payload`, serialised with serde.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the name is invalid, or the payload does not
    /// serialise or is refused by [`Json`]'s rules (a NUL character, a key
    /// given twice, a number no backend can store exactly).
    pub fn new<T: Serialize + ?Sized>(name: &str, payload: &T) -> Result<Self> {
        Ok(Self::with_json(
            Name::new("event name", name)?,
            Json::to_json("payload", payload)?,
        ))
    }

    /// An event from an already validated name and payload.
    pub fn with_json(name: Name, payload: Json) -> Self {
        let (now, id) = now_and_id();
        Self {
            id,
            name,
            tags: BTreeSet::new(),
            payload,
            metadata: Json::empty_object(),
            occurred_at: now,
            observed_at: now,
        }
    }

    /// Sets the event's id (to make retries across processes idempotent, say).
    #[must_use]
    pub fn with_id(mut self, id: Uuid) -> Self {
        self.id = id;
        self
    }

    /// Sets the metadata, which must serialise to a JSON object.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `metadata` if it is not an object or is
    /// refused by [`Json`]'s rules.
    pub fn with_metadata<T: Serialize + ?Sized>(mut self, metadata: &T) -> Result<Self> {
        let metadata = Json::to_json("metadata", metadata)?;
        if !metadata.is_object() {
            return Err(Error::invalid("metadata", "must be a JSON object"));
        }
        self.metadata = metadata;
        Ok(self)
    }

    /// Adds `tag` to the event's tags, which consistency boundaries select
    /// events by (see [`Query`](crate::Query)).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `tag` for an invalid tag.
    pub fn tag(mut self, tag: impl AsRef<str>) -> Result<Self> {
        self.tags.insert(Tag::new(tag.as_ref().to_owned())?);
        Ok(self)
    }

    /// Adds `tag`, already validated, to the event's tags: for a tag
    /// reused across many events.
    ///
    /// ```
    /// use eventblocks_core::{NewEvent, Tag};
    ///
    /// let course = Tag::new("course:c1")?;
    /// let event = NewEvent::new("student-enrolled", &1)?.with_tag(course.clone());
    /// assert!(event.tag_set().contains(&course));
    /// # Ok::<(), eventblocks_core::Error>(())
    /// ```
    #[must_use]
    pub fn with_tag(mut self, tag: Tag) -> Self {
        self.tags.insert(tag);
        self
    }

    /// Adds every one of `tags` to the event's tags.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `tag` for an invalid tag.
    pub fn tags<S: AsRef<str>>(self, tags: impl IntoIterator<Item = S>) -> Result<Self> {
        tags.into_iter().try_fold(self, |event, tag| event.tag(tag))
    }

    /// Sets when the event happened in the world (defaults to `observed_at`).
    #[must_use]
    pub fn with_occurred_at(mut self, occurred_at: DateTime<Utc>) -> Self {
        self.occurred_at = occurred_at.trunc_subsecs(6);
        self
    }

    /// Sets when the system learned of the event (defaults to when the `NewEvent`
    /// was made). Also moves `occurred_at` if it had not been set apart from it.
    #[must_use]
    pub fn with_observed_at(mut self, observed_at: DateTime<Utc>) -> Self {
        let observed_at = observed_at.trunc_subsecs(6);
        if self.occurred_at == self.observed_at {
            self.occurred_at = observed_at;
        }
        self.observed_at = observed_at;
        self
    }

    /// The event's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The event's name.
    pub fn name(&self) -> &Name {
        &self.name
    }

    /// The event's tags, as a sorted set.
    pub fn tag_set(&self) -> &BTreeSet<Tag> {
        &self.tags
    }

    /// The JSON payload.
    pub fn payload(&self) -> &Json {
        &self.payload
    }

    /// The JSON metadata (an object).
    pub fn metadata(&self) -> &Json {
        &self.metadata
    }

    /// When the event happened in the world.
    pub fn occurred_at(&self) -> DateTime<Utc> {
        self.occurred_at
    }

    /// When the system learned of the event.
    pub fn observed_at(&self) -> DateTime<Utc> {
        self.observed_at
    }

    /// Checks what a `NewEvent` built through serde could have got wrong.
    pub(crate) fn validate(&self, index: usize) -> Result<()> {
        if self.id.is_nil() {
            return Err(Error::invalid(
                format!("events[{index}].id"),
                "must not be the nil UUID",
            ));
        }
        if !self.metadata.is_object() {
            return Err(Error::invalid(
                format!("events[{index}].metadata"),
                "must be a JSON object",
            ));
        }
        check_timestamp(index, "occurred_at", self.occurred_at)?;
        check_timestamp(index, "observed_at", self.observed_at)
    }

    /// Whether `stored` holds this event's content (its name, payload and
    /// metadata, tags; timestamps are not compared). Payload and metadata compare by
    /// value, numbers by exact value (see [`Json`]), so an event a backend
    /// gave back with numbers spelt differently is still the same event.
    pub fn has_same_content_as(&self, stored: &StoredEvent) -> bool {
        self.name == stored.name
            && self.tags == stored.tags
            && self.payload == stored.payload
            && self.metadata == stored.metadata
    }

    /// The event as stored at `position` of `stream` with `sequence_number`.
    pub fn into_stored(
        self,
        stream: StreamIdentifier,
        position: u64,
        sequence_number: u64,
    ) -> StoredEvent {
        StoredEvent {
            id: self.id,
            name: self.name,
            tags: self.tags,
            stream,
            position,
            sequence_number,
            payload: self.payload,
            metadata: self.metadata,
            occurred_at: self.occurred_at,
            observed_at: self.observed_at,
        }
    }
}

/// The current time to the microsecond, and a UUIDv7 for it, from one clock read.
fn now_and_id() -> (DateTime<Utc>, Uuid) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let micros = since_epoch.subsec_micros();
    let seconds = i64::try_from(since_epoch.as_secs()).unwrap_or(i64::MAX);
    let now = DateTime::from_timestamp(seconds, micros * 1000).unwrap_or_default();
    (now, monotonic_v7(since_epoch))
}

/// The last id's millisecond (high bits) and counter (low 12 bits).
static LAST_V7: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A UUIDv7 for `since_epoch` that sorts after every one made before it in this
/// process, on any thread: a 12-bit counter within the millisecond (which runs
/// into the next millisecond if it overflows, as RFC 9562 allows), then 62
/// random bits. Adapters can then tell a fresh id from a stored one by
/// comparing it with the greatest id they hold.
fn monotonic_v7(since_epoch: std::time::Duration) -> Uuid {
    use std::sync::atomic::Ordering;
    let millis = u64::try_from(since_epoch.as_millis())
        .unwrap_or(u64::MAX)
        .min((1 << 48) - 1);
    let floor = millis << 12;
    let previous = LAST_V7
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            Some(floor.max(last + 1))
        })
        .unwrap_or(floor);
    let state = floor.max(previous + 1);
    let mut bytes = Uuid::new_v4().into_bytes();
    bytes[..6].copy_from_slice(&(state >> 12).to_be_bytes()[2..]);
    let counter = state & 0xfff;
    bytes[6] = 0x70 | u8::try_from(counter >> 8).unwrap_or(0);
    bytes[7] = u8::try_from(counter & 0xff).unwrap_or(0);
    // Bytes 8 to 15 are v4's random bits, with the same variant as v7's.
    Uuid::from_bytes(bytes)
}

/// Timestamps every backend can store: the years 1 to 9999.
fn check_timestamp(index: usize, field: &str, value: DateTime<Utc>) -> Result<()> {
    if (1..=9999).contains(&value.year()) {
        return Ok(());
    }
    Err(Error::invalid(
        format!("events[{index}].{field}"),
        format!("{value} is outside the storable years 1 to 9999"),
    ))
}

/// An event as stored, with its place in its stream and in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// The event's unique id.
    pub id: Uuid,
    /// The event's name.
    pub name: Name,
    /// The event's tags, as a sorted set.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub tags: BTreeSet<Tag>,
    /// The stream (and so the category) the event belongs to.
    pub stream: StreamIdentifier,
    /// The event's place in its stream: 0-based and gapless.
    pub position: u64,
    /// The event's place in the whole log: strictly increasing in the order readers
    /// see events; may have gaps.
    pub sequence_number: u64,
    /// The JSON payload.
    pub payload: Json,
    /// The JSON metadata (an object).
    pub metadata: Json,
    /// When the event happened in the world.
    pub occurred_at: DateTime<Utc>,
    /// When the system learned of the event.
    pub observed_at: DateTime<Utc>,
}

impl StoredEvent {
    /// The category the event belongs to.
    pub fn category(&self) -> &Name {
        &self.stream.category
    }

    /// Deserialises the payload into `T`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] on `payload` if it does not fit `T`.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T> {
        self.payload.deserialize()
    }

    /// Deserialises the metadata into `T`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] if the metadata does not fit `T`.
    pub fn metadata_as<T: DeserializeOwned>(&self) -> Result<T> {
        self.metadata.deserialize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Created {
        name: String,
    }

    #[test]
    fn typed_payloads_round_trip() {
        let event = NewEvent::new("created", &Created { name: "Joe".into() }).unwrap();
        let stored = event.into_stored(StreamIdentifier::new("a", "b").unwrap(), 0, 1);
        assert_eq!(
            stored.payload_as::<Created>().unwrap(),
            Created { name: "Joe".into() }
        );
        assert!(stored
            .payload_as::<Vec<u8>>()
            .unwrap_err()
            .is_invalid_input());
    }

    #[test]
    fn defaults() {
        let event = NewEvent::new("created", &json!({})).unwrap();
        assert_eq!(event.occurred_at(), event.observed_at());
        assert_eq!(event.metadata().as_str(), "{}");
        assert_eq!(event.id().get_version_num(), 7);
        assert_ne!(
            event.id(),
            NewEvent::new("created", &json!({})).unwrap().id()
        );
    }

    #[test]
    fn ids_increase_across_threads() {
        let made: Vec<Vec<Uuid>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| (0..5000).map(|_| now_and_id().1).collect::<Vec<_>>()))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for ids in &made {
            assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
            assert!(ids
                .iter()
                .all(|id| id.get_version_num() == 7 && id.get_variant() == uuid::Variant::RFC4122));
        }
        let mut all: Vec<Uuid> = made.concat();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 20_000);
    }

    #[test]
    fn metadata_must_be_an_object() {
        let error = NewEvent::new("x", &1)
            .unwrap()
            .with_metadata(&[1])
            .unwrap_err();
        assert_eq!(error.to_string(), "invalid metadata: must be a JSON object");
    }

    #[test]
    fn timestamps_are_truncated_to_microseconds() {
        let t = Utc.timestamp_opt(1_700_000_000, 123_456_789).unwrap();
        let event = NewEvent::new("x", &1).unwrap().with_observed_at(t);
        assert_eq!(event.observed_at().timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(event.occurred_at(), event.observed_at());
    }

    #[test]
    fn validation_catches_nil_ids_and_far_timestamps() {
        let nil = NewEvent::new("x", &1).unwrap().with_id(Uuid::nil());
        assert!(nil
            .validate(0)
            .unwrap_err()
            .to_string()
            .contains("events[0].id"));
        let far = Utc.with_ymd_and_hms(12000, 1, 1, 0, 0, 0).unwrap();
        let late = NewEvent::new("x", &1).unwrap().with_occurred_at(far);
        assert!(late
            .validate(3)
            .unwrap_err()
            .to_string()
            .contains("events[3].occurred_at"));
    }
}
