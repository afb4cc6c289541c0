//! `trainer eval <config>`: resolves the output directory (`--out`, `--iter N` or
//! `runs/<name>/eval/`), the data directory and the categories, loads the model (and adapter),
//! then calls [`run_eval`].

use std::path::PathBuf;

use super::run::{run_eval, EvalArgs, RunInfo};
use super::select::select_categories;
use super::{Error, EvalProfile, EvalSummary, Result};
use crate::backend::LocalBackend;
use crate::config::Config;

/// Command-line overrides of the `[eval]` section.
#[derive(Debug, Clone, Default)]
pub struct EvalOptions {
    /// `--bfcl`: categories or collections (default: `eval.categories`).
    pub categories: Option<Vec<String>>,
    /// `--iter N`: evaluate `runs/<name>/iter_000N` (its adapter, if it has one).
    pub iter: Option<usize>,
    /// `--out DIR`: output directory.
    pub out: Option<PathBuf>,
    /// `--profile`: overrides `eval.profile`.
    pub profile: Option<EvalProfile>,
    /// `--limit`: overrides `eval.limit`.
    pub limit: Option<usize>,
    /// `--adapter DIR`: a PEFT adapter to apply.
    pub adapter: Option<PathBuf>,
    /// Draw a progress bar on stderr.
    pub show_progress: bool,
}

/// `runs/<name>/iter_000N` for `--iter N`.
pub fn iteration_dir(cfg: &Config, iter: usize) -> PathBuf {
    cfg.run_dir().join(format!("iter_{iter:04}"))
}

/// Evaluates the configured model on BFCL as the `eval` command does.
pub fn eval_from_config(cfg: &Config, opts: &EvalOptions) -> Result<EvalSummary> {
    let (args, adapter) = eval_args(cfg, opts)?;
    let mut backend = LocalBackend::load(&cfg.model)?;
    if let Some(dir) = &adapter {
        backend.load_adapter(dir)?;
    }
    run_eval(&backend, &args)
}

/// Checks the options against the config and the data (before any model loads) and resolves
/// them into the evaluation's arguments and the adapter directory to apply, if any.
pub fn eval_args(cfg: &Config, opts: &EvalOptions) -> Result<(EvalArgs, Option<PathBuf>)> {
    let mut adapter = opts.adapter.clone();
    let out_dir = match (&opts.out, opts.iter) {
        (Some(out), _) => out.clone(),
        (None, Some(n)) => iteration_dir(cfg, n).join("eval"),
        (None, None) => cfg.run_dir().join("eval"),
    };
    if let Some(n) = opts.iter {
        let dir = iteration_dir(cfg, n);
        if !dir.is_dir() {
            return Err(Error::NoIteration { iter: n, path: dir });
        }
        let iter_adapter = dir.join("adapter");
        if iter_adapter.join("adapter_config.json").is_file() {
            if adapter.is_some() {
                return Err(Error::Invalid(format!(
                    "--adapter conflicts with --iter {n}, which has its own adapter ({})",
                    iter_adapter.display()
                )));
            }
            adapter = Some(iter_adapter);
        }
    }
    let categories = opts
        .categories
        .clone()
        .unwrap_or_else(|| cfg.eval.categories.clone());
    if categories.is_empty() {
        return Err(Error::Invalid(
            "--bfcl needs a category, a collection or `all`".into(),
        ));
    }
    let limit = opts.limit.or(cfg.eval.limit);
    if limit == Some(0) {
        return Err(Error::Invalid("--limit must be > 0".into()));
    }
    let data_dir = cfg
        .eval
        .data_dir
        .as_ref()
        .map(PathBuf::from)
        .unwrap_or_else(crate::eval::data::default_data_dir);
    // Fail fast, before the model loads.
    let (run, skipped) = select_categories(&categories)?;
    if !skipped.is_empty() {
        let names: Vec<&str> = skipped.iter().map(|s| s.category.as_str()).collect();
        tracing::warn!(
            "skipping {} categories not supported yet: {}",
            names.len(),
            names.join(", ")
        );
    }
    if run.is_empty() {
        return Err(Error::NothingToEvaluate(format!(
            "none of {} is a supported category (single-turn and multi-turn categories)",
            categories.join(", ")
        )));
    }
    if !data_dir.is_dir() {
        return Err(Error::NoData(data_dir));
    }

    let args = EvalArgs {
        profile: opts.profile.unwrap_or(cfg.eval.profile),
        categories,
        data_dir,
        out_dir,
        limit,
        batch_size: cfg.eval.batch_size,
        seed: cfg.run.seed,
        show_progress: opts.show_progress,
        run_info: RunInfo {
            model_source: cfg.model.source.clone(),
            tokenizer: cfg.model.tokenizer.clone(),
            dtype: format!("{:?}", cfg.model.dtype).to_lowercase(),
            adapter: adapter.as_ref().map(|a| a.display().to_string()),
            max_new_tokens: cfg.eval.max_new_tokens,
        },
    };
    Ok((args, adapter))
}
