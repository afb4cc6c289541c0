#!/usr/bin/env bash
# Runs the GPU checks of issue #8 on a GPU host from a bundle built elsewhere
# (scripts/gpu-bundle.sh): each CUDA test binary with its ignored (GPU) tests, then, when
# bench_gpu is in the bundle, the Qwen2.5-32B-shaped GRPO step whose peak device memory is
# compared with the memory plan. Logs go to $OUT (or gpu-results/); exits non-zero if any check
# failed.
#
#   scripts/gpu-run.sh [bundle dir]        # default .gpu-bundle
#
# CUDA libraries (cuBLAS, cuRAND, cudart; the driver brings libcuda.so.1): $CUDA_LIBS, else the
# wheel toolkit of scripts/build-cuda.sh, else the nvidia/cu13/lib of an installed PyTorch.
# 32B step shape: GPU_RUN_PROMPT / GPU_RUN_NEW (tokens, default 1024 / 1024), GPU_RUN_G
# (generations, default 8). GPU_RUN_FLASH=1 repeats the 32B step with flash attention forced
# (`TRAINER_FLASH_ATTENTION=1`: tensor-core kernels, no T x T scores) into peak32b-flash.*, for
# its speed and peak against the default (materialized scores below 2^28 per layer). Stops at once
# when the NVIDIA driver is older than 580 (CUDA 13.0 code; GPU_RUN_SKIP_DRIVER_CHECK=1 skips).
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bundle="${1:-.gpu-bundle}"
out="${OUT:-gpu-results}"
mkdir -p "$out"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

libs="${CUDA_LIBS:-}"
if [[ -z "$libs" && -d .cache/cuda-toolkit/cu13.0/nvidia/cu13/lib ]]; then
  libs="$root/.cache/cuda-toolkit/cu13.0/nvidia/cu13/lib"
fi
if [[ -z "$libs" ]]; then
  libs="$(python3 -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "lib"))' 2>/dev/null || true)"
  [[ -d "$libs" ]] || libs=""
fi
if [[ -n "$libs" ]]; then
  export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
else
  echo "gpu-run: no CUDA library directory found (set CUDA_LIBS)" >&2
fi
{
  echo "commit: $(cat "$bundle/COMMIT" 2>/dev/null || echo unknown)"
  echo "libs: ${libs:-none}"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "no nvidia-smi"
} | tee "$out/env.txt"

# CUDA 13.0 code (the kernels' PTX, candle's, cuBLAS 13) needs driver >= 580: stop here with one
# clear message rather than let every binary fail the same way (GPU_RUN_SKIP_DRIVER_CHECK=1 skips).
driver="$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 || true)"
if [[ "${GPU_RUN_SKIP_DRIVER_CHECK:-0}" != 1 ]]; then
  major="${driver%%.*}"
  if [[ ! "$major" =~ ^[0-9]+$ ]]; then
    echo "gpu-run: cannot read the NVIDIA driver version (nvidia-smi: '${driver}'); is this a GPU host?" >&2
    exit 2
  fi
  if (( major < 580 )); then
    echo "gpu-run: NVIDIA driver $driver is older than 580, which CUDA 13.0 code needs;" \
      "update the driver or build with a CUDA 12 toolkit (scripts/build-cuda.sh uses a system one)" >&2
    exit 2
  fi
fi

status=0
for xzf in "$bundle"/*.xz; do
  [[ -e "$xzf" ]] || { echo "gpu-run: empty bundle $bundle" >&2; exit 2; }
  name="$(basename "$xzf" .xz)"
  xz -dc "$xzf" > "$work/$name" && chmod +x "$work/$name"
  if [[ "$name" == bench_gpu ]]; then
    prompt="${GPU_RUN_PROMPT:-1024}"; new="${GPU_RUN_NEW:-1024}"; g="${GPU_RUN_G:-8}"
    variants=(default)
    [[ "${GPU_RUN_FLASH:-0}" == 1 ]] && variants+=(flash)
    rc=0
    for variant in "${variants[@]}"; do
      tag=peak32b; flash=""
      [[ $variant == flash ]] && { tag=peak32b-flash; flash=1; }
      echo "== bench_gpu: Qwen2.5-32B shape, GRPO step, $g × ($prompt + $new) tokens ($variant)"
      TRAINER_FLASH_ATTENTION="${flash:-${TRAINER_FLASH_ATTENTION:-auto}}" "$work/$name" \
        --device cuda --dtype bf16 --model-name qwen2.5-32b \
        --hf-config tests/fixtures/plan/qwen2.5-32b/config.json --benches grpo --reps 1 \
        --checkpointing --micro-batch 1 --generations "$g" --prompt-len "$prompt" \
        --new-tokens "$new" > "$out/$tag.jsonl" 2> "$out/$tag.err" || rc=$?
      python3 - "$out/$tag.jsonl" <<'PY' || true
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("bench") == "grpo":
        print(f"rep {r['rep']}: step {r['step_s']:.1f} s, GPU peak {r.get('gpu_peak_gib', float('nan')):.2f} GiB"
              f" (before load {r.get('gpu_base_gib', float('nan')):.2f}), plan {r['plan_total_gib']:.2f} GiB")
PY
    done
  else
    echo "== $name --ignored"
    "$work/$name" --ignored --test-threads 1 > "$out/$name.log" 2>&1
    rc=$?
    grep -E "^test |test result" "$out/$name.log"
  fi
  [[ $rc -eq 0 ]] || { echo "FAILED: $name (exit $rc; see $out)"; status=1; }
done
exit $status
