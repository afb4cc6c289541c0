//! CPU reference of the selective log-softmax: the math of `kernels/logsoftmax.cu` over
//! contiguous rows of length `vocab`, in f64 whatever the element type, with the textbook two
//! passes per row (max, then the sum of exponentials) where the kernel uses one online pass.
//!
//! With `z = x · inv_t`, `lse = log Σ_j exp(z_j)`, `p = exp(z − lse)` and `t` the row's target:
//! `lp = z_t − lse`, `H = Σ_j p_j (lse − z_j)` (terms with `p_j = 0` skipped: `0 log 0 = 0`),
//! `dx_j = g · inv_t · (1[j = t] − p_j)`.
//!
//! Callers guarantee `targets.len()` rows of `vocab > 0` logits in `x` (and `gl.len() == 2 ·
//! rows`); a target outside the vocabulary gives `lp = NaN` and no one-hot term.

use candle_core::WithDType;

/// `(lse, lp)` of one row.
fn lse_lp<T: WithDType>(row: &[T], target: u32, inv_t: f64) -> (f64, f64) {
    let m = row
        .iter()
        .fold(f64::NEG_INFINITY, |m, z| m.max(z.to_f64() * inv_t));
    let s: f64 = row.iter().map(|z| (z.to_f64() * inv_t - m).exp()).sum();
    let lse = m + s.ln();
    let lp = row
        .get(target as usize)
        .map_or(f64::NAN, |z| z.to_f64() * inv_t - lse);
    (lse, lp)
}

/// The packed forward rows `(lp, lse)`, or `(lp, lse, entropy)` with `entropy`, row-major.
pub fn forward<T: WithDType>(
    x: &[T],
    targets: &[u32],
    vocab: usize,
    inv_t: f64,
    entropy: bool,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(targets.len() * if entropy { 3 } else { 2 });
    for (row, &t) in x.chunks_exact(vocab).zip(targets) {
        let (lse, lp) = lse_lp(row, t, inv_t);
        out.push(lp);
        out.push(lse);
        if entropy {
            let h: f64 = row
                .iter()
                .map(|z| {
                    let z = z.to_f64() * inv_t;
                    let p = (z - lse).exp();
                    if p > 0.0 {
                        p * (lse - z)
                    } else {
                        0.0
                    }
                })
                .sum();
            out.push(h);
        }
    }
    out
}

/// `dlogits` given `gl`: per row the gradient of `lp` and the forward's `lse`.
pub fn backward<T: WithDType>(
    x: &[T],
    targets: &[u32],
    gl: &[f64],
    vocab: usize,
    inv_t: f64,
) -> Vec<T> {
    let mut dx = Vec::with_capacity(x.len());
    for ((row, &t), gl) in x.chunks_exact(vocab).zip(targets).zip(gl.chunks_exact(2)) {
        let (g, lse) = (gl[0] * inv_t, gl[1]);
        dx.extend(row.iter().enumerate().map(|(j, z)| {
            let hit = if j == t as usize { g } else { 0.0 };
            T::from_f64(hit - g * (z.to_f64() * inv_t - lse).exp())
        }));
    }
    dx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_row_has_log_vocab_entropy() {
        // Four equal logits: p = 1/4, lp = −log 4, lse = log 4 + z, H = log 4.
        let out = forward(&[2.0f64; 4], &[3], 4, 0.5, true);
        let l4 = 4f64.ln();
        let want = [-l4, 1.0 + l4, l4];
        for (a, b) in out.iter().zip(want) {
            assert!((a - b).abs() < 1e-15, "{out:?}");
        }
    }

    #[test]
    fn gradient_rows_sum_to_zero() {
        // Σ_j (1[j = t] − p_j) = 0, and the target entry is g · inv_t · (1 − p_t) = 1.5 · 2 · (1 − p_t).
        let x = [0.5f64, -1.0, 2.0];
        let fwd = forward(&x, &[2], 3, 2.0, false);
        let dx = backward(&x, &[2], &[1.5, fwd[1]], 3, 2.0);
        let sum: f64 = dx.iter().sum();
        assert!(sum.abs() < 1e-15, "{dx:?}");
        let p_t = fwd[0].exp();
        assert!((dx[2] - 3.0 * (1.0 - p_t)).abs() < 1e-15, "{dx:?}");
    }
}
