//! The size of a pattern: the estimate that [the `query` module's resource
//! limits](crate::query#resource-limits) bound, where their reasons are
//! written down (the anchors refused are [`anchors`]' part).
//!
//! The estimate follows how PostgreSQL builds its automaton (`parseqatom` and
//! `repeat` in `regcomp.c`, `fixempties` in `regc_nfa.c`): every construct is
//! a part between an entry and an exit state, counted repetitions are built
//! copy by copy as `repeat` does, anchors count as transitions that may also
//! be passed like empty ones (PostgreSQL moves them through the states after
//! them much as it removes empty transitions), and each pair of states joined
//! by empty transitions costs one plus the transitions into its first state,
//! which removing the empty transitions copies. Where it is unsure it errs
//! high (nested loops PostgreSQL collapses, pieces of characters that share a
//! color); the PostgreSQL adapter's `patterns` test measures it against
//! PostgreSQL.

use super::anchors;
use super::colors::Colors;
use super::lower::{Node, Refusal};
use super::MAX_PATTERN_SIZE;

/// Refuses a pattern PostgreSQL could not compile and match promptly.
pub(super) fn check(node: &Node) -> Result<(), Refusal> {
    anchors::check(node)?;
    let size = size(node);
    if size > MAX_PATTERN_SIZE {
        return Err(format!(
            "is too complex: PostgreSQL's automaton for it would have about {size} states \
             and transitions, more than {MAX_PATTERN_SIZE} (counted repetitions are \
             expanded, and parts that may be skipped multiply with what follows them)"
        ));
    }
    Ok(())
}

/// The estimate [`check`] bounds.
pub(super) fn size(node: &Node) -> u64 {
    let colors = Colors::of(node);
    Cost::of(node, &colors).total()
}

/// A part of the automaton, from an entry state to an exit state (the entry
/// has no transitions in from the part, the exit none out: PostgreSQL's
/// construction keeps them so). Pairs of states joined by empty transitions
/// are counted with the transitions removing them copies.
#[derive(Debug, Clone, Copy)]
struct Cost {
    /// States, the entry and the exit included.
    states: u64,
    /// Transitions that read a character or check an anchor.
    transitions: u64,
    /// For each pair of states other than the entry joined by empty
    /// transitions: one, plus the transitions into the first state.
    pairs: u64,
    /// The states the entry reaches by empty transitions.
    from_entry: u64,
    /// For each state other than the entry and exit that reaches the exit by
    /// empty transitions: one, plus the transitions into it.
    to_exit: u64,
    /// The transitions into the exit.
    into_exit: u64,
    /// The entry reaches the exit by empty transitions.
    skippable: bool,
}

/// `a + b`, saturating: estimates only ever need to exceed the limit.
fn add(a: u64, b: u64) -> u64 {
    a.saturating_add(b)
}

fn mul(a: u64, b: u64) -> u64 {
    a.saturating_mul(b)
}

const EMPTY: Cost = Cost {
    states: 2,
    transitions: 0,
    pairs: 0,
    from_entry: 1,
    to_exit: 0,
    into_exit: 0,
    skippable: true,
};

impl Cost {
    fn of(node: &Node, colors: &Colors) -> Self {
        match node {
            Node::Empty => EMPTY,
            Node::Literal(_) | Node::Any | Node::Class { .. } => {
                Self::atom(colors.transitions(node))
            }
            // An anchor is two constraint transitions (at the text's end, or
            // at an end PostgreSQL treats alike), which PostgreSQL moves past
            // the states after them as it does empty transitions: they count
            // as both.
            Node::Start | Node::End => Self::atom(2).optional(),
            Node::Repeat { min, max, node } => Self::of(node, colors).repeat(*min, *max),
            Node::Concat(nodes) => nodes
                .iter()
                .map(|node| Self::of(node, colors))
                .reduce(Self::then)
                .unwrap_or(EMPTY),
            Node::Alternation(nodes) => nodes
                .iter()
                .map(|node| Self::of(node, colors))
                .reduce(Self::or)
                .unwrap_or(EMPTY),
        }
    }

    /// Two states joined by `transitions` transitions.
    fn atom(transitions: u64) -> Self {
        Self {
            states: 2,
            transitions,
            pairs: 0,
            from_entry: 0,
            to_exit: 0,
            into_exit: transitions,
            skippable: false,
        }
    }

    /// The whole automaton: the entry's pairs count too.
    fn total(&self) -> u64 {
        [
            self.states,
            self.transitions,
            self.pairs,
            self.from_entry,
            self.to_exit,
        ]
        .into_iter()
        .fold(0, add)
    }

    /// The exit as a state inside a larger part: what reaching it costs.
    fn exit_weight(&self) -> u64 {
        add(self.into_exit, 1)
    }

    /// `self` then `next`, sharing the exit of one as the entry of the other.
    fn then(self, next: Self) -> Self {
        // Every state reaching the shared state (itself included) reaches
        // every state it reaches.
        let reaching = add(self.to_exit, self.exit_weight());
        Self {
            states: add(self.states, next.states).saturating_sub(1),
            transitions: add(self.transitions, next.transitions),
            pairs: add(add(self.pairs, next.pairs), mul(reaching, next.from_entry)),
            from_entry: if self.skippable {
                add(self.from_entry, next.from_entry)
            } else {
                self.from_entry
            },
            to_exit: if next.skippable {
                add(next.to_exit, reaching)
            } else {
                next.to_exit
            },
            into_exit: next.into_exit,
            skippable: self.skippable && next.skippable,
        }
    }

    /// Alternatives sharing an entry and an exit.
    fn or(self, other: Self) -> Self {
        Self {
            states: add(self.states, other.states).saturating_sub(2),
            transitions: add(self.transitions, other.transitions),
            pairs: add(self.pairs, other.pairs),
            from_entry: add(self.from_entry, other.from_entry),
            to_exit: add(self.to_exit, other.to_exit),
            into_exit: add(self.into_exit, other.into_exit),
            skippable: self.skippable || other.skippable,
        }
    }

    /// `self?`: an empty transition from the entry to the exit.
    fn optional(self) -> Self {
        Self {
            from_entry: add(self.from_entry, 1),
            skippable: true,
            ..self
        }
    }

    /// `self*`: the operand loops on a new state between the entry and exit,
    /// so everything reaching that state reaches everything it reaches.
    fn star(self) -> Self {
        let reaching = add(self.to_exit, self.exit_weight());
        Self {
            states: add(self.states, 1),
            transitions: self.transitions,
            pairs: add(self.pairs, mul(reaching, add(self.from_entry, 1))),
            from_entry: add(self.from_entry, 2),
            to_exit: reaching,
            into_exit: 0,
            skippable: true,
        }
    }

    /// `self+`: the operand between two new states, with an empty transition
    /// back from its end to its start.
    fn plus(self) -> Self {
        let reaching = add(self.to_exit, self.exit_weight());
        let through = if self.skippable { 2 } else { 0 };
        Self {
            states: add(self.states, 2),
            transitions: self.transitions,
            pairs: add(
                add(self.pairs, add(self.from_entry, 1)),
                mul(reaching, add(self.from_entry, 2)),
            ),
            from_entry: add(self.from_entry, add(1, through)),
            to_exit: add(reaching, through / 2),
            into_exit: 0,
            skippable: self.skippable,
        }
    }

    /// `self{min,max}` as PostgreSQL's `repeat` builds it: `x{m,n}` is
    /// `x{m-1,n-1}x`, `x{1,n}` is `(x{1,n-1})?x`, `x{0,n}` is `(x{1,n})?`,
    /// and `x{m,}` is `x{m-1,}x` down to a loop.
    fn repeat(self, min: u32, max: Option<u32>) -> Self {
        let mut cost = match max {
            Some(0) => return EMPTY,
            Some(max) => {
                let mut cost = self;
                for _ in 1..=max.saturating_sub(min.max(1)) {
                    cost = cost.optional().then(self);
                }
                if min == 0 {
                    return cost.optional();
                }
                cost
            }
            None if min == 0 => return self.star(),
            None => self.plus(),
        };
        for _ in 1..min {
            cost = cost.then(self);
        }
        cost
    }
}
