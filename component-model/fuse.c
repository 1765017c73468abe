/*
 * fuse.c - fused adapters: a call from one component instance into a
 * function another one lifted moves its arguments (and then its results)
 * straight from the source side's flat values and linear memory into the
 * destination side's, walking the two sides' types in parallel, with
 * every check lifting makes (alignment, bounds, UTF-8 / UTF-16 validity,
 * discriminants, char, handles) and every realloc call lowering makes,
 * in the same order.  No wh_cm_val tree is built; a string or list is
 * read once from the source memory and written once into the
 * destination's (transcoded on the way when the two sides' string
 * encodings differ).  Only resource handles pass through a one-word
 * handle value (no allocation), so the handle-table rules of abi.c apply
 * unchanged.
 *
 *   caller core  --flat/retptr-->  fuse_values  --flat/realloc-->  callee core
 *     (from: caller memory, enc)                   (to: callee memory, realloc, enc)
 *   results: the same with the sides swapped, before post-return.
 *
 * Why specialised C and not generated code: the walk is type-directed
 * and per call only touches the bytes being moved; wasmtime generates
 * wasm adapters because its calls between instances are compiled code,
 * while wharf's are host trampolines already, so one C walker adds no
 * extra transition (bench/cm-call measures it).
 *
 * Where a call still goes through wh_cm_val values (lower_fn in
 * instance.c), and why: a host function as callee (its calling
 * convention is values); a lowered function lifted by the same instance
 * (the call traps "cannot enter component instance" first); a lifted
 * built-in or missing import (no core function to call: it traps); a
 * fixed-length list anywhere in the signature (a gated feature no
 * supported component has, so its layout is not walked here); and a
 * linker with fusing switched off (wh_cm_linker_fuse, for benchmarks
 * and the unfused spec run).  Nested components and registered
 * instances always have equal function types (the validator and
 * wh_cm_link_check see to it), so no call falls back for a shape.
 *
 * Memories of two component instances are never the same (a component
 * cannot import a memory), so realloc on the destination side cannot
 * move the source; the source is still re-read through wh_memory_data
 * after every realloc and re-checked, so no guest can make this code
 * touch memory outside a linear memory.
 */
#include <stdlib.h>
#include <string.h>

#include "cm_run.h"

#define MAX_STRING_BYTE_LENGTH ((1u << 31) - 1)
#define UTF16_TAG (1u << 31)

static const wh_cm_type_t *ty(const wh_cm_component_t *c, wh_cm_tid_t t) {
  if (t <= WH_CM_T_LAST_PRIM) return &c->types[t];
  return &c->types[wh_cm__peel(c, t)];
}

static uint32_t align_to(uint32_t x, uint32_t a) { return (x + a - 1) / a * a; }

static bool variantish(uint8_t k) {
  return k == WH_CM_T_VARIANT || k == WH_CM_T_ENUM || k == WH_CM_T_OPTION || k == WH_CM_T_RESULT;
}

static bool scalar_kind(uint8_t k) { return k >= WH_CM_T_BOOL && k <= WH_CM_T_CHAR; }

/* ---- plans ------------------------------------------------------------------------- */

static bool same_shape(const wh_cm_component_t *c1, wh_cm_tid_t t1,
                       const wh_cm_component_t *c2, wh_cm_tid_t t2, uint32_t depth) {
  if (!t1 || !t2) return !t1 && !t2;
  if (depth > WH_CM_MAX_TYPE_DEPTH) return false;
  const wh_cm_type_t *a = ty(c1, t1), *b = ty(c2, t2);
  if (a->kind != b->kind) return false;
  switch (a->kind) {
  case WH_CM_T_LIST: case WH_CM_T_OPTION:
    return same_shape(c1, a->a, c2, b->a, depth + 1);
  case WH_CM_T_RESULT:
    return same_shape(c1, a->a, c2, b->a, depth + 1) && same_shape(c1, a->b, c2, b->b, depth + 1);
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE: case WH_CM_T_VARIANT:
    if (a->n != b->n) return false;
    for (uint32_t i = 0; i < a->n; i++)
      if (!same_shape(c1, a->f[i].type, c2, b->f[i].type, depth + 1)) return false;
    return true;
  case WH_CM_T_FLAGS: case WH_CM_T_ENUM:
    return a->n == b->n;
  case WH_CM_T_OWN: case WH_CM_T_BORROW:
    return true;   /* resource identity is checked per handle, as lifting does */
  case WH_CM_T_FIXED_LIST:
    return false;  /* gated elsewhere; the value path handles what exists */
  default:
    return scalar_kind(a->kind) || a->kind == WH_CM_T_STRING;
  }
}

bool wh_cm__fuse_compatible(const wh_cm_component_t *c1, wh_cm_tid_t ft1,
                            const wh_cm_component_t *c2, wh_cm_tid_t ft2) {
  const wh_cm_type_t *a = ty(c1, ft1), *b = ty(c2, ft2);
  if (a->kind != WH_CM_T_FUNC || b->kind != WH_CM_T_FUNC || a->n != b->n) return false;
  for (uint32_t i = 0; i < a->n; i++)
    if (!same_shape(c1, a->f[i].type, c2, b->f[i].type, 0)) return false;
  return same_shape(c1, a->a, c2, b->a, 0);
}

static uint8_t fix_code(uint8_t k) {
  switch (k) {
  case WH_CM_T_BOOL: return WH_CM_FIX_BOOL;
  case WH_CM_T_S8: return WH_CM_FIX_S8;
  case WH_CM_T_U8: return WH_CM_FIX_U8;
  case WH_CM_T_S16: return WH_CM_FIX_S16;
  case WH_CM_T_U16: return WH_CM_FIX_U16;
  case WH_CM_T_S32: case WH_CM_T_U32: return WH_CM_FIX_32;
  case WH_CM_T_F32: return WH_CM_FIX_F32;
  case WH_CM_T_F64: return WH_CM_FIX_F64;
  case WH_CM_T_CHAR: return WH_CM_FIX_CHAR;
  default: return WH_CM_FIX_NONE;   /* s64, u64: the slot as it is */
  }
}

bool wh_cm__fuse_scalar_plan(const wh_cm_component_t *c, wh_cm_tid_t ft, uint8_t *out,
                             uint32_t *n) {
  const wh_cm_type_t *f = ty(c, ft);
  if (f->n > WH_CM_MAX_FLAT_PARAMS) return false;
  uint32_t k = 0;
  for (uint32_t i = 0; i < f->n; i++) {
    uint8_t kind = ty(c, f->f[i].type)->kind;
    if (!scalar_kind(kind)) return false;
    out[k++] = fix_code(kind);
  }
  if (f->a) {
    uint8_t kind = ty(c, f->a)->kind;
    if (!scalar_kind(kind)) return false;
    out[k++] = fix_code(kind);
  }
  *n = k;
  return true;
}

/* lift_flat then lower_flat of one scalar (abi.c lift_scalar,
 * scalar_bits): narrow integers wrap and re-extend, bool becomes 0/1,
 * NaNs become the canonical NaN, a char must be a scalar value. */
int wh_cm__fuse_fix(cm_cx_t *cx, uint8_t code, uint64_t *slot) {
  uint64_t x = *slot;
  switch (code) {
  case WH_CM_FIX_NONE: return 0;
  case WH_CM_FIX_BOOL: x = (uint32_t)x != 0; break;
  case WH_CM_FIX_S8: x = (uint32_t)(int32_t)(int8_t)(uint8_t)x; break;
  case WH_CM_FIX_U8: x = (uint8_t)x; break;
  case WH_CM_FIX_S16: x = (uint32_t)(int32_t)(int16_t)(uint16_t)x; break;
  case WH_CM_FIX_U16: x = (uint16_t)x; break;
  case WH_CM_FIX_32: x = (uint32_t)x; break;
  case WH_CM_FIX_F32: {
    uint32_t b = (uint32_t)x;
    if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu)) b = 0x7fc00000u;
    x = b;
    break;
  }
  case WH_CM_FIX_F64:
    if ((x & 0x7ff0000000000000ull) == 0x7ff0000000000000ull && (x & 0x000fffffffffffffull))
      x = 0x7ff8000000000000ull;
    break;
  case WH_CM_FIX_CHAR: {
    uint32_t ch = (uint32_t)x;
    if (ch >= 0x110000 || (ch >= 0xD800 && ch <= 0xDFFF))
      return wh_cm__trap(cx, "invalid `char` bit pattern");
    x = ch;
    break;
  }
  }
  *slot = x;
  return 0;
}

/* ---- memory ------------------------------------------------------------------------ */

typedef struct fx {
  cm_cx_t *from, *to;
} fx_t;

/* n bytes at ptr of cx's memory, or a trap. */
static int at(cm_cx_t *cx, uint64_t ptr, uint64_t n, uint8_t **out) {
  uint64_t size = 0;
  uint8_t *m = cx->mem ? wh_memory_data(cx->mem, &size) : NULL;
  if (n == 0 && ptr <= size) { *out = m; return 0; }
  if (!m || ptr + n > size) return wh_cm__trap(cx, "out of bounds memory access");
  *out = m + ptr;
  return 0;
}

static uint64_t rd(const uint8_t *p, uint32_t n) {
  uint64_t x = 0;
  for (uint32_t i = 0; i < n; i++) x |= (uint64_t)p[i] << (8 * i);
  return x;
}

static void wr(uint8_t *p, uint64_t x, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) p[i] = (uint8_t)(x >> (8 * i));
}

/* ---- strings ----------------------------------------------------------------------- */

/* What a lifted string was, as in value.h's WH_CM_STR_*. */
enum { S_UTF8 = WH_CM_STR_UTF8, S_UTF16 = WH_CM_STR_UTF16, S_LATIN1 = WH_CM_STR_LATIN1,
       S_TAGGED = WH_CM_STR_UTF16_TAGGED };

/* A source string, checked: where it is, its form and its measures in
 * every encoding the destination might want. */
typedef struct sstr {
  uint32_t ptr, bytes;       /* in the source memory */
  uint8_t form;              /* S_* */
  uint64_t n8;               /* UTF-8 bytes */
  uint64_t nu;               /* UTF-16 code units */
  uint64_t nchars;           /* code points */
  bool latin1;               /* every code point < 256 */
} sstr_t;

/* load_string_from_range's checks, and the measures (only when the
 * destination transcodes: `measure`). */
static int check_string(cm_cx_t *cx, uint32_t ptr, uint32_t tagged, bool measure, sstr_t *s) {
  uint32_t alignment = 1;
  uint64_t bytes = tagged;
  s->form = S_UTF8;
  if (cx->enc == WH_CM_ENC_UTF16) {
    alignment = 2;
    bytes = 2 * (uint64_t)tagged;
    if (bytes > UINT32_MAX) return wh_cm__trap(cx, "string content out-of-bounds");
    s->form = S_UTF16;
  } else if (cx->enc == WH_CM_ENC_LATIN1_UTF16) {
    alignment = 2;
    if (tagged & UTF16_TAG) { bytes = 2 * (uint64_t)(tagged ^ UTF16_TAG); s->form = S_TAGGED; }
    else s->form = S_LATIN1;
  }
  /* trap_if(byte_length > MAX_STRING_BYTE_LENGTH), with wasmtime's
   * message for it (its big-strings test checks it) */
  if (bytes > MAX_STRING_BYTE_LENGTH) return wh_cm__trap(cx, "string content out-of-bounds");
  if (ptr % alignment) return wh_cm__trap(cx, "unaligned pointer");
  uint64_t size = 0;
  uint8_t *m = cx->mem ? wh_memory_data(cx->mem, &size) : NULL;
  if ((uint64_t)ptr + bytes > size) return wh_cm__trap(cx, "string content out-of-bounds");
  const uint8_t *p = m ? m + ptr : NULL;
  s->ptr = ptr;
  s->bytes = (uint32_t)bytes;
  s->n8 = s->nu = s->nchars = 0;
  s->latin1 = true;
  if (s->form == S_UTF8) {
    int rc = bytes ? wh_cm__utf8_check(cx, p, bytes) : 0;
    if (rc || !measure) { s->n8 = bytes; return rc; }
    s->n8 = bytes;
    for (uint64_t i = 0; i < bytes; i++) {
      uint64_t w;
      if (i + 8 <= bytes && (memcpy(&w, p + i, 8), !(w & 0x8080808080808080ull))) {
        s->nchars += 8;   /* eight ASCII bytes */
        s->nu += 8;
        i += 7;
        continue;
      }
      uint8_t b = p[i];
      if ((b & 0xC0) == 0x80) continue;     /* a continuation byte */
      s->nchars++;
      s->nu += b >= 0xF0 ? 2 : 1;
      if (b >= 0xC4) s->latin1 = false;     /* U+0100 and above start at 0xC4 */
    }
    return 0;
  }
  if (s->form == S_LATIN1) {
    s->nchars = s->nu = bytes;
    s->n8 = bytes;
    for (uint64_t i = 0; i < bytes; i++) s->n8 += p[i] >= 0x80;
    return 0;
  }
  uint64_t nunits = bytes / 2;
  for (uint64_t i = 0; i < nunits; i++) {
    uint64_t w;
    if (i + 4 <= nunits && (memcpy(&w, p + 2 * i, 8), !(w & 0xFF80FF80FF80FF80ull))) {
      s->nchars += 4;   /* four ASCII code units */
      s->n8 += 4;
      i += 3;
      continue;
    }
    uint32_t u = (uint32_t)p[2 * i] | ((uint32_t)p[2 * i + 1] << 8);
    if (u >= 0xD800 && u <= 0xDBFF && i + 1 < nunits) {
      uint32_t u2 = (uint32_t)p[2 * i + 2] | ((uint32_t)p[2 * i + 3] << 8);
      if (u2 >= 0xDC00 && u2 <= 0xDFFF) {
        i++;
        s->nchars++;
        s->n8 += 4;
        s->latin1 = false;
        continue;
      }
    }
    if (u >= 0xD800 && u <= 0xDFFF) return wh_cm__trap(cx, "invalid utf-16: unpaired surrogate");
    s->nchars++;
    s->n8 += u < 0x80 ? 1 : u < 0x800 ? 2 : 3;
    if (u > 0xFF) s->latin1 = false;
  }
  s->nu = nunits;
  return 0;
}

/* The next code point of a checked source string at p[*i]. */
static uint32_t next_cp(const uint8_t *p, uint8_t form, uint64_t *i) {
  if (form == S_LATIN1) return p[(*i)++];
  if (form == S_UTF8) {
    uint8_t b = p[*i];
    if (b < 0x80) { (*i)++; return b; }
    uint32_t need = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : 1;
    uint32_t cp = b & (0x3F >> need);
    for (uint32_t k = 1; k <= need; k++) cp = (cp << 6) | (p[*i + k] & 0x3F);
    *i += need + 1;
    return cp;
  }
  uint32_t u = (uint32_t)p[*i] | ((uint32_t)p[*i + 1] << 8);
  *i += 2;
  if (u >= 0xD800 && u <= 0xDBFF) {
    uint32_t u2 = (uint32_t)p[*i] | ((uint32_t)p[*i + 1] << 8);
    *i += 2;
    return 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
  }
  return u;
}

/* The destination forms: UTF-8, UTF-16LE, Latin-1 (only when s->latin1). */
enum { D_UTF8, D_UTF16, D_LATIN1 };

/* Writes the checked source string `s` (re-read from `from`) at `dst`
 * of to's memory in form `d`; the space was checked by realloc. */
static int put_string(fx_t *fx, const sstr_t *s, uint32_t dst, uint8_t d, uint64_t dlen) {
  const uint8_t *p;
  uint8_t *o;
  int rc;
  if ((rc = at(fx->from, s->ptr, s->bytes, (uint8_t **)&p))) return rc;
  if ((rc = at(fx->to, dst, dlen, &o))) return rc;
  if (s->bytes == 0) return 0;
  if ((d == D_UTF8 && s->form == S_UTF8) || (d == D_LATIN1 && s->form == S_LATIN1) ||
      (d == D_UTF16 && (s->form == S_UTF16 || s->form == S_TAGGED))) {
    memcpy(o, p, s->bytes);
    return 0;
  }
  uint64_t i = 0, k = 0;
  while (i < s->bytes) {
    uint32_t cp = next_cp(p, s->form, &i);
    if (d == D_LATIN1) {
      o[k++] = (uint8_t)cp;
    } else if (d == D_UTF16) {
      if (cp >= 0x10000) {
        cp -= 0x10000;
        wr(o + k, 0xD800 + (cp >> 10), 2);
        wr(o + k + 2, 0xDC00 + (cp & 0x3FF), 2);
        k += 4;
      } else {
        wr(o + k, cp, 2);
        k += 2;
      }
    } else if (cp < 0x80) {
      o[k++] = (uint8_t)cp;
    } else if (cp < 0x800) {
      o[k++] = (uint8_t)(0xC0 | (cp >> 6));
      o[k++] = (uint8_t)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      o[k++] = (uint8_t)(0xE0 | (cp >> 12));
      o[k++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
      o[k++] = (uint8_t)(0x80 | (cp & 0x3F));
    } else {
      o[k++] = (uint8_t)(0xF0 | (cp >> 18));
      o[k++] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
      o[k++] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
      o[k++] = (uint8_t)(0x80 | (cp & 0x3F));
    }
  }
  return 0;
}

/* A destination size past MAX_STRING_BYTE_LENGTH (the spec's bare
 * trap_if; wasmtime's message). */
static int too_long(cm_cx_t *cx) { return wh_cm__trap(cx, "string content out-of-bounds"); }

/* One string: lifted from (ptr, tagged) in `from`, stored into `to`
 * with the realloc calls of CanonicalABI.md store_string_into_range
 * chosen by the source encoding (the same sequence abi.c's store_string
 * makes for a lifted string, so both paths look alike to realloc). */
static int xfer_string(fx_t *fx, uint32_t ptr, uint32_t tagged, uint32_t *optr,
                       uint32_t *olen) {
  cm_cx_t *to = fx->to;
  sstr_t s;
  bool copy8 = to->enc == WH_CM_ENC_UTF8 && fx->from->enc == WH_CM_ENC_UTF8;
  int rc = check_string(fx->from, ptr, tagged, !copy8, &s);
  if (rc) return rc;
  if (s.n8 > MAX_STRING_BYTE_LENGTH) return too_long(to);
  uint32_t p;
  uint8_t from = s.form;
  uint64_t n = s.n8, nu = s.nu;
  if (to->enc == WH_CM_ENC_UTF8 && from == S_UTF8) {
    /* store_string_copy */
    if ((rc = wh_cm__realloc(to, 0, 0, 1, (uint32_t)n, &p))) return rc;
    if ((rc = put_string(fx, &s, p, D_UTF8, n))) return rc;
    *optr = p;
    *olen = (uint32_t)n;
    return 0;
  }
  uint64_t units = from == S_UTF8 ? n : from == S_LATIN1 ? s.nchars : nu;
  if (to->enc == WH_CM_ENC_UTF8) {
    /* store_utf16_to_utf8 / store_latin1_to_utf8 */
    uint64_t worst = units * (from == S_LATIN1 ? 2 : 3);
    if ((rc = wh_cm__realloc(to, 0, 0, 1, (uint32_t)units, &p))) return rc;
    if (n != units) {
      if (worst > MAX_STRING_BYTE_LENGTH) return too_long(to);
      if ((rc = wh_cm__realloc(to, p, (uint32_t)units, 1, (uint32_t)worst, &p))) return rc;
    }
    if ((rc = put_string(fx, &s, p, D_UTF8, n))) return rc;
    if (n != units && worst > n &&
        (rc = wh_cm__realloc(to, p, (uint32_t)worst, 1, (uint32_t)n, &p)))
      return rc;
    *optr = p;
    *olen = (uint32_t)n;
    return 0;
  }
  if (to->enc == WH_CM_ENC_UTF16) {
    if (from == S_UTF8) {
      /* store_utf8_to_utf16: the worst case, then shrink */
      uint64_t worst = 2 * units;
      if (worst > MAX_STRING_BYTE_LENGTH) return too_long(to);
      if ((rc = wh_cm__realloc(to, 0, 0, 2, (uint32_t)worst, &p))) return rc;
      if ((rc = put_string(fx, &s, p, D_UTF16, 2 * nu))) return rc;
      if (2 * nu < worst && (rc = wh_cm__realloc(to, p, (uint32_t)worst, 2, (uint32_t)(2 * nu), &p)))
        return rc;
    } else {
      if (2 * nu > MAX_STRING_BYTE_LENGTH) return too_long(to);
      if ((rc = wh_cm__realloc(to, 0, 0, 2, (uint32_t)(2 * nu), &p))) return rc;
      if ((rc = put_string(fx, &s, p, D_UTF16, 2 * nu))) return rc;
    }
    *optr = p;
    *olen = (uint32_t)nu;
    return 0;
  }
  /* latin1+utf16 */
  if (from == S_LATIN1) {
    if ((rc = wh_cm__realloc(to, 0, 0, 2, (uint32_t)nu, &p))) return rc;
    if ((rc = put_string(fx, &s, p, D_LATIN1, nu))) return rc;
    *optr = p;
    *olen = (uint32_t)nu;
    return 0;
  }
  if (from == S_TAGGED) {
    /* store_probably_utf16_to_latin1_or_utf16 */
    if (2 * nu > MAX_STRING_BYTE_LENGTH) return too_long(to);
    if ((rc = wh_cm__realloc(to, 0, 0, 2, (uint32_t)(2 * nu), &p))) return rc;
    if (!s.latin1) {
      if ((rc = put_string(fx, &s, p, D_UTF16, 2 * nu))) return rc;
      *optr = p;
      *olen = (uint32_t)nu | UTF16_TAG;
      return 0;
    }
    if ((rc = put_string(fx, &s, p, D_LATIN1, nu))) return rc;
    if ((rc = wh_cm__realloc(to, p, (uint32_t)(2 * nu), 1, (uint32_t)nu, &p))) return rc;
    *optr = p;
    *olen = (uint32_t)nu;
    return 0;
  }
  /* store_string_to_latin1_or_utf16 (from UTF-8 or UTF-16) */
  if ((rc = wh_cm__realloc(to, 0, 0, 2, (uint32_t)units, &p))) return rc;
  if (s.latin1) {
    if ((rc = put_string(fx, &s, p, D_LATIN1, nu))) return rc;
    if (nu < units && (rc = wh_cm__realloc(to, p, (uint32_t)units, 2, (uint32_t)nu, &p)))
      return rc;
    *optr = p;
    *olen = (uint32_t)nu;
    return 0;
  }
  uint64_t worst = 2 * units;
  if (worst > MAX_STRING_BYTE_LENGTH) return too_long(to);
  if ((rc = wh_cm__realloc(to, p, (uint32_t)units, 2, (uint32_t)worst, &p))) return rc;
  if ((rc = put_string(fx, &s, p, D_UTF16, 2 * nu))) return rc;
  if (worst > 2 * nu && (rc = wh_cm__realloc(to, p, (uint32_t)worst, 2, (uint32_t)(2 * nu), &p)))
    return rc;
  *optr = p;
  *olen = (uint32_t)nu | UTF16_TAG;
  return 0;
}

/* ---- values in memory --------------------------------------------------------------- */

static int xfer_mem(fx_t *fx, wh_cm_tid_t t1, uint32_t sp, wh_cm_tid_t t2, uint32_t dp);

/* Whether elements of `t` may be copied as bytes: integers, and
 * records/tuples of them without padding (lifting then lowering changes
 * none of their bits). */
static bool plain_bytes(const wh_cm_component_t *c, wh_cm_tid_t tid, uint32_t depth) {
  const wh_cm_type_t *t = ty(c, tid);
  if (t->kind >= WH_CM_T_S8 && t->kind <= WH_CM_T_U64) return true;
  if ((t->kind == WH_CM_T_RECORD || t->kind == WH_CM_T_TUPLE) && depth < 8) {
    uint32_t sum = 0;
    for (uint32_t i = 0; i < t->n; i++) {
      if (!plain_bytes(c, t->f[i].type, depth + 1)) return false;
      sum += wh_cm__size(c, t->f[i].type);
    }
    return sum == wh_cm__size(c, tid);
  }
  return false;
}

static int xfer_list(fx_t *fx, wh_cm_tid_t e1, uint32_t ptr, uint32_t len, wh_cm_tid_t e2,
                     uint32_t *optr, uint32_t *olen) {
  const wh_cm_component_t *c1 = fx->from->c, *c2 = fx->to->c;
  uint32_t a = wh_cm__align(c1, e1), es = wh_cm__size(c1, e1);
  if (ptr % a) return wh_cm__trap(fx->from, "unaligned pointer");
  uint64_t size = 0;
  if (fx->from->mem) wh_memory_data(fx->from->mem, &size);
  uint64_t bytes = (uint64_t)len * es;
  if ((uint64_t)ptr + bytes > size) return wh_cm__trap(fx->from, "list content out-of-bounds");
  if (bytes >= (1ull << 32)) return wh_cm__trap(fx->to, "list too long");
  uint32_t a2 = wh_cm__align(c2, e2), es2 = wh_cm__size(c2, e2);
  uint32_t p;
  int rc = wh_cm__realloc(fx->to, 0, 0, a2, (uint32_t)bytes, &p);
  if (rc) return rc;
  if (plain_bytes(c1, e1, 0)) {
    uint8_t *s = NULL, *o = NULL;
    if ((rc = at(fx->from, ptr, bytes, &s)) || (rc = at(fx->to, p, bytes, &o))) return rc;
    if (bytes) memcpy(o, s, bytes);
  } else {
    for (uint32_t i = 0; i < len; i++)
      if ((rc = xfer_mem(fx, e1, ptr + i * es, e2, p + i * es2))) return rc;
  }
  *optr = p;
  *olen = len;
  return 0;
}

static int xfer_handle(fx_t *fx, uint8_t kind, uint32_t idx, wh_cm_tid_t r1, wh_cm_tid_t r2,
                       uint32_t *out) {
  wh_cm_val h;
  int rc = wh_cm__lift_handle(fx->from, kind, idx, r1, &h);
  if (rc) return rc;
  return wh_cm__lower_handle(fx->to, &h, kind, r2, out);
}

/* One scalar of kind k from `x` (its stored bits): as wh_cm__fuse_fix,
 * trapping on the source side. */
static int fix(fx_t *fx, uint8_t k, uint64_t *x) {
  return wh_cm__fuse_fix(fx->from, fix_code(k), x);
}

static int xfer_mem(fx_t *fx, wh_cm_tid_t t1, uint32_t sp, wh_cm_tid_t t2, uint32_t dp) {
  const wh_cm_component_t *c1 = fx->from->c, *c2 = fx->to->c;
  const wh_cm_type_t *a = ty(c1, t1), *b = ty(c2, t2);
  uint32_t sz = wh_cm__size(c1, t1);
  uint8_t *s = NULL, *o = NULL;
  int rc;
  if ((rc = at(fx->from, sp, sz, &s))) return rc;
  switch (a->kind) {
  case WH_CM_T_STRING: case WH_CM_T_LIST: {
    uint32_t p0 = (uint32_t)rd(s, 4), l0 = (uint32_t)rd(s + 4, 4), p, l;
    rc = a->kind == WH_CM_T_STRING ? xfer_string(fx, p0, l0, &p, &l)
                                   : xfer_list(fx, a->a, p0, l0, b->a, &p, &l);
    if (rc || (rc = at(fx->to, dp, 8, &o))) return rc;
    wr(o, p, 4);
    wr(o + 4, l, 4);
    return 0;
  }
  case WH_CM_T_OWN: case WH_CM_T_BORROW: {
    uint32_t h;
    if ((rc = xfer_handle(fx, a->kind, (uint32_t)rd(s, 4), a->a, b->a, &h))) return rc;
    if ((rc = at(fx->to, dp, 4, &o))) return rc;
    wr(o, h, 4);
    return 0;
  }
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE: {
    uint32_t off = 0;
    for (uint32_t i = 0; i < a->n; i++) {
      off = align_to(off, wh_cm__align(c1, a->f[i].type));
      if ((rc = xfer_mem(fx, a->f[i].type, sp + off, b->f[i].type, dp + off))) return rc;
      off += wh_cm__size(c1, a->f[i].type);
    }
    return 0;
  }
  case WH_CM_T_FLAGS: {
    if ((rc = at(fx->to, dp, sz, &o))) return rc;
    if (a->n <= 16) {
      uint64_t x = rd(s, sz);
      if (a->n < 32) x &= (1u << a->n) - 1;
      wr(o, x, sz);
    } else {
      uint32_t nw = (a->n + 31) / 32;
      for (uint32_t w = 0; w < nw; w++) {
        uint32_t x = (uint32_t)rd(s + 4 * w, 4);
        if (w == nw - 1 && a->n % 32) x &= (1u << (a->n % 32)) - 1;
        wr(o + 4 * w, x, 4);
      }
    }
    return 0;
  }
  default:
    if (variantish(a->kind)) {
      uint32_t n, ds, poff;
      wh_cm__case_shape(c1, t1, &n, &ds, &poff);
      uint32_t d = (uint32_t)rd(s, ds);
      if (d >= n) return wh_cm__trap(fx->from, "invalid variant discriminant");
      if ((rc = at(fx->to, dp, ds, &o))) return rc;
      wr(o, d, ds);
      wh_cm_tid_t ct1 = wh_cm__case_type(c1, t1, d), ct2 = wh_cm__case_type(c2, t2, d);
      if (ct1 && a->kind != WH_CM_T_ENUM) return xfer_mem(fx, ct1, sp + poff, ct2, dp + poff);
      return 0;
    }
    uint64_t x = rd(s, sz);
    if ((rc = fix(fx, a->kind, &x))) return rc;
    if ((rc = at(fx->to, dp, sz, &o))) return rc;
    wr(o, x, sz);
    return 0;
  }
}

/* ---- flat values ------------------------------------------------------------------------ */

typedef struct fin { const uint64_t *v; uint32_t n, i; } fin_t;
typedef struct fout { uint64_t *v; uint32_t n, cap; } fout_t;

static uint64_t take(fin_t *it) { return it->i < it->n ? it->v[it->i++] : 0; }
static void give(fout_t *o, uint64_t x) {
  if (o->n < o->cap) o->v[o->n] = x;
  o->n++;
}

static int xfer_flat(fx_t *fx, wh_cm_tid_t t1, fin_t *in, wh_cm_tid_t t2, fout_t *out) {
  const wh_cm_component_t *c1 = fx->from->c, *c2 = fx->to->c;
  const wh_cm_type_t *a = ty(c1, t1), *b = ty(c2, t2);
  int rc;
  switch (a->kind) {
  case WH_CM_T_STRING: case WH_CM_T_LIST: {
    uint32_t p0 = (uint32_t)take(in), l0 = (uint32_t)take(in), p, l;
    rc = a->kind == WH_CM_T_STRING ? xfer_string(fx, p0, l0, &p, &l)
                                   : xfer_list(fx, a->a, p0, l0, b->a, &p, &l);
    if (rc) return rc;
    give(out, p);
    give(out, l);
    return 0;
  }
  case WH_CM_T_OWN: case WH_CM_T_BORROW: {
    uint32_t h;
    if ((rc = xfer_handle(fx, a->kind, (uint32_t)take(in), a->a, b->a, &h))) return rc;
    give(out, h);
    return 0;
  }
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE:
    for (uint32_t i = 0; i < a->n; i++)
      if ((rc = xfer_flat(fx, a->f[i].type, in, b->f[i].type, out))) return rc;
    return 0;
  case WH_CM_T_FLAGS: {
    uint32_t nw = (a->n + 31) / 32;
    for (uint32_t w = 0; w < nw; w++) {
      uint32_t x = (uint32_t)take(in);
      if (w == nw - 1 && a->n % 32) x &= (1u << (a->n % 32)) - 1;
      give(out, x);
    }
    return 0;
  }
  default:
    if (variantish(a->kind)) {
      uint32_t n, ds, poff;
      wh_cm__case_shape(c1, t1, &n, &ds, &poff);
      uint32_t total = wh_cm__flat_total(c1, &t1, 1, UINT32_MAX - 1);
      uint32_t istart = in->i, ostart = out->n;
      uint32_t d = (uint32_t)take(in);
      if (d >= n) return wh_cm__trap(fx->from, "invalid variant discriminant");
      give(out, d);
      wh_cm_tid_t ct1 = wh_cm__case_type(c1, t1, d), ct2 = wh_cm__case_type(c2, t2, d);
      if (ct1 && a->kind != WH_CM_T_ENUM && (rc = xfer_flat(fx, ct1, in, ct2, out))) return rc;
      in->i = istart + total;
      while (out->n < ostart + total) give(out, 0);
      return 0;
    }
    uint64_t x = take(in);
    if ((rc = fix(fx, a->kind, &x))) return rc;
    give(out, x);
    return 0;
  }
}

/* ---- top-level strings and scalars --------------------------------------------------
 * The common signature of an interface function (scalars and strings in,
 * a scalar or a string out) without the walk: one code per flat value
 * group, decided once per adapter. */

bool wh_cm__fuse_flat_plan(const wh_cm_component_t *c, wh_cm_tid_t ft, uint8_t *codes,
                           uint32_t *n, uint8_t *res) {
  const wh_cm_type_t *f = ty(c, ft);
  uint32_t flat = 0;
  if (f->n > WH_CM_MAX_FLAT_PARAMS) return false;
  for (uint32_t i = 0; i < f->n; i++) {
    uint8_t k = ty(c, f->f[i].type)->kind;
    if (k == WH_CM_T_STRING) {
      codes[i] = WH_CM_FUSE_STRING;
      flat += 2;
    } else if (scalar_kind(k)) {
      codes[i] = fix_code(k);
      flat += 1;
    } else {
      return false;
    }
  }
  if (flat > WH_CM_MAX_FLAT_PARAMS) return false;
  *n = f->n;
  *res = WH_CM_FUSE_NONE;
  if (f->a) {
    uint8_t k = ty(c, f->a)->kind;
    if (k == WH_CM_T_STRING) *res = WH_CM_FUSE_STRING;
    else if (scalar_kind(k)) *res = fix_code(k);
    else return false;
  }
  return true;
}

int wh_cm__fuse_flat_params(cm_cx_t *from, cm_cx_t *to, const uint8_t *codes, uint32_t n,
                            const uint64_t *in, uint64_t *out, uint32_t *nout) {
  fx_t fx = {from, to};
  uint32_t k = 0;
  int rc;
  for (uint32_t i = 0; i < n; i++) {
    if (codes[i] == WH_CM_FUSE_STRING) {
      uint32_t p, l;
      if ((rc = xfer_string(&fx, (uint32_t)in[k], (uint32_t)in[k + 1], &p, &l))) return rc;
      out[k++] = p;
      out[k++] = l;
    } else {
      out[k] = in[k];
      if ((rc = wh_cm__fuse_fix(from, codes[i], &out[k]))) return rc;
      k++;
    }
  }
  *nout = k;
  return 0;
}

int wh_cm__fuse_flat_result(cm_cx_t *from, cm_cx_t *to, uint8_t code, uint64_t core,
                            const uint64_t *retptr, uint64_t *out) {
  fx_t fx = {from, to};
  if (code != WH_CM_FUSE_STRING) {
    *out = core;
    return wh_cm__fuse_fix(from, code, out);
  }
  /* a string result: its (ptr, len) pair in the callee's memory goes to
   * the caller's out pointer, with the checks of the spilled case */
  uint32_t sp = (uint32_t)core, dp = (uint32_t)*retptr, p, l;
  uint8_t *s = NULL, *o = NULL;
  int rc;
  if (sp % 4) return wh_cm__trap(from, "unaligned pointer");
  if ((rc = at(from, sp, 8, &s))) return wh_cm__trap(from, "pointer out of bounds of memory");
  if (dp % 4) return wh_cm__trap(to, "unaligned pointer");
  if ((rc = at(to, dp, 8, &o))) return wh_cm__trap(to, "pointer out of bounds of memory");
  if ((rc = xfer_string(&fx, (uint32_t)rd(s, 4), (uint32_t)rd(s + 4, 4), &p, &l))) return rc;
  if ((rc = at(to, dp, 8, &o))) return rc;   /* realloc may have moved it */
  wr(o, p, 4);
  wr(o + 4, l, 4);
  return 0;
}

int wh_cm__fuse_values(cm_cx_t *from, cm_cx_t *to, const wh_cm_tid_t *types1,
                       const wh_cm_tid_t *types2, uint32_t n, uint32_t max_flat,
                       uint32_t total, const uint64_t *in, uint32_t nin, uint64_t *out,
                       uint32_t *nout, const uint64_t *retptr) {
  fx_t fx = {from, to};
  int rc;
  if (total <= max_flat) {
    fin_t it = {in, nin, 0};
    fout_t o = {out, 0, max_flat};
    for (uint32_t i = 0; i < n; i++)
      if ((rc = xfer_flat(&fx, types1[i], &it, types2[i], &o))) return rc;
    *nout = o.n;
    return 0;
  }
  /* spilled: a tuple in memory on both sides */
  uint32_t a, s, sp = nin ? (uint32_t)in[0] : 0, dp;
  wh_cm__tuple_shape(from->c, types1, n, &a, &s);
  if (sp % a) return wh_cm__trap(from, "unaligned pointer");
  uint64_t size = 0;
  if (from->mem) wh_memory_data(from->mem, &size);
  if ((uint64_t)sp + s > size) return wh_cm__trap(from, "pointer out of bounds of memory");
  if (retptr) {
    dp = (uint32_t)*retptr;
    if (dp % a) return wh_cm__trap(to, "unaligned pointer");
    size = 0;
    if (to->mem) wh_memory_data(to->mem, &size);
    if ((uint64_t)dp + s > size) return wh_cm__trap(to, "pointer out of bounds of memory");
    *nout = 0;
  } else {
    if ((rc = wh_cm__realloc(to, 0, 0, a, s, &dp))) return rc;
    out[0] = dp;
    *nout = 1;
  }
  uint32_t off = 0;
  for (uint32_t i = 0; i < n; i++) {
    off = align_to(off, wh_cm__align(from->c, types1[i]));
    if ((rc = xfer_mem(&fx, types1[i], sp + off, types2[i], dp + off))) return rc;
    off += wh_cm__size(from->c, types1[i]);
  }
  return 0;
}
