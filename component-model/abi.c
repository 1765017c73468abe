/*
 * abi.c - the canonical ABI (CanonicalABI.md, followed function by
 * function): flattening, sizes and alignment, lifting and lowering of
 * every value type through flat core values and linear memory, string
 * transcoding, realloc, resource handle tables and borrow scopes.
 *
 * Flat values are raw 64-bit slots, as in the engine's host calling
 * convention: i32 zero-extended, floats as bit patterns.  The spec's
 * variant coercions (i32<->f32, i32/f32 widened to i64, f64 as i64) are
 * then only "take the low 32 bits" on the way in and "zero-extend" on the
 * way out, so one slot reader serves every case.
 *
 * Every trap leaves through wh_cm__trap(), which records the message in
 * cx->trap and returns WH_ETRAP.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_run.h"

#define MAX_STRING_BYTE_LENGTH ((1u << 31) - 1)
#define UTF16_TAG (1u << 31)
#define MAX_HANDLES ((1u << 28) - 1)

int wh_cm__trap(cm_cx_t *cx, const char *fmt, ...) {
  if (cx->trap) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cx->trap, CM_TRAPMSG, fmt, ap);
    va_end(ap);
  }
  return WH_ETRAP;
}

static int bad_value(cm_cx_t *cx, const char *want, const wh_cm_val *v) {
  if (cx->trap)
    snprintf(cx->trap, CM_TRAPMSG, "expected %s, got %s", want,
             wh_cm_vkind_name((wh_cm_vkind_t)v->kind));
  return WH_EINVAL;
}

/* ---- type shapes ------------------------------------------------------------- */

static const wh_cm_type_t *ty(const wh_cm_component_t *c, wh_cm_tid_t t) {
  if (t <= WH_CM_T_LAST_PRIM) return &c->types[t];   /* never an alias */
  return &c->types[wh_cm__peel(c, t)];
}

static uint32_t align_to(uint32_t x, uint32_t a) { return (x + a - 1) / a * a; }

static uint32_t ncases(const wh_cm_type_t *t) {
  return (t->kind == WH_CM_T_OPTION || t->kind == WH_CM_T_RESULT) ? 2 : t->n;
}

static wh_cm_tid_t case_type(const wh_cm_type_t *t, uint32_t i) {
  switch (t->kind) {
  case WH_CM_T_VARIANT: return t->f[i].type;
  case WH_CM_T_OPTION: return i == 1 ? t->a : 0;
  case WH_CM_T_RESULT: return i == 0 ? t->a : t->b;
  default: return 0;
  }
}

static uint32_t disc_size(uint32_t n) { return n <= 256 ? 1 : n <= 65536 ? 2 : 4; }

static uint32_t flags_size(uint32_t n) {
  if (n == 0) return 0;
  if (n <= 8) return 1;
  if (n <= 16) return 2;
  return 4 * ((n + 31) / 32);
}

static bool is_variantish(uint8_t k) {
  return k == WH_CM_T_VARIANT || k == WH_CM_T_ENUM || k == WH_CM_T_OPTION || k == WH_CM_T_RESULT;
}

uint32_t wh_cm__align(const wh_cm_component_t *c, wh_cm_tid_t tid) {
  const wh_cm_type_t *t = ty(c, tid);
  switch (t->kind) {
  case WH_CM_T_BOOL: case WH_CM_T_S8: case WH_CM_T_U8: return 1;
  case WH_CM_T_S16: case WH_CM_T_U16: return 2;
  case WH_CM_T_S32: case WH_CM_T_U32: case WH_CM_T_F32: case WH_CM_T_CHAR: return 4;
  case WH_CM_T_S64: case WH_CM_T_U64: case WH_CM_T_F64: return 8;
  case WH_CM_T_STRING: case WH_CM_T_LIST: case WH_CM_T_OWN: case WH_CM_T_BORROW: return 4;
  case WH_CM_T_FIXED_LIST: return wh_cm__align(c, t->a);
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE: {
    uint32_t a = 1;
    for (uint32_t i = 0; i < t->n; i++) {
      uint32_t fa = wh_cm__align(c, t->f[i].type);
      if (fa > a) a = fa;
    }
    return a;
  }
  case WH_CM_T_FLAGS: { uint32_t s = flags_size(t->n); return s == 0 ? 1 : s > 4 ? 4 : s; }
  default:
    if (is_variantish(t->kind)) {
      uint32_t n = ncases(t), a = disc_size(n);
      for (uint32_t i = 0; i < n; i++) {
        wh_cm_tid_t ct = case_type(t, i);
        if (ct) { uint32_t ca = wh_cm__align(c, ct); if (ca > a) a = ca; }
      }
      return a;
    }
    return 1;
  }
}

static uint32_t max_case_align(const wh_cm_component_t *c, const wh_cm_type_t *t) {
  uint32_t a = 1, n = ncases(t);
  for (uint32_t i = 0; i < n; i++) {
    wh_cm_tid_t ct = case_type(t, i);
    if (ct) { uint32_t ca = wh_cm__align(c, ct); if (ca > a) a = ca; }
  }
  return a;
}

uint32_t wh_cm__size(const wh_cm_component_t *c, wh_cm_tid_t tid) {
  const wh_cm_type_t *t = ty(c, tid);
  switch (t->kind) {
  case WH_CM_T_BOOL: case WH_CM_T_S8: case WH_CM_T_U8: return 1;
  case WH_CM_T_S16: case WH_CM_T_U16: return 2;
  case WH_CM_T_S32: case WH_CM_T_U32: case WH_CM_T_F32: case WH_CM_T_CHAR: return 4;
  case WH_CM_T_S64: case WH_CM_T_U64: case WH_CM_T_F64: return 8;
  case WH_CM_T_STRING: case WH_CM_T_LIST: return 8;
  case WH_CM_T_OWN: case WH_CM_T_BORROW: return 4;
  case WH_CM_T_FIXED_LIST: return t->n * wh_cm__size(c, t->a);
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE: {
    uint32_t s = 0;
    for (uint32_t i = 0; i < t->n; i++) {
      s = align_to(s, wh_cm__align(c, t->f[i].type));
      s += wh_cm__size(c, t->f[i].type);
    }
    return align_to(s, wh_cm__align(c, tid));
  }
  case WH_CM_T_FLAGS: return flags_size(t->n);
  default:
    if (is_variantish(t->kind)) {
      uint32_t n = ncases(t);
      uint32_t s = align_to(disc_size(n), max_case_align(c, t));
      uint32_t cs = 0;
      for (uint32_t i = 0; i < n; i++) {
        wh_cm_tid_t ct = case_type(t, i);
        if (ct) { uint32_t z = wh_cm__size(c, ct); if (z > cs) cs = z; }
      }
      return align_to(s + cs, wh_cm__align(c, tid));
    }
    return 0;
  }
}

static uint32_t payload_offset(const wh_cm_component_t *c, const wh_cm_type_t *t) {
  return align_to(disc_size(ncases(t)), max_case_align(c, t));
}

static uint8_t join(uint8_t a, uint8_t b) {
  if (a == b) return a;
  if ((a == WH_I32 && b == WH_F32) || (a == WH_F32 && b == WH_I32)) return WH_I32;
  return WH_I64;
}

/* Unbounded flattening into a caller buffer of `cap`; returns count
 * needed (may exceed cap: then only cap written). */
static uint32_t flat(const wh_cm_component_t *c, wh_cm_tid_t tid, uint8_t *out, uint32_t cap) {
  const wh_cm_type_t *t = ty(c, tid);
#define PUT(x) do { if (n < cap) out[n] = (x); n++; } while (0)
  uint32_t n = 0;
  switch (t->kind) {
  case WH_CM_T_S64: case WH_CM_T_U64: PUT(WH_I64); break;
  case WH_CM_T_F32: PUT(WH_F32); break;
  case WH_CM_T_F64: PUT(WH_F64); break;
  case WH_CM_T_STRING: case WH_CM_T_LIST: PUT(WH_I32); PUT(WH_I32); break;
  case WH_CM_T_FIXED_LIST:
    for (uint32_t i = 0; i < t->n; i++) n += flat(c, t->a, out + (n < cap ? n : cap), n < cap ? cap - n : 0);
    break;
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE:
    for (uint32_t i = 0; i < t->n; i++)
      n += flat(c, t->f[i].type, out + (n < cap ? n : cap), n < cap ? cap - n : 0);
    break;
  case WH_CM_T_FLAGS:
    for (uint32_t i = 0; i < (t->n + 31) / 32; i++) PUT(WH_I32);
    break;
  default:
    if (is_variantish(t->kind)) {
      uint8_t joined[64];
      uint32_t nj = 0;
      uint32_t nc = ncases(t);
      for (uint32_t i = 0; i < nc; i++) {
        wh_cm_tid_t ct = case_type(t, i);
        if (!ct) continue;
        uint8_t tmp[64];
        uint32_t k = flat(c, ct, tmp, 64);
        if (k > 64) k = 64;   /* only bounded uses reach here */
        for (uint32_t j = 0; j < k; j++) {
          if (j < nj) joined[j] = join(joined[j], tmp[j]);
          else joined[nj++] = tmp[j];
        }
      }
      PUT(WH_I32);
      for (uint32_t j = 0; j < nj; j++) PUT(joined[j]);
    } else {
      PUT(WH_I32);
    }
  }
#undef PUT
  return n;
}

bool wh_cm__flatten(const wh_cm_component_t *c, wh_cm_tid_t t, uint8_t *out, uint32_t *n,
                    uint32_t max) {
  uint32_t room = *n < max ? max - *n : 0;
  uint32_t k = flat(c, t, out + (*n < max ? *n : max), room);
  *n += k;
  return *n <= max;
}

static uint32_t flat_count(const wh_cm_component_t *c, wh_cm_tid_t t) {
  return flat(c, t, NULL, 0);
}

static char tchar(uint8_t t) {
  switch (t) {
  case WH_I64: return 'I';
  case WH_F32: return 'f';
  case WH_F64: return 'F';
  default: return 'i';
  }
}

void wh_cm__core_sig(const wh_cm_component_t *c, wh_cm_tid_t ft, bool lower, char *params,
                     char *results) {
  const wh_cm_type_t *f = ty(c, ft);
  uint8_t buf[WH_CM_MAX_FLAT_PARAMS + 1];
  uint32_t n = 0;
  bool fits = true;
  for (uint32_t i = 0; i < f->n && fits; i++)
    fits = wh_cm__flatten(c, f->f[i].type, buf, &n, WH_CM_MAX_FLAT_PARAMS);
  uint32_t np = 0;
  if (!fits) params[np++] = 'i';
  else for (uint32_t i = 0; i < n; i++) params[np++] = tchar(buf[i]);
  uint32_t nr = 0;
  if (f->a) {
    uint32_t m = 0;
    uint8_t rb[WH_CM_MAX_FLAT_RESULTS + 1];
    if (wh_cm__flatten(c, f->a, rb, &m, WH_CM_MAX_FLAT_RESULTS)) {
      for (uint32_t i = 0; i < m; i++) results[nr++] = tchar(rb[i]);
    } else if (lower) {
      params[np++] = 'i';
    } else {
      results[nr++] = 'i';
    }
  }
  params[np] = '\0';
  results[nr] = '\0';
}

/* ---- memory -------------------------------------------------------------------- */

static uint8_t *mem(cm_cx_t *cx, uint64_t *size) {
  if (!cx->mem) { *size = 0; return NULL; }
  return wh_memory_data(cx->mem, size);
}

static int mem_at(cm_cx_t *cx, uint64_t ptr, uint64_t n, uint8_t **out) {
  uint64_t size;
  uint8_t *m = mem(cx, &size);
  if (n == 0 && ptr <= size) { *out = m; return 0; }
  if (!m || ptr + n > size) return wh_cm__trap(cx, "out of bounds memory access");
  *out = m + ptr;
  return 0;
}

static int realloc_call(cm_cx_t *cx, uint32_t old, uint32_t old_size, uint32_t align,
                        uint32_t new_size, uint32_t *out) {
  if (!cx->realloc) return wh_cm__trap(cx, "no realloc function");
  wh_val_t a[4], r[1];
  a[0].type = a[1].type = a[2].type = a[3].type = WH_I32;
  a[0].of.i32 = (int32_t)old;
  a[1].of.i32 = (int32_t)old_size;
  a[2].of.i32 = (int32_t)align;
  a[3].of.i32 = (int32_t)new_size;
  int rc = wh_call(cx->x, cx->realloc, a, 4, r, 1);
  if (rc) {
    const char *msg = NULL;
    wh_exec_trap(cx->x, &msg, NULL);
    if (rc == WH_ETRAP) return wh_cm__trap(cx, "%s", msg ? msg : "trap in realloc");
    return rc;
  }
  *out = (uint32_t)r[0].of.i32;
  return 0;
}

static int realloc_checked(cm_cx_t *cx, uint32_t old, uint32_t old_size, uint32_t align,
                           uint32_t new_size, uint32_t *out) {
  int rc = realloc_call(cx, old, old_size, align, new_size, out);
  if (rc) return rc;
  if (*out != align_to(*out, align)) return wh_cm__trap(cx, "realloc return: result not aligned");
  uint64_t size;
  mem(cx, &size);
  if ((uint64_t)*out + new_size > size) return wh_cm__trap(cx, "realloc return: beyond end of memory");
  return 0;
}

/* ---- strings --------------------------------------------------------------------- */

/* Appends code point `cp` as UTF-8. */
static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F)); return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Decodes one UTF-8 scalar at s[*i] (n bytes); -1 invalid, -2 incomplete. */
static int64_t next_utf8(const uint8_t *s, size_t n, size_t *i) {
  uint8_t b = s[*i];
  uint32_t cp, need, min;
  if (b < 0x80) { (*i)++; return b; }
  if (b >= 0xC2 && b <= 0xDF) { cp = b & 0x1F; need = 1; min = 0x80; }
  else if (b >= 0xE0 && b <= 0xEF) { cp = b & 0x0F; need = 2; min = 0x800; }
  else if (b >= 0xF0 && b <= 0xF4) { cp = b & 0x07; need = 3; min = 0x10000; }
  else return -1;
  for (uint32_t k = 1; k <= need; k++) {
    if (*i + k >= n) {
      /* incomplete if every byte so far is a continuation */
      return -2;
    }
    uint8_t cb = s[*i + k];
    if ((cb & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (cb & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  *i += need + 1;
  return cp;
}

static bool utf8_valid(const uint8_t *s, size_t n, size_t *bad, bool *incomplete) {
  size_t i = 0;
  while (i < n) {
    /* ASCII eight bytes at a time */
    while (i + 8 <= n) {
      uint64_t w;
      memcpy(&w, s + i, 8);
      if (w & 0x8080808080808080ull) break;
      i += 8;
    }
    if (i >= n) break;
    size_t at = i;
    int64_t cp = next_utf8(s, n, &i);
    if (cp < 0) { *bad = at; *incomplete = cp == -2; return false; }
  }
  return true;
}

static int load_string_from_range(cm_cx_t *cx, uint32_t ptr, uint32_t tagged, wh_cm_val *out) {
  uint32_t alignment, byte_length;
  int enc;
  switch (cx->enc) {
  case WH_CM_ENC_UTF16: alignment = 2; byte_length = 0; enc = 1;
    if ((uint64_t)tagged * 2 > UINT32_MAX) return wh_cm__trap(cx, "string content out-of-bounds");
    byte_length = 2 * tagged;
    break;
  case WH_CM_ENC_LATIN1_UTF16:
    alignment = 2;
    if (tagged & UTF16_TAG) { byte_length = 2 * (tagged ^ UTF16_TAG); enc = 1; }
    else { byte_length = tagged; enc = 2; }
    break;
  default: alignment = 1; byte_length = tagged; enc = 0; break;
  }
  if (ptr != align_to(ptr, alignment)) return wh_cm__trap(cx, "unaligned pointer");
  uint64_t size;
  uint8_t *m = mem(cx, &size);
  if ((uint64_t)ptr + byte_length > size) return wh_cm__trap(cx, "string content out-of-bounds");
  const uint8_t *s = m ? m + ptr : (const uint8_t *)"";
  if (enc == 0) {
    size_t bad;
    bool inc;
    if (!utf8_valid(s, byte_length, &bad, &inc)) {
      if (inc) return wh_cm__trap(cx, "incomplete utf-8 byte sequence from index %zu", bad);
      return wh_cm__trap(cx, "invalid utf-8 sequence from index %zu", bad);
    }
    return wh_cm_val_string(out, (const char *)s, byte_length);
  }
  size_t cap = enc == 2 ? (size_t)byte_length * 2 : (size_t)byte_length / 2 * 3;
  char *buf = malloc(cap + 1);
  if (!buf) return WH_ENOMEM;
  size_t o = 0;
  if (enc == 2) {
    for (uint32_t i = 0; i < byte_length; i++) o += put_utf8(buf + o, s[i]);
  } else {
    uint32_t nu = byte_length / 2;
    for (uint32_t i = 0; i < nu; i++) {
      uint32_t u = (uint32_t)s[2 * i] | ((uint32_t)s[2 * i + 1] << 8);
      if (u >= 0xD800 && u <= 0xDBFF && i + 1 < nu) {
        uint32_t u2 = (uint32_t)s[2 * i + 2] | ((uint32_t)s[2 * i + 3] << 8);
        if (u2 >= 0xDC00 && u2 <= 0xDFFF) {
          u = 0x10000 + ((u - 0xD800) << 10) + (u2 - 0xDC00);
          i++;
          o += put_utf8(buf + o, u);
          continue;
        }
      }
      if (u >= 0xD800 && u <= 0xDFFF) {
        free(buf);
        return wh_cm__trap(cx, "invalid utf-16: unpaired surrogate");
      }
      o += put_utf8(buf + o, u);
    }
  }
  memset(out, 0, sizeof *out);
  out->kind = WH_CM_V_STRING;
  if (enc == 2) out->str_src = WH_CM_STR_LATIN1;
  else out->str_src = cx->enc == WH_CM_ENC_UTF16 ? WH_CM_STR_UTF16 : WH_CM_STR_UTF16_TAGGED;
  buf[o] = '\0';
  out->of.str.ptr = buf;
  out->of.str.len = o;
  return 0;
}

/* Writes code units u16[0..nu) at m as UTF-16LE, or as Latin-1 bytes. */
static void put_u16(uint8_t *m, const uint16_t *u16, size_t nu) {
  for (size_t k = 0; k < nu; k++) {
    m[2 * k] = (uint8_t)u16[k];
    m[2 * k + 1] = (uint8_t)(u16[k] >> 8);
  }
}

static void put_latin1(uint8_t *m, const uint16_t *u16, size_t nu) {
  for (size_t k = 0; k < nu; k++) m[k] = (uint8_t)u16[k];
}

/* Lowers a string.  The content is v's UTF-8; how memory is requested
 * from realloc follows CanonicalABI.md store_string_into_range for the
 * encoding the string had where it was lifted (v->str_src; host strings
 * are UTF-8), so realloc sees what a fused adapter would do. */
static int store_string(cm_cx_t *cx, const wh_cm_val *v, uint32_t *optr, uint32_t *olen) {
  const uint8_t *src = (const uint8_t *)v->of.str.ptr;
  size_t n = v->of.str.len;
  size_t bad;
  bool inc;
  if (!utf8_valid(src, n, &bad, &inc)) return bad_value(cx, "valid UTF-8 string", v);
  if (n > MAX_STRING_BYTE_LENGTH) return wh_cm__trap(cx, "string too long");
  uint32_t ptr;
  uint8_t *m = NULL;
  int rc;
  uint8_t from = v->str_src <= WH_CM_STR_UTF16_TAGGED ? v->str_src : WH_CM_STR_UTF8;
  if (cx->enc == WH_CM_ENC_UTF8 && from == WH_CM_STR_UTF8) {
    /* store_string_copy */
    if ((rc = realloc_checked(cx, 0, 0, 1, (uint32_t)n, &ptr))) return rc;
    if (n) {
      if ((rc = mem_at(cx, ptr, (uint32_t)n, &m))) return rc;
      memcpy(m, src, n);
    }
    *optr = ptr;
    *olen = (uint32_t)n;
    return 0;
  }
  /* decode once into UTF-16 code units */
  uint16_t *u16 = malloc((n + 1) * sizeof *u16);
  if (!u16) return WH_ENOMEM;
  size_t nu = 0, i = 0, nchars = 0;
  bool all_latin1 = true;
  while (i < n) {
    uint32_t cp = (uint32_t)next_utf8(src, n, &i);
    nchars++;
    if (cp > 0xFF) all_latin1 = false;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      u16[nu++] = (uint16_t)(0xD800 + (cp >> 10));
      u16[nu++] = (uint16_t)(0xDC00 + (cp & 0x3FF));
    } else {
      u16[nu++] = (uint16_t)cp;
    }
  }
  if (from == WH_CM_STR_LATIN1 && !all_latin1) from = WH_CM_STR_UTF8;   /* not from Latin-1 */
  /* the source's code units */
  uint64_t units = from == WH_CM_STR_UTF8 ? n : from == WH_CM_STR_LATIN1 ? nchars : nu;
  if (cx->enc == WH_CM_ENC_UTF8) {
    /* store_utf16_to_utf8 / store_latin1_to_utf8: guess one byte a unit,
     * else realloc to the worst case and shrink */
    uint64_t worst = units * (from == WH_CM_STR_LATIN1 ? 2 : 3);
    if ((rc = realloc_checked(cx, 0, 0, 1, (uint32_t)units, &ptr))) goto out;
    if (n == units) {
      if (n && (rc = mem_at(cx, ptr, (uint32_t)n, &m))) goto out;
      if (n) memcpy(m, src, n);
      *optr = ptr;
      *olen = (uint32_t)n;
      goto out;
    }
    if (worst > MAX_STRING_BYTE_LENGTH) { rc = wh_cm__trap(cx, "string too long"); goto out; }
    if ((rc = realloc_checked(cx, ptr, (uint32_t)units, 1, (uint32_t)worst, &ptr))) goto out;
    if ((rc = mem_at(cx, ptr, (uint32_t)n, &m))) goto out;
    memcpy(m, src, n);
    if (worst > n && (rc = realloc_checked(cx, ptr, (uint32_t)worst, 1, (uint32_t)n, &ptr)))
      goto out;
    *optr = ptr;
    *olen = (uint32_t)n;
    goto out;
  }
  if (cx->enc == WH_CM_ENC_UTF16) {
    if (from == WH_CM_STR_UTF8) {
      /* store_utf8_to_utf16: the worst case, then shrink */
      uint64_t worst = 2 * units;
      if (worst > MAX_STRING_BYTE_LENGTH) { rc = wh_cm__trap(cx, "string too long"); goto out; }
      if ((rc = realloc_checked(cx, 0, 0, 2, (uint32_t)worst, &ptr))) goto out;
      if (nu) {
        if ((rc = mem_at(cx, ptr, (uint32_t)(2 * nu), &m))) goto out;
        put_u16(m, u16, nu);
      }
      if (2 * nu < worst &&
          (rc = realloc_checked(cx, ptr, (uint32_t)worst, 2, (uint32_t)(2 * nu), &ptr)))
        goto out;
    } else {
      /* store_string_copy: the exact size (Latin-1 inflates to UTF-16) */
      if (2 * (uint64_t)nu > MAX_STRING_BYTE_LENGTH) { rc = wh_cm__trap(cx, "string too long"); goto out; }
      if ((rc = realloc_checked(cx, 0, 0, 2, (uint32_t)(2 * nu), &ptr))) goto out;
      if (nu) {
        if ((rc = mem_at(cx, ptr, (uint32_t)(2 * nu), &m))) goto out;
        put_u16(m, u16, nu);
      }
    }
    *optr = ptr;
    *olen = (uint32_t)nu;
    goto out;
  }
  /* latin1+utf16 */
  if (from == WH_CM_STR_LATIN1) {
    /* store_string_copy: Latin-1 stays Latin-1 */
    if ((rc = realloc_checked(cx, 0, 0, 2, (uint32_t)nu, &ptr))) goto out;
    if (nu) {
      if ((rc = mem_at(cx, ptr, (uint32_t)nu, &m))) goto out;
      put_latin1(m, u16, nu);
    }
    *optr = ptr;
    *olen = (uint32_t)nu;
    goto out;
  }
  if (from == WH_CM_STR_UTF16_TAGGED) {
    /* store_probably_utf16_to_latin1_or_utf16: UTF-16 first, deflate to
     * Latin-1 if every code point fits (that realloc asks alignment 1) */
    if (2 * (uint64_t)nu > MAX_STRING_BYTE_LENGTH) { rc = wh_cm__trap(cx, "string too long"); goto out; }
    if ((rc = realloc_checked(cx, 0, 0, 2, (uint32_t)(2 * nu), &ptr))) goto out;
    if (nu) {
      if ((rc = mem_at(cx, ptr, (uint32_t)(2 * nu), &m))) goto out;
      put_u16(m, u16, nu);
    }
    if (!all_latin1) {
      *optr = ptr;
      *olen = (uint32_t)nu | UTF16_TAG;
      goto out;
    }
    if (nu) put_latin1(m, u16, nu);   /* deflated in place; realloc keeps them */
    if ((rc = realloc_checked(cx, ptr, (uint32_t)(2 * nu), 1, (uint32_t)nu, &ptr))) goto out;
    *optr = ptr;
    *olen = (uint32_t)nu;
    goto out;
  }
  /* store_string_to_latin1_or_utf16 (from UTF-8 or UTF-16): guess
   * Latin-1, else inflate to the worst case and shrink */
  if ((rc = realloc_checked(cx, 0, 0, 2, (uint32_t)units, &ptr))) goto out;
  if (all_latin1) {
    if (nu) {
      if ((rc = mem_at(cx, ptr, (uint32_t)nu, &m))) goto out;
      put_latin1(m, u16, nu);
    }
    if (nu < units && (rc = realloc_checked(cx, ptr, (uint32_t)units, 2, (uint32_t)nu, &ptr)))
      goto out;
    *optr = ptr;
    *olen = (uint32_t)nu;
  } else {
    uint64_t worst = 2 * units;
    if (worst > MAX_STRING_BYTE_LENGTH) { rc = wh_cm__trap(cx, "string too long"); goto out; }
    if ((rc = realloc_checked(cx, ptr, (uint32_t)units, 2, (uint32_t)worst, &ptr))) goto out;
    if ((rc = mem_at(cx, ptr, (uint32_t)(2 * nu), &m))) goto out;
    put_u16(m, u16, nu);
    if (worst > 2 * nu &&
        (rc = realloc_checked(cx, ptr, (uint32_t)worst, 2, (uint32_t)(2 * nu), &ptr)))
      goto out;
    *optr = ptr;
    *olen = (uint32_t)nu | UTF16_TAG;
  }
out:
  free(u16);
  return rc;
}

/* ---- handles ------------------------------------------------------------------------ */

void wh_cm__htable_fini(cm_htable_t *t) {
  free(t->v);
  free(t->free);
  memset(t, 0, sizeof *t);
}

int wh_cm__htable_add(cm_cx_t *cx, cm_htable_t *t, const cm_handle_t *h, uint32_t *idx) {
  uint32_t i;
  if (t->n == 0) {
    t->v = calloc(8, sizeof *t->v);
    if (!t->v) return WH_ENOMEM;
    t->cap = 8;
    t->n = 1;
  }
  if (t->nfree) {
    i = t->free[--t->nfree];
  } else {
    i = t->n;
    if (i > MAX_HANDLES) return wh_cm__trap(cx, "too many handles");
    if (t->n == t->cap) {
      cm_handle_t *nv = realloc(t->v, 2 * t->cap * sizeof *nv);
      if (!nv) return WH_ENOMEM;
      t->v = nv;
      t->cap *= 2;
    }
    t->n++;
  }
  t->v[i] = *h;
  t->v[i].used = true;
  *idx = i;
  return 0;
}

cm_handle_t *wh_cm__htable_get(cm_cx_t *cx, cm_htable_t *t, uint32_t idx) {
  if (idx >= t->n || idx == 0 || !t->v[idx].used) {
    wh_cm__trap(cx, "unknown handle index %u", idx);
    return NULL;
  }
  return &t->v[idx];
}

static int htable_remove(cm_cx_t *cx, cm_htable_t *t, uint32_t idx) {
  if (t->nfree == t->capfree) {
    uint32_t nc = t->capfree ? 2 * t->capfree : 8;
    uint32_t *nf = realloc(t->free, nc * sizeof *nf);
    if (!nf) return WH_ENOMEM;
    t->free = nf;
    t->capfree = nc;
  }
  (void)cx;
  memset(&t->v[idx], 0, sizeof t->v[idx]);
  t->free[t->nfree++] = idx;
  return 0;
}

static int wrong_type(cm_cx_t *cx, uint32_t i) {
  return wh_cm__trap(cx, "handle index %u used with the wrong type, expected guest-defined "
                         "resource but found a different guest-defined resource", i);
}

static int lift_own(cm_cx_t *cx, uint32_t i, wh_cm_tid_t res, wh_cm_val *out) {
  cm_htable_t *t = wh_cm__handles(cx->inst);
  cm_handle_t *h = wh_cm__htable_get(cx, t, i);
  if (!h) return WH_ETRAP;
  wh_cm_rtype_t *rt = wh_cm__rtype(cx->inst, res);
  if (rt && h->rt && rt != h->rt) return wrong_type(cx, i);
  if (h->lends) return wh_cm__trap(cx, "cannot remove owned resource while borrowed");
  if (!h->own) return wh_cm__trap(cx, "cannot lift own resource from a borrow");
  memset(out, 0, sizeof *out);
  out->kind = WH_CM_V_OWN;
  out->of.handle.rt = h->rt ? h->rt : rt;
  out->of.handle.rep = h->rep;
  return htable_remove(cx, t, i);
}

static int lift_borrow(cm_cx_t *cx, uint32_t i, wh_cm_tid_t res, wh_cm_val *out) {
  cm_htable_t *t = wh_cm__handles(cx->inst);
  cm_handle_t *h = wh_cm__htable_get(cx, t, i);
  if (!h) return WH_ETRAP;
  wh_cm_rtype_t *rt = wh_cm__rtype(cx->inst, res);
  if (rt && h->rt && rt != h->rt) return wrong_type(cx, i);
  if (h->own && cx->call) {
    cm_call_t *c = cx->call;
    if (c->nlend == c->caplend) {
      uint32_t nc = c->caplend ? 2 * c->caplend : 4;
      cm_rinst_t **ni = realloc(c->lend_inst, nc * sizeof *ni);
      if (!ni) return WH_ENOMEM;
      c->lend_inst = ni;
      uint32_t *nx = realloc(c->lend_idx, nc * sizeof *nx);
      if (!nx) return WH_ENOMEM;
      c->lend_idx = nx;
      c->caplend = nc;
    }
    c->lend_inst[c->nlend] = cx->inst;
    c->lend_idx[c->nlend++] = i;
    h->lends++;
  }
  memset(out, 0, sizeof *out);
  out->kind = WH_CM_V_BORROW;
  out->of.handle.rt = h->rt ? h->rt : rt;
  out->of.handle.rep = h->rep;
  return 0;
}

static int lower_handle(cm_cx_t *cx, const wh_cm_val *v, uint8_t kind, wh_cm_tid_t res,
                        uint32_t *out) {
  if (v->kind != kind) return bad_value(cx, kind == WH_CM_T_OWN ? "own" : "borrow", v);
  wh_cm_rtype_t *rt = v->of.handle.rt ? v->of.handle.rt : wh_cm__rtype(cx->inst, res);
  if (kind == WH_CM_T_BORROW && rt && rt->impl == cx->inst) {
    *out = v->of.handle.rep;
    return 0;
  }
  cm_handle_t h;
  memset(&h, 0, sizeof h);
  h.rt = rt;
  h.rep = v->of.handle.rep;
  h.own = kind == WH_CM_T_OWN;
  if (!h.own) {
    h.scope = cx->call;
    if (cx->call) cx->call->borrows++;
  }
  return wh_cm__htable_add(cx, wh_cm__handles(cx->inst), &h, out);
}

int wh_cm__call_end(cm_cx_t *cx, cm_call_t *call, bool check) {
  if (call->nlend == 0 && !call->lend_inst) goto check;   /* nothing lent: no frees */
  for (uint32_t i = 0; i < call->nlend; i++) {
    cm_htable_t *t = wh_cm__handles(call->lend_inst[i]);
    uint32_t idx = call->lend_idx[i];
    if (idx < t->n && t->v[idx].used && t->v[idx].lends) t->v[idx].lends--;
  }
  free(call->lend_inst);
  free(call->lend_idx);
  call->lend_inst = NULL;
  call->lend_idx = NULL;
  call->nlend = call->caplend = 0;
check:
  if (check && call->borrows)
    return wh_cm__trap(cx, "borrow handles still remain at the end of the call");
  return 0;
}

/* ---- memory load / store ------------------------------------------------------------ */

static int load(cm_cx_t *cx, uint32_t ptr, wh_cm_tid_t tid, wh_cm_val *out);

static uint64_t rd(const uint8_t *p, uint32_t n) {
  uint64_t x = 0;
  for (uint32_t i = 0; i < n; i++) x |= (uint64_t)p[i] << (8 * i);
  return x;
}

static void wr(uint8_t *p, uint64_t x, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) p[i] = (uint8_t)(x >> (8 * i));
}

static int lift_scalar(cm_cx_t *cx, uint8_t kind, uint64_t x, wh_cm_val *out) {
  memset(out, 0, sizeof *out);
  out->kind = kind;
  switch (kind) {
  case WH_CM_T_BOOL: out->of.b = (uint32_t)x != 0; break;
  case WH_CM_T_S8: out->of.s = (int8_t)(uint8_t)x; break;
  case WH_CM_T_U8: out->of.u = (uint8_t)x; break;
  case WH_CM_T_S16: out->of.s = (int16_t)(uint16_t)x; break;
  case WH_CM_T_U16: out->of.u = (uint16_t)x; break;
  case WH_CM_T_S32: out->of.s = (int32_t)(uint32_t)x; break;
  case WH_CM_T_U32: out->of.u = (uint32_t)x; break;
  case WH_CM_T_S64: out->of.s = (int64_t)x; break;
  case WH_CM_T_U64: out->of.u = x; break;
  /* canonicalize_nan32/64: one NaN per float type */
  case WH_CM_T_F32: {
    uint32_t b = (uint32_t)x;
    if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu)) b = 0x7fc00000u;
    memcpy(&out->of.f32, &b, 4);
    break;
  }
  case WH_CM_T_F64:
    if ((x & 0x7ff0000000000000ull) == 0x7ff0000000000000ull && (x & 0x000fffffffffffffull))
      x = 0x7ff8000000000000ull;
    memcpy(&out->of.f64, &x, 8);
    break;
  case WH_CM_T_CHAR: {
    uint32_t c = (uint32_t)x;
    if (c >= 0x110000 || (c >= 0xD800 && c <= 0xDFFF)) {
      out->kind = 0;
      return wh_cm__trap(cx, "invalid `char` bit pattern");
    }
    out->of.ch = c;
    break;
  }
  default: break;
  }
  return 0;
}

static int load_list_from_range(cm_cx_t *cx, uint32_t ptr, uint32_t len, wh_cm_tid_t elem,
                                wh_cm_val *out) {
  uint32_t a = wh_cm__align(cx->c, elem), es = wh_cm__size(cx->c, elem);
  if (ptr != align_to(ptr, a)) return wh_cm__trap(cx, "unaligned pointer");
  uint64_t size;
  mem(cx, &size);
  if ((uint64_t)ptr + (uint64_t)len * es > size) return wh_cm__trap(cx, "list content out-of-bounds");
  int rc = wh_cm_val_agg(out, WH_CM_V_LIST, len);
  for (uint32_t i = 0; rc == 0 && i < len; i++) rc = load(cx, ptr + i * es, elem, &out->of.agg.v[i]);
  if (rc) wh_cm_val_fini(out);
  return rc;
}

static int load(cm_cx_t *cx, uint32_t ptr, wh_cm_tid_t tid, wh_cm_val *out) {
  const wh_cm_type_t *t = ty(cx->c, tid);
  uint32_t sz = wh_cm__size(cx->c, tid);
  uint8_t *p = NULL;
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = mem_at(cx, ptr, sz, &p))) return rc;
  switch (t->kind) {
  case WH_CM_T_STRING: return load_string_from_range(cx, (uint32_t)rd(p, 4), (uint32_t)rd(p + 4, 4), out);
  case WH_CM_T_LIST: return load_list_from_range(cx, (uint32_t)rd(p, 4), (uint32_t)rd(p + 4, 4), t->a, out);
  case WH_CM_T_OWN: return lift_own(cx, (uint32_t)rd(p, 4), t->a, out);
  case WH_CM_T_BORROW: return lift_borrow(cx, (uint32_t)rd(p, 4), t->a, out);
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE: {
    rc = wh_cm_val_agg(out, (wh_cm_vkind_t)t->kind, t->n);
    uint32_t off = 0;
    for (uint32_t i = 0; rc == 0 && i < t->n; i++) {
      off = align_to(off, wh_cm__align(cx->c, t->f[i].type));
      rc = load(cx, ptr + off, t->f[i].type, &out->of.agg.v[i]);
      off += wh_cm__size(cx->c, t->f[i].type);
    }
    if (rc) wh_cm_val_fini(out);
    return rc;
  }
  case WH_CM_T_FLAGS: {
    if ((rc = wh_cm_val_flags(out, t->n))) return rc;
    if (t->n <= 16) {
      uint32_t x = (uint32_t)rd(p, sz);
      if (t->n < 32) x &= (1u << t->n) - 1;
      if (out->of.flags.nwords) out->of.flags.bits[0] = x;
    } else {
      for (uint32_t w = 0; w < out->of.flags.nwords; w++) out->of.flags.bits[w] = (uint32_t)rd(p + 4 * w, 4);
      if (t->n % 32) out->of.flags.bits[out->of.flags.nwords - 1] &= (1u << (t->n % 32)) - 1;
    }
    return 0;
  }
  default:
    if (is_variantish(t->kind)) {
      uint32_t n = ncases(t);
      uint32_t d = (uint32_t)rd(p, disc_size(n));
      if (d >= n) return wh_cm__trap(cx, "invalid variant discriminant");
      wh_cm_tid_t ct = case_type(t, d);
      if (t->kind == WH_CM_T_ENUM) { *out = wh_cm_val_enum(d); return 0; }
      wh_cm_val pl, *pp = NULL;
      if (ct) {
        if ((rc = load(cx, ptr + payload_offset(cx->c, t), ct, &pl))) return rc;
        pp = &pl;
      }
      return wh_cm_val_case(out, (wh_cm_vkind_t)t->kind, d, pp);
    }
    return lift_scalar(cx, t->kind, rd(p, sz), out);
  }
}

static bool scalar_kind_ok(uint8_t tk, const wh_cm_val *v) { return v->kind == tk; }

static bool int_fits(uint8_t k, const wh_cm_val *v) {
  switch (k) {
  case WH_CM_T_S8: return v->of.s >= INT8_MIN && v->of.s <= INT8_MAX;
  case WH_CM_T_S16: return v->of.s >= INT16_MIN && v->of.s <= INT16_MAX;
  case WH_CM_T_S32: return v->of.s >= INT32_MIN && v->of.s <= INT32_MAX;
  case WH_CM_T_U8: return v->of.u <= UINT8_MAX;
  case WH_CM_T_U16: return v->of.u <= UINT16_MAX;
  case WH_CM_T_U32: return v->of.u <= UINT32_MAX;
  default: return true;
  }
}

/* A scalar as raw bits (zero-extended). */
static int scalar_bits(cm_cx_t *cx, uint8_t k, const wh_cm_val *v, uint64_t *out) {
  if (!scalar_kind_ok(k, v)) return bad_value(cx, wh_cm_vkind_name((wh_cm_vkind_t)k), v);
  if (!int_fits(k, v)) return bad_value(cx, wh_cm_vkind_name((wh_cm_vkind_t)k), v);
  switch (k) {
  case WH_CM_T_BOOL: *out = v->of.b ? 1 : 0; break;
  /* lower_flat_signed(v, 32): sign-extended to the i32 (stores write
   * only the low bytes) */
  case WH_CM_T_S8: case WH_CM_T_S16:
  case WH_CM_T_S32: *out = (uint32_t)(int32_t)v->of.s; break;
  case WH_CM_T_S64: *out = (uint64_t)v->of.s; break;
  case WH_CM_T_U8: case WH_CM_T_U16: case WH_CM_T_U32: case WH_CM_T_U64: *out = v->of.u; break;
  case WH_CM_T_F32: { uint32_t b; memcpy(&b, &v->of.f32, 4); *out = b; break; }
  case WH_CM_T_F64: memcpy(out, &v->of.f64, 8); break;
  case WH_CM_T_CHAR:
    if (v->of.ch >= 0x110000 || (v->of.ch >= 0xD800 && v->of.ch <= 0xDFFF))
      return bad_value(cx, "char (a Unicode scalar value)", v);
    *out = v->of.ch;
    break;
  default: return bad_value(cx, "a value", v);
  }
  return 0;
}

static int store(cm_cx_t *cx, const wh_cm_val *v, wh_cm_tid_t tid, uint32_t ptr);

static int store_list(cm_cx_t *cx, const wh_cm_val *v, wh_cm_tid_t elem, uint32_t *optr,
                      uint32_t *olen) {
  uint32_t a = wh_cm__align(cx->c, elem), es = wh_cm__size(cx->c, elem);
  uint64_t bytes = (uint64_t)v->of.agg.n * es;
  if (bytes >= (1ull << 32)) return wh_cm__trap(cx, "list too long");
  uint32_t ptr;
  int rc = realloc_checked(cx, 0, 0, a, (uint32_t)bytes, &ptr);
  if (rc) return rc;
  for (uint32_t i = 0; i < v->of.agg.n; i++)
    if ((rc = store(cx, &v->of.agg.v[i], elem, ptr + i * es))) return rc;
  *optr = ptr;
  *olen = v->of.agg.n;
  return 0;
}

static int store(cm_cx_t *cx, const wh_cm_val *v, wh_cm_tid_t tid, uint32_t ptr) {
  const wh_cm_type_t *t = ty(cx->c, tid);
  uint32_t sz = wh_cm__size(cx->c, tid);
  uint8_t *p = NULL;
  int rc;
  uint32_t a, b;
  switch (t->kind) {
  case WH_CM_T_STRING:
    if (v->kind != WH_CM_V_STRING) return bad_value(cx, "string", v);
    if ((rc = store_string(cx, v, &a, &b))) return rc;
    if ((rc = mem_at(cx, ptr, 8, &p))) return rc;
    wr(p, a, 4); wr(p + 4, b, 4);
    return 0;
  case WH_CM_T_LIST:
    if (v->kind != WH_CM_V_LIST) return bad_value(cx, "list", v);
    if ((rc = store_list(cx, v, t->a, &a, &b))) return rc;
    if ((rc = mem_at(cx, ptr, 8, &p))) return rc;
    wr(p, a, 4); wr(p + 4, b, 4);
    return 0;
  case WH_CM_T_OWN: case WH_CM_T_BORROW:
    if ((rc = lower_handle(cx, v, t->kind, t->a, &a))) return rc;
    if ((rc = mem_at(cx, ptr, 4, &p))) return rc;
    wr(p, a, 4);
    return 0;
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE: {
    if (v->kind != t->kind || v->of.agg.n != t->n)
      return bad_value(cx, t->kind == WH_CM_T_RECORD ? "record" : "tuple", v);
    uint32_t off = 0;
    for (uint32_t i = 0; i < t->n; i++) {
      off = align_to(off, wh_cm__align(cx->c, t->f[i].type));
      if ((rc = store(cx, &v->of.agg.v[i], t->f[i].type, ptr + off))) return rc;
      off += wh_cm__size(cx->c, t->f[i].type);
    }
    return 0;
  }
  case WH_CM_T_FLAGS: {
    if (v->kind != WH_CM_V_FLAGS) return bad_value(cx, "flags", v);
    if ((rc = mem_at(cx, ptr, sz, &p))) return rc;
    if (t->n <= 16) wr(p, v->of.flags.nwords ? v->of.flags.bits[0] : 0, sz);
    else
      for (uint32_t w = 0; w < (t->n + 31) / 32; w++)
        wr(p + 4 * w, w < v->of.flags.nwords ? v->of.flags.bits[w] : 0, 4);
    return 0;
  }
  default:
    if (is_variantish(t->kind)) {
      uint32_t n = ncases(t);
      if (v->kind != t->kind || v->of.var.idx >= n)
        return bad_value(cx, wh_cm_vkind_name((wh_cm_vkind_t)t->kind), v);
      wh_cm_tid_t ct = case_type(t, v->of.var.idx);
      if ((ct != 0) != (v->of.var.payload != NULL) && t->kind != WH_CM_T_ENUM)
        return bad_value(cx, ct ? "a case with a payload" : "a case without payload", v);
      if ((rc = mem_at(cx, ptr, disc_size(n), &p))) return rc;
      wr(p, v->of.var.idx, disc_size(n));
      if (ct) return store(cx, v->of.var.payload, ct, ptr + payload_offset(cx->c, t));
      return 0;
    }
    uint64_t bits;
    if ((rc = scalar_bits(cx, t->kind, v, &bits))) return rc;
    if ((rc = mem_at(cx, ptr, sz, &p))) return rc;
    wr(p, bits, sz);
    return 0;
  }
}

/* ---- flat lift / lower ------------------------------------------------------------------ */

typedef struct flat_in { const uint64_t *v; uint32_t n, i; } flat_in_t;

static uint64_t next_slot(flat_in_t *it) { return it->i < it->n ? it->v[it->i++] : 0; }

static int lift_flat(cm_cx_t *cx, flat_in_t *it, wh_cm_tid_t tid, wh_cm_val *out) {
  const wh_cm_type_t *t = ty(cx->c, tid);
  int rc;
  memset(out, 0, sizeof *out);
  switch (t->kind) {
  case WH_CM_T_STRING: {
    uint32_t p = (uint32_t)next_slot(it), l = (uint32_t)next_slot(it);
    return load_string_from_range(cx, p, l, out);
  }
  case WH_CM_T_LIST: {
    uint32_t p = (uint32_t)next_slot(it), l = (uint32_t)next_slot(it);
    return load_list_from_range(cx, p, l, t->a, out);
  }
  case WH_CM_T_OWN: return lift_own(cx, (uint32_t)next_slot(it), t->a, out);
  case WH_CM_T_BORROW: return lift_borrow(cx, (uint32_t)next_slot(it), t->a, out);
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE:
    rc = wh_cm_val_agg(out, (wh_cm_vkind_t)t->kind, t->n);
    for (uint32_t i = 0; rc == 0 && i < t->n; i++) rc = lift_flat(cx, it, t->f[i].type, &out->of.agg.v[i]);
    if (rc) wh_cm_val_fini(out);
    return rc;
  case WH_CM_T_FLAGS:
    if ((rc = wh_cm_val_flags(out, t->n))) return rc;
    for (uint32_t w = 0; w < out->of.flags.nwords; w++) out->of.flags.bits[w] = (uint32_t)next_slot(it);
    if (t->n % 32 && out->of.flags.nwords)
      out->of.flags.bits[out->of.flags.nwords - 1] &= (1u << (t->n % 32)) - 1;
    return 0;
  default:
    if (is_variantish(t->kind)) {
      uint32_t n = ncases(t);
      uint32_t start = it->i;
      uint32_t total = flat_count(cx->c, tid);
      uint32_t d = (uint32_t)next_slot(it);
      if (d >= n) return wh_cm__trap(cx, "invalid variant discriminant");
      if (t->kind == WH_CM_T_ENUM) { *out = wh_cm_val_enum(d); return 0; }
      wh_cm_tid_t ct = case_type(t, d);
      wh_cm_val pl, *pp = NULL;
      if (ct) {
        if ((rc = lift_flat(cx, it, ct, &pl))) return rc;
        pp = &pl;
      }
      it->i = start + total;
      return wh_cm_val_case(out, (wh_cm_vkind_t)t->kind, d, pp);
    }
    return lift_scalar(cx, t->kind, next_slot(it), out);
  }
}

typedef struct flat_out { uint64_t *v; uint32_t n, cap; } flat_out_t;

static void put_slot(flat_out_t *o, uint64_t x) {
  if (o->n < o->cap) o->v[o->n] = x;
  o->n++;
}

static int lower_flat(cm_cx_t *cx, flat_out_t *o, const wh_cm_val *v, wh_cm_tid_t tid) {
  const wh_cm_type_t *t = ty(cx->c, tid);
  int rc;
  uint32_t a, b;
  switch (t->kind) {
  case WH_CM_T_STRING:
    if (v->kind != WH_CM_V_STRING) return bad_value(cx, "string", v);
    if ((rc = store_string(cx, v, &a, &b))) return rc;
    put_slot(o, a); put_slot(o, b);
    return 0;
  case WH_CM_T_LIST:
    if (v->kind != WH_CM_V_LIST) return bad_value(cx, "list", v);
    if ((rc = store_list(cx, v, t->a, &a, &b))) return rc;
    put_slot(o, a); put_slot(o, b);
    return 0;
  case WH_CM_T_OWN: case WH_CM_T_BORROW:
    if ((rc = lower_handle(cx, v, t->kind, t->a, &a))) return rc;
    put_slot(o, a);
    return 0;
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE:
    if (v->kind != t->kind || v->of.agg.n != t->n)
      return bad_value(cx, t->kind == WH_CM_T_RECORD ? "record" : "tuple", v);
    for (uint32_t i = 0; i < t->n; i++)
      if ((rc = lower_flat(cx, o, &v->of.agg.v[i], t->f[i].type))) return rc;
    return 0;
  case WH_CM_T_FLAGS:
    if (v->kind != WH_CM_V_FLAGS) return bad_value(cx, "flags", v);
    for (uint32_t w = 0; w < (t->n + 31) / 32; w++)
      put_slot(o, w < v->of.flags.nwords ? v->of.flags.bits[w] : 0);
    return 0;
  default:
    if (is_variantish(t->kind)) {
      uint32_t n = ncases(t);
      if (v->kind != t->kind || v->of.var.idx >= n)
        return bad_value(cx, wh_cm_vkind_name((wh_cm_vkind_t)t->kind), v);
      wh_cm_tid_t ct = case_type(t, v->of.var.idx);
      if ((ct != 0) != (v->of.var.payload != NULL) && t->kind != WH_CM_T_ENUM)
        return bad_value(cx, ct ? "a case with a payload" : "a case without payload", v);
      uint32_t start = o->n, total = flat_count(cx->c, tid);
      put_slot(o, v->of.var.idx);
      if (ct && (rc = lower_flat(cx, o, v->of.var.payload, ct))) return rc;
      while (o->n < start + total) put_slot(o, 0);
      return 0;
    }
    uint64_t bits;
    if ((rc = scalar_bits(cx, t->kind, v, &bits))) return rc;
    put_slot(o, bits);
    return 0;
  }
}

void wh_cm__tuple_shape(const wh_cm_component_t *c, const wh_cm_tid_t *types, uint32_t n,
                        uint32_t *align, uint32_t *size) {
  uint32_t a = 1, s = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint32_t fa = wh_cm__align(c, types[i]);
    if (fa > a) a = fa;
    s = align_to(s, fa) + wh_cm__size(c, types[i]);
  }
  *align = a;
  *size = align_to(s, a);
}

static uint32_t flat_total(const wh_cm_component_t *c, const wh_cm_tid_t *types, uint32_t n,
                           uint32_t max) {
  uint32_t k = 0;
  for (uint32_t i = 0; i < n && k <= max; i++) k += flat_count(c, types[i]);
  return k;
}

uint32_t wh_cm__flat_total(const wh_cm_component_t *c, const wh_cm_tid_t *types, uint32_t n,
                           uint32_t max) {
  return flat_total(c, types, n, max);
}

int wh_cm__lift_values(cm_cx_t *cx, const wh_cm_tid_t *types, uint32_t ntypes,
                       uint32_t max_flat, const uint64_t *flat, uint32_t nflat,
                       wh_cm_val *vals) {
  return wh_cm__lift_values_k(cx, types, ntypes, max_flat,
                              flat_total(cx->c, types, ntypes, max_flat), flat, nflat, vals);
}

int wh_cm__lift_values_k(cm_cx_t *cx, const wh_cm_tid_t *types, uint32_t ntypes,
                         uint32_t max_flat, uint32_t total, const uint64_t *flat,
                         uint32_t nflat, wh_cm_val *vals) {
  int rc = 0;
  uint32_t i = 0;
  for (uint32_t k = 0; k < ntypes; k++) memset(&vals[k], 0, sizeof vals[k]);
  if (total > max_flat) {
    uint32_t ptr = nflat ? (uint32_t)flat[0] : 0, a, s;
    wh_cm__tuple_shape(cx->c, types, ntypes, &a, &s);
    if (ptr != align_to(ptr, a)) return wh_cm__trap(cx, "unaligned pointer");
    uint64_t size;
    mem(cx, &size);
    if ((uint64_t)ptr + s > size) return wh_cm__trap(cx, "pointer out of bounds of memory");
    uint32_t off = 0;
    for (i = 0; i < ntypes && rc == 0; i++) {
      off = align_to(off, wh_cm__align(cx->c, types[i]));
      rc = load(cx, ptr + off, types[i], &vals[i]);
      off += wh_cm__size(cx->c, types[i]);
    }
  } else {
    flat_in_t it = {flat, nflat, 0};
    for (i = 0; i < ntypes && rc == 0; i++) rc = lift_flat(cx, &it, types[i], &vals[i]);
  }
  if (rc)
    for (uint32_t k = 0; k < ntypes; k++) wh_cm_val_fini(&vals[k]);
  return rc;
}

int wh_cm__lower_values(cm_cx_t *cx, const wh_cm_tid_t *types, uint32_t ntypes,
                        uint32_t max_flat, const wh_cm_val *vals, uint64_t *flat,
                        uint32_t *nflat, const uint64_t *retptr) {
  return wh_cm__lower_values_k(cx, types, ntypes, max_flat,
                               flat_total(cx->c, types, ntypes, max_flat), vals, flat, nflat,
                               retptr);
}

int wh_cm__lower_values_k(cm_cx_t *cx, const wh_cm_tid_t *types, uint32_t ntypes,
                          uint32_t max_flat, uint32_t total, const wh_cm_val *vals,
                          uint64_t *flat, uint32_t *nflat, const uint64_t *retptr) {
  int rc;
  if (total > max_flat) {
    uint32_t a, s, ptr;
    wh_cm__tuple_shape(cx->c, types, ntypes, &a, &s);
    if (retptr) {
      ptr = (uint32_t)*retptr;
      if (ptr != align_to(ptr, a)) return wh_cm__trap(cx, "unaligned pointer");
      uint64_t size;
      mem(cx, &size);
      if ((uint64_t)ptr + s > size) return wh_cm__trap(cx, "pointer out of bounds of memory");
      *nflat = 0;
    } else {
      if ((rc = realloc_checked(cx, 0, 0, a, s, &ptr))) return rc;
      flat[0] = ptr;
      *nflat = 1;
    }
    uint32_t off = 0;
    for (uint32_t i = 0; i < ntypes; i++) {
      off = align_to(off, wh_cm__align(cx->c, types[i]));
      if ((rc = store(cx, &vals[i], types[i], ptr + off))) return rc;
      off += wh_cm__size(cx->c, types[i]);
    }
    return 0;
  }
  flat_out_t o = {flat, 0, max_flat};
  for (uint32_t i = 0; i < ntypes; i++)
    if ((rc = lower_flat(cx, &o, &vals[i], types[i]))) return rc;
  *nflat = o.n;
  return 0;
}

/* ---- for fused adapters (fuse.c) ---------------------------------------------------- */

void wh_cm__case_shape(const wh_cm_component_t *c, wh_cm_tid_t tid, uint32_t *ncase,
                       uint32_t *dsize, uint32_t *payload) {
  const wh_cm_type_t *t = ty(c, tid);
  *ncase = ncases(t);
  *dsize = disc_size(*ncase);
  *payload = payload_offset(c, t);
}

wh_cm_tid_t wh_cm__case_type(const wh_cm_component_t *c, wh_cm_tid_t tid, uint32_t i) {
  return case_type(ty(c, tid), i);
}

int wh_cm__realloc(cm_cx_t *cx, uint32_t old, uint32_t old_size, uint32_t align,
                   uint32_t new_size, uint32_t *out) {
  return realloc_checked(cx, old, old_size, align, new_size, out);
}

int wh_cm__lift_handle(cm_cx_t *cx, uint8_t kind, uint32_t idx, wh_cm_tid_t res,
                       wh_cm_val *out) {
  return kind == WH_CM_T_OWN ? lift_own(cx, idx, res, out) : lift_borrow(cx, idx, res, out);
}

int wh_cm__lower_handle(cm_cx_t *cx, const wh_cm_val *v, uint8_t kind, wh_cm_tid_t res,
                        uint32_t *out) {
  return lower_handle(cx, v, kind, res, out);
}

int wh_cm__utf8_check(cm_cx_t *cx, const uint8_t *s, size_t n) {
  size_t bad;
  bool inc;
  if (utf8_valid(s, n, &bad, &inc)) return 0;
  if (inc) return wh_cm__trap(cx, "incomplete utf-8 byte sequence from index %zu", bad);
  return wh_cm__trap(cx, "invalid utf-8 sequence from index %zu", bad);
}
