#!/bin/sh
# run.sh [BUILD_DIR] - builds and runs the cache benchmark (bench_cache.c):
# compile time vs load-from-cache time for every sightglass module.
#   BUILD_DIR          default: build (relative to the project root)
#   WHARF_TESTDATA     test data (default: ../shared/testdata)
#   WHARF_BENCH_REPS   repetitions per module (default 11)
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
data=${WHARF_TESTDATA:-$root/../shared/testdata}
cmake --build "$build" -j2 --target wharf-bench-cache >/dev/null
exec "$build/bench/wharf-bench-cache" "$data/bench/sightglass"
