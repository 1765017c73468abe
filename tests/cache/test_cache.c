/*
 * test_cache.c - wharf-unit-cache: the compilation cache (engine/cache.c).
 *
 *   wharf-unit-cache          run every test
 *   wharf-unit-cache NAME     run the tests whose name contains NAME
 *
 * Modules are built here as bytes: one function `f` returning a constant
 * K, one memory page and a data segment of PAD bytes, so a test picks a
 * module's identity (K) and its artifact's size (PAD):
 *
 *   (module (memory 1) (func (export "f") (result i32) (i32.const K))
 *           (data (i32.const 0) "PAD bytes..."))
 *
 * Every test works in its own directory under $TMPDIR (removed at the
 * end) and checks what lands on disk as well as what the API says.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "blob.h" /* wh__blob_version: the engine blob format in the key */
#include "cm_int.h" /* a component's core modules, to run them */
#include "native.h" /* wh__native_tierup_state: whether a module compiles */
#include "wh_cache.h"
#include "wh_cm.h"
#include "wh_engine.h"

/* ---- assertions ---------------------------------------------------------- */

static void check(bool ok, int line, const char *func, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Records one CUnit assertion whose message is a sentence. */
static void check(bool ok, int line, const char *func, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, msg, __FILE__, func,
                          CU_FALSE);
}
#define CHECK(cond, ...) check((cond), __LINE__, __func__, __VA_ARGS__)

/* ---- modules as bytes ---------------------------------------------------- */

typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf_t;

static void put(buf_t *b, const void *src, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
    if (!b->p) abort();
  }
  memcpy(b->p + b->len, src, n);
  b->len += n;
}

static void byte(buf_t *b, uint8_t v) { put(b, &v, 1); }

static void uleb(buf_t *b, uint64_t v) {
  do {
    uint8_t x = v & 0x7f;
    v >>= 7;
    byte(b, x | (v ? 0x80 : 0));
  } while (v);
}

static void sleb(buf_t *b, int64_t v) {
  for (;;) {
    uint8_t x = v & 0x7f;
    v >>= 7;
    if ((v == 0 && !(x & 0x40)) || (v == -1 && (x & 0x40))) {
      byte(b, x);
      return;
    }
    byte(b, x | 0x80);
  }
}

static void section(buf_t *m, uint8_t id, const buf_t *body) {
  byte(m, id);
  uleb(m, body->len);
  put(m, body->p, body->len);
}

/* The module described at the top of this file. */
static buf_t make_module(int32_t k, size_t pad) {
  buf_t m = {0}, s = {0};
  put(&m, "\0asm\1\0\0\0", 8);
  put(&s, "\x01\x60\x00\x01\x7f", 5); /* type 0: [] -> [i32] */
  section(&m, 1, &s);
  s.len = 0;
  put(&s, "\x01\x00", 2); /* func 0: type 0 */
  section(&m, 3, &s);
  s.len = 0;
  put(&s, "\x01\x00\x01", 3); /* memory: min 1 page */
  section(&m, 5, &s);
  s.len = 0;
  put(&s, "\x01\x01" "f" "\x00\x00", 5); /* export "f" func 0 */
  section(&m, 7, &s);
  s.len = 0;
  buf_t body = {0};
  byte(&body, 0); /* no locals */
  byte(&body, 0x41);
  sleb(&body, k);
  byte(&body, 0x0b);
  byte(&s, 1);
  uleb(&s, body.len);
  put(&s, body.p, body.len);
  section(&m, 10, &s);
  s.len = 0;
  put(&s, "\x01\x00\x41\x00\x0b", 5); /* one active segment at 0 */
  uleb(&s, pad);
  for (size_t i = 0; i < pad; i++) byte(&s, (uint8_t)(k * 31 + i));
  section(&m, 11, &s);
  free(body.p);
  free(s.p);
  return m;
}

/* A module for the background compiler to chew on: `nfuncs` functions
 * (i32) -> i32, each `nops` rounds of add, rotate and xor; no exports. */
static buf_t make_heavy_module(uint32_t nfuncs, uint32_t nops) {
  buf_t m = {0}, s = {0}, body = {0};
  put(&m, "\0asm\1\0\0\0", 8);
  put(&s, "\x01\x60\x01\x7f\x01\x7f", 6); /* type 0: [i32] -> [i32] */
  section(&m, 1, &s);
  s.len = 0;
  uleb(&s, nfuncs);
  for (uint32_t i = 0; i < nfuncs; i++) byte(&s, 0);
  section(&m, 3, &s);
  s.len = 0;
  uleb(&s, nfuncs);
  for (uint32_t f = 0; f < nfuncs; f++) {
    body.len = 0;
    byte(&body, 0); /* no locals */
    put(&body, "\x20\x00", 2); /* local.get 0 */
    for (uint32_t i = 0; i < nops; i++) {
      byte(&body, 0x41);
      sleb(&body, (int32_t)(f * 7919 + i * 104729 + 1));
      byte(&body, 0x6a); /* i32.add */
      put(&body, "\x41\x05\x77", 3); /* i32.const 5, i32.rotl */
      put(&body, "\x20\x00\x73", 3); /* local.get 0, i32.xor */
    }
    byte(&body, 0x0b);
    uleb(&s, body.len);
    put(&s, body.p, body.len);
  }
  section(&m, 10, &s);
  free(body.p);
  free(s.p);
  return m;
}

/* A module whose `f` returns n + 1 from one function of n additions: with
 * n = 200000 its wcode (4 MB) is over the native tier's bound per
 * function, so the tier refuses it; cheap for the interpreter. */
static buf_t make_long_module(uint32_t n) {
  buf_t m = {0}, s = {0}, body = {0};
  put(&m, "\0asm\1\0\0\0", 8);
  put(&s, "\x01\x60\x00\x01\x7f", 5); /* type 0: [] -> [i32] */
  section(&m, 1, &s);
  s.len = 0;
  put(&s, "\x01\x00", 2);
  section(&m, 3, &s);
  s.len = 0;
  put(&s, "\x01\x01" "f" "\x00\x00", 5);
  section(&m, 7, &s);
  s.len = 0;
  put(&body, "\x01\x01\x7f", 3);         /* one i32 local */
  put(&body, "\x41\x01\x21\x00", 4);     /* local 0 = 1 */
  put(&body, "\x20\x00", 2);
  for (uint32_t i = 0; i < n; i++) put(&body, "\x20\x00\x6a", 3); /* + local 0 */
  byte(&body, 0x0b);
  byte(&s, 1);
  uleb(&s, body.len);
  put(&s, body.p, body.len);
  section(&m, 10, &s);
  free(body.p);
  free(s.p);
  return m;
}

/* Instantiates `m` and returns what `f` returns given `fuel` (INT32_MIN on
 * failure). */
static int32_t run_fuel(wh_engine_t *e, const wh_module_t *m, int64_t fuel) {
  wh_linker_t *l = wh_linker_new(e);
  wh_exec_t *x = wh_exec_new(e);
  wh_instance_t *inst = NULL;
  wh_val_t r = {.type = WH_I32, .of.i32 = INT32_MIN};
  wh_diag_t d;
  if (l && x && wh_linker_instantiate(l, m, x, &inst, &d) == 0) {
    wh_func_t *f = wh_instance_func(inst, "f");
    wh_exec_set_fuel(x, fuel);
    if (!f || wh_call(x, f, NULL, 0, &r, 1) != 0) r.of.i32 = INT32_MIN;
  }
  wh_instance_free(inst);
  wh_exec_free(x);
  wh_linker_free(l);
  return r.of.i32;
}

/* Instantiates `m` and returns what `f` returns (INT32_MIN on failure). */
static int32_t run_f(wh_engine_t *e, const wh_module_t *m) { return run_fuel(e, m, 1000); }

/* ---- directories ---------------------------------------------------------- */

static char data_dir[256];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path);
}

static void fresh_dir(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(data_dir, sizeof data_dir, "%s/wharf-cache-test.XXXXXX", tmp ? tmp : "/tmp");
  if (!mkdtemp(data_dir)) abort();
}

static void remove_dir(void) {
  nftw(data_dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void artifact_path(char *out, size_t n, const wh_cache_key_t *k) {
  snprintf(out, n, "%s/cache/%.2s/%s.bin", data_dir, k->hex, k->hex);
}

static bool exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

static long long file_size(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Counts files in the shard directories: artifacts and temps. */
static void count_files(int *bins, int *temps) {
  char cdir[512];
  *bins = *temps = 0;
  snprintf(cdir, sizeof cdir, "%s/cache", data_dir);
  DIR *top = opendir(cdir);
  if (!top) return;
  struct dirent *de;
  while ((de = readdir(top)) != NULL) {
    if (strlen(de->d_name) != 2 || de->d_name[0] == '.') continue;
    char sdir[800];
    snprintf(sdir, sizeof sdir, "%s/%s", cdir, de->d_name);
    DIR *d = opendir(sdir);
    if (!d) continue;
    struct dirent *fe;
    while ((fe = readdir(d)) != NULL) {
      size_t n = strlen(fe->d_name);
      if (n > 4 && strcmp(fe->d_name + n - 4, ".bin") == 0) (*bins)++;
      if (n > 4 && strcmp(fe->d_name + n - 4, ".tmp") == 0) (*temps)++;
    }
    closedir(d);
  }
  closedir(top);
}

static void write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) abort();
  fwrite(p, 1, n, f);
  fclose(f);
}

static uint8_t *read_file(const char *path, size_t *n) {
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  rewind(f);
  uint8_t *p = malloc(len > 0 ? (size_t)len : 1);
  if (p) *n = fread(p, 1, len > 0 ? (size_t)len : 0, f);
  fclose(f);
  return p;
}

static wh_engine_t *engine(bool fuel) {
  wh_engine_config_t cfg;
  wh_engine_config_default(&cfg);
  cfg.fuel = fuel;
  return wh_engine_new(&cfg);
}

static wh_cache_t *open_cache(uint64_t max_bytes, unsigned flags) {
  wh_diag_t d;
  wh_cache_t *c = wh_cache_open(data_dir, max_bytes, flags, &d);
  CHECK(c != NULL, "The cache opens in %s (got: %s).", data_dir, c ? "ok" : d.msg);
  return c;
}

/* get_module + run; returns f's result, fills *hit. */
static int32_t get_run(wh_cache_t *c, wh_engine_t *e, const buf_t *b, bool *hit) {
  wh_module_t *m = NULL;
  wh_diag_t d;
  bool h = false;
  int rc = wh_cache_get_module(c, e, b->p, b->len, &m, &h, &d);
  CHECK(rc == 0 && m != NULL, "wh_cache_get_module returns a module (rc %d: %s).", rc, d.msg);
  if (hit) *hit = h;
  int32_t r = m ? run_f(e, m) : INT32_MIN;
  wh_module_free(m);
  return r;
}

static wh_cache_stats_t session(wh_cache_t *c) {
  wh_cache_stats_t s = {0};
  CHECK(wh_cache_stats(c, &s, NULL, NULL) == 0, "wh_cache_stats succeeds.");
  return s;
}

static wh_cache_stats_t total(wh_cache_t *c) {
  wh_cache_stats_t s = {0};
  CHECK(wh_cache_stats(c, NULL, &s, NULL) == 0, "wh_cache_stats succeeds.");
  return s;
}

static wh_cache_key_t key_of(wh_engine_t *e, const buf_t *b) {
  wh_cache_key_t k;
  CHECK(wh_cache_key_module(&k, e, b->p, b->len) == 0, "A module's key can be computed.");
  return k;
}

/* The size of the artifact `b` makes, measured by storing it once. */
static uint64_t artifact_size(wh_engine_t *e, const buf_t *b) {
  wh_module_t *m = wh_module_new(e, b->p, b->len, NULL);
  uint8_t *blob = NULL;
  size_t n = 0;
  if (m) wh_module_serialize(m, &blob, &n);
  wh_module_free(m);
  free(blob);
  return n + 64; /* the artifact header (engine/cache.c) */
}

/* Runs one SQL statement on the index behind the cache's back; returns
 * the first column of its first row as an integer (or -1). */
static long long index_sql(const char *sql) {
  char path[512];
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  long long v = -1;
  snprintf(path, sizeof path, "%s/cache/index.db", data_dir);
  if (sqlite3_open(path, &db) == SQLITE_OK && sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* ---- log capture ---------------------------------------------------------- */

typedef struct log_rec {
  int calls;
  int last_code;
  char last[512];
} log_rec_t;

static void log_cb(void *user, int code, const char *msg) {
  log_rec_t *r = user;
  r->calls++;
  r->last_code = code;
  snprintf(r->last, sizeof r->last, "%s", msg);
}

/* ---- tests ------------------------------------------------------------------ */

static void test_key_derivation(void) {
  fresh_dir();
  wh_engine_t *fuel = engine(true), *nofuel = engine(false);
  buf_t a = make_module(7, 100), b = make_module(8, 100);
  wh_cache_key_t ka1 = key_of(fuel, &a), ka2 = key_of(fuel, &a), kb = key_of(fuel, &b);
  wh_cache_key_t ka_nofuel = key_of(nofuel, &a);
  CHECK(strcmp(ka1.hex, ka2.hex) == 0, "The same bytes and engine give the same key.");
  CHECK(strlen(ka1.hex) == 81 && ka1.hex[64] == '-',
        "A key reads as 64 hex digits, a dash and 16 hex digits (got %s).", ka1.hex);
  CHECK(memcmp(ka1.digest, kb.digest, 32) != 0, "Different bytes give different digests.");
  CHECK(memcmp(ka1.digest, ka_nofuel.digest, 32) == 0,
        "The digest depends on the bytes only, not on the engine.");
  CHECK(strcmp(ka1.hex, ka_nofuel.hex) != 0,
        "Engines with fuel on and off give different keys for the same bytes.");
  wh_cache_key_t kc;
  wh_cache_key_from_digest(&kc, ka1.digest, wh_engine_fingerprint(fuel),
                           WH_CACHE_KIND_COMPONENT);
  CHECK(strcmp(kc.hex, ka1.hex) != 0, "The kind is part of the key.");
  wh_cache_key_t kd;
  wh_cache_key_from_digest(&kd, ka1.digest, wh_engine_fingerprint(fuel), WH_CACHE_KIND_MODULE);
  CHECK(strcmp(kd.hex, ka1.hex) == 0,
        "A key made from a digest equals the key made from the bytes.");

  /* The variant is SHA-256("wharf-cache" NUL, cache file version 2, kind,
   * engine blob version, fingerprint)[0..8] (docs/CACHE.md): recompute it
   * with the blob version and with the next one, so a change of the
   * engine's blob format is a change of key, hence a miss. */
  uint8_t variant_now[32], variant_next[32];
  for (int next = 0; next < 2; next++) {
    uint8_t head[21] = "wharf-cache";
    head[12] = 2; /* WH_CACHE_FILE_VERSION, little-endian */
    head[16] = WH_CACHE_KIND_MODULE;
    uint32_t bv = wh__blob_version() + (uint32_t)next;
    for (int i = 0; i < 4; i++) head[17 + i] = (uint8_t)(bv >> (8 * i));
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned n = 0;
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, head, sizeof head);
    EVP_DigestUpdate(ctx, wh_engine_fingerprint(fuel), strlen(wh_engine_fingerprint(fuel)));
    EVP_DigestFinal_ex(ctx, next ? variant_next : variant_now, &n);
    EVP_MD_CTX_free(ctx);
  }
  CHECK(memcmp(ka1.variant, variant_now, 8) == 0,
        "The key's variant hashes the cache format, the kind, the engine's blob format "
        "version and the fingerprint.");
  CHECK(memcmp(variant_now, variant_next, 8) != 0,
        "Another engine blob format version gives another variant.");
  CHECK(strstr(wh_engine_fingerprint(fuel), "/fuel1") &&
            strstr(wh_engine_fingerprint(nofuel), "/fuel0") &&
            strstr(wh_engine_fingerprint(fuel), "/epoch1") &&
            strstr(wh_engine_fingerprint(fuel), "tier0"),
        "The fingerprint names the tier and the enabled features (got %s).",
        wh_engine_fingerprint(fuel));

  wh_cache_t *c = open_cache(0, 0);
  bool hit = true;
  CHECK(get_run(c, fuel, &a, &hit) == 7 && !hit, "The first load with fuel on is a miss.");
  CHECK(get_run(c, fuel, &a, &hit) == 7 && hit, "The second load with fuel on is a hit.");
  CHECK(get_run(c, nofuel, &a, &hit) == 7 && !hit,
        "A load by an engine with another fingerprint (fuel off) is a miss.");
  CHECK(get_run(c, nofuel, &a, &hit) == 7 && hit, "Its second load is a hit.");
  wh_cache_stats_t s = session(c);
  CHECK(s.entries == 2 && s.compiles == 2 && s.hits == 2 && s.misses == 2,
        "Two fingerprints make two entries, two compiles, two hits, two misses "
        "(got %llu, %llu, %llu, %llu).",
        (unsigned long long)s.entries, (unsigned long long)s.compiles,
        (unsigned long long)s.hits, (unsigned long long)s.misses);
  wh_cache_close(c);
  wh_engine_free(fuel);
  wh_engine_free(nofuel);
  free(a.p);
  free(b.p);
  remove_dir();
}

static void test_round_trip(void) {
  fresh_dir();
  wh_engine_t *e = engine(true);
  buf_t a = make_module(42, 1000);
  wh_cache_key_t k = key_of(e, &a);
  char path[1024];
  artifact_path(path, sizeof path, &k);

  wh_cache_t *c = open_cache(0, 0);
  bool hit = true;
  CHECK(get_run(c, e, &a, &hit) == 42, "The compiled module returns 42.");
  CHECK(!hit, "The first load is a miss.");
  CHECK(exists(path), "The artifact is stored at cache/%.2s/<key>.bin.", k.hex);
  CHECK(get_run(c, e, &a, &hit) == 42, "The module loaded from the cache returns 42 too.");
  CHECK(hit, "The second load is a hit.");
  wh_cache_stats_t s = session(c);
  CHECK(s.hits == 1 && s.misses == 1 && s.compiles == 1 && s.stores == 1,
        "One hit, one miss, one compile and one store are counted.");
  CHECK(s.entries == 1 && (long long)s.bytes == file_size(path),
        "The index holds one entry whose size is the file's (%llu vs %lld).",
        (unsigned long long)s.bytes, file_size(path));
  CHECK(s.compile_ns > 0 && s.load_ns > 0, "Compile and load times are measured.");
  CHECK(s.max_bytes == WH_CACHE_DEFAULT_MAX_BYTES, "An unset bound is the default.");
  wh_cache_close(c);
  CHECK(index_sql("SELECT hits FROM entries") == 1, "The index row counts the entry's hit.");
  CHECK(index_sql("SELECT last_used > created FROM entries") == 1,
        "A hit moves the entry's last_used past its creation.");
  CHECK(index_sql("SELECT length(checksum) FROM entries") == 8,
        "The index row holds an 8-byte checksum.");
  CHECK(index_sql("SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'") == 1,
        "The index is in WAL mode.");

  c = open_cache(0, 0);
  CHECK(get_run(c, e, &a, &hit) == 42 && hit, "After reopening, the load is a hit.");
  s = total(c);
  CHECK(s.hits == 2 && s.misses == 1 && s.compiles == 1 && s.stores == 1,
        "Total counters persist across handles (hits %llu, misses %llu).",
        (unsigned long long)s.hits, (unsigned long long)s.misses);
  s = session(c);
  CHECK(s.hits == 1 && s.misses == 0, "Session counters start from zero on open.");

  /* the generic layer: an opaque blob of another kind */
  wh_cache_key_t kc;
  wh_cache_key_from_digest(&kc, k.digest, "some-fingerprint", WH_CACHE_KIND_COMPONENT);
  uint8_t *blob = NULL;
  size_t n = 0;
  CHECK(wh_cache_get(c, &kc, &blob, &n, NULL) == WH_ENOTFOUND,
        "An unknown key is WH_ENOTFOUND.");
  const char msg[] = "component metadata and core modules";
  CHECK(wh_cache_put(c, &kc, (const uint8_t *)msg, sizeof msg, NULL) == 0,
        "An opaque blob can be stored.");
  CHECK(wh_cache_put(c, &kc, (const uint8_t *)msg, sizeof msg, NULL) == 0,
        "Storing the same key again succeeds and keeps the first artifact.");
  CHECK(wh_cache_get(c, &kc, &blob, &n, NULL) == 0 && n == sizeof msg &&
            memcmp(blob, msg, n) == 0,
        "The opaque blob comes back byte for byte.");
  free(blob);
  CHECK(session(c).entries == 2, "The blob is a second entry.");
  wh_cache_close(c);
  wh_engine_free(e);
  free(a.p);
  remove_dir();
}

/* Loads `a` after the artifact was damaged by `damage`; expects a miss, a
 * correct result, one more corrupt drop and a hit on the next load. */
static void expect_recovery(wh_cache_t *c, wh_engine_t *e, const buf_t *a, int32_t want,
                            const char *what) {
  uint64_t before = session(c).corrupt_drops;
  bool hit = true;
  int32_t r = get_run(c, e, a, &hit);
  CHECK(r == want, "After %s the module still returns %d (got %d).", what, want, r);
  CHECK(!hit, "After %s the load is a miss.", what);
  CHECK(session(c).corrupt_drops == before + 1, "After %s one corrupt drop is counted.",
        what);
  CHECK(get_run(c, e, a, &hit) == want && hit,
        "After %s the recompiled artifact is stored again and the next load hits.", what);
}

static void test_corruption(void) {
  fresh_dir();
  wh_engine_t *e = engine(true), *other = engine(false);
  buf_t a = make_module(5, 3000), b = make_module(6, 3000);
  wh_cache_key_t k = key_of(e, &a), kb = key_of(e, &b);
  char path[1024], pathb[1024];
  artifact_path(path, sizeof path, &k);
  artifact_path(pathb, sizeof pathb, &kb);
  wh_cache_t *c = open_cache(0, 0);
  log_rec_t log = {0};
  wh_cache_set_log(c, log_cb, &log);
  get_run(c, e, &a, NULL);

  size_t n;
  uint8_t *bytes = read_file(path, &n);
  CHECK(bytes && n > 2000, "The artifact can be read (%zu bytes).", n);
  if (!bytes) goto done;

  bytes[n / 2] ^= 0x40;
  write_file(path, bytes, n);
  bytes[n / 2] ^= 0x40;
  expect_recovery(c, e, &a, 5, "a flipped byte in the payload");
  CHECK(log.calls >= 1 && log.last_code == WH_ECORRUPT && strstr(log.last, k.hex),
        "The drop is reported to the log callback with WH_ECORRUPT (got \"%s\").", log.last);

  write_file(path, bytes, n / 2);
  expect_recovery(c, e, &a, 5, "truncation to half");

  write_file(path, bytes, 0);
  expect_recovery(c, e, &a, 5, "truncation to nothing");

  bytes[8] ^= 0x01; /* the artifact's file format version */
  write_file(path, bytes, n);
  bytes[8] ^= 0x01;
  expect_recovery(c, e, &a, 5, "a changed artifact version");

  unlink(path);
  expect_recovery(c, e, &a, 5, "a deleted file");

  /* Another module's sound artifact put in place of this one must never
   * be served: the index checksum and the header's digest differ. */
  get_run(c, e, &b, NULL);
  size_t nb;
  uint8_t *other_bytes = read_file(pathb, &nb);
  if (other_bytes) {
    write_file(path, other_bytes, nb);
    free(other_bytes);
  }
  expect_recovery(c, e, &a, 5, "swapping in another module's artifact");

  /* A blob that passes the cache's checks but the engine rejects: an
   * engine blob with another format version, then one made by an engine
   * with another fingerprint, stored under this engine's key. */
  wh_module_t *m = wh_module_new(e, a.p, a.len, NULL);
  uint8_t *blob = NULL;
  size_t blen = 0;
  wh_module_serialize(m, &blob, &blen);
  wh_module_free(m);
  CHECK(blob && blen > 16, "The module serializes.");
  if (blob) {
    blob[8] ^= 0x7f; /* engine blob format version (engine/serialize.c) */
    wh_cache_clear(c, true, NULL, NULL);
    CHECK(wh_cache_put(c, &k, blob, blen, NULL) == 0, "A wrong-version blob can be put.");
    expect_recovery(c, e, &a, 5, "a wrong-version engine blob");
    free(blob);
  }
  m = wh_module_new(other, a.p, a.len, NULL);
  blob = NULL;
  wh_module_serialize(m, &blob, &blen);
  wh_module_free(m);
  if (blob) {
    wh_cache_clear(c, true, NULL, NULL);
    wh_cache_put(c, &k, blob, blen, NULL);
    expect_recovery(c, e, &a, 5, "a blob from an engine with another fingerprint");
    free(blob);
  }

  /* the generic layer drops too */
  wh_cache_key_t kc;
  wh_cache_key_from_digest(&kc, k.digest, "fp", WH_CACHE_KIND_COMPONENT);
  wh_cache_put(c, &kc, (const uint8_t *)"abcdef", 6, NULL);
  char pathc[1024];
  artifact_path(pathc, sizeof pathc, &kc);
  write_file(pathc, "WHARFART", 8);
  uint8_t *got = NULL;
  size_t glen = 0;
  uint64_t drops = session(c).corrupt_drops;
  CHECK(wh_cache_get(c, &kc, &got, &glen, NULL) == WH_ENOTFOUND && got == NULL,
        "wh_cache_get reports a damaged generic artifact as a miss.");
  CHECK(session(c).corrupt_drops == drops + 1 && !exists(pathc),
        "The damaged generic artifact is dropped and counted.");
  wh_cache_put(c, &kc, (const uint8_t *)"abcdef", 6, NULL);
  CHECK(wh_cache_reject(c, &kc, NULL) == 0 && !exists(pathc) &&
            session(c).corrupt_drops == drops + 2,
        "wh_cache_reject drops an entry its decoder refused and counts it.");
  free(bytes);
done:
  wh_cache_close(c);
  wh_engine_free(e);
  wh_engine_free(other);
  free(a.p);
  free(b.p);
  remove_dir();
}

static void test_eviction(void) {
  fresh_dir();
  wh_engine_t *e = engine(true);
  buf_t m[6];
  wh_cache_key_t k[6];
  char path[6][1024];
  for (int i = 0; i < 6; i++) {
    m[i] = make_module(100 + i, 5000);
    k[i] = key_of(e, &m[i]);
    artifact_path(path[i], sizeof path[i], &k[i]);
  }
  uint64_t size = artifact_size(e, &m[0]);
  uint64_t bound = 3 * size + size / 2;
  wh_cache_t *c = open_cache(bound, 0);
  bool hit;
  for (int i = 0; i < 3; i++) get_run(c, e, &m[i], NULL);
  CHECK(session(c).entries == 3 && session(c).bytes == 3 * size,
        "Three artifacts of %llu bytes fit under a bound of %llu.", (unsigned long long)size,
        (unsigned long long)bound);
  get_run(c, e, &m[0], &hit); /* m0 is now the most recently used */
  CHECK(hit, "Module 0 loads from the cache.");
  get_run(c, e, &m[3], NULL);
  CHECK(!exists(path[1]) && exists(path[0]) && exists(path[2]) && exists(path[3]),
        "Storing a fourth artifact evicts the least recently used one (module 1), "
        "not module 0, which was used since.");
  get_run(c, e, &m[4], NULL);
  CHECK(!exists(path[2]) && exists(path[0]) && exists(path[3]) && exists(path[4]),
        "A fifth artifact evicts module 2, next in LRU order.");
  wh_cache_stats_t s = session(c);
  CHECK(s.evictions == 2 && s.entries == 3 && s.bytes <= bound,
        "Two evictions are counted and the total stays under the bound (%llu <= %llu).",
        (unsigned long long)s.bytes, (unsigned long long)bound);
  CHECK(get_run(c, e, &m[1], &hit) == 101 && !hit,
        "An evicted module is recompiled transparently.");

  buf_t big = make_module(999, (size_t)bound + 100);
  wh_cache_key_t kbig = key_of(e, &big);
  char pbig[1024];
  artifact_path(pbig, sizeof pbig, &kbig);
  uint64_t entries = session(c).entries;
  CHECK(get_run(c, e, &big, &hit) == 999 && !hit, "A module too big for the cache still loads.");
  CHECK(!exists(pbig) && session(c).entries == entries,
        "An artifact bigger than the bound is not stored and evicts nothing.");
  free(big.p);
  wh_cache_close(c);

  c = open_cache(0, 0);
  CHECK(session(c).max_bytes == bound, "A handle opened with bound 0 uses the recorded bound.");
  wh_cache_close(c);
  c = open_cache(size + size / 2, 0);
  s = session(c);
  CHECK(s.entries == 1 && s.bytes <= size + size / 2,
        "Reopening with a smaller bound evicts down to it at start-up (%llu entries left).",
        (unsigned long long)s.entries);
  CHECK(exists(path[1]), "The most recently used artifact is the one kept.");
  wh_cache_close(c);
  c = open_cache(UINT64_MAX, 0);
  for (int i = 0; i < 6; i++) get_run(c, e, &m[i], NULL);
  CHECK(session(c).entries == 6 && session(c).evictions == 0, "An unbounded cache evicts nothing.");
  wh_cache_close(c);
  for (int i = 0; i < 6; i++) free(m[i].p);
  wh_engine_free(e);
  remove_dir();
}

static void test_pinning(void) {
  fresh_dir();
  wh_engine_t *e = engine(true);
  buf_t m[6];
  wh_cache_key_t k[6];
  char path[6][1024];
  for (int i = 0; i < 6; i++) {
    m[i] = make_module(200 + i, 5000);
    k[i] = key_of(e, &m[i]);
    artifact_path(path[i], sizeof path[i], &k[i]);
  }
  uint64_t size = artifact_size(e, &m[0]);
  wh_cache_t *c = open_cache(3 * size + size / 2, 0);
  CHECK(wh_cache_pin(c, &k[0], "deploy:a", NULL) == 0,
        "A key can be pinned before its artifact exists.");
  CHECK(wh_cache_pin(c, &k[0], "deploy:a", NULL) == 0, "Pinning twice for one holder is fine.");
  CHECK(wh_cache_pin(c, &k[0], NULL, NULL) == WH_EINVAL, "A pin needs a holder name.");
  for (int i = 0; i < 5; i++) get_run(c, e, &m[i], NULL);
  CHECK(exists(path[0]), "The pinned, least recently used artifact is not evicted.");
  CHECK(!exists(path[1]) && !exists(path[2]) && exists(path[3]) && exists(path[4]),
        "Unpinned artifacts are evicted in LRU order around it.");
  CHECK(session(c).pinned == 1, "Stats count one pinned entry.");

  CHECK(wh_cache_pin(c, &k[0], "deploy:b", NULL) == 0, "A second holder can pin the key.");
  CHECK(wh_cache_unpin(c, &k[0], "deploy:a", NULL) == 0, "A holder can unpin.");
  get_run(c, e, &m[5], NULL);
  CHECK(exists(path[0]) && !exists(path[3]),
        "The artifact stays pinned while another holder pins it.");
  CHECK(wh_cache_unpin_holder(c, "deploy:b", NULL) == 0, "A holder's pins can all go at once.");
  CHECK(session(c).pinned == 0, "No entry is pinned any more.");
  get_run(c, e, &m[1], NULL);
  CHECK(!exists(path[0]), "Unpinned, the oldest artifact is the next one evicted.");

  /* a pinned set larger than the bound: pins win */
  for (int i = 0; i < 6; i++) wh_cache_pin(c, &k[i], "all", NULL);
  for (int i = 0; i < 6; i++) get_run(c, e, &m[i], NULL);
  CHECK(session(c).entries == 6,
        "Pinned entries are never evicted, even past the bound (%llu entries).",
        (unsigned long long)session(c).entries);
  /* repinning: a holder's pin moves, or goes; a prefix's set is replaced */
  CHECK(wh_cache_unpin_holder(c, "all", NULL) == 0 && session(c).pinned == 0, "All unpinned.");
  CHECK(wh_cache_repin(c, "deploy:x/calc", &k[0], NULL) == 0 &&
            wh_cache_repin(c, "deploy:x/calc", &k[1], NULL) == 0 && session(c).pinned == 1,
        "A repin moves the holder's pin: one entry pinned (%llu).",
        (unsigned long long)session(c).pinned);
  CHECK(wh_cache_repin(c, "deploy:x/calc", NULL, NULL) == 0 && session(c).pinned == 0,
        "A repin to nothing drops it.");
  CHECK(wh_cache_repin(c, NULL, &k[0], NULL) == WH_EINVAL, "A repin needs a holder name.");
  wh_cache_pin(c, &k[0], "deploy:x/stale", NULL);
  wh_cache_pin(c, &k[1], "other", NULL);
  const char *hs[] = {"deploy:x/a", "deploy:y/b"};
  wh_cache_key_t ks[] = {k[2], k[3]};
  CHECK(wh_cache_repin_all(c, "deploy:", 2, hs, ks, NULL) == 0 && session(c).pinned == 3,
        "repin_all drops the prefix's stale pin, keeps another holder's, pins the set "
        "(%llu pinned).", (unsigned long long)session(c).pinned);
  wh_cache_gc_report_t rep;
  CHECK(wh_cache_clear(c, false, &rep, NULL) == 0 && session(c).entries == 3 &&
            exists(path[1]) && exists(path[2]) && exists(path[3]) && !exists(path[0]),
        "Exactly the pinned three survive a clear.");
  for (int i = 0; i < 6; i++) wh_cache_pin(c, &k[i], "all", NULL);
  for (int i = 0; i < 6; i++) get_run(c, e, &m[i], NULL);
  wh_cache_unpin(c, &k[2], "all", NULL);
  wh_cache_unpin(c, &k[2], "deploy:x/a", NULL);
  CHECK(wh_cache_clear(c, false, &rep, NULL) == 0 && rep.cleared == 1 &&
            session(c).entries == 5 && !exists(path[2]),
        "Clearing removes the unpinned entries only.");
  CHECK(wh_cache_clear(c, true, &rep, NULL) == 0 && rep.cleared == 5 &&
            session(c).entries == 0 && session(c).pinned == 0,
        "Clearing with include_pinned removes everything and the pins.");
  int bins, temps;
  count_files(&bins, &temps);
  CHECK(bins == 0 && temps == 0, "No files are left after a full clear.");
  wh_cache_close(c);
  for (int i = 0; i < 6; i++) free(m[i].p);
  wh_engine_free(e);
  remove_dir();
}

static void test_reconciliation(void) {
  fresh_dir();
  wh_engine_t *e = engine(true);
  buf_t m[3];
  wh_cache_key_t k[3];
  char path[3][1024];
  for (int i = 0; i < 3; i++) {
    m[i] = make_module(300 + i, 2000);
    k[i] = key_of(e, &m[i]);
    artifact_path(path[i], sizeof path[i], &k[i]);
  }
  wh_cache_t *c = open_cache(0, 0);
  for (int i = 0; i < 3; i++) get_run(c, e, &m[i], NULL);
  wh_cache_close(c);

  char stray[1200], junk[1200], outside[1200], stale[1200], live[1200], shard_file[1200];
  /* an artifact whose row is gone: a copy of module 0 under another key */
  snprintf(stray, sizeof stray, "%s/cache/%.2s/%.2s%062d-0123456789abcdef.bin", data_dir,
           k[0].hex, k[0].hex, 0);
  size_t n;
  uint8_t *bytes = read_file(path[0], &n);
  write_file(stray, bytes, n);
  free(bytes);
  snprintf(junk, sizeof junk, "%s/cache/%.2s/notes.txt", data_dir, k[0].hex);
  write_file(junk, "x", 1);
  snprintf(outside, sizeof outside, "%s/cache/README", data_dir);
  write_file(outside, "kept", 4);
  snprintf(stale, sizeof stale, "%s.Ab12Cd.tmp", path[0]);
  write_file(stale, "half-written", 12);
  snprintf(live, sizeof live, "%s.Zz99Yy.tmp", path[0]);
  write_file(live, "being written", 13);
  int live_fd = open(live, O_RDWR);
  CHECK(live_fd >= 0 && flock(live_fd, LOCK_EX) == 0, "The test holds a writer's lock.");
  /* a shard name taken by a file would block every store to it */
  snprintf(shard_file, sizeof shard_file, "%s/cache/zz", data_dir);
  write_file(shard_file, "", 0);
  char shard_file2[1200];
  snprintf(shard_file2, sizeof shard_file2, "%s/cache/0f", data_dir);
  write_file(shard_file2, "", 0);
  unlink(path[1]);                          /* a row without a file */
  FILE *f = fopen(path[2], "ab");           /* a file of the wrong size */
  fputs("trailing", f);
  fclose(f);

  c = open_cache(0, WH_CACHE_NO_RECONCILE);
  CHECK(exists(stray) && exists(stale), "WH_CACHE_NO_RECONCILE leaves the files alone.");
  wh_cache_gc_report_t rep;
  CHECK(wh_cache_gc(c, &rep, NULL) == 0, "wh_cache_gc succeeds.");
  CHECK(rep.rows_dropped == 2, "Two rows are dropped: a missing file, a wrong size (got %llu).",
        (unsigned long long)rep.rows_dropped);
  CHECK(rep.files_removed == 3,
        "Three files without rows are removed: a stray artifact, a foreign file, a file "
        "named like a shard (got %llu).",
        (unsigned long long)rep.files_removed);
  CHECK(rep.temps_removed == 1, "One stale temp file is removed (got %llu).",
        (unsigned long long)rep.temps_removed);
  CHECK(!exists(stray) && !exists(junk) && !exists(stale) && !exists(path[2]) &&
            !exists(shard_file2),
        "The stray, foreign, stale and wrong-size files are gone.");
  CHECK(exists(live), "A temp file a live writer holds is kept.");
  CHECK(exists(outside), "Files outside the shard directories are not touched.");
  CHECK(exists(path[0]) && session(c).entries == 1, "The sound entry survives.");
  bool hit;
  CHECK(get_run(c, e, &m[0], &hit) == 300 && hit, "The sound entry still loads.");
  CHECK(get_run(c, e, &m[1], &hit) == 301 && !hit, "A dropped entry is recompiled.");
  wh_cache_close(c);

  close(live_fd);
  c = open_cache(0, 0);
  CHECK(!exists(live), "Start-up reconciliation removes the temp file once it is unlocked.");
  CHECK(wh_cache_gc(c, &rep, NULL) == 0 &&
            rep.rows_dropped + rep.files_removed + rep.temps_removed + rep.evicted == 0,
        "A second gc finds nothing to do.");
  wh_cache_close(c);
  for (int i = 0; i < 3; i++) free(m[i].p);
  wh_engine_free(e);
  remove_dir();
}

static void test_index_rebuilt(void) {
  fresh_dir();
  wh_engine_t *e = engine(true);
  buf_t a = make_module(9, 100);
  wh_cache_key_t k = key_of(e, &a);
  char path[1024], db[1024], wal[1100];
  artifact_path(path, sizeof path, &k);
  wh_cache_t *c = open_cache(0, 0);
  get_run(c, e, &a, NULL);
  wh_cache_close(c);
  snprintf(db, sizeof db, "%s/cache/index.db", data_dir);
  snprintf(wal, sizeof wal, "%s-wal", db);
  unlink(wal);
  char garbage[8192];
  memset(garbage, 'G', sizeof garbage);
  write_file(db, garbage, sizeof garbage);
  c = open_cache(0, 0);
  CHECK(c != NULL, "A cache whose index is garbage still opens.");
  if (c) {
    CHECK(session(c).entries == 0 && !exists(path),
          "The index is rebuilt empty and the artifacts it forgot are removed.");
    bool hit = true;
    CHECK(get_run(c, e, &a, &hit) == 9 && !hit, "Loading works again (a miss).");
    CHECK(get_run(c, e, &a, &hit) == 9 && hit, "And the next load hits.");
    wh_cache_close(c);
  }
  index_sql("PRAGMA user_version = 99");
  wh_diag_t d;
  c = wh_cache_open(data_dir, 0, 0, &d);
  CHECK(c == NULL && d.code == WH_EUNSUPPORTED,
        "An index written by a newer wharf (schema 99) is refused, not rebuilt (%s).", d.msg);
  wh_cache_close(c);
  CHECK(index_sql("SELECT COUNT(*) FROM entries") == 1, "The newer wharf's index is untouched.");
  wh_engine_free(e);
  free(a.p);
  remove_dir();
}

static void test_store_failure(void) {
  fresh_dir();
  wh_engine_t *e = engine(true);
  buf_t a = make_module(11, 100);
  wh_cache_key_t k = key_of(e, &a);
  wh_cache_t *c = open_cache(0, 0);
  log_rec_t log = {0};
  wh_cache_set_log(c, log_cb, &log);
  /* a file where the key's shard directory should be: the store fails */
  char shard[1024];
  snprintf(shard, sizeof shard, "%s/cache/%.2s", data_dir, k.hex);
  write_file(shard, "", 0);
  bool hit = true;
  CHECK(get_run(c, e, &a, &hit) == 11 && !hit,
        "A module still loads when its artifact cannot be stored.");
  wh_cache_stats_t s = session(c);
  CHECK(s.errors == 1 && s.stores == 0 && s.entries == 0,
        "The failed store is counted as an error and nothing is indexed.");
  CHECK(log.calls == 1 && log.last_code == WH_EIO,
        "The failure reaches the log callback as WH_EIO (got %d: \"%s\").", log.last_code,
        log.last);
  wh_diag_t d;
  CHECK(wh_cache_get_module(c, e, (const uint8_t *)"junk", 4, &(wh_module_t *){NULL}, &hit,
                            &d) == WH_EMALFORMED,
        "Bytes that are not wasm fail with the engine's error, and nothing is cached.");
  wh_cache_gc(c, NULL, NULL);
  CHECK(get_run(c, e, &a, &hit) == 11 && !hit && session(c).stores == 1,
        "After gc removed the obstacle, the artifact is stored.");
  wh_cache_close(c);
  wh_engine_free(e);
  free(a.p);
  remove_dir();
}

/* Children racing on one directory.  All wait on `gate` so they start
 * together.  Mode LOADS: each loads `rounds` modules (index i % nmods)
 * with wh_cache_get_module through its own handle.  Mode STORES: each
 * misses module 0, compiles and serializes it, reports on `ready`, waits
 * on `gate2` and then puts it, so every store races on one key; then
 * loads it.  A child exits 0 if everything ran right. */
enum { LOADS, STORES };

typedef struct gates {
  int gate[2], ready[2], gate2[2];
} gates_t;

static int child(const gates_t *g, int mode, uint64_t bound, int rounds, int nmods, int seed) {
  char b;
  if (read(g->gate[0], &b, 1) < 0) return 10;
  wh_engine_t *e = engine(true);
  wh_diag_t d;
  wh_cache_t *c = wh_cache_open(data_dir, bound, 0, &d);
  if (!c || !e) return 11;
  int bad = 0;
  if (mode == STORES) {
    buf_t m = make_module(400, 3000);
    wh_cache_key_t k;
    uint8_t *blob = NULL;
    size_t n = 0;
    wh_cache_key_module(&k, e, m.p, m.len);
    if (wh_cache_get(c, &k, &blob, &n, NULL) != WH_ENOTFOUND) bad = 1;
    wh_module_t *mod = wh_module_new(e, m.p, m.len, NULL);
    if (!mod || wh_module_serialize(mod, &blob, &n) != 0) bad = 1;
    wh_module_free(mod);
    if (write(g->ready[1], "r", 1) != 1 || read(g->gate2[0], &b, 1) < 0) bad = 1;
    if (wh_cache_put(c, &k, blob, n, &d) != 0) bad = 1;
    free(blob);
    free(m.p);
  }
  for (int i = 0; i < rounds; i++) {
    int which = (i + seed) % nmods;
    buf_t m = make_module(400 + which, 3000);
    wh_module_t *mod = NULL;
    bool hit;
    if (wh_cache_get_module(c, e, m.p, m.len, &mod, &hit, &d) != 0 ||
        run_f(e, mod) != 400 + which || (mode == STORES && !hit))
      bad = 1;
    wh_module_free(mod);
    free(m.p);
  }
  wh_cache_stats_t s;
  if (wh_cache_stats(c, &s, NULL, NULL) != 0 || s.errors != 0) bad = 1;
  wh_cache_close(c);
  wh_engine_free(e);
  return bad ? 12 : 0;
}

/* Forks `n` children running child(); returns how many exited 0. */
static int race(int n, int mode, uint64_t bound, int rounds, int nmods) {
  gates_t g;
  pid_t pids[8];
  if (pipe(g.gate) != 0 || pipe(g.ready) != 0 || pipe(g.gate2) != 0) return 0;
  for (int i = 0; i < n; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      close(g.gate[1]);
      close(g.gate2[1]);
      close(g.ready[0]);
      _exit(child(&g, mode, bound, rounds, nmods, i));
    }
  }
  close(g.gate[0]);
  close(g.gate2[0]);
  close(g.ready[1]);
  close(g.gate[1]); /* EOF on the gate releases every child at once */
  if (mode == STORES) {
    char b;
    for (int i = 0; i < n; i++)
      if (read(g.ready[0], &b, 1) != 1) break;
  }
  close(g.gate2[1]);
  close(g.ready[0]);
  int ok = 0;
  for (int i = 0; i < n; i++) {
    int status;
    if (pids[i] > 0 && waitpid(pids[i], &status, 0) == pids[i] && WIFEXITED(status) &&
        WEXITSTATUS(status) == 0)
      ok++;
  }
  return ok;
}

/* After a race on module 400: one entry, one file, no temps, loads. */
static void check_one_entry(const char *what, int round) {
  wh_engine_t *e = engine(true);
  wh_cache_t *c = open_cache(0, WH_CACHE_NO_RECONCILE);
  int bins, temps;
  count_files(&bins, &temps);
  CHECK(session(c).entries == 1 && bins == 1 && temps == 0,
        "After %s one entry and one file result, and no temp file is left (round %d: %llu "
        "rows, %d files, %d temps).",
        what, round, (unsigned long long)session(c).entries, bins, temps);
  buf_t m = make_module(400, 3000);
  bool hit;
  CHECK(get_run(c, e, &m, &hit) == 400 && hit, "After %s the stored artifact loads (round %d).",
        what, round);
  free(m.p);
  wh_cache_close(c);
  wh_engine_free(e);
}

static void test_two_processes_race(void) {
  for (int round = 0; round < 5; round++) {
    fresh_dir();
    int ok = race(2, LOADS, 0, 1, 1);
    CHECK(ok == 2, "Two processes loading one module into a new directory both succeed "
                   "(round %d).", round);
    check_one_entry("two processes loaded one module", round);
    wh_cache_t *c = open_cache(0, WH_CACHE_NO_RECONCILE);
    wh_cache_stats_t t = total(c);
    CHECK(t.hits + t.misses == 3 && t.compiles == t.misses && t.stores >= 1 &&
              t.stores <= t.misses,
          "Both children's loads and the check's are counted, and every store follows a "
          "compile (round %d: %llu hits, %llu misses).",
          round, (unsigned long long)t.hits, (unsigned long long)t.misses);
    wh_cache_close(c);
    remove_dir();

    fresh_dir();
    ok = race(3, STORES, 0, 1, 1);
    CHECK(ok == 3, "Three processes storing one key at the same moment all succeed and "
                   "then hit (round %d).", round);
    check_one_entry("three processes stored one key", round);
    c = open_cache(0, WH_CACHE_NO_RECONCILE);
    t = total(c);
    CHECK(t.stores == 1 && t.misses == 3,
          "Exactly one of the racing stores is recorded; the others keep it (round %d: %llu).",
          round, (unsigned long long)t.stores);
    wh_cache_close(c);
    remove_dir();
  }
}

static void test_processes_share_dir(void) {
  fresh_dir();
  wh_engine_t *e = engine(true);
  buf_t m = make_module(400, 3000);
  uint64_t size = artifact_size(e, &m);
  free(m.p);
  uint64_t bound = 3 * size + size / 2;
  int ok = race(3, LOADS, bound, 30, 6);
  CHECK(ok == 3, "Three processes sharing one directory with constant eviction all load "
                 "correct modules without cache errors (%d of 3 did).", ok);
  wh_cache_t *c = open_cache(0, WH_CACHE_NO_RECONCILE);
  wh_cache_gc_report_t rep;
  CHECK(wh_cache_gc(c, &rep, NULL) == 0 && rep.rows_dropped == 0 && rep.files_removed == 0 &&
            rep.temps_removed == 0 && rep.evicted == 0,
        "Afterwards index and files agree exactly (dropped %llu, removed %llu, temps %llu).",
        (unsigned long long)rep.rows_dropped, (unsigned long long)rep.files_removed,
        (unsigned long long)rep.temps_removed);
  wh_cache_stats_t t = total(c);
  CHECK(t.bytes <= bound && t.hits + t.misses == 90 && t.corrupt_drops == 0,
        "The bound holds, all 90 loads are counted and none saw a corrupt artifact.");
  wh_cache_close(c);
  wh_engine_free(e);
  remove_dir();
}

/* A writer killed at an arbitrary moment (SIGKILL: no clean-up runs)
 * leaves a state that start-up reconciliation repairs: afterwards every
 * row has its file, gc finds nothing more, and every entry loads. */
static void test_killed_writer(void) {
  for (int round = 0; round < 5; round++) {
    fresh_dir();
    pid_t pid = fork();
    if (pid == 0) {
      wh_engine_t *e = engine(true);
      wh_cache_t *c = wh_cache_open(data_dir, 0, 0, NULL);
      for (int i = 0; c && e; i++) { /* until killed */
        buf_t m = make_module(600 + i % 20, 60000);
        wh_module_t *mod = NULL;
        wh_cache_get_module(c, e, m.p, m.len, &mod, NULL, NULL);
        wh_module_free(mod);
        free(m.p);
        if (i % 20 == 19) wh_cache_clear(c, false, NULL, NULL);
      }
      _exit(1);
    }
    usleep(10000 + 17000 * round);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);

    wh_engine_t *e = engine(true);
    wh_cache_t *c = open_cache(0, 0);
    if (!c) {
      wh_engine_free(e);
      remove_dir();
      continue;
    }
    wh_cache_gc_report_t rep;
    CHECK(wh_cache_gc(c, &rep, NULL) == 0 &&
              rep.rows_dropped + rep.files_removed + rep.temps_removed == 0,
          "After a writer was killed, start-up reconciliation leaves nothing for gc "
          "(round %d).", round);
    int bins, temps;
    count_files(&bins, &temps);
    uint64_t entries = session(c).entries;
    CHECK(temps == 0 && (uint64_t)bins == entries,
          "No temp file is left and files match rows (round %d: %d files, %llu rows).", round,
          bins, (unsigned long long)entries);
    int bad = 0;
    for (int i = 0; i < 20; i++) {
      buf_t m = make_module(600 + i, 60000);
      if (get_run(c, e, &m, NULL) != 600 + i) bad++;
      free(m.p);
    }
    CHECK(bad == 0 && session(c).corrupt_drops == 0,
          "Every module loads right and no stored artifact is corrupt (round %d).", round);
    wh_cache_close(c);
    wh_engine_free(e);
    remove_dir();
  }
}

typedef struct thread_arg {
  wh_cache_t *c;
  wh_engine_t *e;
  int seed;
  int bad;
} thread_arg_t;

static void *thread_main(void *p) {
  thread_arg_t *a = p;
  for (int i = 0; i < 25; i++) {
    int which = (i * 7 + a->seed) % 5;
    buf_t m = make_module(500 + which, 2000);
    wh_module_t *mod = NULL;
    bool hit;
    if (wh_cache_get_module(a->c, a->e, m.p, m.len, &mod, &hit, NULL) != 0 ||
        run_f(a->e, mod) != 500 + which)
      a->bad++;
    wh_module_free(mod);
    free(m.p);
  }
  return NULL;
}

static void test_threads_share_handle(void) {
  fresh_dir();
  wh_engine_t *e = engine(true);
  buf_t m = make_module(500, 2000);
  uint64_t size = artifact_size(e, &m);
  free(m.p);
  wh_cache_t *c = open_cache(3 * size, 0);
  pthread_t th[4];
  thread_arg_t args[4];
  for (int i = 0; i < 4; i++) {
    args[i] = (thread_arg_t){.c = c, .e = e, .seed = i};
    pthread_create(&th[i], NULL, thread_main, &args[i]);
  }
  int bad = 0;
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    bad += args[i].bad;
  }
  CHECK(bad == 0, "Four threads sharing one handle all load correct modules.");
  wh_cache_stats_t s = session(c);
  CHECK(s.hits + s.misses == 100 && s.errors == 0 && s.bytes <= 3 * size,
        "All 100 loads are counted, without errors, under the bound.");
  wh_cache_gc_report_t rep;
  CHECK(wh_cache_gc(c, &rep, NULL) == 0 && rep.rows_dropped + rep.files_removed == 0,
        "Index and files agree afterwards.");
  wh_cache_close(c);
  wh_engine_free(e);
  remove_dir();
}

static void test_open_errors(void) {
  wh_diag_t d;
  CHECK(wh_cache_open(NULL, 0, 0, &d) == NULL && d.code == WH_EINVAL,
        "Opening without a directory is WH_EINVAL.");
  fresh_dir();
  char file[512];
  snprintf(file, sizeof file, "%s/plain-file", data_dir);
  write_file(file, "x", 1);
  CHECK(wh_cache_open(file, 0, 0, &d) == NULL && d.code == WH_EIO && d.msg[0],
        "Opening under a regular file fails with WH_EIO and a message (\"%s\").", d.msg);
  wh_cache_close(NULL);
  remove_dir();
}

/* A component's artifact: its core modules and metadata, through the
 * component API (what the component model stores for a component). */
static void test_component_artifact(void) {
  fresh_dir();
  wh_engine_t *e = engine(true), *other = engine(false);
  buf_t a = make_module(11, 500), b = make_module(12, 70);
  wh_module_t *mods[2] = {wh_module_new(e, a.p, a.len, NULL), wh_module_new(e, b.p, b.len, NULL)};
  CHECK(mods[0] && mods[1], "The two core modules compile.");
  /* the component's bytes: any bytes will do for the key */
  static const uint8_t comp[] = "\0asm\x0d\0\1\0 a component";
  wh_cache_key_t k, km;
  CHECK(wh_cache_key_component(&k, e, comp, sizeof comp) == 0 &&
            k.kind == WH_CACHE_KIND_COMPONENT,
        "A component's key can be computed and is of kind COMPONENT.");
  km = key_of(e, &a);
  wh_cache_t *c = open_cache(0, 0);
  static const char meta[] = "the component's own metadata";
  wh_module_t **got = NULL;
  uint32_t n = 99;
  uint8_t *gmeta = NULL;
  size_t gmeta_len = 0;
  CHECK(wh_cache_get_component(c, e, &k, &got, &n, &gmeta, &gmeta_len, NULL) == WH_ENOTFOUND &&
            got == NULL && n == 0,
        "A component not stored yet is a miss.");
  CHECK(wh_cache_put_component(c, &km, mods, 2, NULL, 0, NULL) == WH_EINVAL,
        "A module key is refused for a component artifact.");
  CHECK(wh_cache_put_component(c, &k, mods, 2, (const uint8_t *)meta, sizeof meta, NULL) == 0,
        "A component's core modules and metadata can be stored.");
  int rc = wh_cache_get_component(c, e, &k, &got, &n, &gmeta, &gmeta_len, NULL);
  CHECK(rc == 0 && n == 2 && gmeta_len == sizeof meta && memcmp(gmeta, meta, sizeof meta) == 0,
        "They load back: two modules and the metadata byte for byte (rc %d).", rc);
  if (rc == 0) {
    CHECK(run_f(e, got[0]) == 11 && run_f(e, got[1]) == 12,
          "The loaded core modules run and return 11 and 12, in order.");
    for (uint32_t i = 0; i < n; i++) wh_module_free(got[i]);
    free(got);
    free(gmeta);
  }
  wh_cache_key_t ko;
  wh_cache_key_component(&ko, other, comp, sizeof comp);
  CHECK(wh_cache_get_component(c, other, &ko, &got, &n, &gmeta, &gmeta_len, NULL) ==
            WH_ENOTFOUND,
        "An engine with another fingerprint misses the component.");

  /* a flipped byte in a module blob: the checksum catches it */
  char path[1024];
  artifact_path(path, sizeof path, &k);
  size_t len;
  uint8_t *bytes = read_file(path, &len);
  uint64_t drops = session(c).corrupt_drops;
  if (bytes && len > 200) {
    bytes[150] ^= 0x10;
    write_file(path, bytes, len);
  }
  CHECK(wh_cache_get_component(c, e, &k, &got, &n, &gmeta, &gmeta_len, NULL) == WH_ENOTFOUND &&
            session(c).corrupt_drops == drops + 1 && !exists(path),
        "A damaged component artifact is a miss, dropped and counted.");
  free(bytes);

  /* a sound file whose blob is not a component artifact: rejected on decode */
  CHECK(wh_cache_put(c, &k, (const uint8_t *)"WHARFCMP\1\0\0\0\xff\xff\xff\xff", 16, NULL) == 0,
        "A malformed component blob can be put through the generic layer.");
  CHECK(wh_cache_get_component(c, e, &k, &got, &n, &gmeta, &gmeta_len, NULL) == WH_ENOTFOUND &&
            session(c).corrupt_drops == drops + 2,
        "A component blob that does not decode is a miss and a corrupt drop.");
  wh_cache_close(c);
  wh_module_free(mods[0]);
  wh_module_free(mods[1]);
  wh_engine_free(e);
  wh_engine_free(other);
  free(a.p);
  free(b.p);
  remove_dir();
}

/* Hits are counted in memory and reach the index in batches: a load
 * writes nothing, and what was counted is written at the next write
 * transaction or at close. */
static void test_hits_batched(void) {
  fresh_dir();
  wh_engine_t *e = engine(true);
  buf_t a = make_module(21, 10), b = make_module(22, 10);
  wh_cache_t *c = open_cache(0, 0);
  bool hit;
  get_run(c, e, &a, &hit);
  for (int i = 0; i < 5; i++) get_run(c, e, &a, &hit);
  CHECK(hit && session(c).hits == 5, "Five hits are counted in the session.");
  CHECK(index_sql("SELECT hits FROM entries") == 0,
        "The index row is not written by the hits themselves.");
  get_run(c, e, &b, &hit); /* a miss: its store is a write transaction */
  CHECK(index_sql("SELECT SUM(hits) FROM entries") == 5,
        "The next write transaction records the five hits in the index.");
  get_run(c, e, &b, &hit);
  wh_cache_close(c);
  CHECK(index_sql("SELECT SUM(hits) FROM entries") == 6, "Close records the last hit.");
  CHECK(index_sql("SELECT COUNT(*) FROM entries e1, entries e2 WHERE e1.key <> e2.key"
                  " AND e1.last_used = e2.last_used") == 0,
        "last_used stays distinct across entries.");
  wh_engine_free(e);
  free(a.p);
  free(b.p);
  remove_dir();
}

/* ---- components through the cache (component-model/cached.c) ------------- */

/* A component made of core module sections only (they need no exports
 * to be valid): the modules of make_module(k[i], pad[i]).  span[2i],
 * span[2i+1] receive each module's offset and length in the bytes. */
static buf_t make_component(const int32_t *k, const size_t *pad, uint32_t n, uint64_t *span) {
  buf_t c = {0};
  put(&c, "\0asm\x0d\0\1\0", 8);
  for (uint32_t i = 0; i < n; i++) {
    buf_t m = make_module(k[i], pad[i]);
    byte(&c, 1);
    uleb(&c, m.len);
    span[2 * i] = c.len;
    span[2 * i + 1] = m.len;
    put(&c, m.p, m.len);
    free(m.p);
  }
  return c;
}

/* A module map as cached.c stores it, with `version`. */
static buf_t make_map(uint32_t version, const uint64_t *span, uint32_t n) {
  buf_t b = {0};
  put(&b, "WHCMMODS", 8);
  for (int i = 0; i < 4; i++) byte(&b, (uint8_t)(version >> (8 * i)));
  for (int i = 0; i < 4; i++) byte(&b, (uint8_t)(n >> (8 * i)));
  for (uint32_t i = 0; i < 2 * n; i++)
    for (int j = 0; j < 8; j++) byte(&b, (uint8_t)(span[i] >> (8 * j)));
  return b;
}

/* Builds `comp` through the cache and checks that its core modules run
 * and return want[0..n-1] in order; returns whether it was a hit (false
 * too on failure, after a failed check). */
static bool cm_get_run(wh_cache_t *c, wh_engine_t *e, const buf_t *comp, const int32_t *want,
                       uint32_t n, const char *when) {
  wh_diag_t d;
  bool hit = true;
  wh_cm_component_t *cc = wh_cm_component_new_cached(e, c, comp->p, comp->len, &hit, &d);
  CHECK(cc != NULL, "%s: the component is built (%s).", when, cc ? "ok" : d.msg);
  if (!cc) return false;
  bool same = cc->modules.n == n;
  for (uint32_t i = 0; same && i < n; i++) same = run_f(e, cc->modules.v[i]) == want[i];
  CHECK(same, "%s: its %u core modules run and return their constants, in order.", when, n);
  wh_cm_component_free(cc);
  return hit;
}

/* Stores a hand-made artifact for `comp`: modules `ks` (compiled here)
 * and metadata `meta`. */
static void put_artifact(wh_cache_t *c, wh_engine_t *e, const buf_t *comp, const int32_t *ks,
                         uint32_t n, const buf_t *meta) {
  wh_module_t *mods[4] = {0};
  wh_cache_key_t k;
  wh_cache_key_component(&k, e, comp->p, comp->len);
  for (uint32_t i = 0; i < n; i++) {
    buf_t m = make_module(ks[i], 100);
    mods[i] = wh_module_new(e, m.p, m.len, NULL);
    free(m.p);
  }
  CHECK(wh_cache_put_component(c, &k, mods, n, meta->p, meta->len, NULL) == 0,
        "A hand-made component artifact is stored.");
  for (uint32_t i = 0; i < n; i++) wh_module_free(mods[i]);
}

/* A miss compiles and stores; a hit takes the core modules from the
 * artifact; an artifact that is damaged, truncated, of another version,
 * or does not fit the component's bytes is dropped and the component
 * compiled again, never built from it. */
static void test_component_cached(void) {
  fresh_dir();
  wh_engine_t *e = engine(true);
  const int32_t ks[2] = {41, 42};
  const size_t pads[2] = {100, 100};
  uint64_t span[4];
  buf_t comp = make_component(ks, pads, 2, span);
  wh_cache_t *c = open_cache(0, 0);
  wh_cache_key_t k;
  wh_cache_key_component(&k, e, comp.p, comp.len);
  char path[1024];
  artifact_path(path, sizeof path, &k);

  wh_cache_stats_t s0 = session(c);
  CHECK(!cm_get_run(c, e, &comp, ks, 2, "first load"), "The first load is a miss.");
  wh_cache_stats_t s1 = session(c);
  CHECK(s1.compiles == s0.compiles + 1 && s1.stores == s0.stores + 1 && exists(path),
        "The miss counts one compile and stores the component's artifact.");
  CHECK(cm_get_run(c, e, &comp, ks, 2, "second load"), "The second load is a hit.");
  wh_cache_stats_t s2 = session(c);
  CHECK(s2.compiles == s1.compiles && s2.hits == s1.hits + 1,
        "The hit compiles nothing and is counted.");

  /* a flipped byte, then a truncated file: the cache's checksum and size */
  size_t len;
  uint8_t *bytes = read_file(path, &len);
  CHECK(bytes && len > 200, "The artifact can be read back.");
  if (bytes && len > 200) {
    bytes[len / 2] ^= 0x40;
    write_file(path, bytes, len);
    CHECK(!cm_get_run(c, e, &comp, ks, 2, "flipped byte"),
          "A damaged artifact is not used: the component is compiled again.");
    CHECK(session(c).corrupt_drops == s2.corrupt_drops + 1,
          "The damaged artifact is dropped and counted.");
    CHECK(cm_get_run(c, e, &comp, ks, 2, "after the flipped byte"),
          "The artifact stored by that compile is then a hit.");
    free(bytes);
    bytes = read_file(path, &len);
    if (bytes) write_file(path, bytes, len - 100);
    CHECK(!cm_get_run(c, e, &comp, ks, 2, "truncated"),
          "A truncated artifact is not used: the component is compiled again.");
    CHECK(session(c).corrupt_drops == s2.corrupt_drops + 2,
          "The truncated artifact is dropped and counted.");
  }
  free(bytes);

  /* sound files whose contents do not fit the component */
  struct {
    const char *what;
    int32_t ks[2];
    uint32_t n;
    uint32_t version;
    uint64_t shift; /* added to the first span's offset */
    bool garbage;
  } bad[] = {
      {"one module too few", {41, 0}, 1, 1, 0, false},
      {"a module at another offset", {41, 42}, 2, 1, 8, false},
      {"a module map of another version", {41, 42}, 2, 2, 0, false},
      {"metadata that is not a module map", {41, 42}, 2, 1, 0, true},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint64_t sp[4] = {span[0] + bad[i].shift, span[1], span[2], span[3]};
    buf_t meta = bad[i].garbage ? make_module(1, 0) : make_map(bad[i].version, sp, bad[i].n);
    wh_cache_clear(c, true, NULL, NULL);
    put_artifact(c, e, &comp, bad[i].ks, bad[i].n, &meta);
    uint64_t drops = session(c).corrupt_drops, compiles = session(c).compiles;
    CHECK(!cm_get_run(c, e, &comp, ks, 2, bad[i].what),
          "An artifact with %s is not used: the component is compiled again.", bad[i].what);
    CHECK(session(c).corrupt_drops == drops + 1 && session(c).compiles == compiles + 1,
          "The artifact with %s is dropped as corrupt and the component compiled once.",
          bad[i].what);
    CHECK(cm_get_run(c, e, &comp, ks, 2, bad[i].what),
          "After %s, the artifact stored afresh is a hit.", bad[i].what);
    free(meta.p);
  }

  /* an invalid component is neither built nor stored */
  uint64_t stores = session(c).stores;
  buf_t broken = {0};
  put(&broken, comp.p, comp.len - 3);
  bool hit = true;
  wh_diag_t d;
  CHECK(wh_cm_component_new_cached(e, c, broken.p, broken.len, &hit, &d) == NULL && !hit &&
            d.code != 0 && session(c).stores == stores,
        "A truncated component fails as without the cache and stores nothing.");
  wh_cache_key_t km = key_of(e, &comp);
  CHECK(wh_cm_component_new_cached_keyed(e, c, &km, comp.p, comp.len, &hit, &d) == NULL &&
            d.code == WH_EINVAL,
        "A module key is refused for a component.");
  wh_cache_close(c);
  CHECK(!cm_get_run(NULL, e, &comp, ks, 2, "no cache"), "Without a cache nothing is a hit.");
  free(broken.p);
  free(comp.p);
  wh_engine_free(e);
  remove_dir();
}

/* $WHARF_TESTDATA/components/<rel> read whole, or NULL (absent). */
static uint8_t *testdata(const char *rel, size_t *len) {
  const char *td = getenv("WHARF_TESTDATA");
  char path[1024];
  if (!td || !*td) return NULL;
  snprintf(path, sizeof path, "%s/components/%s", td, rel);
  return read_file(path, len);
}

/* add(a, b) and greet(name) of calc-noimport, through `cc`. */
static void calc_calls(wh_engine_t *e, const wh_cm_component_t *cc, int64_t *sum, char *greet,
                       size_t greet_len) {
  wh_cm_linker_t *l = wh_cm_linker_new(e);
  wh_exec_t *x = wh_exec_new(e);
  wh_cm_instance_t *inst = NULL;
  wh_diag_t d;
  *sum = INT64_MIN;
  greet[0] = 0;
  wh_exec_set_fuel(x, 1000000);
  if (wh_cm_instantiate(l, cc, x, NULL, &inst, &d) == 0) {
    wh_cm_val args[2] = {wh_cm_val_s32(1234), wh_cm_val_s32(-34)}, r = {0};
    if (wh_cm_call(inst, "add", args, 2, &r, 1, x) == 0 && r.kind == WH_CM_V_S32) *sum = r.of.s;
    wh_cm_val_fini(&r);
    wh_cm_val name = {0};
    wh_cm_val_string(&name, "wharf", 5);
    if (wh_cm_call(inst, "greet", &name, 1, &r, 1, x) == 0 && r.kind == WH_CM_V_STRING)
      snprintf(greet, greet_len, "%s", r.of.str.ptr);
    wh_cm_val_fini(&r);
    wh_cm_val_fini(&name);
  }
  wh_cm_instance_free(inst);
  wh_exec_free(x);
  wh_cm_linker_free(l);
}

/* A real component (calc-noimport) round trip: the hit's exports give
 * what a freshly compiled component's give; and a component with nested
 * components keeps its modules' order.  Skipped without $WHARF_TESTDATA. */
static void test_component_round_trip(void) {
  size_t len = 0, nlen = 0;
  uint8_t *bytes = testdata("handmade/calc-noimport.component.wasm", &len);
  uint8_t *nested = testdata("jco-runtime/simple-nested.component.wasm", &nlen);
  if (!bytes) {
    printf("\n  skipped: no $WHARF_TESTDATA/components/handmade/calc-noimport.component.wasm\n");
    free(nested);
    return;
  }
  fresh_dir();
  wh_engine_t *e = engine(true);
  wh_cache_t *c = open_cache(0, 0);
  wh_diag_t d;
  bool hit = true;
  wh_cm_component_t *fresh = wh_cm_component_new(e, bytes, len, &d);
  wh_cm_component_t *miss = wh_cm_component_new_cached(e, c, bytes, len, &hit, &d);
  CHECK(fresh && miss && !hit, "calc-noimport builds, and through the empty cache misses.");
  wh_cm_component_t *cached = wh_cm_component_new_cached(e, c, bytes, len, &hit, &d);
  CHECK(cached && hit, "calc-noimport then loads from the cache (%s).", cached ? "ok" : d.msg);
  if (fresh && cached) {
    int64_t s1, s2;
    char g1[64], g2[64];
    calc_calls(e, fresh, &s1, g1, sizeof g1);
    calc_calls(e, cached, &s2, g2, sizeof g2);
    CHECK(s1 == 1200 && s2 == s1, "add(1234, -34) is 1200 fresh and from the cache (%lld).",
          (long long)s2);
    CHECK(g1[0] && strcmp(g1, g2) == 0, "greet(\"wharf\") gives \"%s\" both ways (\"%s\").", g1,
          g2);
    CHECK(wh_cm_export_count(cached) == wh_cm_export_count(fresh),
          "Both list the same exports.");
  }
  wh_cm_component_free(fresh);
  wh_cm_component_free(miss);
  wh_cm_component_free(cached);
  if (nested) {
    wh_cm_component_t *a = wh_cm_component_new_cached(e, c, nested, nlen, &hit, &d);
    CHECK(a && !hit, "simple-nested builds and misses (%s).", a ? "ok" : d.msg);
    wh_cm_component_t *b = wh_cm_component_new_cached(e, c, nested, nlen, &hit, &d);
    CHECK(b && hit && a && b->modules.n == a->modules.n && b->modules.n > 1,
          "simple-nested, with core modules in nested components, loads from the cache.");
    uint64_t drops = session(c).corrupt_drops;
    CHECK(drops == 0, "Its module map matched: nothing was dropped.");
    wh_cm_component_free(a);
    wh_cm_component_free(b);
  }
  wh_cache_close(c);
  wh_engine_free(e);
  free(bytes);
  free(nested);
  remove_dir();
}

/* ---- tier auto: native code written back (cache.c, "writing native code
 * back") ---------------------------------------------------------------------- */

static wh_engine_t *auto_engine(void) {
  wh_engine_config_t cfg;
  wh_engine_config_default(&cfg);
  cfg.tier = WH_TIER_AUTO;
  return wh_engine_new(&cfg);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* Waits (at most 60 s) until m's background compile has ended; true if
 * it has. */
static bool wait_tierup(const wh_module_t *m) {
  for (int i = 0; i < 6000 && wh__native_tierup_state(m) == WH_TIERUP_RUNNING; i++) sleep_ms(10);
  return wh__native_tierup_state(m) != WH_TIERUP_RUNNING;
}

/* Takes the process's one background compile slot for a while: a module
 * of its own engine that LLVM needs a second or more for.  Modules made
 * meanwhile wait for their compile, so a test knows they are still
 * interpreted when they are stored.  Free it with wh_module_free (waits). */
static wh_module_t *occupy_compiler(wh_engine_t **eb) {
  buf_t heavy = make_heavy_module(120, 100);
  *eb = auto_engine();
  wh_module_t *m = wh_module_new(*eb, heavy.p, heavy.len, NULL);
  free(heavy.p);
  CHECK(m != NULL, "The compiler's blocker module compiles.");
  sleep_ms(50); /* its thread takes the compile slot */
  return m;
}

static bool skip_without_native(void) {
  if (wh_tier_available(WH_TIER_NATIVE)) return false;
  printf("\n  skipped: this build has no native tier\n");
  return true;
}

/* The watch the cache relies on (engine/native_tierup.c): a watch set
 * after the compile ended is told on a thread of its own when `late`, not
 * at all otherwise; a module without a compile only gets fini; fini runs
 * once, from wh_module_free, after done. */
typedef struct watch_rec {
  int done, fini, rc;
  bool fini_after_done;
  pthread_t thread;
} watch_rec_t;

static void rec_done(wh_module_t *m, int rc, void *arg) {
  watch_rec_t *r = arg;
  (void)m;
  r->done++;
  r->rc = rc;
  r->thread = pthread_self();
}

static void rec_fini(void *arg) {
  watch_rec_t *r = arg;
  r->fini++;
  r->fini_after_done = r->done > 0;
}

static void test_tierup_watch(void) {
  if (skip_without_native()) return;
  wh_engine_t *e = auto_engine(), *ei = engine(true);
  buf_t a = make_module(5, 10);
  watch_rec_t r1 = {0}, r2 = {0}, r3 = {0};
  wh_module_t *m = wh_module_new(e, a.p, a.len, NULL);
  CHECK(m && wait_tierup(m) && wh__native_tierup_state(m) == WH_TIERUP_ENDED,
        "A module of a tier-auto engine compiles in the background.");
  wh_tierup_watch_t w1 = {rec_done, rec_fini, &r1}, w2 = {rec_done, rec_fini, &r2};
  CHECK(m && wh__native_tierup_watch(m, &w1, true) == 1,
        "A late watch after the compile ended will be told.");
  CHECK(m && wh__native_tierup_watch(m, &w2, true) == WH_EBUSY, "A module has one watcher.");
  wh_module_free(m);
  CHECK(r1.done == 1 && r1.rc == 0 && !pthread_equal(r1.thread, pthread_self()),
        "It was told once, with rc 0, on a thread other than the caller's.");
  CHECK(r1.fini == 1 && r1.fini_after_done, "fini ran once, after done.");
  CHECK(r2.done == 0 && r2.fini == 0, "The refused watcher hears nothing.");

  m = wh_module_new(e, a.p, a.len, NULL);
  CHECK(m && wait_tierup(m), "A second module compiles.");
  CHECK(m && wh__native_tierup_watch(m, &w2, false) == 0,
        "A watch that is not late, after the compile ended, will not be told.");
  wh_module_free(m);
  CHECK(r2.done == 0 && r2.fini == 1, "Only its fini ran.");

  m = wh_module_new(ei, a.p, a.len, NULL);
  wh_tierup_watch_t w3 = {rec_done, rec_fini, &r3};
  CHECK(m && wh__native_tierup_state(m) == WH_TIERUP_NONE &&
            wh__native_tierup_watch(m, &w3, true) == 0,
        "A module that never compiles in the background takes a watch that is never told.");
  wh_module_free(m);
  CHECK(r3.done == 0 && r3.fini == 1, "Its fini runs when it is freed.");
  wh_engine_free(e);
  wh_engine_free(ei);
  free(a.p);
}

/* A module stored while its compile waits, and one loaded from that
 * interpreter-only artifact, have their entry rewritten with the native
 * code when it is ready; a module freed before its compile ran rewrites
 * nothing.  After a restart (new handle, new engine) the module is native
 * at once, starts no compile, and computes the same; the pin and the
 * entry's hits survive the rewrite. */
static void test_tierup_written_back(void) {
  if (skip_without_native()) return;
  fresh_dir();
  wh_engine_t *eb, *e = auto_engine();
  buf_t a = make_module(77, 100), b = make_module(78, 100);
  wh_cache_key_t ka = key_of(e, &a), kb = key_of(e, &b);
  char pa[1024], pb[1024];
  artifact_path(pa, sizeof pa, &ka);
  artifact_path(pb, sizeof pb, &kb);
  wh_cache_t *c = open_cache(0, 0);
  CHECK(wh_cache_pin(c, &ka, "deploy:a", NULL) == 0, "A's key is pinned.");
  wh_module_t *blocker = occupy_compiler(&eb);
  wh_module_t *ma = NULL, *mb = NULL;
  bool hit = true;

  /* A: a miss freed before its compile ran: the entry stays as stored */
  CHECK(wh_cache_get_module(c, e, a.p, a.len, &ma, &hit, NULL) == 0 && !hit &&
            wh__native_tierup_state(ma) == WH_TIERUP_RUNNING,
        "A's first load is a miss, stored while its compile waits.");
  long long interp_size = file_size(pa);
  wh_module_free(ma);
  CHECK(file_size(pa) == interp_size, "A module freed before its compile rewrites nothing.");
  /* B: a miss kept; A: a hit on the interpreter-only artifact, kept */
  CHECK(wh_cache_get_module(c, e, b.p, b.len, &mb, &hit, NULL) == 0 && !hit,
        "B's first load is a miss.");
  CHECK(wh_cache_get_module(c, e, a.p, a.len, &ma, &hit, NULL) == 0 && hit &&
            wh__native_tierup_state(ma) == WH_TIERUP_RUNNING,
        "A's second load is a hit that starts a compile (its artifact has no native code).");
  wh_module_free(blocker);
  CHECK(wait_tierup(ma) && wait_tierup(mb) && wh_module_tier(ma, NULL) == WH_TIER_NATIVE &&
            wh_module_tier(mb, NULL) == WH_TIER_NATIVE,
        "Both modules tier up to native code within a minute.");
  CHECK(run_f(e, ma) == 77 && run_f(e, mb) == 78, "Both compute their constants natively.");
  wh_module_free(ma); /* waits for the rewrite */
  wh_module_free(mb);
  CHECK(file_size(pa) > interp_size && file_size(pb) > interp_size,
        "Both artifacts were rewritten with native code (%lld, %lld bytes; %lld before).",
        file_size(pa), file_size(pb), interp_size);
  wh_cache_stats_t s = session(c);
  CHECK(s.stores == 4 && s.errors == 0 && s.entries == 2 && s.pinned == 1,
        "Two stores and two rewrites, no error; the pin stays (stores %llu, errors %llu).",
        (unsigned long long)s.stores, (unsigned long long)s.errors);
  CHECK((long long)s.bytes == file_size(pa) + file_size(pb),
        "The index's size is the rewritten files'.");
  wh_cache_close(c);
  wh_engine_free(e);
  wh_engine_free(eb);
  CHECK(index_sql("SELECT COUNT(*) FROM pins") == 1, "The pin outlives the rewrite.");

  /* a restart */
  e = auto_engine();
  c = open_cache(0, 0);
  wh_module_t *m = NULL;
  CHECK(wh_cache_load_module(c, e, &ka, &m, NULL) == 0 && m, "A loads by its key.");
  CHECK(m && wh_module_tier(m, NULL) == WH_TIER_NATIVE &&
            wh__native_tierup_state(m) == WH_TIERUP_NONE,
        "After a restart A is native at once and compiles nothing.");
  CHECK(m && run_f(e, m) == 77, "A computes the same after the restart.");
  wh_module_free(m);
  m = NULL;
  CHECK(wh_cache_get_module(c, e, b.p, b.len, &m, &hit, NULL) == 0 && hit && m &&
            wh_module_tier(m, NULL) == WH_TIER_NATIVE &&
            wh__native_tierup_state(m) == WH_TIERUP_NONE && run_f(e, m) == 78,
        "B is a hit, native at once, computing the same.");
  wh_module_free(m);
  s = session(c);
  CHECK(s.hits == 2 && s.misses == 0 && s.compiles == 0 && s.stores == 0,
        "The restart's loads are two hits and nothing else.");
  wh_cache_close(c);
  CHECK(index_sql("SELECT hits FROM entries WHERE key IN (SELECT key FROM pins)") == 2,
        "A's entry kept its hit count through the rewrite (1 before, 1 after).");
  wh_engine_free(e);
  free(a.p);
  free(b.p);
  remove_dir();
}

/* A component's artifact is rewritten once, when all of its modules have
 * their native code; after a restart they are native at once. */
static void test_component_tierup_written_back(void) {
  if (skip_without_native()) return;
  fresh_dir();
  wh_engine_t *eb, *e = auto_engine();
  const int32_t ks[2] = {51, 52};
  const size_t pads[2] = {100, 100};
  uint64_t span[4];
  buf_t comp = make_component(ks, pads, 2, span);
  wh_cache_key_t k;
  wh_cache_key_component(&k, e, comp.p, comp.len);
  char path[1024];
  artifact_path(path, sizeof path, &k);
  wh_cache_t *c = open_cache(0, 0);
  wh_module_t *blocker = occupy_compiler(&eb);
  bool hit = true;
  wh_diag_t d;

  wh_cm_component_t *cc = wh_cm_component_new_cached(e, c, comp.p, comp.len, &hit, &d);
  CHECK(cc && !hit, "The component's first load is a miss.");
  long long interp_size = file_size(path);
  wh_cm_component_free(cc);
  CHECK(file_size(path) == interp_size && session(c).stores == 1,
        "A component freed before its modules compiled rewrites nothing.");
  cc = wh_cm_component_new_cached(e, c, comp.p, comp.len, &hit, &d);
  CHECK(cc && hit && cc->modules.n == 2, "The second load is a hit.");
  wh_module_free(blocker);
  bool native = cc != NULL;
  for (uint32_t i = 0; cc && i < cc->modules.n; i++)
    native &= wait_tierup(cc->modules.v[i]) &&
              wh_module_tier(cc->modules.v[i], NULL) == WH_TIER_NATIVE;
  CHECK(native, "Its core modules tier up to native code within a minute.");
  wh_cm_component_free(cc);
  wh_cache_stats_t s = session(c);
  CHECK(file_size(path) > interp_size && s.stores == 2 && s.errors == 0,
        "The artifact was rewritten once, with native code (%lld bytes, %lld before; "
        "stores %llu).", file_size(path), interp_size, (unsigned long long)s.stores);
  wh_cache_close(c);
  wh_engine_free(e);
  wh_engine_free(eb);

  e = auto_engine();
  c = open_cache(0, 0);
  cc = wh_cm_component_new_cached(e, c, comp.p, comp.len, &hit, &d);
  CHECK(cc && hit, "After a restart the component is a hit.");
  bool ok = cc && cc->modules.n == 2;
  for (uint32_t i = 0; ok && i < 2; i++)
    ok = wh_module_tier(cc->modules.v[i], NULL) == WH_TIER_NATIVE &&
         wh__native_tierup_state(cc->modules.v[i]) == WH_TIERUP_NONE &&
         run_f(e, cc->modules.v[i]) == ks[i];
  CHECK(ok, "Its modules are native at once, compile nothing and compute the same.");
  wh_cm_component_free(cc);
  wh_cache_close(c);
  wh_engine_free(e);
  free(comp.p);
  remove_dir();
}

/* A rewrite never fails its module: one whose rename fails is counted as
 * an error and logged, the module runs natively anyway; an entry cleared
 * while the module compiled is not brought back. */
static void test_rewrite_trouble(void) {
  if (skip_without_native()) return;
  fresh_dir();
  wh_engine_t *eb, *e = auto_engine();
  buf_t a = make_module(61, 100), b = make_module(62, 100);
  wh_cache_key_t ka = key_of(e, &a);
  char pa[1024], inner[1100];
  artifact_path(pa, sizeof pa, &ka);
  wh_cache_t *c = open_cache(0, 0);
  log_rec_t log = {0};
  wh_cache_set_log(c, log_cb, &log);
  wh_module_t *blocker = occupy_compiler(&eb);
  wh_module_t *ma = NULL, *mb = NULL;
  bool hit = true;
  CHECK(wh_cache_get_module(c, e, a.p, a.len, &ma, &hit, NULL) == 0 && !hit &&
            wh_cache_get_module(c, e, b.p, b.len, &mb, &hit, NULL) == 0 && !hit,
        "Two misses are stored while their compiles wait.");
  /* A: a directory where its artifact was, so the rewrite's rename fails */
  unlink(pa);
  mkdir(pa, 0700);
  snprintf(inner, sizeof inner, "%s/x", pa);
  write_file(inner, "x", 1);
  /* B: its entry cleared */
  wh_cache_gc_report_t rep;
  CHECK(wh_cache_clear(c, false, &rep, NULL) == 0 && rep.cleared == 2,
        "The cache is cleared under the compiling modules.");
  wh_cache_stats_t s0 = session(c);
  wh_module_free(blocker);
  CHECK(wait_tierup(ma) && wait_tierup(mb) && wh_module_tier(ma, NULL) == WH_TIER_NATIVE &&
            wh_module_tier(mb, NULL) == WH_TIER_NATIVE,
        "Both modules tier up anyway.");
  CHECK(run_f(e, ma) == 61 && run_f(e, mb) == 62, "Both run natively.");
  wh_module_free(ma);
  wh_module_free(mb);
  wh_cache_stats_t s = session(c);
  CHECK(s.errors == s0.errors && s.stores == s0.stores && s.entries == 0,
        "Entries cleared meanwhile are not brought back, and that is no error.");
  wh_cache_close(c);
  unlink(inner);
  rmdir(pa);

  /* the same with the entry still indexed: the failed rename is an error */
  wh_engine_free(eb);
  c = open_cache(0, 0);
  wh_cache_set_log(c, log_cb, &log);
  blocker = occupy_compiler(&eb);
  ma = NULL;
  CHECK(wh_cache_get_module(c, e, a.p, a.len, &ma, &hit, NULL) == 0 && !hit,
        "The module is stored again.");
  unlink(pa);
  mkdir(pa, 0700);
  write_file(inner, "x", 1);
  s0 = session(c);
  log.calls = 0;
  wh_module_free(blocker);
  CHECK(wait_tierup(ma) && wh_module_tier(ma, NULL) == WH_TIER_NATIVE && run_f(e, ma) == 61,
        "The module tiers up and runs natively.");
  wh_module_free(ma);
  s = session(c);
  CHECK(s.errors == s0.errors + 1 && s.stores == s0.stores,
        "The failed rewrite counts one error and no store.");
  CHECK(log.calls == 1 && strstr(log.last, "cannot rewrite artifact") != NULL,
        "The log is told (\"%s\").", log.last);
  wh_cache_close(c);
  unlink(inner);
  rmdir(pa);
  wh_engine_free(e);
  wh_engine_free(eb);
  free(a.p);
  free(b.p);
  remove_dir();
}

/* A cache closed while modules it produced still compile: their compiles
 * end later and write nothing (the artifacts and index are as they were),
 * nothing crashes; the next handle finds the interpreter-only artifacts
 * and compiles again. */
static void test_closed_before_tierup(void) {
  if (skip_without_native()) return;
  fresh_dir();
  wh_engine_t *eb, *e = auto_engine();
  buf_t a = make_module(91, 100);
  const int32_t ks[2] = {92, 93};
  const size_t pads[2] = {100, 100};
  uint64_t span[4];
  buf_t comp = make_component(ks, pads, 2, span);
  wh_cache_key_t ka = key_of(e, &a), kc;
  wh_cache_key_component(&kc, e, comp.p, comp.len);
  char pa[1024], pc[1024];
  artifact_path(pa, sizeof pa, &ka);
  artifact_path(pc, sizeof pc, &kc);
  wh_cache_t *c = open_cache(0, 0);
  wh_module_t *blocker = occupy_compiler(&eb);
  wh_module_t *m = NULL;
  bool hit = true;
  CHECK(wh_cache_get_module(c, e, a.p, a.len, &m, &hit, NULL) == 0 && !hit,
        "The module is a miss, stored.");
  wh_cm_component_t *cc = wh_cm_component_new_cached(e, c, comp.p, comp.len, &hit, NULL);
  CHECK(cc && !hit, "The component is a miss, stored.");
  size_t la = 0, lc = 0;
  uint8_t *before_a = read_file(pa, &la), *before_c = read_file(pc, &lc);
  long long sum_before = index_sql("SELECT SUM(size) FROM entries");
  wh_cache_close(c);
  wh_module_free(blocker);
  bool native = wait_tierup(m) && wh_module_tier(m, NULL) == WH_TIER_NATIVE;
  for (uint32_t i = 0; cc && i < cc->modules.n; i++)
    native &= wait_tierup(cc->modules.v[i]) &&
              wh_module_tier(cc->modules.v[i], NULL) == WH_TIER_NATIVE;
  CHECK(native, "The modules still tier up after the cache is closed.");
  CHECK(run_f(e, m) == 91, "The module computes its constant natively.");
  wh_module_free(m);
  wh_cm_component_free(cc);
  size_t la2 = 0, lc2 = 0;
  uint8_t *after_a = read_file(pa, &la2), *after_c = read_file(pc, &lc2);
  CHECK(before_a && after_a && la == la2 && memcmp(before_a, after_a, la) == 0 && before_c &&
            after_c && lc == lc2 && memcmp(before_c, after_c, lc) == 0,
        "Nothing was written to the artifacts after the cache was closed.");
  int bins, temps;
  count_files(&bins, &temps);
  CHECK(bins == 2 && temps == 0 && index_sql("SELECT SUM(size) FROM entries") == sum_before,
        "No temp file, no new artifact, the index unchanged.");
  free(before_a);
  free(before_c);
  free(after_a);
  free(after_c);

  wh_engine_free(e);
  e = auto_engine();
  c = open_cache(0, 0);
  m = NULL;
  CHECK(wh_cache_get_module(c, e, a.p, a.len, &m, &hit, NULL) == 0 && hit && m &&
            wh_module_tier(m, NULL) == WH_TIER_INTERP &&
            wh__native_tierup_state(m) != WH_TIERUP_NONE,
        "The next handle loads the interpreter-only artifact and compiles again.");
  wh_module_free(m);
  wh_cache_close(c);
  wh_engine_free(e);
  wh_engine_free(eb);
  free(a.p);
  free(comp.p);
  remove_dir();
}

/* A module the native tier refuses (a function over its size bound, or
 * no LLVM in this build) has the refusal stored: after a restart it runs
 * in the interpreter at once, with the reason, and is not compiled
 * again. */
static void test_native_refusal_stored(void) {
  fresh_dir();
  wh_engine_t *e = auto_engine();
  buf_t a = make_long_module(200000);
  wh_cache_key_t k = key_of(e, &a);
  wh_cache_t *c = open_cache(0, 0);
  wh_module_t *m = NULL;
  const char *why = NULL;
  bool hit = true;
  CHECK(wh_cache_get_module(c, e, a.p, a.len, &m, &hit, NULL) == 0 && !hit && m,
        "The long module is a miss, compiled and stored.");
  CHECK(m && wait_tierup(m) && wh_module_tier(m, &why) == WH_TIER_INTERP && why,
        "The native tier refuses it, with a reason (%s).", why ? why : "none");
  char reason[512];
  snprintf(reason, sizeof reason, "%s", why ? why : "");
  CHECK(m && run_fuel(e, m, 1ull << 40) == 200001, "The interpreter runs it.");
  wh_module_free(m);
  CHECK(session(c).errors == 0, "No cache error.");
  wh_cache_close(c);
  wh_engine_free(e);

  e = auto_engine();
  c = open_cache(0, 0);
  m = NULL;
  why = NULL;
  CHECK(wh_cache_load_module(c, e, &k, &m, NULL) == 0 && m,
        "After a restart the module loads from the cache.");
  CHECK(m && wh_module_tier(m, &why) == WH_TIER_INTERP && why && strcmp(why, reason) == 0,
        "It runs in the interpreter with the stored reason.");
  CHECK(m && wh__native_tierup_state(m) == WH_TIERUP_NONE,
        "It is not compiled again.");
  CHECK(m && run_fuel(e, m, 1ull << 40) == 200001, "It computes the same.");
  wh_module_free(m);
  wh_cache_close(c);
  wh_engine_free(e);
  free(a.p);
  remove_dir();
}

/* ---- registry ---------------------------------------------------------------- */

static CU_TestInfo tests[] = {
    {"key derivation", test_key_derivation},
    {"round trip", test_round_trip},
    {"corruption", test_corruption},
    {"eviction", test_eviction},
    {"pinning", test_pinning},
    {"reconciliation", test_reconciliation},
    {"index rebuilt", test_index_rebuilt},
    {"store failure", test_store_failure},
    {"two processes race", test_two_processes_race},
    {"processes share dir", test_processes_share_dir},
    {"threads share handle", test_threads_share_handle},
    {"killed writer", test_killed_writer},
    {"open errors", test_open_errors},
    {"component artifact", test_component_artifact},
    {"hits batched", test_hits_batched},
    {"tier-up watch", test_tierup_watch},
    {"tier-up written back", test_tierup_written_back},
    {"closed before tier-up", test_closed_before_tierup},
    {"rewrite trouble", test_rewrite_trouble},
    {"native refusal stored", test_native_refusal_stored},
    CU_TEST_INFO_NULL,
};

/* component-model/cached.c */
static CU_TestInfo cm_tests[] = {
    {"component cached", test_component_cached},
    {"component round trip", test_component_round_trip},
    {"component tier-up written back", test_component_tierup_written_back},
    CU_TEST_INFO_NULL,
};

/* keeps only the tests whose name contains `want` */
static void filter(CU_TestInfo *t, const char *want) {
  size_t w = 0;
  for (size_t r = 0; t[r].pName; r++)
    if (strstr(t[r].pName, want)) t[w++] = t[r];
  t[w] = (CU_TestInfo)CU_TEST_INFO_NULL;
}

int main(int argc, char **argv) {
  CU_SuiteInfo suites[] = {{.pName = "cache.c", .pTests = tests},
                           {.pName = "component-model/cached.c", .pTests = cm_tests},
                           CU_SUITE_INFO_NULL};
  if (argc > 1) {
    filter(tests, argv[1]);
    filter(cm_tests, argv[1]);
  }
  if (CU_initialize_registry() != CUE_SUCCESS || CU_register_suites(suites) != CUE_SUCCESS) {
    fprintf(stderr, "wharf-unit-cache: %s\n", CU_get_error_msg());
    return 2;
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_ErrorCode rc = CU_basic_run_tests();
  unsigned failures = CU_get_number_of_failures();
  unsigned failed = CU_get_number_of_tests_failed() + CU_get_number_of_suites_failed();
  CU_cleanup_registry();
  if (rc != CUE_SUCCESS) return 2;
  return failures || failed ? 1 : 0;
}
