/*
 * native_llvm.c - the native tier's compiler: each function's wcode (the
 * interpreter's validated register code, wcode.h) -> LLVM IR -> O2 -> an
 * x86-64 ELF object in memory, then loaded by native_load.c.
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
 */
#include <llvm-c/Analysis.h>
#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"
#include "wcode.h"

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
} opinfo_t;

enum { F_MISC, F_BIN, F_UN, F_LOAD, F_STORE, F_FUSED, F_SIMD };

static opinfo_t ops[WOP__COUNT];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static char cpu_name[128], cpu_features[4096], cpu_id[160];
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
#define SI(name, sub, form, t, n) ops[WOP_V_##name].fam = F_SIMD;
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
  uint32_t h = 2166136261u;
  for (const char *p = cpu_features; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  snprintf(cpu_id, sizeof cpu_id, "%s/%08x/llvm%d", cpu_name, h, 19);
}

bool wh__native_available(void) { return true; }

const char *wh__native_cpu_id(void) {
  pthread_once(&init_once, init_tables);
  return cpu_id;
}

/* ---- the module being built -------------------------------------------- */

typedef struct jit {
  wh_module_t *m;
  LLVMContextRef C;
  LLVMModuleRef M;
  LLVMBuilderRef B;
  LLVMTypeRef t_void, t_i1, t_i8, t_i32, t_i64, t_f32, t_f64, t_ptr;
  LLVMValueRef *fdir;       /* per def: the typed function */
  LLVMTypeRef *fdir_ty;
  LLVMValueRef ftab;        /* [ndefs x ptr] of fdir */
  unsigned k_tbaa, k_inv, k_prof;
  LLVMValueRef md_mem, md_rt, md_fuel, md_glob, md_empty, md_unlikely;
  LLVMValueRef md_round, md_except;   /* constrained FP operands */
  LLVMAttributeRef strictfp;
} jit_t;

/* Offsets baked into the code (see wh__native_layout_hash). */
#define OFF(type, field) ((uint64_t)offsetof(type, field))

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
  LLVMValueRef fuelp, deadlinep, epochp, rt, mem0, mem0_base;
  LLVMValueRef depthp, depth;   /* &ctx->depth, its value at entry */
  LLVMValueRef vbasep, vbase;   /* &ctx->vbase, this frame's (at entry) */
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

static LLVMValueRef call_rt(fx_t *f, int h, LLVMValueRef *args, unsigned n) {
  jit_t *j = f->j;
  LLVMValueRef fp = load_tag(f, j->t_ptr, field_ptr(f, f->rt, (uint64_t)h * 8), j->md_rt, true);
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
  if (k) ea = LLVMBuildAdd(j->B, ea, c64(j, k), "");
  LLVMValueRef end = LLVMBuildAdd(j->B, ea, c64(j, bytes), "");
  trap_if(f, LLVMBuildICmp(j->B, LLVMIntUGT, end, size, ""), WH_TRAP_MEM_OOB);
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

/* min/max exactly as the interpreter: NaN if either is (a + b), -0 < +0 */
static LLVMValueRef fminmax(fx_t *f, LLVMValueRef a, LLVMValueRef b, int t, bool max) {
  jit_t *j = f->j;
  LLVMBuilderRef B = j->B;
  LLVMTypeRef it = t == TY_f32 ? j->t_i32 : j->t_i64;
  LLVMValueRef uno = LLVMBuildFCmp(B, LLVMRealUNO, a, b, "");
  LLVMValueRef sum = fp_strict(f, "fadd", LLVMTypeOf(a), NULL, a, b);
  LLVMValueRef eq = LLVMBuildFCmp(B, LLVMRealOEQ, a, b, "");
  LLVMValueRef neg = LLVMBuildICmp(B, LLVMIntSLT, LLVMBuildBitCast(B, a, it, ""),
                                   LLVMConstInt(it, 0, 0), "");
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
  case WOP_F32_MIN: case WOP_F64_MIN: return fminmax(f, a, b, t, false);
  case WOP_F32_MAX: case WOP_F64_MAX: return fminmax(f, a, b, t, true);
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

static LLVMTypeRef direct_type(jit_t *j, const wh_functype_t *ft) {
  uint32_t n = ft->nparams + 2;
  LLVMTypeRef *p = malloc(n * sizeof *p);
  p[0] = p[1] = j->t_ptr;
  for (uint32_t i = 0; i < ft->nparams; i++) p[2 + i] = j->t_i64;
  LLVMTypeRef t = LLVMFunctionType(ret_type(j, ft->nresults), p, n, 0);
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
  uint32_t n = ft->nparams + 2;
  LLVMValueRef *a = malloc(n * sizeof *a);
  a[0] = f->inst;
  a[1] = f->ctx;
  for (uint32_t i = 0; i < ft->nparams; i++) a[2 + i] = get64(f, argoff + 8 * (int32_t)i);
  set_vbase(f, argoff);
  LLVMValueRef r = LLVMBuildCall2(j->B, fty, callee, a, n, "");
  free(a);
  if (ft->nresults == 1) put64(f, argoff, r);
  else
    for (uint32_t i = 0; i < ft->nresults; i++)
      put64(f, argoff + 8 * (int32_t)i, LLVMBuildExtractValue(j->B, r, i, ""));
}

/* Calls any wh_func_t through the runtime (imports, foreign functions). */
static void call_generic(fx_t *f, LLVMValueRef fn, const wh_functype_t *ft, int32_t argoff) {
  jit_t *j = f->j;
  for (uint32_t i = 0; i < ft->nparams; i++) {
    LLVMValueRef idx = c64(j, i);
    LLVMBuildStore(j->B, get64(f, argoff + 8 * (int32_t)i),
                   LLVMBuildGEP2(j->B, j->t_i64, f->argbuf, &idx, 1, ""));
  }
  LLVMValueRef a[] = {f->ctx, f->inst, fn, f->argbuf};
  set_vbase(f, argoff);
  call_rt(f, WH_RT_CALL, a, 4);
  for (uint32_t i = 0; i < ft->nresults; i++) {
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
  uint32_t nr = f->d->ft->nresults;
  LLVMValueRef st = LLVMBuildStore(j->B, f->depth, f->depthp);
  LLVMSetMetadata(st, j->k_tbaa, j->md_rt);
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
  if (*nslot < d->ft->nresults) *nslot = d->ft->nresults;
  *nargbuf = 1;
  for (uint32_t pos = 0, words; pos < d->code_len; pos += 8 + 4 * words) {
    int op = op_at(d, pos, &words);
    if (op < 0) return WH_ECORRUPT;
    const uint8_t *w = d->code + pos + 8;
    if (ops[op].fam == F_SIMD || op == WOP_GLOBAL_GET128 || op == WOP_GLOBAL_SET128)
      return WH_EUNSUPPORTED;
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
      uint32_t need = ft->nparams > ft->nresults ? ft->nparams : ft->nresults;
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
    LLVMBuildStore(B, i < d->ft->nparams ? LLVMGetParam(f.fn, 2 + i) : c64(j, 0), f.slot[i]);
  f.fuelp = load_fixed(&f, f.ctx, OFF(wh_native_ctx_t, fuel));
  f.deadlinep = load_fixed(&f, f.ctx, OFF(wh_native_ctx_t, deadline));
  f.epochp = load_fixed(&f, f.ctx, OFF(wh_native_ctx_t, epoch));
  f.rt = load_fixed(&f, f.ctx, OFF(wh_native_ctx_t, rt));
  if (j->m->nmems) {
    f.mem0 = load_fixed(&f, f.inst, OFF(wh_instance_t, mem));
    f.mem0_base = load_fixed(&f, f.mem0, OFF(wh_memory_t, base));
  }
  LLVMValueRef limit = load_tag(&f, j->t_i64, field_ptr(&f, f.ctx, OFF(wh_native_ctx_t, stack_limit)),
                                j->md_rt, true);
  LLVMValueRef zero = c32(j, 0);
  LLVMValueRef fa = intrinsic(&f, "llvm.frameaddress", &j->t_ptr, 1, &zero, 1);
  trap_if(&f, LLVMBuildICmp(B, LLVMIntULT, LLVMBuildPtrToInt(B, fa, j->t_i64, ""), limit, ""),
          WH_TRAP_STACK_EXHAUSTED);
  /* frames counted as the interpreter counts them (this also keeps LLVM
   * from turning recursion into loops that never exhaust the stack) */
  f.depthp = field_ptr(&f, f.ctx, OFF(wh_native_ctx_t, depth));
  f.depth = load_tag(&f, j->t_i64, f.depthp, j->md_rt, false);
  trap_if(&f, LLVMBuildICmp(B, LLVMIntSLE, f.depth, c64(j, 0), ""), WH_TRAP_STACK_EXHAUSTED);
  LLVMValueRef st = LLVMBuildStore(B, LLVMBuildSub(B, f.depth, c64(j, 1), ""), f.depthp);
  LLVMSetMetadata(st, j->k_tbaa, j->md_rt);
  f.vbasep = field_ptr(&f, f.ctx, OFF(wh_native_ctx_t, vbase));
  f.vbase = load_tag(&f, j->t_i64, f.vbasep, j->md_rt, false);
  LLVMValueRef vlimit = load_tag(&f, j->t_i64, field_ptr(&f, f.ctx, OFF(wh_native_ctx_t, vlimit)),
                                 j->md_rt, true);
  LLVMValueRef vend = LLVMBuildAdd(B, f.vbase, c64(j, d->frame_slots), "");
  trap_if(&f, LLVMBuildICmp(B, LLVMIntSGT, vend, vlimit, ""), WH_TRAP_STACK_EXHAUSTED);

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
  uint32_t n = ft->nparams + 2;
  LLVMValueRef *a = malloc(n * sizeof *a);
  a[0] = LLVMGetParam(fn, 0);
  a[1] = LLVMGetParam(fn, 1);
  for (uint32_t i = 0; i < ft->nparams; i++) {
    LLVMValueRef idx = c64(j, i);
    a[2 + i] = LLVMBuildLoad2(B, j->t_i64, LLVMBuildGEP2(B, j->t_i64, slots, &idx, 1, ""), "");
  }
  LLVMValueRef r = LLVMBuildCall2(B, j->fdir_ty[di], j->fdir[di], a, n, "");
  free(a);
  for (uint32_t i = 0; i < ft->nresults; i++) {
    LLVMValueRef idx = c64(j, i);
    LLVMValueRef v = ft->nresults == 1 ? r : LLVMBuildExtractValue(B, r, i, "");
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

static bool uses_v128(const wh_module_t *m) {
  for (uint32_t i = 0; i < m->ntypes; i++) {
    const wh_functype_t *t = m->types[i];
    for (uint32_t k = 0; k < t->nparams + t->nresults; k++)
      if (t->types[k] == WH_V128) return true;
  }
  for (uint32_t i = 0; i < m->nglobals; i++)
    if (m->globals[i].type == WH_V128) return true;
  return false;
}

int wh__native_compile(wh_module_t *m, wh_diag_t *diag) {
  pthread_once(&init_once, init_tables);
  if (uses_v128(m))
    return wh_diag_set(diag, WH_EUNSUPPORTED, -1,
                       "the native tier does not compile SIMD (v128) yet");
  int rc = 0;
  uint32_t ndefs = m->nfuncs - m->nfunc_imports;
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
    LLVMAddAttributeAtIndex(j->fdir[i], LLVMAttributeFunctionIndex, nounwind);
    LLVMAddAttributeAtIndex(j->fdir[i], LLVMAttributeFunctionIndex, j->strictfp);
  }
  LLVMTypeRef tab_ty = LLVMArrayType2(j->t_ptr, ndefs);
  j->ftab = LLVMAddGlobal(j->M, tab_ty, "wh_ftab");
  LLVMSetLinkage(j->ftab, LLVMInternalLinkage);
  LLVMSetGlobalConstant(j->ftab, 1);
  LLVMSetInitializer(j->ftab, LLVMConstArray2(j->t_ptr, j->fdir, ndefs));

  for (uint32_t i = 0; i < ndefs; i++) {
    rc = translate(j, i);
    if (rc == WH_EUNSUPPORTED) {
      rc = wh_diag_set(diag, rc, -1, "the native tier does not compile SIMD (v128) yet");
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
  rc = wh__native_load(m, (const uint8_t *)LLVMGetBufferStart(obj), LLVMGetBufferSize(obj), diag);
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
