#!/usr/bin/env python3
"""Writes the small synthetic run directory that `examples/example_report.rs` renders into
docs/example-report/ (tests/fixtures/report/run/). The numbers are made up (seeded), shaped like
a short run: iteration 0 = base eval + SFT, iterations 1-2 = GRPO. Not a real training run."""
import json
import os
import random

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "report", "run")
CATS = {"single_call": 40, "parallel_calls": 30, "multi_turn": 30, "irrelevance": 20}
rng = random.Random(7)


def heldout(level, adapter):
    per = {}
    passed_all = 0
    reward_sum = 0.0
    for i, (c, n) in enumerate(CATS.items()):
        p = max(0, min(n, round(n * (level - 0.08 * i + rng.uniform(-0.05, 0.05)))))
        r = round(p / n * 0.85 + 0.05, 4)
        per[c] = {"tasks": n, "passed": p, "accuracy": p / n, "mean_reward": r}
        passed_all += p
        reward_sum += r * n
    total = sum(CATS.values())
    fails = total - passed_all
    return {
        "adapter": adapter,
        "per_category": per,
        "accuracy": passed_all / total,
        "mean_reward": round(reward_sum / total, 4),
        "failures": {"wrong_arguments": fails // 2, "missing_call": fails // 3,
                     "wrong_function": fails - fails // 2 - fails // 3},
    }


def write(path, obj):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


metrics = []
levels = [0.38, 0.52, 0.63]
mix = {c: 0.25 for c in CATS}
for k in range(3):
    held = heldout(levels[k], True)
    episodes = 200
    per_cat = {}
    acc_total = 0
    for i, c in enumerate(CATS):
        e = episodes // len(CATS)
        a = round(e * (0.45 + 0.1 * k - 0.05 * i + rng.uniform(-0.03, 0.03)))
        per_cat[c] = [e, a]
        acc_total += a
    steps = 30 if k == 0 else 40
    if k == 0:
        for s in range(1, steps + 1):
            metrics.append({"iteration": 0, "phase": "sft", "step": s,
                            "loss": round(2.2 * 0.93 ** s + 0.35 + rng.uniform(-0.05, 0.05), 4),
                            "learning_rate": 2e-4, "grad_norm": round(rng.uniform(0.8, 2.5), 3)})
        train = {"phase": "sft", "steps": steps, "skipped": 0, "sequences": acc_total,
                 "dropped": 3, "first_loss": metrics[0]["loss"], "last_loss": metrics[-1]["loss"],
                 "peak_rss_mb": 3100.0, "seconds": 840.0}
    else:
        rewards, kls, lens = [], [], []
        for s in range(1, steps + 1):
            t = (k - 1) * steps + s
            r = round(0.35 + 0.004 * t + rng.uniform(-0.08, 0.08), 4)
            kl = round(0.0004 * t + rng.uniform(0, 0.002), 5)
            ln = round(85 - 0.25 * t + rng.uniform(-6, 6), 1)
            rewards.append(r); kls.append(kl); lens.append(ln)
            metrics.append({"iteration": k, "phase": "grpo", "step": s, "reward": r,
                            "reward_std": round(rng.uniform(0.15, 0.3), 4), "kl": kl,
                            "completions/mean_length": ln, "loss": round(rng.uniform(-0.05, 0.05), 4),
                            "grad_norm": round(rng.uniform(0.2, 0.9), 3), "learning_rate": 5e-5,
                            "rewards/gated/mean": r})
        train = {"phase": "grpo", "steps": steps, "skipped": 0, "sequences": steps * 8,
                 "dropped": 0, "first_loss": metrics[-steps]["loss"], "last_loss": metrics[-1]["loss"],
                 "reward": round(sum(rewards) / steps, 4), "kl": round(sum(kls) / steps, 5),
                 "mean_length": round(sum(lens) / steps, 1), "peak_rss_mb": 4200.0,
                 "seconds": 1500.0 + 30 * k}
    err = {c: 1 - held["per_category"][c]["accuracy"] for c in CATS}
    z = sum(err.values())
    next_mix = {c: round(e / z, 4) for c, e in err.items()}
    summary = {
        "iteration": k,
        "heldout": held,
        "synth": {"assistant": "teacher" if k == 0 else "policy", "episodes": episodes,
                  "accepted": acc_total, "acceptance_rate": acc_total / episodes,
                  "per_category": per_cat, "seconds": 600.0 + 20 * k},
        "train": train,
        "mix": mix,
        "next_mix": next_mix,
        "timing_s": {"synth": 600.0 + 20 * k, "train": train["seconds"], "heldout": 180.0},
    }
    if k == 0:
        summary["heldout_base"] = heldout(0.22, False)
        summary["timing_s"]["heldout_base"] = 175.0
    write(os.path.join(OUT, f"iter_{k:04d}", "summary.json"), summary)
    mix = next_mix

with open(os.path.join(OUT, "metrics.jsonl"), "w") as f:
    for m in metrics:
        f.write(json.dumps(m) + "\n")
