/*
 * test_error.c - error codes, their names and texts, diagnostics
 * (engine/error.c), and the trap texts (wh_trap_text, exec.c's table).
 */
#include <string.h>

#include "wt.h"

static void test_names_and_texts(void) {
  static const struct {
    int code;
    const char *name, *text;
  } codes[] = {
#define X(name, text) {WH_E##name, "WH_E" #name, text},
      WH_ERRNO_MAP(X)
#undef X
  };
  for (size_t i = 0; i < sizeof codes / sizeof *codes; i++) {
    WT_CHECK(codes[i].code < 0, "%s is negative (%d)", codes[i].name, codes[i].code);
    WT_CHECK(strcmp(wh_errname(codes[i].code), codes[i].name) == 0, "%s is named %s (got %s)",
             codes[i].name, codes[i].name, wh_errname(codes[i].code));
    WT_CHECK(strcmp(wh_strerror(codes[i].code), codes[i].text) == 0,
             "%s reads \"%s\" (got \"%s\")", codes[i].name, codes[i].text,
             wh_strerror(codes[i].code));
    for (size_t k = 0; k < i; k++)
      WT_CHECK(codes[k].code != codes[i].code, "%s and %s differ", codes[k].name,
               codes[i].name);
  }
  WT_CHECK(strcmp(wh_errname(0), "WH_OK") == 0, "0 is WH_OK");
  WT_CHECK(strcmp(wh_strerror(0), "success") == 0, "0 reads \"success\"");
  WT_CHECK(strcmp(wh_strerror(12345), "unknown error") == 0, "an unknown code reads "
           "\"unknown error\"");
  WT_CHECK(strcmp(wh_errname(-1), "WH_EUNKNOWN") == 0, "an unknown code is WH_EUNKNOWN");
  WT_CHECK(strcmp(wh_strerror(WH_ECOMPONENT), "this is a component, not a core module") == 0,
           "WH_ECOMPONENT's text names a component");
}

static void test_diag(void) {
  wh_diag_t d;
  memset(&d, 0x55, sizeof d);
  wh_diag_clear(&d);
  WT_CHECK(d.code == 0 && d.offset == -1 && d.line == -1 && d.msg[0] == '\0',
           "a cleared diagnostic is empty with offset and line -1");
  int rc = wh_diag_set(&d, WH_EINVALID, 42, "bad %s %d", "thing", 7);
  WT_CHECK(rc == WH_EINVALID && d.code == WH_EINVALID && d.offset == 42 &&
               strcmp(d.msg, "bad thing 7") == 0,
           "wh_diag_set records code, offset and message and returns the code");
  WT_CHECK(wh_diag_set(NULL, WH_EIO, 0, "x") == WH_EIO, "wh_diag_set with NULL returns the code");
  wh_diag_clear(NULL);
  char big[600];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  wh_diag_set(&d, WH_EIO, -1, "%s", big);
  WT_CHECK(strlen(d.msg) == sizeof d.msg - 1, "a long message is cut to fit (got %zu)",
           strlen(d.msg));
}

static void test_trap_texts(void) {
  static const struct {
    wh_trap_code_t code;
    const char *text;
  } traps[] = {
      {WH_TRAP_UNREACHABLE, "unreachable"},
      {WH_TRAP_MEM_OOB, "out of bounds memory access"},
      {WH_TRAP_TABLE_OOB, "out of bounds table access"},
      {WH_TRAP_INDIRECT_NULL, "uninitialized element"},
      {WH_TRAP_INDIRECT_TYPE, "indirect call type mismatch"},
      {WH_TRAP_UNDEFINED_ELEM, "undefined element"},
      {WH_TRAP_DIV_ZERO, "integer divide by zero"},
      {WH_TRAP_INT_OVERFLOW, "integer overflow"},
      {WH_TRAP_BAD_CONVERSION, "invalid conversion to integer"},
      {WH_TRAP_STACK_EXHAUSTED, "call stack exhausted"},
      {WH_TRAP_OUT_OF_FUEL, "all fuel consumed"},
      {WH_TRAP_DEADLINE, "deadline exceeded"},
      {WH_TRAP_INTERRUPTED, "interrupted"},
  };
  for (size_t i = 0; i < sizeof traps / sizeof *traps; i++)
    WT_CHECK(strcmp(wh_trap_text(traps[i].code), traps[i].text) == 0,
             "trap %d reads \"%s\" (got \"%s\")", traps[i].code, traps[i].text,
             wh_trap_text(traps[i].code));
  WT_CHECK(strcmp(wh_trap_text(WH_TRAP_NONE), "no trap") == 0, "no trap reads \"no trap\"");
}

CU_TestInfo wt_tests_error[] = {
    {"every error code has a unique name and text", test_names_and_texts},
    {"diagnostics are set and cleared", test_diag},
    {"trap kinds read as the spec words them", test_trap_texts},
    CU_TEST_INFO_NULL,
};
