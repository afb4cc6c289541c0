//! `log softmax(logits / T)[target]` per row as one graph node (CPU, f32/f64 logits).
//!
//! Written with candle's elementwise ops, the log-softmax over a 49k vocabulary builds about ten
//! `[rows, vocab]` temporaries in the backward (the gradients of the shift, `exp`, the sum, the
//! gather, each materialized, zero-filled and accumulated). This op does the forward in one pass
//! per row (max, sum of exponentials, the picked logit, and optionally the entropy, which is a
//! metric and has no gradient) and the backward in one more:
//! `∂logits[i, j] = g_i / T · (1[j = target_i] − softmax(logits_i / T)_j)`.

use std::sync::{Arc, Mutex, PoisonError};

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Storage, Tensor};

use super::error::{Error, Result};
use super::fused::{row_ranges, Elem};

/// Per-row log-probabilities `[N]` of `targets` under `softmax(logits / temperature)` for
/// `logits: [N, V]` (f32 or f64, CPU), differentiable w.r.t. `logits`; with `entropy`, also the
/// per-row entropy `[N]` (no gradient).
pub fn selected_log_softmax(
    logits: &Tensor,
    targets: &[u32],
    temperature: f64,
    entropy: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let (n, v) = logits.dims2()?;
    if targets.len() != n {
        return Err(Error::Invalid(format!(
            "{} targets for {n} rows of logits",
            targets.len()
        )));
    }
    if let Some(t) = targets.iter().find(|&&t| t as usize >= v) {
        return Err(Error::Invalid(format!(
            "target token id {t} is outside the vocabulary of {v}"
        )));
    }
    let op = SelectedLogSoftmax {
        targets: targets.to_vec(),
        inv_t: 1.0 / temperature,
        entropy: Mutex::new(entropy.then(Vec::new)),
        lse: Mutex::new(Vec::new()),
    };
    let logits = logits.contiguous()?;
    let (lp, ent) = if logits.track_op() {
        let op = Arc::new(op);
        let lp = logits.apply_op1_arc(Arc::new(Box::new(SharedOp(op.clone()))))?;
        (lp, op.take_entropy())
    } else {
        let lp = logits.apply_op1_no_bwd(&op)?;
        (lp, op.take_entropy())
    };
    let ent = ent
        .map(|e| Tensor::from_vec(e, n, logits.device()))
        .transpose()?
        .map(|e| e.to_dtype(logits.dtype()))
        .transpose()?;
    Ok((lp, ent))
}

struct SelectedLogSoftmax {
    targets: Vec<u32>,
    inv_t: f64,
    /// Filled by the forward when asked for.
    entropy: Mutex<Option<Vec<f64>>>,
    /// Per-row `logsumexp(logits / T)`, kept by the forward for the backward.
    lse: Mutex<Vec<f64>>,
}

impl SelectedLogSoftmax {
    fn take_entropy(&self) -> Option<Vec<f64>> {
        self.entropy
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// The op behind an `Arc`, so that the caller can read what the forward left (the entropy).
struct SharedOp(Arc<SelectedLogSoftmax>);

/// Forward of rows `range`: `(log p(target), logsumexp, entropy)` per row.
fn forward_rows<T: Elem>(
    x: &[T],
    v: usize,
    targets: &[u32],
    inv_t: f64,
    range: std::ops::Range<usize>,
) -> Vec<(f64, f64, f64)> {
    range
        .map(|i| {
            let row = x.get(i * v..(i + 1) * v).unwrap_or(&[]);
            let m = row.iter().fold(f64::NEG_INFINITY, |m, &z| m.max(z.f()));
            let m = m * inv_t;
            let (mut s, mut sz) = (0.0f64, 0.0f64);
            for &z in row {
                let zt = z.f() * inv_t;
                let e = (zt - m).exp();
                s += e;
                sz += e * zt;
            }
            let lse = m + s.ln();
            let picked = targets
                .get(i)
                .and_then(|&t| row.get(t as usize))
                .map_or(f64::NAN, |z| z.f() * inv_t);
            // H = lse − E_p[z].
            (picked - lse, lse, lse - sz / s)
        })
        .collect()
}

fn run_forward<T: Elem>(
    op: &SelectedLogSoftmax,
    data: &[T],
    n: usize,
    v: usize,
) -> candle_core::Result<Vec<T>> {
    let parts: Vec<Vec<(f64, f64, f64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = row_ranges(n)
            .into_iter()
            .map(|r| s.spawn(move || forward_rows(data, v, &op.targets, op.inv_t, r)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let rows: Vec<(f64, f64, f64)> = parts.into_iter().flatten().collect();
    if rows.len() != n {
        candle_core::bail!("selected-log-softmax: a worker thread failed");
    }
    *op.lse.lock().unwrap_or_else(PoisonError::into_inner) = rows.iter().map(|r| r.1).collect();
    if let Some(e) = op
        .entropy
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        *e = rows.iter().map(|r| r.2).collect();
    }
    Ok(rows.iter().map(|r| T::from_f64(r.0)).collect())
}

impl CustomOp1 for SelectedLogSoftmax {
    fn name(&self) -> &'static str {
        "selected-log-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, v) = l.shape().dims2()?;
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("selected-log-softmax: non-contiguous logits");
        };
        let out = match s {
            CpuStorage::F32(x) => CpuStorage::F32(run_forward(self, slice(x, a, b)?, n, v)?),
            CpuStorage::F64(x) => CpuStorage::F64(run_forward(self, slice(x, a, b)?, n, v)?),
            _ => candle_core::bail!("selected-log-softmax: logits must be f32 or f64"),
        };
        Ok((out, Shape::from(n)))
    }

    fn bwd(&self, arg: &Tensor, _: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let (n, v) = arg.dims2()?;
        let lse = self
            .lse
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let g: Vec<f64> = grad.to_dtype(DType::F64)?.to_vec1()?;
        if lse.len() != n || g.len() != n {
            candle_core::bail!("selected-log-softmax: backward without a forward");
        }
        let arg = arg.contiguous()?;
        let (st, l) = arg.storage_and_layout();
        let Some((a, b)) = l.contiguous_offsets() else {
            candle_core::bail!("selected-log-softmax: non-contiguous logits");
        };
        let out = match &*st {
            Storage::Cpu(CpuStorage::F32(x)) => Tensor::from_vec(
                self.backward_rows(slice(x, a, b)?, v, &lse, &g),
                (n, v),
                arg.device(),
            )?,
            Storage::Cpu(CpuStorage::F64(x)) => Tensor::from_vec(
                self.backward_rows(slice(x, a, b)?, v, &lse, &g),
                (n, v),
                arg.device(),
            )?,
            _ => candle_core::bail!("selected-log-softmax: logits must be f32/f64 on the CPU"),
        };
        Ok(Some(out))
    }
}

impl SelectedLogSoftmax {
    fn backward_rows<T: Elem>(&self, x: &[T], v: usize, lse: &[f64], g: &[f64]) -> Vec<T> {
        let n = lse.len();
        let mut out: Vec<T> = vec![T::from_f64(0.0); n * v];
        std::thread::scope(|s| {
            let mut rest: &mut [T] = &mut out;
            for r in row_ranges(n) {
                let (mine, tail) = rest.split_at_mut(r.len() * v);
                rest = tail;
                s.spawn(move || {
                    for (k, i) in r.enumerate() {
                        let (Some(row), Some(dst)) =
                            (x.get(i * v..(i + 1) * v), mine.get_mut(k * v..(k + 1) * v))
                        else {
                            continue;
                        };
                        let gi = g.get(i).copied().unwrap_or(0.0) * self.inv_t;
                        let li = lse.get(i).copied().unwrap_or(0.0);
                        for (d, &z) in dst.iter_mut().zip(row) {
                            *d = T::from_f64(-gi * (z.f() * self.inv_t - li).exp());
                        }
                        if let Some(d) = self.targets.get(i).and_then(|&t| dst.get_mut(t as usize))
                        {
                            *d = T::from_f64(d.f() + gi);
                        }
                    }
                });
            }
        });
        out
    }
}

impl CustomOp1 for SharedOp {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        self.0.cpu_fwd(s, l)
    }
    fn bwd(&self, a: &Tensor, r: &Tensor, g: &Tensor) -> candle_core::Result<Option<Tensor>> {
        self.0.bwd(a, r, g)
    }
}

fn slice<T>(v: &[T], a: usize, b: usize) -> candle_core::Result<&[T]> {
    match v.get(a..b) {
        Some(s) => Ok(s),
        None => candle_core::bail!("selected-log-softmax: layout out of the storage's bounds"),
    }
}
