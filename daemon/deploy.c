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

#include <sys/queue.h>
#include <unistd.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "daemon.h"

struct dep_slot {
  wh_deployment_t *dep;           /* NULL: empty; TOMBSTONE: deleted */
};

#define TOMBSTONE ((wh_deployment_t *)1)

void wh_dep_ref(wh_deployment_t *d) { atomic_fetch_add(&d->refs, 1); }

static void free_strings(char **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

void wh_dep_unref(wh_deployment_t *d) {
  if (!d || atomic_fetch_sub(&d->refs, 1) != 1) return;
  for (size_t i = 0; i < d->nlinks; i++) wh_dep_unref(d->link_deps ? d->link_deps[i] : NULL);
  free(d->links);
  free(d->link_deps);
  wh_module_free(d->module);
  wh_cm_component_free(d->component);
  free_strings(d->args, d->nargs);
  free_strings(d->envp, d->envc);
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

/* The tier serving dep now, and why not native when it was asked for. */
static wh_tier_t dep_tier(const wh_deployment_t *dep, const char **why) {
  return dep->module ? wh_module_tier(dep->module, why) : wh_cm_component_tier(dep->component, why);
}

void wh_deps_count_tiers(wh_daemon_t *d, uint32_t *native, uint32_t *interp) {
  *native = *interp = 0;
  pthread_mutex_lock(&d->dep_lock);
  for (uint32_t i = 0; i < d->deps_cap; i++) {
    const wh_deployment_t *dep = d->deps[i].dep;
    if (!dep || dep == TOMBSTONE) continue;
    ++*(dep_tier(dep, NULL) == WH_TIER_NATIVE ? native : interp);
  }
  pthread_mutex_unlock(&d->dep_lock);
}

#define PIN_PREFIX "deploy:"
#define PIN_HOLDER_MAX (sizeof PIN_PREFIX + WH_REG_TENANT_MAX + 1 + WH_REG_NAME_MAX)

static void pin_holder(const char *tenant, const char *name, char out[PIN_HOLDER_MAX + 1]) {
  snprintf(out, PIN_HOLDER_MAX + 1, PIN_PREFIX "%s/%s", tenant, name);
}

/* The key dep's version loads from: a module's or a component's, by the
 * registry's digest (wh_deps_compile). */
static bool dep_key(const wh_daemon_t *d, const wh_deployment_t *dep, wh_cache_key_t *k) {
  uint8_t dg[32];
  if (!wh_reg_digest_bytes(dep->reg.digest, dg)) return false;
  wh_cache_key_from_digest(k, dg, wh_engine_fingerprint(d->engine),
                           dep->component ? WH_CACHE_KIND_COMPONENT : WH_CACHE_KIND_MODULE);
  return true;
}

static void pin_failed(const char *what, const wh_diag_t *diag) {
  wh_log(WH_LOG_WARN, "cache: cannot %s: %s", what, diag->msg[0] ? diag->msg : wh_strerror(diag->code));
}

void wh_deps_pin(wh_daemon_t *d, const wh_deployment_t *dep) {
  char holder[PIN_HOLDER_MAX + 1];
  wh_cache_key_t k;
  wh_diag_t diag;
  if (!d->cache || !dep_key(d, dep, &k)) return;
  pin_holder(dep->reg.tenant, dep->reg.name, holder);
  if (wh_cache_repin(d->cache, holder, &k, &diag) != 0) pin_failed("pin a deployment", &diag);
}

void wh_deps_unpin(wh_daemon_t *d, const char *tenant, const char *name) {
  char holder[PIN_HOLDER_MAX + 1];
  wh_diag_t diag;
  if (!d->cache) return;
  pin_holder(tenant, name, holder);
  if (wh_cache_repin(d->cache, holder, NULL, &diag) != 0) pin_failed("unpin a deployment", &diag);
}

void wh_deps_pin_all(wh_daemon_t *d) {
  if (!d->cache) return;
  pthread_mutex_lock(&d->dep_lock);
  uint32_t n = 0, cap = d->deps_len;
  char (*holders)[PIN_HOLDER_MAX + 1] = calloc(cap ? cap : 1, sizeof *holders);
  const char **hp = calloc(cap ? cap : 1, sizeof *hp);
  wh_cache_key_t *keys = calloc(cap ? cap : 1, sizeof *keys);
  for (uint32_t i = 0; holders && hp && keys && i < d->deps_cap; i++) {
    const wh_deployment_t *dep = d->deps[i].dep;
    if (!dep || dep == TOMBSTONE || n == cap || !dep_key(d, dep, &keys[n])) continue;
    pin_holder(dep->reg.tenant, dep->reg.name, holders[n]);
    hp[n] = holders[n];
    n++;
  }
  pthread_mutex_unlock(&d->dep_lock);
  wh_diag_t diag;
  if (!holders || !hp || !keys) {
    wh_log(WH_LOG_WARN, "cache: cannot pin the deployments: out of memory");
  } else if (wh_cache_repin_all(d->cache, PIN_PREFIX, n, hp, keys, &diag) != 0) {
    pin_failed("pin the deployments", &diag);
  }
  free(holders);
  free(hp);
  free(keys);
}

void wh_deps_tier_json(const wh_deployment_t *dep, json_t *obj) {
  const char *why = NULL;
  wh_tier_t t = dep_tier(dep, &why);
  json_object_set_new(obj, "tier", json_string(t == WH_TIER_NATIVE ? "native" : "interpreter"));
  if (why) json_object_set_new(obj, "tier_reason", json_string(why));
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

/* ---- deploy options -------------------------------------------------------
 *
 * Query string of a deploy -> canonical JSON text (stored with the version
 * in the registry) -> the deployment's fields:
 *
 *   stub_missing_imports=true|false  {"stub_missing_imports": true}
 *   env=NAME=VALUE (repeatable)      {"env": {"NAME": "VALUE", ...}}
 *   arg=VALUE (repeatable)           {"args": ["VALUE", ...]}
 *   link=IMPORT=COMPONENT[,...]      {"link": {"IMPORT": "COMPONENT", ...}}
 *     (repeatable)                   the versions linked go to the
 *                                    registry's links table (wh_deps_link)
 */

/* Adds the "IMPORT=COMPONENT[,...]" of one link= option to `links`. */
static int parse_links(const char *v, json_t *links, char *why, size_t n) {
  char buf[2048];
  if (strlen(v) >= sizeof buf) {
    snprintf(why, n, "link: at most %zu bytes", sizeof buf - 1);
    return WH_EINVAL;
  }
  strcpy(buf, v);
  char *save = NULL;
  for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    char *eq = strrchr(item, '=');
    if (!eq || eq == item || !wh_reg_valid_name(eq + 1)) {
      snprintf(why, n, "link: expected IMPORT=COMPONENT, got \"%.60s\"", item);
      return WH_EINVAL;
    }
    *eq = '\0';
    if (strlen(item) > WH_REG_IMPORT_MAX) {
      snprintf(why, n, "link: an import name is at most %d bytes", WH_REG_IMPORT_MAX);
      return WH_EINVAL;
    }
    if (json_object_get(links, item)) {
      snprintf(why, n, "link: %.100s is linked twice", item);
      return WH_EINVAL;
    }
    json_t *t = json_string(eq + 1);
    if (!t || json_object_set_new(links, item, t) != 0) {   /* a key must be UTF-8 */
      snprintf(why, n, "link: %.60s: not UTF-8", item);
      return WH_EINVAL;
    }
  }
  return 0;
}

static bool parse_bool(const char *v, bool *out) {
  if (!strcmp(v, "true") || !strcmp(v, "1")) *out = true;
  else if (!strcmp(v, "false") || !strcmp(v, "0")) *out = false;
  else return false;
  return true;
}

int wh_deps_parse_options(const char *query, char **out, char *why, size_t n) {
  struct evkeyvalq q;
  *out = NULL;
  if (!query || !*query) return 0;
  TAILQ_INIT(&q);
  if (evhttp_parse_query_str(query, &q) != 0) {
    snprintf(why, n, "the query string is not valid (percent-encoding?)");
    return WH_EINVAL;
  }
  json_t *o = json_object(), *env = json_object(), *args = json_array(), *links = json_object();
  int rc = WH_ENOMEM;
  if (!o || !env || !args || !links) goto done;
  rc = WH_EINVAL;
  for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
    if (!strcmp(kv->key, "stub_missing_imports")) {
      bool on;
      if (!parse_bool(kv->value, &on)) {
        snprintf(why, n, "stub_missing_imports: expected true or false, got \"%.40s\"",
                 kv->value);
        goto done;
      }
      json_object_set_new(o, "stub_missing_imports", json_boolean(on));
    } else if (!strcmp(kv->key, "env")) {
      const char *eq = strchr(kv->value, '=');
      if (!eq || eq == kv->value) {
        snprintf(why, n, "env: expected NAME=VALUE, got \"%.40s\"", kv->value);
        goto done;
      }
      char name[256];
      size_t nl = (size_t)(eq - kv->value);
      if (nl >= sizeof name) {
        snprintf(why, n, "env: a variable name is at most %zu bytes", sizeof name - 1);
        goto done;
      }
      memcpy(name, kv->value, nl);
      name[nl] = '\0';
      if (json_object_get(env, name)) {
        snprintf(why, n, "env: %s is given twice", name);
        goto done;
      }
      json_t *v = json_string(eq + 1);
      if (!v) {
        snprintf(why, n, "env: %s: the value is not UTF-8", name);
        goto done;
      }
      json_object_set_new(env, name, v);
    } else if (!strcmp(kv->key, "link")) {
      if (parse_links(kv->value, links, why, n)) goto done;
    } else if (!strcmp(kv->key, "arg")) {
      json_t *v = json_string(kv->value);
      if (!v) {
        snprintf(why, n, "arg: not UTF-8");
        goto done;
      }
      json_array_append_new(args, v);
    } else {
      snprintf(why, n, "unknown deploy option \"%.60s\" (stub_missing_imports, env, arg, link)",
               kv->key);
      goto done;
    }
  }
  if (json_array_size(args)) json_object_set(o, "args", args);
  if (json_object_size(env)) json_object_set(o, "env", env);
  if (json_object_size(links)) json_object_set(o, "link", links);
  rc = 0;
  if (json_object_size(o)) {
    *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!*out) {
      snprintf(why, n, "out of memory");
      rc = WH_ENOMEM;
    } else if (strlen(*out) > WH_REG_OPTIONS_MAX) {
      free(*out);
      *out = NULL;
      snprintf(why, n, "deploy options take at most %d bytes as JSON", WH_REG_OPTIONS_MAX);
      rc = WH_EINVAL;
    }
  }
done:
  if (rc == WH_ENOMEM) snprintf(why, n, "out of memory");
  json_decref(o);
  json_decref(env);
  json_decref(args);
  json_decref(links);
  evhttp_clear_headers(&q);
  return rc;
}

/* Fills the deployment's option fields from the JSON text. */
int wh_deps_apply_options(wh_deployment_t *dep, const char *text, wh_diag_t *diag) {
  if (!text || !*text) return 0;
  json_error_t jerr;
  json_t *o = json_loads(text, 0, &jerr);
  if (!json_is_object(o)) {
    json_decref(o);
    return wh_diag_set(diag, WH_ECORRUPT, -1, "deploy options are not a JSON object");
  }
  int rc = 0;
  json_t *stub = json_object_get(o, "stub_missing_imports"), *args = json_object_get(o, "args"),
         *env = json_object_get(o, "env");
  dep->stub_missing_imports = json_is_true(stub);
  if (json_is_array(args) && json_array_size(args)) {
    dep->args = calloc(json_array_size(args), sizeof *dep->args);
    for (size_t i = 0; dep->args && i < json_array_size(args); i++) {
      const char *v = json_string_value(json_array_get(args, i));
      if (!(dep->args[i] = strdup(v ? v : ""))) break;
      dep->nargs++;
    }
    if (dep->nargs != json_array_size(args)) rc = WH_ENOMEM;
  }
  json_t *links = json_object_get(o, "link");
  if (rc == 0 && json_is_object(links) && json_object_size(links)) {
    size_t nl = json_object_size(links);
    dep->links = calloc(nl, sizeof *dep->links);
    dep->link_deps = calloc(nl, sizeof *dep->link_deps);
    const char *k;
    json_t *v;
    if (!dep->links || !dep->link_deps) {
      rc = WH_ENOMEM;
    } else {
      json_object_foreach(links, k, v) {
        const char *target = json_string_value(v);
        if (!target || strlen(k) > WH_REG_IMPORT_MAX || !wh_reg_valid_name(target)) {
          json_decref(o);
          return wh_diag_set(diag, WH_ECORRUPT, -1, "deploy option link is malformed");
        }
        strcpy(dep->links[dep->nlinks].import, k);
        strcpy(dep->links[dep->nlinks].target, target);
        dep->nlinks++;
      }
    }
  }
  if (rc == 0 && json_is_object(env) && json_object_size(env)) {
    dep->envp = calloc(json_object_size(env), sizeof *dep->envp);
    const char *k;
    json_t *v;
    json_object_foreach(env, k, v) {
      const char *sv = json_string_value(v);
      size_t len = strlen(k) + (sv ? strlen(sv) : 0) + 2;
      char *kv = dep->envp ? malloc(len) : NULL;
      if (!kv) break;
      snprintf(kv, len, "%s=%s", k, sv ? sv : "");
      dep->envp[dep->envc++] = kv;
    }
    if (dep->envc != json_object_size(env)) rc = WH_ENOMEM;
  }
  json_decref(o);
  if (rc) wh_diag_set(diag, rc, -1, "out of memory");
  return rc;
}

/* The binary header: a component's layer field is 1 (bytes 6-7). */
static bool is_component(const uint8_t *bytes, size_t len) {
  return len >= 8 && memcmp(bytes, "\0asm", 4) == 0 && bytes[6] == 1 && bytes[7] == 0;
}

/* The cache key of a module by its digest (hex, as the registry and the
 * deploy computed it), so the bytes need no hashing again. */
static bool digest_key(const wh_daemon_t *d, const char *digest, wh_cache_key_t *k) {
  uint8_t dg[32];
  if (!digest || !wh_reg_digest_bytes(digest, dg)) return false;
  wh_cache_key_from_digest(k, dg, wh_engine_fingerprint(d->engine), WH_CACHE_KIND_MODULE);
  return true;
}

/* `bytes` NULL (a restart): the module straight from the cache by e's
 * digest, without reading or hashing its bytes; NULL if it is not there
 * (or is a component), and the caller reads the bytes and compiles. */
wh_deployment_t *wh_deps_compile(wh_daemon_t *d, const wh_reg_entry_t *e, const char *digest,
                                 const char *options, const uint8_t *bytes, size_t len,
                                 wh_diag_t *diag) {
  wh_cache_key_t key;
  bool keyed = d->cache && digest_key(d, e ? e->digest : digest, &key);
  if (!bytes && !keyed) return NULL;
  wh_deployment_t *dep = calloc(1, sizeof *dep);
  if (!dep) {
    wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    return NULL;
  }
  atomic_store(&dep->refs, 1);
  if (e) dep->reg = *e;
  if (wh_deps_apply_options(dep, options, diag) != 0) goto fail;
  uint64_t t0 = wh_now_us();
  if (!bytes) {
    if (wh_cache_load_module(d->cache, d->engine, &key, &dep->module, diag) != 0) goto fail;
    dep->cached = true;
  } else if (is_component(bytes, len)) {
    /* core modules inside instantiate through the pool, which builds
     * their copy-on-write images on first use; the cache holds them
     * compiled, keyed on the component's digest */
    bool hit = false;
    if (keyed) {
      wh_cache_key_t ck;
      wh_cache_key_from_digest(&ck, key.digest, wh_engine_fingerprint(d->engine),
                               WH_CACHE_KIND_COMPONENT);
      dep->component = wh_cm_component_new_cached_keyed(d->engine, d->cache, &ck, bytes, len,
                                                        &hit, diag);
    } else {
      dep->component = wh_cm_component_new_cached(d->engine, d->cache, bytes, len, &hit, diag);
    }
    dep->cached = hit;
    dep->compile_us = wh_now_us() - t0;
    if (!dep->component) goto fail;
    return dep;
  } else if (keyed) {
    bool hit = false;
    if (wh_cache_get_module_keyed(d->cache, d->engine, &key, bytes, len, &dep->module, &hit,
                                  diag) != 0)
      dep->module = NULL;
    dep->cached = hit;
  } else {
    dep->module = wh_module_new(d->engine, bytes, len, diag);
  }
  dep->compile_us = wh_now_us() - t0;
  if (!dep->module) goto fail;
  /* the copy-on-write image now, so no invocation pays for it */
  wh_pool_prepare_module(d->pool, dep->module);
  for (uint32_t i = 0; i < wh_module_import_count(dep->module) && !dep->wasi_p1; i++) {
    const char *mod, *name;
    wh_externkind_t kind;
    wh_module_import(dep->module, i, &mod, &name, &kind);
    dep->wasi_p1 = strcmp(mod, "wasi_snapshot_preview1") == 0;
  }
  return dep;
fail:
  wh_dep_unref(dep);
  return NULL;
}

/* ---- links ------------------------------------------------------------------
 *
 * A deploy with ?link=IMPORT=COMPONENT resolves COMPONENT among the
 * tenant's live deployments (another tenant's names are not visible:
 * 404), checks that its export IMPORT fits the import (400 naming both
 * types otherwise), and pins it: the deployment references the target's
 * wh_deployment_t, and the registry's links table records its version
 * and digest.  A later redeploy of the target does not change the link
 * (redeploy the linking component to follow it); deleting a target that
 * the latest version of another component links to is refused (409,
 * http.c via wh_reg_delete).  At start-up a link finds its pinned
 * version in the table, or compiles it from the registry.
 */

int wh_deps_link(wh_daemon_t *d, wh_deployment_t *dep, const char *tenant, const char **code,
                 char *why, size_t n) {
  for (size_t i = 0; i < dep->nlinks; i++) {
    wh_reg_link_t *l = &dep->links[i];
    wh_deployment_t *t = wh_deps_get(d, tenant, l->target);
    if (!t) {
      *code = "link_target_not_found";
      snprintf(why, n, "link %.200s=%s: no component named %s", l->import, l->target,
               l->target);
      return 404;
    }
    dep->link_deps[i] = t;   /* the reference goes with dep */
    if (!t->component || !dep->component) {
      *code = "link_mismatch";
      snprintf(why, n, "link %.200s=%s: only components link to components (%s is a core "
               "module)", l->import, l->target, t->component ? "this" : l->target);
      return 400;
    }
    char msg[1200];
    int rc = wh_cm_link_check(dep->component, l->import, t->component, msg, sizeof msg);
    if (rc) {
      *code = "link_mismatch";
      snprintf(why, n, "link %.200s=%s: %s", l->import, l->target, msg);
      return 400;
    }
    l->target_version = t->reg.version;
    memcpy(l->target_digest, t->reg.digest, sizeof l->target_digest);
  }
  return 0;
}

int wh_deps_check_imports(const wh_deployment_t *dep, const wh_cm_linker_t *l,
                          wh_diag_t *diag) {
  const char *names[64] = {NULL};
  const char **v = dep->nlinks <= 64 ? names : malloc(dep->nlinks * sizeof *v);
  if (!v) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  for (size_t i = 0; i < dep->nlinks; i++) v[i] = dep->links[i].import;
  int rc = wh_cm_linker_check_linked(l, dep->component, v, (uint32_t)dep->nlinks, diag);
  if (v != names) free(v);
  return rc;
}

#define LINK_DEPTH_MAX 8

static int instantiate_rec(const wh_deployment_t *dep, wh_cm_linker_t *strict,
                           wh_cm_linker_t *stub, wh_exec_t *x, wh_inst_alloc_t *alloc,
                           wh_cm_instance_t **out, wh_cm_instance_t ***linked, size_t *nlinked,
                           size_t *cap, int depth, wh_diag_t *diag) {
  *out = NULL;
  if (depth > LINK_DEPTH_MAX)
    return wh_diag_set(diag, WH_EUNLINKABLE, -1, "links nest deeper than %d", LINK_DEPTH_MAX);
  wh_cm_instance_t *mine[16], **targets = dep->nlinks <= 16 ? mine
                                          : calloc(dep->nlinks, sizeof *targets);
  if (!targets) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  int rc = 0;
  for (size_t i = 0; i < dep->nlinks && rc == 0; i++) {
    rc = instantiate_rec(dep->link_deps[i], strict, stub, x, alloc, &targets[i], linked, nlinked,
                         cap, depth + 1, diag);
    if (rc) break;
    if (*nlinked == *cap) {
      size_t nc = *cap ? 2 * *cap : 4;
      wh_cm_instance_t **nv = realloc(*linked, nc * sizeof *nv);
      if (!nv) {
        wh_cm_instance_free(targets[i]);
        rc = wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
        break;
      }
      *linked = nv;
      *cap = nc;
    }
    (*linked)[(*nlinked)++] = targets[i];   /* freed by the caller, after */
  }
  wh_cm_linker_t *l = dep->stub_missing_imports ? stub : strict;
  size_t defined = 0;
  for (; rc == 0 && defined < dep->nlinks; defined++)
    rc = wh_cm_linker_define_instance_export(l, dep->links[defined].import, targets[defined],
                                             dep->links[defined].import);
  if (rc == 0) rc = wh_cm_instantiate(l, dep->component, x, alloc, out, diag);
  else if (rc == WH_ENOMEM) wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  for (size_t i = 0; i < defined; i++) wh_cm_linker_undefine_instance(l, dep->links[i].import);
  if (targets != mine) free(targets);
  return rc;
}

int wh_deps_instantiate(const wh_deployment_t *dep, wh_cm_linker_t *strict,
                        wh_cm_linker_t *stub, wh_exec_t *x, wh_inst_alloc_t *alloc,
                        wh_cm_instance_t **out, wh_cm_instance_t ***linked, size_t *nlinked,
                        wh_diag_t *diag) {
  size_t cap = 0;
  *linked = NULL;
  *nlinked = 0;
  if (dep->nlinks == 0)
    return wh_cm_instantiate(dep->stub_missing_imports ? stub : strict, dep->component, x,
                             alloc, out, diag);
  return instantiate_rec(dep, strict, stub, x, alloc, out, linked, nlinked, &cap, 0, diag);
}

void wh_deps_free_linked(wh_cm_instance_t **linked, size_t n) {
  /* the last made links to the ones before it: free in reverse */
  for (size_t i = n; i > 0; i--) wh_cm_instance_free(linked[i - 1]);
  free(linked);
}

static wh_deployment_t *load_entry(wh_daemon_t *d, const wh_reg_entry_t *e, int depth,
                                   wh_diag_t *diag);

/* The pinned targets of a loaded deployment (start-up): the table's
 * deployment when it is the pinned version, else that version compiled
 * from the registry.  0, or an error in diag. */
static int load_links(wh_daemon_t *d, wh_deployment_t *dep, int depth, wh_diag_t *diag) {
  wh_reg_link_t *v = NULL;
  size_t n = 0;
  if (!dep->component) return 0;
  int rc = wh_reg_links(d->reg, dep->reg.tenant, dep->reg.name, dep->reg.version, &v, &n);
  if (rc) return wh_diag_set(diag, rc, -1, "cannot read the links: %s", wh_strerror(rc));
  if (n != dep->nlinks) {
    free(v);
    return wh_diag_set(diag, WH_ECORRUPT, -1, "the links table and the options disagree");
  }
  for (size_t i = 0; i < n && rc == 0; i++) {
    size_t k = 0;   /* the option with this import */
    while (k < dep->nlinks && strcmp(dep->links[k].import, v[i].import) != 0) k++;
    if (k == dep->nlinks) {
      rc = wh_diag_set(diag, WH_ECORRUPT, -1, "link %s is not in the options", v[i].import);
      break;
    }
    dep->links[k] = v[i];
    wh_deployment_t *t = wh_deps_get(d, dep->reg.tenant, v[i].target);
    if (t && t->reg.version != v[i].target_version) {
      wh_dep_unref(t);
      t = NULL;
    }
    if (!t) {
      wh_reg_entry_t te;
      rc = wh_reg_get_version(d->reg, dep->reg.tenant, v[i].target, v[i].target_version, &te);
      if (rc) {
        rc = wh_diag_set(diag, rc, -1, "link %s: %s v%u is gone", v[i].import, v[i].target,
                         v[i].target_version);
        break;
      }
      t = load_entry(d, &te, depth + 1, diag);
      if (!t) rc = diag->code ? diag->code : WH_EINVAL;
    }
    dep->link_deps[k] = t;
  }
  free(v);
  return rc;
}

/* Compiles a registry entry (from the cache, else its blob) and its
 * links; NULL with diag set on failure. */
static wh_deployment_t *load_entry(wh_daemon_t *d, const wh_reg_entry_t *e, int depth,
                                   wh_diag_t *diag) {
  if (depth > LINK_DEPTH_MAX) {
    wh_diag_set(diag, WH_EUNLINKABLE, -1, "links nest deeper than %d", LINK_DEPTH_MAX);
    return NULL;
  }
  uint8_t *bytes = NULL;
  size_t len = 0;
  wh_diag_clear(diag);
  /* from the cache first: a hit needs neither the bytes nor their hash */
  wh_deployment_t *dep = wh_deps_compile(d, e, NULL, e->options, NULL, 0, diag);
  if (!dep) {
    wh_diag_clear(diag);
    int rc = wh_reg_read_blob(d->reg, e->digest, &bytes, &len);
    if (rc) wh_diag_set(diag, rc, -1, "%s", wh_strerror(rc));
    dep = rc ? NULL : wh_deps_compile(d, e, NULL, e->options, bytes, len, diag);
    free(bytes);
  }
  if (dep && dep->nlinks && load_links(d, dep, depth, diag) != 0) {
    wh_dep_unref(dep);
    dep = NULL;
  }
  return dep;
}

static int load_one(void *ctx, const wh_reg_entry_t *e) {
  wh_daemon_t *d = ctx;
  wh_diag_t diag;
  wh_deployment_t *dep = load_entry(d, e, 0, &diag);
  if (!dep) {
    wh_log(WH_LOG_ERROR, "startup: %s/%s v%u: %s", e->tenant, e->name, e->version, diag.msg);
    return 0;
  }
  wh_deps_put(d, dep);
  return 0;
}

/* Start-up loads deployments on several threads (each load is
 * independent: cache, pool, registry and the table are thread-safe), in
 * chunks of LOAD_CHUNK registry entries so memory stays bounded. */
#define LOAD_CHUNK 256
#define LOAD_THREADS_MAX 8

typedef struct load_all {
  wh_daemon_t *d;
  wh_reg_entry_t *v; /* LOAD_CHUNK entries */
  size_t n;
  atomic_size_t next;
} load_all_t;

static void *load_worker(void *arg) {
  load_all_t *la = arg;
  size_t i;
  while ((i = atomic_fetch_add(&la->next, 1)) < la->n) load_one(la->d, &la->v[i]);
  return NULL;
}

/* Loads the collected chunk on up to LOAD_THREADS_MAX threads (this one
 * included; fewer if threads cannot be made) and empties it. */
static void load_chunk(load_all_t *la) {
  pthread_t t[LOAD_THREADS_MAX];
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  size_t want = ncpu < 1 ? 1 : ncpu > LOAD_THREADS_MAX ? LOAD_THREADS_MAX : (size_t)ncpu;
  if (want > la->n) want = la->n;
  size_t started = 0;
  atomic_store(&la->next, 0);
  for (size_t i = 1; i < want; i++)
    if (pthread_create(&t[started], NULL, load_worker, la) == 0) started++;
  load_worker(la);
  for (size_t i = 0; i < started; i++) pthread_join(t[i], NULL);
  la->n = 0;
}

static int collect_one(void *ctx, const wh_reg_entry_t *e) {
  load_all_t *la = ctx;
  la->v[la->n++] = *e;
  if (la->n == LOAD_CHUNK) load_chunk(la);
  return 0;
}

int wh_deps_load_all(wh_daemon_t *d, uint32_t *loaded, uint32_t *failed) {
  load_all_t la = {.d = d, .v = malloc(LOAD_CHUNK * sizeof *la.v)};
  int rc;
  if (la.v) {
    rc = wh_reg_foreach(d->reg, collect_one, &la);
    if (la.n) load_chunk(&la);
    free(la.v);
  } else {
    rc = wh_reg_foreach(d->reg, load_one, d); /* one at a time, then */
  }
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

static const char *const cm_kind_names[] = {"module", "func", "value", "type", "component",
                                            "instance"};

/* One exported function: {name, wit}. */
static void add_cm_func(json_t *a, const wh_cm_component_t *c, const char *name,
                        wh_cm_type_ref_t fn) {
  char *wit = NULL;
  json_t *o = json_pack("{s:s}", "name", name);
  if (wh_cm_func_wit(c, fn, &wit) == 0) json_object_set_new(o, "wit", json_string(wit));
  free(wit);
  json_array_append_new(a, o);
}

/* A component's exported functions (those of exported instances named
 * "iface#fn", as invoke takes them) and its imports. */
static void describe_component(const wh_cm_component_t *c, json_t *exports, json_t *imports) {
  const char *name;
  wh_cm_kind_t kind;
  wh_cm_type_ref_t t;
  for (uint32_t i = 0; i < wh_cm_export_count(c); i++) {
    if (wh_cm_export(c, i, &name, &kind, &t) != 0) continue;
    if (kind == WH_CM_KIND_FUNC) {
      add_cm_func(exports, c, name, t);
    } else if (kind == WH_CM_KIND_INSTANCE) {
      for (uint32_t k = 0; k < wh_cm_type_export_count(c, t); k++) {
        const char *fname;
        wh_cm_kind_t fk;
        wh_cm_type_ref_t ft;
        if (wh_cm_type_export(c, t, k, &fname, &fk, &ft) != 0 || fk != WH_CM_KIND_FUNC) continue;
        char full[600];
        snprintf(full, sizeof full, "%s#%s", name, fname);
        add_cm_func(exports, c, full, ft);
      }
    }
  }
  for (uint32_t i = 0; i < wh_cm_import_count(c); i++) {
    if (wh_cm_import(c, i, &name, &kind, &t) != 0) continue;
    json_array_append_new(imports, json_pack("{s:s, s:s}", "name", name, "kind",
                                             (unsigned)kind < 6 ? cm_kind_names[kind] : "?"));
  }
}

json_t *wh_deps_describe(const wh_deployment_t *dep) {
  json_t *exports = json_array(), *imports = json_array();
  const wh_module_t *m = dep->module;
  if (dep->component) describe_component(dep->component, exports, imports);
  for (uint32_t i = 0; m && i < wh_module_export_count(m); i++) {
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
  for (uint32_t i = 0; m && i < wh_module_import_count(m); i++) {
    const char *mod, *name;
    wh_externkind_t kind;
    wh_module_import(m, i, &mod, &name, &kind);
    json_array_append_new(imports, json_pack("{s:s, s:s, s:s}", "module", mod, "name", name,
                                             "kind", kinds[kind & 3]));
  }
  json_t *desc = json_pack("{s:s, s:s, s:i, s:s, s:I, s:o, s:o}", "name", dep->reg.name, "kind",
                           dep->component ? "component" : "module", "version",
                           (int)dep->reg.version, "digest", dep->reg.digest, "size",
                           (json_int_t)dep->reg.size, "exports", exports, "imports", imports);
  if (dep->reg.options[0]) {
    json_t *o = json_loads(dep->reg.options, 0, NULL);
    if (o) json_object_set_new(desc, "options", o);
  }
  if (dep->nlinks) {
    json_t *links = json_array();
    for (size_t i = 0; i < dep->nlinks; i++)
      json_array_append_new(links, json_pack("{s:s, s:s, s:i}", "import", dep->links[i].import,
                                             "target", dep->links[i].target, "target_version",
                                             (int)dep->links[i].target_version));
    json_object_set_new(desc, "links", links);
  }
  return desc;
}
