//! `parse_javascript_function_call` (`js_parser.py`): the JavaScript syntax
//! that tree-sitter-javascript 0.21.4 parses without an `ERROR` node, and
//! the official extraction: the first top-level expression statement whose
//! expression is a call gives `[{callee_text: {param: value_text}}]`;
//! without one the result is `None`.
//!
//! Covered: literals (numbers, bigints, strings, templates), names, member
//! access, calls, `new`, arrays, object literals, arrow functions and
//! `function` expressions (bodies are only brace-matched), unary, binary,
//! ternary, assignment, sequences, and automatic semicolons at line breaks.
//! Classes, destructuring, control statements and getters are `Unsupported`;
//! a missing `]`/`}` right before `)` is accepted as tree-sitter's recovery
//! inserts it without an `ERROR` node.

use super::budget::Budget;
use super::lex::{tokenize, Lang, Tok};
use super::syntax::{err, graft_assignment, Cursor, Node};
use super::{DecodeError, Result};
use crate::eval::pyval::{py_eq, PyDict, PyVal};

/// Words that are keywords where an expression may start (tree-sitter lexes
/// other reserved words as identifiers there).
const RESERVED: [&str; 5] = ["class", "super", "import", "yield", "async"];
const ASSIGN_OPS: [&str; 14] = [
    "=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", "**=", "&&=", "||=", "??=",
];

fn unsupported(msg: &str) -> DecodeError {
    DecodeError::Unsupported(format!("JavaScript {msg}"))
}

struct P<'a> {
    c: Cursor<'a>,
    /// For each opening bracket token, the index of its closing one.
    closer: Vec<Option<usize>>,
    budget: Budget,
}

/// The closing bracket of each opening one (any kind closes any kind, as in
/// [`P::is_arrow_ahead`]); `None` for other tokens and unclosed brackets.
fn closers(c: &Cursor<'_>) -> Vec<Option<usize>> {
    let mut out = vec![None; c.toks.len()];
    let mut open = Vec::new();
    for (k, t) in c.toks.iter().enumerate() {
        match c.text(*t) {
            "(" | "[" | "{" => open.push(k),
            ")" | "]" | "}" => {
                if let Some(o) = open.pop().and_then(|o| out.get_mut(o)) {
                    *o = Some(k);
                }
            }
            _ => {}
        }
    }
    out
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

    fn word(&self) -> Option<&'a str> {
        self.c
            .peek()
            .filter(|t| t.tok == Tok::Ident)
            .map(|t| self.c.text(t))
    }

    /// `a, b` (sequence) at statement level.
    fn sequence(&mut self) -> Result<Node> {
        let first = self.assign()?;
        if !self.c.at(",") {
            return Ok(first);
        }
        let mut kids = vec![first];
        while self.c.at(",") {
            kids.push(self.c.leaf(",")?);
            kids.push(self.assign()?);
        }
        Ok(Node::new("sequence_expression", kids))
    }

    fn is_arrow_ahead(&self) -> bool {
        // `x =>` or `( ... ) =>`
        if self.word().is_some() {
            return self.c.peek2().is_some_and(|t| self.c.text(t) == "=>");
        }
        if !self.c.at("(") {
            return false;
        }
        let close = self.closer.get(self.c.pos).copied().flatten();
        close
            .and_then(|k| self.c.toks.get(k + 1))
            .is_some_and(|n| self.c.text(*n) == "=>")
    }

    /// Skips a balanced `{...}` / `(...)` group, returning it as one node.
    fn balanced(&mut self, kind: &'static str) -> Result<Node> {
        let open = self.c.peek().ok_or_else(|| err("unexpected end"))?;
        let (o, cl) = match self.c.text(open) {
            "{" => ("{", "}"),
            "(" => ("(", ")"),
            _ => return Err(err("expected a group")),
        };
        let mut depth = 0usize;
        let start = self.c.pos;
        loop {
            let t = self.c.peek().ok_or_else(|| err("unbalanced group"))?;
            let s = self.c.text(t);
            if matches!(s, "(" | "[" | "{") {
                depth += 1;
            } else if matches!(s, ")" | "]" | "}") {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    if s != cl {
                        return Err(err("mismatched brackets"));
                    }
                    self.c.pos += 1;
                    break;
                }
            }
            self.c.pos += 1;
        }
        let _ = o;
        let first = self.c.toks.get(start).ok_or_else(|| err("empty group"))?;
        let last = self
            .c
            .toks
            .get(self.c.pos - 1)
            .ok_or_else(|| err("empty group"))?;
        Ok(Node {
            kind,
            start: first.start,
            end: last.end,
            kids: Vec::new(),
            fields: Vec::new(),
        })
    }

    fn arrow(&mut self) -> Result<Node> {
        let params = if self.c.at("(") {
            self.balanced("formal_parameters")?
        } else {
            self.c.leaf("identifier")?
        };
        let arrow = self.c.expect("=>")?;
        let body = if self.c.at("{") {
            self.balanced("statement_block")?
        } else {
            self.assign()?
        };
        Ok(Node::new("arrow_function", vec![params, arrow, body]))
    }

    fn assign(&mut self) -> Result<Node> {
        self.nested(Self::assign_inner)
    }

    fn assign_inner(&mut self) -> Result<Node> {
        if self.c.at("async") && self.c.peek2().is_some_and(|t| !t.newline_before) {
            return Err(unsupported("async functions"));
        }
        if self.is_arrow_ahead() {
            return self.arrow();
        }
        let left = self.conditional()?;
        if let Some(op) = ASSIGN_OPS.iter().find(|op| self.c.at(op)) {
            if matches!(left.kind, "array" | "object") {
                return Err(unsupported("destructuring assignment"));
            }
            let kind = if *op == "=" {
                "assignment_expression"
            } else {
                "augmented_assignment_expression"
            };
            let op = self.c.leaf("op")?;
            let right = self.assign()?;
            return graft_assignment(
                left,
                op,
                right,
                kind,
                &["identifier", "member_expression", "subscript_expression"],
            )
            .map_err(|()| err("invalid assignment target"));
        }
        Ok(left)
    }

    fn conditional(&mut self) -> Result<Node> {
        let cond = self.binary(0)?;
        if !self.c.at("?") {
            return Ok(cond);
        }
        let q = self.c.leaf("?")?;
        let a = self.assign()?;
        let colon = self.c.expect(":")?;
        let b = self.assign()?;
        Ok(Node::new("ternary_expression", vec![cond, q, a, colon, b]))
    }

    fn binop(&self) -> Option<(u8, usize)> {
        let t = self.c.peek()?;
        let s = self.c.text(t);
        if t.tok == Tok::Ident {
            return matches!(s, "instanceof" | "in").then_some((7, 1));
        }
        if t.tok != Tok::Punct {
            return None;
        }
        if s == ">" {
            // `>`, `>=`, `>>`, `>>>` are lexed as adjacent single chars.
            let mut n = 1;
            while n < 3
                && self
                    .c
                    .toks
                    .get(self.c.pos + n)
                    .zip(self.c.toks.get(self.c.pos + n - 1))
                    .is_some_and(|(x, prev)| prev.end == x.start && self.c.text(*x) == ">")
            {
                n += 1;
            }
            let next = self.c.toks.get(self.c.pos + n);
            let prev = self.c.toks.get(self.c.pos + n - 1);
            if let (Some(x), Some(p)) = (next, prev) {
                if p.end == x.start && matches!(self.c.text(*x), "=" | "==" | "===") {
                    if n > 1 || self.c.text(*x) != "=" {
                        return None;
                    }
                    return Some((7, 2));
                }
            }
            return Some(if n == 1 { (7, 1) } else { (8, n) });
        }
        let p = match s {
            "??" => 1,
            "||" => 1,
            "&&" => 2,
            "|" => 3,
            "^" => 4,
            "&" => 5,
            "==" | "!=" | "===" | "!==" => 6,
            "<" | "<=" => 7,
            "<<" => 8,
            "+" | "-" => 9,
            "*" | "/" | "%" => 10,
            "**" => 11,
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
            self.link()?;
            let mut kids = vec![left];
            for _ in 0..n {
                kids.push(self.c.leaf("op")?);
            }
            let next = if prec == 11 { prec - 1 } else { prec };
            kids.push(self.nested(|p| p.binary(next))?);
            left = Node::new("binary_expression", kids);
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Node> {
        for op in ["!", "~", "+", "-", "typeof", "void", "delete"] {
            if self.c.at(op) {
                let o = self.c.leaf("op")?;
                let e = self.nested(Self::unary)?;
                return Ok(Node::new("unary_expression", vec![o, e]));
            }
        }
        if self.c.at("++") || self.c.at("--") {
            let o = self.c.leaf("op")?;
            let e = self.nested(Self::unary)?;
            return Ok(Node::new("update_expression", vec![o, e]));
        }
        if self.c.at("await") {
            let o = self.c.leaf("await")?;
            let e = self.nested(Self::unary)?;
            return Ok(Node::new("await_expression", vec![o, e]));
        }
        let p = self.primary()?;
        self.postfix(p, true)
    }

    fn args(&mut self) -> Result<Node> {
        let mut kids = vec![self.c.expect("(")?];
        while !self.c.at(")") {
            kids.push(self.spread_or_assign()?);
            if self.c.at(",") {
                kids.push(self.c.leaf(",")?);
            } else {
                break;
            }
        }
        kids.push(self.c.expect(")")?);
        Ok(Node::new("arguments", kids))
    }

    fn postfix(&mut self, mut e: Node, calls: bool) -> Result<Node> {
        loop {
            if self.c.at(".") {
                let dot = self.c.leaf(".")?;
                if self.word().is_none() {
                    return Err(err("expected a property name"));
                }
                let prop = self.c.leaf("property_identifier")?;
                e = Node::new("member_expression", vec![e, dot, prop]);
            } else if self.c.at("?.") {
                let q = self.c.leaf("?.")?;
                if self.c.at("(") {
                    let args = self.args()?;
                    e = Node::new("call_expression", vec![e, q, args]);
                } else if self.c.at("[") {
                    let open = self.c.leaf("[")?;
                    let idx = self.sequence()?;
                    let close = self.c.expect("]")?;
                    e = Node::new("subscript_expression", vec![e, q, open, idx, close]);
                } else if self.word().is_some() {
                    let prop = self.c.leaf("property_identifier")?;
                    e = Node::new("member_expression", vec![e, q, prop]);
                } else {
                    return Err(err("bad optional chain"));
                }
            } else if self.c.at("[") {
                let open = self.c.leaf("[")?;
                let idx = self.sequence()?;
                e = if self.c.at(")") && !self.c.at("]") {
                    // tree-sitter inserts the missing `]` (no ERROR node).
                    Node::new("subscript_expression", vec![e, open, idx])
                } else {
                    let close = self.c.expect("]")?;
                    Node::new("subscript_expression", vec![e, open, idx, close])
                };
            } else if calls && self.c.at("(") {
                let args = self.args()?;
                e = Node::new("call_expression", vec![e, args]);
            } else if calls && self.c.peek().is_some_and(|t| t.tok == Tok::Template) {
                let tpl = self.c.leaf("template_string")?;
                e = Node::new("call_expression", vec![e, tpl]);
            } else if (self.c.at("++") || self.c.at("--"))
                && self.c.peek().is_some_and(|t| !t.newline_before)
            {
                let o = self.c.leaf("op")?;
                e = Node::new("update_expression", vec![e, o]);
            } else {
                return Ok(e);
            }
            self.link()?;
        }
    }

    fn primary(&mut self) -> Result<Node> {
        let t = self
            .c
            .peek()
            .ok_or_else(|| err("unexpected end of input"))?;
        match t.tok {
            Tok::Number => self.c.leaf("number"),
            Tok::Str => self.c.leaf("string"),
            Tok::Template => self.c.leaf("template_string"),
            Tok::Char => Err(err("character literal in JavaScript")),
            Tok::Regex => self.c.leaf("regex"),
            Tok::Ident => match self.c.text(t) {
                "true" => self.c.leaf("true"),
                "false" => self.c.leaf("false"),
                "null" => self.c.leaf("null"),
                "undefined" => self.c.leaf("undefined"),
                "this" => self.c.leaf("this"),
                "function" => {
                    let kw = self.c.leaf("function")?;
                    let mut kids = vec![kw];
                    if self.word().is_some() {
                        kids.push(self.c.leaf("identifier")?);
                    }
                    if !self.c.at("(") {
                        return Err(err("expected parameters"));
                    }
                    kids.push(self.balanced("formal_parameters")?);
                    if !self.c.at("{") {
                        return Err(err("expected a function body"));
                    }
                    kids.push(self.balanced("statement_block")?);
                    Ok(Node::new("function_expression", kids))
                }
                "new" => {
                    let kw = self.c.leaf("new")?;
                    let callee = self.nested(Self::primary)?;
                    let callee = self.postfix(callee, false)?;
                    let mut kids = vec![kw, callee];
                    if self.c.at("(") {
                        kids.push(self.args()?);
                    }
                    Ok(Node::new("new_expression", kids))
                }
                w if RESERVED.contains(&w) => {
                    Err(unsupported("class/async/yield/super/import expressions"))
                }
                _ => self.c.leaf("identifier"),
            },
            Tok::Punct => {
                if self.c.at("(") {
                    let open = self.c.leaf("(")?;
                    let inner = self.sequence()?;
                    let close = self.c.expect(")")?;
                    Ok(Node::new(
                        "parenthesized_expression",
                        vec![open, inner, close],
                    ))
                } else if self.c.at("[") {
                    let mut kids = vec![self.c.leaf("[")?];
                    while !self.c.at("]") {
                        if self.c.at(",") {
                            kids.push(self.c.leaf(",")?);
                            continue;
                        }
                        kids.push(self.spread_or_assign()?);
                        if self.c.at(",") {
                            kids.push(self.c.leaf(",")?);
                        } else {
                            break;
                        }
                    }
                    if self.c.at(")") && kids.len() > 1 {
                        // tree-sitter inserts the missing `]` (no ERROR node).
                        return Ok(Node::new("array", kids));
                    }
                    kids.push(self.c.expect("]")?);
                    Ok(Node::new("array", kids))
                } else if self.c.at("{") {
                    self.object()
                } else {
                    Err(err(format!("unexpected {:?}", self.c.text(t))))
                }
            }
        }
    }

    /// `let a = 1, b` (a statement that is never a call).
    fn declaration(&mut self) -> Result<Node> {
        let mut kids = vec![self.c.leaf("keyword")?];
        loop {
            if self.word().is_none() {
                return Err(unsupported("destructuring declarations"));
            }
            kids.push(self.c.leaf("identifier")?);
            if self.c.at("=") {
                kids.push(self.c.leaf("=")?);
                kids.push(self.assign()?);
            }
            if self.c.at(",") {
                kids.push(self.c.leaf(",")?);
            } else {
                break;
            }
        }
        Ok(Node::new("lexical_declaration", kids))
    }

    fn spread_or_assign(&mut self) -> Result<Node> {
        if self.c.at("...") {
            let dots = self.c.leaf("...")?;
            let e = self.assign()?;
            return Ok(Node::new("spread_element", vec![dots, e]));
        }
        self.assign()
    }

    fn object(&mut self) -> Result<Node> {
        let mut kids = vec![self.c.expect("{")?];
        while !self.c.at("}") {
            if self.c.at("...") {
                kids.push(self.spread_or_assign()?);
                if self.c.at(",") {
                    kids.push(self.c.leaf(",")?);
                    continue;
                }
                break;
            }
            let key_tok = self.c.peek().ok_or_else(|| err("unterminated object"))?;
            let key = match key_tok.tok {
                Tok::Ident => {
                    let w = self.c.text(key_tok);
                    if matches!(w, "get" | "set" | "async")
                        && self
                            .c
                            .peek2()
                            .is_some_and(|n| !matches!(self.c.text(n), ":" | "," | "(" | "}"))
                    {
                        return Err(unsupported("accessor/async methods"));
                    }
                    self.c.leaf("property_identifier")?
                }
                Tok::Str => self.c.leaf("string")?,
                Tok::Number => self.c.leaf("number")?,
                Tok::Punct if self.c.at("[") => {
                    let open = self.c.leaf("[")?;
                    let e = self.assign()?;
                    let close = self.c.expect("]")?;
                    Node::new("computed_property_name", vec![open, e, close])
                }
                _ => return Err(err("bad object key")),
            };
            if self.c.at(":") {
                let colon = self.c.leaf(":")?;
                let v = self.assign()?;
                kids.push(Node::new("pair", vec![key, colon, v]));
            } else if self.c.at("(") {
                let params = self.balanced("formal_parameters")?;
                if !self.c.at("{") {
                    return Err(err("expected a method body"));
                }
                let body = self.balanced("statement_block")?;
                kids.push(Node::new("method_definition", vec![key, params, body]));
            } else if key.kind == "property_identifier" {
                let w = self.c.src.get(key.start..key.end).unwrap_or("");
                if RESERVED.contains(&w) {
                    return Err(unsupported("reserved word as shorthand property"));
                }
                kids.push(key);
            } else {
                return Err(err("expected ':'"));
            }
            if self.c.at(",") {
                kids.push(self.c.leaf(",")?);
            } else {
                break;
            }
        }
        if self.c.at(")") && kids.len() > 1 {
            // tree-sitter inserts the missing `}` (no ERROR node).
            return Ok(Node::new("object", kids));
        }
        kids.push(self.c.expect("}")?);
        Ok(Node::new("object", kids))
    }
}

fn text(src: &str, n: &Node) -> String {
    src.get(n.start..n.end).unwrap_or("").to_string()
}

fn strip_quotes(v: String) -> String {
    let q = (v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\''));
    if q {
        crate::eval::checker::py_inner(&v)
    } else {
        v
    }
}

fn extract_arguments(src: &str, args: &Node) -> Result<PyDict> {
    let mut out: Vec<(PyVal, PyVal)> = Vec::new();
    for k in &args.kids {
        let (key, value) = match k.kind {
            "assignment_expression" => {
                let (Some(name), Some(value)) = (k.kids.first(), k.kids.get(2)) else {
                    continue;
                };
                (PyVal::Str(text(src, name)), strip_quotes(text(src, value)))
            }
            "identifier" | "true" => (PyVal::None, text(src, k)),
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

/// `parse_javascript_function_call(source_code)`: `[{callee: {param: text}}]`
/// or `None`.
pub fn parse_javascript_function_call(src: &str) -> Result<PyVal> {
    let toks = tokenize(src, Lang::JavaScript)?;
    let c = Cursor { src, toks, pos: 0 };
    let mut p = P {
        closer: closers(&c),
        c,
        budget: Budget::new("JavaScript"),
    };
    let mut stmts = Vec::new();
    while p.c.peek().is_some() {
        if p.c.at(";") {
            p.c.leaf(";")?;
            continue;
        }
        if p.c.at("{") {
            return Err(unsupported("block statements"));
        }
        let e = match p.word() {
            Some("var" | "let" | "const") => p.declaration()?,
            Some(
                "if" | "for" | "while" | "do" | "return" | "function" | "class" | "import"
                | "export" | "switch" | "try" | "throw",
            ) => return Err(unsupported("control statements and declarations")),
            _ => p.sequence()?,
        };
        if p.c.at(";") {
            p.c.leaf(";")?;
        } else if let Some(t) = p.c.peek() {
            if !t.newline_before || p.c.at("}") {
                return Err(err("Error js parsing the source code."));
            }
        }
        stmts.push(e);
    }
    for e in &stmts {
        if e.kind == "call_expression" {
            let (Some(callee), Some(args)) = (e.kids.first(), e.kids.get(1)) else {
                continue;
            };
            let mut call = PyDict::new();
            call.insert_str(
                &text(src, callee),
                PyVal::Dict(extract_arguments(src, args)?),
            );
            return Ok(PyVal::List(vec![PyVal::Dict(call)]));
        }
    }
    Ok(PyVal::None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::on_spawned_thread;
    use crate::eval::pyrepr::repr;

    /// Parses on a thread with the default 2 MiB stack; the decoded value's `repr`.
    fn parse_small_stack(src: String) -> Result<String> {
        on_spawned_thread(move || parse_javascript_function_call(&src).map(|v| repr(&v)))
    }

    fn too_deep() -> Result<String> {
        Err(DecodeError::Unsupported(
            "JavaScript nesting deeper than 200 levels".into(),
        ))
    }

    #[test]
    fn deep_nesting_is_unsupported_not_a_stack_overflow() {
        let n = 200_000;
        let cases = [
            format!("f({}1)", "!".repeat(n)),
            format!("f({}1{})", "(".repeat(n / 2), ")".repeat(n / 2)),
            format!("f({}1)", "(".repeat(n)),
            format!("f([{}1{}])", "[".repeat(n / 2), "]".repeat(n / 2)),
            format!("f({}1)", "{a:".repeat(n / 3)),
            format!("f({}1)", "a=".repeat(n / 2)),
            format!("f({}1)", "2**".repeat(n / 3)),
            format!("f({}a)", "new ".repeat(n / 4)),
            format!("f({}1)", "x=>".repeat(n / 3)),
            format!("f({}1)", "a?b:".repeat(n / 4)),
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
        let arrays = |k: usize| format!("{}1{}", "[".repeat(k), "]".repeat(k));
        let objects = |k: usize| format!("{}1{}", "{a:".repeat(k), "}".repeat(k));
        let nots = |k: usize| format!("{}1", "!".repeat(k));
        for arg in [parens(197), arrays(197), objects(197), nots(197)] {
            let want = format!("[{{'f': {{'x': '{arg}'}}}}]");
            assert_eq!(parse_small_stack(format!("f(x={arg})")), Ok(want));
        }
        for arg in [parens(198), arrays(198), objects(198), nots(198)] {
            assert_eq!(parse_small_stack(format!("f(x={arg})")), too_deep());
        }
    }

    #[test]
    fn long_chains_are_unsupported_not_a_stack_overflow() {
        let n = 200_000;
        let too_long = Err(DecodeError::Unsupported(
            "JavaScript chains of more than 2000 operators and suffixes".into(),
        ));
        for src in [
            format!("f(x={}1)", "1+".repeat(n / 2)),
            format!("f(x=a{})", ".b".repeat(n / 2)),
            format!("f(x=a{})", "()".repeat(n / 2)),
            format!("f(x=a{})", "[0]".repeat(n / 3)),
        ] {
            let head: String = src.chars().take(12).collect();
            assert_eq!(parse_small_stack(src), too_long, "{head}");
        }
        let src = format!("f(x={}1)", "1+".repeat(1000));
        assert_eq!(
            parse_small_stack(src),
            Ok(format!("[{{'f': {{'x': '{}1'}}}}]", "1+".repeat(1000)))
        );
    }

    #[test]
    fn arrow_lookahead_uses_the_matching_bracket() {
        let ok = |src: &str| parse_javascript_function_call(src).map(|v| repr(&v));
        // `(a, [b]) =>` is an arrow function, `(a)(b)` a call, `(a) + b` not an arrow.
        assert_eq!(
            ok("f(x=(a, [b]) => a)"),
            Ok("[{'f': {'x': '(a, [b]) => a'}}]".into())
        );
        assert_eq!(ok("f(x=(a)(b))"), Ok("[{'f': {'x': '(a)(b)'}}]".into()));
        assert_eq!(ok("f(x=(a) + b)"), Ok("[{'f': {'x': '(a) + b'}}]".into()));
        assert_eq!(
            ok("f(x=(a, b)"),
            Err(DecodeError::Failed("expected )".into()))
        );
    }
}
