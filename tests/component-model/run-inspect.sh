#!/bin/sh
# run-inspect.sh WHARF TESTDATA - `wharf inspect`: for every component in
# TESTDATA/components/jco-runtime, the `world root { ... }` block it prints
# must equal the one `jco wit` printed (X.wit); a core module lists its
# imports and exports with signatures; bad input fails with status 1 and
# a usage error with 2.  Exits 77 (skip) without the test data.
set -u
WHARF=$1
DATA=$2/components/jco-runtime
[ -d "$DATA" ] || { echo "no $DATA: skipped"; exit 77; }

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0 n=0

world() { sed -n '/^world /,/^}/p' "$1"; }

for wasm in "$DATA"/*.wasm; do
  wit=${wasm%.wasm}.wit
  [ -f "$wit" ] || continue
  n=$((n + 1))
  base=$(basename "$wasm")
  if ! "$WHARF" inspect "$wasm" >"$tmp/out" 2>"$tmp/err"; then
    echo "FAIL $base: exit status $?: $(cat "$tmp/err")"; fail=1; continue
  fi
  world "$tmp/out" >"$tmp/a"
  world "$wit" >"$tmp/b"
  if ! cmp -s "$tmp/a" "$tmp/b"; then
    echo "FAIL $base: world differs from jco's:"; diff "$tmp/a" "$tmp/b"; fail=1
  fi
done

# interface bodies: a few that jco leaves out
"$WHARF" inspect "$DATA/records.component.wasm" >"$tmp/out" 2>&1
for want in 'package test:records {' '    record r1 {' \
            '    roundtrip-flags3: func(a: flag8, b: flag16, c: flag32) -> tuple<flag8, flag16, flag32>;' \
            '      %type: descriptor-type,' \
            '    use wasi:io/streams@0.2.0.{output-stream};'; do
  grep -qxF -- "$want" "$tmp/out" || { echo "FAIL records: no line '$want'"; fail=1; }
done
"$WHARF" inspect "$DATA/resource_alias_redux.component.wasm" >"$tmp/out" 2>&1
for want in '    use test:resource-alias-redux/resource-alias1.{foo as bar};' \
            '    a: func(f: foo) -> list<thing>;' '      constructor(s: string);'; do
  grep -qxF -- "$want" "$tmp/out" || { echo "FAIL resource_alias_redux: no line '$want'"; fail=1; }
done

# a core module: (module (import "env" "f" (func (param i32))) (memory 1)
#   (func (export "add") (param i32 i32) (result i32) local.get 0)
#   (export "mem" (memory 0)))
printf '\000asm\001\000\000\000' >"$tmp/core.wasm"
printf '\001\013\002\140\001\177\000\140\002\177\177\001\177' >>"$tmp/core.wasm"
printf '\002\011\001\003env\001f\000\000' >>"$tmp/core.wasm"
printf '\003\002\001\001\005\003\001\000\001' >>"$tmp/core.wasm"
printf '\007\015\002\003add\000\001\003mem\002\000' >>"$tmp/core.wasm"
printf '\012\006\001\004\000\040\000\013' >>"$tmp/core.wasm"
if "$WHARF" inspect "$tmp/core.wasm" >"$tmp/out" 2>"$tmp/err"; then
  printf 'import "env" "f": func\nexport "add": func (i32, i32) -> (i32)\nexport "mem": memory\n' >"$tmp/want"
  cmp -s "$tmp/out" "$tmp/want" || { echo "FAIL core module listing:"; diff "$tmp/out" "$tmp/want"; fail=1; }
else
  echo "FAIL core module: $(cat "$tmp/err")"; fail=1
fi

printf 'not wasm at all' >"$tmp/bad.wasm"
"$WHARF" inspect "$tmp/bad.wasm" >/dev/null 2>&1; rc=$?
[ $rc -eq 1 ] || { echo "FAIL bad file: exit status $rc, wanted 1"; fail=1; }
"$WHARF" inspect >/dev/null 2>&1; rc=$?
[ $rc -eq 2 ] || { echo "FAIL no file: exit status $rc, wanted 2"; fail=1; }

# `wharf invoke`: the handmade component (no imports): add(-5, 3) = -2,
# greet(any) = "hi"; a wrong argument type is an error naming its path
HM=$2/components/handmade/calc-noimport.component.wasm
if [ -f "$HM" ]; then
  out=$("$WHARF" invoke "$HM" add '[-5, 3]' 2>&1)
  [ "$out" = "-2" ] || { echo "FAIL invoke add: '$out', wanted -2"; fail=1; }
  out=$("$WHARF" invoke "$HM" greet '["anyone"]' 2>&1)
  [ "$out" = '"hi"' ] || { echo "FAIL invoke greet: '$out', wanted \"hi\""; fail=1; }
  out=$("$WHARF" invoke "$HM" add '[1, "a"]' 2>&1); rc=$?
  [ $rc -eq 1 ] && echo "$out" | grep -q 'args\[1\]: expected s32, got string' ||
    { echo "FAIL invoke bad args: status $rc, '$out'"; fail=1; }
fi

[ $fail -eq 0 ] && echo "inspect: $n components match jco's worlds; invoke works"
exit $fail
