#!/usr/bin/env bash
# Builds wharf and runs every test, twice: the normal (RelWithDebInfo)
# build, then the AddressSanitizer + UndefinedBehaviorSanitizer build; then
# a short run of each fuzz target.  Installs what it needs first.
#
#   scripts/test.sh            everything (about 10 minutes on 2 cores)
#   WHARF_FUZZ_SECONDS=0 ...   skip the fuzz run
#
# Test data written by others is found at ../shared/testdata or
# $WHARF_TESTDATA; tests that need it report "skipped" when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
werror=OFF
[ "${CI:-}" = "true" ] && werror=ON

status=0
run_suite() {  # name build-dir cmake-args...
  local name=$1 dir=$2
  shift 2
  echo "=== $name build ($dir)"
  cmake -S . -B "$dir" -DWHARF_WERROR=$werror "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  echo "=== $name tests"
  (cd "$dir" && ctest --output-on-failure --timeout 1500) || status=1
}

run_suite "normal" build
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_suite "sanitizer (ASan+UBSan)" build-asan -DWHARF_SANITIZE=ON

fuzz_seconds=${WHARF_FUZZ_SECONDS:-5}
if [ "$fuzz_seconds" != "0" ] && [ -x tests/fuzz/run-fuzz.sh ]; then
  echo "=== fuzz smoke (${fuzz_seconds}s per target)"
  tests/fuzz/run-fuzz.sh "$fuzz_seconds" || status=1
fi

if [ $status -eq 0 ]; then echo "=== all test suites passed"; else echo "=== FAILURES (see above)"; fi
exit $status
