#!/usr/bin/env bash
# Compiles every kernels/*.cu with the real nvcc to PTX for each target and assembles it with
# ptxas for that GPU and every newer one listed (as the driver's JIT would), without a GPU: proves the kernels build as the `cuda` feature builds them, and
# reports registers, shared memory and spills per kernel. Fails on any compile error and on any
# spill (a spilled kernel is slow and should be restructured).
#
# nvcc: a system toolkit when one is found, else the wheel toolkit of scripts/build-cuda.sh when
# it is installed, else only the compiler wheels of scripts/cuda-wheels.txt (~100 MB download)
# into .cache/cuda-toolkit/compiler-cu13.0.
#
# Usage: scripts/check-kernels.sh [sm ...]   (default: 80 90 — A100, H100/H200)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
NICE="${NICE:-nice -n 19}"
archs=("$@")
[[ ${#archs[@]} -gt 0 ]] || archs=(80 90)

find_nvcc() {
  if [[ "${CUDA_FROM_WHEELS:-0}" != 1 ]]; then
    if [[ -n "${CUDA_HOME:-}" && -x "$CUDA_HOME/bin/nvcc" ]]; then echo "$CUDA_HOME/bin/nvcc"; return; fi
    if command -v nvcc >/dev/null 2>&1; then command -v nvcc; return; fi
    if [[ -x /usr/local/cuda/bin/nvcc ]]; then echo /usr/local/cuda/bin/nvcc; return; fi
  fi
  local full="$root/.cache/cuda-toolkit/cu13.0/nvidia/cu13/bin/nvcc"
  if [[ -x "$full" ]]; then echo "$full"; return; fi
  local prefix="$root/.cache/cuda-toolkit/compiler-cu13.0"
  local wheels
  mapfile -t wheels < <(grep -v '^#' scripts/cuda-wheels.txt | awk '$2 == "compiler" {print $1}')
  if [[ ! -f "$prefix/.installed" ]] || [[ "$(cat "$prefix/.installed")" != "${wheels[*]}" ]]; then
    rm -rf "$prefix"
    mkdir -p "$prefix"
    $NICE python3 -m pip install --quiet --disable-pip-version-check --no-deps --target "$prefix" \
      "${wheels[@]}" >&2
    printf '%s' "${wheels[*]}" > "$prefix/.installed"
  fi
  echo "$prefix/nvidia/cu13/bin/nvcc"
}

nvcc="$(find_nvcc)"
ptxas="$(dirname "$nvcc")/ptxas"
echo "nvcc: $nvcc ($("$nvcc" --version | tail -n 1))"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
status=0
printf '%-34s %5s %5s %5s %6s %6s\n' kernel ptx sm regs smem spill
for cu in kernels/*.cu; do
  stem="$(basename "$cu" .cu)"
  for ptx_cap in "${archs[@]}"; do
    ptx="$out/$stem.$ptx_cap.ptx"
    # The same flags as build.rs.
    if ! $NICE "$nvcc" --ptx -O3 -std=c++17 "-arch=compute_$ptx_cap" -o "$ptx" "$cu" 2> "$out/err"; then
      echo "FAIL: nvcc $cu (compute_$ptx_cap):"; cat "$out/err"; status=1; continue
    fi
    # Assemble for this GPU and every newer one listed: the driver JIT-compiles compute_80 PTX
    # (build.rs's default) for an H100 the same way.
    for sm in "${archs[@]}"; do
      (( sm >= ptx_cap )) || continue
      if ! $NICE "$ptxas" "-arch=sm_$sm" -v -o "$out/$stem.cubin" "$ptx" 2> "$out/info"; then
        echo "FAIL: ptxas $cu (compute_$ptx_cap → sm_$sm):"; cat "$out/info"; status=1; continue
      fi
      # ptxas -v prints, per kernel: "Compiling entry function 'NAME'", then "N bytes spill
      # stores, M bytes spill loads", then "Used R registers, ... S bytes smem".
      awk -v ptx="$ptx_cap" -v sm="$sm" '
        /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/); name = substr($0, RSTART + 1, RLENGTH - 2); spill = 0; smem = 0 }
        /spill stores/ { for (i = 1; i <= NF; i++) if ($(i+1) == "bytes" && $(i+2) == "spill" && $(i+3) == "stores,") spill = $i }
        /Used [0-9]+ registers/ {
          for (i = 1; i <= NF; i++) { if ($(i+1) == "registers,") regs = $i; if ($(i+1) == "bytes" && $(i+2) ~ /^smem/) smem = $i }
          printf "%-34s %5s %5s %5s %6s %6s\n", name, ptx, sm, regs, smem, spill
          if (spill + 0 > 0) bad = 1
        }
        END { exit bad }' "$out/info" || { echo "FAIL: $cu spills registers (compute_$ptx_cap → sm_$sm)"; status=1; }
    done
  done
done
[[ $status -eq 0 ]] && echo "kernels check: OK (${archs[*]})"
exit $status
