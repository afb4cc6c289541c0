#!/usr/bin/env python3
"""Official-checker oracle for simple_java and simple_javascript
(bfcl-eval==2026.3.23, tree_sitter==0.21.3, tree-sitter-java==0.21.0,
tree-sitter-javascript==0.21.4).

For both decoder profiles (Qwen/Qwen3-8B prompting text, Qwen/Qwen3-8B-FC
<tool_call> JSON) it renders, for every entry, a ground-truth answer (the
first of a few rendering styles that the official checker accepts) and a set
of systematic perturbations (wrong values, wrong literal forms such as a
missing `L`/`f` suffix or quotes, missing/extra params, wrong name, Java/JS
collection syntax variants, non-string FC values, formatting noise and
unparsable syntax).  Every answer is judged in-process by the official
`_evaluate_single_ast_entry`; the verdicts are written next to the answers.
It also records the official `decode_ast` result of tricky Java/JS texts.

Usage (run with the venv python, see scripts/bfcl-agreement.sh):
  bfcl_java_js_cases.py [--data DIR] [--out tests/fixtures/bfcl_java_js]
                        [--full PATH] [--per-entry N]

Writes OUT/data (the two categories' data and possible answers),
OUT/cases.jsonl (GT replays + N perturbations per entry and profile),
OUT/decode_cases.jsonl and OUT/prompt_docs.jsonl (the official
language-specific rewrite of every entry's function docs, `json.dumps`ed); --full writes every perturbation of every entry to
PATH (not committed; TRAINER_BFCL_JAVA_JS_CASES=PATH makes
tests/bfcl_java_js.rs check it).  BFCL data is Apache-2.0 and only used for
evaluation.
"""

import argparse
import json
import os
import random
import re
import sys
import tempfile
from pathlib import Path

CATS = ["simple_java", "simple_javascript"]
PROFILES = {"prompting": "Qwen/Qwen3-8B", "fc": "Qwen/Qwen3-8B-FC"}
JAVA_ELEM = {"String": "String", "integer": "int", "long": "long", "char": "char", "any": "Object",
             "double": "double", "float": "float", "boolean": "boolean"}
IDENT = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$")
KINDS = [
    "wrong_value", "literal_form", "missing", "extra", "wrong_name", "semicolon", "spacing",
    "two_calls", "prose", "unbalanced", "positional", "duplicate", "collection_alt", "fc_types",
    "quote_swap", "empty", "no_brackets", "fence", "gt_alt_style", "drop_optional",
]


def load_jsonl(p):
    with open(p, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def jq(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'


def first_alt(alts):
    for a in alts:
        if a != "":
            return a, True
    return None, False


# ---------------------------------------------------------------- rendering
def java_scalar(t, v, style):
    if isinstance(v, bool):
        return "true" if v else "false"
    if t == "long":
        return f"{v}L"
    if t == "float":
        return f"{float(v)}f"
    if t == "double":
        return str(float(v))
    if t in ("integer", "byte", "short"):
        return str(v)
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        if t == "String":
            return jq(v) if style != 2 else v
        if IDENT.match(v) or v.startswith("new ") or "(" in v:
            return v if style != 1 else jq(v)
        return jq(v)
    return jq(json.dumps(v))


def java_value(t, it, v, style):
    if t == "Array" and isinstance(v, list):
        et = JAVA_ELEM.get(it, "Object")
        q = style == 1
        elems = [jq(x) if (q and isinstance(x, str)) else java_scalar(it, x, 2) for x in v]
        return f"new {et}[]{{{', '.join(elems)}}}"
    if t == "ArrayList" and isinstance(v, list):
        elems = [java_scalar(it, x, 0) if not isinstance(x, str) else jq(x) for x in v]
        if style == 1:
            return "new ArrayList<>() {{ " + " ".join(f"add({e});" for e in elems) + " }}"
        return f"new ArrayList<>(Arrays.asList({', '.join(elems)}))"
    if t == "HashMap" and isinstance(v, dict):
        puts = []
        for k, alts in v.items():
            x = alts[0] if isinstance(alts, list) and alts else alts
            puts.append(f"put({jq(k)}, {jq(x) if isinstance(x, str) else java_scalar('any', x, 0)});")
        return "new HashMap<String, String>() {{ " + " ".join(puts) + " }}"
    return java_scalar(t, v, style)


def js_scalar(t, v, style):
    if isinstance(v, bool):
        return "true" if v else "false"
    if t == "Bigint":
        return f"{v}n"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, str):
        if t == "String":
            return jq(v) if style != 1 else "'" + v.replace("'", "\\'") + "'"
        if IDENT.match(v) or "(" in v:
            return v if style != 1 else jq(v)
        return jq(v)
    if isinstance(v, list):
        return "[" + ", ".join(js_scalar("any", x, style) if not isinstance(x, str) else jq(x) for x in v) + "]"
    if isinstance(v, dict):
        parts = []
        for k, alts in v.items():
            x = alts[0] if isinstance(alts, list) and alts else alts
            parts.append(f"{k}: {jq(x) if isinstance(x, str) else js_scalar('any', x, style)}")
        return "{" + ", ".join(parts) + "}"
    return jq(v)


def js_value(t, it, v, style):
    if t == "array" and isinstance(v, list):
        return "[" + ", ".join(jq(x) if isinstance(x, str) else js_scalar(it, x, style) for x in v) + "]"
    return js_scalar(t, v, style)


def render_args(entry, gt, cat, style):
    func = entry["function"][0]
    props = func["parameters"]["properties"]
    name, params = next(iter(gt[0].items()))
    args = {}
    for p, alts in params.items():
        v, present = first_alt(alts)
        if not present:
            continue
        d = props.get(p, {"type": "any"})
        t, it = d.get("type"), d.get("items", {}).get("type")
        args[p] = java_value(t, it, v, style) if cat == "simple_java" else js_value(t, it, v, style)
    return name, args


def fc_args(entry, gt, cat, style):
    """FC: the JSON argument values are the source texts (strings)."""
    name, args = render_args(entry, gt, cat, style)
    out = {}
    props = entry["function"][0]["parameters"]["properties"]
    for p, text in args.items():
        t = props.get(p, {}).get("type")
        if style != 1 and len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'" and t != "String":
            text = text[1:-1]
        if style != 1 and t == "String" and cat == "simple_java" and text.startswith('"'):
            text = text[1:-1]
        out[p] = text
    return name, out


def prompt_text(name, args, sep=", ", eq="="):
    return "[" + name + "(" + sep.join(f"{k}{eq}{v}" for k, v in args.items()) + ")]"


def fc_text(calls):
    return "\n".join(
        "<tool_call>\n" + json.dumps({"name": n, "arguments": a}, ensure_ascii=False) + "\n</tool_call>" for n, a in calls
    )


# ---------------------------------------------------------------- perturbing
def wrong_text(v, rng):
    if re.fullmatch(r"-?\d+[lLfFn]?", v):
        suf = v[-1] if v[-1] in "lLfFn" else ""
        num = v[:-1] if suf else v
        return str(int(num) + rng.randint(1, 9)) + suf
    if re.fullmatch(r"-?\d+\.\d+[fF]?", v):
        return v.replace(".", "1.", 1)
    if v in ("true", "false"):
        return "false" if v == "true" else "true"
    if v.startswith('"') and v.endswith('"'):
        return v[:-1] + 'Z"'
    if v.startswith("new ") or v.startswith("[") or v.startswith("{"):
        return re.sub(r"\d+", lambda m: str(int(m.group()) + 1), v, count=1) if re.search(r"\d", v) else v.replace("(", "(x, ", 1) if "(" in v else v + "0"
    return v + "X"


def literal_form(v, rng):
    for pat, rep in ((r"^(-?\d+)[lL]$", r"\1"), (r"^(-?\d+(\.\d+)?)[fF]$", r"\1"), (r"^(-?\d+)n$", r"\1")):
        if re.match(pat, v):
            return re.sub(pat, rep, v)
    if re.fullmatch(r"-?\d+", v):
        return rng.choice([v + ".0", v + "L", jq(v), v + "f"])
    if re.fullmatch(r"-?\d+\.\d+", v):
        return rng.choice([v + "f", v.split(".")[0], jq(v), v + "d"])
    if v in ("true", "false"):
        return rng.choice([jq(v), v.capitalize(), "1"])
    if v.startswith('"') and v.endswith('"'):
        inner = v[1:-1]
        return rng.choice([inner if IDENT.match(inner) else "'" + inner + "'", "'" + inner + "'"])
    if IDENT.match(v):
        return jq(v)
    return jq(v.replace('"', "'"))


def perturb(kind, entry, gt, cat, profile, rng, base_style):
    func = entry["function"][0]
    req = func["parameters"].get("required", [])
    fcm = profile == "fc"
    name, args = (fc_args if fcm else render_args)(entry, gt, cat, base_style)
    args = dict(args)
    keys = list(args)
    pick = rng.choice(keys) if keys else None

    def out(n=name, a=None, raw=None):
        if raw is not None:
            return raw
        a = args if a is None else a
        return fc_text([(n, a)]) if fcm else prompt_text(n, a)

    if kind == "wrong_value" and pick:
        args[pick] = wrong_text(args[pick], rng)
        return out()
    if kind == "literal_form" and pick:
        args[pick] = literal_form(args[pick], rng)
        return out()
    if kind == "missing":
        cand = [k for k in keys if k in req] or keys
        if cand:
            del args[rng.choice(cand)]
        return out()
    if kind == "extra":
        args["extraParam"] = '"x"' if not fcm else "x"
        return out()
    if kind == "wrong_name":
        n2 = name.split(".")[-1] if "." in name else "My" + name
        return out(n=n2)
    if kind == "drop_optional":
        opt = [k for k in keys if k not in req]
        if opt:
            del args[rng.choice(opt)]
        elif pick:
            args[pick] = args[pick] + " "
        return out()
    if kind == "fc_types" and pick:
        if fcm:
            v = args[pick]
            conv = {"true": True, "false": False}
            try:
                args[pick] = conv[v] if v in conv else json.loads(v)
            except Exception:  # noqa: BLE001
                args[pick] = [v]
            return out()
        args[pick] = "(" + args[pick] + ")"
        return out()
    if kind == "quote_swap" and pick:
        v = args[pick]
        args[pick] = ("'" + v[1:-1] + "'") if v.startswith('"') and v.endswith('"') else ('"' + v + '"')
        return out()
    if kind == "collection_alt":
        props = func["parameters"]["properties"]
        coll = [k for k in keys if props.get(k, {}).get("type") in ("Array", "ArrayList", "HashMap", "array", "dict")]
        if coll:
            k = rng.choice(coll)
            v = args[k]
            alts = [
                v.replace(", ", ","), v.replace("{", "{ ").replace("}", " }"), v.replace('"', ""),
                re.sub(r"new (\w+)\[\]", r"new \1[] ", v), v.replace("Arrays.asList(", "List.of("),
                v.replace("<>", "<String>"), "new HashMap<>()", "[]", "{}", "new ArrayList<>()",
                v.replace("[", "[[", 1).replace("]", "]]", 1), v + ".clone()",
            ]
            args[k] = rng.choice(alts)
        elif pick:
            args[pick] = args[pick].replace(" ", "  ") if " " in args[pick] else args[pick] + ""
        return out()
    if kind == "gt_alt_style":
        _, alt = (fc_args if fcm else render_args)(entry, gt, cat, (base_style + 1) % 3)
        return out(a=alt)
    if fcm:
        # Formatting noise for FC: the JSON envelope.
        if kind in ("semicolon", "spacing", "fence"):
            return "<tool_call>\n" + json.dumps({"name": name, "arguments": args}, indent=2) + "\n</tool_call>"
        if kind == "two_calls":
            return fc_text([(name, args), (name, args)])
        if kind == "prose":
            return "Sure, calling it now.\n" + fc_text([(name, args)])
        if kind == "empty":
            return "I cannot help with that."
        if kind == "unbalanced":
            return "<tool_call>\n" + json.dumps({"name": name, "arguments": args})[:-1] + "\n</tool_call>"
        if kind == "positional":
            return fc_text([(name, {"arg0": list(args.values())[0] if args else "x"})])
        if kind == "duplicate":
            body = json.dumps({"name": name, "arguments": args})
            return "<tool_call>\n" + body[:-2] + (', "' + pick + '": "dup"}}' if pick else "}}") + "\n</tool_call>"
        if kind == "no_brackets":
            return json.dumps({"name": name, "arguments": args})
        return out()
    text = prompt_text(name, args)
    if kind == "semicolon":
        return text[:-1] + ";]"
    if kind == "spacing":
        return rng.choice([
            prompt_text(name, args, sep=",\n    ", eq=" = "),
            prompt_text(name, args, sep=" , ", eq="="),
            "[ " + text[1:-1] + " ]",
            prompt_text(name, args, sep=",", eq="= "),
        ])
    if kind == "two_calls":
        return "[" + text[1:-1] + ", " + text[1:-1] + "]"
    if kind == "prose":
        return rng.choice(["Here is the call: ", "I will call ", "<think>ok</think>"]) + text
    if kind == "unbalanced":
        return rng.choice([text[:-2] + "]", text.replace("(", "((", 1), text.replace("=", "==", 1), text[:-1] + ")]"])
    if kind == "positional":
        vals = list(args.values())
        return "[" + name + "(" + ", ".join(vals[:1] + [f"{k}={v}" for k, v in list(args.items())[1:]]) + ")]"
    if kind == "duplicate" and pick:
        return text[:-2] + f", {pick}={args[pick]})]"
    if kind == "empty":
        return rng.choice(["[]", "", "I cannot do that."])
    if kind == "no_brackets":
        return text[1:-1]
    if kind == "fence":
        return rng.choice(["```\n" + text + "\n```", "```java\n" + text + "\n```", "`" + text + "`"])
    return text


# ---------------------------------------------------------------- oracle
DECODE_TEXTS = {
    "simple_java": [
        "", "[]", "[f()]", "[f(a=1)]", "[f(a=xxxxxx)]", "[f(a=xxxxx)]", "[abcdefg(a=1)]", "[a.b(x=1)]",
        "[Foo.bar(a=1)]", "[Foo.bar(a=1);]", "[Foo.bar(a=1), Foo.baz(b=2)]", "[Foo.bar(a=1); Foo.baz(b=2)]",
        "[Foo.bar(a=1) Foo.baz(b=2)]", "[Foo.bar(a=1)\nFoo.baz(b=2)]", "[f(1, a)]", "[f(1, a);]", "[f(a)]",
        "[f(abcdefghij)]", "[f(1, 2, 3, 4)]", "[f(\na=1)]", "[x = 5]", "[Foo.bar(x=1)\n]",
        '[Foo.bar(a="x y", b=new int[]{1, 2})]', '[Foo.bar(m=new HashMap<String,String>(){{put("k","v");}})]',
        '[Foo.bar(l=new ArrayList<>(Arrays.asList("a", "b")))]', "[Foo.bar(l=new ArrayList<Integer>() {{ add(1); add(2); }})]",
        "[Foo.bar(a=1L, b=-2, c=1.5f, d=true, e=null, f=x.y, g='c')]", "[Foo.bar(a=Foo.class, b=this)]",
        "[Foo.bar(a=1 + 2, b=x * y - 3, c=!flag, d=(1))]", "[Foo.bar(a=new int[5])]", "[Foo.bar(a=new int[][]{{1}, {2}})]",
        "[Foo.bar(a=new java.util.Date())]", "[Foo.bar(a=new Foo<Bar<Baz>>())]", "[Foo.bar(a=x[0], b=y.z())]",
        "[Foo.bar(a=1, a=2)]", "[Foo.bar(a, b)]", "[Foo.bar(a=1, b)]", "[Foo.bar(default=1)]", "[Foo.bar(a=class)]",
        '[Foo.bar(s="caf\u00e9", n=5, t="x")]', '[Foo.bar(s="a\\"b")]', "[Foo.bar(a=0x1F, b=1_000, c=1e3, d=2.0d)]",
        "[Foo.bar(a=1,)]", "[Foo.bar(a=)]", "[Foo.bar(a=1))]", "[Foo.bar((a=1)]", "[Foo.bar(a=[1, 2])]",
        "[Foo.bar(a={1, 2})]", "[Foo.bar(a=\"unterminated)]", "[Foo.bar(a='')]", "[Foo.bar(a='ab')]",
        "[new Foo(a=1)]", "[Foo.bar(a=1).baz(b=2)]", "[Foo.bar(a=g(1), b=h(k=2))]", "[Foo.bar(a=1) && Foo.baz(b=2)]",
        "[Foo.bar(a=x.y.z, b=a.b())]", "[Foo.bar(a=-x, b=+1, c=~1, d=i++)]", "[Foo.bar(a=1 > 2, b=1 >= 2, c=1 >> 2)]",
        "[Foo.bar(a=new String[]{\"a\", \"b\"}, b=new Object[]{})]", "[Foo.bar(a=1 == 1, b=1 != 2, c=a && b || c)]",
        "[Foo.bar(a=new HashMap<>(), b=new ArrayList<>())]", "[Foo.bar(a=new HashMap<String, Integer>() {{ put(\"x\", 1); }})]",
    ],
    "simple_javascript": [
        "", "[]", "[f()]", "[f(a=1)]", "[f(a=1), g(b=2)]", "[f(a=1); g(b=2)]", "[f(a=1) g(b=2)]", "[f(a=1)\ng(b=2)]",
        "[x; f(a=1)]", "[obj.m(a=1)]", "[a.b.c(x=1)]", "[f(a)]", "[f(true)]", "[f(1)]", "[f(a, true, 1, 'x')]",
        "[f(a='x', b=\"y\", c=`t${1}`)]", "[f(a=[1, 2], b={k: 1, 'q': [2]}, c={})]", "[f(a=10n, b=1.5, c=-1, d=0x10)]",
        "[f(a=() => 1, b=function(x) { return x; }, c=x => x * 2)]", "[f(a=new Date(), b=new Map([[1, 2]]))]",
        "[f(a=x.y, b=x[0], c=x.y(z))]", "[f(a=1 + 2, b=x ? 1 : 2, c=!x, d=typeof x)]", "[f(a=null, b=undefined, c=this)]",
        "[f(a=1, a=2)]", "[f(a, b)]", "[f(a+=1)]", "[f(default=1)]", "[f(a=)]", "[f(a=1))]", "[f((a=1)]", "[f(a=[1, 2)]",
        "[f(a={k: 1)]", "[f(a='unterminated)]", "[new F(a=1)]", "[await f(a=1)]", "[f(a=1)(b=2)]", "[f(a=1).g(b=2)]",
        "[f(a=/re/)]", "[f(a=1,)]", "[f(a={k})]", "[f(a={...x})]", "[f(a=[...x])]", "[f(a=x?.y)]", "[f`x`]",
        "[f(a=1 >= 2, b=1 >>> 2, c=a ?? b, d=2 ** 3)]", "[f(a={'x': 'y', z: [1, 'q']})]", "[f(a=\"caf\u00e9\", b='\\'q\\'')]",
        "[f(a=[[1, 2], [3, 4]])]", "[f(a=new Array(1, 2))]", "[f(a=1)\n(b=2)]", "[let x = f(a=1)]", "[f(a=1) // c]",
        "[f.call(a=1)]", "[f(a=function() {})]", "[f(a={m() { return 1; }})]", "[f(class=1)]",
    ],
}


def main():
    repo = Path(__file__).resolve().parents[1]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=Path(os.environ.get("TRAINER_CACHE", repo / ".cache" / "assets")) / "bfcl" / "data")
    ap.add_argument("--out", type=Path, default=repo / "tests" / "fixtures" / "bfcl_java_js")
    ap.add_argument("--full", type=Path, default=None)
    ap.add_argument("--per-entry", type=int, default=3)
    ap.add_argument("--heldout", type=Path, default=None,
                    help="also write random character-level mutations of the GT answers with the official "
                         "decode_ast result (TRAINER_BFCL_JAVA_JS_DECODE=PATH checks them)")
    args = ap.parse_args()

    os.environ.setdefault("BFCL_PROJECT_ROOT", tempfile.mkdtemp(prefix="bfcl-root-"))
    from bfcl_eval.constants.enums import Language, ReturnFormat
    from bfcl_eval.eval_checker.eval_runner import _evaluate_single_ast_entry, get_handler
    from bfcl_eval.utils import make_json_serializable

    def canon(v):
        return json.dumps(make_json_serializable(v), ensure_ascii=False)

    handlers = {p: get_handler(m) for p, m in PROFILES.items()}
    lang = {"simple_java": (Language.JAVA, ReturnFormat.JAVA), "simple_javascript": (Language.JAVASCRIPT, ReturnFormat.JAVASCRIPT)}

    def judge(profile, cat, entry, gt, result):
        language, fmt = lang[cat]
        try:
            r = _evaluate_single_ast_entry(handlers[profile], entry["id"], result, gt, entry, PROFILES[profile], cat, language, fmt)
        except Exception as e:  # noqa: BLE001 - the official run would abort
            return {"valid": False, "crash": type(e).__name__}
        v = {"valid": r["valid"]}
        if not r["valid"]:
            v["error_type"] = r["error_type"]
            v["error_fnv"] = fnv1a64(canon(r["error"]))
            if "model_result_decoded" in r:
                v["decoded_fnv"] = fnv1a64(canon(r["model_result_decoded"]))
        return v

    (args.out / "data" / "possible_answer").mkdir(parents=True, exist_ok=True)
    full, small = [], []
    stats = {}
    for cat in CATS:
        q = load_jsonl(args.data / f"BFCL_v4_{cat}.json")
        a = load_jsonl(args.data / "possible_answer" / f"BFCL_v4_{cat}.json")
        for name, rows in ((f"BFCL_v4_{cat}.json", q), (f"possible_answer/BFCL_v4_{cat}.json", a)):
            with open(args.out / "data" / name, "w", encoding="utf-8") as f:
                for row in rows:
                    f.write(json.dumps(row, ensure_ascii=False) + "\n")
        for profile in PROFILES:
            for i, (entry, ans) in enumerate(zip(q, a)):
                gt = ans["ground_truth"]
                render = fc_args if profile == "fc" else render_args
                chosen, verdict, style = None, None, 0
                for style in range(3):
                    n, ar = render(entry, gt, cat, style)
                    text = fc_text([(n, ar)]) if profile == "fc" else prompt_text(n, ar)
                    v = judge(profile, cat, entry, gt, text)
                    if chosen is None or v["valid"]:
                        chosen, verdict, best = text, v, style
                    if v["valid"]:
                        break
                st = stats.setdefault((profile, cat), [0, 0, 0])
                st[0] += 1
                st[1] += verdict["valid"]
                case = {"model": PROFILES[profile], "id": entry["id"], "kind": "gt", "result": chosen, **verdict}
                full.append(case)
                small.append(case)
                for k, kind in enumerate(KINDS):
                    rng = random.Random(f"{profile}/{entry['id']}/{kind}")
                    res = perturb(kind, entry, gt, cat, profile, rng, best)
                    v = judge(profile, cat, entry, gt, res)
                    st[2] += 1
                    case = {"model": PROFILES[profile], "id": entry["id"], "kind": kind, "result": res, **v}
                    full.append(case)
                    if (k - i) % len(KINDS) < args.per_entry:
                        small.append(case)
    with open(args.out / "cases.jsonl", "w", encoding="utf-8") as f:
        for c in small:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    if args.full:
        args.full.parent.mkdir(parents=True, exist_ok=True)
        with open(args.full, "w", encoding="utf-8") as f:
            for c in full:
                f.write(json.dumps(c, ensure_ascii=False) + "\n")
    rows = []
    for cat, texts in DECODE_TEXTS.items():
        _, fmt = lang[cat]
        h = handlers["prompting"]
        for t in texts:
            try:
                rows.append({"category": cat, "text": t, "ok": True, "repr": repr(h.decode_ast(t, fmt, False))})
            except Exception as e:  # noqa: BLE001 - any exception is a decode failure
                rows.append({"category": cat, "text": t, "ok": False, "exception": type(e).__name__})
    with open(args.out / "decode_cases.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    if args.heldout:
        rng = random.Random(4242)
        noise = list("()[]{},;=\"'.-+ \n:<>") + ["new ", "L", "f", "x", "1", "true", "//", "/*c*/"]
        held = []
        for c in full:
            if c["kind"] != "gt" or c["model"] != PROFILES["prompting"]:
                continue
            cat = "simple_java" if c["id"].startswith("simple_java_") else "simple_javascript"
            for _ in range(8):
                t = c["result"]
                for _ in range(rng.randint(1, 2)):
                    k = rng.randrange(len(t) + 1)
                    op = rng.random()
                    if op < 0.4 and len(t) > 2:
                        t = t[:k] + t[k + 1:]
                    elif op < 0.8:
                        t = t[:k] + rng.choice(noise) + t[k:]
                    else:
                        t = t[:k] + t[k:k + rng.randint(1, 6)] + t[k:]
                held.append((cat, t))
        h = handlers["prompting"]
        with open(args.heldout, "w", encoding="utf-8") as f:
            for cat, t in held:
                try:
                    row = {"category": cat, "text": t, "ok": True, "repr": repr(h.decode_ast(t, lang[cat][1], False))}
                except Exception as e:  # noqa: BLE001 - any exception is a decode failure
                    row = {"category": cat, "text": t, "ok": False, "exception": type(e).__name__}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{len(held)} held-out decode cases -> {args.heldout}")

    # Official function docs as the handlers show them to the model (prompts).
    import copy

    from bfcl_eval.utils import _func_doc_language_specific_pre_processing

    with open(args.out / "prompt_docs.jsonl", "w", encoding="utf-8") as f:
        for cat in CATS:
            for entry in load_jsonl(args.data / f"BFCL_v4_{cat}.json")[::5]:
                docs = _func_doc_language_specific_pre_processing(copy.deepcopy(entry["function"]), cat)
                f.write(json.dumps({"id": entry["id"], "docs": json.dumps(docs)}, ensure_ascii=False) + "\n")
    for (profile, cat), (n, ok, pert) in sorted(stats.items()):
        print(f"{profile:<9} {cat:<18} GT replay official {ok}/{n}; perturbations {pert}")
    print(f"{len(small)} cases -> {args.out / 'cases.jsonl'}; {len(full)} in full set; {len(rows)} decode cases")


if __name__ == "__main__":
    main()
