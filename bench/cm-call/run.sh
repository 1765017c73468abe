#!/bin/sh
# run.sh [BUILD_DIR] - builds and runs the host-to-component call
# benchmark (cm_call.c): wh_cm_call of add(s32, s32) and greet(string)
# against the same core functions through wh_call, in one run; then
# f(string) -> string component-to-component through a fused adapter
# against host-to-component and against the value path (cm_cross.c).
#   BUILD_DIR        default: build (relative to the project root)
#   WHARF_TESTDATA   test data (default: ../shared/testdata)
#   BENCH_REPS       batches per row (default 101)
#   BENCH_CALLS      calls per batch (default 2000)
# Extra arguments after BUILD_DIR go to the program (`--only N` for perf).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
export WHARF_TESTDATA=${WHARF_TESTDATA:-$root/../shared/testdata}
cmake --build "$build" -j2 --target wharf-bench-cm-call wharf-bench-cm-cross >/dev/null
"$build/bench/wharf-bench-cm-call" "$@"
# the component-to-component rows (cross.sh: needs jco for cross.wasm)
echo
sh "$root/bench/cm-call/cross.sh" "$build" || [ $? -eq 77 ]
