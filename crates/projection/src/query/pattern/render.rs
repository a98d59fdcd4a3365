//! The dialect's tree written in each engine's syntax. Every character other
//! than an ASCII letter or digit is written as a code point escape, and every
//! operand is grouped, so no engine can read a character as an operator.

use std::fmt::Write;

use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};

use super::lower::Node;

/// How one engine spells the dialect's constructs.
struct Syntax {
    /// Put before the pattern.
    prefix: &'static str,
    /// Any character, a line feed included.
    any: &'static str,
    /// The start and the end of the text.
    start: &'static str,
    end: &'static str,
    /// Writes a code point escape.
    escape: fn(&mut String, char),
}

/// The `regex` crate: `.` needs the `s` flag to match a line feed, and `\A`/`\z`
/// are the text's ends whatever the flags.
const RUST: Syntax = Syntax {
    prefix: "",
    any: "(?s:.)",
    start: r"\A",
    end: r"\z",
    escape: |out, c| {
        let _ = write!(out, r"\x{{{:X}}}", u32::from(c));
    },
};

/// PostgreSQL's advanced regular expressions: `(?cs)` asks for case-sensitive,
/// non-newline-sensitive matching (the defaults of `~`, stated so nothing else
/// can change them), under which `.` and negated classes match a line feed and
/// `^`/`$` are the text's ends.
const POSTGRES: Syntax = Syntax {
    prefix: "(?cs)",
    any: ".",
    start: "^",
    end: "$",
    escape: |out, c| {
        let code = u32::from(c);
        let _ = if code > 0xFFFF {
            write!(out, r"\U{code:08X}")
        } else {
            write!(out, r"\u{code:04X}")
        };
    },
};

/// `node` in the `regex` crate's syntax.
pub(super) fn rust(node: &Node) -> String {
    render(&RUST, node)
}

/// `node` in PostgreSQL's syntax, for its `~` operator.
pub(super) fn postgres(node: &Node) -> String {
    render(&POSTGRES, node)
}

fn render(syntax: &Syntax, node: &Node) -> String {
    let mut out = syntax.prefix.to_owned();
    write_node(syntax, node, &mut out);
    out
}

fn write_node(syntax: &Syntax, node: &Node, out: &mut String) {
    match node {
        Node::Empty => out.push_str("(?:)"),
        Node::Literal(c) => write_char(syntax, *c, out),
        Node::Any => out.push_str(syntax.any),
        Node::Class { negated, set } => write_class(syntax, *negated, set, out),
        Node::Start => out.push_str(syntax.start),
        Node::End => out.push_str(syntax.end),
        Node::Repeat { min, max, node } => {
            out.push_str("(?:");
            write_node(syntax, node, out);
            let _ = match max {
                Some(max) => write!(out, "){{{min},{max}}}"),
                None => write!(out, "){{{min},}}"),
            };
        }
        Node::Concat(nodes) => nodes.iter().for_each(|node| write_node(syntax, node, out)),
        Node::Alternation(nodes) => {
            out.push_str("(?:");
            for (index, node) in nodes.iter().enumerate() {
                if index > 0 {
                    out.push('|');
                }
                write_node(syntax, node, out);
            }
            out.push(')');
        }
    }
}

fn write_char(syntax: &Syntax, c: char, out: &mut String) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        (syntax.escape)(out, c);
    }
}

/// A bracket class. An empty set, which neither syntax can write, becomes the
/// negation of every character.
fn write_class(syntax: &Syntax, negated: bool, set: &ClassUnicode, out: &mut String) {
    let everything = ClassUnicode::new([ClassUnicodeRange::new('\0', char::MAX)]);
    let (negated, set) = if set.ranges().is_empty() {
        (!negated, &everything)
    } else {
        (negated, set)
    };
    out.push('[');
    if negated {
        out.push('^');
    }
    for range in set.ranges() {
        write_char(syntax, range.start(), out);
        if range.end() != range.start() {
            out.push('-');
            write_char(syntax, range.end(), out);
        }
    }
    out.push(']');
}
