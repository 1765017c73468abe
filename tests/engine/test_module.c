/*
 * test_module.c - engines and modules (engine/module.c): configuration,
 * fingerprints, sharing a module between threads, and fault injection
 * (SQLite's *fault.test habit): the Nth allocation of compiling or
 * instantiating fails, for every N, and each time the call fails with
 * WH_ENOMEM and everything it allocated is freed.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wt.h"

static void test_config_and_fingerprint(void) {
  wh_engine_config_t cfg;
  memset(&cfg, 0xff, sizeof cfg);
  wh_engine_config_default(&cfg);
  WT_CHECK(cfg.fuel && cfg.epoch_interrupt, "defaults turn fuel and epoch checks on");
  WT_CHECK(cfg.max_wasm_stack == 1u << 20, "the default value stack is 1 MiB (got %zu)",
           cfg.max_wasm_stack);
  WT_CHECK(cfg.max_call_depth == 10000, "the default call depth is 10000 (got %u)",
           cfg.max_call_depth);

  wh_engine_t *a = wh_engine_new(NULL), *b = wh_engine_new(&cfg);
  cfg.fuel = false;
  wh_engine_t *c = wh_engine_new(&cfg);
  cfg.fuel = true;
  cfg.epoch_interrupt = false;
  wh_engine_t *d = wh_engine_new(&cfg);
  const char *fa = wh_engine_fingerprint(a), *fb = wh_engine_fingerprint(b);
  const char *fc = wh_engine_fingerprint(c), *fd = wh_engine_fingerprint(d);
  WT_CHECK(strcmp(fa, fb) == 0, "NULL config and the defaults give one fingerprint");
  WT_CHECK(strcmp(fa, fc) != 0, "turning fuel off changes the fingerprint (%s vs %s)", fa, fc);
  WT_CHECK(strcmp(fa, fd) != 0, "turning epochs off changes the fingerprint (%s vs %s)", fa, fd);
  WT_CHECK(strstr(fa, WHARF_VERSION) != NULL, "the fingerprint names the version (%s)", fa);
  wh_engine_free(a);
  wh_engine_free(b);
  wh_engine_free(c);
  wh_engine_free(d);
  wh_engine_free(NULL);
  wh_module_free(NULL);

  /* zeros in a config mean the defaults */
  memset(&cfg, 0, sizeof cfg);
  wh_engine_t *z = wh_engine_new(&cfg);
  wh_exec_t *x = wh_exec_new(z);
  WT_CHECK(z && x, "an all-zero config makes a working engine and exec");
  wh_exec_free(x);
  wh_exec_free(NULL);
  wh_engine_free(z);
}

/* (module
 *   (import "env" "f" (func $f (param i32) (result i32)))
 *   (memory 1) (table 2 funcref) (global (mut i32) (i32.const 3))
 *   (func $g (export "g") (param i32) (result i32)
 *     (i32.store (i32.const 0) (local.get 0))
 *     (call $f (i32.add (i32.load (i32.const 0)) (global.get 0))))
 *   (elem (i32.const 0) $g) (data (i32.const 8) "data")
 *   name section) */
static void build_module(wb_mod_t *m) {
  wb_init(m);
  wb_import_func(m, "env", "f", "i", "i");
  wb_table(m, WH_FUNCREF, 2, WB_NO_MAX);
  wb_memory(m, 1, WB_NO_MAX);
  wb_global(m, 'i', true, CODE(I32_CONST(3)));
  uint32_t g = wb_func(m, "i", "i", "", CODE(
      I32_CONST(0), LOCAL_GET(0), I32_STORE(2, 0),
      I32_CONST(0), I32_LOAD(2, 0), GLOBAL_GET(0), I32_ADD, CALL(0)));
  wb_export(m, "g", WH_EXTERN_FUNC, g);
  wb_elem(m, 0, &g, 1);
  wb_data(m, 8, "data", 4);
  wb_name_func(m, g, "g");
  wb_name_module(m, "faulty");
}

static int host_double(wh_caller_t *c, void *env, uint64_t *slots) {
  (void)c;
  (void)env;
  slots[0] = (uint32_t)slots[0] * 2;
  return 0;
}

static void test_compile_fault_injection(void) {
  if (!wt_alloc_hooked()) {
    WT_CHECK(true, "allocation hooks are not linked in; nothing to inject");
    return;
  }
  wb_mod_t m;
  build_module(&m);
  size_t len;
  const uint8_t *bytes = wb_bytes(&m, &len);
  uint64_t n, failures = 0, leaks = 0, wrong = 0, first_leak = 0, first_wrong = 0;
  for (n = 1; n < 10000; n++) {
    wt_alloc_reset(n);
    wh_engine_t *e = wh_engine_new(NULL);
    wh_module_t *mod = NULL;
    wh_diag_t d;
    wh_diag_clear(&d);
    if (e) {
      mod = wh_module_new(e, bytes, len, &d);
      if (!mod) {
        failures++;
        if (d.code != WH_ENOMEM && !wrong++) first_wrong = n;
      }
    }
    wh_module_free(mod);
    wh_engine_free(e);
    wt_alloc_stats_t s = wt_alloc_stats();
    wt_alloc_disarm();
    if (s.live != 0 && !leaks++) first_leak = n;
    if (s.calls < n) break;   /* the Nth allocation never happened: done */
  }
  WT_CHECK(n > 5, "compiling makes several allocations (%llu)", (unsigned long long)n);
  /* a failure while reading the (advisory) name section may be shrugged
   * off, so not every injected failure need fail the compile */
  WT_CHECK(failures >= n / 2, "injected failures fail the compile (%llu of %llu)",
           (unsigned long long)failures, (unsigned long long)n - 1);
  WT_CHECK(wrong == 0, "a failed allocation is reported as WH_ENOMEM (not so %llu times, "
           "first at allocation %llu)", (unsigned long long)wrong,
           (unsigned long long)first_wrong);
  WT_CHECK(leaks == 0, "nothing leaks when an allocation fails (%llu leaky runs, first at "
           "allocation %llu)", (unsigned long long)leaks, (unsigned long long)first_leak);
  wb_fini(&m);
}

static void test_instantiate_fault_injection(void) {
  if (!wt_alloc_hooked()) {
    WT_CHECK(true, "allocation hooks are not linked in; nothing to inject");
    return;
  }
  wb_mod_t m;
  build_module(&m);
  size_t len;
  const uint8_t *bytes = wb_bytes(&m, &len);
  wh_engine_t *e = wh_engine_new(NULL);
  wh_diag_t d;
  wh_module_t *mod = wh_module_new(e, bytes, len, &d);
  WT_CHECK(mod != NULL, "the module compiles (%s)", d.msg);
  if (!mod) {
    wh_engine_free(e);
    wb_fini(&m);
    return;
  }
  uint64_t n, leaks = 0, first_leak = 0, ran = 0, wrong = 0;
  for (n = 1; n < 10000; n++) {
    wt_alloc_reset(n);
    wh_linker_t *l = wh_linker_new(e);
    wh_exec_t *x = wh_exec_new(e);
    wh_instance_t *inst = NULL;
    if (l && x && wh_linker_define_func(l, "env", "f", "i", "i", host_double, NULL) == 0) {
      int rc = wh_linker_instantiate(l, mod, x, &inst, &d);
      if (rc == 0) {
        wh_val_t arg = WT_I32(4), res;
        if (wh_call(x, wh_instance_func(inst, "g"), &arg, 1, &res, 1) == 0) {
          ran++;
          if (res.of.i32 != 14) wrong++;
        }
      } else if (rc != WH_ENOMEM) {
        wrong++;
      }
    }
    wh_instance_free(inst);
    wh_exec_free(x);
    wh_linker_free(l);
    wt_alloc_stats_t s = wt_alloc_stats();
    wt_alloc_disarm();
    if (s.live != 0 && !leaks++) first_leak = n;
    if (s.calls < n) break;
  }
  WT_CHECK(ran >= 1, "the last, unfailed run computes g(4) = 14");
  WT_CHECK(wrong == 0, "every failure is WH_ENOMEM and every success is right (%llu not)",
           (unsigned long long)wrong);
  WT_CHECK(leaks == 0, "nothing leaks when an allocation fails (%llu leaky runs, first at "
           "allocation %llu)", (unsigned long long)leaks, (unsigned long long)first_leak);
  wh_module_free(mod);
  wh_engine_free(e);
  wb_fini(&m);
}

/* ---- threads ------------------------------------------------------------------ */

typedef struct worker {
  wh_engine_t *engine;
  const wh_module_t *shared;
  const uint8_t *bytes;
  size_t len;
  int32_t result;
  int rc;
} worker_t;

/* Compiles its own copy and instantiates the shared module; runs fib(25)
 * on each, 20 times. */
static void *worker_main(void *arg) {
  worker_t *w = arg;
  wh_diag_t d;
  w->rc = 0;
  for (int round = 0; round < 20 && !w->rc; round++) {
    wh_module_t *own = wh_module_new(w->engine, w->bytes, w->len, &d);
    wh_linker_t *l = wh_linker_new(w->engine);
    wh_exec_t *x = wh_exec_new(w->engine);
    const wh_module_t *use[2] = {own, w->shared};
    for (int k = 0; k < 2 && !w->rc; k++) {
      wh_instance_t *inst = NULL;
      if (!use[k] || wh_linker_instantiate(l, use[k], x, &inst, &d)) {
        w->rc = -1;
        break;
      }
      wh_val_t a = WT_I32(25), r;
      w->rc = wh_call(x, wh_instance_func(inst, "fib"), &a, 1, &r, 1);
      if (w->rc == 0 && r.of.i32 != 75025) w->rc = -2;
      w->result = r.of.i32;
      wh_instance_free(inst);
    }
    wh_exec_free(x);
    wh_linker_free(l);
    wh_module_free(own);
  }
  return NULL;
}

static void test_threads_share_a_module(void) {
  /* iterative fib as in test_interp.c */
  wb_mod_t m;
  wb_init(&m);
  uint32_t fib = wb_func(&m, "i", "i", "iii", CODE(
      I32_CONST(1), LOCAL_SET(2),
      BLOCK(BT_VOID), LOOP(BT_VOID),
      LOCAL_GET(0), I32_EQZ, BR_IF(1),
      LOCAL_GET(1), LOCAL_GET(2), I32_ADD, LOCAL_SET(3),
      LOCAL_GET(2), LOCAL_SET(1), LOCAL_GET(3), LOCAL_SET(2),
      LOCAL_GET(0), I32_CONST(1), I32_SUB, LOCAL_SET(0),
      BR(0), END, END,
      LOCAL_GET(1)));
  wb_export(&m, "fib", WH_EXTERN_FUNC, fib);
  size_t len;
  const uint8_t *bytes = wb_bytes(&m, &len);
  wh_engine_t *e = wh_engine_new(NULL);
  wh_diag_t d;
  wh_module_t *shared = wh_module_new(e, bytes, len, &d);
  WT_CHECK(shared != NULL, "the fib module compiles (%s)", d.msg);
  enum { NT = 4 };
  worker_t w[NT];
  pthread_t th[NT];
  for (int i = 0; i < NT; i++) {
    w[i] = (worker_t){.engine = e, .shared = shared, .bytes = bytes, .len = len};
    pthread_create(&th[i], NULL, worker_main, &w[i]);
  }
  for (int i = 0; i < NT; i++) {
    pthread_join(th[i], NULL);
    WT_CHECK(w[i].rc == 0, "thread %d computes fib(25) = 75025 on a shared engine and module "
             "(rc %d, got %d)", i, w[i].rc, w[i].result);
  }
  wh_module_free(shared);
  wh_engine_free(e);
  wb_fini(&m);
}

/* ---- memory images and attachments -------------------------------------- */

static int image_of(wb_mod_t *m, uint8_t **bytes, size_t *len) {
  size_t n;
  const uint8_t *b = wb_bytes(m, &n);
  wh_engine_t *e = wh_engine_new(NULL);
  wh_diag_t d;
  wh_module_t *mod = wh_module_new(e, b, n, &d);
  WT_CHECK(mod != NULL, "the image test module compiles (%s)", d.msg);
  int rc = mod ? wh_module_memory_image(mod, bytes, len) : WH_EINVAL;
  wh_module_free(mod);
  wh_engine_free(e);
  wb_fini(m);
  return rc;
}

static void test_memory_image(void) {
  /* (memory 1) (data (i32.const 4) "abcd") (data passive "zz") (data (i32.const 6) "XY") */
  wb_mod_t m;
  wb_init(&m);
  wb_memory(&m, 1, WB_NO_MAX);
  wb_data(&m, 4, "abcd", 4);
  wb_data_passive(&m, "zz", 2);
  wb_data(&m, 6, "XY", 2);
  uint8_t *img = NULL;
  size_t len = 0;
  int rc = image_of(&m, &img, &len);
  WT_CHECK(rc == 0 && len == 8 && img && memcmp(img, "\0\0\0\0abXY", 8) == 0,
           "the image holds the active segments in order, later ones winning, and ends "
           "at the last byte (got %s, %zu bytes)", wh_errname(rc), len);
  free(img);

  /* no active segments: an empty image */
  wb_init(&m);
  wb_memory(&m, 1, WB_NO_MAX);
  wb_data_passive(&m, "zz", 2);
  rc = image_of(&m, &img, &len);
  WT_CHECK(rc == 0 && len == 0 && img == NULL, "without active segments the image is empty");

  /* cases where no image can stand for the segments */
  wb_init(&m);
  wb_memory(&m, 1, WB_NO_MAX);
  wb_data(&m, 65535, "ab", 2);
  rc = image_of(&m, &img, &len);
  WT_CHECK(rc == WH_EUNSUPPORTED && img == NULL,
           "a segment past the minimum memory gives no image (got %s)", wh_errname(rc));
  wb_init(&m);
  wb_import_memory(&m, "env", "mem", 1, WB_NO_MAX);
  wb_data(&m, 0, "ab", 2);
  rc = image_of(&m, &img, &len);
  WT_CHECK(rc == WH_EUNSUPPORTED, "an imported memory gives no image (got %s)", wh_errname(rc));
  wb_init(&m);
  wb_import_global(&m, "env", "off", 'i', false);
  wb_memory(&m, 1, WB_NO_MAX);
  wb_buf_t *b = &m.sec[11];   /* (data (global.get 0) "ab") by hand */
  m.count[11]++;
  wb_raw(b, (const uint8_t[]){0x00, 0x23, 0x00, 0x0b, 0x02, 'a', 'b'}, 7);
  rc = image_of(&m, &img, &len);
  WT_CHECK(rc == WH_EUNSUPPORTED, "a segment at a global's offset gives no image (got %s)",
           wh_errname(rc));
  wb_init(&m);
  wb_func(&m, "", "", "", CODE(NOP));
  rc = image_of(&m, &img, &len);
  WT_CHECK(rc == WH_EUNSUPPORTED, "a module without memory gives no image (got %s)",
           wh_errname(rc));
}

static int fini_calls;
static void count_fini(void *p) {
  fini_calls++;
  free(p);
}

static void test_module_attach(void) {
  wb_mod_t m;
  wb_init(&m);
  wb_func(&m, "", "", "", CODE(NOP));
  size_t len;
  const uint8_t *b = wb_bytes(&m, &len);
  wh_engine_t *e = wh_engine_new(NULL);
  wh_diag_t d;
  wh_module_t *mod = wh_module_new(e, b, len, &d);
  if (mod) {
    WT_CHECK(wh_module_attachment(mod) == NULL, "a new module has no attachment");
    void *p1 = malloc(8), *p2 = malloc(8);
    fini_calls = 0;
    WT_CHECK(wh_module_attach(mod, p1, count_fini) == p1, "the first attach wins");
    WT_CHECK(wh_module_attach(mod, p2, count_fini) == p1,
             "a second attach returns the first pointer");
    free(p2);
    WT_CHECK(wh_module_attachment(mod) == p1, "the attachment is the first pointer");
    wh_module_free(mod);
    WT_CHECK(fini_calls == 1, "freeing the module finalises the attachment once (got %d)",
             fini_calls);
  }
  wh_engine_free(e);
  wb_fini(&m);
}

CU_TestInfo wt_tests_module[] = {
    {"engine defaults and fingerprints", test_config_and_fingerprint},
    {"compiling survives every failed allocation", test_compile_fault_injection},
    {"instantiating survives every failed allocation", test_instantiate_fault_injection},
    {"threads share an engine and a module", test_threads_share_a_module},
    {"a module's memory image", test_memory_image},
    {"a module carries one attachment", test_module_attach},
    CU_TEST_INFO_NULL,
};
