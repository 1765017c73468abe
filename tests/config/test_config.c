/*
 * test_config.c - config/config.c: defaults, value parsing, error
 * positions, tenant limits, and docs/CONFIG.md agreeing with the key table.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wh_config.h"

#ifndef WHARF_SOURCE_DIR
#define WHARF_SOURCE_DIR "."
#endif

static const char *KEY_A = "key_sha256 = 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
static const char *KEY_B = "key_sha256 = 486ea46224d1bb4fb680f34f7c9ad96a8f24ec88be73ea8e5a6c65260e9cb8a7";

static int load(const char *text, wh_config_t *c, wh_diag_t *d) {
  return wh_cfg_load_string(text, "test.conf", c, d);
}

static void test_defaults(void) {
  wh_config_t c;
  CU_ASSERT_EQUAL_FATAL(wh_cfg_defaults(&c), 0);
  CU_ASSERT_EQUAL(c.nlisten, 1);
  CU_ASSERT_STRING_EQUAL(c.listen[0], "127.0.0.1:8080");
  CU_ASSERT_EQUAL(c.max_body_size, 64ull << 20);
  CU_ASSERT_EQUAL(c.request_timeout_ms, 30000);
  CU_ASSERT_EQUAL(c.pool.max_memory_size, 4ull << 30);
  CU_ASSERT_EQUAL(c.limits.max_wall_time_ms, 10000);
  CU_ASSERT_EQUAL(c.limits.max_memory_size, 256ull << 20);
  CU_ASSERT_STRING_EQUAL(c.data_dir, "/var/lib/wharf");
  CU_ASSERT_PTR_NULL(c.tls_cert);
  wh_cfg_fini(&c);
}

static void test_sizes_and_durations(void) {
  uint64_t v;
  CU_ASSERT(wh_cfg_parse_size("4096", &v) == 0 && v == 4096);
  CU_ASSERT(wh_cfg_parse_size("64 MiB", &v) == 0 && v == 64ull << 20);
  CU_ASSERT(wh_cfg_parse_size("2GiB", &v) == 0 && v == 2ull << 30);
  CU_ASSERT(wh_cfg_parse_size("1 KiB ", &v) == 0 && v == 1024);
  CU_ASSERT(wh_cfg_parse_size("12 MB", &v) != 0);        /* decimal units are not taken */
  CU_ASSERT(wh_cfg_parse_size("-1", &v) != 0);
  CU_ASSERT(wh_cfg_parse_size("", &v) != 0);
  CU_ASSERT(wh_cfg_parse_size("99999999999999999999", &v) != 0);
  CU_ASSERT(wh_cfg_parse_size("17179869184 GiB", &v) != 0); /* overflows 64 bits */
  CU_ASSERT(wh_cfg_parse_duration("250ms", &v) == 0 && v == 250);
  CU_ASSERT(wh_cfg_parse_duration("30 s", &v) == 0 && v == 30000);
  CU_ASSERT(wh_cfg_parse_duration("30", &v) != 0);        /* a unit is required */
  CU_ASSERT(wh_cfg_parse_duration("1h", &v) != 0);
}

/* [engine] simd is a boolean: off by default, only true or false taken */
static void test_engine_simd(void) {
  wh_config_t c;
  wh_diag_t d;
  CU_ASSERT_EQUAL_FATAL(wh_cfg_defaults(&c), 0);
  CU_ASSERT_FALSE(c.simd);
  wh_cfg_fini(&c);
  CU_ASSERT_EQUAL_FATAL(load("[engine]\nsimd = true\n", &c, &d), 0);
  CU_ASSERT_TRUE(c.simd);
  wh_cfg_fini(&c);
  CU_ASSERT_EQUAL_FATAL(load("[engine]\nsimd = false\n", &c, &d), 0);
  CU_ASSERT_FALSE(c.simd);
  wh_cfg_fini(&c);
  CU_ASSERT_EQUAL(load("[engine]\nsimd = yes\n", &c, &d), WH_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "test.conf:2: [engine] simd: 'yes' is not true or false"));
}

static void test_full_file(void) {
  char text[2048];
  snprintf(text, sizeof text,
           "; a comment\n"
           "[server]\nlisten = 127.0.0.1:9000, [::1]:9001\nworkers = 4\nmax_body_size = 8 MiB\n"
           "[storage]\ndata_dir = /tmp/w\ncache_max_size = 2 GiB\n"
           "[pool]\ntotal_memories = 10\nmax_memory_size = 128 MiB\n"
           "[tenant.alice]\n%s\nmax_concurrency = 2\n"
           "[limits]\nmax_concurrency = 7\nmax_wall_time = 500ms\n"
           "[tenant.bob]\n%s\n", KEY_A, KEY_B);
  wh_config_t c;
  wh_diag_t d;
  int rc = load(text, &c, &d);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL(c.nlisten, 2);
  CU_ASSERT_STRING_EQUAL(c.listen[1], "[::1]:9001");
  CU_ASSERT_EQUAL(c.workers, 4);
  CU_ASSERT_EQUAL(c.max_body_size, 8ull << 20);
  CU_ASSERT_STRING_EQUAL(c.data_dir, "/tmp/w");
  CU_ASSERT_EQUAL(c.pool.total_memories, 10);
  CU_ASSERT_EQUAL(c.pool.max_memory_size, 128ull << 20);
  CU_ASSERT_EQUAL_FATAL(c.ntenants, 2);
  /* alice overrides max_concurrency; the rest comes from [limits], even
   * though [limits] follows her section in the file */
  CU_ASSERT_STRING_EQUAL(c.tenants[0].name, "alice");
  CU_ASSERT_EQUAL(c.tenants[0].limits.max_concurrency, 2);
  CU_ASSERT_EQUAL(c.tenants[0].limits.max_wall_time_ms, 500);
  CU_ASSERT_EQUAL(c.tenants[1].limits.max_concurrency, 7);
  CU_ASSERT_EQUAL(c.tenants[0].key_sha256[0], 0x2c);
  CU_ASSERT_EQUAL(c.tenants[0].key_sha256[31], 0x24);
  wh_cfg_fini(&c);
}

/* Each bad file fails at the expected line with a reason naming the key. */
static void test_errors(void) {
  static const struct { const char *text; int line; const char *needle; } cases[] = {
      {"[server]\nlisten = 1.2.3.4:80\nworkerz = 3\n", 3, "unknown key 'workerz'"},
      {"[serverz]\nx = 1\n", 1, "unknown section [serverz]"},
      {"[server]\nworkers = 2\n[empty]\n", 3, "unknown section [empty]"},
      {"[server]\nworkers = many\n", 2, "not a whole number"},
      {"[server]\nworkers = 5000\n", 2, "outside 0..1024"},
      {"[server]\nmax_body_size = 10 MB\n", 2, "size"},
      {"[server]\nrequest_timeout = 30\n", 2, "duration"},
      {"[server]\nlisten = nope\n", 2, "host:port"},
      {"[server]\nlisten = 127.0.0.1:99999\n", 2, "outside 1..65535"},
      {"[server]\nlisten = 127.0.0.1:80x\n", 2, "not a number"},
      {"[server]\nlisten = [::1:8080\n", 2, "brackets"},
      {"\n\n[tenant.Alice]\nkey_sha256 = 00\n", 4, "tenant names"},
      {"[tenant.a]\nkey_sha256 = xyz\n", 2, "64 hex digits"},
      {"[tenant.a]\nfuel = 3\n", 2, "unknown key 'fuel'"},
      {"[server\n", 1, "syntax"},
      {"[server]\n; ok\nlisten = 127.0.0.1:80 ; xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", 3, "longer than"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wh_config_t c;
    wh_diag_t d;
    int rc = load(cases[i].text, &c, &d);
    CU_ASSERT_EQUAL(rc, WH_EINVAL);
    CU_ASSERT_EQUAL(d.line, cases[i].line);
    if (!strstr(d.msg, cases[i].needle) || !strstr(d.msg, "test.conf:"))
      fprintf(stderr, "\n  case %zu: message \"%s\" lacks \"%s\"\n", i, d.msg, cases[i].needle);
    CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, cases[i].needle));
    CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "test.conf:"));
  }
}

static void test_whole_file_rules(void) {
  wh_config_t c;
  wh_diag_t d;
  CU_ASSERT_EQUAL(load("[server]\ntls_cert = /x.pem\n", &c, &d), WH_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "tls_cert and tls_key go together"));
  CU_ASSERT_EQUAL(load("[tenant.a]\nmax_concurrency = 3\n", &c, &d), WH_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "key_sha256 is required"));
  char text[512];
  snprintf(text, sizeof text, "[tenant.a]\n%s\n[tenant.b]\n%s\n", KEY_A, KEY_A);
  CU_ASSERT_EQUAL(load(text, &c, &d), WH_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "same key_sha256"));
  CU_ASSERT_EQUAL(load("[pool]\nmax_memory_size = 100000\n", &c, &d), WH_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "multiple of 64 KiB"));
  CU_ASSERT_EQUAL(wh_cfg_load_file("/nonexistent/wharfd.conf", &c, &d), WH_EIO);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "cannot open"));
}

/* docs/CONFIG.md must contain the reference generated from the key table. */
static void test_docs_agree(void) {
  char *ref = NULL;
  size_t reflen = 0;
  FILE *mem = open_memstream(&ref, &reflen);
  CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
  wh_cfg_write_reference(mem);
  fclose(mem);
  FILE *f = fopen(WHARF_SOURCE_DIR "/docs/CONFIG.md", "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  char *doc = calloc(1, 1 << 20);
  size_t n = fread(doc, 1, (1 << 20) - 1, f);
  fclose(f);
  doc[n] = '\0';
  if (!strstr(doc, ref))
    fprintf(stderr, "\n  docs/CONFIG.md is out of date: run scripts/gen-config-doc.sh\n");
  CU_ASSERT_PTR_NOT_NULL(strstr(doc, ref));
  free(doc);
  free(ref);
}

int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "--reference") == 0) {
    wh_cfg_write_reference(stdout);
    return 0;
  }
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("config.c", NULL, NULL);
  CU_add_test(s, "every key has its documented default", test_defaults);
  CU_add_test(s, "sizes and durations parse with their units", test_sizes_and_durations);
  CU_add_test(s, "a full file parses, tenants inherit [limits]", test_full_file);
  CU_add_test(s, "[engine] simd is off by default and takes true or false", test_engine_simd);
  CU_add_test(s, "bad files fail at the right line with a reason", test_errors);
  CU_add_test(s, "rules spanning keys are enforced", test_whole_file_rules);
  CU_add_test(s, "docs/CONFIG.md agrees with the key table", test_docs_agree);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
  CU_cleanup_registry();
  return failed ? 1 : 0;
}
