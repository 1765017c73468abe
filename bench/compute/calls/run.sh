#!/bin/sh
# bench/compute/calls/run.sh - what a wasm call costs on each runner:
# calls.wat's `direct` (a call an optimizing tier inlines) and `indirect`
# (call_indirect: bounds, null and signature checks and a real call) run N
# times under the interpreter (`wharf run`, N/10 calls), the native tier
# (`wharf run --tier native` on a precompiled file) and node (V8, timed
# inside the process after a warm-up call).  Prints ns per call and the
# native/node ratio; every runner must return the same result.
#
#   bench/compute/calls/run.sh [N]      (default 200000000)
#
# Environment: WHARF (default build/wharf), NODE (default node),
# WAT2WASM (default wat2wasm).  Exit 77 without wat2wasm or a native tier.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
WHARF=${WHARF:-$root/build/wharf}
NODE=${NODE:-node}
WAT2WASM=${WAT2WASM:-wat2wasm}
n=${1:-200000000}
command -v "$WAT2WASM" >/dev/null 2>&1 || { echo "calls: no $WAT2WASM"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
"$WAT2WASM" "$here/calls.wat" -o "$tmp/calls.wasm"
if ! "$WHARF" compile --tier native "$tmp/calls.wasm" -o "$tmp/calls.cwasm" 2>"$tmp/err"; then
  echo "calls: no native tier here: $(cat "$tmp/err")"
  exit 77
fi
now() { date +%s.%N; }
# secs START: seconds since START
secs() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.4f", b - a }'; }
ns() { awk -v s="$1" -v n="$2" 'BEGIN { printf "%.2f", s * 1e9 / n }'; }
# the process start of `wharf run` is subtracted: a run with n = 0
start() { t=$(now); "$WHARF" run "$@" 0 >/dev/null; secs "$t"; }

status=0
printf "| call | interp ns | native ns | node ns | native/node |\n|---|---:|---:|---:|---:|\n"
for fn in direct indirect; do
  ni=$((n / 10))
  s0=$(start --invoke "$fn" "$tmp/calls.wasm")
  t=$(now); ri=$("$WHARF" run --invoke "$fn" "$tmp/calls.wasm" "$ni"); ti=$(secs "$t")
  s1=$(start --tier native --invoke "$fn" "$tmp/calls.cwasm")
  t=$(now); rn=$("$WHARF" run --tier native --invoke "$fn" "$tmp/calls.cwasm" "$n"); tn=$(secs "$t")
  ii=$(ns "$(awk -v a="$ti" -v b="$s0" 'BEGIN { print a - b }')" "$ni")
  nn=$(ns "$(awk -v a="$tn" -v b="$s1" 'BEGIN { print a - b }')" "$n")
  # the interpreter's result for n/10 calls, checked by the native tier's
  if [ "$("$WHARF" run --tier native --invoke "$fn" "$tmp/calls.cwasm" "$ni")" != "$ri" ]; then
    echo "calls: $fn: the tiers disagree" >&2; status=1
  fi
  vn=- ratio=-
  if command -v "$NODE" >/dev/null 2>&1; then
    set -- $("$NODE" "$here/node-run.mjs" "$tmp/calls.wasm" "$fn" "$n")
    [ "$1" = "$rn" ] || { echo "calls: $fn: node says $1, wharf $rn" >&2; status=1; }
    vn=$(ns "$2" "$n")
    ratio=$(awk -v a="$nn" -v b="$vn" 'BEGIN { printf "%.2f", a / b }')
  fi
  printf "| %s | %s | %s | %s | %s |\n" "$fn" "$ii" "$nn" "$vn" "$ratio"
done
exit $status
