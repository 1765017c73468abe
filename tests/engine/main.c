/*
 * main.c - wharf-unit-engine: one CUnit registry with a suite per engine
 * source file (see the list at the end of wt.h).  Exits non-zero if any
 * assertion failed, a test could not run, or a suite's set-up failed.
 *
 *   wharf-unit-engine            run every suite
 *   wharf-unit-engine decode.c   run one suite
 */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "wt.h"

static CU_SuiteInfo suites[] = {
    {.pName = "decode.c", .pTests = wt_tests_decode},
    {.pName = "compile.c", .pTests = wt_tests_compile},
    {.pName = "interp.c", .pTests = wt_tests_interp},
    {.pName = "exec.c", .pTests = wt_tests_exec},
    {.pName = "instance.c", .pTests = wt_tests_instance},
    {.pName = "module.c", .pTests = wt_tests_module},
    {.pName = "serialize.c", .pTests = wt_tests_serialize},
    {.pName = "error.c", .pTests = wt_tests_error},
    {.pName = "simd", .pTests = wt_tests_simd},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) {
  if (CU_initialize_registry() != CUE_SUCCESS) {
    fprintf(stderr, "wharf-unit-engine: %s\n", CU_get_error_msg());
    return 2;
  }
  if (CU_register_suites(suites) != CUE_SUCCESS) {
    fprintf(stderr, "wharf-unit-engine: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    return 2;
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_ErrorCode rc;
  if (argc > 1) {
    CU_pSuite s = CU_get_suite(argv[1]);
    if (!s) {
      fprintf(stderr, "wharf-unit-engine: no suite named %s\n", argv[1]);
      CU_cleanup_registry();
      return 2;
    }
    rc = CU_basic_run_suite(s);
  } else {
    rc = CU_basic_run_tests();
  }
  unsigned failures = CU_get_number_of_failures();
  unsigned failed_suites = CU_get_number_of_suites_failed();
  unsigned failed_tests = CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  if (rc != CUE_SUCCESS) return 2;
  return failures || failed_suites || failed_tests ? 1 : 0;
}
