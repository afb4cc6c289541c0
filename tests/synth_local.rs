//! One synthesis episode through the real in-process backend (`LocalBackend`) with a tiny random
//! Qwen3 model and the real Qwen3 tokenizer and chat template. The model writes garbage; the
//! point is the plumbing: tools rendered into the prompt, batched sampling, and the token-level
//! record (prompt ids, sampled ids, log-probs) of every assistant turn.
//! Skipped with `TRAINER_SKIP_REAL_ASSETS=1`.

mod common;

use std::path::PathBuf;

use candle_core::{DType, Device};
use trainer::backend::{ChatBackend, ChatRequest, GenParams, LocalBackend};
use trainer::chat::Tokenizer;
use trainer::engine::SamplingParams;
use trainer::model::{Arch, Model, TensorMap};
use trainer::specs::{ingest_paths, IngestOptions};
use trainer::synth::episode::{run_episodes, Agents, EpisodeConfig};
use trainer::synth::plan::{plan, Category, PlanOptions};
use trainer::synth::verify::verify;
use trainer::synth::{expand_spec_paths, ProgrammaticUser, Registry, SchemaResults};
use trainer::toolsets::by_api;

fn backend() -> Option<LocalBackend> {
    if trainer::assets::skip_real_assets() {
        println!("skipped: TRAINER_SKIP_REAL_ASSETS=1");
        return None;
    }
    let assets = trainer::assets::ensure_assets().unwrap_or_else(|e| panic!("{e}"));
    let tok = Tokenizer::from_dir(&assets.qwen3_tokenizer_dir).unwrap();
    let mut cfg = common::tiny_config(Arch::Qwen3);
    cfg.vocab_size = tok.vocab_size();
    cfg.eos_token_ids = tok.stop_ids().to_vec();
    let w = TensorMap::random(&cfg, 3, 0.2).unwrap();
    let model = Model::load(&cfg, &w, DType::F32, &Device::Cpu).unwrap();
    Some(LocalBackend::new(model, tok, "tiny-random-qwen3".into()))
}

#[test]
fn episode_through_local_backend_records_tokens() {
    let Some(backend) = backend() else { return };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs");
    let tools = ingest_paths(
        &expand_spec_paths(&[root]).unwrap(),
        &IngestOptions::default(),
    )
    .tools;
    let sets = by_api(&tools, 4);
    let reg = Registry::new(tools).unwrap();
    let p = plan(
        &reg,
        &sets,
        &PlanOptions {
            seed: 1,
            counts: vec![(Category::Multiple, 1), (Category::MissingParam, 1)],
            ..PlanOptions::default()
        },
    );
    let cfg = EpisodeConfig {
        max_turns: 2,
        max_calls: 4,
        batch_size: 2,
        gen: GenParams {
            sampling: SamplingParams {
                temperature: 1.0,
                top_k: 0,
                top_p: 1.0,
            },
            max_new_tokens: 6,
        },
        system_prompt: Some("You are a helpful assistant.".into()),
        adapter: false,
    };
    let agents = Agents {
        policy: &backend,
        user: &ProgrammaticUser,
        server: &SchemaResults,
    };
    let eps = run_episodes(&reg, &p.tasks, &agents, &cfg, &mut |_| {}).unwrap();
    assert_eq!(eps.len(), 2);
    for ep in &eps {
        let turn = &ep.trajectory.turns[0];
        // The recorded prompt is exactly what the backend renders for the opening messages.
        let req = ChatRequest {
            task_id: None,
            messages: ep.trajectory.messages[..turn.message_index].to_vec(),
            tools: ep.trajectory.tools.clone(),
            seed: 0,
            adapter: false,
            history_ids: Vec::new(),
        };
        assert_eq!(turn.prompt_ids, backend.prompt_ids(&req).unwrap());
        let prompt = backend.tokenizer().decode(&turn.prompt_ids, false).unwrap();
        assert!(
            prompt.contains("<tools>") && prompt.contains(&ep.task.tools[0]),
            "{prompt}"
        );
        assert!(prompt.contains(&ep.task.request));
        for t in &ep.trajectory.turns {
            assert!(!t.completion_ids.is_empty() && t.completion_ids.len() <= 6);
            assert_eq!(t.completion_ids.len(), t.logprobs.len());
            assert!(
                t.logprobs.iter().all(|l| l.is_finite() && *l <= 0.0),
                "{:?}",
                t.logprobs
            );
            assert!(t
                .completion_ids
                .iter()
                .all(|&i| (i as usize) < backend.tokenizer().vocab_size()));
        }
        // Garbage is rejected, not accepted and not a crash.
        assert!(verify(&reg, ep).is_err());
        // Token-in/token-out: every later turn continued from exactly what the policy saw and
        // sampled (its truncated garbage would re-tokenize differently), so the flat training
        // sequence is the one sampled from.
        for w in ep.trajectory.turns.windows(2) {
            let seen = [w[0].prompt_ids.as_slice(), &w[0].completion_ids].concat();
            assert_eq!(w[1].prompt_ids.get(..seen.len()), Some(seen.as_slice()));
        }
        let flat = trainer::rollout::flatten(&ep.trajectory.id, &ep.trajectory.turns);
        if ep.trajectory.turns.iter().any(|t| t.finish == "stop") {
            assert!(flat.unwrap().consistent);
        }
    }
    // Seeded sampling: the same tasks give the same trajectories.
    let again = run_episodes(&reg, &p.tasks, &agents, &cfg, &mut |_| {}).unwrap();
    for (a, b) in eps.iter().zip(&again) {
        assert_eq!(a.trajectory, b.trajectory);
    }
    let _ = backend.name();
}

/// The backend's prefix cache: the next turn of a conversation reuses the previous turn's keys
/// and values, changes nothing in the completion, and is dropped whenever the model may change
/// (`model_mut`) or a batch of episodes starts (`reset_cache`).
#[test]
fn prefix_cache_reuses_turns_and_is_dropped_when_the_model_changes() {
    let Some(mut b) = backend() else { return };
    b.set_prefix_cache_mb(64);
    let params = GenParams {
        sampling: SamplingParams {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
        },
        max_new_tokens: 6,
    };
    let turn1 = ChatRequest {
        task_id: None,
        messages: vec![
            serde_json::json!({"role": "user", "content": "What is the weather in Paris?"}),
        ],
        tools: vec![],
        seed: 1,
        adapter: true,
        history_ids: Vec::new(),
    };
    let first = b.complete(std::slice::from_ref(&turn1), &params).unwrap();
    let mut turn2 = turn1.clone();
    turn2.messages.push(first[0].message());
    turn2
        .messages
        .push(serde_json::json!({"role": "user", "content": "And in Rome?"}));
    let cached = b.complete(std::slice::from_ref(&turn2), &params).unwrap();
    let stats = b.prefix_stats();
    assert_eq!(stats.hits, 1, "{stats:?}");
    assert!(
        stats.reused_tokens >= first[0].prompt_ids.len(),
        "turn 2 reuses at least turn 1's prompt: {stats:?}"
    );
    b.reset_cache();
    assert_eq!(b.prefix_stats().hits, 0);
    let fresh = b.complete(std::slice::from_ref(&turn2), &params).unwrap();
    assert_eq!(cached[0].completion_ids, fresh[0].completion_ids);
    for (x, y) in cached[0].logprobs.iter().zip(&fresh[0].logprobs) {
        assert!((x - y).abs() < 1e-4, "{x} vs {y}");
    }
    // Any mutable access to the model drops the cache: its keys/values may be stale.
    b.complete(std::slice::from_ref(&turn2), &params).unwrap();
    assert_eq!(b.prefix_stats().hits, 1);
    let _ = b.model_mut();
    assert_eq!(b.prefix_stats(), Default::default());
    b.complete(std::slice::from_ref(&turn2), &params).unwrap();
    assert_eq!(b.prefix_stats().hits, 0, "nothing cached after model_mut");
}

/// Token-in/token-out at sampling: a turn after an assistant turn continues from that turn's
/// prompt and sampled ids (`history_ids`) and renders only the messages after it. Sampled ids
/// the tokenizer would not produce for their text (here "Sun" + "ny." for "Sunny."), cut off by
/// the token limit, stay as they were and are closed with the template's end token; a turn the
/// template renders the same way gives exactly the re-rendered prompt.
#[test]
fn later_turns_continue_from_the_sampled_ids() {
    let Some(b) = backend() else { return };
    let tok = b.tokenizer();
    let enc = |s: &str| tok.encode(s, false).unwrap();
    let turn1 = ChatRequest {
        task_id: None,
        messages: vec![
            serde_json::json!({"role": "user", "content": "What is the weather in Paris?"}),
        ],
        tools: vec![],
        seed: 7,
        adapter: false,
        history_ids: Vec::new(),
    };
    let prompt1 = b.prompt_ids(&turn1).unwrap();
    let sampled = [enc("Sun"), enc("ny.")].concat();
    assert_ne!(
        sampled,
        enc("Sunny."),
        "the sampled split must not be the canonical one"
    );
    let mut turn2 = turn1.clone();
    turn2
        .messages
        .push(serde_json::json!({"role": "assistant", "content": "Sunny."}));
    turn2
        .messages
        .push(serde_json::json!({"role": "user", "content": "And in Rome?"}));
    let rerendered = b.prompt_ids(&turn2).unwrap();
    turn2.history_ids = [prompt1.as_slice(), &sampled].concat();
    let continued = b.prompt_ids(&turn2).unwrap();
    let n = turn2.history_ids.len();
    assert_eq!(&continued[..n], turn2.history_ids.as_slice());
    assert_eq!(
        continued[n..n + 1],
        enc("<|im_end|>")[..],
        "the cut-off turn is closed"
    );
    let tail = enc("\n<|im_start|>user\nAnd in Rome?<|im_end|>\n<|im_start|>assistant\n");
    assert!(continued.ends_with(&tail) && rerendered.ends_with(&tail));
    assert_ne!(continued, rerendered);
    // A history the template renders the same way: the continued prompt is the rendered one.
    turn2.history_ids = [prompt1.as_slice(), &enc("Sunny.<|im_end|>")].concat();
    let continued = b.prompt_ids(&turn2).unwrap();
    assert_eq!(continued, rerendered);
}
