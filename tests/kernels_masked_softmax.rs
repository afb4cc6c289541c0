//! Fused attention softmax (`trainer::kernels::masked_softmax`) against independent references:
//! - candle's plain-op composition `softmax(scores · scale + mask)` (`affine`, `broadcast_add`,
//!   `candle_nn::ops::softmax`), values and autograd gradients w.r.t. the scores, f64 and f32,
//!   in the model's layouts (`[B, H, T, S]` with a `[B, T, S]` mask, and the decoder's
//!   `[B, Hkv, n_rep, T, S]` with a `[B, 1, T, S]` mask) — the formula of `model::fused`'s
//!   `MaskedSoftmaxOp`, which is crate-private;
//! - central finite differences of a scalar loss in f64;
//! - every launch plan run through the CPU emulation of CUDA (`tests/common/cuda_emu.rs`, the
//!   real `kernels/softmax.cu` compiled by g++) against the CPU reference, for all four dtypes,
//!   with `-inf` mask entries and a fully masked row;
//! - on a CUDA device (`cargo test --features cuda --test kernels_masked_softmax -- --ignored`),
//!   the PTX kernels against the CPU reference.
//!
//! Tolerances (max absolute difference, relative ones scaled by max(1, |reference|)) are stated
//! at each assertion. Scores are uniform in [-4, 4], the scale 0.35.

mod common;

use common::{assert_central_differences, max_abs_diff, uniform, value_and_grad};

use candle_core::{DType, Device, Tensor, D};
use trainer::kernels::masked_softmax;
use trainer::kernels::masked_softmax::plan::{backward, forward, SoftmaxDims};
use trainer::kernels::plan::acc_dtype;

const SCALE: f64 = 0.35;
/// The model's finite "minus infinity" (`model::batch`).
const MASKED: f64 = -1e9;

fn tensor(v: Vec<f64>, shape: &[usize], dtype: DType) -> Tensor {
    Tensor::from_vec(v, shape, &Device::Cpu)
        .and_then(|t| t.to_dtype(dtype))
        .expect("tensor")
}

/// How the mask hides keys: causal (keys after `S − T + t` hidden) plus every 7th key, with
/// `fill`; `full_row`: additionally hides every key of query 0 of batch entry 0.
#[derive(Clone, Copy)]
struct MaskKind {
    fill: f64,
    full_row: bool,
}

/// A `[b, t, s]` additive mask (as a flat vector) with small random biases on visible keys.
fn mask_values(b: usize, t: usize, s: usize, kind: MaskKind, seed: u64) -> Vec<f64> {
    let bias = uniform(b * t * s, -0.5, 0.5, seed);
    let mut m = Vec::with_capacity(b * t * s);
    for bi in 0..b {
        for q in 0..t {
            for k in 0..s {
                let hidden = k > s - t + q
                    || (k % 7 == 3 && k != s - t + q)
                    || (kind.full_row && bi == 0 && q == 0);
                m.push(if hidden { kind.fill } else { bias[m.len()] });
            }
        }
    }
    m
}

/// `(scores, mask, c)`: scores `shape` (`[B, ..., T, S]`), the mask `[B, T, S]` (or
/// `mask_shape`), and the coefficients of the loss `sum(p * c)`; in `dtype` (the mask in f64).
fn inputs(
    shape: &[usize],
    mask_4d: bool,
    kind: MaskKind,
    dtype: DType,
    seed: u64,
) -> (Tensor, Tensor, Tensor) {
    let n: usize = shape.iter().product();
    let (b, t, s) = (shape[0], shape[shape.len() - 2], shape[shape.len() - 1]);
    let mask_shape: Vec<usize> = if mask_4d {
        vec![b, 1, t, s]
    } else {
        vec![b, t, s]
    };
    (
        tensor(uniform(n, -4.0, 4.0, seed), shape, dtype),
        tensor(
            mask_values(b, t, s, kind, seed + 1),
            &mask_shape,
            DType::F64,
        ),
        tensor(uniform(n, -1.0, 1.0, seed + 2), shape, dtype),
    )
}

/// The formula as candle's plain ops, in the dtype of `scores`: the mask broadcast over every
/// dim between the batch and the query axis.
fn plain(scores: &Tensor, mask: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    let (b, t, s) = (
        scores.dim(0)?,
        scores.dim(D::Minus2)?,
        scores.dim(D::Minus1)?,
    );
    let mut shape = vec![b];
    shape.extend(std::iter::repeat_n(1, scores.rank() - 3));
    shape.extend([t, s]);
    let mask = mask.to_dtype(scores.dtype())?.reshape(shape)?;
    candle_nn::ops::softmax(&(scores * scale)?.broadcast_add(&mask)?, D::Minus1)
}

fn all_finite(a: &Tensor) -> bool {
    a.to_dtype(DType::F64)
        .and_then(|a| a.flatten_all()?.to_vec1::<f64>())
        .expect("values")
        .iter()
        .all(|v| v.is_finite())
}

/// `(scores shape, mask as [B, 1, T, S])`: a single key, `S = 37` (not a multiple of the warp
/// size), the decoder's rank-5 GQA layout, and `S = 1500` (longer than a 1024-thread block).
const CASES: &[(&[usize], bool)] = &[
    (&[1, 1, 1, 1], false),
    (&[2, 3, 5, 37], false),
    (&[2, 2, 3, 4, 9], true),
    (&[1, 2, 3, 1500], true),
];

#[test]
fn values_and_gradients_match_plain_ops() {
    // -inf entries (never a full row: candle's softmax gives NaN there) and the model's -1e9.
    // A row fully masked with -1e9 is finite (softmax of the scores alone) in f64; in f32,
    // `score · scale − 1e9` rounds to multiples of 64 and such a row is meaningless (the model
    // never builds one: every query sees its own slot), so f32 only checks partial rows.
    let kinds = |dtype: DType| {
        [
            MaskKind {
                fill: f64::NEG_INFINITY,
                full_row: false,
            },
            MaskKind {
                fill: MASKED,
                full_row: dtype == DType::F64,
            },
        ]
    };
    for (dtype, tol) in [(DType::F64, 1e-14), (DType::F32, 2e-6)] {
        for (i, &(shape, mask_4d)) in CASES.iter().enumerate() {
            for kind in kinds(dtype) {
                let (x, mask, c) = inputs(shape, mask_4d, kind, dtype, 10 + i as u64);
                let (p1, ds1) = value_and_grad(|x| masked_softmax(x, &mask, SCALE), &x, &c);
                let (p2, ds2) = value_and_grad(|x| plain(x, &mask, SCALE), &x, &c);
                for (name, a, b) in [("p", &p1, &p2), ("ds", &ds1, &ds2)] {
                    let d = max_abs_diff(a, b);
                    let fill = kind.fill;
                    assert!(
                        d <= tol,
                        "{dtype:?} {shape:?} fill {fill}: {name} max diff {d:e} > {tol:e}"
                    );
                }
            }
        }
    }
}

#[test]
fn fully_masked_row_gives_zeros_not_nan() {
    let kind = MaskKind {
        fill: f64::NEG_INFINITY,
        full_row: true,
    };
    for dtype in [DType::F64, DType::F32, DType::F16, DType::BF16] {
        let (x, mask, c) = inputs(&[1, 2, 3, 8], false, kind, dtype, 20);
        let (p, ds) = value_and_grad(|x| masked_softmax(x, &mask, SCALE), &x, &c);
        assert!(all_finite(&p) && all_finite(&ds), "{dtype:?}: {p}");
        for h in 0..2 {
            // Query 0 of every head of batch entry 0 sees no key.
            let row = |t: &Tensor| {
                t.get(0)?
                    .get(h)?
                    .get(0)?
                    .to_dtype(DType::F64)?
                    .to_vec1::<f64>()
            };
            assert_eq!(row(&p).expect("p row"), vec![0.0; 8], "{dtype:?}");
            assert_eq!(row(&ds).expect("ds row"), vec![0.0; 8], "{dtype:?}");
        }
        // Every other row sums to 1.
        let sums = p
            .sum(D::Minus1)
            .and_then(|s| s.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>());
        for (i, s) in sums.expect("sums").iter().enumerate() {
            let want = if i % 3 == 0 { 0.0 } else { 1.0 };
            assert!((s - want).abs() <= 2e-2, "{dtype:?} row {i}: sum {s}");
        }
    }
}

#[test]
fn gradient_matches_finite_differences_f64() {
    let shape = [2, 2, 3, 6];
    let kind = MaskKind {
        fill: f64::NEG_INFINITY,
        full_row: false,
    };
    let (x, mask, c) = inputs(&shape, false, kind, DType::F64, 30);
    let (_, ds) = value_and_grad(|x| masked_softmax(x, &mask, SCALE), &x, &c);
    let loss = |v: &[f64]| -> f64 {
        let xt = Tensor::from_slice(v, &shape, &Device::Cpu).expect("x");
        (masked_softmax(&xt, &mask, SCALE).expect("op") * &c)
            .and_then(|l| l.sum_all()?.to_scalar::<f64>())
            .expect("loss")
    };
    assert_central_differences("ds", loss, &x, &ds, 1e-5, 1e-9);
}

#[test]
fn half_precision_is_one_rounding_from_f32() {
    let kind = MaskKind {
        fill: f64::NEG_INFINITY,
        full_row: false,
    };
    for (dtype, tol) in [(DType::F16, 1e-3), (DType::BF16, 8e-3)] {
        let (x, mask, _) = inputs(&[2, 2, 3, 200], false, kind, dtype, 40);
        let p = masked_softmax(&x, &mask, SCALE).expect("op");
        assert_eq!(p.dtype(), dtype);
        let reference = plain(&x.to_dtype(DType::F32).expect("f32"), &mask, SCALE).expect("plain");
        let d = max_abs_diff(&p, &reference);
        assert!(d <= tol, "{dtype:?}: max diff {d:e} > {tol:e}");
    }
}

#[test]
fn rejects_bad_inputs() {
    let kind = MaskKind {
        fill: f64::NEG_INFINITY,
        full_row: false,
    };
    let (x, mask, _) = inputs(&[2, 3, 4, 5], false, kind, DType::F32, 50);
    for bad in [
        mask.narrow(2, 0, 4).expect("narrow"),
        mask.reshape((2, 1, 4, 5))
            .and_then(|m| m.repeat((1, 3, 1, 1)))
            .expect("per-head mask"),
        mask.narrow(0, 0, 1).expect("one batch entry"),
    ] {
        let e = masked_softmax(&x, &bad, SCALE)
            .expect_err("bad mask")
            .to_string();
        assert!(
            e.contains("[2, 3, 4, 5]") && e.contains(&format!("{:?}", bad.dims())),
            "{e}"
        );
    }
    let e = masked_softmax(&x.flatten_to(1).expect("2-D"), &mask, SCALE)
        .expect_err("rank")
        .to_string();
    assert!(e.contains("rank"), "{e}");
    let ints = Tensor::zeros((2, 3, 4, 5), DType::U32, &Device::Cpu).expect("u32");
    let e = masked_softmax(&ints, &mask, SCALE)
        .expect_err("dtype")
        .to_string();
    assert!(e.contains("U32"), "{e}");
    let empty = SoftmaxDims {
        b: 1,
        group: 1,
        seq: 0,
        cols: 4,
    };
    assert!(forward(DType::F32, empty, 1.0).is_err());
    assert!(backward(DType::U8, SoftmaxDims { seq: 1, ..empty }, 1.0).is_err());
}

/// Every plan (forward and backward, 4 dtypes) through the CPU emulation of CUDA, against the
/// CPU op (the reference): `p`, and the backward of `(p, c)` (= ∂scores of `sum(p · c)`,
/// computed on the CPU through autograd).
#[test]
fn emulated_kernels_match_reference() {
    // (dtype, tolerance relative to max(1, |reference|)): f64/f32 the kernel's one-pass
    // (max, sum) in the dtype against the reference's two passes in f64; f16/bf16 one unit in
    // the last place of the output (the kernel computes in f32, the reference in f64).
    let cases = [
        (DType::F64, 1e-14),
        (DType::F32, 1e-6),
        (DType::F16, 1e-3),
        (DType::BF16, 8e-3),
    ];
    let shapes: &[&[usize]] = &[
        &[1, 1, 1, 1],
        &[2, 3, 5, 37],
        &[2, 2, 2, 3, 64],
        &[1, 2, 2, 2500],
    ];
    let kind = MaskKind {
        fill: f64::NEG_INFINITY,
        full_row: true,
    };
    for (dtype, rel) in cases {
        for (i, &shape) in shapes.iter().enumerate() {
            let (x, mask, c) = inputs(shape, false, kind, dtype, 60 + i as u64);
            let (p, ds) = value_and_grad(|x| masked_softmax(x, &mask, SCALE), &x, &c);
            let r = shape.len();
            let dims = SoftmaxDims {
                b: shape[0],
                group: shape[1..r - 2].iter().product(),
                seq: shape[r - 2],
                cols: shape[r - 1],
            };
            let acc_mask = mask.to_dtype(acc_dtype(dtype)).expect("mask");
            let runs = [
                (
                    "fwd",
                    forward(dtype, dims, SCALE),
                    [x.clone(), acc_mask],
                    &p,
                ),
                (
                    "bwd",
                    backward(dtype, dims, SCALE),
                    [p.clone(), c.clone()],
                    &ds,
                ),
            ];
            for (name, plan, ins, want) in runs {
                let plan = plan.expect("plan");
                let what = format!("{dtype:?} {shape:?} {name}");
                common::assert_emulated(&plan, &ins, want, rel, &what);
            }
        }
    }
}

/// The PTX kernels against the CPU reference, values and gradients, on `cuda:0`.
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA device: cargo test --features cuda --test kernels_masked_softmax -- --ignored"]
fn cuda_kernels_match_cpu_reference() {
    let gpu = Device::new_cuda(0).expect("this test needs a CUDA device (cuda:0)");
    let cases = [
        (DType::F64, 1e-14),
        (DType::F32, 1e-6),
        (DType::F16, 1e-3),
        (DType::BF16, 8e-3),
    ];
    let shapes: &[&[usize]] = &[
        &[1, 1, 1, 1],
        &[2, 3, 5, 37],
        &[2, 2, 2, 3, 64],
        &[1, 2, 2, 2500],
        &[2, 8, 256, 8192],
    ];
    let kind = MaskKind {
        fill: f64::NEG_INFINITY,
        full_row: true,
    };
    for (dtype, rel) in cases {
        for (i, &shape) in shapes.iter().enumerate() {
            let (x, mask, c) = inputs(shape, false, kind, dtype, 70 + i as u64);
            let on_gpu = |t: &Tensor| t.to_device(&gpu).expect("to gpu");
            let cpu = value_and_grad(|x| masked_softmax(x, &mask, SCALE), &x, &c);
            let mg = on_gpu(&mask);
            let dev = value_and_grad(|x| masked_softmax(x, &mg, SCALE), &on_gpu(&x), &on_gpu(&c));
            for (name, a, b) in [("p", &cpu.0, &dev.0), ("ds", &cpu.1, &dev.1)] {
                let b = b.to_device(&Device::Cpu).expect("to cpu");
                let d = max_abs_diff(a, &b);
                let tol = rel * common::max_abs(a).max(1.0);
                assert!(
                    d <= tol,
                    "{dtype:?} {shape:?} {name}: max diff {d:e} > {tol:e}"
                );
            }
        }
    }
}

/// The plans at the sizes of the Qwen2.5-32B run (`configs/qwen32b.toml`: micro-batch up to 2 ×
/// 4096 tokens; the decoder passes scores `[b, 8 KV heads, 5 query heads per KV head, T, S]`,
/// a group of 40): within CUDA's limits, with the geometry and mask indexing worked out by hand.
#[test]
fn plans_at_production_sizes_stay_within_cuda_limits() {
    use trainer::kernels::plan::Arg;
    let dims = SoftmaxDims {
        b: 2,
        group: 8 * 5,
        seq: 4096,
        cols: 4096,
    };
    let f = forward(DType::BF16, dims, SCALE).expect("forward");
    f.validate().expect("forward within limits");
    assert_eq!(f.launches[0].grid, (327_680, 1, 1));
    assert_eq!(f.launches[0].block, (1024, 1, 1));
    // (scores, mask, p, cols, seq, rows per batch entry, scale)
    assert_eq!(
        f.launches[0].args[3..6],
        [Arg::I32(4096), Arg::I32(4096), Arg::I32(163_840)]
    );
    let b = backward(DType::BF16, dims, SCALE).expect("backward");
    b.validate().expect("backward within limits");
    assert_eq!(b.launches[0].grid, (327_680, 1, 1));
    let huge = SoftmaxDims {
        b: 1,
        group: 1 << 16,
        seq: 1 << 15,
        cols: 1,
    };
    let e = forward(DType::F32, huge, SCALE).expect_err("2^31 rows");
    assert!(e.to_string().contains("rows"), "{e}");
    // Rows so long that a thread's strided column index could overflow int on its way past them.
    let long = SoftmaxDims {
        b: 1,
        group: 1,
        seq: 1,
        cols: i32::MAX as usize - 1023,
    };
    let e = backward(DType::F32, long, SCALE).expect_err("too long");
    assert!(e.to_string().contains("cols"), "{e}");
}
