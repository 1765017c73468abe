/*
 * wcode.c - per-op tables of wcode: word counts and names (for dumps and
 * the serializer's walk over code).
 */
#include "wcode.h"

const int8_t wh__wop_words[WOP__COUNT] = {
#define WH__W_MISC(name, words) [WOP_##name] = words,
    WH_WCODE_MISC(WH__W_MISC)
#undef WH__W_MISC
#define WH__W_BIN(name, op, ti, to, imm, expr) [WOP_##name] = 3, [WOP_##name##_IMM] = 3,
    WH_BINOPS(WH__W_BIN) WH_BINOPS_TRAPPING(WH__W_BIN)
#undef WH__W_BIN
#define WH__W_UN(name, op, ti, to, expr) [WOP_##name] = 2,
    WH_UNOPS(WH__W_UN)
#undef WH__W_UN
#define WH__W_MEM(name, op, t, n, ct, al) [WOP_##name] = 3,
    WH_LOADS(WH__W_MEM) WH_STORES(WH__W_MEM)
#undef WH__W_MEM
#define WH__W_F(name, ct, cop, neg) [WOP_BR_##name] = 3, [WOP_BR_##name##_IMM] = 3,
    WH_FUSED_CMPS(WH__W_F)
#undef WH__W_F
};

const char *const wh__wop_names[WOP__COUNT] = {
#define WH__N_MISC(name, words) [WOP_##name] = #name,
    WH_WCODE_MISC(WH__N_MISC)
#undef WH__N_MISC
#define WH__N_BIN(name, op, ti, to, imm, expr) [WOP_##name] = #name, [WOP_##name##_IMM] = #name "_IMM",
    WH_BINOPS(WH__N_BIN) WH_BINOPS_TRAPPING(WH__N_BIN)
#undef WH__N_BIN
#define WH__N_UN(name, op, ti, to, expr) [WOP_##name] = #name,
    WH_UNOPS(WH__N_UN)
#undef WH__N_UN
#define WH__N_MEM(name, op, t, n, ct, al) [WOP_##name] = #name,
    WH_LOADS(WH__N_MEM) WH_STORES(WH__N_MEM)
#undef WH__N_MEM
#define WH__N_F(name, ct, cop, neg) [WOP_BR_##name] = "BR_" #name, [WOP_BR_##name##_IMM] = "BR_" #name "_IMM",
    WH_FUSED_CMPS(WH__N_F)
#undef WH__N_F
};
