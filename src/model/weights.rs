//! Where base weights come from. Loaders (safetensors directories, the HF cache, GGUF) implement
//! [`TensorSource`]; the decoder asks for tensors by their Hugging Face name, in the dtype and on the
//! device it wants, so a sharded 64 GB checkpoint is never held twice in memory.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};

use super::error::{Error, Result};

/// A read-only bag of named tensors, keyed by Hugging Face parameter names
/// (`model.layers.0.self_attn.q_proj.weight`, ...).
pub trait TensorSource {
    /// Returns the tensor converted to `dtype` and moved to `device`.
    fn get(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor>;
    /// Whether the tensor exists (e.g. `lm_head.weight` is absent when embeddings are tied).
    fn contains(&self, name: &str) -> bool;
    /// All tensor names, sorted.
    fn names(&self) -> Vec<String>;
}

/// An in-memory [`TensorSource`] (tests, GGUF after dequantization).
#[derive(Debug, Default, Clone)]
pub struct TensorMap(pub HashMap<String, Tensor>);

impl TensorSource for TensorMap {
    fn get(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor> {
        let t = self
            .0
            .get(name)
            .ok_or_else(|| Error::MissingTensor(name.to_string()))?;
        Ok(t.to_dtype(dtype)?.to_device(device)?)
    }

    fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.0.keys().cloned().collect();
        v.sort();
        v
    }
}

/// Fetches a tensor and checks its shape, so a wrong checkpoint fails with the tensor's name.
pub(crate) fn get_checked(
    src: &dyn TensorSource,
    name: &str,
    shape: &[usize],
    dtype: DType,
    device: &Device,
) -> Result<Tensor> {
    let t = src.get(name, dtype, device)?;
    if t.dims() != shape {
        return Err(Error::Shape {
            name: name.to_string(),
            got: t.dims().to_vec(),
            expected: shape.to_vec(),
        });
    }
    Ok(t)
}

/// One tensor of a random-init model: its name, shape and normal distribution (mean, std).
struct RandomSpec {
    name: String,
    shape: Vec<usize>,
    mean: f32,
    std: f32,
}

/// Every tensor of `cfg`'s checkpoint with its random-init distribution: matrices (and biases)
/// normal(0, `std`), norm weights normal(1, 0.1).
fn random_specs(cfg: &super::ModelConfig, std: f32) -> Vec<RandomSpec> {
    let (h, qd, kvd, im, v) = (
        cfg.hidden_size,
        cfg.q_dim(),
        cfg.kv_dim(),
        cfg.intermediate_size,
        cfg.vocab_size,
    );
    let mut specs = Vec::new();
    let mut put = |name: String, shape: Vec<usize>, mean: f32, sd: f32| {
        specs.push(RandomSpec {
            name,
            shape,
            mean,
            std: sd,
        })
    };
    put("model.embed_tokens.weight".into(), vec![v, h], 0.0, std);
    for i in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{i}");
        for (n, o, inp) in [
            ("self_attn.q_proj", qd, h),
            ("self_attn.k_proj", kvd, h),
            ("self_attn.v_proj", kvd, h),
            ("self_attn.o_proj", h, qd),
            ("mlp.gate_proj", im, h),
            ("mlp.up_proj", im, h),
            ("mlp.down_proj", h, im),
        ] {
            put(format!("{p}.{n}.weight"), vec![o, inp], 0.0, std);
            if cfg.attention_bias
                && matches!(
                    n,
                    "self_attn.q_proj" | "self_attn.k_proj" | "self_attn.v_proj"
                )
            {
                put(format!("{p}.{n}.bias"), vec![o], 0.0, std);
            }
        }
        put(format!("{p}.input_layernorm.weight"), vec![h], 1.0, 0.1);
        put(
            format!("{p}.post_attention_layernorm.weight"),
            vec![h],
            1.0,
            0.1,
        );
        if cfg.arch == super::Arch::Qwen3 {
            for n in ["q_norm", "k_norm"] {
                put(
                    format!("{p}.self_attn.{n}.weight"),
                    vec![cfg.head_dim],
                    1.0,
                    0.1,
                );
            }
        }
    }
    put("model.norm.weight".into(), vec![h], 1.0, 0.1);
    if !cfg.tie_word_embeddings {
        put("lm_head.weight".into(), vec![v, h], 0.0, std);
    }
    specs
}

impl TensorMap {
    /// Random weights for `cfg` (normal(0, `std`) matrices, norms near 1), from a seeded ChaCha
    /// stream on the CPU, in f32: reproducible everywhere (tests). For a large model use
    /// [`RandomWeights`], which never holds the f32 copy.
    pub fn random(cfg: &super::ModelConfig, seed: u64, std: f32) -> Result<TensorMap> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut m = HashMap::new();
        for spec in random_specs(cfg, std) {
            let n: usize = spec.shape.iter().product();
            let data: Vec<f32> = (0..n)
                .map(|_| {
                    // Box–Muller
                    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
                    let u2: f32 = rng.random::<f32>();
                    spec.mean
                        + spec.std
                            * (-2.0 * u1.ln()).sqrt()
                            * (2.0 * std::f32::consts::PI * u2).cos()
                })
                .collect();
            m.insert(spec.name, Tensor::from_vec(data, spec.shape, &Device::Cpu)?);
        }
        Ok(TensorMap(m))
    }
}

/// Random weights of a model geometry generated lazily, one tensor at a time, on the device
/// that asks for them (candle's normal sampler: cuRAND on CUDA) in the requested dtype: a
/// speed or memory benchmark of a 32B-shaped model needs neither a checkpoint nor host memory
/// for an f32 copy (131 GB). Not reproducible across devices; seed the device
/// (`Device::set_seed`) for repeatable values on one.
#[derive(Debug, Clone)]
pub struct RandomWeights {
    specs: HashMap<String, (Vec<usize>, f32, f32)>,
}

impl RandomWeights {
    /// The tensors of `cfg` with matrices normal(0, `std`) and norm weights normal(1, 0.1).
    pub fn new(cfg: &super::ModelConfig, std: f32) -> RandomWeights {
        let specs = random_specs(cfg, std)
            .into_iter()
            .map(|s| (s.name, (s.shape, s.mean, s.std)))
            .collect();
        RandomWeights { specs }
    }
}

impl TensorSource for RandomWeights {
    fn get(&self, name: &str, dtype: DType, device: &Device) -> Result<Tensor> {
        let (shape, mean, std) = self
            .specs
            .get(name)
            .ok_or_else(|| Error::MissingTensor(name.to_string()))?;
        let t = Tensor::randn(*mean, *std, shape.as_slice(), device)?;
        Ok(t.to_dtype(dtype)?)
    }

    fn contains(&self, name: &str) -> bool {
        self.specs.contains_key(name)
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.specs.keys().cloned().collect();
        v.sort();
        v
    }
}
