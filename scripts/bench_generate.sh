#!/usr/bin/env bash
# Generation throughput: `trainer` engine vs HF transformers `generate`, side by side (DESIGN.md §8).
# SmolLM2-135M-Instruct (GGUF, dequantized to f32 by both), batch 8, prompt 64, 64 new tokens,
# temperature 1.0 sampling with no stop, KV cache, 2 threads.
#
#   scripts/bench_generate.sh [extra args for scripts/bench_generate.py, e.g. --rounds 3 --reps 2]
#
# Builds the example in release mode, fetches the assets and the Python peers if needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
threads="${BENCH_THREADS:-2}"
export RAYON_NUM_THREADS="$threads"
cargo build --release --example bench_generate >&2
bin="$root/target/release/examples/bench_generate"
scripts/fetch-assets.sh >&2
python="$(scripts/setup-peers.sh | tail -n 1)"
gguf="${TRAINER_CACHE:-$root/.cache/assets}/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
exec "$python" scripts/bench_generate.py --gguf "$gguf" --trainer-bin "$bin" --threads "$threads" "$@"
