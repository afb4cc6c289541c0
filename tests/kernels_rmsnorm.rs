//! Fused RMSNorm (`trainer::kernels::rms_norm`) against independent references:
//! - candle's plain-op composition `x / sqrt(mean(x²) + eps) * w` (values, and autograd gradients
//!   for x and the weight), and candle_nn's own fused forward-only `rms_norm`;
//! - central finite differences of a scalar loss in f64;
//! - on a CUDA device (`cargo test --features cuda --test kernels_rmsnorm -- --ignored`), the
//!   PTX kernel against the CPU reference.
//!
//! Tolerances (max absolute difference, inputs uniform in [-2, 2], weights in [0.5, 1.5]):
//! f64 1e-12 (values) / 1e-10 (gradients); f32 1e-5 / 1e-4; f16 and bf16 one rounding of the
//! output (2e-3 and 1.6e-2 relative to max(1, |y|)); finite differences 1e-7.

mod common;

use common::{max_abs, max_abs_diff, uniform};

use candle_core::{DType, Device, Tensor, Var, D};
use trainer::kernels::rms_norm;

const EPS: f64 = 1e-6;
/// Shapes covering a single column, a width that is not a multiple of the warp size, a 3-D
/// input and a row longer than the largest block (1024 threads).
const SHAPES: &[&[usize]] = &[&[1, 1], &[3, 37], &[2, 4, 64], &[5, 1500]];

/// `(x, w, c)`: input, weight, and the coefficients of the loss `sum(y * c)`.
fn inputs(shape: &[usize], dtype: DType, seed: u64) -> (Tensor, Tensor, Tensor) {
    let n: usize = shape.iter().product();
    let cols = *shape.last().expect("shape");
    let t = |v: Vec<f64>, s: &[usize]| {
        Tensor::from_vec(v, s, &Device::Cpu)
            .and_then(|t| t.to_dtype(dtype))
            .expect("tensor")
    };
    (
        t(uniform(n, -2.0, 2.0, seed), shape),
        t(uniform(cols, 0.5, 1.5, seed + 1), &[cols]),
        t(uniform(n, -1.0, 1.0, seed + 2), shape),
    )
}

/// RMSNorm as candle's elementwise ops, in the dtype of `x`.
fn plain(x: &Tensor, w: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_div(&(ms + eps)?.sqrt()?)?.broadcast_mul(w)
}

/// `(y, dx, dw)` of `sum(f(x, w) * c)`.
fn value_and_grads(
    f: impl Fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>,
    x: &Tensor,
    w: &Tensor,
    c: &Tensor,
) -> (Tensor, Tensor, Tensor) {
    let xv = Var::from_tensor(x).expect("x var");
    let wv = Var::from_tensor(w).expect("w var");
    let y = f(xv.as_tensor(), wv.as_tensor()).expect("forward");
    let loss = (&y * c).and_then(|l| l.sum_all()).expect("loss");
    let grads = loss.backward().expect("backward");
    let dx = grads.get(xv.as_tensor()).expect("dx").clone();
    let dw = grads.get(wv.as_tensor()).expect("dw").clone();
    (y, dx, dw)
}

#[test]
fn forward_matches_plain_ops() {
    for (dtype, tol) in [(DType::F64, 1e-12), (DType::F32, 1e-5)] {
        for (i, shape) in SHAPES.iter().enumerate() {
            let (x, w, _) = inputs(shape, dtype, 10 + i as u64);
            let fused = rms_norm(&x, &w, EPS).expect("fused");
            let reference = plain(&x, &w, EPS).expect("plain");
            let d = max_abs_diff(&fused, &reference);
            assert!(d <= tol, "{dtype:?} {shape:?}: max diff {d:e} > {tol:e}");
        }
    }
}

#[test]
fn forward_matches_candle_nn_fused_rms_norm() {
    let (x, w, _) = inputs(&[4, 300], DType::F32, 3);
    let ours = rms_norm(&x, &w, 1e-5).expect("fused");
    let theirs = candle_nn::ops::rms_norm(&x, &w, 1e-5).expect("candle_nn");
    let d = max_abs_diff(&ours, &theirs);
    assert!(d <= 1e-5, "max diff {d:e}");
}

#[test]
fn eps_dominates_for_zero_rows() {
    // A zero row normalizes to zero, and a tiny row is scaled by 1/sqrt(eps), not blown up.
    let x = Tensor::new(&[[0.0f64, 0.0], [1e-8, -1e-8]], &Device::Cpu).expect("x");
    let w = Tensor::new(&[1.0f64, 2.0], &Device::Cpu).expect("w");
    let y = rms_norm(&x, &w, 1e-2).expect("fused");
    let reference = plain(&x, &w, 1e-2).expect("plain");
    assert!(max_abs_diff(&y, &reference) <= 1e-18, "{y}");
    assert_eq!(
        y.get(0).and_then(|r| r.to_vec1::<f64>()).expect("row"),
        [0.0, 0.0]
    );
}

#[test]
fn gradients_match_autograd_of_plain_ops() {
    for (dtype, tol) in [(DType::F64, 1e-10), (DType::F32, 1e-4)] {
        for (i, shape) in SHAPES.iter().enumerate() {
            let (x, w, c) = inputs(shape, dtype, 20 + i as u64);
            let (y1, dx1, dw1) = value_and_grads(|x, w| rms_norm(x, w, EPS), &x, &w, &c);
            let (y2, dx2, dw2) = value_and_grads(|x, w| plain(x, w, EPS), &x, &w, &c);
            for (name, a, b) in [("y", &y1, &y2), ("dx", &dx1, &dx2), ("dw", &dw1, &dw2)] {
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
fn gradients_of_a_transposed_input_match_plain_ops() {
    // The op sees a non-contiguous view; it copies it and the gradient flows back through the copy.
    let dev = &Device::Cpu;
    let x = Tensor::from_vec(uniform(30, -2.0, 2.0, 7), (5, 6), dev).expect("x");
    let w = Tensor::from_vec(uniform(5, 0.5, 1.5, 8), 5, dev).expect("w");
    let c = Tensor::from_vec(uniform(30, -1.0, 1.0, 9), (6, 5), dev).expect("c");
    let (y1, dx1, dw1) = value_and_grads(|x, w| rms_norm(&x.t()?, w, EPS), &x, &w, &c);
    let (y2, dx2, dw2) = value_and_grads(|x, w| plain(&x.t()?, w, EPS), &x, &w, &c);
    assert_eq!(dx1.dims(), [5, 6]);
    for (name, a, b) in [("y", &y1, &y2), ("dx", &dx1, &dx2), ("dw", &dw1, &dw2)] {
        let d = max_abs_diff(a, b);
        assert!(d <= 1e-10, "{name}: max diff {d:e}");
    }
}

#[test]
fn gradients_match_finite_differences_f64() {
    let (x, w, c) = inputs(&[3, 7], DType::F64, 30);
    let (_, dx, dw) = value_and_grads(|x, w| rms_norm(x, w, EPS), &x, &w, &c);
    let loss = |x: &[f64], w: &[f64]| -> f64 {
        let xt = Tensor::from_slice(x, (3, 7), &Device::Cpu).expect("x");
        let wt = Tensor::from_slice(w, 7, &Device::Cpu).expect("w");
        (rms_norm(&xt, &wt, EPS).expect("fused") * &c)
            .and_then(|l| l.sum_all())
            .and_then(|l| l.to_scalar::<f64>())
            .expect("loss")
    };
    let h = 1e-5;
    let xs = x.flatten_all().and_then(|t| t.to_vec1::<f64>()).expect("x");
    let ws = w.to_vec1::<f64>().expect("w");
    let dxs = dx
        .flatten_all()
        .and_then(|t| t.to_vec1::<f64>())
        .expect("dx");
    let dws = dw.to_vec1::<f64>().expect("dw");
    for i in 0..xs.len() {
        let (mut p, mut m) = (xs.clone(), xs.clone());
        p[i] += h;
        m[i] -= h;
        let fd = (loss(&p, &ws) - loss(&m, &ws)) / (2.0 * h);
        assert!(
            (fd - dxs[i]).abs() <= 1e-7,
            "dx[{i}]: fd {fd} vs {}",
            dxs[i]
        );
    }
    for j in 0..ws.len() {
        let (mut p, mut m) = (ws.clone(), ws.clone());
        p[j] += h;
        m[j] -= h;
        let fd = (loss(&xs, &p) - loss(&xs, &m)) / (2.0 * h);
        assert!(
            (fd - dws[j]).abs() <= 1e-7,
            "dw[{j}]: fd {fd} vs {}",
            dws[j]
        );
    }
}

#[test]
fn half_precision_forward_is_one_rounding_from_f32() {
    for (dtype, rel) in [(DType::F16, 2e-3), (DType::BF16, 1.6e-2)] {
        let (x, w, _) = inputs(&[4, 200], dtype, 40);
        let fused = rms_norm(&x, &w, EPS).expect("fused");
        assert_eq!(fused.dtype(), dtype);
        // Reference in f32 on the same (already rounded) inputs.
        let (x32, w32) = (
            x.to_dtype(DType::F32).expect("x"),
            w.to_dtype(DType::F32).expect("w"),
        );
        let reference = plain(&x32, &w32, EPS).expect("plain");
        let d = max_abs_diff(&fused, &reference);
        let tol = rel * max_abs(&reference).max(1.0);
        assert!(d <= tol, "{dtype:?}: max diff {d:e} > {tol:e}");
    }
}

#[test]
fn rejects_mismatched_inputs() {
    let (x, w, _) = inputs(&[2, 8], DType::F32, 50);
    let short = w.narrow(0, 0, 4).expect("narrow");
    let e = rms_norm(&x, &short, EPS)
        .expect_err("short weight")
        .to_string();
    assert!(e.contains("[4]") && e.contains("[8]"), "{e}");
    let e = rms_norm(&x, &w.to_dtype(DType::F64).expect("f64"), EPS)
        .expect_err("dtype")
        .to_string();
    assert!(e.contains("F32") && e.contains("F64"), "{e}");
    let empty = Tensor::zeros((0, 8), DType::F32, &Device::Cpu).expect("empty");
    let e = rms_norm(&empty, &w, EPS).expect_err("empty").to_string();
    assert!(e.contains("non-empty"), "{e}");
    let ints = Tensor::zeros((2, 8), DType::U32, &Device::Cpu).expect("u32");
    let wi = Tensor::zeros(8, DType::U32, &Device::Cpu).expect("u32");
    assert!(rms_norm(&ints, &wi, EPS).is_err());
}

/// The PTX kernels against the CPU reference, values and gradients, on `cuda:0`.
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA device: cargo test --features cuda --test kernels_rmsnorm -- --ignored"]
fn cuda_kernels_match_cpu_reference() {
    let gpu = Device::new_cuda(0).expect("this test needs a CUDA device (cuda:0)");
    // (dtype, tolerance relative to max(1, |reference|)): f32/f64 accumulation-order noise;
    // f16/bf16 the kernel sums in f32, the reference in f64, both round once at the end, and
    // dw sums many rows (output rounding dominates).
    let cases = [
        (DType::F64, 1e-12),
        (DType::F32, 2e-5),
        (DType::F16, 2e-3),
        (DType::BF16, 1.6e-2),
    ];
    let shapes: &[&[usize]] = &[&[1, 1], &[3, 37], &[2, 4, 64], &[5, 1500], &[300, 4096]];
    for (dtype, rel) in cases {
        for (i, shape) in shapes.iter().enumerate() {
            let (x, w, c) = inputs(shape, dtype, 60 + i as u64);
            let on_gpu = |t: &Tensor| t.to_device(&gpu).expect("to gpu");
            let cpu = value_and_grads(|x, w| rms_norm(x, w, EPS), &x, &w, &c);
            let dev = value_and_grads(
                |x, w| rms_norm(x, w, EPS),
                &on_gpu(&x),
                &on_gpu(&w),
                &on_gpu(&c),
            );
            for (name, a, b) in [
                ("y", &cpu.0, &dev.0),
                ("dx", &cpu.1, &dev.1),
                ("dw", &cpu.2, &dev.2),
            ] {
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
