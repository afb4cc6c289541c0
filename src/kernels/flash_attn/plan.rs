//! Launch plans of `kernels/flash_attn.cu` (see [`crate::kernels::plan`]): 128-thread blocks.
//! The tensor-core kernels (f16/bf16, [`Cores::Tensor`]) take 64 queries of one head per
//! forward and dq block and 64 keys of one KV head per dk/dv block; the CUDA-core kernels (every
//! float dtype, [`Cores::Simt`]) 16 queries per forward block, 8 queries per dq block and 8 keys
//! per dk/dv block. The dk/dv kernels sum over a KV head's query heads.

use candle_core::DType;

use crate::kernels::plan::{
    acc_dtype, float_suffix, int_arg, strided_arg, Arg, BufSpec, Plan, PlanError,
};

const OP: &str = "flash_attention";

/// Threads per block: `FA_THREADS` of `kernels/flash_attn.cu`, which declares it in every
/// kernel's `__launch_bounds__` and sizes its tiles and per-warp buffers for it.
const THREADS: u32 = 128;
/// Rows per block of the `delta` kernel (one warp per row).
const DELTA_ROWS: usize = 4;

/// Which kernels compute an attention's products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cores {
    /// The tensor cores (`kernels/flash_attn_tc.cuh`: warp matrix products of 16-bit tiles with
    /// f32 sums; f16 and bf16 only, sm_80 and newer).
    Tensor,
    /// The CUDA cores (scalar FMAs in f32, f64 for f64; every float dtype).
    Simt,
}

impl Cores {
    /// The forward's default for `dtype`: tensor cores for f16/bf16, CUDA cores otherwise.
    pub fn default_forward(dtype: DType) -> Cores {
        if matches!(dtype, DType::F16 | DType::BF16) {
            Cores::Tensor
        } else {
            Cores::Simt
        }
    }

    /// The backward's default for `dtype`: tensor cores for bf16 only. The tensor-core backward
    /// rounds `dO` and `dS` to the element type for its products; in f16, without loss scaling,
    /// gradients below 2⁻²⁴ (6e-8) would flush to zero, so f16 keeps them in f32 on the CUDA
    /// cores (bf16 has f32's range).
    pub fn default_backward(dtype: DType) -> Cores {
        if dtype == DType::BF16 {
            Cores::Tensor
        } else {
            Cores::Simt
        }
    }

    /// The kernels for dtype suffix `dtype` and `head_dim` (tensor cores: those built for the
    /// smallest padded head dim that fits, 32, 64 or 128).
    fn kernels(self, dtype: &'static str, head_dim: usize) -> Kernels {
        let (prefix, variant, rows) = match self {
            Cores::Tensor => {
                let padded = [32, 64, 128]
                    .into_iter()
                    .find(|&p| head_dim <= p)
                    .unwrap_or(128);
                ("flash_attn_tc", format!("_d{padded}"), [64, 64, 64])
            }
            Cores::Simt => ("flash_attn", String::new(), [16, 8, 8]),
        };
        Kernels {
            prefix,
            dtype,
            variant,
            rows,
        }
    }

    fn check(self, dtype: DType) -> Result<(), PlanError> {
        if self == Cores::Tensor && !matches!(dtype, DType::F16 | DType::BF16) {
            return Err(PlanError::Invalid {
                op: OP,
                msg: format!("the tensor-core kernels take f16 or bf16, not {dtype:?}"),
            });
        }
        Ok(())
    }
}

/// The largest head dim the kernels take for `dtype`: their tiles live in 48 KB of static shared
/// memory (128 with f32 tiles, 64 with the f64 ones).
pub fn max_head_dim(dtype: DType) -> usize {
    if dtype == DType::F64 {
        64
    } else {
        128
    }
}

/// The shape of one attention: `q: [b, heads, t, d]`, `k`, `v: [b, kv_heads, s, d]`,
/// `bias: [b, s]`; the `t` queries are the last `t` of the `s` key slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlashDims {
    pub b: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub t: usize,
    pub s: usize,
    pub d: usize,
}

impl FlashDims {
    /// Query rows, `b · heads · t`.
    pub fn rows(&self) -> usize {
        self.b * self.heads * self.t
    }

    /// Elements of `q` (and of `o`, `dq`).
    pub fn q_len(&self) -> usize {
        self.rows() * self.d
    }

    /// Elements of one of `k`, `v`.
    pub fn k_len(&self) -> usize {
        self.b * self.kv_heads * self.s * self.d
    }

    /// Elements of `kv = [k; v]` (and of `[dk; dv]`).
    pub fn kv_len(&self) -> usize {
        2 * self.k_len()
    }

    /// Elements of the bias, `b · s`.
    pub fn bias_len(&self) -> usize {
        self.b * self.s
    }

    /// Elements of the forward's packed output `[o | lse]`.
    pub fn packed_len(&self) -> usize {
        self.q_len() + self.rows()
    }

    /// Elements of the backward's `aux = [o | lse | do | dlse | bias]`.
    pub fn aux_len(&self) -> usize {
        2 * self.packed_len() + self.bias_len()
    }

    /// Elements of the backward's output `[dq | dk | dv]`.
    pub fn grads_len(&self) -> usize {
        self.q_len() + self.kv_len()
    }

    /// Checks the shape for the kernels: non-empty, `heads` a multiple of `kv_heads`, `s ≥ t`,
    /// `d` at most [`max_head_dim`], every size within the kernels' `int` arguments and CUDA's
    /// grid limits.
    pub fn check(&self, dtype: DType) -> Result<(), PlanError> {
        let FlashDims {
            b,
            heads,
            kv_heads,
            t,
            s,
            d,
        } = *self;
        let invalid = |msg: String| PlanError::Invalid { op: OP, msg };
        if b == 0 || heads == 0 || kv_heads == 0 || t == 0 || s == 0 || d == 0 {
            return Err(invalid(format!("empty attention {self:?}")));
        }
        if heads % kv_heads != 0 {
            return Err(invalid(format!(
                "{heads} query heads are not a multiple of {kv_heads} KV heads"
            )));
        }
        if s < t {
            return Err(invalid(format!("{t} queries but only {s} key slots")));
        }
        let max_d = max_head_dim(dtype);
        if d > max_d {
            return Err(PlanError::TooLarge {
                op: OP,
                what: "head dim",
                value: d,
                limit: max_d,
            });
        }
        for (what, n) in [("query rows (b·heads·t)", self.rows()), ("batch", b)] {
            int_arg(OP, what, n)?;
        }
        // The kernels step through queries and keys in tiles (`k0 + lane`, `q0 + 16`): keep
        // those indices clear of `int` overflow.
        for (what, n) in [("queries", t), ("key slots", s)] {
            strided_arg(OP, what, n)?;
        }
        for (what, n) in [("batch (grid z)", b), ("query heads (grid y)", heads)] {
            if n > crate::kernels::plan::MAX_GRID_YZ {
                return Err(PlanError::TooLarge {
                    op: OP,
                    what,
                    value: n,
                    limit: crate::kernels::plan::MAX_GRID_YZ,
                });
            }
        }
        Ok(())
    }

    /// The arguments of the attention kernels: the buffers `bufs`, then
    /// `(b, heads, kv_heads, t, s, d, scale)`.
    fn args(&self, bufs: &[usize], scale: f64) -> Result<Vec<Arg>, PlanError> {
        let mut args: Vec<Arg> = bufs.iter().map(|&i| Arg::Buf(i)).collect();
        args.extend([
            Arg::I32(int_arg(OP, "batch", self.b)?),
            Arg::I32(int_arg(OP, "heads", self.heads)?),
            Arg::I32(int_arg(OP, "kv heads", self.kv_heads)?),
            Arg::I32(int_arg(OP, "queries", self.t)?),
            Arg::I32(int_arg(OP, "key slots", self.s)?),
            Arg::I32(int_arg(OP, "head dim", self.d)?),
            Arg::F64(scale),
        ]);
        Ok(args)
    }
}

fn blocks(n: usize, per: usize) -> Result<u32, PlanError> {
    crate::kernels::plan::grid_x(OP, "blocks", n.div_ceil(per))
}

/// The kernels of a plan: names `{prefix}_{pass}_{dtype}{variant}` (variant: the tensor-core
/// kernels' head dim, e.g. `_d128`) and `(forward, dq, dk/dv)` rows per block.
struct Kernels {
    prefix: &'static str,
    dtype: &'static str,
    variant: String,
    rows: [usize; 3],
}

impl Kernels {
    fn name(&self, pass: &str) -> String {
        format!("{}_{pass}_{}{}", self.prefix, self.dtype, self.variant)
    }
}

/// Checks `dims` and `cores` for `dtype` and starts a plan over `q`, `kv` (`dtype`) and a third
/// input of `third` accumulator-dtype elements.
fn start(
    dtype: DType,
    dims: FlashDims,
    cores: Cores,
    third: usize,
) -> Result<(Plan, Kernels), PlanError> {
    let sfx = float_suffix(OP, dtype)?;
    dims.check(dtype)?;
    cores.check(dtype)?;
    let plan = Plan::new(
        "flash_attn",
        &[
            BufSpec::new(dtype, dims.q_len()),
            BufSpec::new(dtype, dims.kv_len()),
            BufSpec::new(acc_dtype(dtype), third),
        ],
    );
    Ok((plan, cores.kernels(sfx, dims.d)))
}

/// `[o | lse]` (accumulator dtype) for `q`, `kv = [k; v]` (both `dtype`) and `bias` (accumulator
/// dtype: f32, f64 for f64), on the default kernels of `dtype` ([`Cores::default_forward`]).
pub fn forward(dtype: DType, dims: FlashDims, scale: f64) -> Result<Plan, PlanError> {
    forward_on(dtype, dims, scale, Cores::default_forward(dtype))
}

/// [`forward`] on the given kernels.
pub fn forward_on(
    dtype: DType,
    dims: FlashDims,
    scale: f64,
    cores: Cores,
) -> Result<Plan, PlanError> {
    let (mut p, k) = start(dtype, dims, cores, dims.bias_len())?;
    let out = p.alloc(acc_dtype(dtype), dims.packed_len());
    p.launch(
        k.name("fwd"),
        (blocks(dims.t, k.rows[0])?, dims.heads as u32, dims.b as u32),
        (THREADS, 1, 1),
        dims.args(&[0, 1, 2, out], scale)?,
    );
    p.outputs.push(out);
    Ok(p)
}

/// `[dq | dk | dv]` (`dtype`) for `q`, `kv` and `aux = [o | lse | do | dlse | bias]`
/// (accumulator dtype; `dlse` is ignored): a `delta = rowsum(do ⊙ o)` pass, then the dq and
/// dk/dv kernels, which recompute the probabilities from `lse`; on the default kernels of
/// `dtype` ([`Cores::default_backward`]).
pub fn backward(dtype: DType, dims: FlashDims, scale: f64) -> Result<Plan, PlanError> {
    backward_on(dtype, dims, scale, Cores::default_backward(dtype))
}

/// [`backward`] on the given kernels.
pub fn backward_on(
    dtype: DType,
    dims: FlashDims,
    scale: f64,
    cores: Cores,
) -> Result<Plan, PlanError> {
    let (mut p, k) = start(dtype, dims, cores, dims.aux_len())?;
    let acc = acc_dtype(dtype);
    let delta = p.alloc(acc, dims.rows());
    let out = p.alloc(dtype, dims.grads_len());
    let ints = [
        Arg::I32(int_arg(OP, "query rows", dims.rows())?),
        Arg::I32(int_arg(OP, "head dim", dims.d)?),
    ];
    // delta = rowsum(do ⊙ o); the tensor-core kernels also get dO in the element type from it.
    let (delta_kernel, mut delta_args, bufs) = match cores {
        Cores::Simt => (
            format!("flash_attn_delta_{}", float_suffix(OP, acc)?),
            vec![Arg::Buf(2), Arg::Buf(delta)],
            vec![0, 1, 2, delta, out],
        ),
        Cores::Tensor => {
            let dout = p.alloc(dtype, dims.q_len());
            (
                format!("flash_attn_tc_delta_{}", k.dtype),
                vec![Arg::Buf(2), Arg::Buf(delta), Arg::Buf(dout)],
                vec![0, 1, 2, delta, dout, out],
            )
        }
    };
    delta_args.extend(ints);
    p.launch(
        delta_kernel,
        (blocks(dims.rows(), DELTA_ROWS)?, 1, 1),
        (THREADS, 1, 1),
        delta_args,
    );
    let args = dims.args(&bufs, scale)?;
    p.launch(
        k.name("dq"),
        (blocks(dims.t, k.rows[1])?, dims.heads as u32, dims.b as u32),
        (THREADS, 1, 1),
        args.clone(),
    );
    p.launch(
        k.name("dkdv"),
        (
            blocks(dims.s, k.rows[2])?,
            dims.kv_heads as u32,
            dims.b as u32,
        ),
        (THREADS, 1, 1),
        args,
    );
    p.outputs.push(out);
    Ok(p)
}
