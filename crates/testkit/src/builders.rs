//! Builders for events in tests: a valid event in one call, with whatever you
//! care about set explicitly.

use chrono::{DateTime, Utc};
use eventblocks_core::NewEvent;
use serde_json::{json, Value};
use uuid::Uuid;

/// Starts an event named `name` with payload `{"name": name}` and empty
/// metadata.
///
/// ```
/// use eventblocks_testkit::builders::event;
/// use serde_json::json;
///
/// let placed = event("order-placed").payload(json!({ "total": 42 })).build();
/// assert_eq!(placed.name().as_str(), "order-placed");
/// ```
pub fn event(name: &str) -> EventBuilder {
    EventBuilder {
        name: name.to_owned(),
        payload: json!({ "name": name }),
        metadata: None,
        id: None,
        occurred_at: None,
        tags: Vec::new(),
    }
}

/// `count` events named `name`, each with its index in the payload.
pub fn events(name: &str, count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|index| event(name).payload(json!({ "index": index })).build())
        .collect()
}

/// An event under construction; see [`event`].
#[derive(Debug, Clone)]
#[must_use]
pub struct EventBuilder {
    name: String,
    payload: Value,
    metadata: Option<Value>,
    id: Option<Uuid>,
    occurred_at: Option<DateTime<Utc>>,
    tags: Vec<String>,
}

impl EventBuilder {
    /// Sets the payload.
    pub fn payload(mut self, payload: Value) -> Self {
        self.payload = payload;
        self
    }

    /// Sets the metadata.
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.metadata = Some(metadata);
        self
    }

    /// Sets the event id.
    pub fn id(mut self, id: Uuid) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets when the event happened.
    pub fn occurred_at(mut self, occurred_at: DateTime<Utc>) -> Self {
        self.occurred_at = Some(occurred_at);
        self
    }

    /// Adds tags (kept as a set: order and repeats do not matter).
    ///
    /// ```
    /// use eventblocks_testkit::builders::event;
    ///
    /// let enrolled = event("student-enrolled").tags(["student:s1", "course:c1"]).build();
    /// let tags: Vec<&str> = enrolled.tag_set().iter().map(|tag| tag.as_str()).collect();
    /// assert_eq!(tags, ["course:c1", "student:s1"]);
    /// ```
    pub fn tags<S: Into<String>>(mut self, tags: impl IntoIterator<Item = S>) -> Self {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Builds the event.
    ///
    /// # Panics
    /// If the name, payload or metadata is invalid; use [`EventBuilder::try_build`]
    /// to test rejections.
    pub fn build(self) -> NewEvent {
        let name = self.name.clone();
        self.try_build()
            .unwrap_or_else(|error| panic!("event {name:?} is invalid: {error}"))
    }

    /// Builds the event, or says why it is invalid.
    ///
    /// # Errors
    /// What [`NewEvent::new`], [`NewEvent::with_metadata`] and
    /// [`NewEvent::tags`] reject.
    pub fn try_build(self) -> eventblocks_core::Result<NewEvent> {
        let mut event = NewEvent::new(&self.name, &self.payload)?.tags(&self.tags)?;
        if let Some(metadata) = &self.metadata {
            event = event.with_metadata(metadata)?;
        }
        if let Some(id) = self.id {
            event = event.with_id(id);
        }
        if let Some(occurred_at) = self.occurred_at {
            event = event.with_occurred_at(occurred_at);
        }
        Ok(event)
    }
}
