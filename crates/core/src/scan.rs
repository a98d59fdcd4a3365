//! What to read: [`ScanQuery`] (built by callers) and [`ScanRequest`] (validated,
//! handed to adapters).

use crate::error::{Error, Result};
use crate::event::StoredEvent;
use crate::identifier::EventSourceIdentifier;
use crate::name_filter::{NameFilter, NamesWanted};

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
    before: Option<u64>,
    from_position: Option<u64>,
    direction: Direction,
    limit: Option<u64>,
    names: NamesWanted,
    exclude: NamesWanted,
    from_latest: Option<String>,
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

    /// Only events short of `sequence_number` in the scan's direction
    /// (exclusive): smaller when scanning forwards, greater when scanning
    /// backwards. With [`ScanQuery::after`], a window of the log.
    #[must_use]
    pub fn before(mut self, sequence_number: u64) -> Self {
        self.before = Some(sequence_number);
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

    /// Only events with one of these names (with [`ScanQuery::name_prefixes`],
    /// events matching either).
    #[must_use]
    pub fn names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.names.exact = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Only events whose names start with one of these prefixes (`"order-"`
    /// keeps `order-placed` and `order-shipped`).
    #[must_use]
    pub fn name_prefixes<S: Into<String>>(mut self, prefixes: impl IntoIterator<Item = S>) -> Self {
        self.names.prefixes = Some(prefixes.into_iter().map(Into::into).collect());
        self
    }

    /// Leaves out events with these names, even when
    /// [`ScanQuery::names`] or [`ScanQuery::name_prefixes`] keep them.
    #[must_use]
    pub fn exclude_names<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Self {
        self.exclude.exact = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Leaves out events whose names start with one of these prefixes.
    #[must_use]
    pub fn exclude_prefixes<S: Into<String>>(
        mut self,
        prefixes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.exclude.prefixes = Some(prefixes.into_iter().map(Into::into).collect());
        self
    }

    /// Starts at the latest event named `name` in the source (inclusive), or
    /// at the beginning if there is none: for a stream whose history since its
    /// last snapshot or reset is all that matters. Forwards scans only.
    #[must_use]
    pub fn from_latest(mut self, name: impl Into<String>) -> Self {
        self.from_latest = Some(name.into());
        self
    }

    /// Whether the scan runs newest first.
    pub(crate) fn is_backwards(&self) -> bool {
        self.direction == Direction::Backwards
    }

    /// The event name a scan starts from the latest of, if set.
    pub(crate) fn latest_name(&self) -> Option<&str> {
        self.from_latest.as_deref()
    }

    /// The same query without its start from the latest event of a name,
    /// bounded instead to start at `sequence_number` (inclusive).
    pub(crate) fn starting_at(mut self, sequence_number: Option<u64>) -> Self {
        self.from_latest = None;
        if let Some(first) = sequence_number {
            let bound = first.saturating_sub(1);
            self.after = Some(self.after.map_or(bound, |after| after.max(bound)));
        }
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
    before: Option<u64>,
    from_position: Option<u64>,
    direction: Direction,
    limit: Option<u64>,
    names: NameFilter,
}

impl ScanRequest {
    /// Validates `query` for `target`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a limit of 0, `from_position` on a log or
    /// category, an empty or invalid name filter, or a number beyond `i64::MAX`.
    /// A query starting from the latest event of a name is resolved by the
    /// store before it reaches an adapter; handed here directly it is refused.
    pub fn new(target: impl Into<EventSourceIdentifier>, query: ScanQuery) -> Result<Self> {
        let target = target.into();
        check_storable("after", query.after)?;
        check_storable("before", query.before)?;
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
        if query.from_latest.is_some() {
            return Err(Error::invalid(
                "from_latest",
                "is resolved by the store; adapters receive the sequence number it found",
            ));
        }
        let names = NameFilter {
            include: query.names.patterns("names", "name_prefixes")?,
            exclude: query
                .exclude
                .patterns("exclude_names", "exclude_prefixes")?,
        };
        Ok(Self {
            target,
            after: query.after,
            before: query.before,
            from_position: query.from_position,
            direction: query.direction,
            limit: query.limit,
            names,
        })
    }

    /// The source scanned.
    pub fn target(&self) -> &EventSourceIdentifier {
        &self.target
    }

    /// The exclusive sequence-number bound the scan starts beyond, in its
    /// direction.
    pub fn after(&self) -> Option<u64> {
        self.after
    }

    /// The exclusive sequence-number bound the scan stops short of, in its
    /// direction.
    pub fn before(&self) -> Option<u64> {
        self.before
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

    /// The event names kept and left out.
    pub fn names(&self) -> &NameFilter {
        &self.names
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
                .before
                .is_none_or(|before| beyond(event.sequence_number, before))
            && self
                .from_position
                .is_none_or(|from| from == event.position || beyond(from, event.position))
            && self.names.matches(&event.name)
    }

    /// Whether no event beyond `sequence_number` in the scan's direction can
    /// match: the scan has passed its `before` bound.
    pub fn is_past_end(&self, sequence_number: u64) -> bool {
        self.before.is_some_and(|before| match self.direction {
            Direction::Forwards => sequence_number >= before,
            Direction::Backwards => sequence_number <= before,
        })
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
