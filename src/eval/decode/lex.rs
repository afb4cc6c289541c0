//! Tokenizer for the Java and JavaScript call syntax accepted by the
//! tree-sitter based decoders (`java_parser.py`, `js_parser.py`).

use super::{DecodeError, Result};

/// Token classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    /// Identifier or keyword.
    Ident,
    /// Numeric literal.
    Number,
    /// `"..."` (and `'...'` in JavaScript).
    Str,
    /// Java `'c'`.
    Char,
    /// JavaScript template string.
    Template,
    /// JavaScript regular expression literal.
    Regex,
    /// Punctuation / operator (one token per operator).
    Punct,
}

/// One token: class, byte span, and whether a line break precedes it.
#[derive(Debug, Clone, Copy)]
pub struct Token {
    /// Class.
    pub tok: Tok,
    /// Start byte.
    pub start: usize,
    /// End byte.
    pub end: usize,
    /// A `\n` lies between the previous token and this one.
    pub newline_before: bool,
}

/// Which grammar the tokens are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// tree-sitter-java 0.21.0.
    Java,
    /// tree-sitter-javascript 0.21.4.
    JavaScript,
}

const PUNCT3: [&str; 5] = ["===", "!==", "...", "**=", "<<="];
const PUNCT2: [&str; 22] = [
    "==", "!=", "<=", "&&", "||", "++", "--", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<",
    "->", "::", "=>", "??", "?.", "**",
];

fn is_ident_start(c: char, lang: Lang) -> bool {
    c.is_alphabetic()
        || c == '_'
        || c == '$'
        || (lang == Lang::Java && c.is_alphanumeric() && !c.is_ascii_digit())
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$'
}

fn fail(msg: impl Into<String>) -> DecodeError {
    DecodeError::Failed(msg.into())
}

fn unsupported(msg: impl Into<String>) -> DecodeError {
    DecodeError::Unsupported(msg.into())
}

/// Splits `src` into tokens.  Errors where tree-sitter would produce an
/// `ERROR` node (`Failed`) or where this tokenizer gives up (`Unsupported`).
pub fn tokenize(src: &str, lang: Lang) -> Result<Vec<Token>> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut newline = false;
    while i < src.len() {
        let Some(c) = src[i..].chars().next() else {
            break;
        };
        if c.is_whitespace() {
            newline |= c == '\n';
            i += c.len_utf8();
            continue;
        }
        if src[i..].starts_with("//") {
            i = src[i..].find('\n').map_or(src.len(), |k| i + k);
            continue;
        }
        if src[i..].starts_with("/*") {
            let end = src[i + 2..]
                .find("*/")
                .ok_or_else(|| fail("unterminated comment"))?;
            newline |= src[i..i + 2 + end].contains('\n');
            i += 2 + end + 2;
            continue;
        }
        let start = i;
        if c == '/' && lang == Lang::JavaScript && regex_allowed(src, out.last()) {
            i = regex_end(src, i).ok_or_else(|| fail("unterminated regex"))?;
            out.push(Token {
                tok: Tok::Regex,
                start,
                end: i,
                newline_before: newline,
            });
            newline = false;
            continue;
        }
        let tok = if is_ident_start(c, lang) {
            i += c.len_utf8();
            while let Some(d) = src[i..].chars().next() {
                if !is_ident_char(d) {
                    break;
                }
                i += d.len_utf8();
            }
            Tok::Ident
        } else if c.is_ascii_digit() || (c == '.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            i = number_end(src, i, lang);
            Tok::Number
        } else if c == '"' || (c == '\'' && lang == Lang::JavaScript) {
            if lang == Lang::Java && src[i..].starts_with("\"\"\"") {
                return Err(unsupported("Java text blocks"));
            }
            i = quoted_end(src, i, c).ok_or_else(|| fail("unterminated string"))?;
            Tok::Str
        } else if c == '\'' {
            let end = quoted_end(src, i, '\'').ok_or_else(|| fail("unterminated char"))?;
            if end == i + 2 {
                return Err(fail("empty character literal"));
            }
            i = end;
            Tok::Char
        } else if c == '`' && lang == Lang::JavaScript {
            i = template_end(src, i).ok_or_else(|| fail("unterminated template"))?;
            Tok::Template
        } else {
            let rest = &src[i..];
            let len = PUNCT3
                .iter()
                .chain(PUNCT2.iter())
                .find(|p| rest.starts_with(**p))
                .map_or(c.len_utf8(), |p| p.len());
            if !"()[]{}.,;:=+-*/%!~?<>&|^@".contains(c) {
                return Err(fail(format!("unexpected character {c:?}")));
            }
            i += len;
            Tok::Punct
        };
        out.push(Token {
            tok,
            start,
            end: i,
            newline_before: newline,
        });
        newline = false;
    }
    Ok(out)
}

/// The usual heuristic: `/` starts a regex where an operand is expected.
fn regex_allowed(src: &str, prev: Option<&Token>) -> bool {
    match prev {
        None => true,
        Some(t) => {
            let text = src.get(t.start..t.end).unwrap_or("");
            match t.tok {
                Tok::Punct => !matches!(text, ")" | "]" | "}"),
                Tok::Ident => matches!(text, "return" | "typeof" | "in" | "of" | "void" | "delete"),
                _ => false,
            }
        }
    }
}

fn regex_end(src: &str, start: usize) -> Option<usize> {
    let mut it = src[start + 1..].char_indices();
    let mut in_class = false;
    while let Some((k, c)) = it.next() {
        match c {
            '\\' => {
                it.next()?;
            }
            '\n' => return None,
            '[' => in_class = true,
            ']' => in_class = false,
            '/' if !in_class => {
                let mut end = start + 1 + k + 1;
                while let Some(f) = src[end..].chars().next() {
                    if !f.is_alphanumeric() {
                        break;
                    }
                    end += f.len_utf8();
                }
                return Some(end);
            }
            _ => {}
        }
    }
    None
}

fn digits(src: &[u8], mut i: usize, ok: impl Fn(u8) -> bool) -> usize {
    while i < src.len() && (ok(src[i]) || src[i] == b'_') {
        i += 1;
    }
    i
}

fn number_end(src: &str, start: usize, lang: Lang) -> usize {
    let b = src.as_bytes();
    let mut i = start;
    if b[i] == b'0' && matches!(b.get(i + 1), Some(b'x' | b'X' | b'b' | b'B' | b'o' | b'O')) {
        i = digits(b, i + 2, |c| c.is_ascii_hexdigit());
        if matches!(b.get(i), Some(b'l' | b'L' | b'n')) {
            i += 1;
        }
        return i;
    }
    i = digits(b, i, |c| c.is_ascii_digit());
    let mut float = false;
    if b.get(i) == Some(&b'.') && !(lang == Lang::JavaScript && b.get(i + 1) == Some(&b'.')) {
        float = true;
        i = digits(b, i + 1, |c| c.is_ascii_digit());
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            float = true;
            i = digits(b, j, |c| c.is_ascii_digit());
        }
    }
    match (lang, b.get(i)) {
        (Lang::Java, Some(b'f' | b'F' | b'd' | b'D')) => i + 1,
        (Lang::Java, Some(b'l' | b'L')) if !float => i + 1,
        (Lang::JavaScript, Some(b'n')) if !float => i + 1,
        _ => i,
    }
}

fn quoted_end(src: &str, start: usize, q: char) -> Option<usize> {
    let mut it = src[start + 1..].char_indices();
    while let Some((k, c)) = it.next() {
        match c {
            '\\' => {
                it.next()?;
            }
            '\n' => return None,
            c if c == q => return Some(start + 1 + k + 1),
            _ => {}
        }
    }
    None
}

fn template_end(src: &str, start: usize) -> Option<usize> {
    let mut it = src[start + 1..].char_indices();
    let mut depth = 0usize;
    while let Some((k, c)) = it.next() {
        match c {
            '\\' => {
                it.next()?;
            }
            '$' if depth == 0 && src[start + 1 + k..].starts_with("${") => {
                it.next()?;
                depth = 1;
            }
            '{' if depth > 0 => depth += 1,
            '}' if depth > 0 => depth -= 1,
            '`' if depth == 0 => return Some(start + 1 + k + 1),
            _ => {}
        }
    }
    None
}
