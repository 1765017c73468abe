/*
 * deploy.c - the in-memory table of live deployments and compiling them.
 *
 * The table maps "tenant\0name" to the current wh_deployment_t of that
 * name (open addressing, linear probing, tombstones; dep_lock).  The
 * registry (registry.c) is the durable truth; this table is rebuilt from
 * it at start-up by wh_deps_load_all.
 */
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

struct dep_slot {
  wh_deployment_t *dep;           /* NULL: empty; TOMBSTONE: deleted */
};

#define TOMBSTONE ((wh_deployment_t *)1)

void wh_dep_ref(wh_deployment_t *d) { atomic_fetch_add(&d->refs, 1); }

void wh_dep_unref(wh_deployment_t *d) {
  if (!d || atomic_fetch_sub(&d->refs, 1) != 1) return;
  wh_module_free(d->module);
  free(d);
}

static uint64_t key_hash(const char *tenant, const char *name) {
  uint64_t h = 1469598103934665603ull;
  for (const char *p = tenant; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
  h = (h ^ 0xff) * 1099511628211ull;
  for (const char *p = name; *p; p++) h = (h ^ (uint8_t)*p) * 1099511628211ull;
  return h;
}

static bool same(const wh_deployment_t *d, const char *tenant, const char *name) {
  return strcmp(d->reg.tenant, tenant) == 0 && strcmp(d->reg.name, name) == 0;
}

int wh_deps_init(wh_daemon_t *d) {
  pthread_mutex_init(&d->dep_lock, NULL);
  d->deps_cap = 256;
  d->deps = calloc(d->deps_cap, sizeof *d->deps);
  return d->deps ? 0 : WH_ENOMEM;
}

void wh_deps_fini(wh_daemon_t *d) {
  for (uint32_t i = 0; i < d->deps_cap; i++)
    if (d->deps[i].dep && d->deps[i].dep != TOMBSTONE) wh_dep_unref(d->deps[i].dep);
  free(d->deps);
  d->deps = NULL;
  pthread_mutex_destroy(&d->dep_lock);
}

/* Slot of (tenant, name), or of the first free slot to put it in. */
static struct dep_slot *find(wh_daemon_t *d, const char *tenant, const char *name, bool for_insert) {
  uint32_t mask = d->deps_cap - 1;
  struct dep_slot *first_free = NULL;
  for (uint32_t i = (uint32_t)key_hash(tenant, name) & mask, n = 0; n < d->deps_cap;
       i = (i + 1) & mask, n++) {
    struct dep_slot *s = &d->deps[i];
    if (!s->dep) return for_insert && first_free ? first_free : (for_insert ? s : NULL);
    if (s->dep == TOMBSTONE) {
      if (!first_free) first_free = s;
      continue;
    }
    if (same(s->dep, tenant, name)) return s;
  }
  return for_insert ? first_free : NULL;
}

static void grow(wh_daemon_t *d) {
  uint32_t cap = d->deps_cap * 2;
  struct dep_slot *old = d->deps, *fresh = calloc(cap, sizeof *fresh);
  if (!fresh) return;                       /* stays usable, only fuller */
  uint32_t old_cap = d->deps_cap;
  d->deps = fresh;
  d->deps_cap = cap;
  d->deps_len = 0;
  for (uint32_t i = 0; i < old_cap; i++) {
    wh_deployment_t *dep = old[i].dep;
    if (!dep || dep == TOMBSTONE) continue;
    find(d, dep->reg.tenant, dep->reg.name, true)->dep = dep;
    d->deps_len++;
  }
  free(old);
}

wh_deployment_t *wh_deps_get(wh_daemon_t *d, const char *tenant, const char *name) {
  pthread_mutex_lock(&d->dep_lock);
  struct dep_slot *s = find(d, tenant, name, false);
  wh_deployment_t *dep = s ? s->dep : NULL;
  if (dep) wh_dep_ref(dep);
  pthread_mutex_unlock(&d->dep_lock);
  return dep;
}

void wh_deps_put(wh_daemon_t *d, wh_deployment_t *dep) {
  wh_deployment_t *old = NULL;
  pthread_mutex_lock(&d->dep_lock);
  if ((d->deps_len + 1) * 4 > d->deps_cap * 3) grow(d);
  struct dep_slot *s = find(d, dep->reg.tenant, dep->reg.name, true);
  if (s->dep && s->dep != TOMBSTONE) old = s->dep;
  else d->deps_len++;
  s->dep = dep;
  pthread_mutex_unlock(&d->dep_lock);
  wh_dep_unref(old);
}

bool wh_deps_remove(wh_daemon_t *d, const char *tenant, const char *name) {
  pthread_mutex_lock(&d->dep_lock);
  struct dep_slot *s = find(d, tenant, name, false);
  wh_deployment_t *old = s ? s->dep : NULL;
  if (s) {
    s->dep = TOMBSTONE;
    d->deps_len--;
  }
  pthread_mutex_unlock(&d->dep_lock);
  wh_dep_unref(old);
  return old != NULL;
}

wh_deployment_t *wh_deps_compile(wh_daemon_t *d, const wh_reg_entry_t *e,
                                 const uint8_t *bytes, size_t len, wh_diag_t *diag) {
  wh_deployment_t *dep = calloc(1, sizeof *dep);
  if (!dep) {
    wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    return NULL;
  }
  uint64_t t0 = wh_now_us();
  if (d->cache) {
    bool hit = false;
    if (wh_cache_get_module(d->cache, d->engine, bytes, len, &dep->module, &hit, diag) != 0)
      dep->module = NULL;
    dep->cached = hit;
  } else {
    dep->module = wh_module_new(d->engine, bytes, len, diag);
  }
  dep->compile_us = wh_now_us() - t0;
  if (!dep->module) {
    free(dep);
    return NULL;
  }
  /* the copy-on-write image now, so no invocation pays for it */
  wh_pool_prepare_module(d->pool, dep->module);
  atomic_store(&dep->refs, 1);
  if (e) dep->reg = *e;
  return dep;
}

static int load_one(void *ctx, const wh_reg_entry_t *e) {
  wh_daemon_t *d = ctx;
  uint8_t *bytes = NULL;
  size_t len = 0;
  wh_diag_t diag;
  wh_diag_clear(&diag);
  int rc = wh_reg_read_blob(d->reg, e->digest, &bytes, &len);
  wh_deployment_t *dep = rc ? NULL : wh_deps_compile(d, e, bytes, len, &diag);
  free(bytes);
  if (!dep) {
    wh_log(WH_LOG_ERROR, "startup: %s/%s v%u: %s", e->tenant, e->name, e->version,
           rc ? wh_strerror(rc) : diag.msg);
    return 0;
  }
  wh_deps_put(d, dep);
  return 0;
}

int wh_deps_load_all(wh_daemon_t *d, uint32_t *loaded, uint32_t *failed) {
  int rc = wh_reg_foreach(d->reg, load_one, d);
  pthread_mutex_lock(&d->dep_lock);
  *loaded = d->deps_len;
  pthread_mutex_unlock(&d->dep_lock);
  *failed = 0;
  return rc;
}

static json_t *types_json(const char *sig) {
  json_t *a = json_array();
  for (const char *p = sig; *p; p++) {
    const char *t = *p == 'i' ? "i32" : *p == 'I' ? "i64" : *p == 'f' ? "f32"
                  : *p == 'F' ? "f64" : *p == 'r' ? "funcref" : "externref";
    json_array_append_new(a, json_string(t));
  }
  return a;
}

json_t *wh_deps_describe(const wh_deployment_t *dep) {
  json_t *exports = json_array(), *imports = json_array();
  const wh_module_t *m = dep->module;
  for (uint32_t i = 0; i < wh_module_export_count(m); i++) {
    const char *name;
    wh_externkind_t kind;
    wh_module_export(m, i, &name, &kind);
    if (kind != WH_EXTERN_FUNC) continue;
    const char *ps, *rs;
    wh_module_export_functype(m, name, &ps, &rs);
    json_array_append_new(exports, json_pack("{s:s, s:o, s:o}", "name", name, "params",
                                             types_json(ps), "results", types_json(rs)));
  }
  static const char *const kinds[] = {"func", "table", "memory", "global"};
  for (uint32_t i = 0; i < wh_module_import_count(m); i++) {
    const char *mod, *name;
    wh_externkind_t kind;
    wh_module_import(m, i, &mod, &name, &kind);
    json_array_append_new(imports, json_pack("{s:s, s:s, s:s}", "module", mod, "name", name,
                                             "kind", kinds[kind & 3]));
  }
  return json_pack("{s:s, s:s, s:i, s:s, s:I, s:o, s:o}", "name", dep->reg.name, "kind",
                   "module", "version", (int)dep->reg.version, "digest", dep->reg.digest, "size",
                   (json_int_t)dep->reg.size, "exports", exports, "imports", imports);
}
