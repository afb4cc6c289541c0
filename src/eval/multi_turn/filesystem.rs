//! `GorillaFileSystem` (gorilla_file_system.py): an in-memory directory tree
//! with a current directory and shell-like commands.
//!
//! The Python original shares objects in ways that are visible through its
//! commands: `mv` of a directory gives the new directory the *same* contents
//! dict while the children keep their old `parent` (the detached source),
//! and `cp` of a directory makes a shallow copy of the contents dict, so the
//! copied children are the very same `File`/`Directory` objects. To behave
//! identically this port keeps Python's object graph: files, directories and
//! contents dicts live in arenas and refer to each other by index.
//!
//! [`GorillaFileSystem::load_with`] with `long_context=True` appends the
//! extension text to every loaded file (but those in `FILES_TAIL_USED`) and
//! fills every loaded directory without subdirectories with the extension's
//! empty files, as the long-context category does.

use super::backend::{Backend, PyException, PyResult, Returned};
use super::long_context::{self, LongContextData};
use super::pyops::{dict, fmt, gt, no_attr, type_name};
use super::signature::{none, opt, req, Signature};
use super::{Error, Result};
use crate::eval::pyval::{PyDict, PyVal};

const CLASS: &str = "GorillaFileSystem";

const SIGNATURES: &[Signature] = &[
    Signature {
        name: "cat",
        params: &[req("file_name")],
    },
    Signature {
        name: "cd",
        params: &[req("folder")],
    },
    Signature {
        name: "cp",
        params: &[req("source"), req("destination")],
    },
    Signature {
        name: "diff",
        params: &[req("file_name1"), req("file_name2")],
    },
    Signature {
        name: "du",
        params: &[opt("human_readable", || PyVal::Bool(false))],
    },
    Signature {
        name: "echo",
        params: &[req("content"), opt("file_name", none)],
    },
    Signature {
        name: "find",
        params: &[opt("path", || PyVal::str(".")), opt("name", none)],
    },
    Signature {
        name: "grep",
        params: &[req("file_name"), req("pattern")],
    },
    Signature {
        name: "ls",
        params: &[opt("a", || PyVal::Bool(false))],
    },
    Signature {
        name: "mkdir",
        params: &[req("dir_name")],
    },
    Signature {
        name: "mv",
        params: &[req("source"), req("destination")],
    },
    Signature {
        name: "pwd",
        params: &[],
    },
    Signature {
        name: "rm",
        params: &[req("file_name")],
    },
    Signature {
        name: "rmdir",
        params: &[req("dir_name")],
    },
    Signature {
        name: "sort",
        params: &[req("file_name")],
    },
    Signature {
        name: "tail",
        params: &[req("file_name"), opt("lines", || PyVal::Int(10))],
    },
    Signature {
        name: "touch",
        params: &[req("file_name")],
    },
    Signature {
        name: "wc",
        params: &[req("file_name"), opt("mode", || PyVal::str("l"))],
    },
];

/// Characters `_validate_file_or_directory_name` rejects.
const INVALID_CHARS: &str = "|/\\?%*:\"><";

/// Deepest nesting walked before giving up like CPython's recursion limit
/// (only reachable through the cyclic trees `cp d d` builds).
const MAX_DEPTH: usize = 900;

/// A reference to a `File` or `Directory` object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Node {
    File(usize),
    Dir(usize),
}

#[derive(Clone, Debug)]
struct FileObj {
    name: String,
    content: PyVal,
}

#[derive(Clone, Debug)]
struct DirObj {
    name: String,
    parent: Option<usize>,
    /// Index of the contents dict (shared between directories after `mv`).
    contents: usize,
}

/// An insertion-ordered `dict` of name -> object.
type Contents = Vec<(String, Node)>;

/// The file system's state (Python's object graph).
#[derive(Clone, Debug)]
pub struct GorillaFileSystem {
    long_context: bool,
    files: Vec<FileObj>,
    dirs: Vec<DirObj>,
    dicts: Vec<Contents>,
    root: usize,
    cwd: usize,
}

fn err(msg: String) -> Returned {
    Returned::Value(dict([("error", PyVal::str(msg))]))
}

fn ok(key: &str, v: PyVal) -> Returned {
    Returned::Value(dict([(key, v)]))
}

fn strings(items: Vec<String>) -> PyVal {
    PyVal::List(items.into_iter().map(PyVal::Str).collect())
}

/// `needle in hay` for a one-character (or longer) string `needle`.
fn contains_str(hay: &PyVal, needle: &str) -> PyResult<bool> {
    match hay {
        PyVal::Str(s) => Ok(s.contains(needle)),
        PyVal::List(items) | PyVal::Tuple(items) => {
            Ok(items.iter().any(|x| x.as_str() == Some(needle)))
        }
        PyVal::Dict(d) => Ok(d.get_str(needle).is_some()),
        other => Err(PyException::type_error(format!(
            "argument of type '{}' is not iterable",
            type_name(other)
        ))),
    }
}

/// `_validate_file_or_directory_name`.
fn valid_name(name: &PyVal) -> PyResult<bool> {
    for c in INVALID_CHARS.chars() {
        if contains_str(name, c.encode_utf8(&mut [0; 4]))? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A value used as a key of a contents dict: a `str`, or `None` for a
/// hashable value that can never equal a `str` key; unhashable values raise.
fn key_of(v: &PyVal) -> PyResult<Option<&str>> {
    match v {
        PyVal::Str(s) => Ok(Some(s)),
        PyVal::List(_) | PyVal::Dict(_) => Err(PyException::type_error(format!(
            "unhashable type: '{}'",
            type_name(v)
        ))),
        PyVal::Tuple(items) => {
            for x in items {
                key_of(x)?;
            }
            Ok(None)
        }
        _ => Ok(None),
    }
}

/// A name stored as a new key: only `str` names are supported.
fn new_name(v: &PyVal) -> PyResult<String> {
    match v {
        PyVal::Str(s) => Ok(s.clone()),
        other => Err(PyException {
            kind: "Unsupported",
            message: format!(
                "the Rust GorillaFileSystem only stores str names, not {}",
                type_name(other)
            ),
        }),
    }
}

/// The `str` a `str` method is called on, or the `AttributeError`.
fn text<'a>(v: &'a PyVal, method: &str) -> PyResult<&'a str> {
    v.as_str().ok_or_else(|| no_attr(v, method))
}

/// Python's `str.splitlines()`.
fn splitlines(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let is_break = matches!(
            c,
            '\n' | '\r'
                | '\x0b'
                | '\x0c'
                | '\x1c'
                | '\x1d'
                | '\x1e'
                | '\u{85}'
                | '\u{2028}'
                | '\u{2029}'
        );
        if !is_break {
            continue;
        }
        out.push(&s[start..i]);
        let mut end = i + c.len_utf8();
        if c == '\r' {
            if let Some(&(j, '\n')) = chars.peek() {
                chars.next();
                end = j + 1;
            }
        }
        start = end;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Python's `str.isspace()` for one character.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// `len(v)`.
fn py_len(v: &PyVal) -> PyResult<usize> {
    match v {
        PyVal::Str(s) => Ok(s.chars().count()),
        PyVal::Bytes(b) => Ok(b.len()),
        PyVal::List(x) | PyVal::Tuple(x) => Ok(x.len()),
        PyVal::Dict(d) => Ok(d.len()),
        other => Err(PyException::type_error(format!(
            "object of type '{}' has no len()",
            type_name(other)
        ))),
    }
}

/// An `int` used as a slice bound (`bool` counts as `int`).
fn index_of(v: &PyVal) -> PyResult<i128> {
    match v {
        PyVal::Int(i) => Ok(*i),
        PyVal::Bool(b) => Ok(i128::from(*b)),
        _ => Err(PyException::type_error(
            "slice indices must be integers or None or have an __index__ method",
        )),
    }
}

impl GorillaFileSystem {
    /// `_load_scenario(config)`: the default tree is an empty root named
    /// `/`; a `root` entry gives the root's name (its only key) and tree.
    pub fn load(config: &PyDict) -> Result<Self> {
        Self::load_with(config, false)
    }

    /// `_load_scenario(config, long_context=long_context)`.
    pub fn load_with(config: &PyDict, long_context: bool) -> Result<Self> {
        let long = if long_context {
            Some(long_context::data()?)
        } else {
            None
        };
        let mut fs = GorillaFileSystem {
            long_context,
            files: Vec::new(),
            dirs: Vec::new(),
            dicts: Vec::new(),
            root: 0,
            cwd: 0,
        };
        let bad = |reason: String| Error::BadConfig {
            class: CLASS.to_string(),
            reason,
        };
        match config.get_str("root") {
            None => {
                fs.root = fs.new_dir("/".to_string(), None);
            }
            Some(root) => {
                let root = root
                    .as_dict()
                    .ok_or_else(|| bad("`root` is not a dict".into()))?;
                let (name, data) = root
                    .iter()
                    .next()
                    .ok_or_else(|| bad("`root` is empty".into()))?;
                let name = name
                    .as_str()
                    .ok_or_else(|| bad("the root name is not a str".into()))?;
                fs.root = fs.new_dir(name.to_string(), None);
                let contents = data
                    .as_dict()
                    .and_then(|d| d.get_str("contents"))
                    .and_then(PyVal::as_dict)
                    .ok_or_else(|| bad(format!("/root/{name}/contents is not a dict")))?;
                fs.load_directory(contents, fs.root, &format!("/root/{name}"), 0, long)
                    .map_err(bad)?;
            }
        }
        fs.cwd = fs.root;
        Ok(fs)
    }

    /// `_load_directory(current, parent)`.
    fn load_directory(
        &mut self,
        current: &PyDict,
        parent: usize,
        at: &str,
        depth: usize,
        long: Option<&'static LongContextData>,
    ) -> std::result::Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("{at}: nested too deeply"));
        }
        let mut bottommost = true;
        for (name, data) in current.iter() {
            let name = name
                .as_str()
                .ok_or_else(|| format!("{at}/contents: a name is not a str"))?;
            let here = format!("{at}/contents/{name}");
            let data = data
                .as_dict()
                .ok_or_else(|| format!("{here} is not a dict"))?;
            let kind = data
                .get_str("type")
                .ok_or_else(|| format!("{here}/type is missing"))?;
            match kind.as_str() {
                Some("directory") => {
                    bottommost = false;
                    let dir = self.new_dir(name.to_string(), Some(parent));
                    let contents = data
                        .get_str("contents")
                        .and_then(PyVal::as_dict)
                        .ok_or_else(|| format!("{here}/contents is not a dict"))?;
                    self.load_directory(contents, dir, &here, depth + 1, long)?;
                    self.set_item(parent, name, Node::Dir(dir));
                }
                Some("file") => {
                    let content = data
                        .get_str("content")
                        .cloned()
                        .ok_or_else(|| format!("{here}/content is missing"))?;
                    let content = match (long, content) {
                        (Some(lc), PyVal::Str(text))
                            if !lc.files_tail_used.iter().any(|f| f == name) =>
                        {
                            PyVal::Str(text + &lc.file_content)
                        }
                        (Some(lc), other) if !lc.files_tail_used.iter().any(|f| f == name) => {
                            return Err(format!(
                                "{here}/content is a {}, not a str",
                                type_name(&other)
                            ))
                        }
                        (_, content) => content,
                    };
                    let file = self.new_file(name.to_string(), content);
                    self.set_item(parent, name, Node::File(file));
                }
                _ => {}
            }
        }
        if let (true, Some(lc)) = (bottommost, long) {
            for file in &lc.populate_files {
                self.add_file(parent, file, PyVal::str(""))
                    .map_err(|e| format!("{at}: {}", e.message))?;
            }
        }
        Ok(())
    }

    fn new_dir(&mut self, name: String, parent: Option<usize>) -> usize {
        self.dicts.push(Vec::new());
        self.dirs.push(DirObj {
            name,
            parent,
            contents: self.dicts.len() - 1,
        });
        self.dirs.len() - 1
    }

    fn new_file(&mut self, name: String, content: PyVal) -> usize {
        self.files.push(FileObj { name, content });
        self.files.len() - 1
    }

    fn contents(&self, dir: usize) -> &Contents {
        &self.dicts[self.dirs[dir].contents]
    }

    fn get(&self, dir: usize, name: &str) -> Option<Node> {
        self.contents(dir)
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, n)| *n)
    }

    /// `name in dir.contents` followed by `dir._get_item(name)`, for any key
    /// value: an entry named `.` yields `dir` itself, as in the original.
    fn lookup(&self, dir: usize, key: &PyVal) -> PyResult<Option<Node>> {
        Ok(key_of(key)?.and_then(|k| {
            let found = self.get(dir, k)?;
            Some(if k == "." { Node::Dir(dir) } else { found })
        }))
    }

    /// `dir.contents[name] = node` (keeps the position of an existing key).
    fn set_item(&mut self, dir: usize, name: &str, node: Node) {
        let d = self.dirs[dir].contents;
        let contents = &mut self.dicts[d];
        match contents.iter_mut().find(|(k, _)| k == name) {
            Some(slot) => slot.1 = node,
            None => contents.push((name.to_string(), node)),
        }
    }

    /// `dir.contents.pop(name)`.
    fn pop(&mut self, dir: usize, name: &str) {
        let d = self.dirs[dir].contents;
        self.dicts[d].retain(|(k, _)| k != name);
    }

    /// `Directory._add_file`.
    fn add_file(&mut self, dir: usize, name: &str, content: PyVal) -> PyResult<()> {
        if self.get(dir, name).is_some() {
            return Err(PyException::value_error(format!(
                "File '{name}' already exists in directory '{}'.",
                self.dirs[dir].name
            )));
        }
        let file = self.new_file(name.to_string(), content);
        self.set_item(dir, name, Node::File(file));
        Ok(())
    }

    /// `Directory._add_directory`; returns the new directory.
    fn add_directory(&mut self, dir: usize, name: &str) -> PyResult<usize> {
        if self.get(dir, name).is_some() {
            return Err(PyException::value_error(format!(
                "Directory '{name}' already exists in directory '{}'.",
                self.dirs[dir].name
            )));
        }
        let new = self.new_dir(name.to_string(), Some(dir));
        self.set_item(dir, name, Node::Dir(new));
        Ok(new)
    }

    /// `Directory.__eq__`: name and contents, recursively (parents ignored).
    fn dir_eq(&self, a: usize, b: usize, depth: usize) -> PyResult<bool> {
        if depth > MAX_DEPTH {
            return Err(recursion_error());
        }
        let (x, y) = (&self.dirs[a], &self.dirs[b]);
        if x.name != y.name {
            return Ok(false);
        }
        let (cx, cy) = (self.contents(a), self.contents(b));
        if cx.len() != cy.len() {
            return Ok(false);
        }
        for (k, n) in cx {
            let Some(m) = self.get(b, k) else {
                return Ok(false);
            };
            let same = match (*n, m) {
                (Node::File(f), Node::File(g)) => {
                    let (f, g) = (&self.files[f], &self.files[g]);
                    f.name == g.name && crate::eval::pyval::py_eq(&f.content, &g.content)
                }
                (Node::Dir(d), Node::Dir(e)) => self.dir_eq(d, e, depth + 1)?,
                _ => false,
            };
            if !same {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// `_navigate_to_directory(path)`: the directory, or the `cd:` error dict.
    fn navigate(&self, path: &PyVal) -> PyResult<std::result::Result<usize, Returned>> {
        let p = match path {
            PyVal::None => return Ok(Ok(self.cwd)),
            PyVal::Str(s) if s == "." => return Ok(Ok(self.cwd)),
            PyVal::Str(s) if s == "/" => return Ok(Ok(self.root)),
            other => text(other, "strip")?,
        };
        let mut dir = if p.starts_with('/') {
            self.root
        } else {
            self.cwd
        };
        for part in p.trim_matches('/').split('/') {
            let next = if part == "." {
                Some(Node::Dir(dir))
            } else {
                self.get(dir, part)
            };
            match next {
                Some(Node::Dir(d)) => dir = d,
                _ => return Ok(Err(err(format!("cd: '{p}': No such file or directory")))),
            }
        }
        Ok(Ok(dir))
    }

    fn pwd(&self) -> Returned {
        let mut path = Vec::new();
        let mut dir = Some(self.cwd);
        // `dir.name != self.root` compares a str with a Directory: always true.
        while let Some(d) = dir {
            path.push(self.dirs[d].name.as_str());
            dir = self.dirs[d].parent;
            if path.len() > MAX_DEPTH * 10 {
                break;
            }
        }
        path.reverse();
        ok(
            "current_working_directory",
            PyVal::str(format!("/{}", path.join("/"))),
        )
    }

    fn ls(&self, a: &PyVal) -> Returned {
        let names = self
            .contents(self.cwd)
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| a.truthy() || !k.starts_with('.'))
            .collect();
        ok("current_directory_content", strings(names))
    }

    fn cd(&mut self, folder: &PyVal) -> PyResult<Returned> {
        let mut folder = text(folder, "rstrip")?.trim_end_matches('/');
        if folder.is_empty() {
            folder = "/";
        }
        if !matches!(folder, "." | ".." | "/") && folder.contains('/') {
            return Ok(err(format!(
                "cd: {folder}: Unsupported path. Only one folder level at a time is supported."
            )));
        }
        if folder == ".." {
            if let Some(parent) = self.dirs[self.cwd].parent {
                self.cwd = parent;
            } else if self.dir_eq(self.root, self.cwd, 0)? {
                return Ok(err(
                    "Current directory is already the root. Cannot go back.".into(),
                ));
            } else {
                return Ok(err("cd: ..: No such directory".into()));
            }
            return Ok(Returned::Value(PyVal::Dict(PyDict::new())));
        }
        match self.navigate(&PyVal::str(folder))? {
            Err(e) => Ok(e),
            Ok(d) => {
                self.cwd = d;
                Ok(ok(
                    "current_working_directory",
                    PyVal::str(self.dirs[d].name.clone()),
                ))
            }
        }
    }

    fn mkdir(&mut self, dir_name: &PyVal) -> PyResult<Returned> {
        if !valid_name(dir_name)? {
            return Ok(err(format!(
                "mkdir: cannot create directory '{}': Invalid character",
                fmt(dir_name)
            )));
        }
        if self.lookup(self.cwd, dir_name)?.is_some() {
            return Ok(err(format!(
                "mkdir: cannot create directory '{}': File exists",
                fmt(dir_name)
            )));
        }
        self.add_directory(self.cwd, &new_name(dir_name)?)?;
        Ok(Returned::Value(PyVal::None))
    }

    fn touch(&mut self, file_name: &PyVal) -> PyResult<Returned> {
        if !valid_name(file_name)? {
            return Ok(err(format!(
                "touch: cannot touch '{}': Invalid character",
                fmt(file_name)
            )));
        }
        if self.lookup(self.cwd, file_name)?.is_some() {
            return Ok(err(format!(
                "touch: cannot touch '{}': File exists",
                fmt(file_name)
            )));
        }
        self.add_file(self.cwd, &new_name(file_name)?, PyVal::str(""))?;
        Ok(Returned::Value(PyVal::None))
    }

    fn echo(&mut self, content: PyVal, file_name: &PyVal) -> PyResult<Returned> {
        if matches!(file_name, PyVal::None) {
            return Ok(ok("terminal_output", content));
        }
        if !valid_name(file_name)? {
            return Ok(err(format!(
                "echo: cannot write to '{}': Invalid character",
                fmt(file_name)
            )));
        }
        if !file_name.truthy() {
            return Ok(ok("terminal_output", content));
        }
        match self.lookup(self.cwd, file_name)? {
            Some(Node::File(f)) => {
                self.files[f].content = content;
                Ok(Returned::Value(PyVal::None))
            }
            Some(Node::Dir(_)) => Err(PyException::attribute_error(
                "'Directory' object has no attribute '_write'",
            )),
            None => Ok(err(format!(
                "echo: cannot write to '{}': No such file",
                fmt(file_name)
            ))),
        }
    }

    fn cat(&self, file_name: &PyVal) -> PyResult<Returned> {
        let name = fmt(file_name);
        if !valid_name(file_name)? {
            return Ok(err(format!("cat: '{name}': Invalid character")));
        }
        Ok(match self.lookup(self.cwd, file_name)? {
            Some(Node::File(f)) => ok("file_content", self.files[f].content.clone()),
            Some(Node::Dir(_)) => err(format!("cat: '{name}': Is a directory")),
            None => err(format!("cat: '{name}': No such file or directory")),
        })
    }

    fn find(&self, path: &PyVal, name: &PyVal) -> PyResult<Returned> {
        let dir = match self.navigate(path)? {
            Ok(d) => d,
            Err(Returned::Value(PyVal::Dict(e))) => {
                let msg = e.get_str("error").and_then(PyVal::as_str).unwrap_or("");
                return Ok(match msg.strip_prefix("cd:") {
                    Some(rest) => err(format!("find:{rest}")),
                    None => Returned::Value(PyVal::Dict(e)),
                });
            }
            Err(other) => return Ok(other),
        };
        let base = text(path, "rstrip")?.trim_end_matches('/');
        let mut matches = Vec::new();
        self.search(dir, base, name, &mut matches, 0)?;
        Ok(ok("matches", strings(matches)))
    }

    fn search(
        &self,
        dir: usize,
        base: &str,
        name: &PyVal,
        out: &mut Vec<String>,
        depth: usize,
    ) -> PyResult<()> {
        if depth > MAX_DEPTH {
            return Err(recursion_error());
        }
        for (item_name, node) in self.contents(dir) {
            let item_path = format!("{base}/{item_name}");
            let hit = match name {
                PyVal::None => true,
                PyVal::Str(n) => item_name.contains(n.as_str()),
                other => {
                    return Err(PyException::type_error(format!(
                        "'in <string>' requires string as left operand, not {}",
                        type_name(other)
                    )))
                }
            };
            if hit {
                out.push(item_path.clone());
            }
            if let Node::Dir(d) = node {
                self.search(*d, &item_path, name, out, depth + 1)?;
            }
        }
        Ok(())
    }

    /// The file `file_name` in the current directory, if it is one.
    fn file(&self, file_name: &PyVal) -> PyResult<Option<&PyVal>> {
        Ok(match self.lookup(self.cwd, file_name)? {
            Some(Node::File(f)) => Some(&self.files[f].content),
            _ => None,
        })
    }

    fn wc(&self, file_name: &PyVal, mode: &PyVal) -> PyResult<Returned> {
        let mode = match mode.as_str() {
            Some(m @ ("l" | "w" | "c")) => m,
            _ => return Ok(err(format!("wc: invalid mode '{}'", fmt(mode)))),
        };
        if let Some(content) = self.file(file_name)? {
            let (count, kind) = match mode {
                "l" => (splitlines(text(content, "splitlines")?).len(), "lines"),
                "w" => (
                    text(content, "split")?
                        .split(py_space)
                        .filter(|w| !w.is_empty())
                        .count(),
                    "words",
                ),
                _ => (py_len(content)?, "characters"),
            };
            let mut d = PyDict::new();
            d.insert_str("count", PyVal::Int(count as i128));
            d.insert_str("type", PyVal::str(kind));
            return Ok(Returned::Value(PyVal::Dict(d)));
        }
        Ok(err(format!(
            "wc: {}: No such file or directory",
            fmt(file_name)
        )))
    }

    fn sort(&self, file_name: &PyVal) -> PyResult<Returned> {
        if let Some(content) = self.file(file_name)? {
            let mut lines = splitlines(text(content, "splitlines")?);
            lines.sort();
            return Ok(ok("sorted_content", PyVal::str(lines.join("\n"))));
        }
        Ok(err(format!(
            "sort: {}: No such file or directory",
            fmt(file_name)
        )))
    }

    fn grep(&self, file_name: &PyVal, pattern: &PyVal) -> PyResult<Returned> {
        if let Some(content) = self.file(file_name)? {
            let mut hits = Vec::new();
            for line in splitlines(text(content, "splitlines")?) {
                let hit = match pattern {
                    PyVal::Str(p) => line.contains(p.as_str()),
                    other => {
                        return Err(PyException::type_error(format!(
                            "'in <string>' requires string as left operand, not {}",
                            type_name(other)
                        )))
                    }
                };
                if hit {
                    hits.push(line.to_string());
                }
            }
            return Ok(ok("matching_lines", strings(hits)));
        }
        Ok(err(format!(
            "grep: {}: No such file or directory",
            fmt(file_name)
        )))
    }

    fn du(&self, human_readable: &PyVal) -> PyResult<Returned> {
        let total = self.size(self.cwd, 0)?;
        let text = if human_readable.truthy() {
            human_size(total)
        } else {
            format!("{total} bytes")
        };
        Ok(ok("disk_usage", PyVal::str(text)))
    }

    /// `get_size`: UTF-8 bytes of every file below `dir`.
    fn size(&self, dir: usize, depth: usize) -> PyResult<u128> {
        if depth > MAX_DEPTH {
            return Err(recursion_error());
        }
        let mut total = 0u128;
        for (_, node) in self.contents(dir) {
            total += match node {
                Node::File(f) => {
                    let content = &self.files[*f].content;
                    text(content, "encode")?.len() as u128
                }
                Node::Dir(d) => self.size(*d, depth + 1)?,
            };
        }
        Ok(total)
    }

    fn tail(&self, file_name: &PyVal, lines: &PyVal) -> PyResult<Returned> {
        if let Some(content) = self.file(file_name)? {
            let all = splitlines(text(content, "splitlines")?);
            let len = all.len() as i128;
            let mut n = lines;
            let clamped = PyVal::Int(len);
            if gt(lines, &clamped)? {
                n = &clamped;
            }
            // `content[-n:]` with Python's slice clamping.
            let mut start = -index_of(n)?;
            if start < 0 {
                start = (start + len).max(0);
            }
            let start = start.min(len) as usize;
            let last = all.get(start..).unwrap_or_default();
            return Ok(ok("last_lines", PyVal::str(last.join("\n"))));
        }
        Ok(err(format!(
            "tail: {}: No such file or directory",
            fmt(file_name)
        )))
    }

    fn diff(&self, file_name1: &PyVal, file_name2: &PyVal) -> PyResult<Returned> {
        let first = self.lookup(self.cwd, file_name1)?;
        let second = match first {
            Some(_) => self.lookup(self.cwd, file_name2)?,
            None => None,
        };
        if let (Some(Node::File(a)), Some(Node::File(b))) = (first, second) {
            let la = splitlines(text(&self.files[a].content, "splitlines")?);
            let lb = splitlines(text(&self.files[b].content, "splitlines")?);
            let lines: Vec<String> = la
                .iter()
                .zip(&lb)
                .filter(|(x, y)| x != y)
                .map(|(x, y)| format!("- {x}\n+ {y}"))
                .collect();
            return Ok(ok("diff_lines", PyVal::str(lines.join("\n"))));
        }
        Ok(err(format!(
            "diff: {} or {}: No such file or directory",
            fmt(file_name1),
            fmt(file_name2)
        )))
    }

    fn mv(&mut self, source: &PyVal, destination: &PyVal) -> PyResult<Returned> {
        let src = fmt(source);
        let Some(item) = self.lookup(self.cwd, source)? else {
            return Ok(err(format!(
                "mv: cannot move '{src}': No such file or directory"
            )));
        };
        if contains_str(destination, "/")? {
            return Ok(err(
                "mv: path not allowed in destination. Provide only a file or directory name."
                    .into(),
            ));
        }
        let dst = fmt(destination);
        let src_name = new_name(source)?;
        match self.lookup(self.cwd, destination)? {
            Some(Node::Dir(target)) => {
                if self.get(target, &src_name).is_some() {
                    return Ok(err(format!(
                        "mv: cannot move '{src}' to '{dst}/{src}': File exists"
                    )));
                }
                self.pop(self.cwd, &src_name);
                self.place(item, target, &src_name, false)?;
                Ok(ok(
                    "result",
                    PyVal::str(format!("'{src}' moved to '{dst}/{src}'")),
                ))
            }
            Some(Node::File(_)) => Ok(err(format!(
                "mv: cannot move '{src}' to '{dst}': Not a directory"
            ))),
            None => {
                self.pop(self.cwd, &src_name);
                let dest_name = new_name(destination)?;
                self.place(item, self.cwd, &dest_name, false)?;
                Ok(ok(
                    "result",
                    PyVal::str(format!("'{src}' moved to '{dst}'")),
                ))
            }
        }
    }

    /// Adds `item` to `dir` under `name` the way `mv` (sharing the contents
    /// dict) or `cp` (shallow copy of it) does.
    fn place(&mut self, item: Node, dir: usize, name: &str, copy: bool) -> PyResult<()> {
        match item {
            Node::File(f) => {
                let content = self.files[f].content.clone();
                self.add_file(dir, name, content)
            }
            Node::Dir(d) => {
                let new = self.add_directory(dir, name)?;
                let shared = self.dirs[d].contents;
                self.dirs[new].contents = if copy {
                    self.dicts.push(self.dicts[shared].clone());
                    self.dicts.len() - 1
                } else {
                    shared
                };
                Ok(())
            }
        }
    }

    fn rm(&mut self, file_name: &PyVal) -> PyResult<Returned> {
        let name = fmt(file_name);
        if self.lookup(self.cwd, file_name)?.is_none() {
            return Ok(err(format!(
                "rm: cannot remove '{name}': No such file or directory"
            )));
        }
        self.pop(self.cwd, &name);
        Ok(ok("result", PyVal::str(format!("'{name}' removed"))))
    }

    fn rmdir(&mut self, dir_name: &PyVal) -> PyResult<Returned> {
        let name = fmt(dir_name);
        Ok(match self.lookup(self.cwd, dir_name)? {
            Some(Node::Dir(d)) if !self.contents(d).is_empty() => err(format!(
                "rmdir: cannot remove '{name}': Directory not empty"
            )),
            Some(Node::Dir(_)) => {
                self.pop(self.cwd, &name);
                ok("result", PyVal::str(format!("'{name}' removed")))
            }
            Some(Node::File(_)) => err(format!("rmdir: cannot remove '{name}': Not a directory")),
            None => err(format!(
                "rmdir: cannot remove '{name}': No such file or directory"
            )),
        })
    }

    fn cp(&mut self, source: &PyVal, destination: &PyVal) -> PyResult<Returned> {
        let src = fmt(source);
        let Some(item) = self.lookup(self.cwd, source)? else {
            return Ok(err(format!(
                "cp: cannot copy '{src}': No such file or directory"
            )));
        };
        if contains_str(destination, "/")? {
            return Ok(err(
                "cp: path not allowed in destination. Provide only a file or directory name."
                    .into(),
            ));
        }
        let dst = fmt(destination);
        match self.lookup(self.cwd, destination)? {
            Some(Node::Dir(target)) => {
                // The original checks for "destination/source" as a name,
                // which never exists; adding an existing name then raises.
                if self.get(target, &format!("{dst}/{src}")).is_some() {
                    return Ok(err(format!(
                        "cp: cannot copy '{src}' to '{dst}/{src}': File exists"
                    )));
                }
                let src_name = new_name(source)?;
                self.place(item, target, &src_name, true)?;
                Ok(ok(
                    "result",
                    PyVal::str(format!("'{src}' copied to '{dst}/{src}'")),
                ))
            }
            Some(Node::File(_)) => Ok(err(format!(
                "cp: cannot copy '{src}' to '{dst}': Not a directory"
            ))),
            None => {
                let dest_name = new_name(destination)?;
                self.place(item, self.cwd, &dest_name, true)?;
                Ok(ok(
                    "result",
                    PyVal::str(format!("'{src}' copied to '{dst}'")),
                ))
            }
        }
    }

    /// A `Directory` as the state checker sees it (name and contents).
    fn dir_state(&self, dir: usize, depth: usize) -> PyVal {
        let mut d = PyDict::new();
        d.insert_str("name", PyVal::str(self.dirs[dir].name.clone()));
        let mut contents = PyDict::new();
        if depth <= MAX_DEPTH {
            for (k, node) in self.contents(dir) {
                let v = match node {
                    Node::File(f) => {
                        let mut fd = PyDict::new();
                        fd.insert_str("name", PyVal::str(self.files[*f].name.clone()));
                        fd.insert_str("content", self.files[*f].content.clone());
                        PyVal::Dict(fd)
                    }
                    Node::Dir(sub) => self.dir_state(*sub, depth + 1),
                };
                contents.insert_str(k, v);
            }
        }
        d.insert_str("contents", PyVal::Dict(contents));
        PyVal::Dict(d)
    }
}

fn recursion_error() -> PyException {
    PyException {
        kind: "RecursionError",
        message: "maximum recursion depth exceeded".into(),
    }
}

/// `du -h` formatting: divide by 1024 until below 1024, two decimals.
fn human_size(total: u128) -> String {
    if total < 1024 {
        return format!("{total}.00 B");
    }
    let mut size = total as f64 / 1024.0;
    for unit in ["KB", "MB", "GB", "TB"] {
        if size < 1024.0 {
            return format!("{size:.2} {unit}");
        }
        size /= 1024.0;
    }
    format!("{size:.2} PB")
}

impl Backend for GorillaFileSystem {
    fn class_name(&self) -> &'static str {
        CLASS
    }

    fn signatures(&self) -> &'static [Signature] {
        SIGNATURES
    }

    fn invoke(&mut self, method: &str, args: Vec<PyVal>) -> PyResult<Returned> {
        let mut a = args.into_iter();
        let mut next = || a.next().unwrap_or(PyVal::None);
        match method {
            "pwd" => Ok(self.pwd()),
            "ls" => Ok(self.ls(&next())),
            "cd" => self.cd(&next()),
            "mkdir" => self.mkdir(&next()),
            "touch" => self.touch(&next()),
            "echo" => {
                let content = next();
                self.echo(content, &next())
            }
            "cat" => self.cat(&next()),
            "find" => {
                let path = next();
                self.find(&path, &next())
            }
            "wc" => {
                let f = next();
                self.wc(&f, &next())
            }
            "sort" => self.sort(&next()),
            "grep" => {
                let f = next();
                self.grep(&f, &next())
            }
            "du" => self.du(&next()),
            "tail" => {
                let f = next();
                self.tail(&f, &next())
            }
            "diff" => {
                let f = next();
                self.diff(&f, &next())
            }
            "mv" => {
                let s = next();
                self.mv(&s, &next())
            }
            "rm" => self.rm(&next()),
            "rmdir" => self.rmdir(&next()),
            "cp" => {
                let s = next();
                self.cp(&s, &next())
            }
            other => Err(PyException::attribute_error(format!(
                "'{CLASS}' object has no attribute '{other}'"
            ))),
        }
    }

    fn state(&self) -> PyDict {
        let mut d = PyDict::new();
        d.insert_str("long_context", PyVal::Bool(self.long_context));
        d.insert_str("root", self.dir_state(self.root, 0));
        d
    }
}
