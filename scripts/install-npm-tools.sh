#!/usr/bin/env bash
# Installs the npm packages that build test components (jco,
# componentize-js, preview2-shim; tests/components/package.json) into
# DIR/node_modules with `npm install`.
#
#   scripts/install-npm-tools.sh [--retry] [DIR]
#       DIR defaults to $WHARF_NPM_DIR, else build/npm (git-ignored)
#
# A finished install leaves DIR/.installed holding a digest of the
# manifest and the node version; while it matches, a rerun returns at once
# without touching the network.  A failed one leaves DIR/.failed: for an
# hour, runs without --retry (the tests' builds) fail at once instead of
# waiting on the network again; scripts/install-deps.sh passes --retry.
# Concurrent runs (parallel tests) wait on one lock.  Exit status: 0
# installed (or already there), 1 npm is missing or the install failed
# (the reason on stderr).  Tests that need the tools skip when they are
# absent; nothing else depends on them.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
manifest=$repo/tests/components/package.json
retry=0
if [ "${1:-}" = "--retry" ]; then
  retry=1
  shift
fi
dir=${1:-${WHARF_NPM_DIR:-$repo/build/npm}}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-npm-tools: node or npm not found (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
want="$(sha256sum "$manifest" | cut -d' ' -f1) node $(node --version)"

installed() {
  [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ] &&
    [ -x "$dir/node_modules/.bin/jco" ] && [ -x "$dir/node_modules/.bin/componentize-js" ] &&
    [ -d "$dir/node_modules/@bytecodealliance/preview2-shim" ]
}
installed && exit 0

exec 9>"$dir/.lock"
flock 9
installed && exit 0   # another run finished it while this one waited
if [ $retry = 0 ] && [ -f "$dir/.failed" ] && [ "$(cat "$dir/.failed")" = "$want" ] &&
   [ -n "$(find "$dir/.failed" -mmin -60)" ]; then
  echo "install-npm-tools: the last npm install failed less than an hour ago" \
       "($dir/npm-install.log); scripts/install-npm-tools.sh --retry tries again" >&2
  exit 1
fi

rm -f "$dir/.installed" "$dir/.failed"
cp "$manifest" "$dir/package.json"
echo "install-npm-tools: npm install into $dir (a minute or two the first time)" >&2
t0=$(date +%s)
log=$dir/npm-install.log
if ! (cd "$dir" && npm install --no-audit --no-fund --no-update-notifier --loglevel=error \
                               --fetch-retries=1 --fetch-retry-mintimeout=2000 \
                               --fetch-retry-maxtimeout=10000 --fetch-timeout=120000) \
     >"$log" 2>&1; then
  echo "$want" >"$dir/.failed"
  echo "install-npm-tools: npm install failed (tests that build components will skip):" >&2
  tail -n 15 "$log" >&2
  exit 1
fi
echo "$want" >"$dir/.installed"
installed || { echo "install-npm-tools: npm install finished but jco/componentize-js are missing" >&2; exit 1; }
echo "install-npm-tools: done in $(( $(date +%s) - t0 ))s" >&2
