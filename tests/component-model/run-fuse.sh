#!/bin/sh
# run-fuse.sh TEST_BINARY OUTDIR - builds fuse_pair.wasm from
# fuse_pair.wat (jco parse; jco from scripts/install-npm-tools.sh's
# build/npm or $WHARF_NPM_DIR) into OUTDIR when stale, then runs
# wharf-unit-cm-fuse on it.  Exit 77 when node or jco is missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:?usage: run-fuse.sh TEST_BINARY OUTDIR}
out=${2:?usage: run-fuse.sh TEST_BINARY OUTDIR}
testdata=${WHARF_TESTDATA:-$root/../shared/testdata}
mods=${WHARF_NPM_DIR:-$root/build/npm}/node_modules
wasm=$out/fuse_pair.wasm
if [ ! -f "$wasm" ] || [ "$here/fuse_pair.wat" -nt "$wasm" ]; then
  if ! command -v node >/dev/null 2>&1 || [ ! -x "$mods/.bin/jco" ]; then
    echo "SKIP: node or jco not found (scripts/install-npm-tools.sh)"
    exit 77
  fi
  mkdir -p "$out"
  JCO_MODULES=$mods node --import "$testdata/tools/jco-preopen.mjs" "$mods/.bin/jco" \
    parse "$here/fuse_pair.wat" -o "$wasm.tmp"
  mv "$wasm.tmp" "$wasm"
fi
exec "$bin" "$wasm"
