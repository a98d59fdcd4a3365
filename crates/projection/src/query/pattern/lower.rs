//! From `regex-syntax`'s syntax tree to the dialect's own tree, refusing every
//! construct outside the dialect.

use regex_syntax::ast::{
    self, Assertion, AssertionKind, Ast, ClassBracketed, ClassPerl, ClassPerlKind, ClassSet,
    ClassSetItem, GroupKind, RepetitionKind, RepetitionRange,
};
use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};

use super::MAX_REPETITION;

/// A pattern of the dialect. Every node means the same to every engine it is
/// rendered for.
#[derive(Debug, Clone)]
pub(super) enum Node {
    /// Matches the empty string.
    Empty,
    /// One character.
    Literal(char),
    /// Any character, a line feed included.
    Any,
    /// One character of a set (or, negated, outside it).
    Class { negated: bool, set: ClassUnicode },
    /// The start of the text.
    Start,
    /// The end of the text.
    End,
    /// `min` to `max` (unbounded when `None`) repetitions.
    Repeat {
        min: u32,
        max: Option<u32>,
        node: Box<Node>,
    },
    /// A sequence.
    Concat(Vec<Node>),
    /// Alternatives.
    Alternation(Vec<Node>),
}

/// Why a pattern is outside the dialect: a sentence for `InvalidInput`.
pub(super) type Refusal = String;

/// Lowers `ast`, parsed from `pattern`.
pub(super) fn lower(pattern: &str, ast: &Ast) -> Result<Node, Refusal> {
    Lowering { pattern }.node(ast)
}

struct Lowering<'a> {
    pattern: &'a str,
}

impl Lowering<'_> {
    fn node(&self, ast: &Ast) -> Result<Node, Refusal> {
        match ast {
            Ast::Empty(_) => Ok(Node::Empty),
            Ast::Flags(flags) => Err(self.refuse(&flags.span, "flags such as (?i)")),
            Ast::Literal(literal) => Ok(Node::Literal(literal.c)),
            Ast::Dot(_) => Ok(Node::Any),
            Ast::Assertion(assertion) => self.assertion(assertion),
            Ast::ClassUnicode(class) => Err(self.refuse(&class.span, "Unicode classes")),
            Ast::ClassPerl(class) => Ok(Node::Class {
                negated: class.negated,
                set: perl(class),
            }),
            Ast::ClassBracketed(class) => Ok(Node::Class {
                negated: class.negated,
                set: self.set(&class.kind)?,
            }),
            Ast::Repetition(repetition) => self.repetition(repetition),
            Ast::Group(group) => self.group(group),
            Ast::Alternation(alternation) => Ok(Node::Alternation(self.all(&alternation.asts)?)),
            Ast::Concat(concat) => Ok(Node::Concat(self.all(&concat.asts)?)),
        }
    }

    fn all(&self, asts: &[Ast]) -> Result<Vec<Node>, Refusal> {
        asts.iter().map(|ast| self.node(ast)).collect()
    }

    fn assertion(&self, assertion: &Assertion) -> Result<Node, Refusal> {
        match assertion.kind {
            // Without the multi-line flag, which the dialect lacks, `^` and `$`
            // mean the ends of the whole text, as `\A` and `\z` do.
            AssertionKind::StartLine | AssertionKind::StartText => Ok(Node::Start),
            AssertionKind::EndLine | AssertionKind::EndText => Ok(Node::End),
            _ => Err(self.refuse(
                &assertion.span,
                "word boundaries, whose word characters differ between engines,",
            )),
        }
    }

    fn repetition(&self, repetition: &ast::Repetition) -> Result<Node, Refusal> {
        let (min, max) = match repetition.op.kind {
            RepetitionKind::ZeroOrOne => (0, Some(1)),
            RepetitionKind::ZeroOrMore => (0, None),
            RepetitionKind::OneOrMore => (1, None),
            RepetitionKind::Range(RepetitionRange::Exactly(n)) => (n, Some(n)),
            RepetitionKind::Range(RepetitionRange::AtLeast(n)) => (n, None),
            RepetitionKind::Range(RepetitionRange::Bounded(n, m)) => (n, Some(m)),
        };
        if max.unwrap_or(min) > MAX_REPETITION {
            return Err(self.refuse_because(
                &repetition.op.span,
                &format!("has a repetition count above {MAX_REPETITION}"),
            ));
        }
        // Laziness (`*?`) changes which match is found, never whether one is,
        // and searches only ask whether: it is accepted and dropped.
        Ok(repeat(min, max, self.node(&repetition.ast)?))
    }

    fn group(&self, group: &ast::Group) -> Result<Node, Refusal> {
        if let GroupKind::NonCapturing(flags) = &group.kind {
            if !flags.items.is_empty() {
                return Err(self.refuse(&flags.span, "flags such as (?i)"));
            }
        }
        // Captures are never read, so a group only groups, and renderers group
        // every operand that needs it.
        self.node(&group.ast)
    }

    fn set(&self, set: &ClassSet) -> Result<ClassUnicode, Refusal> {
        match set {
            ClassSet::Item(item) => self.item(item),
            ClassSet::BinaryOp(op) => Err(self.refuse(&op.span, "class operations such as &&")),
        }
    }

    fn item(&self, item: &ClassSetItem) -> Result<ClassUnicode, Refusal> {
        let single =
            |start: char, end: char| ClassUnicode::new([ClassUnicodeRange::new(start, end)]);
        match item {
            ClassSetItem::Empty(_) => Ok(ClassUnicode::empty()),
            ClassSetItem::Literal(literal) => Ok(single(literal.c, literal.c)),
            ClassSetItem::Range(range) => Ok(single(range.start.c, range.end.c)),
            ClassSetItem::Ascii(class) => Err(self.refuse(
                &class.span,
                "POSIX classes such as [[:alpha:]], whose meaning depends on the locale,",
            )),
            ClassSetItem::Unicode(class) => Err(self.refuse(&class.span, "Unicode classes")),
            ClassSetItem::Perl(class) => Ok(negated_if(perl(class), class.negated)),
            ClassSetItem::Bracketed(class) => self.bracketed(class),
            ClassSetItem::Union(union) => {
                let mut all = ClassUnicode::empty();
                for item in &union.items {
                    all.union(&self.item(item)?);
                }
                Ok(all)
            }
        }
    }

    fn bracketed(&self, class: &ClassBracketed) -> Result<ClassUnicode, Refusal> {
        Ok(negated_if(self.set(&class.kind)?, class.negated))
    }

    fn refuse(&self, span: &ast::Span, construct: &str) -> Refusal {
        self.refuse_because(
            span,
            &format!("uses {construct} which the query dialect lacks"),
        )
    }

    fn refuse_because(&self, span: &ast::Span, reason: &str) -> Refusal {
        let text = self
            .pattern
            .get(span.start.offset..span.end.offset)
            .unwrap_or_default();
        format!("{reason}: `{text}` at byte {}", span.start.offset)
    }
}

/// `node{min,max}`. Repeating what reads no character (anchors, emptiness)
/// means what one round means, or with `min` 0 what an optional round means:
/// written so, PostgreSQL is spared loops of anchors, which cost it dearly.
fn repeat(min: u32, max: Option<u32>, node: Node) -> Node {
    if max == Some(0) {
        return Node::Empty;
    }
    if reads_characters(&node) {
        return Node::Repeat {
            min,
            max,
            node: Box::new(node),
        };
    }
    if min == 0 {
        Node::Repeat {
            min: 0,
            max: Some(1),
            node: Box::new(node),
        }
    } else {
        node
    }
}

/// Whether some match of `node` reads a character.
fn reads_characters(node: &Node) -> bool {
    match node {
        Node::Literal(_) | Node::Any | Node::Class { .. } => true,
        Node::Empty | Node::Start | Node::End => false,
        Node::Repeat { node, .. } => reads_characters(node),
        Node::Concat(nodes) | Node::Alternation(nodes) => nodes.iter().any(reads_characters),
    }
}

fn negated_if(mut set: ClassUnicode, negated: bool) -> ClassUnicode {
    if negated {
        set.negate();
    }
    set
}

/// `\d`, `\s` and `\w` as ASCII sets (their negation is the node's).
fn perl(class: &ClassPerl) -> ClassUnicode {
    let ranges: &[(char, char)] = match class.kind {
        ClassPerlKind::Digit => &[('0', '9')],
        ClassPerlKind::Space => &[('\t', '\r'), (' ', ' ')],
        ClassPerlKind::Word => &[('0', '9'), ('A', 'Z'), ('_', '_'), ('a', 'z')],
    };
    ClassUnicode::new(
        ranges
            .iter()
            .map(|&(start, end)| ClassUnicodeRange::new(start, end)),
    )
}
