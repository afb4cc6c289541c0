#!/usr/bin/env bash
# One GRPO step, side by side (DESIGN.md §8): `trainer` vs a hand-written PyTorch+PEFT step vs TRL
# `GRPOTrainer`, on SmolLM2-135M-Instruct (GGUF dequantized to f32 by all): G = 8, prompt 64
# tokens, 64 new tokens (no stop), LoRA r = 8 on all 7 linear modules, 2 threads.
#
#   scripts/bench_grpo.sh [extra args for scripts/bench_grpo.py, e.g. --rounds 2 --reps 2]
#
# Builds the example in release mode, fetches the assets and the Python peers if needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
threads="${BENCH_THREADS:-2}"
export RAYON_NUM_THREADS="$threads"
cargo build --release --example bench_grpo >&2
bin="$root/target/release/examples/bench_grpo"
scripts/fetch-assets.sh >&2
python="$(scripts/setup-peers.sh | tail -n 1)"
gguf="${TRAINER_CACHE:-$root/.cache/assets}/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
exec "$python" scripts/bench_grpo.py --gguf "$gguf" --trainer-bin "$bin" --threads "$threads" "$@"
