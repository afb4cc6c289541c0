//! `trainer serve` and the OpenAI-compatible HTTP backend, end to end on this machine:
//! the server runs in-process on an ephemeral port over a tiny random Qwen3 (real Qwen3
//! tokenizer and chat template), and `OpenAiBackend` talking to it must give exactly what the
//! `LocalBackend` gives directly (greedy decoding: text, parsed calls, token ids, log-probs).
//! The tool-call wire path is checked with the scripted test double (`ScriptedBackend`) behind
//! the server, because a random model never writes a tool call. Retries are checked against a
//! stub socket written here (a test fixture, not a server implementation).
//! Tests that need the tokenizer are skipped with `TRAINER_SKIP_REAL_ASSETS=1`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use candle_core::{DType, Device};
use serde_json::{json, Value as Json};
use trainer::backend::{
    ChatBackend, ChatCompletion, ChatRequest, GenParams, LocalBackend, OpenAiBackend,
    OpenAiEmbedder,
};
use trainer::chat::{render_tool_calls, Tokenizer, ToolCall};
use trainer::config::{Config, EndpointSection};
use trainer::engine::SamplingParams;
use trainer::model::{Arch, Model, TensorMap};
use trainer::serve::{
    BatchOptions, ChatOnly, Defaults, EmbedReply, Servable, ServeOptions, Server,
};
use trainer::synth::scripted::{Scripted, ScriptedBackend};
use trainer::toolsets::{Embedder, ModelEmbedder};

fn greedy(max_new_tokens: usize) -> GenParams {
    GenParams {
        sampling: SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
        },
        max_new_tokens,
    }
}

/// The tiny random Qwen3 with the real tokenizer; the same weights on every call.
fn tiny_backend() -> Option<LocalBackend> {
    if trainer::assets::skip_real_assets() {
        println!("skipped: TRAINER_SKIP_REAL_ASSETS=1");
        return None;
    }
    let assets = trainer::assets::ensure_assets().unwrap_or_else(|e| panic!("{e}"));
    let tok = Tokenizer::from_dir(&assets.qwen3_tokenizer_dir).unwrap();
    let mut cfg = common::tiny_config(Arch::Qwen3);
    cfg.vocab_size = tok.vocab_size();
    cfg.eos_token_ids = tok.stop_ids().to_vec();
    cfg.max_position_embeddings = 4096;
    let w = TensorMap::random(&cfg, 3, 0.2).unwrap();
    let model = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    Some(LocalBackend::new(model, tok, "tiny-random-qwen3".into()))
}

fn options(model_name: &str) -> ServeOptions {
    ServeOptions {
        host: "127.0.0.1".into(),
        port: 0,
        model_name: model_name.into(),
        defaults: Defaults {
            params: greedy(8),
            max_tokens_limit: 512,
        },
        seed: 0,
        batch: BatchOptions {
            window: Duration::from_millis(300),
            max_batch: 8,
        },
        workers: 8,
    }
}

fn endpoint(server: &Server, model: &str) -> EndpointSection {
    let mut ep = EndpointSection::new(server.base_url(), model);
    ep.timeout_s = 120.0;
    ep.max_retries = 0;
    ep
}

/// Counts engine calls and the largest batch, around the real backend.
struct Counting {
    inner: LocalBackend,
    calls: Arc<AtomicUsize>,
    largest: Arc<AtomicUsize>,
}

impl Servable for Counting {
    fn label(&self) -> &str {
        self.inner.label()
    }
    fn chat_batch(
        &self,
        requests: &[ChatRequest],
        params: &GenParams,
    ) -> trainer::backend::Result<Vec<ChatCompletion>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.largest.fetch_max(requests.len(), Ordering::SeqCst);
        self.inner.chat_batch(requests, params)
    }
    fn embeddings(&self, texts: &[String]) -> EmbedReply {
        self.inner.embeddings(texts)
    }
    fn token_text(&self, id: u32) -> String {
        self.inner.token_text(id)
    }
}

fn tools() -> Vec<Json> {
    vec![
        json!({"type": "function", "function": {
            "name": "get_weather", "description": "Current weather of a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}),
        json!({"type": "function", "function": {
            "name": "convert", "description": "Convert an amount between currencies.",
            "parameters": {"type": "object", "properties": {
                "amount": {"type": "number"}, "from": {"type": "string"}, "to": {"type": "string"}},
                "required": ["amount", "from", "to"]}}}),
    ]
}

/// Four conversations: plain, with tools, and with tool-call history and tool results.
fn requests() -> Vec<ChatRequest> {
    let sys = json!({"role": "system", "content": "You are a helpful assistant."});
    let history = vec![
        sys.clone(),
        json!({"role": "user", "content": "Weather in Paris and 10 EUR in USD?"}),
        json!({"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_0", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
            {"id": "call_1", "type": "function", "function": {"name": "convert", "arguments": {"amount": 10, "from": "EUR", "to": "USD"}}}
        ]}),
        json!({"role": "tool", "tool_call_id": "call_0", "name": "get_weather", "content": "{\"temp_c\": 18}"}),
        json!({"role": "tool", "tool_call_id": "call_1", "name": "convert", "content": "{\"amount\": 10.8}"}),
    ];
    vec![
        ChatRequest {
            task_id: None,
            messages: vec![json!({"role": "user", "content": "Hello there"})],
            tools: Vec::new(),
            seed: 1,
            adapter: true,
            history_ids: Vec::new(),
        },
        ChatRequest {
            task_id: None,
            messages: vec![
                sys.clone(),
                json!({"role": "user", "content": "What's the weather in Oslo?"}),
            ],
            tools: tools(),
            seed: 2,
            adapter: true,
            history_ids: Vec::new(),
        },
        ChatRequest {
            task_id: None,
            messages: history.clone(),
            tools: tools(),
            seed: 3,
            adapter: true,
            history_ids: Vec::new(),
        },
        ChatRequest {
            task_id: None,
            messages: history[..4].to_vec(),
            tools: tools(),
            seed: 4,
            adapter: true,
            history_ids: Vec::new(),
        },
    ]
}

#[test]
fn http_backend_equals_local_backend_greedy_and_batches() {
    let (Some(direct), Some(served)) = (tiny_backend(), tiny_backend()) else {
        return;
    };
    let calls = Arc::new(AtomicUsize::new(0));
    let largest = Arc::new(AtomicUsize::new(0));
    let server = Server::start(
        Counting {
            inner: served,
            calls: calls.clone(),
            largest: largest.clone(),
        },
        &options("tiny"),
    )
    .unwrap();
    let mut ep = endpoint(&server, "tiny");
    ep.logprobs = true;
    ep.token_ids = true;
    ep.concurrency = 4;
    let http = OpenAiBackend::new(&ep).unwrap();
    let reqs = requests();
    let params = greedy(12);
    let want = direct.complete(&reqs, &params).unwrap();
    let got = http.complete(&reqs, &params).unwrap();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.parsed.calls, w.parsed.calls, "request {i}");
        assert_eq!(g.parsed.content, w.parsed.content, "request {i}");
        if w.parsed.calls.is_empty() {
            assert_eq!(g.text, w.text, "request {i}");
        }
        assert_eq!(g.completion_ids, w.completion_ids, "request {i}");
        assert_eq!(g.logprobs, w.logprobs, "request {i}");
        assert_eq!(g.finish, w.finish, "request {i}");
        assert!(
            g.prompt_ids.is_empty(),
            "the HTTP backend never knows prompt ids"
        );
    }
    // The four concurrent requests were batched (not one engine call each).
    assert!(
        largest.load(Ordering::SeqCst) >= 2,
        "largest batch {}, {} engine calls",
        largest.load(Ordering::SeqCst),
        calls.load(Ordering::SeqCst)
    );
    // Without logprobs, nothing token-level comes back.
    let plain = OpenAiBackend::new(&endpoint(&server, "tiny")).unwrap();
    let one = plain.complete(&reqs[1..2], &params).unwrap();
    assert_eq!(one[0].text, want[1].text);
    assert!(one[0].completion_ids.is_empty() && one[0].logprobs.is_empty());
    server.shutdown();
}

fn get(url: &str) -> (u16, Json) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent.get(url).call().unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

fn post(url: &str, body: &str) -> (u16, Json) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
    )
}

#[test]
fn models_embeddings_usage_and_errors() {
    let (Some(direct), Some(served)) = (tiny_backend(), tiny_backend()) else {
        return;
    };
    let server = Server::start(served, &options("tiny")).unwrap();
    let base = server.base_url();

    let (s, models) = get(&format!("{base}/models"));
    assert_eq!(s, 200);
    assert_eq!(models["data"][0]["id"], "tiny");
    assert_eq!(models["object"], "list");

    // Embeddings: the server's vectors are the model's mean-pooled, normalized hidden states.
    let texts: Vec<String> = vec![
        "get weather: Current weather of a city.".into(),
        "convert: Convert an amount between currencies. Parameters: amount, from, to.".into(),
        "x".into(),
    ];
    let reference = ModelEmbedder {
        model: direct.model(),
        tokenizer: direct.tokenizer(),
        batch_size: 16,
        max_tokens: 4096,
    }
    .embed(&texts)
    .unwrap();
    let remote = OpenAiEmbedder::new(&endpoint(&server, "tiny"))
        .unwrap()
        .embed(&texts)
        .unwrap();
    assert_eq!(remote.len(), 3);
    for (a, b) in remote.iter().zip(&reference) {
        assert_eq!(a.len(), b.len());
        let diff = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-5, "max diff {diff}");
    }
    let (s, e) = post(
        &format!("{base}/embeddings"),
        r#"{"model": "tiny", "input": "hello world"}"#,
    );
    assert_eq!(s, 200);
    assert_eq!(e["data"][0]["index"], 0);
    assert_eq!(
        e["usage"]["prompt_tokens"],
        direct
            .tokenizer()
            .encode("hello world", false)
            .unwrap()
            .len()
    );

    // Usage counts of a chat completion are the prompt's and the completion's token counts.
    let req = &requests()[1];
    let want = direct
        .complete(std::slice::from_ref(req), &greedy(5))
        .unwrap();
    let body = json!({"model": "tiny", "messages": req.messages, "tools": req.tools,
        "temperature": 0, "max_tokens": 5, "logprobs": true});
    let (s, r) = post(&format!("{base}/chat/completions"), &body.to_string());
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["usage"]["prompt_tokens"], want[0].prompt_ids.len());
    assert_eq!(
        r["usage"]["completion_tokens"],
        want[0].completion_ids.len()
    );
    assert_eq!(r["choices"][0]["finish_reason"], want[0].finish.as_str());
    let lp = r["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(lp.len(), want[0].completion_ids.len());
    let first = direct
        .tokenizer()
        .decode(&want[0].completion_ids[..1], false)
        .unwrap();
    assert_eq!(lp[0]["token"], first);

    // Bad requests: status and an OpenAI-style JSON error naming the field.
    let chat = format!("{base}/chat/completions");
    for (body, status, param) in [
        ("{not json", 400, Json::Null),
        (r#"{"messages": []}"#, 400, json!("messages")),
        (
            r#"{"messages": [{"role": "user", "content": "x"}], "stream": true}"#,
            400,
            json!("stream"),
        ),
        (
            r#"{"messages": [{"role": "wizard", "content": "x"}]}"#,
            400,
            json!("messages[0].role"),
        ),
        (
            r#"{"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}"#,
            404,
            json!("model"),
        ),
    ] {
        let (s, e) = post(&chat, body);
        assert_eq!(s, status, "{body}: {e}");
        assert!(
            e["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{e}"
        );
        assert_eq!(e["error"]["param"], param, "{body}");
    }
    let (s, e) = post(&format!("{base}/embeddings"), r#"{"input": [1, 2]}"#);
    assert_eq!((s, e["error"]["param"].clone()), (400, json!("input[0]")));
    let (s, _) = get(&format!("{base}/nowhere"));
    assert_eq!(s, 404);
    let (s, _) = get(&chat);
    assert_eq!(s, 405);
    // The server still works after the errors.
    let (s, _) = post(
        &chat,
        r#"{"messages": [{"role": "user", "content": "x"}], "max_tokens": 2}"#,
    );
    assert_eq!(s, 200);
    server.shutdown();
}

/// A scripted assistant: a tool call built from the last user message, content, reasoning,
/// and a malformed block, depending on the request.
fn script(req: &ChatRequest) -> Scripted {
    let user = req
        .messages
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or("")
        .to_string();
    let call = |name: &str, args: Json| ToolCall::new(name, args.as_object().cloned().unwrap());
    let text = match req.seed {
        0 => render_tool_calls(
            "",
            &[call(
                "get_weather",
                json!({"city": user, "units": ["c", 1, null, true]}),
            )],
        ),
        1 => render_tool_calls(
            "Let me check both.",
            &[
                call("get_weather", json!({"city": "Paris"})),
                call(
                    "convert",
                    json!({"amount": 10.5, "from": "EUR", "to": "USD", "note": "\"quoted\" </tool_call>"}),
                ),
            ],
        ),
        2 => format!(
            "<think>\nthe user wants weather\n</think>\n\n{}",
            render_tool_calls("", &[call("get_weather", json!({"city": "Rome"}))])
        ),
        3 => "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": }\n</tool_call>"
            .into(),
        _ => format!("It is sunny in {user}."),
    };
    Scripted::text(text)
}

#[test]
fn tool_calls_round_trip_through_the_wire() {
    let server =
        Server::start(ChatOnly(ScriptedBackend::new(script)), &options("scripted")).unwrap();
    let http = OpenAiBackend::new(&endpoint(&server, "scripted")).unwrap();
    let direct = ScriptedBackend::new(script);
    let mut reqs = requests();
    reqs.push(ChatRequest {
        task_id: None,
        seed: 9,
        ..reqs[0].clone()
    });
    for (i, r) in reqs.iter_mut().enumerate() {
        r.seed = i as u64;
    }
    let want = direct.complete(&reqs, &greedy(64)).unwrap();
    let got = http.complete(&reqs, &greedy(64)).unwrap();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.parsed.calls, w.parsed.calls, "request {i}: {}", g.text);
        assert_eq!(
            g.parsed.content.trim(),
            w.parsed.content.trim(),
            "request {i}"
        );
        assert_eq!(g.parsed.reasoning, w.parsed.reasoning, "request {i}");
    }
    assert!(!want[1].parsed.calls.is_empty() && want[1].parsed.calls.len() == 2);
    // Well-formed calls come back in exactly the canonical text.
    assert_eq!(got[0].text, want[0].text);
    assert_eq!(got[1].text, want[1].text);
    // The malformed block is not a call, and its problem is still visible to the caller.
    assert!(got[3].parsed.calls.is_empty() && !got[3].parsed.problems.is_empty());
    assert_eq!(got[4].text, want[4].text);

    // The raw response: tool_calls with string arguments and finish_reason "tool_calls".
    let body = json!({"model": "scripted", "messages": reqs[1].messages, "tools": reqs[1].tools, "seed": 1});
    let (s, r) = post(
        &format!("{}/chat/completions", server.base_url()),
        &body.to_string(),
    );
    assert_eq!(s, 200, "{r}");
    let choice = &r["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], "Let me check both.");
    let tc = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(tc.len(), 2);
    assert_eq!(tc[0]["type"], "function");
    assert!(tc[0]["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("call_")));
    assert_ne!(tc[0]["id"], tc[1]["id"]);
    let args: Json =
        serde_json::from_str(tc[1]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args["amount"], 10.5);
    assert_eq!(args["note"], "\"quoted\" </tool_call>");
    server.shutdown();
}

/// Reads one HTTP request (headers and a Content-Length body) from a stub connection.
fn read_request(stream: &mut std::net::TcpStream) -> String {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap();
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).unwrap();
    head + &String::from_utf8(body).unwrap()
}

/// A stub socket that answers each connection with the next canned response.
fn stub(responses: Vec<(u16, &'static str, String)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (status, reason, body) in responses {
            let (mut s, _) = listener.accept().unwrap();
            let req = read_request(&mut s);
            log.lock().unwrap().push(req);
            let resp = format!(
                "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            s.write_all(resp.as_bytes()).unwrap();
        }
    });
    (url, seen)
}

#[test]
fn retries_503_then_succeeds_and_sends_the_key() {
    let ok = json!({"choices": [{"finish_reason": "tool_calls", "message": {"role": "assistant",
        "content": null, "tool_calls": [{"id": "a", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Oslo\"}"}}]}}]});
    let (url, seen) = stub(vec![
        (503, "Service Unavailable", "{\"error\": \"busy\"}".into()),
        (200, "OK", ok.to_string()),
    ]);
    std::env::set_var("TRAINER_SERVE_HTTP_TEST_KEY", "sk-test-123");
    let mut ep = EndpointSection::new(url, "remote-model");
    ep.api_key_env = Some("TRAINER_SERVE_HTTP_TEST_KEY".into());
    ep.max_retries = 2;
    let http = OpenAiBackend::new(&ep)
        .unwrap()
        .with_backoff(Duration::from_millis(10));
    let out = http.complete(&requests()[2..3], &greedy(16)).unwrap();
    assert_eq!(out[0].parsed.calls.len(), 1);
    assert_eq!(out[0].parsed.calls[0].name, "get_weather");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2, "one 503, one retry");
    for req in seen.iter() {
        assert!(req.starts_with("POST /v1/chat/completions "), "{req}");
        assert!(req
            .to_ascii_lowercase()
            .contains("authorization: bearer sk-test-123"));
    }
    // The body is an OpenAI request: model, string arguments in the history, tools, sampling.
    let body: Json = serde_json::from_str(seen[1].split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["model"], "remote-model");
    assert_eq!(body["max_tokens"], 16);
    assert!(body["messages"][2]["tool_calls"][0]["function"]["arguments"].is_string());
    assert_eq!(body["messages"][3]["role"], "tool");
    assert_eq!(body["messages"][3]["tool_call_id"], "call_0");
    assert_eq!(body["tools"].as_array().unwrap().len(), 2);
}

#[test]
fn client_errors_are_not_retried_and_name_url_status_body() {
    let (url, seen) = stub(vec![(
        400,
        "Bad Request",
        "{\"error\": {\"message\": \"max_tokens is too large\"}}".into(),
    )]);
    let mut ep = EndpointSection::new(url.clone(), "m");
    ep.max_retries = 3;
    let http = OpenAiBackend::new(&ep)
        .unwrap()
        .with_backoff(Duration::from_millis(10));
    let e = http
        .complete(&requests()[..1], &greedy(4))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("{url}/chat/completions")), "{e}");
    assert!(
        e.contains("HTTP 400") && e.contains("max_tokens is too large"),
        "{e}"
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

/// Counts the requests a served model answers.
struct CountRequests<S>(S, Arc<AtomicUsize>);

impl<S: Servable> Servable for CountRequests<S> {
    fn label(&self) -> &str {
        self.0.label()
    }
    fn chat_batch(
        &self,
        requests: &[ChatRequest],
        params: &GenParams,
    ) -> trainer::backend::Result<Vec<ChatCompletion>> {
        self.1.fetch_add(requests.len(), Ordering::SeqCst);
        self.0.chat_batch(requests, params)
    }
    fn embeddings(&self, texts: &[String]) -> EmbedReply {
        self.1.fetch_add(texts.len(), Ordering::SeqCst);
        self.0.embeddings(texts)
    }
}

#[test]
fn synth_runs_with_http_policy_simulators_and_embeddings() {
    let Some(served) = tiny_backend() else { return };
    let policy_calls = Arc::new(AtomicUsize::new(0));
    let server = Server::start(
        CountRequests(served, policy_calls.clone()),
        &options("tiny"),
    )
    .unwrap();
    // The simulators' server: a scripted double whose outputs the LLM simulators' checks
    // reject, so each of its answers is replaced by the programmatic one (and counted).
    let sim_calls = Arc::new(AtomicUsize::new(0));
    let sims = Server::start(
        CountRequests(
            ChatOnly(ScriptedBackend::new(|_: &ChatRequest| Scripted::text("ok"))),
            sim_calls.clone(),
        ),
        &options("sim"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let specs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("specs");
    // model.source names nothing: with a policy endpoint the local model is never loaded.
    let toml = format!(
        r#"
[run]
name = "http-synth"
[model]
source = "/nonexistent/model"
[generation]
max_new_tokens = 6
temperature = 0.0
[synth]
specs = [{specs:?}]
episodes = 3
max_turns = 2
batch_size = 3
user_simulator = "llm"
server_simulator = "llm"
[synth.toolsets]
grouping = "cluster"
embedding = "endpoint"
[synth.toolsets.embedding_endpoint]
url = "{url}"
model = "tiny"
[synth.policy_endpoint]
url = "{url}"
model = "tiny"
concurrency = 3
max_retries = 0
[synth.simulator_endpoint]
url = "{sim_url}"
model = "sim"
"#,
        url = server.base_url(),
        sim_url = sims.base_url(),
    );
    let cfg = Config::from_toml(&toml, std::path::Path::new("http-synth.toml")).unwrap();
    let out = dir.path().join("out.jsonl");
    let outcome = trainer::synth::synthesize(&cfg, &out, false).unwrap();
    assert_eq!(outcome.stats.total.episodes, 3);
    assert!(outcome.stats.total.assistant_turns >= 3);
    assert!(
        outcome.stats.policy.contains(&server.base_url()),
        "{}",
        outcome.stats.policy
    );
    assert!(outcome.files.chat.is_file() && outcome.files.stats.is_file());
    // Every tool definition was embedded by the endpoint, and every assistant turn came from it.
    let (tools, _) = trainer::synth::run::load_tools(&cfg).unwrap();
    let tools = trainer::synth::run::compilable(tools);
    assert_eq!(
        policy_calls.load(Ordering::SeqCst),
        tools.len() + outcome.stats.total.assistant_turns
    );
    assert!(!outcome.toolsets.is_empty());
    assert!(
        sim_calls.load(Ordering::SeqCst) > 0,
        "the LLM user simulator asks its endpoint"
    );
    server.shutdown();
    sims.shutdown();
}

#[test]
fn endpoint_config_is_validated_with_file_and_key() {
    let toml = r#"
[run]
name = "x"
[model]
source = "m"
[synth.policy_endpoint]
url = "localhost:8000"
model = "m"
"#;
    let e = Config::from_toml(toml, std::path::Path::new("bad.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("bad.toml") && e.contains("synth.policy_endpoint.url"),
        "{e}"
    );
    let toml = r#"
[run]
name = "x"
[model]
source = "m"
[synth.toolsets]
embedding = "endpoint"
"#;
    let e = Config::from_toml(toml, std::path::Path::new("bad.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("synth.toolsets.embedding") && e.contains("embedding_endpoint"),
        "{e}"
    );
}
