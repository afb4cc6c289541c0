#!/usr/bin/env bash
# One GRPO step of the `trainer` on SmolLM2-135M-Instruct (GGUF dequantized to f32): G = 8,
# prompt 64 tokens, 64 new tokens (no stop), LoRA r = 8 on all 7 linear modules, 2 threads.
# Prints JSON lines (DESIGN.md §8). The PyTorch+PEFT / TRL peers (scripts/bench_grpo.py) are not
# written yet.
#
#   scripts/bench_grpo.sh [--reps N]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
threads="${BENCH_THREADS:-2}"
export RAYON_NUM_THREADS="$threads"
cargo build --release --example bench_grpo >&2
scripts/fetch-assets.sh >&2
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
exec "$root/target/release/examples/bench_grpo" "$@"
