/*
 * bench_cache.c - compile time vs load-from-cache time, per module.
 *
 *   wharf-bench-cache [DIR]     (DIR: $WHARF_TESTDATA/bench/sightglass)
 *   WHARF_BENCH_REPS=N          repetitions per module (default 11)
 *
 * For every core module (*.wasm) under DIR, in the same run and
 * interleaved rep by rep, medians of:
 *
 *   compile   wh_module_new on the bytes in memory
 *   load      read the serialized artifact from a file + wh_module_deserialize
 *             (the definition of a cache load)
 *   hit       wh_cache_get_module on a warm cache: key (SHA-256 of the
 *             wasm), index lookup, read, SHA-256 of the artifact file
 *             against the index, deserialize, index update
 *
 * and, to show where a load's time goes: read alone, SHA-256 of the
 * engine blob's payload alone (which wh_module_deserialize computes), and
 * deserialize from memory alone.  Components are skipped: they need the
 * component model, which does not exist yet.  SIMD modules are skipped:
 * the engine rejects them.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "wh_cache.h"
#include "wh_engine.h"

#define MAX_FILES 256

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static uint8_t *slurp(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  uint8_t *p = NULL;
  *len = 0;
  if (fd < 0 || fstat(fd, &st) != 0) goto done;
  p = malloc(st.st_size ? (size_t)st.st_size : 1);
  if (!p) goto done;
  size_t got = 0;
  while (got < (size_t)st.st_size) {
    ssize_t r = read(fd, p + got, (size_t)st.st_size - got);
    if (r <= 0) break;
    got += (size_t)r;
  }
  *len = got;
done:
  if (fd >= 0) close(fd);
  return p;
}

static char *files[MAX_FILES];
static int nfiles;

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  size_t n = strlen(path);
  if (flag == FTW_F && n > 5 && strcmp(path + n - 5, ".wasm") == 0 && nfiles < MAX_FILES)
    files[nfiles++] = strdup(path);
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  return remove(path);
}

static void sha256(const uint8_t *p, size_t n, uint8_t out[32]) {
  unsigned len;
  EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

/* "bz2/benchmark.wasm" from ".../sightglass/bz2/benchmark.wasm". */
static const char *short_name(const char *path, const char *root) {
  size_t n = strlen(root);
  if (strncmp(path, root, n) == 0 && path[n] == '/') return path + n + 1;
  return path;
}

int main(int argc, char **argv) {
  const char *td = getenv("WHARF_TESTDATA");
  char dflt[4096];
  snprintf(dflt, sizeof dflt, "%s/bench/sightglass", td ? td : "../shared/testdata");
  const char *root = argc > 1 ? argv[1] : dflt;
  const char *reps_env = getenv("WHARF_BENCH_REPS");
  int reps = reps_env ? atoi(reps_env) : 11;
  if (reps < 1 || reps > 1000) reps = 11;

  if (nftw(root, collect, 16, FTW_PHYS) != 0 || nfiles == 0) {
    printf("skip: no .wasm files under '%s'\n", root);
    return 77;
  }
  qsort(files, (size_t)nfiles, sizeof *files, cmp_str);

  char tmp[] = "/tmp/wharf-bench-cache.XXXXXX";
  if (!mkdtemp(tmp)) return 1;
  wh_engine_t *e = wh_engine_new(NULL);
  wh_diag_t d;
  wh_cache_t *c = wh_cache_open(tmp, UINT64_MAX, 0, &d);
  if (!e || !c) {
    fprintf(stderr, "bench: cannot set up: %s\n", c ? "out of memory" : d.msg);
    return 1;
  }

  printf("wharf cache bench: %s, %d reps, medians; engine %s\n", root, reps,
         wh_engine_fingerprint(e));
  printf("compile = wh_module_new; load = read artifact file + wh_module_deserialize;\n"
         "hit = wh_cache_get_module on a warm cache (key hash, index, read, file SHA-256,\n"
         "deserialize, index update).  Ratios are compile / load and compile / hit.\n\n");
  printf("%-36s %9s %9s %9s %9s %7s %9s %7s\n", "module", "wasm KiB", "blob KiB",
         "compile", "load", "ratio", "hit", "ratio");
  printf("%-36s %9s %9s %9s %9s %7s %9s %7s\n", "", "", "", "ms", "ms", "", "ms", "");

  typedef struct row {
    const char *name;
    size_t wasm, blob;
    double compile, load, hit, read, sha_payload, sha_wasm, deser;
  } row_t;
  row_t *rows = calloc((size_t)nfiles, sizeof *rows);
  int nrows = 0, ncomponents = 0, nsimd = 0;
  double *t[8];
  for (int i = 0; i < 8; i++) t[i] = calloc((size_t)reps, sizeof(double));

  for (int f = 0; f < nfiles; f++) {
    size_t len;
    uint8_t *bytes = slurp(files[f], &len);
    const char *name = short_name(files[f], root);
    if (!bytes || len < 8) {
      free(bytes);
      continue;
    }
    if (bytes[4] == 0x0d && bytes[6] == 0x01) { /* layer 1: a component */
      printf("%-36s  skipped: a component (needs the component model; not yet)\n", name);
      ncomponents++;
      free(bytes);
      continue;
    }
    wh_module_t *m = wh_module_new(e, bytes, len, &d);
    if (!m) {
      printf("%-36s  skipped: %s\n", name, d.msg);
      if (d.code == WH_EUNSUPPORTED) nsimd++;
      free(bytes);
      continue;
    }
    uint8_t *blob = NULL;
    size_t blen = 0;
    wh_module_serialize(m, &blob, &blen);
    wh_module_free(m);
    char blob_path[4200];
    snprintf(blob_path, sizeof blob_path, "%s/artifact.cwasm", tmp);
    FILE *bf = fopen(blob_path, "wb");
    fwrite(blob, 1, blen, bf);
    fclose(bf);
    /* warm the cache */
    wh_module_t *w = NULL;
    bool hit = false;
    wh_cache_get_module(c, e, bytes, len, &w, &hit, &d);
    wh_module_free(w);
    /* the payload the engine hashes starts after its header (serialize.c) */
    uint32_t fplen;
    memcpy(&fplen, blob + 12, 4);
    size_t payload_off = 56 + (size_t)fplen;

    for (int r = 0; r < reps; r++) {
      double t0 = now_ms();
      m = wh_module_new(e, bytes, len, &d);
      t[0][r] = now_ms() - t0;
      wh_module_free(m);

      t0 = now_ms();
      size_t n;
      uint8_t *b2 = slurp(blob_path, &n);
      m = wh_module_deserialize(e, b2, n, &d);
      t[1][r] = now_ms() - t0;
      wh_module_free(m);
      free(b2);

      t0 = now_ms();
      w = NULL;
      wh_cache_get_module(c, e, bytes, len, &w, &hit, &d);
      t[2][r] = now_ms() - t0;
      if (!hit) fprintf(stderr, "bench: %s: expected a cache hit\n", name);
      wh_module_free(w);

      t0 = now_ms();
      b2 = slurp(blob_path, &n);
      t[3][r] = now_ms() - t0;
      free(b2);

      uint8_t dg[32];
      t0 = now_ms();
      sha256(blob + payload_off, blen - payload_off, dg);
      t[4][r] = now_ms() - t0;

      t0 = now_ms();
      sha256(bytes, len, dg);
      t[5][r] = now_ms() - t0;

      t0 = now_ms();
      m = wh_module_deserialize(e, blob, blen, &d);
      t[6][r] = now_ms() - t0;
      wh_module_free(m);
    }
    row_t *row = &rows[nrows++];
    row->name = name;
    row->wasm = len;
    row->blob = blen;
    row->compile = median(t[0], reps);
    row->load = median(t[1], reps);
    row->hit = median(t[2], reps);
    row->read = median(t[3], reps);
    row->sha_payload = median(t[4], reps);
    row->sha_wasm = median(t[5], reps);
    row->deser = median(t[6], reps);
    printf("%-36s %9.1f %9.1f %9.3f %9.3f %6.1fx %9.3f %6.1fx\n", name, len / 1024.0,
           blen / 1024.0, row->compile, row->load, row->compile / row->load, row->hit,
           row->compile / row->hit);
    fflush(stdout);
    free(blob);
    free(bytes);
  }

  printf("\nwhere a load's time goes (ms, medians):\n");
  printf("%-36s %9s %9s %9s %9s %9s %9s\n", "module", "read", "deser", "sha(pay)",
         "deser-sha", "sha(wasm)", "hit-load");
  for (int i = 0; i < nrows; i++) {
    row_t *r = &rows[i];
    printf("%-36s %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", r->name, r->read, r->deser,
           r->sha_payload, r->deser - r->sha_payload, r->sha_wasm, r->hit - r->load);
  }
  printf("  read: read(2) of the artifact into malloc'ed memory; deser: wh_module_deserialize\n"
         "  from memory; sha(pay): SHA-256 of the blob's payload, which deserialize does\n"
         "  first; deser-sha: the rest (parse, checks, code walk, copies, mallocs);\n"
         "  sha(wasm): the key's hash of the input; hit-load: what the cache adds to a load\n"
         "  (key hash, SQLite lookup + update, SHA-256 of the file).\n");

  int big = 0, met = 0;
  for (int i = 0; i < nrows; i++) {
    if (rows[i].wasm <= (1u << 20)) continue;
    big++;
    if (rows[i].compile / rows[i].load >= 20) met++;
  }
  printf("\ntarget: load >= 20x faster than compile for inputs over 1 MiB: %d of %d met\n",
         met, big);
  if (ncomponents)
    printf("components: %d skipped (out of scope until the component model exists)\n",
           ncomponents);
  else
    printf("components: none here; those in testdata/components are out of scope until the\n"
           "component model exists\n");
  if (nsimd) printf("simd: %d skipped (the engine rejects SIMD)\n", nsimd);

  wh_cache_close(c);
  wh_engine_free(e);
  nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  for (int i = 0; i < 8; i++) free(t[i]);
  for (int i = 0; i < nfiles; i++) free(files[i]);
  free(rows);
  return 0;
}
