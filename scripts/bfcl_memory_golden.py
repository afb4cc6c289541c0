#!/usr/bin/env python3
"""Oracles for BFCL's memory categories (bfcl-eval==2026.3.23), written to
tests/fixtures/bfcl_memory/ and consumed by tests/bfcl_memory.rs:

* backends.json: call sequences run through the official harness function
  `execute_multi_turn_func_call` on the original `MemoryAPI_kv` (rank_bm25 0.2.2 BM25Plus key
  search) and `MemoryAPI_rec_sum` classes, each case on a fresh instance: every result string
  and the memory after the case.
* checker.json: `agentic_checker` verdicts and `standardize_string` outputs.
* score_golden.jsonl: result files for the five agentic categories (every tenth entry, each with
  one of eight answer shapes: right, wrong, calls only, an inference error, an empty final
  message, two turns, a reformatted right answer, a right answer before a final call) scored by
  the official `eval_runner` with --partial-eval: the score files and data_agentic.csv.
* prompt_golden.jsonl: the official `BaseHandler.inference_multi_turn_prompting` for QwenHandler
  (Qwen/Qwen3-8B) and QwenFCHandler (Qwen/Qwen3-8B-FC) on the whole `notetaker` chain of each
  ported backend (its five prerequisite conversations in order, each starting from the memory
  snapshot the previous one flushed, then three questions), with `_query_prompting` replaced by
  a scripted "model" that stores, searches and retrieves memory. Every prompt the handler
  formats is recorded as its length and FNV-1a 64 hash, with each entry's `result` and the
  memory snapshot after each prerequisite conversation.

Usage (the venv scripts/bfcl-agreement.sh creates, with bfcl-eval, rank_bm25 and numpy):
    .bfcl-venv/bin/python scripts/bfcl_memory_golden.py
"""

import copy
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("BFCL_PROJECT_ROOT", tempfile.mkdtemp(prefix="bfcl-root-"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bfcl_multi_turn_infer_golden import scripted_query, step_text  # noqa: E402
from bfcl_eval.eval_checker.agentic_eval.agentic_checker import (  # noqa: E402
    agentic_checker,
    standardize_string,
)
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import (  # noqa: E402
    execute_multi_turn_func_call,
)
import bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils as multi_turn_utils  # noqa: E402
from bfcl_eval.model_handler.local_inference.qwen import QwenHandler  # noqa: E402
from bfcl_eval.model_handler.local_inference.qwen_fc import QwenFCHandler  # noqa: E402
from bfcl_eval.utils import (  # noqa: E402
    load_dataset_entry,
    populate_initial_settings_for_memory_test_cases,
)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "bfcl_memory"
SCENARIO = "notetaker"

LONG = "x" * 301
KV_CASES = [
    ["core_memory_add(key='user_name', value='Michael')",
     "core_memory_add(key='user_name', value='Mike')",
     "core_memory_add(key='User Name', value='x')",
     "core_memory_add(key='age', value=35)",
     "core_memory_add(key='city', value='Zürich — “quoted”')",
     "core_memory_add(key='bio', value='" + LONG + "')",
     "core_memory_retrieve(key='age')",
     "core_memory_retrieve(key=5)",
     "core_memory_retrieve(key=['a'])",
     "core_memory_list_keys()",
     "core_memory_retrieve_all()",
     "core_memory_replace(key='age', value=36.5)",
     "core_memory_replace(key='missing', value='v')",
     "core_memory_remove(key='user_name')",
     "core_memory_remove(key='user_name')",
     "core_memory_add(key='user_name', value='Michael again')",
     "core_memory_list_keys()"],
    ["core_memory_key_search(query='anything')",
     "archival_memory_key_search(query=3)",
     "core_memory_add(key='favorite_coffee_order', value='oat latte')",
     "core_memory_add(key='coffee_machine_model', value='X1')",
     "core_memory_add(key='delivery_address', value='Seattle')",
     "core_memory_add(key='coffee', value='yes')",
     "core_memory_key_search(query='coffee')",
     "core_memory_key_search(query='Coffee machine', k=2)",
     "core_memory_key_search(query='coffee', k=-1)",
     "core_memory_key_search(query='coffee', k='2')",
     "core_memory_key_search(query='nothing matches')",
     "core_memory_key_search(query='  ')",
     "core_memory_add(key='a1', value='1')",
     "core_memory_add(key='b2', value='2')",
     "core_memory_add(key='c3', value='3')",
     "core_memory_add(key='d4', value='4')",
     "core_memory_clear()",
     "core_memory_retrieve_all()"],
    ["archival_memory_add(key='trip_plan', value='Paris in May')",
     "archival_memory_add(key='trip_plan_2', value='" + "y" * 2001 + "')",
     "archival_memory_add(key='trip_budget', value='2000 EUR')",
     "archival_memory_add(key='trip\\n', value='newline key')",
     "archival_memory_list_keys()",
     "archival_memory_key_search(query='trip budget plan', k=5)",
     "archival_memory_retrieve(key='trip_budget')",
     "archival_memory_replace(key='trip_plan', value='Rome')",
     "archival_memory_remove(key='trip_plan')",
     "archival_memory_clear()",
     "archival_memory_list_keys()",
     "core_memory_retrieve_all(extra=1)",
     "core_memory_add(key='only')",
     "memory_append(text='wrong backend')"],
]
REC_SUM_CASES = [
    ["memory_retrieve()",
     "memory_append(text='Name: Michael. ')",
     "memory_append(text=35)",
     "memory_retrieve()",
     "memory_replace(old_text='Michael', new_text='Mike')",
     "memory_replace(old_text='absent', new_text='x')",
     "memory_replace(old_text='', new_text='|')",
     "memory_retrieve()",
     "memory_update(text='Fresh start — “ü”')",
     "memory_retrieve()",
     "memory_clear()",
     "memory_retrieve()"],
    ["memory_update(text='" + "z" * 10001 + "')",
     "memory_update(text='" + "z" * 9990 + "')",
     "memory_append(text='0123456789')",
     "memory_append(text='0')",
     "memory_replace(old_text='zz', new_text='" + "w" * 10001 + "')",
     "memory_retrieve(1)"],
]


def run_backend_cases(class_name, cases, tmp):
    out = []
    for i, calls in enumerate(cases):
        for name in [k for k in vars(multi_turn_utils) if k.endswith("_instance")]:
            delattr(multi_turn_utils, name)
        test_id = f"{class_name.lower()}_prereq_{i}-customer-0"
        config = {class_name: {"model_result_dir": Path(tmp), "scenario": "customer",
                               "test_id": test_id, "test_category": "x"}}
        results, instances = execute_multi_turn_func_call(
            calls, config, [class_name], "golden", test_id)
        inst = instances[class_name]
        if class_name == "MemoryAPI_rec_sum":
            state = {"memory": inst.memory}
        else:
            state = {"core_memory": inst.core_memory, "archival_memory": inst.archival_memory}
        out.append({"class": class_name, "calls": calls, "results": results,
                    "state": json.dumps(state, ensure_ascii=False),
                    "context": inst._dump_core_memory_to_context()})
    return out


CHECKER_CASES = [
    ("{'answer': 'Michael', 'context': 'from memory'}", ["Michael"]),
    ("{'answer': 'Michaels'}", ["Michael"]),
    ("I am 35 years old", ["35", "thirty five"]),
    ("I am 135 years old", ["35"]),
    ("Thirty-five", ["35", "thirty five"]),
    ("April 1,2024", ["April 1, 2024"]),
    ("It's at 07:30 AM (Monday).", ["7:30 AM", "07:30 AM"]),
    ("costs $5", ["$5"]),
    ("costs5$5", ["$5"]),
    ("O'Brien", ["o'brien"]),
    ("ÉCOLE normale", ["école"]),
    ("x_y", ["xy"]),
    ("", ["anything"]),
    ("answer: strawberry matcha latte", ["strawberry matcha"]),
    ("का", ["क"]),
    ("Ⓐ grade", ["grade"]),
    ("x²", ["x"]),
]


def checker_cases():
    out = []
    for response, answers in CHECKER_CASES:
        verdict = agentic_checker(response, answers)
        out.append({"response": response, "answers": answers, "valid": verdict["valid"],
                    "standardized": standardize_string(response)})
    return out


def kv_script(entry, prereq_index):
    """Per turn: the calls of step 0 (the scripted model then says "Done.")."""
    turns = []
    for t, turn in enumerate(entry["question"]):
        user = next((m["content"] for m in turn if m["role"] == "user"), "")
        calls = [f"core_memory_add(key='note_{prereq_index}_{t}', value={user[:60]!r})"]
        if t % 2 == 1:
            calls.append(f"archival_memory_add(key='log_{prereq_index}_{t}', value={user[:120]!r})")
        if t == 1:
            calls.append(f"core_memory_key_search(query='note {prereq_index}')")
        if prereq_index == 2 and t == 0:
            calls += ["core_memory_remove(key='note_0_0')",
                      "core_memory_replace(key='note_0_1', value='replaced — ü')"]
        turns.append(calls)
    return turns


def rec_sum_script(entry, prereq_index):
    turns = []
    for t, turn in enumerate(entry["question"]):
        user = next((m["content"] for m in turn if m["role"] == "user"), "")
        calls = [f"memory_append(text={('p%dt%d: %s ' % (prereq_index, t, user[:50]))!r})"]
        if t == 1:
            calls.append("memory_retrieve()")
        if prereq_index == 3 and t == 0:
            calls.append("memory_replace(old_text='p0t0', new_text='P0T0')")
        turns.append(calls)
    return turns


def question_script(backend, entry):
    question = entry["question"][0][-1]["content"]
    if backend == "kv":
        calls = ["core_memory_retrieve_all()",
                 f"archival_memory_key_search(query={question!r}, k=2)"]
    else:
        calls = ["memory_retrieve()"]
    return [calls]


def run(handler, profile, entry, turn_calls, final_text):
    for name in [k for k in vars(multi_turn_utils) if k.endswith("_instance")]:
        delattr(multi_turn_utils, name)
    script = [[step_text(profile, calls)] + ([final_text] if final_text else [])
              for calls in turn_calls]
    prompts = []
    handler._query_prompting = scripted_query(handler, script, prompts)
    result, _ = handler.inference_multi_turn_prompting(copy.deepcopy(entry), False, True)
    return script, prompts, result


def prompt_golden():
    handlers = {
        "fc": QwenFCHandler("Qwen/Qwen3-8B", 0.001, "Qwen/Qwen3-8B-FC", True),
        "prompting": QwenHandler("Qwen/Qwen3-8B", 0.001, "Qwen/Qwen3-8B", False),
    }
    lines = []
    for backend in ["kv", "rec_sum"]:
        category = f"memory_{backend}"
        for profile, handler in handlers.items():
            result_dir = Path(tempfile.mkdtemp(prefix="bfcl-memory-"))
            entries = populate_initial_settings_for_memory_test_cases(
                load_dataset_entry(category), result_dir)
            chain = [e for e in entries if "prereq" in e["id"] and e["scenario"] == SCENARIO]
            questions = [e for e in entries
                         if "prereq" not in e["id"] and e["scenario"] == SCENARIO][:3]
            snapshot_dir = result_dir / "agentic" / "memory" / backend / "memory_snapshot"
            for k, entry in enumerate(chain):
                script_fn = kv_script if backend == "kv" else rec_sum_script
                script, prompts, result = run(handler, profile, entry, script_fn(entry, k), None)
                snapshot = json.loads((snapshot_dir / f"{SCENARIO}_final.json").read_text())
                lines.append({"id": entry["id"], "profile": profile, "script": script,
                              "prompts": prompts, "result": result,
                              "snapshot": json.dumps(snapshot, ensure_ascii=False)})
            for entry in questions:
                final = "{'answer': 'I do not know', 'context': 'I do not know'}"
                script, prompts, result = run(
                    handler, profile, entry, question_script(backend, entry), final)
                lines.append({"id": entry["id"], "profile": profile, "script": script,
                              "prompts": prompts, "result": result})
    return lines


AGENTIC = ["memory_kv", "memory_rec_sum", "memory_vector", "web_search_base", "web_search_no_snippet"]


def call_text(profile):
    if profile == "prompting":
        return "[core_memory_retrieve_all()]"
    return '<tool_call>\n{"name": "core_memory_retrieve_all", "arguments": {}}\n</tool_call>'


def answer_shape(i, profile, truth):
    call = call_text(profile)
    right = "{'answer': '%s', 'context': 'from memory'}" % truth
    kind = i % 8
    if kind == 0:
        return [[call, right]]
    if kind == 1:
        return [[call, "{'answer': 'something else entirely', 'context': 'guess'}"]]
    if kind == 2:
        return [[call, call]]
    if kind == 3:
        return "Error during inference: the prompt does not fit"
    if kind == 4:
        return [[right, ""]]
    if kind == 5:
        return [[call], [right]]
    if kind == 6:
        return [["The answer is: " + truth.upper().replace(" ", "-") + "."]]
    return [[right, call]]


def score_golden():
    from bfcl_eval.eval_checker import eval_runner
    from bfcl_eval.utils import load_ground_truth_entry
    import contextlib
    import io

    lines = []
    for profile, model in {"prompting": "Qwen/Qwen3-8B", "fc": "Qwen/Qwen3-8B-FC"}.items():
        root = Path(tempfile.mkdtemp(prefix="bfcl-agentic-score-"))
        model_dir = model.replace("/", "_")
        results = {}
        for cat in AGENTIC:
            prompts = load_dataset_entry(cat, include_prereq=False)
            truths = load_ground_truth_entry(cat)
            rows = []
            for i in range(0, len(prompts), 10):
                truth = truths[i]["ground_truth"][0]
                rows.append({"id": prompts[i]["id"], "result": answer_shape(i // 10, profile, truth)})
            sub = "agentic/memory/" + cat[len("memory_"):] if cat.startswith("memory") else "agentic"
            d = root / "result" / model_dir / sub
            d.mkdir(parents=True, exist_ok=True)
            (d / f"BFCL_v4_{cat}_result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
            results[cat] = rows
        with contextlib.redirect_stdout(io.StringIO()):
            eval_runner.main([model], AGENTIC, str(root / "result"), str(root / "score"), partial_eval=True)
        for cat in AGENTIC:
            sub = "agentic/memory/" + cat[len("memory_"):] if cat.startswith("memory") else "agentic"
            score = (root / "score" / model_dir / sub / f"BFCL_v4_{cat}_score.json").read_text()
            lines.append({"profile": profile, "category": cat, "results": results[cat], "score": score})
        lines.append({"profile": profile, "category": "data_agentic.csv",
                      "score": (root / "score" / "data_agentic.csv").read_text()})
    return lines


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="bfcl-memory-backends-")
    backends = run_backend_cases("MemoryAPI_kv", KV_CASES, tmp) + run_backend_cases(
        "MemoryAPI_rec_sum", REC_SUM_CASES, tmp)
    (OUT / "backends.json").write_text(json.dumps(backends, ensure_ascii=True, indent=1) + "\n")
    (OUT / "checker.json").write_text(json.dumps(checker_cases(), ensure_ascii=True, indent=1) + "\n")
    scores = score_golden()
    (OUT / "score_golden.jsonl").write_text("".join(json.dumps(l) + "\n" for l in scores))
    lines = prompt_golden()
    (OUT / "prompt_golden.jsonl").write_text("".join(json.dumps(l) + "\n" for l in lines))
    print(f"wrote {len(backends)} backend cases, {len(CHECKER_CASES)} checker cases, "
          f"{len(lines)} conversations with {sum(len(l['prompts']) for l in lines)} prompts to {OUT}")


if __name__ == "__main__":
    sys.exit(main())
