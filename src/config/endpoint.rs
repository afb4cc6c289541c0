//! An OpenAI-compatible HTTP endpoint (vLLM, SGLang, llama.cpp server, `trainer serve`), as used
//! by `[synth] policy_endpoint`, `[synth] simulator_endpoint` and
//! `[synth.toolsets] embedding_endpoint`. The API key is never part of the file: `api_key_env`
//! names the environment variable that holds it.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Error, Result};

/// One endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointSection {
    /// Base URL including the API prefix, e.g. `http://127.0.0.1:8000/v1`; requests go to
    /// `{url}/chat/completions` and `{url}/embeddings`.
    pub url: String,
    /// The `model` field of every request (the served model name).
    pub model: String,
    /// Environment variable holding the API key (sent as `Authorization: Bearer ...`); none =
    /// no key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Seconds one HTTP request may take in total (connect, send, wait, read).
    #[serde(default = "default_timeout_s")]
    pub timeout_s: f64,
    /// Requests in flight at once when a batch is sent.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retries after a 429, a 5xx or a connection error (exponential backoff).
    #[serde(default = "default_max_retries")]
    pub max_retries: usize,
    /// Ask for the sampled tokens' log-probs (`logprobs: true`).
    #[serde(default)]
    pub logprobs: bool,
    /// Also ask for the sampled token ids (vLLM's `return_tokens_as_token_ids: true`, which
    /// `trainer serve` supports too); only with `logprobs`.
    #[serde(default)]
    pub token_ids: bool,
}

/// The longest request timeout accepted (one week): far beyond any real request, and far below
/// what a `Duration` or a clock `Instant` can hold.
const MAX_TIMEOUT_S: f64 = 604_800.0;

fn default_timeout_s() -> f64 {
    300.0
}
fn default_concurrency() -> usize {
    8
}
fn default_max_retries() -> usize {
    3
}

impl EndpointSection {
    /// An endpoint with every optional key at its default.
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> EndpointSection {
        EndpointSection {
            url: url.into(),
            model: model.into(),
            api_key_env: None,
            timeout_s: default_timeout_s(),
            concurrency: default_concurrency(),
            max_retries: default_max_retries(),
            logprobs: false,
            token_ids: false,
        }
    }

    /// Checks the values; `key` is the table's full name (`synth.policy_endpoint`).
    pub fn validate(&self, path: &Path, key: &str) -> Result<()> {
        let bad = |field: &str, value: String, reason: &str| Error::Invalid {
            path: path.to_path_buf(),
            key: format!("{key}.{field}"),
            value,
            reason: reason.to_string(),
        };
        let url = self.url.trim();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if !rest.is_some_and(|r| !r.is_empty() && !r.starts_with('/')) {
            return Err(bad(
                "url",
                format!("{:?}", self.url),
                "must be an http:// or https:// base URL such as \"http://127.0.0.1:8000/v1\"",
            ));
        }
        if rest.is_some_and(|r| r.split('/').next().is_some_and(|host| host.contains('@'))) {
            return Err(bad(
                "url",
                format!("{:?}", self.url),
                "must not contain credentials; put the key in the variable named by api_key_env",
            ));
        }
        if self.model.trim().is_empty() {
            return Err(bad(
                "model",
                "\"\"".into(),
                "must name the served model (GET {url}/models lists them)",
            ));
        }
        if let Some(var) = &self.api_key_env {
            let ok = !var.is_empty()
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !var.starts_with(|c: char| c.is_ascii_digit());
            if !ok {
                return Err(bad(
                    "api_key_env",
                    format!("{var:?}"),
                    "must be the NAME of an environment variable (letters, digits, '_'), not the key itself",
                ));
            }
        }
        if !(self.timeout_s > 0.0 && self.timeout_s <= MAX_TIMEOUT_S) {
            return Err(bad(
                "timeout_s",
                self.timeout_s.to_string(),
                "must be > 0 and at most 604800 seconds (one week)",
            ));
        }
        if self.concurrency == 0 {
            return Err(bad("concurrency", "0".into(), "must be >= 1"));
        }
        if self.token_ids && !self.logprobs {
            return Err(bad(
                "token_ids",
                "true".into(),
                "needs logprobs = true (the ids come with the log-probs)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(e: &EndpointSection) -> std::result::Result<(), String> {
        e.validate(Path::new("c.toml"), "synth.policy_endpoint")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn validation_names_key_and_value() {
        let ok = EndpointSection::new("http://127.0.0.1:8000/v1", "m");
        assert!(check(&ok).is_ok());
        let mut e = ok.clone();
        e.url = "localhost:8000".into();
        let msg = check(&e).unwrap_err();
        assert!(
            msg.contains("c.toml") && msg.contains("synth.policy_endpoint.url"),
            "{msg}"
        );
        e.url = "https://user:secret@host/v1".into();
        assert!(check(&e).unwrap_err().contains("credentials"));
        let mut e = ok.clone();
        e.api_key_env = Some("sk-abc123".into());
        assert!(check(&e).unwrap_err().contains("api_key_env"));
        e.api_key_env = Some("OPENAI_API_KEY".into());
        assert!(check(&e).is_ok());
        let mut e = ok.clone();
        e.concurrency = 0;
        assert!(check(&e).unwrap_err().contains("concurrency"));
        let mut e = ok.clone();
        e.timeout_s = 0.0;
        assert!(check(&e).unwrap_err().contains("timeout_s"));
        for v in [f64::NAN, f64::INFINITY, 1e20, 604_800.5] {
            e.timeout_s = v;
            assert!(check(&e).unwrap_err().contains("timeout_s"), "{v}");
        }
        e.timeout_s = 604_800.0;
        assert!(check(&e).is_ok());
        let mut e = ok;
        e.token_ids = true;
        assert!(check(&e).unwrap_err().contains("logprobs"));
    }

    #[test]
    fn parses_from_toml_with_defaults_and_rejects_unknown_keys() {
        let e: EndpointSection =
            toml::from_str("url = \"http://h:1/v1\"\nmodel = \"m\"\n").unwrap();
        assert_eq!(e, EndpointSection::new("http://h:1/v1", "m"));
        let err = toml::from_str::<EndpointSection>(
            "url = \"http://h:1/v1\"\nmodel = \"m\"\napi_key = \"sk\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("api_key"), "{err}");
    }
}
