#!/usr/bin/env bash
# Fetches the APIs.guru corpus (if needed), ingests all of it with the release build, and checks
# the output independently (jsonschema metaschema + Python operation counts).
# Outputs go to ${OUT:-target/corpus}/: tools.jsonl, report.txt, report.json, summary.txt.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${OUT:-$repo/target/corpus}"
mkdir -p "$out"
"$repo/scripts/fetch-openapi-corpus.sh"
cd "$repo"
cargo build --release --example ingest_corpus
timeout 1800 target/release/examples/ingest_corpus \
    --tools "$out/tools.jsonl" --report "$out/report.txt" --report-json "$out/report.json" \
    | tee "$out/summary.txt"
python3 "$repo/scripts/check-corpus-tools.py" "$out/tools.jsonl" "$out/report.json" --every "${CHECK_EVERY:-10}"
