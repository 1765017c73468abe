/*
 * cm_cross.c - what a component-to-component call costs (issue 10's
 * acceptance benchmark): f(string) -> string called by another component
 * through a fused adapter, against the same f called host-to-component,
 * and against the same cross-component call made through wh_cm_val
 * values (the path before fused adapters), in one run.
 *
 * Component: cross.wasm, built from cross.wat by run.sh (jco parse):
 * $callee exports f (returns its argument), $caller imports f and
 * exports run(n, s), which calls f(s) n times and returns the summed
 * result lengths.
 *
 *   row                          one call is
 *   host -> f                    wh_cm_call_func(f, s): lower s into the
 *                                callee (realloc + copy), the core call,
 *                                lift the result into a wh_cm_val string
 *                                (malloc + copy), post-return, free
 *   component -> f (fused)       one iteration of run's loop: the core
 *                                call into the adapter, s copied from
 *                                the caller's memory into the callee's,
 *                                the core call, the result copied back,
 *                                post-return
 *   component -> f (values)      the same with wh_cm_linker_fuse(off):
 *                                lifted into a wh_cm_val, lowered, and
 *                                the result the same way back
 *
 * for strings of 5, 100 and 4000 bytes.  A rep times one batch of each
 * row (interleaved); the table gives the median ns per call over the
 * reps in thread CPU time and the ratio to host -> f.  The target:
 * fused no slower than 1.5x host -> f.
 *
 *   wharf-bench-cm-cross [--smoke | --only ROW] CROSS.wasm
 * (--only 0..2 times that row alone, for perf record)
 * Environment: BENCH_REPS (default 51), BENCH_CALLS (default 2000).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wh_cm.h"
#include "wh_engine.h"

static void die(const char *what, const char *why) {
  fprintf(stderr, "cm-cross: %s: %s\n", what, why);
  exit(1);
}

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *b = NULL;
  size_t cap = 0, n = 0, k;
  do {
    if (n == cap) {
      cap = cap ? 2 * cap : 65536;
      uint8_t *nb = realloc(b, cap);
      if (!nb) die(path, "out of memory");
      b = nb;
    }
    k = fread(b + n, 1, cap - n, f);
    n += k;
  } while (k > 0);
  fclose(f);
  *len = n;
  return b;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef struct side {
  wh_cm_instance_t *inst;
  wh_cm_func_t *f, *run;
} side_t;

static void instantiate(wh_engine_t *e, const wh_cm_component_t *c, wh_exec_t *x, bool fuse,
                        side_t *s) {
  wh_diag_t d;
  wh_cm_linker_t *l = wh_cm_linker_new(e);
  if (!l) die("linker", "out of memory");
  wh_cm_linker_fuse(l, fuse);
  if (wh_cm_instantiate(l, c, x, NULL, &s->inst, &d)) die("instantiate", d.msg);
  wh_cm_linker_free(l);
  if (wh_cm_instance_func_handle(s->inst, "f", &s->f) ||
      wh_cm_instance_func_handle(s->inst, "run", &s->run))
    die("component", "no f/run export");
}

/* host -> f, n times; false on a wrong result. */
static bool host_calls(side_t *s, wh_exec_t *x, const wh_cm_val *arg, long n) {
  for (long i = 0; i < n; i++) {
    wh_cm_val res;
    if (wh_cm_call_func(s->inst, s->f, arg, 1, &res, 1, x)) return false;
    bool ok = res.kind == WH_CM_V_STRING && res.of.str.len == arg->of.str.len &&
              memcmp(res.of.str.ptr, arg->of.str.ptr, res.of.str.len) == 0;
    wh_cm_val_fini(&res);
    if (!ok) return false;
  }
  return true;
}

/* run(n, s): n component -> f calls; false on a wrong result. */
static bool cross_calls(side_t *s, wh_exec_t *x, const wh_cm_val *arg, long n) {
  wh_cm_val a[2] = {wh_cm_val_u32((uint32_t)n), *arg}, res;
  if (wh_cm_call_func(s->inst, s->run, a, 2, &res, 1, x)) return false;
  return res.kind == WH_CM_V_U32 && res.of.u == (uint64_t)n * arg->of.str.len;
}

enum { HOST, FUSED, VALUES, NROWS };
static const char *const ROW[NROWS] = {"host -> f", "component -> f (fused)",
                                       "component -> f (values)"};

int main(int argc, char **argv) {
  bool smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
  int only = argc > 2 && strcmp(argv[1], "--only") == 0 ? atoi(argv[2]) : -1;
  int first = 1 + smoke + (only >= 0 ? 2 : 0);
  const char *path = argc > first ? argv[first] : NULL;
  if (!path) {
    fprintf(stderr, "usage: wharf-bench-cm-cross [--smoke] CROSS.wasm\n");
    return 2;
  }
  size_t len = 0;
  uint8_t *bytes = read_file(path, &len);
  if (!bytes) {
    fprintf(stderr, "cm-cross: %s not found; skipped\n", path);
    return 77;
  }
  int reps = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 51;
  long calls = getenv("BENCH_CALLS") ? atol(getenv("BENCH_CALLS")) : 2000;
  if (smoke) {
    reps = 2;
    calls = 20;
  }
  if (reps < 1) reps = 1;
  if (calls < 1) calls = 1;

  wh_engine_t *e = wh_engine_new(NULL);
  wh_diag_t d;
  wh_cm_component_t *c = wh_cm_component_new(e, bytes, len, &d);
  if (!c) die(path, d.msg);
  wh_exec_t *x = wh_exec_new(e);
  side_t fused, values;
  instantiate(e, c, x, true, &fused);
  instantiate(e, c, x, false, &values);

  static const size_t SIZES[] = {5, 100, 4000};
  enum { NSIZES = sizeof SIZES / sizeof SIZES[0] };
  double med[NSIZES][NROWS];
  double *all[NROWS];
  for (int r = 0; r < NROWS; r++) {
    all[r] = calloc((size_t)reps, sizeof *all[r]);
    if (!all[r]) die("bench", "out of memory");
  }
  for (size_t k = 0; k < NSIZES; k++) {
    char *s = malloc(SIZES[k]);
    if (!s) die("bench", "out of memory");
    for (size_t i = 0; i < SIZES[k]; i++) s[i] = (char)('a' + i % 26);
    if (SIZES[k] >= 4) memcpy(s, "h\xc3\xa9y", 4);   /* some non-ASCII UTF-8 too */
    wh_cm_val arg;
    if (wh_cm_val_string(&arg, s, SIZES[k])) die("bench", "out of memory");
    free(s);
    for (int rep = 0; rep < reps; rep++) {
      for (int r = 0; r < NROWS; r++) {
        if (only >= 0 && r != only) continue;
        bool ok;
        double t0 = now_ns();
        if (r == HOST) ok = host_calls(&fused, x, &arg, calls);
        else ok = cross_calls(r == FUSED ? &fused : &values, x, &arg, calls);
        all[r][rep] = (now_ns() - t0) / (double)calls;
        if (!ok) die(ROW[r], wh_cm_instance_trap(r == VALUES ? values.inst : fused.inst));
      }
    }
    for (int r = 0; r < NROWS; r++) {
      qsort(all[r], (size_t)reps, sizeof *all[r], cmp_double);
      med[k][r] = all[r][reps / 2];
    }
    wh_cm_val_fini(&arg);
  }
  if (smoke) {
    printf("cm-cross smoke: every row returned the expected results\n");
  } else if (only >= 0) {
    for (size_t k = 0; k < NSIZES; k++)
      printf("| %zu B | %s | %.1f |\n", SIZES[k], ROW[only], med[k][only]);
  } else {
    printf("cm-cross: f(string) -> string; %d reps x %ld calls; median ns per call "
           "(thread CPU time)\n\n", reps, calls);
    printf("| string | call | ns/call | vs host -> f |\n|---:|---|---:|---:|\n");
    for (size_t k = 0; k < NSIZES; k++)
      for (int r = 0; r < NROWS; r++)
        printf("| %zu B | %s | %.1f | %.2fx |\n", SIZES[k], ROW[r], med[k][r],
               med[k][r] / med[k][HOST]);
    printf("\nfused adapter vs host -> f (target: at most 1.50x):");
    for (size_t k = 0; k < NSIZES; k++)
      printf(" %zu B %.2fx%s", SIZES[k], med[k][FUSED] / med[k][HOST],
             k + 1 < NSIZES ? "," : "\n");
    printf("fused adapter vs values:");
    for (size_t k = 0; k < NSIZES; k++)
      printf(" %zu B %.2fx%s", SIZES[k], med[k][FUSED] / med[k][VALUES],
             k + 1 < NSIZES ? "," : "\n");
  }
  for (int r = 0; r < NROWS; r++) free(all[r]);
  wh_cm_instance_free(fused.inst);
  wh_cm_instance_free(values.inst);
  wh_exec_free(x);
  wh_cm_component_free(c);
  wh_engine_free(e);
  free(bytes);
  return 0;
}
