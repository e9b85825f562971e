#!/usr/bin/env bash
# Builds Loopscope (release) and starts the relay, which serves the app:
# open the address it prints. Installs the wasm toolchain first when missing.
# Arguments go to the relay (see `scripts/run.sh --help`), e.g.
#   scripts/run.sh --bind 192.168.1.20:8080     # a workshop on the LAN
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh
ensure_web_toolchain

log "building the app (release wasm) into dist/"
trunk build --release --offline
log "building the relay (release, with the app embedded)"
cargo build --release --locked -p loopscope-relay

exec target/release/relay "$@"
