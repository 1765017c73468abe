/*
 * spec-roundtrip.c - every module of the core spec suite that compiles
 * survives serialization: the blob loads back, serializes to the same
 * bytes, and any single flipped byte of it is refused.
 *
 *   spec-roundtrip [--simd] DIR   DIR holds <name>/<name>.N.wasm (wast2json
 *                                 output); --simd: an engine with SIMD on
 *
 * Exit 77 (skipped) when DIR is missing; prints "N passed, M failed".
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wh_engine.h"

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n == cap) {
      cap = cap ? cap * 2 : 65536;
      uint8_t *p = realloc(buf, cap);
      if (!p) break;
      buf = p;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    if (got == 0) break;
    n += got;
  }
  fclose(f);
  *len = n;
  return buf;
}

/* 0 pass, 1 fail, -1 not a loadable module (not counted) */
static int check(wh_engine_t *e, const char *path, unsigned *flip) {
  size_t len;
  uint8_t *bytes = slurp(path, &len);
  if (!bytes) return -1;
  wh_diag_t d;
  wh_module_t *m = wh_module_new(e, bytes, len, &d);
  free(bytes);
  if (!m) return -1;
  int bad = 1;
  uint8_t *b1 = NULL, *b2 = NULL;
  size_t l1, l2;
  wh_module_t *m2 = NULL, *m3 = NULL;
  if (wh_module_serialize(m, &b1, &l1)) { printf("%s: serialize failed\n", path); goto out; }
  m2 = wh_module_deserialize(e, b1, l1, &d);
  if (!m2) { printf("%s: blob refused: %s\n", path, d.msg); goto out; }
  if (wh_module_serialize(m2, &b2, &l2) || l1 != l2 || memcmp(b1, b2, l1)) {
    printf("%s: reserialized blob differs\n", path);
    goto out;
  }
  size_t at = (*flip)++ % l1;        /* a different byte for every module */
  b1[at] ^= 0x5a;
  m3 = wh_module_deserialize(e, b1, l1, &d);
  if (m3) { printf("%s: blob with byte %zu flipped was accepted\n", path, at); goto out; }
  bad = 0;
out:
  wh_module_free(m3);
  wh_module_free(m2);
  wh_module_free(m);
  free(b1);
  free(b2);
  return bad;
}

int main(int argc, char **argv) {
  wh_engine_config_t cfg;
  wh_engine_config_default(&cfg);
  if (argc > 1 && strcmp(argv[1], "--simd") == 0) {
    cfg.simd = true;
    argc--;
    argv++;
  }
  const char *dir = argc > 1 ? argv[1] : "../shared/testdata/spec/json";
  DIR *top = opendir(dir);
  if (!top) {
    printf("spec-roundtrip: no test data at %s: skipped\n", dir);
    return 77;
  }
  wh_engine_t *e = wh_engine_new(&cfg);
  unsigned passed = 0, failed = 0, flip = 0;
  struct dirent *de;
  while ((de = readdir(top))) {
    if (de->d_name[0] == '.') continue;
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", dir, de->d_name);
    DIR *d = opendir(sub);
    if (!d) continue;
    struct dirent *fe;
    while ((fe = readdir(d))) {
      size_t n = strlen(fe->d_name);
      if (n < 5 || strcmp(fe->d_name + n - 5, ".wasm")) continue;
      char path[8192];
      snprintf(path, sizeof path, "%s/%s", sub, fe->d_name);
      int r = check(e, path, &flip);
      if (r == 0) passed++;
      else if (r == 1) failed++;
    }
    closedir(d);
  }
  closedir(top);
  wh_engine_free(e);
  printf("%u passed, %u failed\n", passed, failed);
  return failed ? 1 : 0;
}
