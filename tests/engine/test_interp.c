/*
 * test_interp.c - the interpreter (engine/interp.c): every trap kind with
 * the spec's message, and the results of small programs (recursion,
 * loops, br_table, multi-value blocks, memory, bulk memory).
 */
#include <stdio.h>
#include <string.h>

#include "wt.h"

/* Loads a module with one exported function "f" and, if `mem`, a memory
 * of 1 page (max 2).  Returns 0 on success. */
static int load_f(wt_t *t, wb_mod_t *m, const char *params, const char *results,
                  const char *locals, const uint8_t *code, size_t n, bool mem) {
  wb_init(m);
  if (mem) wb_memory(m, 1, 2);
  uint32_t f = wb_func(m, params, results, locals, code, n);
  wb_export(m, "f", WH_EXTERN_FUNC, f);
  wt_init(t, NULL);
  int rc = wt_load(t, m);
  WT_CHECK(rc == 0, "the test module loads (got %s: %s)", wh_errname(rc), t->diag.msg);
  return rc;
}

static void done(wt_t *t, wb_mod_t *m) {
  wt_fini(t);
  wb_fini(m);
}

/* ---- traps ------------------------------------------------------------------- */

typedef struct trap_case {
  const char *what;
  const uint8_t *code;
  size_t len;
  wh_trap_code_t kind;
  const char *msg;
} trap_case_t;

#define TC(what, kind, msg, ...)                                              \
  {what, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}), \
   kind, msg}

static void test_arithmetic_traps(void) {
  const trap_case_t cases[] = {
      TC("unreachable", WH_TRAP_UNREACHABLE, "unreachable", UNREACHABLE),
      TC("i32.div_s by zero", WH_TRAP_DIV_ZERO, "integer divide by zero",
         I32_CONST(1), I32_CONST(0), I32_DIV_S, DROP),
      TC("i32.div_u by zero", WH_TRAP_DIV_ZERO, "integer divide by zero",
         I32_CONST(1), I32_CONST(0), I32_DIV_U, DROP),
      TC("i32.rem_s by zero", WH_TRAP_DIV_ZERO, "integer divide by zero",
         I32_CONST(1), I32_CONST(0), I32_REM_S, DROP),
      TC("i32.div_s of INT32_MIN by -1", WH_TRAP_INT_OVERFLOW, "integer overflow",
         I32_CONST(INT32_MIN), I32_CONST(-1), I32_DIV_S, DROP),
      TC("i32.trunc_f32_s of NaN", WH_TRAP_BAD_CONVERSION, "invalid conversion to integer",
         F32_CONST_NAN, I32_TRUNC_F32_S, DROP),
      TC("i32.trunc_f32_s of 1e10", WH_TRAP_INT_OVERFLOW, "integer overflow",
         F32_CONST_1E10, I32_TRUNC_F32_S, DROP),
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    wt_t t;
    wb_mod_t m;
    if (load_f(&t, &m, "", "", "", cases[i].code, cases[i].len, false) == 0) {
      int rc = wt_call_i32(&t, "f", NULL, 0);
      const char *msg;
      wh_trap_code_t kind = wh_exec_trap(t.exec, &msg, NULL);
      WT_CHECK(rc == WH_ETRAP, "%s traps (got %s)", cases[i].what, wh_errname(rc));
      WT_CHECK(kind == cases[i].kind, "%s traps as kind %d (got %d)", cases[i].what,
               cases[i].kind, kind);
      WT_CHECK(msg && strcmp(msg, cases[i].msg) == 0, "%s says \"%s\" (got \"%s\")",
               cases[i].what, cases[i].msg, msg ? msg : "(null)");
    }
    done(&t, &m);
  }
}

static void test_memory_traps(void) {
  const trap_case_t cases[] = {
      TC("a load at 65536 of a 1-page memory", WH_TRAP_MEM_OOB, "out of bounds memory access",
         I32_CONST(65536), I32_LOAD(2, 0), DROP),
      TC("a 4-byte load at 65533", WH_TRAP_MEM_OOB, "out of bounds memory access",
         I32_CONST(65533), I32_LOAD(2, 0), DROP),
      TC("a load whose offset immediate crosses the end", WH_TRAP_MEM_OOB,
         "out of bounds memory access", I32_CONST(65532), 0x28, 0x02, 0x04, DROP),
      TC("a load at address -1", WH_TRAP_MEM_OOB, "out of bounds memory access",
         I32_CONST(-1), I32_LOAD8_U(0, 0), DROP),
      TC("a store at 65535 of 4 bytes", WH_TRAP_MEM_OOB, "out of bounds memory access",
         I32_CONST(65535), I32_CONST(1), I32_STORE(2, 0)),
      TC("memory.fill past the end", WH_TRAP_MEM_OOB, "out of bounds memory access",
         I32_CONST(65000), I32_CONST(0), I32_CONST(1000), MEMORY_FILL),
      TC("memory.copy from past the end", WH_TRAP_MEM_OOB, "out of bounds memory access",
         I32_CONST(0), I32_CONST(65535), I32_CONST(2), MEMORY_COPY),
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    wt_t t;
    wb_mod_t m;
    if (load_f(&t, &m, "", "", "", cases[i].code, cases[i].len, true) == 0) {
      int rc = wt_call_i32(&t, "f", NULL, 0);
      WT_CHECK(rc == WH_ETRAP && wh_exec_trap(t.exec, NULL, NULL) == WH_TRAP_MEM_OOB &&
                   strcmp(wt_trap_msg(&t), cases[i].msg) == 0,
               "%s traps \"%s\" (got %s: \"%s\")", cases[i].what, cases[i].msg,
               wh_errname(rc), wt_trap_msg(&t));
    }
    done(&t, &m);
  }
  /* the last in-bounds byte and word are fine */
  wt_t t;
  wb_mod_t m;
  if (load_f(&t, &m, "", "i", "",
             CODE(I32_CONST(65532), I32_CONST(0x01020304), I32_STORE(2, 0),
                  I32_CONST(65535), I32_LOAD8_U(0, 0)), true) == 0) {
    int32_t got = 0;
    int rc = wt_call_i32(&t, "f", &got, 0);
    WT_CHECK(rc == 0 && got == 1, "the last byte of memory is readable and little-endian "
             "(got %d, %s)", got, wh_errname(rc));
  }
  done(&t, &m);
}

/* A module with a table of 3 funcrefs: [0] = $nop (type () -> ()),
 * [1] = null, [2] = $seven (type () -> i32); "f" runs `code`. */
static int load_table(wt_t *t, wb_mod_t *m, const uint8_t *code, size_t n,
                      const char *results) {
  wb_init(m);
  wb_table(m, WH_FUNCREF, 3, 3);
  uint32_t nop = wb_func(m, "", "", "", CODE(NOP));
  uint32_t seven = wb_func(m, "", "i", "", CODE(I32_CONST(7)));
  uint32_t f = wb_func(m, "", results, "", code, n);
  wb_elem(m, 0, (const uint32_t[]){nop}, 1);
  wb_elem(m, 2, (const uint32_t[]){seven}, 1);
  wb_export(m, "f", WH_EXTERN_FUNC, f);
  wt_init(t, NULL);
  int rc = wt_load(t, m);
  WT_CHECK(rc == 0, "the table module loads (got %s: %s)", wh_errname(rc), t->diag.msg);
  return rc;
}

static void test_table_traps(void) {
  /* type indices: 0 = () -> (), 1 = () -> i32 */
  const trap_case_t cases[] = {
      TC("table.get at 5 of a 3-element table", WH_TRAP_TABLE_OOB,
         "out of bounds table access", I32_CONST(5), TABLE_GET(0), DROP),
      TC("table.set at 3", WH_TRAP_TABLE_OOB, "out of bounds table access",
         I32_CONST(3), REF_NULL(0x70), TABLE_SET(0)),
      TC("table.fill past the end", WH_TRAP_TABLE_OOB, "out of bounds table access",
         I32_CONST(2), REF_NULL(0x70), I32_CONST(2), TABLE_FILL(0)),
      TC("call_indirect at 5", WH_TRAP_UNDEFINED_ELEM, "undefined element",
         I32_CONST(5), CALL_INDIRECT(0, 0)),
      TC("call_indirect of the null at 1", WH_TRAP_INDIRECT_NULL, "uninitialized element",
         I32_CONST(1), CALL_INDIRECT(0, 0)),
      TC("call_indirect of () -> i32 as () -> ()", WH_TRAP_INDIRECT_TYPE,
         "indirect call type mismatch", I32_CONST(2), CALL_INDIRECT(0, 0)),
      TC("call_indirect of () -> () as () -> i32", WH_TRAP_INDIRECT_TYPE,
         "indirect call type mismatch", I32_CONST(0), CALL_INDIRECT(1, 0), DROP),
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    wt_t t;
    wb_mod_t m;
    if (load_table(&t, &m, cases[i].code, cases[i].len, "") == 0) {
      int rc = wt_call_i32(&t, "f", NULL, 0);
      wh_trap_code_t kind = wh_exec_trap(t.exec, NULL, NULL);
      WT_CHECK(rc == WH_ETRAP && kind == cases[i].kind &&
                   strcmp(wt_trap_msg(&t), cases[i].msg) == 0,
               "%s traps \"%s\" (got %s, kind %d: \"%s\")", cases[i].what, cases[i].msg,
               wh_errname(rc), kind, wt_trap_msg(&t));
    }
    done(&t, &m);
  }
  /* and the right call goes through */
  wt_t t;
  wb_mod_t m;
  if (load_table(&t, &m, CODE(I32_CONST(2), CALL_INDIRECT(1, 0)), "i") == 0) {
    int32_t got = 0;
    int rc = wt_call_i32(&t, "f", &got, 0);
    WT_CHECK(rc == 0 && got == 7, "call_indirect of $seven returns 7 (got %d, %s)", got,
             wh_errname(rc));
  }
  done(&t, &m);
}

static void test_stack_exhausted(void) {
  /* (func $r (export "f") (call $r)) and (func (export "g") (result i32) (i32.const 42)) */
  wb_mod_t m;
  wb_init(&m);
  uint32_t r = wb_func(&m, "", "", "", CODE(CALL(0)));
  uint32_t g = wb_func(&m, "", "i", "", CODE(I32_CONST(42)));
  /* (func $deep (param i32) (result i32)) with 63 i64 locals recursing:
   * at ~520 bytes a frame the 1 MiB value stack runs out long before the
   * 10000-frame limit */
  uint32_t deep = wb_func(&m, "i", "i",
                          "IIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIII",
                          CODE(LOCAL_GET(0), I32_CONST(1), I32_ADD, CALL(2)));
  wb_export(&m, "f", WH_EXTERN_FUNC, r);
  wb_export(&m, "g", WH_EXTERN_FUNC, g);
  wb_export(&m, "deep", WH_EXTERN_FUNC, deep);
  wt_t t;
  wt_init(&t, NULL);
  int rc = wt_load(&t, &m);
  WT_CHECK(rc == 0, "the recursive module loads (got %s: %s)", wh_errname(rc), t.diag.msg);
  if (rc == 0) {
    for (int round = 0; round < 3; round++) {
      rc = wt_call_i32(&t, "f", NULL, 0);
      WT_CHECK(rc == WH_ETRAP && wh_exec_trap(t.exec, NULL, NULL) == WH_TRAP_STACK_EXHAUSTED &&
                   strcmp(wt_trap_msg(&t), "call stack exhausted") == 0,
               "infinite recursion traps \"call stack exhausted\" (round %d; got %s: \"%s\")",
               round, wh_errname(rc), wt_trap_msg(&t));
      int32_t got = 0;
      rc = wt_call_i32(&t, "g", &got, 0);
      WT_CHECK(rc == 0 && got == 42, "the exec is usable after the trap (round %d; got %d)",
               round, got);
      WT_CHECK(wh_exec_trap(t.exec, NULL, NULL) == WH_TRAP_NONE,
               "a successful call clears the last trap (round %d)", round);
    }
    int32_t got;
    rc = wt_call_i32(&t, "deep", &got, 1, 0);
    WT_CHECK(rc == WH_ETRAP && wh_exec_trap(t.exec, NULL, NULL) == WH_TRAP_STACK_EXHAUSTED,
             "recursion with big frames exhausts the value stack (got %s: \"%s\")",
             wh_errname(rc), wt_trap_msg(&t));
    rc = wt_call_i32(&t, "g", &got, 0);
    WT_CHECK(rc == 0 && got == 42, "the exec is usable after that too (got %d)", got);
  }
  wt_fini(&t);
  wb_fini(&m);
}

/* ---- programs ---------------------------------------------------------------- */

static void test_factorial(void) {
  /* (func $fac (param i64) (result i64)
   *   (if (result i64) (i64.eqz (local.get 0)) (then (i64.const 1))
   *     (else (i64.mul (local.get 0) (call $fac (i64.sub (local.get 0) (i64.const 1))))))) */
  wb_mod_t m;
  wb_init(&m);
  uint32_t fac = wb_func(&m, "I", "I", "", CODE(
      LOCAL_GET(0), 0x50 /* i64.eqz */, IF(BT_I64), I64_CONST(1), ELSE,
      LOCAL_GET(0), LOCAL_GET(0), I64_CONST(1), 0x7d /* i64.sub */, CALL(0), I64_MUL, END));
  wb_export(&m, "fac", WH_EXTERN_FUNC, fac);
  wt_t t;
  wt_init(&t, NULL);
  if (wt_load(&t, &m) == 0) {
    wh_func_t *f = wh_instance_func(t.inst, "fac");
    static const int64_t want[] = {1, 1, 2, 6, 24, 120, 720, 5040, 40320, 362880};
    for (int n = 0; n < 10; n++) {
      wh_val_t arg = WT_I64(n), res;
      int rc = wh_call(t.exec, f, &arg, 1, &res, 1);
      WT_CHECK(rc == 0 && res.type == WH_I64 && res.of.i64 == want[n],
               "%d! is %lld (got %lld, %s)", n, (long long)want[n], (long long)res.of.i64,
               wh_errname(rc));
    }
    wh_val_t arg = WT_I64(20), res;
    int rc = wh_call(t.exec, f, &arg, 1, &res, 1);
    WT_CHECK(rc == 0 && res.of.i64 == 2432902008176640000LL, "20! is 2432902008176640000");
  } else {
    WT_CHECK(false, "the factorial module loads (%s)", t.diag.msg);
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_fib_loop(void) {
  /* (func $fib (param $n i32) (result i32) (local $a i32) (local $b i32) (local $t i32)
   *   (local.set $b (i32.const 1))
   *   (block $done (loop $next
   *     (br_if $done (i32.eqz (local.get $n)))
   *     (local.set $t (i32.add (local.get $a) (local.get $b)))
   *     (local.set $a (local.get $b)) (local.set $b (local.get $t))
   *     (local.set $n (i32.sub (local.get $n) (i32.const 1)))
   *     (br $next)))
   *   (local.get $a)) */
  wt_t t;
  wb_mod_t m;
  if (load_f(&t, &m, "i", "i", "iii", CODE(
          I32_CONST(1), LOCAL_SET(2),
          BLOCK(BT_VOID), LOOP(BT_VOID),
          LOCAL_GET(0), I32_EQZ, BR_IF(1),
          LOCAL_GET(1), LOCAL_GET(2), I32_ADD, LOCAL_SET(3),
          LOCAL_GET(2), LOCAL_SET(1), LOCAL_GET(3), LOCAL_SET(2),
          LOCAL_GET(0), I32_CONST(1), I32_SUB, LOCAL_SET(0),
          BR(0), END, END,
          LOCAL_GET(1)), false) == 0) {
    static const int32_t want[] = {0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55};
    for (int n = 0; n <= 10; n++) {
      int32_t got = -1;
      int rc = wt_call_i32(&t, "f", &got, 1, n);
      WT_CHECK(rc == 0 && got == want[n], "fib(%d) is %d (got %d)", n, want[n], got);
    }
    int32_t got = -1;
    wt_call_i32(&t, "f", &got, 1, 40);
    WT_CHECK(got == 102334155, "fib(40) is 102334155 (got %d)", got);
  }
  done(&t, &m);
}

static void test_sum_loop_br_if(void) {
  /* sum of 1..n: (loop (local.set 1 (i32.add (local.get 1) (local.get 0)))
   *   (br_if 0 (local.tee 0 (i32.sub (local.get 0) (i32.const 1))))) (local.get 1) */
  wt_t t;
  wb_mod_t m;
  if (load_f(&t, &m, "i", "i", "i", CODE(
          LOOP(BT_VOID), LOCAL_GET(1), LOCAL_GET(0), I32_ADD, LOCAL_SET(1),
          LOCAL_GET(0), I32_CONST(1), I32_SUB, LOCAL_TEE(0), BR_IF(0), END,
          LOCAL_GET(1)), false) == 0) {
    int32_t got = 0;
    int rc = wt_call_i32(&t, "f", &got, 1, 100);
    WT_CHECK(rc == 0 && got == 5050, "the sum of 1..100 is 5050 (got %d)", got);
    rc = wt_call_i32(&t, "f", &got, 1, 100000);
    WT_CHECK(rc == 0 && got == 705082704, "the sum of 1..100000 wraps to 705082704 (got %d)",
             got);
  }
  done(&t, &m);
}

static void test_br_table_switch(void) {
  /* (block (block (block (block (br_table 0 1 2 3 (local.get 0)))
   *   (return (i32.const 10))) (return (i32.const 11))) (return (i32.const 12)))
   * (i32.const 13) */
  wt_t t;
  wb_mod_t m;
  if (load_f(&t, &m, "i", "i", "", CODE(
          BLOCK(BT_VOID), BLOCK(BT_VOID), BLOCK(BT_VOID), BLOCK(BT_VOID),
          LOCAL_GET(0), 0x0e, 3, 0, 1, 2, 3, END,
          I32_CONST(10), RETURN, END,
          I32_CONST(11), RETURN, END,
          I32_CONST(12), RETURN, END,
          I32_CONST(13)), false) == 0) {
    static const struct { int32_t in, out; } cases[] = {
        {0, 10}, {1, 11}, {2, 12}, {3, 13}, {4, 13}, {-1, 13}, {1000, 13}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
      int32_t got = 0;
      int rc = wt_call_i32(&t, "f", &got, 1, cases[i].in);
      WT_CHECK(rc == 0 && got == cases[i].out, "br_table with index %d lands on %d (got %d)",
               cases[i].in, cases[i].out, got);
    }
  }
  done(&t, &m);

  /* br_table carrying a value, with the function as one target */
  if (load_f(&t, &m, "i", "i", "", CODE(
          BLOCK(BT_I32), I32_CONST(5), LOCAL_GET(0), BR_TABLE2(0, 1, 0), END,
          I32_CONST(100), I32_ADD), false) == 0) {
    int32_t got = 0;
    wt_call_i32(&t, "f", &got, 1, 0);
    WT_CHECK(got == 105, "br_table to the block carries 5 into it (got %d)", got);
    wt_call_i32(&t, "f", &got, 1, 1);
    WT_CHECK(got == 5, "br_table to the function returns 5 (got %d)", got);
  }
  done(&t, &m);
}

static void test_multi_value(void) {
  /* (type $pair (func (result i32 i32)))  (type $take (func (param i32 i32) (result i32)))
   * (func (export "f") (param i32) (result i32)
   *   (block (type $pair) (i32.const 30) (local.get 0))   ;; two values out
   *   (block (type $take) (i32.sub))                      ;; two in, one out
   *   ) */
  wb_mod_t m;
  wb_init(&m);
  uint32_t pair = wb_type(&m, "", "ii");
  uint32_t take = wb_type(&m, "ii", "i");
  uint32_t f = wb_func(&m, "i", "i", "", CODE(
      BLOCK(pair), I32_CONST(30), LOCAL_GET(0), END,
      BLOCK(take), I32_SUB, END));
  /* (func (export "g") (result i32 i32) (i32.const 1) (i32.const 2)) and a
   * caller that subtracts its two results */
  uint32_t g = wb_func(&m, "", "ii", "", CODE(I32_CONST(1), I32_CONST(2)));
  uint32_t h = wb_func(&m, "", "i", "", CODE(CALL(1), I32_SUB));
  /* loop with a parameter: count down, carrying the value on the stack */
  uint32_t lp = wb_type(&m, "i", "i");
  uint32_t k = wb_func(&m, "i", "i", "", CODE(
      LOCAL_GET(0), LOOP(lp), I32_CONST(1), I32_SUB, LOCAL_TEE(0), LOCAL_GET(0), BR_IF(0),
      END));
  wb_export(&m, "f", WH_EXTERN_FUNC, f);
  wb_export(&m, "g", WH_EXTERN_FUNC, g);
  wb_export(&m, "h", WH_EXTERN_FUNC, h);
  wb_export(&m, "k", WH_EXTERN_FUNC, k);
  wt_t t;
  wt_init(&t, NULL);
  int rc = wt_load(&t, &m);
  WT_CHECK(rc == 0, "the multi-value module loads (got %s: %s)", wh_errname(rc), t.diag.msg);
  if (rc == 0) {
    int32_t got = 0;
    wt_call_i32(&t, "f", &got, 1, 8);
    WT_CHECK(got == 22, "a two-result block feeds a two-param block: 30 - 8 = 22 (got %d)", got);
    wh_val_t res[2];
    rc = wh_call(t.exec, wh_instance_func(t.inst, "g"), NULL, 0, res, 2);
    WT_CHECK(rc == 0 && res[0].of.i32 == 1 && res[1].of.i32 == 2,
             "a function returns two values in order (got %d, %d)", res[0].of.i32,
             res[1].of.i32);
    wt_call_i32(&t, "h", &got, 0);
    WT_CHECK(got == -1, "a caller sees both results: 1 - 2 = -1 (got %d)", got);
    wt_call_i32(&t, "k", &got, 1, 5);
    WT_CHECK(got == 0, "a loop with a parameter counts down to 0 (got %d)", got);
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_memory_round_trip(void) {
  /* store i32 and i64 then load them back, plus byte order */
  wt_t t;
  wb_mod_t m;
  if (load_f(&t, &m, "ii", "i", "", CODE(
          LOCAL_GET(0), LOCAL_GET(1), I32_STORE(2, 0),
          LOCAL_GET(0), I32_CONST(8), I32_ADD, LOCAL_GET(1), I64_EXTEND_I32_U,
          I64_CONST(0x100000000LL), I64_ADD, I64_STORE(3, 0),
          LOCAL_GET(0), I32_LOAD(2, 0),
          LOCAL_GET(0), I64_LOAD(3, 8), 0xa7 /* i32.wrap_i64 */, I32_SUB,
          LOCAL_GET(0), I32_LOAD8_U(0, 0), I32_ADD), true) == 0) {
    int32_t got = 0;
    int rc = wt_call_i32(&t, "f", &got, 2, 100, 0x11223344);
    /* x - (x + 0) + low byte 0x44 */
    WT_CHECK(rc == 0 && got == 0x44, "stored values load back, low byte first (got 0x%x, %s)",
             got, wh_errname(rc));
  }
  done(&t, &m);
}

static void test_memory_grow(void) {
  /* (memory 1 3): grow by the argument, return the old size; "size"
   * returns memory.size */
  wb_mod_t m;
  wb_init(&m);
  wb_memory(&m, 1, 3);
  uint32_t grow = wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), MEMORY_GROW));
  uint32_t size = wb_func(&m, "", "i", "", CODE(MEMORY_SIZE));
  /* write at 0x1fffc (in page 2) and read it back */
  uint32_t poke = wb_func(&m, "", "i", "", CODE(
      I32_CONST(0x1fffc), I32_CONST(77), I32_STORE(2, 0), I32_CONST(0x1fffc), I32_LOAD(2, 0)));
  wb_export(&m, "grow", WH_EXTERN_FUNC, grow);
  wb_export(&m, "size", WH_EXTERN_FUNC, size);
  wb_export(&m, "poke", WH_EXTERN_FUNC, poke);
  wb_export(&m, "mem", WH_EXTERN_MEMORY, 0);
  wt_t t;
  wt_init(&t, NULL);
  if (wt_load(&t, &m) == 0) {
    int32_t got = 0;
    wt_call_i32(&t, "size", &got, 0);
    WT_CHECK(got == 1, "the memory starts at 1 page (got %d)", got);
    int rc = wt_call_i32(&t, "poke", &got, 0);
    WT_CHECK(rc == WH_ETRAP, "page 2 is not accessible before growing (got %s)", wh_errname(rc));
    wt_call_i32(&t, "grow", &got, 1, 0);
    WT_CHECK(got == 1, "growing by 0 returns the size, 1 (got %d)", got);
    wt_call_i32(&t, "grow", &got, 1, 1);
    WT_CHECK(got == 1, "growing by 1 returns the old size, 1 (got %d)", got);
    rc = wt_call_i32(&t, "poke", &got, 0);
    WT_CHECK(rc == 0 && got == 77, "page 2 is usable after growing (got %d, %s)", got,
             wh_errname(rc));
    wt_call_i32(&t, "grow", &got, 1, 2);
    WT_CHECK(got == -1, "growing past the maximum of 3 returns -1 (got %d)", got);
    wt_call_i32(&t, "grow", &got, 1, -1);
    WT_CHECK(got == -1, "growing by 2^32-1 pages returns -1 (got %d)", got);
    wt_call_i32(&t, "grow", &got, 1, 1);
    WT_CHECK(got == 2, "growing to exactly the maximum works (got %d)", got);
    wt_call_i32(&t, "size", &got, 0);
    WT_CHECK(got == 3, "the memory ends at 3 pages (got %d)", got);
    uint64_t bytes = 0;
    wh_memory_data(wh_instance_memory(t.inst, "mem"), &bytes);
    WT_CHECK(bytes == 3 * 65536, "the host sees 3 pages (got %llu bytes)",
             (unsigned long long)bytes);
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_bulk_memory(void) {
  /* (memory 1) (data $d passive "abcdef")
   * "fill" (dst, val, n), "copy" (dst, src, n), "init" (dst, src, n),
   * "drop" drops $d, "load8" (addr) */
  wb_mod_t m;
  wb_init(&m);
  wb_memory(&m, 1, 1);
  uint32_t fill = wb_func(&m, "iii", "", "", CODE(LOCAL_GET(0), LOCAL_GET(1), LOCAL_GET(2),
                                                  MEMORY_FILL));
  uint32_t copy = wb_func(&m, "iii", "", "", CODE(LOCAL_GET(0), LOCAL_GET(1), LOCAL_GET(2),
                                                  MEMORY_COPY));
  uint32_t init = wb_func(&m, "iii", "", "", CODE(LOCAL_GET(0), LOCAL_GET(1), LOCAL_GET(2),
                                                  MEMORY_INIT(0)));
  uint32_t drop = wb_func(&m, "", "", "", CODE(DATA_DROP(0)));
  wb_export(&m, "fill", WH_EXTERN_FUNC, fill);
  wb_export(&m, "copy", WH_EXTERN_FUNC, copy);
  wb_export(&m, "init", WH_EXTERN_FUNC, init);
  wb_export(&m, "drop", WH_EXTERN_FUNC, drop);
  wb_export(&m, "mem", WH_EXTERN_MEMORY, 0);
  wb_datacount(&m);
  wb_data_passive(&m, "abcdef", 6);
  wt_t t;
  wt_init(&t, NULL);
  int rc = wt_load(&t, &m);
  WT_CHECK(rc == 0, "the bulk-memory module loads (got %s: %s)", wh_errname(rc), t.diag.msg);
  if (rc == 0) {
    uint64_t size;
    uint8_t *mem = wh_memory_data(wh_instance_memory(t.inst, "mem"), &size);
    rc = wt_call_i32(&t, "fill", NULL, 3, 10, 'x', 5);
    WT_CHECK(rc == 0 && memcmp(mem + 9, "\0xxxxx\0", 7) == 0,
             "memory.fill writes exactly bytes 10..14");
    rc = wt_call_i32(&t, "init", NULL, 3, 100, 1, 4);
    WT_CHECK(rc == 0 && memcmp(mem + 100, "bcde", 4) == 0,
             "memory.init copies bytes 1..4 of the segment");
    rc = wt_call_i32(&t, "copy", NULL, 3, 102, 100, 4);
    WT_CHECK(rc == 0 && memcmp(mem + 100, "bcbcde", 6) == 0,
             "an overlapping memory.copy forward behaves like memmove (got %.6s)", mem + 100);
    rc = wt_call_i32(&t, "copy", NULL, 3, 100, 101, 5);
    WT_CHECK(rc == 0 && memcmp(mem + 100, "cbcde", 5) == 0,
             "an overlapping memory.copy backward behaves like memmove (got %.5s)", mem + 100);
    rc = wt_call_i32(&t, "fill", NULL, 3, 65536, 0, 0);
    WT_CHECK(rc == 0, "a zero-length fill at the very end is fine (got %s)", wh_errname(rc));
    rc = wt_call_i32(&t, "init", NULL, 3, 0, 6, 0);
    WT_CHECK(rc == 0, "a zero-length init at the segment's end is fine (got %s)",
             wh_errname(rc));
    rc = wt_call_i32(&t, "init", NULL, 3, 0, 5, 2);
    WT_CHECK(rc == WH_ETRAP && strcmp(wt_trap_msg(&t), "out of bounds memory access") == 0,
             "memory.init past the segment's end traps (got %s: \"%s\")", wh_errname(rc),
             wt_trap_msg(&t));
    rc = wt_call_i32(&t, "drop", NULL, 0);
    WT_CHECK(rc == 0, "data.drop succeeds");
    rc = wt_call_i32(&t, "init", NULL, 3, 0, 0, 1);
    WT_CHECK(rc == WH_ETRAP, "memory.init of a dropped segment traps (got %s)", wh_errname(rc));
    rc = wt_call_i32(&t, "init", NULL, 3, 0, 0, 0);
    WT_CHECK(rc == 0, "a zero-length init of a dropped segment is fine (got %s)",
             wh_errname(rc));
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_empty_memory(void) {
  /* (memory 0 0): no bytes at all.  Zero-length bulk operations at 0 are
   * in bounds and do nothing; anything longer traps. */
  wb_mod_t m;
  wb_init(&m);
  wb_memory(&m, 0, 0);
  uint32_t fill = wb_func(&m, "i", "", "", CODE(I32_CONST(0), I32_CONST(1), LOCAL_GET(0),
                                                 MEMORY_FILL));
  uint32_t copy = wb_func(&m, "i", "", "", CODE(I32_CONST(0), I32_CONST(0), LOCAL_GET(0),
                                                 MEMORY_COPY));
  uint32_t size = wb_func(&m, "", "i", "", CODE(MEMORY_SIZE));
  uint32_t grow = wb_func(&m, "", "i", "", CODE(I32_CONST(1), MEMORY_GROW));
  wb_export(&m, "fill", WH_EXTERN_FUNC, fill);
  wb_export(&m, "copy", WH_EXTERN_FUNC, copy);
  wb_export(&m, "size", WH_EXTERN_FUNC, size);
  wb_export(&m, "grow", WH_EXTERN_FUNC, grow);
  wt_t t;
  wt_init(&t, NULL);
  if (wt_load(&t, &m) == 0) {
    int32_t got = -1;
    wt_call_i32(&t, "size", &got, 0);
    WT_CHECK(got == 0, "a (memory 0 0) has 0 pages (got %d)", got);
    wt_call_i32(&t, "grow", &got, 0);
    WT_CHECK(got == -1, "and cannot grow (got %d)", got);
    int rc = wt_call_i32(&t, "fill", NULL, 1, 0);
    WT_CHECK(rc == 0, "a zero-length fill of an empty memory succeeds (got %s)", wh_errname(rc));
    rc = wt_call_i32(&t, "copy", NULL, 1, 0);
    WT_CHECK(rc == 0, "a zero-length copy in an empty memory succeeds (got %s)", wh_errname(rc));
    rc = wt_call_i32(&t, "fill", NULL, 1, 1);
    WT_CHECK(rc == WH_ETRAP, "a one-byte fill of an empty memory traps (got %s)", wh_errname(rc));
  } else {
    WT_CHECK(false, "the empty-memory module loads (%s)", t.diag.msg);
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_locals_start_at_zero(void) {
  /* (func (param i32) (result i32) (local i32 i64)
   *   (local.get 1) then (local.set 1 (local.get 0))): every call sees 0 */
  wt_t t;
  wb_mod_t m;
  if (load_f(&t, &m, "i", "i", "iI", CODE(
          LOCAL_GET(1), LOCAL_GET(0), LOCAL_SET(1), LOCAL_GET(2), 0xa7, I32_ADD), false) == 0) {
    int32_t got = -1;
    wt_call_i32(&t, "f", &got, 1, 5);
    WT_CHECK(got == 0, "declared locals are zero on the first call (got %d)", got);
    wt_call_i32(&t, "f", &got, 1, 6);
    WT_CHECK(got == 0, "declared locals are zero again on the second call (got %d)", got);
  }
  done(&t, &m);
}

static void test_call_arguments(void) {
  /* f(a, b) = g(b, a) where g(x, y) = x - y; and wh_call refuses
   * wrong argument counts and types */
  wb_mod_t m;
  wb_init(&m);
  uint32_t g = wb_func(&m, "ii", "i", "", CODE(LOCAL_GET(0), LOCAL_GET(1), I32_SUB));
  uint32_t f = wb_func(&m, "ii", "i", "", CODE(LOCAL_GET(1), LOCAL_GET(0), CALL(0)));
  wb_export(&m, "f", WH_EXTERN_FUNC, f);
  wb_export(&m, "g", WH_EXTERN_FUNC, g);
  wt_t t;
  wt_init(&t, NULL);
  if (wt_load(&t, &m) == 0) {
    int32_t got = 0;
    wt_call_i32(&t, "f", &got, 2, 3, 10);
    WT_CHECK(got == 7, "arguments arrive in order through a call: 10 - 3 = 7 (got %d)", got);
    wh_func_t *fn = wh_instance_func(t.inst, "f");
    wh_val_t args[2] = {WT_I32(1), WT_I64(2)}, res[1];
    WT_CHECK(wh_call(t.exec, fn, args, 2, res, 1) == WH_EINVAL,
             "wh_call refuses an i64 for an i32 parameter");
    WT_CHECK(wh_call(t.exec, fn, args, 1, res, 1) == WH_EINVAL,
             "wh_call refuses too few arguments");
    args[1] = WT_I32(2);
    WT_CHECK(wh_call(t.exec, fn, args, 2, res, 0) == WH_EINVAL,
             "wh_call refuses too little room for results");
    WT_CHECK(wh_call(t.exec, fn, args, 2, res, 1) == 0 && res[0].of.i32 == 1,
             "wh_call works after the refusals");
    const char *p, *r;
    wh_func_type(fn, &p, &r);
    WT_CHECK(strcmp(p, "ii") == 0 && strcmp(r, "i") == 0, "wh_func_type says ii -> i");
  }
  wt_fini(&t);
  wb_fini(&m);
}

static void test_references(void) {
  /* (func $seven (result i32) 7)
   * (func (export "get") (result funcref) (ref.func $seven))
   * (func (export "id") (param externref) (result externref) (local.get 0))
   * (func (export "isnull") (param externref) (result i32) (ref.is_null (local.get 0)))
   * (elem declare func $seven) */
  wb_mod_t m;
  wb_init(&m);
  uint32_t seven = wb_func(&m, "", "i", "", CODE(I32_CONST(7)));
  uint32_t get = wb_func(&m, "", "r", "", CODE(REF_FUNC(0)));
  uint32_t id = wb_func(&m, "e", "e", "", CODE(LOCAL_GET(0)));
  uint32_t isnull = wb_func(&m, "e", "i", "", CODE(LOCAL_GET(0), REF_IS_NULL));
  wb_elem_declare(&m, &seven, 1);
  wb_export(&m, "get", WH_EXTERN_FUNC, get);
  wb_export(&m, "id", WH_EXTERN_FUNC, id);
  wb_export(&m, "isnull", WH_EXTERN_FUNC, isnull);
  wt_t t;
  wt_init(&t, NULL);
  int rc = wt_load(&t, &m);
  WT_CHECK(rc == 0, "the reference module loads (got %s: %s)", wh_errname(rc), t.diag.msg);
  if (rc == 0) {
    wh_val_t r;
    rc = wh_call(t.exec, wh_instance_func(t.inst, "get"), NULL, 0, &r, 1);
    WT_CHECK(rc == 0 && r.type == WH_FUNCREF && r.of.ref != NULL,
             "ref.func gives the host a non-null funcref");
    if (rc == 0 && r.of.ref) {
      wh_val_t v;
      rc = wh_call(t.exec, (wh_func_t *)r.of.ref, NULL, 0, &v, 1);
      WT_CHECK(rc == 0 && v.of.i32 == 7, "the host can call the funcref it got (got %d)",
               v.of.i32);
    }
    int cookie;
    wh_val_t a = {.type = WH_EXTERNREF, .of.ref = &cookie};
    rc = wh_call(t.exec, wh_instance_func(t.inst, "id"), &a, 1, &r, 1);
    WT_CHECK(rc == 0 && r.type == WH_EXTERNREF && r.of.ref == &cookie,
             "an externref goes through wasm unchanged");
    rc = wh_call(t.exec, wh_instance_func(t.inst, "isnull"), &a, 1, &r, 1);
    WT_CHECK(rc == 0 && r.of.i32 == 0, "a host pointer is not null");
    a.of.ref = NULL;
    rc = wh_call(t.exec, wh_instance_func(t.inst, "isnull"), &a, 1, &r, 1);
    WT_CHECK(rc == 0 && r.of.i32 == 1, "NULL is the null externref");
  }
  wt_fini(&t);
  wb_fini(&m);
}

/* ---- multi-memory ----------------------------------------------------------- */

/* (module
 *   (memory $m0 1 1) (memory $m1 1 3)
 *   (export "m0" (memory $m0)) (export "m1" (memory $m1))
 *   (func (export "load0") (param i32) (result i32) (i32.load $m0 (local.get 0)))
 *   (func (export "load1") (param i32) (result i32) (i32.load $m1 (local.get 0)))
 *   (func (export "load8_1") (param i32) (result i32) (i32.load8_u $m1 offset=1 (local.get 0)))
 *   (func (export "store0") (param i32 i32) (i32.store $m0 (local.get 0) (local.get 1)))
 *   (func (export "store1") (param i32 i32) (i32.store $m1 (local.get 0) (local.get 1)))
 *   (func (export "wide1") (param i32) (result i32)   ;; i64 store/load on $m1
 *     (i64.store $m1 (local.get 0) (i64.const 0x100000005))
 *     (i32.wrap_i64 (i64.load $m1 (local.get 0))))
 *   (func (export "size1") (result i32) (memory.size $m1))
 *   (func (export "grow1") (param i32) (result i32) (memory.grow $m1 (local.get 0)))
 *   (func (export "size0") (result i32) (memory.size $m0))
 *   (func (export "copy10") (param i32 i32 i32) (memory.copy $m1 $m0 ...))
 *   (func (export "copy01") (param i32 i32 i32) (memory.copy $m0 $m1 ...))
 *   (func (export "copy11") (param i32 i32 i32) (memory.copy $m1 $m1 ...))
 *   (func (export "fill1") (param i32 i32 i32) (memory.fill $m1 ...))
 *   (func (export "init1") (param i32 i32 i32) (memory.init $p $m1 ...))
 *   (data (memory $m1) (i32.const 16) "mem1")
 *   (data (i32.const 16) "mem0")
 *   (data $p "abcdef")) */
static void build_two_memories(wb_mod_t *m) {
  wb_init(m);
  wb_memory(m, 1, 1);
  wb_memory(m, 1, 3);
  const struct {
    const char *name, *params, *results;
    const uint8_t *code;
    size_t n;
  } funcs[] = {
      {"load0", "i", "i", CODE(LOCAL_GET(0), I32_LOAD(2, 0))},
      {"load1", "i", "i", CODE(LOCAL_GET(0), I32_LOAD_M(2, 1, 0))},
      {"load8_1", "i", "i", CODE(LOCAL_GET(0), I32_LOAD8_U_M(0, 1, 1))},
      {"store0", "ii", "", CODE(LOCAL_GET(0), LOCAL_GET(1), I32_STORE(2, 0))},
      {"store1", "ii", "", CODE(LOCAL_GET(0), LOCAL_GET(1), I32_STORE_M(2, 1, 0))},
      {"wide1", "i", "i", CODE(LOCAL_GET(0), I64_CONST(0x100000005LL), I64_STORE_M(3, 1, 0),
                               LOCAL_GET(0), I64_LOAD_M(3, 1, 0), 0xa7)},
      {"size1", "", "i", CODE(MEMORY_SIZE_M(1))},
      {"grow1", "i", "i", CODE(LOCAL_GET(0), MEMORY_GROW_M(1))},
      {"size0", "", "i", CODE(MEMORY_SIZE)},
      {"copy10", "iii", "", CODE(LOCAL_GET(0), LOCAL_GET(1), LOCAL_GET(2), MEMORY_COPY_M(1, 0))},
      {"copy01", "iii", "", CODE(LOCAL_GET(0), LOCAL_GET(1), LOCAL_GET(2), MEMORY_COPY_M(0, 1))},
      {"copy11", "iii", "", CODE(LOCAL_GET(0), LOCAL_GET(1), LOCAL_GET(2), MEMORY_COPY_M(1, 1))},
      {"fill1", "iii", "", CODE(LOCAL_GET(0), LOCAL_GET(1), LOCAL_GET(2), MEMORY_FILL_M(1))},
      {"init1", "iii", "", CODE(LOCAL_GET(0), LOCAL_GET(1), LOCAL_GET(2), MEMORY_INIT_M(2, 1))},
  };
  for (size_t i = 0; i < sizeof funcs / sizeof *funcs; i++)
    wb_export(m, funcs[i].name, WH_EXTERN_FUNC,
              wb_func(m, funcs[i].params, funcs[i].results, "", funcs[i].code, funcs[i].n));
  wb_export(m, "m0", WH_EXTERN_MEMORY, 0);
  wb_export(m, "m1", WH_EXTERN_MEMORY, 1);
  wb_datacount(m);
  wb_data_mem(m, 1, 16, "mem1", 4);
  wb_data(m, 16, "mem0", 4);
  wb_data_passive(m, "abcdef", 6);
}

/* Calls `name`; true if it trapped "out of bounds memory access". */
static bool oob(wt_t *t, const char *name, int nargs, int32_t a, int32_t b, int32_t c) {
  int rc = wt_call_i32(t, name, NULL, nargs, a, b, c);
  return rc == WH_ETRAP && strcmp(wt_trap_msg(t), "out of bounds memory access") == 0;
}

static void test_multi_memory(void) {
  wb_mod_t m;
  build_two_memories(&m);
  wt_t t;
  wt_init(&t, NULL);
  int rc = wt_load(&t, &m);
  WT_CHECK(rc == 0, "a module with two memories loads (got %s: %s)", wh_errname(rc),
           t.diag.msg);
  if (rc == 0) {
    uint64_t size0 = 0, size1 = 0;
    uint8_t *m0 = wh_memory_data(wh_instance_memory(t.inst, "m0"), &size0);
    uint8_t *m1 = wh_memory_data(wh_instance_memory(t.inst, "m1"), &size1);
    WT_CHECK(m0 && m1 && m0 != m1 && size0 == 65536 && size1 == 65536,
             "exports m0 and m1 name two distinct 1-page memories");
    WT_CHECK(memcmp(m0 + 16, "mem0", 4) == 0 && memcmp(m1 + 16, "mem1", 4) == 0,
             "each active data segment lands in its own memory");
    int32_t got = 0;
    wt_call_i32(&t, "load1", &got, 1, 16);
    WT_CHECK(got == 0x316d656d, "i32.load on memory 1 reads \"mem1\" (got 0x%x)", got);
    wt_call_i32(&t, "load8_1", &got, 1, 17);
    WT_CHECK(got == 'm', "a memarg offset applies on memory 1 (got %d)", got);

    wt_call_i32(&t, "store1", NULL, 2, 100, 0x1234);
    wt_call_i32(&t, "store0", NULL, 2, 200, 7);
    int32_t a = -1, b = -1, c = -1, d = -1;
    wt_call_i32(&t, "load1", &a, 1, 100);
    wt_call_i32(&t, "load0", &b, 1, 100);
    wt_call_i32(&t, "load0", &c, 1, 200);
    wt_call_i32(&t, "load1", &d, 1, 200);
    WT_CHECK(a == 0x1234 && b == 0 && c == 7 && d == 0,
             "stores to memory 0 and memory 1 are independent (got %d %d %d %d)", a, b, c, d);
    rc = wt_call_i32(&t, "wide1", &got, 1, 300);
    WT_CHECK(rc == 0 && got == 5 && m1[304] == 1 && m0[304] == 0,
             "i64 stores and loads work on memory 1 (got %d)", got);

    wt_call_i32(&t, "size1", &got, 0);
    WT_CHECK(got == 1, "memory 1 starts at 1 page (got %d)", got);
    WT_CHECK(oob(&t, "load1", 1, 65536, 0, 0), "a load past memory 1's end traps");
    WT_CHECK(oob(&t, "store1", 2, 65534, 1, 0), "a store straddling memory 1's end traps");
    WT_CHECK(oob(&t, "load1", 1, -1, 0, 0), "a load at 2^32-1 on memory 1 traps");
    wt_call_i32(&t, "grow1", &got, 1, 1);
    WT_CHECK(got == 1, "growing memory 1 by 1 returns its old size (got %d)", got);
    wt_call_i32(&t, "grow1", &got, 1, 2);
    WT_CHECK(got == -1, "growing memory 1 past its maximum of 3 returns -1 (got %d)", got);
    wt_call_i32(&t, "grow1", &got, 1, 1);
    WT_CHECK(got == 2, "growing memory 1 to exactly its maximum works (got %d)", got);
    wt_call_i32(&t, "size1", &got, 0);
    WT_CHECK(got == 3, "memory 1 now has 3 pages (got %d)", got);
    wt_call_i32(&t, "size0", &got, 0);
    WT_CHECK(got == 1, "memory 0 still has 1 page (got %d)", got);
    rc = wt_call_i32(&t, "store1", NULL, 2, 3 * 65536 - 4, 9);
    WT_CHECK(rc == 0, "the last word of memory 1's third page is writable (got %s)",
             wh_errname(rc));
    WT_CHECK(oob(&t, "load0", 1, 65536, 0, 0),
             "memory 0 keeps its own bounds after memory 1 grew");
    wh_memory_data(wh_instance_memory(t.inst, "m1"), &size1);
    WT_CHECK(size1 == 3 * 65536, "the host sees memory 1's 3 pages (got %llu bytes)",
             (unsigned long long)size1);

    rc = wt_call_i32(&t, "copy10", NULL, 3, 400, 16, 4);
    WT_CHECK(rc == 0 && memcmp(m1 + 400, "mem0", 4) == 0,
             "memory.copy 1 0 copies from memory 0 into memory 1");
    rc = wt_call_i32(&t, "copy01", NULL, 3, 500, 16, 4);
    WT_CHECK(rc == 0 && memcmp(m0 + 500, "mem1", 4) == 0,
             "memory.copy 0 1 copies from memory 1 into memory 0");
    rc = wt_call_i32(&t, "copy01", NULL, 3, 0, 2 * 65536, 4);
    WT_CHECK(rc == 0, "memory.copy 0 1 checks the source against memory 1's size (got %s)",
             wh_errname(rc));
    WT_CHECK(oob(&t, "copy10", 3, 0, 65536 - 2, 4),
             "memory.copy 1 0 traps when the source runs past memory 0's end");
    WT_CHECK(oob(&t, "copy10", 3, 3 * 65536 - 2, 0, 4),
             "memory.copy 1 0 traps when the destination runs past memory 1's end");
    WT_CHECK(oob(&t, "copy01", 3, 65536 - 2, 0, 4),
             "memory.copy 0 1 traps when the destination runs past memory 0's end");
    rc = wt_call_i32(&t, "copy11", NULL, 3, 402, 400, 4);
    WT_CHECK(rc == 0 && memcmp(m1 + 400, "memem0", 6) == 0,
             "an overlapping memory.copy within memory 1 behaves like memmove");

    rc = wt_call_i32(&t, "fill1", NULL, 3, 600, 'z', 3);
    WT_CHECK(rc == 0 && memcmp(m1 + 599, "\0zzz\0", 5) == 0 && m0[600] == 0,
             "memory.fill 1 writes memory 1 only");
    WT_CHECK(oob(&t, "fill1", 3, 3 * 65536, 1, 1), "memory.fill 1 past its end traps");
    rc = wt_call_i32(&t, "init1", NULL, 3, 700, 1, 4);
    WT_CHECK(rc == 0 && memcmp(m1 + 700, "bcde", 4) == 0 && m0[700] == 0,
             "memory.init into memory 1 copies the passive segment there");
    WT_CHECK(oob(&t, "init1", 3, 3 * 65536 - 1, 0, 2), "memory.init past memory 1's end traps");
  }
  wt_fini(&t);
  wb_fini(&m);
}

CU_TestInfo wt_tests_interp[] = {
    {"arithmetic traps carry the spec's messages", test_arithmetic_traps},
    {"memory traps carry the spec's messages", test_memory_traps},
    {"table and call_indirect traps carry the spec's messages", test_table_traps},
    {"infinite recursion traps and leaves the exec usable", test_stack_exhausted},
    {"factorial by recursion", test_factorial},
    {"fibonacci by a loop with br_if", test_fib_loop},
    {"a loop summing with br_if and local.tee", test_sum_loop_br_if},
    {"br_table as a switch", test_br_table_switch},
    {"multi-value blocks, calls and loops", test_multi_value},
    {"memory stores and loads round-trip", test_memory_round_trip},
    {"memory.grow and memory.size", test_memory_grow},
    {"memory.fill, memory.copy, memory.init and data.drop", test_bulk_memory},
    {"locals start at zero on every call", test_locals_start_at_zero},
    {"call arguments and wh_call's checks", test_call_arguments},
    {"funcrefs and externrefs cross to the host", test_references},
    {"multi-memory: loads, stores, size, grow, copy, fill, init per memory",
     test_multi_memory},
    /* last: under UBSan a null memset here aborts the run */
    {"bulk operations on an empty memory", test_empty_memory},
    CU_TEST_INFO_NULL,
};
