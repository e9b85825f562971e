#!/usr/bin/env bash
# Trunk's post-build hook (Trunk.toml): builds the host's dashboard
# (host.html, its own WebAssembly) into the app's staging folder under
# host/, served at /host (under the app's public URL). One `trunk build`
# makes both pages, and no attendee's page downloads the host's code.
set -euo pipefail
# The host's own build runs this hook too: it has nothing to add.
[[ -n "${LOOPSCOPE_BUILDING_HOST:-}" ]] && exit 0
# A static site (scripts/build-site.sh) has no relay, so no dashboard.
[[ -n "${LOOPSCOPE_STATIC_SITE:-}" ]] && exit 0
# The arguments are kept as "$@", not in an array: bash 3.2 (macOS) calls
# an empty array unbound under `set -u`.
set -- --offline=true host.html
[[ "${TRUNK_PROFILE:-}" == release ]] && set -- --release "$@"
# The dashboard lives in host/ under the app's own public URL.
LOOPSCOPE_BUILDING_HOST=1 exec trunk build "$@" \
  --dist "$TRUNK_STAGING_DIR/host" --public-url "${TRUNK_PUBLIC_URL:-/}host/"
