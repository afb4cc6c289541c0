//! The model's CUDA training path, wired through `trainer::kernels`, checked on CPU.
//!
//! On a CUDA device the training forward runs the hand-written kernels (RMS norm, rotary
//! embedding, flash attention from 2²⁸ scores per layer on — below that, or with
//! `TRAINER_FLASH_ATTENTION=0`, the attention softmax on materialized scores —, selected
//! log-softmax); on CPU it runs the model's own fused CPU ops. `kernels::override_kernels(Some(true))` sends the CPU training path through the
//! kernel ops instead (their CPU references, the same math the kernels are tested against in
//! `tests/kernels_emu_*.rs`), so this test exercises the exact call sites, layouts, dtypes and
//! mask conventions the CUDA path uses: loss and every LoRA gradient must equal the fused CPU
//! path's, for Qwen2 / Qwen3 / Llama, with and without layer-wise recompute (left-padded rows,
//! so padding queries and keys are covered), in f64 (≤ 1e-10
//! relative: only summation orders differ) and f32 (≤ 2e-5 relative).
//!
//! Inference on CUDA uses the softmax kernel too: batched generation (left padding, KV cache,
//! finished rows dropped mid-run) through the kernel ops gives the same tokens and sampling
//! log-probabilities as the CPU path, in f32.
//!
//! Test functions that switch the route run one at a time (it is process-wide).

mod common;

use std::sync::Mutex;

use candle_core::{DType, Device};
use common::train_path::{adapted, loss_and_grads, scalar};
use common::{ids, max_abs_diff};
use trainer::engine::{generate, GenConfig, GenRequest, SamplingParams};
use trainer::kernels::{self, Op};
use trainer::model::Arch;

/// Serializes the tests that switch the process-wide route.
static ROUTE: Mutex<()> = Mutex::new(());

/// The ops of the training path: attention through the flash kernel (forced here, as
/// `TRAINER_FLASH_ATTENTION=1` does), or through the masked-softmax kernel on materialized scores
/// (`TRAINER_FLASH_ATTENTION=0`; the default at these small sizes).
fn ops(flash: bool) -> [Op; 4] {
    let attention = if flash {
        Op::FlashAttention
    } else {
        Op::MaskedSoftmax
    };
    [Op::RmsNorm, Op::Rope, attention, Op::SelectedLogSoftmax]
}

#[test]
fn training_path_through_the_kernel_ops_matches_the_fused_cpu_path() {
    let _route = ROUTE.lock().unwrap_or_else(|e| e.into_inner());
    let cpu = Device::Cpu;
    for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 2e-5)] {
        for arch in [Arch::Qwen2, Arch::Qwen3, Arch::Llama] {
            // Flash attention with and without recompute; the materialized scores once.
            for (checkpointing, flash) in [(false, true), (true, true), (true, false)] {
                let case =
                    format!("{arch:?} {dtype:?} checkpointing={checkpointing} flash={flash}");
                let ops = ops(flash);
                kernels::override_kernels(None);
                kernels::override_flash_attention(Some(flash));
                let before: Vec<usize> = ops.iter().map(|&o| kernels::calls(o)).collect();
                let (vocab, model) = adapted(arch, dtype, &cpu, checkpointing);
                let (l_fused, g_fused) = loss_and_grads(&model, vocab, &cpu);
                for (&op, &n) in ops.iter().zip(&before) {
                    assert_eq!(
                        kernels::calls(op),
                        n,
                        "{case}: {op:?} ran on the fused CPU path"
                    );
                }

                kernels::override_kernels(Some(true));
                let (l_kern, g_kern) = loss_and_grads(&model, vocab, &cpu);
                kernels::override_kernels(None);
                kernels::override_flash_attention(None);
                for (&op, &n) in ops.iter().zip(&before) {
                    assert!(kernels::calls(op) > n, "{case}: {op:?} never ran");
                }

                let dl = (l_kern - l_fused).abs();
                assert!(
                    dl <= tol * l_fused.abs().max(1.0),
                    "{case}: loss fused {l_fused} vs kernels {l_kern}"
                );
                assert_eq!(g_kern.len(), g_fused.len());
                for ((n, a), (_, b)) in g_kern.iter().zip(&g_fused) {
                    let scale = scalar(&b.abs().unwrap().max_all().unwrap()).max(1e-3);
                    let d = max_abs_diff(a, b);
                    assert!(d <= tol * scale, "{case} {n}: |Δgrad| {d} (scale {scale})");
                }
            }
        }
    }
}

#[test]
fn generation_through_the_softmax_kernel_matches_the_cpu_path() {
    let _route = ROUTE.lock().unwrap_or_else(|e| e.into_inner());
    let cpu = Device::Cpu;
    for arch in [Arch::Qwen2, Arch::Qwen3, Arch::Llama] {
        let (vocab, model) = adapted(arch, DType::F32, &cpu, false);
        // Prompts of different lengths (left padding); every 9th token id stops a row, so rows
        // finish at different steps and are dropped from the running batch.
        let reqs: Vec<GenRequest> = [5usize, 9, 2, 7]
            .iter()
            .enumerate()
            .map(|(i, &n)| GenRequest::new(ids(1, n, vocab, 60 + i as u32).remove(0), i as u64))
            .collect();
        let cfg = GenConfig {
            sampling: SamplingParams {
                temperature: 0.8,
                top_k: 0,
                top_p: 1.0,
            },
            max_new_tokens: 12,
            stop_ids: (0..vocab as u32).step_by(9).collect(),
            ..GenConfig::default()
        };
        kernels::override_kernels(None);
        let before = kernels::calls(Op::MaskedSoftmax);
        let want = generate(&model, &reqs, &cfg).unwrap();
        let lens: Vec<usize> = want.iter().map(|o| o.tokens.len()).collect();
        assert!(
            lens.iter().any(|&n| n != lens[0]),
            "{arch:?}: rows of equal length {lens:?} drop nothing mid-run"
        );
        assert_eq!(
            kernels::calls(Op::MaskedSoftmax),
            before,
            "{arch:?}: kernel ran on CPU"
        );
        kernels::override_kernels(Some(true));
        let got = generate(&model, &reqs, &cfg);
        kernels::override_kernels(None);
        let got = got.unwrap();
        assert!(
            kernels::calls(Op::MaskedSoftmax) > before,
            "{arch:?}: kernel never ran"
        );
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.tokens, w.tokens, "{arch:?} row {i}: tokens");
            for (a, b) in g.logprobs.iter().zip(&w.logprobs) {
                assert!(
                    (a - b).abs() <= 1e-4,
                    "{arch:?} row {i}: logprob {a} vs {b}"
                );
            }
        }
    }
}
