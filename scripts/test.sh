#!/usr/bin/env bash
# Runs every Loopscope test: formatting and lints (the relay's also for
# both macOS targets), the native unit and integration tests (protocol;
# simulator, its Python listings under python3; relay over real sockets;
# the app's reducer; the host scripts' portability), the end-to-end tests
# in a real headless Chromium, and the simulator compiled to wasm in that
# Chromium.
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

log "checking that the relay builds for macOS, with its lints"
ensure_mac_targets
for target in $MAC_TARGETS; do
  cargo clippy -p loopscope-relay --all-targets --locked --quiet --target "$target" -- -D warnings
done

build_app
# The static site that tests/tests/site_in_browser.rs serves under a sub-path.
if built_from_inputs target/loopscope-site/index.html; then
  log "the static site in target/loopscope-site/ is up to date"
else
  scripts/build-site.sh /loopscope/ target/loopscope-site
fi

log "running the tests"
results=$(mktemp)
trap 'rm -f "$results"' EXIT
# Every test binary runs even when one fails (--no-fail-fast), so a red run
# still tells what passed; the script fails at the end if anything did.
failed_steps=()
cargo test --workspace --locked --no-fail-fast "$@" 2>&1 | tee "$results" ||
  failed_steps+=("cargo test --workspace")

log "running the simulator in headless Chromium (wasm-bindgen-test)"
# sim/webdriver.json gives Chromium the flags this machine needs.
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
CHROMEDRIVER="$(command -v chromedriver)" \
  cargo test -p loopscope-sim --target wasm32-unknown-unknown --test wasm --locked 2>&1 |
  tee -a "$results" || failed_steps+=("the simulator in Chromium")

# One closing line for the whole run (cargo prints one per test binary); a
# binary that could not build or died before its summary is named, since
# its tests are in no count.
awk '/^ +(Running|Doc-tests) / { binaries += 1 }
     /^test result:/ { passed += $4; failed += $6; summaries += 1 }
     END {
       if (summaries < binaries)
         printf "\n%d test binaries ended without a summary (their tests are in no count)\n",
           binaries - summaries
       printf "\nall tests: %d passed, %d failed\n", passed, failed
     }' "$results"
if ((${#failed_steps[@]})); then
  grep -E '^error: (test failed|[0-9]+ targets? failed|could not compile)|^    `' "$results" >&2 || true
  log "FAILED: ${failed_steps[*]}"
  exit 1
fi
