/*
 * wcode.h - the interpreter's internal instruction set ("wcode").
 *
 * compile.c translates validated wasm into wcode; interp.c executes it.
 * wcode is a register machine over the frame's 64-bit slots (see the frame
 * layout in engine_int.h): operands are byte offsets from fp, so
 * `local.get` and constants need no instructions of their own.
 *
 * Encoding (little-endian, 4-byte aligned):
 *
 *   +-----------------+--------+--------+-----
 *   | handler (8 B)   | word 0 | word 1 | ...     each word 32 bits
 *   +-----------------+--------+--------+-----
 *
 * The handler cell holds the op number while compiling and the address of
 * the op's label in the dispatch loop once the function is threaded
 * (wh__thread_code).  Word counts are fixed per op except BR_TABLE.
 * Branch offsets ("rel") are relative to the position of the rel word
 * itself.  Notation below: d = destination slot, a/b/c = source slots,
 * k = 32-bit immediate, rel = branch offset.
 */
#ifndef WH_WCODE_H
#define WH_WCODE_H

#include <stdint.h>

#include "simd.h"

/* Non-trapping binary operators: X(NAME, wasm opcode, operand type,
 * result type, has-immediate-form, C expression over a and b).
 * Types: i32/i64 are unsigned in C; signed views are written with casts.*/
#define WH_BINOPS(X)                                                          \
  X(I32_EQ,   0x46, i32, i32, 1, a == b)                                      \
  X(I32_NE,   0x47, i32, i32, 1, a != b)                                      \
  X(I32_LT_S, 0x48, i32, i32, 1, (int32_t)a < (int32_t)b)                     \
  X(I32_LT_U, 0x49, i32, i32, 1, a < b)                                       \
  X(I32_GT_S, 0x4a, i32, i32, 1, (int32_t)a > (int32_t)b)                     \
  X(I32_GT_U, 0x4b, i32, i32, 1, a > b)                                       \
  X(I32_LE_S, 0x4c, i32, i32, 1, (int32_t)a <= (int32_t)b)                    \
  X(I32_LE_U, 0x4d, i32, i32, 1, a <= b)                                      \
  X(I32_GE_S, 0x4e, i32, i32, 1, (int32_t)a >= (int32_t)b)                    \
  X(I32_GE_U, 0x4f, i32, i32, 1, a >= b)                                      \
  X(I64_EQ,   0x51, i64, i32, 1, a == b)                                      \
  X(I64_NE,   0x52, i64, i32, 1, a != b)                                      \
  X(I64_LT_S, 0x53, i64, i32, 1, (int64_t)a < (int64_t)b)                     \
  X(I64_LT_U, 0x54, i64, i32, 1, a < b)                                       \
  X(I64_GT_S, 0x55, i64, i32, 1, (int64_t)a > (int64_t)b)                     \
  X(I64_GT_U, 0x56, i64, i32, 1, a > b)                                       \
  X(I64_LE_S, 0x57, i64, i32, 1, (int64_t)a <= (int64_t)b)                    \
  X(I64_LE_U, 0x58, i64, i32, 1, a <= b)                                      \
  X(I64_GE_S, 0x59, i64, i32, 1, (int64_t)a >= (int64_t)b)                    \
  X(I64_GE_U, 0x5a, i64, i32, 1, a >= b)                                      \
  X(F32_EQ,   0x5b, f32, i32, 0, a == b)                                      \
  X(F32_NE,   0x5c, f32, i32, 0, a != b)                                      \
  X(F32_LT,   0x5d, f32, i32, 0, a < b)                                       \
  X(F32_GT,   0x5e, f32, i32, 0, a > b)                                       \
  X(F32_LE,   0x5f, f32, i32, 0, a <= b)                                      \
  X(F32_GE,   0x60, f32, i32, 0, a >= b)                                      \
  X(F64_EQ,   0x61, f64, i32, 0, a == b)                                      \
  X(F64_NE,   0x62, f64, i32, 0, a != b)                                      \
  X(F64_LT,   0x63, f64, i32, 0, a < b)                                       \
  X(F64_GT,   0x64, f64, i32, 0, a > b)                                       \
  X(F64_LE,   0x65, f64, i32, 0, a <= b)                                      \
  X(F64_GE,   0x66, f64, i32, 0, a >= b)                                      \
  X(I32_ADD,  0x6a, i32, i32, 1, a + b)                                       \
  X(I32_SUB,  0x6b, i32, i32, 1, a - b)                                       \
  X(I32_MUL,  0x6c, i32, i32, 1, a * b)                                       \
  X(I32_AND,  0x71, i32, i32, 1, a & b)                                       \
  X(I32_OR,   0x72, i32, i32, 1, a | b)                                       \
  X(I32_XOR,  0x73, i32, i32, 1, a ^ b)                                       \
  X(I32_SHL,  0x74, i32, i32, 1, a << (b & 31))                               \
  X(I32_SHR_S,0x75, i32, i32, 1, (uint32_t)((int32_t)a >> (b & 31)))          \
  X(I32_SHR_U,0x76, i32, i32, 1, a >> (b & 31))                               \
  X(I32_ROTL, 0x77, i32, i32, 0, wh_rotl32(a, b))                             \
  X(I32_ROTR, 0x78, i32, i32, 0, wh_rotr32(a, b))                             \
  X(I64_ADD,  0x7c, i64, i64, 1, a + b)                                       \
  X(I64_SUB,  0x7d, i64, i64, 1, a - b)                                       \
  X(I64_MUL,  0x7e, i64, i64, 1, a * b)                                       \
  X(I64_AND,  0x83, i64, i64, 1, a & b)                                       \
  X(I64_OR,   0x84, i64, i64, 1, a | b)                                       \
  X(I64_XOR,  0x85, i64, i64, 1, a ^ b)                                       \
  X(I64_SHL,  0x86, i64, i64, 1, a << (b & 63))                               \
  X(I64_SHR_S,0x87, i64, i64, 1, (uint64_t)((int64_t)a >> (b & 63)))          \
  X(I64_SHR_U,0x88, i64, i64, 1, a >> (b & 63))                               \
  X(I64_ROTL, 0x89, i64, i64, 0, wh_rotl64(a, b))                             \
  X(I64_ROTR, 0x8a, i64, i64, 0, wh_rotr64(a, b))                             \
  X(F32_ADD,  0x92, f32, f32, 0, a + b)                                       \
  X(F32_SUB,  0x93, f32, f32, 0, a - b)                                       \
  X(F32_MUL,  0x94, f32, f32, 0, a * b)                                       \
  X(F32_DIV,  0x95, f32, f32, 0, a / b)                                       \
  X(F32_MIN,  0x96, f32, f32, 0, wh_fminf(a, b))                              \
  X(F32_MAX,  0x97, f32, f32, 0, wh_fmaxf(a, b))                              \
  X(F32_COPYSIGN, 0x98, f32, f32, 0, wh_copysignf(a, b))                      \
  X(F64_ADD,  0xa0, f64, f64, 0, a + b)                                       \
  X(F64_SUB,  0xa1, f64, f64, 0, a - b)                                       \
  X(F64_MUL,  0xa2, f64, f64, 0, a * b)                                       \
  X(F64_DIV,  0xa3, f64, f64, 0, a / b)                                       \
  X(F64_MIN,  0xa4, f64, f64, 0, wh_fmin(a, b))                               \
  X(F64_MAX,  0xa5, f64, f64, 0, wh_fmax(a, b))                               \
  X(F64_COPYSIGN, 0xa6, f64, f64, 0, wh_copysign(a, b))

/* Binary operators that may trap (statement expressions; TRAP jumps to the
 * interpreter's trap exit). */
#define WH_BINOPS_TRAPPING(X)                                                 \
  X(I32_DIV_S, 0x6d, i32, i32, 0,                                             \
    ({ if (b == 0) TRAP(DIV_ZERO);                                            \
       if (a == 0x80000000u && b == 0xffffffffu) TRAP(INT_OVERFLOW);          \
       (uint32_t)((int32_t)a / (int32_t)b); }))                               \
  X(I32_DIV_U, 0x6e, i32, i32, 0,                                             \
    ({ if (b == 0) TRAP(DIV_ZERO); a / b; }))                                 \
  X(I32_REM_S, 0x6f, i32, i32, 0,                                             \
    ({ if (b == 0) TRAP(DIV_ZERO);                                            \
       b == 0xffffffffu ? 0u : (uint32_t)((int32_t)a % (int32_t)b); }))       \
  X(I32_REM_U, 0x70, i32, i32, 0,                                             \
    ({ if (b == 0) TRAP(DIV_ZERO); a % b; }))                                 \
  X(I64_DIV_S, 0x7f, i64, i64, 0,                                             \
    ({ if (b == 0) TRAP(DIV_ZERO);                                            \
       if (a == 0x8000000000000000ull && b == ~0ull) TRAP(INT_OVERFLOW);      \
       (uint64_t)((int64_t)a / (int64_t)b); }))                               \
  X(I64_DIV_U, 0x80, i64, i64, 0,                                             \
    ({ if (b == 0) TRAP(DIV_ZERO); a / b; }))                                 \
  X(I64_REM_S, 0x81, i64, i64, 0,                                             \
    ({ if (b == 0) TRAP(DIV_ZERO);                                            \
       b == ~0ull ? 0ull : (uint64_t)((int64_t)a % (int64_t)b); }))           \
  X(I64_REM_U, 0x82, i64, i64, 0,                                             \
    ({ if (b == 0) TRAP(DIV_ZERO); a % b; }))

/* Unary operators and conversions: X(NAME, wasm opcode (0xfcNN for the
 * 0xfc prefix), operand type, result type, C expression over a). */
#define WH_UNOPS(X)                                                           \
  X(I32_EQZ,    0x45, i32, i32, a == 0)                                       \
  X(I64_EQZ,    0x50, i64, i32, a == 0)                                       \
  X(I32_CLZ,    0x67, i32, i32, a ? (uint32_t)__builtin_clz(a) : 32u)         \
  X(I32_CTZ,    0x68, i32, i32, a ? (uint32_t)__builtin_ctz(a) : 32u)         \
  X(I32_POPCNT, 0x69, i32, i32, (uint32_t)__builtin_popcount(a))              \
  X(I64_CLZ,    0x79, i64, i64, a ? (uint64_t)__builtin_clzll(a) : 64u)       \
  X(I64_CTZ,    0x7a, i64, i64, a ? (uint64_t)__builtin_ctzll(a) : 64u)       \
  X(I64_POPCNT, 0x7b, i64, i64, (uint64_t)__builtin_popcountll(a))            \
  X(F32_ABS,    0x8b, f32, f32, wh_fabsf(a))                                  \
  X(F32_NEG,    0x8c, f32, f32, wh_fnegf(a))                                  \
  X(F32_CEIL,   0x8d, f32, f32, wh_qnanf(a, __builtin_ceilf(a)))              \
  X(F32_FLOOR,  0x8e, f32, f32, wh_qnanf(a, __builtin_floorf(a)))             \
  X(F32_TRUNC,  0x8f, f32, f32, wh_qnanf(a, __builtin_truncf(a)))             \
  X(F32_NEAREST,0x90, f32, f32, wh_qnanf(a, __builtin_nearbyintf(a)))         \
  X(F32_SQRT,   0x91, f32, f32, __builtin_sqrtf(a))                           \
  X(F64_ABS,    0x99, f64, f64, wh_fabs(a))                                   \
  X(F64_NEG,    0x9a, f64, f64, wh_fneg(a))                                   \
  X(F64_CEIL,   0x9b, f64, f64, wh_qnan(a, __builtin_ceil(a)))                \
  X(F64_FLOOR,  0x9c, f64, f64, wh_qnan(a, __builtin_floor(a)))               \
  X(F64_TRUNC,  0x9d, f64, f64, wh_qnan(a, __builtin_trunc(a)))               \
  X(F64_NEAREST,0x9e, f64, f64, wh_qnan(a, __builtin_nearbyint(a)))           \
  X(F64_SQRT,   0x9f, f64, f64, __builtin_sqrt(a))                            \
  X(I32_WRAP_I64,      0xa7, i64, i32, (uint32_t)a)                           \
  X(I32_TRUNC_F32_S,   0xa8, f32, i32,                                        \
    ({ if (a != a) TRAP(BAD_CONVERSION);                                      \
       if (!(a >= -2147483648.0f && a < 2147483648.0f)) TRAP(INT_OVERFLOW);   \
       (uint32_t)(int32_t)a; }))                                              \
  X(I32_TRUNC_F32_U,   0xa9, f32, i32,                                        \
    ({ if (a != a) TRAP(BAD_CONVERSION);                                      \
       if (!(a > -1.0f && a < 4294967296.0f)) TRAP(INT_OVERFLOW);             \
       (uint32_t)a; }))                                                       \
  X(I32_TRUNC_F64_S,   0xaa, f64, i32,                                        \
    ({ if (a != a) TRAP(BAD_CONVERSION);                                      \
       if (!(a > -2147483649.0 && a < 2147483648.0)) TRAP(INT_OVERFLOW);      \
       (uint32_t)(int32_t)a; }))                                              \
  X(I32_TRUNC_F64_U,   0xab, f64, i32,                                        \
    ({ if (a != a) TRAP(BAD_CONVERSION);                                      \
       if (!(a > -1.0 && a < 4294967296.0)) TRAP(INT_OVERFLOW);               \
       (uint32_t)a; }))                                                       \
  X(I64_EXTEND_I32_S,  0xac, i32, i64, (uint64_t)(int64_t)(int32_t)a)         \
  X(I64_EXTEND_I32_U,  0xad, i32, i64, (uint64_t)a)                           \
  X(I64_TRUNC_F32_S,   0xae, f32, i64,                                        \
    ({ if (a != a) TRAP(BAD_CONVERSION);                                      \
       if (!(a >= -9223372036854775808.0f && a < 9223372036854775808.0f))     \
         TRAP(INT_OVERFLOW);                                                  \
       (uint64_t)(int64_t)a; }))                                              \
  X(I64_TRUNC_F32_U,   0xaf, f32, i64,                                        \
    ({ if (a != a) TRAP(BAD_CONVERSION);                                      \
       if (!(a > -1.0f && a < 18446744073709551616.0f)) TRAP(INT_OVERFLOW);   \
       (uint64_t)a; }))                                                       \
  X(I64_TRUNC_F64_S,   0xb0, f64, i64,                                        \
    ({ if (a != a) TRAP(BAD_CONVERSION);                                      \
       if (!(a >= -9223372036854775808.0 && a < 9223372036854775808.0))       \
         TRAP(INT_OVERFLOW);                                                  \
       (uint64_t)(int64_t)a; }))                                              \
  X(I64_TRUNC_F64_U,   0xb1, f64, i64,                                        \
    ({ if (a != a) TRAP(BAD_CONVERSION);                                      \
       if (!(a > -1.0 && a < 18446744073709551616.0)) TRAP(INT_OVERFLOW);     \
       (uint64_t)a; }))                                                       \
  X(F32_CONVERT_I32_S, 0xb2, i32, f32, (float)(int32_t)a)                     \
  X(F32_CONVERT_I32_U, 0xb3, i32, f32, (float)a)                              \
  X(F32_CONVERT_I64_S, 0xb4, i64, f32, (float)(int64_t)a)                     \
  X(F32_CONVERT_I64_U, 0xb5, i64, f32, (float)a)                              \
  X(F32_DEMOTE_F64,    0xb6, f64, f32, (float)a)                              \
  X(F64_CONVERT_I32_S, 0xb7, i32, f64, (double)(int32_t)a)                    \
  X(F64_CONVERT_I32_U, 0xb8, i32, f64, (double)a)                             \
  X(F64_CONVERT_I64_S, 0xb9, i64, f64, (double)(int64_t)a)                    \
  X(F64_CONVERT_I64_U, 0xba, i64, f64, (double)a)                             \
  X(F64_PROMOTE_F32,   0xbb, f32, f64, (double)a)                             \
  X(I32_EXTEND8_S,     0xc0, i32, i32, (uint32_t)(int32_t)(int8_t)a)          \
  X(I32_EXTEND16_S,    0xc1, i32, i32, (uint32_t)(int32_t)(int16_t)a)         \
  X(I64_EXTEND8_S,     0xc2, i64, i64, (uint64_t)(int64_t)(int8_t)a)          \
  X(I64_EXTEND16_S,    0xc3, i64, i64, (uint64_t)(int64_t)(int16_t)a)         \
  X(I64_EXTEND32_S,    0xc4, i64, i64, (uint64_t)(int64_t)(int32_t)a)         \
  X(I32_TRUNC_SAT_F32_S, 0xfc00, f32, i32, (uint32_t)wh_sat_i32f(a))          \
  X(I32_TRUNC_SAT_F32_U, 0xfc01, f32, i32, wh_sat_u32f(a))                    \
  X(I32_TRUNC_SAT_F64_S, 0xfc02, f64, i32, (uint32_t)wh_sat_i32d(a))          \
  X(I32_TRUNC_SAT_F64_U, 0xfc03, f64, i32, wh_sat_u32d(a))                    \
  X(I64_TRUNC_SAT_F32_S, 0xfc04, f32, i64, (uint64_t)wh_sat_i64f(a))          \
  X(I64_TRUNC_SAT_F32_U, 0xfc05, f32, i64, wh_sat_u64f(a))                    \
  X(I64_TRUNC_SAT_F64_S, 0xfc06, f64, i64, (uint64_t)wh_sat_i64d(a))          \
  X(I64_TRUNC_SAT_F64_U, 0xfc07, f64, i64, wh_sat_u64d(a))

/* Loads and stores: X(NAME, wasm opcode, value type, bytes, C type in
 * memory, natural alignment log2).  Each has two ops: NAME on memory 0
 * (d a k for a load, a v k for a store; k = the memarg offset), whose
 * base and size the interpreter keeps in registers, and NAME_M, the same
 * with a memory index word after k, for any other memory (multi-memory). */
#define WH_LOADS(X)                                                           \
  X(I32_LOAD,     0x28, i32, 4, uint32_t, 2)                                  \
  X(I64_LOAD,     0x29, i64, 8, uint64_t, 3)                                  \
  X(F32_LOAD,     0x2a, f32, 4, uint32_t, 2)                                  \
  X(F64_LOAD,     0x2b, f64, 8, uint64_t, 3)                                  \
  X(I32_LOAD8_S,  0x2c, i32, 1, int8_t, 0)                                    \
  X(I32_LOAD8_U,  0x2d, i32, 1, uint8_t, 0)                                   \
  X(I32_LOAD16_S, 0x2e, i32, 2, int16_t, 1)                                   \
  X(I32_LOAD16_U, 0x2f, i32, 2, uint16_t, 1)                                  \
  X(I64_LOAD8_S,  0x30, i64, 1, int8_t, 0)                                    \
  X(I64_LOAD8_U,  0x31, i64, 1, uint8_t, 0)                                   \
  X(I64_LOAD16_S, 0x32, i64, 2, int16_t, 1)                                   \
  X(I64_LOAD16_U, 0x33, i64, 2, uint16_t, 1)                                  \
  X(I64_LOAD32_S, 0x34, i64, 4, int32_t, 2)                                   \
  X(I64_LOAD32_U, 0x35, i64, 4, uint32_t, 2)

#define WH_STORES(X)                                                          \
  X(I32_STORE,   0x36, i32, 4, uint32_t, 2)                                   \
  X(I64_STORE,   0x37, i64, 8, uint64_t, 3)                                   \
  X(F32_STORE,   0x38, f32, 4, uint32_t, 2)                                   \
  X(F64_STORE,   0x39, f64, 8, uint64_t, 3)                                   \
  X(I32_STORE8,  0x3a, i32, 1, uint8_t, 0)                                    \
  X(I32_STORE16, 0x3b, i32, 2, uint16_t, 1)                                   \
  X(I64_STORE8,  0x3c, i64, 1, uint8_t, 0)                                    \
  X(I64_STORE16, 0x3d, i64, 2, uint16_t, 1)                                   \
  X(I64_STORE32, 0x3e, i64, 4, uint32_t, 2)

/* Integer compares that fuse with a following br_if / if:
 * X(NAME, C operand type, operator, NAME of the negation). */
#define WH_FUSED_CMPS(X)                                                      \
  X(I32_EQ,   uint32_t, ==, I32_NE)                                           \
  X(I32_NE,   uint32_t, !=, I32_EQ)                                           \
  X(I32_LT_S, int32_t,  <,  I32_GE_S)                                         \
  X(I32_LT_U, uint32_t, <,  I32_GE_U)                                         \
  X(I32_GT_S, int32_t,  >,  I32_LE_S)                                         \
  X(I32_GT_U, uint32_t, >,  I32_LE_U)                                         \
  X(I32_LE_S, int32_t,  <=, I32_GT_S)                                         \
  X(I32_LE_U, uint32_t, <=, I32_GT_U)                                         \
  X(I32_GE_S, int32_t,  >=, I32_LT_S)                                         \
  X(I32_GE_U, uint32_t, >=, I32_LT_U)                                         \
  X(I64_EQ,   uint64_t, ==, I64_NE)                                           \
  X(I64_NE,   uint64_t, !=, I64_EQ)                                           \
  X(I64_LT_S, int64_t,  <,  I64_GE_S)                                         \
  X(I64_LT_U, uint64_t, <,  I64_GE_U)                                         \
  X(I64_GT_S, int64_t,  >,  I64_LE_S)                                         \
  X(I64_GT_U, uint64_t, >,  I64_LE_U)                                         \
  X(I64_LE_S, int64_t,  <=, I64_GT_S)                                         \
  X(I64_LE_U, uint64_t, <=, I64_GT_U)                                         \
  X(I64_GE_S, int64_t,  >=, I64_LT_S)                                         \
  X(I64_GE_U, uint64_t, >=, I64_LT_U)

/* Every other op: X(NAME, operand kinds), one character per 32-bit word:
 *
 *   s  slot (byte offset from fp)      k  immediate
 *   a  a call's argument base: a slot, or one past the frame's last
 *   r  branch offset                   f  defined-function index
 *   i  imported-function index         F  function index
 *   T  type index                      t  table index
 *   g  global index                    D  data segment     E  elem segment
 *   m  memory index                   v  v128 slot pair (low half first)
 *
 * BR_TABLE ("*") is a n rel*(n+1).  The loader of serialized modules checks
 * every operand against its kind (serialize.c). */
#define WH_WCODE_MISC(X)                                                      \
  X(UNREACHABLE,   "")        /*                               trap      */ \
  X(BR,            "r")       /* rel                                     */ \
  X(BR_IF,         "sr")      /* a rel        if a != 0 jump             */ \
  X(BR_UNLESS,     "sr")      /* a rel        if a == 0 jump             */ \
  X(BR_TABLE,      "*")       /* a n rel*(n+1)                           */ \
  X(COPY,          "ss")      /* d a                                     */ \
  X(CONST32,       "sk")      /* d k          zero-extended              */ \
  X(CONST64,       "skk")     /* d lo hi                                 */ \
  X(ENTRY,         "k")       /* fuel         function entry: fuel+epoch */ \
  X(LOOP,          "k")       /* fuel         loop header: fuel + epoch  */ \
  X(FUEL,          "k")       /* fuel         basic block head           */ \
  X(CALL,          "fa")      /* def argoff                              */ \
  X(CALL_IMPORT,   "ia")      /* func argoff                             */ \
  X(CALL_INDIRECT, "Ttsa")    /* type table a argoff                     */ \
  X(RETURN,        "")        /* results already in fp[0..)              */ \
  X(SELECT,        "ssss")    /* d a b c      d = c ? a : b              */ \
  X(GLOBAL_GET,    "sg")      /* d idx                                   */ \
  X(GLOBAL_SET,    "sg")      /* a idx                                   */ \
  X(GLOBAL_GET128, "vg")      /* d idx        a v128 global              */ \
  X(GLOBAL_SET128, "vg")      /* a idx                                   */ \
  X(MEMORY_SIZE,   "s")       /* d                                       */ \
  X(MEMORY_GROW,   "ss")      /* d a                                     */ \
  X(MEMORY_FILL,   "sss")     /* dst val n                               */ \
  X(MEMORY_COPY,   "sss")     /* dst src n                               */ \
  X(MEMORY_INIT,   "Dsss")    /* seg dst src n                           */ \
  X(MEMORY_SIZE_M, "sm")      /* d mem        memory.size of memory mem  */ \
  X(MEMORY_GROW_M, "ssm")     /* d a mem                                 */ \
  X(MEMORY_FILL_M, "msss")    /* mem dst val n                           */ \
  X(MEMORY_COPY_M, "mmsss")   /* dmem smem dst src n                     */ \
  X(MEMORY_INIT_M, "mDsss")   /* mem seg dst src n                       */ \
  X(DATA_DROP,     "D")       /* seg                                     */ \
  X(TABLE_GET,     "sts")     /* d table a                               */ \
  X(TABLE_SET,     "tss")     /* table a b                               */ \
  X(TABLE_SIZE,    "st")      /* d table                                 */ \
  X(TABLE_GROW,    "stss")    /* d table init n                          */ \
  X(TABLE_FILL,    "tsss")    /* table i val n                           */ \
  X(TABLE_COPY,    "ttsss")   /* dtable stable d s n                     */ \
  X(TABLE_INIT,    "tEsss")   /* table seg d s n                         */ \
  X(ELEM_DROP,     "E")       /* seg                                     */ \
  X(REF_IS_NULL,   "ss")      /* d a                                     */ \
  X(REF_FUNC,      "sF")      /* d func                                  */

/* Operand kinds of the generated families. */
#define WH_KINDS_BINOP "sss"
#define WH_KINDS_BINOP_IMM "ssk"
#define WH_KINDS_UNOP "ss"
#define WH_KINDS_MEM "ssk"
#define WH_KINDS_MEM_M "sskm"
#define WH_KINDS_FUSED "ssr"
#define WH_KINDS_FUSED_IMM "skr"

/* SIMD ops (simd.h), V_<NAME>, by form: d = destination, a/b/c sources,
 * p = address (i32 slot), x = scalar slot, off mem = memarg, l = lane.
 * CONST is never emitted (a v128.const stays a virtual constant) but is
 * decodable like the rest. */
#define WH_KINDS_SIMD_LOAD    "vskm"     /* d p off mem           */
#define WH_KINDS_SIMD_STORE   "svkm"     /* p a off mem           */
#define WH_KINDS_SIMD_LLANE   "vsvkmk"   /* d p a off mem l       */
#define WH_KINDS_SIMD_SLANE   "svkmk"    /* p a off mem l         */
#define WH_KINDS_SIMD_CONST   "vkkkk"    /* d lo0 lo1 hi0 hi1     */
#define WH_KINDS_SIMD_SHUF    "vvvkkkk"  /* d a b lanes[16]       */
#define WH_KINDS_SIMD_SPLAT   "vs"       /* d x                   */
#define WH_KINDS_SIMD_EXTRACT "svk"      /* d a l                 */
#define WH_KINDS_SIMD_REPLACE "vvsk"     /* d a x l               */
#define WH_KINDS_SIMD_UN      "vv"       /* d a                   */
#define WH_KINDS_SIMD_BIN     "vvv"      /* d a b                 */
#define WH_KINDS_SIMD_TERN    "vvvv"     /* d a b c               */
#define WH_KINDS_SIMD_TEST    "sv"       /* d a                   */
#define WH_KINDS_SIMD_SHIFT   "vvs"      /* d a x                 */

enum wh_wop {
#define WH__W_MISC(name, kinds) WOP_##name,
  WH_WCODE_MISC(WH__W_MISC)
#undef WH__W_MISC
#define WH__W_BIN(name, op, ti, to, imm, expr) WOP_##name, WOP_##name##_IMM,
  WH_BINOPS(WH__W_BIN)
  WH_BINOPS_TRAPPING(WH__W_BIN)
#undef WH__W_BIN
#define WH__W_UN(name, op, ti, to, expr) WOP_##name,
  WH_UNOPS(WH__W_UN)
#undef WH__W_UN
#define WH__W_MEM(name, op, t, n, ct, al) WOP_##name,
  WH_LOADS(WH__W_MEM)
  WH_STORES(WH__W_MEM)
#undef WH__W_MEM
#define WH__W_MEM_M(name, op, t, n, ct, al) WOP_##name##_M,
  WH_LOADS(WH__W_MEM_M)
  WH_STORES(WH__W_MEM_M)
#undef WH__W_MEM_M
#define WH__W_FUSED(name, ct, cop, neg) WOP_BR_##name, WOP_BR_##name##_IMM,
  WH_FUSED_CMPS(WH__W_FUSED)
#undef WH__W_FUSED
#define WH__W_SIMD(name, sub, form, t, n) WOP_V_##name,
  WH_SIMD_OPS(WH__W_SIMD)
#undef WH__W_SIMD
  WOP__COUNT
};

/* Words per op (-1: BR_TABLE) and their kinds (see above). */
extern const int8_t wh__wop_words[WOP__COUNT];
extern const char *const wh__wop_kinds[WOP__COUNT];
extern const char *const wh__wop_names[WOP__COUNT];

#endif /* WH_WCODE_H */
