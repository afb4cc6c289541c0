//! A [`ChatBackend`] over any OpenAI-compatible server (vLLM, SGLang, llama.cpp server,
//! `trainer serve`): `POST {url}/chat/completions`, one HTTP request per conversation, a batch
//! sent concurrently (at most `concurrency` in flight), retried on 429 / 5xx / connection
//! errors with exponential backoff.
//!
//! The response's `tool_calls` are written back into our `<tool_call>` text form and parsed by
//! the same lenient parser as local output, so the episode loop cannot tell the two apart by
//! their text or parsed calls.
//!
//! What callers must **not** rely on with this backend:
//! * `prompt_ids` is always empty (the server's tokenization is not reported);
//! * `completion_ids` is empty unless `token_ids = true` (vLLM's `return_tokens_as_token_ids`,
//!   also supported by `trainer serve`), and `logprobs` is empty unless `logprobs = true`; when
//!   present they are what the server reports (the server decides whether the final stop token
//!   is included);
//! * `ChatRequest::adapter` is not sent: the server decides which weights answer (point
//!   `simulator_endpoint` at a base-model server);
//! * `seed` is sent, but whether it makes sampling reproducible is up to the server.
//!
//! Trajectories synthesized through it therefore carry messages, not a token-level record:
//! fine for SFT data (re-tokenized), not for GRPO's importance ratios.

mod embed;
mod http;
mod wire;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use embed::OpenAiEmbedder;
pub use wire::{parse_response, request_body, WireOptions};

use super::{ChatBackend, ChatCompletion, ChatRequest, GenParams};
use crate::config::EndpointSection;
use http::Http;

/// Errors of the HTTP backend; each names the URL.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with an error status (after the retries, for 429 / 5xx).
    #[error("POST {url}: HTTP {status} after {attempts} attempt(s): {body}")]
    Status {
        url: String,
        status: u16,
        attempts: usize,
        /// The start of the response body.
        body: String,
    },
    /// The request could not be sent or the response not read.
    #[error("POST {url}: {message} (after {attempts} attempt(s))")]
    Transport {
        url: String,
        attempts: usize,
        message: String,
    },
    /// The request body could not be encoded.
    #[error("POST {url}: encoding the request: {message}")]
    Encode { url: String, message: String },
    /// The response body is not JSON.
    #[error("POST {url}: the response is not JSON ({message}): {body}")]
    BadJson {
        url: String,
        message: String,
        body: String,
    },
    /// The response is JSON of an unexpected shape.
    #[error("POST {url}: unexpected response at {pointer}: {message}")]
    BadResponse {
        url: String,
        pointer: String,
        message: String,
    },
    /// The environment variable named by `api_key_env` is not set.
    #[error("endpoint {url}: api_key_env names `{var}`, which is not set in the environment")]
    MissingKey { url: String, var: String },
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// At most this many characters of a body go into an error.
const EXCERPT: usize = 300;

pub(crate) fn excerpt(s: &str) -> String {
    let s = s.trim();
    if s.chars().count() <= EXCERPT {
        s.to_string()
    } else {
        let cut: String = s.chars().take(EXCERPT).collect();
        format!("{cut}…")
    }
}

/// Reads the API key named by an endpoint's `api_key_env`.
fn api_key(ep: &EndpointSection) -> Result<Option<String>> {
    match &ep.api_key_env {
        None => Ok(None),
        Some(var) => std::env::var(var)
            .ok()
            .filter(|k| !k.is_empty())
            .map(Some)
            .ok_or_else(|| Error::MissingKey {
                url: ep.url.clone(),
                var: var.clone(),
            }),
    }
}

/// `{base}/{path}` without a doubled slash.
fn join_url(base: &str, path: &str) -> String {
    format!("{}/{}", base.trim().trim_end_matches('/'), path)
}

/// The HTTP chat backend.
#[derive(Debug)]
pub struct OpenAiBackend {
    http: Http,
    url: String,
    model: String,
    name: String,
    concurrency: usize,
    opts: WireOptions,
}

impl OpenAiBackend {
    /// A backend for an endpoint table (reads the API key from the environment now).
    pub fn new(ep: &EndpointSection) -> Result<OpenAiBackend> {
        let http = Http::new(
            Duration::from_secs_f64(ep.timeout_s),
            api_key(ep)?,
            ep.max_retries,
        );
        Ok(OpenAiBackend {
            http,
            url: join_url(&ep.url, "chat/completions"),
            model: ep.model.clone(),
            name: format!("{} @ {}", ep.model, ep.url.trim()),
            concurrency: ep.concurrency.max(1),
            opts: WireOptions {
                logprobs: ep.logprobs,
                token_ids: ep.logprobs && ep.token_ids,
            },
        })
    }

    /// Sets the wait before the first retry (doubled on each further one; default 0.5 s).
    pub fn with_backoff(mut self, first: Duration) -> OpenAiBackend {
        self.http.backoff = first;
        self
    }

    /// The chat completions URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Completes one conversation.
    pub fn complete_one(&self, req: &ChatRequest, params: &GenParams) -> Result<ChatCompletion> {
        let body = request_body(&self.model, req, params, self.opts);
        let v = self.http.post_json(&self.url, &body)?;
        parse_response(&v, self.opts).map_err(|e| Error::BadResponse {
            url: self.url.clone(),
            pointer: e.pointer,
            message: e.message,
        })
    }
}

/// Runs `f` on every index in `0..n` with at most `workers` threads; results in index order.
/// The first error (in index order) is returned; `lost` stands in for a result that a worker
/// could not store (only after a panic elsewhere, which `thread::scope` re-raises anyway).
fn parallel_map<T: Send, E: Send>(
    n: usize,
    workers: usize,
    f: impl Fn(usize) -> std::result::Result<T, E> + Sync,
    lost: impl Fn() -> E,
) -> std::result::Result<Vec<T>, E> {
    let slots: Vec<Mutex<Option<std::result::Result<T, E>>>> =
        (0..n).map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..workers.clamp(1, n.max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(slot) = slots.get(i) else { break };
                let r = f(i);
                if let Ok(mut g) = slot.lock() {
                    *g = Some(r);
                }
            });
        }
    });
    slots
        .into_iter()
        .map(|m| m.into_inner().ok().flatten().unwrap_or_else(|| Err(lost())))
        .collect()
}

impl ChatBackend for OpenAiBackend {
    fn complete(
        &self,
        requests: &[ChatRequest],
        params: &GenParams,
    ) -> super::Result<Vec<ChatCompletion>> {
        parallel_map(
            requests.len(),
            self.concurrency,
            |i| self.complete_one(&requests[i], params),
            || Error::Transport {
                url: self.url.clone(),
                attempts: 0,
                message: "a request worker stopped without a result".into(),
            },
        )
        .map_err(super::Error::Http)
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_excerpts() {
        assert_eq!(
            join_url("http://h:1/v1/", "chat/completions"),
            "http://h:1/v1/chat/completions"
        );
        assert_eq!(
            join_url("http://h:1/v1", "embeddings"),
            "http://h:1/v1/embeddings"
        );
        let long = "x".repeat(1000);
        assert_eq!(excerpt(&long).chars().count(), EXCERPT + 1);
    }

    #[test]
    fn parallel_map_keeps_order_and_reports_first_error() {
        let out: std::result::Result<Vec<usize>, String> =
            parallel_map(20, 3, |i| Ok::<_, String>(i * 2), String::new);
        assert_eq!(out.unwrap(), (0..20).map(|i| i * 2).collect::<Vec<_>>());
        let err = parallel_map(10, 4, |i| if i % 4 == 3 { Err(i) } else { Ok(i) }, || 99);
        assert_eq!(err.unwrap_err(), 3);
        assert!(parallel_map(0, 4, Ok::<_, ()>, || ()).unwrap().is_empty());
    }

    #[test]
    fn missing_key_names_the_variable() {
        let mut ep = EndpointSection::new("http://127.0.0.1:9/v1", "m");
        ep.api_key_env = Some("TRAINER_TEST_SURELY_UNSET_KEY_VAR".into());
        let e = OpenAiBackend::new(&ep).unwrap_err().to_string();
        assert!(e.contains("TRAINER_TEST_SURELY_UNSET_KEY_VAR"), "{e}");
    }

    #[test]
    fn connection_refused_is_retried_then_reported_with_the_url() {
        // Bind then drop a listener: its port is (almost surely) closed now.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let mut ep = EndpointSection::new(format!("http://127.0.0.1:{port}/v1"), "m");
        ep.max_retries = 2;
        let b = OpenAiBackend::new(&ep)
            .unwrap()
            .with_backoff(Duration::from_millis(1));
        let req = ChatRequest {
            task_id: None,
            messages: vec![serde_json::json!({"role": "user", "content": "hi"})],
            tools: Vec::new(),
            seed: 0,
            adapter: false,
            history_ids: Vec::new(),
        };
        let params = GenParams {
            sampling: crate::engine::SamplingParams::default(),
            max_new_tokens: 4,
        };
        let e = b.complete_one(&req, &params).unwrap_err();
        match &e {
            Error::Transport { url, attempts, .. } => {
                assert_eq!(url, &format!("http://127.0.0.1:{port}/v1/chat/completions"));
                assert_eq!(*attempts, 3);
            }
            other => panic!("expected a transport error, got {other}"),
        }
    }
}
