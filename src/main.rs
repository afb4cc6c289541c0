//! `trainer` command line. The only place that uses `anyhow`: library errors are typed, and are
//! printed here with their full cause chain (`{:#}`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use trainer::config::{Config, DEFAULT_TOML};

/// The environment variables the program reads, for `--help`.
const ENVIRONMENT: &str = "\
Environment:
  TRAINER_CACHE                  asset cache (default: <repo>/.cache/assets): tokenizer, models, BFCL data
  RUST_LOG                       log filter (default: info), e.g. RUST_LOG=trainer=debug
  RAYON_NUM_THREADS              CPU threads (default: run.threads of the config, else all cores)
  TRAINER_CUDA_KERNELS=0         CUDA: candle's composed ops instead of the kernels/*.cu kernels
  TRAINER_FLASH_ATTENTION=1|0    CUDA training attention: always / never flash (default: auto, from 2^28 scores per layer)
  TRAINER_FLASH_TENSOR_CORES=0   CUDA: flash attention on the CUDA cores instead of the tensor cores (bf16/f16)";

#[derive(Parser)]
#[command(
    name = "trainer",
    version,
    about = "InfTool in Rust: synthesize verified tool-use data from API specs and train a tool-calling LLM (SFT + GRPO with LoRA) on candle",
    long_about = None,
    after_help = ENVIRONMENT
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
        /// GPU memory in GiB for the memory preflight of a CUDA run (default: the device's
        /// total memory, asked from the driver).
        #[arg(long)]
        gpu_mem_gib: Option<f64>,
        /// Run even when the memory preflight (`trainer plan`'s estimate) says the run does not
        /// fit the GPU; the refusal is logged as a warning.
        #[arg(long)]
        ignore_memory_plan: bool,
    },
    /// Synthesis only: write verified trajectories as JSONL.
    Synth {
        /// Config file (default: the embedded configs/default.toml).
        config: Option<PathBuf>,
        /// Output JSONL file of verified trajectories (tasks and statistics are written beside it).
        #[arg(long)]
        out: PathBuf,
        /// Format of the trajectories file: `openai` (chat messages with `tool_calls` + `tools`,
        /// what TRL's SFTTrainer and HF `datasets` read) or `sharegpt` (LLaMA-Factory's
        /// `conversations` with `function_call`/`observation` turns).
        #[arg(long, value_enum, default_value_t = DataFormat::Openai)]
        format: DataFormat,
    },
    /// Convert OpenAI-chat trajectories (`trainer synth` output, a run's
    /// iter_NNNN/trajectories.jsonl) to ShareGPT JSONL (LLaMA-Factory's tool-calling layout);
    /// prints what was converted and what was left out, and why.
    Sharegpt {
        /// Input JSONL (one record with `messages` and optionally `tools` per line).
        input: PathBuf,
        /// Output JSONL (may be the input: it is replaced atomically).
        #[arg(long)]
        out: PathBuf,
    },
    /// The tool pool as a run builds it: ingest the configured specs, refine them (InfTool's MCP
    /// tree: similar tools judged by `synth.toolsets.refine`, each redundant set merged into one
    /// definition) and group them into toolsets. Writes OUT/tools.jsonl, OUT/refine.jsonl (one
    /// merge per line) and OUT/toolsets.jsonl, and prints what was merged into what.
    Toolsets {
        /// Config file (default: the embedded configs/default.toml).
        config: Option<PathBuf>,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
    },
    /// Cold-start SFT only.
    Sft {
        /// Config file (default: the embedded configs/default.toml).
        config: Option<PathBuf>,
    },
    /// Evaluate the model (or a checkpoint) on BFCL v4 single-turn, multi-turn and memory categories:
    /// official-layout result files, score files and summary.json; resumes where an earlier run
    /// stopped.
    Eval {
        /// Config file (default: the embedded configs/default.toml).
        config: Option<PathBuf>,
        /// Evaluate iteration N of the run (runs/<name>/iter_000N, with its adapter); default:
        /// the base model, written to runs/<name>/eval/.
        #[arg(long)]
        iter: Option<usize>,
        /// Categories or collections, comma separated (`all` = every supported single-turn,
        /// multi-turn and memory category). Default: eval.categories.
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
        /// The run directory (runs/<name>).
        run_dir: PathBuf,
        /// Export iteration N (default: the run's `latest`).
        #[arg(long)]
        iter: Option<usize>,
        /// Write a PEFT adapter directory here (adapter_config.json, adapter_model.safetensors).
        #[arg(long, conflicts_with = "merged", required_unless_present = "merged")]
        peft: Option<PathBuf>,
        /// Write a Hugging Face model directory with the adapter merged into the weights here.
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
        /// Config file (default: the embedded configs/default.toml).
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
    /// Serve the config's ingested tools (or one toolset) as an MCP server over stdio, answered
    /// by the server simulator (stdout is the protocol; logs go to stderr).
    McpServe {
        /// Config file (default: the embedded configs/default.toml).
        config: Option<PathBuf>,
        /// Serve only this toolset (id as synthesis builds them, e.g. `ts-000`).
        #[arg(long)]
        toolset: Option<String>,
        /// Spec files or directories to serve instead of the config's `synth.specs`.
        #[arg(long = "spec")]
        specs: Vec<PathBuf>,
    },
    /// Serve the configured model as an OpenAI-compatible HTTP endpoint (`/v1/chat/completions`
    /// with tools, `/v1/embeddings`, `/v1/models`).
    Serve {
        /// Config file (default: the embedded configs/default.toml).
        config: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Port to listen on.
        #[arg(long, default_value_t = 8000)]
        port: u16,
        /// The model id clients send (default: the model's name from model.source).
        #[arg(long)]
        model_name: Option<String>,
        /// PEFT adapter directory to apply.
        #[arg(long)]
        adapter: Option<PathBuf>,
        /// Milliseconds to wait for more requests to batch with the first one (0–60000).
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=60_000))]
        batch_window_ms: u64,
        /// Requests per engine call at most (1–1024).
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
        max_batch: u16,
    },
    /// Check a config file and print it with every default filled in.
    Config {
        /// Config file (default: the embedded configs/default.toml).
        config: Option<PathBuf>,
    },
    /// Estimate the peak device memory of a run per component (from the model's config.json or
    /// GGUF metadata, no weights loaded) and refuse a config that cannot fit (exit status 1).
    Plan {
        /// Config file (default: the embedded configs/default.toml).
        config: Option<PathBuf>,
        /// GPU memory in GiB when model.device is cuda (H100: 80, H200: 141); a cpu run's budget
        /// is MemTotal of /proc/meminfo.
        #[arg(long, default_value_t = 80.0)]
        gpu_mem_gib: f64,
        /// Take the model geometry from this config.json, model directory or .gguf file instead
        /// of model.source (plan a model whose weights are not on this machine).
        #[arg(long)]
        model_config: Option<PathBuf>,
        /// Estimate as if the fused training ops (RMS norm, rotary, attention softmax,
        /// log-softmax) ran on every device and dtype. The default estimate follows the code:
        /// fused on CPU f32 and on CUDA (its kernels, unless TRAINER_CUDA_KERNELS=0), composed
        /// candle ops on CPU bf16/f16.
        #[arg(long)]
        as_designed: bool,
        /// Print the plan as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum BfclCommand {
    /// Score official-layout BFCL result files with the official checker's rules.
    Score {
        /// Directory holding <model>/…/BFCL_v4_<category>_result.json files.
        #[arg(long)]
        result_dir: PathBuf,
        /// Directory the score files and the summary are written to.
        #[arg(long)]
        score_dir: PathBuf,
        /// Model name: the subdirectory of the result directory (as BFCL names it).
        #[arg(long)]
        model: String,
        /// Categories or collections (`simple_python`, `live`, `non_live`, `all`, ...); repeat the
        /// flag or separate with commas. Default: every result file found under D/<model>/.
        #[arg(long = "category", value_delimiter = ',')]
        categories: Vec<String>,
        /// Accept result files that hold only some of a category's entries (scored over those).
        #[arg(long)]
        partial_eval: bool,
        /// BFCL data directory (default: the cache filled by scripts/fetch-bfcl.sh).
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

/// The held-out accuracy per iteration, as a table on stdout.
fn print_run(out: &trainer::iteration::RunOutcome) {
    println!("run directory: {}", out.run_dir.display());
    println!(
        "{:<10} {:>9} {:>8} {:>10}",
        "iteration", "held-out", "reward", "synth acc"
    );
    if let Some(b) = out.summaries.first().and_then(|s| s.heldout_base.as_ref()) {
        println!(
            "{:<10} {:>9.3} {:>8.3} {:>10}",
            "base", b.accuracy, b.mean_reward, "-"
        );
    }
    for s in &out.summaries {
        println!(
            "{:<10} {:>9.3} {:>8.3} {:>10.3}",
            s.iteration, s.heldout.accuracy, s.heldout.mean_reward, s.synth.acceptance_rate
        );
    }
    println!("report: {}", out.run_dir.join("report/report.md").display());
}

/// `trainer export`: an iteration's adapter as a PEFT directory, or merged into the base model.
fn export_cmd(
    run_dir: &Path,
    iter: Option<usize>,
    peft: Option<&Path>,
    merged: Option<&Path>,
) -> Result<()> {
    let cfg_path = run_dir.join("config.resolved.toml");
    let cfg = Config::load(&cfg_path)
        .with_context(|| format!("{} is not a run directory", run_dir.display()))?;
    init_threads(&cfg);
    let k = match iter {
        Some(k) => k,
        None => {
            let latest = run_dir.join("latest");
            let text = std::fs::read_to_string(&latest).with_context(|| {
                format!(
                    "{} has no complete iteration yet (no `latest`); pass --iter N",
                    run_dir.display()
                )
            })?;
            text.trim()
                .strip_prefix("iter_")
                .and_then(|n| n.parse().ok())
                .with_context(|| {
                    format!(
                        "{}: expected iter_NNNN, found {:?}",
                        latest.display(),
                        text.trim()
                    )
                })?
        }
    };
    let adapter = run_dir.join(format!("iter_{k:04}")).join("adapter");
    if !adapter.join("adapter_config.json").is_file() {
        bail!(
            "{} has no adapter (iteration {k} not trained, or pruned: keep_last keeps the last iterations and `best`)",
            adapter.display()
        );
    }
    if let Some(out) = peft {
        trainer::checkpoint::build_dir_atomic(out, false, |tmp| {
            for f in ["adapter_model.safetensors", "adapter_config.json"] {
                std::fs::copy(adapter.join(f), tmp.join(f)).map_err(|source| {
                    trainer::checkpoint::Error::Io {
                        path: adapter.join(f),
                        source,
                    }
                })?;
            }
            Ok(())
        })?;
        eprintln!("PEFT adapter of iteration {k} written to {}", out.display());
    }
    if let Some(out) = merged {
        let mut backend = trainer::backend::LocalBackend::load(&cfg.model)?;
        backend.load_adapter(&adapter)?;
        let opts = trainer::checkpoint::HfExportOptions {
            dtype: None,
            max_shard_bytes: 2 << 30,
            merge_adapter: true,
            tokenizer: Some(backend.tokenizer()),
            overwrite: false,
        };
        let s = trainer::checkpoint::export_hf(backend.model(), out, &opts)?;
        eprintln!(
            "merged model of iteration {k} written to {} ({} files, {:.1} MB)",
            out.display(),
            s.weight_files.len(),
            s.total_size as f64 / 1e6
        );
    }
    Ok(())
}

/// `trainer plan`: prints the memory plan; an error (exit 1) when it does not fit.
fn plan_cmd(
    config: Option<&Path>,
    gpu_mem_gib: f64,
    model_config: Option<PathBuf>,
    as_designed: bool,
    json: bool,
) -> Result<()> {
    use trainer::plan;
    let cfg = load_config(config)?;
    let opts = plan::PlanOptions {
        gpu_mem_gib,
        model_config,
        fidelity: if as_designed {
            plan::Fidelity::AsDesigned
        } else {
            plan::Fidelity::AsCoded
        },
    };
    let p = plan::plan_config(&cfg, &opts)?;
    if json {
        println!("{}", plan::render_json(&p));
    } else {
        print!("{}", plan::render_table(&p));
    }
    Ok(p.check()?)
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
        Command::Plan {
            config,
            gpu_mem_gib,
            model_config,
            as_designed,
            json,
        } => plan_cmd(
            config.as_deref(),
            gpu_mem_gib,
            model_config,
            as_designed,
            json,
        ),
        Command::Config { config } => {
            let cfg = load_config(config.as_deref())?;
            print!("{}", cfg.to_toml());
            Ok(())
        }
        Command::Run {
            config,
            gpu_mem_gib,
            ignore_memory_plan,
        } => {
            let cfg = load_config(config.as_deref())?;
            init_threads(&cfg);
            let opts = trainer::iteration::RunOptions {
                progress: true,
                until: None,
                preflight: trainer::runloop::preflight::PreflightOptions {
                    gpu_mem_gib,
                    ignore: ignore_memory_plan,
                },
            };
            let out = trainer::iteration::run(&cfg, &opts)?;
            print_run(&out);
            Ok(())
        }
        Command::Synth {
            config,
            out,
            format,
        } => {
            let cfg = load_config(config.as_deref())?;
            init_threads(&cfg);
            let outcome = trainer::synth::synthesize(&cfg, &out, true)?;
            print!("{}", outcome.stats);
            if format == DataFormat::Sharegpt {
                sharegpt_cmd(&out, &out)?;
            }
            eprintln!(
                "wrote {} (+ .tokens.jsonl, .rejected.jsonl, .tasks.jsonl, .toolsets.jsonl, .refine.jsonl, .stats.json)",
                outcome.files.chat.display()
            );
            Ok(())
        }
        Command::Sharegpt { input, out } => sharegpt_cmd(&input, &out),
        Command::Toolsets { config, out } => {
            let cfg = load_config(config.as_deref())?;
            init_threads(&cfg);
            let (pool, files) = trainer::synth::pool::write_pool(&cfg, &out)?;
            println!("MCP-tree refinement: {}", pool.refined.summary());
            for m in &pool.refined.merges {
                println!(
                    "  pass {} ({}, similarity {:.3}): {} -> {}",
                    m.pass,
                    m.by,
                    m.similarity,
                    m.tools.join(", "),
                    m.merged
                );
            }
            println!("{} toolsets:", pool.toolsets.len());
            for t in &pool.toolsets {
                println!(
                    "  {} {} ({} tools): {}",
                    t.id,
                    t.label,
                    t.tools.len(),
                    t.tools.join(", ")
                );
            }
            eprintln!(
                "wrote {}, {}, {}",
                files.tools.display(),
                files.refine.display(),
                files.toolsets.display()
            );
            Ok(())
        }
        Command::Sft { config } => {
            let cfg = load_config(config.as_deref())?;
            init_threads(&cfg);
            let opts = trainer::iteration::RunOptions {
                progress: true,
                until: Some("sft"),
                ..Default::default()
            };
            let out = trainer::iteration::run(&cfg, &opts)?;
            eprintln!(
                "cold-start SFT done: adapter in {}",
                out.run_dir.join("iter_0000/adapter").display()
            );
            Ok(())
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
        Command::Export {
            run_dir,
            iter,
            peft,
            merged,
        } => export_cmd(&run_dir, iter, peft.as_deref(), merged.as_deref()),
        Command::Specs { files, allow_bfcl } => specs_cmd(&files, allow_bfcl),
        Command::McpServe {
            config,
            toolset,
            specs,
        } => mcp_serve(config.as_deref(), toolset, specs),
        Command::Serve {
            config,
            host,
            port,
            model_name,
            adapter,
            batch_window_ms,
            max_batch,
        } => {
            let cfg = load_config(config.as_deref())?;
            init_threads(&cfg);
            serve_cmd(
                &cfg,
                host,
                port,
                model_name,
                adapter.as_deref(),
                batch_window_ms,
                usize::from(max_batch),
            )
        }
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

/// Trajectory file formats (`trainer synth --format`).
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DataFormat {
    Openai,
    Sharegpt,
}

/// `trainer sharegpt` (and `synth --format sharegpt`): converts and reports what was left out.
fn sharegpt_cmd(input: &Path, out: &Path) -> Result<()> {
    let stats = trainer::synth::sharegpt::convert_file(input, out)?;
    eprintln!(
        "ShareGPT: {} records written to {}, {} left out{}",
        stats.converted + stats.already,
        out.display(),
        stats.skipped.len(),
        if stats.already > 0 {
            format!(" ({} were ShareGPT already)", stats.already)
        } else {
            String::new()
        }
    );
    for (id, why) in stats.skipped.iter().take(10) {
        eprintln!("  left out {id}: {why}");
    }
    if stats.skipped.len() > 10 {
        eprintln!("  ... and {} more", stats.skipped.len() - 10);
    }
    if stats.dropped_texts > 0 {
        eprintln!(
            "  {} assistant texts (or reasonings) written beside tool calls were dropped (a \
             ShareGPT `function_call` turn holds only the calls)",
            stats.dropped_texts
        );
    }
    Ok(())
}

/// `trainer mcp-serve`: the simulated toolset as an MCP server on stdio.
fn mcp_serve(config: Option<&Path>, toolset: Option<String>, specs: Vec<PathBuf>) -> Result<()> {
    let cfg = load_config(config)?;
    let selection = trainer::mcp::ServeSelection { specs, toolset };
    Ok(trainer::mcp::serve::run(&cfg, &selection)?)
}

/// `trainer serve`: loads the model and serves it until the process is stopped.
fn serve_cmd(
    cfg: &Config,
    host: String,
    port: u16,
    model_name: Option<String>,
    adapter: Option<&Path>,
    batch_window_ms: u64,
    max_batch: usize,
) -> Result<()> {
    use trainer::backend::{ChatBackend, GenParams, LocalBackend};
    use trainer::serve::{BatchOptions, Defaults, ServeOptions, Server};
    let mut backend = LocalBackend::load(&cfg.model).context("loading the model")?;
    if let Some(dir) = adapter {
        backend
            .load_adapter(dir)
            .with_context(|| format!("applying adapter {}", dir.display()))?;
    }
    let g = &cfg.generation;
    let max_batch = max_batch.max(1);
    let opts = ServeOptions {
        host,
        port,
        model_name: model_name.unwrap_or_else(|| backend.name().to_string()),
        defaults: Defaults {
            params: GenParams {
                sampling: trainer::engine::SamplingParams {
                    temperature: g.temperature,
                    top_k: g.top_k,
                    top_p: g.top_p,
                },
                max_new_tokens: g.max_new_tokens,
            },
            max_tokens_limit: backend.model().config().max_position_embeddings.max(1),
        },
        seed: cfg.run.seed,
        batch: BatchOptions {
            window: std::time::Duration::from_millis(batch_window_ms),
            max_batch,
        },
        workers: (2 * max_batch).max(8),
    };
    let server = Server::start(backend, &opts)?;
    eprintln!(
        "serving `{}` at {} (OpenAI-compatible; Ctrl-C stops)",
        opts.model_name,
        server.base_url()
    );
    server.wait();
    Ok(())
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
        if !c.unscored.is_empty() {
            println!(
                "  {} UNSCORED (counted as not correct; accuracy is a lower bound; error_type {} in the score file):",
                c.unscored.len(),
                trainer::eval::score::UNSCORED_ERROR_TYPE
            );
            for u in c.unscored.iter().take(5) {
                println!("    {}", u.reason);
            }
        }
    }
    for s in &summary.skipped {
        println!("skipped {}: {}", s.path.display(), s.reason);
    }
    let o = &summary.overall;
    println!(
        "overall {:.2}%  non_live {:.2}%  live {:.2}%  irrelevance {:.2}%  multi_turn {:.2}%",
        o.overall * 100.0,
        o.non_live * 100.0,
        o.live * 100.0,
        o.irrelevance * 100.0,
        o.multi_turn * 100.0
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
        task_id: None,
        messages,
        tools,
        seed: cfg.run.seed,
        adapter: true,
        history_ids: Vec::new(),
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
