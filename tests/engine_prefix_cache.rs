//! Prefix caching across generation calls (`engine::generate_cached`): a continuation that reuses
//! cached keys/values gives the same tokens and log-probs as prefilling it from scratch, reuses
//! exactly the cached prefix, keeps adapter-on and adapter-off sequences apart, and stays within
//! its byte budget.

mod common;

use candle_core::DType;
use common::*;
use trainer::engine::{
    generate_cached, GenConfig, GenOutput, GenRequest, PrefixCache, SamplingParams,
};
use trainer::model::{Arch, LoraConfig, LoraTarget, Model};

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
