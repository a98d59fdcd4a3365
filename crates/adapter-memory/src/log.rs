//! The in-memory log: events in sequence order plus indexes by stream, category
//! and id. Everything here is synchronous; the adapter holds the lock only while
//! calling into it.

use chrono::{DateTime, Utc};
use eventblocks_core::{Error, Result};
use eventblocks_core::{
    EventSourceIdentifier, Json, Name, NewEvent, SaveFacts, SavePlan, SaveRequest, StoredEvent,
    StreamIdentifier, StreamState, Tag,
};
use rustc_hash::FxHashMap as HashMap;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// One stored event. The stream is an index into [`Log::streams`] and the name
/// is interned, so category and stream names are not repeated per event.
#[derive(Debug)]
pub(crate) struct Record {
    id: Uuid,
    pub(crate) name: Name,
    /// Sorted, as the event's set of tags.
    pub(crate) tags: Box<[Tag]>,
    pub(crate) stream: u32,
    position: u64,
    payload: Json,
    metadata: Json,
    occurred_at: DateTime<Utc>,
    observed_at: DateTime<Utc>,
}

#[derive(Debug)]
struct Stream {
    identifier: StreamIdentifier,
    /// The sequence number of the event at each position.
    sequence_numbers: Vec<u64>,
}

/// The events and indexes. An event's sequence number is its index in `events`
/// plus one, so that "after 0" means "from the start".
#[derive(Debug, Default)]
pub(crate) struct Log {
    events: Vec<Record>,
    streams: Vec<Stream>,
    stream_index: HashMap<StreamIdentifier, u32>,
    categories: HashMap<Name, Vec<u64>>,
    /// By id, for idempotent retries and the uniqueness of ids: the sequence
    /// numbers of the events whose id was greater than every id before it, in
    /// increasing order of id (time-ordered ids, the usual case, append here
    /// at the end, where the memory is already in cache)...
    ordered_ids: Vec<u64>,
    /// ... and the ids of the other events.
    other_ids: HashMap<Uuid, u64>,
    /// The event names in use, in order, for the catalogue.
    pub(crate) event_names: BTreeSet<Name>,
    /// Each category's streams by name, in order, for the catalogue.
    pub(crate) catalogue: BTreeMap<Name, BTreeMap<Name, u32>>,
    /// The sequence numbers of the events carrying each tag.
    pub(crate) by_tag: HashMap<Tag, Vec<u64>>,
    /// The sequence numbers of the events with each name.
    pub(crate) by_name: HashMap<Name, Vec<u64>>,
    /// The position each consumer last tracked.
    tracked: HashMap<Name, u64>,
}

/// The sequence numbers of one scan target, in increasing order.
pub(crate) enum Targeted<'a> {
    All(u64),
    Some(&'a [u64]),
}

impl Targeted<'_> {
    pub(crate) fn len(&self) -> usize {
        match self {
            Self::All(count) => usize::try_from(*count).unwrap_or(usize::MAX),
            Self::Some(list) => list.len(),
        }
    }

    pub(crate) fn get(&self, index: usize) -> u64 {
        match self {
            Self::All(_) => index as u64 + 1,
            Self::Some(list) => list[index],
        }
    }

    /// The index of the first sequence number greater than `bound`.
    pub(crate) fn first_after(&self, bound: u64) -> usize {
        match self {
            // Sequence numbers start at 1: the event at index i has number i + 1.
            Self::All(count) => usize::try_from(bound.min(*count)).unwrap_or(usize::MAX),
            Self::Some(list) => list.partition_point(|&sequence| sequence <= bound),
        }
    }
}

impl Log {
    /// The number of events stored, which is also the last sequence number
    /// (sequence numbers start at 1).
    pub(crate) fn len(&self) -> u64 {
        self.events.len() as u64
    }

    /// The sequence numbers of `target`'s events.
    pub(crate) fn targeted(&self, target: &EventSourceIdentifier) -> Targeted<'_> {
        match target {
            EventSourceIdentifier::Log(_) => Targeted::All(self.len()),
            EventSourceIdentifier::Category(category) => Targeted::Some(
                self.categories
                    .get(&category.category)
                    .map_or(&[], Vec::as_slice),
            ),
            EventSourceIdentifier::Stream(stream) => {
                Targeted::Some(self.stream_index.get(stream).map_or(&[], |&index| {
                    self.streams[index as usize].sequence_numbers.as_slice()
                }))
            }
        }
    }

    /// The record of the event with `sequence_number`.
    pub(crate) fn record(&self, sequence_number: u64) -> &Record {
        let index = sequence_number
            .checked_sub(1)
            .expect("sequence numbers start at 1");
        &self.events[usize::try_from(index).unwrap_or(usize::MAX)]
    }

    /// The category of stream slot `stream`.
    pub(crate) fn category_of(&self, stream: u32) -> &Name {
        &self.streams[stream as usize].identifier.category
    }

    /// The position `consumer` last tracked.
    pub(crate) fn tracked(&self, consumer: &Name) -> Option<u64> {
        self.tracked.get(consumer).copied()
    }

    /// The event with `sequence_number`, as callers see it.
    pub(crate) fn stored(&self, sequence_number: u64) -> StoredEvent {
        let record = self.record(sequence_number);
        StoredEvent {
            id: record.id,
            name: record.name.clone(),
            tags: record.tags.iter().cloned().collect(),
            stream: self.streams[record.stream as usize].identifier.clone(),
            position: record.position,
            sequence_number,
            payload: record.payload.clone(),
            metadata: record.metadata.clone(),
            occurred_at: record.occurred_at,
            observed_at: record.observed_at,
        }
    }

    /// Carries out a save: plans it with core's shared rules, then appends.
    pub(crate) fn save(&mut self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        let states: Vec<StreamState> = request
            .writes()
            .iter()
            .map(|write| self.stream_state(&write.stream))
            .collect();
        let already = self.stored_with_ids(&request);
        let matches: Vec<Option<u64>> = request
            .checks()
            .iter()
            .map(|check| self.first_match(check))
            .collect();
        let tracked = request
            .tracking()
            .and_then(|tracking| self.tracked(&tracking.consumer));
        let facts = SaveFacts::new(&states, &already)
            .with_matches(&matches)
            .with_tracked(tracked);
        match request.plan(facts)? {
            SavePlan::AlreadyStored(events) => Ok(events),
            SavePlan::AlreadyTracked => Ok(Vec::new()),
            SavePlan::Append(_) => {
                if let Some(tracking) = request.tracking() {
                    self.tracked
                        .insert(tracking.consumer.clone(), tracking.position);
                }
                self.append(request)
            }
        }
    }

    /// The stored events that have one of the request's ids.
    fn stored_with_ids(&self, request: &SaveRequest) -> Vec<StoredEvent> {
        // Fresh UUIDv7 ids sort after every stored one: then none can be stored
        // and the lookups are skipped.
        let newest = self.newest_id();
        if request
            .event_ids()
            .all(|id| newest.is_none_or(|newest| id > newest))
        {
            return Vec::new();
        }
        request
            .event_ids()
            .filter_map(|id| self.sequence_of(id).map(|sequence| self.stored(sequence)))
            .collect()
    }

    /// The greatest id stored.
    fn newest_id(&self) -> Option<Uuid> {
        self.ordered_ids
            .last()
            .map(|&sequence| self.record(sequence).id)
    }

    /// The sequence number of the event with `id`, if one is stored.
    fn sequence_of(&self, id: Uuid) -> Option<u64> {
        if self.newest_id().is_none_or(|newest| id > newest) {
            return None;
        }
        match self
            .ordered_ids
            .binary_search_by(|&sequence| self.record(sequence).id.cmp(&id))
        {
            Ok(index) => Some(self.ordered_ids[index]),
            Err(_) => self.other_ids.get(&id).copied(),
        }
    }

    /// Indexes the id of the event at `sequence_number`.
    fn index_id(&mut self, id: Uuid, sequence_number: u64) {
        if self.newest_id().is_none_or(|newest| id > newest) {
            self.ordered_ids.push(sequence_number);
        } else {
            self.other_ids.insert(id, sequence_number);
        }
    }

    /// The number of events in stream slot `stream`.
    pub(crate) fn stream_length(&self, stream: u32) -> u64 {
        self.streams[stream as usize].sequence_numbers.len() as u64
    }

    /// The slot of `stream`, if it holds events.
    pub(crate) fn stream_slot_of(&self, stream: &StreamIdentifier) -> Option<u32> {
        self.stream_index.get(stream).copied()
    }

    fn stream_state(&self, stream: &StreamIdentifier) -> StreamState {
        let Some(&index) = self.stream_index.get(stream) else {
            return StreamState::new(None);
        };
        let sequence_numbers = &self.streams[index as usize].sequence_numbers;
        let last_id = sequence_numbers
            .last()
            .map(|&sequence| self.record(sequence).id);
        let last = sequence_numbers.len().checked_sub(1);
        StreamState::new(last.map(|position| position as u64)).with_last_event_id(last_id)
    }

    fn append(&mut self, request: SaveRequest) -> Result<Vec<StoredEvent>> {
        let mut stored = Vec::with_capacity(request.event_count());
        for write in request.into_writes() {
            let stream = self.stream_slot(write.stream)?;
            self.append_to(stream, write.events, &mut stored);
        }
        Ok(stored)
    }

    fn stream_slot(&mut self, identifier: StreamIdentifier) -> Result<u32> {
        if let Some(&index) = self.stream_index.get(&identifier) {
            return Ok(index);
        }
        let index = u32::try_from(self.streams.len()).map_err(|_| {
            Error::invalid("stream", "the in-memory adapter holds at most 2^32 streams")
        })?;
        self.stream_index.insert(identifier.clone(), index);
        self.catalogue
            .entry(identifier.category.clone())
            .or_default()
            .insert(identifier.stream.clone(), index);
        self.streams.push(Stream {
            identifier,
            sequence_numbers: Vec::new(),
        });
        Ok(index)
    }

    /// Appends a write's events to stream slot `stream`; the per-write index
    /// updates are made once for the whole batch.
    fn append_to(&mut self, stream: u32, events: Vec<NewEvent>, stored: &mut Vec<StoredEvent>) {
        let first_sequence = self.len() + 1;
        let sequence_numbers = first_sequence..first_sequence + events.len() as u64;
        let entry = &mut self.streams[stream as usize];
        let first_position = entry.sequence_numbers.len() as u64;
        entry.sequence_numbers.extend(sequence_numbers.clone());
        let identifier = entry.identifier.clone();
        self.categories
            .entry(identifier.category.clone())
            .or_default()
            .extend(sequence_numbers);
        self.events.reserve(events.len());
        let mut name = Option::<Name>::None;
        for (offset, event) in (0_u64..).zip(events) {
            let sequence_number = first_sequence + offset;
            let position = first_position + offset;
            self.index_id(event.id(), sequence_number);
            if name.as_ref() != Some(event.name()) {
                name = Some(self.intern(event.name()));
            }
            let tags: Box<[Tag]> = event.tag_set().iter().cloned().collect();
            self.index(sequence_number, event.name(), &tags);
            self.events.push(Record {
                id: event.id(),
                name: name.clone().unwrap_or_else(|| event.name().clone()),
                tags,
                stream,
                position,
                payload: event.payload().clone(),
                metadata: event.metadata().clone(),
                occurred_at: event.occurred_at(),
                observed_at: event.observed_at(),
            });
            stored.push(event.into_stored(identifier.clone(), position, sequence_number));
        }
    }

    /// Records the event at `sequence_number` in the name and tag indexes.
    fn index(&mut self, sequence_number: u64, name: &Name, tags: &[Tag]) {
        match self.by_name.get_mut(name) {
            Some(list) => list.push(sequence_number),
            None => {
                self.by_name.insert(name.clone(), vec![sequence_number]);
            }
        }
        for tag in tags {
            self.by_tag
                .entry(tag.clone())
                .or_default()
                .push(sequence_number);
        }
    }

    fn intern(&mut self, name: &Name) -> Name {
        if let Some(interned) = self.event_names.get(name.as_str()) {
            return interned.clone();
        }
        self.event_names.insert(name.clone());
        name.clone()
    }
}
