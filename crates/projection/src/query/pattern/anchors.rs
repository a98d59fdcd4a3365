//! The arrangements of anchors the dialect refuses, because PostgreSQL turns
//! anchors into constraints it moves through its automaton, copying states
//! where constraints meet, and some arrangements make that work explode:
//!
//! - `$` followed by `^` with no character between them (as in
//!   `(^|$|a){0,16}` or `^?$?^?$?`): each change from `$` back to `^` on a path
//!   without characters doubles the work, so sixteen optional anchors take
//!   PostgreSQL seconds and a few more exhaust it. Such a path can only match
//!   the empty text, which `^$` says without it.
//! - An anchor inside a repetition without an upper bound (`*`, `+`,
//!   `{n,}`), as in `((($|a)*|b){0,16})*`, where PostgreSQL breaks up the loops
//!   the anchor's constraint runs around: hundreds of milliseconds for
//!   patterns within the size limit. `^` can only hold on a first round and
//!   `$` on a last, so the anchor can be written outside, or the repetition
//!   bounded.
//!
//! Runs of one anchor (`(?:^|,)` repeated a bounded number of times), `^`
//! before `$`, and anchors outside loops cost nothing special. A repeated
//! anchor on its own (`^*`) is simplified away when the pattern is read.

use super::lower::{Node, Refusal};

/// What paths through a node that read no character can do with anchors.
#[derive(Debug, Clone, Copy)]
struct Anchors {
    /// The node can be crossed without reading a character.
    crossable: bool,
    /// A path from the node's start reaches a `^` without reading a character.
    leads_to_start: bool,
    /// A path from a `$` reaches the node's end without reading a character.
    trails_end: bool,
    /// A path inside the node has `$` then `^` without a character between.
    end_before_start: bool,
}

const CHARACTER: Anchors = Anchors {
    crossable: false,
    leads_to_start: false,
    trails_end: false,
    end_before_start: false,
};

const EMPTY: Anchors = Anchors {
    crossable: true,
    ..CHARACTER
};

/// Refuses `node` if it has `$` then `^` with no character between, or an
/// anchor inside a repetition without an upper bound.
pub(super) fn check(node: &Node) -> Result<(), Refusal> {
    if anchors(node).end_before_start {
        return Err(
            "has `$` followed by `^` with no character between them, which \
                    PostgreSQL cannot compile in reasonable time (such a pattern matches \
                    only the empty text, as `^$` does)"
                .to_owned(),
        );
    }
    if loops_over_an_anchor(node) {
        return Err(
            "has an anchor inside a repetition without an upper bound (`*`, `+` \
                    or `{n,}`), which PostgreSQL cannot compile in reasonable time: put \
                    the anchor outside the repetition, or bound it"
                .to_owned(),
        );
    }
    Ok(())
}

fn loops_over_an_anchor(node: &Node) -> bool {
    match node {
        Node::Repeat {
            max: None, node, ..
        } => has_anchor(node),
        Node::Repeat { node, .. } => loops_over_an_anchor(node),
        Node::Concat(nodes) | Node::Alternation(nodes) => nodes.iter().any(loops_over_an_anchor),
        _ => false,
    }
}

fn has_anchor(node: &Node) -> bool {
    match node {
        Node::Start | Node::End => true,
        Node::Repeat { node, .. } => has_anchor(node),
        Node::Concat(nodes) | Node::Alternation(nodes) => nodes.iter().any(has_anchor),
        _ => false,
    }
}

fn anchors(node: &Node) -> Anchors {
    match node {
        Node::Empty => EMPTY,
        Node::Literal(_) | Node::Any | Node::Class { .. } => CHARACTER,
        Node::Start => Anchors {
            leads_to_start: true,
            ..EMPTY
        },
        Node::End => Anchors {
            trails_end: true,
            ..EMPTY
        },
        Node::Repeat { min, max, node } => repeat(anchors(node), *min, *max),
        Node::Concat(nodes) => nodes.iter().map(anchors).fold(EMPTY, then),
        Node::Alternation(nodes) => nodes.iter().map(anchors).fold(
            Anchors {
                crossable: false,
                ..EMPTY
            },
            or,
        ),
    }
}

fn then(first: Anchors, second: Anchors) -> Anchors {
    Anchors {
        crossable: first.crossable && second.crossable,
        leads_to_start: first.leads_to_start || (first.crossable && second.leads_to_start),
        trails_end: second.trails_end || (second.crossable && first.trails_end),
        end_before_start: first.end_before_start
            || second.end_before_start
            || (first.trails_end && second.leads_to_start),
    }
}

fn or(one: Anchors, other: Anchors) -> Anchors {
    Anchors {
        crossable: one.crossable || other.crossable,
        leads_to_start: one.leads_to_start || other.leads_to_start,
        trails_end: one.trails_end || other.trails_end,
        end_before_start: one.end_before_start || other.end_before_start,
    }
}

/// A repetition that allows two copies puts one copy's end before the next
/// one's start.
fn repeat(operand: Anchors, min: u32, max: Option<u32>) -> Anchors {
    if max == Some(0) {
        return EMPTY;
    }
    let twice = if max.is_none_or(|max| max >= 2) {
        then(operand, operand)
    } else {
        operand
    };
    if min == 0 {
        or(twice, EMPTY)
    } else {
        twice
    }
}
