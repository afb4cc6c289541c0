//! The closed loop end to end through the CLI (`trainer run`) on a tiny random Qwen3 model with
//! the real Qwen3 tokenizer: two full iterations after the cold start, then kill -9 at several
//! points and resume — the resumed run must end with the same files and numbers as the
//! uninterrupted one. Needs the Qwen3 tokenizer from scripts/fetch-assets.sh (fetched on demand;
//! skipped with TRAINER_SKIP_REAL_ASSETS=1).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

fn trainer() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trainer"));
    c.env("RUST_LOG", "warn");
    c
}

/// A tiny random Qwen3 model directory with the real tokenizer; returns the tokenizer dir.
fn tiny_model_dir(dir: &Path) -> Option<PathBuf> {
    if trainer::assets::skip_real_assets() {
        println!("skipped: TRAINER_SKIP_REAL_ASSETS=1");
        return None;
    }
    Some(common::save_tiny_qwen3_dir(dir, 11, 8192))
}

fn write_config(root: &Path, name: &str, model: &Path, tok: &Path) -> PathBuf {
    let specs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("specs");
    let text = format!(
        r#"
[run]
name = "{name}"
output_dir = "{out}"
seed = 3
threads = 1

[model]
source = "{model}"
tokenizer = "{tok}"

[lora]
r = 4
alpha = 8.0
targets = ["q_proj", "v_proj", "down_proj"]

[generation]
max_new_tokens = 10
temperature = 0.0

[synth]
specs = ["{specs}"]
episodes = 8
batch_size = 8
max_offered_tools = 2
max_turns = 4

[synth.toolsets]
embedding = "hashed"

[grpo]
num_generations = 2
max_completion_length = 10
beta = 0.04

[train]
sft_epochs = 1
sft_batch_size = 4
grpo_steps = 1
grpo_tasks_per_step = 2
micro_batch_size = 4

[loop]
iterations = 2
heldout_per_category = 1
max_turns = 2
"#,
        out = root.display(),
        model = model.display(),
        tok = tok.display(),
        specs = specs.display(),
    );
    let p = root.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    p
}

/// Values that legitimately differ between two runs (wall times, rates, memory).
fn volatile(key: &str) -> bool {
    key == "seconds"
        || key.starts_with("timing_s")
        || key == "episode_seconds"
        || key.ends_with("_per_minute")
        || key.ends_with("_per_second")
        || key == "peak_rss_mb"
        || key == "wall_s"
}

fn scrub(v: &mut Json) {
    match v {
        Json::Object(m) => {
            m.retain(|k, _| !volatile(k));
            m.values_mut().for_each(scrub);
        }
        Json::Array(a) => a.iter_mut().for_each(scrub),
        _ => {}
    }
}

/// Relative path → comparable content (JSON scrubbed of volatile values; other files raw).
fn snapshot(root: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if name.starts_with('.') {
                panic!("leftover temporary file {rel}");
            }
            if p.is_dir() {
                if name != "report" {
                    walk(&p, root, out);
                }
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            let content = if name.ends_with(".json") {
                let mut v: Json = serde_json::from_slice(&bytes).unwrap();
                scrub(&mut v);
                v.to_string().into_bytes()
            } else if name.ends_with(".jsonl") {
                let mut s = String::new();
                for l in String::from_utf8(bytes).unwrap().lines() {
                    let mut v: Json = serde_json::from_str(l).unwrap();
                    scrub(&mut v);
                    s.push_str(&v.to_string());
                    s.push('\n');
                }
                s.into_bytes()
            } else {
                bytes
            };
            out.push((rel, content));
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

fn wait_ok(mut child: Child, what: &str) {
    let status = child.wait().unwrap();
    assert!(status.success(), "{what} failed: {status}");
}

/// Runs until `ready` holds for the run directory (polling), then kills the process with
/// SIGKILL. Returns whether it was killed before finishing on its own.
fn run_and_kill(cfg: &Path, run_dir: &Path, ready: &dyn Fn(&Path) -> bool) -> bool {
    let mut child = trainer().arg("run").arg(cfg).spawn().unwrap();
    let t0 = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                status.success(),
                "run failed before the kill point: {status}"
            );
            return false;
        }
        if ready(run_dir) {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        assert!(t0.elapsed() < Duration::from_secs(900), "timed out");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn phase_done(run_dir: &Path, iter: &str, phase: &str) -> bool {
    std::fs::read_to_string(run_dir.join(iter).join("phases.json"))
        .map(|t| t.contains(&format!("\"{phase}\"")))
        .unwrap_or(false)
}

#[test]
fn two_iterations_then_kill_and_resume_gives_identical_results() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(tok) = tiny_model_dir(&tmp.path().join("model")) else {
        return;
    };
    let model = tmp.path().join("model");

    // Uninterrupted run.
    let a_cfg = write_config(tmp.path(), "a", &model, &tok);
    let a = tmp.path().join("a");
    let out = trainer().arg("run").arg(&a_cfg).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("base") && stdout.contains("held-out"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(a.join("latest")).unwrap().trim(),
        "iter_0002"
    );
    for k in 0..=2 {
        let s: Json = serde_json::from_str(
            &std::fs::read_to_string(a.join(format!("iter_{k:04}/summary.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(s["iteration"], k);
        assert_eq!(s["next_mix"].as_object().unwrap().len(), 8);
        assert!(s["heldout"]["per_category"].as_object().unwrap().len() >= 4);
        assert!(a
            .join(format!("iter_{k:04}/adapter/adapter_model.safetensors"))
            .is_file());
    }
    // The adapter names its base model as PEFT expects: here the model directory.
    let peft_cfg: Json = serde_json::from_str(
        &std::fs::read_to_string(a.join("iter_0002/adapter/adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        peft_cfg["base_model_name_or_path"],
        model.display().to_string()
    );
    let s0: Json =
        serde_json::from_str(&std::fs::read_to_string(a.join("iter_0000/summary.json")).unwrap())
            .unwrap();
    assert!(s0["heldout_base"].is_object());
    assert_eq!(s0["synth"]["assistant"], "teacher");
    for k in 1..=2 {
        let s: Json = serde_json::from_str(
            &std::fs::read_to_string(a.join(format!("iter_{k:04}/summary.json"))).unwrap(),
        )
        .unwrap();
        let who = s["synth"]["assistant"].as_str().unwrap();
        assert!(
            who.starts_with("policy (")
                && who.ends_with(&format!("adapter of iteration {})", k - 1)),
            "iteration {k}'s synthesis should name the adapter it played with: {who}"
        );
    }
    assert!(
        s0["synth"]["accepted"].as_u64().unwrap() >= 4,
        "the teacher's episodes should mostly verify: {}",
        s0["synth"]
    );
    assert_eq!(s0["train"]["phase"], "sft");
    assert!(s0["train"]["steps"].as_u64().unwrap() >= 1);
    let metrics = std::fs::read_to_string(a.join("metrics.jsonl")).unwrap();
    let lines: Vec<Json> = metrics
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines
        .iter()
        .any(|l| l["phase"] == "sft" && l["loss"].is_number()));
    let grpo: Vec<&Json> = lines
        .iter()
        .filter(|l| l["phase"] == "grpo" && l.get("step").is_some())
        .collect();
    assert_eq!(grpo.len(), 2, "one GRPO step in each of iterations 1 and 2");
    // Each completed phase ends with a line of its wall time.
    for (k, phase) in [(0, "synth"), (0, "sft"), (1, "grpo"), (2, "eval")] {
        assert!(
            lines.iter().any(|l| l["iteration"] == k
                && l["phase"] == phase
                && l[format!("timing_s/{phase}")]
                    .as_f64()
                    .is_some_and(|s| s > 0.0)),
            "no timing line for iteration {k}'s {phase}"
        );
    }
    for l in &grpo {
        for key in [
            "reward",
            "reward_std",
            "frac_reward_zero_std",
            "completions/mean_length",
            "kl",
            "timing_s/generate",
        ] {
            assert!(l.get(key).is_some(), "metric {key} missing: {l}");
        }
    }

    // Every GRPO rollout is kept with its rewards (2 tasks × 2 generations × 1 step).
    for k in 1..=2 {
        let text = std::fs::read_to_string(a.join(format!("iter_{k:04}/rewards.jsonl"))).unwrap();
        let rollouts: Vec<Json> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(rollouts.len(), 4);
        for r in &rollouts {
            assert_eq!(r["iteration"], k);
            assert!(
                r["rewards"].as_object().is_some_and(|m| !m.is_empty()),
                "{r}"
            );
            assert!(
                r["messages"].as_array().is_some_and(|m| m.len() >= 2),
                "{r}"
            );
            assert!(r["trained"].is_boolean() && r["group"].as_u64().unwrap() < 2);
        }
    }

    // Export the latest iteration both ways.
    let peft = tmp.path().join("peft_out");
    let st = trainer()
        .arg("export")
        .arg(&a)
        .arg("--peft")
        .arg(&peft)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(peft.join("adapter_config.json").is_file());
    let merged = tmp.path().join("merged_out");
    let st = trainer()
        .arg("export")
        .arg(&a)
        .arg("--iter")
        .arg("1")
        .arg("--merged")
        .arg(&merged)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(merged.join("config.json").is_file());

    // The same run, killed at several points and resumed each time.
    let b_cfg = write_config(tmp.path(), "b", &model, &tok);
    let b = tmp.path().join("b");
    let kills = [
        (|d: &Path| phase_done(d, "iter_0000", "synth")) as fn(&Path) -> bool,
        |d: &Path| phase_done(d, "iter_0000", "sft"),
        |d: &Path| phase_done(d, "iter_0001", "synth"),
        |d: &Path| phase_done(d, "iter_0001", "grpo"),
        |d: &Path| phase_done(d, "iter_0002", "eval"),
    ];
    let mut killed = 0;
    for ready in kills {
        if run_and_kill(&b_cfg, &b, &ready) {
            killed += 1;
        }
    }
    assert!(
        killed >= 3,
        "only {killed} kills landed before the run finished"
    );
    wait_ok(
        trainer().arg("run").arg(&b_cfg).spawn().unwrap(),
        "final resume",
    );

    let sa = snapshot(&a);
    let sb = snapshot(&b);
    let names_a: Vec<&String> = sa.iter().map(|(n, _)| n).collect();
    let names_b: Vec<&String> = sb.iter().map(|(n, _)| n).collect();
    assert_eq!(names_a, names_b, "the runs wrote different files");
    for ((name, ca), (_, cb)) in sa.iter().zip(&sb) {
        if name == "config.resolved.toml" {
            continue; // differs only in run.name
        }
        assert!(
            ca == cb,
            "{name} differs between the uninterrupted and the resumed run"
        );
    }

    // Rerunning a finished run points a stale `best` back at what the rule picks.
    let best = std::fs::read_to_string(a.join("best")).unwrap();
    let k: usize = best.trim().trim_start_matches("iter_").parse().unwrap();
    let stale = format!("iter_{:04}\n", (k + 1) % 3);
    std::fs::write(b.join("best"), &stale).unwrap();
    wait_ok(
        trainer().arg("run").arg(&b_cfg).spawn().unwrap(),
        "rerun of the finished run",
    );
    assert_eq!(std::fs::read_to_string(b.join("best")).unwrap(), best);

    // A changed config is refused on resume.
    let text = std::fs::read_to_string(&b_cfg)
        .unwrap()
        .replace("seed = 3", "seed = 4");
    std::fs::write(&b_cfg, text).unwrap();
    let out = trainer().arg("run").arg(&b_cfg).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("config.resolved.toml"));
}

/// An iteration whose repair fine-tuning is skipped (`loop.repair_epochs = 0`) and that is killed
/// before its GRPO phase finishes resumes: the skipped phase leaves the adapter it kept. (Its
/// GRPO also makes `grpo.num_iterations = 2` updates per batch.)
#[test]
fn a_kill_after_a_skipped_repair_phase_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(tok) = tiny_model_dir(&tmp.path().join("model")) else {
        return;
    };
    let model = tmp.path().join("model");
    let cfg = write_config(tmp.path(), "c", &model, &tok);
    let text = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("iterations = 2", "iterations = 1\nrepair_epochs = 0")
        .replace(
            "num_generations = 2",
            "num_generations = 2\nnum_iterations = 2",
        );
    std::fs::write(&cfg, text).unwrap();
    let c = tmp.path().join("c");
    assert!(
        run_and_kill(&cfg, &c, &|d: &Path| phase_done(d, "iter_0001", "sft")),
        "the kill after iteration 1's skipped fine-tuning did not land"
    );
    assert!(!phase_done(&c, "iter_0001", "grpo"));
    assert!(c
        .join("iter_0001/adapter/adapter_model.safetensors")
        .is_file());
    // An older version recorded the skipped phase without that adapter: such a run directory
    // resumes with the adapter the phase kept (iteration 0's).
    std::fs::remove_dir_all(c.join("iter_0001/adapter")).unwrap();
    let out = trainer()
        .env("RUST_LOG", "info")
        .arg("run")
        .arg(&cfg)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "resume failed: {log}");
    assert!(
        log.contains("iteration 1's skipped fine-tuning kept") && log.contains("iter_0000/adapter"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(c.join("latest")).unwrap().trim(),
        "iter_0001"
    );
    // grpo.num_iterations = 2: two optimizer updates on the one generated batch.
    let metrics = std::fs::read_to_string(c.join("metrics.jsonl")).unwrap();
    let steps: Vec<u64> = metrics
        .lines()
        .map(|l| serde_json::from_str::<Json>(l).unwrap())
        .filter(|l| l["phase"] == "grpo")
        .filter_map(|l| l["step"].as_u64())
        .collect();
    assert_eq!(steps, [0, 1]);
}

/// A run killed inside its GRPO phase resumes from the last GRPO checkpoint (adapter, optimizer
/// state, progress) and ends with exactly the files of an uninterrupted run.
#[test]
fn a_kill_inside_grpo_resumes_from_its_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(tok) = tiny_model_dir(&tmp.path().join("model")) else {
        return;
    };
    let model = tmp.path().join("model");
    let config = |name: &str| {
        let cfg = write_config(tmp.path(), name, &model, &tok);
        let text = std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("iterations = 2", "iterations = 1")
            .replace(
                "grpo_steps = 1",
                "grpo_steps = 3\ngrpo_checkpoint_steps = 1",
            );
        std::fs::write(&cfg, text).unwrap();
        cfg
    };
    let (d_cfg, e_cfg) = (config("d"), config("e"));
    let (d, e) = (tmp.path().join("d"), tmp.path().join("e"));
    wait_ok(trainer().arg("run").arg(&d_cfg).spawn().unwrap(), "run d");
    assert!(!d.join("iter_0001/grpo_checkpoint").exists());

    let progress = e.join("iter_0001/grpo_checkpoint/progress.json");
    assert!(
        run_and_kill(&e_cfg, &e, &|_: &Path| progress.is_file()),
        "the kill inside GRPO did not land"
    );
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(&progress).unwrap()).unwrap();
    let done = saved["steps_done"].as_u64().unwrap();
    assert!((1..3).contains(&done), "checkpoint after step {done}");
    assert!(!phase_done(&e, "iter_0001", "grpo"));
    let out = trainer()
        .env("RUST_LOG", "info")
        .arg("run")
        .arg(&e_cfg)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "resume of e failed: {log}");
    assert!(
        log.contains(&format!("GRPO resumes after step {done}")),
        "the resume did not start from the checkpoint: {log}"
    );

    let (sd, se) = (snapshot(&d), snapshot(&e));
    let names = |s: &[(String, Vec<u8>)]| s.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&sd), names(&se), "the runs wrote different files");
    for ((name, a), (_, b)) in sd.iter().zip(&se) {
        if name != "config.resolved.toml" {
            assert!(
                a == b,
                "{name} differs between the uninterrupted and the resumed run"
            );
        }
    }
}

/// `trainer synth --format sharegpt` writes its trajectories file in ShareGPT (the conversion
/// itself is checked against LLaMA-Factory's turn rules in tests/synth_episodes.rs).
#[test]
fn synth_writes_sharegpt_on_request() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(tok) = tiny_model_dir(&tmp.path().join("model")) else {
        return;
    };
    let cfg = write_config(tmp.path(), "s", &tmp.path().join("model"), &tok);
    let out = tmp.path().join("data/synth.jsonl");
    let o = trainer()
        .arg("synth")
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .arg("--format")
        .arg("sharegpt")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(stderr.contains("ShareGPT: "), "{stderr}");
    for line in std::fs::read_to_string(&out).unwrap().lines() {
        let r: Json = serde_json::from_str(line).unwrap();
        assert!(
            r["conversations"].is_array() && r.get("messages").is_none(),
            "{r}"
        );
    }
    // The token records beside it are untouched.
    assert!(tmp.path().join("data/synth.tokens.jsonl").is_file());
}

/// `synth.user_simulator = "llm"` and `server_simulator = "llm"` play in the loop's synthesis
/// phase (on the base model): the LLM user drafts messages (the tiny random model's are all
/// replaced after its critique), and the teacher still follows every task (by its id).
#[test]
fn the_llm_simulators_play_in_the_loop_synthesis() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(tok) = tiny_model_dir(&tmp.path().join("model")) else {
        return;
    };
    let cfg = write_config(tmp.path(), "l", &tmp.path().join("model"), &tok);
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[synth]\n",
        "[synth]\nuser_simulator = \"llm\"\nserver_simulator = \"llm\"\n\
         simulator_max_new_tokens = 12\n",
    );
    std::fs::write(&cfg, text).unwrap();
    let o = trainer().arg("sft").arg(&cfg).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        !stderr.contains("apply to `trainer synth` only"),
        "{stderr}"
    );
    let stats: Json = serde_json::from_str(
        &std::fs::read_to_string(tmp.path().join("l/iter_0000/trajectories.stats.json")).unwrap(),
    )
    .unwrap();
    let r = &stats["reflection"];
    let drafted = r["user_messages"].as_u64().unwrap();
    assert!(drafted >= 8, "one opening per episode at least: {r}");
    assert!(r["user_replaced"].as_u64().unwrap() >= 1, "{r}");
    let accepted = stats["total"]["accepted"].as_u64().unwrap();
    assert!(
        accepted >= 4,
        "the teacher's episodes should mostly verify: {stats}"
    );
}
