//! CPU reference of the masked attention softmax: the math of `kernels/softmax.cu`, accumulating
//! in f64 whatever the element type and rounding once to it.
//!
//! Row `r` of `scores: [B, group, T, S]` (flattened to rows of `S`) uses mask row
//! `(r / (group·T))·T + r % T` of `mask: [B, T, S]`:
//! `z = scores·scale + mask`, `p = exp(z − max z) / Σ exp(z − max z)`; a row whose every `z` is
//! `−inf` gives `p = 0` (candle's softmax and `model::fused` give NaN there). Backward from the
//! saved output: `ds = scale · p ⊙ (g − Σ g ⊙ p)`.
//!
//! Callers guarantee the lengths `dims` describes (the op checks them); anything beyond is ignored.

use candle_core::WithDType;

use super::plan::SoftmaxDims;

/// `p` for `scores` and `mask`.
pub fn forward<T: WithDType, M: WithDType>(
    scores: &[T],
    mask: &[M],
    dims: SoftmaxDims,
    scale: f64,
) -> Vec<T> {
    let mut p = vec![T::zero(); scores.len()];
    if dims.cols == 0 || dims.seq == 0 || dims.group == 0 {
        return p;
    }
    let rows_per_b = dims.group * dims.seq;
    let rows = scores
        .chunks_exact(dims.cols)
        .zip(p.chunks_exact_mut(dims.cols));
    for (r, (sr, pr)) in rows.enumerate() {
        let m0 = ((r / rows_per_b) * dims.seq + r % dims.seq) * dims.cols;
        let Some(mr) = mask.get(m0..m0 + dims.cols) else {
            break;
        };
        let z: Vec<f64> = sr
            .iter()
            .zip(mr)
            .map(|(s, m)| s.to_f64() * scale + m.to_f64())
            .collect();
        let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if mx == f64::NEG_INFINITY {
            continue; // fully masked: p stays 0
        }
        let sum: f64 = z.iter().map(|v| (v - mx).exp()).sum();
        for (o, v) in pr.iter_mut().zip(&z) {
            *o = T::from_f64((v - mx).exp() / sum);
        }
    }
    p
}

/// `ds` for the saved output `p` and the output gradient `g` (rows of `cols`).
pub fn backward<T: WithDType>(p: &[T], g: &[T], cols: usize, scale: f64) -> Vec<T> {
    let mut ds = vec![T::zero(); p.len()];
    if cols == 0 {
        return ds;
    }
    let rows = p.chunks_exact(cols).zip(g.chunks_exact(cols));
    for ((pr, gr), dr) in rows.zip(ds.chunks_exact_mut(cols)) {
        let dot: f64 = pr
            .iter()
            .zip(gr)
            .map(|(p, g)| p.to_f64() * g.to_f64())
            .sum();
        for ((d, p), g) in dr.iter_mut().zip(pr).zip(gr) {
            *d = T::from_f64(scale * p.to_f64() * (g.to_f64() - dot));
        }
    }
    ds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_entries_get_zero_and_the_rest_renormalize() {
        // One row of 3 keys, the middle one masked: p = softmax([0, 2·ln 2]) on the others.
        let dims = SoftmaxDims {
            b: 1,
            group: 1,
            seq: 1,
            cols: 3,
        };
        let scores = [0.0f64, 5.0, 2.0f64.ln()];
        let p = forward(&scores, &[0.0f64, f64::NEG_INFINITY, 0.0], dims, 2.0);
        assert_eq!(p[1], 0.0);
        assert!(
            (p[0] - 0.2).abs() < 1e-15 && (p[2] - 0.8).abs() < 1e-15,
            "{p:?}"
        );
    }

    #[test]
    fn fully_masked_row_is_zero_not_nan() {
        let dims = SoftmaxDims {
            b: 1,
            group: 1,
            seq: 1,
            cols: 2,
        };
        let p = forward(&[1.0f32, 2.0], &[f32::NEG_INFINITY; 2], dims, 1.0);
        assert_eq!(p, vec![0.0, 0.0]);
        assert_eq!(backward(&p, &[1.0, -1.0], 2, 1.0), vec![0.0, 0.0]);
    }
}
