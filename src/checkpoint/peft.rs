//! LoRA adapters in the PEFT layout: `adapter_model.safetensors` with keys
//! `base_model.model.<module>.lora_A.weight` / `lora_B.weight` (exactly [`Model::lora_vars`]'s
//! names) and `adapter_config.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use serde_json::{json, Map, Value};

use super::atomic::{build_dir_atomic, write_json_atomic};
use super::error::{Error, Result};
use super::st_io::{read_safetensors, write_safetensors, PendingTensor};
use crate::model::{LoraConfig, LoraTarget, Model};

/// The adapter weights file.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// The adapter configuration file.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";

/// What `adapter_config.json` says about a LoRA adapter (the fields trainer uses).
#[derive(Debug, Clone, PartialEq)]
pub struct PeftAdapterConfig {
    pub r: usize,
    pub lora_alpha: f64,
    pub targets: Vec<LoraTarget>,
    pub use_rslora: bool,
    pub base_model_name_or_path: Option<String>,
    /// Layer indices with adapters (`layers_to_transform`), sorted; `None` = every layer.
    pub layers_to_transform: Option<Vec<usize>>,
}

/// How to write an adapter.
#[derive(Debug, Clone)]
pub struct PeftSaveOptions {
    /// Recorded as `base_model_name_or_path` (a hub id or a path).
    pub base_model_name_or_path: String,
    /// On-disk dtype of the adapter tensors (PEFT keeps f32 adapters; bf16 halves the size).
    pub dtype: DType,
    /// Replace an existing directory.
    pub overwrite: bool,
}

impl PeftSaveOptions {
    pub fn new(base_model_name_or_path: impl Into<String>) -> Self {
        PeftSaveOptions {
            base_model_name_or_path: base_model_name_or_path.into(),
            dtype: DType::F32,
            overwrite: false,
        }
    }
}

impl PeftAdapterConfig {
    /// Scaling of `B A` (`alpha / r`, or `alpha / √r` with rsLoRA).
    pub fn scale(&self) -> f64 {
        self.lora_config(0).scale()
    }

    /// The equivalent [`LoraConfig`] (`seed` only matters for fresh adapters).
    pub fn lora_config(&self, seed: u64) -> LoraConfig {
        LoraConfig {
            r: self.r,
            alpha: self.lora_alpha,
            targets: self.targets.clone(),
            use_rslora: self.use_rslora,
            seed,
            layers: self.layers_to_transform.clone(),
        }
    }

    /// The `adapter_config.json` document, keys sorted as PEFT writes them.
    pub fn to_json(&self) -> Value {
        let alpha = if self.lora_alpha.fract() == 0.0 && self.lora_alpha.abs() < 1e15 {
            json!(self.lora_alpha as i64)
        } else {
            json!(self.lora_alpha)
        };
        let mut targets: Vec<&str> = self.targets.iter().map(|t| t.name()).collect();
        targets.sort_unstable();
        json!({
            "alpha_pattern": {},
            "auto_mapping": null,
            "base_model_name_or_path": self.base_model_name_or_path,
            "bias": "none",
            "fan_in_fan_out": false,
            "inference_mode": true,
            "init_lora_weights": true,
            "layers_pattern": null,
            "layers_to_transform": self.layers_to_transform,
            "lora_alpha": alpha,
            "lora_dropout": 0.0,
            "modules_to_save": null,
            "peft_type": "LORA",
            "r": self.r,
            "rank_pattern": {},
            "revision": null,
            "target_modules": targets,
            "task_type": "CAUSAL_LM",
            "use_dora": false,
            "use_rslora": self.use_rslora,
        })
    }

    /// Parses and validates `adapter_config.json`; `path` names the file in errors. Features
    /// trainer does not implement (DoRA, biases, per-module ranks, ...) are rejected, not ignored.
    pub fn from_json(text: &str, path: &Path) -> Result<Self> {
        let v: Value = serde_json::from_str(text)
            .map_err(|e| Error::config(path, "<root>", format!("invalid JSON: {e}")))?;
        let m = v
            .as_object()
            .ok_or_else(|| Error::config(path, "<root>", "expected a JSON object"))?;
        let field = |k: &str| m.get(k).filter(|v| !v.is_null());
        let bad = |k: &str, msg: String| Error::config(path, k, msg);
        match field("peft_type").and_then(Value::as_str) {
            Some("LORA") => {}
            other => {
                return Err(bad(
                    "peft_type",
                    format!("expected \"LORA\", got {other:?}"),
                ))
            }
        }
        if let Some(t) = field("task_type") {
            if t.as_str() != Some("CAUSAL_LM") {
                return Err(bad("task_type", format!("expected \"CAUSAL_LM\", got {t}")));
            }
        }
        let r = field("r")
            .and_then(Value::as_u64)
            .filter(|&r| r > 0)
            .ok_or_else(|| {
                bad(
                    "r",
                    format!("expected a positive integer, got {:?}", m.get("r")),
                )
            })? as usize;
        let lora_alpha = match field("lora_alpha") {
            None => 8.0, // PEFT's default
            Some(a) => a
                .as_f64()
                .ok_or_else(|| bad("lora_alpha", format!("expected a number, got {a}")))?,
        };
        let use_rslora = match field("use_rslora") {
            None => false,
            Some(b) => b
                .as_bool()
                .ok_or_else(|| bad("use_rslora", format!("expected true/false, got {b}")))?,
        };
        let targets = parse_target_modules(field("target_modules"), path)?;
        let layers_to_transform = parse_layers(field("layers_to_transform"), path)?;
        reject_unsupported(m, path)?;
        Ok(PeftAdapterConfig {
            r,
            lora_alpha,
            targets,
            use_rslora,
            base_model_name_or_path: field("base_model_name_or_path")
                .and_then(Value::as_str)
                .map(str::to_string),
            layers_to_transform,
        })
    }
}

/// `layers_to_transform`: one index or a list of indices (PEFT accepts both); sorted, deduplicated.
fn parse_layers(v: Option<&Value>, path: &Path) -> Result<Option<Vec<usize>>> {
    let bad = |msg: String| Error::config(path, "layers_to_transform", msg);
    let index = |x: &Value| {
        x.as_u64()
            .map(|i| i as usize)
            .ok_or_else(|| bad(format!("expected a layer index ≥ 0, got {x}")))
    };
    let mut out: Vec<usize> = match v {
        None => return Ok(None),
        Some(Value::Array(a)) => a.iter().map(index).collect::<Result<_>>()?,
        Some(x) => vec![index(x)?],
    };
    if out.is_empty() {
        return Err(bad("empty list".into()));
    }
    out.sort_unstable();
    out.dedup();
    Ok(Some(out))
}

fn parse_target_modules(v: Option<&Value>, path: &Path) -> Result<Vec<LoraTarget>> {
    let bad = |msg: String| Error::config(path, "target_modules", msg);
    let names: Vec<&str> = match v {
        Some(Value::String(s)) if s == "all-linear" => {
            return Ok(LoraTarget::ALL.to_vec());
        }
        Some(Value::String(s)) => {
            return Err(bad(format!(
                "the regular expression {s:?} is not supported; list the module names"
            )))
        }
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .ok_or_else(|| bad(format!("expected module names, got {x}")))
            })
            .collect::<Result<_>>()?,
        other => {
            return Err(bad(format!(
                "expected a list of module names, got {other:?}"
            )))
        }
    };
    let mut out = BTreeSet::new();
    for n in names {
        // PEFT matches names by suffix: `self_attn.q_proj` and `q_proj` mean the same here.
        let last = n.rsplit('.').next().unwrap_or(n);
        let t = LoraTarget::parse(last).ok_or_else(|| {
            bad(format!(
                "`{n}` is not an adapter-capable module (q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)"
            ))
        })?;
        out.insert(t);
    }
    if out.is_empty() {
        return Err(bad("empty list".into()));
    }
    Ok(out.into_iter().collect())
}

fn reject_unsupported(m: &Map<String, Value>, path: &Path) -> Result<()> {
    let is_set = |k: &str| match m.get(k) {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::Object(o)) => !o.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(_) => true,
    };
    for k in [
        "use_dora",
        "fan_in_fan_out",
        "modules_to_save",
        "rank_pattern",
        "alpha_pattern",
        "lora_bias",
        "layer_replication",
        "trainable_token_indices",
    ] {
        if is_set(k) {
            return Err(Error::config(
                path,
                k,
                format!(
                    "{} is not supported by trainer",
                    m.get(k).unwrap_or(&Value::Null)
                ),
            ));
        }
    }
    match m.get("bias") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == "none" => {}
        Some(b) => {
            return Err(Error::config(
                path,
                "bias",
                format!("{b} is not supported (only \"none\")"),
            ))
        }
    }
    Ok(())
}

fn peft_names(module: &str) -> (String, String) {
    (
        format!("base_model.model.{module}.lora_A.weight"),
        format!("base_model.model.{module}.lora_B.weight"),
    )
}

/// Checks that the model's adapters are exactly the adapter `lora` describes.
fn check_model_matches(model: &Model, lora: &LoraConfig) -> Result<()> {
    let want_scale = lora.scale();
    check_layers(model, lora.layers.as_deref(), "the LoRA config's `layers`")?;
    for (target, lin, i) in indexed_linears(model) {
        let targeted = lora.targets.contains(&target) && lora.adapts_layer(i);
        match (lin.lora(), targeted) {
            (None, true) => {
                return Err(Error::Adapter(format!(
                    "{} has no adapter but {} of layer {i} is a target",
                    lin.path,
                    target.name()
                )))
            }
            (Some(_), false) => {
                return Err(Error::Adapter(format!(
                    "{} has an adapter but {} of layer {i} is not a target",
                    lin.path,
                    target.name()
                )))
            }
            (Some(p), true) => {
                let r = p.a.as_tensor().dim(0)?;
                if r != lora.r || (p.scale - want_scale).abs() > 1e-12 * want_scale.abs().max(1.0) {
                    return Err(Error::Adapter(format!(
                        "{}: rank {r} / scale {} differ from the adapter config (r = {}, scale = {want_scale})",
                        lin.path, p.scale, lora.r
                    )));
                }
            }
            (None, false) => {}
        }
    }
    Ok(())
}

/// Every adapter-capable linear with its target kind and layer index, in layer order.
fn indexed_linears(
    model: &Model,
) -> impl Iterator<Item = (LoraTarget, &crate::model::LoraLinear, usize)> {
    model
        .layers()
        .iter()
        .enumerate()
        .flat_map(|(i, l)| l.linears().into_iter().map(move |(t, lin)| (t, lin, i)))
}

/// Layer indices must exist in the model.
fn check_layers(model: &Model, layers: Option<&[usize]>, what: &str) -> Result<()> {
    let n = model.layers().len();
    match layers.and_then(|l| l.iter().find(|&&i| i >= n)) {
        Some(i) => Err(Error::Adapter(format!(
            "{what} names layer {i}, but the model has {n} layers (0..{n})"
        ))),
        None => Ok(()),
    }
}

/// Writes the model's adapter to directory `dir` (built in a temporary directory, then renamed).
/// `lora` must describe the attached adapters (rank, alpha, targets, rsLoRA).
pub fn save_peft(
    model: &Model,
    lora: &LoraConfig,
    dir: &Path,
    opts: &PeftSaveOptions,
) -> Result<PeftAdapterConfig> {
    check_model_matches(model, lora)?;
    let cfg = PeftAdapterConfig {
        r: lora.r,
        lora_alpha: lora.alpha,
        targets: lora.targets.clone(),
        use_rslora: lora.use_rslora,
        base_model_name_or_path: Some(opts.base_model_name_or_path.clone()),
        layers_to_transform: lora.layers.clone().map(|mut l| {
            l.sort_unstable();
            l.dedup();
            l
        }),
    };
    let vars = model.lora_vars();
    if vars.is_empty() {
        return Err(Error::Adapter("the model has no adapter attached".into()));
    }
    let tensors: Vec<PendingTensor<'_>> = vars
        .iter()
        .map(|(name, var)| PendingTensor {
            name: name.clone(),
            dtype: opts.dtype,
            shape: var.as_tensor().dims().to_vec(),
            make: Box::new(move || Ok(var.as_tensor().clone())),
        })
        .collect();
    build_dir_atomic(dir, opts.overwrite, |tmp| {
        write_safetensors(&tmp.join(ADAPTER_WEIGHTS), &tensors)?;
        write_json_atomic(&tmp.join(ADAPTER_CONFIG), &cfg.to_json())
    })?;
    Ok(cfg)
}

/// Reads `adapter_config.json` of an adapter directory.
pub fn read_adapter_config(dir: &Path) -> Result<PeftAdapterConfig> {
    let path = dir.join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    PeftAdapterConfig::from_json(&text, &path)
}

/// Loads the PEFT adapter in `dir` into `model`, replacing any attached adapter. Everything is
/// validated before the model is touched: each targeted module needs both tensors with shapes
/// `[r, in]` / `[out, r]`, and the file may hold nothing else.
pub fn load_peft(dir: &Path, model: &mut Model) -> Result<PeftAdapterConfig> {
    let cfg = read_adapter_config(dir)?;
    let path: PathBuf = dir.join(ADAPTER_WEIGHTS);
    if !path.is_file() {
        let bin = dir.join("adapter_model.bin");
        return Err(Error::Safetensors {
            path: path.clone(),
            msg: if bin.is_file() {
                "missing; found adapter_model.bin, which trainer does not read (save with safe_serialization=True)".into()
            } else {
                "missing".into()
            },
        });
    }
    if model.linears().any(|(_, l)| l.is_merged()) {
        return Err(Error::Adapter(
            "the model's current adapter is merged into its weights; unmerge it before loading another".into(),
        ));
    }
    check_layers(
        model,
        cfg.layers_to_transform.as_deref(),
        &format!("{ADAPTER_CONFIG} `layers_to_transform`"),
    )?;
    let lora_cfg = cfg.lora_config(0);
    let mut file: BTreeMap<String, Tensor> = read_safetensors(&path)?.into_iter().collect();
    let mut plan: Vec<(String, Option<(Tensor, Tensor)>)> = Vec::new();
    for (target, lin, i) in indexed_linears(model) {
        if !cfg.targets.contains(&target) || !lora_cfg.adapts_layer(i) {
            plan.push((lin.path.clone(), None));
            continue;
        }
        let (out_dim, in_dim) = lin.weight().dims2()?;
        let (an, bn) = peft_names(&lin.path);
        let mut take = |name: &str, expected: [usize; 2]| -> Result<Tensor> {
            let t = file.remove(name).ok_or_else(|| Error::MissingTensor {
                path: path.clone(),
                tensor: name.to_string(),
            })?;
            if t.dims() != expected {
                return Err(Error::TensorShape {
                    path: path.clone(),
                    tensor: name.to_string(),
                    got: t.dims().to_vec(),
                    expected: expected.to_vec(),
                });
            }
            Ok(t)
        };
        let a = take(&an, [cfg.r, in_dim])?;
        let b = take(&bn, [out_dim, cfg.r])?;
        plan.push((lin.path.clone(), Some((a, b))));
    }
    if let Some(extra) = file.keys().next() {
        return Err(Error::UnexpectedTensor {
            path,
            tensor: extra.clone(),
            why: format!(
                "not a lora_A/lora_B of a module targeted by {} ({})",
                ADAPTER_CONFIG,
                cfg.targets
                    .iter()
                    .map(|t| t.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    let scale = cfg.scale();
    for ((_, lin), (p, step)) in model.linears_mut().zip(plan) {
        debug_assert_eq!(lin.path, p);
        match step {
            Some((a, b)) => lin.set_adapter(a, b, scale)?,
            None => lin.detach_adapter()?,
        }
    }
    Ok(cfg)
}
