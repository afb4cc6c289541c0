//! One HTTP request: route, read the JSON body, hand the work to the engine thread, answer.

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value as Json;

use super::api::{self, ApiError, ResponseMeta};
use super::engine::Job;
use super::ServeOptions;
use crate::backend::Error as BackendError;

/// Largest request body read.
const MAX_BODY: u64 = 64 << 20;

/// What every worker shares.
pub struct Shared {
    model_name: String,
    defaults: api::Defaults,
    seed: u64,
    counter: AtomicU64,
    started: u64,
}

impl Shared {
    pub fn new(opts: &ServeOptions) -> Shared {
        Shared {
            model_name: opts.model_name.clone(),
            defaults: opts.defaults,
            seed: opts.seed,
            counter: AtomicU64::new(0),
            started: now(),
        }
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn respond(req: tiny_http::Request, status: u16, body: &Json) {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut resp = tiny_http::Response::from_data(bytes).with_status_code(status);
    if let Ok(h) = tiny_http::Header::from_bytes("Content-Type", "application/json") {
        resp = resp.with_header(h);
    }
    if let Err(e) = req.respond(resp) {
        tracing::debug!("writing a response: {e}");
    }
}

fn fail(req: tiny_http::Request, e: &ApiError) {
    respond(req, e.status, &e.body());
}

/// Handles one request.
pub fn handle(mut req: tiny_http::Request, shared: &Shared, jobs: &Sender<Job>) {
    let path = req.url().split('?').next().unwrap_or("").to_string();
    let method = req.method().as_str().to_ascii_uppercase();
    let route = match (method.as_str(), path.trim_end_matches('/')) {
        ("GET", "/v1/models") => {
            let body = api::models_response(&shared.model_name, shared.started);
            return respond(req, 200, &body);
        }
        ("GET", "/health") => return respond(req, 200, &serde_json::json!({"status": "ok"})),
        ("POST", "/v1/chat/completions") => Route::Chat,
        ("POST", "/v1/embeddings") => Route::Embeddings,
        (_, "/v1/models" | "/health" | "/v1/chat/completions" | "/v1/embeddings") => {
            let e = ApiError::status(405, format!("{method} is not allowed on {path}"));
            return fail(req, &e);
        }
        _ => {
            let e = ApiError::status(404, format!("no route {method} {path}"));
            return fail(req, &e);
        }
    };
    let body = match read_json(&mut req) {
        Ok(b) => b,
        Err(e) => return fail(req, &e),
    };
    let result = match route {
        Route::Chat => chat(&body, shared, jobs),
        Route::Embeddings => embeddings(&body, shared, jobs),
    };
    match result {
        Ok(v) => respond(req, 200, &v),
        Err(e) => fail(req, &e),
    }
}

enum Route {
    Chat,
    Embeddings,
}

fn read_json(req: &mut tiny_http::Request) -> Result<Json, ApiError> {
    let mut text = String::new();
    req.as_reader()
        .take(MAX_BODY + 1)
        .read_to_string(&mut text)
        .map_err(|e| ApiError::status(400, format!("reading the body: {e}")))?;
    if text.len() as u64 > MAX_BODY {
        return Err(ApiError::status(
            413,
            format!("the body is larger than {MAX_BODY} bytes"),
        ));
    }
    serde_json::from_str(&text)
        .map_err(|e| ApiError::status(400, format!("the body is not valid JSON: {e}")))
}

fn engine_gone() -> ApiError {
    ApiError::status(503, "the engine is shutting down")
}

fn chat(body: &Json, shared: &Shared, jobs: &Sender<Job>) -> Result<Json, ApiError> {
    let n = shared.counter.fetch_add(1, Ordering::Relaxed);
    let call = api::parse_chat(
        body,
        &shared.model_name,
        &shared.defaults,
        shared.seed.wrapping_add(n),
    )?;
    let (tx, rx) = mpsc::channel();
    jobs.send(Job::Chat {
        request: call.request.clone(),
        params: call.params,
        token_texts: call.logprobs && !call.token_ids,
        reply: tx,
    })
    .map_err(|_| engine_gone())?;
    let reply = rx.recv().map_err(|_| engine_gone())?;
    let (completion, texts) = reply.map_err(|e| {
        let status = match e {
            BackendError::Template(_) | BackendError::Tokenizer(_) => 400,
            _ => 500,
        };
        ApiError::status(status, format!("generation failed: {e}"))
    })?;
    let id = format!("chatcmpl-{n:08x}");
    let meta = ResponseMeta {
        id: &id,
        created: now(),
        model: &shared.model_name,
    };
    Ok(api::chat_response(&completion, &call, meta, &texts))
}

fn embeddings(body: &Json, shared: &Shared, jobs: &Sender<Job>) -> Result<Json, ApiError> {
    let texts = api::parse_embeddings(body, &shared.model_name)?;
    let (tx, rx) = mpsc::channel();
    jobs.send(Job::Embed { texts, reply: tx })
        .map_err(|_| engine_gone())?;
    let (vectors, tokens) = rx
        .recv()
        .map_err(|_| engine_gone())?
        .map_err(|(status, message)| ApiError::status(status, message))?;
    Ok(api::embeddings_response(
        &vectors,
        tokens,
        &shared.model_name,
    ))
}
