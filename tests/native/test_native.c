/*
 * test_native.c - the native tier's traps, calls, fuel, deadlines and
 * cache artifact, each checked against the interpreter running the same
 * module (tests/native/traps.wat) with the same inputs.
 *
 *   wharf-unit-native [SUITE]    exits 77 when the build has no LLVM
 *
 * Both tiers run every case; a case passes when the native tier gives
 * the interpreter's result, trap kind and fuel, and that result is the
 * one the spec asks for (worked out here from the access's address,
 * offset and width, independently of either tier).
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "native.h"   /* internal: which code an instance runs */
#include "wh_engine.h"
#include "wh_pool.h"

#ifndef WHARF_NATIVE_TRAPS_WASM
#define WHARF_NATIVE_TRAPS_WASM "traps.wasm"
#endif

/* ---- one tier's world ------------------------------------------------------- */

typedef struct world {
  wh_engine_t *e;
  wh_module_t *m;
  wh_linker_t *l;
  wh_exec_t *x;
  wh_instance_t *inst;
  wh_pool_t *pool;       /* or NULL: memories on demand */
} world_t;

static uint8_t *wasm;
static size_t wasm_len;
/* one engine and module per tier, compiled once for every test */
static wh_engine_t *engines[2];
static wh_module_t *modules[2];

static int host_trap(wh_caller_t *c, void *env, uint64_t *s) {
  (void)env;
  if ((uint32_t)s[0] == 7) return wh_caller_trap(c, "host says no to %u", (unsigned)s[0]);
  s[0] = (uint32_t)s[0] * 3;
  return 0;
}

static int host_fault(wh_caller_t *c, void *env, uint64_t *s) {
  (void)c, (void)env, (void)s;
  volatile int *volatile p = NULL;
  p[4] = 1;               /* a bug in host code: must not become a guest trap */
  return 0;
}

/* Calls back into the instance: export "unreachable" when s[0] is 1, else
 * "rec" with s[0]; a trap there is this host function's error. */
static int host_reenter(wh_caller_t *c, void *env, uint64_t *s) {
  world_t *w = env;
  wh_val_t arg = {.type = WH_I32, .of.i32 = (int32_t)s[0]}, res;
  int rc = (uint32_t)s[0] == 1
               ? wh_call(wh_caller_exec(c), wh_instance_func(w->inst, "unreachable"), NULL, 0, &res, 1)
               : wh_call(wh_caller_exec(c), wh_instance_func(w->inst, "rec"), &arg, 1, &res, 1);
  if (rc) return rc;
  s[0] = (uint32_t)res.of.i32;
  return 0;
}

static bool world_init(world_t *w, wh_tier_t tier, bool pooled) {
  memset(w, 0, sizeof *w);
  wh_diag_t d;
  int k = tier == WH_TIER_NATIVE;
  if (!modules[k]) {
    wh_engine_config_t cfg;
    wh_engine_config_default(&cfg);
    cfg.tier = tier;
    engines[k] = wh_engine_new(&cfg);
    modules[k] = engines[k] ? wh_module_new(engines[k], wasm, wasm_len, &d) : NULL;
    if (!modules[k]) {
      fprintf(stderr, "test_native: module failed to load: %s\n", d.msg);
      return false;
    }
  }
  w->e = engines[k];
  w->m = modules[k];
  w->l = wh_linker_new(w->e);
  w->x = wh_exec_new(w->e);
  wh_linker_define_func(w->l, "host", "trap", "i", "i", host_trap, NULL);
  wh_linker_define_func(w->l, "host", "fault", "", "", host_fault, NULL);
  wh_linker_define_func(w->l, "host", "reenter", "i", "i", host_reenter, w);
  wh_inst_alloc_t *alloc = NULL;
  if (pooled) {
    wh_pool_config_t pc;
    wh_pool_config_default(&pc);
    pc.total_instances = pc.total_memories = pc.total_tables = 2;
    w->pool = wh_pool_new(&pc, &d);
    if (!w->pool) return false;
    alloc = wh_pool_allocator(w->pool);
  }
  return wh_linker_instantiate_in(w->l, w->m, w->x, alloc, &w->inst, &d) == 0;
}

static void world_fini(world_t *w) {
  wh_instance_free(w->inst);
  wh_exec_free(w->x);
  wh_linker_free(w->l);
  wh_pool_free(w->pool);
}

/* What one call did: code, trap kind, message, result bits, fuel used. */
typedef struct outcome {
  int rc;
  wh_trap_code_t trap;
  char msg[128];
  char bt[4096];          /* backtrace */
  uint64_t bits;
  uint64_t fuel;
} outcome_t;

static outcome_t call(world_t *w, const char *name, const wh_val_t *args, size_t nargs,
                      size_t nres, uint64_t fuel) {
  outcome_t o;
  memset(&o, 0, sizeof o);
  wh_func_t *f = wh_instance_func(w->inst, name);
  if (!f) {
    o.rc = WH_ENOTFOUND;
    return o;
  }
  wh_exec_set_fuel(w->x, fuel);
  wh_val_t res[2];
  memset(res, 0, sizeof res);
  o.rc = wh_call(w->x, f, args, nargs, res, nres);
  o.fuel = wh_exec_fuel_consumed(w->x);
  if (o.rc == WH_ETRAP) {
    const char *msg, *bt;
    o.trap = wh_exec_trap(w->x, &msg, &bt);
    snprintf(o.msg, sizeof o.msg, "%s", msg ? msg : "");
    snprintf(o.bt, sizeof o.bt, "%s", bt ? bt : "");
  } else if (nres) {
    o.bits = res[0].of.bits;
    if (res[0].type == WH_I32 || res[0].type == WH_F32) o.bits &= 0xffffffffu;
  }
  return o;
}

static bool same(const outcome_t *a, const outcome_t *b) {
  return a->rc == b->rc && a->trap == b->trap && strcmp(a->msg, b->msg) == 0 &&
         strcmp(a->bt, b->bt) == 0 && a->bits == b->bits && a->fuel == b->fuel;
}

/* An assertion whose message is a sentence; `cond` is evaluated once. */
#define CHECK(cond, ...)                                                            \
  do {                                                                              \
    bool ok_ = (cond);                                                              \
    if (!ok_) {                                                                     \
      fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                             \
      fprintf(stderr, __VA_ARGS__);                                                 \
      fputc('\n', stderr);                                                          \
    }                                                                               \
    CU_ASSERT(ok_);                                                                 \
  } while (0)

/* ---- bounds ------------------------------------------------------------------------ */

static const struct { const char *op; unsigned width; } loads[] = {
    {"i32.load8_s", 1}, {"i32.load8_u", 1}, {"i32.load16_s", 2}, {"i32.load16_u", 2},
    {"i32.load", 4}, {"i64.load8_s", 1}, {"i64.load8_u", 1}, {"i64.load16_s", 2},
    {"i64.load16_u", 2}, {"i64.load32_s", 4}, {"i64.load32_u", 4}, {"i64.load", 8},
    {"f32.load", 4}, {"f64.load", 8},
}, stores[] = {
    {"i32.store8", 1}, {"i32.store16", 2}, {"i32.store", 4}, {"i64.store8", 1},
    {"i64.store16", 2}, {"i64.store32", 4}, {"i64.store", 8}, {"f32.store", 4},
    {"f64.store", 8},
};
static const uint64_t offsets[] = {0, 1, 7, 4096, 65535, 65536, 0x7fffffff, 0xffffffff};

/* Every width at every offset, at addresses on both sides of the end of
 * memory (after memory.grow to `pages`) and at the top of the 32-bit
 * space; both tiers, the interpreter's answers checked too. */
static void bounds_matrix(bool pooled, uint32_t pages) {
  world_t wi, wn;
  CU_ASSERT_FATAL(world_init(&wi, WH_TIER_INTERP, pooled));
  CU_ASSERT_FATAL(world_init(&wn, WH_TIER_NATIVE, pooled));
  CHECK(wh_module_tier(wn.m, NULL) == WH_TIER_NATIVE, "the module is compiled to native code");
  world_t *ws[2] = {&wi, &wn};
  wh_val_t g = {.type = WH_I32, .of.i32 = (int32_t)(pages - 1)};
  for (int k = 0; k < 2; k++) call(ws[k], "grow", &g, 1, 1, 1000);
  uint64_t size = (uint64_t)pages * 65536;
  for (int k = 0; k < 2; k++) {          /* a pattern to load */
    uint64_t sz;
    uint8_t *mem = wh_memory_data(wh_instance_memory(ws[k]->inst, "mem"), &sz);
    CU_ASSERT_FATAL(sz == size);
    for (uint64_t i = 0; i < sz; i++) mem[i] = (uint8_t)(i * 131 + 7);
  }
  unsigned checked = 0;
  for (size_t s = 0; s < 2; s++) {
    size_t nops = s ? sizeof stores / sizeof *stores : sizeof loads / sizeof *loads;
    for (size_t oi = 0; oi < nops; oi++) {
      const char *op = s ? stores[oi].op : loads[oi].op;
      unsigned width = s ? stores[oi].width : loads[oi].width;
      for (size_t fi = 0; fi < sizeof offsets / sizeof *offsets; fi++) {
        uint64_t off = offsets[fi];
        char name[64];
        snprintf(name, sizeof name, "%c%s_%llu", s ? 's' : 'l', op, (unsigned long long)off);
        /* addresses: 0, last in-bounds, first out, around 4 GiB */
        uint64_t cand[8] = {0, 0xffffffff, 0xfffffff8, 0x80000000, size, size - 1};
        int nc = 6;
        if (size >= width + off) {
          cand[nc++] = size - width - off;
          cand[nc++] = size - width - off + 1;
        }
        for (int c = 0; c < nc; c++) {
          uint64_t addr = cand[c];
          if (addr > 0xffffffff) continue;
          bool oob = addr + off + width > size;
          wh_val_t a[2] = {{.type = WH_I32, .of.i32 = (int32_t)(uint32_t)addr},
                           {.type = WH_I64, .of.i64 = 0x0102030405060708}};
          outcome_t r[2];
          for (int k = 0; k < 2; k++) r[k] = call(ws[k], name, a, s ? 2 : 1, s ? 0 : 1, 1000);
          CHECK(r[0].rc == (oob ? WH_ETRAP : 0) && (!oob || r[0].trap == WH_TRAP_MEM_OOB),
                "interp: %s at %#llx %s", name, (unsigned long long)addr,
                oob ? "traps out of bounds" : "succeeds");
          CHECK(same(&r[0], &r[1]), "native agrees with interp on %s at %#llx (rc %d/%d, "
                "trap %d/%d, bits %#llx/%#llx, fuel %llu/%llu)", name, (unsigned long long)addr,
                r[0].rc, r[1].rc, r[0].trap, r[1].trap, (unsigned long long)r[0].bits,
                (unsigned long long)r[1].bits, (unsigned long long)r[0].fuel,
                (unsigned long long)r[1].fuel);
          checked++;
        }
      }
    }
  }
  /* what the stores wrote, byte for byte */
  uint64_t s0, s1;
  uint8_t *m0 = wh_memory_data(wh_instance_memory(wi.inst, "mem"), &s0);
  uint8_t *m1 = wh_memory_data(wh_instance_memory(wn.inst, "mem"), &s1);
  CHECK(s0 == s1 && memcmp(m0, m1, s0) == 0, "both tiers leave the same memory");
  CHECK(checked > 500, "the matrix ran (%u cases)", checked);
  world_fini(&wi);
  world_fini(&wn);
}

static void test_bounds_on_demand(void) { bounds_matrix(false, 1); }
static void test_bounds_grown(void) { bounds_matrix(false, 3); }
static void test_bounds_pooled(void) { bounds_matrix(true, 2); }

/* ---- calls, stack, host functions --------------------------------------------------- */

static void both(const char *name, const wh_val_t *args, size_t nargs, size_t nres,
                 uint64_t fuel, outcome_t *out) {
  world_t wi, wn;
  CU_ASSERT_FATAL(world_init(&wi, WH_TIER_INTERP, false));
  CU_ASSERT_FATAL(world_init(&wn, WH_TIER_NATIVE, false));
  outcome_t a = call(&wi, name, args, nargs, nres, fuel);
  outcome_t b = call(&wn, name, args, nargs, nres, fuel);
  CHECK(same(&a, &b), "%s: native (rc %d trap %d '%s' bits %llu fuel %llu bt [%s]) agrees "
        "with interp (rc %d trap %d '%s' bits %llu fuel %llu bt [%s])", name, b.rc, b.trap, b.msg,
        (unsigned long long)b.bits, (unsigned long long)b.fuel, b.bt, a.rc, a.trap, a.msg,
        (unsigned long long)a.bits, (unsigned long long)a.fuel, a.bt);
  *out = b;
  world_fini(&wi);
  world_fini(&wn);
}

static void test_stack(void) {
  outcome_t o;
  wh_val_t n = {.type = WH_I32, .of.i32 = 5000};
  both("rec", &n, 1, 1, 1u << 30, &o);
  CHECK(o.rc == 0 && o.bits == 5000, "recursion 5000 deep returns 5000");
  n.of.i32 = 100000000;
  both("rec", &n, 1, 1, 1u << 30, &o);
  CHECK(o.rc == WH_ETRAP && o.trap == WH_TRAP_STACK_EXHAUSTED,
        "runaway recursion traps \"call stack exhausted\"");
  CHECK(strstr(o.bt, "more frames") != NULL, "with a backtrace of the frames (%.60s)", o.bt);
  both("forever", NULL, 0, 0, 1u << 30, &o);
  CHECK(o.rc == WH_ETRAP && o.trap == WH_TRAP_STACK_EXHAUSTED,
        "infinite recursion traps \"call stack exhausted\"");
}

static void test_host_calls(void) {
  outcome_t o;
  wh_val_t a = {.type = WH_I32, .of.i32 = 5};
  both("call_host_trap", &a, 1, 1, 1000, &o);
  CHECK(o.rc == 0 && o.bits == 15, "a host function's result comes back (15)");
  a.of.i32 = 7;
  both("call_host_trap", &a, 1, 1, 1000, &o);
  CHECK(o.rc == WH_ETRAP && o.trap == WH_TRAP_HOST && strcmp(o.msg, "host says no to 7") == 0,
        "a host trap keeps its message (got '%s')", o.msg);
  a.of.i32 = 1;
  both("call_reenter", &a, 1, 1, 1000, &o);
  CHECK(o.rc == WH_ETRAP && o.trap == WH_TRAP_UNREACHABLE,
        "a trap in wasm called back from a host function reaches the outer caller");
  a.of.i32 = 30;
  both("call_reenter", &a, 1, 1, 100000, &o);
  CHECK(o.rc == 0 && o.bits == 30, "wasm -> host -> wasm returns");
  a.of.i32 = 100000000;   /* the frames of the outer call count for the inner */
  both("call_reenter", &a, 1, 1, 1u << 30, &o);
  CHECK(o.rc == WH_ETRAP && o.trap == WH_TRAP_STACK_EXHAUSTED,
        "runaway recursion under a host call is exhausted at the same depth");
}

/* A fault in host code, called from native code, is the host's crash, not
 * a guest trap: the child must die of the signal (or a sanitizer's
 * report), never return from wh_call. */
static void test_host_fault_not_swallowed(void) {
  fprintf(stderr, "\n  (expected: a child process crashing in host_fault, maybe with a "
                  "sanitizer's report)\n");
  fflush(NULL);
  pid_t pid = fork();
  CU_ASSERT_FATAL(pid >= 0);
  if (pid == 0) {
    world_t w;
    if (!world_init(&w, WH_TIER_NATIVE, true)) _exit(3);
    outcome_t o = call(&w, "call_host_fault", NULL, 0, 0, 1000);
    _exit(o.rc == WH_ETRAP ? 10 : 11);   /* reaching here is the bug */
  }
  int st;
  waitpid(pid, &st, 0);
  bool died = WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 10 &&
                                  WEXITSTATUS(st) != 11 && WEXITSTATUS(st) != 3);
  CHECK(died, "the host's fault kills the process (status %#x)", st);
}

static void test_call_indirect(void) {
  outcome_t o;
  int32_t want[] = {1, 2, -1, -1, -1, -1};
  wh_trap_code_t trap[] = {0, 0, WH_TRAP_INDIRECT_TYPE, WH_TRAP_INDIRECT_NULL,
                           WH_TRAP_UNDEFINED_ELEM, WH_TRAP_UNDEFINED_ELEM};
  int32_t idx[] = {0, 1, 2, 3, 4, -1};
  for (int i = 0; i < 6; i++) {
    wh_val_t a = {.type = WH_I32, .of.i32 = idx[i]};
    both("indirect", &a, 1, 1, 1000, &o);
    if (trap[i]) CHECK(o.rc == WH_ETRAP && o.trap == trap[i], "indirect %d traps %d", idx[i], trap[i]);
    else CHECK(o.rc == 0 && o.bits == (uint32_t)want[i], "indirect %d returns %d", idx[i], want[i]);
  }
}

/* ---- fuel and deadlines --------------------------------------------------------------- */

static void test_fuel(void) {
  outcome_t o;
  wh_val_t n = {.type = WH_I32, .of.i32 = 1000};
  both("spin", &n, 1, 1, 1u << 30, &o);
  CHECK(o.rc == 0 && o.fuel > 10000, "1000 rounds of spin cost the same on both tiers (%llu)",
        (unsigned long long)o.fuel);
  uint64_t full = o.fuel;
  /* every budget short of the full cost traps at the same point */
  uint64_t budgets[] = {0, 1, 2, 3, 17, full / 2, full - 1};
  for (size_t i = 0; i < sizeof budgets / sizeof *budgets; i++) {
    both("spin", &n, 1, 1, budgets[i], &o);
    CHECK(o.rc == WH_ETRAP && o.trap == WH_TRAP_OUT_OF_FUEL && o.fuel <= budgets[i],
          "%llu units of fuel run out alike", (unsigned long long)budgets[i]);
  }
  both("spin", &n, 1, 1, full, &o);
  CHECK(o.rc == 0 && o.fuel == full, "exactly the full cost is enough");
  /* bulk memory: 1 unit per 64 bytes */
  wh_val_t f[2] = {{.type = WH_I32, .of.i32 = 0}, {.type = WH_I32, .of.i32 = 65536}};
  both("fill", f, 2, 0, 1u << 20, &o);
  CHECK(o.rc == 0 && o.fuel >= 1024, "memory.fill of 64 KiB charges per 64 bytes");
  both("fill", f, 2, 0, 500, &o);
  CHECK(o.rc == WH_ETRAP && o.trap == WH_TRAP_OUT_OF_FUEL, "and traps without enough fuel");
}

static void *interrupter(void *arg) {
  struct timespec ts = {0, 30 * 1000 * 1000};
  nanosleep(&ts, NULL);
  wh_exec_interrupt(arg);
  return NULL;
}

static void test_deadline_and_interrupt(void) {
  world_t w;
  CU_ASSERT_FATAL(world_init(&w, WH_TIER_NATIVE, false));
  wh_exec_set_deadline_ms(w.x, 30);
  outcome_t o = call(&w, "loop_forever", NULL, 0, 0, UINT64_MAX >> 1);
  CHECK(o.rc == WH_ETRAP && o.trap == WH_TRAP_DEADLINE, "a loop runs into its deadline");
  wh_exec_set_deadline_ms(w.x, 0);
  pthread_t t;
  pthread_create(&t, NULL, interrupter, w.x);
  o = call(&w, "loop_forever", NULL, 0, 0, UINT64_MAX >> 1);
  pthread_join(t, NULL);
  CHECK(o.rc == WH_ETRAP && o.trap == WH_TRAP_INTERRUPTED, "a loop is interrupted");
  wh_val_t n = {.type = WH_I32, .of.i32 = 10};
  o = call(&w, "rec", &n, 1, 1, 1000);
  CHECK(o.rc == 0 && o.bits == 10, "the exec runs again after an interrupt");
  world_fini(&w);
}

/* ---- the cache artifact ------------------------------------------------------------------ */

static void test_serialize(void) {
  world_t w;
  CU_ASSERT_FATAL(world_init(&w, WH_TIER_NATIVE, false));
  uint8_t *blob;
  size_t len;
  CU_ASSERT_FATAL(wh_module_serialize(w.m, &blob, &len) == 0);
  wh_diag_t d;
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  wh_module_t *m2 = wh_module_deserialize(w.e, blob, len, &d);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  CHECK(m2 != NULL, "the native artifact loads (%s)", m2 ? "" : d.msg);
  if (m2) {
    CHECK(wh_module_tier(m2, NULL) == WH_TIER_NATIVE, "the loaded module runs native code");
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf(" [load %.3f ms for %zu bytes] ", ms, len);
    wh_instance_t *i2;
    CU_ASSERT_FATAL(wh_linker_instantiate(w.l, m2, w.x, &i2, &d) == 0);
    wh_val_t n = {.type = WH_I32, .of.i32 = 1000}, r;
    wh_exec_set_fuel(w.x, 1u << 30);
    CHECK(wh_call(w.x, wh_instance_func(i2, "spin"), &n, 1, &r, 1) == 0, "it runs");
    uint64_t fuel2 = wh_exec_fuel_consumed(w.x);
    outcome_t o = call(&w, "spin", &n, 1, 1, 1u << 30);
    CHECK(o.bits == (uint32_t)r.of.i32 && o.fuel == fuel2,
          "and computes what the compiled one does (%llu/%u, fuel %llu/%llu)",
          (unsigned long long)o.bits, (unsigned)r.of.i32, (unsigned long long)o.fuel,
          (unsigned long long)fuel2);
    wh_instance_free(i2);
    wh_module_free(m2);
  }
  /* an interpreter engine refuses it (fingerprint) */
  wh_engine_t *ei = wh_engine_new(NULL);
  CHECK(wh_module_deserialize(ei, blob, len, &d) == NULL && d.code == WH_ECORRUPT,
        "an interpreter engine refuses a native artifact");
  wh_engine_free(ei);
  /* a flipped byte in the object is caught */
  blob[len - 100] ^= 0x40;
  wh_module_t *bad = wh_module_deserialize(w.e, blob, len, &d);
  CHECK(bad == NULL, "a corrupt artifact is refused");
  wh_module_free(bad);
  free(blob);
  world_fini(&w);
}

/* SIMD runs native: simd.wat's exports on both tiers, each with a set of
 * inputs, give the same v128 bits (NaN payloads included), traps and
 * fuel, and the native engine reports the module as native. */
#ifndef WHARF_NATIVE_SIMD_WASM
#define WHARF_NATIVE_SIMD_WASM "simd.wasm"
#endif

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
  if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(fp);
  *len = b ? (size_t)n : 0;
  return b;
}

typedef struct simd_out {
  int rc;
  wh_trap_code_t trap;
  char msg[128];
  uint64_t lo, hi, fuel;
} simd_out_t;

static void test_simd(void) {
  size_t len = 0;
  uint8_t *bytes = slurp(WHARF_NATIVE_SIMD_WASM, &len);
  CU_ASSERT_FATAL(bytes != NULL);
  wh_engine_t *e[2];
  wh_module_t *m[2];
  wh_linker_t *l[2];
  wh_exec_t *x[2];
  wh_instance_t *inst[2];
  for (int k = 0; k < 2; k++) {
    wh_engine_config_t cfg;
    wh_engine_config_default(&cfg);
    cfg.tier = k ? WH_TIER_NATIVE : WH_TIER_INTERP;
    cfg.simd = true;
    cfg.fuel = true;
    e[k] = wh_engine_new(&cfg);
    wh_diag_t d;
    m[k] = wh_module_new(e[k], bytes, len, &d);
    CHECK(m[k] != NULL, "simd.wasm loads on tier %d (%s)", k, m[k] ? "" : d.msg);
    CU_ASSERT_FATAL(m[k] != NULL);
    l[k] = wh_linker_new(e[k]);
    x[k] = wh_exec_new(e[k]);
    CU_ASSERT_FATAL(wh_linker_instantiate(l[k], m[k], x[k], &inst[k], &d) == 0);
  }
  const char *why = NULL;
  CHECK(wh_module_tier(m[1], &why) == WH_TIER_NATIVE,
        "a SIMD module on a native engine runs native code (%s)", why ? why : "");
  CHECK(wh_module_tier(m[0], NULL) == WH_TIER_INTERP, "and on an interpreter engine, interpreted");
  static const char *const fns[] = {"ints", "floats", "mem", "calls", "loop"};
  static const uint32_t xs[] = {0, 1, 7, 8, 63, 64, 255, 0x8000, 0x7fc00001u, 0xff800001u,
                                0x80000000u, 0x3fc00000u, 0x4b000001u, 0xcf000000u, 65500,
                                65519, 65520, 65521, 65535, 65536, 0xfffffff0u};
  int traps = 0, vecs = 0;
  for (size_t fi = 0; fi < sizeof fns / sizeof *fns; fi++) {
    for (size_t xi = 0; xi < sizeof xs / sizeof *xs; xi++) {
      simd_out_t o[2];
      for (int k = 0; k < 2; k++) {
        memset(&o[k], 0, sizeof o[k]);
        wh_val_t a = {.type = WH_I32, .of.i32 = (int32_t)xs[xi]}, r;
        memset(&r, 0, sizeof r);
        wh_exec_set_fuel(x[k], 1u << 20);
        o[k].rc = wh_call(x[k], wh_instance_func(inst[k], fns[fi]), &a, 1, &r, 1);
        o[k].fuel = wh_exec_fuel_consumed(x[k]);
        if (o[k].rc == WH_ETRAP) {
          const char *msg;
          o[k].trap = wh_exec_trap(x[k], &msg, NULL);
          snprintf(o[k].msg, sizeof o[k].msg, "%s", msg ? msg : "");
        } else if (r.type == WH_V128) {
          o[k].lo = r.of.v128[0];
          o[k].hi = r.of.v128[1];
        } else {
          o[k].lo = (uint32_t)r.of.i32;
        }
      }
      CHECK(o[0].rc == o[1].rc && o[0].trap == o[1].trap && strcmp(o[0].msg, o[1].msg) == 0 &&
            o[0].lo == o[1].lo && o[0].hi == o[1].hi && o[0].fuel == o[1].fuel,
            "%s(%#x): native (rc %d '%s' %016llx%016llx fuel %llu) agrees with interp "
            "(rc %d '%s' %016llx%016llx fuel %llu)", fns[fi], xs[xi], o[1].rc, o[1].msg,
            (unsigned long long)o[1].hi, (unsigned long long)o[1].lo,
            (unsigned long long)o[1].fuel, o[0].rc, o[0].msg, (unsigned long long)o[0].hi,
            (unsigned long long)o[0].lo, (unsigned long long)o[0].fuel);
      traps += o[0].rc == WH_ETRAP && o[0].trap == WH_TRAP_MEM_OOB;
      vecs += o[0].rc == 0 && (o[0].lo | o[0].hi) != 0;
    }
  }
  CHECK(traps >= 5, "accesses past the end of memory trap on both tiers (%d traps)", traps);
  CHECK(vecs >= 60, "and most calls give non-zero vectors (%d)", vecs);
  for (int k = 0; k < 2; k++) {
    wh_instance_free(inst[k]);
    wh_exec_free(x[k]);
    wh_linker_free(l[k]);
    wh_module_free(m[k]);
    wh_engine_free(e[k]);
  }
  free(bytes);
}

/* Tier auto: the first instance runs in the interpreter while the native
 * code compiles; once the module reports native, new instances run it,
 * with the same results and fuel; the old instance keeps working. */
static void test_auto_tier_up(void) {
  wh_engine_config_t cfg;
  wh_engine_config_default(&cfg);
  cfg.tier = WH_TIER_AUTO;
  wh_engine_t *e = wh_engine_new(&cfg);
  wh_diag_t d;
  wh_native_stats_t s0, s1;
  wh_native_stats(&s0);
  wh_module_t *m = wh_module_new(e, wasm, wasm_len, &d);
  CU_ASSERT_FATAL(m != NULL);
  world_t w1 = {.e = e, .m = m}, w2 = {.e = e, .m = m};
  world_t *ws[2] = {&w1, &w2};
  for (int k = 0; k < 2; k++) {
    world_t *w = ws[k];
    if (k == 1) {   /* wait for the background compile (at most a minute) */
      for (int i = 0; i < 600 && wh_module_tier(m, NULL) != WH_TIER_NATIVE; i++) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
      }
      CHECK(wh_module_tier(m, NULL) == WH_TIER_NATIVE, "the module tiers up to native code");
      /* the stats: one compile more, with its time; none pending once
       * the job has ended (it ends just after publishing the code) */
      for (int i = 0; i < 600; i++) {
        wh_native_stats(&s1);
        if (s1.pending == s0.pending) break;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
      }
      CHECK(s1.compiled == s0.compiled + 1 && s1.refused == s0.refused &&
                s1.failed == s0.failed && s1.compile_ns > s0.compile_ns &&
                s1.pending == s0.pending,
            "wh_native_stats counts the background compile");
    }
    w->l = wh_linker_new(e);
    w->x = wh_exec_new(e);
    wh_linker_define_func(w->l, "host", "trap", "i", "i", host_trap, NULL);
    wh_linker_define_func(w->l, "host", "fault", "", "", host_fault, NULL);
    wh_linker_define_func(w->l, "host", "reenter", "i", "i", host_reenter, w);
    CU_ASSERT_FATAL(wh_linker_instantiate(w->l, m, w->x, &w->inst, &d) == 0);
  }
  CHECK(wh_instance_func(w2.inst, "spin")->host == wh__native_host_entry,
        "an instance made after the tier-up runs native code");
  wh_val_t n = {.type = WH_I32, .of.i32 = 777};
  outcome_t a = call(&w1, "spin", &n, 1, 1, 1u << 30);
  outcome_t b = call(&w2, "spin", &n, 1, 1, 1u << 30);
  CHECK(a.rc == 0 && same(&a, &b), "both instances compute the same, for the same fuel");
  for (int k = 0; k < 2; k++) {
    wh_instance_free(ws[k]->inst);
    wh_exec_free(ws[k]->x);
    wh_linker_free(ws[k]->l);
  }
  wh_module_free(m);
  /* a module freed while its compile may still be running */
  wh_module_t *m2 = wh_module_new(e, wasm, wasm_len, &d);
  wh_module_free(m2);
  wh_engine_free(e);
}

/* ---- big functions -------------------------------------------------------------------- */

/* A module of `nf` copies of one function f(i32) -> i32 (the first
 * exported as "f"): x = p; then n times x = (x + p) ^ i (i the step's
 * constant), each step in a block left early when x is 0 if `branchy` (a
 * branch target per step); a memory store every 64 steps (bounds checks
 * in it too) and a trap when p is 0x7fffffff (an out-of-bounds store at
 * the end).  malloc'ed; *len its size. */
static uint8_t *make_big_module(uint32_t n, uint32_t nf, bool branchy, size_t *len) {
  size_t cap = 64 + (size_t)n * 24, bl = 0;
  uint8_t *body = malloc(cap), *m = malloc(cap * nf + 64 + nf);
  if (!body || !m) abort();
#define B(...) do { const uint8_t b_[] = {__VA_ARGS__}; memcpy(body + bl, b_, sizeof b_); bl += sizeof b_; } while (0)
  B(0x01, 0x01, 0x7f);                       /* one i32 local: x */
  B(0x20, 0x00, 0x21, 0x01);                 /* x = p */
  for (uint32_t i = 0; i < n; i++) {
    if (branchy) B(0x02, 0x40, 0x20, 0x01, 0x45, 0x0d, 0x00);   /* block; br_if 0 (x == 0) */
    B(0x20, 0x01, 0x20, 0x00, 0x6a);         /* x + p */
    B(0x41, (uint8_t)(0x80 | (i & 0x7f)), (uint8_t)((i >> 7) & 0x3f)); /* i32.const i (< 2^13) */
    B(0x73, 0x21, 0x01);                     /* ^ ; x = */
    if (i % 64 == 63) B(0x41, 0x00, 0x20, 0x01, 0x36, 0x02, 0x00); /* store x at 0 */
    if (branchy) B(0x0b);                    /* end */
  }
  /* p == 0x7fffffff: store at p (out of bounds) */
  B(0x20, 0x00, 0x41, 0xff, 0xff, 0xff, 0xff, 0x07, 0x46, 0x04, 0x40,
    0x20, 0x00, 0x20, 0x01, 0x36, 0x02, 0x00, 0x0b);
  B(0x20, 0x01, 0x0b);
#undef B
  size_t ml = 0;
  static const uint8_t types[] = {
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f};  /* type (i32) -> i32 */
  static const uint8_t mem_export[] = {
      0x05, 0x03, 0x01, 0x00, 0x01,                     /* memory 1 page */
      0x07, 0x05, 0x01, 0x01, 'f', 0x00, 0x00};         /* export "f" */
  memcpy(m, types, sizeof types);
  ml = sizeof types;
  m[ml++] = 0x03, m[ml++] = (uint8_t)(nf + 1), m[ml++] = (uint8_t)nf;   /* nf < 127 */
  for (uint32_t f = 0; f < nf; f++) m[ml++] = 0x00;
  memcpy(m + ml, mem_export, sizeof mem_export);
  ml += sizeof mem_export;
  /* code section: nf bodies of bl bytes (LEBs padded to 5 bytes) */
  uint32_t fsize = (uint32_t)bl, ssize = 1 + nf * (5 + fsize);
  m[ml++] = 0x0a;
  for (int k = 0; k < 5; k++) m[ml++] = (uint8_t)(((ssize >> (7 * k)) & 0x7f) | (k < 4 ? 0x80 : 0));
  m[ml++] = (uint8_t)nf;
  for (uint32_t f = 0; f < nf; f++) {
    for (int k = 0; k < 5; k++) m[ml++] = (uint8_t)(((fsize >> (7 * k)) & 0x7f) | (k < 4 ? 0x80 : 0));
    memcpy(m + ml, body, bl);
    ml += bl;
  }
  free(body);
  *len = ml;
  return m;
}

/* A function with more branch targets than LLVM optimizes (1,024) still
 * compiles to native code, only without LLVM's optimizations, and
 * computes, traps and charges fuel as the interpreter does. */
static void test_big_function(void) {
  size_t len;
  uint8_t *bytes = make_big_module(3000, 1, true, &len);
  outcome_t o[2][2];
  for (int k = 0; k < 2; k++) {
    wh_engine_config_t cfg;
    wh_engine_config_default(&cfg);
    cfg.tier = k ? WH_TIER_NATIVE : WH_TIER_INTERP;
    wh_engine_t *e = wh_engine_new(&cfg);
    wh_diag_t d;
    wh_module_t *m = wh_module_new(e, bytes, len, &d);
    CU_ASSERT_FATAL(m != NULL);
    if (k) {
      const char *why = NULL;
      CHECK(wh_module_tier(m, &why) == WH_TIER_NATIVE,
            "a function of %zu bytes of wasm runs native code (%s)", len, why ? why : "");
    }
    world_t w = {.e = e, .m = m, .l = wh_linker_new(e), .x = wh_exec_new(e)};
    CU_ASSERT_FATAL(wh_linker_instantiate(w.l, m, w.x, &w.inst, &d) == 0);
    wh_val_t p = {.type = WH_I32, .of.i32 = 12345};
    o[k][0] = call(&w, "f", &p, 1, 1, 1u << 30);
    p.of.i32 = 0x7fffffff;
    o[k][1] = call(&w, "f", &p, 1, 1, 1u << 30);
    world_fini(&w);
    wh_module_free(m);
    wh_engine_free(e);
  }
  CHECK(o[0][0].rc == 0 && same(&o[0][0], &o[1][0]),
        "the same result (%#llx, %#llx) and fuel (%llu, %llu) on both tiers",
        (unsigned long long)o[0][0].bits, (unsigned long long)o[1][0].bits,
        (unsigned long long)o[0][0].fuel, (unsigned long long)o[1][0].fuel);
  CHECK(o[0][1].rc == WH_ETRAP && o[0][1].trap == WH_TRAP_MEM_OOB && same(&o[0][1], &o[1][1]),
        "the same trap on both tiers (%s / %s)", o[0][1].msg, o[1][1].msg);
  free(bytes);
}

/* The reason a native engine's module of `nf` functions of `n` steps runs
 * interpreted, or "" if it runs native code. */
static void tier_of(uint32_t n, uint32_t nf, char *why, size_t cap) {
  size_t len;
  uint8_t *bytes = make_big_module(n, nf, false, &len);
  wh_engine_config_t cfg;
  wh_engine_config_default(&cfg);
  cfg.tier = WH_TIER_NATIVE;
  wh_engine_t *e = wh_engine_new(&cfg);
  wh_diag_t d;
  wh_module_t *m = wh_module_new(e, bytes, len, &d);
  const char *r = NULL;
  snprintf(why, cap, "%s", !m ? "no module" : wh_module_tier(m, &r) == WH_TIER_NATIVE ? ""
                           : r ? r : "interpreted without a reason");
  wh_module_free(m);
  wh_engine_free(e);
  free(bytes);
}

/* What LLVM is not given: a function over 2 MiB of wcode, or a module
 * over 16 MiB (functions over 64 KiB counted four times); either keeps
 * the module in the interpreter, with the reason. */
static void test_size_bounds(void) {
  char why[512];
  tier_of(200000, 1, why, sizeof why);   /* one function of ~4 MB */
  CHECK(strstr(why, "bytes of code, over the native tier's 2097152 per function"),
        "a function over 2 MiB stays interpreted (%s)", why);
  tier_of(45000, 3, why, sizeof why);    /* three of ~1.8 MB each: ~22 MB weighted */
  CHECK(strstr(why, "over the native tier's 16777216 per module"),
        "a module over 16 MiB stays interpreted (%s)", why);
}

/* ---- main ------------------------------------------------------------------------------------ */

static CU_TestInfo tests[] = {
    {"bounds: every width and offset, memory on demand", test_bounds_on_demand},
    {"bounds: after memory.grow", test_bounds_grown},
    {"bounds: pooled memory (guard pages)", test_bounds_pooled},
    {"stack: deep and runaway recursion", test_stack},
    {"host calls: results, traps, re-entry", test_host_calls},
    {"host calls: a host fault is not a guest trap", test_host_fault_not_swallowed},
    {"call_indirect: types, null, bounds", test_call_indirect},
    {"fuel: same figures as the interpreter", test_fuel},
    {"deadlines and interrupts", test_deadline_and_interrupt},
    {"cache artifact: serialize and load", test_serialize},
    {"SIMD runs native, as the interpreter computes it", test_simd},
    {"tier auto: interpreter first, native code for later instances", test_auto_tier_up},
    {"many-block functions: native code without LLVM's optimizations", test_big_function},
    {"size bounds: a function over 2 MiB, a module over 16 MiB", test_size_bounds},
    CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
    {.pName = "native", .pTests = tests},
    CU_SUITE_INFO_NULL,
};

int main(int argc, char **argv) {
  if (!wh_tier_available(WH_TIER_NATIVE)) {
    printf("wharf-unit-native: this build has no native tier (WHARF_LLVM off); skipping\n");
    return 77;
  }
  const char *path = argc > 1 ? argv[1] : WHARF_NATIVE_TRAPS_WASM;
  if (!(wasm = slurp(path, &wasm_len))) {
    fprintf(stderr, "wharf-unit-native: cannot read %s\n", path);
    return 2;
  }
  if (CU_initialize_registry() != CUE_SUCCESS || CU_register_suites(suites) != CUE_SUCCESS)
    return 2;
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_ErrorCode rc = CU_basic_run_tests();
  unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  for (int k = 0; k < 2; k++) {
    wh_module_free(modules[k]);
    wh_engine_free(engines[k]);
  }
  free(wasm);
  if (rc != CUE_SUCCESS) return 2;
  return failures ? 1 : 0;
}
