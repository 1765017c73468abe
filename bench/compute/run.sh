#!/bin/sh
# bench/compute/run.sh - compute micro benchmarks: native vs wharf vs node.
#
#   bench/compute/run.sh [--quick] [--reps N] [BENCH...]
#
# Builds the C programs of $WHARF_TESTDATA/bench/micro (default
# ../shared/testdata beside the repository) twice: natively with
# `gcc -O2` (the physical limit) and for wasm32-wasi with clang 14 +
# wasi-libc.  Each of fib sha256 nbody matmul hashmap (or the BENCHes named)
# then runs natively, under `wharf run`, under `wharf run --tier native`
# (precompiled with `wharf compile --tier native`, so LLVM's time is not
# in the run; it is reported as compile ms per MB of wasm, and "start ms"
# is a run of the precompiled file at size 0: process start, cache-artifact
# load, instantiation) and under node (V8, through
# node-wasi.mjs); every runner runs it BENCH_REPS times (default 3) and
# the median wall time is kept.  Every run must print the same
# `checksum N` line.  Prints one table row per bench and a geometric-mean
# row; see bench/README.md for how to read it.
#
#   --quick    small sizes, one repetition: finishes in well under a
#              minute (ctest's bench-compute-smoke)
#   --reps N   repetitions (overrides BENCH_REPS)
#
# Environment: WHARF (the wharf binary; default build/wharf), WHARF_TESTDATA,
# BENCH_BUILD (build directory; default build/bench), BENCH_REPS, NODE
# (default node; a missing node leaves its columns as "-"), WASI_CC (default
# clang), CC (default gcc).
# Exit status: 0 when every run worked and every checksum agreed, 1 when
# one did not, 77 when the sources or the wasm toolchain are missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
WHARF=${WHARF:-$repo/build/wharf}
WHARF_TESTDATA=${WHARF_TESTDATA:-$repo/../shared/testdata}
BENCH_BUILD=${BENCH_BUILD:-$repo/build/bench}
BENCH_REPS=${BENCH_REPS:-3}
NODE=${NODE:-node}
WASI_CC=${WASI_CC:-clang}
CC=${CC:-gcc}
src=$WHARF_TESTDATA/bench/micro

quick=0
benches=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --reps) shift; BENCH_REPS=$1 ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) benches="$benches $1" ;;
  esac
  shift
done
[ -n "$benches" ] || benches="fib sha256 nbody matmul hashmap"
[ "$quick" = 1 ] && BENCH_REPS=1

# The size argument of each bench: empty = the program's N_DEFAULT (the
# sizes in $src/README.md); quick sizes take well under a second natively.
size() {
  if [ "$quick" = 0 ]; then echo ""; return; fi
  case $1 in
    fib) echo 30 ;;
    sha256) echo 4 ;;
    nbody) echo 300000 ;;
    matmul) echo 192 ;;
    hashmap) echo 1 ;;
  esac
}

if [ ! -d "$src" ]; then
  echo "run.sh: $src not found (set WHARF_TESTDATA); skipping"
  exit 77
fi
if [ ! -x "$WHARF" ]; then
  echo "run.sh: $WHARF is not built" >&2
  exit 1
fi
have_node=0
command -v "$NODE" >/dev/null 2>&1 && have_node=1

mkdir -p "$BENCH_BUILD"
out=$BENCH_BUILD/out
mkdir -p "$out"

# ---- build -------------------------------------------------------------------
# stale SRC OUT: true when OUT is missing or older than SRC.
stale() { [ ! -f "$2" ] || [ -n "$(find "$1" -newer "$2")" ]; }

for b in $benches; do
  if [ ! -f "$src/$b.c" ]; then
    echo "run.sh: no benchmark $b in $src" >&2
    exit 2
  fi
  if stale "$src/$b.c" "$BENCH_BUILD/$b.wasm"; then
    if ! "$WASI_CC" --target=wasm32-wasi -O2 -I"$src" "$src/$b.c" \
         -o "$BENCH_BUILD/$b.wasm" -lm 2>"$out/$b.cc.log"; then
      cat "$out/$b.cc.log" >&2
      echo "run.sh: cannot build $b.wasm; install wasi-libc lld" \
           "libclang-rt-14-dev-wasm32; skipping" >&2
      exit 77
    fi
  fi
  if stale "$src/$b.c" "$BENCH_BUILD/$b"; then
    "$CC" -O2 -I"$src" "$src/$b.c" -o "$BENCH_BUILD/$b" -lm
  fi
done

# ---- run -------------------------------------------------------------------
now_ns() { date +%s%N; }

# run_one NAME RUNNER CMD...: runs CMD BENCH_REPS times; sets $median
# (seconds) and $checksum, or returns 1 when a run fails or disagrees with
# itself.
run_one() {
  name=$1; runner=$2; shift 2
  times=""
  checksum=""
  i=0
  while [ "$i" -lt "$BENCH_REPS" ]; do
    t0=$(now_ns)
    if ! "$@" >"$out/$name.$runner.out" 2>"$out/$name.$runner.err"; then
      echo "run.sh: $name under $runner failed:" >&2
      tail -5 "$out/$name.$runner.err" >&2
      return 1
    fi
    t1=$(now_ns)
    c=$(grep '^checksum ' "$out/$name.$runner.out" || true)
    if [ -z "$c" ] || { [ -n "$checksum" ] && [ "$c" != "$checksum" ]; }; then
      echo "run.sh: $name under $runner printed '${c:-nothing}'" >&2
      return 1
    fi
    checksum=$c
    times="$times $((t1 - t0))"
    i=$((i + 1))
  done
  # shellcheck disable=SC2086 # split $times into lines
  median=$(printf '%s\n' $times | sort -n |
           awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
                                     printf "%.3f", m / 1e9 }')
}

status=0
rows=""
[ "$quick" = 1 ] && echo "quick mode: small sizes, 1 repetition"
echo "reps $BENCH_REPS; wharf $WHARF; node $( [ $have_node = 1 ] && "$NODE" --version || echo missing)"
for b in $benches; do
  n=$(size "$b")
  # "$@" holds the size argument, or nothing for the default size.
  set --
  [ -n "$n" ] && set -- "$n"
  tn=- tw=- tv=- cn="" cw="" cv="" tj=- cj="" cms=- tl=-
  if run_one "$b" native "$BENCH_BUILD/$b" "$@"; then tn=$median; cn=$checksum; else status=1; fi
  if run_one "$b" wharf "$WHARF" run "$BENCH_BUILD/$b.wasm" "$@"; then tw=$median; cw=$checksum; else status=1; fi
  # the native tier (a wharf without LLVM leaves its columns "-")
  t0=$(now_ns)
  if "$WHARF" compile --tier native "$BENCH_BUILD/$b.wasm" -o "$BENCH_BUILD/$b.native.cwasm" \
       2>"$out/$b.llvm.log"; then
    t1=$(now_ns)
    cms=$(awk -v t=$((t1 - t0)) -v n="$(wc -c <"$BENCH_BUILD/$b.wasm")" \
          'BEGIN { printf "%.0f", t / 1e6 / (n / 1048576) }')
    if run_one "$b" wharf-native "$WHARF" run --tier native "$BENCH_BUILD/$b.native.cwasm" "$@"; then
      tj=$median; cj=$checksum
    else
      status=1
    fi
    t0=$(now_ns)
    "$WHARF" run --tier native "$BENCH_BUILD/$b.native.cwasm" 0 >/dev/null 2>&1 || true
    t1=$(now_ns)
    tl=$(awk -v t=$((t1 - t0)) 'BEGIN { printf "%.1f", t / 1e6 }')
  else
    echo "run.sh: no native tier: $(tail -1 "$out/$b.llvm.log")" >&2
  fi
  if [ $have_node = 1 ]; then
    if run_one "$b" node "$NODE" --no-concurrent-marking --no-warnings \
         "$here/node-wasi.mjs" "$BENCH_BUILD/$b.wasm" "$@"; then
      tv=$median; cv=$checksum
    else
      status=1
    fi
  fi
  for c in "$cw" "$cv" "$cj"; do
    if [ -n "$c" ] && [ -n "$cn" ] && [ "$c" != "$cn" ]; then
      echo "run.sh: $b: checksums differ: native '$cn', wharf '$cw', node '$cv'" >&2
      status=1
    fi
  done
  echo "$b: native $tn s, wharf $tw s, wharf --tier native $tj s, node $tv s (${cn:-no checksum})" >&2
  rows="$rows$b $tn $tw $tv $tj $cms $tl
"
done

# ---- table ---------------------------------------------------------------------
printf '%s' "$rows" | awk '
  function ratio(a, b) { return (a == "-" || b == "-" || b <= 0) ? "-" : sprintf("%.2f", a / b) }
  function acc(k, r) { if (r != "-" && r > 0) { lg[k] += log(r); cnt[k]++ } }
  function gm(k) { return cnt[k] ? sprintf("%.2f", exp(lg[k] / cnt[k])) : "-" }
  BEGIN {
    printf "\n| bench | native s | wharf s | node s | wharf/native | node/native | wharf/node |\n"
    printf "|---|---:|---:|---:|---:|---:|---:|\n"
  }
  NF == 7 {
    wn = ratio($3, $2); vn = ratio($4, $2); wv = ratio($3, $4)
    jn = ratio($5, $2); jv = ratio($5, $4)
    acc("wn", wn); acc("vn", vn); acc("wv", wv); acc("jn", jn); acc("jv", jv)
    printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, wn, vn, wv
    nat = nat sprintf("| %s | %s | %s | %s | %s | %s |\n", $1, $5, jn, jv, $6, $7)
  }
  END {
    printf "| geomean | | | | %s | %s | %s |\n", gm("wn"), gm("vn"), gm("wv")
    printf "\nwharf --tier native (precompiled; start = a size-0 run of the .cwasm):\n\n"
    printf "| bench | wharf native s | wharf native/native | wharf native/node | compile ms/MB | start ms |\n"
    printf "|---|---:|---:|---:|---:|---:|\n%s", nat
    printf "| geomean | | %s | %s | | |\n", gm("jn"), gm("jv")
  }'

# ---- SIMD kernels -------------------------------------------------------------
# bench/compute/simd/run.sh (wharf --simd vs node vs native, its own
# table); full runs only: ctest's bench-simd-smoke is its quick run.
if [ "$quick" = 0 ]; then
  echo
  WHARF=$WHARF BENCH_BUILD=$BENCH_BUILD/simd BENCH_REPS=$BENCH_REPS NODE=$NODE CC=$CC \
    sh "$here/simd/run.sh" || { [ $? = 77 ] || status=1; }
fi

exit $status
