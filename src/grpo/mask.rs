//! Loss-mask helpers: truncated completions (`mask_truncated_completions`).

use candle_core::{DType, Tensor};

use super::error::{Error, Result};

/// TRL's test: a completion is truncated when its last token is neither an EOS nor the pad token
/// (it ran into `max_completion_length`). An empty completion is not truncated.
pub fn is_truncated(completion: &[u32], eos_and_pad: &[u32]) -> bool {
    completion.last().is_some_and(|t| !eos_and_pad.contains(t))
}

/// Zeroes the mask rows of truncated completions. `mask: [B, T]`, `truncated.len() == B`.
pub fn mask_truncated(mask: &Tensor, truncated: &[bool]) -> Result<Tensor> {
    let (b, _) = mask.dims2()?;
    if truncated.len() != b {
        return Err(Error::Invalid(format!(
            "{} truncation flags for a mask of {b} rows",
            truncated.len()
        )));
    }
    let keep: Vec<f32> = truncated
        .iter()
        .map(|&t| if t { 0.0 } else { 1.0 })
        .collect();
    let keep = Tensor::from_vec(keep, (b, 1), mask.device())?.to_dtype(mask.dtype())?;
    Ok(mask.broadcast_mul(&keep)?)
}

/// A `[B, T]` 0/1 mask tensor from per-row flags (true = the token carries loss), in `dtype`.
pub fn mask_from_rows(
    rows: &[Vec<bool>],
    dtype: DType,
    device: &candle_core::Device,
) -> Result<Tensor> {
    let b = rows.len();
    let t = rows.first().map_or(0, Vec::len);
    if rows.iter().any(|r| r.len() != t) {
        return Err(Error::Invalid("ragged mask rows".into()));
    }
    let flat: Vec<f32> = rows
        .iter()
        .flatten()
        .map(|&m| if m { 1.0 } else { 0.0 })
        .collect();
    Ok(Tensor::from_vec(flat, (b, t), device)?.to_dtype(dtype)?)
}
