/*
 * test_json.c - the JSON mapping of component values (component-model/
 * json.c) in both directions, for every type, with its error paths.
 *
 * The types come from a hand-built component that imports one instance,
 * "t:t/types", whose type exports name every type the tests use (see
 * build_types below); handles are found by export name.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <jansson.h>

#include "wh_cm.h"
#include "wh_engine.h"
#include "test_json.h"

static wh_engine_t *engine;
static wh_cm_component_t *comp;
static wh_cm_type_ref_t types_inst;

/* ---- a small component emitter ------------------------------------------ */
typedef struct ebuf {
  uint8_t b[8192];
  size_t n;
} ebuf_t;

static void eb_byte(ebuf_t *o, uint8_t v) { o->b[o->n++] = v; }
static void eb_uleb(ebuf_t *o, uint32_t v) {
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    eb_byte(o, byte | (v ? 0x80 : 0));
  } while (v);
}
static void eb_name(ebuf_t *o, const char *s) {
  eb_uleb(o, (uint32_t)strlen(s));
  memcpy(o->b + o->n, s, strlen(s));
  o->n += strlen(s);
}
static void eb_bytes(ebuf_t *o, const uint8_t *p, size_t n) {
  memcpy(o->b + o->n, p, n);
  o->n += n;
}

/* The instance type being declared: decls, their count, the next type
 * index. */
typedef struct itype {
  ebuf_t d;
  uint32_t ndecls, next;
} itype_t;

/* A `type` declaration from raw defvaltype bytes; returns its index. */
static uint32_t tdef(itype_t *t, const uint8_t *p, size_t n) {
  eb_byte(&t->d, 0x01);
  eb_bytes(&t->d, p, n);
  t->ndecls++;
  return t->next++;
}
#define TDEF(t, ...)                                                         \
  ({                                                                         \
    const uint8_t p_[] = {__VA_ARGS__};                                      \
    tdef((t), p_, sizeof p_);                                                \
  })

/* `(export "name" (type (eq idx)))`; returns the new index. */
static uint32_t texp(itype_t *t, const char *name, uint32_t idx) {
  eb_byte(&t->d, 0x04);
  eb_byte(&t->d, 0x00);
  eb_name(&t->d, name);
  eb_byte(&t->d, 0x03);
  eb_byte(&t->d, 0x00);
  eb_uleb(&t->d, idx);
  t->ndecls++;
  return t->next++;
}

/* Defines raw bytes and exports them as `name`; returns the export's
 * index. */
#define NAMED(t, name, ...) texp((t), (name), TDEF((t), __VA_ARGS__))

static const char *const prims[] = {
  "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char", "string",
};

static int build_types(void) {
  static itype_t t;
  memset(&t, 0, sizeof t);
  for (int i = 0; i < 13; i++) {
    uint8_t code = (uint8_t)(0x7f - i);
    texp(&t, prims[i], tdef(&t, &code, 1));
  }
  uint32_t point = NAMED(&t, "point", 0x72, 0x02, 0x01, 'x', 0x7a, 0x01, 'y', 0x7a);
  uint32_t opt_s32 = TDEF(&t, 0x6b, 0x7a);
  /* record line { point: point, opt: option<s32> } */
  uint32_t line = NAMED(&t, "line", 0x72, 0x02, 0x05, 'p', 'o', 'i', 'n', 't', (uint8_t)point,
                        0x03, 'o', 'p', 't', (uint8_t)opt_s32);
  NAMED(&t, "color", 0x6d, 0x03, 0x03, 'r', 'e', 'd', 0x05, 'g', 'r', 'e', 'e', 'n',
        0x04, 'b', 'l', 'u', 'e');
  /* variant shape { circle(f64), square(u32), empty } */
  NAMED(&t, "shape", 0x71, 0x03, 0x06, 'c', 'i', 'r', 'c', 'l', 'e', 0x01, 0x75, 0x00,
        0x06, 's', 'q', 'u', 'a', 'r', 'e', 0x01, 0x79, 0x00,
        0x05, 'e', 'm', 'p', 't', 'y', 0x00, 0x00);
  NAMED(&t, "fl", 0x6e, 0x03, 0x01, 'a', 0x01, 'b', 0x01, 'c');
  {
    /* flags fl32 { f0 .. f31 } */
    ebuf_t p = {.n = 0};
    eb_byte(&p, 0x6e);
    eb_uleb(&p, 32);
    for (int i = 0; i < 32; i++) {
      char nm[8];
      snprintf(nm, sizeof nm, "f%d", i);
      eb_name(&p, nm);
    }
    texp(&t, "fl32", tdef(&t, p.b, p.n));
  }
  NAMED(&t, "bytes", 0x70, 0x7d);
  NAMED(&t, "strs", 0x70, 0x73);
  NAMED(&t, "tup", 0x6f, 0x02, 0x7d, 0x73);
  uint32_t opt_u32 = NAMED(&t, "opt", 0x6b, 0x79);
  uint32_t opt2 = NAMED(&t, "opt2", 0x6b, (uint8_t)opt_u32);
  NAMED(&t, "opt3", 0x6b, (uint8_t)opt2);
  NAMED(&t, "res", 0x6a, 0x01, 0x79, 0x01, 0x73);
  NAMED(&t, "res-unit", 0x6a, 0x00, 0x00);
  NAMED(&t, "res-err", 0x6a, 0x00, 0x01, 0x73);
  uint32_t opt_point = TDEF(&t, 0x6b, (uint8_t)point);
  NAMED(&t, "points", 0x70, (uint8_t)opt_point);
  NAMED(&t, "lines", 0x70, (uint8_t)line);
  uint32_t opt_res = TDEF(&t, 0x6a, 0x01, 0x79, 0x00);       /* result<u32> */
  NAMED(&t, "opt-res", 0x6b, (uint8_t)opt_res);
  /* resource r; func h(b: borrow<r>, o: own<r>) -> own<r> */
  eb_byte(&t.d, 0x04); eb_byte(&t.d, 0x00); eb_name(&t.d, "r");
  eb_byte(&t.d, 0x03); eb_byte(&t.d, 0x01);
  t.ndecls++;
  uint32_t r = t.next++;
  uint32_t own = TDEF(&t, 0x69, (uint8_t)r);
  uint32_t borrow = TDEF(&t, 0x68, (uint8_t)r);
  /* valtype indices are s33: 64 and above take two bytes */
#define IDX2(i) (uint8_t)(((i) & 0x7f) | 0x80), (uint8_t)((i) >> 7)
  uint32_t hf = TDEF(&t, 0x40, 0x02, 0x01, 'b', IDX2(borrow), 0x01, 'o', IDX2(own),
                     0x00, IDX2(own));
  /* func f(p: point, n: u8) -> string */
  uint32_t ff = TDEF(&t, 0x40, 0x02, 0x01, 'p', (uint8_t)point, 0x01, 'n', 0x7d, 0x00, 0x73);
  uint32_t fv = TDEF(&t, 0x40, 0x00, 0x01, 0x00);            /* func() */
  const struct { const char *name; uint32_t type; } funcs[] = {
    {"h", hf}, {"f", ff}, {"v", fv},
  };
  for (size_t i = 0; i < 3; i++) {
    eb_byte(&t.d, 0x04); eb_byte(&t.d, 0x00); eb_name(&t.d, funcs[i].name);
    eb_byte(&t.d, 0x01); eb_uleb(&t.d, funcs[i].type);
    t.ndecls++;
  }

  static ebuf_t ty, c, imp;
  ty.n = c.n = imp.n = 0;
  eb_uleb(&ty, 1);
  eb_byte(&ty, 0x42);
  eb_uleb(&ty, t.ndecls);
  eb_bytes(&ty, t.d.b, t.d.n);
  static const uint8_t hdr[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  eb_bytes(&c, hdr, sizeof hdr);
  eb_byte(&c, 0x07);
  eb_uleb(&c, (uint32_t)ty.n);
  eb_bytes(&c, ty.b, ty.n);
  eb_uleb(&imp, 1);
  eb_byte(&imp, 0x00);
  eb_name(&imp, "t:t/types");
  eb_byte(&imp, 0x05);
  eb_uleb(&imp, 0);
  eb_byte(&c, 0x0a);
  eb_uleb(&c, (uint32_t)imp.n);
  eb_bytes(&c, imp.b, imp.n);

  wh_diag_t d;
  wh_diag_clear(&d);
  comp = wh_cm_component_new(engine, c.b, c.n, &d);
  if (!comp) {
    fprintf(stderr, "test_json: types component rejected: %s (offset %lld)\n", d.msg, d.offset);
    return -1;
  }
  wh_cm_kind_t k;
  return wh_cm_import(comp, 0, NULL, &k, &types_inst);
}

/* The handle of export `name` of the types instance. */
static wh_cm_type_ref_t T(const char *name) {
  uint32_t n = wh_cm_type_export_count(comp, types_inst);
  for (uint32_t i = 0; i < n; i++) {
    const char *nm;
    wh_cm_kind_t k;
    wh_cm_type_ref_t t;
    if (wh_cm_type_export(comp, types_inst, i, &nm, &k, &t) == 0 && strcmp(nm, name) == 0)
      return t;
  }
  CU_FAIL_FATAL("the types instance exports every name the tests use");
  return 0;
}

/* ---- helpers ------------------------------------------------------------- */
static wh_diag_t diag;

/* Parses `text`, converts to type `ty`; returns the WH code. */
static int from(const char *ty, const char *text, wh_cm_val *v) {
  json_error_t je;
  json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
  if (!j) {
    memset(v, 0, sizeof *v);
    snprintf(diag.msg, sizeof diag.msg, "json: %s", je.text);
    return -1;
  }
  wh_diag_clear(&diag);
  int rc = wh_cm_json_to_val(comp, T(ty), j, "args[0]", v, &diag);
  json_decref(j);
  return rc;
}

/* JSON text of a value; caller frees. */
static char *to(const char *ty, const wh_cm_val *v) {
  json_t *j = NULL;
  wh_diag_clear(&diag);
  if (wh_cm_val_to_json(comp, T(ty), v, "result", &j, &diag) != 0) return NULL;
  char *s = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
  json_decref(j);
  return s;
}

/* JSON -> value -> JSON equals `want` (NULL: the input). */
static bool roundtrip(const char *ty, const char *in, const char *want) {
  wh_cm_val v;
  if (from(ty, in, &v) != 0) {
    fprintf(stderr, "\n  %s %s: %s\n", ty, in, diag.msg);
    return false;
  }
  char *out = to(ty, &v);
  wh_cm_val_fini(&v);
  bool ok = out && strcmp(out, want ? want : in) == 0;
  if (!ok) fprintf(stderr, "\n  %s %s -> %s (%s)\n", ty, in, out ? out : "error", diag.msg);
  free(out);
  return ok;
}

/* JSON that must be rejected with exactly `msg`. */
static bool rejects(const char *ty, const char *in, const char *msg) {
  wh_cm_val v;
  int rc = from(ty, in, &v);
  bool ok = rc != 0 && (!msg || strcmp(diag.msg, msg) == 0);
  if (!ok) fprintf(stderr, "\n  %s %s: rc %d \"%s\", wanted \"%s\"\n", ty, in, rc, diag.msg,
                   msg ? msg : "(any)");
  if (rc == 0) wh_cm_val_fini(&v);
  CU_ASSERT_EQUAL(v.kind, 0);
  return ok;
}

/* ---- tests --------------------------------------------------------------- */
static void test_scalars(void) {
  CU_ASSERT(roundtrip("bool", "true", NULL));
  CU_ASSERT(roundtrip("bool", "false", NULL));
  CU_ASSERT(roundtrip("s8", "-128", NULL));
  CU_ASSERT(roundtrip("u8", "255", NULL));
  CU_ASSERT(roundtrip("s16", "-32768", NULL));
  CU_ASSERT(roundtrip("u16", "65535", NULL));
  CU_ASSERT(roundtrip("s32", "-2147483648", NULL));
  CU_ASSERT(roundtrip("u32", "4294967295", NULL));
  CU_ASSERT(roundtrip("s32", "7.0", "7"));          /* integral reals are integers */
  CU_ASSERT(roundtrip("s64", "-9223372036854775808", "\"-9223372036854775808\""));
  CU_ASSERT(roundtrip("s64", "9007199254740992", NULL));          /* 2^53: a number */
  CU_ASSERT(roundtrip("s64", "9007199254740993", "\"9007199254740993\""));
  CU_ASSERT(roundtrip("s64", "\"-42\"", "-42"));                  /* strings accepted */
  CU_ASSERT(roundtrip("u64", "\"18446744073709551615\"", NULL));
  CU_ASSERT(roundtrip("u64", "\"9007199254740993\"", NULL));
  CU_ASSERT(roundtrip("u64", "9007199254740992", NULL));
  CU_ASSERT(roundtrip("u64", "\"0\"", "0"));
  CU_ASSERT(roundtrip("f64", "1.5", NULL));
  CU_ASSERT(roundtrip("f64", "\"NaN\"", NULL));
  CU_ASSERT(roundtrip("f64", "\"Infinity\"", NULL));
  CU_ASSERT(roundtrip("f64", "\"-Infinity\"", NULL));
  CU_ASSERT(roundtrip("f64", "3", "3.0"));
  CU_ASSERT(roundtrip("f32", "0.5", NULL));
  CU_ASSERT(roundtrip("f32", "\"NaN\"", NULL));
  CU_ASSERT(roundtrip("f32", "\"-Infinity\"", NULL));
  CU_ASSERT(roundtrip("char", "\"a\"", NULL));
  CU_ASSERT(roundtrip("char", "\"\\u00e9\"", "\"\xc3\xa9\""));
  CU_ASSERT(roundtrip("char", "\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\""));  /* pair */
  CU_ASSERT(roundtrip("string", "\"\"", NULL));
  CU_ASSERT(roundtrip("string", "\"h\xc3\xa9llo \xf0\x9f\x98\x80\"", NULL));
  CU_ASSERT(roundtrip("string", "\"a\\u0000b\"", NULL));      /* NUL is a scalar */

  /* NaN is NaN */
  wh_cm_val v;
  CU_ASSERT_EQUAL_FATAL(from("f64", "\"NaN\"", &v), 0);
  CU_ASSERT(v.kind == WH_CM_V_F64 && isnan(v.of.f64));
  CU_ASSERT_EQUAL_FATAL(from("u64", "\"18446744073709551615\"", &v), 0);
  CU_ASSERT(v.kind == WH_CM_V_U64 && v.of.u == UINT64_MAX);
}

static void test_scalar_errors(void) {
  CU_ASSERT(rejects("s32", "\"1\"", "args[0]: expected s32, got string"));
  CU_ASSERT(rejects("bool", "1", "args[0]: expected bool, got number"));
  CU_ASSERT(rejects("u8", "300", "args[0]: 300 does not fit in u8"));
  CU_ASSERT(rejects("u8", "-1", "args[0]: -1 does not fit in u8"));
  CU_ASSERT(rejects("s8", "128", "args[0]: 128 does not fit in s8"));
  CU_ASSERT(rejects("s8", "-129", NULL));
  CU_ASSERT(rejects("u32", "4294967296", NULL));
  CU_ASSERT(rejects("s32", "1.5", "args[0]: expected s32, got non-integer number 1.5"));
  CU_ASSERT(rejects("u64", "1e19", NULL));                   /* beyond 2^53 as a number */
  CU_ASSERT(rejects("u64", "\"18446744073709551616\"", NULL));
  CU_ASSERT(rejects("u64", "\"-1\"", "args[0]: -1 does not fit in u64"));
  CU_ASSERT(rejects("s64", "\"9223372036854775808\"", NULL));
  CU_ASSERT(rejects("s64", "\"12a\"", "args[0]: \"12a\" is not a decimal integer"));
  CU_ASSERT(rejects("s64", "\"\"", NULL));
  CU_ASSERT(rejects("s64", "\"-\"", NULL));
  CU_ASSERT(rejects("s64", "\" 1\"", NULL));
  CU_ASSERT(rejects("f64", "\"nan\"", NULL));
  CU_ASSERT(rejects("f32", "1e300", "args[0]: 1.0000000000000001e+300 does not fit in f32"));
  CU_ASSERT(rejects("f64", "null", "args[0]: expected f64, got null"));
  CU_ASSERT(rejects("char", "\"ab\"", NULL));
  CU_ASSERT(rejects("char", "\"\"", NULL));
  CU_ASSERT(rejects("char", "65", "args[0]: expected char, got number"));
  CU_ASSERT(rejects("string", "[]", "args[0]: expected string, got array"));
}

/* Lone surrogates: jansson refuses "\ud800" when parsing; a json_t made
 * without checks (CESU-8 bytes) must still be refused by the mapping. */
static void test_surrogates(void) {
  json_error_t je;
  CU_ASSERT_PTR_NULL(json_loads("\"\\ud800\"", JSON_DECODE_ANY, &je));
  CU_ASSERT_PTR_NULL(json_loads("\"a\\udc00b\"", JSON_DECODE_ANY, &je));
  const char *bad[] = {"\xed\xa0\x80", "a\xed\xb0\x80", "\xc0\xaf", "\xf4\x90\x80\x80",
                       "\xe2\x82", "\xff"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    json_t *j = json_stringn_nocheck(bad[i], strlen(bad[i]));
    wh_cm_val v;
    wh_diag_clear(&diag);
    CU_ASSERT_EQUAL(wh_cm_json_to_val(comp, T("string"), j, "s", &v, &diag), WH_EINVAL);
    CU_ASSERT_EQUAL(wh_cm_json_to_val(comp, T("char"), j, "c", &v, &diag), WH_EINVAL);
    json_decref(j);
  }
  /* and a value with one is refused on the way out */
  wh_cm_val v;
  CU_ASSERT_EQUAL_FATAL(wh_cm_val_string(&v, "\xed\xa0\x80", 3), 0);
  CU_ASSERT_PTR_NULL(to("string", &v));
  wh_cm_val_fini(&v);
  v = wh_cm_val_char(0xd800);
  CU_ASSERT_PTR_NULL(to("char", &v));
  v = wh_cm_val_char(0x110000);
  CU_ASSERT_PTR_NULL(to("char", &v));
}

static void test_records(void) {
  CU_ASSERT(roundtrip("point", "{\"x\":1,\"y\":-2}", NULL));
  CU_ASSERT(roundtrip("point", "{\"y\":-2,\"x\":1}", "{\"x\":1,\"y\":-2}"));
  CU_ASSERT(roundtrip("line", "{\"point\":{\"x\":1,\"y\":2},\"opt\":null}", NULL));
  CU_ASSERT(roundtrip("line", "{\"point\":{\"x\":1,\"y\":2}}",        /* absent option */
                  "{\"point\":{\"x\":1,\"y\":2},\"opt\":null}"));
  CU_ASSERT(rejects("point", "{\"x\":1,\"y\":2,\"z\":3}",
                    "args[0]: unknown field \"z\" in record point"));
  CU_ASSERT(rejects("point", "{\"x\":1}", "args[0]: missing field \"y\" in record point"));
  CU_ASSERT(rejects("line", "{\"point\":{\"x\":\"1\",\"y\":2}}",
                    "args[0].point.x: expected s32, got string"));
  CU_ASSERT(rejects("point", "[1,2]", "args[0]: expected record point, got array"));
  CU_ASSERT(roundtrip("tup", "[7,\"seven\"]", NULL));
  CU_ASSERT(rejects("tup", "[7]", "args[0]: expected a tuple of 2 elements, got 1"));
  CU_ASSERT(rejects("tup", "[7,8]", "args[0][1]: expected string, got number"));
}

static void test_lists(void) {
  CU_ASSERT(roundtrip("bytes", "[]", NULL));
  CU_ASSERT(roundtrip("bytes", "[0,1,255]", NULL));
  CU_ASSERT(roundtrip("strs", "[\"a\",\"\",\"c\"]", NULL));
  CU_ASSERT(roundtrip("points", "[null,{\"x\":0,\"y\":0}]", NULL));
  CU_ASSERT(rejects("bytes", "[0,256]", "args[0][1]: 256 does not fit in u8"));
  CU_ASSERT(rejects("bytes", "{}", "args[0]: expected list bytes, got object"));
  CU_ASSERT(rejects("lines", "[{\"point\":{\"x\":0,\"y\":0}},{\"point\":{\"x\":0,\"y\":0,\"w\":1}}]",
                    "args[0][1].point: unknown field \"w\" in record point"));
}

static void test_enums_variants(void) {
  CU_ASSERT(roundtrip("color", "\"green\"", NULL));
  CU_ASSERT(rejects("color", "\"purple\"", "args[0]: unknown case \"purple\" in enum color"));
  CU_ASSERT(rejects("color", "1", "args[0]: expected enum color, got number"));
  CU_ASSERT(roundtrip("shape", "{\"circle\":1.5}", NULL));
  CU_ASSERT(roundtrip("shape", "{\"square\":3}", NULL));
  CU_ASSERT(roundtrip("shape", "\"empty\"", NULL));
  CU_ASSERT(roundtrip("shape", "{\"empty\":null}", "\"empty\""));
  CU_ASSERT(rejects("shape", "\"circle\"", NULL));
  CU_ASSERT(rejects("shape", "{\"square\":-3}", "args[0].square: -3 does not fit in u32"));
  CU_ASSERT(rejects("shape", "{\"empty\":1}", NULL));
  CU_ASSERT(rejects("shape", "{\"circle\":1,\"square\":2}", NULL));
  CU_ASSERT(rejects("shape", "{\"oval\":1}", "args[0]: unknown case \"oval\" in variant shape"));
}

static void test_options_results(void) {
  CU_ASSERT(roundtrip("opt", "null", NULL));
  CU_ASSERT(roundtrip("opt", "5", NULL));
  CU_ASSERT(roundtrip("opt2", "null", NULL));                 /* none */
  CU_ASSERT(roundtrip("opt2", "{\"some\":null}", NULL));      /* some(none) */
  CU_ASSERT(roundtrip("opt2", "{\"some\":5}", NULL));         /* some(some(5)) */
  CU_ASSERT(roundtrip("opt3", "{\"some\":{\"some\":null}}", NULL));
  CU_ASSERT(roundtrip("opt3", "{\"some\":{\"some\":7}}", NULL));
  CU_ASSERT(rejects("opt2", "5", NULL));
  CU_ASSERT(rejects("opt2", "{\"some\":\"x\"}", "args[0].some: expected u32, got string"));
  wh_cm_val v;
  CU_ASSERT_EQUAL_FATAL(from("opt2", "{\"some\":null}", &v), 0);
  CU_ASSERT(v.kind == WH_CM_V_OPTION && v.of.var.idx == 1 && v.of.var.payload &&
            v.of.var.payload->kind == WH_CM_V_OPTION && v.of.var.payload->of.var.idx == 0);
  wh_cm_val_fini(&v);

  CU_ASSERT(roundtrip("res", "{\"ok\":1}", NULL));
  CU_ASSERT(roundtrip("res", "{\"err\":\"bad\"}", NULL));
  CU_ASSERT(roundtrip("res-unit", "{\"ok\":null}", NULL));
  CU_ASSERT(roundtrip("res-unit", "{\"err\":null}", NULL));
  CU_ASSERT(roundtrip("res-err", "{\"err\":\"x\"}", NULL));
  CU_ASSERT(roundtrip("opt-res", "{\"ok\":3}", NULL));        /* a result is never null */
  CU_ASSERT(roundtrip("opt-res", "null", NULL));
  CU_ASSERT(rejects("res", "{\"ok\":1,\"err\":\"x\"}", NULL));
  CU_ASSERT(rejects("res", "1", NULL));
  CU_ASSERT(rejects("res", "{\"err\":1}", "args[0].err: expected string, got number"));
  CU_ASSERT(rejects("res-unit", "{\"ok\":1}", NULL));
}

static void test_flags(void) {
  CU_ASSERT(roundtrip("fl", "[]", NULL));
  CU_ASSERT(roundtrip("fl", "[\"a\",\"c\"]", NULL));
  CU_ASSERT(roundtrip("fl", "[\"c\",\"a\"]", "[\"a\",\"c\"]"));
  CU_ASSERT(roundtrip("fl32", "[\"f0\",\"f31\"]", NULL));
  CU_ASSERT(rejects("fl", "[\"d\"]", "args[0][0]: unknown flag \"d\" in flags fl"));
  CU_ASSERT(rejects("fl", "[\"a\",\"a\"]", NULL));
  CU_ASSERT(rejects("fl", "[1]", NULL));
  CU_ASSERT(rejects("fl", "\"a\"", NULL));
  wh_cm_val v;
  CU_ASSERT_EQUAL_FATAL(from("fl32", "[\"f31\"]", &v), 0);
  CU_ASSERT(wh_cm_val_flag_get(&v, 31) && !wh_cm_val_flag_get(&v, 0));
  wh_cm_val_fini(&v);
}

static void test_functions(void) {
  wh_cm_type_ref_t f = 0, h = 0, vf = 0;
  uint32_t n = wh_cm_type_export_count(comp, types_inst);
  for (uint32_t i = 0; i < n; i++) {
    const char *nm;
    wh_cm_kind_t k;
    wh_cm_type_ref_t t;
    wh_cm_type_export(comp, types_inst, i, &nm, &k, &t);
    if (strcmp(nm, "f") == 0) f = t;
    if (strcmp(nm, "h") == 0) h = t;
    if (strcmp(nm, "v") == 0) vf = t;
  }
  CU_ASSERT_FATAL(f && h && vf);
  json_t *args = json_loads("[{\"x\":1,\"y\":2},200]", 0, NULL);
  wh_cm_val *vals = NULL;
  size_t nv = 0;
  CU_ASSERT_EQUAL(wh_cm_json_args(comp, f, args, &vals, &nv, &diag), 0);
  CU_ASSERT_EQUAL(nv, 2);
  CU_ASSERT(nv == 2 && vals[1].kind == WH_CM_V_U8 && vals[1].of.u == 200);
  wh_cm_vals_free(vals, nv);
  json_decref(args);

  args = json_loads("[{\"x\":1,\"y\":2},300]", 0, NULL);
  CU_ASSERT_EQUAL(wh_cm_json_args(comp, f, args, &vals, &nv, &diag), WH_EINVAL);
  CU_ASSERT_STRING_EQUAL(diag.msg, "args[1]: 300 does not fit in u8");
  json_decref(args);
  args = json_loads("[{\"x\":1}]", 0, NULL);
  CU_ASSERT_EQUAL(wh_cm_json_args(comp, f, args, &vals, &nv, &diag), WH_EINVAL);
  CU_ASSERT_STRING_EQUAL(diag.msg, "args: expected 2 arguments, got 1");
  json_decref(args);
  CU_ASSERT_EQUAL(wh_cm_json_args(comp, f, NULL, &vals, &nv, &diag), WH_EINVAL);

  /* handles are opaque numbers */
  args = json_loads("[3,4]", 0, NULL);
  CU_ASSERT_EQUAL(wh_cm_json_args(comp, h, args, &vals, &nv, &diag), 0);
  CU_ASSERT(nv == 2 && vals[0].kind == WH_CM_V_BORROW && vals[0].of.handle.rep == 3 &&
            vals[1].kind == WH_CM_V_OWN && vals[1].of.handle.rep == 4);
  json_t *res = NULL;
  CU_ASSERT_EQUAL(wh_cm_json_result(comp, h, &vals[1], &res, &diag), 0);
  CU_ASSERT(json_is_integer(res) && json_integer_value(res) == 4);
  json_decref(res);
  wh_cm_vals_free(vals, nv);
  json_decref(args);
  args = json_loads("[-1,4]", 0, NULL);
  CU_ASSERT_EQUAL(wh_cm_json_args(comp, h, args, &vals, &nv, &diag), WH_EINVAL);
  json_decref(args);

  /* results: a string; none as null */
  wh_cm_val s;
  CU_ASSERT_EQUAL_FATAL(wh_cm_val_string(&s, "hi", 2), 0);
  CU_ASSERT_EQUAL(wh_cm_json_result(comp, f, &s, &res, &diag), 0);
  CU_ASSERT(json_is_string(res) && strcmp(json_string_value(res), "hi") == 0);
  json_decref(res);
  wh_cm_val_fini(&s);
  CU_ASSERT_EQUAL(wh_cm_json_result(comp, vf, NULL, &res, &diag), 0);
  CU_ASSERT(json_is_null(res));
  json_decref(res);
  CU_ASSERT_EQUAL(wh_cm_json_result(comp, f, NULL, &res, &diag), WH_EINVAL);
}

/* Values that do not match their type are refused on the way out. */
static void test_bad_values(void) {
  wh_cm_val v = wh_cm_val_u32(1);
  CU_ASSERT_PTR_NULL(to("s32", &v));
  CU_ASSERT_STRING_EQUAL(diag.msg, "result: expected s32, got u32 value");
  v = wh_cm_val_enum(3);
  CU_ASSERT_PTR_NULL(to("color", &v));
  memset(&v, 0, sizeof v);
  CU_ASSERT_PTR_NULL(to("bool", &v));
  CU_ASSERT_EQUAL_FATAL(wh_cm_val_agg(&v, WH_CM_V_RECORD, 1), 0);
  CU_ASSERT_PTR_NULL(to("point", &v));          /* one field of two */
  wh_cm_val_fini(&v);
  CU_ASSERT_EQUAL_FATAL(wh_cm_val_agg(&v, WH_CM_V_RECORD, 2), 0);
  v.of.agg.v[0] = wh_cm_val_s32(1);
  v.of.agg.v[1] = wh_cm_val_u8(1);
  CU_ASSERT_PTR_NULL(to("point", &v));
  CU_ASSERT_STRING_EQUAL(diag.msg, "result.y: expected s32, got u8 value");
  wh_cm_val_fini(&v);
  /* a payload where the case has none, and none where it needs one */
  wh_cm_val p = wh_cm_val_u32(1);
  CU_ASSERT_EQUAL_FATAL(wh_cm_val_case(&v, WH_CM_V_VARIANT, 2, &p), 0);
  CU_ASSERT_PTR_NULL(to("shape", &v));
  wh_cm_val_fini(&v);
  CU_ASSERT_EQUAL_FATAL(wh_cm_val_case(&v, WH_CM_V_VARIANT, 1, NULL), 0);
  CU_ASSERT_PTR_NULL(to("shape", &v));
  wh_cm_val_fini(&v);
  CU_ASSERT_EQUAL_FATAL(wh_cm_val_case(&v, WH_CM_V_OPTION, 1, NULL), 0);
  CU_ASSERT_PTR_NULL(to("opt", &v));
  wh_cm_val_fini(&v);
}

/* Any JSON shape against any type: no crash, no leak, an error or a value
 * that converts back. */
static void test_any_shape(void) {
  static const char *const inputs[] = {
    "null", "true", "0", "-1", "1.5", "1e308", "\"\"", "\"x\"", "[]", "[null]",
    "[[[]]]", "{}", "{\"some\":{}}", "{\"ok\":[]}", "{\"x\":{}}", "\"NaN\"",
  };
  static const char *const tys[] = {
    "bool", "s8", "u64", "f32", "char", "string", "point", "line", "color", "shape",
    "fl", "fl32", "bytes", "tup", "opt", "opt2", "opt3", "res", "res-unit", "points",
  };
  for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++)
    for (size_t k = 0; k < sizeof tys / sizeof *tys; k++) {
      wh_cm_val v;
      if (from(tys[k], inputs[i], &v) == 0) {
        char *s = to(tys[k], &v);
        CU_ASSERT_PTR_NOT_NULL(s);
        free(s);
        wh_cm_val_fini(&v);
      } else {
        CU_ASSERT(diag.msg[0] != '\0');
      }
    }
}

/* Deep JSON is bounded by the type, big JSON by the budget. */
static void test_limits(void) {
  json_t *big = json_array();
  for (int i = 0; i < 1000; i++) json_array_append_new(big, json_integer(i & 0xff));
  wh_cm_val v;
  CU_ASSERT_EQUAL(wh_cm_json_to_val(comp, T("bytes"), big, "a", &v, &diag), 0);
  wh_cm_val_fini(&v);
  json_decref(big);
  /* a deep JSON array given for a flat type: one mismatch, no recursion */
  json_t *deep = json_array(), *cur = deep;
  for (int i = 0; i < 100000; i++) {
    json_t *n = json_array();
    json_array_append_new(cur, n);
    cur = n;
  }
  CU_ASSERT_EQUAL(wh_cm_json_to_val(comp, T("bytes"), deep, "a", &v, &diag), WH_EINVAL);
  CU_ASSERT_STRING_EQUAL(diag.msg, "a[0]: expected u8, got array");
  json_decref(deep);
}

CU_TestInfo wh_test_json_tests[] = {
    {"scalars both ways", test_scalars},
    {"scalar errors", test_scalar_errors},
    {"lone surrogates are refused", test_surrogates},
    {"records and tuples", test_records},
    {"lists", test_lists},
    {"enums and variants", test_enums_variants},
    {"options and results", test_options_results},
    {"flags", test_flags},
    {"function args and results", test_functions},
    {"values that do not match the type", test_bad_values},
    {"any JSON shape against any type", test_any_shape},
    {"limits", test_limits},
    CU_TEST_INFO_NULL,
};

int wh_test_json_init(void) {
  if (!engine) engine = wh_engine_new(NULL);
  return engine && build_types() == 0 ? 0 : -1;
}

int wh_test_json_fini(void) {
  wh_cm_component_free(comp);
  comp = NULL;
  wh_engine_free(engine);
  engine = NULL;
  return 0;
}

#ifdef WH_TEST_JSON_MAIN
int main(void) {
  CU_SuiteInfo suites[] = {
      {.pName = "json.c", .pInitFunc = wh_test_json_init, .pCleanupFunc = wh_test_json_fini,
       .pTests = wh_test_json_tests},
      CU_SUITE_INFO_NULL,
  };
  if (CU_initialize_registry() != CUE_SUCCESS) return 2;
  if (CU_register_suites(suites) != CUE_SUCCESS) return 2;
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_ErrorCode rc = CU_basic_run_tests();
  unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  if (rc != CUE_SUCCESS) return 2;
  return failures ? 1 : 0;
}
#endif
