#!/bin/sh
# bench/compute/sightglass.sh - the sightglass programs on both tiers, in
# one run: the interpreter (`wharf run`) against the native tier (`wharf
# run --tier native` on a file precompiled with `wharf compile --tier
# native`, so LLVM's time is reported apart), each program's stdout and
# stderr checked equal between the tiers.
#
#   bench/compute/sightglass.sh [NAME-REGEX]
#
# Prints per program: wasm KiB, interpreter s, native s, interp/native,
# LLVM compile s and s per MB of wasm; then the geometric mean.  One
# repetition each (the interpreter's runs take seconds to a minute).
# Environment: WHARF (default build/wharf), WHARF_TESTDATA.  Components
# (cm-online-stats) are left out.  Exit 77 without the data or without a
# native tier in this build.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
WHARF=${WHARF:-$root/build/wharf}
td=${WHARF_TESTDATA:-$root/../shared/testdata}
sg=$td/bench/sightglass
only=${1:-}
[ -d "$sg" ] || { echo "sightglass.sh: no data at $sg"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
if ! "$WHARF" compile --tier native -o "$tmp/probe.cwasm" "$sg/noop/benchmark.wasm" 2>"$tmp/probe.err"; then
  echo "sightglass.sh: no native tier here: $(cat "$tmp/probe.err")"
  exit 77
fi
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }

printf "| program | wasm KiB | interp s | native s | interp/native | LLVM s | LLVM s/MB |\n"
printf "|---|---:|---:|---:|---:|---:|---:|\n"
logsum=0 n=0 status=0
for f in $(cd "$sg" && find . -name '*.wasm' | sort); do
  name=${f#./}
  [ -n "$only" ] && ! echo "$name" | grep -qE "$only" && continue
  # a component: layer 1 in bytes 4..7
  [ "$(od -An -tx1 -j4 -N4 "$sg/$name" | tr -d ' \n')" = "0d000100" ] && continue
  dir=$(dirname "$sg/$name") wasm=$(basename "$name")
  kib=$(( $(wc -c <"$sg/$name") / 1024 ))
  t=$(now)
  "$WHARF" compile --tier native -o "$tmp/p.cwasm" "$sg/$name" 2>"$tmp/c.err" ||
    { echo "| $name | $kib | - | - | - | compile failed: $(head -c 80 "$tmp/c.err") | |"; status=1; continue; }
  tc=$(since "$t")
  t=$(now)
  (cd "$dir" && "$WHARF" run --dir .::. "$wasm" >"$tmp/i.out" 2>"$tmp/i.err") || true
  ti=$(since "$t")
  t=$(now)
  (cd "$dir" && "$WHARF" run --tier native --dir .::. "$tmp/p.cwasm" >"$tmp/n.out" 2>"$tmp/n.err") || true
  tn=$(since "$t")
  if ! cmp -s "$tmp/i.out" "$tmp/n.out" || ! cmp -s "$tmp/i.err" "$tmp/n.err"; then
    # programs that seed a HashMap from random_get print differently on
    # every run, on either tier: say so rather than fail
    note=" (output differs between runs: random-seeded)"
    (cd "$dir" && "$WHARF" run --dir .::. "$wasm" >"$tmp/i2.out" 2>/dev/null) || true
    cmp -s "$tmp/i.out" "$tmp/i2.out" && { note=" (OUTPUT DIFFERS)"; status=1; }
  else
    note=""
  fi
  line=$(awk -v k="$kib" -v i="$ti" -v nn="$tn" -v c="$tc" -v nm="$name" -v note="$note" 'BEGIN {
    mb = k / 1024; if (mb <= 0) mb = 1 / 1024
    printf "| %s%s | %d | %.2f | %.3f | %.1f | %.2f | %.1f |", nm, note, k, i, nn, i / nn, c, c / mb }')
  echo "$line"
  logsum=$(awk -v s="$logsum" -v i="$ti" -v nn="$tn" 'BEGIN { printf "%.6f", s + log(i / nn) }')
  n=$((n + 1))
done
[ "$n" -gt 0 ] && awk -v s="$logsum" -v n="$n" 'BEGIN { printf "| geomean (%d programs) | | | | %.1f | | |\n", n, exp(s / n) }'
exit $status
