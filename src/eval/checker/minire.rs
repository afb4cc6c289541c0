//! A small backtracking matcher for the handful of Python `re` patterns the
//! official Java/JS type converters use, with Python semantics: leftmost
//! match, greedy/lazy quantifiers, `$` also before a final `\n`, `.` not
//! matching `\n` unless DOTALL, `\s`/`\w` on Unicode, `(?=..)` lookahead.
//!
//! Supported syntax: literals and `\`-escapes, `.`, `[...]`/`[^...]` with
//! ranges and `\s\w\d`, `\s\S\w\W\d\D\b`, `(..)`, `(?:..)`, `(?=..)`, `|`,
//! `* + ? {m,n}` (plus lazy `?`), `^`, `$`.

use std::cell::Cell;

use super::pyconv::{is_space, is_word};

/// Group repetitions (`(ab)*`) one match may nest on the stack; a subject
/// that needs more counts as not matching.  One-char repetitions (`\d+`,
/// `.*?`) are loops and have no such limit.
const MAX_NESTED_REPEATS: usize = 500;

#[derive(Debug, Clone)]
enum Item {
    Char(char),
    Range(char, char),
    Space(bool),
    Word(bool),
    Digit(bool),
}

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Any,
    Class(Vec<Item>, bool),
    Start,
    End,
    WordBoundary,
    Group(Box<Node>, Option<usize>),
    Look(Box<Node>),
    Alt(Vec<Node>),
    Concat(Vec<Node>),
    Repeat(Box<Node>, usize, usize, bool),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    root: Node,
    groups: usize,
    dotall: bool,
    /// Group repetitions on the stack during the current match.
    depth: Cell<usize>,
    /// Set when a match ran past [`MAX_NESTED_REPEATS`]: the call finds nothing.
    too_deep: Cell<bool>,
}

/// Capture spans (in chars) of one match; index 0 is the whole match.
pub type Caps = Vec<Option<(usize, usize)>>;

/// A successful match: the subject and the capture spans.
#[derive(Debug, Clone)]
pub struct Match {
    chars: Vec<char>,
    caps: Caps,
}

impl Match {
    /// `m.group(i)`; `None` for a group that did not take part.
    pub fn group(&self, i: usize) -> Option<String> {
        let (a, b) = (*self.caps.get(i)?)?;
        Some(self.chars.get(a..b)?.iter().collect())
    }
}

struct Parser<'a> {
    p: &'a [char],
    i: usize,
    groups: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.p.get(self.i).copied()
    }
    fn alt(&mut self) -> Option<Node> {
        let mut alts = vec![self.concat()?];
        while self.peek() == Some('|') {
            self.i += 1;
            alts.push(self.concat()?);
        }
        Some(if alts.len() == 1 {
            alts.pop()?
        } else {
            Node::Alt(alts)
        })
    }
    fn concat(&mut self) -> Option<Node> {
        let mut items = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            items.push(self.quantified(atom)?);
        }
        Some(Node::Concat(items))
    }
    fn quantified(&mut self, atom: Node) -> Option<Node> {
        let (min, max) = match self.peek() {
            Some('*') => (0, usize::MAX),
            Some('+') => (1, usize::MAX),
            Some('?') => (0, 1),
            _ => return Some(atom),
        };
        self.i += 1;
        let greedy = if self.peek() == Some('?') {
            self.i += 1;
            false
        } else {
            true
        };
        Some(Node::Repeat(Box::new(atom), min, max, greedy))
    }
    fn escape_item(c: char) -> Item {
        match c {
            's' => Item::Space(true),
            'S' => Item::Space(false),
            'w' => Item::Word(true),
            'W' => Item::Word(false),
            'd' => Item::Digit(true),
            'D' => Item::Digit(false),
            'n' => Item::Char('\n'),
            't' => Item::Char('\t'),
            other => Item::Char(other),
        }
    }
    fn atom(&mut self) -> Option<Node> {
        let c = self.peek()?;
        self.i += 1;
        Some(match c {
            '.' => Node::Any,
            '^' => Node::Start,
            '$' => Node::End,
            '\\' => {
                let e = self.peek()?;
                self.i += 1;
                if e == 'b' {
                    Node::WordBoundary
                } else {
                    match Self::escape_item(e) {
                        Item::Char(ch) => Node::Char(ch),
                        item => Node::Class(vec![item], false),
                    }
                }
            }
            '(' => {
                let kind = if self.peek() == Some('?') {
                    let k = self.p.get(self.i + 1).copied()?;
                    self.i += 2;
                    k
                } else {
                    'c'
                };
                let idx = if kind == 'c' {
                    self.groups += 1;
                    Some(self.groups)
                } else {
                    None
                };
                let inner = self.alt()?;
                if self.peek() != Some(')') {
                    return None;
                }
                self.i += 1;
                match kind {
                    '=' => Node::Look(Box::new(inner)),
                    ':' | 'c' => Node::Group(Box::new(inner), idx),
                    _ => return None,
                }
            }
            '[' => {
                let neg = self.peek() == Some('^');
                if neg {
                    self.i += 1;
                }
                let mut items = Vec::new();
                let mut first = true;
                loop {
                    let c = self.peek()?;
                    self.i += 1;
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let item = if c == '\\' {
                        let e = self.peek()?;
                        self.i += 1;
                        Self::escape_item(e)
                    } else {
                        Item::Char(c)
                    };
                    if let Item::Char(lo) = item {
                        if self.peek() == Some('-')
                            && self.p.get(self.i + 1).is_some_and(|n| *n != ']')
                        {
                            let hi = self.p.get(self.i + 1).copied()?;
                            self.i += 2;
                            items.push(Item::Range(lo, hi));
                            continue;
                        }
                    }
                    items.push(item);
                }
                Node::Class(items, neg)
            }
            other => Node::Char(other),
        })
    }
}

fn item_matches(item: &Item, c: char) -> bool {
    match *item {
        Item::Char(x) => x == c,
        Item::Range(a, b) => a <= c && c <= b,
        Item::Space(pos) => is_space(c) == pos,
        Item::Word(pos) => is_word(c) == pos,
        Item::Digit(pos) => c.is_ascii_digit() == pos,
    }
}

type Cont<'k> = &'k mut dyn FnMut(usize, &mut Caps) -> bool;

impl Regex {
    /// Compiles a pattern; `None` for syntax outside the supported subset.
    pub fn new(pattern: &str, dotall: bool) -> Option<Regex> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut p = Parser {
            p: &chars,
            i: 0,
            groups: 0,
        };
        let root = p.alt()?;
        if p.i != chars.len() {
            return None;
        }
        Some(Regex {
            root,
            groups: p.groups,
            dotall,
            depth: Cell::new(0),
            too_deep: Cell::new(false),
        })
    }

    /// For a one-char node (`a`, `.`, `[..]`): whether it matches `s[pos]`;
    /// `None` for every other node.
    fn char_at(&self, node: &Node, s: &[char], pos: usize) -> Option<bool> {
        let c = s.get(pos);
        Some(match node {
            Node::Char(x) => c == Some(x),
            Node::Any => c.is_some_and(|c| self.dotall || *c != '\n'),
            Node::Class(items, neg) => {
                c.is_some_and(|c| items.iter().any(|it| item_matches(it, *c)) != *neg)
            }
            _ => return None,
        })
    }

    fn m(&self, node: &Node, s: &[char], pos: usize, caps: &mut Caps, k: Cont<'_>) -> bool {
        if self.too_deep.get() {
            return false;
        }
        match node {
            Node::Char(_) | Node::Any | Node::Class(..) => {
                self.char_at(node, s, pos) == Some(true) && k(pos + 1, caps)
            }
            Node::Start => pos == 0 && k(pos, caps),
            Node::End => {
                (pos == s.len() || (pos + 1 == s.len() && s.get(pos) == Some(&'\n')))
                    && k(pos, caps)
            }
            Node::WordBoundary => {
                let before = pos > 0 && s.get(pos - 1).is_some_and(|c| is_word(*c));
                let after = s.get(pos).is_some_and(|c| is_word(*c));
                before != after && k(pos, caps)
            }
            Node::Group(inner, idx) => match idx {
                None => self.m(inner, s, pos, caps, k),
                Some(i) => {
                    let i = *i;
                    self.m(inner, s, pos, caps, &mut |end, caps: &mut Caps| {
                        let old = caps.get(i).copied().flatten();
                        if let Some(slot) = caps.get_mut(i) {
                            *slot = Some((pos, end));
                        }
                        if k(end, caps) {
                            return true;
                        }
                        if let Some(slot) = caps.get_mut(i) {
                            *slot = old;
                        }
                        false
                    })
                }
            },
            Node::Look(inner) => {
                let mut probe = caps.clone();
                self.m(inner, s, pos, &mut probe, &mut |_, _| true) && k(pos, caps)
            }
            Node::Alt(alts) => alts.iter().any(|a| self.m(a, s, pos, caps, k)),
            Node::Concat(items) => self.seq(items, s, pos, caps, k),
            Node::Repeat(inner, min, max, greedy) => {
                if self.char_at(inner, s, pos).is_some() {
                    self.rep_chars(inner, (*min, *max), *greedy, s, pos, caps, k)
                } else {
                    self.rep(inner, *min, *max, *greedy, 0, s, pos, caps, k)
                }
            }
        }
    }

    fn seq(&self, items: &[Node], s: &[char], pos: usize, caps: &mut Caps, k: Cont<'_>) -> bool {
        match items.split_first() {
            None => k(pos, caps),
            Some((first, rest)) => self.m(first, s, pos, caps, &mut |p2, caps: &mut Caps| {
                self.seq(rest, s, p2, caps, k)
            }),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn rep(
        &self,
        inner: &Node,
        min: usize,
        max: usize,
        greedy: bool,
        count: usize,
        s: &[char],
        pos: usize,
        caps: &mut Caps,
        k: Cont<'_>,
    ) -> bool {
        let more = |caps: &mut Caps, k: Cont<'_>| {
            count < max
                && self.m(inner, s, pos, caps, &mut |p2, caps: &mut Caps| {
                    (p2 != pos || count < min)
                        && self
                            .nested(|| self.rep(inner, min, max, greedy, count + 1, s, p2, caps, k))
                })
        };
        // Not the same blocks (clippy reads `||` as commutative): the order decides which
        // alternative is tried first, i.e. greedy or lazy captures.
        #[allow(clippy::if_same_then_else)]
        if greedy {
            more(caps, k) || (count >= min && k(pos, caps))
        } else {
            (count >= min && k(pos, caps)) || more(caps, k)
        }
    }

    /// Runs `f` one group repetition deeper; past [`MAX_NESTED_REPEATS`] the
    /// whole call gives up (finds nothing) instead of overflowing the stack.
    fn nested(&self, f: impl FnOnce() -> bool) -> bool {
        let depth = self.depth.get();
        if depth >= MAX_NESTED_REPEATS {
            self.too_deep.set(true);
            return false;
        }
        self.depth.set(depth + 1);
        let ok = f();
        self.depth.set(depth);
        ok
    }

    /// `inner{min,max}` for a one-char `inner`: a loop over the candidate
    /// lengths instead of a frame per repeated char.
    #[allow(clippy::too_many_arguments)]
    fn rep_chars(
        &self,
        inner: &Node,
        (min, max): (usize, usize),
        greedy: bool,
        s: &[char],
        pos: usize,
        caps: &mut Caps,
        k: Cont<'_>,
    ) -> bool {
        let fits = |n: usize| self.char_at(inner, s, pos + n) == Some(true);
        if greedy {
            let mut n = 0;
            while n < max && fits(n) {
                n += 1;
            }
            (min..=n).rev().any(|n| k(pos + n, caps))
        } else {
            let mut n = 0;
            loop {
                if n >= min && k(pos + n, caps) {
                    return true;
                }
                if n == max || !fits(n) {
                    return false;
                }
                n += 1;
            }
        }
    }

    fn at(&self, s: &[char], start: usize) -> Option<Caps> {
        self.depth.set(0);
        let mut caps: Caps = vec![None; self.groups + 1];
        let mut end = None;
        let found = self.m(&self.root, s, start, &mut caps, &mut |e, _| {
            end = Some(e);
            true
        });
        if found && !self.too_deep.get() {
            let e = end?;
            if let Some(slot) = caps.get_mut(0) {
                *slot = Some((start, e));
            }
            Some(caps)
        } else {
            None
        }
    }

    /// `re.match`: anchored at the start.
    pub fn match_start(&self, text: &str) -> Option<Match> {
        self.too_deep.set(false);
        let chars: Vec<char> = text.chars().collect();
        let caps = self.at(&chars, 0)?;
        Some(Match { chars, caps })
    }

    /// `re.search`: the leftmost match.
    pub fn search(&self, text: &str) -> Option<Match> {
        self.too_deep.set(false);
        let chars: Vec<char> = text.chars().collect();
        (0..=chars.len()).find_map(|i| {
            self.at(&chars, i).map(|caps| Match {
                chars: chars.clone(),
                caps,
            })
        })
    }

    /// `re.findall`: every non-overlapping match, left to right.
    pub fn find_all(&self, text: &str) -> Vec<Match> {
        self.too_deep.set(false);
        let chars: Vec<char> = text.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i <= chars.len() {
            match self.at(&chars, i) {
                Some(caps) => {
                    let end = caps.first().copied().flatten().map_or(i, |(_, e)| e);
                    out.push(Match {
                        chars: chars.clone(),
                        caps,
                    });
                    i = if end > i { end } else { i + 1 };
                }
                None => i += 1,
            }
        }
        if self.too_deep.get() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::on_spawned_thread;

    fn re(p: &str) -> Regex {
        Regex::new(p, false).unwrap()
    }

    #[test]
    fn python_semantics() {
        assert!(re(r"^-?\d+$").match_start("12\n").is_some());
        assert!(re(r"^-?\d+$").match_start("12\n\n").is_none());
        let m = re(r"add\((.+?)\)").find_all("add(1); add(g(2));");
        let g: Vec<_> = m.iter().map(|m| m.group(1).unwrap()).collect();
        assert_eq!(g, vec!["1", "g(2"]);
        let m = Regex::new(r"\{\{\s*(.+?)\s*\}\}", true)
            .unwrap()
            .search("{{ }}")
            .unwrap();
        assert_eq!(m.group(1).unwrap(), " ");
        let m = re(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)").find_all("a: 1, b: 'x'");
        assert_eq!(m.len(), 2);
        assert_eq!(m[1].group(2).unwrap(), "'x'");
        assert!(re(r"^\'.$\'").match_start("'a'").is_none());
    }

    #[test]
    fn one_char_repeats_are_loops() {
        let n = 200_000;
        let digits = "7".repeat(n);
        let start = std::time::Instant::now();
        on_spawned_thread(move || {
            let int = re(r"^-?\d+$");
            assert!(int.match_start(&digits).is_some());
            assert!(int.match_start(&format!("-{digits}\n")).is_some());
            assert!(int.match_start(&format!("{digits}x")).is_none());
            // Lazy: the shortest body.
            let m = re(r"\{(.*?)\}")
                .match_start(&format!("{{{digits}}}}}"))
                .unwrap();
            assert_eq!(m.group(1).unwrap(), digits);
            // Greedy, backtracking over every char.
            let m = re(r"^(.*)a").match_start(&format!("a{digits}")).unwrap();
            assert_eq!(m.group(1).unwrap(), "");
            let m =
                re(r"([^:]+):\s*(.*?)(?:,\s*(?=[^,]+:)|$)").find_all(&format!("k: {digits}, j: 1"));
            assert_eq!(m.len(), 2);
            assert_eq!(m[0].group(2).unwrap(), digits);
            assert_eq!(m[1].group(2).unwrap(), "1");
            let m = re(r"a*?b").search(&format!("{}b", "a".repeat(n)));
            assert_eq!(m.unwrap().group(0).unwrap().len(), n + 1);
        });
        assert!(start.elapsed().as_secs() < 20, "{:?}", start.elapsed());
    }

    #[test]
    fn group_repeats_past_the_budget_find_nothing() {
        let rows = |k: usize| format!("[[1]{}]", ",[2]".repeat(k));
        let two_d = re(r"\[\s*\[.*?\]\s*(,\s*\[.*?\]\s*)*\]");
        let within = rows(MAX_NESTED_REPEATS);
        let past = rows(MAX_NESTED_REPEATS + 1);
        let huge = rows(100_000);
        let (a, b, c) = on_spawned_thread(move || {
            let found = |s: &str| two_d.match_start(s).map(|m| m.group(0).unwrap());
            (found(&within), found(&past), two_d.search(&huge).is_some())
        });
        assert_eq!(a, Some(rows(MAX_NESTED_REPEATS)));
        assert_eq!((b, c), (None, false));
        // A later call on the same pattern starts afresh.
        let ab = re(r"(ab)*$");
        assert!(ab.find_all(&"ab".repeat(MAX_NESTED_REPEATS + 1)).is_empty());
        assert!(ab.match_start("abab").is_some());
    }
}
