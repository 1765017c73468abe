/*
 * simd.h - the 128-bit SIMD proposal's instructions (the 0xfd prefix), one
 * row per instruction.  The table drives validation and translation
 * (compile.c), the wcode ops V_<NAME> and their operand kinds (wcode.h)
 * and the interpreter's cases (interp.c, lanes in simd_lanes.h).  See
 * docs/ENGINE.md, "SIMD".
 *
 * X(NAME, sub-opcode, form, scalar type, n).  Forms and what they take
 * and give on the operand stack (v = v128, T = the row's scalar type):
 *
 *   LOAD    [i32] -> [v]        memarg, n = natural alignment (log2)
 *   STORE   [i32 v] -> []       memarg, n = natural alignment
 *   LLANE   [i32 v] -> [v]      memarg + lane byte, n = alignment; lanes
 *                               = 16 >> n
 *   SLANE   [i32 v] -> []       same immediates
 *   CONST   [] -> [v]           16 immediate bytes
 *   SHUF    [v v] -> [v]        16 lane bytes, each < 32
 *   SPLAT   [T] -> [v]
 *   EXTRACT [v] -> [T]          lane byte < n
 *   REPLACE [v T] -> [v]        lane byte < n
 *   UN      [v] -> [v]
 *   BIN     [v v] -> [v]
 *   TERN    [v v v] -> [v]
 *   TEST    [v] -> [i32]        any_true, all_true, bitmask
 *   SHIFT   [v i32] -> [v]
 *
 * Sub-opcodes absent from the table (0x9a, 0xa2, 0xa5, ...; 0x100 and up,
 * relaxed SIMD) are illegal opcodes.
 */
#ifndef WH_SIMD_H
#define WH_SIMD_H

#include <stdint.h>

enum wh_simd_form {
  WH_SIMD_LOAD, WH_SIMD_STORE, WH_SIMD_LLANE, WH_SIMD_SLANE, WH_SIMD_CONST,
  WH_SIMD_SHUF, WH_SIMD_SPLAT, WH_SIMD_EXTRACT, WH_SIMD_REPLACE, WH_SIMD_UN,
  WH_SIMD_BIN, WH_SIMD_TERN, WH_SIMD_TEST, WH_SIMD_SHIFT,
};

/* The 16 comparisons, 10 arithmetic rows etc. of an integer shape share
 * their pattern; they are still written out one per row so that each
 * sub-opcode can be found by searching for it. */
#define WH_SIMD_OPS(X)                                                        \
  X(V128_LOAD,            0x00, LOAD,    i32, 4)                              \
  X(V128_LOAD8X8_S,       0x01, LOAD,    i32, 3)                              \
  X(V128_LOAD8X8_U,       0x02, LOAD,    i32, 3)                              \
  X(V128_LOAD16X4_S,      0x03, LOAD,    i32, 3)                              \
  X(V128_LOAD16X4_U,      0x04, LOAD,    i32, 3)                              \
  X(V128_LOAD32X2_S,      0x05, LOAD,    i32, 3)                              \
  X(V128_LOAD32X2_U,      0x06, LOAD,    i32, 3)                              \
  X(V128_LOAD8_SPLAT,     0x07, LOAD,    i32, 0)                              \
  X(V128_LOAD16_SPLAT,    0x08, LOAD,    i32, 1)                              \
  X(V128_LOAD32_SPLAT,    0x09, LOAD,    i32, 2)                              \
  X(V128_LOAD64_SPLAT,    0x0a, LOAD,    i32, 3)                              \
  X(V128_STORE,           0x0b, STORE,   i32, 4)                              \
  X(V128_CONST,           0x0c, CONST,   i32, 0)                              \
  X(I8X16_SHUFFLE,        0x0d, SHUF,    i32, 32)                             \
  X(I8X16_SWIZZLE,        0x0e, BIN,     i32, 0)                              \
  X(I8X16_SPLAT,          0x0f, SPLAT,   i32, 16)                             \
  X(I16X8_SPLAT,          0x10, SPLAT,   i32, 8)                              \
  X(I32X4_SPLAT,          0x11, SPLAT,   i32, 4)                              \
  X(I64X2_SPLAT,          0x12, SPLAT,   i64, 2)                              \
  X(F32X4_SPLAT,          0x13, SPLAT,   f32, 4)                              \
  X(F64X2_SPLAT,          0x14, SPLAT,   f64, 2)                              \
  X(I8X16_EXTRACT_LANE_S, 0x15, EXTRACT, i32, 16)                             \
  X(I8X16_EXTRACT_LANE_U, 0x16, EXTRACT, i32, 16)                             \
  X(I8X16_REPLACE_LANE,   0x17, REPLACE, i32, 16)                             \
  X(I16X8_EXTRACT_LANE_S, 0x18, EXTRACT, i32, 8)                              \
  X(I16X8_EXTRACT_LANE_U, 0x19, EXTRACT, i32, 8)                              \
  X(I16X8_REPLACE_LANE,   0x1a, REPLACE, i32, 8)                              \
  X(I32X4_EXTRACT_LANE,   0x1b, EXTRACT, i32, 4)                              \
  X(I32X4_REPLACE_LANE,   0x1c, REPLACE, i32, 4)                              \
  X(I64X2_EXTRACT_LANE,   0x1d, EXTRACT, i64, 2)                              \
  X(I64X2_REPLACE_LANE,   0x1e, REPLACE, i64, 2)                              \
  X(F32X4_EXTRACT_LANE,   0x1f, EXTRACT, f32, 4)                              \
  X(F32X4_REPLACE_LANE,   0x20, REPLACE, f32, 4)                              \
  X(F64X2_EXTRACT_LANE,   0x21, EXTRACT, f64, 2)                              \
  X(F64X2_REPLACE_LANE,   0x22, REPLACE, f64, 2)                              \
  X(I8X16_EQ,             0x23, BIN,     i32, 16)                             \
  X(I8X16_NE,             0x24, BIN,     i32, 16)                             \
  X(I8X16_LT_S,           0x25, BIN,     i32, 16)                             \
  X(I8X16_LT_U,           0x26, BIN,     i32, 16)                             \
  X(I8X16_GT_S,           0x27, BIN,     i32, 16)                             \
  X(I8X16_GT_U,           0x28, BIN,     i32, 16)                             \
  X(I8X16_LE_S,           0x29, BIN,     i32, 16)                             \
  X(I8X16_LE_U,           0x2a, BIN,     i32, 16)                             \
  X(I8X16_GE_S,           0x2b, BIN,     i32, 16)                             \
  X(I8X16_GE_U,           0x2c, BIN,     i32, 16)                             \
  X(I16X8_EQ,             0x2d, BIN,     i32, 8)                              \
  X(I16X8_NE,             0x2e, BIN,     i32, 8)                              \
  X(I16X8_LT_S,           0x2f, BIN,     i32, 8)                              \
  X(I16X8_LT_U,           0x30, BIN,     i32, 8)                              \
  X(I16X8_GT_S,           0x31, BIN,     i32, 8)                              \
  X(I16X8_GT_U,           0x32, BIN,     i32, 8)                              \
  X(I16X8_LE_S,           0x33, BIN,     i32, 8)                              \
  X(I16X8_LE_U,           0x34, BIN,     i32, 8)                              \
  X(I16X8_GE_S,           0x35, BIN,     i32, 8)                              \
  X(I16X8_GE_U,           0x36, BIN,     i32, 8)                              \
  X(I32X4_EQ,             0x37, BIN,     i32, 4)                              \
  X(I32X4_NE,             0x38, BIN,     i32, 4)                              \
  X(I32X4_LT_S,           0x39, BIN,     i32, 4)                              \
  X(I32X4_LT_U,           0x3a, BIN,     i32, 4)                              \
  X(I32X4_GT_S,           0x3b, BIN,     i32, 4)                              \
  X(I32X4_GT_U,           0x3c, BIN,     i32, 4)                              \
  X(I32X4_LE_S,           0x3d, BIN,     i32, 4)                              \
  X(I32X4_LE_U,           0x3e, BIN,     i32, 4)                              \
  X(I32X4_GE_S,           0x3f, BIN,     i32, 4)                              \
  X(I32X4_GE_U,           0x40, BIN,     i32, 4)                              \
  X(F32X4_EQ,             0x41, BIN,     f32, 4)                              \
  X(F32X4_NE,             0x42, BIN,     f32, 4)                              \
  X(F32X4_LT,             0x43, BIN,     f32, 4)                              \
  X(F32X4_GT,             0x44, BIN,     f32, 4)                              \
  X(F32X4_LE,             0x45, BIN,     f32, 4)                              \
  X(F32X4_GE,             0x46, BIN,     f32, 4)                              \
  X(F64X2_EQ,             0x47, BIN,     f64, 2)                              \
  X(F64X2_NE,             0x48, BIN,     f64, 2)                              \
  X(F64X2_LT,             0x49, BIN,     f64, 2)                              \
  X(F64X2_GT,             0x4a, BIN,     f64, 2)                              \
  X(F64X2_LE,             0x4b, BIN,     f64, 2)                              \
  X(F64X2_GE,             0x4c, BIN,     f64, 2)                              \
  X(V128_NOT,             0x4d, UN,      i32, 0)                              \
  X(V128_AND,             0x4e, BIN,     i32, 0)                              \
  X(V128_ANDNOT,          0x4f, BIN,     i32, 0)                              \
  X(V128_OR,              0x50, BIN,     i32, 0)                              \
  X(V128_XOR,             0x51, BIN,     i32, 0)                              \
  X(V128_BITSELECT,       0x52, TERN,    i32, 0)                              \
  X(V128_ANY_TRUE,        0x53, TEST,    i32, 0)                              \
  X(V128_LOAD8_LANE,      0x54, LLANE,   i32, 0)                              \
  X(V128_LOAD16_LANE,     0x55, LLANE,   i32, 1)                              \
  X(V128_LOAD32_LANE,     0x56, LLANE,   i32, 2)                              \
  X(V128_LOAD64_LANE,     0x57, LLANE,   i32, 3)                              \
  X(V128_STORE8_LANE,     0x58, SLANE,   i32, 0)                              \
  X(V128_STORE16_LANE,    0x59, SLANE,   i32, 1)                              \
  X(V128_STORE32_LANE,    0x5a, SLANE,   i32, 2)                              \
  X(V128_STORE64_LANE,    0x5b, SLANE,   i32, 3)                              \
  X(V128_LOAD32_ZERO,     0x5c, LOAD,    i32, 2)                              \
  X(V128_LOAD64_ZERO,     0x5d, LOAD,    i32, 3)                              \
  X(F32X4_DEMOTE_F64X2_ZERO, 0x5e, UN,   f32, 4)                              \
  X(F64X2_PROMOTE_LOW_F32X4, 0x5f, UN,   f64, 2)                              \
  X(I8X16_ABS,            0x60, UN,      i32, 16)                             \
  X(I8X16_NEG,            0x61, UN,      i32, 16)                             \
  X(I8X16_POPCNT,         0x62, UN,      i32, 16)                             \
  X(I8X16_ALL_TRUE,       0x63, TEST,    i32, 16)                             \
  X(I8X16_BITMASK,        0x64, TEST,    i32, 16)                             \
  X(I8X16_NARROW_I16X8_S, 0x65, BIN,     i32, 16)                             \
  X(I8X16_NARROW_I16X8_U, 0x66, BIN,     i32, 16)                             \
  X(F32X4_CEIL,           0x67, UN,      f32, 4)                              \
  X(F32X4_FLOOR,          0x68, UN,      f32, 4)                              \
  X(F32X4_TRUNC,          0x69, UN,      f32, 4)                              \
  X(F32X4_NEAREST,        0x6a, UN,      f32, 4)                              \
  X(I8X16_SHL,            0x6b, SHIFT,   i32, 16)                             \
  X(I8X16_SHR_S,          0x6c, SHIFT,   i32, 16)                             \
  X(I8X16_SHR_U,          0x6d, SHIFT,   i32, 16)                             \
  X(I8X16_ADD,            0x6e, BIN,     i32, 16)                             \
  X(I8X16_ADD_SAT_S,      0x6f, BIN,     i32, 16)                             \
  X(I8X16_ADD_SAT_U,      0x70, BIN,     i32, 16)                             \
  X(I8X16_SUB,            0x71, BIN,     i32, 16)                             \
  X(I8X16_SUB_SAT_S,      0x72, BIN,     i32, 16)                             \
  X(I8X16_SUB_SAT_U,      0x73, BIN,     i32, 16)                             \
  X(F64X2_CEIL,           0x74, UN,      f64, 2)                              \
  X(F64X2_FLOOR,          0x75, UN,      f64, 2)                              \
  X(I8X16_MIN_S,          0x76, BIN,     i32, 16)                             \
  X(I8X16_MIN_U,          0x77, BIN,     i32, 16)                             \
  X(I8X16_MAX_S,          0x78, BIN,     i32, 16)                             \
  X(I8X16_MAX_U,          0x79, BIN,     i32, 16)                             \
  X(F64X2_TRUNC,          0x7a, UN,      f64, 2)                              \
  X(I8X16_AVGR_U,         0x7b, BIN,     i32, 16)                             \
  X(I16X8_EXTADD_PAIRWISE_I8X16_S, 0x7c, UN, i32, 8)                          \
  X(I16X8_EXTADD_PAIRWISE_I8X16_U, 0x7d, UN, i32, 8)                          \
  X(I32X4_EXTADD_PAIRWISE_I16X8_S, 0x7e, UN, i32, 4)                          \
  X(I32X4_EXTADD_PAIRWISE_I16X8_U, 0x7f, UN, i32, 4)                          \
  X(I16X8_ABS,            0x80, UN,      i32, 8)                              \
  X(I16X8_NEG,            0x81, UN,      i32, 8)                              \
  X(I16X8_Q15MULR_SAT_S,  0x82, BIN,     i32, 8)                              \
  X(I16X8_ALL_TRUE,       0x83, TEST,    i32, 8)                              \
  X(I16X8_BITMASK,        0x84, TEST,    i32, 8)                              \
  X(I16X8_NARROW_I32X4_S, 0x85, BIN,     i32, 8)                              \
  X(I16X8_NARROW_I32X4_U, 0x86, BIN,     i32, 8)                              \
  X(I16X8_EXTEND_LOW_I8X16_S,  0x87, UN, i32, 8)                              \
  X(I16X8_EXTEND_HIGH_I8X16_S, 0x88, UN, i32, 8)                              \
  X(I16X8_EXTEND_LOW_I8X16_U,  0x89, UN, i32, 8)                              \
  X(I16X8_EXTEND_HIGH_I8X16_U, 0x8a, UN, i32, 8)                              \
  X(I16X8_SHL,            0x8b, SHIFT,   i32, 8)                              \
  X(I16X8_SHR_S,          0x8c, SHIFT,   i32, 8)                              \
  X(I16X8_SHR_U,          0x8d, SHIFT,   i32, 8)                              \
  X(I16X8_ADD,            0x8e, BIN,     i32, 8)                              \
  X(I16X8_ADD_SAT_S,      0x8f, BIN,     i32, 8)                              \
  X(I16X8_ADD_SAT_U,      0x90, BIN,     i32, 8)                              \
  X(I16X8_SUB,            0x91, BIN,     i32, 8)                              \
  X(I16X8_SUB_SAT_S,      0x92, BIN,     i32, 8)                              \
  X(I16X8_SUB_SAT_U,      0x93, BIN,     i32, 8)                              \
  X(F64X2_NEAREST,        0x94, UN,      f64, 2)                              \
  X(I16X8_MUL,            0x95, BIN,     i32, 8)                              \
  X(I16X8_MIN_S,          0x96, BIN,     i32, 8)                              \
  X(I16X8_MIN_U,          0x97, BIN,     i32, 8)                              \
  X(I16X8_MAX_S,          0x98, BIN,     i32, 8)                              \
  X(I16X8_MAX_U,          0x99, BIN,     i32, 8)                              \
  X(I16X8_AVGR_U,         0x9b, BIN,     i32, 8)                              \
  X(I16X8_EXTMUL_LOW_I8X16_S,  0x9c, BIN, i32, 8)                             \
  X(I16X8_EXTMUL_HIGH_I8X16_S, 0x9d, BIN, i32, 8)                             \
  X(I16X8_EXTMUL_LOW_I8X16_U,  0x9e, BIN, i32, 8)                             \
  X(I16X8_EXTMUL_HIGH_I8X16_U, 0x9f, BIN, i32, 8)                             \
  X(I32X4_ABS,            0xa0, UN,      i32, 4)                              \
  X(I32X4_NEG,            0xa1, UN,      i32, 4)                              \
  X(I32X4_ALL_TRUE,       0xa3, TEST,    i32, 4)                              \
  X(I32X4_BITMASK,        0xa4, TEST,    i32, 4)                              \
  X(I32X4_EXTEND_LOW_I16X8_S,  0xa7, UN, i32, 4)                              \
  X(I32X4_EXTEND_HIGH_I16X8_S, 0xa8, UN, i32, 4)                              \
  X(I32X4_EXTEND_LOW_I16X8_U,  0xa9, UN, i32, 4)                              \
  X(I32X4_EXTEND_HIGH_I16X8_U, 0xaa, UN, i32, 4)                              \
  X(I32X4_SHL,            0xab, SHIFT,   i32, 4)                              \
  X(I32X4_SHR_S,          0xac, SHIFT,   i32, 4)                              \
  X(I32X4_SHR_U,          0xad, SHIFT,   i32, 4)                              \
  X(I32X4_ADD,            0xae, BIN,     i32, 4)                              \
  X(I32X4_SUB,            0xb1, BIN,     i32, 4)                              \
  X(I32X4_MUL,            0xb5, BIN,     i32, 4)                              \
  X(I32X4_MIN_S,          0xb6, BIN,     i32, 4)                              \
  X(I32X4_MIN_U,          0xb7, BIN,     i32, 4)                              \
  X(I32X4_MAX_S,          0xb8, BIN,     i32, 4)                              \
  X(I32X4_MAX_U,          0xb9, BIN,     i32, 4)                              \
  X(I32X4_DOT_I16X8_S,    0xba, BIN,     i32, 4)                              \
  X(I32X4_EXTMUL_LOW_I16X8_S,  0xbc, BIN, i32, 4)                             \
  X(I32X4_EXTMUL_HIGH_I16X8_S, 0xbd, BIN, i32, 4)                             \
  X(I32X4_EXTMUL_LOW_I16X8_U,  0xbe, BIN, i32, 4)                             \
  X(I32X4_EXTMUL_HIGH_I16X8_U, 0xbf, BIN, i32, 4)                             \
  X(I64X2_ABS,            0xc0, UN,      i64, 2)                              \
  X(I64X2_NEG,            0xc1, UN,      i64, 2)                              \
  X(I64X2_ALL_TRUE,       0xc3, TEST,    i64, 2)                              \
  X(I64X2_BITMASK,        0xc4, TEST,    i64, 2)                              \
  X(I64X2_EXTEND_LOW_I32X4_S,  0xc7, UN, i64, 2)                              \
  X(I64X2_EXTEND_HIGH_I32X4_S, 0xc8, UN, i64, 2)                              \
  X(I64X2_EXTEND_LOW_I32X4_U,  0xc9, UN, i64, 2)                              \
  X(I64X2_EXTEND_HIGH_I32X4_U, 0xca, UN, i64, 2)                              \
  X(I64X2_SHL,            0xcb, SHIFT,   i64, 2)                              \
  X(I64X2_SHR_S,          0xcc, SHIFT,   i64, 2)                              \
  X(I64X2_SHR_U,          0xcd, SHIFT,   i64, 2)                              \
  X(I64X2_ADD,            0xce, BIN,     i64, 2)                              \
  X(I64X2_SUB,            0xd1, BIN,     i64, 2)                              \
  X(I64X2_MUL,            0xd5, BIN,     i64, 2)                              \
  X(I64X2_EQ,             0xd6, BIN,     i64, 2)                              \
  X(I64X2_NE,             0xd7, BIN,     i64, 2)                              \
  X(I64X2_LT_S,           0xd8, BIN,     i64, 2)                              \
  X(I64X2_GT_S,           0xd9, BIN,     i64, 2)                              \
  X(I64X2_LE_S,           0xda, BIN,     i64, 2)                              \
  X(I64X2_GE_S,           0xdb, BIN,     i64, 2)                              \
  X(I64X2_EXTMUL_LOW_I32X4_S,  0xdc, BIN, i64, 2)                             \
  X(I64X2_EXTMUL_HIGH_I32X4_S, 0xdd, BIN, i64, 2)                             \
  X(I64X2_EXTMUL_LOW_I32X4_U,  0xde, BIN, i64, 2)                             \
  X(I64X2_EXTMUL_HIGH_I32X4_U, 0xdf, BIN, i64, 2)                             \
  X(F32X4_ABS,            0xe0, UN,      f32, 4)                              \
  X(F32X4_NEG,            0xe1, UN,      f32, 4)                              \
  X(F32X4_SQRT,           0xe3, UN,      f32, 4)                              \
  X(F32X4_ADD,            0xe4, BIN,     f32, 4)                              \
  X(F32X4_SUB,            0xe5, BIN,     f32, 4)                              \
  X(F32X4_MUL,            0xe6, BIN,     f32, 4)                              \
  X(F32X4_DIV,            0xe7, BIN,     f32, 4)                              \
  X(F32X4_MIN,            0xe8, BIN,     f32, 4)                              \
  X(F32X4_MAX,            0xe9, BIN,     f32, 4)                              \
  X(F32X4_PMIN,           0xea, BIN,     f32, 4)                              \
  X(F32X4_PMAX,           0xeb, BIN,     f32, 4)                              \
  X(F64X2_ABS,            0xec, UN,      f64, 2)                              \
  X(F64X2_NEG,            0xed, UN,      f64, 2)                              \
  X(F64X2_SQRT,           0xef, UN,      f64, 2)                              \
  X(F64X2_ADD,            0xf0, BIN,     f64, 2)                              \
  X(F64X2_SUB,            0xf1, BIN,     f64, 2)                              \
  X(F64X2_MUL,            0xf2, BIN,     f64, 2)                              \
  X(F64X2_DIV,            0xf3, BIN,     f64, 2)                              \
  X(F64X2_MIN,            0xf4, BIN,     f64, 2)                              \
  X(F64X2_MAX,            0xf5, BIN,     f64, 2)                              \
  X(F64X2_PMIN,           0xf6, BIN,     f64, 2)                              \
  X(F64X2_PMAX,           0xf7, BIN,     f64, 2)                              \
  X(I32X4_TRUNC_SAT_F32X4_S,      0xf8, UN, i32, 4)                           \
  X(I32X4_TRUNC_SAT_F32X4_U,      0xf9, UN, i32, 4)                           \
  X(F32X4_CONVERT_I32X4_S,        0xfa, UN, f32, 4)                           \
  X(F32X4_CONVERT_I32X4_U,        0xfb, UN, f32, 4)                           \
  X(I32X4_TRUNC_SAT_F64X2_S_ZERO, 0xfc, UN, i32, 4)                           \
  X(I32X4_TRUNC_SAT_F64X2_U_ZERO, 0xfd, UN, i32, 4)                           \
  X(F64X2_CONVERT_LOW_I32X4_S,    0xfe, UN, f64, 2)                           \
  X(F64X2_CONVERT_LOW_I32X4_U,    0xff, UN, f64, 2)

/* Number of sub-opcodes the table spans (0x00 .. 0xff). */
#define WH_SIMD_SUBOPS 256

/* The rows numbered densely in table order, WH_SOP_<NAME>: the index of a
 * row's handler in interp_simd.c's table. */
enum wh_simd_op {
#define WH__SOP(name, sub, form, t, n) WH_SOP_##name,
  WH_SIMD_OPS(WH__SOP)
#undef WH__SOP
  WH_SOP__COUNT
};

/* A row's handler (interp_simd.c): runs the V_<NAME> op at ip on the frame
 * at fp, memory operands through inst's memories.  Returns the op's length
 * in bytes (the caller's next ip is ip + that), or 0 when a memory access
 * is out of bounds (the caller traps; nothing was written). */
struct wh_instance;
typedef uint32_t wh_vm__simd_fn(uint64_t *fp, const uint8_t *ip,
                                const struct wh_instance *inst);
extern wh_vm__simd_fn *const wh_vm__simd_fns[WH_SOP__COUNT];

#endif /* WH_SIMD_H */
