/*
 * wt_builder.c - the module builder of wt.h.
 *
 * Each section's entries accumulate in their own buffer; wb_bytes writes
 *
 *   "\0asm" 01 00 00 00
 *   [id size count entries...]  for ids 1 2 3 4 5 6 7 8 9 12 10 11
 *   [0 size "name" subsections] if any names were given
 *   custom sections             as given
 *
 * skipping empty sections, and notes where each section ends (the
 * truncation tests cut there).  Out of memory aborts: this is test code.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wt.h"

/* ---- buffers ------------------------------------------------------------- */

static void reserve(wb_buf_t *b, size_t n) {
  if (b->len + n <= b->cap) return;
  size_t cap = b->cap ? b->cap * 2 : 64;
  while (cap < b->len + n) cap *= 2;
  uint8_t *p = realloc(b->p, cap);
  if (!p) abort();
  b->p = p;
  b->cap = cap;
}

void wb_byte(wb_buf_t *b, uint8_t v) {
  reserve(b, 1);
  b->p[b->len++] = v;
}

void wb_raw(wb_buf_t *b, const void *src, size_t n) {
  if (n == 0) return;
  reserve(b, n);
  memcpy(b->p + b->len, src, n);
  b->len += n;
}

void wb_uleb(wb_buf_t *b, uint64_t v) {
  do {
    uint8_t byte = v & 0x7f;
    v >>= 7;
    wb_byte(b, byte | (v ? 0x80 : 0));
  } while (v);
}

void wb_sleb(wb_buf_t *b, int64_t v) {
  for (;;) {
    uint8_t byte = v & 0x7f;
    v >>= 7;   /* arithmetic on every compiler we build with */
    bool done = (v == 0 && !(byte & 0x40)) || (v == -1 && (byte & 0x40));
    wb_byte(b, byte | (done ? 0 : 0x80));
    if (done) return;
  }
}

void wb_str(wb_buf_t *b, const char *s) {
  size_t n = strlen(s);
  wb_uleb(b, n);
  wb_raw(b, s, n);
}

void wb_buf_free(wb_buf_t *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* ---- types --------------------------------------------------------------- */

static uint8_t valtype(char c) {
  switch (c) {
  case 'i': return WH_I32;
  case 'I': return WH_I64;
  case 'f': return WH_F32;
  case 'F': return WH_F64;
  case 'r': return WH_FUNCREF;
  case 'e': return WH_EXTERNREF;
  case 'v': return WH_V128;
  default: abort();
  }
}

void wb_init(wb_mod_t *m) { memset(m, 0, sizeof *m); }

void wb_fini(wb_mod_t *m) {
  for (int i = 0; i < 13; i++) wb_buf_free(&m->sec[i]);
  for (int i = 0; i < WB_MAX_SIGS; i++) free(m->sigs[i]);
  wb_buf_free(&m->names);
  wb_buf_free(&m->custom);
  wb_buf_free(&m->out);
  free(m->module_name);
  memset(m, 0, sizeof *m);
}

uint32_t wb_type(wb_mod_t *m, const char *params, const char *results) {
  char sig[256];
  snprintf(sig, sizeof sig, "%s:%s", params, results);
  for (uint32_t i = 0; i < m->count[1]; i++)
    if (m->sigs[i] && strcmp(m->sigs[i], sig) == 0) return i;
  uint32_t idx = m->count[1]++;
  if (idx < WB_MAX_SIGS) m->sigs[idx] = strdup(sig);
  wb_buf_t *b = &m->sec[1];
  wb_byte(b, 0x60);
  wb_uleb(b, strlen(params));
  for (const char *p = params; *p; p++) wb_byte(b, valtype(*p));
  wb_uleb(b, strlen(results));
  for (const char *p = results; *p; p++) wb_byte(b, valtype(*p));
  return idx;
}

static void limits(wb_buf_t *b, uint32_t min, long long max) {
  wb_byte(b, max == WB_NO_MAX ? 0 : 1);
  wb_uleb(b, min);
  if (max != WB_NO_MAX) wb_uleb(b, (uint64_t)max);
}

/* ---- imports ------------------------------------------------------------- */

static void import_head(wb_mod_t *m, const char *module, const char *name, uint8_t kind) {
  wb_buf_t *b = &m->sec[2];
  m->count[2]++;
  wb_str(b, module);
  wb_str(b, name);
  wb_byte(b, kind);
}

uint32_t wb_import_func(wb_mod_t *m, const char *module, const char *name,
                        const char *params, const char *results) {
  if (m->nfuncs > m->nfunc_imports) abort();   /* imports come first */
  uint32_t t = wb_type(m, params, results);
  import_head(m, module, name, WH_EXTERN_FUNC);
  wb_uleb(&m->sec[2], t);
  m->nfunc_imports++;
  return m->nfuncs++;
}

uint32_t wb_import_func_n(wb_mod_t *m, const char *module, size_t mlen, const char *name,
                          size_t nlen, const char *params, const char *results) {
  if (m->nfuncs > m->nfunc_imports) abort();
  uint32_t t = wb_type(m, params, results);
  wb_buf_t *b = &m->sec[2];
  m->count[2]++;
  wb_uleb(b, mlen);
  wb_raw(b, module, mlen);
  wb_uleb(b, nlen);
  wb_raw(b, name, nlen);
  wb_byte(b, WH_EXTERN_FUNC);
  wb_uleb(b, t);
  m->nfunc_imports++;
  return m->nfuncs++;
}

uint32_t wb_import_memory(wb_mod_t *m, const char *module, const char *name,
                          uint32_t min, long long max) {
  import_head(m, module, name, WH_EXTERN_MEMORY);
  limits(&m->sec[2], min, max);
  return m->nmems++;
}

uint32_t wb_import_table(wb_mod_t *m, const char *module, const char *name,
                         uint8_t reftype, uint32_t min, long long max) {
  import_head(m, module, name, WH_EXTERN_TABLE);
  wb_byte(&m->sec[2], reftype);
  limits(&m->sec[2], min, max);
  return m->ntables++;
}

uint32_t wb_import_global(wb_mod_t *m, const char *module, const char *name,
                          char type, bool mut) {
  import_head(m, module, name, WH_EXTERN_GLOBAL);
  wb_byte(&m->sec[2], valtype(type));
  wb_byte(&m->sec[2], mut ? 1 : 0);
  return m->nglobals++;
}

/* ---- definitions --------------------------------------------------------- */

uint32_t wb_func_raw(wb_mod_t *m, uint32_t type, const uint8_t *body, size_t n) {
  m->count[3]++;
  wb_uleb(&m->sec[3], type);
  m->count[10]++;
  wb_uleb(&m->sec[10], n);
  wb_raw(&m->sec[10], body, n);
  return m->nfuncs++;
}

uint32_t wb_func(wb_mod_t *m, const char *params, const char *results,
                 const char *locals, const uint8_t *code, size_t n) {
  wb_buf_t body = {0};
  /* local declarations: runs of equal types */
  uint32_t groups = 0;
  for (const char *p = locals; *p;) {
    const char *q = p;
    while (*q == *p) q++;
    groups++;
    p = q;
  }
  wb_uleb(&body, groups);
  for (const char *p = locals; *p;) {
    const char *q = p;
    while (*q == *p) q++;
    wb_uleb(&body, (uint64_t)(q - p));
    wb_byte(&body, valtype(*p));
    p = q;
  }
  wb_raw(&body, code, n);
  wb_byte(&body, END);
  uint32_t idx = wb_func_raw(m, wb_type(m, params, results), body.p, body.len);
  wb_buf_free(&body);
  return idx;
}

uint32_t wb_table(wb_mod_t *m, uint8_t reftype, uint32_t min, long long max) {
  m->count[4]++;
  wb_byte(&m->sec[4], reftype);
  limits(&m->sec[4], min, max);
  return m->ntables++;
}

uint32_t wb_memory(wb_mod_t *m, uint32_t min, long long max) {
  m->count[5]++;
  limits(&m->sec[5], min, max);
  return m->nmems++;
}

uint32_t wb_global(wb_mod_t *m, char type, bool mut, const uint8_t *init, size_t n) {
  m->count[6]++;
  wb_byte(&m->sec[6], valtype(type));
  wb_byte(&m->sec[6], mut ? 1 : 0);
  wb_raw(&m->sec[6], init, n);
  wb_byte(&m->sec[6], END);
  return m->nglobals++;
}

void wb_export(wb_mod_t *m, const char *name, wh_externkind_t kind, uint32_t index) {
  m->count[7]++;
  wb_str(&m->sec[7], name);
  wb_byte(&m->sec[7], (uint8_t)kind);
  wb_uleb(&m->sec[7], index);
}

void wb_export_n(wb_mod_t *m, const char *name, size_t len, wh_externkind_t kind,
                 uint32_t index) {
  m->count[7]++;
  wb_uleb(&m->sec[7], len);
  wb_raw(&m->sec[7], name, len);
  wb_byte(&m->sec[7], (uint8_t)kind);
  wb_uleb(&m->sec[7], index);
}

void wb_start(wb_mod_t *m, uint32_t func) {
  m->sec[8].len = 0;
  wb_uleb(&m->sec[8], func);
  m->want[8] = true;
}

void wb_elem(wb_mod_t *m, int32_t offset, const uint32_t *funcs, uint32_t n) {
  wb_buf_t *b = &m->sec[9];
  m->count[9]++;
  wb_byte(b, 0);             /* active, table 0, function indices */
  wb_byte(b, 0x41);
  wb_sleb(b, offset);
  wb_byte(b, END);
  wb_uleb(b, n);
  for (uint32_t i = 0; i < n; i++) wb_uleb(b, funcs[i]);
}

void wb_elem_declare(wb_mod_t *m, const uint32_t *funcs, uint32_t n) {
  wb_buf_t *b = &m->sec[9];
  m->count[9]++;
  wb_byte(b, 3);             /* declarative, elemkind 0, function indices */
  wb_byte(b, 0);
  wb_uleb(b, n);
  for (uint32_t i = 0; i < n; i++) wb_uleb(b, funcs[i]);
}

void wb_data(wb_mod_t *m, int32_t offset, const void *bytes, size_t n) {
  wb_buf_t *b = &m->sec[11];
  m->count[11]++;
  wb_byte(b, 0);
  wb_byte(b, 0x41);
  wb_sleb(b, offset);
  wb_byte(b, END);
  wb_uleb(b, n);
  wb_raw(b, bytes, n);
}

void wb_data_passive(wb_mod_t *m, const void *bytes, size_t n) {
  wb_buf_t *b = &m->sec[11];
  m->count[11]++;
  wb_byte(b, 1);
  wb_uleb(b, n);
  wb_raw(b, bytes, n);
}

void wb_data_mem(wb_mod_t *m, uint32_t mem, int32_t offset, const void *bytes, size_t n) {
  wb_buf_t *b = &m->sec[11];
  m->count[11]++;
  wb_byte(b, 2);
  wb_uleb(b, mem);
  wb_byte(b, 0x41);
  wb_sleb(b, offset);
  wb_byte(b, END);
  wb_uleb(b, n);
  wb_raw(b, bytes, n);
}

void wb_datacount(wb_mod_t *m) { m->want[12] = true; }

void wb_name_func(wb_mod_t *m, uint32_t func, const char *name) {
  m->nnames++;
  wb_uleb(&m->names, func);
  wb_str(&m->names, name);
}

void wb_name_module(wb_mod_t *m, const char *name) {
  free(m->module_name);
  m->module_name = strdup(name);
}

void wb_custom(wb_mod_t *m, const char *name, const void *bytes, size_t n) {
  wb_buf_t body = {0};
  wb_str(&body, name);
  wb_raw(&body, bytes, n);
  wb_byte(&m->custom, 0);
  wb_uleb(&m->custom, body.len);
  wb_raw(&m->custom, body.p, body.len);
  wb_buf_free(&body);
}

/* ---- output -------------------------------------------------------------- */

static void note_end(wb_mod_t *m) {
  if (m->nends < WB_MAX_SECTIONS) m->ends[m->nends++] = m->out.len;
}

static void section(wb_mod_t *m, uint8_t id, const wb_buf_t *body) {
  wb_byte(&m->out, id);
  wb_uleb(&m->out, body->len);
  wb_raw(&m->out, body->p, body->len);
  note_end(m);
}

const uint8_t *wb_bytes(wb_mod_t *m, size_t *len) {
  static const uint8_t order[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 10, 11};
  m->out.len = 0;
  m->nends = 0;
  wb_raw(&m->out, "\0asm\1\0\0\0", 8);
  note_end(m);
  for (size_t k = 0; k < sizeof order; k++) {
    uint8_t id = order[k];
    wb_buf_t body = {0};
    if (id == 8) {
      if (!m->want[8]) continue;
      wb_raw(&body, m->sec[8].p, m->sec[8].len);
    } else if (id == 12) {
      if (!m->want[12]) continue;
      wb_uleb(&body, m->count[11]);
    } else {
      if (!m->count[id] && !m->want[id]) continue;
      wb_uleb(&body, m->count[id]);
      wb_raw(&body, m->sec[id].p, m->sec[id].len);
    }
    section(m, id, &body);
    wb_buf_free(&body);
  }
  if (m->nnames || m->module_name) {
    wb_buf_t body = {0}, sub = {0};
    wb_str(&body, "name");
    if (m->module_name) {
      wb_str(&sub, m->module_name);
      wb_byte(&body, 0);
      wb_uleb(&body, sub.len);
      wb_raw(&body, sub.p, sub.len);
      sub.len = 0;
    }
    if (m->nnames) {
      wb_uleb(&sub, m->nnames);
      wb_raw(&sub, m->names.p, m->names.len);
      wb_byte(&body, 1);
      wb_uleb(&body, sub.len);
      wb_raw(&body, sub.p, sub.len);
    }
    section(m, 0, &body);
    wb_buf_free(&body);
    wb_buf_free(&sub);
  }
  if (m->custom.len) {
    wb_raw(&m->out, m->custom.p, m->custom.len);
    note_end(m);
  }
  *len = m->out.len;
  return m->out.p;
}
