/*
 * wh_engine.h - wharf's core WebAssembly engine: the public contract.
 *
 *   bytes --wh_module_new--> wh_module_t (decoded, validated, compiled;
 *                            immutable, shareable between threads)
 *   wh_linker_t  names the imports (host functions, memories, tables,
 *                globals, other instances' exports)
 *   wh_linker_instantiate --> wh_instance_t (memory, tables, globals)
 *   wh_exec_t    one thread's execution context: value stack, call stack,
 *                fuel, deadline, the last trap.  wh_call runs a function
 *                on it.
 *
 * Threads: a module may be shared; an instance and an exec are used by one
 * thread at a time.  wh_exec_interrupt() alone may be called from any
 * thread.
 *
 * Host functions have one calling convention: `slots` holds the params as
 * raw 64-bit values (i32 zero-extended, f32/f64 as bit patterns, refs as
 * pointers) and the function overwrites it with the results.
 */
#ifndef WH_ENGINE_H
#define WH_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wh_error.h"

typedef struct wh_engine wh_engine_t;
typedef struct wh_module wh_module_t;
typedef struct wh_instance wh_instance_t;
typedef struct wh_linker wh_linker_t;
typedef struct wh_exec wh_exec_t;
typedef struct wh_func wh_func_t;       /* a function reference */
typedef struct wh_memory wh_memory_t;
typedef struct wh_table wh_table_t;
typedef struct wh_global wh_global_t;

typedef enum wh_valtype {
  WH_I32 = 0x7f,
  WH_I64 = 0x7e,
  WH_F32 = 0x7d,
  WH_F64 = 0x7c,
  WH_V128 = 0x7b,
  WH_FUNCREF = 0x70,
  WH_EXTERNREF = 0x6f,
} wh_valtype_t;

/* A typed value.  Refs: `ref` is NULL for null; a funcref points to a
 * wh_func_t; an externref is any non-NULL host pointer. */
typedef struct wh_val {
  wh_valtype_t type;
  union {
    int32_t i32;
    int64_t i64;
    float f32;
    double f64;
    void *ref;
    uint64_t bits;
    uint64_t v128[2];     /* WH_V128: low 64 bits (lanes 0..) first */
  } of;
} wh_val_t;

/* ---- engine ------------------------------------------------------------ */

/* Execution tiers: the interpreter (always there), native code through
 * LLVM (builds with WHARF_LLVM), or auto: the interpreter first, native
 * code compiled in the background for later instances. */
typedef enum wh_tier {
  WH_TIER_INTERP = 0,
  WH_TIER_NATIVE = 1,
  WH_TIER_AUTO = 2,
} wh_tier_t;

typedef struct wh_engine_config {
  bool fuel;              /* compile fuel metering in (DESIGN.md section 3) */
  bool epoch_interrupt;   /* compile deadline/interrupt checks in */
  size_t max_wasm_stack;  /* bytes of value stack per exec; 0 = 1 MiB */
  uint32_t max_call_depth;/* wasm frames per exec; 0 = 10000 */
  bool simd;              /* accept the SIMD proposal (v128, 0xfd ops);
                           * off by default: then WH_EUNSUPPORTED */
  wh_tier_t tier;         /* WH_TIER_INTERP by default */
} wh_engine_config_t;

/* Fills `cfg` with defaults: fuel and epoch checks on, 1 MiB stack. */
void wh_engine_config_default(wh_engine_config_t *cfg);
/* Creates an engine; `cfg` NULL means defaults.  Returns NULL on OOM. */
wh_engine_t *wh_engine_new(const wh_engine_config_t *cfg);
/* Frees an engine; every module made from it must be freed first. */
void wh_engine_free(wh_engine_t *e);
/* A string naming the engine build, tier and feature set; part of every
 * compilation cache key.  Static storage. */
const char *wh_engine_fingerprint(const wh_engine_t *e);

/* ---- modules ----------------------------------------------------------- */

/* Decodes, validates and compiles `len` bytes (borrowed; not kept).  On
 * failure returns NULL and fills `diag` (may be NULL): WH_EMALFORMED for
 * bytes that are not a well-formed binary, WH_EINVALID for a validation
 * error, WH_ECOMPONENT for a component, WH_EUNSUPPORTED for a proposal not
 * implemented (e.g. SIMD), WH_ENOMEM. */
wh_module_t *wh_module_new(wh_engine_t *e, const uint8_t *bytes, size_t len,
                           wh_diag_t *diag);
void wh_module_free(wh_module_t *m);
/* The tier `m`'s code runs in (WH_TIER_INTERP or WH_TIER_NATIVE).  When
 * its engine wanted native code and `m` runs in the interpreter anyway
 * (a function too large for it), *reason (may be NULL) says why; else NULL.
 * Borrowed from the module. */
wh_tier_t wh_module_tier(const wh_module_t *m, const char **reason);
/* True when this build can run `t` (native and auto need WHARF_LLVM). */
bool wh_tier_available(wh_tier_t t);
/* 0 when `t` can compile here now: for native and auto this loads the
 * LLVM compiler plugin (libwharf-llvm.so; see docs/ENGINE.md) if it is
 * not loaded yet.  Else WH_EUNSUPPORTED (no LLVM in this build) or WH_EIO
 * (the plugin is missing or of another build), with where and why in
 * diag.  Running code already compiled never needs the plugin. */
int wh_tier_check(wh_tier_t t, wh_diag_t *diag);
/* "interp", "native" or "auto"; and back (-1 for an unknown name). */
const char *wh_tier_name(wh_tier_t t);
int wh_tier_parse(const char *name);

/* What the native tier did in this process, over all engines (counters
 * since start; for metrics). */
typedef struct wh_native_stats {
  uint64_t compiled;     /* modules compiled to native code */
  uint64_t refused;      /* modules the tier does not take: they run in
                          * the interpreter (a function over its size
                          * bound) */
  uint64_t failed;       /* compiles that failed otherwise (the plugin
                          * missing, out of memory) */
  uint64_t compile_ns;   /* time spent in all of them, foreground and
                          * background */
  uint64_t pending;      /* tier auto: background compiles started and
                          * not ended (queued or running) */
} wh_native_stats_t;
void wh_native_stats(wh_native_stats_t *out);

/* Serializes a compiled module to a versioned, checksummed blob.  On
 * success *out is malloc'ed (caller frees) and *out_len set. */
int wh_module_serialize(const wh_module_t *m, uint8_t **out, size_t *out_len);
/* Rebuilds a module from a blob made by wh_module_serialize with the same
 * engine fingerprint.  A corrupt, truncated or foreign blob gives NULL and
 * WH_ECORRUPT in `diag`. */
wh_module_t *wh_module_deserialize(wh_engine_t *e, const uint8_t *blob,
                                   size_t len, wh_diag_t *diag);

typedef enum wh_externkind {
  WH_EXTERN_FUNC = 0,
  WH_EXTERN_TABLE = 1,
  WH_EXTERN_MEMORY = 2,
  WH_EXTERN_GLOBAL = 3,
} wh_externkind_t;

/* Import and export listings.  Strings are borrowed from the module. */
uint32_t wh_module_import_count(const wh_module_t *m);
int wh_module_import(const wh_module_t *m, uint32_t i, const char **module,
                     const char **name, wh_externkind_t *kind);
uint32_t wh_module_export_count(const wh_module_t *m);
int wh_module_export(const wh_module_t *m, uint32_t i, const char **name,
                     wh_externkind_t *kind);
/* Signature of an exported or imported function as two strings of type
 * characters (see wh_linker_define_func); borrowed from the module, NUL
 * terminated.  Returns WH_ENOTFOUND if `name` is not an exported func. */
int wh_module_export_functype(const wh_module_t *m, const char *name,
                              const char **params, const char **results);

/* ---- linking and instances --------------------------------------------- */

typedef struct wh_caller wh_caller_t;

/* A host function.  `slots` holds the params and receives the results
 * (see the top of this file).  Return 0, or a negative value to trap:
 * WH_ETRAP after wh_caller_trap(), WH_EEXIT after wh_caller_exit(). */
typedef int (*wh_host_fn_t)(wh_caller_t *caller, void *env, uint64_t *slots);

/* Linear memory 0 of the instance that called the host function (NULL and
 * *size 0 if it has none).  Valid until the host function returns or
 * calls back into wasm. */
uint8_t *wh_caller_memory(wh_caller_t *caller, uint64_t *size);
/* The exec context of the call. */
wh_exec_t *wh_caller_exec(wh_caller_t *caller);
/* Records a host trap with a message; return its result from the host fn. */
int wh_caller_trap(wh_caller_t *caller, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Records a guest exit (WASI proc_exit); return its result. */
int wh_caller_exit(wh_caller_t *caller, int status);
/* The instance that made the call. */
wh_instance_t *wh_caller_instance(wh_caller_t *caller);

wh_linker_t *wh_linker_new(wh_engine_t *e);
/* Frees the linker; instances made through it stay valid. */
void wh_linker_free(wh_linker_t *l);
/* Defines module.name as a host function.  `params` and `results` are
 * strings of type characters: i=i32 I=i64 f=f32 F=f64 r=funcref
 * e=externref ("" for none).  Strings are copied. */
int wh_linker_define_func(wh_linker_t *l, const char *module, const char *name,
                          const char *params, const char *results,
                          wh_host_fn_t fn, void *env);
/* Defines every export of `inst` under module name `module` (spec
 * `register`).  `inst` must outlive every instance linked against it. */
int wh_linker_define_instance(wh_linker_t *l, const char *module,
                              wh_instance_t *inst);
/* Defines a memory, table or global made with wh_*_new below; the linker
 * does not take ownership. */
int wh_linker_define_memory(wh_linker_t *l, const char *module,
                            const char *name, wh_memory_t *mem);
int wh_linker_define_table(wh_linker_t *l, const char *module,
                           const char *name, wh_table_t *tab);
int wh_linker_define_global(wh_linker_t *l, const char *module,
                            const char *name, wh_global_t *g);

/* ---- instance allocation ----------------------------------------------- */

/* Linear memory handed to an instance by an allocator. */
typedef struct wh_mem_slot {
  uint8_t *base;       /* start of the reservation; never moves */
  uint64_t reserved;   /* bytes of address space reserved at base */
  uint64_t size;       /* bytes accessible (read/write) now */
  uint64_t max_size;   /* memory.grow fails beyond this many bytes */
  bool data_ready;     /* the module's active data segments are in place
                          (a copy-on-write image): the engine skips them */
} wh_mem_slot_t;

/*
 * Where an instance's state, tables and memory come from.  NULL (the
 * default) allocates on demand: malloc, and mmap for memories.  The pool
 * allocator (pool-allocator/) implements this to hand out pre-reserved
 * slots.  An allocator must outlive every instance made with it.
 */
typedef struct wh_inst_alloc wh_inst_alloc_t;
struct wh_inst_alloc {
  /* A zeroed block of `size` bytes (8-aligned) for the instance's own
   * state, or NULL (exhausted). */
  void *(*state_acquire)(wh_inst_alloc_t *a, size_t size);
  void (*state_release)(wh_inst_alloc_t *a, void *block, size_t size);
  /* A zeroed array of at least `min` elements for a table whose maximum
   * is `max`; *capacity receives its length (table.grow fails beyond
   * it).  NULL when exhausted or min is over the allocator's limit. */
  void **(*table_acquire)(wh_inst_alloc_t *a, uint32_t min, uint32_t max,
                          uint32_t *capacity);
  /* Takes a table back; elements past `size` were never written. */
  void (*table_release)(wh_inst_alloc_t *a, void **elems, uint32_t size);
  /* Memory 0 for an instance of `m`, `min` to `max` bytes (multiples of
   * 64 KiB).  Returns 0, WH_ELIMIT (exhausted or over the allocator's
   * limits) or WH_ENOMEM. */
  int (*memory_acquire)(wh_inst_alloc_t *a, const wh_module_t *m, uint64_t min,
                        uint64_t max, wh_mem_slot_t *slot);
  /* Takes the memory back; `slot->size` is its size at release. */
  void (*memory_release)(wh_inst_alloc_t *a, const wh_module_t *m,
                         const wh_mem_slot_t *slot);
};

/* The module's initial memory 0 as one buffer: its active data segments
 * for memory 0 written at their offsets, for an allocator to turn into a
 * copy-on-write image.  *bytes is malloc'ed (NULL when *len is 0); *len
 * ends at the last segment byte.  Returns WH_EUNSUPPORTED when no image
 * can stand for the segments (the module imports a memory, an offset is
 * not a constant, or a segment of any memory falls outside that memory's
 * minimum size): such modules are initialised eagerly.  Segments for
 * memories other than 0 are always written at instantiation. */
int wh_module_memory_image(const wh_module_t *m, uint8_t **bytes, size_t *len);

/* One pointer of allocator data per module (the pool's memory image),
 * attached once: returns the attached pointer, which is `p` if this call
 * attached it and the earlier one otherwise (the caller then frees `p`).
 * Thread-safe.  `fini(p)` runs when the module is freed. */
void *wh_module_attach(const wh_module_t *m, void *p, void (*fini)(void *));
void *wh_module_attachment(const wh_module_t *m);

/* Instantiates `m`: resolves imports, allocates memory/tables/globals,
 * runs element and data initialisers and the start function on `exec`.
 * Errors: WH_EUNLINKABLE (diag names the import), WH_ETRAP (start or
 * initialiser trapped; details in wh_exec_trap), WH_ENOMEM.  After a
 * trap, an instance that may have handed out references to its functions
 * (it imports a table, a mutable reference global, or a function taking
 * references) stays alive, owned by the linker, until wh_linker_free. */
int wh_linker_instantiate(wh_linker_t *l, const wh_module_t *m, wh_exec_t *exec,
                          wh_instance_t **out, wh_diag_t *diag);
/* As wh_linker_instantiate, with state, tables and memory from `alloc`
 * (NULL: on demand).  WH_ELIMIT when the allocator is exhausted. */
int wh_linker_instantiate_in(wh_linker_t *l, const wh_module_t *m,
                             wh_exec_t *exec, wh_inst_alloc_t *alloc,
                             wh_instance_t **out, wh_diag_t *diag);
/* Checks that `l` can satisfy every import of `m` (names, kinds and
 * types) without instantiating it.  WH_EUNLINKABLE with the first
 * unresolved import named in diag; 0 if all resolve. */
int wh_linker_check(wh_linker_t *l, const wh_module_t *m, wh_diag_t *diag);
/* Frees an instance (NULL is a no-op).  Instances linked against it must
 * be freed first. */
void wh_instance_free(wh_instance_t *inst);
const wh_module_t *wh_instance_module(const wh_instance_t *inst);

/* Exports by name; NULL if absent or of another kind.  Borrowed from the
 * instance.  wh_instance_memory returns the memory the export names,
 * whatever its index (multi-memory). */
wh_func_t *wh_instance_func(wh_instance_t *inst, const char *name);
/* As wh_instance_func, for names that may contain NUL bytes. */
wh_func_t *wh_instance_func_n(wh_instance_t *inst, const char *name, size_t len);
wh_memory_t *wh_instance_memory(wh_instance_t *inst, const char *name);
wh_table_t *wh_instance_table(wh_instance_t *inst, const char *name);
wh_global_t *wh_instance_global(wh_instance_t *inst, const char *name);

/* Function signature, as type-character strings (borrowed). */
void wh_func_type(const wh_func_t *f, const char **params, const char **results);

/* Standalone externs (for host-provided imports, e.g. the spectest
 * module).  Limits in pages (64 KiB) or elements; max UINT32_MAX for
 * none. */
wh_memory_t *wh_memory_new(uint32_t min_pages, uint32_t max_pages);
void wh_memory_free(wh_memory_t *mem);
uint8_t *wh_memory_data(wh_memory_t *mem, uint64_t *size);
wh_table_t *wh_table_new(wh_valtype_t elem, uint32_t min, uint32_t max);
void wh_table_free(wh_table_t *t);
wh_global_t *wh_global_new(wh_val_t init, bool mutable_);
void wh_global_free(wh_global_t *g);
wh_val_t wh_global_get(const wh_global_t *g);

/* ---- execution --------------------------------------------------------- */

/* Creates an execution context for `e` (value stack of the engine's
 * max_wasm_stack).  NULL on OOM. */
wh_exec_t *wh_exec_new(wh_engine_t *e);
void wh_exec_free(wh_exec_t *x);

/* One pointer of the embedder's per exec (e.g. the WASI context of the
 * invocation running on it); host functions reach it through
 * wh_caller_exec().  Not owned. */
void wh_exec_set_user(wh_exec_t *x, void *user);
void *wh_exec_user(const wh_exec_t *x);

/* Caps the linear memory of instances made on `x` from now on (the
 * tenant's max_memory_size): every memory those instances define (all
 * memories of a multi-memory module, of every core instance of a
 * component) counts against one budget, so together they never commit
 * more than `bytes`.  Instantiation fails with WH_ERANGE when the
 * minimums do not fit, and memory.grow returns -1 past it.  Calling it
 * again starts a new budget for later instances (earlier ones keep
 * theirs).  Bytes; 0 = no cap beyond the modules' own maximums. */
void wh_exec_set_memory_limit(wh_exec_t *x, uint64_t bytes);

/* Fuel: wh_exec_set_fuel gives the exec `fuel` units (engine must have
 * fuel on; otherwise ignored) and resets the consumed counter. */
void wh_exec_set_fuel(wh_exec_t *x, uint64_t fuel);
uint64_t wh_exec_fuel_remaining(const wh_exec_t *x);
uint64_t wh_exec_fuel_consumed(const wh_exec_t *x);

/* Deadlines: the process-wide epoch counter is ticked by one timer thread
 * every `tick_ms` milliseconds once wh_epoch_start() has run (idempotent;
 * later calls keep the first tick).  A call on `x` traps "deadline
 * exceeded" once the epoch reaches the deadline. */
int wh_epoch_start(unsigned tick_ms);
void wh_epoch_stop(void);
uint64_t wh_epoch_now(void);
unsigned wh_epoch_tick_ms(void);
/* Deadline `ms` milliseconds from now (rounded up to ticks); 0 = none. */
void wh_exec_set_deadline_ms(wh_exec_t *x, uint64_t ms);
/* Milliseconds left before x's deadline: UINT64_MAX when it has none, 0
 * once it has passed or an interrupt is pending.  Blocking host calls cap
 * their waits with it. */
uint64_t wh_exec_deadline_remaining_ms(const wh_exec_t *x);
/* Makes the running (or next) call on `x` trap "interrupted" at its next
 * check.  Safe from any thread. */
void wh_exec_interrupt(wh_exec_t *x);

/* Calls `f` with `nargs` args (types must match the signature) and stores
 * its results into `results` (room for `nresults`).  Returns 0, WH_ETRAP
 * (see wh_exec_trap), WH_EEXIT (WASI proc_exit; see wh_exec_exit_status)
 * or WH_EINVAL (argument count/type mismatch). */
int wh_call(wh_exec_t *x, wh_func_t *f, const wh_val_t *args, size_t nargs,
            wh_val_t *results, size_t nresults);

/* Trap kinds; messages are the spec's texts. */
#define WH_TRAP_MAP(X)                                                      \
  X(UNREACHABLE,      "unreachable")                                        \
  X(MEM_OOB,          "out of bounds memory access")                        \
  X(TABLE_OOB,        "out of bounds table access")                         \
  X(INDIRECT_NULL,    "uninitialized element")                              \
  X(INDIRECT_TYPE,    "indirect call type mismatch")                        \
  X(UNDEFINED_ELEM,   "undefined element")                                  \
  X(DIV_ZERO,         "integer divide by zero")                             \
  X(INT_OVERFLOW,     "integer overflow")                                   \
  X(BAD_CONVERSION,   "invalid conversion to integer")                      \
  X(STACK_EXHAUSTED,  "call stack exhausted")                               \
  X(OUT_OF_FUEL,      "all fuel consumed")                                  \
  X(DEADLINE,         "deadline exceeded")                                  \
  X(INTERRUPTED,      "interrupted")                                        \
  X(NULL_REF,         "null reference")                                     \
  X(HOST,             "host function trapped")                              \
  X(EXIT,             "exit")

typedef enum wh_trap_code {
  WH_TRAP_NONE = 0,
#define WH__TRAP_ENUM(name, text) WH_TRAP_##name,
  WH_TRAP_MAP(WH__TRAP_ENUM)
#undef WH__TRAP_ENUM
  WH__TRAP_COUNT
} wh_trap_code_t;

/* Records a trap of one of the engine's kinds (e.g. WH_TRAP_DEADLINE when a
 * blocking host call ran out of time), with its spec text; return its
 * result from the host function. */
int wh_caller_trap_kind(wh_caller_t *caller, wh_trap_code_t code);

/* Spec text of a trap kind (static storage). */
const char *wh_trap_text(wh_trap_code_t code);
/* The last trap on `x`: its kind, its message (the spec text, or a host
 * function's own), and a backtrace, innermost frame first, one
 * "  #N name" line each (function names from the name section, else
 * "func[N]").  Strings borrowed until the next call on `x`. */
wh_trap_code_t wh_exec_trap(const wh_exec_t *x, const char **msg,
                            const char **backtrace);
/* The status passed to wh_caller_exit during the last call. */
int wh_exec_exit_status(const wh_exec_t *x);

#endif /* WH_ENGINE_H */
