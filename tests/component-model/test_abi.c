/*
 * test_abi.c - wharf-unit-cm-abi: the canonical ABI (component-model/abi.c)
 * through wh_cm_instantiate + wh_cm_call, on components assembled here.
 *
 * Every test builds one component around one generated core module:
 *
 *   component export   core function   what it does
 *   set(p0..pn)        set(flat...)    stores flat param i at SLOTS + 8*i
 *                                      (its own width; a spilled param
 *                                      list arrives as one i32 pointer)
 *   get() -> R         get() -> flat   loads R's one flat value from
 *                                      RESULT, or returns RESULT itself
 *                                      as the pointer of a spilled R
 *   dump(off, len)     dump(i32 i32)   -> list<u8>: a copy of memory
 *   poke(off, bytes)   poke(i32 i32 i32)  memory.copy into memory
 *   mode(m)            mode(i32)       sets realloc's behaviour
 *   (post-return of get)               counts calls at POSTS
 *
 * realloc is a bump allocator that logs every call (old, old size,
 * align, new size) at LOG + 16*k and counts them at NREALLOC; mode 1
 * returns its pointer plus one (misaligned), mode 2 an aligned pointer
 * `align` bytes too close to the end of memory.  The tests read memory back through
 * dump and place guest-side values with poke, so lifting (guest bytes ->
 * wh_cm_val) and lowering (wh_cm_val -> guest bytes) are both checked
 * byte for byte against CanonicalABI.md.
 *
 *   memory (one 64 KiB page):
 *     0x0000 mode   0x0004 NREALLOC   0x0030 POSTS   0x0040 dump's retarea
 *     0x0100 SLOTS (8 bytes per flat param)
 *     0x0400 RESULT   0x0800 LOG (64 entries)   0x1000.. the heap
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>
#include <jansson.h>

#include "wh_cm.h"
#include "wh_engine.h"

#define NREALLOC 0x04
#define POSTS 0x30
#define SLOTS 0x100
#define RESULT 0x400
#define LOG 0x800
#define HEAP 0x1000

static wh_engine_t *engine;
static wh_exec_t *exec_;

/* ---- byte emitter ------------------------------------------------------------ */
typedef struct wb {
  uint8_t *p;
  size_t n, cap;
} wb_t;

static void wb_put(wb_t *o, const void *p, size_t n) {
  if (o->n + n > o->cap) {
    size_t nc = o->cap ? o->cap : 256;
    while (nc < o->n + n) nc *= 2;
    uint8_t *np = realloc(o->p, nc);
    if (!np) abort();
    o->p = np;
    o->cap = nc;
  }
  memcpy(o->p + o->n, p, n);
  o->n += n;
}
static void wb_byte(wb_t *o, uint8_t b) { wb_put(o, &b, 1); }
static void wb_u32(wb_t *o, uint32_t v) {
  do {
    uint8_t b = v & 0x7f;
    v >>= 7;
    wb_byte(o, (uint8_t)(b | (v ? 0x80 : 0)));
  } while (v);
}
static void wb_s32(wb_t *o, int32_t v) {
  for (;;) {
    uint8_t b = v & 0x7f;
    v >>= 7;
    bool done = (v == 0 && !(b & 0x40)) || (v == -1 && (b & 0x40));
    wb_byte(o, (uint8_t)(b | (done ? 0 : 0x80)));
    if (done) return;
  }
}
static void wb_name(wb_t *o, const char *s) {
  wb_u32(o, (uint32_t)strlen(s));
  wb_put(o, s, strlen(s));
}
#define WB(o, ...)                                                           \
  do {                                                                       \
    static const uint8_t b_[] = {__VA_ARGS__};                               \
    wb_put((o), b_, sizeof b_);                                              \
  } while (0)
static void wb_sec(wb_t *o, uint8_t id, wb_t *body) {
  wb_byte(o, id);
  wb_u32(o, (uint32_t)body->n);
  wb_put(o, body->p, body->n);
  body->n = 0;
}

/* ---- the core module ------------------------------------------------------------ */
static uint8_t core_vt(char c) {
  return c == 'I' ? 0x7e : c == 'f' ? 0x7d : c == 'F' ? 0x7c : 0x7f;
}
static uint8_t store_op(char c) {
  return c == 'I' ? 0x37 : c == 'f' ? 0x38 : c == 'F' ? 0x39 : 0x36;
}
static uint8_t load_op(char c) {
  return c == 'I' ? 0x29 : c == 'f' ? 0x2a : c == 'F' ? 0x2b : 0x28;
}
static void functype(wb_t *o, const char *ps, const char *rs) {
  wb_byte(o, 0x60);
  wb_u32(o, (uint32_t)strlen(ps));
  for (const char *c = ps; *c; c++) wb_byte(o, core_vt(*c));
  wb_u32(o, (uint32_t)strlen(rs));
  for (const char *c = rs; *c; c++) wb_byte(o, core_vt(*c));
}
static void i32c(wb_t *o, int32_t v) { wb_byte(o, 0x41); wb_s32(o, v); }
static void body(wb_t *code, wb_t *b) {
  wb_byte(b, 0x0b);
  wb_u32(code, (uint32_t)b->n);
  wb_put(code, b->p, b->n);
  b->n = 0;
}

static void core_module(wb_t *out, const char *set_sig, const char *get_sig, bool get_spill) {
  wb_t s = {0}, b = {0};
  WB(out, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
  wb_u32(&s, 7);
  functype(&s, "iiii", "i");            /* 0 realloc */
  functype(&s, set_sig, "");            /* 1 set */
  functype(&s, "", get_sig);            /* 2 get */
  functype(&s, "ii", "i");              /* 3 dump */
  functype(&s, "iii", "");              /* 4 poke */
  functype(&s, get_sig, "");            /* 5 post */
  functype(&s, "i", "");                /* 6 mode */
  wb_sec(out, 1, &s);
  WB(&s, 7, 0, 1, 2, 3, 4, 5, 6);
  wb_sec(out, 3, &s);
  WB(&s, 1, 0x00, 0x01);                /* memory 1 page */
  wb_sec(out, 5, &s);
  WB(&s, 1, 0x7f, 0x01);                /* global $heap (mut i32) */
  i32c(&s, HEAP);
  wb_byte(&s, 0x0b);
  wb_sec(out, 6, &s);
  static const char *const names[] = {"realloc", "set", "get", "dump", "poke", "post", "mode"};
  wb_u32(&s, 8);
  for (uint32_t i = 0; i < 7; i++) {
    wb_name(&s, names[i]);
    wb_byte(&s, 0x00);
    wb_u32(&s, i);
  }
  wb_name(&s, "mem");
  WB(&s, 0x02, 0x00);
  wb_sec(out, 7, &s);

  wb_u32(&s, 7);
  /* realloc(old 0, old_size 1, align 2, new 3; p 4, base 5) */
  WB(&b, 0x01, 0x02, 0x7f);
  i32c(&b, LOG);
  i32c(&b, NREALLOC);
  WB(&b, 0x28, 0x02, 0x00);             /* i32.load count */
  i32c(&b, 63);
  wb_byte(&b, 0x71);                    /* and */
  i32c(&b, 4);
  WB(&b, 0x74, 0x6a, 0x21, 0x05);       /* shl add local.set base */
  for (uint8_t k = 0; k < 4; k++) {
    uint8_t st[] = {0x20, 0x05, 0x20, k, 0x36, 0x02, (uint8_t)(4 * k)};
    wb_put(&b, st, sizeof st);
  }
  i32c(&b, NREALLOC);
  i32c(&b, NREALLOC);
  WB(&b, 0x28, 0x02, 0x00);
  i32c(&b, 1);
  WB(&b, 0x6a, 0x36, 0x02, 0x00);       /* count++ */
  WB(&b, 0x23, 0x00, 0x20, 0x02, 0x6a); /* heap + align */
  i32c(&b, 1);
  wb_byte(&b, 0x6b);                    /* - 1 */
  i32c(&b, 0);
  WB(&b, 0x20, 0x02, 0x6b, 0x71, 0x21, 0x04);  /* & -align -> p */
  WB(&b, 0x20, 0x04, 0x20, 0x03, 0x6a, 0x24, 0x00);  /* heap = p + new */
  /* if old_size: memory.copy(p, old, min(old_size, new)) */
  WB(&b, 0x20, 0x01, 0x04, 0x40,
     0x20, 0x04, 0x20, 0x00, 0x20, 0x01, 0x20, 0x03, 0x20, 0x01, 0x20, 0x03, 0x49, 0x1b,
     0xfc, 0x0a, 0x00, 0x00, 0x0b);
  i32c(&b, 0);
  WB(&b, 0x28, 0x02, 0x00);
  i32c(&b, 1);
  WB(&b, 0x46, 0x04, 0x40, 0x20, 0x04);  /* mode 1: p + 1 */
  i32c(&b, 1);
  WB(&b, 0x6a, 0x21, 0x04, 0x0b);
  i32c(&b, 0);
  WB(&b, 0x28, 0x02, 0x00);
  i32c(&b, 2);
  WB(&b, 0x46, 0x04, 0x40);             /* mode 2: 65536 - new + align */
  i32c(&b, 65536);
  WB(&b, 0x20, 0x03, 0x6b, 0x20, 0x02, 0x6a, 0x21, 0x04, 0x0b);
  WB(&b, 0x20, 0x04);
  body(&s, &b);
  /* set */
  wb_byte(&b, 0);
  for (uint32_t i = 0; set_sig[i]; i++) {
    i32c(&b, (int32_t)(SLOTS + 8 * i));
    WB(&b, 0x20);
    wb_u32(&b, i);
    wb_byte(&b, store_op(set_sig[i]));
    WB(&b, 0x02, 0x00);
  }
  body(&s, &b);
  /* get */
  wb_byte(&b, 0);
  if (get_sig[0]) {
    i32c(&b, RESULT);
    if (!get_spill) {
      wb_byte(&b, load_op(get_sig[0]));
      WB(&b, 0x02, 0x00);
    }
  }
  body(&s, &b);
  /* dump */
  wb_byte(&b, 0);
  i32c(&b, 0x40);
  WB(&b, 0x20, 0x00, 0x36, 0x02, 0x00);
  i32c(&b, 0x44);
  WB(&b, 0x20, 0x01, 0x36, 0x02, 0x00);
  i32c(&b, 0x40);
  body(&s, &b);
  /* poke */
  WB(&b, 0, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfc, 0x0a, 0x00, 0x00);
  body(&s, &b);
  /* post */
  wb_byte(&b, 0);
  i32c(&b, POSTS);
  i32c(&b, POSTS);
  WB(&b, 0x28, 0x02, 0x00);
  i32c(&b, 1);
  WB(&b, 0x6a, 0x36, 0x02, 0x00);
  body(&s, &b);
  /* mode */
  wb_byte(&b, 0);
  i32c(&b, 0);
  WB(&b, 0x20, 0x00, 0x36, 0x02, 0x00);
  body(&s, &b);
  wb_sec(out, 10, &s);
  free(s.p);
  free(b.p);
}

/* ---- the component ---------------------------------------------------------------- */

/* The exported alias of user type i. */
#define T(i) (2 * (i) + 1)

/* One test component: `types` holds ntypes component type definitions
 * (raw type-section entries, each after a length byte; they and the
 * params name other user types as T(i)); set takes params[nparams] (valtypes: a
 * primitive byte or a type index < 64), whose flattening is set_sig
 * ("iIfF" chars; "i" when spilled); get returns `result` (0: none), whose
 * flattening is get_sig, get_spill when it is returned through memory. */
typedef struct abi_case {
  const uint8_t *types;
  uint32_t ntypes;
  const uint8_t *params;
  uint32_t nparams;
  const char *set_sig;
  uint8_t result;
  const char *get_sig;
  bool get_spill;
  uint8_t enc;                /* 0 utf8, 1 utf16, 2 latin1+utf16 */
} abi_case_t;

static void component(wb_t *out, const abi_case_t *k) {
  wb_t s = {0}, m = {0};
  WB(out, 0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00);
  core_module(&m, k->set_sig, k->get_sig ? k->get_sig : "", k->get_spill);
  wb_sec(out, 1, &m);
  WB(&s, 1, 0x00, 0x00, 0x00);          /* core instance 0 = instantiate module 0 */
  wb_sec(out, 2, &s);
  static const char *const names[] = {"realloc", "set", "get", "dump", "poke", "post", "mode"};
  wb_u32(&s, 8);
  for (uint32_t i = 0; i < 7; i++) {
    WB(&s, 0x00, 0x00, 0x01, 0x00);     /* core func, core export of instance 0 */
    wb_name(&s, names[i]);
  }
  WB(&s, 0x00, 0x02, 0x01, 0x00);
  wb_name(&s, "mem");
  wb_sec(out, 6, &s);
  /* each user type is exported as "tI" right after its definition, so
   * user type I is index 2I and its exported (named) alias 2I+1: T(I) */
  const uint8_t *tp = k->types;
  for (uint32_t i = 0; i < k->ntypes; i++) {
    char tn[16];
    wb_u32(&s, 1);
    wb_put(&s, tp + 1, tp[0]);
    tp += 1 + tp[0];
    wb_sec(out, 7, &s);
    snprintf(tn, sizeof tn, "t%u", i);
    WB(&s, 1, 0x00);
    wb_name(&s, tn);
    wb_byte(&s, 0x03);
    wb_u32(&s, 2 * i);
    wb_byte(&s, 0x00);
    wb_sec(out, 11, &s);
  }
  uint32_t u = 2 * k->ntypes;
  wb_u32(&s, 6);
  WB(&s, 0x70, 0x7d);                   /* u: list<u8> */
  wb_byte(&s, 0x40);                    /* u+1: set */
  wb_u32(&s, k->nparams);
  for (uint32_t i = 0; i < k->nparams; i++) {
    char pn[16];
    snprintf(pn, sizeof pn, "p%u", i);
    wb_name(&s, pn);
    wb_byte(&s, k->params[i]);
  }
  WB(&s, 0x01, 0x00);
  wb_byte(&s, 0x40);                    /* u+2: get */
  wb_byte(&s, 0x00);
  if (k->result) {
    wb_byte(&s, 0x00);
    wb_byte(&s, k->result);
  } else {
    WB(&s, 0x01, 0x00);
  }
  WB(&s, 0x40, 0x02, 0x03, 'o', 'f', 'f', 0x79, 0x03, 'l', 'e', 'n', 0x79, 0x00);
  wb_u32(&s, u);                        /* u+3: dump */
  WB(&s, 0x40, 0x02, 0x03, 'o', 'f', 'f', 0x79, 0x05, 'b', 'y', 't', 'e', 's');
  wb_u32(&s, u);                        /* u+4: poke */
  WB(&s, 0x01, 0x00);
  WB(&s, 0x40, 0x01, 0x01, 'm', 0x79, 0x01, 0x00);  /* u+5: mode */
  wb_sec(out, 7, &s);
  wb_u32(&s, 5);
  for (uint32_t i = 0; i < 5; i++) {
    static const uint8_t core_idx[] = {1, 2, 3, 4, 6};   /* set get dump poke mode */
    WB(&s, 0x00, 0x00);
    wb_u32(&s, core_idx[i]);
    bool post = i == 1;
    wb_u32(&s, post ? 4 : 3);
    wb_byte(&s, k->enc);
    WB(&s, 0x03, 0x00, 0x04, 0x00);
    if (post) WB(&s, 0x05, 0x05);
    wb_u32(&s, u + 1 + i);
  }
  wb_sec(out, 8, &s);
  static const char *const exports[] = {"set", "get", "dump", "poke", "mode"};
  wb_u32(&s, 5);
  for (uint32_t i = 0; i < 5; i++) {
    wb_byte(&s, 0x00);
    wb_name(&s, exports[i]);
    wb_byte(&s, 0x01);
    wb_u32(&s, i);
    wb_byte(&s, 0x00);
  }
  wb_sec(out, 11, &s);
  free(s.p);
  free(m.p);
}

/* ---- fixture ------------------------------------------------------------------------ */
typedef struct fix {
  wh_cm_component_t *c;
  wh_cm_instance_t *inst;
} fix_t;

static bool fix_new(fix_t *f, const abi_case_t *k) {
  wb_t b = {0};
  wh_diag_t d;
  memset(f, 0, sizeof *f);
  component(&b, k);
  f->c = wh_cm_component_new(engine, b.p, b.n, &d);
  free(b.p);
  if (!f->c) {
    fprintf(stderr, "\n  component rejected: %s\n", d.msg);
    return false;
  }
  wh_cm_linker_t *l = wh_cm_linker_new(engine);
  int rc = wh_cm_instantiate(l, f->c, exec_, NULL, &f->inst, &d);
  wh_cm_linker_free(l);
  if (rc) {
    fprintf(stderr, "\n  instantiate failed: %s\n", d.msg);
    wh_cm_component_free(f->c);
    f->c = NULL;
    return false;
  }
  return true;
}

static void fix_free(fix_t *f) {
  wh_cm_instance_free(f->inst);
  wh_cm_component_free(f->c);
}

static const char *trap_of(fix_t *f) { return wh_cm_instance_trap(f->inst); }

static bool trapped_with(fix_t *f, int rc, const char *msg) {
  if (rc == 0) return false;
  if (!strstr(trap_of(f), msg)) {
    fprintf(stderr, "\n  trap \"%s\", wanted \"%s\"\n", trap_of(f), msg);
    return false;
  }
  return true;
}

static int call_set(fix_t *f, const wh_cm_val *args, size_t n) {
  return wh_cm_call(f->inst, "set", args, n, NULL, 0, exec_);
}

static int call_get(fix_t *f, wh_cm_val *out) {
  return wh_cm_call(f->inst, "get", NULL, 0, out, 1, exec_);
}

/* Copies len bytes of guest memory at off into out. */
static bool dump(fix_t *f, uint32_t off, uint32_t len, uint8_t *out) {
  wh_cm_val a[2] = {wh_cm_val_u32(off), wh_cm_val_u32(len)}, r;
  if (wh_cm_call(f->inst, "dump", a, 2, &r, 1, exec_)) return false;
  bool ok = r.kind == WH_CM_V_LIST && r.of.agg.n == len;
  for (uint32_t i = 0; ok && i < len; i++) out[i] = (uint8_t)r.of.agg.v[i].of.u;
  wh_cm_val_fini(&r);
  return ok;
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static uint32_t mem32(fix_t *f, uint32_t off) {
  uint8_t b[4] = {0};
  CU_ASSERT_FATAL(dump(f, off, 4, b));
  return rd32(b);
}
static uint64_t slot(fix_t *f, uint32_t i) {
  uint8_t b[8] = {0};
  CU_ASSERT_FATAL(dump(f, SLOTS + 8 * i, 8, b));
  return rd64(b);
}

static bool poke(fix_t *f, uint32_t off, const void *bytes, uint32_t n) {
  wh_cm_val a[2] = {wh_cm_val_u32(off), {0}};
  if (wh_cm_val_agg(&a[1], WH_CM_V_LIST, n)) return false;
  for (uint32_t i = 0; i < n; i++) a[1].of.agg.v[i] = wh_cm_val_u8(((const uint8_t *)bytes)[i]);
  int rc = wh_cm_call(f->inst, "poke", a, 2, NULL, 0, exec_);
  wh_cm_val_fini(&a[1]);
  return rc == 0;
}
static bool poke32(fix_t *f, uint32_t off, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  return poke(f, off, b, 4);
}
static bool poke64(fix_t *f, uint32_t off, uint64_t v) {
  return poke32(f, off, (uint32_t)v) && poke32(f, off + 4, (uint32_t)(v >> 32));
}

static bool set_mode(fix_t *f, uint32_t m) {
  wh_cm_val a = wh_cm_val_u32(m);
  return wh_cm_call(f->inst, "mode", &a, 1, NULL, 0, exec_) == 0;
}

/* Lifts get()'s result with its flat value (or memory at RESULT) set to
 * `bits`. */
static int get_with(fix_t *f, uint64_t bits, wh_cm_val *out) {
  memset(out, 0, sizeof *out);
  if (!poke64(f, RESULT, bits)) return -1000;
  return call_get(f, out);
}

static wh_cm_val str(const char *s, size_t n) {
  wh_cm_val v;
  if (wh_cm_val_string(&v, s, n)) abort();
  return v;
}

#define CASE(...) (&(abi_case_t){__VA_ARGS__})
#define BYTES(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

/* ---- primitives ---------------------------------------------------------------------- */

/* bool s8 u8 s16 u16 s32 u32 s64 u64 f32 f64 char, one param each. */
static const uint8_t prim_params[] = {0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x7a, 0x79,
                                      0x78, 0x77, 0x76, 0x75, 0x74};

static void test_lower_primitives(void) {
  fix_t f;
  CU_ASSERT_FATAL(fix_new(&f, CASE(.params = prim_params, .nparams = 12,
                                   .set_sig = "iiiiiiiIIfFi")));
  wh_cm_val a[12] = {
    wh_cm_val_bool(true), wh_cm_val_s8(-1), wh_cm_val_u8(255), wh_cm_val_s16(-2),
    wh_cm_val_u16(65535), wh_cm_val_s32(INT32_MIN), wh_cm_val_u32(UINT32_MAX),
    wh_cm_val_s64(-3), wh_cm_val_u64(UINT64_MAX), wh_cm_val_f32(1.5f), wh_cm_val_f64(-2.25),
    wh_cm_val_char(0x1F600),
  };
  CU_ASSERT_EQUAL_FATAL(call_set(&f, a, 12), 0);
  CU_ASSERT_EQUAL(slot(&f, 0), 1);
  /* signed types are sign-extended to the i32 (lower_flat_signed(v, 32)) */
  CU_ASSERT_EQUAL(slot(&f, 1) & 0xffffffff, 0xffffffffu);
  CU_ASSERT_EQUAL(slot(&f, 2) & 0xffffffff, 255);
  CU_ASSERT_EQUAL(slot(&f, 3) & 0xffffffff, 0xfffffffeu);
  CU_ASSERT_EQUAL(slot(&f, 4) & 0xffffffff, 65535);
  CU_ASSERT_EQUAL(slot(&f, 5) & 0xffffffff, 0x80000000u);
  CU_ASSERT_EQUAL(slot(&f, 6) & 0xffffffff, 0xffffffffu);
  CU_ASSERT_EQUAL(slot(&f, 7), (uint64_t)-3);
  CU_ASSERT_EQUAL(slot(&f, 8), UINT64_MAX);
  CU_ASSERT_EQUAL(slot(&f, 9) & 0xffffffff, 0x3fc00000u);
  CU_ASSERT_EQUAL(slot(&f, 10), 0xc002000000000000ull);
  CU_ASSERT_EQUAL(slot(&f, 11) & 0xffffffff, 0x1F600);

  /* values outside their type, or of the wrong kind, are argument errors */
  wh_cm_val bad[12];
  memcpy(bad, a, sizeof bad);
  bad[2].of.u = 256;
  CU_ASSERT_EQUAL(call_set(&f, bad, 12), WH_EINVAL);
  memcpy(bad, a, sizeof bad);
  bad[1].of.s = -129;
  CU_ASSERT_EQUAL(call_set(&f, bad, 12), WH_EINVAL);
  memcpy(bad, a, sizeof bad);
  bad[11] = wh_cm_val_char(0xD800);
  CU_ASSERT_EQUAL(call_set(&f, bad, 12), WH_EINVAL);
  memcpy(bad, a, sizeof bad);
  bad[11] = wh_cm_val_char(0x110000);
  CU_ASSERT_EQUAL(call_set(&f, bad, 12), WH_EINVAL);
  memcpy(bad, a, sizeof bad);
  bad[5] = wh_cm_val_u32(1);
  CU_ASSERT_EQUAL(call_set(&f, bad, 12), WH_EINVAL);
  CU_ASSERT_PTR_NOT_NULL(strstr(trap_of(&f), "expected s32, got u32"));
  CU_ASSERT_EQUAL(call_set(&f, a, 11), WH_EINVAL);
  fix_free(&f);
}

/* One get() -> T component per primitive; lifts of raw bit patterns. */
static void lift_prim(uint8_t t, const char *sig, uint64_t bits, wh_cm_val *out, int *rc,
                      char *trap) {
  fix_t f;
  memset(out, 0, sizeof *out);
  *rc = -1;
  if (!fix_new(&f, CASE(.set_sig = "", .result = t, .get_sig = sig))) return;
  *rc = get_with(&f, bits, out);
  snprintf(trap, 256, "%s", trap_of(&f));
  fix_free(&f);
}

static void test_lift_primitives(void) {
  wh_cm_val v;
  int rc;
  char trap[256];
  /* bool: any non-zero i32 is true */
  lift_prim(0x7f, "i", 2, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.kind == WH_CM_V_BOOL && v.of.b);
  lift_prim(0x7f, "i", 0x80000000u, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.of.b);
  lift_prim(0x7f, "i", 0, &v, &rc, trap);
  CU_ASSERT(rc == 0 && !v.of.b);
  /* narrow integers ignore the high bits of the i32 */
  lift_prim(0x7d, "i", 0x12345681, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.kind == WH_CM_V_U8 && v.of.u == 0x81);
  lift_prim(0x7e, "i", 0x12345681, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.kind == WH_CM_V_S8 && v.of.s == -127);
  lift_prim(0x7b, "i", 0xffff8001u, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.of.u == 0x8001);
  lift_prim(0x7c, "i", 0x00018001u, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.of.s == -32767);
  lift_prim(0x7a, "i", 0xffffffffu, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.of.s == -1);
  lift_prim(0x79, "i", 0xffffffffu, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.of.u == 0xffffffffu);
  lift_prim(0x78, "I", 0x8000000000000000ull, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.of.s == INT64_MIN);
  lift_prim(0x77, "I", 0xfedcba9876543210ull, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.of.u == 0xfedcba9876543210ull);
  /* floats: NaNs are canonicalized on lift */
  lift_prim(0x76, "f", 0x7fa00001u, &v, &rc, trap);
  uint32_t b32 = 0;
  memcpy(&b32, &v.of.f32, 4);
  CU_ASSERT(rc == 0 && v.kind == WH_CM_V_F32 && b32 == 0x7fc00000u);
  lift_prim(0x75, "F", 0xfff0000000000001ull, &v, &rc, trap);
  uint64_t b64 = 0;
  memcpy(&b64, &v.of.f64, 8);
  CU_ASSERT(rc == 0 && v.kind == WH_CM_V_F64 && b64 == 0x7ff8000000000000ull);
  lift_prim(0x75, "F", 0xbff0000000000000ull, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.of.f64 == -1.0);
  /* char: surrogates and values past U+10FFFF trap */
  lift_prim(0x74, "i", 0x10FFFF, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.kind == WH_CM_V_CHAR && v.of.ch == 0x10FFFF);
  lift_prim(0x74, "i", 0xD800, &v, &rc, trap);
  CU_ASSERT(rc == WH_ETRAP && strstr(trap, "invalid `char` bit pattern"));
  lift_prim(0x74, "i", 0xDFFF, &v, &rc, trap);
  CU_ASSERT(rc == WH_ETRAP);
  lift_prim(0x74, "i", 0x110000, &v, &rc, trap);
  CU_ASSERT(rc == WH_ETRAP && strstr(trap, "invalid `char` bit pattern"));
  lift_prim(0x74, "i", 0xE000, &v, &rc, trap);
  CU_ASSERT(rc == 0 && v.of.ch == 0xE000);
}

/* ---- strings ---------------------------------------------------------------------------- */

static void test_string_lower_utf8(void) {
  fix_t f;
  CU_ASSERT_FATAL(fix_new(&f, CASE(.params = (const uint8_t[]){0x73}, .nparams = 1,
                                   .set_sig = "ii")));
  wh_cm_val s = str("h\xc3\xa9llo \xf0\x9f\x98\x80", 11);
  CU_ASSERT_EQUAL_FATAL(call_set(&f, &s, 1), 0);
  uint32_t p = (uint32_t)slot(&f, 0), n = (uint32_t)slot(&f, 1);
  CU_ASSERT_EQUAL(n, 11);
  uint8_t b[11];
  CU_ASSERT(dump(&f, p, n, b) && memcmp(b, s.of.str.ptr, 11) == 0);
  /* realloc(0, 0, 1, 11) */
  uint8_t lg[16];
  uint32_t k = mem32(&f, NREALLOC);
  CU_ASSERT_FATAL(k >= 1 && dump(&f, LOG + 16 * ((k - 1) % 64), 16, lg));
  CU_ASSERT(rd32(lg) == 0 && rd32(lg + 4) == 0 && rd32(lg + 8) == 1 && rd32(lg + 12) == 11);
  wh_cm_val_fini(&s);
  /* invalid UTF-8 from the host is an argument error, not a trap */
  s = str("a\xc0\x80", 3);
  CU_ASSERT_EQUAL(call_set(&f, &s, 1), WH_EINVAL);
  wh_cm_val_fini(&s);
  s = str("\xed\xa0\x80", 3);   /* an encoded surrogate */
  CU_ASSERT_EQUAL(call_set(&f, &s, 1), WH_EINVAL);
  wh_cm_val_fini(&s);
  /* the empty string */
  s = str("", 0);
  CU_ASSERT_EQUAL(call_set(&f, &s, 1), 0);
  CU_ASSERT_EQUAL(slot(&f, 1), 0);
  wh_cm_val_fini(&s);
  fix_free(&f);
}

/* get() -> string with the guest's (ptr, tagged length) at RESULT and
 * the bytes at HEAP + 0x800. */
static int lift_string(uint8_t enc, const void *bytes, uint32_t nbytes, uint32_t ptr_delta,
                       uint32_t tagged, wh_cm_val *out, char *trap) {
  fix_t f;
  memset(out, 0, sizeof *out);
  if (!fix_new(&f, CASE(.set_sig = "", .result = 0x73, .get_sig = "i", .get_spill = true,
                        .enc = enc)))
    return -1;
  int rc = -1;
  uint32_t at = HEAP + 0x800;
  if (poke(&f, at, bytes, nbytes) && poke32(&f, RESULT, at + ptr_delta) &&
      poke32(&f, RESULT + 4, tagged)) {
    rc = call_get(&f, out);
    snprintf(trap, 256, "%s", trap_of(&f));
  }
  fix_free(&f);
  return rc;
}

static void test_string_lift(void) {
  wh_cm_val v;
  char trap[256];
  /* utf8 */
  CU_ASSERT_EQUAL(lift_string(0, "caf\xc3\xa9", 5, 0, 5, &v, trap), 0);
  CU_ASSERT(v.kind == WH_CM_V_STRING && v.of.str.len == 5 && memcmp(v.of.str.ptr, "caf\xc3\xa9", 5) == 0);
  wh_cm_val_fini(&v);
  CU_ASSERT_EQUAL(lift_string(0, "a\xff", 2, 0, 2, &v, trap), WH_ETRAP);
  CU_ASSERT_PTR_NOT_NULL(strstr(trap, "invalid utf-8"));
  CU_ASSERT_EQUAL(lift_string(0, "ab\xe2\x82", 4, 0, 4, &v, trap), WH_ETRAP);
  CU_ASSERT_PTR_NOT_NULL(strstr(trap, "utf-8"));
  CU_ASSERT_EQUAL(lift_string(0, "\xed\xb0\x80", 3, 0, 3, &v, trap), WH_ETRAP);
  /* out of bounds: length past the end of memory */
  CU_ASSERT_EQUAL(lift_string(0, "x", 1, 0, 0x10000, &v, trap), WH_ETRAP);
  CU_ASSERT_PTR_NOT_NULL(strstr(trap, "out-of-bounds"));
  /* utf16: "h", U+00E9, U+1F600 as a pair */
  static const uint8_t u16[] = {'h', 0, 0xe9, 0, 0x3d, 0xd8, 0x00, 0xde};
  CU_ASSERT_EQUAL(lift_string(1, u16, 8, 0, 4, &v, trap), 0);
  CU_ASSERT(v.of.str.len == 7 && memcmp(v.of.str.ptr, "h\xc3\xa9\xf0\x9f\x98\x80", 7) == 0);
  wh_cm_val_fini(&v);
  /* an unpaired high surrogate at the end, a lone low surrogate */
  CU_ASSERT_EQUAL(lift_string(1, u16, 6, 0, 3, &v, trap), WH_ETRAP);
  CU_ASSERT_PTR_NOT_NULL(strstr(trap, "unpaired surrogate"));
  static const uint8_t lone[] = {0x00, 0xdc, 'a', 0};
  CU_ASSERT_EQUAL(lift_string(1, lone, 4, 0, 2, &v, trap), WH_ETRAP);
  /* utf16 pointers must be 2-aligned */
  CU_ASSERT_EQUAL(lift_string(1, u16, 8, 1, 2, &v, trap), WH_ETRAP);
  CU_ASSERT_PTR_NOT_NULL(strstr(trap, "unaligned"));
  /* latin1+utf16: untagged is Latin-1, tagged UTF-16 */
  static const uint8_t l1[] = {'n', 0xe4, 'i', 0xff};
  CU_ASSERT_EQUAL(lift_string(2, l1, 4, 0, 4, &v, trap), 0);
  CU_ASSERT(v.of.str.len == 6 && memcmp(v.of.str.ptr, "n\xc3\xa4i\xc3\xbf", 6) == 0);
  wh_cm_val_fini(&v);
  CU_ASSERT_EQUAL(lift_string(2, u16, 8, 0, 4 | 0x80000000u, &v, trap), 0);
  CU_ASSERT(v.of.str.len == 7);
  wh_cm_val_fini(&v);
  CU_ASSERT_EQUAL(lift_string(2, u16, 8, 0, 3 | 0x80000000u, &v, trap), WH_ETRAP);
  /* the empty string, with any pointer in bounds */
  CU_ASSERT_EQUAL(lift_string(0, "", 0, 0, 0, &v, trap), 0);
  CU_ASSERT(v.kind == WH_CM_V_STRING && v.of.str.len == 0);
  wh_cm_val_fini(&v);
}

/* Lowers `s` into a component using encoding `enc`; returns the guest's
 * (ptr, tagged length) and copies the bytes. */
static void lower_string(uint8_t enc, const char *s, uint32_t *tagged, uint8_t *bytes,
                         uint32_t *nbytes, uint32_t *nrealloc, uint8_t log[][16]) {
  fix_t f;
  *tagged = 0;
  *nbytes = 0;
  CU_ASSERT_FATAL(fix_new(&f, CASE(.params = (const uint8_t[]){0x73}, .nparams = 1,
                                   .set_sig = "ii", .enc = enc)));
  uint32_t before = mem32(&f, NREALLOC);
  wh_cm_val v = str(s, strlen(s));
  CU_ASSERT_EQUAL_FATAL(call_set(&f, &v, 1), 0);
  wh_cm_val_fini(&v);
  uint32_t p = (uint32_t)slot(&f, 0);
  *tagged = (uint32_t)slot(&f, 1);
  uint32_t units = *tagged & 0x7fffffff;
  *nbytes = (enc == 1 || (enc == 2 && (*tagged & 0x80000000u))) ? 2 * units : units;
  if (*nbytes) CU_ASSERT(dump(&f, p, *nbytes, bytes));
  if (enc) CU_ASSERT_EQUAL(p % 2, 0);
  *nrealloc = mem32(&f, NREALLOC) - before;
  for (uint32_t i = 0; i < *nrealloc && i < 4; i++)
    CU_ASSERT(dump(&f, LOG + 16 * ((before + i) % 64), 16, log[i]));
  fix_free(&f);
}

static void test_string_transcode(void) {
  uint32_t tagged, n, nr;
  uint8_t b[64], log[4][16];
  /* utf8 -> utf16: worst case 2 bytes a UTF-8 byte, then shrunk */
  lower_string(1, "h\xc3\xa9\xf0\x9f\x98\x80", &tagged, b, &n, &nr, log);
  CU_ASSERT_EQUAL(tagged, 4);
  static const uint8_t u16[] = {'h', 0, 0xe9, 0, 0x3d, 0xd8, 0x00, 0xde};
  CU_ASSERT(n == 8 && memcmp(b, u16, 8) == 0);
  CU_ASSERT_EQUAL(nr, 2);
  CU_ASSERT(rd32(log[0] + 8) == 2 && rd32(log[0] + 12) == 14);
  CU_ASSERT(rd32(log[1] + 4) == 14 && rd32(log[1] + 12) == 8);
  /* ASCII into utf16: no shrink needed */
  lower_string(1, "abc", &tagged, b, &n, &nr, log);
  CU_ASSERT(tagged == 3 && nr == 1 && memcmp(b, "a\0b\0c\0", 6) == 0);
  /* latin1+utf16: fits Latin-1 -> bytes, untagged, shrunk from the UTF-8 length */
  lower_string(2, "n\xc3\xa4i", &tagged, b, &n, &nr, log);
  CU_ASSERT(tagged == 3 && memcmp(b, "n\xe4i", 3) == 0);
  CU_ASSERT_EQUAL(nr, 2);
  CU_ASSERT(rd32(log[0] + 8) == 2 && rd32(log[0] + 12) == 4 && rd32(log[1] + 12) == 3);
  /* pure ASCII stays one allocation */
  lower_string(2, "abc", &tagged, b, &n, &nr, log);
  CU_ASSERT(tagged == 3 && nr == 1 && memcmp(b, "abc", 3) == 0);
  /* outside Latin-1 -> UTF-16, tagged */
  lower_string(2, "a\xe2\x82\xac", &tagged, b, &n, &nr, log);
  CU_ASSERT_EQUAL(tagged, 2 | 0x80000000u);
  CU_ASSERT(n == 4 && memcmp(b, "a\0\xac\x20", 4) == 0);
  /* the empty string in every encoding */
  for (uint8_t e = 0; e < 3; e++) {
    lower_string(e, "", &tagged, b, &n, &nr, log);
    CU_ASSERT_EQUAL(tagged, 0);
  }
}

/* ---- realloc results -------------------------------------------------------------------- */

static void test_realloc_checks(void) {
  fix_t f;
  static const uint8_t types[] = {2, 0x70, 0x78};    /* 0: list<s64> */
  CU_ASSERT_FATAL(fix_new(&f, CASE(.types = types, .ntypes = 1,
                                   .params = (const uint8_t[]){T(0)}, .nparams = 1,
                                   .set_sig = "ii")));
  wh_cm_val l;
  CU_ASSERT_FATAL(wh_cm_val_agg(&l, WH_CM_V_LIST, 2) == 0);
  l.of.agg.v[0] = wh_cm_val_s64(-1);
  l.of.agg.v[1] = wh_cm_val_s64(7);
  CU_ASSERT_EQUAL(call_set(&f, &l, 1), 0);
  uint32_t p = (uint32_t)slot(&f, 0);
  CU_ASSERT_EQUAL(p % 8, 0);
  CU_ASSERT_EQUAL(slot(&f, 1), 2);
  uint8_t b[16];
  CU_ASSERT(dump(&f, p, 16, b) && rd64(b) == UINT64_MAX && rd64(b + 8) == 7);
  /* misaligned */
  CU_ASSERT_FATAL(set_mode(&f, 1));
  CU_ASSERT(trapped_with(&f, call_set(&f, &l, 1), "realloc return: result not aligned"));
  /* one byte past the end */
  CU_ASSERT_FATAL(set_mode(&f, 2));
  CU_ASSERT(trapped_with(&f, call_set(&f, &l, 1), "realloc return: beyond end of memory"));
  /* strings check the same */
  wh_cm_val_fini(&l);
  fix_free(&f);

  CU_ASSERT_FATAL(fix_new(&f, CASE(.params = (const uint8_t[]){0x73}, .nparams = 1,
                                   .set_sig = "ii", .enc = 1)));
  wh_cm_val s = str("abc", 3);
  CU_ASSERT_FATAL(set_mode(&f, 1));
  CU_ASSERT(trapped_with(&f, call_set(&f, &s, 1), "realloc return: result not aligned"));
  CU_ASSERT_FATAL(set_mode(&f, 2));
  CU_ASSERT(trapped_with(&f, call_set(&f, &s, 1), "realloc return: beyond end of memory"));
  CU_ASSERT_FATAL(set_mode(&f, 0));
  CU_ASSERT_EQUAL(call_set(&f, &s, 1), 0);
  wh_cm_val_fini(&s);
  fix_free(&f);
}

/* ---- lists and records ------------------------------------------------------------------ */

static void test_lists(void) {
  fix_t f;
  /* 0: record { a: u8, b: u64, c: u16 } (align 8, size 24: a@0 b@8 c@16)
   * 1: list<0>  2: list<u8> */
  static const uint8_t types[] = {11, 0x72, 3, 1, 'a', 0x7d, 1, 'b', 0x77, 1, 'c', 0x7b,
                                  2, 0x70, T(0), 2, 0x70, 0x7d};
  CU_ASSERT_FATAL(fix_new(&f, CASE(.types = types, .ntypes = 3,
                                   .params = (const uint8_t[]){T(1), T(2)}, .nparams = 2,
                                   .set_sig = "iiii", .result = T(1), .get_sig = "i",
                                   .get_spill = true)));
  wh_cm_val a[2];
  CU_ASSERT_FATAL(wh_cm_val_agg(&a[0], WH_CM_V_LIST, 2) == 0);
  for (uint32_t i = 0; i < 2; i++) {
    wh_cm_val *r = &a[0].of.agg.v[i];
    CU_ASSERT_FATAL(wh_cm_val_agg(r, WH_CM_V_RECORD, 3) == 0);
    r->of.agg.v[0] = wh_cm_val_u8((uint8_t)(0x10 + i));
    r->of.agg.v[1] = wh_cm_val_u64(0x0102030405060708ull * (i + 1));
    r->of.agg.v[2] = wh_cm_val_u16((uint16_t)(0xabc0 + i));
  }
  CU_ASSERT_FATAL(wh_cm_val_agg(&a[1], WH_CM_V_LIST, 0) == 0);   /* empty */
  CU_ASSERT_EQUAL_FATAL(call_set(&f, a, 2), 0);
  uint32_t p = (uint32_t)slot(&f, 0);
  CU_ASSERT_EQUAL(p % 8, 0);
  CU_ASSERT_EQUAL(slot(&f, 1), 2);
  CU_ASSERT_EQUAL(slot(&f, 3), 0);
  uint8_t b[48];
  CU_ASSERT_FATAL(dump(&f, p, 48, b));
  CU_ASSERT(b[0] == 0x10 && rd64(b + 8) == 0x0102030405060708ull && rd32(b + 16) % 65536 == 0xabc0);
  CU_ASSERT(b[24] == 0x11 && rd64(b + 32) == 0x020406080a0c0e10ull);

  /* lift it back: (ptr, len) at RESULT */
  CU_ASSERT(poke32(&f, RESULT, p) && poke32(&f, RESULT + 4, 2));
  wh_cm_val r;
  CU_ASSERT_EQUAL_FATAL(call_get(&f, &r), 0);
  CU_ASSERT(wh_cm_val_eq(&r, &a[0]));
  wh_cm_val_fini(&r);
  /* a misaligned list pointer traps */
  CU_ASSERT(poke32(&f, RESULT, p + 4));
  CU_ASSERT(trapped_with(&f, call_get(&f, &r), "unaligned pointer"));
  /* so does a list running past the end of memory */
  CU_ASSERT(poke32(&f, RESULT, 65536 - 24) && poke32(&f, RESULT + 4, 2));
  CU_ASSERT(trapped_with(&f, call_get(&f, &r), "out-of-bounds"));
  /* an empty list with any aligned in-bounds pointer */
  CU_ASSERT(poke32(&f, RESULT, 8) && poke32(&f, RESULT + 4, 0));
  CU_ASSERT_EQUAL(call_get(&f, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_LIST && r.of.agg.n == 0);
  wh_cm_val_fini(&r);
  /* post-return ran once for every get that returned */
  CU_ASSERT_EQUAL(mem32(&f, POSTS), 2);
  /* a record with a missing field does not lower */
  wh_cm_val_fini(&a[0].of.agg.v[1].of.agg.v[2]);
  a[0].of.agg.v[1].of.agg.n = 2;
  CU_ASSERT_EQUAL(call_set(&f, a, 2), WH_EINVAL);
  a[0].of.agg.v[1].of.agg.n = 3;
  wh_cm_val_fini(&a[0]);
  wh_cm_val_fini(&a[1]);
  fix_free(&f);
}

/* ---- variants ----------------------------------------------------------------------------- */

static void test_variant_flattening(void) {
  fix_t f;
  /* 0: tuple<f32, u32>
   * 1: variant { a(f32), b(u64), c(f64), d(u32), e, g(tuple<f32, u32>) }
   *    flattens to i32 (disc), join(f32,i64,f64,i32,f32) = i64, join(i32) = i32
   * 2: option<f32> -> i32 f32;  3: result<u32, f32> -> i32 i32 */
  static const uint8_t types[] = {
    4, 0x6f, 2, 0x76, 0x79,
    31, 0x71, 6, 1, 'a', 0x01, 0x76, 0x00, 1, 'b', 0x01, 0x77, 0x00, 1, 'c', 0x01, 0x75, 0x00,
    1, 'd', 0x01, 0x79, 0x00, 1, 'e', 0x00, 0x00, 1, 'g', 0x01, T(0), 0x00,
    2, 0x6b, 0x76, 5, 0x6a, 0x01, 0x79, 0x01, 0x76};
  CU_ASSERT_FATAL(fix_new(&f, CASE(.types = types, .ntypes = 4,
                                   .params = (const uint8_t[]){T(1), T(2), T(3)}, .nparams = 3,
                                   .set_sig = "iIiifii", .result = T(1), .get_sig = "i",
                                   .get_spill = true)));
  wh_cm_val pl = wh_cm_val_f32(-0.5f), a[3];
  CU_ASSERT_FATAL(wh_cm_val_case(&a[0], WH_CM_V_VARIANT, 0, &pl) == 0);
  pl = wh_cm_val_f32(2.0f);
  CU_ASSERT_FATAL(wh_cm_val_case(&a[1], WH_CM_V_OPTION, 1, &pl) == 0);
  pl = wh_cm_val_f32(1.0f);
  CU_ASSERT_FATAL(wh_cm_val_case(&a[2], WH_CM_V_RESULT, 1, &pl) == 0);
  CU_ASSERT_EQUAL_FATAL(call_set(&f, a, 3), 0);
  CU_ASSERT_EQUAL(slot(&f, 0) & 0xffffffff, 0);
  CU_ASSERT_EQUAL(slot(&f, 1), 0xbf000000u);     /* f32 bits zero-extended to i64 */
  CU_ASSERT_EQUAL(slot(&f, 2) & 0xffffffff, 0);  /* padding */
  CU_ASSERT_EQUAL(slot(&f, 3) & 0xffffffff, 1);
  CU_ASSERT_EQUAL(slot(&f, 4) & 0xffffffff, 0x40000000u);
  CU_ASSERT_EQUAL(slot(&f, 5) & 0xffffffff, 1);
  CU_ASSERT_EQUAL(slot(&f, 6) & 0xffffffff, 0x3f800000u);  /* f32 as i32 */
  for (int i = 0; i < 3; i++) wh_cm_val_fini(&a[i]);
  /* c(f64) travels as i64 bits, g's tuple fills both slots */
  pl = wh_cm_val_f64(3.5);
  CU_ASSERT_FATAL(wh_cm_val_case(&a[0], WH_CM_V_VARIANT, 2, &pl) == 0);
  CU_ASSERT_FATAL(wh_cm_val_case(&a[1], WH_CM_V_OPTION, 0, NULL) == 0);
  pl = wh_cm_val_u32(9);
  CU_ASSERT_FATAL(wh_cm_val_case(&a[2], WH_CM_V_RESULT, 0, &pl) == 0);
  CU_ASSERT_EQUAL_FATAL(call_set(&f, a, 3), 0);
  CU_ASSERT_EQUAL(slot(&f, 1), 0x400c000000000000ull);
  CU_ASSERT_EQUAL(slot(&f, 3) & 0xffffffff, 0);
  CU_ASSERT_EQUAL(slot(&f, 6) & 0xffffffff, 9);
  wh_cm_val_fini(&a[0]);
  wh_cm_val tup;
  CU_ASSERT_FATAL(wh_cm_val_agg(&tup, WH_CM_V_TUPLE, 2) == 0);
  tup.of.agg.v[0] = wh_cm_val_f32(1.0f);
  tup.of.agg.v[1] = wh_cm_val_u32(0xdeadbeef);
  CU_ASSERT_FATAL(wh_cm_val_case(&a[0], WH_CM_V_VARIANT, 5, &tup) == 0);
  CU_ASSERT_EQUAL_FATAL(call_set(&f, a, 3), 0);
  CU_ASSERT_EQUAL(slot(&f, 0) & 0xffffffff, 5);
  CU_ASSERT_EQUAL(slot(&f, 1), 0x3f800000u);
  CU_ASSERT_EQUAL(slot(&f, 2) & 0xffffffff, 0xdeadbeefu);
  /* a case index out of range, or a payload on a case without one */
  a[0].of.var.idx = 6;
  CU_ASSERT_EQUAL(call_set(&f, a, 3), WH_EINVAL);
  a[0].of.var.idx = 4;
  CU_ASSERT_EQUAL(call_set(&f, a, 3), WH_EINVAL);
  a[0].of.var.idx = 5;
  for (int i = 0; i < 3; i++) wh_cm_val_fini(&a[i]);

  /* lifting from memory: the variant is 16 bytes, disc@0, payload@8 */
  wh_cm_val r;
  uint8_t mem[16] = {3, 0, 0, 0, 0, 0, 0, 0, 0x78, 0x56, 0x34, 0x12, 0xff, 0xff, 0xff, 0xff};
  CU_ASSERT_FATAL(poke(&f, RESULT, mem, 16));
  CU_ASSERT_EQUAL_FATAL(call_get(&f, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_VARIANT && r.of.var.idx == 3 && r.of.var.payload &&
            r.of.var.payload->kind == WH_CM_V_U32 && r.of.var.payload->of.u == 0x12345678);
  wh_cm_val_fini(&r);
  mem[0] = 6;
  CU_ASSERT_FATAL(poke(&f, RESULT, mem, 16));
  CU_ASSERT(trapped_with(&f, call_get(&f, &r), "invalid variant discriminant"));
  mem[0] = 0;   /* a(f32): a NaN payload comes back canonical */
  mem[8] = 0x01; mem[9] = 0x00; mem[10] = 0xa0; mem[11] = 0x7f;
  CU_ASSERT_FATAL(poke(&f, RESULT, mem, 16));
  CU_ASSERT_EQUAL_FATAL(call_get(&f, &r), 0);
  uint32_t bits = 0;
  if (r.of.var.payload) memcpy(&bits, &r.of.var.payload->of.f32, 4);
  CU_ASSERT_EQUAL(bits, 0x7fc00000u);
  wh_cm_val_fini(&r);
  fix_free(&f);
}

static void test_enum_option_result(void) {
  fix_t f;
  /* 0: enum { x, y, z } (flat i32) */
  static const uint8_t en[] = {8, 0x6d, 3, 1, 'x', 1, 'y', 1, 'z'};
  CU_ASSERT_FATAL(fix_new(&f, CASE(.types = en, .ntypes = 1,
                                   .params = (const uint8_t[]){T(0)}, .nparams = 1,
                                   .set_sig = "i", .result = T(0), .get_sig = "i")));
  wh_cm_val v = wh_cm_val_enum(2), r;
  CU_ASSERT_EQUAL(call_set(&f, &v, 1), 0);
  CU_ASSERT_EQUAL(slot(&f, 0) & 0xffffffff, 2);
  v = wh_cm_val_enum(3);
  CU_ASSERT_EQUAL(call_set(&f, &v, 1), WH_EINVAL);
  CU_ASSERT_EQUAL(get_with(&f, 1, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_ENUM && r.of.var.idx == 1);
  CU_ASSERT(trapped_with(&f, get_with(&f, 3, &r), "invalid variant discriminant"));
  CU_ASSERT(trapped_with(&f, get_with(&f, 0xffffffffu, &r), "invalid variant discriminant"));
  fix_free(&f);

  /* 0: option<string>  1: result<_, u8>  2: option<u8>  3: option<option<u8>>
   * get() -> tuple<0, 1, 3> in memory: option<string> 12 bytes (disc@0,
   * string@4), result<_, u8> 2 bytes @12, option<option<u8>> 3 bytes @14 */
  static const uint8_t ty[] = {2, 0x6b, 0x73, 4, 0x6a, 0x00, 0x01, 0x7d, 2, 0x6b, 0x7d,
                               2, 0x6b, T(2), 5, 0x6f, 3, T(0), T(1), T(3)};
  CU_ASSERT_FATAL(fix_new(&f, CASE(.types = ty, .ntypes = 5,
                                   .params = (const uint8_t[]){T(0), T(1), T(3)}, .nparams = 3,
                                   .set_sig = "iiiiiiii", .result = T(4), .get_sig = "i",
                                   .get_spill = true)));
  wh_cm_val a[3], pl = str("yo", 2), in;
  CU_ASSERT_FATAL(wh_cm_val_case(&a[0], WH_CM_V_OPTION, 1, &pl) == 0);
  pl = wh_cm_val_u8(200);
  CU_ASSERT_FATAL(wh_cm_val_case(&a[1], WH_CM_V_RESULT, 1, &pl) == 0);
  pl = wh_cm_val_u8(7);
  CU_ASSERT_FATAL(wh_cm_val_case(&in, WH_CM_V_OPTION, 1, &pl) == 0);
  CU_ASSERT_FATAL(wh_cm_val_case(&a[2], WH_CM_V_OPTION, 1, &in) == 0);
  CU_ASSERT_EQUAL_FATAL(call_set(&f, a, 3), 0);
  CU_ASSERT_EQUAL(slot(&f, 0) & 0xffffffff, 1);
  CU_ASSERT_EQUAL(slot(&f, 2) & 0xffffffff, 2);
  CU_ASSERT_EQUAL(slot(&f, 3) & 0xffffffff, 1);
  CU_ASSERT_EQUAL(slot(&f, 4) & 0xffffffff, 200);
  CU_ASSERT_EQUAL(slot(&f, 5) & 0xffffffff, 1);
  CU_ASSERT_EQUAL(slot(&f, 6) & 0xffffffff, 1);
  CU_ASSERT_EQUAL(slot(&f, 7) & 0xffffffff, 7);
  uint32_t sp = (uint32_t)slot(&f, 1);
  /* the same values in memory */
  uint8_t m[17] = {1, 0, 0, 0, (uint8_t)sp, (uint8_t)(sp >> 8), 0, 0, 2, 0, 0, 0,
                   1, 200, 1, 1, 7};
  CU_ASSERT_FATAL(poke(&f, RESULT, m, sizeof m));
  CU_ASSERT_EQUAL_FATAL(call_get(&f, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_TUPLE && r.of.agg.n == 3);
  for (uint32_t i = 0; r.kind == WH_CM_V_TUPLE && i < 3; i++)
    CU_ASSERT(wh_cm_val_eq(&r.of.agg.v[i], &a[i]));
  wh_cm_val_fini(&r);
  /* option discriminant 2, result discriminant 2: traps */
  m[0] = 2;
  CU_ASSERT_FATAL(poke(&f, RESULT, m, sizeof m));
  CU_ASSERT(trapped_with(&f, call_get(&f, &r), "invalid variant discriminant"));
  m[0] = 0;
  m[12] = 2;
  CU_ASSERT_FATAL(poke(&f, RESULT, m, sizeof m));
  CU_ASSERT(trapped_with(&f, call_get(&f, &r), "invalid variant discriminant"));
  m[12] = 0;
  m[15] = 9;   /* the inner option */
  CU_ASSERT_FATAL(poke(&f, RESULT, m, sizeof m));
  CU_ASSERT(trapped_with(&f, call_get(&f, &r), "invalid variant discriminant"));
  for (int i = 0; i < 3; i++) wh_cm_val_fini(&a[i]);
  fix_free(&f);
}

/* ---- flags ---------------------------------------------------------------------------------- */

/* A flags type with labels f0..f<n-1>, after its length byte. */
static void flags_type(wb_t *o, uint32_t n) {
  size_t at = o->n;
  wb_byte(o, 0);
  wb_byte(o, 0x6e);
  wb_u32(o, n);
  for (uint32_t i = 0; i < n; i++) {
    char nm[16];
    snprintf(nm, sizeof nm, "f%u", i);
    wb_name(o, nm);
  }
  o->p[at] = (uint8_t)(o->n - at - 1);
}

static void test_flags(void) {
  /* 0: flags(9)  1: flags(17)  2: flags(32)  3: tuple<0, 1, 2> (12 bytes) */
  wb_t t = {0};
  flags_type(&t, 9);
  flags_type(&t, 17);
  flags_type(&t, 32);
  WB(&t, 5, 0x6f, 3, T(0), T(1), T(2));
  fix_t f;
  CU_ASSERT_FATAL(fix_new(&f, CASE(.types = t.p, .ntypes = 4,
                                   .params = (const uint8_t[]){T(0), T(1), T(2)}, .nparams = 3,
                                   .set_sig = "iii", .result = T(3), .get_sig = "i",
                                   .get_spill = true)));
  wh_cm_val a[3], r;
  static const uint32_t n[3] = {9, 17, 32};
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_FATAL(wh_cm_val_flags(&a[i], n[i]) == 0);
    wh_cm_val_flag_set(&a[i], 0, true);
    wh_cm_val_flag_set(&a[i], n[i] - 1, true);
  }
  CU_ASSERT_EQUAL_FATAL(call_set(&f, a, 3), 0);
  CU_ASSERT_EQUAL(slot(&f, 0) & 0xffffffff, 0x101);
  CU_ASSERT_EQUAL(slot(&f, 1) & 0xffffffff, 0x10001);
  CU_ASSERT_EQUAL(slot(&f, 2) & 0xffffffff, 0x80000001u);
  /* in memory: 2 + 2 (pad) + 4 + 4 bytes; bits past the last flag ignored */
  uint8_t m[12] = {0x01, 0xff, 0, 0, 0x01, 0x00, 0xff, 0xff, 0x01, 0, 0, 0x80};
  CU_ASSERT_FATAL(poke(&f, RESULT, m, sizeof m));
  CU_ASSERT_EQUAL_FATAL(call_get(&f, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_TUPLE && r.of.agg.n == 3);
  for (uint32_t i = 0; r.kind == WH_CM_V_TUPLE && i < 3; i++)
    CU_ASSERT(wh_cm_val_eq(&r.of.agg.v[i], &a[i]));
  wh_cm_val_fini(&r);
  for (int i = 0; i < 3; i++) wh_cm_val_fini(&a[i]);
  fix_free(&f);

  /* more than 32 flags (33 and 65 labels) is invalid in this version of
   * the spec (Binary.md: 0 < |l*| <= 32) */
  for (uint32_t k = 33; k <= 65; k += 32) {
    t.n = 0;
    flags_type(&t, k);
    wb_t b = {0};
    component(&b, CASE(.types = t.p, .ntypes = 1,
                       .params = (const uint8_t[]){T(0)}, .nparams = 1, .set_sig = "i"));
    wh_diag_t d;
    wh_cm_component_t *c = wh_cm_component_new(engine, b.p, b.n, &d);
    CU_ASSERT_PTR_NULL(c);
    if (!c) CU_ASSERT(d.code == WH_EINVALID && strstr(d.msg, "32 flags"));
    wh_cm_component_free(c);
    free(b.p);
  }
  free(t.p);
}

/* ---- MAX_FLAT_PARAMS / MAX_FLAT_RESULTS ---------------------------------------------------- */

static void test_flat_limits(void) {
  fix_t f;
  uint8_t ps[17];
  memset(ps, 0x79, sizeof ps);
  /* 16 u32 params stay flat */
  CU_ASSERT_FATAL(fix_new(&f, CASE(.params = ps, .nparams = 16, .set_sig = "iiiiiiiiiiiiiiii")));
  wh_cm_val a[17];
  for (uint32_t i = 0; i < 17; i++) a[i] = wh_cm_val_u32(100 + i);
  CU_ASSERT_EQUAL_FATAL(call_set(&f, a, 16), 0);
  CU_ASSERT_EQUAL(slot(&f, 15) & 0xffffffff, 115);
  fix_free(&f);
  /* 17 spill into one realloc'ed tuple: align 4, 68 bytes */
  CU_ASSERT_FATAL(fix_new(&f, CASE(.params = ps, .nparams = 17, .set_sig = "i")));
  uint32_t before = mem32(&f, NREALLOC);
  CU_ASSERT_EQUAL_FATAL(call_set(&f, a, 17), 0);
  uint32_t p = (uint32_t)slot(&f, 0);
  uint8_t b[68], lg[16];
  CU_ASSERT_FATAL(dump(&f, p, 68, b));
  for (uint32_t i = 0; i < 17; i++) CU_ASSERT_EQUAL(rd32(b + 4 * i), 100 + i);
  CU_ASSERT_EQUAL(mem32(&f, NREALLOC), before + 1);
  CU_ASSERT(dump(&f, LOG + 16 * (before % 64), 16, lg) && rd32(lg + 8) == 4 && rd32(lg + 12) == 68);
  /* the spilled tuple's realloc is checked too */
  CU_ASSERT_FATAL(set_mode(&f, 2));
  CU_ASSERT(trapped_with(&f, call_set(&f, a, 17), "realloc return: beyond end of memory"));
  fix_free(&f);
  /* mixed widths: (u8, f64, u16) x 6 = 18 flat values -> spilled tuple
   * with u8@0 f64@8 u16@16 u8@18 f64@24 ... */
  static const uint8_t mix[18] = {0x7d, 0x75, 0x7b, 0x7d, 0x75, 0x7b, 0x7d, 0x75, 0x7b,
                                  0x7d, 0x75, 0x7b, 0x7d, 0x75, 0x7b, 0x7d, 0x75, 0x7b};
  CU_ASSERT_FATAL(fix_new(&f, CASE(.params = mix, .nparams = 18, .set_sig = "i")));
  wh_cm_val m[18];
  for (uint32_t i = 0; i < 18; i += 3) {
    m[i] = wh_cm_val_u8((uint8_t)i);
    m[i + 1] = wh_cm_val_f64(i + 0.5);
    m[i + 2] = wh_cm_val_u16((uint16_t)(1000 + i));
  }
  CU_ASSERT_EQUAL_FATAL(call_set(&f, m, 18), 0);
  p = (uint32_t)slot(&f, 0);
  CU_ASSERT_EQUAL(p % 8, 0);
  uint8_t mb[6 * 24];
  CU_ASSERT_FATAL(dump(&f, p, sizeof mb, mb));
  /* tuple layout: u8@0 f64@8 u16@16 u8@18 f64@24 u16@32 u8@34 f64@40 ... */
  uint32_t off = 0;
  for (uint32_t i = 0; i < 18; i++) {
    uint32_t al = i % 3 == 0 ? 1 : i % 3 == 1 ? 8 : 2;
    off = (off + al - 1) / al * al;
    if (i % 3 == 0) CU_ASSERT_EQUAL(mb[off], i);
    if (i % 3 == 1) {
      double d;
      uint64_t x = rd64(mb + off);
      memcpy(&d, &x, 8);
      CU_ASSERT_EQUAL(d, (i - 1) + 0.5);
    }
    if (i % 3 == 2) CU_ASSERT_EQUAL(rd32(mb + off) & 0xffff, 1000 + i - 2);
    off += al;
  }
  fix_free(&f);
}

/* ---- JSON: u64 above 2^53 ----------------------------------------------------------------- */

static void test_json_u64(void) {
  fix_t f;
  CU_ASSERT_FATAL(fix_new(&f, CASE(.params = (const uint8_t[]){0x77, 0x78}, .nparams = 2,
                                   .set_sig = "II", .result = 0x77, .get_sig = "I")));
  wh_cm_type_ref_t st, gt;
  CU_ASSERT_FATAL(wh_cm_instance_func(f.inst, "set", &st) == 0);
  CU_ASSERT_FATAL(wh_cm_instance_func(f.inst, "get", &gt) == 0);
  json_error_t je;
  json_t *args = json_loads("[\"18446744073709551615\", \"-9223372036854775808\"]", 0, &je);
  wh_cm_val *v = NULL;
  size_t nv = 0;
  wh_diag_t d;
  CU_ASSERT_EQUAL_FATAL(wh_cm_json_args(f.c, st, args, &v, &nv, &d), 0);
  CU_ASSERT_EQUAL_FATAL(call_set(&f, v, nv), 0);
  CU_ASSERT_EQUAL(slot(&f, 0), UINT64_MAX);
  CU_ASSERT_EQUAL(slot(&f, 1), 0x8000000000000000ull);
  wh_cm_vals_free(v, nv);
  json_decref(args);
  /* 2^53 + 1 as a JSON integer is exact too */
  args = json_loads("[9007199254740993, -1]", 0, &je);
  CU_ASSERT_EQUAL_FATAL(wh_cm_json_args(f.c, st, args, &v, &nv, &d), 0);
  CU_ASSERT_EQUAL_FATAL(call_set(&f, v, nv), 0);
  CU_ASSERT_EQUAL(slot(&f, 0), 9007199254740993ull);
  wh_cm_vals_free(v, nv);
  json_decref(args);
  /* results: above 2^53 come back as decimal strings, up to it as numbers */
  static const struct { uint64_t bits; const char *json; } want[] = {
    {9007199254740993ull, "\"9007199254740993\""},
    {UINT64_MAX, "\"18446744073709551615\""},
    {9007199254740992ull, "9007199254740992"},
    {42, "42"},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    wh_cm_val r;
    CU_ASSERT_EQUAL_FATAL(get_with(&f, want[i].bits, &r), 0);
    json_t *j = NULL;
    CU_ASSERT_EQUAL_FATAL(wh_cm_json_result(f.c, gt, &r, &j, &d), 0);
    char *s = json_dumps(j, JSON_ENCODE_ANY);
    CU_ASSERT_STRING_EQUAL(s, want[i].json);
    free(s);
    json_decref(j);
    wh_cm_val_fini(&r);
  }
  fix_free(&f);
}

/* ---- post-return ---------------------------------------------------------------------------- */

static void test_post_return(void) {
  fix_t f;
  CU_ASSERT_FATAL(fix_new(&f, CASE(.set_sig = "", .result = 0x73, .get_sig = "i",
                                   .get_spill = true)));
  CU_ASSERT(poke(&f, HEAP + 0x100, "abc", 3) && poke32(&f, RESULT, HEAP + 0x100) &&
            poke32(&f, RESULT + 4, 3));
  for (int i = 0; i < 3; i++) {
    wh_cm_val r;
    CU_ASSERT_EQUAL(call_get(&f, &r), 0);
    CU_ASSERT(r.kind == WH_CM_V_STRING && strcmp(r.of.str.ptr, "abc") == 0);
    wh_cm_val_fini(&r);
  }
  CU_ASSERT_EQUAL(mem32(&f, POSTS), 3);
  /* not when lifting trapped */
  CU_ASSERT(poke32(&f, RESULT + 4, 0x20000));
  wh_cm_val r;
  CU_ASSERT_EQUAL(call_get(&f, &r), WH_ETRAP);
  CU_ASSERT_EQUAL(mem32(&f, POSTS), 3);
  /* results not asked for are still lifted and freed, post-return runs */
  CU_ASSERT(poke32(&f, RESULT + 4, 3));
  CU_ASSERT_EQUAL(wh_cm_call(f.inst, "get", NULL, 0, NULL, 0, exec_), 0);
  CU_ASSERT_EQUAL(mem32(&f, POSTS), 4);
  fix_free(&f);
}

/* ---- imports: guest -> host through canon lower ----------------------------------------------
 *
 * The same component shape, plus an imported function `host` lowered into
 * a second core module:
 *
 *   core instance 0   the module above (memory, realloc, dump, poke, mode)
 *   core instance 1   inline: "mem" = its memory, "f" = canon lower host
 *   core instance 2   module B, instantiated with "a" = instance 1:
 *                     run() loads host's flat params from SLOTS (typed),
 *                     calls f with RETPTR_AT's word as the result
 *                     pointer when the result spills, else stores the
 *                     flat result at RESULT
 *   exports           run (lifted from B), dump, poke, mode
 *
 * User types are imported as "tI" (type (eq ...)), which names them for
 * the imported function's signature; T(I) still addresses them.
 */
#define RETPTR_AT 0x38

static void core_module_b(wb_t *out, const char *ps, const char *rs, bool retptr) {
  wb_t s = {0}, b = {0};
  char ips[24];
  snprintf(ips, sizeof ips, "%s%s", ps, retptr ? "i" : "");
  WB(out, 0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00);
  wb_u32(&s, 2);
  functype(&s, ips, retptr ? "" : rs);
  functype(&s, "", "");
  wb_sec(out, 1, &s);
  wb_u32(&s, 2);
  wb_name(&s, "a");
  wb_name(&s, "mem");
  WB(&s, 0x02, 0x00, 0x01);
  wb_name(&s, "a");
  wb_name(&s, "f");
  WB(&s, 0x00, 0x00);
  wb_sec(out, 2, &s);
  WB(&s, 1, 1);
  wb_sec(out, 3, &s);
  WB(&s, 1);
  wb_name(&s, "run");
  WB(&s, 0x00, 0x01);
  wb_sec(out, 7, &s);
  wb_u32(&s, 1);
  wb_byte(&b, 0);
  bool store = !retptr && rs[0];
  if (store) i32c(&b, RESULT);
  for (uint32_t i = 0; ps[i]; i++) {
    i32c(&b, (int32_t)(SLOTS + 8 * i));
    wb_byte(&b, load_op(ps[i]));
    WB(&b, 0x02, 0x00);
  }
  if (retptr) {
    i32c(&b, RETPTR_AT);
    WB(&b, 0x28, 0x02, 0x00);
  }
  WB(&b, 0x10, 0x00);                   /* call f */
  if (store) {
    wb_byte(&b, store_op(rs[0]));
    WB(&b, 0x02, 0x00);
  }
  body(&s, &b);
  wb_sec(out, 10, &s);
  free(s.p);
  free(b.p);
}

/* host's params/result are k's params/result; set_sig is their lowered
 * flattening, get_sig the flat result, get_spill when it goes through a
 * return pointer. */
static void component_import(wb_t *out, const abi_case_t *k) {
  wb_t s = {0}, m = {0};
  WB(out, 0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00);
  core_module(&m, "", "", false);
  wb_sec(out, 1, &m);
  WB(&s, 1, 0x00, 0x00, 0x00);
  wb_sec(out, 2, &s);
  static const char *const names[] = {"realloc", "set", "get", "dump", "poke", "post", "mode"};
  wb_u32(&s, 8);
  for (uint32_t i = 0; i < 7; i++) {
    WB(&s, 0x00, 0x00, 0x01, 0x00);
    wb_name(&s, names[i]);
  }
  WB(&s, 0x00, 0x02, 0x01, 0x00);
  wb_name(&s, "mem");
  wb_sec(out, 6, &s);
  const uint8_t *tp = k->types;
  for (uint32_t i = 0; i < k->ntypes; i++) {
    char tn[16];
    wb_u32(&s, 1);
    wb_put(&s, tp + 1, tp[0]);
    tp += 1 + tp[0];
    wb_sec(out, 7, &s);
    snprintf(tn, sizeof tn, "t%u", i);
    WB(&s, 1, 0x00);
    wb_name(&s, tn);
    WB(&s, 0x03, 0x00);                 /* (type (eq 2i)) */
    wb_u32(&s, 2 * i);
    wb_sec(out, 10, &s);
  }
  uint32_t u = 2 * k->ntypes;
  wb_u32(&s, 6);
  WB(&s, 0x70, 0x7d);                   /* u: list<u8> */
  wb_byte(&s, 0x40);                    /* u+1: host */
  wb_u32(&s, k->nparams);
  for (uint32_t i = 0; i < k->nparams; i++) {
    char pn[16];
    snprintf(pn, sizeof pn, "p%u", i);
    wb_name(&s, pn);
    wb_byte(&s, k->params[i]);
  }
  if (k->result) {
    wb_byte(&s, 0x00);
    wb_byte(&s, k->result);
  } else {
    WB(&s, 0x01, 0x00);
  }
  WB(&s, 0x40, 0x00, 0x01, 0x00);       /* u+2: run */
  WB(&s, 0x40, 0x02, 0x03, 'o', 'f', 'f', 0x79, 0x03, 'l', 'e', 'n', 0x79, 0x00);
  wb_u32(&s, u);                        /* u+3: dump */
  WB(&s, 0x40, 0x02, 0x03, 'o', 'f', 'f', 0x79, 0x05, 'b', 'y', 't', 'e', 's');
  wb_u32(&s, u);                        /* u+4: poke */
  WB(&s, 0x01, 0x00);
  WB(&s, 0x40, 0x01, 0x01, 'm', 0x79, 0x01, 0x00);  /* u+5: mode */
  wb_sec(out, 7, &s);
  WB(&s, 1, 0x00);
  wb_name(&s, "host");
  wb_byte(&s, 0x01);
  wb_u32(&s, u + 1);
  wb_sec(out, 10, &s);                  /* func 0 */
  WB(&s, 1, 0x01, 0x00, 0x00, 3);
  wb_byte(&s, k->enc);
  WB(&s, 0x03, 0x00, 0x04, 0x00);
  wb_sec(out, 8, &s);                   /* core func 7 = lower host */
  WB(&s, 1, 0x01, 2);
  wb_name(&s, "mem");
  WB(&s, 0x02, 0x00);
  wb_name(&s, "f");
  WB(&s, 0x00, 0x07);
  wb_sec(out, 2, &s);                   /* core instance 1 */
  core_module_b(&m, k->set_sig, k->get_sig ? k->get_sig : "", k->get_spill);
  wb_sec(out, 1, &m);                   /* core module 1 */
  WB(&s, 1, 0x00, 0x01, 1);
  wb_name(&s, "a");
  WB(&s, 0x12, 0x01);
  wb_sec(out, 2, &s);                   /* core instance 2 */
  WB(&s, 1, 0x00, 0x00, 0x01, 0x02);
  wb_name(&s, "run");
  wb_sec(out, 6, &s);                   /* core func 8 */
  static const uint8_t lifts[4][2] = {{8, 2}, {3, 3}, {4, 4}, {6, 5}};
  wb_u32(&s, 4);
  for (uint32_t i = 0; i < 4; i++) {
    WB(&s, 0x00, 0x00);
    wb_u32(&s, lifts[i][0]);
    wb_u32(&s, 3);
    wb_byte(&s, k->enc);
    WB(&s, 0x03, 0x00, 0x04, 0x00);
    wb_u32(&s, u + lifts[i][1]);
  }
  wb_sec(out, 8, &s);                   /* funcs 1..4 */
  static const char *const exports[] = {"run", "dump", "poke", "mode"};
  wb_u32(&s, 4);
  for (uint32_t i = 0; i < 4; i++) {
    wb_byte(&s, 0x00);
    wb_name(&s, exports[i]);
    wb_byte(&s, 0x01);
    wb_u32(&s, i + 1);
    wb_byte(&s, 0x00);
  }
  wb_sec(out, 11, &s);
  free(s.p);
  free(m.p);
}

/* What the host function saw and what it answers. */
static struct {
  wh_cm_val args[32];
  uint32_t nargs, calls;
  wh_cm_val result;
  const char *trap;
} host;

static void host_reset(void) {
  for (uint32_t i = 0; i < host.nargs; i++) wh_cm_val_fini(&host.args[i]);
  wh_cm_val_fini(&host.result);
  memset(&host, 0, sizeof host);
}

static int host_fn(wh_cm_hostcall_t *call, void *env, const wh_cm_val *args, uint32_t nargs,
                   wh_cm_val *results, uint32_t nresults) {
  for (uint32_t i = 0; i < host.nargs; i++) wh_cm_val_fini(&host.args[i]);
  host.nargs = 0;
  for (uint32_t i = 0; i < nargs && i < 32; i++, host.nargs++)
    if (wh_cm_val_copy(&host.args[i], &args[i])) return WH_ENOMEM;
  host.calls++;
  if (host.trap) return wh_cm_hostcall_trap(call, "%s", host.trap);
  if (nresults) return wh_cm_val_copy(&results[0], &host.result);
  return 0;
}

static bool fix_new_import(fix_t *f, const abi_case_t *k) {
  wb_t b = {0};
  wh_diag_t d;
  memset(f, 0, sizeof *f);
  host_reset();
  component_import(&b, k);
  f->c = wh_cm_component_new(engine, b.p, b.n, &d);
  free(b.p);
  if (!f->c) {
    fprintf(stderr, "\n  component rejected: %s\n", d.msg);
    return false;
  }
  wh_cm_linker_t *l = wh_cm_linker_new(engine);
  int rc = wh_cm_linker_define_func(l, "host", host_fn, NULL);
  if (rc == 0) rc = wh_cm_instantiate(l, f->c, exec_, NULL, &f->inst, &d);
  wh_cm_linker_free(l);
  if (rc) {
    fprintf(stderr, "\n  instantiate failed: %s\n", d.msg);
    wh_cm_component_free(f->c);
    f->c = NULL;
    return false;
  }
  return true;
}

static int run(fix_t *f) { return wh_cm_call(f->inst, "run", NULL, 0, NULL, 0, exec_); }

static void test_import_variant_coercion(void) {
  fix_t f;
  /* the variant of test_variant_flattening: host sees i32 i64 i32 */
  static const uint8_t types[] = {
    4, 0x6f, 2, 0x76, 0x79,
    31, 0x71, 6, 1, 'a', 0x01, 0x76, 0x00, 1, 'b', 0x01, 0x77, 0x00, 1, 'c', 0x01, 0x75, 0x00,
    1, 'd', 0x01, 0x79, 0x00, 1, 'e', 0x00, 0x00, 1, 'g', 0x01, T(0), 0x00};
  CU_ASSERT_FATAL(fix_new_import(&f, CASE(.types = types, .ntypes = 2,
                                          .params = (const uint8_t[]){T(1)}, .nparams = 1,
                                          .set_sig = "iIi")));
  /* a(f32) from the i64 slot: wrap to i32, then reinterpret (spec's
   * CoerceValueIter); the high garbage bits are dropped */
  CU_ASSERT(poke32(&f, SLOTS, 0) && poke64(&f, SLOTS + 8, 0xdeadbeef3f800000ull));
  CU_ASSERT_EQUAL_FATAL(run(&f), 0);
  CU_ASSERT(host.nargs == 1 && host.args[0].kind == WH_CM_V_VARIANT &&
            host.args[0].of.var.idx == 0 && host.args[0].of.var.payload &&
            host.args[0].of.var.payload->of.f32 == 1.0f);
  /* d(u32) from the i64 slot: wrapped */
  CU_ASSERT(poke32(&f, SLOTS, 3));
  CU_ASSERT_EQUAL_FATAL(run(&f), 0);
  CU_ASSERT(host.args[0].of.var.idx == 3 && host.args[0].of.var.payload &&
            host.args[0].of.var.payload->of.u == 0x3f800000u);
  /* b(u64): the whole slot */
  CU_ASSERT(poke32(&f, SLOTS, 1));
  CU_ASSERT_EQUAL_FATAL(run(&f), 0);
  CU_ASSERT(host.args[0].of.var.payload && host.args[0].of.var.payload->of.u == 0xdeadbeef3f800000ull);
  /* c(f64): a NaN with payload comes through canonical */
  CU_ASSERT(poke32(&f, SLOTS, 2) && poke64(&f, SLOTS + 8, 0x7ff0000000000123ull));
  CU_ASSERT_EQUAL_FATAL(run(&f), 0);
  uint64_t bits = 0;
  if (host.args[0].of.var.payload) memcpy(&bits, &host.args[0].of.var.payload->of.f64, 8);
  CU_ASSERT_EQUAL(bits, 0x7ff8000000000000ull);
  /* g(tuple<f32, u32>): f32 from the i64 slot, u32 from the last i32 */
  CU_ASSERT(poke32(&f, SLOTS, 5) && poke64(&f, SLOTS + 8, 0x40000000u) &&
            poke32(&f, SLOTS + 16, 77));
  CU_ASSERT_EQUAL_FATAL(run(&f), 0);
  const wh_cm_val *pl = host.args[0].of.var.payload;
  CU_ASSERT(pl && pl->kind == WH_CM_V_TUPLE && pl->of.agg.n == 2 &&
            pl->of.agg.v[0].of.f32 == 2.0f && pl->of.agg.v[1].of.u == 77);
  /* e: no payload; 6: out of range traps before the host runs */
  CU_ASSERT(poke32(&f, SLOTS, 4));
  CU_ASSERT_EQUAL_FATAL(run(&f), 0);
  CU_ASSERT(host.args[0].of.var.idx == 4 && !host.args[0].of.var.payload);
  uint32_t calls = host.calls;
  CU_ASSERT(poke32(&f, SLOTS, 6));
  CU_ASSERT(trapped_with(&f, run(&f), "invalid variant discriminant"));
  CU_ASSERT_EQUAL(host.calls, calls);
  fix_free(&f);
  host_reset();
}

static void test_import_retptr(void) {
  fix_t f;
  /* host() -> string: the result goes through the caller's out pointer */
  for (uint8_t enc = 0; enc < 3; enc++) {
    CU_ASSERT_FATAL(fix_new_import(&f, CASE(.set_sig = "", .result = 0x73, .get_sig = "i",
                                            .get_spill = true, .enc = enc)));
    host.result = str("h\xc3\xa9", 3);
    CU_ASSERT(poke32(&f, RETPTR_AT, RESULT));
    CU_ASSERT_EQUAL_FATAL(run(&f), 0);
    uint32_t p = mem32(&f, RESULT), n = mem32(&f, RESULT + 4);
    uint8_t b[8] = {0};
    if (enc == 0) {
      CU_ASSERT(n == 3 && dump(&f, p, 3, b) && memcmp(b, "h\xc3\xa9", 3) == 0);
    } else if (enc == 1) {
      CU_ASSERT(n == 2 && dump(&f, p, 4, b) && memcmp(b, "h\0\xe9\0", 4) == 0);
    } else {
      CU_ASSERT(n == 2 && dump(&f, p, 2, b) && memcmp(b, "h\xe9", 2) == 0);
    }
    /* a misaligned out pointer traps */
    CU_ASSERT(poke32(&f, RETPTR_AT, RESULT + 2));
    CU_ASSERT(trapped_with(&f, run(&f), "unaligned pointer"));
    /* so does one past the end of memory */
    CU_ASSERT(poke32(&f, RETPTR_AT, 65536 - 4));
    CU_ASSERT(trapped_with(&f, run(&f), "out of bounds"));
    /* a host result of the wrong kind is the host's fault: a trap */
    wh_cm_val_fini(&host.result);
    host.result = wh_cm_val_u32(1);
    CU_ASSERT(poke32(&f, RETPTR_AT, RESULT));
    CU_ASSERT_NOT_EQUAL(run(&f), 0);
    fix_free(&f);
  }
  /* host() -> u64 flat; host traps propagate with their message */
  CU_ASSERT_FATAL(fix_new_import(&f, CASE(.set_sig = "", .result = 0x77, .get_sig = "I")));
  host.result = wh_cm_val_u64(0x8000000000000001ull);
  CU_ASSERT_EQUAL_FATAL(run(&f), 0);
  CU_ASSERT_EQUAL(mem32(&f, RESULT), 1);
  CU_ASSERT_EQUAL(mem32(&f, RESULT + 4), 0x80000000u);
  host.trap = "the host says no";
  CU_ASSERT(trapped_with(&f, run(&f), "the host says no"));
  fix_free(&f);
  host_reset();
}

static void test_import_spilled_params(void) {
  fix_t f;
  uint8_t ps[17];
  memset(ps, 0x79, sizeof ps);
  ps[16] = 0x73;   /* 16 u32 and a string: 18 flat values -> one pointer */
  CU_ASSERT_FATAL(fix_new_import(&f, CASE(.params = ps, .nparams = 17, .set_sig = "i")));
  uint8_t tup[72] = {0};
  for (uint32_t i = 0; i < 16; i++) tup[4 * i] = (uint8_t)(i + 1);
  uint32_t at = HEAP + 0x800, str_at = at + 0x100;
  tup[64] = (uint8_t)str_at;
  tup[65] = (uint8_t)(str_at >> 8);
  tup[68] = 2;
  CU_ASSERT(poke(&f, at, tup, sizeof tup) && poke(&f, str_at, "ok", 2) && poke32(&f, SLOTS, at));
  CU_ASSERT_EQUAL_FATAL(run(&f), 0);
  CU_ASSERT_EQUAL_FATAL(host.nargs, 17);
  for (uint32_t i = 0; i < 16; i++) CU_ASSERT_EQUAL(host.args[i].of.u, i + 1);
  CU_ASSERT(host.args[16].kind == WH_CM_V_STRING && strcmp(host.args[16].of.str.ptr, "ok") == 0);
  /* the tuple pointer is checked: alignment, then bounds */
  CU_ASSERT(poke32(&f, SLOTS, at + 2));
  CU_ASSERT(trapped_with(&f, run(&f), "unaligned pointer"));
  CU_ASSERT(poke32(&f, SLOTS, 65536 - 64));
  CU_ASSERT(trapped_with(&f, run(&f), "out of bounds"));
  fix_free(&f);
  host_reset();
}

/* ---- runner ------------------------------------------------------------------------------------ */

int main(void) {
  engine = wh_engine_new(NULL);
  exec_ = engine ? wh_exec_new(engine) : NULL;
  if (!exec_) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("abi", NULL, NULL);
  CU_add_test(s, "flat primitives lower sign-extended and range-checked", test_lower_primitives);
  CU_add_test(s, "primitives lift: bool, truncation, NaN, char", test_lift_primitives);
  CU_add_test(s, "utf8 strings lower through realloc", test_string_lower_utf8);
  CU_add_test(s, "strings lift in every encoding", test_string_lift);
  CU_add_test(s, "strings transcode as CanonicalABI.md allocates", test_string_transcode);
  CU_add_test(s, "realloc results are checked", test_realloc_checks);
  CU_add_test(s, "lists of mixed-alignment records, empty lists", test_lists);
  CU_add_test(s, "variant flattening joins i32/f32/i64/f64", test_variant_flattening);
  CU_add_test(s, "enum, option, result and their discriminants", test_enum_option_result);
  CU_add_test(s, "flags at 9, 17, 32 labels; more is invalid", test_flags);
  CU_add_test(s, "MAX_FLAT_PARAMS spills to memory", test_flat_limits);
  CU_add_test(s, "u64 beyond 2^53 through JSON", test_json_u64);
  CU_add_test(s, "post-return runs after each lifted result", test_post_return);
  CU_add_test(s, "imports lift flat variants with the spec's coercions", test_import_variant_coercion);
  CU_add_test(s, "import results lower through the caller's out pointer", test_import_retptr);
  CU_add_test(s, "import params past MAX_FLAT_PARAMS come as one pointer", test_import_spilled_params);
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  wh_exec_free(exec_);
  wh_engine_free(engine);
  return failed ? 1 : 0;
}
