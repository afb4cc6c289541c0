//! CPU reference of the causal attention of `kernels/flash_attn.cu`, materializing each query's
//! probabilities (the math, not the tiling), accumulating in f64 whatever the element type.
//!
//! For query `i` of `t` (at key slot `s − t + i`) and key `j`:
//! `z = scale · q·k_j + (j < s − t + i ? bias_j : 0)` for `j ≤ s − t + i`, invisible otherwise;
//! `p = softmax(z)`, `o = Σ p_j v_j`, `lse = log Σ exp z_j`. Backward:
//! `ds_j = p_j (do·v_j − do·o)`, `dq = scale Σ ds_j k_j`, `dk_j += scale ds_j q`, `dv_j += p_j do`.
//!
//! Callers guarantee the lengths `dims` describes (the op checks them).

use candle_core::WithDType;

use super::plan::FlashDims;

/// Index helpers over the contiguous layouts.
struct Idx(FlashDims);

impl Idx {
    /// Start of query row `(b, h, i)` (also its `o`, `do`, `dq` row), in elements of `d`.
    fn q(&self, b: usize, h: usize, i: usize) -> usize {
        ((b * self.0.heads + h) * self.0.t + i) * self.0.d
    }

    /// Start of key row `(b, kv head, j)` in `k` (add [`FlashDims::k_len`] for `v`).
    fn k(&self, b: usize, kh: usize, j: usize) -> usize {
        ((b * self.0.kv_heads + kh) * self.0.s + j) * self.0.d
    }

    /// `(row, kv head)` of every query row, in layout order.
    fn rows(&self) -> impl Iterator<Item = (usize, usize, usize, usize)> + '_ {
        let FlashDims {
            b,
            heads,
            kv_heads,
            t,
            ..
        } = self.0;
        let rep = heads / kv_heads;
        (0..b).flat_map(move |bi| {
            (0..heads).flat_map(move |h| (0..t).map(move |i| (bi, h, h / rep, i)))
        })
    }
}

fn dot<X: WithDType, Y: WithDType>(a: &[X], b: &[Y]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x.to_f64() * y.to_f64()).sum()
}

/// The visible keys `0..=slot` of query `i` and their probabilities.
fn probs<T: WithDType, A: WithDType>(
    dims: FlashDims,
    q: &[T],
    k: &[T],
    bias: &[A],
    b: usize,
    i: usize,
    scale: f64,
) -> (Vec<f64>, f64) {
    let slot = dims.s - dims.t + i;
    let z: Vec<f64> = (0..=slot)
        .map(|j| {
            let kj = &k[j * dims.d..(j + 1) * dims.d];
            let add = if j < slot {
                bias[b * dims.s + j].to_f64()
            } else {
                0.0
            };
            dot(q, kj) * scale + add
        })
        .collect();
    let mx = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = z.iter().map(|v| (v - mx).exp()).sum();
    let lse = mx + sum.ln();
    (z.iter().map(|v| (v - lse).exp()).collect(), lse)
}

/// The packed `[o | lse]` for `q`, `kv = [k; v]` and `bias`.
pub fn forward<T: WithDType, A: WithDType>(
    q: &[T],
    kv: &[T],
    bias: &[A],
    dims: FlashDims,
    scale: f64,
) -> Vec<f64> {
    let ix = Idx(dims);
    let d = dims.d;
    let mut out = vec![0.0; dims.packed_len()];
    let (k_all, v_all) = kv.split_at(dims.k_len());
    for (r, (b, h, kh, i)) in ix.rows().enumerate() {
        let q0 = ix.q(b, h, i);
        let k = &k_all[ix.k(b, kh, 0)..ix.k(b, kh, dims.s)];
        let v = &v_all[ix.k(b, kh, 0)..ix.k(b, kh, dims.s)];
        let (p, lse) = probs(dims, &q[q0..q0 + d], k, bias, b, i, scale);
        for (j, pj) in p.iter().enumerate() {
            for c in 0..d {
                out[q0 + c] += pj * v[j * d + c].to_f64();
            }
        }
        out[dims.q_len() + r] = lse;
    }
    out
}

/// `[dq | dk | dv]` for `q`, `kv` and `aux = [o | lse | do | dlse | bias]` (the probabilities are
/// recomputed from `q`, `k` and the bias; `o` enters through `delta = do·o`, as in the kernels).
pub fn backward<T: WithDType, A: WithDType>(
    q: &[T],
    kv: &[T],
    aux: &[A],
    dims: FlashDims,
    scale: f64,
) -> Vec<T> {
    let ix = Idx(dims);
    let d = dims.d;
    let (q_len, k_len, packed) = (dims.q_len(), dims.k_len(), dims.packed_len());
    let (k_all, v_all) = kv.split_at(k_len);
    let o = &aux[..q_len];
    let g = &aux[packed..packed + q_len];
    let bias = &aux[2 * packed..];
    let mut dq = vec![0.0; q_len];
    let mut dkv = vec![0.0; 2 * k_len];
    for (b, h, kh, i) in ix.rows() {
        let q0 = ix.q(b, h, i);
        let k0 = ix.k(b, kh, 0);
        let (k, v) = (&k_all[k0..k0 + dims.s * d], &v_all[k0..k0 + dims.s * d]);
        let (p, _) = probs(dims, &q[q0..q0 + d], k, bias, b, i, scale);
        let gi = &g[q0..q0 + d];
        let delta = dot(gi, &o[q0..q0 + d]);
        for (j, pj) in p.iter().enumerate() {
            let vj = &v[j * d..(j + 1) * d];
            let ds = pj * (dot(gi, vj) - delta);
            for c in 0..d {
                dq[q0 + c] += scale * ds * k[j * d + c].to_f64();
                dkv[k0 + j * d + c] += scale * ds * q[q0 + c].to_f64();
                dkv[k_len + k0 + j * d + c] += pj * gi[c].to_f64();
            }
        }
    }
    dq.iter().chain(&dkv).map(|&x| T::from_f64(x)).collect()
}
