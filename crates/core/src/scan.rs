//! What to read: [`ScanQuery`] (built by callers) and [`ScanRequest`] (validated,
//! handed to adapters).

use crate::error::{Error, Result};
use crate::event::StoredEvent;
use crate::identifier::{EventSourceIdentifier, Name};

/// Which way a scan runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Oldest first: increasing sequence numbers and positions.
    #[default]
    Forwards,
    /// Newest first.
    Backwards,
}

/// Options for a scan; every option is off by default (the whole source, oldest
/// first).
///
/// ```
/// use eventblocks_core::ScanQuery;
///
/// // Resume a log reader after the last sequence number it processed.
/// let query = ScanQuery::new().after(41).limit(100).names(["order-placed"]);
/// # let _ = query;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanQuery {
    after: Option<u64>,
    from_position: Option<u64>,
    direction: Direction,
    limit: Option<u64>,
    names: Option<Vec<String>>,
}

impl ScanQuery {
    /// The whole source, oldest first.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only events beyond `sequence_number` in the scan's direction (exclusive):
    /// greater when scanning forwards, smaller when scanning backwards.
    #[must_use]
    pub fn after(mut self, sequence_number: u64) -> Self {
        self.after = Some(sequence_number);
        self
    }

    /// Only events of the stream from `position` in the scan's direction
    /// (inclusive). Only for stream scans.
    #[must_use]
    pub fn from_position(mut self, position: u64) -> Self {
        self.from_position = Some(position);
        self
    }

    /// Newest first.
    #[must_use]
    pub fn backwards(mut self) -> Self {
        self.direction = Direction::Backwards;
        self
    }

    /// At most `limit` events (at least 1).
    #[must_use]
    pub fn limit(mut self, limit: u64) -> Self {
        self.limit = Some(limit);
        self
    }

    /// Only events with one of these names.
    #[must_use]
    pub fn names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.names = Some(names.into_iter().map(Into::into).collect());
        self
    }
}

/// A validated scan of one source, as adapters receive it.
///
/// # Contract
/// An adapter returns exactly the events of [`ScanRequest::target`] for which
/// [`ScanRequest::matches`] holds, ordered by sequence number (for a stream, the
/// same as by position) in [`ScanRequest::direction`], at most
/// [`ScanRequest::limit`] of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanRequest {
    target: EventSourceIdentifier,
    after: Option<u64>,
    from_position: Option<u64>,
    direction: Direction,
    limit: Option<u64>,
    names: Option<Vec<Name>>,
}

impl ScanRequest {
    /// Validates `query` for `target`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a limit of 0, `from_position` on a log or
    /// category, an empty or invalid name filter, or a number beyond `i64::MAX`.
    pub fn new(target: impl Into<EventSourceIdentifier>, query: ScanQuery) -> Result<Self> {
        let target = target.into();
        check_storable("after", query.after)?;
        check_storable("from_position", query.from_position)?;
        if query.limit == Some(0) {
            return Err(Error::invalid("limit", "must be at least 1"));
        }
        if query.from_position.is_some() && !matches!(target, EventSourceIdentifier::Stream(_)) {
            return Err(Error::invalid(
                "from_position",
                format!("applies to stream scans only, not to {target}"),
            ));
        }
        Ok(Self {
            target,
            after: query.after,
            from_position: query.from_position,
            direction: query.direction,
            limit: query.limit,
            names: query.names.map(validate_names).transpose()?,
        })
    }

    /// The source scanned.
    pub fn target(&self) -> &EventSourceIdentifier {
        &self.target
    }

    /// The exclusive sequence-number bound in the scan's direction.
    pub fn after(&self) -> Option<u64> {
        self.after
    }

    /// The inclusive position bound in the scan's direction (stream scans only).
    pub fn from_position(&self) -> Option<u64> {
        self.from_position
    }

    /// Which way the scan runs.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// The most events to return.
    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    /// The event names to keep, if filtered.
    pub fn names(&self) -> Option<&[Name]> {
        self.names.as_deref()
    }

    /// Whether `event` passes the bounds and the name filter (the target is not
    /// checked).
    pub fn matches(&self, event: &StoredEvent) -> bool {
        let forwards = self.direction == Direction::Forwards;
        let beyond = |bound: u64, value: u64| {
            if forwards {
                value > bound
            } else {
                value < bound
            }
        };
        self.after
            .is_none_or(|after| beyond(after, event.sequence_number))
            && self
                .from_position
                .is_none_or(|from| from == event.position || beyond(from, event.position))
            && self
                .names
                .as_ref()
                .is_none_or(|names| names.contains(&event.name))
    }
}

fn check_storable(field: &'static str, value: Option<u64>) -> Result<()> {
    match value {
        Some(value) if i64::try_from(value).is_err() => Err(Error::invalid(
            field,
            format!(
                "{value} is larger than the largest storable number {}",
                i64::MAX
            ),
        )),
        _ => Ok(()),
    }
}

fn validate_names(names: Vec<String>) -> Result<Vec<Name>> {
    if names.is_empty() {
        return Err(Error::invalid(
            "names",
            "an event-name filter needs at least one name",
        ));
    }
    names
        .into_iter()
        .map(|name| Name::new("names", name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identifier::{LogIdentifier, StreamIdentifier};
    use crate::NewEvent;

    fn stored(position: u64, sequence_number: u64) -> StoredEvent {
        let stream = StreamIdentifier::new("a", "b").unwrap();
        NewEvent::new("x", &1)
            .unwrap()
            .into_stored(stream, position, sequence_number)
    }

    #[test]
    fn rejects_invalid_queries() {
        let error = |query| {
            ScanRequest::new(LogIdentifier, query)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            error(ScanQuery::new().limit(0)),
            "invalid limit: must be at least 1"
        );
        assert!(error(ScanQuery::new().from_position(1)).contains("stream scans only"));
        assert!(error(ScanQuery::new().names(Vec::<String>::new())).contains("at least one name"));
        assert!(error(ScanQuery::new().names([""])).contains("names"));
        assert!(error(ScanQuery::new().after(u64::MAX)).contains("largest storable"));
    }

    #[test]
    fn bounds_follow_the_direction() {
        let forwards = ScanRequest::new(LogIdentifier, ScanQuery::new().after(5)).unwrap();
        assert!(forwards.matches(&stored(0, 6)) && !forwards.matches(&stored(0, 5)));
        let backwards =
            ScanRequest::new(LogIdentifier, ScanQuery::new().after(5).backwards()).unwrap();
        assert!(backwards.matches(&stored(0, 4)) && !backwards.matches(&stored(0, 5)));
        let stream = StreamIdentifier::new("a", "b").unwrap();
        let from = ScanRequest::new(stream, ScanQuery::new().from_position(2).backwards()).unwrap();
        assert!(
            from.matches(&stored(2, 9))
                && from.matches(&stored(1, 8))
                && !from.matches(&stored(3, 10))
        );
    }
}
