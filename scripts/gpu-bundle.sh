#!/usr/bin/env bash
# Builds the GPU checks of issue #8 here (no GPU needed) and packs them for a GPU host without a
# network or a Rust toolchain: the CUDA test binaries and the bench_gpu example, xz-compressed
# into .gpu-bundle/ (git-ignored; ~13 MB per binary, so a few fit a 64 MiB transfer). Run them
# there with scripts/gpu-run.sh.
#
#   scripts/gpu-bundle.sh                       # every GPU test binary + bench_gpu
#   scripts/gpu-bundle.sh kernels_flash_attn gpu_parity   # a subset (test names, or bench_gpu)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
all=(kernels_rmsnorm kernels_rope kernels_masked_softmax kernels_selected_logsoftmax
  kernels_flash_attn gpu_parity bench_gpu)
names=("$@")
[[ ${#names[@]} -gt 0 ]] || names=("${all[@]}")
args=()
for n in "${names[@]}"; do
  case "$n" in
    bench_gpu) args+=(--example bench_gpu) ;;
    kernels_*|gpu_parity) args+=(--test "$n") ;;
    *) echo "gpu-bundle: unknown check '$n' (known: ${all[*]})" >&2; exit 2 ;;
  esac
done
scripts/build-cuda.sh "${args[@]}" >&2
target="${CARGO_TARGET_DIR:-$root/target/cuda}/release"
out="$root/.gpu-bundle"
rm -rf "$out"
mkdir -p "$out"
for n in "${names[@]}"; do
  if [[ "$n" == bench_gpu ]]; then
    bin="$target/examples/bench_gpu"
  else
    # The newest executable deps/<name>-<hash> (cargo keeps older builds beside it).
    bin="$(find "$target/deps" -maxdepth 1 -type f -name "$n-*" -perm -u+x -printf '%T@ %p\n' \
      | sort -n | tail -n 1 | cut -d' ' -f2-)"
  fi
  if [[ -z "$bin" || ! -x "$bin" ]]; then
    echo "gpu-bundle: no binary for $n under $target" >&2
    exit 1
  fi
  xz -T2 -6 -c "$bin" > "$out/$n.xz"
done
git rev-parse HEAD > "$out/COMMIT" 2>/dev/null || true
du -b "$out"/*.xz | awk '{printf "%-40s %6.1f MB\n", $2, $1 / 1e6; s += $1} END {printf "total %.1f MB\n", s / 1e6}'
