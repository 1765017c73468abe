#!/bin/sh
# bench/instantiate/run.sh - builds instantiate.c with gcc -O2 against
# build/libwharf.a (kept out of the default build) and runs it.
#
#   bench/instantiate/run.sh                 the full run (about a minute)
#   BENCH_SECONDS=0.3 BENCH_CYCLES=5000 bench/instantiate/run.sh   quicker
#   WHARF_BUILD=/path/to/build bench/instantiate/run.sh            another build
#
# Extra arguments go to the program: "throughput SIZE-INDEX THREADS" runs
# one throughput measurement only (0 = 0 B ... 4 = 64 MiB), for perf.  The
# binary is left at $TMPDIR/wharf-bench-instantiate for perf.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${WHARF_BUILD:-$root/build}
if [ ! -f "$build/libwharf.a" ]; then
  cmake -S "$root" -B "$build" >/dev/null
  cmake --build "$build" -j2 --target wharf
fi
out=${TMPDIR:-/tmp}/wharf-bench-instantiate
gcc -std=gnu11 -O2 -g -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter \
  -I"$root/engine" -I"$root/pool-allocator" \
  "$here/instantiate.c" "$build/libwharf.a" -lcrypto -lpthread -lm -o "$out"
exec "$out" "$@"
