//! Fused selective log-softmax (`trainer::kernels::selected_log_softmax`) against independent
//! references:
//! - candle's plain-op composition `gather(log_softmax(logits / T), targets)` and
//!   `−Σ exp(logp)·logp` (values, and autograd gradients w.r.t. the logits), f64 and f32;
//! - the model's existing CPU op `trainer::model::selected_log_softmax` (f64);
//! - central finite differences of a scalar loss in f64;
//! - the launch plans run through the CPU emulation of CUDA (`tests/common/cuda_emu.rs`, the real
//!   `kernels/logsoftmax.cu` compiled by g++) against the CPU reference, for all four dtypes;
//! - on a CUDA device (`cargo test --features cuda --test kernels_selected_logsoftmax --
//!   --ignored`), the PTX kernels against the CPU op.
//!
//! Tolerances (max absolute difference, relative ones scaled by max(1, |reference|)) are stated
//! at each assertion. Targets always include token 0 (first row) and V − 1 (last row).

mod common;

use common::{assert_central_differences, max_abs, max_abs_diff, uniform};

use candle_core::{DType, Device, Tensor, Var, D};
use common::cuda_emu::run_plan;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::kernels::selected_log_softmax;
use trainer::kernels::selected_logsoftmax::{plan, reference};

const TEMP: f64 = 0.7;
/// `[N, V]`: a single logit, V not a multiple of the warp size, exactly one full block, and a
/// row longer than the largest block (1024 threads) by a non-integer factor.
const SHAPES: &[(usize, usize)] = &[(1, 1), (3, 37), (2, 1024), (4, 5000)];

/// Targets for `n` rows of `v`: 0 in the first row, `v − 1` in the last, random in between.
fn target_ids(n: usize, v: usize, seed: u64) -> Vec<u32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| match i {
            0 => 0,
            _ if i == n - 1 => (v - 1) as u32,
            _ => rng.random_range(0..v as u32),
        })
        .collect()
}

/// `(logits [n, v] uniform in [-scale, scale], targets [n], loss coefficients [n])`.
fn inputs(n: usize, v: usize, scale: f64, dtype: DType, seed: u64) -> (Tensor, Tensor, Tensor) {
    let dev = &Device::Cpu;
    let logits = Tensor::from_vec(uniform(n * v, -scale, scale, seed), (n, v), dev)
        .and_then(|t| t.to_dtype(dtype))
        .expect("logits");
    let targets = Tensor::from_vec(target_ids(n, v, seed + 1), n, dev).expect("targets");
    let coef = Tensor::from_vec(uniform(n, -1.0, 1.0, seed + 2), n, dev)
        .and_then(|t| t.to_dtype(acc(dtype)))
        .expect("coef");
    (logits, targets, coef)
}

fn acc(dtype: DType) -> DType {
    if dtype == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// `(lp, entropy)` as candle's plain ops, in the dtype of `logits`.
fn composed(logits: &Tensor, targets: &Tensor, t: f64) -> candle_core::Result<(Tensor, Tensor)> {
    let logp = candle_nn::ops::log_softmax(&(logits / t)?, D::Minus1)?;
    let lp = logp.gather(&targets.unsqueeze(1)?, D::Minus1)?.squeeze(1)?;
    let ent = (logp.exp()? * &logp)?.sum(D::Minus1)?.neg()?;
    Ok((lp, ent))
}

fn flat(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .expect("flat")
}

/// `(lp, entropy, dlogits)` of the loss `Σ lp · c`, for `f(logits) = (lp, entropy)`.
fn value_and_grad(
    f: impl Fn(&Tensor) -> candle_core::Result<(Tensor, Tensor)>,
    logits: &Tensor,
    c: &Tensor,
) -> (Tensor, Tensor, Tensor) {
    let x = Var::from_tensor(logits).expect("var");
    let (lp, ent) = f(x.as_tensor()).expect("forward");
    let grads = (&lp * c)
        .and_then(|l| l.sum_all())
        .and_then(|l| l.backward())
        .expect("backward");
    let dx = grads.get(x.as_tensor()).expect("dlogits").clone();
    (lp, ent, dx)
}

fn fused(logits: &Tensor, targets: &Tensor, t: f64) -> candle_core::Result<(Tensor, Tensor)> {
    let (lp, ent) = selected_log_softmax(logits, targets, t, true)?;
    Ok((lp, ent.expect("entropy asked for")))
}

#[test]
fn matches_composed_ops_values_entropy_and_gradients() {
    // f64: both sides are exact to ~1e-15; f32: the op computes in f64 and rounds once, the
    // composition accumulates in f32 (|lp| up to ~10).
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 2e-5)] {
        for (i, &(n, v)) in SHAPES.iter().enumerate() {
            let (x, tg, c) = inputs(n, v, 3.0, dtype, 10 + i as u64);
            let a = value_and_grad(|x| fused(x, &tg, TEMP), &x, &c);
            let b = value_and_grad(|x| composed(x, &tg, TEMP), &x, &c);
            assert_eq!(a.0.dtype(), dtype);
            assert_eq!(a.2.dtype(), dtype);
            for (name, p, q) in [
                ("lp", &a.0, &b.0),
                ("entropy", &a.1, &b.1),
                ("dx", &a.2, &b.2),
            ] {
                let d = max_abs_diff(p, q);
                assert!(
                    d <= tol,
                    "{dtype:?} [{n}, {v}] {name}: max diff {d:e} > {tol:e}"
                );
            }
            // Not vacuous: the gradient has entries of size ~|c|/T at the targets.
            assert!(v == 1 || max_abs(&b.2) > 1e-2, "[{n}, {v}]: tiny gradient");
        }
    }
}

#[test]
fn matches_the_model_cpu_op_in_f64() {
    let (x, tg, c) = inputs(5, 300, 4.0, DType::F64, 20);
    let ids = tg.to_vec1::<u32>().expect("ids");
    let a = value_and_grad(|x| fused(x, &tg, TEMP), &x, &c);
    let b = value_and_grad(
        |x| {
            let (lp, ent) = trainer::model::selected_log_softmax(x, &ids, TEMP, true)
                .map_err(|e| candle_core::Error::Msg(e.to_string()))?;
            Ok((lp, ent.expect("entropy asked for")))
        },
        &x,
        &c,
    );
    for (name, p, q) in [
        ("lp", &a.0, &b.0),
        ("entropy", &a.1, &b.1),
        ("dx", &a.2, &b.2),
    ] {
        let d = max_abs_diff(p, q);
        assert!(d <= 1e-12, "{name}: max diff {d:e}");
    }
}

#[test]
fn gradients_match_finite_differences_f64() {
    let (n, v) = (3, 7);
    let (x, tg, c) = inputs(n, v, 2.0, DType::F64, 30);
    let (_, _, dx) = value_and_grad(|x| fused(x, &tg, TEMP), &x, &c);
    let loss = |xs: &[f64]| -> f64 {
        let xt = Tensor::from_slice(xs, (n, v), &Device::Cpu).expect("x");
        let (lp, _) = selected_log_softmax(&xt, &tg, TEMP, false).expect("fused");
        (lp * &c)
            .and_then(|l| l.sum_all())
            .and_then(|l| l.to_scalar::<f64>())
            .expect("loss")
    };
    assert_central_differences("dx", loss, &x, &dx, 1e-5, 1e-8);
}

#[test]
fn entropy_and_lse_carry_no_gradient() {
    // Σ lp·c + Σ entropy·d has the gradient of Σ lp·c alone.
    let (x, tg, c) = inputs(4, 50, 2.0, DType::F64, 40);
    let d = Tensor::from_vec(uniform(4, 1.0, 2.0, 41), 4, &Device::Cpu).expect("d");
    let xv = Var::from_tensor(&x).expect("var");
    let (lp, ent) = fused(xv.as_tensor(), &tg, TEMP).expect("fused");
    assert!(!ent.track_op());
    let loss = ((&lp * &c).and_then(|l| l.sum_all()).expect("lp loss")
        + (&ent * &d).and_then(|l| l.sum_all()).expect("entropy loss"))
    .expect("loss");
    let g = loss.backward().expect("backward");
    let (_, _, dx) = value_and_grad(|x| fused(x, &tg, TEMP), &x, &c);
    let diff = max_abs_diff(g.get(xv.as_tensor()).expect("dx"), &dx);
    assert!(diff <= 1e-15, "max diff {diff:e}");
}

#[test]
fn large_logits_are_stable() {
    // Logits in [-80, 80] at T = 0.5: exp(z) overflows f32 unless the max is subtracted.
    // Reference: the composition in f64 on the same (rounded) inputs. The op rounds its f64
    // values once to the output dtype: |lp| up to ≈ 320 within 2e-7 relative in f32. The f32
    // backward reads lse ≈ 160 rounded to f32 (absolute error up to 160·2⁻²⁴ ≈ 1e-5), so p and
    // dlogits carry that relative error: 1e-5 relative to max|dx|.
    let (x, tg, c) = inputs(3, 2000, 80.0, DType::F64, 50);
    for (dtype, rel, rel_grad) in [(DType::F64, 1e-13, 1e-13), (DType::F32, 2e-7, 1e-5)] {
        let (xd, cd) = (
            x.to_dtype(dtype).expect("x"),
            c.to_dtype(acc(dtype)).expect("c"),
        );
        let a = value_and_grad(|x| fused(x, &tg, 0.5), &xd, &cd);
        let (x64, c64) = (
            xd.to_dtype(DType::F64).expect("x64"),
            cd.to_dtype(DType::F64).expect("c64"),
        );
        let b = value_and_grad(|x| composed(x, &tg, 0.5), &x64, &c64);
        for (name, p, q, rel) in [
            ("lp", &a.0, &b.0, rel),
            ("entropy", &a.1, &b.1, rel),
            ("dx", &a.2, &b.2, rel_grad),
        ] {
            let d = max_abs_diff(p, q);
            let tol = rel * max_abs(q).max(1.0);
            assert!(d <= tol, "{dtype:?} {name}: max diff {d:e} > {tol:e}");
            assert!(flat(p).iter().all(|v| v.is_finite()), "{dtype:?} {name}");
        }
        assert!(max_abs(&a.0) > 50.0, "the test needs large |lp|");
    }
}

#[test]
fn half_precision_logits_match_f64_on_the_rounded_inputs() {
    // lp and the entropy are f32 (no half rounding): 1e-5 relative; dlogits is rounded once
    // to the logits' dtype: f16 2e-3, bf16 1.6e-2 relative to max(1, |dx|).
    for (dtype, grad_rel) in [(DType::F16, 2e-3), (DType::BF16, 1.6e-2)] {
        let (x, tg, c) = inputs(3, 1500, 6.0, dtype, 60);
        let a = value_and_grad(|x| fused(x, &tg, TEMP), &x, &c);
        assert_eq!(
            (a.0.dtype(), a.1.dtype(), a.2.dtype()),
            (DType::F32, DType::F32, dtype)
        );
        let x64 = x.to_dtype(DType::F64).expect("x");
        let c64 = c.to_dtype(DType::F64).expect("c");
        let b = value_and_grad(|x| composed(x, &tg, TEMP), &x64, &c64);
        for (name, p, q, rel) in [
            ("lp", &a.0, &b.0, 1e-5),
            ("entropy", &a.1, &b.1, 1e-5),
            ("dx", &a.2, &b.2, grad_rel),
        ] {
            let d = max_abs_diff(p, q);
            let tol = rel * max_abs(q).max(1.0);
            assert!(d <= tol, "{dtype:?} {name}: max diff {d:e} > {tol:e}");
        }
    }
}

#[test]
fn transposed_logits_and_column_targets_work() {
    // A non-contiguous view is copied and its gradient flows back through the copy; targets may
    // be `[N, 1]` (as the chunked log-probs build them).
    let dev = &Device::Cpu;
    let x = Tensor::from_vec(uniform(6 * 5, -2.0, 2.0, 70), (6, 5), dev).expect("x");
    let tg = Tensor::from_vec(target_ids(5, 6, 71), (5, 1), dev).expect("targets");
    let c = Tensor::from_vec(uniform(5, -1.0, 1.0, 72), 5, dev).expect("c");
    let a = value_and_grad(|x| fused(&x.t()?, &tg, TEMP), &x, &c);
    let flat_tg = tg.flatten_all().expect("flat");
    let b = value_and_grad(|x| composed(&x.t()?, &flat_tg, TEMP), &x, &c);
    assert_eq!(a.2.dims(), [6, 5]);
    for (name, p, q) in [
        ("lp", &a.0, &b.0),
        ("entropy", &a.1, &b.1),
        ("dx", &a.2, &b.2),
    ] {
        let d = max_abs_diff(p, q);
        assert!(d <= 1e-12, "{name}: max diff {d:e}");
    }
}

#[test]
fn rejects_bad_inputs() {
    let (x, tg, _) = inputs(3, 10, 1.0, DType::F32, 80);
    let dev = &Device::Cpu;
    let err = |r: candle_core::Result<(Tensor, Option<Tensor>)>| match r {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    };
    let bad = Tensor::new(&[0u32, 10, 2], dev).expect("t");
    let e = err(selected_log_softmax(&x, &bad, 1.0, false));
    assert!(e.contains("10") && e.contains("vocabulary"), "{e}");
    let e = err(selected_log_softmax(
        &x,
        &tg.to_dtype(DType::I64).expect("i64"),
        1.0,
        false,
    ));
    assert!(e.contains("I64"), "{e}");
    let e = err(selected_log_softmax(
        &x,
        &tg.narrow(0, 0, 2).expect("short"),
        1.0,
        false,
    ));
    assert!(e.contains("[2]") && e.contains("[3]"), "{e}");
    for t in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let e = err(selected_log_softmax(&x, &tg, t, false));
        assert!(e.contains("temperature"), "{t}: {e}");
    }
    let e = err(selected_log_softmax(
        &x.flatten_all().expect("1d"),
        &tg,
        1.0,
        false,
    ));
    assert!(e.contains("[30]"), "{e}");
    let e = err(selected_log_softmax(
        &x.to_dtype(DType::U32).expect("u32"),
        &tg,
        1.0,
        false,
    ));
    assert!(e.contains("U32"), "{e}");
    let empty = Tensor::zeros((0, 10), DType::F32, dev).expect("empty");
    let none = Tensor::zeros(0, DType::U32, dev).expect("none");
    assert!(selected_log_softmax(&empty, &none, 1.0, false).is_err());
}

// ---- the plans and kernels/logsoftmax.cu on the CUDA emulator ------------------------------

/// Emulator shapes: one logit; V not a multiple of 32; one full block; V > 1024 · 4 (threads
/// stride several times, the last stride partial).
const EMU_SHAPES: [(usize, usize); 4] = [(1, 1), (3, 37), (2, 1024), (3, 5000)];

fn run_one(p: &trainer::kernels::plan::Plan, inputs: &[Tensor]) -> Vec<f64> {
    let mut out = run_plan(p, inputs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.len(), 1);
    flat(&out.remove(0))
}

/// Mantissa bits of the 16-bit dtypes (one ulp of the output rounding), none otherwise.
fn half_bits(dtype: DType) -> Option<i32> {
    match dtype {
        DType::F16 => Some(10),
        DType::BF16 => Some(7),
        _ => None,
    }
}

/// The largest `|got − want| / (abs + one ulp of want in `dtype`)`: ≤ 1 passes.
fn error_ratio(dtype: DType, got: &[f64], want: &[f64], abs: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "output length");
    got.iter()
        .zip(want)
        .map(|(g, w)| {
            let ulp = half_bits(dtype).map_or(0.0, |bits| {
                let min_exp = if dtype == DType::F16 { -14.0 } else { -126.0 };
                let e = if *w != 0.0 {
                    w.abs().log2().floor()
                } else {
                    min_exp
                };
                2f64.powf(e.max(min_exp) - f64::from(bits))
            });
            if g.is_nan() {
                f64::INFINITY
            } else {
                (g - w).abs() / (abs + ulp)
            }
        })
        .fold(0.0, f64::max)
}

/// Forward and backward plans of one case on the emulator against the reference. Returns the
/// error ratios (forward, backward) and asserts both ≤ 1.
///
/// Tolerance model, with ε the accumulator's epsilon (2⁻⁵², or 2⁻²³ for f32/f16/bf16) and
/// `zmax = max(1, max|x| / T)`: the kernel forms `z = x · (1/T)` and `z − m` in the accumulator
/// type, so lp, lse and H carry absolute errors of a few ε · zmax, and both sides sum V terms in
/// different orders (rounding noise growing like ε·√V); allowed 8 ε · (zmax + √V). The
/// backward's `p = exp(z − lse)` has the relative error of `z − lse`: dx within
/// 16 ε · zmax · max|g / T|, plus one ulp of the output for f16/bf16.
fn emu_case(dtype: DType, n: usize, v: usize, scale: f64, entropy: bool, seed: u64) -> (f64, f64) {
    let inv_t = 1.0 / TEMP;
    let x = Tensor::from_vec(uniform(n * v, -scale, scale, seed), n * v, &Device::Cpu)
        .and_then(|t| t.to_dtype(dtype))
        .expect("x");
    let x64 = flat(&x);
    let ids = target_ids(n, v, seed + 1);
    let tg = Tensor::new(ids.as_slice(), &Device::Cpu).expect("targets");
    let eps = if dtype == DType::F64 {
        f64::EPSILON
    } else {
        f64::from(f32::EPSILON)
    };
    let zmax = x64.iter().fold(1f64, |m, z| m.max(z.abs() * inv_t));

    let fwd = plan::forward(dtype, n, v, inv_t, entropy).expect("forward plan");
    let got = run_one(&fwd, &[x.clone(), tg.clone()]);
    let want = reference::forward(&x64, &ids, v, inv_t, entropy);
    let r_fwd = error_ratio(
        acc(dtype),
        &got,
        &want,
        8.0 * eps * (zmax + (v as f64).sqrt()),
    );
    assert!(
        r_fwd <= 1.0,
        "{dtype:?} [{n}, {v}] scale {scale} forward: error {r_fwd:.3} × tolerance\n{got:?}\n{want:?}"
    );

    // Backward from the gradient g and the kernel's own lse (as the op does).
    let k = plan::packed_cols(entropy);
    let g = uniform(n, -1.0, 1.0, seed + 2);
    let gl: Vec<f64> = (0..n).flat_map(|i| [g[i], got[i * k + 1]]).collect();
    let gl_t = Tensor::from_vec(gl.clone(), 2 * n, &Device::Cpu)
        .and_then(|t| t.to_dtype(acc(dtype)))
        .expect("gl");
    let gl = flat(&gl_t);
    let bwd = plan::backward(dtype, n, v, inv_t).expect("backward plan");
    let got = run_one(&bwd, &[x, tg, gl_t]);
    let want = reference::backward::<f64>(&x64, &ids, &gl, v, inv_t);
    let gmax = g.iter().fold(0f64, |m, g| m.max(g.abs())) * inv_t;
    let r_bwd = error_ratio(dtype, &got, &want, 16.0 * eps * zmax * gmax.max(1e-3));
    assert!(
        r_bwd <= 1.0,
        "{dtype:?} [{n}, {v}] scale {scale} backward: error {r_bwd:.3} × tolerance"
    );
    (r_fwd, r_bwd)
}

fn emu_dtype(dtype: DType) {
    let mut worst = (0f64, 0f64);
    for (i, &(n, v)) in EMU_SHAPES.iter().enumerate() {
        // Moderate logits, and ±80 (at T = 0.7, |z| ≤ 114: exp overflows f32 without the shift).
        for (j, scale) in [3.0, 80.0].into_iter().enumerate() {
            let seed = 200 + 10 * i as u64 + j as u64;
            let (f, b) = emu_case(dtype, n, v, scale, true, seed);
            worst = (worst.0.max(f), worst.1.max(b));
        }
    }
    // The packed output without the entropy column (k = 2).
    let (f, b) = emu_case(dtype, 3, 300, 3.0, false, 300);
    worst = (worst.0.max(f), worst.1.max(b));
    println!(
        "{dtype:?}: worst error / tolerance: forward {:.3}, backward {:.3}",
        worst.0, worst.1
    );
}

#[test]
fn emulated_f64_plans_match_reference() {
    emu_dtype(DType::F64);
}

#[test]
fn emulated_f32_plans_match_reference() {
    emu_dtype(DType::F32);
}

#[test]
fn emulated_f16_plans_match_reference() {
    emu_dtype(DType::F16);
}

#[test]
fn emulated_bf16_plans_match_reference() {
    emu_dtype(DType::BF16);
}

#[test]
fn emulated_out_of_range_target_gives_nan_not_a_read() {
    // The op rejects such targets; the kernel itself must still not read outside the row (the
    // emulator's guard pages would report it) and marks the row's lp NaN.
    let x = Tensor::from_vec(uniform(2 * 40, -1.0, 1.0, 5), 80, &Device::Cpu).expect("x");
    let tg = Tensor::new(&[40u32, 3], &Device::Cpu).expect("targets");
    let p = plan::forward(DType::F64, 2, 40, 1.0, false).expect("plan");
    let got = run_one(&p, &[x, tg]);
    assert!(
        got[0].is_nan() && got[1].is_finite() && got[2].is_finite(),
        "{got:?}"
    );
}

#[test]
fn emulated_masked_logits_contribute_nothing() {
    // −inf logits (masked tokens) have p = 0, add nothing to lse or H (0 log 0 = 0) and get a
    // zero gradient; the kernel's online state must not turn them into NaN.
    let (n, v) = (2, 70);
    let mut xs = uniform(n * v, -3.0, 3.0, 8);
    for i in (0..n * v).filter(|i| i % 3 == 1) {
        xs[i] = f64::NEG_INFINITY;
    }
    let ids = vec![0u32, 68]; // unmasked: 70 + 68 is divisible by 3
    let want = reference::forward(&xs, &ids, v, 1.0 / TEMP, true);
    assert!(want.iter().all(|w| w.is_finite()), "{want:?}");
    for dtype in [DType::F64, DType::F32] {
        let x = Tensor::from_vec(xs.clone(), n * v, &Device::Cpu)
            .and_then(|t| t.to_dtype(dtype))
            .expect("x");
        let tg = Tensor::new(ids.as_slice(), &Device::Cpu).expect("targets");
        let p = plan::forward(dtype, n, v, 1.0 / TEMP, true).expect("plan");
        let got = run_one(&p, &[x.clone(), tg.clone()]);
        let r = error_ratio(acc(dtype), &got, &want, 1e-5);
        assert!(r <= 1.0, "{dtype:?}: {got:?} vs {want:?}");
        let gl = Tensor::from_vec(vec![1.0, want[1], -1.0, want[4]], 4, &Device::Cpu)
            .and_then(|t| t.to_dtype(acc(dtype)))
            .expect("gl");
        let p = plan::backward(dtype, n, v, 1.0 / TEMP).expect("plan");
        let dx = run_one(&p, &[x, tg, gl]);
        let masked: Vec<f64> = (0..n * v).filter(|i| i % 3 == 1).map(|i| dx[i]).collect();
        assert!(masked.iter().all(|d| *d == 0.0), "{dtype:?}: {masked:?}");
    }
}

#[test]
fn emulator_detects_a_wrong_vocab_argument() {
    // The harness can fail: a block of 32 threads over a 37-wide row still covers every column
    // (threads stride), but a plan whose vocab argument is one short misses the last logit.
    let (n, v) = (3, 37);
    let x = Tensor::from_vec(uniform(n * v, -3.0, 3.0, 6), n * v, &Device::Cpu).expect("x");
    let x64 = flat(&x);
    let ids = target_ids(n, v, 7);
    let tg = Tensor::new(ids.as_slice(), &Device::Cpu).expect("targets");
    let mut p = plan::forward(DType::F64, n, v, 1.0, true).expect("plan");
    p.launches[0].block = (32, 1, 1);
    let ok = run_one(&p, &[x.clone(), tg.clone()]);
    let want = reference::forward(&x64, &ids, v, 1.0, true);
    assert!(error_ratio(DType::F64, &ok, &want, 1e-12) <= 1.0);
    p.launches[0].args[3] = trainer::kernels::plan::Arg::I32(v as i32 - 1);
    let bad = run_one(&p, &[x, tg]);
    assert!(error_ratio(DType::F64, &bad, &want, 1e-12) > 1.0);
}

/// The PTX kernels against the CPU op, values and gradients, on `cuda:0`.
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA device: cargo test --features cuda --test kernels_selected_logsoftmax -- --ignored"]
fn cuda_kernels_match_cpu_reference() {
    let gpu = Device::new_cuda(0).expect("this test needs a CUDA device (cuda:0)");
    // (dtype, tolerance relative to max(1, |reference|)): f64/f32 accumulation-order noise (the
    // kernel sums in f32 for f32/f16/bf16, the CPU reference in f64); dlogits of f16/bf16 logits
    // is rounded once to the logits' dtype.
    let cases = [
        (DType::F64, 1e-12, 1e-12),
        (DType::F32, 2e-6, 1e-6),
        (DType::F16, 2e-6, 2e-3),
        (DType::BF16, 2e-6, 1.6e-2),
    ];
    // The Qwen2.5 vocabulary (151936) included.
    let shapes = [(1, 1), (3, 37), (4, 5000), (6, 151_936)];
    for (dtype, rel_value, rel_grad) in cases {
        for (i, &(n, v)) in shapes.iter().enumerate() {
            for scale in [3.0, 80.0] {
                let (x, tg, c) = inputs(n, v, scale, dtype, 90 + i as u64);
                let cpu = value_and_grad(|x| fused(x, &tg, TEMP), &x, &c);
                let on_gpu = |t: &Tensor| t.to_device(&gpu).expect("to gpu");
                let (tg_gpu, c_gpu) = (on_gpu(&tg), on_gpu(&c));
                let dev = value_and_grad(|x| fused(x, &tg_gpu, TEMP), &on_gpu(&x), &c_gpu);
                for (name, a, b, rel) in [
                    ("lp", &cpu.0, &dev.0, rel_value),
                    ("entropy", &cpu.1, &dev.1, rel_value),
                    ("dx", &cpu.2, &dev.2, rel_grad),
                ] {
                    let b = b.to_device(&Device::Cpu).expect("to cpu");
                    let d = max_abs_diff(a, &b);
                    let tol = rel * max_abs(a).max(1.0);
                    assert!(
                        d <= tol,
                        "{dtype:?} [{n}, {v}] scale {scale} {name}: max diff {d:e} > {tol:e}"
                    );
                }
            }
        }
    }
}

/// The plans at the sizes of the Qwen2.5-32B run (`configs/qwen32b.toml`: vocabulary 152064,
/// log-prob chunks of 64 positions × micro-batch up to 2, and a whole 2 × 4096 batch at once):
/// within CUDA's limits; a `[16384, 152064]` batch (over 2³¹ elements: the kernels index rows in
/// 64 bits) still plans.
#[test]
fn plans_at_production_sizes_stay_within_cuda_limits() {
    for rows in [64, 128, 8192, 16_384] {
        for entropy in [false, true] {
            let f = plan::forward(DType::BF16, rows, 152_064, 1.0, entropy).expect("forward");
            f.validate().expect("forward within limits");
            assert_eq!(f.launches[0].grid, (rows as u32, 1, 1));
            assert_eq!(f.launches[0].block, (1024, 1, 1));
        }
        let b = plan::backward(DType::BF16, rows, 152_064, 1.0).expect("backward");
        b.validate().expect("backward within limits");
        assert_eq!(b.launches[0].grid, (rows as u32, 1, 1));
    }
    // A vocabulary so large that a thread's strided index could overflow int on its way past it.
    let e = plan::forward(DType::F32, 1, i32::MAX as usize - 1023, 1.0, false).expect_err("vocab");
    assert!(e.to_string().contains("vocab"), "{e}");
}
