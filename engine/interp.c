/*
 * interp.c - the wcode interpreter (tier 0).
 *
 * One C activation runs any depth of wasm calls: a wasm call pushes a
 * wh_frame_t on the exec's bounded frame stack and jumps; nothing recurses
 * on the C stack, so deep recursion traps "call stack exhausted".  Host
 * functions are the only way back into C (and may re-enter wh_call).
 *
 * Registers kept in locals: ip (current op), fp (frame base), inst (the
 * running instance), mem/memsz (its memory 0, reloaded after anything that
 * may grow it or switch instances), fuel (remaining; written back to the
 * exec on exit and around host calls).  Other memories (multi-memory) have
 * ops of their own (the *_M ops) that look the memory up in inst->mems on
 * every access, so memory 0's ops pay nothing for them.
 *
 * Every trap leaves through the one `trap_exit` label.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "interp_dispatch.h"
#include "interp_num.h"
#include "simd_lanes.h"
#include "wcode.h"

/* ---- operand access ------------------------------------------------------ */

static inline int32_t rdw(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

#define W(n) rdw(ip + 8 + 4 * (n))
#define S(off) (*(uint64_t *)((uint8_t *)fp + (off)))

typedef uint32_t CT_i32;
typedef uint64_t CT_i64;
typedef float CT_f32;
typedef double CT_f64;
#define RD_i32(off) ((uint32_t)S(off))
#define RD_i64(off) (S(off))
#define RD_f32(off) f32_from((uint32_t)S(off))
#define RD_f64(off) f64_from(S(off))
#define WR_i32(off, v) (S(off) = (uint32_t)(v))
#define WR_i64(off, v) (S(off) = (uint64_t)(v))
#define WR_f32(off, v) (S(off) = f32_bits(v))
#define WR_f64(off, v) (S(off) = f64_bits(v))
#define IMM_i32(w) ((uint32_t)(w))
#define IMM_i64(w) ((uint64_t)(int64_t)(int32_t)(w))
#define IMM_f32(w) f32_from((uint32_t)(w))
#define IMM_f64(w) ((double)f32_from((uint32_t)(w)))
/* what a load widens its memory type through */
#define LW_i32 uint32_t
#define LW_i64 uint64_t
#define LW_f32 uint32_t
#define LW_f64 uint64_t

#define NEXT(words)                                                           \
  do {                                                                        \
    ip += 8 + 4 * (words);                                                    \
    VM_DISPATCH();                                                            \
  } while (0)

#define TRAP(kind)                                                            \
  do {                                                                        \
    trap = WH_TRAP_##kind;                                                    \
    goto trap_exit;                                                           \
  } while (0)

#define RELOAD_MEM()                                                          \
  do {                                                                        \
    wh_memory_t *m_ = inst->mem;                                              \
    mem = m_ ? m_->base : NULL;                                               \
    memsz = m_ ? m_->size : 0;                                                \
  } while (0)

/* Charges `units` of fuel for bulk work; traps when there is not enough. */
#define CHARGE(units)                                                         \
  do {                                                                        \
    if (metered) {                                                            \
      uint64_t u_ = (units);                                                  \
      if (u_ > (uint64_t)fuel) TRAP(OUT_OF_FUEL);                             \
      fuel -= (int64_t)u_;                                                    \
    }                                                                         \
  } while (0)

static const void *const *label_table;

const void *const *wh__interp_labels(void) {
  if (!label_table) wh__interp_run(NULL, NULL, NULL);
  return label_table;
}

/* Pushes the frame of `d` (callee of `f`) whose args are at nfp; the macro
 * jumps into the callee. */
#define ENTER(d_, nfp_, ret_ip_, new_inst_)                                   \
  do {                                                                        \
    const wh_func_def_t *dd_ = (d_);                                          \
    uint64_t *nfp__ = (nfp_);                                                 \
    if (nfp__ + dd_->frame_slots > stack_end || frame + 1 >= frames_end)      \
      TRAP(STACK_EXHAUSTED);                                                  \
    frame++;                                                                  \
    frame->ret_ip = (ret_ip_);                                                \
    frame->fp = fp;                                                           \
    frame->inst = inst;                                                       \
    frame->def = dd_;                                                         \
    memset(nfp__ + dd_->nparam_slots, 0,                                      \
           (size_t)(dd_->nlocals - dd_->nparam_slots) * 8);                   \
    fp = nfp__;                                                               \
    ip = dd_->code;                                                           \
    inst = (new_inst_);                                                       \
  } while (0)

int wh__interp_run(wh_exec_t *x, const wh_func_t *f, uint64_t *args) {
#if WH_INTERP_COMPUTED_GOTO
  static const void *const labels[WOP__COUNT] = {
#define WH__L_MISC(name, kinds) [WOP_##name] = &&L_##name,
      WH_WCODE_MISC(WH__L_MISC)
#undef WH__L_MISC
#define WH__L_BIN(name, op, ti, to, imm, expr)                                \
  [WOP_##name] = &&L_##name, [WOP_##name##_IMM] = &&L_##name##_IMM,
      WH_BINOPS(WH__L_BIN) WH_BINOPS_TRAPPING(WH__L_BIN)
#undef WH__L_BIN
#define WH__L_UN(name, op, ti, to, expr) [WOP_##name] = &&L_##name,
      WH_UNOPS(WH__L_UN)
#undef WH__L_UN
#define WH__L_MEM(name, op, t, n, ct, al)                                     \
  [WOP_##name] = &&L_##name, [WOP_##name##_M] = &&L_##name##_M,
      WH_LOADS(WH__L_MEM) WH_STORES(WH__L_MEM)
#undef WH__L_MEM
#define WH__L_F(name, ct, cop, neg)                                           \
  [WOP_BR_##name] = &&L_BR_##name, [WOP_BR_##name##_IMM] = &&L_BR_##name##_IMM,
      WH_FUSED_CMPS(WH__L_F)
#undef WH__L_F
#define WH__L_S(name, sub, form, t, n) [WOP_V_##name] = &&L_V_##name,
      WH_SIMD_OPS(WH__L_S)
#undef WH__L_S
  };
  if (!x) {
    label_table = labels;
    return 0;
  }
#else
  if (!x) return 0;
#endif

  wh_trap_code_t trap = WH_TRAP_NONE;
  int rc = 0;
  wh_instance_t *inst = f->inst;
  const wh_module_t *mod = inst->module;
  const wh_func_def_t *d0 = &mod->defs[f->def];
  uint64_t *const stack_end = x->stack_end;
  wh_frame_t *const frames_end = x->frames_end;
  wh_frame_t *const frame_base = x->frame_top + 1;
  wh_frame_t *frame = x->frame_top;
  const bool metered = x->engine->cfg.fuel;
  int64_t fuel = metered ? x->fuel : INT64_MAX;
  const uint8_t *ip = NULL;
  uint64_t *fp = NULL;
  uint8_t *mem;
  uint64_t memsz;
  const wh_func_t *fn;       /* call_generic's operands */
  uint64_t *args_;
  const uint8_t *next;
  enum wh_simd_op sop = 0;   /* the row a SIMD call site runs */

  ENTER(d0, args, NULL, inst);
  RELOAD_MEM();

  VM_BEGIN

  VM_CASE(UNREACHABLE) { TRAP(UNREACHABLE); }

  VM_CASE(BR) {
    ip += 8 + W(0);
    VM_DISPATCH();
  }
  VM_CASE(BR_IF) {
    if (RD_i32(W(0))) {
      ip += 12 + W(1);
      VM_DISPATCH();
    }
    NEXT(2);
  }
  VM_CASE(BR_UNLESS) {
    if (!RD_i32(W(0))) {
      ip += 12 + W(1);
      VM_DISPATCH();
    }
    NEXT(2);
  }
  VM_CASE(BR_TABLE) {
    uint32_t i = RD_i32(W(0));
    uint32_t n = (uint32_t)W(1);
    if (i > n) i = n;
    const uint8_t *rel = ip + 16 + 4 * (size_t)i;
    ip = rel + rdw(rel);
    VM_DISPATCH();
  }
  VM_CASE(COPY) {
    S(W(0)) = S(W(1));
    NEXT(2);
  }
  VM_CASE(CONST32) {
    S(W(0)) = (uint32_t)W(1);
    NEXT(2);
  }
  VM_CASE(CONST64) {
    S(W(0)) = (uint64_t)(uint32_t)W(1) | ((uint64_t)(uint32_t)W(2) << 32);
    NEXT(3);
  }
  VM_CASE(ENTRY) {}
  VM_CASE(LOOP) {
    if (atomic_load_explicit(&wh__epoch, memory_order_relaxed) >=
        atomic_load_explicit(&x->deadline, memory_order_relaxed)) {
      if (atomic_load_explicit(&x->interrupt, memory_order_relaxed)) TRAP(INTERRUPTED);
      TRAP(DEADLINE);
    }
    fuel -= W(0);
    if (fuel < 0) {
      fuel += W(0);
      TRAP(OUT_OF_FUEL);
    }
    NEXT(1);
  }
  VM_CASE(FUEL) {
    fuel -= W(0);
    if (fuel < 0) {
      fuel += W(0);
      TRAP(OUT_OF_FUEL);
    }
    NEXT(1);
  }
  VM_CASE(CALL) {
    const wh_func_def_t *d = &mod->defs[W(0)];
    ENTER(d, (uint64_t *)((uint8_t *)fp + W(1)), ip + 16, inst);
    VM_DISPATCH();
  }
  VM_CASE(CALL_IMPORT) {
    fn = inst->funcs[W(0)];
    args_ = (uint64_t *)((uint8_t *)fp + W(1));
    next = ip + 16;
    goto call_generic;
  call_generic:
    if (fn->host) {
      uint32_t np = fn->type->nparams, nr = fn->type->nresults;
      x->stack_top = args_ + (np > nr ? np : nr);
      x->frame_top = frame;
      x->fuel = fuel;
      rc = wh__call_host(x, fn, args_, inst);
      fuel = metered ? x->fuel : INT64_MAX;
      if (rc) goto host_exit;
      RELOAD_MEM();
      ip = next;
      VM_DISPATCH();
    }
    {
      wh_instance_t *ni = fn->inst;
      ENTER(&ni->module->defs[fn->def], args_, next, ni);
      mod = inst->module;
      RELOAD_MEM();
      VM_DISPATCH();
    }
  }
  VM_CASE(CALL_INDIRECT) {
    const wh_table_t *tab = inst->tables[W(1)];
    uint32_t i = RD_i32(W(2));
    if (i >= tab->size) TRAP(UNDEFINED_ELEM);
    fn = tab->elems[i];
    if (!fn) TRAP(INDIRECT_NULL);
    if (fn->type != mod->types[W(0)]) TRAP(INDIRECT_TYPE);
    args_ = (uint64_t *)((uint8_t *)fp + W(3));
    next = ip + 24;
    if (fn->inst == inst && !fn->host) {
      ENTER(&mod->defs[fn->def], args_, next, inst);
      VM_DISPATCH();
    }
    goto call_generic;
  }
  VM_CASE(RETURN) {
    ip = frame->ret_ip;
    fp = frame->fp;
    inst = frame->inst;
    frame--;
    if (!ip) goto done;
    mod = inst->module;
    RELOAD_MEM();
    VM_DISPATCH();
  }
  VM_CASE(SELECT) {
    S(W(0)) = RD_i32(W(3)) ? S(W(1)) : S(W(2));
    NEXT(4);
  }
  VM_CASE(GLOBAL_GET) {
    S(W(0)) = inst->globals[W(1)]->value;
    NEXT(2);
  }
  VM_CASE(GLOBAL_SET) {
    inst->globals[W(1)]->value = S(W(0));
    NEXT(2);
  }
  VM_CASE(GLOBAL_GET128) {
    const wh_global_t *g = inst->globals[W(1)];
    S(W(0)) = g->value;
    S(W(0) + 8) = g->value_hi;
    NEXT(2);
  }
  VM_CASE(GLOBAL_SET128) {
    wh_global_t *g = inst->globals[W(1)];
    g->value = S(W(0));
    g->value_hi = S(W(0) + 8);
    NEXT(2);
  }
  VM_CASE(MEMORY_SIZE) {
    WR_i32(W(0), memsz / WH_PAGE_SIZE);
    NEXT(1);
  }
  VM_CASE(MEMORY_GROW) {
    int64_t old = wh__memory_grow(inst->mem, RD_i32(W(1)));
    WR_i32(W(0), (uint32_t)old);
    RELOAD_MEM();
    NEXT(2);
  }
  VM_CASE(MEMORY_FILL) {
    uint64_t d = RD_i32(W(0)), n = RD_i32(W(2));
    if (d + n > memsz) TRAP(MEM_OOB);
    CHARGE(n / 64);
    if (n) memset(mem + d, (int)(uint8_t)RD_i32(W(1)), n);
    NEXT(3);
  }
  VM_CASE(MEMORY_COPY) {
    uint64_t d = RD_i32(W(0)), s = RD_i32(W(1)), n = RD_i32(W(2));
    if (d + n > memsz || s + n > memsz) TRAP(MEM_OOB);
    CHARGE(n / 64);
    if (n) memmove(mem + d, mem + s, n);
    NEXT(3);
  }
  VM_CASE(MEMORY_INIT) {
    uint32_t seg = (uint32_t)W(0);
    uint64_t d = RD_i32(W(1)), s = RD_i32(W(2)), n = RD_i32(W(3));
    const wh_data_seg_t *ds = &mod->datas[seg];
    uint64_t len = inst->data_dropped[seg] ? 0 : ds->len;
    if (s + n > len || d + n > memsz) TRAP(MEM_OOB);
    CHARGE(n / 64);
    if (n) memcpy(mem + d, ds->bytes + s, n);
    NEXT(4);
  }
  VM_CASE(MEMORY_SIZE_M) {
    WR_i32(W(0), inst->mems[W(1)]->size / WH_PAGE_SIZE);
    NEXT(2);
  }
  VM_CASE(MEMORY_GROW_M) {
    int64_t old = wh__memory_grow(inst->mems[W(2)], RD_i32(W(1)));
    WR_i32(W(0), (uint32_t)old);
    RELOAD_MEM();               /* it may be memory 0 imported twice */
    NEXT(3);
  }
  VM_CASE(MEMORY_FILL_M) {
    const wh_memory_t *mm = inst->mems[W(0)];
    uint64_t d = RD_i32(W(1)), n = RD_i32(W(3));
    if (d + n > mm->size) TRAP(MEM_OOB);
    CHARGE(n / 64);
    if (n) memset(mm->base + d, (int)(uint8_t)RD_i32(W(2)), n);
    NEXT(4);
  }
  VM_CASE(MEMORY_COPY_M) {
    const wh_memory_t *md = inst->mems[W(0)], *ms = inst->mems[W(1)];
    uint64_t d = RD_i32(W(2)), s = RD_i32(W(3)), n = RD_i32(W(4));
    if (d + n > md->size || s + n > ms->size) TRAP(MEM_OOB);
    CHARGE(n / 64);
    if (n) memmove(md->base + d, ms->base + s, n);
    NEXT(5);
  }
  VM_CASE(MEMORY_INIT_M) {
    const wh_memory_t *mm = inst->mems[W(0)];
    uint32_t seg = (uint32_t)W(1);
    uint64_t d = RD_i32(W(2)), s = RD_i32(W(3)), n = RD_i32(W(4));
    const wh_data_seg_t *ds = &mod->datas[seg];
    uint64_t len = inst->data_dropped[seg] ? 0 : ds->len;
    if (s + n > len || d + n > mm->size) TRAP(MEM_OOB);
    CHARGE(n / 64);
    if (n) memcpy(mm->base + d, ds->bytes + s, n);
    NEXT(5);
  }
  VM_CASE(DATA_DROP) {
    inst->data_dropped[W(0)] = 1;
    NEXT(1);
  }
  VM_CASE(TABLE_GET) {
    const wh_table_t *t = inst->tables[W(1)];
    uint32_t i = RD_i32(W(2));
    if (i >= t->size) TRAP(TABLE_OOB);
    S(W(0)) = (uint64_t)(uintptr_t)t->elems[i];
    NEXT(3);
  }
  VM_CASE(TABLE_SET) {
    wh_table_t *t = inst->tables[W(0)];
    uint32_t i = RD_i32(W(1));
    if (i >= t->size) TRAP(TABLE_OOB);
    t->elems[i] = (void *)(uintptr_t)S(W(2));
    NEXT(3);
  }
  VM_CASE(TABLE_SIZE) {
    WR_i32(W(0), inst->tables[W(1)]->size);
    NEXT(2);
  }
  VM_CASE(TABLE_GROW) {
    wh_table_t *t = inst->tables[W(1)];
    uint32_t n = RD_i32(W(3));
    /* a grow that cannot succeed does no work and costs nothing extra */
    if ((uint64_t)t->size + n <= t->max && (uint64_t)t->size + n <= WH_MAX_TABLE_SIZE)
      CHARGE(n);
    int64_t old = wh__table_grow(t, n, (void *)(uintptr_t)S(W(2)));
    WR_i32(W(0), (uint32_t)old);
    NEXT(4);
  }
  VM_CASE(TABLE_FILL) {
    wh_table_t *t = inst->tables[W(0)];
    uint64_t i = RD_i32(W(1)), n = RD_i32(W(3));
    void *v = (void *)(uintptr_t)S(W(2));
    if (i + n > t->size) TRAP(TABLE_OOB);
    CHARGE(n);
    for (uint64_t k = 0; k < n; k++) t->elems[i + k] = v;
    NEXT(4);
  }
  VM_CASE(TABLE_COPY) {
    wh_table_t *td = inst->tables[W(0)];
    const wh_table_t *ts = inst->tables[W(1)];
    uint64_t d = RD_i32(W(2)), s = RD_i32(W(3)), n = RD_i32(W(4));
    if (d + n > td->size || s + n > ts->size) TRAP(TABLE_OOB);
    CHARGE(n);
    if (n) memmove(td->elems + d, ts->elems + s, n * sizeof(void *));
    NEXT(5);
  }
  VM_CASE(TABLE_INIT) {
    wh_table_t *t = inst->tables[W(0)];
    uint32_t seg = (uint32_t)W(1);
    uint64_t d = RD_i32(W(2)), s = RD_i32(W(3)), n = RD_i32(W(4));
    uint64_t len = inst->elem_refs[seg] ? inst->elem_len[seg] : 0;
    if (s + n > len || d + n > t->size) TRAP(TABLE_OOB);
    CHARGE(n);
    if (n) memcpy(t->elems + d, inst->elem_refs[seg] + s, n * sizeof(void *));
    NEXT(5);
  }
  VM_CASE(ELEM_DROP) {
    uint32_t seg = (uint32_t)W(0);
    inst->elem_refs[seg] = NULL;   /* the refs live in the state block */
    inst->elem_len[seg] = 0;
    NEXT(1);
  }
  VM_CASE(REF_IS_NULL) {
    WR_i32(W(0), S(W(1)) == 0);
    NEXT(2);
  }
  VM_CASE(REF_FUNC) {
    S(W(0)) = (uint64_t)(uintptr_t)inst->funcs[W(1)];
    NEXT(2);
  }

#define WH__H_BIN(name, opc, ti, to, hasimm, expr)                            \
  VM_CASE(name) {                                                             \
    CT_##ti a = RD_##ti(W(1));                                                \
    CT_##ti b = RD_##ti(W(2));                                                \
    WR_##to(W(0), (expr));                                                    \
    NEXT(3);                                                                  \
  }                                                                           \
  VM_CASE(name##_IMM) {                                                       \
    CT_##ti a = RD_##ti(W(1));                                                \
    CT_##ti b = IMM_##ti(W(2));                                               \
    WR_##to(W(0), (expr));                                                    \
    NEXT(3);                                                                  \
  }
  WH_BINOPS(WH__H_BIN)
  WH_BINOPS_TRAPPING(WH__H_BIN)
#undef WH__H_BIN

#define WH__H_UN(name, opc, ti, to, expr)                                     \
  VM_CASE(name) {                                                             \
    CT_##ti a = RD_##ti(W(1));                                                \
    WR_##to(W(0), (expr));                                                    \
    NEXT(2);                                                                  \
  }
  WH_UNOPS(WH__H_UN)
#undef WH__H_UN

#define WH__H_LOAD(name, opc, t, n, ct, al)                                   \
  VM_CASE(name) {                                                             \
    uint64_t ea = (uint64_t)RD_i32(W(1)) + (uint32_t)W(2);                    \
    if (ea + (n) > memsz) TRAP(MEM_OOB);                                      \
    ct v;                                                                     \
    memcpy(&v, mem + ea, n);                                                  \
    S(W(0)) = (uint64_t)(LW_##t)v;                                            \
    NEXT(3);                                                                  \
  }
  WH_LOADS(WH__H_LOAD)
#undef WH__H_LOAD

#define WH__H_STORE(name, opc, t, n, ct, al)                                  \
  VM_CASE(name) {                                                             \
    uint64_t ea = (uint64_t)RD_i32(W(0)) + (uint32_t)W(2);                    \
    if (ea + (n) > memsz) TRAP(MEM_OOB);                                      \
    ct v = (ct)S(W(1));                                                       \
    memcpy(mem + ea, &v, n);                                                  \
    NEXT(3);                                                                  \
  }
  WH_STORES(WH__H_STORE)
#undef WH__H_STORE

/* the same on memory W(3), for memories other than 0 */
#define WH__H_LOAD_M(name, opc, t, n, ct, al)                                 \
  VM_CASE(name##_M) {                                                         \
    const wh_memory_t *mm = inst->mems[W(3)];                                 \
    uint64_t ea = (uint64_t)RD_i32(W(1)) + (uint32_t)W(2);                    \
    if (ea + (n) > mm->size) TRAP(MEM_OOB);                                   \
    ct v;                                                                     \
    memcpy(&v, mm->base + ea, n);                                             \
    S(W(0)) = (uint64_t)(LW_##t)v;                                            \
    NEXT(4);                                                                  \
  }
  WH_LOADS(WH__H_LOAD_M)
#undef WH__H_LOAD_M

#define WH__H_STORE_M(name, opc, t, n, ct, al)                                \
  VM_CASE(name##_M) {                                                         \
    const wh_memory_t *mm = inst->mems[W(3)];                                 \
    uint64_t ea = (uint64_t)RD_i32(W(0)) + (uint32_t)W(2);                    \
    if (ea + (n) > mm->size) TRAP(MEM_OOB);                                   \
    ct v = (ct)S(W(1));                                                       \
    memcpy(mm->base + ea, &v, n);                                             \
    NEXT(4);                                                                  \
  }
  WH_STORES(WH__H_STORE_M)
#undef WH__H_STORE_M

#define WH__H_FUSED(name, ct, cop, neg)                                       \
  VM_CASE(BR_##name) {                                                        \
    if ((ct)S(W(0)) cop (ct)S(W(1))) {                                        \
      ip += 16 + W(2);                                                        \
      VM_DISPATCH();                                                          \
    }                                                                         \
    NEXT(3);                                                                  \
  }                                                                           \
  VM_CASE(BR_##name##_IMM) {                                                  \
    if ((ct)S(W(0)) cop (ct)(int64_t)W(1)) {                                  \
      ip += 16 + W(2);                                                        \
      VM_DISPATCH();                                                          \
    }                                                                         \
    NEXT(3);                                                                  \
  }
  WH_FUSED_CMPS(WH__H_FUSED)
#undef WH__H_FUSED

/* SIMD: a V_ op names its row (sop) and jumps to its form's call site,
 * which calls the row's out-of-line handler (interp_simd.c says why) and
 * dispatches the next op: fourteen sites, one per form, each with its own
 * dispatch jump.  The ops that dominate vector loops (v128.load and store;
 * and, or, xor; integer and float add, sub, mul; i8x16.eq) run inline
 * instead, by sub-opcode: without a call they are up to 1.6 times faster
 * in bench/compute/simd's kernels, and their bodies are short.
 * SIMD_INLINE(sub) is a constant, so each case compiles one of its two
 * paths. */
#define SIMD_INLINE(sub)                                                      \
  ((sub) == 0x00 || (sub) == 0x0b || (sub) == 0x23 || (sub) == 0x4e ||        \
   (sub) == 0x50 || (sub) == 0x51 || (sub) == 0x6e || (sub) == 0x71 ||        \
   (sub) == 0x8e || (sub) == 0x91 || (sub) == 0x95 || (sub) == 0xae ||        \
   (sub) == 0xb1 || (sub) == 0xb5 || (sub) == 0xce || (sub) == 0xd1 ||        \
   (sub) == 0xe4 || (sub) == 0xe5 || (sub) == 0xe6 || (sub) == 0xf0 ||        \
   (sub) == 0xf1 || (sub) == 0xf2)
#define VRD(off) ({ wh_v128_t v_; memcpy(&v_, (uint8_t *)fp + (off), 16); v_; })
#define VWR(off, v) do { wh_v128_t w_ = (v); memcpy((uint8_t *)fp + (off), &w_, 16); } while (0)
#define SIMD_CALL(name, form)                                                 \
  {                                                                           \
    sop = WH_SOP_##name;                                                      \
    goto simd_##form;                                                         \
  }
#define SIMD_CASE_LOAD(name, sub, n)                                          \
  if (SIMD_INLINE(sub)) {                                                     \
    const wh_memory_t *mm = inst->mems[W(3)];                                 \
    uint64_t ea = (uint64_t)RD_i32(W(1)) + (uint32_t)W(2);                    \
    if (ea + (1u << (n)) > mm->size) TRAP(MEM_OOB);                           \
    VWR(W(0), wh_simd_##name(mm->base + ea));                                 \
  } else {                                                                    \
    SIMD_CALL(name, LOAD)                                                     \
  }
#define SIMD_CASE_STORE(name, sub, n)                                         \
  if (SIMD_INLINE(sub)) {                                                     \
    const wh_memory_t *mm = inst->mems[W(3)];                                 \
    uint64_t ea = (uint64_t)RD_i32(W(0)) + (uint32_t)W(2);                    \
    if (ea + 16 > mm->size) TRAP(MEM_OOB);                                    \
    wh_simd_V128_STORE(mm->base + ea, VRD(W(1)));                             \
  } else {                                                                    \
    SIMD_CALL(name, STORE)                                                    \
  }
#define SIMD_CASE_BIN(name, sub, n)                                           \
  if (SIMD_INLINE(sub)) {                                                     \
    VWR(W(0), wh_simd_##name(VRD(W(1)), VRD(W(2))));                          \
  } else {                                                                    \
    SIMD_CALL(name, BIN)                                                      \
  }
#define SIMD_CASE_LLANE(name, sub, n) SIMD_CALL(name, LLANE)
#define SIMD_CASE_SLANE(name, sub, n) SIMD_CALL(name, SLANE)
#define SIMD_CASE_CONST(name, sub, n) SIMD_CALL(name, CONST)
#define SIMD_CASE_SHUF(name, sub, n) SIMD_CALL(name, SHUF)
#define SIMD_CASE_SPLAT(name, sub, n) SIMD_CALL(name, SPLAT)
#define SIMD_CASE_EXTRACT(name, sub, n) SIMD_CALL(name, EXTRACT)
#define SIMD_CASE_REPLACE(name, sub, n) SIMD_CALL(name, REPLACE)
#define SIMD_CASE_UN(name, sub, n) SIMD_CALL(name, UN)
#define SIMD_CASE_TERN(name, sub, n) SIMD_CALL(name, TERN)
#define SIMD_CASE_TEST(name, sub, n) SIMD_CALL(name, TEST)
#define SIMD_CASE_SHIFT(name, sub, n) SIMD_CALL(name, SHIFT)
#define WH__H_SIMD(name, sub, form, t, n)                                     \
  VM_CASE(V_##name) {                                                         \
    SIMD_CASE_##form(name, sub, n)                                            \
    NEXT(sizeof WH_KINDS_SIMD_##form - 1);                                    \
  }
  WH_SIMD_OPS(WH__H_SIMD)
#undef WH__H_SIMD
#define WH__SIMD_SITE(form)                                                   \
  simd_##form:                                                                \
    if (!wh_vm__simd_fns[sop](fp, ip, inst)) TRAP(MEM_OOB);                   \
    NEXT(sizeof WH_KINDS_SIMD_##form - 1);
  WH__SIMD_SITE(LOAD) WH__SIMD_SITE(STORE) WH__SIMD_SITE(LLANE)
  WH__SIMD_SITE(SLANE) WH__SIMD_SITE(CONST) WH__SIMD_SITE(SHUF)
  WH__SIMD_SITE(SPLAT) WH__SIMD_SITE(EXTRACT) WH__SIMD_SITE(REPLACE)
  WH__SIMD_SITE(UN) WH__SIMD_SITE(BIN) WH__SIMD_SITE(TERN)
  WH__SIMD_SITE(TEST) WH__SIMD_SITE(SHIFT)
#undef WH__SIMD_SITE

  VM_END

trap_exit:
  x->fuel = metered ? fuel : x->fuel;
  rc = wh__trap(x, trap, frame_base, frame, NULL);
  x->frame_top = frame_base - 1;
  return rc;
host_exit:
  /* the host recorded the trap or exit; add our backtrace to a trap */
  if (rc == WH_ETRAP && !x->backtrace[0])
    wh__trap(x, x->trap, frame_base, frame, NULL);
  x->frame_top = frame_base - 1;
  return rc;
done:
  if (metered) x->fuel = fuel;
  x->frame_top = frame_base - 1;
  return 0;
}

/* Reverse of the label table, sorted by address, for wh__wop_of_label. */
typedef struct label_op {
  const void *addr;
  uint32_t op;
} label_op_t;

static label_op_t label_ops[WOP__COUNT];
static pthread_once_t label_ops_once = PTHREAD_ONCE_INIT;

static int cmp_label(const void *a, const void *b) {
  const label_op_t *x = a, *y = b;
  return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void build_label_ops(void) {
  const void *const *labels = wh__interp_labels();
  for (uint32_t i = 0; i < WOP__COUNT; i++) {
    label_ops[i].addr = labels ? labels[i] : (const void *)(uintptr_t)i;
    label_ops[i].op = i;
  }
  qsort(label_ops, WOP__COUNT, sizeof *label_ops, cmp_label);
}

int wh__wop_of_handler(const uint8_t *cell) {
#if WH_INTERP_COMPUTED_GOTO
  pthread_once(&label_ops_once, build_label_ops);
  label_op_t key;
  memcpy(&key.addr, cell, sizeof key.addr);
  const label_op_t *hit = bsearch(&key, label_ops, WOP__COUNT, sizeof *label_ops, cmp_label);
  return hit ? (int)hit->op : -1;
#else
  uint64_t op;
  memcpy(&op, cell, 8);
  return op < WOP__COUNT ? (int)op : -1;
#endif
}

void wh__wcode_dump(FILE *out, const uint8_t *code, uint32_t len) {
  uint32_t pos = 0;
  while (pos + 8 <= len) {
    int op = wh__wop_of_handler(code + pos);
    if (op < 0) {
      fprintf(out, "%6u  ???\n", pos);
      return;
    }
    int words = wh__wop_words[op];
    if (words < 0) words = 2 + rdw(code + pos + 12) + 1;
    fprintf(out, "%6u  %-20s", pos, wh__wop_names[op]);
    for (int i = 0; i < words; i++) fprintf(out, " %d", rdw(code + pos + 8 + 4 * i));
    fputc('\n', out);
    pos += 8 + 4 * (uint32_t)words;
  }
}

void wh__thread_code(uint8_t *code, uint32_t len) {
#if WH_INTERP_COMPUTED_GOTO
  const void *const *labels = wh__interp_labels();
  uint32_t pos = 0;
  while (pos + 8 <= len) {
    uint64_t op;
    memcpy(&op, code + pos, 8);
    const void *h = labels[op];
    memcpy(code + pos, &h, 8);
    int words = wh__wop_words[op];
    if (words < 0) words = 2 + rdw(code + pos + 12) + 1;
    pos += 8 + 4 * (uint32_t)words;
  }
#else
  (void)code;
  (void)len;
#endif
}
