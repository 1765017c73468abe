/*
 * wh_cache.h - the compilation cache: content-addressed artifacts on disk,
 * indexed by SQLite (docs/CACHE.md has the layout, schema and crash story).
 *
 *   bytes ──sha256──┐
 *   fingerprint ────┼─> key "<sha256 hex>-<variant hex>"
 *   kind, format ───┘        │
 *                            ├─ index row  DATA_DIR/cache/index.db  (entries)
 *                            └─ artifact   DATA_DIR/cache/ab/<key>.bin
 *
 * A stored value is generic: a kind byte plus an opaque blob (for
 * WH_CACHE_KIND_MODULE the blob is wh_module_serialize's output; for
 * WH_CACHE_KIND_COMPONENT every core module of a component plus the
 * component model's metadata, wh_cache_put_component).
 * wh_cache_get_module is the convenience most callers want: it loads a
 * compiled module, or compiles and stores it on a miss.
 *
 * A load reads the artifact, checks its header against the key and its
 * checksum against the index (once: a module's blob is not checksummed
 * again), decodes it, and writes nothing to the index: hits reach the
 * index in batches.
 *
 * Tier auto: a module of a tier-auto engine stored by, or loaded from, an
 * artifact without its native code is watched; when its background
 * compile ends, the entry is rewritten in place (same key, through
 * wh_cache_put's temp file + rename + index path, pins and hits kept)
 * with the native code, or with the reason the native tier refused the
 * module, so the next process loads it native (or refused) at once and
 * compiles nothing.  The rewrite runs on the compile's thread, only while
 * the entry still has the checksum the module came with, and only while
 * the handle is open; a component's artifact is rewritten once all of its
 * compiling modules have ended.  It never fails a caller: its errors are
 * counted (stats.errors) and told to the log callback.  docs/CACHE.md,
 * "Tier auto: native code written back".
 *
 * Failures: a corrupt, truncated or other-version artifact is dropped,
 * counted (stats.corrupt_drops) and recompiled, never loaded.  Trouble
 * with the cache itself (busy index, full disk, I/O error) never fails
 * wh_cache_get_module: it compiles without the cache and counts
 * stats.errors.
 *
 * Threads: a wh_cache_t holds one SQLite connection guarded by a mutex, so
 * one handle may be shared by every thread of a process; compilation and
 * file I/O run outside the mutex.  Processes: any number may open the same
 * directory at once (WAL, busy timeout, temp files locked while written).
 * Never carry a handle across fork(): the child opens its own.
 */
#ifndef WH_CACHE_H
#define WH_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wh_engine.h"
#include "wh_error.h"

typedef struct wh_cache wh_cache_t;

/* What a stored blob holds.  The kind is part of the key. */
typedef enum wh_cache_kind {
  WH_CACHE_KIND_MODULE = 1,    /* a wh_module_serialize blob */
  WH_CACHE_KIND_COMPONENT = 2, /* core modules + component metadata */
} wh_cache_kind_t;

/* The bound used when none was ever recorded for a directory (1 GiB). */
#define WH_CACHE_DEFAULT_MAX_BYTES (1ull << 30)
/* Busy timeout on the index, milliseconds. */
#define WH_CACHE_BUSY_TIMEOUT_MS 5000

/* wh_cache_open flags. */
#define WH_CACHE_NO_RECONCILE 1u /* skip the start-up reconciliation scan */

/* A cache key: the SHA-256 of the input bytes and an 8-byte variant that
 * hashes the engine fingerprint (wharf version, tier, wcode version,
 * enabled features), the engine's blob format version, the kind and the
 * cache's file format.
 * `hex` ("<64 hex>-<16 hex>") is the index key and the artifact's name. */
typedef struct wh_cache_key {
  uint8_t digest[32];
  uint8_t variant[8];
  uint8_t kind;
  char hex[64 + 1 + 16 + 1];
} wh_cache_key_t;

/* Counters.  From wh_cache_stats: `session` counts this handle's work
 * since wh_cache_open; `total` sums every process's work since the
 * directory was created.  bytes, entries, pinned and max_bytes describe
 * the index as it is now, in both. */
typedef struct wh_cache_stats {
  uint64_t hits;          /* lookups answered from the cache */
  uint64_t misses;        /* lookups that found nothing usable */
  uint64_t compiles;      /* compilations run on a miss */
  uint64_t compile_ns;    /* time in those compilations */
  uint64_t load_ns;       /* time of the hits: read, verify, deserialize */
  uint64_t stores;        /* artifacts written */
  uint64_t evictions;     /* entries removed to stay under the bound */
  uint64_t corrupt_drops; /* artifacts dropped: corrupt, truncated, foreign, missing */
  uint64_t errors;        /* cache errors worked around by compiling */
  uint64_t bytes;         /* artifact bytes in the index */
  uint64_t entries;       /* artifacts in the index */
  uint64_t pinned;        /* of which pinned */
  uint64_t max_bytes;     /* the bound eviction keeps to */
} wh_cache_stats_t;

/* What wh_cache_gc (and the reconciliation in wh_cache_open) removed. */
typedef struct wh_cache_gc_report {
  uint64_t rows_dropped;   /* index rows whose file was missing or the wrong size */
  uint64_t files_removed;  /* artifact files with no index row, or foreign names */
  uint64_t temps_removed;  /* temp files left by writers that died */
  uint64_t evicted;        /* entries evicted to get under the bound */
  uint64_t cleared;        /* entries removed by wh_cache_clear */
  uint64_t bytes_freed;    /* bytes of all of the above */
} wh_cache_gc_report_t;

/* ---- keys ---------------------------------------------------------------- */

/* Fills `k` from a SHA-256 of the input bytes that the caller already has
 * (the daemon hashes every deploy), an engine fingerprint and a kind. */
void wh_cache_key_from_digest(wh_cache_key_t *k, const uint8_t digest[32],
                              const char *fingerprint, wh_cache_kind_t kind);
/* Fills `k` for a core module: SHA-256 of `len` bytes, e's fingerprint.
 * Returns 0 or WH_ENOMEM. */
int wh_cache_key_module(wh_cache_key_t *k, const wh_engine_t *e,
                        const uint8_t *bytes, size_t len);
/* The same for a component's bytes (kind COMPONENT). */
int wh_cache_key_component(wh_cache_key_t *k, const wh_engine_t *e,
                           const uint8_t *bytes, size_t len);

/* ---- opening ------------------------------------------------------------- */

/* Opens (creating as needed, mode 0700) DATA_DIR/cache and its index.
 * `max_bytes` bounds the artifacts' total size and is recorded in the
 * index; 0 means "the bound recorded by whoever set one last" (default
 * WH_CACHE_DEFAULT_MAX_BYTES), which is what tools sharing a daemon's
 * directory pass; UINT64_MAX means unbounded.  Unless `flags` holds
 * WH_CACHE_NO_RECONCILE, reconciles the index with the files first (see
 * wh_cache_gc).  An index that is not a database or is corrupt is
 * rebuilt empty.  Returns NULL with `diag` filled (WH_EIO, WH_EBUSY,
 * WH_ENOMEM) on failure.  Free with wh_cache_close. */
wh_cache_t *wh_cache_open(const char *data_dir, uint64_t max_bytes,
                          unsigned flags, wh_diag_t *diag);
/* Flushes counters and closes; NULL is a no-op.  Modules the handle
 * produced may outlive it: their pending rewrites (tier auto) are
 * detached here -- close waits for one under way, and none writes after
 * it returns. */
void wh_cache_close(wh_cache_t *c);
/* DATA_DIR/cache (borrowed from the handle). */
const char *wh_cache_dir(const wh_cache_t *c);

/* Receives one sentence per noteworthy event (an artifact dropped as
 * corrupt, a cache error worked around) with its WH_E* code, so the
 * embedder can log it; the cache itself never prints.  Called without the
 * cache's lock held, on the thread that hit the event.  NULL turns it off. */
typedef void (*wh_cache_log_fn)(void *user, int code, const char *msg);
void wh_cache_set_log(wh_cache_t *c, wh_cache_log_fn fn, void *user);

/* ---- modules ------------------------------------------------------------- */

/* Returns in *out a compiled module for `len` bytes (borrowed): loaded
 * from the cache if an artifact for (bytes, e's fingerprint) is there and
 * sound, else compiled with wh_module_new and stored.  *hit (may be NULL)
 * says which.  Errors are wh_module_new's (diag filled) or WH_ENOMEM; see
 * the top of this file for how cache trouble is handled.  The caller
 * frees *out with wh_module_free.  Tier auto: the entry is rewritten with
 * the module's native code when its background compile ends (see the
 * top); so is the entry of a hit whose artifact had none (also through
 * wh_cache_load_module). */
int wh_cache_get_module(wh_cache_t *c, wh_engine_t *e, const uint8_t *bytes,
                        size_t len, wh_module_t **out, bool *hit,
                        wh_diag_t *diag);
/* As wh_cache_get_module with a key the caller made already (from
 * wh_cache_key_module or wh_cache_key_from_digest; kind MODULE, e's
 * fingerprint), so the bytes are not hashed again. */
int wh_cache_get_module_keyed(wh_cache_t *c, wh_engine_t *e,
                              const wh_cache_key_t *k, const uint8_t *bytes,
                              size_t len, wh_module_t **out, bool *hit,
                              wh_diag_t *diag);

/* Loads the module stored under `k` (kind MODULE, e's fingerprint)
 * without the input bytes, e.g. on a restart where the caller knows the
 * digest: 0 with *out on a hit (counted; caller frees with
 * wh_module_free).  WH_ENOTFOUND when nothing usable is stored (an
 * unsound artifact is dropped and counted; the miss itself is not
 * counted, since a caller that then compiles through
 * wh_cache_get_module_keyed counts it there); WH_ENOMEM; WH_EBUSY or
 * WH_EIO for trouble with the cache (counted as an error). */
int wh_cache_load_module(wh_cache_t *c, wh_engine_t *e, const wh_cache_key_t *k,
                         wh_module_t **out, wh_diag_t *diag);

/* ---- components ---------------------------------------------------------- */

/* Stores a component's artifact under `k` (kind COMPONENT, e.g. from
 * wh_cache_key_component): its `n` core modules (borrowed; all from one
 * engine, the key's) in the order the component model wants them back,
 * and `meta_len` bytes of metadata (borrowed; opaque to the cache; may be
 * 0).  Errors as wh_cache_put, or WH_EINVAL for a key of another kind.
 * Tier auto: if some of the modules are still compiling, the artifact is
 * rewritten once they all have ended (unless one of the modules is freed
 * first). */
int wh_cache_put_component(wh_cache_t *c, const wh_cache_key_t *k,
                           wh_module_t *const *mods, uint32_t n,
                           const uint8_t *meta, size_t meta_len,
                           wh_diag_t *diag);
/* Loads it.  On a hit returns 0, *mods a malloc'ed array of *n modules
 * (the caller frees each with wh_module_free, then the array with free)
 * and *meta a malloc'ed copy of the metadata (*meta_len bytes; caller
 * frees).  WH_ENOTFOUND on a miss (an unsound artifact is dropped and
 * counted first), or WH_ENOMEM / WH_EBUSY / WH_EIO.  Tier auto: modules
 * that start compiling on load (an artifact without their native code)
 * have the artifact rewritten as in wh_cache_put_component. */
int wh_cache_get_component(wh_cache_t *c, wh_engine_t *e,
                           const wh_cache_key_t *k, wh_module_t ***mods,
                           uint32_t *n, uint8_t **meta, size_t *meta_len,
                           wh_diag_t *diag);

/* For callers that compile on a miss themselves (the component model,
 * around wh_cache_get_component / wh_cache_put_component): counts one
 * compilation that took `ns` nanoseconds (stats.compiles, compile_ns). */
void wh_cache_count_compile(wh_cache_t *c, uint64_t ns);
/* ... and a cache error they worked around (stats.errors), told to the
 * log callback as "cache: <what>: <diag's message or code's text>".
 * `d` may be NULL. */
void wh_cache_count_error(wh_cache_t *c, int code, const char *what, const wh_diag_t *d);

/* ---- generic blobs ------------------------------------------------------- */

/* Looks `k` up.  On a hit returns 0 and a malloc'ed copy of the blob in
 * *blob (caller frees), its size in *len, after checking the file's size,
 * its checksum against the index and its header against `k`; counts a hit.
 * Returns WH_ENOTFOUND on a miss (an unsound artifact is dropped first and
 * counted), or WH_EBUSY / WH_EIO / WH_ENOMEM. */
int wh_cache_get(wh_cache_t *c, const wh_cache_key_t *k, uint8_t **blob,
                 size_t *len, wh_diag_t *diag);
/* Stores `len` bytes (borrowed) under `k`: temp file, fsync, rename,
 * directory fsync, then the index row; then evicts to the bound.  If an
 * artifact for `k` exists already it is kept and 0 returned.  A blob
 * larger than the bound is not stored (0, nothing written). */
int wh_cache_put(wh_cache_t *c, const wh_cache_key_t *k, const uint8_t *blob,
                 size_t len, wh_diag_t *diag);
/* Tells the cache that the blob it returned for `k` was unusable (its
 * decoder rejected it): drops the entry and counts a corrupt drop. */
int wh_cache_reject(wh_cache_t *c, const wh_cache_key_t *k, wh_diag_t *diag);

/* ---- pinning ------------------------------------------------------------- */

/* Pins `k` for `holder` (a name such as "deploy:acme/api@3"; copied), so
 * eviction skips it while any holder pins it.  Pins live in the index:
 * they outlive the process and are shared by all processes.  A key may be
 * pinned before it is stored.  Pinning twice for one holder is one pin. */
int wh_cache_pin(wh_cache_t *c, const wh_cache_key_t *k, const char *holder,
                 wh_diag_t *diag);
/* Removes `holder`'s pin on `k` (0 if there was none). */
int wh_cache_unpin(wh_cache_t *c, const wh_cache_key_t *k, const char *holder,
                   wh_diag_t *diag);
/* Removes every pin `holder` has (a daemon does this at start-up before
 * pinning its live deployments again). */
int wh_cache_unpin_holder(wh_cache_t *c, const char *holder, wh_diag_t *diag);
/* Makes `holder` pin exactly `k` (NULL: nothing), dropping its other pins,
 * in one transaction: a deployment's pin moving to its new version, or
 * going at its delete. */
int wh_cache_repin(wh_cache_t *c, const char *holder, const wh_cache_key_t *k,
                   wh_diag_t *diag);
/* Drops every pin whose holder starts with `prefix` and pins keys[i] for
 * holders[i] (i < n), in one transaction: a daemon's start-up, pinning its
 * live deployments and nothing else. */
int wh_cache_repin_all(wh_cache_t *c, const char *prefix, size_t n, const char *const *holders,
                       const wh_cache_key_t *keys, wh_diag_t *diag);

/* ---- maintenance --------------------------------------------------------- */

/* Reconciles the index with the files (rows whose file is missing or of
 * the wrong size, files with no row, temp files no live writer holds),
 * then evicts least recently used unpinned entries until the total is
 * under the bound.  `report` may be NULL. */
int wh_cache_gc(wh_cache_t *c, wh_cache_gc_report_t *report, wh_diag_t *diag);
/* Removes every unpinned artifact, or with `include_pinned` every
 * artifact and every pin.  Counters are kept. */
int wh_cache_clear(wh_cache_t *c, bool include_pinned,
                   wh_cache_gc_report_t *report, wh_diag_t *diag);
/* Fills `session` and/or `total` (either may be NULL); see
 * wh_cache_stats_t. */
int wh_cache_stats(wh_cache_t *c, wh_cache_stats_t *session,
                   wh_cache_stats_t *total, wh_diag_t *diag);

#endif /* WH_CACHE_H */
