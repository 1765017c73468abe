/*
 * test_instance.c - memories, tables, globals, the linker and
 * instantiation (engine/instance.c): limits, growth, imports shared
 * between instances, unlinkable imports, initialisers and start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "wt.h"

/* Compiles `m` on `e`; NULL (and a failed check) if it does not. */
static wh_module_t *compile(wh_engine_t *e, wb_mod_t *m) {
  size_t len;
  const uint8_t *b = wb_bytes(m, &len);
  wh_diag_t d;
  wh_module_t *mod = wh_module_new(e, b, len, &d);
  WT_CHECK(mod != NULL, "the test module compiles (%s)", d.msg);
  return mod;
}

static int call1(wh_exec_t *x, wh_instance_t *inst, const char *name, int nargs, int32_t a,
                 int32_t b, int32_t *out) {
  wh_func_t *f = wh_instance_func(inst, name);
  if (!f) return WH_ENOTFOUND;
  wh_val_t args[2] = {WT_I32(a), WT_I32(b)}, res[1] = {WT_I32(0)};
  const char *results;
  wh_func_type(f, NULL, &results);
  int rc = wh_call(x, f, args, (size_t)nargs, res, strlen(results));
  if (out) *out = res[0].of.i32;
  return rc;
}

/* ---- unlinkable imports --------------------------------------------------- */

static int nop_host(wh_caller_t *c, void *env, uint64_t *slots) {
  (void)c;
  (void)env;
  (void)slots;
  return 0;
}

static void test_unlinkable(void) {
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  wh_memory_t *small = wh_memory_new(1, 2);
  wh_memory_t *unbounded = wh_memory_new(2, UINT32_MAX);
  wh_table_t *externs = wh_table_new(WH_EXTERNREF, 4, 4);
  wh_global_t *immut = wh_global_new(WT_I32(1), false);
  wh_global_t *i64g = wh_global_new(WT_I64(1), true);
  wh_linker_t *l = wh_linker_new(e);
  wh_linker_define_func(l, "env", "f", "i", "", nop_host, NULL);
  wh_linker_define_func(l, "env", "g", "", "", nop_host, NULL);
  wh_linker_define_memory(l, "env", "small", small);
  wh_linker_define_memory(l, "env", "unbounded", unbounded);
  wh_linker_define_table(l, "env", "externs", externs);
  wh_linker_define_global(l, "env", "immut", immut);
  wh_linker_define_global(l, "env", "i64g", i64g);

  static const struct {
    const char *what, *name;
    int kind;        /* what the module imports */
    const char *sig; /* func: params:results */
  } cases[] = {
      {"a function nobody defined", "missing", 0, ":"},
      {"a function with another signature", "f", 0, "ii:i"},
      {"a global where a function is defined", "g", 3, ""},
      {"a memory of 2 pages from a 1-page memory", "small", 2, ""},
      {"a memory with maximum 4 from one without a maximum", "unbounded", 2, ""},
      {"a funcref table from an externref table", "externs", 1, ""},
      {"a mutable global from an immutable one", "immut", 3, ""},
      {"an i32 global from an i64 global", "i64g", 3, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    wb_mod_t m;
    wb_init(&m);
    switch (cases[i].kind) {
    case 0: {
      char p[8] = "", r[8] = "";
      sscanf(cases[i].sig, "%7[^:]:%7s", p, r);
      wb_import_func(&m, "env", cases[i].name, p, r);
      break;
    }
    case 1: wb_import_table(&m, "env", cases[i].name, WH_FUNCREF, 1, WB_NO_MAX); break;
    case 2: wb_import_memory(&m, "env", cases[i].name, 2, 4); break;
    case 3: wb_import_global(&m, "env", cases[i].name, 'i', true); break;
    }
    wh_module_t *mod = compile(e, &m);
    if (mod) {
      wh_instance_t *inst = NULL;
      wh_diag_t d;
      int rc = wh_linker_instantiate(l, mod, x, &inst, &d);
      char want[64];
      snprintf(want, sizeof want, "env.%s", cases[i].name);
      WT_CHECK(rc == WH_EUNLINKABLE && d.code == WH_EUNLINKABLE && inst == NULL,
               "importing %s is unlinkable (got %s)", cases[i].what, wh_errname(rc));
      WT_CHECK(strstr(d.msg, want) != NULL, "the diagnostic for %s names %s (got \"%s\")",
               cases[i].what, want, d.msg);
      wh_instance_free(inst);
    }
    wh_module_free(mod);
    wb_fini(&m);
  }
  wh_linker_free(l);
  wh_global_free(immut);
  wh_global_free(i64g);
  wh_table_free(externs);
  wh_memory_free(small);
  wh_memory_free(unbounded);
  wh_exec_free(x);
  wh_engine_free(e);
}

/* ---- limits ------------------------------------------------------------------- */

static void test_memory_limits(void) {
  /* (memory 0 1): nothing is addressable until it grows */
  wb_mod_t m;
  wb_init(&m);
  wb_memory(&m, 0, 1);
  uint32_t load = wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), I32_LOAD8_U(0, 0)));
  uint32_t grow = wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), MEMORY_GROW));
  wb_export(&m, "load", WH_EXTERN_FUNC, load);
  wb_export(&m, "grow", WH_EXTERN_FUNC, grow);
  wt_t t;
  wt_init(&t, NULL);
  if (wt_load(&t, &m) == 0) {
    int32_t got;
    int rc = wt_call_i32(&t, "load", &got, 1, 0);
    WT_CHECK(rc == WH_ETRAP, "byte 0 of an empty memory is out of bounds (got %s)",
             wh_errname(rc));
    wt_call_i32(&t, "grow", &got, 1, 1);
    WT_CHECK(got == 0, "growing an empty memory by 1 returns 0 (got %d)", got);
    rc = wt_call_i32(&t, "load", &got, 1, 65535);
    WT_CHECK(rc == 0 && got == 0, "the new page reads as zeros (got %s)", wh_errname(rc));
    wt_call_i32(&t, "grow", &got, 1, 1);
    WT_CHECK(got == -1, "growing past a maximum of 1 returns -1 (got %d)", got);
  }
  wt_fini(&t);
  wb_fini(&m);

  /* (memory 0) without a maximum grows up to 65536 pages, not beyond */
  wb_init(&m);
  wb_memory(&m, 0, WB_NO_MAX);
  grow = wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), MEMORY_GROW));
  wb_export(&m, "grow", WH_EXTERN_FUNC, grow);
  wt_init(&t, NULL);
  if (wt_load(&t, &m) == 0) {
    int32_t got;
    wt_call_i32(&t, "grow", &got, 1, 65537);
    WT_CHECK(got == -1, "growing by 65537 pages returns -1 (got %d)", got);
    wt_call_i32(&t, "grow", &got, 1, 2);
    WT_CHECK(got == 0, "growing by 2 pages works (got %d)", got);
  }
  wt_fini(&t);
  wb_fini(&m);

  WT_CHECK(wh_memory_new(2, 1) == NULL, "a host memory with min 2 > max 1 is refused");
  wh_memory_t *mem = wh_memory_new(1, UINT32_MAX);
  uint64_t size = 0;
  uint8_t *data = mem ? wh_memory_data(mem, &size) : NULL;
  WT_CHECK(mem && data && size == 65536, "a 1-page host memory has 65536 bytes");
  if (data) data[65535] = 1;
  wh_memory_free(mem);
  wh_memory_free(NULL);
}

static void test_table_limits(void) {
  /* (table 1 3 funcref) and (table 0 funcref): grow and size */
  wb_mod_t m;
  wb_init(&m);
  wb_table(&m, WH_FUNCREF, 1, 3);
  wb_table(&m, WH_FUNCREF, 0, WB_NO_MAX);
  uint32_t grow = wb_func(&m, "i", "i", "", CODE(REF_NULL(0x70), LOCAL_GET(0), TABLE_GROW(0)));
  uint32_t size = wb_func(&m, "", "i", "", CODE(TABLE_SIZE(0)));
  uint32_t grow1 = wb_func(&m, "i", "i", "", CODE(REF_NULL(0x70), LOCAL_GET(0), TABLE_GROW(1)));
  wb_export(&m, "grow", WH_EXTERN_FUNC, grow);
  wb_export(&m, "size", WH_EXTERN_FUNC, size);
  wb_export(&m, "grow1", WH_EXTERN_FUNC, grow1);
  wt_t t;
  wt_init(&t, NULL);
  int rc = wt_load(&t, &m);
  WT_CHECK(rc == 0, "the table module loads (got %s: %s)", wh_errname(rc), t.diag.msg);
  if (rc == 0) {
    int32_t got;
    wt_call_i32(&t, "grow", &got, 1, 2);
    WT_CHECK(got == 1, "growing a 1-element table by 2 returns 1 (got %d)", got);
    wt_call_i32(&t, "grow", &got, 1, 1);
    WT_CHECK(got == -1, "growing past a maximum of 3 returns -1 (got %d)", got);
    wt_call_i32(&t, "size", &got, 0);
    WT_CHECK(got == 3, "the table keeps its 3 elements after a failed grow (got %d)", got);
    wt_call_i32(&t, "grow", &got, 1, 0);
    WT_CHECK(got == 3, "growing by 0 returns the size (got %d)", got);
    wt_call_i32(&t, "grow1", &got, 1, -1);
    WT_CHECK(got == -1, "growing a table without maximum by 2^32-1 returns -1 (got %d)", got);
    wt_call_i32(&t, "grow1", &got, 1, 1000);
    WT_CHECK(got == 0, "growing it by 1000 returns 0 (got %d)", got);
  }
  wt_fini(&t);
  wb_fini(&m);
}

/* ---- sharing ------------------------------------------------------------------ */

static void test_shared_memory(void) {
  /* A: (memory (export "mem") 1 4) (func (export "peek") (param i32) (result i32) load)
   *    (func (export "size") (result i32) memory.size)
   * B: (import "A" "mem" (memory 1)) (func (export "poke") (param i32 i32) store)
   *    (func (export "grow") (param i32) (result i32) memory.grow) */
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  wh_linker_t *l = wh_linker_new(e);
  wb_mod_t ma, mb;
  wb_init(&ma);
  wb_memory(&ma, 1, 4);
  uint32_t peek = wb_func(&ma, "i", "i", "", CODE(LOCAL_GET(0), I32_LOAD(2, 0)));
  uint32_t size = wb_func(&ma, "", "i", "", CODE(MEMORY_SIZE));
  wb_export(&ma, "mem", WH_EXTERN_MEMORY, 0);
  wb_export(&ma, "peek", WH_EXTERN_FUNC, peek);
  wb_export(&ma, "size", WH_EXTERN_FUNC, size);
  wb_init(&mb);
  wb_import_memory(&mb, "A", "mem", 1, WB_NO_MAX);
  uint32_t poke = wb_func(&mb, "ii", "", "", CODE(LOCAL_GET(0), LOCAL_GET(1), I32_STORE(2, 0)));
  uint32_t grow = wb_func(&mb, "i", "i", "", CODE(LOCAL_GET(0), MEMORY_GROW));
  wb_export(&mb, "poke", WH_EXTERN_FUNC, poke);
  wb_export(&mb, "grow", WH_EXTERN_FUNC, grow);
  wh_module_t *moda = compile(e, &ma), *modb = compile(e, &mb);
  wh_instance_t *a = NULL, *b = NULL, *b2 = NULL;
  wh_diag_t d;
  if (moda && modb) {
    int rc = wh_linker_instantiate(l, moda, x, &a, &d);
    WT_CHECK(rc == 0, "instance A instantiates (%s)", d.msg);
    if (rc == 0) wh_linker_define_instance(l, "A", a);
    rc = a ? wh_linker_instantiate(l, modb, x, &b, &d) : -1;
    WT_CHECK(rc == 0, "instance B links against A's memory (%s)", d.msg);
    rc = b ? wh_linker_instantiate(l, modb, x, &b2, &d) : -1;
    WT_CHECK(rc == 0, "a second B links against the same memory (%s)", d.msg);
  }
  if (a && b && b2) {
    int32_t got = 0;
    call1(x, b, "poke", 2, 100, 12345, NULL);
    call1(x, a, "peek", 1, 100, 0, &got);
    WT_CHECK(got == 12345, "A reads what B wrote (got %d)", got);
    call1(x, b2, "poke", 2, 104, 777, NULL);
    call1(x, a, "peek", 1, 104, 0, &got);
    WT_CHECK(got == 777, "A reads what the second B wrote (got %d)", got);
    call1(x, b, "grow", 1, 2, 0, &got);
    WT_CHECK(got == 1, "B grows the shared memory from 1 page (got %d)", got);
    call1(x, a, "size", 0, 0, 0, &got);
    WT_CHECK(got == 3, "A sees the shared memory at 3 pages (got %d)", got);
    int rc = call1(x, b2, "poke", 2, 3 * 65536 - 4, 9, NULL);
    WT_CHECK(rc == 0, "the other B can use the grown pages (got %s)", wh_errname(rc));
    rc = call1(x, a, "peek", 1, 3 * 65536 - 4, 0, &got);
    WT_CHECK(rc == 0 && got == 9, "and A sees that write (got %d)", got);
    call1(x, b, "grow", 1, 2, 0, &got);
    WT_CHECK(got == -1, "B cannot grow past A's maximum of 4 (got %d)", got);
    uint64_t bytes = 0;
    wh_memory_data(wh_instance_memory(a, "mem"), &bytes);
    WT_CHECK(bytes == 3 * 65536, "the host sees 3 pages through A's export");
  }
  wh_instance_free(b2);
  wh_instance_free(b);
  wh_instance_free(a);
  wh_linker_free(l);
  wh_module_free(moda);
  wh_module_free(modb);
  wb_fini(&ma);
  wb_fini(&mb);

  /* a host memory imported by two instances of one module */
  l = wh_linker_new(e);
  wh_memory_t *mem = wh_memory_new(1, 1);
  wh_linker_define_memory(l, "env", "mem", mem);
  wb_init(&mb);
  wb_import_memory(&mb, "env", "mem", 1, 1);
  poke = wb_func(&mb, "ii", "", "", CODE(LOCAL_GET(0), LOCAL_GET(1), I32_STORE(2, 0)));
  peek = wb_func(&mb, "i", "i", "", CODE(LOCAL_GET(0), I32_LOAD(2, 0)));
  wb_export(&mb, "poke", WH_EXTERN_FUNC, poke);
  wb_export(&mb, "peek", WH_EXTERN_FUNC, peek);
  wb_data(&mb, 8, "\x2a\0\0\0", 4);
  modb = compile(e, &mb);
  b = b2 = NULL;
  if (modb) {
    wh_linker_instantiate(l, modb, x, &b, &d);
    wh_linker_instantiate(l, modb, x, &b2, &d);
  }
  WT_CHECK(b && b2, "two instances import one host memory");
  if (b && b2) {
    int32_t got = 0;
    call1(x, b, "poke", 2, 0, 31337, NULL);
    call1(x, b2, "peek", 1, 0, 0, &got);
    WT_CHECK(got == 31337, "one instance reads the other's write (got %d)", got);
    uint64_t bytes;
    uint8_t *data = wh_memory_data(mem, &bytes);
    WT_CHECK(data[8] == 42, "the data segment landed in the host memory");
    data[12] = 5;
    call1(x, b, "peek", 1, 12, 0, &got);
    WT_CHECK(got == 5, "the guest reads what the host wrote (got %d)", got);
  }
  wh_instance_free(b2);
  wh_instance_free(b);
  wh_linker_free(l);
  wh_module_free(modb);
  wh_memory_free(mem);
  wb_fini(&mb);
  wh_exec_free(x);
  wh_engine_free(e);
}

static void test_shared_table_and_globals(void) {
  /* A: (table (export "t") 2 funcref) (elem (i32.const 0) $seven)
   *    (func $seven (result i32) 7)
   *    (func (export "call") (param i32) (result i32) (call_indirect (result i32) (local.get 0)))
   *    (global (export "g") (mut i32) (i32.const 5))
   *    (func (export "get") (result i32) (global.get 0))
   * B: (import "A" "t" (table 2 funcref)) (import "A" "g" (global (mut i32)))
   *    (elem (i32.const 1) $eight) (func $eight (result i32) 8)
   *    (func (export "call") (param i32) (result i32) (call_indirect ...))
   *    (func (export "set") (param i32) (global.set 0 (local.get 0))) */
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  wh_linker_t *l = wh_linker_new(e);
  wb_mod_t ma, mb;
  wb_init(&ma);
  wb_table(&ma, WH_FUNCREF, 2, WB_NO_MAX);
  wb_global(&ma, 'i', true, CODE(I32_CONST(5)));
  uint32_t seven = wb_func(&ma, "", "i", "", CODE(I32_CONST(7)));
  uint32_t calla = wb_func(&ma, "i", "i", "", CODE(LOCAL_GET(0), CALL_INDIRECT(0, 0)));
  uint32_t get = wb_func(&ma, "", "i", "", CODE(GLOBAL_GET(0)));
  wb_elem(&ma, 0, &seven, 1);
  wb_export(&ma, "t", WH_EXTERN_TABLE, 0);
  wb_export(&ma, "g", WH_EXTERN_GLOBAL, 0);
  wb_export(&ma, "call", WH_EXTERN_FUNC, calla);
  wb_export(&ma, "get", WH_EXTERN_FUNC, get);
  wb_init(&mb);
  wb_import_table(&mb, "A", "t", WH_FUNCREF, 2, WB_NO_MAX);
  wb_import_global(&mb, "A", "g", 'i', true);
  uint32_t eight = wb_func(&mb, "", "i", "", CODE(I32_CONST(8)));
  uint32_t callb = wb_func(&mb, "i", "i", "", CODE(LOCAL_GET(0), CALL_INDIRECT(0, 0)));
  uint32_t set = wb_func(&mb, "i", "", "", CODE(LOCAL_GET(0), GLOBAL_SET(0)));
  wb_elem(&mb, 1, &eight, 1);
  wb_export(&mb, "call", WH_EXTERN_FUNC, callb);
  wb_export(&mb, "set", WH_EXTERN_FUNC, set);
  wh_module_t *moda = compile(e, &ma), *modb = compile(e, &mb);
  wh_instance_t *a = NULL, *b = NULL;
  wh_diag_t d;
  if (moda && modb && wh_linker_instantiate(l, moda, x, &a, &d) == 0) {
    wh_linker_define_instance(l, "A", a);
    int rc = wh_linker_instantiate(l, modb, x, &b, &d);
    WT_CHECK(rc == 0, "B links against A's table and global (%s)", d.msg);
  }
  if (a && b) {
    int32_t got = 0;
    call1(x, b, "call", 1, 0, 0, &got);
    WT_CHECK(got == 7, "B calls A's function through the shared table (got %d)", got);
    call1(x, a, "call", 1, 1, 0, &got);
    WT_CHECK(got == 8, "A calls the function B's element segment put in (got %d)", got);
    call1(x, b, "set", 1, 99, 0, NULL);
    call1(x, a, "get", 0, 0, 0, &got);
    WT_CHECK(got == 99, "A reads the global B set (got %d)", got);
    wh_val_t v = wh_global_get(wh_instance_global(a, "g"));
    WT_CHECK(v.type == WH_I32 && v.of.i32 == 99, "the host reads 99 through A's export");
    WT_CHECK(wh_instance_table(a, "t") != NULL && wh_instance_table(a, "g") == NULL,
             "exports are found by name and kind");
    WT_CHECK(wh_instance_func(a, "nope") == NULL && wh_instance_func(a, "g") == NULL &&
                 wh_instance_memory(a, "t") == NULL && wh_instance_global(a, "call") == NULL,
             "absent names and other kinds give NULL");
    WT_CHECK(wh_instance_module(a) == moda, "an instance knows its module");
  }
  wh_instance_free(b);
  wh_instance_free(a);
  wh_linker_free(l);
  wh_module_free(moda);
  wh_module_free(modb);
  wb_fini(&ma);
  wb_fini(&mb);

  /* host globals: an immutable one feeding a global initialiser, a
   * mutable one the guest writes */
  l = wh_linker_new(e);
  wh_global_t *base = wh_global_new(WT_I32(40), false);
  wh_global_t *out = wh_global_new(WT_I64(0), true);
  wh_linker_define_global(l, "env", "base", base);
  wh_linker_define_global(l, "env", "out", out);
  wb_init(&mb);
  wb_import_global(&mb, "env", "base", 'i', false);
  wb_import_global(&mb, "env", "out", 'I', true);
  wb_global(&mb, 'i', false, CODE(GLOBAL_GET(0)));
  uint32_t f = wb_func(&mb, "", "i", "", CODE(
      GLOBAL_GET(2), I32_CONST(2), I32_ADD, 0xac /* i64.extend_i32_s */, GLOBAL_SET(1),
      GLOBAL_GET(2)));
  wb_export(&mb, "f", WH_EXTERN_FUNC, f);
  modb = compile(e, &mb);
  b = NULL;
  if (modb && wh_linker_instantiate(l, modb, x, &b, &d) == 0) {
    int32_t got = 0;
    call1(x, b, "f", 0, 0, 0, &got);
    WT_CHECK(got == 40, "a global initialised from a host global holds 40 (got %d)", got);
    wh_val_t v = wh_global_get(out);
    WT_CHECK(v.type == WH_I64 && v.of.i64 == 42, "the guest wrote 42 into the host's i64 "
             "global (got %lld)", (long long)v.of.i64);
  } else {
    WT_CHECK(false, "the host-globals module instantiates (%s)", d.msg);
  }
  wh_instance_free(b);
  wh_linker_free(l);
  wh_module_free(modb);
  wh_global_free(base);
  wh_global_free(out);
  wb_fini(&mb);
  wh_exec_free(x);
  wh_engine_free(e);
}

/* ---- initialisation --------------------------------------------------------- */

static void test_initialisers_and_start(void) {
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  wh_linker_t *l = wh_linker_new(e);
  wh_diag_t d;

  /* (global (mut i32) (i32.const 0)) (func $start (global.set 0 (i32.const 1)))
   * (start $start) (func (export "get") (result i32) (global.get 0)) */
  wb_mod_t m;
  wb_init(&m);
  wb_global(&m, 'i', true, CODE(I32_CONST(0)));
  uint32_t start = wb_func(&m, "", "", "", CODE(I32_CONST(1), GLOBAL_SET(0)));
  uint32_t get = wb_func(&m, "", "i", "", CODE(GLOBAL_GET(0)));
  wb_start(&m, start);
  wb_export(&m, "get", WH_EXTERN_FUNC, get);
  wh_module_t *mod = compile(e, &m);
  wh_instance_t *inst = NULL;
  if (mod && wh_linker_instantiate(l, mod, x, &inst, &d) == 0) {
    int32_t got = 0;
    call1(x, inst, "get", 0, 0, 0, &got);
    WT_CHECK(got == 1, "the start function ran at instantiation (got %d)", got);
  } else {
    WT_CHECK(false, "the start module instantiates (%s)", d.msg);
  }
  wh_instance_free(inst);
  wh_module_free(mod);
  wb_fini(&m);

  /* a trapping start function */
  wb_init(&m);
  start = wb_func(&m, "", "", "", CODE(UNREACHABLE));
  wb_start(&m, start);
  mod = compile(e, &m);
  inst = NULL;
  int rc = mod ? wh_linker_instantiate(l, mod, x, &inst, &d) : -1;
  WT_CHECK(rc == WH_ETRAP && inst == NULL, "a trapping start function fails instantiation "
           "(got %s)", wh_errname(rc));
  WT_CHECK(strstr(d.msg, "start function") && strstr(d.msg, "unreachable"),
           "the diagnostic says the start function hit unreachable (got \"%s\")", d.msg);
  WT_CHECK(wh_exec_trap(x, NULL, NULL) == WH_TRAP_UNREACHABLE, "the exec holds the trap");
  wb_fini(&m);

  /* an active data segment past the end of memory */
  wb_init(&m);
  wb_memory(&m, 1, 1);
  wb_data(&m, 65533, "hello", 5);
  wh_module_t *mod2 = compile(e, &m);
  inst = NULL;
  rc = mod2 ? wh_linker_instantiate(l, mod2, x, &inst, &d) : -1;
  WT_CHECK(rc == WH_ETRAP && strstr(d.msg, "out of bounds memory access"),
           "a data segment past the memory traps at instantiation (got %s: \"%s\")",
           wh_errname(rc), d.msg);
  wb_fini(&m);

  /* an active element segment past the end of its table */
  wb_init(&m);
  wb_table(&m, WH_FUNCREF, 1, 1);
  uint32_t f = wb_func(&m, "", "", "", CODE(NOP));
  wb_elem(&m, 1, &f, 1);
  wh_module_t *mod3 = compile(e, &m);
  inst = NULL;
  rc = mod3 ? wh_linker_instantiate(l, mod3, x, &inst, &d) : -1;
  WT_CHECK(rc == WH_ETRAP && strstr(d.msg, "out of bounds table access"),
           "an element segment past the table traps at instantiation (got %s: \"%s\")",
           wh_errname(rc), d.msg);
  wb_fini(&m);

  wh_linker_free(l);
  wh_module_free(mod);
  wh_module_free(mod2);
  wh_module_free(mod3);
  wh_exec_free(x);
  wh_engine_free(e);
}

static void test_failed_instance_functions_stay_callable(void) {
  /* A: (table (export "t") 2 funcref) (func (export "call") call_indirect index 1)
   * B: (import "A" "t" (table 2 funcref)) (memory 1)
   *    (elem (i32.const 1) $nine) (func $nine (result i32) 9)
   *    (data (i32.const 65535) "xy")        ;; traps after the elements
   * B's instantiation fails, but its element write into A's table stays
   * and $nine stays callable through it. */
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  wh_linker_t *l = wh_linker_new(e);
  wb_mod_t ma, mb;
  wb_init(&ma);
  wb_table(&ma, WH_FUNCREF, 2, WB_NO_MAX);
  uint32_t calla = wb_func(&ma, "", "i", "", CODE(I32_CONST(1), CALL_INDIRECT(0, 0)));
  wb_export(&ma, "t", WH_EXTERN_TABLE, 0);
  wb_export(&ma, "call", WH_EXTERN_FUNC, calla);
  wb_init(&mb);
  wb_import_table(&mb, "A", "t", WH_FUNCREF, 2, WB_NO_MAX);
  wb_memory(&mb, 1, 1);
  uint32_t nine = wb_func(&mb, "", "i", "", CODE(I32_CONST(9)));
  wb_elem(&mb, 1, &nine, 1);
  wb_data(&mb, 65535, "xy", 2);
  wh_module_t *moda = compile(e, &ma), *modb = compile(e, &mb);
  wh_instance_t *a = NULL, *b = NULL;
  wh_diag_t d;
  if (moda && modb && wh_linker_instantiate(l, moda, x, &a, &d) == 0) {
    wh_linker_define_instance(l, "A", a);
    int rc = wh_linker_instantiate(l, modb, x, &b, &d);
    WT_CHECK(rc == WH_ETRAP && b == NULL, "B's data segment traps (got %s)", wh_errname(rc));
    int32_t got = 0;
    rc = call1(x, a, "call", 0, 0, 0, &got);
    WT_CHECK(rc == 0 && got == 9, "B's function, placed before the trap, stays callable "
             "(got %d, %s)", got, wh_errname(rc));
    /* B's module may go before the linker that keeps the failed B */
    wh_module_free(modb);
    modb = NULL;
  }
  wh_linker_free(l);
  wh_instance_free(a);
  wh_module_free(moda);
  wh_module_free(modb);
  wb_fini(&ma);
  wb_fini(&mb);
  wh_exec_free(x);
  wh_engine_free(e);
}

static void test_instances_are_independent(void) {
  /* two instances of (memory 1) (global (mut i32)) keep their own state */
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  wh_linker_t *l = wh_linker_new(e);
  wb_mod_t m;
  wb_init(&m);
  wb_memory(&m, 1, 1);
  wb_global(&m, 'i', true, CODE(I32_CONST(0)));
  /* "bump": g += 1; mem[0] += 1; return g * 100 + mem[0] */
  uint32_t bump = wb_func(&m, "", "i", "", CODE(
      GLOBAL_GET(0), I32_CONST(1), I32_ADD, GLOBAL_SET(0),
      I32_CONST(0), I32_CONST(0), I32_LOAD(2, 0), I32_CONST(2), I32_ADD, I32_STORE(2, 0),
      GLOBAL_GET(0), I32_CONST(100), I32_MUL, I32_CONST(0), I32_LOAD(2, 0), I32_ADD));
  wb_export(&m, "bump", WH_EXTERN_FUNC, bump);
  wh_module_t *mod = compile(e, &m);
  wh_instance_t *i1 = NULL, *i2 = NULL;
  wh_diag_t d;
  if (mod) {
    wh_linker_instantiate(l, mod, x, &i1, &d);
    wh_linker_instantiate(l, mod, x, &i2, &d);
  }
  if (i1 && i2) {
    int32_t got = 0;
    call1(x, i1, "bump", 0, 0, 0, &got);
    call1(x, i1, "bump", 0, 0, 0, &got);
    WT_CHECK(got == 204, "the first instance counts to 2 (got %d)", got);
    call1(x, i2, "bump", 0, 0, 0, &got);
    WT_CHECK(got == 102, "the second instance starts from scratch (got %d)", got);
  } else {
    WT_CHECK(false, "two instances of one module instantiate (%s)", d.msg);
  }
  wh_instance_free(i1);
  wh_instance_free(i2);
  wh_instance_free(NULL);
  wh_linker_free(l);
  wh_module_free(mod);
  wb_fini(&m);
  wh_exec_free(x);
  wh_engine_free(e);
}

/* ---- names with NUL bytes ---------------------------------------------------- */

static void test_names_with_nul_bytes(void) {
  /* A exports "a\0b" (returns 1) and "a" (returns 2); B imports A."a\0b" */
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  wh_linker_t *l = wh_linker_new(e);
  wb_mod_t ma, mb, mc;
  wb_init(&ma);
  uint32_t one = wb_func(&ma, "", "i", "", CODE(I32_CONST(1)));
  uint32_t two = wb_func(&ma, "", "i", "", CODE(I32_CONST(2)));
  wb_export_n(&ma, "a\0b", 3, WH_EXTERN_FUNC, one);
  wb_export_n(&ma, "a", 1, WH_EXTERN_FUNC, two);
  wb_init(&mb);
  wb_import_func_n(&mb, "A", 1, "a\0b", 3, "", "i");
  uint32_t f = wb_func(&mb, "", "i", "", CODE(CALL(0)));
  wb_export(&mb, "f", WH_EXTERN_FUNC, f);
  /* C imports A."a\0c", which nobody exports */
  wb_init(&mc);
  wb_import_func_n(&mc, "A", 1, "a\0c", 3, "", "i");
  wh_module_t *moda = compile(e, &ma), *modb = compile(e, &mb), *modc = compile(e, &mc);
  wh_instance_t *a = NULL, *b = NULL, *c = NULL;
  wh_diag_t d;
  if (moda && modb && modc && wh_linker_instantiate(l, moda, x, &a, &d) == 0) {
    wh_func_t *fab = wh_instance_func_n(a, "a\0b", 3), *fa = wh_instance_func(a, "a");
    int32_t got = 0;
    wh_val_t r;
    WT_CHECK(fab && wh_call(x, fab, NULL, 0, &r, 1) == 0 && r.of.i32 == 1,
             "export \"a\\0b\" is found with its length");
    WT_CHECK(fa && wh_call(x, fa, NULL, 0, &r, 1) == 0 && r.of.i32 == 2,
             "export \"a\" is another function");
    WT_CHECK(wh_instance_func_n(a, "a\0c", 3) == NULL, "\"a\\0c\" is not \"a\\0b\"");
    wh_linker_define_instance(l, "A", a);
    int rc = wh_linker_instantiate(l, modb, x, &b, &d);
    WT_CHECK(rc == 0, "an import named \"a\\0b\" links to that export (%s)", d.msg);
    if (b) {
      call1(x, b, "f", 0, 0, 0, &got);
      WT_CHECK(got == 1, "and calls it, not \"a\" (got %d)", got);
    }
    rc = wh_linker_instantiate(l, modc, x, &c, &d);
    WT_CHECK(rc == WH_EUNLINKABLE, "an import named \"a\\0c\" does not link (got %s)",
             wh_errname(rc));
  }
  wh_instance_free(c);
  wh_instance_free(b);
  wh_instance_free(a);
  wh_linker_free(l);
  wh_module_free(moda);
  wh_module_free(modb);
  wh_module_free(modc);
  wb_fini(&ma);
  wb_fini(&mb);
  wb_fini(&mc);

  /* two exports differing only after a NUL are distinct; the same twice is not */
  for (int dup = 0; dup < 2; dup++) {
    wb_mod_t m;
    wb_init(&m);
    uint32_t g = wb_func(&m, "", "", "", CODE(NOP));
    wb_export_n(&m, "x\0y", 3, WH_EXTERN_FUNC, g);
    wb_export_n(&m, dup ? "x\0y" : "x\0z", 3, WH_EXTERN_FUNC, g);
    size_t len;
    const uint8_t *bytes = wb_bytes(&m, &len);
    int rc = wt_compile(bytes, len, &d);
    if (dup)
      WT_CHECK(rc == WH_EINVALID, "exporting \"x\\0y\" twice is a duplicate (got %s)",
               wh_errname(rc));
    else
      WT_CHECK(rc == 0, "\"x\\0y\" and \"x\\0z\" are different export names (got %s: %s)",
               wh_errname(rc), d.msg);
    wb_fini(&m);
  }
  wh_exec_free(x);
  wh_engine_free(e);
}

/* ---- instance allocators ------------------------------------------------------ */

/* A test allocator: malloc for state and tables, mmap for memory slots
 * of at most `slot_pages`; counts what is out; can be told to fail each
 * kind; optionally fills memory from the module's image (data_ready). */
typedef struct test_alloc {
  wh_inst_alloc_t base;
  int states, tables, mems;       /* outstanding */
  bool fail_state, fail_table, fail_mem;
  uint32_t table_cap;             /* at least this many elements */
  uint64_t slot_pages;
  bool image;                     /* data_ready from wh_module_memory_image */
  uint8_t poke;                   /* if nonzero, written at byte 0 after the image */
  bool released_dirty;            /* a memory came back with nonzero bytes */
} test_alloc_t;

static void *ta_state_acquire(wh_inst_alloc_t *a, size_t size) {
  test_alloc_t *t = (test_alloc_t *)a;
  if (t->fail_state) return NULL;
  void *p = calloc(1, size);
  if (p) t->states++;
  return p;
}

static void ta_state_release(wh_inst_alloc_t *a, void *block, size_t size) {
  (void)size;
  ((test_alloc_t *)a)->states--;
  free(block);
}

static void **ta_table_acquire(wh_inst_alloc_t *a, uint32_t min, uint32_t max,
                               uint32_t *capacity) {
  test_alloc_t *t = (test_alloc_t *)a;
  if (t->fail_table) return NULL;
  uint32_t cap = min > t->table_cap ? min : t->table_cap;
  if (cap > max) cap = max;
  void **p = calloc(cap ? cap : 1, sizeof *p);
  if (p) {
    t->tables++;
    *capacity = cap;
  }
  return p;
}

static void ta_table_release(wh_inst_alloc_t *a, void **elems, uint32_t capacity) {
  (void)capacity;
  ((test_alloc_t *)a)->tables--;
  free(elems);
}

static int ta_memory_acquire(wh_inst_alloc_t *a, const wh_module_t *m, uint64_t min,
                             uint64_t max, wh_mem_slot_t *slot) {
  test_alloc_t *t = (test_alloc_t *)a;
  uint64_t slot_bytes = t->slot_pages * 65536;
  if (t->fail_mem || min > slot_bytes) return WH_ELIMIT;
  void *p = mmap(NULL, slot_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) return WH_ENOMEM;
  if (min && mprotect(p, min, PROT_READ | PROT_WRITE)) {
    munmap(p, slot_bytes);
    return WH_ENOMEM;
  }
  slot->base = p;
  slot->reserved = slot_bytes;
  slot->size = min;
  slot->max_size = max < slot_bytes ? max : slot_bytes;
  slot->data_ready = false;
  if (t->image) {
    uint8_t *img = NULL;
    size_t len = 0;
    if (wh_module_memory_image(m, &img, &len) == 0) {
      if (len) memcpy(p, img, len);
      slot->data_ready = true;
    }
    free(img);
  }
  if (t->poke && min) ((uint8_t *)p)[0] = t->poke;
  t->mems++;
  return 0;
}

static void ta_memory_release(wh_inst_alloc_t *a, const wh_module_t *m,
                              const wh_mem_slot_t *slot) {
  (void)m;
  test_alloc_t *t = (test_alloc_t *)a;
  for (uint64_t i = 0; i < slot->size; i++)
    if (slot->base[i]) {
      t->released_dirty = true;
      break;
    }
  munmap(slot->base, slot->reserved);
  t->mems--;
}

static void test_alloc_init(test_alloc_t *t) {
  memset(t, 0, sizeof *t);
  t->base = (wh_inst_alloc_t){ta_state_acquire, ta_state_release, ta_table_acquire,
                              ta_table_release, ta_memory_acquire, ta_memory_release};
  t->table_cap = 4;
  t->slot_pages = 3;
}

/* (memory 1 10) (table 2 100 funcref) (data (i32.const 0) "hi") (data $p passive "pp")
 * (elem (i32.const 0) $grow)
 * "grow" (n) memory.grow, "tgrow" (n) table.grow, "peek" (a) i32.load8_u,
 * "init" memory.init 0 (copy 1 byte of the active segment), "trap" unreachable */
static void build_alloc_module(wb_mod_t *m, bool elem_oob) {
  wb_init(m);
  wb_table(m, WH_FUNCREF, 2, 100);
  wb_memory(m, 1, 10);
  uint32_t grow = wb_func(m, "i", "i", "", CODE(LOCAL_GET(0), MEMORY_GROW));
  uint32_t tgrow = wb_func(m, "i", "i", "", CODE(REF_NULL(0x70), LOCAL_GET(0), TABLE_GROW(0)));
  uint32_t peek = wb_func(m, "i", "i", "", CODE(LOCAL_GET(0), I32_LOAD8_U(0, 0)));
  uint32_t init = wb_func(m, "", "", "", CODE(I32_CONST(100), I32_CONST(0), I32_CONST(1),
                                              MEMORY_INIT(0)));
  wb_export(m, "grow", WH_EXTERN_FUNC, grow);
  wb_export(m, "tgrow", WH_EXTERN_FUNC, tgrow);
  wb_export(m, "peek", WH_EXTERN_FUNC, peek);
  wb_export(m, "init", WH_EXTERN_FUNC, init);
  wb_elem(m, elem_oob ? 2 : 0, &grow, 1);
  wb_datacount(m);
  wb_data(m, 0, "hi", 2);
  wb_data_passive(m, "pp", 2);
}

static void test_instance_allocator(void) {
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  wh_linker_t *l = wh_linker_new(e);
  wb_mod_t m;
  build_alloc_module(&m, false);
  wh_module_t *mod = compile(e, &m);
  test_alloc_t ta;
  test_alloc_init(&ta);
  wh_instance_t *inst = NULL;
  wh_diag_t d;
  int rc = mod ? wh_linker_instantiate_in(l, mod, x, &ta.base, &inst, &d) : -1;
  WT_CHECK(rc == 0, "an instance is made from the allocator's slots (%s)", d.msg);
  WT_CHECK(ta.states == 1 && ta.tables == 1 && ta.mems == 1,
           "it took one state block, one table and one memory (%d, %d, %d)", ta.states,
           ta.tables, ta.mems);
  if (inst) {
    int32_t got = 0;
    call1(x, inst, "peek", 1, 1, 0, &got);
    WT_CHECK(got == 'i', "the data segment was written into the slot (got %d)", got);
    call1(x, inst, "grow", 1, 2, 0, &got);
    WT_CHECK(got == 1, "memory grows inside the 3-page slot (got %d)", got);
    call1(x, inst, "grow", 1, 1, 0, &got);
    WT_CHECK(got == -1, "memory does not grow past the slot, under the module's 10 (got %d)",
             got);
    call1(x, inst, "tgrow", 1, 2, 0, &got);
    WT_CHECK(got == 2, "the table grows inside its 4-element slot (got %d)", got);
    call1(x, inst, "tgrow", 1, 1, 0, &got);
    WT_CHECK(got == -1, "the table does not grow past its slot (got %d)", got);
    rc = call1(x, inst, "init", 0, 0, 0, NULL);
    WT_CHECK(rc == WH_ETRAP, "an active segment is dropped after instantiation (got %s)",
             wh_errname(rc));
  }
  wh_instance_free(inst);
  WT_CHECK(ta.states == 0 && ta.tables == 0 && ta.mems == 0,
           "freeing the instance gives every slot back (%d, %d, %d)", ta.states, ta.tables,
           ta.mems);

  /* each kind of exhaustion is WH_ELIMIT and gives back what was taken */
  static const char *const what[] = {"state", "table", "memory"};
  for (int k = 0; k < 3; k++) {
    test_alloc_init(&ta);
    ta.fail_state = k == 0;
    ta.fail_table = k == 1;
    ta.fail_mem = k == 2;
    inst = NULL;
    rc = mod ? wh_linker_instantiate_in(l, mod, x, &ta.base, &inst, &d) : -1;
    WT_CHECK(rc == WH_ELIMIT && d.code == WH_ELIMIT && inst == NULL,
             "an allocator out of %s slots fails instantiation with WH_ELIMIT (got %s)",
             what[k], wh_errname(rc));
    WT_CHECK(strstr(d.msg, "slot") != NULL, "the diagnostic mentions the slot (got \"%s\")",
             d.msg);
    WT_CHECK(ta.states == 0 && ta.tables == 0 && ta.mems == 0,
             "a failed instantiation gives back every %s-case slot (%d, %d, %d)", what[k],
             ta.states, ta.tables, ta.mems);
  }
  /* a module whose minimum memory exceeds the slot */
  test_alloc_init(&ta);
  ta.slot_pages = 0;
  rc = mod ? wh_linker_instantiate_in(l, mod, x, &ta.base, &inst, &d) : -1;
  WT_CHECK(rc == WH_ELIMIT && ta.states == 0 && ta.tables == 0,
           "a minimum memory larger than the slot is WH_ELIMIT and leaks nothing (got %s)",
           wh_errname(rc));
  wh_module_free(mod);
  wb_fini(&m);
  wh_linker_free(l);
  wh_exec_free(x);
  wh_engine_free(e);
}

static void test_instance_allocator_image(void) {
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  wh_linker_t *l = wh_linker_new(e);
  wb_mod_t m;
  build_alloc_module(&m, false);
  wh_module_t *mod = compile(e, &m);
  test_alloc_t ta;
  test_alloc_init(&ta);
  ta.image = true;
  ta.poke = 'X';   /* so we can tell whether the engine rewrote the segment */
  wh_instance_t *inst = NULL;
  wh_diag_t d;
  int rc = mod ? wh_linker_instantiate_in(l, mod, x, &ta.base, &inst, &d) : -1;
  WT_CHECK(rc == 0, "an instance is made on a slot holding the memory image (%s)", d.msg);
  if (inst) {
    int32_t got = 0;
    call1(x, inst, "peek", 1, 0, 0, &got);
    WT_CHECK(got == 'X', "with data_ready the engine leaves the slot's bytes alone (got %d)",
             got);
    call1(x, inst, "peek", 1, 1, 0, &got);
    WT_CHECK(got == 'i', "the image's bytes are there (got %d)", got);
    rc = call1(x, inst, "init", 0, 0, 0, NULL);
    WT_CHECK(rc == WH_ETRAP, "the active segment counts as applied and dropped (got %s)",
             wh_errname(rc));
  }
  wh_instance_free(inst);
  wh_module_free(mod);
  wb_fini(&m);

  /* an element segment that traps: the image's data must not stay */
  build_alloc_module(&m, true);
  mod = compile(e, &m);
  test_alloc_init(&ta);
  ta.image = true;
  inst = NULL;
  rc = mod ? wh_linker_instantiate_in(l, mod, x, &ta.base, &inst, &d) : -1;
  WT_CHECK(rc == WH_ETRAP, "an element segment past its table traps (got %s)", wh_errname(rc));
  wh_linker_free(l);   /* frees the failed instance the linker kept */
  WT_CHECK(ta.states == 0 && ta.tables == 0 && ta.mems == 0,
           "the failed instance's slots come back when the linker goes (%d, %d, %d)",
           ta.states, ta.tables, ta.mems);
  WT_CHECK(!ta.released_dirty, "the data applied early by the image was taken back");
  wh_module_free(mod);
  wb_fini(&m);
  wh_exec_free(x);
  wh_engine_free(e);
}

/* ---- multi-memory ------------------------------------------------------------ */

/* Byte `at` of the memory `inst` exports as "m1". */
static uint8_t m1_byte(wh_instance_t *inst, uint64_t at) {
  uint64_t size = 0;
  uint8_t *p = wh_memory_data(wh_instance_memory(inst, "m1"), &size);
  return at < size ? p[at] : 0xff;
}

static void test_multi_memory_linking(void) {
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  wh_linker_t *l = wh_linker_new(e);
  wh_diag_t d;
  /* A: (memory 1 2) (memory 2 4) (export "m0" (memory 0)) (export "m1" (memory 1))
   *    (func (export "peek1") (param i32) (result i32) (i32.load8_u 1 (local.get 0)))
   *    (data (memory 1) (i32.const 5) "A") */
  wb_mod_t ma;
  wb_init(&ma);
  wb_memory(&ma, 1, 2);
  wb_memory(&ma, 2, 4);
  wb_export(&ma, "peek1", WH_EXTERN_FUNC,
            wb_func(&ma, "i", "i", "", CODE(LOCAL_GET(0), I32_LOAD8_U_M(0, 1, 0))));
  wb_export(&ma, "m0", WH_EXTERN_MEMORY, 0);
  wb_export(&ma, "m1", WH_EXTERN_MEMORY, 1);
  wb_data_mem(&ma, 1, 5, "A", 1);
  /* B: (import "a" "m1" (memory 1)) (memory 1 1) (export "own" (memory 1))
   *    "poke0" (a v): i32.store8 0, "poke1" (a v): i32.store8 1 */
  wb_mod_t mb;
  wb_init(&mb);
  wb_import_memory(&mb, "a", "m1", 1, WB_NO_MAX);
  wb_memory(&mb, 1, 1);
  wb_export(&mb, "poke0", WH_EXTERN_FUNC, wb_func(&mb, "ii", "", "", CODE(
      LOCAL_GET(0), LOCAL_GET(1), I32_STORE8(0, 0))));
  wb_export(&mb, "poke1", WH_EXTERN_FUNC, wb_func(&mb, "ii", "", "", CODE(
      LOCAL_GET(0), LOCAL_GET(1), I32_STORE8_M(0, 1, 0))));
  wb_export(&mb, "own", WH_EXTERN_MEMORY, 1);
  /* C: (import "a" "m0" (memory 1)) (import "a" "m1" (memory 2))
   *    (data (memory 1) (i32.const 9) "C")
   *    "poke1" (a v): i32.store8 1 -- its second memory is imported */
  wb_mod_t mc;
  wb_init(&mc);
  wb_import_memory(&mc, "a", "m0", 1, WB_NO_MAX);
  wb_import_memory(&mc, "a", "m1", 2, WB_NO_MAX);
  wb_export(&mc, "poke1", WH_EXTERN_FUNC, wb_func(&mc, "ii", "", "", CODE(
      LOCAL_GET(0), LOCAL_GET(1), I32_STORE8_M(0, 1, 0))));
  wb_data_mem(&mc, 1, 9, "C", 1);
  /* D: (import "a" "m0" (memory 2)): m0 has 1 page, so this is unlinkable */
  wb_mod_t md;
  wb_init(&md);
  wb_import_memory(&md, "a", "m0", 2, WB_NO_MAX);
  /* E: (import "a" "m1" (memory 2)) (import "a" "m1" (memory 2)): one
   *    memory as both 0 and 1.  "grow" grows it through memory 1, then
   *    reads its new third page through memory 0 in the same call:
   *    (drop (memory.grow 1 (i32.const 1))) (i32.load8_u 0 (i32.const 0x20005)) */
  wb_mod_t me;
  wb_init(&me);
  wb_import_memory(&me, "a", "m1", 2, WB_NO_MAX);
  wb_import_memory(&me, "a", "m1", 2, WB_NO_MAX);
  wb_export(&me, "grow", WH_EXTERN_FUNC, wb_func(&me, "", "i", "", CODE(
      I32_CONST(1), MEMORY_GROW_M(1), DROP, I32_CONST(0x20005), I32_LOAD8_U(0, 0))));

  wh_module_t *a = compile(e, &ma), *b = compile(e, &mb), *c = compile(e, &mc),
              *dd = compile(e, &md), *me_mod = compile(e, &me);
  wh_instance_t *ia = NULL, *ib = NULL, *ic = NULL, *id = NULL, *ie = NULL;
  if (a && b && c && dd && me_mod) {
    int rc = wh_linker_instantiate(l, a, x, &ia, &d);
    WT_CHECK(rc == 0, "the module exporting two memories instantiates (%s)", d.msg);
    if (ia) {
      uint64_t s0 = 0, s1 = 0;
      wh_memory_data(wh_instance_memory(ia, "m0"), &s0);
      uint8_t *m1 = wh_memory_data(wh_instance_memory(ia, "m1"), &s1);
      WT_CHECK(s0 == 65536 && s1 == 2 * 65536 && m1[5] == 'A',
               "export m1 is memory 1 (2 pages, holding its data segment)");
      wh_linker_define_instance(l, "a", ia);
      rc = wh_linker_instantiate(l, b, x, &ib, &d);
      WT_CHECK(rc == 0, "a module importing memory 1 as its memory 0 and defining memory 1 "
               "instantiates (%s)", d.msg);
      rc = wh_linker_instantiate(l, c, x, &ic, &d);
      WT_CHECK(rc == 0, "a module importing two memories instantiates (%s)", d.msg);
      rc = wh_linker_instantiate(l, dd, x, &id, &d);
      WT_CHECK(rc == WH_EUNLINKABLE, "importing 1-page m0 as a 2-page memory is unlinkable "
               "(got %s)", wh_errname(rc));
    }
    if (ib && ic) {
      int32_t got = 0;
      call1(x, ia, "peek1", 1, 9, 0, &got);
      WT_CHECK(got == 'C', "an active segment for an imported memory 1 lands in the "
               "exporter's memory 1 (got %d)", got);
      call1(x, ib, "poke0", 2, 7, 'b', NULL);
      call1(x, ia, "peek1", 1, 7, 0, &got);
      WT_CHECK(got == 'b', "a store to B's memory 0 (A's memory 1) is seen by A (got %d)", got);
      call1(x, ic, "poke1", 2, 10, 'c', NULL);
      call1(x, ia, "peek1", 1, 10, 0, &got);
      WT_CHECK(got == 'c', "a store to C's imported memory 1 is seen by A (got %d)", got);
      int rc2 = call1(x, ib, "poke1", 2, 11, 'o', NULL);
      uint64_t so = 0;
      uint8_t *own = wh_memory_data(wh_instance_memory(ib, "own"), &so);
      WT_CHECK(rc2 == 0 && so == 65536 && own[11] == 'o' && m1_byte(ia, 11) == 0,
               "B's own memory 1 is its own (got %s)", wh_errname(rc2));
    }
    if (ia && wh_linker_instantiate(l, me_mod, x, &ie, &d) == 0) {
      int32_t got = -1;
      int rc3 = call1(x, ie, "grow", 0, 0, 0, &got);
      WT_CHECK(rc3 == 0 && got == 0, "memory 0 sees a page grown through memory 1 when "
               "both are one memory (got %s, %d)", wh_errname(rc3), got);
    } else {
      WT_CHECK(false, "a module importing one memory twice instantiates (%s)", d.msg);
    }
  }
  wh_instance_free(ie);
  wh_instance_free(id);
  wh_instance_free(ic);
  wh_instance_free(ib);
  wh_instance_free(ia);
  wh_module_free(me_mod);
  wh_module_free(dd);
  wh_module_free(c);
  wh_module_free(b);
  wh_module_free(a);
  wb_fini(&me);
  wb_fini(&md);
  wb_fini(&mc);
  wb_fini(&mb);
  wb_fini(&ma);
  wh_linker_free(l);
  wh_exec_free(x);
  wh_engine_free(e);
}

static void test_multi_memory_limits_and_segments(void) {
  wh_engine_t *e = wh_engine_new(NULL);
  wh_exec_t *x = wh_exec_new(e);
  wh_linker_t *l = wh_linker_new(e);
  wh_diag_t d;
  wh_instance_t *inst = NULL;

  /* the exec's memory limit covers the memories together: (memory 1)
   * (memory 3) needs 4 pages, over a 2-page limit */
  wb_mod_t m;
  wb_init(&m);
  wb_memory(&m, 1, WB_NO_MAX);
  wb_memory(&m, 3, WB_NO_MAX);
  wh_module_t *mod = compile(e, &m);
  wh_exec_set_memory_limit(x, 2 * 65536);
  int rc = mod ? wh_linker_instantiate(l, mod, x, &inst, &d) : -1;
  WT_CHECK(rc == WH_ERANGE && inst == NULL,
           "a memory 1 over the exec's memory limit is WH_ERANGE (got %s)", wh_errname(rc));
  wh_module_free(mod);
  wb_fini(&m);

  /* (memory 1) (memory 1) under a 3-page limit: the memories share it,
   * so memory 1 grows by one page (3 in all) and then neither grows */
  wb_init(&m);
  wb_memory(&m, 1, WB_NO_MAX);
  wb_memory(&m, 1, WB_NO_MAX);
  wb_export(&m, "grow0", WH_EXTERN_FUNC,
            wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), MEMORY_GROW)));
  wb_export(&m, "grow1", WH_EXTERN_FUNC,
            wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), MEMORY_GROW_M(1))));
  mod = compile(e, &m);
  wh_exec_set_memory_limit(x, 3 * 65536);
  inst = NULL;
  rc = mod ? wh_linker_instantiate(l, mod, x, &inst, &d) : -1;
  WT_CHECK(rc == 0, "two 1-page memories fit a 3-page limit (%s)", d.msg);
  if (inst) {
    int32_t got = 0;
    call1(x, inst, "grow1", 1, 1, 0, &got);
    WT_CHECK(got == 1, "memory 1 grows to 2 pages, 3 in all (got %d)", got);
    call1(x, inst, "grow1", 1, 1, 0, &got);
    WT_CHECK(got == -1, "memory 1 does not grow past the shared limit (got %d)", got);
    call1(x, inst, "grow0", 1, 1, 0, &got);
    WT_CHECK(got == -1, "nor does memory 0: the limit covers both (got %d)", got);
  }
  /* a second instance on the same exec shares the budget while the
   * first lives: 3 pages are in use, so even one more does not fit */
  wb_mod_t one;
  wb_init(&one);
  wb_memory(&one, 1, WB_NO_MAX);
  wh_module_t *mod1 = compile(e, &one);
  wh_instance_t *inst2 = NULL;
  rc = mod1 ? wh_linker_instantiate(l, mod1, x, &inst2, &d) : -1;
  WT_CHECK(rc == WH_ERANGE && inst2 == NULL,
           "another instance's memory does not fit the spent budget (got %s)", wh_errname(rc));
  wh_instance_free(inst);
  inst = NULL;
  rc = mod1 ? wh_linker_instantiate(l, mod1, x, &inst2, &d) : -1;
  WT_CHECK(rc == 0, "it fits once the first instance is freed (%s)", d.msg);
  /* a new limit is a new budget; the exec may go before its instances */
  wh_exec_t *x2 = wh_exec_new(e);
  wh_exec_set_memory_limit(x2, 65536);
  wh_instance_t *inst3 = NULL;
  rc = mod1 && x2 ? wh_linker_instantiate(l, mod1, x2, &inst3, &d) : -1;
  WT_CHECK(rc == 0, "one page fits a one-page limit (%s)", d.msg);
  wh_exec_set_memory_limit(x2, 65536);
  wh_instance_t *inst4 = NULL;
  rc = mod1 && x2 ? wh_linker_instantiate(l, mod1, x2, &inst4, &d) : -1;
  WT_CHECK(rc == 0, "after setting the limit again, later instances get a fresh budget (%s)",
           d.msg);
  wh_exec_free(x2);
  wh_instance_free(inst3);
  wh_instance_free(inst4);
  wh_instance_free(inst2);
  wh_module_free(mod1);
  wb_fini(&one);
  wh_module_free(mod);
  wb_fini(&m);
  wh_exec_set_memory_limit(x, 0);

  /* (memory 1) (memory 1) (data (i32.const 0) "x") (data (memory 1) (i32.const 65535) "yz"):
   * the second segment runs past memory 1 and traps */
  wb_init(&m);
  wb_memory(&m, 1, WB_NO_MAX);
  wb_memory(&m, 1, WB_NO_MAX);
  wb_data(&m, 0, "x", 1);
  wb_data_mem(&m, 1, 65535, "yz", 2);
  mod = compile(e, &m);
  inst = NULL;
  rc = mod ? wh_linker_instantiate(l, mod, x, &inst, &d) : -1;
  WT_CHECK(rc == WH_ETRAP && strstr(d.msg, "data segment 1: out of bounds memory access"),
           "a data segment past memory 1's end traps (got %s: %s)", wh_errname(rc), d.msg);
  uint8_t *img = NULL;
  size_t len = 0;
  WT_CHECK(mod && wh_module_memory_image(mod, &img, &len) == WH_EUNSUPPORTED,
           "a module whose memory-1 segment traps has no memory image");
  free(img);
  wh_module_free(mod);
  wb_fini(&m);

  /* with an allocator: memory 0 takes the slot (holding the image of
   * memory 0's segments), memory 1 is reserved on demand and gets its
   * segment at instantiation; freeing the instance gives both back */
  wb_init(&m);
  wb_memory(&m, 1, 10);
  wb_memory(&m, 1, 2);
  wb_export(&m, "peek0", WH_EXTERN_FUNC,
            wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), I32_LOAD8_U(0, 0))));
  wb_export(&m, "peek1", WH_EXTERN_FUNC,
            wb_func(&m, "i", "i", "", CODE(LOCAL_GET(0), I32_LOAD8_U_M(0, 1, 0))));
  wb_data(&m, 0, "hi", 2);
  wb_data_mem(&m, 1, 0, "yo", 2);
  mod = compile(e, &m);
  img = NULL;
  len = 0;
  rc = mod ? wh_module_memory_image(mod, &img, &len) : -1;
  WT_CHECK(rc == 0 && len == 2 && img && memcmp(img, "hi", 2) == 0,
           "the memory image holds memory 0's segments only (got %s, %zu bytes)",
           wh_errname(rc), len);
  free(img);
  test_alloc_t ta;
  test_alloc_init(&ta);
  ta.image = true;
  inst = NULL;
  rc = mod ? wh_linker_instantiate_in(l, mod, x, &ta.base, &inst, &d) : -1;
  WT_CHECK(rc == 0 && ta.mems == 1,
           "a pooled instance takes one memory slot for its two memories (%s)", d.msg);
  if (inst) {
    int32_t a = 0, b = 0;
    call1(x, inst, "peek0", 1, 1, 0, &a);
    call1(x, inst, "peek1", 1, 1, 0, &b);
    WT_CHECK(a == 'i' && b == 'o', "memory 0 has its image and memory 1 its segment "
             "(got %c %c)", a, b);
  }
  wh_instance_free(inst);
  WT_CHECK(ta.mems == 0 && ta.states == 0, "freeing it gives the slot back");
  wh_module_free(mod);
  wb_fini(&m);

  wh_linker_free(l);
  wh_exec_free(x);
  wh_engine_free(e);
}

CU_TestInfo wt_tests_instance[] = {
    {"multi-memory: any memory is exported, imported and linked by its index",
     test_multi_memory_linking},
    {"multi-memory: limits, data segments and allocators per memory",
     test_multi_memory_limits_and_segments},
    {"unlinkable imports are named in the diagnostic", test_unlinkable},
    {"memories grow up to their maximum and no further", test_memory_limits},
    {"tables grow up to their maximum and no further", test_table_limits},
    {"memories are shared between instances", test_shared_memory},
    {"tables and globals are shared between instances", test_shared_table_and_globals},
    {"initialisers and start functions run, or trap", test_initialisers_and_start},
    {"a failed instance's functions stay callable", test_failed_instance_functions_stay_callable},
    {"instances of one module are independent", test_instances_are_independent},
    {"names with NUL bytes are compared with their lengths", test_names_with_nul_bytes},
    {"an instance allocator provides state, tables and memory", test_instance_allocator},
    {"an allocator's memory image stands for the data segments",
     test_instance_allocator_image},
    CU_TEST_INFO_NULL,
};
