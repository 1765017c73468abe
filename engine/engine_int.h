/*
 * engine_int.h - the engine's internal structures, shared by decode.c,
 * compile.c, interp.c, runtime.c and serialize.c.  Not installed.
 *
 * A module goes through three stages:
 *
 *   bytes --decode.c--> wh_module (sections, const exprs, body spans)
 *         --compile.c-> per-function wcode (validated, see wcode.h)
 *         --runtime.c-> wh_instance (memory, tables, globals, funcs)
 *
 * Value stack frame of a wasm function (one 64-bit slot per value):
 *
 *   fp[0 .. nparams)            params      (written by the caller)
 *   fp[nparams .. nlocals)      locals      (zeroed on entry)
 *   fp[nlocals .. frame_slots)  operand stack; height h lives at
 *                               fp[nlocals + h]
 *
 * A call's arguments sit at the top of the caller's operand stack; the
 * callee's frame starts right there, so arguments are never copied and
 * the results come back in the same slots.  wcode operands are byte
 * offsets from fp.
 */
#ifndef WH_ENGINE_INT_H
#define WH_ENGINE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "wh_engine.h"

#define WH_PAGE_SIZE 65536u
#define WH_MAX_PAGES 65536u
#define WH_MAX_TABLE_SIZE 10000000u   /* elements; table.grow beyond fails */

/* Limits on what a module may declare: bound the host memory a hostile
 * binary can make the decoder allocate. */
#define WH_MAX_TYPES 1000000u
#define WH_MAX_FUNCS 1000000u
#define WH_MAX_IMPORTS 100000u
#define WH_MAX_EXPORTS 100000u
#define WH_MAX_GLOBALS 1000000u
#define WH_MAX_TABLES 100000u
#define WH_MAX_MEMORIES 100u    /* imported + defined (multi-memory) */
#define WH_MAX_SEGMENTS 100000u
#define WH_MAX_PARAMS 1000u
#define WH_MAX_LOCALS 50000u
#define WH_MAX_BR_TABLE 1000000u
#define WH_MAX_ELEM_ITEMS 10000000u

/* ---- types ----------------------------------------------------------- */

/* A function type, interned per engine: two types are equal iff their
 * pointers are equal (call_indirect compares pointers). */
typedef struct wh_functype {
  uint32_t nparams, nresults;
  uint8_t *types;        /* nparams param types then nresults result types */
  char *sig;             /* "ii:i" type characters, params ':' results */
  const char *sig_results; /* points after ':' inside sig */
  char *sig_params;      /* params only, NUL-terminated copy */
  struct wh_functype *next; /* intern chain */
} wh_functype_t;

typedef struct wh_limits {
  uint64_t min, max;
  bool has_max;
} wh_limits_t;

typedef enum wh_cexpr_kind {
  WH_CEXPR_CONST = 0,     /* value in .bits */
  WH_CEXPR_GLOBAL = 1,    /* global.get .index */
  WH_CEXPR_REF_NULL = 2,
  WH_CEXPR_REF_FUNC = 3,  /* .index is a function index */
} wh_cexpr_kind_t;

typedef struct wh_cexpr {
  uint8_t kind;
  uint8_t type;           /* value type produced */
  uint32_t index;
  uint64_t bits;
  uint64_t bits_hi;       /* v128.const: the high 64 bits */
} wh_cexpr_t;

/* Names are NUL-terminated for printing but may contain NUL bytes: compare
 * them with their lengths. */
typedef struct wh_import_desc {
  char *module, *name;
  uint32_t module_len, name_len;
  uint8_t kind;           /* wh_externkind_t */
  uint32_t index;         /* index in its own index space */
  union {
    uint32_t type;        /* func: type index */
    struct { uint8_t elem; wh_limits_t lim; } table;
    wh_limits_t mem;
    struct { uint8_t type; bool mut; } global;
  } u;
} wh_import_desc_t;

typedef struct wh_export_desc {
  char *name;
  uint32_t name_len;
  uint8_t kind;
  uint32_t index;
} wh_export_desc_t;

typedef struct wh_global_def {
  uint8_t type;
  bool mut;
  wh_cexpr_t init;
} wh_global_def_t;

typedef struct wh_table_def {
  uint8_t elem;
  wh_limits_t lim;
} wh_table_def_t;

enum { WH_SEG_ACTIVE = 0, WH_SEG_PASSIVE = 1, WH_SEG_DECLARATIVE = 2 };

typedef struct wh_elem_seg {
  uint8_t mode;
  uint8_t elem;           /* reftype */
  uint32_t table;
  wh_cexpr_t offset;
  uint32_t count;
  wh_cexpr_t *items;      /* each REF_NULL, REF_FUNC or GLOBAL */
} wh_elem_seg_t;

typedef struct wh_data_seg {
  uint8_t mode;
  uint32_t mem;
  wh_cexpr_t offset;
  uint32_t len;
  uint8_t *bytes;         /* owned copy */
} wh_data_seg_t;

/* A defined function: its body span during compilation, then its code. */
typedef struct wh_func_def {
  uint32_t type;          /* type index */
  const wh_functype_t *ft;/* interned */
  uint32_t body_off, body_len; /* in the module bytes (decode time only) */
  uint32_t index;         /* function index in the module */
  uint32_t nlocals;       /* slots of params + declared locals */
  uint32_t nparam_slots;  /* slots of the params (a v128 takes two) */
  uint32_t frame_slots;   /* nlocals + max operand height */
  uint8_t *code;          /* wcode, owned */
  uint32_t code_len;
  char *name;             /* from the name section, or NULL */
} wh_func_def_t;

struct wh_module {
  wh_engine_t *engine;
  uint32_t ntypes;
  wh_functype_t **types;  /* interned, borrowed from the engine */

  uint32_t nimports;
  wh_import_desc_t *imports;
  uint32_t nfunc_imports, ntable_imports, nmem_imports, nglobal_imports;

  uint32_t nfuncs;        /* imported + defined */
  uint32_t *func_types;   /* type index per function */
  wh_func_def_t *defs;    /* nfuncs - nfunc_imports of them */

  uint32_t ntables;       /* imported + defined */
  wh_table_def_t *tables; /* all of them (imported ones copied in) */
  uint32_t nmems;
  wh_limits_t *mems;
  uint32_t nglobals;
  wh_global_def_t *globals; /* all; imported ones have no init */

  uint32_t nexports;
  wh_export_desc_t *exports;
  bool has_start;
  uint32_t start;

  uint32_t nelems;
  wh_elem_seg_t *elems;
  bool has_datacount;
  uint32_t datacount;
  uint32_t ndatas;
  wh_data_seg_t *datas;

  uint8_t *declared_funcs;/* bitmap: may be named by ref.func */
  char *module_name;      /* name section */

  struct wh_native_code *native; /* the native tier's code, or NULL; with
                           * tier auto published later (atomic pointer) */
  char *native_reason;    /* why a module of a native engine has none */
  struct wh_native_job *native_job; /* tier auto's background compile */

  _Atomic(void *) attachment;   /* see wh_module_attach */
  void (*attachment_fini)(void *);
};

/* ---- engine ------------------------------------------------------------ */

struct wh_engine {
  wh_engine_config_t cfg;
  pthread_mutex_t types_lock;
  wh_functype_t *types[256]; /* intern hash buckets */
  char fingerprint[128];
};

/* Interns a function type (copies `types`).  NULL on OOM. */
const wh_functype_t *wh__type_intern(wh_engine_t *e, const uint8_t *types,
                                     uint32_t nparams, uint32_t nresults);
/* Interns a type given as "ii" / "i" signature strings; NULL if a
 * character is not a type character. */
const wh_functype_t *wh__type_intern_sig(wh_engine_t *e, const char *params,
                                         const char *results);
char wh__valtype_char(uint8_t t);

static inline bool wh__name_eq(const char *a, size_t alen, const char *b, size_t blen) {
  return alen == blen && memcmp(a, b, alen) == 0;
}

/* ---- runtime objects --------------------------------------------------- */

/* A memory limit shared by every memory instantiated on one exec while
 * the limit is set (wh_exec_set_memory_limit): what they have committed
 * together may not exceed `limit`, however many memories and instances
 * there are.  Reference-counted (the exec, plus each charged memory), so
 * instances and the exec may be freed in any order. */
typedef struct wh_mem_budget {
  _Atomic uint64_t used;  /* bytes committed by the charged memories */
  uint64_t limit;
  _Atomic uint32_t refs;
} wh_mem_budget_t;
/* Charges `bytes` (false, charging nothing, when that would pass the
 * limit); refunds; drops a reference (frees at zero). */
bool wh__budget_charge(wh_mem_budget_t *b, uint64_t bytes);
void wh__budget_refund(wh_mem_budget_t *b, uint64_t bytes);
void wh__budget_unref(wh_mem_budget_t *b);

struct wh_memory {
  uint8_t *base;          /* reservation start; stable for life */
  uint64_t size;          /* accessible bytes (pages * 64 KiB) */
  uint64_t max_pages;
  uint64_t reserved;      /* bytes of address space reserved */
  bool decl_max;          /* a maximum was declared */
  bool pooled;            /* from an allocator's slot: never munmap'ed */
  wh_mem_budget_t *budget; /* charged for `size`, or NULL (referenced) */
};

struct wh_table {
  uint8_t elem;
  uint32_t size, max;
  uint32_t capacity;      /* elements allocated at elems */
  bool pooled;            /* elems from an allocator: never realloc'ed */
  void **elems;
};

struct wh_global {
  uint8_t type;
  bool mut;
  uint64_t value;
  uint64_t value_hi;      /* v128: the high 64 bits (value is the low) */
};

struct wh_func {
  const wh_functype_t *type;
  wh_instance_t *inst;    /* defining instance; NULL for host functions */
  uint32_t def;           /* index into inst->module->defs */
  wh_host_fn_t host;
  void *env;
};

/* An instance's own state is one block (from the allocator, or calloc):
 *
 *   wh_instance | funcs[nfuncs] | own_funcs[...] | tables[ntables] |
 *   own_tables[...] | mems[nmems] | own_mems[...] | globals[nglobals] |
 *   own_globals[...] | elem_refs[nelems] | elem_len[nelems] |
 *   ref arrays of the segments | data_dropped[ndatas]
 *
 * Memories: `mem` is memory 0 (the interpreter's fast path), also at
 * mems[0].  A defined memory 0 comes from the allocator's slot when there
 * is an allocator; every other defined memory is reserved on demand
 * (wh__memory_create) and unmapped by wh_instance_free.
 */
struct wh_instance {
  const wh_module_t *module;
  wh_engine_t *engine;
  wh_inst_alloc_t *alloc; /* NULL: on demand */
  size_t state_size;      /* bytes of the state block */
  wh_func_t **funcs;      /* nfuncs; imports point elsewhere */
  wh_func_t *own_funcs;   /* defined funcs, plus copies of host imports */
  wh_table_t **tables;
  wh_table_t *own_tables;
  uint32_t nown_tables;
  wh_memory_t *mem;       /* memory 0 or NULL */
  wh_memory_t **mems;     /* nmems; imports point elsewhere */
  wh_memory_t *own_mems;  /* the defined ones */
  uint32_t nown_mems;     /* set up so far (wh_instance_free's bound) */
  wh_global_t **globals;
  wh_global_t *own_globals;
  uint32_t nelems;
  void ***elem_refs;      /* per segment: evaluated refs, NULL once dropped */
  uint32_t *elem_len;
  uint8_t *data_dropped;  /* per data segment */
};

/* ---- execution --------------------------------------------------------- */

typedef struct wh_frame {
  const uint8_t *ret_ip;  /* NULL: return to the host */
  uint64_t *fp;
  wh_instance_t *inst;
  const wh_func_def_t *def; /* callee, for backtraces */
} wh_frame_t;

struct wh_exec {
  wh_engine_t *engine;
  uint64_t *stack, *stack_end;
  uint64_t *stack_top;    /* first free slot while in a host call */
  wh_frame_t *frames, *frames_end, *frame_top;
  int64_t fuel;           /* remaining; may hold a debt while running */
  uint64_t fuel_given;
  _Atomic uint64_t deadline; /* epoch value at which to trap */
  _Atomic int interrupt;
  wh_trap_code_t trap;
  int exit_status;
  char trap_msg[256];
  char *backtrace;
  size_t backtrace_cap;
  int depth;              /* nested wh_call depth */
  void *user;             /* the embedder's, see wh_exec_set_user */
  uint64_t memory_limit;  /* bytes; 0 = none (wh_exec_set_memory_limit) */
  wh_mem_budget_t *budget; /* that limit for all memories together, or NULL */
};

extern _Atomic uint64_t wh__epoch;

/* Runs `f` (a wasm function of `inst`) with its params at `args` (which
 * must lie inside x's stack, the callee frame starting there).  Results
 * replace the params.  Returns 0 or WH_ETRAP/WH_EEXIT. */
int wh__interp_run(wh_exec_t *x, const wh_func_t *f, uint64_t *args);
/* Labels of the dispatch loop (computed goto), indexed by wcode op. */
const void *const *wh__interp_labels(void);
/* Records a trap on `x` with its backtrace; returns WH_ETRAP. */
int wh__trap(wh_exec_t *x, wh_trap_code_t code, const wh_frame_t *frames_base,
             const wh_frame_t *top, const wh_func_def_t *cur);
/* Calls a host or foreign function from the interpreter. */
int wh__call_host(wh_exec_t *x, const wh_func_t *f, uint64_t *slots,
                  wh_instance_t *caller);

/* Replaces op numbers in the handler cells of `code` by the dispatch
 * loop's label addresses (a no-op for the switch-dispatch build). */
void wh__thread_code(uint8_t *code, uint32_t len);
/* The wcode op whose handler is in the 8-byte cell at `cell`, or -1. */
int wh__wop_of_handler(const uint8_t *cell);
/* Prints threaded wcode, one op a line (for debugging and tests). */
void wh__wcode_dump(FILE *out, const uint8_t *code, uint32_t len);
/* Compiles every function body of `m` (bytes borrowed). */
int wh__compile_module(wh_module_t *m, const uint8_t *bytes, size_t len,
                       wh_diag_t *diag);
/* Decodes `bytes` into `m` (module-level validation included). */
int wh__decode_module(wh_module_t *m, const uint8_t *bytes, size_t len,
                      wh_diag_t *diag);
void wh__module_fini(wh_module_t *m);

/* Memory helpers (runtime.c). */
wh_memory_t *wh__memory_create(uint64_t min_pages, uint64_t max_pages);
/* Grows by `delta` pages; returns the old size in pages or -1. */
int64_t wh__memory_grow(wh_memory_t *mem, uint64_t delta);
int64_t wh__table_grow(wh_table_t *t, uint32_t delta, void *init);

#endif /* WH_ENGINE_INT_H */
