/*
 * cache.c - the compilation cache (API in wh_cache.h; the whole story,
 * with the crash cases, in docs/CACHE.md).
 *
 * On disk, under DATA_DIR/cache/ (directories 0700, files 0600):
 *
 *   index.db, index.db-wal, index.db-shm   the SQLite index (WAL mode)
 *   ab/                                     a shard: first two hex digits
 *     ab12...ef-0123456789abcdef.bin        an artifact, named by its key
 *     ab12...ef-0123456789abcdef.Xy9QzT.tmp a writer's temp file (flocked
 *                                           while it is being written)
 *
 * An artifact file:
 *
 *   offset  size  field
 *   0       8     magic "WHARFART"
 *   8       4     file format version (WH_CACHE_FILE_VERSION), little-endian
 *   12      1     kind (wh_cache_kind_t)
 *   13      3     zero
 *   16      32    SHA-256 of the input bytes (the key's digest)
 *   48      8     the key's variant
 *   56      8     length N of the blob, little-endian
 *   64      N     the blob (kind MODULE: wh_module_serialize's output,
 *                 itself versioned, fingerprinted and checksummed)
 *
 * The index row holds the blob's checksum (wh__sum64, blob.h: 64 bits,
 * ~10 GB/s; it guards against corruption, not against someone who can
 * write the directory).  A load reads the file and checks its size against
 * the row, the header field by field against the key, and the blob's
 * checksum against the row: the one integrity check of a load (a module's
 * blob is then decoded without its own checksum being computed again,
 * though every operand is still checked).  Any failure drops row and file
 * and the caller compiles again.
 *
 * Hits are counted in memory and reach the index (hits, last_used) in the
 * handle's next write transaction, in one of their own once TOUCH_BATCH
 * hits or TOUCH_DELAY_NS have piled up, or at close: a load is one indexed
 * SELECT and no write.
 *
 * Writes: temp file (mkostemps, flock) -> write -> fsync -> under the
 * index's write lock (BEGIN IMMEDIATE): keep an existing sound entry, or
 * rename over the final name, fsync the shard directory, insert the row,
 * evict, COMMIT.  Because rename and row change together under the lock,
 * a row's checksum always describes the file at its path except after a
 * crash, which reconciliation or the load checks repair.
 *
 * Locking: `lock` guards the connection, the prepared statements and the
 * counters; file reads, hashing and compiling run without it.  The log
 * callback is always called with the lock released.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "blob.h"
#include "native.h" /* tier auto: watching a module's tier-up */
#include "wh_cache.h"
#include "wh_fs.h"

#define WH_CACHE_FILE_MAGIC "WHARFART"
#define WH_CACHE_FILE_VERSION 2u /* 2: 64-bit checksums */
#define WH_CACHE_HDR 64u
#define WH_CACHE_SCHEMA 2 /* PRAGMA user_version of the index */
#define KEY_HEX_LEN 81    /* 64 + '-' + 16 */
#define SUM_LEN 8         /* bytes of a checksum: wh__sum64, little-endian */
#define TOUCH_BATCH 256   /* hits kept in memory before they are written */
#define TOUCH_DELAY_NS 2000000000ull /* ... or this long after the first */

/* Counter names in the `counters` table, in wh_cache_stats_t order. */
#define COUNTERS(X)                                                         \
  X(hits) X(misses) X(compiles) X(compile_ns) X(load_ns) X(stores)         \
  X(evictions) X(corrupt_drops) X(errors)

enum {
  ST_LOOKUP,
  ST_TOUCH,
  ST_MAX_USED,
  ST_INSERT,
  ST_REWRITE,
  ST_DELETE,
  ST_COUNTER_ADD,
  ST_TOTALS,
  ST_LRU,
  ST_PIN,
  ST_UNPIN,
  ST_UNPIN_HOLDER,
  ST_UNPIN_PREFIX,
  ST__COUNT
};

static const char *const sql_text[ST__COUNT] = {
    [ST_LOOKUP] = "SELECT path, size, checksum FROM entries WHERE key = ?1",
    [ST_TOUCH] = "UPDATE entries SET hits = hits + 1, last_used = ?2 WHERE key = ?1",
    [ST_MAX_USED] = "SELECT COALESCE(MAX(last_used), 0) FROM entries",
    [ST_INSERT] = "INSERT OR REPLACE INTO entries"
                  " (key, kind, path, size, checksum, created, last_used, hits)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 0)",
    /* a rewrite keeps the entry's created and hits (and its pins, which
     * live in their own table) */
    [ST_REWRITE] = "INSERT INTO entries"
                   " (key, kind, path, size, checksum, created, last_used, hits)"
                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, 0)"
                   " ON CONFLICT (key) DO UPDATE SET kind = excluded.kind,"
                   " path = excluded.path, size = excluded.size,"
                   " checksum = excluded.checksum, last_used = excluded.last_used",
    [ST_DELETE] = "DELETE FROM entries WHERE key = ?1",
    [ST_COUNTER_ADD] = "UPDATE counters SET value = value + ?2 WHERE name = ?1",
    [ST_TOTALS] = "SELECT COALESCE(SUM(size), 0), COUNT(*),"
                  " (SELECT COUNT(*) FROM entries WHERE key IN (SELECT key FROM pins))"
                  " FROM entries",
    [ST_LRU] = "SELECT key, path, size FROM entries"
               " WHERE key <> ?1 AND key NOT IN (SELECT key FROM pins)"
               " ORDER BY last_used LIMIT 1",
    [ST_PIN] = "INSERT OR IGNORE INTO pins (key, holder, created) VALUES (?1, ?2, ?3)",
    [ST_UNPIN] = "DELETE FROM pins WHERE key = ?1 AND holder = ?2",
    [ST_UNPIN_HOLDER] = "DELETE FROM pins WHERE holder = ?1",
    [ST_UNPIN_PREFIX] = "DELETE FROM pins WHERE substr(holder, 1, length(?1)) = ?1",
};

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS entries ("
    "  key TEXT PRIMARY KEY,"       /* "<sha256 hex>-<variant hex>" */
    "  kind INTEGER NOT NULL,"      /* wh_cache_kind_t */
    "  path TEXT NOT NULL,"         /* relative to the cache dir */
    "  size INTEGER NOT NULL,"      /* bytes of the file */
    "  checksum BLOB NOT NULL,"     /* wh__sum64 of the blob, 8 bytes LE */
    "  created INTEGER NOT NULL,"   /* unix time, microseconds */
    "  last_used INTEGER NOT NULL," /* ditto, strictly increasing */
    "  hits INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX IF NOT EXISTS entries_lru ON entries (last_used);"
    "CREATE TABLE IF NOT EXISTS pins ("
    "  key TEXT NOT NULL, holder TEXT NOT NULL, created INTEGER NOT NULL,"
    "  PRIMARY KEY (key, holder));"
    "CREATE TABLE IF NOT EXISTS counters ("
    "  name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta ("
    "  name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
#define COUNTER_ROW(n) "INSERT OR IGNORE INTO counters VALUES ('" #n "', 0);"
    COUNTERS(COUNTER_ROW)
#undef COUNTER_ROW
    ;

/* What a pending rewrite (see "writing native code back") holds instead
 * of the cache, so it never keeps a handle alive: wh_cache_close sets
 * `cache` to NULL under `lock`, and a rewrite writes only while it holds
 * `lock` and finds the cache there, so nothing is written once close has
 * taken the lock.  Freed by the last of the cache and the rewrites. */
typedef struct wb_anchor {
  pthread_mutex_t lock;    /* held for a whole rewrite, and by close */
  wh_cache_t *cache;       /* NULL once closed */
  _Atomic unsigned refs;   /* the cache's, plus one per pending rewrite */
} wb_anchor_t;

struct wh_cache {
  pthread_mutex_t lock; /* guards everything below but `dir` and `anchor` */
  sqlite3 *db;
  sqlite3_stmt *st[ST__COUNT];
  char *dir;            /* DATA_DIR/cache; immutable after open */
  uint64_t max_bytes;
  wh_cache_stats_t session; /* this handle's counters */
  wh_cache_stats_t pending; /* deltas not yet added to the counters table */
  wh_cache_log_fn log_fn;
  void *log_user;
  char (*touched)[KEY_HEX_LEN + 1]; /* keys hit since the last write, in order */
  size_t ntouched;
  uint64_t touched_ns;              /* mono_ns of the first of them */
  wb_anchor_t *anchor;              /* immutable after open */
};

/* ---- small helpers ------------------------------------------------------ */

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int64_t wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void put_le32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static uint64_t get_le64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

static void to_hex(char *out, const uint8_t *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

static bool is_hex_lower(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  return true;
}

/* True if `name` is "<key>.bin" for a well-formed key. */
static bool is_artifact_name(const char *name) {
  return strlen(name) == KEY_HEX_LEN + 4 && is_hex_lower(name, 64) && name[64] == '-' &&
         is_hex_lower(name + 65, 16) && strcmp(name + KEY_HEX_LEN, ".bin") == 0;
}

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The relative path of key `hex`'s artifact: "ab/<hex>.bin". */
static void rel_path(char out[KEY_HEX_LEN + 8], const char *hex) {
  snprintf(out, KEY_HEX_LEN + 8, "%.2s/%s.bin", hex, hex);
}

static void abs_path(const wh_cache_t *c, char out[PATH_MAX], const char *rel) {
  snprintf(out, PATH_MAX, "%s/%s", c->dir, rel);
}





static void emit(wh_cache_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Calls the log callback; the caller must not hold c->lock. */
static void emit(wh_cache_t *c, int code, const char *fmt, ...) {
  pthread_mutex_lock(&c->lock);
  wh_cache_log_fn fn = c->log_fn;
  void *user = c->log_user;
  pthread_mutex_unlock(&c->lock);
  if (!fn) return;
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fn(user, code, msg);
}

/* ---- keys ---------------------------------------------------------------- */

static bool sha256(const uint8_t *p, size_t n, uint8_t out[32]) {
  unsigned len = 0;
  return EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) == 1 && len == 32;
}

void wh_cache_key_from_digest(wh_cache_key_t *k, const uint8_t digest[32],
                              const char *fingerprint, wh_cache_kind_t kind) {
  /* variant = SHA-256("wharf-cache" NUL, file version, kind, engine blob
   * version, fingerprint)[0..8] */
  uint8_t full[32] = {0};
  uint8_t head[12 + 4 + 1 + 4];
  memcpy(head, "wharf-cache", 12);
  put_le32(head + 12, WH_CACHE_FILE_VERSION);
  head[16] = (uint8_t)kind;
  put_le32(head + 17, wh__blob_version());
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned len = 0;
  if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
      EVP_DigestUpdate(ctx, head, sizeof head) == 1 &&
      EVP_DigestUpdate(ctx, fingerprint, strlen(fingerprint)) == 1)
    EVP_DigestFinal_ex(ctx, full, &len);
  EVP_MD_CTX_free(ctx);
  memcpy(k->digest, digest, 32);
  memcpy(k->variant, full, 8);
  k->kind = (uint8_t)kind;
  to_hex(k->hex, k->digest, 32);
  k->hex[64] = '-';
  to_hex(k->hex + 65, k->variant, 8);
}

int wh_cache_key_module(wh_cache_key_t *k, const wh_engine_t *e,
                        const uint8_t *bytes, size_t len) {
  uint8_t digest[32];
  if (!sha256(bytes, len, digest)) return WH_ENOMEM;
  wh_cache_key_from_digest(k, digest, wh_engine_fingerprint(e), WH_CACHE_KIND_MODULE);
  return 0;
}

/* ---- the index ----------------------------------------------------------- */

static int db_error(const wh_cache_t *c, int rc, wh_diag_t *d, const char *what) {
  int code = WH_EIO;
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) code = WH_EBUSY;
  else if (rc == SQLITE_NOMEM) code = WH_ENOMEM;
  else if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) code = WH_ECORRUPT;
  return wh_diag_set(d, code, -1, "cache index: %s: %s", what,
                     c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
}

/* A prepared statement, reset and unbound; NULL on error.  Lock held. */
static sqlite3_stmt *stmt(wh_cache_t *c, int which) {
  if (!c->st[which] &&
      sqlite3_prepare_v3(c->db, sql_text[which], -1, SQLITE_PREPARE_PERSISTENT,
                         &c->st[which], NULL) != SQLITE_OK)
    return NULL;
  sqlite3_reset(c->st[which]);
  sqlite3_clear_bindings(c->st[which]);
  return c->st[which];
}

static int exec_sql(wh_cache_t *c, const char *sql) {
  return sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

static int flush_touched(wh_cache_t *c);

/* Starts a write transaction and writes the hits counted in memory into
 * it (so eviction in it sees every hit). */
static int begin(wh_cache_t *c, wh_diag_t *d) {
  int rc = exec_sql(c, "BEGIN IMMEDIATE");
  if (rc == SQLITE_OK && c->ntouched && (rc = flush_touched(c)) != SQLITE_OK) {
    int err = db_error(c, rc, d, "cannot record hits");
    exec_sql(c, "ROLLBACK");
    return err;
  }
  return rc == SQLITE_OK ? 0 : db_error(c, rc, d, "cannot take the write lock");
}

static void add_counters(wh_cache_stats_t *to, const wh_cache_stats_t *from) {
#define ADD(n) to->n += from->n;
  COUNTERS(ADD)
#undef ADD
}

/* Adds the pending counter deltas inside the current transaction. */
static int flush_pending(wh_cache_t *c) {
  const uint64_t vals[] = {
#define VAL(n) c->pending.n,
      COUNTERS(VAL)
#undef VAL
  };
  static const char *const names[] = {
#define NAME(n) #n,
      COUNTERS(NAME)
#undef NAME
  };
  for (size_t i = 0; i < sizeof vals / sizeof *vals; i++) {
    if (!vals[i]) continue;
    sqlite3_stmt *s = stmt(c, ST_COUNTER_ADD);
    if (!s) return SQLITE_ERROR;
    sqlite3_bind_text(s, 1, names[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, (sqlite3_int64)vals[i]);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return rc;
  }
  return SQLITE_OK;
}

/* Flushes counters and commits; on failure rolls back (the deltas stay
 * pending for the next transaction). */
static int commit(wh_cache_t *c, wh_diag_t *d) {
  int rc = flush_pending(c);
  if (rc == SQLITE_OK) rc = exec_sql(c, "COMMIT");
  if (rc == SQLITE_OK) {
    memset(&c->pending, 0, sizeof c->pending);
    c->ntouched = 0; /* begin wrote them */
    return 0;
  }
  int err = db_error(c, rc, d, "cannot commit");
  if (!sqlite3_get_autocommit(c->db)) exec_sql(c, "ROLLBACK");
  return err;
}

static void rollback(wh_cache_t *c) {
  if (!sqlite3_get_autocommit(c->db)) exec_sql(c, "ROLLBACK");
}

/* A last_used stamp later than every other one, so LRU order is total. */
static int64_t next_used(wh_cache_t *c) {
  int64_t now = wall_us(), max = 0;
  sqlite3_stmt *s = stmt(c, ST_MAX_USED);
  if (s && sqlite3_step(s) == SQLITE_ROW) max = sqlite3_column_int64(s, 0);
  if (s) sqlite3_reset(s);
  return now > max ? now : max + 1;
}

/* Writes each hit counted in memory: hits + 1 and a fresh last_used, in
 * the order they happened.  Inside the transaction begin just opened; the
 * list is emptied when it commits (kept for the next one if it does not). */
static int flush_touched(wh_cache_t *c) {
  for (size_t i = 0; i < c->ntouched; i++) {
    int64_t stamp = next_used(c);
    sqlite3_stmt *s = stmt(c, ST_TOUCH);
    if (!s) return SQLITE_ERROR;
    sqlite3_bind_text(s, 1, c->touched[i], -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, stamp);
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) return rc;
  }
  return SQLITE_OK;
}

/* Reads key's row: SQLITE_ROW if found (a malformed row reads as an
 * empty path), SQLITE_DONE if not, another SQLite code on error. */
static int lookup(wh_cache_t *c, const char *hex, char rel[KEY_HEX_LEN + 8],
                  uint64_t *size, uint8_t checksum[SUM_LEN]) {
  sqlite3_stmt *s = stmt(c, ST_LOOKUP);
  if (!s) return SQLITE_ERROR;
  sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) {
    sqlite3_reset(s);
    return rc;
  }
  const char *p = (const char *)sqlite3_column_text(s, 0);
  const void *sum = sqlite3_column_blob(s, 2);
  bool ok = p && strlen(p) < KEY_HEX_LEN + 8 && sum && sqlite3_column_bytes(s, 2) == SUM_LEN;
  if (ok) {
    strcpy(rel, p);
    *size = (uint64_t)sqlite3_column_int64(s, 1);
    memcpy(checksum, sum, SUM_LEN);
  } else {
    rel[0] = '\0';
    *size = 0;
    memset(checksum, 0, SUM_LEN);
  }
  sqlite3_reset(s);
  return SQLITE_ROW;
}

static int delete_row(wh_cache_t *c, const char *hex) {
  sqlite3_stmt *s = stmt(c, ST_DELETE);
  if (!s) return SQLITE_ERROR;
  sqlite3_bind_text(s, 1, hex, -1, SQLITE_STATIC);
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Removes key's row and, if its path is the one the key names, its file.
 * Inside a transaction. */
static int remove_entry(wh_cache_t *c, const char *hex, const char *rel) {
  char want[KEY_HEX_LEN + 8], path[PATH_MAX];
  rel_path(want, hex);
  if (rel && strcmp(rel, want) == 0) {
    abs_path(c, path, rel);
    unlink(path);
  }
  return delete_row(c, hex);
}

/* Evicts least recently used unpinned entries (never `keep`) until the
 * total is at most the bound.  Inside a transaction. */
static int evict(wh_cache_t *c, const char *keep, wh_cache_gc_report_t *rep) {
  if (c->max_bytes == UINT64_MAX) return SQLITE_OK;
  sqlite3_stmt *s = stmt(c, ST_TOTALS);
  if (!s) return SQLITE_ERROR;
  int rc = sqlite3_step(s);
  if (rc != SQLITE_ROW) {
    sqlite3_reset(s);
    return rc;
  }
  uint64_t total = (uint64_t)sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  while (total > c->max_bytes) {
    char hex[KEY_HEX_LEN + 1], rel[KEY_HEX_LEN + 8];
    s = stmt(c, ST_LRU);
    if (!s) return SQLITE_ERROR;
    sqlite3_bind_text(s, 1, keep ? keep : "", -1, SQLITE_STATIC);
    rc = sqlite3_step(s);
    if (rc == SQLITE_DONE) {
      sqlite3_reset(s);
      break; /* the rest is pinned */
    }
    if (rc != SQLITE_ROW) {
      sqlite3_reset(s);
      return rc;
    }
    const char *key = (const char *)sqlite3_column_text(s, 0);
    const char *p = (const char *)sqlite3_column_text(s, 1);
    snprintf(hex, sizeof hex, "%s", key ? key : "");
    snprintf(rel, sizeof rel, "%s", p ? p : "");
    uint64_t size = (uint64_t)sqlite3_column_int64(s, 2);
    sqlite3_reset(s);
    if ((rc = remove_entry(c, hex, rel)) != SQLITE_OK) return rc;
    total = total > size ? total - size : 0;
    c->session.evictions++;
    c->pending.evictions++;
    if (rep) {
      rep->evicted++;
      rep->bytes_freed += size;
    }
  }
  return SQLITE_OK;
}

/* ---- reconciliation ------------------------------------------------------ */

/* What reconcile_rows does with each row it looks at. */
typedef enum rows_mode {
  ROWS_CHECK,           /* drop rows whose file is missing or wrong */
  ROWS_CLEAR_UNPINNED,  /* remove every unpinned entry */
  ROWS_CLEAR_ALL,       /* remove every entry */
} rows_mode_t;

typedef struct victim {
  char hex[KEY_HEX_LEN + 1];
  char rel[KEY_HEX_LEN + 8];
  uint64_t size;
  bool remove_file; /* the file exists but is wrong, or we are clearing */
} victim_t;

/* Checks one row in ROWS_CHECK mode: false if it must go. */
static bool row_sound(const wh_cache_t *c, const char *hex, const char *rel, uint64_t size,
                      bool *remove_file) {
  char want[KEY_HEX_LEN + 8], path[PATH_MAX];
  struct stat st;
  *remove_file = false;
  if (!hex || strlen(hex) != KEY_HEX_LEN) return false;
  rel_path(want, hex);
  if (!rel || strcmp(rel, want) != 0) return false; /* a path we never write: leave it */
  abs_path(c, path, rel);
  if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode)) return false;
  if ((uint64_t)st.st_size != size) {
    *remove_file = true;
    return false;
  }
  return true;
}

/* Drops rows (and their files) per `mode`.  Inside a transaction. */
static int reconcile_rows(wh_cache_t *c, rows_mode_t mode, wh_cache_gc_report_t *rep) {
  static const char *const sql[] = {
      [ROWS_CHECK] = "SELECT key, path, size FROM entries",
      [ROWS_CLEAR_UNPINNED] = ("SELECT key, path, size FROM entries"
                               " WHERE key NOT IN (SELECT key FROM pins)"),
      [ROWS_CLEAR_ALL] = "SELECT key, path, size FROM entries",
  };
  sqlite3_stmt *s = NULL;
  victim_t *v = NULL;
  size_t n = 0, cap = 0;
  int rc = sqlite3_prepare_v2(c->db, sql[mode], -1, &s, NULL);
  if (rc != SQLITE_OK) return rc;
  /* Collect first, then delete: simpler than deleting under a cursor. */
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *hex = (const char *)sqlite3_column_text(s, 0);
    const char *rel = (const char *)sqlite3_column_text(s, 1);
    uint64_t size = (uint64_t)sqlite3_column_int64(s, 2);
    bool remove_file = true;
    if (mode == ROWS_CHECK && row_sound(c, hex, rel, size, &remove_file)) continue;
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      victim_t *nv = realloc(v, ncap * sizeof *v);
      if (!nv) {
        rc = SQLITE_NOMEM;
        break;
      }
      v = nv;
      cap = ncap;
    }
    snprintf(v[n].hex, sizeof v[n].hex, "%s", hex ? hex : "");
    snprintf(v[n].rel, sizeof v[n].rel, "%s", rel ? rel : "");
    v[n].size = size;
    v[n].remove_file = remove_file;
    n++;
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) goto fail;
  rc = SQLITE_OK;
  for (size_t i = 0; i < n && rc == SQLITE_OK; i++) {
    /* A malformed key cannot name a file of ours; delete by its text. */
    rc = remove_entry(c, v[i].hex, v[i].remove_file ? v[i].rel : NULL);
    if (!rep) continue;
    if (mode == ROWS_CHECK) rep->rows_dropped++;
    else rep->cleared++;
    if (v[i].remove_file) rep->bytes_freed += v[i].size;
  }
fail:
  free(v);
  return rc;
}

/* Removes `path` if it is a temp file no writer holds (its flock is
 * free); the unlink happens under the lock, so a writer that locks it
 * afterwards sees a link count of 0 and starts over.  True if removed. */
static bool remove_stale_temp(const char *path) {
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return errno == ELOOP && unlink(path) == 0; /* a symlink: not ours */
  bool removed = flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(path) == 0;
  close(fd);
  return removed;
}

/* Removes files in the shards that have no row, foreign files, and stale
 * temp files.  Inside a transaction (so no writer renames meanwhile). */
static int reconcile_files(wh_cache_t *c, wh_cache_gc_report_t *rep) {
  DIR *top = opendir(c->dir);
  if (!top) return SQLITE_IOERR;
  int rc = SQLITE_OK;
  struct dirent *de;
  while (rc == SQLITE_OK && (de = readdir(top)) != NULL) {
    const char *shard = de->d_name;
    if (strlen(shard) != 2 || !is_hex_lower(shard, 2)) continue;
    char sdir[PATH_MAX];
    struct stat sst;
    snprintf(sdir, sizeof sdir, "%s/%s", c->dir, shard);
    if (lstat(sdir, &sst) != 0) continue;
    if (!S_ISDIR(sst.st_mode)) { /* would block every store to this shard */
      if (unlink(sdir) == 0 && rep) {
        rep->files_removed++;
        rep->bytes_freed += (uint64_t)sst.st_size;
      }
      continue;
    }
    DIR *d = opendir(sdir);
    if (!d) continue;
    struct dirent *fe;
    while (rc == SQLITE_OK && (fe = readdir(d)) != NULL) {
      const char *name = fe->d_name;
      char path[PATH_MAX];
      struct stat st;
      if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
      if (snprintf(path, sizeof path, "%s/%s", sdir, name) >= (int)sizeof path ||
          lstat(path, &st) != 0 || S_ISDIR(st.st_mode))
        continue;
      if (ends_with(name, ".tmp")) {
        if (remove_stale_temp(path) && rep) {
          rep->temps_removed++;
          rep->bytes_freed += (uint64_t)st.st_size;
        }
        continue;
      }
      if (is_artifact_name(name) && strncmp(name, shard, 2) == 0 && S_ISREG(st.st_mode)) {
        char hex[KEY_HEX_LEN + 1], rel[KEY_HEX_LEN + 8];
        uint64_t size;
        uint8_t sum[SUM_LEN];
        memcpy(hex, name, KEY_HEX_LEN);
        hex[KEY_HEX_LEN] = '\0';
        int found = lookup(c, hex, rel, &size, sum);
        if (found == SQLITE_ROW) continue;
        if (found != SQLITE_DONE) {
          rc = found;
          break;
        }
      }
      if (unlink(path) == 0 && rep) {
        rep->files_removed++;
        rep->bytes_freed += (uint64_t)st.st_size;
      }
    }
    closedir(d);
  }
  closedir(top);
  return rc;
}

static int reconcile(wh_cache_t *c, wh_cache_gc_report_t *rep, wh_diag_t *d) {
  int err = begin(c, d);
  if (err) return err;
  int rc = reconcile_rows(c, ROWS_CHECK, rep);
  if (rc == SQLITE_OK) rc = reconcile_files(c, rep);
  if (rc == SQLITE_OK) rc = evict(c, NULL, rep);
  if (rc != SQLITE_OK) {
    err = db_error(c, rc, d, "reconciliation failed");
    rollback(c);
    return err;
  }
  return commit(c, d);
}

/* ---- opening ------------------------------------------------------------- */

static wb_anchor_t *anchor_ref(wb_anchor_t *a) {
  atomic_fetch_add(&a->refs, 1);
  return a;
}

static void anchor_unref(wb_anchor_t *a) {
  if (atomic_fetch_sub(&a->refs, 1) != 1) return;
  pthread_mutex_destroy(&a->lock);
  free(a);
}

static void close_db(wh_cache_t *c) {
  for (int i = 0; i < ST__COUNT; i++) {
    sqlite3_finalize(c->st[i]);
    c->st[i] = NULL;
  }
  sqlite3_close(c->db);
  c->db = NULL;
}

/* Runs `sql`, retrying while another process holds a lock the busy
 * handler does not cover (journal-mode changes). */
static int exec_retry(wh_cache_t *c, const char *sql) {
  int rc = SQLITE_BUSY;
  for (int i = 0; i < 200 && (rc == SQLITE_BUSY || rc == SQLITE_LOCKED); i++) {
    rc = exec_sql(c, sql);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) usleep(25000);
  }
  return rc;
}

static int user_version_cb(void *out, int n, char **vals, char **names) {
  *(int *)out = n > 0 && vals[0] ? atoi(vals[0]) : 0;
  return 0;
}

/* Opens the index and brings its schema up; returns a SQLite code. */
static int open_db(wh_cache_t *c) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/index.db", c->dir);
  int rc = sqlite3_open_v2(path, &c->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                               SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
                           NULL);
  if (rc != SQLITE_OK) return rc;
  sqlite3_extended_result_codes(c->db, 0);
  sqlite3_busy_timeout(c->db, WH_CACHE_BUSY_TIMEOUT_MS);
  if ((rc = exec_retry(c, "PRAGMA journal_mode=WAL")) != SQLITE_OK) return rc;
  if ((rc = exec_retry(c, "PRAGMA synchronous=NORMAL")) != SQLITE_OK) return rc;
  if ((rc = exec_retry(c, "BEGIN IMMEDIATE")) != SQLITE_OK) return rc;
  int version = 0;
  rc = sqlite3_exec(c->db, "PRAGMA user_version", user_version_cb, &version, NULL);
  if (rc == SQLITE_OK && version > WH_CACHE_SCHEMA)
    rc = SQLITE_FORMAT; /* a newer wharf's index: leave it to that wharf */
  else if (rc == SQLITE_OK && version != 0 && version != WH_CACHE_SCHEMA)
    /* An older wharf's schema: the cache is disposable, start afresh
     * (reconciliation then removes the orphaned files). */
    rc = exec_sql(c, "DROP TABLE IF EXISTS entries; DROP TABLE IF EXISTS pins;"
                     "DROP TABLE IF EXISTS counters; DROP TABLE IF EXISTS meta;");
  if (rc == SQLITE_OK) rc = exec_sql(c, schema_sql);
  if (rc == SQLITE_OK && version != WH_CACHE_SCHEMA) {
    char sql[128];
    snprintf(sql, sizeof sql,
             "PRAGMA user_version=%d; INSERT OR IGNORE INTO meta VALUES ('created', %lld)",
             WH_CACHE_SCHEMA, (long long)wall_us());
    rc = exec_sql(c, sql);
  }
  if (rc == SQLITE_OK) rc = exec_sql(c, "COMMIT");
  if (rc != SQLITE_OK) rollback(c);
  return rc;
}

/* Records max_bytes, or reads the recorded one when it is 0. */
static int set_bound(wh_cache_t *c, uint64_t max_bytes) {
  char sql[160];
  if (max_bytes != 0) {
    snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO meta VALUES ('max_bytes', %lld)",
             max_bytes == UINT64_MAX ? -1LL : (long long)max_bytes);
    c->max_bytes = max_bytes;
    return exec_retry(c, sql);
  }
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE name = 'max_bytes'", -1,
                              &s, NULL);
  if (rc != SQLITE_OK) return rc;
  c->max_bytes = WH_CACHE_DEFAULT_MAX_BYTES;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    sqlite3_int64 v = sqlite3_column_int64(s, 0);
    c->max_bytes = v < 0 ? UINT64_MAX : (uint64_t)v;
  }
  sqlite3_finalize(s);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static void remove_index_files(const wh_cache_t *c) {
  static const char *const suffix[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/index.db%s", c->dir, suffix[i]);
    unlink(path);
  }
}

wh_cache_t *wh_cache_open(const char *data_dir, uint64_t max_bytes, unsigned flags,
                          wh_diag_t *diag) {
  wh_diag_clear(diag);
  wh_cache_t *c = NULL;
  if (!data_dir || !data_dir[0]) {
    wh_diag_set(diag, WH_EINVAL, -1, "no data directory given for the cache");
    return NULL;
  }
  if (strlen(data_dir) > PATH_MAX - 256) {
    wh_diag_set(diag, WH_EINVAL, -1, "data directory path is too long");
    return NULL;
  }
  c = calloc(1, sizeof *c);
  if (!c) goto nomem;
  pthread_mutex_init(&c->lock, NULL);
  if (!(c->anchor = calloc(1, sizeof *c->anchor))) goto nomem;
  pthread_mutex_init(&c->anchor->lock, NULL);
  c->anchor->cache = c;
  atomic_init(&c->anchor->refs, 1);
  if (asprintf(&c->dir, "%s/cache", data_dir) < 0) {
    c->dir = NULL;
    goto nomem;
  }
  if (wh_fs_mkdir_p(c->dir) != 0) {
    wh_diag_set(diag, WH_EIO, -1, "cannot create the cache directory %s: %s", c->dir,
                strerror(errno));
    goto fail;
  }
  int rc = open_db(c);
  if (rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT) {
    /* A broken index: rebuild it empty; reconciliation below removes the
     * artifacts it no longer knows. */
    close_db(c);
    remove_index_files(c);
    rc = open_db(c);
  }
  if (rc == SQLITE_FORMAT) {
    wh_diag_set(diag, WH_EUNSUPPORTED, -1,
                "the cache index in %s was written by a newer wharf", c->dir);
    goto fail;
  }
  if (rc == SQLITE_OK) rc = set_bound(c, max_bytes);
  if (rc != SQLITE_OK) {
    db_error(c, rc, diag, "cannot open the index");
    goto fail;
  }
  if (!(flags & WH_CACHE_NO_RECONCILE) && reconcile(c, NULL, diag) != 0) goto fail;
  return c;
nomem:
  wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
fail:
  wh_cache_close(c);
  return NULL;
}

void wh_cache_close(wh_cache_t *c) {
  if (!c) return;
  if (c->anchor) { /* waits for a rewrite under way; none starts after */
    pthread_mutex_lock(&c->anchor->lock);
    c->anchor->cache = NULL;
    pthread_mutex_unlock(&c->anchor->lock);
    anchor_unref(c->anchor);
  }
  if (c->db &&
      (c->ntouched || memcmp(&c->pending, &(wh_cache_stats_t){0}, sizeof c->pending) != 0) &&
      begin(c, NULL) == 0)
    commit(c, NULL);
  if (c->db) close_db(c);
  pthread_mutex_destroy(&c->lock);
  free(c->touched);
  free(c->dir);
  free(c);
}

const char *wh_cache_dir(const wh_cache_t *c) { return c->dir; }

void wh_cache_set_log(wh_cache_t *c, wh_cache_log_fn fn, void *user) {
  pthread_mutex_lock(&c->lock);
  c->log_fn = fn;
  c->log_user = user;
  pthread_mutex_unlock(&c->lock);
}

/* ---- loading ------------------------------------------------------------- */

/* Why a load found nothing usable. */
typedef enum miss_why {
  MISS_NONE,    /* no row */
  MISS_GONE,    /* row but no file */
  MISS_CORRUPT, /* the file failed a check */
} miss_why_t;

/* An artifact file read into memory; `blob` and `len` point at its blob. */
typedef struct artifact {
  uint8_t *base; /* the whole file: the thread's read buffer, or malloc'ed */
  bool owned;    /* base is malloc'ed (larger than READ_BUF_MAX) */
  const uint8_t *blob;
  size_t len;
} artifact_t;

/* Each thread reads artifacts into a buffer of its own that it keeps
 * (up to READ_BUF_MAX; larger files get a malloc of their own): a fresh
 * buffer per load would fault in every page of it again, which cost more
 * than the read itself on a daemon restart.  Freed at thread exit. */
#define READ_BUF_MAX (32u << 20)

typedef struct read_buf {
  uint8_t *p;
  size_t cap;
} read_buf_t;

static pthread_key_t read_buf_key;
static pthread_once_t read_buf_once = PTHREAD_ONCE_INIT;

static void read_buf_free(void *v) {
  read_buf_t *b = v;
  free(b->p);
  free(b);
}

static void read_buf_init(void) { pthread_key_create(&read_buf_key, read_buf_free); }

/* A buffer of `size` bytes for this thread's artifact reads, or NULL. */
static uint8_t *read_buf(size_t size, bool *owned) {
  *owned = size > READ_BUF_MAX;
  if (*owned) return malloc(size);
  pthread_once(&read_buf_once, read_buf_init);
  read_buf_t *b = pthread_getspecific(read_buf_key);
  if (!b) {
    if (!(b = calloc(1, sizeof *b))) return NULL;
    if (pthread_setspecific(read_buf_key, b) != 0) {
      free(b);
      return NULL;
    }
  }
  if (b->cap < size) {
    size_t cap = b->cap ? b->cap : 256u << 10;
    while (cap < size) cap *= 2;
    uint8_t *p = malloc(cap);
    if (!p) return NULL;
    free(b->p);
    b->p = p;
    b->cap = cap;
  }
  return b->p;
}

static void release_artifact(artifact_t *a) {
  if (a->owned) free(a->base);
  memset(a, 0, sizeof *a);
}

/* Reads and checks key's artifact: 0 with `a` filled (release_artifact it)
 * and `sum` the row's checksum; WH_ENOTFOUND with *why set; WH_ENOMEM,
 * WH_EBUSY, WH_EIO on errors (diag filled).  The lock is taken only for
 * the lookup. */
static int read_artifact(wh_cache_t *c, const wh_cache_key_t *k, artifact_t *a,
                         uint8_t sum[SUM_LEN], miss_why_t *why, char *reason,
                         size_t reason_len, wh_diag_t *d) {
  char rel[KEY_HEX_LEN + 8], want[KEY_HEX_LEN + 8], path[PATH_MAX];
  uint64_t size = 0;
  uint8_t got[SUM_LEN];
  int fd = -1, err = WH_ENOTFOUND;
  struct stat st;

  memset(a, 0, sizeof *a);
  *why = MISS_NONE;
  pthread_mutex_lock(&c->lock);
  int found = lookup(c, k->hex, rel, &size, sum);
  if (found != SQLITE_ROW && found != SQLITE_DONE) err = db_error(c, found, d, "lookup failed");
  pthread_mutex_unlock(&c->lock);
  if (found != SQLITE_ROW) return err;

  *why = MISS_CORRUPT;
  rel_path(want, k->hex);
  if (strcmp(rel, want) != 0) {
    snprintf(reason, reason_len, "its index row names another path");
    goto fail;
  }
  abs_path(c, path, rel);
  fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) {
      *why = MISS_GONE;
      snprintf(reason, reason_len, "its file is missing");
    } else { /* EACCES, EMFILE, ...: not the artifact's fault */
      err = wh_diag_set(d, WH_EIO, -1, "cannot open %s: %s", path, strerror(errno));
      *why = MISS_NONE;
    }
    goto fail;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size ||
      size < WH_CACHE_HDR || size > SIZE_MAX) {
    snprintf(reason, reason_len, "its size is %lld bytes, the index says %llu",
             (long long)st.st_size, (unsigned long long)size);
    goto fail;
  }
  /* read(2) into the thread's buffer, not mmap: measured, a mapping's
   * page faults and first-touch misses cost more than the copy
   * (docs/CACHE.md, "Performance"). */
  if (!(a->base = read_buf((size_t)size, &a->owned))) {
    err = wh_diag_set(d, WH_ENOMEM, -1, "out of memory");
    *why = MISS_NONE;
    goto fail;
  }
  if (wh_fs_read_all(fd, a->base, (size_t)size) != 0) {
    snprintf(reason, reason_len, "cannot read it: %s", strerror(errno));
    goto fail;
  }
  close(fd);
  fd = -1;
  const uint8_t *hdr = a->base;
  uint64_t n = get_le64(hdr + 56);
  if (memcmp(hdr, WH_CACHE_FILE_MAGIC, 8) != 0 ||
      get_le32(hdr + 8) != WH_CACHE_FILE_VERSION || hdr[12] != k->kind ||
      hdr[13] | hdr[14] | hdr[15] || memcmp(hdr + 16, k->digest, 32) != 0 ||
      memcmp(hdr + 48, k->variant, 8) != 0 || n != size - WH_CACHE_HDR) {
    snprintf(reason, reason_len, "its header does not match its key or version");
    goto fail;
  }
  put_le64(got, wh__sum64(hdr + WH_CACHE_HDR, (size_t)n));
  if (memcmp(got, sum, SUM_LEN) != 0) {
    snprintf(reason, reason_len, "its checksum does not match the index");
    goto fail;
  }
  a->blob = hdr + WH_CACHE_HDR;
  a->len = (size_t)n;
  *why = MISS_NONE;
  return 0;
fail:
  release_artifact(a);
  if (fd >= 0) close(fd);
  return err;
}

/* Drops key's entry if its row still has checksum `sum` (another process
 * may have replaced it meanwhile); counts a corrupt drop if it did. */
static void drop_if_same(wh_cache_t *c, const wh_cache_key_t *k, const uint8_t sum[SUM_LEN],
                         const char *reason) {
  char rel[KEY_HEX_LEN + 8];
  uint64_t size;
  uint8_t now[SUM_LEN];
  bool dropped = false;
  int err = 0;
  pthread_mutex_lock(&c->lock);
  if (begin(c, NULL) == 0) {
    int found = lookup(c, k->hex, rel, &size, now);
    if (found == SQLITE_ROW && memcmp(now, sum, SUM_LEN) == 0 &&
        remove_entry(c, k->hex, rel) == SQLITE_OK) {
      c->session.corrupt_drops++;
      c->pending.corrupt_drops++;
      dropped = true;
    }
    err = commit(c, NULL);
  } else {
    err = WH_EBUSY;
  }
  if (err) {
    c->session.errors++;
    c->pending.errors++;
  }
  pthread_mutex_unlock(&c->lock);
  if (dropped)
    emit(c, WH_ECORRUPT, "cache: dropped artifact %s: %s", k->hex, reason);
  else if (err)
    emit(c, err, "cache: could not drop unsound artifact %s (%s): %s", k->hex, reason,
         wh_strerror(err));
}

/* Counts a hit: the counters now; the entry's hits and last_used are
 * noted in memory and written by the next write transaction (begin), which
 * this starts itself once TOUCH_BATCH hits or TOUCH_DELAY_NS have piled
 * up.  So a load writes nothing to the index in the common case. */
static void touch(wh_cache_t *c, const wh_cache_key_t *k, uint64_t load_ns) {
  pthread_mutex_lock(&c->lock);
  c->session.hits++;
  c->pending.hits++;
  c->session.load_ns += load_ns;
  c->pending.load_ns += load_ns;
  if (!c->touched) c->touched = malloc(TOUCH_BATCH * sizeof *c->touched);
  if (c->touched && c->ntouched < TOUCH_BATCH) {
    uint64_t now = mono_ns();
    if (c->ntouched == 0) c->touched_ns = now;
    memcpy(c->touched[c->ntouched++], k->hex, KEY_HEX_LEN + 1);
    if (c->ntouched < TOUCH_BATCH && now - c->touched_ns < TOUCH_DELAY_NS) {
      pthread_mutex_unlock(&c->lock);
      return;
    }
  } /* else out of memory: this hit's recency is lost, which is harmless */
  if (begin(c, NULL) != 0 || commit(c, NULL) != 0) {
    c->session.errors++;
    c->pending.errors++;
  }
  pthread_mutex_unlock(&c->lock);
}

static void count_miss(wh_cache_t *c) {
  pthread_mutex_lock(&c->lock);
  c->session.misses++;
  c->pending.misses++;
  pthread_mutex_unlock(&c->lock);
}

static void count_error(wh_cache_t *c, int code, const char *what, const wh_diag_t *d) {
  pthread_mutex_lock(&c->lock);
  c->session.errors++;
  c->pending.errors++;
  pthread_mutex_unlock(&c->lock);
  emit(c, code, "cache: %s: %s", what, d && d->msg[0] ? d->msg : wh_strerror(code));
}

int wh_cache_get(wh_cache_t *c, const wh_cache_key_t *k, uint8_t **blob, size_t *len,
                 wh_diag_t *diag) {
  uint8_t sum[SUM_LEN];
  char reason[160] = "";
  miss_why_t why;
  artifact_t a;
  wh_diag_clear(diag);
  *blob = NULL;
  *len = 0;
  uint64_t t0 = mono_ns();
  int rc = read_artifact(c, k, &a, sum, &why, reason, sizeof reason, diag);
  if (rc == 0) {
    uint8_t *p = malloc(a.len ? a.len : 1);
    if (!p) {
      release_artifact(&a);
      return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    }
    memcpy(p, a.blob, a.len);
    *blob = p;
    *len = a.len;
    release_artifact(&a);
    touch(c, k, mono_ns() - t0);
    return 0;
  }
  if (rc != WH_ENOTFOUND) return rc;
  if (why != MISS_NONE) drop_if_same(c, k, sum, reason);
  count_miss(c);
  return WH_ENOTFOUND;
}

int wh_cache_reject(wh_cache_t *c, const wh_cache_key_t *k, wh_diag_t *diag) {
  char rel[KEY_HEX_LEN + 8];
  uint64_t size;
  uint8_t sum[SUM_LEN];
  wh_diag_clear(diag);
  pthread_mutex_lock(&c->lock);
  int err = begin(c, diag);
  if (err == 0) {
    int found = lookup(c, k->hex, rel, &size, sum);
    int rc = found == SQLITE_ROW    ? remove_entry(c, k->hex, rel)
             : found == SQLITE_DONE ? SQLITE_OK
                                    : found;
    if (found == SQLITE_ROW && rc == SQLITE_OK) {
      c->session.corrupt_drops++;
      c->pending.corrupt_drops++;
    }
    if (rc != SQLITE_OK) {
      err = db_error(c, rc, diag, "cannot drop an entry");
      rollback(c);
    } else {
      err = commit(c, diag);
    }
  }
  pthread_mutex_unlock(&c->lock);
  return err;
}

/* ---- storing ------------------------------------------------------------- */

/* Creates and flocks a temp file beside key's artifact.  Returns the fd,
 * or -1 with errno set.  `tmp` receives its path. */
static int make_temp(wh_cache_t *c, const char *hex, char tmp[PATH_MAX]) {
  char sdir[PATH_MAX];
  snprintf(sdir, sizeof sdir, "%s/%.2s", c->dir, hex);
  if (mkdir(sdir, 0700) == 0) wh_fs_fsync_dir(c->dir);
  else if (errno != EEXIST) return -1;
  for (int tries = 0; tries < 8; tries++) {
    if (snprintf(tmp, PATH_MAX, "%s/%s.XXXXXX.tmp", sdir, hex) >= PATH_MAX) {
      errno = ENAMETOOLONG;
      return -1;
    }
    int fd = mkostemps(tmp, 4, O_CLOEXEC);
    if (fd < 0) return -1;
    struct stat st;
    /* A reconciler that saw it before our lock may have removed it: the
     * link count tells; make another. */
    if (flock(fd, LOCK_EX) == 0 && fstat(fd, &st) == 0 && st.st_nlink > 0) return fd;
    close(fd);
  }
  errno = EAGAIN;
  return -1;
}

/* Writes the artifact file for `k` and `blob`; fills the blob's checksum. */
static int write_temp(int fd, const wh_cache_key_t *k, const uint8_t *blob, size_t len,
                      uint8_t sum[SUM_LEN]) {
  uint8_t hdr[WH_CACHE_HDR] = {0};
  memcpy(hdr, WH_CACHE_FILE_MAGIC, 8);
  put_le32(hdr + 8, WH_CACHE_FILE_VERSION);
  hdr[12] = k->kind;
  memcpy(hdr + 16, k->digest, 32);
  memcpy(hdr + 48, k->variant, 8);
  put_le64(hdr + 56, len);
  put_le64(sum, wh__sum64(blob, len));
  if (wh_fs_write_all(fd, hdr, sizeof hdr) != 0 || wh_fs_write_all(fd, blob, len) != 0 || fsync(fd) != 0)
    return -1;
  return 0;
}

/* wh_cache_put, and the rewrite of an entry (`expect` not NULL): then the
 * artifact replaces the entry only if its row still holds checksum
 * `expect` (the blob it was loaded from or stored as), keeping its
 * created, hits and pins; an entry that is gone or was replaced meanwhile
 * is left as it is (0, nothing written to it).  Same path either way: temp
 * file, rename and row under the write lock. */
static int store(wh_cache_t *c, const wh_cache_key_t *k, const uint8_t *blob, size_t len,
                 const uint8_t *expect, wh_diag_t *diag) {
  char tmp[PATH_MAX], rel[KEY_HEX_LEN + 8], path[PATH_MAX], old_rel[KEY_HEX_LEN + 8];
  char sdir[PATH_MAX];
  uint8_t sum[SUM_LEN], old_sum[SUM_LEN];
  uint64_t old_size;
  struct stat st;
  sqlite3_stmt *s;
  int fd = -1, err = 0, rc;
  bool renamed = false, locked = false;

  wh_diag_clear(diag);
  pthread_mutex_lock(&c->lock);
  uint64_t bound = c->max_bytes;
  pthread_mutex_unlock(&c->lock);
  if (bound != UINT64_MAX && (uint64_t)len + WH_CACHE_HDR > bound) return 0;

  tmp[0] = '\0';
  fd = make_temp(c, k->hex, tmp);
  if (fd < 0) {
    err = wh_diag_set(diag, WH_EIO, -1, "cannot create a temp file in %s: %s", c->dir,
                      strerror(errno));
    goto fail;
  }
  if (write_temp(fd, k, blob, len, sum) != 0) {
    err = wh_diag_set(diag, errno == ENOMEM ? WH_ENOMEM : WH_EIO, -1,
                      "cannot write %s: %s", tmp, strerror(errno));
    goto fail;
  }
  rel_path(rel, k->hex);
  abs_path(c, path, rel);

  pthread_mutex_lock(&c->lock);
  locked = true;
  if ((err = begin(c, diag)) != 0) goto fail;
  rc = lookup(c, k->hex, old_rel, &old_size, old_sum);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) goto db_fail;
  if (expect ? rc != SQLITE_ROW || memcmp(old_sum, expect, SUM_LEN) != 0
             : rc == SQLITE_ROW && strcmp(old_rel, rel) == 0 && lstat(path, &st) == 0 &&
                   S_ISREG(st.st_mode) && (uint64_t)st.st_size == old_size) {
    /* Someone stored it first (a concurrent compile of the same bytes),
     * or the entry to rewrite is gone or was replaced. */
    err = commit(c, diag);
    goto fail;
  }
  if (rename(tmp, path) != 0) {
    err = wh_diag_set(diag, WH_EIO, -1, "cannot rename %s: %s", tmp, strerror(errno));
    rollback(c);
    goto fail;
  }
  renamed = true;
  tmp[0] = '\0';
  snprintf(sdir, sizeof sdir, "%s/%.2s", c->dir, k->hex);
  if (wh_fs_fsync_dir(sdir) != 0) {
    err = wh_diag_set(diag, WH_EIO, -1, "cannot fsync %s: %s", sdir, strerror(errno));
    goto undo;
  }
  s = stmt(c, expect ? ST_REWRITE : ST_INSERT);
  if (!s) {
    rc = SQLITE_ERROR;
    goto db_fail;
  }
  sqlite3_bind_text(s, 1, k->hex, -1, SQLITE_STATIC);
  sqlite3_bind_int(s, 2, k->kind);
  sqlite3_bind_text(s, 3, rel, -1, SQLITE_STATIC);
  sqlite3_bind_int64(s, 4, (sqlite3_int64)(len + WH_CACHE_HDR));
  sqlite3_bind_blob(s, 5, sum, SUM_LEN, SQLITE_STATIC);
  sqlite3_bind_int64(s, 6, next_used(c));
  rc = sqlite3_step(s);
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) goto db_fail;
  c->session.stores++;
  c->pending.stores++;
  if ((rc = evict(c, k->hex, NULL)) != SQLITE_OK) goto db_fail;
  if ((err = commit(c, diag)) != 0) goto undo_committed;
  pthread_mutex_unlock(&c->lock);
  close(fd);
  return 0;

db_fail:
  err = db_error(c, rc, diag, "cannot record an artifact");
undo:
  /* still under the write lock: no one else saw it (a rewrite's old file
   * is gone with it: its row then names a missing file, dropped on load) */
  if (renamed) unlink(path);
  rollback(c);
  goto fail;
undo_committed:
  if (renamed) unlink(path); /* the row was not written */
fail:
  if (locked) pthread_mutex_unlock(&c->lock);
  if (tmp[0]) unlink(tmp);
  if (fd >= 0) close(fd);
  return err;
}

int wh_cache_put(wh_cache_t *c, const wh_cache_key_t *k, const uint8_t *blob, size_t len,
                 wh_diag_t *diag) {
  return store(c, k, blob, len, NULL, diag);
}

/* ---- modules ------------------------------------------------------------- */

/* tier auto (the section "writing native code back" below) */
static void watch_module(wh_cache_t *c, const wh_cache_key_t *k, wh_module_t *m,
                         const uint8_t expect[SUM_LEN]);
static void watch_loaded_component(wh_cache_t *c, const wh_cache_key_t *k,
                                   wh_module_t *const *mods, uint32_t n, const uint8_t *meta,
                                   size_t meta_len, const uint8_t expect[SUM_LEN]);

/* The load half of wh_cache_get_module_keyed: 0 with *out on a hit
 * (counted); WH_ENOTFOUND when nothing usable is stored (an unsound
 * artifact is dropped and counted; the miss is not: the caller counts it
 * if it compiles); WH_ENOMEM; or the cache's trouble (WH_EBUSY, WH_EIO),
 * counted as an error and told to the log. */
static int load_module(wh_cache_t *c, wh_engine_t *e, const wh_cache_key_t *k,
                       wh_module_t **out, wh_diag_t *diag) {
  uint8_t sum[SUM_LEN];
  char reason[300] = "";
  miss_why_t why;
  wh_diag_t d2;
  artifact_t a;

  *out = NULL;
  uint64_t t0 = mono_ns();
  int rc = read_artifact(c, k, &a, sum, &why, reason, sizeof reason, &d2);
  if (rc == 0) {
    /* read_artifact checked the blob's checksum: one check per load */
    wh_module_t *m = wh__module_deserialize_verified(e, a.blob, a.len, &d2);
    release_artifact(&a);
    if (m) {
      touch(c, k, mono_ns() - t0);
      watch_module(c, k, m, sum); /* an artifact stored without native code */
      *out = m;
      return 0;
    }
    if (d2.code == WH_ENOMEM) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    snprintf(reason, sizeof reason, "the engine rejected it: %s", d2.msg);
    drop_if_same(c, k, sum, reason);
    return WH_ENOTFOUND;
  }
  if (rc == WH_ENOMEM) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  if (rc != WH_ENOTFOUND) {
    count_error(c, rc, "lookup failed", &d2);
    return wh_diag_set(diag, rc, -1, "%s", d2.msg);
  }
  if (why != MISS_NONE) drop_if_same(c, k, sum, reason);
  return WH_ENOTFOUND;
}

int wh_cache_load_module(wh_cache_t *c, wh_engine_t *e, const wh_cache_key_t *k,
                         wh_module_t **out, wh_diag_t *diag) {
  wh_diag_clear(diag);
  *out = NULL;
  if (k->kind != WH_CACHE_KIND_MODULE)
    return wh_diag_set(diag, WH_EINVAL, -1, "not a module key");
  return load_module(c, e, k, out, diag);
}

int wh_cache_get_module_keyed(wh_cache_t *c, wh_engine_t *e, const wh_cache_key_t *k,
                              const uint8_t *bytes, size_t len, wh_module_t **out,
                              bool *hit, wh_diag_t *diag) {
  uint8_t *blob = NULL;
  size_t blen = 0;
  wh_diag_t d2;
  wh_module_t *m = NULL;

  *out = NULL;
  if (hit) *hit = false;
  wh_diag_clear(diag);
  int rc = load_module(c, e, k, &m, &d2);
  if (rc == 0) {
    *out = m;
    if (hit) *hit = true;
    return 0;
  }
  if (rc == WH_ENOMEM) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  /* a miss, or cache trouble (counted): compile without it */
  count_miss(c);

  wh_diag_t local;
  if (!diag) diag = &local; /* keep wh_module_new's code */
  uint64_t t1 = mono_ns();
  m = wh_module_new(e, bytes, len, diag);
  uint64_t dt = mono_ns() - t1;
  pthread_mutex_lock(&c->lock);
  c->session.compiles++;
  c->pending.compiles++;
  c->session.compile_ns += dt;
  c->pending.compile_ns += dt;
  pthread_mutex_unlock(&c->lock);
  if (!m) return diag->code ? diag->code : WH_EINVALID;

  /* tier auto: a compile still running now is not in the artifact */
  bool compiling = wh__native_tierup_state(m) == WH_TIERUP_RUNNING;
  rc = wh_module_serialize(m, &blob, &blen);
  if (rc == 0) rc = wh_cache_put(c, k, blob, blen, &d2);
  else wh_diag_set(&d2, rc, -1, "cannot serialize the module");
  if (rc == 0 && compiling) {
    uint8_t sum[SUM_LEN];
    put_le64(sum, wh__sum64(blob, blen));
    watch_module(c, k, m, sum);
  }
  free(blob);
  if (rc != 0) count_error(c, rc, "cannot store an artifact", &d2);
  *out = m;
  return 0;
}

int wh_cache_get_module(wh_cache_t *c, wh_engine_t *e, const uint8_t *bytes, size_t len,
                        wh_module_t **out, bool *hit, wh_diag_t *diag) {
  wh_cache_key_t k;
  *out = NULL;
  if (hit) *hit = false;
  if (wh_cache_key_module(&k, e, bytes, len) != 0)
    return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  return wh_cache_get_module_keyed(c, e, &k, bytes, len, out, hit, diag);
}

void wh_cache_count_compile(wh_cache_t *c, uint64_t ns) {
  pthread_mutex_lock(&c->lock);
  c->session.compiles++;
  c->pending.compiles++;
  c->session.compile_ns += ns;
  c->pending.compile_ns += ns;
  pthread_mutex_unlock(&c->lock);
}

void wh_cache_count_error(wh_cache_t *c, int code, const char *what, const wh_diag_t *d) {
  count_error(c, code, what, d);
}

/* ---- components ---------------------------------------------------------- */

/* A component's blob (kind COMPONENT), all integers little-endian:
 *
 *   0     8     magic "WHARFCMP"
 *   8     4     version (COMPONENT_BLOB_VERSION)
 *   12    4     n: core modules
 *   16    8     M: metadata length
 *   24    8*n   length of each module's blob
 *   ...         the module blobs (wh_module_serialize), each padded to 8
 *   ...         M bytes of metadata (the component model's, opaque here)
 *
 * The whole artifact is checksummed by the cache, so the module blobs are
 * decoded without their own checksums (wh__module_deserialize_verified). */
#define COMPONENT_BLOB_MAGIC "WHARFCMP"
#define COMPONENT_BLOB_VERSION 1u
#define COMPONENT_MAX_MODULES 100000u

int wh_cache_key_component(wh_cache_key_t *k, const wh_engine_t *e, const uint8_t *bytes,
                           size_t len) {
  uint8_t digest[32];
  if (!sha256(bytes, len, digest)) return WH_ENOMEM;
  wh_cache_key_from_digest(k, digest, wh_engine_fingerprint(e), WH_CACHE_KIND_COMPONENT);
  return 0;
}

/* The blob of a component's artifact: 0 with *blob (malloc'ed) and *len,
 * or an error with diag filled. */
static int component_blob(wh_module_t *const *mods, uint32_t n, const uint8_t *meta,
                          size_t meta_len, uint8_t **blob, size_t *len, wh_diag_t *diag) {
  uint8_t **blobs = NULL, *out = NULL;
  size_t *lens = NULL, total = 24 + 8 * (size_t)n + meta_len;
  int rc = 0;
  *blob = NULL;
  *len = 0;
  blobs = calloc(n + 1, sizeof *blobs);
  lens = calloc(n + 1, sizeof *lens);
  if (!blobs || !lens) goto nomem;
  for (uint32_t i = 0; i < n; i++) {
    if ((rc = wh_module_serialize(mods[i], &blobs[i], &lens[i])) != 0) {
      wh_diag_set(diag, rc, -1, "cannot serialize core module %u", i);
      goto done;
    }
    total += (lens[i] + 7) & ~(size_t)7;
  }
  if (!(out = calloc(1, total))) goto nomem;
  memcpy(out, COMPONENT_BLOB_MAGIC, 8);
  put_le32(out + 8, COMPONENT_BLOB_VERSION);
  put_le32(out + 12, n);
  put_le64(out + 16, meta_len);
  size_t pos = 24 + 8 * (size_t)n;
  for (uint32_t i = 0; i < n; i++) {
    put_le64(out + 24 + 8 * (size_t)i, lens[i]);
    memcpy(out + pos, blobs[i], lens[i]);
    pos += (lens[i] + 7) & ~(size_t)7;
  }
  if (meta_len) memcpy(out + pos, meta, meta_len);
  *blob = out;
  *len = total;
  out = NULL;
  goto done;
nomem:
  rc = wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
done:
  for (uint32_t i = 0; blobs && i < n; i++) free(blobs[i]);
  free(blobs);
  free(lens);
  free(out);
  return rc;
}

static void watch_component(wh_cache_t *c, const wh_cache_key_t *k, wh_module_t *const *mods,
                            uint32_t n, const uint8_t *meta, size_t meta_len,
                            const uint8_t expect[SUM_LEN], const bool *pending);

int wh_cache_put_component(wh_cache_t *c, const wh_cache_key_t *k, wh_module_t *const *mods,
                           uint32_t n, const uint8_t *meta, size_t meta_len, wh_diag_t *diag) {
  uint8_t *blob = NULL, sum[SUM_LEN];
  size_t len = 0;
  bool *pending = NULL, any = false;
  wh_diag_clear(diag);
  if (k->kind != WH_CACHE_KIND_COMPONENT || n > COMPONENT_MAX_MODULES || (meta_len && !meta))
    return wh_diag_set(diag, WH_EINVAL, -1, "not a component key or artifact");
  /* tier auto: the modules still compiling before they are serialized
   * (one whose compile ends later is rewritten into the artifact) */
  if (!(pending = calloc(n + 1, sizeof *pending)))
    return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  for (uint32_t i = 0; i < n; i++)
    any |= pending[i] = wh__native_tierup_state(mods[i]) == WH_TIERUP_RUNNING;
  int rc = component_blob(mods, n, meta, meta_len, &blob, &len, diag);
  if (rc == 0) rc = store(c, k, blob, len, NULL, diag);
  if (rc == 0 && any) {
    put_le64(sum, wh__sum64(blob, len));
    watch_component(c, k, mods, n, meta, meta_len, sum, pending);
  }
  free(blob);
  free(pending);
  return rc;
}

/* Decodes a component blob into modules and metadata: 0, WH_ENOMEM, or
 * WH_ECORRUPT with `reason` filled. */
static int decode_component(wh_engine_t *e, const uint8_t *p, size_t len, wh_module_t ***mods,
                            uint32_t *nmods, uint8_t **meta, size_t *meta_len, char *reason,
                            size_t reason_len) {
  wh_diag_t d;
  if (len < 24 || memcmp(p, COMPONENT_BLOB_MAGIC, 8) != 0 ||
      get_le32(p + 8) != COMPONENT_BLOB_VERSION) {
    snprintf(reason, reason_len, "not a component artifact of this version");
    return WH_ECORRUPT;
  }
  uint32_t n = get_le32(p + 12);
  uint64_t mlen = get_le64(p + 16);
  if (n > COMPONENT_MAX_MODULES || 24 + 8 * (uint64_t)n > len) {
    snprintf(reason, reason_len, "its module count is out of range");
    return WH_ECORRUPT;
  }
  wh_module_t **ms = calloc(n + 1, sizeof *ms);
  if (!ms) return WH_ENOMEM;
  uint64_t pos = 24 + 8 * (uint64_t)n;
  int rc = 0;
  uint32_t i;
  for (i = 0; i < n; i++) {
    uint64_t l = get_le64(p + 24 + 8 * (size_t)i);
    if (l > len - pos) {
      snprintf(reason, reason_len, "core module %u runs past the end", i);
      rc = WH_ECORRUPT;
      break;
    }
    ms[i] = wh__module_deserialize_verified(e, p + pos, (size_t)l, &d);
    if (!ms[i]) {
      snprintf(reason, reason_len, "the engine rejected core module %u: %s", i, d.msg);
      rc = d.code == WH_ENOMEM ? WH_ENOMEM : WH_ECORRUPT;
      break;
    }
    pos += (l + 7) & ~(uint64_t)7;
    if (pos > len) pos = len + 1; /* padding past the end: caught below */
  }
  if (rc == 0 && (pos > len || mlen != len - pos)) {
    snprintf(reason, reason_len, "its metadata length does not add up");
    rc = WH_ECORRUPT;
  }
  uint8_t *mcopy = NULL;
  if (rc == 0 && !(mcopy = malloc(mlen ? (size_t)mlen : 1))) rc = WH_ENOMEM;
  if (rc) {
    for (uint32_t j = 0; j < n; j++) wh_module_free(ms[j]);
    free(ms);
    return rc;
  }
  if (mlen) memcpy(mcopy, p + pos, (size_t)mlen);
  *mods = ms;
  *nmods = n;
  *meta = mcopy;
  *meta_len = (size_t)mlen;
  return 0;
}

int wh_cache_get_component(wh_cache_t *c, wh_engine_t *e, const wh_cache_key_t *k,
                           wh_module_t ***mods, uint32_t *n, uint8_t **meta, size_t *meta_len,
                           wh_diag_t *diag) {
  uint8_t sum[SUM_LEN];
  char reason[300] = "";
  miss_why_t why;
  artifact_t a;
  *mods = NULL;
  *n = 0;
  *meta = NULL;
  *meta_len = 0;
  wh_diag_clear(diag);
  if (k->kind != WH_CACHE_KIND_COMPONENT)
    return wh_diag_set(diag, WH_EINVAL, -1, "not a component key");
  uint64_t t0 = mono_ns();
  int rc = read_artifact(c, k, &a, sum, &why, reason, sizeof reason, diag);
  if (rc == 0) {
    rc = decode_component(e, a.blob, a.len, mods, n, meta, meta_len, reason, sizeof reason);
    release_artifact(&a);
    if (rc == 0) {
      touch(c, k, mono_ns() - t0);
      watch_loaded_component(c, k, *mods, *n, *meta, *meta_len, sum);
      return 0;
    }
    if (rc == WH_ENOMEM) return wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    drop_if_same(c, k, sum, reason);
  } else if (rc != WH_ENOTFOUND) {
    return rc;
  } else if (why != MISS_NONE) {
    drop_if_same(c, k, sum, reason);
  }
  count_miss(c);
  return WH_ENOTFOUND;
}

/* ---- writing native code back (tier auto) ----------------------------------
 *
 * A module of a tier-auto engine that comes from the cache (a hit whose
 * artifact has no native part) or goes into it (a miss stored while its
 * compile runs) is watched (wh__native_tierup_watch): when its background
 * compile ends, on the compile's thread, its artifact is made again with
 * the native code, or with the reason the tier refused the module, and
 * replaces the entry through store() -- if the entry's checksum is still
 * the one the module was loaded from or stored as (otherwise someone else
 * replaced it, or it is gone, and it is left alone).
 *
 * A component's artifact holds several modules: one group watches them
 * all and rewrites the artifact when the last of those that compile has
 * ended.  Every module of the group is watched, compiling or not, so that
 * freeing any of them (fini) stops the group before a rewrite could read a
 * freed module: the rewrite runs under the group's lock, and fini takes it.
 *
 * Lifetimes: a watch owns its wb_module_t / a reference on its group, and
 * they own a reference on the cache's anchor, never the cache; all of it
 * is freed from wh_module_free (fini), and nothing is written once
 * wh_cache_close has detached the anchor.  Lock order: group lock, anchor
 * lock, c->lock.
 *
 * Failures: a compile that failed for a reason that may pass (anything
 * but WH_EUNSUPPORTED, e.g. out of memory) is not stored, so the next
 * load tries again; cache errors are counted and logged, never reported.
 */

/* A compile result worth storing: native code, or a refusal that the
 * next compile of the same module would repeat. */
static bool worth_storing(int rc) { return rc == 0 || rc == WH_EUNSUPPORTED; }

/* Replaces k's entry by `blob` if the cache is still open and the entry
 * still has checksum `expect`.  `serr` is the serializer's error, if any
 * (then only counted). */
static void rewrite(wb_anchor_t *a, const wh_cache_key_t *k, const uint8_t *blob, size_t len,
                    int serr, const uint8_t expect[SUM_LEN]) {
  wh_diag_t d;
  char what[160];
  pthread_mutex_lock(&a->lock);
  wh_cache_t *c = a->cache;
  if (c) {
    int err = serr ? wh_diag_set(&d, serr, -1, "cannot serialize it: %s", wh_strerror(serr))
                   : store(c, k, blob, len, expect, &d);
    if (err) {
      snprintf(what, sizeof what, "cannot rewrite artifact %s with its native code", k->hex);
      count_error(c, err, what, &d);
    }
  }
  pthread_mutex_unlock(&a->lock);
}

typedef struct wb_module {
  wb_anchor_t *anchor;
  wh_cache_key_t key;
  uint8_t expect[SUM_LEN];
} wb_module_t;

static void wb_module_done(wh_module_t *m, int rc, void *arg) {
  wb_module_t *w = arg;
  uint8_t *blob = NULL;
  size_t len = 0;
  if (!worth_storing(rc)) return;
  int serr = wh_module_serialize(m, &blob, &len);
  rewrite(w->anchor, &w->key, blob, len, serr, w->expect);
  free(blob);
}

static void wb_module_fini(void *arg) {
  wb_module_t *w = arg;
  anchor_unref(w->anchor);
  free(w);
}

/* Watches m, whose entry under k has checksum `expect` and lacks m's
 * compile result (the caller checked that m has a tier-up, before it
 * serialized m for a store).  A compile that has ended by now is written
 * from a thread of the job (a "late" watch), not from the caller's. */
static void watch_module(wh_cache_t *c, const wh_cache_key_t *k, wh_module_t *m,
                         const uint8_t expect[SUM_LEN]) {
  if (wh__native_tierup_state(m) == WH_TIERUP_NONE) return;
  wb_module_t *w = calloc(1, sizeof *w);
  if (!w) return; /* the entry stays as it is */
  w->anchor = anchor_ref(c->anchor);
  w->key = *k;
  memcpy(w->expect, expect, SUM_LEN);
  wh_tierup_watch_t tw = {wb_module_done, wb_module_fini, w};
  if (wh__native_tierup_watch(m, &tw, true) < 0) wb_module_fini(w);
}

typedef struct wb_group {
  pthread_mutex_t lock;   /* guards everything below; held for a rewrite */
  wb_anchor_t *anchor;
  wh_cache_key_t key;
  uint8_t expect[SUM_LEN];
  wh_module_t **mods;     /* borrowed: alive until their fini */
  uint32_t n;
  uint8_t *meta;          /* copied */
  size_t meta_len;
  uint32_t pending;       /* watched compiles not ended yet */
  uint32_t refs;          /* watches not finished, + 1 while registering */
  bool off;               /* never rewrite: a module is gone, a watch
                           * failed, or a compile failed transiently */
} wb_group_t;

static void group_unref_locked(wb_group_t *g) {
  bool last = --g->refs == 0;
  pthread_mutex_unlock(&g->lock);
  if (!last) return;
  anchor_unref(g->anchor);
  pthread_mutex_destroy(&g->lock);
  free(g->mods);
  free(g->meta);
  free(g);
}

static void wb_group_done(wh_module_t *m, int rc, void *arg) {
  wb_group_t *g = arg;
  (void)m;
  pthread_mutex_lock(&g->lock);
  if (!worth_storing(rc)) g->off = true;
  if (--g->pending == 0 && !g->off) {
    uint8_t *blob = NULL;
    size_t len = 0;
    wh_diag_t d;
    int serr = component_blob(g->mods, g->n, g->meta, g->meta_len, &blob, &len, &d);
    rewrite(g->anchor, &g->key, blob, len, serr, g->expect);
    free(blob);
  }
  pthread_mutex_unlock(&g->lock);
}

static void wb_group_fini(void *arg) {
  wb_group_t *g = arg;
  pthread_mutex_lock(&g->lock);
  g->off = true; /* one of its modules is being freed */
  group_unref_locked(g);
}

/* Watches a component's modules (stored under k with checksum `expect`);
 * pending[i]: module i's compile result is not in that artifact. */
static void watch_component(wh_cache_t *c, const wh_cache_key_t *k, wh_module_t *const *mods,
                            uint32_t n, const uint8_t *meta, size_t meta_len,
                            const uint8_t expect[SUM_LEN], const bool *pending) {
  wb_group_t *g = calloc(1, sizeof *g);
  if (!g) return;
  g->mods = malloc((n ? n : 1) * sizeof *g->mods);
  g->meta = malloc(meta_len ? meta_len : 1);
  if (!g->mods || !g->meta) {
    free(g->mods);
    free(g->meta);
    free(g);
    return;
  }
  memcpy(g->mods, mods, n * sizeof *mods);
  if (meta_len) memcpy(g->meta, meta, meta_len);
  g->n = n;
  g->meta_len = meta_len;
  g->key = *k;
  memcpy(g->expect, expect, SUM_LEN);
  g->anchor = anchor_ref(c->anchor);
  pthread_mutex_init(&g->lock, NULL);
  /* Registering under the lock: a compile ending meanwhile waits for it. */
  pthread_mutex_lock(&g->lock);
  g->refs = 1;
  for (uint32_t i = 0; i < n; i++) {
    wh_tierup_watch_t tw = {pending[i] ? wb_group_done : NULL, wb_group_fini, g};
    int rc = wh__native_tierup_watch(mods[i], &tw, true);
    if (rc < 0) g->off = true;
    else g->refs++;
    if (pending[i] && rc == 1) g->pending++;
    else if (pending[i]) g->off = true; /* it will never say it ended */
  }
  group_unref_locked(g);
}

/* After a component hit: watches its modules if any of them compiles. */
static void watch_loaded_component(wh_cache_t *c, const wh_cache_key_t *k,
                                   wh_module_t *const *mods, uint32_t n, const uint8_t *meta,
                                   size_t meta_len, const uint8_t expect[SUM_LEN]) {
  uint32_t i = 0;
  while (i < n && wh__native_tierup_state(mods[i]) == WH_TIERUP_NONE) i++;
  if (i == n) return; /* the common case: nothing compiles */
  bool *pending = calloc(n, sizeof *pending);
  if (!pending) return;
  for (i = 0; i < n; i++) pending[i] = wh__native_tierup_state(mods[i]) != WH_TIERUP_NONE;
  watch_component(c, k, mods, n, meta, meta_len, expect, pending);
  free(pending);
}

/* ---- pinning ------------------------------------------------------------- */

/* One pin statement: binds a (and b), and the time for ST_PIN. */
static int pin_step(wh_cache_t *c, int which, const char *a, const char *b) {
  sqlite3_stmt *s = stmt(c, which);
  if (!s) return sqlite3_errcode(c->db);
  sqlite3_bind_text(s, 1, a, -1, SQLITE_STATIC);
  if (b) sqlite3_bind_text(s, 2, b, -1, SQLITE_STATIC);
  if (which == ST_PIN) sqlite3_bind_int64(s, 3, wall_us());
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Every pin change, in one transaction: first `drop` (ST_UNPIN with key
 * a and holder b, ST_UNPIN_HOLDER with holder a, ST_UNPIN_PREFIX with
 * prefix a; -1 for none), then keys[i] pinned for holders[i], i < n. */
static int pin_txn(wh_cache_t *c, int drop, const char *a, const char *b, size_t n,
                   const char *const *holders, const wh_cache_key_t *keys, wh_diag_t *diag) {
  wh_diag_clear(diag);
  bool named = drop < 0 || (drop == ST_UNPIN ? b : a) != NULL;
  for (size_t i = 0; named && i < n; i++) named = holders[i] != NULL;
  if (!named) return wh_diag_set(diag, WH_EINVAL, -1, "a pin needs a holder name");
  pthread_mutex_lock(&c->lock);
  int err = begin(c, diag);
  if (err == 0) {
    int rc = drop < 0 ? SQLITE_OK : pin_step(c, drop, a, b);
    for (size_t i = 0; rc == SQLITE_OK && i < n; i++)
      rc = pin_step(c, ST_PIN, keys[i].hex, holders[i]);
    if (rc != SQLITE_OK) {
      err = db_error(c, rc, diag, "cannot change a pin");
      rollback(c);
    } else {
      err = commit(c, diag);
    }
  }
  pthread_mutex_unlock(&c->lock);
  return err;
}

int wh_cache_pin(wh_cache_t *c, const wh_cache_key_t *k, const char *holder,
                 wh_diag_t *diag) {
  return pin_txn(c, -1, NULL, NULL, 1, &holder, k, diag);
}

int wh_cache_unpin(wh_cache_t *c, const wh_cache_key_t *k, const char *holder,
                   wh_diag_t *diag) {
  return pin_txn(c, ST_UNPIN, k->hex, holder, 0, NULL, NULL, diag);
}

int wh_cache_unpin_holder(wh_cache_t *c, const char *holder, wh_diag_t *diag) {
  return pin_txn(c, ST_UNPIN_HOLDER, holder, NULL, 0, NULL, NULL, diag);
}

int wh_cache_repin(wh_cache_t *c, const char *holder, const wh_cache_key_t *k, wh_diag_t *diag) {
  return pin_txn(c, ST_UNPIN_HOLDER, holder, NULL, k ? 1 : 0, &holder, k, diag);
}

int wh_cache_repin_all(wh_cache_t *c, const char *prefix, size_t n, const char *const *holders,
                       const wh_cache_key_t *keys, wh_diag_t *diag) {
  return pin_txn(c, ST_UNPIN_PREFIX, prefix, NULL, n, holders, keys, diag);
}

/* ---- maintenance --------------------------------------------------------- */

int wh_cache_gc(wh_cache_t *c, wh_cache_gc_report_t *report, wh_diag_t *diag) {
  wh_cache_gc_report_t rep = {0};
  wh_diag_clear(diag);
  pthread_mutex_lock(&c->lock);
  int err = reconcile(c, &rep, diag);
  pthread_mutex_unlock(&c->lock);
  if (report) *report = rep;
  return err;
}

int wh_cache_clear(wh_cache_t *c, bool include_pinned, wh_cache_gc_report_t *report,
                   wh_diag_t *diag) {
  wh_cache_gc_report_t rep = {0};
  wh_diag_clear(diag);
  pthread_mutex_lock(&c->lock);
  int err = begin(c, diag);
  if (err == 0) {
    int rc = reconcile_rows(c, include_pinned ? ROWS_CLEAR_ALL : ROWS_CLEAR_UNPINNED, &rep);
    if (rc == SQLITE_OK && include_pinned) rc = exec_sql(c, "DELETE FROM pins");
    if (rc == SQLITE_OK) rc = reconcile_files(c, &rep);
    if (rc != SQLITE_OK) {
      err = db_error(c, rc, diag, "cannot clear the cache");
      rollback(c);
    } else {
      err = commit(c, diag);
    }
  }
  pthread_mutex_unlock(&c->lock);
  if (report) *report = rep;
  return err;
}

static int read_counters(wh_cache_t *c, wh_cache_stats_t *t) {
  sqlite3_stmt *s;
  int rc = sqlite3_prepare_v2(c->db, "SELECT name, value FROM counters", -1, &s, NULL);
  if (rc != SQLITE_OK) return rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    const char *name = (const char *)sqlite3_column_text(s, 0);
    uint64_t v = (uint64_t)sqlite3_column_int64(s, 1);
    if (!name) continue;
#define PICK(n) if (strcmp(name, #n) == 0) t->n = v;
    COUNTERS(PICK)
#undef PICK
  }
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int wh_cache_stats(wh_cache_t *c, wh_cache_stats_t *session, wh_cache_stats_t *total,
                   wh_diag_t *diag) {
  wh_cache_stats_t now = {0}, tot = {0};
  wh_diag_clear(diag);
  pthread_mutex_lock(&c->lock);
  /* One read transaction, so the index figures and the counters agree. */
  int rc = exec_sql(c, "BEGIN");
  sqlite3_stmt *s = rc == SQLITE_OK ? stmt(c, ST_TOTALS) : NULL;
  if (s && (rc = sqlite3_step(s)) == SQLITE_ROW) {
    now.bytes = (uint64_t)sqlite3_column_int64(s, 0);
    now.entries = (uint64_t)sqlite3_column_int64(s, 1);
    now.pinned = (uint64_t)sqlite3_column_int64(s, 2);
    rc = SQLITE_OK;
  } else if (rc == SQLITE_OK) {
    rc = sqlite3_errcode(c->db);
  }
  if (s) sqlite3_reset(s);
  if (rc == SQLITE_OK && total) rc = read_counters(c, &tot);
  now.max_bytes = c->max_bytes;
  int err = rc == SQLITE_OK ? 0 : db_error(c, rc, diag, "cannot read statistics");
  rollback(c);
  if (err == 0) {
    if (session) {
      *session = c->session;
      session->bytes = now.bytes;
      session->entries = now.entries;
      session->pinned = now.pinned;
      session->max_bytes = now.max_bytes;
    }
    if (total) {
      add_counters(&tot, &c->pending);
      tot.bytes = now.bytes;
      tot.entries = now.entries;
      tot.pinned = now.pinned;
      tot.max_bytes = now.max_bytes;
      *total = tot;
    }
  }
  pthread_mutex_unlock(&c->lock);
  return err;
}
