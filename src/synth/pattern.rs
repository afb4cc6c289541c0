//! Strings that match a simple regular expression (the `pattern` keyword): literals, `.`,
//! classes (`[A-Z0-9_-]`, negated ones), escapes (`\d \w \s`), groups with alternation and the
//! quantifiers `? * + {n} {n,} {n,m}`. Anything else (back-references, look-around) gives
//! `None`, and callers fall back to other values; every generated value is checked by the JSON
//! Schema validator anyway.

use rand::Rng;

/// A random string matching `pattern`, or `None` when the pattern uses unsupported syntax,
/// nests groups deeper than [`MAX_DEPTH`] or could produce more than [`MAX_OUTPUT`] characters.
pub fn generate(pattern: &str, rng: &mut impl Rng) -> Option<String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut p = Parser {
        chars,
        pos: 0,
        depth: 0,
    };
    let node = p.alternation()?;
    if p.pos != p.chars.len() {
        return None;
    }
    if max_len(&node)? > MAX_OUTPUT {
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
/// Deepest nesting of groups; deeper patterns fall back to other values (and cannot exhaust
/// the stack of the recursive parser).
const MAX_DEPTH: usize = 32;
/// Longest string a pattern may produce (the product of the repeat bounds, taken over the
/// whole pattern); patterns that could produce more fall back to other values.
const MAX_OUTPUT: usize = 4096;
/// The alphabet negated classes and `.` draw from.
const PRINTABLE: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-. ";

struct Parser {
    chars: Vec<char>,
    pos: usize,
    /// Groups open at `pos`.
    depth: usize,
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
                if self.depth >= MAX_DEPTH {
                    return None;
                }
                self.depth += 1;
                let inner = self.alternation()?;
                self.depth -= 1;
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
                            None => (n, n.saturating_add(2)),
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

/// The longest string `emit` can produce for `node`; `None` when it does not fit in a `usize`.
/// Recursion is bounded by the group depth the parser allows.
fn max_len(node: &Node) -> Option<usize> {
    Some(match node {
        Node::Empty => 0,
        Node::Char(_) | Node::Set(_) => 1,
        Node::Seq(items) => items
            .iter()
            .try_fold(0usize, |sum, n| sum.checked_add(max_len(n)?))?,
        Node::Alt(branches) => branches
            .iter()
            .try_fold(0usize, |most, n| Some(most.max(max_len(n)?)))?,
        Node::Repeat(inner, _, hi) => max_len(inner)?.checked_mul(*hi)?,
    })
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

    /// Runs `gen(p)` on a thread with a 256 KiB stack, so unbounded recursion aborts the test.
    fn gen_small_stack(p: String) -> Option<String> {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || gen(&p))
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn deeply_nested_groups_fall_back() {
        let deep = format!("{}a{}", "(".repeat(50_000), ")".repeat(50_000));
        assert_eq!(gen_small_stack(deep), None);
        let deep = format!("{}a{}", "(?:".repeat(50_000), ")".repeat(50_000));
        assert_eq!(gen_small_stack(deep), None);
        // Unbalanced: only opening parentheses.
        assert_eq!(gen_small_stack("(".repeat(50_000)), None);
        // The limit itself is still generated; one more level is not.
        let at_limit = format!("{}a{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(gen_small_stack(at_limit), Some("a".to_string()));
        let over = format!(
            "{}a{}",
            "(".repeat(MAX_DEPTH + 1),
            ")".repeat(MAX_DEPTH + 1)
        );
        assert_eq!(gen_small_stack(over), None);
    }

    #[test]
    fn huge_outputs_fall_back() {
        let start = std::time::Instant::now();
        assert_eq!(gen("^((((a{256}){256}){256}){256})$"), None);
        assert_eq!(gen("^(a{256}){17}$"), None);
        assert_eq!(gen("(.{250,256}){17}"), None);
        assert_eq!(gen("(((.{200,}){3}){3}){3}"), None);
        assert_eq!(gen("(x|y{256}){256}"), None);
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
        // Exactly the cap is still generated.
        let s = gen("^(a{256}){16}$").unwrap();
        assert_eq!(s, "a".repeat(MAX_OUTPUT));
        // Upper bounds are capped at `lo + 8`, so this stays at most 8 * 8 * 8 characters.
        let s = gen("^(((.{0,256}){0,256}){0,256})$").unwrap();
        assert!(s.len() <= 512, "{}", s.len());
        let s = gen("^(ab|c){3}(d{4}){2}$").unwrap();
        assert!(s.len() >= 3 + 8 && s.len() <= 6 + 8, "{s}");
    }

    #[test]
    fn huge_repeat_counts_do_not_panic() {
        assert_eq!(gen("a{18446744073709551615,}"), None);
        assert_eq!(gen("a{18446744073709551614,}"), None);
        assert_eq!(gen("a{18446744073709551615}"), None);
        assert_eq!(gen("a{18446744073709551615,18446744073709551615}"), None);
        assert_eq!(gen("a{257,}"), None);
        let s = gen("^a{256,}$").unwrap();
        assert!(s.len() >= 256 && s.len() <= 258, "{}", s.len());
        // Larger upper bounds are capped to `lo + 8`.
        let s = gen("^a{2,18446744073709551615}$").unwrap();
        assert!(s.len() >= 2 && s.len() <= 10, "{s}");
    }
}
