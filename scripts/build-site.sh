#!/usr/bin/env bash
# Builds the playground as a static site: a folder to copy to any static
# host (GitHub Pages, a university web space, `python3 -m http.server`).
# The simulation, the lesson, saved runs and time travel all run in the
# visitor's browser; the page knows that no relay comes with it, asks for
# none, and says how to get live labs. The host's dashboard is left out.
#
#   scripts/build-site.sh [PUBLIC_URL] [FOLDER]
#
# PUBLIC_URL is the path the site will be served under (default `/`; e.g.
# `/loopscope/` for https://you.github.io/loopscope/), FOLDER where it is
# written (default `site/`). Installs the wasm toolchain first when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
public_url=${1:-/}
folder=${2:-site}
case "$public_url" in
  /*) ;;
  *)
    printf 'the public URL is a path from the site root, such as /loopscope/ (got %s)\n' "$public_url" >&2
    exit 2
    ;;
esac
case "$public_url" in
  */) ;;
  *) public_url="$public_url/" ;;
esac
# Trunk empties the folder it builds into: only a new one or an earlier
# site is written over.
if [[ -e "$folder" && ! -f "$folder/index.html" ]]; then
  printf '%s exists and is not a site built here: name another folder\n' "$folder" >&2
  exit 2
fi
source scripts/toolchain.sh
ensure_web_toolchain

run_step "building the static site for $public_url into $folder/" "1 min warm, 3 min cold" \
  env LOOPSCOPE_STATIC_SITE=1 trunk build --release --offline --public-url "$public_url" --dist "$folder"

# The page's build-time setting (frontend/src/site.rs): no relay comes with
# it. Written before the title, which every build of the page has.
page="$folder/index.html"
setting='<meta name="loopscope-relay" content="none">'
if ! grep -q '<title>' "$page"; then
  log "FAILED: $page has no <title> to put the site's setting before"
  exit 1
fi
sed "s|<title>|$setting<title>|" "$page" >"$page.new"
mv "$page.new" "$page"

log "the static site is in $folder/: copy everything in it to the folder your host serves as $public_url"
log "to try it here: mkdir -p www$public_url && cp -R $folder/. www$public_url && python3 -m http.server -d www 8000"
log "  and open http://127.0.0.1:8000$public_url"
