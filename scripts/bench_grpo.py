#!/usr/bin/env python3
"""One GRPO step, side by side: `trainer` vs a hand-written PyTorch+PEFT step vs TRL `GRPOTrainer`.

Same GGUF weights (dequantized to f32 by all three), same prompt token ids, same shapes (one
prompt, G completions of exactly `--new-tokens` tokens: no EOS stop), LoRA r=8 / alpha=16 on all
7 linear modules, AdamW lr 1e-5, beta = 0 (no reference pass), same thread count, same session.
A step = generation with the adapter on + rewards + group advantages + forward/backward over
prompt+completion + optimizer step. The reward is a toy (fraction of even token ids); only the
time matters. Each implementation runs in its own process (load, then `--reps` timed steps);
rounds alternate the implementations so that machine noise hits all. Before each process the
CPU is checked idle (`cpu_busy_before_pct` in every JSON line). Prints one JSON line per step
(DESIGN.md §8), a table, and the ratios of the median step times.

Normally started by scripts/bench_grpo.sh, which builds the example and finds the peers venv.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_generate import (  # noqa: E402  (shared loading / timing helpers)
    load_hf_model,
    load_hf_tokenizer,
    thread_env,
    wait_idle,
)

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gguf", required=True, help="GGUF model file (SmolLM2-135M-Instruct)")
    p.add_argument("--trainer-bin", help="built bench_grpo example binary")
    p.add_argument("--generations", type=int, default=8, help="G")
    p.add_argument("--prompt-len", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=2, help="timed steps per process")
    p.add_argument("--rounds", type=int, default=1, help="trainer/torch/trl process triples")
    p.add_argument("--impls", default="trainer,torch,trl")
    p.add_argument("--model-name", default="smollm2-135m")
    p.add_argument("--max-busy", type=float, default=15.0,
                   help="CPU percent above which the machine counts as busy before timing")
    p.add_argument("--idle-timeout", type=float, default=300.0,
                   help="seconds to wait for an idle CPU before timing anyway (with a warning)")
    p.add_argument("--worker", choices=["torch", "trl"], help=argparse.SUPPRESS)
    return p.parse_args(argv)


def prompt_ids(n, vocab):
    """The prompt of examples/bench_grpo.rs: id_i = (i * 7919 + 13) mod vocab."""
    return [(i * 7919 + 13) % vocab for i in range(n)]


def peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0)


def lora_config():
    from peft import LoraConfig

    return LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=TARGETS,
                      task_type="CAUSAL_LM", bias="none")


def base_record(args, impl):
    return {"impl": impl, "bench": "grpo", "model": args.model_name, "dtype": "f32",
            "threads": args.threads, "G": args.generations, "prompt_len": args.prompt_len,
            "new_tokens": args.new_tokens, "lora_r": 8}


# ---------------------------------------------------------------- hand-written PyTorch+PEFT step

def torch_worker(args):
    import torch
    from peft import get_peft_model

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = get_peft_model(load_hf_model(args.gguf), lora_config())
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    vocab = model.config.vocab_size
    g, p_len, n = args.generations, args.prompt_len, args.new_tokens
    prompt = torch.tensor([prompt_ids(p_len, vocab)] * g, dtype=torch.long)
    for rep in range(args.reps):
        t0 = time.perf_counter()
        model.eval()
        with torch.no_grad():
            out = model.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt),
                                 do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                 max_new_tokens=n, min_new_tokens=n, eos_token_id=None,
                                 pad_token_id=0, use_cache=True)
        generate_s = time.perf_counter() - t0
        comp = out[:, p_len:]
        rewards = (comp % 2 == 0).float().mean(1)
        adv = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
        t1 = time.perf_counter()
        model.train()
        # Logits of the positions that predict the completion (as TRL's logits_to_keep).
        logits = model(input_ids=out, attention_mask=torch.ones_like(out),
                       logits_to_keep=n + 1).logits[:, :-1, :]
        logp = logits.gather(-1, comp.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)
        ratio = torch.exp(logp - logp.detach())
        loss = -(ratio * adv.unsqueeze(1)).sum() / comp.numel()  # dapo: token sum / tokens
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        fb_s = time.perf_counter() - t1
        rec = base_record(args, "torch")
        rec.update({"rep": rep, "step_s": round(time.perf_counter() - t0, 3),
                    "generate_s": round(generate_s, 3), "forward_backward_s": round(fb_s, 3),
                    "peak_rss_mb": peak_rss_mb(), "torch": torch.__version__})
        print(json.dumps(rec), flush=True)


# ---------------------------------------------------------------- TRL GRPOTrainer

def trl_worker(args):
    import torch
    import trl
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    torch.set_num_threads(args.threads)
    tok = load_hf_tokenizer(args.gguf)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = load_hf_model(args.gguf)
    # The weights are dequantized f32, but transformers marks a GGUF-loaded model as quantized and
    # the Trainer refuses to train it: drop the marker.
    model.hf_quantizer = None
    model.is_quantized = False
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    text = tok.decode(prompt_ids(args.prompt_len, model.config.vocab_size))
    prompt_tokens = len(tok(text)["input_ids"])
    ds = Dataset.from_dict({"prompt": [text] * (args.reps + 1)})

    def even_fraction(completions, completion_ids=None, **_):
        if completion_ids is None:
            completion_ids = [tok(c)["input_ids"] for c in completions]
        return [sum(1 for t in ids if t % 2 == 0) / max(len(ids), 1) for ids in completion_ids]

    steps = []

    class Timer(TrainerCallback):
        def on_step_begin(self, *a, **k):
            steps.append([time.perf_counter(), None])

        def on_step_end(self, *a, **k):
            steps[-1][1] = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        cfg = GRPOConfig(
            output_dir=tmp, per_device_train_batch_size=args.generations,
            num_generations=args.generations, max_completion_length=args.new_tokens,
            generation_kwargs={"min_new_tokens": args.new_tokens}, temperature=1.0,
            learning_rate=1e-5, beta=0.0, max_steps=args.reps, logging_steps=1,
            save_strategy="no", report_to="none", gradient_checkpointing=False, use_cpu=True,
            disable_tqdm=True, dataloader_num_workers=0, seed=0)
        trainer = GRPOTrainer(model=model, reward_funcs=even_fraction, args=cfg, train_dataset=ds,
                              processing_class=tok, peft_config=lora_config(), callbacks=[Timer()])
        trainer.train()
    for rep, (a, b) in enumerate(steps):
        rec = base_record(args, "trl")
        rec.update({"rep": rep, "step_s": round(b - a, 3), "peak_rss_mb": peak_rss_mb(),
                    "trl_prompt_tokens": prompt_tokens, "trl": trl.__version__,
                    "gradient_checkpointing": False})
        print(json.dumps(rec), flush=True)


# ---------------------------------------------------------------- driver

def run_json_lines(cmd, env):
    """Runs `cmd`; returns its JSON measurement lines (TRL also prints Python dicts: skipped)."""
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-5000:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    out = []
    for line in proc.stdout.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "impl" in rec:
            out.append(rec)
    return out


def main():
    args = parse_args()
    if args.worker == "torch":
        return torch_worker(args)
    if args.worker == "trl":
        return trl_worker(args)
    impls = [i for i in args.impls.split(",") if i]
    if "trainer" in impls and not args.trainer_bin:
        raise SystemExit("--trainer-bin is required")
    env = thread_env(args.threads)
    shapes = ["--prompt-len", str(args.prompt_len), "--new-tokens", str(args.new_tokens)]
    cmds = {
        "trainer": [args.trainer_bin or "", "--gguf", args.gguf, "--reps", str(args.reps),
                    "--generations", str(args.generations)] + shapes,
    }
    for w in ("torch", "trl"):
        cmds[w] = [sys.executable, os.path.abspath(__file__), "--worker", w, "--gguf", args.gguf,
                   "--threads", str(args.threads), "--reps", str(args.reps), "--generations",
                   str(args.generations), "--model-name", args.model_name] + shapes
    results = []
    for rnd in range(args.rounds):
        for impl in impls:
            busy = wait_idle(args.max_busy, args.idle_timeout)
            load1 = os.getloadavg()[0]
            for r in run_json_lines(cmds[impl], env):
                if "peak_rss_mib" in r:
                    r["peak_rss_mb"] = round(r.pop("peak_rss_mib") or 0)
                r.update({"round": rnd, "cpu_busy_before_pct": busy, "loadavg1_before": load1})
                results.append(r)
                print(json.dumps(r), flush=True)

    print()
    print(f"{'impl':<8} {'round':>5} {'rep':>4} {'step s':>8} {'gen s':>7} {'fwd+bwd s':>9} "
          f"{'peak RSS MB':>12} {'CPU busy %':>10}")
    for r in results:
        print(f"{r['impl']:<8} {r['round']:>5} {r['rep']:>4} {r['step_s']:>8.2f} "
              f"{r.get('generate_s') or float('nan'):>7.2f} "
              f"{r.get('forward_backward_s') or float('nan'):>9.2f} "
              f"{r.get('peak_rss_mb') or 0:>12.0f} {r['cpu_busy_before_pct']:>10.0f}")
    med = {}
    for impl in impls:
        xs = [r["step_s"] for r in results if r["impl"] == impl]
        med[impl] = statistics.median(xs) if xs else float("nan")
    summary = {"bench": "grpo", "summary": True, "model": args.model_name, "threads": args.threads,
               "G": args.generations, "prompt_len": args.prompt_len, "new_tokens": args.new_tokens,
               "median_step_s": med}
    if "trainer" in med:
        for peer in ("torch", "trl"):
            if peer in med:
                ratio = med["trainer"] / med[peer]
                summary[f"ratio_trainer_over_{peer}"] = round(ratio, 3)
                print(f"median step: trainer {med['trainer']:.2f} s, {peer} {med[peer]:.2f} s; "
                      f"trainer/{peer} = {ratio:.2f} (below 1 = trainer faster)")
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
