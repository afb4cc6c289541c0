#!/usr/bin/env python3
"""Writes tests/fixtures/bfcl_multi_turn/math_precision.json from the
official BFCL wheel: MathAPI `logarithm` (mpmath) and `square_root`
(decimal) calls run through the official `execute_multi_turn_func_call`.

Usage (from the repository root, Python 3.11 with mpmath==1.3.0, the
pure-Python mpmath backend, i.e. no gmpy2 — as `pip install bfcl-eval`
gives):
    scripts/fetch-bfcl.sh
    python3 scripts/bfcl_multi_turn_math_fixtures.py

Cases: every logarithm/square_root call in the ground truth of the four
multi_turn categories, hand-written edge cases (precision 0/1/negative/
float/str/None, values near 1, tiny and huge floats, ints vs floats, zero,
base 1, wrong types, decimal ideal exponents) and seeded random ones.
Calls whose official result this port deliberately does not reproduce
(complex arguments, fraction strings, decimal strings with
exponents beyond 400, mp.dps > ~745, decimal precision > 10000) go to "unsupported":
the Rust side must raise its Unsupported exception for them.
"""
import json
import math
import os
import random
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("TRAINER_CACHE", os.path.join(ROOT, ".cache", "assets"))
WHEEL = os.path.join(CACHE, "bfcl", ".download", "bfcl_eval-2026.3.23-py3-none-any.whl")
DATA = os.path.join(CACHE, "bfcl", "data")
OUT = os.path.join(ROOT, "tests", "fixtures", "bfcl_multi_turn", "math_precision.json")

tmp = tempfile.mkdtemp()
with zipfile.ZipFile(WHEEL) as z:
    z.extractall(tmp, [m for m in z.namelist() if m.startswith("bfcl_eval/")
                       and not m.startswith("bfcl_eval/data/")])
sys.path.insert(0, tmp)
import mpmath.libmp  # noqa: E402
from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_utils import (  # noqa: E402
    execute_multi_turn_func_call,
)

assert mpmath.__version__ == "1.3.0" and mpmath.libmp.BACKEND == "python", "need pure-Python mpmath 1.3.0"


def ground_truth_calls():
    calls = []
    for cat in ["base", "long_context", "miss_func", "miss_param"]:
        path = os.path.join(DATA, "possible_answer", f"BFCL_v4_multi_turn_{cat}.json")
        with open(path) as f:
            for line in f:
                if line.strip():
                    for turn in json.loads(line)["ground_truth"]:
                        calls += [c for c in turn if c.startswith(("logarithm(", "square_root("))]
    return calls


EDGE = [
    "logarithm(value=100, base=10, precision=10)", "logarithm(value=8, base=2, precision=15)",
    "logarithm(value=2, base=8, precision=15)", "logarithm(value=1000, base=10, precision=0)",
    "logarithm(value=1000, base=10, precision=1)", "logarithm(value=3, base=7, precision=-3)",
    "logarithm(value=3, base=7, precision=2.7)", "logarithm(value=3, base=7, precision='12')",
    "logarithm(value=3, base=7, precision=' +1_2 ')", "logarithm(value=3, base=7, precision='x')",
    "logarithm(value=3, base=7, precision='1__2')", "logarithm(value=3, base=7, precision=None)",
    "logarithm(value=3, base=7, precision=[5])", "logarithm(value=3, base=7, precision=True)",
    "logarithm(value=3, base=7, precision=50)", "logarithm(value=3, base=7, precision=100)",
    "logarithm(value=3, base=7, precision=300)", "logarithm(value=3, base=7, precision=700)",
    "logarithm(value=10, base=1, precision=10)", "logarithm(value=1, base=1, precision=10)",
    "logarithm(value=0, base=10, precision=10)", "logarithm(value=10, base=0, precision=10)",
    "logarithm(value=0, base=0, precision=10)", "logarithm(value=0.0, base=2.0, precision=4)",
    "logarithm(value=1, base=10, precision=5)", "logarithm(value=True, base=2, precision=5)",
    "logarithm(value=False, base=2, precision=5)", "logarithm(value=2, base=True, precision=5)",
    "logarithm(value='abc', base=10, precision=10)", "logarithm(value=10, base='e', precision=10)",
    "logarithm(value=[1], base=10, precision=10)", "logarithm(value=None, base=10, precision=10)",
    "logarithm(value={'a': 1}, base=10, precision=10)", "logarithm(value=(2,), base=10, precision=10)",
    "logarithm(value=1e-300, base=10, precision=20)", "logarithm(value=5e-324, base=2, precision=30)",
    "logarithm(value=1.7976931348623157e308, base=2, precision=30)",
    "logarithm(value=0.25000000023283064, base=10, precision=0)",
    "logarithm(value=0.25000000023283064, base=10, precision=3)",
    "logarithm(value=1.0000000000000002, base=10, precision=2)",
    "logarithm(value=0.9999999999999999, base=10, precision=2)",
    "logarithm(value=1.0000000000000002, base=10, precision=30)",
    "logarithm(value=10, base=1.0000000000000002, precision=20)",
    "logarithm(value=1180591620717411303424, base=2, precision=10)", "logarithm(value=12345678901234567890123, base=3, precision=40)",
    "logarithm(value=1024, base=2, precision=5)", "logarithm(value=0.5, base=2, precision=5)",
    "logarithm(value=0.5, base=0.25, precision=5)", "logarithm(value=1.5, base=0.75, precision=25)",
    "logarithm(value=10, base=10, precision=745)", "logarithm(value=3, base=10, precision=745)",
    "logarithm(value=10)", "logarithm(value=10, base=2, precision=3, extra=1)",
    "logarithm(value='100', base=10, precision=10)", "logarithm(value=' 2.5E3 ', base='10', precision=30)",
    "logarithm(value='1_000', base=10, precision=5)", "logarithm(value='1.5_0', base=10, precision=5)",
    "logarithm(value='1.2_5', base=10, precision=5)", "logarithm(value='.0', base=10, precision=5)",
    "logarithm(value='0.', base=10, precision=5)", "logarithm(value='5l', base=10, precision=5)",
    "logarithm(value='inf', base=10, precision=5)", "logarithm(value='nan', base=10, precision=5)",
    "logarithm(value='+nan', base=10, precision=5)", "logarithm(value='infinity', base=10, precision=5)",
    "logarithm(value='0x10', base=10, precision=5)", "logarithm(value='1e-5', base=10, precision=5)",
    "logarithm(value='', base=10, precision=5)", "logarithm(value='  ', base=10, precision=5)",
    "logarithm(value='1e', base=10, precision=5)", "logarithm(value='e5', base=10, precision=5)",
    "logarithm(value='3.14159265358979323846264338327950288', base='2.718281828459045235360287', precision=40)",
    "logarithm(value='0.1', base=10, precision=2)", "logarithm(value='1e400', base=10, precision=20)",
    "logarithm(value='1e-400', base=10, precision=20)", "logarithm(value='+5', base=5, precision=3)",
    "logarithm(value=-10, base=10, precision=10)", "logarithm(value=10, base=-10, precision=10)",
    "logarithm(value=-10, base=-10, precision=10)", "logarithm(value=-1, base=10, precision=0)",
    "logarithm(value=-1, base=-1, precision=30)", "logarithm(value=-8, base=2, precision=50)",
    "logarithm(value=8, base=-2, precision=50)", "logarithm(value=-0.5, base=0.5, precision=5)",
    "logarithm(value=-10, base=1, precision=10)", "logarithm(value=-10, base=0, precision=10)",
    "logarithm(value=0, base=-10, precision=10)", "logarithm(value=1, base=-10, precision=10)",
    "logarithm(value=-0.0, base=10, precision=10)", "logarithm(value='-2', base=10, precision=10)",
    "logarithm(value='-inf', base=10, precision=10)", "logarithm(value=10, base='-inf', precision=10)",
    "logarithm(value='-inf', base='-inf', precision=10)", "logarithm(value=-1e-300, base=-1e300, precision=100)",
    "logarithm(value=-1.0000000000000002, base=-0.9999999999999999, precision=20)",
    "logarithm(value=-3, base=7, precision=700)", "logarithm(value=-3, base=-7, precision=300)",
    "logarithm(value='1/3', base=10, precision=10)", "logarithm(value='-1/3', base=10, precision=10)",
    "logarithm(value=' 22 / 7 ', base='1/2', precision=25)", "logarithm(value='1/0', base=10, precision=10)",
    "logarithm(value='1/2/3', base=10, precision=10)", "logarithm(value='3l/4l', base=10, precision=10)",
    "logarithm(value='a/b', base=10, precision=10)", "logarithm(value='1.5/2', base=10, precision=10)",
    "logarithm(value='10', base='0/5', precision=10)",
    "square_root(number=2, precision=5)", "square_root(number=2, precision=0)",
    "square_root(number=2, precision=-1)", "square_root(number=2, precision=2.5)",
    "square_root(number=2, precision='5')", "square_root(number=2, precision=None)",
    "square_root(number=2, precision=True)", "square_root(number=2, precision=False)",
    "square_root(number=2, precision=999999999999999999999)", "square_root(number=2, precision=9999999999999999999)",
    "square_root(number=2, precision=1000000000000000000)",
    "square_root(number=-2, precision=5)", "square_root(number=-0.5, precision=5)",
    "square_root(number='2', precision=5)", "square_root(number=None, precision=5)",
    "square_root(number=[4], precision=5)", "square_root(number=16, precision=5)",
    "square_root(number=16.0, precision=1)", "square_root(number=0.25, precision=5)",
    "square_root(number=0, precision=5)", "square_root(number=0.0, precision=5)",
    "square_root(number=-0.0, precision=5)", "square_root(number=12321, precision=2)",
    "square_root(number=12321, precision=3)", "square_root(number=99.99999, precision=3)",
    "square_root(number=1e-10, precision=3)", "square_root(number=1e30, precision=3)",
    "square_root(number=1e-320, precision=20)", "square_root(number=1.7976931348623157e308, precision=40)",
    "square_root(number=True, precision=True)", "square_root(number=2, precision=1000)",
    "square_root(number=0.1, precision=100)", "square_root(number=10000000000000000000000000000000000000, precision=5)",
    "square_root(number=123456789012345678901234567890, precision=50)",
    "square_root(number=4)", "square_root(number=4, precision=2, x=1)",
]

UNSUPPORTED = [
    "logarithm(value='1e500', base=10, precision=10)", "logarithm(value=3, base=7, precision=800)",
    "logarithm(value=2j, base=10, precision=10)", "logarithm(value=46, base=0.9999999999999996, precision=738)",
    "square_root(number=2, precision=20000)",
]


def number(rng):
    kind = rng.randrange(6)
    if kind == 0:
        return str(rng.randint(1, 10 ** rng.randint(1, 25)))
    if kind == 1:
        return repr(10 ** rng.uniform(-300, 300))
    if kind == 2:
        return repr(rng.uniform(0.5, 2.0))
    if kind == 3:
        return repr(1 + rng.choice([-1, 1]) * 2.0 ** -rng.randint(20, 52))
    if kind == 4:
        return repr(round(rng.uniform(0, 1000), rng.randint(0, 4)))
    return str(rng.randint(2, 64))


def precision(rng):
    return str(rng.choice([rng.randint(0, 20), rng.randint(0, 20), rng.randint(20, 120), rng.randint(120, 700)]))


def random_calls(n, seed=20260323):
    rng = random.Random(seed)
    calls = []
    for _ in range(n):
        calls.append(f"logarithm(value={number(rng)}, base={number(rng)}, precision={precision(rng)})")
        if rng.random() < 0.15:
            sign_v, sign_b = rng.choice([("-", ""), ("", "-"), ("-", "-")])
            calls.append(f"logarithm(value={sign_v}{number(rng)}, base={sign_b}{number(rng)}, precision={precision(rng)})")
        if rng.random() < 0.1:
            calls.append(f"logarithm(value='{number(rng)}', base='{number(rng)}', precision={precision(rng)})")
        sq_prec = rng.choice([rng.randint(1, 30), rng.randint(30, 200), rng.randint(200, 1000)])
        calls.append(f"square_root(number={number(rng)}, precision={sq_prec})")
    return calls


def run(calls):
    results, _ = execute_multi_turn_func_call(calls, {}, ["MathAPI"], "fixture", "math_precision")
    return results


if __name__ == "__main__":
    gt = ground_truth_calls()
    calls = gt + EDGE + random_calls(250)
    results = run(calls)
    with open(OUT, "w") as f:
        json.dump({"ground_truth_calls": len(gt), "calls": calls, "results": results,
                   "unsupported": UNSUPPORTED},
                  f, ensure_ascii=True, indent=0)
        f.write("\n")
    print(len(calls), "calls,", len(gt), "from the ground truth;", len(UNSUPPORTED), "unsupported")
