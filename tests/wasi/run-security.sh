#!/bin/sh
# run-security.sh WHARF WAT2WASM SRCDIR - WASI sandbox tests.
#
# Builds escape.wat and efault.wat with wat2wasm and runs them under
# `wharf run`, once with the openat2 resolver and once with the portable
# openat() walker (WHARF_WASI_PORTABLE_RESOLVE=1):
#   escape.wasm  tries to leave its preopened directory by `..`, absolute
#                paths and symlinks; every attempt must fail with an errno
#   efault.wasm  passes out-of-range pointers; each must give EFAULT
#   wasi_fuzz.wasm  calls every function with random arguments (several
#                seeds): the host must not crash
# The first two print "ok" when every check held; after each run the
# script also checks that nothing outside the sandbox changed.
set -u
WHARF=$1
WAT2WASM=$2
SRC=$3

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0

"$WAT2WASM" "$SRC/escape.wat" -o "$tmp/escape.wasm" || exit 1
"$WAT2WASM" "$SRC/efault.wat" -o "$tmp/efault.wasm" || exit 1
"$WAT2WASM" "$SRC/wasi_fuzz.wat" -o "$tmp/wasi_fuzz.wasm" || exit 1

setup() {
  rm -rf "$tmp/sandbox" "$tmp/outside"
  mkdir -p "$tmp/sandbox/sub" "$tmp/outside"
  echo secret > "$tmp/outside/secret"
  echo inside > "$tmp/sandbox/inside.txt"
  ln -s /etc "$tmp/sandbox/link"
  ln -s ../outside "$tmp/sandbox/rel"
  ln -s ../outside/secret "$tmp/sandbox/secretlink"
  ln -s inside.txt "$tmp/sandbox/inlink"
  touch -d 2001-01-01 "$tmp/outside/secret" "$tmp/outside"
  : > "$tmp/err"
}

# What must not change: the names beside the sandbox and the outside dir.
outside_state() {
  (cd "$tmp" && ls -A . && stat -c '%n %s %Y %a' outside outside/* &&
   cat outside/secret)
}

# expect NAME WASM STDOUT ENV [ARG]; STDOUT "*" accepts any output
expect() {
  name=$1 wasm=$2 want=$3 envv=$4
  shift 4
  setup
  before=$(outside_state)
  out=$(cd "$tmp" && env "$envv" "$WHARF" run --dir sandbox::. "$wasm" "$@" \
        </dev/null 2>"$tmp/err")
  rc=$?
  [ "$want" = "*" ] && want=$out
  if [ $rc -ne 0 ] || [ "$out" != "$want" ]; then
    echo "FAIL $name: exit $rc (10+ is the failed check's number), stdout '$out'"
    sed 's/^/    /' "$tmp/err"
    fail=1
  elif [ "$(outside_state)" != "$before" ]; then
    echo "FAIL $name: the filesystem outside the sandbox changed"
    fail=1
  else
    echo "PASS $name"
  fi
}

expect escape-openat2 escape.wasm ok WHARF_T=1
expect escape-portable escape.wasm ok WHARF_WASI_PORTABLE_RESOLVE=1
expect efault efault.wasm Gok WHARF_T=1
expect efault-portable efault.wasm Gok WHARF_WASI_PORTABLE_RESOLVE=1
for seed in 0 1 2 3 4 5 6 7; do
  expect fuzz-$seed wasi_fuzz.wasm "*" WHARF_T=1 $seed
  expect fuzz-portable-$seed wasi_fuzz.wasm "*" WHARF_WASI_PORTABLE_RESOLVE=1 $seed
done
exit $fail
