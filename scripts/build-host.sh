#!/usr/bin/env bash
# Trunk's post-build hook (Trunk.toml): builds the host's dashboard
# (host.html, its own WebAssembly) into the app's staging folder under
# host/, served at /host. One `trunk build` makes both pages, and no
# attendee's page downloads the host's code.
set -euo pipefail
# The host's own build runs this hook too: it has nothing to add.
[[ -n "${LOOPSCOPE_BUILDING_HOST:-}" ]] && exit 0
profile=()
[[ "${TRUNK_PROFILE:-}" == release ]] && profile=(--release)
LOOPSCOPE_BUILDING_HOST=1 exec trunk build "${profile[@]}" --offline=true host.html \
  --dist "$TRUNK_STAGING_DIR/host" --public-url /host/
