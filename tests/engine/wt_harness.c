/*
 * wt_harness.c - running modules in the engine tests, sentence-style
 * assertions, and the allocation hooks behind the fault tests.
 *
 * Allocation hooks: the test binary is linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free, so every
 * call from libwharf (a static library) and from the tests lands here.
 * Calls are counted, live allocations are tracked in a fixed open-
 * addressing set (no allocation of its own), and the Nth call can be made
 * to fail.  Pointers allocated elsewhere (libc's strdup, CUnit, OpenSSL)
 * are unknown to the set and ignored when freed.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wt.h"

/* ---- assertions ---------------------------------------------------------- */

void wt_check(bool ok, int line, const char *file, const char *func,
              const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  /* CUnit copies the condition text into its failure record */
  CU_assertImplementation(ok ? CU_TRUE : CU_FALSE, (unsigned)line, msg, file,
                          func, CU_FALSE);
}

/* ---- engine bundle ------------------------------------------------------- */

void wt_init(wt_t *t, const wh_engine_config_t *cfg) {
  memset(t, 0, sizeof *t);
  wh_diag_clear(&t->diag);
  t->engine = wh_engine_new(cfg);
  if (!t->engine) abort();
  t->linker = wh_linker_new(t->engine);
  t->exec = wh_exec_new(t->engine);
  if (!t->linker || !t->exec) abort();
}

int wt_load_bytes(wt_t *t, const uint8_t *bytes, size_t len) {
  t->module = wh_module_new(t->engine, bytes, len, &t->diag);
  if (!t->module) return t->diag.code;
  return wh_linker_instantiate(t->linker, t->module, t->exec, &t->inst, &t->diag);
}

int wt_load(wt_t *t, wb_mod_t *m) {
  size_t len;
  const uint8_t *b = wb_bytes(m, &len);
  return wt_load_bytes(t, b, len);
}

void wt_fini(wt_t *t) {
  wh_instance_free(t->inst);
  wh_linker_free(t->linker);
  wh_module_free(t->module);
  wh_exec_free(t->exec);
  wh_engine_free(t->engine);
  memset(t, 0, sizeof *t);
}

int wt_call_i32(wt_t *t, const char *name, int32_t *out, int nargs, ...) {
  wh_func_t *f = t->inst ? wh_instance_func(t->inst, name) : NULL;
  if (!f) return WH_ENOTFOUND;
  wh_val_t args[8], res[4];
  va_list ap;
  va_start(ap, nargs);
  for (int i = 0; i < nargs && i < 8; i++) args[i] = WT_I32(va_arg(ap, int32_t));
  va_end(ap);
  const char *results;
  wh_func_type(f, NULL, &results);
  size_t nres = strlen(results);
  int rc = wh_call(t->exec, f, args, (size_t)nargs, res, nres);
  if (rc == 0 && out && nres > 0) *out = res[0].of.i32;
  return rc;
}

const char *wt_trap_msg(wt_t *t) {
  const char *msg = NULL;
  wh_exec_trap(t->exec, &msg, NULL);
  return msg ? msg : "";
}

const char *wt_backtrace(wt_t *t) {
  const char *bt = NULL;
  wh_exec_trap(t->exec, NULL, &bt);
  return bt ? bt : "";
}

int wt_compile_cfg(const wh_engine_config_t *cfg, const uint8_t *bytes,
                   size_t len, wh_diag_t *diag) {
  wh_engine_t *e = wh_engine_new(cfg);
  if (!e) abort();
  wh_module_t *m = wh_module_new(e, bytes, len, diag);
  int rc = m ? 0 : (diag ? diag->code : WH_EMALFORMED);
  wh_module_free(m);
  wh_engine_free(e);
  return rc;
}

int wt_compile(const uint8_t *bytes, size_t len, wh_diag_t *diag) {
  return wt_compile_cfg(NULL, bytes, len, diag);
}

double wt_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- allocation hooks ---------------------------------------------------- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

#define LIVE_CAP (1u << 16)
#define TOMBSTONE ((void *)1)

static pthread_mutex_t alloc_lock = PTHREAD_MUTEX_INITIALIZER;
static void *live_set[LIVE_CAP];
static uint64_t alloc_calls, alloc_fail_at;
static int64_t alloc_live;
static size_t alloc_largest;
static bool alloc_overflow;

static size_t slot_of(void *p) {
  uintptr_t h = (uintptr_t)p;
  h ^= h >> 17;
  h *= 0x9e3779b97f4a7c15ull;
  return (size_t)(h >> 40) & (LIVE_CAP - 1);
}

static void live_add(void *p) {
  size_t i = slot_of(p);
  for (size_t k = 0; k < LIVE_CAP; k++, i = (i + 1) & (LIVE_CAP - 1)) {
    if (!live_set[i] || live_set[i] == TOMBSTONE) {
      live_set[i] = p;
      alloc_live++;
      return;
    }
  }
  alloc_overflow = true;
}

static bool live_remove(void *p) {
  size_t i = slot_of(p);
  for (size_t k = 0; k < LIVE_CAP; k++, i = (i + 1) & (LIVE_CAP - 1)) {
    if (!live_set[i]) return false;
    if (live_set[i] == p) {
      live_set[i] = TOMBSTONE;
      alloc_live--;
      return true;
    }
  }
  return false;
}

/* Counts one allocation call of `n` bytes; true if it is to fail. */
static bool alloc_begin(size_t n) {
  alloc_calls++;
  if (n > alloc_largest) alloc_largest = n;
  return alloc_fail_at && alloc_calls == alloc_fail_at;
}

void *__wrap_malloc(size_t n) {
  pthread_mutex_lock(&alloc_lock);
  void *p = NULL;
  if (!alloc_begin(n)) {
    p = __real_malloc(n);
    if (p) live_add(p);
  }
  pthread_mutex_unlock(&alloc_lock);
  return p;
}

void *__wrap_calloc(size_t n, size_t size) {
  pthread_mutex_lock(&alloc_lock);
  void *p = NULL;
  size_t total = size && n > SIZE_MAX / size ? SIZE_MAX : n * size;
  if (!alloc_begin(total)) {
    p = __real_calloc(n, size);
    if (p) live_add(p);
  }
  pthread_mutex_unlock(&alloc_lock);
  return p;
}

void *__wrap_realloc(void *old, size_t n) {
  pthread_mutex_lock(&alloc_lock);
  void *p = NULL;
  if (!alloc_begin(n)) {
    p = __real_realloc(old, n);
    if (p) {
      bool tracked = old ? live_remove(old) : true;
      if (tracked) live_add(p);
    }
  }
  pthread_mutex_unlock(&alloc_lock);
  return p;
}

void __wrap_free(void *p) {
  if (!p) return;
  pthread_mutex_lock(&alloc_lock);
  live_remove(p);
  __real_free(p);
  pthread_mutex_unlock(&alloc_lock);
}

void wt_alloc_reset(uint64_t fail_at) {
  pthread_mutex_lock(&alloc_lock);
  memset(live_set, 0, sizeof live_set);
  alloc_calls = 0;
  alloc_live = 0;
  alloc_largest = 0;
  alloc_overflow = false;
  alloc_fail_at = fail_at;
  pthread_mutex_unlock(&alloc_lock);
}

void wt_alloc_disarm(void) {
  pthread_mutex_lock(&alloc_lock);
  alloc_fail_at = 0;
  pthread_mutex_unlock(&alloc_lock);
}

wt_alloc_stats_t wt_alloc_stats(void) {
  pthread_mutex_lock(&alloc_lock);
  wt_alloc_stats_t s = {.calls = alloc_calls,
                        .live = alloc_overflow ? -1 : alloc_live,
                        .largest = alloc_largest};
  pthread_mutex_unlock(&alloc_lock);
  return s;
}

bool wt_alloc_hooked(void) {
  wt_alloc_reset(0);
  void *volatile p = malloc(16);
  free(p);
  return wt_alloc_stats().calls == 1;
}
