/*
 * test_json.h - the json.c CUnit suite, for a runner that wants it
 * (wharf-unit-cm-json runs it on its own; add
 *   {.pName = "json.c", .pInitFunc = wh_test_json_init,
 *    .pCleanupFunc = wh_test_json_fini, .pTests = wh_test_json_tests}
 * to another runner's suites to run it there).
 */
#ifndef WH_TEST_JSON_H
#define WH_TEST_JSON_H
#include <CUnit/CUnit.h>
extern CU_TestInfo wh_test_json_tests[];
int wh_test_json_init(void);
int wh_test_json_fini(void);
#endif
