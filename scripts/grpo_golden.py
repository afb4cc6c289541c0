#!/usr/bin/env python3
"""Golden numbers for src/grpo and src/train/optim.rs, from the reference implementations.

Run with the peers venv (torch 2.15, transformers 5.23, trl 1.16):

    "$(scripts/setup-peers.sh | tail -1)" scripts/grpo_golden.py

Writes tests/fixtures/grpo/golden.json (read by tests/grpo_golden.rs and tests/train_optim.rs).

Sources of truth:
* Loss, per-token terms and metrics: TRL's own `GRPOTrainer._compute_loss` (trl/trainer/grpo_trainer.py,
  TRL 1.16.0, lines 3020-3290), called unbound on a minimal stand-in for the trainer whose
  `_get_per_token_logps_and_entropies` returns fixed tensors. Its local variables (`per_token_loss`,
  `coef_1`, `per_token_kl`) are read from the frame when it returns; the gradient w.r.t. the log-probs
  comes from torch autograd.
* Advantages: TRL computes them inline inside `_generate_and_score_completions` (grpo_trainer.py lines
  2759-2830, `multi_objective_aggregation="sum_then_normalize"`), which cannot be called on its own, so
  `trl_advantages` below re-states those lines (cited inline) using TRL's own `nanstd`.
* Optimizer: `torch.optim.AdamW` + `torch.nn.utils.clip_grad_norm_` + transformers'
  `get_{constant,linear,cosine}_schedule_with_warmup`.
Everything runs in float64 except the optimizer (float32, as our moments).
"""

import json
import math
import os
import sys
from collections import defaultdict
from types import SimpleNamespace

import torch
import transformers
import trl
from transformers.optimization import (
    get_constant_schedule_with_warmup,
    get_cosine_schedule_with_warmup,
    get_linear_schedule_with_warmup,
)
from trl.trainer.grpo_trainer import GRPOTrainer
from trl.trainer.utils import nanstd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "grpo", "golden.json")


def nan_to_none(x):
    """JSON has no NaN: NaN -> null (the Rust side reads null as NaN)."""
    if isinstance(x, list):
        return [nan_to_none(v) for v in x]
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


# ----------------------------------------------------------------------------------------------
# Advantages (re-stated from grpo_trainer.py 2759-2830)
# ----------------------------------------------------------------------------------------------
def trl_advantages(rewards, num_generations, scale_rewards):
    # Every reward function returned None -> NaN (line 2759: unscorable_mask; line 2764).
    rewards = torch.tensor([float("nan") if r is None else r for r in rewards], dtype=torch.float64)
    # lines 2765-2766
    mean_grouped_rewards = torch.nanmean(rewards.view(-1, num_generations), dim=1)
    mean_grouped_rewards = mean_grouped_rewards.repeat_interleave(num_generations, dim=0)
    if scale_rewards in ["group", "none"]:  # lines 2768-2773
        if num_generations > 1:
            std_rewards = nanstd(rewards.view(-1, num_generations), dim=1)
            std_rewards = std_rewards.repeat_interleave(num_generations, dim=0)
        else:
            std_rewards = torch.zeros_like(rewards)
    elif scale_rewards == "batch":  # lines 2774-2779
        if rewards.numel() > 1:
            std_rewards = nanstd(rewards).expand_as(rewards)
        else:
            std_rewards = torch.zeros_like(rewards)
    else:
        raise ValueError(scale_rewards)
    advantages = rewards - mean_grouped_rewards  # line 2785
    if scale_rewards != "none":  # lines 2786-2787
        advantages = advantages / (std_rewards + 1e-4)
    is_std_zero = torch.isclose(std_rewards, torch.zeros_like(std_rewards))  # line 2788
    advantages = torch.nan_to_num(advantages, nan=0.0)  # line 2810
    return {
        "advantages": advantages.tolist(),
        "std_rewards": nan_to_none(std_rewards.tolist()),
        "frac_reward_zero_std": is_std_zero.float().mean().item(),  # line 2830
        "reward": nan_to_none(torch.nanmean(rewards).item()),  # line 2828
        "reward_std": nan_to_none(nanstd(rewards).item()),  # line 2829
    }


ADVANTAGE_CASES = [
    # 3 groups of 4: mixed rewards with an unscorable row; a zero-variance group; a group with a
    # single scorable row (its std is NaN, so its advantage is 0 under group scaling).
    ("mixed", 4, [1.0, 0.0, 0.5, None, 0.3, 0.3, 0.3, 0.3, None, 2.0, None, None]),
    ("binary", 4, [1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 0.0]),
    ("graded", 3, [0.25, 0.75, 0.5, -1.0, 0.0, 3.5]),
    ("all_unscorable_group", 2, [None, None, 0.4, 0.9]),
]


# ----------------------------------------------------------------------------------------------
# Loss: TRL's own _compute_loss on a stand-in trainer
# ----------------------------------------------------------------------------------------------
class _Accel:
    num_processes = 1
    sync_gradients = True

    def reduce(self, t, reduction="sum"):
        return t

    def gather(self, t):
        return t

    def gather_for_metrics(self, t):
        return t


def run_trl_loss(case, loss_type):
    B, T = case["B"], case["T"]
    logp = torch.tensor(case["logp"], dtype=torch.float64).view(B, T).requires_grad_(True)
    entropy = torch.tensor(case["entropy"], dtype=torch.float64).view(B, T)
    accum = case["accumulation_steps"]
    fake = SimpleNamespace(
        _get_per_token_logps_and_entropies=lambda *a, **k: (logp, entropy, None),
        aux_loss_enabled=False,
        top_entropy_quantile=1.0,
        off_policy_mask_threshold=None,
        importance_sampling_level=case["importance_sampling_level"],
        beta=case["beta"],
        loss_type=loss_type,
        epsilon_low=case["epsilon"],
        epsilon_high=case["epsilon_high"],
        use_vllm=False,
        vllm_importance_sampling_correction=False,
        model=SimpleNamespace(training=True),
        current_gradient_accumulation_steps=accum,
        max_completion_length=case["max_completion_length"],
        accelerator=_Accel(),
        args=SimpleNamespace(
            use_bias_correction_kl=case["use_bias_correction_kl"],
            delta=None,
            steps_per_generation=accum,
        ),
        _entropy_bonus_enabled=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
    )
    completion_mask = torch.tensor(case["completion_mask"], dtype=torch.float64).view(B, T)
    inputs = {
        "prompt_ids": torch.zeros(B, 1, dtype=torch.long),
        "prompt_mask": torch.ones(B, 1, dtype=torch.long),
        "completion_ids": torch.zeros(B, T, dtype=torch.long),
        "completion_mask": completion_mask,
        "advantages": torch.tensor(case["advantages"], dtype=torch.float64),
        "num_items_in_batch": torch.tensor(case["num_items_in_batch"], dtype=torch.float64),
    }
    if case["tool_mask"] is not None:
        inputs["tool_mask"] = torch.tensor(case["tool_mask"], dtype=torch.float64).view(B, T)
    if case["old_logp"] is not None:
        inputs["old_per_token_logps"] = torch.tensor(case["old_logp"], dtype=torch.float64).view(B, T)
    if case["ref_logp"] is not None:
        inputs["ref_per_token_logps"] = torch.tensor(case["ref_logp"], dtype=torch.float64).view(B, T)

    captured = {}

    def tracer(frame, event, arg):
        if event == "return" and frame.f_code is GRPOTrainer._compute_loss.__code__:
            captured.update(frame.f_locals)

    sys.setprofile(tracer)
    try:
        loss = GRPOTrainer._compute_loss(fake, None, inputs)
    finally:
        sys.setprofile(None)
    loss.backward()
    metrics = {k: v[-1] for k, v in fake._metrics["train"].items()}
    ptl = captured["per_token_loss"].detach().expand(B, T)
    kl = captured.get("per_token_kl")
    return {
        "loss": loss.item(),
        "grad_logp": logp.grad.reshape(-1).tolist(),
        "per_token_loss": ptl.reshape(-1).tolist(),
        "ratio": captured["coef_1"].detach().reshape(-1).tolist(),
        "per_token_kl": None if kl is None else kl.detach().reshape(-1).tolist(),
        "metrics": {k: nan_to_none(v) for k, v in metrics.items()},
    }


def make_loss_case(name, gen, B, T, *, level, beta, bias_kl, eps, eps_high, lengths, tool_holes=None,
                   on_policy=False, accum=1, extra_items=0.0):
    logp = -torch.rand(B, T, generator=gen, dtype=torch.float64) * 3.0 - 0.05
    old = None if on_policy else logp + (torch.rand(B, T, generator=gen, dtype=torch.float64) - 0.5) * 0.8
    ref = logp + (torch.rand(B, T, generator=gen, dtype=torch.float64) - 0.5) * 1.0
    entropy = torch.rand(B, T, generator=gen, dtype=torch.float64) * 2.0
    adv = torch.randn(B, generator=gen, dtype=torch.float64)
    cmask = torch.zeros(B, T, dtype=torch.float64)
    for b, n in enumerate(lengths):
        cmask[b, :n] = 1.0
    tool = None
    if tool_holes is not None:
        tool = torch.ones(B, T, dtype=torch.float64)
        for b, lo, hi in tool_holes:
            tool[b, lo:hi] = 0.0
    mask = cmask if tool is None else cmask * tool
    return {
        "name": name,
        "B": B,
        "T": T,
        "importance_sampling_level": level,
        "beta": beta,
        "use_bias_correction_kl": bias_kl,
        "epsilon": eps,
        "epsilon_high": eps_high,
        "max_completion_length": T + 2,
        "accumulation_steps": accum,
        "num_items_in_batch": mask.sum().item() + extra_items,
        "logp": logp.reshape(-1).tolist(),
        "old_logp": None if old is None else old.reshape(-1).tolist(),
        "ref_logp": None if beta == 0.0 else ref.reshape(-1).tolist(),
        "entropy": entropy.reshape(-1).tolist(),
        "advantages": adv.tolist(),
        "completion_mask": cmask.reshape(-1).tolist(),
        "tool_mask": None if tool is None else tool.reshape(-1).tolist(),
        "mask": mask.reshape(-1).tolist(),
    }


def loss_cases():
    gen = torch.Generator().manual_seed(1234)
    cases = [
        make_loss_case("token_kl_bias", gen, 4, 6, level="token", beta=0.04, bias_kl=True, eps=0.2,
                       eps_high=0.28, lengths=[6, 4, 5, 2]),
        make_loss_case("sequence_kl", gen, 4, 6, level="sequence", beta=0.04, bias_kl=True, eps=0.03,
                       eps_high=0.03, lengths=[6, 3, 5, 6]),
        make_loss_case("sequence_no_kl", gen, 3, 5, level="sequence", beta=0.0, bias_kl=True, eps=0.1,
                       eps_high=0.15, lengths=[5, 2, 4]),
        # Multi-turn: tool / user tokens inside the completion are masked out; one row has no loss
        # token at all.
        make_loss_case("multi_turn_mask", gen, 4, 8, level="token", beta=0.0, bias_kl=True, eps=0.2,
                       eps_high=0.28, lengths=[8, 7, 8, 0], tool_holes=[(0, 2, 5), (1, 3, 4), (2, 1, 7)]),
        make_loss_case("on_policy_kl", gen, 3, 5, level="token", beta=0.1, bias_kl=False, eps=0.2,
                       eps_high=0.2, lengths=[5, 4, 3], on_policy=True),
        # Two micro-batches per optimizer step: grpo/bnpo/dr_grpo divide by 2, dapo divides by the
        # window's token count (here larger than this micro-batch's).
        make_loss_case("accumulated", gen, 3, 6, level="token", beta=0.02, bias_kl=True, eps=0.2,
                       eps_high=0.3, lengths=[6, 5, 3], accum=2, extra_items=9.0),
    ]
    for c in cases:
        c["results"] = {lt: run_trl_loss(c, lt) for lt in ["grpo", "bnpo", "dr_grpo", "dapo"]}
    return cases


# ----------------------------------------------------------------------------------------------
# Optimizer: torch AdamW + clip_grad_norm_ + transformers schedules
# ----------------------------------------------------------------------------------------------
SCHEDULES = {
    "constant": lambda opt, w, n: get_constant_schedule_with_warmup(opt, w),
    "linear": lambda opt, w, n: get_linear_schedule_with_warmup(opt, w, n),
    "cosine": lambda opt, w, n: get_cosine_schedule_with_warmup(opt, w, n),
}


def schedule_table():
    out = []
    for kind in SCHEDULES:
        for warmup, total in [(3, 10), (0, 7), (2, 2)]:
            p = torch.nn.Parameter(torch.zeros(1))
            opt = torch.optim.SGD([p], lr=1.0)
            sched = SCHEDULES[kind](opt, warmup, total)
            factors = []
            for _ in range(total + 3):
                factors.append(sched.get_last_lr()[0])
                opt.step()
                sched.step()
            out.append({"kind": kind, "warmup_steps": warmup, "total_steps": total, "factors": factors})
    return out


def optimizer_case(name, *, kind, warmup, total, lr, wd, max_norm, betas, eps, steps, seed):
    gen = torch.Generator().manual_seed(seed)
    shapes = {"a": (3, 4), "b": (5,)}
    init = {k: torch.randn(*s, generator=gen) for k, s in shapes.items()}
    params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
    opt = torch.optim.AdamW(list(params.values()), lr=lr, betas=betas, eps=eps, weight_decay=wd)
    sched = SCHEDULES[kind](opt, warmup, total)
    grads_log, out_steps = [], []
    for step in range(steps):
        scale = 0.1 + 0.6 * (step % 3)  # grad norms straddle the clipping threshold
        grads = {}
        for k, s in shapes.items():
            # "b" gets no gradient at step 2: torch skips it entirely (no decay, no moment update).
            grads[k] = None if (k == "b" and step == 2) else torch.randn(*s, generator=gen) * scale
        for k, p in params.items():
            p.grad = None if grads[k] is None else grads[k].clone()
        lr_used = sched.get_last_lr()[0]
        if max_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(list(params.values()), max_norm).item()
        else:
            norm = math.sqrt(sum(float((g.double() ** 2).sum()) for g in grads.values() if g is not None))
        opt.step()
        sched.step()
        grads_log.append({k: None if g is None else g.reshape(-1).tolist() for k, g in grads.items()})
        out_steps.append({
            "lr": lr_used,
            "grad_norm": norm,
            "params": {k: p.detach().reshape(-1).tolist() for k, p in params.items()},
        })
    return {
        "name": name,
        "config": {"lr": lr, "beta1": betas[0], "beta2": betas[1], "eps": eps, "weight_decay": wd,
                   "max_grad_norm": max_norm, "schedule": {"kind": kind, "warmup_steps": warmup,
                                                             "total_steps": total}},
        "shapes": {k: list(s) for k, s in shapes.items()},
        "init": {k: v.reshape(-1).tolist() for k, v in init.items()},
        "grads": grads_log,
        "steps": out_steps,
    }


def main():
    torch.set_default_dtype(torch.float64)
    golden = {
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "trl": trl.__version__},
        "advantages": [],
        "losses": loss_cases(),
        "schedules": schedule_table(),
    }
    for name, g, rewards in ADVANTAGE_CASES:
        for mode in ["group", "batch", "none"]:
            golden["advantages"].append({"name": name, "num_generations": g, "scale_rewards": mode,
                                         "rewards": rewards, **trl_advantages(rewards, g, mode)})
    torch.set_default_dtype(torch.float32)
    golden["optimizer"] = [
        optimizer_case("cosine_wd_clip", kind="cosine", warmup=2, total=6, lr=1e-2, wd=0.1, max_norm=1.0,
                       betas=(0.9, 0.999), eps=1e-8, steps=6, seed=7),
        optimizer_case("linear_hard_clip", kind="linear", warmup=1, total=5, lr=5e-2, wd=0.0, max_norm=0.5,
                       betas=(0.8, 0.95), eps=1e-6, steps=5, seed=8),
        optimizer_case("constant_no_clip", kind="constant", warmup=0, total=0, lr=3e-3, wd=0.01,
                       max_norm=None, betas=(0.9, 0.999), eps=1e-8, steps=4, seed=9),
    ]
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
