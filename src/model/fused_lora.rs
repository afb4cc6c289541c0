//! A LoRA linear layer as one graph node in training: `y = x Wᵀ + b + s · ((x Aᵀ) Bᵀ) ⊙ m`.
//!
//! Composed from candle ops, an adapted linear keeps every intermediate for the backward: the
//! base output, `(x Aᵀ) Bᵀ`, its scaled copy, the row-switched copy and the sum — three or four
//! tensors of the output's size per adapted linear, more than half of a layer's activation memory
//! when all seven linears are adapted. This node keeps only its output `y` (and references to
//! `x`, `A`, `B`, which exist anyway). Its forward runs the composed ops without a graph
//! (bit-identical to the composed path with a graph) and its backward is four small products and
//! one large one, recomputing `x Aᵀ` (`[m, r]`):
//!
//! `g' = s · g ⊙ m`, `∂A = (g' B)ᵀ x`, `∂B = g'ᵀ (x Aᵀ)`, `∂x = g W + (g' B) A` (only when `x`
//! is on the gradient path). The base weight and bias are frozen.
//!
//! Runs on every device (the forward is ordinary tensor code); the CPU tests exercise what CUDA
//! runs.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};

use super::checkpoint::Precomputed;
use super::error::Result;

/// The frozen parts and settings of one adapted linear.
pub(crate) struct LoraSpec<'a> {
    /// `[out, in]`.
    pub w: &'a Tensor,
    pub bias: Option<&'a Tensor>,
    pub scale: f64,
    /// `[B, 1, 1]` 0/1 per-row adapter switch.
    pub rows: Option<&'a Tensor>,
}

/// `x Wᵀ + b` with the frozen-linear backward (input gradient only).
pub(crate) fn base(x: &Tensor, spec: &LoraSpec) -> Result<Tensor> {
    let y = super::frozen::frozen_linear(x, spec.w)?;
    Ok(match spec.bias {
        Some(b) => y.broadcast_add(b)?,
        None => y,
    })
}

/// `s · ((x Aᵀ) Bᵀ) ⊙ m` in `x`'s dtype, composed (with a graph through whichever inputs have
/// one): two plain 2-D products over all rows, no per-row broadcast copies of `A` and `B`.
pub(crate) fn delta(x: &Tensor, a: &Tensor, b: &Tensor, spec: &LoraSpec) -> Result<Tensor> {
    let dt = x.dtype();
    let (a, b) = (a.to_dtype(dt)?, b.to_dtype(dt)?);
    let dims = x.dims();
    let k = dims.last().copied().unwrap_or(0);
    let m = x.elem_count().checked_div(k).unwrap_or(0);
    let mut out_dims = dims.to_vec();
    if let Some(last) = out_dims.last_mut() {
        *last = b.dim(0)?;
    }
    let d = x
        .reshape((m, k))?
        .matmul(&a.t()?)?
        .matmul(&b.t()?)?
        .reshape(out_dims)?;
    // A scale folded into `b` (model::lora::LoraConst) leaves 1.0: skip the op (×1 is exact).
    let d = if spec.scale == 1.0 {
        d
    } else {
        (d * spec.scale)?
    };
    Ok(match spec.rows {
        Some(r) => d.broadcast_mul(&r.to_dtype(dt)?)?,
        None => d,
    })
}

/// `base(x) + delta(x)` as one node with a gradient for `x`, `A` and `B` (see the module docs).
pub(crate) fn fused_lora_linear(
    x: &Tensor,
    a: &Tensor,
    b: &Tensor,
    spec: &LoraSpec,
) -> Result<Tensor> {
    let xd = x.detach();
    let value = (base(&xd, spec)? + delta(&xd, &a.detach(), &b.detach(), spec)?)?;
    let op = FusedLora {
        value: Precomputed::new(value),
        w: spec.w.clone(),
        scale: spec.scale,
        rows: spec.rows.cloned(),
    };
    Ok(x.apply_op3_arc(a, b, Arc::new(Box::new(op)))?)
}

struct FusedLora {
    value: Precomputed,
    w: Tensor,
    scale: f64,
    rows: Option<Tensor>,
}

impl CustomOp3 for FusedLora {
    fn name(&self) -> &'static str {
        "fused-lora-linear"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.value.cpu(self.name())
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.value.cuda(self.name())
    }

    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Gradients carry no graph of their own (as candle detaches the incoming gradient):
        // products with the tracked `x` would otherwise keep its whole graph alive for as long
        // as the gradient lives (e.g. a recomputed layer's activations in a checkpoint's stash).
        let track_x = x.track_op();
        let (x, a, b) = (&x.detach(), &a.detach(), &b.detach());
        let dt = x.dtype();
        let (n, k) = self.w.dims2()?;
        let m = x.elem_count() / k.max(1);
        let g = grad.detach().contiguous()?;
        let gm = match &self.rows {
            Some(r) => g.broadcast_mul(&r.to_dtype(dt)?)?,
            None => g.clone(),
        };
        let gm = (gm.reshape((m, n))? * self.scale)?;
        let (a_dt, b_dt) = (a.to_dtype(dt)?, b.to_dtype(dt)?);
        let x2 = x.contiguous()?.reshape((m, k))?;
        let gb = gm.matmul(&b_dt)?; // [m, r]
        let da = gb.t()?.matmul(&x2)?.to_dtype(a.dtype())?;
        let xa = x2.matmul(&a_dt.t()?)?; // [m, r], recomputed
        let db = gm.t()?.matmul(&xa)?.to_dtype(b.dtype())?;
        let dx = if track_x {
            let dx = (g.reshape((m, n))?.matmul(&self.w)? + gb.matmul(&a_dt)?)?;
            Some(dx.reshape(x.shape())?)
        } else {
            None
        };
        Ok((dx, Some(da), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Var};

    fn t(shape: &[usize], seed: u64, dtype: DType) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f64> = (0..n)
            .map(|i| (((i as u64 * 7919 + seed * 104_729) % 1000) as f64 / 500.0 - 1.0) * 0.5)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu)
            .and_then(|x| x.to_dtype(dtype))
            .unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a.to_dtype(DType::F64).unwrap() - b.to_dtype(DType::F64).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f64>()
            .unwrap()
    }

    /// The fused node against the composed ops: the same value (bit for bit) and the same
    /// gradients for `x`, `A` and `B`, with a bias and a per-row switch.
    #[test]
    fn matches_the_composed_graph() {
        // bf16 with 40 rows per batch entry: the production dtype, f32 adapters.
        for (dtype, tol, tt) in [
            (DType::F64, 1e-12, 3),
            (DType::F32, 1e-5, 3),
            (DType::BF16, 1e-6, 40),
        ] {
            let (bsz, k, n, r) = (2, 6, 5, 2);
            let w = t(&[n, k], 1, dtype);
            let bias = t(&[n], 2, dtype);
            let rows = Tensor::from_vec(vec![1f32, 0.0], (2, 1, 1), &Device::Cpu).unwrap();
            let spec = LoraSpec {
                w: &w,
                bias: Some(&bias),
                scale: 1.5,
                rows: Some(&rows),
            };
            let acc = if dtype == DType::F64 {
                DType::F64
            } else {
                DType::F32
            };
            let x = Var::from_tensor(&t(&[bsz, tt, k], 3, dtype)).unwrap();
            let a = Var::from_tensor(&t(&[r, k], 4, acc)).unwrap();
            let b = Var::from_tensor(&t(&[n, r], 5, acc)).unwrap();
            let c = t(&[bsz, tt, n], 6, dtype);
            let run = |fused: bool| {
                let y = if fused {
                    fused_lora_linear(x.as_tensor(), a.as_tensor(), b.as_tensor(), &spec).unwrap()
                } else {
                    (base(x.as_tensor(), &spec).unwrap()
                        + delta(x.as_tensor(), a.as_tensor(), b.as_tensor(), &spec).unwrap())
                    .unwrap()
                };
                let g = (&y * &c).unwrap().sum_all().unwrap().backward().unwrap();
                let grads: Vec<Tensor> = [&x, &a, &b]
                    .iter()
                    .map(|v| g.get(v.as_tensor()).unwrap().clone())
                    .collect();
                (y, grads)
            };
            let (y1, g1) = run(true);
            // Gradients carry no graph (one through `x` would keep its activations alive).
            assert!(
                g1.iter().all(|g| !g.track_op()),
                "{dtype:?}: a gradient has a graph"
            );
            let (y2, g2) = run(false);
            assert_eq!(max_diff(&y1, &y2), 0.0, "{dtype:?}: value");
            for (name, p, q) in [
                ("x", &g1[0], &g2[0]),
                ("A", &g1[1], &g2[1]),
                ("B", &g1[2], &g2[2]),
            ] {
                assert_eq!(p.dims(), q.dims());
                assert_eq!(p.dtype(), q.dtype(), "{name}");
                let d = max_diff(p, q);
                assert!(d <= tol, "{dtype:?}: ∂{name} differs by {d:e}");
            }
            // The switched-off row gets no adapter gradient contribution: ∂A, ∂B come from row 0.
            assert!(max_diff(&g1[1], &Tensor::zeros_like(&g1[1]).unwrap()) > 0.0);
        }
    }

    /// An input off the gradient path gets no gradient (no `g · W` product is spent on it).
    #[test]
    fn constant_input_gets_no_gradient() {
        let w = t(&[4, 3], 1, DType::F32);
        let spec = LoraSpec {
            w: &w,
            bias: None,
            scale: 2.0,
            rows: None,
        };
        let x = t(&[2, 3], 2, DType::F32);
        let a = Var::from_tensor(&t(&[2, 3], 3, DType::F32)).unwrap();
        let b = Var::from_tensor(&t(&[4, 2], 4, DType::F32)).unwrap();
        let y = fused_lora_linear(&x, a.as_tensor(), b.as_tensor(), &spec).unwrap();
        let g = y.sum_all().unwrap().backward().unwrap();
        assert!(g.get(&x).is_none());
        assert!(g.get(a.as_tensor()).is_some() && g.get(b.as_tensor()).is_some());
    }
}
