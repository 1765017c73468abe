#!/bin/sh
# plugin.sh WHARF WHARFD PLUGIN FIB_WASM - the native tier's compiler plugin
# (engine/native_plugin.h): the programs do not link libLLVM; compiling
# loads the plugin; running precompiled native code works without it; a
# missing plugin or a file that is not one is refused with its path, by
# `wharf` and by wharfd at start and in --check-config.  And the perf map
# for profiling native code (WHARF_PERFMAP=1).
set -u
wharf=$1 wharfd=$2 plugin=$3 wasm=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
no() { echo "FAIL: $*"; fail=1; }

for p in "$wharf" "$wharfd"; do
  if ldd "$p" | grep -q libLLVM; then no "$p links libLLVM"; fi
done
[ -f "$plugin" ] || no "the plugin $plugin was not built"

# compiling natively loads the plugin from beside the program
out=$("$wharf" run --tier native --invoke fib "$wasm" 20 2>&1) || no "wharf run --tier native: $out"
[ "$out" = "6765" ] || no "fib(20) on the native tier printed '$out'"
"$wharf" compile --tier native "$wasm" -o "$tmp/fib.cwasm" >/dev/null 2>&1 ||
  no "wharf compile --tier native failed"

# running precompiled native code needs no plugin
out=$(WHARF_LLVM_PLUGIN=$tmp/none.so "$wharf" run --tier native --invoke fib "$tmp/fib.cwasm" 20 2>&1)
[ "$out" = "6765" ] || no "precompiled code without the plugin printed '$out'"

# compiling without it: an error naming the path
out=$(WHARF_LLVM_PLUGIN=$tmp/none.so "$wharf" run --tier native --invoke fib "$wasm" 20 2>&1) &&
  no "compiling without the plugin succeeded"
case $out in
  *"plugin $tmp/none.so was not found"*) ;;
  *) no "missing plugin: '$out'" ;;
esac
# a shared object that is not a wharf plugin
libc=$(ldd "$wharf" | awk '/libc\.so/ {print $3}')
out=$(WHARF_LLVM_PLUGIN=$libc "$wharf" run --tier native --invoke fib "$wasm" 20 2>&1) &&
  no "compiling with $libc as the plugin succeeded"
case $out in
  *"$libc is not a wharf LLVM plugin"*) ;;
  *) no "libc as the plugin: '$out'" ;;
esac
# a file that is no shared object at all
printf 'not an ELF file' > "$tmp/junk.so"
out=$(WHARF_LLVM_PLUGIN=$tmp/junk.so "$wharf" run --tier native --invoke fib "$wasm" 20 2>&1) &&
  no "compiling with a junk plugin succeeded"
case $out in
  *"cannot load the LLVM compiler plugin $tmp/junk.so"*) ;;
  *) no "junk plugin: '$out'" ;;
esac

# WHARF_PERFMAP=1: the loaded functions in perf's map for JIT code
pid=$(sh -c 'echo $$; exec env WHARF_PERFMAP=1 "$@" >/dev/null 2>&1' sh \
        "$wharf" run --tier native --invoke fib "$tmp/fib.cwasm" 20)
map=/tmp/perf-$pid.map
if ! grep -Eq '^[0-9a-f]+ [0-9a-f]+ wasm:func\[0\]$' "$map" 2>/dev/null ||
   ! grep -Eq '^[0-9a-f]+ [0-9a-f]+ wasm-entry:func\[0\]$' "$map"; then
  no "WHARF_PERFMAP=1 wrote no map for fib to $map: $(cat "$map" 2>&1)"
fi
rm -f "$map"
sh -c 'echo $$; exec "$@" >/dev/null 2>&1' sh "$wharf" run --tier native --invoke fib \
  "$tmp/fib.cwasm" 20 > "$tmp/pid"
[ -e "/tmp/perf-$(cat "$tmp/pid").map" ] && no "a perf map was written without WHARF_PERFMAP"

# wharfd refuses to start (and --check-config fails) without it
cat > "$tmp/wharfd.conf" <<CONF
[server]
listen = 127.0.0.1:18999
[storage]
data_dir = $tmp/data
[engine]
tier = native
CONF
WHARF_LLVM_PLUGIN=$tmp/none.so "$wharfd" --check-config -c "$tmp/wharfd.conf" >"$tmp/out" 2>&1 &&
  no "wharfd --check-config passed without the plugin"
grep -q "plugin $tmp/none.so was not found" "$tmp/out" || no "wharfd said: $(cat "$tmp/out")"
"$wharfd" --check-config -c "$tmp/wharfd.conf" >"$tmp/out" 2>&1 ||
  no "wharfd --check-config with the plugin: $(cat "$tmp/out")"
sed -i 's/tier = native/tier = interp/' "$tmp/wharfd.conf"
WHARF_LLVM_PLUGIN=$tmp/none.so "$wharfd" --check-config -c "$tmp/wharfd.conf" >"$tmp/out" 2>&1 ||
  no "tier interp needs no plugin, but: $(cat "$tmp/out")"

[ $fail = 0 ] && echo "plugin: all checks passed"
exit $fail
