//! The checks a save passes before any adapter sees it.

use std::collections::HashSet;

use uuid::Uuid;

use super::{SaveRequest, StreamWrite, MAX_EVENTS_PER_SAVE, MAX_SAVE_BYTES};
use crate::condition::WriteCondition;
use crate::error::{Error, Result};
use crate::event::NewEvent;
use crate::identifier::StreamIdentifier;
use crate::limits::{Capabilities, Limits};

/// The structure of a save: streams, events, ids, positions.
pub(super) fn writes(writes: &[StreamWrite]) -> Result<()> {
    if writes.is_empty() {
        return Err(Error::invalid("writes", "a save needs at least one stream"));
    }
    if writes.len() == 1 && !has_repeated_id(&writes[0].events) {
        // The common save, checked without building sets: one stream, whose
        // ids are all different.
        let write = &writes[0];
        check_write(write, &mut None, &mut None)?;
        return check_count(write.events.len());
    }
    let mut streams = HashSet::new();
    let mut ids = HashSet::new();
    for write in writes {
        check_write(write, &mut Some(&mut streams), &mut Some(&mut ids))?;
    }
    check_count(ids.len())
}

/// Whether some id appears twice among `events`.
fn has_repeated_id(events: &[NewEvent]) -> bool {
    if events.len() <= 16 {
        return events.iter().enumerate().any(|(index, event)| {
            events[..index]
                .iter()
                .any(|earlier| earlier.id() == event.id())
        });
    }
    let mut ids: Vec<Uuid> = events.iter().map(NewEvent::id).collect();
    // Fresh ids are made in increasing order: the sort is then one pass.
    ids.sort_unstable();
    ids.windows(2).any(|pair| pair[0] == pair[1])
}

fn check_count(events: usize) -> Result<()> {
    if events > MAX_EVENTS_PER_SAVE {
        return Err(Error::invalid(
            "events",
            format!(
                "a save of {events} events is too large; at most {MAX_EVENTS_PER_SAVE} are accepted"
            ),
        ));
    }
    Ok(())
}

pub(super) fn condition(field: &'static str, condition: &WriteCondition) -> Result<()> {
    condition.validate_positions(field)
}

/// Checks one write; `streams` and `ids`, when given, collect what the
/// writes before it used, to refuse a stream or an id given twice.
fn check_write(
    write: &StreamWrite,
    streams: &mut Option<&mut HashSet<StreamIdentifier>>,
    ids: &mut Option<&mut HashSet<Uuid>>,
) -> Result<()> {
    if streams
        .as_mut()
        .is_some_and(|streams| !streams.insert(write.stream.clone()))
    {
        return Err(Error::invalid(
            "writes",
            format!("stream {} appears more than once", write.stream),
        ));
    }
    if write.events.is_empty() {
        return Err(Error::invalid(
            "events",
            "a publish needs at least one event",
        ));
    }
    condition("condition", &write.condition)?;
    for (index, event) in write.events.iter().enumerate() {
        event.validate(index)?;
        if ids.as_mut().is_some_and(|ids| !ids.insert(event.id())) {
            return Err(Error::invalid(
                format!("events[{index}].id"),
                format!("event id {} appears more than once in one save", event.id()),
            ));
        }
    }
    Ok(())
}

/// The sizes of a save against an adapter's limits.
pub(super) fn limits(request: &SaveRequest, limits: &Limits) -> Result<()> {
    let max_event_bytes = limits.max_event_bytes;
    let mut total = 0;
    for write in request.writes() {
        write.condition.check_queries("condition", limits)?;
        for (index, event) in write.events.iter().enumerate() {
            let size = event.payload().as_str().len() + event.metadata().as_str().len();
            total += size;
            if size > max_event_bytes {
                return Err(Error::invalid(
                    format!("events[{index}]"),
                    format!(
                        "the event for stream {} is {size} bytes of payload and metadata \
                         together; at most {max_event_bytes} are accepted",
                        write.stream
                    ),
                ));
            }
            let tags = event.tag_set().len();
            if tags > limits.max_tags_per_event {
                return Err(Error::invalid(
                    format!("events[{index}].tags"),
                    format!(
                        "the event for stream {} has {tags} tags; at most {} are accepted",
                        write.stream, limits.max_tags_per_event
                    ),
                ));
            }
        }
    }
    request.condition().check_queries("condition", limits)?;
    let max_save_bytes = MAX_SAVE_BYTES.max(max_event_bytes);
    if total > max_save_bytes {
        return Err(Error::invalid(
            "events",
            format!(
                "the save holds {total} bytes of payload and metadata; at most \
                 {max_save_bytes} are accepted in one save"
            ),
        ));
    }
    Ok(())
}

/// What a save needs of its adapter, and where its heads come from.
pub(super) fn capabilities(
    request: &SaveRequest,
    capabilities: &Capabilities,
    store_id: u64,
) -> Result<()> {
    let conditions = std::iter::once(request.condition())
        .chain(request.writes().iter().map(|write| &write.condition));
    let mut heads = Vec::new();
    let mut needs_boundaries = request.tracking().is_some() || request.spans_categories();
    for condition in conditions {
        needs_boundaries |= condition.needs_boundaries();
        condition.heads(&mut heads);
    }
    if needs_boundaries && !capabilities.boundaries {
        return Err(Error::Unsupported {
            what: "query conditions, last-event-id conditions, saves spanning categories and \
                   tracked publishes (consistency boundaries)"
                .into(),
        });
    }
    for head in heads {
        head.frontier_in(store_id, "condition")?;
    }
    Ok(())
}
