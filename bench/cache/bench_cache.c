/*
 * bench_cache.c - compile time vs load-from-cache time, per module and
 * per component.
 *
 *   wharf-bench-cache [SIGHTGLASS_DIR [COMPONENTS_DIR]]
 *       defaults: $WHARF_TESTDATA/bench/sightglass, $WHARF_TESTDATA/components
 *   WHARF_BENCH_REPS=N          repetitions per input (default 21)
 *   WHARF_BENCH_TIER=T          interp (default) or native: the tier the
 *                               engine compiles for (native: LLVM at O2;
 *                               its artifact carries the object code, and
 *                               a load maps it without recompiling)
 *
 * Core modules (every *.wasm under SIGHTGLASS_DIR that is one), in the
 * same run and interleaved rep by rep, medians of:
 *
 *   compile   wh_module_new on the bytes in memory
 *   load      wh_cache_get_module_keyed on a warm cache, with the key made
 *             from a SHA-256 the caller has (wharfd has every deployment's
 *             digest): index lookup, read, header + checksum check,
 *             deserialize.  The "load from cache".
 *   hit       wh_cache_get_module: the same plus SHA-256 of the wasm for
 *             the key (a caller with bytes only, e.g. `wharf run`)
 *
 * and where a load's time goes: read(2) of the artifact, the checksum of
 * its blob (wh__sum64), and deserializing from memory with every operand
 * checked and the code threaded (wh__module_deserialize_verified).
 *
 * Components (every layer-1 *.wasm under COMPONENTS_DIR):
 *
 *   compile   wh_cm_component_new (decode, validate, compile every core
 *             module)
 *   core      wh_module_new of each embedded core module, summed (part of
 *             compile)
 *   load      wh_cache_get_component on a warm cache: every core module
 *             from the component's artifact (the engine's part of a hit)
 *   hit       wh_cm_component_new_cached_keyed on a warm cache, the key
 *             from a digest the caller has (what wharfd does): load, plus
 *             decoding and validating the component's own sections
 *   miss      the same on a cache without the entry: compile, serialize,
 *             store (what the first deploy of a component costs)
 *
 * SIMD modules are skipped (the engine rejects them), as are components
 * the component model refuses.
 */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "blob.h"
#include "wh_cache.h"
#include "wh_cm.h"
#include "wh_engine.h"

#define MAX_FILES 512
#define MAX_CORE 256 /* core modules per component */

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
  (void)st;
  (void)ftw;
  if (flag == FTW_F && n > 5 && strcmp(path + n - 5, ".wasm") == 0 && nfiles < MAX_FILES)
    files[nfiles++] = strdup(path);
  return 0;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
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

static bool is_component(const uint8_t *b, size_t n) {
  return n >= 8 && memcmp(b, "\0asm", 4) == 0 && b[6] == 1 && b[7] == 0;
}

static uint64_t uleb(const uint8_t **p, const uint8_t *end, bool *bad) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (*p >= end) break;
    uint8_t b = *(*p)++;
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  *bad = true;
  return 0;
}

/* The core modules embedded in a component (section 1), nested components
 * (section 4) included, in binary order.  Pointers into `b`. */
static void core_modules(const uint8_t *b, size_t n, const uint8_t **mods, size_t *lens,
                         int *nmods) {
  const uint8_t *p = b + 8, *end = b + n;
  bool bad = false;
  while (p < end && !bad) {
    uint8_t id = *p++;
    uint64_t size = uleb(&p, end, &bad);
    if (bad || size > (uint64_t)(end - p)) return;
    if (id == 1 && *nmods < MAX_CORE) {
      mods[*nmods] = p;
      lens[(*nmods)++] = (size_t)size;
    } else if (id == 4 && size >= 8) {
      core_modules(p, (size_t)size, mods, lens, nmods);
    }
    p += size;
  }
}

typedef struct row {
  const char *name;
  size_t wasm, blob;
  double compile, load, hit, read, sum, deser, sha_wasm;
} row_t;

int main(int argc, char **argv) {
  const char *td = getenv("WHARF_TESTDATA");
  char dflt[4096], dflt_cm[4096];
  snprintf(dflt, sizeof dflt, "%s/bench/sightglass", td ? td : "../shared/testdata");
  snprintf(dflt_cm, sizeof dflt_cm, "%s/components", td ? td : "../shared/testdata");
  const char *root = argc > 1 ? argv[1] : dflt;
  const char *cm_root = argc > 2 ? argv[2] : dflt_cm;
  const char *reps_env = getenv("WHARF_BENCH_REPS");
  int reps = reps_env ? atoi(reps_env) : 21;
  if (reps < 1 || reps > 1000) reps = 21;

  if (nftw(root, collect, 16, FTW_PHYS) != 0 || nfiles == 0) {
    printf("skip: no .wasm files under '%s'\n", root);
    return 77;
  }
  int nsight = nfiles;
  nftw(cm_root, collect, 16, FTW_PHYS); /* optional */
  qsort(files, (size_t)nsight, sizeof *files, cmp_str);
  qsort(files + nsight, (size_t)(nfiles - nsight), sizeof *files, cmp_str);

  char tmp[] = "/tmp/wharf-bench-cache.XXXXXX";
  if (!mkdtemp(tmp)) return 1;
  wh_engine_config_t ecfg;
  wh_engine_config_default(&ecfg);
  const char *tier_env = getenv("WHARF_BENCH_TIER");
  if (tier_env) {
    int tier = wh_tier_parse(tier_env);
    if (tier < 0 || tier == WH_TIER_AUTO || !wh_tier_available((wh_tier_t)tier)) {
      fprintf(stderr, "bench: WHARF_BENCH_TIER=%s: not a tier this build can run "
                      "(interp, or native with WHARF_LLVM)\n", tier_env);
      return 2;
    }
    ecfg.tier = (wh_tier_t)tier;
  }
  wh_engine_t *e = wh_engine_new(&ecfg);
  wh_diag_t d;
  wh_cache_t *c = wh_cache_open(tmp, UINT64_MAX, 0, &d);
  if (!e || !c) {
    fprintf(stderr, "bench: cannot set up: %s\n", c ? "out of memory" : d.msg);
    return 1;
  }

  printf("wharf cache bench: %s, %d reps, medians of wall time, interleaved; engine %s\n",
         root, reps, wh_engine_fingerprint(e));
  printf("compile = wh_module_new; load = wh_cache_get_module_keyed on a warm cache (the\n"
         "caller has the SHA-256, as wharfd does); hit = wh_cache_get_module (also hashes\n"
         "the wasm for the key).  Ratios are compile / load and compile / hit.\n\n");
  printf("%-36s %9s %9s %9s %9s %7s %9s %7s\n", "module", "wasm KiB", "blob KiB",
         "compile", "load", "ratio", "hit", "ratio");
  printf("%-36s %9s %9s %9s %9s %7s %9s %7s\n", "", "", "", "ms", "ms", "", "ms", "");

  row_t *rows = calloc((size_t)nfiles, sizeof *rows);
  int nrows = 0, nsimd = 0;
  double *t[8];
  for (int i = 0; i < 8; i++) t[i] = calloc((size_t)reps, sizeof(double));

  for (int f = 0; f < nsight; f++) {
    size_t len;
    uint8_t *bytes = slurp(files[f], &len);
    const char *name = short_name(files[f], root);
    if (!bytes || len < 8 || is_component(bytes, len)) {
      free(bytes);
      continue; /* components are measured below */
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
    /* warm the cache; the key from a digest, as wharfd makes it */
    uint8_t dg[32];
    sha256(bytes, len, dg);
    wh_cache_key_t k;
    wh_cache_key_from_digest(&k, dg, wh_engine_fingerprint(e), WH_CACHE_KIND_MODULE);
    wh_module_t *w = NULL;
    bool hit = false;
    wh_cache_get_module_keyed(c, e, &k, bytes, len, &w, &hit, &d);
    wh_module_free(w);
    char art[4200];
    snprintf(art, sizeof art, "%s/cache/%.2s/%s.bin", tmp, k.hex, k.hex);

    for (int r = 0; r < reps; r++) {
      double t0 = now_ms();
      m = wh_module_new(e, bytes, len, &d);
      t[0][r] = now_ms() - t0;
      wh_module_free(m);

      t0 = now_ms();
      w = NULL;
      wh_cache_get_module_keyed(c, e, &k, bytes, len, &w, &hit, &d);
      t[1][r] = now_ms() - t0;
      if (!hit) fprintf(stderr, "bench: %s: expected a cache hit\n", name);
      wh_module_free(w);

      t0 = now_ms();
      w = NULL;
      wh_cache_get_module(c, e, bytes, len, &w, &hit, &d);
      t[2][r] = now_ms() - t0;
      wh_module_free(w);

      size_t n;
      t0 = now_ms();
      uint8_t *b2 = slurp(art, &n);
      t[3][r] = now_ms() - t0;
      free(b2);

      t0 = now_ms();
      volatile uint64_t s = wh__sum64(blob, blen);
      (void)s;
      t[4][r] = now_ms() - t0;

      t0 = now_ms();
      m = wh__module_deserialize_verified(e, blob, blen, &d);
      t[5][r] = now_ms() - t0;
      wh_module_free(m);

      t0 = now_ms();
      sha256(bytes, len, dg);
      t[6][r] = now_ms() - t0;
    }
    row_t *row = &rows[nrows++];
    row->name = name;
    row->wasm = len;
    row->blob = blen;
    row->compile = median(t[0], reps);
    row->load = median(t[1], reps);
    row->hit = median(t[2], reps);
    row->read = median(t[3], reps);
    row->sum = median(t[4], reps);
    row->deser = median(t[5], reps);
    row->sha_wasm = median(t[6], reps);
    printf("%-36s %9.1f %9.1f %9.3f %9.3f %6.1fx %9.3f %6.1fx\n", name, len / 1024.0,
           blen / 1024.0, row->compile, row->load, row->compile / row->load, row->hit,
           row->compile / row->hit);
    fflush(stdout);
    free(blob);
    free(bytes);
  }

  printf("\nwhere a load's time goes (ms, medians):\n");
  printf("%-36s %9s %9s %9s %9s %9s\n", "module", "load", "read", "checksum", "deser",
         "sha(wasm)");
  for (int i = 0; i < nrows; i++) {
    row_t *r = &rows[i];
    printf("%-36s %9.3f %9.3f %9.3f %9.3f %9.3f\n", r->name, r->load, r->read, r->sum,
           r->deser, r->sha_wasm);
  }
  printf("  read: read(2) of the artifact file; checksum: wh__sum64 of its blob, the\n"
         "  load's one integrity check; deser: deserializing from memory (parse, copy,\n"
         "  check every operand, thread the code); sha(wasm): what `hit` adds (the key's\n"
         "  SHA-256 of the input).  load - (read + checksum + deser): SQLite lookup,\n"
         "  allocation, the rest.\n");

  int big = 0, met = 0;
  for (int i = 0; i < nrows; i++) {
    if (rows[i].wasm <= (1u << 20)) continue;
    big++;
    if (rows[i].compile / rows[i].load >= 20) met++;
  }
  printf("\ntarget: load >= 20x faster than compile for inputs over 1 MiB: %d of %d met\n",
         met, big);
  if (nsimd) printf("simd: %d skipped (the engine rejects SIMD)\n", nsimd);

  /* ---- components ---- */
  printf("\ncomponents: %s\n", cm_root);
  printf("%-52s %7s %4s %8s %8s %8s %8s %7s %8s\n", "component", "KiB", "core", "compile",
         "core", "load", "hit", "ratio", "miss");
  printf("%-52s %7s %4s %8s %8s %8s %8s %7s %8s\n", "", "", "", "ms", "ms", "ms", "ms", "", "ms");
  int ncomp = 0, nrefused = 0, cbig = 0, cmet = 0;
  for (int f = 0; f < nfiles; f++) {
    size_t len;
    uint8_t *bytes = slurp(files[f], &len);
    const char *name = short_name(files[f], f < nsight ? root : cm_root);
    if (!bytes || !is_component(bytes, len)) {
      free(bytes);
      continue;
    }
    wh_cm_component_t *cc = wh_cm_component_new(e, bytes, len, &d);
    const uint8_t *cmods[MAX_CORE];
    size_t clens[MAX_CORE];
    int ncore = 0;
    core_modules(bytes, len, cmods, clens, &ncore);
    wh_module_t *mods[MAX_CORE] = {0};
    int ok = cc != NULL;
    for (int i = 0; i < ncore && ok; i++)
      if (!(mods[i] = wh_module_new(e, cmods[i], clens[i], NULL))) ok = 0;
    if (!ok) {
      if (nrefused++ < 3) printf("%-52s  skipped: %s\n", name, cc ? "a core module" : d.msg);
      for (int i = 0; i < ncore; i++) wh_module_free(mods[i]);
      wh_cm_component_free(cc);
      free(bytes);
      continue;
    }
    wh_cm_component_free(cc);
    wh_cache_key_t k;
    wh_cache_key_component(&k, e, bytes, len);
    wh_cm_component_free(wh_cm_component_new_cached_keyed(e, c, &k, bytes, len, NULL, &d));
    for (int i = 0; i < ncore; i++) wh_module_free(mods[i]);
    for (int r = 0; r < reps; r++) {
      double t0 = now_ms();
      cc = wh_cm_component_new(e, bytes, len, &d);
      t[0][r] = now_ms() - t0;
      wh_cm_component_free(cc);

      t0 = now_ms();
      for (int i = 0; i < ncore; i++) wh_module_free(wh_module_new(e, cmods[i], clens[i], NULL));
      t[1][r] = now_ms() - t0;

      wh_module_t **got = NULL;
      uint32_t n = 0;
      uint8_t *meta = NULL;
      size_t mlen = 0;
      t0 = now_ms();
      int rc = wh_cache_get_component(c, e, &k, &got, &n, &meta, &mlen, &d);
      for (uint32_t i = 0; i < n; i++) wh_module_free(got[i]);
      t[2][r] = now_ms() - t0;
      if (rc) fprintf(stderr, "bench: %s: expected a cache hit (%s)\n", name, d.msg);
      free(got);
      free(meta);

      bool hit = false;
      t0 = now_ms();
      cc = wh_cm_component_new_cached_keyed(e, c, &k, bytes, len, &hit, &d);
      t[3][r] = now_ms() - t0;
      if (!cc || !hit) fprintf(stderr, "bench: %s: expected a component hit\n", name);
      wh_cm_component_free(cc);

      wh_cache_clear(c, true, NULL, NULL);
      t0 = now_ms();
      cc = wh_cm_component_new_cached_keyed(e, c, &k, bytes, len, &hit, &d);
      t[4][r] = now_ms() - t0;
      if (!cc || hit) fprintf(stderr, "bench: %s: expected a component miss\n", name);
      wh_cm_component_free(cc);
    }
    double comp = median(t[0], reps), core = median(t[1], reps), load = median(t[2], reps);
    double hitm = median(t[3], reps), miss = median(t[4], reps);
    printf("%-52s %7.1f %4d %8.3f %8.3f %8.3f %8.3f %6.1fx %8.3f\n", name, len / 1024.0, ncore,
           comp, core, load, hitm, comp / hitm, miss);
    fflush(stdout);
    ncomp++;
    if (len > (1u << 20)) {
      cbig++;
      if (comp / hitm >= 20) cmet++;
    }
    free(bytes);
  }
  printf("  compile: wh_cm_component_new; core: wh_module_new of its core modules (part of\n"
         "  compile); load: wh_cache_get_component (the core modules from the artifact,\n"
         "  module frees included); hit: wh_cm_component_new_cached_keyed, warm (load plus\n"
         "  decoding and validating the component's sections); ratio: compile / hit;\n"
         "  miss: the same with the entry cleared (compile + serialize + store).\n");
  printf("components: %d measured, %d skipped\n", ncomp, nrefused);
  printf("target for components over 1 MiB (compile / hit >= 20x): %d of %d met\n", cmet, cbig);

  wh_cache_close(c);
  wh_engine_free(e);
  nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  for (int i = 0; i < 8; i++) free(t[i]);
  for (int i = 0; i < nfiles; i++) free(files[i]);
  free(rows);
  return 0;
}
