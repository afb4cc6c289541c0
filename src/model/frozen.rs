//! A frozen linear layer for training: `y = x · Wᵀ` whose backward returns only the input gradient.
//!
//! candle's `Matmul` backward always computes both operand gradients. For a frozen weight that
//! means one more `[in, out]` product per linear (as costly as the forward product), and since the
//! weight is not a variable its gradient is never consumed: it stays in the `GradStore` until the
//! store is dropped (with `broadcast_matmul` it is even `B` copies of the weight's size). This op
//! computes the product with the same backend gemm call (CPU gemm, cuBLAS on CUDA) and has a
//! backward of one product, `∂x = ∂y · W`. Exact: the forward is bit-identical to
//! `x.matmul(&w.t())` on the same device.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor};

use super::error::Result;

/// `x [.., in] · wᵀ` for a frozen `w: [out, in]`; differentiable w.r.t. `x` only.
///
/// Uses the custom op on CPU and CUDA when `x` is on the gradient path; otherwise (no graph
/// needed, or another device) the plain product.
pub fn frozen_linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let supported = x.device().is_cpu() || x.device().is_cuda();
    if !x.track_op() || !supported || w.track_op() {
        return super::layers::linear(x, w);
    }
    let x = x.contiguous()?;
    Ok(x.apply_op1(FrozenLinear { w: w.clone() })?)
}

struct FrozenLinear {
    /// `[out, in]`.
    w: Tensor,
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, xs: &CpuStorage, xl: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (ws, wl) = self.w.storage_and_layout();
        let Storage::Cpu(ws) = &*ws else {
            candle_core::bail!("frozen-linear: the weight is not on the CPU");
        };
        self.forward(xs, xl, ws, wl)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        xs: &candle_core::CudaStorage,
        xl: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (ws, wl) = self.w.storage_and_layout();
        let Storage::Cuda(ws) = &*ws else {
            candle_core::bail!("frozen-linear: the weight is not on the CUDA device");
        };
        self.forward(xs, xl, ws, wl)
    }

    fn bwd(
        &self,
        arg: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let (n, k) = self.w.dims2()?;
        let m = arg.elem_count() / k.max(1);
        let g = grad_res.contiguous()?.reshape((m, n))?.matmul(&self.w)?;
        Ok(Some(g.reshape(arg.shape())?))
    }
}

impl FrozenLinear {
    /// `x · wᵀ` on any backend: one `[m, k] × [k, n]` gemm with `w`'s transposed layout, as
    /// `x.matmul(&w.t())` would issue it.
    fn forward<S: BackendStorage>(
        &self,
        xs: &S,
        xl: &Layout,
        ws: &S,
        wl: &Layout,
    ) -> candle_core::Result<(S, Shape)> {
        let (n, k) = self.w.dims2()?;
        let dims = xl.dims();
        if dims.last() != Some(&k) || !xl.is_contiguous() {
            candle_core::bail!(
                "frozen-linear: input {:?} (contiguous: {}) does not fit weight [{n}, {k}]",
                dims,
                xl.is_contiguous()
            );
        }
        let m = xl.shape().elem_count() / k.max(1);
        let x2 = Layout::contiguous_with_offset((m, k), xl.start_offset());
        let wt = wl.transpose(0, 1)?;
        let out = xs.matmul(ws, (1, m, n, k), &x2, &wt)?;
        let mut out_dims = dims.to_vec();
        if let Some(last) = out_dims.last_mut() {
            *last = n;
        }
        Ok((out, Shape::from(out_dims)))
    }
}
