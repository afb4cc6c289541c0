//! The run report: `report.md` tables carry the summaries' numbers, the PNG plots exist, decode
//! at the chart size and show a drawing (not a blank canvas), plots without data are left out.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};
use trainer::runloop::report::{self, plot};
use trainer::runloop::summary::{
    CategoryScore, HeldoutResult, IterationSummary, SynthSummary, TrainSummary,
};

fn score(tasks: usize, passed: usize) -> CategoryScore {
    CategoryScore {
        tasks,
        passed,
        accuracy: passed as f64 / tasks as f64,
        mean_reward: passed as f64 / tasks as f64 * 0.9,
    }
}

/// Held-out result over categories `single` (10 tasks), `multi` (20) and `parallel` (10).
fn heldout(single: usize, multi: usize, parallel: usize) -> HeldoutResult {
    let mut per_category = BTreeMap::new();
    per_category.insert("single".to_string(), score(10, single));
    per_category.insert("multi".to_string(), score(20, multi));
    per_category.insert("parallel".to_string(), score(10, parallel));
    let passed = single + multi + parallel;
    // Difficulty levels: the single tasks as the easy ones, the parallel ones as the hard ones.
    let per_difficulty = BTreeMap::from([
        ("easy".to_string(), score(10, single)),
        ("hard".to_string(), score(10, parallel)),
    ]);
    HeldoutResult {
        adapter: true,
        per_category,
        per_difficulty,
        accuracy: passed as f64 / 40.0,
        mean_reward: passed as f64 / 40.0 * 0.9,
        failures: BTreeMap::from([("wrong_args".to_string(), 7), ("no_call".to_string(), 2)]),
    }
}

fn summary(k: usize, held: HeldoutResult, accepted: usize) -> IterationSummary {
    IterationSummary {
        iteration: k,
        heldout_base: None,
        heldout: held,
        synth: SynthSummary {
            assistant: if k == 0 { "teacher" } else { "policy" }.to_string(),
            episodes: 50,
            accepted,
            acceptance_rate: accepted as f64 / 50.0,
            per_category: BTreeMap::from([
                ("single".to_string(), (20, accepted.min(20))),
                ("multi".to_string(), (30, accepted.saturating_sub(20))),
            ]),
            seconds: 12.5,
        },
        repair: (k > 0).then(|| TrainSummary {
            phase: "sft".to_string(),
            steps: 3,
            sequences: 12,
            first_loss: 0.625,
            last_loss: 0.5,
            peak_rss_mb: 1024.0,
            seconds: 8.0,
            ..Default::default()
        }),
        train: TrainSummary {
            phase: if k == 0 { "sft" } else { "grpo" }.to_string(),
            steps: 6,
            first_loss: 1.5,
            last_loss: 0.75,
            reward: (k > 0).then_some(0.25 * k as f64),
            peak_rss_mb: 2048.0,
            seconds: 30.0,
            ..Default::default()
        },
        mix: BTreeMap::from([("single".to_string(), 0.5), ("multi".to_string(), 0.5)]),
        next_mix: BTreeMap::from([("single".to_string(), 0.25), ("multi".to_string(), 0.75)]),
        bfcl: BTreeMap::new(),
        timing_s: BTreeMap::from([
            ("synth".to_string(), 12.5),
            ("train".to_string(), 30.0),
            ("heldout".to_string(), 4.0),
        ]),
    }
}

fn three_iterations() -> Vec<IterationSummary> {
    let mut s0 = summary(0, heldout(5, 5, 2), 30);
    s0.heldout_base = Some(heldout(2, 2, 0));
    vec![
        s0,
        summary(1, heldout(6, 8, 4), 35),
        summary(2, heldout(8, 11, 5), 42),
    ]
}

fn sft_lines() -> Vec<Value> {
    (1..=6)
        .map(|s| {
            json!({"iteration": 0, "phase": "sft", "step": s, "loss": 1.5 / s as f64,
                        "learning_rate": 2e-4, "grad_norm": 2.0})
        })
        .collect()
}

fn grpo_lines() -> Vec<Value> {
    let mut out = Vec::new();
    for k in 1..=2u32 {
        for s in 1..=6u32 {
            let t = f64::from((k - 1) * 6 + s);
            let mut line = json!({"iteration": k, "phase": "grpo", "step": s,
                "reward": 0.1 + 0.03 * t, "reward_std": 0.2, "kl": 0.001 * t,
                "completions/mean_length": 60.0 - t, "loss": 0.1, "grad_norm": 0.5});
            if s == 3 {
                // Keys may be missing on some lines.
                if let Some(m) = line.as_object_mut() {
                    m.remove("kl");
                }
            }
            out.push(line);
        }
    }
    out
}

/// Width, height and RGB(A) pixels of a PNG file.
fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    assert!(channels >= 3, "{}: not a colour image", path.display());
    let pixels = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// The PNG has the chart size, several colours, a drawing covering part of it, and dark text
/// pixels in the title band.
fn assert_real_chart(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    let (w, h, pixels) = decode_png(path);
    assert_eq!((w, h), (plot::WIDTH, plot::HEIGHT), "{}", path.display());
    let distinct: std::collections::HashSet<[u8; 3]> = pixels.iter().copied().collect();
    assert!(
        distinct.len() > 20,
        "{}: {} colours",
        path.display(),
        distinct.len()
    );
    let non_white = pixels.iter().filter(|p| **p != [255, 255, 255]).count();
    let frac = non_white as f64 / pixels.len() as f64;
    assert!(
        frac > 0.01 && frac < 0.6,
        "{}: {frac} non-white",
        path.display()
    );
    // Title: dark anti-aliased glyph pixels in the top 45 rows.
    let dark_in_title = pixels[..(45 * w) as usize]
        .iter()
        .filter(|p| p.iter().all(|c| *c < 100))
        .count();
    assert!(dark_in_title > 100, "{}: no title text", path.display());
}

#[test]
fn full_report_has_tables_and_plots() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("demo-run");
    let mut metrics = sft_lines();
    metrics.extend(grpo_lines());
    // Summaries out of order, with a stale duplicate of iteration 1 that must lose.
    let mut summaries = three_iterations();
    let mut stale = summaries[1].clone();
    stale.heldout = heldout(0, 0, 0);
    summaries.insert(0, stale);
    summaries.swap(1, 3);

    let written = report::write_report(&run, &summaries, &metrics).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "accuracy.png",
            "reward.png",
            "sft_loss.png",
            "kl.png",
            "completion_length.png",
            "acceptance.png",
            "report.md"
        ]
    );
    let report_dir = run.join("report");
    for p in &written {
        assert_eq!(p.parent().unwrap(), report_dir);
        if p.extension().is_some_and(|e| e == "png") {
            assert_real_chart(p);
        }
    }
    // No temporary files left behind.
    assert_eq!(
        std::fs::read_dir(&report_dir).unwrap().count(),
        written.len()
    );

    let md = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(md.starts_with("# Training report: demo-run\n"), "{md}");
    // base 4/40 = 10 %, latest 24/40 = 60 %.
    assert!(
        md.contains(
            "**Held-out accuracy: 10.0 % (base model) → 60.0 % (iteration 2), +50.0 points.**"
        ),
        "{md}"
    );
    assert!(md.contains("| category | tasks | base | iter 0 | iter 1 | iter 2 | change (points) |"));
    // multi: 2, 5, 8, 11 of 20; single: 2, 5, 6, 8 of 10; parallel: 0, 2, 4, 5 of 10.
    for row in [
        "| `multi` | 20 | 10.0 % | 25.0 % | 40.0 % | 55.0 % | +45.0 |",
        "| `parallel` | 10 | 0.0 % | 20.0 % | 40.0 % | 50.0 % | +50.0 |",
        "| `single` | 10 | 20.0 % | 50.0 % | 60.0 % | 80.0 % | +60.0 |",
        "| **overall** | 40 | **10.0 %** | **30.0 %** | **45.0 %** | **60.0 %** | **+50.0** |",
        "| *easy tasks* | 10 | 20.0 % | 50.0 % | 60.0 % | 80.0 % | +60.0 |",
        "| *hard tasks* | 10 | 0.0 % | 20.0 % | 40.0 % | 50.0 % | +50.0 |",
    ] {
        assert!(md.contains(row), "missing row {row}\n{md}");
    }
    // Timing: phases as columns, per-iteration total.
    assert!(
        md.contains("| iter | heldout | synth | train | total |"),
        "{md}"
    );
    assert!(md.contains("| 2 | 4.0 | 12.5 | 30.0 | 46.5 |"), "{md}");
    // Training, synthesis, next mix, failures.
    assert!(
        md.contains("Steps logged in `metrics.jsonl`: 6 SFT, 12 GRPO."),
        "{md}"
    );
    // Accuracy 30 %, 45 %, 60 % over iterations 0–2: the last is the best.
    assert!(
        md.contains(
            "Best iteration by held-out accuracy (ties: the higher mean gated reward, then the \
             later one; the run directory's `best`): 2 (60.0 %, mean gated reward 0.540)."
        ),
        "{md}"
    );
    // Iterations ≥ 1: the repair SFT row, then the GRPO row.
    assert!(
        md.contains(
            "| 2 | sft | 3 | 0 | 12 | 0 | 0.6250 | 0.5000 | – | – | – | 1024 | 8.0 |\n\
             | 2 | grpo | 6 | 0 | 0 | 0 | 1.5000 | 0.7500 | 0.500 | – | – | 2048 | 30.0 |"
        ),
        "{md}"
    );
    assert!(
        md.contains(
            "| 0 | sft | 6 | 0 | 0 | 0 | 1.5000 | 0.7500 | – | – | – | 2048 | 30.0 |\n| 1 | sft |"
        ),
        "{md}"
    );
    assert!(
        md.contains("| 2 | policy | 50 | 42 | 84.0 % | 12.5 |"),
        "{md}"
    );
    assert!(md.contains("| `multi` | 55.0 % | 0.500 | 0.750 |"), "{md}");
    assert!(md.contains("| wrong_args | 7 |\n| no_call | 2 |"), "{md}");
    for (caption, file) in [
        ("Held-out accuracy per category", "accuracy.png"),
        ("GRPO reward per step", "reward.png"),
        ("SFT loss per step", "sft_loss.png"),
        ("KL to the reference per GRPO step", "kl.png"),
        (
            "Mean completion length per GRPO step",
            "completion_length.png",
        ),
        ("Synthesis acceptance rate per iteration", "acceptance.png"),
    ] {
        assert!(
            md.contains(&format!("![{caption}]({file})")),
            "{file}\n{md}"
        );
    }
}

#[test]
fn iteration_zero_only_leaves_out_grpo_plots_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("early");
    // A report from a later state first: its GRPO plots must go when they have no data.
    let mut all = sft_lines();
    all.extend(grpo_lines());
    report::write_report(&run, &three_iterations(), &all).unwrap();
    assert!(run.join("report/reward.png").is_file());

    let first = vec![three_iterations().remove(0)];
    let written = report::write_report(&run, &first, &sft_lines()).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "accuracy.png",
            "sft_loss.png",
            "acceptance.png",
            "report.md"
        ]
    );
    for f in ["reward.png", "kl.png", "completion_length.png"] {
        assert!(!run.join("report").join(f).exists(), "{f} left over");
    }
    assert_real_chart(&run.join("report/accuracy.png"));
    let md = std::fs::read_to_string(run.join("report/report.md")).unwrap();
    assert!(
        md.contains(
            "**Held-out accuracy: 10.0 % (base model) → 30.0 % (iteration 0), +20.0 points.**"
        ),
        "{md}"
    );
    assert!(
        md.contains("| **overall** | 40 | **10.0 %** | **30.0 %** | **+20.0** |"),
        "{md}"
    );
    assert!(
        md.contains("_GRPO reward per step: not plotted, no GRPO step has logged `reward` yet._"),
        "{md}"
    );
    assert!(!md.contains("](reward.png)"), "{md}");
}

#[test]
fn no_iteration_yet_gives_a_short_report() {
    let dir = tempfile::tempdir().unwrap();
    let written = report::write_report(dir.path(), &[], &[]).unwrap();
    assert_eq!(written, [dir.path().join("report/report.md")]);
    let md = std::fs::read_to_string(&written[0]).unwrap();
    assert!(md.contains("No iteration has completed yet"), "{md}");
}

#[test]
fn load_run_reads_summaries_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path();
    let summaries = three_iterations();
    for s in &summaries {
        let d = run.join(format!("iter_{:04}", s.iteration));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("summary.json"), serde_json::to_string(s).unwrap()).unwrap();
    }
    std::fs::create_dir_all(run.join("iter_0003")).unwrap(); // unfinished: no summary yet
    let mut metrics = sft_lines();
    metrics.extend(grpo_lines());
    let text: String = metrics.iter().map(|m| format!("{m}\n")).collect();
    std::fs::write(run.join("metrics.jsonl"), &text).unwrap();

    let (got_s, got_m) = report::load_run(run).unwrap();
    assert_eq!(got_s, summaries);
    assert_eq!(got_m, metrics);

    std::fs::write(run.join("metrics.jsonl"), format!("{text}{{oops\n")).unwrap();
    let err = report::load_run(run).unwrap_err().to_string();
    assert!(err.contains("metrics.jsonl: line 19"), "{err}");
}

#[test]
fn example_fixture_run_loads_and_renders() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report/run");
    let (summaries, metrics) = report::load_run(&fixture).unwrap();
    assert_eq!(
        summaries.iter().map(|s| s.iteration).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(summaries[0].heldout_base.is_some());
    assert_eq!(metrics.len(), 110);
    let out = tempfile::tempdir().unwrap();
    let written = report::write_report_to(out.path(), "fixture", &summaries, &metrics).unwrap();
    assert_eq!(written.len(), 7);
    let md = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    // iter_0002/summary.json: single_call passed 25 of 40.
    assert!(
        md.contains("| `single_call` | 40 | 22.5 % | 35.0 % | 52.5 % | 62.5 % | +40.0 |"),
        "{md}"
    );
}

/// The best iteration is the most accurate one; on ties the one with the higher mean gated
/// reward, then the later one (the run's `best`).
#[test]
fn best_iteration_breaks_ties_by_reward_then_the_later() {
    use trainer::runloop::summary::best_iteration;
    assert!(best_iteration(&[]).is_none());
    let s = vec![
        summary(0, heldout(5, 5, 2), 30),
        summary(1, heldout(6, 8, 4), 35),
        summary(2, heldout(8, 6, 4), 35),
        summary(3, heldout(1, 1, 1), 35),
    ];
    assert_eq!(best_iteration(&s).map(|b| b.iteration), Some(2));
    assert_eq!(best_iteration(&s[..2]).map(|b| b.iteration), Some(1));
    // Equal accuracy: the higher mean reward wins even when it is the earlier iteration.
    let mut t = vec![
        summary(0, heldout(2, 2, 0), 30),
        summary(1, heldout(2, 2, 0), 30),
    ];
    t[0].heldout.mean_reward = 0.142;
    t[1].heldout.mean_reward = 0.129;
    assert_eq!(best_iteration(&t).map(|b| b.iteration), Some(0));
    t[1].heldout.mean_reward = 0.142;
    assert_eq!(best_iteration(&t).map(|b| b.iteration), Some(1));
}
