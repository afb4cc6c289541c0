//! Tokenizer for Python 3.11 source, restricted to what an expression needs.

use super::{ParseError, Result};
use crate::eval::pyjson::int_from_decimal;
use crate::eval::pyval::PyVal;

/// The decoded content of a string literal token.
#[derive(Clone, Debug)]
pub enum StrContent {
    /// A `str` literal.
    Text(String),
    /// A `bytes` literal.
    Bytes(Vec<u8>),
    /// An f-string (its source text).
    FString(String),
}

/// A token.
#[derive(Clone, Debug)]
pub enum Tok {
    /// Identifier or keyword.
    Name(String),
    /// Numeric literal value (`int`, `float` or imaginary `complex`).
    Number(PyVal),
    /// String literal; `u_prefix` records a `u`/`U` prefix.
    Str {
        /// Decoded content.
        content: StrContent,
        /// Written with a `u` prefix.
        u_prefix: bool,
    },
    /// Operator or delimiter.
    Op(&'static str),
    /// End of a logical line outside brackets.
    Newline,
    /// End of input.
    End,
}

const OPERATORS: [&str; 48] = [
    "**=", "//=", ">>=", "<<=", "...", "!=", "%=", "&=", "**", "*=", "+=", "-=", "->", "//", "/=",
    ":=", "<<", "<=", "==", ">=", ">>", "@=", "^=", "|=", "!", "%", "&", "(", ")", "*", "+", ",",
    "-", ".", "/", ":", ";", "<", "=", ">", "@", "[", "]", "^", "{", "|", "}", "~",
];

fn syntax(msg: impl Into<String>) -> ParseError {
    ParseError::Syntax(msg.into())
}

/// Whether `c` may start an identifier (approximates XID_Start).
pub fn is_id_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

/// Whether `c` may continue an identifier (approximates XID_Continue).
pub fn is_id_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric() || is_combining_mark(c)
}

fn is_combining_mark(c: char) -> bool {
    matches!(c as u32, 0x300..=0x36f | 0x1ab0..=0x1aff | 0x1dc0..=0x1dff | 0x20d0..=0x20ff | 0xfe20..=0xfe2f)
}

/// Whether NFKC normalization (which Python applies to identifiers) might
/// change `c`, or Python might not accept it in an identifier at all.
fn nfkc_unsure(c: char) -> bool {
    let u = c as u32;
    is_combining_mark(c)
        || (c.is_numeric() && !c.is_ascii_digit())
        || matches!(u,
            0xaa | 0xb2 | 0xb3 | 0xb5 | 0xb9 | 0xba | 0x130 | 0x131 | 0x17f | 0x1c4..=0x1cc
            | 0x1f1..=0x1f3 | 0x2b0..=0x2ff | 0x1d2c..=0x1dbf | 0x2070..=0x209f
            | 0x2100..=0x214f | 0x2160..=0x218f | 0x2460..=0x24ff | 0x2c7c..=0x2c7d
            | 0x3131..=0x318e | 0x3200..=0x33ff | 0xa69c..=0xa69d | 0xa770 | 0xa7f8..=0xa7f9
            | 0xab5c..=0xab5f | 0xf900..=0xfaff | 0xfb00..=0xfdff | 0xfe30..=0xfe4f
            | 0xfe70..=0xfeff | 0xff00..=0xffef | 0x1d400..=0x1d7ff | 0x1ee00..=0x1eeff
            | 0x1f100..=0x1f1ff | 0x2f800..=0x2fa1f)
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    toks: Vec<Tok>,
}

/// Splits `src` into tokens (ending with [`Tok::End`]).
pub fn tokenize(src: &str) -> Result<Vec<Tok>> {
    if src.contains('\0') {
        return Err(syntax("source code string cannot contain null bytes"));
    }
    let mut lx = Lexer {
        chars: src.chars().collect(),
        pos: 0,
        depth: 0,
        toks: Vec::new(),
    };
    lx.run()?;
    Ok(lx.toks)
}

impl Lexer {
    fn peek_at(&self, off: usize) -> Option<char> {
        self.chars.get(self.pos + off).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        let n = s.chars().count();
        self.pos + n <= self.chars.len()
            && self.chars[self.pos..self.pos + n]
                .iter()
                .copied()
                .eq(s.chars())
    }

    fn run(&mut self) -> Result<()> {
        let mut line_has_token = false;
        while let Some(c) = self.peek_at(0) {
            match c {
                ' ' | '\t' | '\u{c}' => self.pos += 1,
                '#' => {
                    while !matches!(self.peek_at(0), None | Some('\n' | '\r')) {
                        self.pos += 1;
                    }
                }
                '\n' | '\r' => {
                    self.pos += 1;
                    if c == '\r' && self.peek_at(0) == Some('\n') {
                        self.pos += 1;
                    }
                    if self.depth == 0 && line_has_token {
                        self.toks.push(Tok::Newline);
                        line_has_token = false;
                    }
                }
                '\\' => {
                    self.pos += 1;
                    match self.peek_at(0) {
                        Some('\n') => self.pos += 1,
                        Some('\r') => {
                            self.pos += 1;
                            if self.peek_at(0) == Some('\n') {
                                self.pos += 1;
                            }
                        }
                        None => return Err(syntax("unexpected EOF while parsing")),
                        _ => {
                            return Err(syntax(
                                "unexpected character after line continuation character",
                            ))
                        }
                    }
                }
                c if c.is_ascii_digit()
                    || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) =>
                {
                    line_has_token = true;
                    let v = self.number()?;
                    self.toks.push(Tok::Number(v));
                }
                '\'' | '"' => {
                    line_has_token = true;
                    let t = self.string(String::new())?;
                    self.toks.push(t);
                }
                c if is_id_start(c) => {
                    line_has_token = true;
                    let start = self.pos;
                    while self.peek_at(0).is_some_and(is_id_continue) {
                        self.pos += 1;
                    }
                    let word: String = self.chars[start..self.pos].iter().collect();
                    if matches!(self.peek_at(0), Some('\'' | '"')) && is_string_prefix(&word) {
                        let t = self.string(word)?;
                        self.toks.push(t);
                    } else {
                        if word.chars().any(nfkc_unsure) {
                            return Err(ParseError::Unsupported(format!(
                                "identifier {word:?} (NFKC normalization)"
                            )));
                        }
                        self.toks.push(Tok::Name(word));
                    }
                }
                _ => {
                    line_has_token = true;
                    let op = OPERATORS
                        .iter()
                        .find(|op| self.starts_with(op))
                        .copied()
                        .ok_or_else(|| syntax(format!("invalid character {c:?}")))?;
                    self.pos += op.chars().count();
                    match op {
                        "(" | "[" | "{" => self.depth += 1,
                        ")" | "]" | "}" => {
                            if self.depth == 0 {
                                return Err(syntax(format!("unmatched '{op}'")));
                            }
                            self.depth -= 1;
                        }
                        _ => {}
                    }
                    self.toks.push(Tok::Op(op));
                }
            }
        }
        if self.depth > 0 {
            return Err(syntax("unexpected EOF: bracket was never closed"));
        }
        if line_has_token {
            self.toks.push(Tok::Newline);
        }
        self.toks.push(Tok::End);
        Ok(())
    }

    /// Consumes digits of the given radix with single underscores between them.
    fn digit_run(&mut self, radix: u32, out: &mut String) -> Result<usize> {
        let mut n = 0;
        loop {
            match self.peek_at(0) {
                Some(c) if c.is_digit(radix) => {
                    out.push(c);
                    self.pos += 1;
                    n += 1;
                }
                Some('_') if n > 0 && self.peek_at(1).is_some_and(|d| d.is_digit(radix)) => {
                    self.pos += 1;
                }
                Some('_') => return Err(syntax("invalid decimal literal")),
                _ => return Ok(n),
            }
        }
    }

    fn check_number_end(&self) -> Result<()> {
        match self.peek_at(0) {
            Some(c) if is_id_continue(c) => {
                const OK: [&str; 8] = ["and", "else", "for", "if", "in", "is", "not", "or"];
                if OK.iter().any(|k| self.starts_with(k)) {
                    Ok(())
                } else {
                    Err(syntax("invalid decimal literal"))
                }
            }
            _ => Ok(()),
        }
    }

    fn number(&mut self) -> Result<PyVal> {
        // Non-decimal integers.
        if self.peek_at(0) == Some('0') {
            let radix = match self.peek_at(1) {
                Some('x' | 'X') => Some(16),
                Some('o' | 'O') => Some(8),
                Some('b' | 'B') => Some(2),
                _ => None,
            };
            if let Some(radix) = radix {
                self.pos += 2;
                if self.peek_at(0) == Some('_') {
                    self.pos += 1;
                }
                let mut digits = String::new();
                if self.digit_run(radix, &mut digits)? == 0 {
                    return Err(syntax("invalid number literal"));
                }
                if self.peek_at(0).is_some_and(|c| c.is_ascii_digit()) {
                    return Err(syntax("invalid digit in literal"));
                }
                self.check_number_end()?;
                return match u128::from_str_radix(&digits, radix) {
                    Ok(v) => Ok(match i128::try_from(v) {
                        Ok(i) => PyVal::Int(i),
                        Err(_) => int_from_decimal(&v.to_string()),
                    }),
                    Err(_) => Err(ParseError::Unsupported("huge integer literal".into())),
                };
            }
        }
        let mut int_part = String::new();
        self.digit_run(10, &mut int_part)?;
        let mut is_float = false;
        let mut text = int_part.clone();
        if self.peek_at(0) == Some('.') {
            is_float = true;
            self.pos += 1;
            text.push('.');
            let mut frac = String::new();
            if self.peek_at(0).is_some_and(|c| c.is_ascii_digit()) {
                self.digit_run(10, &mut frac)?;
            }
            if frac.is_empty() {
                frac.push('0');
            }
            if int_part.is_empty() {
                text.insert(0, '0');
            }
            text.push_str(&frac);
        }
        if matches!(self.peek_at(0), Some('e' | 'E')) {
            let save = self.pos;
            self.pos += 1;
            let mut exp = String::from("e");
            if let Some(s @ ('+' | '-')) = self.peek_at(0) {
                exp.push(s);
                self.pos += 1;
            }
            let mut ed = String::new();
            if self.digit_run(10, &mut ed)? == 0 {
                self.pos = save;
                return Err(syntax("invalid decimal literal"));
            }
            exp.push_str(&ed);
            is_float = true;
            text.push_str(&exp);
        }
        if matches!(self.peek_at(0), Some('j' | 'J')) {
            self.pos += 1;
            self.check_number_end()?;
            let f: f64 = text
                .parse()
                .map_err(|_| syntax("invalid imaginary literal"))?;
            return Ok(PyVal::Complex(0.0, f));
        }
        self.check_number_end()?;
        if is_float {
            let f: f64 = text.parse().map_err(|_| syntax("invalid float literal"))?;
            return Ok(PyVal::Float(f));
        }
        if int_part.len() > 1 && int_part.starts_with('0') && int_part.chars().any(|c| c != '0') {
            return Err(syntax(
                "leading zeros in decimal integer literals are not permitted",
            ));
        }
        Ok(int_from_decimal(&int_part))
    }

    /// Lexes a string literal whose prefix (possibly empty) was already consumed.
    fn string(&mut self, prefix: String) -> Result<Tok> {
        let p = prefix.to_ascii_lowercase();
        let raw = p.contains('r');
        let is_bytes = p.contains('b');
        let is_f = p.contains('f');
        let u_prefix = p == "u";
        let quote = self
            .peek_at(0)
            .ok_or_else(|| syntax("unterminated string"))?;
        let triple = self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote);
        let qlen = if triple { 3 } else { 1 };
        let src_start = self.pos;
        self.pos += qlen;
        let body_start = self.pos;
        let body_end;
        loop {
            let c = self
                .peek_at(0)
                .ok_or_else(|| syntax("unterminated string literal"))?;
            if c == '\\' {
                if self.peek_at(1).is_none() {
                    return Err(syntax("unterminated string literal"));
                }
                self.pos += 2;
                if self.chars[self.pos - 1] == '\r' && self.peek_at(0) == Some('\n') {
                    self.pos += 1;
                }
                continue;
            }
            if c == quote
                && (!triple || (self.peek_at(1) == Some(quote) && self.peek_at(2) == Some(quote)))
            {
                body_end = self.pos;
                self.pos += qlen;
                break;
            }
            if !triple && (c == '\n' || c == '\r') {
                return Err(syntax("unterminated string literal"));
            }
            self.pos += 1;
        }
        let body: String = self.chars[body_start..body_end].iter().collect();
        // Normalize newlines like the tokenizer does.
        let body = body.replace("\r\n", "\n").replace('\r', "\n");
        let content = if is_f {
            let src: String = self.chars[src_start..self.pos].iter().collect();
            StrContent::FString(format!("{prefix}{src}"))
        } else if is_bytes {
            if !body.is_ascii() {
                return Err(syntax("bytes can only contain ASCII literal characters"));
            }
            StrContent::Bytes(if raw {
                body.into_bytes()
            } else {
                decode_escapes(&body, true)?
                    .into_iter()
                    .map(|c| c as u8)
                    .collect()
            })
        } else if raw {
            StrContent::Text(body)
        } else {
            StrContent::Text(
                decode_escapes(&body, false)?
                    .into_iter()
                    .map(|u| char::from_u32(u).ok_or(()))
                    .collect::<std::result::Result<String, ()>>()
                    .map_err(|_| ParseError::Unsupported("surrogate in string literal".into()))?,
            )
        };
        Ok(Tok::Str { content, u_prefix })
    }
}

fn is_string_prefix(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "r" | "u" | "f" | "b" | "br" | "rb" | "fr" | "rf"
    )
}

/// Decodes backslash escapes; returns code points (bytes when `bytes`).
fn decode_escapes(body: &str, bytes: bool) -> Result<Vec<u32>> {
    let chars: Vec<char> = body.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    let hex = |s: &[char]| -> Option<u32> {
        s.iter()
            .try_fold(0u32, |acc, c| c.to_digit(16).map(|d| acc * 16 + d))
    };
    while i < chars.len() {
        let c = chars[i];
        if c != '\\' {
            out.push(c as u32);
            i += 1;
            continue;
        }
        let Some(&e) = chars.get(i + 1) else {
            out.push('\\' as u32);
            break;
        };
        i += 2;
        match e {
            '\n' => {}
            '\\' => out.push('\\' as u32),
            '\'' => out.push('\'' as u32),
            '"' => out.push('"' as u32),
            'a' => out.push(7),
            'b' => out.push(8),
            'f' => out.push(12),
            'n' => out.push(10),
            'r' => out.push(13),
            't' => out.push(9),
            'v' => out.push(11),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                let mut n = 1;
                while n < 3 {
                    match chars.get(i).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            v = v * 8 + d;
                            i += 1;
                            n += 1;
                        }
                        None => break,
                    }
                }
                if bytes && v > 0xff {
                    return Err(ParseError::Unsupported(
                        "octal escape above 0o377 in bytes".into(),
                    ));
                }
                out.push(v);
            }
            'x' => {
                let v = chars
                    .get(i..i + 2)
                    .and_then(hex)
                    .ok_or_else(|| syntax("truncated \\xXX escape"))?;
                i += 2;
                out.push(v);
            }
            'u' | 'U' if !bytes => {
                let n = if e == 'u' { 4 } else { 8 };
                let v = chars
                    .get(i..i + n)
                    .and_then(hex)
                    .ok_or_else(|| syntax("truncated \\uXXXX escape"))?;
                if v > 0x10ffff {
                    return Err(syntax("illegal Unicode character"));
                }
                i += n;
                out.push(v);
            }
            'N' if !bytes => {
                return Err(ParseError::Unsupported("\\N{...} escape".into()));
            }
            other => {
                out.push('\\' as u32);
                out.push(other as u32);
            }
        }
    }
    Ok(out)
}
