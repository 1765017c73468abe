/*
 * native_rt.c - what native code calls back into: the entry trampoline
 * (an activation: sigsetjmp, ctx), traps, calls to anything that is not a
 * direct call (imports, host functions, the interpreter, other native
 * modules), and the slow operators (grow, bulk memory, tables).
 *
 * An activation is one native_enter on the C stack.  Activations nest
 * (native -> host -> wh_call -> native) and are chained per thread; a trap
 * always unwinds to the innermost one, whose caller (wh__call_host, the
 * interpreter or wh_call) sees an ordinary host-function error.  Nothing
 * in generated code needs cleanup, so siglongjmp over its frames is safe.
 *
 * Bulk operators charge fuel and check bounds in the interpreter's order
 * (interp.c CHARGE): bounds first, then n/64 units (memory) or n units
 * (tables); a charge larger than the remaining fuel traps "all fuel
 * consumed" and leaves the fuel as it was.
 *
 * Also here, because running native code needs it and LLVM must not be
 * loaded for it: the CPU id of the engine fingerprint.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"
#include "wcode.h"

typedef struct activation {
  sigjmp_buf jb;
  struct activation *prev;
  wh_native_ctx_t *ctx;
  int rc;
} activation_t;

static __thread activation_t *tls_act;
static __thread uintptr_t tls_stack_lo;

/* Stack kept free below the limit for host functions called from native
 * code, the trap path and (under sanitizers) their larger frames. */
#define STACK_MARGIN (256u * 1024u)

static uintptr_t stack_limit(void) {
  if (!tls_stack_lo) {
    pthread_attr_t a;
    void *addr = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &a) == 0) {
      pthread_attr_getstack(&a, &addr, &size);
      pthread_attr_destroy(&a);
    }
    uintptr_t margin = STACK_MARGIN;
    if (size && size / 4 < margin) margin = size / 4;
    /* unknown bounds: assume 1 MiB below here */
    tls_stack_lo = addr ? (uintptr_t)addr + margin
                        : (uintptr_t)__builtin_frame_address(0) - (1u << 20) + margin;
  }
  return tls_stack_lo;
}

static _Noreturn void unwind(int rc) {
  activation_t *a = tls_act;
  a->rc = rc;
  siglongjmp(a->jb, 1);
}

static int native_enter(wh_exec_t *x, const wh_func_t *f, uint64_t *slots) {
  const wh_native_code_t *nc = f->inst->module->native;
  wh_native_ctx_t ctx = {
      .x = x,
      .fuel = &x->fuel,
      .deadline = &x->deadline,
      .epoch = &wh__epoch,
      .stack_limit = stack_limit(),
      .rt = wh__native_rt,
      .depth = (int64_t)(x->frames_end - x->frame_top) - 1,
      .vlimit = x->stack_end - x->stack,
  };
  /* frames are counted, and value-stack space reckoned, as the
   * interpreter does, so deep recursion traps at the same depth on both
   * tiers (slots always lie on x's stack: wh_call, the interpreter) */
  ctx.depth0 = ctx.depth;
  ctx.frames = x->frame_top + 1;
  ctx.frame_at = (uintptr_t)ctx.frames + (uintptr_t)ctx.depth0 * sizeof(wh_frame_t);
  ctx.vbase = slots >= x->stack && slots < x->stack_end ? slots - x->stack : ctx.vlimit;
  activation_t act;
  act.prev = tls_act;
  act.ctx = &ctx;
  act.rc = 0;
  if (sigsetjmp(act.jb, 0)) {
    tls_act = act.prev;
    return act.rc;
  }
  tls_act = &act;
  nc->entries[f->def](f->inst, &ctx, slots);
  tls_act = act.prev;
  return 0;
}

int wh__native_host_entry(wh_caller_t *c, void *env, uint64_t *slots) {
  return native_enter(wh_caller_exec(c), (const wh_func_t *)env, slots);
}

/* ---- traps ------------------------------------------------------------ */

/* The native frames of this activation, innermost last, as the
 * interpreter's frames (only .def is filled in). */
static const wh_frame_t *frames_top(const wh_native_ctx_t *ctx) {
  return ctx->frames + (ctx->depth0 - ctx->depth) - 1;
}

static _Noreturn void rt_trap(wh_native_ctx_t *ctx, int32_t code) {
  unwind(wh__trap(ctx->x, (wh_trap_code_t)code, ctx->frames, frames_top(ctx), NULL));
}

static _Noreturn void rt_epoch(wh_native_ctx_t *ctx) {
  rt_trap(ctx, atomic_load_explicit(&ctx->x->interrupt, memory_order_relaxed)
                   ? WH_TRAP_INTERRUPTED : WH_TRAP_DEADLINE);
}

static void charge(wh_native_ctx_t *ctx, uint64_t units) {
  wh_exec_t *x = ctx->x;
  if (!x->engine->cfg.fuel) return;
  if (units > (uint64_t)x->fuel) rt_trap(ctx, WH_TRAP_OUT_OF_FUEL);
  x->fuel -= (int64_t)units;
}

/* ---- calls -------------------------------------------------------------- */

static void rt_call(wh_native_ctx_t *ctx, wh_instance_t *inst, const wh_func_t *f,
                    uint64_t *slots) {
  wh_exec_t *x = ctx->x;
  if (f->host == wh__native_host_entry) {
    /* native code of another instance (or module): same activation */
    const wh_func_t *g = f->env;
    g->inst->module->native->entries[g->def](g->inst, ctx, slots);
    return;
  }
  /* where the interpreter would have the callee's frame: on x's stack
   * at ctx->vbase, above the native frames' reckoned slots and frames */
  uint32_t np = wh__native_slots(f->type->types, f->type->nparams);
  uint32_t nr = wh__native_slots(f->type->types + f->type->nparams, f->type->nresults);
  uint32_t need = np > nr ? np : nr;
  uint64_t *base = x->stack + ctx->vbase;
  /* (never true for a frame that passed its own check: a safety net) */
  if (ctx->vbase + (int64_t)need > ctx->vlimit) rt_trap(ctx, WH_TRAP_STACK_EXHAUSTED);
  uint64_t *saved_top = x->stack_top;
  wh_frame_t *saved_frame = x->frame_top;
  int rc;
  x->frame_top += ctx->depth0 - ctx->depth;   /* our frames count for the callee */
  if (f->host) {
    x->stack_top = base + need;
    rc = wh__call_host(x, f, slots, inst);
  } else {
    memcpy(base, slots, (size_t)np * 8);
    rc = wh__interp_run(x, f, base);
    if (rc == 0) memcpy(slots, base, (size_t)nr * 8);
  }
  x->stack_top = saved_top;
  x->frame_top = saved_frame;
  /* a host's trap gets our frames as its backtrace (as the interpreter) */
  if (rc == WH_ETRAP && !x->backtrace[0]) wh__trap(x, x->trap, ctx->frames, frames_top(ctx), NULL);
  if (rc) unwind(rc);
}

/* ---- memories ----------------------------------------------------------- */

static int32_t rt_memory_grow(wh_native_ctx_t *ctx, wh_instance_t *inst, int32_t mem,
                              int32_t delta) {
  return (int32_t)wh__memory_grow(inst->mems[mem], (uint32_t)delta);
}

static void rt_memory_fill(wh_native_ctx_t *ctx, wh_instance_t *inst, int32_t mem,
                           uint32_t d, uint32_t val, uint32_t n) {
  const wh_memory_t *mm = inst->mems[mem];
  if ((uint64_t)d + n > mm->size) rt_trap(ctx, WH_TRAP_MEM_OOB);
  charge(ctx, n / 64);
  if (n) memset(mm->base + d, (int)(uint8_t)val, n);
}

static void rt_memory_copy(wh_native_ctx_t *ctx, wh_instance_t *inst, int32_t dmem,
                           int32_t smem, uint32_t d, uint32_t s, uint32_t n) {
  const wh_memory_t *md = inst->mems[dmem], *ms = inst->mems[smem];
  if ((uint64_t)d + n > md->size || (uint64_t)s + n > ms->size) rt_trap(ctx, WH_TRAP_MEM_OOB);
  charge(ctx, n / 64);
  if (n) memmove(md->base + d, ms->base + s, n);
}

static void rt_memory_init(wh_native_ctx_t *ctx, wh_instance_t *inst, int32_t mem,
                           uint32_t seg, uint32_t d, uint32_t s, uint32_t n) {
  const wh_memory_t *mm = inst->mems[mem];
  const wh_data_seg_t *ds = &inst->module->datas[seg];
  uint64_t len = inst->data_dropped[seg] ? 0 : ds->len;
  if ((uint64_t)s + n > len || (uint64_t)d + n > mm->size) rt_trap(ctx, WH_TRAP_MEM_OOB);
  charge(ctx, n / 64);
  if (n) memcpy(mm->base + d, ds->bytes + s, n);
}

/* ---- tables ------------------------------------------------------------- */

static uint64_t rt_table_get(wh_native_ctx_t *ctx, wh_instance_t *inst, int32_t t,
                             uint32_t i) {
  const wh_table_t *tab = inst->tables[t];
  if (i >= tab->size) rt_trap(ctx, WH_TRAP_TABLE_OOB);
  return (uint64_t)(uintptr_t)tab->elems[i];
}

static void rt_table_set(wh_native_ctx_t *ctx, wh_instance_t *inst, int32_t t,
                         uint32_t i, uint64_t v) {
  wh_table_t *tab = inst->tables[t];
  if (i >= tab->size) rt_trap(ctx, WH_TRAP_TABLE_OOB);
  tab->elems[i] = (void *)(uintptr_t)v;
}

static uint32_t rt_table_size(wh_native_ctx_t *ctx, wh_instance_t *inst, int32_t t) {
  return inst->tables[t]->size;
}

static int32_t rt_table_grow(wh_native_ctx_t *ctx, wh_instance_t *inst, int32_t t,
                             uint64_t init, uint32_t n) {
  wh_table_t *tab = inst->tables[t];
  /* as the interpreter: a grow that cannot succeed costs nothing extra */
  if ((uint64_t)tab->size + n <= tab->max && (uint64_t)tab->size + n <= WH_MAX_TABLE_SIZE)
    charge(ctx, n);
  return (int32_t)wh__table_grow(tab, n, (void *)(uintptr_t)init);
}

static void rt_table_fill(wh_native_ctx_t *ctx, wh_instance_t *inst, int32_t t,
                          uint32_t i, uint64_t v, uint32_t n) {
  wh_table_t *tab = inst->tables[t];
  if ((uint64_t)i + n > tab->size) rt_trap(ctx, WH_TRAP_TABLE_OOB);
  charge(ctx, n);
  for (uint64_t k = 0; k < n; k++) tab->elems[i + k] = (void *)(uintptr_t)v;
}

static void rt_table_copy(wh_native_ctx_t *ctx, wh_instance_t *inst, int32_t dt,
                          int32_t st, uint32_t d, uint32_t s, uint32_t n) {
  wh_table_t *td = inst->tables[dt];
  const wh_table_t *ts = inst->tables[st];
  if ((uint64_t)d + n > td->size || (uint64_t)s + n > ts->size) rt_trap(ctx, WH_TRAP_TABLE_OOB);
  charge(ctx, n);
  if (n) memmove(td->elems + d, ts->elems + s, (size_t)n * sizeof(void *));
}

static void rt_table_init(wh_native_ctx_t *ctx, wh_instance_t *inst, int32_t t,
                          uint32_t seg, uint32_t d, uint32_t s, uint32_t n) {
  wh_table_t *tab = inst->tables[t];
  uint64_t len = inst->elem_refs[seg] ? inst->elem_len[seg] : 0;
  if ((uint64_t)s + n > len || (uint64_t)d + n > tab->size) rt_trap(ctx, WH_TRAP_TABLE_OOB);
  charge(ctx, n);
  if (n) memcpy(tab->elems + d, inst->elem_refs[seg] + s, (size_t)n * sizeof(void *));
}

static void rt_elem_drop(wh_native_ctx_t *ctx, wh_instance_t *inst, uint32_t seg) {
  inst->elem_refs[seg] = NULL;
  inst->elem_len[seg] = 0;
}

const void *const wh__native_rt[WH_RT__COUNT] = {
    [WH_RT_TRAP] = (const void *)rt_trap,
    [WH_RT_EPOCH] = (const void *)rt_epoch,
    [WH_RT_CALL] = (const void *)rt_call,
    [WH_RT_MEMORY_GROW] = (const void *)rt_memory_grow,
    [WH_RT_MEMORY_FILL] = (const void *)rt_memory_fill,
    [WH_RT_MEMORY_COPY] = (const void *)rt_memory_copy,
    [WH_RT_MEMORY_INIT] = (const void *)rt_memory_init,
    [WH_RT_TABLE_GET] = (const void *)rt_table_get,
    [WH_RT_TABLE_SET] = (const void *)rt_table_set,
    [WH_RT_TABLE_SIZE] = (const void *)rt_table_size,
    [WH_RT_TABLE_GROW] = (const void *)rt_table_grow,
    [WH_RT_TABLE_FILL] = (const void *)rt_table_fill,
    [WH_RT_TABLE_COPY] = (const void *)rt_table_copy,
    [WH_RT_TABLE_INIT] = (const void *)rt_table_init,
    [WH_RT_ELEM_DROP] = (const void *)rt_elem_drop,
};


/* ---- the CPU, for the fingerprint ----------------------------------------- */

/* Native code is compiled for the host CPU's features (native_llvm.c asks
 * LLVM for them), so an artifact may only be loaded where the same
 * features exist.  The id hashes the CPU's identity and feature leaves as
 * CPUID reports them, with XCR0 (which register states the OS enables):
 * everything LLVM derives the host CPU and its features from, without
 * loading LLVM.  Leaves that differ between cores of one machine (APIC
 * ids in leaf 1 EBX, XSAVE sizes) are left out. */
#if defined(__x86_64__)
#include <cpuid.h>

static char cpu_id[96];

static void cpu_id_init(void) {
  unsigned a, b, c, d, max = __get_cpuid_max(0, NULL), xmax = __get_cpuid_max(0x80000000u, NULL);
  uint32_t h = 2166136261u;
#define MIX(v) (h = (h ^ (uint32_t)(v)) * 16777619u)
  char vendor[13] = {0};
  __cpuid(0, a, b, c, d);
  memcpy(vendor, &b, 4);
  memcpy(vendor + 4, &d, 4);
  memcpy(vendor + 8, &c, 4);
  unsigned sig = 0;
  if (max >= 1) {
    __cpuid(1, a, b, c, d);
    sig = a;
    MIX(a), MIX(c), MIX(d);
    if (c & (1u << 27)) {   /* OSXSAVE: the OS says which states it saves */
      uint32_t lo, hi;
      __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
      MIX(lo), MIX(hi);
    }
  }
  if (max >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    MIX(b), MIX(c), MIX(d);
    __cpuid_count(7, 1, a, b, c, d);
    MIX(a);
  }
  if (max >= 0xd) {
    __cpuid_count(0xd, 1, a, b, c, d);
    MIX(a);
  }
  if (xmax >= 0x80000001u) {
    __cpuid(0x80000001u, a, b, c, d);
    MIX(c), MIX(d);
  }
#undef MIX
  unsigned family = (sig >> 8) & 0xf, model = (sig >> 4) & 0xf;
  if (family == 0xf) family += (sig >> 20) & 0xff;
  if (family == 0x6 || family >= 0xf) model |= ((sig >> 16) & 0xf) << 4;
  snprintf(cpu_id, sizeof cpu_id, "%s-%x-%x/%08x/llvm%d", vendor, family, model, h,
           WHARF_LLVM_MAJOR);
}

const char *wh__native_cpu_id(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, cpu_id_init);
  return cpu_id;
}
#else
const char *wh__native_cpu_id(void) { return "unknown-cpu"; }
#endif
