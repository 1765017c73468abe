/*
 * decode.c - WebAssembly binary -> wh_module, with module-level validation.
 *
 * Sections are read in the order the spec fixes (custom sections anywhere):
 *
 *   type import func table memory global export start elem datacount
 *   code data
 *
 * Every count is checked against what is left of its section before
 * anything is allocated for it (an element needs at least one byte), so a
 * hostile length cannot make the decoder allocate more than a small
 * multiple of the input.  Function bodies are only located here; compile.c
 * validates and translates them.  Errors carry the byte offset.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "reader.h"

int wh_rd_fail(wh_reader_t *r, int code, const char *fmt, ...) {
  if (r->failed) return r->diag ? r->diag->code : code;
  r->failed = true;
  if (r->diag) {
    va_list ap;
    r->diag->code = code;
    r->diag->offset = wh_rd_off(r);
    r->diag->line = -1;
    va_start(ap, fmt);
    vsnprintf(r->diag->msg, sizeof r->diag->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

bool wh_utf8_valid(const uint8_t *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = s[i];
    if (c < 0x80) { i++; continue; }
    uint32_t cp;
    size_t len;
    if ((c & 0xe0) == 0xc0) { cp = c & 0x1f; len = 2; }
    else if ((c & 0xf0) == 0xe0) { cp = c & 0x0f; len = 3; }
    else if ((c & 0xf8) == 0xf0) { cp = c & 0x07; len = 4; }
    else return false;
    if (i + len > n) return false;
    for (size_t k = 1; k < len; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
        (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += len;
  }
  return true;
}

/* ---- small readers ------------------------------------------------------- */

static char *read_name_len(wh_reader_t *r, uint32_t *len) {
  uint32_t n = wh_rd_u32(r);
  if (len) *len = n;
  const uint8_t *s = wh_rd_bytes(r, n);
  if (!s) return NULL;
  if (!wh_utf8_valid(s, n)) {
    wh_rd_fail(r, WH_EMALFORMED, "malformed UTF-8 encoding");
    return NULL;
  }
  char *out = malloc((size_t)n + 1);
  if (!out) {
    wh_rd_fail(r, WH_ENOMEM, "out of memory");
    return NULL;
  }
  memcpy(out, s, n);
  out[n] = '\0';
  return out;
}

static char *read_name(wh_reader_t *r) { return read_name_len(r, NULL); }

static bool is_valtype(uint8_t b) {
  return b == WH_I32 || b == WH_I64 || b == WH_F32 || b == WH_F64 ||
         b == WH_FUNCREF || b == WH_EXTERNREF || b == WH_V128;
}

/* v128 is a value type only with the engine's `simd` flag. */
static uint8_t read_valtype(wh_reader_t *r, wh_module_t *m) {
  uint8_t b = wh_rd_u8(r);
  if (r->failed) return 0;
  if (b == WH_V128) {
    if (m->engine->cfg.simd) return b;
    r->p--;
    wh_rd_fail(r, WH_EUNSUPPORTED, "SIMD (v128) is not supported yet");
    return 0;
  }
  if (!is_valtype(b)) {
    r->p--;
    wh_rd_fail(r, WH_EMALFORMED, "malformed value type 0x%02x", b);
    return 0;
  }
  return b;
}

static uint8_t read_reftype(wh_reader_t *r) {
  uint8_t b = wh_rd_u8(r);
  if (r->failed) return 0;
  if (b != WH_FUNCREF && b != WH_EXTERNREF) {
    r->p--;
    wh_rd_fail(r, WH_EMALFORMED, "malformed reference type 0x%02x", b);
    return 0;
  }
  return b;
}

static void read_limits(wh_reader_t *r, wh_limits_t *lim, bool is_mem) {
  uint8_t flags = wh_rd_u8(r);
  if (r->failed) return;
  if (flags > 1) {
    r->p--;
    wh_rd_fail(r, WH_EMALFORMED, "integer too large (limits flags 0x%02x%s)", flags,
               is_mem && flags < 4 ? "; shared memories need the threads proposal" : "");
    return;
  }
  lim->min = wh_rd_u32(r);
  lim->has_max = flags & 1;
  lim->max = lim->has_max ? wh_rd_u32(r) : 0;
}

static int check_limits(wh_reader_t *r, const wh_limits_t *lim, uint64_t bound,
                        const char *what) {
  if (lim->min > bound)
    return wh_rd_fail(r, WH_EINVALID, "%s", what);
  if (lim->has_max && lim->max > bound)
    return wh_rd_fail(r, WH_EINVALID, "%s", what);
  if (lim->has_max && lim->max < lim->min)
    return wh_rd_fail(r, WH_EINVALID, "size minimum must not be greater than maximum");
  return 0;
}

/* A count of items each at least `min_size` bytes, bounded by `limit`. */
static uint32_t read_count(wh_reader_t *r, uint32_t limit, size_t min_size,
                           const char *what) {
  uint32_t n = wh_rd_u32(r);
  if (r->failed) return 0;
  if (n > limit) {
    wh_rd_fail(r, WH_ELIMIT, "too many %s (%u, limit %u)", what, n, limit);
    return 0;
  }
  if ((uint64_t)n * min_size > (uint64_t)(r->end - r->p)) {
    wh_rd_fail(r, WH_EMALFORMED, "unexpected end of section or function (%u %s)", n, what);
    return 0;
  }
  return n;
}

/* Constant expressions: one instruction then `end`. */
static void read_cexpr(wh_reader_t *r, wh_module_t *m, uint8_t want,
                       wh_cexpr_t *e, uint32_t nglobals_visible) {
  uint8_t op = wh_rd_u8(r);
  long long at = wh_rd_off(r) - 1;
  memset(e, 0, sizeof *e);
  switch (op) {
  case 0x41: e->kind = WH_CEXPR_CONST; e->type = WH_I32;
    e->bits = (uint32_t)(int32_t)wh_rd_sleb(r, 32); break;
  case 0x42: e->kind = WH_CEXPR_CONST; e->type = WH_I64;
    e->bits = (uint64_t)wh_rd_sleb(r, 64); break;
  case 0x43: e->kind = WH_CEXPR_CONST; e->type = WH_F32;
    e->bits = wh_rd_fixed32(r); break;
  case 0x44: e->kind = WH_CEXPR_CONST; e->type = WH_F64;
    e->bits = wh_rd_fixed64(r); break;
  case 0xd0: e->kind = WH_CEXPR_REF_NULL; e->type = read_reftype(r); break;
  case 0xd2:
    e->kind = WH_CEXPR_REF_FUNC; e->type = WH_FUNCREF;
    e->index = wh_rd_u32(r);
    if (!r->failed && e->index >= m->nfuncs) {
      wh_rd_fail(r, WH_EINVALID, "unknown function %u", e->index);
      return;
    }
    if (!r->failed) m->declared_funcs[e->index / 8] |= 1u << (e->index % 8);
    break;
  case 0x23:
    e->kind = WH_CEXPR_GLOBAL;
    e->index = wh_rd_u32(r);
    if (r->failed) return;
    if (e->index >= nglobals_visible) {
      wh_rd_fail(r, WH_EINVALID, "unknown global %u", e->index);
      return;
    }
    if (e->index >= m->nglobal_imports) {
      wh_rd_fail(r, WH_EINVALID, "constant expression required (global.get of a non-imported global)");
      return;
    }
    if (m->globals[e->index].mut) {
      wh_rd_fail(r, WH_EINVALID, "constant expression required (global.get of a mutable global)");
      return;
    }
    e->type = m->globals[e->index].type;
    break;
  case 0x0b:
    if (!r->failed) { r->p--; wh_rd_fail(r, WH_EINVALID, "type mismatch (empty constant expression)"); }
    return;
  case 0xfd:
    if (!m->engine->cfg.simd) {
      r->p--;
      wh_rd_fail(r, WH_EUNSUPPORTED, "SIMD (v128) is not supported yet");
      return;
    }
    if (wh_rd_u32(r) != 12) {
      if (!r->failed) wh_rd_fail(r, WH_EINVALID, "constant expression required");
      return;
    }
    e->kind = WH_CEXPR_CONST;
    e->type = WH_V128;
    e->bits = wh_rd_fixed64(r);
    e->bits_hi = wh_rd_fixed64(r);
    break;
  default:
    if (r->failed) return;
    r->p--;
    if ((op >= 0x45 && op <= 0xc4) || op == 0x20 || op == 0x24 || op == 0x01)
      wh_rd_fail(r, WH_EINVALID, "constant expression required");
    else
      wh_rd_fail(r, WH_EMALFORMED, "illegal opcode 0x%02x in constant expression", op);
    return;
  }
  if (r->failed) return;
  uint8_t end = wh_rd_u8(r);
  if (r->failed) return;
  if (end != 0x0b) {
    r->p--;
    if ((end >= 0x41 && end <= 0x44) || end == 0x23 || end == 0xd0 || end == 0xd2)
      wh_rd_fail(r, WH_EINVALID, "type mismatch (constant expression leaves more than one value)");
    else if ((end >= 0x45 && end <= 0xc4) || end == 0x20 || end == 0x01)
      wh_rd_fail(r, WH_EINVALID, "constant expression required");
    else
      wh_rd_fail(r, WH_EMALFORMED, "END opcode expected");
    return;
  }
  if (e->type != want) {
    wh_rd_fail(r, WH_EINVALID, "type mismatch in constant expression");
    if (r->diag) r->diag->offset = at;
  }
}

/* ---- sections ------------------------------------------------------------ */

static void sec_type(wh_reader_t *r, wh_module_t *m) {
  uint32_t n = read_count(r, WH_MAX_TYPES, 3, "types");
  if (r->failed) return;
  m->types = calloc(n ? n : 1, sizeof *m->types);
  if (!m->types) { wh_rd_fail(r, WH_ENOMEM, "out of memory"); return; }
  uint8_t buf[2 * WH_MAX_PARAMS];
  for (uint32_t i = 0; i < n && !r->failed; i++) {
    uint8_t form = wh_rd_u8(r);
    if (r->failed) return;
    if (form != 0x60) {
      r->p--;
      wh_rd_fail(r, WH_EMALFORMED, "integer representation too long (function type form 0x%02x)", form);
      return;
    }
    uint32_t np = read_count(r, WH_MAX_PARAMS, 1, "params");
    for (uint32_t k = 0; k < np && !r->failed; k++) buf[k] = read_valtype(r, m);
    uint32_t nr = read_count(r, WH_MAX_PARAMS, 1, "results");
    for (uint32_t k = 0; k < nr && !r->failed; k++) buf[np + k] = read_valtype(r, m);
    if (r->failed) return;
    const wh_functype_t *ft = wh__type_intern(m->engine, buf, np, nr);
    if (!ft) { wh_rd_fail(r, WH_ENOMEM, "out of memory"); return; }
    m->types[i] = (wh_functype_t *)ft;
    m->ntypes = i + 1;
  }
}

static void sec_import(wh_reader_t *r, wh_module_t *m) {
  uint32_t n = read_count(r, WH_MAX_IMPORTS, 4, "imports");
  if (r->failed) return;
  m->imports = calloc(n ? n : 1, sizeof *m->imports);
  m->func_types = calloc(n ? n : 1, sizeof *m->func_types);
  m->tables = calloc(n ? n : 1, sizeof *m->tables);
  m->mems = calloc(n ? n : 1, sizeof *m->mems);
  m->globals = calloc(n ? n : 1, sizeof *m->globals);
  if (!m->imports || !m->func_types || !m->tables || !m->mems || !m->globals) {
    wh_rd_fail(r, WH_ENOMEM, "out of memory");
    return;
  }
  for (uint32_t i = 0; i < n && !r->failed; i++) {
    wh_import_desc_t *im = &m->imports[i];
    im->module = read_name_len(r, &im->module_len);
    if (r->failed) return;
    im->name = read_name_len(r, &im->name_len);
    m->nimports = i + 1;
    if (r->failed) return;
    im->kind = wh_rd_u8(r);
    if (r->failed) return;
    switch (im->kind) {
    case WH_EXTERN_FUNC:
      im->u.type = wh_rd_u32(r);
      if (!r->failed && im->u.type >= m->ntypes) {
        wh_rd_fail(r, WH_EINVALID, "unknown type %u", im->u.type);
        return;
      }
      im->index = m->nfuncs;
      m->func_types[m->nfuncs++] = im->u.type;
      m->nfunc_imports++;
      break;
    case WH_EXTERN_TABLE:
      im->u.table.elem = read_reftype(r);
      read_limits(r, &im->u.table.lim, false);
      if (r->failed) return;
      if (check_limits(r, &im->u.table.lim, UINT32_MAX, "table size must be at most 2^32-1"))
        return;
      im->index = m->ntables;
      m->tables[m->ntables].elem = im->u.table.elem;
      m->tables[m->ntables++].lim = im->u.table.lim;
      m->ntable_imports++;
      break;
    case WH_EXTERN_MEMORY:
      read_limits(r, &im->u.mem, true);
      if (r->failed) return;
      if (check_limits(r, &im->u.mem, WH_MAX_PAGES, "memory size must be at most 65536 pages (4GiB)"))
        return;
      if (m->nmems == WH_MAX_MEMORIES) {
        wh_rd_fail(r, WH_ELIMIT, "too many memories (limit %u)", WH_MAX_MEMORIES);
        return;
      }
      im->index = m->nmems;
      m->mems[m->nmems++] = im->u.mem;
      m->nmem_imports++;
      break;
    case WH_EXTERN_GLOBAL: {
      im->u.global.type = read_valtype(r, m);
      uint8_t mut = wh_rd_u8(r);
      if (r->failed) return;
      if (mut > 1) { r->p--; wh_rd_fail(r, WH_EMALFORMED, "malformed mutability"); return; }
      im->u.global.mut = mut;
      im->index = m->nglobals;
      m->globals[m->nglobals].type = im->u.global.type;
      m->globals[m->nglobals++].mut = mut;
      m->nglobal_imports++;
      break;
    }
    default:
      r->p--;
      wh_rd_fail(r, WH_EMALFORMED, "malformed import kind 0x%02x", im->kind);
      return;
    }
  }
}

/* Grows one of the per-index-space arrays to hold `extra` more entries. */
static void *grow(wh_reader_t *r, void *arr, uint32_t have, uint32_t extra,
                  size_t size) {
  void *p = realloc(arr, ((size_t)have + extra + 1) * size);
  if (!p) { wh_rd_fail(r, WH_ENOMEM, "out of memory"); return NULL; }
  memset((char *)p + (size_t)have * size, 0, ((size_t)extra + 1) * size);
  return p;
}

static void sec_func(wh_reader_t *r, wh_module_t *m) {
  uint32_t n = read_count(r, WH_MAX_FUNCS, 1, "functions");
  if (r->failed) return;
  uint32_t *ft = grow(r, m->func_types, m->nfuncs, n, sizeof *ft);
  if (!ft) return;
  m->func_types = ft;
  m->defs = calloc(n ? n : 1, sizeof *m->defs);
  if (!m->defs) { wh_rd_fail(r, WH_ENOMEM, "out of memory"); return; }
  for (uint32_t i = 0; i < n && !r->failed; i++) {
    uint32_t t = wh_rd_u32(r);
    if (r->failed) return;
    if (t >= m->ntypes) { wh_rd_fail(r, WH_EINVALID, "unknown type %u", t); return; }
    m->defs[i].type = t;
    m->defs[i].ft = m->types[t];
    m->func_types[m->nfuncs++] = t;
  }
}

static void sec_table(wh_reader_t *r, wh_module_t *m) {
  uint32_t n = read_count(r, WH_MAX_TABLES, 2, "tables");
  if (r->failed) return;
  wh_table_def_t *t = grow(r, m->tables, m->ntables, n, sizeof *t);
  if (!t) return;
  m->tables = t;
  for (uint32_t i = 0; i < n && !r->failed; i++) {
    wh_table_def_t *d = &m->tables[m->ntables];
    d->elem = read_reftype(r);
    read_limits(r, &d->lim, false);
    if (r->failed) return;
    if (check_limits(r, &d->lim, UINT32_MAX, "table size must be at most 2^32-1"))
      return;
    m->ntables++;
  }
}

static void sec_memory(wh_reader_t *r, wh_module_t *m) {
  uint32_t n = read_count(r, WH_MAX_MEMORIES - m->nmems, 2, "memories");
  if (r->failed) return;
  wh_limits_t *l = grow(r, m->mems, m->nmems, n, sizeof *l);
  if (!l) return;
  m->mems = l;
  for (uint32_t i = 0; i < n && !r->failed; i++) {
    read_limits(r, &m->mems[m->nmems], true);
    if (r->failed) return;
    if (check_limits(r, &m->mems[m->nmems], WH_MAX_PAGES,
                     "memory size must be at most 65536 pages (4GiB)"))
      return;
    m->nmems++;
  }
}

static void sec_global(wh_reader_t *r, wh_module_t *m) {
  uint32_t n = read_count(r, WH_MAX_GLOBALS, 4, "globals");
  if (r->failed) return;
  wh_global_def_t *g = grow(r, m->globals, m->nglobals, n, sizeof *g);
  if (!g) return;
  m->globals = g;
  for (uint32_t i = 0; i < n && !r->failed; i++) {
    wh_global_def_t *d = &m->globals[m->nglobals];
    d->type = read_valtype(r, m);
    uint8_t mut = wh_rd_u8(r);
    if (r->failed) return;
    if (mut > 1) { r->p--; wh_rd_fail(r, WH_EMALFORMED, "malformed mutability"); return; }
    d->mut = mut;
    read_cexpr(r, m, d->type, &d->init, m->nglobals);
    if (r->failed) return;
    m->nglobals++;
  }
}

static void sec_export(wh_reader_t *r, wh_module_t *m) {
  uint32_t n = read_count(r, WH_MAX_EXPORTS, 3, "exports");
  if (r->failed) return;
  m->exports = calloc(n ? n : 1, sizeof *m->exports);
  if (!m->exports) { wh_rd_fail(r, WH_ENOMEM, "out of memory"); return; }
  for (uint32_t i = 0; i < n && !r->failed; i++) {
    wh_export_desc_t *e = &m->exports[i];
    e->name = read_name_len(r, &e->name_len);
    if (r->failed) return;
    m->nexports = i + 1;
    e->kind = wh_rd_u8(r);
    e->index = wh_rd_u32(r);
    if (r->failed) return;
    uint32_t limit;
    switch (e->kind) {
    case WH_EXTERN_FUNC: limit = m->nfuncs; break;
    case WH_EXTERN_TABLE: limit = m->ntables; break;
    case WH_EXTERN_MEMORY: limit = m->nmems; break;
    case WH_EXTERN_GLOBAL: limit = m->nglobals; break;
    default: wh_rd_fail(r, WH_EMALFORMED, "malformed export kind 0x%02x", e->kind); return;
    }
    if (e->index >= limit) {
      static const char *what[] = {"function", "table", "memory", "global"};
      wh_rd_fail(r, WH_EINVALID, "unknown %s %u", what[e->kind], e->index);
      return;
    }
    if (e->kind == WH_EXTERN_FUNC)
      m->declared_funcs[e->index / 8] |= 1u << (e->index % 8);
    for (uint32_t k = 0; k < i; k++) {
      if (wh__name_eq(m->exports[k].name, m->exports[k].name_len, e->name, e->name_len)) {
        wh_rd_fail(r, WH_EINVALID, "duplicate export name \"%s\"", e->name);
        return;
      }
    }
  }
}

static void sec_start(wh_reader_t *r, wh_module_t *m) {
  m->start = wh_rd_u32(r);
  if (r->failed) return;
  if (m->start >= m->nfuncs) { wh_rd_fail(r, WH_EINVALID, "unknown function %u", m->start); return; }
  const wh_functype_t *ft = m->types[m->func_types[m->start]];
  if (ft->nparams || ft->nresults) { wh_rd_fail(r, WH_EINVALID, "start function must have type [] -> []"); return; }
  m->has_start = true;
}

static void check_table(wh_reader_t *r, wh_module_t *m, uint32_t t) {
  if (!r->failed && t >= m->ntables) wh_rd_fail(r, WH_EINVALID, "unknown table %u", t);
}

static void sec_elem(wh_reader_t *r, wh_module_t *m) {
  uint32_t n = read_count(r, WH_MAX_SEGMENTS, 1, "element segments");
  if (r->failed) return;
  m->elems = calloc(n ? n : 1, sizeof *m->elems);
  if (!m->elems) { wh_rd_fail(r, WH_ENOMEM, "out of memory"); return; }
  for (uint32_t i = 0; i < n && !r->failed; i++) {
    wh_elem_seg_t *s = &m->elems[i];
    uint32_t flags = wh_rd_u32(r);
    if (r->failed) return;
    if (flags > 7) { wh_rd_fail(r, WH_EMALFORMED, "malformed elements segment kind %u", flags); return; }
    bool passive_or_decl = flags & 1, explicit_table = flags & 2, exprs = flags & 4;
    s->mode = passive_or_decl ? ((flags & 2) ? WH_SEG_DECLARATIVE : WH_SEG_PASSIVE) : WH_SEG_ACTIVE;
    s->elem = WH_FUNCREF;
    if (s->mode == WH_SEG_ACTIVE) {
      s->table = explicit_table ? wh_rd_u32(r) : 0;
      check_table(r, m, s->table);
      read_cexpr(r, m, WH_I32, &s->offset, m->nglobals);
    }
    if (r->failed) return;
    if (passive_or_decl || explicit_table) {
      if (exprs) s->elem = read_reftype(r);
      else {
        uint8_t kind = wh_rd_u8(r);
        if (!r->failed && kind != 0) { r->p--; wh_rd_fail(r, WH_EMALFORMED, "malformed element kind"); }
      }
    }
    if (r->failed) return;
    uint32_t cnt = read_count(r, WH_MAX_ELEM_ITEMS, 1, "elements");
    if (r->failed) return;
    s->items = calloc(cnt ? cnt : 1, sizeof *s->items);
    if (!s->items) { wh_rd_fail(r, WH_ENOMEM, "out of memory"); return; }
    m->nelems = i + 1;
    for (uint32_t k = 0; k < cnt && !r->failed; k++) {
      if (exprs) {
        read_cexpr(r, m, s->elem, &s->items[k], m->nglobals);
      } else {
        uint32_t f = wh_rd_u32(r);
        if (r->failed) return;
        if (f >= m->nfuncs) { wh_rd_fail(r, WH_EINVALID, "unknown function %u", f); return; }
        s->items[k].kind = WH_CEXPR_REF_FUNC;
        s->items[k].type = WH_FUNCREF;
        s->items[k].index = f;
        m->declared_funcs[f / 8] |= 1u << (f % 8);
      }
      s->count = k + 1;
    }
    if (r->failed) return;
    if (s->mode == WH_SEG_ACTIVE && m->tables[s->table].elem != s->elem) {
      wh_rd_fail(r, WH_EINVALID, "type mismatch (element segment and table types differ)");
      return;
    }
  }
}

static void sec_datacount(wh_reader_t *r, wh_module_t *m) {
  m->datacount = wh_rd_u32(r);
  m->has_datacount = !r->failed;
}

static void sec_code(wh_reader_t *r, wh_module_t *m) {
  uint32_t n = wh_rd_u32(r);
  if (r->failed) return;
  uint32_t ndefs = m->nfuncs - m->nfunc_imports;
  if (n != ndefs) {
    wh_rd_fail(r, WH_EMALFORMED, "function and code section have inconsistent lengths");
    return;
  }
  for (uint32_t i = 0; i < n && !r->failed; i++) {
    uint32_t size = wh_rd_u32(r);
    const uint8_t *body = wh_rd_bytes(r, size);
    if (!body) return;
    m->defs[i].body_off = (uint32_t)(body - r->base);
    m->defs[i].body_len = size;
  }
}

static void sec_data(wh_reader_t *r, wh_module_t *m) {
  uint32_t n = read_count(r, WH_MAX_SEGMENTS, 1, "data segments");
  if (r->failed) return;
  if (m->has_datacount && n != m->datacount) {
    wh_rd_fail(r, WH_EMALFORMED, "data count and data section have inconsistent lengths");
    return;
  }
  m->datas = calloc(n ? n : 1, sizeof *m->datas);
  if (!m->datas) { wh_rd_fail(r, WH_ENOMEM, "out of memory"); return; }
  for (uint32_t i = 0; i < n && !r->failed; i++) {
    wh_data_seg_t *s = &m->datas[i];
    uint32_t flags = wh_rd_u32(r);
    if (r->failed) return;
    if (flags > 2) { wh_rd_fail(r, WH_EMALFORMED, "malformed data segment kind %u", flags); return; }
    s->mode = flags == 1 ? WH_SEG_PASSIVE : WH_SEG_ACTIVE;
    if (s->mode == WH_SEG_ACTIVE) {
      s->mem = flags == 2 ? wh_rd_u32(r) : 0;
      if (!r->failed && s->mem >= m->nmems) { wh_rd_fail(r, WH_EINVALID, "unknown memory %u", s->mem); return; }
      read_cexpr(r, m, WH_I32, &s->offset, m->nglobals);
    }
    uint32_t len = wh_rd_u32(r);
    const uint8_t *b = wh_rd_bytes(r, len);
    if (!b) return;
    s->bytes = malloc(len ? len : 1);
    if (!s->bytes) { wh_rd_fail(r, WH_ENOMEM, "out of memory"); return; }
    memcpy(s->bytes, b, len);
    s->len = len;
    m->ndatas = i + 1;
  }
}

/* The name section is advisory: a malformed one is ignored, as the spec
 * allows, but never read out of bounds. */
static void sec_names(wh_module_t *m, const uint8_t *p, const uint8_t *end,
                      const uint8_t *base) {
  wh_reader_t r = {.base = base, .p = p, .end = end, .diag = NULL};
  while (!wh_rd_eof(&r) && !r.failed) {
    uint8_t id = wh_rd_u8(&r);
    uint32_t size = wh_rd_u32(&r);
    const uint8_t *sub = wh_rd_bytes(&r, size);
    if (!sub) return;
    wh_reader_t s = {.base = base, .p = sub, .end = sub + size, .diag = NULL};
    if (id == 0 && !m->module_name) {
      m->module_name = read_name(&s);
    } else if (id == 1) {
      uint32_t n = wh_rd_u32(&s);
      for (uint32_t i = 0; i < n && !s.failed; i++) {
        uint32_t idx = wh_rd_u32(&s);
        char *name = read_name(&s);
        if (s.failed) { free(name); break; }
        if (idx >= m->nfunc_imports && idx < m->nfuncs &&
            !m->defs[idx - m->nfunc_imports].name)
          m->defs[idx - m->nfunc_imports].name = name;
        else
          free(name);
      }
    }
  }
}

int wh__decode_module(wh_module_t *m, const uint8_t *bytes, size_t len,
                      wh_diag_t *diag) {
  wh_reader_t r = {.base = bytes, .p = bytes, .end = bytes + len, .diag = diag};
  static const uint8_t order[13] = {
      /* id -> position in the required order */
      [1] = 1, [2] = 2, [3] = 3, [4] = 4, [5] = 5, [6] = 6, [7] = 7,
      [8] = 8, [9] = 9, [12] = 10, [10] = 11, [11] = 12};
  uint8_t last = 0;
  bool saw_func = false, saw_code = false;

  const uint8_t *magic = wh_rd_bytes(&r, 4);
  if (!magic || memcmp(magic, "\0asm", 4) != 0) {
    r.failed = false;
    r.p = bytes;
    return wh_rd_fail(&r, WH_EMALFORMED, "magic header not detected");
  }
  const uint8_t *ver = wh_rd_bytes(&r, 4);
  if (!ver) {
    r.failed = false;
    return wh_rd_fail(&r, WH_EMALFORMED, "unknown binary version");
  }
  if (ver[0] != 1 || ver[1] != 0 || ver[2] != 0 || ver[3] != 0) {
    r.p = ver;
    if (ver[2] != 0 || ver[3] != 0)   /* layer field: 1 = component */
      return wh_rd_fail(&r, ver[2] == 1 ? WH_ECOMPONENT : WH_EMALFORMED,
                        ver[2] == 1 ? "this is a component, not a core module"
                                    : "unknown binary version");
    return wh_rd_fail(&r, WH_EMALFORMED, "unknown binary version");
  }
  m->declared_funcs = NULL;

  while (!wh_rd_eof(&r) && !r.failed) {
    long long sec_at = wh_rd_off(&r);
    uint8_t id = wh_rd_u8(&r);
    uint32_t size = wh_rd_u32(&r);
    if (r.failed) break;
    const uint8_t *body = wh_rd_bytes(&r, size);
    if (!body) {
      r.failed = false;
      r.p = bytes + sec_at;
      wh_rd_fail(&r, WH_EMALFORMED, "section size mismatch (unexpected end)");
      break;
    }
    if (id > 12) {
      r.p = bytes + sec_at;
      wh_rd_fail(&r, WH_EMALFORMED, "malformed section id %u", id);
      break;
    }
    if (id != 0) {
      if (order[id] <= last) {
        r.p = bytes + sec_at;
        wh_rd_fail(&r, WH_EMALFORMED, "unexpected content after last section (section %u out of order or repeated)", id);
        break;
      }
      last = order[id];
    }
    wh_reader_t s = {.base = bytes, .p = body, .end = body + size, .diag = diag};
    if (id == 9 || id == 7 || id == 6 || id == 10) {
      /* sections that may name functions need the declared bitmap */
      if (!m->declared_funcs) {
        m->declared_funcs = calloc((size_t)m->nfuncs / 8 + 1, 1);
        if (!m->declared_funcs) return wh_diag_set(diag, WH_ENOMEM, sec_at, "out of memory");
      }
    }
    switch (id) {
    case 0: {
      char *name = read_name(&s);
      if (s.failed) { r.failed = true; break; }
      if (strcmp(name, "name") == 0) sec_names(m, s.p, s.end, bytes);
      free(name);
      s.p = s.end;
      break;
    }
    case 1: sec_type(&s, m); break;
    case 2: sec_import(&s, m); break;
    case 3: sec_func(&s, m); saw_func = true; break;
    case 4: sec_table(&s, m); break;
    case 5: sec_memory(&s, m); break;
    case 6: sec_global(&s, m); break;
    case 7: sec_export(&s, m); break;
    case 8: sec_start(&s, m); break;
    case 9: sec_elem(&s, m); break;
    case 12: sec_datacount(&s, m); break;
    case 10: sec_code(&s, m); saw_code = true; break;
    case 11: sec_data(&s, m); break;
    }
    if (s.failed) { r.failed = true; break; }
    if (s.p != s.end) {
      r.p = s.p;
      wh_rd_fail(&r, WH_EMALFORMED, "section size mismatch");
      break;
    }
  }
  if (r.failed) return diag ? diag->code : WH_EMALFORMED;
  if (m->nfuncs > m->nfunc_imports && !saw_code)
    return wh_rd_fail(&r, WH_EMALFORMED, "function and code section have inconsistent lengths");
  (void)saw_func;
  if (!m->declared_funcs) {
    m->declared_funcs = calloc((size_t)m->nfuncs / 8 + 1, 1);
    if (!m->declared_funcs) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  }
  if (m->has_datacount && m->datacount != m->ndatas)
    return wh_rd_fail(&r, WH_EMALFORMED, "data count and data section have inconsistent lengths");
  if (!m->has_datacount) m->datacount = m->ndatas;
  return 0;
}

void wh__module_fini(wh_module_t *m) {
  for (uint32_t i = 0; i < m->nimports; i++) {
    free(m->imports[i].module);
    free(m->imports[i].name);
  }
  free(m->imports);
  free(m->func_types);
  if (m->defs) {
    for (uint32_t i = 0; i < m->nfuncs - m->nfunc_imports; i++) {
      free(m->defs[i].code);
      free(m->defs[i].name);
    }
  }
  free(m->defs);
  free(m->tables);
  free(m->mems);
  free(m->globals);
  for (uint32_t i = 0; i < m->nexports; i++) free(m->exports[i].name);
  free(m->exports);
  for (uint32_t i = 0; i < m->nelems; i++) free(m->elems[i].items);
  free(m->elems);
  for (uint32_t i = 0; i < m->ndatas; i++) free(m->datas[i].bytes);
  free(m->datas);
  free(m->declared_funcs);
  free(m->module_name);
  free(m->types);
}
