//! Key/value cache kept outside the model, one entry per layer, `[B, Hkv, S, D]` each.

use candle_core::{Tensor, D};

use super::error::{Error, Result};

#[derive(Debug, Clone, Default)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
}

impl KvCache {
    pub fn new(num_layers: usize) -> Self {
        KvCache {
            layers: vec![None; num_layers],
        }
    }

    /// Number of cached key slots (0 when empty).
    pub fn seq_len(&self) -> usize {
        self.layers
            .first()
            .and_then(|l| l.as_ref())
            .and_then(|(k, _)| k.dim(2).ok())
            .unwrap_or(0)
    }

    /// Appends this step's keys/values for `layer` and returns the full `(k, v)`.
    pub fn append(&mut self, layer: usize, k: &Tensor, v: &Tensor) -> Result<(Tensor, Tensor)> {
        let slot = self
            .layers
            .get_mut(layer)
            .ok_or_else(|| Error::Invalid(format!("KV cache has no layer {layer}")))?;
        let (k, v) = match slot.take() {
            None => (k.clone(), v.clone()),
            Some((pk, pv)) => (
                Tensor::cat(&[&pk, k], D::Minus2)?,
                Tensor::cat(&[&pv, v], D::Minus2)?,
            ),
        };
        *slot = Some((k.clone(), v.clone()));
        Ok((k, v))
    }

    /// Repeats every row `n` times (row-major: row 0 ×n, row 1 ×n, …): a prompt prefilled once is
    /// shared by the `G` samples of a group.
    pub fn repeat_rows(&self, n: usize) -> Result<KvCache> {
        let rep = |t: &Tensor| -> Result<Tensor> {
            let (b, h, s, d) = t.dims4()?;
            Ok(t.unsqueeze(1)?
                .broadcast_as((b, n, h, s, d))?
                .reshape((b * n, h, s, d))?)
        };
        let layers = self
            .layers
            .iter()
            .map(|l| match l {
                None => Ok(None),
                Some((k, v)) => Ok(Some((rep(k)?, rep(v)?))),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache { layers })
    }

    /// Keeps only the given rows (e.g. drop finished sequences from a running batch).
    pub fn select_rows(&self, rows: &[u32]) -> Result<KvCache> {
        let Some(device) = self
            .layers
            .iter()
            .flatten()
            .next()
            .map(|(k, _)| k.device().clone())
        else {
            return Ok(self.clone());
        };
        let idx = Tensor::from_slice(rows, rows.len(), &device)?;
        let layers = self
            .layers
            .iter()
            .map(|l| match l {
                None => Ok(None),
                Some((k, v)) => Ok(Some((k.index_select(&idx, 0)?, v.index_select(&idx, 0)?))),
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache { layers })
    }
}
