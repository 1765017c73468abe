/*
 * json.c - component values <-> JSON (jansson), directed by the type.
 * The mapping is the contract in docs/API.md "JSON value mapping":
 *
 *   type              JSON                        notes
 *   bool              true / false
 *   s8..u32           number                      integral, in range
 *   s64, u64          number, or string           outside +-2^53 written
 *                                                 as a decimal string;
 *                                                 strings accepted always
 *   f32, f64          number, "NaN", "Infinity", "-Infinity"
 *   char              string of one scalar value
 *   string            string                      UTF-8, no lone surrogates
 *   record            {"field": v, ...}           missing option fields
 *                                                 read as none
 *   tuple, list       [v, ...]                    fixed lists: exact length
 *   enum              "case"
 *   variant           {"case": v} or "case"       no payload: "case" (or
 *                                                 {"case": null} on input)
 *   option<T>         null / v                    {"some": v} when T is
 *                                                 itself an option
 *   result<T, E>      {"ok": v} / {"err": e}      null for a missing type
 *   flags             ["name", ...]
 *   own<R>, borrow<R> number                      the handle's rep, opaque
 *
 * Both directions walk the type, never the JSON, so any json_t is safe
 * to pass: recursion is bounded by the type's depth, and a budget caps
 * the values and string bytes one conversion may make.  Errors name the
 * path from the caller's root: "args[1].point.x: expected s32, got
 * string"; `.field` for record fields, `[i]` for list/tuple elements,
 * `.case` for a variant payload, `.some`, `.ok`, `.err`.
 */
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "wh_cm.h"

#define MAX_DEPTH 200u

typedef struct jctx {
  const wh_cm_component_t *c;
  wh_diag_t *diag;
  char path[200];
  size_t plen;
  uint64_t values, bytes;       /* budget used */
  unsigned depth;
} jctx_t;

/* ---- paths and errors ----------------------------------------------------- */
static size_t path_push(jctx_t *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static size_t path_push(jctx_t *x, const char *fmt, ...) {
  size_t old = x->plen;
  if (x->plen < sizeof x->path - 1) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(x->path + x->plen, sizeof x->path - x->plen, fmt, ap);
    va_end(ap);
    if (n > 0) x->plen += (size_t)n;
    if (x->plen > sizeof x->path - 1) x->plen = sizeof x->path - 1;
  }
  return old;
}

static void path_pop(jctx_t *x, size_t old) {
  x->plen = old;
  x->path[old] = '\0';
}

static int fail(jctx_t *x, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(jctx_t *x, int code, const char *fmt, ...) {
  if (x->diag) {
    char msg[sizeof x->diag->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *where = x->plen ? x->path : "value";
    size_t cap = sizeof x->diag->msg, n = 0;
    char *d = x->diag->msg;
    for (const char *s = where; *s && n + 1 < cap; s++) d[n++] = *s;
    for (const char *s = ": "; *s && n + 1 < cap; s++) d[n++] = *s;
    for (const char *s = msg; *s && n + 1 < cap; s++) d[n++] = *s;
    d[n] = '\0';
    x->diag->code = code;
  }
  return code;
}

static const char *jkind(const json_t *j) {
  switch (json_typeof(j)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER: case JSON_REAL: return "number";
  case JSON_TRUE: case JSON_FALSE: return "boolean";
  default: return "null";
  }
}

static const char *const prim[] = {
  NULL, "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64",
  "f32", "f64", "char", "string",
};

/* "s32", "record point", "list", ... into buf. */
static const char *tname(jctx_t *x, wh_cm_type_ref_t t, char *buf, size_t n) {
  wh_cm_tkind_t k = wh_cm_type_kind(x->c, t);
  if (k >= WH_CM_TK_BOOL && k <= WH_CM_TK_STRING) return prim[k];
  const char *what;
  switch (k) {
  case WH_CM_TK_RECORD: what = "record"; break;
  case WH_CM_TK_VARIANT: what = "variant"; break;
  case WH_CM_TK_ENUM: what = "enum"; break;
  case WH_CM_TK_FLAGS: what = "flags"; break;
  case WH_CM_TK_LIST: case WH_CM_TK_FIXED_LIST: what = "list"; break;
  case WH_CM_TK_TUPLE: what = "tuple"; break;
  case WH_CM_TK_OPTION: what = "option"; break;
  case WH_CM_TK_RESULT: what = "result"; break;
  case WH_CM_TK_OWN: what = "own"; break;
  case WH_CM_TK_BORROW: what = "borrow"; break;
  default: what = "non-value type"; break;
  }
  const char *name = wh_cm_type_name(x->c, t);
  if (name) snprintf(buf, n, "%s %s", what, name);
  else snprintf(buf, n, "%s", what);
  return buf;
}

static int mismatch(jctx_t *x, wh_cm_type_ref_t t, const json_t *j) {
  char b[128];
  return fail(x, WH_EINVAL, "expected %s, got %s", tname(x, t, b, sizeof b), jkind(j));
}

static int spend(jctx_t *x, uint64_t values, uint64_t bytes) {
  x->values += values;
  x->bytes += bytes;
  if (x->values > WH_CM_JSON_MAX_VALUES)
    return fail(x, WH_ELIMIT, "more than %u values", (unsigned)WH_CM_JSON_MAX_VALUES);
  if (x->bytes > WH_CM_JSON_MAX_BYTES)
    return fail(x, WH_ELIMIT, "more than %u bytes of strings", (unsigned)WH_CM_JSON_MAX_BYTES);
  return 0;
}

/* ---- UTF-8 --------------------------------------------------------------------- */
/* Decodes one scalar at s[*i] (n bytes); -1 if ill-formed (overlong,
 * surrogate, above U+10FFFF, truncated). */
static int32_t utf8_next(const unsigned char *s, size_t n, size_t *i) {
  unsigned char b = s[*i];
  uint32_t cp, min;
  size_t len;
  if (b < 0x80) { (*i)++; return b; }
  if ((b & 0xe0) == 0xc0) { cp = b & 0x1f; len = 2; min = 0x80; }
  else if ((b & 0xf0) == 0xe0) { cp = b & 0x0f; len = 3; min = 0x800; }
  else if ((b & 0xf8) == 0xf0) { cp = b & 0x07; len = 4; min = 0x10000; }
  else return -1;
  if (n - *i < len) return -1;
  for (size_t k = 1; k < len; k++) {
    if ((s[*i + k] & 0xc0) != 0x80) return -1;
    cp = (cp << 6) | (s[*i + k] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
  *i += len;
  return (int32_t)cp;
}

static bool utf8_valid(const char *s, size_t n) {
  for (size_t i = 0; i < n;)
    if (utf8_next((const unsigned char *)s, n, &i) < 0) return false;
  return true;
}

static size_t utf8_put(uint32_t cp, char out[4]) {
  if (cp < 0x80) { out[0] = (char)cp; return 1; }
  if (cp < 0x800) { out[0] = (char)(0xc0 | cp >> 6); out[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
  if (cp < 0x10000) {
    out[0] = (char)(0xe0 | cp >> 12); out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[2] = (char)(0x80 | (cp & 0x3f)); return 3;
  }
  out[0] = (char)(0xf0 | cp >> 18); out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); out[3] = (char)(0x80 | (cp & 0x3f));
  return 4;
}

/* ---- JSON -> value ------------------------------------------------------------- */
static int from_json(jctx_t *x, wh_cm_type_ref_t t, const json_t *j, wh_cm_val *out);

#define EXACT_LIMIT 9007199254740992.0   /* 2^53 */

/* An integer of kind k from a number (or, for 64-bit kinds, a string). */
static int int_from_json(jctx_t *x, wh_cm_type_ref_t t, wh_cm_tkind_t k, const json_t *j,
                         wh_cm_val *out) {
  static const unsigned bits[] = { [WH_CM_TK_S8] = 8, [WH_CM_TK_U8] = 8,
    [WH_CM_TK_S16] = 16, [WH_CM_TK_U16] = 16, [WH_CM_TK_S32] = 32,
    [WH_CM_TK_U32] = 32, [WH_CM_TK_S64] = 64, [WH_CM_TK_U64] = 64 };
  bool is_signed = k == WH_CM_TK_S8 || k == WH_CM_TK_S16 || k == WH_CM_TK_S32 ||
                   k == WH_CM_TK_S64;
  bool wide = k == WH_CM_TK_S64 || k == WH_CM_TK_U64;
  bool neg = false;
  uint64_t mag = 0;
  char text[48];

  if (json_is_integer(j)) {
    json_int_t v = json_integer_value(j);
    neg = v < 0;
    mag = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
  } else if (json_is_real(j)) {
    double d = json_real_value(j);
    if (!isfinite(d) || d != floor(d))
      return fail(x, WH_EINVAL, "expected %s, got non-integer number %.17g", prim[k], d);
    if (fabs(d) > EXACT_LIMIT) {
      if (wide)
        return fail(x, WH_EINVAL, "%.17g is beyond +-2^53; pass it as a decimal string", d);
      return fail(x, WH_EINVAL, "%.17g does not fit in %s", d, prim[k]);
    }
    neg = d < 0;
    mag = (uint64_t)fabs(d);
  } else if (json_is_string(j) && wide) {
    const char *s = json_string_value(j);
    size_t len = json_string_length(j), i = 0;
    if (len > 0 && s[0] == '-') { neg = true; i = 1; }
    if (i == len) return fail(x, WH_EINVAL, "\"%.40s\" is not a decimal integer", s);
    for (; i < len; i++) {
      if (s[i] < '0' || s[i] > '9')
        return fail(x, WH_EINVAL, "\"%.40s\" is not a decimal integer", s);
      unsigned dgt = (unsigned)(s[i] - '0');
      if (mag > (UINT64_MAX - dgt) / 10)
        return fail(x, WH_EINVAL, "%.40s does not fit in %s", s, prim[k]);
      mag = mag * 10 + dgt;
    }
  } else {
    return mismatch(x, t, j);
  }
  snprintf(text, sizeof text, "%s%llu", neg && mag ? "-" : "", (unsigned long long)mag);
  unsigned b = bits[k];
  uint64_t pos_max = is_signed ? (UINT64_C(1) << (b - 1)) - 1
                               : (b == 64 ? UINT64_MAX : (UINT64_C(1) << b) - 1);
  uint64_t neg_max = is_signed ? UINT64_C(1) << (b - 1) : 0;
  if (neg ? mag > neg_max : mag > pos_max)
    return fail(x, WH_EINVAL, "%s does not fit in %s", text, prim[k]);
  out->kind = (uint8_t)k;
  if (is_signed) out->of.s = neg ? (int64_t)(0 - mag) : (int64_t)mag;
  else out->of.u = mag;
  return 0;
}

static int float_from_json(jctx_t *x, wh_cm_type_ref_t t, wh_cm_tkind_t k, const json_t *j,
                           wh_cm_val *out) {
  double d;
  if (json_is_number(j)) {
    d = json_number_value(j);
  } else if (json_is_string(j)) {
    const char *s = json_string_value(j);
    if (strcmp(s, "NaN") == 0) d = NAN;
    else if (strcmp(s, "Infinity") == 0) d = INFINITY;
    else if (strcmp(s, "-Infinity") == 0) d = -INFINITY;
    else return fail(x, WH_EINVAL, "expected %s, got string \"%.40s\" (only \"NaN\", "
                     "\"Infinity\" and \"-Infinity\" are numbers)", prim[k], s);
  } else {
    return mismatch(x, t, j);
  }
  if (k == WH_CM_TK_F32) {
    if (isfinite(d) && fabs(d) > FLT_MAX)
      return fail(x, WH_EINVAL, "%.17g does not fit in f32", d);
    *out = wh_cm_val_f32((float)d);
  } else {
    *out = wh_cm_val_f64(d);
  }
  return 0;
}

/* The case named `key` of variant/enum/flags t, or -1. */
static int64_t case_index(jctx_t *x, wh_cm_type_ref_t t, const char *key,
                          wh_cm_type_ref_t *payload) {
  uint32_t n = wh_cm_type_field_count(x->c, t);
  for (uint32_t i = 0; i < n; i++) {
    const char *name = NULL;
    wh_cm_type_ref_t pt = 0;
    if (wh_cm_type_field(x->c, t, i, &name, &pt) == 0 && name && strcmp(name, key) == 0) {
      if (payload) *payload = pt;
      return i;
    }
  }
  return -1;
}

/* A payload of type pt (0: none: JSON null) under path `.key`. */
static int payload_from_json(jctx_t *x, wh_cm_type_ref_t pt, const char *key,
                             const json_t *j, wh_cm_val **dst, wh_cm_val *tmp) {
  *dst = NULL;
  if (pt == 0) {
    if (!json_is_null(j)) {
      size_t old = path_push(x, ".%s", key);
      int rc = fail(x, WH_EINVAL, "expected null (case \"%s\" has no payload), got %s", key,
                    jkind(j));
      path_pop(x, old);
      return rc;
    }
    return 0;
  }
  size_t old = path_push(x, ".%s", key);
  int rc = from_json(x, pt, j, tmp);
  path_pop(x, old);
  if (rc == 0) *dst = tmp;
  else wh_cm_val_fini(tmp);
  return rc;
}

static bool nullable(jctx_t *x, wh_cm_type_ref_t t) {
  return wh_cm_type_kind(x->c, t) == WH_CM_TK_OPTION;
}

static int record_from_json(jctx_t *x, wh_cm_type_ref_t t, const json_t *j, wh_cm_val *out) {
  char b[128];
  if (!json_is_object(j)) return mismatch(x, t, j);
  uint32_t n = wh_cm_type_field_count(x->c, t);
  const char *key;
  json_t *val;
  json_object_foreach((json_t *)j, key, val) {
    if (case_index(x, t, key, NULL) < 0)
      return fail(x, WH_EINVAL, "unknown field \"%.60s\" in %s", key, tname(x, t, b, sizeof b));
  }
  int rc = wh_cm_val_agg(out, WH_CM_V_RECORD, n);
  if (rc) return fail(x, rc, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    const char *name = NULL;
    wh_cm_type_ref_t ft = 0;
    wh_cm_type_field(x->c, t, i, &name, &ft);
    const json_t *fj = json_object_get(j, name ? name : "");
    if (!fj) {
      if (nullable(x, ft)) {                    /* an absent option is none */
        if ((rc = spend(x, 1, 0)) != 0) return rc;
        out->of.agg.v[i].kind = WH_CM_V_OPTION;
        continue;
      }
      return fail(x, WH_EINVAL, "missing field \"%s\" in %s", name ? name : "",
                  tname(x, t, b, sizeof b));
    }
    size_t old = path_push(x, ".%s", name ? name : "");
    rc = from_json(x, ft, fj, &out->of.agg.v[i]);
    path_pop(x, old);
    if (rc) return rc;
  }
  return 0;
}

static int variant_from_json(jctx_t *x, wh_cm_type_ref_t t, const json_t *j, wh_cm_val *out) {
  char b[128];
  const char *key;
  const json_t *pj = NULL;
  if (json_is_string(j)) {
    key = json_string_value(j);
  } else if (json_is_object(j) && json_object_size(j) == 1) {
    json_t *val;
    const char *k2;
    key = NULL;
    json_object_foreach((json_t *)j, k2, val) { key = k2; pj = val; }
  } else {
    return fail(x, WH_EINVAL, "expected %s as \"case\" or {\"case\": payload}, got %s%s",
                tname(x, t, b, sizeof b), jkind(j),
                json_is_object(j) ? " without exactly one key" : "");
  }
  wh_cm_type_ref_t pt = 0;
  int64_t idx = case_index(x, t, key, &pt);
  if (idx < 0)
    return fail(x, WH_EINVAL, "unknown case \"%.60s\" in %s", key, tname(x, t, b, sizeof b));
  if (!pj && pt)
    return fail(x, WH_EINVAL, "case \"%s\" of %s needs a payload: {\"%s\": ...}", key,
                tname(x, t, b, sizeof b), key);
  wh_cm_val tmp = { 0 }, *p = NULL;
  int rc = pj ? payload_from_json(x, pt, key, pj, &p, &tmp) : 0;
  if (rc) return rc;
  rc = wh_cm_val_case(out, WH_CM_V_VARIANT, (uint32_t)idx, p);
  return rc ? fail(x, rc, "out of memory") : 0;
}

static int option_from_json(jctx_t *x, wh_cm_type_ref_t t, const json_t *j, wh_cm_val *out) {
  wh_cm_type_ref_t et = wh_cm_type_elem(x->c, t);
  wh_cm_val tmp = { 0 };
  int rc;
  if (json_is_null(j)) {
    rc = wh_cm_val_case(out, WH_CM_V_OPTION, 0, NULL);
    return rc ? fail(x, rc, "out of memory") : 0;
  }
  if (nullable(x, et)) {
    const json_t *sj = json_is_object(j) && json_object_size(j) == 1
                           ? json_object_get(j, "some") : NULL;
    if (!sj)
      return fail(x, WH_EINVAL, "expected null or {\"some\": value} for an option of an "
                  "option, got %s", jkind(j));
    size_t old = path_push(x, ".some");
    rc = from_json(x, et, sj, &tmp);
    path_pop(x, old);
  } else {
    rc = from_json(x, et, j, &tmp);
  }
  if (rc) { wh_cm_val_fini(&tmp); return rc; }
  rc = wh_cm_val_case(out, WH_CM_V_OPTION, 1, &tmp);
  return rc ? fail(x, rc, "out of memory") : 0;
}

static int result_from_json(jctx_t *x, wh_cm_type_ref_t t, const json_t *j, wh_cm_val *out) {
  char b[128];
  const json_t *ok = json_is_object(j) && json_object_size(j) == 1 ? json_object_get(j, "ok") : NULL;
  const json_t *err = json_is_object(j) && json_object_size(j) == 1 ? json_object_get(j, "err") : NULL;
  if (!ok && !err)
    return fail(x, WH_EINVAL, "expected %s as {\"ok\": value} or {\"err\": value}, got %s",
                tname(x, t, b, sizeof b), jkind(j));
  wh_cm_val tmp = { 0 }, *p = NULL;
  int rc = ok ? payload_from_json(x, wh_cm_type_elem(x->c, t), "ok", ok, &p, &tmp)
              : payload_from_json(x, wh_cm_type_err(x->c, t), "err", err, &p, &tmp);
  if (rc) return rc;
  rc = wh_cm_val_case(out, WH_CM_V_RESULT, ok ? 0 : 1, p);
  return rc ? fail(x, rc, "out of memory") : 0;
}

static int flags_from_json(jctx_t *x, wh_cm_type_ref_t t, const json_t *j, wh_cm_val *out) {
  char b[128];
  if (!json_is_array(j)) return mismatch(x, t, j);
  uint32_t n = wh_cm_type_field_count(x->c, t);
  int rc = wh_cm_val_flags(out, n);
  if (rc) return fail(x, rc, "out of memory");
  size_t i;
  json_t *e;
  json_array_foreach(j, i, e) {
    size_t old = path_push(x, "[%zu]", i);
    int64_t idx = json_is_string(e) ? case_index(x, t, json_string_value(e), NULL) : -1;
    if (!json_is_string(e)) rc = fail(x, WH_EINVAL, "expected a flag name, got %s", jkind(e));
    else if (idx < 0)
      rc = fail(x, WH_EINVAL, "unknown flag \"%.60s\" in %s", json_string_value(e),
                tname(x, t, b, sizeof b));
    else if (wh_cm_val_flag_get(out, (uint32_t)idx))
      rc = fail(x, WH_EINVAL, "flag \"%.60s\" given twice", json_string_value(e));
    path_pop(x, old);
    if (rc) return rc;
    wh_cm_val_flag_set(out, (uint32_t)idx, true);
  }
  return 0;
}

static int seq_from_json(jctx_t *x, wh_cm_type_ref_t t, wh_cm_tkind_t k, const json_t *j,
                         wh_cm_val *out) {
  if (!json_is_array(j)) return mismatch(x, t, j);
  size_t n = json_array_size(j);
  uint32_t want = k == WH_CM_TK_TUPLE ? wh_cm_type_field_count(x->c, t)
                : k == WH_CM_TK_FIXED_LIST ? wh_cm_type_length(x->c, t) : 0;
  if (k != WH_CM_TK_LIST && n != want)
    return fail(x, WH_EINVAL, "expected %s of %u elements, got %zu",
                k == WH_CM_TK_TUPLE ? "a tuple" : "a fixed list", (unsigned)want, n);
  int rc = spend(x, n, 0);
  if (rc) return rc;
  rc = wh_cm_val_agg(out, k == WH_CM_TK_TUPLE ? WH_CM_V_TUPLE
                        : k == WH_CM_TK_FIXED_LIST ? WH_CM_V_FIXED_LIST : WH_CM_V_LIST,
                     (uint32_t)n);
  if (rc) return fail(x, rc, "out of memory");
  wh_cm_type_ref_t et = k == WH_CM_TK_TUPLE ? 0 : wh_cm_type_elem(x->c, t);
  for (size_t i = 0; i < n; i++) {
    if (k == WH_CM_TK_TUPLE) wh_cm_type_field(x->c, t, (uint32_t)i, NULL, &et);
    size_t old = path_push(x, "[%zu]", i);
    rc = from_json(x, et, json_array_get(j, i), &out->of.agg.v[i]);
    path_pop(x, old);
    if (rc) return rc;
  }
  return 0;
}

static int from_json(jctx_t *x, wh_cm_type_ref_t t, const json_t *j, wh_cm_val *out) {
  wh_cm_tkind_t k = wh_cm_type_kind(x->c, t);
  int rc;
  if (!j) return fail(x, WH_EINVAL, "no value");
  if (x->depth >= MAX_DEPTH) return fail(x, WH_ELIMIT, "nested more than %u deep", MAX_DEPTH);
  if ((rc = spend(x, 1, 0)) != 0) return rc;
  x->depth++;
  switch (k) {
  case WH_CM_TK_BOOL:
    if (!json_is_boolean(j)) { rc = mismatch(x, t, j); break; }
    *out = wh_cm_val_bool(json_is_true(j));
    break;
  case WH_CM_TK_S8: case WH_CM_TK_U8: case WH_CM_TK_S16: case WH_CM_TK_U16:
  case WH_CM_TK_S32: case WH_CM_TK_U32: case WH_CM_TK_S64: case WH_CM_TK_U64:
    rc = int_from_json(x, t, k, j, out);
    break;
  case WH_CM_TK_F32: case WH_CM_TK_F64:
    rc = float_from_json(x, t, k, j, out);
    break;
  case WH_CM_TK_CHAR: {
    if (!json_is_string(j)) { rc = mismatch(x, t, j); break; }
    const char *s = json_string_value(j);
    size_t n = json_string_length(j), i = 0;
    int32_t cp = n ? utf8_next((const unsigned char *)s, n, &i) : -1;
    if (cp < 0 || i != n) {
      rc = fail(x, WH_EINVAL, "expected char (one Unicode scalar value), got %s",
                n == 0 ? "an empty string" : cp < 0 ? "invalid UTF-8" : "several characters");
      break;
    }
    *out = wh_cm_val_char((uint32_t)cp);
    break;
  }
  case WH_CM_TK_STRING: {
    if (!json_is_string(j)) { rc = mismatch(x, t, j); break; }
    const char *s = json_string_value(j);
    size_t n = json_string_length(j);
    if (!utf8_valid(s, n)) { rc = fail(x, WH_EINVAL, "string is not valid UTF-8 (lone surrogate?)"); break; }
    if ((rc = spend(x, 0, n)) != 0) break;
    if ((rc = wh_cm_val_string(out, s, n)) != 0) rc = fail(x, rc, "out of memory");
    break;
  }
  case WH_CM_TK_RECORD: rc = record_from_json(x, t, j, out); break;
  case WH_CM_TK_VARIANT: rc = variant_from_json(x, t, j, out); break;
  case WH_CM_TK_ENUM: {
    char b[128];
    if (!json_is_string(j)) { rc = mismatch(x, t, j); break; }
    int64_t idx = case_index(x, t, json_string_value(j), NULL);
    if (idx < 0) {
      rc = fail(x, WH_EINVAL, "unknown case \"%.60s\" in %s", json_string_value(j),
                tname(x, t, b, sizeof b));
      break;
    }
    *out = wh_cm_val_enum((uint32_t)idx);
    break;
  }
  case WH_CM_TK_FLAGS: rc = flags_from_json(x, t, j, out); break;
  case WH_CM_TK_LIST: case WH_CM_TK_FIXED_LIST: case WH_CM_TK_TUPLE:
    rc = seq_from_json(x, t, k, j, out);
    break;
  case WH_CM_TK_OPTION: rc = option_from_json(x, t, j, out); break;
  case WH_CM_TK_RESULT: rc = result_from_json(x, t, j, out); break;
  case WH_CM_TK_OWN: case WH_CM_TK_BORROW: {
    json_int_t h = json_is_integer(j) ? json_integer_value(j) : -1;
    if (!json_is_integer(j) || h < 0 || h > (json_int_t)UINT32_MAX) {
      rc = json_is_integer(j) ? fail(x, WH_EINVAL, "handle %lld out of range", (long long)h)
                              : mismatch(x, t, j);
      break;
    }
    memset(out, 0, sizeof *out);
    out->kind = (uint8_t)k;
    out->of.handle.rep = (uint32_t)h;
    break;
  }
  default:
    rc = fail(x, WH_EINVAL, "not a value type");
    break;
  }
  x->depth--;
  return rc;
}

int wh_cm_json_to_val(const wh_cm_component_t *c, wh_cm_type_ref_t t, const json_t *j,
                      const char *path, wh_cm_val *out, wh_diag_t *diag) {
  jctx_t x = { .c = c, .diag = diag };
  memset(out, 0, sizeof *out);
  if (path) path_push(&x, "%s", path);
  int rc = from_json(&x, t, j, out);
  if (rc) wh_cm_val_fini(out);
  return rc;
}

/* ---- value -> JSON --------------------------------------------------------------- */
static int to_json(jctx_t *x, wh_cm_type_ref_t t, const wh_cm_val *v, json_t **out);

static int oom(jctx_t *x) { return fail(x, WH_ENOMEM, "out of memory"); }

static int vmismatch(jctx_t *x, wh_cm_type_ref_t t, const wh_cm_val *v) {
  char b[128];
  const char *vk = v->kind ? wh_cm_vkind_name((wh_cm_vkind_t)v->kind) : "no";
  return fail(x, WH_EINVAL, "expected %s, got %s value", tname(x, t, b, sizeof b),
              vk ? vk : "unknown");
}

static json_t *float_json(double d) {
  if (isnan(d)) return json_string("NaN");
  if (isinf(d)) return json_string(d > 0 ? "Infinity" : "-Infinity");
  return json_real(d);
}

static json_t *wide_json(bool neg, uint64_t mag) {
  char text[32];
  if (mag <= (uint64_t)EXACT_LIMIT)
    return json_integer(neg ? -(json_int_t)mag : (json_int_t)mag);
  snprintf(text, sizeof text, "%s%llu", neg ? "-" : "", (unsigned long long)mag);
  return json_string(text);
}

/* The payload of a case: null when the case has none. */
static int payload_to_json(jctx_t *x, wh_cm_type_ref_t pt, const char *key,
                           const wh_cm_val *p, json_t **out) {
  if (pt == 0) {
    if (p && p->kind != WH_CM_V_NONE)
      return fail(x, WH_EINVAL, "case \"%s\" has no payload, but the value has one", key);
    *out = json_null();
    return 0;
  }
  if (!p) return fail(x, WH_EINVAL, "case \"%s\" needs a payload, the value has none", key);
  size_t old = path_push(x, ".%s", key);
  int rc = to_json(x, pt, p, out);
  path_pop(x, old);
  return rc;
}

static int wrap1(jctx_t *x, const char *key, json_t *inner, json_t **out) {
  json_t *o = json_object();
  if (!o || json_object_set_new(o, key, inner) != 0) { json_decref(o); return oom(x); }
  *out = o;
  return 0;
}

static int to_json(jctx_t *x, wh_cm_type_ref_t t, const wh_cm_val *v, json_t **out) {
  wh_cm_tkind_t k = wh_cm_type_kind(x->c, t);
  int rc = 0;
  json_t *j = NULL;
  *out = NULL;
  if (x->depth >= MAX_DEPTH) return fail(x, WH_ELIMIT, "nested more than %u deep", MAX_DEPTH);
  if ((rc = spend(x, 1, 0)) != 0) return rc;
  if (k < WH_CM_TK_BOOL || k > WH_CM_TK_BORROW) return fail(x, WH_EINVAL, "not a value type");
  if (v->kind != (uint8_t)k) return vmismatch(x, t, v);
  x->depth++;
  switch (k) {
  case WH_CM_TK_BOOL: j = json_boolean(v->of.b); break;
  case WH_CM_TK_S8: case WH_CM_TK_S16: case WH_CM_TK_S32:
    j = json_integer((json_int_t)v->of.s);
    break;
  case WH_CM_TK_U8: case WH_CM_TK_U16: case WH_CM_TK_U32:
    j = json_integer((json_int_t)(uint32_t)v->of.u);
    break;
  case WH_CM_TK_S64:
    j = wide_json(v->of.s < 0, v->of.s < 0 ? (uint64_t)0 - (uint64_t)v->of.s : (uint64_t)v->of.s);
    break;
  case WH_CM_TK_U64: j = wide_json(false, v->of.u); break;
  case WH_CM_TK_F32: j = float_json((double)v->of.f32); break;
  case WH_CM_TK_F64: j = float_json(v->of.f64); break;
  case WH_CM_TK_CHAR: {
    char buf[4];
    uint32_t cp = v->of.ch;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      rc = fail(x, WH_EINVAL, "char U+%04X is not a Unicode scalar value", (unsigned)cp);
      break;
    }
    j = json_stringn(buf, utf8_put(cp, buf));
    break;
  }
  case WH_CM_TK_STRING:
    if (!v->of.str.ptr && v->of.str.len) { rc = fail(x, WH_EINVAL, "string without bytes"); break; }
    if (!utf8_valid(v->of.str.ptr ? v->of.str.ptr : "", v->of.str.len)) {
      rc = fail(x, WH_EINVAL, "string is not valid UTF-8");
      break;
    }
    if ((rc = spend(x, 0, v->of.str.len)) != 0) break;
    j = json_stringn(v->of.str.ptr ? v->of.str.ptr : "", v->of.str.len);
    break;
  case WH_CM_TK_RECORD: case WH_CM_TK_TUPLE: case WH_CM_TK_LIST: case WH_CM_TK_FIXED_LIST: {
    uint32_t n = v->of.agg.n;
    uint32_t want = k == WH_CM_TK_LIST ? n
                  : k == WH_CM_TK_FIXED_LIST ? wh_cm_type_length(x->c, t)
                  : wh_cm_type_field_count(x->c, t);
    if (n != want) { rc = fail(x, WH_EINVAL, "value has %u elements, type %u", n, want); break; }
    if (n && !v->of.agg.v) { rc = fail(x, WH_EINVAL, "aggregate without elements"); break; }
    if ((rc = spend(x, n, 0)) != 0) break;
    j = k == WH_CM_TK_RECORD ? json_object() : json_array();
    if (!j) break;
    wh_cm_type_ref_t et = (k == WH_CM_TK_LIST || k == WH_CM_TK_FIXED_LIST)
                              ? wh_cm_type_elem(x->c, t) : 0;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
      const char *name = NULL;
      json_t *e = NULL;
      if (k == WH_CM_TK_RECORD || k == WH_CM_TK_TUPLE) wh_cm_type_field(x->c, t, i, &name, &et);
      size_t old = k == WH_CM_TK_RECORD ? path_push(x, ".%s", name ? name : "")
                                         : path_push(x, "[%u]", (unsigned)i);
      rc = to_json(x, et, &v->of.agg.v[i], &e);
      path_pop(x, old);
      if (rc) break;
      if ((k == WH_CM_TK_RECORD ? json_object_set_new(j, name ? name : "", e)
                                : json_array_append_new(j, e)) != 0)
        rc = oom(x);
    }
    break;
  }
  case WH_CM_TK_VARIANT: case WH_CM_TK_ENUM: {
    const char *name = NULL;
    wh_cm_type_ref_t pt = 0;
    if (wh_cm_type_field(x->c, t, v->of.var.idx, &name, &pt) != 0 || !name) {
      rc = fail(x, WH_EINVAL, "case %u out of range", (unsigned)v->of.var.idx);
      break;
    }
    if (k == WH_CM_TK_ENUM || pt == 0) {
      if (k == WH_CM_TK_VARIANT && v->of.var.payload && v->of.var.payload->kind != WH_CM_V_NONE) {
        rc = fail(x, WH_EINVAL, "case \"%s\" has no payload, but the value has one", name);
        break;
      }
      j = json_string(name);
      break;
    }
    json_t *p = NULL;
    if ((rc = payload_to_json(x, pt, name, v->of.var.payload, &p)) == 0)
      rc = wrap1(x, name, p, &j);
    break;
  }
  case WH_CM_TK_OPTION: {
    wh_cm_type_ref_t et = wh_cm_type_elem(x->c, t);
    if (v->of.var.idx > 1) { rc = fail(x, WH_EINVAL, "option case %u", (unsigned)v->of.var.idx); break; }
    if (v->of.var.idx == 0) { j = json_null(); break; }
    if (!v->of.var.payload) { rc = fail(x, WH_EINVAL, "some without a payload"); break; }
    json_t *p = NULL;
    if (nullable(x, et)) {
      size_t old = path_push(x, ".some");
      rc = to_json(x, et, v->of.var.payload, &p);
      path_pop(x, old);
      if (rc == 0) rc = wrap1(x, "some", p, &j);
    } else {
      rc = to_json(x, et, v->of.var.payload, &j);
    }
    break;
  }
  case WH_CM_TK_RESULT: {
    if (v->of.var.idx > 1) { rc = fail(x, WH_EINVAL, "result case %u", (unsigned)v->of.var.idx); break; }
    bool ok = v->of.var.idx == 0;
    json_t *p = NULL;
    rc = payload_to_json(x, ok ? wh_cm_type_elem(x->c, t) : wh_cm_type_err(x->c, t),
                         ok ? "ok" : "err", v->of.var.payload, &p);
    if (rc == 0) rc = wrap1(x, ok ? "ok" : "err", p, &j);
    break;
  }
  case WH_CM_TK_FLAGS: {
    uint32_t n = wh_cm_type_field_count(x->c, t);
    if (n && (v->of.flags.nwords < (n + 31) / 32 || !v->of.flags.bits)) {
      rc = fail(x, WH_EINVAL, "flags value has %u words for %u flags",
                (unsigned)v->of.flags.nwords, (unsigned)n);
      break;
    }
    if (!(j = json_array())) break;
    for (uint32_t i = 0; i < n && rc == 0; i++) {
      const char *name = NULL;
      if (!wh_cm_val_flag_get(v, i)) continue;
      wh_cm_type_field(x->c, t, i, &name, NULL);
      if (json_array_append_new(j, json_string(name ? name : "")) != 0) rc = oom(x);
    }
    break;
  }
  case WH_CM_TK_OWN: case WH_CM_TK_BORROW:
    j = json_integer((json_int_t)v->of.handle.rep);
    break;
  default:
    break;
  }
  x->depth--;
  if (rc == 0 && !j) rc = oom(x);
  if (rc) { json_decref(j); return rc; }
  *out = j;
  return 0;
}

int wh_cm_val_to_json(const wh_cm_component_t *c, wh_cm_type_ref_t t, const wh_cm_val *v,
                      const char *path, json_t **out, wh_diag_t *diag) {
  jctx_t x = { .c = c, .diag = diag };
  if (path) path_push(&x, "%s", path);
  return to_json(&x, t, v, out);
}

/* ---- function arguments and results ----------------------------------------------- */
int wh_cm_json_args(const wh_cm_component_t *c, wh_cm_type_ref_t fn, const json_t *args,
                    wh_cm_val **out, size_t *nout, wh_diag_t *diag) {
  jctx_t x = { .c = c, .diag = diag };
  uint32_t n = wh_cm_type_field_count(c, fn);
  wh_cm_val *v = NULL;
  int rc = 0;
  *out = NULL;
  *nout = 0;
  path_push(&x, "args");
  if (wh_cm_type_kind(c, fn) != WH_CM_TK_FUNC) return fail(&x, WH_EINVAL, "not a function type");
  if (!json_is_array(args))
    return fail(&x, WH_EINVAL, "expected an array of %u arguments, got %s", (unsigned)n,
                args ? jkind(args) : "nothing");
  if (json_array_size(args) != n)
    return fail(&x, WH_EINVAL, "expected %u arguments, got %zu", (unsigned)n,
                json_array_size(args));
  v = calloc(n ? n : 1, sizeof *v);
  if (!v) return oom(&x);
  for (uint32_t i = 0; i < n; i++) {
    wh_cm_type_ref_t pt = 0;
    wh_cm_type_field(c, fn, i, NULL, &pt);
    size_t old = path_push(&x, "[%u]", (unsigned)i);
    rc = from_json(&x, pt, json_array_get(args, i), &v[i]);
    path_pop(&x, old);
    if (rc) goto fail;
  }
  *out = v;
  *nout = n;
  return 0;

fail:
  wh_cm_vals_free(v, n);
  return rc;
}

int wh_cm_json_result(const wh_cm_component_t *c, wh_cm_type_ref_t fn,
                      const wh_cm_val *result, json_t **out, wh_diag_t *diag) {
  wh_cm_type_ref_t rt = wh_cm_type_elem(c, fn);
  *out = NULL;
  if (rt == 0) {
    *out = json_null();
    return 0;
  }
  if (!result) {
    jctx_t x = { .c = c, .diag = diag };
    path_push(&x, "result");
    return fail(&x, WH_EINVAL, "no result value");
  }
  return wh_cm_val_to_json(c, rt, result, "result", out, diag);
}

void wh_cm_vals_free(wh_cm_val *v, size_t n) {
  if (!v) return;
  for (size_t i = 0; i < n; i++) wh_cm_val_fini(&v[i]);
  free(v);
}
