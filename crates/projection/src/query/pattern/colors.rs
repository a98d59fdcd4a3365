//! How many transitions each character atom of a pattern becomes in
//! PostgreSQL's automaton.
//!
//! PostgreSQL does not label transitions with characters but with *colors*:
//! it splits the characters into the classes no atom of the pattern tells
//! apart, and gives a bracket class one transition per color it holds. So a
//! class costs more the more distinct characters the rest of the pattern
//! names: `[^a]` is one color when nothing else is written, and a hundred when
//! a hundred other literals are.

use regex_syntax::hir::ClassUnicode;

use super::lower::Node;

/// The points where the pattern's character sets start or stop, which cut the
/// characters into the pieces colors are made of.
pub(super) struct Colors {
    /// Sorted, without repeats: each range's start and the code point after its
    /// end.
    cuts: Vec<u32>,
}

impl Colors {
    /// The cuts of every literal and class in `node`.
    pub(super) fn of(node: &Node) -> Self {
        let mut cuts = Vec::new();
        collect(node, &mut cuts);
        cuts.sort_unstable();
        cuts.dedup();
        Self { cuts }
    }

    /// At most how many transitions an atom becomes. A literal is one color
    /// and `.` one "any color" transition; a class is at least one transition
    /// per piece it covers (a bound: pieces alike for every atom share a
    /// color).
    pub(super) fn transitions(&self, node: &Node) -> u64 {
        match node {
            Node::Class { negated, set } => {
                let covered = self.pieces(set);
                if *negated {
                    self.all_pieces().saturating_sub(covered).max(1)
                } else {
                    covered.max(1)
                }
            }
            _ => 1,
        }
    }

    /// The pieces the cuts make of all characters.
    fn all_pieces(&self) -> u64 {
        len(self.cuts.len()).saturating_add(1)
    }

    /// The pieces `set` covers: each range, plus one per cut inside it.
    fn pieces(&self, set: &ClassUnicode) -> u64 {
        set.ranges()
            .iter()
            .map(|range| {
                let (start, end) = (u32::from(range.start()), u32::from(range.end()));
                let from = self.cuts.partition_point(|&cut| cut <= start);
                let to = self.cuts.partition_point(|&cut| cut <= end);
                len(to.saturating_sub(from)).saturating_add(1)
            })
            .fold(0, u64::saturating_add)
    }
}

fn collect(node: &Node, cuts: &mut Vec<u32>) {
    let mut range = |start: char, end: char| {
        cuts.push(u32::from(start));
        cuts.push(u32::from(end).saturating_add(1));
    };
    match node {
        Node::Literal(c) => range(*c, *c),
        Node::Class { set, .. } => {
            for piece in set.ranges() {
                range(piece.start(), piece.end());
            }
        }
        Node::Repeat { node, .. } => collect(node, cuts),
        Node::Concat(nodes) | Node::Alternation(nodes) => {
            nodes.iter().for_each(|node| collect(node, cuts));
        }
        Node::Empty | Node::Any | Node::Start | Node::End => {}
    }
}

fn len(count: usize) -> u64 {
    u64::try_from(count).unwrap_or(u64::MAX)
}
