/*
 * test_compile.c - the validator and the wcode compiler (engine/compile.c).
 *
 * Validation: each rejected body is one function in a module that has
 * whatever else the case needs (a memory, a global, a table); the check
 * is WH_EINVALID and a piece of the spec's message.
 *
 * Compilation: the compiler keeps locals and constants virtual, fuses
 * compares into branches and lets an operator write straight into a local
 * or the return slot.  Those peepholes must not change results, with or
 * without the fuel and epoch ops that also mark basic blocks, so each
 * program here runs under all four fuel/epoch configurations.
 */
#include <stdio.h>
#include <string.h>

#include "wt.h"

enum {
  NEED_MEMORY = 1,
  NEED_IMMUTABLE_GLOBAL = 2,
  NEED_TABLE = 4,
  NEED_EXTERN_TABLE = 8,
  NEED_OTHER_FUNC = 16,   /* function 0 is a (func), the body is function 1 */
  NEED_TWO_MEMORIES = 32, /* memories 0 and 1 (multi-memory) */
};

typedef struct vcase {
  const char *what;
  const char *params, *results, *locals;
  int needs;
  const uint8_t *code;
  size_t len;
  const char *msg;        /* NULL: must validate */
} vcase_t;

#define VC(what, params, results, locals, needs, msg, ...)                    \
  {what, params, results, locals, needs, (const uint8_t[]){__VA_ARGS__},       \
   sizeof((const uint8_t[]){__VA_ARGS__}), msg}

static int validate(const vcase_t *c, wh_diag_t *d) {
  wb_mod_t m;
  wb_init(&m);
  if (c->needs & NEED_OTHER_FUNC) wb_func(&m, "", "", "", CODE(NOP));
  if (c->needs & (NEED_MEMORY | NEED_TWO_MEMORIES)) wb_memory(&m, 1, WB_NO_MAX);
  if (c->needs & NEED_TWO_MEMORIES) wb_memory(&m, 1, WB_NO_MAX);
  if (c->needs & NEED_IMMUTABLE_GLOBAL) wb_global(&m, 'i', false, CODE(I32_CONST(1)));
  if (c->needs & NEED_TABLE) wb_table(&m, WH_FUNCREF, 1, WB_NO_MAX);
  if (c->needs & NEED_EXTERN_TABLE) wb_table(&m, WH_EXTERNREF, 1, WB_NO_MAX);
  wb_func(&m, c->params, c->results, c->locals, c->code, c->len);
  size_t len;
  const uint8_t *b = wb_bytes(&m, &len);
  int rc = wt_compile(b, len, d);
  wb_fini(&m);
  return rc;
}

static void check_vcases(const vcase_t *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    wh_diag_t d;
    int rc = validate(&cases[i], &d);
    if (!cases[i].msg) {
      WT_CHECK(rc == 0, "%s validates (got %s: %s)", cases[i].what, wh_errname(rc), d.msg);
      continue;
    }
    WT_CHECK(rc == WH_EINVALID, "%s is invalid (got %s: %s)", cases[i].what,
             wh_errname(rc), d.msg);
    WT_CHECK(strstr(d.msg, cases[i].msg) != NULL, "%s is reported as \"%s\" (got \"%s\")",
             cases[i].what, cases[i].msg, d.msg);
    WT_CHECK(d.offset > 8, "%s points into the code (offset %lld)", cases[i].what, d.offset);
  }
}

/* ---- validation ------------------------------------------------------------ */

static void test_type_mismatch(void) {
  const vcase_t cases[] = {
      VC("an i64 result from an i32 function", "", "i", "", 0, "type mismatch",
         I64_CONST(1)),
      VC("i32.add of an i32 and an i64", "", "i", "", 0, "type mismatch",
         I32_CONST(1), I64_CONST(2), I32_ADD),
      VC("a value left on the stack of a void function", "", "", "", 0, "type mismatch",
         I32_CONST(1)),
      VC("a missing result", "", "i", "", 0, "type mismatch", NOP),
      VC("return of an i64 from an i32 function", "", "i", "", 0, "type mismatch",
         I64_CONST(0), RETURN),
      VC("local.set of an i64 into an i32 local", "", "", "i", 0, "type mismatch",
         I64_CONST(0), LOCAL_SET(0)),
      VC("an i64 if condition", "", "", "", 0, "type mismatch",
         I64_CONST(0), IF(BT_VOID), END),
      VC("a block declaring i32 but ending empty", "", "", "", 0, "type mismatch",
         BLOCK(BT_I32), END, DROP),
      VC("a call with an i64 for an i32 parameter", "i", "", "", 0, "type mismatch",
         I64_CONST(0), CALL(0)),
      VC("select of an i32 and an i64", "", "", "", 0, "type mismatch",
         I32_CONST(1), I64_CONST(2), I32_CONST(0), SELECT, DROP),
      VC("i32.add on an i64 in unreachable code", "", "i", "", 0, "type mismatch",
         UNREACHABLE, I64_CONST(0), I32_ADD),
      VC("ref.is_null of an i32", "", "", "", 0, "type mismatch",
         I32_CONST(0), REF_IS_NULL, DROP),
      VC("a br carrying an i64 to an i32 block", "", "i", "", 0, "type mismatch",
         BLOCK(BT_I32), I64_CONST(1), BR(0), END),
  };
  check_vcases(cases, sizeof cases / sizeof *cases);
}

static void test_stack_underflow(void) {
  const vcase_t cases[] = {
      VC("i32.add on an empty stack", "", "", "", 0, "type mismatch", I32_ADD, DROP),
      VC("i32.add with one operand", "", "", "", 0, "type mismatch",
         I32_CONST(1), I32_ADD, DROP),
      VC("drop on an empty stack", "", "", "", 0, "type mismatch", DROP),
      VC("a block reading its parent's operand", "", "", "", 0, "type mismatch",
         I32_CONST(1), BLOCK(BT_VOID), DROP, END, DROP),
      VC("br_if without a condition", "", "", "", 0, "type mismatch",
         BLOCK(BT_VOID), BR_IF(0), END),
      VC("local.set on an empty stack", "", "", "i", 0, "type mismatch", LOCAL_SET(0)),
  };
  check_vcases(cases, sizeof cases / sizeof *cases);
}

static void test_unknown_indices(void) {
  const vcase_t cases[] = {
      VC("local.get 5 with two locals", "i", "", "i", 0, "unknown local", LOCAL_GET(5), DROP),
      VC("local.set 2 with two locals", "i", "", "i", 0, "unknown local",
         I32_CONST(0), LOCAL_SET(2)),
      VC("br 1 at function level", "", "", "", 0, "unknown label", BR(1)),
      VC("br_if 3 inside one block", "", "", "", 0, "unknown label",
         BLOCK(BT_VOID), I32_CONST(1), BR_IF(3), END),
      VC("br_table with an unknown label", "", "", "", 0, "unknown label",
         BLOCK(BT_VOID), I32_CONST(0), BR_TABLE2(0, 7, 0), END),
      VC("call of function 9", "", "", "", 0, "unknown function", CALL(9)),
      VC("global.get 0 without globals", "", "", "", 0, "unknown global",
         GLOBAL_GET(0), DROP),
  };
  check_vcases(cases, sizeof cases / sizeof *cases);
}

static void test_structure(void) {
  const vcase_t cases[] = {
      VC("an if without else that turns [] into [i32]", "", "i", "", 0, "if without else",
         I32_CONST(1), IF(BT_I32), I32_CONST(2), END),
      VC("else without if", "", "", "", 0, "else without if", ELSE, NOP),
      VC("br_table between labels of arity 0 and 1", "", "", "", 0, "arity",
         BLOCK(BT_I32), BLOCK(BT_VOID), I32_CONST(0), I32_CONST(0), BR_TABLE2(0, 0, 1), END,
         I32_CONST(1), END, DROP),
      VC("br_table between an i32 and an i64 label", "", "", "", 0, "type mismatch",
         BLOCK(BT_I64), BLOCK(BT_I32), I32_CONST(0), I32_CONST(0), BR_TABLE2(0, 0, 1),
         END, DROP, I64_CONST(0), END, DROP),
      /* valid ones the validator must not refuse */
      VC("an if with else producing i32", "i", "i", "", 0, NULL,
         LOCAL_GET(0), IF(BT_I32), I32_CONST(1), ELSE, I32_CONST(2), END),
      VC("dead code after br with an odd stack", "", "i", "", 0, NULL,
         BLOCK(BT_I32), I32_CONST(1), BR(0), I32_ADD, I64_CONST(1), DROP, END),
      VC("a block inside dead code", "", "", "", 0, NULL,
         UNREACHABLE, BLOCK(BT_I32), I32_CONST(3), END, DROP),
      VC("unreachable feeding i32.add", "", "i", "", 0, NULL, UNREACHABLE, I32_ADD),
      VC("br_table to two i32 labels", "i", "i", "", 0, NULL,
         BLOCK(BT_I32), BLOCK(BT_I32), I32_CONST(5), LOCAL_GET(0), BR_TABLE2(0, 1, 1), END,
         END),
  };
  check_vcases(cases, sizeof cases / sizeof *cases);
}

static void test_globals_memory_tables(void) {
  const vcase_t cases[] = {
      VC("global.set of an immutable global", "", "", "", NEED_IMMUTABLE_GLOBAL,
         "global is immutable", I32_CONST(2), GLOBAL_SET(0)),
      VC("i32.load without a memory", "", "", "", 0, "unknown memory",
         I32_CONST(0), I32_LOAD(2, 0), DROP),
      VC("i32.store without a memory", "", "", "", 0, "unknown memory",
         I32_CONST(0), I32_CONST(0), I32_STORE(2, 0)),
      VC("memory.grow without a memory", "", "", "", 0, "unknown memory",
         I32_CONST(1), MEMORY_GROW, DROP),
      VC("memory.fill without a memory", "", "", "", 0, "unknown memory",
         I32_CONST(0), I32_CONST(0), I32_CONST(0), MEMORY_FILL),
      VC("i32.load with alignment 2^3", "", "", "", NEED_MEMORY, "alignment",
         I32_CONST(0), I32_LOAD(3, 0), DROP),
      VC("i64.load with alignment 2^4", "", "", "", NEED_MEMORY, "alignment",
         I32_CONST(0), I64_LOAD(4, 0), DROP),
      VC("i32.load8_u with alignment 2^1", "", "", "", NEED_MEMORY, "alignment",
         I32_CONST(0), I32_LOAD8_U(1, 0), DROP),
      VC("i32.store8 with alignment 2^1", "", "", "", NEED_MEMORY, "alignment",
         I32_CONST(0), I32_CONST(0), I32_STORE8(1, 0)),
      VC("i64.load with natural alignment", "", "", "", NEED_MEMORY, NULL,
         I32_CONST(0), I64_LOAD(3, 0), DROP),
      VC("call_indirect through an externref table", "", "", "", NEED_EXTERN_TABLE,
         "type mismatch", I32_CONST(0), CALL_INDIRECT(0, 0)),
      VC("table.set of an i32 into a funcref table", "", "", "", NEED_TABLE, "type mismatch",
         I32_CONST(0), I32_CONST(0), TABLE_SET(0)),
  };
  check_vcases(cases, sizeof cases / sizeof *cases);
}

static void test_memory_indices(void) {
  const vcase_t cases[] = {
      VC("i32.load from memory 1 with one memory", "", "", "", NEED_MEMORY, "unknown memory 1",
         I32_CONST(0), I32_LOAD_M(2, 1, 0), DROP),
      VC("i32.store to memory 2 with two memories", "", "", "", NEED_TWO_MEMORIES,
         "unknown memory 2", I32_CONST(0), I32_CONST(0), I32_STORE_M(2, 2, 0)),
      VC("memory.size 1 with one memory", "", "", "", NEED_MEMORY, "unknown memory 1",
         MEMORY_SIZE_M(1), DROP),
      VC("memory.grow 1 with one memory", "", "", "", NEED_MEMORY, "unknown memory 1",
         I32_CONST(1), MEMORY_GROW_M(1), DROP),
      VC("memory.fill 1 with one memory", "", "", "", NEED_MEMORY, "unknown memory 1",
         I32_CONST(0), I32_CONST(0), I32_CONST(0), MEMORY_FILL_M(1)),
      VC("memory.copy 0 2 with two memories", "", "", "", NEED_TWO_MEMORIES,
         "unknown memory 2", I32_CONST(0), I32_CONST(0), I32_CONST(0), MEMORY_COPY_M(0, 2)),
      VC("memory.copy 2 0 with two memories", "", "", "", NEED_TWO_MEMORIES,
         "unknown memory 2", I32_CONST(0), I32_CONST(0), I32_CONST(0), MEMORY_COPY_M(2, 0)),
      VC("i64.load from memory 1 with alignment 2^4", "", "", "", NEED_TWO_MEMORIES,
         "alignment", I32_CONST(0), I64_LOAD_M(4, 1, 0), DROP),
      VC("i64.store to memory 1 storing an i32", "", "", "", NEED_TWO_MEMORIES,
         "type mismatch", I32_CONST(0), I32_CONST(0), I64_STORE_M(3, 1, 0)),
      VC("loads, stores, size, grow, fill and copy on memory 1", "", "i", "",
         NEED_TWO_MEMORIES, NULL,
         I32_CONST(0), I32_CONST(0), I32_LOAD_M(2, 1, 0), I32_STORE_M(2, 1, 4),
         I32_CONST(0), I32_CONST(0), I32_CONST(4), MEMORY_COPY_M(1, 0),
         I32_CONST(0), I32_CONST(0), I32_CONST(4), MEMORY_FILL_M(1),
         I32_CONST(1), MEMORY_GROW_M(1), DROP, MEMORY_SIZE_M(1)),
  };
  check_vcases(cases, sizeof cases / sizeof *cases);

  /* alignment flags of 2^7 and more are malformed, not an alignment
   * (bit 6 is the memory-index flag) */
  wb_mod_t m;
  wb_init(&m);
  wb_memory(&m, 1, WB_NO_MAX);
  wb_func(&m, "", "", "", CODE(I32_CONST(0), 0x28, 0x82, 0x01, 0x00, DROP));
  size_t len;
  const uint8_t *b = wb_bytes(&m, &len);
  wh_diag_t d;
  int rc = wt_compile(b, len, &d);
  WT_CHECK(rc == WH_EMALFORMED && strstr(d.msg, "memop flags"),
           "memarg flags 0x82 are malformed (got %s: %s)", wh_errname(rc), d.msg);
  wb_fini(&m);
}

static void test_references(void) {
  const vcase_t cases[] = {
      VC("select without a type on funcrefs", "", "", "", 0, "select",
         REF_NULL(0x70), REF_NULL(0x70), I32_CONST(1), SELECT, DROP),
      VC("select without a type on externrefs", "", "", "", 0, "select",
         REF_NULL(0x6f), REF_NULL(0x6f), I32_CONST(1), SELECT, DROP),
      VC("typed select on funcrefs", "", "", "", 0, NULL,
         REF_NULL(0x70), REF_NULL(0x70), I32_CONST(1), 0x1c, 0x01, 0x70, DROP),
      VC("typed select with two result types", "", "", "", 0, "arity",
         I32_CONST(0), I32_CONST(0), I32_CONST(1), 0x1c, 0x02, 0x7f, 0x7f, DROP),
      VC("ref.func of a function nobody declared", "", "", "", NEED_OTHER_FUNC,
         "undeclared function reference", REF_FUNC(0), DROP),
  };
  check_vcases(cases, sizeof cases / sizeof *cases);

  /* declared through an element segment or an export, it is fine */
  for (int how = 0; how < 2; how++) {
    wb_mod_t m;
    wb_init(&m);
    uint32_t f = wb_func(&m, "", "", "", CODE(NOP));
    wb_func(&m, "", "", "", CODE(REF_FUNC(0), DROP));
    if (how == 0) wb_elem_declare(&m, &f, 1);
    else wb_export(&m, "f", WH_EXTERN_FUNC, f);
    size_t len;
    const uint8_t *b = wb_bytes(&m, &len);
    wh_diag_t d;
    int rc = wt_compile(b, len, &d);
    WT_CHECK(rc == 0, "ref.func of a function declared by %s validates (got %s: %s)",
             how == 0 ? "a declarative segment" : "an export", wh_errname(rc), d.msg);
    wb_fini(&m);
  }
}

/* ---- compilation ---------------------------------------------------------- */

static const struct {
  const char *name;
  bool fuel, epoch;
} configs[] = {
    {"fuel and epochs on", true, true},
    {"fuel on, epochs off", true, false},
    {"fuel off, epochs on", false, true},
    {"fuel and epochs off", false, false},
};

typedef struct prog {
  const char *what;
  const char *params, *results, *locals;
  const uint8_t *code;
  size_t len;
  int32_t a, b;           /* arguments (as many as params has) */
  int32_t want;
} prog_t;

#define PROG(what, params, results, locals, a, b, want, ...)                  \
  {what, params, results, locals, (const uint8_t[]){__VA_ARGS__},              \
   sizeof((const uint8_t[]){__VA_ARGS__}), a, b, want}

static void run_progs(const prog_t *progs, size_t n) {
  for (size_t c = 0; c < sizeof configs / sizeof *configs; c++) {
    wh_engine_config_t cfg;
    wh_engine_config_default(&cfg);
    cfg.fuel = configs[c].fuel;
    cfg.epoch_interrupt = configs[c].epoch;
    for (size_t i = 0; i < n; i++) {
      wb_mod_t m;
      wb_init(&m);
      uint32_t f = wb_func(&m, progs[i].params, progs[i].results, progs[i].locals,
                           progs[i].code, progs[i].len);
      wb_export(&m, "f", WH_EXTERN_FUNC, f);
      wt_t t;
      wt_init(&t, &cfg);
      int rc = wt_load(&t, &m);
      WT_CHECK(rc == 0, "%s compiles with %s (got %s: %s)", progs[i].what, configs[c].name,
               wh_errname(rc), t.diag.msg);
      if (rc == 0) {
        int32_t got = 0;
        size_t np = strlen(progs[i].params);
        rc = np == 2   ? wt_call_i32(&t, "f", &got, 2, progs[i].a, progs[i].b)
             : np == 1 ? wt_call_i32(&t, "f", &got, 1, progs[i].a)
                       : wt_call_i32(&t, "f", &got, 0);
        WT_CHECK(rc == 0 && got == progs[i].want, "%s gives %d with %s (got %d, %s)",
                 progs[i].what, progs[i].want, configs[c].name, got, wh_errname(rc));
      }
      wt_fini(&t);
      wb_fini(&m);
    }
  }
}

static void test_peepholes_keep_results(void) {
  const prog_t progs[] = {
      /* (local.get 0) (local.get 1) (local.set 0): the old value of
       * local 0 is on the stack when local 0 changes */
      PROG("a local read before it is overwritten", "ii", "i", "", 3, 4, 3,
           LOCAL_GET(0), LOCAL_GET(1), LOCAL_SET(0)),
      /* swap through the stack, then b - a */
      PROG("a swap through the stack", "ii", "i", "", 3, 10, 7,
           LOCAL_GET(0), LOCAL_GET(1), LOCAL_SET(0), LOCAL_SET(1),
           LOCAL_GET(0), LOCAL_GET(1), I32_SUB),
      /* a + (a + 1) through local.tee */
      PROG("local.tee of a sum that reads the same local", "i", "i", "", 5, 0, 11,
           LOCAL_GET(0), LOCAL_GET(0), I32_CONST(1), I32_ADD, LOCAL_TEE(0), I32_ADD),
      /* compare fused into br_if with another value below it */
      PROG("a compare fused into br_if", "i", "i", "", 3, 0, 100,
           BLOCK(BT_I32), I32_CONST(100), LOCAL_GET(0), I32_CONST(5), I32_LT_S, BR_IF(0),
           DROP, I32_CONST(200), END),
      PROG("a compare fused into br_if, not taken", "i", "i", "", 9, 0, 200,
           BLOCK(BT_I32), I32_CONST(100), LOCAL_GET(0), I32_CONST(5), I32_LT_S, BR_IF(0),
           DROP, I32_CONST(200), END),
      PROG("i32.eqz fused into if", "i", "i", "", 0, 0, 1,
           LOCAL_GET(0), I32_EQZ, IF(BT_I32), I32_CONST(1), ELSE, I32_CONST(2), END),
      PROG("a constant operand as an immediate", "i", "i", "", -7, 0, -6,
           LOCAL_GET(0), I32_CONST(1), I32_ADD),
      PROG("an i64 constant outside 32 bits", "", "i", "", 0, 0, 1,
           I64_CONST(0x100000000LL), I64_CONST(0x0ffffffffLL), 0x55 /* i64.gt_s */),
  };
  run_progs(progs, sizeof progs / sizeof *progs);
}

/* The producer-writes-the-destination peepholes across a join point: the
 * value may come from the other arm of an if or from a branch, so the
 * last operator before the join must not be retargeted. */
static void test_join_points_keep_results(void) {
  const prog_t progs[] = {
      /* (local.set 2 (if (result i32) (local.get 0)
       *                 (then (i32.const 1))
       *                 (else (i32.add (local.get 1) (i32.const 2)))))
       * (local.get 2) */
      PROG("if/else then local.set, the then arm taken", "ii", "i", "i", 1, 10, 1,
           LOCAL_GET(0), IF(BT_I32), I32_CONST(1), ELSE, LOCAL_GET(1), I32_CONST(2), I32_ADD,
           END, LOCAL_SET(2), LOCAL_GET(2)),
      PROG("if/else then local.set, the else arm taken", "ii", "i", "i", 0, 10, 12,
           LOCAL_GET(0), IF(BT_I32), I32_CONST(1), ELSE, LOCAL_GET(1), I32_CONST(2), I32_ADD,
           END, LOCAL_SET(2), LOCAL_GET(2)),
      /* the same if/else as the function's result */
      PROG("if/else as the result, the then arm taken", "ii", "i", "", 1, 10, 1,
           LOCAL_GET(0), IF(BT_I32), I32_CONST(1), ELSE, LOCAL_GET(1), I32_CONST(2), I32_ADD,
           END),
      PROG("if/else as the result, the else arm taken", "ii", "i", "", 0, 10, 12,
           LOCAL_GET(0), IF(BT_I32), I32_CONST(1), ELSE, LOCAL_GET(1), I32_CONST(2), I32_ADD,
           END),
      /* (block (result i32) (br_if 0 (i32.const 7) (local.get 0)) (drop)
       *   (i32.add (local.get 0) (i32.const 100)))  then local.set / return */
      PROG("br_if out of a block then local.set, branch taken", "i", "i", "i", 1, 0, 7,
           BLOCK(BT_I32), I32_CONST(7), LOCAL_GET(0), BR_IF(0), DROP,
           LOCAL_GET(0), I32_CONST(100), I32_ADD, END, LOCAL_SET(1), LOCAL_GET(1)),
      PROG("br_if out of a block as the result, branch taken", "i", "i", "", 1, 0, 7,
           BLOCK(BT_I32), I32_CONST(7), LOCAL_GET(0), BR_IF(0), DROP,
           LOCAL_GET(0), I32_CONST(100), I32_ADD, END),
      PROG("br_if out of a block as the result, not taken", "i", "i", "", 0, 0, 100,
           BLOCK(BT_I32), I32_CONST(7), LOCAL_GET(0), BR_IF(0), DROP,
           LOCAL_GET(0), I32_CONST(100), I32_ADD, END),
      /* br_table into a block whose fall-through computes the value */
      PROG("br_table out of a block then local.set", "i", "i", "i", 0, 0, 5,
           BLOCK(BT_I32), I32_CONST(5), LOCAL_GET(0), BR_TABLE2(0, 0, 0),
           END, LOCAL_SET(1), LOCAL_GET(1)),
  };
  run_progs(progs, sizeof progs / sizeof *progs);
}

static void test_compile_limits(void) {
  /* 50001 locals: over the compiler's limit, refused cleanly */
  wb_mod_t m;
  wb_init(&m);
  wb_buf_t body = {0};
  wb_byte(&body, 1);
  wb_uleb(&body, 50001);
  wb_byte(&body, WH_I32);
  wb_byte(&body, END);
  wb_func_raw(&m, wb_type(&m, "", ""), body.p, body.len);
  size_t len;
  const uint8_t *b = wb_bytes(&m, &len);
  wh_diag_t d;
  int rc = wt_compile(b, len, &d);
  WT_CHECK(rc == WH_ELIMIT, "50001 locals exceed the limit (got %s: %s)", wh_errname(rc), d.msg);
  wb_buf_free(&body);
  wb_fini(&m);

  /* 2000 nested blocks compile (the control stack grows) */
  wb_init(&m);
  wb_buf_t code = {0};
  for (int i = 0; i < 2000; i++) wb_raw(&code, (const uint8_t[]){BLOCK(BT_VOID)}, 2);
  for (int i = 0; i < 2000; i++) wb_byte(&code, END);
  wb_func(&m, "", "", "", code.p, code.len);
  b = wb_bytes(&m, &len);
  rc = wt_compile(b, len, &d);
  WT_CHECK(rc == 0, "2000 nested blocks compile (got %s: %s)", wh_errname(rc), d.msg);
  wb_buf_free(&code);
  wb_fini(&m);
}

CU_TestInfo wt_tests_compile[] = {
    {"operand types must match", test_type_mismatch},
    {"popping an empty stack is a type mismatch", test_stack_underflow},
    {"unknown locals, labels, functions and globals are invalid", test_unknown_indices},
    {"block structure is checked", test_structure},
    {"globals, memories and tables are checked", test_globals_memory_tables},
    {"multi-memory: memory indices are checked", test_memory_indices},
    {"references: typed select and declared ref.func", test_references},
    {"peepholes keep results in every fuel/epoch configuration", test_peepholes_keep_results},
    {"join points keep results in every fuel/epoch configuration",
     test_join_points_keep_results},
    {"the compiler's limits are clean errors", test_compile_limits},
    CU_TEST_INFO_NULL,
};
