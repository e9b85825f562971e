#!/usr/bin/env bash
# Runs the test command (scripts/test.sh) several times in a row while one
# core is kept busy by another process, and reports each run's counts: the
# proof that the tests hold on a loaded machine, where a test that waits for
# a passing state or asserts a rate would fail now and then.
#
#   scripts/soak-tests.sh [RUNS]        (3 by default)
#
# The busy process is a shell loop at the same priority as the tests
# (nice 0), on for the whole soak. Each run's output is kept in a log
# folder, named at the end; a run that hangs is ended after 45 minutes
# (LOOPSCOPE_SOAK_RUN_LIMIT_S). Exits non-zero unless every run was green.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
# A run that takes longer than this has hung: it is ended and counted red.
RUN_LIMIT_S=${LOOPSCOPE_SOAK_RUN_LIMIT_S:-2700}
logs=$(mktemp -d "${TMPDIR:-/tmp}/loopscope-soak.XXXXXX")

log() { printf '\033[1m[loopscope soak]\033[0m %s\n' "$*" >&2; }

nice -n 0 sh -c 'while :; do :; done' &
busy=$!
trap 'kill "$busy" 2>/dev/null || true' EXIT
log "one core kept busy by process $busy; $runs runs of scripts/test.sh; logs in $logs"

green=0
summary=()
for ((run = 1; run <= runs; run++)); do
  started=$SECONDS
  # Its own process group, so that a run that hangs past the limit is
  # ended whole (cargo, the test binaries, their browsers).
  setsid scripts/test.sh >"$logs/run-$run.log" 2>&1 &
  tests=$!
  (sleep "$RUN_LIMIT_S" && kill -TERM -- "-$tests" 2>/dev/null) &
  watchdog=$!
  if wait "$tests"; then
    verdict=green
    green=$((green + 1))
  else
    verdict=RED
  fi
  kill "$watchdog" 2>/dev/null || true
  counts=$(grep -E '^all tests:' "$logs/run-$run.log" | tail -n 1 || true)
  line="run $run: $verdict, ${counts:-no closing line}, $((SECONDS - started)) s"
  summary+=("$line")
  log "$line"
  if [[ $verdict == RED ]]; then
    grep -E '^test .* FAILED$|^---- .* stdout ----$|panicked at|gave up' "$logs/run-$run.log" |
      head -n 20 >&2 || true
  fi
done

printf '\nsoak: %d of %d runs green with one core busy\n' "$green" "$runs"
printf '  %s\n' "${summary[@]}"
printf '  logs: %s\n' "$logs"
((green == runs))
