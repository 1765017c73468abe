/*
 * cached.c - components through the compilation cache (engine/wh_cache.h).
 *
 *   bytes ──key (kind COMPONENT)──> wh_cache_get_component
 *     hit:  n compiled core modules + metadata (the module map below)
 *           └─> wh_cm__component_build(bytes, pre = those modules)
 *               decodes and validates every section as usual; each core
 *               module section takes the next module instead of compiling
 *     miss: wh_cm__component_build(bytes, pre = NULL), then
 *           wh_cache_put_component(c->modules in binary order, module map)
 *
 * What a hit skips is compiling core code (wh_module_new: decode,
 * validate, translate to wcode), which is most of a component's build;
 * its own sections are decoded and validated again from the bytes.  The
 * decoded component (type table, definitions, names: pointers into an
 * arena and into the bytes) is not stored: a loader for it would have to
 * check every type index and definition of untrusted-looking data, i.e.
 * validate again, to save what decoding and validating costs now
 * (docs/CACHE.md, "Components in the component model", has the figures).
 *
 * The metadata is a module map, so a hit can check that each compiled
 * module is the one for the section at hand (all integers little-endian):
 *
 *   0    8     magic "WHCMMODS"
 *   8    4     version (MAP_VERSION)
 *   12   4     n: core modules (equal to the artifact's)
 *   16   16*n  per module, binary order: offset of its bytes in the
 *              component, their length (u64 each)
 *
 * A compiled module whose span or import/export counts do not match the
 * section it is taken for, a module too many or too few, or a map that
 * does not decode, make the artifact unsound: it is dropped
 * (wh_cache_reject, a corrupt drop) and the component compiled and
 * stored afresh.  Cache trouble (busy index, I/O) is never the caller's:
 * the component is compiled without the cache and the error counted.
 *
 * Tier auto: nothing to do here.  wh_cache_put_component (a miss whose
 * modules still compile) and wh_cache_get_component (a hit whose modules
 * start compiling) watch the modules themselves and rewrite the artifact
 * with their native code once the last of them has ended; the modules
 * must only stay the component's (they do: c->modules owns them until
 * wh_cm_component_free), and freeing any of them first cancels that
 * (engine/cache.c, "writing native code back").
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cm_int.h"
#include "wh_cache.h"

#define MAP_MAGIC "WHCMMODS"
#define MAP_VERSION 1u

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static uint32_t get_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The spans of a module map of `n` modules, decoded into a malloc'ed
 * array of 2n u64 (aligned, unlike the metadata's bytes); NULL if the map
 * is not one (or out of memory: *nomem then true). */
static uint64_t *map_decode(const uint8_t *meta, size_t len, uint32_t n, bool *nomem) {
  *nomem = false;
  if (len != 16 + 16 * (size_t)n || memcmp(meta, MAP_MAGIC, 8) != 0 ||
      get_le32(meta + 8) != MAP_VERSION || get_le32(meta + 12) != n)
    return NULL;
  uint64_t *span = malloc(n ? 16 * (size_t)n : 1);
  if (!span) {
    *nomem = true;
    return NULL;
  }
  for (size_t i = 0; i < 2 * (size_t)n; i++) span[i] = get_le64(meta + 16 + 8 * i);
  return span;
}

/* Appends the spans of the core modules of `comp` (and of its nested
 * components, in binary order) to map; false if they are not
 * c->modules.v[*i...] in that order (they always are: a guard, so a
 * wrong map is never stored). */
static bool map_walk(const wh_cm_component_t *c, const wh_cm_comp_t *comp, uint8_t *map,
                     uint32_t *i) {
  for (uint32_t d = 0; d < comp->defs.n; d++) {
    const wh_cm_def_t *def = &comp->defs.v[d];
    if (def->kind == WH_CM_DEF_COMPONENT) {
      if (!map_walk(c, def->u.component, map, i)) return false;
    } else if (def->kind == WH_CM_DEF_CORE_MODULE) {
      if (*i >= c->modules.n || c->modules.v[*i] != def->u.module.module) return false;
      uint8_t *p = map + 16 + 16 * (size_t)*i;
      put_le64(p, (uint64_t)(def->u.module.bytes - c->bytes));
      put_le64(p + 8, def->u.module.len);
      (*i)++;
    }
  }
  return true;
}

/* The module map of a component just built (malloc'ed, *len bytes), or
 * NULL (out of memory, or the guard in map_walk). */
static uint8_t *map_encode(const wh_cm_component_t *c, size_t *len) {
  uint32_t n = c->modules.n, i = 0;
  *len = 16 + 16 * (size_t)n;
  uint8_t *map = malloc(*len);
  if (!map) return NULL;
  memcpy(map, MAP_MAGIC, 8);
  for (int b = 0; b < 4; b++) {
    map[8 + b] = (uint8_t)(MAP_VERSION >> (8 * b));
    map[12 + b] = (uint8_t)(n >> (8 * b));
  }
  if (!map_walk(c, c->root, map, &i) || i != n) {
    free(map);
    return NULL;
  }
  return map;
}

/* A hit: builds the component with the artifact's modules (takes
 * ownership of mods and meta).  NULL with *unsound when the artifact does
 * not fit the bytes, or with diag filled for any other failure. */
static wh_cm_component_t *build_from(wh_engine_t *e, const uint8_t *bytes, size_t len,
                                     wh_module_t **mods, uint32_t n, uint8_t *meta,
                                     size_t meta_len, bool *unsound, wh_diag_t *diag) {
  bool nomem;
  wh_cm_component_t *c = NULL;
  wh_cm_premods_t pre = {mods, n, 0, NULL, false};
  *unsound = false;
  pre.span = map_decode(meta, meta_len, n, &nomem);
  if (pre.span) {
    c = wh_cm__component_build(e, bytes, len, &pre, diag);
    *unsound = pre.mismatch;
  } else if (nomem) {
    wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  } else {
    *unsound = true;
  }
  for (uint32_t i = 0; i < n; i++) wh_module_free(mods[i]); /* those not taken */
  free(mods);
  free(meta);
  free((void *)pre.span);
  return c;
}

wh_cm_component_t *wh_cm_component_new_cached_keyed(wh_engine_t *e, wh_cache_t *cache,
                                                    const wh_cache_key_t *k,
                                                    const uint8_t *bytes, size_t len,
                                                    bool *hit, wh_diag_t *diag) {
  wh_module_t **mods = NULL;
  uint8_t *meta = NULL, *map = NULL;
  uint32_t n = 0;
  size_t meta_len = 0, map_len = 0;
  wh_diag_t local, d2;
  wh_cm_component_t *c = NULL;
  bool unsound = false;

  if (!diag) diag = &local;
  wh_diag_clear(diag);
  if (hit) *hit = false;
  if (!cache) return wh_cm_component_new(e, bytes, len, diag);
  if (!e || !k || (!bytes && len) || k->kind != WH_CACHE_KIND_COMPONENT) {
    wh_diag_set(diag, WH_EINVAL, -1, "no engine, no bytes or not a component key");
    return NULL;
  }
  int rc = wh_cache_get_component(cache, e, k, &mods, &n, &meta, &meta_len, &d2);
  if (rc == 0) {
    c = build_from(e, bytes, len, mods, n, meta, meta_len, &unsound, diag);
    if (c) {
      if (hit) *hit = true;
      return c;
    }
    if (!unsound && diag->code == WH_ENOMEM) return NULL;
    /* unsound: drop it; otherwise the bytes themselves fail, which a
     * compile will say again (invalid bytes are never stored, so this is
     * a component stored by another wharf that validates differently) */
    if (unsound) wh_cache_reject(cache, k, NULL);
    wh_diag_clear(diag);
  } else if (rc == WH_ENOMEM) {
    wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    return NULL;
  }
  /* a miss, an unsound artifact, or cache trouble (counted): compile */
  uint64_t t0 = mono_ns();
  c = wh_cm__component_build(e, bytes, len, NULL, diag);
  wh_cache_count_compile(cache, mono_ns() - t0);
  if (!c) return NULL;
  if (!(map = map_encode(c, &map_len))) {
    wh_diag_set(&d2, WH_ENOMEM, -1, "out of memory");
    rc = WH_ENOMEM;
  } else {
    rc = wh_cache_put_component(cache, k, c->modules.v, c->modules.n, map, map_len, &d2);
  }
  if (rc != 0) wh_cache_count_error(cache, rc, "cannot store a component's artifact", &d2);
  free(map);
  return c;
}

wh_cm_component_t *wh_cm_component_new_cached(wh_engine_t *e, wh_cache_t *cache,
                                              const uint8_t *bytes, size_t len, bool *hit,
                                              wh_diag_t *diag) {
  wh_cache_key_t k;
  if (hit) *hit = false;
  if (!cache || !e || (!bytes && len)) return wh_cm_component_new(e, bytes, len, diag);
  if (wh_cache_key_component(&k, e, bytes, len) != 0) {
    wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    return NULL;
  }
  return wh_cm_component_new_cached_keyed(e, cache, &k, bytes, len, hit, diag);
}

wh_tier_t wh_cm_component_tier(const wh_cm_component_t *c, const char **reason) {
  if (reason) *reason = NULL;
  wh_tier_t tier = c->modules.n ? WH_TIER_NATIVE : WH_TIER_INTERP;
  for (size_t i = 0; i < c->modules.n; i++) {
    const char *why = NULL;
    if (wh_module_tier(c->modules.v[i], &why) != WH_TIER_NATIVE) {
      if (reason && !*reason) *reason = why;
      tier = WH_TIER_INTERP;
    }
  }
  return tier;
}
