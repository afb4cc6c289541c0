#!/usr/bin/env python3
"""Generation and GRPO step time, `trainer` vs PyTorch+transformers(+PEFT), on one device.

Models: SmolLM2-135M-Instruct (the GGUF asset, dequantized by both) and a random-init model with
Qwen2.5-0.5B's geometry (same config.json for both; random weights do not change the speed).
For each model and implementation (each in its own process, one after the other):

- generation: `batch` rows of `prompt_len` prompt tokens, `new_tokens` sampled at temperature 1
  with no stop (every row makes exactly N tokens), KV cache. tokens/s = batch·N / wall; decode
  tokens/s = batch·(N − 1) / (t(N) − t(1)) (t(1) = prefill + first token).
- GRPO step: one prompt, G completions of N tokens, toy reward, group advantages, forward/backward
  over prompt + completion with LoRA r = 8 on all 7 linears, AdamW. The PyTorch peer is the
  hand-written PEFT step of scripts/bench_grpo.py (TRL's GRPOTrainer needs a tokenizer, which the
  random model has none of).
- decode roofline: a decode step reads every weight once and the KV cache of all rows, so at
  memory bandwidth BW it cannot exceed batch · BW / (params·a + batch·ctx·2·kv_dim·layers·a)
  tokens/s (ctx = prompt + N/2 on average). BW is the device's measured copy bandwidth (a 1 GiB
  device-to-device copy in the PyTorch process; 256 MiB on CPU) unless --mem-bw-gbs is given.

On a GPU the trainer runs four times: with its CUDA kernels (kernels/*.cu, the default), with
candle's composed ops instead (`TRAINER_CUDA_KERNELS=0`, impl "composed"), which measures what
the kernels buy, with flash attention forced in training (`TRAINER_FLASH_ATTENTION=1`, impl
"flash"; by default it starts at 2^28 scores per layer, beyond these shapes), and the same on the
CUDA-core flash kernels instead of the tensor-core ones (`TRAINER_FLASH_TENSOR_CORES=0`, impl
"flash-simt"; what the tensor cores buy in bf16/f16). Prints every JSON line (DESIGN.md §8), then a table and one summary JSON line
with the ratios (trainer ÷ torch speed: > 1 means trainer is faster). `--device cpu` runs the same logic on tiny
shapes (a 2-layer random model and SmolLM2 with a few tokens): a check of the script, not a
benchmark. Normally started by scripts/bench_gpu.sh.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_generate import load_hf_model, thread_env  # noqa: E402

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]

# Qwen2.5-0.5B's geometry (494 M parameters, tied embeddings).
QWEN_05B = {"model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896,
            "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
            "num_key_value_heads": 2, "max_position_embeddings": 32768, "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-6, "tie_word_embeddings": True}
# The --device cpu check: the same code paths on a 2-layer model.
QWEN_TINY = dict(QWEN_05B, vocab_size=512, hidden_size=64, intermediate_size=128,
                 num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)

GPU_SHAPES = {"batch": 16, "prompt_len": 128, "new_tokens": 128, "generations": 8,
              "micro_batch": 8, "reps": 3}
CPU_SHAPES = {"batch": 2, "prompt_len": 16, "new_tokens": 8, "generations": 2,
              "micro_batch": 2, "reps": 1}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (tiny shapes)")
    p.add_argument("--dtype", help="bf16 (default on GPU) or f32 (default on CPU)")
    p.add_argument("--gguf", help="SmolLM2-135M-Instruct GGUF (omit to skip that model)")
    p.add_argument("--trainer-bin", help="built bench_gpu example binary")
    p.add_argument("--models", default="smollm2-135m,qwen-0.5b-random")
    p.add_argument("--impls", default="trainer,torch")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--mem-bw-gbs", type=float, help="memory bandwidth for the roofline (GB/s)")
    p.add_argument("--checkpointing", action="store_true", help="trainer: layer-wise recompute")
    for k, v in GPU_SHAPES.items():
        p.add_argument("--" + k.replace("_", "-"), type=int,
                       help=f"default {v} on GPU, {CPU_SHAPES[k]} on CPU")
    p.add_argument("--worker", choices=["torch"], help=argparse.SUPPRESS)
    p.add_argument("--hf-config", help=argparse.SUPPRESS)
    p.add_argument("--model-name", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    shapes = CPU_SHAPES if args.device == "cpu" else GPU_SHAPES
    for k, v in shapes.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.dtype is None:
        args.dtype = "f32" if args.device == "cpu" else "bf16"
    return args


def prompt_ids(n, vocab, row):
    """The prompt of examples/bench_gpu.rs: id_i = (i·7919 + 13 + row) mod vocab."""
    return [(i * 7919 + 13 + row) % vocab for i in range(n)]


# ---------------------------------------------------------------- PyTorch worker (a child process)

def torch_dtype(name):
    import torch
    return {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}[name]


def sync(device):
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def copy_bandwidth_gbs(device):
    """Measured device copy bandwidth: bytes read + written per second, best of 5."""
    import torch
    n = (1 << 30 if device.type == "cuda" else 1 << 28) // 4
    x = torch.empty(n, dtype=torch.float32, device=device).fill_(1.0)
    y = torch.empty_like(x)
    best = float("inf")
    for _ in range(5):
        sync(device)
        t = time.perf_counter()
        y.copy_(x)
        sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * n * 4 / best / 1e9


def load_torch_model(args, device):
    import torch
    if args.hf_config:
        from transformers import Qwen2Config, Qwen2ForCausalLM
        with open(args.hf_config) as f:
            cfg = json.load(f)
        cfg.pop("model_type", None)
        torch.manual_seed(0)
        model = Qwen2ForCausalLM(Qwen2Config(**cfg))
    else:
        model = load_hf_model(args.gguf)
    return model.to(device=device, dtype=torch_dtype(args.dtype))


def torch_worker(args):
    import torch
    from peft import LoraConfig, get_peft_model

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = load_torch_model(args, device)
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    kv_dim = cfg.num_key_value_heads * (cfg.hidden_size // cfg.num_attention_heads)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0,
                                             target_modules=TARGETS, task_type="CAUSAL_LM",
                                             bias="none"))
    base = {"impl": "torch", "model": args.model_name, "device": args.device, "dtype": args.dtype,
            "params": params, "layers": cfg.num_hidden_layers, "kv_dim": kv_dim,
            "torch": torch.__version__, "mem_bw_gbs": copy_bandwidth_gbs(device)}
    if device.type == "cuda":
        base["device_name"] = torch.cuda.get_device_name(device)
    vocab = cfg.vocab_size

    def emit(extra):
        print(json.dumps(dict(base, **extra)), flush=True)

    def generate(ids, n):
        model.eval()
        sync(device)
        t = time.perf_counter()
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                 do_sample=True, temperature=1.0, top_k=0, top_p=1.0,
                                 max_new_tokens=n, min_new_tokens=n, eos_token_id=None,
                                 pad_token_id=0, use_cache=True)
        sync(device)
        if out.shape[1] != ids.shape[1] + n:
            raise SystemExit(f"torch generated {out.shape[1] - ids.shape[1]} tokens, not {n}")
        return out, time.perf_counter() - t

    b, p_len, n = args.batch, args.prompt_len, args.new_tokens
    ids = torch.tensor([prompt_ids(p_len, vocab, r) for r in range(b)], device=device)
    generate(ids, min(2, n))  # warm-up
    for rep in range(args.reps):
        _, first_s = generate(ids, 1)
        _, wall_s = generate(ids, n)
        emit({"bench": "generate", "rep": rep, "batch": b, "prompt_len": p_len,
              "new_tokens": n, "wall_s": wall_s, "first_token_s": first_s,
              "tokens_per_s": b * n / wall_s,
              "decode_tokens_per_s": b * (n - 1) / max(wall_s - first_s, 1e-9)})

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    g = args.generations
    prompt = torch.tensor([prompt_ids(p_len, vocab, 0)] * g, device=device)
    for rep in range(args.reps + 1):  # rep 0 warms up
        t0 = time.perf_counter()
        out, generate_s = generate(prompt, n)
        comp = out[:, p_len:]
        rewards = (comp % 2 == 0).float().mean(1)
        adv = (rewards - rewards.mean()) / (rewards.std() + 1e-4)
        t1 = time.perf_counter()
        model.train()
        for s in range(0, g, args.micro_batch):
            rows, c = out[s:s + args.micro_batch], comp[s:s + args.micro_batch]
            logits = model(input_ids=rows, attention_mask=torch.ones_like(rows),
                           logits_to_keep=n + 1).logits[:, :-1, :].float()
            logp = logits.gather(-1, c.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, -1)
            ratio = torch.exp(logp - logp.detach())
            a = adv[s:s + args.micro_batch].unsqueeze(1)
            (-(ratio * a).sum() / comp.numel()).backward()  # dapo: token sum / all tokens
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        emit({"bench": "grpo", "rep": rep, "warmup": rep == 0, "G": g, "prompt_len": p_len,
              "new_tokens": n, "micro_batch": args.micro_batch,
              "step_s": time.perf_counter() - t0, "generate_s": generate_s,
              "forward_backward_s": time.perf_counter() - t1})


# ---------------------------------------------------------------- driver

def run_json_lines(cmd, env):
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def median(recs, bench, key):
    xs = [r[key] for r in recs if r["bench"] == bench and not r.get("warmup")]
    return statistics.median(xs) if xs else None


def roofline_tps(rec, args, bw_gbs):
    """Decode tokens/s at memory bandwidth `bw_gbs` (see the module docs)."""
    a = {"f32": 4, "bf16": 2, "f16": 2}[args.dtype]
    ctx = args.prompt_len + args.new_tokens / 2
    step_bytes = rec["params"] * a + args.batch * ctx * 2 * rec["kv_dim"] * rec["layers"] * a
    return args.batch * bw_gbs * 1e9 / step_bytes


def main():
    args = parse_args()
    if args.worker:
        return torch_worker(args)
    impls = args.impls.split(",")
    if "trainer" in impls and not args.trainer_bin:
        raise SystemExit("--trainer-bin is required")
    env = thread_env(args.threads)
    tmp = tempfile.mkdtemp(prefix="bench_gpu_")
    shapes = ["--batch", str(args.batch), "--prompt-len", str(args.prompt_len),
              "--new-tokens", str(args.new_tokens), "--generations", str(args.generations),
              "--micro-batch", str(args.micro_batch), "--reps", str(args.reps)]
    rows = []
    for name in args.models.split(","):
        if name.startswith("smollm2"):
            if not args.gguf:
                print(f"skipping {name}: no --gguf", file=sys.stderr)
                continue
            src = ["--gguf", args.gguf]
        elif name.startswith("qwen"):
            geometry = QWEN_TINY if args.device == "cpu" else QWEN_05B
            path = os.path.join(tmp, name + ".json")
            with open(path, "w") as f:
                json.dump(geometry, f)
            src = ["--hf-config", path]
        else:
            raise SystemExit(f"unknown model {name!r}")
        if args.device == "cpu" and name.startswith("qwen"):
            name += "-tiny"
        common = ["--device", args.device, "--dtype", args.dtype, "--model-name", name] + src
        recs = {}
        if "trainer" in impls:
            extra = ["--checkpointing"] if args.checkpointing else []
            cmd = [args.trainer_bin] + common + shapes + extra
            recs["trainer"] = run_json_lines(cmd, env)
            if args.device != "cpu":
                # The same run with candle's composed ops instead of kernels/*.cu: what the
                # kernels buy on this GPU.
                recs["composed"] = run_json_lines(cmd, dict(env, TRAINER_CUDA_KERNELS="0"))
                # Flash attention forced in training (by default it starts at 2^28 scores per
                # layer, beyond these shapes): its speed cost or gain against cuBLAS on
                # materialized scores.
                recs["flash"] = run_json_lines(cmd, dict(env, TRAINER_FLASH_ATTENTION="1"))
                # The same with the CUDA-core flash kernels instead of the tensor-core ones
                # (bf16/f16): what the tensor cores buy.
                recs["flash-simt"] = run_json_lines(
                    cmd, dict(env, TRAINER_FLASH_ATTENTION="1", TRAINER_FLASH_TENSOR_CORES="0"))
        if "torch" in impls:
            recs["torch"] = run_json_lines(
                [sys.executable, os.path.abspath(__file__), "--worker", "torch",
                 "--threads", str(args.threads)] + common + shapes, env)
        for impl_recs in recs.values():
            for r in impl_recs:
                print(json.dumps(r))
        bw = args.mem_bw_gbs
        if bw is None and recs.get("torch"):
            bw = recs["torch"][0]["mem_bw_gbs"]
        row = {"model": name, "device": args.device, "dtype": args.dtype, "mem_bw_gbs": bw}
        for impl, rs in recs.items():
            row[impl] = {k: median(rs, b, k) for b, k in
                         [("generate", "tokens_per_s"), ("generate", "decode_tokens_per_s"),
                          ("grpo", "step_s")]}
            if bw and rs:
                roof = roofline_tps(rs[0], args, bw)
                row[impl]["decode_roofline_tps"] = roof
                row[impl]["decode_vs_roofline"] = row[impl]["decode_tokens_per_s"] / roof
        if "trainer" in row and "torch" in row:
            tr, pt = row["trainer"], row["torch"]
            row["ratio_generate_tps"] = tr["tokens_per_s"] / pt["tokens_per_s"]
            row["ratio_decode_tps"] = tr["decode_tokens_per_s"] / pt["decode_tokens_per_s"]
            row["ratio_grpo_speed"] = pt["step_s"] / tr["step_s"]
        if "trainer" in row and "composed" in row:
            row["ratio_kernels_grpo_speed"] = row["composed"]["step_s"] / row["trainer"]["step_s"]
        if "trainer" in row and "flash" in row:
            row["ratio_flash_grpo_speed"] = row["trainer"]["step_s"] / row["flash"]["step_s"]
        if "flash" in row and "flash-simt" in row:
            row["ratio_flash_tensor_cores_grpo_speed"] = (
                row["flash-simt"]["step_s"] / row["flash"]["step_s"])
        rows.append(row)

    print(f"\n{'model':<22} {'impl':<10} {'gen tok/s':>10} {'decode tok/s':>13} "
          f"{'% roofline':>10} {'GRPO step s':>12}", file=sys.stderr)
    for row in rows:
        for impl in impls + ["composed", "flash", "flash-simt"]:
            m = row.get(impl)
            if not m:
                continue
            roof = m.get("decode_vs_roofline")
            print(f"{row['model']:<22} {impl:<10} {m['tokens_per_s']:>10.1f} "
                  f"{m['decode_tokens_per_s']:>13.1f} "
                  f"{(100 * roof if roof else float('nan')):>10.1f} {m['step_s']:>12.3f}",
                  file=sys.stderr)
        if "ratio_grpo_speed" in row:
            print(f"{'':<22} trainer ÷ torch speed: generation {row['ratio_generate_tps']:.2f}, "
                  f"decode {row['ratio_decode_tps']:.2f}, GRPO step {row['ratio_grpo_speed']:.2f}",
                  file=sys.stderr)
        if "ratio_kernels_grpo_speed" in row:
            print(f"{'':<22} GRPO step with the CUDA kernels ÷ with composed ops: "
                  f"{row['ratio_kernels_grpo_speed']:.2f}× faster", file=sys.stderr)
        if "ratio_flash_grpo_speed" in row:
            print(f"{'':<22} GRPO step with flash attention forced ÷ materialized scores: "
                  f"{row['ratio_flash_grpo_speed']:.2f}× faster", file=sys.stderr)
        if "ratio_flash_tensor_cores_grpo_speed" in row:
            print(f"{'':<22} GRPO step with flash attention on tensor cores ÷ on CUDA cores: "
                  f"{row['ratio_flash_tensor_cores_grpo_speed']:.2f}× faster", file=sys.stderr)
    print(json.dumps({"summary": rows, "check_only": args.device == "cpu"}))


if __name__ == "__main__":
    main()
