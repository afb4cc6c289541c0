#!/usr/bin/env python3
"""Decoder-level oracle: runs the official `decode_ast` of Qwen/Qwen3-8B
(prompting) and Qwen/Qwen3-8B-FC on tricky texts and writes, per text, the
`repr` of the decoded value or the failure.  Output: decode_cases.jsonl in the
given directory (consumed by tests/bfcl_decode.rs).

Usage (venv python): bfcl_decode_cases.py OUT_DIR [EXTRA_RESULT_FILES...]
"""

import json
import os
import sys
import tempfile
from pathlib import Path

PROFILES = {"prompting": "Qwen/Qwen3-8B", "fc": "Qwen/Qwen3-8B-FC"}

PROMPTING = [
    "",
    "[]",
    "[f()]",
    "f(a=1)",
    "[f(a=1), g(b='x')]",
    "[f(a=1)]\nsome text",
    "<think>..</think>[f(a=1)]",
    "```python\n[f(a=1)]\n```",
    "```\n[f(a=1)]\n```",
    "[f(1, 2, a=3)]",
    "[f(a=1, a=2)]",
    "[f(**{'a': 1})]",
    "[f(*x, a=1)]",
    "[m.n.o(a=1)]",
    "[f()(a=1)]",
    "[a[0](x=1)]",
    "[f(a=+5, b=-True, c=~3, d=not True, e=-1.5, f=-(2))]",
    "[f(a=- -5)]",
    "[f(a=2023-10-15, b=10/4, c=7//2, d=2**10, e=2**-2, f='ab'*2)]",
    "[f(a=x, b=true, c=null, d=None, e=...)]",
    "[f(a=g(1), b=g(k=1), c=h.i(2, j=3))]",
    "[f(a=x[1:2], b=y['k'], c=z[1, 2], d=w[::])]",
    "[f(a=(1, 2), b=[1, (2, 3)], c={'k': (1,)})]",
    "[f(a={1: 2, 1.0: 3, True: 4})]",
    "[f(a=lambda: 1)]",
    "[f(a=x.y)]",
    "[f(a=f'{x}')]",
    "[f(a=b'bytes', b=1j, c=0x1F, d=1_000, e=1e400)]",
    r"[f(a='caf\u00e9', b=r'\d', c='\x41\101', d='\N{BULLET}')]",
    r"""[f(a='it\'s', b="q\"q")]""",
    "[f(a=1,)]",
    "[f(a=1),]",
    "[f(a=1)] # c",
    "[f(a=1),\n g(b=2)]",
    "[f(a=1), \\\n g(b=2)]",
    "[f(a=1)]; [g()]",
    "[f(a=1)], [g()]",
    "[[f(a=1)]]",
    "[f(a=1) for x in y]",
    "['f(a=1)']",
    "'[f(a=1)]'",
    "[f(a=1) + g(b=2)]",
    "[f(a=[x for x in y])]",
    "[f(a={x: 1 for x in y})]",
    "[f(a={1, 2})]",
    "[f(a=(x := 1))]",
    "[f(x for x in y)]",
    "[f(x for x in y, a=1)]",
    "[f(a=1, 2)]",
    "[f(a=1, *b)]",
    "[f(**k, a=1)]",
    "[f(a=1 if b else 2)]",
    "[f(a=[1, 2][0])]",
    "[f(a=05)]",
    "[f(a=0_7)]",
    "[f(a=1__0)]",
    "[f(a=1.e5, b=.5, c=1.j, d=00, e=0e0)]",
    "[f(a=12345678901234567890123456789012345678901234567890)]",
    "[f(a=-170141183460469231731687303715884105728)]",
    "[f(a=2**200)]",
    "[f(a=1/0)]",
    "[f(a='%s' % 1)]",
    "[f(a=[1]*3, b=(1,)*2, c=[1]+[2], d='a'+'b')]",
    "[f(a=True+True, b=True&False, c=3|4, d=1<<3, e=-9>>1, f=-7%3, g=7.5%-2, h=-7.5//2)]",
    "[f(a=0.1+0.2, b=1e16, c=1e-5, d=123456789.123456789)]",
    "[f(a='x' 'y', b=u'z', c='''t''')]",
    "[f(a='x' b'y')]",
    "[f(名前='値', año=1)]",
    "[f(ａ=1)]",
    "[f(a=1)]\n\n",
    "\n\n[f(a=1)]",
    "[f(a='\n')]",
    "[f(a=1)\n]",
    "[f(\n  a=1,\n  b=2\n)]",
    "[f(a=1)]\x0c",
    "[f(a=1)]\t",
    "[f(a=[1, 2,], b={'k': 1,})]",
    "[f(a={'k': [{'n': [1]}]})]",
    "[f(a=print)]",
    "[f(a=np.array([1, 2]))]",
    "[f(a=datetime.date(2023, 1, 1))]",
    "[f(a=datetime.now())]",
    "[f(a=g(h(1), k=2))]",
    "[f(a='A' if 1 else 'B')]",
    "[f(a=1 < 2)]",
    "[f(a=x and y)]",
    "[f(a=not x)]",
    "[f(a=-x)]",
    "[f(a=-'s')]",
    "[f(a=-None)]",
    "[f(a=1e309-1e309)]",
    "[f(a=-0.0, b=0.0)]",
    "[f(a=2**63, b=-2**63, c=2**127-1)]",
    "[f(a='\u00a0\u200b\u2028')]",
    """[f(a="it's")]""",
    "[f(a='😀')]",
    "[f(a=[])]",
    "[f(a={})]",
    "[f(a=())]",
    "[f(a=(1))]",
    "[f(a=((1, 2)))]",
    "[f(a=[*x])]",
    "[f(a={**x})]",
    "[f(a=x[0](1))]",
    "[f(a=g(*args))]",
    "[f(a=g(**kw))]",
    "[f(a=g(x, *y, z=1, **w))]",
    "[f(a=3 .real)]",
    "[f(a=lambda x, *y, z=1, **k: 0)]",
    "[f(a=g(lambda x=1: x))]",
    "[f(a=g(x if y else z, (a, b), [c, d]))]",
    "[f(a=g(-1, +2, ~3, not 4, 2**-1, (-2)**2, -2**2))]",
    "[f(a=g(1 + 2 * 3 - (4 - 5) / 6 // 7 % 8 @ 9))]",
    "[f(a=g(a or b and c, not a or b, (a or b) and c))]",
    "[f(a=g(1 < 2 <= 3 != 4 is not None in x not in y))]",
    "[f(a=g(1e400, -1e400, 1e309j))]",
    r"""[f(a=g('a\nb', "c'd", 'e"f', b'\x00'))]""",
    "[f(a=x[1:2:3, ...], b=x[:, None], c=x[(1, 2)])]",
    "[f(a=g({k: v for k, v in x.items()}, {*a, 1}))]",
    "[f(a=g(await x))]",
    "[f(a=g(x, y=(z := 2)))]",
    "[f(a=g(a.b.c, a[b][c], a(b)(c)))]",
    "[f(a=g([1, 2][::-1]))]",
    "[f(a=g(1, 2)[0])]",
    "[f(a=1), 'text']",
    "[f(a=1)] and more",
    "Sure: [f(a=1)]",
    "[f(a=1) g(b=2)]",
    "[f(a==1)]",
    "[f(a=)]",
    "[f(=1)]",
    "[f(a=1))]",
    "[f(a=[1, 2)]",
    "[f(class=1)]",
    "[f(a=1, b=2, a=3)]",
    "[f(match=1, case=2, type=3, _=4)]",
    "[f.g.h(a=1), f.g(b=2)]",
    "[F(A=1)]",
    "[f(a='%s-%d' % ('x', 3), b='%r' % 'q', c='%i%%' % 5.9, d='%d' % True)]",
    "[f(a='%s' % [1])]",
    "[f(a='%s %s' % (1,))]",
    "[f(a='abc' % 5)]",
    "[f(a='%5s' % 1)]",
    "[f(a=(-8) ** (1/3), b=(-2.5) ** 0.5, c=(-8.0) ** 2, d=(-1) ** 0.5)]",
    "[f(a=float('inf'))]",
]

FC = [
    "",
    "plain text",
    '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"a": 1, "a": 2}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"a": NaN, "b": Infinity, "c": -Infinity, "d": 1e400}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"a": 123456789012345678901234567890, "b": -0, "c": 1.0, "d": 1E2}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"a": "\\ud83d\\ude00 \\u00e9 \\n"}}\n</tool_call>',
    '<tool_call>\n{"name": "f"}\n</tool_call>',
    '<tool_call>\n{"arguments": {}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": "{}"}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": null}\n</tool_call>',
    '<tool_call>\n[{"name": "f", "arguments": {}}]\n</tool_call>',
    '<tool_call>\n"str"\n</tool_call>',
    '<tool_call>\n{bad}\n</tool_call>\n<tool_call>\n{"name": "g", "arguments": {}}\n</tool_call>',
    '<tool_call>\n{"name": 5, "arguments": {}}\n</tool_call>',
    '<tool_call>\n{"name": null, "arguments": {}}\n</tool_call>',
    '<tool_call>\n{"name": ["x"], "arguments": {}}\n</tool_call>',
    '<tool_call>\n{"name": {"x": 1}, "arguments": {}}\n</tool_call>',
    '<tool_call>{"name": "f", "arguments": {}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {}}</tool_call>',
    '<tool_call>\r\n{"name": "f", "arguments": {}}\r\n</tool_call>',
    "<tool_call>\n\n</tool_call>",
    "<tool_call>\n</tool_call>",
    '<tool_call>\n<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>',
    '<tool_call>\n {"name": "f", "arguments": {}} \n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "f", "arguments": {"x": [1, {"y": null}]}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"a": 01}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"a": 1.}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"a": "tab\there"}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {}, "extra": 1}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"a": true, "b": false, "c": null}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call> trailing <tool_call>\nnot closed',
    '<tool_call>\n{"name": "f", "arguments": {"a": 1}}\n</tool_call><tool_call>\n{"name": "g", "arguments": {}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"a": 1e-7, "b": 1.5e300, "c": 0.1}}\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"a": "\\u0000"}}\n</tool_call>',
]


def main():
    out = Path(sys.argv[1])
    # Importing bfcl_eval creates result/, score/ and .file_locks/ under this root.
    os.environ.setdefault("BFCL_PROJECT_ROOT", tempfile.mkdtemp(prefix="bfcl-root-"))
    from bfcl_eval.constants.enums import ReturnFormat
    from bfcl_eval.eval_checker.eval_runner import get_handler

    texts = {"prompting": list(PROMPTING), "fc": list(FC)}
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bfcl_agreement import GENERIC_RAWS

    for raw in GENERIC_RAWS:
        texts["prompting"] += [f"[f(a={raw.py})]", f"[f(a=g({raw.py}))]", f"[f(a=x[{raw.py}])]"]
        if raw.js is not None:
            texts["fc"].append('<tool_call>\n{"name": "f", "arguments": {"a": ' + raw.js + "}}\n</tool_call>")
    for extra in sys.argv[2:]:
        for line in Path(extra).read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            texts[d["profile"]].append(d["result"])
    rows = []
    for profile, model in PROFILES.items():
        handler = get_handler(model)
        seen = set()
        for t in texts[profile]:
            if t in seen:
                continue
            seen.add(t)
            try:
                v = handler.decode_ast(t, ReturnFormat.PYTHON, False)
                rows.append({"model": model, "text": t, "ok": True, "repr": repr(v)})
            except Exception as e:  # noqa: BLE001 - any exception is a decode failure
                rows.append({"model": model, "text": t, "ok": False, "exception": type(e).__name__})
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "decode_cases.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{len(rows)} decode cases written to {out / 'decode_cases.jsonl'}")


if __name__ == "__main__":
    main()
