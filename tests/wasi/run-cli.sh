#!/bin/sh
# run-cli.sh WHARF WAT2WASM SRCDIR - the `wharf` command's contract:
# exit statuses, trap and load-error messages, --invoke, --fuel.
set -u
WHARF=$1
WAT2WASM=$2
SRC=$3

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0
for w in trap exit calc unlinkable sleep; do
  "$WAT2WASM" --debug-names "$SRC/$w.wat" -o "$tmp/$w.wasm" || exit 1
done
printf 'not wasm at all' > "$tmp/bad.wasm"
printf '\000asm\001\000\000\000\001\377' > "$tmp/trunc.wasm"
printf '\000asm\015\000\001\000' > "$tmp/comp.wasm"

# check NAME WANT_STATUS STDOUT_WANT STDERR_REGEX -- ARGS...
check() {
  name=$1 want=$2 wout=$3 werr=$4
  shift 5
  out=$(cd "$tmp" && "$WHARF" "$@" 2>"$tmp/err")
  rc=$?
  if [ $rc -ne "$want" ]; then
    why="exit status $rc, wanted $want"
  elif [ "$out" != "$wout" ]; then
    why="stdout '$out', wanted '$wout'"
  elif [ -n "$werr" ] && ! grep -qE "$werr" "$tmp/err"; then
    why="stderr does not match /$werr/"
  else
    echo "PASS $name"
    return
  fi
  echo "FAIL $name: $why"
  sed 's/^/    stderr: /' "$tmp/err"
  fail=1
}

check version 0 "wharf 0.1.0" "" -- --version
check help 0 "$("$WHARF" help)" "" -- help
check no-args 2 "" "usage" --
check trap 134 "" "^wharf: trap: unreachable$" -- run trap.wasm
check trap-backtrace 134 "" "inner" -- run trap.wasm
check exit 7 "bye" "" -- run exit.wasm
check shorthand 7 "bye" "" -- exit.wasm
check no-start 0 "" "" -- run calc.wasm
check invoke-add 0 "42" "" -- run --invoke add calc.wasm 2 40
check invoke-neg 0 "-5" "" -- run --invoke neg64 calc.wasm 5
check invoke-half 0 "1.25" "" -- run --invoke half calc.wasm 2.5
check invoke-multi 0 "-1
5" "" -- run --invoke pair calc.wasm
check invoke-argc 2 "" "takes 2 argument" -- run --invoke add calc.wasm 1
check invoke-missing 1 "" "no exported function" -- run --invoke nope calc.wasm
check fuel 134 "" "^wharf: trap: all fuel consumed" -- run --fuel 10000 --invoke spin calc.wasm
check fuel-enough 0 "42" "" -- run --fuel 10000 --invoke add calc.wasm 40 2
check timeout-loop 134 "" "^wharf: trap: deadline exceeded" -- run --timeout 100 --invoke spin sleep.wasm
check timeout-sleep 134 "" "^wharf: trap: deadline exceeded" -- run --timeout 100 sleep.wasm
check timeout-bad 2 "" "timeout wants a positive" -- run --timeout 0 sleep.wasm
check malformed 1 "" "^wharf: bad.wasm: .*\(at byte offset [0-9]+\)$" -- run bad.wasm
check truncated 1 "" "^wharf: trunc.wasm: .*\(at byte offset [0-9]+\)$" -- run trunc.wasm
check component 1 "" "^wharf: comp.wasm: .*component" -- run comp.wasm
check unlinkable 1 "" "^wharf: unlinkable.wasm: .*missing" -- run unlinkable.wasm
check no-file 1 "" "^wharf: nope.wasm: No such file" -- run nope.wasm
check bad-dir 1 "" "nonexistent" -- run --dir /nonexistent::x exit.wasm
check bad-option 2 "" "unknown option" -- run --frobnicate exit.wasm
exit $fail
