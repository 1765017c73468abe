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
 *   24+F    32    SHA-256 of the payload
 *   56+F    P     payload: the module's tables, field by field, in the
 *                 order of write_module below; integers little-endian;
 *                 strings as u32 length + bytes; wcode with op numbers in
 *                 its handler cells (threaded again on load)
 *
 * Loading checks magic, version, fingerprint, length and checksum, then
 * reads every field with bounds checks, checks every index against its
 * space and walks each function's code (known op numbers, lengths that add
 * up), so a truncated, corrupt or foreign blob is an error, never a crash.
 * The checksum guards against corruption, not against an attacker who can
 * write the cache directory: that directory must be wharfd's alone.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "engine_int.h"
#include "wcode.h"

#define WH_BLOB_MAGIC "WHARFMOD"
#define WH_BLOB_VERSION 1u

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
  bool ok = true;
  for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports && ok; i++) {
    const wh_func_def_t *d = &m->defs[i];
    put_u32(b, d->index);
    put_u32(b, d->nlocals);
    put_u32(b, d->frame_slots);
    put_str(b, d->name);
    ok = put_code(b, d);
  }
  if (!ok) return false;
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
  return !b->oom;
}

static bool sha256(const uint8_t *p, size_t n, uint8_t out[32]) {
  unsigned len = 0;
  return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32;
}

int wh_module_serialize(const wh_module_t *m, uint8_t **out, size_t *out_len) {
  wbuf_t payload = {0}, blob = {0};
  *out = NULL;
  *out_len = 0;
  if (!write_module(&payload, m)) {
    free(payload.p);
    return WH_ENOMEM;
  }
  const char *fp = m->engine->fingerprint;
  uint8_t digest[32];
  if (!sha256(payload.p, payload.len, digest)) {
    free(payload.p);
    return WH_ENOMEM;
  }
  put(&blob, WH_BLOB_MAGIC, 8);
  put_u32(&blob, WH_BLOB_VERSION);
  put_u32(&blob, (uint32_t)strlen(fp));
  put(&blob, fp, strlen(fp));
  put_u64(&blob, payload.len);
  put(&blob, digest, 32);
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
  if (e->kind > WH_CEXPR_REF_FUNC) r->bad = true;
  if (e->kind == WH_CEXPR_GLOBAL && e->index >= m->nglobal_imports) r->bad = true;
  if (e->kind == WH_CEXPR_REF_FUNC && e->index >= m->nfuncs) r->bad = true;
}

static bool valid_valtype(uint8_t t) {
  return t == WH_I32 || t == WH_I64 || t == WH_F32 || t == WH_F64 ||
         t == WH_FUNCREF || t == WH_EXTERNREF;
}

/* Checks one function's code against the module: every op known, lengths
 * that add up, a terminating last op, and every operand of its kind
 * (wcode.h): slots inside the frame, branch targets on instruction starts
 * inside the function, indices inside their spaces.  So even a blob that
 * passed the checksum cannot make the interpreter step outside its frame,
 * its code or the module's tables. */
static int check_code(const wh_module_t *m, const wh_func_def_t *d) {
  const uint8_t *code = d->code;
  uint32_t len = d->code_len;
  uint32_t ndefs = m->nfuncs - m->nfunc_imports;
  uint8_t *starts = calloc(len / 4 + 1, 1);
  int rc = WH_ECORRUPT;
  uint32_t pos = 0, last = 0;
  uint64_t op = 0;
  if (!starts) return WH_ENOMEM;
  if (len == 0 || len % 4) goto out;
  while (pos < len) {
    if (len - pos < 8) goto out;
    memcpy(&op, code + pos, 8);
    if (op >= WOP__COUNT) goto out;
    int64_t words = wh__wop_words[op];
    if (words < 0) {
      if (len - pos < 16) goto out;
      int32_t n;
      memcpy(&n, code + pos + 12, 4);
      if (n < 0 || n > (int32_t)WH_MAX_BR_TABLE) goto out;
      words = 2 + (int64_t)n + 1;
    }
    if ((uint64_t)len - pos < 8 + 4 * (uint64_t)words) goto out;
    starts[pos / 4] = 1;
    last = pos;
    pos += 8 + 4 * (uint32_t)words;
  }
  memcpy(&op, code + last, 8);
  if (op != WOP_RETURN && op != WOP_BR && op != WOP_BR_TABLE && op != WOP_UNREACHABLE)
    goto out;   /* execution could run off the end */
  for (pos = 0; pos < len;) {
    memcpy(&op, code + pos, 8);
    const char *kinds = wh__wop_kinds[op];
    uint32_t nwords = (uint32_t)wh__wop_words[op];
    if (kinds[0] == '*') {
      int32_t n;
      memcpy(&n, code + pos + 12, 4);
      nwords = 2 + (uint32_t)n + 1;
    }
    for (uint32_t k = 0; k < nwords; k++) {
      uint32_t wp = pos + 8 + 4 * k;
      int32_t w;
      memcpy(&w, code + wp, 4);
      char kind = kinds[0] == '*' ? (k == 0 ? 's' : k == 1 ? 'k' : 'r') : kinds[k];
      uint32_t u = (uint32_t)w;
      switch (kind) {
      case 's': if (w < 0 || w % 8 || (uint32_t)w / 8 >= d->frame_slots) goto out; break;
      case 'a': if (w < 0 || w % 8 || (uint32_t)w / 8 > d->frame_slots) goto out; break;
      case 'r': {
        int64_t t = (int64_t)wp + w;
        if (t < 0 || t >= len || t % 4 || !starts[t / 4]) goto out;
        break;
      }
      case 'f': if (u >= ndefs) goto out; break;
      case 'i': if (u >= m->nfunc_imports) goto out; break;
      case 'F': if (u >= m->nfuncs) goto out; break;
      case 'T': if (u >= m->ntypes) goto out; break;
      case 't': if (u >= m->ntables) goto out; break;
      case 'g': if (u >= m->nglobals) goto out; break;
      case 'D': if (u >= m->ndatas) goto out; break;
      case 'E': if (u >= m->nelems) goto out; break;
      default: break;   /* 'k': any immediate */
      }
    }
    pos += 8 + 4 * nwords;
  }
  rc = 0;
out:
  free(starts);
  return rc;
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
      if (!valid_valtype(t[k])) r->bad = true;
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
  uint32_t ndefs = m->nfuncs - m->nfunc_imports;
  m->defs = calloc(ndefs + 1, sizeof *m->defs);
  if (!m->defs) return WH_ENOMEM;
  for (uint32_t i = 0; i < ndefs && !r->bad; i++) {
    wh_func_def_t *d = &m->defs[i];
    d->type = m->func_types[m->nfunc_imports + i];
    d->ft = m->types[d->type];
    d->index = get_u32(r);
    d->nlocals = get_u32(r);
    d->frame_slots = get_u32(r);
    d->name = get_str(r, true);
    uint32_t len = get_u32(r);
    const uint8_t *code = take(r, len);
    if (!code) break;
    if (d->nlocals < d->ft->nparams || d->frame_slots < d->nlocals ||
        d->frame_slots < d->ft->nresults || d->frame_slots > (1u << 24)) {
      r->bad = true;
      break;
    }
    d->code = malloc(len ? len : 1);
    if (!d->code) return WH_ENOMEM;
    memcpy(d->code, code, len);
    d->code_len = len;
  }
  m->ntables = get_count(r, 18);
  m->tables = calloc(m->ntables + 1, sizeof *m->tables);
  if (!m->tables) return WH_ENOMEM;
  for (uint32_t i = 0; i < m->ntables && !r->bad; i++) {
    m->tables[i].elem = get_u8(r);
    get_limits(r, &m->tables[i].lim);
  }
  m->nmems = get_count(r, 17);
  if (m->nmems > 1) r->bad = true;
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
  if (r->bad || r->p != r->end) return WH_ECORRUPT;
  for (uint32_t i = 0; i < ndefs; i++) {
    if (!m->defs[i].code) return WH_ECORRUPT;
    int rc = check_code(m, &m->defs[i]);
    if (rc) return rc;
  }
  return 0;
}

wh_module_t *wh_module_deserialize(wh_engine_t *e, const uint8_t *blob, size_t len,
                                   wh_diag_t *diag) {
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
  const uint8_t *digest = take(&r, 32);
  if (!digest || plen != (uint64_t)(r.end - r.p)) {
    wh_diag_set(diag, WH_ECORRUPT, (long long)(r.p - blob), "blob truncated or padded");
    return NULL;
  }
  uint8_t want[32];
  if (!sha256(r.p, plen, want) || memcmp(want, digest, 32) != 0) {
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
  for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports; i++)
    wh__thread_code(m->defs[i].code, m->defs[i].code_len);
  return m;
}
