//! Causal attention without the score matrix (`trainer::kernels::flash_attention`) against
//! independent references:
//! - candle's plain-op composition (`q·kᵀ`, scale, a dense `[B, 1, T, S]` causal + padding mask,
//!   `candle_nn::ops::softmax`, `·v`, KV heads repeated for grouped-query attention): values and
//!   autograd gradients w.r.t. `q`, `k` and `v`, f64 and f32, with a KV cache offset (`S > T`);
//! - central finite differences of a scalar loss in f64;
//! - every launch plan (forward, backward; the CUDA-core kernels in 4 dtypes, the tensor-core
//!   kernels in f16/bf16) run through the CPU emulation of CUDA (`tests/common/cuda_emu.rs`, the
//!   real `kernels/flash_attn.cu` and `flash_attn_tc.cuh` compiled by g++, `nvcuda::wmma` from
//!   `tests/cuda_emu/include/mma.h`) against the CPU reference, including the saved log-sum-exp;
//!   and mutated kernels or plans that must fail;
//! - on a CUDA device (`cargo test --features cuda --test kernels_flash_attn -- --ignored`), the
//!   PTX kernels against the CPU reference.
//!
//! Inputs uniform in [-1, 1], the bias in [-0.5, 0.5] with padding keys at the model's -1e9 and
//! one key at -inf. Tolerances are stated at each assertion (max absolute difference, relative
//! ones scaled by max(1, |reference|)).

mod common;

use std::path::PathBuf;

use common::{assert_central_differences, max_abs_diff, uniform, values};

use candle_core::{DType, Device, Tensor, Var, D};
use trainer::kernels::flash_attention;
use trainer::kernels::flash_attn::plan::{
    backward, backward_on, forward, forward_on, max_head_dim, Cores, FlashDims,
};
use trainer::kernels::flash_attn::reference;
use trainer::kernels::plan::acc_dtype;

/// The model's finite "minus infinity" (`model::batch`).
const MASKED: f64 = -1e9;

fn tensor(v: Vec<f64>, shape: &[usize], dtype: DType) -> Tensor {
    Tensor::from_vec(v, shape, &Device::Cpu)
        .and_then(|t| t.to_dtype(dtype))
        .expect("tensor")
}

fn dims(b: usize, heads: usize, kv_heads: usize, t: usize, s: usize, d: usize) -> FlashDims {
    FlashDims {
        b,
        heads,
        kv_heads,
        t,
        s,
        d,
    }
}

/// `[b, s]` key bias: row 0 left-padded (its first 3 keys at -1e9), key 5 of the last row at
/// -inf, small random biases elsewhere.
fn bias_values(b: usize, s: usize, seed: u64) -> Vec<f64> {
    let mut v = uniform(b * s, -0.5, 0.5, seed);
    v.iter_mut().take(s.min(3)).for_each(|x| *x = MASKED);
    if s > 5 {
        v[(b - 1) * s + 5] = f64::NEG_INFINITY;
    }
    v
}

struct Inputs {
    q: Tensor,
    k: Tensor,
    v: Tensor,
    bias: Tensor,
    /// Coefficients of the loss `sum(o · c)`.
    c: Tensor,
}

fn inputs(fd: FlashDims, dtype: DType, seed: u64) -> Inputs {
    let q_shape = [fd.b, fd.heads, fd.t, fd.d];
    let k_shape = [fd.b, fd.kv_heads, fd.s, fd.d];
    Inputs {
        q: tensor(uniform(fd.q_len(), -1.0, 1.0, seed), &q_shape, dtype),
        k: tensor(uniform(fd.k_len(), -1.0, 1.0, seed + 1), &k_shape, dtype),
        v: tensor(uniform(fd.k_len(), -1.0, 1.0, seed + 2), &k_shape, dtype),
        bias: tensor(bias_values(fd.b, fd.s, seed + 3), &[fd.b, fd.s], DType::F32),
        c: tensor(uniform(fd.q_len(), -1.0, 1.0, seed + 4), &q_shape, dtype),
    }
}

/// The dense `[b, 1, t, s]` mask of the op's semantics (as `model::batch` builds it from a bias).
fn dense_mask(bias: &Tensor, t: usize) -> Tensor {
    let (b, s) = bias.dims2().expect("bias [b, s]");
    let bv = values(bias);
    let mut m = Vec::with_capacity(b * t * s);
    for bi in 0..b {
        for i in 0..t {
            let slot = s - t + i;
            m.extend((0..s).map(|j| match j.cmp(&slot) {
                std::cmp::Ordering::Less => bv[bi * s + j],
                std::cmp::Ordering::Equal => 0.0,
                std::cmp::Ordering::Greater => f64::NEG_INFINITY,
            }));
        }
    }
    tensor(m, &[b, 1, t, s], DType::F64)
}

/// KV heads repeated for their query heads: `[b, hkv, s, d]` → `[b, hkv · rep, s, d]`.
fn repeat_kv(x: &Tensor, rep: usize) -> candle_core::Result<Tensor> {
    let (b, hkv, s, d) = x.dims4()?;
    x.unsqueeze(2)?
        .expand((b, hkv, rep, s, d))?
        .reshape((b, hkv * rep, s, d))
}

/// The formula as candle's plain ops, in the inputs' dtype.
fn plain(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    scale: f64,
) -> candle_core::Result<Tensor> {
    let rep = q.dim(1)? / k.dim(1)?;
    let (k, v) = (repeat_kv(k, rep)?, repeat_kv(v, rep)?);
    let mask = dense_mask(bias, q.dim(2)?).to_dtype(q.dtype())?;
    let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&mask)?;
    candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(&v.contiguous()?)
}

type Attn = fn(&Tensor, &Tensor, &Tensor, &Tensor, f64) -> candle_core::Result<Tensor>;

/// `(o, [dq, dk, dv])` of the loss `sum(f(q, k, v) · c)` by autograd.
fn value_and_grads(f: Attn, x: &Inputs, scale: f64) -> (Tensor, [Tensor; 3]) {
    let vars = [&x.q, &x.k, &x.v].map(|t| Var::from_tensor(t).expect("var"));
    let o = f(
        vars[0].as_tensor(),
        vars[1].as_tensor(),
        vars[2].as_tensor(),
        &x.bias,
        scale,
    )
    .expect("attention");
    let grads = (&o * &x.c)
        .and_then(|l| l.sum_all()?.backward())
        .expect("backward");
    let g = vars.map(|v| grads.get(v.as_tensor()).expect("gradient").clone());
    (o, g)
}

/// Shapes: one query and key; GQA (4 heads on 2 KV heads), `T` not a multiple of a block's 16
/// queries; a KV cache offset (5 queries over 70 slots: three key tiles); the largest head dim.
fn cases(dtype: DType) -> Vec<FlashDims> {
    vec![
        dims(1, 1, 1, 1, 1, 1),
        dims(2, 4, 2, 21, 21, 24),
        dims(1, 2, 1, 5, 70, 40),
        dims(1, 1, 1, 40, 40, max_head_dim(dtype)),
    ]
}

#[test]
fn values_and_gradients_match_plain_ops() {
    for (dtype, tol) in [(DType::F64, 1e-13), (DType::F32, 2e-6)] {
        for (i, fd) in cases(dtype).into_iter().enumerate() {
            let x = inputs(fd, dtype, 10 + i as u64);
            let scale = 1.0 / (fd.d as f64).sqrt();
            let (o1, g1) = value_and_grads(flash_attention, &x, scale);
            let (o2, g2) = value_and_grads(plain, &x, scale);
            assert_eq!(o1.dims(), x.q.dims());
            assert_eq!(o1.dtype(), dtype);
            let pairs = [
                ("o", &o1, &o2),
                ("dq", &g1[0], &g2[0]),
                ("dk", &g1[1], &g2[1]),
                ("dv", &g1[2], &g2[2]),
            ];
            for (name, a, b) in pairs {
                let d = max_abs_diff(a, b);
                assert!(
                    d <= tol,
                    "{dtype:?} {fd:?}: {name} max diff {d:e} > {tol:e}"
                );
            }
        }
    }
}

#[test]
fn gradients_match_finite_differences_f64() {
    let fd = dims(1, 2, 1, 3, 5, 4);
    let scale = 0.5;
    let x = inputs(fd, DType::F64, 30);
    let (_, g) = value_and_grads(flash_attention, &x, scale);
    for (which, grad) in g.iter().enumerate() {
        let base = [&x.q, &x.k, &x.v][which];
        let loss = |vals: &[f64]| -> f64 {
            let t = Tensor::from_slice(vals, base.dims(), &Device::Cpu).expect("input");
            let mut args = [x.q.clone(), x.k.clone(), x.v.clone()];
            args[which] = t;
            (flash_attention(&args[0], &args[1], &args[2], &x.bias, scale).expect("op") * &x.c)
                .and_then(|l| l.sum_all()?.to_scalar::<f64>())
                .expect("loss")
        };
        let name = ["dq", "dk", "dv"][which];
        assert_central_differences(name, loss, base, grad, 1e-5, 1e-8);
    }
}

#[test]
fn half_precision_is_close_to_f32() {
    for (dtype, tol) in [(DType::F16, 2e-3), (DType::BF16, 1.6e-2)] {
        let fd = dims(2, 4, 2, 21, 21, 24);
        let x = inputs(fd, dtype, 40);
        let o = flash_attention(&x.q, &x.k, &x.v, &x.bias, 0.2).expect("op");
        assert_eq!(o.dtype(), dtype);
        let f32 = |t: &Tensor| t.to_dtype(DType::F32).expect("f32");
        let want = plain(&f32(&x.q), &f32(&x.k), &f32(&x.v), &x.bias, 0.2).expect("plain");
        let d = max_abs_diff(&o, &want);
        assert!(d <= tol, "{dtype:?}: max diff {d:e} > {tol:e}");
    }
}

#[test]
fn rejects_bad_inputs() {
    let fd = dims(2, 4, 2, 6, 8, 16);
    let x = inputs(fd, DType::F32, 50);
    let e = |r: candle_core::Result<Tensor>| r.expect_err("bad input").to_string();
    // k with a different head dim, v unlike k, a per-query bias, S < T, a U32 q.
    let short = x.k.narrow(3, 0, 8).expect("narrow");
    assert!(e(flash_attention(&x.q, &short, &x.v, &x.bias, 1.0)).contains("[2, 2, 8, 8]"));
    let other_v = x.v.narrow(2, 0, 7).expect("narrow");
    assert!(e(flash_attention(&x.q, &x.k, &other_v, &x.bias, 1.0)).contains("[2, 2, 7, 16]"));
    let bias3 = x.bias.unsqueeze(1).expect("3-D");
    assert!(e(flash_attention(&x.q, &x.k, &x.v, &bias3, 1.0)).contains("[2, 1, 8]"));
    let (k4, v4, b4) = (
        x.k.narrow(2, 0, 4).expect("k"),
        x.v.narrow(2, 0, 4).expect("v"),
        x.bias.narrow(1, 0, 4).expect("bias"),
    );
    assert!(e(flash_attention(&x.q, &k4, &v4, &b4, 1.0)).contains("6 queries but only 4 key slots"));
    let q3 = x.q.narrow(1, 0, 3).expect("3 heads");
    assert!(e(flash_attention(&q3, &x.k, &x.v, &x.bias, 1.0)).contains("not a multiple"));
    let ints = x.q.to_dtype(DType::U32).expect("u32");
    assert!(e(flash_attention(&ints, &x.k, &x.v, &x.bias, 1.0)).contains("U32"));
    // A head dim beyond the shared-memory tiles.
    let wide = dims(1, 1, 1, 2, 2, 129);
    let xw = inputs(wide, DType::F32, 51);
    assert!(e(flash_attention(&xw.q, &xw.k, &xw.v, &xw.bias, 1.0)).contains("head dim"));
    assert!(!trainer::kernels::flash_attn::supports(DType::F32, 129));
    assert!(trainer::kernels::flash_attn::supports(DType::BF16, 128));
    assert!(!trainer::kernels::flash_attn::supports(DType::F64, 128));
    assert!(forward(DType::U8, fd, 1.0).is_err());
    assert!(backward(DType::F32, dims(1, 1, 1, 0, 1, 1), 1.0).is_err());
}

/// The forward's packed `[o | lse]` and the backward's `[dq | dk | dv]` of the reference, for the
/// emulator comparisons: `(packed, aux, grads)` with `aux = [packed | do, dlse | bias]`.
fn reference_runs(x: &Inputs, fd: FlashDims, dtype: DType, scale: f64) -> (Tensor, Tensor, Tensor) {
    let acc = acc_dtype(dtype);
    let kv = Tensor::cat(&[&x.k, &x.v], 0).expect("kv");
    let (qv, kvv, bv) = (values(&x.q), values(&kv), values(&x.bias));
    // The inputs as the kernels see them (already rounded to `dtype`), in f64.
    let packed = reference::forward(&qv, &kvv, &bv, fd, scale);
    let grad_out = uniform(fd.packed_len(), -1.0, 1.0, 77);
    let aux: Vec<f64> = packed.iter().chain(&grad_out).chain(&bv).copied().collect();
    let packed_t = tensor(packed, &[fd.packed_len()], acc);
    let aux_t = tensor(aux, &[fd.aux_len()], acc);
    // The reference backward reads the aux as the kernels get it (in the accumulator dtype).
    let aux_acc = values(&aux_t);
    let grads = reference::backward(&qv, &kvv, &aux_acc, fd, scale);
    (packed_t, aux_t, tensor(grads, &[fd.grads_len()], dtype))
}

/// The forward and backward plans of `fd` on `cores` on the emulator against the reference,
/// within `(forward, backward)` tolerances relative to max(1, |reference|).
fn assert_plans_match_reference(
    x: &Inputs,
    fd: FlashDims,
    (dtype, cores): (DType, Cores),
    scale: f64,
    tol: (f64, f64),
) {
    let (packed, aux, grads) = reference_runs(x, fd, dtype, scale);
    assert!(
        values(&packed).iter().all(|v| v.is_finite()),
        "{fd:?}: reference not finite"
    );
    let kv = Tensor::cat(&[&x.k, &x.v], 0).expect("kv");
    let bias = x.bias.to_dtype(acc_dtype(dtype)).expect("bias");
    let what = format!("{dtype:?} {cores:?} {fd:?}");
    let f = forward_on(dtype, fd, scale, cores).expect("forward plan");
    let ins = [x.q.clone(), kv.clone(), bias];
    common::assert_emulated(&f, &ins, &packed, tol.0, &format!("{what} fwd"));
    let b = backward_on(dtype, fd, scale, cores).expect("backward plan");
    let ins = [x.q.clone(), kv, aux];
    common::assert_emulated(&b, &ins, &grads, tol.1, &format!("{what} bwd"));
}

/// Every plan (forward, backward; 4 dtypes on the CUDA cores, f16/bf16 on the tensor cores)
/// through the CPU emulation of CUDA against the CPU reference.
#[test]
fn emulated_kernels_match_reference() {
    // CUDA cores. Forward (accumulator-dtype output): the kernel's online softmax in f32 (f64)
    // against the reference's two passes in f64 — f32 rounding only, also for f16/bf16 inputs.
    // Backward (element-dtype output): f32 accumulation, then one rounding to the dtype.
    // Tensor cores: the probabilities (and ds) enter their products rounded to the dtype, so
    // the forward also carries the dtype's rounding.
    let cases_by_dtype = [
        (DType::F64, Cores::Simt, 1e-12, 1e-12),
        (DType::F32, Cores::Simt, 2e-6, 2e-6),
        (DType::F16, Cores::Simt, 2e-6, 1e-3),
        (DType::BF16, Cores::Simt, 2e-6, 8e-3),
        (DType::F16, Cores::Tensor, TC_F16.0, TC_F16.1),
        (DType::BF16, Cores::Tensor, TC_BF16.0, TC_BF16.1),
    ];
    for (dtype, cores, fwd_tol, bwd_tol) in cases_by_dtype {
        for (i, fd) in cases(dtype).into_iter().enumerate() {
            let x = inputs(fd, dtype, 60 + i as u64);
            let scale = 1.0 / (fd.d as f64).sqrt();
            assert_plans_match_reference(&x, fd, (dtype, cores), scale, (fwd_tol, bwd_tol));
        }
    }
}

/// `(forward, backward)` tolerances of the tensor-core kernels (see
/// `emulated_kernels_match_reference`).
/// Measured worst cases (emulator, the shapes of `cases` and of the tile-edge test): f16 4.7e-5
/// forward, 6.3e-4 backward; bf16 4.4e-4 and 6.1e-3 — the backward's is the final rounding of
/// the gradients to the dtype plus ds rounded to it for its products.
const TC_F16: (f64, f64) = (1.5e-4, 1.5e-3);
const TC_BF16: (f64, f64) = (1.5e-3, 1.2e-2);

/// The module's sources (`flash_attn.cu` and the headers it includes) copied under the target
/// dir with `from` replaced by `to` in `file` (where it must occur once); returns the copy of
/// `flash_attn.cu`.
fn mutated_source(name: &str, file: &str, from: &str, to: &str) -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/cuda-emu/mutants").join(name);
    std::fs::create_dir_all(&dir).expect("mutant dir");
    for f in ["flash_attn.cu", "flash_attn_tc.cuh", "common.cuh"] {
        let src = std::fs::read_to_string(root.join("kernels").join(f)).expect("source");
        let src = if f == file {
            assert_eq!(
                src.matches(from).count(),
                1,
                "mutation {name}: {from:?} must occur once in {file}"
            );
            src.replace(from, to)
        } else {
            src
        };
        std::fs::write(dir.join(f), src).expect("mutant");
    }
    dir.join("flash_attn.cu")
}

/// A mutant's result: it must run (a compile error would "catch" nothing) and differ from `want`
/// by more than `min_diff`.
fn assert_mismatch(got: Result<Vec<Tensor>, String>, want: &Tensor, min_diff: f64, what: &str) {
    let out = got.unwrap_or_else(|e| panic!("{what}: the mutant did not run: {e}"));
    let got = out[0].reshape(want.dims()).expect("shape");
    let d = max_abs_diff(&got, want);
    assert!(d > min_diff, "{what}: the mutant passed (max diff {d:e})");
}

/// A kernel mutant: `(name, from, to, forward?)` — `from` replaced by `to` in the source; its
/// forward or its backward plan is run.
type Mutant<'a> = (&'a str, &'a str, &'a str, bool);

/// Runs each mutant of `file` with the plans of `cores` on `x` (`fd`, `dtype`, `scale`): each must
/// run and differ from the reference by more than `min_rel · max(1, |reference|)` (forward,
/// backward).
fn assert_mutants_caught(
    file: &str,
    mutants: &[Mutant],
    (x, fd, dtype, scale): (&Inputs, FlashDims, DType, f64),
    cores: Cores,
    min_rel: (f64, f64),
) {
    let (packed, aux, grads) = reference_runs(x, fd, dtype, scale);
    let kv = Tensor::cat(&[&x.k, &x.v], 0).expect("kv");
    let fwd_ins = [x.q.clone(), kv.clone(), x.bias.clone()];
    let bwd_ins = [x.q.clone(), kv, aux];
    for &(name, from, to, in_fwd) in mutants {
        let src = mutated_source(name, file, from, to);
        let (plan, ins, want, rel) = if in_fwd {
            let f = forward_on(dtype, fd, scale, cores).expect("plan");
            (f, &fwd_ins, &packed, min_rel.0)
        } else {
            let b = backward_on(dtype, fd, scale, cores).expect("plan");
            (b, &bwd_ins, &grads, min_rel.1)
        };
        let got = common::cuda_emu::run_plan_with_source(&src, &plan, ins);
        assert_mismatch(got, want, rel * common::max_abs(want).max(1.0), name);
    }
}

/// The comparisons above can fail: a plan with a wrong argument and kernels with a dropped term
/// each give a mismatch (or an emulator error), never a pass.
#[test]
fn mutations_are_caught() {
    let fd = dims(2, 4, 2, 21, 21, 24);
    let dtype = DType::F32;
    let x = inputs(fd, dtype, 90);
    let scale = 0.2;
    let (packed, _, _) = reference_runs(&x, fd, dtype, scale);
    let kv = Tensor::cat(&[&x.k, &x.v], 0).expect("kv");
    let fwd_ins = [x.q.clone(), kv, x.bias.clone()];
    let mismatch = |got, want, what| assert_mismatch(got, want, 1e-3, what);
    // Plans: the scale, and heads ↔ KV heads swapped.
    let mut f = forward(dtype, fd, scale).expect("plan");
    let n = f.launches[0].args.len();
    f.launches[0].args[n - 1] = trainer::kernels::plan::Arg::F64(scale * 1.01);
    mismatch(common::cuda_emu::run_plan(&f, &fwd_ins), &packed, "scale");
    let mut f = forward(dtype, fd, scale).expect("plan");
    f.launches[0].args.swap(5, 6);
    let e = common::cuda_emu::run_plan(&f, &fwd_ins).expect_err("heads swapped: 4 / (2 / 4)");
    assert!(e.contains("division by zero"), "{e}");
    // Kernels: the bias, the causal bound, the dk scale, the delta term.
    let kernel_mutants: [Mutant; 4] = [
        ("no-bias", "if (j < qp) z += bias_j;", "", true),
        ("not-causal", "vis = j <= qp;", "vis = true;", true),
        (
            "dk-unscaled",
            "from_acc<T, A>(dk[rr][c] * sc)",
            "from_acc<T, A>(dk[rr][c])",
            false,
        ),
        (
            "no-delta",
            "if (lane == 0) dl[row] = acc;",
            "if (lane == 0) dl[row] = 0;",
            false,
        ),
    ];
    let case = (&x, fd, dtype, scale);
    assert_mutants_caught(
        "flash_attn.cu",
        &kernel_mutants,
        case,
        Cores::Simt,
        (1e-3, 1e-3),
    );
}

/// The tensor-core kernels' comparisons can fail too: each mutant misses the f16 tolerance by
/// more than tenfold (or does not run).
#[test]
fn tensor_core_mutations_are_caught() {
    let fd = dims(2, 4, 2, 21, 37, 24);
    let dtype = DType::F16;
    let x = inputs(fd, dtype, 91);
    // (name, from, to, forward?): the row of the output's softmax correction, the causal bound,
    // the orientation of K in S = Q K^T, the delta term of ds, the dk scale, the P^T used for dV,
    // the dO the delta kernel hands to the products.
    let mutants: [Mutant; 7] = [
        (
            "tc-row-map",
            "rows |= (unsigned)f.x[i] << (4 * i);",
            "rows |= 0u << (4 * i);",
            true,
        ),
        (
            "tc-not-causal",
            "z[8 * q8 + u] = vis && i < t ? zz : -INFINITY;",
            "z[8 * q8 + u] = i < t ? zz : -INFINITY;",
            true,
        ),
        (
            "tc-k-not-transposed",
            "ColB<T> bf;\n      ld(bf, &b[n * 16][c * 16], TC_LD);",
            "RowB<T> bf;\n      ld(bf, &b[n * 16][c * 16], TC_LD);",
            true,
        ),
        (
            "tc-no-delta",
            "ds[u] = p * (dp[u] - dlt);",
            "ds[u] = p * dp[u];",
            false,
        ),
        (
            "tc-dk-unscaled",
            "store_rows(dkh, dk, sc,",
            "store_rows(dkh, dk, 1.f,",
            false,
        ),
        (
            "tc-dv-from-ds",
            "weighted_sum<T, NF, TC_QT / 16, TC_PLD_Q>(dv, pw[warp], gt);",
            "weighted_sum<T, NF, TC_QT / 16, TC_PLD_Q>(dv, dsw[warp], gt);",
            false,
        ),
        (
            "tc-dout-from-o",
            "if (dout) dout[row * d + c] = from_acc<T, A>(g[c]);",
            "if (dout) dout[row * d + c] = from_acc<T, A>(o[c]);",
            false,
        ),
    ];
    // All in flash_attn_tc.cuh but the delta kernel's, which is flash_attn.cu's.
    let (delta, tc): (Vec<Mutant>, Vec<Mutant>) =
        mutants.into_iter().partition(|m| m.0 == "tc-dout-from-o");
    let case = (&x, fd, dtype, 0.2);
    let min = (10.0 * TC_F16.0, 10.0 * TC_F16.1);
    assert_mutants_caught("flash_attn_tc.cuh", &tc, case, Cores::Tensor, min);
    assert_mutants_caught("flash_attn.cu", &delta, case, Cores::Tensor, min);
}

/// The plans at the Qwen2.5-32B training shape (40 query heads on 8 KV heads, head dim 128,
/// micro-batch 2 × 4096 tokens) stay within CUDA's limits, with the geometry worked out by hand.
#[test]
fn plans_at_production_sizes_stay_within_cuda_limits() {
    let fd = dims(2, 40, 8, 4096, 4096, 128);
    // Tensor cores (the default for bf16): 64 queries per forward / dq block, 64 keys per dk/dv
    // block; CUDA cores: 16, 8 and 8.
    for (cores, fwd_grid, bwd_grids) in [
        (
            Cores::Tensor,
            (64, 40, 2),
            [(81_920, 1, 1), (64, 40, 2), (64, 8, 2)],
        ),
        (
            Cores::Simt,
            (256, 40, 2),
            [(81_920, 1, 1), (512, 40, 2), (512, 8, 2)],
        ),
    ] {
        let f = forward_on(DType::BF16, fd, 0.088, cores).expect("forward");
        f.validate().expect("forward within limits");
        assert_eq!(f.launches[0].grid, fwd_grid);
        assert_eq!(f.launches[0].block, (128, 1, 1));
        let b = backward_on(DType::BF16, fd, 0.088, cores).expect("backward");
        b.validate().expect("backward within limits");
        let grids: Vec<_> = b.launches.iter().map(|l| l.grid).collect();
        assert_eq!(grids, bwd_grids);
    }
    // Defaults: tensor cores for bf16 both ways, for f16 only forward (its backward keeps dO
    // and dS in f32); the kernel built for the smallest padded head dim (32, 64, 128) that fits.
    let kernels = |p: trainer::kernels::plan::Plan| -> Vec<String> {
        p.launches.into_iter().map(|l| l.kernel).collect()
    };
    let fwd = |dtype, d| kernels(forward(dtype, dims(1, 2, 1, 8, 8, d), 1.0).expect("forward"));
    let bwd = |dtype, d| kernels(backward(dtype, dims(1, 2, 1, 8, 8, d), 1.0).expect("backward"));
    assert_eq!(fwd(DType::BF16, 128), ["flash_attn_tc_fwd_bf16_d128"]);
    assert_eq!(fwd(DType::F16, 40), ["flash_attn_tc_fwd_f16_d64"]);
    assert_eq!(fwd(DType::BF16, 1), ["flash_attn_tc_fwd_bf16_d32"]);
    assert_eq!(fwd(DType::F32, 64), ["flash_attn_fwd_f32"]);
    assert_eq!(
        bwd(DType::BF16, 64),
        [
            "flash_attn_tc_delta_bf16",
            "flash_attn_tc_dq_bf16_d64",
            "flash_attn_tc_dkdv_bf16_d64"
        ]
    );
    assert_eq!(
        bwd(DType::F16, 64),
        [
            "flash_attn_delta_f32",
            "flash_attn_dq_f16",
            "flash_attn_dkdv_f16"
        ]
    );
    let e = forward_on(DType::F32, fd, 0.088, Cores::Tensor).expect_err("f32 on tensor cores");
    assert!(e.to_string().contains("f16 or bf16"), "{e}");
    // 2^31 query rows overflow the kernels' int row count.
    let e = forward(
        DType::BF16,
        dims(1, 1 << 16, 1 << 16, 1 << 15, 1 << 15, 8),
        1.0,
    )
    .expect_err("2^47 rows");
    assert!(e.to_string().contains("query rows"), "{e}");
}

/// The PTX kernels against the CPU reference, values and gradients, on `cuda:0`.
#[cfg(feature = "cuda")]
#[test]
#[ignore = "needs a CUDA device: cargo test --features cuda --test kernels_flash_attn -- --ignored"]
fn cuda_kernels_match_cpu_reference() {
    let gpu = Device::new_cuda(0).expect("this test needs a CUDA device (cuda:0)");
    let on_gpu = |t: &Tensor| t.to_device(&gpu).expect("to gpu");
    for (dtype, rel) in [
        (DType::F64, 1e-12),
        (DType::F32, 2e-6),
        (DType::F16, 2e-3),
        (DType::BF16, 1.6e-2),
    ] {
        let mut shapes = cases(dtype);
        // Several blocks each way, head dims 64 and 128 (the tensor-core kernels' production
        // variants), a KV cache offset.
        shapes.push(dims(2, 8, 2, 300, 330, 64));
        if max_head_dim(dtype) >= 128 {
            shapes.push(dims(1, 4, 2, 200, 260, 128));
        }
        for (i, fd) in shapes.into_iter().enumerate() {
            let x = inputs(fd, dtype, 100 + i as u64);
            let scale = 1.0 / (fd.d as f64).sqrt();
            let cpu = value_and_grads(flash_attention, &x, scale);
            let xg = Inputs {
                q: on_gpu(&x.q),
                k: on_gpu(&x.k),
                v: on_gpu(&x.v),
                bias: on_gpu(&x.bias),
                c: on_gpu(&x.c),
            };
            let dev = value_and_grads(flash_attention, &xg, scale);
            let pairs = [
                ("o", &cpu.0, &dev.0),
                ("dq", &cpu.1[0], &dev.1[0]),
                ("dk", &cpu.1[1], &dev.1[1]),
                ("dv", &cpu.1[2], &dev.1[2]),
            ];
            for (name, a, b) in pairs {
                let b = b.to_device(&Device::Cpu).expect("to cpu");
                let d = max_abs_diff(a, &b);
                let tol = rel * common::max_abs(a).max(1.0);
                assert!(
                    d <= tol,
                    "{dtype:?} {fd:?} {name}: max diff {d:e} > {tol:e}"
                );
            }
        }
    }
}

/// Edge cases of the tiling on the emulator against the reference: five query heads per KV head,
/// queries spanning several forward/dq blocks with a KV cache offset that is not a multiple of a
/// key tile, a head dim that is neither below nor a multiple of 32, and rows whose whole first
/// key tile (and more) is padding at `-inf` (every key of that tile invisible but the own slot);
/// 70 queries over 100 slots span two tensor-core blocks of 64 queries and two of 64 keys (head
/// dims 16 and 128: the smallest and the production kernel variants).
#[test]
fn emulated_kernels_match_reference_on_tile_edges() {
    let variants = [
        (DType::F32, Cores::Simt, (2e-6, 2e-6)),
        (DType::BF16, Cores::Simt, (2e-6, 8e-3)),
        (DType::BF16, Cores::Tensor, TC_BF16),
        (DType::F16, Cores::Tensor, TC_F16),
    ];
    for (dtype, cores, tol) in variants {
        let shapes = [
            dims(2, 5, 1, 17, 50, 33),
            dims(1, 2, 2, 40, 73, 32),
            dims(1, 2, 1, 70, 100, 16),
            dims(1, 2, 1, 70, 100, 128),
        ];
        for (i, fd) in shapes.into_iter().enumerate() {
            let mut x = inputs(fd, dtype, 200 + i as u64);
            let mut bv = bias_values(fd.b, fd.s, 210 + i as u64);
            // Row 0: the first 45 key slots are padding at -inf (covering the first tile and
            // part of the second); the last row: alternating padding at the model's -1e9.
            bv.iter_mut()
                .take(45.min(fd.s))
                .for_each(|x| *x = f64::NEG_INFINITY);
            for j in (0..fd.s).step_by(2) {
                bv[(fd.b - 1) * fd.s + j] = MASKED;
            }
            x.bias = tensor(bv, &[fd.b, fd.s], DType::F32);
            let scale = 1.0 / (fd.d as f64).sqrt();
            assert_plans_match_reference(&x, fd, (dtype, cores), scale, tol);
        }
    }
}
