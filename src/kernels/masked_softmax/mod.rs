//! Attention softmax with scale and additive mask, with backward, as one op:
//! `p = softmax(scores · scale + mask)` over the last dim.
//!
//! candle's composition (scale, mask add, then a differentiable softmax of five ops) keeps the
//! masked scores and the softmax's intermediates for the backward pass; here the forward is one kernel and the backward one
//! more, from the saved output `p` alone: `∂s = scale · p ⊙ (g − Σ g ⊙ p)`.
//!
//! CPU: [`reference`]; CUDA: `kernels/softmax.cu` (f32, f64, f16, bf16; max and sums in f32,
//! f64 for f64).

#[cfg(feature = "cuda")]
mod cuda;
pub mod plan;
pub mod reference;

use crate::kernels::host::{by_dtype, is_float, slice};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor, WithDType};
use std::sync::Arc;

/// The op's name in errors.
const OP: &str = "masked_softmax";

use crate::kernels::plan::acc_dtype;
use plan::SoftmaxDims;

/// `softmax(scores · scale + mask)` over the last dim, differentiable in `scores`.
///
/// `scores: [B, ..., T, S]` (rank ≥ 3; the dims between `B` and `T`, e.g. heads, share the mask)
/// and `mask: [B, T, S]` or `[B, 1, ..., T, S]`, additive, may hold `-inf`. A row whose every
/// entry is `-inf` after masking gives zeros (and a zero gradient), not NaN. The mask is a
/// constant (no gradient); it may be any float dtype and is converted to the accumulator dtype
/// (f32, f64 for f64 scores), which is lossless for the model's f32 mask. Inputs are made
/// contiguous. Errors name the offending shape or dtype.
pub fn masked_softmax(scores: &Tensor, mask: &Tensor, scale: f64) -> candle_core::Result<Tensor> {
    let dims = softmax_dims(scores.dims(), mask.dims())?;
    if dims.is_empty() {
        candle_core::bail!(
            "masked_softmax: scores {:?} must be non-empty",
            scores.dims()
        );
    }
    for (name, t) in [("scores", scores), ("mask", mask)] {
        if !is_float(t.dtype()) {
            candle_core::bail!(
                "masked_softmax: {name} is {:?}; expected f32/f64/f16/bf16",
                t.dtype()
            );
        }
    }
    let mask = mask
        .detach()
        .to_dtype(acc_dtype(scores.dtype()))?
        .contiguous()?;
    super::count(super::Op::MaskedSoftmax);
    let op = MaskedSoftmax { dims, scale };
    scores
        .contiguous()?
        .apply_op2_arc(&mask, Arc::new(Box::new(op)))
}

/// The [`SoftmaxDims`] of `scores` with `mask`, or an error naming both shapes.
fn softmax_dims(scores: &[usize], mask: &[usize]) -> candle_core::Result<SoftmaxDims> {
    let bad = || {
        candle_core::Error::Msg(format!(
            "masked_softmax: scores {scores:?} need rank ≥ 3 ([B, ..., T, S]) and mask {mask:?} \
             [B, T, S] or [B, 1, ..., T, S]"
        ))
    };
    let r = scores.len();
    let (Some(&b), Some(&seq), Some(&cols)) =
        (scores.first(), scores.get(r.wrapping_sub(2)), scores.last())
    else {
        return Err(bad());
    };
    if r < 3 {
        return Err(bad());
    }
    let m = mask.len();
    let mask_ok = m >= 3
        && mask.first() == Some(&b)
        && mask.get(m - 2..) == Some(&[seq, cols][..])
        && mask
            .get(1..m - 2)
            .is_some_and(|mid| mid.iter().all(|&d| d == 1));
    if !mask_ok {
        return Err(bad());
    }
    let group = scores.get(1..r - 2).map_or(1, |g| g.iter().product());
    Ok(SoftmaxDims {
        b,
        group,
        seq,
        cols,
    })
}

/// The forward op on `(scores, mask)`; its backward applies [`Backward`] to `(p, grad)`.
struct MaskedSoftmax {
    dims: SoftmaxDims,
    scale: f64,
}

/// `ds` from `(p, grad)`.
struct Backward {
    dims: SoftmaxDims,
    scale: f64,
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "trainer-masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (s, m) = ((s1, l1), (s2, l2));
        let out = by_dtype!(
            OP,
            s1.dtype(),
            cpu_forward::<_, acc>(s, m, self.dims, self.scale)
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
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let out = cuda::forward((s1, l1), (s2, l2), self.dims, self.scale)?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _scores: &Tensor,
        _mask: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let op = Backward {
            dims: self.dims,
            scale: self.scale,
        };
        let ds = res.apply_op2_no_bwd(&grad.contiguous()?, &op)?;
        Ok((Some(ds), None))
    }
}

impl CustomOp2 for Backward {
    fn name(&self) -> &'static str {
        "trainer-masked-softmax-backward"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (p, g) = ((s1, l1), (s2, l2));
        let out = by_dtype!(OP, s1.dtype(), cpu_backward(p, g, self.dims, self.scale))?;
        Ok((out, l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let out = cuda::backward((s1, l1), (s2, l2), self.dims, self.scale)?;
        Ok((out, l1.shape().clone()))
    }
}

fn cpu_forward<T: WithDType, M: WithDType>(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    dims: SoftmaxDims,
    scale: f64,
) -> candle_core::Result<CpuStorage> {
    let (scores, mask) = (slice::<T>(OP, s1, l1)?, slice::<M>(OP, s2, l2)?);
    if scores.len() != dims.len() || mask.len() != dims.mask_len() {
        candle_core::bail!(
            "masked_softmax: {} scores and {} mask elements for {dims:?}",
            scores.len(),
            mask.len()
        );
    }
    Ok(T::to_cpu_storage_owned(reference::forward(
        scores, mask, dims, scale,
    )))
}

fn cpu_backward<T: WithDType>(
    (s1, l1): (&CpuStorage, &Layout),
    (s2, l2): (&CpuStorage, &Layout),
    dims: SoftmaxDims,
    scale: f64,
) -> candle_core::Result<CpuStorage> {
    let (p, g) = (slice::<T>(OP, s1, l1)?, slice::<T>(OP, s2, l2)?);
    if p.len() != dims.len() || g.len() != dims.len() {
        candle_core::bail!(
            "masked_softmax backward: {} outputs and {} gradients for {dims:?}",
            p.len(),
            g.len()
        );
    }
    Ok(T::to_cpu_storage_owned(reference::backward(
        p, g, dims.cols, scale,
    )))
}
