#!/bin/sh
# run-sightglass.sh WHARF [DATA_DIR] - runs the sightglass benchmarks.
#
# For each benchmark directory under DATA_DIR (default
# $WHARF_TESTDATA/bench/sightglass) this cd's into it and runs
#   WHARF run --dir .::. X.wasm
# for benchmark.wasm (or every *.wasm, as in shootout/), then compares
# stdout byte for byte with X.stdout.expected and stderr with
# X.stderr.expected (both are deterministic: no timings).  A module with
# no expected output must just exit 0.  Components are skipped (they are
# a later issue), and so is a module the engine rejects for SIMD, but only
# if it really holds SIMD opcodes.  One PASS/FAIL/SKIP line per module,
# then a summary.  Exits 77 without data, 1 on any failure.
#
# WHARF_BENCH_TIMEOUT (seconds, default 1200) bounds each run;
# WHARF_BENCH_ONLY=REGEX runs just the modules whose name matches;
# WHARF_BENCH_SKIP=REGEX leaves out those whose name matches (each named
# as skipped).
set -u
WHARF=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
DATA=${2:-${WHARF_TESTDATA:-}/bench/sightglass}
TIMEOUT=${WHARF_BENCH_TIMEOUT:-1200}
ONLY=${WHARF_BENCH_ONLY:-}
SKIPRE=${WHARF_BENCH_SKIP:-}

if [ ! -d "$DATA" ]; then
  echo "skip: no sightglass data at '$DATA'"
  exit 77
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
pass=0 fail=0 skip=0

# A component's header carries layer 1: bytes 4..7 are 0d 00 01 00.
is_component() {
  [ "$(od -An -tx1 -j4 -N4 "$1" | tr -d ' \n')" = "0d000100" ]
}

# True if the module holds SIMD instructions (needs wabt's wasm-objdump).
has_simd() {
  command -v wasm-objdump >/dev/null 2>&1 || return 1
  wasm-objdump -d "$1" 2>/dev/null |
    grep -qE '(v128|[if](8x16|16x8|32x4|64x2))\.'
}

now() { date +%s.%N; }

# run_one DIR WASM PREFIX
run_one() {
  dir=$1 wasm=$2 prefix=$3
  name=$(basename "$dir")/$wasm
  if [ -n "$ONLY" ] && ! echo "$name" | grep -qE "$ONLY"; then
    return
  fi
  if [ -n "$SKIPRE" ] && echo "$name" | grep -qE "$SKIPRE"; then
    echo "SKIP $name: WHARF_BENCH_SKIP"
    skip=$((skip + 1))
    return
  fi
  if is_component "$dir/$wasm"; then
    echo "SKIP $name: a component (the component model is a later issue)"
    skip=$((skip + 1))
    return
  fi
  t0=$(now)
  (cd "$dir" && exec timeout "$TIMEOUT" "$WHARF" run --dir .::. "$wasm") \
    >"$tmp/out" 2>"$tmp/err"
  rc=$?
  secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
  if [ $rc -ne 0 ] && grep -q SIMD "$tmp/err" && has_simd "$dir/$wasm"; then
    echo "SKIP $name: uses SIMD, which the engine does not support yet"
    skip=$((skip + 1))
    return
  fi
  why=
  if [ $rc -ne 0 ]; then
    why="exit status $rc"
    [ $rc -eq 124 ] && why="timed out after ${TIMEOUT}s"
  elif [ -f "$dir/$prefix.stdout.expected" ] &&
       ! cmp -s "$tmp/out" "$dir/$prefix.stdout.expected"; then
    why="stdout differs from $prefix.stdout.expected"
  elif [ -f "$dir/$prefix.stderr.expected" ] &&
       ! cmp -s "$tmp/err" "$dir/$prefix.stderr.expected"; then
    why="stderr differs from $prefix.stderr.expected"
  fi
  if [ -z "$why" ]; then
    echo "PASS $name (${secs}s)"
    pass=$((pass + 1))
  else
    echo "FAIL $name: $why (${secs}s)"
    head -c 2000 "$tmp/err" | head -n 12 | sed 's/^/    stderr: /'
    fail=$((fail + 1))
  fi
}

for dir in "$DATA"/*/; do
  dir=${dir%/}
  [ -d "$dir" ] || continue
  if [ -f "$dir/benchmark.wasm" ]; then
    run_one "$dir" benchmark.wasm benchmark
  else
    found=0
    for w in "$dir"/*.wasm; do
      [ -f "$w" ] || continue
      found=1
      b=$(basename "$w")
      run_one "$dir" "$b" "${b%.wasm}"
    done
    [ $found -eq 0 ] && echo "SKIP $(basename "$dir"): no .wasm" && skip=$((skip + 1))
  fi
done

echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
