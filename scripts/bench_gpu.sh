#!/usr/bin/env bash
# Generation tokens/s, decode tokens/s vs the memory-bandwidth roofline, and GRPO step time of
# `trainer` vs PyTorch+transformers+PEFT on the same device (see scripts/bench_gpu.py):
# SmolLM2-135M-Instruct and a random-init Qwen2.5-0.5B-shaped model, bf16 on the GPU.
#
#   scripts/bench_gpu.sh [--device cuda|cuda:N] [extra args for scripts/bench_gpu.py]
#   scripts/bench_gpu.sh --device cpu     # tiny shapes: checks the script logic, not a benchmark
#
# GPU: builds the example with scripts/build-cuda.sh (CUDA 13 wheels when no toolkit is installed)
# and runs it with the wheels' libraries on LD_LIBRARY_PATH (the driver's libcuda.so.1 comes from
# the host). CPU: a plain build (BENCH_PROFILE=dev for a quicker debug-profile build).
# Fetches the assets and the Python peers (.cache/venv-peers) if needed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
device=cuda
prev=""
for a in "$@"; do
  if [[ "$prev" == "--device" ]]; then device="$a"; fi
  case "$a" in --device=*) device="${a#--device=}" ;; esac
  prev="$a"
done
threads="${BENCH_THREADS:-$(nproc)}"
export RAYON_NUM_THREADS="$threads"
if [[ "$device" == cpu ]]; then
  profile="${BENCH_PROFILE:-release}"
  cargo build --profile "$profile" --example bench_gpu >&2
  dir="$profile"; [[ "$profile" == dev ]] && dir=debug
  bin="$root/target/$dir/examples/bench_gpu"
else
  scripts/build-cuda.sh --example bench_gpu >&2
  bin="${CARGO_TARGET_DIR:-$root/target/cuda}/release/examples/bench_gpu"
  lib="${TRAINER_CACHE:-$root/.cache}/cuda-toolkit/cu13.0/nvidia/cu13/lib"
  if [[ -d "$lib" ]]; then export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"; fi
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >&2
fi
scripts/fetch-assets.sh >&2
python="$(scripts/setup-peers.sh | tail -n 1)"
gguf="${TRAINER_CACHE:-$root/.cache/assets}/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" >&2
exec "$python" scripts/bench_gpu.py --gguf "$gguf" --trainer-bin "$bin" --threads "$threads" "$@"
