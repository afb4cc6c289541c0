//! `trainer` command line. The only place that uses `anyhow`: library errors are typed, and are
//! printed here with their full cause chain (`{:#}`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use trainer::config::{Config, DEFAULT_TOML};

#[derive(Parser)]
#[command(
    name = "trainer",
    version,
    about = "InfTool in Rust: synthesize verified tool-use data from API specs and train a tool-calling LLM (SFT + GRPO with LoRA) on candle",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The closed loop: synthesize → train (SFT/GRPO) → evaluate → gap-targeted synthesis; resumes
    /// automatically if the run directory exists.
    Run {
        /// Config file (default: the embedded configs/default.toml).
        config: Option<PathBuf>,
    },
    /// Synthesis only: write verified trajectories as JSONL.
    Synth {
        config: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Cold-start SFT only.
    Sft { config: Option<PathBuf> },
    /// Evaluate the model (or a checkpoint) on BFCL v4 single-turn categories: official-layout
    /// result files, score files and summary.json; resumes where an earlier run stopped.
    Eval {
        config: Option<PathBuf>,
        /// Evaluate iteration N of the run (runs/<name>/iter_000N, with its adapter); default:
        /// the base model, written to runs/<name>/eval/.
        #[arg(long)]
        iter: Option<usize>,
        /// Categories or collections, comma separated (`all` = every supported single-turn
        /// category). Default: eval.categories.
        #[arg(long, value_delimiter = ',')]
        bfcl: Option<Vec<String>>,
        /// Output directory (default: runs/<name>/eval, or runs/<name>/iter_000N/eval).
        #[arg(long)]
        out: Option<PathBuf>,
        /// `fc` (Qwen/Qwen3-8B-FC) or `prompting` (Qwen/Qwen3-8B). Default: eval.profile.
        #[arg(long)]
        profile: Option<String>,
        /// At most N entries per category (partial scoring). Default: eval.limit.
        #[arg(long)]
        limit: Option<usize>,
        /// PEFT adapter directory to apply.
        #[arg(long)]
        adapter: Option<PathBuf>,
    },
    /// BFCL tools.
    Bfcl {
        #[command(subcommand)]
        command: BfclCommand,
    },
    /// Export a checkpoint as a PEFT adapter directory or a merged Hugging Face model directory.
    Export {
        run_dir: PathBuf,
        #[arg(long)]
        iter: Option<usize>,
        #[arg(long, conflicts_with = "merged", required_unless_present = "merged")]
        peft: Option<PathBuf>,
        #[arg(long)]
        merged: Option<PathBuf>,
    },
    /// Ingest and validate API specs; print the normalized tools and a report.
    Specs {
        /// Spec files or directories (searched recursively for .json/.jsonl/.yaml/.yml).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Ingest BFCL evaluation data anyway (evaluation tooling only: never train on it).
        #[arg(long)]
        allow_bfcl: bool,
    },
    /// One chat completion with the configured model (optionally with tools).
    Generate {
        config: Option<PathBuf>,
        /// The user message.
        #[arg(long)]
        prompt: String,
        /// A JSON file of tools (OpenAI `tools` format) to offer the model.
        #[arg(long)]
        tools: Option<PathBuf>,
        /// Optional system message.
        #[arg(long)]
        system: Option<String>,
        /// PEFT adapter directory to apply.
        #[arg(long)]
        adapter: Option<PathBuf>,
        /// Override generation.max_new_tokens.
        #[arg(long)]
        max_new_tokens: Option<usize>,
    },
    /// Check a config file and print it with every default filled in.
    Config { config: Option<PathBuf> },
}

#[derive(Subcommand)]
enum BfclCommand {
    /// Score official-layout BFCL result files with the official checker's rules.
    Score {
        #[arg(long)]
        result_dir: PathBuf,
        #[arg(long)]
        score_dir: PathBuf,
        #[arg(long)]
        model: String,
        /// Categories or collections (`simple_python`, `live`, `non_live`, `all`, ...); repeat the
        /// flag or separate with commas. Default: every result file found under D/<model>/.
        #[arg(long = "category", value_delimiter = ',')]
        categories: Vec<String>,
        #[arg(long)]
        partial_eval: bool,
        /// BFCL data directory (default: the cache filled by scripts/fetch-assets.sh).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::from_toml(
            DEFAULT_TOML,
            Path::new("<embedded configs/default.toml>"),
        )?),
    }
}

fn not_implemented(what: &str, issue: u32) -> Result<()> {
    bail!("`trainer {what}` is not implemented yet (tracked in issue #{issue}); no output was written")
}

fn init_threads(cfg: &Config) {
    if cfg.run.threads > 0 && std::env::var_os("RAYON_NUM_THREADS").is_none() {
        // Must happen before the first tensor op starts candle's thread pool.
        std::env::set_var("RAYON_NUM_THREADS", cfg.run.threads.to_string());
    }
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Config { config } => {
            let cfg = load_config(config.as_deref())?;
            print!("{}", cfg.to_toml());
            Ok(())
        }
        Command::Run { config } => {
            let cfg = load_config(config.as_deref())?;
            init_threads(&cfg);
            not_implemented("run", 6)
        }
        Command::Synth { config, out } => {
            let cfg = load_config(config.as_deref())?;
            init_threads(&cfg);
            let outcome = trainer::synth::synthesize(&cfg, &out, true)?;
            print!("{}", outcome.stats);
            eprintln!(
                "wrote {} (+ .tokens.jsonl, .rejected.jsonl, .tasks.jsonl, .toolsets.jsonl, .stats.json)",
                outcome.files.chat.display()
            );
            Ok(())
        }
        Command::Sft { config } => {
            load_config(config.as_deref())?;
            not_implemented("sft", 5)
        }
        Command::Eval {
            config,
            iter,
            bfcl,
            out,
            profile,
            limit,
            adapter,
        } => {
            let cfg = load_config(config.as_deref())?;
            init_threads(&cfg);
            let profile = match profile.as_deref() {
                None => None,
                Some(p) => Some(trainer::eval::infer::EvalProfile::parse(p).with_context(
                    || format!("--profile {p:?}: allowed \"fc\" or \"prompting\""),
                )?),
            };
            let opts = trainer::eval::infer::EvalOptions {
                categories: bfcl,
                iter,
                out,
                profile,
                limit,
                adapter,
                show_progress: true,
            };
            let summary = trainer::eval::infer::eval_from_config(&cfg, &opts)?;
            println!("{summary}");
            Ok(())
        }
        Command::Bfcl {
            command:
                BfclCommand::Score {
                    result_dir,
                    score_dir,
                    model,
                    categories,
                    partial_eval,
                    data,
                },
        } => bfcl_score(result_dir, score_dir, model, categories, partial_eval, data),
        Command::Export { .. } => not_implemented("export", 6),
        Command::Specs { files, allow_bfcl } => specs_cmd(&files, allow_bfcl),
        Command::Generate {
            config,
            prompt,
            tools,
            system,
            adapter,
            max_new_tokens,
        } => {
            let cfg = load_config(config.as_deref())?;
            init_threads(&cfg);
            generate_once(
                &cfg,
                &prompt,
                tools.as_deref(),
                system,
                adapter.as_deref(),
                max_new_tokens,
            )
        }
    }
}

/// `trainer specs`: normalized tools as JSON lines on stdout, the report on stderr.
fn specs_cmd(inputs: &[PathBuf], allow_bfcl: bool) -> Result<()> {
    use std::io::Write;
    let paths = trainer::synth::expand_spec_paths(inputs)?;
    let opts = trainer::specs::IngestOptions {
        allow_bfcl,
        ..Default::default()
    };
    let ingested = trainer::specs::ingest_paths(&paths, &opts);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for tool in &ingested.tools {
        serde_json::to_writer(&mut out, tool)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    eprint!("{}", ingested.report);
    Ok(())
}

fn bfcl_score(
    result_dir: PathBuf,
    score_dir: PathBuf,
    model: String,
    categories: Vec<String>,
    partial_eval: bool,
    data: Option<PathBuf>,
) -> Result<()> {
    use trainer::eval::score::{score, ScoreArgs};
    let data_dir = data.unwrap_or_else(trainer::eval::data::default_data_dir);
    if !data_dir.is_dir() {
        bail!(
            "BFCL data not found at {} (run `scripts/fetch-assets.sh --bfcl`, or pass --data DIR)",
            data_dir.display()
        );
    }
    let args = ScoreArgs {
        result_dir,
        score_dir: score_dir.clone(),
        model,
        categories: (!categories.is_empty()).then_some(categories),
        partial_eval,
        data_dir,
    };
    let summary = score(&args)?;
    println!(
        "{:<26} {:>8} {:>13}",
        "category", "accuracy", "correct/total"
    );
    for c in &summary.categories {
        println!(
            "{:<26} {:>7.2}% {:>6}/{:<6}{}",
            c.category,
            c.accuracy * 100.0,
            c.correct_count,
            c.total_count,
            if c.unsupported_decodes > 0 {
                format!(
                    " ({} outputs used unsupported syntax)",
                    c.unsupported_decodes
                )
            } else {
                String::new()
            }
        );
    }
    for s in &summary.skipped {
        println!("skipped {}: {}", s.path.display(), s.reason);
    }
    let o = &summary.overall;
    println!(
        "overall {:.2}%  non_live {:.2}%  live {:.2}%  irrelevance {:.2}%",
        o.overall * 100.0,
        o.non_live * 100.0,
        o.live * 100.0,
        o.irrelevance * 100.0
    );
    println!("score files written under {}", score_dir.display());
    Ok(())
}

/// Reads an OpenAI `tools` file: a list of tools, or an object with a `tools` list.
fn read_tools(path: &Path) -> Result<Vec<serde_json::Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading tools file {}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{}: invalid JSON", path.display()))?;
    let list = match v {
        serde_json::Value::Array(a) => a,
        serde_json::Value::Object(mut o) => match o.remove("tools") {
            Some(serde_json::Value::Array(a)) => a,
            _ => bail!(
                "{}: expected a JSON list of tools or an object with a `tools` list",
                path.display()
            ),
        },
        _ => bail!(
            "{}: expected a JSON list of tools or an object with a `tools` list",
            path.display()
        ),
    };
    // Accept bare function definitions as well as {"type":"function","function":{...}}.
    list.into_iter()
        .enumerate()
        .map(|(i, t)| {
            if t.get("function").is_some() {
                Ok(t)
            } else if t.get("name").and_then(|n| n.as_str()).is_some() {
                Ok(serde_json::json!({"type": "function", "function": t}))
            } else {
                bail!(
                    "{}: tool #{i} has neither `function` nor `name`",
                    path.display()
                )
            }
        })
        .collect()
}

fn generate_once(
    cfg: &Config,
    prompt: &str,
    tools: Option<&Path>,
    system: Option<String>,
    adapter: Option<&Path>,
    max_new_tokens: Option<usize>,
) -> Result<()> {
    use trainer::backend::{ChatBackend, ChatRequest, GenParams, LocalBackend};
    use trainer::engine::SamplingParams;
    let tools = match tools {
        Some(p) => read_tools(p)?,
        None => Vec::new(),
    };
    let t0 = std::time::Instant::now();
    let mut backend = LocalBackend::load(&cfg.model).context("loading the model")?;
    if let Some(dir) = adapter {
        backend
            .load_adapter(dir)
            .with_context(|| format!("applying adapter {}", dir.display()))?;
    }
    tracing::info!(
        model = backend.name(),
        secs = t0.elapsed().as_secs_f32(),
        "model loaded"
    );
    let mut messages = Vec::new();
    if let Some(s) = system {
        messages.push(serde_json::json!({"role": "system", "content": s}));
    }
    messages.push(serde_json::json!({"role": "user", "content": prompt}));
    let g = &cfg.generation;
    let params = GenParams {
        sampling: SamplingParams {
            temperature: g.temperature,
            top_k: g.top_k,
            top_p: g.top_p,
        },
        max_new_tokens: max_new_tokens.unwrap_or(g.max_new_tokens),
    };
    let req = ChatRequest {
        messages,
        tools,
        seed: cfg.run.seed,
        adapter: true,
    };
    let t1 = std::time::Instant::now();
    let out = backend.complete(std::slice::from_ref(&req), &params)?;
    let Some(c) = out.into_iter().next() else {
        bail!("the engine returned no completion")
    };
    let secs = t1.elapsed().as_secs_f64();
    if !c.parsed.content.is_empty() || c.parsed.calls.is_empty() {
        println!("{}", c.parsed.content.trim());
    }
    for call in &c.parsed.calls {
        println!(
            "tool call: {}",
            serde_json::to_string(&call.to_openai()["function"])?
        );
    }
    for p in &c.parsed.problems {
        tracing::warn!("tool-call format: {p}");
    }
    tracing::info!(
        prompt_tokens = c.prompt_ids.len(),
        completion_tokens = c.completion_ids.len(),
        finish = c.finish.as_str(),
        tokens_per_s = c.completion_ids.len() as f64 / secs.max(1e-9),
        "done"
    );
    Ok(())
}
