//! A small concrete syntax tree shaped like tree-sitter's (node kinds,
//! anonymous punctuation children, named fields), and the recursive-descent
//! helpers shared by the Java and JavaScript parsers.

use super::lex::{Tok, Token};
use super::{DecodeError, Result};

/// One node: kind, byte span, children (punctuation included) and fields.
#[derive(Debug, Clone)]
pub struct Node {
    /// tree-sitter node type (`method_invocation`, `identifier`, `(`, ...).
    pub kind: &'static str,
    /// Start byte.
    pub start: usize,
    /// End byte.
    pub end: usize,
    /// Children in source order.
    pub kids: Vec<Node>,
    /// `(field name, child index)`.
    pub fields: Vec<(&'static str, usize)>,
}

impl Node {
    /// A node spanning its children.
    pub fn new(kind: &'static str, kids: Vec<Node>) -> Node {
        let start = kids.first().map_or(0, |k| k.start);
        let end = kids.last().map_or(0, |k| k.end);
        Node {
            kind,
            start,
            end,
            kids,
            fields: Vec::new(),
        }
    }

    /// Adds a field label to the last child.
    pub fn field(mut self, name: &'static str) -> Node {
        if let Some(i) = self.kids.len().checked_sub(1) {
            self.fields.push((name, i));
        }
        self
    }

    /// `child_by_field_name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.fields
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, i)| self.kids.get(*i))
    }
}

/// Token cursor with the source text.
pub struct Cursor<'a> {
    /// Source text.
    pub src: &'a str,
    /// Tokens.
    pub toks: Vec<Token>,
    /// Next token.
    pub pos: usize,
}

/// A syntax error (tree-sitter would produce an `ERROR` node).
pub fn err(msg: impl Into<String>) -> DecodeError {
    DecodeError::Failed(msg.into())
}

impl<'a> Cursor<'a> {
    /// The next token, if any.
    pub fn peek(&self) -> Option<Token> {
        self.toks.get(self.pos).copied()
    }

    /// The token after the next one.
    pub fn peek2(&self) -> Option<Token> {
        self.toks.get(self.pos + 1).copied()
    }

    /// The text of a token.
    pub fn text(&self, t: Token) -> &'a str {
        self.src.get(t.start..t.end).unwrap_or("")
    }

    /// Whether the next token is the punctuation/keyword `s`.
    pub fn at(&self, s: &str) -> bool {
        self.peek()
            .is_some_and(|t| matches!(t.tok, Tok::Punct | Tok::Ident) && self.text(t) == s)
    }

    /// Consumes the next token as a leaf node of the given kind.
    pub fn leaf(&mut self, kind: &'static str) -> Result<Node> {
        let t = self.peek().ok_or_else(|| err("unexpected end of input"))?;
        self.pos += 1;
        Ok(Node {
            kind,
            start: t.start,
            end: t.end,
            kids: Vec::new(),
            fields: Vec::new(),
        })
    }

    /// Consumes the punctuation `s` or fails.
    pub fn expect(&mut self, s: &'static str) -> Result<Node> {
        if self.at(s) {
            self.leaf(s)
        } else {
            Err(err(format!("expected {s}")))
        }
    }

    /// Whether the next two tokens are adjacent and spell `a` then `b`.
    pub fn at_pair(&self, a: &str, b: &str) -> bool {
        match (self.peek(), self.peek2()) {
            (Some(x), Some(y)) => self.text(x) == a && self.text(y) == b && x.end == y.start,
            _ => false,
        }
    }
}

/// tree-sitter accepts `a < b = c` and `-a = b` (its grammar does not check
/// assignment targets through precedence): the assignment binds the
/// rightmost operand.  Rebuilds `left op right` that way, or gives the parts
/// back when the rightmost operand is not a valid target.
pub fn graft_assignment(
    mut left: Node,
    op: Node,
    right: Node,
    kind: &'static str,
    targets: &[&str],
) -> std::result::Result<Node, ()> {
    if targets.contains(&left.kind) {
        return Ok(Node::new(kind, vec![left, op, right]));
    }
    if !matches!(left.kind, "binary_expression" | "unary_expression") {
        return Err(());
    }
    let last = left.kids.pop().ok_or(())?;
    let grafted = graft_assignment(last, op, right, kind, targets)?;
    left.end = grafted.end;
    left.kids.push(grafted);
    Ok(left)
}
