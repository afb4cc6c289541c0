//! The local Hugging Face hub cache (`models--org--name/snapshots/<commit>/...`), offline only:
//! trainer never downloads. Resolution goes through `hf-hub`'s cache API (`refs/<revision>` →
//! snapshot); a revision that is itself a commit hash is looked up as a snapshot directly.

use std::path::{Path, PathBuf};

use hf_hub::{Cache, Repo, RepoType};

use super::error::{Error, Result};

/// The hub cache directory, as `huggingface_hub` finds it: `$HF_HUB_CACHE`, else `$HF_HOME/hub`,
/// else `~/.cache/huggingface/hub`. `None` when none of these can be determined.
pub fn default_hf_cache_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HF_HUB_CACHE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("HF_HOME").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p).join("hub"));
    }
    std::env::var_os("HOME").filter(|p| !p.is_empty()).map(|h| {
        PathBuf::from(h)
            .join(".cache")
            .join("huggingface")
            .join("hub")
    })
}

/// Splits `org/name[@revision]`; the revision defaults to `main`.
fn parse_repo(spec: &str) -> Result<(String, String)> {
    let (id, rev) = match spec.split_once('@') {
        Some((id, rev)) => (id, rev),
        None => (spec, "main"),
    };
    let ok_part = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let valid = match id.split_once('/') {
        Some((org, name)) => ok_part(org) && ok_part(name),
        None => ok_part(id),
    };
    if !valid || rev.is_empty() || rev.contains("..") {
        return Err(Error::BadSpec {
            spec: spec.to_string(),
            msg: "expected a Hugging Face repository id `org/name`, optionally `@revision`".into(),
        });
    }
    Ok((id.to_string(), rev.to_string()))
}

/// Finds the snapshot directory of model `repo` (`org/name[@revision]`) in the cache at
/// `cache_dir`. The snapshot must contain `config.json`, or a `.gguf` file when the repository is
/// a GGUF repository (the caller then picks the file).
pub fn resolve_in_cache(cache_dir: &Path, repo: &str) -> Result<PathBuf> {
    let (id, rev) = parse_repo(repo)?;
    let cache = Cache::new(cache_dir.to_path_buf());
    let cached = cache.repo(Repo::with_revision(
        id.clone(),
        RepoType::Model,
        rev.clone(),
    ));
    let repo_dir = cache_dir.join(format!("models--{}", id.replace('/', "--")));
    let not_found = |detail: String| Error::NotInCache {
        repo: repo.to_string(),
        cache: cache_dir.to_path_buf(),
        detail,
    };
    if !repo_dir.is_dir() {
        return Err(not_found(format!("no directory {}", repo_dir.display())));
    }
    // `refs/<revision>` names the commit; hf-hub reads it and gives the file in that snapshot.
    if let Some(cfg) = cached.get("config.json") {
        if let Some(snap) = cfg.parent() {
            return Ok(snap.to_path_buf());
        }
    }
    let ref_path = repo_dir.join("refs").join(&rev);
    let snapshot = match std::fs::read_to_string(&ref_path) {
        // hf-hub does not trim the ref; tolerate a trailing newline written by other tools.
        Ok(commit) => repo_dir.join("snapshots").join(commit.trim()),
        // A revision that is a commit hash has no ref file: its snapshot is named after it.
        Err(_) => repo_dir.join("snapshots").join(&rev),
    };
    if !snapshot.is_dir() {
        return Err(not_found(format!(
            "revision `{rev}`: no snapshot {} (ref file {})",
            snapshot.display(),
            ref_path.display()
        )));
    }
    let has_model_files = snapshot.join("config.json").is_file()
        || std::fs::read_dir(&snapshot)
            .map(|rd| {
                rd.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".gguf"))
            })
            .unwrap_or(false);
    if !has_model_files {
        return Err(not_found(format!(
            "snapshot {} has neither config.json nor a .gguf file",
            snapshot.display()
        )));
    }
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::parse_repo;

    #[test]
    fn parses_repo_specs() {
        assert_eq!(
            parse_repo("Qwen/Qwen3-8B").unwrap(),
            ("Qwen/Qwen3-8B".into(), "main".into())
        );
        assert_eq!(
            parse_repo("org/name@abc123").unwrap(),
            ("org/name".into(), "abc123".into())
        );
        assert!(parse_repo("../etc").is_err());
        assert!(parse_repo("a/b/c").is_err());
        assert!(parse_repo("org/name@").is_err());
    }
}
