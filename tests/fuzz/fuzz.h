/*
 * fuzz.h - what the fuzz targets in tests/fuzz share.
 *
 * Every target defines the libFuzzer entry points below.  It is linked
 * two ways (tests/fuzz/CMakeLists.txt):
 *
 *   fuzz-X          with -fsanitize=fuzzer (clang, WHARF_FUZZ=ON): libFuzzer
 *                   supplies main() and mutates inputs
 *   fuzz-X-replay   with fuzz_replay.c's main(), any compiler: runs each
 *                   file named on the command line (directories walked for
 *                   *.wasm) through the target once; ctest's smoke tests
 *                   replay the spec corpus this way
 *
 * A target must never crash, leak or hang on any input; when it finds an
 * engine contract broken (a documented invariant, not a sanitizer report)
 * it calls fuzz_fail(), which prints why and aborts so that libFuzzer
 * saves the input.
 */
#ifndef WH_FUZZ_H
#define WH_FUZZ_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Prints "fuzz: <why>" to stderr and aborts. */
static inline __attribute__((format(printf, 1, 2), noreturn)) void
fuzz_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("fuzz: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  abort();
}

#endif /* WH_FUZZ_H */
