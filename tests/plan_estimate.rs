//! `trainer plan`'s formulas against hand-computed numbers (a tiny 2-layer geometry, and
//! Qwen2.5-32B from a `config.json` alone with the shipped `configs/qwen32b.toml`), and its errors.
//!
//! The tiny numbers below are worked out by hand from the formulas documented in
//! `src/plan/estimate.rs` (h = 64, qd = 64, kvd = 32, im = 128, H = 4, V = 512, N = 2, r = 4).

use std::path::{Path, PathBuf};

use trainer::config::Config;
use trainer::plan::{plan_config, Fidelity, Plan, PlanOptions};

const TINY: &str = r#"
[run]
name = "tiny"
[model]
source = "tests/fixtures/plan/tiny"
dtype = "f32"
device = "cpu"
[lora]
r = 4
alpha = 8.0
[generation]
max_new_tokens = 8
[synth]
batch_size = 3
[grpo]
max_completion_length = 8
[train]
micro_batch_size = 2
max_seq_len = 16
logprob_chunk = 8
"#;

fn tiny(edit: &[(&str, &str)]) -> Config {
    let mut text = TINY.to_string();
    for (from, to) in edit {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    Config::from_toml(&text, Path::new("tiny.toml")).unwrap()
}

fn plan(cfg: &Config, fidelity: Fidelity, gpu: f64, model_config: Option<PathBuf>) -> Plan {
    plan_config(
        cfg,
        &PlanOptions {
            gpu_mem_gib: gpu,
            model_config,
            fidelity,
        },
    )
    .unwrap()
}

fn bytes(p: &Plan, name: &str) -> Option<f64> {
    p.components
        .iter()
        .find(|c| c.name == name)
        .map(|c| c.bytes)
}

#[test]
fn tiny_cpu_f32_by_hand() {
    let p = plan(&tiny(&[]), Fidelity::AsCoded, 80.0, None);
    // 2·V·h + N·(q 4096 + k 2048 + v 2048 + o 4096 + bias 128 + MLP 24576 + norms 128) + h
    // = 65536 + 2·37120 + 64 = 139840 params × 4 B.
    assert_eq!(bytes(&p, "base weights"), Some(559_360.0));
    // r·(in + out): q 512 + k 384 + v 384 + o 512 + gate/up/down 3·768 = 4096 per layer, × 2
    // layers × 20 B.
    assert_eq!(bytes(&p, "LoRA params + grads + AdamW"), Some(163_840.0));
    // 3 rows × 16 slots × (2·kvd·a·N = 512 B) × (1 + 1/N: one layer's gather when dropping rows).
    assert_eq!(bytes(&p, "KV cache"), Some(36_864.0));
    // transient 48·(H·s·12 + 4·(4·im + 2h)) = 159744; logits and the device token pick's
    // temporaries 3·V·(a + 16) = 30720 (no graph: the adapters enter generation as constants).
    assert_eq!(bytes(&p, "generation activations"), Some(190_464.0));
    // Per token and layer 1504 elements × 4 B (2h 128 + linears 512 + bias 128 + head-major
    // 128 + rotary 96 + 2qd 128 + residuals 128 + MLP 256; an adapted linear keeps only its
    // output) + H·T·8 = 6528 B; × b·T = 32 tokens; 2 span layers + 1 of backward transients;
    // + 3·b·T·h·a.
    assert_eq!(bytes(&p, "training activations"), Some(651_264.0));
    // All chunks kept: b·T·V·4 + 5·b·c·V·4.
    assert_eq!(bytes(&p, "log-prob logits"), Some(229_376.0));
    assert_eq!(bytes(&p, "frozen-weight gradients"), None);
    let parts: f64 = p.components.iter().map(|c| c.bytes).sum();
    // The total is resident + the larger phase + margin, not the sum of every line.
    assert!(p.total_bytes < parts);
    assert_eq!(
        p.total_bytes,
        p.resident_bytes + p.generation_bytes.max(p.training_bytes) + p.margin_bytes
    );
}

#[test]
fn tiny_recompute_on_cpu() {
    let cfg = tiny(&[(
        "logprob_chunk = 8",
        "logprob_chunk = 8\ngradient_checkpointing = true",
    )]);
    let p = plan(&cfg, Fidelity::AsCoded, 80.0, None);
    // 2 layer inputs b·T·h·a (16384) + 2 × one layer (208896) + 3·b·T·h·a (24576).
    assert_eq!(bytes(&p, "training activations"), Some(458_752.0));
    assert!(p.caveats.iter().all(|c| !c.contains("no effect")));
}

#[test]
fn tiny_cuda_bf16_recomputes_and_fuses_as_coded_and_cpu_bf16_composes() {
    let edits = [
        ("dtype = \"f32\"", "dtype = \"bf16\""),
        ("device = \"cpu\"", "device = \"cuda\""),
        (
            "logprob_chunk = 8",
            "logprob_chunk = 8\ngradient_checkpointing = true",
        ),
    ];
    let coded = plan(&tiny(&edits), Fidelity::AsCoded, 80.0, None);
    // Recompute and the frozen-linear backward run on CUDA: no weight gradients, no caveat.
    assert_eq!(bytes(&coded, "frozen-weight gradients"), None);
    assert!(coded.caveats.iter().all(|c| !c.contains("no effect")));
    // The CUDA kernels fuse norms, rotary and softmax, per token: elements 2h 128 + linears 512
    // + bias 128 + head-major 128 + rotary 96 + 2qd 128 + residuals 128 + MLP 256 = 1504 × 2 B
    // (adapted linears keep only their outputs) + scores H·T·2a = 4·16·4 (far below the flash
    // attention threshold) → 3264 B × b·T 32 = 104 448 per layer; recompute: 2 layer inputs
    // 8192 + 2 × 104 448 + 3·b·T·h·a 12 288.
    assert_eq!(
        bytes(&coded, "training activations"),
        Some(8192.0 + 2.0 * 104_448.0 + 12_288.0)
    );
    assert!(
        note(&coded).contains("attention scores 4 B/elem"),
        "{}",
        note(&coded)
    );
    // One recomputed chunk through the fused selected log-softmax: logits + gradient in bf16,
    // 2 · b·c·V·2 = 2·2·8·512·2.
    assert_eq!(bytes(&coded, "log-prob logits"), Some(32_768.0));
    assert_eq!(coded.budget.bytes, 80.0 * (1u64 << 30) as f64);
    // As designed is the same on CUDA.
    let designed = plan(&tiny(&edits), Fidelity::AsDesigned, 80.0, None);
    assert_eq!(designed.total_bytes, coded.total_bytes);

    // CPU bf16 composes (the fused CPU ops are f32): per token 2h 128 + linears 512 + bias 128
    // + head-major 128 + rotary 4·96 + 2qd 128 + residuals 128 + MLP 256 = 1792 × 2 B + norms
    // 2·12·64 + scores H·T·26 = 1664 → 6784 B × 32 = 217 088 per layer.
    let cpu = plan(&tiny(&[edits[0], edits[2]]), Fidelity::AsCoded, 80.0, None);
    assert_eq!(
        bytes(&cpu, "training activations"),
        Some(8192.0 + 2.0 * 217_088.0 + 12_288.0)
    );
    let cpu_designed = plan(
        &tiny(&[edits[0], edits[2]]),
        Fidelity::AsDesigned,
        80.0,
        None,
    );
    assert_eq!(
        bytes(&cpu_designed, "training activations"),
        Some(8192.0 + 2.0 * 104_448.0 + 12_288.0)
    );
    // Without checkpointing every span layer keeps its internals.
    let plain = plan(&tiny(&[edits[0]]), Fidelity::AsCoded, 80.0, None);
    assert_eq!(
        bytes(&plain, "training activations"),
        Some(3.0 * 217_088.0 + 12_288.0)
    );
}

fn qwen32b(edit: &[(&str, &str)]) -> Config {
    let path = Path::new("configs/qwen32b.toml");
    let mut text = std::fs::read_to_string(path).unwrap();
    for (from, to) in edit {
        assert!(text.contains(from), "{from}");
        text = text.replace(from, to);
    }
    Config::from_toml(&text, path).unwrap()
}

fn fixture_32b() -> Option<PathBuf> {
    Some(PathBuf::from("tests/fixtures/plan/qwen2.5-32b/config.json"))
}

const GIB: f64 = (1u64 << 30) as f64;

#[test]
fn qwen32b_components_by_hand() {
    let p = plan(&qwen32b(&[]), Fidelity::AsDesigned, 80.0, fixture_32b());
    // 2·152064·5120 + 64·(62914560 + 7168 bias + 424673280 + 10240 norms) + 5120
    // = 32 763 876 352 params × 2 B (≈ 65.5 GB).
    assert_eq!(bytes(&p, "base weights"), Some(65_527_752_704.0));
    // r = 16 on 7 linears × 64 layers: 2 097 152 per layer = 134 217 728 params × 20 B.
    assert_eq!(
        bytes(&p, "LoRA params + grads + AdamW"),
        Some(134_217_728.0 * 20.0)
    );
    // 2·8·128·2 B·64 = 256 KiB per token; 16 rows × 2048 slots, × 2.
    assert_eq!(
        bytes(&p, "KV cache"),
        Some(16.0 * 2048.0 * 262_144.0 * (1.0 + 1.0 / 64.0))
    );
}

/// The notes of the "training activations" line.
fn note(p: &trainer::plan::Plan) -> String {
    p.components
        .iter()
        .find(|c| c.name == "training activations")
        .map(|c| c.notes.clone())
        .unwrap_or_default()
}

#[test]
fn qwen32b_fits_141_and_the_h100_config_fits_80() {
    let h200 = plan(&qwen32b(&[]), Fidelity::AsCoded, 141.0, fixture_32b());
    assert!(h200.fits, "{:.1} GiB", h200.total_bytes / GIB);
    h200.check().unwrap();
    assert_eq!(bytes(&h200, "frozen-weight gradients"), None);
    assert!(bytes(&h200, "log-prob logits").unwrap() < 0.1 * GIB);
    // On 80 GiB the shipped generation batch (16 rows × 2048 slots: KV 8 GiB, prefill 4 GiB,
    // prefix cache 2 GiB) does not fit next to 61 GiB of weights.
    let h100 = plan(&qwen32b(&[]), Fidelity::AsCoded, 80.0, fixture_32b());
    assert!(!h100.fits);
    let e = h100.check().unwrap_err().to_string();
    assert!(e.contains("KV cache") && e.contains("80.00 GiB"), "{e}");
    // configs/qwen32b-h100.toml is the shipped file with 8 generation rows, and fits.
    let path = Path::new("configs/qwen32b-h100.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let h100_cfg = Config::from_toml(&text, path).unwrap();
    assert_eq!(h100_cfg.synth.batch_size, 8);
    let small = qwen32b(&[("batch_size = 16", "batch_size = 8")]);
    for cfg in [&h100_cfg, &small] {
        let p = plan(cfg, Fidelity::AsCoded, 80.0, fixture_32b());
        assert!(p.fits, "{:.1} GiB", p.total_bytes / GIB);
        assert!(p.total_bytes < 78.0 * GIB, "{:.1} GiB", p.total_bytes / GIB);
    }
    // At 2048 tokens (1 × 40 × 2048² scores, below 2²⁸) the attention materializes its scores.
    assert!(note(&h200).contains("attention scores"), "{}", note(&h200));
    // 4096 tokens on 80 GiB: flash attention keeps no 40 × 4096² scores, so training needs
    // < 6 GiB and the run fits with 4 generation rows.
    let long = qwen32b(&[
        ("batch_size = 16", "batch_size = 4"),
        ("max_seq_len = 2048", "max_seq_len = 4096"),
    ]);
    let p = plan(&long, Fidelity::AsCoded, 80.0, fixture_32b());
    assert!(p.fits, "{:.1} GiB", p.total_bytes / GIB);
    assert!(
        p.training_bytes < 6.0 * GIB,
        "{:.1} GiB",
        p.training_bytes / GIB
    );
    assert!(note(&p).contains("attention flash"), "{}", note(&p));
    // 12288 tokens on 80 GiB: refused for the training activations (64 layer inputs and one
    // layer's internals grow with T) even with one generation row.
    let longer = qwen32b(&[
        ("batch_size = 16", "batch_size = 1"),
        ("max_seq_len = 2048", "max_seq_len = 12288"),
    ]);
    let e = plan(&longer, Fidelity::AsCoded, 80.0, fixture_32b())
        .check()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("training activations") && e.contains("recompute:"),
        "{e}"
    );
    // Micro-batch 2 × 4096 fits the H200.
    let wide = qwen32b(&[
        ("micro_batch_size = 1", "micro_batch_size = 2"),
        ("max_seq_len = 2048", "max_seq_len = 4096"),
    ]);
    assert!(plan(&wide, Fidelity::AsCoded, 141.0, fixture_32b()).fits);
    // Without checkpointing every layer's internals stay: refused on either GPU.
    let plain = qwen32b(&[(
        "gradient_checkpointing = true",
        "gradient_checkpointing = false",
    )]);
    for gpu in [80.0, 141.0] {
        let p = plan(&plain, Fidelity::AsCoded, gpu, fixture_32b());
        let e = p.check().unwrap_err().to_string();
        assert!(
            e.contains("training activations")
                && e.contains("no recompute")
                && e.contains(&format!("budget {gpu:.2} GiB")),
            "{e}"
        );
    }
}

#[test]
fn f32_32b_on_80_gib_is_refused_for_its_weights() {
    let cfg = qwen32b(&[("dtype = \"bf16\"", "dtype = \"f32\"")]);
    let p = plan(&cfg, Fidelity::AsDesigned, 80.0, fixture_32b());
    assert!(!p.fits);
    let e = p.check().unwrap_err().to_string();
    assert!(
        e.contains("base weights") && e.contains("122.05 GiB") && e.contains("budget 80.00 GiB"),
        "{e}"
    );
}

fn plan_err(model_config: &str) -> String {
    plan_config(
        &tiny(&[]),
        &PlanOptions {
            model_config: Some(PathBuf::from(model_config)),
            ..PlanOptions::default()
        },
    )
    .unwrap_err()
    .to_string()
}

#[test]
fn missing_and_corrupt_config_json_name_the_file() {
    let e = plan_err("tests/fixtures/plan");
    assert!(
        e.contains("tests/fixtures/plan/config.json") && e.contains("missing"),
        "{e}"
    );
    let e = plan_err("tests/fixtures/plan/corrupt");
    assert!(
        e.contains("tests/fixtures/plan/corrupt/config.json") && e.contains("invalid JSON"),
        "{e}"
    );
    let e = plan_err("tests/fixtures/plan/nowhere.json");
    assert!(
        e.contains("nowhere.json") && e.contains("no such file"),
        "{e}"
    );
    let cfg = tiny(&[("tests/fixtures/plan/tiny", "tests/fixtures/plan/corrupt")]);
    let e = plan_config(&cfg, &PlanOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("corrupt/config.json"), "{e}");
}

#[test]
fn cli_prints_table_json_and_refuses_with_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("tiny.toml");
    let root = env!("CARGO_MANIFEST_DIR");
    std::fs::write(
        &ok,
        TINY.replace(
            "tests/fixtures/plan/tiny",
            &format!("{root}/tests/fixtures/plan/tiny"),
        ),
    )
    .unwrap();
    let bin = env!("CARGO_BIN_EXE_trainer");
    let out = std::process::Command::new(bin)
        .args(["plan", ok.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("base weights") && stdout.contains("fits: "),
        "{stdout}"
    );
    let out = std::process::Command::new(bin)
        .args(["plan", ok.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["fits"], true);
    assert_eq!(v["components"][0]["bytes"], 559_360.0);

    let out = std::process::Command::new(bin)
        .current_dir(root)
        .args([
            "plan",
            "configs/qwen32b.toml",
            "--model-config",
            "tests/fixtures/plan/qwen2.5-32b",
            "--gpu-mem-gib",
            "80",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("does not fit") && stderr.contains("KV cache"),
        "{stderr}"
    );
}

/// `TRAINER_FLASH_ATTENTION` through the CLI (read once per process, so each value gets its own
/// `trainer plan`): 1 forces flash attention at 2048 tokens, 0 and the default materialize the
/// scores there, and a value that is none of 1 / 0 / auto warns and means auto.
#[test]
fn flash_attention_switch_through_the_cli() {
    let run = |value: Option<&str>| -> (String, String) {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"));
        cmd.args([
            "plan",
            "configs/qwen32b.toml",
            "--model-config",
            "tests/fixtures/plan/qwen2.5-32b",
            "--gpu-mem-gib",
            "141",
        ])
        .env_remove("TRAINER_FLASH_ATTENTION")
        .env_remove("TRAINER_CUDA_KERNELS");
        if let Some(v) = value {
            cmd.env("TRAINER_FLASH_ATTENTION", v);
        }
        let out = cmd.output().expect("trainer plan");
        assert!(out.status.success(), "{value:?}: {out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (forced, _) = run(Some("1"));
    assert!(forced.contains("attention flash"), "{forced}");
    for v in [None, Some("0"), Some("auto")] {
        let (text, err) = run(v);
        assert!(text.contains("attention scores 4 B/elem"), "{v:?}: {text}");
        assert!(!err.contains("TRAINER_FLASH_ATTENTION"), "{v:?}: {err}");
    }
    let (text, err) = run(Some("yes"));
    assert!(text.contains("attention scores"), "{text}");
    assert!(
        err.contains("TRAINER_FLASH_ATTENTION=\"yes\" is not 1, 0 or auto"),
        "{err}"
    );
}

/// The plan at `train.max_seq_len` bounds every shorter micro-batch the trainer can run: the
/// training activations never shrink as `max_seq_len` grows, also where the attention switches
/// to flash attention (a batch just below the switch materializes its scores, and can need more
/// than one of `max_seq_len` tokens without them).
#[test]
fn training_activations_bound_every_shorter_sequence() {
    for (mb, ckpt) in [(1, true), (2, true), (1, false)] {
        let mut prev = 0.0;
        for seq in (1024..=6144).step_by(128) {
            let cfg = qwen32b(&[
                ("max_seq_len = 2048", &format!("max_seq_len = {seq}")),
                ("micro_batch_size = 1", &format!("micro_batch_size = {mb}")),
                (
                    "gradient_checkpointing = true",
                    &format!("gradient_checkpointing = {ckpt}"),
                ),
            ]);
            let p = plan(&cfg, Fidelity::AsCoded, 141.0, fixture_32b());
            let act = bytes(&p, "training activations").unwrap();
            assert!(
                act >= prev,
                "micro-batch {mb}, recompute {ckpt}: {:.2} GiB at {seq} tokens < {:.2} GiB at {} \
                 ({})",
                act / GIB,
                prev / GIB,
                seq - 128,
                note(&p)
            );
            prev = act;
        }
    }
}

/// `trainer --help` lists every `TRAINER_*` environment variable the library reads (found by
/// scanning `src/` for quoted names; the test suite's own switches excepted), so a new switch
/// cannot go undocumented.
#[test]
fn help_lists_the_environment_switches() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trainer"))
        .arg("--help")
        .output()
        .expect("trainer --help");
    assert!(out.status.success(), "{out:?}");
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut names = std::collections::BTreeSet::new();
    let mut dirs = vec![std::path::PathBuf::from("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("source");
                for piece in text.split("\"TRAINER_").skip(1) {
                    let name: String = piece
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    if piece[name.len()..].starts_with('"') {
                        names.insert(format!("TRAINER_{name}"));
                    }
                }
            }
        }
    }
    let suite_only = ["TRAINER_SKIP_REAL_ASSETS"];
    names.retain(|n| !n.starts_with("TRAINER_TEST_") && !suite_only.contains(&n.as_str()));
    for want in [
        "TRAINER_CACHE",
        "TRAINER_CUDA_KERNELS",
        "TRAINER_FLASH_ATTENTION",
        "TRAINER_FLASH_TENSOR_CORES",
    ] {
        assert!(names.contains(want), "the scan missed {want}: {names:?}");
    }
    for name in &names {
        assert!(
            help.contains(name.as_str()),
            "--help does not list {name}:\n{help}"
        );
    }
}
