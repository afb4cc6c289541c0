//! Saving and restoring [`AdamW`] state: one `optimizer.safetensors` file holding both moments of
//! every variable (`exp_avg.<name>`, `exp_avg_sq.<name>`) and, in its header metadata under
//! `trainer.optimizer`, a JSON record of the counters (global step = schedule position, per-variable
//! steps, skip counters) and the hyperparameters. Written to a temporary sibling and renamed, so a
//! crash leaves either the old file or the new one.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use safetensors::tensor::{Dtype as StDtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::optim::{AdamW, AdamWConfig, Moments};

/// File name of the optimizer state inside a checkpoint directory.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const META_KEY: &str = "trainer.optimizer";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    format_version: u32,
    step: u64,
    consecutive_skips: u32,
    skipped_total: u64,
    /// Per-variable update counts, by variable name.
    var_steps: BTreeMap<String, u64>,
    /// The hyperparameters in force when the state was saved (informational).
    config: AdamWConfig,
}

fn format_err(path: &Path, msg: impl Into<String>) -> Error {
    Error::StateFormat {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

fn le_bytes(t: &Tensor) -> Result<(StDtype, Vec<u8>)> {
    let flat = t.flatten_all()?.to_device(&Device::Cpu)?;
    Ok(match t.dtype() {
        DType::F64 => (
            StDtype::F64,
            flat.to_vec1::<f64>()?
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
        _ => (
            StDtype::F32,
            flat.to_dtype(DType::F32)?
                .to_vec1::<f32>()?
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect(),
        ),
    })
}

fn from_le_bytes(
    view: &TensorView<'_>,
    device: &Device,
    path: &Path,
    name: &str,
) -> Result<Tensor> {
    let data = view.data();
    let shape = view.shape().to_vec();
    let t = match view.dtype() {
        StDtype::F32 => {
            let v: Vec<f32> = data
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Tensor::from_vec(v, shape, device)?
        }
        StDtype::F64 => {
            let v: Vec<f64> = data
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    f64::from_le_bytes(b)
                })
                .collect();
            Tensor::from_vec(v, shape, device)?
        }
        other => {
            return Err(format_err(
                path,
                format!("tensor `{name}` has dtype {other:?}; expected F32 or F64"),
            ))
        }
    };
    Ok(t)
}

/// Writes `bytes` to `path` through a temporary sibling file and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(crate::checkpoint::write_file_atomic(path, bytes)?)
}

impl AdamW {
    /// Saves the state to `path` (normally `<checkpoint>/optimizer.safetensors`), atomically.
    pub fn save_state(&self, path: &Path) -> Result<()> {
        let mut blobs = Vec::with_capacity(2 * self.vars.len());
        let mut var_steps = BTreeMap::new();
        for ((name, _), mom) in self.vars.iter().zip(&self.moments) {
            var_steps.insert(name.clone(), mom.step);
            for (prefix, t) in [("exp_avg", &mom.exp_avg), ("exp_avg_sq", &mom.exp_avg_sq)] {
                let (dt, bytes) = le_bytes(t)?;
                blobs.push((format!("{prefix}.{name}"), dt, t.dims().to_vec(), bytes));
            }
        }
        let record = Record {
            format_version: FORMAT_VERSION,
            step: self.step,
            consecutive_skips: self.consecutive_skips,
            skipped_total: self.skipped_total,
            var_steps,
            config: self.cfg,
        };
        let json = serde_json::to_string(&record)
            .map_err(|e| format_err(path, format!("cannot encode metadata: {e}")))?;
        let mut views = Vec::with_capacity(blobs.len());
        for (name, dt, shape, bytes) in &blobs {
            let view = TensorView::new(*dt, shape.clone(), bytes)
                .map_err(|e| format_err(path, format!("tensor `{name}`: {e}")))?;
            views.push((name.clone(), view));
        }
        let meta = HashMap::from([(META_KEY.to_string(), json)]);
        let bytes = safetensors::serialize(views, Some(meta))
            .map_err(|e| format_err(path, e.to_string()))?;
        write_atomic(path, &bytes)
    }

    /// Restores state saved by [`save_state`](Self::save_state) into this optimizer, whose
    /// variables must have the same names and shapes. The hyperparameters stay those this
    /// optimizer was built with. Nothing changes unless the whole file is valid.
    pub fn load_state(&mut self, path: &Path) -> Result<()> {
        let bytes = std::fs::read(path).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let (_, header) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| format_err(path, format!("bad header: {e}")))?;
        let json = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(META_KEY))
            .ok_or_else(|| format_err(path, format!("no `{META_KEY}` metadata")))?;
        let record: Record = serde_json::from_str(json)
            .map_err(|e| format_err(path, format!("metadata `{META_KEY}`: {e}")))?;
        if record.format_version != FORMAT_VERSION {
            return Err(format_err(
                path,
                format!(
                    "format_version {} (this build reads {FORMAT_VERSION})",
                    record.format_version
                ),
            ));
        }
        // Counters beyond these would overflow the bias correction (`step` as i32) or the skip
        // count: a damaged or hand-edited file, refused before anything is restored.
        for (what, n) in [
            ("step", record.step),
            ("skipped_total", record.skipped_total),
        ] {
            if n >= i32::MAX as u64 {
                return Err(format_err(path, format!("{what} {n} is out of range")));
            }
        }
        if u64::from(record.consecutive_skips) > record.skipped_total {
            return Err(format_err(
                path,
                format!(
                    "consecutive_skips {} exceeds skipped_total {}",
                    record.consecutive_skips, record.skipped_total
                ),
            ));
        }
        if let Some((name, n)) = record.var_steps.iter().find(|(_, &n)| n > record.step) {
            return Err(format_err(
                path,
                format!(
                    "var_steps[`{name}`] = {n} exceeds the optimizer's step {}",
                    record.step
                ),
            ));
        }
        if record.var_steps.len() != self.vars.len() {
            return Err(format_err(
                path,
                format!(
                    "holds {} variables, the optimizer has {}",
                    record.var_steps.len(),
                    self.vars.len()
                ),
            ));
        }
        let st = SafeTensors::deserialize(&bytes)
            .map_err(|e| format_err(path, format!("bad tensors: {e}")))?;
        let mismatch = |name: &str, msg: String| Error::StateMismatch {
            path: path.to_path_buf(),
            name: name.to_string(),
            msg,
        };
        let mut restored = Vec::with_capacity(self.moments.len());
        for ((name, var), mom) in self.vars.iter().zip(&self.moments) {
            let step = *record
                .var_steps
                .get(name)
                .ok_or_else(|| mismatch(name, "not in the saved state".into()))?;
            let load =
                |prefix: &str| -> Result<Tensor> {
                    let key = format!("{prefix}.{name}");
                    let view = st
                        .tensor(&key)
                        .map_err(|e| mismatch(name, format!("tensor `{key}`: {e}")))?;
                    if view.shape() != var.dims() {
                        return Err(mismatch(
                            name,
                            format!(
                                "saved shape {:?}, variable shape {:?}",
                                view.shape(),
                                var.dims()
                            ),
                        ));
                    }
                    Ok(from_le_bytes(&view, var.device(), path, &key)?
                        .to_dtype(mom.exp_avg.dtype())?)
                };
            restored.push(Moments {
                step,
                exp_avg: load("exp_avg")?,
                exp_avg_sq: load("exp_avg_sq")?,
            });
        }
        if record.config != self.cfg {
            tracing::warn!(
                file = %path.display(),
                "optimizer hyperparameters differ from the saved ones; using the current ones"
            );
        }
        self.moments = restored;
        self.step = record.step;
        self.consecutive_skips = record.consecutive_skips;
        self.skipped_total = record.skipped_total;
        Ok(())
    }
}
