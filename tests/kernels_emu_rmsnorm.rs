//! The RMSNorm launch plans (`trainer::kernels::rmsnorm::plan`) and the real `kernels/rmsnorm.cu`,
//! run on the CPU emulation of the CUDA execution model (`tests/cuda_emu`), against the CPU
//! reference `trainer::kernels::rmsnorm::reference`. This checks the kernels' indexing and block
//! reductions, the plans' launch geometry, argument order and types, and temporaries — without a
//! GPU (`cargo test --test kernels_emu_rmsnorm`).
//!
//! Tolerances (inputs uniform in [-2, 2], weights in [0.5, 1.5], gradients in [-1, 1]): the
//! kernels sum in a different order (block reductions, per-chunk column sums) and in f32 for
//! f32/f16/bf16, the reference in f64. f64: 1e-12 × max(1, max |ref|); f32: 1e-5 × the same;
//! f16/bf16: per element one rounding of the output (one ulp of the reference value) plus the
//! f32 accumulation noise 1e-5 × max(1, max |ref|).
//!
//! The last tests show that the harness catches broken plans: wrong argument types or order
//! (a signature error naming kernel and argument), too few blocks or a wrong chunk size (the
//! comparison fails), and a too-short buffer (an out-of-bounds error).

mod common;

use candle_core::{DType, Device, Tensor, WithDType};
use common::cuda_emu::run_plan;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use trainer::kernels::plan::{Arg, Plan};
use trainer::kernels::rmsnorm::{plan, reference};

const EPS: f64 = 1e-6;
const DTYPES: [DType; 4] = [DType::F64, DType::F32, DType::F16, DType::BF16];
/// (rows, cols): one element; one row; a width that is not a multiple of the warp size; more
/// rows than one weight-gradient chunk (64) holds; rows longer than the largest block (1024
/// threads, so threads stride) with a partial last column block of the weight gradient.
const SHAPES: [(usize, usize); 5] = [(1, 1), (1, 300), (3, 37), (130, 5), (2, 1500)];

fn uniform(n: usize, lo: f64, hi: f64, seed: u64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| lo + (hi - lo) * rng.random::<f64>())
        .collect()
}

/// `(x, w, g)` as flat vectors of `T`, and as tensors.
struct Inputs<T> {
    x: Vec<T>,
    w: Vec<T>,
    g: Vec<T>,
}

impl<T: WithDType> Inputs<T> {
    fn new(rows: usize, cols: usize, seed: u64) -> Self {
        let cast = |v: Vec<f64>| v.into_iter().map(T::from_f64).collect();
        Inputs {
            x: cast(uniform(rows * cols, -2.0, 2.0, seed)),
            w: cast(uniform(cols, 0.5, 1.5, seed + 1)),
            g: cast(uniform(rows * cols, -1.0, 1.0, seed + 2)),
        }
    }
    fn tensors(&self) -> (Tensor, Tensor, Tensor) {
        let t = |v: &[T]| Tensor::new(v, &Device::Cpu).expect("tensor");
        (t(&self.x), t(&self.w), t(&self.g))
    }
}

fn to_f64(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f64>())
        .expect("f64 values")
}

/// The largest error of `got` against `want` in units of the allowed tolerance (≤ 1 passes).
fn error_ratio(dtype: DType, got: &Tensor, want: &[f64]) -> f64 {
    let got = to_f64(got);
    assert_eq!(got.len(), want.len(), "output length");
    let scale = want.iter().fold(1f64, |m, v| m.max(v.abs()));
    let mantissa_bits = match dtype {
        DType::F16 => Some(10),
        DType::BF16 => Some(7),
        _ => None,
    };
    got.iter()
        .zip(want)
        .map(|(g, w)| {
            let tol = match (dtype, mantissa_bits) {
                (DType::F64, _) => 1e-12 * scale,
                (_, None) => 1e-5 * scale,
                (_, Some(bits)) => {
                    // One ulp of the 16-bit type at |w| (subnormals: the smallest ulp).
                    let exp = if w.abs() > 0.0 {
                        w.abs().log2().floor()
                    } else {
                        -1e9
                    };
                    let min_exp = if dtype == DType::F16 { -14.0 } else { -126.0 };
                    2f64.powf(exp.max(min_exp) - bits as f64) + 1e-5 * scale
                }
            };
            if g.is_nan() {
                f64::INFINITY
            } else {
                (g - w).abs() / tol
            }
        })
        .fold(0.0, f64::max)
}

/// The reference outputs `(y, dx, dw)` in f64 (after rounding to `T`, as the kernels do).
fn references<T: WithDType>(inp: &Inputs<T>, cols: usize) -> [Vec<f64>; 3] {
    let f = |v: Vec<T>| v.into_iter().map(|x| x.to_f64()).collect();
    [
        f(reference::forward(&inp.x, &inp.w, cols, EPS)),
        f(reference::backward_x(&inp.x, &inp.w, &inp.g, cols, EPS)),
        f(reference::backward_weight(&inp.x, &inp.g, cols, EPS)),
    ]
}

/// Runs the three plans on the emulator; returns `(y, dx, dw)`.
fn emulate(
    dtype: DType,
    rows: usize,
    cols: usize,
    x: &Tensor,
    w: &Tensor,
    g: &Tensor,
) -> [Tensor; 3] {
    let run = |p: Plan, inputs: &[Tensor]| -> Tensor {
        let mut out = run_plan(&p, inputs).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.len(), 1);
        out.remove(0)
    };
    let fwd = plan::forward(dtype, rows, cols, EPS).expect("plan");
    let bx = plan::backward_x(dtype, rows, cols, EPS).expect("plan");
    let bw = plan::backward_weight(dtype, rows, cols, EPS).expect("plan");
    [
        run(fwd, &[x.clone(), w.clone()]),
        run(bx, &[x.clone(), w.clone(), g.clone()]),
        run(bw, &[x.clone(), g.clone()]),
    ]
}

fn check_dtype<T: WithDType>(dtype: DType) {
    let mut worst = 0f64;
    for (i, &(rows, cols)) in SHAPES.iter().enumerate() {
        let inp = Inputs::<T>::new(rows, cols, 100 + i as u64);
        let (x, w, g) = inp.tensors();
        let got = emulate(dtype, rows, cols, &x, &w, &g);
        let want = references(&inp, cols);
        for (name, got, want) in [
            ("y", &got[0], &want[0]),
            ("dx", &got[1], &want[1]),
            ("dw", &got[2], &want[2]),
        ] {
            assert_eq!(got.dtype(), dtype);
            let r = error_ratio(dtype, got, want);
            worst = worst.max(r);
            assert!(
                r <= 1.0,
                "{dtype:?} {rows}×{cols} {name}: error {r:.3} × tolerance"
            );
        }
    }
    eprintln!("{dtype:?}: largest error {worst:.3} × tolerance");
}

#[test]
fn f64_plans_match_reference() {
    check_dtype::<f64>(DType::F64);
}

#[test]
fn f32_plans_match_reference() {
    check_dtype::<f32>(DType::F32);
}

#[test]
fn f16_plans_match_reference() {
    check_dtype::<half::f16>(DType::F16);
}

#[test]
fn bf16_plans_match_reference() {
    check_dtype::<half::bf16>(DType::BF16);
}

#[test]
fn every_dtype_has_its_kernels() {
    // The plans name one kernel per dtype; each exists in the module with matching types.
    for dtype in DTYPES {
        let p = plan::forward(dtype, 1, 1, EPS).expect("plan");
        let x = Tensor::ones(1, dtype, &Device::Cpu).expect("x");
        let y = run_plan(&p, &[x.clone(), x]).expect("run");
        // 1 / sqrt(1 + eps) · 1 · 1
        let want = 1.0 / (1.0 + EPS).sqrt();
        assert!(
            (to_f64(&y[0])[0] - want).abs() < 1e-2,
            "{dtype:?}: {}",
            y[0]
        );
    }
}

// ---- the harness catches broken plans --------------------------------------------------------

fn f32_inputs(rows: usize, cols: usize) -> (Inputs<f32>, Tensor, Tensor, Tensor) {
    let inp = Inputs::<f32>::new(rows, cols, 7);
    let (x, w, g) = inp.tensors();
    (inp, x, w, g)
}

#[test]
fn swapped_scalar_arguments_are_a_signature_error() {
    let (_, x, w, _) = f32_inputs(2, 40);
    let mut p = plan::forward(DType::F32, 2, 40, EPS).expect("plan");
    p.launches[0].args.swap(3, 4); // (…, eps, cols) instead of (…, cols, eps)
    let e = run_plan(&p, &[x, w]).expect_err("swapped arguments must fail");
    assert!(
        e.contains("rmsnorm_fwd_f32")
            && e.contains("argument 3")
            && e.contains("int")
            && e.contains("F64"),
        "{e}"
    );
}

#[test]
fn a_buffer_of_the_wrong_dtype_is_a_signature_error() {
    // dw_partial_f16 takes (const f16* x, const f16* g, const f32* rstd, ...): swap x and rstd.
    let inp = Inputs::<half::f16>::new(3, 8, 9);
    let (x, _, g) = inp.tensors();
    let mut p = plan::backward_weight(DType::F16, 3, 8, EPS).expect("plan");
    p.launches[1].args.swap(0, 2);
    let e = run_plan(&p, &[x, g]).expect_err("wrong dtype must fail");
    assert!(
        e.contains("rmsnorm_dw_partial_f16")
            && e.contains("argument 0")
            && e.contains("const f16*")
            && e.contains("(f32)"),
        "{e}"
    );
}

#[test]
fn a_missing_argument_or_unknown_kernel_is_reported() {
    let (_, x, w, _) = f32_inputs(2, 40);
    let mut p = plan::forward(DType::F32, 2, 40, EPS).expect("plan");
    p.launches[0].args.pop();
    let e = run_plan(&p, &[x.clone(), w.clone()]).expect_err("too few arguments");
    assert!(
        e.contains("takes 5 arguments") && e.contains("gives 4"),
        "{e}"
    );
    let mut p = plan::forward(DType::F32, 2, 40, EPS).expect("plan");
    p.launches[0].kernel = "rmsnorm_fwd_f8".into();
    let e = run_plan(&p, &[x, w]).expect_err("unknown kernel");
    assert!(
        e.contains("rmsnorm_fwd_f8") && e.contains("rmsnorm_fwd_f32"),
        "{e}"
    );
}

#[test]
fn too_few_blocks_fail_the_comparison() {
    let (rows, cols) = (4, 40);
    let (inp, x, w, _) = f32_inputs(rows, cols);
    let want = references(&inp, cols);
    let mut p = plan::forward(DType::F32, rows, cols, EPS).expect("plan");
    let y = run_plan(&p, &[x.clone(), w.clone()]).expect("run");
    assert!(error_ratio(DType::F32, &y[0], &want[0]) <= 1.0);
    p.launches[0].grid.0 -= 1; // the last row is never written
    let y = run_plan(&p, &[x, w]).expect("run");
    let r = error_ratio(DType::F32, &y[0], &want[0]);
    assert!(
        r > 1.0,
        "a missing block must fail the comparison (error {r})"
    );
    // Its elements keep the emulator's fill for uninitialized buffers (NaN).
    assert!(to_f64(&y[0])[(rows - 1) * cols..]
        .iter()
        .all(|v| v.is_nan()));
}

#[test]
fn a_wrong_chunk_size_fails_the_comparison() {
    // 130 rows in chunks of 64 (3 chunks); claiming 32 rows per chunk sums only 96 rows.
    let (rows, cols) = (130, 5);
    let (inp, x, _, g) = f32_inputs(rows, cols);
    let want = references(&inp, cols);
    let mut p = plan::backward_weight(DType::F32, rows, cols, EPS).expect("plan");
    assert_eq!(p.launches[1].args[6], Arg::I32(64));
    p.launches[1].args[6] = Arg::I32(32);
    let dw = run_plan(&p, &[x, g]).expect("run");
    let r = error_ratio(DType::F32, &dw[0], &want[2]);
    assert!(
        r > 1.0,
        "a wrong chunk size must fail the comparison (error {r})"
    );
}

#[test]
fn a_too_short_buffer_is_an_out_of_bounds_error() {
    let (_, x, w, _) = f32_inputs(2, 40);
    let mut p = plan::forward(DType::F32, 2, 40, EPS).expect("plan");
    let y = p.outputs[0];
    p.buffers[y].len -= 1;
    let e = run_plan(&p, &[x, w]).expect_err("out of bounds");
    assert!(
        e.contains("out-of-bounds") && e.contains(&format!("buffer {y}")),
        "{e}"
    );
}

#[test]
fn mismatched_inputs_are_rejected_before_running() {
    let (_, x, w, _) = f32_inputs(2, 40);
    let p = plan::forward(DType::F32, 2, 40, EPS).expect("plan");
    let e = run_plan(&p, std::slice::from_ref(&x)).expect_err("missing input");
    assert!(e.contains("2 inputs"), "{e}");
    let w64 = w.to_dtype(DType::F64).expect("f64");
    let e = run_plan(&p, &[x, w64]).expect_err("dtype");
    assert!(e.contains("input 1") && e.contains("F64"), "{e}");
}

/// The plans at the sizes of the Qwen2.5-32B run (`configs/qwen32b.toml`: hidden 5120, micro-batch
/// up to 2 × 4096 tokens; the per-head norms of other architectures: 40 heads × 128) and beyond
/// the 65 535 `gridDim.y` limit of the weight gradient's chunks: every launch within CUDA's
/// limits, with the geometry worked out by hand.
#[test]
fn plans_at_production_sizes_stay_within_cuda_limits() {
    let (rows, cols) = (2 * 4096, 5120);
    for dtype in [DType::BF16, DType::F32] {
        let f = plan::forward(dtype, rows, cols, EPS).expect("forward");
        f.validate().expect("forward within limits");
        assert_eq!(f.launches[0].grid, (8192, 1, 1));
        assert_eq!(f.launches[0].block, (1024, 1, 1));
        let dx = plan::backward_x(dtype, rows, cols, EPS).expect("dx");
        dx.validate().expect("dx within limits");
        let dw = plan::backward_weight(dtype, rows, cols, EPS).expect("dw");
        dw.validate().expect("dw within limits");
        // 8192 rows in chunks of 64, 5120 columns in blocks of 256.
        assert_eq!(dw.launches[1].grid, (20, 128, 1));
        assert_eq!(dw.launches[1].args[6], Arg::I32(64));
    }
    let heads = plan::forward(DType::BF16, 2 * 4096 * 40, 128, EPS).expect("per-head norm");
    heads.validate().expect("per-head norm within limits");
    assert_eq!(heads.launches[0].grid, (327_680, 1, 1));
    assert_eq!(heads.launches[0].block, (128, 1, 1));
    // 10⁷ rows: chunks of 153 rows (⌈10⁷ / 65 535⌉), 65 360 chunks — under the y limit.
    let many = plan::backward_weight(DType::BF16, 10_000_000, 8, EPS).expect("many rows");
    many.validate().expect("many rows within limits");
    assert_eq!(many.launches[1].grid.1, 65_360);
    assert_eq!(many.launches[1].args[6], Arg::I32(153));
    // Rows beyond a grid's x dimension (and the kernels' int arguments) are a plan error.
    let e = plan::forward(DType::F32, 1 << 31, 1, EPS).expect_err("too many rows");
    assert!(e.to_string().contains("rows"), "{e}");
    // Rows so long that a thread's strided column index could overflow int on its way past them.
    let long = i32::MAX as usize - 1024;
    plan::forward(DType::F32, 1, long, EPS).expect("the longest row");
    let e = plan::backward_weight(DType::F32, 1, long + 1, EPS).expect_err("too long");
    assert!(e.to_string().contains("cols"), "{e}");
}

/// `Plan::validate` (run by the CUDA executor and the emulator before anything else) rejects
/// what CUDA or the executor cannot run.
#[test]
fn validate_rejects_what_cuda_cannot_launch() {
    let ok = plan::forward(DType::F32, 2, 40, EPS).expect("plan");
    ok.validate().expect("valid");
    let reject = |p: Plan, what: &str| {
        let e = p.validate().expect_err(what);
        assert!(e.to_string().contains(what), "{what}: {e}");
    };
    let mut p = ok.clone();
    p.launches[0].grid.0 = 1 << 31;
    reject(p, "beyond CUDA's limits");
    let mut p = ok.clone();
    p.launches[0].grid.1 = 65_536;
    reject(p, "beyond CUDA's limits");
    let mut p = ok.clone();
    p.launches[0].block = (1, 1, 65);
    reject(p, "beyond CUDA's limits");
    let mut p = ok.clone();
    p.launches[0].block = (64, 32, 1);
    reject(p, "beyond CUDA's limits");
    let mut p = ok.clone();
    p.launches[0].args[1] = Arg::Buf(0);
    reject(p, "passed twice");
    let mut p = ok.clone();
    p.outputs = vec![0];
    reject(p, "not one of the allocated buffers");
    let mut p = ok.clone();
    p.outputs.push(p.outputs[0]);
    reject(p, "listed twice");
    let mut p = ok;
    p.buffers[2].len = 0;
    reject(p, "empty");
}
