//! Building blocks: RMSNorm, rotary embeddings and softmax, each in a differentiable form (training)
//! and a fused form (inference).

use candle_core::{DType, Device, Tensor, D};

use super::error::Result;

/// Precision for reductions (norms, softmax, log-probs): f32, or f64 when the model itself runs in
/// f64 (finite-difference gradient checks).
pub fn acc_dtype(dt: DType) -> DType {
    if dt == DType::F64 {
        DType::F64
    } else {
        DType::F32
    }
}

/// Which op set the forward pass may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Only ops with a backward: gradients reach every LoRA tensor.
    Train,
    /// Fused kernels allowed (they have no backward); for generation and scoring without grad.
    Infer,
}

/// Whether the fused (forward-only) kernels may be used: inference, and a dtype they support
/// (candle has no f64 fused rms-norm; f64 is only used by gradient checks anyway).
fn use_fused(x: &Tensor, mode: Mode) -> bool {
    mode == Mode::Infer && x.dtype() != DType::F64
}

/// Root-mean-square layer norm, computed in f32.
#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f64,
}

impl RmsNorm {
    pub fn new(weight: Tensor, eps: f64) -> Self {
        RmsNorm { weight, eps }
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        if use_fused(x, mode) {
            // Fused kernel: forward only (DESIGN.md §5). ok: inference path.
            Ok(candle_nn::ops::rms_norm(
                &x.contiguous()?,
                &self.weight,
                self.eps as f32,
            )?)
        } else if crate::kernels::enabled_on(x.device()) {
            // The CUDA kernel with its backward (kernels/rmsnorm.cu), in x's dtype.
            Ok(crate::kernels::rms_norm(x, &self.weight, self.eps)?)
        } else if super::fused::fusable(x) {
            // One node with an exact backward (the weight is frozen).
            super::fused::rms_norm(x, &self.weight, self.eps)
        } else {
            let dt = x.dtype();
            let xf = x.to_dtype(acc_dtype(dt))?;
            let ms = xf.sqr()?.mean_keepdim(D::Minus1)?;
            let normed = xf.broadcast_div(&(ms + self.eps)?.sqrt()?)?;
            Ok(normed.to_dtype(dt)?.broadcast_mul(&self.weight)?)
        }
    }
}

/// Rotary position embedding (the "rotate half" convention of HF Llama/Qwen).
#[derive(Debug, Clone)]
pub struct Rotary {
    inv_freq: Vec<f32>,
}

impl Rotary {
    pub fn new(head_dim: usize, theta: f64) -> Self {
        // Same arithmetic as transformers: inv_freq = 1 / theta^(2i/d) in f32.
        let inv_freq = (0..head_dim / 2)
            .map(|i| 1.0f32 / (theta as f32).powf((2 * i) as f32 / head_dim as f32))
            .collect();
        Rotary { inv_freq }
    }

    /// `cos, sin: [B, T, head_dim/2]` for per-row positions `positions[b][t]`.
    pub fn cos_sin(
        &self,
        positions: &[Vec<u32>],
        dtype: DType,
        device: &Device,
    ) -> Result<(Tensor, Tensor)> {
        let b = positions.len();
        let t = positions.first().map_or(0, Vec::len);
        let half = self.inv_freq.len();
        let mut cos = Vec::with_capacity(b * t * half);
        let mut sin = Vec::with_capacity(b * t * half);
        for row in positions {
            for &p in row {
                for &f in &self.inv_freq {
                    let a = p as f32 * f;
                    cos.push(a.cos());
                    sin.push(a.sin());
                }
            }
        }
        let cos = Tensor::from_vec(cos, (b, t, half), device)?.to_dtype(dtype)?;
        let sin = Tensor::from_vec(sin, (b, t, half), device)?.to_dtype(dtype)?;
        Ok((cos, sin))
    }

    /// Applies the rotation to `x: [B, H, T, D]` with `cos, sin: [B, T, D/2]`.
    pub fn apply(x: &Tensor, cos: &Tensor, sin: &Tensor, mode: Mode) -> Result<Tensor> {
        if use_fused(x, mode) {
            // Fused kernel: forward only. ok: inference path.
            Ok(candle_nn::rotary_emb::rope(&x.contiguous()?, cos, sin)?) // ok: inference path
        } else if crate::kernels::enabled_on(x.device()) {
            // The CUDA kernel with its backward (kernels/rope.cu).
            Ok(crate::kernels::rope(x, cos, sin)?)
        } else if super::fused::fusable(x) {
            super::fused::rope(x, cos, sin)
        } else {
            let d = x.dim(D::Minus1)?;
            let half = d / 2;
            let c = cos.unsqueeze(1)?;
            let s = sin.unsqueeze(1)?;
            let x1 = x.narrow(D::Minus1, 0, half)?;
            let x2 = x.narrow(D::Minus1, half, half)?;
            let r1 = (x1.broadcast_mul(&c)? - x2.broadcast_mul(&s)?)?;
            let r2 = (x2.broadcast_mul(&c)? + x1.broadcast_mul(&s)?)?;
            Ok(Tensor::cat(&[r1, r2], D::Minus1)?)
        }
    }
}

/// Softmax over the last dimension.
pub fn softmax_last(x: &Tensor, mode: Mode) -> Result<Tensor> {
    if use_fused(x, mode) {
        Ok(candle_nn::ops::softmax_last_dim(x)?) // ok: inference path
    } else {
        Ok(candle_nn::ops::softmax(x, D::Minus1)?)
    }
}

/// Row count up to which [`linear`] multiplies as `(W · xᵀ)ᵀ`.
const FEW_ROWS: usize = 32;

/// `x [.., in] · wᵀ` for a weight `w: [out, in]` (row-major, as stored by HF).
///
/// With few rows (decoding) candle's `x · wᵀ` makes gemm repack the whole weight on every call,
/// which costs more than the product itself; `(w · xᵀ)ᵀ` reads the weight in place and only
/// packs the small `x` (≈2–6× faster at 1–8 rows on CPU, bit-identical results). Many rows
/// (prefill, training) keep the usual form, where the packing is amortized, and so does every
/// non-CPU device. Differentiable.
pub fn linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    let dims = x.dims();
    let (Some(&k), Ok(out)) = (dims.last(), w.dim(0)) else {
        return Ok(x.broadcast_matmul(&w.t()?)?);
    };
    let rows = x.elem_count().checked_div(k).unwrap_or(0);
    if rows == 0 || x.rank() < 2 {
        return Ok(x.broadcast_matmul(&w.t()?)?);
    }
    let mut out_dims = dims.to_vec();
    if let Some(last) = out_dims.last_mut() {
        *last = out;
    }
    // The transposed form is a CPU gemm optimization; cuBLAS takes `x · wᵀ` directly, where the
    // transposed form would only add a copy of the output per linear.
    if rows > FEW_ROWS || !x.device().is_cpu() {
        // One 2-D product over all rows: a batched product against a broadcast weight would
        // make gemm repack the weight once per batch entry.
        let y = x.reshape((rows, k))?.matmul(&w.t()?)?;
        return Ok(y.reshape(out_dims)?);
    }
    let y = w.matmul(&x.reshape((rows, k))?.t()?)?.t()?.contiguous()?;
    Ok(y.reshape(out_dims)?)
}
