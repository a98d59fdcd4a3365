//! The catalogue, from the ordered indexes the log keeps as it saves.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;

use eventblocks_core::{
    CatalogueRequest, CategoryIdentifier, Name, StreamIdentifier, StreamSummary,
};

use crate::log::Log;

/// The bounds of `request` on an index ordered by name.
fn bounds(request: &CatalogueRequest) -> (Bound<String>, Bound<String>) {
    let range = request.range();
    let lower = if range.inclusive {
        Bound::Included(range.lower)
    } else {
        Bound::Excluded(range.lower)
    };
    (lower, range.upper.map_or(Bound::Unbounded, Bound::Excluded))
}

/// The keys of `map` that `request` selects.
fn keys<V>(map: &BTreeMap<Name, V>, request: &CatalogueRequest) -> Vec<Name> {
    let (lower, upper) = bounds(request);
    map.range::<str, _>((as_str(&lower), as_str(&upper)))
        .take(request.limit())
        .map(|(key, _)| key.clone())
        .collect()
}

fn as_str(bound: &Bound<String>) -> Bound<&str> {
    match bound {
        Bound::Included(text) => Bound::Included(text.as_str()),
        Bound::Excluded(text) => Bound::Excluded(text.as_str()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

pub(crate) fn categories(log: &Log, request: &CatalogueRequest) -> Vec<CategoryIdentifier> {
    keys(&log.catalogue, request)
        .into_iter()
        .map(|category| CategoryIdentifier { category })
        .collect()
}

pub(crate) fn streams(
    log: &Log,
    category: &CategoryIdentifier,
    request: &CatalogueRequest,
) -> Vec<StreamSummary> {
    let Some(streams) = log.catalogue.get(&category.category) else {
        return Vec::new();
    };
    let (lower, upper) = bounds(request);
    streams
        .range::<str, _>((as_str(&lower), as_str(&upper)))
        .take(request.limit())
        .map(|(stream, &slot)| {
            let identifier = StreamIdentifier {
                category: category.category.clone(),
                stream: stream.clone(),
            };
            StreamSummary::new(identifier, log.stream_length(slot).saturating_sub(1))
        })
        .collect()
}

pub(crate) fn event_names(names: &BTreeSet<Name>, request: &CatalogueRequest) -> Vec<Name> {
    let (lower, upper) = bounds(request);
    names
        .range::<str, _>((as_str(&lower), as_str(&upper)))
        .take(request.limit())
        .cloned()
        .collect()
}

pub(crate) fn stream(log: &Log, stream: &StreamIdentifier) -> Option<StreamSummary> {
    let slot = log.stream_slot_of(stream)?;
    let last = log.stream_length(slot).checked_sub(1)?;
    Some(StreamSummary::new(stream.clone(), last))
}
