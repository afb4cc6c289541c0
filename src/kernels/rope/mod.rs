//! Rotary position embedding ("rotate half") with backward, as one op.
//!
//! candle's composition (`narrow` ×2, four broadcast `mul`s, `sub`, `add`, `cat`) stores every
//! intermediate for the backward pass; candle_nn's fused `rotary_emb::rope` has no backward. Here
//! the forward is one kernel and the backward is the same kernel rotating by minus the angle
//! (the rotation is orthogonal), so nothing is saved but the tables.
//!
//! CPU: [`reference`]; CUDA: `kernels/rope.cu` (f32, f64, f16, bf16; math in f32, f64 for f64).

#[cfg(feature = "cuda")]
mod cuda;
pub mod plan;
pub mod reference;

use crate::kernels::host::{by_dtype, is_float, slice};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor, WithDType};
use std::sync::Arc;

/// The op's name in errors.
const OP: &str = "rope";

use crate::kernels::plan::acc_dtype;
use plan::RopeDims;

/// Rotary embedding of `x: [B, H, T, D]` with per-batch-row tables `cos, sin: [B, T, D/2]`:
/// `y = [x₁·cos − x₂·sin, x₂·cos + x₁·sin]` for the halves `x₁, x₂` of the last dim.
///
/// Differentiable in `x` only: the tables are constants (positions), no gradient flows to them.
/// They may be any float dtype; the op converts them to the accumulator dtype (f32, f64 for f64
/// `x`), which is lossless for the model's tables (computed in f32, stored in the model dtype).
/// Inputs are made contiguous. Errors name the offending shape or dtype: `D` must be even and
/// non-zero, `x` non-empty and f32/f64/f16/bf16.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let (b, heads, seq, dim) = x.dims4()?;
    let dims = RopeDims { b, heads, seq, dim };
    if x.elem_count() == 0 || dim % 2 != 0 {
        candle_core::bail!(
            "rope: x has shape {:?}; it must be non-empty with an even last dim",
            x.dims()
        );
    }
    for (name, t) in [("cos", cos), ("sin", sin)] {
        if t.dims() != [b, seq, dim / 2] {
            candle_core::bail!(
                "rope: {name} has shape {:?}, expected [{b}, {seq}, {}] for x {:?}",
                t.dims(),
                dim / 2,
                x.dims()
            );
        }
        if !is_float(t.dtype()) {
            candle_core::bail!("rope: {name} is {:?}, expected a float dtype", t.dtype());
        }
    }
    if !is_float(x.dtype()) {
        candle_core::bail!("rope: x is {:?}; expected f32/f64/f16/bf16", x.dtype());
    }
    let acc = acc_dtype(x.dtype());
    let table = |t: &Tensor| t.detach().to_dtype(acc)?.contiguous();
    let (cos, sin) = (table(cos)?, table(sin)?);
    super::count(super::Op::Rope);
    let op = Rope {
        dims,
        inverse: false,
    };
    x.contiguous()?
        .apply_op3_arc(&cos, &sin, Arc::new(Box::new(op)))
}

/// The rotation of `(x, cos, sin)`; `inverse`: by minus the angle (the backward of the other).
struct Rope {
    dims: RopeDims,
    inverse: bool,
}

impl CustomOp3 for Rope {
    fn name(&self) -> &'static str {
        if self.inverse {
            "trainer-rope-backward"
        } else {
            "trainer-rope"
        }
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
        self.check(l1)?;
        let s = [(s1, l1), (s2, l2), (s3, l3)];
        let out = by_dtype!(
            OP,
            s1.dtype(),
            cpu_rotate::<_, acc>(s, self.dims, self.inverse)
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
        self.check(l1)?;
        let out = cuda::rotate([(s1, l1), (s2, l2), (s3, l3)], self.dims, self.inverse)?;
        Ok((out, l1.shape().clone()))
    }

    fn bwd(
        &self,
        _x: &Tensor,
        cos: &Tensor,
        sin: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = Rope {
            dims: self.dims,
            inverse: !self.inverse,
        };
        let dx = grad.contiguous()?.apply_op3_no_bwd(cos, sin, &op)?;
        Ok((Some(dx), None, None))
    }
}

impl Rope {
    fn check(&self, l: &Layout) -> candle_core::Result<()> {
        let d = self.dims;
        if l.dims() != [d.b, d.heads, d.seq, d.dim] {
            candle_core::bail!("rope: input {:?}, the op was built for {d:?}", l.dims());
        }
        Ok(())
    }
}

fn cpu_rotate<T: WithDType, C: WithDType>(
    s: [(&CpuStorage, &Layout); 3],
    dims: RopeDims,
    inverse: bool,
) -> candle_core::Result<CpuStorage> {
    let [(s1, l1), (s2, l2), (s3, l3)] = s;
    let (x, cos, sin) = (
        slice::<T>(OP, s1, l1)?,
        slice::<C>(OP, s2, l2)?,
        slice::<C>(OP, s3, l3)?,
    );
    if x.len() != dims.x_len() || cos.len() != dims.table_len() || sin.len() != dims.table_len() {
        candle_core::bail!(
            "rope: {} / {} / {} elements for x / cos / sin of {dims:?}",
            x.len(),
            cos.len(),
            sin.len()
        );
    }
    Ok(T::to_cpu_storage_owned(reference::rotate(
        x, cos, sin, dims, inverse,
    )))
}
