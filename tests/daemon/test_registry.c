/*
 * test_registry.c - daemon/registry.c: the deploy/get/list/count/delete
 * round trip, versions that are never reused, tenant isolation, shared
 * blobs, reopening, reconciliation after damage, corrupt blobs, name
 * rules, crash safety (a child deploying in a loop is SIGKILLed at random
 * moments) and two threads deploying at once.
 *
 * Every test works in its own mkdtemp directory and removes it.  Set
 * WHARF_TEST_SEED to replay the crash test's random kill times.
 */
#include <CUnit/Basic.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "registry.h"

/* SHA-256("hello") */
#define HELLO_SHA "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static unsigned seed;

/* ---- helpers --------------------------------------------------------------- */

static char *make_dir(void) {
  const char *tmp = getenv("TMPDIR");
  char *path = NULL;
  if (asprintf(&path, "%s/wharf-reg-XXXXXX", tmp && tmp[0] ? tmp : "/tmp") < 0) return NULL;
  if (!mkdtemp(path)) {
    free(path);
    return NULL;
  }
  return path;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path);
}

static void remove_dir(char *path) {
  if (path) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(path);
}

static void blob_file(char out[PATH_MAX], const char *dir, const char *digest) {
  snprintf(out, PATH_MAX, "%s/blobs/%.2s/%s", dir, digest, digest);
}

static bool exists(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0;
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

/* Counts the files in blobs/'s shards; `temps` those named *.tmp. */
static unsigned count_blob_files(const char *dir, unsigned *temps, bool *all_hex) {
  char top[PATH_MAX];
  unsigned n = 0;
  *temps = 0;
  *all_hex = true;
  snprintf(top, sizeof top, "%s/blobs", dir);
  DIR *t = opendir(top);
  if (!t) return 0;
  struct dirent *de;
  while ((de = readdir(t)) != NULL) {
    if (de->d_name[0] == '.') continue;
    char sdir[PATH_MAX + 256];
    snprintf(sdir, sizeof sdir, "%s/%s", top, de->d_name);
    DIR *s = opendir(sdir);
    if (!s) continue;
    struct dirent *fe;
    while ((fe = readdir(s)) != NULL) {
      if (strcmp(fe->d_name, ".") == 0 || strcmp(fe->d_name, "..") == 0) continue;
      size_t len = strlen(fe->d_name);
      n++;
      if (len > 4 && strcmp(fe->d_name + len - 4, ".tmp") == 0) (*temps)++;
      if (len != 64 || strspn(fe->d_name, "0123456789abcdef") != 64 ||
          strncmp(fe->d_name, de->d_name, 2) != 0)
        *all_hex = false;
    }
    closedir(s);
  }
  closedir(t);
  return n;
}

/* Runs a query returning one integer against registry.db (white-box). */
static long long db_int(const char *dir, const char *sql) {
  char path[PATH_MAX];
  sqlite3 *db = NULL;
  sqlite3_stmt *s = NULL;
  long long v = -1;
  snprintf(path, sizeof path, "%s/registry.db", dir);
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW)
    v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return v;
}

static int db_exec(const char *dir, const char *sql) {
  char path[PATH_MAX];
  sqlite3 *db = NULL;
  snprintf(path, sizeof path, "%s/registry.db", dir);
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
  sqlite3_close(db);
  return rc;
}

static wh_reg_t *open_reg(const char *dir, wh_diag_t *d) {
  wh_reg_t *r = NULL;
  wh_diag_t local;
  int rc = wh_reg_open(dir, &r, d ? d : &local);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc) fprintf(stderr, "\n  wh_reg_open: %s\n", (d ? d : &local)->msg);
  return r;
}

static int deploy_str(wh_reg_t *r, const char *tenant, const char *name, const char *text,
                      wh_reg_entry_t *e) {
  wh_diag_t d;
  int rc = wh_reg_deploy(r, tenant, name, (const uint8_t *)text, strlen(text), NULL, NULL, e, &d);
  if (rc) fprintf(stderr, "\n  wh_reg_deploy: %s\n", d.msg);
  return rc;
}

/* True if the blob reads back as `text`. */
static bool blob_is(wh_reg_t *r, const char *digest, const char *text) {
  uint8_t *b = NULL;
  size_t n = 0;
  bool ok = wh_reg_read_blob(r, digest, &b, &n) == 0 && n == strlen(text) &&
            memcmp(b, text, n) == 0;
  free(b);
  return ok;
}

/* The number of rows an open's reconciliation marked deleted. */
static unsigned rows_marked(const wh_diag_t *d) {
  unsigned n = 0;
  const char *p = strstr(d->msg, "reconciled: ");
  if (p) sscanf(p, "reconciled: %u deployment(s)", &n);
  return n;
}

/* ---- names ------------------------------------------------------------------- */

static void test_names(void) {
  char long_name[WH_REG_NAME_MAX + 2];
  memset(long_name, 'a', sizeof long_name);
  long_name[WH_REG_NAME_MAX] = '\0';
  CU_ASSERT_TRUE(wh_reg_valid_name(long_name)); /* 128 is the limit */
  long_name[WH_REG_NAME_MAX] = 'a';
  long_name[WH_REG_NAME_MAX + 1] = '\0';
  CU_ASSERT_FALSE(wh_reg_valid_name(long_name)); /* 129 is not */
  CU_ASSERT_TRUE(wh_reg_valid_name("a"));
  CU_ASSERT_TRUE(wh_reg_valid_name("Hello-World_1.2"));
  CU_ASSERT_TRUE(wh_reg_valid_name("9lives"));
  CU_ASSERT_TRUE(wh_reg_valid_name("a.."));
  CU_ASSERT_FALSE(wh_reg_valid_name(NULL));
  CU_ASSERT_FALSE(wh_reg_valid_name(""));
  CU_ASSERT_FALSE(wh_reg_valid_name("../x"));
  CU_ASSERT_FALSE(wh_reg_valid_name(".hidden"));
  CU_ASSERT_FALSE(wh_reg_valid_name("."));
  CU_ASSERT_FALSE(wh_reg_valid_name("-x"));
  CU_ASSERT_FALSE(wh_reg_valid_name("a/b"));
  CU_ASSERT_FALSE(wh_reg_valid_name("a b"));
  CU_ASSERT_FALSE(wh_reg_valid_name("caf\xc3\xa9"));
  CU_ASSERT_FALSE(wh_reg_valid_name("a\\b"));

  /* The registry applies the same rules, and bounds tenants. */
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  wh_reg_entry_t e;
  wh_diag_t d;
  const char *bad[] = {"", "../x", ".hidden", "-x", "a/b", long_name};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    CU_ASSERT_EQUAL(wh_reg_deploy(r, "t", bad[i], (const uint8_t *)"x", 1, NULL, NULL, &e, &d),
                    WH_EINVAL);
    CU_ASSERT_EQUAL(d.code, WH_EINVAL);
    CU_ASSERT_EQUAL(wh_reg_get(r, "t", bad[i], &e), WH_EINVAL);
    CU_ASSERT_EQUAL(wh_reg_delete(r, "t", bad[i]), WH_EINVAL);
  }
  char tenant[WH_REG_TENANT_MAX + 2];
  memset(tenant, 't', sizeof tenant);
  tenant[WH_REG_TENANT_MAX] = '\0';
  CU_ASSERT_EQUAL(deploy_str(r, tenant, "ok", "x", &e), 0); /* 64 is the limit */
  CU_ASSERT_STRING_EQUAL(e.tenant, tenant);
  tenant[WH_REG_TENANT_MAX] = 't';
  tenant[WH_REG_TENANT_MAX + 1] = '\0';
  CU_ASSERT_EQUAL(wh_reg_deploy(r, tenant, "ok", (const uint8_t *)"x", 1, NULL, NULL, &e, &d),
                  WH_EINVAL);
  CU_ASSERT_EQUAL(wh_reg_deploy(r, "", "ok", (const uint8_t *)"x", 1, NULL, NULL, &e, &d), WH_EINVAL);
  uint32_t n;
  CU_ASSERT_EQUAL(wh_reg_count(r, tenant, &n), WH_EINVAL);
  CU_ASSERT_EQUAL(wh_reg_get(r, "", "ok", &e), WH_EINVAL);
  /* A caller-supplied digest must look like one. */
  CU_ASSERT_EQUAL(wh_reg_deploy(r, "t", "ok", (const uint8_t *)"hello", 5,
                                "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824", NULL,
                                &e, &d),
                  WH_EINVAL);
  CU_ASSERT_EQUAL(wh_reg_deploy(r, "t", "ok", (const uint8_t *)"hello", 5, "abc", NULL, &e, &d),
                  WH_EINVAL);
  wh_reg_close(r);
  remove_dir(dir);
}

/* ---- round trip ------------------------------------------------------------------ */

typedef struct seen {
  char keys[16][200];
  int n, stop_at;
} seen_t;

static int collect(void *ctx, const wh_reg_entry_t *e) {
  seen_t *s = ctx;
  if (s->n < 16) snprintf(s->keys[s->n], sizeof s->keys[0], "%s/%s@%u", e->tenant, e->name, e->version);
  s->n++;
  return s->n == s->stop_at ? 42 : 0;
}

static void test_round_trip(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  wh_reg_entry_t e, g;
  int64_t before = (int64_t)time(NULL) * 1000 - 1000;

  CU_ASSERT_EQUAL_FATAL(deploy_str(r, "alice", "app", "hello", &e), 0);
  CU_ASSERT_STRING_EQUAL(e.tenant, "alice");
  CU_ASSERT_STRING_EQUAL(e.name, "app");
  CU_ASSERT_EQUAL(e.version, 1);
  CU_ASSERT_STRING_EQUAL(e.digest, HELLO_SHA);
  CU_ASSERT_EQUAL(e.size, 5);
  CU_ASSERT(e.created_ms >= before && e.created_ms <= (int64_t)time(NULL) * 1000 + 1000);

  CU_ASSERT_EQUAL_FATAL(wh_reg_get(r, "alice", "app", &g), 0);
  CU_ASSERT_EQUAL(memcmp(&e, &g, sizeof e), 0); /* get returns what deploy said */
  CU_ASSERT_TRUE(blob_is(r, HELLO_SHA, "hello"));
  char path[PATH_MAX];
  blob_file(path, dir, HELLO_SHA);
  struct stat st;
  CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
  CU_ASSERT_EQUAL(st.st_mode & 0777, 0600);

  /* More names (one with a digest the caller computed, one empty), listed
   * in name order. */
  CU_ASSERT_EQUAL(deploy_str(r, "alice", "zeta", "zzz", &e), 0);
  CU_ASSERT_EQUAL(wh_reg_deploy(r, "alice", "beta", (const uint8_t *)"hello", 5, HELLO_SHA, NULL, &e,
                                NULL),
                  0);
  CU_ASSERT_STRING_EQUAL(e.digest, HELLO_SHA);
  CU_ASSERT_EQUAL(wh_reg_deploy(r, "alice", "Empty", NULL, 0, NULL, NULL, &e, NULL), 0);
  CU_ASSERT_STRING_EQUAL(e.digest, EMPTY_SHA);
  CU_ASSERT_TRUE(blob_is(r, EMPTY_SHA, ""));
  CU_ASSERT_EQUAL(deploy_str(r, "alice", "zeta", "zzz2", &e), 0);
  CU_ASSERT_EQUAL(e.version, 2);

  wh_reg_entry_t *list = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL_FATAL(wh_reg_list(r, "alice", &list, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 4);
  CU_ASSERT_STRING_EQUAL(list[0].name, "Empty"); /* bytewise order: capitals first */
  CU_ASSERT_STRING_EQUAL(list[1].name, "app");
  CU_ASSERT_STRING_EQUAL(list[2].name, "beta");
  CU_ASSERT_STRING_EQUAL(list[3].name, "zeta");
  CU_ASSERT_EQUAL(list[3].version, 2);
  CU_ASSERT_EQUAL(list[3].size, 4);
  CU_ASSERT_STRING_EQUAL(list[3].tenant, "alice");
  free(list);
  uint32_t count = 0;
  CU_ASSERT_EQUAL(wh_reg_count(r, "alice", &count), 0);
  CU_ASSERT_EQUAL(count, 4);

  /* foreach: the latest live version of every name, stopping early. */
  CU_ASSERT_EQUAL(deploy_str(r, "bob", "app", "bob's", &e), 0);
  seen_t s = {.stop_at = -1};
  CU_ASSERT_EQUAL(wh_reg_foreach(r, collect, &s), 0);
  CU_ASSERT_EQUAL_FATAL(s.n, 5);
  CU_ASSERT_STRING_EQUAL(s.keys[0], "alice/Empty@1");
  CU_ASSERT_STRING_EQUAL(s.keys[3], "alice/zeta@2");
  CU_ASSERT_STRING_EQUAL(s.keys[4], "bob/app@1");
  seen_t stop = {.stop_at = 2};
  CU_ASSERT_EQUAL(wh_reg_foreach(r, collect, &stop), 42);
  CU_ASSERT_EQUAL(stop.n, 2);

  /* Delete: gone from get, list and count; the second delete finds nothing. */
  CU_ASSERT_EQUAL(wh_reg_delete(r, "alice", "zeta"), 0);
  CU_ASSERT_EQUAL(wh_reg_get(r, "alice", "zeta", &g), WH_ENOTFOUND);
  CU_ASSERT_EQUAL(wh_reg_delete(r, "alice", "zeta"), WH_ENOTFOUND);
  CU_ASSERT_EQUAL(wh_reg_delete(r, "alice", "never"), WH_ENOTFOUND);
  CU_ASSERT_EQUAL(wh_reg_get(r, "alice", "never", &g), WH_ENOTFOUND);
  CU_ASSERT_EQUAL(wh_reg_count(r, "alice", &count), 0);
  CU_ASSERT_EQUAL(count, 3);
  CU_ASSERT_EQUAL(wh_reg_list(r, "alice", &list, &n), 0);
  CU_ASSERT_EQUAL(n, 3);
  free(list);
  /* zeta's blobs went with it ("zzz" and "zzz2" were used by no one else) */
  unsigned temps;
  bool all_hex;
  CU_ASSERT_EQUAL(count_blob_files(dir, &temps, &all_hex), 3); /* hello, "", bob's */
  CU_ASSERT_EQUAL(temps, 0);
  CU_ASSERT_TRUE(all_hex);

  /* A tenant with nothing: an empty list, not an error. */
  CU_ASSERT_EQUAL(wh_reg_list(r, "nobody", &list, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  free(list);
  CU_ASSERT_EQUAL(wh_reg_count(r, "nobody", &count), 0);
  CU_ASSERT_EQUAL(count, 0);

  wh_reg_close(r);
  wh_reg_close(NULL); /* a no-op */
  remove_dir(dir);
}

/* ---- versions ------------------------------------------------------------------- */

static void test_versions(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  wh_reg_entry_t e;
  const char *texts[] = {"one", "two", "three"};
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(deploy_str(r, "t", "x", texts[i], &e), 0);
    CU_ASSERT_EQUAL(e.version, (uint32_t)i + 1);
  }
  /* Redeploying the same bytes is a new version too. */
  CU_ASSERT_EQUAL(deploy_str(r, "t", "x", "three", &e), 0);
  CU_ASSERT_EQUAL(e.version, 4);
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "x", &e), 0);
  CU_ASSERT_EQUAL(e.version, 4);
  CU_ASSERT_TRUE(blob_is(r, e.digest, "three"));
  /* Another name counts from 1. */
  CU_ASSERT_EQUAL(deploy_str(r, "t", "y", "one", &e), 0);
  CU_ASSERT_EQUAL(e.version, 1);

  CU_ASSERT_EQUAL(wh_reg_delete(r, "t", "x"), 0);
  CU_ASSERT_EQUAL(deploy_str(r, "t", "x", "again", &e), 0);
  CU_ASSERT_EQUAL(e.version, 5); /* not 1: versions are never reused */
  CU_ASSERT_EQUAL(wh_reg_delete(r, "t", "x"), 0);
  wh_reg_close(r);

  r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "x", &e), WH_ENOTFOUND);
  CU_ASSERT_EQUAL(deploy_str(r, "t", "x", "after reopen", &e), 0);
  CU_ASSERT_EQUAL(e.version, 6); /* not even across a reopen */
  /* "one" is still y's: its blob survived x's deletes. */
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "y", &e), 0);
  CU_ASSERT_TRUE(blob_is(r, e.digest, "one"));
  wh_reg_close(r);
  remove_dir(dir);
}

/* ---- tenants -------------------------------------------------------------------- */

static void test_tenants(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  wh_reg_entry_t a, b, e;
  CU_ASSERT_EQUAL(deploy_str(r, "alice", "app", "alice's app", &a), 0);
  CU_ASSERT_EQUAL(deploy_str(r, "bob", "app", "bob's app", &b), 0);
  CU_ASSERT_EQUAL(deploy_str(r, "bob", "tool", "bob's tool", &e), 0);
  CU_ASSERT_EQUAL(a.version, 1);
  CU_ASSERT_EQUAL(b.version, 1); /* versions are per tenant too */

  CU_ASSERT_EQUAL(wh_reg_get(r, "alice", "app", &e), 0);
  CU_ASSERT_STRING_EQUAL(e.digest, a.digest);
  CU_ASSERT_EQUAL(wh_reg_get(r, "bob", "app", &e), 0);
  CU_ASSERT_STRING_EQUAL(e.digest, b.digest);
  CU_ASSERT_EQUAL(wh_reg_get(r, "alice", "tool", &e), WH_ENOTFOUND);
  CU_ASSERT_EQUAL(wh_reg_get(r, "carol", "app", &e), WH_ENOTFOUND);
  CU_ASSERT_EQUAL(wh_reg_delete(r, "alice", "tool"), WH_ENOTFOUND);
  /* Tenant names are compared exactly. */
  CU_ASSERT_EQUAL(wh_reg_get(r, "Alice", "app", &e), WH_ENOTFOUND);
  CU_ASSERT_EQUAL(wh_reg_get(r, "alic", "app", &e), WH_ENOTFOUND);

  wh_reg_entry_t *list = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL(wh_reg_list(r, "alice", &list, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 1);
  CU_ASSERT_STRING_EQUAL(list[0].tenant, "alice");
  CU_ASSERT_STRING_EQUAL(list[0].digest, a.digest);
  free(list);
  uint32_t count;
  CU_ASSERT(wh_reg_count(r, "bob", &count) == 0 && count == 2);
  CU_ASSERT(wh_reg_count(r, "alice", &count) == 0 && count == 1);

  /* Bob deleting his app leaves Alice's alone. */
  CU_ASSERT_EQUAL(wh_reg_delete(r, "bob", "app"), 0);
  CU_ASSERT_EQUAL(wh_reg_get(r, "alice", "app", &e), 0);
  CU_ASSERT_TRUE(blob_is(r, e.digest, "alice's app"));
  CU_ASSERT_EQUAL(deploy_str(r, "alice", "app", "v2", &e), 0);
  CU_ASSERT_EQUAL(e.version, 2);
  CU_ASSERT_EQUAL(deploy_str(r, "bob", "app", "v2", &e), 0);
  CU_ASSERT_EQUAL(e.version, 2); /* bob's own counter: 1 was used and deleted */
  wh_reg_close(r);
  remove_dir(dir);
}

/* ---- shared blobs ------------------------------------------------------------------ */

static void test_shared_blob(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  wh_reg_entry_t e1, e2, e3;
  char path[PATH_MAX];
  struct stat st1, st2;
  CU_ASSERT_EQUAL(deploy_str(r, "alice", "one", "same bytes", &e1), 0);
  blob_file(path, dir, e1.digest);
  CU_ASSERT_EQUAL_FATAL(stat(path, &st1), 0);
  CU_ASSERT_EQUAL(deploy_str(r, "alice", "two", "same bytes", &e2), 0);
  CU_ASSERT_EQUAL(deploy_str(r, "bob", "one", "same bytes", &e3), 0);
  CU_ASSERT_STRING_EQUAL(e1.digest, e2.digest);
  CU_ASSERT_STRING_EQUAL(e1.digest, e3.digest);
  CU_ASSERT_EQUAL_FATAL(stat(path, &st2), 0);
  CU_ASSERT_EQUAL(st1.st_ino, st2.st_ino); /* not rewritten */
  unsigned temps;
  bool all_hex;
  CU_ASSERT_EQUAL(count_blob_files(dir, &temps, &all_hex), 1);

  /* The blob stays while any live row names it. */
  CU_ASSERT_EQUAL(wh_reg_delete(r, "alice", "one"), 0);
  CU_ASSERT_TRUE(exists(path));
  CU_ASSERT_EQUAL(wh_reg_delete(r, "bob", "one"), 0);
  CU_ASSERT_TRUE(exists(path));
  CU_ASSERT_TRUE(blob_is(r, e1.digest, "same bytes"));
  CU_ASSERT_EQUAL(wh_reg_delete(r, "alice", "two"), 0);
  CU_ASSERT_FALSE(exists(path));
  CU_ASSERT_EQUAL(count_blob_files(dir, &temps, &all_hex), 0);
  /* and comes back with the next deploy */
  CU_ASSERT_EQUAL(deploy_str(r, "alice", "two", "same bytes", &e2), 0);
  CU_ASSERT_TRUE(blob_is(r, e2.digest, "same bytes"));
  wh_reg_close(r);
  remove_dir(dir);
}

/* ---- reopen ---------------------------------------------------------------------- */

static void test_reopen(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_diag_t d;
  wh_reg_t *r = open_reg(dir, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_STRING_EQUAL(d.msg, ""); /* nothing to reconcile in a new registry */
  wh_reg_entry_t e;
  char name[16], text[32];
  for (int i = 0; i < 20; i++) {
    snprintf(name, sizeof name, "c%02d", i % 7);
    snprintf(text, sizeof text, "bytes %d", i);
    CU_ASSERT_EQUAL(deploy_str(r, i % 2 ? "odd" : "even", name, text, &e), 0);
  }
  CU_ASSERT_EQUAL(wh_reg_delete(r, "odd", "c01"), 0);
  wh_reg_entry_t *before = NULL, *after = NULL;
  size_t nb = 0, na = 0;
  CU_ASSERT_EQUAL(wh_reg_list(r, "odd", &before, &nb), 0);
  wh_reg_close(r);

  /* Another handle cannot open the directory while this one has it. */
  r = open_reg(dir, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_STRING_EQUAL(d.msg, "");
  wh_reg_t *r2 = NULL;
  CU_ASSERT_EQUAL(wh_reg_open(dir, &r2, &d), WH_EBUSY);
  CU_ASSERT_PTR_NULL(r2);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "in use"));

  CU_ASSERT_EQUAL(wh_reg_list(r, "odd", &after, &na), 0);
  CU_ASSERT_EQUAL_FATAL(na, nb);
  CU_ASSERT_EQUAL(memcmp(before, after, na * sizeof *after), 0);
  for (size_t i = 0; i < na; i++) {
    uint8_t *b = NULL;
    size_t n = 0;
    CU_ASSERT_EQUAL(wh_reg_read_blob(r, after[i].digest, &b, &n), 0);
    CU_ASSERT_EQUAL(n, after[i].size);
    free(b);
  }
  free(before);
  free(after);
  CU_ASSERT_EQUAL(wh_reg_get(r, "even", "c00", &e), 0);
  CU_ASSERT_EQUAL(e.version, 2); /* i = 0 and 14 */
  CU_ASSERT_TRUE(blob_is(r, e.digest, "bytes 14"));
  CU_ASSERT_EQUAL(wh_reg_get(r, "odd", "c01", &e), WH_ENOTFOUND);
  wh_reg_close(r);

  /* On disk: WAL mode, the schema version, a fresh open reconciles nothing. */
  CU_ASSERT_EQUAL(db_int(dir, "PRAGMA user_version"), 3);
  CU_ASSERT_EQUAL(db_int(dir, "SELECT COUNT(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
  remove_dir(dir);
}

static void test_newer_schema(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  wh_reg_close(r);
  CU_ASSERT_EQUAL_FATAL(db_exec(dir, "PRAGMA user_version = 99"), SQLITE_OK);
  wh_diag_t d;
  r = NULL;
  CU_ASSERT_EQUAL(wh_reg_open(dir, &r, &d), WH_EUNSUPPORTED);
  CU_ASSERT_PTR_NULL(r);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "schema version 99"));
  /* A path that cannot become a directory is an I/O error naming it. */
  char bad[PATH_MAX];
  snprintf(bad, sizeof bad, "%s/file", dir);
  write_file(bad, "x");
  CU_ASSERT_EQUAL(wh_reg_open(bad, &r, &d), WH_EIO);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, bad));
  remove_dir(dir);
}

/* Deploy options are stored per version and come back from get, list and
 * foreach; a schema-1 database (before options) migrates in place and its
 * rows read back with no options. */
static int count_options(void *ctx, const wh_reg_entry_t *e) {
  if (strcmp(e->options, "{\"stub_missing_imports\":true}") == 0) (*(int *)ctx)++;
  return 0;
}

static void test_options(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  wh_reg_entry_t e;
  wh_diag_t d;
  const char *opts = "{\"stub_missing_imports\":true}";
  CU_ASSERT_EQUAL(wh_reg_deploy(r, "t", "a", (const uint8_t *)"one", 3, NULL, opts, &e, &d), 0);
  CU_ASSERT_STRING_EQUAL(e.options, opts);
  CU_ASSERT_EQUAL(wh_reg_deploy(r, "t", "b", (const uint8_t *)"two", 3, NULL, NULL, &e, &d), 0);
  CU_ASSERT_STRING_EQUAL(e.options, "");
  /* a new version carries its own options */
  CU_ASSERT_EQUAL(wh_reg_deploy(r, "t", "b", (const uint8_t *)"two", 3, NULL, opts, &e, &d), 0);
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "a", &e), 0);
  CU_ASSERT_STRING_EQUAL(e.options, opts);
  wh_reg_entry_t *list = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL_FATAL(wh_reg_list(r, "t", &list, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 2);
  CU_ASSERT_STRING_EQUAL(list[0].options, opts);
  CU_ASSERT_STRING_EQUAL(list[1].options, opts);
  free(list);
  int seen = 0;
  CU_ASSERT_EQUAL(wh_reg_foreach(r, count_options, &seen), 0);
  CU_ASSERT_EQUAL(seen, 2);
  /* too long is refused, and nothing is stored */
  char *big = malloc(WH_REG_OPTIONS_MAX + 2);
  CU_ASSERT_PTR_NOT_NULL_FATAL(big);
  memset(big, 'x', WH_REG_OPTIONS_MAX + 1);
  big[WH_REG_OPTIONS_MAX + 1] = '\0';
  CU_ASSERT_EQUAL(wh_reg_deploy(r, "t", "c", (const uint8_t *)"3", 1, NULL, big, &e, &d), WH_EINVAL);
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "c", &e), WH_ENOTFOUND);
  free(big);
  wh_reg_close(r);

  /* back to schema 1 by hand: drop the column, as an older wharf wrote it */
  CU_ASSERT_EQUAL_FATAL(db_exec(dir, "DROP TABLE links;"
                                     "ALTER TABLE deployments DROP COLUMN options;"
                                     "PRAGMA user_version = 1"), SQLITE_OK);
  r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_EQUAL(db_int(dir, "PRAGMA user_version"), 3);
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "b", &e), 0);
  CU_ASSERT_EQUAL(e.version, 2);
  CU_ASSERT_STRING_EQUAL(e.options, "");
  CU_ASSERT_EQUAL(wh_reg_deploy(r, "t", "b", (const uint8_t *)"two", 3, NULL, opts, &e, &d), 0);
  CU_ASSERT_EQUAL(e.version, 3);
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "b", &e), 0);
  CU_ASSERT_STRING_EQUAL(e.options, opts);
  wh_reg_close(r);
  remove_dir(dir);
}

/* Links: stored with the version that makes them, read back by version;
 * a target stays while the latest version of a dependant links to it
 * (WH_EBUSY, the dependant named); a schema-2 registry (before links)
 * migrates in place. */
static void test_links(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  wh_reg_entry_t lib1, lib2, app, e;
  wh_diag_t d;
  CU_ASSERT_EQUAL_FATAL(wh_reg_deploy(r, "t", "lib", (const uint8_t *)"lib1", 4, NULL, NULL, &lib1, &d), 0);
  wh_reg_close(r);
  /* back to schema 2, as the wharf before links wrote it */
  CU_ASSERT_EQUAL_FATAL(db_exec(dir, "DROP TABLE links; PRAGMA user_version = 2"), SQLITE_OK);
  r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_EQUAL(db_int(dir, "PRAGMA user_version"), 3);
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "lib", &e), 0);

  wh_reg_link_t l[2];
  memset(l, 0, sizeof l);
  snprintf(l[0].import, sizeof l[0].import, "%s", "ns:pkg/iface@1.0.0");
  snprintf(l[0].target, sizeof l[0].target, "%s", "lib");
  l[0].target_version = lib1.version;
  memcpy(l[0].target_digest, lib1.digest, sizeof l[0].target_digest);
  CU_ASSERT_EQUAL_FATAL(wh_reg_deploy_linked(r, "t", "app", (const uint8_t *)"app", 3, NULL, NULL,
                                             l, 1, &app, &d), 0);
  /* a malformed link stores nothing */
  l[1] = l[0];
  l[1].target_version = 0;
  CU_ASSERT_EQUAL(wh_reg_deploy_linked(r, "t", "bad", (const uint8_t *)"b", 1, NULL, NULL, &l[1], 1,
                                       &e, &d), WH_EINVAL);
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "bad", &e), WH_ENOTFOUND);

  wh_reg_link_t *got = NULL;
  size_t n = 0;
  CU_ASSERT_EQUAL_FATAL(wh_reg_links(r, "t", "app", app.version, &got, &n), 0);
  CU_ASSERT_EQUAL_FATAL(n, 1);
  CU_ASSERT_STRING_EQUAL(got[0].import, "ns:pkg/iface@1.0.0");
  CU_ASSERT_STRING_EQUAL(got[0].target, "lib");
  CU_ASSERT_EQUAL(got[0].target_version, lib1.version);
  CU_ASSERT_STRING_EQUAL(got[0].target_digest, lib1.digest);
  free(got);
  CU_ASSERT_EQUAL(wh_reg_links(r, "t", "lib", lib1.version, &got, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  free(got);

  /* a redeployed target keeps the pinned version readable */
  CU_ASSERT_EQUAL_FATAL(wh_reg_deploy(r, "t", "lib", (const uint8_t *)"lib2", 4, NULL, NULL, &lib2, &d), 0);
  CU_ASSERT_EQUAL(wh_reg_get_version(r, "t", "lib", lib1.version, &e), 0);
  CU_ASSERT_STRING_EQUAL(e.digest, lib1.digest);
  CU_ASSERT_EQUAL(wh_reg_get_version(r, "t", "lib", 99, &e), WH_ENOTFOUND);

  /* deleting the target is refused while app links to it */
  char by[WH_REG_NAME_MAX + 1];
  CU_ASSERT_EQUAL(wh_reg_delete(r, "t", "lib"), WH_EBUSY);
  CU_ASSERT_EQUAL(wh_reg_linked_by(r, "t", "lib", by), 0);
  CU_ASSERT_STRING_EQUAL(by, "app");
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "lib", &e), 0);
  /* another tenant's link never holds this tenant's name */
  CU_ASSERT_EQUAL(wh_reg_linked_by(r, "u", "lib", by), WH_ENOTFOUND);
  /* app redeployed without the link: lib may go */
  CU_ASSERT_EQUAL_FATAL(wh_reg_deploy(r, "t", "app", (const uint8_t *)"app2", 4, NULL, NULL, &e, &d), 0);
  CU_ASSERT_EQUAL(wh_reg_linked_by(r, "t", "lib", by), WH_ENOTFOUND);
  CU_ASSERT_EQUAL(wh_reg_delete(r, "t", "lib"), 0);
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "lib", &e), WH_ENOTFOUND);
  /* a link to a version deleted meanwhile is refused, nothing stored */
  CU_ASSERT_EQUAL(wh_reg_deploy_linked(r, "t", "late", (const uint8_t *)"late", 4, NULL, NULL, l, 1,
                                       &e, &d), WH_ENOTFOUND);
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "late", &e), WH_ENOTFOUND);
  wh_reg_close(r);
  remove_dir(dir);
}

/* ---- reconciliation ----------------------------------------------------------------- */

static void test_reconcile(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  wh_reg_entry_t keep, y1, y2, z;
  CU_ASSERT_EQUAL(deploy_str(r, "t", "keep", "kept bytes", &keep), 0);
  CU_ASSERT_EQUAL(deploy_str(r, "t", "y", "y one", &y1), 0);
  CU_ASSERT_EQUAL(deploy_str(r, "t", "y", "y two", &y2), 0);
  CU_ASSERT_EQUAL(deploy_str(r, "t", "z", "z only", &z), 0);
  wh_reg_close(r);

  /* Damage: an orphan blob, a crashed writer's temp file, a foreign
   * file, and two blobs removed from under live rows. */
  char orphan[PATH_MAX], temp[PATH_MAX], foreign[PATH_MAX], path[PATH_MAX], shard[PATH_MAX];
  const char *odig = "ab00000000000000000000000000000000000000000000000000000000000000";
  snprintf(shard, sizeof shard, "%s/blobs/ab", dir);
  mkdir(shard, 0700);
  blob_file(orphan, dir, odig);
  write_file(orphan, "nobody names me");
  snprintf(temp, sizeof temp, "%s/blobs/%.2s/%s.123.4.tmp", dir, keep.digest, keep.digest);
  write_file(temp, "half a blo");
  snprintf(foreign, sizeof foreign, "%s/blobs/ab/notes.txt", dir);
  write_file(foreign, "?");
  blob_file(path, dir, y2.digest);
  CU_ASSERT_EQUAL(unlink(path), 0);
  blob_file(path, dir, z.digest);
  CU_ASSERT_EQUAL(unlink(path), 0);

  wh_diag_t d;
  r = open_reg(dir, &d); /* returns 0: damage is repaired, not fatal */
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_EQUAL(d.code, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "2 deployment(s) marked deleted"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "2 unreferenced blob(s)"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "1 temp file(s)"));
  CU_ASSERT_FALSE(exists(orphan));
  CU_ASSERT_FALSE(exists(temp));
  CU_ASSERT_FALSE(exists(foreign));
  unsigned temps;
  bool all_hex;
  CU_ASSERT_EQUAL(count_blob_files(dir, &temps, &all_hex), 2); /* keep's and y1's */
  CU_ASSERT_TRUE(all_hex);

  wh_reg_entry_t e;
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "keep", &e), 0);
  CU_ASSERT_TRUE(blob_is(r, e.digest, "kept bytes"));
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "z", &e), WH_ENOTFOUND);
  /* y's latest version lost its blob; the older one is what is left. */
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "y", &e), 0);
  CU_ASSERT_EQUAL(e.version, 1);
  CU_ASSERT_TRUE(blob_is(r, e.digest, "y one"));
  uint32_t n;
  CU_ASSERT(wh_reg_count(r, "t", &n) == 0 && n == 2);
  /* Versions go on from the counter, past the lost one. */
  CU_ASSERT_EQUAL(deploy_str(r, "t", "z", "z again", &e), 0);
  CU_ASSERT_EQUAL(e.version, 2);
  wh_reg_close(r);

  /* Repaired: the next open finds nothing to do. */
  r = open_reg(dir, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_STRING_EQUAL(d.msg, "");
  wh_reg_close(r);
  remove_dir(dir);
}

/* ---- corrupt blobs --------------------------------------------------------------------- */

static void test_corrupt_blob(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  wh_reg_entry_t e;
  CU_ASSERT_EQUAL(deploy_str(r, "t", "x", "hello", &e), 0);
  CU_ASSERT_TRUE(blob_is(r, HELLO_SHA, "hello"));
  char path[PATH_MAX];
  blob_file(path, dir, HELLO_SHA);
  uint8_t *b = NULL;
  size_t n = 0;

  write_file(path, "jello"); /* same size, other bytes */
  CU_ASSERT_EQUAL(wh_reg_read_blob(r, HELLO_SHA, &b, &n), WH_ECORRUPT);
  CU_ASSERT_PTR_NULL(b);
  write_file(path, "hell"); /* truncated */
  CU_ASSERT_EQUAL(wh_reg_read_blob(r, HELLO_SHA, &b, &n), WH_ECORRUPT);
  CU_ASSERT_PTR_NULL(b);

  /* A deploy of the right bytes replaces a blob of the wrong size. */
  CU_ASSERT_EQUAL(deploy_str(r, "t", "x", "hello", &e), 0);
  CU_ASSERT_TRUE(blob_is(r, HELLO_SHA, "hello"));

  CU_ASSERT_EQUAL(wh_reg_read_blob(r, EMPTY_SHA, &b, &n), WH_ENOTFOUND);
  CU_ASSERT_EQUAL(wh_reg_read_blob(r, "../../etc/passwd", &b, &n), WH_EINVAL);
  CU_ASSERT_EQUAL(wh_reg_read_blob(r, HELLO_SHA "0", &b, &n), WH_EINVAL);
  wh_reg_close(r);
  remove_dir(dir);
}

/* ---- database errors ------------------------------------------------------------------ */

static int count_cb(void *ctx, const wh_reg_entry_t *e) {
  (*(int *)ctx)++;
  return 0;
}

static void test_db_errors(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  wh_reg_entry_t e;
  CU_ASSERT_EQUAL(deploy_str(r, "t", "a", "first", &e), 0);

  /* A failing statement is WH_EIO with SQLite's words, and the blob the
   * failed deploy wrote does not stay behind. */
  CU_ASSERT_EQUAL_FATAL(db_exec(dir, "DROP TABLE names"), SQLITE_OK);
  wh_diag_t d;
  CU_ASSERT_EQUAL(wh_reg_deploy(r, "t", "b", (const uint8_t *)"hello", 5, NULL, NULL, &e, &d), WH_EIO);
  CU_ASSERT_EQUAL(d.code, WH_EIO);
  CU_ASSERT_PTR_NOT_NULL(strstr(d.msg, "no such table: names"));
  char path[PATH_MAX];
  blob_file(path, dir, HELLO_SHA);
  CU_ASSERT_FALSE(exists(path));
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "a", &e), 0); /* what worked still works */
  CU_ASSERT_TRUE(blob_is(r, e.digest, "first"));

  CU_ASSERT_EQUAL_FATAL(db_exec(dir, "DROP TABLE deployments"), SQLITE_OK);
  wh_reg_entry_t *list = NULL;
  size_t n = 0;
  uint32_t count = 0;
  int visits = 0;
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "a", &e), WH_EIO);
  CU_ASSERT_EQUAL(wh_reg_list(r, "t", &list, &n), WH_EIO);
  CU_ASSERT_PTR_NULL(list);
  CU_ASSERT_EQUAL(wh_reg_count(r, "t", &count), WH_EIO);
  CU_ASSERT_EQUAL(wh_reg_delete(r, "t", "a"), WH_EIO);
  CU_ASSERT_EQUAL(wh_reg_foreach(r, count_cb, &visits), WH_EIO);
  CU_ASSERT_EQUAL(visits, 0);
  wh_reg_close(r);
  remove_dir(dir);
}

/* ---- crash safety ------------------------------------------------------------------------ */

#define CRASH_NAMES 4
#define CRASH_ROUNDS 16

typedef struct crash_record {
  uint32_t name;     /* index into CRASH_NAMES */
  uint32_t version;
  uint64_t size;
  char digest[65];
} crash_record_t;

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* The child: deploys forever, reporting each deploy once it returned 0. */
static void crash_child(const char *dir, int fd, unsigned round) {
  wh_reg_t *r = NULL;
  wh_diag_t d;
  if (wh_reg_open(dir, &r, &d) != 0) _exit(3);
  uint64_t rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed << 20) ^ round;
  static uint8_t buf[48 * 1024];
  static const char shared[] = "the same bytes, deployed again and again";
  for (unsigned i = 0; i < 100000; i++) {
    uint32_t which = (uint32_t)(xorshift(&rng) % CRASH_NAMES);
    const uint8_t *bytes = buf;
    size_t len;
    if (xorshift(&rng) % 4 == 0) {
      bytes = (const uint8_t *)shared;
      len = sizeof shared - 1;
    } else {
      len = 1 + (size_t)(xorshift(&rng) % sizeof buf);
      for (size_t j = 0; j < len; j += 8) {
        uint64_t v = xorshift(&rng);
        memcpy(buf + j, &v, len - j < 8 ? len - j : 8);
      }
    }
    char name[8];
    snprintf(name, sizeof name, "c%u", which);
    wh_reg_entry_t e;
    if (wh_reg_deploy(r, "crash", name, bytes, len, NULL, NULL, &e, &d) != 0) _exit(4);
    crash_record_t rec = {.name = which, .version = e.version, .size = e.size};
    memcpy(rec.digest, e.digest, sizeof rec.digest);
    if (write(fd, &rec, sizeof rec) != (ssize_t)sizeof rec) _exit(5);
  }
  _exit(0);
}

static void test_crash(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  uint32_t max_reported[CRASH_NAMES] = {0};
  char max_digest[CRASH_NAMES][65] = {{0}};
  crash_record_t *all = NULL;
  size_t nall = 0, cap = 0;
  unsigned rng = seed;
  for (unsigned round = 0; round < CRASH_ROUNDS; round++) {
    int p[2];
    CU_ASSERT_EQUAL_FATAL(pipe(p), 0);
    pid_t pid = fork();
    CU_ASSERT_FATAL(pid >= 0);
    if (pid == 0) {
      close(p[0]);
      crash_child(dir, p[1], round);
    }
    close(p[1]);
    /* Kill at a random moment: sometimes during open and reconciliation,
     * mostly in the middle of deploying. */
    usleep(round == 0 ? 5000 : (useconds_t)(rand_r(&rng) % 100000));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    CU_ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    if (WIFEXITED(status)) fprintf(stderr, "\n  crash child exited with %d\n", WEXITSTATUS(status));
    crash_record_t rec;
    ssize_t got;
    size_t reported = 0;
    while ((got = read(p[0], &rec, sizeof rec)) == (ssize_t)sizeof rec) {
      if (nall == cap) {
        cap = cap ? cap * 2 : 256;
        all = realloc(all, cap * sizeof *all);
        CU_ASSERT_PTR_NOT_NULL_FATAL(all);
      }
      all[nall++] = rec;
      reported++;
      if (rec.name < CRASH_NAMES && rec.version > max_reported[rec.name]) {
        max_reported[rec.name] = rec.version;
        memcpy(max_digest[rec.name], rec.digest, 65);
      }
    }
    CU_ASSERT_EQUAL(got, 0); /* records are whole: each write is atomic */
    close(p[0]);

    wh_diag_t d;
    wh_reg_t *r = open_reg(dir, &d);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    /* No committed deploy lost its blob. */
    CU_ASSERT_EQUAL(rows_marked(&d), 0);
    for (unsigned k = 0; k < CRASH_NAMES; k++) {
      if (!max_reported[k]) continue;
      char name[8];
      wh_reg_entry_t e;
      snprintf(name, sizeof name, "c%u", k);
      CU_ASSERT_EQUAL_FATAL(wh_reg_get(r, "crash", name, &e), 0);
      /* Every reported version is there; at most one more (committed but
       * killed before it could report) can follow. */
      CU_ASSERT(e.version >= max_reported[k]);
      if (e.version == max_reported[k]) CU_ASSERT_STRING_EQUAL(e.digest, max_digest[k]);
    }
    /* Every reported deploy's blob reads back and hashes to its name. */
    unsigned bad = 0;
    for (size_t i = 0; i < nall; i++) {
      uint8_t *b = NULL;
      size_t n = 0;
      if (wh_reg_read_blob(r, all[i].digest, &b, &n) != 0 || n != all[i].size) bad++;
      free(b);
    }
    CU_ASSERT_EQUAL(bad, 0);
    wh_reg_close(r);

    /* No half-written or orphaned file is visible: exactly the live rows'
     * blobs remain, and every version from 1 to the counter is a row. */
    unsigned temps;
    bool all_hex;
    unsigned files = count_blob_files(dir, &temps, &all_hex);
    CU_ASSERT_EQUAL(temps, 0);
    CU_ASSERT_TRUE(all_hex);
    CU_ASSERT_EQUAL(files, (unsigned)db_int(dir, "SELECT COUNT(DISTINCT digest) FROM deployments"
                                                 " WHERE deleted_ms IS NULL"));
    CU_ASSERT_EQUAL(db_int(dir, "SELECT COUNT(*) FROM deployments WHERE deleted_ms IS NOT NULL"), 0);
    CU_ASSERT_EQUAL(db_int(dir, "SELECT COUNT(*) FROM names n WHERE last_version <>"
                                " (SELECT COUNT(*) FROM deployments d"
                                "  WHERE d.tenant = n.tenant AND d.name = n.name)"),
                    0);
    if (getenv("WHARF_TEST_VERBOSE"))
      fprintf(stderr, "\n  round %u: %zu reported, %u blobs\n", round, reported, files);
  }
  CU_ASSERT(nall > 0); /* the child got some deploys in */
  free(all);
  remove_dir(dir);
}

/* ---- threads -------------------------------------------------------------------------------- */

#define THREAD_DEPLOYS 40

typedef struct worker {
  wh_reg_t *r;
  const char *name;
  bool deletes;       /* deletes its name right after each deploy */
  pthread_barrier_t *barrier;
  int failures;
  uint32_t last_version;
} worker_t;

/* Both threads deploy the same new bytes in each round; b deletes its
 * deployment at once, so its delete drops a blob that a's deploy is about
 * to name (or has just found), which the registry must never lose. */
static void *worker_main(void *arg) {
  worker_t *w = arg;
  for (int i = 0; i < THREAD_DEPLOYS; i++) {
    wh_reg_entry_t e;
    char text[32];
    snprintf(text, sizeof text, "shared %d", i);
    pthread_barrier_wait(w->barrier);
    /* a starts a little later each round, so its deploy lands at every
     * point of b's deploy and delete */
    if (!w->deletes) usleep((useconds_t)(i * 7 % 30) * 1000);
    if (wh_reg_deploy(w->r, "t", w->name, (const uint8_t *)text, strlen(text), NULL, NULL, &e, NULL) != 0) {
      w->failures++;
      continue;
    }
    w->last_version = e.version;
    if (w->deletes) {
      if (wh_reg_delete(w->r, "t", w->name) != 0) w->failures++;
      continue;
    }
    uint8_t *b = NULL;
    size_t n = 0;
    if (wh_reg_read_blob(w->r, e.digest, &b, &n) != 0 || n != strlen(text)) w->failures++;
    free(b);
  }
  return NULL;
}

static void test_threads(void) {
  char *dir = make_dir();
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  wh_reg_t *r = open_reg(dir, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, 2);
  worker_t w[2] = {{.r = r, .name = "a", .barrier = &barrier},
                   {.r = r, .name = "b", .deletes = true, .barrier = &barrier}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) CU_ASSERT_EQUAL_FATAL(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  pthread_barrier_destroy(&barrier);
  CU_ASSERT_EQUAL(w[0].failures, 0);
  CU_ASSERT_EQUAL(w[1].failures, 0);
  wh_reg_entry_t e;
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "a", &e), 0);
  CU_ASSERT_EQUAL(e.version, THREAD_DEPLOYS);
  CU_ASSERT_EQUAL(w[1].last_version, THREAD_DEPLOYS);
  CU_ASSERT_EQUAL(wh_reg_get(r, "t", "b", &e), WH_ENOTFOUND);
  wh_reg_close(r);

  /* Every one of a's versions kept its blob, and b's left none behind. */
  unsigned temps;
  bool all_hex;
  CU_ASSERT_EQUAL(count_blob_files(dir, &temps, &all_hex), THREAD_DEPLOYS);
  wh_diag_t d;
  r = open_reg(dir, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_STRING_EQUAL(d.msg, "");
  wh_reg_close(r);
  remove_dir(dir);
}

int main(void) {
  const char *s = getenv("WHARF_TEST_SEED");
  seed = s ? (unsigned)strtoul(s, NULL, 0) : (unsigned)time(NULL) ^ (unsigned)getpid();
  fprintf(stderr, "WHARF_TEST_SEED=%u\n", seed);
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite suite = CU_add_suite("registry.c", NULL, NULL);
  CU_add_test(suite, "names follow the documented rules, tenants are bounded", test_names);
  CU_add_test(suite, "deploy, get, list, count, foreach and delete agree", test_round_trip);
  CU_add_test(suite, "versions increase and are never reused", test_versions);
  CU_add_test(suite, "tenants never see each other's names", test_tenants);
  CU_add_test(suite, "the same bytes share one blob until no live row names it", test_shared_blob);
  CU_add_test(suite, "a reopened registry keeps everything; one handle at a time", test_reopen);
  CU_add_test(suite, "a newer schema or a bad directory is refused", test_newer_schema);
  CU_add_test(suite, "deploy options; schema 1 migrates", test_options);
  CU_add_test(suite, "links pin their target and keep it from deletion; schema 2 migrates",
              test_links);
  CU_add_test(suite, "open removes orphans and temp files, retires rows without blobs", test_reconcile);
  CU_add_test(suite, "read_blob detects a blob that does not match its digest", test_corrupt_blob);
  CU_add_test(suite, "a failing statement is WH_EIO with SQLite's message", test_db_errors);
  CU_add_test(suite, "every deploy acknowledged before a SIGKILL survives it", test_crash);
  CU_add_test(suite, "two threads deploy and delete at once without losing a blob", test_threads);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
  CU_cleanup_registry();
  return failed ? 1 : 0;
}
