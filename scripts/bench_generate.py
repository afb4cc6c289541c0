#!/usr/bin/env python3
"""Generation throughput, side by side: the `trainer` engine vs HF transformers `generate`.

Same GGUF weights (dequantized to f32 by both), same prompts (token ids written to one file),
same shapes, same thread count, same session. Each implementation runs in its own process
(load, one short warm-up, then `--reps` timed runs); rounds alternate trainer / HF so that
machine noise hits both. Prints a table, one JSON line per measurement (DESIGN.md §8) and the
ratio of the medians (trainer / HF tokens per second).

Normally started by scripts/bench_generate.sh, which builds the example and finds the peers venv.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gguf", required=True, help="GGUF model file (SmolLM2-135M-Instruct)")
    p.add_argument("--trainer-bin", help="built bench_generate example binary")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--prompt-len", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=2, help="timed runs per process")
    p.add_argument("--rounds", type=int, default=2, help="trainer/HF process pairs")
    p.add_argument("--model-name", default="smollm2-135m")
    p.add_argument("--max-busy", type=float, default=15.0,
                   help="CPU percent above which the machine counts as busy before timing")
    p.add_argument("--idle-timeout", type=float, default=300.0,
                   help="seconds to wait for an idle CPU before timing anyway (with a warning)")
    p.add_argument("--skip-check", action="store_true", help="skip the greedy cross-check")
    p.add_argument("--hf-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--prompts", help=argparse.SUPPRESS)
    p.add_argument("--greedy-check", type=int, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def thread_env(threads):
    env = dict(os.environ)
    for k in ("RAYON_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[k] = str(threads)
    return env


# ---------------------------------------------------------------- HF worker (a child process)

def load_hf_model(gguf):
    """The GGUF model through transformers, dequantized to f32 (also used by bench_grpo.py)."""
    import torch
    from transformers import AutoModelForCausalLM

    d, name = os.path.split(os.path.abspath(gguf))
    return AutoModelForCausalLM.from_pretrained(d, gguf_file=name, dtype=torch.float32)


def load_hf_tokenizer(gguf):
    """The tokenizer stored in the GGUF file, through transformers."""
    from transformers import AutoTokenizer

    d, name = os.path.split(os.path.abspath(gguf))
    return AutoTokenizer.from_pretrained(d, gguf_file=name)


def hf_worker(args):
    import torch
    import transformers
    from transformers import GenerationConfig

    torch.set_num_threads(args.threads)
    with open(args.prompts) as f:
        prompts = json.load(f)
    t0 = time.perf_counter()
    model = load_hf_model(args.gguf)
    model.eval()
    load_s = time.perf_counter() - t0
    ids = torch.tensor(prompts, dtype=torch.long)
    mask = torch.ones_like(ids)

    def run(n, greedy):
        # No EOS: every row makes exactly n tokens. top_k=0 / top_p=1: plain sampling.
        gc = GenerationConfig(
            max_new_tokens=n, min_new_tokens=n, do_sample=not greedy,
            temperature=None if greedy else args.temperature, top_k=None if greedy else 0,
            top_p=None if greedy else 1.0, eos_token_id=None, pad_token_id=0, use_cache=True)
        with torch.inference_mode():
            return model.generate(input_ids=ids, attention_mask=mask, generation_config=gc)

    if args.greedy_check:
        out = run(args.greedy_check, True)
        print(json.dumps({"greedy_tokens": out[:, ids.shape[1]:].tolist()}), flush=True)
        return
    run(min(4, args.new_tokens), False)  # warm-up
    torch.manual_seed(0)
    for rep in range(args.reps):
        t = time.perf_counter()
        out = run(args.new_tokens, False)
        secs = time.perf_counter() - t
        n = (out.shape[1] - ids.shape[1]) * out.shape[0]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        print(json.dumps({
            "impl": "hf", "bench": "generate", "model": args.model_name,
            "threads": torch.get_num_threads(), "batch": ids.shape[0],
            "prompt_len": ids.shape[1], "new_tokens": args.new_tokens,
            "tokens_per_s": round(n / secs, 1), "peak_rss_mb": round(rss),
            "generated": n, "seconds": round(secs, 3), "rep": rep, "load_s": round(load_s, 2),
            "torch": torch.__version__, "transformers": transformers.__version__,
        }), flush=True)


# ---------------------------------------------------------------- driver

def wait_idle(max_busy, timeout=120.0):
    """Waits until the CPU is idle enough; returns the last reading (percent, all cores)."""
    import psutil
    start = time.time()
    said = -1e9
    while True:
        busy = psutil.cpu_percent(interval=2.0)
        if busy <= max_busy or time.time() > start + timeout:
            if busy > max_busy:
                print(f"warning: CPU still {busy:.0f}% busy after {timeout:.0f} s; timing anyway",
                      file=sys.stderr)
            return busy
        if time.time() - said >= 30:
            print(f"CPU {busy:.0f}% busy, waiting up to {timeout:.0f} s for it to go idle...",
                  file=sys.stderr)
            said = time.time()


def run_json_lines(cmd, env):
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]


def make_prompts(batch, length, seed=0):
    """Deterministic pseudo-random token ids (no special tokens: ids 1000..29999)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    return rng.integers(1000, 30000, size=(batch, length)).tolist()


def main():
    args = parse_args()
    if args.hf_worker:
        return hf_worker(args)
    if not args.trainer_bin:
        raise SystemExit("--trainer-bin is required")
    env = thread_env(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        prompts_file = os.path.join(tmp, "prompts.json")
        with open(prompts_file, "w") as f:
            json.dump(make_prompts(args.batch, args.prompt_len), f)
        common = ["--gguf", args.gguf, "--prompts", prompts_file, "--new-tokens",
                  str(args.new_tokens), "--temperature", str(args.temperature),
                  "--reps", str(args.reps), "--model-name", args.model_name]
        trainer_cmd = [args.trainer_bin] + common
        hf_cmd = [sys.executable, os.path.abspath(__file__), "--hf-worker",
                  "--threads", str(args.threads)] + common

        if not args.skip_check:
            n = 8
            a = run_json_lines(trainer_cmd + ["--greedy-check", str(n)], env)[0]["greedy_tokens"]
            b = run_json_lines(hf_cmd + ["--greedy-check", str(n)], env)[0]["greedy_tokens"]
            same = sum(x == y for x, y in zip(a, b))
            print(f"greedy cross-check ({n} tokens, {len(a)} rows): {same}/{len(a)} rows identical")
            if same < len(a):
                print(f"  trainer: {a}\n  hf:      {b}")

        results = []
        for rnd in range(args.rounds):
            for name, cmd in (("trainer", trainer_cmd), ("hf", hf_cmd)):
                busy = wait_idle(args.max_busy, args.idle_timeout)
                for r in run_json_lines(cmd, env):
                    r["round"] = rnd
                    r["cpu_busy_before_pct"] = busy
                    results.append(r)
                    print(json.dumps(r), flush=True)

    print()
    print(f"{'impl':<8} {'round':>5} {'rep':>4} {'tok/s':>8} {'seconds':>8} {'peak RSS MB':>12}")
    for r in results:
        print(f"{r['impl']:<8} {r['round']:>5} {r['rep']:>4} {r['tokens_per_s']:>8.1f} "
              f"{r['seconds']:>8.2f} {r['peak_rss_mb'] or 0:>12.0f}")
    med = {}
    for impl in ("trainer", "hf"):
        xs = [r["tokens_per_s"] for r in results if r["impl"] == impl]
        med[impl] = statistics.median(xs) if xs else float("nan")
    ratio = med["trainer"] / med["hf"]
    print(f"\nmedian tokens/s: trainer {med['trainer']:.1f}, hf {med['hf']:.1f}; "
          f"ratio trainer/hf = {ratio:.2f} (goal >= 1.0)")
    print(json.dumps({"bench": "generate", "summary": True, "model": args.model_name,
                      "threads": args.threads, "batch": args.batch, "prompt_len": args.prompt_len,
                      "new_tokens": args.new_tokens, "trainer_tokens_per_s": med["trainer"],
                      "hf_tokens_per_s": med["hf"], "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
