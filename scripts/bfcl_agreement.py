#!/usr/bin/env python3
"""Entry-by-entry agreement between the official BFCL v4 evaluator
(bfcl-eval==2026.3.23) and the Rust scorer, on the single-turn categories
(Python, and simple_java/simple_javascript with the renderers and
perturbations of scripts/bfcl_java_js_cases.py), for both decoder profiles (Qwen/Qwen3-8B prompting text and
Qwen/Qwen3-8B-FC <tool_call> JSON).

Round 0 replays the ground truth as model output; rounds 1..N give every entry
a systematically perturbed answer (wrong types/values, "5" for 5, missing and
extra params, reordered calls, wrong names, formatting noise, empty output,
Python-expression forms, calls on irrelevance entries...).  Every round is
scored by both tools on the same files and the score files are compared
entry by entry.

Run it through scripts/bfcl-agreement.sh (which creates the venv).  Must run
with the venv's python (it imports bfcl_eval).  BFCL data is Apache-2.0 and is
only ever used for evaluation.
"""

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

PY_CATS = [
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
    "live_irrelevance",
    "live_relevance",
]
JJ_CATS = ["simple_java", "simple_javascript"]
ALL_CATS = PY_CATS + JJ_CATS
PROFILES = {"prompting": "Qwen/Qwen3-8B", "fc": "Qwen/Qwen3-8B-FC"}
CSV_FILES = [
    "data_overall.csv",
    "data_non_live.csv",
    "data_live.csv",
    "data_multi_turn.csv",
    "data_agentic.csv",
    "data_format_sensitivity.csv",
]
KINDS = [
    "alt_last",
    "str_for_num",
    "wrong_value",
    "missing",
    "extra",
    "wrong_name",
    "reorder",
    "type_swap",
    "string_noise",
    "format_noise",
    "empty",
    "pyexpr",
    "count",
    "nested",
    "json_types",
    "keywords",
]


def is_rel(cat):
    return "relevance" in cat


def group(cat):
    return "live" if "live" in cat else "non_live"


def load_jsonl(p):
    with open(p, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


# ----------------------------------------------------------------------------
# Rendering model output


class Raw:
    """Verbatim source: `py` for the prompting profile, `js` (JSON text) for FC."""

    def __init__(self, py, js=None):
        self.py = py
        self.js = js


def py_src(v, dq=False, json_lits=False):
    if isinstance(v, Raw):
        return v.py
    if json_lits and (isinstance(v, bool) or v is None):
        return json.dumps(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False) if dq else repr(v)
    if isinstance(v, (bool, int, float)) or v is None:
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(py_src(x, dq, json_lits) for x in v) + "]"
    if isinstance(v, tuple):
        inner = ", ".join(py_src(x, dq, json_lits) for x in v)
        return "(" + inner + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, dict):
        return (
            "{"
            + ", ".join(
                f"{py_src(k, dq, json_lits)}: {py_src(x, dq, json_lits)}" for k, x in v.items()
            )
            + "}"
        )
    return repr(v)


def render_call_py(name, args, dq=False, json_lits=False, spaced=False, positional=()):
    parts = [p for p in positional]
    eq = " = " if spaced else "="
    for k, v in args:
        parts.append(f"{k}{eq}{py_src(v, dq, json_lits)}")
    sep = " , " if spaced else ", "
    return f"{name}({sep.join(parts)})"


def render_py(calls, **kw):
    return "[" + ", ".join(render_call_py(n, a, **kw) for n, a in calls) + "]"


def js_value(v):
    if isinstance(v, Raw):
        return v.js
    if isinstance(v, tuple):
        v = list(v)
    if isinstance(v, list):
        return "[" + ", ".join(js_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))}: {js_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(v, ensure_ascii=False)


def render_call_fc(name, args, indent=False):
    body = ", ".join(f"{json.dumps(k)}: {js_value(v)}" for k, v in args if js_value(v) is not None)
    text = '{"name": ' + json.dumps(name) + ', "arguments": {' + body + "}}"
    if indent:
        text = json.dumps(json.loads(text), indent=2) if "NaN" not in text else text
    return text


def render_fc(calls, indent=False, sep="\n"):
    return sep.join(
        "<tool_call>\n" + render_call_fc(n, a, indent) + "\n</tool_call>" for n, a in calls
    )


def render(calls, profile):
    return render_py(calls) if profile == "prompting" else render_fc(calls)


# ----------------------------------------------------------------------------
# Ground-truth replay and perturbations


def funcs_of(entry):
    return {f["name"]: f for f in entry["function"]}


def gt_calls(entry, gt, pick_last=False):
    funcs = funcs_of(entry)
    calls = []
    for call in gt:
        ((name, params),) = call.items()
        doc = funcs.get(name)
        props = doc["parameters"].get("properties", {}) if doc else {}
        req = doc["parameters"].get("required", []) if doc else []
        args = []
        for p, alts in params.items():
            if doc and p not in props:
                continue
            vals = [a for a in alts if not (isinstance(a, str) and a == "")]
            if vals:
                v = vals[-1] if pick_last else vals[0]
                ptype = props.get(p, {}).get("type")
                if ptype == "dict" and isinstance(v, dict):
                    v = gt_dict(v, pick_last)
                elif isinstance(v, list) and props.get(p, {}).get("items", {}).get("type") == "dict":
                    v = [gt_dict(x, pick_last) if isinstance(x, dict) else x for x in v]
                args.append([p, v])
            elif p in req:
                args.append([p, ""])
        calls.append([name, args])
    return calls


def gt_dict(d, pick_last=False):
    """A GT dict alternative maps each key to its allowed values."""
    out = {}
    for k, allowed in d.items():
        if not isinstance(allowed, list):
            out[k] = allowed
            continue
        vals = [a for a in allowed if not (isinstance(a, str) and a == "")]
        if vals:
            out[k] = vals[-1] if pick_last else vals[0]
    return out


def schema_value(t):
    return {
        "integer": 3,
        "float": 1.5,
        "string": "abc",
        "boolean": True,
        "array": ["a"],
        "tuple": ["a"],
        "dict": {"k": "v"},
        "any": "x",
    }.get(t, "x")


def pick_arg(calls, rng, pred):
    cands = [(i, j) for i, (_, a) in enumerate(calls) for j, (_, v) in enumerate(a) if pred(v)]
    return rng.choice(cands) if cands else None


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def wrong(v, rng):
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + rng.choice([1, -1, 10])
    if isinstance(v, float):
        return v * 1.5 + 0.1
    if isinstance(v, str):
        return v + rng.choice(["zz", "!", " extra"]) if v else "x"
    if isinstance(v, list):
        return v[:-1] if v else ["zz"]
    if isinstance(v, dict):
        if not v:
            return {"k": 1}
        k = next(iter(v))
        d = dict(v)
        d[k] = wrong(d[k], rng)
        return d
    if v is None:
        return "None"
    return v


def type_swap(v, rng):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return rng.choice([float(v), bool(v % 2)])
    if isinstance(v, float):
        return int(v) if v == int(v) else str(v)
    if isinstance(v, list):
        return tuple(v)
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            return [v]
    if isinstance(v, dict):
        return list(v.items())[:1] and [list(x) for x in list(v.items())[:1]]
    return v


def string_noise(s, rng):
    ops = [
        lambda s: s.upper(),
        lambda s: s.lower(),
        lambda s: s.replace(" ", "-"),
        lambda s: s.replace(" ", "_"),
        lambda s: " ".join(s),
        lambda s: s + ".",
        lambda s: s + ";",
        lambda s: s.replace("'", '"'),
        lambda s: s.replace(",", ""),
        lambda s: s + "?",
        lambda s: "*" + s + "^",
        lambda s: s.title(),
        lambda s: "İ" + s,
        lambda s: s + " ",
    ]
    return rng.choice(ops)(s)


def nested_noise(v, rng):
    if isinstance(v, list) and v:
        ops = [
            lambda v: list(reversed(v)),
            lambda v: [int(x) if isinstance(x, float) and x == int(x) else x for x in v],
            lambda v: [float(x) if is_num(x) else x for x in v],
            lambda v: [str(x) if is_num(x) else x for x in v],
            lambda v: [x.upper() if isinstance(x, str) else x for x in v],
            lambda v: v + v[:1],
            lambda v: [wrong(x, rng) if isinstance(x, dict) else x for x in v],
            lambda v: [dict(list(x.items())[1:]) if isinstance(x, dict) else x for x in v],
            lambda v: [{**x, "extra_key": 1} if isinstance(x, dict) else x for x in v],
            lambda v: [[x] if not isinstance(x, list) else x for x in v],
        ]
        return rng.choice(ops)(v)
    if isinstance(v, dict) and v:
        ops = [
            lambda d: dict(list(d.items())[1:]),
            lambda d: {**d, "extra_key": "x"},
            lambda d: {k.upper(): x for k, x in d.items()},
            lambda d: {k: (x.upper() if isinstance(x, str) else x) for k, x in d.items()},
            lambda d: {k: (str(x) if is_num(x) else x) for k, x in d.items()},
            lambda d: dict(reversed(list(d.items()))),
        ]
        return rng.choice(ops)(v)
    return None


def pyexpr_value(v, rng):
    """A Python-expression rendering of v (with its JSON twin for FC)."""
    if isinstance(v, bool):
        return rng.choice([Raw("not " + repr(not v)), Raw(repr(v)), Raw(f"{int(v)}")])
    if isinstance(v, int):
        opts = [
            Raw(f"{v - 3} + 3", "%d" % v),
            Raw(f"{v * 2} // 2", "%d" % v),
            Raw(f"({v})", "%d" % v),
            Raw(f"{v}.0", "%d.0" % v),
            Raw(f"+{v}", "%d" % v),
            Raw(f"{v}e0", "%de0" % v),
            Raw(f"2023-10-{abs(v) % 28 + 1:02d}", '"2023-10"'),
            Raw(f"{v} * 1.0", "%d" % v),
            Raw(f"True + {v - 1}", "%d" % v),
            Raw(f"{v} ** 1", "%d" % v),
            Raw(f"{v} / 1", "%d" % v),
        ]
        if v >= 0:
            opts += [Raw(hex(v), "%d" % v), Raw(f"{v:_}", "%d" % v), Raw(f"-{-v}" if v else "-0", "%d" % v)]
        else:
            opts += [Raw(f"-{-v}", "%d" % v), Raw(f"- {-v}", "%d" % v), Raw(f"~{-v - 1}", "%d" % v)]
        return rng.choice(opts)
    if isinstance(v, float):
        return rng.choice(
            [
                Raw(f"{v!r} * 1", repr(v)),
                Raw(f"{v * 2!r} / 2", repr(v)),
                Raw(f"{v!r} + 0", repr(v)),
                Raw(f"{v:e}", f"{v:e}"),
                Raw(f"-{-v!r}" if v < 0 else f"+{v!r}", repr(v)),
                Raw(f"{v!r} % 1000", repr(v)),
                Raw(f"{v!r} // 1", repr(v)),
                Raw(f"{v!r} ** 2", repr(v * v)),
            ]
        )
    if isinstance(v, str):
        k = len(v) // 2
        opts = [
            Raw(repr(v[:k]) + " " + repr(v[k:]), json.dumps(v)),
            Raw(repr(v[:k]) + " + " + repr(v[k:]), json.dumps(v)),
            Raw("f" + repr(v), json.dumps(v)),
            Raw("r" + repr(v), json.dumps(v)),
            Raw("u" + repr(v), json.dumps(v)),
            Raw(json.dumps(v), json.dumps(v)),
            Raw('"""' + v.replace("\\", "\\\\").replace('"', '\\"') + '"""', json.dumps(v)),
            Raw(repr(v) + " * 2", json.dumps(v + v)),
            Raw(repr(v) + "[0]", json.dumps(v[:1])),
            Raw(json.dumps(v, ensure_ascii=True), json.dumps(v, ensure_ascii=True)),
        ]
        if v.isidentifier() and v not in ("True", "False", "None"):
            opts.append(Raw(v, json.dumps(v)))
        if v.isascii():
            opts.append(Raw("b" + repr(v), json.dumps(v)))
        return rng.choice(opts)
    if isinstance(v, list):
        src = py_src(v)
        return rng.choice(
            [
                Raw("(" + src[1:-1] + ("," if len(v) == 1 else "") + ")", js_value(v)),
                Raw("[*" + src + "]", js_value(v)),
                Raw("[x for x in " + src + "]", js_value(v)),
                Raw(src + " + []", js_value(v)),
                Raw(src + " * 1", js_value(v)),
                Raw("list(" + src + ")", js_value(v)),
                Raw("{" + src[1:-1] + "}" if v else "set()", js_value(v)),
            ]
        )
    if isinstance(v, dict):
        src = py_src(v)
        return rng.choice(
            [
                Raw("dict(" + ", ".join(f"{k}={py_src(x)}" for k, x in v.items() if str(k).isidentifier()) + ")", js_value(v)),
                Raw("{**" + src + "}", js_value(v)),
                Raw(src.replace(": ", ":"), js_value(v)),
            ]
        )
    return rng.choice(
        [
            Raw("None", "null"),
            Raw("...", '"..."'),
            Raw("lambda: 1", "1"),
            Raw("x.y", '"x.y"'),
            Raw("foo(1, 'a')", '"foo(1, \'a\')"'),
            Raw("foo(k=1)", '{"foo": {"k": 1}}'),
            Raw("arr[1:2, ::3]", '"arr[1:2, ::3]"'),
            Raw("1 if x else 2", "1"),
            Raw("{1, 2}", "[1, 2]"),
            Raw("1j", "1"),
            Raw("0x1F", "31"),
        ]
    )


GENERIC_RAWS = [
    Raw("None", "null"),
    Raw("...", '"..."'),
    Raw("lambda x: x + 1", "1"),
    Raw("obj.attr", '"obj.attr"'),
    Raw("get_value()", '"get_value()"'),
    Raw("datetime.now()", '"datetime.now()"'),
    Raw("datetime(2023, 10, 1)", '"datetime(2023, 10, 1)"'),
    Raw("np.array([1,2,  3])", '"np.array([1, 2, 3])"'),
    Raw("f(x, *args, **kw)", '"f(x, *args, **kw)"'),
    Raw("f((yy for yy in z))", '"f"'),
    Raw("f(a for a in b)", '"f"'),
    Raw("g(k=1, j='x')", '{"g": {"k": 1, "j": "x"}}'),
    Raw("a.b.c(d=[1, 2])", '{"a.b.c": {"d": [1, 2]}}'),
    Raw("x[0]", '"x[0]"'),
    Raw("x['key']", '"x[\'key\']"'),
    Raw("x[1:2]", '"x[1:2]"'),
    Raw("x[1, 2]", '"x[1, 2]"'),
    Raw("x[::2]", '"x[::2]"'),
    Raw("1 < 2", "true"),
    Raw("a and b", '"a"'),
    Raw("{1, 2}", "[1, 2]"),
    Raw("[i for i in range(3)]", "[0, 1, 2]"),
    Raw("(x := 5)", "5"),
    Raw("2j", "2"),
    Raw("1e400", "1e400"),
    Raw("-1e400", "-1e400"),
    Raw("1e400 - 1e400", "NaN"),
    Raw("10 / 4", "2.5"),
    Raw("7 // 2", "3"),
    Raw("-7 % 3", "2"),
    Raw("2 ** -1", "0.5"),
    Raw("2 ** 0.5", "1.4142135623730951"),
    Raw("(-8) ** (1/3)", "null"),
    Raw("1 / 0", "null"),
    Raw("0 ** -1", "null"),
    Raw("'a' * 3", '"aaa"'),
    Raw("[1] * 3", "[1, 1, 1]"),
    Raw("(1, 2) + (3,)", "[1, 2, 3]"),
    Raw("'%s' % 5", '"5"'),
    Raw("1 << 4", "16"),
    Raw("-17 >> 2", "-5"),
    Raw("5 & 3 | 8 ^ 1", "9"),
    Raw("True & False", "false"),
    Raw("~True", "-2"),
    Raw("not 0", "true"),
    Raw("-True", "-1"),
    Raw("- 'x'", '"x"'),
    Raw("-x", '"x"'),
    Raw("-(5)", "-5"),
    Raw("--5", "5"),
    Raw("-(-5)", "5"),
    Raw("+ 5", "5"),
    Raw("b'\\x00\\xff'", '"x"'),
    Raw("'\\N{BULLET}'", '"x"'),
    Raw("'caf\\u00e9\\t\\x41\\101'", '"caf\\u00e9\\tAA"'),
    Raw("r'\\d+\\.'", '"\\\\d+\\\\."'),
    Raw("'it\\'s'", '"it\'s"'),
    Raw('"line1\\nline2"', '"line1\\nline2"'),
    Raw("'''multi\nline'''", '"multi\\nline"'),
    Raw("'\u00a0nbsp\u200b'", '"\u00a0nbsp\u200b"'),
    Raw("'😀 emoji'", '"😀 emoji"'),
    Raw("1_000_000", "1000000"),
    Raw("0o17", "15"),
    Raw("0b101", "5"),
    Raw("00", "0"),
    Raw("1.", "1.0"),
    Raw(".5", "0.5"),
    Raw("1e-7", "1e-7"),
    Raw("123456789012345678901234567890", "123456789012345678901234567890"),
    Raw("12345678901234567890 * 10", "123456789012345678900"),
    Raw("0.1 + 0.2", "0.30000000000000004"),
    Raw("{'a': 1, 'a': 2}", '{"a": 1, "a": 2}'),
    Raw("{1: 'x', True: 'y'}", '{"1": "y"}'),
    Raw("{[1]: 2}", "null"),
    Raw("{**d}", "{}"),
    Raw("{'k': [1, {'n': None}]}", '{"k": [1, {"n": null}]}'),
    Raw("(1,)", "[1]"),
    Raw("()", "[]"),
    Raw("[[1, 2], (3, 4)]", "[[1, 2], [3, 4]]"),
    Raw("f'{x}'", '"x"'),
    Raw("await x", '"x"'),
    Raw("x if y else z", '"z"'),
    Raw("[*a, *b]", "[]"),
    Raw("print", '"print"'),
    Raw("True", "true"),
    Raw("true", '"true"'),
    Raw("null", '"null"'),
]


def perturb(kind, entry, gt, rng, profile):
    calls = gt_calls(entry, gt)
    funcs = funcs_of(entry)
    fmt_kw = {}
    positional = {}
    if kind == "alt_last":
        calls = gt_calls(entry, gt, pick_last=True)
    elif kind == "str_for_num":
        loc = pick_arg(calls, rng, lambda v: is_num(v) or isinstance(v, bool))
        if loc:
            i, j = loc
            calls[i][1][j][1] = str(calls[i][1][j][1])
        else:
            loc = pick_arg(calls, rng, lambda v: isinstance(v, str) and v.strip().lstrip("-").isdigit())
            if loc:
                i, j = loc
                calls[i][1][j][1] = int(calls[i][1][j][1])
    elif kind == "wrong_value":
        loc = pick_arg(calls, rng, lambda v: True)
        if loc:
            i, j = loc
            calls[i][1][j][1] = wrong(calls[i][1][j][1], rng)
    elif kind == "missing":
        loc = pick_arg(calls, rng, lambda v: True)
        if loc:
            i, j = loc
            del calls[i][1][j]
    elif kind == "extra":
        i = rng.randrange(len(calls)) if calls else None
        if i is not None:
            name = calls[i][0]
            doc = funcs.get(name)
            used = {k for k, _ in calls[i][1]}
            opt = [
                (p, d) for p, d in (doc["parameters"]["properties"].items() if doc else []) if p not in used
            ]
            if opt and rng.random() < 0.6:
                p, d = rng.choice(opt)
                calls[i][1].append([p, schema_value(d.get("type"))])
            else:
                calls[i][1].append(["unexpected_param_xyz", 1])
    elif kind == "wrong_name":
        i = rng.randrange(len(calls)) if calls else None
        if i is not None:
            others = [n for n in funcs if n != calls[i][0]]
            if others and rng.random() < 0.5:
                calls[i][0] = rng.choice(others)
            else:
                calls[i][0] = rng.choice([calls[i][0] + "_v2", calls[i][0].replace(".", "_"), calls[i][0].upper()])
    elif kind == "reorder":
        calls = list(reversed(calls))
        for c in calls:
            rng.shuffle(c[1])
        if len(calls) > 2:
            rng.shuffle(calls)
    elif kind == "type_swap":
        loc = pick_arg(calls, rng, lambda v: True)
        if loc:
            i, j = loc
            calls[i][1][j][1] = type_swap(calls[i][1][j][1], rng)
    elif kind == "string_noise":
        loc = pick_arg(calls, rng, lambda v: isinstance(v, str))
        if loc:
            i, j = loc
            calls[i][1][j][1] = string_noise(calls[i][1][j][1], rng)
        else:
            loc = pick_arg(calls, rng, lambda v: isinstance(v, list) and any(isinstance(x, str) for x in v))
            if loc:
                i, j = loc
                calls[i][1][j][1] = [string_noise(x, rng) if isinstance(x, str) else x for x in calls[i][1][j][1]]
    elif kind == "nested":
        loc = pick_arg(calls, rng, lambda v: isinstance(v, (list, dict)) and v)
        if loc:
            i, j = loc
            calls[i][1][j][1] = nested_noise(calls[i][1][j][1], rng)
        else:
            loc = pick_arg(calls, rng, lambda v: True)
            if loc:
                i, j = loc
                calls[i][1][j][1] = rng.choice([[calls[i][1][j][1]], {"v": calls[i][1][j][1]}, None])
    elif kind == "pyexpr":
        loc = pick_arg(calls, rng, lambda v: True)
        if loc:
            i, j = loc
            if rng.random() < 0.5:
                calls[i][1][j][1] = pyexpr_value(calls[i][1][j][1], rng)
            else:
                calls[i][1][j][1] = rng.choice(GENERIC_RAWS)
    elif kind == "count":
        if calls and rng.random() < 0.5:
            calls.append(list(calls[rng.randrange(len(calls))]))
        elif len(calls) > 1:
            del calls[rng.randrange(len(calls))]
        elif len(calls) >= 2 or rng.random() < 0.5:
            # swap values of two same-named calls (greedy matching)
            calls = calls + [[calls[0][0], list(calls[0][1])]] if calls else calls
        else:
            calls = []
    elif kind == "keywords":
        i = rng.randrange(len(calls)) if calls else None
        if i is not None:
            name, args = calls[i]
            choice = rng.randrange(6)
            if choice == 0:
                positional[i] = ["1", "'pos'"]
            elif choice == 1 and args:
                k, v = rng.choice(args)
                args.insert(0, [k, wrong(v, rng)])  # duplicate keyword, last wins
            elif choice == 2 and args:
                k, v = rng.choice(args)
                args.append([k, wrong(v, rng)])
            elif choice == 3:
                args.append(["**", Raw("{'k': 1}", "1")])
            elif choice == 4 and args:
                positional[i] = [py_src(args[0][1])]
                del args[0]
            else:
                calls[i][0] = rng.choice([name + ".sub", "mod." + name, name.split(".")[-1]])
    elif kind == "json_types":
        fmt_kw = {"json_lits": True, "dq": True}

    if kind == "format_noise":
        return format_noise(calls, rng, profile)
    if kind == "empty":
        return rng.choice(
            ["", "[]", "I'm sorry, I cannot help with that.", "None", "[None]", "[{}]", "```\n```", "[ ]", "()"]
            if profile == "prompting"
            else ["", "I cannot help.", "<tool_call>\n</tool_call>", "<tool_call>\n{}\n</tool_call>", "<tool_call>\n\n</tool_call>", "[]"]
        )
    if profile == "prompting":
        parts = []
        for idx, (n, a) in enumerate(calls):
            extra = positional.get(idx, ())
            plain = [x for x in a if x[0] != "**"]
            txt = render_call_py(n, plain, positional=extra, **fmt_kw)
            if any(x[0] == "**" for x in a):
                txt = txt[:-1] + (", " if plain or extra else "") + "**" + next(x[1].py for x in a if x[0] == "**") + ")"
            parts.append(txt)
        return "[" + ", ".join(parts) + "]"
    fc_calls = [[n, [x for x in a if x[0] != "**"]] for n, a in calls]
    return render_fc(fc_calls)


def format_noise(calls, rng, profile):
    if profile == "prompting":
        s = render_py(calls)
        inner = s[1:-1]
        ops = [
            lambda: "```\n" + s + "\n```",
            lambda: "```python\n" + s + "\n```",
            lambda: inner,
            lambda: s + "\n\nLet me know if you need anything else.",
            lambda: "Sure! " + s,
            lambda: "<think>\nok\n</think>\n\n" + s,
            lambda: "[\n    " + ",\n    ".join(render_call_py(n, a) for n, a in calls) + "\n]",
            lambda: s[:-1] + "  # done\n]",
            lambda: s[:-1] + ",]",
            lambda: "'" + s + "'",
            lambda: "\t" + s + "\t",
            lambda: render_py(calls, dq=True),
            lambda: render_py(calls, spaced=True),
            lambda: s.replace(", ", ", \\\n", 1),
            lambda: "\n\n" + s + "\n`",
            lambda: s + "\n[" + inner + "]",
            lambda: "[" + inner + "]; x",
            lambda: s.replace("(", "( ", 1),
            lambda: inner + "  # trailing comment",
            lambda: s + "\r\n",
            lambda: "`" + s + "`",
            lambda: s.replace("[", "(", 1)[:-1] + ")" if calls else "()",
            lambda: "[" + inner + "\n# c\n]",
            lambda: s + "\x0c",
        ]
        return rng.choice(ops)()
    good = render_fc(calls)
    ops = [
        lambda: "Let me call the tool.\n" + good + "\nDone.",
        lambda: render_fc(calls, sep="\n\n"),
        lambda: render_fc(calls, indent=True),
        lambda: good.replace("<tool_call>\n", "<tool_call>", 1),
        lambda: "<tool_call>\n{bad json}\n</tool_call>\n" + good,
        lambda: good + "\n<tool_call>\n[1, 2]\n</tool_call>",
        lambda: good + '\n<tool_call>\n{"name": "x"}\n</tool_call>',
        lambda: good + '\n<tool_call>\n{"name": "x", "arguments": "{}"}\n</tool_call>',
        lambda: good.replace("\n", "\r\n"),
        lambda: "<think>\nhmm\n</think>\n\n" + good,
        lambda: good.replace('"name"', '"function"', 1),
        lambda: good.replace('{"name"', '{"id": 1, "name"', 1),
        lambda: good.replace("\n</tool_call>", " \n</tool_call>"),
        lambda: "<tool_call>\n" + good,
        lambda: good + '\n<tool_call>\n{"name": 5, "arguments": {}}\n</tool_call>',
        lambda: good + '\n<tool_call>\n{"name": ["x"], "arguments": {}}\n</tool_call>',
        lambda: good + '\n<tool_call>\n{"name": "x", "arguments": {"a": NaN, "b": 1e400, "a": -Infinity}}\n</tool_call>',
        lambda: good.replace('"arguments": {', '"arguments": {"n": 123456789012345678901234567890, ', 1),
        lambda: good.replace('"arguments": {', '"arguments": {"u": "\\ud83d\\ude00\\u00e9", ', 1),
        lambda: good + "\n<tool_call>\n" + '{"name": "x", "arguments": {}}' + "\n</tool_call>",
        lambda: good.replace("<tool_call>", "<tool_call>\n<tool_call>", 1),
    ]
    return rng.choice(ops)()


def relevance_output(kind, entry, rng, profile, r):
    funcs = entry["function"]
    f = funcs[rng.randrange(len(funcs))] if funcs else {"name": "f", "parameters": {"properties": {}, "required": []}}
    props = f["parameters"].get("properties", {})
    req = f["parameters"].get("required", [])
    args = [[p, schema_value(props.get(p, {}).get("type"))] for p in req if p in props]
    call = [[f["name"], args]]
    k = (KINDS.index(kind) + r) % 12
    if profile == "prompting":
        outs = [
            lambda: render_py(call),
            lambda: "I'm sorry, none of the functions can answer this.",
            lambda: "[]",
            lambda: "",
            lambda: render_py([[f["name"], []]]),
            lambda: "```\n" + render_py(call) + "\n```",
            lambda: "The answer is 42. " + render_py(call),
            lambda: render_py(call)[1:-1],
            lambda: "[{}]",
            lambda: "None",
            lambda: "[" + f["name"] + "]",
            lambda: render_py(call + call),
        ]
    else:
        outs = [
            lambda: render_fc(call),
            lambda: "I'm sorry, none of the functions can answer this.",
            lambda: "",
            lambda: "<tool_call>\n{bad}\n</tool_call>",
            lambda: render_fc([[f["name"], []]]),
            lambda: "<tool_call>\n[1]\n</tool_call>",
            lambda: "Thinking... " + render_fc(call),
            lambda: '<tool_call>\n{"name": "x"}\n</tool_call>',
            lambda: "<tool_call>\n{}\n</tool_call>",
            lambda: render_fc(call).replace("\n", " "),
            lambda: '<tool_call>\n{"name": null, "arguments": {}}\n</tool_call>',
            lambda: render_fc(call + call),
        ]
    return outs[k]()


def gt_relevance_output(cat, entry, profile):
    if "irrelevance" in cat:
        return "I cannot answer that with the given tools."
    funcs = entry["function"]
    f = funcs[0]
    props = f["parameters"].get("properties", {})
    req = f["parameters"].get("required", [])
    call = [[f["name"], [[p, schema_value(props.get(p, {}).get("type"))] for p in req if p in props]]]
    return render(call, profile)


# ----------------------------------------------------------------------------
# Generating, scoring, comparing


def generate(data_dir, work, rounds, profiles, ids_filter=None):
    """Writes result files for every (profile, round); returns {(profile, round): dir}."""
    rng_master = random.Random(20260323)
    dirs = {}
    cat_data = {}
    for cat in ALL_CATS:
        q = load_jsonl(data_dir / f"BFCL_v4_{cat}.json")
        a = None if is_rel(cat) else load_jsonl(data_dir / "possible_answer" / f"BFCL_v4_{cat}.json")
        cat_data[cat] = (q, a)
    for profile in profiles:
        model_dir = PROFILES[profile].replace("/", "_")
        for r in range(rounds + 1):
            root = work / profile / f"round{r:02d}"
            res = root / "result" / model_dir / "single"
            res.mkdir(parents=True, exist_ok=True)
            for cat in ALL_CATS:
                q, a = cat_data[cat]
                lines = []
                for i, entry in enumerate(q):
                    if ids_filter is not None and entry["id"] not in ids_filter:
                        continue
                    rng = random.Random(f"{profile}/{r}/{entry['id']}/{rng_master.random() if False else 0}")
                    kind = KINDS[(i + r - 1) % len(KINDS)] if r > 0 else None
                    if cat in JJ_CATS:
                        out = java_js_output(cat, entry, a[i]["ground_truth"], profile, r, i)
                    elif is_rel(cat):
                        out = gt_relevance_output(cat, entry, profile) if r == 0 else relevance_output(kind, entry, rng, profile, r)
                    else:
                        gt = a[i]["ground_truth"]
                        out = render(gt_calls(entry, gt), profile) if r == 0 else perturb(kind, entry, gt, rng, profile)
                    lines.append(json.dumps({"id": entry["id"], "result": out}, ensure_ascii=False))
                if lines:
                    (res / f"BFCL_v4_{cat}_result.json").write_text("\n".join(lines) + "\n", encoding="utf-8")
            dirs[(profile, r)] = root
    return dirs


def java_js_output(cat, entry, gt, profile, r, i):
    """Round 0: the GT rendered in the default style; round r: perturbation kind (i + r - 1)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bfcl_java_js_cases as jj

    if r == 0:
        if profile == "fc":
            n, a = jj.fc_args(entry, gt, cat, 0)
            return jj.fc_text([(n, a)])
        n, a = jj.render_args(entry, gt, cat, 0)
        return jj.prompt_text(n, a)
    kind = jj.KINDS[(i + r - 1) % len(jj.KINDS)]
    return jj.perturb(kind, entry, gt, cat, profile, random.Random(f"{profile}/{r}/{entry['id']}"), 0)


def run_official_inprocess(root, model, partial):
    from bfcl_eval.eval_checker import eval_runner

    score = root / "official_score"
    if score.exists():
        shutil.rmtree(score)
    t = time.time()
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        eval_runner.main([model], ALL_CATS, str(root / "result"), str(score), partial_eval=partial)
    return time.time() - t


def run_rust(root, model, rust_bin, data_dir, partial):
    score = root / "rust_score"
    if score.exists():
        shutil.rmtree(score)
    if Path(rust_bin).name == "trainer":
        # The CLI: `trainer bfcl score` (no summary JSON).
        cmd = [str(rust_bin), "bfcl", "score", "--result-dir", str(root / "result"), "--score-dir", str(score),
               "--model", model, "--data", str(data_dir), "--category", ",".join(ALL_CATS)]
    else:
        cmd = [str(rust_bin), "--result-dir", str(root / "result"), "--score-dir", str(score), "--model", model,
               "--data", str(data_dir), "--category", ",".join(ALL_CATS), "--summary-json", str(root / "rust_summary.json")]
    if partial:
        cmd.append("--partial-eval")
    t = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    dt = time.time() - t
    if p.returncode != 0:
        raise SystemExit(f"rust scorer failed: {p.stderr}")
    return dt


def read_score(score_root, model_dir, cat):
    p = score_root / model_dir / group(cat) / f"BFCL_v4_{cat}_score.json"
    if not p.exists():
        return None, {}
    lines = p.read_text(encoding="utf-8").split("\n")
    header = json.loads(lines[0])
    fails = {}
    for line in lines[1:]:
        if line:
            d = json.loads(line)
            fails[d["id"]] = (d, line)
    return header, fails


def compare(root, model, cat, ids):
    model_dir = model.replace("/", "_")
    oh, of = read_score(root / "official_score", model_dir, cat)
    rh, rf = read_score(root / "rust_score", model_dir, cat)
    stats = {"n": 0, "verdict": 0, "etype": 0, "both_fail": 0, "line": 0, "line_n": 0, "fields": 0, "mism": []}
    if oh is None or rh is None:
        stats["missing"] = True
        return stats
    for i in ids:
        stats["n"] += 1
        o, r = of.get(i), rf.get(i)
        if (o is None) == (r is None):
            stats["verdict"] += 1
        else:
            stats["mism"].append((i, "verdict", o[0]["error_type"] if o else "pass", r[0]["error_type"] if r else "pass"))
            continue
        if o is None:
            continue
        stats["both_fail"] += 1
        if o[0]["error_type"] == r[0]["error_type"]:
            stats["etype"] += 1
        else:
            stats["mism"].append((i, "error_type", o[0]["error_type"], r[0]["error_type"]))
        if o[0]["error_type"] != "ast_decoder:decoder_failed" and not (
            o[0]["error_type"] == "relevance_error:decoder_failed" and o[0].get("decoded_result") is None
        ):
            stats["line_n"] += 1
            if o[1] == r[1]:
                stats["line"] += 1
            else:
                od, rd = dict(o[0]), dict(r[0])
                if od == rd:
                    stats["fields"] += 1
                else:
                    diff = [k for k in set(od) | set(rd) if od.get(k) != rd.get(k)]
                    stats["mism"].append((i, "line", diff, ""))
    stats["header_equal"] = oh == rh
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    repo = Path(__file__).resolve().parents[1]
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("TRAINER_CACHE", repo / ".cache" / "assets")) / "bfcl" / "data")
    ap.add_argument("--work", type=Path, default=repo / ".bfcl-work")
    ap.add_argument("--rust-bin", type=Path, default=repo / "target" / "release" / "examples" / "bfcl_score")
    ap.add_argument("--rounds", type=int, default=len(KINDS))
    ap.add_argument("--profiles", default="prompting,fc")
    ap.add_argument("--write-fixtures", type=Path, default=None)
    ap.add_argument("--fixtures-from-work", action="store_true", help="only (re)write --write-fixtures from an earlier run in --work")
    ap.add_argument("--show", type=int, default=8, help="mismatches to print per category")
    args = ap.parse_args()

    os.environ.setdefault("BFCL_PROJECT_ROOT", str(args.work / "bfcl-root"))
    profiles = args.profiles.split(",")
    if args.fixtures_from_work:
        write_fixtures(args.write_fixtures, args.data, discover_dirs(args.work, profiles), profiles)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    dirs = generate(args.data, args.work, args.rounds, profiles)
    ids = {cat: [e["id"] for e in load_jsonl(args.data / f"BFCL_v4_{cat}.json")] for cat in ALL_CATS}

    totals = {}
    csv_total = [0, 0]
    timing = {}
    all_stats = {}
    for (profile, r), root in sorted(dirs.items()):
        model = PROFILES[profile]
        t_off = run_official_inprocess(root, model, partial=False)
        t_rust = run_rust(root, model, args.rust_bin, args.data, partial=False)
        timing[(profile, r)] = (t_off, t_rust)
        csv_same = [
            name
            for name in CSV_FILES
            if (root / "official_score" / name).read_bytes() == (root / "rust_score" / name).read_bytes()
        ]
        csv_total[0] += len(csv_same)
        csv_total[1] += len(CSV_FILES)
        print(
            f"== {profile} round {r} ({'ground truth' if r == 0 else 'perturbed'}): official {t_off:.1f}s, rust {t_rust:.2f}s, "
            f"leaderboard CSVs identical {len(csv_same)}/{len(CSV_FILES)}"
        )
        for cat in ALL_CATS:
            s = compare(root, model, cat, ids[cat])
            all_stats[(profile, r, cat)] = s
            tot = totals.setdefault((profile, r == 0, cat), {"n": 0, "verdict": 0, "etype": 0, "both_fail": 0, "line": 0, "line_n": 0, "fields": 0})
            for k in tot:
                tot[k] += s.get(k, 0)
            acc_o, _ = read_score(root / "official_score", model.replace("/", "_"), cat)
            flag = "" if s["verdict"] == s["n"] and s["etype"] == s["both_fail"] and s.get("header_equal") else "  <-- MISMATCH"
            print(
                f"   {cat:<24} verdicts {s['verdict']}/{s['n']}  error_type {s['etype']}/{s['both_fail']}  "
                f"score-line bytes {s['line']}/{s['line_n']}  official acc {acc_o['accuracy'] if acc_o else None!s:.6}{flag}"
            )
            for m in s["mism"][: args.show]:
                print("      ", m)

    print("\n== Summary (entries; verdict = pass/fail agreement; error_type among entries both failed;")
    print("   bytes = identical score-file line, excluding decode failures whose Python exception text is not reproduced)")
    for gt in (True, False):
        for profile in profiles:
            print(f"-- {profile} {'ground-truth replay' if gt else 'perturbed rounds'}")
            for cat in ALL_CATS:
                t = totals.get((profile, gt, cat))
                if not t:
                    continue
                print(
                    f"   {cat:<24} verdicts {t['verdict']}/{t['n']} ({100 * t['verdict'] / max(t['n'], 1):.2f}%)  "
                    f"error_type {t['etype']}/{t['both_fail']}  bytes {t['line']}/{t['line_n']} (+{t['fields']} equal as JSON)"
                )
    print(f"leaderboard CSV files byte-identical: {csv_total[0]}/{csv_total[1]}")
    gt_off = sum(timing[(p, 0)][0] for p in profiles)
    gt_rust = sum(timing[(p, 0)][1] for p in profiles)
    print(f"\nGT replay scoring time (13 single-turn categories, {len(profiles)} profiles): official in-process {gt_off:.2f}s, rust {gt_rust:.2f}s, ratio {gt_off / gt_rust:.1f}x")

    if args.write_fixtures:
        write_fixtures(args.write_fixtures, args.data, dirs, profiles)
        subprocess.run([sys.executable, str(Path(__file__).with_name("bfcl_decode_cases.py")), str(args.write_fixtures)], check=True)


def fnv1a64(text):
    """FNV-1a 64-bit hash of the UTF-8 bytes (mirrored in tests/bfcl_agreement.rs)."""
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def canon(v):
    return json.dumps(v, ensure_ascii=False)


def write_fixtures(out, data_dir, dirs, profiles, per_cat=3):
    """A small committed subset: data entries, every round's result for them, and
    the official verdicts (from the official score files of the full runs):
    validity, error_type, and FNV-1a hashes of the official `error` list and
    decoded output (to keep the fixture small)."""
    rng = random.Random(7)
    out.mkdir(parents=True, exist_ok=True)
    (out / "data" / "possible_answer").mkdir(parents=True, exist_ok=True)
    chosen = {}
    for cat in PY_CATS:
        q = load_jsonl(data_dir / f"BFCL_v4_{cat}.json")
        a = None if is_rel(cat) else load_jsonl(data_dir / "possible_answer" / f"BFCL_v4_{cat}.json")
        sized = sorted(range(len(q)), key=lambda i: len(json.dumps(q[i])))
        small = sized[: max(len(sized) // 3, per_cat)]
        pick = sorted(rng.sample(small, min(per_cat, len(small))))
        chosen[cat] = [q[i]["id"] for i in pick]
        with open(out / "data" / f"BFCL_v4_{cat}.json", "w", encoding="utf-8") as f:
            for i in pick:
                f.write(json.dumps(q[i], ensure_ascii=False) + "\n")
        if a is not None:
            with open(out / "data" / "possible_answer" / f"BFCL_v4_{cat}.json", "w", encoding="utf-8") as f:
                for i in pick:
                    f.write(json.dumps(a[i], ensure_ascii=False) + "\n")
    with open(out / "cases.jsonl", "w", encoding="utf-8") as f:
        for (profile, r), root in sorted(dirs.items()):
            model = PROFILES[profile]
            model_dir = model.replace("/", "_")
            for cat in PY_CATS:
                res = {}
                p = root / "result" / model_dir / "single" / f"BFCL_v4_{cat}_result.json"
                for line in p.read_text(encoding="utf-8").splitlines():
                    d = json.loads(line)
                    res[d["id"]] = d["result"]
                _, fails = read_score(root / "official_score", model_dir, cat)
                for i in chosen[cat]:
                    o = fails.get(i)
                    case = {"model": model, "round": r, "id": i, "result": res[i], "valid": o is None}
                    if o is not None:
                        d = o[0]
                        case["error_type"] = d["error_type"]
                        case["error_fnv"] = fnv1a64(canon(d["error"]))
                        for k in ("model_result_decoded", "decoded_result"):
                            if k in d:
                                case["decoded_fnv"] = fnv1a64(canon(d[k]))
                    f.write(json.dumps(case, ensure_ascii=False) + "\n")
    print(f"fixtures written to {out}")


def discover_dirs(work, profiles):
    dirs = {}
    for profile in profiles:
        for root in sorted((work / profile).glob("round*")):
            dirs[(profile, int(root.name[5:]))] = root
    return dirs


if __name__ == "__main__":
    main()
