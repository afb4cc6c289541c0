#!/usr/bin/env bash
# Creates the Python environment of the reference implementations ("peers") used by the parity
# checks and side-by-side benchmarks: PyTorch (CPU), transformers, peft, TRL, gguf.
# Installs into $TRAINER_CACHE/venv-peers (default .cache/venv-peers); idempotent.
# Prints the path of the venv's python on the last line.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TRAINER_CACHE:-$root/.cache}"
venv="$cache/venv-peers"
stamp="$venv/.installed-v1"
pkgs=(torch==2.15.0 transformers==5.23.0 peft==0.21.2 trl==1.16.0 safetensors numpy gguf psutil)
if [[ ! -f "$stamp" ]]; then
  mkdir -p "$cache"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip >&2
  echo "installing ${pkgs[*]} into $venv (torch is a large download; a few minutes)" >&2
  "$venv/bin/python" -m pip install --quiet "${pkgs[@]}" >&2 || {
    echo "error: could not install the Python peers (is PyPI reachable?)" >&2; exit 1; }
  touch "$stamp"
fi
echo "$venv/bin/python"
