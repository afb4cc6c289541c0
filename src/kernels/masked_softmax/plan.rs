//! Launch plans of `kernels/softmax.cu` (see [`crate::kernels::plan`]): one block per row of
//! `cols` keys, threads striding over the row.

use candle_core::DType;

use crate::kernels::plan::{
    acc_dtype, float_suffix, grid_x, int_arg, row_threads, strided_arg, Arg, BufSpec, Plan,
    PlanError,
};

const OP: &str = "masked_softmax";

/// The shape of a masked softmax: `scores: [b, group, seq, cols]` (`group`: every dim between the
/// batch and the query axis, flattened; e.g. the heads) and `mask: [b, seq, cols]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftmaxDims {
    pub b: usize,
    pub group: usize,
    pub seq: usize,
    pub cols: usize,
}

impl SoftmaxDims {
    /// Rows of the scores (`b · group · seq`).
    pub fn rows(&self) -> usize {
        self.b * self.group * self.seq
    }

    /// Elements of the scores.
    pub fn len(&self) -> usize {
        self.rows() * self.cols
    }

    /// Whether the scores are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements of the mask (`b · seq · cols`).
    pub fn mask_len(&self) -> usize {
        self.b * self.seq * self.cols
    }
}

fn check(dims: SoftmaxDims) -> Result<(u32, i32), PlanError> {
    let SoftmaxDims {
        b,
        group,
        seq,
        cols,
    } = dims;
    if b == 0 || group == 0 || seq == 0 || cols == 0 {
        return Err(PlanError::Invalid {
            op: OP,
            msg: format!("empty scores [{b}, {group}, {seq}, {cols}]"),
        });
    }
    let rows = b.saturating_mul(group).saturating_mul(seq);
    Ok((grid_x(OP, "rows", rows)?, strided_arg(OP, "cols", cols)?))
}

/// `p = softmax(scores · scale + mask)` over the last dim.
///
/// Inputs: `scores` of `dtype` (`dims.len()` elements), `mask` of the accumulator dtype
/// ([`acc_dtype`]: f32, f64 for f64; `dims.mask_len()` elements). Output: `p` like `scores`.
pub fn forward(dtype: DType, dims: SoftmaxDims, scale: f64) -> Result<Plan, PlanError> {
    let sfx = float_suffix(OP, dtype)?;
    let (grid, cols) = check(dims)?;
    let n = dims.len();
    let mask = BufSpec::new(acc_dtype(dtype), dims.mask_len());
    let mut p = Plan::new("softmax", &[BufSpec::new(dtype, n), mask]);
    let out = p.alloc(dtype, n);
    p.launch(
        format!("masked_softmax_fwd_{sfx}"),
        (grid, 1, 1),
        (row_threads(dims.cols), 1, 1),
        vec![
            Arg::Buf(0),
            Arg::Buf(1),
            Arg::Buf(out),
            Arg::I32(cols),
            Arg::I32(int_arg(OP, "seq", dims.seq)?),
            Arg::I32(int_arg(OP, "rows per batch entry", dims.group * dims.seq)?),
            Arg::F64(scale),
        ],
    );
    p.outputs.push(out);
    Ok(p)
}

/// `ds = scale · p ⊙ (g − Σ g ⊙ p)` per row.
///
/// Inputs: the forward's output `p` and the output gradient `g`, both of `dtype`. Output: `ds`.
pub fn backward(dtype: DType, dims: SoftmaxDims, scale: f64) -> Result<Plan, PlanError> {
    let sfx = float_suffix(OP, dtype)?;
    let (grid, cols) = check(dims)?;
    let n = dims.len();
    let spec = BufSpec::new(dtype, n);
    let mut p = Plan::new("softmax", &[spec, spec]);
    let ds = p.alloc(dtype, n);
    p.launch(
        format!("masked_softmax_bwd_{sfx}"),
        (grid, 1, 1),
        (row_threads(dims.cols), 1, 1),
        vec![
            Arg::Buf(0),
            Arg::Buf(1),
            Arg::Buf(ds),
            Arg::I32(cols),
            Arg::F64(scale),
        ],
    );
    p.outputs.push(ds);
    Ok(p)
}
