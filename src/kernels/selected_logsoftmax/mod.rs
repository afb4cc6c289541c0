//! Fused selective log-softmax with backward: per row of `logits: [N, V]`, the log-probability
//! of the row's target token under `softmax(logits / T)`, and optionally the entropy of that
//! distribution (a metric without gradient). The log-probabilities of the GRPO loss.
//!
//! candle's composition (`/ T`, `max`, `sub`, `exp`, `sum`, `log`, `gather`) keeps several
//! `[N, V]` intermediates for the backward; here the forward reads each row once and keeps only
//! the per-row `logsumexp`, and the backward writes
//! `∂logits[i, j] = g_i / T · (1[j = t_i] − softmax(logits_i / T)_j)` in one more pass.
//!
//! How the `logsumexp` reaches the backward: the op is a [`CustomOp2`] over `(logits, targets)`
//! whose output is one packed `[N, 2]` (or `[N, 3]` with the entropy) tensor of rows
//! `(lp, lse[, entropy])` in the accumulator dtype. The public function returns views of its
//! columns (the entropy detached); the op's backward gets the packed output as `res`, so it
//! reads `lse` there — no state in the op, nothing device-specific, no `[N, V]` temporary.
//!
//! CPU: [`reference`]; CUDA: `kernels/logsoftmax.cu` (logits f32, f64, f16, bf16; sums in f32,
//! f64 for f64).

#[cfg(feature = "cuda")]
mod cuda;
pub mod plan;
pub mod reference;

use crate::kernels::host::{by_dtype, is_float, slice};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, DType, Layout, Shape, Tensor, WithDType};
use std::sync::Arc;

/// The op's name in errors.
const OP: &str = "selected_log_softmax";

use crate::kernels::plan::acc_dtype;

/// Per-row `log softmax(logits / temperature)[target]` of `logits: [N, V]` (f32, f64, f16 or
/// bf16), differentiable w.r.t. `logits`; with `entropy`, also the per-row entropy
/// `−Σ_j p_ij log p_ij` (no gradient).
///
/// `targets` holds `N` u32 token ids (shape `[N]` or `[N, 1]`) on the logits' device. Both
/// outputs have shape `[N]` and the accumulator dtype: f32, or f64 for f64 logits (bf16/f16
/// logits need no up-cast first). The gradient w.r.t. `logits` has the logits' dtype.
///
/// Errors name the offending shape, dtype, device, target or temperature: the logits must be a
/// non-empty 2-D float tensor, every target below `V` (checked with one reduction over the
/// targets, a device sync on CUDA), and the temperature finite and positive.
pub fn selected_log_softmax(
    logits: &Tensor,
    targets: &Tensor,
    temperature: f64,
    entropy: bool,
) -> candle_core::Result<(Tensor, Option<Tensor>)> {
    let v = check_inputs(logits, targets, temperature)?;
    let max = targets.flatten_all()?.max(0)?.to_scalar::<u32>()?;
    if max as usize >= v {
        candle_core::bail!(
            "selected_log_softmax: target token id {max} is outside the vocabulary of {v}"
        );
    }
    apply(logits, targets, temperature, entropy)
}

/// [`selected_log_softmax`] for targets the caller has already checked against the vocabulary
/// (the model's chunked log-probs check all of a batch's targets once, instead of one device
/// sync per chunk). A target outside `[0, V)` gives a NaN log-probability, never an
/// out-of-bounds read.
pub(crate) fn selected_log_softmax_in_vocab(
    logits: &Tensor,
    targets: &Tensor,
    temperature: f64,
    entropy: bool,
) -> candle_core::Result<(Tensor, Option<Tensor>)> {
    check_inputs(logits, targets, temperature)?;
    apply(logits, targets, temperature, entropy)
}

/// Checks shapes, dtypes, devices and the temperature; returns the vocabulary size `V`.
fn check_inputs(logits: &Tensor, targets: &Tensor, temperature: f64) -> candle_core::Result<usize> {
    let (n, v) = match logits.dims() {
        &[n, v] if n > 0 && v > 0 => (n, v),
        dims => candle_core::bail!(
            "selected_log_softmax: logits have shape {dims:?}; expected a non-empty [N, V]"
        ),
    };
    if !is_float(logits.dtype()) {
        candle_core::bail!(
            "selected_log_softmax: logits are {:?}; expected f32/f64/f16/bf16",
            logits.dtype()
        );
    }
    if targets.dtype() != DType::U32 || !(targets.dims() == [n] || targets.dims() == [n, 1]) {
        candle_core::bail!(
            "selected_log_softmax: targets are {:?} with shape {:?}; expected u32 [{n}] or [{n}, 1]",
            targets.dtype(),
            targets.dims()
        );
    }
    if !logits.device().same_device(targets.device()) {
        candle_core::bail!(
            "selected_log_softmax: logits on {:?}, targets on {:?}; expected one device",
            logits.device().location(),
            targets.device().location()
        );
    }
    if !(temperature.is_finite() && temperature > 0.0) {
        candle_core::bail!(
            "selected_log_softmax: temperature {temperature} must be finite and positive"
        );
    }
    Ok(v)
}

/// The op on checked inputs.
fn apply(
    logits: &Tensor,
    targets: &Tensor,
    temperature: f64,
    entropy: bool,
) -> candle_core::Result<(Tensor, Option<Tensor>)> {
    let targets = targets.flatten_all()?.contiguous()?;
    super::count(super::Op::SelectedLogSoftmax);
    let logits = logits.contiguous()?;
    let op = Forward {
        inv_t: 1.0 / temperature,
        entropy,
    };
    let packed = logits.apply_op2_arc(&targets, Arc::new(Box::new(op)))?;
    let lp = packed.narrow(1, 0, 1)?.squeeze(1)?;
    let ent = if entropy {
        Some(packed.narrow(1, 2, 1)?.squeeze(1)?.detach())
    } else {
        None
    };
    Ok((lp, ent))
}

/// `(logits, targets)` → packed `[N, 2 or 3]` rows `(lp, lse[, entropy])`; its backward applies
/// [`Backward`].
struct Forward {
    inv_t: f64,
    entropy: bool,
}

/// `dlogits` from `(logits, targets, gl)`, `gl: [N, 2]` = (gradient of `lp`, `lse`) per row.
struct Backward {
    inv_t: f64,
}

impl CustomOp2 for Forward {
    fn name(&self) -> &'static str {
        "trainer-selected-log-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, v) = rows_vocab(l1)?;
        let targets = slice::<u32>(OP, s2, l2)?;
        check_targets(targets, n)?;
        let packed = by_dtype!(
            OP,
            s1.dtype(),
            cpu_forward(s1, l1, targets, v, self.inv_t, self.entropy)
        )?;
        let out = if s1.dtype() == DType::F64 {
            CpuStorage::F64(packed)
        } else {
            CpuStorage::F32(packed.into_iter().map(|x| x as f32).collect())
        };
        Ok((out, Shape::from((n, plan::packed_cols(self.entropy)))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (n, _) = rows_vocab(l1)?;
        let out = cuda::forward(s1, l1, s2, l2, self.inv_t, self.entropy)?;
        Ok((out, Shape::from((n, plan::packed_cols(self.entropy)))))
    }

    fn bwd(
        &self,
        logits: &Tensor,
        targets: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // Only `lp` carries a gradient: `lse` is not returned by the public function and the
        // entropy is detached there.
        let g = grad.narrow(1, 0, 1)?;
        let lse = res.narrow(1, 1, 1)?.detach();
        let gl = Tensor::cat(&[&g, &lse], 1)?
            .to_dtype(acc_dtype(logits.dtype()))?
            .contiguous()?;
        let op = Backward { inv_t: self.inv_t };
        let dx = logits.apply_op3_no_bwd(targets, &gl, &op)?;
        Ok((Some(dx), None))
    }
}

impl CustomOp3 for Backward {
    fn name(&self) -> &'static str {
        "trainer-selected-log-softmax-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, v) = rows_vocab(l1)?;
        let targets = slice::<u32>(OP, s2, l2)?;
        check_targets(targets, n)?;
        let gl: Vec<f64> = match s3 {
            CpuStorage::F64(_) => slice::<f64>(OP, s3, l3)?.to_vec(),
            _ => slice::<f32>(OP, s3, l3)?
                .iter()
                .map(|&x| f64::from(x))
                .collect(),
        };
        if gl.len() != 2 * n {
            candle_core::bail!(
                "selected_log_softmax backward: {} gradient/lse values for {n} rows",
                gl.len()
            );
        }
        let out = by_dtype!(
            OP,
            s1.dtype(),
            cpu_backward(s1, l1, targets, &gl, v, self.inv_t)
        )?;
        Ok((out, l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let out = cuda::backward(s1, l1, s2, l2, s3, l3, self.inv_t)?;
        Ok((out, l1.shape().clone()))
    }
}

fn cpu_forward<T: WithDType>(
    s: &CpuStorage,
    l: &Layout,
    targets: &[u32],
    vocab: usize,
    inv_t: f64,
    entropy: bool,
) -> candle_core::Result<Vec<f64>> {
    let x = slice::<T>(OP, s, l)?;
    Ok(reference::forward(x, targets, vocab, inv_t, entropy))
}

fn cpu_backward<T: WithDType>(
    s: &CpuStorage,
    l: &Layout,
    targets: &[u32],
    gl: &[f64],
    vocab: usize,
    inv_t: f64,
) -> candle_core::Result<CpuStorage> {
    let x = slice::<T>(OP, s, l)?;
    Ok(T::to_cpu_storage_owned(reference::backward(
        x, targets, gl, vocab, inv_t,
    )))
}

fn check_targets(targets: &[u32], rows: usize) -> candle_core::Result<()> {
    if targets.len() != rows {
        candle_core::bail!(
            "selected_log_softmax: {} targets for {rows} rows of logits",
            targets.len()
        );
    }
    Ok(())
}

/// `(N, V)` of 2-D logits, both non-zero.
fn rows_vocab(l: &Layout) -> candle_core::Result<(usize, usize)> {
    match l.dims() {
        &[n, v] if n > 0 && v > 0 => Ok((n, v)),
        dims => candle_core::bail!(
            "selected_log_softmax: logits have shape {dims:?}; expected a non-empty [N, V]"
        ),
    }
}
