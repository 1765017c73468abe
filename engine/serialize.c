/*
 * serialize.c - compiled modules to a versioned, checksummed blob and back
 * (the compilation cache stores these).
 *
 *   offset  size  field
 *   0       8     magic "WHARFMOD"
 *   8       4     format version (WH_BLOB_VERSION), little-endian
 *   12      4     length F of the engine fingerprint
 *   16      F     engine fingerprint (wh_engine_fingerprint), no NUL
 *   16+F    8     length P of the payload
 *   24+F    8     checksum of the payload (wh__sum64, blob.h)
 *   32+F    P     payload: the module's tables, field by field, in the
 *                 order of write_module below; integers little-endian;
 *                 strings as u32 length + bytes; wcode with op numbers in
 *                 its handler cells (threaded again on load)
 *
 * Loading checks magic, version, fingerprint, length and checksum (the
 * cache, which has checked the whole artifact already, skips the last:
 * wh__module_deserialize_verified), then reads every field with bounds
 * checks, checks every index against its space, and copies each
 * function's code out in one pass that checks every op and operand and
 * threads it (load_code), so a truncated, corrupt or foreign blob is an
 * error, never a crash.  The checksum guards against corruption, not
 * against an attacker who can write the cache directory: that directory
 * must be wharfd's alone.
 *
 * Version 2 replaced version 1's SHA-256 of the payload by wh__sum64: the
 * hash alone cost half of a tier-0 compile on every load.  Version 3 ends
 * the payload with the native tier's part (write_native): u8 0 (none),
 * 1 + u64 length + the ELF object (loaded, never recompiled), or 2 + the
 * reason a native engine's module runs in the interpreter.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "blob.h"
#include "engine_int.h"
#include "native.h"
#include "interp_dispatch.h" /* WH_INTERP_COMPUTED_GOTO: how code is threaded */
#include "wcode.h"

#define WH_BLOB_MAGIC "WHARFMOD"
#define WH_BLOB_VERSION 3u

/* ---- writer ---------------------------------------------------------- */

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
  bool oom;
} wbuf_t;

static void put(wbuf_t *b, const void *src, size_t n) {
  if (b->oom || n == 0) return;
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 4096;
    while (cap < b->len + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, src, n);
  b->len += n;
}

static void put_u8(wbuf_t *b, uint8_t v) { put(b, &v, 1); }
static void put_u32(wbuf_t *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(wbuf_t *b, uint64_t v) { put(b, &v, 8); }

static void put_str(wbuf_t *b, const char *s) {
  if (!s) {
    put_u32(b, UINT32_MAX);
    return;
  }
  uint32_t n = (uint32_t)strlen(s);
  put_u32(b, n);
  put(b, s, n);
}

static void put_name(wbuf_t *b, const char *s, uint32_t len) {
  put_u32(b, len);
  put(b, s, len);
}

static void put_limits(wbuf_t *b, const wh_limits_t *l) {
  put_u64(b, l->min);
  put_u64(b, l->max);
  put_u8(b, l->has_max);
}

static void put_cexpr(wbuf_t *b, const wh_cexpr_t *e) {
  put_u8(b, e->kind);
  put_u8(b, e->type);
  put_u32(b, e->index);
  put_u64(b, e->bits);
  if (e->type == WH_V128) put_u64(b, e->bits_hi);   /* v128.const */
}

/* Writes code with op numbers in place of handler addresses. */
static bool put_code(wbuf_t *b, const wh_func_def_t *d) {
  uint8_t *code = malloc(d->code_len ? d->code_len : 1);
  if (!code) return false;
  memcpy(code, d->code, d->code_len);
  uint32_t pos = 0;
  while (pos + 8 <= d->code_len) {
    int found = wh__wop_of_handler(code + pos);
    if (found < 0) {
      free(code);
      return false;
    }
    uint64_t op = (uint64_t)found;
    memcpy(code + pos, &op, 8);
    int words = wh__wop_words[op];
    if (words < 0) {
      int32_t n;
      memcpy(&n, code + pos + 12, 4);
      words = 2 + n + 1;
    }
    pos += 8 + 4 * (uint32_t)words;
  }
  put_u32(b, d->code_len);
  put(b, code, d->code_len);
  free(code);
  return true;
}

static void write_native(wbuf_t *b, const wh_module_t *m) {
  const wh_native_code_t *nc = wh__native_of(m);   /* tier auto: maybe later */
  const char *why = __atomic_load_n(&m->native_reason, __ATOMIC_ACQUIRE);
  if (nc) {
    put_u8(b, 1);
    put_u64(b, nc->obj_len);
    put(b, nc->obj, nc->obj_len);
  } else if (why) {
    put_u8(b, 2);
    put_str(b, why);
  } else {
    put_u8(b, 0);
  }
}

static bool write_module(wbuf_t *b, const wh_module_t *m) {
  put_u32(b, m->ntypes);
  for (uint32_t i = 0; i < m->ntypes; i++) {
    const wh_functype_t *t = m->types[i];
    put_u32(b, t->nparams);
    put_u32(b, t->nresults);
    put(b, t->types, t->nparams + t->nresults);
  }
  put_u32(b, m->nimports);
  for (uint32_t i = 0; i < m->nimports; i++) {
    const wh_import_desc_t *im = &m->imports[i];
    put_name(b, im->module, im->module_len);
    put_name(b, im->name, im->name_len);
    put_u8(b, im->kind);
    put_u32(b, im->index);
    switch (im->kind) {
    case WH_EXTERN_FUNC: put_u32(b, im->u.type); break;
    case WH_EXTERN_TABLE: put_u8(b, im->u.table.elem); put_limits(b, &im->u.table.lim); break;
    case WH_EXTERN_MEMORY: put_limits(b, &im->u.mem); break;
    default: put_u8(b, im->u.global.type); put_u8(b, im->u.global.mut); break;
    }
  }
  put_u32(b, m->nfunc_imports);
  put_u32(b, m->ntable_imports);
  put_u32(b, m->nmem_imports);
  put_u32(b, m->nglobal_imports);
  put_u32(b, m->nfuncs);
  put(b, m->func_types, (size_t)m->nfuncs * 4);
  put_u32(b, m->ntables);
  for (uint32_t i = 0; i < m->ntables; i++) {
    put_u8(b, m->tables[i].elem);
    put_limits(b, &m->tables[i].lim);
  }
  put_u32(b, m->nmems);
  for (uint32_t i = 0; i < m->nmems; i++) put_limits(b, &m->mems[i]);
  put_u32(b, m->nglobals);
  for (uint32_t i = 0; i < m->nglobals; i++) {
    put_u8(b, m->globals[i].type);
    put_u8(b, m->globals[i].mut);
    put_cexpr(b, &m->globals[i].init);
  }
  put_u32(b, m->nexports);
  for (uint32_t i = 0; i < m->nexports; i++) {
    put_name(b, m->exports[i].name, m->exports[i].name_len);
    put_u8(b, m->exports[i].kind);
    put_u32(b, m->exports[i].index);
  }
  put_u8(b, m->has_start);
  put_u32(b, m->start);
  put_u32(b, m->nelems);
  for (uint32_t i = 0; i < m->nelems; i++) {
    const wh_elem_seg_t *s = &m->elems[i];
    put_u8(b, s->mode);
    put_u8(b, s->elem);
    put_u32(b, s->table);
    put_cexpr(b, &s->offset);
    put_u32(b, s->count);
    for (uint32_t k = 0; k < s->count; k++) put_cexpr(b, &s->items[k]);
  }
  put_u8(b, m->has_datacount);
  put_u32(b, m->datacount);
  put_u32(b, m->ndatas);
  for (uint32_t i = 0; i < m->ndatas; i++) {
    const wh_data_seg_t *s = &m->datas[i];
    put_u8(b, s->mode);
    put_u32(b, s->mem);
    put_cexpr(b, &s->offset);
    put_u32(b, s->len);
    put(b, s->bytes, s->len);
  }
  put(b, m->declared_funcs, (size_t)m->nfuncs / 8 + 1);
  put_str(b, m->module_name);
  /* the code last: the reader checks each function as it copies it,
   * which needs every table size above */
  bool ok = true;
  for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports && ok; i++) {
    const wh_func_def_t *d = &m->defs[i];
    put_u32(b, d->index);
    put_u32(b, d->nlocals);
    put_u32(b, d->frame_slots);
    put_str(b, d->name);
    ok = put_code(b, d);
  }
  if (ok) write_native(b, m);
  return ok && !b->oom;
}

/* ---- checksum ------------------------------------------------------ */

/* XXH64 (seed 0): four lanes of multiply-rotate over 32-byte stripes, then
 * the tail and an avalanche.  Written out here from the published
 * algorithm so the engine needs no extra library. */
#define SUM_P1 0x9E3779B185EBCA87ull
#define SUM_P2 0xC2B2AE3D27D4EB4Full
#define SUM_P3 0x165667B19E3779F9ull
#define SUM_P4 0x85EBCA77C2B2AE63ull
#define SUM_P5 0x27D4EB2F165667C5ull

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static inline uint64_t sum_round(uint64_t acc, uint64_t in) {
  acc += in * SUM_P2;
  return rotl64(acc, 31) * SUM_P1;
}

static inline uint64_t sum_merge(uint64_t h, uint64_t v) {
  h ^= sum_round(0, v);
  return h * SUM_P1 + SUM_P4;
}

uint64_t wh__sum64(const void *data, size_t n) {
  const uint8_t *p = data, *end = p + n;
  uint64_t h;
  if (n >= 32) {
    uint64_t v1 = SUM_P1 + SUM_P2, v2 = SUM_P2, v3 = 0, v4 = -SUM_P1;
    do {
      v1 = sum_round(v1, rd64(p));
      v2 = sum_round(v2, rd64(p + 8));
      v3 = sum_round(v3, rd64(p + 16));
      v4 = sum_round(v4, rd64(p + 24));
      p += 32;
    } while ((size_t)(end - p) >= 32);
    h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
    h = sum_merge(h, v1);
    h = sum_merge(h, v2);
    h = sum_merge(h, v3);
    h = sum_merge(h, v4);
  } else {
    h = SUM_P5;
  }
  h += (uint64_t)n;
  for (; (size_t)(end - p) >= 8; p += 8) h = rotl64(h ^ sum_round(0, rd64(p)), 27) * SUM_P1 + SUM_P4;
  if ((size_t)(end - p) >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    h = rotl64(h ^ (uint64_t)w * SUM_P1, 23) * SUM_P2 + SUM_P3;
    p += 4;
  }
  for (; p < end; p++) h = rotl64(h ^ *p * SUM_P5, 11) * SUM_P1;
  h ^= h >> 33;
  h *= SUM_P2;
  h ^= h >> 29;
  h *= SUM_P3;
  h ^= h >> 32;
  return h;
}

uint32_t wh__blob_version(void) { return WH_BLOB_VERSION; }

int wh_module_serialize(const wh_module_t *m, uint8_t **out, size_t *out_len) {
  wbuf_t payload = {0}, blob = {0};
  *out = NULL;
  *out_len = 0;
  if (!write_module(&payload, m)) {
    free(payload.p);
    return WH_ENOMEM;
  }
  const char *fp = m->engine->fingerprint;
  put(&blob, WH_BLOB_MAGIC, 8);
  put_u32(&blob, WH_BLOB_VERSION);
  put_u32(&blob, (uint32_t)strlen(fp));
  put(&blob, fp, strlen(fp));
  put_u64(&blob, payload.len);
  put_u64(&blob, wh__sum64(payload.p, payload.len));
  put(&blob, payload.p, payload.len);
  free(payload.p);
  if (blob.oom) {
    free(blob.p);
    return WH_ENOMEM;
  }
  *out = blob.p;
  *out_len = blob.len;
  return 0;
}

/* ---- reader ---------------------------------------------------------- */

typedef struct rbuf {
  const uint8_t *p, *end;
  bool bad;
  bool oom;               /* an allocation failed (not the blob's fault) */
} rbuf_t;

static const uint8_t *take(rbuf_t *r, size_t n) {
  if (r->bad || (size_t)(r->end - r->p) < n) {
    r->bad = true;
    return NULL;
  }
  const uint8_t *q = r->p;
  r->p += n;
  return q;
}

static uint8_t get_u8(rbuf_t *r) {
  const uint8_t *q = take(r, 1);
  return q ? *q : 0;
}

static uint32_t get_u32(rbuf_t *r) {
  uint32_t v = 0;
  const uint8_t *q = take(r, 4);
  if (q) memcpy(&v, q, 4);
  return v;
}

static uint64_t get_u64(rbuf_t *r) {
  uint64_t v = 0;
  const uint8_t *q = take(r, 8);
  if (q) memcpy(&v, q, 8);
  return v;
}

/* A count of items each needing at least `min` bytes of what is left. */
static uint32_t get_count(rbuf_t *r, size_t min) {
  uint32_t n = get_u32(r);
  if (!r->bad && (uint64_t)n * min > (uint64_t)(r->end - r->p)) r->bad = true;
  return r->bad ? 0 : n;
}

static char *get_str_len(rbuf_t *r, bool nullable, uint32_t *len) {
  uint32_t n = get_u32(r);
  if (len) *len = n;
  if (r->bad) return NULL;
  if (n == UINT32_MAX) {
    if (!nullable) r->bad = true;
    return NULL;
  }
  const uint8_t *q = take(r, n);
  if (!q) return NULL;
  char *s = malloc((size_t)n + 1);
  if (!s) {
    r->bad = r->oom = true;
    return NULL;
  }
  memcpy(s, q, n);
  s[n] = '\0';
  return s;
}

static char *get_str(rbuf_t *r, bool nullable) { return get_str_len(r, nullable, NULL); }

static void get_limits(rbuf_t *r, wh_limits_t *l) {
  l->min = get_u64(r);
  l->max = get_u64(r);
  l->has_max = get_u8(r) != 0;
}

static void get_cexpr(rbuf_t *r, wh_cexpr_t *e, const wh_module_t *m) {
  e->kind = get_u8(r);
  e->type = get_u8(r);
  e->index = get_u32(r);
  e->bits = get_u64(r);
  if (e->type == WH_V128) e->bits_hi = get_u64(r);
  if (e->kind > WH_CEXPR_REF_FUNC) r->bad = true;
  if (e->kind == WH_CEXPR_GLOBAL && e->index >= m->nglobal_imports) r->bad = true;
  if (e->kind == WH_CEXPR_REF_FUNC && e->index >= m->nfuncs) r->bad = true;
}

/* v128 only from an engine with SIMD on (its fingerprint says so too) */
static bool valid_valtype(uint8_t t, bool simd) {
  return t == WH_I32 || t == WH_I64 || t == WH_F32 || t == WH_F64 ||
         t == WH_FUNCREF || t == WH_EXTERNREF || (simd && t == WH_V128);
}

/* Each op's operands by kind (wcode.h's kinds strings) as bit masks over
 * its operand words, built once, so check_code tests the common operands
 * (frame slots) without a per-operand switch. */
typedef struct op_shape {
  uint8_t nwords;  /* operand words; SHAPE_TABLE: BR_TABLE's are counted */
  uint16_t slots;  /* 's': a frame slot */
  uint16_t args;   /* 'a': where a call's arguments start */
  uint16_t rels;   /* 'r': a branch offset */
  uint16_t others; /* an index, checked by its kind; 'k' is in no mask */
  bool fast;       /* nwords <= 4 and only 's', 'k' and 'r' operands:
                    * check_code's branch-free path */
} op_shape_t;

#define SHAPE_TABLE 0xff /* nwords of BR_TABLE: a n rel*(n+1) */
#define SHAPE_SLOW 0xfe  /* more operand words than the masks hold */

static op_shape_t op_shapes[WOP__COUNT];
static pthread_once_t op_shapes_once = PTHREAD_ONCE_INIT;

static void build_op_shapes(void) {
  for (int op = 0; op < WOP__COUNT; op++) {
    const char *kinds = wh__wop_kinds[op];
    op_shape_t *sh = &op_shapes[op];
    if (!kinds) continue;
    if (kinds[0] == '*') {
      sh->nwords = SHAPE_TABLE;
      continue;
    }
    size_t n = strlen(kinds);
    if (n > 16) {
      sh->nwords = SHAPE_SLOW;
      continue;
    }
    sh->nwords = (uint8_t)n;
    for (size_t k = 0; k < n; k++) {
      uint16_t bit = (uint16_t)(1u << k);
      switch (kinds[k]) {
      case 's': sh->slots |= bit; break;
      case 'a': sh->args |= bit; break;
      case 'r': sh->rels |= bit; break;
      case 'k': break;
      default: sh->others |= bit; break;
      }
    }
    sh->fast = n <= 4 && !sh->args && !sh->others;
  }
}

/* Scratch space for check_code, grown as needed and reused across a
 * module's functions: which 4-byte words start an instruction, and the
 * branch targets seen (checked against those starts at the end). */
typedef struct code_scratch {
  uint8_t *starts;
  size_t starts_cap;
  uint32_t *targets;
  size_t ntargets, targets_cap;
} code_scratch_t;

static bool push_target(code_scratch_t *sc, uint32_t t) {
  if (sc->ntargets == sc->targets_cap) {
    size_t cap = sc->targets_cap ? sc->targets_cap * 2 : 1024;
    uint32_t *p = realloc(sc->targets, cap * sizeof *p);
    if (!p) return false;
    sc->targets = p;
    sc->targets_cap = cap;
  }
  sc->targets[sc->ntargets++] = t;
  return true;
}

static inline uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

/* Checks an index operand of kind `kind` against the module: 0 or
 * WH_ECORRUPT.  Slots, argument offsets and branches are checked by the
 * caller; 'k' (any immediate) and unknown kinds pass. */
static int check_index(const wh_module_t *m, char kind, uint32_t u, uint32_t slot_end) {
  switch (kind) {
  case 's': return u >= slot_end || (u & 7) ? WH_ECORRUPT : 0;
  case 'v': return u >= slot_end || slot_end - u < 16 || (u & 7) ? WH_ECORRUPT : 0;
  case 'a': return u > slot_end || (u & 7) ? WH_ECORRUPT : 0;
  case 'f': return u >= m->nfuncs - m->nfunc_imports ? WH_ECORRUPT : 0;
  case 'i': return u >= m->nfunc_imports ? WH_ECORRUPT : 0;
  case 'F': return u >= m->nfuncs ? WH_ECORRUPT : 0;
  case 'T': return u >= m->ntypes ? WH_ECORRUPT : 0;
  case 't': return u >= m->ntables ? WH_ECORRUPT : 0;
  case 'g': return u >= m->nglobals ? WH_ECORRUPT : 0;
  case 'D': return u >= m->ndatas ? WH_ECORRUPT : 0;
  case 'E': return u >= m->nelems ? WH_ECORRUPT : 0;
  case 'm': return u >= m->nmems ? WH_ECORRUPT : 0;
  default: return 0;   /* 'k': any immediate */
  }
}

/* A branch offset at code position `wp`: its target must be inside the
 * function on a 4-byte boundary (and, checked later, an instruction
 * start). */
static int check_rel(code_scratch_t *sc, uint32_t len, uint32_t wp, uint32_t u) {
  int64_t t = (int64_t)wp + (int32_t)u;
  if (t < 0 || t >= len || t % 4) return WH_ECORRUPT;
  return push_target(sc, (uint32_t)t) ? 0 : WH_ENOMEM;
}

/* Checks one function's code against the module and threads it for the
 * interpreter (handler addresses in place of op numbers), in one pass:
 * every op known, lengths that add up, a terminating last op, and every
 * operand of its kind (wcode.h): slots inside the frame, indices inside
 * their spaces, and branch targets inside the function on instruction
 * starts (collected, then checked once all starts are known).  So even a
 * blob that passed the checksum cannot make the interpreter step outside
 * its frame, its code or the module's tables.  On failure the code may be
 * half threaded; the caller frees the module. */
static int check_code(const wh_module_t *m, wh_func_def_t *d, code_scratch_t *sc) {
  uint8_t *code = d->code;
  uint32_t len = d->code_len;
  uint32_t slot_end = d->frame_slots * 8u; /* frame_slots <= 2^24: no overflow */
  uint32_t pos = 0;
  uint64_t op = 0, last_op = WOP__COUNT;
  int rc;
#if WH_INTERP_COMPUTED_GOTO
  const void *const *labels = wh__interp_labels();
#endif
  pthread_once(&op_shapes_once, build_op_shapes);
  if (len == 0 || len % 4) return WH_ECORRUPT;
  if (sc->starts_cap < len / 4 + 1) {
    free(sc->starts);
    sc->starts_cap = len / 4 + 1;
    if (!(sc->starts = malloc(sc->starts_cap))) {
      sc->starts_cap = 0;
      return WH_ENOMEM;
    }
  }
  memset(sc->starts, 0, len / 4 + 1);
  sc->ntargets = 0;
  while (pos < len) {
    if (len - pos < 8) return WH_ECORRUPT;
    memcpy(&op, code + pos, 8);
    if (op >= WOP__COUNT) return WH_ECORRUPT;
    const op_shape_t *sh = &op_shapes[op];
    const uint8_t *w = code + pos + 8;
    uint32_t nwords = sh->nwords;
    if (nwords == SHAPE_TABLE) { /* BR_TABLE: a n rel*(n+1) */
      if (len - pos < 16) return WH_ECORRUPT;
      int32_t n = (int32_t)rd32(w + 4);
      if (n < 0 || n > (int32_t)WH_MAX_BR_TABLE) return WH_ECORRUPT;
      nwords = 2 + (uint32_t)n + 1;
      if ((uint64_t)len - pos < 8 + 4 * (uint64_t)nwords) return WH_ECORRUPT;
      if ((rc = check_index(m, 's', rd32(w), slot_end)) != 0) return rc;
      for (uint32_t k = 2; k < nwords; k++)
        if ((rc = check_rel(sc, len, pos + 8 + 4 * k, rd32(w + 4 * k))) != 0) return rc;
    } else if (nwords == SHAPE_SLOW) {
      const char *kinds = wh__wop_kinds[op];
      nwords = (uint32_t)strlen(kinds);
      if ((uint64_t)len - pos < 8 + 4 * (uint64_t)nwords) return WH_ECORRUPT;
      for (uint32_t k = 0; k < nwords; k++) {
        rc = kinds[k] == 'r' ? check_rel(sc, len, pos + 8 + 4 * k, rd32(w + 4 * k))
                             : check_index(m, kinds[k], rd32(w + 4 * k), slot_end);
        if (rc) return rc;
      }
    } else if (sh->fast && len - pos >= 8 + 16) {
      /* up to four words, read whether or not they are operands (they
       * are inside the code); a word that is not a slot is masked out */
      uint32_t u0 = rd32(w), u1 = rd32(w + 4), u2 = rd32(w + 8), u3 = rd32(w + 12);
      unsigned sl = sh->slots;
      uint32_t bad = (((u0 >= slot_end) | ((u0 & 7) != 0)) & sl) |
                     (((u1 >= slot_end) | ((u1 & 7) != 0)) & sl >> 1) |
                     (((u2 >= slot_end) | ((u2 & 7) != 0)) & sl >> 2) |
                     (((u3 >= slot_end) | ((u3 & 7) != 0)) & sl >> 3);
      if ((bad & 1) || (uint64_t)len - pos < 8 + 4 * (uint64_t)nwords) return WH_ECORRUPT;
      for (unsigned mask = sh->rels; mask; mask &= mask - 1) {
        unsigned k = (unsigned)__builtin_ctz(mask);
        if ((rc = check_rel(sc, len, pos + 8 + 4 * k, rd32(w + 4 * k))) != 0) return rc;
      }
    } else {
      if ((uint64_t)len - pos < 8 + 4 * (uint64_t)nwords) return WH_ECORRUPT;
      uint32_t bad = 0;
      for (unsigned mask = sh->slots; mask; mask &= mask - 1) {
        uint32_t u = rd32(w + 4 * __builtin_ctz(mask));
        bad |= (u >= slot_end) | (u & 7);
      }
      for (unsigned mask = sh->args; mask; mask &= mask - 1) {
        uint32_t u = rd32(w + 4 * __builtin_ctz(mask));
        bad |= (u > slot_end) | (u & 7);
      }
      if (bad) return WH_ECORRUPT;
      for (unsigned mask = sh->rels; mask; mask &= mask - 1) {
        unsigned k = (unsigned)__builtin_ctz(mask);
        if ((rc = check_rel(sc, len, pos + 8 + 4 * k, rd32(w + 4 * k))) != 0) return rc;
      }
      for (unsigned mask = sh->others; mask; mask &= mask - 1) {
        unsigned k = (unsigned)__builtin_ctz(mask);
        if ((rc = check_index(m, wh__wop_kinds[op][k], rd32(w + 4 * k), slot_end)) != 0)
          return rc;
      }
    }
    sc->starts[pos / 4] = 1;
    last_op = op;
#if WH_INTERP_COMPUTED_GOTO
    memcpy(code + pos, &labels[op], 8);
#endif
    pos += 8 + 4 * nwords;
  }
  if (last_op != WOP_RETURN && last_op != WOP_BR && last_op != WOP_BR_TABLE &&
      last_op != WOP_UNREACHABLE)
    return WH_ECORRUPT;   /* execution could run off the end */
  for (size_t i = 0; i < sc->ntargets; i++)
    if (!sc->starts[sc->targets[i] / 4]) return WH_ECORRUPT;
  return 0;
}

/* The native part (write_native); only engines of tier native or auto
 * have one. */
static int read_native(rbuf_t *r, wh_module_t *m) {
  uint8_t kind = get_u8(r);
  if (r->bad) return WH_ECORRUPT;
  if (kind == 0) return m->engine->cfg.tier == WH_TIER_NATIVE ? WH_ECORRUPT : 0;
  if (m->engine->cfg.tier == WH_TIER_INTERP) return WH_ECORRUPT;
  if (kind == 2) {
    m->native_reason = get_str(r, false);
    return m->native_reason ? 0 : r->oom ? WH_ENOMEM : WH_ECORRUPT;
  }
  if (kind != 1) return WH_ECORRUPT;
  uint64_t len = get_u64(r);
  const uint8_t *obj = r->bad || len > (uint64_t)(r->end - r->p) ? NULL : take(r, (size_t)len);
  if (!obj) return WH_ECORRUPT;
  int rc = wh__native_load(m, obj, (size_t)len, NULL);
  return rc == WH_ENOMEM ? WH_ENOMEM : rc ? WH_ECORRUPT : 0;
}

static int read_module(rbuf_t *r, wh_module_t *m) {
  wh_engine_t *e = m->engine;
  m->ntypes = get_count(r, 8);
  m->types = calloc(m->ntypes + 1, sizeof *m->types);
  if (!m->types) return WH_ENOMEM;
  for (uint32_t i = 0; i < m->ntypes && !r->bad; i++) {
    uint32_t np = get_u32(r), nr = get_u32(r);
    if (np > WH_MAX_PARAMS || nr > WH_MAX_PARAMS) {
      r->bad = true;
      break;
    }
    const uint8_t *t = take(r, np + nr);
    if (!t) break;
    for (uint32_t k = 0; k < np + nr; k++)
      if (!valid_valtype(t[k], e->cfg.simd)) r->bad = true;
    if (r->bad) break;
    m->types[i] = (wh_functype_t *)wh__type_intern(e, t, np, nr);
    if (!m->types[i]) return WH_ENOMEM;
  }
  uint32_t nimports = get_count(r, 10);
  m->imports = calloc(nimports + 1, sizeof *m->imports);
  if (!m->imports) return WH_ENOMEM;
  for (uint32_t i = 0; i < nimports && !r->bad; i++) {
    wh_import_desc_t *im = &m->imports[i];
    im->module = get_str_len(r, false, &im->module_len);
    im->name = get_str_len(r, false, &im->name_len);
    m->nimports = i + 1;
    im->kind = get_u8(r);
    im->index = get_u32(r);
    switch (im->kind) {
    case WH_EXTERN_FUNC:
      im->u.type = get_u32(r);
      if (im->u.type >= m->ntypes) r->bad = true;
      break;
    case WH_EXTERN_TABLE: im->u.table.elem = get_u8(r); get_limits(r, &im->u.table.lim); break;
    case WH_EXTERN_MEMORY: get_limits(r, &im->u.mem); break;
    case WH_EXTERN_GLOBAL: im->u.global.type = get_u8(r); im->u.global.mut = get_u8(r); break;
    default: r->bad = true;
    }
  }
  m->nfunc_imports = get_u32(r);
  m->ntable_imports = get_u32(r);
  m->nmem_imports = get_u32(r);
  m->nglobal_imports = get_u32(r);
  m->nfuncs = get_count(r, 4);
  if (r->bad || m->nfunc_imports > m->nfuncs) return WH_ECORRUPT;
  m->func_types = calloc(m->nfuncs + 1, sizeof *m->func_types);
  if (!m->func_types) return WH_ENOMEM;
  const uint8_t *ft = take(r, (size_t)m->nfuncs * 4);
  if (!ft) return WH_ECORRUPT;
  memcpy(m->func_types, ft, (size_t)m->nfuncs * 4);
  for (uint32_t i = 0; i < m->nfuncs; i++)
    if (m->func_types[i] >= m->ntypes) return WH_ECORRUPT;
  m->ntables = get_count(r, 18);
  m->tables = calloc(m->ntables + 1, sizeof *m->tables);
  if (!m->tables) return WH_ENOMEM;
  for (uint32_t i = 0; i < m->ntables && !r->bad; i++) {
    m->tables[i].elem = get_u8(r);
    get_limits(r, &m->tables[i].lim);
  }
  m->nmems = get_count(r, 17);
  if (m->nmems > WH_MAX_MEMORIES) r->bad = true;
  m->mems = calloc(m->nmems + 1, sizeof *m->mems);
  if (!m->mems) return WH_ENOMEM;
  for (uint32_t i = 0; i < m->nmems && !r->bad; i++) get_limits(r, &m->mems[i]);
  m->nglobals = get_count(r, 16);
  m->globals = calloc(m->nglobals + 1, sizeof *m->globals);
  if (!m->globals) return WH_ENOMEM;
  for (uint32_t i = 0; i < m->nglobals && !r->bad; i++) {
    m->globals[i].type = get_u8(r);
    m->globals[i].mut = get_u8(r) != 0;
    get_cexpr(r, &m->globals[i].init, m);
  }
  if (r->bad || m->ntable_imports > m->ntables || m->nmem_imports > m->nmems ||
      m->nglobal_imports > m->nglobals)
    return WH_ECORRUPT;
  for (uint32_t i = 0; i < m->nimports; i++) {
    const wh_import_desc_t *im = &m->imports[i];
    uint32_t limit = im->kind == WH_EXTERN_FUNC ? m->nfunc_imports
                   : im->kind == WH_EXTERN_TABLE ? m->ntable_imports
                   : im->kind == WH_EXTERN_MEMORY ? m->nmem_imports : m->nglobal_imports;
    if (im->index >= limit) return WH_ECORRUPT;
  }
  uint32_t nexports = get_count(r, 9);
  m->exports = calloc(nexports + 1, sizeof *m->exports);
  if (!m->exports) return WH_ENOMEM;
  for (uint32_t i = 0; i < nexports && !r->bad; i++) {
    wh_export_desc_t *x = &m->exports[i];
    x->name = get_str_len(r, false, &x->name_len);
    m->nexports = i + 1;
    x->kind = get_u8(r);
    x->index = get_u32(r);
    uint32_t limit = x->kind == WH_EXTERN_FUNC ? m->nfuncs
                   : x->kind == WH_EXTERN_TABLE ? m->ntables
                   : x->kind == WH_EXTERN_MEMORY ? m->nmems
                   : x->kind == WH_EXTERN_GLOBAL ? m->nglobals : 0;
    if (x->index >= limit) r->bad = true;
  }
  m->has_start = get_u8(r) != 0;
  m->start = get_u32(r);
  if (m->has_start && m->start >= m->nfuncs) r->bad = true;
  uint32_t nelems = get_count(r, 24);
  m->elems = calloc(nelems + 1, sizeof *m->elems);
  if (!m->elems) return WH_ENOMEM;
  for (uint32_t i = 0; i < nelems && !r->bad; i++) {
    wh_elem_seg_t *s = &m->elems[i];
    s->mode = get_u8(r);
    s->elem = get_u8(r);
    s->table = get_u32(r);
    get_cexpr(r, &s->offset, m);
    uint32_t count = get_count(r, 14);
    s->items = calloc(count + 1, sizeof *s->items);
    if (!s->items) return WH_ENOMEM;
    m->nelems = i + 1;
    s->count = count;
    for (uint32_t k = 0; k < count && !r->bad; k++) get_cexpr(r, &s->items[k], m);
    if (s->mode > WH_SEG_DECLARATIVE || (s->mode == WH_SEG_ACTIVE && s->table >= m->ntables))
      r->bad = true;
  }
  m->has_datacount = get_u8(r) != 0;
  m->datacount = get_u32(r);
  uint32_t ndatas = get_count(r, 23);
  m->datas = calloc(ndatas + 1, sizeof *m->datas);
  if (!m->datas) return WH_ENOMEM;
  for (uint32_t i = 0; i < ndatas && !r->bad; i++) {
    wh_data_seg_t *s = &m->datas[i];
    s->mode = get_u8(r);
    s->mem = get_u32(r);
    get_cexpr(r, &s->offset, m);
    uint32_t len = get_u32(r);
    const uint8_t *bytes = take(r, len);
    if (!bytes) break;
    s->bytes = malloc(len ? len : 1);
    if (!s->bytes) return WH_ENOMEM;
    memcpy(s->bytes, bytes, len);
    s->len = len;
    m->ndatas = i + 1;
    if (s->mode > WH_SEG_PASSIVE || (s->mode == WH_SEG_ACTIVE && s->mem >= m->nmems))
      r->bad = true;
  }
  if (m->datacount < m->ndatas) r->bad = true;
  size_t nbits = (size_t)m->nfuncs / 8 + 1;
  const uint8_t *bits = take(r, nbits);
  if (bits) {
    m->declared_funcs = malloc(nbits);
    if (!m->declared_funcs) return WH_ENOMEM;
    memcpy(m->declared_funcs, bits, nbits);
  }
  m->module_name = get_str(r, true);
  if (r->oom) return WH_ENOMEM;
  if (r->bad) return WH_ECORRUPT;
  /* The code, last: each function is checked and threaded right after it
   * is copied, while it is still in the CPU's cache. */
  uint32_t ndefs = m->nfuncs - m->nfunc_imports;
  m->defs = calloc(ndefs + 1, sizeof *m->defs);
  if (!m->defs) return WH_ENOMEM;
  code_scratch_t sc = {0};
  int rc = 0;
  for (uint32_t i = 0; i < ndefs && rc == 0; i++) {
    wh_func_def_t *d = &m->defs[i];
    d->type = m->func_types[m->nfunc_imports + i];
    d->ft = m->types[d->type];
    d->index = get_u32(r);
    d->nlocals = get_u32(r);
    /* slot counts: a v128 param or result takes two slots */
    uint32_t nres_slots = d->ft->nresults;
    d->nparam_slots = d->ft->nparams;
    for (uint32_t k = 0; k < d->ft->nparams + d->ft->nresults; k++)
      if (d->ft->types[k] == WH_V128) {
        if (k < d->ft->nparams) d->nparam_slots++;
        else nres_slots++;
      }
    d->frame_slots = get_u32(r);
    d->name = get_str(r, true);
    uint32_t len = get_u32(r);
    const uint8_t *code = take(r, len);
    if (!code || d->nlocals < d->nparam_slots || d->frame_slots < d->nlocals ||
        d->frame_slots < nres_slots || d->frame_slots > (1u << 24)) {
      rc = r->oom ? WH_ENOMEM : WH_ECORRUPT;
      break;
    }
    if (!(d->code = malloc(len ? len : 1))) {
      rc = WH_ENOMEM;
      break;
    }
    memcpy(d->code, code, len);
    d->code_len = len;
    rc = check_code(m, d, &sc);
  }
  free(sc.starts);
  free(sc.targets);
  if (rc == 0) rc = read_native(r, m);
  if (rc == 0 && (r->bad || r->p != r->end)) rc = r->oom ? WH_ENOMEM : WH_ECORRUPT;
  return rc;
}

/* wh_module_deserialize and wh__module_deserialize_verified. */
static wh_module_t *deserialize(wh_engine_t *e, const uint8_t *blob, size_t len,
                                bool check_sum, wh_diag_t *diag) {
  wh_diag_clear(diag);
  rbuf_t r = {.p = blob, .end = blob + len};
  const uint8_t *magic = take(&r, 8);
  if (!magic || memcmp(magic, WH_BLOB_MAGIC, 8) != 0) {
    wh_diag_set(diag, WH_ECORRUPT, 0, "not a wharf compiled-module blob (bad magic)");
    return NULL;
  }
  uint32_t version = get_u32(&r);
  if (r.bad || version != WH_BLOB_VERSION) {
    wh_diag_set(diag, WH_ECORRUPT, 8, "blob format version %u, this build reads %u",
                version, WH_BLOB_VERSION);
    return NULL;
  }
  uint32_t fplen = get_u32(&r);
  const uint8_t *fp = take(&r, fplen);
  if (!fp || fplen != strlen(e->fingerprint) || memcmp(fp, e->fingerprint, fplen) != 0) {
    wh_diag_set(diag, WH_ECORRUPT, 16, "blob was compiled by a different engine (fingerprint mismatch)");
    return NULL;
  }
  uint64_t plen = get_u64(&r);
  uint64_t sum = get_u64(&r);
  if (r.bad || plen != (uint64_t)(r.end - r.p)) {
    wh_diag_set(diag, WH_ECORRUPT, (long long)(r.p - blob), "blob truncated or padded");
    return NULL;
  }
  if (check_sum && wh__sum64(r.p, plen) != sum) {
    wh_diag_set(diag, WH_ECORRUPT, (long long)(r.p - blob), "blob checksum mismatch");
    return NULL;
  }
  wh_module_t *m = calloc(1, sizeof *m);
  if (!m) {
    wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    return NULL;
  }
  m->engine = e;
  rbuf_t payload = {.p = r.p, .end = r.end};
  int rc = read_module(&payload, m);
  if (rc == WH_ECORRUPT && payload.oom) rc = WH_ENOMEM;  /* not the blob's fault */
  if (rc) {
    wh_diag_set(diag, rc, (long long)(payload.p - blob),
                rc == WH_ENOMEM ? "out of memory" : "blob payload is inconsistent");
    wh_module_free(m);
    return NULL;
  }
  /* tier auto: an artifact stored before its native code was ready */
  if (e->cfg.tier == WH_TIER_AUTO && !m->native && !m->native_reason) wh__native_tierup_start(m);
  return m;   /* check_code threaded the code */
}

wh_module_t *wh_module_deserialize(wh_engine_t *e, const uint8_t *blob, size_t len,
                                   wh_diag_t *diag) {
  return deserialize(e, blob, len, true, diag);
}

wh_module_t *wh__module_deserialize_verified(wh_engine_t *e, const uint8_t *blob,
                                             size_t len, wh_diag_t *diag) {
  return deserialize(e, blob, len, false, diag);
}
