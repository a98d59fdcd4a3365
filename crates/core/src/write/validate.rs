//! The checks a save passes before any adapter sees it.

use std::collections::HashSet;

use uuid::Uuid;

use super::{SaveRequest, StreamWrite, MAX_EVENTS_PER_SAVE, MAX_SAVE_BYTES};
use crate::condition::WriteCondition;
use crate::error::{Error, Result};
use crate::identifier::StreamIdentifier;
use crate::limits::{Capabilities, Limits};

/// The structure of a save: streams, events, ids, positions.
pub(super) fn writes(writes: &[StreamWrite]) -> Result<()> {
    if writes.is_empty() {
        return Err(Error::invalid("writes", "a save needs at least one stream"));
    }
    let mut streams = HashSet::new();
    let mut ids = HashSet::new();
    for write in writes {
        check_write(write, &mut streams, &mut ids)?;
    }
    if ids.len() > MAX_EVENTS_PER_SAVE {
        return Err(Error::invalid(
            "events",
            format!(
                "a save of {} events is too large; at most {MAX_EVENTS_PER_SAVE} are accepted",
                ids.len()
            ),
        ));
    }
    Ok(())
}

pub(super) fn condition(field: &'static str, condition: &WriteCondition) -> Result<()> {
    condition.validate_positions(field)
}

fn check_write(
    write: &StreamWrite,
    streams: &mut HashSet<StreamIdentifier>,
    ids: &mut HashSet<Uuid>,
) -> Result<()> {
    if !streams.insert(write.stream.clone()) {
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
        if !ids.insert(event.id()) {
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
