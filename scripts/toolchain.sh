#!/usr/bin/env bash
# Installs what Loopscope's build and tests need, idempotently: each step is
# skipped when the right version is already there, so a warm machine pays
# nothing. Sourced by scripts/run.sh and scripts/test.sh; run it directly to
# install ahead of time (`scripts/toolchain.sh [--browser]`).
#
# Versions are pinned: wasm-bindgen-cli must equal the wasm-bindgen crate in
# Cargo.lock, Trunk 0.21.x is the last line that builds on rustc 1.95, and
# binaryen 132 is the wasm-opt Trunk.toml asks for.
#
# On a fresh machine the two Rust tools are compiled from source, at the
# same time (each alone leaves a core idle for much of its build), and each
# step says how long it usually takes and how long it took.
#
# Runs on Linux and on macOS: bash 3.2 (macOS's /bin/bash) and BSD tools,
# nothing GNU-only (tests/tests/scripts.rs checks). Only Debian's Chromium
# is installed with apt-get; elsewhere a missing tool is named with the
# command that installs it.

WASM_BINDGEN_VERSION=0.2.130
TRUNK_VERSION=0.21.14
BINARYEN_VERSION=132
LOOPSCOPE_TOOLS="${LOOPSCOPE_TOOLS:-$HOME/.cache/loopscope/tools}"

log() { printf '\033[1m[loopscope]\033[0m %s\n' "$*" >&2; }

# The command that installs a missing tool on this machine: Homebrew's
# formula $1 on macOS, Debian's package $2 elsewhere.
install_hint() {
  if [[ "$(uname -s)" == Darwin ]]; then
    printf 'brew install %s' "$1"
  else
    printf 'sudo apt-get install %s' "$2"
  fi
}

# Fails, saying how to install it, unless command $1 is on the PATH
# ($2 and $3 as for install_hint; a URL alone when $3 is empty).
require() {
  command -v "$1" >/dev/null && return 0
  local how
  if [[ -z "${3:-}" ]]; then how=$2; else how=$(install_hint "$2" "$3"); fi
  log "FAILED: this needs \`$1\`, which is missing: install it with \`$how\`"
  return 1
}

# "1m 05s" for 65 seconds.
duration() { printf '%dm %02ds' $(($1 / 60)) $(($1 % 60)); }

# Runs "$@" in the background with its output in a log file, saying every
# 30 s that it is still at work; on failure shows the log's end.
run_step() {
  local what=$1 expected=$2
  shift 2
  local started=$SECONDS output
  output=$(mktemp)
  log "$what (usually $expected)"
  "$@" >"$output" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if (((SECONDS - started) % 30 == 0)); then
      log "  … still $what: $(duration $((SECONDS - started))) so far"
    fi
  done
  if ! wait "$pid"; then
    log "FAILED: $what; the end of its output:"
    tail -n 30 "$output" >&2
    rm -f "$output"
    return 1
  fi
  rm -f "$output"
  log "  done: $what in $(duration $((SECONDS - started)))"
}

ensure_wasm_target() {
  require rustup "https://rustup.rs" || return 1
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    run_step "adding the wasm32-unknown-unknown target" "10 s" \
      rustup target add wasm32-unknown-unknown
  fi
}

# The two Mac targets the relay is checked for (no Mac links here: the
# check is of the code, and `cargo check` needs only their standard
# libraries).
MAC_TARGETS="aarch64-apple-darwin x86_64-apple-darwin"

ensure_mac_targets() {
  local installed target
  installed=$(rustup target list --installed)
  for target in $MAC_TARGETS; do
    if ! printf '%s\n' "$installed" | grep -qx "$target"; then
      run_step "adding the $target target (to check the relay builds for macOS)" "20 s" \
        rustup target add "$target"
    fi
  done
}

wasm_bindgen_ready() {
  [[ "$(wasm-bindgen --version 2>/dev/null)" == "wasm-bindgen $WASM_BINDGEN_VERSION" ]]
}

trunk_ready() {
  [[ "$(trunk --version 2>/dev/null)" == "trunk $TRUNK_VERSION" ]]
}

# Both tools are compiled unoptimised and without debug info: their work
# in a build takes a second or less either way, and they compile in a
# third of the time. Trunk also goes without its default features (a TLS
# stack and an update check the offline build never uses). Measured on 2
# cores: Trunk 3.5 min instead of 11, wasm-bindgen-cli 1.2 min instead of
# 3.5; a build of the app 15 s with them against 18 s with optimised ones
# (wasm-bindgen itself 0.8 s against 0.2 s).
install_trunk() {
  CARGO_PROFILE_DEV_DEBUG=0 cargo install trunk --locked --version "$TRUNK_VERSION" \
    --no-default-features --debug --force
}

install_wasm_bindgen() {
  CARGO_PROFILE_DEV_DEBUG=0 cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" \
    --debug --force
}

# Both Rust tools, compiled side by side when both are missing.
ensure_rust_tools() {
  if ! wasm_bindgen_ready && ! trunk_ready; then
    run_step "compiling Trunk $TRUNK_VERSION and wasm-bindgen-cli $WASM_BINDGEN_VERSION side by side (once)" \
      "4 min on 2 cores" install_both
  elif ! wasm_bindgen_ready; then
    run_step "compiling wasm-bindgen-cli $WASM_BINDGEN_VERSION (once)" "1.5 min" install_wasm_bindgen
  elif ! trunk_ready; then
    run_step "compiling Trunk $TRUNK_VERSION (once)" "3.5 min" install_trunk
  fi
}

install_both() {
  install_wasm_bindgen &
  local bindgen=$!
  install_trunk
  wait "$bindgen"
}

WASM_OPT_BIN="$LOOPSCOPE_TOOLS/node_modules/.bin"

ensure_wasm_opt() {
  if [[ "$("$WASM_OPT_BIN/wasm-opt" --version 2>/dev/null)" != *"version $BINARYEN_VERSION"* ]]; then
    require npm node npm || return 1
    mkdir -p "$LOOPSCOPE_TOOLS"
    run_step "installing wasm-opt (binaryen $BINARYEN_VERSION from npm)" "20 s" \
      npm install --prefix "$LOOPSCOPE_TOOLS" --no-audit --no-fund "binaryen@$BINARYEN_VERSION"
  fi
}

# The browser tests drive Debian's Chromium: installed with apt-get on
# Linux; on macOS (where the relay and the app run, but the test command
# does not) the missing pair is named.
ensure_browser() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [[ "$(uname -s)" == Darwin ]]; then
      log "FAILED: the browser tests need \`chromium\` and \`chromedriver\` on the PATH; the test command runs on Linux (the relay and the app run on macOS: scripts/run.sh)"
      return 1
    fi
    local sudo=""
    [[ $(id -u) -eq 0 ]] || sudo=sudo
    run_step "installing Debian's chromium and chromium-driver" "1 min" \
      bash -c "$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver"
  fi
}

ensure_web_toolchain() {
  export PATH="$WASM_OPT_BIN:$HOME/.cargo/bin:$PATH"
  require cargo "https://rustup.rs" || return 1
  # The two downloads go on while the tools compile.
  ensure_wasm_target &
  local target=$!
  ensure_wasm_opt &
  local wasm_opt=$!
  ensure_rust_tools
  wait "$target"
  wait "$wasm_opt"
}

# The files the app is built from: a change to any of them rebuilds it.
APP_INPUTS=(frontend sim protocol runfile index.html host.html scripts/build-host.sh Trunk.toml
  Cargo.toml Cargo.lock)

# Whether file $1 exists and is newer than every file the app is built from.
built_from_inputs() {
  [[ -f "$1" ]] && [[ -z "$(find "${APP_INPUTS[@]}" scripts/build-site.sh -newer "$1" -print -quit 2>/dev/null)" ]]
}

# Builds the app (release wasm) into dist/, and the host's dashboard into
# dist/host/ (Trunk's hook, scripts/build-host.sh), unless dist/ is newer
# than every file they are built from; Trunk rewrites dist/ even when
# nothing changed, and a rewritten dist/ makes Cargo rebuild the relay that
# embeds it.
build_app() {
  if [[ -f dist/host/index.html ]] && built_from_inputs dist/index.html; then
    log "the app in dist/ is up to date"
    return
  fi
  run_step "building the app (release wasm) into dist/" "1 min warm, 3 min cold" \
    trunk build --release --offline
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  set -euo pipefail
  ensure_web_toolchain
  [[ "${1:-}" == "--browser" ]] && ensure_browser
  log "ready: $(wasm-bindgen --version), $(trunk --version), $(wasm-opt --version)"
fi
