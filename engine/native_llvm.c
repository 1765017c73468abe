/*
 * native_llvm.c - the native tier's compiler: each function's wcode (the
 * interpreter's validated register code, wcode.h) -> LLVM IR -> O2 -> an
 * x86-64 ELF object in memory, handed to the engine (native_compile.c),
 * which loads it with native_load.c.  Built as the plugin
 * libwharf-llvm.so (native_plugin.h): the only code that links libLLVM,
 * loaded by the engine on its first native compile; what it needs of the
 * engine comes through the wh_llvm_host_t of each call.
 *
 * Translating wcode rather than the wasm bytes keeps one validator and
 * gives both tiers the very same basic blocks and fuel amounts: each
 * ENTRY/LOOP/FUEL op carries its block's cost, so "charged per basic
 * block at its start" holds by construction.
 *
 * A wcode slot (fp[i], 64 bits) becomes one i64 alloca; SROA/mem2reg turn
 * them into SSA values.  Typed operators truncate/bitcast on read and
 * zero-extend on write, exactly as the interpreter's RD_/WR_ macros.
 * Branch targets are found in a first pass and become basic blocks.
 *
 * Memory accesses check ea + size <= memory size explicitly (the
 * interpreter's test).  TBAA tags keep LLVM from thinking a store to
 * linear memory may change a memory's size, a global, or the fuel, and
 * loads of things fixed for an instance's life (inst->mem, a memory's
 * base, inst->funcs[i], ...) are !invariant.load, so they hoist.
 *
 * SIMD: a v128 is its two i64 slots (low half first), read as <2 x i64>
 * and bitcast to the op's lane shape; see "SIMD" below.
 */
#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "native_plugin.h"

/* The engine's functions and tables, through the host table (the plugin
 * links nothing of the engine).  Every call passes the same table. */
static const wh_llvm_host_t *_Atomic host;
#define HOST() atomic_load_explicit(&host, memory_order_relaxed)
#define wh_diag_set(...) (HOST()->diag_set(__VA_ARGS__))
#define wh__wop_of_handler(cell) (HOST()->wop_of_handler(cell))
#define wh__wop_words (HOST()->wop_words)
#define wh__wop_kinds (HOST()->wop_kinds)
#define wh__wop_names (HOST()->wop_names)

#define EXPORT __attribute__((visibility("default")))

/* ---- per-op tables ------------------------------------------------------- */

enum { TY_i32, TY_i64, TY_f32, TY_f64 };

typedef struct opinfo {
  uint8_t fam;          /* F_* */
  uint8_t ti, to;       /* operand and result types */
  uint8_t imm;          /* binop: right operand is an immediate */
  uint8_t bytes;        /* load/store width */
  uint8_t sign;         /* load: sign-extending */
  uint8_t multi;        /* load/store: the _M form (memory word) */
  uint16_t base;        /* binop: the op without _IMM; fused: the compare */
  uint8_t sform, sn;    /* SIMD: the row's form (WH_SIMD_*) and n (simd.h) */
} opinfo_t;

enum { F_MISC, F_BIN, F_UN, F_LOAD, F_STORE, F_FUSED, F_SIMD };

static opinfo_t ops[WOP__COUNT];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static char cpu_name[128], cpu_features[4096];
static char target_triple[128];

static void init_tables(void) {
#define B(name, opc, ti_, to_, hasimm, expr)                                    \
  ops[WOP_##name] = (opinfo_t){.fam = F_BIN, .ti = TY_##ti_, .to = TY_##to_,    \
                               .base = WOP_##name};                              \
  ops[WOP_##name##_IMM] = (opinfo_t){.fam = F_BIN, .ti = TY_##ti_, .to = TY_##to_, \
                                     .imm = 1, .base = WOP_##name};
  WH_BINOPS(B)
  WH_BINOPS_TRAPPING(B)
#undef B
#define U(name, opc, ti_, to_, expr)                                            \
  ops[WOP_##name] = (opinfo_t){.fam = F_UN, .ti = TY_##ti_, .to = TY_##to_, .base = WOP_##name};
  WH_UNOPS(U)
#undef U
#define L(name, opc, t, n, ct, al)                                              \
  ops[WOP_##name] = (opinfo_t){.fam = F_LOAD, .to = TY_##t, .bytes = n,         \
                               .sign = (double)(ct)-1 < 0.0};                          \
  ops[WOP_##name##_M] = (opinfo_t){.fam = F_LOAD, .to = TY_##t, .bytes = n,     \
                                   .sign = (double)(ct)-1 < 0.0, .multi = 1};
  WH_LOADS(L)
#undef L
#define S(name, opc, t, n, ct, al)                                              \
  ops[WOP_##name] = (opinfo_t){.fam = F_STORE, .ti = TY_##t, .bytes = n};       \
  ops[WOP_##name##_M] = (opinfo_t){.fam = F_STORE, .ti = TY_##t, .bytes = n, .multi = 1};
  WH_STORES(S)
#undef S
#define FU(name, ct, cop, neg)                                                  \
  ops[WOP_BR_##name] = (opinfo_t){.fam = F_FUSED, .ti = sizeof(ct) == 4 ? TY_i32 : TY_i64, \
                                  .base = WOP_##name};                           \
  ops[WOP_BR_##name##_IMM] = (opinfo_t){.fam = F_FUSED,                         \
                                        .ti = sizeof(ct) == 4 ? TY_i32 : TY_i64,  \
                                        .imm = 1, .base = WOP_##name};
  WH_FUSED_CMPS(FU)
#undef FU
#define SI(name, sub, form, t, n)                                               \
  ops[WOP_V_##name] = (opinfo_t){.fam = F_SIMD, .sform = WH_SIMD_##form, .sn = n};
  WH_SIMD_OPS(SI)
#undef SI

  LLVMInitializeX86TargetInfo();
  LLVMInitializeX86Target();
  LLVMInitializeX86TargetMC();
  LLVMInitializeX86AsmPrinter();
  char *s = LLVMGetHostCPUName();
  snprintf(cpu_name, sizeof cpu_name, "%s", s);
  LLVMDisposeMessage(s);
  s = LLVMGetHostCPUFeatures();
  snprintf(cpu_features, sizeof cpu_features, "%s", s);
  LLVMDisposeMessage(s);
  s = LLVMGetDefaultTargetTriple();
  snprintf(target_triple, sizeof target_triple, "%s", s);
  LLVMDisposeMessage(s);
}

/* ---- the module being built -------------------------------------------- */

typedef struct jit {
  wh_module_t *m;
  LLVMContextRef C;
  LLVMModuleRef M;
  LLVMBuilderRef B;
  LLVMTypeRef t_void, t_i1, t_i8, t_i16, t_i32, t_i64, t_f32, t_f64, t_ptr;
  LLVMValueRef *fdir;       /* per def: the typed function */
  LLVMTypeRef *fdir_ty;
  LLVMValueRef ftab;        /* [ndefs x ptr] of fdir */
  LLVMValueRef defs;        /* the external wh_defs: the module's m->defs */
  unsigned k_tbaa, k_inv, k_prof;
  LLVMValueRef md_mem, md_rt, md_fuel, md_glob, md_empty, md_unlikely;
  LLVMValueRef md_round, md_except;   /* constrained FP operands */
  LLVMAttributeRef strictfp;
  const char *unsupported;  /* the op that made translate fail with WH_EUNSUPPORTED */
} jit_t;

/* Offsets baked into the code (see wh__native_layout_hash). */
#define OFF(type, field) ((uint64_t)offsetof(type, field))

/* Slots a function type's params and results take (a v128 takes two,
 * low half first, as in the interpreter's frames and wh_call's). */
#define NPS(ft) wh__native_slots((ft)->types, (ft)->nparams)
#define NRS(ft) wh__native_slots((ft)->types + (ft)->nparams, (ft)->nresults)

typedef struct fx {
  jit_t *j;
  const wh_func_def_t *d;
  LLVMValueRef fn;
  LLVMValueRef inst, ctx;
  LLVMValueRef *slot;
  uint32_t nslot;
  LLVMValueRef argbuf;
  LLVMBasicBlockRef *label;   /* per 4-byte code word; NULL if no target */
  LLVMBasicBlockRef trap_bb[WH__TRAP_COUNT];
  LLVMBasicBlockRef epoch_bb;
  LLVMValueRef fuelp, deadlinep, epochp, mem0, mem0_base;
  /* The frame count and value-stack base travel as arguments of the
   * typed functions (registers), not through ctx.  The count is `rec`,
   * the address of this frame's record (its wh_frame_t in ctx->frames):
   * ctx->frame_at - depth * sizeof(wh_frame_t), depth being the frames
   * left before this one counts, so "no frames left" is rec >= frame_at
   * and a callee's is rec1 = rec + one record.  ctx gets the depth
   * (depthp, depth_of) only before a helper call or a trap. */
  LLVMValueRef depthp, frame_at, rec, rec1;
  LLVMValueRef vbasep, vbase;
  bool metered;
} fx_t;

static LLVMValueRef c32(jit_t *j, uint64_t v) { return LLVMConstInt(j->t_i32, v, 0); }
static LLVMValueRef c64(jit_t *j, uint64_t v) { return LLVMConstInt(j->t_i64, v, 0); }

static LLVMTypeRef ty_of(jit_t *j, int t) {
  switch (t) {
  case TY_i32: return j->t_i32;
  case TY_i64: return j->t_i64;
  case TY_f32: return j->t_f32;
  default: return j->t_f64;
  }
}

static LLVMValueRef field_ptr(fx_t *f, LLVMValueRef p, uint64_t off) {
  jit_t *j = f->j;
  if (!off) return p;
  LLVMValueRef idx = c64(j, off);
  return LLVMBuildGEP2(j->B, j->t_i8, p, &idx, 1, "");
}

static LLVMValueRef load_tag(fx_t *f, LLVMTypeRef t, LLVMValueRef p, LLVMValueRef tag,
                             bool invariant) {
  jit_t *j = f->j;
  LLVMValueRef v = LLVMBuildLoad2(j->B, t, p, "");
  if (tag) LLVMSetMetadata(v, j->k_tbaa, tag);
  if (invariant) LLVMSetMetadata(v, j->k_inv, j->md_empty);
  return v;
}

/* A pointer field of a runtime struct fixed for the instance's life. */
static LLVMValueRef load_fixed(fx_t *f, LLVMValueRef p, uint64_t off) {
  return load_tag(f, f->j->t_ptr, field_ptr(f, p, off), f->j->md_rt, true);
}

/* Element i of a pointer array fixed for the instance's life. */
static LLVMValueRef load_fixed_elem(fx_t *f, LLVMValueRef arr, uint32_t i) {
  return load_fixed(f, arr, (uint64_t)i * 8);
}

/* ---- slots --------------------------------------------------------------- */

static LLVMValueRef slot_ptr(fx_t *f, int32_t off) {
  uint32_t i = (uint32_t)off / 8;
  return i < f->nslot ? f->slot[i] : f->slot[0];
}

static LLVMValueRef get64(fx_t *f, int32_t off) {
  return LLVMBuildLoad2(f->j->B, f->j->t_i64, slot_ptr(f, off), "");
}

static void put64(fx_t *f, int32_t off, LLVMValueRef v) {
  LLVMBuildStore(f->j->B, v, slot_ptr(f, off));
}

/* A 64-bit slot value as type t (the interpreter's RD_t). */
static LLVMValueRef from64(fx_t *f, LLVMValueRef v, int t) {
  jit_t *j = f->j;
  switch (t) {
  case TY_i32: return LLVMBuildTrunc(j->B, v, j->t_i32, "");
  case TY_i64: return v;
  case TY_f32: return LLVMBuildBitCast(j->B, LLVMBuildTrunc(j->B, v, j->t_i32, ""), j->t_f32, "");
  default: return LLVMBuildBitCast(j->B, v, j->t_f64, "");
  }
}

/* A value of type t as a 64-bit slot (WR_t: zero-extended). */
static LLVMValueRef to64(fx_t *f, LLVMValueRef v, int t) {
  jit_t *j = f->j;
  switch (t) {
  case TY_i32: return LLVMBuildZExt(j->B, v, j->t_i64, "");
  case TY_i64: return v;
  case TY_f32: return LLVMBuildZExt(j->B, LLVMBuildBitCast(j->B, v, j->t_i32, ""), j->t_i64, "");
  default: return LLVMBuildBitCast(j->B, v, j->t_i64, "");
  }
}

static LLVMValueRef rd(fx_t *f, int32_t off, int t) { return from64(f, get64(f, off), t); }
static void wr(fx_t *f, int32_t off, int t, LLVMValueRef v) { put64(f, off, to64(f, v, t)); }

/* ---- control ------------------------------------------------------------- */

static LLVMBasicBlockRef new_bb(fx_t *f) {
  return LLVMAppendBasicBlockInContext(f->j->C, f->fn, "");
}

static bool terminated(fx_t *f) {
  return LLVMGetBasicBlockTerminator(LLVMGetInsertBlock(f->j->B)) != NULL;
}

static LLVMTypeRef helper_ty(jit_t *j, int h) {
  LLVMTypeRef p = j->t_ptr, i = j->t_i32, l = j->t_i64;
  switch (h) {
  case WH_RT_TRAP: { LLVMTypeRef a[] = {p, i}; return LLVMFunctionType(j->t_void, a, 2, 0); }
  case WH_RT_EPOCH: { LLVMTypeRef a[] = {p}; return LLVMFunctionType(j->t_void, a, 1, 0); }
  case WH_RT_CALL: { LLVMTypeRef a[] = {p, p, p, p}; return LLVMFunctionType(j->t_void, a, 4, 0); }
  case WH_RT_MEMORY_GROW: { LLVMTypeRef a[] = {p, p, i, i}; return LLVMFunctionType(i, a, 4, 0); }
  case WH_RT_MEMORY_FILL: { LLVMTypeRef a[] = {p, p, i, i, i, i}; return LLVMFunctionType(j->t_void, a, 6, 0); }
  case WH_RT_MEMORY_COPY:
  case WH_RT_MEMORY_INIT:
  case WH_RT_TABLE_COPY:
  case WH_RT_TABLE_INIT: { LLVMTypeRef a[] = {p, p, i, i, i, i, i}; return LLVMFunctionType(j->t_void, a, 7, 0); }
  case WH_RT_TABLE_GET: { LLVMTypeRef a[] = {p, p, i, i}; return LLVMFunctionType(l, a, 4, 0); }
  case WH_RT_TABLE_SET: { LLVMTypeRef a[] = {p, p, i, i, l}; return LLVMFunctionType(j->t_void, a, 5, 0); }
  case WH_RT_TABLE_SIZE: { LLVMTypeRef a[] = {p, p, i}; return LLVMFunctionType(i, a, 3, 0); }
  case WH_RT_TABLE_GROW: { LLVMTypeRef a[] = {p, p, i, l, i}; return LLVMFunctionType(i, a, 5, 0); }
  case WH_RT_TABLE_FILL: { LLVMTypeRef a[] = {p, p, i, i, l, i}; return LLVMFunctionType(j->t_void, a, 6, 0); }
  default: { LLVMTypeRef a[] = {p, p, i}; return LLVMFunctionType(j->t_void, a, 3, 0); } /* ELEM_DROP */
  }
}

/* The depth (frames left) a frame whose record is at `rec` was entered
 * with: what ctx->depth says to C. */
static LLVMValueRef depth_of(fx_t *f, LLVMValueRef rec) {
  jit_t *j = f->j;
  return LLVMBuildExactSDiv(j->B, LLVMBuildSub(j->B, f->frame_at, rec, ""),
                            c64(j, sizeof(wh_frame_t)), "");
}

/* rec->def = &module->defs[di]: this frame's record, for backtraces.
 * Only a trap or a callee reads the records, so rather than once at
 * entry it is written before every call and every helper call (trap
 * blocks call one): a path that does neither, e.g. a leaf's early
 * return, pays nothing.  The module's defs are the external symbol
 * wh_defs, which the loader binds to this module's m->defs
 * (native_load.c): one RIP-relative load, no chain through inst. */
static void frame_record(fx_t *f) {
  jit_t *j = f->j;
  LLVMBuilderRef B = j->B;
  LLVMValueRef slot = LLVMBuildIntToPtr(B, f->rec, j->t_ptr, "");
  LLVMValueRef def = field_ptr(f, j->defs, (uint64_t)(f->d - j->m->defs) * sizeof(wh_func_def_t));
  LLVMValueRef fs = LLVMBuildStore(B, def, field_ptr(f, slot, OFF(wh_frame_t, def)));
  LLVMSetMetadata(fs, j->k_tbaa, j->md_rt);
}

/* Every helper may trap (or call on, WH_RT_CALL), and the runtime reads
 * the frame count from ctx: store this frame's, and its record.  (Not
 * for the entry's stack check, which traps before the frame counts.) */
static LLVMValueRef call_rt(fx_t *f, int h, LLVMValueRef *args, unsigned n) {
  jit_t *j = f->j;
  if (f->rec1) {
    LLVMValueRef st = LLVMBuildStore(j->B, depth_of(f, f->rec1), f->depthp);
    LLVMSetMetadata(st, j->k_tbaa, j->md_rt);
    frame_record(f);
  }
  /* ctx->rt loaded here, not at entry, so it stays on the (cold) paths
   * that call helpers; it is invariant, LLVM hoists it where it pays */
  LLVMValueRef rt = load_fixed(f, f->ctx, OFF(wh_native_ctx_t, rt));
  LLVMValueRef fp = load_tag(f, j->t_ptr, field_ptr(f, rt, (uint64_t)h * 8), j->md_rt, true);
  return LLVMBuildCall2(j->B, helper_ty(j, h), fp, args, n, "");
}

static LLVMBasicBlockRef trap_block(fx_t *f, wh_trap_code_t code) {
  if (f->trap_bb[code]) return f->trap_bb[code];
  jit_t *j = f->j;
  LLVMBasicBlockRef cur = LLVMGetInsertBlock(j->B);
  LLVMBasicBlockRef bb = new_bb(f);
  LLVMPositionBuilderAtEnd(j->B, bb);
  LLVMValueRef a[] = {f->ctx, c32(j, code)};
  call_rt(f, WH_RT_TRAP, a, 2);
  LLVMBuildUnreachable(j->B);
  LLVMPositionBuilderAtEnd(j->B, cur);
  return f->trap_bb[code] = bb;
}

/* Branches to `bb` (cold) when cond holds; continues in a new block. */
static void cold_if(fx_t *f, LLVMValueRef cond, LLVMBasicBlockRef bb) {
  jit_t *j = f->j;
  LLVMBasicBlockRef cont = new_bb(f);
  LLVMValueRef br = LLVMBuildCondBr(j->B, cond, bb, cont);
  LLVMSetMetadata(br, j->k_prof, j->md_unlikely);
  LLVMPositionBuilderAtEnd(j->B, cont);
}

static void trap_if(fx_t *f, LLVMValueRef cond, wh_trap_code_t code) {
  cold_if(f, cond, trap_block(f, code));
}

static LLVMValueRef intrinsic(fx_t *f, const char *name, LLVMTypeRef *tys, unsigned ntys,
                              LLVMValueRef *args, unsigned nargs) {
  jit_t *j = f->j;
  unsigned id = LLVMLookupIntrinsicID(name, strlen(name));
  LLVMValueRef fn = LLVMGetIntrinsicDeclaration(j->M, id, tys, ntys);
  LLVMTypeRef fty = LLVMIntrinsicGetType(j->C, id, tys, ntys);
  return LLVMBuildCall2(j->B, fty, fn, args, nargs, "");
}

/* Arithmetic that may see a signalling NaN: LLVM folds x*1, x-0, x/1,
 * fptrunc(fpext x) ... to x, which would pass an sNaN through where the
 * hardware (and the interpreter) quiets it.  The constrained forms with
 * "fpexcept.maytrap" are never folded that way. */
static LLVMValueRef fp_strict(fx_t *f, const char *op, LLVMTypeRef rt, LLVMTypeRef at,
                              LLVMValueRef a, LLVMValueRef b) {
  jit_t *j = f->j;
  char name[64];
  snprintf(name, sizeof name, "llvm.experimental.constrained.%s", op);
  LLVMValueRef args[4];
  unsigned n = 0;
  args[n++] = a;
  if (b) args[n++] = b;
  bool ext = strcmp(op, "fpext") == 0;
  if (!ext) args[n++] = j->md_round;
  args[n++] = j->md_except;
  LLVMTypeRef tys[2] = {rt, at};
  LLVMValueRef r = intrinsic(f, name, tys, b ? 1 : 2, args, n);
  LLVMAddCallSiteAttribute(r, LLVMAttributeFunctionIndex, j->strictfp);
  return r;
}

/* ---- fuel, deadlines, stack ------------------------------------------------ */

static void emit_epoch_check(fx_t *f) {
  jit_t *j = f->j;
  LLVMValueRef e = LLVMBuildLoad2(j->B, j->t_i64, f->epochp, "");
  LLVMSetOrdering(e, LLVMAtomicOrderingMonotonic);
  LLVMSetAlignment(e, 8);
  LLVMValueRef d = LLVMBuildLoad2(j->B, j->t_i64, f->deadlinep, "");
  LLVMSetOrdering(d, LLVMAtomicOrderingMonotonic);
  LLVMSetAlignment(d, 8);
  if (!f->epoch_bb) {
    LLVMBasicBlockRef cur = LLVMGetInsertBlock(j->B);
    f->epoch_bb = new_bb(f);
    LLVMPositionBuilderAtEnd(j->B, f->epoch_bb);
    call_rt(f, WH_RT_EPOCH, &f->ctx, 1);
    LLVMBuildUnreachable(j->B);
    LLVMPositionBuilderAtEnd(j->B, cur);
  }
  cold_if(f, LLVMBuildICmp(j->B, LLVMIntUGE, e, d, ""), f->epoch_bb);
}

/* The interpreter's FUEL: fuel -= k; if (fuel < 0) { fuel += k; trap; } */
static void emit_fuel(fx_t *f, uint32_t k) {
  jit_t *j = f->j;
  if (!f->metered || k == 0) return;
  LLVMValueRef v = load_tag(f, j->t_i64, f->fuelp, j->md_fuel, false);
  LLVMValueRef nv = LLVMBuildSub(j->B, v, c64(j, k), "");
  trap_if(f, LLVMBuildICmp(j->B, LLVMIntSLT, nv, c64(j, 0), ""), WH_TRAP_OUT_OF_FUEL);
  LLVMValueRef st = LLVMBuildStore(j->B, nv, f->fuelp);
  LLVMSetMetadata(st, j->k_tbaa, j->md_fuel);
}

/* ---- memory ---------------------------------------------------------------- */

/* The address of `bytes` bytes at i32 slot `a` + offset k in memory
 * `mi`, bounds checked. */
static LLVMValueRef mem_addr(fx_t *f, int32_t a, uint32_t k, uint32_t mi, unsigned bytes) {
  jit_t *j = f->j;
  LLVMValueRef memp, base;
  if (mi == 0) {
    memp = f->mem0;
    base = f->mem0_base;
  } else {
    memp = load_fixed_elem(f, load_fixed(f, f->inst, OFF(wh_instance_t, mems)), mi);
    base = load_fixed(f, memp, OFF(wh_memory_t, base));
  }
  LLVMValueRef size = load_tag(f, j->t_i64, field_ptr(f, memp, OFF(wh_memory_t, size)), j->md_rt, false);
  LLVMValueRef ea = LLVMBuildZExt(j->B, rd(f, a, TY_i32), j->t_i64, "");
  /* (no wrap: both < 2^32; the flags let LLVM drop a check that a
   * dominating one on the same address with a larger end implies) */
  if (k) ea = LLVMBuildNUWAdd(j->B, ea, c64(j, k), "");
  if (k) LLVMSetNSW(ea, 1);
  /* ea + bytes > size as ea > size - bytes, signed (ea < 2^33, so
   * neither side wraps; size < bytes makes the right side negative):
   * size - bytes is loop-invariant wherever size is, so an access at
   * offset 0 costs one compare, not an add and a compare */
  LLVMValueRef lim = LLVMBuildSub(j->B, size, c64(j, bytes), "");
  trap_if(f, LLVMBuildICmp(j->B, LLVMIntSGT, ea, lim, ""), WH_TRAP_MEM_OOB);
  return LLVMBuildGEP2(j->B, j->t_i8, base, &ea, 1, "");
}

static LLVMValueRef mem_size(fx_t *f, uint32_t mi) {
  jit_t *j = f->j;
  LLVMValueRef memp = mi == 0 ? f->mem0
      : load_fixed_elem(f, load_fixed(f, f->inst, OFF(wh_instance_t, mems)), mi);
  return load_tag(f, j->t_i64, field_ptr(f, memp, OFF(wh_memory_t, size)), j->md_rt, false);
}

static void emit_load(fx_t *f, const opinfo_t *oi, const int32_t *w) {
  jit_t *j = f->j;
  uint32_t mi = oi->multi ? (uint32_t)w[3] : 0;
  LLVMValueRef p = mem_addr(f, w[1], (uint32_t)w[2], mi, oi->bytes);
  LLVMTypeRef mt = LLVMIntTypeInContext(j->C, oi->bytes * 8);
  LLVMValueRef v = LLVMBuildLoad2(j->B, mt, p, "");
  LLVMSetAlignment(v, 1);
  LLVMSetMetadata(v, j->k_tbaa, j->md_mem);
  /* widen through the result type (LW_t), then to 64 bits unsigned */
  LLVMTypeRef wt = (oi->to == TY_i64 || oi->to == TY_f64) ? j->t_i64 : j->t_i32;
  if (oi->bytes * 8 < LLVMGetIntTypeWidth(wt))
    v = oi->sign ? LLVMBuildSExt(j->B, v, wt, "") : LLVMBuildZExt(j->B, v, wt, "");
  if (wt == j->t_i32) v = LLVMBuildZExt(j->B, v, j->t_i64, "");
  put64(f, w[0], v);
}

static void emit_store(fx_t *f, const opinfo_t *oi, const int32_t *w) {
  jit_t *j = f->j;
  uint32_t mi = oi->multi ? (uint32_t)w[3] : 0;
  LLVMValueRef p = mem_addr(f, w[0], (uint32_t)w[2], mi, oi->bytes);
  LLVMValueRef v = get64(f, w[1]);
  if (oi->bytes < 8) v = LLVMBuildTrunc(j->B, v, LLVMIntTypeInContext(j->C, oi->bytes * 8), "");
  LLVMValueRef st = LLVMBuildStore(j->B, v, p);
  LLVMSetAlignment(st, 1);
  LLVMSetMetadata(st, j->k_tbaa, j->md_mem);
}

/* ---- numeric operators ------------------------------------------------------ */

static LLVMValueRef bool32(fx_t *f, LLVMValueRef c) {
  return LLVMBuildZExt(f->j->B, c, f->j->t_i32, "");
}

static LLVMValueRef imm_of(fx_t *f, int t, int32_t w) {
  jit_t *j = f->j;
  switch (t) {
  case TY_i32: return c32(j, (uint32_t)w);
  case TY_i64: return c64(j, (uint64_t)(int64_t)w);
  case TY_f32: return LLVMBuildBitCast(j->B, c32(j, (uint32_t)w), j->t_f32, "");
  default:
    return LLVMBuildFPExt(j->B, LLVMBuildBitCast(j->B, c32(j, (uint32_t)w), j->t_f32, ""),
                          j->t_f64, "");
  }
}

/* The integer type (or vector of them) as wide as float type ft. */
static LLVMTypeRef int_like(jit_t *j, LLVMTypeRef ft) {
  if (LLVMGetTypeKind(ft) == LLVMVectorTypeKind)
    return LLVMVectorType(int_like(j, LLVMGetElementType(ft)), LLVMGetVectorSize(ft));
  return LLVMGetTypeKind(ft) == LLVMFloatTypeKind ? j->t_i32 : j->t_i64;
}

/* min/max exactly as the interpreter: NaN if either is (a + b), -0 < +0;
 * scalars or vectors (lane by lane, the same tests) */
static LLVMValueRef fminmax(fx_t *f, LLVMValueRef a, LLVMValueRef b, bool max) {
  jit_t *j = f->j;
  LLVMBuilderRef B = j->B;
  LLVMTypeRef it = int_like(j, LLVMTypeOf(a));
  LLVMValueRef uno = LLVMBuildFCmp(B, LLVMRealUNO, a, b, "");
  LLVMValueRef sum = fp_strict(f, "fadd", LLVMTypeOf(a), NULL, a, b);
  LLVMValueRef eq = LLVMBuildFCmp(B, LLVMRealOEQ, a, b, "");
  LLVMValueRef neg = LLVMBuildICmp(B, LLVMIntSLT, LLVMBuildBitCast(B, a, it, ""),
                                   LLVMConstNull(it), "");
  LLVMValueRef eqr = max ? LLVMBuildSelect(B, neg, b, a, "") : LLVMBuildSelect(B, neg, a, b, "");
  LLVMValueRef lt = LLVMBuildFCmp(B, max ? LLVMRealOGT : LLVMRealOLT, a, b, "");
  LLVMValueRef ltr = LLVMBuildSelect(B, lt, a, b, "");
  return LLVMBuildSelect(B, uno, sum, LLVMBuildSelect(B, eq, eqr, ltr, ""), "");
}

static LLVMValueRef int_cmp(fx_t *f, int op, LLVMValueRef a, LLVMValueRef b) {
  LLVMIntPredicate p;
  switch (op) {
  case WOP_I32_EQ: case WOP_I64_EQ: p = LLVMIntEQ; break;
  case WOP_I32_NE: case WOP_I64_NE: p = LLVMIntNE; break;
  case WOP_I32_LT_S: case WOP_I64_LT_S: p = LLVMIntSLT; break;
  case WOP_I32_LT_U: case WOP_I64_LT_U: p = LLVMIntULT; break;
  case WOP_I32_GT_S: case WOP_I64_GT_S: p = LLVMIntSGT; break;
  case WOP_I32_GT_U: case WOP_I64_GT_U: p = LLVMIntUGT; break;
  case WOP_I32_LE_S: case WOP_I64_LE_S: p = LLVMIntSLE; break;
  case WOP_I32_LE_U: case WOP_I64_LE_U: p = LLVMIntULE; break;
  case WOP_I32_GE_S: case WOP_I64_GE_S: p = LLVMIntSGE; break;
  default: p = LLVMIntUGE; break;
  }
  return LLVMBuildICmp(f->j->B, p, a, b, "");
}

static LLVMValueRef emit_binop(fx_t *f, int op, int t, LLVMValueRef a, LLVMValueRef b) {
  jit_t *j = f->j;
  LLVMBuilderRef B = j->B;
  LLVMTypeRef ty = ty_of(j, t);
  unsigned bits = (t == TY_i32 || t == TY_f32) ? 32 : 64;
  switch (op) {
  case WOP_I32_EQ: case WOP_I32_NE: case WOP_I32_LT_S: case WOP_I32_LT_U:
  case WOP_I32_GT_S: case WOP_I32_GT_U: case WOP_I32_LE_S: case WOP_I32_LE_U:
  case WOP_I32_GE_S: case WOP_I32_GE_U:
  case WOP_I64_EQ: case WOP_I64_NE: case WOP_I64_LT_S: case WOP_I64_LT_U:
  case WOP_I64_GT_S: case WOP_I64_GT_U: case WOP_I64_LE_S: case WOP_I64_LE_U:
  case WOP_I64_GE_S: case WOP_I64_GE_U:
    return bool32(f, int_cmp(f, op, a, b));
  case WOP_F32_EQ: case WOP_F64_EQ: return bool32(f, LLVMBuildFCmp(B, LLVMRealOEQ, a, b, ""));
  case WOP_F32_NE: case WOP_F64_NE: return bool32(f, LLVMBuildFCmp(B, LLVMRealUNE, a, b, ""));
  case WOP_F32_LT: case WOP_F64_LT: return bool32(f, LLVMBuildFCmp(B, LLVMRealOLT, a, b, ""));
  case WOP_F32_GT: case WOP_F64_GT: return bool32(f, LLVMBuildFCmp(B, LLVMRealOGT, a, b, ""));
  case WOP_F32_LE: case WOP_F64_LE: return bool32(f, LLVMBuildFCmp(B, LLVMRealOLE, a, b, ""));
  case WOP_F32_GE: case WOP_F64_GE: return bool32(f, LLVMBuildFCmp(B, LLVMRealOGE, a, b, ""));
  case WOP_I32_ADD: case WOP_I64_ADD: return LLVMBuildAdd(B, a, b, "");
  case WOP_I32_SUB: case WOP_I64_SUB: return LLVMBuildSub(B, a, b, "");
  case WOP_I32_MUL: case WOP_I64_MUL: return LLVMBuildMul(B, a, b, "");
  case WOP_I32_AND: case WOP_I64_AND: return LLVMBuildAnd(B, a, b, "");
  case WOP_I32_OR: case WOP_I64_OR: return LLVMBuildOr(B, a, b, "");
  case WOP_I32_XOR: case WOP_I64_XOR: return LLVMBuildXor(B, a, b, "");
  case WOP_I32_SHL: case WOP_I64_SHL:
    return LLVMBuildShl(B, a, LLVMBuildAnd(B, b, LLVMConstInt(ty, bits - 1, 0), ""), "");
  case WOP_I32_SHR_S: case WOP_I64_SHR_S:
    return LLVMBuildAShr(B, a, LLVMBuildAnd(B, b, LLVMConstInt(ty, bits - 1, 0), ""), "");
  case WOP_I32_SHR_U: case WOP_I64_SHR_U:
    return LLVMBuildLShr(B, a, LLVMBuildAnd(B, b, LLVMConstInt(ty, bits - 1, 0), ""), "");
  case WOP_I32_ROTL: case WOP_I64_ROTL: {
    LLVMValueRef args[] = {a, a, b};
    return intrinsic(f, "llvm.fshl", &ty, 1, args, 3);
  }
  case WOP_I32_ROTR: case WOP_I64_ROTR: {
    LLVMValueRef args[] = {a, a, b};
    return intrinsic(f, "llvm.fshr", &ty, 1, args, 3);
  }
  case WOP_F32_ADD: case WOP_F64_ADD: return fp_strict(f, "fadd", ty, NULL, a, b);
  case WOP_F32_SUB: case WOP_F64_SUB: return fp_strict(f, "fsub", ty, NULL, a, b);
  case WOP_F32_MUL: case WOP_F64_MUL: return fp_strict(f, "fmul", ty, NULL, a, b);
  case WOP_F32_DIV: case WOP_F64_DIV: return fp_strict(f, "fdiv", ty, NULL, a, b);
  case WOP_F32_MIN: case WOP_F64_MIN: return fminmax(f, a, b, false);
  case WOP_F32_MAX: case WOP_F64_MAX: return fminmax(f, a, b, true);
  case WOP_F32_COPYSIGN: case WOP_F64_COPYSIGN: {
    LLVMTypeRef it = t == TY_f32 ? j->t_i32 : j->t_i64;
    LLVMValueRef sign = LLVMConstInt(it, 1ull << (bits - 1), 0);
    LLVMValueRef ai = LLVMBuildBitCast(B, a, it, ""), bi = LLVMBuildBitCast(B, b, it, "");
    LLVMValueRef r = LLVMBuildOr(B, LLVMBuildAnd(B, ai, LLVMBuildNot(B, sign, ""), ""),
                                 LLVMBuildAnd(B, bi, sign, ""), "");
    return LLVMBuildBitCast(B, r, ty, "");
  }
  case WOP_I32_DIV_S: case WOP_I64_DIV_S: {
    LLVMValueRef zero = LLVMConstInt(ty, 0, 0);
    trap_if(f, LLVMBuildICmp(B, LLVMIntEQ, b, zero, ""), WH_TRAP_DIV_ZERO);
    LLVMValueRef min = LLVMConstInt(ty, 1ull << (bits - 1), 0);
    LLVMValueRef ovf = LLVMBuildAnd(B, LLVMBuildICmp(B, LLVMIntEQ, a, min, ""),
                                    LLVMBuildICmp(B, LLVMIntEQ, b, LLVMConstAllOnes(ty), ""), "");
    trap_if(f, ovf, WH_TRAP_INT_OVERFLOW);
    return LLVMBuildSDiv(B, a, b, "");
  }
  case WOP_I32_DIV_U: case WOP_I64_DIV_U:
    trap_if(f, LLVMBuildICmp(B, LLVMIntEQ, b, LLVMConstInt(ty, 0, 0), ""), WH_TRAP_DIV_ZERO);
    return LLVMBuildUDiv(B, a, b, "");
  case WOP_I32_REM_S: case WOP_I64_REM_S: {
    trap_if(f, LLVMBuildICmp(B, LLVMIntEQ, b, LLVMConstInt(ty, 0, 0), ""), WH_TRAP_DIV_ZERO);
    /* x % -1 is 0, as is x % 1: divide by 1 instead (INT_MIN % -1 faults) */
    LLVMValueRef m1 = LLVMBuildICmp(B, LLVMIntEQ, b, LLVMConstAllOnes(ty), "");
    LLVMValueRef bb = LLVMBuildSelect(B, m1, LLVMConstInt(ty, 1, 0), b, "");
    return LLVMBuildSRem(B, a, bb, "");
  }
  case WOP_I32_REM_U: case WOP_I64_REM_U:
    trap_if(f, LLVMBuildICmp(B, LLVMIntEQ, b, LLVMConstInt(ty, 0, 0), ""), WH_TRAP_DIV_ZERO);
    return LLVMBuildURem(B, a, b, "");
  default: return NULL;
  }
}

/* float -> int with the interpreter's range tests: lo (inclusive or not)
 * and hi (exclusive); NaN is "invalid conversion". */
static LLVMValueRef trunc_checked(fx_t *f, LLVMValueRef a, int ti, int to, bool sign, double lo,
                                  bool lo_incl, double hi) {
  jit_t *j = f->j;
  LLVMBuilderRef B = j->B;
  LLVMTypeRef ft = ty_of(j, ti);
  trap_if(f, LLVMBuildFCmp(B, LLVMRealUNO, a, a, ""), WH_TRAP_BAD_CONVERSION);
  LLVMValueRef ok_lo = LLVMBuildFCmp(B, lo_incl ? LLVMRealOGE : LLVMRealOGT, a,
                                     LLVMConstReal(ft, lo), "");
  LLVMValueRef ok_hi = LLVMBuildFCmp(B, LLVMRealOLT, a, LLVMConstReal(ft, hi), "");
  trap_if(f, LLVMBuildNot(B, LLVMBuildAnd(B, ok_lo, ok_hi, ""), ""), WH_TRAP_INT_OVERFLOW);
  return sign ? LLVMBuildFPToSI(B, a, ty_of(j, to), "") : LLVMBuildFPToUI(B, a, ty_of(j, to), "");
}

static LLVMValueRef emit_unop(fx_t *f, int op, int ti, int to, LLVMValueRef a) {
  jit_t *j = f->j;
  LLVMBuilderRef B = j->B;
  LLVMTypeRef tt = ty_of(j, ti), rt = ty_of(j, to);
  switch (op) {
  case WOP_I32_EQZ: case WOP_I64_EQZ:
    return bool32(f, LLVMBuildICmp(B, LLVMIntEQ, a, LLVMConstInt(tt, 0, 0), ""));
  case WOP_I32_CLZ: case WOP_I64_CLZ: {
    LLVMValueRef args[] = {a, LLVMConstInt(j->t_i1, 0, 0)};
    return intrinsic(f, "llvm.ctlz", &tt, 1, args, 2);
  }
  case WOP_I32_CTZ: case WOP_I64_CTZ: {
    LLVMValueRef args[] = {a, LLVMConstInt(j->t_i1, 0, 0)};
    return intrinsic(f, "llvm.cttz", &tt, 1, args, 2);
  }
  case WOP_I32_POPCNT: case WOP_I64_POPCNT: return intrinsic(f, "llvm.ctpop", &tt, 1, &a, 1);
  case WOP_F32_ABS: case WOP_F64_ABS: case WOP_F32_NEG: case WOP_F64_NEG: {
    /* bit operations: a NaN's payload is untouched */
    LLVMTypeRef it = ti == TY_f32 ? j->t_i32 : j->t_i64;
    unsigned bits = ti == TY_f32 ? 32 : 64;
    LLVMValueRef sign = LLVMConstInt(it, 1ull << (bits - 1), 0);
    LLVMValueRef ai = LLVMBuildBitCast(B, a, it, "");
    LLVMValueRef r = (op == WOP_F32_ABS || op == WOP_F64_ABS)
        ? LLVMBuildAnd(B, ai, LLVMBuildNot(B, sign, ""), "") : LLVMBuildXor(B, ai, sign, "");
    return LLVMBuildBitCast(B, r, tt, "");
  }
  case WOP_F32_CEIL: case WOP_F64_CEIL: return intrinsic(f, "llvm.ceil", &tt, 1, &a, 1);
  case WOP_F32_FLOOR: case WOP_F64_FLOOR: return intrinsic(f, "llvm.floor", &tt, 1, &a, 1);
  case WOP_F32_TRUNC: case WOP_F64_TRUNC: return intrinsic(f, "llvm.trunc", &tt, 1, &a, 1);
  case WOP_F32_NEAREST: case WOP_F64_NEAREST: return intrinsic(f, "llvm.nearbyint", &tt, 1, &a, 1);
  case WOP_F32_SQRT: case WOP_F64_SQRT: return intrinsic(f, "llvm.sqrt", &tt, 1, &a, 1);
  case WOP_I32_WRAP_I64: return LLVMBuildTrunc(B, a, j->t_i32, "");
  case WOP_I32_TRUNC_F32_S: return trunc_checked(f, a, ti, to, true, -2147483648.0, true, 2147483648.0);
  case WOP_I32_TRUNC_F32_U: return trunc_checked(f, a, ti, to, false, -1.0, false, 4294967296.0);
  case WOP_I32_TRUNC_F64_S: return trunc_checked(f, a, ti, to, true, -2147483649.0, false, 2147483648.0);
  case WOP_I32_TRUNC_F64_U: return trunc_checked(f, a, ti, to, false, -1.0, false, 4294967296.0);
  case WOP_I64_TRUNC_F32_S:
  case WOP_I64_TRUNC_F64_S:
    return trunc_checked(f, a, ti, to, true, -9223372036854775808.0, true, 9223372036854775808.0);
  case WOP_I64_TRUNC_F32_U:
  case WOP_I64_TRUNC_F64_U:
    return trunc_checked(f, a, ti, to, false, -1.0, false, 18446744073709551616.0);
  case WOP_I64_EXTEND_I32_S: return LLVMBuildSExt(B, a, j->t_i64, "");
  case WOP_I64_EXTEND_I32_U: return LLVMBuildZExt(B, a, j->t_i64, "");
  case WOP_F32_CONVERT_I32_S: case WOP_F32_CONVERT_I64_S:
  case WOP_F64_CONVERT_I32_S: case WOP_F64_CONVERT_I64_S:
    return LLVMBuildSIToFP(B, a, rt, "");
  case WOP_F32_CONVERT_I32_U: case WOP_F32_CONVERT_I64_U:
  case WOP_F64_CONVERT_I32_U: case WOP_F64_CONVERT_I64_U:
    return LLVMBuildUIToFP(B, a, rt, "");
  case WOP_F32_DEMOTE_F64: return fp_strict(f, "fptrunc", j->t_f32, j->t_f64, a, NULL);
  case WOP_F64_PROMOTE_F32: return fp_strict(f, "fpext", j->t_f64, j->t_f32, a, NULL);
  case WOP_I32_EXTEND8_S: case WOP_I64_EXTEND8_S:
    return LLVMBuildSExt(B, LLVMBuildTrunc(B, a, j->t_i8, ""), tt, "");
  case WOP_I32_EXTEND16_S: case WOP_I64_EXTEND16_S:
    return LLVMBuildSExt(B, LLVMBuildTrunc(B, a, LLVMInt16TypeInContext(j->C), ""), tt, "");
  case WOP_I64_EXTEND32_S: return LLVMBuildSExt(B, LLVMBuildTrunc(B, a, j->t_i32, ""), tt, "");
  case WOP_I32_TRUNC_SAT_F32_S: case WOP_I32_TRUNC_SAT_F64_S:
  case WOP_I64_TRUNC_SAT_F32_S: case WOP_I64_TRUNC_SAT_F64_S: {
    LLVMTypeRef tys[] = {rt, tt};
    return intrinsic(f, "llvm.fptosi.sat", tys, 2, &a, 1);
  }
  case WOP_I32_TRUNC_SAT_F32_U: case WOP_I32_TRUNC_SAT_F64_U:
  case WOP_I64_TRUNC_SAT_F32_U: case WOP_I64_TRUNC_SAT_F64_U: {
    LLVMTypeRef tys[] = {rt, tt};
    return intrinsic(f, "llvm.fptoui.sat", tys, 2, &a, 1);
  }
  default: return NULL;
  }
}

/* ---- SIMD ------------------------------------------------------------------ */

/* A v128 is two i64 slots, low half first (the interpreter's layout, so
 * calls, globals and the host see the same bits).  An op reads the pair
 * as <2 x i64>, bitcasts it to its lane shape, computes on LLVM vectors
 * and writes the pair back; SROA keeps it all in registers.  Each op
 * gives the interpreter's lanes (simd_lanes.h) bit for bit: float
 * arithmetic uses the strict forms as the scalar ops do, min/max and
 * the rounding ops share the scalar code's tests. */

enum { VS_I8, VS_I16, VS_I32, VS_I64, VS_F32, VS_F64 };

static const unsigned vs_lanes[] = {16, 8, 4, 2, 4, 2};

static LLVMTypeRef lane_ty(jit_t *j, int s) {
  switch (s) {
  case VS_I8: return j->t_i8;
  case VS_I16: return j->t_i16;
  case VS_I32: return j->t_i32;
  case VS_I64: return j->t_i64;
  case VS_F32: return j->t_f32;
  default: return j->t_f64;
  }
}

static LLVMTypeRef vec_ty(jit_t *j, int s) { return LLVMVectorType(lane_ty(j, s), vs_lanes[s]); }

/* The integer shape of n lanes (16, 8, 4, 2). */
static int shape_of_lanes(unsigned n) {
  return n == 16 ? VS_I8 : n == 8 ? VS_I16 : n == 4 ? VS_I32 : VS_I64;
}

static LLVMValueRef vget(fx_t *f, int32_t off, int s) {
  jit_t *j = f->j;
  LLVMValueRef v = LLVMGetPoison(vec_ty(j, VS_I64));
  v = LLVMBuildInsertElement(j->B, v, get64(f, off), c32(j, 0), "");
  v = LLVMBuildInsertElement(j->B, v, get64(f, off + 8), c32(j, 1), "");
  return s == VS_I64 ? v : LLVMBuildBitCast(j->B, v, vec_ty(j, s), "");
}

static void vput(fx_t *f, int32_t off, LLVMValueRef v) {
  jit_t *j = f->j;
  v = LLVMBuildBitCast(j->B, v, vec_ty(j, VS_I64), "");
  put64(f, off, LLVMBuildExtractElement(j->B, v, c32(j, 0), ""));
  put64(f, off + 8, LLVMBuildExtractElement(j->B, v, c32(j, 1), ""));
}

/* A splat constant of shape s (integer lanes). */
static LLVMValueRef vconst(jit_t *j, int s, uint64_t v) {
  LLVMValueRef e[16];
  for (unsigned i = 0; i < vs_lanes[s]; i++) e[i] = LLVMConstInt(lane_ty(j, s), v, 0);
  return LLVMConstVector(e, vs_lanes[s]);
}

/* shufflevector(a, b) with the n constant lane indices idx. */
static LLVMValueRef vshuf(fx_t *f, LLVMValueRef a, LLVMValueRef b, const unsigned *idx, unsigned n) {
  jit_t *j = f->j;
  LLVMValueRef m[32];
  for (unsigned i = 0; i < n; i++) m[i] = c32(j, idx[i]);
  return LLVMBuildShuffleVector(j->B, a, b ? b : LLVMGetPoison(LLVMTypeOf(a)), LLVMConstVector(m, n), "");
}

/* Lanes first, first + step, ... (n of them) of v. */
static LLVMValueRef vpick(fx_t *f, LLVMValueRef v, unsigned first, unsigned step, unsigned n) {
  unsigned idx[16] = {0};
  for (unsigned i = 0; i < n; i++) idx[i] = first + step * i;
  return vshuf(f, v, NULL, idx, n);
}

static LLVMValueRef vsplat(fx_t *f, LLVMValueRef x, int s) {
  jit_t *j = f->j;
  LLVMValueRef v = LLVMBuildInsertElement(j->B, LLVMGetPoison(vec_ty(j, s)), x, c32(j, 0), "");
  unsigned idx[16] = {0};
  return vshuf(f, v, NULL, idx, vs_lanes[s]);
}

/* The low (hi = 0) or high half of integer vector v of shape s, each lane
 * sign- or zero-extended to twice its width: shape s + 1. */
static LLVMValueRef vwiden(fx_t *f, LLVMValueRef v, int s, bool hi, bool sign) {
  jit_t *j = f->j;
  unsigned n = vs_lanes[s] / 2;
  LLVMValueRef h = vpick(f, v, hi ? n : 0, 1, n);
  return sign ? LLVMBuildSExt(j->B, h, vec_ty(j, s + 1), "") : LLVMBuildZExt(j->B, h, vec_ty(j, s + 1), "");
}

static LLVMValueRef vintr(fx_t *f, const char *name, LLVMValueRef a, LLVMValueRef b) {
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef args[] = {a, b};
  return intrinsic(f, name, &t, 1, args, b ? 2 : 1);
}

/* Memory operands: width bytes at address slot p + off in memory mi. */
static LLVMValueRef vload(fx_t *f, LLVMTypeRef t, LLVMValueRef p) {
  LLVMValueRef v = LLVMBuildLoad2(f->j->B, t, p, "");
  LLVMSetAlignment(v, 1);
  LLVMSetMetadata(v, f->j->k_tbaa, f->j->md_mem);
  return v;
}

static void vstore(fx_t *f, LLVMValueRef v, LLVMValueRef p) {
  LLVMValueRef st = LLVMBuildStore(f->j->B, v, p);
  LLVMSetAlignment(st, 1);
  LLVMSetMetadata(st, f->j->k_tbaa, f->j->md_mem);
}

/* a lane-wise compare of shape s, as all-ones / zero integer lanes */
static LLVMValueRef vicmp(fx_t *f, const int32_t *w, int s, LLVMIntPredicate p) {
  jit_t *j = f->j;
  LLVMValueRef c = LLVMBuildICmp(j->B, p, vget(f, w[1], s), vget(f, w[2], s), "");
  return LLVMBuildSExt(j->B, c, vec_ty(j, s), "");
}

static LLVMValueRef vfcmp(fx_t *f, const int32_t *w, int s, LLVMRealPredicate p) {
  jit_t *j = f->j;
  LLVMValueRef c = LLVMBuildFCmp(j->B, p, vget(f, w[1], s), vget(f, w[2], s), "");
  return LLVMBuildSExt(j->B, c, vec_ty(j, s == VS_F32 ? VS_I32 : VS_I64), "");
}

static LLVMValueRef vbinop(fx_t *f, const int32_t *w, int s, LLVMOpcode op) {
  return LLVMBuildBinOp(f->j->B, op, vget(f, w[1], s), vget(f, w[2], s), "");
}

static LLVMValueRef vbinintr(fx_t *f, const int32_t *w, int s, const char *name) {
  return vintr(f, name, vget(f, w[1], s), vget(f, w[2], s));
}

/* narrowing with saturation: a's lanes then b's, each clamped to lo..hi */
static LLVMValueRef vnarrow(fx_t *f, const int32_t *w, int s, int64_t lo, int64_t hi) {
  jit_t *j = f->j;
  unsigned n = vs_lanes[s], idx[16];
  for (unsigned i = 0; i < 2 * n; i++) idx[i] = i;
  LLVMValueRef both = vshuf(f, vget(f, w[1], s), vget(f, w[2], s), idx, 2 * n);
  LLVMValueRef e[2] = {LLVMConstInt(lane_ty(j, s), (uint64_t)lo, 0),
                       LLVMConstInt(lane_ty(j, s), (uint64_t)hi, 0)};
  LLVMValueRef lov[16], hiv[16];
  for (unsigned i = 0; i < 2 * n; i++) lov[i] = e[0], hiv[i] = e[1];
  both = vintr(f, "llvm.smax", both, LLVMConstVector(lov, 2 * n));
  both = vintr(f, "llvm.smin", both, LLVMConstVector(hiv, 2 * n));
  return LLVMBuildTrunc(j->B, both, vec_ty(j, s - 1), "");
}

static LLVMValueRef vextmul(fx_t *f, const int32_t *w, int s, bool hi, bool sign) {
  return LLVMBuildMul(f->j->B, vwiden(f, vget(f, w[1], s), s, hi, sign),
                      vwiden(f, vget(f, w[2], s), s, hi, sign), "");
}

/* pairwise: lanes 2i and 2i+1 of v (shape s) widened and added */
static LLVMValueRef vextadd(fx_t *f, LLVMValueRef v, int s, bool sign) {
  jit_t *j = f->j;
  unsigned n = vs_lanes[s] / 2;
  LLVMTypeRef wt = vec_ty(j, s + 1);
  LLVMValueRef ev = vpick(f, v, 0, 2, n), od = vpick(f, v, 1, 2, n);
  ev = sign ? LLVMBuildSExt(j->B, ev, wt, "") : LLVMBuildZExt(j->B, ev, wt, "");
  od = sign ? LLVMBuildSExt(j->B, od, wt, "") : LLVMBuildZExt(j->B, od, wt, "");
  return LLVMBuildAdd(j->B, ev, od, "");
}

/* float lanes: abs/neg on the bits (a NaN's payload is untouched) */
static LLVMValueRef vfsign(fx_t *f, const int32_t *w, int s, bool neg) {
  jit_t *j = f->j;
  int is = s == VS_F32 ? VS_I32 : VS_I64;
  uint64_t sign = s == VS_F32 ? 0x80000000u : 1ull << 63;
  LLVMValueRef v = vget(f, w[1], is);
  return neg ? LLVMBuildXor(j->B, v, vconst(j, is, sign), "")
             : LLVMBuildAnd(j->B, v, vconst(j, is, ~sign), "");
}

static LLVMValueRef vfun(fx_t *f, const int32_t *w, int s, const char *name) {
  return vintr(f, name, vget(f, w[1], s), NULL);
}

static LLVMValueRef vfstrict(fx_t *f, const int32_t *w, int s, const char *op) {
  return fp_strict(f, op, vec_ty(f->j, s), NULL, vget(f, w[1], s), vget(f, w[2], s));
}

/* v (n lanes) followed by n zero lanes */
static LLVMValueRef vzero_hi(fx_t *f, LLVMValueRef v, unsigned n) {
  unsigned idx[8];
  for (unsigned i = 0; i < 2 * n; i++) idx[i] = i;
  return vshuf(f, v, LLVMConstNull(LLVMTypeOf(v)), idx, 2 * n);
}

static LLVMValueRef vtrunc_sat(fx_t *f, LLVMValueRef v, LLVMTypeRef rt, bool sign) {
  LLVMTypeRef tys[] = {rt, LLVMTypeOf(v)};
  return intrinsic(f, sign ? "llvm.fptosi.sat" : "llvm.fptoui.sat", tys, 2, &v, 1);
}

/* UN, BIN and TERN rows: the result vector, or NULL for an op not
 * translated (the module then stays with the interpreter). */
static LLVMValueRef emit_simd_arith(fx_t *f, int op, const int32_t *w) {
  jit_t *j = f->j;
  LLVMBuilderRef B = j->B;
  switch (op) {
#define IC(N, S, P) case WOP_V_##N: return vicmp(f, w, S, P);
  IC(I8X16_EQ, VS_I8, LLVMIntEQ) IC(I8X16_NE, VS_I8, LLVMIntNE)
  IC(I8X16_LT_S, VS_I8, LLVMIntSLT) IC(I8X16_LT_U, VS_I8, LLVMIntULT)
  IC(I8X16_GT_S, VS_I8, LLVMIntSGT) IC(I8X16_GT_U, VS_I8, LLVMIntUGT)
  IC(I8X16_LE_S, VS_I8, LLVMIntSLE) IC(I8X16_LE_U, VS_I8, LLVMIntULE)
  IC(I8X16_GE_S, VS_I8, LLVMIntSGE) IC(I8X16_GE_U, VS_I8, LLVMIntUGE)
  IC(I16X8_EQ, VS_I16, LLVMIntEQ) IC(I16X8_NE, VS_I16, LLVMIntNE)
  IC(I16X8_LT_S, VS_I16, LLVMIntSLT) IC(I16X8_LT_U, VS_I16, LLVMIntULT)
  IC(I16X8_GT_S, VS_I16, LLVMIntSGT) IC(I16X8_GT_U, VS_I16, LLVMIntUGT)
  IC(I16X8_LE_S, VS_I16, LLVMIntSLE) IC(I16X8_LE_U, VS_I16, LLVMIntULE)
  IC(I16X8_GE_S, VS_I16, LLVMIntSGE) IC(I16X8_GE_U, VS_I16, LLVMIntUGE)
  IC(I32X4_EQ, VS_I32, LLVMIntEQ) IC(I32X4_NE, VS_I32, LLVMIntNE)
  IC(I32X4_LT_S, VS_I32, LLVMIntSLT) IC(I32X4_LT_U, VS_I32, LLVMIntULT)
  IC(I32X4_GT_S, VS_I32, LLVMIntSGT) IC(I32X4_GT_U, VS_I32, LLVMIntUGT)
  IC(I32X4_LE_S, VS_I32, LLVMIntSLE) IC(I32X4_LE_U, VS_I32, LLVMIntULE)
  IC(I32X4_GE_S, VS_I32, LLVMIntSGE) IC(I32X4_GE_U, VS_I32, LLVMIntUGE)
  IC(I64X2_EQ, VS_I64, LLVMIntEQ) IC(I64X2_NE, VS_I64, LLVMIntNE)
  IC(I64X2_LT_S, VS_I64, LLVMIntSLT) IC(I64X2_GT_S, VS_I64, LLVMIntSGT)
  IC(I64X2_LE_S, VS_I64, LLVMIntSLE) IC(I64X2_GE_S, VS_I64, LLVMIntSGE)
#undef IC
#define FC(N, S, P) case WOP_V_##N: return vfcmp(f, w, S, P);
  FC(F32X4_EQ, VS_F32, LLVMRealOEQ) FC(F32X4_NE, VS_F32, LLVMRealUNE)
  FC(F32X4_LT, VS_F32, LLVMRealOLT) FC(F32X4_GT, VS_F32, LLVMRealOGT)
  FC(F32X4_LE, VS_F32, LLVMRealOLE) FC(F32X4_GE, VS_F32, LLVMRealOGE)
  FC(F64X2_EQ, VS_F64, LLVMRealOEQ) FC(F64X2_NE, VS_F64, LLVMRealUNE)
  FC(F64X2_LT, VS_F64, LLVMRealOLT) FC(F64X2_GT, VS_F64, LLVMRealOGT)
  FC(F64X2_LE, VS_F64, LLVMRealOLE) FC(F64X2_GE, VS_F64, LLVMRealOGE)
#undef FC
#define IB(N, S, O) case WOP_V_##N: return vbinop(f, w, S, O);
  IB(I8X16_ADD, VS_I8, LLVMAdd) IB(I8X16_SUB, VS_I8, LLVMSub)
  IB(I16X8_ADD, VS_I16, LLVMAdd) IB(I16X8_SUB, VS_I16, LLVMSub) IB(I16X8_MUL, VS_I16, LLVMMul)
  IB(I32X4_ADD, VS_I32, LLVMAdd) IB(I32X4_SUB, VS_I32, LLVMSub) IB(I32X4_MUL, VS_I32, LLVMMul)
  IB(I64X2_ADD, VS_I64, LLVMAdd) IB(I64X2_SUB, VS_I64, LLVMSub) IB(I64X2_MUL, VS_I64, LLVMMul)
  IB(V128_AND, VS_I64, LLVMAnd) IB(V128_OR, VS_I64, LLVMOr) IB(V128_XOR, VS_I64, LLVMXor)
#undef IB
#define II(N, S, I) case WOP_V_##N: return vbinintr(f, w, S, I);
  II(I8X16_ADD_SAT_S, VS_I8, "llvm.sadd.sat") II(I8X16_ADD_SAT_U, VS_I8, "llvm.uadd.sat")
  II(I8X16_SUB_SAT_S, VS_I8, "llvm.ssub.sat") II(I8X16_SUB_SAT_U, VS_I8, "llvm.usub.sat")
  II(I16X8_ADD_SAT_S, VS_I16, "llvm.sadd.sat") II(I16X8_ADD_SAT_U, VS_I16, "llvm.uadd.sat")
  II(I16X8_SUB_SAT_S, VS_I16, "llvm.ssub.sat") II(I16X8_SUB_SAT_U, VS_I16, "llvm.usub.sat")
  II(I8X16_MIN_S, VS_I8, "llvm.smin") II(I8X16_MIN_U, VS_I8, "llvm.umin")
  II(I8X16_MAX_S, VS_I8, "llvm.smax") II(I8X16_MAX_U, VS_I8, "llvm.umax")
  II(I16X8_MIN_S, VS_I16, "llvm.smin") II(I16X8_MIN_U, VS_I16, "llvm.umin")
  II(I16X8_MAX_S, VS_I16, "llvm.smax") II(I16X8_MAX_U, VS_I16, "llvm.umax")
  II(I32X4_MIN_S, VS_I32, "llvm.smin") II(I32X4_MIN_U, VS_I32, "llvm.umin")
  II(I32X4_MAX_S, VS_I32, "llvm.smax") II(I32X4_MAX_U, VS_I32, "llvm.umax")
#undef II
  case WOP_V_V128_NOT: return LLVMBuildNot(B, vget(f, w[1], VS_I64), "");
  case WOP_V_V128_ANDNOT:
    return LLVMBuildAnd(B, vget(f, w[1], VS_I64), LLVMBuildNot(B, vget(f, w[2], VS_I64), ""), "");
  case WOP_V_V128_BITSELECT: {
    LLVMValueRef c = vget(f, w[3], VS_I64);
    return LLVMBuildOr(B, LLVMBuildAnd(B, vget(f, w[1], VS_I64), c, ""),
                       LLVMBuildAnd(B, vget(f, w[2], VS_I64), LLVMBuildNot(B, c, ""), ""), "");
  }
  case WOP_V_I8X16_SWIZZLE: {
    /* lanes of a picked by b's bytes; 16 and up pick 0.  pshufb gives 0
     * for a byte with its top bit set, and reads the low 4 bits: clamp
     * each index with an unsigned saturating add of 0x70 */
    LLVMValueRef a = vget(f, w[1], VS_I8), b = vget(f, w[2], VS_I8);
    if (strstr(cpu_features, "+ssse3")) {
      LLVMValueRef idx = vintr(f, "llvm.uadd.sat", b, vconst(j, VS_I8, 0x70));
      LLVMValueRef args[] = {a, idx};
      return intrinsic(f, "llvm.x86.ssse3.pshuf.b.128", NULL, 0, args, 2);
    }
    LLVMValueRef r = LLVMConstNull(vec_ty(j, VS_I8));
    for (unsigned i = 0; i < 16; i++) {
      LLVMValueRef k = LLVMBuildExtractElement(B, b, c32(j, i), "");
      LLVMValueRef lane = LLVMBuildExtractElement(B, a, LLVMBuildAnd(B, k, LLVMConstInt(j->t_i8, 15, 0), ""), "");
      LLVMValueRef in = LLVMBuildICmp(B, LLVMIntULT, k, LLVMConstInt(j->t_i8, 16, 0), "");
      r = LLVMBuildInsertElement(B, r, LLVMBuildSelect(B, in, lane, LLVMConstInt(j->t_i8, 0, 0), ""),
                                 c32(j, i), "");
    }
    return r;
  }
  case WOP_V_I8X16_ABS: case WOP_V_I16X8_ABS: case WOP_V_I32X4_ABS: case WOP_V_I64X2_ABS: {
    int s = op == WOP_V_I8X16_ABS ? VS_I8 : op == WOP_V_I16X8_ABS ? VS_I16
          : op == WOP_V_I32X4_ABS ? VS_I32 : VS_I64;
    return vintr(f, "llvm.abs", vget(f, w[1], s), LLVMConstInt(j->t_i1, 0, 0));
  }
  case WOP_V_I8X16_NEG: return LLVMBuildNeg(B, vget(f, w[1], VS_I8), "");
  case WOP_V_I16X8_NEG: return LLVMBuildNeg(B, vget(f, w[1], VS_I16), "");
  case WOP_V_I32X4_NEG: return LLVMBuildNeg(B, vget(f, w[1], VS_I32), "");
  case WOP_V_I64X2_NEG: return LLVMBuildNeg(B, vget(f, w[1], VS_I64), "");
  case WOP_V_I8X16_POPCNT: return vintr(f, "llvm.ctpop", vget(f, w[1], VS_I8), NULL);
  case WOP_V_I8X16_AVGR_U: case WOP_V_I16X8_AVGR_U: {
    int s = op == WOP_V_I8X16_AVGR_U ? VS_I8 : VS_I16;
    LLVMTypeRef wt = LLVMVectorType(lane_ty(j, s + 1), vs_lanes[s]);
    LLVMValueRef a = LLVMBuildZExt(B, vget(f, w[1], s), wt, "");
    LLVMValueRef b = LLVMBuildZExt(B, vget(f, w[2], s), wt, "");
    LLVMValueRef ones[16];
    for (unsigned i = 0; i < vs_lanes[s]; i++) ones[i] = LLVMConstInt(lane_ty(j, s + 1), 1, 0);
    LLVMValueRef c1 = LLVMConstVector(ones, vs_lanes[s]);
    LLVMValueRef sum = LLVMBuildAdd(B, LLVMBuildAdd(B, a, b, ""), c1, "");
    return LLVMBuildTrunc(B, LLVMBuildLShr(B, sum, c1, ""), vec_ty(j, s), "");
  }
  case WOP_V_I16X8_Q15MULR_SAT_S: {
    LLVMTypeRef wt = LLVMVectorType(j->t_i32, 8);
    LLVMValueRef a = LLVMBuildSExt(B, vget(f, w[1], VS_I16), wt, "");
    LLVMValueRef b = LLVMBuildSExt(B, vget(f, w[2], VS_I16), wt, "");
    LLVMValueRef e[8], k15[8], lo[8], hi[8];
    for (unsigned i = 0; i < 8; i++) {
      e[i] = c32(j, 0x4000);
      k15[i] = c32(j, 15);
      lo[i] = c32(j, (uint32_t)-32768);
      hi[i] = c32(j, 32767);
    }
    LLVMValueRef p = LLVMBuildAdd(B, LLVMBuildMul(B, a, b, ""), LLVMConstVector(e, 8), "");
    p = LLVMBuildAShr(B, p, LLVMConstVector(k15, 8), "");
    p = vintr(f, "llvm.smax", p, LLVMConstVector(lo, 8));
    p = vintr(f, "llvm.smin", p, LLVMConstVector(hi, 8));
    return LLVMBuildTrunc(B, p, vec_ty(j, VS_I16), "");
  }
  case WOP_V_I8X16_NARROW_I16X8_S: return vnarrow(f, w, VS_I16, -128, 127);
  case WOP_V_I8X16_NARROW_I16X8_U: return vnarrow(f, w, VS_I16, 0, 255);
  case WOP_V_I16X8_NARROW_I32X4_S: return vnarrow(f, w, VS_I32, -32768, 32767);
  case WOP_V_I16X8_NARROW_I32X4_U: return vnarrow(f, w, VS_I32, 0, 65535);
#define EX(N, S, HI, SG) case WOP_V_##N: return vwiden(f, vget(f, w[1], S), S, HI, SG);
  EX(I16X8_EXTEND_LOW_I8X16_S, VS_I8, false, true) EX(I16X8_EXTEND_HIGH_I8X16_S, VS_I8, true, true)
  EX(I16X8_EXTEND_LOW_I8X16_U, VS_I8, false, false) EX(I16X8_EXTEND_HIGH_I8X16_U, VS_I8, true, false)
  EX(I32X4_EXTEND_LOW_I16X8_S, VS_I16, false, true) EX(I32X4_EXTEND_HIGH_I16X8_S, VS_I16, true, true)
  EX(I32X4_EXTEND_LOW_I16X8_U, VS_I16, false, false) EX(I32X4_EXTEND_HIGH_I16X8_U, VS_I16, true, false)
  EX(I64X2_EXTEND_LOW_I32X4_S, VS_I32, false, true) EX(I64X2_EXTEND_HIGH_I32X4_S, VS_I32, true, true)
  EX(I64X2_EXTEND_LOW_I32X4_U, VS_I32, false, false) EX(I64X2_EXTEND_HIGH_I32X4_U, VS_I32, true, false)
#undef EX
#define EM(N, S, HI, SG) case WOP_V_##N: return vextmul(f, w, S, HI, SG);
  EM(I16X8_EXTMUL_LOW_I8X16_S, VS_I8, false, true) EM(I16X8_EXTMUL_HIGH_I8X16_S, VS_I8, true, true)
  EM(I16X8_EXTMUL_LOW_I8X16_U, VS_I8, false, false) EM(I16X8_EXTMUL_HIGH_I8X16_U, VS_I8, true, false)
  EM(I32X4_EXTMUL_LOW_I16X8_S, VS_I16, false, true) EM(I32X4_EXTMUL_HIGH_I16X8_S, VS_I16, true, true)
  EM(I32X4_EXTMUL_LOW_I16X8_U, VS_I16, false, false) EM(I32X4_EXTMUL_HIGH_I16X8_U, VS_I16, true, false)
  EM(I64X2_EXTMUL_LOW_I32X4_S, VS_I32, false, true) EM(I64X2_EXTMUL_HIGH_I32X4_S, VS_I32, true, true)
  EM(I64X2_EXTMUL_LOW_I32X4_U, VS_I32, false, false) EM(I64X2_EXTMUL_HIGH_I32X4_U, VS_I32, true, false)
#undef EM
  case WOP_V_I16X8_EXTADD_PAIRWISE_I8X16_S: return vextadd(f, vget(f, w[1], VS_I8), VS_I8, true);
  case WOP_V_I16X8_EXTADD_PAIRWISE_I8X16_U: return vextadd(f, vget(f, w[1], VS_I8), VS_I8, false);
  case WOP_V_I32X4_EXTADD_PAIRWISE_I16X8_S: return vextadd(f, vget(f, w[1], VS_I16), VS_I16, true);
  case WOP_V_I32X4_EXTADD_PAIRWISE_I16X8_U: return vextadd(f, vget(f, w[1], VS_I16), VS_I16, false);
  case WOP_V_I32X4_DOT_I16X8_S: {
    LLVMTypeRef wt = LLVMVectorType(j->t_i32, 8);
    LLVMValueRef p = LLVMBuildMul(B, LLVMBuildSExt(B, vget(f, w[1], VS_I16), wt, ""),
                                  LLVMBuildSExt(B, vget(f, w[2], VS_I16), wt, ""), "");
    return LLVMBuildAdd(B, vpick(f, p, 0, 2, 4), vpick(f, p, 1, 2, 4), "");
  }
  /* float */
  case WOP_V_F32X4_ABS: return vfsign(f, w, VS_F32, false);
  case WOP_V_F32X4_NEG: return vfsign(f, w, VS_F32, true);
  case WOP_V_F64X2_ABS: return vfsign(f, w, VS_F64, false);
  case WOP_V_F64X2_NEG: return vfsign(f, w, VS_F64, true);
  case WOP_V_F32X4_SQRT: return vfun(f, w, VS_F32, "llvm.sqrt");
  case WOP_V_F64X2_SQRT: return vfun(f, w, VS_F64, "llvm.sqrt");
  case WOP_V_F32X4_CEIL: return vfun(f, w, VS_F32, "llvm.ceil");
  case WOP_V_F64X2_CEIL: return vfun(f, w, VS_F64, "llvm.ceil");
  case WOP_V_F32X4_FLOOR: return vfun(f, w, VS_F32, "llvm.floor");
  case WOP_V_F64X2_FLOOR: return vfun(f, w, VS_F64, "llvm.floor");
  case WOP_V_F32X4_TRUNC: return vfun(f, w, VS_F32, "llvm.trunc");
  case WOP_V_F64X2_TRUNC: return vfun(f, w, VS_F64, "llvm.trunc");
  case WOP_V_F32X4_NEAREST: return vfun(f, w, VS_F32, "llvm.nearbyint");
  case WOP_V_F64X2_NEAREST: return vfun(f, w, VS_F64, "llvm.nearbyint");
  case WOP_V_F32X4_ADD: return vfstrict(f, w, VS_F32, "fadd");
  case WOP_V_F32X4_SUB: return vfstrict(f, w, VS_F32, "fsub");
  case WOP_V_F32X4_MUL: return vfstrict(f, w, VS_F32, "fmul");
  case WOP_V_F32X4_DIV: return vfstrict(f, w, VS_F32, "fdiv");
  case WOP_V_F64X2_ADD: return vfstrict(f, w, VS_F64, "fadd");
  case WOP_V_F64X2_SUB: return vfstrict(f, w, VS_F64, "fsub");
  case WOP_V_F64X2_MUL: return vfstrict(f, w, VS_F64, "fmul");
  case WOP_V_F64X2_DIV: return vfstrict(f, w, VS_F64, "fdiv");
  case WOP_V_F32X4_MIN: case WOP_V_F32X4_MAX: case WOP_V_F64X2_MIN: case WOP_V_F64X2_MAX: {
    int s = (op == WOP_V_F32X4_MIN || op == WOP_V_F32X4_MAX) ? VS_F32 : VS_F64;
    return fminmax(f, vget(f, w[1], s), vget(f, w[2], s), op == WOP_V_F32X4_MAX || op == WOP_V_F64X2_MAX);
  }
  case WOP_V_F32X4_PMIN: case WOP_V_F32X4_PMAX: case WOP_V_F64X2_PMIN: case WOP_V_F64X2_PMAX: {
    int s = (op == WOP_V_F32X4_PMIN || op == WOP_V_F32X4_PMAX) ? VS_F32 : VS_F64;
    LLVMValueRef a = vget(f, w[1], s), b = vget(f, w[2], s);
    if (op == WOP_V_F32X4_PMIN || op == WOP_V_F64X2_PMIN)   /* b < a ? b : a */
      return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOLT, b, a, ""), b, a, "");
    return LLVMBuildSelect(B, LLVMBuildFCmp(B, LLVMRealOLT, a, b, ""), b, a, "");   /* a < b ? b : a */
  }
  case WOP_V_F32X4_DEMOTE_F64X2_ZERO: {
    LLVMValueRef d = fp_strict(f, "fptrunc", LLVMVectorType(j->t_f32, 2), vec_ty(j, VS_F64),
                               vget(f, w[1], VS_F64), NULL);
    return vzero_hi(f, d, 2);
  }
  case WOP_V_F64X2_PROMOTE_LOW_F32X4:
    return fp_strict(f, "fpext", vec_ty(j, VS_F64), LLVMVectorType(j->t_f32, 2),
                     vpick(f, vget(f, w[1], VS_F32), 0, 1, 2), NULL);
  case WOP_V_I32X4_TRUNC_SAT_F32X4_S: return vtrunc_sat(f, vget(f, w[1], VS_F32), vec_ty(j, VS_I32), true);
  case WOP_V_I32X4_TRUNC_SAT_F32X4_U: return vtrunc_sat(f, vget(f, w[1], VS_F32), vec_ty(j, VS_I32), false);
  case WOP_V_I32X4_TRUNC_SAT_F64X2_S_ZERO:
  case WOP_V_I32X4_TRUNC_SAT_F64X2_U_ZERO:
    return vzero_hi(f, vtrunc_sat(f, vget(f, w[1], VS_F64), LLVMVectorType(j->t_i32, 2),
                                  op == WOP_V_I32X4_TRUNC_SAT_F64X2_S_ZERO), 2);
  case WOP_V_F32X4_CONVERT_I32X4_S: return LLVMBuildSIToFP(B, vget(f, w[1], VS_I32), vec_ty(j, VS_F32), "");
  case WOP_V_F32X4_CONVERT_I32X4_U: return LLVMBuildUIToFP(B, vget(f, w[1], VS_I32), vec_ty(j, VS_F32), "");
  case WOP_V_F64X2_CONVERT_LOW_I32X4_S:
    return LLVMBuildSIToFP(B, vpick(f, vget(f, w[1], VS_I32), 0, 1, 2), vec_ty(j, VS_F64), "");
  case WOP_V_F64X2_CONVERT_LOW_I32X4_U:
    return LLVMBuildUIToFP(B, vpick(f, vget(f, w[1], VS_I32), 0, 1, 2), vec_ty(j, VS_F64), "");
  default: return NULL;
  }
}

/* One V_ op; false if it is not translated. */
static bool emit_simd(fx_t *f, int op, const int32_t *w) {
  jit_t *j = f->j;
  LLVMBuilderRef B = j->B;
  const opinfo_t *oi = &ops[op];
  unsigned bytes = 1u << (oi->sn & 7);
  switch (oi->sform) {
  case WH_SIMD_LOAD: {   /* d p off mem */
    LLVMValueRef p = mem_addr(f, w[1], (uint32_t)w[2], (uint32_t)w[3], bytes), r;
    switch (op) {
    case WOP_V_V128_LOAD: r = vload(f, vec_ty(j, VS_I64), p); break;
    case WOP_V_V128_LOAD8X8_S: case WOP_V_V128_LOAD8X8_U:
    case WOP_V_V128_LOAD16X4_S: case WOP_V_V128_LOAD16X4_U:
    case WOP_V_V128_LOAD32X2_S: case WOP_V_V128_LOAD32X2_U: {
      int s = (op == WOP_V_V128_LOAD8X8_S || op == WOP_V_V128_LOAD8X8_U) ? VS_I8
            : (op == WOP_V_V128_LOAD16X4_S || op == WOP_V_V128_LOAD16X4_U) ? VS_I16 : VS_I32;
      bool sign = op == WOP_V_V128_LOAD8X8_S || op == WOP_V_V128_LOAD16X4_S || op == WOP_V_V128_LOAD32X2_S;
      LLVMValueRef h = vload(f, LLVMVectorType(lane_ty(j, s), vs_lanes[s] / 2), p);
      r = sign ? LLVMBuildSExt(B, h, vec_ty(j, s + 1), "") : LLVMBuildZExt(B, h, vec_ty(j, s + 1), "");
      break;
    }
    case WOP_V_V128_LOAD8_SPLAT: case WOP_V_V128_LOAD16_SPLAT:
    case WOP_V_V128_LOAD32_SPLAT: case WOP_V_V128_LOAD64_SPLAT: {
      int s = shape_of_lanes(16 / bytes);
      r = vsplat(f, vload(f, lane_ty(j, s), p), s);
      break;
    }
    case WOP_V_V128_LOAD32_ZERO: case WOP_V_V128_LOAD64_ZERO: {
      int s = shape_of_lanes(16 / bytes);
      r = LLVMBuildInsertElement(B, LLVMConstNull(vec_ty(j, s)), vload(f, lane_ty(j, s), p), c32(j, 0), "");
      break;
    }
    default: return false;
    }
    vput(f, w[0], r);
    return true;
  }
  case WH_SIMD_STORE:    /* p a off mem */
    vstore(f, vget(f, w[1], VS_I64), mem_addr(f, w[0], (uint32_t)w[2], (uint32_t)w[3], 16));
    return true;
  case WH_SIMD_LLANE: {  /* d p a off mem l */
    int s = shape_of_lanes(16 / bytes);
    LLVMValueRef p = mem_addr(f, w[1], (uint32_t)w[3], (uint32_t)w[4], bytes);
    LLVMValueRef l = c32(j, (uint32_t)w[5] & (16 / bytes - 1));
    vput(f, w[0], LLVMBuildInsertElement(B, vget(f, w[2], s), vload(f, lane_ty(j, s), p), l, ""));
    return true;
  }
  case WH_SIMD_SLANE: {  /* p a off mem l */
    int s = shape_of_lanes(16 / bytes);
    LLVMValueRef p = mem_addr(f, w[0], (uint32_t)w[2], (uint32_t)w[3], bytes);
    LLVMValueRef l = c32(j, (uint32_t)w[4] & (16 / bytes - 1));
    vstore(f, LLVMBuildExtractElement(B, vget(f, w[1], s), l, ""), p);
    return true;
  }
  case WH_SIMD_CONST:    /* d lo0 lo1 hi0 hi1 */
    put64(f, w[0], c64(j, (uint64_t)(uint32_t)w[1] | (uint64_t)(uint32_t)w[2] << 32));
    put64(f, w[0] + 8, c64(j, (uint64_t)(uint32_t)w[3] | (uint64_t)(uint32_t)w[4] << 32));
    return true;
  case WH_SIMD_SHUF: {   /* d a b lanes[16] */
    uint8_t lanes[16];
    unsigned idx[16];
    memcpy(lanes, &w[3], 16);
    for (unsigned i = 0; i < 16; i++) idx[i] = lanes[i] & 31;
    vput(f, w[0], vshuf(f, vget(f, w[1], VS_I8), vget(f, w[2], VS_I8), idx, 16));
    return true;
  }
  case WH_SIMD_SPLAT: {  /* d x: float lanes splat as their bits */
    int s = shape_of_lanes(oi->sn);
    vput(f, w[0], vsplat(f, LLVMBuildTrunc(B, get64(f, w[1]), lane_ty(j, s), ""), s));
    return true;
  }
  case WH_SIMD_EXTRACT: {   /* d a l */
    int s = shape_of_lanes(oi->sn);
    LLVMValueRef e = LLVMBuildExtractElement(B, vget(f, w[1], s), c32(j, (uint32_t)w[2] & (oi->sn - 1)), "");
    if (op == WOP_V_I8X16_EXTRACT_LANE_S || op == WOP_V_I16X8_EXTRACT_LANE_S)
      e = LLVMBuildSExt(B, e, j->t_i32, "");
    put64(f, w[0], LLVMBuildZExt(B, e, j->t_i64, ""));
    return true;
  }
  case WH_SIMD_REPLACE: {   /* d a x l */
    int s = shape_of_lanes(oi->sn);
    LLVMValueRef x = LLVMBuildTrunc(B, get64(f, w[2]), lane_ty(j, s), "");
    vput(f, w[0], LLVMBuildInsertElement(B, vget(f, w[1], s), x, c32(j, (uint32_t)w[3] & (oi->sn - 1)), ""));
    return true;
  }
  case WH_SIMD_TEST: {   /* d a */
    LLVMValueRef r;
    if (op == WOP_V_V128_ANY_TRUE) {
      LLVMValueRef v = vget(f, w[1], VS_I64);
      LLVMValueRef o = LLVMBuildOr(B, LLVMBuildExtractElement(B, v, c32(j, 0), ""),
                                   LLVMBuildExtractElement(B, v, c32(j, 1), ""), "");
      r = LLVMBuildICmp(B, LLVMIntNE, o, c64(j, 0), "");
    } else {
      int s = shape_of_lanes(oi->sn);
      LLVMValueRef v = vget(f, w[1], s);
      if (op == WOP_V_I8X16_ALL_TRUE || op == WOP_V_I16X8_ALL_TRUE || op == WOP_V_I32X4_ALL_TRUE ||
          op == WOP_V_I64X2_ALL_TRUE) {
        LLVMValueRef nz = LLVMBuildICmp(B, LLVMIntNE, v, LLVMConstNull(vec_ty(j, s)), "");
        r = vintr(f, "llvm.vector.reduce.and", nz, NULL);
      } else {   /* bitmask: lane i's sign is bit i */
        LLVMValueRef neg = LLVMBuildICmp(B, LLVMIntSLT, v, LLVMConstNull(vec_ty(j, s)), "");
        r = LLVMBuildBitCast(B, neg, LLVMIntTypeInContext(j->C, oi->sn), "");
      }
    }
    put64(f, w[0], LLVMBuildZExt(B, r, j->t_i64, ""));
    return true;
  }
  case WH_SIMD_SHIFT: {  /* d a x: the count modulo the lane width */
    int s = shape_of_lanes(oi->sn);
    unsigned bits = 128 / oi->sn;
    LLVMValueRef k = LLVMBuildAnd(B, rd(f, w[2], TY_i32), c32(j, bits - 1), "");
    k = bits < 32 ? LLVMBuildTrunc(B, k, lane_ty(j, s), "")
      : bits > 32 ? LLVMBuildZExt(B, k, lane_ty(j, s), "") : k;
    LLVMValueRef a = vget(f, w[1], s), ks = vsplat(f, k, s), r;
    switch (op) {
    case WOP_V_I8X16_SHL: case WOP_V_I16X8_SHL: case WOP_V_I32X4_SHL: case WOP_V_I64X2_SHL:
      r = LLVMBuildShl(B, a, ks, "");
      break;
    case WOP_V_I8X16_SHR_S: case WOP_V_I16X8_SHR_S: case WOP_V_I32X4_SHR_S: case WOP_V_I64X2_SHR_S:
      r = LLVMBuildAShr(B, a, ks, "");
      break;
    default: r = LLVMBuildLShr(B, a, ks, ""); break;
    }
    vput(f, w[0], r);
    return true;
  }
  default: {             /* UN, BIN, TERN */
    LLVMValueRef r = emit_simd_arith(f, op, w);
    if (!r) return false;
    vput(f, w[0], r);
    return true;
  }
  }
}

/* ---- calls ---------------------------------------------------------------- */

static LLVMTypeRef ret_type(jit_t *j, uint32_t nres) {
  if (nres == 0) return j->t_void;
  if (nres == 1) return j->t_i64;
  LLVMTypeRef *el = malloc(nres * sizeof *el);
  for (uint32_t i = 0; i < nres; i++) el[i] = j->t_i64;
  LLVMTypeRef t = LLVMStructTypeInContext(j->C, el, nres, 0);
  free(el);
  return t;
}

/* f(inst, ctx, i64 rec, i64 vbase, i64 params...): see fx_t.rec. */
#define NHIDDEN 4
/* The typed functions' calling convention: LLVM's preserve_none (19's
 * CallingConv::PreserveNone, not in llvm-c's enum): arguments in up to
 * twelve registers and no callee-saved ones, so a function that calls on
 * saves only what it keeps live across its calls, not the six registers
 * the C convention makes every non-leaf function push (fib: 7% faster).
 * Only generated code calls them (the wh_e<i> entries are C functions). */
#define TYPED_CC 21
static LLVMTypeRef direct_type(jit_t *j, const wh_functype_t *ft) {
  uint32_t n = NPS(ft) + NHIDDEN;
  LLVMTypeRef *p = malloc(n * sizeof *p);
  p[0] = p[1] = j->t_ptr;
  p[2] = p[3] = j->t_i64;
  for (uint32_t i = 0; i < NPS(ft); i++) p[NHIDDEN + i] = j->t_i64;
  LLVMTypeRef t = LLVMFunctionType(ret_type(j, NRS(ft)), p, n, 0);
  free(p);
  return t;
}

/* The callee's frame starts at this frame's slot argoff/8 (as the
 * interpreter lays frames out): tell it. */
static void set_vbase(fx_t *f, int32_t argoff) {
  jit_t *j = f->j;
  LLVMValueRef v = LLVMBuildAdd(j->B, f->vbase, c64(j, (uint32_t)argoff / 8), "");
  LLVMValueRef st = LLVMBuildStore(j->B, v, f->vbasep);
  LLVMSetMetadata(st, j->k_tbaa, j->md_rt);
}

/* Calls a typed function with the args at slot offset `argoff`; stores
 * the results there. */
static void call_direct(fx_t *f, LLVMTypeRef fty, LLVMValueRef callee,
                        const wh_functype_t *ft, int32_t argoff) {
  jit_t *j = f->j;
  uint32_t n = NPS(ft) + NHIDDEN;
  LLVMValueRef *a = malloc(n * sizeof *a);
  a[0] = f->inst;
  a[1] = f->ctx;
  a[2] = f->rec1;
  a[3] = LLVMBuildAdd(j->B, f->vbase, c64(j, (uint32_t)argoff / 8), "");
  for (uint32_t i = 0; i < NPS(ft); i++) a[NHIDDEN + i] = get64(f, argoff + 8 * (int32_t)i);
  frame_record(f);
  LLVMValueRef r = LLVMBuildCall2(j->B, fty, callee, a, n, "");
  LLVMSetInstructionCallConv(r, TYPED_CC);
  free(a);
  if (NRS(ft) == 1) put64(f, argoff, r);
  else
    for (uint32_t i = 0; i < NRS(ft); i++)
      put64(f, argoff + 8 * (int32_t)i, LLVMBuildExtractValue(j->B, r, i, ""));
}

/* Calls any wh_func_t through the runtime (imports, foreign functions). */
static void call_generic(fx_t *f, LLVMValueRef fn, const wh_functype_t *ft, int32_t argoff) {
  jit_t *j = f->j;
  for (uint32_t i = 0; i < NPS(ft); i++) {
    LLVMValueRef idx = c64(j, i);
    LLVMBuildStore(j->B, get64(f, argoff + 8 * (int32_t)i),
                   LLVMBuildGEP2(j->B, j->t_i64, f->argbuf, &idx, 1, ""));
  }
  LLVMValueRef a[] = {f->ctx, f->inst, fn, f->argbuf};
  set_vbase(f, argoff);
  call_rt(f, WH_RT_CALL, a, 4);
  for (uint32_t i = 0; i < NRS(ft); i++) {
    LLVMValueRef idx = c64(j, i);
    put64(f, argoff + 8 * (int32_t)i,
          LLVMBuildLoad2(j->B, j->t_i64, LLVMBuildGEP2(j->B, j->t_i64, f->argbuf, &idx, 1, ""), ""));
  }
}

static void emit_call_indirect(fx_t *f, const int32_t *w) {
  jit_t *j = f->j;
  LLVMBuilderRef B = j->B;
  const wh_functype_t *ft = j->m->types[(uint32_t)w[0]];
  LLVMValueRef tab = load_fixed_elem(f, load_fixed(f, f->inst, OFF(wh_instance_t, tables)),
                                     (uint32_t)w[1]);
  LLVMValueRef i = rd(f, w[2], TY_i32);
  LLVMValueRef size = load_tag(f, j->t_i32, field_ptr(f, tab, OFF(wh_table_t, size)), j->md_rt, false);
  trap_if(f, LLVMBuildICmp(B, LLVMIntUGE, i, size, ""), WH_TRAP_UNDEFINED_ELEM);
  LLVMValueRef elems = load_tag(f, j->t_ptr, field_ptr(f, tab, OFF(wh_table_t, elems)), j->md_rt, false);
  LLVMValueRef i64 = LLVMBuildZExt(B, i, j->t_i64, "");
  LLVMValueRef fn = load_tag(f, j->t_ptr, LLVMBuildGEP2(B, j->t_ptr, elems, &i64, 1, ""), j->md_rt, false);
  trap_if(f, LLVMBuildIsNull(B, fn, ""), WH_TRAP_INDIRECT_NULL);
  LLVMValueRef want = load_fixed_elem(f, load_fixed(f, load_fixed(f, f->inst, OFF(wh_instance_t, module)),
                                                    OFF(wh_module_t, types)), (uint32_t)w[0]);
  LLVMValueRef got = load_fixed(f, fn, OFF(wh_func_t, type));
  trap_if(f, LLVMBuildICmp(B, LLVMIntNE, got, want, ""), WH_TRAP_INDIRECT_TYPE);
  /* a function of this instance: a direct typed call through wh_ftab */
  LLVMValueRef finst = load_fixed(f, fn, OFF(wh_func_t, inst));
  LLVMBasicBlockRef own = new_bb(f), other = new_bb(f), done = new_bb(f);
  LLVMBuildCondBr(B, LLVMBuildICmp(B, LLVMIntEQ, finst, f->inst, ""), own, other);
  LLVMPositionBuilderAtEnd(B, own);
  LLVMValueRef def = LLVMBuildZExt(B, load_tag(f, j->t_i32, field_ptr(f, fn, OFF(wh_func_t, def)),
                                               j->md_rt, true), j->t_i64, "");
  LLVMValueRef callee = load_tag(f, j->t_ptr, LLVMBuildGEP2(B, j->t_ptr, j->ftab, &def, 1, ""),
                                 j->md_rt, true);
  call_direct(f, direct_type(j, ft), callee, ft, w[3]);
  LLVMBuildBr(B, done);
  LLVMPositionBuilderAtEnd(B, other);
  call_generic(f, fn, ft, w[3]);
  LLVMBuildBr(B, done);
  LLVMPositionBuilderAtEnd(B, done);
}

/* ---- functions --------------------------------------------------------------- */

static inline int32_t rdw(const uint8_t *p) { int32_t v; memcpy(&v, p, 4); return v; }

/* The op at `pos` and its word count, or -1. */
static int op_at(const wh_func_def_t *d, uint32_t pos, uint32_t *words) {
  if (pos + 8 > d->code_len) return -1;
  int op = wh__wop_of_handler(d->code + pos);
  if (op < 0) return -1;
  int n = wh__wop_words[op];
  if (n < 0) {
    if (pos + 16 > d->code_len) return -1;
    n = 2 + rdw(d->code + pos + 12) + 1;
  }
  if (pos + 8 + 4 * (uint64_t)n > d->code_len) return -1;
  *words = (uint32_t)n;
  return op;
}

static void emit_return(fx_t *f) {
  jit_t *j = f->j;
  uint32_t nr = NRS(f->d->ft);
  if (nr == 0) {
    LLVMBuildRetVoid(j->B);
  } else if (nr == 1) {
    LLVMBuildRet(j->B, get64(f, 0));
  } else {
    LLVMValueRef r = LLVMGetUndef(ret_type(j, nr));
    for (uint32_t i = 0; i < nr; i++) r = LLVMBuildInsertValue(j->B, r, get64(f, 8 * (int32_t)i), i, "");
    LLVMBuildRet(j->B, r);
  }
}

static void jump(fx_t *f, uint32_t target) {
  LLVMBuildBr(f->j->B, f->label[target / 4]);
}

static bool target_ok(const fx_t *f, int64_t t) {
  return t >= 0 && t < f->d->code_len && t % 4 == 0;
}

/* Pass 1: branch targets become blocks; slot and argument buffer sizes. */
static int scan(fx_t *f, uint32_t *nslot, uint32_t *nargbuf) {
  const wh_func_def_t *d = f->d;
  const wh_module_t *m = f->j->m;
  *nslot = d->frame_slots > d->nlocals ? d->frame_slots : d->nlocals;
  if (*nslot < NRS(d->ft)) *nslot = NRS(d->ft);
  *nargbuf = 1;
  for (uint32_t pos = 0, words; pos < d->code_len; pos += 8 + 4 * words) {
    int op = op_at(d, pos, &words);
    if (op < 0) return WH_ECORRUPT;
    const uint8_t *w = d->code + pos + 8;
    if (op == WOP_BR_TABLE) {
      for (uint32_t k = 2; k < words; k++) {
        int64_t t = (int64_t)pos + 8 + 4 * k + rdw(w + 4 * k);
        if (!target_ok(f, t)) return WH_ECORRUPT;
        if (!f->label[t / 4]) f->label[t / 4] = new_bb(f);
      }
      continue;
    }
    const char *kinds = ops[op].fam == F_MISC ? wh__wop_kinds[op]
                        : ops[op].fam == F_FUSED ? WH_KINDS_FUSED : "";
    for (uint32_t k = 0; kinds[k]; k++) {
      if (kinds[k] != 'r') continue;
      int64_t t = (int64_t)pos + 8 + 4 * k + rdw(w + 4 * k);
      if (!target_ok(f, t)) return WH_ECORRUPT;
      if (!f->label[t / 4]) f->label[t / 4] = new_bb(f);
    }
    const wh_functype_t *ft = NULL;
    int32_t argoff = 0;
    if (op == WOP_CALL) {
      ft = m->defs[(uint32_t)rdw(w)].ft;
      argoff = rdw(w + 4);
    } else if (op == WOP_CALL_IMPORT) {
      ft = m->types[m->func_types[(uint32_t)rdw(w)]];
      argoff = rdw(w + 4);
    } else if (op == WOP_CALL_INDIRECT) {
      ft = m->types[(uint32_t)rdw(w)];
      argoff = rdw(w + 12);
    }
    if (ft) {
      uint32_t need = NPS(ft) > NRS(ft) ? NPS(ft) : NRS(ft);
      if ((uint32_t)argoff / 8 + need > *nslot) *nslot = (uint32_t)argoff / 8 + need;
      if (need > *nargbuf) *nargbuf = need;
    }
  }
  return 0;
}

static void emit_op(fx_t *f, int op, const int32_t *w, uint32_t pos, uint32_t words) {
  jit_t *j = f->j;
  LLVMBuilderRef B = j->B;
  const opinfo_t *oi = &ops[op];
  switch (oi->fam) {
  case F_BIN: {
    LLVMValueRef a = rd(f, w[1], oi->ti);
    LLVMValueRef b = oi->imm ? imm_of(f, oi->ti, w[2]) : rd(f, w[2], oi->ti);
    wr(f, w[0], oi->to, emit_binop(f, oi->base, oi->ti, a, b));
    return;
  }
  case F_UN:
    wr(f, w[0], oi->to, emit_unop(f, oi->base, oi->ti, oi->to, rd(f, w[1], oi->ti)));
    return;
  case F_LOAD: emit_load(f, oi, w); return;
  case F_STORE: emit_store(f, oi, w); return;
  case F_SIMD:
    if (!emit_simd(f, op, w)) j->unsupported = wh__wop_names[op];
    return;
  case F_FUSED: {
    LLVMValueRef a = rd(f, w[0], oi->ti);
    LLVMValueRef b = oi->imm ? (oi->ti == TY_i32 ? c32(j, (uint32_t)w[1]) : c64(j, (uint64_t)(int64_t)w[1]))
                             : rd(f, w[1], oi->ti);
    LLVMBasicBlockRef next = new_bb(f);
    LLVMBuildCondBr(B, int_cmp(f, oi->base, a, b), f->label[(pos + 16 + w[2]) / 4], next);
    LLVMPositionBuilderAtEnd(B, next);
    return;
  }
  default: break;
  }
  switch (op) {
  case WOP_UNREACHABLE: LLVMBuildBr(B, trap_block(f, WH_TRAP_UNREACHABLE)); return;
  case WOP_BR: jump(f, pos + 8 + (uint32_t)w[0]); return;
  case WOP_BR_IF:
  case WOP_BR_UNLESS: {
    LLVMValueRef c = LLVMBuildICmp(B, op == WOP_BR_IF ? LLVMIntNE : LLVMIntEQ, rd(f, w[0], TY_i32),
                                   c32(j, 0), "");
    LLVMBasicBlockRef next = new_bb(f);
    LLVMBuildCondBr(B, c, f->label[(pos + 12 + (uint32_t)w[1]) / 4], next);
    LLVMPositionBuilderAtEnd(B, next);
    return;
  }
  case WOP_BR_TABLE: {
    uint32_t n = (uint32_t)w[1];
    LLVMValueRef sw = LLVMBuildSwitch(B, rd(f, w[0], TY_i32),
                                      f->label[(pos + 16 + 4 * n + (uint32_t)w[2 + n]) / 4], n);
    for (uint32_t k = 0; k < n; k++)
      LLVMAddCase(sw, c32(j, k), f->label[(pos + 16 + 4 * k + (uint32_t)w[2 + k]) / 4]);
    return;
  }
  case WOP_COPY: put64(f, w[0], get64(f, w[1])); return;
  case WOP_CONST32: put64(f, w[0], c64(j, (uint32_t)w[1])); return;
  case WOP_CONST64:
    put64(f, w[0], c64(j, (uint64_t)(uint32_t)w[1] | ((uint64_t)(uint32_t)w[2] << 32)));
    return;
  case WOP_ENTRY:
  case WOP_LOOP:
    emit_epoch_check(f);
    emit_fuel(f, (uint32_t)w[0]);
    return;
  case WOP_FUEL: emit_fuel(f, (uint32_t)w[0]); return;
  case WOP_CALL: {
    uint32_t di = (uint32_t)w[0];
    call_direct(f, j->fdir_ty[di], j->fdir[di], j->m->defs[di].ft, w[1]);
    return;
  }
  case WOP_CALL_IMPORT: {
    uint32_t fi = (uint32_t)w[0];
    LLVMValueRef fn = load_fixed_elem(f, load_fixed(f, f->inst, OFF(wh_instance_t, funcs)), fi);
    call_generic(f, fn, j->m->types[j->m->func_types[fi]], w[1]);
    return;
  }
  case WOP_CALL_INDIRECT: emit_call_indirect(f, w); return;
  case WOP_RETURN: emit_return(f); return;
  case WOP_SELECT: {
    LLVMValueRef c = LLVMBuildICmp(B, LLVMIntNE, rd(f, w[3], TY_i32), c32(j, 0), "");
    put64(f, w[0], LLVMBuildSelect(B, c, get64(f, w[1]), get64(f, w[2]), ""));
    return;
  }
  case WOP_GLOBAL_GET:
  case WOP_GLOBAL_SET: {
    LLVMValueRef g = load_fixed_elem(f, load_fixed(f, f->inst, OFF(wh_instance_t, globals)),
                                     (uint32_t)w[1]);
    LLVMValueRef p = field_ptr(f, g, OFF(wh_global_t, value));
    if (op == WOP_GLOBAL_GET) {
      put64(f, w[0], load_tag(f, j->t_i64, p, j->md_glob, false));
    } else {
      LLVMValueRef st = LLVMBuildStore(B, get64(f, w[0]), p);
      LLVMSetMetadata(st, j->k_tbaa, j->md_glob);
    }
    return;
  }
  case WOP_GLOBAL_GET128:
  case WOP_GLOBAL_SET128: {   /* value is the low half, value_hi the high */
    LLVMValueRef g = load_fixed_elem(f, load_fixed(f, f->inst, OFF(wh_instance_t, globals)),
                                     (uint32_t)w[1]);
    LLVMValueRef p[2] = {field_ptr(f, g, OFF(wh_global_t, value)),
                         field_ptr(f, g, OFF(wh_global_t, value_hi))};
    for (int h = 0; h < 2; h++) {
      if (op == WOP_GLOBAL_GET128) {
        put64(f, w[0] + 8 * h, load_tag(f, j->t_i64, p[h], j->md_glob, false));
      } else {
        LLVMValueRef st = LLVMBuildStore(B, get64(f, w[0] + 8 * h), p[h]);
        LLVMSetMetadata(st, j->k_tbaa, j->md_glob);
      }
    }
    return;
  }
  case WOP_MEMORY_SIZE:
  case WOP_MEMORY_SIZE_M: {
    LLVMValueRef sz = mem_size(f, op == WOP_MEMORY_SIZE ? 0 : (uint32_t)w[1]);
    put64(f, w[0], LLVMBuildLShr(B, sz, c64(j, 16), ""));
    return;
  }
  case WOP_MEMORY_GROW:
  case WOP_MEMORY_GROW_M: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, op == WOP_MEMORY_GROW ? 0 : (uint32_t)w[2]),
                        rd(f, w[1], TY_i32)};
    wr(f, w[0], TY_i32, call_rt(f, WH_RT_MEMORY_GROW, a, 4));
    return;
  }
  case WOP_MEMORY_FILL: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, 0), rd(f, w[0], TY_i32), rd(f, w[1], TY_i32),
                        rd(f, w[2], TY_i32)};
    call_rt(f, WH_RT_MEMORY_FILL, a, 6);
    return;
  }
  case WOP_MEMORY_FILL_M: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, (uint32_t)w[0]), rd(f, w[1], TY_i32),
                        rd(f, w[2], TY_i32), rd(f, w[3], TY_i32)};
    call_rt(f, WH_RT_MEMORY_FILL, a, 6);
    return;
  }
  case WOP_MEMORY_COPY: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, 0), c32(j, 0), rd(f, w[0], TY_i32),
                        rd(f, w[1], TY_i32), rd(f, w[2], TY_i32)};
    call_rt(f, WH_RT_MEMORY_COPY, a, 7);
    return;
  }
  case WOP_MEMORY_COPY_M: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, (uint32_t)w[0]), c32(j, (uint32_t)w[1]),
                        rd(f, w[2], TY_i32), rd(f, w[3], TY_i32), rd(f, w[4], TY_i32)};
    call_rt(f, WH_RT_MEMORY_COPY, a, 7);
    return;
  }
  case WOP_MEMORY_INIT: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, 0), c32(j, (uint32_t)w[0]), rd(f, w[1], TY_i32),
                        rd(f, w[2], TY_i32), rd(f, w[3], TY_i32)};
    call_rt(f, WH_RT_MEMORY_INIT, a, 7);
    return;
  }
  case WOP_MEMORY_INIT_M: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, (uint32_t)w[0]), c32(j, (uint32_t)w[1]),
                        rd(f, w[2], TY_i32), rd(f, w[3], TY_i32), rd(f, w[4], TY_i32)};
    call_rt(f, WH_RT_MEMORY_INIT, a, 7);
    return;
  }
  case WOP_DATA_DROP: {
    LLVMValueRef dd = load_fixed(f, f->inst, OFF(wh_instance_t, data_dropped));
    LLVMValueRef st = LLVMBuildStore(B, LLVMConstInt(j->t_i8, 1, 0), field_ptr(f, dd, (uint32_t)w[0]));
    LLVMSetMetadata(st, j->k_tbaa, j->md_rt);
    return;
  }
  case WOP_TABLE_GET: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, (uint32_t)w[1]), rd(f, w[2], TY_i32)};
    put64(f, w[0], call_rt(f, WH_RT_TABLE_GET, a, 4));
    return;
  }
  case WOP_TABLE_SET: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, (uint32_t)w[0]), rd(f, w[1], TY_i32), get64(f, w[2])};
    call_rt(f, WH_RT_TABLE_SET, a, 5);
    return;
  }
  case WOP_TABLE_SIZE: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, (uint32_t)w[1])};
    wr(f, w[0], TY_i32, call_rt(f, WH_RT_TABLE_SIZE, a, 3));
    return;
  }
  case WOP_TABLE_GROW: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, (uint32_t)w[1]), get64(f, w[2]), rd(f, w[3], TY_i32)};
    wr(f, w[0], TY_i32, call_rt(f, WH_RT_TABLE_GROW, a, 5));
    return;
  }
  case WOP_TABLE_FILL: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, (uint32_t)w[0]), rd(f, w[1], TY_i32), get64(f, w[2]),
                        rd(f, w[3], TY_i32)};
    call_rt(f, WH_RT_TABLE_FILL, a, 6);
    return;
  }
  case WOP_TABLE_COPY:
  case WOP_TABLE_INIT: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, (uint32_t)w[0]), c32(j, (uint32_t)w[1]),
                        rd(f, w[2], TY_i32), rd(f, w[3], TY_i32), rd(f, w[4], TY_i32)};
    call_rt(f, op == WOP_TABLE_COPY ? WH_RT_TABLE_COPY : WH_RT_TABLE_INIT, a, 7);
    return;
  }
  case WOP_ELEM_DROP: {
    LLVMValueRef a[] = {f->ctx, f->inst, c32(j, (uint32_t)w[0])};
    call_rt(f, WH_RT_ELEM_DROP, a, 3);
    return;
  }
  case WOP_REF_IS_NULL:
    wr(f, w[0], TY_i32, bool32(f, LLVMBuildICmp(B, LLVMIntEQ, get64(f, w[1]), c64(j, 0), "")));
    return;
  case WOP_REF_FUNC: {
    LLVMValueRef fn = load_fixed_elem(f, load_fixed(f, f->inst, OFF(wh_instance_t, funcs)),
                                      (uint32_t)w[1]);
    put64(f, w[0], LLVMBuildPtrToInt(B, fn, j->t_i64, ""));
    return;
  }
  default: break;
  }
  (void)words;
}

/* LLVM's O2 time grows faster than linearly in a function's number of
 * basic blocks (shootout-switch's big function, 4,101 branch targets in
 * 132 KB of wcode: 14.5 s; ed25519's, 10 in 295 KB: about a second), and
 * a tenant chooses the shapes.  A function with more branch targets than
 * NATIVE_OPT_FUNC_BLOCKS is compiled without LLVM's optimizations
 * (optnone: no IR passes, O0 instruction selection and register
 * allocation, time linear in its size; that switch: 0.75 s, its program
 * 0.05 s instead of 0.04 s).
 * LLVM holds the whole module's IR while it compiles: peak memory ~90
 * bytes per byte of wcode at O2 (regex, 1.8 MB of wcode: 235 MB, 72 MB of
 * it the process), ~380 in an optnone function.  A function with more
 * wcode than NATIVE_MAX_FUNC_CODE, or a module with more than
 * NATIVE_MAX_MODULE_CODE (functions over NATIVE_BIG_FUNC_CODE counted four
 * times, as if optnone: ~1.5 GB at the bound), stays interpreted
 * (componentize-js's StarlingMonkey, 10.5 MB of wasm, has 39 MB of
 * wcode). */
#define NATIVE_OPT_FUNC_BLOCKS 1024
#define NATIVE_BIG_FUNC_CODE (64u << 10)
#define NATIVE_MAX_FUNC_CODE (2u << 20)
#define NATIVE_MAX_MODULE_CODE (16u << 20)

static int translate(jit_t *j, uint32_t di) {
  const wh_func_def_t *d = &j->m->defs[di];
  fx_t f = {.j = j, .d = d, .fn = j->fdir[di], .metered = j->m->engine->cfg.fuel};
  int rc = 0;
  LLVMBuilderRef B = j->B;
  f.inst = LLVMGetParam(f.fn, 0);
  f.ctx = LLVMGetParam(f.fn, 1);
  LLVMBasicBlockRef entry = new_bb(&f);
  f.label = calloc(d->code_len / 4 + 1, sizeof *f.label);
  if (!f.label) return WH_ENOMEM;
  uint32_t nargbuf;
  if ((rc = scan(&f, &f.nslot, &nargbuf))) goto done;
  uint32_t nblocks = 0;
  for (uint32_t i = 0; i < d->code_len / 4 + 1; i++) nblocks += f.label[i] != NULL;
  if (nblocks > NATIVE_OPT_FUNC_BLOCKS) {   /* see NATIVE_OPT_FUNC_BLOCKS */
    static const char *const attrs[] = {"optnone", "noinline"};
    for (int k = 0; k < 2; k++)
      LLVMAddAttributeAtIndex(f.fn, LLVMAttributeFunctionIndex,
                              LLVMCreateEnumAttribute(j->C, LLVMGetEnumAttributeKindForName(
                                                                attrs[k], strlen(attrs[k])), 0));
  }
  f.slot = malloc((f.nslot ? f.nslot : 1) * sizeof *f.slot);
  if (!f.slot) {
    rc = WH_ENOMEM;
    goto done;
  }

  /* entry: slots, params, invariant loads, the stack check */
  LLVMPositionBuilderAtEnd(B, entry);
  for (uint32_t i = 0; i < f.nslot; i++) f.slot[i] = LLVMBuildAlloca(B, j->t_i64, "");
  if (!f.nslot) f.slot[0] = LLVMBuildAlloca(B, j->t_i64, "");
  f.argbuf = LLVMBuildArrayAlloca(B, j->t_i64, c32(j, nargbuf), "");
  for (uint32_t i = 0; i < f.nslot; i++)
    LLVMBuildStore(B, i < NPS(d->ft) ? LLVMGetParam(f.fn, NHIDDEN + i) : c64(j, 0), f.slot[i]);
  f.fuelp = load_fixed(&f, f.ctx, OFF(wh_native_ctx_t, fuel));
  f.deadlinep = load_fixed(&f, f.ctx, OFF(wh_native_ctx_t, deadline));
  f.epochp = load_fixed(&f, f.ctx, OFF(wh_native_ctx_t, epoch));
  if (j->m->nmems) {
    f.mem0 = load_fixed(&f, f.inst, OFF(wh_instance_t, mem));
    f.mem0_base = load_fixed(&f, f.mem0, OFF(wh_memory_t, base));
  }
  LLVMValueRef limit = load_tag(&f, j->t_i64, field_ptr(&f, f.ctx, OFF(wh_native_ctx_t, stack_limit)),
                                j->md_rt, true);
  /* the stack pointer, not llvm.frameaddress: that would cost the
   * function its frame-pointer register */
  LLVMValueRef fa = intrinsic(&f, "llvm.stacksave", &j->t_ptr, 1, NULL, 0);
  LLVMValueRef deep = LLVMBuildICmp(B, LLVMIntULT, LLVMBuildPtrToInt(B, fa, j->t_i64, ""), limit, "");
  /* frames counted as the interpreter counts them (this also keeps LLVM
   * from turning recursion into loops that never exhaust the stack), and
   * the value-stack room the interpreter's frame would take; all checked
   * before this frame counts (the interpreter's ENTER), so the trap's
   * ctx->depth is the caller's: one cold block, one branch */
  f.depthp = field_ptr(&f, f.ctx, OFF(wh_native_ctx_t, depth));
  f.frame_at = load_tag(&f, j->t_i64, field_ptr(&f, f.ctx, OFF(wh_native_ctx_t, frame_at)),
                        j->md_rt, true);
  f.rec = LLVMGetParam(f.fn, 2);
  f.vbasep = field_ptr(&f, f.ctx, OFF(wh_native_ctx_t, vbase));
  f.vbase = LLVMGetParam(f.fn, 3);
  deep = LLVMBuildOr(B, deep, LLVMBuildICmp(B, LLVMIntUGE, f.rec, f.frame_at, ""), "");
  LLVMValueRef vlimit = load_tag(&f, j->t_i64, field_ptr(&f, f.ctx, OFF(wh_native_ctx_t, vlimit)),
                                 j->md_rt, true);
  LLVMValueRef vend = LLVMBuildAdd(B, f.vbase, c64(j, d->frame_slots), "");
  deep = LLVMBuildOr(B, deep, LLVMBuildICmp(B, LLVMIntSGT, vend, vlimit, ""), "");
  {
    LLVMBasicBlockRef cur = LLVMGetInsertBlock(B), bb = new_bb(&f);
    LLVMPositionBuilderAtEnd(B, bb);
    LLVMValueRef a[] = {f.ctx, c32(j, WH_TRAP_STACK_EXHAUSTED)};
    LLVMValueRef st = LLVMBuildStore(B, depth_of(&f, f.rec), f.depthp);   /* (rec1 is not set yet) */
    LLVMSetMetadata(st, j->k_tbaa, j->md_rt);
    call_rt(&f, WH_RT_TRAP, a, 2);
    LLVMBuildUnreachable(B);
    LLVMPositionBuilderAtEnd(B, cur);
    cold_if(&f, deep, bb);
  }
  f.rec1 = LLVMBuildAdd(B, f.rec, c64(j, sizeof(wh_frame_t)), "");
  /* (this frame's record for backtraces is written where something can
   * read it: before each call and each helper call, see frame_record) */

  for (uint32_t pos = 0, words; pos < d->code_len; pos += 8 + 4 * words) {
    int op = op_at(d, pos, &words);
    if (op < 0) {
      rc = WH_ECORRUPT;
      goto done;
    }
    LLVMBasicBlockRef lb = f.label[pos / 4];
    if (lb) {
      if (!terminated(&f)) LLVMBuildBr(B, lb);
      LLVMPositionBuilderAtEnd(B, lb);
    } else if (terminated(&f)) {
      LLVMPositionBuilderAtEnd(B, new_bb(&f));   /* unreachable code */
    }
    int32_t w[8];
    const uint8_t *wp = d->code + pos + 8;
    if (op == WOP_BR_TABLE) {
      /* words read straight from the code below */
      uint32_t n = (uint32_t)rdw(wp + 4);
      int32_t *tw = malloc((n + 3) * sizeof *tw);
      if (!tw) {
        rc = WH_ENOMEM;
        goto done;
      }
      for (uint32_t k = 0; k < n + 3; k++) tw[k] = rdw(wp + 4 * k);
      emit_op(&f, op, tw, pos, words);
      free(tw);
      continue;
    }
    for (uint32_t k = 0; k < words && k < 8; k++) w[k] = rdw(wp + 4 * k);
    emit_op(&f, op, w, pos, words);
    if (j->unsupported) {
      rc = WH_EUNSUPPORTED;
      goto done;
    }
  }
  if (!terminated(&f)) emit_return(&f);
done:
  free(f.label);
  free(f.slot);
  return rc;
}

static void build_entry(jit_t *j, uint32_t di) {
  const wh_functype_t *ft = j->m->defs[di].ft;
  char name[32];
  snprintf(name, sizeof name, "wh_e%u", di);
  LLVMTypeRef p[] = {j->t_ptr, j->t_ptr, j->t_ptr};
  LLVMValueRef fn = LLVMAddFunction(j->M, name, LLVMFunctionType(j->t_void, p, 3, 0));
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex,
                          LLVMCreateEnumAttribute(j->C, LLVMGetEnumAttributeKindForName("nounwind", 8), 0));
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, j->strictfp);
  LLVMBuilderRef B = j->B;
  LLVMPositionBuilderAtEnd(B, LLVMAppendBasicBlockInContext(j->C, fn, ""));
  LLVMValueRef slots = LLVMGetParam(fn, 2);
  uint32_t n = NPS(ft) + NHIDDEN;
  LLVMValueRef *a = malloc(n * sizeof *a);
  a[0] = LLVMGetParam(fn, 0);
  a[1] = LLVMGetParam(fn, 1);
  /* the frame count and value-stack base as native_enter or rt_call
   * (for a caller in another native module) left them in ctx */
  LLVMValueRef dp = LLVMBuildGEP2(B, j->t_i8, a[1], (LLVMValueRef[]){c64(j, OFF(wh_native_ctx_t, depth))}, 1, "");
  LLVMValueRef vp = LLVMBuildGEP2(B, j->t_i8, a[1], (LLVMValueRef[]){c64(j, OFF(wh_native_ctx_t, vbase))}, 1, "");
  /* rec = frame_at - depth records */
  LLVMValueRef ap = LLVMBuildGEP2(B, j->t_i8, a[1], (LLVMValueRef[]){c64(j, OFF(wh_native_ctx_t, frame_at))}, 1, "");
  a[2] = LLVMBuildSub(B, LLVMBuildLoad2(B, j->t_i64, ap, ""),
                      LLVMBuildMul(B, LLVMBuildLoad2(B, j->t_i64, dp, ""),
                                   c64(j, sizeof(wh_frame_t)), ""), "");
  a[3] = LLVMBuildLoad2(B, j->t_i64, vp, "");
  for (uint32_t i = 0; i < NPS(ft); i++) {
    LLVMValueRef idx = c64(j, i);
    a[NHIDDEN + i] = LLVMBuildLoad2(B, j->t_i64, LLVMBuildGEP2(B, j->t_i64, slots, &idx, 1, ""), "");
  }
  LLVMValueRef r = LLVMBuildCall2(B, j->fdir_ty[di], j->fdir[di], a, n, "");
  LLVMSetInstructionCallConv(r, TYPED_CC);
  free(a);
  for (uint32_t i = 0; i < NRS(ft); i++) {
    LLVMValueRef idx = c64(j, i);
    LLVMValueRef v = NRS(ft) == 1 ? r : LLVMBuildExtractValue(B, r, i, "");
    LLVMBuildStore(B, v, LLVMBuildGEP2(B, j->t_i64, slots, &idx, 1, ""));
  }
  LLVMBuildRetVoid(B);
}

/* ---- the module ----------------------------------------------------------------- */

static LLVMValueRef md_val(jit_t *j, LLVMMetadataRef md) { return LLVMMetadataAsValue(j->C, md); }

static LLVMMetadataRef tbaa_tag(jit_t *j, LLVMMetadataRef root, const char *name) {
  LLVMMetadataRef zero = LLVMValueAsMetadata(c64(j, 0));
  LLVMMetadataRef t[] = {LLVMMDStringInContext2(j->C, name, strlen(name)), root, zero};
  LLVMMetadataRef type = LLVMMDNodeInContext2(j->C, t, 3);
  LLVMMetadataRef a[] = {type, type, zero};
  return LLVMMDNodeInContext2(j->C, a, 3);
}


EXPORT uint32_t wh_llvm_plugin_abi(void) { return wh__native_plugin_abi(); }

EXPORT int wh_llvm_plugin_compile(const wh_llvm_host_t *h, wh_module_t *m, uint8_t **out,
                                  size_t *out_len, wh_diag_t *diag) {
  atomic_store_explicit(&host, h, memory_order_relaxed);
  pthread_once(&init_once, init_tables);
  *out = NULL;
  *out_len = 0;
  int rc = 0;
  uint32_t ndefs = m->nfuncs - m->nfunc_imports;
  uint64_t weight = 0;
  for (uint32_t i = 0; i < ndefs; i++) {
    uint32_t n = m->defs[i].code_len;
    if (n > NATIVE_MAX_FUNC_CODE)
      return wh_diag_set(diag, WH_EUNSUPPORTED, -1,
                         "function %u has %u bytes of code, over the native tier's %u per "
                         "function; the interpreter runs this module",
                         m->defs[i].index, n, NATIVE_MAX_FUNC_CODE);
    weight += n > NATIVE_BIG_FUNC_CODE ? 4ull * n : n;
  }
  if (weight > NATIVE_MAX_MODULE_CODE)
    return wh_diag_set(diag, WH_EUNSUPPORTED, -1,
                       "the module has %llu bytes of code (functions over %u counted four "
                       "times), over the native tier's %u per module; the interpreter runs it",
                       (unsigned long long)weight, NATIVE_BIG_FUNC_CODE, NATIVE_MAX_MODULE_CODE);
  jit_t J = {.m = m};
  jit_t *j = &J;
  LLVMTargetMachineRef tm = NULL;
  LLVMMemoryBufferRef obj = NULL;
  char *err = NULL;
  j->C = LLVMContextCreate();
  j->M = LLVMModuleCreateWithNameInContext("wharf", j->C);
  j->B = LLVMCreateBuilderInContext(j->C);
  j->t_void = LLVMVoidTypeInContext(j->C);
  j->t_i1 = LLVMInt1TypeInContext(j->C);
  j->t_i8 = LLVMInt8TypeInContext(j->C);
  j->t_i16 = LLVMInt16TypeInContext(j->C);
  j->t_i32 = LLVMInt32TypeInContext(j->C);
  j->t_i64 = LLVMInt64TypeInContext(j->C);
  j->t_f32 = LLVMFloatTypeInContext(j->C);
  j->t_f64 = LLVMDoubleTypeInContext(j->C);
  j->t_ptr = LLVMPointerTypeInContext(j->C, 0);
  j->k_tbaa = LLVMGetMDKindIDInContext(j->C, "tbaa", 4);
  j->k_inv = LLVMGetMDKindIDInContext(j->C, "invariant.load", 14);
  j->k_prof = LLVMGetMDKindIDInContext(j->C, "prof", 4);
  LLVMMetadataRef rootname = LLVMMDStringInContext2(j->C, "wharf tbaa", 10);
  LLVMMetadataRef root = LLVMMDNodeInContext2(j->C, &rootname, 1);
  j->md_mem = md_val(j, tbaa_tag(j, root, "linear memory"));
  j->md_rt = md_val(j, tbaa_tag(j, root, "runtime"));
  j->md_fuel = md_val(j, tbaa_tag(j, root, "fuel"));
  j->md_glob = md_val(j, tbaa_tag(j, root, "global"));
  j->md_empty = md_val(j, LLVMMDNodeInContext2(j->C, NULL, 0));
  LLVMMetadataRef w[] = {LLVMMDStringInContext2(j->C, "branch_weights", 14),
                         LLVMValueAsMetadata(c32(j, 1)), LLVMValueAsMetadata(c32(j, 100000))};
  j->md_unlikely = md_val(j, LLVMMDNodeInContext2(j->C, w, 3));
  j->md_round = md_val(j, LLVMMDStringInContext2(j->C, "round.tonearest", 15));
  j->md_except = md_val(j, LLVMMDStringInContext2(j->C, "fpexcept.maytrap", 16));
  j->strictfp = LLVMCreateEnumAttribute(j->C, LLVMGetEnumAttributeKindForName("strictfp", 8), 0);

  j->fdir = calloc(ndefs ? ndefs : 1, sizeof *j->fdir);
  j->fdir_ty = calloc(ndefs ? ndefs : 1, sizeof *j->fdir_ty);
  if (!j->fdir || !j->fdir_ty) {
    rc = wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    goto done;
  }
  LLVMAttributeRef nounwind =
      LLVMCreateEnumAttribute(j->C, LLVMGetEnumAttributeKindForName("nounwind", 8), 0);

  for (uint32_t i = 0; i < ndefs; i++) {
    char name[32];
    snprintf(name, sizeof name, "f%u", i);
    j->fdir_ty[i] = direct_type(j, m->defs[i].ft);
    j->fdir[i] = LLVMAddFunction(j->M, name, j->fdir_ty[i]);
    LLVMSetLinkage(j->fdir[i], LLVMInternalLinkage);
    LLVMSetFunctionCallConv(j->fdir[i], TYPED_CC);
    LLVMAddAttributeAtIndex(j->fdir[i], LLVMAttributeFunctionIndex, nounwind);
    LLVMAddAttributeAtIndex(j->fdir[i], LLVMAttributeFunctionIndex, j->strictfp);
  }
  LLVMTypeRef tab_ty = LLVMArrayType2(j->t_ptr, ndefs);
  j->ftab = LLVMAddGlobal(j->M, tab_ty, "wh_ftab");
  LLVMSetLinkage(j->ftab, LLVMInternalLinkage);
  LLVMSetGlobalConstant(j->ftab, 1);
  LLVMSetInitializer(j->ftab, LLVMConstArray2(j->t_ptr, j->fdir, ndefs));
  j->defs = LLVMAddGlobal(j->M, j->t_i8, "wh_defs");
  LLVMSetLinkage(j->defs, LLVMExternalLinkage);

  for (uint32_t i = 0; i < ndefs; i++) {
    rc = translate(j, i);
    if (rc == WH_EUNSUPPORTED) {
      rc = wh_diag_set(diag, rc, -1, "the native tier does not compile SIMD op %s yet",
                       j->unsupported);
      goto done;
    }
    if (rc) {
      rc = wh_diag_set(diag, rc, -1, "native tier: cannot translate function %u", m->nfunc_imports + i);
      goto done;
    }
    build_entry(j, i);
  }
  if (LLVMVerifyModule(j->M, LLVMReturnStatusAction, &err)) {
    rc = wh_diag_set(diag, WH_EINVALID, -1, "native tier: bad IR: %.200s", err ? err : "");
    goto done;
  }
  LLVMDisposeMessage(err);
  err = NULL;

  LLVMTargetRef target;
  if (LLVMGetTargetFromTriple(target_triple, &target, &err)) {
    rc = wh_diag_set(diag, WH_EUNSUPPORTED, -1, "native tier: %s", err ? err : "no target");
    goto done;
  }
  tm = LLVMCreateTargetMachine(target, target_triple, cpu_name, cpu_features,
                               LLVMCodeGenLevelDefault, LLVMRelocPIC, LLVMCodeModelDefault);
  if (!tm) {
    rc = wh_diag_set(diag, WH_EUNSUPPORTED, -1, "native tier: cannot create a target machine");
    goto done;
  }
  LLVMTargetDataRef dl = LLVMCreateTargetDataLayout(tm);
  LLVMSetModuleDataLayout(j->M, dl);
  LLVMDisposeTargetData(dl);
  LLVMSetTarget(j->M, target_triple);
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMErrorRef perr = LLVMRunPasses(j->M, "default<O2>", tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (perr) {
    char *msg = LLVMGetErrorMessage(perr);
    rc = wh_diag_set(diag, WH_EINVALID, -1, "native tier: passes failed: %.200s", msg);
    LLVMDisposeErrorMessage(msg);
    goto done;
  }
  if (LLVMTargetMachineEmitToMemoryBuffer(tm, j->M, LLVMObjectFile, &err, &obj)) {
    rc = wh_diag_set(diag, WH_EINVALID, -1, "native tier: code generation failed: %.200s",
                     err ? err : "");
    goto done;
  }
  size_t len = LLVMGetBufferSize(obj);
  if (!(*out = malloc(len ? len : 1))) {
    rc = wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    goto done;
  }
  memcpy(*out, LLVMGetBufferStart(obj), len);
  *out_len = len;
done:
  if (err) LLVMDisposeMessage(err);
  if (obj) LLVMDisposeMemoryBuffer(obj);
  if (tm) LLVMDisposeTargetMachine(tm);
  LLVMDisposeBuilder(j->B);
  LLVMDisposeModule(j->M);
  LLVMContextDispose(j->C);
  free(j->fdir);
  free(j->fdir_ty);
  return rc;
}
