/*
 * test_link.c - wharf-unit-cm-link: whether one component's export fits
 * another's import (component-model/link.c, wh_cm_link_check), on the
 * components in link/ (built from its .wat files by run-link.sh, jco):
 * importer.wat imports interface t:p/i (a string function, a record type
 * and a function on it, a resource with a method); every other file
 * exports t:p/i with one difference, named in its first line.
 *
 *   wharf-unit-cm-link DIR      (DIR holds the .wasm files)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "wh_cm.h"
#include "wh_engine.h"

static wh_engine_t *engine;
static const char *dir;
static wh_cm_component_t *importer;

static wh_cm_component_t *load(const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.wasm", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  static uint8_t buf[1 << 16];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  wh_diag_t d;
  wh_cm_component_t *c = wh_cm_component_new(engine, buf, n, &d);
  if (!c) fprintf(stderr, "%s: %s\n", path, d.msg);
  return c;
}

/* wh_cm_link_check(importer, "t:p/i", exporter `name`): its code, and
 * (rc != 0) its message must hold every one of want[]. */
static void check(const char *name, int rc_want, const char *const *want) {
  wh_cm_component_t *ex = load(name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
  char why[1024] = "";
  int rc = wh_cm_link_check(importer, "t:p/i", ex, why, sizeof why);
  if (rc != rc_want) fprintf(stderr, "%s: rc %d (%s), want %d\n", name, rc, why, rc_want);
  CU_ASSERT_EQUAL(rc, rc_want);
  for (const char *const *w = want; w && *w; w++) {
    if (!strstr(why, *w)) fprintf(stderr, "%s: \"%s\" lacks \"%s\"\n", name, why, *w);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, *w));
  }
  wh_cm_component_free(ex);
}

static void test_same_type_links(void) {
  check("same", 0, NULL);   /* an extra export on the exporter is fine */
  check("importer", WH_EUNLINKABLE, (const char *const[]){"exports nothing named t:p/i", NULL});
}

static void test_function_types(void) {
  check("f_result", WH_EUNLINKABLE,
        (const char *const[]){"t:p/i#f", "func(a: string) -> string", "func(a: string) -> u32",
                              NULL});
  check("param_name", WH_EUNLINKABLE,
        (const char *const[]){"t:p/i#f", "func(a: string) -> string", "func(b: string) -> string",
                              NULL});
}

static void test_value_and_resource_types(void) {
  /* the record's field names differ: both rec and g (which takes it) */
  check("field_name", WH_EUNLINKABLE, (const char *const[]){"t:p/i#rec", NULL});
  check("not_resource", WH_EUNLINKABLE,
        (const char *const[]){"t:p/i#r", "a resource in the import", NULL});
}

static void test_missing_items(void) {
  check("missing", WH_EUNLINKABLE, (const char *const[]){"t:p/i#g", "does not export it", NULL});
  /* an import the component does not have */
  wh_cm_component_t *ex = load("same");
  CU_ASSERT_PTR_NOT_NULL_FATAL(ex);
  char why[512];
  CU_ASSERT_EQUAL(wh_cm_link_check(importer, "t:p/other", ex, why, sizeof why), WH_ENOTFOUND);
  wh_cm_component_free(ex);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: wharf-unit-cm-link DIR\n");
    return 2;
  }
  dir = argv[1];
  engine = wh_engine_new(NULL);
  importer = engine ? load("importer") : NULL;
  if (!importer) {
    printf("SKIP: %s/importer.wasm not built\n", dir);
    return 77;
  }
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("link", NULL, NULL);
  CU_add_test(s, "an export of the same type links; a missing export does not",
              test_same_type_links);
  CU_add_test(s, "function types must be equal, parameter names included", test_function_types);
  CU_add_test(s, "record fields and resources must match", test_value_and_resource_types);
  CU_add_test(s, "a missing item or import is named", test_missing_items);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  wh_cm_component_free(importer);
  wh_engine_free(engine);
  return failed ? 1 : 0;
}
