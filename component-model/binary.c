/*
 * binary.c - component binary -> wh_cm_component_t.
 *
 * The decoder reads one definition at a time and hands it, in binary
 * order, to the validator (validate.c), which checks it against the index
 * spaces built so far and appends to them -- the component model defines
 * validation incrementally, so one pass does both.
 *
 *   component ::= preamble section*
 *   preamble  ::= 00 61 73 6d | 0d 00 | 01 00      (magic, version, layer)
 *   section   ::= id:u8 size:u32 body[size]
 *
 *   id  body                                     handled by
 *   0   custom: name bytes                       skipped
 *   1   core module (a whole core binary)        wh_module_new (engine), or
 *                                                the cache's copy (cached.c)
 *   2   vec(core:instance)                       wh_cm__v_core_instance
 *   3   vec(core:type)  (functype, moduletype)   wh_cm__v_core_functype/mt_*
 *   4   component (recursive, own preamble)      push / decode / pop
 *   5   vec(instance)                            wh_cm__v_instance
 *   6   vec(alias)                               wh_cm__v_alias
 *   7   vec(type)                                wh_cm__v_type / push+pop
 *   8   vec(canon)                               wh_cm__v_canon
 *   9   start           (values: rejected, WH_EUNSUPPORTED)
 *   10  vec(import)                              wh_cm__v_import
 *   11  vec(export)                              wh_cm__v_export
 *   12  vec(value)      (rejected, WH_EUNSUPPORTED)
 *
 * Sections may repeat and come in any order.  Every vector count is
 * checked against the bytes left before anything is allocated (each
 * element takes at least one byte).  Names are copied into the arena with
 * a NUL.  Async, GC and value encodings are recognised and rejected with
 * WH_EUNSUPPORTED so the message names the feature.
 *
 * This file also owns the component object (new/free, the arena) and the
 * public accessors of wh_cm.h.
 */
#include <stdlib.h>
#include <string.h>

#include "cm_int.h"
#include "reader.h"

/* ---- arena ---------------------------------------------------------------- */

struct wh_cm_chunk {
  wh_cm_chunk_t *next;
  size_t used, cap;
  max_align_t data[];
};

#define WH_CM_CHUNK 65536u
#define WH_CM_ARENA_MAX ((size_t)1 << 31)

void *wh_cm__alloc(wh_cm_arena_t *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  wh_cm_chunk_t *ch = a->head;
  if (a->total + n > WH_CM_ARENA_MAX) return NULL;
  if (!ch || ch->cap - ch->used < n) {
    size_t cap = n > WH_CM_CHUNK / 2 ? n : WH_CM_CHUNK;
    ch = malloc(sizeof *ch + cap);
    if (!ch) return NULL;
    ch->used = 0;
    ch->cap = cap;
    ch->next = a->head;
    a->head = ch;
  }
  void *p = (char *)ch->data + ch->used;
  ch->used += n;
  a->total += n;
  memset(p, 0, n);
  return p;
}

void wh_cm__arena_fini(wh_cm_arena_t *a) {
  wh_cm_chunk_t *ch = a->head;
  while (ch) {
    wh_cm_chunk_t *next = ch->next;
    free(ch);
    ch = next;
  }
  a->head = NULL;
  a->total = 0;
}

bool wh_cm__grow(wh_cm_arena_t *a, void **v, uint32_t n, uint32_t *cap,
                 size_t size) {
  uint32_t ncap = *cap ? *cap * 2 : 4;
  if (ncap < *cap || (uint64_t)ncap * size > WH_CM_ARENA_MAX) return false;
  void *nv = wh_cm__alloc(a, (size_t)ncap * size);
  if (!nv) return false;
  if (n) memcpy(nv, *v, (size_t)n * size);
  *v = nv;
  *cap = ncap;
  return true;
}

/* ---- small readers ------------------------------------------------------- */

typedef struct dec {
  wh_cm_component_t *c;
  wh_cm_v_t *v;
  wh_diag_t *diag;
} dec_t;

#define OFF(r) wh_rd_off(r)

static int rd_err(wh_reader_t *r) {
  if (r->diag && r->diag->code) return r->diag->code;
  return WH_EMALFORMED;
}

/* A vector count: at most the bytes left (each element >= 1 byte). */
static uint32_t rd_count(wh_reader_t *r, const char *what) {
  uint32_t n = wh_rd_u32(r);
  if (r->failed) return 0;
  if ((uint64_t)n > (uint64_t)(r->end - r->p)) {
    wh_rd_fail(r, WH_EMALFORMED, "%s count %u is larger than the section", what, n);
    return 0;
  }
  return n;
}

/* name ::= len:u32 utf8 bytes; copied into the arena with a NUL. */
static const char *rd_name(dec_t *d, wh_reader_t *r, uint32_t *len) {
  uint32_t n = wh_rd_u32(r);
  if (r->failed) return NULL;
  if (n > WH_CM_MAX_STRING) {
    wh_rd_fail(r, WH_EMALFORMED, "string size %u exceeds maximum byte size", n);
    return NULL;
  }
  const uint8_t *s = wh_rd_bytes(r, n);
  if (!s) return NULL;
  if (!wh_utf8_valid(s, n)) {
    r->p -= n;
    wh_rd_fail(r, WH_EMALFORMED, "malformed UTF-8 encoding");
    return NULL;
  }
  char *out = wh_cm__alloc(&d->c->arena, (size_t)n + 1);
  if (!out) {
    wh_rd_fail(r, WH_ENOMEM, "out of memory");
    return NULL;
  }
  memcpy(out, s, n);
  out[n] = '\0';
  *len = n;
  return out;
}

/* Core value types the component model can name (MVP + reference types;
 * SIMD). GC reference types are gated. */
static uint8_t rd_core_valtype(wh_reader_t *r) {
  uint8_t b = wh_rd_u8(r);
  if (r->failed) return 0;
  switch (b) {
  case 0x7f: case 0x7e: case 0x7d: case 0x7c: case 0x7b: case 0x70: case 0x6f:
    return b;
  case 0x64: case 0x63: case 0x6e: case 0x6d: case 0x6c: case 0x6b: case 0x6a:
  case 0x69: case 0x71: case 0x72: case 0x73: case 0x74:
    r->p--;
    wh_rd_fail(r, WH_EUNSUPPORTED, "GC reference types are not supported");
    return 0;
  default:
    r->p--;
    wh_rd_fail(r, WH_EMALFORMED, "invalid value type 0x%02x", b);
    return 0;
  }
}

static uint8_t rd_core_reftype(wh_reader_t *r) {
  uint8_t b = wh_rd_u8(r);
  if (r->failed) return 0;
  if (b == 0x70 || b == 0x6f) return b;
  r->p--;
  if (b == 0x64 || b == 0x63 || (b >= 0x69 && b <= 0x74))
    wh_rd_fail(r, WH_EUNSUPPORTED, "GC reference types are not supported");
  else
    wh_rd_fail(r, WH_EMALFORMED, "malformed reference type 0x%02x", b);
  return 0;
}

/* core:functype body after 0x60: vec(valtype) vec(valtype). */
static int rd_core_functype(dec_t *d, wh_reader_t *r, uint8_t **vt,
                            uint32_t *np, uint32_t *nr) {
  uint32_t p = rd_count(r, "parameter");
  if (r->failed) return rd_err(r);
  uint8_t *buf = wh_cm__alloc(&d->c->arena, (size_t)p + 1);
  if (!buf) return wh_rd_fail(r, WH_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < p; i++) buf[i] = rd_core_valtype(r);
  uint32_t q = rd_count(r, "result");
  if (r->failed) return rd_err(r);
  uint8_t *all = wh_cm__alloc(&d->c->arena, (size_t)p + q + 1);
  if (!all) return wh_rd_fail(r, WH_ENOMEM, "out of memory");
  memcpy(all, buf, p);
  for (uint32_t i = 0; i < q; i++) all[p + i] = rd_core_valtype(r);
  if (r->failed) return rd_err(r);
  *vt = all;
  *np = p;
  *nr = q;
  return 0;
}

static void rd_limits(wh_reader_t *r, wh_cm_rawcext_t *e, bool mem) {
  uint8_t fl = wh_rd_u8(r);
  if (r->failed) return;
  uint8_t allowed = mem ? 0x0f : 0x05;
  if (fl & ~allowed) {
    r->p--;
    wh_rd_fail(r, WH_EMALFORMED, "invalid limits flags 0x%02x", fl);
    return;
  }
  e->has_max = fl & 1;
  e->shared = (fl & 2) != 0;
  e->is64 = (fl & 4) != 0;
  e->min = e->is64 ? wh_rd_uleb(r, 64) : wh_rd_u32(r);
  if (e->has_max) e->max = e->is64 ? wh_rd_uleb(r, 64) : wh_rd_u32(r);
  e->page_log2 = 16;
  if (fl & 8) {
    uint32_t lg = wh_rd_u32(r);
    if (!r->failed && lg != 0 && lg != 16) {
      wh_rd_fail(r, WH_EUNSUPPORTED, "custom page sizes are not supported");
      return;
    }
    e->page_log2 = (uint8_t)lg;
  }
}

/* core:importdesc / core:externtype. */
static int rd_core_ext(wh_reader_t *r, wh_cm_rawcext_t *e) {
  memset(e, 0, sizeof *e);
  uint8_t k = wh_rd_u8(r);
  if (r->failed) return rd_err(r);
  e->kind = k;
  switch (k) {
  case 0x00:
    e->idx = wh_rd_u32(r);
    break;
  case 0x01:
    e->vt = rd_core_reftype(r);
    rd_limits(r, e, false);
    break;
  case 0x02:
    rd_limits(r, e, true);
    break;
  case 0x03: {
    e->vt = rd_core_valtype(r);
    uint8_t m = wh_rd_u8(r);
    if (!r->failed && m > 1) {
      r->p--;
      wh_rd_fail(r, WH_EMALFORMED, "malformed mutability");
    }
    e->mut = m == 1;
    break;
  }
  case 0x04: {
    uint8_t attr = wh_rd_u8(r);
    if (!r->failed && attr != 0) {
      r->p--;
      wh_rd_fail(r, WH_EMALFORMED, "invalid tag attribute");
    }
    e->idx = wh_rd_u32(r);
    break;
  }
  default:
    r->p--;
    wh_rd_fail(r, WH_EMALFORMED, "invalid external kind 0x%02x", k);
  }
  return r->failed ? rd_err(r) : 0;
}

/* ---- component pieces ----------------------------------------------------- */

/* valtype ::= primitive | typeidx (s33). */
static int rd_valtype(wh_reader_t *r, wh_cm_rawval_t *out) {
  if (r->p >= r->end) return wh_rd_fail(r, WH_EMALFORMED, "unexpected end-of-file");
  uint8_t b = *r->p;
  if (b >= 0x73 && b <= 0x7f) {
    r->p++;
    out->is_idx = false;
    out->v = 0x80u - b;
    return 0;
  }
  if (b == 0x64) {
    return wh_rd_fail(r, WH_EUNSUPPORTED,
                      "async (error-context) is not supported");
  }
  int64_t v = wh_rd_sleb(r, 33);
  if (r->failed) return rd_err(r);
  out->is_idx = true;
  out->v = v < 0 || v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
  return 0;
}

static int rd_optval(wh_reader_t *r, bool *has, wh_cm_rawval_t *out) {
  uint8_t b = wh_rd_u8(r);
  if (r->failed) return rd_err(r);
  if (b == 0) { *has = false; return 0; }
  if (b != 1) {
    r->p--;
    return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for optional component value type", b);
  }
  *has = true;
  return rd_valtype(r, out);
}

static int rd_label(dec_t *d, wh_reader_t *r, const char **s, uint32_t *len) {
  *s = rd_name(d, r, len);
  return r->failed ? rd_err(r) : 0;
}

/* nameattributes ::= 0x00 name | 0x01 name | 0x02 name vec(attribute) */
static int rd_nameattr(dec_t *d, wh_reader_t *r, wh_cm_rawname_t *n) {
  memset(n, 0, sizeof *n);
  uint8_t b = wh_rd_u8(r);
  if (r->failed) return rd_err(r);
  if (b > 2) {
    r->p--;
    return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component name", b);
  }
  n->name = rd_name(d, r, &n->len);
  if (r->failed) return rd_err(r);
  if (b != 2) return 0;
  uint32_t na = rd_count(r, "attribute");
  for (uint32_t i = 0; i < na && !r->failed; i++) {
    long long at = OFF(r);
    uint8_t k = wh_rd_u8(r);
    const char *s;
    uint32_t len = 0;
    if (r->failed) break;
    if (k > 2) {
      r->p--;
      return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for name option", k);
    }
    s = rd_name(d, r, &len);
    if (r->failed) break;
    bool *has = k == 0 ? &n->has_implements : k == 1 ? &n->has_version : &n->has_external;
    if (*has) {
      r->p = r->base + at;
      return wh_rd_fail(r, WH_EMALFORMED, "duplicate '%s' option in name",
                        k == 0 ? "implements" : k == 1 ? "versionsuffix" : "external-id");
    }
    *has = true;
    if (k == 0) { n->implements = s; n->implements_len = len; }
    if (k == 1) { n->version = s; n->version_len = len; }
  }
  return r->failed ? rd_err(r) : 0;
}

/* sort ::= 0x00 core:sort | 0x01..0x05; only core module as a core sort. */
static int rd_sort(wh_reader_t *r, uint8_t *sort) {
  uint8_t b = wh_rd_u8(r);
  if (r->failed) return rd_err(r);
  if (b == 0x00) {
    uint8_t c = wh_rd_u8(r);
    if (r->failed) return rd_err(r);
    if (c != 0x11) {
      r->p--;
      return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component external kind", c);
    }
    *sort = WH_CM_SORT_CORE_MODULE;
    return 0;
  }
  if (b > 0x05) {
    r->p--;
    return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component external kind", b);
  }
  if (b == WH_CM_SORT_VALUE) {
    r->p--;
    return wh_rd_fail(r, WH_EUNSUPPORTED, "component model values are not supported");
  }
  *sort = b;
  return 0;
}

/* externtype */
static int rd_externtype(wh_reader_t *r, wh_cm_rawext_t *e) {
  memset(e, 0, sizeof *e);
  uint8_t b = wh_rd_u8(r);
  if (r->failed) return rd_err(r);
  switch (b) {
  case 0x00: {
    uint8_t c = wh_rd_u8(r);
    if (r->failed) return rd_err(r);
    if (c != 0x11) {
      r->p--;
      return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component external kind", c);
    }
    e->sort = WH_CM_SORT_CORE_MODULE;
    e->idx = wh_rd_u32(r);
    break;
  }
  case 0x01: case 0x04: case 0x05:
    e->sort = b;
    e->idx = wh_rd_u32(r);
    break;
  case 0x02:
    r->p--;
    return wh_rd_fail(r, WH_EUNSUPPORTED, "component model values are not supported");
  case 0x03: {
    e->sort = b;
    uint8_t bound = wh_rd_u8(r);
    if (r->failed) return rd_err(r);
    if (bound == 0x00) e->idx = wh_rd_u32(r);
    else if (bound != 0x01) {
      r->p--;
      return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for type bound", bound);
    }
    e->bound = bound;
    break;
  }
  default:
    r->p--;
    return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component external kind", b);
  }
  return r->failed ? rd_err(r) : 0;
}

static int rd_alias(dec_t *d, wh_reader_t *r) {
  long long off = OFF(r);
  uint8_t b1 = wh_rd_u8(r), b2 = 0;
  if (r->failed) return rd_err(r);
  if (b1 == 0x00) b2 = wh_rd_u8(r);
  uint8_t target = wh_rd_u8(r);
  if (r->failed) return rd_err(r);
  uint8_t sort = 0;
  bool core = false;
  uint32_t a = 0, b = 0, len = 0;
  const char *name = NULL;
  switch (target) {
  case WH_CM_ALIAS_EXPORT:
    if (b1 == 0x00) {
      if (b2 != 0x11) return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component external kind", b2);
      sort = WH_CM_SORT_CORE_MODULE;
    } else if (b1 > 0x05) {
      return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component external kind", b1);
    } else if (b1 == WH_CM_SORT_VALUE) {
      return wh_rd_fail(r, WH_EUNSUPPORTED, "component model values are not supported");
    } else {
      sort = b1;
    }
    a = wh_rd_u32(r);
    name = rd_name(d, r, &len);
    break;
  case WH_CM_ALIAS_CORE_EXPORT:
    if (b1 != 0x00) return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for core instance export kind", b1);
    if (b2 > 0x04) return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for external kind", b2);
    sort = b2;
    core = true;
    a = wh_rd_u32(r);
    name = rd_name(d, r, &len);
    break;
  case WH_CM_ALIAS_OUTER:
    if (b1 == 0x00) {
      if (b2 != 0x10 && b2 != 0x11) return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component outer alias kind", b2);
      sort = b2;
      core = true;
    } else if (b1 == 0x03 || b1 == 0x04) {
      sort = b1;
    } else {
      return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component outer alias kind", b1);
    }
    a = wh_rd_u32(r);
    b = wh_rd_u32(r);
    break;
  default:
    r->p--;
    return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for alias", target);
  }
  if (r->failed) return rd_err(r);
  return wh_cm__v_alias(d->v, target, sort, core, a, b, name, len, off);
}

/* ---- types ------------------------------------------------------------------ */

static int rd_type(dec_t *d, wh_reader_t *r);
static int rd_core_type(dec_t *d, wh_reader_t *r, bool in_module);

static int rd_fields(dec_t *d, wh_reader_t *r, wh_cm_rawtype_t *t, int how) {
  /* how: 0 labelvaltype, 1 case, 2 valtype, 3 label */
  uint32_t n = rd_count(r, "field");
  if (r->failed) return rd_err(r);
  t->n = n;
  t->f = wh_cm__alloc(&d->c->arena, (size_t)n * sizeof *t->f + 1);
  if (!t->f) return wh_rd_fail(r, WH_ENOMEM, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    wh_cm_rawfield_t *f = &t->f[i];
    int rc = 0;
    if (how != 2) rc = rd_label(d, r, &f->name, &f->len);
    if (rc) return rc;
    if (how == 0 || how == 2) {
      f->has_type = true;
      rc = rd_valtype(r, &f->type);
    } else if (how == 1) {
      rc = rd_optval(r, &f->has_type, &f->type);
      if (!rc) {
        uint8_t z = wh_rd_u8(r);
        if (!r->failed && z != 0) {
          r->p--;
          rc = wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for zero byte required", z);
        }
      }
    }
    if (rc) return rc;
    if (r->failed) return rd_err(r);
  }
  return 0;
}

/* defvaltype after its opcode byte `b`. */
static int rd_defvaltype(dec_t *d, wh_reader_t *r, uint8_t b, wh_cm_rawtype_t *t) {
  int rc = 0;
  if (b >= 0x73 && b <= 0x7f) {
    t->kind = 0x80 - b;
    return 0;
  }
  switch (b) {
  case 0x72: t->kind = WH_CM_T_RECORD; return rd_fields(d, r, t, 0);
  case 0x71: t->kind = WH_CM_T_VARIANT; return rd_fields(d, r, t, 1);
  case 0x70:
    t->kind = WH_CM_T_LIST;
    t->has_a = true;
    return rd_valtype(r, &t->a);
  case 0x67:
    r->p--;
    return wh_rd_fail(r, WH_EUNSUPPORTED, "fixed-length lists are not supported");
  case 0x6f: t->kind = WH_CM_T_TUPLE; return rd_fields(d, r, t, 2);
  case 0x6e: t->kind = WH_CM_T_FLAGS; return rd_fields(d, r, t, 3);
  case 0x6d: t->kind = WH_CM_T_ENUM; return rd_fields(d, r, t, 3);
  case 0x6b:
    t->kind = WH_CM_T_OPTION;
    t->has_a = true;
    return rd_valtype(r, &t->a);
  case 0x6a:
    t->kind = WH_CM_T_RESULT;
    rc = rd_optval(r, &t->has_a, &t->a);
    if (!rc) rc = rd_optval(r, &t->has_b, &t->b);
    return rc;
  case 0x69: t->kind = WH_CM_T_OWN; t->idx = wh_rd_u32(r); break;
  case 0x68: t->kind = WH_CM_T_BORROW; t->idx = wh_rd_u32(r); break;
  case 0x66: case 0x65:
    r->p--;
    return wh_rd_fail(r, WH_EUNSUPPORTED, "async (%s) is not supported",
                      b == 0x66 ? "stream" : "future");
  case 0x64:
    r->p--;
    return wh_rd_fail(r, WH_EUNSUPPORTED, "async (error-context) is not supported");
  case 0x63:
    r->p--;
    return wh_rd_fail(r, WH_EUNSUPPORTED, "map types are not supported");
  default:
    r->p--;
    return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component defined type", b);
  }
  return r->failed ? rd_err(r) : 0;
}

/* componentdecl / instancedecl (component: allow_import). */
static int rd_decl(dec_t *d, wh_reader_t *r, bool component) {
  long long off = OFF(r);
  uint8_t b = wh_rd_u8(r);
  int rc;
  if (r->failed) return rd_err(r);
  switch (b) {
  case 0x00: return rd_core_type(d, r, false);
  case 0x01: return rd_type(d, r);
  case 0x02: return rd_alias(d, r);
  case 0x03:
    if (!component) break;
    /* fallthrough */
  case 0x04: {
    wh_cm_rawname_t n;
    wh_cm_rawext_t e;
    rc = rd_nameattr(d, r, &n);
    if (!rc) rc = rd_externtype(r, &e);
    if (rc) return rc;
    if (b == 0x03) return wh_cm__v_import(d->v, &n, &e, off);
    return wh_cm__v_export(d->v, &n, 0, 0, &e, off);
  }
  default:
    break;
  }
  r->p--;
  return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component or instance type declaration", b);
}

/* type ::= deftype */
static int rd_type(dec_t *d, wh_reader_t *r) {
  long long off = OFF(r);
  uint8_t b = wh_rd_u8(r);
  int rc;
  if (r->failed) return rd_err(r);
  if (b == 0x41 || b == 0x42) {
    if (wh_cm__v_depth(d->v) >= WH_CM_MAX_NESTING)
      return wh_rd_fail(r, WH_EINVALID, "type nesting is too deep");
    uint32_t n = rd_count(r, "declaration");
    if (r->failed) return rd_err(r);
    rc = wh_cm__v_push(d->v, b == 0x41 ? WH_CM_SCOPE_CTYPE : WH_CM_SCOPE_ITYPE, off);
    if (rc) return rc;
    for (uint32_t i = 0; i < n; i++) {
      rc = rd_decl(d, r, b == 0x41);
      if (rc) return rc;
    }
    wh_cm_tid_t tid = 0;
    rc = wh_cm__v_pop(d->v, off, &tid, NULL);
    if (rc) return rc;
    return wh_cm__v_type_tid(d->v, tid, off);
  }
  wh_cm_rawtype_t t;
  memset(&t, 0, sizeof t);
  if (b == 0x3f) {
    t.kind = WH_CM_T_RESOURCE;
    t.rep = rd_core_valtype(r);
    uint8_t has = wh_rd_u8(r);
    if (r->failed) return rd_err(r);
    if (has == 1) {
      t.has_dtor = true;
      t.dtor = wh_rd_u32(r);
    } else if (has != 0) {
      r->p--;
      return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for resource destructor", has);
    }
  } else if (b == 0x40 || b == 0x43) {
    t.kind = WH_CM_T_FUNC;
    t.async_ = b == 0x43;
    rc = rd_fields(d, r, &t, 0);
    if (rc) return rc;
    uint8_t rb = wh_rd_u8(r);
    if (r->failed) return rd_err(r);
    if (rb == 0x00) {
      t.has_a = true;
      rc = rd_valtype(r, &t.a);
      if (rc) return rc;
    } else if (rb == 0x01) {
      uint8_t z = wh_rd_u8(r);
      if (!r->failed && z != 0) {
        r->p--;
        return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for number of results", z);
      }
    } else {
      r->p--;
      return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for component function results", rb);
    }
    if (t.async_) {
      r->p = r->base + off;
      return wh_rd_fail(r, WH_EUNSUPPORTED, "async functions are not supported");
    }
  } else {
    rc = rd_defvaltype(d, r, b, &t);
    if (rc) return rc;
  }
  if (r->failed) return rd_err(r);
  return wh_cm__v_type(d->v, &t, off);
}

/* core:type: functype or (outside module types) moduletype. */
static int rd_core_type(dec_t *d, wh_reader_t *r, bool in_module) {
  long long off = OFF(r);
  uint8_t b = wh_rd_u8(r);
  int rc;
  if (r->failed) return rd_err(r);
  if (b == 0x60) {
    uint8_t *vt = NULL;
    uint32_t np = 0, nr = 0;
    rc = rd_core_functype(d, r, &vt, &np, &nr);
    if (rc) return rc;
    if (in_module) return wh_cm__v_mt_functype(d->v, vt, np, nr, off);
    return wh_cm__v_core_functype(d->v, vt, np, nr, off);
  }
  if (b == 0x50 && !in_module) {
    uint32_t n = rd_count(r, "module type declaration");
    if (r->failed) return rd_err(r);
    rc = wh_cm__v_mt_begin(d->v, off);
    for (uint32_t i = 0; i < n && !rc; i++) {
      long long doff = OFF(r);
      uint8_t k = wh_rd_u8(r);
      if (r->failed) return rd_err(r);
      switch (k) {
      case 0x00: {
        uint32_t ml = 0, nl = 0;
        const char *m = rd_name(d, r, &ml);
        const char *nm = m ? rd_name(d, r, &nl) : NULL;
        wh_cm_rawcext_t e;
        if (r->failed) return rd_err(r);
        rc = rd_core_ext(r, &e);
        if (!rc) rc = wh_cm__v_mt_import(d->v, m, ml, nm, nl, &e, doff);
        break;
      }
      case 0x01:
        rc = rd_core_type(d, r, true);
        break;
      case 0x02: {
        uint8_t s = wh_rd_u8(r);
        if (!r->failed && s != 0x10) {
          r->p--;
          return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for outer alias kind", s);
        }
        uint8_t t = wh_rd_u8(r);
        if (!r->failed && t != 0x01) {
          r->p--;
          return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for outer alias target", t);
        }
        uint32_t ct = wh_rd_u32(r), idx = wh_rd_u32(r);
        if (r->failed) return rd_err(r);
        rc = wh_cm__v_mt_alias(d->v, ct, idx, doff);
        break;
      }
      case 0x03: {
        uint32_t nl = 0;
        const char *nm = rd_name(d, r, &nl);
        wh_cm_rawcext_t e;
        if (r->failed) return rd_err(r);
        rc = rd_core_ext(r, &e);
        if (!rc) rc = wh_cm__v_mt_export(d->v, nm, nl, &e, doff);
        break;
      }
      default:
        r->p--;
        return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for type definition", k);
      }
    }
    if (rc) return rc;
    return wh_cm__v_mt_end(d->v, off);
  }
  if (b == 0x5f || b == 0x5e || b == 0x4e || b == 0x4f || b == 0x50 || b == 0x00 ||
      b == 0x5d || b == 0x5c) {
    r->p--;
    return wh_rd_fail(r, WH_EUNSUPPORTED, "GC core types are not supported");
  }
  r->p--;
  return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for core type", b);
}

/* ---- canon ----------------------------------------------------------------- */

static int rd_opts(wh_reader_t *r, wh_cm_rawcanon_t *c) {
  uint32_t n = rd_count(r, "canonical option");
  if (r->failed) return rd_err(r);
  if (n > 16) return wh_rd_fail(r, WH_EMALFORMED, "canonical options count %u out of bounds", n);
  c->nopts = n;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t o = wh_rd_u8(r);
    if (r->failed) return rd_err(r);
    c->opt[i] = o;
    switch (o) {
    case 0x00: case 0x01: case 0x02: break;
    case 0x03: case 0x04: case 0x05: c->optidx[i] = wh_rd_u32(r); break;
    case 0x06: case 0x07:
      r->p--;
      return wh_rd_fail(r, WH_EUNSUPPORTED, "async canonical options are not supported");
    case 0x08: case 0x09:
      r->p--;
      return wh_rd_fail(r, WH_EUNSUPPORTED, "GC canonical options are not supported");
    default:
      r->p--;
      return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for canonical option", o);
    }
  }
  return r->failed ? rd_err(r) : 0;
}

static int rd_canon(dec_t *d, wh_reader_t *r) {
  long long off = OFF(r);
  wh_cm_rawcanon_t c;
  memset(&c, 0, sizeof c);
  uint8_t b = wh_rd_u8(r);
  int rc;
  if (r->failed) return rd_err(r);
  c.op = b;
  switch (b) {
  case 0x00: case 0x01: {
    uint8_t z = wh_rd_u8(r);
    if (r->failed) return rd_err(r);
    if (z != 0x00) {
      r->p--;
      return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for canonical function %s", z,
                        b == 0 ? "lift" : "lower");
    }
    c.func = wh_rd_u32(r);
    rc = rd_opts(r, &c);
    if (rc) return rc;
    if (b == 0x00) c.type = wh_rd_u32(r);
    break;
  }
  case 0x02: case 0x03: case 0x04:
    c.type = wh_rd_u32(r);
    break;
  default:
    if (b >= 0x05 && b <= 0x2d) {
      r->p--;
      if (b == 0x1c || b == 0x1d || b == 0x1e)
        return wh_rd_fail(r, WH_EUNSUPPORTED, "async (error-context) is not supported");
      if ((b >= 0x26 && b <= 0x2d && b != 0x0c))
        return wh_rd_fail(r, WH_EUNSUPPORTED, "threads (thread.* built-ins) are not supported");
      return wh_rd_fail(r, WH_EUNSUPPORTED,
                        "async (stream/future, task.*, waitable-* built-ins) is not supported");
    }
    if (b >= 0x40 && b <= 0x42) {
      r->p--;
      return wh_rd_fail(r, WH_EUNSUPPORTED, "shared-everything threads are not supported");
    }
    r->p--;
    return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for canonical function", b);
  }
  if (r->failed) return rd_err(r);
  return wh_cm__v_canon(d->v, &c, off);
}

/* ---- sections ------------------------------------------------------------- */

static int decode_body(dec_t *d, wh_reader_t *r);

static int rd_preamble(wh_reader_t *r, bool top) {
  static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6d};
  const uint8_t *m = wh_rd_bytes(r, 4);
  if (!m) return wh_rd_fail(r, WH_EMALFORMED, "unexpected end-of-file");
  if (memcmp(m, magic, 4) != 0) {
    r->p -= 4;
    return wh_rd_fail(r, WH_EMALFORMED, "magic header not detected");
  }
  const uint8_t *v = wh_rd_bytes(r, 4);
  if (!v) return wh_rd_fail(r, WH_EMALFORMED, "unexpected end-of-file");
  if (v[2] == 0x00 && v[3] == 0x00) {
    r->p -= 4;
    if (top) return wh_rd_fail(r, WH_ENOTCOMPONENT, "this is a core module, not a component");
    return wh_rd_fail(r, WH_EMALFORMED, "expected a component, found a core module");
  }
  if (v[2] != 0x01 || v[3] != 0x00) {
    r->p -= 4;
    return wh_rd_fail(r, WH_EMALFORMED, "unknown binary layer 0x%02x%02x", v[3], v[2]);
  }
  if (v[0] != 0x0d || v[1] != 0x00) {
    r->p -= 4;
    return wh_rd_fail(r, WH_EMALFORMED, "unknown component version: 0x%02x%02x", v[1], v[0]);
  }
  return 0;
}

static int decode_section(dec_t *d, wh_reader_t *r, uint8_t id) {
  int rc = 0;
  long long off = OFF(r);
  uint32_t n = 0;
  switch (id) {
  case 0: {
    uint32_t len = 0;
    rd_name(d, r, &len);
    if (r->failed) return rd_err(r);
    r->p = r->end;
    return 0;
  }
  case 1:
    rc = wh_cm__v_core_module(d->v, r->p, (size_t)(r->end - r->p), off);
    r->p = r->end;
    return rc;
  case 2:
    n = rd_count(r, "core instance");
    for (uint32_t i = 0; i < n && !rc && !r->failed; i++) {
      long long ioff = OFF(r);
      uint8_t form = wh_rd_u8(r);
      uint32_t of = 0, na;
      wh_cm_arg_t *args;
      if (r->failed) break;
      if (form > 1) {
        r->p--;
        return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for core instance", form);
      }
      if (form == 0) of = wh_rd_u32(r);
      na = rd_count(r, "instantiation argument");
      if (r->failed) break;
      args = wh_cm__alloc(&d->c->arena, (size_t)na * sizeof *args + 1);
      if (!args) return wh_rd_fail(r, WH_ENOMEM, "out of memory");
      for (uint32_t k = 0; k < na && !r->failed; k++) {
        args[k].name = rd_name(d, r, &args[k].len);
        uint8_t s = wh_rd_u8(r);
        if (r->failed) break;
        if (form == 0 && s != 0x12) {
          r->p--;
          return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for instantiation arg kind", s);
        }
        if (form == 1 && s > 0x04) {
          r->p--;
          return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for external kind", s);
        }
        args[k].sort = s;
        args[k].idx = wh_rd_u32(r);
      }
      if (r->failed) break;
      rc = wh_cm__v_core_instance(d->v, form, of, na, args, ioff);
    }
    break;
  case 3:
    n = rd_count(r, "core type");
    for (uint32_t i = 0; i < n && !rc && !r->failed; i++) rc = rd_core_type(d, r, false);
    break;
  case 4: {
    if (wh_cm__v_depth(d->v) >= WH_CM_MAX_NESTING)
      return wh_rd_fail(r, WH_EINVALID, "components are nested too deeply");
    rc = rd_preamble(r, false);
    if (rc) return rc;
    rc = wh_cm__v_push(d->v, WH_CM_SCOPE_COMPONENT, off);
    if (rc) return rc;
    rc = decode_body(d, r);
    if (rc) return rc;
    wh_cm_tid_t tid = 0;
    wh_cm_comp_t *comp = NULL;
    rc = wh_cm__v_pop(d->v, OFF(r), &tid, &comp);
    if (rc) return rc;
    return wh_cm__v_component(d->v, tid, comp, off);
  }
  case 5:
    n = rd_count(r, "instance");
    for (uint32_t i = 0; i < n && !rc && !r->failed; i++) {
      long long ioff = OFF(r);
      uint8_t form = wh_rd_u8(r);
      uint32_t of = 0, na;
      wh_cm_arg_t *args;
      wh_cm_rawname_t *names = NULL;
      if (r->failed) break;
      if (form > 1) {
        r->p--;
        return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for instance", form);
      }
      if (form == 0) of = wh_rd_u32(r);
      na = rd_count(r, "instantiation argument");
      if (r->failed) break;
      args = wh_cm__alloc(&d->c->arena, (size_t)na * sizeof *args + 1);
      if (form == 1) names = wh_cm__alloc(&d->c->arena, (size_t)na * sizeof *names + 1);
      if (!args || (form == 1 && !names)) return wh_rd_fail(r, WH_ENOMEM, "out of memory");
      for (uint32_t k = 0; k < na && !r->failed; k++) {
        if (form == 0) {
          args[k].name = rd_name(d, r, &args[k].len);
        } else {
          rc = rd_nameattr(d, r, &names[k]);
          if (rc) return rc;
          args[k].name = names[k].name;
          args[k].len = names[k].len;
        }
        if (r->failed) break;
        rc = rd_sort(r, &args[k].sort);
        if (rc) return rc;
        args[k].idx = wh_rd_u32(r);
      }
      if (r->failed) break;
      rc = wh_cm__v_instance(d->v, form, of, na, args, names, ioff);
    }
    break;
  case 6:
    n = rd_count(r, "alias");
    for (uint32_t i = 0; i < n && !rc && !r->failed; i++) rc = rd_alias(d, r);
    break;
  case 7:
    n = rd_count(r, "type");
    for (uint32_t i = 0; i < n && !rc && !r->failed; i++) rc = rd_type(d, r);
    break;
  case 8:
    n = rd_count(r, "canonical function");
    for (uint32_t i = 0; i < n && !rc && !r->failed; i++) rc = rd_canon(d, r);
    break;
  case 9:
    return wh_rd_fail(r, WH_EUNSUPPORTED, "component start functions (values) are not supported");
  case 10:
    n = rd_count(r, "import");
    for (uint32_t i = 0; i < n && !rc && !r->failed; i++) {
      long long ioff = OFF(r);
      wh_cm_rawname_t nm;
      wh_cm_rawext_t e;
      rc = rd_nameattr(d, r, &nm);
      if (!rc) rc = rd_externtype(r, &e);
      if (!rc) rc = wh_cm__v_import(d->v, &nm, &e, ioff);
    }
    break;
  case 11:
    n = rd_count(r, "export");
    for (uint32_t i = 0; i < n && !rc && !r->failed; i++) {
      long long ioff = OFF(r);
      wh_cm_rawname_t nm;
      wh_cm_rawext_t e;
      uint8_t sort = 0;
      uint32_t idx = 0;
      bool has_ty = false;
      rc = rd_nameattr(d, r, &nm);
      if (!rc) rc = rd_sort(r, &sort);
      if (rc) break;
      idx = wh_rd_u32(r);
      uint8_t t = wh_rd_u8(r);
      if (r->failed) break;
      if (t == 1) {
        has_ty = true;
        rc = rd_externtype(r, &e);
        if (rc) break;
      } else if (t != 0) {
        r->p--;
        return wh_rd_fail(r, WH_EMALFORMED, "invalid leading byte (0x%x) for optional component type", t);
      }
      rc = wh_cm__v_export(d->v, &nm, sort, idx, has_ty ? &e : NULL, ioff);
    }
    break;
  case 12:
    return wh_rd_fail(r, WH_EUNSUPPORTED, "component model values are not supported");
  default:
    r->p = r->base + off - 1;
    return wh_rd_fail(r, WH_EMALFORMED, "malformed section id: %u", id);
  }
  if (rc) return rc;
  if (r->failed) return rd_err(r);
  if (r->p != r->end)
    return wh_rd_fail(r, WH_EMALFORMED, "section size mismatch: unexpected data at the end of the section");
  return 0;
}

static int decode_body(dec_t *d, wh_reader_t *r) {
  while (r->p < r->end) {
    uint8_t id = wh_rd_u8(r);
    uint32_t size = wh_rd_u32(r);
    if (r->failed) return rd_err(r);
    if (size > (uint64_t)(r->end - r->p)) {
      return wh_rd_fail(r, WH_EMALFORMED, "unexpected end-of-file: section size %u out of bounds", size);
    }
    wh_reader_t sub = *r;
    sub.end = r->p + size;
    int rc = decode_section(d, &sub, id);
    if (rc) return rc;
    if (sub.failed) return rd_err(&sub);
    r->p = sub.end;
  }
  return 0;
}

int wh_cm__decode(wh_cm_component_t *c, wh_cm_v_t *v, wh_diag_t *diag) {
  dec_t d = {c, v, diag};
  wh_reader_t r = {c->bytes, c->bytes, c->bytes + c->len, diag, false};
  int rc = rd_preamble(&r, true);
  if (rc) return rc;
  rc = decode_body(&d, &r);
  if (rc) return rc;
  return r.failed ? rd_err(&r) : 0;
}

/* ---- the component object ------------------------------------------------- */

wh_cm_component_t *wh_cm_component_new(wh_engine_t *e, const uint8_t *bytes,
                                       size_t len, wh_diag_t *diag) {
  return wh_cm__component_build(e, bytes, len, NULL, diag);
}

wh_cm_component_t *wh_cm__component_build(wh_engine_t *e, const uint8_t *bytes, size_t len,
                                          wh_cm_premods_t *pre, wh_diag_t *diag) {
  wh_cm_component_t *c = NULL;
  wh_cm_v_t *v = NULL;
  wh_diag_t local;
  int rc;
  if (!diag) diag = &local;
  wh_diag_clear(diag);
  if (!e || (!bytes && len)) {
    wh_diag_set(diag, WH_EINVAL, -1, "no engine or no bytes");
    return NULL;
  }
  c = calloc(1, sizeof *c);
  if (!c) goto nomem;
  c->engine = e;
  c->bytes = malloc(len ? len : 1);
  if (!c->bytes) goto nomem;
  if (len) memcpy(c->bytes, bytes, len);
  c->len = len;
  c->pre = pre;
  rc = wh_cm__v_init(&v, c, diag);
  if (rc) goto fail;
  rc = wh_cm__decode(c, v, diag);
  if (rc) goto fail;
  wh_cm_tid_t root_type = 0;
  rc = wh_cm__v_pop(v, (long long)len, &root_type, &c->root);
  if (rc) goto fail;
  if (pre && pre->next != pre->n) {
    pre->mismatch = true;
    rc = wh_diag_set(diag, WH_ECORRUPT, -1, "%u compiled core modules for %u",
                     pre->n, pre->next);
    goto fail;
  }
  c->pre = NULL;
  wh_cm__v_free(v);
  return c;
nomem:
  wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
fail:
  if (diag->code == 0) wh_diag_set(diag, WH_EINVALID, -1, "invalid component");
  wh_cm__v_free(v);
  wh_cm_component_free(c);
  return NULL;
}

void wh_cm_component_free(wh_cm_component_t *c) {
  if (!c) return;
  for (uint32_t i = 0; i < c->modules.n; i++) wh_module_free(c->modules.v[i]);
  wh_cm__arena_fini(&c->arena);
  free(c->types);
  free(c->bytes);
  free(c);
}

/* ---- accessors --------------------------------------------------------------- */

wh_cm_tid_t wh_cm__peel(const wh_cm_component_t *c, wh_cm_tid_t t) {
  while (t && t < c->ntypes && c->types[t].kind == WH_CM_T_ALIAS) t = c->types[t].a;
  return t;
}

static const wh_cm_type_t *root_type(const wh_cm_component_t *c) {
  return &c->types[c->root->type];
}

static bool valid_ref(const wh_cm_component_t *c, wh_cm_type_ref_t t) {
  return t > 0 && t < c->ntypes;
}

static int item_out(const wh_cm_component_t *c, const wh_cm_item_t *it,
                    const char **name, wh_cm_kind_t *kind, wh_cm_type_ref_t *type) {
  if (name) *name = it->name;
  if (kind) *kind = it->ext.sort == WH_CM_SORT_CORE_MODULE ? WH_CM_KIND_MODULE
                                                           : (wh_cm_kind_t)it->ext.sort;
  if (type) *type = it->ext.type;
  (void)c;
  return 0;
}

uint32_t wh_cm_import_count(const wh_cm_component_t *c) { return root_type(c)->nimp; }
uint32_t wh_cm_export_count(const wh_cm_component_t *c) { return root_type(c)->nexp; }

int wh_cm_import(const wh_cm_component_t *c, uint32_t i, const char **name,
                 wh_cm_kind_t *kind, wh_cm_type_ref_t *type) {
  const wh_cm_type_t *t = root_type(c);
  if (i >= t->nimp) return WH_ERANGE;
  return item_out(c, &t->imp[i], name, kind, type);
}

int wh_cm_export(const wh_cm_component_t *c, uint32_t i, const char **name,
                 wh_cm_kind_t *kind, wh_cm_type_ref_t *type) {
  const wh_cm_type_t *t = root_type(c);
  if (i >= t->nexp) return WH_ERANGE;
  return item_out(c, &t->exp[i], name, kind, type);
}

wh_cm_tkind_t wh_cm_type_kind(const wh_cm_component_t *c, wh_cm_type_ref_t t) {
  if (!valid_ref(c, t)) return 0;
  uint8_t k = c->types[wh_cm__peel(c, t)].kind;
  if (k == WH_CM_T_CORE_MODULE) return WH_CM_TK_MODULE;
  if (k > WH_CM_T_RESOURCE) return 0;
  return (wh_cm_tkind_t)k;
}

uint32_t wh_cm_type_field_count(const wh_cm_component_t *c, wh_cm_type_ref_t t) {
  if (!valid_ref(c, t)) return 0;
  const wh_cm_type_t *ty = &c->types[wh_cm__peel(c, t)];
  switch (ty->kind) {
  case WH_CM_T_RECORD: case WH_CM_T_VARIANT: case WH_CM_T_TUPLE:
  case WH_CM_T_FLAGS: case WH_CM_T_ENUM: case WH_CM_T_FUNC:
    return ty->n;
  default:
    return 0;
  }
}

int wh_cm_type_field(const wh_cm_component_t *c, wh_cm_type_ref_t t, uint32_t i,
                     const char **name, wh_cm_type_ref_t *type) {
  if (i >= wh_cm_type_field_count(c, t)) return WH_ERANGE;
  const wh_cm_type_t *ty = &c->types[wh_cm__peel(c, t)];
  if (name) *name = ty->f[i].name;
  if (type) *type = ty->f[i].type;
  return 0;
}

wh_cm_type_ref_t wh_cm_type_elem(const wh_cm_component_t *c, wh_cm_type_ref_t t) {
  if (!valid_ref(c, t)) return 0;
  const wh_cm_type_t *ty = &c->types[wh_cm__peel(c, t)];
  switch (ty->kind) {
  case WH_CM_T_LIST: case WH_CM_T_FIXED_LIST: case WH_CM_T_OPTION:
  case WH_CM_T_RESULT: case WH_CM_T_FUNC: case WH_CM_T_OWN: case WH_CM_T_BORROW:
    return ty->a;
  default:
    return 0;
  }
}

wh_cm_type_ref_t wh_cm_type_err(const wh_cm_component_t *c, wh_cm_type_ref_t t) {
  if (!valid_ref(c, t)) return 0;
  const wh_cm_type_t *ty = &c->types[wh_cm__peel(c, t)];
  return ty->kind == WH_CM_T_RESULT ? ty->b : 0;
}

uint32_t wh_cm_type_length(const wh_cm_component_t *c, wh_cm_type_ref_t t) {
  if (!valid_ref(c, t)) return 0;
  const wh_cm_type_t *ty = &c->types[wh_cm__peel(c, t)];
  return ty->kind == WH_CM_T_FIXED_LIST ? ty->n : 0;
}

uint32_t wh_cm_type_export_count(const wh_cm_component_t *c, wh_cm_type_ref_t t) {
  if (!valid_ref(c, t)) return 0;
  const wh_cm_type_t *ty = &c->types[wh_cm__peel(c, t)];
  return ty->kind == WH_CM_T_COMPONENT || ty->kind == WH_CM_T_INSTANCE ? ty->nexp : 0;
}

int wh_cm_type_export(const wh_cm_component_t *c, wh_cm_type_ref_t t, uint32_t i,
                      const char **name, wh_cm_kind_t *kind, wh_cm_type_ref_t *type) {
  if (i >= wh_cm_type_export_count(c, t)) return WH_ERANGE;
  return item_out(c, &c->types[wh_cm__peel(c, t)].exp[i], name, kind, type);
}

uint32_t wh_cm_type_import_count(const wh_cm_component_t *c, wh_cm_type_ref_t t) {
  if (!valid_ref(c, t)) return 0;
  const wh_cm_type_t *ty = &c->types[wh_cm__peel(c, t)];
  return ty->kind == WH_CM_T_COMPONENT ? ty->nimp : 0;
}

int wh_cm_type_import(const wh_cm_component_t *c, wh_cm_type_ref_t t, uint32_t i,
                      const char **name, wh_cm_kind_t *kind, wh_cm_type_ref_t *type) {
  if (i >= wh_cm_type_import_count(c, t)) return WH_ERANGE;
  return item_out(c, &c->types[wh_cm__peel(c, t)].imp[i], name, kind, type);
}

bool wh_cm_type_same(const wh_cm_component_t *c, wh_cm_type_ref_t a, wh_cm_type_ref_t b) {
  return wh_cm__peel(c, a) == wh_cm__peel(c, b);
}
