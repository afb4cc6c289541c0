//! The model's CUDA training path, wired through `trainer::kernels`, checked on CPU.
//!
//! On a CUDA device the training forward runs the hand-written kernels (RMS norm, rotary
//! embedding, attention softmax, selected log-softmax); on CPU it runs the model's own fused CPU
//! ops. `kernels::override_kernels(Some(true))` sends the CPU training path through the
//! kernel ops instead (their CPU references, the same math the kernels are tested against in
//! `tests/kernels_emu_*.rs`), so this test exercises the exact call sites, layouts, dtypes and
//! mask conventions the CUDA path uses: loss and every LoRA gradient must equal the fused CPU
//! path's, for Qwen2 / Qwen3 / Llama, with and without layer-wise recompute, in f64 (≤ 1e-10
//! relative: only summation orders differ) and f32 (≤ 2e-5 relative).
//!
//! One test function: the route is process-wide.

mod common;

use candle_core::{DType, Device};
use common::max_abs_diff;
use common::train_path::{adapted, loss_and_grads, scalar};
use trainer::kernels::{self, Op};
use trainer::model::Arch;

const OPS: [Op; 4] = [
    Op::RmsNorm,
    Op::Rope,
    Op::MaskedSoftmax,
    Op::SelectedLogSoftmax,
];

#[test]
fn training_path_through_the_kernel_ops_matches_the_fused_cpu_path() {
    let cpu = Device::Cpu;
    for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 2e-5)] {
        for arch in [Arch::Qwen2, Arch::Qwen3, Arch::Llama] {
            for checkpointing in [false, true] {
                let case = format!("{arch:?} {dtype:?} checkpointing={checkpointing}");
                kernels::override_kernels(None);
                let before: Vec<usize> = OPS.iter().map(|&o| kernels::calls(o)).collect();
                let (vocab, model) = adapted(arch, dtype, &cpu, checkpointing);
                let (l_fused, g_fused) = loss_and_grads(&model, vocab, &cpu);
                for (&op, &n) in OPS.iter().zip(&before) {
                    assert_eq!(
                        kernels::calls(op),
                        n,
                        "{case}: {op:?} ran on the fused CPU path"
                    );
                }

                kernels::override_kernels(Some(true));
                let (l_kern, g_kern) = loss_and_grads(&model, vocab, &cpu);
                kernels::override_kernels(None);
                for (&op, &n) in OPS.iter().zip(&before) {
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
