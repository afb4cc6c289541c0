//! Prefix caching across generation calls (`engine::generate_cached`): a continuation that reuses
//! cached keys/values gives the same tokens and log-probs as prefilling it from scratch, reuses
//! exactly the cached prefix, keeps adapter-on and adapter-off sequences apart, and stays within
//! its byte budget.

mod common;

use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use common::*;
use trainer::engine::{
    generate_cached, GenConfig, GenOutput, GenRequest, PrefixCache, SamplingParams,
};
use trainer::model::{Arch, LoraConfig, LoraTarget, Model, ModelConfig, RopeScaling, TensorMap};

const ARCHS: [Arch; 3] = [Arch::Qwen2, Arch::Qwen3, Arch::Llama];

fn config(temperature: f64, max_new: usize) -> GenConfig {
    GenConfig {
        sampling: SamplingParams {
            temperature,
            top_k: 0,
            top_p: 1.0,
        },
        max_new_tokens: max_new,
        // Small chunks so that the cached path's suffix prefill spans several forwards.
        prefill_chunk: 4,
        ..GenConfig::default()
    }
}

fn run(
    model: &Model,
    reqs: &[GenRequest],
    cfg: &GenConfig,
    cache: Option<&mut PrefixCache>,
) -> Vec<GenOutput> {
    generate_cached(model, reqs, cfg, cache, &mut |_| {}).expect("generate")
}

fn assert_same(a: &[GenOutput], b: &[GenOutput], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert_eq!(x.tokens, y.tokens, "{what}: row {i} tokens");
        assert_eq!(x.finish, y.finish, "{what}: row {i} finish");
        for (p, q) in x.logprobs.iter().zip(&y.logprobs) {
            assert!((p - q).abs() <= tol, "{what}: row {i} logprob {p} vs {q}");
        }
    }
}

/// Turn 1 of some conversations, then turn 2 = turn 1's prompt + its completion + new tokens
/// (a tool result), mixed with brand-new prompts: with the cache equal to without it, and the
/// reused token count is exactly the stored prefixes.
#[test]
fn continuation_with_cache_equals_prefill_from_scratch() {
    for arch in ARCHS {
        let (cfg, _, model) = tiny_model(arch, DType::F32);
        let v = cfg.vocab_size;
        let turn1: Vec<GenRequest> = [6usize, 11, 3]
            .iter()
            .enumerate()
            .map(|(i, &n)| GenRequest::new(ids(1, n, v, 10 + i as u32).remove(0), i as u64))
            .collect();
        let gen = GenConfig {
            stop_ids: vec![],
            ..config(1.0, 5)
        };
        let mut cache = PrefixCache::new(64 << 20);
        let out1 = run(&model, &turn1, &gen, Some(&mut cache));
        assert_eq!(cache.len(), 3, "{arch:?}: one entry per finished row");
        let mut turn2: Vec<GenRequest> = turn1
            .iter()
            .zip(&out1)
            .enumerate()
            .map(|(i, (r, o))| {
                let mut p = r.prompt.clone();
                p.extend(&o.tokens);
                p.extend(ids(1, 2 + i, v, 50 + i as u32).remove(0));
                GenRequest::new(p, 100 + i as u64)
            })
            .collect();
        // A prompt the cache has never seen, in the same batch.
        turn2.insert(1, GenRequest::new(ids(1, 9, v, 77).remove(0), 7));
        let before = cache.stats();
        let cached = run(&model, &turn2, &gen, Some(&mut cache));
        let fresh = run(&model, &turn2, &gen, None);
        assert_same(&cached, &fresh, 1e-5, &format!("{arch:?} turn 2"));
        let reused = cache.stats().reused_tokens - before.reused_tokens;
        let expected: usize = turn1
            .iter()
            .zip(&out1)
            .map(|(r, o)| r.prompt.len() + o.tokens.len() - 1)
            .sum();
        assert_eq!(reused, expected, "{arch:?}: reused tokens");
        assert_eq!(cache.stats().hits - before.hits, 3, "{arch:?}: hits");
    }
}

/// The same prompt again reuses all but its last token; G samples of it (the GRPO shape) sample
/// as they would without the cache.
#[test]
fn repeated_prompt_and_group_samples_match() {
    let (cfg, _, model) = tiny_model(Arch::Qwen3, DType::F32);
    let prompt = ids(1, 13, cfg.vocab_size, 3).remove(0);
    let gen = config(0.9, 6);
    let mut cache = PrefixCache::new(64 << 20);
    run(
        &model,
        &[GenRequest::new(prompt.clone(), 1)],
        &gen,
        Some(&mut cache),
    );
    let group: Vec<GenRequest> = (0..4)
        .map(|s| GenRequest::new(prompt.clone(), 40 + s))
        .collect();
    let before = cache.stats();
    let cached = run(&model, &group, &gen, Some(&mut cache));
    let fresh = run(&model, &group, &gen, None);
    assert_same(&cached, &fresh, 1e-5, "group of 4");
    // The group's prompt is looked up once (distinct prompts are prefilled once).
    assert_eq!(
        cache.stats().reused_tokens - before.reused_tokens,
        prompt.len() - 1
    );
}

/// Adapter-on sequences never serve adapter-off prompts (their keys/values differ).
#[test]
fn adapter_and_base_entries_stay_apart() {
    let (cfg, _, mut model) = tiny_model(Arch::Llama, DType::F32);
    let lora = LoraConfig {
        r: 2,
        alpha: 4.0,
        targets: vec![LoraTarget::QProj, LoraTarget::VProj],
        seed: 1,
        ..LoraConfig::default()
    };
    model.attach_lora(&lora).expect("attach");
    let prompt = ids(1, 10, cfg.vocab_size, 5).remove(0);
    let gen = config(0.0, 4);
    let mut cache = PrefixCache::new(64 << 20);
    run(
        &model,
        &[GenRequest::new(prompt.clone(), 0)],
        &gen,
        Some(&mut cache),
    );
    let base = GenRequest {
        prompt: prompt.clone(),
        seed: 0,
        adapter: false,
    };
    run(&model, std::slice::from_ref(&base), &gen, Some(&mut cache));
    assert_eq!(
        cache.stats().hits,
        0,
        "adapter-off prompt must not reuse adapter-on slots"
    );
    run(&model, &[base], &gen, Some(&mut cache));
    assert_eq!(cache.stats().hits, 1, "now an adapter-off entry exists");
}

/// Past the byte budget the least recently used entries go; an entry extended by a newer one is
/// dropped; a disabled cache stores nothing.
#[test]
fn budget_and_eviction() {
    let (cfg, _, model) = tiny_model(Arch::Qwen2, DType::F32);
    let v = cfg.vocab_size;
    let gen = config(0.0, 3);
    let one = {
        let mut probe = PrefixCache::new(64 << 20);
        run(
            &model,
            &[GenRequest::new(ids(1, 8, v, 1).remove(0), 0)],
            &gen,
            Some(&mut probe),
        );
        probe.used_bytes()
    };
    assert!(one > 0);
    // Room for about two such sequences.
    let mut cache = PrefixCache::new(one * 5 / 2);
    for k in 0..4u32 {
        run(
            &model,
            &[GenRequest::new(ids(1, 8, v, 20 + k).remove(0), 0)],
            &gen,
            Some(&mut cache),
        );
        assert!(cache.used_bytes() <= one * 5 / 2, "over budget after {k}");
    }
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.stats().evictions, 2);
    // Continuing the newest sequence replaces its entry instead of adding one.
    let last = ids(1, 8, v, 23).remove(0);
    let out = run(
        &model,
        &[GenRequest::new(last.clone(), 0)],
        &gen,
        Some(&mut cache),
    );
    let mut longer = last.clone();
    longer.extend(&out[0].tokens);
    longer.extend([1, 2, 3]);
    run(
        &model,
        &[GenRequest::new(longer, 0)],
        &gen,
        Some(&mut cache),
    );
    assert!(cache.len() <= 2);
    let mut off = PrefixCache::new(0);
    run(&model, &[GenRequest::new(last, 0)], &gen, Some(&mut off));
    assert_eq!((off.len(), off.used_bytes()), (0, 0));
}

/// A LoRA on every linear with a non-zero B, so that adapter-on and adapter-off rows differ.
fn attach_active_lora(model: &mut Model) {
    model
        .attach_lora(&LoraConfig {
            r: 2,
            alpha: 4.0,
            targets: LoraTarget::ALL.to_vec(),
            seed: 3,
            ..LoraConfig::default()
        })
        .expect("attach");
    for (name, var) in model.lora_vars() {
        if name.ends_with("lora_B.weight") {
            let (o, r) = var.as_tensor().dims2().unwrap();
            let data: Vec<f32> = ids(1, o * r, 1000, 7 * o as u32 + r as u32)[0]
                .iter()
                .map(|&x| (x as f32 / 1000.0 - 0.5) * 1.5)
                .collect();
            var.set(&Tensor::from_vec(data, (o, r), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
}

/// Several prompts extend cached sequences by different amounts, so the hits are prefilled in
/// batches whose rows reuse different numbers of slots (a gap of padding between each row's
/// reused slots and the rest of its prompt; one long rest gets a batch of its own together with
/// the next longest), next to brand-new prompts, a prompt that shares only
/// part of a cached sequence, a group of samples of one hit prompt, and the adapter on for some
/// rows and off for others: the same tokens and log-probs as without the cache.
#[test]
fn batched_hits_of_different_reuse_lengths_match_no_cache() {
    for arch in ARCHS {
        let (cfg, _, mut model) = tiny_model(arch, DType::F32);
        attach_active_lora(&mut model);
        let v = cfg.vocab_size;
        let turn1: Vec<GenRequest> = [4usize, 13, 7, 2, 9]
            .iter()
            .enumerate()
            .map(|(i, &n)| GenRequest {
                prompt: ids(1, n, v, 30 + i as u32).remove(0),
                seed: i as u64,
                adapter: i % 2 == 0,
            })
            .collect();
        for temperature in [0.0, 1.0] {
            let what = format!("{arch:?} T={temperature}");
            let gen = config(temperature, 6);
            let mut cache = PrefixCache::new(64 << 20);
            let out1 = run(&model, &turn1, &gen, Some(&mut cache));
            let mut turn2: Vec<GenRequest> = turn1
                .iter()
                .zip(&out1)
                .enumerate()
                .map(|(i, (r, o))| {
                    let mut p = r.prompt.clone();
                    p.extend(&o.tokens);
                    // One long continuation: the hits need two prefill batches.
                    let extra = if i == 4 { 40 } else { 1 + 3 * i };
                    p.extend(ids(1, extra, v, 60 + i as u32).remove(0));
                    GenRequest {
                        prompt: p,
                        seed: 100 + i as u64,
                        adapter: r.adapter,
                    }
                })
                .collect();
            // The first 6 tokens of a cached prompt, then something else.
            let mut partial = turn1[1].prompt[..6].to_vec();
            partial.extend(ids(1, 5, v, 91).remove(0));
            assert_ne!(partial[6], turn1[1].prompt[6]);
            turn2.push(GenRequest {
                prompt: partial,
                seed: 7,
                adapter: turn1[1].adapter,
            });
            // Brand-new prompts, adapter on and off.
            turn2.insert(2, GenRequest::new(ids(1, 11, v, 1077).remove(0), 8));
            turn2.push(GenRequest {
                prompt: ids(1, 3, v, 1078).remove(0),
                seed: 9,
                adapter: false,
            });
            // Two more samples of a hit prompt.
            for s in 0..2 {
                turn2.push(GenRequest {
                    seed: 55 + s,
                    ..turn2[0].clone()
                });
            }
            let before = cache.stats();
            let cached = run(&model, &turn2, &gen, Some(&mut cache));
            let fresh = run(&model, &turn2, &gen, None);
            assert_same(&cached, &fresh, 1e-5, &what);
            for (i, (x, y)) in cached.iter().zip(&fresh).enumerate() {
                for (p, q) in x.processed_logprobs.iter().zip(&y.processed_logprobs) {
                    assert!(
                        (p - q).abs() <= 1e-5,
                        "{what}: row {i} processed {p} vs {q}"
                    );
                }
            }
            // Exactly the continued rows and the partial one hit, reusing what was cached.
            let reuse: Vec<usize> = turn1
                .iter()
                .zip(&out1)
                .map(|(r, o)| r.prompt.len() + o.tokens.len() - 1)
                .chain([6])
                .collect();
            let mut lengths = reuse.clone();
            lengths.sort_unstable();
            lengths.dedup();
            assert!(lengths.len() >= 4, "{what}: reuse lengths {reuse:?}");
            let stats = cache.stats();
            assert_eq!(stats.hits - before.hits, reuse.len(), "{what}: hits");
            assert_eq!(
                stats.reused_tokens - before.reused_tokens,
                reuse.iter().sum::<usize>(),
                "{what}: reused tokens"
            );
            let adapters: Vec<bool> = turn2.iter().map(|r| r.adapter).collect();
            assert!(adapters.contains(&true) && adapters.contains(&false));
        }
    }
}

/// Wall time of a multi-turn workload (16 conversations × 4 turns on a small random f32 model):
/// each turn re-sends the conversation plus a tool result. Per turn it prints the time to the
/// first token (a `max_new_tokens = 1` call: the prefill, with the prefix cache serving the
/// earlier turns) and the time of the whole turn, with and without the cache.
/// `cargo test --release --test engine_prefix_cache -- --ignored --nocapture multi_turn_timing`
#[test]
#[ignore = "timing, not a check"]
fn multi_turn_timing() {
    let cfg = ModelConfig {
        arch: Arch::Qwen2,
        vocab_size: 8000,
        hidden_size: 512,
        intermediate_size: 1408,
        num_hidden_layers: 8,
        num_attention_heads: 8,
        num_key_value_heads: 2,
        head_dim: 64,
        rope_theta: 10_000.0,
        rope_scaling: RopeScaling::None,
        rms_norm_eps: 1e-6,
        tie_word_embeddings: true,
        attention_bias: true,
        max_position_embeddings: 4096,
        bos_token_id: None,
        eos_token_ids: vec![],
    };
    let w = TensorMap::random(&cfg, 1, 0.05).expect("weights");
    let model = Model::load(&cfg, &w, DType::F32, &Device::Cpu).expect("model");
    let v = cfg.vocab_size;
    let system = ids(1, 300, v, 1).remove(0);
    let gen = GenConfig {
        sampling: SamplingParams {
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
        },
        max_new_tokens: 24,
        prefill_chunk: 512,
        ..GenConfig::default()
    };
    let first = GenConfig {
        max_new_tokens: 1,
        ..gen.clone()
    };
    for use_cache in [false, true] {
        let mut cache = PrefixCache::new(if use_cache { 1 << 30 } else { 0 });
        let mut convs: Vec<Vec<u32>> = (0..16)
            .map(|i| {
                let mut p = system.clone();
                p.extend(ids(1, 20 + 7 * i, v, 100 + i as u32).remove(0));
                p
            })
            .collect();
        for turn in 0..4 {
            let reqs: Vec<GenRequest> = convs
                .iter()
                .enumerate()
                .map(|(i, p)| GenRequest::new(p.clone(), (turn * 16 + i) as u64))
                .collect();
            let t0 = Instant::now();
            run(&model, &reqs, &first, Some(&mut cache));
            let ttft = t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            let out = run(&model, &reqs, &gen, Some(&mut cache));
            let whole = t0.elapsed().as_secs_f64();
            let prompt: usize = reqs.iter().map(|r| r.prompt.len()).sum();
            println!(
                "cache={use_cache} turn={turn} prompt_tokens={prompt} first_token_s={ttft:.3} \
                 turn_s={whole:.3}"
            );
            for (i, (c, o)) in convs.iter_mut().zip(&out).enumerate() {
                c.extend(&o.tokens);
                c.extend(ids(1, 10 + 5 * i, v, (1000 * turn + i) as u32).remove(0));
            }
        }
    }
}
