/*
 * value.c - dynamic component-model values (see value.h): constructors,
 * deep free/copy and structural equality.  No type information here; the
 * canonical ABI (abi.c) checks values against types as it lowers them.
 */
#include "value.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "wh_error.h"

#define SCALAR(fn, K, field, T)                                             \
  wh_cm_val fn(T x) {                                                       \
    wh_cm_val v;                                                            \
    memset(&v, 0, sizeof v);                                                \
    v.kind = K;                                                             \
    v.of.field = x;                                                         \
    return v;                                                               \
  }
SCALAR(wh_cm_val_bool, WH_CM_V_BOOL, b, bool)
SCALAR(wh_cm_val_s8, WH_CM_V_S8, s, int8_t)
SCALAR(wh_cm_val_u8, WH_CM_V_U8, u, uint8_t)
SCALAR(wh_cm_val_s16, WH_CM_V_S16, s, int16_t)
SCALAR(wh_cm_val_u16, WH_CM_V_U16, u, uint16_t)
SCALAR(wh_cm_val_s32, WH_CM_V_S32, s, int32_t)
SCALAR(wh_cm_val_u32, WH_CM_V_U32, u, uint32_t)
SCALAR(wh_cm_val_s64, WH_CM_V_S64, s, int64_t)
SCALAR(wh_cm_val_u64, WH_CM_V_U64, u, uint64_t)
SCALAR(wh_cm_val_f32, WH_CM_V_F32, f32, float)
SCALAR(wh_cm_val_f64, WH_CM_V_F64, f64, double)
SCALAR(wh_cm_val_char, WH_CM_V_CHAR, ch, uint32_t)
#undef SCALAR

wh_cm_val wh_cm_val_enum(uint32_t idx) {
  wh_cm_val v;
  memset(&v, 0, sizeof v);
  v.kind = WH_CM_V_ENUM;
  v.of.var.idx = idx;
  return v;
}

static wh_cm_val handle_val(wh_cm_vkind_t kind, wh_cm_rtype_t *rt, uint32_t rep) {
  wh_cm_val v;
  memset(&v, 0, sizeof v);
  v.kind = (uint8_t)kind;
  v.of.handle.rt = rt;
  v.of.handle.rep = rep;
  return v;
}

wh_cm_val wh_cm_val_own(wh_cm_rtype_t *rt, uint32_t rep) {
  return handle_val(WH_CM_V_OWN, rt, rep);
}

wh_cm_val wh_cm_val_borrow(wh_cm_rtype_t *rt, uint32_t rep) {
  return handle_val(WH_CM_V_BORROW, rt, rep);
}

int wh_cm_val_string(wh_cm_val *v, const char *s, size_t len) {
  memset(v, 0, sizeof *v);
  v->kind = WH_CM_V_STRING;
  v->of.str.ptr = malloc(len + 1);
  if (!v->of.str.ptr) return WH_ENOMEM;
  if (len) memcpy(v->of.str.ptr, s, len);
  v->of.str.ptr[len] = '\0';
  v->of.str.len = len;
  return 0;
}

int wh_cm_val_agg(wh_cm_val *v, wh_cm_vkind_t kind, uint32_t n) {
  memset(v, 0, sizeof *v);
  v->kind = (uint8_t)kind;
  if (n == 0) return 0;
  v->of.agg.v = calloc(n, sizeof *v->of.agg.v);
  if (!v->of.agg.v) return WH_ENOMEM;
  v->of.agg.n = n;
  return 0;
}

int wh_cm_val_case(wh_cm_val *v, wh_cm_vkind_t kind, uint32_t idx, wh_cm_val *payload) {
  memset(v, 0, sizeof *v);
  v->kind = (uint8_t)kind;
  v->of.var.idx = idx;
  if (!payload) return 0;
  v->of.var.payload = malloc(sizeof *payload);
  if (!v->of.var.payload) {
    wh_cm_val_fini(payload);
    return WH_ENOMEM;
  }
  *v->of.var.payload = *payload;
  memset(payload, 0, sizeof *payload);
  return 0;
}

int wh_cm_val_flags(wh_cm_val *v, uint32_t nflags) {
  memset(v, 0, sizeof *v);
  v->kind = WH_CM_V_FLAGS;
  uint32_t nw = (nflags + 31) / 32;
  if (nw == 0) return 0;
  v->of.flags.bits = calloc(nw, sizeof(uint32_t));
  if (!v->of.flags.bits) return WH_ENOMEM;
  v->of.flags.nwords = nw;
  return 0;
}

void wh_cm_val_flag_set(wh_cm_val *v, uint32_t i, bool on) {
  if (i / 32 >= v->of.flags.nwords) return;
  if (on) v->of.flags.bits[i / 32] |= 1u << (i % 32);
  else v->of.flags.bits[i / 32] &= ~(1u << (i % 32));
}

bool wh_cm_val_flag_get(const wh_cm_val *v, uint32_t i) {
  if (i / 32 >= v->of.flags.nwords) return false;
  return (v->of.flags.bits[i / 32] >> (i % 32)) & 1u;
}

void wh_cm_val_fini(wh_cm_val *v) {
  if (!v) return;
  switch (v->kind) {
  case WH_CM_V_STRING: free(v->of.str.ptr); break;
  case WH_CM_V_LIST: case WH_CM_V_FIXED_LIST: case WH_CM_V_RECORD: case WH_CM_V_TUPLE:
    for (uint32_t i = 0; i < v->of.agg.n; i++) wh_cm_val_fini(&v->of.agg.v[i]);
    free(v->of.agg.v);
    break;
  case WH_CM_V_VARIANT: case WH_CM_V_OPTION: case WH_CM_V_RESULT:
    if (v->of.var.payload) {
      wh_cm_val_fini(v->of.var.payload);
      free(v->of.var.payload);
    }
    break;
  case WH_CM_V_FLAGS: free(v->of.flags.bits); break;
  default: break;
  }
  memset(v, 0, sizeof *v);
}

int wh_cm_val_copy(wh_cm_val *dst, const wh_cm_val *src) {
  int rc = 0;
  switch (src->kind) {
  case WH_CM_V_STRING: return wh_cm_val_string(dst, src->of.str.ptr, src->of.str.len);
  case WH_CM_V_LIST: case WH_CM_V_FIXED_LIST: case WH_CM_V_RECORD: case WH_CM_V_TUPLE:
    rc = wh_cm_val_agg(dst, (wh_cm_vkind_t)src->kind, src->of.agg.n);
    for (uint32_t i = 0; rc == 0 && i < src->of.agg.n; i++)
      rc = wh_cm_val_copy(&dst->of.agg.v[i], &src->of.agg.v[i]);
    break;
  case WH_CM_V_VARIANT: case WH_CM_V_OPTION: case WH_CM_V_RESULT:
    if (src->of.var.payload) {
      wh_cm_val p;
      rc = wh_cm_val_copy(&p, src->of.var.payload);
      if (rc) {
        memset(dst, 0, sizeof *dst);
        return rc;
      }
      rc = wh_cm_val_case(dst, (wh_cm_vkind_t)src->kind, src->of.var.idx, &p);
    } else {
      rc = wh_cm_val_case(dst, (wh_cm_vkind_t)src->kind, src->of.var.idx, NULL);
    }
    break;
  case WH_CM_V_FLAGS:
    rc = wh_cm_val_flags(dst, src->of.flags.nwords * 32);
    if (rc == 0 && src->of.flags.nwords)
      memcpy(dst->of.flags.bits, src->of.flags.bits, src->of.flags.nwords * sizeof(uint32_t));
    break;
  default: *dst = *src; return 0;
  }
  if (rc) wh_cm_val_fini(dst);
  return rc;
}

bool wh_cm_val_eq(const wh_cm_val *a, const wh_cm_val *b) {
  if (a->kind != b->kind) return false;
  switch (a->kind) {
  case WH_CM_V_BOOL: return a->of.b == b->of.b;
  case WH_CM_V_S8: case WH_CM_V_S16: case WH_CM_V_S32: case WH_CM_V_S64: return a->of.s == b->of.s;
  case WH_CM_V_U8: case WH_CM_V_U16: case WH_CM_V_U32: case WH_CM_V_U64: return a->of.u == b->of.u;
  case WH_CM_V_F32:
    return (isnan(a->of.f32) && isnan(b->of.f32)) || a->of.f32 == b->of.f32;
  case WH_CM_V_F64:
    return (isnan(a->of.f64) && isnan(b->of.f64)) || a->of.f64 == b->of.f64;
  case WH_CM_V_CHAR: return a->of.ch == b->of.ch;
  case WH_CM_V_STRING:
    return a->of.str.len == b->of.str.len &&
           (a->of.str.len == 0 || memcmp(a->of.str.ptr, b->of.str.ptr, a->of.str.len) == 0);
  case WH_CM_V_LIST: case WH_CM_V_FIXED_LIST: case WH_CM_V_RECORD: case WH_CM_V_TUPLE:
    if (a->of.agg.n != b->of.agg.n) return false;
    for (uint32_t i = 0; i < a->of.agg.n; i++)
      if (!wh_cm_val_eq(&a->of.agg.v[i], &b->of.agg.v[i])) return false;
    return true;
  case WH_CM_V_ENUM: return a->of.var.idx == b->of.var.idx;
  case WH_CM_V_VARIANT: case WH_CM_V_OPTION: case WH_CM_V_RESULT:
    if (a->of.var.idx != b->of.var.idx) return false;
    if (!a->of.var.payload || !b->of.var.payload) return !a->of.var.payload && !b->of.var.payload;
    return wh_cm_val_eq(a->of.var.payload, b->of.var.payload);
  case WH_CM_V_FLAGS: {
    uint32_t n = a->of.flags.nwords > b->of.flags.nwords ? a->of.flags.nwords : b->of.flags.nwords;
    for (uint32_t i = 0; i < n; i++) {
      uint32_t x = i < a->of.flags.nwords ? a->of.flags.bits[i] : 0;
      uint32_t y = i < b->of.flags.nwords ? b->of.flags.bits[i] : 0;
      if (x != y) return false;
    }
    return true;
  }
  case WH_CM_V_OWN: case WH_CM_V_BORROW:
    return a->of.handle.rt == b->of.handle.rt && a->of.handle.rep == b->of.handle.rep;
  default: return true;
  }
}

const char *wh_cm_vkind_name(wh_cm_vkind_t k) {
  static const char *const names[] = {
      "none", "bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64",
      "char", "string", "record", "variant", "list", "fixed-list", "tuple", "flags", "enum",
      "option", "result", "own", "borrow"};
  if ((unsigned)k < sizeof names / sizeof names[0]) return names[k];
  return "?";
}
