//! Batched generation engine on tiny random models: batching, left padding, shared-prefix
//! prefill, seeded sampling, sampling log-probs, stops, per-row adapters.

mod common;

use candle_core::{DType, Device, Tensor};
use common::*;
use trainer::engine::{
    generate, generate_with_progress, FinishReason, GenConfig, GenOutput, GenRequest,
    SamplingParams,
};
use trainer::model::{
    token_logprobs, AdapterUse, Arch, Batch, LogprobOptions, LoraConfig, LoraTarget, Mode, Model,
};

const ARCHS: [Arch; 3] = [Arch::Qwen2, Arch::Qwen3, Arch::Llama];

/// Prompts of different lengths (so the batch needs left padding).
fn prompts(vocab: usize) -> Vec<Vec<u32>> {
    [5usize, 9, 1, 7, 12]
        .iter()
        .enumerate()
        .map(|(i, &n)| ids(1, n, vocab, 100 + i as u32).remove(0))
        .collect()
}

fn config(sampling: SamplingParams, max_new: usize) -> GenConfig {
    GenConfig {
        sampling,
        max_new_tokens: max_new,
        ..GenConfig::default()
    }
}

fn sampling(t: f64, k: usize, p: f64) -> SamplingParams {
    SamplingParams {
        temperature: t,
        top_k: k,
        top_p: p,
    }
}

fn requests(prompts: &[Vec<u32>], seed0: u64) -> Vec<GenRequest> {
    prompts
        .iter()
        .enumerate()
        .map(|(i, p)| GenRequest::new(p.clone(), seed0 + i as u64))
        .collect()
}

/// Full forward without a cache over one sequence: logits of the last position.
fn last_logits(model: &Model, seq: &[u32], adapter: AdapterUse) -> Vec<f32> {
    let x = ids_tensor(&[seq.to_vec()]);
    let batch = Batch::dense(model, 1, seq.len(), adapter).unwrap();
    let h = model.forward(&x, &batch, None, Mode::Train).unwrap();
    let last = h.narrow(1, seq.len() - 1, 1).unwrap();
    model
        .logits(&last)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

/// Greedy decoding by repeated full forwards (no cache, no batching, no engine).
fn reference_greedy(model: &Model, prompt: &[u32], n: usize) -> Vec<u32> {
    let mut seq = prompt.to_vec();
    for _ in 0..n {
        let l = last_logits(model, &seq, AdapterUse::On);
        let mut best = 0;
        for (i, &x) in l.iter().enumerate() {
            if x > l[best] {
                best = i;
            }
        }
        seq.push(best as u32);
    }
    seq[prompt.len()..].to_vec()
}

fn tokens(outs: &[GenOutput]) -> Vec<Vec<u32>> {
    outs.iter().map(|o| o.tokens.clone()).collect()
}

#[test]
fn greedy_batched_with_left_padding_matches_unbatched_and_uncached() {
    for arch in ARCHS {
        let (cfg, _, model) = tiny_model(arch, DType::F32);
        let ps = prompts(cfg.vocab_size);
        let gc = config(SamplingParams::greedy(), 10);
        let batched = generate(&model, &requests(&ps, 0), &gc).unwrap();
        for (i, p) in ps.iter().enumerate() {
            let alone = generate(&model, &[GenRequest::new(p.clone(), 0)], &gc).unwrap();
            assert_eq!(batched[i].tokens, alone[0].tokens, "{arch:?} row {i}");
            for (a, b) in batched[i].logprobs.iter().zip(&alone[0].logprobs) {
                assert!((a - b).abs() < 1e-5, "{arch:?} row {i}: {a} vs {b}");
            }
            assert_eq!(
                batched[i].tokens,
                reference_greedy(&model, p, 10),
                "{arch:?} row {i} vs uncached full forwards"
            );
            assert_eq!(batched[i].finish, FinishReason::Length);
        }
    }
}

#[test]
fn shared_prefix_prefill_equals_separate_prefill() {
    let (cfg, _, model) = tiny_model(Arch::Qwen2, DType::F32);
    let ps = prompts(cfg.vocab_size);
    // Two groups of four samples of the same prompt, interleaved with a lone prompt.
    let mut reqs = Vec::new();
    for g in 0..4 {
        reqs.push(GenRequest::new(ps[1].clone(), 10 + g));
    }
    reqs.push(GenRequest::new(ps[0].clone(), 20));
    for g in 0..4 {
        reqs.push(GenRequest::new(ps[4].clone(), 30 + g));
    }
    let gc = config(sampling(1.0, 0, 1.0), 12);
    let grouped = generate(&model, &reqs, &gc).unwrap();
    for (i, r) in reqs.iter().enumerate() {
        let alone = generate(&model, std::slice::from_ref(r), &gc).unwrap();
        assert_eq!(grouped[i].tokens, alone[0].tokens, "row {i}");
    }
    // Different seeds within a group really do sample differently.
    assert!(
        grouped[0].tokens != grouped[1].tokens || grouped[1].tokens != grouped[2].tokens,
        "four samples of one prompt were all identical"
    );
}

#[test]
fn sampling_is_reproducible_and_independent_of_batch_composition() {
    for arch in ARCHS {
        let (cfg, _, model) = tiny_model(arch, DType::F32);
        let ps = prompts(cfg.vocab_size);
        let gc = config(sampling(0.9, 20, 0.95), 15);
        let target = GenRequest::new(ps[2].clone(), 77);
        let alone = generate(&model, std::slice::from_ref(&target), &gc).unwrap();
        let again = generate(&model, std::slice::from_ref(&target), &gc).unwrap();
        assert_eq!(alone, again, "{arch:?}: same seed, different result");
        // Same request in the middle of a batch with longer and shorter prompts.
        let mut reqs = requests(&ps, 500);
        reqs.insert(2, target.clone());
        let mixed = generate(&model, &reqs, &gc).unwrap();
        assert_eq!(mixed[2].tokens, alone[0].tokens, "{arch:?}");
        // Reversed batch order.
        let mut rev = reqs.clone();
        rev.reverse();
        let mixed_rev = generate(&model, &rev, &gc).unwrap();
        assert_eq!(
            tokens(&mixed_rev).into_iter().rev().collect::<Vec<_>>(),
            tokens(&mixed)
        );
        // Another seed gives another completion.
        let other = generate(&model, &[GenRequest::new(ps[2].clone(), 78)], &gc).unwrap();
        assert_ne!(other[0].tokens, alone[0].tokens, "{arch:?}");
    }
}

#[test]
fn logprobs_match_a_full_forward_over_prompt_and_completion() {
    for arch in ARCHS {
        let (cfg, _, model) = tiny_model(arch, DType::F32);
        let ps = prompts(cfg.vocab_size);
        let t = 0.7;
        // Top-k/top-p truncate, yet `logprobs` is the full-vocabulary tempered log-prob.
        let gc = config(sampling(t, 12, 0.9), 9);
        let outs = generate(&model, &requests(&ps, 3), &gc).unwrap();
        for (p, o) in ps.iter().zip(&outs) {
            let seq: Vec<u32> = p.iter().chain(&o.tokens).copied().collect();
            let n = seq.len() - 1;
            let x = ids_tensor(&[seq[..n].to_vec()]);
            let tgt = ids_tensor(&[seq[1..].to_vec()]);
            let batch = Batch::dense(&model, 1, n, AdapterUse::On).unwrap();
            let h = model.forward(&x, &batch, None, Mode::Train).unwrap();
            let opts = LogprobOptions {
                temperature: t,
                chunk_size: 4,
                entropy: false,
            };
            let (lp, _) = token_logprobs(&model, &h, &tgt, opts).unwrap();
            let lp = lp.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let want = &lp[p.len() - 1..];
            assert_eq!(want.len(), o.logprobs.len());
            for (j, (a, b)) in o.logprobs.iter().zip(want).enumerate() {
                assert!((a - b).abs() < 1e-4, "{arch:?} token {j}: {a} vs {b}");
            }
            for (full, proc) in o.logprobs.iter().zip(&o.processed_logprobs) {
                // Truncation renormalizes over a subset: probability can only grow.
                assert!(*proc >= full - 1e-6 && *proc <= 1e-6, "{proc} vs {full}");
            }
        }
    }
}

#[test]
fn top_k_one_equals_greedy() {
    let (cfg, _, model) = tiny_model(Arch::Qwen3, DType::F32);
    let ps = prompts(cfg.vocab_size);
    let greedy = generate(
        &model,
        &requests(&ps, 0),
        &config(SamplingParams::greedy(), 10),
    )
    .unwrap();
    let k1 = generate(
        &model,
        &requests(&ps, 9),
        &config(sampling(1.3, 1, 1.0), 10),
    )
    .unwrap();
    assert_eq!(tokens(&greedy), tokens(&k1));
}

#[test]
fn stop_tokens_end_rows_without_changing_the_others() {
    let (cfg, _, model) = tiny_model(Arch::Llama, DType::F32);
    let ps = prompts(cfg.vocab_size);
    let reqs = requests(&ps, 40);
    let free = generate(&model, &reqs, &config(sampling(1.0, 0, 1.0), 14)).unwrap();
    // Stop on a token that row 0 produces at step 4, and on a two-token sequence of row 3.
    let stop_id = free[0].tokens[4];
    let stop_seq = free[3].tokens[6..8].to_vec();
    let mut gc = config(sampling(1.0, 0, 1.0), 14);
    gc.stop_ids = vec![stop_id];
    gc.stop_sequences = vec![stop_seq.clone()];
    let stopped = generate(&model, &reqs, &gc).unwrap();
    let mut n_stopped = 0;
    for (f, s) in free.iter().zip(&stopped) {
        // Expected: the free-running completion cut after the first stop.
        let first_stop = (0..f.tokens.len())
            .find(|&j| f.tokens[j] == stop_id || f.tokens[..=j].ends_with(&stop_seq));
        let cut = first_stop.map_or(f.tokens.len(), |j| j + 1);
        assert_eq!(s.tokens, f.tokens[..cut]);
        for (a, b) in s.logprobs.iter().zip(&f.logprobs) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
        let want = if first_stop.is_some() {
            FinishReason::Stop
        } else {
            FinishReason::Length
        };
        n_stopped += usize::from(s.finish == FinishReason::Stop);
        assert_eq!(s.finish, want);
    }
    assert!(n_stopped >= 2, "stops did not trigger");
    assert!(stopped[0].tokens.len() <= 5);
}

#[test]
fn per_row_adapter_switch_matches_separate_runs() {
    let (cfg, _, mut model) = tiny_model(Arch::Qwen2, DType::F32);
    model
        .attach_lora(&LoraConfig {
            r: 2,
            alpha: 4.0,
            targets: LoraTarget::ALL.to_vec(),
            use_rslora: false,
            seed: 3,
            layers: None,
        })
        .unwrap();
    // A fresh adapter is the identity (B = 0); make it matter.
    for (name, var) in model.lora_vars() {
        if name.ends_with("lora_B.weight") {
            let (o, r) = var.as_tensor().dims2().unwrap();
            let data: Vec<f32> = ids(1, o * r, 1000, o as u32)[0]
                .iter()
                .map(|&x| (x as f32 / 1000.0 - 0.5) * 1.5)
                .collect();
            var.set(&Tensor::from_vec(data, (o, r), &Device::Cpu).unwrap())
                .unwrap();
        }
    }
    let ps = prompts(cfg.vocab_size);
    let gc = config(SamplingParams::greedy(), 8);
    let mut reqs = requests(&ps, 0);
    for (i, r) in reqs.iter_mut().enumerate() {
        r.adapter = i % 2 == 0;
    }
    // The same prompt with and without the adapter must not be merged by the prefix sharing.
    let mut twin = reqs[0].clone();
    twin.adapter = false;
    reqs.push(twin);
    let mixed = generate(&model, &reqs, &gc).unwrap();
    let mut differs = false;
    for (i, r) in reqs.iter().enumerate() {
        let alone = generate(&model, std::slice::from_ref(r), &gc).unwrap();
        assert_eq!(mixed[i].tokens, alone[0].tokens, "row {i}");
        let flipped = GenRequest {
            adapter: !r.adapter,
            ..r.clone()
        };
        differs |= generate(&model, &[flipped], &gc).unwrap()[0].tokens != alone[0].tokens;
    }
    assert!(
        differs,
        "the adapter changed no completion; the test is vacuous"
    );
    assert_ne!(mixed[0].tokens, mixed[reqs.len() - 1].tokens);
}

#[test]
fn chunked_rows_and_chunked_prefill_give_the_same_results() {
    let (cfg, _, model) = tiny_model(Arch::Qwen3, DType::F32);
    let ps = prompts(cfg.vocab_size);
    let reqs = requests(&ps, 11);
    let gc = config(sampling(1.0, 0, 1.0), 10);
    let whole = generate(&model, &reqs, &gc).unwrap();
    let mut small = gc.clone();
    small.max_batch_rows = 2;
    small.prefill_chunk = 3;
    let mut calls = 0;
    let mut last = None;
    let chunked = generate_with_progress(&model, &reqs, &small, &mut |p| {
        calls += 1;
        last = Some(p);
    })
    .unwrap();
    assert_eq!(tokens(&whole), tokens(&chunked));
    let last = last.unwrap();
    assert_eq!(last.finished_rows, reqs.len());
    assert_eq!(last.total_rows, reqs.len());
    assert_eq!(last.generated_tokens, reqs.len() * 10);
    assert_eq!(
        calls,
        3 * 10,
        "one report per decode step of each of the 3 chunks"
    );
}

#[test]
fn rejects_bad_requests() {
    let (cfg, _, model) = tiny_model(Arch::Qwen2, DType::F32);
    let gc = GenConfig::default();
    assert!(generate(&model, &[GenRequest::new(vec![], 0)], &gc).is_err());
    let oov = cfg.vocab_size as u32;
    let err = generate(&model, &[GenRequest::new(vec![1, oov], 0)], &gc).unwrap_err();
    assert!(err.to_string().contains(&oov.to_string()), "{err}");
    let mut bad = gc.clone();
    bad.sampling.top_p = 0.0;
    assert!(generate(&model, &[GenRequest::new(vec![1], 0)], &bad).is_err());
    assert!(generate(&model, &[], &gc).unwrap().is_empty());
    let mut zero = gc;
    zero.max_new_tokens = 0;
    let out = generate(&model, &[GenRequest::new(vec![1, 2], 0)], &zero).unwrap();
    assert!(out[0].tokens.is_empty());
}

/// Tokens picked on the model's device (`pick_on_device`, what a GPU does) — greedy, and
/// sampling without top-k/top-p — equal the host sampler's through the whole engine: duplicated
/// prompts (row map after the shared prefill), a stop id so rows leave at different steps, mixed
/// adapters, a second call through the prefix cache, f32 and bf16; log-probs agree to 1e-5.
#[test]
fn device_picking_equals_the_host_sampler() {
    use trainer::engine::{generate_cached, PrefixCache};
    for (dtype, sampling) in [
        (DType::F32, SamplingParams::greedy()),
        (DType::BF16, SamplingParams::greedy()),
        (DType::F32, sampling(0.9, 0, 1.0)),
        (DType::BF16, sampling(1.0, 0, 1.0)),
    ] {
        // Seeded adapters with a non-zero B, so that the adapter switch matters.
        let (vocab, model) = common::train_path::adapted(Arch::Qwen3, dtype, &Device::Cpu, false);
        let ps = prompts(vocab);
        let mut reqs = requests(&ps, 0);
        reqs.push(reqs[1].clone());
        reqs.push(reqs[3].clone());
        for (i, r) in reqs.iter_mut().enumerate() {
            r.adapter = i % 3 != 1;
        }
        let plain = config(sampling, 12);
        // A token the rows produce, as a stop id: some rows end early.
        let probe = generate(&model, &reqs, &plain).unwrap();
        let stop = probe[0].tokens[2];
        let run = |on_device: bool| {
            let gc = GenConfig {
                stop_ids: vec![stop],
                pick_on_device: Some(on_device),
                ..plain.clone()
            };
            let mut cache = PrefixCache::new(64 << 20);
            let first = generate_cached(&model, &reqs, &gc, Some(&mut cache), &mut |_| {}).unwrap();
            // Turn 2: each prompt extended by its completion and two more tokens.
            let turn2: Vec<GenRequest> = reqs
                .iter()
                .zip(&first)
                .map(|(r, o)| GenRequest {
                    prompt: [&r.prompt[..], &o.tokens[..], &[7, 8]].concat(),
                    ..r.clone()
                })
                .collect();
            let second =
                generate_cached(&model, &turn2, &gc, Some(&mut cache), &mut |_| {}).unwrap();
            assert!(cache.stats().hits > 0, "turn 2 did not reuse the cache");
            (first, second)
        };
        let (host, device) = (run(false), run(true));
        let mut lengths = std::collections::BTreeSet::new();
        for (h, d) in [(&host.0, &device.0), (&host.1, &device.1)] {
            for (i, (h, d)) in h.iter().zip(d).enumerate() {
                assert_eq!(h.tokens, d.tokens, "{dtype:?} row {i}");
                assert_eq!(h.finish, d.finish, "{dtype:?} row {i}");
                lengths.insert(h.tokens.len());
                for (a, b) in h.logprobs.iter().zip(&d.logprobs) {
                    assert!(
                        (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                        "{dtype:?} row {i}: {a} vs {b}"
                    );
                }
                assert_eq!(h.processed_logprobs.len(), d.processed_logprobs.len());
                for (a, b) in h.processed_logprobs.iter().zip(&d.processed_logprobs) {
                    assert!((a - b).abs() <= 1e-5 * a.abs().max(1.0), "{a} vs {b}");
                }
            }
        }
        assert!(
            lengths.len() > 1,
            "{dtype:?}: every row ran to the same length"
        );
    }
}
