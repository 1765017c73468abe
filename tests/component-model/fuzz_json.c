/*
 * fuzz_json.c - JSON arguments against random component types (json.c).
 *
 * A case is a seed plus JSON text.  The seed generates a component whose
 * one import, an instance type, exports ~12 random value types (each may
 * use the ones before it: records, variants, lists, options, results,
 * tuples, flags, enums, primitives).  The JSON is converted to a value of
 * each type; when that succeeds the value must convert back to JSON and
 * that JSON back to an equal value.
 *
 *   libFuzzer (-DWHARF_FUZZ_LIBFUZZER): input = 4 seed bytes + JSON text.
 *   otherwise: `fuzz_json [N]` replays N generated cases (seed i, JSON
 *   made from the type with random mutations, or a random shape) and
 *   prints a count; ctest runs it as cm-json-fuzz-smoke.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "wh_cm.h"
#include "wh_engine.h"

static wh_engine_t *engine;

typedef struct ebuf {
  uint8_t b[16384];
  size_t n;
} ebuf_t;

static void eb_byte(ebuf_t *o, uint8_t v) { if (o->n < sizeof o->b) o->b[o->n++] = v; }
static void eb_uleb(ebuf_t *o, uint32_t v) {
  do { uint8_t b = v & 0x7f; v >>= 7; eb_byte(o, b | (v ? 0x80 : 0)); } while (v);
}
static void eb_sleb(ebuf_t *o, uint32_t v) {   /* non-negative s33 */
  for (;;) {
    uint8_t b = v & 0x7f;
    v >>= 7;
    if (v == 0 && !(b & 0x40)) { eb_byte(o, b); return; }
    eb_byte(o, b | 0x80);
  }
}
static void eb_name(ebuf_t *o, const char *s) {
  eb_uleb(o, (uint32_t)strlen(s));
  for (; *s; s++) eb_byte(o, (uint8_t)*s);
}
static void eb_bytes(ebuf_t *o, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) eb_byte(o, p[i]);
}

static uint64_t rng;
static uint32_t rnd(uint32_t n) {
  rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
  return n ? (uint32_t)(rng >> 33) % n : 0;
}

#define NTYPES 12

/* A random valtype: a primitive or one of the `nexp` exported indices. */
static void valtype(ebuf_t *o, const uint32_t *exp, uint32_t nexp) {
  if (nexp && rnd(2)) eb_sleb(o, exp[rnd(nexp)]);
  else eb_byte(o, (uint8_t)(0x7f - rnd(13)));
}

static void label(ebuf_t *o, const char *stem, uint32_t i) {
  char nm[16];
  snprintf(nm, sizeof nm, "%s%u", stem, (unsigned)i);
  eb_name(o, nm);
}

static wh_cm_component_t *make_component(uint32_t seed) {
  static ebuf_t d, ty, c, imp;
  uint32_t exp[NTYPES], next = 0, ndecls = 0;
  d.n = ty.n = c.n = imp.n = 0;
  rng = seed * 2654435761u + 1;
  for (uint32_t i = 0; i < NTYPES; i++) {
    eb_byte(&d, 0x01);
    uint32_t n = 1 + rnd(4);
    switch (rnd(11)) {
    case 0: eb_byte(&d, (uint8_t)(0x7f - rnd(13))); break;
    case 1: eb_byte(&d, 0x72); eb_uleb(&d, n);
            for (uint32_t k = 0; k < n; k++) { label(&d, "f", k); valtype(&d, exp, i); }
            break;
    case 2: eb_byte(&d, 0x71); eb_uleb(&d, n);
            for (uint32_t k = 0; k < n; k++) {
              label(&d, "c", k);
              if (rnd(2)) { eb_byte(&d, 0x01); valtype(&d, exp, i); } else eb_byte(&d, 0x00);
              eb_byte(&d, 0x00);
            }
            break;
    case 3: eb_byte(&d, 0x70); valtype(&d, exp, i); break;
    case 4: eb_byte(&d, 0x6f); eb_uleb(&d, n);
            for (uint32_t k = 0; k < n; k++) valtype(&d, exp, i);
            break;
    case 5: { uint32_t m = 1 + rnd(32);
            eb_byte(&d, 0x6e); eb_uleb(&d, m);
            for (uint32_t k = 0; k < m; k++) label(&d, "g", k);
            break; }
    case 6: eb_byte(&d, 0x6d); eb_uleb(&d, n);
            for (uint32_t k = 0; k < n; k++) label(&d, "e", k);
            break;
    case 7: case 8: eb_byte(&d, 0x6b); valtype(&d, exp, i); break;
    default:
      eb_byte(&d, 0x6a);
      for (int k = 0; k < 2; k++) {
        if (rnd(3)) { eb_byte(&d, 0x01); valtype(&d, exp, i); } else eb_byte(&d, 0x00);
      }
      break;
    }
    uint32_t def = next++;
    eb_byte(&d, 0x04); eb_byte(&d, 0x00); label(&d, "t", i);
    eb_byte(&d, 0x03); eb_byte(&d, 0x00); eb_uleb(&d, def);
    exp[i] = next++;
    ndecls += 2;
  }
  eb_uleb(&ty, 1); eb_byte(&ty, 0x42); eb_uleb(&ty, ndecls); eb_bytes(&ty, d.b, d.n);
  static const uint8_t hdr[] = {0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00};
  eb_bytes(&c, hdr, sizeof hdr);
  eb_byte(&c, 0x07); eb_uleb(&c, (uint32_t)ty.n); eb_bytes(&c, ty.b, ty.n);
  eb_uleb(&imp, 1); eb_byte(&imp, 0x00); eb_name(&imp, "f:f/types");
  eb_byte(&imp, 0x05); eb_uleb(&imp, 0);
  eb_byte(&c, 0x0a); eb_uleb(&c, (uint32_t)imp.n); eb_bytes(&c, imp.b, imp.n);
  return wh_cm_component_new(engine, c.b, c.n, NULL);
}

/* ---- JSON generation -------------------------------------------------------- */
static json_t *random_json(int depth) {
  switch (rnd(depth > 3 ? 6 : 9)) {
  case 0: return json_null();
  case 1: return json_boolean(rnd(2));
  case 2: return json_integer((json_int_t)rnd(600) - 300);
  case 3: return json_real((double)rnd(1000) / 7.0 - 50);
  case 4: { static const char *const s[] = {"", "a", "NaN", "-Infinity", "c0", "e1", "g3",
                                            "ok", "err", "some", "\xc3\xa9", "18446744073709551615"};
            return json_string(s[rnd(12)]); }
  case 5: return json_integer((json_int_t)rnd(4));
  case 6: case 7: {
    json_t *a = json_array();
    for (uint32_t n = rnd(4), i = 0; i < n; i++) json_array_append_new(a, random_json(depth + 1));
    return a;
  }
  default: {
    static const char *const k[] = {"f0", "f1", "c0", "c1", "ok", "err", "some", "x"};
    json_t *o = json_object();
    for (uint32_t n = rnd(3), i = 0; i < n; i++)
      json_object_set_new(o, k[rnd(8)], random_json(depth + 1));
    return o;
  }
  }
}

/* JSON shaped like type t, mutated now and then. */
static json_t *typed_json(const wh_cm_component_t *c, wh_cm_type_ref_t t, int depth) {
  if (rnd(25) == 0 || depth > 8) return random_json(depth);
  uint32_t n = wh_cm_type_field_count(c, t);
  const char *name;
  wh_cm_type_ref_t ft;
  json_t *j;
  switch (wh_cm_type_kind(c, t)) {
  case WH_CM_TK_BOOL: return json_boolean(rnd(2));
  case WH_CM_TK_S8: case WH_CM_TK_S16: case WH_CM_TK_S32:
    return json_integer((json_int_t)rnd(300) - 150);
  case WH_CM_TK_U8: case WH_CM_TK_U16: case WH_CM_TK_U32: return json_integer(rnd(300));
  case WH_CM_TK_S64: return rnd(2) ? json_string("-9223372036854775808") : json_integer(-5);
  case WH_CM_TK_U64: return rnd(2) ? json_string("9007199254740993") : json_integer(5);
  case WH_CM_TK_F32: case WH_CM_TK_F64: return rnd(4) ? json_real(0.25) : json_string("NaN");
  case WH_CM_TK_CHAR: return json_string(rnd(2) ? "x" : "\xf0\x9f\x98\x80");
  case WH_CM_TK_STRING: return json_string(rnd(2) ? "" : "h\xc3\xa9llo");
  case WH_CM_TK_RECORD:
    j = json_object();
    for (uint32_t i = 0; i < n; i++) {
      wh_cm_type_field(c, t, i, &name, &ft);
      json_object_set_new(j, name, typed_json(c, ft, depth + 1));
    }
    return j;
  case WH_CM_TK_VARIANT:
    wh_cm_type_field(c, t, rnd(n), &name, &ft);
    if (!ft) return json_string(name);
    j = json_object();
    json_object_set_new(j, name, typed_json(c, ft, depth + 1));
    return j;
  case WH_CM_TK_ENUM:
    wh_cm_type_field(c, t, rnd(n), &name, NULL);
    return json_string(name);
  case WH_CM_TK_FLAGS:
    j = json_array();
    for (uint32_t i = 0; i < n; i++)
      if (rnd(2)) { wh_cm_type_field(c, t, i, &name, NULL); json_array_append_new(j, json_string(name)); }
    return j;
  case WH_CM_TK_LIST:
    j = json_array();
    for (uint32_t k = rnd(4), i = 0; i < k; i++)
      json_array_append_new(j, typed_json(c, wh_cm_type_elem(c, t), depth + 1));
    return j;
  case WH_CM_TK_TUPLE:
    j = json_array();
    for (uint32_t i = 0; i < n; i++) {
      wh_cm_type_field(c, t, i, NULL, &ft);
      json_array_append_new(j, typed_json(c, ft, depth + 1));
    }
    return j;
  case WH_CM_TK_OPTION: {
    wh_cm_type_ref_t et = wh_cm_type_elem(c, t);
    if (rnd(3) == 0) return json_null();
    json_t *inner = typed_json(c, et, depth + 1);
    if (wh_cm_type_kind(c, et) != WH_CM_TK_OPTION) return inner;
    j = json_object();
    json_object_set_new(j, "some", inner);
    return j;
  }
  case WH_CM_TK_RESULT: {
    bool ok = rnd(2);
    wh_cm_type_ref_t pt = ok ? wh_cm_type_elem(c, t) : wh_cm_type_err(c, t);
    j = json_object();
    json_object_set_new(j, ok ? "ok" : "err", pt ? typed_json(c, pt, depth + 1) : json_null());
    return j;
  }
  default: return json_null();
  }
}

/* ---- one case --------------------------------------------------------------- */
static void check(const wh_cm_component_t *c, wh_cm_type_ref_t t, const json_t *j,
                  unsigned *ok) {
  wh_cm_val v, v2;
  json_t *back = NULL;
  wh_diag_t d;
  int rc = wh_cm_json_to_val(c, t, j, "args[0]", &v, &d);
  if (rc != 0) {
    if (d.msg[0] == '\0' || v.kind != 0) abort();     /* an error always says why */
    return;
  }
  if (wh_cm_val_to_json(c, t, &v, "result", &back, &d) != 0) {
    fprintf(stderr, "fuzz_json: value did not convert back: %s\n", d.msg);
    abort();
  }
  if (wh_cm_json_to_val(c, t, back, "again", &v2, &d) != 0) {
    fprintf(stderr, "fuzz_json: JSON written did not read back: %s\n", d.msg);
    abort();
  }
  if (!wh_cm_val_eq(&v, &v2)) {
    fprintf(stderr, "fuzz_json: round trip changed the value\n");
    abort();
  }
  wh_cm_val_fini(&v);
  wh_cm_val_fini(&v2);
  json_decref(back);
  (*ok)++;
}

static unsigned run_case(uint32_t seed, const json_t *given, unsigned *ok) {
  wh_cm_component_t *c = make_component(seed);
  wh_cm_type_ref_t inst;
  unsigned n = 0;
  if (!c) return 0;
  if (wh_cm_import(c, 0, NULL, NULL, &inst) == 0) {
    uint32_t ne = wh_cm_type_export_count(c, inst);
    for (uint32_t i = 0; i < ne; i++) {
      wh_cm_type_ref_t t;
      wh_cm_type_export(c, inst, i, NULL, NULL, &t);
      json_t *j = given ? json_incref((json_t *)given)
                        : rnd(4) ? typed_json(c, t, 0) : random_json(0);
      check(c, t, j, ok);
      json_decref(j);
      n++;
    }
  }
  wh_cm_component_free(c);
  return n;
}

#ifdef WHARF_FUZZ_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned ok = 0;
  if (!engine) engine = wh_engine_new(NULL);
  if (size < 4) return 0;
  uint32_t seed = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
                  (uint32_t)data[3] << 24;
  json_t *j = json_loadb((const char *)data + 4, size - 4,
                         JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
  if (j) run_case(seed % 4096, j, &ok);
  json_decref(j);
  return 0;
}
#else
int main(int argc, char **argv) {
  unsigned ncases = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 3000;
  unsigned n = 0, ok = 0, types = 0;
  engine = wh_engine_new(NULL);
  if (!engine) return 2;
  for (unsigned i = 0; i < ncases; i++) {
    unsigned k = run_case(i, NULL, &ok);
    if (k) types++;
    n += k;
  }
  wh_engine_free(engine);
  printf("fuzz_json: %u components, %u conversions, %u accepted and round-tripped\n",
         types, n, ok);
  /* the generator must make valid components and accept most typed JSON */
  return types > ncases / 2 && ok > n / 10 ? 0 : 1;
}
#endif
