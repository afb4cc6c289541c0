//! `trainer run`'s memory preflight (`runloop::preflight`): a CUDA run that the planner says does
//! not fit is refused with its message before any weight is loaded, unless overridden; a CPU run
//! is only logged. The model here is a geometry-only fixture (a `config.json`, no weights), so
//! reaching the weight loader would fail with a different error.

use std::path::Path;

use trainer::config::Config;
use trainer::iteration::{run, RunOptions};
use trainer::runloop::preflight::{preflight, PreflightOptions};

fn config(device: &str, source: &str) -> Config {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = format!(
        r#"
[run]
name = "preflight"
[model]
source = "{root}/{source}"
dtype = "bf16"
device = "{device}"
[lora]
r = 4
alpha = 8.0
[train]
micro_batch_size = 2
max_seq_len = 16
logprob_chunk = 8
gradient_checkpointing = true
"#
    );
    Config::from_toml(&text, Path::new("preflight.toml")).unwrap()
}

fn opts(gpu_mem_gib: Option<f64>, ignore: bool) -> PreflightOptions {
    PreflightOptions {
        gpu_mem_gib,
        ignore,
    }
}

#[test]
fn cuda_run_that_does_not_fit_is_refused_unless_overridden() {
    let cfg = config("cuda", "tests/fixtures/plan/tiny");
    let plan = preflight(&cfg, &opts(Some(80.0), false)).unwrap().unwrap();
    assert!(plan.fits);
    // The tiny model needs ~1.1 GiB (mostly the CUDA margin): 0.5 GiB is refused.
    let e = preflight(&cfg, &opts(Some(0.5), false))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("memory preflight")
            && e.contains("does not fit")
            && e.contains("budget 0.50 GiB")
            && e.contains("--ignore-memory-plan"),
        "{e}"
    );
    let plan = preflight(&cfg, &opts(Some(0.5), true)).unwrap().unwrap();
    assert!(!plan.fits);
}

#[test]
fn run_refuses_before_loading_weights() {
    let cfg = config("cuda", "tests/fixtures/plan/tiny");
    let options = RunOptions {
        preflight: opts(Some(0.5), false),
        ..Default::default()
    };
    let e = run(&cfg, &options).unwrap_err().to_string();
    assert!(
        e.contains("memory preflight") && e.contains("does not fit"),
        "{e}"
    );
}

#[test]
fn unplannable_cuda_model_is_refused_and_cpu_is_only_logged() {
    let missing = config("cuda", "tests/fixtures/plan/no-such-model");
    let e = preflight(&missing, &opts(Some(80.0), false))
        .unwrap_err()
        .to_string();
    assert!(e.contains("no-such-model"), "{e}");
    assert!(preflight(&missing, &opts(Some(80.0), true))
        .unwrap()
        .is_none());
    // CPU: a plan when the model can be read (fits or not, never an error), none otherwise.
    let cpu = config("cpu", "tests/fixtures/plan/tiny");
    assert!(preflight(&cpu, &PreflightOptions::default())
        .unwrap()
        .is_some());
    let cpu_missing = config("cpu", "tests/fixtures/plan/no-such-model");
    assert!(preflight(&cpu_missing, &PreflightOptions::default())
        .unwrap()
        .is_none());
}

/// Without `--gpu-mem-gib` the budget comes from the device; a CPU-only build cannot ask one.
#[cfg(not(feature = "cuda"))]
#[test]
fn cpu_only_build_names_the_missing_cuda_support() {
    let cfg = config("cuda", "tests/fixtures/plan/tiny");
    let e = preflight(&cfg, &PreflightOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("built without CUDA"), "{e}");
}
