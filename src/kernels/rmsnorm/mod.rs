//! Fused RMSNorm over the last dimension, with backward: `y = x / sqrt(mean(x²) + eps) * w`.
//!
//! One op instead of candle's six-op composition (`sqr`, `mean_keepdim`, `+ eps`, `sqrt`, `div`,
//! `mul`), which stores each intermediate for the backward pass. The backward recomputes the
//! per-row `1/rms` from `x`, so the only saved tensors are the inputs. candle's own
//! `candle_nn::ops::rms_norm` is fused too but has no backward, so it cannot be used in training.
//!
//! CPU: [`reference`]; CUDA: `kernels/rmsnorm.cu` (f32, f64, f16, bf16; sums in f32, f64 for f64).

#[cfg(feature = "cuda")]
mod cuda;
pub mod plan;
pub mod reference;

use crate::kernels::host::{by_dtype, is_float, slice};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor, WithDType};
use std::sync::Arc;

/// The op's name in errors.
const OP: &str = "rms_norm";

/// Fused RMSNorm of `x` (`[..., cols]`) with `weight` (`[cols]`), differentiable in both.
///
/// Inputs are made contiguous first. Errors name the offending shape or dtype: `weight` must be
/// 1-D with `cols` elements, both must share a float dtype, and `x` must not be empty.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f64) -> candle_core::Result<Tensor> {
    let cols = x.dims().last().copied().unwrap_or(0);
    if x.elem_count() == 0 || cols == 0 {
        candle_core::bail!("rms_norm: x has shape {:?}; it must be non-empty", x.dims());
    }
    if weight.dims() != [cols] {
        candle_core::bail!(
            "rms_norm: weight has shape {:?}, expected [{cols}] (the last dim of x {:?})",
            weight.dims(),
            x.dims()
        );
    }
    if x.dtype() != weight.dtype() || !is_float(x.dtype()) {
        candle_core::bail!(
            "rms_norm: x is {:?} and weight {:?}; both must be the same f32/f64/f16/bf16 dtype",
            x.dtype(),
            weight.dtype()
        );
    }
    super::count(super::Op::RmsNorm);
    let (x, weight) = (x.contiguous()?, weight.contiguous()?);
    x.apply_op2_arc(&weight, Arc::new(Box::new(RmsNorm { eps })))
}

/// Forward op on `(x, weight)`; its backward applies [`BackwardX`] and [`BackwardWeight`].
struct RmsNorm {
    eps: f64,
}

/// `dx` from `(x, weight, grad)`.
struct BackwardX {
    eps: f64,
}

/// `dweight` from `(x, grad)`.
struct BackwardWeight {
    eps: f64,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "trainer-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let cols = last_dim(l1)?;
        let out = by_dtype!(OP, s1.dtype(), cpu_forward(s1, l1, s2, l2, cols, self.eps))?;
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
        let out = cuda::forward(s1, l1, s2, l2, self.eps)?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        weight: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let grad = grad.contiguous()?;
        let eps = self.eps;
        let dx = x.apply_op3_no_bwd(weight, &grad, &BackwardX { eps })?;
        // A frozen weight (the model's norms under LoRA) needs no gradient: skip the column sums.
        let dw = if weight.track_op() {
            Some(x.apply_op2_no_bwd(&grad, &BackwardWeight { eps })?)
        } else {
            None
        };
        Ok((Some(dx), dw))
    }
}

impl CustomOp3 for BackwardX {
    fn name(&self) -> &'static str {
        "trainer-rms-norm-backward-x"
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
        let cols = last_dim(l1)?;
        let s = [(s1, l1), (s2, l2), (s3, l3)];
        let out = by_dtype!(OP, s1.dtype(), cpu_backward_x(s, cols, self.eps))?;
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
        let out = cuda::backward_x(s1, l1, s2, l2, s3, l3, self.eps)?;
        Ok((out, l1.shape().clone()))
    }
}

impl CustomOp2 for BackwardWeight {
    fn name(&self) -> &'static str {
        "trainer-rms-norm-backward-weight"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let cols = last_dim(l1)?;
        let out = by_dtype!(
            OP,
            s1.dtype(),
            cpu_backward_weight(s1, l1, s2, l2, cols, self.eps)
        )?;
        Ok((out, Shape::from(cols)))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let cols = last_dim(l1)?;
        let out = cuda::backward_weight(s1, l1, s2, l2, self.eps)?;
        Ok((out, Shape::from(cols)))
    }
}

fn cpu_forward<T: WithDType>(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    cols: usize,
    eps: f64,
) -> candle_core::Result<CpuStorage> {
    let (x, w) = (slice::<T>(OP, s1, l1)?, slice::<T>(OP, s2, l2)?);
    Ok(T::to_cpu_storage_owned(reference::forward(x, w, cols, eps)))
}

fn cpu_backward_x<T: WithDType>(
    s: [(&CpuStorage, &Layout); 3],
    cols: usize,
    eps: f64,
) -> candle_core::Result<CpuStorage> {
    let [(s1, l1), (s2, l2), (s3, l3)] = s;
    let (x, w, g) = (
        slice::<T>(OP, s1, l1)?,
        slice::<T>(OP, s2, l2)?,
        slice::<T>(OP, s3, l3)?,
    );
    same_len(x, g)?;
    Ok(T::to_cpu_storage_owned(reference::backward_x(
        x, w, g, cols, eps,
    )))
}

fn cpu_backward_weight<T: WithDType>(
    s1: &CpuStorage,
    l1: &Layout,
    s2: &CpuStorage,
    l2: &Layout,
    cols: usize,
    eps: f64,
) -> candle_core::Result<CpuStorage> {
    let (x, g) = (slice::<T>(OP, s1, l1)?, slice::<T>(OP, s2, l2)?);
    same_len(x, g)?;
    Ok(T::to_cpu_storage_owned(reference::backward_weight(
        x, g, cols, eps,
    )))
}

fn same_len<T>(x: &[T], g: &[T]) -> candle_core::Result<()> {
    if x.len() != g.len() {
        candle_core::bail!(
            "rms_norm backward: grad has {} elements, x {}",
            g.len(),
            x.len()
        );
    }
    Ok(())
}

/// The last dimension of `l` (the normalized one), non-zero.
fn last_dim(l: &Layout) -> candle_core::Result<usize> {
    match l.dims().last() {
        Some(&cols) if cols > 0 => Ok(cols),
        _ => candle_core::bail!(
            "rms_norm: input shape {:?} has no non-empty last dim",
            l.dims()
        ),
    }
}
