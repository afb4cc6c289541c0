//! Strings that match a simple regular expression (the `pattern` keyword): literals, `.`,
//! classes (`[A-Z0-9_-]`, negated ones), escapes (`\d \w \s`), groups with alternation and the
//! quantifiers `? * + {n} {n,} {n,m}`. Anything else (back-references, look-around) gives
//! `None`, and callers fall back to other values; every generated value is checked by the JSON
//! Schema validator anyway.

use rand::Rng;

/// A random string matching `pattern`, or `None` when the pattern uses unsupported syntax.
pub fn generate(pattern: &str, rng: &mut impl Rng) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut p = Parser { chars, pos: 0 };
    let node = p.alternation()?;
    if p.pos != p.chars.len() {
        return None;
    }
    let mut out = String::new();
    emit(&node, rng, &mut out);
    Some(out)
}

#[derive(Debug)]
enum Node {
    Empty,
    Char(char),
    Set(Vec<char>),
    Seq(Vec<Node>),
    Alt(Vec<Node>),
    Repeat(Box<Node>, usize, usize),
}

const DIGITS: &str = "0123456789";
const WORD: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
/// Largest `{n}` generated; patterns that need more fall back to other values.
const MAX_REPEAT: usize = 256;
/// The alphabet negated classes and `.` draw from.
const PRINTABLE: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. ";

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    fn alternation(&mut self) -> Option<Node> {
        let mut branches = vec![self.sequence()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            branches.push(self.sequence()?);
        }
        Some(if branches.len() == 1 {
            branches.pop()?
        } else {
            Node::Alt(branches)
        })
    }

    fn sequence(&mut self) -> Option<Node> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            let atom = self.quantified(atom)?;
            items.push(atom);
        }
        Some(Node::Seq(items))
    }

    fn atom(&mut self) -> Option<Node> {
        match self.next()? {
            '^' | '$' => Some(Node::Empty),
            '.' => Some(Node::Set(PRINTABLE.trim_end().chars().collect())),
            '(' => {
                if self.peek() == Some('?') {
                    self.pos += 1;
                    if self.next()? != ':' {
                        return None; // look-around or named groups
                    }
                }
                let inner = self.alternation()?;
                (self.next()? == ')').then_some(inner)
            }
            '[' => self.class(),
            '\\' => self.escape(),
            '*' | '+' | '?' | '{' | ')' | ']' => None,
            c => Some(Node::Char(c)),
        }
    }

    fn escape(&mut self) -> Option<Node> {
        let c = self.next()?;
        Some(match c {
            'd' => Node::Set(DIGITS.chars().collect()),
            'w' => Node::Set(WORD.chars().collect()),
            's' => Node::Char(' '),
            'D' => Node::Set("abcxyz".chars().collect()),
            'W' => Node::Char('-'),
            'S' => Node::Set("abcxyz".chars().collect()),
            'b' | 'B' => Node::Empty,
            'n' => Node::Char('\n'),
            't' => Node::Char('\t'),
            c if c.is_ascii_digit() => return None, // back-reference
            c if c.is_ascii_alphabetic() => return None,
            c => Node::Char(c),
        })
    }

    fn class(&mut self) -> Option<Node> {
        let negated = self.peek() == Some('^');
        if negated {
            self.pos += 1;
        }
        let mut set: Vec<char> = Vec::new();
        let mut first = true;
        loop {
            let c = self.next()?;
            if c == ']' && !first {
                break;
            }
            first = false;
            let lo = if c == '\\' {
                match self.next()? {
                    'd' => {
                        set.extend(DIGITS.chars());
                        continue;
                    }
                    'w' => {
                        set.extend(WORD.chars());
                        continue;
                    }
                    's' => {
                        set.push(' ');
                        continue;
                    }
                    e if e.is_ascii_alphanumeric() => return None,
                    e => e,
                }
            } else {
                c
            };
            if self.peek() == Some('-') && self.chars.get(self.pos + 1).is_some_and(|&n| n != ']') {
                self.pos += 1;
                let mut hi = self.next()?;
                if hi == '\\' {
                    hi = self.next()?;
                }
                if hi < lo {
                    return None;
                }
                set.extend((lo..=hi).take(256));
            } else {
                set.push(lo);
            }
        }
        if negated {
            let allowed: Vec<char> = PRINTABLE.chars().filter(|c| !set.contains(c)).collect();
            return (!allowed.is_empty()).then_some(Node::Set(allowed));
        }
        (!set.is_empty()).then_some(Node::Set(set))
    }

    fn quantified(&mut self, atom: Node) -> Option<Node> {
        let (lo, hi) = match self.peek() {
            Some('?') => (0, 1),
            Some('*') => (0, 3),
            Some('+') => (1, 3),
            Some('{') => {
                let start = self.pos;
                self.pos += 1;
                let lo = self.number();
                let (lo, hi) = match (lo, self.peek()) {
                    (Some(n), Some('}')) => (n, n),
                    (Some(n), Some(',')) => {
                        self.pos += 1;
                        match self.number() {
                            Some(m) => (n, m),
                            None => (n, n + 2),
                        }
                    }
                    _ => {
                        // Not a quantifier: a literal `{`.
                        self.pos = start;
                        return Some(atom);
                    }
                };
                // Huge fixed repeats are refused rather than generated.
                if self.peek() != Some('}') || hi < lo || lo > MAX_REPEAT {
                    return None;
                }
                (lo, hi)
            }
            _ => return Some(atom),
        };
        self.pos += 1;
        if matches!(self.peek(), Some('?') | Some('+')) {
            self.pos += 1; // lazy / possessive: same strings
        }
        Some(Node::Repeat(Box::new(atom), lo, hi.min(lo + 8)))
    }

    fn number(&mut self) -> Option<usize> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let s: String = self.chars.get(start..self.pos)?.iter().collect();
        s.parse().ok()
    }
}

fn emit(node: &Node, rng: &mut impl Rng, out: &mut String) {
    match node {
        Node::Empty => {}
        Node::Char(c) => out.push(*c),
        Node::Set(set) => {
            if !set.is_empty() {
                out.push(set[rng.random_range(0..set.len())]);
            }
        }
        Node::Seq(items) => items.iter().for_each(|n| emit(n, rng, out)),
        Node::Alt(branches) => {
            if !branches.is_empty() {
                emit(&branches[rng.random_range(0..branches.len())], rng, out);
            }
        }
        Node::Repeat(inner, lo, hi) => {
            let n = rng.random_range(*lo..=*hi);
            for _ in 0..n {
                emit(inner, rng, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn gen(p: &str) -> Option<String> {
        generate(p, &mut ChaCha8Rng::seed_from_u64(3))
    }

    #[test]
    fn simple_patterns() {
        let s = gen("^[A-Z]{3}$").unwrap();
        assert!(
            s.len() == 3 && s.chars().all(|c| c.is_ascii_uppercase()),
            "{s}"
        );
        let s = gen(r"^\d{5}(-\d{4})?$").unwrap();
        assert!(s.len() == 5 || s.len() == 10, "{s}");
        assert!(s[..5].chars().all(|c| c.is_ascii_digit()), "{s}");
        let s = gen("^#[0-9a-fA-F]{6}$").unwrap();
        assert!(s.starts_with('#') && s.len() == 7, "{s}");
        let s = gen("^(red|green|blue)$").unwrap();
        assert!(["red", "green", "blue"].contains(&s.as_str()), "{s}");
        let s = gen(r"^ORD-[0-9]+$").unwrap();
        assert!(s.starts_with("ORD-") && s.len() >= 5, "{s}");
        let s = gen("[^0-9]{2}").unwrap();
        assert!(s.chars().all(|c| !c.is_ascii_digit()), "{s}");
    }

    #[test]
    fn unsupported_patterns() {
        assert!(gen(r"(a)\1").is_none());
        assert!(gen(r"(?=x)y").is_none());
        assert!(gen(r"\p{L}").is_none());
        assert!(gen("a{3,1}").is_none());
        assert!(gen("(ab").is_none());
        assert!(gen("a{100000}").is_none());
    }
}
