#!/usr/bin/env bash
# Installs what Loopscope's build and tests need, idempotently: each step is
# skipped when the right version is already there, so a warm machine pays
# nothing. Sourced by scripts/run.sh and scripts/test.sh; run it directly to
# install ahead of time (`scripts/toolchain.sh [--browser]`).
#
# Versions are pinned: wasm-bindgen-cli must equal the wasm-bindgen crate in
# Cargo.lock, Trunk 0.21.x is the last line that builds on rustc 1.95, and
# binaryen 132 is the wasm-opt Trunk.toml asks for.

WASM_BINDGEN_VERSION=0.2.130
TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132
LOOPSCOPE_TOOLS="${LOOPSCOPE_TOOLS:-$HOME/.cache/loopscope/tools}"

log() { printf '\033[1m[toolchain]\033[0m %s\n' "$*" >&2; }

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    log "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_wasm_bindgen() {
  if [[ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]]; then
    log "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (a few minutes, once)"
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
  fi
}

ensure_trunk() {
  if [[ "$(trunk --version 2>/dev/null)" != "trunk $TRUNK_VERSION" ]]; then
    log "installing trunk $TRUNK_VERSION (about ten minutes, once)"
    cargo install trunk --locked --version "$TRUNK_VERSION" --force
  fi
}

ensure_wasm_opt() {
  local bin="$LOOPSCOPE_TOOLS/node_modules/.bin"
  if [[ "$("$bin/wasm-opt" --version 2>/dev/null)" != *"version $BINARYEN_VERSION"* ]]; then
    log "installing wasm-opt (binaryen $BINARYEN_VERSION from npm)"
    mkdir -p "$LOOPSCOPE_TOOLS"
    npm install --prefix "$LOOPSCOPE_TOOLS" --no-audit --no-fund "binaryen@$BINARYEN_VERSION" >&2
  fi
  export PATH="$bin:$PATH"
}

ensure_browser() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    log "installing Debian's chromium and chromium-driver"
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >&2
  fi
}

ensure_web_toolchain() {
  export PATH="$HOME/.cargo/bin:$PATH"
  ensure_wasm_target
  ensure_wasm_bindgen
  ensure_trunk
  ensure_wasm_opt
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  ensure_web_toolchain
  [[ "${1:-}" == "--browser" ]] && ensure_browser
  log "ready: $(wasm-bindgen --version), $(trunk --version), $(wasm-opt --version)"
fi
