#!/usr/bin/env bash
# Builds Loopscope (release) and starts the relay, which serves the app:
# open the address it prints. Installs the wasm toolchain first when missing.
# Arguments go to the relay (see `scripts/run.sh --help`), e.g.
#   scripts/run.sh --bind 192.168.1.20:8080     # a workshop on the LAN
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh
ensure_web_toolchain

build_app
# Cargo rebuilds only what changed: a second or so when nothing did.
run_step "building the relay (release, with the app embedded)" "a second warm, 2 min cold" \
  cargo build --release --locked -p loopscope-relay

exec target/release/relay "$@"
