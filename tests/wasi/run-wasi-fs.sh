#!/bin/sh
# run-wasi-fs.sh WHARF CLANG SRCDIR - builds wasi_fs.c for wasm32-wasi
# and runs it in an empty scratch directory, with both path resolvers.
# Exits 77 (skipped) if clang cannot build for wasm32-wasi here.
set -u
WHARF=$1
CLANG=$2
SRC=$3

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
if ! "$CLANG" --target=wasm32-wasi --sysroot="${WASI_SYSROOT:-/usr}" -O2 \
     "$SRC/wasi_fs.c" -o "$tmp/wasi_fs.wasm" 2>"$tmp/cc.err"; then
  echo "skip: cannot build for wasm32-wasi:"
  sed 's/^/    /' "$tmp/cc.err"
  exit 77
fi

fail=0
for mode in openat2 portable; do
  rm -rf "$tmp/scratch"
  mkdir "$tmp/scratch"
  if [ $mode = portable ]; then
    WHARF_WASI_PORTABLE_RESOLVE=1
    export WHARF_WASI_PORTABLE_RESOLVE
  fi
  out=$(cd "$tmp" && "$WHARF" run --dir scratch::. --env WHARF_T=yes \
        wasi_fs.wasm one two 2>&1)
  rc=$?
  if [ $rc -eq 0 ] && [ "$out" = "wasi_fs: ok" ] &&
     [ -z "$(ls -A "$tmp/scratch")" ]; then
    echo "PASS wasi_fs ($mode)"
  else
    echo "FAIL wasi_fs ($mode): exit $rc"
    echo "$out" | sed 's/^/    /'
    fail=1
  fi
done
exit $fail
