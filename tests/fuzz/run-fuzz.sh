#!/bin/sh
# tests/fuzz/run-fuzz.sh - builds the libFuzzer targets and runs each one.
#
#   tests/fuzz/run-fuzz.sh [SECONDS] [TARGET...]
#
# Configures build-fuzz/ (FUZZ_BUILD) with clang, WHARF_FUZZ=ON and the
# whole project instrumented (-fsanitize=fuzzer-no-link,address,undefined),
# builds the fuzz-TARGET binaries and runs each TARGET (default: decode
# exec component config options, and native when LLVM 19 is there) for
# SECONDS (default 10), one after the other, seeded (wasm targets) with every
# .wasm under $WHARF_TESTDATA/spec/json copied into a temporary corpus
# directory (never into the repository), with the dictionary
# tests/fuzz/wasm.dict.  Findings (crash-*, leak-*, timeout-*, oom-*) go to
# FUZZ_ARTIFACTS (default build-fuzz/artifacts); replay one with
# `build-fuzz/tests/fuzz-X FILE`, or with fuzz-X-replay from any build.
#
# Environment: FUZZ_BUILD, FUZZ_ARTIFACTS, FUZZ_CORPUS (a directory to keep
# the grown corpus in, one subdirectory per target; default a temporary
# directory removed at exit), FUZZ_FLAGS (more libFuzzer flags), CC (default
# clang), WHARF_TESTDATA.
# Exit status: 0 when no target found anything, 1 otherwise.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
secs=${1:-10}
[ $# -gt 0 ] && shift
default_targets="decode exec component config options"
# fuzz-native needs the LLVM tier (built when llvm-config-19 is there)
command -v llvm-config-19 >/dev/null 2>&1 && default_targets="$default_targets native"
targets=${*:-$default_targets}
FUZZ_BUILD=${FUZZ_BUILD:-$repo/build-fuzz}
FUZZ_ARTIFACTS=${FUZZ_ARTIFACTS:-$FUZZ_BUILD/artifacts}
WHARF_TESTDATA=${WHARF_TESTDATA:-$repo/../shared/testdata}
CC=${CC:-clang}
seeds=$WHARF_TESTDATA/spec/json

san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
cmake -S "$repo" -B "$FUZZ_BUILD" -DCMAKE_C_COMPILER="$CC" -DWHARF_FUZZ=ON \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_FLAGS="$san" >/dev/null
build_targets=""
for t in $targets; do build_targets="$build_targets fuzz-$t"; done
# shellcheck disable=SC2086
cmake --build "$FUZZ_BUILD" -j2 --target $build_targets

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wharf-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
corpus_root=${FUZZ_CORPUS:-$tmp}
mkdir -p "$FUZZ_ARTIFACTS"

status=0
for t in $targets; do
  corpus=$corpus_root/$t
  mkdir -p "$corpus"
  sample=1
  case $t in
    component) tseeds=$WHARF_TESTDATA/component-spec pattern='*.wasm' ;;
    config) tseeds=$repo/systemd pattern='*.conf' ;;
    options) tseeds=$here/options-seeds pattern='*.txt' ;;
    native) tseeds=$seeds pattern='*.wasm' sample=10 ;;  # LLVM compiles each seed
    *) tseeds=$seeds pattern='*.wasm' ;;
  esac
  if [ -d "$tseeds" ]; then
    # The seeds keep their subdirectories: libFuzzer reads a corpus
    # directory recursively and writes new inputs at its top.
    # (every `sample`th seed: libFuzzer runs all seeds before its clock)
    (cd "$tseeds" && find . -name "$pattern" | sort | awk -v n="$sample" 'NR % n == 0' |
       tar -cf - -T -) | (cd "$corpus" && tar -xf -)
  else
    echo "run-fuzz.sh: no seeds at $tseeds; starting from an empty corpus" >&2
  fi
  echo "== fuzz-$t for ${secs}s ($(find "$corpus" -type f | wc -l) inputs in the corpus)"
  dict=$here/wasm.dict
  [ "$t" = options ] && dict=$here/options.dict
  # shellcheck disable=SC2086
  if ! "$FUZZ_BUILD/tests/fuzz-$t" -max_total_time="$secs" -timeout=10 \
       -rss_limit_mb=2048 -print_final_stats=1 -dict="$dict" \
       -artifact_prefix="$FUZZ_ARTIFACTS/$t-" ${FUZZ_FLAGS:-} "$corpus"; then
    echo "run-fuzz.sh: fuzz-$t found a problem; see $FUZZ_ARTIFACTS" >&2
    status=1
  fi
done
exit $status
