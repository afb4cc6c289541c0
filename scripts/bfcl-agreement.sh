#!/usr/bin/env bash
# Agreement of the Rust BFCL scorer with the official evaluator
# (bfcl-eval==2026.3.23), entry by entry, plus a timing comparison.
#
#   scripts/bfcl-agreement.sh [--write-fixtures] [extra args for bfcl_agreement.py]
#
# Creates .bfcl-venv (official evaluator, installed as bfcl-rules.md §3 says)
# on first use, fetches the data (scripts/fetch-bfcl.sh), builds `trainer`
# (its `bfcl score` subcommand is the Rust scorer), then runs scripts/bfcl_agreement.py.  Needs network to PyPI
# the first time only.  --write-fixtures refreshes tests/fixtures/bfcl/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
venv="$repo/.bfcl-venv"

if [[ ! -x "$venv/bin/bfcl" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -U pip
  "$venv/bin/pip" download -q --no-deps bfcl-eval==2026.3.23 -d "$repo/.bfcl-wheel"
  "$venv/bin/pip" install -q --no-deps "$repo/.bfcl-wheel/bfcl_eval-2026.3.23-py3-none-any.whl"
  "$venv/bin/pip" install -q requests tqdm numpy==1.26.4 pandas huggingface_hub "pydantic>=2.8.2" \
    "python-dotenv>=1.0.1" tree_sitter==0.21.3 tree-sitter-java==0.21.0 tree-sitter-javascript==0.21.4 \
    "openai>=1.86.0" mistralai==1.7.0 "anthropic>=0.75.0" cohere==5.18.0 "typer>=0.12.5" \
    "tabulate>=0.9.0" datamodel-code-generator==0.25.7 "google-genai>=1.52.0" qwen-agent mpmath==1.3.0 \
    "tenacity>=8.5.0" "writer-sdk>=2.1.0" overrides boto3 beautifulsoup4 html2text rank_bm25==0.2.2 \
    google-search-results networkx==3.3 filelock==3.20.0 soundfile
fi

"$repo/scripts/fetch-bfcl.sh"
cargo build --release --bin trainer

args=(--rust-bin "$repo/target/release/trainer")
for a in "$@"; do
  if [[ "$a" == "--write-fixtures" ]]; then
    args+=(--write-fixtures "$repo/tests/fixtures/bfcl")
  else
    args+=("$a")
  fi
done
export BFCL_PROJECT_ROOT="$repo/.bfcl-work/bfcl-root"
"$venv/bin/python" "$repo/scripts/bfcl_agreement.py" "${args[@]}"

# Timing on the ground-truth replay (prompting profile, 13 single-turn categories):
# the official CLI end to end versus the Rust scorer end to end.
root="$repo/.bfcl-work/prompting/round00"
cats="simple_python,simple_java,simple_javascript,multiple,parallel,parallel_multiple,irrelevance,live_simple,live_multiple,live_parallel,live_parallel_multiple,live_irrelevance,live_relevance"
rm -rf "$root/timing_official" "$root/timing_rust"
t0=$(date +%s.%N)
"$venv/bin/bfcl" evaluate --model Qwen/Qwen3-8B --test-category "$cats" \
  --result-dir "$root/result" --score-dir "$root/timing_official" > /dev/null 2>&1
t1=$(date +%s.%N)
"$repo/target/release/trainer" bfcl score --model Qwen/Qwen3-8B --category "$cats" \
  --result-dir "$root/result" --score-dir "$root/timing_rust" \
  --data "${TRAINER_CACHE:-$repo/.cache/assets}/bfcl/data" > /dev/null
t2=$(date +%s.%N)
python3 - "$t0" "$t1" "$t2" <<'PY'
import sys
t0, t1, t2 = map(float, sys.argv[1:])
print(f"timing (GT replay, single-turn categories): official CLI {t1 - t0:.2f}s, rust {t2 - t1:.2f}s, ratio {(t1 - t0) / (t2 - t1):.0f}x")
PY
