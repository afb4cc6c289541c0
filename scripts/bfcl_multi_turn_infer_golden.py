#!/usr/bin/env python3
"""Prompt oracle for the multi-turn driver: runs the official
`BaseHandler.inference_multi_turn_prompting` of bfcl-eval==2026.3.23 for
QwenHandler (Qwen/Qwen3-8B) and QwenFCHandler (Qwen/Qwen3-8B-FC) on a few real
multi-turn entries, with `_query_prompting` replaced by a scripted "model"
(a `<think>` block and the turn's ground-truth calls, then "Done."; a turn
without ground truth answers with prose). Every prompt the handler formats
(`_format_prompt`) is recorded as its length and FNV-1a 64 hash, with the
entry's final `result`.

Writes tests/fixtures/bfcl_multi_turn_infer/prompt_golden.jsonl, one line per
(entry, profile): {"id", "profile", "script", "prompts": [{"turn", "step",
"chars", "fnv"}], "result"}; consumed by tests/bfcl_multi_turn_infer.rs.

Usage (the venv scripts/bfcl-agreement.sh creates, with bfcl-eval and mpmath):
    BFCL_PROJECT_ROOT=$(mktemp -d) .bfcl-venv/bin/python scripts/bfcl_multi_turn_infer_golden.py
"""

import ast
import copy
import json
import os
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("BFCL_PROJECT_ROOT", tempfile.mkdtemp(prefix="bfcl-root-"))

from bfcl_eval.model_handler.local_inference.qwen import QwenHandler  # noqa: E402
from bfcl_eval.model_handler.local_inference.qwen_fc import QwenFCHandler  # noqa: E402
from bfcl_eval.utils import load_dataset_entry, load_ground_truth_entry  # noqa: E402
import bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils as multi_turn_utils  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "bfcl_multi_turn_infer" / "prompt_golden.jsonl"
ENTRIES = ["multi_turn_base_0", "multi_turn_base_101", "multi_turn_miss_func_0", "multi_turn_miss_param_3"]


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def step_text(profile, calls):
    """The scripted answer carrying `calls` (ground-truth strings) in the profile's format."""
    think = "<think>\nI will call the tools.\n</think>\n\n"
    if profile == "prompting":
        return think + "[" + ", ".join(calls) + "]"
    blocks = []
    for c in calls:
        node = ast.parse(c, mode="eval").body
        args = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
        # Models write UTF-8, not \u escapes; the handler's history re-serializes with json.dumps.
        body = json.dumps({"name": node.func.id, "arguments": args}, ensure_ascii=False)
        blocks.append("<tool_call>\n" + body + "\n</tool_call>")
    return think + "\n".join(blocks)


# An extra call with a non-ASCII argument in the first turn of this entry.
EXTRA = {"multi_turn_base_0": "echo(content='Grüße aus Zürich', file_name='notes.txt')"}


def script_for(profile, entry_id, ground_truth):
    turns = [list(t) for t in ground_truth]
    if entry_id in EXTRA:
        turns[0].append(EXTRA[entry_id])
    return [[step_text(profile, t)] if t else ["I cannot do that with the available functions."]
            for t in turns]


def scripted_query(handler, script, prompts):
    """A `_query_prompting` that records each formatted prompt (turn, step, length, hash) in
    `prompts` and answers step `s` of turn `t` with `script[t][s]`, then "Done."."""

    def fake_query(inference_data):
        prompt = handler._format_prompt(inference_data["message"], inference_data["function"])
        msgs = inference_data["message"]
        users = [i for i, m in enumerate(msgs) if m["role"] == "user"]
        turn = len(users) - 1
        step = sum(1 for m in msgs[users[-1]:] if m["role"] == "assistant")
        prompts.append({"turn": turn, "step": step, "chars": len(prompt), "fnv": fnv1a64(prompt)})
        text = script[turn][step] if step < len(script[turn]) else "Done."
        usage = SimpleNamespace(prompt_tokens=0, completion_tokens=0)
        return SimpleNamespace(choices=[SimpleNamespace(text=text)], usage=usage), 0.0

    return fake_query


def run(handler, profile, entry, ground_truth):
    # Both handlers have model_name "Qwen/Qwen3-8B", so their backend instances would share the
    # same globals of multi_turn_utils; each run starts from fresh instances, as a real run does.
    for name in [k for k in vars(multi_turn_utils) if k.endswith("_instance")]:
        delattr(multi_turn_utils, name)
    script = script_for(profile, entry["id"], ground_truth)
    prompts = []
    handler._query_prompting = scripted_query(handler, script, prompts)
    result, _ = handler.inference_multi_turn_prompting(copy.deepcopy(entry), False, True)
    return {"id": entry["id"], "profile": profile, "script": script, "prompts": prompts, "result": result}


def main():
    handlers = {
        "fc": QwenFCHandler("Qwen/Qwen3-8B", 0.001, "Qwen/Qwen3-8B-FC", True),
        "prompting": QwenHandler("Qwen/Qwen3-8B", 0.001, "Qwen/Qwen3-8B", False),
    }
    lines = []
    for wanted in ENTRIES:
        category = wanted.rsplit("_", 1)[0]
        entry = next(e for e in load_dataset_entry(category) if e["id"] == wanted)
        truth = next(g for g in load_ground_truth_entry(category) if g["id"] == wanted)["ground_truth"]
        for profile, handler in handlers.items():
            lines.append(run(handler, profile, entry, truth))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(l) + "\n" for l in lines))
    print(f"wrote {len(lines)} records, {sum(len(l['prompts']) for l in lines)} prompts to {OUT}")


if __name__ == "__main__":
    sys.exit(main())
