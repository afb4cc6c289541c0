//! The in-process backend: our candle model + tokenizer + chat template + batched engine.

use std::path::Path;
use std::sync::Mutex;

use candle_core::Device;

use super::{ChatBackend, ChatCompletion, ChatRequest, Error, GenParams, Result};
use crate::chat::{parse_lenient, Tokenizer};
use crate::config::ModelSection;
use crate::engine::{generate_cached, GenConfig, GenRequest, PrefixCache, PrefixStats};
use crate::model::load::{ModelSource, TokenizerFiles};
use crate::model::Model;

/// Named real assets usable as `model.source = "asset:NAME"`.
const ASSETS: &[&str] = &["smollm2-135m-instruct"];

/// The Hugging Face repository a named asset was converted from (what a PEFT adapter trained on
/// it records as its base model, so that PEFT/transformers can load it).
pub fn asset_hub_id(spec: &str) -> Option<&'static str> {
    match spec.strip_prefix("asset:")? {
        "smollm2-135m-instruct" => Some("HuggingFaceTB/SmolLM2-135M-Instruct"),
        _ => None,
    }
}

/// Resolves `asset:NAME` to the fetched file; other specs pass through unchanged.
pub fn resolve_model_spec(spec: &str) -> Result<String> {
    let Some(name) = spec.strip_prefix("asset:") else {
        return Ok(spec.to_string());
    };
    let path = match name {
        "smollm2-135m-instruct" => crate::assets::smollm2_gguf_path(),
        other => {
            return Err(Error::Invalid(format!(
                "unknown asset `{other}` in model.source (known: {})",
                ASSETS.join(", ")
            )))
        }
    };
    if !path.is_file() {
        return Err(Error::Invalid(format!(
            "asset `{name}` is not fetched yet (expected {}); run scripts/fetch-assets.sh",
            path.display()
        )));
    }
    Ok(path.display().to_string())
}

/// `cpu`, `cuda`, `cuda:N` → a candle device (CUDA needs a build with `--features cuda`).
pub fn parse_device(name: &str) -> Result<Device> {
    let ordinal = match name {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        other => other
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "model.device = {other:?}: allowed \"cpu\", \"cuda\", \"cuda:N\""
                ))
            })?,
    };
    Device::new_cuda(ordinal).map_err(|e| {
        let hint = if cfg!(feature = "cuda") {
            "check the GPU driver and that LD_LIBRARY_PATH has the CUDA libraries (README \"GPU build\")"
        } else {
            "this binary was built without CUDA: build it with scripts/build-cuda.sh (`--features cuda`) on or for a GPU host"
        };
        Error::Invalid(format!(
            "model.device = {name:?}: cannot open CUDA device {ordinal} ({e}); {hint}"
        ))
    })
}

pub struct LocalBackend {
    model: Model,
    tokenizer: Tokenizer,
    name: String,
    stop_ids: Vec<u32>,
    /// Keys/values of earlier completions (see [`crate::engine::PrefixCache`]); cleared whenever
    /// the model may change.
    prefix: Mutex<PrefixCache>,
}

impl LocalBackend {
    /// Loads the model and tokenizer a `[model]` config section names.
    pub fn load(section: &ModelSection) -> Result<LocalBackend> {
        let spec = resolve_model_spec(&section.source)?;
        let device = parse_device(&section.device)?;
        let source = ModelSource::resolve(&spec)?;
        let tokenizer = match (&section.tokenizer, &source.tokenizer) {
            (Some(t), _) => load_tokenizer_path(Path::new(t))?,
            (None, TokenizerFiles::Dir(d)) => Tokenizer::from_dir(d)?,
            (None, TokenizerFiles::Gguf { content, .. }) => Tokenizer::from_gguf(content)?,
            (None, TokenizerFiles::None) => {
                return Err(Error::Invalid(format!(
                "{} has no tokenizer files; set model.tokenizer to a directory or tokenizer.json",
                source.path.display()
            )))
            }
        };
        let model = source.load_model(section.dtype.to_candle(), &device)?;
        let mut backend = LocalBackend::new(model, tokenizer, source.name.clone());
        backend.set_prefix_cache_mb(section.prefix_cache_mb);
        Ok(backend)
    }

    pub fn new(model: Model, tokenizer: Tokenizer, name: String) -> LocalBackend {
        let mut stop_ids = tokenizer.stop_ids().to_vec();
        for id in &model.config().eos_token_ids {
            if !stop_ids.contains(id) {
                stop_ids.push(*id);
            }
        }
        LocalBackend {
            model,
            tokenizer,
            name,
            stop_ids,
            prefix: Mutex::new(PrefixCache::new(0)),
        }
    }

    /// Sets the prefix cache's budget in MiB (0 = off); drops what it holds.
    pub fn set_prefix_cache_mb(&mut self, mb: usize) {
        *self.prefix_cache() = PrefixCache::new(mb.saturating_mul(1 << 20));
    }

    /// The prefix cache's counters since it was last cleared.
    pub fn prefix_stats(&self) -> PrefixStats {
        self.prefix_cache().stats()
    }

    fn prefix_cache(&self) -> std::sync::MutexGuard<'_, PrefixCache> {
        // A panic while holding the lock cannot leave the cache inconsistent for its users: at
        // worst an entry is missing.
        self.prefix
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies a PEFT adapter directory to the model.
    pub fn load_adapter(&mut self, dir: &Path) -> Result<()> {
        self.prefix_cache().clear();
        crate::checkpoint::load_peft(dir, &mut self.model)?;
        Ok(())
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Mutable access to the model (training, adapters): the prefix cache is cleared, since
    /// its keys/values belong to the current weights.
    pub fn model_mut(&mut self) -> &mut Model {
        self.prefix_cache().clear();
        &mut self.model
    }

    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Renders a conversation with the model's chat template (generation prompt appended) and
    /// tokenizes it; the template already contains the special tokens.
    ///
    /// A template without tool support (SmolLM2's) gets the conversation rewritten into the
    /// Hermes/Qwen text format first (see [`Tokenizer::render_conversation`]).
    ///
    /// With `req.history_ids` (token-in/token-out) the prompt is those ids — the model's own
    /// earlier prompt and sampled tokens, closed with the template's turn-end token when that
    /// turn was truncated — followed by the rendering of only the messages after them: the part
    /// of the full rendering after as many turn-end tokens as the history holds. A rendering
    /// with fewer turn-end tokens than that (a template that drops history) is used whole.
    pub fn prompt_ids(&self, req: &ChatRequest) -> Result<Vec<u32>> {
        let text = self
            .tokenizer
            .render_conversation(&req.messages, &req.tools, true)?;
        let full = self.tokenizer.encode(&text, false)?;
        if req.history_ids.is_empty() {
            return Ok(full);
        }
        let ends = &self.stop_ids;
        let mut seen = req.history_ids.iter().filter(|t| ends.contains(t)).count();
        let closed = req.history_ids.last().is_some_and(|t| ends.contains(t));
        if !closed {
            seen += 1;
        }
        let Some(cut) = crate::rollout::position_after_nth(&full, ends, seen) else {
            tracing::debug!("history has more turn ends than the rendering: re-rendered prompt");
            return Ok(full);
        };
        let mut ids = req.history_ids.clone();
        if !closed {
            // The end token the template put after that assistant message.
            ids.extend(full.get(cut - 1).copied());
        }
        ids.extend_from_slice(full.get(cut..).unwrap_or_default());
        Ok(ids)
    }
}

fn load_tokenizer_path(p: &Path) -> Result<Tokenizer> {
    if p.is_dir() {
        return Ok(Tokenizer::from_dir(p)?);
    }
    let cfg = p.with_file_name("tokenizer_config.json");
    Ok(Tokenizer::from_files(
        p,
        cfg.is_file().then_some(cfg.as_path()),
    )?)
}

impl ChatBackend for LocalBackend {
    fn complete(
        &self,
        requests: &[ChatRequest],
        params: &GenParams,
    ) -> Result<Vec<ChatCompletion>> {
        let prompts = requests
            .iter()
            .map(|r| self.prompt_ids(r))
            .collect::<Result<Vec<_>>>()?;
        let gen_requests: Vec<GenRequest> = prompts
            .iter()
            .zip(requests)
            .map(|(p, r)| GenRequest {
                prompt: p.clone(),
                seed: r.seed,
                adapter: r.adapter,
            })
            .collect();
        let cfg = GenConfig {
            sampling: params.sampling,
            max_new_tokens: params.max_new_tokens,
            stop_ids: self.stop_ids.clone(),
            ..GenConfig::default()
        };
        let outs = {
            let mut prefix = self.prefix_cache();
            let before = prefix.stats();
            let outs = generate_cached(
                &self.model,
                &gen_requests,
                &cfg,
                Some(&mut prefix),
                &mut |_| {},
            )?;
            let after = prefix.stats();
            if prefix.enabled() {
                tracing::debug!(
                    "prefix cache: {} of {} prompt tokens reused ({} entries, {:.0} MiB)",
                    after.reused_tokens - before.reused_tokens,
                    after.prompt_tokens - before.prompt_tokens,
                    prefix.len(),
                    prefix.used_bytes() as f64 / (1 << 20) as f64
                );
            }
            outs
        };
        prompts
            .into_iter()
            .zip(outs)
            .map(|(prompt_ids, out)| {
                let body = match out.tokens.last() {
                    Some(last) if self.stop_ids.contains(last) => {
                        &out.tokens[..out.tokens.len() - 1]
                    }
                    _ => &out.tokens[..],
                };
                let text = self.tokenizer.decode(body, false)?;
                Ok(ChatCompletion {
                    parsed: parse_lenient(&text),
                    text,
                    prompt_ids,
                    completion_ids: out.tokens,
                    logprobs: out.logprobs,
                    finish: out.finish,
                })
            })
            .collect()
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn reset_cache(&self) {
        self.prefix_cache().clear();
    }
}
