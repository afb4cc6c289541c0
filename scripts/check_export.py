#!/usr/bin/env python3
"""Cross-checks trainer's exports against transformers and peft.

Usage: check_export.py OUT_DIR   (OUT_DIR as written by `cargo run --example export_check`)

For every case directory it loads
  - base/    with transformers.AutoModelForCausalLM           -> logits vs trainer's base_logits
  - adapter/ on top of base with peft.PeftModel.from_pretrained -> logits vs trainer's lora_logits
  - merged/  with transformers.AutoModelForCausalLM           -> logits vs trainer's lora_logits
on the CPU, in float32 and in float64, and prints max |delta| against trainer's f32 / f64 logits.
When the case has a chat prompt (SmolLM2), the exported tokenizer must render the same prompt with its
chat template and encode it to the same ids.

Pass criteria (exit 1 otherwise):
  - f64: max |delta| <= 1e-4 (measured: ~1e-6 on the tiny models, ~2e-5 on SmolLM2: transformers
    still computes RMSNorm and the rotary tables in f32 inside a float64 model);
  - f32: max |delta| <= 1e-4, or, when rounding noise alone exceeds that (SmolLM2's 30 layers and
    logits up to ~40 give ~1e-4 in transformers itself), trainer's f32 distance to the f64 result
    is at most 1.5x transformers' own f32 distance to it (both numbers are printed);
  - the adapter changes the logits (otherwise the adapter checks would be vacuous);
  - the tokenizer checks, when present.
"""

import json
import sys
from pathlib import Path

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

TOL = 1e-4


def load(path: Path, dtype):
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, attn_implementation="eager")
    model.eval()
    return model


@torch.no_grad()
def logits_of(model, ids: torch.Tensor) -> torch.Tensor:
    return model(input_ids=ids[None, :]).logits[0].double()


def max_delta(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a.double() - b.double()).abs().max().item()


def variants(case_dir: Path, dtype):
    """Logits of base, base + adapter (peft) and merged, all in `dtype`."""
    base = load(case_dir / "base", dtype)
    out = {"base (transformers)": base}
    peft_model = PeftModel.from_pretrained(load(case_dir / "base", dtype), case_dir / "adapter")
    out["base + adapter (peft)"] = peft_model.to(dtype).eval()
    out["merged (transformers)"] = load(case_dir / "merged", dtype)
    return out


def check_case(case_dir: Path) -> bool:
    meta = json.loads((case_dir / "meta.json").read_text())
    ref = load_file(case_dir / "logits.safetensors")
    ids = ref["ids"].long()
    ok = True
    want = {
        "base (transformers)": "base_logits",
        "base + adapter (peft)": "lora_logits",
        "merged (transformers)": "lora_logits",
    }
    hf32 = {k: logits_of(m, ids) for k, m in variants(case_dir, torch.float32).items()}
    hf64 = {k: logits_of(m, ids) for k, m in variants(case_dir, torch.float64).items()}

    effect = max_delta(ref["lora_logits"], ref["base_logits"])
    print(f"== {meta['case']} ({meta['arch']}, {len(ids)} tokens, rslora={meta['use_rslora']}); "
          f"max |logit| = {ref['base_logits'].abs().max().item():.3g}, "
          f"adapter effect max |lora - base| = {effect:.4g}")
    for name, key in want.items():
        t32, t64 = ref[key], ref[key + "_f64"]
        d32 = max_delta(t32, hf32[name])
        d64 = max_delta(t64, hf64[name])
        trainer_noise = max_delta(t32, hf64[name])
        hf_noise = max_delta(hf32[name], hf64[name])
        ok64 = d64 <= TOL
        ok32 = d32 <= TOL or trainer_noise <= 1.5 * hf_noise
        ok &= ok64 and ok32
        print(f"   {name:24s} f32 max |delta| = {d32:.3e} {'ok' if ok32 else 'FAIL'}   "
              f"f64 max |delta| = {d64:.3e} {'ok' if ok64 else 'FAIL'}   "
              f"(f32 vs f64: trainer {trainer_noise:.2e}, transformers {hf_noise:.2e})")
    if effect < 1e-3:
        print("   FAIL: the adapter has no visible effect, the check would be vacuous")
        ok = False

    prompt = meta.get("prompt")
    if prompt is not None:
        tok = AutoTokenizer.from_pretrained(case_dir / "base")
        rendered = tok.apply_chat_template(
            [{"role": "user", "content": "What is the capital of France?"}],
            add_generation_prompt=True,
            tokenize=False,
        )
        same_prompt = rendered == prompt
        enc = tok(prompt, add_special_tokens=False)["input_ids"]
        same_ids = list(enc) == ids.tolist()
        print(f"   tokenizer: chat template {'ok' if same_prompt else 'FAIL'}, "
              f"ids {'ok' if same_ids else 'FAIL'}")
        if not same_prompt:
            print(f"     transformers: {rendered!r}\n     trainer:      {prompt!r}")
        if not same_ids:
            print(f"     transformers: {enc}\n     trainer:      {ids.tolist()}")
        ok &= same_prompt and same_ids
    return ok


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(sys.argv[1])
    cases = sorted(p for p in out.iterdir() if (p / "meta.json").is_file())
    if not cases:
        print(f"no cases under {out}", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    results = [check_case(c) for c in cases]
    print("all ok" if all(results) else "FAILED")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
