//! Token picking on the model's device: each row's logits are reduced where they are, and only
//! a few numbers per row come back to the host instead of the whole row.
//!
//! On a GPU the host path of [`super::sampler`] downloads every row's full logits (Qwen2.5's
//! 152,064 per row: 39 MB per decode step for 128 bf16 rows) and scans them on the CPU (about a
//! millisecond per row). Two cases need none of that:
//!
//! - **greedy** (temperature 0: BFCL and held-out evaluation, greedy synthesis): argmax, max and
//!   log-normalizer on the device, three numbers per row back. The token is the **first**
//!   maximum (ties resolved by index with exact arithmetic, not by the reduction kernel's order);
//!   the log-probability `max - logsumexp` is computed in f32 (the host: f64; equal to ~1e-6).
//! - **sampling without truncation** (temperature > 0, no top-k/top-p: GRPO rollouts): the
//!   weights `exp(x / T - max)` — rounded exactly as the host sampler rounds them — are summed
//!   on the device per block of [`BLOCK`] tokens in f64; the host draws the row's uniform, walks
//!   the block sums to the block that holds the draw, and fetches that block's weights and
//!   logits only. Same one draw per token from the row's stream; on a CPU the tokens equal the
//!   host sampler's (the sums differ only in f64 association order).
//!
//! A row with a NaN or +inf logit is an error, as on the host.

use candle_core::{DType, Tensor, D};

use super::error::{Error, Result};
use super::sampler::{RowRng, SamplingParams};
use super::Sampled;

/// Logits rows `logit_row` of `logits` (`[n, vocab]`, any float dtype, any device) as f32
/// (half precision widens exactly, as on the host).
fn rows_f32(logits: &Tensor, logit_row: &[usize]) -> Result<Tensor> {
    let (n, vocab) = logits.dims2()?;
    if vocab == 0 {
        return Err(Error::Invalid("cannot sample from empty logits".into()));
    }
    if let Some(&bad) = logit_row.iter().find(|&&r| r >= n) {
        return Err(Error::Invalid(format!("internal: logits row {bad} of {n}")));
    }
    let identity = logit_row.len() == n && logit_row.iter().enumerate().all(|(a, &r)| a == r);
    let x = if identity {
        logits.clone()
    } else {
        let idx: Vec<u32> = logit_row.iter().map(|&r| r as u32).collect();
        let idx = Tensor::from_vec(idx, logit_row.len(), logits.device())?;
        logits.index_select(&idx, 0)?
    };
    Ok(x.to_dtype(DType::F32)?)
}

fn non_finite() -> Error {
    Error::Invalid("logits contain NaN or inf: the model produced non-finite values".into())
}

/// The greedy token of each row of `logits` (`[rows, vocab]`, any float dtype, any device),
/// for running row `a` from logits row `logit_row[a]`.
pub(crate) fn greedy_on_device(logits: &Tensor, logit_row: &[usize]) -> Result<Vec<Sampled>> {
    let x = rows_f32(logits, logit_row)?;
    let (_, vocab) = x.dims2()?;
    let device = x.device();
    let max = x.max_keepdim(D::Minus1)?;
    // First index of the maximum, exactly: `j - V` where x == max, 0 elsewhere (indices below
    // 2^24 are exact in f32); the minimum is `first - V`.
    let v32 = vocab as f32;
    let shifted = Tensor::arange(0f32, v32, device)?
        .affine(1.0, -f64::from(v32))?
        .reshape((1, vocab))?;
    let first = x
        .broadcast_eq(&max)?
        .to_dtype(DType::F32)?
        .broadcast_mul(&shifted)?
        .min_keepdim(D::Minus1)?
        .affine(1.0, f64::from(v32))?;
    let lse = x
        .broadcast_sub(&max)?
        .exp()?
        .sum_keepdim(D::Minus1)?
        .log()?
        .add(&max)?;
    let packed = Tensor::cat(&[&first, &max, &lse], 1)?.to_vec2::<f32>()?;
    packed
        .iter()
        .map(|row| {
            let [id, max, lse] = row[..] else {
                return Err(Error::Invalid("internal: greedy row shape".into()));
            };
            if !(max.is_finite() && lse.is_finite()) {
                return Err(non_finite());
            }
            Ok(Sampled {
                id: id as u32,
                logprob: max - lse,
                processed_logprob: 0.0,
            })
        })
        .collect()
}

/// Tokens per block of the sampling walk: the host reads `vocab / BLOCK` sums and one block of
/// weights per row (Qwen2.5: 595 + 512 numbers instead of 152,064).
pub(crate) const BLOCK: usize = 256;

/// One token per row of `logits` sampled at `temperature` (> 0) over the full vocabulary, row
/// `a` from logits row `logit_row[a]` with one uniform draw from `rngs[a]` — the host sampler's
/// rule without top-k/top-p (see the module docs).
pub(crate) fn sample_on_device(
    logits: &Tensor,
    logit_row: &[usize],
    temperature: f64,
    rngs: &mut [&mut RowRng],
) -> Result<Vec<Sampled>> {
    if rngs.len() != logit_row.len() {
        return Err(Error::Invalid("internal: one stream per row".into()));
    }
    let x = rows_f32(logits, logit_row)?;
    let (rows, vocab) = x.dims2()?;
    let inv_t = 1.0 / temperature;
    let max = x.max_keepdim(D::Minus1)?;
    // The host's `(max as f64 * inv_t) as f32` and `x * (inv_t as f32) - m32`, op for op.
    let m32 = max
        .to_dtype(DType::F64)?
        .affine(inv_t, 0.0)?
        .to_dtype(DType::F32)?;
    let w = x
        .affine(f64::from(inv_t as f32), 0.0)?
        .broadcast_sub(&m32)?
        .exp()?;
    let blocks = vocab.div_ceil(BLOCK);
    let pad = blocks * BLOCK - vocab;
    let w = w.pad_with_zeros(1, 0, pad)?;
    let sums = w
        .to_dtype(DType::F64)?
        .reshape((rows, blocks, BLOCK))?
        .sum(2)?;
    // One download: the row's max, then its block sums.
    let head = Tensor::cat(&[&max.to_dtype(DType::F64)?, &sums], 1)?.to_vec2::<f64>()?;
    let mut picks = Vec::with_capacity(rows);
    let mut draws = Vec::with_capacity(rows);
    for (row, rng) in head.iter().zip(rngs.iter_mut()) {
        let (&max, sums) = row.split_first().ok_or_else(non_finite)?;
        let total: f64 = sums.iter().sum();
        if !max.is_finite() || !total.is_finite() {
            return Err(if max == f64::NEG_INFINITY {
                Error::Invalid("every logit is -inf: nothing to sample".into())
            } else {
                non_finite()
            });
        }
        let target = rng.uniform() * total;
        // The block whose cumulative range holds the draw (the last one with weight if
        // rounding leaves the draw past the end), and the mass before it.
        let mut acc = 0.0;
        let mut pick = None;
        for (b, &s) in sums.iter().enumerate() {
            if s <= 0.0 {
                continue;
            }
            pick = Some((b, acc));
            if target < acc + s {
                break;
            }
            acc += s;
        }
        let (block, before) = pick.ok_or_else(non_finite)?;
        picks.push(block);
        draws.push((target, before, max * inv_t + total.ln()));
    }
    // Second download: the chosen block's weights and logits of each row.
    let idx: Vec<u32> = picks
        .iter()
        .flat_map(|&b| (b * BLOCK..(b + 1) * BLOCK).map(|i| i as u32))
        .collect();
    let idx = Tensor::from_vec(idx, (rows, BLOCK), x.device())?;
    let xp = x.pad_with_zeros(1, 0, pad)?;
    let got = Tensor::stack(&[&w.gather(&idx, 1)?, &xp.gather(&idx, 1)?], 1)?
        .to_dtype(DType::F32)?
        .to_vec3::<f32>()?;
    picks
        .iter()
        .zip(&draws)
        .zip(&got)
        .map(|((&block, &(target, before, lse)), wx)| {
            let [w, x] = &wx[..] else {
                return Err(Error::Invalid("internal: sampled block shape".into()));
            };
            // The host's walk, from the mass before the block.
            let mut acc = before;
            let mut last = None;
            for (k, &p) in w.iter().enumerate() {
                if p <= 0.0 {
                    continue;
                }
                acc += f64::from(p);
                last = Some(k);
                if target < acc {
                    break;
                }
            }
            let k = last.ok_or_else(non_finite)?;
            let logprob = (f64::from(x[k]) * inv_t - lse) as f32;
            Ok(Sampled {
                id: (block * BLOCK + k) as u32,
                logprob,
                processed_logprob: logprob,
            })
        })
        .collect()
}

/// Whether this call picks its tokens on the device: greedy, or sampling that truncates nothing
/// (no top-k below the vocabulary, no top-p below 1); `setting` when given, else on a GPU only
/// (on a CPU the host scan is as fast and keeps its f64 log-normalizer).
pub(crate) fn use_device_pick(
    setting: Option<bool>,
    params: &SamplingParams,
    vocab: usize,
    device: &candle_core::Device,
) -> bool {
    let untruncated = (params.top_k == 0 || params.top_k >= vocab) && params.top_p >= 1.0;
    (params.is_greedy() || untruncated) && setting.unwrap_or(!device.is_cpu())
}

#[cfg(test)]
mod tests {
    use super::{greedy_on_device, sample_on_device, BLOCK};
    use crate::engine::sampler::{sample, RowRng, SamplingParams};
    use candle_core::{DType, Device, Tensor};

    fn host(x: &[f32]) -> crate::engine::Sampled {
        sample(x, &SamplingParams::greedy(), &mut RowRng::new(0)).unwrap()
    }

    /// Same tokens as the host sampler (first maximum among exact ties, half precision too),
    /// log-probs within 1e-5, rows picked through the row map.
    #[test]
    fn device_greedy_equals_the_host_sampler() {
        let (n, vocab) = (5, 1031);
        let mut v: Vec<f32> = (0..n * vocab)
            .map(|i| ((i * 7919 % 1013) as f32 - 500.0) * 0.0173)
            .collect();
        // Row 1: a tie of the maximum at 17 and 900; row 3: the maximum at the last index;
        // row 4: every value equal.
        v[vocab + 17] = 40.0;
        v[vocab + 900] = 40.0;
        v[3 * vocab + vocab - 1] = 41.5;
        v[4 * vocab..].fill(-2.0);
        let t = Tensor::from_vec(v, (n, vocab), &Device::Cpu).unwrap();
        for dtype in [DType::F32, DType::BF16, DType::F16] {
            let x = t.to_dtype(dtype).unwrap();
            let rows = x.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap();
            for map in [vec![0, 1, 2, 3, 4], vec![4, 1, 1, 3], vec![2]] {
                let got = greedy_on_device(&x, &map).unwrap();
                assert_eq!(got.len(), map.len());
                for (g, &r) in got.iter().zip(&map) {
                    let want = host(&rows[r]);
                    assert_eq!(g.id, want.id, "{dtype:?} row {r}");
                    assert!(
                        (g.logprob - want.logprob).abs() <= 1e-5 * want.logprob.abs().max(1.0),
                        "{dtype:?} row {r}: {} vs {}",
                        g.logprob,
                        want.logprob
                    );
                    assert_eq!(g.processed_logprob, 0.0);
                }
            }
            let got = greedy_on_device(&x, &[1, 3, 4]).unwrap();
            assert_eq!(got.iter().map(|s| s.id).collect::<Vec<_>>(), [17, 1030, 0]);
        }
    }

    /// A NaN or +inf logit in a row is an error, as on the host; -inf logits are fine.
    #[test]
    fn non_finite_logits_are_an_error() {
        for bad in [f32::NAN, f32::INFINITY] {
            let mut v = vec![0.5f32; 2 * 64];
            v[64 + 10] = bad;
            let t = Tensor::from_vec(v, (2, 64), &Device::Cpu).unwrap();
            assert!(greedy_on_device(&t, &[0]).is_ok(), "row 0 is clean");
            let err = greedy_on_device(&t, &[0, 1]).unwrap_err().to_string();
            assert!(err.contains("non-finite"), "{bad}: {err}");
        }
        let mut v = vec![f32::NEG_INFINITY; 64];
        v[5] = 1.0;
        let t = Tensor::from_vec(v, (1, 64), &Device::Cpu).unwrap();
        let got = greedy_on_device(&t, &[0]).unwrap();
        assert_eq!((got[0].id, got[0].logprob), (5, 0.0));
        assert!(greedy_on_device(&t, &[1]).is_err(), "row out of range");
    }

    /// Sampling on the device draws the host sampler's tokens from the same streams (T = 0.7,
    /// 1, 1.5; f32/bf16/f16 logits; several blocks with a padded last one; whole blocks of
    /// -inf, which have no weight; a vocabulary smaller than a block) with log-probs within
    /// 1e-6, and consumes one draw per token.
    #[test]
    fn device_sampling_draws_the_host_samplers_tokens() {
        for vocab in [1031, 100] {
            let n = 4;
            let mut v: Vec<f32> = (0..n * vocab)
                .map(|i| ((i * 7919 % 1013) as f32 - 500.0) * 0.009)
                .collect();
            if vocab > 2 * BLOCK {
                // Row 2: its first two blocks and its tail are -inf.
                v[2 * vocab..2 * vocab + 2 * BLOCK].fill(f32::NEG_INFINITY);
                v[3 * vocab - 7..3 * vocab].fill(f32::NEG_INFINITY);
            }
            let t = Tensor::from_vec(v, (n, vocab), &Device::Cpu).unwrap();
            for dtype in [DType::F32, DType::BF16, DType::F16] {
                let x = t.to_dtype(dtype).unwrap();
                let rows = x.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap();
                for temperature in [0.7, 1.0, 1.5] {
                    let params = SamplingParams {
                        temperature,
                        top_k: 0,
                        top_p: 1.0,
                    };
                    let map = [3usize, 0, 2, 2, 1];
                    let mut dev: Vec<RowRng> = (0..map.len() as u64).map(RowRng::new).collect();
                    let mut hst = dev.clone();
                    let mut seen = std::collections::BTreeSet::new();
                    for step in 0..60 {
                        let mut refs: Vec<&mut RowRng> = dev.iter_mut().collect();
                        let got = sample_on_device(&x, &map, temperature, &mut refs).unwrap();
                        for ((g, &r), rng) in got.iter().zip(&map).zip(hst.iter_mut()) {
                            let want = sample(&rows[r], &params, rng).unwrap();
                            assert_eq!(
                                g.id, want.id,
                                "{vocab} {dtype:?} T {temperature} step {step} row {r}"
                            );
                            assert!(
                                (g.logprob - want.logprob).abs()
                                    <= 1e-6 * want.logprob.abs().max(1.0),
                                "{} vs {}",
                                g.logprob,
                                want.logprob
                            );
                            assert_eq!(g.processed_logprob, g.logprob);
                            assert!(rows[r][g.id as usize].is_finite());
                            seen.insert(g.id);
                        }
                    }
                    assert!(
                        seen.len() > 20,
                        "{vocab} {dtype:?}: only {} distinct tokens",
                        seen.len()
                    );
                }
            }
        }
    }

    /// NaN or +inf in a row, or a row of only -inf, is an error.
    #[test]
    fn device_sampling_rejects_non_finite_rows() {
        for (bad, what) in [(f32::NAN, "non-finite"), (f32::INFINITY, "non-finite")] {
            let mut v = vec![0.5f32; 600];
            v[300] = bad;
            let t = Tensor::from_vec(v, (1, 600), &Device::Cpu).unwrap();
            let mut rng = RowRng::new(1);
            let err = sample_on_device(&t, &[0], 1.0, &mut [&mut rng])
                .unwrap_err()
                .to_string();
            assert!(err.contains(what), "{bad}: {err}");
        }
        let t = Tensor::full(f32::NEG_INFINITY, (1, 600), &Device::Cpu).unwrap();
        let mut rng = RowRng::new(1);
        let err = sample_on_device(&t, &[0], 1.0, &mut [&mut rng])
            .unwrap_err()
            .to_string();
        assert!(err.contains("every logit is -inf"), "{err}");
    }
}
