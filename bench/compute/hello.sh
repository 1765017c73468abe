#!/bin/sh
# bench/compute/hello.sh - what a trivial WASI command costs: peak RSS and
# start-to-exit wall time of `wharf run hello.wasm`, next to the native
# program and node.
#
#   bench/compute/hello.sh [RUNS]
#
# Builds $WHARF_TESTDATA/bench/micro/hello.c (printf("hi\n")) to wasm and
# natively into BENCH_BUILD (default build/bench), then for each runner
# reports the median wall time of RUNS runs (default 20; a shell loop around
# date +%s%N, so about a millisecond of fork+exec is included for every
# runner alike: the /bin/true row shows how much)
# and the median peak RSS of 5 runs under /usr/bin/time -f %M.
# Environment as for run.sh: WHARF, WHARF_TESTDATA, BENCH_BUILD, NODE,
# WASI_CC, CC.  Exit 77 when the sources, the wasm toolchain or
# /usr/bin/time (Debian package `time`) are missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
WHARF=${WHARF:-$repo/build/wharf}
WHARF_TESTDATA=${WHARF_TESTDATA:-$repo/../shared/testdata}
BENCH_BUILD=${BENCH_BUILD:-$repo/build/bench}
NODE=${NODE:-node}
WASI_CC=${WASI_CC:-clang}
CC=${CC:-gcc}
RUNS=${1:-20}
src=$WHARF_TESTDATA/bench/micro

[ -f "$src/hello.c" ] || { echo "hello.sh: $src/hello.c not found; skipping"; exit 77; }
[ -x /usr/bin/time ] || { echo "hello.sh: /usr/bin/time missing (apt-get install time); skipping"; exit 77; }
[ -x "$WHARF" ] || { echo "hello.sh: $WHARF is not built" >&2; exit 1; }
mkdir -p "$BENCH_BUILD"
"$WASI_CC" --target=wasm32-wasi -O2 "$src/hello.c" -o "$BENCH_BUILD/hello.wasm" ||
  { echo "hello.sh: cannot build hello.wasm; skipping"; exit 77; }
"$CC" -O2 "$src/hello.c" -o "$BENCH_BUILD/hello"

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# measure LABEL CMD...: prints one table row.  The CMD must print "hi",
# except for the /bin/true baseline.
measure() {
  label=$1; shift
  out=$("$@" 2>&1) || { echo "hello.sh: $label failed: $out" >&2; exit 1; }
  [ "$out" = hi ] || [ "$1" = /bin/true ] ||
    { echo "hello.sh: $label printed '$out'" >&2; exit 1; }
  i=0; times=""
  while [ "$i" -lt "$RUNS" ]; do
    t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
    times="$times $((t1 - t0))"; i=$((i + 1))
  done
  # shellcheck disable=SC2086 # split $times into lines
  ms=$(printf '%s\n' $times | median | awk '{ printf "%.2f", $1 / 1e6 }')
  i=0; rss=""
  while [ "$i" -lt 5 ]; do
    r=$(/usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1)
    rss="$rss $r"; i=$((i + 1))
  done
  # shellcheck disable=SC2086
  kib=$(printf '%s\n' $rss | median)
  printf '| %s | %s | %s |\n' "$label" "$ms" "$kib"
}

echo "median of $RUNS runs (wall), median of 5 (peak RSS)"
echo
echo "| runner | wall ms | peak RSS KiB |"
echo "|---|---:|---:|"
measure "/bin/true (loop overhead)" /bin/true
measure native "$BENCH_BUILD/hello"
measure "wharf run" "$WHARF" run "$BENCH_BUILD/hello.wasm"
if command -v "$NODE" >/dev/null 2>&1; then
  measure node "$NODE" --no-concurrent-marking --no-warnings "$here/node-wasi.mjs" "$BENCH_BUILD/hello.wasm"
fi
