/*
 * instance.c - memories, tables, globals, the linker and instantiation.
 *
 * Memory: the whole maximum (at most 4 GiB) is reserved PROT_NONE at
 * creation and grown by mprotect, so the base address never moves and the
 * interpreter may cache it.  A module may have several memories
 * (multi-memory): a defined memory 0 takes the allocator's slot, the others
 * are reserved here on demand; the exec's memory limit caps each of them.
 *
 * Instantiation follows the spec's order: resolve imports, globals,
 * functions, tables, memory, evaluate element segments, apply active
 * element then data segments (a trap stops there, leaving earlier writes
 * to imported tables and memories in place), run the start function.  An
 * instance whose initialisation trapped may already have put its functions
 * into an imported table: if its imports allow that (refs_may_escape), it
 * is kept alive by the linker until wh_linker_free so those stay callable;
 * otherwise it is freed at once, giving its pool slots back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine_int.h"
#include "native.h"

/* ---- memories ------------------------------------------------------------ */

wh_memory_t *wh__memory_create(uint64_t min_pages, uint64_t max_pages) {
  if (max_pages > WH_MAX_PAGES) max_pages = WH_MAX_PAGES;
  if (min_pages > max_pages) return NULL;
  wh_memory_t *mem = calloc(1, sizeof *mem);
  if (!mem) return NULL;
  mem->max_pages = max_pages;
  mem->reserved = max_pages * WH_PAGE_SIZE;
  if (mem->reserved == 0) {
    mem->base = NULL;
    return mem;
  }
  void *p = mmap(NULL, mem->reserved, PROT_NONE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    free(mem);
    return NULL;
  }
  mem->base = p;
  if (min_pages && mprotect(p, min_pages * WH_PAGE_SIZE, PROT_READ | PROT_WRITE)) {
    munmap(p, mem->reserved);
    free(mem);
    return NULL;
  }
  mem->size = min_pages * WH_PAGE_SIZE;
  return mem;
}

int64_t wh__memory_grow(wh_memory_t *mem, uint64_t delta) {
  if (!mem) return -1;
  uint64_t old = mem->size / WH_PAGE_SIZE;
  if (delta == 0) return (int64_t)old;
  if (delta > mem->max_pages || old + delta > mem->max_pages) return -1;
  if (mem->budget && !wh__budget_charge(mem->budget, delta * WH_PAGE_SIZE)) return -1;
  if (mprotect(mem->base + mem->size, delta * WH_PAGE_SIZE, PROT_READ | PROT_WRITE)) {
    if (mem->budget) wh__budget_refund(mem->budget, delta * WH_PAGE_SIZE);
    return -1;
  }
  mem->size += delta * WH_PAGE_SIZE;
  return (int64_t)old;
}

/* Charges a new memory of the instance to the exec's budget (all the
 * memories of an invocation together stay under the limit). */
static int charge_memory(wh_memory_t *mem, const wh_exec_t *exec, wh_diag_t *diag) {
  wh_mem_budget_t *b = exec->budget;
  if (!b) return 0;
  if (!wh__budget_charge(b, mem->size))
    return wh_diag_set(diag, WH_ERANGE, -1,
                       "the instance's memories need %llu more bytes; %llu of the limit of "
                       "%llu are in use", (unsigned long long)mem->size,
                       (unsigned long long)atomic_load(&b->used), (unsigned long long)b->limit);
  atomic_fetch_add(&b->refs, 1);
  mem->budget = b;
  return 0;
}

static void uncharge_memory(wh_memory_t *mem) {
  if (!mem->budget) return;
  wh__budget_refund(mem->budget, mem->size);
  wh__budget_unref(mem->budget);
  mem->budget = NULL;
}

static void memory_destroy(wh_memory_t *mem) {
  if (!mem) return;
  if (mem->base) munmap(mem->base, mem->reserved);
  free(mem);
}

wh_memory_t *wh_memory_new(uint32_t min_pages, uint32_t max_pages) {
  wh_memory_t *mem =
      wh__memory_create(min_pages, max_pages == UINT32_MAX ? WH_MAX_PAGES : max_pages);
  if (mem) mem->decl_max = max_pages != UINT32_MAX;
  return mem;
}

void wh_memory_free(wh_memory_t *mem) { memory_destroy(mem); }

uint8_t *wh_memory_data(wh_memory_t *mem, uint64_t *size) {
  if (size) *size = mem->size;
  return mem->base;
}

/* ---- tables and globals --------------------------------------------------- */

static int table_init(wh_table_t *t, uint8_t elem, uint32_t min, uint32_t max) {
  t->elem = elem;
  t->size = min;
  t->max = max;
  t->capacity = min;
  t->elems = calloc(min ? min : 1, sizeof *t->elems);
  return t->elems ? 0 : WH_ENOMEM;
}

int64_t wh__table_grow(wh_table_t *t, uint32_t delta, void *init) {
  uint32_t old = t->size;
  if (delta == 0) return old;
  uint64_t want = (uint64_t)old + delta;
  if (want > t->max || want > WH_MAX_TABLE_SIZE) return -1;
  if (want > t->capacity) {
    if (t->pooled) return -1;             /* a pool slot never moves */
    void **p = realloc(t->elems, want * sizeof *p);
    if (!p) return -1;
    t->elems = p;
    t->capacity = (uint32_t)want;
  }
  for (uint64_t i = old; i < want; i++) t->elems[i] = init;
  t->size = (uint32_t)want;
  return old;
}

wh_table_t *wh_table_new(wh_valtype_t elem, uint32_t min, uint32_t max) {
  if (min > WH_MAX_TABLE_SIZE) return NULL;
  wh_table_t *t = calloc(1, sizeof *t);
  if (!t) return NULL;
  if (table_init(t, (uint8_t)elem, min, max)) {
    free(t);
    return NULL;
  }
  return t;
}

void wh_table_free(wh_table_t *t) {
  if (!t) return;
  free(t->elems);
  free(t);
}

wh_global_t *wh_global_new(wh_val_t init, bool mutable_) {
  wh_global_t *g = calloc(1, sizeof *g);
  if (!g) return NULL;
  g->type = (uint8_t)init.type;
  g->mut = mutable_;
  switch (init.type) {
  case WH_I32: g->value = (uint32_t)init.of.i32; break;
  case WH_F32: { uint32_t b; memcpy(&b, &init.of.f32, 4); g->value = b; break; }
  case WH_F64: memcpy(&g->value, &init.of.f64, 8); break;
  case WH_FUNCREF: case WH_EXTERNREF: g->value = (uint64_t)(uintptr_t)init.of.ref; break;
  case WH_V128: g->value = init.of.v128[0]; g->value_hi = init.of.v128[1]; break;
  default: g->value = (uint64_t)init.of.i64; break;
  }
  return g;
}

void wh_global_free(wh_global_t *g) { free(g); }

wh_val_t wh_global_get(const wh_global_t *g) {
  wh_val_t v;
  v.type = (wh_valtype_t)g->type;
  switch (g->type) {
  case WH_I32: v.of.i32 = (int32_t)(uint32_t)g->value; break;
  case WH_F32: { uint32_t b = (uint32_t)g->value; memcpy(&v.of.f32, &b, 4); break; }
  case WH_F64: memcpy(&v.of.f64, &g->value, 8); break;
  case WH_FUNCREF: case WH_EXTERNREF: v.of.ref = (void *)(uintptr_t)g->value; break;
  case WH_V128: v.of.v128[0] = g->value; v.of.v128[1] = g->value_hi; break;
  default: v.of.i64 = (int64_t)g->value; break;
  }
  return v;
}

/* ---- the linker ---------------------------------------------------------- */

typedef struct link_entry {
  char *module, *name;
  size_t module_len, name_len;
  uint8_t kind;
  wh_func_t *func;        /* a host func (owned) or an instance's func */
  bool func_owned;
  wh_table_t *table;
  wh_memory_t *mem;
  wh_global_t *global;
} link_entry_t;

struct wh_linker {
  wh_engine_t *engine;
  link_entry_t *entries;
  size_t n, cap;
  wh_instance_t **failed;   /* instances whose initialisation trapped */
  size_t nfailed;
};

wh_linker_t *wh_linker_new(wh_engine_t *e) {
  wh_linker_t *l = calloc(1, sizeof *l);
  if (l) l->engine = e;
  return l;
}

void wh_linker_free(wh_linker_t *l) {
  if (!l) return;
  for (size_t i = 0; i < l->n; i++) {
    free(l->entries[i].module);
    free(l->entries[i].name);
    if (l->entries[i].func_owned) free(l->entries[i].func);
  }
  free(l->entries);
  for (size_t i = l->nfailed; i-- > 0;) wh_instance_free(l->failed[i]);
  free(l->failed);
  free(l);
}

static char *dup_name(const char *s, size_t len) {
  char *d = malloc(len + 1);
  if (d) {
    memcpy(d, s, len);
    d[len] = '\0';
  }
  return d;
}

static link_entry_t *add_entry_n(wh_linker_t *l, const char *module, size_t mlen,
                                 const char *name, size_t nlen, uint8_t kind) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 32;
    link_entry_t *p = realloc(l->entries, cap * sizeof *p);
    if (!p) return NULL;
    l->entries = p;
    l->cap = cap;
  }
  link_entry_t *e = &l->entries[l->n];
  memset(e, 0, sizeof *e);
  e->module = dup_name(module, mlen);
  e->name = dup_name(name, nlen);
  e->module_len = mlen;
  e->name_len = nlen;
  if (!e->module || !e->name) {
    free(e->module);
    free(e->name);
    return NULL;
  }
  e->kind = kind;
  l->n++;
  return e;
}

static link_entry_t *add_entry(wh_linker_t *l, const char *module,
                               const char *name, uint8_t kind) {
  return add_entry_n(l, module, strlen(module), name, strlen(name), kind);
}

static link_entry_t *find_entry(wh_linker_t *l, const wh_import_desc_t *im) {
  for (size_t i = l->n; i-- > 0;) {
    const link_entry_t *e = &l->entries[i];
    if (wh__name_eq(e->module, e->module_len, im->module, im->module_len) &&
        wh__name_eq(e->name, e->name_len, im->name, im->name_len))
      return &l->entries[i];
  }
  return NULL;
}

int wh_linker_define_func(wh_linker_t *l, const char *module, const char *name,
                          const char *params, const char *results,
                          wh_host_fn_t fn, void *env) {
  const wh_functype_t *ft = wh__type_intern_sig(l->engine, params, results);
  if (!ft || !fn) return WH_EINVAL;
  wh_func_t *f = calloc(1, sizeof *f);
  if (!f) return WH_ENOMEM;
  f->type = ft;
  f->host = fn;
  f->env = env;
  link_entry_t *e = add_entry(l, module, name, WH_EXTERN_FUNC);
  if (!e) {
    free(f);
    return WH_ENOMEM;
  }
  e->func = f;
  e->func_owned = true;
  return 0;
}

int wh_linker_define_memory(wh_linker_t *l, const char *module, const char *name,
                            wh_memory_t *mem) {
  link_entry_t *e = add_entry(l, module, name, WH_EXTERN_MEMORY);
  if (!e) return WH_ENOMEM;
  e->mem = mem;
  return 0;
}

int wh_linker_define_table(wh_linker_t *l, const char *module, const char *name,
                           wh_table_t *tab) {
  link_entry_t *e = add_entry(l, module, name, WH_EXTERN_TABLE);
  if (!e) return WH_ENOMEM;
  e->table = tab;
  return 0;
}

int wh_linker_define_global(wh_linker_t *l, const char *module, const char *name,
                            wh_global_t *g) {
  link_entry_t *e = add_entry(l, module, name, WH_EXTERN_GLOBAL);
  if (!e) return WH_ENOMEM;
  e->global = g;
  return 0;
}

int wh_linker_define_instance(wh_linker_t *l, const char *module, wh_instance_t *inst) {
  const wh_module_t *m = inst->module;
  for (uint32_t i = 0; i < m->nexports; i++) {
    const wh_export_desc_t *x = &m->exports[i];
    link_entry_t *e = add_entry_n(l, module, strlen(module), x->name, x->name_len, x->kind);
    if (!e) return WH_ENOMEM;
    switch (x->kind) {
    case WH_EXTERN_FUNC: e->func = inst->funcs[x->index]; break;
    case WH_EXTERN_TABLE: e->table = inst->tables[x->index]; break;
    case WH_EXTERN_MEMORY: e->mem = inst->mems[x->index]; break;
    case WH_EXTERN_GLOBAL: e->global = inst->globals[x->index]; break;
    }
  }
  return 0;
}

/* ---- instances ----------------------------------------------------------- */

static uint64_t eval_cexpr(const wh_instance_t *inst, const wh_cexpr_t *e) {
  switch (e->kind) {
  case WH_CEXPR_CONST: return e->bits;
  case WH_CEXPR_GLOBAL: return inst->globals[e->index]->value;
  case WH_CEXPR_REF_FUNC: return (uint64_t)(uintptr_t)inst->funcs[e->index];
  default: return 0;
  }
}

static bool limits_match(uint64_t have_min, uint64_t have_max, bool have_has_max,
                         const wh_limits_t *want) {
  if (have_min < want->min) return false;
  if (want->has_max) {
    if (!have_has_max) return false;
    if (have_max > want->max) return false;
  }
  return true;
}

static int link_imports(wh_linker_t *l, const wh_module_t *m, wh_instance_t *inst,
                        wh_diag_t *diag) {
  uint32_t nhost = 0;
  for (uint32_t i = 0; i < m->nimports; i++) {
    const wh_import_desc_t *im = &m->imports[i];
    link_entry_t *e = find_entry(l, im);
    if (!e)
      return wh_diag_set(diag, WH_EUNLINKABLE, -1, "unknown import: %s.%s",
                         im->module, im->name);
    if (e->kind != im->kind)
      return wh_diag_set(diag, WH_EUNLINKABLE, -1,
                         "incompatible import type: %s.%s is a different kind of extern",
                         im->module, im->name);
    switch (im->kind) {
    case WH_EXTERN_FUNC: {
      const wh_functype_t *want = m->types[im->u.type];
      if (e->func->type != want)
        return wh_diag_set(diag, WH_EUNLINKABLE, -1,
                           "incompatible import type: %s.%s has signature (%s), module wants (%s)",
                           im->module, im->name, e->func->type->sig, want->sig);
      if (e->func->host) {
        /* instances own copies of host funcs: they outlive the linker */
        wh_func_t *copy = &inst->own_funcs[m->nfuncs - m->nfunc_imports + nhost++];
        *copy = *e->func;
        inst->funcs[im->index] = copy;
      } else {
        inst->funcs[im->index] = e->func;
      }
      break;
    }
    case WH_EXTERN_TABLE: {
      wh_table_t *t = e->table;
      if (t->elem != im->u.table.elem ||
          !limits_match(t->size, t->max, t->max != UINT32_MAX, &im->u.table.lim))
        return wh_diag_set(diag, WH_EUNLINKABLE, -1,
                           "incompatible import type: table %s.%s", im->module, im->name);
      inst->tables[im->index] = t;
      break;
    }
    case WH_EXTERN_MEMORY: {
      wh_memory_t *mem = e->mem;
      if (!mem || !limits_match(mem->size / WH_PAGE_SIZE, mem->max_pages, mem->decl_max,
                                &im->u.mem))
        return wh_diag_set(diag, WH_EUNLINKABLE, -1,
                           "incompatible import type: memory %s.%s", im->module, im->name);
      inst->mems[im->index] = mem;
      break;
    }
    case WH_EXTERN_GLOBAL: {
      wh_global_t *g = e->global;
      if (g->type != im->u.global.type || g->mut != im->u.global.mut)
        return wh_diag_set(diag, WH_EUNLINKABLE, -1,
                           "incompatible import type: global %s.%s", im->module, im->name);
      inst->globals[im->index] = g;
      break;
    }
    }
  }
  return 0;
}

int wh_linker_check(wh_linker_t *l, const wh_module_t *m, wh_diag_t *diag) {
  wh_diag_clear(diag);
  for (uint32_t i = 0; i < m->nimports; i++) {
    const wh_import_desc_t *im = &m->imports[i];
    link_entry_t *e = find_entry(l, im);
    if (!e)
      return wh_diag_set(diag, WH_EUNLINKABLE, -1, "unknown import: %s.%s", im->module, im->name);
    if (e->kind != im->kind ||
        (im->kind == WH_EXTERN_FUNC && e->func->type != m->types[im->u.type]))
      return wh_diag_set(diag, WH_EUNLINKABLE, -1, "incompatible import type: %s.%s",
                         im->module, im->name);
  }
  return 0;
}

/* Could a reference to one of m's functions have left an instance whose
 * initialisation trapped?  Only through an imported table, a mutable
 * imported reference global, or an imported function taking or returning
 * a reference; without those the instance can be freed at once. */
static bool refs_may_escape(const wh_module_t *m) {
  for (uint32_t i = 0; i < m->nimports; i++) {
    const wh_import_desc_t *im = &m->imports[i];
    if (im->kind == WH_EXTERN_TABLE) return true;
    if (im->kind == WH_EXTERN_GLOBAL && im->u.global.mut &&
        (im->u.global.type == WH_FUNCREF || im->u.global.type == WH_EXTERNREF))
      return true;
    if (im->kind == WH_EXTERN_FUNC) {
      const wh_functype_t *ft = m->types[im->u.type];
      for (uint32_t k = 0; k < ft->nparams + ft->nresults; k++)
        if (ft->types[k] == WH_FUNCREF || ft->types[k] == WH_EXTERNREF) return true;
    }
  }
  return false;
}

static int keep_failed(wh_linker_t *l, wh_instance_t *inst) {
  wh_instance_t **p = realloc(l->failed, (l->nfailed + 1) * sizeof *p);
  if (!p) return WH_ENOMEM;
  l->failed = p;
  l->failed[l->nfailed++] = inst;
  return 0;
}

/* Byte offsets of the parts of an instance's state block. */
typedef struct state_layout {
  size_t funcs, own_funcs, tables, own_tables, mems, own_mems, globals, own_globals;
  size_t elem_refs, elem_len, refs, data_dropped, total;
} state_layout_t;

static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

static void layout_state(const wh_module_t *m, state_layout_t *L) {
  size_t at = align8(sizeof(wh_instance_t));
  uint32_t nrefs = 0;
  for (uint32_t i = 0; i < m->nelems; i++)
    if (m->elems[i].mode != WH_SEG_DECLARATIVE) nrefs += m->elems[i].count;
  L->funcs = at;        at = align8(at + (size_t)m->nfuncs * sizeof(wh_func_t *));
  L->own_funcs = at;    at = align8(at + (size_t)m->nfuncs * sizeof(wh_func_t));
  L->tables = at;       at = align8(at + (size_t)m->ntables * sizeof(wh_table_t *));
  L->own_tables = at;   at = align8(at + (size_t)(m->ntables - m->ntable_imports) * sizeof(wh_table_t));
  L->mems = at;         at = align8(at + (size_t)m->nmems * sizeof(wh_memory_t *));
  L->own_mems = at;     at = align8(at + (size_t)(m->nmems - m->nmem_imports) * sizeof(wh_memory_t));
  L->globals = at;      at = align8(at + (size_t)m->nglobals * sizeof(wh_global_t *));
  L->own_globals = at;  at = align8(at + (size_t)(m->nglobals - m->nglobal_imports) * sizeof(wh_global_t));
  L->elem_refs = at;    at = align8(at + (size_t)m->nelems * sizeof(void **));
  L->elem_len = at;     at = align8(at + (size_t)m->nelems * sizeof(uint32_t));
  L->refs = at;         at = align8(at + (size_t)nrefs * sizeof(void *));
  L->data_dropped = at; at = align8(at + m->ndatas);
  L->total = at;
}

static wh_table_t *own_table(wh_instance_t *inst, const wh_table_def_t *d,
                             wh_table_t *t, wh_diag_t *diag, int *rc) {
  uint32_t min = (uint32_t)d->lim.min;
  uint32_t max = d->lim.has_max ? (uint32_t)d->lim.max : UINT32_MAX;
  if (d->lim.min > WH_MAX_TABLE_SIZE) {
    *rc = wh_diag_set(diag, WH_ELIMIT, -1, "table of %llu elements exceeds the limit of %u",
                      (unsigned long long)d->lim.min, WH_MAX_TABLE_SIZE);
    return NULL;
  }
  t->elem = d->elem;
  t->size = min;
  t->max = max;
  if (inst->alloc) {
    t->elems = inst->alloc->table_acquire(inst->alloc, min, max, &t->capacity);
    t->pooled = true;
    if (!t->elems) {
      *rc = wh_diag_set(diag, WH_ELIMIT, -1,
                        "no table slot for %u elements (pool exhausted or table too large)", min);
      return NULL;
    }
  } else {
    t->capacity = min;
    t->elems = calloc(min ? min : 1, sizeof *t->elems);
    if (!t->elems) {
      *rc = wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
      return NULL;
    }
  }
  return t;
}

/* Sets up defined memory `idx` of `inst`: memory 0 from the allocator if
 * there is one, any other on demand.  *data_ready: the allocator's image
 * already holds memory 0's active data segments. */
static wh_memory_t *own_memory(wh_instance_t *inst, const wh_module_t *m, uint32_t idx,
                               const wh_exec_t *exec, bool *data_ready,
                               wh_diag_t *diag, int *rc) {
  const wh_limits_t *lim = &m->mems[idx];
  uint64_t max_pages = lim->has_max ? lim->max : WH_MAX_PAGES;
  if (exec->memory_limit) {
    uint64_t cap = exec->memory_limit / WH_PAGE_SIZE;
    if (lim->min > cap) {
      *rc = wh_diag_set(diag, WH_ERANGE, -1,
                        "the module needs %llu bytes of memory; the limit is %llu",
                        (unsigned long long)(lim->min * WH_PAGE_SIZE),
                        (unsigned long long)exec->memory_limit);
      return NULL;
    }
    if (max_pages > cap) max_pages = cap;
  }
  wh_memory_t *mem = &inst->own_mems[idx - m->nmem_imports];
  if (!inst->alloc || idx != 0) {
    wh_memory_t *fresh = wh__memory_create(lim->min, max_pages);
    if (!fresh) {
      *rc = wh_diag_set(diag, WH_ENOMEM, -1, "cannot reserve memory of %llu pages",
                        (unsigned long long)lim->min);
      return NULL;
    }
    *mem = *fresh;
    free(fresh);
  } else {
    wh_mem_slot_t slot = {0};
    *rc = inst->alloc->memory_acquire(inst->alloc, m, lim->min * WH_PAGE_SIZE,
                                      max_pages * WH_PAGE_SIZE, &slot);
    if (*rc) {
      wh_diag_set(diag, *rc, -1, *rc == WH_ELIMIT
                  ? "no memory slot: the pool is exhausted or the module's minimum memory exceeds its slot"
                  : "out of memory acquiring a memory slot");
      return NULL;
    }
    mem->base = slot.base;
    mem->size = slot.size;
    mem->reserved = slot.reserved;
    mem->max_pages = slot.max_size / WH_PAGE_SIZE;
    mem->pooled = true;
    *data_ready = slot.data_ready;
  }
  mem->decl_max = lim->has_max;
  inst->nown_mems++;        /* from here on wh_instance_free releases it */
  if ((*rc = charge_memory(mem, exec, diag)) != 0) return NULL;
  return mem;
}

int wh_linker_instantiate_in(wh_linker_t *l, const wh_module_t *m, wh_exec_t *exec,
                             wh_inst_alloc_t *alloc, wh_instance_t **out,
                             wh_diag_t *diag) {
  int rc = WH_ENOMEM;
  state_layout_t L;
  wh_diag_clear(diag);
  *out = NULL;
  layout_state(m, &L);
  uint8_t *block = alloc ? alloc->state_acquire(alloc, L.total) : calloc(1, L.total);
  if (!block)
    return wh_diag_set(diag, alloc ? WH_ELIMIT : WH_ENOMEM, -1,
                       alloc ? "no instance slot: the pool is exhausted or the module's state exceeds its slot"
                             : "out of memory");
  wh_instance_t *inst = (wh_instance_t *)block;
  inst->module = m;
  inst->engine = m->engine;
  inst->alloc = alloc;
  inst->state_size = L.total;
  uint32_t ndefs = m->nfuncs - m->nfunc_imports;
  inst->funcs = (wh_func_t **)(block + L.funcs);
  inst->own_funcs = (wh_func_t *)(block + L.own_funcs);
  inst->tables = (wh_table_t **)(block + L.tables);
  inst->own_tables = (wh_table_t *)(block + L.own_tables);
  inst->mems = (wh_memory_t **)(block + L.mems);
  inst->own_mems = (wh_memory_t *)(block + L.own_mems);
  inst->globals = (wh_global_t **)(block + L.globals);
  inst->own_globals = (wh_global_t *)(block + L.own_globals);
  inst->nelems = m->nelems;
  inst->elem_refs = (void ***)(block + L.elem_refs);
  inst->elem_len = (uint32_t *)(block + L.elem_len);
  inst->data_dropped = block + L.data_dropped;

  rc = link_imports(l, m, inst, diag);
  if (rc) goto fail;

  for (uint32_t i = 0; i < ndefs; i++) {
    wh_func_t *f = &inst->own_funcs[i];
    f->type = m->defs[i].ft;
    f->inst = inst;
    f->def = i;
    if (wh__native_of(m)) { /* callers see a host function (native.h) */
      f->host = wh__native_host_entry;
      f->env = f;
    }
    inst->funcs[m->nfunc_imports + i] = f;
  }
  for (uint32_t i = m->nglobal_imports; i < m->nglobals; i++) {
    wh_global_t *g = &inst->own_globals[i - m->nglobal_imports];
    g->type = m->globals[i].type;
    g->mut = m->globals[i].mut;
    g->value = eval_cexpr(inst, &m->globals[i].init);
    if (g->type == WH_V128) {  /* v128.const, or global.get of a v128 */
      const wh_cexpr_t *e = &m->globals[i].init;
      g->value_hi = e->kind == WH_CEXPR_GLOBAL ? inst->globals[e->index]->value_hi
                                               : e->bits_hi;
    }
    inst->globals[i] = g;
  }
  for (uint32_t i = m->ntable_imports; i < m->ntables; i++) {
    wh_table_t *t = own_table(inst, &m->tables[i], &inst->own_tables[i - m->ntable_imports],
                              diag, &rc);
    if (!t) goto fail;
    inst->nown_tables++;
    inst->tables[i] = t;
  }
  bool data_ready = false;
  for (uint32_t i = m->nmem_imports; i < m->nmems; i++) {
    inst->mems[i] = own_memory(inst, m, i, exec, &data_ready, diag, &rc);
    if (!inst->mems[i]) goto fail;
  }
  inst->mem = m->nmems ? inst->mems[0] : NULL;
  void **refs = (void **)(block + L.refs);
  for (uint32_t i = 0; i < m->nelems; i++) {
    const wh_elem_seg_t *s = &m->elems[i];
    if (s->mode == WH_SEG_DECLARATIVE) continue;
    inst->elem_refs[i] = refs;
    inst->elem_len[i] = s->count;
    for (uint32_t k = 0; k < s->count; k++)
      refs[k] = (void *)(uintptr_t)eval_cexpr(inst, &s->items[k]);
    refs += s->count;
  }

  /* from here on, effects on imported tables/memories are visible */
  for (uint32_t i = 0; i < m->nelems; i++) {
    const wh_elem_seg_t *s = &m->elems[i];
    if (s->mode != WH_SEG_ACTIVE) continue;
    uint64_t off = (uint32_t)eval_cexpr(inst, &s->offset);
    wh_table_t *t = inst->tables[s->table];
    if (off + s->count > t->size) {
      rc = wh__trap(exec, WH_TRAP_TABLE_OOB, NULL, NULL, NULL);
      wh_diag_set(diag, WH_ETRAP, -1, "element segment %u: out of bounds table access", i);
      /* data segments come after element segments: an image applied
       * them too early, so take them back */
      if (data_ready) memset(inst->mem->base, 0, inst->mem->size);
      goto trapped;
    }
    if (s->count) memcpy(t->elems + off, inst->elem_refs[i], s->count * sizeof(void *));
    inst->elem_refs[i] = NULL;
    inst->elem_len[i] = 0;
  }
  for (uint32_t i = 0; i < m->ndatas; i++) {
    const wh_data_seg_t *s = &m->datas[i];
    if (s->mode != WH_SEG_ACTIVE) continue;
    if (data_ready && s->mem == 0) {  /* already in the copy-on-write image */
      inst->data_dropped[i] = 1;
      continue;
    }
    wh_memory_t *mem = inst->mems[s->mem];
    uint64_t off = (uint32_t)eval_cexpr(inst, &s->offset);
    if (off + s->len > mem->size) {
      rc = wh__trap(exec, WH_TRAP_MEM_OOB, NULL, NULL, NULL);
      wh_diag_set(diag, WH_ETRAP, -1, "data segment %u: out of bounds memory access", i);
      goto trapped;
    }
    if (s->len) memcpy(mem->base + off, s->bytes, s->len);
    inst->data_dropped[i] = 1;
  }
  if (m->has_start) {
    rc = wh_call(exec, inst->funcs[m->start], NULL, 0, NULL, 0);
    if (rc) {
      const char *msg = NULL;
      wh_exec_trap(exec, &msg, NULL);
      wh_diag_set(diag, rc, -1, "start function: %s", msg ? msg : wh_strerror(rc));
      goto trapped;
    }
  }
  *out = inst;
  return 0;

trapped:
  /* its functions may sit in an imported table: keep it callable (and its
   * slots taken) until the linker goes; otherwise free it now */
  if (!refs_may_escape(m) || keep_failed(l, inst)) wh_instance_free(inst);
  return rc;
fail:
  wh_instance_free(inst);
  return rc;
}

int wh_linker_instantiate(wh_linker_t *l, const wh_module_t *m, wh_exec_t *exec,
                          wh_instance_t **out, wh_diag_t *diag) {
  return wh_linker_instantiate_in(l, m, exec, NULL, out, diag);
}

void wh_instance_free(wh_instance_t *inst) {
  if (!inst) return;
  /* never touches inst->module: the linker may free a failed instance
   * after its module is gone */
  wh_inst_alloc_t *a = inst->alloc;
  for (uint32_t i = 0; i < inst->nown_tables; i++) {
    wh_table_t *t = &inst->own_tables[i];
    if (t->pooled) a->table_release(a, t->elems, t->size);
    else free(t->elems);
  }
  for (uint32_t i = 0; i < inst->nown_mems; i++) {
    wh_memory_t *mem = &inst->own_mems[i];
    uncharge_memory(mem);
    if (mem->pooled) {
      wh_mem_slot_t slot = {.base = mem->base, .reserved = mem->reserved, .size = mem->size,
                            .max_size = mem->max_pages * WH_PAGE_SIZE};
      a->memory_release(a, inst->module, &slot);
    } else if (mem->base) {
      munmap(mem->base, mem->reserved);
    }
  }
  if (a) a->state_release(a, inst, inst->state_size);
  else free(inst);
}

const wh_module_t *wh_instance_module(const wh_instance_t *inst) { return inst->module; }

static const wh_export_desc_t *find_export_n(const wh_instance_t *inst, const char *name,
                                             size_t len, uint8_t kind) {
  const wh_module_t *m = inst->module;
  for (uint32_t i = 0; i < m->nexports; i++)
    if (m->exports[i].kind == kind &&
        wh__name_eq(m->exports[i].name, m->exports[i].name_len, name, len))
      return &m->exports[i];
  return NULL;
}

static const wh_export_desc_t *find_export(const wh_instance_t *inst, const char *name,
                                           uint8_t kind) {
  return find_export_n(inst, name, strlen(name), kind);
}

wh_func_t *wh_instance_func_n(wh_instance_t *inst, const char *name, size_t len) {
  const wh_export_desc_t *x = find_export_n(inst, name, len, WH_EXTERN_FUNC);
  return x ? inst->funcs[x->index] : NULL;
}

wh_func_t *wh_instance_func(wh_instance_t *inst, const char *name) {
  return wh_instance_func_n(inst, name, strlen(name));
}

wh_memory_t *wh_instance_memory(wh_instance_t *inst, const char *name) {
  const wh_export_desc_t *x = find_export(inst, name, WH_EXTERN_MEMORY);
  return x ? inst->mems[x->index] : NULL;
}

wh_table_t *wh_instance_table(wh_instance_t *inst, const char *name) {
  const wh_export_desc_t *x = find_export(inst, name, WH_EXTERN_TABLE);
  return x ? inst->tables[x->index] : NULL;
}

wh_global_t *wh_instance_global(wh_instance_t *inst, const char *name) {
  const wh_export_desc_t *x = find_export(inst, name, WH_EXTERN_GLOBAL);
  return x ? inst->globals[x->index] : NULL;
}

void wh_func_type(const wh_func_t *f, const char **params, const char **results) {
  if (params) *params = f->type->sig_params;
  if (results) *results = f->type->sig_results;
}
