/*
 * test_simd.c - the SIMD proposal's 0xfd instructions (engine/simd.h's
 * table, validated in engine/compile.c).
 *
 * SIMD sits behind the engine's `simd` flag.  Off (the default), any v128
 * type or 0xfd opcode is WH_EUNSUPPORTED.  On, every instruction is
 * validated (lane indices, memarg alignment, operand types) and runs.
 * These cases pin what the spec suite covers thinly: out-of-range shuffle
 * lanes, every shape's lane bound, the alignment of each memory form,
 * reserved sub-opcodes; and, run, the NaN results wharf chooses where the
 * spec allows several, saturating conversions at their edges, and v128
 * values through params, locals, globals and blocks.  The NaN checks hold
 * on any host (quiet NaNs, canonical for invalid operations); on x86-64
 * they also pin the exact bits wharf produces there (docs/ENGINE.md).
 */
#include <stdio.h>
#include <string.h>

#include "wt.h"

/* A 0xfd sub-opcode as a LEB128 u32 (one or two bytes). */
#define SIMD1(sub) 0xfd, (sub)
#define SIMD2(sub) 0xfd, (0x80 | ((sub) & 0x7f)), ((sub) >> 7)
#define V128_ZERO 0xfd, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define SHUFFLE_LANES(x) 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, (x)

enum { VALIDATES = 0 };

typedef struct scase {
  const char *what;
  const char *params, *results, *locals;
  bool memory;
  const uint8_t *code;
  size_t len;
  const char *msg;        /* NULL: validates */
  int code_want;          /* WH_EINVALID or WH_EMALFORMED when msg set */
} scase_t;

#define SC(what, params, results, locals, mem, want, msg, ...)                \
  {what, params, results, locals, mem, (const uint8_t[]){__VA_ARGS__},         \
   sizeof((const uint8_t[]){__VA_ARGS__}), msg, want}

static int compile_case(const scase_t *c, bool simd, wh_diag_t *d) {
  wb_mod_t m;
  wb_init(&m);
  if (c->memory) wb_memory(&m, 1, WB_NO_MAX);
  wb_func(&m, c->params, c->results, c->locals, c->code, c->len);
  size_t len;
  const uint8_t *b = wb_bytes(&m, &len);
  wh_engine_config_t cfg;
  wh_engine_config_default(&cfg);
  cfg.simd = simd;
  int rc = wt_compile_cfg(&cfg, b, len, d);
  wb_fini(&m);
  return rc;
}

static void check_cases(const scase_t *cases, size_t n) {
  for (size_t i = 0; i < n; i++) {
    const scase_t *c = &cases[i];
    wh_diag_t d;
    memset(&d, 0, sizeof d);
    int rc = compile_case(c, true, &d);
    if (!c->msg) {
      WT_CHECK(rc == 0, "%s: validates (got %s: %s)", c->what,
               wh_errname(rc), d.msg);
    } else {
      WT_CHECK(rc == c->code_want && strstr(d.msg, c->msg),
               "%s: is %s \"%s\" (got %s: %s)", c->what,
               wh_errname(c->code_want), c->msg, wh_errname(rc), d.msg);
    }
  }
}

static void test_gate(void) {
  const scase_t cases[] = {
      SC("v128.const", "", "", "", false, 0, NULL, V128_ZERO, DROP),
      SC("a v128 local", "", "", "v", false, 0, NULL),
      SC("a v128 param", "v", "", "", false, 0, NULL),
      SC("a v128 block type", "", "", "", false, 0, NULL,
         BLOCK(0x7b), V128_ZERO, END, DROP),
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    wh_diag_t d;
    memset(&d, 0, sizeof d);
    int rc = compile_case(&cases[i], false, &d);
    WT_CHECK(rc == WH_EUNSUPPORTED && strstr(d.msg, "SIMD"),
             "%s: without the simd flag is refused as unsupported (got %s: %s)",
             cases[i].what, wh_errname(rc), d.msg);
  }
  check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_shuffle_lanes(void) {
  const scase_t cases[] = {
      SC("i8x16.shuffle with lane 31", "", "", "", false, 0, NULL,
         V128_ZERO, V128_ZERO, SIMD1(0x0d), SHUFFLE_LANES(31), DROP),
      SC("i8x16.shuffle with lane 32", "", "", "", false, WH_EINVALID,
         "invalid lane index",
         V128_ZERO, V128_ZERO, SIMD1(0x0d), SHUFFLE_LANES(32), DROP),
      SC("i8x16.shuffle with lane 255", "", "", "", false, WH_EINVALID,
         "invalid lane index",
         V128_ZERO, V128_ZERO, SIMD1(0x0d), 255, SHUFFLE_LANES(0), DROP),
      SC("i8x16.shuffle with one operand", "", "", "", false, WH_EINVALID,
         "type mismatch", V128_ZERO, SIMD1(0x0d), SHUFFLE_LANES(0), DROP),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_lane_bounds(void) {
  /* extract_lane of each shape: the last lane validates, one past fails */
  static const struct { const char *name; uint8_t sub, lanes; } ex[] = {
      {"i8x16.extract_lane_s", 0x15, 16}, {"i8x16.extract_lane_u", 0x16, 16},
      {"i16x8.extract_lane_s", 0x18, 8},  {"i16x8.extract_lane_u", 0x19, 8},
      {"i32x4.extract_lane", 0x1b, 4},    {"i64x2.extract_lane", 0x1d, 2},
      {"f32x4.extract_lane", 0x1f, 4},    {"f64x2.extract_lane", 0x21, 2},
  };
  for (size_t i = 0; i < sizeof ex / sizeof *ex; i++) {
    for (int past = 0; past <= 1; past++) {
      uint8_t lane = (uint8_t)(ex[i].lanes - 1 + past);
      char what[64];
      snprintf(what, sizeof what, "%s lane %u", ex[i].name, lane);
      scase_t c = SC("", "", "", "", false, WH_EINVALID, "invalid lane index",
                     V128_ZERO, 0xfd, ex[i].sub, lane, DROP);
      /* the code literal above is shared: patch the lane byte */
      uint8_t code[32];
      memcpy(code, c.code, c.len);
      code[20] = lane;
      c.code = code;
      c.what = what;
      if (!past) c.msg = NULL;
      check_cases(&c, 1);
    }
  }
  const scase_t cases[] = {
      SC("i8x16.replace_lane lane 16", "", "", "", false, WH_EINVALID,
         "invalid lane index", V128_ZERO, I32_CONST(1), SIMD1(0x17), 16, DROP),
      SC("i64x2.replace_lane lane 1", "", "", "", false, 0, NULL,
         V128_ZERO, 0x42, 1, SIMD1(0x1e), 1, DROP),
      SC("i64x2.replace_lane with an i32", "", "", "", false, WH_EINVALID,
         "type mismatch", V128_ZERO, I32_CONST(1), SIMD1(0x1e), 1, DROP),
      SC("v128.load8_lane lane 15", "", "", "", true, 0, NULL,
         I32_CONST(0), V128_ZERO, SIMD1(0x54), 0, 0, 15, DROP),
      SC("v128.load8_lane lane 16", "", "", "", true, WH_EINVALID,
         "invalid lane index",
         I32_CONST(0), V128_ZERO, SIMD1(0x54), 0, 0, 16, DROP),
      SC("v128.store64_lane lane 2", "", "", "", true, WH_EINVALID,
         "invalid lane index",
         I32_CONST(0), V128_ZERO, SIMD1(0x5b), 3, 0, 2),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_alignment(void) {
  const scase_t cases[] = {
      SC("v128.load align 16", "", "", "", true, 0, NULL,
         I32_CONST(0), SIMD1(0x00), 4, 0, DROP),
      SC("v128.load align 32", "", "", "", true, WH_EINVALID,
         "alignment must not be larger than natural",
         I32_CONST(0), SIMD1(0x00), 5, 0, DROP),
      SC("v128.load8x8_s align 16", "", "", "", true, WH_EINVALID,
         "alignment must not be larger than natural",
         I32_CONST(0), SIMD1(0x01), 4, 0, DROP),
      SC("v128.load16_splat align 4", "", "", "", true, WH_EINVALID,
         "alignment must not be larger than natural",
         I32_CONST(0), SIMD1(0x08), 2, 0, DROP),
      SC("v128.load32_zero align 4", "", "", "", true, 0, NULL,
         I32_CONST(0), SIMD1(0x5c), 2, 0, DROP),
      SC("v128.load64_zero align 16", "", "", "", true, WH_EINVALID,
         "alignment must not be larger than natural",
         I32_CONST(0), SIMD1(0x5d), 4, 0, DROP),
      SC("v128.store16_lane align 4", "", "", "", true, WH_EINVALID,
         "alignment must not be larger than natural",
         I32_CONST(0), V128_ZERO, SIMD1(0x59), 2, 0, 0),
      SC("v128.load without a memory", "", "", "", false, WH_EINVALID,
         "unknown memory", I32_CONST(0), SIMD1(0x00), 4, 0, DROP),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_opcodes_and_types(void) {
  const scase_t cases[] = {
      SC("reserved sub-opcode 0x9a", "", "", "", false, WH_EMALFORMED,
         "illegal opcode", V128_ZERO, V128_ZERO, SIMD2(0x9a), DROP),
      SC("relaxed SIMD sub-opcode 0x100", "", "", "", false, WH_EMALFORMED,
         "illegal opcode", V128_ZERO, SIMD2(0x100), DROP),
      SC("i32x4.add on an i32", "", "", "", false, WH_EINVALID, "type mismatch",
         V128_ZERO, I32_CONST(1), SIMD2(0xae), DROP),
      SC("i8x16.shl by a v128", "", "", "", false, WH_EINVALID, "type mismatch",
         V128_ZERO, V128_ZERO, SIMD1(0x6b), DROP),
      SC("v128.bitselect of three vectors", "", "", "", false, 0, NULL,
         V128_ZERO, V128_ZERO, V128_ZERO, SIMD1(0x52), DROP),
      SC("i8x16.bitmask gives an i32", "", "i", "", false, 0, NULL,
         V128_ZERO, SIMD1(0x64)),
      SC("a v128 result from an i32", "", "v", "", false, WH_EINVALID,
         "type mismatch", I32_CONST(1)),
      SC("select of two v128", "", "", "", false, 0, NULL,
         V128_ZERO, V128_ZERO, I32_CONST(1), SELECT, DROP),
      SC("select of a v128 and an i32", "", "", "", false, WH_EINVALID,
         "type mismatch", V128_ZERO, I32_CONST(0), I32_CONST(1), SELECT, DROP),
      SC("a v128 local round trip", "v", "v", "v", false, 0, NULL,
         LOCAL_GET(0), 0x21, 1, LOCAL_GET(1)),
      SC("f64x2.splat of an f32", "", "", "", false, WH_EINVALID,
         "type mismatch", 0x43, 0, 0, 0, 0, SIMD1(0x14), DROP),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

/* ---- running -------------------------------------------------------------- */

/* Loads one exported function "f" (params -> results, the body without
 * its end) on an engine with SIMD on.  Returns 0 or the load error. */
static int load_f(wt_t *t, const char *params, const char *results,
                  const uint8_t *code, size_t len) {
  wh_engine_config_t cfg;
  wh_engine_config_default(&cfg);
  cfg.simd = true;
  wt_init(t, &cfg);
  wb_mod_t m;
  wb_init(&m);
  wb_memory(&m, 1, WB_NO_MAX);
  uint32_t f = wb_func(&m, params, results, "", code, len);
  wb_export(&m, "f", WH_EXTERN_FUNC, f);
  int rc = wt_load(t, &m);
  wb_fini(&m);
  return rc;
}

static wh_val_t v128_of(uint64_t lo, uint64_t hi) {
  wh_val_t v = {.type = WH_V128};
  v.of.v128[0] = lo;
  v.of.v128[1] = hi;
  return v;
}

/* Runs "f" of a [v128 v128] -> [v128] body on (a, b); *out gets the result. */
static int run_vv(const char *what, const uint8_t *code, size_t len,
                  wh_val_t a, wh_val_t b, wh_val_t *out) {
  wt_t t;
  int rc = load_f(&t, "vv", "v", code, len);
  WT_CHECK(rc == 0, "%s: the module loads (got %s: %s)", what, wh_errname(rc),
           t.diag.msg);
  if (rc == 0) {
    wh_val_t args[2] = {a, b};
    rc = wh_call(t.exec, wh_instance_func(t.inst, "f"), args, 2, out, 1);
    WT_CHECK(rc == 0, "%s: runs (got %s: %s)", what, wh_errname(rc),
             wt_trap_msg(&t));
  }
  wt_fini(&t);
  return rc;
}

static uint32_t lane32(const wh_val_t *v, int i) {
  uint32_t u;
  memcpy(&u, (const uint8_t *)v->of.v128 + 4 * i, 4);
  return u;
}

static void test_nan_choices(void) {
  /* f32x4 lanes: 1.0, sNaN 0x7fa00000, -0.0, +inf */
  wh_val_t a = v128_of(0x7fa000003f800000ull, 0x7f80000080000000ull);
  /* lanes: qNaN with payload 0x7fc12345, 2.0, +0.0, -inf */
  wh_val_t b = v128_of(0x400000007fc12345ull, 0xff80000000000000ull);
  wh_val_t r;
  const uint8_t add[] = {LOCAL_GET(0), LOCAL_GET(1), SIMD2(0xe4)};
  if (run_vv("f32x4.add", add, sizeof add, a, b, &r) == 0) {
    /* a NaN operand gives a quiet NaN (arithmetic: quiet bit set) */
    WT_CHECK((lane32(&r, 0) & 0x7fc00000u) == 0x7fc00000u,
             "f32x4.add of 1.0 and a quiet NaN is a quiet NaN (got 0x%08x)",
             lane32(&r, 0));
    WT_CHECK((lane32(&r, 1) & 0x7fc00000u) == 0x7fc00000u,
             "f32x4.add of a signalling NaN is quieted (got 0x%08x)", lane32(&r, 1));
    WT_CHECK(lane32(&r, 2) == 0x00000000u, "-0 + +0 is +0 (got 0x%08x)", lane32(&r, 2));
    WT_CHECK((lane32(&r, 3) & 0x7fffffffu) == 0x7fc00000u,
             "+inf + -inf is the canonical NaN, either sign (got 0x%08x)",
             lane32(&r, 3));
  }
  const uint8_t mn[] = {LOCAL_GET(0), LOCAL_GET(1), SIMD2(0xe8)};
  if (run_vv("f32x4.min", mn, sizeof mn, a, b, &r) == 0) {
    WT_CHECK((lane32(&r, 0) & 0x7fc00000u) == 0x7fc00000u,
             "f32x4.min with a NaN lane is a NaN (got 0x%08x)", lane32(&r, 0));
    WT_CHECK(lane32(&r, 2) == 0x80000000u, "f32x4.min(-0, +0) is -0 (got 0x%08x)",
             lane32(&r, 2));
  }
  /* pmin/pmax are b < a ? b : a: a NaN in a lane of the first operand
   * comes back unchanged, payload and all */
  const uint8_t pmin[] = {LOCAL_GET(1), LOCAL_GET(0), SIMD2(0xea)};
  if (run_vv("f32x4.pmin", pmin, sizeof pmin, a, b, &r) == 0)
    WT_CHECK(lane32(&r, 0) == 0x7fc12345u,
             "f32x4.pmin(NaN, 1.0) returns the NaN operand bit for bit (got 0x%08x)",
             lane32(&r, 0));
  /* abs and neg are bit operations: a NaN keeps its payload */
  const uint8_t neg[] = {LOCAL_GET(1), SIMD2(0xe1)};
  if (run_vv("f32x4.neg", neg, sizeof neg, a, b, &r) == 0)
    WT_CHECK(lane32(&r, 0) == 0xffc12345u,
             "f32x4.neg flips only the sign of a NaN (got 0x%08x)", lane32(&r, 0));
}

static void test_saturating_conversions(void) {
  /* f32 lanes: NaN, -inf, 2147483648.0, -2147483904.0 */
  wh_val_t a = v128_of(0xff8000007fc00000ull, 0xcf0000014f000000ull);
  wh_val_t z = v128_of(0, 0);
  wh_val_t r;
  const uint8_t s[] = {LOCAL_GET(0), SIMD2(0xf8)};
  if (run_vv("i32x4.trunc_sat_f32x4_s", s, sizeof s, a, z, &r) == 0) {
    WT_CHECK(lane32(&r, 0) == 0, "trunc_sat_s of NaN is 0 (got 0x%08x)", lane32(&r, 0));
    WT_CHECK(lane32(&r, 1) == 0x80000000u, "trunc_sat_s of -inf is INT32_MIN (got 0x%08x)",
             lane32(&r, 1));
    WT_CHECK(lane32(&r, 2) == 0x7fffffffu, "trunc_sat_s of 2^31 is INT32_MAX (got 0x%08x)",
             lane32(&r, 2));
    WT_CHECK(lane32(&r, 3) == 0x80000000u,
             "trunc_sat_s below INT32_MIN is INT32_MIN (got 0x%08x)", lane32(&r, 3));
  }
  const uint8_t u[] = {LOCAL_GET(0), SIMD2(0xf9)};
  if (run_vv("i32x4.trunc_sat_f32x4_u", u, sizeof u, a, z, &r) == 0) {
    WT_CHECK(lane32(&r, 0) == 0 && lane32(&r, 1) == 0 && lane32(&r, 3) == 0,
             "trunc_sat_u of NaN and negatives is 0");
    WT_CHECK(lane32(&r, 2) == 0x80000000u, "trunc_sat_u of 2^31 is 2^31 (got 0x%08x)",
             lane32(&r, 2));
  }
  /* f64 lanes 1e10, -1.5 -> u32 saturated, upper lanes zero */
  double d[2] = {1e10, -1.5};
  wh_val_t b;
  b.type = WH_V128;
  memcpy(b.of.v128, d, 16);
  const uint8_t uz[] = {LOCAL_GET(0), SIMD2(0xfd)};
  if (run_vv("i32x4.trunc_sat_f64x2_u_zero", uz, sizeof uz, b, z, &r) == 0)
    WT_CHECK(lane32(&r, 0) == 0xffffffffu && lane32(&r, 1) == 0 &&
             lane32(&r, 2) == 0 && lane32(&r, 3) == 0,
             "trunc_sat_f64x2_u_zero saturates to UINT32_MAX and 0, upper lanes 0");
  /* narrowing saturates: i16 lanes 300, -300, 127, -129, 32767, 0, 1,
   * -32768 become 127, -128, 127, -128, 127, 0, 1, -128 */
  wh_val_t n = v128_of(0xff7f007ffed4012cull, 0x8000000100007fffull);
  const uint8_t nar[] = {LOCAL_GET(0), LOCAL_GET(1), SIMD1(0x65)};
  if (run_vv("i8x16.narrow_i16x8_s", nar, sizeof nar, n, z, &r) == 0)
    WT_CHECK(r.of.v128[0] == 0x8001007f807f807full && r.of.v128[1] == 0,
             "i8x16.narrow_i16x8_s clamps to [-128, 127] (got 0x%016llx)",
             (unsigned long long)r.of.v128[0]);
}

static void test_values_flow(void) {
  /* a v128 through a block, select, a local (tee) and back */
  wh_val_t a = v128_of(0x0123456789abcdefull, 0xfedcba9876543210ull);
  wh_val_t b = v128_of(1, 2);
  wh_val_t r;
  const uint8_t code[] = {
      BLOCK(0x7b), LOCAL_GET(0), END,      /* [a]                      */
      LOCAL_GET(1), LOCAL_GET(0),
      I32_CONST(0), SELECT,                /* select(b, a, 0): [a a]   */
      0x22, 1,                             /* local.tee 1: b = a       */
      SIMD2(0xce),                         /* i64x2.add: [2a]          */
      LOCAL_GET(1), SIMD2(0xce),           /* [3a]                     */
  };
  if (run_vv("v128 through block, select and tee", code, sizeof code, a, b, &r) == 0)
    WT_CHECK(r.of.v128[0] == 0x0123456789abcdefull * 3 &&
             r.of.v128[1] == 0xfedcba9876543210ull * 3,
             "a + a + a computed through block, select and tee is lane-wise "
             "(got 0x%016llx %016llx)", (unsigned long long)r.of.v128[1],
             (unsigned long long)r.of.v128[0]);
}

/* ---- more lane bounds and alignments ---------------------------------- */

static void test_more_lane_bounds(void) {
  const scase_t cases[] = {
      SC("i16x8.replace_lane lane 8", "", "", "", false, WH_EINVALID,
         "invalid lane index", V128_ZERO, I32_CONST(1), SIMD1(0x1a), 8, DROP),
      SC("i32x4.replace_lane lane 4", "", "", "", false, WH_EINVALID,
         "invalid lane index", V128_ZERO, I32_CONST(1), SIMD1(0x1c), 4, DROP),
      SC("f32x4.replace_lane lane 3", "", "", "", false, 0, NULL,
         V128_ZERO, 0x43, 0, 0, 0, 0, SIMD1(0x20), 3, DROP),
      SC("f32x4.replace_lane lane 4", "", "", "", false, WH_EINVALID,
         "invalid lane index", V128_ZERO, 0x43, 0, 0, 0, 0, SIMD1(0x20), 4, DROP),
      SC("f64x2.replace_lane lane 2", "", "", "", false, WH_EINVALID,
         "invalid lane index",
         V128_ZERO, 0x44, 0, 0, 0, 0, 0, 0, 0, 0, SIMD1(0x22), 2, DROP),
      SC("i8x16.extract_lane_u lane 255", "", "", "", false, WH_EINVALID,
         "invalid lane index", V128_ZERO, SIMD1(0x16), 255, DROP),
      SC("v128.load16_lane lane 7", "", "", "", true, 0, NULL,
         I32_CONST(0), V128_ZERO, SIMD1(0x55), 1, 0, 7, DROP),
      SC("v128.load16_lane lane 8", "", "", "", true, WH_EINVALID,
         "invalid lane index",
         I32_CONST(0), V128_ZERO, SIMD1(0x55), 1, 0, 8, DROP),
      SC("v128.load32_lane lane 4", "", "", "", true, WH_EINVALID,
         "invalid lane index",
         I32_CONST(0), V128_ZERO, SIMD1(0x56), 2, 0, 4, DROP),
      SC("v128.load64_lane lane 2", "", "", "", true, WH_EINVALID,
         "invalid lane index",
         I32_CONST(0), V128_ZERO, SIMD1(0x57), 3, 0, 2, DROP),
      SC("v128.store8_lane lane 16", "", "", "", true, WH_EINVALID,
         "invalid lane index",
         I32_CONST(0), V128_ZERO, SIMD1(0x58), 0, 0, 16),
      SC("v128.store32_lane lane 3", "", "", "", true, 0, NULL,
         I32_CONST(0), V128_ZERO, SIMD1(0x5a), 2, 0, 3),
      SC("i8x16.shuffle with lane 32 in the first position", "", "", "", false,
         WH_EINVALID, "invalid lane index",
         V128_ZERO, V128_ZERO, SIMD1(0x0d), 32, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
         11, 12, 13, 14, 15, DROP),
      SC("i8x16.shuffle with lane 128", "", "", "", false, WH_EINVALID,
         "invalid lane index",
         V128_ZERO, V128_ZERO, SIMD1(0x0d), SHUFFLE_LANES(128), DROP),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

static void test_more_alignments(void) {
  const scase_t cases[] = {
      SC("v128.store align 16", "", "", "", true, 0, NULL,
         I32_CONST(0), V128_ZERO, SIMD1(0x0b), 4, 0),
      SC("v128.store align 32", "", "", "", true, WH_EINVALID,
         "alignment must not be larger than natural",
         I32_CONST(0), V128_ZERO, SIMD1(0x0b), 5, 0),
      SC("v128.load8x8_u align 8", "", "", "", true, 0, NULL,
         I32_CONST(0), SIMD1(0x02), 3, 0, DROP),
      SC("v128.load8_splat align 2", "", "", "", true, WH_EINVALID,
         "alignment must not be larger than natural",
         I32_CONST(0), SIMD1(0x07), 1, 0, DROP),
      SC("v128.load64_splat align 16", "", "", "", true, WH_EINVALID,
         "alignment must not be larger than natural",
         I32_CONST(0), SIMD1(0x0a), 4, 0, DROP),
      SC("v128.load32_zero align 8", "", "", "", true, WH_EINVALID,
         "alignment must not be larger than natural",
         I32_CONST(0), SIMD1(0x5c), 3, 0, DROP),
      SC("v128.load32_lane align 8", "", "", "", true, WH_EINVALID,
         "alignment must not be larger than natural",
         I32_CONST(0), V128_ZERO, SIMD1(0x56), 3, 0, 0, DROP),
      SC("v128.load8_lane align 1", "", "", "", true, 0, NULL,
         I32_CONST(0), V128_ZERO, SIMD1(0x54), 0, 0, 0, DROP),
      SC("v128.store64_lane align 16", "", "", "", true, WH_EINVALID,
         "alignment must not be larger than natural",
         I32_CONST(0), V128_ZERO, SIMD1(0x5b), 4, 0, 0),
  };
  check_cases(cases, sizeof cases / sizeof *cases);
}

/* ---- NaN bits -------------------------------------------------------------- */

static uint64_t lane64(const wh_val_t *v, int i) { return v->of.v128[i]; }

static bool quiet_nan32(uint32_t u) { return (u & 0x7fc00000u) == 0x7fc00000u; }
static bool quiet_nan64(uint64_t u) {
  return (u & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
}

/* Runs a [v128 v128] -> [v128] body, low/high halves in and out. */
static bool run2(const char *what, const uint8_t *code, size_t len, uint64_t alo,
                 uint64_t ahi, uint64_t blo, uint64_t bhi, wh_val_t *r) {
  return run_vv(what, code, len, v128_of(alo, ahi), v128_of(blo, bhi), r) == 0;
}

/* f64x2 arithmetic and min/max, lane by lane: a NaN result is always a
 * quiet NaN (spec: arithmetic NaN); on x86-64, where the lanes compile to
 * SSE, wharf returns the first NaN operand with its quiet bit set, payload
 * kept, and the negative default NaN 0xfff8000000000000 for an invalid
 * operation such as inf - inf (docs/ENGINE.md, "NaN behaviour"). */
static void test_nan_bits_f64(void) {
  const uint64_t QNAN_P = 0x7ff8000000012345ull;   /* quiet, payload */
  const uint64_t SIG_NAN = 0x7ff0000000000001ull;     /* signalling */
  const uint64_t ONE = 0x3ff0000000000000ull, INF = 0x7ff0000000000000ull;
  const uint64_t NINF = 0xfff0000000000000ull;
  wh_val_t r;
  const uint8_t add[] = {LOCAL_GET(0), LOCAL_GET(1), SIMD2(0xf0)};
  if (run2("f64x2.add", add, sizeof add, ONE, SIG_NAN, QNAN_P, ONE, &r)) {
    WT_CHECK(quiet_nan64(lane64(&r, 0)) && quiet_nan64(lane64(&r, 1)),
             "f64x2.add with a NaN lane gives quiet NaNs (got 0x%016llx 0x%016llx)",
             (unsigned long long)lane64(&r, 0), (unsigned long long)lane64(&r, 1));
#if defined(__x86_64__)
    WT_CHECK(lane64(&r, 0) == QNAN_P,
             "f64x2.add(1, qNaN) keeps the NaN's payload on x86-64 (got 0x%016llx)",
             (unsigned long long)lane64(&r, 0));
    WT_CHECK(lane64(&r, 1) == 0x7ff8000000000001ull,
             "f64x2.add(sNaN, 1) is the sNaN quieted on x86-64 (got 0x%016llx)",
             (unsigned long long)lane64(&r, 1));
#endif
  }
  const uint8_t sub[] = {LOCAL_GET(0), LOCAL_GET(1), SIMD2(0xf1)};
  if (run2("f64x2.sub", sub, sizeof sub, INF, NINF, INF, NINF, &r)) {
    WT_CHECK((lane64(&r, 0) & ~(1ull << 63)) == 0x7ff8000000000000ull,
             "inf - inf is the canonical NaN, either sign (got 0x%016llx)",
             (unsigned long long)lane64(&r, 0));
    WT_CHECK((lane64(&r, 1) & ~(1ull << 63)) == 0x7ff8000000000000ull,
             "-inf - -inf is the canonical NaN, either sign (got 0x%016llx)",
             (unsigned long long)lane64(&r, 1));
#if defined(__x86_64__)
    WT_CHECK(lane64(&r, 0) == 0xfff8000000000000ull,
             "an invalid f64 lane operation gives x86's negative default NaN "
             "(got 0x%016llx)", (unsigned long long)lane64(&r, 0));
#endif
  }
  /* min/max: a NaN in either lane operand gives a NaN; -0 < +0 */
  const uint8_t mx[] = {LOCAL_GET(0), LOCAL_GET(1), SIMD2(0xf5)};
  if (run2("f64x2.max", mx, sizeof mx, 0x8000000000000000ull, ONE, 0, QNAN_P, &r)) {
    WT_CHECK(lane64(&r, 0) == 0, "f64x2.max(-0, +0) is +0 (got 0x%016llx)",
             (unsigned long long)lane64(&r, 0));
    WT_CHECK(quiet_nan64(lane64(&r, 1)),
             "f64x2.max(1, NaN) is a quiet NaN (got 0x%016llx)",
             (unsigned long long)lane64(&r, 1));
#if defined(__x86_64__)
    WT_CHECK(lane64(&r, 1) == QNAN_P,
             "f64x2.max(1, qNaN) returns that NaN on x86-64 (got 0x%016llx)",
             (unsigned long long)lane64(&r, 1));
#endif
  }
  const uint8_t mn[] = {LOCAL_GET(0), LOCAL_GET(1), SIMD2(0xf4)};
  if (run2("f64x2.min", mn, sizeof mn, SIG_NAN, 0, ONE, 0x8000000000000000ull, &r)) {
    WT_CHECK(quiet_nan64(lane64(&r, 0)),
             "f64x2.min(sNaN, 1) is a quiet NaN (got 0x%016llx)",
             (unsigned long long)lane64(&r, 0));
    WT_CHECK(lane64(&r, 1) == 0x8000000000000000ull,
             "f64x2.min(+0, -0) is -0 (got 0x%016llx)", (unsigned long long)lane64(&r, 1));
  }
  /* pmax is a < b ? b : a: a NaN first operand comes back unchanged,
   * even a signalling one; a NaN second operand is never chosen */
  const uint8_t pmax[] = {LOCAL_GET(0), LOCAL_GET(1), SIMD2(0xf7)};
  if (run2("f64x2.pmax", pmax, sizeof pmax, SIG_NAN, ONE, ONE, SIG_NAN, &r))
    WT_CHECK(lane64(&r, 0) == SIG_NAN && lane64(&r, 1) == ONE,
             "f64x2.pmax keeps a first-operand sNaN bit for bit and ignores a "
             "second-operand one (got 0x%016llx 0x%016llx)",
             (unsigned long long)lane64(&r, 0), (unsigned long long)lane64(&r, 1));
  /* sqrt of a negative number: the canonical NaN */
  const uint8_t sq[] = {LOCAL_GET(0), SIMD2(0xef)};
  if (run2("f64x2.sqrt", sq, sizeof sq, 0xbff0000000000000ull, QNAN_P, 0, 0, &r)) {
    WT_CHECK((lane64(&r, 0) & ~(1ull << 63)) == 0x7ff8000000000000ull,
             "f64x2.sqrt(-1) is the canonical NaN (got 0x%016llx)",
             (unsigned long long)lane64(&r, 0));
    WT_CHECK(quiet_nan64(lane64(&r, 1)), "f64x2.sqrt(NaN) is a quiet NaN");
  }
}

/* Conversions between f32 and f64 lanes keep a NaN a NaN, quiet, the
 * payload's top bits carried over (IEEE's convertFormat on x86-64). */
static void test_nan_bits_conversions(void) {
  wh_val_t r;
  /* f64 lanes: a quiet NaN with top payload bits 0x12345 << 29, and an
   * sNaN whose payload only has low bits */
  const uint64_t QN = 0x7ff8000000000000ull | (0x12345ull << 29);
  const uint64_t SN_LOW = 0x7ff0000000000001ull;
  const uint8_t dem[] = {LOCAL_GET(0), SIMD1(0x5e)};
  if (run2("f32x4.demote_f64x2_zero", dem, sizeof dem, QN, SN_LOW, 0, 0, &r)) {
    WT_CHECK(quiet_nan32(lane32(&r, 0)) && quiet_nan32(lane32(&r, 1)),
             "demote of NaN lanes gives quiet NaNs (got 0x%08x 0x%08x)",
             lane32(&r, 0), lane32(&r, 1));
    WT_CHECK(lane32(&r, 2) == 0 && lane32(&r, 3) == 0,
             "demote zeroes the two upper lanes");
#if defined(__x86_64__)
    WT_CHECK(lane32(&r, 0) == 0x7fc12345u,
             "demote keeps the top payload bits on x86-64 (got 0x%08x)", lane32(&r, 0));
    WT_CHECK(lane32(&r, 1) == 0x7fc00000u,
             "demote of an sNaN with only low payload bits is the canonical NaN "
             "on x86-64 (got 0x%08x)", lane32(&r, 1));
#endif
  }
  /* f32 lanes 0, 1: qNaN 0xffc12345 (negative), sNaN 0x7f800001 */
  const uint8_t pro[] = {LOCAL_GET(0), SIMD1(0x5f)};
  if (run2("f64x2.promote_low_f32x4", pro, sizeof pro, 0x7f800001ffc12345ull, 0, 0, 0, &r)) {
    WT_CHECK(quiet_nan64(lane64(&r, 0)) && quiet_nan64(lane64(&r, 1)),
             "promote of NaN lanes gives quiet NaNs (got 0x%016llx 0x%016llx)",
             (unsigned long long)lane64(&r, 0), (unsigned long long)lane64(&r, 1));
    WT_CHECK(lane64(&r, 0) >> 63, "promote keeps a NaN's sign");
#if defined(__x86_64__)
    WT_CHECK(lane64(&r, 0) == (0xfff8000000000000ull | (0x12345ull << 29)),
             "promote moves the payload to the top of the f64 payload on x86-64 "
             "(got 0x%016llx)", (unsigned long long)lane64(&r, 0));
    WT_CHECK(lane64(&r, 1) == (0x7ff8000000000000ull | (1ull << 29)),
             "promote quiets an sNaN, payload kept, on x86-64 (got 0x%016llx)",
             (unsigned long long)lane64(&r, 1));
#endif
  }
}

/* ---- saturating conversions at the exact edges ------------------------ */

static uint64_t f32x2(float lo, float hi) {
  uint32_t a, b;
  memcpy(&a, &lo, 4);
  memcpy(&b, &hi, 4);
  return (uint64_t)b << 32 | a;
}
static uint64_t f64b(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}

static void test_saturating_edges(void) {
  wh_val_t r;
  /* s: the largest f32 below 2^31, exactly -2^31, -0.75, +inf */
  const uint8_t s[] = {LOCAL_GET(0), SIMD2(0xf8)};
  if (run2("i32x4.trunc_sat_f32x4_s", s, sizeof s, f32x2(2147483520.0f, -2147483648.0f),
           f32x2(-0.75f, __builtin_inff()), 0, 0, &r))
    WT_CHECK(lane32(&r, 0) == 2147483520u && lane32(&r, 1) == 0x80000000u &&
             lane32(&r, 2) == 0 && lane32(&r, 3) == 0x7fffffffu,
             "trunc_sat_f32x4_s: 2147483520 and -2^31 exact, -0.75 to 0, +inf to "
             "INT32_MAX (got %u %u %u %u)", lane32(&r, 0), lane32(&r, 1),
             lane32(&r, 2), lane32(&r, 3));
  /* u: the largest f32 below 2^32, 2^32, -0.9, +inf */
  const uint8_t u[] = {LOCAL_GET(0), SIMD2(0xf9)};
  if (run2("i32x4.trunc_sat_f32x4_u", u, sizeof u, f32x2(4294967040.0f, 4294967296.0f),
           f32x2(-0.9f, __builtin_inff()), 0, 0, &r))
    WT_CHECK(lane32(&r, 0) == 4294967040u && lane32(&r, 1) == 0xffffffffu &&
             lane32(&r, 2) == 0 && lane32(&r, 3) == 0xffffffffu,
             "trunc_sat_f32x4_u: 4294967040 exact, 2^32 and +inf to UINT32_MAX, "
             "-0.9 to 0 (got %u %u %u %u)", lane32(&r, 0), lane32(&r, 1),
             lane32(&r, 2), lane32(&r, 3));
  /* f64 s_zero: 2147483647.9 truncates into range; -2147483648.9 too;
   * the upper lanes are zero whatever the input's high half */
  const uint8_t sz[] = {LOCAL_GET(0), SIMD2(0xfc)};
  if (run2("i32x4.trunc_sat_f64x2_s_zero", sz, sizeof sz, f64b(2147483647.9),
           f64b(-2147483648.9), 0, 0, &r))
    WT_CHECK(lane32(&r, 0) == 0x7fffffffu && lane32(&r, 1) == 0x80000000u &&
             lane32(&r, 2) == 0 && lane32(&r, 3) == 0,
             "trunc_sat_f64x2_s_zero: 2147483647.9 to INT32_MAX, -2147483648.9 to "
             "INT32_MIN, upper lanes 0 (got 0x%08x 0x%08x 0x%08x 0x%08x)",
             lane32(&r, 0), lane32(&r, 1), lane32(&r, 2), lane32(&r, 3));
  if (run2("i32x4.trunc_sat_f64x2_s_zero", sz, sizeof sz, f64b(-2147483649.0),
           0x7ff8000000000000ull, 0, 0, &r))
    WT_CHECK(lane32(&r, 0) == 0x80000000u && lane32(&r, 1) == 0,
             "trunc_sat_f64x2_s_zero: -2147483649 saturates, NaN is 0 (got 0x%08x 0x%08x)",
             lane32(&r, 0), lane32(&r, 1));
  const uint8_t uz[] = {LOCAL_GET(0), SIMD2(0xfd)};
  if (run2("i32x4.trunc_sat_f64x2_u_zero", uz, sizeof uz, f64b(4294967295.9),
           f64b(-0.99), 0, 0, &r))
    WT_CHECK(lane32(&r, 0) == 0xffffffffu && lane32(&r, 1) == 0,
             "trunc_sat_f64x2_u_zero: 4294967295.9 to UINT32_MAX, -0.99 to 0 "
             "(got 0x%08x 0x%08x)", lane32(&r, 0), lane32(&r, 1));
  /* narrowing: i32 lanes 70000, -1, 65535, 32768 (a) and -40000, 40000,
   * -32768, 32767 (b) */
  const uint64_t alo = (uint64_t)0xffffffffu << 32 | 70000u;
  const uint64_t ahi = (uint64_t)32768u << 32 | 65535u;
  const uint64_t blo = (uint64_t)40000u << 32 | (uint32_t)-40000;
  const uint64_t bhi = (uint64_t)32767u << 32 | (uint32_t)-32768;
  const uint8_t nu[] = {LOCAL_GET(0), LOCAL_GET(1), SIMD2(0x86)};
  if (run2("i16x8.narrow_i32x4_u", nu, sizeof nu, alo, ahi, blo, bhi, &r))
    WT_CHECK(r.of.v128[0] == 0x8000ffff0000ffffull && r.of.v128[1] == 0x7fff00009c400000ull,
             "i16x8.narrow_i32x4_u clamps to [0, 65535] (got 0x%016llx %016llx)",
             (unsigned long long)r.of.v128[1], (unsigned long long)r.of.v128[0]);
  const uint8_t ns[] = {LOCAL_GET(0), LOCAL_GET(1), SIMD2(0x85)};
  if (run2("i16x8.narrow_i32x4_s", ns, sizeof ns, alo, ahi, blo, bhi, &r))
    WT_CHECK(r.of.v128[0] == 0x7fff7fffffff7fffull && r.of.v128[1] == 0x7fff80007fff8000ull,
             "i16x8.narrow_i32x4_s clamps to [-32768, 32767] (got 0x%016llx %016llx)",
             (unsigned long long)r.of.v128[1], (unsigned long long)r.of.v128[0]);
  /* i8x16.narrow_i16x8_u: i16 lanes 256, -1, 255, 128, 0, 32767, -32768, 1 */
  const uint8_t n8[] = {LOCAL_GET(0), LOCAL_GET(1), SIMD1(0x66)};
  if (run2("i8x16.narrow_i16x8_u", n8, sizeof n8, 0x008000ffffff0100ull,
           0x000180007fff0000ull, 0, 0, &r))
    WT_CHECK(r.of.v128[0] == 0x0100ff0080ff00ffull && r.of.v128[1] == 0,
             "i8x16.narrow_i16x8_u clamps to [0, 255] (got 0x%016llx)",
             (unsigned long long)r.of.v128[0]);
}

/* A v128 memory access out of bounds traps with the spec's message and
 * writes nothing; the last in-bounds address works. */
static void test_memory_bounds(void) {
  const uint8_t code[] = {LOCAL_GET(0), SIMD1(0x00), 4, 0};   /* v128.load */
  wt_t t;
  int rc = load_f(&t, "i", "v", code, sizeof code);
  WT_CHECK(rc == 0, "a v128.load function loads (got %s)", wh_errname(rc));
  if (rc == 0) {
    wh_val_t arg = {.type = WH_I32}, res;
    arg.of.i32 = 65536 - 16;
    rc = wh_call(t.exec, wh_instance_func(t.inst, "f"), &arg, 1, &res, 1);
    WT_CHECK(rc == 0 && res.of.v128[0] == 0 && res.of.v128[1] == 0,
             "v128.load of the last 16 bytes of a page works (got %s)", wh_errname(rc));
    arg.of.i32 = 65536 - 15;
    rc = wh_call(t.exec, wh_instance_func(t.inst, "f"), &arg, 1, &res, 1);
    WT_CHECK(rc == WH_ETRAP && strstr(wt_trap_msg(&t), "out of bounds memory access"),
             "v128.load one byte past the end traps (got %s: %s)", wh_errname(rc),
             wt_trap_msg(&t));
  }
  wt_fini(&t);
}

CU_TestInfo wt_tests_simd[] = {
    {"SIMD is refused unless the engine's simd flag is on", test_gate},
    {"shuffle lanes above 31 are rejected", test_shuffle_lanes},
    {"lane indices are bounded by each shape's lane count", test_lane_bounds},
    {"SIMD memargs may not exceed natural alignment", test_alignment},
    {"reserved sub-opcodes are malformed; operand types are checked",
     test_opcodes_and_types},
    {"NaN results: quiet, canonical, payload-preserving where the spec says",
     test_nan_choices},
    {"saturating conversions and narrowing clamp at the edges",
     test_saturating_conversions},
    {"v128 values flow through blocks, locals and select", test_values_flow},
    {"every replace/load/store lane and shuffle index past the shape is invalid",
     test_more_lane_bounds},
    {"store, splat, zero and lane memargs may not exceed natural alignment",
     test_more_alignments},
    {"f64x2 NaN results: quiet, canonical for invalid operations, x86 bits",
     test_nan_bits_f64},
    {"demote and promote keep NaNs quiet with their top payload bits",
     test_nan_bits_conversions},
    {"trunc_sat and narrow at the exact edges of each range", test_saturating_edges},
    {"a v128 access past the end of memory traps", test_memory_bounds},
    CU_TEST_INFO_NULL,
};
