#!/bin/sh
# run-cli-cache.sh WHARF WAT2WASM - the cache's commands: `wharf compile`,
# `wharf run` of a precompiled module and through --data-dir /
# $WHARF_DATA_DIR, `wharf cache stats|gc|clear`, tier auto writing its
# native code back, and components through the cache (with
# $WHARF_TESTDATA).  One PASS/FAIL line each.
set -u
WHARF=$1
WAT2WASM=$2

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
unset WHARF_DATA_DIR

cat > "$tmp/add.wat" <<'EOF'
(module
  (func (export "add") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.add))
EOF
cat > "$tmp/mul.wat" <<'EOF'
(module
  (func (export "mul") (param i32 i32) (result i32)
    local.get 0 local.get 1 i32.mul))
EOF
"$WAT2WASM" "$tmp/add.wat" -o "$tmp/add.wasm" || exit 1
"$WAT2WASM" "$tmp/mul.wat" -o "$tmp/mul.wasm" || exit 1

# check NAME WANT_STATUS STDOUT_REGEX STDERR_REGEX -- ARGS...
# (an empty regex means "anything"; STDOUT_REGEX must match some line)
check() {
  name=$1 want=$2 wout=$3 werr=$4
  shift 5
  (cd "$tmp" && "$WHARF" "$@" >"$tmp/out" 2>"$tmp/err")
  rc=$?
  if [ $rc -ne "$want" ]; then
    why="exit status $rc, wanted $want"
  elif [ -n "$wout" ] && ! grep -qE "$wout" "$tmp/out"; then
    why="stdout does not match /$wout/"
  elif [ -n "$werr" ] && ! grep -qE "$werr" "$tmp/err"; then
    why="stderr does not match /$werr/"
  else
    echo "PASS $name"
    return
  fi
  echo "FAIL $name: $why"
  sed 's/^/    stdout: /' "$tmp/out"
  sed 's/^/    stderr: /' "$tmp/err"
  fail=1
}

# precompiled modules
check compile 0 "" "" -- compile add.wasm
if [ "$(head -c 8 "$tmp/add.cwasm" 2>/dev/null)" = "WHARFMOD" ]; then
  echo "PASS compile-writes-cwasm"
else
  echo "FAIL compile-writes-cwasm: add.cwasm missing or without the WHARFMOD magic"
  fail=1
fi
check run-cwasm 0 "^42$" "" -- run --invoke add add.cwasm 2 40
check compile-o 0 "" "" -- compile add.wasm -o plain.cwasm
check run-cwasm-fuel-mismatch 1 "" "precompiled for another engine configuration" -- \
  run --fuel 100 --invoke add plain.cwasm 1 2
check compile-fuel 0 "" "" -- compile --fuel -o fuel.cwasm add.wasm
check run-cwasm-fuel 0 "^3$" "" -- run --fuel 100 --invoke add fuel.cwasm 1 2
check compile-epoch 0 "" "" -- compile --fuel --epoch -o both.cwasm add.wasm
check run-cwasm-timeout 0 "^7$" "" -- run --fuel 100 --timeout 1000 --invoke add both.cwasm 3 4
cp "$tmp/add.cwasm" "$tmp/bad.cwasm"
printf 'X' | dd of="$tmp/bad.cwasm" bs=1 seek=200 conv=notrunc 2>/dev/null
check run-cwasm-corrupt 1 "" "checksum|inconsistent|truncated" -- run --invoke add bad.cwasm 1 2
check compile-missing 1 "" "nope.wasm" -- compile nope.wasm
check compile-usage 2 "" "no module given" -- compile
check compile-invalid 1 "" "add.wat" -- compile add.wat

# through the cache
check run-cache-miss 0 "^5$" "" -- run --data-dir d --invoke add add.wasm 2 3
check run-cache-hit 0 "^5$" "" -- run --data-dir d --invoke add add.wasm 2 3
check stats-after-run 0 "^hits: +1$" "" -- cache stats --data-dir d
check stats-misses 0 "^misses: +1$" "" -- cache stats --data-dir d
check stats-entries 0 "^entries: +1 \(0 pinned\)$" "" -- cache stats --data-dir d
export WHARF_DATA_DIR="$tmp/d"
check run-env-hit 0 "^6$" "" -- run --invoke add add.wasm 3 3
check stats-env 0 "^hits: +2$" "" -- cache stats
check run-fuel-other-key 0 "^6$" "" -- run --fuel 100 --invoke add add.wasm 3 3
check stats-fuel-miss 0 "^entries: +2 " "" -- cache stats
unset WHARF_DATA_DIR
check compile-into-cache 0 "stored in the cache" "" -- compile --data-dir d mul.wasm
check compile-into-cache-again 0 "already in the cache" "" -- compile --data-dir d mul.wasm

# a damaged artifact is dropped, reported and recompiled (all are damaged;
# the run loads the one for its engine: fuel and epoch off)
for f in $(find "$tmp/d/cache" -name '*.bin'); do
  printf 'XXXX' | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null
done
check run-corrupt-artifact 0 "^9$" "dropped artifact" -- run --data-dir d --invoke add add.wasm 4 5
check stats-corrupt 0 "^corrupt drops: +1$" "" -- cache stats --data-dir d

# maintenance
check gc 0 "^gc: 0 rows without files, 0 files without rows, 0 stale temp files, 0 evicted" "" \
  -- cache gc --data-dir d
check gc-bound 0 "evicted" "" -- cache gc --data-dir d --max-size 1
check stats-bound 0 "^entries: +0 " "" -- cache stats --data-dir d
check gc-bound-reset 0 "" "" -- cache gc --data-dir d --max-size 1GiB
check run-after-gc 0 "^2$" "" -- run --data-dir d --invoke add add.wasm 1 1
check clear 0 "^clear: 1 entries removed" "" -- cache clear --data-dir d
check clear-all 0 "^clear: 0 entries removed \(pins too\)" "" -- cache clear --all --data-dir d
check stats-no-dir 2 "" "needs --data-dir" -- cache stats
check stats-missing 1 "" "no cache in" -- cache stats --data-dir nowhere
check cache-usage 2 "" "stats, gc or clear" -- cache frobnicate --data-dir d
check gc-bad-size 2 "" "wants a size" -- cache gc --data-dir d --max-size lots
check clear-bad-opt 2 "" "unknown option" -- cache clear --data-dir d --force

# tier auto (an LLVM build): the first run stores the interpreter's
# artifact and, as it exits, the background compile's native code (a
# second store: the rewrite); the next run loads it, a hit, and the
# artifact holds an ELF object
if "$WHARF" run --tier native --invoke add "$tmp/add.wasm" 1 2 >/dev/null 2>&1; then
  check auto-run 0 "^3$" "" -- run --tier auto --data-dir da --invoke add add.wasm 1 2
  check auto-stats 0 "^stores: +2$" "" -- cache stats --data-dir da
  check auto-rerun 0 "^5$" "" -- run --tier auto --data-dir da --invoke add add.wasm 2 3
  check auto-stats-hit 0 "^hits: +1$" "" -- cache stats --data-dir da
  if grep -lq "$(printf '\177ELF')" "$tmp"/da/cache/*/*.bin; then
    echo "PASS auto-native-in-artifact"
  else
    echo "FAIL auto-native-in-artifact: no ELF object in the artifact"; fail=1
  fi
else
  echo "SKIP tier auto: no native tier in this build"
fi

# components ($WHARF_TESTDATA; skipped without it): `compile --data-dir`
# stores a component's core modules as one artifact, which `invoke` (the
# daemon's engine: fuel and epoch on) and `run` then load
calc=${WHARF_TESTDATA:-/nonexistent}/components/handmade/calc-noimport.component.wasm
hello=${WHARF_TESTDATA:-/nonexistent}/components/jco-commands/hello_stdout.component.wasm
if [ -f "$calc" ] && [ -f "$hello" ]; then
  check cm-compile 0 "stored in the cache" "" -- compile --fuel --epoch --data-dir dc "$calc"
  check cm-compile-again 0 "already in the cache" "" -- \
    compile --fuel --epoch --data-dir dc "$calc"
  export WHARF_DATA_DIR="$tmp/dc"
  check cm-invoke-hit 0 "^5$" "" -- invoke "$calc" add '[2, 3]'
  unset WHARF_DATA_DIR
  check cm-stats-invoke 0 "^hits: +2$" "" -- cache stats --data-dir dc
  check cm-run-miss 0 "hello, world" "" -- run --data-dir dc "$hello"
  check cm-run-hit 0 "hello, world" "" -- run --data-dir dc "$hello"
  check cm-stats-run 0 "^hits: +3$" "" -- cache stats --data-dir dc
  check cm-entries 0 "^entries: +2 " "" -- cache stats --data-dir dc
else
  echo "SKIP components: no \$WHARF_TESTDATA/components"
fi

exit $fail
