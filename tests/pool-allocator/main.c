/*
 * main.c - wharf-unit-pool: one CUnit registry with a suite per
 * pool-allocator source file.  Exits 1 if any assertion failed, 2 if
 * CUnit could not run, 77 (skipped) without wat2wasm.
 *
 *   wharf-unit-pool            run every suite
 *   wharf-unit-pool pool.c     run one suite
 */
#include <stdio.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "pt.h"

static CU_SuiteInfo suites[] = {
    {.pName = "pool.c", .pTests = pt_tests_pool},
    {.pName = "cow_linux.c", .pTests = pt_tests_cow_linux},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) {
  if (!pt_wat2wasm()) {
    fprintf(stderr, "wharf-unit-pool: wat2wasm was not found at build time; skipped\n");
    return 77;
  }
  if (CU_initialize_registry() != CUE_SUCCESS) {
    fprintf(stderr, "wharf-unit-pool: %s\n", CU_get_error_msg());
    return 2;
  }
  if (CU_register_suites(suites) != CUE_SUCCESS) {
    fprintf(stderr, "wharf-unit-pool: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    return 2;
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_ErrorCode rc;
  if (argc > 1) {
    CU_pSuite s = CU_get_suite(argv[1]);
    if (!s) {
      fprintf(stderr, "wharf-unit-pool: no suite named %s\n", argv[1]);
      CU_cleanup_registry();
      return 2;
    }
    rc = argc > 2 ? CU_basic_run_test(s, CU_get_test(s, argv[2])) : CU_basic_run_suite(s);
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
