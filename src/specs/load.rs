//! Reading a spec file and parsing it as JSON, JSON Lines or YAML into a `serde_json::Value`.

use std::io::Read;
use std::path::Path;

use serde_json::Value;

use super::error::{Error, Result};

/// Reads a file as UTF-8 text, refusing files over `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String> {
    let file = path.display().to_string();
    let handle = std::fs::File::open(path).map_err(|source| Error::Io {
        file: file.clone(),
        source,
    })?;
    let size = handle
        .metadata()
        .map_err(|source| Error::Io {
            file: file.clone(),
            source,
        })?
        .len();
    if size > limit {
        return Err(Error::TooLarge { file, size, limit });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    handle
        .take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| Error::Io {
            file: file.clone(),
            source,
        })?;
    let read = bytes.len() as u64;
    if read > limit {
        return Err(Error::TooLarge {
            file,
            size: read,
            limit,
        });
    }
    String::from_utf8(bytes).map_err(|e| Error::Parse {
        file,
        message: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// Parses a document: JSON first, then JSON Lines (every non-blank line one JSON value, giving
/// an array), then YAML. The error reports the JSON error for text that looks like JSON
/// (starts with `{` or `[`) and the YAML error otherwise.
pub fn parse_document(file: &str, text: &str) -> Result<Value> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let looks_like_json = text.trim_start().starts_with(['{', '[']);
    let json_error = match serde_json::from_str::<Value>(text) {
        Ok(v) => return Ok(v),
        Err(e) => e,
    };
    if looks_like_json {
        if let Some(lines) = parse_json_lines(text) {
            return Ok(Value::Array(lines));
        }
        return Err(Error::Parse {
            file: file.to_string(),
            message: format!("JSON: {json_error}"),
        });
    }
    if let Some(line) = too_deep_flow(text) {
        // The YAML parser is quadratic in flow nesting depth and refuses more than 128 levels
        // anyway: refuse such text up front instead of spending minutes on it.
        return Err(Error::Parse {
            file: file.to_string(),
            message: format!(
                "YAML: brackets nested deeper than {MAX_FLOW_DEPTH} levels at line {line}"
            ),
        });
    }
    match serde_norway::from_str::<Value>(text) {
        Ok(v) => Ok(v),
        Err(e) => Err(Error::Parse {
            file: file.to_string(),
            message: format!("YAML: {e}"),
        }),
    }
}

/// Bracket depth past which YAML text is refused without parsing.
const MAX_FLOW_DEPTH: usize = 256;

/// The line where `[`/`{` nesting first exceeds [`MAX_FLOW_DEPTH`] (brackets inside quoted
/// strings count too, which only makes the check stricter than needed for odd texts).
fn too_deep_flow(text: &str) -> Option<usize> {
    let mut depth: usize = 0;
    let mut line = 1;
    for c in text.chars() {
        match c {
            '\n' => line += 1,
            '[' | '{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some(line);
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Parses JSON Lines; `None` unless there are at least two values and every line parses.
fn parse_json_lines(text: &str) -> Option<Vec<Value>> {
    let mut values = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        values.push(serde_json::from_str::<Value>(line).ok()?);
    }
    (values.len() >= 2).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_syntaxes() {
        let j = parse_document("f", "{\"a\": 1}").unwrap();
        assert_eq!(j["a"], 1);
        let l = parse_document("f", "{\"a\": 1}\n\n{\"a\": 2}\n").unwrap();
        assert_eq!(l[1]["a"], 2);
        let y = parse_document("f", "a:\n  200: {x: 1}\n").unwrap();
        assert_eq!(y["a"]["200"]["x"], 1);
    }

    #[test]
    fn reports_json_errors_for_json_like_text() {
        let e = parse_document("f.json", "{\"a\": }")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "f.json: not valid JSON, JSON Lines or YAML: JSON: expected value at line 1 column 7"
        );
    }
}
