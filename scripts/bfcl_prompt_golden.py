#!/usr/bin/env python3
"""Prompt oracle for `trainer eval`: runs the official prompt construction of
bfcl-eval==2026.3.23 for Qwen/Qwen3-8B-FC (QwenFCHandler) and Qwen/Qwen3-8B
(QwenHandler) on the committed BFCL fixture entries plus one synthetic entry
(system message, non-ASCII text, a float default), exactly as
`inference_single_turn_prompting` does:

    load_dataset_entry -> add_language_specific_hint_to_function_doc
    handler._pre_query_processing_prompting -> add_first_turn_message_prompting
    handler._format_prompt(messages, function)

Writes one JSON line per entry to OUT (consumed by tests/eval_prompt.rs):
{"id", "category", "entry" (synthetic only), "fc_tools" (json.dumps of each
tool, as inside <tools>), "fc_prompt", "prompting_system", "prompting_prompt"}.

Usage (the venv scripts/bfcl-agreement.sh creates):
  BFCL_PROJECT_ROOT=$(mktemp -d) .bfcl-venv/bin/python scripts/bfcl_prompt_golden.py \
      tests/fixtures/bfcl/data tests/fixtures/bfcl/prompt_golden.jsonl
"""

import copy
import json
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("BFCL_PROJECT_ROOT", tempfile.mkdtemp(prefix="bfcl-root-"))

from bfcl_eval.model_handler.local_inference.qwen import QwenHandler  # noqa: E402
from bfcl_eval.model_handler.local_inference.qwen_fc import QwenFCHandler  # noqa: E402
from bfcl_eval.utils import add_language_specific_hint_to_function_doc  # noqa: E402

SYNTHETIC = {
    "id": "simple_python_synthetic_0",
    "question": [
        [
            {"role": "system", "content": "Réponds en français."},
            {"role": "user", "content": "Quelle est la météo à Zürich ?"},
        ]
    ],
    "function": [
        {
            "name": "weather.get",
            "description": "Météo actuelle d'une ville.",
            "parameters": {
                "type": "dict",
                "properties": {
                    "city": {"type": "string", "description": "Ville, e.g. 'Zürich'"},
                    "ratio": {"type": "float", "description": "A ratio", "default": 1.0},
                    "days": {"type": "array", "items": {"type": "integer"}, "description": "Days"},
                },
                "required": ["city"],
            },
        }
    ],
}


def run(handler, entry):
    e = copy.deepcopy(entry)
    data = handler._pre_query_processing_prompting(e)
    data = handler.add_first_turn_message_prompting(data, e["question"][0])
    return data, handler._format_prompt(data["message"], data["function"])


def main():
    data_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    fc = QwenFCHandler("Qwen/Qwen3-8B", 0.001, "Qwen/Qwen3-8B-FC", True)
    pr = QwenHandler("Qwen/Qwen3-8B", 0.001, "Qwen/Qwen3-8B", False)
    entries = []
    for path in sorted(data_dir.glob("BFCL_v4_*.json")):
        category = path.name[len("BFCL_v4_") : -len(".json")]
        for line in path.read_text().splitlines():
            entries.append((category, json.loads(line), False))
    entries.append(("simple_python", SYNTHETIC, True))

    lines = []
    for category, raw, synthetic in entries:
        entry = add_language_specific_hint_to_function_doc([copy.deepcopy(raw)])[0]
        fc_data, fc_prompt = run(fc, entry)
        pr_data, pr_prompt = run(pr, entry)
        row = {
            "id": raw["id"],
            "category": category,
            "fc_tools": [json.dumps(t) for t in fc_data["function"]],
            "fc_prompt": fc_prompt,
            "prompting_system": pr_data["message"][0]["content"],
            "prompting_prompt": pr_prompt,
        }
        if synthetic:
            row["entry"] = json.dumps(raw)
        lines.append(json.dumps(row))
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(lines)} golden prompts to {out}")


if __name__ == "__main__":
    main()
