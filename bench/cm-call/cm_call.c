/*
 * cm_call.c - what a host-to-component call costs (issue 4's acceptance
 * benchmark): wh_cm_call on an instantiated component against the same
 * core function called through the engine API, in the same run.
 *
 * Component: $WHARF_TESTDATA/components/handmade/calc-noimport.component.wasm
 * (no imports; add(-5, 3) = -2, greet(any) = "hi"); its core module is
 * taken out of the component's first core-module section, so the peers
 * run the very same code.
 *
 *   row                   what one call does
 *   native add            a C function through a volatile function
 *                         pointer: the floor
 *   core add              wh_call(core "add", i32 -5, i32 3): the engine
 *                         alone, no canonical ABI
 *   cm add                wh_cm_call(inst, "add", s32 -5, s32 3): name
 *                         lookup, lowering, the core call, lifting
 *   cm add (handle)       the same through a resolved function handle
 *                         (wh_cm_instance_func_handle + wh_cm_call_func)
 *   core greet            wh_call(core "greet", ptr, len) on a string
 *                         already in memory: the engine alone
 *   core greet + glue     what a hand-written binding does: realloc, copy
 *                         "World" in, call, read (ptr, len), copy "hi" out
 *                         into a malloc'ed string
 *   cm greet              wh_cm_call(inst, "greet", "World") -> "hi",
 *                         result freed
 *   cm greet (handle)     the same through a resolved handle
 *
 * Each rep times a batch of BENCH_CALLS calls of every row in turn
 * (interleaved, so noise falls on all rows alike) in thread CPU time;
 * the table gives the median ns per call over BENCH_REPS reps and the
 * ratio to the core call of the same function.  `--smoke` makes a few calls of each and checks the results
 * only (ctest bench-cm-call-smoke); `--only N` runs row N alone (0 =
 * native add ... 7 = cm greet (handle)), for perf record.
 *
 * The greet rows write fresh memory on every call (the core module's
 * realloc is a bump allocator, 13 bytes a call), so they include the
 * first-touch page faults of about one page every 300 calls; the glue row
 * and the cm rows pay the same faults, so compare cm greet with it.
 *
 * The engine is the daemon's (wh_engine_new(NULL): fuel and epoch checks
 * compiled in).  Environment: BENCH_REPS (default 101), BENCH_CALLS
 * (default 2000; at most 4000 for the rows that allocate, as greet's
 * bump allocator must stay within its one page), WHARF_TESTDATA.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wh_cm.h"
#include "wh_engine.h"

static void die(const char *what, const char *why) {
  fprintf(stderr, "cm-call: %s: %s\n", what, why);
  exit(1);
}

/* This thread's CPU time: on a shared machine, time spent preempted is
 * not counted against whichever row happened to be running. */
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

static uint32_t leb(const uint8_t *p, size_t len, size_t *i) {
  uint32_t v = 0;
  for (unsigned shift = 0; *i < len && shift < 35; shift += 7) {
    uint8_t b = p[(*i)++];
    v |= (uint32_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  return v;
}

/* The first core module section of a component: its span in `p`. */
static const uint8_t *first_core_module(const uint8_t *p, size_t len, size_t *mlen) {
  size_t i = 8;
  while (i < len) {
    uint8_t id = p[i++];
    uint32_t n = leb(p, len, &i);
    if (i + n > len) break;
    if (id == 1) {
      *mlen = n;
      return p + i;
    }
    i += n;
  }
  return NULL;
}

static int (*volatile native_fp)(int, int);
static int native_add(int a, int b) { return a + b; }

enum { NATIVE_ADD, CORE_ADD, CM_ADD, CM_ADD_H, CORE_GREET, CORE_GLUE, CM_GREET, CM_GREET_H, NROWS };
static const char *const ROW[NROWS] = {
  "native add", "core add", "cm add", "cm add (handle)",
  "core greet", "core greet + glue", "cm greet", "cm greet (handle)",
};

typedef struct bench {
  wh_exec_t *x;
  wh_cm_instance_t *inst;
  wh_cm_func_t *h_add, *h_greet;
  wh_func_t *c_add, *c_greet, *c_realloc;
  wh_memory_t *c_mem;
  uint32_t name_ptr;         /* "World" placed in core memory once */
} bench_t;

/* One call of row r; returns false if the result is wrong. */
static bool one(bench_t *b, int r) {
  switch (r) {
  case NATIVE_ADD:
    return native_fp(-5, 3) == -2;
  case CORE_ADD: {
    wh_val_t a[2] = {{.type = WH_I32, .of.i32 = -5}, {.type = WH_I32, .of.i32 = 3}}, res;
    return wh_call(b->x, b->c_add, a, 2, &res, 1) == 0 && res.of.i32 == -2;
  }
  case CM_ADD: case CM_ADD_H: {
    wh_cm_val a[2] = {wh_cm_val_s32(-5), wh_cm_val_s32(3)}, res;
    int rc = r == CM_ADD ? wh_cm_call(b->inst, "add", a, 2, &res, 1, b->x)
                         : wh_cm_call_func(b->inst, b->h_add, a, 2, &res, 1, b->x);
    return rc == 0 && res.kind == WH_CM_V_S32 && res.of.s == -2;
  }
  case CORE_GREET: {
    wh_val_t a[2] = {{.type = WH_I32, .of.i32 = (int32_t)b->name_ptr},
                     {.type = WH_I32, .of.i32 = 5}}, res;
    return wh_call(b->x, b->c_greet, a, 2, &res, 1) == 0 && res.of.i32 != 0;
  }
  case CORE_GLUE: {
    wh_val_t a[4] = {{.type = WH_I32, .of.i32 = 0}, {.type = WH_I32, .of.i32 = 0},
                     {.type = WH_I32, .of.i32 = 1}, {.type = WH_I32, .of.i32 = 5}}, res;
    if (wh_call(b->x, b->c_realloc, a, 4, &res, 1)) return false;
    uint64_t size;
    uint8_t *m = wh_memory_data(b->c_mem, &size);
    uint32_t p = (uint32_t)res.of.i32;
    if ((uint64_t)p + 5 > size) return false;
    memcpy(m + p, "World", 5);
    a[0].of.i32 = (int32_t)p;
    a[1].of.i32 = 5;
    if (wh_call(b->x, b->c_greet, a, 2, &res, 1)) return false;
    m = wh_memory_data(b->c_mem, &size);
    uint32_t rp = (uint32_t)res.of.i32, sp, sl;
    if ((uint64_t)rp + 8 > size) return false;
    memcpy(&sp, m + rp, 4);
    memcpy(&sl, m + rp + 4, 4);
    if ((uint64_t)sp + sl > size) return false;
    char *s = malloc(sl + 1);
    if (!s) return false;
    memcpy(s, m + sp, sl);
    s[sl] = '\0';
    bool ok = sl == 2 && memcmp(s, "hi", 2) == 0;
    free(s);
    return ok;
  }
  case CM_GREET: case CM_GREET_H: {
    wh_cm_val a, res;
    if (wh_cm_val_string(&a, "World", 5)) return false;
    int rc = r == CM_GREET ? wh_cm_call(b->inst, "greet", &a, 1, &res, 1, b->x)
                           : wh_cm_call_func(b->inst, b->h_greet, &a, 1, &res, 1, b->x);
    bool ok = rc == 0 && res.kind == WH_CM_V_STRING && res.of.str.len == 2 &&
              memcmp(res.of.str.ptr, "hi", 2) == 0;
    wh_cm_val_fini(&a);
    if (rc == 0) wh_cm_val_fini(&res);
    return ok;
  }
  }
  return false;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The core module's bump allocator grows on every greet; a fresh
 * instance per rep keeps it inside its one page. */
static void instantiate(bench_t *b, wh_engine_t *e, const wh_cm_component_t *c,
                        const wh_module_t *m, wh_instance_t **core) {
  wh_diag_t d;
  wh_cm_linker_t *cl = wh_cm_linker_new(e);
  if (!cl || wh_cm_instantiate(cl, c, b->x, NULL, &b->inst, &d)) die("instantiate", d.msg);
  wh_cm_linker_free(cl);
  if (wh_cm_instance_func_handle(b->inst, "add", &b->h_add) ||
      wh_cm_instance_func_handle(b->inst, "greet", &b->h_greet))
    die("component", "no add/greet export");
  wh_linker_t *l = wh_linker_new(e);
  if (!l || wh_linker_instantiate(l, m, b->x, core, &d)) die("core instantiate", d.msg);
  wh_linker_free(l);
  b->c_add = wh_instance_func(*core, "add");
  b->c_greet = wh_instance_func(*core, "greet");
  b->c_realloc = wh_instance_func(*core, "cabi_realloc");
  b->c_mem = wh_instance_memory(*core, "memory");
  if (!b->c_add || !b->c_greet || !b->c_realloc || !b->c_mem) die("core", "missing exports");
  uint64_t size;
  uint8_t *mem = wh_memory_data(b->c_mem, &size);
  b->name_ptr = 60000;
  memcpy(mem + b->name_ptr, "World", 5);
}

int main(int argc, char **argv) {
  bool smoke = argc > 1 && strcmp(argv[1], "--smoke") == 0;
  /* --only N: time row N alone (for perf record) */
  int only = argc > 2 && strcmp(argv[1], "--only") == 0 ? atoi(argv[2]) : -1;
  const char *data = getenv("WHARF_TESTDATA");
  char path[4096];
  snprintf(path, sizeof path, "%s/components/handmade/calc-noimport.component.wasm",
           data && *data ? data : "../shared/testdata");
  size_t len = 0;
  uint8_t *bytes = read_file(path, &len);
  if (!bytes) {
    fprintf(stderr, "cm-call: %s not found; skipped\n", path);
    return 77;
  }
  int reps = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 101;
  long calls = getenv("BENCH_CALLS") ? atol(getenv("BENCH_CALLS")) : 2000;
  if (smoke) {
    reps = 2;
    calls = 50;
  }
  if (reps < 1) reps = 1;
  if (calls < 1) calls = 1;

  native_fp = native_add;
  wh_engine_t *e = wh_engine_new(NULL);
  wh_diag_t d;
  wh_cm_component_t *c = wh_cm_component_new(e, bytes, len, &d);
  if (!c) die(path, d.msg);
  size_t mlen = 0;
  const uint8_t *mb = first_core_module(bytes, len, &mlen);
  wh_module_t *m = mb ? wh_module_new(e, mb, mlen, &d) : NULL;
  if (!m) die("core module", mb ? d.msg : "none in the component");

  bench_t b = {.x = wh_exec_new(e)};
  double *ns[NROWS];
  for (int r = 0; r < NROWS; r++) {
    ns[r] = calloc((size_t)reps, sizeof *ns[r]);
    if (!ns[r]) die("bench", "out of memory");
  }
  for (int rep = 0; rep < reps; rep++) {
    wh_instance_t *core = NULL;
    instantiate(&b, e, c, m, &core);
    for (int r = 0; r < NROWS; r++) {
      if (only >= 0 && r != only) continue;
      /* realloc bumps the heap by len + 8 per greet: one batch must stay
       * within the page (64 KiB from 1024) */
      long n = r >= CORE_GLUE && calls > 4000 ? 4000 : calls;
      if (!one(&b, r)) die(ROW[r], wh_cm_instance_trap(b.inst));
      double t0 = now_ns();
      for (long i = 0; i < n; i++)
        if (!one(&b, r)) die(ROW[r], "wrong result");
      ns[r][rep] = (now_ns() - t0) / (double)n;
      /* a fresh instance for the next greet row: each bumps the heap */
      if (r >= CORE_GLUE && r + 1 < NROWS) {
        wh_cm_instance_free(b.inst);
        wh_instance_free(core);
        instantiate(&b, e, c, m, &core);
      }
    }
    wh_cm_instance_free(b.inst);
    wh_instance_free(core);
  }
  if (smoke) {
    printf("cm-call smoke: every row returned the expected results\n");
  } else {
    double med[NROWS];
    for (int r = 0; r < NROWS; r++) {
      qsort(ns[r], (size_t)reps, sizeof *ns[r], cmp_double);
      med[r] = ns[r][reps / 2];
    }
    printf("cm-call: %d reps x %ld calls; median ns per call (thread CPU time)\n\n", reps,
           calls);
    printf("| call | ns/call | vs core call |\n|---|---:|---:|\n");
    for (int r = 0; r < NROWS; r++) {
      double base = r < CORE_GREET ? med[CORE_ADD] : med[CORE_GREET];
      if (only >= 0 && r != only) continue;
      if (only >= 0) printf("| %s | %.1f | - |\n", ROW[r], med[r]);
      else printf("| %s | %.1f | %.2fx |\n", ROW[r], med[r], med[r] / base);
    }
    if (only < 0)
      printf("\ncomponent-model overhead (cm - core): add %.1f ns, greet %.1f ns "
             "(%.1f ns over hand-written glue)\n",
             med[CM_ADD] - med[CORE_ADD], med[CM_GREET] - med[CORE_GREET],
             med[CM_GREET] - med[CORE_GLUE]);
  }
  for (int r = 0; r < NROWS; r++) free(ns[r]);
  wh_exec_free(b.x);
  wh_module_free(m);
  wh_cm_component_free(c);
  wh_engine_free(e);
  free(bytes);
  return 0;
}
