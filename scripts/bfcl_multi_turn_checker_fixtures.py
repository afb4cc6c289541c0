#!/usr/bin/env python3
"""Writes tests/fixtures/bfcl_multi_turn/checker.json: per-entry verdicts of
the official BFCL multi-turn checker on ground-truth replays and
systematically perturbed model answers.

Usage (from the repository root, Python 3.11, mpmath installed):
    scripts/fetch-bfcl.sh
    python3 scripts/bfcl_multi_turn_checker_fixtures.py

Oracle: the official `multi_turn_checker` of bfcl-eval==2026.3.23, preceded
by the two rules of eval_runner's `_evaluate_single_multi_turn_entry` (which
cannot be imported without every API client library): a turn-count
mismatch is `multi_turn:force_terminated`, and steps whose decode is empty
(official `is_empty_execute_response`) are dropped. Entries: every `EVERY`-th
multi_turn_base entry whose classes all have a Rust port and whose ground
truth does not call `logarithm`/`square_root`. Per entry: the ground truth
replayed (one step per turn, and one step per call) and perturbations:
a dropped call, a changed argument, an extra (repeated) call, a reordered
turn, an emptied turn, a missing last turn. All cases run in one process,
in file order (the Rust test replays them in the same order).
"""
import ast
import json
import os
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("TRAINER_CACHE", os.path.join(ROOT, ".cache", "assets"))
WHEEL = os.path.join(CACHE, "bfcl", ".download", "bfcl_eval-2026.3.23-py3-none-any.whl")
DATA = os.path.join(CACHE, "bfcl", "data")
OUT = os.path.join(ROOT, "tests", "fixtures", "bfcl_multi_turn", "checker.json")
EVERY = 5
PORTED = {"GorillaFileSystem", "MathAPI", "MessageAPI", "TicketAPI", "TwitterAPI",
          "TradingBot", "TravelAPI", "VehicleControlAPI"}

tmp = tempfile.mkdtemp()
with zipfile.ZipFile(WHEEL) as z:
    z.extractall(tmp, [m for m in z.namelist() if m.startswith("bfcl_eval/")
                       and not m.startswith("bfcl_eval/data/")])
sys.path.insert(0, tmp)
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker  # noqa: E402
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import is_empty_execute_response  # noqa: E402


def evaluate(entry_id, model, turns, prompt, model_name):
    """`_evaluate_single_multi_turn_entry` with decoding already done."""
    if len(model) != len(turns):
        return {"valid": False, "error": {
            "error_message": [f"Model was force-terminated during inference phase. The length of the model result turns ({len(model)}) does not match the length of the ground truth turns ({len(turns)})."],
            "error_type": "multi_turn:force_terminated"}}
    decoded = [[step for step in turn if not is_empty_execute_response(step)] for turn in model]
    result = multi_turn_checker(decoded, turns, prompt, "multi_turn_base", model_name)
    if not result["valid"]:
        return {"valid": result.pop("valid"), "error": result}
    return {"valid": True}


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def change_argument(call):
    """The call with its first argument changed (str gets a suffix, a
    number +1, a bool negated, anything else replaced by 'zz')."""
    node = ast.parse(call, mode="eval").body
    args = [kw.value for kw in node.keywords] or node.args
    if not args:
        return None
    target = args[0]
    value = ast.literal_eval(target)
    if isinstance(value, bool):
        new = not value
    elif isinstance(value, str):
        new = value + "_x"
    elif isinstance(value, (int, float)):
        new = value + 1
    else:
        new = "zz"
    replacement = ast.Constant(new)
    if node.keywords:
        node.keywords[0].value = replacement
    else:
        node.args[0] = replacement
    return ast.unparse(node)


def perturbations(turns):
    """(label, model answer) pairs; a model answer is turns of steps of calls."""
    one_step = [[list(t)] if t else [] for t in turns]
    out = [("gt_one_step", one_step),
           ("gt_step_per_call", [[[c] for c in t] for t in turns])]
    busy = [i for i, t in enumerate(turns) if t]
    multi = [i for i, t in enumerate(turns) if len(t) >= 2]
    if busy:
        i = busy[-1]
        dropped = [list(t) for t in turns]
        dropped[i] = dropped[i][:-1]
        out.append(("drop_last_call", [[t] if t else [] for t in dropped]))
        first = [list(t) for t in turns]
        changed = change_argument(first[busy[0]][0])
        if changed is not None:
            first[busy[0]][0] = changed
            out.append(("change_argument", [[t] if t else [] for t in first]))
        extra = [list(t) for t in turns]
        extra[busy[0]] = extra[busy[0]] + [extra[busy[0]][0]]
        out.append(("repeat_call", [[t] if t else [] for t in extra]))
        empty = [[list(t)] if t else [] for t in turns]
        empty[busy[0]] = []
        out.append(("empty_turn", empty))
        empty_step = [[list(t)] if t else [] for t in turns]
        empty_step[busy[-1]] = [[]]
        out.append(("empty_step", empty_step))
    if multi:
        i = multi[0]
        rev = [list(t) for t in turns]
        rev[i] = rev[i][::-1]
        out.append(("reverse_turn", [[t] if t else [] for t in rev]))
        swap = [list(t) for t in turns]
        swap[i], swap[i + 1 if i + 1 < len(swap) else i] = swap[i + 1 if i + 1 < len(swap) else i], swap[i]
        out.append(("swap_turns", [[t] if t else [] for t in swap]))
    out.append(("missing_last_turn", one_step[:-1]))
    return out


def main():
    questions = load(os.path.join(DATA, "BFCL_v4_multi_turn_base.json"))
    answers = {a["id"]: a for a in load(os.path.join(DATA, "possible_answer", "BFCL_v4_multi_turn_base.json"))}
    eligible = []
    for q in questions:
        turns = answers[q["id"]]["ground_truth"]
        if set(q["involved_classes"]) <= PORTED and not any(
                c.startswith(("logarithm(", "square_root(")) for t in turns for c in t):
            eligible.append((q, turns))
    cases = []
    n = 0
    for q, turns in eligible[::EVERY]:
        entry = {"id": q["id"], "initial_config": q["initial_config"],
                 "involved_classes": q["involved_classes"], "ground_truth": turns, "cases": []}
        for label, model in perturbations(turns):
            n += 1
            prompt = {"id": q["id"], "initial_config": q["initial_config"],
                      "involved_classes": q["involved_classes"]}
            verdict = evaluate(q["id"], model, turns, prompt, f"fx{n}")
            error = verdict.get("error", {})
            message = error.get("error_message")
            if isinstance(message, list):
                message = message[0]
            entry["cases"].append({"label": label, "model": model, "valid": verdict["valid"],
                                   "error_type": error.get("error_type"), "error_message": message})
        cases.append(entry)
    with open(OUT, "w") as f:
        json.dump(cases, f, ensure_ascii=True)
        f.write("\n")
    verdicts = [c for e in cases for c in e["cases"]]
    print(len(cases), "entries,", len(verdicts), "verdicts,",
          sum(c["valid"] for c in verdicts), "valid;",
          sorted({c["error_type"] for c in verdicts if c["error_type"]}))


if __name__ == "__main__":
    main()
