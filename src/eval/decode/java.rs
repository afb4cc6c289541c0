//! `parse_java_function_call` (`java_parser.py`): the Java call syntax that
//! tree-sitter-java 0.21.0 parses without an `ERROR` node, and the official
//! traversal that turns the first method invocation into
//! `[{name: {param: source_text}}]`.
//!
//! The parser covers expressions (literals, names, field access, calls,
//! `new` with arrays/generics/anonymous initializer blocks, unary, binary,
//! parenthesized, assignment) and expression statements.  tree-sitter's
//! error recovery for a final statement without `;` is modelled by its cost
//! rule (a lone statement of at most 10 bytes becomes an `ERROR`).  As in
//! tree-sitter's contextual lexing, a reserved word is only a keyword where
//! the grammar allows it (`default=1` is a named argument).  Lambdas, casts,
//! method references and declarations are `Unsupported`.

use super::budget::Budget;
use super::lex::{tokenize, Lang, Tok};
use super::syntax::{err, graft_assignment, Cursor, Node};
use super::{DecodeError, Result};
use crate::eval::pyval::{py_eq, PyDict, PyVal};

const KEYWORDS: [&str; 50] = [
    "abstract",
    "assert",
    "boolean",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "default",
    "do",
    "double",
    "else",
    "enum",
    "extends",
    "final",
    "finally",
    "float",
    "for",
    "goto",
    "if",
    "implements",
    "import",
    "instanceof",
    "int",
    "interface",
    "long",
    "native",
    "new",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "short",
    "static",
    "strictfp",
    "super",
    "switch",
    "synchronized",
    "this",
    "throw",
    "throws",
    "transient",
    "try",
    "void",
    "volatile",
    "while",
];
const PRIMITIVES: [&str; 9] = [
    "int", "long", "short", "byte", "char", "float", "double", "boolean", "void",
];
const ASSIGN_OPS: [&str; 10] = ["=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<="];

fn unsupported(msg: &str) -> DecodeError {
    DecodeError::Unsupported(format!("Java {msg}"))
}

struct P<'a> {
    c: Cursor<'a>,
    budget: Budget,
}

impl<'a> P<'a> {
    /// Runs `f` one nesting level deeper (see [`MAX_DEPTH`](super::budget::MAX_DEPTH)).
    fn nested<T>(&mut self, f: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        self.budget.enter()?;
        let r = f(self);
        self.budget.leave();
        r
    }

    /// Counts one more link of an operator or suffix chain (see [`MAX_LINKS`](super::budget::MAX_LINKS)).
    fn link(&mut self) -> Result<()> {
        self.budget.link()
    }

    fn ident_text(&self) -> Option<&'a str> {
        self.c
            .peek()
            .filter(|t| t.tok == Tok::Ident)
            .map(|t| self.c.text(t))
    }

    fn expr(&mut self) -> Result<Node> {
        self.nested(Self::expr_inner)
    }

    fn expr_inner(&mut self) -> Result<Node> {
        if self.ident_text().is_some() && self.c.peek2().is_some_and(|t| self.c.text(t) == "->") {
            return Err(unsupported("lambdas"));
        }
        let left = self.binary(0)?;
        if let Some(op) = ASSIGN_OPS.iter().find(|op| self.c.at(op)) {
            let op = self.c.leaf(op)?;
            let right = self.expr()?;
            return graft_assignment(
                left,
                op,
                right,
                "assignment_expression",
                &["identifier", "field_access", "array_access"],
            )
            .map_err(|()| err("invalid assignment target"));
        }
        if self.c.at("?") {
            return Err(unsupported("ternary expressions"));
        }
        Ok(left)
    }

    /// The binary operator at the cursor: (precedence, token count).
    fn binop(&self) -> Option<(u8, usize)> {
        let t = self.c.peek()?;
        if t.tok != Tok::Punct {
            return if self.c.text(t) == "instanceof" {
                Some((7, 1))
            } else {
                None
            };
        }
        if self.c.at(">") {
            if self.c.at_pair(">", "=") {
                // `>=` (but `>>=` is an assignment).
                return Some((7, 2));
            }
            if self.c.at_pair(">", ">") {
                let third = self.c.toks.get(self.c.pos + 2);
                let second = self.c.toks.get(self.c.pos + 1);
                if let (Some(s), Some(th)) = (second, third) {
                    if s.end == th.start && self.c.text(*th) == ">" {
                        return Some((8, 3));
                    }
                }
                return Some((8, 2));
            }
            return Some((7, 1));
        }
        let p = match self.c.text(t) {
            "||" => 1,
            "&&" => 2,
            "|" => 3,
            "^" => 4,
            "&" => 5,
            "==" | "!=" => 6,
            "<" | "<=" => 7,
            "<<" => 8,
            "+" | "-" => 9,
            "*" | "/" | "%" => 10,
            _ => return None,
        };
        Some((p, 1))
    }

    fn binary(&mut self, min: u8) -> Result<Node> {
        let mut left = self.unary()?;
        while let Some((prec, n)) = self.binop() {
            if prec <= min {
                break;
            }
            if self.c.at("instanceof") {
                return Err(unsupported("instanceof"));
            }
            self.link()?;
            let mut kids = vec![left];
            for _ in 0..n {
                kids.push(self.c.leaf("op")?);
            }
            kids.push(self.binary(prec)?);
            left = Node::new("binary_expression", kids);
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node> {
        for op in ["+", "-", "!", "~"] {
            if self.c.at(op) {
                let o = self.c.leaf("op")?;
                let operand = self.nested(Self::unary)?;
                return Ok(Node::new("unary_expression", vec![o, operand]).field("operand"));
            }
        }
        if self.c.at("++") || self.c.at("--") {
            let o = self.c.leaf("op")?;
            let operand = self.nested(Self::unary)?;
            return Ok(Node::new("update_expression", vec![o, operand]));
        }
        let p = self.primary()?;
        self.postfix(p)
    }

    fn args(&mut self) -> Result<Node> {
        let mut kids = vec![self.c.expect("(")?];
        if !self.c.at(")") {
            loop {
                kids.push(self.expr()?);
                if self.c.at(",") {
                    kids.push(self.c.leaf(",")?);
                } else {
                    break;
                }
            }
        }
        kids.push(self.c.expect(")")?);
        Ok(Node::new("argument_list", kids))
    }

    fn postfix(&mut self, mut e: Node) -> Result<Node> {
        loop {
            if self.c.at(".") {
                self.link()?;
                let dot = self.c.leaf(".")?;
                let Some(name) = self.ident_text() else {
                    return Err(if self.c.at("<") {
                        unsupported("explicit generic calls")
                    } else {
                        err("expected a name after '.'")
                    });
                };
                if name == "class" {
                    let kw = self.c.leaf("class")?;
                    e = Node::new("class_literal", vec![e, dot, kw]);
                    continue;
                }
                if matches!(name, "new" | "this" | "super") {
                    return Err(unsupported("qualified new/this/super"));
                }
                let id = self.c.leaf("identifier")?;
                if self.c.at("(") {
                    let args = self.args()?;
                    e = Node::new("method_invocation", vec![e])
                        .field("object")
                        .push(dot)
                        .push(id)
                        .field("name")
                        .push(args)
                        .field("arguments");
                } else {
                    e = Node::new("field_access", vec![e])
                        .field("object")
                        .push(dot)
                        .push(id)
                        .field("field");
                }
            } else if self.c.at("[") {
                if self.c.peek2().is_some_and(|t| self.c.text(t) == "]") {
                    return Err(unsupported("array class literals"));
                }
                self.link()?;
                let open = self.c.leaf("[")?;
                let idx = self.expr()?;
                if self.c.at(")") || self.c.at(",") {
                    // tree-sitter inserts the missing `]` (no ERROR node).
                    e = Node::new("array_access", vec![e, open, idx]);
                    continue;
                }
                let close = self.c.expect("]")?;
                e = Node::new("array_access", vec![e, open, idx, close]);
            } else if self.c.at("++") || self.c.at("--") {
                self.link()?;
                let o = self.c.leaf("op")?;
                e = Node::new("update_expression", vec![e, o]);
            } else if self.c.at("::") {
                return Err(unsupported("method references"));
            } else {
                return Ok(e);
            }
        }
    }

    fn primary(&mut self) -> Result<Node> {
        let t = self
            .c
            .peek()
            .ok_or_else(|| err("unexpected end of input"))?;
        match t.tok {
            Tok::Number => self.c.leaf("number"),
            Tok::Str => self.c.leaf("string_literal"),
            Tok::Char => self.c.leaf("character_literal"),
            Tok::Template | Tok::Regex => Err(err("template string or regex in Java")),
            Tok::Punct if self.c.at("(") => {
                let open = self.c.leaf("(")?;
                let inner = self.expr()?;
                if self.c.at(",") {
                    // `f((a=1, b=2)`: tree-sitter inserts the missing `)`
                    // after the first argument (no ERROR node), except when
                    // that argument ends in a field access (`a=W.H`).
                    if ends_in_field_access(&inner) {
                        return Err(err("missing ')' after a field access"));
                    }
                    return Ok(Node::new("parenthesized_expression", vec![open, inner]));
                }
                let close = self.c.expect(")")?;
                if self.c.at("->") {
                    return Err(unsupported("lambdas"));
                }
                if inner.kind == "identifier" && self.starts_operand() {
                    return Err(unsupported("casts"));
                }
                Ok(Node::new(
                    "parenthesized_expression",
                    vec![open, inner, close],
                ))
            }
            Tok::Punct => Err(err(format!("unexpected {:?}", self.c.text(t)))),
            Tok::Ident => {
                let word = self.c.text(t);
                match word {
                    "true" => self.c.leaf("true"),
                    "false" => self.c.leaf("false"),
                    "null" => self.c.leaf("null_literal"),
                    "this" => self.c.leaf("this"),
                    "new" => self.creation(),
                    "super" | "switch" => Err(unsupported("super/switch expressions")),
                    w if PRIMITIVES.contains(&w) => Err(unsupported("primitive class literals")),
                    _ => {
                        let id = self.c.leaf("identifier")?;
                        if self.c.at("(") {
                            let args = self.args()?;
                            Ok(Node::new("method_invocation", vec![id])
                                .field("name")
                                .push(args)
                                .field("arguments"))
                        } else {
                            Ok(id)
                        }
                    }
                }
            }
        }
    }

    fn starts_operand(&self) -> bool {
        self.c.peek().is_some_and(|t| {
            matches!(t.tok, Tok::Ident | Tok::Number | Tok::Str | Tok::Char) || self.c.at("(")
        })
    }

    fn type_(&mut self) -> Result<Node> {
        let word = self.ident_text().ok_or_else(|| err("expected a type"))?;
        let mut t = if PRIMITIVES.contains(&word) {
            self.c.leaf("integral_type")?
        } else if KEYWORDS.contains(&word) || matches!(word, "true" | "false" | "null") {
            return Err(unsupported("keyword as type"));
        } else {
            let mut t = self.c.leaf("type_identifier")?;
            while self.c.at(".") {
                self.link()?;
                let dot = self.c.leaf(".")?;
                if self.ident_text().is_none() {
                    return Err(err("expected a type name"));
                }
                let id = self.c.leaf("type_identifier")?;
                t = Node::new("scoped_type_identifier", vec![t, dot, id]);
            }
            t
        };
        if self.c.at("<") {
            let mut kids = vec![self.c.leaf("<")?];
            if !self.c.at(">") {
                loop {
                    if self.c.at("?") {
                        return Err(unsupported("wildcards"));
                    }
                    kids.push(self.nested(Self::type_)?);
                    if self.c.at(",") {
                        kids.push(self.c.leaf(",")?);
                    } else {
                        break;
                    }
                }
            }
            kids.push(self.c.expect(">")?);
            t = Node::new("generic_type", vec![t, Node::new("type_arguments", kids)]);
        }
        while self.c.at("[") && self.c.peek2().is_some_and(|x| self.c.text(x) == "]") {
            self.link()?;
            let open = self.c.leaf("[")?;
            let close = self.c.leaf("]")?;
            t = Node::new(
                "array_type",
                vec![t, Node::new("dimensions", vec![open, close])],
            );
        }
        Ok(t)
    }

    fn creation(&mut self) -> Result<Node> {
        let kw = self.c.leaf("new")?;
        let ty = self.base_type()?;
        if self.c.at("[") {
            if self.c.peek2().is_some_and(|t| self.c.text(t) != "]") {
                // `new int[5]`: valid Java, but the official traversal reads
                // the missing `value` field and raises.
                return Err(err("'NoneType' object has no attribute 'type'"));
            }
            let mut dims = Vec::new();
            while self.c.at("[") {
                dims.push(self.c.leaf("[")?);
                dims.push(self.c.expect("]")?);
            }
            if !self.c.at("{") {
                return Err(err("array creation without initializer"));
            }
            let value = self.initializer()?;
            return Ok(Node::new("array_creation_expression", vec![kw, ty])
                .field("type")
                .push(Node::new("dimensions", dims))
                .push(value)
                .field("value"));
        }
        let args = self.args()?;
        let mut n = Node::new("object_creation_expression", vec![kw, ty])
            .field("type")
            .push(args)
            .field("arguments");
        if self.c.at("{") {
            n = n.push(self.class_body()?);
        }
        Ok(n)
    }

    /// A type without trailing `[]` (those belong to the array creation).
    fn base_type(&mut self) -> Result<Node> {
        let save = (self.c.pos, self.budget.links);
        let t = self.type_()?;
        if t.kind == "array_type" {
            // Re-parse: the dimensions belong to the creation expression.
            (self.c.pos, self.budget.links) = save;
            let word = self.ident_text().ok_or_else(|| err("expected a type"))?;
            let mut t = if PRIMITIVES.contains(&word) {
                self.c.leaf("integral_type")?
            } else {
                self.c.leaf("type_identifier")?
            };
            while self.c.at(".") {
                self.link()?;
                let dot = self.c.leaf(".")?;
                let id = self.c.leaf("type_identifier")?;
                t = Node::new("scoped_type_identifier", vec![t, dot, id]);
            }
            if self.c.at("<") {
                return Err(unsupported("generic array creation"));
            }
            return Ok(t);
        }
        Ok(t)
    }

    fn initializer(&mut self) -> Result<Node> {
        let mut kids = vec![self.c.expect("{")?];
        while !self.c.at("}") {
            kids.push(if self.c.at("{") {
                self.nested(Self::initializer)?
            } else {
                self.expr()?
            });
            if self.c.at(",") {
                kids.push(self.c.leaf(",")?);
            } else {
                break;
            }
        }
        kids.push(self.c.expect("}")?);
        Ok(Node::new("array_initializer", kids))
    }

    fn class_body(&mut self) -> Result<Node> {
        let mut kids = vec![self.c.expect("{")?];
        while !self.c.at("}") {
            if self.c.at(";") {
                kids.push(self.c.leaf(";")?);
            } else if self.c.at("{") {
                let mut block = vec![self.c.leaf("{")?];
                while !self.c.at("}") {
                    if self.c.at(";") {
                        block.push(self.c.leaf(";")?);
                        continue;
                    }
                    if self.c.peek().is_none() {
                        return Err(err("unterminated block"));
                    }
                    block.push(self.expr()?);
                    if !self.c.at(";") {
                        return Err(unsupported("statements without ';' in blocks"));
                    }
                    block.push(self.c.leaf(";")?);
                }
                block.push(self.c.expect("}")?);
                kids.push(Node::new("block", block));
            } else {
                return Err(unsupported("class members other than initializer blocks"));
            }
        }
        kids.push(self.c.expect("}")?);
        Ok(Node::new("class_body", kids))
    }
}

impl Node {
    fn push(mut self, kid: Node) -> Node {
        self.end = kid.end;
        self.kids.push(kid);
        self
    }
}

/// Whether the rightmost operand of an expression is a field access.
fn ends_in_field_access(n: &Node) -> bool {
    match n.kind {
        "field_access" => true,
        "assignment_expression" | "binary_expression" | "unary_expression" => {
            n.kids.last().is_some_and(ends_in_field_access)
        }
        _ => false,
    }
}

/// Parses the program; `Failed` where tree-sitter's tree contains `ERROR`.
fn parse_program(src: &str) -> Result<Vec<Node>> {
    let toks = tokenize(src, Lang::Java)?;
    let mut p = P {
        c: Cursor { src, toks, pos: 0 },
        budget: Budget::new("Java"),
    };
    let mut stmts = Vec::new();
    let mut last_missing_semicolon = false;
    while p.c.peek().is_some() {
        if p.c.at(";") {
            p.c.leaf(";")?;
            continue;
        }
        if p.ident_text().is_some() && p.c.peek2().is_some_and(|t| p.c.text(t) == ":") {
            // `label: statement`
            p.c.leaf("label")?;
            p.c.leaf(":")?;
            continue;
        }
        let e = p.expr()?;
        if p.c.at(";") {
            let semi = p.c.leaf(";")?;
            stmts.push(Node::new("expression_statement", vec![e, semi]));
        } else if p.c.peek().is_none() {
            stmts.push(Node::new("expression_statement", vec![e]));
            last_missing_semicolon = true;
        } else {
            return Err(err("expected ';'"));
        }
    }
    if last_missing_semicolon && stmts.len() == 1 {
        // Recovery cost: skipping the statement (100 + bytes + 30/line)
        // versus inserting the missing `;` (110).
        if let Some(s) = stmts.first() {
            let text = src.get(s.start..s.end).unwrap_or("");
            let cost = text.len() + 30 * text.matches('\n').count();
            if cost <= 10 {
                return Err(err("Error parsing java the source code."));
            }
        }
    }
    Ok(stmts)
}

struct Text<'a> {
    chars: Vec<char>,
    _src: &'a str,
}

impl Text<'_> {
    /// `source_code[start_byte:end_byte]`: byte offsets applied to a
    /// Python `str` (code points), exactly like the official parser.
    fn get(&self, n: &Node) -> String {
        let len = self.chars.len();
        let (a, b) = (n.start.min(len), n.end.min(len));
        if a >= b {
            return String::new();
        }
        self.chars
            .get(a..b)
            .map(|s| s.iter().collect())
            .unwrap_or_default()
    }

    fn traverse(&self, n: &Node, nested: bool) -> Result<String> {
        Ok(match n.kind {
            "string_literal" | "character_literal" => {
                let t = self.get(n);
                if nested {
                    t
                } else {
                    crate::eval::checker::py_inner(&t)
                }
            }
            "identifier" | "class_literal" | "type_identifier" | "method_invocation" => self.get(n),
            "array_creation_expression" => {
                let ty = n.child("type").ok_or_else(|| err("no type"))?;
                let value = n
                    .child("value")
                    .ok_or_else(|| err("'NoneType' object has no attribute 'type'"))?;
                format!(
                    "new {}[]{}",
                    self.traverse(ty, true)?,
                    self.traverse(value, true)?
                )
            }
            "object_creation_expression" => {
                let ty = n.child("type").ok_or_else(|| err("no type"))?;
                let ty = self.traverse(ty, true)?;
                match n.child("arguments") {
                    Some(args) => {
                        let mut parts = Vec::new();
                        for k in &args.kids {
                            if !matches!(k.kind, "," | "(" | ")") {
                                parts.push(self.traverse(k, true)?);
                            }
                        }
                        format!("new {ty}({})", parts.join(", "))
                    }
                    None => format!("new {ty}()"),
                }
            }
            _ if !n.kids.is_empty() => {
                let mut s = String::new();
                for k in &n.kids {
                    s.push_str(&self.traverse(k, true)?);
                }
                s
            }
            _ => self.get(n),
        })
    }

    fn arguments(&self, args: &Node) -> Result<PyDict> {
        let mut out: Vec<(PyVal, PyVal)> = Vec::new();
        for k in &args.kids {
            let (key, value) = match k.kind {
                "assignment_expression" => {
                    let (Some(name), Some(value)) = (k.kids.first(), k.kids.get(2)) else {
                        continue;
                    };
                    (PyVal::Str(self.get(name)), self.traverse(value, false)?)
                }
                "identifier" | "class_literal" => (PyVal::None, self.traverse(k, false)?),
                _ => continue,
            };
            if out.iter().any(|(k2, _)| py_eq(k2, &key)) {
                return Err(err(
                    "Error: Multiple arguments with the same name are not supported.",
                ));
            }
            out.push((key, PyVal::Str(value)));
        }
        let mut d = PyDict::new();
        for (k, v) in out {
            d.insert(k, v)
                .map_err(|u| err(format!("unhashable type: '{}'", u.0)))?;
        }
        Ok(d)
    }

    fn first_call(&self, n: &Node) -> Result<Option<PyVal>> {
        if n.kind == "method_invocation" {
            let name = n.child("name").map(|x| self.get(x)).unwrap_or_default();
            let fname = match n.child("object") {
                Some(o) => format!("{}.{name}", self.get(o)),
                None => name,
            };
            if let Some(args) = n.child("arguments") {
                let mut call = PyDict::new();
                call.insert_str(&fname, PyVal::Dict(self.arguments(args)?));
                return Ok(Some(PyVal::List(vec![PyVal::Dict(call)])));
            }
        }
        for k in &n.kids {
            if let Some(r) = self.first_call(k)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}

/// `parse_java_function_call(source_code)`: `[{name: {param: text}}]`, or
/// `{}` when the program has no method invocation.
pub fn parse_java_function_call(src: &str) -> Result<PyVal> {
    let stmts = parse_program(src)?;
    let text = Text {
        chars: src.chars().collect(),
        _src: src,
    };
    for s in &stmts {
        if let Some(r) = text.first_call(s)? {
            return Ok(r);
        }
    }
    Ok(PyVal::Dict(PyDict::new()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::on_spawned_thread;
    use crate::eval::pyrepr::repr;

    /// Parses on a thread with the default 2 MiB stack; the decoded value's `repr`.
    fn parse_small_stack(src: String) -> Result<String> {
        on_spawned_thread(move || parse_java_function_call(&src).map(|v| repr(&v)))
    }

    fn too_deep() -> Result<String> {
        Err(DecodeError::Unsupported(
            "Java nesting deeper than 200 levels".into(),
        ))
    }

    #[test]
    fn deep_nesting_is_unsupported_not_a_stack_overflow() {
        let n = 200_000;
        let cases = [
            format!("f({}1);", "!".repeat(n)),
            format!("f({}1{});", "(".repeat(n / 2), ")".repeat(n / 2)),
            format!("f({}1);", "(".repeat(n)),
            format!("f({}1);", "g(".repeat(n / 2)),
            format!("f({}1);", "a=".repeat(n / 2)),
            format!("f({}1);", "a[".repeat(n / 2)),
            format!("f(new int[]{{{}1);", "{".repeat(n)),
            format!("f(new A<{}B>());", "A<".repeat(n / 2)),
        ];
        for src in cases {
            let head: String = src.chars().take(12).collect();
            assert_eq!(parse_small_stack(src), too_deep(), "{head}");
        }
    }

    #[test]
    fn nesting_up_to_the_limit_still_parses() {
        // `f(x=` takes three levels (statement, argument, right-hand side).
        let parens = |k: usize| format!("{}1{}", "(".repeat(k), ")".repeat(k));
        let nots = |k: usize| format!("{}1", "!".repeat(k));
        for arg in [parens(197), nots(197)] {
            let want = format!("[{{'f': {{'x': '{arg}'}}}}]");
            assert_eq!(parse_small_stack(format!("f(x={arg});")), Ok(want));
        }
        for arg in [parens(198), nots(198)] {
            assert_eq!(parse_small_stack(format!("f(x={arg});")), too_deep());
        }
    }

    #[test]
    fn long_chains_are_unsupported_not_a_stack_overflow() {
        let n = 200_000;
        let too_long = Err(DecodeError::Unsupported(
            "Java chains of more than 2000 operators and suffixes".into(),
        ));
        for src in [
            format!("f(x={}1);", "1+".repeat(n / 2)),
            format!("{}1;", "1+".repeat(n / 2)),
            format!("f(x=a{});", ".b".repeat(n / 2)),
            format!("f(x=a{});", "[0]".repeat(n / 3)),
            format!("f(x=new a{}());", ".b".repeat(n / 2)),
            format!("f(x=new a{}[]{{}});", ".b".repeat(n / 2)),
        ] {
            let head: String = src.chars().take(12).collect();
            assert_eq!(parse_small_stack(src), too_long, "{head}");
        }
        let sum = format!("{}1", "1+".repeat(2000));
        let want = format!("[{{'f': {{'x': '{sum}'}}}}]");
        assert_eq!(parse_small_stack(format!("f(x={sum});")), Ok(want));
    }
}
