//! Write conditions: what must hold of a stream for a write to go ahead.

use std::fmt;
use std::ops::{BitAnd, BitOr};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::identifier::StreamIdentifier;

/// The state of a stream that conditions are checked against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct StreamState {
    /// The position of the stream's last event; `None` when the stream is empty.
    pub last_position: Option<u64>,
}

impl StreamState {
    /// The state of a stream whose last event is at `last_position`.
    pub fn new(last_position: Option<u64>) -> Self {
        Self { last_position }
    }

    /// The position the next event appended to the stream takes.
    pub fn next_position(&self) -> u64 {
        self.last_position.map_or(0, |position| position + 1)
    }
}

/// A condition checked atomically with a write; when it does not hold, nothing is
/// written and the write fails with [`Error::UnmetCondition`].
///
/// Combine conditions with [`WriteCondition::and`] / [`WriteCondition::or`] or the
/// `&` and `|` operators:
///
/// ```
/// use eventblocks_core::{StreamState, WriteCondition};
///
/// let condition = WriteCondition::StreamIsEmpty | WriteCondition::PositionIs(Some(0));
/// assert!(condition.is_met_by(&StreamState::new(None)));
/// assert!(condition.is_met_by(&StreamState::new(Some(0))));
/// assert!(!condition.is_met_by(&StreamState::new(Some(1))));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WriteCondition {
    /// Always holds.
    #[default]
    NoCondition,
    /// The stream's last position is exactly this (`None`: the stream is empty).
    PositionIs(Option<u64>),
    /// The stream has no events.
    StreamIsEmpty,
    /// Both conditions hold.
    And(Box<WriteCondition>, Box<WriteCondition>),
    /// At least one of the conditions holds.
    Or(Box<WriteCondition>, Box<WriteCondition>),
}

impl WriteCondition {
    /// This condition and `other`.
    #[must_use]
    pub fn and(self, other: WriteCondition) -> WriteCondition {
        WriteCondition::And(Box::new(self), Box::new(other))
    }

    /// This condition or `other`.
    #[must_use]
    pub fn or(self, other: WriteCondition) -> WriteCondition {
        WriteCondition::Or(Box::new(self), Box::new(other))
    }

    /// Whether the condition holds for a stream in `state`.
    ///
    /// This is the one evaluation every adapter uses, so they all decide alike.
    pub fn is_met_by(&self, state: &StreamState) -> bool {
        match self {
            Self::NoCondition => true,
            Self::PositionIs(position) => state.last_position == *position,
            Self::StreamIsEmpty => state.last_position.is_none(),
            Self::And(left, right) => left.is_met_by(state) && right.is_met_by(state),
            Self::Or(left, right) => left.is_met_by(state) || right.is_met_by(state),
        }
    }

    /// Checks the condition for `stream` in `state`.
    ///
    /// # Errors
    /// [`Error::UnmetCondition`] carrying the condition and the state found.
    pub fn check(&self, stream: &StreamIdentifier, state: &StreamState) -> Result<()> {
        if self.is_met_by(state) {
            return Ok(());
        }
        Err(Error::UnmetCondition {
            stream: stream.clone(),
            expected: self.clone(),
            found: state.last_position,
        })
    }

    /// Rejects positions no backend can store (beyond `i64::MAX`).
    pub(crate) fn validate(&self, field: &'static str) -> Result<()> {
        match self {
            Self::PositionIs(Some(position)) if i64::try_from(*position).is_err() => {
                Err(Error::invalid(
                    field,
                    format!(
                        "position {position} is larger than the largest storable position {}",
                        i64::MAX
                    ),
                ))
            }
            Self::And(left, right) | Self::Or(left, right) => {
                left.validate(field)?;
                right.validate(field)
            }
            Self::NoCondition | Self::StreamIsEmpty | Self::PositionIs(_) => Ok(()),
        }
    }

    /// A stream state that meets the condition, read off the positions it
    /// names (an empty stream first, then each named position in turn);
    /// `None` when none of them meets it.
    ///
    /// Adapters that write optimistically, in one round trip, use it as their
    /// guess of the state they will find, and decide again from the real state
    /// when the guess was wrong.
    pub fn likely_state(&self) -> Option<StreamState> {
        let mut candidates = vec![None];
        self.named_positions(&mut candidates);
        candidates
            .into_iter()
            .map(StreamState::new)
            .find(|state| self.is_met_by(state))
    }

    fn named_positions(&self, into: &mut Vec<Option<u64>>) {
        match self {
            Self::PositionIs(position) => into.push(*position),
            Self::And(left, right) | Self::Or(left, right) => {
                left.named_positions(into);
                right.named_positions(into);
            }
            Self::NoCondition | Self::StreamIsEmpty => {}
        }
    }
}

impl BitAnd for WriteCondition {
    type Output = WriteCondition;
    fn bitand(self, other: WriteCondition) -> WriteCondition {
        self.and(other)
    }
}

impl BitOr for WriteCondition {
    type Output = WriteCondition;
    fn bitor(self, other: WriteCondition) -> WriteCondition {
        self.or(other)
    }
}

impl fmt::Display for WriteCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoCondition => f.write_str("no condition"),
            Self::PositionIs(None) => f.write_str("position is none (an empty stream)"),
            Self::PositionIs(Some(position)) => write!(f, "position is {position}"),
            Self::StreamIsEmpty => f.write_str("stream is empty"),
            Self::And(left, right) => write!(f, "({left} and {right})"),
            Self::Or(left, right) => write!(f, "({left} or {right})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use WriteCondition::*;

    const EMPTY: StreamState = StreamState {
        last_position: None,
    };
    const AT_2: StreamState = StreamState {
        last_position: Some(2),
    };

    #[test]
    fn leaf_conditions() {
        assert!(NoCondition.is_met_by(&EMPTY) && NoCondition.is_met_by(&AT_2));
        assert!(StreamIsEmpty.is_met_by(&EMPTY) && !StreamIsEmpty.is_met_by(&AT_2));
        assert!(PositionIs(None).is_met_by(&EMPTY) && !PositionIs(None).is_met_by(&AT_2));
        assert!(PositionIs(Some(2)).is_met_by(&AT_2) && !PositionIs(Some(1)).is_met_by(&AT_2));
    }

    #[test]
    fn combinators() {
        assert!(!(StreamIsEmpty & PositionIs(Some(2))).is_met_by(&AT_2));
        assert!((StreamIsEmpty | PositionIs(Some(2))).is_met_by(&AT_2));
        assert!((NoCondition & PositionIs(Some(2))).is_met_by(&AT_2));
        assert!(!(StreamIsEmpty | PositionIs(Some(5))).is_met_by(&AT_2));
    }

    #[test]
    fn check_reports_expected_and_found() {
        let stream = StreamIdentifier::new("a", "b").unwrap();
        let error = StreamIsEmpty.check(&stream, &AT_2).unwrap_err();
        assert!(matches!(
            error,
            Error::UnmetCondition {
                found: Some(2),
                expected: StreamIsEmpty,
                ..
            }
        ));
    }

    #[test]
    fn positions_beyond_i64_are_invalid() {
        let condition = StreamIsEmpty | PositionIs(Some(u64::MAX));
        assert!(condition
            .validate("condition")
            .unwrap_err()
            .is_invalid_input());
        assert!(PositionIs(Some(i64::MAX as u64))
            .validate("condition")
            .is_ok());
    }
}
