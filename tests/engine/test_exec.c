/*
 * test_exec.c - execution contexts (engine/exec.c): fuel, deadlines,
 * interrupts, host functions, traps from the host and backtraces.
 *
 * Fuel counts are worked out by hand from DESIGN.md section 3: one unit
 * per operator, none for nop, drop, block, loop, end, else, unreachable
 * and return, plus one per 64 bytes (memory) or per element (tables) of
 * bulk operations.  Each program's comment shows the count.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wt.h"

/* Loads `m` (already filled) with the default engine or `cfg`. */
static int load(wt_t *t, wb_mod_t *m, const wh_engine_config_t *cfg) {
  wt_init(t, cfg);
  int rc = wt_load(t, m);
  WT_CHECK(rc == 0, "the test module loads (got %s: %s)", wh_errname(rc), t->diag.msg);
  return rc;
}

/* Runs export `name` with fresh fuel `fuel`; returns wh_call's code and
 * the fuel consumed in *used. */
static int run_metered(wt_t *t, const char *name, uint64_t fuel, uint64_t *used,
                       int32_t *out, int nargs, int32_t a) {
  wh_exec_set_fuel(t->exec, fuel);
  int rc = nargs ? wt_call_i32(t, name, out, 1, a) : wt_call_i32(t, name, out, 0);
  *used = wh_exec_fuel_consumed(t->exec);
  return rc;
}

/* ---- fuel ---------------------------------------------------------------- */

static void test_fuel_straight_line(void) {
  wb_mod_t m;
  wb_init(&m);
  /* i32.const 1 (1)  i32.const 2 (1)  i32.add (1)  = 3 */
  uint32_t add = wb_func(&m, "", "i", "", CODE(I32_CONST(1), I32_CONST(2), I32_ADD));
  /* nop nop (block nop) (loop nop) i32.const 7 (1) drop
   * i32.const 1 (1) (if 1 (then nop) (else nop)) i32.const 5 (1) return  = 4 */
  uint32_t free_ops = wb_func(&m, "", "i", "", CODE(
      NOP, NOP, BLOCK(BT_VOID), NOP, END, LOOP(BT_VOID), NOP, END,
      I32_CONST(7), DROP, I32_CONST(1), IF(BT_VOID), NOP, ELSE, NOP, END,
      I32_CONST(5), RETURN));
  /* the same with the else arm taken: i32.const 0 instead of 1 = 4 */
  uint32_t free_else = wb_func(&m, "", "i", "", CODE(
      I32_CONST(0), IF(BT_VOID), NOP, ELSE, NOP, END, I32_CONST(7), DROP, I32_CONST(5),
      RETURN, I32_CONST(9)));
  /* i32.const 1 (1) drop unreachable  = 1 */
  uint32_t unr = wb_func(&m, "", "", "", CODE(I32_CONST(1), DROP, UNREACHABLE));
  /* local.get 0 (1) i32.const 2 (1) i32.add (1) local.tee 0 (1) = 4 */
  uint32_t callee = wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), I32_CONST(2), I32_ADD,
                                                    LOCAL_TEE(0)));
  /* i32.const 1 (1) call (1) + callee 4 = 6 */
  uint32_t caller = wb_func(&m, "", "i", "", CODE(I32_CONST(1), CALL(callee)));
  /* (global (mut i32) (i32.const 10))
   * i32.const 1, i32.const 2, i32.const 0, select (4) -> 2;  global.get (1)
   * i32.add (1) global.set (1) global.get (1) -> 12;  = 8 units */
  wb_global(&m, 'i', true, CODE(I32_CONST(10)));
  uint32_t misc = wb_func(&m, "", "i", "", CODE(
      I32_CONST(1), I32_CONST(2), I32_CONST(0), SELECT, GLOBAL_GET(0), I32_ADD, GLOBAL_SET(0),
      GLOBAL_GET(0)));
  /* (block (br_table 0 0 (local.get 0))) i32.const 3 = 1 + 1 + 1 = 3 */
  uint32_t brt = wb_func(&m, "i", "i", "", CODE(
      BLOCK(BT_VOID), LOCAL_GET(0), BR_TABLE2(0, 0, 0), END, I32_CONST(3)));
  wb_export(&m, "add", WH_EXTERN_FUNC, add);
  wb_export(&m, "free", WH_EXTERN_FUNC, free_ops);
  wb_export(&m, "free_else", WH_EXTERN_FUNC, free_else);
  wb_export(&m, "unr", WH_EXTERN_FUNC, unr);
  wb_export(&m, "caller", WH_EXTERN_FUNC, caller);
  wb_export(&m, "misc", WH_EXTERN_FUNC, misc);
  wb_export(&m, "brt", WH_EXTERN_FUNC, brt);
  wt_t t;
  if (load(&t, &m, NULL) == 0) {
    static const struct {
      const char *name;
      int32_t want;
      uint64_t fuel;
    } cases[] = {
        {"add", 3, 3}, {"free", 5, 4}, {"free_else", 5, 4}, {"caller", 3, 6},
        {"misc", 12, 8}, {"brt", 3, 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
      uint64_t used = 0;
      int32_t got = 0;
      int rc = run_metered(&t, cases[i].name, 1000, &used, &got, cases[i].name[0] == 'b', 0);
      WT_CHECK(rc == 0 && got == cases[i].want, "%s returns %d (got %d, %s)", cases[i].name,
               cases[i].want, got, wh_errname(rc));
      WT_CHECK(used == cases[i].fuel, "%s consumes %llu units of fuel (got %llu)",
               cases[i].name, (unsigned long long)cases[i].fuel, (unsigned long long)used);
      WT_CHECK(wh_exec_fuel_remaining(t.exec) == 1000 - used,
               "%s leaves 1000 - consumed units", cases[i].name);
    }
    uint64_t used = 0;
    int rc = run_metered(&t, "unr", 1000, &used, NULL, 0, 0);
    WT_CHECK(rc == WH_ETRAP && used == 1,
             "a trap at unreachable after i32.const; drop consumes 1 unit (got %llu, %s)",
             (unsigned long long)used, wh_errname(rc));

    /* consumption adds up over calls until the fuel is set again */
    wh_exec_set_fuel(t.exec, 100);
    wt_call_i32(&t, "add", NULL, 0);
    wt_call_i32(&t, "add", NULL, 0);
    WT_CHECK(wh_exec_fuel_consumed(t.exec) == 6, "two calls of add consume 6 units (got %llu)",
             (unsigned long long)wh_exec_fuel_consumed(t.exec));
    wh_exec_set_fuel(t.exec, 100);
    WT_CHECK(wh_exec_fuel_consumed(t.exec) == 0, "setting the fuel resets the count");

    /* exactly enough fuel suffices; one unit less does not */
    int32_t got = 0;
    rc = run_metered(&t, "add", 3, &used, &got, 0, 0);
    WT_CHECK(rc == 0 && got == 3, "add runs on exactly 3 units (got %s)", wh_errname(rc));
    WT_CHECK(wh_exec_fuel_remaining(t.exec) == 0, "and leaves none");
    rc = run_metered(&t, "add", 2, &used, &got, 0, 0);
    WT_CHECK(rc == WH_ETRAP && wh_exec_trap(t.exec, NULL, NULL) == WH_TRAP_OUT_OF_FUEL,
             "add traps out of fuel on 2 units (got %s)", wh_errname(rc));
    WT_CHECK(used <= 2, "an out-of-fuel trap never consumes more than it was given (%llu)",
             (unsigned long long)used);
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_fuel_loop(void) {
  /* (func (param $n i32) (result i32) (local $i i32)
   *   (loop $l                               ;; 0
   *     local.get $i  i32.const 1  i32.add   ;; 3
   *     local.tee $i  local.get $n  i32.lt_s ;; 3
   *     br_if $l)                            ;; 1   -> 7 per iteration
   *   local.get $i)                          ;; 1   -> 7n + 1 for n >= 1 */
  wb_mod_t m;
  wb_init(&m);
  uint32_t f = wb_func(&m, "i", "i", "i", CODE(
      LOOP(BT_VOID), LOCAL_GET(1), I32_CONST(1), I32_ADD, LOCAL_TEE(1), LOCAL_GET(0), I32_LT_S,
      BR_IF(0), END, LOCAL_GET(1)));
  wb_export(&m, "f", WH_EXTERN_FUNC, f);
  wt_t t;
  if (load(&t, &m, NULL) == 0) {
    static const int32_t ns[] = {1, 2, 10, 1000, 100000};
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
      uint64_t used = 0;
      int32_t got = 0;
      int rc = run_metered(&t, "f", 10000000, &used, &got, 1, ns[i]);
      uint64_t want = 7 * (uint64_t)ns[i] + 1;
      WT_CHECK(rc == 0 && got == ns[i], "the loop runs %d times (got %d)", ns[i], got);
      WT_CHECK(used == want, "a %d-iteration loop consumes 7n + 1 = %llu units (got %llu)",
               ns[i], (unsigned long long)want, (unsigned long long)used);
    }
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_out_of_fuel(void) {
  /* (func (loop (br 0)))  ;; 1 unit per iteration */
  wb_mod_t m;
  wb_init(&m);
  uint32_t spin = wb_func(&m, "", "", "", CODE(LOOP(BT_VOID), BR(0), END));
  uint32_t add = wb_func(&m, "", "i", "", CODE(I32_CONST(1), I32_CONST(2), I32_ADD));
  wb_export(&m, "spin", WH_EXTERN_FUNC, spin);
  wb_export(&m, "add", WH_EXTERN_FUNC, add);
  wt_t t;
  if (load(&t, &m, NULL) == 0) {
    uint64_t used = 0;
    int rc = run_metered(&t, "spin", 1000, &used, NULL, 0, 0);
    const char *msg;
    wh_trap_code_t kind = wh_exec_trap(t.exec, &msg, NULL);
    WT_CHECK(rc == WH_ETRAP && kind == WH_TRAP_OUT_OF_FUEL,
             "an endless loop traps out of fuel (got %s, kind %d)", wh_errname(rc), kind);
    WT_CHECK(msg && strcmp(msg, "all fuel consumed") == 0,
             "the trap says \"all fuel consumed\" (got \"%s\")", msg ? msg : "(null)");
    WT_CHECK(used == 1000 && wh_exec_fuel_remaining(t.exec) == 0,
             "the loop used all 1000 units (got %llu, %llu left)", (unsigned long long)used,
             (unsigned long long)wh_exec_fuel_remaining(t.exec));
    int32_t got = 0;
    rc = run_metered(&t, "add", 10, &used, &got, 0, 0);
    WT_CHECK(rc == 0 && got == 3 && used == 3, "the exec runs again once refuelled");
  }
  wt_fini(&t);
  wb_fini(&m);

  /* fuel off: nothing is counted and nothing runs out */
  wh_engine_config_t cfg;
  wh_engine_config_default(&cfg);
  cfg.fuel = false;
  wb_init(&m);
  uint32_t f = wb_func(&m, "i", "i", "i", CODE(
      LOOP(BT_VOID), LOCAL_GET(1), I32_CONST(1), I32_ADD, LOCAL_TEE(1), LOCAL_GET(0), I32_LT_S,
      BR_IF(0), END, LOCAL_GET(1)));
  wb_export(&m, "f", WH_EXTERN_FUNC, f);
  if (load(&t, &m, &cfg) == 0) {
    uint64_t used = 1;
    int32_t got = 0;
    int rc = run_metered(&t, "f", 5, &used, &got, 1, 1000);
    WT_CHECK(rc == 0 && got == 1000, "with fuel off a 7001-unit loop runs on 5 units (got %s)",
             wh_errname(rc));
    WT_CHECK(used == 0, "with fuel off nothing is consumed (got %llu)", (unsigned long long)used);
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_fuel_bulk(void) {
  /* (memory 1)
   * "fill" (n):  i32.const 0  i32.const 0xaa  local.get 0  memory.fill  = 4 + n/64
   * "copy" (n):  i32.const 0  i32.const 8000  local.get 0  memory.copy  = 4 + n/64
   * (table 100 funcref)
   * "tfill" (n): i32.const 0  ref.null  local.get 0  table.fill          = 4 + n */
  wb_mod_t m;
  wb_init(&m);
  wb_table(&m, WH_FUNCREF, 100, WB_NO_MAX);
  wb_memory(&m, 1, 1);
  uint32_t fill = wb_func(&m, "i", "", "", CODE(I32_CONST(0), I32_CONST(0xaa), LOCAL_GET(0),
                                                 MEMORY_FILL));
  uint32_t copy = wb_func(&m, "i", "", "", CODE(I32_CONST(0), I32_CONST(8000), LOCAL_GET(0),
                                                 MEMORY_COPY));
  uint32_t tfill = wb_func(&m, "i", "", "", CODE(I32_CONST(0), REF_NULL(0x70), LOCAL_GET(0),
                                                  TABLE_FILL(0)));
  wb_export(&m, "fill", WH_EXTERN_FUNC, fill);
  wb_export(&m, "copy", WH_EXTERN_FUNC, copy);
  wb_export(&m, "tfill", WH_EXTERN_FUNC, tfill);
  wt_t t;
  if (load(&t, &m, NULL) == 0) {
    static const struct {
      const char *name;
      int32_t n;
      uint64_t fuel;
    } cases[] = {
        {"fill", 0, 4}, {"fill", 6400, 104}, {"fill", 64, 5}, {"copy", 0, 4},
        {"copy", 6400, 104}, {"tfill", 0, 4}, {"tfill", 10, 14}, {"tfill", 100, 104},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
      uint64_t used = 0;
      int rc = run_metered(&t, cases[i].name, 100000, &used, NULL, 1, cases[i].n);
      WT_CHECK(rc == 0 && used == cases[i].fuel, "%s of %d consumes %llu units (got %llu, %s)",
               cases[i].name, cases[i].n, (unsigned long long)cases[i].fuel,
               (unsigned long long)used, wh_errname(rc));
    }
    /* not enough for the bulk part: traps */
    uint64_t used;
    int rc = run_metered(&t, "fill", 50, &used, NULL, 1, 6400);
    WT_CHECK(rc == WH_ETRAP && wh_exec_trap(t.exec, NULL, NULL) == WH_TRAP_OUT_OF_FUEL,
             "a 6400-byte fill on 50 units traps out of fuel (got %s)", wh_errname(rc));
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_fuel_failed_table_grow(void) {
  /* (table 1 10 funcref)
   * "grow" (n): ref.null  local.get 0  table.grow  = 3 units (+ n per element grown)
   * A grow past the maximum adds nothing and returns -1; it must not
   * charge for elements it never made. */
  wb_mod_t m;
  wb_init(&m);
  wb_table(&m, WH_FUNCREF, 1, 10);
  uint32_t grow = wb_func(&m, "i", "i", "", CODE(REF_NULL(0x70), LOCAL_GET(0), TABLE_GROW(0)));
  wb_export(&m, "grow", WH_EXTERN_FUNC, grow);
  wt_t t;
  if (load(&t, &m, NULL) == 0) {
    uint64_t used = 0;
    int32_t got = 0;
    int rc = run_metered(&t, "grow", 1000, &used, &got, 1, 5);
    WT_CHECK(rc == 0 && got == 1 && used == 8, "growing by 5 returns 1 and costs 3 + 5 "
             "(got %d, %llu units, %s)", got, (unsigned long long)used, wh_errname(rc));
    rc = run_metered(&t, "grow", 1000, &used, &got, 1, 1000000);
    WT_CHECK(rc == 0 && got == -1,
             "growing past the maximum returns -1 even with only 1000 units of fuel "
             "(got %s, %d: \"%s\")", wh_errname(rc), got, rc ? wt_trap_msg(&t) : "");
  }
  wt_fini(&t);
  wb_fini(&m);
}

/* ---- deadlines and interrupts ------------------------------------------------ */

static void build_spin(wb_mod_t *m) {
  /* (func (export "spin") (loop (br 0)))
   * (func (export "add") (result i32) (i32.add (i32.const 1) (i32.const 2))) */
  wb_init(m);
  uint32_t spin = wb_func(m, "", "", "", CODE(LOOP(BT_VOID), BR(0), END));
  uint32_t add = wb_func(m, "", "i", "", CODE(I32_CONST(1), I32_CONST(2), I32_ADD));
  wb_export(m, "spin", WH_EXTERN_FUNC, spin);
  wb_export(m, "add", WH_EXTERN_FUNC, add);
}

static void test_deadline(void) {
  wb_mod_t m;
  build_spin(&m);
  wt_t t;
  if (load(&t, &m, NULL) == 0) {
    double t0 = wt_now_ms();
    wh_exec_set_deadline_ms(t.exec, 50);
    int rc = wt_call_i32(&t, "spin", NULL, 0);
    double elapsed = wt_now_ms() - t0;
    const char *msg;
    wh_trap_code_t kind = wh_exec_trap(t.exec, &msg, NULL);
    WT_CHECK(rc == WH_ETRAP && kind == WH_TRAP_DEADLINE,
             "an endless loop with a 50 ms deadline traps (got %s, kind %d)", wh_errname(rc),
             kind);
    WT_CHECK(msg && strcmp(msg, "deadline exceeded") == 0,
             "the trap says \"deadline exceeded\" (got \"%s\")", msg ? msg : "(null)");
    WT_CHECK(elapsed < 2000, "it stops within 2 s (took %.0f ms)", elapsed);
    WT_CHECK(elapsed >= 30, "it does not stop long before 50 ms (took %.0f ms)", elapsed);
    WT_CHECK(wh_epoch_tick_ms() > 0, "the epoch timer is running (tick %u ms)",
             wh_epoch_tick_ms());

    wh_exec_set_deadline_ms(t.exec, 0);
    int32_t got = 0;
    rc = wt_call_i32(&t, "add", &got, 0);
    WT_CHECK(rc == 0 && got == 3, "with the deadline cleared the exec runs again (got %s)",
             wh_errname(rc));
    wh_exec_set_deadline_ms(t.exec, 10000);
    rc = wt_call_i32(&t, "add", &got, 0);
    WT_CHECK(rc == 0 && got == 3, "a far deadline does not disturb a short call (got %s)",
             wh_errname(rc));
    wh_exec_set_deadline_ms(t.exec, 0);
  }
  wt_fini(&t);
  wb_fini(&m);
}

typedef struct interrupter {
  wh_exec_t *x;
  unsigned delay_ms;
} interrupter_t;

static void *interrupt_later(void *arg) {
  interrupter_t *it = arg;
  struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)it->delay_ms * 1000000L};
  nanosleep(&ts, NULL);
  wh_exec_interrupt(it->x);
  return NULL;
}

static void test_interrupt(void) {
  wb_mod_t m;
  build_spin(&m);
  wt_t t;
  if (load(&t, &m, NULL) == 0) {
    interrupter_t it = {.x = t.exec, .delay_ms = 30};
    pthread_t th;
    double t0 = wt_now_ms();
    int prc = pthread_create(&th, NULL, interrupt_later, &it);
    WT_CHECK(prc == 0, "the interrupting thread starts");
    int rc = wt_call_i32(&t, "spin", NULL, 0);
    double elapsed = wt_now_ms() - t0;
    if (prc == 0) pthread_join(th, NULL);
    const char *msg;
    wh_trap_code_t kind = wh_exec_trap(t.exec, &msg, NULL);
    WT_CHECK(rc == WH_ETRAP && kind == WH_TRAP_INTERRUPTED,
             "an endless loop interrupted from another thread traps (got %s, kind %d)",
             wh_errname(rc), kind);
    WT_CHECK(msg && strcmp(msg, "interrupted") == 0, "the trap says \"interrupted\" (got \"%s\")",
             msg ? msg : "(null)");
    WT_CHECK(elapsed < 2000, "it stops within 2 s (took %.0f ms)", elapsed);

    int32_t got = 0;
    rc = wt_call_i32(&t, "add", &got, 0);
    WT_CHECK(rc == 0 && got == 3, "the exec runs again after an interrupt (got %s)",
             wh_errname(rc));

    /* an interrupt before the call hits the next call, once */
    wh_exec_interrupt(t.exec);
    rc = wt_call_i32(&t, "add", &got, 0);
    WT_CHECK(rc == WH_ETRAP && wh_exec_trap(t.exec, NULL, NULL) == WH_TRAP_INTERRUPTED,
             "an interrupt made before a call stops that call (got %s)", wh_errname(rc));
    rc = wt_call_i32(&t, "add", &got, 0);
    WT_CHECK(rc == 0 && got == 3, "and only that one (got %s)", wh_errname(rc));
  }
  wt_fini(&t);
  wb_fini(&m);
}

/* ---- host functions ------------------------------------------------------------ */

typedef struct host_env {
  int calls;
  char seen[64];
  uint64_t mem_size;
  bool had_memory;
} host_env_t;

static int host_add(wh_caller_t *c, void *env, uint64_t *slots) {
  host_env_t *h = env;
  h->calls++;
  slots[0] = (uint32_t)((int32_t)(uint32_t)slots[0] + (int32_t)(uint32_t)slots[1]);
  (void)c;
  return 0;
}

static void test_host_add(void) {
  /* (import "env" "add" (func $add (param i32 i32) (result i32)))
   * (func (export "f") (param i32) (result i32)
   *   (call $add (call $add (local.get 0) (i32.const 10)) (i32.const -3))) */
  wb_mod_t m;
  wb_init(&m);
  uint32_t add = wb_import_func(&m, "env", "add", "ii", "i");
  uint32_t f = wb_func(&m, "i", "i", "", CODE(
      LOCAL_GET(0), I32_CONST(10), CALL(0), I32_CONST(-3), CALL(0)));
  wb_export(&m, "f", WH_EXTERN_FUNC, f);
  wb_export(&m, "add", WH_EXTERN_FUNC, add);
  wt_t t;
  wt_init(&t, NULL);
  host_env_t env = {0};
  wh_linker_define_func(t.linker, "env", "add", "ii", "i", host_add, &env);
  int rc = wt_load(&t, &m);
  WT_CHECK(rc == 0, "a module importing a host function links (got %s: %s)", wh_errname(rc),
           t.diag.msg);
  if (rc == 0) {
    int32_t got = 0;
    wh_exec_set_fuel(t.exec, 1000);
    rc = wt_call_i32(&t, "f", &got, 1, 5);
    WT_CHECK(rc == 0 && got == 12, "5 + 10 - 3 through the host is 12 (got %d, %s)", got,
             wh_errname(rc));
    WT_CHECK(env.calls == 2, "the host function ran twice (got %d)", env.calls);
    /* local.get, i32.const, call, i32.const, call = 5 */
    WT_CHECK(wh_exec_fuel_consumed(t.exec) == 5,
             "calls to the host cost 1 unit each, 5 in all (got %llu)",
             (unsigned long long)wh_exec_fuel_consumed(t.exec));
    rc = wt_call_i32(&t, "add", &got, 2, 20, 22);
    WT_CHECK(rc == 0 && got == 42, "a re-exported host function is callable directly (got %d)",
             got);
  }
  wt_fini(&t);
  wb_fini(&m);
}

static int host_refuse(wh_caller_t *c, void *env, uint64_t *slots) {
  (void)env;
  return wh_caller_trap(c, "host says no to %d", (int)(uint32_t)slots[0]);
}

static int host_fail(wh_caller_t *c, void *env, uint64_t *slots) {
  (void)c;
  (void)env;
  (void)slots;
  return WH_EIO;
}

static int host_exit(wh_caller_t *c, void *env, uint64_t *slots) {
  (void)env;
  (void)slots;
  return wh_caller_exit(c, 3);
}

static void test_host_trap_backtrace(void) {
  /* (import "env" "refuse" (func (param i32)))     ;; 0
   * (import "env" "fail" (func))                   ;; 1
   * (import "env" "exit" (func))                   ;; 2
   * (func $inner (call $refuse (i32.const 42)))    ;; 3, named "inner"
   * (func $outer (call $inner))                    ;; 4, named "outer"
   * (func $crash unreachable)                      ;; 5, named "crash"
   * (func (call $crash))                           ;; 6, no name
   * (func (call $fail)) (func (call $exit))        ;; 7, 8 */
  wb_mod_t m;
  wb_init(&m);
  wb_import_func(&m, "env", "refuse", "i", "");
  wb_import_func(&m, "env", "fail", "", "");
  wb_import_func(&m, "env", "exit", "", "");
  uint32_t inner = wb_func(&m, "", "", "", CODE(I32_CONST(42), CALL(0)));
  uint32_t outer = wb_func(&m, "", "", "", CODE(CALL(3)));
  uint32_t crash = wb_func(&m, "", "", "", CODE(UNREACHABLE));
  uint32_t anon = wb_func(&m, "", "", "", CODE(CALL(5)));
  uint32_t fail = wb_func(&m, "", "", "", CODE(CALL(1)));
  uint32_t ex = wb_func(&m, "", "", "", CODE(CALL(2)));
  wb_export(&m, "outer", WH_EXTERN_FUNC, outer);
  wb_export(&m, "anon", WH_EXTERN_FUNC, anon);
  wb_export(&m, "fail", WH_EXTERN_FUNC, fail);
  wb_export(&m, "exit", WH_EXTERN_FUNC, ex);
  wb_name_func(&m, inner, "inner");
  wb_name_func(&m, outer, "outer");
  wb_name_func(&m, crash, "crash");
  wt_t t;
  wt_init(&t, NULL);
  wh_linker_define_func(t.linker, "env", "refuse", "i", "", host_refuse, NULL);
  wh_linker_define_func(t.linker, "env", "fail", "", "", host_fail, NULL);
  wh_linker_define_func(t.linker, "env", "exit", "", "", host_exit, NULL);
  int rc = wt_load(&t, &m);
  WT_CHECK(rc == 0, "the backtrace module links (got %s: %s)", wh_errname(rc), t.diag.msg);
  if (rc == 0) {
    rc = wt_call_i32(&t, "outer", NULL, 0);
    const char *msg, *bt;
    wh_trap_code_t kind = wh_exec_trap(t.exec, &msg, &bt);
    WT_CHECK(rc == WH_ETRAP && kind == WH_TRAP_HOST, "a host trap is a WH_TRAP_HOST trap "
             "(got %s, kind %d)", wh_errname(rc), kind);
    WT_CHECK(msg && strcmp(msg, "host says no to 42") == 0,
             "the host's message comes through with its argument (got \"%s\")",
             msg ? msg : "(null)");
    WT_CHECK(bt && strcmp(bt, "  #0 inner\n  #1 outer\n") == 0,
             "the backtrace names inner then outer from the name section (got \"%s\")",
             bt ? bt : "(null)");

    rc = wt_call_i32(&t, "anon", NULL, 0);
    bt = wt_backtrace(&t);
    WT_CHECK(rc == WH_ETRAP && strcmp(wt_trap_msg(&t), "unreachable") == 0,
             "a guest trap after a host trap has its own message (got \"%s\")", wt_trap_msg(&t));
    WT_CHECK(strcmp(bt, "  #0 crash\n  #1 func[6]\n") == 0,
             "an unnamed function shows as func[index] (got \"%s\")", bt);

    rc = wt_call_i32(&t, "fail", NULL, 0);
    WT_CHECK(rc == WH_ETRAP && wh_exec_trap(t.exec, NULL, NULL) == WH_TRAP_HOST &&
                 strstr(wt_trap_msg(&t), wh_strerror(WH_EIO)) != NULL,
             "a host error without a message traps naming the error (got %s: \"%s\")",
             wh_errname(rc), wt_trap_msg(&t));

    rc = wt_call_i32(&t, "exit", NULL, 0);
    WT_CHECK(rc == WH_EEXIT && wh_exec_exit_status(t.exec) == 3,
             "wh_caller_exit ends the call with WH_EEXIT and status 3 (got %s, %d)",
             wh_errname(rc), wh_exec_exit_status(t.exec));
  }
  wt_fini(&t);
  wb_fini(&m);
}

static int host_read(wh_caller_t *c, void *env, uint64_t *slots) {
  host_env_t *h = env;
  uint64_t size = 0;
  uint8_t *mem = wh_caller_memory(c, &size);
  h->had_memory = mem != NULL;
  h->mem_size = size;
  uint32_t ptr = (uint32_t)slots[0], len = (uint32_t)slots[1];
  if (!mem) {
    slots[0] = 0;
    return 0;
  }
  if ((uint64_t)ptr + len > size || len >= sizeof h->seen)
    return wh_caller_trap(c, "bad pointer");
  memcpy(h->seen, mem + ptr, len);
  h->seen[len] = '\0';
  for (uint32_t i = 0; i < len; i++) mem[ptr + i] = (uint8_t)(mem[ptr + i] - 32);  /* upper */
  slots[0] = len;
  return 0;
}

static void test_host_memory(void) {
  /* (import "env" "read" (func $read (param i32 i32) (result i32)))
   * (memory 1) (data (i32.const 16) "hello")
   * (func (export "f") (result i32)
   *   (drop (call $read (i32.const 16) (i32.const 5)))
   *   (i32.load8_u (i32.const 16)))                 ;; 'H' after the host's write */
  wb_mod_t m;
  wb_init(&m);
  wb_import_func(&m, "env", "read", "ii", "i");
  wb_memory(&m, 1, WB_NO_MAX);
  uint32_t f = wb_func(&m, "", "i", "", CODE(
      I32_CONST(16), I32_CONST(5), CALL(0), DROP, I32_CONST(16), I32_LOAD8_U(0, 0)));
  uint32_t bad = wb_func(&m, "", "i", "", CODE(I32_CONST(65534), I32_CONST(5), CALL(0)));
  wb_export(&m, "f", WH_EXTERN_FUNC, f);
  wb_export(&m, "bad", WH_EXTERN_FUNC, bad);
  wb_export(&m, "read", WH_EXTERN_FUNC, 0);
  wb_data(&m, 16, "hello", 5);
  wt_t t;
  wt_init(&t, NULL);
  host_env_t env = {0};
  wh_linker_define_func(t.linker, "env", "read", "ii", "i", host_read, &env);
  if (wt_load(&t, &m) == 0) {
    int32_t got = 0;
    int rc = wt_call_i32(&t, "f", &got, 0);
    WT_CHECK(rc == 0 && strcmp(env.seen, "hello") == 0,
             "the host reads \"hello\" from guest memory (got \"%s\", %s)", env.seen,
             wh_errname(rc));
    WT_CHECK(env.mem_size == 65536, "the host sees one page (got %llu)",
             (unsigned long long)env.mem_size);
    WT_CHECK(got == 'H', "the guest sees the host's write (got %d)", got);
    rc = wt_call_i32(&t, "bad", &got, 0);
    WT_CHECK(rc == WH_ETRAP && strcmp(wt_trap_msg(&t), "bad pointer") == 0,
             "the host can refuse an out-of-range pointer (got %s: \"%s\")", wh_errname(rc),
             wt_trap_msg(&t));
    /* called straight from the host there is no calling instance */
    env.had_memory = true;
    rc = wt_call_i32(&t, "read", &got, 2, 16, 5);
    WT_CHECK(rc == 0 && !env.had_memory && got == 0,
             "a host function called from the host sees no memory (got %s)", wh_errname(rc));
  } else {
    WT_CHECK(false, "the memory module links (%s)", t.diag.msg);
  }
  wt_fini(&t);
  wb_fini(&m);
}

static int host_reenter(wh_caller_t *c, void *env, uint64_t *slots) {
  (void)env;
  wh_func_t *g = wh_instance_func(wh_caller_instance(c), "g");
  wh_val_t arg = WT_I32((int32_t)(uint32_t)slots[0]), res;
  int rc = wh_call(wh_caller_exec(c), g, &arg, 1, &res, 1);
  if (rc) return rc;
  slots[0] = (uint32_t)res.of.i32;
  return 0;
}

static void test_host_reentry(void) {
  /* (import "env" "back" (func $back (param i32) (result i32)))
   * (func (export "f") (param i32) (result i32) (i32.add (call $back (local.get 0)) (i32.const 1)))
   * (func (export "g") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 2)))
   * (func (export "loop") (param i32) (result i32) (call $back (local.get 0)))  -- g = loop
   * f(x) = 2x + 1; and a host that calls back into a function that calls
   * the host again must stop at the nesting limit, not overflow the C stack */
  wb_mod_t m;
  wb_init(&m);
  wb_import_func(&m, "env", "back", "i", "i");
  uint32_t f = wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), CALL(0), I32_CONST(1), I32_ADD));
  uint32_t g = wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), I32_CONST(2), I32_MUL));
  wb_export(&m, "f", WH_EXTERN_FUNC, f);
  wb_export(&m, "g", WH_EXTERN_FUNC, g);
  wt_t t;
  wt_init(&t, NULL);
  wh_linker_define_func(t.linker, "env", "back", "i", "i", host_reenter, NULL);
  if (wt_load(&t, &m) == 0) {
    int32_t got = 0;
    int rc = wt_call_i32(&t, "f", &got, 1, 20);
    WT_CHECK(rc == 0 && got == 41, "wasm -> host -> wasm -> host returns 2 * 20 + 1 (got %d, %s)",
             got, wh_errname(rc));
  }
  wt_fini(&t);
  wb_fini(&m);

  /* "g" is now a function that calls the host, which calls "g" ... */
  wb_init(&m);
  wb_import_func(&m, "env", "back", "i", "i");
  g = wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), CALL(0)));
  wb_export(&m, "g", WH_EXTERN_FUNC, g);
  wt_init(&t, NULL);
  wh_linker_define_func(t.linker, "env", "back", "i", "i", host_reenter, NULL);
  if (wt_load(&t, &m) == 0) {
    int32_t got = 0;
    int rc = wt_call_i32(&t, "g", &got, 1, 1);
    WT_CHECK(rc == WH_ETRAP && wh_exec_trap(t.exec, NULL, NULL) == WH_TRAP_STACK_EXHAUSTED,
             "endless host re-entry stops with \"call stack exhausted\" (got %s: \"%s\")",
             wh_errname(rc), wt_trap_msg(&t));
    rc = wt_call_i32(&t, "g", &got, 1, 1);
    WT_CHECK(rc == WH_ETRAP && wh_exec_trap(t.exec, NULL, NULL) == WH_TRAP_STACK_EXHAUSTED,
             "and does so again on the same exec (got %s)", wh_errname(rc));
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_deep_backtrace_counts_every_frame(void) {
  /* (func $r (call $r)) named "r", with a 100-frame limit: the trap's
   * backtrace elides the middle, and the lines plus the "... N more
   * frames" must add up to the 100 frames that were live */
  wh_engine_config_t cfg;
  wh_engine_config_default(&cfg);
  cfg.max_call_depth = 100;
  wb_mod_t m;
  wb_init(&m);
  uint32_t r = wb_func(&m, "", "", "", CODE(CALL(0)));
  wb_export(&m, "r", WH_EXTERN_FUNC, r);
  wb_name_func(&m, r, "r");
  wt_t t;
  if (load(&t, &m, &cfg) == 0) {
    int rc = wt_call_i32(&t, "r", NULL, 0);
    WT_CHECK(rc == WH_ETRAP && wh_exec_trap(t.exec, NULL, NULL) == WH_TRAP_STACK_EXHAUSTED,
             "recursion past 100 frames traps (got %s)", wh_errname(rc));
    const char *bt = wt_backtrace(&t);
    long shown = 0, more = 0;
    char last[64] = "";
    for (const char *p = bt; *p;) {
      const char *nl = strchr(p, '\n');
      size_t n = nl ? (size_t)(nl - p) : strlen(p);
      if (strncmp(p, "  #", 3) == 0) {
        shown++;
        snprintf(last, sizeof last, "%.*s", (int)n, p);
      } else {
        sscanf(p, "  ... %ld more frames", &more);
      }
      p += n + (nl ? 1 : 0);
    }
    WT_CHECK(more > 0, "a 100-frame backtrace is elided (\"... N more frames\")");
    WT_CHECK(shown + more == 100,
             "the frames shown (%ld) plus those elided (%ld) are the 100 live frames",
             shown, more);
    WT_CHECK(strcmp(last, "  #99 r") == 0,
             "the outermost frame is numbered #99 (got \"%s\")", last);
  }
  wt_fini(&t);
  wb_fini(&m);
}

static int host_abi(wh_caller_t *c, void *env, uint64_t *slots) {
  uint64_t *seen = env;
  memcpy(seen, slots, 4 * sizeof *slots);
  float f;
  double d;
  uint32_t fb = (uint32_t)slots[1];
  memcpy(&f, &fb, 4);
  memcpy(&d, &slots[2], 8);
  d += (double)f + (double)(int32_t)(uint32_t)slots[0] + (double)(int64_t)slots[3];
  memcpy(&slots[0], &d, 8);
  (void)c;
  return 0;
}

static void test_host_abi(void) {
  /* (import "env" "h" (func $h (param i32 f32 f64 i64) (result f64)))
   * (func (export "f") (param i32 f32 f64 i64) (result f64)
   *   (call $h (local.get 0) (local.get 1) (local.get 2) (local.get 3))) */
  wb_mod_t m;
  wb_init(&m);
  wb_import_func(&m, "env", "h", "ifFI", "F");
  uint32_t f = wb_func(&m, "ifFI", "F", "", CODE(LOCAL_GET(0), LOCAL_GET(1), LOCAL_GET(2),
                                                LOCAL_GET(3), CALL(0)));
  wb_export(&m, "f", WH_EXTERN_FUNC, f);
  wt_t t;
  wt_init(&t, NULL);
  uint64_t seen[4] = {0};
  wh_linker_define_func(t.linker, "env", "h", "ifFI", "F", host_abi, seen);
  if (wt_load(&t, &m) == 0) {
    wh_val_t args[4] = {WT_I32(-1), {.type = WH_F32, .of.f32 = 1.5f},
                        {.type = WH_F64, .of.f64 = 0.25}, WT_I64(-1000000000000LL)};
    wh_val_t res;
    int rc = wh_call(t.exec, wh_instance_func(t.inst, "f"), args, 4, &res, 1);
    WT_CHECK(rc == 0 && res.type == WH_F64 && res.of.f64 == -1000000000000.0 + 0.75,
             "an f64 result comes back from the host through wasm (got %s, %f)",
             wh_errname(rc), res.of.f64);
    WT_CHECK(seen[0] == 0xffffffffull, "an i32 reaches the host zero-extended (got 0x%llx)",
             (unsigned long long)seen[0]);
    WT_CHECK(seen[1] == 0x3fc00000ull, "an f32 reaches the host as its bits (got 0x%llx)",
             (unsigned long long)seen[1]);
    WT_CHECK(seen[2] == 0x3fd0000000000000ull, "an f64 reaches the host as its bits");
    WT_CHECK(seen[3] == (uint64_t)-1000000000000LL, "an i64 reaches the host whole");
  }
  wt_fini(&t);
  wb_fini(&m);
}

/* ---- embedder conveniences ---------------------------------------------- */

static int host_user_kind(wh_caller_t *c, void *env, uint64_t *slots) {
  (void)env;
  int *user = wh_exec_user(wh_caller_exec(c));
  if (!user) return wh_caller_trap(c, "no user pointer");
  *user += 1;
  if (slots[0] == 0) return 0;
  return wh_caller_trap_kind(c, (wh_trap_code_t)slots[0]);
}

static void test_user_pointer_and_trap_kind(void) {
  /* (import "env" "h" (func $h (param i32)))
   * (func $go (export "go") (param i32) (call $h (local.get 0)))   ;; named "go" */
  wb_mod_t m;
  wb_init(&m);
  wb_import_func(&m, "env", "h", "i", "");
  uint32_t go = wb_func(&m, "i", "", "", CODE(LOCAL_GET(0), CALL(0)));
  wb_export(&m, "go", WH_EXTERN_FUNC, go);
  wb_name_func(&m, go, "go");
  wt_t t;
  wt_init(&t, NULL);
  wh_linker_define_func(t.linker, "env", "h", "i", "", host_user_kind, NULL);
  if (wt_load(&t, &m) == 0) {
    int user = 0;
    WT_CHECK(wh_exec_user(t.exec) == NULL, "an exec starts without a user pointer");
    wh_exec_set_user(t.exec, &user);
    WT_CHECK(wh_exec_user(t.exec) == &user, "the user pointer reads back");
    int rc = wt_call_i32(&t, "go", NULL, 1, 0);
    WT_CHECK(rc == 0 && user == 1, "a host function reaches the user pointer (got %s, %d)",
             wh_errname(rc), user);
    rc = wt_call_i32(&t, "go", NULL, 1, WH_TRAP_DEADLINE);
    const char *msg, *bt;
    wh_trap_code_t kind = wh_exec_trap(t.exec, &msg, &bt);
    WT_CHECK(rc == WH_ETRAP && kind == WH_TRAP_DEADLINE,
             "wh_caller_trap_kind traps with the engine's kind (got %s, kind %d)",
             wh_errname(rc), kind);
    WT_CHECK(msg && strcmp(msg, "deadline exceeded") == 0,
             "with the kind's spec text (got \"%s\")", msg ? msg : "(null)");
    WT_CHECK(bt && strcmp(bt, "  #0 go\n") == 0, "and the guest's backtrace (got \"%s\")",
             bt ? bt : "(null)");
    rc = wt_call_i32(&t, "go", NULL, 1, WH_TRAP_MEM_OOB);
    WT_CHECK(rc == WH_ETRAP && strcmp(wt_trap_msg(&t), "out of bounds memory access") == 0,
             "any kind works, e.g. out of bounds memory access (got \"%s\")", wt_trap_msg(&t));
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_deadline_remaining(void) {
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  WT_CHECK(wh_exec_deadline_remaining_ms(x) == UINT64_MAX, "no deadline means UINT64_MAX left");
  wh_exec_set_deadline_ms(x, 1000);
  uint64_t left = wh_exec_deadline_remaining_ms(x);
  unsigned tick = wh_epoch_tick_ms();
  WT_CHECK(left > 900 && left <= 1000 + 2 * (uint64_t)tick,
           "a 1000 ms deadline leaves about 1000 ms (got %llu, tick %u)",
           (unsigned long long)left, tick);
  wh_exec_interrupt(x);
  WT_CHECK(wh_exec_deadline_remaining_ms(x) == 0, "a pending interrupt leaves 0 ms");
  wh_exec_set_deadline_ms(x, 0);
  WT_CHECK(wh_exec_deadline_remaining_ms(x) == UINT64_MAX, "clearing the deadline leaves none");
  wh_exec_free(x);
  wh_engine_free(e);
}

CU_TestInfo wt_tests_exec[] = {
    {"fuel: straight-line code, free operators, calls", test_fuel_straight_line},
    {"fuel: a loop costs 7n + 1", test_fuel_loop},
    {"fuel: running out traps \"all fuel consumed\"", test_out_of_fuel},
    {"fuel: bulk operations cost per 64 bytes or per element", test_fuel_bulk},
    {"fuel: a failed table.grow returns -1", test_fuel_failed_table_grow},
    {"a deadline stops an endless loop", test_deadline},
    {"an interrupt from another thread stops an endless loop", test_interrupt},
    {"a host function adds numbers", test_host_add},
    {"host traps keep their message and get a named backtrace", test_host_trap_backtrace},
    {"a host function reads and writes guest memory", test_host_memory},
    {"host functions get raw slots: i32 zero-extended, floats as bits", test_host_abi},
    {"host functions may call back into wasm, boundedly", test_host_reentry},
    {"a deep backtrace accounts for every frame", test_deep_backtrace_counts_every_frame},
    {"the user pointer and wh_caller_trap_kind", test_user_pointer_and_trap_kind},
    {"the time left before a deadline", test_deadline_remaining},
    CU_TEST_INFO_NULL,
};
