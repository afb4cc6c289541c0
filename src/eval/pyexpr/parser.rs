//! Recursive-descent parser for the Python 3.11 expression grammar
//! (`eval: expressions NEWLINE* ENDMARKER`).

use super::ast::{BinOp, BoolOp, CmpOp, CompKind, Comprehension, ConstVal, Expr, Keyword, UnaryOp};
use super::lexer::{tokenize, StrContent, Tok};
use super::{ParseError, Result};
use crate::eval::pyval::PyVal;

const KEYWORDS: [&str; 35] = [
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

const MAX_DEPTH: usize = 200;

fn syntax(msg: impl Into<String>) -> ParseError {
    ParseError::Syntax(msg.into())
}

/// `ast.parse(src, mode="eval").body`.
pub fn parse_eval(src: &str) -> Result<Expr> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
    };
    let e = p.expressions()?;
    while matches!(p.peek(), Tok::Newline) {
        p.pos += 1;
    }
    if !matches!(p.peek(), Tok::End) {
        return Err(syntax("invalid syntax"));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).unwrap_or(&Tok::End)
    }

    fn peek_at(&self, off: usize) -> &Tok {
        self.toks.get(self.pos + off).unwrap_or(&Tok::End)
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek(), Tok::Op(o) if *o == op)
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Name(n) if n == kw)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        if self.is_op(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<()> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(syntax(format!("expected '{op}'")))
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(syntax("too many nested parentheses"));
        }
        Ok(())
    }

    /// A plain (non-keyword) identifier at the cursor.
    fn peek_plain_name(&self) -> Option<&str> {
        match self.peek() {
            Tok::Name(n) if !KEYWORDS.contains(&n.as_str()) => Some(n),
            _ => None,
        }
    }

    /// `expressions: expression (',' expression)* [',']`
    fn expressions(&mut self) -> Result<Expr> {
        let first = self.star_expression()?;
        if !self.is_op(",") {
            if matches!(first, Expr::Starred(_)) {
                return Err(syntax("can't use starred expression here"));
            }
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.at_expression_end() {
                break;
            }
            items.push(self.star_expression()?);
        }
        Ok(Expr::Tuple(items))
    }

    fn at_expression_end(&self) -> bool {
        matches!(self.peek(), Tok::Newline | Tok::End)
            || matches!(self.peek(), Tok::Op(o) if matches!(*o, ")" | "]" | "}" | ":" | "="))
    }

    fn star_expression(&mut self) -> Result<Expr> {
        if self.eat_op("*") {
            return Ok(Expr::Starred(Box::new(self.bitwise_or()?)));
        }
        self.expression()
    }

    /// `star_named_expression: '*' bitwise_or | named_expression`
    fn star_named_expression(&mut self) -> Result<Expr> {
        if self.eat_op("*") {
            return Ok(Expr::Starred(Box::new(self.bitwise_or()?)));
        }
        self.named_expression()
    }

    /// `named_expression: NAME ':=' expression | expression !':='`
    fn named_expression(&mut self) -> Result<Expr> {
        if let Some(name) = self.peek_plain_name() {
            if matches!(self.peek_at(1), Tok::Op(":=")) {
                let name = name.to_string();
                self.pos += 2;
                let value = self.expression()?;
                return Ok(Expr::NamedExpr(name, Box::new(value)));
            }
        }
        let e = self.expression()?;
        if self.is_op(":=") {
            return Err(syntax("cannot use assignment expressions with this target"));
        }
        Ok(e)
    }

    /// `expression: disjunction ['if' disjunction 'else' expression] | lambdef`
    fn expression(&mut self) -> Result<Expr> {
        self.enter()?;
        let r = self.expression_inner();
        self.depth -= 1;
        r
    }

    fn expression_inner(&mut self) -> Result<Expr> {
        if self.eat_kw("lambda") {
            return self.lambda();
        }
        let body = self.disjunction()?;
        if self.eat_kw("if") {
            let test = self.disjunction()?;
            if !self.eat_kw("else") {
                return Err(syntax("expected 'else' after 'if' expression"));
            }
            let orelse = self.expression()?;
            return Ok(Expr::IfExp(
                Box::new(test),
                Box::new(body),
                Box::new(orelse),
            ));
        }
        Ok(body)
    }

    fn lambda(&mut self) -> Result<Expr> {
        let mut params: Vec<(String, Option<Expr>)> = Vec::new();
        while !self.is_op(":") {
            if self.eat_op("**") {
                let n = self.plain_name()?;
                params.push((format!("**{n}"), None));
            } else if self.eat_op("*") {
                match self.peek_plain_name() {
                    Some(n) => {
                        let n = format!("*{n}");
                        self.pos += 1;
                        params.push((n, None));
                    }
                    None => params.push(("*".to_string(), None)),
                }
            } else if self.eat_op("/") {
                params.push(("/".to_string(), None));
            } else {
                let n = self.plain_name()?;
                let default = if self.eat_op("=") {
                    Some(self.expression()?)
                } else {
                    None
                };
                params.push((n, default));
            }
            if !self.eat_op(",") {
                break;
            }
        }
        self.expect_op(":")?;
        let body = self.expression()?;
        Ok(Expr::Lambda(params, Box::new(body)))
    }

    fn plain_name(&mut self) -> Result<String> {
        let n = self
            .peek_plain_name()
            .ok_or_else(|| syntax("expected a name"))?
            .to_string();
        self.pos += 1;
        Ok(n)
    }

    fn disjunction(&mut self) -> Result<Expr> {
        let first = self.conjunction()?;
        if !self.is_kw("or") {
            return Ok(first);
        }
        let mut values = vec![first];
        while self.eat_kw("or") {
            values.push(self.conjunction()?);
        }
        Ok(Expr::BoolOp(BoolOp::Or, values))
    }

    fn conjunction(&mut self) -> Result<Expr> {
        let first = self.inversion()?;
        if !self.is_kw("and") {
            return Ok(first);
        }
        let mut values = vec![first];
        while self.eat_kw("and") {
            values.push(self.inversion()?);
        }
        Ok(Expr::BoolOp(BoolOp::And, values))
    }

    fn inversion(&mut self) -> Result<Expr> {
        if self.eat_kw("not") {
            self.enter()?;
            let e = self.inversion();
            self.depth -= 1;
            return Ok(Expr::UnaryOp(UnaryOp::Not, Box::new(e?)));
        }
        self.comparison()
    }

    fn cmp_op(&mut self) -> Option<CmpOp> {
        let op = match self.peek() {
            Tok::Op("==") => CmpOp::Eq,
            Tok::Op("!=") => CmpOp::NotEq,
            Tok::Op("<") => CmpOp::Lt,
            Tok::Op("<=") => CmpOp::LtE,
            Tok::Op(">") => CmpOp::Gt,
            Tok::Op(">=") => CmpOp::GtE,
            Tok::Name(n) if n == "in" => CmpOp::In,
            Tok::Name(n) if n == "is" => {
                if matches!(self.peek_at(1), Tok::Name(m) if m == "not") {
                    self.pos += 2;
                    return Some(CmpOp::IsNot);
                }
                CmpOp::Is
            }
            Tok::Name(n) if n == "not" && matches!(self.peek_at(1), Tok::Name(m) if m == "in") => {
                self.pos += 2;
                return Some(CmpOp::NotIn);
            }
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    fn comparison(&mut self) -> Result<Expr> {
        let left = self.bitwise_or()?;
        let mut ops = Vec::new();
        while let Some(op) = self.cmp_op() {
            ops.push((op, self.bitwise_or()?));
        }
        if ops.is_empty() {
            Ok(left)
        } else {
            Ok(Expr::Compare(Box::new(left), ops))
        }
    }

    fn binary_level(
        &mut self,
        ops: &[(&str, BinOp)],
        next: fn(&mut Self) -> Result<Expr>,
    ) -> Result<Expr> {
        let mut left = next(self)?;
        'outer: loop {
            for (tok, op) in ops {
                if self.eat_op(tok) {
                    let right = next(self)?;
                    left = Expr::BinOp(Box::new(left), *op, Box::new(right));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn bitwise_or(&mut self) -> Result<Expr> {
        self.binary_level(&[("|", BinOp::BitOr)], Self::bitwise_xor)
    }

    fn bitwise_xor(&mut self) -> Result<Expr> {
        self.binary_level(&[("^", BinOp::BitXor)], Self::bitwise_and)
    }

    fn bitwise_and(&mut self) -> Result<Expr> {
        self.binary_level(&[("&", BinOp::BitAnd)], Self::shift_expr)
    }

    fn shift_expr(&mut self) -> Result<Expr> {
        self.binary_level(&[("<<", BinOp::LShift), (">>", BinOp::RShift)], Self::sum)
    }

    fn sum(&mut self) -> Result<Expr> {
        self.binary_level(&[("+", BinOp::Add), ("-", BinOp::Sub)], Self::term)
    }

    fn term(&mut self) -> Result<Expr> {
        self.binary_level(
            &[
                ("*", BinOp::Mult),
                ("/", BinOp::Div),
                ("//", BinOp::FloorDiv),
                ("%", BinOp::Mod),
                ("@", BinOp::MatMult),
            ],
            Self::factor,
        )
    }

    fn factor(&mut self) -> Result<Expr> {
        let op = match self.peek() {
            Tok::Op("+") => UnaryOp::UAdd,
            Tok::Op("-") => UnaryOp::USub,
            Tok::Op("~") => UnaryOp::Invert,
            _ => return self.power(),
        };
        self.pos += 1;
        self.enter()?;
        let operand = self.factor();
        self.depth -= 1;
        Ok(Expr::UnaryOp(op, Box::new(operand?)))
    }

    fn power(&mut self) -> Result<Expr> {
        let base = if self.eat_kw("await") {
            Expr::Await(Box::new(self.primary()?))
        } else {
            self.primary()?
        };
        if self.eat_op("**") {
            self.enter()?;
            let exp = self.factor();
            self.depth -= 1;
            return Ok(Expr::BinOp(Box::new(base), BinOp::Pow, Box::new(exp?)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Expr> {
        let mut e = self.atom()?;
        loop {
            if self.eat_op(".") {
                let n = self.plain_name()?;
                e = Expr::Attribute(Box::new(e), n);
            } else if self.eat_op("(") {
                e = self.call(e)?;
            } else if self.eat_op("[") {
                let slice = self.slices()?;
                self.expect_op("]")?;
                e = Expr::Subscript(Box::new(e), Box::new(slice));
            } else {
                return Ok(e);
            }
        }
    }

    fn call(&mut self, func: Expr) -> Result<Expr> {
        let mut args = Vec::new();
        let mut keywords: Vec<Keyword> = Vec::new();
        let mut seen_kw = false;
        let mut seen_double_star = false;
        let mut count = 0usize;
        while !self.is_op(")") {
            count += 1;
            if self.eat_op("**") {
                let v = self.expression()?;
                keywords.push(Keyword {
                    arg: None,
                    value: v,
                });
                seen_double_star = true;
            } else if self.eat_op("*") {
                if seen_double_star {
                    return Err(syntax(
                        "iterable argument unpacking follows keyword argument unpacking",
                    ));
                }
                args.push(Expr::Starred(Box::new(self.expression()?)));
            } else if matches!(self.peek_at(1), Tok::Op("=")) && matches!(self.peek(), Tok::Name(_))
            {
                let name = match self.peek() {
                    Tok::Name(n) => n.clone(),
                    _ => String::new(),
                };
                if KEYWORDS.contains(&name.as_str()) {
                    return Err(syntax(format!("cannot assign to {name}")));
                }
                self.pos += 2;
                let v = self.expression()?;
                keywords.push(Keyword {
                    arg: Some(name),
                    value: v,
                });
                seen_kw = true;
            } else {
                let e = self.named_expression()?;
                if self.is_kw("for") || self.is_kw("async") {
                    let gens = self.comprehensions()?;
                    let gen = Expr::Comp(CompKind::Generator, Box::new(e), None, gens);
                    if count != 1 || !self.is_op(")") {
                        return Err(syntax("Generator expression must be parenthesized"));
                    }
                    args.push(gen);
                    break;
                }
                if self.is_op("=") {
                    return Err(syntax("expression cannot contain assignment"));
                }
                if seen_double_star {
                    return Err(syntax(
                        "positional argument follows keyword argument unpacking",
                    ));
                }
                if seen_kw {
                    return Err(syntax("positional argument follows keyword argument"));
                }
                args.push(e);
            }
            if !self.eat_op(",") {
                break;
            }
        }
        self.expect_op(")")?;
        Ok(Expr::Call(Box::new(func), args, keywords))
    }

    /// `slices: slice !',' | ','.(slice | starred_expression)+ [',']`
    fn slices(&mut self) -> Result<Expr> {
        let first = self.slice_item()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.is_op("]") {
                break;
            }
            items.push(self.slice_item()?);
        }
        Ok(Expr::Tuple(items))
    }

    fn slice_item(&mut self) -> Result<Expr> {
        if self.eat_op("*") {
            return Ok(Expr::Starred(Box::new(self.expression()?)));
        }
        let lower = if self.is_op(":") {
            None
        } else {
            let e = self.named_expression()?;
            if !self.is_op(":") {
                return Ok(e);
            }
            Some(Box::new(e))
        };
        self.expect_op(":")?;
        let upper = if self.is_op(":") || self.is_op(",") || self.is_op("]") {
            None
        } else {
            Some(Box::new(self.expression()?))
        };
        let step = if self.eat_op(":") {
            if self.is_op(",") || self.is_op("]") {
                None
            } else {
                Some(Box::new(self.expression()?))
            }
        } else {
            None
        };
        Ok(Expr::Slice(lower, upper, step))
    }

    fn comprehensions(&mut self) -> Result<Vec<Comprehension>> {
        let mut gens = Vec::new();
        loop {
            let is_async = self.eat_kw("async");
            if !self.eat_kw("for") {
                if is_async {
                    return Err(syntax("expected 'for'"));
                }
                break;
            }
            let target = self.targets()?;
            if !self.eat_kw("in") {
                return Err(syntax("expected 'in'"));
            }
            let iter = self.disjunction()?;
            let mut ifs = Vec::new();
            while self.eat_kw("if") {
                ifs.push(self.disjunction()?);
            }
            gens.push(Comprehension {
                is_async,
                target,
                iter,
                ifs,
            });
        }
        Ok(gens)
    }

    fn targets(&mut self) -> Result<Expr> {
        let first = self.one_target()?;
        if !self.is_op(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.is_kw("in") {
                break;
            }
            items.push(self.one_target()?);
        }
        Ok(Expr::Tuple(items))
    }

    fn one_target(&mut self) -> Result<Expr> {
        let e = if self.eat_op("*") {
            Expr::Starred(Box::new(self.bitwise_or()?))
        } else {
            self.bitwise_or()?
        };
        if !is_assignable(&e) {
            return Err(syntax("cannot assign to expression"));
        }
        Ok(e)
    }

    fn atom(&mut self) -> Result<Expr> {
        let tok = self.peek().clone();
        match tok {
            Tok::Name(n) => {
                self.pos += 1;
                match n.as_str() {
                    "True" => Ok(Expr::constant(PyVal::Bool(true))),
                    "False" => Ok(Expr::constant(PyVal::Bool(false))),
                    "None" => Ok(Expr::constant(PyVal::None)),
                    "yield" => Err(ParseError::Unsupported("yield expression".into())),
                    k if KEYWORDS.contains(&k) => Err(syntax(format!("unexpected keyword {k}"))),
                    _ => Ok(Expr::Name(n)),
                }
            }
            Tok::Number(v) => {
                self.pos += 1;
                Ok(Expr::constant(v))
            }
            Tok::Str { .. } => self.strings(),
            Tok::Op("...") => {
                self.pos += 1;
                Ok(Expr::Constant {
                    value: ConstVal::Ellipsis,
                    u_prefix: false,
                })
            }
            Tok::Op("(") => {
                self.pos += 1;
                self.enter()?;
                let r = self.paren();
                self.depth -= 1;
                r
            }
            Tok::Op("[") => {
                self.pos += 1;
                self.enter()?;
                let r = self.bracket();
                self.depth -= 1;
                r
            }
            Tok::Op("{") => {
                self.pos += 1;
                self.enter()?;
                let r = self.brace();
                self.depth -= 1;
                r
            }
            _ => Err(syntax("invalid syntax")),
        }
    }

    fn strings(&mut self) -> Result<Expr> {
        let mut text = String::new();
        let mut bytes: Vec<u8> = Vec::new();
        let mut kind: Option<bool> = None; // Some(true) = bytes
        let mut is_f = false;
        let mut fsrc = String::new();
        let mut u_prefix = None;
        while let Tok::Str {
            content,
            u_prefix: u,
        } = self.peek().clone()
        {
            self.pos += 1;
            if u_prefix.is_none() {
                u_prefix = Some(u);
            }
            let this_bytes = matches!(content, StrContent::Bytes(_));
            if kind.is_some_and(|k| k != this_bytes) {
                return Err(syntax("cannot mix bytes and nonbytes literals"));
            }
            kind = Some(this_bytes);
            match content {
                StrContent::Text(s) => text.push_str(&s),
                StrContent::Bytes(b) => bytes.extend(b),
                StrContent::FString(src) => {
                    is_f = true;
                    fsrc.push_str(&src);
                }
            }
        }
        if is_f {
            return Ok(Expr::FString(fsrc));
        }
        let value = if kind == Some(true) {
            PyVal::Bytes(bytes)
        } else {
            PyVal::Str(text)
        };
        Ok(Expr::Constant {
            value: ConstVal::Value(value),
            u_prefix: u_prefix.unwrap_or(false),
        })
    }

    fn paren(&mut self) -> Result<Expr> {
        if self.eat_op(")") {
            return Ok(Expr::Tuple(Vec::new()));
        }
        if self.is_kw("yield") {
            return Err(ParseError::Unsupported("yield expression".into()));
        }
        let first = self.star_named_expression()?;
        if !matches!(first, Expr::Starred(_)) && (self.is_kw("for") || self.is_kw("async")) {
            let gens = self.comprehensions()?;
            self.expect_op(")")?;
            return Ok(Expr::Comp(CompKind::Generator, Box::new(first), None, gens));
        }
        if self.eat_op(")") {
            if matches!(first, Expr::Starred(_)) {
                return Err(syntax("cannot use starred expression here"));
            }
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.is_op(")") {
                break;
            }
            items.push(self.star_named_expression()?);
        }
        self.expect_op(")")?;
        Ok(Expr::Tuple(items))
    }

    fn bracket(&mut self) -> Result<Expr> {
        if self.eat_op("]") {
            return Ok(Expr::List(Vec::new()));
        }
        let first = self.star_named_expression()?;
        if !matches!(first, Expr::Starred(_)) && (self.is_kw("for") || self.is_kw("async")) {
            let gens = self.comprehensions()?;
            self.expect_op("]")?;
            return Ok(Expr::Comp(CompKind::List, Box::new(first), None, gens));
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.is_op("]") {
                break;
            }
            items.push(self.star_named_expression()?);
        }
        self.expect_op("]")?;
        Ok(Expr::List(items))
    }

    fn brace(&mut self) -> Result<Expr> {
        if self.eat_op("}") {
            return Ok(Expr::Dict(Vec::new()));
        }
        // Dict (or dict comprehension) when the first item is `**x` or `k: v`.
        if self.eat_op("**") {
            let v = self.bitwise_or()?;
            return self.dict_rest(vec![(None, v)]);
        }
        let first = self.star_named_expression()?;
        if self.eat_op(":") {
            if matches!(first, Expr::Starred(_) | Expr::NamedExpr(..)) {
                return Err(syntax("invalid dict key"));
            }
            let v = self.expression()?;
            if self.is_kw("for") || self.is_kw("async") {
                let gens = self.comprehensions()?;
                self.expect_op("}")?;
                return Ok(Expr::Comp(
                    CompKind::Dict,
                    Box::new(first),
                    Some(Box::new(v)),
                    gens,
                ));
            }
            return self.dict_rest(vec![(Some(first), v)]);
        }
        if !matches!(first, Expr::Starred(_)) && (self.is_kw("for") || self.is_kw("async")) {
            let gens = self.comprehensions()?;
            self.expect_op("}")?;
            return Ok(Expr::Comp(CompKind::Set, Box::new(first), None, gens));
        }
        let mut items = vec![first];
        while self.eat_op(",") {
            if self.is_op("}") {
                break;
            }
            items.push(self.star_named_expression()?);
        }
        self.expect_op("}")?;
        Ok(Expr::Set(items))
    }

    fn dict_rest(&mut self, mut items: Vec<(Option<Expr>, Expr)>) -> Result<Expr> {
        while self.eat_op(",") {
            if self.is_op("}") {
                break;
            }
            if self.eat_op("**") {
                let v = self.bitwise_or()?;
                items.push((None, v));
            } else {
                let k = self.expression()?;
                self.expect_op(":")?;
                let v = self.expression()?;
                items.push((Some(k), v));
            }
        }
        self.expect_op("}")?;
        Ok(Expr::Dict(items))
    }
}

fn is_assignable(e: &Expr) -> bool {
    match e {
        Expr::Name(_) | Expr::Attribute(..) | Expr::Subscript(..) => true,
        Expr::Starred(inner) => is_assignable(inner),
        Expr::Tuple(items) | Expr::List(items) => items.iter().all(is_assignable),
        _ => false,
    }
}
