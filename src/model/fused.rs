//! Fused CPU kernels with an exact backward for the training forward (f32 / f64): RMS norm with a
//! frozen weight, rotary embedding, and the attention softmax with its scale and additive mask.
//!
//! Written with candle's elementwise ops, each of these is 5–10 graph nodes over activation-sized
//! tensors, and candle's backward materializes, zero-fills and accumulates a gradient per node.
//! Here each is one node with a one-pass forward and a one-pass backward:
//! - RMS norm `y = w ⊙ x · r`, `r = (mean(x²) + ε)^-½`:
//!   `∂x = r (w ⊙ g) − x r³ / H · Σ(w ⊙ g ⊙ x)`;
//! - rotary embedding, a rotation per pair `(x₁, x₂)`: the gradient is the inverse rotation
//!   (the same op with `−sin`);
//! - `p = softmax(s · scale + mask)`: `∂s = scale · p ⊙ (g − Σ g ⊙ p)`.
//!
//! Other devices and dtypes use the composed candle ops (same function).

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};

use super::error::Result;

/// Float element types of the fused kernels.
pub(crate) trait Elem: Copy + Send + Sync + 'static {
    fn f(self) -> f64;
    fn from_f64(x: f64) -> Self;
}

impl Elem for f32 {
    fn f(self) -> f64 {
        self as f64
    }
    fn from_f64(x: f64) -> Self {
        x as f32
    }
}

impl Elem for f64 {
    fn f(self) -> f64 {
        self
    }
    fn from_f64(x: f64) -> Self {
        x
    }
}

/// Whether the fused kernels apply to `x`.
pub(crate) fn fusable(x: &Tensor) -> bool {
    x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64)
}

/// Splits `rows` rows into contiguous ranges, one per worker thread.
pub(crate) fn row_ranges(rows: usize) -> Vec<std::ops::Range<usize>> {
    let threads = candle_core::utils::get_num_threads()
        .clamp(1, 16)
        .min(rows.max(1));
    let per = rows.div_ceil(threads).max(1);
    (0..rows)
        .step_by(per)
        .map(|s| s..(s + per).min(rows))
        .collect()
}

/// Runs `f(row_index, input_row, output_row)` over all rows of length `len` in parallel.
fn par_rows<T: Elem>(input: &[T], len: usize, f: impl Fn(usize, &[T], &mut [T]) + Sync) -> Vec<T> {
    let rows = input.len().checked_div(len).unwrap_or(0);
    let mut out = vec![T::from_f64(0.0); input.len()];
    std::thread::scope(|s| {
        let mut rest: &mut [T] = &mut out;
        for r in row_ranges(rows) {
            let (mine, tail) = rest.split_at_mut(r.len() * len);
            rest = tail;
            let f = &f;
            s.spawn(move || {
                for (k, i) in r.enumerate() {
                    if let (Some(x), Some(y)) = (
                        input.get(i * len..(i + 1) * len),
                        mine.get_mut(k * len..(k + 1) * len),
                    ) {
                        f(i, x, y);
                    }
                }
            });
        }
    });
    out
}

/// A contiguous copy of `t`'s elements as `T` (f32 or f64 tensors).
fn to_vec<T: Elem + candle_core::WithDType>(t: &Tensor) -> candle_core::Result<Vec<T>> {
    t.to_dtype(T::DTYPE)?.flatten_all()?.to_vec1::<T>()
}

/// The contiguous element slice of a CPU storage.
fn slice<'a, T: candle_core::WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
) -> candle_core::Result<&'a [T]> {
    let Some((a, b)) = l.contiguous_offsets() else {
        candle_core::bail!("fused op: non-contiguous input");
    };
    match s.as_slice::<T>()?.get(a..b) {
        Some(x) => Ok(x),
        None => candle_core::bail!("fused op: layout out of the storage's bounds"),
    }
}

macro_rules! dispatch {
    ($s:expr, $l:expr, |$x:ident| $body:expr) => {
        match $s {
            CpuStorage::F32(_) => {
                let $x = slice::<f32>($s, $l)?;
                CpuStorage::F32($body)
            }
            CpuStorage::F64(_) => {
                let $x = slice::<f64>($s, $l)?;
                CpuStorage::F64($body)
            }
            _ => candle_core::bail!("fused op: only f32 / f64"),
        }
    };
}

// ---------------------------------------------------------------- RMS norm

struct RmsNormOp {
    w: Vec<f64>,
    eps: f64,
}

impl RmsNormOp {
    fn fwd<T: Elem>(&self, x: &[T]) -> Vec<T> {
        let h = self.w.len();
        par_rows(x, h, |_, x, y| {
            let ms = x.iter().map(|v| v.f() * v.f()).sum::<f64>() / h as f64;
            let r = 1.0 / (ms + self.eps).sqrt();
            for ((y, x), w) in y.iter_mut().zip(x).zip(&self.w) {
                *y = T::from_f64(x.f() * r * w);
            }
        })
    }

    fn bwd_rows<T: Elem>(&self, x: &[T], g: &[T]) -> Vec<T> {
        let h = self.w.len();
        par_rows(x, h, |i, x, dx| {
            let Some(g) = g.get(i * h..(i + 1) * h) else {
                return;
            };
            let ms = x.iter().map(|v| v.f() * v.f()).sum::<f64>() / h as f64;
            let r = 1.0 / (ms + self.eps).sqrt();
            let dot: f64 = x
                .iter()
                .zip(g)
                .zip(&self.w)
                .map(|((x, g), w)| x.f() * g.f() * w)
                .sum();
            let c = r * r * r * dot / h as f64;
            for (((d, x), g), w) in dx.iter_mut().zip(x).zip(g).zip(&self.w) {
                *d = T::from_f64(r * w * g.f() - x.f() * c);
            }
        })
    }
}

impl CustomOp1 for RmsNormOp {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        if l.dims().last() != Some(&self.w.len()) {
            candle_core::bail!(
                "fused-rms-norm: input {:?} vs weight {}",
                l.dims(),
                self.w.len()
            );
        }
        Ok((dispatch!(s, l, |x| self.fwd(x)), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let out = match x.dtype() {
            DType::F32 => Tensor::from_vec(
                self.bwd_rows(&to_vec::<f32>(x)?, &to_vec::<f32>(g)?),
                x.shape().clone(),
                x.device(),
            )?,
            _ => Tensor::from_vec(
                self.bwd_rows(&to_vec::<f64>(x)?, &to_vec::<f64>(g)?),
                x.shape().clone(),
                x.device(),
            )?,
        };
        Ok(Some(out))
    }
}

/// `x / sqrt(mean(x²) + eps) * weight` over the last dimension; differentiable w.r.t. `x` only
/// (the weight is frozen).
pub(crate) fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> Result<Tensor> {
    let w: Vec<f64> = weight.to_dtype(DType::F64)?.to_vec1()?;
    Ok(x.contiguous()?.apply_op1(RmsNormOp { w, eps })?)
}

// ---------------------------------------------------------------- rotary embedding

struct RopeOp {
    /// `[B, T, D/2]` each, as f64.
    cos: Vec<f64>,
    sin: Vec<f64>,
    /// `(B, H, T, D)`.
    dims: (usize, usize, usize, usize),
}

impl RopeOp {
    fn apply<T: Elem>(&self, x: &[T], sign: f64) -> Vec<T> {
        let (_, h, t, d) = self.dims;
        let half = d / 2;
        par_rows(x, d, |row, x, y| {
            // row = ((b * H) + head) * T + pos
            let pos = row % t;
            let b = row / (t * h);
            let base = (b * t + pos) * half;
            let (x1, x2) = x.split_at(half);
            let (y1, y2) = y.split_at_mut(half);
            for i in 0..half {
                let (c, s) = match (self.cos.get(base + i), self.sin.get(base + i)) {
                    (Some(&c), Some(&s)) => (c, s * sign),
                    _ => (1.0, 0.0),
                };
                let (a, bb) = match (x1.get(i), x2.get(i)) {
                    (Some(a), Some(bb)) => (a.f(), bb.f()),
                    _ => continue,
                };
                if let (Some(o1), Some(o2)) = (y1.get_mut(i), y2.get_mut(i)) {
                    *o1 = T::from_f64(a * c - bb * s);
                    *o2 = T::from_f64(bb * c + a * s);
                }
            }
        })
    }
}

impl CustomOp1 for RopeOp {
    fn name(&self) -> &'static str {
        "fused-rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        if l.dims() != [self.dims.0, self.dims.1, self.dims.2, self.dims.3] {
            candle_core::bail!("fused-rope: input {:?} vs {:?}", l.dims(), self.dims);
        }
        Ok((dispatch!(s, l, |x| self.apply(x, 1.0)), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let out = match x.dtype() {
            DType::F32 => Tensor::from_vec(
                self.apply(&to_vec::<f32>(g)?, -1.0),
                x.shape().clone(),
                x.device(),
            )?,
            _ => Tensor::from_vec(
                self.apply(&to_vec::<f64>(g)?, -1.0),
                x.shape().clone(),
                x.device(),
            )?,
        };
        Ok(Some(out))
    }
}

/// Rotary embedding ("rotate half") of `x: [B, H, T, D]` with `cos, sin: [B, T, D/2]`.
pub(crate) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let (b, h, t, d) = x.dims4()?;
    let op = RopeOp {
        cos: cos.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?,
        sin: sin.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?,
        dims: (b, h, t, d),
    };
    if op.cos.len() != b * t * (d / 2) || op.sin.len() != op.cos.len() {
        return Err(super::error::Error::Invalid(format!(
            "rotary tables {:?} do not fit {:?}",
            cos.dims(),
            x.dims()
        )));
    }
    Ok(x.contiguous()?.apply_op1(op)?)
}

// ---------------------------------------------------------------- attention softmax

struct MaskedSoftmaxOp {
    /// `[B, T, S]` additive mask (shared by the heads), as f64.
    mask: Vec<f64>,
    scale: f64,
    /// Rows per batch entry of the input (`heads × T`), `T` and `S`.
    rows_per_b: usize,
    t: usize,
    s: usize,
}

impl MaskedSoftmaxOp {
    fn fwd<T: Elem>(&self, x: &[T]) -> Vec<T> {
        par_rows(x, self.s, |row, x, y| {
            let b = row / self.rows_per_b;
            let q = row % self.t;
            let base = (b * self.t + q) * self.s;
            let m = self.mask.get(base..base + self.s).unwrap_or(&[]);
            let mut mx = f64::NEG_INFINITY;
            for (v, mk) in x.iter().zip(m) {
                mx = mx.max(v.f() * self.scale + mk);
            }
            let mut sum = 0.0;
            for ((o, v), mk) in y.iter_mut().zip(x).zip(m) {
                let e = (v.f() * self.scale + mk - mx).exp();
                sum += e;
                *o = T::from_f64(e);
            }
            for o in y.iter_mut() {
                *o = T::from_f64(o.f() / sum);
            }
        })
    }

    fn bwd_rows<T: Elem>(&self, p: &[T], g: &[T]) -> Vec<T> {
        let s = self.s;
        par_rows(p, s, |row, p, dx| {
            let Some(g) = g.get(row * s..(row + 1) * s) else {
                return;
            };
            let dot: f64 = p.iter().zip(g).map(|(p, g)| p.f() * g.f()).sum();
            for ((d, p), g) in dx.iter_mut().zip(p).zip(g) {
                *d = T::from_f64(self.scale * p.f() * (g.f() - dot));
            }
        })
    }
}

impl CustomOp1 for MaskedSoftmaxOp {
    fn name(&self) -> &'static str {
        "fused-masked-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        if l.dims().last() != Some(&self.s) {
            candle_core::bail!(
                "fused-masked-softmax: input {:?}, {} keys",
                l.dims(),
                self.s
            );
        }
        Ok((dispatch!(s, l, |x| self.fwd(x)), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, p: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let out = match x.dtype() {
            DType::F32 => Tensor::from_vec(
                self.bwd_rows(&to_vec::<f32>(p)?, &to_vec::<f32>(g)?),
                x.shape().clone(),
                x.device(),
            )?,
            _ => Tensor::from_vec(
                self.bwd_rows(&to_vec::<f64>(p)?, &to_vec::<f64>(g)?),
                x.shape().clone(),
                x.device(),
            )?,
        };
        Ok(Some(out))
    }
}

/// `softmax(scores · scale + mask)` over the last dimension for `scores: [B, ..., T, S]` (all
/// heads of a batch entry between `B` and `T`) and `mask: [B, 1, T, S]`.
pub(crate) fn masked_softmax(scores: &Tensor, mask: &Tensor, scale: f64) -> Result<Tensor> {
    let dims = scores.dims();
    let (b, t, s) = match (
        dims.first(),
        dims.len().checked_sub(2).and_then(|i| dims.get(i)),
        dims.last(),
    ) {
        (Some(&b), Some(&t), Some(&s)) => (b, t, s),
        _ => {
            return Err(super::error::Error::Invalid(format!(
                "attention scores {dims:?} need rank ≥ 3"
            )))
        }
    };
    let mask: Vec<f64> = mask.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?;
    if mask.len() != b * t * s {
        return Err(super::error::Error::Invalid(format!(
            "attention mask of {} values does not fit scores {dims:?}",
            mask.len()
        )));
    }
    let op = MaskedSoftmaxOp {
        mask,
        scale,
        rows_per_b: scores.elem_count() / (b * s).max(1),
        t,
        s,
    };
    Ok(scores.contiguous()?.apply_op1(op)?)
}
