#!/usr/bin/env bash
# Runs every Loopscope test: formatting and lints, the native unit and
# integration tests (protocol; simulator, its Python listings under python3;
# relay over real sockets; the app's reducer), the end-to-end tests in a real
# headless Chromium, and the simulator compiled to wasm in that Chromium.
#
# Installs what it needs first (the wasm toolchain, Chromium and ChromeDriver)
# and builds the app with Trunk, which the browser tests load from the relay.
# Extra arguments go to `cargo test` (e.g. `scripts/test.sh -- --nocapture`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/toolchain.sh
ensure_web_toolchain
ensure_browser

log "checking formatting and lints"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked --quiet -- -D warnings

build_app

log "running the tests"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
cargo test --workspace --locked "$@" 2>&1 | tee "$results"

log "running the simulator in headless Chromium (wasm-bindgen-test)"
# sim/webdriver.json gives Chromium the flags this machine needs.
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
CHROMEDRIVER="$(command -v chromedriver)" \
  cargo test -p loopscope-sim --target wasm32-unknown-unknown --test wasm --locked 2>&1 | tee -a "$results"
# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { passed += $4; failed += $6 }
     END { printf "\nall tests: %d passed, %d failed\n", passed, failed }' "$results"
