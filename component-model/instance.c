/*
 * instance.c - instantiating components and calling their exports.
 *
 * Instantiation replays a component's definitions in binary order,
 * keeping one runtime entry per index space slot:
 *
 *   core: modules, instances, funcs, tables, memories, globals
 *         (a core item is an engine export (instance, name) or a host
 *          trampoline: a lowered function or a resource built-in)
 *   component: funcs (cm_func_t), instances (ival_t: name -> item),
 *         components (a definition + the instance it was defined in, for
 *         outer aliases), types (a runtime resource type or NULL)
 *
 * Core instances are made through a fresh engine linker each, wired with
 * wh_linker_define_instance for whole engine instances and item by item
 * for inline export lists (engine functions through a forwarding host
 * function: the engine API has no "define this wh_func_t").
 *
 * Component-to-component calls go through values: the trampoline lifts
 * the caller's flat values to wh_cm_val, calls the callee (which lowers
 * them into its own memory), and lowers the results back.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cm_run.h"

/* ---- runtime structures ------------------------------------------------------- */

enum { CF_HOST = 1, CF_LIFTED, CF_MISSING };

/* A component function (the public wh_cm_func_t handle). */
typedef struct wh_cm_func {
  int kind;
  wh_cm_tid_t type;
  cm_rinst_t *inst;          /* LIFTED: the callee instance */
  wh_func_t *core;
  wh_memory_t *mem;
  wh_func_t *realloc, *post;
  uint8_t enc;
  wh_cm_host_fn_t fn;        /* HOST */
  void *env;
  char *name;                /* HOST / MISSING */
  /* LIFTED, filled by prep_func when made, so a call looks nothing up:
   * param types, result type (0: none), their flat counts (past the
   * MAX_FLAT_* limit when spilled), the core function's signature */
  wh_cm_tid_t *pt, rt;
  uint32_t np, pflat, rflat;
  const char *cps, *crs;
  uint32_t ncp, ncr;
  /* a function of another component instance imported whole (a
   * registered instance): its type as the importing component `lc`
   * declares it, for canon lower there (`type` is the callee's) */
  const wh_cm_component_t *lc;
  wh_cm_tid_t ltype;
} cm_func_t;

typedef struct citem {
  wh_instance_t *inst;       /* engine export, or NULL for a host item */
  const char *name;
  wh_host_fn_t fn;
  void *env;
  char params[24], results[4];
  cm_func_t *lowered;        /* a lowered function: its callee */
} citem_t;

typedef struct cinst {
  wh_instance_t *inst;       /* an engine instance, or NULL: inline */
  uint32_t n;
  const char **names;
  uint8_t *kinds;            /* core sorts */
  citem_t *items;
} cinst_t;

typedef struct item {
  uint8_t sort;
  void *p;
} item_t;

typedef struct ival {
  uint32_t n, cap;
  const char **names;
  item_t *items;
} ival_t;

typedef struct compval {
  const wh_cm_comp_t *comp;
  cm_rinst_t *outer;
} compval_t;

typedef struct vec {
  void **v;
  uint32_t n, cap;
} vec_t;

typedef struct rmap {
  wh_cm_tid_t tid;
  wh_cm_rtype_t *rt;
} rmap_t;

struct cm_rinst {
  wh_cm_instance_t *top;
  cm_rinst_t *outer;
  vec_t cmods, cinsts, cfuncs, ctabs, cmems, cglobs;
  vec_t funcs, insts, comps, types;
  ival_t exports;
  cm_htable_t handles;
  bool may_enter, may_leave;
  rmap_t *rmap;
  uint32_t nrmap, caprmap;
};

/* A short list of (name, pointer), names owned: the host modules and
 * instances a linker holds (a few each; looked up by a scan). */
typedef struct named_list {
  char **names;
  void **ptrs;
  uint32_t n, cap;
} named_list_t;

static void *named_get(const named_list_t *nl, const char *name) {
  for (uint32_t i = 0; i < nl->n; i++)
    if (strcmp(nl->names[i], name) == 0) return nl->ptrs[i];
  return NULL;
}

/* Sets `name` to `p` (replacing an earlier definition).  0 or WH_ENOMEM. */
static int named_put(named_list_t *nl, const char *name, void *p) {
  for (uint32_t i = 0; i < nl->n; i++)
    if (strcmp(nl->names[i], name) == 0) {
      nl->ptrs[i] = p;
      return 0;
    }
  if (nl->n == nl->cap) {
    uint32_t nc = nl->cap ? 2 * nl->cap : 4;
    char **nn = realloc(nl->names, nc * sizeof *nn);
    if (!nn) return WH_ENOMEM;
    nl->names = nn;
    void **np = realloc(nl->ptrs, nc * sizeof *np);
    if (!np) return WH_ENOMEM;
    nl->ptrs = np;
    nl->cap = nc;
  }
  char *copy = strdup(name);
  if (!copy) return WH_ENOMEM;
  nl->names[nl->n] = copy;
  nl->ptrs[nl->n++] = p;
  return 0;
}

static void named_fini(named_list_t *nl) {
  for (uint32_t i = 0; i < nl->n; i++) free(nl->names[i]);
  free(nl->names);
  free(nl->ptrs);
}

struct wh_cm_linker {
  wh_engine_t *engine;
  char **names;
  wh_cm_host_fn_t *fns;
  void **envs;
  uint32_t n, cap;
  bool trap_missing;
  named_list_t mods;         /* host core modules (wh_module_t, borrowed) */
  named_list_t insts;        /* component instances (wh_cm_instance_t, borrowed) */
  named_list_t isubs;        /* of those, the ones whose exported instance of
                              * that name is meant: the name (char *, owned) */
  wh_cm_rtype_t **res;       /* host resources (one reference each) */
  uint32_t nres, capres;
  uint32_t *hslot;           /* hash of names by semver key: index + 1, 0 empty */
  uint32_t hcap;             /* a power of two, > 2 * n (or 0) */
  bool no_fuse;              /* component-to-component calls through values */
};

struct wh_cm_instance {
  const wh_cm_component_t *c;
  wh_cm_linker_t *linker;
  wh_inst_alloc_t *alloc;
  cm_rinst_t *root;
  vec_t allocs;              /* malloc'ed blocks, freed at the end */
  vec_t rinsts;
  vec_t engine_insts;        /* freed in reverse order */
  vec_t hostres;             /* host resource types linked: one ref each */
  char trap[CM_TRAPMSG];
  char missing[1024];
  uint32_t nmissing;
};

struct wh_cm_hostcall {
  wh_exec_t *x;
  char *trap;
  wh_caller_t *caller;       /* the lowered call's core caller, or NULL */
};

static bool vpush(vec_t *v, void *p) {
  if (v->n == v->cap) {
    uint32_t nc = v->cap ? 2 * v->cap : 8;
    void **nv = realloc(v->v, nc * sizeof *nv);
    if (!nv) return false;
    v->v = nv;
    v->cap = nc;
  }
  v->v[v->n++] = p;
  return true;
}

static void *vget(const vec_t *v, uint32_t i) { return i < v->n ? v->v[i] : NULL; }

static void *ialloc(wh_cm_instance_t *I, size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (p && !vpush(&I->allocs, p)) {
    free(p);
    return NULL;
  }
  return p;
}

static bool ival_put(wh_cm_instance_t *I, ival_t *iv, const char *name, uint8_t sort, void *p) {
  if (iv->n == iv->cap) {
    uint32_t nc = iv->cap ? 2 * iv->cap : 8;
    const char **nn = ialloc(I, nc * sizeof *nn);
    item_t *ni = ialloc(I, nc * sizeof *ni);
    if (!nn || !ni) return false;
    if (iv->n) {
      memcpy(nn, iv->names, iv->n * sizeof *nn);
      memcpy(ni, iv->items, iv->n * sizeof *ni);
    }
    iv->names = nn;
    iv->items = ni;
    iv->cap = nc;
  }
  iv->names[iv->n] = name;
  iv->items[iv->n].sort = sort;
  iv->items[iv->n].p = p;
  iv->n++;
  return true;
}

static item_t *ival_get(ival_t *iv, const char *name) {
  if (!iv) return NULL;
  for (uint32_t i = 0; i < iv->n; i++)
    if (strcmp(iv->names[i], name) == 0) return &iv->items[i];
  return NULL;
}

cm_htable_t *wh_cm__handles(cm_rinst_t *inst) { return &inst->handles; }

wh_cm_rtype_t *wh_cm__rtype(cm_rinst_t *inst, wh_cm_tid_t res) {
  if (!inst) return NULL;
  const wh_cm_component_t *c = inst->top->c;
  wh_cm_tid_t p = wh_cm__peel(c, res);
  for (cm_rinst_t *r = inst; r; r = r->outer)
    for (uint32_t i = 0; i < r->nrmap; i++)
      if (r->rmap[i].tid == p || r->rmap[i].tid == res) return r->rmap[i].rt;
  return NULL;
}

static bool rmap_put(cm_rinst_t *r, wh_cm_tid_t tid, wh_cm_rtype_t *rt) {
  if (!rt || !tid) return true;
  if (r->nrmap == r->caprmap) {
    uint32_t nc = r->caprmap ? 2 * r->caprmap : 8;
    rmap_t *nm = realloc(r->rmap, nc * sizeof *nm);
    if (!nm) return false;
    r->rmap = nm;
    r->caprmap = nc;
  }
  r->rmap[r->nrmap].tid = wh_cm__peel(r->top->c, tid);
  r->rmap[r->nrmap++].rt = rt;
  return true;
}

/* ---- linker ------------------------------------------------------------------------- */

wh_cm_linker_t *wh_cm_linker_new(wh_engine_t *e) {
  wh_cm_linker_t *l = calloc(1, sizeof *l);
  if (l) l->engine = e;
  return l;
}

static void rtype_release(wh_cm_rtype_t *rt) {
  if (rt && __atomic_sub_fetch(&rt->refs, 1, __ATOMIC_ACQ_REL) == 0) {
    free(rt->name);
    free(rt);
  }
}

void wh_cm_linker_free(wh_cm_linker_t *l) {
  if (!l) return;
  for (uint32_t i = 0; i < l->n; i++) free(l->names[i]);
  free(l->names);
  free(l->fns);
  free(l->envs);
  named_fini(&l->mods);
  named_fini(&l->insts);
  for (uint32_t i = 0; i < l->isubs.n; i++) free(l->isubs.ptrs[i]);
  named_fini(&l->isubs);
  for (uint32_t i = 0; i < l->nres; i++) rtype_release(l->res[i]);
  free(l->res);
  free(l->hslot);
  free(l);
}

/* Semver-compatible names: "ns:pkg/iface@1.2.3#fn" is keyed
 * "ns:pkg/iface@1#fn", "@0.2.3" as "@0.2" (0.x: the minor decides), so a
 * definition at one version satisfies an import at any compatible one
 * (wasmtime's rule); "@0.0.x" and pre-releases ("@0.2.0-rc.1") stay
 * exact.  Writes the key into out[cap] (NUL-terminated); returns false
 * when it does not fit (the caller then compares exactly). */
static bool name_key(const char *name, char *out, size_t cap) {
  size_t o = 0;
  for (const char *p = name; *p;) {
    if (*p != '@') {
      if (o + 1 >= cap) return false;
      out[o++] = *p++;
      continue;
    }
    const char *v = p + 1, *end = v;
    while (*end && *end != '#') end++;
    unsigned long maj = 0, min = 0;
    bool plain = end > v;
    for (const char *q = v; q < end && plain; q++)
      plain = (*q >= '0' && *q <= '9') || *q == '.';
    if (plain) {
      char *e1, *e2;
      maj = strtoul(v, &e1, 10);
      plain = *e1 == '.';
      if (plain) min = strtoul(e1 + 1, &e2, 10);
      plain = plain && (maj > 0 || min > 0);
    }
    int w = plain ? (maj ? snprintf(out + o, cap - o, "@%lu", maj)
                         : snprintf(out + o, cap - o, "@0.%lu", min))
                  : snprintf(out + o, cap - o, "@%.*s", (int)(end - v), v);
    if (w < 0 || (size_t)w >= cap - o) return false;
    o += (size_t)w;
    p = end;
  }
  out[o] = '\0';
  return true;
}

/* Whether two names are equal or semver-compatible (see name_key). */
static bool name_compat(const char *a, const char *b) {
  char ka[512], kb[512];
  if (strcmp(a, b) == 0) return true;
  return name_key(a, ka, sizeof ka) && name_key(b, kb, sizeof kb) && strcmp(ka, kb) == 0;
}

static uint32_t name_hash(const char *name) {
  char k[512];
  const char *s = name_key(name, k, sizeof k) ? k : name;
  uint32_t h = 2166136261u;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 16777619u;
  return h;
}

/* A host resource by exact name, else by a compatible one. */
static wh_cm_rtype_t *linker_resource(const wh_cm_linker_t *l, const char *name) {
  wh_cm_rtype_t *compat = NULL;
  for (uint32_t i = 0; l && i < l->nres; i++) {
    if (strcmp(l->res[i]->name, name) == 0) return l->res[i];
    if (!compat && name_compat(l->res[i]->name, name)) compat = l->res[i];
  }
  return compat;
}

int wh_cm_linker_define_resource(wh_cm_linker_t *l, const char *name,
                                 wh_cm_resource_dtor_t dtor, void *env, wh_cm_rtype_t **out) {
  if (out) *out = NULL;
  if (!l || !name) return WH_EINVAL;
  for (uint32_t i = 0; i < l->nres; i++)
    if (strcmp(l->res[i]->name, name) == 0) return WH_EEXISTS;
  if (l->nres == l->capres) {
    uint32_t nc = l->capres ? 2 * l->capres : 8;
    wh_cm_rtype_t **nr = realloc(l->res, nc * sizeof *nr);
    if (!nr) return WH_ENOMEM;
    l->res = nr;
    l->capres = nc;
  }
  wh_cm_rtype_t *rt = calloc(1, sizeof *rt);
  size_t nl = strlen(name) + 1;
  char *copy = malloc(nl);
  if (!rt || !copy) {
    free(rt);
    free(copy);
    return WH_ENOMEM;
  }
  memcpy(copy, name, nl);
  rt->name = copy;
  rt->host_dtor = dtor;
  rt->host_env = env;
  rt->refs = 1;
  l->res[l->nres++] = rt;
  if (out) *out = rt;
  return 0;
}

/* A host function by exact name (exact) or else by a semver-compatible
 * one: the index into l->names, or -1.  One probe sequence of the hash
 * (keyed by name_key) holds every compatible name. */
static int linker_lookup(const wh_cm_linker_t *l, const char *name, bool exact) {
  if (!l || !l->hcap) return -1;
  int compat = -1;
  for (uint32_t i = name_hash(name) & (l->hcap - 1); l->hslot[i]; i = (i + 1) & (l->hcap - 1)) {
    uint32_t k = l->hslot[i] - 1;
    if (strcmp(l->names[k], name) == 0) return (int)k;
    if (!exact && compat < 0 && name_compat(l->names[k], name)) compat = (int)k;
  }
  return compat;
}

static int linker_find(const wh_cm_linker_t *l, const char *name) {
  return linker_lookup(l, name, false);
}

/* Puts l->names[k] in the hash, growing it first when half full. */
static int linker_index(wh_cm_linker_t *l, uint32_t k) {
  if (2 * (l->n + 1) >= l->hcap) {
    uint32_t nc = l->hcap ? 2 * l->hcap : 64;
    uint32_t *ns = calloc(nc, sizeof *ns);
    if (!ns) return WH_ENOMEM;
    free(l->hslot);
    l->hslot = ns;
    l->hcap = nc;
    for (uint32_t j = 0; j < l->n; j++) {
      if (j == k) continue;
      uint32_t i = name_hash(l->names[j]) & (nc - 1);
      while (ns[i]) i = (i + 1) & (nc - 1);
      ns[i] = j + 1;
    }
  }
  uint32_t i = name_hash(l->names[k]) & (l->hcap - 1);
  while (l->hslot[i]) i = (i + 1) & (l->hcap - 1);
  l->hslot[i] = k + 1;
  return 0;
}

int wh_cm_linker_define_func(wh_cm_linker_t *l, const char *name, wh_cm_host_fn_t fn,
                             void *env) {
  if (!l || !name || !fn) return WH_EINVAL;
  if (linker_lookup(l, name, true) >= 0) return WH_EEXISTS;
  if (l->n == l->cap) {
    uint32_t nc = l->cap ? 2 * l->cap : 16;
    char **nn = realloc(l->names, nc * sizeof *nn);
    if (!nn) return WH_ENOMEM;
    l->names = nn;
    wh_cm_host_fn_t *nf = realloc(l->fns, nc * sizeof *nf);
    if (!nf) return WH_ENOMEM;
    l->fns = nf;
    void **ne = realloc(l->envs, nc * sizeof *ne);
    if (!ne) return WH_ENOMEM;
    l->envs = ne;
    l->cap = nc;
  }
  size_t nl = strlen(name) + 1;
  l->names[l->n] = malloc(nl);
  if (l->names[l->n]) memcpy(l->names[l->n], name, nl);
  if (!l->names[l->n]) return WH_ENOMEM;
  l->fns[l->n] = fn;
  l->envs[l->n] = env;
  if (linker_index(l, l->n) != 0) {
    free(l->names[l->n]);
    return WH_ENOMEM;
  }
  l->n++;
  return 0;
}

static const wh_module_t *linker_module(const wh_cm_linker_t *l, const char *name) {
  return l ? named_get(&l->mods, name) : NULL;
}

int wh_cm_linker_define_module(wh_cm_linker_t *l, const char *name, const wh_module_t *m) {
  if (!l || !name || !m) return WH_EINVAL;
  if (linker_module(l, name) || linker_lookup(l, name, true) >= 0) return WH_EEXISTS;
  return named_put(&l->mods, name, (void *)m);
}

static wh_cm_instance_t *linker_instance(const wh_cm_linker_t *l, const char *name) {
  return l ? named_get(&l->insts, name) : NULL;
}

/* Removes `name` from a list; its pointer is freed when `owned`. */
static bool named_del(named_list_t *nl, const char *name, bool owned) {
  for (uint32_t i = 0; i < nl->n; i++)
    if (strcmp(nl->names[i], name) == 0) {
      free(nl->names[i]);
      if (owned) free(nl->ptrs[i]);
      nl->n--;
      nl->names[i] = nl->names[nl->n];
      nl->ptrs[i] = nl->ptrs[nl->n];
      return true;
    }
  return false;
}

int wh_cm_linker_define_instance(wh_cm_linker_t *l, const char *name, wh_cm_instance_t *inst) {
  if (!l || !name || !inst) return WH_EINVAL;
  named_del(&l->isubs, name, true);
  return named_put(&l->insts, name, inst);   /* a name defined again is replaced */
}

int wh_cm_linker_define_instance_export(wh_cm_linker_t *l, const char *name,
                                        wh_cm_instance_t *inst, const char *export_name) {
  if (!l || !name || !inst || !export_name) return WH_EINVAL;
  char *copy = strdup(export_name);
  if (!copy) return WH_ENOMEM;
  named_del(&l->isubs, name, true);
  if (named_put(&l->isubs, name, copy) != 0) {
    free(copy);
    return WH_ENOMEM;
  }
  int rc = named_put(&l->insts, name, inst);
  if (rc) named_del(&l->isubs, name, true);
  return rc;
}

int wh_cm_linker_undefine_instance(wh_cm_linker_t *l, const char *name) {
  if (!l || !name) return WH_EINVAL;
  named_del(&l->isubs, name, true);
  return named_del(&l->insts, name, false) ? 0 : WH_ENOTFOUND;
}

void wh_cm_linker_trap_missing(wh_cm_linker_t *l, bool on) {
  if (l) l->trap_missing = on;
}

void wh_cm_linker_fuse(wh_cm_linker_t *l, bool on) {
  if (l) l->no_fuse = !on;
}

/* Appends `name` to a "missing" list (at most 8 names shown). */
static void note_missing(char *buf, size_t size, uint32_t *n, const char *name) {
  if ((*n)++ >= 8) return;
  size_t used = strlen(buf);
  snprintf(buf + used, size - used, "%s%s", used ? ", " : "", name);
}

typedef struct check_ctx {
  const wh_cm_linker_t *l;
  const wh_cm_component_t *c;
  char missing[1024];
  uint32_t n;
  const char *const *linked;   /* imports provided otherwise (links) */
  uint32_t nlinked;
} check_ctx_t;

static bool is_linked(const check_ctx_t *k, const char *name) {
  for (uint32_t i = 0; i < k->nlinked; i++)
    if (strcmp(k->linked[i], name) == 0) return true;
  return false;
}

/* An imported instance `name` of type `type`, resolved as import_instance
 * does: a registered instance satisfies it whole; otherwise each export
 * by "name#export" (functions, core modules, nested instances). */
static void check_instance(check_ctx_t *k, const char *name, wh_cm_tid_t type, int depth) {
  const wh_cm_linker_t *l = k->l;
  if (linker_instance(l, name)) return;   /* its types are checked at instantiation */
  if (linker_find(l, name) >= 0 || linker_module(l, name) || depth > 32) {
    note_missing(k->missing, sizeof k->missing, &k->n, name);   /* not an instance */
    return;
  }
  const wh_cm_type_t *it = &k->c->types[wh_cm__peel(k->c, type)];
  for (uint32_t i = 0; i < it->nexp; i++) {
    const wh_cm_item_t *e = &it->exp[i];
    char full[600];
    snprintf(full, sizeof full, "%s#%s", name, e->name);
    switch (e->ext.sort) {
    case WH_CM_SORT_TYPE: break;
    case WH_CM_SORT_FUNC:
      if (!l->trap_missing && linker_find(l, full) < 0)
        note_missing(k->missing, sizeof k->missing, &k->n, full);
      break;
    case WH_CM_SORT_INSTANCE: check_instance(k, full, e->ext.type, depth + 1); break;
    case WH_CM_SORT_CORE_MODULE:
      if (!linker_module(l, full)) note_missing(k->missing, sizeof k->missing, &k->n, full);
      break;
    default:   /* components, values: never from the host */
      note_missing(k->missing, sizeof k->missing, &k->n, full);
      break;
    }
  }
}

int wh_cm_linker_check(const wh_cm_linker_t *l, const wh_cm_component_t *c, wh_diag_t *diag) {
  return wh_cm_linker_check_linked(l, c, NULL, 0, diag);
}

int wh_cm_linker_check_linked(const wh_cm_linker_t *l, const wh_cm_component_t *c,
                              const char *const *linked, uint32_t nlinked, wh_diag_t *diag) {
  if (diag) wh_diag_clear(diag);
  if (!l || !c) return wh_diag_set(diag, WH_EINVAL, -1, "no linker or component");
  const wh_cm_type_t *root = wh_cm__ty(c, c->root->type);
  check_ctx_t k = {.l = l, .c = c, .linked = linked, .nlinked = nlinked};
  for (uint32_t i = 0; i < root->nimp; i++) {
    const wh_cm_item_t *im = &root->imp[i];
    if (is_linked(&k, im->name)) continue;
    switch (im->ext.sort) {
    case WH_CM_SORT_TYPE: break;
    case WH_CM_SORT_FUNC:
      if (!l->trap_missing && linker_find(l, im->name) < 0)
        note_missing(k.missing, sizeof k.missing, &k.n, im->name);
      break;
    case WH_CM_SORT_INSTANCE: check_instance(&k, im->name, im->ext.type, 0); break;
    case WH_CM_SORT_CORE_MODULE:
      if (!linker_module(l, im->name)) note_missing(k.missing, sizeof k.missing, &k.n, im->name);
      break;
    default:   /* components, values: never from the host */
      note_missing(k.missing, sizeof k.missing, &k.n, im->name);
      break;
    }
  }
  if (k.n == 0) return 0;
  return wh_diag_set(diag, WH_EUNLINKABLE, -1, "%u import%s not provided: %s%s", k.n,
                     k.n == 1 ? " was" : "s were", k.missing, k.n > 8 ? ", ..." : "");
}

int wh_cm_hostcall_trap(wh_cm_hostcall_t *call, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(call->trap, CM_TRAPMSG, fmt, ap);
  va_end(ap);
  return WH_ETRAP;
}

wh_exec_t *wh_cm_hostcall_exec(wh_cm_hostcall_t *call) { return call->x; }

int wh_cm__hostcall_trap_kind(wh_cm_hostcall_t *call, wh_trap_code_t kind) {
  snprintf(call->trap, CM_TRAPMSG, "%s", wh_trap_text(kind));
  if (call->caller) return wh_caller_trap_kind(call->caller, kind);
  return WH_ETRAP;
}

int wh_cm__hostcall_exit(wh_cm_hostcall_t *call, int status) {
  snprintf(call->trap, CM_TRAPMSG, "exit with status %d", status);
  if (call->caller) return wh_caller_exit(call->caller, status);
  return WH_EEXIT;
}

/* ---- raw slots <-> engine values --------------------------------------------------- */

static wh_val_t slot_val(uint64_t s, char t) {
  wh_val_t v;
  memset(&v, 0, sizeof v);
  switch (t) {
  case 'I': v.type = WH_I64; v.of.i64 = (int64_t)s; break;
  case 'f': { v.type = WH_F32; uint32_t b = (uint32_t)s; memcpy(&v.of.f32, &b, 4); break; }
  case 'F': v.type = WH_F64; memcpy(&v.of.f64, &s, 8); break;
  case 'r': v.type = WH_FUNCREF; v.of.ref = (void *)(uintptr_t)s; break;
  case 'e': v.type = WH_EXTERNREF; v.of.ref = (void *)(uintptr_t)s; break;
  default: v.type = WH_I32; v.of.i32 = (int32_t)(uint32_t)s; break;
  }
  return v;
}

static uint64_t val_slot(const wh_val_t *v) {
  switch (v->type) {
  case WH_I32: return (uint32_t)v->of.i32;
  case WH_I64: return (uint64_t)v->of.i64;
  case WH_F32: { uint32_t b; memcpy(&b, &v->of.f32, 4); return b; }
  case WH_F64: { uint64_t b; memcpy(&b, &v->of.f64, 8); return b; }
  default: return (uint64_t)(uintptr_t)v->of.ref;
  }
}

/* Calls engine function `f` of signature ps[np] -> rs[nr] with raw
 * slots (params in, results out). */
static int call_sig(wh_exec_t *x, wh_func_t *f, const char *ps, uint32_t np, uint32_t nr,
                    uint64_t *slots) {
  wh_val_t a[64], r[16];
  if (np > 64 || nr > 16) return WH_EINVAL;
  for (uint32_t i = 0; i < np; i++) {
    /* field by field: a whole-struct copy of slot_val's result stalls
     * on store forwarding, a third of a small call's cost */
    switch (ps[i]) {
    case 'i': a[i].type = WH_I32; a[i].of.i32 = (int32_t)(uint32_t)slots[i]; break;
    case 'I': a[i].type = WH_I64; a[i].of.i64 = (int64_t)slots[i]; break;
    default: a[i] = slot_val(slots[i], ps[i]); break;
    }
  }
  int rc = wh_call(x, f, a, np, r, nr);
  if (rc) return rc;
  for (uint32_t i = 0; i < nr; i++) slots[i] = val_slot(&r[i]);
  return 0;
}

/* Calls an engine function with raw slots (params in, results out). */
static int call_slots(wh_exec_t *x, wh_func_t *f, uint64_t *slots, uint32_t nin,
                      uint32_t *nout) {
  const char *ps, *rs;
  wh_func_type(f, &ps, &rs);
  size_t np = strlen(ps), nr = strlen(rs);
  if (np != nin) return WH_EINVAL;
  int rc = call_sig(x, f, ps, (uint32_t)np, (uint32_t)nr, slots);
  if (rc == 0 && nout) *nout = (uint32_t)nr;
  return rc;
}

static int core_trap(wh_exec_t *x, char *trap);

/* A host function forwarding to an engine function (inline core
 * instances). */
static int forward_fn(wh_caller_t *caller, void *env, uint64_t *slots) {
  wh_func_t *f = env;
  const char *ps, *rs;
  wh_func_type(f, &ps, &rs);
  int rc = call_slots(wh_caller_exec(caller), f, slots, (uint32_t)strlen(ps), NULL);
  if (rc == WH_ETRAP) {
    /* an engine trap (unreachable, out of fuel, deadline, ...) is already
     * recorded in the exec with its kind and backtrace: pass it through,
     * as the lowered-import path does */
    wh_trap_code_t kind = wh_exec_trap(wh_caller_exec(caller), NULL, NULL);
    if (kind != WH_TRAP_NONE && kind != WH_TRAP_HOST) return WH_ETRAP;
    /* the message lives in the exec that wh_caller_trap writes to: copy
     * it out first (formatting a buffer into itself loses it) */
    char trap[CM_TRAPMSG];
    core_trap(wh_caller_exec(caller), trap);
    return wh_caller_trap(caller, "%s", trap);
  }
  return rc;
}

/* ---- calls ------------------------------------------------------------------------- */

static void func_types(const wh_cm_component_t *c, wh_cm_tid_t ft, wh_cm_tid_t *params,
                       uint32_t *np, wh_cm_tid_t *result, uint32_t *nr) {
  const wh_cm_type_t *f = &c->types[wh_cm__peel(c, ft)];
  for (uint32_t i = 0; i < f->n && i < 64; i++) params[i] = f->f[i].type;
  *np = f->n < 64 ? f->n : 64;
  *result = f->a;
  *nr = f->a ? 1 : 0;
}

static int core_trap(wh_exec_t *x, char *trap) {
  const char *msg = NULL;
  wh_exec_trap(x, &msg, NULL);
  snprintf(trap, CM_TRAPMSG, "%s", msg && *msg ? msg : "trap");
  return WH_ETRAP;
}

/* Calls a component function with values. */
static int call_func(cm_func_t *f, wh_exec_t *x, const wh_cm_val *args, uint32_t nargs,
                     wh_cm_val *results, uint32_t nres, char *trap, wh_caller_t *caller) {
  if (f->kind == CF_MISSING) {
    snprintf(trap, CM_TRAPMSG, "import %s was not provided", f->name);
    return WH_ETRAP;
  }
  if (f->kind == CF_HOST) {
    wh_cm_hostcall_t hc = {x, trap, caller};
    for (uint32_t i = 0; i < nres; i++) memset(&results[i], 0, sizeof results[i]);
    int rc = f->fn(&hc, f->env, args, nargs, results, nres);
    if (rc) {
      for (uint32_t i = 0; i < nres; i++) wh_cm_val_fini(&results[i]);
      if (!trap[0]) snprintf(trap, CM_TRAPMSG, "host function %s failed", f->name ? f->name : "");
      return rc < 0 ? rc : WH_ETRAP;
    }
    return 0;
  }
  cm_rinst_t *inst = f->inst;
  const wh_cm_component_t *c = inst->top->c;
  uint32_t nr = f->rt ? 1 : 0;
  if (f->np != nargs) {
    snprintf(trap, CM_TRAPMSG, "expected %u arguments, got %u", f->np, nargs);
    return WH_EINVAL;
  }
  if (!inst->may_enter) {
    snprintf(trap, CM_TRAPMSG, "cannot enter component instance");
    return WH_ETRAP;
  }
  if (!f->core) {
    snprintf(trap, CM_TRAPMSG, "lifted function is not a core wasm function");
    return WH_ETRAP;
  }
  cm_call_t call;
  memset(&call, 0, sizeof call);
  cm_cx_t cx = {c, x, f->mem, f->realloc, f->enc, inst, &call, trap};
  uint64_t slots[64];
  uint32_t nflat = 0;
  inst->may_enter = false;
  int rc = wh_cm__lower_values_k(&cx, f->pt, f->np, WH_CM_MAX_FLAT_PARAMS, f->pflat, args,
                                 slots, &nflat, NULL);
  if (rc) goto done;
  uint32_t nout = f->ncr;
  rc = nflat == f->ncp ? call_sig(x, f->core, f->cps, f->ncp, f->ncr, slots) : WH_EINVAL;
  if (rc == WH_ETRAP) {
    core_trap(x, trap);
    goto done;
  }
  if (rc) goto done;
  if (nr) {
    wh_cm_val res;
    rc = wh_cm__lift_values_k(&cx, &f->rt, 1, WH_CM_MAX_FLAT_RESULTS, f->rflat, slots, nout,
                              &res);
    if (rc) goto done;
    if (nres) results[0] = res;
    else wh_cm_val_fini(&res);
  }
  if (f->post) {
    inst->may_leave = false;
    rc = call_sig(x, f->post, f->crs, f->ncr, 0, slots);   /* (core results) -> () */
    inst->may_leave = true;
    if (rc == WH_ETRAP) core_trap(x, trap);
    if (rc) {
      if (nr && nres) wh_cm_val_fini(&results[0]);
      goto done;
    }
  }
  rc = wh_cm__call_end(&cx, &call, true);
  if (rc && nr && nres) wh_cm_val_fini(&results[0]);
done:
  if (call.lend_inst) wh_cm__call_end(&cx, &call, false);
  inst->may_enter = true;
  return rc;
}

typedef struct lower_env {
  cm_rinst_t *caller;
  cm_func_t *callee;
  wh_cm_tid_t type;          /* the lowered function's type */
  wh_memory_t *mem;
  wh_func_t *realloc;
  uint8_t enc;
} lower_env_t;

/* The trampoline of a lowered function (canon lower). */
static int lower_fn(wh_caller_t *caller, void *env, uint64_t *slots) {
  lower_env_t *le = env;
  cm_rinst_t *ri = le->caller;
  const wh_cm_component_t *c = ri->top->c;
  char trap[CM_TRAPMSG] = "";
  if (!ri->may_leave) return wh_caller_trap(caller, "cannot leave component instance");
  /* a component calling its own lifted function: reentrance that neither
   * blocks nor goes through a child (Explainer, component invariant #2) */
  if (le->callee && le->callee->kind == CF_LIFTED && le->callee->inst == ri)
    return wh_caller_trap(caller, "cannot enter component instance");
  wh_cm_tid_t pt[64], rt;
  uint32_t np, nr;
  func_types(c, le->type, pt, &np, &rt, &nr);
  char ps[40], rs[4];
  wh_cm__core_sig(c, le->type, true, ps, rs);
  uint32_t ncore = (uint32_t)strlen(ps);
  bool retptr = nr && rs[0] == '\0';
  uint64_t rp = retptr ? slots[ncore - 1] : 0;
  cm_call_t call;
  memset(&call, 0, sizeof call);
  cm_cx_t cx = {c, wh_caller_exec(caller), le->mem, le->realloc, le->enc, ri, &call, trap};
  wh_cm_val args[64], res;
  memset(&res, 0, sizeof res);
  int rc = wh_cm__lift_values(&cx, pt, np, WH_CM_MAX_FLAT_PARAMS, slots,
                              retptr ? ncore - 1 : ncore, args);
  if (rc) goto out_noargs;
  rc = call_func(le->callee, cx.x, args, np, &res, nr, trap, caller);
  for (uint32_t i = 0; i < np; i++) wh_cm_val_fini(&args[i]);
  if (rc) goto out_noargs;
  if (nr) {
    uint32_t nflat = 0;
    ri->may_leave = true;
    rc = wh_cm__lower_values(&cx, &rt, 1, WH_CM_MAX_FLAT_RESULTS, &res, slots, &nflat,
                             retptr ? &rp : NULL);
    wh_cm_val_fini(&res);
  }
out_noargs:
  wh_cm__call_end(&cx, &call, false);
  if (rc == WH_EEXIT) return WH_EEXIT;   /* the exec holds the status */
  if (rc == WH_ETRAP) {   /* keep a deadline, interrupt or fuel trap's kind */
    wh_trap_code_t kind = wh_exec_trap(cx.x, NULL, NULL);
    if (kind == WH_TRAP_DEADLINE || kind == WH_TRAP_INTERRUPTED || kind == WH_TRAP_OUT_OF_FUEL)
      return WH_ETRAP;
  }
  if (rc == WH_ENOMEM) return wh_caller_trap(caller, "out of memory");
  if (rc) return wh_caller_trap(caller, "%s", trap[0] ? trap : "trap");
  return 0;
}

/* A lowered import whose callee another component instance lifted: the
 * fused adapter (fuse.c).  Filled once at `canon lower`, so a call
 * looks nothing up:
 *   pt/rt ....... the caller's param and result types (its component)
 *   pflat ....... their flat counts (spilled past 16 / 1)
 *   ncore ....... core params of the lowered function (retptr included)
 *   retptr ...... the result goes through a caller-supplied pointer
 *   scalar ...... every param and the result is a scalar: the slots pass
 *                 straight through, with fix[] applied (none if `plain`) */
typedef struct fuse_env {
  cm_rinst_t *caller;
  cm_func_t *callee;
  wh_memory_t *mem;
  wh_func_t *realloc;
  uint8_t enc;
  wh_cm_tid_t *pt, rt;
  uint32_t np, pflat, rflat, ncore;
  bool retptr, scalar, plain;
  uint8_t fix[WH_CM_MAX_FLAT_PARAMS + 2];
  uint32_t nfix;
  /* flat: strings and scalars only (wh_cm__fuse_flat_plan) */
  bool flat;
  uint8_t codes[WH_CM_MAX_FLAT_PARAMS], rcode;
} fuse_env_t;

/* Passes an engine trap through with its kind, or traps with `trap`. */
static int adapter_trap(wh_caller_t *caller, wh_exec_t *x, int rc, const char *trap) {
  if (rc == WH_EEXIT) return WH_EEXIT;
  if (rc == WH_ETRAP) {
    wh_trap_code_t kind = wh_exec_trap(x, NULL, NULL);
    if (kind == WH_TRAP_DEADLINE || kind == WH_TRAP_INTERRUPTED || kind == WH_TRAP_OUT_OF_FUEL)
      return WH_ETRAP;
  }
  if (rc == WH_ENOMEM) return wh_caller_trap(caller, "out of memory");
  return wh_caller_trap(caller, "%s", trap[0] ? trap : "trap");
}

/* The trampoline of a fused adapter: canon lower of the caller and canon
 * lift of the callee in one, in the spec's order (arguments moved in,
 * the call, results moved out, post-return, the callee's borrow scope
 * closed). */
static int fused_fn(wh_caller_t *caller, void *env, uint64_t *slots) {
  fuse_env_t *fe = env;
  cm_rinst_t *ri = fe->caller;
  cm_func_t *f = fe->callee;
  cm_rinst_t *ci = f->inst;
  wh_exec_t *x = wh_caller_exec(caller);
  char trap[CM_TRAPMSG] = "";
  int rc;
  if (!ri->may_leave) return wh_caller_trap(caller, "cannot leave component instance");
  if (!ci->may_enter) return wh_caller_trap(caller, "cannot enter component instance");
  if (fe->scalar) {
    /* flat scalars: the caller's slots are the callee's, fixed up */
    cm_cx_t cx = {ri->top->c, x, NULL, NULL, 0, ri, NULL, trap};
    if (!fe->plain)
      for (uint32_t i = 0; i < fe->np; i++)
        if ((rc = wh_cm__fuse_fix(&cx, fe->fix[i], &slots[i]))) return adapter_trap(caller, x, rc, trap);
    ci->may_enter = false;
    rc = call_sig(x, f->core, f->cps, f->ncp, f->ncr, slots);
    if (rc == 0 && fe->rt && !fe->plain) rc = wh_cm__fuse_fix(&cx, fe->fix[fe->np], &slots[0]);
    if (rc == 0 && f->post) {
      uint64_t keep = slots[0], ps[1] = {keep};
      ci->may_leave = false;
      rc = call_sig(x, f->post, f->crs, f->ncr, 0, ps);
      ci->may_leave = true;
      slots[0] = keep;
    }
    ci->may_enter = true;
    if (rc == WH_ETRAP && !trap[0]) core_trap(x, trap);
    return rc ? adapter_trap(caller, x, rc, trap) : 0;
  }
  cm_call_t lend, scope;       /* the caller's lends; the callee's borrows */
  memset(&lend, 0, sizeof lend);
  memset(&scope, 0, sizeof scope);
  cm_cx_t from = {ri->top->c, x, fe->mem, fe->realloc, fe->enc, ri, &lend, trap};
  cm_cx_t to = {ci->top->c, x, f->mem, f->realloc, f->enc, ci, &scope, trap};
  uint64_t rp = fe->retptr ? slots[fe->ncore - 1] : 0;
  uint64_t args[WH_CM_MAX_FLAT_PARAMS + 1];
  uint32_t nargs = 0;
  ci->may_enter = false;
  if (fe->flat)
    rc = wh_cm__fuse_flat_params(&from, &to, fe->codes, fe->np, slots, args, &nargs);
  else
    rc = wh_cm__fuse_values(&from, &to, fe->pt, f->pt, fe->np, WH_CM_MAX_FLAT_PARAMS, fe->pflat,
                            slots, fe->retptr ? fe->ncore - 1 : fe->ncore, args, &nargs, NULL);
  if (rc) goto done;
  if (nargs != f->ncp) {
    rc = wh_cm__trap(&to, "adapter: core signature mismatch");
    goto done;
  }
  memcpy(slots, args, nargs * sizeof *slots);
  rc = call_sig(x, f->core, f->cps, f->ncp, f->ncr, slots);
  if (rc == WH_ETRAP) core_trap(x, trap);
  if (rc) goto done;
  uint64_t core_res[2] = {f->ncr ? slots[0] : 0, 0};
  if (fe->rt && fe->flat) {
    uint64_t out = 0;
    rc = wh_cm__fuse_flat_result(&to, &from, fe->rcode, core_res[0], &rp, &out);
    if (rc) goto done;
    if (!fe->retptr) slots[0] = out;
  } else if (fe->rt) {
    uint32_t nout = 0;
    uint64_t out[2];
    rc = wh_cm__fuse_values(&to, &from, &f->rt, &fe->rt, 1, WH_CM_MAX_FLAT_RESULTS, fe->rflat,
                            core_res, f->ncr, out, &nout, fe->retptr ? &rp : NULL);
    if (rc) goto done;
    if (nout) slots[0] = out[0];
  }
  if (f->post) {
    ci->may_leave = false;
    rc = call_sig(x, f->post, f->crs, f->ncr, 0, core_res);
    ci->may_leave = true;
    if (rc == WH_ETRAP) core_trap(x, trap);
    if (rc) goto done;
  }
  rc = wh_cm__call_end(&to, &scope, true);
done:
  if (scope.lend_inst) wh_cm__call_end(&to, &scope, false);
  wh_cm__call_end(&from, &lend, false);
  ci->may_enter = true;
  return rc ? adapter_trap(caller, x, rc, trap) : 0;
}

/* Whether the callee's core function returns what a flat plan's result
 * `rcode` needs: one value for a scalar or a string (its pair's
 * address), none for no result. */
static bool f_core_results_ok(const cm_func_t *callee, uint8_t rcode) {
  return callee->ncr == (rcode == WH_CM_FUSE_NONE ? 0u : 1u);
}

/* A fused adapter for `canon lower` of `callee` into `r`, or NULL when the
 * call must go through values (see fuse.c; a host or missing callee, the
 * same instance, fusing switched off on the linker, shapes it cannot
 * walk). */
static fuse_env_t *fuse_env(wh_cm_instance_t *I, cm_rinst_t *r, cm_func_t *callee,
                            const lower_env_t *le, const char *ps, const char *rs) {
  if (!callee || callee->kind != CF_LIFTED || !callee->core || callee->inst == r) return NULL;
  if (I->linker && I->linker->no_fuse) return NULL;
  const wh_cm_component_t *c = I->c, *cc = callee->inst->top->c;
  if (!wh_cm__fuse_compatible(c, le->type, cc, callee->type)) return NULL;
  fuse_env_t *fe = ialloc(I, sizeof *fe);
  if (!fe) return NULL;
  const wh_cm_type_t *ft = &c->types[wh_cm__peel(c, le->type)];
  fe->caller = r;
  fe->callee = callee;
  fe->mem = le->mem;
  fe->realloc = le->realloc;
  fe->enc = le->enc;
  fe->np = ft->n;
  fe->pt = ialloc(I, (ft->n ? ft->n : 1) * sizeof *fe->pt);
  if (!fe->pt) return NULL;
  for (uint32_t i = 0; i < ft->n; i++) fe->pt[i] = ft->f[i].type;
  fe->rt = ft->a;
  fe->pflat = wh_cm__flat_total(c, fe->pt, fe->np, WH_CM_MAX_FLAT_PARAMS);
  fe->rflat = fe->rt ? wh_cm__flat_total(cc, &callee->rt, 1, WH_CM_MAX_FLAT_RESULTS) : 0;
  fe->ncore = (uint32_t)strlen(ps);
  fe->retptr = fe->rt && rs[0] == '\0';
  fe->scalar = wh_cm__fuse_scalar_plan(c, le->type, fe->fix, &fe->nfix) &&
               fe->nfix == fe->np + (fe->rt ? 1 : 0) && fe->np == callee->ncp &&
               fe->ncore == fe->np && callee->ncr == (fe->rt ? 1u : 0u);
  uint32_t nc = 0;
  fe->flat = wh_cm__fuse_flat_plan(c, le->type, fe->codes, &nc, &fe->rcode) && nc == fe->np &&
             fe->retptr == (fe->rcode == WH_CM_FUSE_STRING) &&
             f_core_results_ok(callee, fe->rcode);
  fe->plain = true;
  for (uint32_t i = 0; i < fe->nfix; i++)
    if (fe->fix[i] != WH_CM_FIX_NONE && fe->fix[i] != WH_CM_FIX_32) fe->plain = false;
  /* FIX_32 keeps the low 32 bits of a slot the engine already gives as
   * an i32: nothing to do for it either */
  return fe;
}

/* Resource built-ins. */
typedef struct res_env {
  cm_rinst_t *inst;
  wh_cm_tid_t res;
} res_env_t;

static int res_new(wh_caller_t *caller, void *env, uint64_t *slots) {
  res_env_t *re = env;
  char trap[CM_TRAPMSG] = "";
  cm_cx_t cx = {re->inst->top->c, wh_caller_exec(caller), NULL, NULL, 0, re->inst, NULL, trap};
  cm_handle_t h;
  memset(&h, 0, sizeof h);
  h.rt = wh_cm__rtype(re->inst, re->res);
  h.rep = (uint32_t)slots[0];
  h.own = true;
  uint32_t idx;
  int rc = wh_cm__htable_add(&cx, &re->inst->handles, &h, &idx);
  if (rc) return wh_caller_trap(caller, "%s", trap[0] ? trap : "out of memory");
  slots[0] = idx;
  return 0;
}

static int res_rep(wh_caller_t *caller, void *env, uint64_t *slots) {
  res_env_t *re = env;
  char trap[CM_TRAPMSG] = "";
  cm_cx_t cx = {re->inst->top->c, wh_caller_exec(caller), NULL, NULL, 0, re->inst, NULL, trap};
  uint32_t i = (uint32_t)slots[0];
  cm_handle_t *h = wh_cm__htable_get(&cx, &re->inst->handles, i);
  if (!h) return wh_caller_trap(caller, "%s", trap);
  wh_cm_rtype_t *rt = wh_cm__rtype(re->inst, re->res);
  if (rt && h->rt && rt != h->rt)
    return wh_caller_trap(caller, "handle index %u used with the wrong type, expected "
                                  "guest-defined resource but found a different guest-defined "
                                  "resource", i);
  slots[0] = h->rep;
  return 0;
}

static int res_drop(wh_caller_t *caller, void *env, uint64_t *slots) {
  res_env_t *re = env;
  char trap[CM_TRAPMSG] = "";
  wh_exec_t *x = wh_caller_exec(caller);
  cm_cx_t cx = {re->inst->top->c, x, NULL, NULL, 0, re->inst, NULL, trap};
  uint32_t i = (uint32_t)slots[0];
  cm_htable_t *t = &re->inst->handles;
  cm_handle_t *h = wh_cm__htable_get(&cx, t, i);
  if (!h) return wh_caller_trap(caller, "%s", trap);
  wh_cm_rtype_t *rt = wh_cm__rtype(re->inst, re->res);
  if (rt && h->rt && rt != h->rt)
    return wh_caller_trap(caller, "handle index %u used with the wrong type, expected "
                                  "guest-defined resource but found a different guest-defined "
                                  "resource", i);
  cm_handle_t copy = *h;
  if (copy.own && copy.lends)
    return wh_caller_trap(caller, "cannot remove owned resource while borrowed");
  /* remove */
  memset(h, 0, sizeof *h);
  if (t->nfree == t->capfree) {
    uint32_t nc = t->capfree ? 2 * t->capfree : 8;
    uint32_t *nf = realloc(t->free, nc * sizeof *nf);
    if (!nf) return wh_caller_trap(caller, "out of memory");
    t->free = nf;
    t->capfree = nc;
  }
  t->free[t->nfree++] = i;
  if (!copy.own) {
    if (copy.scope && copy.scope->borrows) copy.scope->borrows--;
    return 0;
  }
  wh_cm_rtype_t *drt = copy.rt ? copy.rt : rt;
  if (drt && !drt->impl && drt->host_dtor) {
    drt->host_dtor(drt->host_env, copy.rep);
    return 0;
  }
  if (drt && drt->dtor) {
    if (drt->impl && !drt->impl->may_enter && drt->impl != re->inst)
      return wh_caller_trap(caller, "cannot enter component instance");
    uint64_t s[1] = {copy.rep};
    int rc = call_slots(x, drt->dtor, s, 1, NULL);
    if (rc == WH_ETRAP) {
      core_trap(x, trap);
      return wh_caller_trap(caller, "%s", trap);
    }
    if (rc) return wh_caller_trap(caller, "destructor failed");
  }
  return 0;
}

/* ---- instantiation ---------------------------------------------------------------- */

typedef struct ictx {
  wh_cm_instance_t *I;
  wh_exec_t *x;
  wh_diag_t *diag;
} ictx_t;

static int oom(ictx_t *cx) { return wh_diag_set(cx->diag, WH_ENOMEM, -1, "out of memory"); }

static wh_func_t *citem_func(citem_t *ci) {
  if (!ci || !ci->inst) return NULL;
  return wh_instance_func(ci->inst, ci->name);
}

static int define_citem(wh_linker_t *l, const char *mod, const char *name, uint8_t kind,
                        citem_t *ci) {
  switch (kind) {
  case WH_CM_CSORT_FUNC:
    if (ci->inst) {
      wh_func_t *f = wh_instance_func(ci->inst, ci->name);
      if (!f) return WH_ENOTFOUND;
      const char *ps, *rs;
      wh_func_type(f, &ps, &rs);
      return wh_linker_define_func(l, mod, name, ps, rs, forward_fn, f);
    }
    return wh_linker_define_func(l, mod, name, ci->params, ci->results, ci->fn, ci->env);
  case WH_CM_CSORT_MEMORY: {
    wh_memory_t *m = ci->inst ? wh_instance_memory(ci->inst, ci->name) : NULL;
    return m ? wh_linker_define_memory(l, mod, name, m) : WH_ENOTFOUND;
  }
  case WH_CM_CSORT_TABLE: {
    wh_table_t *t = ci->inst ? wh_instance_table(ci->inst, ci->name) : NULL;
    return t ? wh_linker_define_table(l, mod, name, t) : WH_ENOTFOUND;
  }
  case WH_CM_CSORT_GLOBAL: {
    wh_global_t *g = ci->inst ? wh_instance_global(ci->inst, ci->name) : NULL;
    return g ? wh_linker_define_global(l, mod, name, g) : WH_ENOTFOUND;
  }
  default: return WH_EUNSUPPORTED;
  }
}

static vec_t *cspace(cm_rinst_t *r, uint8_t csort) {
  switch (csort) {
  case WH_CM_CSORT_FUNC: return &r->cfuncs;
  case WH_CM_CSORT_TABLE: return &r->ctabs;
  case WH_CM_CSORT_MEMORY: return &r->cmems;
  case WH_CM_CSORT_GLOBAL: return &r->cglobs;
  default: return NULL;
  }
}

static vec_t *space(cm_rinst_t *r, uint8_t sort) {
  switch (sort) {
  case WH_CM_SORT_CORE_MODULE: return &r->cmods;
  case WH_CM_SORT_FUNC: return &r->funcs;
  case WH_CM_SORT_TYPE: return &r->types;
  case WH_CM_SORT_COMPONENT: return &r->comps;
  case WH_CM_SORT_INSTANCE: return &r->insts;
  default: return NULL;
  }
}

static int core_instantiate(ictx_t *cx, cm_rinst_t *r, const wh_cm_def_t *d) {
  wh_cm_instance_t *I = cx->I;
  cinst_t *ci = ialloc(I, sizeof *ci);
  if (!ci) return oom(cx);
  if (d->u.inst.form == 0) {
    const wh_module_t *m = vget(&r->cmods, d->u.inst.of);
    if (!m) return wh_diag_set(cx->diag, WH_EUNLINKABLE, d->offset, "core module %u not available", d->u.inst.of);
    wh_linker_t *l = wh_linker_new(I->c->engine);
    if (!l) return oom(cx);
    int rc = 0;
    for (uint32_t i = 0; i < d->u.inst.nargs && rc == 0; i++) {
      const wh_cm_arg_t *a = &d->u.inst.args[i];
      cinst_t *src = vget(&r->cinsts, a->idx);
      if (!src) continue;
      if (src->inst) {
        rc = wh_linker_define_instance(l, a->name, src->inst);
      } else {
        for (uint32_t k = 0; k < src->n && rc == 0; k++)
          rc = define_citem(l, a->name, src->names[k], src->kinds[k], &src->items[k]);
      }
    }
    wh_instance_t *inst = NULL;
    if (rc == 0) rc = wh_linker_instantiate_in(l, m, cx->x, I->alloc, &inst, cx->diag);
    wh_linker_free(l);
    if (rc) {
      if (rc == WH_ETRAP) core_trap(cx->x, I->trap);
      return rc;
    }
    if (!vpush(&I->engine_insts, inst)) {
      wh_instance_free(inst);
      return oom(cx);
    }
    ci->inst = inst;
  } else {
    uint32_t n = d->u.inst.nargs;
    ci->n = n;
    ci->names = ialloc(I, (n + 1) * sizeof *ci->names);
    ci->kinds = ialloc(I, n + 1);
    ci->items = ialloc(I, (n + 1) * sizeof *ci->items);
    if (!ci->names || !ci->kinds || !ci->items) return oom(cx);
    for (uint32_t i = 0; i < n; i++) {
      const wh_cm_arg_t *a = &d->u.inst.args[i];
      vec_t *sp = cspace(r, a->sort);
      citem_t *it = sp ? vget(sp, a->idx) : NULL;
      ci->names[i] = a->name;
      ci->kinds[i] = a->sort;
      if (it) ci->items[i] = *it;
    }
  }
  return vpush(&r->cinsts, ci) ? 0 : oom(cx);
}

/* The exports of a core instance as a core item. */
static citem_t *core_export(ictx_t *cx, cinst_t *ci, const char *name, uint8_t csort) {
  if (!ci) return NULL;
  if (!ci->inst) {
    for (uint32_t i = 0; i < ci->n; i++)
      if (strcmp(ci->names[i], name) == 0) return &ci->items[i];
    return NULL;
  }
  citem_t *it = ialloc(cx->I, sizeof *it);
  if (!it) return NULL;
  it->inst = ci->inst;
  it->name = name;
  (void)csort;
  return it;
}

static int instantiate_comp(ictx_t *cx, const wh_cm_comp_t *comp, cm_rinst_t *outer,
                            ival_t *args, cm_rinst_t **out);

/* An imported type named `name`: the linker's host resource of that name
 * (the instance takes a reference) into *p, or NULL when the linker has
 * none (an opaque resource: handles without host behind them). */
static int import_resource(ictx_t *cx, const char *name, wh_cm_tid_t type, void **p) {
  wh_cm_instance_t *I = cx->I;
  wh_cm_rtype_t *rt = linker_resource(I->linker, name);
  *p = NULL;
  if (!rt) return 0;
  if (I->c->types[wh_cm__peel(I->c, type)].kind != WH_CM_T_RESOURCE)
    return wh_diag_set(cx->diag, WH_EUNLINKABLE, -1,
                       "import %s is not a resource but the host defines one", name);
  if (!vpush(&I->hostres, rt)) return oom(cx);
  __atomic_add_fetch(&rt->refs, 1, __ATOMIC_RELAXED);
  *p = rt;
  return 0;
}

/* Names a missing import in the instantiation error (the first 8). */
static void note_import_missing(wh_cm_instance_t *I, const char *name) {
  if (I->nmissing++ >= 8) return;
  size_t used = strlen(I->missing);
  snprintf(I->missing + used, sizeof I->missing - used, "%s%s", used ? ", " : "", name);
}

/* An imported instance `name` satisfied by the exports `src` of a
 * component instance the host registered (wh_cm_linker_define_instance):
 * each export of instance type `it` must be there with the same sort, and
 * a resource type must be the one the import's type requires (an `eq`
 * bound on an earlier import's resource). */
static int import_registered(ictx_t *cx, cm_rinst_t *r, const char *name,
                             const wh_cm_type_t *it, ival_t *src, ival_t *iv, void **p) {
  wh_cm_instance_t *I = cx->I;
  for (uint32_t i = 0; i < it->nexp; i++) {
    const wh_cm_item_t *e = &it->exp[i];
    item_t *got = ival_get(src, e->name);
    if (!got || got->sort != e->ext.sort) {
      size_t fl = strlen(name) + strlen(e->name) + 2;
      char *full = ialloc(I, fl);
      if (!full) return oom(cx);
      snprintf(full, fl, "%s#%s", name, e->name);
      if (got)
        return wh_diag_set(cx->diag, WH_EUNLINKABLE, -1,
                           "import %s: the instance exports it with another sort", full);
      note_import_missing(I, full);
      continue;
    }
    if (e->ext.sort == WH_CM_SORT_TYPE && got->p) {
      wh_cm_rtype_t *want = wh_cm__rtype(r, e->ext.type);
      if (want && want != got->p)
        return wh_diag_set(cx->diag, WH_EUNLINKABLE, -1,
                           "import %s#%s: mismatched resource types", name, e->name);
      if (!rmap_put(r, e->ext.type, got->p)) return oom(cx);
    }
    void *item = got->p;
    if (e->ext.sort == WH_CM_SORT_FUNC && item) {
      /* the same callee, typed as this component sees it */
      cm_func_t *g = ialloc(I, sizeof *g);
      if (!g) return oom(cx);
      *g = *(cm_func_t *)item;
      g->lc = I->c;
      g->ltype = e->ext.type;
      item = g;
    }
    if (!ival_put(I, iv, e->name, e->ext.sort, item)) return oom(cx);
  }
  *p = iv;
  return 0;
}

/* An imported instance `name` of instance type `type` into *p (an ival):
 * each export is looked up in the linker as "name#export" (functions,
 * resources, core modules; nested instances recursively as
 * "name#inner#export"), so an instance whose exports are all (nested)
 * empty instances needs nothing from the host.  A host function or
 * module of the instance's own name is a kind mismatch. */
static int import_instance(ictx_t *cx, cm_rinst_t *r, const char *name, wh_cm_tid_t type,
                           void **p) {
  wh_cm_instance_t *I = cx->I;
  const wh_cm_component_t *c = I->c;
  wh_cm_linker_t *l = I->linker;
  *p = NULL;
  if (l && (linker_find(l, name) >= 0 || linker_module(l, name)))
    return wh_diag_set(cx->diag, WH_EUNLINKABLE, -1, "import %s: expected instance, found %s",
                       name, linker_find(l, name) >= 0 ? "func" : "module");
  const wh_cm_type_t *it = &c->types[wh_cm__peel(c, type)];
  ival_t *iv = ialloc(I, sizeof *iv);
  if (!iv) return oom(cx);
  wh_cm_instance_t *reg = linker_instance(l, name);
  if (reg) {
    ival_t *src = &reg->root->exports;
    const char *sub = named_get(&l->isubs, name);
    if (sub) {   /* the registered instance's exported instance `sub` */
      item_t *si = ival_get(src, sub);
      if (!si || si->sort != WH_CM_SORT_INSTANCE || !si->p)
        return wh_diag_set(cx->diag, WH_EUNLINKABLE, -1,
                           "import %s: the linked instance exports no instance %s", name, sub);
      src = si->p;
    }
    return import_registered(cx, r, name, it, src, iv, p);
  }
  for (uint32_t i = 0; i < it->nexp; i++) {
    const wh_cm_item_t *e = &it->exp[i];
    void *ep = NULL;
    if (e->ext.sort == WH_CM_SORT_FUNC) {
      size_t fl = strlen(name) + strlen(e->name) + 2;
      char *full = ialloc(I, fl);
      if (!full) return oom(cx);
      snprintf(full, fl, "%s#%s", name, e->name);
      int k = l ? linker_find(l, full) : -1;
      cm_func_t *f = ialloc(I, sizeof *f);
      if (!f) return oom(cx);
      f->type = e->ext.type;
      if (k >= 0) {
        f->kind = CF_HOST;
        f->fn = l->fns[k];
        f->env = l->envs[k];
        f->name = l->names[k];
      } else {
        f->kind = CF_MISSING;
        f->name = full;
        if (!l || !l->trap_missing) note_import_missing(I, full);
      }
      ep = f;
    } else if (e->ext.sort == WH_CM_SORT_TYPE) {
      size_t fl = strlen(name) + strlen(e->name) + 2;
      char *full = ialloc(I, fl);
      if (!full) return oom(cx);
      snprintf(full, fl, "%s#%s", name, e->name);
      int rc = import_resource(cx, full, e->ext.type, &ep);
      if (rc) return rc;
      if (ep && !rmap_put(r, e->ext.type, ep)) return oom(cx);
    } else if (e->ext.sort == WH_CM_SORT_INSTANCE) {
      size_t fl = strlen(name) + strlen(e->name) + 2;
      char *full = ialloc(I, fl);
      if (!full) return oom(cx);
      snprintf(full, fl, "%s#%s", name, e->name);
      int rc = import_instance(cx, r, full, e->ext.type, &ep);
      if (rc) return rc;
    } else if (e->ext.sort == WH_CM_SORT_CORE_MODULE) {
      size_t fl = strlen(name) + strlen(e->name) + 2;
      char *full = ialloc(I, fl);
      if (!full) return oom(cx);
      snprintf(full, fl, "%s#%s", name, e->name);
      ep = (void *)linker_module(l, full);
      if (!ep) note_import_missing(I, full);
    } else {
      size_t fl = strlen(name) + strlen(e->name) + 2;
      char *full = ialloc(I, fl);
      if (!full) return oom(cx);
      snprintf(full, fl, "%s#%s", name, e->name);
      note_import_missing(I, full);   /* components, values: never from the host */
    }
    if (!ival_put(I, iv, e->name, e->ext.sort, ep)) return oom(cx);
  }
  *p = iv;
  return 0;
}

static int import_top(ictx_t *cx, cm_rinst_t *r, const wh_cm_def_t *d, void **p) {
  wh_cm_instance_t *I = cx->I;
  const char *name = d->u.item.name;
  uint8_t sort = d->u.item.ext.sort;
  wh_cm_linker_t *l = I->linker;
  *p = NULL;
  if (sort == WH_CM_SORT_TYPE) return import_resource(cx, name, d->u.item.ext.type, p);
  if (sort == WH_CM_SORT_FUNC) {
    int k = l ? linker_find(l, name) : -1;
    cm_func_t *f = ialloc(I, sizeof *f);
    if (!f) return oom(cx);
    f->type = d->u.item.ext.type;
    if (k >= 0) {
      f->kind = CF_HOST;
      f->fn = l->fns[k];
      f->env = l->envs[k];
      f->name = l->names[k];
    } else {
      f->kind = CF_MISSING;
      f->name = (char *)name;
      if (!l || !l->trap_missing) goto missing;
    }
    *p = f;
    return 0;
  }
  if (sort == WH_CM_SORT_INSTANCE) return import_instance(cx, r, name, d->u.item.ext.type, p);
  if (sort == WH_CM_SORT_CORE_MODULE) {
    *p = (void *)linker_module(l, name);
    if (*p) return 0;
  }
missing:
  note_import_missing(I, name);
  return 0;
}

/* Fills a lifted function's per-call data (see cm_func_t) from its
 * type and core function.  0 or WH_ENOMEM. */
static int prep_func(wh_cm_instance_t *I, cm_func_t *f) {
  if (f->kind != CF_LIFTED) return 0;
  const wh_cm_component_t *c = I->c;
  const wh_cm_type_t *ft = &c->types[wh_cm__peel(c, f->type)];
  f->np = ft->n;
  f->pt = ialloc(I, (ft->n ? ft->n : 1) * sizeof *f->pt);
  if (!f->pt) return WH_ENOMEM;
  for (uint32_t i = 0; i < ft->n; i++) f->pt[i] = ft->f[i].type;
  f->rt = ft->a;
  f->pflat = wh_cm__flat_total(c, f->pt, f->np, WH_CM_MAX_FLAT_PARAMS);
  f->rflat = f->rt ? wh_cm__flat_total(c, &f->rt, 1, WH_CM_MAX_FLAT_RESULTS) : 0;
  f->cps = f->crs = "";
  f->ncp = f->ncr = 0;
  if (f->core) {
    wh_func_type(f->core, &f->cps, &f->crs);
    f->ncp = (uint32_t)strlen(f->cps);
    f->ncr = (uint32_t)strlen(f->crs);
  }
  return 0;
}

static int do_canon(ictx_t *cx, cm_rinst_t *r, const wh_cm_def_t *d) {
  wh_cm_instance_t *I = cx->I;
  const wh_cm_canon_t *cn = &d->u.canon;
  wh_memory_t *mem = NULL;
  wh_func_t *rea = NULL, *post = NULL;
  if (cn->has_memory) {
    citem_t *mi = vget(&r->cmems, cn->memory);
    if (mi && mi->inst) mem = wh_instance_memory(mi->inst, mi->name);
  }
  if (cn->has_realloc) rea = citem_func(vget(&r->cfuncs, cn->realloc));
  if (cn->has_post_return) post = citem_func(vget(&r->cfuncs, cn->post_return));
  switch (cn->op) {
  case WH_CM_CANON_LIFT: {
    citem_t *ci = vget(&r->cfuncs, cn->func);
    cm_func_t *f;
    if (ci && !ci->inst && ci->lowered) {
      f = ci->lowered;      /* lift(lower(f)) is f */
    } else {
      f = ialloc(I, sizeof *f);
      if (!f) return oom(cx);
      f->kind = CF_LIFTED;
      f->type = cn->type;
      f->inst = r;
      f->core = citem_func(ci);
      f->mem = mem;
      f->realloc = rea;
      f->post = post;
      f->enc = cn->encoding;
      /* f->core NULL (a built-in or a missing import lifted): calls trap */
      if (prep_func(I, f)) return oom(cx);
    }
    return vpush(&r->funcs, f) ? 0 : oom(cx);
  }
  case WH_CM_CANON_LOWER: {
    cm_func_t *callee = vget(&r->funcs, cn->func);
    citem_t *ci = ialloc(I, sizeof *ci);
    lower_env_t *le = ialloc(I, sizeof *le);
    if (!ci || !le) return oom(cx);
    le->caller = r;
    le->callee = callee;
    le->type = !callee ? 0 : callee->lc == I->c && callee->ltype ? callee->ltype : callee->type;
    le->mem = mem;
    le->realloc = rea;
    le->enc = cn->encoding;
    ci->fn = lower_fn;
    ci->env = le;
    ci->lowered = callee;
    if (le->type) wh_cm__core_sig(I->c, le->type, true, ci->params, ci->results);
    if (!callee) return wh_diag_set(cx->diag, WH_EUNLINKABLE, d->offset, "function %u not available", cn->func);
    fuse_env_t *fe = fuse_env(I, r, callee, le, ci->params, ci->results);
    if (fe) {
      ci->fn = fused_fn;
      ci->env = fe;
    }
    return vpush(&r->cfuncs, ci) ? 0 : oom(cx);
  }
  default: {
    citem_t *ci = ialloc(I, sizeof *ci);
    res_env_t *re = ialloc(I, sizeof *re);
    if (!ci || !re) return oom(cx);
    re->inst = r;
    re->res = cn->type;
    ci->env = re;
    if (cn->op == WH_CM_CANON_RESOURCE_NEW) {
      ci->fn = res_new;
      strcpy(ci->params, "i");
      strcpy(ci->results, "i");
    } else if (cn->op == WH_CM_CANON_RESOURCE_REP) {
      ci->fn = res_rep;
      strcpy(ci->params, "i");
      strcpy(ci->results, "i");
    } else if (cn->op == WH_CM_CANON_RESOURCE_DROP) {
      ci->fn = res_drop;
      strcpy(ci->params, "i");
    } else {
      return wh_diag_set(cx->diag, WH_EUNSUPPORTED, d->offset, "canonical built-in 0x%02x is not supported", cn->op);
    }
    return vpush(&r->cfuncs, ci) ? 0 : oom(cx);
  }
  }
}

static int instantiate_comp(ictx_t *cx, const wh_cm_comp_t *comp, cm_rinst_t *outer,
                            ival_t *args, cm_rinst_t **out) {
  wh_cm_instance_t *I = cx->I;
  const wh_cm_component_t *c = I->c;
  cm_rinst_t *r = calloc(1, sizeof *r);
  if (!r || !vpush(&I->rinsts, r)) {
    free(r);
    return oom(cx);
  }
  r->top = I;
  r->outer = outer;
  r->may_enter = r->may_leave = true;
  int rc = 0;
  for (uint32_t di = 0; di < comp->defs.n && rc == 0; di++) {
    const wh_cm_def_t *d = &comp->defs.v[di];
    switch (d->kind) {
    case WH_CM_DEF_CORE_MODULE:
      if (!vpush(&r->cmods, d->u.module.module)) rc = oom(cx);
      break;
    case WH_CM_DEF_CORE_INSTANCE:
      rc = core_instantiate(cx, r, d);
      break;
    case WH_CM_DEF_CORE_TYPE:
      break;
    case WH_CM_DEF_TYPE: {
      wh_cm_rtype_t *rt = NULL;
      const wh_cm_type_t *t = &c->types[d->u.type];
      if (t->kind == WH_CM_T_RESOURCE) {
        rt = ialloc(I, sizeof *rt);
        if (!rt) return oom(cx);
        rt->impl = r;
        rt->tid = d->u.type;
        if (t->dtor) rt->dtor = citem_func(vget(&r->cfuncs, t->dtor - 1));
        if (!rmap_put(r, d->u.type, rt)) return oom(cx);
      }
      if (!vpush(&r->types, rt)) rc = oom(cx);
      break;
    }
    case WH_CM_DEF_COMPONENT: {
      compval_t *cv = ialloc(I, sizeof *cv);
      if (!cv) return oom(cx);
      cv->comp = d->u.component;
      cv->outer = r;
      if (!vpush(&r->comps, cv)) rc = oom(cx);
      break;
    }
    case WH_CM_DEF_INSTANCE: {
      ival_t *iv;
      if (d->u.inst.form == 0) {
        compval_t *cv = vget(&r->comps, d->u.inst.of);
        ival_t *a = ialloc(I, sizeof *a);
        if (!cv || !a) return cv ? oom(cx) : wh_diag_set(cx->diag, WH_EUNLINKABLE, d->offset, "component %u not available", d->u.inst.of);
        for (uint32_t i = 0; i < d->u.inst.nargs; i++) {
          const wh_cm_arg_t *ar = &d->u.inst.args[i];
          vec_t *sp = space(r, ar->sort);
          if (!ival_put(I, a, ar->name, ar->sort, sp ? vget(sp, ar->idx) : NULL)) return oom(cx);
        }
        cm_rinst_t *child;
        rc = instantiate_comp(cx, cv->comp, cv->outer, a, &child);
        if (rc) break;
        iv = &child->exports;
      } else {
        iv = ialloc(I, sizeof *iv);
        if (!iv) return oom(cx);
        for (uint32_t i = 0; i < d->u.inst.nargs; i++) {
          const wh_cm_arg_t *ar = &d->u.inst.args[i];
          vec_t *sp = space(r, ar->sort);
          if (!ival_put(I, iv, ar->name, ar->sort, sp ? vget(sp, ar->idx) : NULL)) return oom(cx);
        }
      }
      if (!vpush(&r->insts, iv)) rc = oom(cx);
      break;
    }
    case WH_CM_DEF_ALIAS: {
      if (d->u.alias.target == WH_CM_ALIAS_CORE_EXPORT) {
        cinst_t *ci = vget(&r->cinsts, d->u.alias.a);
        vec_t *sp = cspace(r, d->u.alias.sort);
        if (!sp) break;   /* tags */
        citem_t *it = core_export(cx, ci, d->u.alias.name, d->u.alias.sort);
        if (!vpush(sp, it)) rc = oom(cx);
      } else if (d->u.alias.target == WH_CM_ALIAS_EXPORT) {
        ival_t *iv = vget(&r->insts, d->u.alias.a);
        item_t *it = ival_get(iv, d->u.alias.name);
        vec_t *sp = space(r, d->u.alias.sort);
        if (!sp) break;
        if (!vpush(sp, it ? it->p : NULL)) rc = oom(cx);
      } else {
        cm_rinst_t *o = r;
        for (uint32_t k = 0; k < d->u.alias.a && o; k++) o = o->outer;
        if (d->u.alias.core && d->u.alias.sort != WH_CM_CSORT_MODULE) break;  /* core types */
        vec_t *sp = space(r, d->u.alias.core ? WH_CM_SORT_CORE_MODULE : d->u.alias.sort);
        vec_t *osp = o ? space(o, d->u.alias.core ? WH_CM_SORT_CORE_MODULE : d->u.alias.sort) : NULL;
        if (!sp) break;
        if (!vpush(sp, osp ? vget(osp, d->u.alias.b) : NULL)) rc = oom(cx);
      }
      break;
    }
    case WH_CM_DEF_CANON:
      rc = do_canon(cx, r, d);
      break;
    case WH_CM_DEF_START:
      break;
    case WH_CM_DEF_IMPORT: {
      void *p = NULL;
      if (args) {
        item_t *it = ival_get(args, d->u.item.name);
        p = it ? it->p : NULL;
      } else {
        rc = import_top(cx, r, d, &p);
        if (rc) break;
      }
      uint8_t sort = d->u.item.ext.sort;
      if (sort == WH_CM_SORT_TYPE && p && !rmap_put(r, d->u.item.ext.type, p)) rc = oom(cx);
      vec_t *sp = space(r, sort);
      if (sp && !vpush(sp, p)) rc = oom(cx);
      break;
    }
    case WH_CM_DEF_EXPORT: {
      uint8_t sort = d->u.item.sort;
      vec_t *sp = space(r, sort);
      void *p = sp ? vget(sp, d->u.item.idx) : NULL;
      if (sort == WH_CM_SORT_FUNC && p && d->u.item.ext.type) {
        /* an export may ascribe a type: keep the callee, retype it */
        cm_func_t *f = p;
        if (f->lc == I->c) {
          /* a registered instance's function: its calls keep the
           * callee's types, the ascription is this component's view */
          cm_func_t *g = ialloc(I, sizeof *g);
          if (!g) return oom(cx);
          *g = *f;
          g->ltype = d->u.item.ext.type;
          p = g;
        } else if (f->type != d->u.item.ext.type) {
          cm_func_t *g = ialloc(I, sizeof *g);
          if (!g) return oom(cx);
          *g = *f;
          g->type = d->u.item.ext.type;
          if (prep_func(I, g)) return oom(cx);
          p = g;
        }
      }
      if (sort == WH_CM_SORT_TYPE && p && !rmap_put(r, d->u.item.ext.type, p)) return oom(cx);
      if (!ival_put(I, &r->exports, d->u.item.name, sort, p)) return oom(cx);
      if (sp && !vpush(sp, p)) rc = oom(cx);
      break;
    }
    default:
      break;
    }
  }
  *out = r;
  return rc;
}

static void rinst_free(cm_rinst_t *r) {
  vec_t *vs[] = {&r->cmods, &r->cinsts, &r->cfuncs, &r->ctabs, &r->cmems,
                 &r->cglobs, &r->funcs, &r->insts, &r->comps, &r->types};
  for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) free(vs[i]->v);
  wh_cm__htable_fini(&r->handles);
  free(r->rmap);
  free(r);
}

/* Own handles of host resources still in the tables: the host's dtor
 * gets them back (see wh_cm.h "host resources"). */
static void drop_host_handles(cm_rinst_t *r) {
  cm_htable_t *t = &r->handles;
  for (uint32_t i = 1; i < t->n; i++) {
    cm_handle_t *h = &t->v[i];
    if (h->used && h->own && h->rt && !h->rt->impl && h->rt->host_dtor)
      h->rt->host_dtor(h->rt->host_env, h->rep);
  }
}

void wh_cm_instance_free(wh_cm_instance_t *I) {
  if (!I) return;
  for (uint32_t i = 0; i < I->rinsts.n; i++) drop_host_handles(I->rinsts.v[i]);
  for (uint32_t i = I->engine_insts.n; i > 0; i--) wh_instance_free(I->engine_insts.v[i - 1]);
  free(I->engine_insts.v);
  for (uint32_t i = 0; i < I->rinsts.n; i++) rinst_free(I->rinsts.v[i]);
  free(I->rinsts.v);
  for (uint32_t i = 0; i < I->allocs.n; i++) free(I->allocs.v[i]);
  free(I->allocs.v);
  for (uint32_t i = 0; i < I->hostres.n; i++) rtype_release(I->hostres.v[i]);
  free(I->hostres.v);
  free(I);
}

int wh_cm_instantiate(wh_cm_linker_t *l, const wh_cm_component_t *c, wh_exec_t *exec,
                      wh_inst_alloc_t *alloc, wh_cm_instance_t **out, wh_diag_t *diag) {
  *out = NULL;
  if (diag) wh_diag_clear(diag);
  wh_cm_instance_t *I = calloc(1, sizeof *I);
  if (!I) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  I->c = c;
  I->linker = l;
  I->alloc = alloc;
  ictx_t cx = {I, exec, diag};
  int rc = instantiate_comp(&cx, c->root, NULL, NULL, &I->root);
  /* a missing import may also stop instantiation early (a canon lower of
   * it): the report names every missing import either way */
  if ((rc == 0 || rc == WH_EUNLINKABLE) && I->nmissing) {
    rc = wh_diag_set(diag, WH_EUNLINKABLE, -1, "%u import%s not provided: %s%s", I->nmissing,
                     I->nmissing == 1 ? " was" : "s were", I->missing,
                     I->nmissing > 8 ? ", ..." : "");
  }
  if (rc) {
    if (rc == WH_ETRAP && diag) wh_diag_set(diag, WH_ETRAP, -1, "%s", I->trap);
    wh_cm_instance_free(I);
    return rc;
  }
  *out = I;
  return 0;
}

/* ---- exports ------------------------------------------------------------------------ */

static int find_func(wh_cm_instance_t *I, const char *name, cm_func_t **out) {
  ival_t *ex = &I->root->exports;
  item_t *it = ival_get(ex, name);
  if (it && it->sort == WH_CM_SORT_FUNC && it->p) {
    *out = it->p;
    return 0;
  }
  const char *hash = strrchr(name, '#');
  if (hash) {
    char iname[512];
    size_t n = (size_t)(hash - name);
    if (n < sizeof iname) {
      memcpy(iname, name, n);
      iname[n] = '\0';
      item_t *ii = ival_get(ex, iname);
      if (ii && ii->sort == WH_CM_SORT_INSTANCE && ii->p) {
        item_t *f = ival_get(ii->p, hash + 1);
        if (f && f->sort == WH_CM_SORT_FUNC && f->p) {
          *out = f->p;
          return 0;
        }
      }
    }
    return WH_ENOTFOUND;
  }
  cm_func_t *found = NULL;
  int count = 0;
  for (uint32_t i = 0; i < ex->n; i++) {
    if (ex->items[i].sort != WH_CM_SORT_INSTANCE || !ex->items[i].p) continue;
    item_t *f = ival_get(ex->items[i].p, name);
    if (f && f->sort == WH_CM_SORT_FUNC && f->p) {
      found = f->p;
      count++;
    }
  }
  if (count == 1) {
    *out = found;
    return 0;
  }
  return count ? WH_EEXISTS : WH_ENOTFOUND;
}

/* The type of `f` in the component of the instance it was found in. */
static wh_cm_tid_t func_type_here(const cm_func_t *f) { return f->lc ? f->ltype : f->type; }

int wh_cm_instance_func(wh_cm_instance_t *I, const char *name, wh_cm_type_ref_t *type) {
  cm_func_t *f;
  int rc = find_func(I, name, &f);
  if (rc == 0 && type) *type = func_type_here(f);
  return rc;
}

int wh_cm_instance_func_handle(wh_cm_instance_t *I, const char *name, wh_cm_func_t **out) {
  cm_func_t *f = NULL;
  int rc = find_func(I, name, &f);
  *out = rc ? NULL : f;
  return rc;
}

wh_cm_type_ref_t wh_cm_func_type(const wh_cm_func_t *f) { return func_type_here(f); }

int wh_cm_call_func(wh_cm_instance_t *I, wh_cm_func_t *f, const wh_cm_val *args,
                    size_t nargs, wh_cm_val *results, size_t nresults, wh_exec_t *exec) {
  I->trap[0] = '\0';
  for (size_t i = 0; i < nresults; i++) memset(&results[i], 0, sizeof results[i]);
  return call_func(f, exec, args, (uint32_t)nargs, results, (uint32_t)nresults, I->trap, NULL);
}

int wh_cm_call(wh_cm_instance_t *I, const char *name, const wh_cm_val *args, size_t nargs,
               wh_cm_val *results, size_t nresults, wh_exec_t *exec) {
  cm_func_t *f;
  int rc = find_func(I, name, &f);
  if (rc) {
    snprintf(I->trap, sizeof I->trap, "no exported function %s", name);
    return rc;
  }
  return wh_cm_call_func(I, f, args, nargs, results, nresults, exec);
}

const char *wh_cm_instance_trap(const wh_cm_instance_t *I) { return I->trap; }

/* CanonicalABI canon_resource_drop for an own handle held by the host:
 * no lends are possible (the host's handle is in no table). */
int wh_cm_resource_drop(wh_cm_instance_t *I, const wh_cm_val *own, wh_exec_t *exec) {
  I->trap[0] = '\0';
  wh_cm_rtype_t *rt = own && own->kind == WH_CM_V_OWN ? own->of.handle.rt : NULL;
  if (!rt) {
    snprintf(I->trap, sizeof I->trap, "not an own handle of a known resource type");
    return WH_EINVAL;
  }
  uint32_t rep = own->of.handle.rep;
  if (!rt->impl) {
    if (rt->host_dtor) rt->host_dtor(rt->host_env, rep);
    return 0;
  }
  if (rt->impl->top != I) {
    snprintf(I->trap, sizeof I->trap, "the resource belongs to another instance");
    return WH_EINVAL;
  }
  if (!rt->dtor) return 0;
  if (!rt->impl->may_enter) {
    snprintf(I->trap, sizeof I->trap, "cannot enter component instance");
    return WH_ETRAP;
  }
  uint64_t s[1] = {rep};
  int rc = call_slots(exec, rt->dtor, s, 1, NULL);
  if (rc == WH_ETRAP) core_trap(exec, I->trap);
  else if (rc) snprintf(I->trap, sizeof I->trap, "destructor failed: %s", wh_strerror(rc));
  return rc;
}
