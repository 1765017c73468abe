/*
 * interp_simd.c - the interpreter's SIMD ops (wcode.h's V_<NAME>), out of
 * the dispatch loop.
 *
 * Each row of simd.h gets one function here, wh_vm__simd_fns[WH_SOP_<NAME>],
 * which reads its operand words, computes the lanes (simd_lanes.h) and
 * returns the op's length, or 0 for an out-of-bounds access.  interp.c's
 * case for a V_ op names the row and jumps to the call site of its form
 * (simd.h), one per form, each with its own dispatch:
 *
 *   L_V_I8X16_SHUFFLE:  sop = WH_SOP_I8X16_SHUFFLE; goto simd_SHUF;
 *   ...
 *   simd_SHUF:          if (!wh_vm__simd_fns[sop](fp, ip, inst))
 *                         trap "out of bounds memory access";
 *                       ip += 8 + 4 * 7; dispatch
 *
 * so the wcode encoding (one handler cell per op, threaded to its own
 * label) is unchanged, and the scalar handlers are untouched.  A few ops
 * that dominate vector loops (interp.c's SIMD_INLINE) are computed in the
 * loop itself and never come here, though their functions exist too.
 *
 * Why out of line: with the 236 handlers and their inlined lane loops in
 * the computed-goto function, clang 14 with -fsanitize=address,undefined
 * spent 335 s of CPU on interp.c (tests/fuzz/run-fuzz.sh's build; 69 s
 * now); each function here is small and this file compiles in 4 s.
 * The cost is a call per SIMD op outside the inline set.
 *
 * Operands (wcode.h, "SIMD ops"): a v128 is the slot pair at its byte
 * offset from fp, low half first, read and written with memcpy (slots are
 * 8-byte aligned only).  Lane immediates are masked to the shape: the
 * validator has checked them, and the mask keeps a corrupt serialized
 * blob's lane word inside the vector, as the shuffle's does.
 */
#include <string.h>

#include "engine_int.h"
#include "interp_num.h"
#include "simd_lanes.h"
#include "wcode.h"

static inline int32_t rdw(const uint8_t *p) {
  int32_t v;
  memcpy(&v, p, 4);
  return v;
}
static inline wh_v128_t vrd(const uint64_t *fp, int32_t off) {
  wh_v128_t v;
  memcpy(&v, (const uint8_t *)fp + off, 16);
  return v;
}
static inline void vwr(uint64_t *fp, int32_t off, wh_v128_t v) {
  memcpy((uint8_t *)fp + off, &v, 16);
}

#define W(n) rdw(ip + 8 + 4 * (n))
#define S(off) (*(uint64_t *)((uint8_t *)fp + (off)))
#define VRD(off) vrd(fp, (off))
#define VWR(off, v) vwr(fp, (off), (v))

/* The effective address of a memory form (address slot pw, memarg offset
 * word ow, memory word mw) for an access of `width` bytes; an out of
 * bounds access returns 0 before anything is written. */
#define SIMD_EA(pw, ow, mw, width)                                            \
  const wh_memory_t *mm = inst->mems[W(mw)];                                  \
  uint64_t ea = (uint64_t)(uint32_t)S(W(pw)) + (uint32_t)W(ow);              \
  if (ea + (width) > mm->size) return 0;

/* One statement list per form (simd.h); n is the row's last column. */
#define SIMD_DO_LOAD(name, n)                                                 \
  SIMD_EA(1, 2, 3, 1u << (n)) VWR(W(0), wh_simd_##name(mm->base + ea));
#define SIMD_DO_STORE(name, n)                                                \
  SIMD_EA(0, 2, 3, 16) wh_simd_V128_STORE(mm->base + ea, VRD(W(1)));
#define SIMD_DO_LLANE(name, n)                                                \
  SIMD_EA(1, 3, 4, 1u << (n))                                                 \
  VWR(W(0), wh_simd_load_lane(mm->base + ea, VRD(W(2)), 1u << (n),          \
                              (uint32_t)W(5) & ((16u >> (n)) - 1)));
#define SIMD_DO_SLANE(name, n)                                                \
  SIMD_EA(0, 2, 3, 1u << (n))                                                 \
  wh_simd_store_lane(mm->base + ea, VRD(W(1)), 1u << (n),                    \
                     (uint32_t)W(4) & ((16u >> (n)) - 1));
#define SIMD_DO_CONST(name, n) memcpy((uint8_t *)fp + W(0), ip + 12, 16);
#define SIMD_DO_SHUF(name, n)                                                 \
  VWR(W(0), wh_simd_shuffle(VRD(W(1)), VRD(W(2)), ip + 20));
#define SIMD_DO_SPLAT(name, n) VWR(W(0), wh_simd_##name(S(W(1))));
#define SIMD_DO_EXTRACT(name, n)                                              \
  S(W(0)) = wh_simd_##name(VRD(W(1)), (uint32_t)W(2) & ((n) - 1));
#define SIMD_DO_REPLACE(name, n)                                              \
  VWR(W(0), wh_simd_##name(VRD(W(1)), S(W(2)), (uint32_t)W(3) & ((n) - 1)));
#define SIMD_DO_UN(name, n) VWR(W(0), wh_simd_##name(VRD(W(1))));
#define SIMD_DO_BIN(name, n) VWR(W(0), wh_simd_##name(VRD(W(1)), VRD(W(2))));
#define SIMD_DO_TERN(name, n)                                                 \
  VWR(W(0), wh_simd_##name(VRD(W(1)), VRD(W(2)), VRD(W(3))));
#define SIMD_DO_TEST(name, n) S(W(0)) = wh_simd_##name(VRD(W(1)));
#define SIMD_DO_SHIFT(name, n)                                                \
  VWR(W(0), wh_simd_##name(VRD(W(1)), (uint32_t)S(W(2))));

#define WH__SIMD_FN(name, sub, form, t, n)                                    \
  static uint32_t op_##name(uint64_t *fp, const uint8_t *ip,                  \
                            const struct wh_instance *inst) {                 \
    (void)inst;                                                               \
    SIMD_DO_##form(name, n)                                                   \
    return 8 + 4 * (uint32_t)(sizeof WH_KINDS_SIMD_##form - 1);               \
  }
WH_SIMD_OPS(WH__SIMD_FN)
#undef WH__SIMD_FN

wh_vm__simd_fn *const wh_vm__simd_fns[WH_SOP__COUNT] = {
#define WH__SIMD_ROW(name, sub, form, t, n) [WH_SOP_##name] = op_##name,
    WH_SIMD_OPS(WH__SIMD_ROW)
#undef WH__SIMD_ROW
};
