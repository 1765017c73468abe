#!/bin/sh
# run-link.sh TEST_BINARY OUTDIR - builds link/*.wat (jco parse; jco from
# scripts/install-npm-tools.sh's build/npm or $WHARF_NPM_DIR) into OUTDIR
# when stale, then runs wharf-unit-cm-link on OUTDIR.  Exit 77 when node
# or jco is missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:?usage: run-link.sh TEST_BINARY OUTDIR}
out=${2:?usage: run-link.sh TEST_BINARY OUTDIR}
testdata=${WHARF_TESTDATA:-$root/../shared/testdata}
mods=${WHARF_NPM_DIR:-$root/build/npm}/node_modules
mkdir -p "$out"
for wat in "$here"/link/*.wat; do
  name=$(basename "$wat" .wat)
  wasm=$out/$name.wasm
  [ -f "$wasm" ] && [ ! "$wat" -nt "$wasm" ] && continue
  if ! command -v node >/dev/null 2>&1 || [ ! -x "$mods/.bin/jco" ]; then
    echo "SKIP: node or jco not found (scripts/install-npm-tools.sh)"
    exit 77
  fi
  JCO_MODULES=$mods node --import "$testdata/tools/jco-preopen.mjs" "$mods/.bin/jco" \
    parse "$wat" -o "$wasm.tmp"
  mv "$wasm.tmp" "$wasm"
done
exec "$bin" "$out"
