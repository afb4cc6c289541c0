#!/usr/bin/env bash
# Cross-checks trainer's exports (base HF dir, PEFT adapter, merged HF dir) against transformers
# and peft: trainer writes the exports and its own logits (examples/export_check.rs), the peers'
# Python (scripts/setup-peers.sh) recomputes the logits and compares (scripts/check_export.py).
#
#   scripts/check-export.sh [OUT_DIR] [--no-smollm2]     # default OUT_DIR: target/export-check
#
# Exits non-zero when any max |delta| exceeds 1e-4.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/target/export-check"
extra=()
for a in "$@"; do
  case "$a" in
    --no-smollm2) extra+=("$a") ;;
    -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) out="$a" ;;
  esac
done
py="$(bash "$root/scripts/setup-peers.sh" | tail -n 1)"
cd "$root"
cargo run --quiet --example export_check -- "$out" "${extra[@]}"
"$py" "$root/scripts/check_export.py" "$out"
