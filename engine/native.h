/*
 * native.h - the optimizing tier (tier 1): wcode -> LLVM IR -> x86-64
 * object code, loaded by a small ELF loader of our own.  Internal to the
 * engine; see docs/ENGINE.md "The native tier".
 *
 *   wh_module_new (tier native)
 *     compile.c     wasm -> validated wcode (as for the interpreter)
 *     native_llvm.c wcode of every function -> one LLVM module -> O2
 *                   -> an ELF relocatable object in memory (the cache
 *                   artifact: serialize.c stores it beside the wcode)
 *     native_load.c object -> one mapping (text, rodata, stubs), R+X
 *   wh_linker_instantiate
 *     every defined function of a native module gets the host-ABI
 *     trampoline wh__native_host_entry as its `host` (env = the func):
 *     the interpreter, wh_call, WASI and the component model call it like
 *     any host function, so none of them knows about the tier.
 *
 * Generated code, per defined function i:
 *
 *   f<i>   internal, typed, LLVM's preserve_none calling convention (no
 *          callee-saved registers): RET f(inst, ctx, i64 rec, i64 vbase,
 *          i64 p0 .. p(n-1)), RET void, i64 or a struct of i64 for
 *          several results; rec = the address of this frame's record,
 *          ctx->frame_at - depth records, depth being the frames left
 *          before this one counts (none left: rec >= frame_at); vbase =
 *          where the interpreter would put its frame (see
 *          wh_native_ctx_t); both passed in registers.  Calls between
 *          functions of one module are direct calls of these; a
 *          call_indirect whose target belongs to the running instance
 *          calls it through the constant table wh_ftab.
 *   wh_e<i> the slot-ABI entry: void wh_e<i>(inst, ctx, uint64_t *slots),
 *          params in, results out (like wh__interp_run's frame).
 *
 * Everything the generated code needs from C comes through `ctx` (one per
 * activation, on the C stack of native_enter) and the instance's own
 * fields (offsets baked in; wh__native_layout_hash is part of the engine
 * fingerprint, so an artifact never meets a build with another layout).
 * The object has no absolute references to the process: helpers are
 * called through ctx->rt, so one artifact loads anywhere.  Its one
 * reference to the module is the external symbol wh_defs, bound by the
 * loader to the loading module's m->defs (for the frame records).
 *
 * Traps: a helper records the trap on the exec and siglongjmps to the
 * innermost native entry (native_rt.c native_enter) on this thread; no
 * generated frame needs unwinding.  Fuel lives in x->fuel (shared with the
 * interpreter and host functions), charged per basic block exactly as the
 * interpreter does; frames are counted (and backtraced) in x->frames: a
 * frame's record (its def) is written before it calls anything or traps.
 */
#ifndef WH_NATIVE_H
#define WH_NATIVE_H

#include "engine_int.h"

/* The generated code's conventions (the typed functions' hidden
 * arguments, what the loader binds, the helpers' signatures): part of the
 * engine fingerprint, so a cached or precompiled artifact is never run by
 * a build that calls it differently.  Bump on any such change.
 *   1  depth and vbase as arguments
 *   2  rec (the frame record's address) for depth; wh_defs bound by the
 *      loader
 *   3  the typed functions use LLVM's preserve_none convention */
#define WH_NATIVE_CODE_VERSION 3

/* What generated code reads through its ctx argument (one per activation,
 * on native_enter's stack).  depth and vbase travel between generated
 * functions as arguments; ctx holds them at activation entry and wherever
 * generated code calls a helper (a trap, rt_call, ...), i.e. whenever C
 * may read them.  Its offsets are baked into the code and
 * hashed into the fingerprint (wh__native_layout_hash). */
typedef struct wh_native_ctx {
  wh_exec_t *x;
  int64_t *fuel;                 /* &x->fuel */
  _Atomic uint64_t *deadline;    /* &x->deadline */
  _Atomic uint64_t *epoch;       /* &wh__epoch */
  uintptr_t stack_limit;         /* a frame below this: call stack exhausted */
  int64_t depth;                 /* wasm frames left (the interpreter's
                                  * max_call_depth, counted alike) */
  int64_t depth0;                /* depth at entry */
  int64_t vbase;                 /* the next callee's frame, as a slot index
                                  * into x->stack: where the interpreter
                                  * would put it */
  int64_t vlimit;                /* x->stack_end, as a slot index */
  wh_frame_t *frames;            /* x->frame_top + 1: native frame k (0 =
                                  * outermost) records its def in
                                  * frames[k].def, for backtraces */
  uintptr_t frame_at;            /* (uintptr_t)(frames + depth0): a frame
                                  * entered with d frames left records at
                                  * frame_at - d * sizeof(wh_frame_t) */
  const void *const *rt;         /* helper table, indexed by WH_RT_* */
} wh_native_ctx_t;

/* The helper table (native_rt.c wh__native_rt), called through ctx->rt. */
enum {
  WH_RT_TRAP,          /* void (ctx, i32 code), noreturn */
  WH_RT_EPOCH,         /* void (ctx), noreturn: deadline or interrupt */
  WH_RT_CALL,          /* void (ctx, inst, wh_func_t *, uint64_t *slots) */
  WH_RT_MEMORY_GROW,   /* i32 (ctx, inst, i32 mem, i32 delta) */
  WH_RT_MEMORY_FILL,   /* void (ctx, inst, i32 mem, i32 d, i32 val, i32 n) */
  WH_RT_MEMORY_COPY,   /* void (ctx, inst, i32 dmem, i32 smem, i32 d, i32 s, i32 n) */
  WH_RT_MEMORY_INIT,   /* void (ctx, inst, i32 mem, i32 seg, i32 d, i32 s, i32 n) */
  WH_RT_TABLE_GET,     /* i64 (ctx, inst, i32 t, i32 i) */
  WH_RT_TABLE_SET,     /* void (ctx, inst, i32 t, i32 i, i64 v) */
  WH_RT_TABLE_SIZE,    /* i32 (ctx, inst, i32 t) */
  WH_RT_TABLE_GROW,    /* i32 (ctx, inst, i32 t, i64 init, i32 n) */
  WH_RT_TABLE_FILL,    /* void (ctx, inst, i32 t, i32 i, i64 v, i32 n) */
  WH_RT_TABLE_COPY,    /* void (ctx, inst, i32 dt, i32 st, i32 d, i32 s, i32 n) */
  WH_RT_TABLE_INIT,    /* void (ctx, inst, i32 t, i32 seg, i32 d, i32 s, i32 n) */
  WH_RT_ELEM_DROP,     /* void (ctx, inst, i32 seg) */
  WH_RT__COUNT
};

typedef void (*wh_native_entry_t)(wh_instance_t *inst, wh_native_ctx_t *ctx,
                                  uint64_t *slots);

/* A module's native code. */
typedef struct wh_native_code {
  uint8_t *obj;            /* the ELF object (malloc'ed): the cache artifact */
  size_t obj_len;
  uint8_t *map;            /* the loaded image (mmap'ed) */
  size_t map_len;
  uint32_t nentries;
  wh_native_entry_t *entries; /* per defined function */
} wh_native_code_t;

/* native_compile.c (or native_none.c without LLVM): translates every
 * function of `m` with the LLVM plugin (native_plugin.h, loaded on first
 * use) and loads the result into m->native.  WH_EUNSUPPORTED with the
 * reason in diag for a module the tier does not take (a function over its
 * size bound; or no LLVM in this build); WH_EIO when the plugin cannot be
 * loaded.  Thread-safe (one LLVM context per call). */
int wh__native_compile(wh_module_t *m, wh_diag_t *diag);
/* True when this build has the LLVM tier (the plugin is not loaded to
 * answer; wh__native_compiler_check does). */
bool wh__native_available(void);
/* Loads the plugin now if it is not yet: 0, or WH_EIO / WH_EUNSUPPORTED
 * with what went wrong in diag. */
int wh__native_compiler_check(wh_diag_t *diag);
/* "vendor-family-model/featurehash/llvmN" of the host, for the
 * fingerprint (native_rt.c; static storage; no LLVM needed). */
const char *wh__native_cpu_id(void);

/* Slots the n value types at `types` take in a frame: one each, two for
 * a v128 (low half first), as the interpreter and wh_call lay them out. */
static inline uint32_t wh__native_slots(const uint8_t *types, uint32_t n) {
  uint32_t k = n;
  for (uint32_t i = 0; i < n; i++) k += types[i] == WH_V128;
  return k;
}

/* native_load.c: loads `obj` (copied) as m's native code. */
int wh__native_load(wh_module_t *m, const uint8_t *obj, size_t len, wh_diag_t *diag);
void wh__native_free(wh_native_code_t *nc);

/* native_tierup.c (tier auto): compiles m in the background, publishing
 * m->native when done; stop cancels or waits.  Start returns WH_ENOMEM
 * when no thread could be made (m stays interpreted). */
int wh__native_tierup_start(wh_module_t *m);
/* Counts one native compile that returned rc after ns nanoseconds
 * (native_compile.c; wh_native_stats). */
void wh__native_count(int rc, uint64_t ns);
void wh__native_tierup_stop(wh_module_t *m);

/* Where m's background compile is: NONE (m never had one: tier native or
 * interp, or its artifact brought native code or a reason, or no thread),
 * RUNNING (compiling or waiting for its turn), ENDED (m->native published,
 * or m->native_reason set). */
typedef enum wh_tierup_state {
  WH_TIERUP_NONE,
  WH_TIERUP_RUNNING,
  WH_TIERUP_ENDED,
} wh_tierup_state_t;
wh_tierup_state_t wh__native_tierup_state(const wh_module_t *m);

/* A watcher of m's tier-up (native_tierup.c has the state diagram).
 * done(m, rc, arg), if not NULL, runs once on a background thread of the
 * job when the compile has ended with rc (0: m->native published; else the
 * compiler's code, the reason in m->native_reason); m is alive meanwhile
 * (wh_module_free waits for it).  fini(arg) runs once, from wh_module_free,
 * after any done has returned. */
typedef struct wh_tierup_watch {
  void (*done)(wh_module_t *m, int rc, void *arg);
  void (*fini)(void *arg);
  void *arg;
} wh_tierup_watch_t;
/* Sets m's watcher (one per module; copied).  Returns 1 when done will
 * run: the compile is RUNNING, or ENDED and `late` (then a new thread
 * tells it); 0 when it will not (NONE, or ENDED and not late) -- fini runs
 * either way; WH_EBUSY (a watcher is set) or WH_ENOMEM: nothing will run.
 * Call it from the thread that owns m, not concurrently with
 * wh_module_free. */
int wh__native_tierup_watch(wh_module_t *m, const wh_tierup_watch_t *w, bool late);
/* m's native code as published (acquire), or NULL. */
static inline wh_native_code_t *wh__native_of(const wh_module_t *m) {
  return __atomic_load_n(&m->native, __ATOMIC_ACQUIRE);
}

/* native_rt.c */
extern const void *const wh__native_rt[WH_RT__COUNT];
/* The host-ABI trampoline of every defined function of a native module
 * (env = the wh_func_t). */
int wh__native_host_entry(wh_caller_t *c, void *env, uint64_t *slots);
/* A hash of the struct offsets generated code depends on (the engine
 * fingerprint names it; native_plugin.h's stamp includes it). */
static inline uint32_t wh__native_layout_hash(void) {
  const size_t offs[] = {
      offsetof(wh_instance_t, module),   offsetof(wh_instance_t, funcs),
      offsetof(wh_instance_t, tables),   offsetof(wh_instance_t, mem),
      offsetof(wh_instance_t, mems),     offsetof(wh_instance_t, globals),
      offsetof(wh_instance_t, data_dropped), offsetof(wh_module_t, types),
      offsetof(wh_memory_t, base),       offsetof(wh_memory_t, size),
      offsetof(wh_table_t, size),        offsetof(wh_table_t, elems),
      offsetof(wh_global_t, value),      offsetof(wh_global_t, value_hi),      offsetof(wh_func_t, type),
      offsetof(wh_func_t, inst),         offsetof(wh_func_t, def),
      offsetof(wh_native_ctx_t, stack_limit), offsetof(wh_native_ctx_t, depth),
      offsetof(wh_native_ctx_t, vbase), offsetof(wh_native_ctx_t, vlimit),
      offsetof(wh_native_ctx_t, frames), offsetof(wh_native_ctx_t, frame_at),
      offsetof(wh_native_ctx_t, rt),     offsetof(wh_module_t, defs),
      sizeof(wh_func_def_t), sizeof(wh_frame_t), offsetof(wh_frame_t, def),
      sizeof(wh_native_ctx_t),
      WH_RT__COUNT,
  };
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) h = (h ^ (uint32_t)offs[i]) * 16777619u;
  return h;
}

#endif /* WH_NATIVE_H */
