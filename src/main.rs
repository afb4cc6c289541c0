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
    /// Evaluate a checkpoint on BFCL (writes official-format result and score files).
    Eval {
        config: Option<PathBuf>,
        /// Iteration to evaluate (default: latest).
        #[arg(long)]
        iter: Option<usize>,
        /// Categories, comma separated, or `all`.
        #[arg(long)]
        bfcl: String,
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
        #[arg(required = true)]
        files: Vec<PathBuf>,
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
        #[arg(long = "category")]
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
        None => Ok(Config::from_toml(DEFAULT_TOML, Path::new("<embedded configs/default.toml>"))?),
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
        Command::Synth { config, .. } => {
            load_config(config.as_deref())?;
            not_implemented("synth", 4)
        }
        Command::Sft { config } => {
            load_config(config.as_deref())?;
            not_implemented("sft", 5)
        }
        Command::Eval { config, .. } => {
            load_config(config.as_deref())?;
            not_implemented("eval", 7)
        }
        Command::Bfcl { command: BfclCommand::Score { .. } } => not_implemented("bfcl score", 7),
        Command::Export { .. } => not_implemented("export", 6),
        Command::Specs { .. } => not_implemented("specs", 4),
        Command::Generate { config, prompt, tools, system, adapter, max_new_tokens } => {
            let cfg = load_config(config.as_deref())?;
            init_threads(&cfg);
            let _ = (prompt, tools, system, adapter, max_new_tokens);
            not_implemented("generate", 3).context("generate")
        }
    }
}
