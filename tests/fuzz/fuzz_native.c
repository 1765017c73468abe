/*
 * fuzz_native.c - fuzz-native: fuzz-exec's run and checks (fuzz_exec.c),
 * with the second run on the native tier instead of a deserialized copy:
 * every module the interpreter runs is compiled through LLVM and run
 * again, and the two tiers must agree call by call in outcome, trap kind,
 * fuel consumed and results (NaNs by class), and in the exported globals
 * at the end.  Built only with WHARF_LLVM.
 */
#define WH_FUZZ_VS_NATIVE 1
#include "fuzz_exec.c"
