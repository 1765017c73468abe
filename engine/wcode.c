/*
 * wcode.c - per-op tables of wcode: word counts and names (for dumps and
 * the serializer's walk over code).
 */
#include "wcode.h"

const int8_t wh__wop_words[WOP__COUNT] = {
#define WH__W_MISC(name, kinds) [WOP_##name] = kinds[0] == '*' ? -1 : (int8_t)(sizeof kinds - 1),
    WH_WCODE_MISC(WH__W_MISC)
#undef WH__W_MISC
#define WH__W_BIN(name, op, ti, to, imm, expr) [WOP_##name] = 3, [WOP_##name##_IMM] = 3,
    WH_BINOPS(WH__W_BIN) WH_BINOPS_TRAPPING(WH__W_BIN)
#undef WH__W_BIN
#define WH__W_UN(name, op, ti, to, expr) [WOP_##name] = 2,
    WH_UNOPS(WH__W_UN)
#undef WH__W_UN
#define WH__W_MEM(name, op, t, n, ct, al) [WOP_##name] = 3, [WOP_##name##_M] = 4,
    WH_LOADS(WH__W_MEM) WH_STORES(WH__W_MEM)
#undef WH__W_MEM
#define WH__W_F(name, ct, cop, neg) [WOP_BR_##name] = 3, [WOP_BR_##name##_IMM] = 3,
    WH_FUSED_CMPS(WH__W_F)
#undef WH__W_F
#define WH__W_S(name, sub, form, t, n) [WOP_V_##name] = (int8_t)(sizeof WH_KINDS_SIMD_##form - 1),
    WH_SIMD_OPS(WH__W_S)
#undef WH__W_S
};

const char *const wh__wop_names[WOP__COUNT] = {
#define WH__N_MISC(name, kinds) [WOP_##name] = #name,
    WH_WCODE_MISC(WH__N_MISC)
#undef WH__N_MISC
#define WH__N_BIN(name, op, ti, to, imm, expr) [WOP_##name] = #name, [WOP_##name##_IMM] = #name "_IMM",
    WH_BINOPS(WH__N_BIN) WH_BINOPS_TRAPPING(WH__N_BIN)
#undef WH__N_BIN
#define WH__N_UN(name, op, ti, to, expr) [WOP_##name] = #name,
    WH_UNOPS(WH__N_UN)
#undef WH__N_UN
#define WH__N_MEM(name, op, t, n, ct, al) [WOP_##name] = #name, [WOP_##name##_M] = #name "_M",
    WH_LOADS(WH__N_MEM) WH_STORES(WH__N_MEM)
#undef WH__N_MEM
#define WH__N_F(name, ct, cop, neg) [WOP_BR_##name] = "BR_" #name, [WOP_BR_##name##_IMM] = "BR_" #name "_IMM",
    WH_FUSED_CMPS(WH__N_F)
#undef WH__N_F
#define WH__N_S(name, sub, form, t, n) [WOP_V_##name] = "V_" #name,
    WH_SIMD_OPS(WH__N_S)
#undef WH__N_S
};

const char *const wh__wop_kinds[WOP__COUNT] = {
#define WH__K_MISC(name, kinds) [WOP_##name] = kinds,
    WH_WCODE_MISC(WH__K_MISC)
#undef WH__K_MISC
#define WH__K_BIN(name, op, ti, to, imm, expr) [WOP_##name] = WH_KINDS_BINOP, [WOP_##name##_IMM] = WH_KINDS_BINOP_IMM,
    WH_BINOPS(WH__K_BIN) WH_BINOPS_TRAPPING(WH__K_BIN)
#undef WH__K_BIN
#define WH__K_UN(name, op, ti, to, expr) [WOP_##name] = WH_KINDS_UNOP,
    WH_UNOPS(WH__K_UN)
#undef WH__K_UN
#define WH__K_MEM(name, op, t, n, ct, al) [WOP_##name] = WH_KINDS_MEM, [WOP_##name##_M] = WH_KINDS_MEM_M,
    WH_LOADS(WH__K_MEM) WH_STORES(WH__K_MEM)
#undef WH__K_MEM
#define WH__K_F(name, ct, cop, neg) [WOP_BR_##name] = WH_KINDS_FUSED, [WOP_BR_##name##_IMM] = WH_KINDS_FUSED_IMM,
    WH_FUSED_CMPS(WH__K_F)
#undef WH__K_F
#define WH__K_S(name, sub, form, t, n) [WOP_V_##name] = WH_KINDS_SIMD_##form,
    WH_SIMD_OPS(WH__K_S)
#undef WH__K_S
};
