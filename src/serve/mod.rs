//! `trainer serve`: our engine behind an OpenAI-compatible HTTP API, so that anything that
//! speaks it (our own [`OpenAiBackend`](crate::backend::OpenAiBackend), evaluation harnesses,
//! other tools) can use a model we trained.
//!
//! Endpoints: `GET /v1/models`, `POST /v1/chat/completions` (tools, `tool_calls` with
//! `finish_reason: "tool_calls"`, usage, optional logprobs and vLLM's
//! `return_tokens_as_token_ids`), `POST /v1/embeddings` (mean-pooled last hidden states,
//! L2-normalized), `GET /health`. Not supported (400): streaming, `n > 1`, `top_logprobs`,
//! stop strings, forced `tool_choice`.
//!
//! HTTP workers parse requests and hand them to one engine thread, which batches the chat
//! requests that arrive within `batch_window` of each other into one engine call.

mod api;
mod engine;
mod handler;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

pub use api::{ApiError, Defaults};
pub use engine::{BatchOptions, EmbedReply};

use crate::backend::{ChatBackend, ChatCompletion, ChatRequest, GenParams, LocalBackend};
use crate::toolsets::{Embedder, ModelEmbedder};

/// Errors of starting the server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The address cannot be bound.
    #[error("cannot listen on {addr}: {message}")]
    Bind { addr: String, message: String },
    /// A thread could not be started.
    #[error("starting the {what} thread: {source}")]
    Thread {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
}

/// Result type of this module.
pub type Result<T> = std::result::Result<T, Error>;

/// A model the server can run: chat completions, optionally embeddings.
pub trait Servable: Send + 'static {
    /// A short name for logs.
    fn label(&self) -> &str;
    /// Completes a batch of conversations.
    fn chat_batch(
        &self,
        requests: &[ChatRequest],
        params: &GenParams,
    ) -> crate::backend::Result<Vec<ChatCompletion>>;
    /// Unit-length embeddings of `texts` and the number of tokens read; `Err((status, message))`
    /// when it cannot (501 when the model has no embeddings).
    fn embeddings(&self, texts: &[String]) -> engine::EmbedReply;
    /// A token's text, for logprobs.
    fn token_text(&self, id: u32) -> String {
        format!("token_id:{id}")
    }
}

impl Servable for LocalBackend {
    fn label(&self) -> &str {
        ChatBackend::name(self)
    }

    fn chat_batch(
        &self,
        requests: &[ChatRequest],
        params: &GenParams,
    ) -> crate::backend::Result<Vec<ChatCompletion>> {
        ChatBackend::complete(self, requests, params)
    }

    fn embeddings(&self, texts: &[String]) -> engine::EmbedReply {
        let max_tokens = self.model().config().max_position_embeddings.max(1);
        let mut tokens = 0usize;
        for t in texts {
            let n = self
                .tokenizer()
                .encode(t, false)
                .map_err(|e| (400, format!("tokenizing the input: {e}")))?
                .len();
            tokens += n.clamp(1, max_tokens);
        }
        let e = ModelEmbedder {
            model: self.model(),
            tokenizer: self.tokenizer(),
            batch_size: 16,
            max_tokens,
        };
        let vectors = e.embed(texts).map_err(|e| (500, e.to_string()))?;
        Ok((vectors, tokens))
    }

    fn token_text(&self, id: u32) -> String {
        self.tokenizer()
            .decode(&[id], false)
            .unwrap_or_else(|_| format!("token_id:{id}"))
    }
}

/// Serves any [`ChatBackend`] without embeddings (for instance a remote one, or a test double).
pub struct ChatOnly<B>(pub B);

impl<B: ChatBackend + Send + 'static> Servable for ChatOnly<B> {
    fn label(&self) -> &str {
        self.0.name()
    }

    fn chat_batch(
        &self,
        requests: &[ChatRequest],
        params: &GenParams,
    ) -> crate::backend::Result<Vec<ChatCompletion>> {
        self.0.complete(requests, params)
    }

    fn embeddings(&self, _texts: &[String]) -> engine::EmbedReply {
        Err((501, "this server has no embedding model".into()))
    }
}

/// Server settings.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Address to bind (`127.0.0.1`, `0.0.0.0`).
    pub host: String,
    /// Port (0 = any free one; see [`Server::addr`]).
    pub port: u16,
    /// The model id of `/v1/models`; requests naming another model get 404.
    pub model_name: String,
    /// What requests leave out.
    pub defaults: Defaults,
    /// Seed of requests without one (each gets `seed + n`, n counting requests).
    pub seed: u64,
    /// Batching of concurrent chat requests.
    pub batch: BatchOptions,
    /// HTTP worker threads (requests handled at once; at least the batch size to fill batches).
    pub workers: usize,
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
    engine: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds and starts the workers and the engine thread; returns at once.
    pub fn start(model: impl Servable, opts: &ServeOptions) -> Result<Server> {
        let want = format!("{}:{}", opts.host, opts.port);
        let http = tiny_http::Server::http(want.as_str()).map_err(|e| Error::Bind {
            addr: want.clone(),
            message: e.to_string(),
        })?;
        let addr = http.server_addr().to_ip().ok_or_else(|| Error::Bind {
            addr: want.clone(),
            message: "not an IP address".into(),
        })?;
        let http = Arc::new(http);
        let (tx, rx) = mpsc::channel::<engine::Job>();
        let batch = opts.batch;
        let engine = std::thread::Builder::new()
            .name("serve-engine".into())
            .spawn(move || engine::run(&model, &rx, batch))
            .map_err(|source| Error::Thread {
                what: "engine",
                source,
            })?;
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(handler::Shared::new(opts));
        let mut workers = Vec::new();
        for i in 0..opts.workers.max(1) {
            let (http, tx, stop, shared) = (http.clone(), tx.clone(), stop.clone(), shared.clone());
            let w = std::thread::Builder::new()
                .name(format!("serve-http-{i}"))
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        match http.recv_timeout(Duration::from_millis(100)) {
                            Ok(Some(req)) => handler::handle(req, &shared, &tx),
                            Ok(None) => {}
                            Err(e) => {
                                tracing::warn!("accepting a request: {e}");
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                    }
                })
                .map_err(|source| Error::Thread {
                    what: "HTTP worker",
                    source,
                })?;
            workers.push(w);
        }
        Ok(Server {
            addr,
            stop,
            workers,
            engine: Some(engine),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr/v1`, the `url` of an endpoint table.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Blocks until the server stops (it does not stop by itself).
    pub fn wait(mut self) {
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        if let Some(e) = self.engine.take() {
            let _ = e.join();
        }
    }

    /// Stops accepting, finishes the requests in flight, and stops the engine thread.
    pub fn shutdown(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        // The workers held the last job senders: the engine thread ends now.
        if let Some(e) = self.engine.take() {
            let _ = e.join();
        }
    }
}
