/*
 * native_none.c - the native tier's compiler in a build without LLVM
 * (CMake option WHARF_LLVM off): every request for native code fails with
 * one clear error.  Loading needs no LLVM (native_load.c), but a build
 * without it never makes or accepts a native fingerprint.
 */
#include "native.h"

static int no_llvm(wh_diag_t *diag) {
  return wh_diag_set(diag, WH_EUNSUPPORTED, -1,
                     "tier native: wharf was not built with LLVM (configure with -DWHARF_LLVM=ON "
                     "and llvm-19-dev installed)");
}

int wh__native_compile(wh_module_t *m, wh_diag_t *diag) {
  (void)m;
  return no_llvm(diag);
}

int wh__native_compiler_check(wh_diag_t *diag) { return no_llvm(diag); }

bool wh__native_available(void) { return false; }
