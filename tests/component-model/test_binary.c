/*
 * test_binary.c - wharf-unit-cm: hand-written component binaries for the
 * decoder's and validator's edge cases (component-model/binary.c and
 * validate.c).  Each test builds bytes with the small emitter below.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "wh_cm.h"
#include "wh_engine.h"

static wh_engine_t *engine;

#define HDR 0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00

static int try_bytes(const uint8_t *b, size_t n, wh_diag_t *d) {
  wh_cm_component_t *c = wh_cm_component_new(engine, b, n, d);
  if (!c) return d->code;
  wh_cm_component_free(c);
  return 0;
}
#define TRY(d, ...)                                                          \
  ({                                                                         \
    static const uint8_t b_[] = {__VA_ARGS__};                               \
    try_bytes(b_, sizeof b_, (d));                                           \
  })


/* ---- a tiny emitter: sections get their sizes filled in ---------------- */
typedef struct buf {
  uint8_t b[4096];
  size_t n;
} buf_t;

static void put(buf_t *o, const uint8_t *p, size_t n) {
  memcpy(o->b + o->n, p, n);
  o->n += n;
}
#define PUT(o, ...)                                                          \
  do {                                                                       \
    static const uint8_t p_[] = {__VA_ARGS__};                               \
    put((o), p_, sizeof p_);                                                 \
  } while (0)

static void sec(buf_t *o, uint8_t id, const buf_t *body) {
  o->b[o->n++] = id;
  o->b[o->n++] = (uint8_t)body->n;   /* bodies here are < 128 bytes */
  put(o, body->b, body->n);
}

/* A component holding a core module that exports func "f" of core type
 * (param i32 i32), instantiated, with "f" aliased as core func 0, then
 * the component type section `ty` and canon section `canon`. */
static int lift_case(const buf_t *ty, const buf_t *canon, wh_diag_t *d) {
  buf_t c = {.n = 0}, m = {.n = 0}, s = {.n = 0};
  PUT(&c, HDR);
  PUT(&m, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x01, 0x06, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x00,   /* type (i32 i32) */
      0x03, 0x02, 0x01, 0x00,                           /* func 0 */
      0x05, 0x03, 0x01, 0x00, 0x01,                     /* memory 1 */
      0x07, 0x09, 0x02, 0x01, 'f', 0x00, 0x00,          /* export f */
      0x01, 'm', 0x02, 0x00,                            /* export m */
      0x0a, 0x04, 0x01, 0x02, 0x00, 0x0b);              /* body */
  sec(&c, 0x01, &m);
  PUT(&s, 0x01, 0x00, 0x00, 0x00);                      /* instantiate */
  sec(&c, 0x02, &s);
  s.n = 0;
  PUT(&s, 0x02, 0x00, 0x00, 0x01, 0x00, 0x01, 'f',      /* core func f */
      0x00, 0x02, 0x01, 0x00, 0x01, 'm');               /* core memory m */
  sec(&c, 0x06, &s);
  sec(&c, 0x07, ty);
  sec(&c, 0x08, canon);
  return try_bytes(c.b, c.n, d);
}

static void test_canon_lift(void) {
  wh_diag_t d;
  buf_t ty = {.n = 0}, cn = {.n = 0};
  /* (func (param "a" u32) (param "b" u32)) lifts (i32 i32) */
  PUT(&ty, 0x01, 0x40, 0x02, 0x01, 'a', 0x79, 0x01, 'b', 0x79, 0x01, 0x00);
  PUT(&cn, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00);
  CU_ASSERT_EQUAL(lift_case(&ty, &cn, &d), 0);
  /* (func (param "a" string)) needs memory and realloc */
  ty.n = 0;
  PUT(&ty, 0x01, 0x40, 0x01, 0x01, 'a', 0x73, 0x01, 0x00);
  CU_ASSERT_EQUAL(lift_case(&ty, &cn, &d), WH_EINVALID);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "`memory` is required"));
  /* with memory but no realloc */
  cn.n = 0;
  PUT(&cn, 0x01, 0x00, 0x00, 0x00, 0x01, 0x03, 0x00, 0x00);
  CU_ASSERT_EQUAL(lift_case(&ty, &cn, &d), WH_EINVALID);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "`realloc` is required"));
  /* a signature that does not match: (func (param "a" u64)) */
  ty.n = 0;
  PUT(&ty, 0x01, 0x40, 0x01, 0x01, 'a', 0x77, 0x01, 0x00);
  cn.n = 0;
  PUT(&cn, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00);
  CU_ASSERT_EQUAL(lift_case(&ty, &cn, &d), WH_EINVALID);
  /* two string encodings conflict */
  ty.n = 0;
  PUT(&ty, 0x01, 0x40, 0x02, 0x01, 'a', 0x79, 0x01, 'b', 0x79, 0x01, 0x00);
  cn.n = 0;
  PUT(&cn, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01, 0x00);
  CU_ASSERT_EQUAL(lift_case(&ty, &cn, &d), WH_EINVALID);
  /* async option */
  cn.n = 0;
  PUT(&cn, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x00);
  CU_ASSERT_EQUAL(lift_case(&ty, &cn, &d), WH_EUNSUPPORTED);
}

static void test_resources(void) {
  wh_diag_t d;
  /* (type (resource (rep i32))) (type (own 0)) (type (borrow 0)) */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x08, 0x03, 0x3f, 0x7f, 0x00, 0x69, 0x00, 0x68, 0x00), 0);
  /* rep must be i32 */
  CU_ASSERT_NOT_EQUAL(TRY(&d, HDR, 0x07, 0x04, 0x01, 0x3f, 0x7d, 0x00), 0);
  /* (type (func (result (borrow 0)))) is invalid */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x0a, 0x03, 0x3f, 0x7f, 0x00, 0x68, 0x00,
                      0x40, 0x00, 0x00, 0x01), WH_EINVALID);
  /* but a borrow param is fine */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x0d, 0x03, 0x3f, 0x7f, 0x00, 0x68, 0x00,
                      0x40, 0x01, 0x01, 'a', 0x01, 0x01, 0x00), 0);
  /* a resource cannot be exported unnamed through a function: define R,
   * a func type using (own R); importing such a func is invalid */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x0a, 0x03, 0x3f, 0x7f, 0x00, 0x69, 0x00,
                      0x40, 0x00, 0x00, 0x01,
                      0x0a, 0x06, 0x01, 0x00, 0x01, 'f', 0x01, 0x02), WH_EINVALID);
}

static void test_aliases(void) {
  wh_diag_t d;
  /* outer alias count past the enclosing scopes */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x06, 0x05, 0x01, 0x03, 0x02, 0x05, 0x00), WH_EINVALID);
  /* count 0 of a type that exists */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x02, 0x01, 0x79, 0x06, 0x05, 0x01, 0x03, 0x02, 0x00, 0x00), 0);
  /* export alias of an instance that does not exist */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x06, 0x06, 0x01, 0x01, 0x00, 0x00, 0x01, 'f'), WH_EINVALID);
  /* in an instance type only types/instances may be aliased */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x09, 0x01, 0x42, 0x01, 0x02, 0x01, 0x00, 0x00, 0x01, 'f'),
                  WH_EINVALID);
}

static void test_names(void) {
  wh_diag_t d;
  /* (type (func)) (import "[method]a.b" (func (type 0))): no self param */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x05, 0x01, 0x40, 0x00, 0x01, 0x00,
                      0x0a, 0x10, 0x01, 0x00, 0x0b, '[', 'm', 'e', 't', 'h', 'o', 'd', ']',
                      'a', '.', 'b', 0x01, 0x00),
                  WH_EINVALID);
  /* interface names: a:b/c@1.0.0 is fine, a:b/c@1.0 is not semver */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x05, 0x01, 0x40, 0x00, 0x01, 0x00,
                      0x0a, 0x10, 0x01, 0x00, 0x0b, 'a', ':', 'b', '/', 'c', '@', '1', '.', '0',
                      '.', '0', 0x05, 0x00),
                  WH_EINVALID); /* instance type 0 is a func type: invalid */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x03, 0x01, 0x42, 0x00,
                      0x0a, 0x10, 0x01, 0x00, 0x0b, 'a', ':', 'b', '/', 'c', '@', '1', '.', '0',
                      '.', '0', 0x05, 0x00),
                  0);
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x03, 0x01, 0x42, 0x00,
                      0x0a, 0x0e, 0x01, 0x00, 0x09, 'a', ':', 'b', '/', 'c', '@', '1', '.', '0',
                      0x05, 0x00),
                  WH_EINVALID);
  /* [method]a.a and a collide (strongly-unique) */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x03, 0x01, 0x42, 0x00,
                      0x0a, 0x0b, 0x02, 0x00, 0x01, 'a', 0x05, 0x00, 0x00, 0x01, 'A', 0x05, 0x00),
                  WH_EINVALID);
}

static void test_empty(void) {
  wh_diag_t d;
  CU_ASSERT_EQUAL_FATAL(TRY(&d, HDR), 0);
}

static void test_preamble(void) {
  wh_diag_t d;
  CU_ASSERT_EQUAL(TRY(&d, 0x00, 0x61, 0x73), WH_EMALFORMED);
  CU_ASSERT_EQUAL(TRY(&d, 0x00, 0x61, 0x73, 0x6e, 0x0d, 0x00, 0x01, 0x00), WH_EMALFORMED);
  CU_ASSERT_EQUAL(TRY(&d, 0x00, 0x61, 0x73, 0x6d, 0x0e, 0x00, 0x01, 0x00), WH_EMALFORMED);
  /* a core module is told apart */
  CU_ASSERT_EQUAL(TRY(&d, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00), WH_ENOTCOMPONENT);
}

static void test_sections(void) {
  wh_diag_t d;
  /* unknown section id */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x0d, 0x00), WH_EMALFORMED);
  /* section size past the end */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x05, 0x00), WH_EMALFORMED);
  /* section longer than its contents */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x02, 0x00, 0x00), WH_EMALFORMED);
  /* custom section with a bad UTF-8 name */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x00, 0x02, 0x01, 0xff), WH_EMALFORMED);
  /* custom section is fine anywhere */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x00, 0x03, 0x01, 'a', 0x00), 0);
  /* count larger than the section */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x01, 0x7f), WH_EMALFORMED);
}

static void test_types(void) {
  wh_diag_t d;
  /* (type (record)) : empty record is invalid */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x03, 0x01, 0x72, 0x00), WH_EINVALID);
  /* (type (record (field "a" u32))) */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x06, 0x01, 0x72, 0x01, 0x01, 'a', 0x79), 0);
  /* field name not kebab */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x06, 0x01, 0x72, 0x01, 0x01, '_', 0x79), WH_EINVALID);
  /* duplicate field, case-insensitive */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x09, 0x01, 0x72, 0x02, 0x01, 'a', 0x79, 0x01, 'A', 0x79),
                  WH_EINVALID);
  /* list of an out-of-range type index */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x03, 0x01, 0x70, 0x05), WH_EINVALID);
  /* own of a non-resource */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x04, 0x02, 0x79, 0x69, 0x00), WH_EINVALID);
  /* flags: 33 names is too many */
  {
    uint8_t b[8 + 2 + 3 + 33 * 2 + 8];
    size_t n = 0;
    const uint8_t h[] = {HDR};
    memcpy(b, h, 8);
    n = 8;
    b[n++] = 0x07;
    b[n++] = 3 + 33 * 2;
    b[n++] = 0x01;
    b[n++] = 0x6e;
    b[n++] = 33;
    for (int i = 0; i < 33; i++) {
      b[n++] = 1;
      b[n++] = (uint8_t)('a' + (i % 26));
    }
    CU_ASSERT_EQUAL(try_bytes(b, n, &d), WH_EINVALID);
  }
  /* func result with a borrow: resource in a type? resources cannot be
   * defined in a type scope */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x07, 0x01, 0x42, 0x01, 0x01, 0x3f, 0x7f, 0x00), WH_EINVALID);
}

static void test_async_rejected(void) {
  wh_diag_t d;
  /* (type (stream u8)) */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x04, 0x01, 0x66, 0x01, 0x7d), WH_EUNSUPPORTED);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "not supported"));
  /* (type (future)) */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x03, 0x01, 0x65, 0x00), WH_EUNSUPPORTED);
  /* async func type 0x43 */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x05, 0x01, 0x43, 0x00, 0x01, 0x00), WH_EUNSUPPORTED);
  /* canon task.cancel (0x05) */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x08, 0x02, 0x01, 0x05), WH_EUNSUPPORTED);
  /* value section */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x0c, 0x01, 0x00), WH_EUNSUPPORTED);
}

static void test_imports(void) {
  wh_diag_t d;
  /* (type (func)) (import "f" (func (type 0))) */
  static const uint8_t ok[] = {HDR, 0x07, 0x05, 0x01, 0x40, 0x00, 0x01, 0x00,
                               0x0a, 0x06, 0x01, 0x00, 0x01, 'f', 0x01, 0x00};
  wh_cm_component_t *c = wh_cm_component_new(engine, ok, sizeof ok, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT_EQUAL(wh_cm_import_count(c), 1);
  const char *name;
  wh_cm_kind_t kind;
  wh_cm_type_ref_t t;
  CU_ASSERT_EQUAL(wh_cm_import(c, 0, &name, &kind, &t), 0);
  CU_ASSERT_STRING_EQUAL(name, "f");
  CU_ASSERT_EQUAL(kind, WH_CM_KIND_FUNC);
  CU_ASSERT_EQUAL(wh_cm_type_kind(c, t), WH_CM_TK_FUNC);
  CU_ASSERT_EQUAL(wh_cm_import(c, 1, &name, &kind, &t), WH_ERANGE);
  wh_cm_component_free(c);
  /* the same name twice */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x05, 0x01, 0x40, 0x00, 0x01, 0x00,
                      0x0a, 0x0b, 0x02, 0x00, 0x01, 'f', 0x01, 0x00, 0x00, 0x01, 'F', 0x01, 0x00),
                  WH_EINVALID);
  /* a name that is not kebab case */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x05, 0x01, 0x40, 0x00, 0x01, 0x00,
                      0x0a, 0x06, 0x01, 0x00, 0x01, '1', 0x01, 0x00),
                  WH_EINVALID);
  /* func import of a non-function type */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x07, 0x02, 0x01, 0x79,
                      0x0a, 0x06, 0x01, 0x00, 0x01, 'f', 0x01, 0x00),
                  WH_EINVALID);
}

static void test_core_module(void) {
  wh_diag_t d;
  /* an empty core module is fine; a broken one is not */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x01, 0x08, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00), 0);
  CU_ASSERT_NOT_EQUAL(TRY(&d, HDR, 0x01, 0x08, 0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00), 0);
  /* instantiate module 0 with no args; then module 1 does not exist */
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x01, 0x08, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
                      0x02, 0x04, 0x01, 0x00, 0x00, 0x00), 0);
  CU_ASSERT_EQUAL(TRY(&d, HDR, 0x01, 0x08, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
                      0x02, 0x04, 0x01, 0x00, 0x01, 0x00), WH_EINVALID);
}

static void test_truncated_everywhere(void) {
  /* every prefix of a valid component must fail cleanly */
  static const uint8_t ok[] = {HDR, 0x07, 0x05, 0x01, 0x40, 0x00, 0x01, 0x00,
                               0x0a, 0x06, 0x01, 0x00, 0x01, 'f', 0x01, 0x00};
  wh_diag_t d;
  for (size_t n = 0; n < sizeof ok; n++) {
    if (n == 8 || n == 15) continue;  /* header alone, header + type section: valid */
    CU_ASSERT_NOT_EQUAL(try_bytes(ok, n, &d), 0);
  }
}

static CU_TestInfo tests_binary[] = {
    {"empty component", test_empty},
    {"preamble", test_preamble},
    {"sections", test_sections},
    {"value types", test_types},
    {"async is rejected", test_async_rejected},
    {"imports", test_imports},
    {"core modules", test_core_module},
    {"truncation", test_truncated_everywhere},
    {"canon lift options", test_canon_lift},
    {"resources", test_resources},
    {"aliases", test_aliases},
    {"names", test_names},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {.pName = "binary.c", .pTests = tests_binary},
    CU_SUITE_INFO_NULL,
};

int main(void) {
  engine = wh_engine_new(NULL);
  if (!engine || CU_initialize_registry() != CUE_SUCCESS) return 2;
  if (CU_register_suites(suites) != CUE_SUCCESS) return 2;
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_ErrorCode rc = CU_basic_run_tests();
  unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  wh_engine_free(engine);
  if (rc != CUE_SUCCESS) return 2;
  return failures ? 1 : 0;
}
