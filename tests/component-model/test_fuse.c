/*
 * test_fuse.c - wharf-unit-cm-fuse: fused adapters (component-model/
 * fuse.c) through component-to-component calls of fuse_pair.wasm (built
 * from fuse_pair.wat by run-fuse.sh; its header says what each export
 * does).  Every case runs twice, on an instance whose calls go through
 * fused adapters and on one whose calls go through values
 * (wh_cm_linker_fuse off), and both must give the expected result or
 * trap with the expected message.
 *
 *   wharf-unit-cm-fuse FUSE_PAIR.wasm
 *
 * Caller memory: inputs are poked at IN (0x100) and beyond; the
 * caller's allocator starts at 0x8000, the callee's at 0x1000.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "wh_cm.h"
#include "wh_engine.h"

#define IN 0x100u
#define TAG 0x80000000u

static wh_engine_t *engine;
static wh_exec_t *exec_;
static wh_cm_component_t *pair;

static const char *const MODE[2] = {"fused", "values"};

static wh_cm_instance_t *inst_new(int mode) {
  wh_diag_t d;
  wh_cm_instance_t *I = NULL;
  wh_cm_linker_t *l = wh_cm_linker_new(engine);
  wh_cm_linker_fuse(l, mode == 0);
  int rc = wh_cm_instantiate(l, pair, exec_, NULL, &I, &d);
  wh_cm_linker_free(l);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  return I;
}

/* Writes n bytes at `at` of the caller's memory. */
static void poke(wh_cm_instance_t *I, uint32_t at, const void *bytes, uint32_t n) {
  wh_cm_val a[2];
  a[0] = wh_cm_val_u32(at);
  CU_ASSERT_EQUAL_FATAL(wh_cm_val_agg(&a[1], WH_CM_V_LIST, n), 0);
  for (uint32_t i = 0; i < n; i++) a[1].of.agg.v[i] = wh_cm_val_u8(((const uint8_t *)bytes)[i]);
  CU_ASSERT_EQUAL(wh_cm_call(I, "poke", a, 2, NULL, 0, exec_), 0);
  wh_cm_val_fini(&a[1]);
}

static void poke32(wh_cm_instance_t *I, uint32_t at, uint32_t x) {
  uint8_t b[4] = {(uint8_t)x, (uint8_t)(x >> 8), (uint8_t)(x >> 16), (uint8_t)(x >> 24)};
  poke(I, at, b, 4);
}

/* Whether the n bytes at `at` of the caller's memory are `want`. */
static bool peek_eq(wh_cm_instance_t *I, uint32_t at, const void *want, uint32_t n) {
  wh_cm_val a[2] = {wh_cm_val_u32(at), wh_cm_val_u32(n)}, r;
  if (wh_cm_call(I, "peek", a, 2, &r, 1, exec_)) return false;
  bool ok = r.kind == WH_CM_V_LIST && r.of.agg.n == n;
  for (uint32_t i = 0; ok && i < n; i++) ok = r.of.agg.v[i].of.u == ((const uint8_t *)want)[i];
  wh_cm_val_fini(&r);
  return ok;
}

/* Calls export `name`(p, n) of a fresh instance; on success *r gets the
 * result (fini it), else *trap the message. */
static int call(wh_cm_instance_t *I, const char *name, uint32_t p, uint32_t n, wh_cm_val *r) {
  wh_cm_val a[2] = {wh_cm_val_u32(p), wh_cm_val_u32(n)};
  return wh_cm_call(I, name, a, 2, r, 1, exec_);
}

/* A string round trip: `in` (in_bytes bytes, `in_len` the caller's
 * tagged length) through export `name` must come back as `out`
 * (out_bytes bytes, tagged length out_len) in the caller's memory. */
static void roundtrip(const char *name, const void *in, uint32_t in_bytes, uint32_t in_len,
                      const void *out, uint32_t out_bytes, uint32_t out_len) {
  for (int mode = 0; mode < 2; mode++) {
    wh_cm_instance_t *I = inst_new(mode);
    poke(I, IN, in, in_bytes);
    wh_cm_val r;
    int rc = call(I, name, IN, in_len, &r);
    if (rc) fprintf(stderr, "%s (%s): %s\n", name, MODE[mode], wh_cm_instance_trap(I));
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL_FATAL(r.kind, WH_CM_V_TUPLE);
    uint32_t ptr = (uint32_t)r.of.agg.v[0].of.u, len = (uint32_t)r.of.agg.v[1].of.u;
    if (len != out_len) fprintf(stderr, "%s (%s): ptr %u len %u, want %u\n", name, MODE[mode], ptr, len, out_len);
    CU_ASSERT_EQUAL(len, out_len);
    CU_ASSERT_TRUE(ptr >= 0x8000);   /* in the caller's heap: realloc'ed there */
    CU_ASSERT_TRUE(peek_eq(I, ptr, out, out_bytes));
    wh_cm_val_fini(&r);
    wh_cm_instance_free(I);
  }
}

/* `name`(p, n) on the bytes `in` poked at IN must trap with `msg`. */
static void traps(const char *name, const void *in, uint32_t in_bytes, uint32_t p, uint32_t n,
                  const char *msg) {
  for (int mode = 0; mode < 2; mode++) {
    wh_cm_instance_t *I = inst_new(mode);
    if (in_bytes) poke(I, IN, in, in_bytes);
    wh_cm_val r;
    int rc = call(I, name, p, n, &r);
    CU_ASSERT_EQUAL(rc, WH_ETRAP);
    if (rc == 0) wh_cm_val_fini(&r);
    if (!strstr(wh_cm_instance_trap(I), msg))
      fprintf(stderr, "%s (%s): trapped \"%s\", expected \"%s\"\n", name, MODE[mode],
              wh_cm_instance_trap(I), msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(wh_cm_instance_trap(I), msg));
    wh_cm_instance_free(I);
  }
}

/* `name`(p, n) after the pokes done by `setup` returns the number `want`. */
static void returns(const char *name, void (*setup)(wh_cm_instance_t *), uint32_t p, uint32_t n,
                    uint64_t want) {
  for (int mode = 0; mode < 2; mode++) {
    wh_cm_instance_t *I = inst_new(mode);
    if (setup) setup(I);
    wh_cm_val r;
    int rc = call(I, name, p, n, &r);
    if (rc) fprintf(stderr, "%s (%s): %s\n", name, MODE[mode], wh_cm_instance_trap(I));
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(r.of.u, want);
    wh_cm_instance_free(I);
  }
}

/* ---- strings ----------------------------------------------------------------------- */

static const char HELLO8[] = "h\xc3\xa9llo\xf0\x9f\x98\x80";         /* hello, e-acute, U+1F600 */
static const uint8_t HELLO16[] = {'h', 0, 0xe9, 0, 'l', 0, 'l', 0, 'o', 0, 0x3d, 0xd8, 0x00, 0xde};
static const uint8_t ETE_L1[] = {0xe9, 't', 0xe9};                     /* "ete" with accents */

static void test_same_encoding(void) {
  roundtrip("c-e8-8", HELLO8, 10, 10, HELLO8, 10, 10);
  roundtrip("c-e8-8", "", 0, 0, "", 0, 0);
  roundtrip("c-e16-8", HELLO16, 14, 7, HELLO16, 14, 7);   /* utf16 -> utf8 -> utf16 */
  roundtrip("c-el1-8", ETE_L1, 3, 3, ETE_L1, 3, 3);       /* Latin-1 stays Latin-1 */
}

static void test_transcoding(void) {
  /* utf8 -> utf16 -> utf8 */
  roundtrip("c-e8-16", HELLO8, 10, 10, HELLO8, 10, 10);
  /* utf8 -> latin1+utf16: Latin-1 when it fits, UTF-16 (tagged) when not */
  roundtrip("c-e8-l1", "h\xc3\xa9llo", 6, 6, "h\xc3\xa9llo", 6, 6);
  roundtrip("c-e8-l1", HELLO8, 10, 10, HELLO8, 10, 10);
  /* utf16 -> latin1+utf16 -> utf16 */
  roundtrip("c-e16-l1", HELLO16, 14, 7, HELLO16, 14, 7);
  roundtrip("c-e16-l1", HELLO16, 10, 5, HELLO16, 10, 5);
  /* latin1+utf16 (tagged UTF-16) -> utf8 -> back, deflated to Latin-1
   * where every code point fits */
  roundtrip("c-el1-8", HELLO16, 14, 7 | TAG, HELLO16, 14, 7 | TAG);
  static const uint8_t ete16[] = {0xe9, 0, 't', 0, 0xe9, 0};
  roundtrip("c-el1-16", ete16, 6, 3 | TAG, ETE_L1, 3, 3);
  roundtrip("c-el1-16", ETE_L1, 3, 3, ETE_L1, 3, 3);
}

static void poke_hello8(wh_cm_instance_t *I) { poke(I, IN, HELLO8, 10); }
static void poke_hello5(wh_cm_instance_t *I) { poke(I, IN, HELLO8, 6); }
static void poke_h_smile(wh_cm_instance_t *I) { poke(I, IN, "h\xf0\x9f\x98\x80", 5); }

static void test_callee_sees_its_encoding(void) {
  returns("c-len16-8", poke_hello8, IN, 10, 7);            /* 7 UTF-16 code units */
  returns("c-len-l1-8", poke_hello5, IN, 6, 5);            /* 5 Latin-1 bytes */
  returns("c-len-l1-8", poke_h_smile, IN, 5, 3 | TAG);     /* 3 UTF-16 units, tagged */
}

static void test_string_traps(void) {
  traps("c-e8-8", "a\xff", 2, IN, 2, "invalid utf-8 sequence from index 1");
  traps("c-e8-16", "ab\xc3", 3, IN, 3, "incomplete utf-8 byte sequence from index 2");
  traps("c-e8-8", "\xed\xa0\x80", 3, IN, 3, "invalid utf-8");   /* an encoded surrogate */
  static const uint8_t lone[] = {0x00, 0xd8, 'a', 0};
  traps("c-e16-8", lone, 4, IN, 2, "invalid utf-16: unpaired surrogate");
  traps("c-el1-8", lone, 4, IN, 2 | TAG, "invalid utf-16: unpaired surrogate");
  traps("c-e16-8", HELLO16, 14, IN + 1, 3, "unaligned pointer");
  traps("c-el1-16", ETE_L1, 3, IN + 1, 3, "unaligned pointer");
  traps("c-e8-8", NULL, 0, 65530, 7, "string content out-of-bounds");
  traps("c-e16-8", NULL, 0, 65530, 4, "string content out-of-bounds");
  traps("c-e8-8", NULL, 0, 0xfffffff0u, 32, "string content out-of-bounds");
  traps("c-e16-8", NULL, 0, 0, 0x7fffffffu, "string content out-of-bounds");
}

/* ---- lists ------------------------------------------------------------------------- */

static void poke_u32s(wh_cm_instance_t *I) {
  static const uint32_t v[] = {1, 2, 3, 0xffffffffu};
  for (uint32_t i = 0; i < 4; i++) poke32(I, IN + 4 * i, v[i]);
}

/* tuple<u8, u32> elements: a, three padding bytes (poked non-zero), b */
static void poke_tuples(wh_cm_instance_t *I) {
  static const uint8_t e[] = {1, 0xaa, 0xbb, 0xcc, 2, 0, 0, 0, 255, 0xdd, 0xee, 0xff, 7, 0, 0, 0};
  poke(I, IN, e, sizeof e);
}

/* list<string>: ("ab", "cde", "") with the text at IN + 0x40 */
static void poke_strs(wh_cm_instance_t *I) {
  poke(I, IN + 0x40, "abcde", 5);
  poke32(I, IN, IN + 0x40);
  poke32(I, IN + 4, 2);
  poke32(I, IN + 8, IN + 0x42);
  poke32(I, IN + 12, 3);
  poke32(I, IN + 16, 0);
  poke32(I, IN + 20, 0);
}

static void poke_bad_strs(wh_cm_instance_t *I) {
  poke_strs(I);
  poke32(I, IN + 16, 0xfff0);   /* the third string runs past the memory */
  poke32(I, IN + 20, 0x20);
}

static void poke_bad_utf8_strs(wh_cm_instance_t *I) {
  poke_strs(I);
  poke(I, IN + 0x43, "\xff", 1);   /* "cde" becomes "c\xffe" */
}

static void test_lists(void) {
  returns("c-sum", poke_u32s, IN, 4, 4294967301ull);
  returns("c-sum", NULL, IN, 0, 0);
  returns("c-recs", poke_tuples, IN, 2, 1 * 1000 + 2 + 255 * 1000 + 7);
  returns("c-strs", poke_strs, IN, 3, 5);
}

static void traps_after(const char *name, void (*setup)(wh_cm_instance_t *), uint32_t p,
                        uint32_t n, const char *msg) {
  for (int mode = 0; mode < 2; mode++) {
    wh_cm_instance_t *I = inst_new(mode);
    setup(I);
    wh_cm_val r;
    int rc = call(I, name, p, n, &r);
    CU_ASSERT_EQUAL(rc, WH_ETRAP);
    if (rc == 0) wh_cm_val_fini(&r);
    if (!strstr(wh_cm_instance_trap(I), msg))
      fprintf(stderr, "%s (%s): trapped \"%s\", expected \"%s\"\n", name, MODE[mode],
              wh_cm_instance_trap(I), msg);
    CU_ASSERT_PTR_NOT_NULL(strstr(wh_cm_instance_trap(I), msg));
    wh_cm_instance_free(I);
  }
}

static void test_list_traps(void) {
  traps("c-sum", NULL, 0, IN + 2, 1, "unaligned pointer");
  traps("c-recs", NULL, 0, IN + 2, 1, "unaligned pointer");
  traps("c-sum", NULL, 0, 65532, 2, "list content out-of-bounds");
  traps("c-sum", NULL, 0, IN, 0x40000000u, "list content out-of-bounds");
  traps_after("c-strs", poke_bad_strs, IN, 3, "string content out-of-bounds");
  traps_after("c-strs", poke_bad_utf8_strs, IN, 3, "invalid utf-8 sequence from index 1");
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: wharf-unit-cm-fuse FUSE_PAIR.wasm\n");
    return 2;
  }
  size_t len = 0;
  uint8_t *bytes = read_file(argv[1], &len);
  if (!bytes) {
    printf("SKIP: %s not built\n", argv[1]);
    return 77;
  }
  engine = wh_engine_new(NULL);
  exec_ = engine ? wh_exec_new(engine) : NULL;
  wh_diag_t d;
  pair = exec_ ? wh_cm_component_new(engine, bytes, len, &d) : NULL;
  free(bytes);
  if (!pair) {
    fprintf(stderr, "%s: %s\n", argv[1], exec_ ? d.msg : "no engine");
    return 1;
  }
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("fuse", NULL, NULL);
  CU_add_test(s, "strings cross in one encoding byte for byte", test_same_encoding);
  CU_add_test(s, "strings transcode between utf8, utf16 and latin1+utf16", test_transcoding);
  CU_add_test(s, "the callee sees the code units of its own encoding",
              test_callee_sees_its_encoding);
  CU_add_test(s, "invalid, misaligned and out-of-bounds strings trap", test_string_traps);
  CU_add_test(s, "lists copy: plain bytes, padded elements, strings inside", test_lists);
  CU_add_test(s, "misaligned and out-of-bounds lists and elements trap", test_list_traps);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  wh_cm_component_free(pair);
  wh_exec_free(exec_);
  wh_engine_free(engine);
  return failed ? 1 : 0;
}
