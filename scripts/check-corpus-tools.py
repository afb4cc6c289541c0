#!/usr/bin/env python3
"""Independent check of `ingest_corpus` output (tools JSONL + JSON report) against the corpus.

Oracles, none of which shares code with the Rust ingester:
- Python's own reading of every spec: the number of operations (following path-item `$ref`s)
  must equal tools + skipped items of that file, and the tool count must match the report;
- the `jsonschema` package's Draft 2020-12 metaschema: every `parameters` and
  `response_schema` must be a structurally valid schema (format checks off: specs' `pattern`s
  use ECMA-262 classes such as `\\p{L}` that Python's `re` cannot compile; those are counted
  and listed separately, as information);
- names match `^[a-zA-Z0-9_-]{1,64}$` and are unique per file; `required` ⊆ `properties`.

usage: check-corpus-tools.py TOOLS.jsonl REPORT.json [--every N]   (metaschema-check every Nth tool)
"""
import collections
import json
import re
import sys
import warnings

from jsonschema import Draft202012Validator

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
META = Draft202012Validator(Draft202012Validator.META_SCHEMA)


def count_operations(path):
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    paths = doc.get("paths") or {}
    n = 0
    for key, item in paths.items():
        if key.startswith("x-") or not isinstance(item, dict):
            continue
        ref = item.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/paths/"):
            target = ref[len("#/paths/"):].replace("~1", "/").replace("~0", "~")
            item = paths.get(target, {})
        n += sum(1 for m in item if m.lower() in METHODS)
    return n


def patterns(v, out):
    if isinstance(v, dict):
        p = v.get("pattern")
        if isinstance(p, str):
            out.append(p)
        for x in v.values():
            patterns(x, out)
    elif isinstance(v, list):
        for x in v:
            patterns(x, out)


def main():
    args = sys.argv[1:]
    every = 1
    if "--every" in args:
        i = args.index("--every")
        every = int(args[i + 1])
        del args[i : i + 2]
    tools_path, report_path = args
    warnings.simplefilter("ignore")
    problems = collections.Counter()
    examples = {}
    per_file = collections.Counter()
    names = set()
    checked = 0
    python_regex_failures = collections.Counter()

    def problem(kind, example):
        problems[kind] += 1
        examples.setdefault(kind, example)

    with open(tools_path, encoding="utf-8") as f:
        for index, line in enumerate(f):
            tool = json.loads(line)
            file = tool["provenance"]["file"]
            per_file[file] += 1
            if not NAME.match(tool["name"]):
                problem("bad name", tool["name"])
            if (file, tool["name"]) in names:
                problem("duplicate name", (file, tool["name"]))
            names.add((file, tool["name"]))
            params = tool["parameters"]
            if params.get("type") != "object" or not isinstance(params.get("properties"), dict):
                problem("parameters not an object schema", tool["name"])
            elif any(r not in params["properties"] for r in params.get("required", [])):
                problem("required not a property", tool["name"])
            for key in ("parameters", "response_schema"):
                schema = tool.get(key)
                if schema is None:
                    continue
                found = []
                patterns(schema, found)
                for p in found:
                    try:
                        re.compile(p)
                    except re.error as e:
                        python_regex_failures[str(e).split(" at position")[0]] += 1
                if index % every == 0:
                    error = next(META.iter_errors(schema), None)
                    if error is not None:
                        problem(f"invalid {key}", (tool["name"], error.message[:200]))
                    checked += 1
    with open(report_path, encoding="utf-8") as f:
        report = json.load(f)
    for entry in report["files"]:
        if entry["failure"]:
            continue
        expected = count_operations(entry["file"])
        got = per_file[entry["file"]] + len(entry["skipped"])
        if expected != got or per_file[entry["file"]] != entry["tools"]:
            problem("operation count mismatch", (entry["file"], expected, got))
    print(f"tools: {sum(per_file.values())}, schemas metaschema-checked: {checked}, files: {len(report['files'])}")
    top = ", ".join(f"{k}: {v}" for k, v in python_regex_failures.most_common(5))
    print(f"info: patterns Python's re cannot compile: {sum(python_regex_failures.values())} ({top})")
    for k, v in problems.items():
        print(f"PROBLEM {k}: {v} (e.g. {examples.get(k)})")
    print(f"{0 if problems else 1} passed, {1 if problems else 0} failed")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
