//! CPU reference of the rotary embedding: the math of `kernels/rope.cu`, computed in f64 and
//! rounded once to the element type.
//!
//! For row `(b, h, t)` of `x: [B, H, T, D]`, pair `i < D/2` and `c, s = cos, sin[b, t, i]`:
//! `y[i] = x[i]·c − x[D/2 + i]·s`, `y[D/2 + i] = x[D/2 + i]·c + x[i]·s`. The inverse rotation
//! (`−s`) is the backward pass: the rotation is orthogonal, so `∂x = R(−θ) g`.
//!
//! Callers guarantee `x.len() == dims.x_len()`, `cos.len() == sin.len() == dims.table_len()` and
//! an even, non-zero `dims.dim` (the op checks them); anything beyond is ignored.

use candle_core::WithDType;

use super::plan::RopeDims;

/// Rotates every row of `x` by its position's angles (`inverse`: by minus them).
pub fn rotate<T: WithDType, C: WithDType>(
    x: &[T],
    cos: &[C],
    sin: &[C],
    dims: RopeDims,
    inverse: bool,
) -> Vec<T> {
    let half = dims.dim / 2;
    let sign = if inverse { -1.0 } else { 1.0 };
    let mut y = vec![T::zero(); x.len()];
    if dims.dim == 0 || dims.heads == 0 || dims.seq == 0 {
        return y;
    }
    let rows_per_b = dims.heads * dims.seq;
    for (row, (xr, yr)) in x
        .chunks_exact(dims.dim)
        .zip(y.chunks_exact_mut(dims.dim))
        .enumerate()
    {
        let (b, t) = (row / rows_per_b, row % dims.seq);
        let k = (b * dims.seq + t) * half;
        let (Some(cr), Some(sr)) = (cos.get(k..k + half), sin.get(k..k + half)) else {
            break;
        };
        let (x1, x2) = xr.split_at(half);
        let (y1, y2) = yr.split_at_mut(half);
        let pairs = x1.iter().zip(x2).zip(cr.iter().zip(sr));
        for ((o1, o2), ((a, bb), (c, s))) in y1.iter_mut().zip(y2.iter_mut()).zip(pairs) {
            let (a, bb, c, s) = (a.to_f64(), bb.to_f64(), c.to_f64(), sign * s.to_f64());
            *o1 = T::from_f64(a * c - bb * s);
            *o2 = T::from_f64(bb * c + a * s);
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarter_turn_swaps_halves() {
        // One row, D = 4, angle π/2 for pair 0 and 0 for pair 1.
        let dims = RopeDims {
            b: 1,
            heads: 1,
            seq: 1,
            dim: 4,
        };
        let x = [1.0f64, 2.0, 3.0, 4.0];
        let (cos, sin) = ([0.0f64, 1.0], [1.0f64, 0.0]);
        assert_eq!(
            rotate(&x, &cos, &sin, dims, false),
            vec![-3.0, 2.0, 1.0, 4.0]
        );
        assert_eq!(
            rotate(&x, &cos, &sin, dims, true),
            vec![3.0, 2.0, -1.0, 4.0]
        );
    }
}
