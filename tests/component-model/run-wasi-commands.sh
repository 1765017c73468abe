#!/bin/sh
# run-wasi-commands.sh WHARF TESTDATA: the command components of
# jco-commands under `wharf run`, with the output jco's cli.test.js
# expects.  Exit 77 when the testdata is absent.
wharf=$1
dir=$2/components/jco-commands
[ -f "$dir/hello_stdout.component.wasm" ] || { echo "no testdata at $dir"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
fail=0
: > "$tmp/empty"

check() {   # name, expected exit status, expected stdout file, expected stderr file
  if [ "$rc" != "$2" ]; then echo "FAIL $1: exit status $rc, expected $2"; fail=1; return; fi
  if ! cmp -s "$tmp/out" "$3"; then echo "FAIL $1: stdout differs:"; cat "$tmp/out"; fail=1; return; fi
  if [ -n "$4" ] && ! cmp -s "$tmp/err" "$4"; then echo "FAIL $1: stderr differs:"; cat "$tmp/err"; fail=1; return; fi
  echo "ok   $1"
}

# cli.test.js "hello_stdout"
printf 'writing to stdout: hello, world\n' > "$tmp/want-out"
printf 'writing to stderr: hello, world\n' > "$tmp/want-err"
timeout 20 "$wharf" run "$dir/hello_stdout.component.wasm" > "$tmp/out" 2> "$tmp/err"; rc=$?
check hello_stdout 0 "$tmp/want-out" "$tmp/want-err"

# cli.test.js "pollable hang": it must end (within the bound, not by timeout)
start=$(date +%s)
timeout 20 "$wharf" run "$dir/stdout-pollable-hang.component.wasm" > "$tmp/out" 2> "$tmp/err"; rc=$?
check stdout-pollable-hang 0 "$tmp/empty" ""
[ $(( $(date +%s) - start )) -lt 10 ] || { echo "FAIL stdout-pollable-hang took too long"; fail=1; }

# wasi:cli/exit with an error: dir.virt without its argument prints its
# usage (argv[0] is FILE) and exits 1
timeout 20 "$wharf" run "$dir/dir.virt.wasm" > "$tmp/out" 2> "$tmp/err"; rc=$?
printf 'Usage: %s <directory>\n' "$dir/dir.virt.wasm" > "$tmp/want-out"
check dir.virt-usage 1 "$tmp/want-out" "$tmp/empty"

# cli.test.js "Transcoding UTF8 <-> UTF16": the argument, through a
# UTF-16 component and back, twice
timeout 20 "$wharf" run "$dir/utf8-utf16.composed.wasm" 'asdf中文🀄️⏰' > "$tmp/out" 2> "$tmp/err"; rc=$?
printf 'ret: asdf中文🀄️⏰asdf中文🀄️⏰\n' > "$tmp/want-out"
check utf8-utf16 0 "$tmp/want-out" "$tmp/empty"

# cli.test.js "Environment allow" (wasi-virt inside the component) and
# "Resource transfer" (stdio.composed testStdio), through `wharf invoke`
timeout 20 "$wharf" invoke "$dir/env-allow.composed.wasm" test-get-env > "$tmp/out" 2> "$tmp/err"; rc=$?
printf '[["CUSTOM","VAL"]]\n' > "$tmp/want-out"
check env-allow 0 "$tmp/want-out" "$tmp/empty"
timeout 20 "$wharf" invoke "$dir/stdio.composed.wasm" test-stdio > "$tmp/out" 2> "$tmp/err"; rc=$?
printf 'Hello world\nnull\n' > "$tmp/want-out"
check stdio.composed-test-stdio 0 "$tmp/want-out" ""

# ARGS after FILE reach the guest (get-arguments): dir.virt lists its
# argument (its directories are virtual, inside the component)
timeout 20 "$wharf" run "$dir/dir.virt.wasm" /nowhere > "$tmp/out" 2> "$tmp/err"; rc=$?
if head -n 1 "$tmp/out" | grep -qx 'Listing directory: /nowhere'; then
  echo "ok   dir.virt sees its argument"
else
  echo "FAIL dir.virt: stdout"; cat "$tmp/out"; fail=1
fi

# a component that is not
# a command is refused with a hint
timeout 20 "$wharf" run "$dir/stdio.composed.wasm" > "$tmp/out" 2> "$tmp/err"; rc=$?
if [ "$rc" != 1 ] || ! grep -q 'wasi:cli/run' "$tmp/err"; then
  echo "FAIL stdio.composed: expected a refusal, got $rc:"; cat "$tmp/err"; fail=1
else
  echo "ok   stdio.composed refused (no wasi:cli/run)"
fi
exit $fail
