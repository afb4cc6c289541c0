//! One category's result file, kept resumable: answers are appended batch by batch (a killed
//! run loses at most the batch in flight), a torn last line is dropped when the file is reopened,
//! and the finished file is rewritten in the official ID order through a temporary file.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::response::{is_error_result, parse_line_id};
use super::{Error, Result};
use crate::eval::category::sort_key;

/// Writes `bytes` to a temporary sibling and renames it over `path` (creating parent dirs).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| Error::Io { path: p, source }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))?;
    Ok(())
}

/// Deletes the `*.tmp` files a killed run left under `dir` (every file there is written through
/// [`write_atomic`], so a temporary is never the only copy of anything); returns how many.
pub fn remove_temporaries(dir: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(Error::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut removed = 0;
    for entry in entries {
        let path = entry
            .map_err(|source| Error::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        if path.is_dir() {
            removed += remove_temporaries(&path)?;
        } else if path.extension().is_some_and(|e| e == "tmp") {
            std::fs::remove_file(&path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Whether a result line records an inference error.
fn line_is_error(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("result")?.as_str().map(is_error_result))
        .unwrap_or(false)
}

/// A result file and the IDs it already holds.
#[derive(Debug)]
pub struct ResultFile {
    path: PathBuf,
    /// `(id, line with its newline)` in file order.
    lines: Vec<(String, String)>,
    ids: HashSet<String>,
}

impl ResultFile {
    /// Opens (or prepares) the file. Every line must be a result object with an `id` except a
    /// torn last line, which is dropped (and the file rewritten without it). A repeated ID keeps
    /// its last answer, as the official writer's update mode does.
    pub fn open(path: &Path) -> Result<ResultFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
        };
        let raw: Vec<&str> = text.split_inclusive('\n').collect();
        let mut lines: Vec<(String, String)> = Vec::new();
        let mut dirty = false;
        for (n, line) in raw.iter().enumerate() {
            let last = n + 1 == raw.len();
            match parse_line_id(line) {
                Some(id) if line.ends_with('\n') => {
                    if let Some(pos) = lines.iter().position(|(i, _)| *i == id) {
                        lines.remove(pos);
                        dirty = true;
                    }
                    lines.push((id, line.to_string()));
                }
                _ if last => dirty = true,
                _ => return Err(Error::ResultFile {
                    path: path.to_path_buf(),
                    line: n + 1,
                    msg:
                        "not a result line ({\"id\": ..., \"result\": ...}); fix or delete the file"
                            .into(),
                }),
            }
        }
        let ids = lines.iter().map(|(i, _)| i.clone()).collect();
        let file = ResultFile {
            path: path.to_path_buf(),
            lines,
            ids,
        };
        if dirty {
            file.rewrite(false)?;
        }
        Ok(file)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file already answers `id`.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }

    /// Number of answered entries.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether no entry is answered yet.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Answers that record an inference error (`"Error during inference: ..."`).
    pub fn error_count(&self) -> usize {
        self.lines.iter().filter(|(_, l)| line_is_error(l)).count()
    }

    /// Whether the answer to `id` records an inference error; `None` when `id` is not answered.
    pub fn is_error(&self, id: &str) -> Option<bool> {
        self.lines
            .iter()
            .rev()
            .find(|(i, _)| i == id)
            .map(|(_, l)| line_is_error(l))
    }

    /// Appends finished lines (`(id, line)`, each line ending in `\n`) in one write.
    pub fn append(&mut self, new: Vec<(String, String)>) -> Result<()> {
        if new.is_empty() {
            return Ok(());
        }
        let io = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        if let Some(parent) = self.path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Io {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let bytes: String = new.iter().map(|(_, l)| l.as_str()).collect();
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(io)?;
        f.write_all(bytes.as_bytes()).map_err(io)?;
        f.sync_data().map_err(io)?;
        for (id, line) in new {
            // A new answer to an answered ID replaces it (on disk at the next rewrite; a reopen
            // keeps the last line of an ID meanwhile).
            self.lines.retain(|(i, _)| *i != id);
            self.ids.insert(id.clone());
            self.lines.push((id, line));
        }
        Ok(())
    }

    /// Forgets the answers to `ids` and rewrites the file without them (atomically; nothing
    /// happens when none is answered).
    pub fn remove(&mut self, ids: &[String]) -> Result<()> {
        let before = self.lines.len();
        self.lines.retain(|(i, _)| !ids.contains(i));
        if self.lines.len() == before {
            return Ok(());
        }
        for id in ids {
            self.ids.remove(id);
        }
        self.rewrite(false)
    }

    /// Rewrites the file atomically in the official order (`sort_key`; IDs it cannot sort last).
    pub fn finish(&mut self) -> Result<()> {
        self.rewrite(true)
    }

    fn rewrite(&self, sorted: bool) -> Result<()> {
        let mut order: Vec<&(String, String)> = self.lines.iter().collect();
        if sorted {
            order.sort_by_key(|(id, _)| (sort_key(id).is_none(), sort_key(id)));
        }
        let text: String = order.iter().map(|(_, l)| l.as_str()).collect();
        write_atomic(&self.path, text.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::infer::response::result_line;

    #[test]
    fn torn_last_line_is_dropped_and_order_restored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir
            .path()
            .join("g")
            .join("BFCL_v4_simple_python_result.json");
        let mut f = ResultFile::open(&p).unwrap();
        assert!(f.is_empty());
        f.append(vec![
            (
                "simple_python_10".into(),
                result_line("simple_python_10", "a", 1, 1),
            ),
            (
                "simple_python_2".into(),
                result_line("simple_python_2", "b", 1, 1),
            ),
        ])
        .unwrap();
        // A killed writer leaves half a line behind.
        let mut text = std::fs::read_to_string(&p).unwrap();
        text.push_str("{\"id\": \"simple_python_3\", \"res");
        std::fs::write(&p, &text).unwrap();
        let mut f = ResultFile::open(&p).unwrap();
        assert_eq!(f.len(), 2);
        assert!(f.contains("simple_python_2") && !f.contains("simple_python_3"));
        assert!(!std::fs::read_to_string(&p)
            .unwrap()
            .contains("simple_python_3"));
        f.finish().unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        let ids: Vec<String> = text.lines().filter_map(parse_line_id).collect();
        assert_eq!(ids, ["simple_python_2", "simple_python_10"]);
    }

    #[test]
    fn garbage_in_the_middle_is_an_error_naming_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r.json");
        std::fs::write(&p, "nope\n{\"id\": \"a_1\", \"result\": \"\"}\n").unwrap();
        let e = ResultFile::open(&p).unwrap_err().to_string();
        assert!(e.contains("r.json:1"), "{e}");
    }
}
