//! Crash-safe writes: a file or directory is built under a temporary sibling name and renamed
//! into place, so readers see either nothing or the complete result.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::{Error, Result};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A hidden sibling of `path` that no other writer (thread or process) uses.
fn temp_sibling(path: &Path, tag: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{tag}-{}-{n}", std::process::id()))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Flushes a directory entry (the rename) to disk; best effort where the platform cannot.
fn sync_dir(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Writes `bytes` to `path` via a temporary file in the same directory and a rename.
pub fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let parent = parent_of(path);
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = temp_sibling(path, "tmp");
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    sync_dir(parent);
    Ok(())
}

/// Writes pretty-printed JSON (with a trailing newline) atomically.
pub fn write_json_atomic(path: &Path, value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        field: "<root>".into(),
        msg: e.to_string(),
    })?;
    text.push('\n');
    write_file_atomic(path, text.as_bytes())
}

/// Builds directory `out` by calling `fill` on a fresh temporary sibling directory, then renames
/// it to `out`. An existing `out` is an error unless `overwrite`, in which case it is replaced
/// only after the new directory is complete.
pub fn build_dir_atomic<F>(out: &Path, overwrite: bool, fill: F) -> Result<()>
where
    F: FnOnce(&Path) -> Result<()>,
{
    if out.exists() && !overwrite {
        return Err(Error::AlreadyExists {
            path: out.to_path_buf(),
        });
    }
    let parent = parent_of(out);
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let tmp = temp_sibling(out, "tmp");
    std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    sync_dir(&tmp);
    let old = if out.exists() {
        if !overwrite {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(Error::AlreadyExists {
                path: out.to_path_buf(),
            });
        }
        let old = temp_sibling(out, "old");
        std::fs::rename(out, &old).map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp);
            Error::io(out, e)
        })?;
        Some(old)
    } else {
        None
    };
    if let Err(e) = std::fs::rename(&tmp, out) {
        // Put the previous version back rather than leave nothing.
        if let Some(old) = &old {
            let _ = std::fs::rename(old, out);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(Error::io(out, e));
    }
    sync_dir(parent);
    if let Some(old) = old {
        let _ = if old.is_dir() {
            std::fs::remove_dir_all(&old)
        } else {
            std::fs::remove_file(&old)
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "trainer-atomic-{name}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn dir_is_replaced_only_when_complete() {
        let root = scratch("dir");
        let out = root.join("adapter");
        build_dir_atomic(&out, false, |d| write_file_atomic(&d.join("a"), b"1")).unwrap();
        assert_eq!(std::fs::read(out.join("a")).unwrap(), b"1");
        // Refuses to overwrite by default.
        assert!(matches!(
            build_dir_atomic(&out, false, |_| Ok(())),
            Err(Error::AlreadyExists { .. })
        ));
        // A failing fill leaves the old version and no temporary directory behind.
        let r = build_dir_atomic(&out, true, |d| {
            write_file_atomic(&d.join("a"), b"2")?;
            Err(Error::Adapter("boom".into()))
        });
        assert!(r.is_err());
        assert_eq!(std::fs::read(out.join("a")).unwrap(), b"1");
        build_dir_atomic(&out, true, |d| write_file_atomic(&d.join("b"), b"3")).unwrap();
        assert!(!out.join("a").exists());
        assert_eq!(std::fs::read(out.join("b")).unwrap(), b"3");
        let leftovers: Vec<_> = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
