/*
 * wt.h - helpers shared by the engine's unit tests (tests/engine).
 *
 *   wb_*   a tiny WebAssembly module builder: sections are filled from
 *          arrays (types as "ii" strings, bodies as byte lists written
 *          with the opcode macros below) and emitted in the spec's order,
 *          so a test reads as the WAT it is made from.
 *   wt_*   running things: an engine + linker + exec bundle, calls with
 *          i32 arguments, the allocation hooks used by the fault tests,
 *          and WT_CHECK, an assertion whose message is a sentence.
 *
 * Indices written with the opcode macros are single-byte LEB128, so they
 * must be below 128; constants use a padded 5- or 10-byte LEB128, which
 * the binary format allows and which keeps them plain C constants.
 */
#ifndef WT_H
#define WT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

#include "wh_engine.h"

/* ---- assertions ---------------------------------------------------------- */

/* Records one CUnit assertion; on failure the message (printf-style, a
 * sentence saying what should hold) is what the report shows. */
void wt_check(bool ok, int line, const char *file, const char *func,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define WT_CHECK(cond, ...) wt_check((cond), __LINE__, __FILE__, __func__, __VA_ARGS__)

/* ---- byte buffers ---------------------------------------------------------- */

typedef struct wb_buf {
  uint8_t *p;
  size_t len, cap;
} wb_buf_t;

void wb_byte(wb_buf_t *b, uint8_t v);
void wb_raw(wb_buf_t *b, const void *src, size_t n);
void wb_uleb(wb_buf_t *b, uint64_t v);
void wb_sleb(wb_buf_t *b, int64_t v);
/* A name: LEB128 length, then the bytes of `s`. */
void wb_str(wb_buf_t *b, const char *s);
void wb_buf_free(wb_buf_t *b);

/* ---- the module builder ------------------------------------------------ */

#define WB_NO_MAX (-1LL)
#define WB_MAX_SIGS 64
#define WB_MAX_SECTIONS 24

typedef struct wb_mod {
  wb_buf_t sec[13];        /* section bodies by id, without their counts */
  uint32_t count[13];      /* entries in each */
  bool want[13];           /* emit even if empty (e.g. the datacount) */
  char *sigs[WB_MAX_SIGS]; /* "ii:i" per type index, for wb_type's reuse */
  uint32_t nfunc_imports, nfuncs, ntables, nmems, nglobals;
  wb_buf_t names;          /* name section, function names subsection */
  uint32_t nnames;
  char *module_name;
  wb_buf_t custom;         /* whole custom sections, emitted last */
  wb_buf_t out;            /* the binary, made by wb_bytes */
  size_t ends[WB_MAX_SECTIONS]; /* offset after the header and each section */
  int nends;
} wb_mod_t;

void wb_init(wb_mod_t *m);
void wb_fini(wb_mod_t *m);

/* Type index of the function type params -> results, given as strings of
 * i I f F r e v (i32 i64 f32 f64 funcref externref v128); reuses an equal type. */
uint32_t wb_type(wb_mod_t *m, const char *params, const char *results);

/* Imports; each returns the index in its own index space.  Imports must
 * come before definitions of the same kind. */
uint32_t wb_import_func(wb_mod_t *m, const char *module, const char *name,
                        const char *params, const char *results);
uint32_t wb_import_memory(wb_mod_t *m, const char *module, const char *name,
                          uint32_t min, long long max);
uint32_t wb_import_table(wb_mod_t *m, const char *module, const char *name,
                         uint8_t reftype, uint32_t min, long long max);
uint32_t wb_import_global(wb_mod_t *m, const char *module, const char *name,
                          char type, bool mut);

/* A function of type params -> results with extra `locals` (a type
 * string), whose body is `code` (n bytes) followed by an implicit `end`.
 * Returns the function index. */
uint32_t wb_func(wb_mod_t *m, const char *params, const char *results,
                 const char *locals, const uint8_t *code, size_t n);
/* A function of type index `type` whose whole body entry (local
 * declarations and expression, including the final end) is `body`. */
uint32_t wb_func_raw(wb_mod_t *m, uint32_t type, const uint8_t *body, size_t n);

uint32_t wb_table(wb_mod_t *m, uint8_t reftype, uint32_t min, long long max);
uint32_t wb_memory(wb_mod_t *m, uint32_t min, long long max);
/* A global of `type` initialised by the constant expression `init` (n
 * bytes, without the end). */
uint32_t wb_global(wb_mod_t *m, char type, bool mut, const uint8_t *init, size_t n);
void wb_export(wb_mod_t *m, const char *name, wh_externkind_t kind, uint32_t index);
/* An export whose name is `len` bytes (may hold NUL bytes). */
void wb_export_n(wb_mod_t *m, const char *name, size_t len, wh_externkind_t kind,
                 uint32_t index);
/* A function import whose module and name are given with lengths. */
uint32_t wb_import_func_n(wb_mod_t *m, const char *module, size_t mlen, const char *name,
                          size_t nlen, const char *params, const char *results);
void wb_start(wb_mod_t *m, uint32_t func);
/* Active element segment for table 0 at `offset`, listing functions. */
void wb_elem(wb_mod_t *m, int32_t offset, const uint32_t *funcs, uint32_t n);
/* Declarative segment: makes functions usable by ref.func. */
void wb_elem_declare(wb_mod_t *m, const uint32_t *funcs, uint32_t n);
/* Data segments; wb_datacount asks for a data count section. */
void wb_data(wb_mod_t *m, int32_t offset, const void *bytes, size_t n);
void wb_data_passive(wb_mod_t *m, const void *bytes, size_t n);
/* Active data segment for memory `mem` (multi-memory: flags 2). */
void wb_data_mem(wb_mod_t *m, uint32_t mem, int32_t offset, const void *bytes, size_t n);
void wb_datacount(wb_mod_t *m);
/* Name section entries. */
void wb_name_func(wb_mod_t *m, uint32_t func, const char *name);
void wb_name_module(wb_mod_t *m, const char *name);
/* A custom section, emitted after all others. */
void wb_custom(wb_mod_t *m, const char *name, const void *bytes, size_t n);

/* Emits the binary (kept in m->out, valid until wb_fini or the next
 * wb_bytes) and records section boundaries in m->ends. */
const uint8_t *wb_bytes(wb_mod_t *m, size_t *len);

/* ---- opcodes ------------------------------------------------------------- */

/* Padded LEB128 of a 32-bit signed value (5 bytes) and 64-bit (10 bytes). */
#define WB_SLEB5(v)                                                           \
  (uint8_t)(((uint32_t)(v) & 0x7f) | 0x80),                                   \
  (uint8_t)((((uint32_t)(v) >> 7) & 0x7f) | 0x80),                            \
  (uint8_t)((((uint32_t)(v) >> 14) & 0x7f) | 0x80),                           \
  (uint8_t)((((uint32_t)(v) >> 21) & 0x7f) | 0x80),                           \
  (uint8_t)(((int32_t)(v) >> 28) & 0x7f)
#define WB__B7(v, s) (uint8_t)((((uint64_t)(v) >> (s)) & 0x7f) | 0x80)
#define WB_SLEB10(v)                                                          \
  WB__B7(v, 0), WB__B7(v, 7), WB__B7(v, 14), WB__B7(v, 21), WB__B7(v, 28),    \
  WB__B7(v, 35), WB__B7(v, 42), WB__B7(v, 49), WB__B7(v, 56),                 \
  (uint8_t)(((int64_t)(v) >> 63) & 0x7f)

/* A byte list and its length, for wb_func's (code, n). */
#define CODE(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})

#define BT_VOID 0x40
#define BT_I32 0x7f
#define BT_I64 0x7e

#define UNREACHABLE 0x00
#define NOP 0x01
#define BLOCK(bt) 0x02, (bt)
#define LOOP(bt) 0x03, (bt)
#define IF(bt) 0x04, (bt)
#define ELSE 0x05
#define END 0x0b
#define BR(l) 0x0c, (l)
#define BR_IF(l) 0x0d, (l)
#define BR_TABLE2(a, b, dflt) 0x0e, 2, (a), (b), (dflt)
#define RETURN 0x0f
#define CALL(f) 0x10, (f)
#define CALL_INDIRECT(type, table) 0x11, (type), (table)
#define DROP 0x1a
#define SELECT 0x1b
#define LOCAL_GET(i) 0x20, (i)
#define LOCAL_SET(i) 0x21, (i)
#define LOCAL_TEE(i) 0x22, (i)
#define GLOBAL_GET(i) 0x23, (i)
#define GLOBAL_SET(i) 0x24, (i)
#define TABLE_GET(t) 0x25, (t)
#define TABLE_SET(t) 0x26, (t)
#define I32_LOAD(align, off) 0x28, (align), (off)
#define I64_LOAD(align, off) 0x29, (align), (off)
#define I32_LOAD8_U(align, off) 0x2d, (align), (off)
#define I32_STORE(align, off) 0x36, (align), (off)
#define I64_STORE(align, off) 0x37, (align), (off)
#define I32_STORE8(align, off) 0x3a, (align), (off)
#define MEMORY_SIZE 0x3f, 0x00
#define MEMORY_GROW 0x40, 0x00
#define I32_CONST(v) 0x41, WB_SLEB5(v)
#define I64_CONST(v) 0x42, WB_SLEB10(v)
#define F32_CONST_NAN 0x43, 0x00, 0x00, 0xc0, 0x7f
#define F32_CONST_1E10 0x43, 0xf9, 0x02, 0x15, 0x50   /* 1e10f */
#define I32_EQZ 0x45
#define I32_EQ 0x46
#define I32_NE 0x47
#define I32_LT_S 0x48
#define I32_GT_S 0x4a
#define I32_LE_S 0x4c
#define I32_ADD 0x6a
#define I32_SUB 0x6b
#define I32_MUL 0x6c
#define I32_DIV_S 0x6d
#define I32_DIV_U 0x6e
#define I32_REM_S 0x6f
#define I64_ADD 0x7c
#define I64_MUL 0x7e
#define I32_TRUNC_F32_S 0xa8
#define I64_EXTEND_I32_U 0xad
#define REF_NULL(t) 0xd0, (t)
#define REF_IS_NULL 0xd1
#define REF_FUNC(f) 0xd2, (f)
#define MEMORY_INIT(seg) 0xfc, 0x08, (seg), 0x00
#define DATA_DROP(seg) 0xfc, 0x09, (seg)
#define MEMORY_COPY 0xfc, 0x0a, 0x00, 0x00
#define MEMORY_FILL 0xfc, 0x0b, 0x00
#define TABLE_GROW(t) 0xfc, 0x0f, (t)
#define TABLE_SIZE(t) 0xfc, 0x10, (t)
#define TABLE_FILL(t) 0xfc, 0x11, (t)

/* multi-memory: memory indices after the opcode, or in a memarg whose
 * alignment flags have bit 6 set (then: flags, memory, offset) */
#define I32_LOAD_M(align, mem, off) 0x28, (align) | 0x40, (mem), (off)
#define I64_LOAD_M(align, mem, off) 0x29, (align) | 0x40, (mem), (off)
#define I32_LOAD8_U_M(align, mem, off) 0x2d, (align) | 0x40, (mem), (off)
#define I32_STORE_M(align, mem, off) 0x36, (align) | 0x40, (mem), (off)
#define I64_STORE_M(align, mem, off) 0x37, (align) | 0x40, (mem), (off)
#define I32_STORE8_M(align, mem, off) 0x3a, (align) | 0x40, (mem), (off)
#define MEMORY_SIZE_M(mem) 0x3f, (mem)
#define MEMORY_GROW_M(mem) 0x40, (mem)
#define MEMORY_INIT_M(seg, mem) 0xfc, 0x08, (seg), (mem)
#define MEMORY_COPY_M(dst, src) 0xfc, 0x0a, (dst), (src)
#define MEMORY_FILL_M(mem) 0xfc, 0x0b, (mem)

/* ---- running ---------------------------------------------------------------- */

typedef struct wt {
  wh_engine_t *engine;
  wh_linker_t *linker;
  wh_exec_t *exec;
  wh_module_t *module;
  wh_instance_t *inst;
  wh_diag_t diag;
} wt_t;

/* Makes an engine (`cfg` NULL: defaults), a linker and an exec. */
void wt_init(wt_t *t, const wh_engine_config_t *cfg);
/* Compiles `m` on t's engine and instantiates it with t's linker.  Returns
 * 0 or the error code (t->diag says more).  May be called once per wt. */
int wt_load(wt_t *t, wb_mod_t *m);
int wt_load_bytes(wt_t *t, const uint8_t *bytes, size_t len);
void wt_fini(wt_t *t);

/* Calls export `name` with `nargs` i32 arguments; stores an i32 result in
 * *out (out may be NULL for functions without one).  Returns wh_call's
 * code, or WH_ENOTFOUND if there is no such export. */
int wt_call_i32(wt_t *t, const char *name, int32_t *out, int nargs, ...);
/* The last trap's message ("" if none) and backtrace. */
const char *wt_trap_msg(wt_t *t);
const char *wt_backtrace(wt_t *t);

/* Decodes, validates and compiles `len` bytes on a default engine,
 * discarding the module; returns 0 or the diagnostic's code. */
int wt_compile(const uint8_t *bytes, size_t len, wh_diag_t *diag);
/* The same with an engine of the given config. */
int wt_compile_cfg(const wh_engine_config_t *cfg, const uint8_t *bytes,
                   size_t len, wh_diag_t *diag);

#define WT_I32(v) ((wh_val_t){.type = WH_I32, .of.i32 = (v)})
#define WT_I64(v) ((wh_val_t){.type = WH_I64, .of.i64 = (v)})

/* Milliseconds on the monotonic clock. */
double wt_now_ms(void);

/* ---- allocation hooks (the test binary links with --wrap=malloc etc.) --- */

typedef struct wt_alloc_stats {
  uint64_t calls;          /* allocation calls seen since the last reset */
  int64_t live;            /* allocations not yet freed (net) */
  size_t largest;          /* largest single request */
} wt_alloc_stats_t;

/* Starts counting afresh; `fail_at` N > 0 makes the Nth allocation call
 * from now on fail (return NULL), 0 makes none fail. */
void wt_alloc_reset(uint64_t fail_at);
/* Stops failing allocations (counting goes on). */
void wt_alloc_disarm(void);
wt_alloc_stats_t wt_alloc_stats(void);
/* True if the hooks are linked in (false in builds without --wrap). */
bool wt_alloc_hooked(void);

/* ---- the suites (one per engine source file; main.c registers them) ---- */

extern CU_TestInfo wt_tests_decode[];     /* test_decode.c    -> decode.c    */
extern CU_TestInfo wt_tests_compile[];    /* test_compile.c   -> compile.c   */
extern CU_TestInfo wt_tests_interp[];     /* test_interp.c    -> interp.c    */
extern CU_TestInfo wt_tests_exec[];       /* test_exec.c      -> exec.c      */
extern CU_TestInfo wt_tests_instance[];   /* test_instance.c  -> instance.c  */
extern CU_TestInfo wt_tests_module[];     /* test_module.c    -> module.c    */
extern CU_TestInfo wt_tests_serialize[];  /* test_serialize.c -> serialize.c */
extern CU_TestInfo wt_tests_error[];      /* test_error.c     -> error.c     */
extern CU_TestInfo wt_tests_simd[];       /* test_simd.c      -> simd.h (the
                                           * 0xfd ops in compile.c) */

#endif /* WT_H */
