#!/bin/sh
# cross.sh BUILD_DIR [--smoke] - builds cross.wasm from cross.wat (jco
# parse, from scripts/install-npm-tools.sh's build/npm or $WHARF_NPM_DIR)
# into BUILD_DIR/bench, then runs wharf-bench-cm-cross on it (the
# component-to-component rows of bench/cm-call).  Exit 77 when jco or
# node is missing.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: cross.sh BUILD_DIR [--smoke]}" && pwd)
shift
testdata=${WHARF_TESTDATA:-$root/../shared/testdata}
mods=${WHARF_NPM_DIR:-$root/build/npm}/node_modules
out=$build/bench/cross.wasm
if [ ! -f "$out" ] || [ "$here/cross.wat" -nt "$out" ]; then
  if ! command -v node >/dev/null 2>&1 || [ ! -x "$mods/.bin/jco" ]; then
    echo "SKIP: node or jco not found (scripts/install-npm-tools.sh)"
    exit 77
  fi
  mkdir -p "$build/bench"
  JCO_MODULES=$mods node --import "$testdata/tools/jco-preopen.mjs" "$mods/.bin/jco" \
    parse "$here/cross.wat" -o "$out.tmp" >&2
  mv "$out.tmp" "$out"
fi
exec "$build/bench/wharf-bench-cm-cross" "$@" "$out"
