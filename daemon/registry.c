/*
 * registry.c - wharfd's durable record of deployments (API in registry.h).
 *
 * On disk, under DATA_DIR (directories 0700, files 0600):
 *
 *   registry.db, -wal, -shm     SQLite, WAL, synchronous=FULL (schema below)
 *   blobs/                      flock'ed (LOCK_EX) while a process has the
 *                               registry open: a second opener gets WH_EBUSY
 *     ab/                       a shard: the digest's first two hex digits
 *       ab12...ef               a blob: the bytes whose SHA-256 is the name
 *       ab12...ef.<pid>.<n>.tmp a writer's temp file
 *
 * Schema (PRAGMA user_version = REG_SCHEMA; `migrations[i]` takes version
 * i to i+1; open runs the ones needed in one transaction, and refuses a
 * version newer than it knows):
 *
 *   deployments (tenant, name, version)   one row per deployed version;
 *     digest, size, created_ms            deleted_ms is NULL while live,
 *     deleted_ms                          else when it was deleted
 *   names (tenant, name) -> last_version  the highest version ever handed
 *                                         out, so none is reused after a
 *                                         delete
 *   links (tenant, name, version, import) the component a version's import
 *     -> target, target_version,          is linked to, pinned to the
 *        target_digest                    target's version at deploy (3)
 *
 * Deploy: hash (unless the caller did) -> if the blob is not there with
 * the right size, write a temp file beside it, fsync -> under the lock:
 * look again, rename the temp over the final name (or drop it if the blob
 * appeared meanwhile), fsync the shard directory, then BEGIN IMMEDIATE,
 * bump names.last_version, insert the row, COMMIT.  Delete: under the
 * lock, mark the rows and COMMIT, then unlink each of their blobs that no
 * live row names any more.  Because the rename-and-commit of a deploy and
 * the commit-and-unlink of a delete each run under the one lock, a blob
 * is never unlinked between a deploy finding it and committing its row.
 *
 * What a crash (or power loss) can leave, and what wh_reg_open does:
 * a temp file (removed); a blob no live row names, renamed before a
 * commit that never happened (removed).  A committed row always has its
 * blob, because the file fsync, the rename and the directory fsync all
 * come before the commit.  A row whose blob is gone anyway (removed by
 * hand, a damaged disk) is marked deleted, and the open succeeds with a
 * diagnostic of code 0 whose message counts what was repaired (the
 * message is empty when there was nothing to do).  Blob contents are
 * only checked by wh_reg_read_blob; open compares names, not hashes.
 *
 * Errors: WH_EINVAL (arguments, names), WH_ENOTFOUND, WH_EIO (a file
 * operation, with path and errno text, or a SQLite statement, with
 * sqlite3_errmsg, in the diagnostic where the function takes one),
 * WH_ENOMEM, WH_ECORRUPT (a blob not matching its digest), and from open
 * WH_EBUSY (another handle has the directory) and WH_EUNSUPPORTED (a
 * newer wharf's schema).
 *
 * Locking: `lock` guards the connection and its prepared statements.
 * Hashing and writing the temp file run without it; wh_reg_read_blob
 * never takes it (blobs are immutable once renamed into place).
 * wh_reg_foreach calls its callback with the lock released, so the
 * callback may call back into the registry.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "registry.h"
#include "wh_fs.h"

#define REG_SCHEMA 3                /* PRAGMA user_version this file writes */
#define REG_BUSY_TIMEOUT_MS 5000
#define REG_FOREACH_BATCH 256       /* rows fetched per lock hold in foreach */
#define DIGEST_HEX 64

/* migrations[i] takes the schema from version i to i + 1. */
static const char *const migrations[REG_SCHEMA] = {
    /* 0 -> 1 */
    "CREATE TABLE deployments ("
    "  tenant TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"       /* 1, 2, ... per (tenant, name) */
    "  digest TEXT NOT NULL,"           /* SHA-256 of the bytes, lowercase hex */
    "  size INTEGER NOT NULL,"          /* bytes */
    "  created_ms INTEGER NOT NULL,"    /* Unix time, milliseconds */
    "  deleted_ms INTEGER,"             /* NULL while live */
    "  PRIMARY KEY (tenant, name, version)"
    ") WITHOUT ROWID;"
    "CREATE INDEX deployments_live_digest ON deployments (digest)"
    "  WHERE deleted_ms IS NULL;"
    "CREATE TABLE names ("
    "  tenant TEXT NOT NULL,"
    "  name TEXT NOT NULL,"
    "  last_version INTEGER NOT NULL,"  /* highest version ever handed out */
    "  PRIMARY KEY (tenant, name)"
    ") WITHOUT ROWID;",
    /* 1 -> 2: deploy options (JSON text; '' for none) */
    "ALTER TABLE deployments ADD COLUMN options TEXT NOT NULL DEFAULT '';",
    /* 2 -> 3: deploy-time links, each pinned to the target's version */
    "CREATE TABLE links ("
    "  tenant TEXT NOT NULL,"
    "  name TEXT NOT NULL,"             /* the linking component */
    "  version INTEGER NOT NULL,"       /* ... its version */
    "  import TEXT NOT NULL,"           /* the import the link satisfies */
    "  target TEXT NOT NULL,"           /* the same tenant's component */
    "  target_version INTEGER NOT NULL,"
    "  target_digest TEXT NOT NULL,"
    "  PRIMARY KEY (tenant, name, version, import)"
    ") WITHOUT ROWID;"
    "CREATE INDEX links_target ON links (tenant, target);",
};

enum {
  ST_BUMP,
  ST_INSERT,
  ST_GET,
  ST_LIST,
  ST_COUNT,
  ST_NAME_DIGESTS,
  ST_DELETE,
  ST_DIGEST_LIVE,
  ST_ALL_AFTER,
  ST_LIVE_DIGESTS,
  ST_DELETE_DIGEST,
  ST_LINK_INSERT,
  ST_LINKS,
  ST_LINKED_BY,
  ST_GET_VERSION,
  ST__COUNT
};

/* The latest live row of a name: SQLite takes the bare columns of an
 * aggregate query with one MAX() from the row holding the maximum. */
#define LATEST_COLS "name, MAX(version), digest, size, created_ms, options"

static const char *const sql_text[ST__COUNT] = {
    [ST_BUMP] = "INSERT INTO names (tenant, name, last_version) VALUES (?1, ?2, 1)"
                " ON CONFLICT (tenant, name) DO UPDATE SET last_version = last_version + 1"
                " RETURNING last_version",
    [ST_INSERT] = "INSERT INTO deployments"
                  " (tenant, name, version, digest, size, created_ms, deleted_ms, options)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7)",
    [ST_GET] = "SELECT " LATEST_COLS " FROM deployments"
               " WHERE tenant = ?1 AND name = ?2 AND deleted_ms IS NULL",
    [ST_LIST] = "SELECT " LATEST_COLS " FROM deployments"
                " WHERE tenant = ?1 AND deleted_ms IS NULL GROUP BY name ORDER BY name",
    [ST_COUNT] = "SELECT COUNT(DISTINCT name) FROM deployments"
                 " WHERE tenant = ?1 AND deleted_ms IS NULL",
    [ST_NAME_DIGESTS] = "SELECT DISTINCT digest FROM deployments"
                        " WHERE tenant = ?1 AND name = ?2 AND deleted_ms IS NULL",
    [ST_DELETE] = "UPDATE deployments SET deleted_ms = ?3"
                  " WHERE tenant = ?1 AND name = ?2 AND deleted_ms IS NULL",
    [ST_DIGEST_LIVE] = "SELECT 1 FROM deployments"
                       " WHERE digest = ?1 AND deleted_ms IS NULL LIMIT 1",
    [ST_ALL_AFTER] = "SELECT " LATEST_COLS ", tenant FROM deployments"
                     " WHERE deleted_ms IS NULL AND (tenant, name) > (?1, ?2)"
                     " GROUP BY tenant, name ORDER BY tenant, name LIMIT ?3",
    [ST_LIVE_DIGESTS] = "SELECT DISTINCT digest FROM deployments WHERE deleted_ms IS NULL",
    [ST_DELETE_DIGEST] = "UPDATE deployments SET deleted_ms = ?2"
                         " WHERE digest = ?1 AND deleted_ms IS NULL",
    [ST_LINK_INSERT] = "INSERT INTO links (tenant, name, version, import, target,"
                       " target_version, target_digest) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_LINKS] = "SELECT import, target, target_version, target_digest FROM links"
                 " WHERE tenant = ?1 AND name = ?2 AND version = ?3 ORDER BY import",
    /* the latest live version of another name that links to ?2 */
    [ST_LINKED_BY] = "SELECT l.name FROM links l WHERE l.tenant = ?1 AND l.target = ?2"
                     " AND l.name != ?2 AND l.version = (SELECT MAX(d.version)"
                     " FROM deployments d WHERE d.tenant = l.tenant AND d.name = l.name"
                     " AND d.deleted_ms IS NULL) ORDER BY l.name LIMIT 1",
    [ST_GET_VERSION] = "SELECT name, version, digest, size, created_ms, options"
                       " FROM deployments WHERE tenant = ?1 AND name = ?2 AND version = ?3"
                       " AND deleted_ms IS NULL",
};

struct wh_reg {
  pthread_mutex_t lock;       /* guards db and st[] */
  sqlite3 *db;
  sqlite3_stmt *st[ST__COUNT];
  char *dir;                  /* data_dir; immutable after open */
  char *blobs;                /* data_dir/blobs; immutable after open */
  int blobs_fd;               /* holds the flock; immutable after open */
  atomic_uint shard_synced[256 / 32]; /* shards whose entry in blobs/ we fsynced */
};

static atomic_uint tmp_seq;   /* makes temp names unique within the process */

/* ---- small helpers ------------------------------------------------------- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void to_hex(char *out, const uint8_t *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hex_val(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* True if `s` is exactly 64 lowercase hex digits. */
static bool valid_digest(const char *s) {
  if (!s) return false;
  for (int i = 0; i < DIGEST_HEX; i++)
    if (hex_val(s[i]) < 0) return false;
  return s[DIGEST_HEX] == '\0';
}

static bool valid_tenant(const char *t) {
  if (!t) return false;
  size_t n = strnlen(t, WH_REG_TENANT_MAX + 1);
  return n >= 1 && n <= WH_REG_TENANT_MAX;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

bool wh_reg_digest_bytes(const char *hex, uint8_t out[32]) {
  if (!valid_digest(hex)) return false;
  for (int i = 0; i < 32; i++) {
    char c1 = hex[2 * i], c2 = hex[2 * i + 1];
    out[i] = (uint8_t)(((c1 <= '9' ? c1 - '0' : c1 - 'a' + 10) << 4) |
                       (c2 <= '9' ? c2 - '0' : c2 - 'a' + 10));
  }
  return true;
}

bool wh_reg_sha256_hex(const uint8_t *p, size_t n, char out[DIGEST_HEX + 1]) {
  uint8_t md[32];
  unsigned len = 0;
  static const uint8_t empty[1];
  if (EVP_Digest(n ? p : empty, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32)
    return false;
  to_hex(out, md, 32);
  return true;
}





/* "DIR/blobs/ab" and "DIR/blobs/ab/ab12...ef" for a digest. */
static void shard_path(const wh_reg_t *r, char out[PATH_MAX], const char *digest) {
  snprintf(out, PATH_MAX, "%s/%.2s", r->blobs, digest);
}

static void blob_path(const wh_reg_t *r, char out[PATH_MAX], const char *digest) {
  snprintf(out, PATH_MAX, "%s/%.2s/%s", r->blobs, digest, digest);
}

/* ---- the database -------------------------------------------------------- */

/* Turns a SQLite failure into WH_EIO (WH_ENOMEM for SQLITE_NOMEM) with the
 * connection's message in `d` (which may be NULL). */
static int db_error(const wh_reg_t *r, int rc, wh_diag_t *d, const char *what) {
  int code = rc == SQLITE_NOMEM ? WH_ENOMEM : WH_EIO;
  return wh_diag_set(d, code, -1, "registry: %s: %s", what,
                     r->db ? sqlite3_errmsg(r->db) : sqlite3_errstr(rc));
}

/* A prepared statement, reset and unbound.  Lock held. */
static sqlite3_stmt *stmt(wh_reg_t *r, int which) {
  sqlite3_stmt *s = r->st[which];
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  return s;
}

static int bind_text(sqlite3_stmt *s, int i, const char *text) {
  return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

static int exec_sql(wh_reg_t *r, const char *sql) {
  return sqlite3_exec(r->db, sql, NULL, NULL, NULL);
}

static void rollback(wh_reg_t *r) {
  if (!sqlite3_get_autocommit(r->db)) exec_sql(r, "ROLLBACK");
}

/* Copies a LATEST_COLS row (columns 0-5) into `e`; false if the row is
 * malformed (a NULL from an aggregate over no rows reads as malformed). */
static bool read_latest(sqlite3_stmt *s, const char *tenant, wh_reg_entry_t *e) {
  const char *name = (const char *)sqlite3_column_text(s, 0);
  const char *digest = (const char *)sqlite3_column_text(s, 2);
  sqlite3_int64 version = sqlite3_column_int64(s, 1);
  sqlite3_int64 size = sqlite3_column_int64(s, 3);
  const char *options = (const char *)sqlite3_column_text(s, 5);
  if (!options) options = "";
  if (!name || !digest || !tenant || strlen(name) > WH_REG_NAME_MAX ||
      strlen(options) > WH_REG_OPTIONS_MAX ||
      strlen(tenant) > WH_REG_TENANT_MAX || !valid_digest(digest) || version < 1 ||
      version > UINT32_MAX || size < 0)
    return false;
  memset(e, 0, sizeof *e);
  strcpy(e->tenant, tenant);
  strcpy(e->name, name);
  strcpy(e->digest, digest);
  e->version = (uint32_t)version;
  e->size = (uint64_t)size;
  e->created_ms = sqlite3_column_int64(s, 4);
  strcpy(e->options, options);
  return true;
}

/* ---- names --------------------------------------------------------------- */

bool wh_reg_valid_name(const char *name) {
  if (!name || name[0] == '\0' || name[0] == '.' || name[0] == '-') return false;
  size_t i = 0;
  for (; name[i] != '\0'; i++) {
    char c = name[i];
    if (i >= WH_REG_NAME_MAX) return false;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '.' || c == '_' || c == '-'))
      return false;
  }
  return true;
}

/* ---- blobs ---------------------------------------------------------------- */

/* Makes the shard directory of `digest` exist, and durable: the first time
 * this handle uses a shard, fsyncs blobs/ (which holds the shard's entry). */
static int ensure_shard(wh_reg_t *r, const char *digest, wh_diag_t *d) {
  char path[PATH_MAX];
  shard_path(r, path, digest);
  unsigned idx = (unsigned)(hex_val(digest[0]) << 4 | hex_val(digest[1]));
  unsigned bit = 1u << (idx % 32);
  if (atomic_load(&r->shard_synced[idx / 32]) & bit) return 0;
  if (mkdir(path, 0700) != 0 && errno != EEXIST)
    return wh_diag_set(d, WH_EIO, -1, "registry: cannot create %s: %s", path,
                       strerror(errno));
  if (fsync(r->blobs_fd) != 0)
    return wh_diag_set(d, WH_EIO, -1, "registry: cannot fsync %s: %s", r->blobs,
                       strerror(errno));
  atomic_fetch_or(&r->shard_synced[idx / 32], bit);
  return 0;
}

/* True if the blob exists as a regular file of `size` bytes. */
static bool blob_present(const wh_reg_t *r, const char *digest, uint64_t size) {
  char path[PATH_MAX];
  struct stat st;
  blob_path(r, path, digest);
  return lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == size;
}

/* Writes `bytes` to a new temp file beside the blob's final name and
 * fsyncs it; `tmp` receives its path.  No lock needed. */
static int write_temp(wh_reg_t *r, const char *digest, const uint8_t *bytes, size_t len,
                      char tmp[PATH_MAX], wh_diag_t *d) {
  int fd = -1, err = 0;
  for (int attempt = 0; fd < 0; attempt++) {
    snprintf(tmp, PATH_MAX, "%s/%.2s/%s.%ld.%u.tmp", r->blobs, digest, digest,
             (long)getpid(), atomic_fetch_add(&tmp_seq, 1));
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && (errno != EEXIST || attempt >= 16)) {
      err = wh_diag_set(d, WH_EIO, -1, "registry: cannot create %s: %s", tmp,
                        strerror(errno));
      tmp[0] = '\0';
      goto fail;
    }
  }
  if (wh_fs_write_all(fd, bytes, len) != 0 || fsync(fd) != 0) {
    err = wh_diag_set(d, WH_EIO, -1, "registry: cannot write %s: %s", tmp,
                      strerror(errno));
    goto fail;
  }
  int rc = close(fd);
  fd = -1;
  if (rc != 0) {
    err = wh_diag_set(d, WH_EIO, -1, "registry: cannot write %s: %s", tmp,
                      strerror(errno));
    goto fail;
  }
  return 0;
fail:
  if (fd >= 0) close(fd);
  if (tmp[0]) unlink(tmp);
  tmp[0] = '\0';
  return err;
}

/* Puts the blob in place, durably: keeps an existing blob of the right
 * size (dropping `tmp`), else renames `tmp` over the final name, writing
 * a temp file first if there is none (the blob vanished since the caller
 * looked).  Lock held, so no delete unlinks the blob before the caller
 * commits its row. */
static int place_blob(wh_reg_t *r, const char *digest, const uint8_t *bytes, size_t len,
                      char tmp[PATH_MAX], wh_diag_t *d) {
  char path[PATH_MAX], shard[PATH_MAX];
  blob_path(r, path, digest);
  shard_path(r, shard, digest);
  if (blob_present(r, digest, len)) {
    if (tmp[0]) unlink(tmp);
    tmp[0] = '\0';
  } else {
    if (!tmp[0]) {
      int err = write_temp(r, digest, bytes, len, tmp, d);
      if (err) return err;
    }
    if (rename(tmp, path) != 0)
      return wh_diag_set(d, WH_EIO, -1, "registry: cannot rename %s to %s: %s", tmp, path,
                         strerror(errno));
    tmp[0] = '\0';
  }
  /* Also when the blob was there: the deploy that renamed it may have
   * failed before its own directory fsync. */
  if (wh_fs_fsync_dir(shard) != 0)
    return wh_diag_set(d, WH_EIO, -1, "registry: cannot fsync %s: %s", shard,
                       strerror(errno));
  return 0;
}

/* Unlinks the blob if no live row names it.  Lock held.  Best effort: a
 * blob left behind is an orphan the next open removes. */
static void drop_blob_if_unused(wh_reg_t *r, const char *digest) {
  sqlite3_stmt *s = stmt(r, ST_DIGEST_LIVE);
  bind_text(s, 1, digest);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return; /* named (ROW) or unknown (error): keep it */
  char path[PATH_MAX];
  blob_path(r, path, digest);
  unlink(path);
}

/* ---- deploy ---------------------------------------------------------------- */

int wh_reg_deploy(wh_reg_t *r, const char *tenant, const char *name,
                  const uint8_t *bytes, size_t len, const char *digest,
                  const char *options, wh_reg_entry_t *out, wh_diag_t *diag) {
  return wh_reg_deploy_linked(r, tenant, name, bytes, len, digest, options, NULL, 0, out, diag);
}

int wh_reg_deploy_linked(wh_reg_t *r, const char *tenant, const char *name,
                         const uint8_t *bytes, size_t len, const char *digest,
                         const char *options, const wh_reg_link_t *links, size_t nlinks,
                         wh_reg_entry_t *out, wh_diag_t *diag) {
  char hex[DIGEST_HEX + 1], tmp[PATH_MAX] = "";
  bool locked = false;
  int err = 0, rc;
  wh_diag_clear(diag);
  if (!r || !out || (!bytes && len > 0))
    return wh_diag_set(diag, WH_EINVAL, -1, "registry: deploy needs a registry, bytes and an entry");
  if (!valid_tenant(tenant))
    return wh_diag_set(diag, WH_EINVAL, -1, "registry: tenant names are 1-%d bytes",
                       WH_REG_TENANT_MAX);
  if (!wh_reg_valid_name(name))
    return wh_diag_set(diag, WH_EINVAL, -1,
                       "registry: component names are 1-%d of A-Z a-z 0-9 . _ -, "
                       "not starting with '.' or '-'", WH_REG_NAME_MAX);
  if (len > (uint64_t)INT64_MAX)
    return wh_diag_set(diag, WH_EINVAL, -1, "registry: component too large");
  if (!options) options = "";
  for (size_t i = 0; i < nlinks; i++)
    if (!links[i].import[0] || !wh_reg_valid_name(links[i].target) ||
        !valid_digest(links[i].target_digest) || links[i].target_version < 1)
      return wh_diag_set(diag, WH_EINVAL, -1, "registry: link %zu is malformed", i);
  if (strlen(options) > WH_REG_OPTIONS_MAX)
    return wh_diag_set(diag, WH_EINVAL, -1, "registry: deploy options over %d bytes",
                       WH_REG_OPTIONS_MAX);
  if (digest) {
    if (!valid_digest(digest))
      return wh_diag_set(diag, WH_EINVAL, -1,
                         "registry: a digest is 64 lowercase hex digits");
    memcpy(hex, digest, sizeof hex);
  } else if (!wh_reg_sha256_hex(bytes, len, hex)) {
    return wh_diag_set(diag, WH_ENOMEM, -1, "registry: cannot compute SHA-256");
  }

  /* The bulk of the I/O, without the lock. */
  if ((err = ensure_shard(r, hex, diag)) != 0) goto fail;
  if (!blob_present(r, hex, len) && (err = write_temp(r, hex, bytes, len, tmp, diag)) != 0)
    goto fail;

  pthread_mutex_lock(&r->lock);
  locked = true;
  if ((err = place_blob(r, hex, bytes, len, tmp, diag)) != 0) goto fail;
  if ((rc = exec_sql(r, "BEGIN IMMEDIATE")) != SQLITE_OK) {
    err = db_error(r, rc, diag, "cannot begin a transaction");
    goto fail_drop;
  }
  sqlite3_stmt *s = stmt(r, ST_BUMP);
  bind_text(s, 1, tenant);
  bind_text(s, 2, name);
  rc = sqlite3_step(s);
  sqlite3_int64 version = rc == SQLITE_ROW ? sqlite3_column_int64(s, 0) : 0;
  if (rc == SQLITE_ROW) rc = sqlite3_step(s); /* run the statement to completion */
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) {
    err = db_error(r, rc, diag, "cannot allocate a version");
    goto fail_drop;
  }
  if (version < 1 || version > UINT32_MAX) {
    err = wh_diag_set(diag, WH_ERANGE, -1, "registry: %s/%s has run out of versions",
                      tenant, name);
    goto fail_drop;
  }
  int64_t created = now_ms();
  s = stmt(r, ST_INSERT);
  bind_text(s, 1, tenant);
  bind_text(s, 2, name);
  sqlite3_bind_int64(s, 3, version);
  bind_text(s, 4, hex);
  sqlite3_bind_int64(s, 5, (sqlite3_int64)len);
  sqlite3_bind_int64(s, 6, created);
  bind_text(s, 7, options);
  rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) {
    err = db_error(r, rc, diag, "cannot insert the deployment");
    goto fail_drop;
  }
  for (size_t i = 0; i < nlinks; i++) {
    /* the pinned version must still be live: a delete of the target
     * commits under the same lock, before or after this transaction */
    s = stmt(r, ST_GET_VERSION);
    bind_text(s, 1, tenant);
    bind_text(s, 2, links[i].target);
    sqlite3_bind_int64(s, 3, links[i].target_version);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_ROW) {
      err = rc == SQLITE_DONE ? wh_diag_set(diag, WH_ENOTFOUND, -1,
                                            "registry: link target %s v%u is not deployed",
                                            links[i].target, links[i].target_version)
                              : db_error(r, rc, diag, "cannot check a link target");
      goto fail_drop;
    }
    s = stmt(r, ST_LINK_INSERT);
    bind_text(s, 1, tenant);
    bind_text(s, 2, name);
    sqlite3_bind_int64(s, 3, version);
    bind_text(s, 4, links[i].import);
    bind_text(s, 5, links[i].target);
    sqlite3_bind_int64(s, 6, links[i].target_version);
    bind_text(s, 7, links[i].target_digest);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
      err = db_error(r, rc, diag, "cannot insert a link");
      goto fail_drop;
    }
  }
  if ((rc = exec_sql(r, "COMMIT")) != SQLITE_OK) {
    err = db_error(r, rc, diag, "cannot commit the deployment");
    goto fail_drop;
  }
  pthread_mutex_unlock(&r->lock);

  memset(out, 0, sizeof *out);
  strcpy(out->tenant, tenant);
  strcpy(out->name, name);
  out->version = (uint32_t)version;
  memcpy(out->digest, hex, sizeof out->digest);
  out->size = len;
  out->created_ms = created;
  strcpy(out->options, options);
  return 0;

fail_drop:
  rollback(r);
  drop_blob_if_unused(r, hex);
fail:
  if (locked) pthread_mutex_unlock(&r->lock);
  if (tmp[0]) unlink(tmp);
  return err;
}

/* ---- queries ---------------------------------------------------------------- */

int wh_reg_get(wh_reg_t *r, const char *tenant, const char *name, wh_reg_entry_t *out) {
  if (!r || !out || !valid_tenant(tenant) || !wh_reg_valid_name(name)) return WH_EINVAL;
  int err = 0;
  pthread_mutex_lock(&r->lock);
  sqlite3_stmt *s = stmt(r, ST_GET);
  bind_text(s, 1, tenant);
  bind_text(s, 2, name);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) {
    err = db_error(r, rc, NULL, "get");
    goto fail;
  }
  /* An aggregate without GROUP BY always yields a row: NULLs when no
   * version is live. */
  if (sqlite3_column_type(s, 1) == SQLITE_NULL) {
    err = WH_ENOTFOUND;
    goto fail;
  }
  if (!read_latest(s, tenant, out)) err = WH_ECORRUPT;
fail:
  sqlite3_reset(s);
  pthread_mutex_unlock(&r->lock);
  return err;
}

int wh_reg_list(wh_reg_t *r, const char *tenant, wh_reg_entry_t **out, size_t *n) {
  if (!r || !out || !n || !valid_tenant(tenant)) return WH_EINVAL;
  *out = NULL;
  *n = 0;
  wh_reg_entry_t *v = NULL;
  size_t len = 0, cap = 0;
  int err = 0, rc;
  pthread_mutex_lock(&r->lock);
  sqlite3_stmt *s = stmt(r, ST_LIST);
  bind_text(s, 1, tenant);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      wh_reg_entry_t *nv = realloc(v, ncap * sizeof *v);
      if (!nv) {
        err = WH_ENOMEM;
        goto fail;
      }
      v = nv;
      cap = ncap;
    }
    if (!read_latest(s, tenant, &v[len])) {
      err = WH_ECORRUPT;
      goto fail;
    }
    len++;
  }
  if (rc != SQLITE_DONE) {
    err = db_error(r, rc, NULL, "list");
    goto fail;
  }
  sqlite3_reset(s);
  pthread_mutex_unlock(&r->lock);
  *out = v;
  *n = len;
  return 0;
fail:
  sqlite3_reset(s);
  pthread_mutex_unlock(&r->lock);
  free(v);
  return err;
}

int wh_reg_count(wh_reg_t *r, const char *tenant, uint32_t *n) {
  if (!r || !n || !valid_tenant(tenant)) return WH_EINVAL;
  int err = 0;
  pthread_mutex_lock(&r->lock);
  sqlite3_stmt *s = stmt(r, ST_COUNT);
  bind_text(s, 1, tenant);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) *n = (uint32_t)sqlite3_column_int64(s, 0);
  else err = db_error(r, rc, NULL, "count");
  sqlite3_reset(s);
  pthread_mutex_unlock(&r->lock);
  return err;
}

int wh_reg_foreach(wh_reg_t *r, int (*fn)(void *ctx, const wh_reg_entry_t *e),
                   void *ctx) {
  if (!r || !fn) return WH_EINVAL;
  wh_reg_entry_t *batch = malloc(REG_FOREACH_BATCH * sizeof *batch);
  if (!batch) return WH_ENOMEM;
  /* Keyset pagination: each batch starts after the last (tenant, name)
   * seen, and fn runs with the lock released. */
  char after_tenant[WH_REG_TENANT_MAX + 1] = "", after_name[WH_REG_NAME_MAX + 1] = "";
  int err = 0;
  for (;;) {
    size_t len = 0;
    int rc;
    pthread_mutex_lock(&r->lock);
    sqlite3_stmt *s = stmt(r, ST_ALL_AFTER);
    bind_text(s, 1, after_tenant);
    bind_text(s, 2, after_name);
    sqlite3_bind_int(s, 3, REG_FOREACH_BATCH);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (!read_latest(s, (const char *)sqlite3_column_text(s, 6), &batch[len])) {
        rc = SQLITE_CORRUPT;
        break;
      }
      len++;
    }
    if (rc != SQLITE_DONE)
      err = rc == SQLITE_CORRUPT ? WH_ECORRUPT : db_error(r, rc, NULL, "foreach");
    sqlite3_reset(s);
    pthread_mutex_unlock(&r->lock);
    if (err) goto fail;
    for (size_t i = 0; i < len; i++)
      if ((err = fn(ctx, &batch[i])) != 0) goto fail;
    if (len < REG_FOREACH_BATCH) break;
    strcpy(after_tenant, batch[len - 1].tenant);
    strcpy(after_name, batch[len - 1].name);
  }
fail:
  free(batch);
  return err;
}

/* ---- links ------------------------------------------------------------------------ */

int wh_reg_links(wh_reg_t *r, const char *tenant, const char *name, uint32_t version,
                 wh_reg_link_t **out, size_t *n) {
  if (!r || !out || !n || !valid_tenant(tenant) || !wh_reg_valid_name(name)) return WH_EINVAL;
  *out = NULL;
  *n = 0;
  wh_reg_link_t *v = NULL;
  size_t len = 0, cap = 0;
  int err = 0, rc;
  pthread_mutex_lock(&r->lock);
  sqlite3_stmt *s = stmt(r, ST_LINKS);
  bind_text(s, 1, tenant);
  bind_text(s, 2, name);
  sqlite3_bind_int64(s, 3, version);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *imp = (const char *)sqlite3_column_text(s, 0);
    const char *target = (const char *)sqlite3_column_text(s, 1);
    sqlite3_int64 tv = sqlite3_column_int64(s, 2);
    const char *td = (const char *)sqlite3_column_text(s, 3);
    if (!imp || !target || !td || strlen(imp) > WH_REG_IMPORT_MAX ||
        !wh_reg_valid_name(target) || !valid_digest(td) || tv < 1 || tv > UINT32_MAX) {
      err = WH_ECORRUPT;
      break;
    }
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 4;
      wh_reg_link_t *nv = realloc(v, ncap * sizeof *v);
      if (!nv) {
        err = WH_ENOMEM;
        break;
      }
      v = nv;
      cap = ncap;
    }
    memset(&v[len], 0, sizeof v[len]);
    strcpy(v[len].import, imp);
    strcpy(v[len].target, target);
    v[len].target_version = (uint32_t)tv;
    strcpy(v[len].target_digest, td);
    len++;
  }
  if (!err && rc != SQLITE_DONE) err = db_error(r, rc, NULL, "links");
  sqlite3_reset(s);
  pthread_mutex_unlock(&r->lock);
  if (err) {
    free(v);
    return err;
  }
  *out = v;
  *n = len;
  return 0;
}

int wh_reg_linked_by(wh_reg_t *r, const char *tenant, const char *name,
                     char out[WH_REG_NAME_MAX + 1]) {
  if (!r || !out || !valid_tenant(tenant) || !wh_reg_valid_name(name)) return WH_EINVAL;
  int err = WH_ENOTFOUND;
  pthread_mutex_lock(&r->lock);
  sqlite3_stmt *s = stmt(r, ST_LINKED_BY);
  bind_text(s, 1, tenant);
  bind_text(s, 2, name);
  int rc = sqlite3_step(s);
  const char *by = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(s, 0) : NULL;
  if (by && strlen(by) <= WH_REG_NAME_MAX) {
    strcpy(out, by);
    err = 0;
  } else if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
    err = db_error(r, rc, NULL, "linked_by");
  }
  sqlite3_reset(s);
  pthread_mutex_unlock(&r->lock);
  return err;
}

int wh_reg_get_version(wh_reg_t *r, const char *tenant, const char *name, uint32_t version,
                       wh_reg_entry_t *out) {
  if (!r || !out || !valid_tenant(tenant) || !wh_reg_valid_name(name)) return WH_EINVAL;
  int err = 0;
  pthread_mutex_lock(&r->lock);
  sqlite3_stmt *s = stmt(r, ST_GET_VERSION);
  bind_text(s, 1, tenant);
  bind_text(s, 2, name);
  sqlite3_bind_int64(s, 3, version);
  int rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    if (!read_latest(s, tenant, out)) err = WH_ECORRUPT;
  } else {
    err = rc == SQLITE_DONE ? WH_ENOTFOUND : db_error(r, rc, NULL, "get version");
  }
  sqlite3_reset(s);
  pthread_mutex_unlock(&r->lock);
  return err;
}

/* ---- delete -------------------------------------------------------------------- */

int wh_reg_delete(wh_reg_t *r, const char *tenant, const char *name) {
  if (!r || !valid_tenant(tenant) || !wh_reg_valid_name(name)) return WH_EINVAL;
  char (*digests)[DIGEST_HEX + 1] = NULL;
  size_t nd = 0, cap = 0;
  int err = 0, rc;
  pthread_mutex_lock(&r->lock);
  if ((rc = exec_sql(r, "BEGIN IMMEDIATE")) != SQLITE_OK) {
    err = db_error(r, rc, NULL, "delete");
    goto fail;
  }
  /* a live component linked to this one keeps it */
  sqlite3_stmt *s = stmt(r, ST_LINKED_BY);
  bind_text(s, 1, tenant);
  bind_text(s, 2, name);
  rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc == SQLITE_ROW) {
    err = WH_EBUSY;
    goto fail;
  }
  if (rc != SQLITE_DONE) {
    err = db_error(r, rc, NULL, "delete");
    goto fail;
  }
  /* The blobs the name's live rows use, to drop after the commit. */
  s = stmt(r, ST_NAME_DIGESTS);
  bind_text(s, 1, tenant);
  bind_text(s, 2, name);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *d = (const char *)sqlite3_column_text(s, 0);
    if (!valid_digest(d)) continue; /* names no file of ours */
    if (nd == cap) {
      size_t ncap = cap ? cap * 2 : 8;
      void *nv = realloc(digests, ncap * sizeof *digests);
      if (!nv) {
        rc = SQLITE_NOMEM;
        break;
      }
      digests = nv;
      cap = ncap;
    }
    memcpy(digests[nd++], d, DIGEST_HEX + 1);
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) {
    err = db_error(r, rc, NULL, "delete");
    goto fail;
  }
  s = stmt(r, ST_DELETE);
  bind_text(s, 1, tenant);
  bind_text(s, 2, name);
  sqlite3_bind_int64(s, 3, now_ms());
  rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) {
    err = db_error(r, rc, NULL, "delete");
    goto fail;
  }
  if (sqlite3_changes(r->db) == 0) {
    err = WH_ENOTFOUND;
    goto fail;
  }
  if ((rc = exec_sql(r, "COMMIT")) != SQLITE_OK) {
    err = db_error(r, rc, NULL, "delete");
    goto fail;
  }
  for (size_t i = 0; i < nd; i++) drop_blob_if_unused(r, digests[i]);
fail:
  rollback(r);
  pthread_mutex_unlock(&r->lock);
  free(digests);
  return err;
}

/* ---- reading blobs --------------------------------------------------------- */

int wh_reg_read_blob(wh_reg_t *r, const char *digest, uint8_t **bytes, size_t *len) {
  if (!r || !bytes || !len || !valid_digest(digest)) return WH_EINVAL;
  *bytes = NULL;
  *len = 0;
  char path[PATH_MAX], hex[DIGEST_HEX + 1];
  uint8_t *buf = NULL;
  int err = 0;
  blob_path(r, path, digest);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    err = errno == ENOENT ? WH_ENOTFOUND : WH_EIO;
    goto fail;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    err = WH_EIO;
    goto fail;
  }
  if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > SIZE_MAX - 1) {
    err = WH_ECORRUPT;
    goto fail;
  }
  size_t n = (size_t)st.st_size;
  buf = malloc(n ? n : 1);
  if (!buf) {
    err = WH_ENOMEM;
    goto fail;
  }
  if (wh_fs_read_all(fd, buf, n) != 0) {
    err = errno == ENODATA ? WH_ECORRUPT : WH_EIO;
    goto fail;
  }
  if (!wh_reg_sha256_hex(buf, n, hex)) {
    err = WH_ENOMEM;
    goto fail;
  }
  if (memcmp(hex, digest, DIGEST_HEX) != 0) {
    err = WH_ECORRUPT;
    goto fail;
  }
  close(fd);
  *bytes = buf;
  *len = n;
  return 0;
fail:
  if (fd >= 0) close(fd);
  free(buf);
  return err;
}

/* ---- reconciliation ------------------------------------------------------------ */

typedef struct reconcile_report {
  unsigned rows_marked;   /* rows whose blob was missing */
  unsigned blobs_removed; /* files no live row names */
  unsigned temps_removed; /* temp files of crashed writers */
} reconcile_report_t;

/* Marks deleted the live rows whose blob is not a regular file. */
static int reconcile_rows(wh_reg_t *r, reconcile_report_t *rep, wh_diag_t *d) {
  char (*missing)[DIGEST_HEX + 1] = NULL;
  size_t n = 0, cap = 0;
  int err = 0, rc;
  sqlite3_stmt *s = stmt(r, ST_LIVE_DIGESTS);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *digest = (const char *)sqlite3_column_text(s, 0);
    char path[PATH_MAX];
    struct stat st;
    /* A malformed digest names no file: the row cannot be served either. */
    if (valid_digest(digest)) {
      blob_path(r, path, digest);
      int st_rc = lstat(path, &st);
      if (st_rc == 0 && S_ISREG(st.st_mode)) continue;
      if (st_rc != 0 && errno != ENOENT && errno != ENOTDIR) {
        err = wh_diag_set(d, WH_EIO, -1, "registry: cannot stat %s: %s", path,
                          strerror(errno));
        goto fail;
      }
    }
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      void *nv = realloc(missing, ncap * sizeof *missing);
      if (!nv) {
        err = wh_diag_set(d, WH_ENOMEM, -1, "registry: out of memory reconciling");
        goto fail;
      }
      missing = nv;
      cap = ncap;
    }
    snprintf(missing[n++], DIGEST_HEX + 1, "%s", digest ? digest : "");
  }
  if (rc != SQLITE_DONE) {
    err = db_error(r, rc, d, "cannot scan deployments");
    goto fail;
  }
  sqlite3_reset(s);
  int64_t now = now_ms();
  for (size_t i = 0; i < n; i++) {
    s = stmt(r, ST_DELETE_DIGEST);
    bind_text(s, 1, missing[i]);
    sqlite3_bind_int64(s, 2, now);
    rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
      err = db_error(r, rc, d, "cannot mark deployments deleted");
      goto fail;
    }
    rep->rows_marked += (unsigned)sqlite3_changes(r->db);
  }
fail:
  sqlite3_reset(s);
  free(missing);
  return err;
}

/* True if `name` is a blob name in shard `shard` that a live row names. */
static int blob_live(wh_reg_t *r, const char *shard, const char *name, bool *live,
                     wh_diag_t *d) {
  *live = false;
  if (!valid_digest(name) || strncmp(name, shard, 2) != 0) return 0;
  sqlite3_stmt *s = stmt(r, ST_DIGEST_LIVE);
  bind_text(s, 1, name);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc == SQLITE_ROW) *live = true;
  else if (rc != SQLITE_DONE) return db_error(r, rc, d, "cannot look up a blob");
  return 0;
}

/* Removes from the shards every file that is not a live blob: temp files
 * of crashed writers, blobs no live row names, anything foreign. */
static int reconcile_files(wh_reg_t *r, reconcile_report_t *rep, wh_diag_t *d) {
  DIR *top = opendir(r->blobs);
  if (!top)
    return wh_diag_set(d, WH_EIO, -1, "registry: cannot read %s: %s", r->blobs,
                       strerror(errno));
  int err = 0;
  struct dirent *de;
  while (err == 0 && (de = readdir(top)) != NULL) {
    const char *shard = de->d_name;
    if (strlen(shard) != 2 || hex_val(shard[0]) < 0 || hex_val(shard[1]) < 0) continue;
    char sdir[PATH_MAX];
    snprintf(sdir, sizeof sdir, "%s/%s", r->blobs, shard);
    DIR *sd = opendir(sdir);
    if (!sd) continue; /* not a directory: ensure_shard reports it on use */
    struct dirent *fe;
    bool removed = false;
    while (err == 0 && (fe = readdir(sd)) != NULL) {
      const char *name = fe->d_name;
      char path[PATH_MAX];
      struct stat st;
      bool live;
      if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
      if (snprintf(path, sizeof path, "%s/%s", sdir, name) >= (int)sizeof path ||
          lstat(path, &st) != 0 || S_ISDIR(st.st_mode))
        continue;
      if ((err = blob_live(r, shard, name, &live, d)) != 0) break;
      if (live && S_ISREG(st.st_mode)) continue;
      if (unlink(path) != 0) continue; /* left for the next open */
      removed = true;
      if (ends_with(name, ".tmp")) rep->temps_removed++;
      else rep->blobs_removed++;
    }
    closedir(sd);
    if (removed) wh_fs_fsync_dir(sdir); /* best effort: a resurrected orphan is harmless */
  }
  closedir(top);
  return err;
}

/* Runs inside one write transaction, so the index and the files are
 * compared at one moment; the blobs/ flock keeps other processes out. */
static int reconcile(wh_reg_t *r, wh_diag_t *d) {
  reconcile_report_t rep = {0};
  int rc = exec_sql(r, "BEGIN IMMEDIATE");
  if (rc != SQLITE_OK) return db_error(r, rc, d, "cannot begin reconciliation");
  int err = reconcile_rows(r, &rep, d);
  if (!err) err = reconcile_files(r, &rep, d);
  if (!err && (rc = exec_sql(r, "COMMIT")) != SQLITE_OK)
    err = db_error(r, rc, d, "cannot commit reconciliation");
  if (err) {
    rollback(r);
    return err;
  }
  if (rep.rows_marked || rep.blobs_removed || rep.temps_removed)
    wh_diag_set(d, 0, -1,
                "registry: reconciled: %u deployment(s) marked deleted (blob missing), "
                "%u unreferenced blob(s) and %u temp file(s) removed",
                rep.rows_marked, rep.blobs_removed, rep.temps_removed);
  return 0;
}

/* ---- open and close ------------------------------------------------------------ */

static int user_version_cb(void *out, int n, char **vals, char **names) {
  *(int *)out = n > 0 && vals[0] ? atoi(vals[0]) : 0;
  return 0;
}

static int journal_mode_cb(void *out, int n, char **vals, char **names) {
  snprintf(out, 16, "%s", n > 0 && vals[0] ? vals[0] : "");
  return 0;
}

/* Opens the database, sets it up and migrates it to REG_SCHEMA. */
static int open_db(wh_reg_t *r, wh_diag_t *d) {
  char path[PATH_MAX], mode[16] = "";
  int version = 0, rc;
  snprintf(path, sizeof path, "%s/registry.db", r->dir);
  rc = sqlite3_open_v2(path, &r->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX |
                           SQLITE_OPEN_NOFOLLOW,
                       NULL);
  if (rc != SQLITE_OK) return db_error(r, rc, d, path);
  sqlite3_extended_result_codes(r->db, 0);
  sqlite3_busy_timeout(r->db, REG_BUSY_TIMEOUT_MS);
  rc = sqlite3_exec(r->db, "PRAGMA journal_mode=WAL", journal_mode_cb, mode, NULL);
  if (rc != SQLITE_OK) return db_error(r, rc, d, "cannot set WAL mode");
  if (strcmp(mode, "wal") != 0)
    return wh_diag_set(d, WH_EIO, -1, "registry: %s: the file system does not support "
                       "WAL mode (journal mode is %s)", path, mode);
  if ((rc = exec_sql(r, "PRAGMA synchronous=FULL")) != SQLITE_OK)
    return db_error(r, rc, d, "cannot set synchronous=FULL");
  if ((rc = exec_sql(r, "BEGIN IMMEDIATE")) != SQLITE_OK)
    return db_error(r, rc, d, "cannot begin the schema check");
  rc = sqlite3_exec(r->db, "PRAGMA user_version", user_version_cb, &version, NULL);
  if (rc != SQLITE_OK) {
    rc = db_error(r, rc, d, "cannot read the schema version");
    goto fail;
  }
  if (version < 0 || version > REG_SCHEMA) {
    rc = wh_diag_set(d, WH_EUNSUPPORTED, -1,
                     "registry: %s has schema version %d; this wharf knows up to %d",
                     path, version, REG_SCHEMA);
    goto fail;
  }
  for (int v = version; v < REG_SCHEMA; v++) {
    char bump[64];
    snprintf(bump, sizeof bump, "PRAGMA user_version=%d", v + 1);
    if ((rc = exec_sql(r, migrations[v])) != SQLITE_OK ||
        (rc = exec_sql(r, bump)) != SQLITE_OK) {
      rc = db_error(r, rc, d, "cannot migrate the schema");
      goto fail;
    }
  }
  if ((rc = exec_sql(r, "COMMIT")) != SQLITE_OK) {
    rc = db_error(r, rc, d, "cannot commit the schema");
    goto fail;
  }
  for (int i = 0; i < ST__COUNT; i++) {
    rc = sqlite3_prepare_v3(r->db, sql_text[i], -1, SQLITE_PREPARE_PERSISTENT, &r->st[i],
                            NULL);
    if (rc != SQLITE_OK) return db_error(r, rc, d, "cannot prepare a statement");
  }
  return 0;
fail:
  rollback(r);
  return rc;
}

static void close_db(wh_reg_t *r) {
  for (int i = 0; i < ST__COUNT; i++) {
    sqlite3_finalize(r->st[i]);
    r->st[i] = NULL;
  }
  sqlite3_close(r->db);
  r->db = NULL;
}

int wh_reg_open(const char *data_dir, wh_reg_t **out, wh_diag_t *diag) {
  wh_diag_clear(diag);
  wh_reg_t *r = NULL;
  int err = 0;
  if (!out) return wh_diag_set(diag, WH_EINVAL, -1, "registry: nowhere to put the handle");
  *out = NULL;
  if (!data_dir || !data_dir[0])
    return wh_diag_set(diag, WH_EINVAL, -1, "registry: no data directory given");
  if (strlen(data_dir) > PATH_MAX - 256)
    return wh_diag_set(diag, WH_EINVAL, -1, "registry: data directory path is too long");
  r = calloc(1, sizeof *r);
  if (!r) return wh_diag_set(diag, WH_ENOMEM, -1, "registry: out of memory");
  pthread_mutex_init(&r->lock, NULL);
  r->blobs_fd = -1;
  if (!(r->dir = strdup(data_dir)) || asprintf(&r->blobs, "%s/blobs", data_dir) < 0) {
    r->blobs = NULL;
    err = wh_diag_set(diag, WH_ENOMEM, -1, "registry: out of memory");
    goto fail;
  }
  if (wh_fs_mkdir_p(r->blobs) != 0) {
    err = wh_diag_set(diag, WH_EIO, -1, "registry: cannot create %s: %s", r->blobs,
                      strerror(errno));
    goto fail;
  }
  r->blobs_fd = open(r->blobs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (r->blobs_fd < 0) {
    err = wh_diag_set(diag, WH_EIO, -1, "registry: cannot open %s: %s", r->blobs,
                      strerror(errno));
    goto fail;
  }
  if (flock(r->blobs_fd, LOCK_EX | LOCK_NB) != 0) {
    err = errno == EWOULDBLOCK
              ? wh_diag_set(diag, WH_EBUSY, -1,
                            "registry: %s is in use by another registry handle", data_dir)
              : wh_diag_set(diag, WH_EIO, -1, "registry: cannot lock %s: %s", r->blobs,
                            strerror(errno));
    goto fail;
  }
  /* blobs/ (and data_dir/ if mkdir_p made it) must survive a power loss
   * before any blob inside does. */
  if (fsync(r->blobs_fd) != 0 || wh_fs_fsync_dir(data_dir) != 0) {
    err = wh_diag_set(diag, WH_EIO, -1, "registry: cannot fsync %s: %s", data_dir,
                      strerror(errno));
    goto fail;
  }
  if ((err = open_db(r, diag)) != 0) goto fail;
  if ((err = reconcile(r, diag)) != 0) goto fail;
  *out = r;
  return 0;
fail:
  wh_reg_close(r);
  return err;
}

void wh_reg_close(wh_reg_t *r) {
  if (!r) return;
  close_db(r);
  if (r->blobs_fd >= 0) close(r->blobs_fd);
  pthread_mutex_destroy(&r->lock);
  free(r->blobs);
  free(r->dir);
  free(r);
}
