/*
 * validate.c - type checking of a component, one definition at a time.
 *
 * The decoder (binary.c) calls one wh_cm__v_* function per definition, in
 * binary order.  Each checks the definition against the index spaces of
 * the innermost scope and appends to them.  Scopes stack up for nested
 * components, component types and instance types:
 *
 *   scope (one per nesting level)
 *     core:  funcs tables memories globals tags types modules instances
 *     comp:  funcs types components instances        (values: rejected)
 *     imports / exports with their names (strongly-unique sets)
 *     resources: imported (with their import path), defined (with the
 *       rep if known), explicit (exported, with the export path)
 *     imported_types / exported_types: the type identities that have an
 *       external name (the "external visibility" rule)
 *
 * Types live in the component's type table (cm_int.h).  The rules follow
 * the Explainer and, where it is vague, wasm-tools' validator (the
 * reference the test suites were written against):
 *   - value/function subtyping is type equality; instance types have
 *     width subtyping; component types are contravariant in imports;
 *   - resources are abstract: instantiating a component maps its
 *     imported resources to the arguments' and gives its defined
 *     resources fresh identities (remap());
 *   - core instantiation matches each module import against the named
 *     argument instance's export (func types equal, limits contained).
 *
 * Errors: WH_EINVALID with wasm-tools' wording, at the definition's
 * offset.  WH_EUNSUPPORTED for what wharf does not run: proposals the
 * engine lacks (checked before the engine sees a core module: tags,
 * several memories, memory64, GC) and three host restrictions of the
 * root component, wasmtime's too (it may not import or export a
 * component, nor re-export an imported function).  The restrictions are
 * reported only after the whole component validated, so a real
 * validation error always wins.
 *
 * Core module types: the engine has no accessor for the types of a
 * module's imports and exports, so scan_module() reads them from the
 * binary after the engine has validated it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cm_int.h"

typedef WH_CM_VEC(uint32_t) u32vec_t;

/* ---- hash map: u32 or string keys -> u32 ----------------------------------- */

typedef struct hent {
  const char *s;           /* NULL for integer keys */
  uint32_t len;
  uint64_t h;
  uint32_t val;
  bool used;
} hent_t;

typedef struct hmap {
  hent_t *e;
  uint32_t n, cap;
} hmap_t;

static uint64_t hash_str(const char *s, uint32_t len) {
  uint64_t h = 1469598103934665603ull;
  for (uint32_t i = 0; i < len; i++) h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
  return h;
}

static uint64_t hash_u32(uint32_t k) {
  uint64_t h = k * 0x9e3779b97f4a7c15ull;
  return h ^ (h >> 29);
}

static hent_t *hm_find(const hmap_t *m, const char *s, uint32_t len, uint64_t h) {
  if (!m->cap) return NULL;
  uint32_t i = (uint32_t)h & (m->cap - 1);
  for (;;) {
    hent_t *e = &m->e[i];
    if (!e->used) return NULL;
    if (e->h == h && e->len == len && (s ? e->s && memcmp(e->s, s, len) == 0 : !e->s))
      return e;
    i = (i + 1) & (m->cap - 1);
  }
}

static bool hm_put(wh_cm_arena_t *a, hmap_t *m, const char *s, uint32_t len,
                   uint64_t h, uint32_t val) {
  hent_t *f = hm_find(m, s, len, h);
  if (f) { f->val = val; return true; }
  if ((m->n + 1) * 2 > m->cap) {
    uint32_t ncap = m->cap ? m->cap * 2 : 16;
    hent_t *ne = wh_cm__alloc(a, (size_t)ncap * sizeof *ne);
    if (!ne) return false;
    for (uint32_t k = 0; k < m->cap; k++) {
      if (!m->e[k].used) continue;
      uint32_t i = (uint32_t)m->e[k].h & (ncap - 1);
      while (ne[i].used) i = (i + 1) & (ncap - 1);
      ne[i] = m->e[k];
    }
    m->e = ne;
    m->cap = ncap;
  }
  uint32_t i = (uint32_t)h & (m->cap - 1);
  while (m->e[i].used) i = (i + 1) & (m->cap - 1);
  m->e[i] = (hent_t){s, len, h, val, true};
  m->n++;
  return true;
}

/* integer keys: s NULL, the key in len */
#define HM_GETU(m, k) hm_find((m), NULL, (k), hash_u32(k))
#define HM_PUTU(a, m, k, v) hm_put((a), (m), NULL, (k), hash_u32(k), (v))
#define HM_GETS(m, s, l) hm_find((m), (s), (l), hash_str((s), (l)))
#define HM_PUTS(a, m, s, l, v) hm_put((a), (m), (s), (l), hash_str((s), (l)), (v))

/* ---- state -------------------------------------------------------------------- */

typedef struct namectx {        /* resource names for [method] etc. */
  hmap_t by_res;                /* created type id -> index in names */
  WH_CM_VEC(const char *) names;
  hmap_t all;                   /* name -> 1 */
} namectx_t;

typedef struct scope {
  int kind;
  u32vec_t core_funcs, core_tables, core_mems, core_globals, core_tags,
      core_types, core_modules, core_instances;
  u32vec_t funcs, types, components, instances;
  WH_CM_VEC(wh_cm_item_t) imports, exports;
  hmap_t import_keys, export_keys, import_raw, export_raw;
  WH_CM_VEC(wh_cm_respath_t) ires, dres, xres;
  hmap_t xres_idx;              /* resource -> index in xres */
  hmap_t dres_idx;              /* resource -> index in dres */
  hmap_t imported_types, exported_types;
  namectx_t imp_ctx, exp_ctx;
  wh_cm_comp_t *comp;           /* COMPONENT scopes */
  /* parallel to funcs / instances: the item comes from an import (for
   * the root's host restrictions) */
  WH_CM_VEC(uint8_t) func_imp, inst_imp;
} scope_t;

typedef struct mtstate {        /* a core module type being declared */
  bool active;
  u32vec_t types;
  WH_CM_VEC(wh_cm_citem_t) imp, exp;
  hmap_t imp_keys, exp_keys;
} mtstate_t;

struct wh_cm_v {
  wh_cm_component_t *c;
  wh_diag_t *diag;
  scope_t *sc[WH_CM_MAX_NESTING + 2];
  uint32_t nsc;
  mtstate_t mt;
  uint8_t pending_imp;          /* origin flag for the next func/instance */
  /* The first host restriction the root component breaks (wharf, like
   * wasmtime, cannot run every valid component yet); reported only once
   * the whole component has validated, so validation errors win. */
  bool restricted;
  wh_diag_t restriction;
};

/* A remapping: resources old -> new, and a cache of remapped types. */
typedef struct remap {
  hmap_t res;
  hmap_t types;
} remap_t;

#define A(v) (&(v)->c->arena)
#define T(v, t) (&(v)->c->types[(t)])
#define CUR(v) ((v)->sc[(v)->nsc - 1])

static int fail(wh_cm_v_t *v, long long off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(wh_cm_v_t *v, long long off, const char *fmt, ...) {
  if (v->diag) {
    va_list ap;
    v->diag->code = WH_EINVALID;
    v->diag->offset = off;
    v->diag->line = -1;
    va_start(ap, fmt);
    vsnprintf(v->diag->msg, sizeof v->diag->msg, fmt, ap);
    va_end(ap);
  }
  return WH_EINVALID;
}

static int oom(wh_cm_v_t *v, long long off) {
  return wh_diag_set(v->diag, WH_ENOMEM, off, "out of memory");
}

static int unsupported(wh_cm_v_t *v, long long off, const char *what) {
  return wh_diag_set(v->diag, WH_EUNSUPPORTED, off, "%s", what);
}

static void restrict_root(wh_cm_v_t *v, long long off, const char *what) {
  if (v->restricted) return;
  v->restricted = true;
  wh_diag_set(&v->restriction, WH_EUNSUPPORTED, off, "%s", what);
}

/* New zeroed type node; its tid (0 on OOM).  Invalidates type pointers. */
static wh_cm_tid_t new_type(wh_cm_v_t *v, uint8_t kind) {
  wh_cm_component_t *c = v->c;
  if (c->ntypes == c->captypes) {
    uint32_t ncap = c->captypes ? c->captypes * 2 : 256;
    if (ncap > 64u * 1024 * 1024) return 0;
    wh_cm_type_t *nt = realloc(c->types, (size_t)ncap * sizeof *nt);
    if (!nt) return 0;
    c->types = nt;
    c->captypes = ncap;
  }
  wh_cm_tid_t t = c->ntypes++;
  memset(&c->types[t], 0, sizeof c->types[t]);
  c->types[t].kind = kind;
  c->types[t].size = 1;
  c->types[t].depth = 1;
  return t;
}

static wh_cm_tid_t peel(wh_cm_v_t *v, wh_cm_tid_t t) { return wh_cm__peel(v->c, t); }
static uint8_t kind_of(wh_cm_v_t *v, wh_cm_tid_t t) { return T(v, peel(v, t))->kind; }

static bool is_defval(uint8_t k) { return k >= WH_CM_T_BOOL && k <= WH_CM_T_BORROW; }

/* ---- type info: size, depth, borrow ------------------------------------- */

static int combine(wh_cm_v_t *v, uint32_t *size, uint8_t *depth, uint8_t *borrow,
                   wh_cm_tid_t other, long long off) {
  wh_cm_type_t *o = T(v, other);
  uint32_t od = o->depth + 1u;
  if (od > *depth) *depth = od > 255 ? 255 : (uint8_t)od;
  uint64_t s = (uint64_t)*size + o->size;
  if (s > WH_CM_MAX_TYPE_SIZE)
    return fail(v, off, "effective type size exceeds the limit of %u", WH_CM_MAX_TYPE_SIZE);
  *size = (uint32_t)s;
  *borrow |= o->borrow;
  return 0;
}

/* ---- scopes ------------------------------------------------------------------ */

int wh_cm__v_push(wh_cm_v_t *v, int kind, long long off) {
  if (v->nsc >= WH_CM_MAX_NESTING + 1) return fail(v, off, "nesting is too deep");
  scope_t *s = wh_cm__alloc(A(v), sizeof *s);
  if (!s) return oom(v, off);
  s->kind = kind;
  if (kind == WH_CM_SCOPE_COMPONENT) {
    s->comp = wh_cm__alloc(A(v), sizeof *s->comp);
    if (!s->comp) return oom(v, off);
  }
  v->sc[v->nsc++] = s;
  return 0;
}

uint32_t wh_cm__v_depth(const wh_cm_v_t *v) { return v->nsc; }

int wh_cm__v_init(wh_cm_v_t **out, wh_cm_component_t *c, wh_diag_t *diag) {
  wh_cm_v_t *v = calloc(1, sizeof *v);
  *out = v;
  if (!v) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  v->c = c;
  v->diag = diag;
  /* tid 0 = none, 1..13 primitives */
  for (uint32_t k = 0; k <= WH_CM_T_LAST_PRIM; k++)
    if (new_type(v, (uint8_t)k) != k) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  return wh_cm__v_push(v, WH_CM_SCOPE_COMPONENT, 0);
}

void wh_cm__v_free(wh_cm_v_t *v) { free(v); }

static int add_def(wh_cm_v_t *v, const wh_cm_def_t *d) {
  scope_t *s = CUR(v);
  if (!s->comp) return 0;
  if (!WH_CM_PUSH(A(v), s->comp->defs, *d)) return oom(v, d->offset);
  return 0;
}

static int push_idx(wh_cm_v_t *v, u32vec_t *vec, uint32_t val, long long off,
                    const char *what) {
  if (vec->n >= WH_CM_MAX_ITEMS) return fail(v, off, "%s count exceeds limit", what);
  if (!WH_CM_PUSH(A(v), *vec, val)) return oom(v, off);
  return 0;
}

/* ---- index lookups -------------------------------------------------------- */

static int at(wh_cm_v_t *v, const u32vec_t *vec, uint32_t idx, wh_cm_tid_t *out,
              long long off, const char *what) {
  if (idx >= vec->n)
    return fail(v, off, "unknown %s %u: %s index out of bounds", what, idx, what);
  *out = vec->v[idx];
  return 0;
}

static int core_func_at(wh_cm_v_t *v, uint32_t idx, wh_cm_tid_t *out, long long off) {
  return at(v, &CUR(v)->core_funcs, idx, out, off, "core function");
}
static int type_at(wh_cm_v_t *v, uint32_t idx, wh_cm_tid_t *out, long long off) {
  return at(v, &CUR(v)->types, idx, out, off, "type");
}
static int func_type_at(wh_cm_v_t *v, uint32_t idx, wh_cm_tid_t *out, long long off) {
  int rc = type_at(v, idx, out, off);
  if (rc) return rc;
  if (kind_of(v, *out) != WH_CM_T_FUNC) return fail(v, off, "type index %u is not a function type", idx);
  *out = peel(v, *out);
  return 0;
}
static int defined_type_at(wh_cm_v_t *v, uint32_t idx, wh_cm_tid_t *out, long long off) {
  int rc = type_at(v, idx, out, off);
  if (rc) return rc;
  if (!is_defval(kind_of(v, *out))) return fail(v, off, "type index %u is not a defined type", idx);
  return 0;
}
static int resource_at(wh_cm_v_t *v, uint32_t idx, wh_cm_tid_t *out, long long off) {
  int rc = type_at(v, idx, out, off);
  if (rc) return rc;
  if (kind_of(v, *out) != WH_CM_T_RESOURCE) return fail(v, off, "type index %u is not a resource type", idx);
  return 0;
}
static int instance_at(wh_cm_v_t *v, uint32_t idx, wh_cm_tid_t *out, long long off) {
  return at(v, &CUR(v)->instances, idx, out, off, "instance");
}
static int component_at(wh_cm_v_t *v, uint32_t idx, wh_cm_tid_t *out, long long off) {
  return at(v, &CUR(v)->components, idx, out, off, "component");
}
static int module_at(wh_cm_v_t *v, uint32_t idx, wh_cm_tid_t *out, long long off) {
  return at(v, &CUR(v)->core_modules, idx, out, off, "module");
}
static int function_at(wh_cm_v_t *v, uint32_t idx, wh_cm_tid_t *out, long long off) {
  return at(v, &CUR(v)->funcs, idx, out, off, "function");
}
static int core_instance_at(wh_cm_v_t *v, uint32_t idx, wh_cm_tid_t *out, long long off) {
  return at(v, &CUR(v)->core_instances, idx, out, off, "core instance");
}

/* ---- core types -------------------------------------------------------------- */

static bool core_func_eq(wh_cm_v_t *v, wh_cm_tid_t a, wh_cm_tid_t b) {
  if (a == b) return true;
  wh_cm_type_t *x = T(v, a), *y = T(v, b);
  return x->np == y->np && x->nr == y->nr &&
         memcmp(x->vt, y->vt, (size_t)x->np + x->nr) == 0;
}

static wh_cm_tid_t mk_core_func(wh_cm_v_t *v, const uint8_t *vt, uint32_t np, uint32_t nr) {
  uint8_t *buf = wh_cm__alloc(A(v), (size_t)np + nr + 1);
  if (!buf) return 0;
  memcpy(buf, vt, (size_t)np + nr);
  wh_cm_tid_t t = new_type(v, WH_CM_T_CORE_FUNC);
  if (!t) return 0;
  T(v, t)->vt = buf;
  T(v, t)->np = np;
  T(v, t)->nr = nr;
  T(v, t)->size = 1 + np + nr;
  return t;
}

static bool limits_match(uint64_t amin, bool ahas, uint64_t amax, uint64_t bmin,
                         bool bhas, uint64_t bmax) {
  if (amin < bmin) return false;
  if (!bhas) return true;
  return ahas && amax <= bmax;
}

/* Core extern subtyping: does `a` (what is given) satisfy `b` (what is
 * expected)?  Writes a reason into *why. */
static bool core_ext_sub(wh_cm_v_t *v, wh_cm_tid_t a, wh_cm_tid_t b, const char **why) {
  wh_cm_type_t *x = T(v, a), *y = T(v, b);
  static const char *names[] = {"func", "table", "memory", "global", "tag"};
  if (x->kind != y->kind) {
    *why = "expected a different kind of item";
    (void)names;
    return false;
  }
  switch (x->kind) {
  case WH_CM_T_CORE_FUNC:
    if (!core_func_eq(v, a, b)) { *why = "function types differ"; return false; }
    return true;
  case WH_CM_T_CORE_TAG:
    if (!core_func_eq(v, x->a, y->a)) { *why = "tag types differ"; return false; }
    return true;
  case WH_CM_T_CORE_TABLE:
    if (x->vt[0] != y->vt[0]) { *why = "expected a different table element type"; return false; }
    if (x->shared != y->shared) { *why = "mismatch in the shared flag for tables"; return false; }
    if (x->is64 != y->is64) { *why = "mismatch in index type used for tables"; return false; }
    if (!limits_match(x->min, x->has_max, x->max, y->min, y->has_max, y->max)) {
      *why = "mismatch in table limits";
      return false;
    }
    return true;
  case WH_CM_T_CORE_MEMORY:
    if (x->shared != y->shared) { *why = "mismatch in the shared flag for memories"; return false; }
    if (x->is64 != y->is64) { *why = "mismatch in index type used for memories"; return false; }
    if (x->page_log2 != y->page_log2) { *why = "mismatch in page size for memories"; return false; }
    if (!limits_match(x->min, x->has_max, x->max, y->min, y->has_max, y->max)) {
      *why = "mismatch in memory limits";
      return false;
    }
    return true;
  case WH_CM_T_CORE_GLOBAL:
    if (x->mut != y->mut) { *why = "global types differ in mutability"; return false; }
    if (x->vt[0] != y->vt[0]) { *why = "expected global type differs"; return false; }
    return true;
  default:
    *why = "unexpected item";
    return false;
  }
}

/* A core extern type from its raw form; `types` is the type index space
 * that func/tag indices refer to. */
static int mk_core_ext(wh_cm_v_t *v, const wh_cm_rawcext_t *e, const u32vec_t *types,
                       wh_cm_tid_t *out, long long off) {
  wh_cm_tid_t t = 0;
  switch (e->kind) {
  case 0x00: case 0x04: {
    if (e->idx >= types->n) return fail(v, off, "unknown type %u: type index out of bounds", e->idx);
    wh_cm_tid_t ft = types->v[e->idx];
    if (T(v, ft)->kind != WH_CM_T_CORE_FUNC)
      return fail(v, off, "type index %u is not a function type", e->idx);
    if (e->kind == 0x00) { *out = ft; return 0; }
    if (T(v, ft)->nr != 0) return fail(v, off, "invalid exception type: non-empty tag result type");
    t = new_type(v, WH_CM_T_CORE_TAG);
    if (!t) return oom(v, off);
    T(v, t)->a = ft;
    break;
  }
  case 0x01:
    if (e->has_max && e->max < e->min)
      return fail(v, off, "size minimum must not be greater than maximum");
    if (e->is64) return unsupported(v, off, "64-bit tables are not supported");
    goto limits;
  case 0x02:
    if (e->has_max && e->max < e->min)
      return fail(v, off, "size minimum must not be greater than maximum");
    if (!e->is64 && (e->min > 65536 || (e->has_max && e->max > 65536)))
      return fail(v, off, "memory size must be at most 65536 pages (4GiB)");
    if (e->shared && !e->has_max) return fail(v, off, "shared memory must have maximum size");
  limits:
    t = new_type(v, e->kind == 0x01 ? WH_CM_T_CORE_TABLE : WH_CM_T_CORE_MEMORY);
    if (!t) return oom(v, off);
    {
      wh_cm_type_t *n = T(v, t);
      n->min = e->min;
      n->max = e->max;
      n->has_max = e->has_max;
      n->is64 = e->is64;
      n->shared = e->shared;
      n->page_log2 = e->page_log2 ? e->page_log2 : 16;
      n->vt = wh_cm__alloc(A(v), 1);
      if (!n->vt) return oom(v, off);
      n->vt[0] = e->vt;
    }
    break;
  case 0x03:
    t = new_type(v, WH_CM_T_CORE_GLOBAL);
    if (!t) return oom(v, off);
    T(v, t)->mut = e->mut;
    T(v, t)->vt = wh_cm__alloc(A(v), 1);
    if (!T(v, t)->vt) return oom(v, off);
    T(v, t)->vt[0] = e->vt;
    break;
  default:
    return fail(v, off, "invalid external kind");
  }
  *out = t;
  return 0;
}

int wh_cm__v_core_functype(wh_cm_v_t *v, const uint8_t *vt, uint32_t np,
                           uint32_t nr, long long off) {
  if (nr > 1000 || np > 1000) return fail(v, off, "function has too many parameters or results");
  wh_cm_tid_t t = mk_core_func(v, vt, np, nr);
  if (!t) return oom(v, off);
  wh_cm_def_t d = {.kind = WH_CM_DEF_CORE_TYPE, .offset = off};
  d.u.type = t;
  int rc = add_def(v, &d);
  if (rc) return rc;
  return push_idx(v, &CUR(v)->core_types, t, off, "types");
}

int wh_cm__v_mt_begin(wh_cm_v_t *v, long long off) {
  memset(&v->mt, 0, sizeof v->mt);
  v->mt.active = true;
  (void)off;
  return 0;
}

int wh_cm__v_mt_functype(wh_cm_v_t *v, const uint8_t *vt, uint32_t np,
                         uint32_t nr, long long off) {
  wh_cm_tid_t t = mk_core_func(v, vt, np, nr);
  if (!t) return oom(v, off);
  return push_idx(v, &v->mt.types, t, off, "types");
}

static int check_alias_count(wh_cm_v_t *v, uint32_t count, scope_t **out, long long off) {
  if (count >= v->nsc) return fail(v, off, "invalid outer alias count of %u", count);
  *out = v->sc[v->nsc - 1 - count];
  return 0;
}

int wh_cm__v_mt_alias(wh_cm_v_t *v, uint32_t count, uint32_t idx, long long off) {
  wh_cm_tid_t t = 0;
  if (count == 0) {
    if (idx >= v->mt.types.n) return fail(v, off, "unknown type %u: type index out of bounds", idx);
    t = v->mt.types.v[idx];
  } else {
    scope_t *s = NULL;
    int rc = check_alias_count(v, count - 1, &s, off);
    if (rc) return rc;
    if (idx >= s->core_types.n) return fail(v, off, "unknown type %u: type index out of bounds", idx);
    t = s->core_types.v[idx];
  }
  if (T(v, t)->kind == WH_CM_T_CORE_MODULE)
    return fail(v, off, "not implemented: aliasing core module types into a core module's types index space");
  return push_idx(v, &v->mt.types, t, off, "types");
}

int wh_cm__v_mt_import(wh_cm_v_t *v, const char *module, uint32_t mlen,
                       const char *name, uint32_t len,
                       const wh_cm_rawcext_t *ext, long long off) {
  wh_cm_tid_t t = 0;
  int rc = mk_core_ext(v, ext, &v->mt.types, &t, off);
  if (rc) return rc;
  /* key: module NUL name */
  char *key = wh_cm__alloc(A(v), (size_t)mlen + len + 2);
  if (!key) return oom(v, off);
  memcpy(key, module, mlen);
  memcpy(key + mlen + 1, name, len);
  if (HM_GETS(&v->mt.imp_keys, key, mlen + len + 1))
    return fail(v, off, "duplicate import name `%s:%s` already defined", module, name);
  if (!HM_PUTS(A(v), &v->mt.imp_keys, key, mlen + len + 1, 1)) return oom(v, off);
  wh_cm_citem_t it = {module, name, mlen, len, t};
  if (!WH_CM_PUSH(A(v), v->mt.imp, it)) return oom(v, off);
  return 0;
}

int wh_cm__v_mt_export(wh_cm_v_t *v, const char *name, uint32_t len,
                       const wh_cm_rawcext_t *ext, long long off) {
  wh_cm_tid_t t = 0;
  int rc = mk_core_ext(v, ext, &v->mt.types, &t, off);
  if (rc) return rc;
  if (HM_GETS(&v->mt.exp_keys, name, len))
    return fail(v, off, "duplicate export name `%s` already defined", name);
  if (!HM_PUTS(A(v), &v->mt.exp_keys, name, len, 1)) return oom(v, off);
  wh_cm_citem_t it = {NULL, name, 0, len, t};
  if (!WH_CM_PUSH(A(v), v->mt.exp, it)) return oom(v, off);
  return 0;
}

int wh_cm__v_mt_end(wh_cm_v_t *v, long long off) {
  wh_cm_tid_t t = new_type(v, WH_CM_T_CORE_MODULE);
  if (!t) return oom(v, off);
  wh_cm_type_t *m = T(v, t);
  m->cimp = v->mt.imp.v;
  m->ncimp = v->mt.imp.n;
  m->cexp = v->mt.exp.v;
  m->ncexp = v->mt.exp.n;
  m->size = 1 + m->ncimp + m->ncexp;
  v->mt.active = false;
  wh_cm_def_t d = {.kind = WH_CM_DEF_CORE_TYPE, .offset = off};
  d.u.type = t;
  int rc = add_def(v, &d);
  if (rc) return rc;
  return push_idx(v, &CUR(v)->core_types, t, off, "types");
}

/* ---- core modules: the type of a module the engine validated ------------- */

typedef struct crd {
  const uint8_t *p, *end;
  bool bad;
} crd_t;

static uint8_t c_u8(crd_t *r) {
  if (r->p >= r->end) { r->bad = true; return 0; }
  return *r->p++;
}

static uint64_t c_uleb(crd_t *r) {
  uint64_t v = 0;
  unsigned sh = 0;
  for (;;) {
    uint8_t b = c_u8(r);
    if (r->bad) return 0;
    if (sh < 64) v |= (uint64_t)(b & 0x7f) << sh;
    if (!(b & 0x80)) return v;
    sh += 7;
    if (sh > 70) { r->bad = true; return 0; }
  }
}

static void c_skip(crd_t *r, uint64_t n) {
  if ((uint64_t)(r->end - r->p) < n) { r->bad = true; return; }
  r->p += n;
}

static const char *c_name(wh_cm_v_t *v, crd_t *r, uint32_t *len) {
  uint64_t n = c_uleb(r);
  if (r->bad || (uint64_t)(r->end - r->p) < n) { r->bad = true; return NULL; }
  char *s = wh_cm__alloc(A(v), (size_t)n + 1);
  if (!s) { r->bad = true; return NULL; }
  memcpy(s, r->p, (size_t)n);
  r->p += n;
  *len = (uint32_t)n;
  return s;
}

static void c_limits(crd_t *r, wh_cm_rawcext_t *e) {
  uint8_t fl = c_u8(r);
  e->has_max = fl & 1;
  e->shared = (fl & 2) != 0;
  e->is64 = (fl & 4) != 0;
  e->min = c_uleb(r);
  if (e->has_max) e->max = c_uleb(r);
  e->page_log2 = 16;
  if (fl & 8) e->page_log2 = (uint8_t)c_uleb(r);
}

static void c_skip_expr(crd_t *r) {
  while (!r->bad) {
    uint8_t op = c_u8(r);
    switch (op) {
    case 0x0b: return;
    case 0x41: case 0x42: case 0x23: case 0xd2: c_uleb(r); break;
    case 0x43: c_skip(r, 4); break;
    case 0x44: c_skip(r, 8); break;
    case 0xd0: c_u8(r); break;
    case 0xfd: c_uleb(r); c_skip(r, 16); break;   /* v128.const */
    default: break;                                /* extended const ops */
    }
  }
}

static int scan_module(wh_cm_v_t *v, const uint8_t *bytes, size_t len,
                       wh_cm_tid_t *out, long long off) {
  crd_t r = {bytes + 8, bytes + len, false};
  u32vec_t types = {0}, funcs = {0}, tables = {0}, mems = {0}, globals = {0}, tags = {0};
  WH_CM_VEC(wh_cm_citem_t) imp = {0}, exp = {0};
  hmap_t keys = {0};
  int rc = 0;
  while (r.p < r.end && !r.bad && !rc) {
    uint8_t id = c_u8(&r);
    uint64_t size = c_uleb(&r);
    if (r.bad || (uint64_t)(r.end - r.p) < size) break;
    crd_t s = {r.p, r.p + size, false};
    r.p += size;
    uint32_t n = 0;
    if (id >= 1 && id <= 7) n = (uint32_t)c_uleb(&s);
    if (id == 13) n = (uint32_t)c_uleb(&s);
    for (uint32_t i = 0; i < n && !s.bad && !rc; i++) {
      wh_cm_rawcext_t e;
      wh_cm_tid_t t = 0;
      memset(&e, 0, sizeof e);
      switch (id) {
      case 1: {
        uint8_t form = c_u8(&s);
        if (form != 0x60) return unsupported(v, off, "GC core types are not supported");
        uint32_t np = (uint32_t)c_uleb(&s);
        const uint8_t *pp = s.p;
        c_skip(&s, np);
        uint32_t nr = (uint32_t)c_uleb(&s);
        const uint8_t *rp = s.p;
        c_skip(&s, nr);
        if (s.bad) break;
        uint8_t *vt = wh_cm__alloc(A(v), (size_t)np + nr + 1);
        if (!vt) return oom(v, off);
        memcpy(vt, pp, np);
        memcpy(vt + np, rp, nr);
        t = mk_core_func(v, vt, np, nr);
        if (!t || !WH_CM_PUSH(A(v), types, t)) return oom(v, off);
        break;
      }
      case 2: {
        uint32_t ml = 0, nl = 0;
        const char *m = c_name(v, &s, &ml);
        const char *nm = c_name(v, &s, &nl);
        e.kind = c_u8(&s);
        if (s.bad) break;
        switch (e.kind) {
        case 0x00: e.idx = (uint32_t)c_uleb(&s); break;
        case 0x01: e.vt = c_u8(&s); c_limits(&s, &e); break;
        case 0x02: c_limits(&s, &e); break;
        case 0x03: e.vt = c_u8(&s); e.mut = c_u8(&s) == 1; break;
        case 0x04: c_u8(&s); e.idx = (uint32_t)c_uleb(&s); break;
        default: s.bad = true; break;
        }
        if (s.bad) break;
        rc = mk_core_ext(v, &e, &types, &t, off);
        if (rc) return rc;
        char *key = wh_cm__alloc(A(v), (size_t)ml + nl + 2);
        if (!key) return oom(v, off);
        memcpy(key, m, ml);
        memcpy(key + ml + 1, nm, nl);
        if (HM_GETS(&keys, key, ml + nl + 1))
          return fail(v, off, "module has a duplicate import name `%s:%s` that is not allowed in components", m, nm);
        if (!HM_PUTS(A(v), &keys, key, ml + nl + 1, 1)) return oom(v, off);
        wh_cm_citem_t it = {m, nm, ml, nl, t};
        if (!WH_CM_PUSH(A(v), imp, it)) return oom(v, off);
        u32vec_t *space = e.kind == 0 ? &funcs : e.kind == 1 ? &tables : e.kind == 2 ? &mems
                        : e.kind == 3 ? &globals : &tags;
        if (!WH_CM_PUSH(A(v), *space, t)) return oom(v, off);
        break;
      }
      case 3: {
        uint32_t ti = (uint32_t)c_uleb(&s);
        if (ti >= types.n) { s.bad = true; break; }
        if (!WH_CM_PUSH(A(v), funcs, types.v[ti])) return oom(v, off);
        break;
      }
      case 4:
        e.kind = 1;
        if (s.p < s.end && *s.p == 0x40) { c_u8(&s); c_u8(&s); }
        e.vt = c_u8(&s);
        c_limits(&s, &e);
        if (s.bad) break;
        rc = mk_core_ext(v, &e, &types, &t, off);
        if (rc) return rc;
        if (!WH_CM_PUSH(A(v), tables, t)) return oom(v, off);
        break;
      case 5:
        e.kind = 2;
        c_limits(&s, &e);
        if (s.bad) break;
        rc = mk_core_ext(v, &e, &types, &t, off);
        if (rc) return rc;
        if (!WH_CM_PUSH(A(v), mems, t)) return oom(v, off);
        break;
      case 6:
        e.kind = 3;
        e.vt = c_u8(&s);
        e.mut = c_u8(&s) == 1;
        c_skip_expr(&s);
        if (s.bad) break;
        rc = mk_core_ext(v, &e, &types, &t, off);
        if (rc) return rc;
        if (!WH_CM_PUSH(A(v), globals, t)) return oom(v, off);
        break;
      case 13:
        e.kind = 4;
        c_u8(&s);
        e.idx = (uint32_t)c_uleb(&s);
        if (s.bad) break;
        rc = mk_core_ext(v, &e, &types, &t, off);
        if (rc) return rc;
        if (!WH_CM_PUSH(A(v), tags, t)) return oom(v, off);
        break;
      case 7: {
        uint32_t nl = 0;
        const char *nm = c_name(v, &s, &nl);
        uint8_t k = c_u8(&s);
        uint32_t idx = (uint32_t)c_uleb(&s);
        if (s.bad) break;
        u32vec_t *space = k == 0 ? &funcs : k == 1 ? &tables : k == 2 ? &mems
                        : k == 3 ? &globals : &tags;
        if (k > 4 || idx >= space->n) { s.bad = true; break; }
        wh_cm_citem_t it = {NULL, nm, 0, nl, space->v[idx]};
        if (!WH_CM_PUSH(A(v), exp, it)) return oom(v, off);
        break;
      }
      default:
        break;
      }
    }
    if (s.bad) r.bad = true;
  }
  if (r.bad) return fail(v, off, "core module could not be scanned for its type");
  wh_cm_tid_t t = new_type(v, WH_CM_T_CORE_MODULE);
  if (!t) return oom(v, off);
  wh_cm_type_t *m = T(v, t);
  m->cimp = imp.v;
  m->ncimp = imp.n;
  m->cexp = exp.v;
  m->ncexp = exp.n;
  m->size = 1 + imp.n + exp.n;
  *out = t;
  return 0;
}

/* Proposals the engine does not implement, told apart before the engine
 * sees the module so the error says so (WH_EUNSUPPORTED) rather than
 * "malformed": tags (exceptions), memory64, GC types.
 * Bytes that do not parse are left to the engine. */
static const char *engine_gap(const uint8_t *bytes, size_t len) {
  crd_t r = {bytes + 8, bytes + len, false};
  if (len < 8) return NULL;
  while (r.p < r.end && !r.bad) {
    uint8_t id = c_u8(&r);
    uint64_t size = c_uleb(&r);
    if (r.bad || (uint64_t)(r.end - r.p) < size) return NULL;
    crd_t s = {r.p, r.p + size, false};
    r.p += size;
    if (id == 13) return "exceptions (tags) are not supported by the engine";
    if (id == 1) {
      uint64_t n = c_uleb(&s);
      for (uint64_t i = 0; i < n && !s.bad; i++) {
        uint8_t form = c_u8(&s);
        if (form != 0x60) return s.bad ? NULL : "GC types are not supported by the engine";
        uint64_t np = c_uleb(&s);
        c_skip(&s, np);
        uint64_t nr = c_uleb(&s);
        c_skip(&s, nr);
      }
    }
    if (id == 2) {
      uint64_t n = c_uleb(&s);
      for (uint64_t i = 0; i < n && !s.bad; i++) {
        c_skip(&s, c_uleb(&s));
        c_skip(&s, c_uleb(&s));
        uint8_t k = c_u8(&s);
        switch (k) {
        case 0x00: c_uleb(&s); break;
        case 0x01: {
          c_u8(&s);
          uint8_t fl = c_u8(&s);
          if (fl & 4) return "64-bit tables are not supported by the engine";
          c_uleb(&s);
          if (fl & 1) c_uleb(&s);
          break;
        }
        case 0x02: {
          uint8_t fl = c_u8(&s);
          if (fl & 4) return "memory64 is not supported by the engine";
          c_uleb(&s);
          if (fl & 1) c_uleb(&s);
          if (fl & 8) return "custom page sizes are not supported by the engine";
          break;
        }
        case 0x03: c_u8(&s); c_u8(&s); break;
        case 0x04: return "exceptions (tags) are not supported by the engine";
        default: return NULL;
        }
      }
    }
    if (id == 4) {
      uint64_t n = c_uleb(&s);
      for (uint64_t i = 0; i < n && !s.bad; i++) {
        if (s.p < s.end && *s.p == 0x40) return NULL;
        c_u8(&s);
        uint8_t fl = c_u8(&s);
        if (fl & 4) return "64-bit tables are not supported by the engine";
        c_uleb(&s);
        if (fl & 1) c_uleb(&s);
      }
    }
    if (id == 5) {
      uint64_t n = c_uleb(&s);
      for (uint64_t i = 0; i < n && !s.bad; i++) {
        uint8_t fl = c_u8(&s);
        if (fl & 4) return "memory64 is not supported by the engine";
        if (fl & 8) return "custom page sizes are not supported by the engine";
        c_uleb(&s);
        if (fl & 1) c_uleb(&s);
      }
    }
  }
  return NULL;
}

/* The next compiled module of v->c->pre, if it is the one for these
 * bytes: its span must be the one recorded when it was stored.  The
 * caller checks its imports and exports against the scanned type. */
static int take_premod(wh_cm_v_t *v, const uint8_t *bytes, size_t len, long long off,
                       wh_module_t **out) {
  wh_cm_premods_t *p = v->c->pre;
  uint32_t i = p->next;
  if (i >= p->n || p->span[2 * i] != (uint64_t)(bytes - v->c->bytes) ||
      p->span[2 * i + 1] != (uint64_t)len) {
    p->mismatch = true;
    return wh_diag_set(v->diag, WH_ECORRUPT, off,
                       "compiled core module %u is not the one at this offset", i);
  }
  *out = p->v[i];
  p->v[i] = NULL;
  p->next++;
  return 0;
}

int wh_cm__v_core_module(wh_cm_v_t *v, const uint8_t *bytes, size_t len, long long off) {
  wh_diag_t d;
  wh_module_t *m = NULL;
  wh_diag_clear(&d);
  const char *gap = engine_gap(bytes, len);
  if (gap) return unsupported(v, off, gap);
  if (v->c->pre) {
    int rc = take_premod(v, bytes, len, off, &m);
    if (rc) return rc;
  } else if (!(m = wh_module_new(v->c->engine, bytes, len, &d))) {
    int code = d.code;
    if (code == WH_ECOMPONENT || code == 0) code = WH_EINVALID;
    return wh_diag_set(v->diag, code, d.offset >= 0 ? off + d.offset : off,
                       "core module: %s", d.msg);
  }
  if (!WH_CM_PUSH(A(v), v->c->modules, m)) {
    wh_module_free(m);
    return oom(v, off);
  }
  wh_cm_tid_t t = 0;
  int rc = scan_module(v, bytes, len, &t, off);
  if (rc) return rc;
  if (v->c->pre && (wh_module_import_count(m) != T(v, t)->ncimp ||
                    wh_module_export_count(m) != T(v, t)->ncexp)) {
    v->c->pre->mismatch = true;
    return wh_diag_set(v->diag, WH_ECORRUPT, off,
                       "compiled core module %u does not have this module's imports and exports",
                       v->c->pre->next - 1);
  }
  wh_cm_def_t def = {.kind = WH_CM_DEF_CORE_MODULE, .offset = off};
  def.u.module.bytes = bytes;
  def.u.module.len = len;
  def.u.module.module = m;
  def.u.module.type = t;
  rc = add_def(v, &def);
  if (rc) return rc;
  if (CUR(v)->core_modules.n >= 1000) return fail(v, off, "modules count exceeds limit of 1000");
  return push_idx(v, &CUR(v)->core_modules, t, off, "modules");
}

/* ---- core instances --------------------------------------------------------- */

static const wh_cm_citem_t *find_cexp(wh_cm_v_t *v, wh_cm_tid_t inst, const char *name,
                                      uint32_t len) {
  wh_cm_type_t *t = T(v, inst);
  for (uint32_t i = 0; i < t->ncexp; i++)
    if (t->cexp[i].len == len && memcmp(t->cexp[i].name, name, len) == 0) return &t->cexp[i];
  return NULL;
}

int wh_cm__v_core_instance(wh_cm_v_t *v, uint8_t form, uint32_t of,
                           uint32_t nargs, wh_cm_arg_t *args, long long off) {
  scope_t *s = CUR(v);
  wh_cm_tid_t inst = 0;
  int rc;
  hmap_t seen = {0};
  if (form == 0) {
    wh_cm_tid_t mt = 0;
    rc = module_at(v, of, &mt, off);
    if (rc) return rc;
    wh_cm_tid_t *argty = wh_cm__alloc(A(v), (size_t)nargs * sizeof *argty + 1);
    if (!argty) return oom(v, off);
    for (uint32_t i = 0; i < nargs; i++) {
      if (HM_GETS(&seen, args[i].name, args[i].len))
        return fail(v, off, "duplicate module instantiation argument named `%s`", args[i].name);
      if (!HM_PUTS(A(v), &seen, args[i].name, args[i].len, i)) return oom(v, off);
      rc = core_instance_at(v, args[i].idx, &argty[i], off);
      if (rc) return rc;
    }
    wh_cm_type_t *m = T(v, mt);
    for (uint32_t i = 0; i < m->ncimp; i++) {
      const wh_cm_citem_t *im = &T(v, mt)->cimp[i];
      hent_t *e = HM_GETS(&seen, im->module, im->module_len);
      if (!e) return fail(v, off, "missing module instantiation argument named `%s`", im->module);
      const wh_cm_citem_t *ex = find_cexp(v, argty[e->val], im->name, im->len);
      if (!ex)
        return fail(v, off, "module instantiation argument `%s` does not export an item named `%s`",
                    im->module, im->name);
      const char *why = NULL;
      if (!core_ext_sub(v, ex->type, im->type, &why))
        return fail(v, off, "type mismatch for export `%s` of module instantiation argument `%s`: %s",
                    im->name, im->module, why);
    }
    inst = new_type(v, WH_CM_T_CORE_INSTANCE);
    if (!inst) return oom(v, off);
    T(v, inst)->cexp = T(v, mt)->cexp;
    T(v, inst)->ncexp = T(v, mt)->ncexp;
  } else {
    wh_cm_citem_t *ex = wh_cm__alloc(A(v), (size_t)nargs * sizeof *ex + 1);
    if (!ex) return oom(v, off);
    for (uint32_t i = 0; i < nargs; i++) {
      wh_cm_tid_t t = 0;
      const u32vec_t *space;
      const char *what;
      switch (args[i].sort) {
      case WH_CM_CSORT_FUNC: space = &s->core_funcs; what = "function"; break;
      case WH_CM_CSORT_TABLE: space = &s->core_tables; what = "table"; break;
      case WH_CM_CSORT_MEMORY: space = &s->core_mems; what = "memory"; break;
      case WH_CM_CSORT_GLOBAL: space = &s->core_globals; what = "global"; break;
      default: space = &s->core_tags; what = "tag"; break;
      }
      rc = at(v, space, args[i].idx, &t, off, what);
      if (rc) return rc;
      if (HM_GETS(&seen, args[i].name, args[i].len))
        return fail(v, off, "duplicate instantiation export name `%s` already defined", args[i].name);
      if (!HM_PUTS(A(v), &seen, args[i].name, args[i].len, i)) return oom(v, off);
      ex[i] = (wh_cm_citem_t){NULL, args[i].name, 0, args[i].len, t};
    }
    inst = new_type(v, WH_CM_T_CORE_INSTANCE);
    if (!inst) return oom(v, off);
    T(v, inst)->cexp = ex;
    T(v, inst)->ncexp = nargs;
  }
  wh_cm_def_t d = {.kind = WH_CM_DEF_CORE_INSTANCE, .offset = off};
  d.u.inst.form = form;
  d.u.inst.of = of;
  d.u.inst.nargs = nargs;
  d.u.inst.args = args;
  rc = add_def(v, &d);
  if (rc) return rc;
  return push_idx(v, &s->core_instances, inst, off, "instances");
}

/* ---- names ------------------------------------------------------------------------ */

static bool is_kebab(const char *s, uint32_t n) {
  bool lower = false, upper = false, first = true, digit = false;
  if (n == 0 || s[n - 1] == '-') return false;
  for (uint32_t i = 0; i < n; i++) {
    char c = s[i];
    if (c >= 'a' && c <= 'z') {
      if (upper) return false;
      lower = true;
    } else if (c >= 'A' && c <= 'Z') {
      if (lower) return false;
      upper = true;
    } else if (c >= '0' && c <= '9') {
      if (!lower && !upper && first) return false;
      digit = true;
    } else if (c == '-') {
      if (!lower && !upper && !digit) return false;
      lower = upper = digit = false;
      first = false;
    } else {
      return false;
    }
  }
  return true;
}

static bool is_lower_kebab(const char *s, uint32_t n) {
  if (!is_kebab(s, n)) return false;
  for (uint32_t i = 0; i < n; i++)
    if (s[i] >= 'A' && s[i] <= 'Z') return false;
  return true;
}

/* semver 2.0: MAJOR.MINOR.PATCH(-pre)?(+build)? */
static bool semver_ident(const char *s, uint32_t n, bool numeric_no_zero) {
  if (n == 0) return false;
  bool all_digits = true;
  for (uint32_t i = 0; i < n; i++) {
    char c = s[i];
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
    if (!ok) return false;
    if (!(c >= '0' && c <= '9')) all_digits = false;
  }
  if (numeric_no_zero && all_digits && n > 1 && s[0] == '0') return false;
  return true;
}

static bool semver_num(const char *s, uint32_t n) {
  if (n == 0) return false;
  for (uint32_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return !(n > 1 && s[0] == '0');
}

static bool semver_valid(const char *s, uint32_t n) {
  uint32_t i = 0, start;
  for (int part = 0; part < 3; part++) {
    start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    if (!semver_num(s + start, i - start)) return false;
    if (part < 2) {
      if (i >= n || s[i] != '.') return false;
      i++;
    }
  }
  if (i < n && s[i] == '-') {
    i++;
    for (;;) {
      start = i;
      while (i < n && s[i] != '.' && s[i] != '+') i++;
      if (!semver_ident(s + start, i - start, true)) return false;
      if (i < n && s[i] == '.') { i++; continue; }
      break;
    }
  }
  if (i < n && s[i] == '+') {
    i++;
    for (;;) {
      start = i;
      while (i < n && s[i] != '.') i++;
      if (!semver_ident(s + start, i - start, false)) return false;
      if (i < n && s[i] == '.') { i++; continue; }
      break;
    }
  }
  return i == n;
}

enum { NK_LABEL, NK_CTOR, NK_METHOD, NK_STATIC, NK_IFACE, NK_DEP, NK_URL, NK_HASH };

typedef struct cname {
  int kind;
  const char *res, *fn;     /* [constructor]res, [method]res.fn */
  uint32_t res_len, fn_len;
  const char *ver;          /* interface version after '@' */
  uint32_t ver_len;
} cname_t;

/* Takes [a-zA-Z0-9-]* from *p and checks it is (lowercase) kebab. */
static bool take_kebab(const char **p, const char *end, bool lower) {
  const char *s = *p;
  while (*p < end && ((**p >= 'a' && **p <= 'z') || (**p >= 'A' && **p <= 'Z') ||
                      (**p >= '0' && **p <= '9') || **p == '-'))
    (*p)++;
  uint32_t n = (uint32_t)(*p - s);
  return lower ? is_lower_kebab(s, n) : is_kebab(s, n);
}

static bool eat(const char **p, const char *end, const char *lit) {
  size_t n = strlen(lit);
  if ((size_t)(end - *p) < n || memcmp(*p, lit, n) != 0) return false;
  *p += n;
  return true;
}

static bool is_base64(const char *s, uint32_t n) {
  if (n == 0) return false;
  uint32_t eq = 0;
  for (uint32_t i = 0; i < n; i++) {
    char c = s[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '+' || c == '/';
    if (alnum && eq == 0) continue;
    if (c == '=' && i > 0 && eq < 2) { eq++; continue; }
    return false;
  }
  return true;
}

static bool parse_hash(const char **p, const char *end) {
  const char *s = *p;
  while (*p < end && **p != '>') (*p)++;
  if (*p >= end) return false;
  const char *e = *p;
  bool any = false;
  while (s < e) {
    while (s < e && *s == ' ') s++;
    if (s >= e) break;
    const char *w = s;
    while (s < e && *s != ' ') s++;
    any = true;
    if (!(eat(&w, s, "sha256") || eat(&w, s, "sha384") || eat(&w, s, "sha512"))) return false;
    if (!eat(&w, s, "-")) return false;
    const char *q = w;
    while (q < s && *q != '?') q++;
    if (!is_base64(w, (uint32_t)(q - w))) return false;
  }
  return any;
}

static bool pkg_path(const char **p, const char *end, bool require_projection) {
  if (!take_kebab(p, end, true)) return false;
  if (!eat(p, end, ":")) return false;
  if (!take_kebab(p, end, true)) return false;
  if (*p < end && **p == '/') {
    (*p)++;
    if (!take_kebab(p, end, false)) return false;
  } else if (require_projection) {
    return false;
  }
  return true;
}

static bool parse_cname(const char *s, uint32_t n, cname_t *out) {
  const char *p = s, *end = s + n;
  memset(out, 0, sizeof *out);
  if (eat(&p, end, "[constructor]")) {
    out->kind = NK_CTOR;
    out->res = p;
    out->res_len = (uint32_t)(end - p);
    return is_kebab(p, (uint32_t)(end - p));
  }
  bool m = eat(&p, end, "[method]");
  if (m || eat(&p, end, "[static]")) {
    out->kind = m ? NK_METHOD : NK_STATIC;
    const char *dot = memchr(p, '.', (size_t)(end - p));
    if (!dot) return false;
    out->res = p;
    out->res_len = (uint32_t)(dot - p);
    out->fn = dot + 1;
    out->fn_len = (uint32_t)(end - dot - 1);
    return is_kebab(out->res, out->res_len) && is_kebab(out->fn, out->fn_len);
  }
  if (eat(&p, end, "unlocked-dep=")) {
    out->kind = NK_DEP;
    if (!eat(&p, end, "<") || !pkg_path(&p, end, false)) return false;
    if (eat(&p, end, "@")) {
      if (!eat(&p, end, "*")) {
        if (!eat(&p, end, "{")) return false;
        const char *r = p;
        while (p < end && *p != '}') p++;
        if (p >= end) return false;
        const char *re = p;
        p++;
        const char *q = r;
        if (eat(&q, re, ">=")) {
          const char *sp = memchr(q, ' ', (size_t)(re - q));
          const char *le = sp ? sp : re;
          if (!semver_valid(q, (uint32_t)(le - q))) return false;
          if (sp) {
            q = sp + 1;
            if (!eat(&q, re, "<") || !semver_valid(q, (uint32_t)(re - q))) return false;
          }
        } else if (eat(&q, re, "<")) {
          if (!semver_valid(q, (uint32_t)(re - q))) return false;
        } else {
          return false;
        }
      }
    }
    return eat(&p, end, ">") && p == end;
  }
  if (eat(&p, end, "locked-dep=")) {
    out->kind = NK_DEP;
    if (!eat(&p, end, "<") || !pkg_path(&p, end, false)) return false;
    if (eat(&p, end, "@")) {
      const char *q = p;
      while (p < end && *p != '>') p++;
      if (!semver_valid(q, (uint32_t)(p - q))) return false;
    }
    if (!eat(&p, end, ">")) return false;
    if (eat(&p, end, ",")) {
      if (!eat(&p, end, "integrity=<") || !parse_hash(&p, end) || !eat(&p, end, ">")) return false;
    }
    return p == end;
  }
  if (eat(&p, end, "url=")) {
    out->kind = NK_URL;
    if (!eat(&p, end, "<")) return false;
    const char *q = p;
    while (p < end && *p != '>') p++;
    if (p >= end || memchr(q, '<', (size_t)(p - q))) return false;
    p++;
    if (eat(&p, end, ",")) {
      if (!eat(&p, end, "integrity=<") || !parse_hash(&p, end) || !eat(&p, end, ">")) return false;
    }
    return p == end;
  }
  if (eat(&p, end, "integrity=")) {
    out->kind = NK_HASH;
    if (!eat(&p, end, "<") || !parse_hash(&p, end) || !eat(&p, end, ">")) return false;
    return p == end;
  }
  if (memchr(s, ':', n)) {
    out->kind = NK_IFACE;
    if (!pkg_path(&p, end, true)) return false;
    if (eat(&p, end, "@")) {
      out->ver = p;
      out->ver_len = (uint32_t)(end - p);
      p = end;
    }
    return p == end;
  }
  out->kind = NK_LABEL;
  return is_kebab(s, n);
}

/* The strongly-unique key of a name (wasm-tools' ordering): labels and
 * [constructor]/[method]/[static] compare case-insensitively,
 * [method]a.a equals a, [method] equals [static]. */
static const char *name_key(wh_cm_v_t *v, const char *s, uint32_t n, const cname_t *cn,
                            uint32_t *klen) {
  char *k = wh_cm__alloc(A(v), (size_t)n + 4);
  if (!k) return NULL;
  const char *body = s;
  uint32_t bl = n;
  char tag;
  bool fold = true;
  switch (cn->kind) {
  case NK_LABEL: tag = 'L'; break;
  case NK_CTOR: tag = 'C'; body = cn->res; bl = cn->res_len; break;
  case NK_METHOD: case NK_STATIC:
    body = cn->res;
    bl = cn->res_len + 1 + cn->fn_len;
    tag = 'M';
    if (cn->res_len == cn->fn_len && strncasecmp(cn->res, cn->fn, cn->res_len) == 0) {
      tag = 'L';
      bl = cn->res_len;
    }
    break;
  case NK_IFACE: tag = 'I'; fold = false; break;
  default: tag = (char)('D' + cn->kind); fold = false; break;
  }
  k[0] = tag;
  for (uint32_t i = 0; i < bl; i++) {
    char c = body[i];
    if (fold && c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    k[1 + i] = c;
  }
  *klen = bl + 1;
  return k;
}

static int check_label(wh_cm_v_t *v, const char *s, uint32_t n, const char *desc, long long off) {
  if (n == 0) return fail(v, off, "%s name cannot be empty", desc);
  if (!is_kebab(s, n)) return fail(v, off, "%s name `%s` is not in kebab case", desc, s);
  return 0;
}

/* Case-insensitive uniqueness of labels within one type. */
static int unique_labels(wh_cm_v_t *v, const wh_cm_rawfield_t *f, uint32_t n,
                         const char *desc, const char *prevdesc, long long off) {
  hmap_t seen = {0};
  for (uint32_t i = 0; i < n; i++) {
    int rc = check_label(v, f[i].name, f[i].len, desc, off);
    if (rc) return rc;
    char *low = wh_cm__alloc(A(v), (size_t)f[i].len + 1);
    if (!low) return oom(v, off);
    for (uint32_t k = 0; k < f[i].len; k++) {
      char c = f[i].name[k];
      low[k] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    hent_t *e = HM_GETS(&seen, low, f[i].len);
    if (e)
      return fail(v, off, "%s name `%s` conflicts with previous %s name `%s`", desc, f[i].name,
                  prevdesc, f[e->val].name);
    if (!HM_PUTS(A(v), &seen, low, f[i].len, i)) return oom(v, off);
  }
  return 0;
}

/* ---- value types ---------------------------------------------------------------- */

static int valtype(wh_cm_v_t *v, const wh_cm_rawval_t *r, wh_cm_tid_t *out, long long off) {
  if (!r->is_idx) {
    *out = r->v;
    return 0;
  }
  return defined_type_at(v, r->v, out, off);
}

int wh_cm__v_type_tid(wh_cm_v_t *v, wh_cm_tid_t tid, long long off) {
  wh_cm_def_t d = {.kind = WH_CM_DEF_TYPE, .offset = off};
  d.u.type = tid;
  int rc = add_def(v, &d);
  if (rc) return rc;
  return push_idx(v, &CUR(v)->types, tid, off, "types");
}

static int add_dres(wh_cm_v_t *v, scope_t *s, wh_cm_tid_t res, uint8_t rep, long long off) {
  wh_cm_respath_t rp = {res, 0, NULL, rep};
  if (!HM_PUTU(A(v), &s->dres_idx, res, s->dres.n)) return oom(v, off);
  if (!WH_CM_PUSH(A(v), s->dres, rp)) return oom(v, off);
  return 0;
}

int wh_cm__v_type(wh_cm_v_t *v, const wh_cm_rawtype_t *r, long long off) {
  scope_t *s = CUR(v);
  wh_cm_tid_t t = 0;
  int rc;
  if (r->kind >= WH_CM_T_BOOL && r->kind <= WH_CM_T_LAST_PRIM) {
    return wh_cm__v_type_tid(v, r->kind, off);
  }
  uint32_t size = 1;
  uint8_t depth = 1, borrow = 0;
  wh_cm_field_t *f = NULL;
  if (r->n) {
    f = wh_cm__alloc(A(v), (size_t)r->n * sizeof *f);
    if (!f) return oom(v, off);
  }
  wh_cm_tid_t a = 0, b = 0;
  switch (r->kind) {
  case WH_CM_T_RECORD:
    if (r->n == 0) return fail(v, off, "record type must have at least one field");
    rc = unique_labels(v, r->f, r->n, "record field", "field", off);
    if (rc) return rc;
    goto typed_fields;
  case WH_CM_T_VARIANT:
    if (r->n == 0) return fail(v, off, "variant type must have at least one case");
    rc = unique_labels(v, r->f, r->n, "variant case", "case", off);
    if (rc) return rc;
    goto typed_fields;
  case WH_CM_T_TUPLE:
    if (r->n == 0) return fail(v, off, "tuple type must have at least one type");
  typed_fields:
    for (uint32_t i = 0; i < r->n; i++) {
      f[i].name = r->f[i].name;
      f[i].len = r->f[i].len;
      if (r->f[i].has_type) {
        rc = valtype(v, &r->f[i].type, &f[i].type, off);
        if (rc) return rc;
        rc = combine(v, &size, &depth, &borrow, f[i].type, off);
        if (rc) return rc;
      }
    }
    break;
  case WH_CM_T_FLAGS:
    if (r->n == 0) return fail(v, off, "flags must have at least one entry");
    if (r->n > WH_CM_MAX_FLAGS) return fail(v, off, "cannot have more than 32 flags");
    rc = unique_labels(v, r->f, r->n, "flag", "flag", off);
    if (rc) return rc;
    goto names;
  case WH_CM_T_ENUM:
    if (r->n == 0) return fail(v, off, "enum type must have at least one variant");
    rc = unique_labels(v, r->f, r->n, "enum tag", "tag", off);
    if (rc) return rc;
  names:
    for (uint32_t i = 0; i < r->n; i++) {
      f[i].name = r->f[i].name;
      f[i].len = r->f[i].len;
    }
    break;
  case WH_CM_T_LIST: case WH_CM_T_OPTION:
    rc = valtype(v, &r->a, &a, off);
    if (rc) return rc;
    rc = combine(v, &size, &depth, &borrow, a, off);
    if (rc) return rc;
    break;
  case WH_CM_T_RESULT:
    if (r->has_a) {
      rc = valtype(v, &r->a, &a, off);
      if (!rc) rc = combine(v, &size, &depth, &borrow, a, off);
      if (rc) return rc;
    }
    if (r->has_b) {
      rc = valtype(v, &r->b, &b, off);
      if (!rc) rc = combine(v, &size, &depth, &borrow, b, off);
      if (rc) return rc;
    }
    break;
  case WH_CM_T_OWN: case WH_CM_T_BORROW:
    rc = resource_at(v, r->idx, &a, off);
    if (rc) return rc;
    if (r->kind == WH_CM_T_BORROW) borrow = 1;
    break;
  case WH_CM_T_FUNC: {
    /* params: kebab, unique (case-insensitive) */
    hmap_t seen = {0};
    for (uint32_t i = 0; i < r->n; i++) {
      rc = check_label(v, r->f[i].name, r->f[i].len, "function parameter", off);
      if (rc) return rc;
      char *low = wh_cm__alloc(A(v), (size_t)r->f[i].len + 1);
      if (!low) return oom(v, off);
      for (uint32_t k = 0; k < r->f[i].len; k++) {
        char c = r->f[i].name[k];
        low[k] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
      }
      hent_t *e = HM_GETS(&seen, low, r->f[i].len);
      if (e)
        return fail(v, off, "function parameter name `%s` conflicts with previous parameter name `%s`",
                    r->f[i].name, r->f[e->val].name);
      if (!HM_PUTS(A(v), &seen, low, r->f[i].len, i)) return oom(v, off);
      f[i].name = r->f[i].name;
      f[i].len = r->f[i].len;
      rc = valtype(v, &r->f[i].type, &f[i].type, off);
      if (!rc) rc = combine(v, &size, &depth, &borrow, f[i].type, off);
      if (rc) return rc;
    }
    if (r->has_a) {
      rc = valtype(v, &r->a, &a, off);
      if (rc) return rc;
      if (T(v, a)->borrow) return fail(v, off, "function result cannot contain a `borrow` type");
      rc = combine(v, &size, &depth, &borrow, a, off);
      if (rc) return rc;
    }
    break;
  }
  case WH_CM_T_RESOURCE: {
    if (s->kind != WH_CM_SCOPE_COMPONENT)
      return fail(v, off, "resources can only be defined within a concrete component");
    if (r->rep == 0x7e) return unsupported(v, off, "resources with `i64` representation are not supported");
    if (r->rep != 0x7f) return fail(v, off, "resources can only be represented by `i32` or `i64`");
    if (r->has_dtor) {
      wh_cm_tid_t ft = 0;
      rc = core_func_at(v, r->dtor, &ft, off);
      if (rc) return rc;
      wh_cm_type_t *x = T(v, ft);
      if (x->np != 1 || x->vt[0] != r->rep || x->nr != 0)
        return fail(v, off, "core function %u has wrong signature for a destructor", r->dtor);
    }
    t = new_type(v, WH_CM_T_RESOURCE);
    if (!t) return oom(v, off);
    T(v, t)->rep = r->rep;
    T(v, t)->dtor = r->has_dtor ? r->dtor + 1 : 0;
    rc = add_dres(v, s, t, r->rep, off);
    if (rc) return rc;
    return wh_cm__v_type_tid(v, t, off);
  }
  default:
    return fail(v, off, "invalid type");
  }
  if (depth > WH_CM_MAX_TYPE_DEPTH && r->kind != WH_CM_T_FUNC)
    return fail(v, off, "type nesting is too deep");
  t = new_type(v, r->kind);
  if (!t) return oom(v, off);
  wh_cm_type_t *n = T(v, t);
  n->n = r->n;
  n->f = f;
  n->a = a;
  n->b = b;
  n->size = size;
  n->depth = depth;
  n->borrow = borrow;
  return wh_cm__v_type_tid(v, t, off);
}

/* ---- free variables, named types ------------------------------------------ */

static int free_vars(wh_cm_v_t *v, wh_cm_tid_t t, hmap_t *set);

static int free_ext(wh_cm_v_t *v, const wh_cm_ext_t *e, hmap_t *set) {
  switch (e->sort) {
  case WH_CM_SORT_CORE_MODULE: return 0;
  case WH_CM_SORT_TYPE: return free_vars(v, e->type, set);
  default: return free_vars(v, e->type, set);
  }
}

static void set_remove_list(hmap_t *set, const wh_cm_respath_t *l, uint32_t n) {
  for (uint32_t i = 0; i < n; i++) {
    hent_t *e = HM_GETU(set, l[i].res);
    if (e) e->val = 0;     /* 0 = removed */
  }
}

/* Adds the resources `t` refers to but does not define (value 1). */
static int free_vars(wh_cm_v_t *v, wh_cm_tid_t t, hmap_t *set) {
  t = peel(v, t);
  wh_cm_type_t *n = T(v, t);
  int rc = 0;
  switch (n->kind) {
  case WH_CM_T_RESOURCE:
    return HM_PUTU(A(v), set, t, 1) ? 0 : WH_ENOMEM;
  case WH_CM_T_OWN: case WH_CM_T_BORROW:
    return HM_PUTU(A(v), set, peel(v, n->a), 1) ? 0 : WH_ENOMEM;
  case WH_CM_T_RECORD: case WH_CM_T_VARIANT: case WH_CM_T_TUPLE: case WH_CM_T_FUNC:
    for (uint32_t i = 0; i < T(v, t)->n && !rc; i++)
      if (T(v, t)->f[i].type) rc = free_vars(v, T(v, t)->f[i].type, set);
    if (!rc && T(v, t)->kind == WH_CM_T_FUNC && T(v, t)->a) rc = free_vars(v, T(v, t)->a, set);
    return rc;
  case WH_CM_T_LIST: case WH_CM_T_OPTION: case WH_CM_T_FIXED_LIST:
    return free_vars(v, n->a, set);
  case WH_CM_T_RESULT:
    if (n->a) rc = free_vars(v, n->a, set);
    if (!rc && T(v, t)->b) rc = free_vars(v, T(v, t)->b, set);
    return rc;
  case WH_CM_T_INSTANCE: case WH_CM_T_COMPONENT: {
    /* collect into a private set, drop defined/imported, merge */
    hmap_t inner = {0};
    for (uint32_t i = 0; i < T(v, t)->nimp && !rc; i++) rc = free_ext(v, &T(v, t)->imp[i].ext, &inner);
    for (uint32_t i = 0; i < T(v, t)->nexp && !rc; i++) rc = free_ext(v, &T(v, t)->exp[i].ext, &inner);
    if (rc) return rc;
    set_remove_list(&inner, T(v, t)->ires, T(v, t)->nires);
    set_remove_list(&inner, T(v, t)->dres, T(v, t)->ndres);
    for (uint32_t i = 0; i < inner.cap; i++)
      if (inner.e[i].used && inner.e[i].val)
        if (!HM_PUTU(A(v), set, inner.e[i].len, 1)) return WH_ENOMEM;
    return 0;
  }
  default:
    return 0;
  }
}

static bool set_has(const hmap_t *s, uint32_t k) {
  hent_t *e = HM_GETU(s, k);
  return e && e->val;
}

static bool named_valtype(wh_cm_v_t *v, wh_cm_tid_t t, const hmap_t *set) {
  if (t <= WH_CM_T_LAST_PRIM) return true;
  wh_cm_type_t *n = T(v, peel(v, t));
  switch (n->kind) {
  case WH_CM_T_FLAGS: case WH_CM_T_ENUM: case WH_CM_T_RECORD: case WH_CM_T_VARIANT:
    return set_has(set, t);
  case WH_CM_T_TUPLE:
    for (uint32_t i = 0; i < n->n; i++)
      if (!named_valtype(v, n->f[i].type, set)) return false;
    return true;
  case WH_CM_T_RESULT:
    return (!n->a || named_valtype(v, n->a, set)) && (!n->b || named_valtype(v, n->b, set));
  case WH_CM_T_LIST: case WH_CM_T_OPTION: case WH_CM_T_FIXED_LIST:
    return named_valtype(v, n->a, set);
  case WH_CM_T_OWN: case WH_CM_T_BORROW:
    return set_has(set, n->a);
  default:
    return true;
  }
}

static bool named_func(wh_cm_v_t *v, wh_cm_tid_t t, const hmap_t *set) {
  wh_cm_type_t *n = T(v, peel(v, t));
  for (uint32_t i = 0; i < n->n; i++)
    if (!named_valtype(v, n->f[i].type, set)) return false;
  return !n->a || named_valtype(v, n->a, set);
}

static bool named_defined(wh_cm_v_t *v, wh_cm_tid_t t, const hmap_t *set) {
  wh_cm_type_t *n = T(v, peel(v, t));
  switch (n->kind) {
  case WH_CM_T_RECORD: case WH_CM_T_VARIANT: case WH_CM_T_TUPLE:
    for (uint32_t i = 0; i < n->n; i++)
      if (n->f[i].type && !named_valtype(v, n->f[i].type, set)) return false;
    return true;
  case WH_CM_T_RESULT:
    return (!n->a || named_valtype(v, n->a, set)) && (!n->b || named_valtype(v, n->b, set));
  case WH_CM_T_LIST: case WH_CM_T_OPTION: case WH_CM_T_FIXED_LIST:
    return named_valtype(v, n->a, set);
  case WH_CM_T_OWN: case WH_CM_T_BORROW:
    return set_has(set, n->a);
  default:
    return true;
  }
}

static bool named_any(wh_cm_v_t *v, wh_cm_tid_t t, const hmap_t *set);

static bool named_instance(wh_cm_v_t *v, wh_cm_tid_t t, const hmap_t *set) {
  wh_cm_type_t *n = T(v, peel(v, t));
  for (uint32_t i = 0; i < n->nexp; i++) {
    const wh_cm_ext_t *e = &n->exp[i].ext;
    bool ok = true;
    switch (e->sort) {
    case WH_CM_SORT_FUNC: ok = named_func(v, e->type, set); break;
    case WH_CM_SORT_TYPE: ok = named_any(v, e->type, set); break;
    case WH_CM_SORT_INSTANCE: ok = named_instance(v, e->type, set); break;
    default: break;
    }
    if (!ok) return false;
  }
  return true;
}

static bool named_any(wh_cm_v_t *v, wh_cm_tid_t t, const hmap_t *set) {
  uint8_t k = kind_of(v, t);
  if (k == WH_CM_T_RESOURCE || k == WH_CM_T_COMPONENT) return true;
  if (k == WH_CM_T_FUNC) return named_func(v, t, set);
  if (k == WH_CM_T_INSTANCE) return named_instance(v, t, set);
  return named_defined(v, t, set);
}

enum { EK_IMPORT = 0, EK_EXPORT = 1, EK_NONE = 2 };

static const char *sort_desc(uint8_t sort) {
  switch (sort) {
  case WH_CM_SORT_CORE_MODULE: return "module";
  case WH_CM_SORT_FUNC: return "func";
  case WH_CM_SORT_VALUE: return "value";
  case WH_CM_SORT_TYPE: return "type";
  case WH_CM_SORT_COMPONENT: return "component";
  default: return "instance";
  }
}

static bool register_named(wh_cm_v_t *v, scope_t *s, const char *name, int kind,
                           const wh_cm_ext_t *e, int *err) {
  if (e->sort == WH_CM_SORT_TYPE && name && kind_of(v, e->type) == WH_CM_T_RESOURCE) {
    namectx_t *cx = kind == EK_IMPORT ? &s->imp_ctx : &s->exp_ctx;
    if (!HM_PUTU(A(v), &cx->by_res, e->type, cx->names.n) ||
        !WH_CM_PUSH(A(v), cx->names, name) ||
        !HM_PUTS(A(v), &cx->all, name, (uint32_t)strlen(name), 1)) {
      *err = WH_ENOMEM;
      return false;
    }
  }
  if (s->kind == WH_CM_SCOPE_ITYPE) return true;
  hmap_t *set = kind == EK_IMPORT ? &s->imported_types : &s->exported_types;
  switch (e->sort) {
  case WH_CM_SORT_TYPE:
    if (!named_any(v, e->ref, set)) return false;
    if (kind == EK_IMPORT && !HM_PUTU(A(v), &s->imported_types, e->type, 1)) { *err = WH_ENOMEM; return false; }
    if (!HM_PUTU(A(v), &s->exported_types, e->type, 1)) { *err = WH_ENOMEM; return false; }
    return true;
  case WH_CM_SORT_INSTANCE: {
    wh_cm_type_t *n = T(v, peel(v, e->type));
    uint32_t nexp = n->nexp;
    wh_cm_item_t *exp = n->exp;
    for (uint32_t i = 0; i < nexp; i++)
      if (!register_named(v, s, NULL, kind, &exp[i].ext, err)) return false;
    return true;
  }
  case WH_CM_SORT_FUNC:
    return named_func(v, e->type, set);
  default:
    return true;
  }
}

/* ---- remapping resources ------------------------------------------------------ */

static wh_cm_tid_t remap(wh_cm_v_t *v, wh_cm_tid_t t, remap_t *m, int *err);

static bool remap_ext(wh_cm_v_t *v, wh_cm_ext_t *e, remap_t *m, int *err) {
  wh_cm_ext_t o = *e;
  if (o.sort == WH_CM_SORT_CORE_MODULE) return false;
  if (o.sort == WH_CM_SORT_TYPE) {
    e->ref = remap(v, o.ref, m, err);
    if (o.type == o.ref) e->type = e->ref;
    else e->type = remap(v, o.type, m, err);
    return e->ref != o.ref || e->type != o.type;
  }
  e->type = remap(v, o.type, m, err);
  return e->type != o.type;
}

static wh_cm_respath_t *remap_rlist(wh_cm_v_t *v, const wh_cm_respath_t *l, uint32_t n,
                                    remap_t *m, bool *changed, int *err) {
  wh_cm_respath_t *out = wh_cm__alloc(A(v), (size_t)n * sizeof *out + 1);
  if (!out) { *err = WH_ENOMEM; return NULL; }
  for (uint32_t i = 0; i < n; i++) {
    out[i] = l[i];
    hent_t *e = HM_GETU(&m->res, l[i].res);
    if (e) { out[i].res = e->val; *changed = true; }
  }
  return out;
}

static wh_cm_tid_t remap(wh_cm_v_t *v, wh_cm_tid_t t, remap_t *m, int *err) {
  if (t <= WH_CM_T_LAST_PRIM || *err) return t;
  hent_t *c = HM_GETU(&m->types, t);
  if (c) return c->val;
  wh_cm_type_t n = *T(v, t);
  wh_cm_tid_t out = t;
  bool changed = false;
  switch (n.kind) {
  case WH_CM_T_RESOURCE: {
    hent_t *e = HM_GETU(&m->res, t);
    if (e) out = e->val;
    break;
  }
  case WH_CM_T_ALIAS: {
    wh_cm_tid_t a = remap(v, n.a, m, err);
    if (a != n.a) {
      out = new_type(v, WH_CM_T_ALIAS);
      if (!out) { *err = WH_ENOMEM; return t; }
      *T(v, out) = n;
      T(v, out)->a = a;
    }
    break;
  }
  case WH_CM_T_RECORD: case WH_CM_T_VARIANT: case WH_CM_T_TUPLE: case WH_CM_T_FUNC:
  case WH_CM_T_LIST: case WH_CM_T_OPTION: case WH_CM_T_FIXED_LIST: case WH_CM_T_RESULT:
  case WH_CM_T_OWN: case WH_CM_T_BORROW: {
    wh_cm_field_t *f = n.f;
    if (n.n && n.f) {
      f = wh_cm__alloc(A(v), (size_t)n.n * sizeof *f);
      if (!f) { *err = WH_ENOMEM; return t; }
      for (uint32_t i = 0; i < n.n; i++) {
        f[i] = n.f[i];
        if (f[i].type) {
          f[i].type = remap(v, n.f[i].type, m, err);
          if (f[i].type != n.f[i].type) changed = true;
        }
      }
    }
    wh_cm_tid_t a = n.a ? remap(v, n.a, m, err) : 0;
    wh_cm_tid_t b = n.b ? remap(v, n.b, m, err) : 0;
    if (a != n.a || b != n.b) changed = true;
    if (changed) {
      out = new_type(v, n.kind);
      if (!out) { *err = WH_ENOMEM; return t; }
      *T(v, out) = n;
      T(v, out)->f = f;
      T(v, out)->a = a;
      T(v, out)->b = b;
    }
    break;
  }
  case WH_CM_T_INSTANCE: case WH_CM_T_COMPONENT: {
    wh_cm_item_t *imp = NULL, *exp = NULL;
    if (n.nimp) {
      imp = wh_cm__alloc(A(v), (size_t)n.nimp * sizeof *imp);
      if (!imp) { *err = WH_ENOMEM; return t; }
      for (uint32_t i = 0; i < n.nimp; i++) {
        imp[i] = n.imp[i];
        if (remap_ext(v, &imp[i].ext, m, err)) changed = true;
      }
    }
    if (n.nexp) {
      exp = wh_cm__alloc(A(v), (size_t)n.nexp * sizeof *exp);
      if (!exp) { *err = WH_ENOMEM; return t; }
      for (uint32_t i = 0; i < n.nexp; i++) {
        exp[i] = n.exp[i];
        if (remap_ext(v, &exp[i].ext, m, err)) changed = true;
      }
    }
    wh_cm_respath_t *ires = remap_rlist(v, n.ires, n.nires, m, &changed, err);
    wh_cm_respath_t *dres = remap_rlist(v, n.dres, n.ndres, m, &changed, err);
    wh_cm_respath_t *xres = remap_rlist(v, n.xres, n.nxres, m, &changed, err);
    if (*err) return t;
    if (changed) {
      out = new_type(v, n.kind);
      if (!out) { *err = WH_ENOMEM; return t; }
      *T(v, out) = n;
      T(v, out)->imp = imp;
      T(v, out)->exp = exp;
      T(v, out)->ires = ires;
      T(v, out)->dres = dres;
      T(v, out)->xres = xres;
    }
    break;
  }
  default:
    break;
  }
  if (!HM_PUTU(A(v), &m->types, t, out)) *err = WH_ENOMEM;
  return out;
}

/* ---- subtyping ---------------------------------------------------------------- */

static int sub_ext(wh_cm_v_t *v, const wh_cm_ext_t *a, const wh_cm_ext_t *b, long long off);

static bool label_eq(const char *a, uint32_t al, const char *b, uint32_t bl) {
  return al == bl && strncasecmp(a, b, al) == 0;
}

static int val_eq(wh_cm_v_t *v, wh_cm_tid_t a, wh_cm_tid_t b, long long off) {
  a = peel(v, a);
  b = peel(v, b);
  if (a == b) return 0;
  wh_cm_type_t *x = T(v, a), *y = T(v, b);
  if (x->kind != y->kind) return fail(v, off, "type mismatch: expected a different value type");
  if (x->kind <= WH_CM_T_LAST_PRIM) return 0;
  int rc;
  switch (x->kind) {
  case WH_CM_T_RECORD: case WH_CM_T_VARIANT: case WH_CM_T_TUPLE:
  case WH_CM_T_FLAGS: case WH_CM_T_ENUM:
    if (x->n != y->n) return fail(v, off, "type mismatch: expected %u fields, found %u", y->n, x->n);
    for (uint32_t i = 0; i < x->n; i++) {
      x = T(v, a);
      y = T(v, b);
      if (x->f[i].name && !label_eq(x->f[i].name, x->f[i].len, y->f[i].name, y->f[i].len))
        return fail(v, off, "type mismatch: expected name `%s`, found `%s`", y->f[i].name, x->f[i].name);
      if (!x->f[i].type != !y->f[i].type) return fail(v, off, "type mismatch in case payload");
      if (x->f[i].type) {
        rc = val_eq(v, x->f[i].type, y->f[i].type, off);
        if (rc) return rc;
      }
    }
    return 0;
  case WH_CM_T_LIST: case WH_CM_T_OPTION:
    return val_eq(v, x->a, y->a, off);
  case WH_CM_T_FIXED_LIST:
    if (x->n != y->n) return fail(v, off, "type mismatch: fixed-length list sizes differ");
    return val_eq(v, x->a, y->a, off);
  case WH_CM_T_RESULT:
    if (!x->a != !y->a) return fail(v, off, "type mismatch in ok variant");
    if (!x->b != !y->b) return fail(v, off, "type mismatch in err variant");
    if (x->a && (rc = val_eq(v, x->a, y->a, off))) return rc;
    x = T(v, a);
    y = T(v, b);
    if (x->b && (rc = val_eq(v, x->b, y->b, off))) return rc;
    return 0;
  case WH_CM_T_OWN: case WH_CM_T_BORROW:
    if (peel(v, x->a) != peel(v, y->a)) return fail(v, off, "resource types are not the same");
    return 0;
  default:
    return fail(v, off, "type mismatch");
  }
}

static int func_sub(wh_cm_v_t *v, wh_cm_tid_t a, wh_cm_tid_t b, long long off) {
  a = peel(v, a);
  b = peel(v, b);
  if (a == b) return 0;
  wh_cm_type_t *x = T(v, a), *y = T(v, b);
  if (x->n != y->n) return fail(v, off, "type mismatch: expected %u parameters, found %u", y->n, x->n);
  for (uint32_t i = 0; i < x->n; i++) {
    x = T(v, a);
    y = T(v, b);
    if (!label_eq(x->f[i].name, x->f[i].len, y->f[i].name, y->f[i].len))
      return fail(v, off, "expected parameter named `%s`, found `%s`", y->f[i].name, x->f[i].name);
    int rc = val_eq(v, x->f[i].type, y->f[i].type, off);
    if (rc) return rc;
  }
  x = T(v, a);
  y = T(v, b);
  if (!x->a != !y->a)
    return fail(v, off, x->a ? "expected no result, found one" : "expected a result, found none");
  if (x->a) return val_eq(v, x->a, y->a, off);
  return 0;
}

static const wh_cm_item_t *find_item(const wh_cm_item_t *l, uint32_t n, const char *name,
                                     uint32_t len) {
  for (uint32_t i = 0; i < n; i++)
    if (l[i].len == len && memcmp(l[i].name, name, len) == 0) return &l[i];
  return NULL;
}

static int instance_sub(wh_cm_v_t *v, wh_cm_tid_t a, wh_cm_tid_t b, long long off) {
  a = peel(v, a);
  b = peel(v, b);
  if (a == b) return 0;
  uint32_t nb = T(v, b)->nexp;
  for (uint32_t i = 0; i < nb; i++) {
    const wh_cm_item_t *be = &T(v, b)->exp[i];
    const wh_cm_item_t *ae = find_item(T(v, a)->exp, T(v, a)->nexp, be->name, be->len);
    if (!ae) return fail(v, off, "type mismatch: missing expected export `%s`", be->name);
    wh_cm_ext_t ax = ae->ext, bx = be->ext;
    int rc = sub_ext(v, &ax, &bx, off);
    if (rc) return rc;
  }
  return 0;
}

static int module_sub(wh_cm_v_t *v, wh_cm_tid_t a, wh_cm_tid_t b, long long off) {
  if (a == b) return 0;
  wh_cm_type_t *x = T(v, a), *y = T(v, b);
  const char *why;
  for (uint32_t i = 0; i < x->ncimp; i++) {
    const wh_cm_citem_t *ai = &x->cimp[i];
    const wh_cm_citem_t *bi = NULL;
    for (uint32_t k = 0; k < y->ncimp; k++)
      if (y->cimp[k].len == ai->len && y->cimp[k].module_len == ai->module_len &&
          memcmp(y->cimp[k].name, ai->name, ai->len) == 0 &&
          memcmp(y->cimp[k].module, ai->module, ai->module_len) == 0)
        bi = &y->cimp[k];
    if (!bi) return fail(v, off, "type mismatch: missing expected import `%s::%s`", ai->module, ai->name);
    if (!core_ext_sub(v, bi->type, ai->type, &why))
      return fail(v, off, "type mismatch in import `%s::%s`: %s", ai->module, ai->name, why);
  }
  for (uint32_t i = 0; i < y->ncexp; i++) {
    const wh_cm_citem_t *be = &y->cexp[i];
    const wh_cm_citem_t *ae = NULL;
    for (uint32_t k = 0; k < x->ncexp; k++)
      if (x->cexp[k].len == be->len && memcmp(x->cexp[k].name, be->name, be->len) == 0) ae = &x->cexp[k];
    if (!ae) return fail(v, off, "type mismatch: missing expected export `%s`", be->name);
    if (!core_ext_sub(v, ae->type, be->type, &why))
      return fail(v, off, "type mismatch in export `%s`: %s", be->name, why);
  }
  return 0;
}

/* One named typed item given to satisfy a signature. */
typedef struct given {
  const wh_cm_item_t *items;
  uint32_t n;
} given_t;

static const wh_cm_ext_t *given_get(const given_t *g, const char *name, uint32_t len) {
  const wh_cm_item_t *it = find_item(g->items, g->n, name, len);
  return it ? &it->ext : NULL;
}

static void register_renamings(wh_cm_v_t *v, const wh_cm_ext_t *actual,
                               const wh_cm_ext_t *expected, hmap_t *map, int *err) {
  if (expected->sort == WH_CM_SORT_TYPE && actual->sort == WH_CM_SORT_TYPE) {
    if (!HM_PUTU(A(v), map, expected->type, actual->type)) *err = WH_ENOMEM;
    return;
  }
  if (expected->sort == WH_CM_SORT_INSTANCE && actual->sort == WH_CM_SORT_INSTANCE) {
    wh_cm_type_t *ei = T(v, peel(v, expected->type));
    wh_cm_type_t *ai = T(v, peel(v, actual->type));
    uint32_t n = ei->nexp;
    wh_cm_item_t *eexp = ei->exp, *aexp = ai->exp;
    uint32_t an = ai->nexp;
    for (uint32_t i = 0; i < n; i++) {
      const wh_cm_item_t *a = find_item(aexp, an, eexp[i].name, eexp[i].len);
      if (a) register_renamings(v, &a->ext, &eexp[i].ext, map, err);
    }
  }
}

/* Checks that `a` satisfies the imports (kind EK_IMPORT) or exports of
 * the component type `b`; fills *m with b's resources -> a's, plus type
 * renamings. */
static int open_instance(wh_cm_v_t *v, const given_t *a, wh_cm_tid_t b, int kind,
                         remap_t *m, long long off) {
  int err = 0;
  b = peel(v, b);
  memset(m, 0, sizeof *m);
  wh_cm_type_t *bt = T(v, b);
  const wh_cm_item_t *ents = kind == EK_IMPORT ? bt->imp : bt->exp;
  uint32_t nents = kind == EK_IMPORT ? bt->nimp : bt->nexp;
  const wh_cm_respath_t *res = kind == EK_IMPORT ? bt->ires : bt->dres;
  uint32_t nres = kind == EK_IMPORT ? bt->nires : bt->ndres;
  for (uint32_t i = 0; i < nres; i++) {
    const wh_cm_respath_t *rp = &res[i];
    if (rp->npath == 0 || rp->path[0] >= nents) continue;
    const wh_cm_item_t *ent = &ents[rp->path[0]];
    wh_cm_ext_t ty = ent->ext;
    const wh_cm_ext_t *arg = given_get(a, ent->name, ent->len);
    bool skip = false;
    for (uint32_t k = 1; k < rp->npath && !skip; k++) {
      if (ty.sort != WH_CM_SORT_INSTANCE) { skip = true; break; }
      wh_cm_type_t *it = T(v, peel(v, ty.type));
      if (rp->path[k] >= it->nexp) { skip = true; break; }
      const wh_cm_item_t *nx = &it->exp[rp->path[k]];
      ty = nx->ext;
      if (!arg || arg->sort != WH_CM_SORT_INSTANCE) { skip = true; break; }
      wh_cm_type_t *at_ = T(v, peel(v, arg->type));
      const wh_cm_item_t *ai = find_item(at_->exp, at_->nexp, nx->name, nx->len);
      arg = ai ? &ai->ext : NULL;
    }
    if (skip || !arg) continue;
    if (arg->sort == WH_CM_SORT_TYPE && kind_of(v, arg->type) == WH_CM_T_RESOURCE) {
      if (!HM_PUTU(A(v), &m->res, rp->res, peel(v, arg->type))) return oom(v, off);
    }
  }
  hmap_t type_map = {0};
  for (uint32_t i = 0; i < nents; i++) {
    bt = T(v, b);
    ents = kind == EK_IMPORT ? bt->imp : bt->exp;
    const wh_cm_item_t *ent = &ents[i];
    const wh_cm_ext_t *arg = given_get(a, ent->name, ent->len);
    if (!arg) return fail(v, off, "missing %s named `%s`", kind == EK_IMPORT ? "import" : "export", ent->name);
    wh_cm_ext_t expected = ent->ext;
    const char *ename = ent->name;
    m->types = (hmap_t){0};
    remap_ext(v, &expected, m, &err);
    if (err) return oom(v, off);
    wh_cm_ext_t actual = *arg;
    int rc = sub_ext(v, &actual, &expected, off);
    if (rc) {
      if (v->diag) {
        char buf[sizeof v->diag->msg];
        snprintf(buf, sizeof buf, "type mismatch for %s `%.40s`: %.160s",
                 kind == EK_IMPORT ? "import" : "export", ename, v->diag->msg);
        memcpy(v->diag->msg, buf, sizeof buf);
      }
      return rc;
    }
    /* renamings key on the signature's own (un-remapped) type ids, as
     * wasm-tools does: every later use of the imported type then names
     * the argument's type */
    wh_cm_ext_t orig = ent->ext;
    register_renamings(v, &actual, &orig, &type_map, &err);
    if (err) return oom(v, off);
  }
  m->types = type_map;
  return 0;
}

static int component_sub(wh_cm_v_t *v, wh_cm_tid_t a, wh_cm_tid_t b, long long off) {
  a = peel(v, a);
  b = peel(v, b);
  if (a == b) return 0;
  remap_t im;
  given_t bi = {T(v, b)->imp, T(v, b)->nimp};
  int rc = open_instance(v, &bi, a, EK_IMPORT, &im, off);
  if (rc) return rc;
  uint32_t n = T(v, a)->nexp;
  wh_cm_item_t *aexp = wh_cm__alloc(A(v), (size_t)n * sizeof *aexp + 1);
  if (!aexp) return oom(v, off);
  int err = 0;
  for (uint32_t i = 0; i < n; i++) {
    aexp[i] = T(v, a)->exp[i];
    remap_ext(v, &aexp[i].ext, &im, &err);
  }
  if (err) return oom(v, off);
  given_t ae = {aexp, n};
  remap_t em;
  return open_instance(v, &ae, b, EK_EXPORT, &em, off);
}

static int any_type_sub(wh_cm_v_t *v, wh_cm_tid_t a, wh_cm_tid_t b, long long off) {
  uint8_t ka = kind_of(v, a), kb = kind_of(v, b);
  if (ka == WH_CM_T_RESOURCE || kb == WH_CM_T_RESOURCE) {
    if (ka != kb) return fail(v, off, "type mismatch: expected %s, found %s",
                              kb == WH_CM_T_RESOURCE ? "resource" : "a non-resource type",
                              ka == WH_CM_T_RESOURCE ? "resource" : "a non-resource type");
    if (peel(v, a) != peel(v, b)) return fail(v, off, "resource types are not the same");
    return 0;
  }
  if (is_defval(ka) && is_defval(kb)) return val_eq(v, a, b, off);
  if (ka != kb) return fail(v, off, "type mismatch: expected a different kind of type");
  switch (ka) {
  case WH_CM_T_FUNC: return func_sub(v, a, b, off);
  case WH_CM_T_INSTANCE: return instance_sub(v, a, b, off);
  case WH_CM_T_COMPONENT: return component_sub(v, a, b, off);
  default: return fail(v, off, "type mismatch");
  }
}

static int sub_ext(wh_cm_v_t *v, const wh_cm_ext_t *a, const wh_cm_ext_t *b, long long off) {
  if (a->sort != b->sort)
    return fail(v, off, "type mismatch: expected %s, found %s", sort_desc(b->sort), sort_desc(a->sort));
  switch (a->sort) {
  case WH_CM_SORT_CORE_MODULE: return module_sub(v, a->type, b->type, off);
  case WH_CM_SORT_FUNC: return func_sub(v, a->type, b->type, off);
  case WH_CM_SORT_TYPE: return any_type_sub(v, a->ref, b->ref, off);
  case WH_CM_SORT_INSTANCE: return instance_sub(v, a->type, b->type, off);
  case WH_CM_SORT_COMPONENT: return component_sub(v, a->type, b->type, off);
  default: return fail(v, off, "values are not supported");
  }
}

/* ---- imports, exports, entities --------------------------------------------- */

static int check_type_ref(wh_cm_v_t *v, const wh_cm_rawext_t *r, wh_cm_ext_t *out, long long off) {
  wh_cm_tid_t t = 0;
  int rc;
  out->sort = r->sort;
  out->ref = 0;
  switch (r->sort) {
  case WH_CM_SORT_CORE_MODULE:
    rc = at(v, &CUR(v)->core_types, r->idx, &t, off, "type");
    if (rc) return rc;
    if (T(v, t)->kind != WH_CM_T_CORE_MODULE) return fail(v, off, "core type index %u is not a module type", r->idx);
    out->type = t;
    return 0;
  case WH_CM_SORT_FUNC:
    rc = func_type_at(v, r->idx, &out->type, off);
    return rc;
  case WH_CM_SORT_TYPE:
    if (r->bound == 0) {
      rc = type_at(v, r->idx, &t, off);
      if (rc) return rc;
      wh_cm_tid_t al = new_type(v, WH_CM_T_ALIAS);
      if (!al) return oom(v, off);
      *T(v, al) = *T(v, peel(v, t));
      T(v, al)->kind = WH_CM_T_ALIAS;
      T(v, al)->a = t;
      out->ref = t;
      out->type = al;
    } else {
      t = new_type(v, WH_CM_T_RESOURCE);
      if (!t) return oom(v, off);
      out->ref = out->type = t;
    }
    return 0;
  case WH_CM_SORT_INSTANCE:
    rc = type_at(v, r->idx, &t, off);
    if (rc) return rc;
    if (kind_of(v, t) != WH_CM_T_INSTANCE) return fail(v, off, "type index %u is not an instance type", r->idx);
    out->type = peel(v, t);
    return 0;
  case WH_CM_SORT_COMPONENT:
    rc = type_at(v, r->idx, &t, off);
    if (rc) return rc;
    if (kind_of(v, t) != WH_CM_T_COMPONENT) return fail(v, off, "type index %u is not a component type", r->idx);
    out->type = peel(v, t);
    return 0;
  default:
    return unsupported(v, off, "component model values are not supported");
  }
}

static uint32_t *mkpath(wh_cm_v_t *v, uint32_t first, const uint32_t *rest, uint32_t nrest) {
  uint32_t *p = wh_cm__alloc(A(v), ((size_t)nrest + 1) * sizeof *p);
  if (!p) return NULL;
  p[0] = first;
  if (nrest) memcpy(p + 1, rest, (size_t)nrest * sizeof *p);
  return p;
}

static int set_xres(wh_cm_v_t *v, scope_t *s, wh_cm_tid_t res, uint32_t *path, uint32_t npath,
                    long long off) {
  if (!path) return oom(v, off);
  hent_t *e = HM_GETU(&s->xres_idx, res);
  wh_cm_respath_t rp = {res, npath, path, 0};
  if (e) {
    s->xres.v[e->val] = rp;
    return 0;
  }
  if (!HM_PUTU(A(v), &s->xres_idx, res, s->xres.n) || !WH_CM_PUSH(A(v), s->xres, rp))
    return oom(v, off);
  return 0;
}

/* Freshens the defined resources of an imported/exported instance type. */
static int prepare_instance(wh_cm_v_t *v, scope_t *s, wh_cm_tid_t *id, int kind, long long off) {
  wh_cm_tid_t t = peel(v, *id);
  int err = 0;
  if (kind != EK_NONE && T(v, t)->ndres) {
    remap_t m = {0};
    uint32_t nd = T(v, t)->ndres;
    for (uint32_t i = 0; i < nd; i++) {
      wh_cm_tid_t fresh = new_type(v, WH_CM_T_RESOURCE);
      if (!fresh) return oom(v, off);
      wh_cm_tid_t old = T(v, t)->dres[i].res;
      if (!HM_PUTU(A(v), &m.res, old, fresh)) return oom(v, off);
      if (kind == EK_IMPORT) {
        /* path: this import, then the instance's export path of it */
        const wh_cm_respath_t *xp = NULL;
        for (uint32_t k = 0; k < T(v, t)->nxres; k++)
          if (T(v, t)->xres[k].res == old) xp = &T(v, t)->xres[k];
        wh_cm_respath_t rp = {fresh, 1, NULL, 0};
        rp.path = xp ? mkpath(v, s->imports.n, xp->path, xp->npath) : mkpath(v, s->imports.n, NULL, 0);
        if (!rp.path) return oom(v, off);
        if (xp) rp.npath = xp->npath + 1;
        if (!WH_CM_PUSH(A(v), s->ires, rp)) return oom(v, off);
      } else {
        int rc = add_dres(v, s, fresh, 0, off);
        if (rc) return rc;
      }
    }
    wh_cm_tid_t nt = remap(v, t, &m, &err);
    if (err) return oom(v, off);
    if (nt == t) {   /* only the resource list changed: copy */
      nt = new_type(v, WH_CM_T_INSTANCE);
      if (!nt) return oom(v, off);
      *T(v, nt) = *T(v, t);
    } else {
      /* remap() copied the node; the resource lists were remapped too */
    }
    T(v, nt)->ndres = 0;
    T(v, nt)->dres = NULL;
    t = nt;
    *id = t;
  }
  if (kind == EK_EXPORT) {
    uint32_t nx = T(v, t)->nxres;
    for (uint32_t i = 0; i < nx; i++) {
      const wh_cm_respath_t *xp = &T(v, t)->xres[i];
      int rc = set_xres(v, s, xp->res, mkpath(v, s->exports.n, xp->path, xp->npath), xp->npath + 1, off);
      if (rc) return rc;
    }
  }
  return 0;
}

static int add_entity(wh_cm_v_t *v, scope_t *s, wh_cm_ext_t *e, const char *name, int kind,
                      long long off) {
  int rc = 0;
  switch (e->sort) {
  case WH_CM_SORT_CORE_MODULE:
    rc = push_idx(v, &s->core_modules, e->type, off, "modules");
    break;
  case WH_CM_SORT_COMPONENT:
    rc = push_idx(v, &s->components, e->type, off, "components");
    break;
  case WH_CM_SORT_INSTANCE:
    rc = prepare_instance(v, s, &e->type, kind, off);
    if (!rc) rc = push_idx(v, &s->instances, e->type, off, "instances");
    if (!rc && !WH_CM_PUSH(A(v), s->inst_imp, (uint8_t)(kind == EK_IMPORT || v->pending_imp)))
      rc = oom(v, off);
    break;
  case WH_CM_SORT_FUNC:
    rc = push_idx(v, &s->funcs, e->type, off, "functions");
    if (!rc && !WH_CM_PUSH(A(v), s->func_imp, (uint8_t)(kind == EK_IMPORT || v->pending_imp)))
      rc = oom(v, off);
    break;
  case WH_CM_SORT_TYPE:
    rc = push_idx(v, &s->types, e->type, off, "types");
    if (rc) break;
    if (kind_of(v, e->type) == WH_CM_T_RESOURCE) {
      wh_cm_tid_t res = peel(v, e->type);
      if (kind == EK_IMPORT && e->type == e->ref) {
        wh_cm_respath_t rp = {res, 1, mkpath(v, s->imports.n, NULL, 0), 0};
        if (!rp.path || !WH_CM_PUSH(A(v), s->ires, rp)) return oom(v, off);
      } else if (kind == EK_EXPORT) {
        if (e->type == e->ref) {
          rc = add_dres(v, s, res, 0, off);
          if (rc) return rc;
        }
        rc = set_xres(v, s, res, mkpath(v, s->exports.n, NULL, 0), 1, off);
      }
    }
    break;
  default:
    return unsupported(v, off, "component model values are not supported");
  }
  if (rc || !name) return rc;
  int err = 0;
  if (!register_named(v, s, name, kind, e, &err)) {
    if (err) return oom(v, off);
    return fail(v, off, "%s not valid to be used as %s", sort_desc(e->sort),
                kind == EK_IMPORT ? "import" : "export");
  }
  return 0;
}

static int validate_resource_name(wh_cm_v_t *v, const namectx_t *cx, wh_cm_tid_t id,
                                  const char *name, uint32_t len, long long off) {
  hent_t *e = HM_GETU(&cx->by_res, id);
  if (!e) return fail(v, off, "resource used in function does not have a name in this context");
  const char *expected = cx->names.v[e->val];
  if (strlen(expected) != len || memcmp(expected, name, len) != 0)
    return fail(v, off, "function does not match expected resource name `%s`", expected);
  return 0;
}

/* Name rules and uniqueness; adds the item to `items`. */
static int validate_extern(wh_cm_v_t *v, const namectx_t *cx, const wh_cm_rawname_t *rn,
                           int kind, const wh_cm_ext_t *e, hmap_t *keys, hmap_t *raw,
                           void *items_vec, long long off) {
  const char *kd = kind == EK_IMPORT ? "import" : "export";
  cname_t cn;
  if (!parse_cname(rn->name, rn->len, &cn))
    return fail(v, off, "%s name `%s` is not a valid extern name", kd, rn->name);
  if (kind == EK_EXPORT && (cn.kind == NK_DEP || cn.kind == NK_URL || cn.kind == NK_HASH))
    return fail(v, off, "name `%s` is not a valid export name", rn->name);
  if (rn->has_implements) {
    if (cn.kind != NK_LABEL) return fail(v, off, "name `%s` is not valid with `implements`", rn->name);
    if (e->sort != WH_CM_SORT_INSTANCE) return fail(v, off, "only instances can have an `implements`");
    cname_t im;
    if (!parse_cname(rn->implements, rn->implements_len, &im))
      return fail(v, off, "`%s` is not a valid name", rn->implements);
    if (im.kind != NK_IFACE) return fail(v, off, "name `%s` must be an interface", rn->implements);
  }
  if (rn->has_version && e->sort != WH_CM_SORT_INSTANCE)
    return fail(v, off, "only instances can have an `versionsuffix`");
  wh_cm_type_t *ft = e->sort == WH_CM_SORT_FUNC ? T(v, peel(v, e->type)) : NULL;
  switch (cn.kind) {
  case NK_IFACE:
    if (cn.ver) {
      if (rn->has_version) {
        char buf[512];
        if ((size_t)cn.ver_len + rn->version_len >= sizeof buf)
          return fail(v, off, "invalid interface version: too long");
        memcpy(buf, cn.ver, cn.ver_len);
        memcpy(buf + cn.ver_len, rn->version, rn->version_len);
        if (!semver_valid(buf, cn.ver_len + rn->version_len))
          return fail(v, off, "%s name `%s` is not valid: invalid interface version", kd, rn->name);
      } else if (!semver_valid(cn.ver, cn.ver_len)) {
        return fail(v, off, "%s name `%s` is not valid: invalid interface version", kd, rn->name);
      }
    }
    break;
  case NK_CTOR: {
    if (!ft) return fail(v, off, "%s name `%s` is not valid: item is not a func", kd, rn->name);
    if (!ft->a) return fail(v, off, "function should return one value");
    wh_cm_type_t *rt = T(v, peel(v, ft->a));
    wh_cm_tid_t res = 0;
    if (ft->a > WH_CM_T_LAST_PRIM) {
      if (rt->kind == WH_CM_T_OWN) res = rt->a;
      else if (rt->kind == WH_CM_T_RESULT && rt->a > WH_CM_T_LAST_PRIM &&
               kind_of(v, rt->a) == WH_CM_T_OWN)
        res = T(v, peel(v, rt->a))->a;
    }
    if (!res) return fail(v, off, "function should return `(own $T)` or `(result (own $T))`");
    int rc = validate_resource_name(v, cx, res, cn.res, cn.res_len, off);
    if (rc) return rc;
    break;
  }
  case NK_METHOD: {
    if (!ft) return fail(v, off, "%s name `%s` is not valid: item is not a func", kd, rn->name);
    if (ft->n == 0) return fail(v, off, "function should have at least one argument");
    if (ft->f[0].len != 4 || memcmp(ft->f[0].name, "self", 4) != 0)
      return fail(v, off, "function should have a first argument called `self`");
    wh_cm_tid_t pt = ft->f[0].type;
    if (pt <= WH_CM_T_LAST_PRIM || kind_of(v, pt) != WH_CM_T_BORROW)
      return fail(v, off, "function should take a first argument of `(borrow $T)`");
    int rc = validate_resource_name(v, cx, T(v, peel(v, pt))->a, cn.res, cn.res_len, off);
    if (rc) return rc;
    break;
  }
  case NK_STATIC:
    if (!ft) return fail(v, off, "%s name `%s` is not valid: item is not a func", kd, rn->name);
    if (!HM_GETS(&cx->all, cn.res, cn.res_len))
      return fail(v, off, "static resource name is not known in this context");
    break;
  default:
    break;
  }
  uint32_t klen = 0;
  const char *key = name_key(v, rn->name, rn->len, &cn, &klen);
  if (!key) return oom(v, off);
  hent_t *prev = HM_GETS(keys, key, klen);
  if (prev) return fail(v, off, "%s name `%s` conflicts with previous name", kd, rn->name);
  if (!HM_PUTS(A(v), keys, key, klen, 1)) return oom(v, off);
  if (HM_GETS(raw, rn->name, rn->len))
    return fail(v, off, "%s name `%s` conflicts with previous name `%s`", kd, rn->name, rn->name);
  if (!HM_PUTS(A(v), raw, rn->name, rn->len, 1)) return oom(v, off);
  WH_CM_VEC(wh_cm_item_t) *items = items_vec;
  wh_cm_item_t it = {rn->name, rn->len, *e};
  if (!WH_CM_PUSH(A(v), *items, it)) return oom(v, off);
  return 0;
}

int wh_cm__v_import(wh_cm_v_t *v, const wh_cm_rawname_t *n, const wh_cm_rawext_t *r,
                    long long off) {
  scope_t *s = CUR(v);
  wh_cm_ext_t e;
  int rc = check_type_ref(v, r, &e, off);
  if (rc) return rc;
  if (v->nsc == 1 && e.sort == WH_CM_SORT_COMPONENT)
    restrict_root(v, off, "root-level component imports are not supported");
  rc = add_entity(v, s, &e, n->name, EK_IMPORT, off);
  if (rc) return rc;
  rc = validate_extern(v, &s->imp_ctx, n, EK_IMPORT, &e, &s->import_keys, &s->import_raw,
                       &s->imports, off);
  if (rc) return rc;
  wh_cm_def_t d = {.kind = WH_CM_DEF_IMPORT, .offset = off};
  d.u.item.name = n->name;
  d.u.item.len = n->len;
  d.u.item.ext = e;
  return add_def(v, &d);
}

static int item_of_sort(wh_cm_v_t *v, uint8_t sort, uint32_t idx, wh_cm_ext_t *out,
                        bool fresh_alias, long long off) {
  wh_cm_tid_t t = 0;
  int rc;
  out->sort = sort;
  out->ref = 0;
  switch (sort) {
  case WH_CM_SORT_CORE_MODULE: rc = module_at(v, idx, &t, off); break;
  case WH_CM_SORT_FUNC: rc = function_at(v, idx, &t, off); break;
  case WH_CM_SORT_INSTANCE: rc = instance_at(v, idx, &t, off); break;
  case WH_CM_SORT_COMPONENT: rc = component_at(v, idx, &t, off); break;
  case WH_CM_SORT_TYPE:
    rc = type_at(v, idx, &t, off);
    if (rc) return rc;
    out->ref = t;
    out->type = t;
    if (fresh_alias) {
      wh_cm_tid_t al = new_type(v, WH_CM_T_ALIAS);
      if (!al) return oom(v, off);
      *T(v, al) = *T(v, peel(v, t));
      T(v, al)->kind = WH_CM_T_ALIAS;
      T(v, al)->a = t;
      out->type = al;
    }
    return 0;
  default:
    return unsupported(v, off, "component model values are not supported");
  }
  if (rc) return rc;
  out->type = t;
  return 0;
}

int wh_cm__v_export(wh_cm_v_t *v, const wh_cm_rawname_t *n, uint8_t sort, uint32_t idx,
                    const wh_cm_rawext_t *r, long long off) {
  scope_t *s = CUR(v);
  wh_cm_ext_t e;
  int rc;
  if (s->kind == WH_CM_SCOPE_COMPONENT) {
    rc = item_of_sort(v, sort, idx, &e, true, off);
    if (rc) return rc;
    if (r) {
      wh_cm_ext_t asc;
      rc = check_type_ref(v, r, &asc, off);
      if (rc) return rc;
      rc = sub_ext(v, &e, &asc, off);
      if (rc) {
        if (v->diag) {
          char buf[sizeof v->diag->msg];
          snprintf(buf, sizeof buf, "ascribed type of export is not compatible with item's type: %.180s",
                   v->diag->msg);
          memcpy(v->diag->msg, buf, sizeof buf);
        }
        return rc;
      }
      e = asc;
    }
  } else {
    rc = check_type_ref(v, r, &e, off);
    if (rc) return rc;
  }
  if (s->exports.n >= WH_CM_MAX_ITEMS) return fail(v, off, "exports count exceeds limit");
  if (v->nsc == 1 && e.sort == WH_CM_SORT_COMPONENT)
    restrict_root(v, off, "exporting a component from the root component is not supported");
  if (v->nsc == 1 && sort == WH_CM_SORT_FUNC && idx < s->func_imp.n && s->func_imp.v[idx]) {
    char msg[200];
    snprintf(msg, sizeof msg,
             "component export `%.100s` is a reexport of an imported function which is not implemented",
             n->name);
    restrict_root(v, off, msg);
  }
  if (s->kind == WH_CM_SCOPE_COMPONENT) {
    uint8_t fl = 0;
    if (sort == WH_CM_SORT_FUNC && idx < s->func_imp.n) fl = s->func_imp.v[idx];
    if (sort == WH_CM_SORT_INSTANCE && idx < s->inst_imp.n) fl = s->inst_imp.v[idx];
    v->pending_imp = fl;
  }
  rc = add_entity(v, s, &e, n->name, EK_EXPORT, off);
  v->pending_imp = 0;
  if (rc) return rc;
  rc = validate_extern(v, &s->exp_ctx, n, EK_EXPORT, &e, &s->export_keys, &s->export_raw,
                       &s->exports, off);
  if (rc) return rc;
  wh_cm_def_t d = {.kind = WH_CM_DEF_EXPORT, .offset = off};
  d.u.item.name = n->name;
  d.u.item.len = n->len;
  d.u.item.ext = e;
  d.u.item.sort = sort;
  d.u.item.idx = idx;
  return add_def(v, &d);
}

/* ---- instances ------------------------------------------------------------------- */

int wh_cm__v_instance(wh_cm_v_t *v, uint8_t form, uint32_t of, uint32_t nargs,
                      wh_cm_arg_t *args, wh_cm_rawname_t *names, long long off) {
  scope_t *s = CUR(v);
  int rc, err = 0;
  wh_cm_tid_t inst = 0;
  wh_cm_item_t *items = wh_cm__alloc(A(v), (size_t)nargs * sizeof *items + 1);
  if (!items) return oom(v, off);
  if (form == 0) {
    wh_cm_tid_t ct = 0;
    rc = component_at(v, of, &ct, off);
    if (rc) return rc;
    hmap_t seen = {0};
    for (uint32_t i = 0; i < nargs; i++) {
      items[i].name = args[i].name;
      items[i].len = args[i].len;
      rc = item_of_sort(v, args[i].sort, args[i].idx, &items[i].ext, false, off);
      if (rc) return rc;
      if (HM_GETS(&seen, args[i].name, args[i].len))
        return fail(v, off, "instantiation argument `%s` conflicts with previous argument `%s`",
                    args[i].name, args[i].name);
      if (!HM_PUTS(A(v), &seen, args[i].name, args[i].len, 1)) return oom(v, off);
    }
    given_t g = {items, nargs};
    remap_t m;
    rc = open_instance(v, &g, ct, EK_IMPORT, &m, off);
    if (rc) return rc;
    ct = peel(v, ct);
    uint32_t nd = T(v, ct)->ndres;
    for (uint32_t i = 0; i < nd; i++) {
      wh_cm_tid_t fresh = new_type(v, WH_CM_T_RESOURCE);
      if (!fresh) return oom(v, off);
      if (!HM_PUTU(A(v), &m.res, T(v, ct)->dres[i].res, fresh)) return oom(v, off);
      rc = add_dres(v, s, fresh, 0, off);
      if (rc) return rc;
    }
    uint32_t ne = T(v, ct)->nexp, nx = T(v, ct)->nxres;
    wh_cm_item_t *exp = wh_cm__alloc(A(v), (size_t)ne * sizeof *exp + 1);
    if (!exp) return oom(v, off);
    for (uint32_t i = 0; i < ne; i++) {
      exp[i] = T(v, ct)->exp[i];
      remap_ext(v, &exp[i].ext, &m, &err);
    }
    bool ch = false;
    wh_cm_respath_t *xres = remap_rlist(v, T(v, ct)->xres, nx, &m, &ch, &err);
    if (err) return oom(v, off);
    uint32_t size = 1;
    uint8_t depth = 1, borrow = 0;
    for (uint32_t i = 0; i < ne; i++) {
      rc = combine(v, &size, &depth, &borrow, exp[i].ext.type, off);
      if (rc) return rc;
    }
    inst = new_type(v, WH_CM_T_INSTANCE);
    if (!inst) return oom(v, off);
    T(v, inst)->exp = exp;
    T(v, inst)->nexp = ne;
    T(v, inst)->xres = xres;
    T(v, inst)->nxres = nx;
    T(v, inst)->size = size;
  } else {
    namectx_t empty = {0};
    hmap_t keys = {0}, raw = {0};
    WH_CM_VEC(wh_cm_item_t) out = {0};
    WH_CM_VEC(wh_cm_respath_t) xres = {0};
    uint32_t size = 1;
    uint8_t depth = 1, borrow = 0;
    for (uint32_t i = 0; i < nargs; i++) {
      wh_cm_ext_t e;
      rc = item_of_sort(v, args[i].sort, args[i].idx, &e, false, off);
      if (rc) return rc;
      if (e.sort == WH_CM_SORT_INSTANCE) {
        wh_cm_type_t *it = T(v, peel(v, e.type));
        for (uint32_t k = 0; k < it->nxres; k++) {
          wh_cm_respath_t rp = it->xres[k];
          rp.path = mkpath(v, out.n, it->xres[k].path, it->xres[k].npath);
          rp.npath = it->xres[k].npath + 1;
          if (!rp.path || !WH_CM_PUSH(A(v), xres, rp)) return oom(v, off);
          it = T(v, peel(v, e.type));
        }
      }
      if (e.sort == WH_CM_SORT_TYPE && kind_of(v, e.type) == WH_CM_T_RESOURCE) {
        wh_cm_respath_t rp = {peel(v, e.type), 1, mkpath(v, out.n, NULL, 0), 0};
        if (!rp.path || !WH_CM_PUSH(A(v), xres, rp)) return oom(v, off);
      }
      rc = validate_extern(v, &empty, &names[i], EK_EXPORT, &e, &keys, &raw, &out, off);
      if (rc) return rc;
      rc = combine(v, &size, &depth, &borrow, e.type, off);
      if (rc) return rc;
    }
    inst = new_type(v, WH_CM_T_INSTANCE);
    if (!inst) return oom(v, off);
    T(v, inst)->exp = out.v;
    T(v, inst)->nexp = out.n;
    T(v, inst)->xres = xres.v;
    T(v, inst)->nxres = xres.n;
    T(v, inst)->size = size;
  }
  wh_cm_def_t d = {.kind = WH_CM_DEF_INSTANCE, .offset = off};
  d.u.inst.form = form;
  d.u.inst.of = of;
  d.u.inst.nargs = nargs;
  d.u.inst.args = args;
  rc = add_def(v, &d);
  if (rc) return rc;
  if (s->instances.n + s->core_instances.n >= 1000)
    return fail(v, off, "instances count exceeds limit of 1000");
  if (!WH_CM_PUSH(A(v), s->inst_imp, 0)) return oom(v, off);
  return push_idx(v, &s->instances, inst, off, "instances");
}

/* ---- aliases ---------------------------------------------------------------------- */

int wh_cm__v_alias(wh_cm_v_t *v, uint8_t target, uint8_t sort, bool core, uint32_t a,
                   uint32_t b, const char *name, uint32_t len, long long off) {
  scope_t *s = CUR(v);
  int rc;
  if (s->kind != WH_CM_SCOPE_COMPONENT) {
    bool ok = (target == WH_CM_ALIAS_EXPORT && (sort == WH_CM_SORT_TYPE || sort == WH_CM_SORT_INSTANCE)) ||
              (target == WH_CM_ALIAS_OUTER && (sort == WH_CM_SORT_TYPE || (core && sort == WH_CM_CSORT_TYPE)));
    if (!ok) return fail(v, off, "aliases in a component or instance type may only refer to types or instances");
  }
  switch (target) {
  case WH_CM_ALIAS_EXPORT: {
    wh_cm_tid_t it = 0;
    rc = instance_at(v, a, &it, off);
    if (rc) return rc;
    const wh_cm_item_t *ex = find_item(T(v, peel(v, it))->exp, T(v, peel(v, it))->nexp, name, len);
    if (!ex) return fail(v, off, "instance %u has no export named `%s`", a, name);
    if (ex->ext.sort != sort)
      return fail(v, off, "export `%s` for instance %u is not a %s", name, a, sort_desc(sort));
    wh_cm_ext_t e = ex->ext;
    v->pending_imp = a < s->inst_imp.n ? s->inst_imp.v[a] : 0;
    rc = add_entity(v, s, &e, NULL, EK_NONE, off);
    v->pending_imp = 0;
    break;
  }
  case WH_CM_ALIAS_CORE_EXPORT: {
    wh_cm_tid_t it = 0;
    rc = core_instance_at(v, a, &it, off);
    if (rc) return rc;
    const wh_cm_citem_t *ex = find_cexp(v, it, name, len);
    if (!ex) return fail(v, off, "core instance %u has no export named `%s`", a, name);
    static const uint8_t want[] = {WH_CM_T_CORE_FUNC, WH_CM_T_CORE_TABLE, WH_CM_T_CORE_MEMORY,
                                   WH_CM_T_CORE_GLOBAL, WH_CM_T_CORE_TAG};
    static const char *what[] = {"function", "table", "memory", "global", "tag"};
    if (T(v, ex->type)->kind != want[sort])
      return fail(v, off, "export `%s` for core instance %u is not a %s", name, a, what[sort]);
    u32vec_t *space = sort == 0 ? &s->core_funcs : sort == 1 ? &s->core_tables
                    : sort == 2 ? &s->core_mems : sort == 3 ? &s->core_globals : &s->core_tags;
    rc = push_idx(v, space, ex->type, off, what[sort]);
    break;
  }
  default: {
    scope_t *tgt = NULL;
    wh_cm_tid_t t = 0;
    rc = check_alias_count(v, a, &tgt, off);
    if (rc) return rc;
    if (core && sort == WH_CM_CSORT_TYPE) {
      rc = at(v, &tgt->core_types, b, &t, off, "type");
      if (!rc) rc = push_idx(v, &s->core_types, t, off, "types");
    } else if (core) {
      rc = at(v, &tgt->core_modules, b, &t, off, "module");
      if (!rc) rc = push_idx(v, &s->core_modules, t, off, "modules");
    } else if (sort == WH_CM_SORT_COMPONENT) {
      rc = at(v, &tgt->components, b, &t, off, "component");
      if (!rc) rc = push_idx(v, &s->components, t, off, "components");
    } else {
      rc = at(v, &tgt->types, b, &t, off, "type");
      if (rc) return rc;
      /* crossing a component boundary: no free resources */
      uint32_t pos = v->nsc - a;
      if (a > 0 && pos < v->nsc && v->sc[pos]->kind == WH_CM_SCOPE_COMPONENT) {
        hmap_t fv = {0};
        if (free_vars(v, t, &fv)) return oom(v, off);
        for (uint32_t i = 0; i < fv.cap; i++)
          if (fv.e[i].used && fv.e[i].val)
            return fail(v, off, "cannot alias outer type which transitively refers to resources not defined in the current component");
      }
      rc = push_idx(v, &s->types, t, off, "types");
    }
    break;
  }
  }
  if (rc) return rc;
  wh_cm_def_t d = {.kind = WH_CM_DEF_ALIAS, .offset = off};
  d.u.alias.target = target;
  d.u.alias.sort = sort;
  d.u.alias.core = core;
  d.u.alias.a = a;
  d.u.alias.b = b;
  d.u.alias.name = name;
  d.u.alias.len = len;
  return add_def(v, &d);
}

/* ---- canonical definitions ---------------------------------------------------- */

typedef struct flat {
  uint8_t vt[32];
  uint32_t n, max;
} flat_t;

static bool flat_push(flat_t *f, uint8_t t) {
  if (f->n >= f->max) return false;
  f->vt[f->n++] = t;
  return true;
}

static uint8_t join(uint8_t a, uint8_t b) {
  if (a == b) return a;
  if ((a == 0x7f && b == 0x7d) || (a == 0x7d && b == 0x7f)) return 0x7f;
  return 0x7e;
}

static bool flatten(wh_cm_v_t *v, wh_cm_tid_t t, flat_t *f);

static bool flatten_variant(wh_cm_v_t *v, const wh_cm_tid_t *cases, uint32_t n, flat_t *f) {
  if (!flat_push(f, 0x7f)) return false;
  uint32_t start = f->n;
  for (uint32_t i = 0; i < n; i++) {
    if (!cases[i]) continue;
    flat_t tmp = {.max = f->max};
    if (!flatten(v, cases[i], &tmp)) return false;
    for (uint32_t k = 0; k < tmp.n; k++) {
      if (start + k < f->n) f->vt[start + k] = join(f->vt[start + k], tmp.vt[k]);
      else if (!flat_push(f, tmp.vt[k])) return false;
    }
  }
  return true;
}

static bool flatten(wh_cm_v_t *v, wh_cm_tid_t t, flat_t *f) {
  t = peel(v, t);
  wh_cm_type_t *n = T(v, t);
  switch (n->kind) {
  case WH_CM_T_S64: case WH_CM_T_U64: return flat_push(f, 0x7e);
  case WH_CM_T_F32: return flat_push(f, 0x7d);
  case WH_CM_T_F64: return flat_push(f, 0x7c);
  case WH_CM_T_STRING: case WH_CM_T_LIST: return flat_push(f, 0x7f) && flat_push(f, 0x7f);
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE:
    for (uint32_t i = 0; i < T(v, t)->n; i++)
      if (!flatten(v, T(v, t)->f[i].type, f)) return false;
    return true;
  case WH_CM_T_FIXED_LIST:
    for (uint32_t i = 0; i < T(v, t)->n; i++)
      if (!flatten(v, T(v, t)->a, f)) return false;
    return true;
  case WH_CM_T_FLAGS:
    for (uint32_t i = 0; i < (n->n + 31) / 32; i++)
      if (!flat_push(f, 0x7f)) return false;
    return true;
  case WH_CM_T_VARIANT: {
    uint32_t nc = n->n;
    wh_cm_tid_t buf[64] = {0};
    wh_cm_tid_t *cases = nc <= 64 ? buf : malloc(nc * sizeof *cases);
    if (!cases) return false;
    for (uint32_t i = 0; i < nc; i++) cases[i] = T(v, t)->f[i].type;
    bool ok = flatten_variant(v, cases, nc, f);
    if (cases != buf) free(cases);
    return ok;
  }
  case WH_CM_T_OPTION: {
    wh_cm_tid_t c[1] = {n->a};
    return flatten_variant(v, c, 1, f);
  }
  case WH_CM_T_RESULT: {
    wh_cm_tid_t c[2] = {n->a, n->b};
    return flatten_variant(v, c, 2, f);
  }
  default:
    return flat_push(f, 0x7f);
  }
}

static bool contains_ptr(wh_cm_v_t *v, wh_cm_tid_t t) {
  if (!t) return false;
  t = peel(v, t);
  wh_cm_type_t *n = T(v, t);
  switch (n->kind) {
  case WH_CM_T_STRING: case WH_CM_T_LIST: return true;
  case WH_CM_T_RECORD: case WH_CM_T_TUPLE: case WH_CM_T_VARIANT:
    for (uint32_t i = 0; i < T(v, t)->n; i++)
      if (contains_ptr(v, T(v, t)->f[i].type)) return true;
    return false;
  case WH_CM_T_OPTION: case WH_CM_T_FIXED_LIST: return contains_ptr(v, n->a);
  case WH_CM_T_RESULT: return contains_ptr(v, n->a) || contains_ptr(v, T(v, t)->b);
  default: return false;
  }
}

typedef struct copts {
  bool enc, mem, realloc, post;
  uint8_t encoding;
  uint32_t memory, realloc_idx, post_idx;
} copts_t;

static int check_opts(wh_cm_v_t *v, const wh_cm_rawcanon_t *c, copts_t *o, long long off) {
  static const char *enc_names[] = {"utf8", "utf16", "latin1-utf16"};
  memset(o, 0, sizeof *o);
  for (uint32_t i = 0; i < c->nopts; i++) {
    uint8_t k = c->opt[i];
    uint32_t idx = c->optidx[i];
    switch (k) {
    case 0: case 1: case 2:
      if (o->enc)
        return fail(v, off, "canonical encoding option `%s` conflicts with option `%s`",
                    enc_names[o->encoding], enc_names[k]);
      o->enc = true;
      o->encoding = k;
      break;
    case 3: {
      if (o->mem) return fail(v, off, "canonical option `memory` is specified more than once");
      wh_cm_tid_t mt = 0;
      int rc = at(v, &CUR(v)->core_mems, idx, &mt, off, "memory");
      if (rc) return rc;
      wh_cm_type_t *m = T(v, mt);
      if (m->is64) return unsupported(v, off, "64-bit memories in canonical options are not supported");
      if (m->shared) return fail(v, off, "mismatch in the shared flag for memories");
      if (m->page_log2 != 16) return fail(v, off, "mismatch in page size for memories");
      o->mem = true;
      o->memory = idx;
      break;
    }
    case 4:
      if (o->realloc) return fail(v, off, "canonical option `realloc` is specified more than once");
      o->realloc = true;
      o->realloc_idx = idx;
      break;
    case 5:
      if (o->post) return fail(v, off, "canonical option `post-return` is specified more than once");
      o->post = true;
      o->post_idx = idx;
      break;
    }
  }
  if (o->realloc) {
    if (!o->mem) return fail(v, off, "canonical option `realloc` requires `memory` to also be specified");
    wh_cm_tid_t ft = 0;
    int rc = core_func_at(v, o->realloc_idx, &ft, off);
    if (rc) return rc;
    static const uint8_t sig[5] = {0x7f, 0x7f, 0x7f, 0x7f, 0x7f};
    wh_cm_type_t *f = T(v, ft);
    if (f->np != 4 || f->nr != 1 || memcmp(f->vt, sig, 5) != 0)
      return fail(v, off, "canonical option `realloc` uses a core function with an incorrect signature");
  }
  return 0;
}

/* Lowers component function `ft` to its core signature (lift: the core
 * function exported; lower: the core function imported), checking which
 * options the types require. */
static int lower_sig(wh_cm_v_t *v, wh_cm_tid_t ft, const copts_t *o, bool lift,
                     wh_cm_tid_t *out, long long off) {
  flat_t p = {.max = WH_CM_MAX_FLAT_PARAMS}, r = {.max = WH_CM_MAX_FLAT_RESULTS};
  uint32_t n = T(v, ft)->n;
  for (uint32_t i = 0; i < n; i++) {
    wh_cm_tid_t pt = T(v, ft)->f[i].type;
    if (contains_ptr(v, pt)) {
      if (!lift && !o->mem) return fail(v, off, "canonical option `memory` is required");
      if (lift && !o->realloc) {
        if (!o->mem) return fail(v, off, "canonical option `memory` is required");
        return fail(v, off, "canonical option `realloc` is required");
      }
    }
    if (!flatten(v, pt, &p)) {
      p.n = 0;
      p.vt[p.n++] = 0x7f;
      if (!o->mem) return fail(v, off, "canonical option `memory` is required");
      if (lift && !o->realloc) return fail(v, off, "canonical option `realloc` is required");
      break;
    }
  }
  wh_cm_tid_t rt = T(v, ft)->a;
  if (rt && !lift && contains_ptr(v, rt) && !o->realloc) {
    if (!o->mem) return fail(v, off, "canonical option `memory` is required");
    return fail(v, off, "canonical option `realloc` is required");
  }
  if (rt && !flatten(v, rt, &r)) {
    r.n = 0;
    if (!o->mem) return fail(v, off, "canonical option `memory` is required");
    if (lift) r.vt[r.n++] = 0x7f;
    else {
      p.max = WH_CM_MAX_FLAT_PARAMS + 1;
      flat_push(&p, 0x7f);
    }
  }
  uint8_t vt[64];
  memcpy(vt, p.vt, p.n);
  memcpy(vt + p.n, r.vt, r.n);
  *out = mk_core_func(v, vt, p.n, r.n);
  return *out ? 0 : oom(v, off);
}

static int check_local_resource(wh_cm_v_t *v, uint32_t idx, uint8_t *rep, wh_cm_tid_t *res,
                                 long long off) {
  wh_cm_tid_t t = 0;
  int rc = resource_at(v, idx, &t, off);
  if (rc) return rc;
  *res = t;
  hent_t *e = HM_GETU(&CUR(v)->dres_idx, peel(v, t));
  if (!e || !CUR(v)->dres.v[e->val].rep) return fail(v, off, "type %u is not a local resource", idx);
  *rep = CUR(v)->dres.v[e->val].rep;
  return 0;
}

int wh_cm__v_canon(wh_cm_v_t *v, const wh_cm_rawcanon_t *c, long long off) {
  scope_t *s = CUR(v);
  copts_t o;
  wh_cm_def_t d = {.kind = WH_CM_DEF_CANON, .offset = off};
  wh_cm_canon_t *cn = &d.u.canon;
  int rc;
  cn->op = c->op;
  cn->func = c->func;
  cn->type_idx = c->type;
  switch (c->op) {
  case WH_CM_CANON_LIFT: {
    wh_cm_tid_t ft = 0, core = 0, want = 0;
    rc = type_at(v, c->type, &ft, off);
    if (rc) return rc;
    if (kind_of(v, ft) != WH_CM_T_FUNC) return fail(v, off, "type index %u is not a function type", c->type);
    rc = core_func_at(v, c->func, &core, off);
    if (!rc) rc = check_opts(v, c, &o, off);
    if (rc) return rc;
    if (o.post) {
      wh_cm_tid_t pt = 0;
      rc = core_func_at(v, o.post_idx, &pt, off);
      if (rc) return rc;
      wh_cm_type_t *pf = T(v, pt), *cf = T(v, core);
      if (pf->np != cf->nr || pf->nr != 0 || memcmp(pf->vt, cf->vt + cf->np, cf->nr) != 0)
        return fail(v, off, "canonical option `post-return` uses a core function with an incorrect signature");
    }
    rc = lower_sig(v, peel(v, ft), &o, true, &want, off);
    if (rc) return rc;
    if (!core_func_eq(v, want, core))
      return fail(v, off, "lowered function type does not match type of core function %u", c->func);
    cn->type = peel(v, ft);
    cn->core_type = core;
    rc = push_idx(v, &s->funcs, peel(v, ft), off, "functions");
    if (!rc && !WH_CM_PUSH(A(v), s->func_imp, 0)) rc = oom(v, off);
    break;
  }
  case WH_CM_CANON_LOWER: {
    wh_cm_tid_t ft = 0, core = 0;
    rc = function_at(v, c->func, &ft, off);
    if (!rc) rc = check_opts(v, c, &o, off);
    if (rc) return rc;
    if (o.post) return fail(v, off, "canonical option `post-return` cannot be specified for lowerings");
    rc = lower_sig(v, peel(v, ft), &o, false, &core, off);
    if (rc) return rc;
    cn->type = peel(v, ft);
    cn->core_type = core;
    rc = push_idx(v, &s->core_funcs, core, off, "functions");
    break;
  }
  case WH_CM_CANON_RESOURCE_NEW: case WH_CM_CANON_RESOURCE_REP: {
    uint8_t rep = 0;
    wh_cm_tid_t res = 0;
    rc = check_local_resource(v, c->type, &rep, &res, off);
    if (rc) return rc;
    uint8_t vt[2] = {c->op == WH_CM_CANON_RESOURCE_NEW ? rep : 0x7f,
                     c->op == WH_CM_CANON_RESOURCE_NEW ? 0x7f : rep};
    wh_cm_tid_t core = mk_core_func(v, vt, 1, 1);
    if (!core) return oom(v, off);
    cn->type = peel(v, res);
    cn->core_type = core;
    rc = push_idx(v, &s->core_funcs, core, off, "functions");
    break;
  }
  case WH_CM_CANON_RESOURCE_DROP: {
    wh_cm_tid_t res = 0;
    rc = resource_at(v, c->type, &res, off);
    if (rc) return rc;
    uint8_t vt[1] = {0x7f};
    wh_cm_tid_t core = mk_core_func(v, vt, 1, 0);
    if (!core) return oom(v, off);
    cn->type = peel(v, res);
    cn->core_type = core;
    rc = push_idx(v, &s->core_funcs, core, off, "functions");
    break;
  }
  default:
    return unsupported(v, off, "async canonical built-ins are not supported");
  }
  if (rc) return rc;
  if (c->op <= WH_CM_CANON_LOWER) {
    cn->encoding = o.encoding;
    cn->has_memory = o.mem;
    cn->memory = o.memory;
    cn->has_realloc = o.realloc;
    cn->realloc = o.realloc_idx;
    cn->has_post_return = o.post;
    cn->post_return = o.post_idx;
  }
  return add_def(v, &d);
}

/* ---- nested components and the end of a scope ------------------------------- */

int wh_cm__v_component(wh_cm_v_t *v, wh_cm_tid_t tid, wh_cm_comp_t *comp, long long off) {
  wh_cm_def_t d = {.kind = WH_CM_DEF_COMPONENT, .offset = off};
  d.u.component = comp;
  int rc = add_def(v, &d);
  if (rc) return rc;
  if (CUR(v)->components.n >= 1000) return fail(v, off, "components count exceeds limit of 1000");
  return push_idx(v, &CUR(v)->components, tid, off, "components");
}

int wh_cm__v_pop(wh_cm_v_t *v, long long off, wh_cm_tid_t *tid, wh_cm_comp_t **comp) {
  scope_t *s = CUR(v);
  wh_cm_tid_t t = 0;
  int rc = 0;
  uint32_t size = 1;
  uint8_t depth = 1, borrow = 0;
  for (uint32_t i = 0; i < s->imports.n && !rc; i++)
    rc = combine(v, &size, &depth, &borrow, s->imports.v[i].ext.type, off);
  for (uint32_t i = 0; i < s->exports.n && !rc; i++)
    rc = combine(v, &size, &depth, &borrow, s->exports.v[i].ext.type, off);
  if (rc) return rc;
  if (s->kind == WH_CM_SCOPE_ITYPE) {
    t = new_type(v, WH_CM_T_INSTANCE);
    if (!t) return oom(v, off);
    wh_cm_type_t *n = T(v, t);
    n->exp = s->exports.v;
    n->nexp = s->exports.n;
    n->dres = s->dres.v;
    n->ndres = s->dres.n;
    n->xres = s->xres.v;
    n->nxres = s->xres.n;
    n->size = size;
  } else {
    /* defined resources must not appear in imports; those in exports
     * must be exported themselves */
    hmap_t fv = {0};
    for (uint32_t i = 0; i < s->imports.n && !rc; i++) rc = free_ext(v, &s->imports.v[i].ext, &fv);
    if (rc) return oom(v, off);
    for (uint32_t i = 0; i < s->dres.n; i++)
      if (set_has(&fv, s->dres.v[i].res)) return fail(v, off, "local resource type found in imports");
    hmap_t fe = {0};
    for (uint32_t i = 0; i < s->exports.n && !rc; i++) rc = free_ext(v, &s->exports.v[i].ext, &fe);
    if (rc) return oom(v, off);
    WH_CM_VEC(wh_cm_respath_t) dres = {0};
    for (uint32_t i = 0; i < s->dres.n; i++) {
      wh_cm_tid_t r = s->dres.v[i].res;
      if (!set_has(&fe, r)) continue;
      hent_t *x = HM_GETU(&s->xres_idx, r);
      if (!x) return fail(v, off, "local resource type found in export but not exported itself");
      wh_cm_respath_t rp = s->xres.v[x->val];
      rp.rep = s->dres.v[i].rep;
      if (!WH_CM_PUSH(A(v), dres, rp)) return oom(v, off);
    }
    t = new_type(v, WH_CM_T_COMPONENT);
    if (!t) return oom(v, off);
    wh_cm_type_t *n = T(v, t);
    n->imp = s->imports.v;
    n->nimp = s->imports.n;
    n->exp = s->exports.v;
    n->nexp = s->exports.n;
    n->ires = s->ires.v;
    n->nires = s->ires.n;
    n->dres = dres.v;
    n->ndres = dres.n;
    n->xres = s->xres.v;
    n->nxres = s->xres.n;
    n->size = size;
  }
  if (s->comp) s->comp->type = t;
  if (comp) *comp = s->comp;
  *tid = t;
  v->nsc--;
  if (v->nsc == 0 && v->restricted) {
    if (v->diag) *v->diag = v->restriction;
    return WH_EUNSUPPORTED;
  }
  return 0;
}
