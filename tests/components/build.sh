#!/usr/bin/env bash
# Builds the test components from source into OUTDIR:
#
#   tests/components/build.sh OUTDIR [c|link|js|all]
#
#   c   OUTDIR/clock_random.wasm   clock_random.c + clock_random.wit:
#         clang --target=wasm32-wasi -mexec-model=reactor (wasi-libc)
#         -> embed the world (link/embed.mjs: `jco embed` by world name)
#         -> jco new --wasi-reactor --adapt
#            wasi_snapshot_preview1=<testdata adapter>
#   link OUTDIR/link_provider.wasm, link_consumer.wasm, link_provider_bad.wasm
#         link/*.c + link/store.wit (store_bad.wit): the same C pipeline;
#         the deploy-time linking test (tests/wharfd, group components)
#   js  OUTDIR/calc_js.wasm        calc_js.js + calc_js.wit: componentize-js
#         with the WASI features the WASI 0.2 host covers (http and
#         fetch-event disabled; stdio, random and clocks kept); 10-25 s on an
#         idle machine, so it is built once and reused
#
# A component is rebuilt only when it is older than one of its inputs
# (sources, WIT, this script, the installed npm tools); parallel callers
# wait on one lock.  The npm tools come from scripts/install-npm-tools.sh
# (build/npm, or $WHARF_NPM_DIR).  The adapter and the jco preload come
# from $WHARF_TESTDATA (default ../shared/testdata), used in place.
#
# Exit status: 0 built (or up to date); 77 a tool or the test data is
# missing (the reason on stdout: the callers' tests then skip); 1 a
# build step failed (its output on stderr).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:?usage: build.sh OUTDIR [c|link|js|all]}
what=${2:-all}
testdata=${WHARF_TESTDATA:-$repo/../shared/testdata}
npm_dir=${WHARF_NPM_DIR:-$repo/build/npm}
adapter=$testdata/components/wasi_snapshot_preview1.reactor.wasm
preload=$testdata/tools/jco-preopen.mjs

skip() { echo "SKIP: $*"; exit 77; }

[ -f "$adapter" ] && [ -f "$preload" ] ||
  skip "$testdata (the preview1 adapter, tools/jco-preopen.mjs) not found; set WHARF_TESTDATA"
if ! "$repo/scripts/install-npm-tools.sh" "$npm_dir" >&2; then
  skip "the npm tools (jco, componentize-js) are not installed: run scripts/install-npm-tools.sh --retry"
fi
mods=$npm_dir/node_modules
stamp=$npm_dir/.installed
# jco and componentize-js run with the preload so they can read files
jco() { JCO_MODULES=$mods node --import "$preload" "$mods/.bin/jco" "$@"; }

mkdir -p "$out"
out=$(cd "$out" && pwd)
exec 9>"$out/.build.lock"
flock 9

stale() {  # target inputs...: true when target is missing or older
  local t=$1
  shift
  [ -f "$t" ] || return 0
  for i in "$@"; do [ "$i" -nt "$t" ] && return 0; done
  return 1
}

# build_c_one SRC WIT WORLD TARGET: a C reactor component, rebuilt when
# stale (clang + wasi-libc -> jco embed -> jco new with the adapter)
build_c_one() {
  local src=$1 wit=$2 world=$3 target=$4
  stale "$target" "$src" "$wit" "$here/build.sh" "$stamp" "$adapter" || return 0
  command -v clang >/dev/null 2>&1 || skip "clang not found (Debian: apt-get install clang lld wasi-libc)"
  local tmp=${target%.wasm}.tmp
  rm -rf "$tmp"
  mkdir -p "$tmp"
  # -s: wasi-libc's debug sections are of no use here
  if ! clang --target=wasm32-wasi -mexec-model=reactor -O2 -Wall -Wextra -Werror -s \
       "$src" -o "$tmp/core.wasm" 2>"$tmp/cc.log"; then
    if grep -q "cannot find\|unable to find library\|No such file\|not found\|doesn.t exist" "$tmp/cc.log"; then
      cat "$tmp/cc.log"
      skip "no wasm32-wasi toolchain (Debian: apt-get install lld wasi-libc libclang-rt-14-dev-wasm32)"
    fi
    cat "$tmp/cc.log" >&2
    return 1
  fi
  JCO_MODULES=$mods node --import "$preload" "$here/link/embed.mjs" "$tmp/core.wasm" "$wit" \
      "$world" "$tmp/embed.wasm" >&2
  jco new "$tmp/embed.wasm" --wasi-reactor \
      --adapt "wasi_snapshot_preview1=$adapter" -o "$tmp/component.wasm" >&2
  mv "$tmp/component.wasm" "$target"
  rm -rf "$tmp"
  echo "built $target" >&2
}

build_c() {
  build_c_one "$here/clock_random.c" "$here/clock_random.wit" clock-random \
              "$out/clock_random.wasm"
}

# the linking test's components (link/): provider and consumer of
# wharf:link/store@0.1.0, and a provider whose greet has another type
build_link() {
  local l=$here/link
  # (two worlds in one package: embedded by name through link/embed.mjs)
  build_c_one "$l/provider.c" "$l/store.wit" wharf:link/provider@0.1.0 "$out/link_provider.wasm"
  build_c_one "$l/consumer.c" "$l/store.wit" wharf:link/consumer@0.1.0 "$out/link_consumer.wasm"
  build_c_one "$l/provider_bad.c" "$l/store_bad.wit" provider-bad "$out/link_provider_bad.wasm"
}

build_js() {
  local src=$here/calc_js.js wit=$here/calc_js.wit
  local target=$out/calc_js.wasm
  stale "$target" "$src" "$wit" "$here/build.sh" "$stamp" || return 0
  local tmp=$out/calc_js.tmp.wasm
  local t0
  t0=$(date +%s)
  JCO_MODULES=$mods node --import "$preload" "$mods/.bin/componentize-js" "$src" \
      --wit "$wit" -n calc-js -d http fetch-event -o "$tmp" >&2
  mv "$tmp" "$target"
  echo "built $target ($(( $(date +%s) - t0 ))s)" >&2
}

case $what in
  c) build_c ;;
  link) build_link ;;
  js) build_js ;;
  all) build_c; build_link; build_js ;;
  *) echo "build.sh: unknown target $what (c, link, js or all)" >&2; exit 2 ;;
esac
