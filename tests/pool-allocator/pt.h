/*
 * pt.h - helpers shared by the pool allocator's unit tests
 * (tests/pool-allocator; one CUnit suite per pool-allocator source file).
 *
 *   PT_CHECK     an assertion whose message is a sentence saying what
 *                should hold.  Inside pt_in_child() failures travel to the
 *                parent through a pipe and are recorded there, so a test
 *                may run a risky step (setrlimit, a configuration that
 *                may crash) in a forked child.
 *   pt_fail_calloc  makes the nth calloc fail (the binary wraps calloc)
 *                for the fault tests.
 *   pt_wat       WebAssembly text compiled at test time by wat2wasm
 *                (found by CMake; the binary exits 77, "skipped", without
 *                it).  Results are cached per text for the whole run.
 *   tenants      modules described by a pt_tenant_t (memory and table
 *                limits, data segments with a recognisable byte pattern,
 *                globals, an element segment) and made into WAT by
 *                pt_tenant_wat, so a check can compute every byte an
 *                instance must start with (pt_check_initial) and every
 *                tenant exports the same functions:
 *
 *                  nop, grow(pages)->old, load(addr)->u8, store(addr, u8),
 *                  tsize, tnull(i), tcall(i) (call_indirect), scribble
 *                  (memory grown to its maximum and filled with 0xA5,
 *                  table grown to its maximum and filled with funcrefs,
 *                  globals set to 0x5EC2E7)
 *
 *                plus memory "mem", table "tab", globals "g" (i32) and
 *                "h" (i64).  An `eager` tenant takes its first segment's
 *                offset from the imported global env.base (so it can have
 *                no image); pt_linker defines env.base for it.
 */
#ifndef PT_H
#define PT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

#include "wh_engine.h"
#include "wh_pool.h"

/* ---- assertions ------------------------------------------------------------ */

void pt_check(bool ok, int line, const char *file, const char *func,
              const char *fmt, ...) __attribute__((format(printf, 5, 6)));
#define PT_CHECK(cond, ...) pt_check((cond), __LINE__, __FILE__, __func__, __VA_ARGS__)

/* Between these, failed checks are only counted (pt_quiet_end returns
 * how many): for tests of the checks themselves. */
void pt_quiet_begin(void);
int pt_quiet_end(void);

/* Runs fn(arg) in a forked child.  PT_CHECK failures in the child are
 * recorded in the parent; a child that dies of a signal (or exits with a
 * status other than 0) is recorded as a failure saying `what` crashed.
 * Returns the child's wait status. */
int pt_in_child(const char *what, void (*fn)(void *arg), void *arg);

/* Makes the nth call to calloc from now on (1 = the next) return NULL;
 * 0 turns it off.  pt_calloc_calls() counts the calls since. */
void pt_fail_calloc(long nth);
long pt_calloc_calls(void);

/* ---- modules --------------------------------------------------------------- */

/* The engine every test uses (fuel and epoch checks off). */
wh_engine_t *pt_engine(void);
/* Binary for WAT text (cached; owned by the cache).  NULL, with a failed
 * assertion, when wat2wasm rejects it. */
const uint8_t *pt_wat(const char *wat, size_t *len);
/* A module made from WAT text; NULL, with a failed assertion, on error. */
wh_module_t *pt_module(const char *wat);
/* Absolute path of wat2wasm, or NULL when the build found none. */
const char *pt_wat2wasm(void);

#define PT_PAGE 65536u

typedef struct pt_seg {
  uint32_t off, len;
  uint8_t seed;             /* byte i is pt_pattern(seed, i), never 0 */
} pt_seg_t;

typedef struct pt_tenant {
  const char *name;
  uint32_t min, max;        /* memory, pages */
  uint32_t tmin, tmax;      /* table, elements */
  int32_t g;                /* initial values of the exported globals */
  int64_t h;
  int32_t id;               /* what the tenant's function $id returns */
  int elem_at;              /* table index initialised with $id, or -1 */
  bool eager;               /* first segment's offset is global.get env.base */
  int nsegs;
  pt_seg_t segs[4];
} pt_tenant_t;

/* The tenants most tests use (pt_harness.c says what each stands for). */
extern const pt_tenant_t PT_A, PT_B, PT_C, PT_E;

uint8_t pt_pattern(uint8_t seed, uint32_t i);
/* WAT text for `t` (malloc'ed). */
char *pt_tenant_wat(const pt_tenant_t *t);
/* pt_module(pt_tenant_wat(t)). */
wh_module_t *pt_tenant_module(const pt_tenant_t *t);
/* The bytes `t`'s memory starts with (min pages; malloc'ed). */
uint8_t *pt_tenant_image(const pt_tenant_t *t, size_t *len);
/* Where every eager tenant's first segment goes: the value of env.base. */
#define PT_EAGER_BASE 100u
/* A linker defining env.base (an immutable i32 global, PT_EAGER_BASE)
 * and the table env.tab when `tab` is not NULL (borrowed). */
wh_linker_t *pt_linker(wh_table_t *tab);

/* Calls export `name` of `inst` with i32 args; *out (may be NULL)
 * receives the first result as i32.  Returns wh_call's code or
 * WH_ENOTFOUND. */
int pt_call(wh_exec_t *x, wh_instance_t *inst, const char *name, int32_t *out,
            int nargs, ...);

/* Checks that `inst` (of tenant `t`) shows exactly t's initial state:
 * memory size and every byte (then grows to t->max and checks the new
 * pages read zero), table size, null entries except t's element, globals.
 * `ctx` names the situation in failure messages ("after A scribbled").
 * Returns the number of failed checks.  Leaves the instance grown. */
int pt_check_initial(wh_exec_t *x, wh_instance_t *inst, const pt_tenant_t *t,
                     const char *ctx);

/* ---- pools ----------------------------------------------------------------- */

/* A small pool: `n` slots of every kind, 1 MiB memories with a 64 KiB
 * guard, 32 table elements, 64 KiB of instance state, no keep_resident,
 * 8 warm slots. */
void pt_small_config(wh_pool_config_t *cfg, uint32_t n);
wh_pool_t *pt_pool(const wh_pool_config_t *cfg);

/* A pool with an exec and a linker (pt_linker(NULL)) to instantiate in. */
typedef struct pt_env {
  wh_pool_t *pool;
  wh_exec_t *x;
  wh_linker_t *l;
  wh_diag_t diag;           /* of the last pt_inst */
} pt_env_t;

bool pt_env_init(pt_env_t *e, const wh_pool_config_t *cfg);
void pt_env_fini(pt_env_t *e);
/* Instantiates `m` from e's pool on e's linker and exec (*out NULL on
 * failure). */
int pt_inst(pt_env_t *e, const wh_module_t *m, wh_instance_t **out);
wh_pool_stats_t pt_stats(pt_env_t *e);

/* ---- suites ---------------------------------------------------------------- */

extern CU_TestInfo pt_tests_pool[];
extern CU_TestInfo pt_tests_cow_linux[];

#endif /* PT_H */
