#!/bin/sh
# bench/compute/simd/run.sh - the SIMD kernels of kernels.c: wharf's
# interpreter vs node (V8) vs the same C built natively.
#
#   bench/compute/simd/run.sh [--quick] [--reps N] [--tier T] [KERNEL...]
#
# Builds kernels.c three ways into $BENCH_BUILD: kernels.wasm with clang 14
# (--target=wasm32 -msimd128 -O2 -nostdlib, linked by wasm-ld with each
# bench_* exported), kernels-sse (gcc -O2 -msse4.1: the same algorithm
# with SSE intrinsics) and kernels-c (gcc -O2, the portable loops).  Each
# KERNEL (default: dot count gray) then runs under `wharf run --simd
# --invoke bench_KERNEL`, under node (node-run.mjs) and natively, each
# BENCH_REPS times (default 3) with a repetition count for the kernel and
# again with 0 repetitions; the kernel's time is the difference of the
# medians (start-up, compilation and input set-up cancel out), divided by
# the repetitions.  The faster runners get more repetitions (node 5x,
# native 20x wharf's) so that every time is well above the clock's
# resolution.  Times are CPU seconds (user + system, from /usr/bin/time;
# wall-clock seconds without it), which a busy machine disturbs far less
# than wall time.  Every run must print what kernels-c prints for the same
# repetition count.  The table gives microseconds per repetition and the
# ratios wharf/node, wharf/sse and wharf/c measured in the same run: on a
# shared machine only the ratios mean anything.
#
#   --quick    20 repetitions for every runner, one run each, no
#              0-repetition runs: builds, runs once and checks every
#              checksum (ctest's bench-simd-smoke); the times mean nothing
#   --reps N   runs per measurement (overrides BENCH_REPS)
#   --tier T   wharf runs with --tier T (interp, native, auto; default:
#              wharf's own); with native, wharf gets 20x the repetitions
#
# Environment: WHARF (default build/wharf), BENCH_BUILD (default
# build/bench/simd), BENCH_REPS, NODE (default node; missing: its column is
# "-"), WASM_CC (default clang), CC (default gcc).
# Exit status: 0 when every run worked and agreed, 1 otherwise, 77 when the
# wasm toolchain (clang's wasm32 target, wasm-ld) is missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
WHARF=${WHARF:-$repo/build/wharf}
BENCH_BUILD=${BENCH_BUILD:-$repo/build/bench/simd}
BENCH_REPS=${BENCH_REPS:-3}
NODE=${NODE:-node}
WASM_CC=${WASM_CC:-clang}
CC=${CC:-gcc}

quick=0
kernels=""
tier=""
while [ $# -gt 0 ]; do
  case $1 in
    --quick) quick=1 ;;
    --reps) shift; BENCH_REPS=$1 ;;
    --tier) shift; tier=$1 ;;
    -h|--help) sed -n '2,/^set -eu/p' "$0" | sed 's/^# \{0,1\}//;$d'; exit 0 ;;
    -*) echo "simd/run.sh: unknown option $1" >&2; exit 2 ;;
    *) kernels="$kernels $1" ;;
  esac
  shift
done
[ -n "$kernels" ] || kernels="dot count gray"
[ "$quick" = 1 ] && BENCH_REPS=1

# Repetitions per kernel under wharf: about a second of CPU.
reps_of() {
  if [ "$quick" = 1 ]; then echo 20; return; fi
  case $1 in
    dot) echo 150000 ;;
    count) echo 20000 ;;
    gray) echo 25000 ;;
    *) echo "simd/run.sh: no kernel $1 (dot count gray)" >&2; exit 2 ;;
  esac
}
# ... times this for each runner
mult_of() {
  if [ "$quick" = 1 ]; then echo 1; return; fi
  case $1 in
    wharf) [ "$tier" = native ] && echo 20 || echo 1 ;;
    node) echo 5 ;;
    *) echo 20 ;;
  esac
}
for k in $kernels; do reps_of "$k" >/dev/null; done

if [ ! -x "$WHARF" ]; then
  echo "simd/run.sh: $WHARF is not built" >&2
  exit 1
fi
have_node=0
command -v "$NODE" >/dev/null 2>&1 && have_node=1

mkdir -p "$BENCH_BUILD"
out=$BENCH_BUILD/out
mkdir -p "$out"

# ---- build -------------------------------------------------------------------
src=$here/kernels.c
wasm=$BENCH_BUILD/kernels.wasm
stale() { [ ! -f "$2" ] || [ -n "$(find "$1" -newer "$2")" ]; }
if stale "$src" "$wasm"; then
  if ! "$WASM_CC" --target=wasm32 -msimd128 -O2 -nostdlib -Wl,--no-entry \
       -Wl,--export=bench_dot -Wl,--export=bench_count -Wl,--export=bench_gray \
       "$src" -o "$wasm" 2>"$out/wasm.cc.log"; then
    cat "$out/wasm.cc.log" >&2
    echo "simd/run.sh: cannot build kernels.wasm; install clang and lld; skipping" >&2
    exit 77
  fi
fi
stale "$src" "$BENCH_BUILD/kernels-sse" &&
  "$CC" -O2 -msse4.1 "$src" -o "$BENCH_BUILD/kernels-sse"
stale "$src" "$BENCH_BUILD/kernels-c" &&
  "$CC" -O2 -DKERNELS_PORTABLE "$src" -o "$BENCH_BUILD/kernels-c"

# ---- run -----------------------------------------------------------------------
now_ns() { date +%s%N; }
have_time=0
[ -x /usr/bin/time ] && have_time=1

# median_of NAME RUNNER REPS: runs the kernel BENCH_REPS times; sets
# $median (ns) and $result, or returns 1 when a run fails or disagrees
# with the one before.
median_of() {
  name=$1; runner=$2; reps=$3
  times=""
  result=""
  i=0
  while [ "$i" -lt "$BENCH_REPS" ]; do
    case $runner in   # one run of export bench_NAME(REPS)
      c|sse) set -- "$BENCH_BUILD/kernels-$runner" "bench_$name" "$reps" ;;
      wharf) set -- "$WHARF" run --simd ${tier:+--tier "$tier"} --invoke "bench_$name" "$wasm" "$reps" ;;
      node) set -- "$NODE" --no-warnings "$here/node-run.mjs" "$wasm" "bench_$name" "$reps" ;;
    esac
    [ $have_time = 1 ] && set -- /usr/bin/time -f "%U %S" -o "$out/$name.$runner.time" "$@"
    t0=$(now_ns)
    if ! "$@" >"$out/$name.$runner.out" 2>"$out/$name.$runner.err"; then
      echo "simd/run.sh: $name under $runner failed:" >&2
      tail -5 "$out/$name.$runner.err" >&2
      return 1
    fi
    t1=$(now_ns)
    if [ $have_time = 1 ]; then
      t0=0
      t1=$(awk '{ printf "%d", ($1 + $2) * 1e9 }' "$out/$name.$runner.time")
    fi
    r=$(cat "$out/$name.$runner.out")
    if [ -z "$r" ] || { [ -n "$result" ] && [ "$r" != "$result" ]; }; then
      echo "simd/run.sh: $name under $runner printed '${r:-nothing}'" >&2
      return 1
    fi
    result=$r
    times="$times $((t1 - t0))"
    i=$((i + 1))
  done
  # shellcheck disable=SC2086 # one time per line
  median=$(printf '%s\n' $times | sort -n |
           awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
}

# measure NAME RUNNER: runs the kernel under RUNNER; sets $us (its
# microseconds per repetition, "-" on failure, which also sets status).
measure() {
  name=$1; runner=$2
  us=-
  n=$(( $(reps_of "$name") * $(mult_of "$runner") ))
  if ! median_of "$name" "$runner" "$n"; then status=1; return 0; fi
  full=$median
  got=$result
  want=$("$BENCH_BUILD/kernels-c" "bench_$name" "$n")
  if [ "$got" != "$want" ]; then
    echo "simd/run.sh: $name under $runner gives $got for $n repetitions, native c $want" >&2
    status=1
    return 0
  fi
  zero=0
  if [ "$quick" = 0 ]; then
    if ! median_of "$name" "$runner" 0; then status=1; return 0; fi
    zero=$median
  fi
  us=$(awk -v a="$full" -v b="$zero" -v n="$n" 'BEGIN { d = a - b; if (d < 1000) d = 1000; printf "%.3f", d / 1e3 / n }')
}

status=0
rows=""
[ "$quick" = 1 ] && echo "quick mode: 20 repetitions, 1 run; the times mean nothing"
echo "runs $BENCH_REPS; $( [ $have_time = 1 ] && echo "CPU" || echo "wall") time;" \
     "wharf $WHARF${tier:+ --tier $tier}; node $( [ $have_node = 1 ] && "$NODE" --version || echo missing)"
for k in $kernels; do
  measure "$k" c; uc=$us
  measure "$k" sse; us_=$us
  measure "$k" wharf; uw=$us
  uv=-
  if [ $have_node = 1 ]; then measure "$k" node; uv=$us; fi
  echo "$k: us per repetition: wharf $uw, node $uv, native sse $us_, native c $uc" >&2
  rows="$rows$k $(reps_of "$k") $uw $uv $us_ $uc
"
done

# ---- table ---------------------------------------------------------------------
printf '%s' "$rows" | awk '
  function ratio(a, b) { return (a == "-" || b == "-" || b <= 0) ? "-" : sprintf("%.1f", a / b) }
  function acc(k, r) { if (r != "-" && r > 0) { lg[k] += log(r); cnt[k]++ } }
  function gm(k) { return cnt[k] ? sprintf("%.1f", exp(lg[k] / cnt[k])) : "-" }
  BEGIN {
    printf "\n| kernel | wharf reps | wharf us/rep | node us/rep | native sse us/rep | native c us/rep | wharf/node | wharf/sse | wharf/c |\n"
    printf "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n"
  }
  NF == 6 {
    wv = ratio($3, $4); ws = ratio($3, $5); wc = ratio($3, $6)
    acc("wv", wv); acc("ws", ws); acc("wc", wc)
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, wv, ws, wc
  }
  END { printf "| geomean | | | | | | %s | %s | %s |\n", gm("wv"), gm("ws"), gm("wc") }'

exit $status
