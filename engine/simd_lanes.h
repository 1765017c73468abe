/*
 * simd_lanes.h - what each SIMD instruction (simd.h) computes, lane by
 * lane: one static inline function per row, wh_simd_<NAME>, included by
 * interp_simd.c (every row) and interp.c (the few it runs inline), after
 * interp_num.h's scalar helpers, which the float lanes share so that NaN,
 * -0 and saturation behave exactly as the scalar ops do.
 *
 * This is the portable path: plain loops over the lanes of a union, which
 * GCC and clang vectorise for the simple shapes.  A v128 in a frame is two
 * 64-bit slots, low half first (docs/ENGINE.md), read and written with
 * memcpy, so lanes are in memory order (lane 0 = lowest address).
 *
 * Signatures by form (simd.h):
 *   UN v(v)  BIN v(v,v)  TERN v(v,v,v)  TEST u32(v)  SHIFT v(v,u32)
 *   SPLAT v(u64 slot)    EXTRACT u64(v,lane)  REPLACE v(v,u64,lane)
 *   LOAD v(const u8 *)   STORE (u8 *,v)  LLANE v(const u8 *,v,lane)
 *   SLANE (u8 *,v,lane)
 */
#ifndef WH_SIMD_LANES_H
#define WH_SIMD_LANES_H

#include <stdint.h>
#include <string.h>

#include "interp_num.h"

typedef union wh_v128 {
  uint8_t u8[16];
  int8_t i8[16];
  uint16_t u16[8];
  int16_t i16[8];
  uint32_t u32[4];
  int32_t i32[4];
  uint64_t u64[2];
  int64_t i64[2];
  float f32[4];
  double f64[2];
} wh_v128_t;

/* ---- saturation ---------------------------------------------------------- */

static inline int8_t wh_sat_s8(int32_t v) {
  return (int8_t)(v < -128 ? -128 : v > 127 ? 127 : v);
}
static inline uint8_t wh_sat_u8(int32_t v) {
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}
static inline int16_t wh_sat_s16(int32_t v) {
  return (int16_t)(v < -32768 ? -32768 : v > 32767 ? 32767 : v);
}
static inline uint16_t wh_sat_u16(int32_t v) {
  return (uint16_t)(v < 0 ? 0 : v > 65535 ? 65535 : v);
}

/* ---- generators ------------------------------------------------------------ */

/* r.F[i] = EXPR over a (= A.F[i]) */
#define WH__SIMD_UN(NAME, F, N, EXPR)                                         \
  static inline wh_v128_t wh_simd_##NAME(wh_v128_t A) {                       \
    wh_v128_t R;                                                              \
    for (int i = 0; i < (N); i++) {                                           \
      __typeof__(A.F[0]) a = A.F[i];                                          \
      R.F[i] = (__typeof__(R.F[0]))(EXPR);                                    \
    }                                                                         \
    return R;                                                                 \
  }
/* r.F[i] = EXPR over a = A.F[i], b = B.F[i] */
#define WH__SIMD_BIN(NAME, F, N, EXPR)                                        \
  static inline wh_v128_t wh_simd_##NAME(wh_v128_t A, wh_v128_t B) {          \
    wh_v128_t R;                                                              \
    for (int i = 0; i < (N); i++) {                                           \
      __typeof__(A.F[0]) a = A.F[i], b = B.F[i];                              \
      R.F[i] = (__typeof__(R.F[0]))(EXPR);                                    \
    }                                                                         \
    return R;                                                                 \
  }
/* comparisons: lanes F of the operands, all-ones / zero lanes M */
#define WH__SIMD_CMP(NAME, F, M, N, OP)                                       \
  static inline wh_v128_t wh_simd_##NAME(wh_v128_t A, wh_v128_t B) {          \
    wh_v128_t R;                                                              \
    for (int i = 0; i < (N); i++)                                             \
      R.M[i] = A.F[i] OP B.F[i] ? (__typeof__(R.M[0]))~0ull : 0;              \
    return R;                                                                 \
  }
/* shifts: the count is taken modulo the lane width */
#define WH__SIMD_SHIFT(NAME, F, N, BITS, OP)                                  \
  static inline wh_v128_t wh_simd_##NAME(wh_v128_t A, uint32_t s) {           \
    wh_v128_t R;                                                              \
    s &= (BITS) - 1;                                                          \
    for (int i = 0; i < (N); i++) R.F[i] = (__typeof__(R.F[0]))(A.F[i] OP s); \
    return R;                                                                 \
  }
/* widening from half-lanes SF (starting at lane OFF) to lanes DF */
#define WH__SIMD_EXTEND(NAME, DF, SF, N, OFF)                                 \
  static inline wh_v128_t wh_simd_##NAME(wh_v128_t A) {                       \
    wh_v128_t R;                                                              \
    for (int i = 0; i < (N); i++) R.DF[i] = A.SF[(OFF) + i];                  \
    return R;                                                                 \
  }
#define WH__SIMD_EXTMUL(NAME, DF, SF, N, OFF)                                 \
  static inline wh_v128_t wh_simd_##NAME(wh_v128_t A, wh_v128_t B) {          \
    wh_v128_t R;                                                              \
    for (int i = 0; i < (N); i++)                                             \
      R.DF[i] = (__typeof__(R.DF[0]))A.SF[(OFF) + i] *                        \
                (__typeof__(R.DF[0]))B.SF[(OFF) + i];                         \
    return R;                                                                 \
  }
#define WH__SIMD_EXTADD(NAME, DF, SF, N)                                      \
  static inline wh_v128_t wh_simd_##NAME(wh_v128_t A) {                       \
    wh_v128_t R;                                                              \
    for (int i = 0; i < (N); i++)                                             \
      R.DF[i] = (__typeof__(R.DF[0]))((__typeof__(R.DF[0]))A.SF[2 * i] +      \
                                      (__typeof__(R.DF[0]))A.SF[2 * i + 1]);  \
    return R;                                                                 \
  }
/* narrowing with saturation: A's lanes, then B's */
#define WH__SIMD_NARROW(NAME, DF, SF, N, SAT)                                 \
  static inline wh_v128_t wh_simd_##NAME(wh_v128_t A, wh_v128_t B) {          \
    wh_v128_t R;                                                              \
    for (int i = 0; i < (N); i++) {                                           \
      R.DF[i] = SAT(A.SF[i]);                                                 \
      R.DF[(N) + i] = SAT(B.SF[i]);                                           \
    }                                                                         \
    return R;                                                                 \
  }
#define WH__SIMD_TESTS(P, F, N)                                               \
  static inline uint32_t wh_simd_##P##_ALL_TRUE(wh_v128_t A) {                \
    for (int i = 0; i < (N); i++)                                             \
      if (!A.F[i]) return 0;                                                  \
    return 1;                                                                 \
  }                                                                           \
  static inline uint32_t wh_simd_##P##_BITMASK(wh_v128_t A) {                 \
    uint32_t m = 0;                                                           \
    for (int i = 0; i < (N); i++) m |= (uint32_t)(A.F[i] < 0) << i;           \
    return m;                                                                 \
  }
#define WH__SIMD_LANES(P, F, N, SLOT_TO, TO_SLOT)                             \
  static inline wh_v128_t wh_simd_##P##_SPLAT(uint64_t x) {                   \
    wh_v128_t R;                                                              \
    for (int i = 0; i < (N); i++) R.F[i] = SLOT_TO(x);                        \
    return R;                                                                 \
  }                                                                           \
  static inline wh_v128_t wh_simd_##P##_REPLACE_LANE(wh_v128_t A, uint64_t x, \
                                                     uint32_t l) {            \
    A.F[l] = SLOT_TO(x);                                                      \
    return A;                                                                 \
  }                                                                           \
  static inline uint64_t wh_simd_##P##_EXTRACT(wh_v128_t A, uint32_t l) {     \
    return TO_SLOT(A.F[l]);                                                   \
  }

static inline float wh__slot_f32(uint64_t x) {
  float f;
  uint32_t u = (uint32_t)x;
  memcpy(&f, &u, 4);
  return f;
}
static inline double wh__slot_f64(uint64_t x) {
  double f;
  memcpy(&f, &x, 8);
  return f;
}
static inline uint64_t wh__f32_slot(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static inline uint64_t wh__f64_slot(double f) {
  uint64_t u;
  memcpy(&u, &f, 8);
  return u;
}
#define WH__ID(x) (x)

/* ---- splat, extract, replace ------------------------------------------- */

WH__SIMD_LANES(I8X16, u8, 16, (uint8_t), (uint64_t))
WH__SIMD_LANES(I16X8, u16, 8, (uint16_t), (uint64_t))
WH__SIMD_LANES(I32X4, u32, 4, (uint32_t), (uint64_t))
WH__SIMD_LANES(I64X2, u64, 2, WH__ID, WH__ID)
WH__SIMD_LANES(F32X4, f32, 4, wh__slot_f32, wh__f32_slot)
WH__SIMD_LANES(F64X2, f64, 2, wh__slot_f64, wh__f64_slot)

static inline uint64_t wh_simd_I8X16_EXTRACT_LANE_S(wh_v128_t A, uint32_t l) {
  return (uint32_t)(int32_t)A.i8[l];
}
static inline uint64_t wh_simd_I8X16_EXTRACT_LANE_U(wh_v128_t A, uint32_t l) {
  return A.u8[l];
}
static inline uint64_t wh_simd_I16X8_EXTRACT_LANE_S(wh_v128_t A, uint32_t l) {
  return (uint32_t)(int32_t)A.i16[l];
}
static inline uint64_t wh_simd_I16X8_EXTRACT_LANE_U(wh_v128_t A, uint32_t l) {
  return A.u16[l];
}
#define wh_simd_I32X4_EXTRACT_LANE wh_simd_I32X4_EXTRACT
#define wh_simd_I64X2_EXTRACT_LANE wh_simd_I64X2_EXTRACT
#define wh_simd_F32X4_EXTRACT_LANE wh_simd_F32X4_EXTRACT
#define wh_simd_F64X2_EXTRACT_LANE wh_simd_F64X2_EXTRACT

/* ---- shuffles ---------------------------------------------------------- */

static inline wh_v128_t wh_simd_I8X16_SWIZZLE(wh_v128_t A, wh_v128_t B) {
  wh_v128_t R;
  for (int i = 0; i < 16; i++) R.u8[i] = B.u8[i] < 16 ? A.u8[B.u8[i]] : 0;
  return R;
}
/* lanes: 16 indices below 32 (checked by the validator and the loader) */
static inline wh_v128_t wh_simd_shuffle(wh_v128_t A, wh_v128_t B,
                                        const uint8_t *lanes) {
  wh_v128_t R;
  for (int i = 0; i < 16; i++) {
    uint8_t l = lanes[i] & 31;
    R.u8[i] = l < 16 ? A.u8[l] : B.u8[l - 16];
  }
  return R;
}

/* ---- comparisons --------------------------------------------------------- */

WH__SIMD_CMP(I8X16_EQ, u8, u8, 16, ==)
WH__SIMD_CMP(I8X16_NE, u8, u8, 16, !=)
WH__SIMD_CMP(I8X16_LT_S, i8, u8, 16, <)
WH__SIMD_CMP(I8X16_LT_U, u8, u8, 16, <)
WH__SIMD_CMP(I8X16_GT_S, i8, u8, 16, >)
WH__SIMD_CMP(I8X16_GT_U, u8, u8, 16, >)
WH__SIMD_CMP(I8X16_LE_S, i8, u8, 16, <=)
WH__SIMD_CMP(I8X16_LE_U, u8, u8, 16, <=)
WH__SIMD_CMP(I8X16_GE_S, i8, u8, 16, >=)
WH__SIMD_CMP(I8X16_GE_U, u8, u8, 16, >=)
WH__SIMD_CMP(I16X8_EQ, u16, u16, 8, ==)
WH__SIMD_CMP(I16X8_NE, u16, u16, 8, !=)
WH__SIMD_CMP(I16X8_LT_S, i16, u16, 8, <)
WH__SIMD_CMP(I16X8_LT_U, u16, u16, 8, <)
WH__SIMD_CMP(I16X8_GT_S, i16, u16, 8, >)
WH__SIMD_CMP(I16X8_GT_U, u16, u16, 8, >)
WH__SIMD_CMP(I16X8_LE_S, i16, u16, 8, <=)
WH__SIMD_CMP(I16X8_LE_U, u16, u16, 8, <=)
WH__SIMD_CMP(I16X8_GE_S, i16, u16, 8, >=)
WH__SIMD_CMP(I16X8_GE_U, u16, u16, 8, >=)
WH__SIMD_CMP(I32X4_EQ, u32, u32, 4, ==)
WH__SIMD_CMP(I32X4_NE, u32, u32, 4, !=)
WH__SIMD_CMP(I32X4_LT_S, i32, u32, 4, <)
WH__SIMD_CMP(I32X4_LT_U, u32, u32, 4, <)
WH__SIMD_CMP(I32X4_GT_S, i32, u32, 4, >)
WH__SIMD_CMP(I32X4_GT_U, u32, u32, 4, >)
WH__SIMD_CMP(I32X4_LE_S, i32, u32, 4, <=)
WH__SIMD_CMP(I32X4_LE_U, u32, u32, 4, <=)
WH__SIMD_CMP(I32X4_GE_S, i32, u32, 4, >=)
WH__SIMD_CMP(I32X4_GE_U, u32, u32, 4, >=)
WH__SIMD_CMP(I64X2_EQ, u64, u64, 2, ==)
WH__SIMD_CMP(I64X2_NE, u64, u64, 2, !=)
WH__SIMD_CMP(I64X2_LT_S, i64, u64, 2, <)
WH__SIMD_CMP(I64X2_GT_S, i64, u64, 2, >)
WH__SIMD_CMP(I64X2_LE_S, i64, u64, 2, <=)
WH__SIMD_CMP(I64X2_GE_S, i64, u64, 2, >=)
WH__SIMD_CMP(F32X4_EQ, f32, u32, 4, ==)
WH__SIMD_CMP(F32X4_NE, f32, u32, 4, !=)
WH__SIMD_CMP(F32X4_LT, f32, u32, 4, <)
WH__SIMD_CMP(F32X4_GT, f32, u32, 4, >)
WH__SIMD_CMP(F32X4_LE, f32, u32, 4, <=)
WH__SIMD_CMP(F32X4_GE, f32, u32, 4, >=)
WH__SIMD_CMP(F64X2_EQ, f64, u64, 2, ==)
WH__SIMD_CMP(F64X2_NE, f64, u64, 2, !=)
WH__SIMD_CMP(F64X2_LT, f64, u64, 2, <)
WH__SIMD_CMP(F64X2_GT, f64, u64, 2, >)
WH__SIMD_CMP(F64X2_LE, f64, u64, 2, <=)
WH__SIMD_CMP(F64X2_GE, f64, u64, 2, >=)

/* ---- bitwise --------------------------------------------------------------- */

WH__SIMD_UN(V128_NOT, u64, 2, ~a)
WH__SIMD_BIN(V128_AND, u64, 2, a & b)
WH__SIMD_BIN(V128_ANDNOT, u64, 2, a & ~b)
WH__SIMD_BIN(V128_OR, u64, 2, a | b)
WH__SIMD_BIN(V128_XOR, u64, 2, a ^ b)
static inline wh_v128_t wh_simd_V128_BITSELECT(wh_v128_t A, wh_v128_t B,
                                               wh_v128_t C) {
  wh_v128_t R;
  for (int i = 0; i < 2; i++) R.u64[i] = (A.u64[i] & C.u64[i]) | (B.u64[i] & ~C.u64[i]);
  return R;
}
static inline uint32_t wh_simd_V128_ANY_TRUE(wh_v128_t A) {
  return (A.u64[0] | A.u64[1]) != 0;
}
WH__SIMD_TESTS(I8X16, i8, 16)
WH__SIMD_TESTS(I16X8, i16, 8)
WH__SIMD_TESTS(I32X4, i32, 4)
WH__SIMD_TESTS(I64X2, i64, 2)

/* ---- integer arithmetic ---------------------------------------------------- */

WH__SIMD_UN(I8X16_ABS, i8, 16, a < 0 ? 0u - (uint8_t)a : (uint8_t)a)
WH__SIMD_UN(I8X16_NEG, u8, 16, 0u - a)
WH__SIMD_UN(I8X16_POPCNT, u8, 16, __builtin_popcount(a))
WH__SIMD_UN(I16X8_ABS, i16, 8, a < 0 ? 0u - (uint16_t)a : (uint16_t)a)
WH__SIMD_UN(I16X8_NEG, u16, 8, 0u - a)
WH__SIMD_UN(I32X4_ABS, i32, 4, a < 0 ? 0u - (uint32_t)a : (uint32_t)a)
WH__SIMD_UN(I32X4_NEG, u32, 4, 0u - a)
WH__SIMD_UN(I64X2_ABS, i64, 2, a < 0 ? 0ull - (uint64_t)a : (uint64_t)a)
WH__SIMD_UN(I64X2_NEG, u64, 2, 0ull - a)

WH__SIMD_NARROW(I8X16_NARROW_I16X8_S, i8, i16, 8, wh_sat_s8)
WH__SIMD_NARROW(I8X16_NARROW_I16X8_U, u8, i16, 8, wh_sat_u8)
WH__SIMD_NARROW(I16X8_NARROW_I32X4_S, i16, i32, 4, wh_sat_s16)
static inline uint16_t wh__sat_u16_64(int32_t v) { return wh_sat_u16(v); }
WH__SIMD_NARROW(I16X8_NARROW_I32X4_U, u16, i32, 4, wh__sat_u16_64)

WH__SIMD_SHIFT(I8X16_SHL, u8, 16, 8, <<)
WH__SIMD_SHIFT(I8X16_SHR_S, i8, 16, 8, >>)
WH__SIMD_SHIFT(I8X16_SHR_U, u8, 16, 8, >>)
WH__SIMD_SHIFT(I16X8_SHL, u16, 8, 16, <<)
WH__SIMD_SHIFT(I16X8_SHR_S, i16, 8, 16, >>)
WH__SIMD_SHIFT(I16X8_SHR_U, u16, 8, 16, >>)
WH__SIMD_SHIFT(I32X4_SHL, u32, 4, 32, <<)
WH__SIMD_SHIFT(I32X4_SHR_S, i32, 4, 32, >>)
WH__SIMD_SHIFT(I32X4_SHR_U, u32, 4, 32, >>)
WH__SIMD_SHIFT(I64X2_SHL, u64, 2, 64, <<)
WH__SIMD_SHIFT(I64X2_SHR_S, i64, 2, 64, >>)
WH__SIMD_SHIFT(I64X2_SHR_U, u64, 2, 64, >>)

WH__SIMD_BIN(I8X16_ADD, u8, 16, a + b)
WH__SIMD_BIN(I8X16_ADD_SAT_S, i8, 16, wh_sat_s8(a + b))
WH__SIMD_BIN(I8X16_ADD_SAT_U, u8, 16, wh_sat_u8(a + b))
WH__SIMD_BIN(I8X16_SUB, u8, 16, a - b)
WH__SIMD_BIN(I8X16_SUB_SAT_S, i8, 16, wh_sat_s8(a - b))
WH__SIMD_BIN(I8X16_SUB_SAT_U, u8, 16, wh_sat_u8(a - b))
WH__SIMD_BIN(I8X16_MIN_S, i8, 16, a < b ? a : b)
WH__SIMD_BIN(I8X16_MIN_U, u8, 16, a < b ? a : b)
WH__SIMD_BIN(I8X16_MAX_S, i8, 16, a > b ? a : b)
WH__SIMD_BIN(I8X16_MAX_U, u8, 16, a > b ? a : b)
WH__SIMD_BIN(I8X16_AVGR_U, u8, 16, (a + b + 1) >> 1)
WH__SIMD_BIN(I16X8_ADD, u16, 8, a + b)
WH__SIMD_BIN(I16X8_ADD_SAT_S, i16, 8, wh_sat_s16(a + b))
WH__SIMD_BIN(I16X8_ADD_SAT_U, u16, 8, wh_sat_u16(a + b))
WH__SIMD_BIN(I16X8_SUB, u16, 8, a - b)
WH__SIMD_BIN(I16X8_SUB_SAT_S, i16, 8, wh_sat_s16(a - b))
WH__SIMD_BIN(I16X8_SUB_SAT_U, u16, 8, wh_sat_u16(a - b))
WH__SIMD_BIN(I16X8_MUL, u16, 8, (uint32_t)a * b)
WH__SIMD_BIN(I16X8_MIN_S, i16, 8, a < b ? a : b)
WH__SIMD_BIN(I16X8_MIN_U, u16, 8, a < b ? a : b)
WH__SIMD_BIN(I16X8_MAX_S, i16, 8, a > b ? a : b)
WH__SIMD_BIN(I16X8_MAX_U, u16, 8, a > b ? a : b)
WH__SIMD_BIN(I16X8_AVGR_U, u16, 8, ((uint32_t)a + b + 1) >> 1)
WH__SIMD_BIN(I16X8_Q15MULR_SAT_S, i16, 8,
             wh_sat_s16(((int32_t)a * b + 0x4000) >> 15))
WH__SIMD_BIN(I32X4_ADD, u32, 4, a + b)
WH__SIMD_BIN(I32X4_SUB, u32, 4, a - b)
WH__SIMD_BIN(I32X4_MUL, u32, 4, a * b)
WH__SIMD_BIN(I32X4_MIN_S, i32, 4, a < b ? a : b)
WH__SIMD_BIN(I32X4_MIN_U, u32, 4, a < b ? a : b)
WH__SIMD_BIN(I32X4_MAX_S, i32, 4, a > b ? a : b)
WH__SIMD_BIN(I32X4_MAX_U, u32, 4, a > b ? a : b)
WH__SIMD_BIN(I64X2_ADD, u64, 2, a + b)
WH__SIMD_BIN(I64X2_SUB, u64, 2, a - b)
WH__SIMD_BIN(I64X2_MUL, u64, 2, a * b)

static inline wh_v128_t wh_simd_I32X4_DOT_I16X8_S(wh_v128_t A, wh_v128_t B) {
  wh_v128_t R;
  for (int i = 0; i < 4; i++)
    R.u32[i] = (uint32_t)((int32_t)A.i16[2 * i] * B.i16[2 * i]) +
               (uint32_t)((int32_t)A.i16[2 * i + 1] * B.i16[2 * i + 1]);
  return R;
}

WH__SIMD_EXTADD(I16X8_EXTADD_PAIRWISE_I8X16_S, i16, i8, 8)
WH__SIMD_EXTADD(I16X8_EXTADD_PAIRWISE_I8X16_U, u16, u8, 8)
WH__SIMD_EXTADD(I32X4_EXTADD_PAIRWISE_I16X8_S, i32, i16, 4)
WH__SIMD_EXTADD(I32X4_EXTADD_PAIRWISE_I16X8_U, u32, u16, 4)

WH__SIMD_EXTEND(I16X8_EXTEND_LOW_I8X16_S, i16, i8, 8, 0)
WH__SIMD_EXTEND(I16X8_EXTEND_HIGH_I8X16_S, i16, i8, 8, 8)
WH__SIMD_EXTEND(I16X8_EXTEND_LOW_I8X16_U, u16, u8, 8, 0)
WH__SIMD_EXTEND(I16X8_EXTEND_HIGH_I8X16_U, u16, u8, 8, 8)
WH__SIMD_EXTEND(I32X4_EXTEND_LOW_I16X8_S, i32, i16, 4, 0)
WH__SIMD_EXTEND(I32X4_EXTEND_HIGH_I16X8_S, i32, i16, 4, 4)
WH__SIMD_EXTEND(I32X4_EXTEND_LOW_I16X8_U, u32, u16, 4, 0)
WH__SIMD_EXTEND(I32X4_EXTEND_HIGH_I16X8_U, u32, u16, 4, 4)
WH__SIMD_EXTEND(I64X2_EXTEND_LOW_I32X4_S, i64, i32, 2, 0)
WH__SIMD_EXTEND(I64X2_EXTEND_HIGH_I32X4_S, i64, i32, 2, 2)
WH__SIMD_EXTEND(I64X2_EXTEND_LOW_I32X4_U, u64, u32, 2, 0)
WH__SIMD_EXTEND(I64X2_EXTEND_HIGH_I32X4_U, u64, u32, 2, 2)

WH__SIMD_EXTMUL(I16X8_EXTMUL_LOW_I8X16_S, i16, i8, 8, 0)
WH__SIMD_EXTMUL(I16X8_EXTMUL_HIGH_I8X16_S, i16, i8, 8, 8)
WH__SIMD_EXTMUL(I16X8_EXTMUL_LOW_I8X16_U, u16, u8, 8, 0)
WH__SIMD_EXTMUL(I16X8_EXTMUL_HIGH_I8X16_U, u16, u8, 8, 8)
WH__SIMD_EXTMUL(I32X4_EXTMUL_LOW_I16X8_S, i32, i16, 4, 0)
WH__SIMD_EXTMUL(I32X4_EXTMUL_HIGH_I16X8_S, i32, i16, 4, 4)
WH__SIMD_EXTMUL(I32X4_EXTMUL_LOW_I16X8_U, u32, u16, 4, 0)
WH__SIMD_EXTMUL(I32X4_EXTMUL_HIGH_I16X8_U, u32, u16, 4, 4)
WH__SIMD_EXTMUL(I64X2_EXTMUL_LOW_I32X4_S, i64, i32, 2, 0)
WH__SIMD_EXTMUL(I64X2_EXTMUL_HIGH_I32X4_S, i64, i32, 2, 2)
WH__SIMD_EXTMUL(I64X2_EXTMUL_LOW_I32X4_U, u64, u32, 2, 0)
WH__SIMD_EXTMUL(I64X2_EXTMUL_HIGH_I32X4_U, u64, u32, 2, 2)

/* ---- floating point (the scalar helpers of interp.c, lane by lane) ---- */

WH__SIMD_UN(F32X4_ABS, f32, 4, wh_fabsf(a))
WH__SIMD_UN(F32X4_NEG, f32, 4, wh_fnegf(a))
WH__SIMD_UN(F32X4_SQRT, f32, 4, __builtin_sqrtf(a))
WH__SIMD_UN(F32X4_CEIL, f32, 4, wh_qnanf(a, __builtin_ceilf(a)))
WH__SIMD_UN(F32X4_FLOOR, f32, 4, wh_qnanf(a, __builtin_floorf(a)))
WH__SIMD_UN(F32X4_TRUNC, f32, 4, wh_qnanf(a, __builtin_truncf(a)))
WH__SIMD_UN(F32X4_NEAREST, f32, 4, wh_qnanf(a, __builtin_nearbyintf(a)))
WH__SIMD_UN(F64X2_ABS, f64, 2, wh_fabs(a))
WH__SIMD_UN(F64X2_NEG, f64, 2, wh_fneg(a))
WH__SIMD_UN(F64X2_SQRT, f64, 2, __builtin_sqrt(a))
WH__SIMD_UN(F64X2_CEIL, f64, 2, wh_qnan(a, __builtin_ceil(a)))
WH__SIMD_UN(F64X2_FLOOR, f64, 2, wh_qnan(a, __builtin_floor(a)))
WH__SIMD_UN(F64X2_TRUNC, f64, 2, wh_qnan(a, __builtin_trunc(a)))
WH__SIMD_UN(F64X2_NEAREST, f64, 2, wh_qnan(a, __builtin_nearbyint(a)))
WH__SIMD_BIN(F32X4_ADD, f32, 4, a + b)
WH__SIMD_BIN(F32X4_SUB, f32, 4, a - b)
WH__SIMD_BIN(F32X4_MUL, f32, 4, a * b)
WH__SIMD_BIN(F32X4_DIV, f32, 4, a / b)
WH__SIMD_BIN(F32X4_MIN, f32, 4, wh_fminf(a, b))
WH__SIMD_BIN(F32X4_MAX, f32, 4, wh_fmaxf(a, b))
WH__SIMD_BIN(F32X4_PMIN, f32, 4, b < a ? b : a)
WH__SIMD_BIN(F32X4_PMAX, f32, 4, a < b ? b : a)
WH__SIMD_BIN(F64X2_ADD, f64, 2, a + b)
WH__SIMD_BIN(F64X2_SUB, f64, 2, a - b)
WH__SIMD_BIN(F64X2_MUL, f64, 2, a * b)
WH__SIMD_BIN(F64X2_DIV, f64, 2, a / b)
WH__SIMD_BIN(F64X2_MIN, f64, 2, wh_fmin(a, b))
WH__SIMD_BIN(F64X2_MAX, f64, 2, wh_fmax(a, b))
WH__SIMD_BIN(F64X2_PMIN, f64, 2, b < a ? b : a)
WH__SIMD_BIN(F64X2_PMAX, f64, 2, a < b ? b : a)

/* ---- conversions ----------------------------------------------------------- */

static inline wh_v128_t wh_simd_F32X4_DEMOTE_F64X2_ZERO(wh_v128_t A) {
  wh_v128_t R = {.u64 = {0, 0}};
  for (int i = 0; i < 2; i++) R.f32[i] = (float)A.f64[i];
  return R;
}
static inline wh_v128_t wh_simd_F64X2_PROMOTE_LOW_F32X4(wh_v128_t A) {
  wh_v128_t R;
  for (int i = 0; i < 2; i++) R.f64[i] = (double)A.f32[i];
  return R;
}
static inline wh_v128_t wh_simd_I32X4_TRUNC_SAT_F32X4_S(wh_v128_t A) {
  wh_v128_t R;
  for (int i = 0; i < 4; i++) R.i32[i] = wh_sat_i32f(A.f32[i]);
  return R;
}
static inline wh_v128_t wh_simd_I32X4_TRUNC_SAT_F32X4_U(wh_v128_t A) {
  wh_v128_t R;
  for (int i = 0; i < 4; i++) R.u32[i] = wh_sat_u32f(A.f32[i]);
  return R;
}
static inline wh_v128_t wh_simd_I32X4_TRUNC_SAT_F64X2_S_ZERO(wh_v128_t A) {
  wh_v128_t R = {.u64 = {0, 0}};
  for (int i = 0; i < 2; i++) R.i32[i] = wh_sat_i32d(A.f64[i]);
  return R;
}
static inline wh_v128_t wh_simd_I32X4_TRUNC_SAT_F64X2_U_ZERO(wh_v128_t A) {
  wh_v128_t R = {.u64 = {0, 0}};
  for (int i = 0; i < 2; i++) R.u32[i] = wh_sat_u32d(A.f64[i]);
  return R;
}
static inline wh_v128_t wh_simd_F32X4_CONVERT_I32X4_S(wh_v128_t A) {
  wh_v128_t R;
  for (int i = 0; i < 4; i++) R.f32[i] = (float)A.i32[i];
  return R;
}
static inline wh_v128_t wh_simd_F32X4_CONVERT_I32X4_U(wh_v128_t A) {
  wh_v128_t R;
  for (int i = 0; i < 4; i++) R.f32[i] = (float)A.u32[i];
  return R;
}
static inline wh_v128_t wh_simd_F64X2_CONVERT_LOW_I32X4_S(wh_v128_t A) {
  wh_v128_t R;
  for (int i = 0; i < 2; i++) R.f64[i] = (double)A.i32[i];
  return R;
}
static inline wh_v128_t wh_simd_F64X2_CONVERT_LOW_I32X4_U(wh_v128_t A) {
  wh_v128_t R;
  for (int i = 0; i < 2; i++) R.f64[i] = (double)A.u32[i];
  return R;
}

/* ---- memory ------------------------------------------------------------- */

static inline wh_v128_t wh_simd_V128_LOAD(const uint8_t *p) {
  wh_v128_t R;
  memcpy(&R, p, 16);
  return R;
}
#define WH__SIMD_LOADX(NAME, DF, ST, N)                                       \
  static inline wh_v128_t wh_simd_##NAME(const uint8_t *p) {                  \
    wh_v128_t R;                                                              \
    for (int i = 0; i < (N); i++) {                                           \
      ST v;                                                                   \
      memcpy(&v, p + i * sizeof v, sizeof v);                                 \
      R.DF[i] = v;                                                            \
    }                                                                         \
    return R;                                                                 \
  }
WH__SIMD_LOADX(V128_LOAD8X8_S, i16, int8_t, 8)
WH__SIMD_LOADX(V128_LOAD8X8_U, u16, uint8_t, 8)
WH__SIMD_LOADX(V128_LOAD16X4_S, i32, int16_t, 4)
WH__SIMD_LOADX(V128_LOAD16X4_U, u32, uint16_t, 4)
WH__SIMD_LOADX(V128_LOAD32X2_S, i64, int32_t, 2)
WH__SIMD_LOADX(V128_LOAD32X2_U, u64, uint32_t, 2)
#define WH__SIMD_LOADSPLAT(NAME, F, ST, N)                                    \
  static inline wh_v128_t wh_simd_##NAME(const uint8_t *p) {                  \
    wh_v128_t R;                                                              \
    ST v;                                                                     \
    memcpy(&v, p, sizeof v);                                                  \
    for (int i = 0; i < (N); i++) R.F[i] = v;                                 \
    return R;                                                                 \
  }
WH__SIMD_LOADSPLAT(V128_LOAD8_SPLAT, u8, uint8_t, 16)
WH__SIMD_LOADSPLAT(V128_LOAD16_SPLAT, u16, uint16_t, 8)
WH__SIMD_LOADSPLAT(V128_LOAD32_SPLAT, u32, uint32_t, 4)
WH__SIMD_LOADSPLAT(V128_LOAD64_SPLAT, u64, uint64_t, 2)
static inline wh_v128_t wh_simd_V128_LOAD32_ZERO(const uint8_t *p) {
  wh_v128_t R = {.u64 = {0, 0}};
  memcpy(&R, p, 4);
  return R;
}
static inline wh_v128_t wh_simd_V128_LOAD64_ZERO(const uint8_t *p) {
  wh_v128_t R = {.u64 = {0, 0}};
  memcpy(&R, p, 8);
  return R;
}
static inline void wh_simd_V128_STORE(uint8_t *p, wh_v128_t A) { memcpy(p, &A, 16); }
/* lane loads and stores: n bytes at lane l (l < 16 / n) */
static inline wh_v128_t wh_simd_load_lane(const uint8_t *p, wh_v128_t A,
                                          uint32_t n, uint32_t l) {
  memcpy(A.u8 + n * l, p, n);
  return A;
}
static inline void wh_simd_store_lane(uint8_t *p, wh_v128_t A, uint32_t n,
                                      uint32_t l) {
  memcpy(p, A.u8 + n * l, n);
}

#endif /* WH_SIMD_LANES_H */
