/*
 * interp_num.h - the scalar numeric helpers of the interpreter: wasm
 * semantics where C's differ (rotations, NaN-preserving abs/neg/copysign,
 * quiet-NaN rounding, min/max with NaN and signed zeros, saturating
 * truncations).  Shared by interp.c (the scalar ops of wcode.h) and
 * interp_simd.c (simd_lanes.h applies the same helpers lane by lane, so a
 * vector lane behaves exactly as the scalar op does).
 */
#ifndef WH_INTERP_NUM_H
#define WH_INTERP_NUM_H

#include <stdint.h>
#include <string.h>

static inline uint32_t wh_rotl32(uint32_t a, uint32_t b) {
  b &= 31;
  return (a << b) | (a >> ((32 - b) & 31));
}
static inline uint32_t wh_rotr32(uint32_t a, uint32_t b) {
  b &= 31;
  return (a >> b) | (a << ((32 - b) & 31));
}
static inline uint64_t wh_rotl64(uint64_t a, uint64_t b) {
  b &= 63;
  return (a << b) | (a >> ((64 - b) & 63));
}
static inline uint64_t wh_rotr64(uint64_t a, uint64_t b) {
  b &= 63;
  return (a >> b) | (a << ((64 - b) & 63));
}

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float f32_from(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint64_t f64_bits(double f) { uint64_t u; memcpy(&u, &f, 8); return u; }
static inline double f64_from(uint64_t u) { double f; memcpy(&f, &u, 8); return f; }

/* abs/neg/copysign are bit operations: they never touch a NaN's payload */
static inline float wh_fabsf(float a) { return f32_from(f32_bits(a) & 0x7fffffffu); }
static inline float wh_fnegf(float a) { return f32_from(f32_bits(a) ^ 0x80000000u); }
static inline float wh_copysignf(float a, float b) {
  return f32_from((f32_bits(a) & 0x7fffffffu) | (f32_bits(b) & 0x80000000u));
}
static inline double wh_fabs(double a) { return f64_from(f64_bits(a) & ~(1ull << 63)); }
static inline double wh_fneg(double a) { return f64_from(f64_bits(a) ^ (1ull << 63)); }
static inline double wh_copysign(double a, double b) {
  return f64_from((f64_bits(a) & ~(1ull << 63)) | (f64_bits(b) & (1ull << 63)));
}

/* rounding: a NaN operand gives a quiet NaN (the builtins may pass a
 * signalling one through) */
static inline float wh_qnanf(float a, float r) { return a != a ? a + a : r; }
static inline double wh_qnan(double a, double r) { return a != a ? a + a : r; }

/* min/max: NaN if either is NaN; -0 < +0 */
static inline float wh_fminf(float a, float b) {
  if (a != a || b != b) return a + b;
  if (a == b) return (f32_bits(a) & 0x80000000u) ? a : b;
  return a < b ? a : b;
}
static inline float wh_fmaxf(float a, float b) {
  if (a != a || b != b) return a + b;
  if (a == b) return (f32_bits(a) & 0x80000000u) ? b : a;
  return a > b ? a : b;
}
static inline double wh_fmin(double a, double b) {
  if (a != a || b != b) return a + b;
  if (a == b) return (f64_bits(a) >> 63) ? a : b;
  return a < b ? a : b;
}
static inline double wh_fmax(double a, double b) {
  if (a != a || b != b) return a + b;
  if (a == b) return (f64_bits(a) >> 63) ? b : a;
  return a > b ? a : b;
}

/* saturating truncations */
static inline int32_t wh_sat_i32f(float a) {
  if (a != a) return 0;
  if (a < -2147483648.0f) return INT32_MIN;
  if (a >= 2147483648.0f) return INT32_MAX;
  return (int32_t)a;
}
static inline int32_t wh_sat_i32d(double a) {
  if (a != a) return 0;
  if (a <= -2147483649.0) return INT32_MIN;
  if (a >= 2147483648.0) return INT32_MAX;
  return (int32_t)a;
}
static inline uint32_t wh_sat_u32f(float a) {
  if (!(a > -1.0f)) return 0;
  if (a >= 4294967296.0f) return UINT32_MAX;
  return (uint32_t)a;
}
static inline uint32_t wh_sat_u32d(double a) {
  if (!(a > -1.0)) return 0;
  if (a >= 4294967296.0) return UINT32_MAX;
  return (uint32_t)a;
}
static inline int64_t wh_sat_i64f(float a) {
  if (a != a) return 0;
  if (a < -9223372036854775808.0f) return INT64_MIN;
  if (a >= 9223372036854775808.0f) return INT64_MAX;
  return (int64_t)a;
}
static inline int64_t wh_sat_i64d(double a) {
  if (a != a) return 0;
  if (a < -9223372036854775808.0) return INT64_MIN;
  if (a >= 9223372036854775808.0) return INT64_MAX;
  return (int64_t)a;
}
static inline uint64_t wh_sat_u64f(float a) {
  if (!(a > -1.0f)) return 0;
  if (a >= 18446744073709551616.0f) return UINT64_MAX;
  return (uint64_t)a;
}
static inline uint64_t wh_sat_u64d(double a) {
  if (!(a > -1.0)) return 0;
  if (a >= 18446744073709551616.0) return UINT64_MAX;
  return (uint64_t)a;
}

#endif /* WH_INTERP_NUM_H */
