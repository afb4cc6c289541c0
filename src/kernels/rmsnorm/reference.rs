//! CPU reference of fused RMSNorm: the math of `kernels/rmsnorm.cu` over contiguous rows of
//! length `cols`, accumulating in f64 whatever the element type.
//!
//! With `r = 1 / sqrt(mean(x²) + eps)` per row and `g` the gradient of the output:
//! `y = x·r·w`, `dx = r·g·w − x·r³·mean(g·w·x)`, `dw = Σ_rows g·x·r`.
//!
//! Callers guarantee `x.len() == g.len()`, `w.len() == cols` and `cols > 0` (the op checks them);
//! a trailing partial row would be ignored.

use candle_core::WithDType;

/// `1 / sqrt(mean(row²) + eps)`.
pub fn inv_rms<T: WithDType>(row: &[T], eps: f64) -> f64 {
    let ss: f64 = row.iter().map(|v| v.to_f64() * v.to_f64()).sum();
    1.0 / (ss / row.len() as f64 + eps).sqrt()
}

/// `y = x · r · w`, row by row.
pub fn forward<T: WithDType>(x: &[T], w: &[T], cols: usize, eps: f64) -> Vec<T> {
    let mut y = Vec::with_capacity(x.len());
    for row in x.chunks_exact(cols) {
        let r = inv_rms(row, eps);
        y.extend(
            row.iter()
                .zip(w)
                .map(|(xv, wv)| T::from_f64(xv.to_f64() * r * wv.to_f64())),
        );
    }
    y
}

/// Gradient with respect to `x` given the output gradient `g`.
pub fn backward_x<T: WithDType>(x: &[T], w: &[T], g: &[T], cols: usize, eps: f64) -> Vec<T> {
    let mut dx = Vec::with_capacity(x.len());
    for (xr, gr) in x.chunks_exact(cols).zip(g.chunks_exact(cols)) {
        let r = inv_rms(xr, eps);
        let gwx: f64 = xr
            .iter()
            .zip(gr)
            .zip(w)
            .map(|((xv, gv), wv)| gv.to_f64() * wv.to_f64() * xv.to_f64())
            .sum();
        let k = r * r * r * gwx / cols as f64;
        dx.extend(
            xr.iter()
                .zip(gr)
                .zip(w)
                .map(|((xv, gv), wv)| T::from_f64(r * gv.to_f64() * wv.to_f64() - xv.to_f64() * k)),
        );
    }
    dx
}

/// Gradient with respect to the weight (length `cols`) given the output gradient `g`.
pub fn backward_weight<T: WithDType>(x: &[T], g: &[T], cols: usize, eps: f64) -> Vec<T> {
    let mut acc = vec![0f64; cols];
    for (xr, gr) in x.chunks_exact(cols).zip(g.chunks_exact(cols)) {
        let r = inv_rms(xr, eps);
        for ((a, xv), gv) in acc.iter_mut().zip(xr).zip(gr) {
            *a += gv.to_f64() * xv.to_f64() * r;
        }
    }
    acc.into_iter().map(T::from_f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_matches_hand_computed_row() {
        // x = [3, 4]: mean(x²) = 12.5, r = 1/sqrt(12.5); w = [1, 2].
        let y = forward(&[3.0f64, 4.0], &[1.0, 2.0], 2, 0.0);
        let r = 1.0 / 12.5f64.sqrt();
        assert!(
            (y[0] - 3.0 * r).abs() < 1e-15 && (y[1] - 8.0 * r).abs() < 1e-15,
            "{y:?}"
        );
    }

    #[test]
    fn weight_gradient_sums_over_rows() {
        // Two identical rows: dw is twice the one-row gradient g·x·r.
        let x = [1.0f64, -1.0, 1.0, -1.0];
        let g = [0.5f64, 2.0, 0.5, 2.0];
        let dw = backward_weight(&x, &g, 2, 0.0);
        // r = 1 for x = [1, -1].
        assert_eq!(dw, vec![1.0, -4.0]);
    }
}
