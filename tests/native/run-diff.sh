#!/bin/sh
# run-diff.sh - ctest native-diff: the two tiers on the core spec modules,
# the micro benchmarks (built here for wasm32-wasi, small sizes) and the
# deterministic sightglass benchmarks: same results, traps, output and
# fuel (tests/native/native-diff.c).
#
#   run-diff.sh NATIVE-DIFF BUILD-DIR
#
# Environment: WHARF_TESTDATA (default ../shared/testdata beside the
# repository), WASI_CC (default clang).  Without the spec data: 77.
# Sightglass programs that seed a HashMap from random_get (hashset, regex,
# rust-json, rust-html-rewriter) differ from run to run on one tier alike
# (native-diff --control shows it) and are left out; so are the slowest
# to run in the interpreter or to compile (shootout-switch: 8 s of LLVM),
# to keep the test near a minute.
set -eu
diff=$1
out=$2/native-diff
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
td=${WHARF_TESTDATA:-$repo/../shared/testdata}
WASI_CC=${WASI_CC:-clang}
[ -d "$td/spec/json" ] || { echo "run-diff.sh: no spec data in $td; skipping"; exit 77; }
mkdir -p "$out"

set -- --spec "$td/spec/json"
micro=$td/bench/micro
for b in fib:30 sha256:4 nbody:300000 matmul:192 hashmap:1; do
  name=${b%%:*} n=${b#*:}
  [ -f "$micro/$name.c" ] || continue
  if [ ! -f "$out/$name.wasm" ] || [ "$micro/$name.c" -nt "$out/$name.wasm" ]; then
    "$WASI_CC" --target=wasm32-wasi -O2 -I"$micro" "$micro/$name.c" -o "$out/$name.wasm" -lm \
      2>"$out/$name.cc.log" || { echo "run-diff.sh: cannot build $name.wasm (no wasm32-wasi clang?); left out"; continue; }
  fi
  set -- "$@" --run "$out/$name.wasm,,$n"
done
sg=$td/bench/sightglass
# NATIVE_DIFF_QUICK=1 (the sanitizer build's ctest): the spec modules and
# the micro programs only; the sightglass programs' LLVM compiles and long
# interpreted runs are the normal build's
[ "${NATIVE_DIFF_QUICK:-0}" = 1 ] && exec "$diff" "$@"
for b in blake3-scalar bz2 noop quicksort richards; do
  [ -f "$sg/$b/benchmark.wasm" ] && set -- "$@" --run "$sg/$b/benchmark.wasm,$sg/$b"
done
for b in ackermann gimli keccak memmove nestedloop random ratelimit \
         xblabla20 xchacha20; do
  f=$sg/shootout/shootout-$b.wasm
  [ -f "$f" ] && set -- "$@" --run "$f,$sg/shootout"
done
exec "$diff" "$@"
