#!/usr/bin/env bash
# Fetches the BFCL v4 data (Apache-2.0) from the official PyPI wheel
# bfcl-eval==2026.3.23 into ${TRAINER_CACHE:-<repo>/.cache/assets}/bfcl/data/.
# Idempotent: does nothing when the data is already in place. Safe to run concurrently (tests run
# it from parallel threads): one run installs under a lock, the others wait and find it installed.
# BFCL data is an evaluation benchmark: never use it for training.
set -euo pipefail

VERSION="2026.3.23"
WHEEL="bfcl_eval-${VERSION}-py3-none-any.whl"
SHA256="3bb6dfa5f0c68ad403c9ec50b00db2bb3b4cc9b38ab1ff33f48fe30d853d3a0a"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TRAINER_CACHE:-$repo/.cache/assets}"
dest="$cache/bfcl/data"
stamp="$dest/.bfcl-eval-$VERSION"

if [[ -f "$stamp" ]]; then
  echo "BFCL data already present in $dest"
  exit 0
fi

mkdir -p "$cache/bfcl"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/bfcl/.lock"
  flock 9
else
  # No flock (e.g. macOS): a directory as the lock (mkdir is atomic); a stale one (> 10 min,
  # left by a killed run) is taken over.
  lockdir="$cache/bfcl/.lockdir"
  until mkdir "$lockdir" 2>/dev/null; do
    if [[ -n "$(find "$lockdir" -maxdepth 0 -mmin +10 2>/dev/null)" ]]; then
      rmdir "$lockdir" 2>/dev/null || true
    fi
    sleep 1
  done
  trap 'rmdir "$lockdir" 2>/dev/null || true' EXIT   # replaced below, keeping this
fi
if [[ -f "$stamp" ]]; then
  echo "BFCL data already present in $dest (installed by a concurrent run)"
  exit 0
fi

work="$cache/bfcl/.download"
mkdir -p "$work"
if [[ ! -f "$work/$WHEEL" ]] || ! echo "$SHA256  $work/$WHEEL" | sha256sum -c --quiet - 2>/dev/null; then
  rm -f "$work/$WHEEL"
  python3 -m pip download --quiet --no-deps "bfcl-eval==$VERSION" -d "$work"
fi
echo "$SHA256  $work/$WHEEL" | sha256sum -c --quiet - || {
  echo "sha256 mismatch for $WHEEL" >&2
  exit 1
}

tmp="$(mktemp -d "$cache/bfcl/.unpack.XXXXXX")"
trap 'rm -rf "$tmp"; if [[ -n "${lockdir:-}" ]]; then rmdir "$lockdir" 2>/dev/null || true; fi' EXIT
python3 - "$work/$WHEEL" "$tmp" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.startswith("bfcl_eval/data/") and not m.endswith("/")]
    if not members:
        sys.exit("no bfcl_eval/data/ in the wheel")
    z.extractall(out, members)
PY
rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
mv "$tmp/bfcl_eval/data" "$dest"
touch "$stamp"
echo "BFCL data ($VERSION) installed in $dest"
