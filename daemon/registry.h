/*
 * registry.h - wharfd's durable record of what each tenant has deployed.
 *
 * On disk, under data_dir:
 *
 *   registry.db        SQLite, WAL mode, synchronous=FULL: one row per
 *                      deployed version (tenant, name, version, digest,
 *                      size, created, deleted)
 *   blobs/ab/abcdef…   the deployed bytes, named by their SHA-256 (hex),
 *                      written temp + fsync + rename + fsync(dir); shared by
 *                      every deployment of the same bytes
 *
 * A deploy writes the blob first, then commits the row: once
 * wh_reg_deploy returns 0 the deployment survives a crash or power loss;
 * a crash before leaves at most an orphan blob, which wh_reg_open removes.
 * Deleting marks the name's rows deleted (the blob goes when no live row
 * names it).  Names are per tenant: one tenant can never read another's
 * rows through this API.
 *
 * Threads: every function may be called from any thread; one connection
 * is guarded by a mutex inside.
 */
#ifndef WH_REGISTRY_H
#define WH_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wh_error.h"

#define WH_REG_TENANT_MAX 64
#define WH_REG_NAME_MAX 128
#define WH_REG_OPTIONS_MAX 4096

#define WH_REG_IMPORT_MAX 256

typedef struct wh_reg wh_reg_t;

/* A deploy-time link: import `import` of a version is satisfied by the
 * export of the same name of the tenant's component `target`, pinned to
 * the version (and bytes) it had when the link was made. */
typedef struct wh_reg_link {
  char import[WH_REG_IMPORT_MAX + 1];
  char target[WH_REG_NAME_MAX + 1];
  uint32_t target_version;
  char target_digest[65];
} wh_reg_link_t;

typedef struct wh_reg_entry {
  char tenant[WH_REG_TENANT_MAX + 1];
  char name[WH_REG_NAME_MAX + 1];
  uint32_t version;         /* 1, 2, ... per (tenant, name), never reused */
  char digest[65];          /* SHA-256 of the bytes, lowercase hex */
  uint64_t size;            /* bytes */
  int64_t created_ms;       /* Unix time in milliseconds */
  char options[WH_REG_OPTIONS_MAX + 1]; /* deploy options, JSON text; "" if none */
} wh_reg_entry_t;

/* True when `name` is a valid component name: 1-128 characters of
 * [A-Za-z0-9._-], not starting with '.' or '-' (so never a path). */
bool wh_reg_valid_name(const char *name);

/* Opens (creating if needed) the registry under `data_dir`; creates the
 * directories; reconciles: removes blobs no live row names and temp files
 * left by a crash, and reports rows whose blob is missing in diag (they
 * are marked deleted).  On success diag->msg counts what was repaired
 * (empty when nothing was).  Errors: WH_EIO with the path and errno text,
 * WH_EBUSY (another handle or process holds the directory), WH_EUNSUPPORTED
 * (a newer schema), WH_EINVAL, WH_ENOMEM. */
int wh_reg_open(const char *data_dir, wh_reg_t **out, wh_diag_t *diag);
void wh_reg_close(wh_reg_t *r);

/* Stores `bytes` and commits version N+1 of (tenant, name); durable when
 * it returns 0.  Fills *out.  `digest` is the bytes' SHA-256 in hex if the
 * caller computed it already, else NULL.  `options` (NULL for none) is
 * stored with the version and handed back in wh_reg_entry_t.options:
 * opaque text of at most WH_REG_OPTIONS_MAX bytes (wharfd keeps JSON). */
int wh_reg_deploy(wh_reg_t *r, const char *tenant, const char *name,
                  const uint8_t *bytes, size_t len, const char *digest,
                  const char *options, wh_reg_entry_t *out, wh_diag_t *diag);
/* wh_reg_deploy with the version's links (links[nlinks], borrowed),
 * committed in the same transaction; WH_ENOTFOUND (nothing stored) when
 * a link's target version is no longer live (deleted meanwhile). */
int wh_reg_deploy_linked(wh_reg_t *r, const char *tenant, const char *name,
                         const uint8_t *bytes, size_t len, const char *digest,
                         const char *options, const wh_reg_link_t *links, size_t nlinks,
                         wh_reg_entry_t *out, wh_diag_t *diag);
/* The links of version `version` of (tenant, name), by import name;
 * *out is malloc'ed (caller frees; NULL when *n is 0). */
int wh_reg_links(wh_reg_t *r, const char *tenant, const char *name, uint32_t version,
                 wh_reg_link_t **out, size_t *n);
/* The first (by name) of the tenant's other components whose latest
 * live version links to `name`, into out; WH_ENOTFOUND if none. */
int wh_reg_linked_by(wh_reg_t *r, const char *tenant, const char *name,
                     char out[WH_REG_NAME_MAX + 1]);
/* A given live version of (tenant, name) (an older one a link pins);
 * WH_ENOTFOUND if it is not live. */
int wh_reg_get_version(wh_reg_t *r, const char *tenant, const char *name, uint32_t version,
                       wh_reg_entry_t *out);
/* The latest live version of (tenant, name); WH_ENOTFOUND if none. */
int wh_reg_get(wh_reg_t *r, const char *tenant, const char *name,
               wh_reg_entry_t *out);
/* The latest live version of each of the tenant's names, sorted by name;
 * *out is malloc'ed (caller frees), *n its length. */
int wh_reg_list(wh_reg_t *r, const char *tenant, wh_reg_entry_t **out,
                size_t *n);
/* Live names the tenant has. */
int wh_reg_count(wh_reg_t *r, const char *tenant, uint32_t *n);
/* Marks every version of (tenant, name) deleted; WH_ENOTFOUND if none is
 * live, WH_EBUSY (nothing changed) while the latest live version of
 * another of the tenant's components links to it (wh_reg_linked_by
 * names one).  Durable when it returns 0. */
int wh_reg_delete(wh_reg_t *r, const char *tenant, const char *name);
/* SHA-256 of n bytes as 64 lowercase hex digits (the registry's digests);
 * false only if OpenSSL fails. */
bool wh_reg_sha256_hex(const uint8_t *p, size_t n, char out[65]);
/* A digest's 32 bytes; false unless `hex` is 64 lowercase hex digits. */
bool wh_reg_digest_bytes(const char *hex, uint8_t out[32]);
/* Reads a blob by digest (malloc'ed; caller frees) and checks its
 * SHA-256: WH_ECORRUPT if the file does not match its name. */
int wh_reg_read_blob(wh_reg_t *r, const char *digest, uint8_t **bytes,
                     size_t *len);
/* Calls fn for the latest live version of every (tenant, name), for
 * start-up; stops early if fn returns non-zero (and returns that). */
int wh_reg_foreach(wh_reg_t *r, int (*fn)(void *ctx, const wh_reg_entry_t *e),
                   void *ctx);

#endif /* WH_REGISTRY_H */
