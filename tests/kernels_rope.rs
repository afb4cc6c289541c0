//! Fused rotary embedding (`trainer::kernels::rope`) against independent references:
//! - candle's plain-op composition (`narrow`, broadcast `mul`, `sub`/`add`, `cat`), values and
//!   autograd gradients w.r.t. x, f64 and f32;
//! - the model's existing CPU op (`model::Rotary::apply` in `Mode::Train`, i.e. `model::fused`)
//!   with the model's own tables (`Rotary::cos_sin`, per-batch-row positions), f64 and f32;
//! - central finite differences of a scalar loss in f64;
//! - every launch plan run through the CPU emulation of CUDA (`tests/common/cuda_emu.rs`, the
//!   real `kernels/rope.cu` compiled by g++) against the CPU reference, for all four dtypes;
//! - on a CUDA device (`cargo test --features cuda --test kernels_rope -- --ignored`), the PTX
//!   kernels against the CPU reference.
//!
//! Tolerances (max absolute difference, relative ones scaled by max(1, |reference|)) are stated
//! at each assertion. Inputs are uniform in [-2, 2], angles in [-π, π].

mod common;

use common::{assert_central_differences, max_abs, max_abs_diff, uniform, value_and_grad};

use candle_core::{DType, Device, Tensor, Var, D};
use trainer::kernels::plan::acc_dtype;
use trainer::kernels::rope;
use trainer::kernels::rope::plan::{rotate, RopeDims};
use trainer::model::{Mode, Rotary};

/// `[B, H, T, D]`: one pair, an odd number of pairs, `D/2 = 37` (not a multiple of the warp
/// size), and `D/2 = 150` (more pairs than the 128 threads a row gets, so threads stride).
const SHAPES: &[[usize; 4]] = &[[1, 1, 1, 2], [2, 3, 5, 6], [2, 2, 3, 74], [1, 2, 4, 300]];

fn tensor(v: Vec<f64>, shape: &[usize], dtype: DType) -> Tensor {
    Tensor::from_vec(v, shape, &Device::Cpu)
        .and_then(|t| t.to_dtype(dtype))
        .expect("tensor")
}

/// `(x, cos, sin, c)`: input, tables of random angles, and the coefficients of the loss
/// `sum(y * c)`; all in `dtype`.
fn inputs(shape: [usize; 4], dtype: DType, seed: u64) -> (Tensor, Tensor, Tensor, Tensor) {
    let [b, _, t, d] = shape;
    let n: usize = shape.iter().product();
    let angles = uniform(
        b * t * d / 2,
        -std::f64::consts::PI,
        std::f64::consts::PI,
        seed + 1,
    );
    let table = |f: fn(f64) -> f64| {
        tensor(
            angles.iter().map(|&a| f(a)).collect(),
            &[b, t, d / 2],
            dtype,
        )
    };
    (
        tensor(uniform(n, -2.0, 2.0, seed), &shape, dtype),
        table(f64::cos),
        table(f64::sin),
        tensor(uniform(n, -1.0, 1.0, seed + 2), &shape, dtype),
    )
}

/// Rotary embedding as candle's elementwise ops (the model's composed path).
fn plain(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let (c, s) = (cos.unsqueeze(1)?, sin.unsqueeze(1)?);
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let r1 = (x1.broadcast_mul(&c)? - x2.broadcast_mul(&s)?)?;
    let r2 = (x2.broadcast_mul(&c)? + x1.broadcast_mul(&s)?)?;
    Tensor::cat(&[r1, r2], D::Minus1)
}

#[test]
fn values_and_gradients_match_plain_ops() {
    for (dtype, tol) in [(DType::F64, 1e-14), (DType::F32, 1e-6)] {
        for (i, &shape) in SHAPES.iter().enumerate() {
            let (x, cos, sin, c) = inputs(shape, dtype, 10 + i as u64);
            let (y1, dx1) = value_and_grad(|x| rope(x, &cos, &sin), &x, &c);
            let (y2, dx2) = value_and_grad(|x| plain(x, &cos, &sin), &x, &c);
            for (name, a, b) in [("y", &y1, &y2), ("dx", &dx1, &dx2)] {
                let d = max_abs_diff(a, b);
                assert!(
                    d <= tol,
                    "{dtype:?} {shape:?} {name}: max diff {d:e} > {tol:e}"
                );
            }
        }
    }
}

#[test]
fn matches_the_models_cpu_op_with_its_tables() {
    // Per-batch-row positions as the model uses them (left padding shifts row 1).
    let positions = vec![vec![0u32, 1, 2, 3, 4], vec![0, 0, 0, 1, 2]];
    for (dtype, tol) in [(DType::F64, 1e-14), (DType::F32, 1e-6)] {
        let rotary = Rotary::new(16, 10_000.0);
        let (cos, sin) = rotary
            .cos_sin(&positions, dtype, &Device::Cpu)
            .expect("tables");
        let shape = [2, 3, 5, 16];
        let (x, _, _, c) = inputs(shape, dtype, 5);
        let (y1, dx1) = value_and_grad(|x| rope(x, &cos, &sin), &x, &c);
        let model = |x: &Tensor| {
            Rotary::apply(x, &cos, &sin, Mode::Train)
                .map_err(|e| candle_core::Error::Msg(e.to_string()))
        };
        let (y2, dx2) = value_and_grad(model, &x, &c);
        for (name, a, b) in [("y", &y1, &y2), ("dx", &dx1, &dx2)] {
            let d = max_abs_diff(a, b);
            assert!(d <= tol, "{dtype:?} {name}: max diff {d:e} > {tol:e}");
        }
    }
}

#[test]
fn tables_get_no_gradient_and_non_contiguous_x_works() {
    // x: [2, 3, 4, 6] as a transposed (non-contiguous) view; cos is a variable, but a constant
    // to the op.
    let (_, cos, sin, c) = inputs([2, 3, 4, 6], DType::F64, 7);
    let (x, _, _, _) = inputs([2, 4, 3, 6], DType::F64, 8);
    let xt = x.transpose(1, 2).expect("transpose");
    let xv = Var::from_tensor(&x).expect("x");
    let cv = Var::from_tensor(&cos).expect("cos");
    let y = rope(
        &xv.as_tensor().transpose(1, 2).expect("t"),
        cv.as_tensor(),
        &sin,
    )
    .expect("rope");
    let grads = (&y * &c)
        .and_then(|l| l.sum_all()?.backward())
        .expect("backward");
    assert!(
        grads.get(cv.as_tensor()).is_none(),
        "cos must get no gradient"
    );
    let (y2, dx2) = value_and_grad(|x| plain(x, &cos, &sin), &xt, &c);
    assert!(max_abs_diff(&y, &y2) <= 1e-14);
    let dx = grads
        .get(xv.as_tensor())
        .expect("dx")
        .transpose(1, 2)
        .expect("t");
    assert!(max_abs_diff(&dx, &dx2) <= 1e-14);
}

#[test]
fn gradient_matches_finite_differences_f64() {
    let shape = [2, 2, 3, 6];
    let (x, cos, sin, c) = inputs(shape, DType::F64, 30);
    let (_, dx) = value_and_grad(|x| rope(x, &cos, &sin), &x, &c);
    let loss = |v: &[f64]| -> f64 {
        let xt = Tensor::from_slice(v, &shape, &Device::Cpu).expect("x");
        (rope(&xt, &cos, &sin).expect("rope") * &c)
            .and_then(|l| l.sum_all()?.to_scalar::<f64>())
            .expect("loss")
    };
    assert_central_differences("dx", loss, &x, &dx, 1e-5, 1e-8);
}

#[test]
fn half_precision_is_one_rounding_from_f32() {
    for (dtype, rel) in [(DType::F16, 2e-3), (DType::BF16, 1.6e-2)] {
        let (x, cos, sin, _) = inputs([2, 2, 3, 74], dtype, 40);
        let y = rope(&x, &cos, &sin).expect("rope");
        assert_eq!(y.dtype(), dtype);
        let f32 = |t: &Tensor| t.to_dtype(DType::F32).expect("f32");
        let reference = plain(&f32(&x), &f32(&cos), &f32(&sin)).expect("plain");
        let d = max_abs_diff(&y, &reference);
        let tol = rel * max_abs(&reference).max(1.0);
        assert!(d <= tol, "{dtype:?}: max diff {d:e} > {tol:e}");
    }
}

#[test]
fn rejects_bad_inputs() {
    let (x, cos, sin, _) = inputs([2, 2, 3, 6], DType::F32, 50);
    let short = cos.narrow(2, 0, 2).expect("narrow");
    let e = rope(&x, &short, &sin).expect_err("short cos").to_string();
    assert!(
        e.contains("cos") && e.contains("[2, 3, 2]") && e.contains("[2, 3, 3]"),
        "{e}"
    );
    let odd = Tensor::zeros((2, 2, 3, 5), DType::F32, &Device::Cpu).expect("odd");
    let e = rope(&odd, &cos, &sin).expect_err("odd dim").to_string();
    assert!(e.contains("even"), "{e}");
    let e = rope(&x.flatten_from(2).expect("3-D"), &cos, &sin)
        .expect_err("rank")
        .to_string();
    assert!(
        e.contains("rank") || e.contains("dims4") || e.contains("unexpected"),
        "{e}"
    );
    let ints = Tensor::zeros((2, 2, 3, 6), DType::U32, &Device::Cpu).expect("u32");
    assert!(rope(&ints, &cos, &sin).is_err());
    let bad = RopeDims {
        b: 1,
        heads: 1,
        seq: 1,
        dim: 3,
    };
    assert!(rotate(DType::F32, bad, false).is_err());
    assert!(rotate(DType::U32, RopeDims { dim: 4, ..bad }, false).is_err());
}

/// Every plan (forward and backward, 4 dtypes) through the CPU emulation of CUDA, against the
/// CPU op (the reference): the forward output, and the backward applied to `c` (= ∂x of
/// `sum(y · c)`, computed on the CPU through autograd).
#[test]
fn emulated_kernels_match_reference() {
    // (dtype, tolerance relative to max(1, |reference|)): f64 and f32 the kernel's rounding of
    // the same formula; f16/bf16 the kernel computes in f32, the reference in f64, both round
    // once to the dtype (one unit in the last place).
    let cases = [
        (DType::F64, 1e-14),
        (DType::F32, 1e-6),
        (DType::F16, 1e-3),
        (DType::BF16, 8e-3),
    ];
    let shapes: &[[usize; 4]] = &[[1, 1, 1, 2], [2, 3, 5, 6], [2, 2, 3, 74], [1, 2, 3, 2100]];
    for (dtype, rel) in cases {
        for (i, &shape) in shapes.iter().enumerate() {
            let (x, cos, sin, c) = inputs(shape, dtype, 60 + i as u64);
            let (y, dx) = value_and_grad(|x| rope(x, &cos, &sin), &x, &c);
            let [b, heads, seq, dim] = shape;
            let dims = RopeDims { b, heads, seq, dim };
            let acc = |t: &Tensor| t.to_dtype(acc_dtype(dtype)).expect("acc");
            for (inverse, input, want) in [(false, &x, &y), (true, &c, &dx)] {
                let plan = rotate(dtype, dims, inverse).expect("plan");
                let what = format!("{dtype:?} {shape:?} inverse={inverse}");
                let inputs = [input.clone(), acc(&cos), acc(&sin)];
                common::assert_emulated(&plan, &inputs, want, rel, &what);
            }
        }
    }
}

/// The PTX kernels against the CPU reference, values and gradients, on `cuda:0`.
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA device: cargo test --features cuda --test kernels_rope -- --ignored"]
fn cuda_kernels_match_cpu_reference() {
    let gpu = Device::new_cuda(0).expect("this test needs a CUDA device (cuda:0)");
    let cases = [
        (DType::F64, 1e-14),
        (DType::F32, 1e-6),
        (DType::F16, 1e-3),
        (DType::BF16, 8e-3),
    ];
    let shapes: &[[usize; 4]] = &[
        [1, 1, 1, 2],
        [2, 3, 5, 6],
        [2, 2, 3, 74],
        [1, 2, 3, 2100],
        [4, 16, 512, 128],
    ];
    for (dtype, rel) in cases {
        for (i, &shape) in shapes.iter().enumerate() {
            let (x, cos, sin, c) = inputs(shape, dtype, 70 + i as u64);
            let on_gpu = |t: &Tensor| t.to_device(&gpu).expect("to gpu");
            let cpu = value_and_grad(|x| rope(x, &cos, &sin), &x, &c);
            let (cg, sg) = (on_gpu(&cos), on_gpu(&sin));
            let dev = value_and_grad(|x| rope(x, &cg, &sg), &on_gpu(&x), &on_gpu(&c));
            for (name, a, b) in [("y", &cpu.0, &dev.0), ("dx", &cpu.1, &dev.1)] {
                let b = b.to_device(&Device::Cpu).expect("to cpu");
                let d = max_abs_diff(a, &b);
                let tol = rel * max_abs(a).max(1.0);
                assert!(
                    d <= tol,
                    "{dtype:?} {shape:?} {name}: max diff {d:e} > {tol:e}"
                );
            }
        }
    }
}

/// The plans at the sizes of the Qwen2.5-32B run (`configs/qwen32b.toml`: micro-batch up to 2 ×
/// 4096 tokens, 40 query and 8 key heads of 128): within CUDA's limits, with the geometry worked
/// out by hand; rows beyond the kernel's int arguments are a plan error.
#[test]
fn plans_at_production_sizes_stay_within_cuda_limits() {
    for (heads, blocks) in [(40, 81_920), (8, 16_384)] {
        let dims = RopeDims {
            b: 2,
            heads,
            seq: 4096,
            dim: 128,
        };
        for inverse in [false, true] {
            let p = rotate(DType::BF16, dims, inverse).expect("plan");
            p.validate().expect("within limits");
            // 64 pairs per row: 64 threads per row, 4 rows per 256-thread block.
            assert_eq!(p.launches[0].grid, (blocks, 1, 1), "{heads} heads");
            assert_eq!(p.launches[0].block, (64, 4, 1));
        }
    }
    let huge = RopeDims {
        b: 1,
        heads: 1 << 16,
        seq: 1 << 15,
        dim: 2,
    };
    let e = rotate(DType::F32, huge, false).expect_err("2^31 rows");
    assert!(e.to_string().contains("rows"), "{e}");
    // A row so long that `half + i` could overflow the kernel's int index.
    let long = RopeDims {
        b: 1,
        heads: 1,
        seq: 1,
        dim: 1 << 31,
    };
    let e = rotate(DType::F32, long, false).expect_err("2^31 dims");
    assert!(e.to_string().contains("dim"), "{e}");
}
