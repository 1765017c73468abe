/*
 * module.c - engines (config, interned function types, fingerprint) and
 * modules (decode + compile, import/export listings).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "native.h"
#include "wcode.h"

#ifndef WHARF_VERSION
#define WHARF_VERSION "0.0.0"
#endif

/* Bumped whenever wcode's encoding or the module layout changes: part of
 * the fingerprint, so stale cache entries are never loaded. */
#define WH_WCODE_VERSION 3     /* 2: multi-memory ops; 3: SIMD ops, v128 globals */

void wh_engine_config_default(wh_engine_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->fuel = true;
  cfg->epoch_interrupt = true;
  cfg->max_wasm_stack = 1u << 20;
  cfg->max_call_depth = 10000;
}

wh_engine_t *wh_engine_new(const wh_engine_config_t *cfg) {
  wh_engine_t *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  if (cfg) e->cfg = *cfg;
  else wh_engine_config_default(&e->cfg);
  if (!e->cfg.max_wasm_stack) e->cfg.max_wasm_stack = 1u << 20;
  if (!e->cfg.max_call_depth) e->cfg.max_call_depth = 10000;
  pthread_mutex_init(&e->types_lock, NULL);
  snprintf(e->fingerprint, sizeof e->fingerprint,
           "wharf-%s/tier0-interp/wcode%d/fuel%d/epoch%d/simd%d/%zu", WHARF_VERSION,
           WH_WCODE_VERSION, e->cfg.fuel ? 1 : 0, e->cfg.epoch_interrupt ? 1 : 0,
           e->cfg.simd ? 1 : 0,
           sizeof(void *) * 8);
  if (e->cfg.tier != WH_TIER_INTERP) {  /* native code: the CPU and layout too */
    size_t n = strlen(e->fingerprint);
    snprintf(e->fingerprint + n, sizeof e->fingerprint - n, "/%s/%s/l%08x/n%d",
             wh_tier_name(e->cfg.tier), wh__native_cpu_id(), wh__native_layout_hash(),
             WH_NATIVE_CODE_VERSION);
  }
  wh__interp_labels();
  return e;
}

void wh_engine_free(wh_engine_t *e) {
  if (!e) return;
  for (size_t b = 0; b < sizeof e->types / sizeof *e->types; b++) {
    wh_functype_t *t = e->types[b];
    while (t) {
      wh_functype_t *next = t->next;
      free(t->types);
      free(t->sig);
      free(t->sig_params);
      free(t);
      t = next;
    }
  }
  pthread_mutex_destroy(&e->types_lock);
  free(e);
}

const char *wh_engine_fingerprint(const wh_engine_t *e) { return e->fingerprint; }

char wh__valtype_char(uint8_t t) {
  switch (t) {
  case WH_I32: return 'i';
  case WH_I64: return 'I';
  case WH_F32: return 'f';
  case WH_F64: return 'F';
  case WH_FUNCREF: return 'r';
  case WH_EXTERNREF: return 'e';
  case WH_V128: return 'v';
  default: return '?';
  }
}

static uint8_t char_valtype(char c) {
  switch (c) {
  case 'i': return WH_I32;
  case 'I': return WH_I64;
  case 'f': return WH_F32;
  case 'F': return WH_F64;
  case 'r': return WH_FUNCREF;
  case 'e': return WH_EXTERNREF;
  default: return 0;
  }
}

const wh_functype_t *wh__type_intern(wh_engine_t *e, const uint8_t *types,
                                     uint32_t nparams, uint32_t nresults) {
  uint32_t n = nparams + nresults;
  uint32_t h = 2166136261u ^ nparams;
  for (uint32_t i = 0; i < n; i++) h = (h ^ types[i]) * 16777619u;
  size_t b = h % (sizeof e->types / sizeof *e->types);
  pthread_mutex_lock(&e->types_lock);
  wh_functype_t *t;
  for (t = e->types[b]; t; t = t->next)
    if (t->nparams == nparams && t->nresults == nresults &&
        memcmp(t->types, types, n) == 0)
      goto out;
  t = calloc(1, sizeof *t);
  if (!t) goto out;
  t->nparams = nparams;
  t->nresults = nresults;
  t->types = malloc(n ? n : 1);
  t->sig = malloc(n + 2);
  t->sig_params = malloc(nparams + 1);
  if (!t->types || !t->sig || !t->sig_params) {
    free(t->types);
    free(t->sig);
    free(t->sig_params);
    free(t);
    t = NULL;
    goto out;
  }
  memcpy(t->types, types, n);
  for (uint32_t i = 0; i < nparams; i++) t->sig[i] = t->sig_params[i] = wh__valtype_char(types[i]);
  t->sig_params[nparams] = '\0';
  t->sig[nparams] = ':';
  for (uint32_t i = 0; i < nresults; i++) t->sig[nparams + 1 + i] = wh__valtype_char(types[nparams + i]);
  t->sig[n + 1] = '\0';
  t->sig_results = t->sig + nparams + 1;
  t->next = e->types[b];
  e->types[b] = t;
out:
  pthread_mutex_unlock(&e->types_lock);
  return t;
}

const wh_functype_t *wh__type_intern_sig(wh_engine_t *e, const char *params,
                                         const char *results) {
  size_t np = strlen(params), nr = strlen(results);
  if (np > WH_MAX_PARAMS || nr > WH_MAX_PARAMS) return NULL;
  uint8_t buf[2 * WH_MAX_PARAMS];
  for (size_t i = 0; i < np; i++)
    if (!(buf[i] = char_valtype(params[i]))) return NULL;
  for (size_t i = 0; i < nr; i++)
    if (!(buf[np + i] = char_valtype(results[i]))) return NULL;
  return wh__type_intern(e, buf, (uint32_t)np, (uint32_t)nr);
}

wh_module_t *wh_module_new(wh_engine_t *e, const uint8_t *bytes, size_t len,
                           wh_diag_t *diag) {
  wh_diag_clear(diag);
  if (len > UINT32_MAX) {
    wh_diag_set(diag, WH_ELIMIT, -1, "module larger than 4 GiB");
    return NULL;
  }
  wh_module_t *m = calloc(1, sizeof *m);
  if (!m) {
    wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    return NULL;
  }
  m->engine = e;
  if (wh__decode_module(m, bytes, len, diag)) goto fail;
  if (wh__compile_module(m, bytes, len, diag)) goto fail;
  if (e->cfg.tier == WH_TIER_NATIVE) {
    wh_diag_t nd;
    wh_diag_clear(&nd);
    int rc = wh__native_compile(m, &nd);
    if (rc == WH_EUNSUPPORTED && wh__native_available()) {
      m->native_reason = strdup(nd.msg);   /* the interpreter runs it */
      if (!m->native_reason) {
        wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
        goto fail;
      }
    } else if (rc) {
      if (diag) *diag = nd;
      goto fail;
    }
  } else if (e->cfg.tier == WH_TIER_AUTO) {
    wh__native_tierup_start(m);   /* no thread: it stays interpreted */
  }
  return m;
fail:
  wh_module_free(m);
  return NULL;
}

void wh_module_free(wh_module_t *m) {
  if (!m) return;
  void *att = atomic_load(&m->attachment);
  if (att && m->attachment_fini) m->attachment_fini(att);
  wh__native_tierup_stop(m);
  wh__module_fini(m);
  wh__native_free(m->native);
  free(m->native_reason);
  free(m);
}

wh_tier_t wh_module_tier(const wh_module_t *m, const char **reason) {
  const wh_native_code_t *nc = wh__native_of(m);
  if (reason) *reason = nc ? NULL : __atomic_load_n(&m->native_reason, __ATOMIC_ACQUIRE);
  return nc ? WH_TIER_NATIVE : WH_TIER_INTERP;
}

bool wh_tier_available(wh_tier_t t) {
  return t == WH_TIER_INTERP || wh__native_available();
}

int wh_tier_check(wh_tier_t t, wh_diag_t *diag) {
  wh_diag_clear(diag);
  return t == WH_TIER_INTERP ? 0 : wh__native_compiler_check(diag);
}

const char *wh_tier_name(wh_tier_t t) {
  switch (t) {
  case WH_TIER_NATIVE: return "native";
  case WH_TIER_AUTO: return "auto";
  default: return "interp";
  }
}

int wh_tier_parse(const char *name) {
  if (strcmp(name, "interp") == 0) return WH_TIER_INTERP;
  if (strcmp(name, "native") == 0) return WH_TIER_NATIVE;
  if (strcmp(name, "auto") == 0) return WH_TIER_AUTO;
  return -1;
}

uint32_t wh_module_import_count(const wh_module_t *m) { return m->nimports; }

int wh_module_import(const wh_module_t *m, uint32_t i, const char **module,
                     const char **name, wh_externkind_t *kind) {
  if (i >= m->nimports) return WH_ENOTFOUND;
  if (module) *module = m->imports[i].module;
  if (name) *name = m->imports[i].name;
  if (kind) *kind = (wh_externkind_t)m->imports[i].kind;
  return 0;
}

uint32_t wh_module_export_count(const wh_module_t *m) { return m->nexports; }

int wh_module_export(const wh_module_t *m, uint32_t i, const char **name,
                     wh_externkind_t *kind) {
  if (i >= m->nexports) return WH_ENOTFOUND;
  if (name) *name = m->exports[i].name;
  if (kind) *kind = (wh_externkind_t)m->exports[i].kind;
  return 0;
}

int wh_module_export_functype(const wh_module_t *m, const char *name,
                              const char **params, const char **results) {
  for (uint32_t i = 0; i < m->nexports; i++) {
    const wh_export_desc_t *x = &m->exports[i];
    if (x->kind != WH_EXTERN_FUNC || strcmp(x->name, name) != 0) continue;
    const wh_functype_t *ft = m->types[m->func_types[x->index]];
    if (params) *params = ft->sig_params;
    if (results) *results = ft->sig_results;
    return 0;
  }
  return WH_ENOTFOUND;
}

void *wh_module_attach(const wh_module_t *m, void *p, void (*fini)(void *)) {
  wh_module_t *mm = (wh_module_t *)m;   /* the attachment is a cache */
  void *expected = NULL;
  if (atomic_compare_exchange_strong(&mm->attachment, &expected, p)) {
    mm->attachment_fini = fini;
    return p;
  }
  return expected;
}

void *wh_module_attachment(const wh_module_t *m) {
  return atomic_load(&((wh_module_t *)m)->attachment);
}

int wh_module_memory_image(const wh_module_t *m, uint8_t **bytes, size_t *len) {
  *bytes = NULL;
  *len = 0;
  if (m->nmems == 0 || m->nmem_imports) return WH_EUNSUPPORTED;
  /* the image is memory 0's; segments for other memories are applied at
   * instantiation, so none of them may trap either (a trap there must
   * leave the later memory-0 segments unwritten) */
  uint64_t end = 0;
  for (uint32_t i = 0; i < m->ndatas; i++) {
    const wh_data_seg_t *s = &m->datas[i];
    if (s->mode != WH_SEG_ACTIVE) continue;
    if (s->offset.kind != WH_CEXPR_CONST) return WH_EUNSUPPORTED;
    uint64_t off = (uint32_t)s->offset.bits;
    if (off + s->len > m->mems[s->mem].min * WH_PAGE_SIZE)
      return WH_EUNSUPPORTED;                         /* traps: eager path */
    if (s->mem == 0 && s->len && off + s->len > end) end = off + s->len;
  }
  if (end == 0) return 0;
  uint8_t *img = calloc(1, end);
  if (!img) return WH_ENOMEM;
  for (uint32_t i = 0; i < m->ndatas; i++) {   /* in order: later wins */
    const wh_data_seg_t *s = &m->datas[i];
    if (s->mode == WH_SEG_ACTIVE && s->mem == 0 && s->len)
      memcpy(img + (uint32_t)s->offset.bits, s->bytes, s->len);
  }
  *bytes = img;
  *len = end;
  return 0;
}
