#!/usr/bin/env python3
"""Entry-by-entry agreement of `trainer`'s multi-turn scoring with the official
`bfcl evaluate` (bfcl-eval==2026.3.23) on result files written by the Rust
multi-turn driver.

1. Unless --skip-generate, runs the ignored test `write_noisy_replay_results`
   (tests/bfcl_multi_turn_infer.rs): a deterministic "noisy model" (ground
   truth, dropped calls, changed arguments, extra/reordered calls, calls split
   into steps, dotted callees, prose, no calls) goes through the real driver
   for every entry of the four multi-turn categories, in both profiles
   (fc = Qwen/Qwen3-8B-FC, prompting = Qwen/Qwen3-8B); `trainer` scores them
   into OUT/<profile>/score.
2. Runs the official `bfcl evaluate` on the same OUT/<profile>/result files.
3. Compares, per entry, valid / error_type. Entries `trainer` reports as
   unscored (error_type "trainer:unscored") are counted apart.

Usage (the venv scripts/bfcl-agreement.sh creates, with bfcl-eval and mpmath):
    .bfcl-venv/bin/python scripts/bfcl_multi_turn_infer_agreement.py [--out DIR] [--skip-generate]
Exit status 1 on any disagreement.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATEGORIES = ["multi_turn_base", "multi_turn_long_context", "multi_turn_miss_func", "multi_turn_miss_param"]
PROFILES = {"fc": "Qwen/Qwen3-8B-FC", "prompting": "Qwen/Qwen3-8B"}
UNSCORED = "trainer:unscored"


def read_score(path):
    """(header, {id: error_type}) of a score file."""
    lines = [json.loads(l) for l in path.read_text().splitlines() if l.strip()]
    failed = {}
    for d in lines[1:]:
        err = d.get("error", {})
        failed[d["id"]] = err.get("error_type") if isinstance(err, dict) else d.get("error_type")
    return lines[0], failed


def result_ids(path):
    return [json.loads(l)["id"] for l in path.read_text().splitlines() if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / ".bfcl-work" / "mt-agree"))
    ap.add_argument("--skip-generate", action="store_true")
    args = ap.parse_args()
    out = Path(args.out).resolve()

    if not args.skip_generate:
        env = dict(os.environ, BFCL_MT_NOISY_OUT=str(out))
        subprocess.run(
            ["nice", "-n", "19", "cargo", "test", "--test", "bfcl_multi_turn_infer", "--",
             "--ignored", "write_noisy_replay_results", "--nocapture"],
            cwd=ROOT, env=env, check=True)

    bfcl = Path(sys.executable).parent / "bfcl"
    total_bad = 0
    for profile, model in PROFILES.items():
        model_dir = model.replace("/", "_")
        official = out / profile / "official-score"
        project = Path(tempfile.mkdtemp(prefix="bfcl-root-"))
        env = dict(os.environ, BFCL_PROJECT_ROOT=str(project))
        subprocess.run(
            [str(bfcl), "evaluate", "--model", model, "--test-category", ",".join(CATEGORIES),
             "--result-dir", str(out / profile / "result"), "--score-dir", str(official)],
            env=env, check=True, stdout=subprocess.DEVNULL)
        for cat in CATEGORIES:
            res = out / profile / "result" / model_dir / "multi_turn" / f"BFCL_v4_{cat}_result.json"
            ids = result_ids(res)
            o_head, o_failed = read_score(official / model_dir / "multi_turn" / f"BFCL_v4_{cat}_score.json")
            t_head, t_failed = read_score(out / profile / "score" / model_dir / "multi_turn" / f"BFCL_v4_{cat}_score.json")
            agree = unscored = 0
            bad = []
            for i in ids:
                mine = t_failed.get(i)
                if mine == UNSCORED:
                    unscored += 1
                    continue
                theirs = o_failed.get(i)
                if mine == theirs:
                    agree += 1
                else:
                    bad.append((i, theirs, mine))
            total_bad += len(bad)
            print(f"{profile:9} {cat:26} entries {len(ids):3}  official {o_head['correct_count']:3} correct  "
                  f"trainer {t_head['correct_count']:3} correct  agree {agree:3}  unscored {unscored}  disagree {len(bad)}")
            for i, theirs, mine in bad[:10]:
                print(f"    {i}: official {theirs or 'valid'}, trainer {mine or 'valid'}")
    print("AGREE" if total_bad == 0 else f"{total_bad} DISAGREEMENTS")
    return 0 if total_bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
