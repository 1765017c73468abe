/*
 * value.h - dynamic component-model values (wh_cm_val): an untyped tree
 * that the host builds for arguments and receives for results.  It
 * carries no type: wh_cm_call checks it against the function type when
 * it is lowered (wasmtime's `Val` design), and lifted results come back
 * shaped by the type.
 *
 *   kind        payload
 *   BOOL        of.b
 *   S8..S64     of.s   (sign-extended)
 *   U8..U64     of.u
 *   F32 / F64   of.f32 / of.f64
 *   CHAR        of.ch  (a Unicode scalar value)
 *   STRING      of.str.ptr[of.str.len]  UTF-8, owned, NUL-terminated too
 *   LIST        of.agg.v[of.agg.n]      elements, owned
 *   RECORD      of.agg.v[of.agg.n]      fields in the type's order
 *   TUPLE       of.agg.v[of.agg.n]
 *   VARIANT     of.var.idx (case), of.var.payload (NULL or owned)
 *   ENUM        of.var.idx
 *   OPTION      of.var.idx 0 none / 1 some, of.var.payload for some
 *   RESULT      of.var.idx 0 ok / 1 err, of.var.payload (NULL or owned)
 *   FLAGS       of.flags.bits[of.flags.nwords]: bit i = flag i (LSB first)
 *   OWN/BORROW  of.handle: a resource handle as the host sees it
 *
 * Kinds use the same numbers as wh_cm_tkind_t (WH_CM_TK_BOOL ...), so a
 * value kind can be compared with a type kind directly.
 *
 * Ownership: a wh_cm_val is a plain struct the caller embeds (arrays of
 * args and results); wh_cm_val_fini frees what it points to, recursively,
 * and leaves it a zeroed (kind 0) value.  Constructors that allocate
 * return 0 or WH_ENOMEM and leave *v initialised either way (fini-safe).
 */
#ifndef WH_CM_VALUE_H
#define WH_CM_VALUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum wh_cm_vkind {
  WH_CM_V_NONE = 0,           /* a zeroed / finished value */
  WH_CM_V_BOOL = 1, WH_CM_V_S8, WH_CM_V_U8, WH_CM_V_S16, WH_CM_V_U16,
  WH_CM_V_S32, WH_CM_V_U32, WH_CM_V_S64, WH_CM_V_U64, WH_CM_V_F32,
  WH_CM_V_F64, WH_CM_V_CHAR, WH_CM_V_STRING,
  WH_CM_V_RECORD, WH_CM_V_VARIANT, WH_CM_V_LIST, WH_CM_V_FIXED_LIST,
  WH_CM_V_TUPLE, WH_CM_V_FLAGS, WH_CM_V_ENUM, WH_CM_V_OPTION,
  WH_CM_V_RESULT, WH_CM_V_OWN, WH_CM_V_BORROW,
} wh_cm_vkind_t;

/* A runtime resource type (identity only; opaque). */
typedef struct wh_cm_rtype wh_cm_rtype_t;

typedef struct wh_cm_val wh_cm_val;
typedef wh_cm_val wh_cm_val_t;
/* How a STRING was encoded where it was lifted (wh_cm_val.str_src): the
 * canonical ABI lowers it into another component by an algorithm chosen
 * by this source encoding (CanonicalABI.md store_string_into_range), so
 * realloc sees the same calls as with a fused adapter.  Host strings are
 * UTF-8. */
enum {
  WH_CM_STR_UTF8 = 0,
  WH_CM_STR_UTF16 = 1,        /* string-encoding=utf16 */
  WH_CM_STR_LATIN1 = 2,       /* latin1+utf16, stored as Latin-1 */
  WH_CM_STR_UTF16_TAGGED = 3, /* latin1+utf16, stored as UTF-16 */
};

struct wh_cm_val {
  uint8_t kind;               /* wh_cm_vkind_t */
  uint8_t str_src;            /* STRING: WH_CM_STR_* (0 unless lifted) */
  union {
    bool b;
    int64_t s;
    uint64_t u;
    float f32;
    double f64;
    uint32_t ch;
    struct { char *ptr; size_t len; } str;
    struct { wh_cm_val *v; uint32_t n; } agg;
    struct { uint32_t idx; wh_cm_val *payload; } var;
    struct { uint32_t *bits; uint32_t nwords; } flags;
    struct {
      wh_cm_rtype_t *rt;      /* the resource type (borrowed) */
      uint32_t rep;           /* the representation (i32) */
    } handle;
  } of;
};

/* Scalars: no allocation. */
wh_cm_val wh_cm_val_bool(bool b);
wh_cm_val wh_cm_val_s8(int8_t x);
wh_cm_val wh_cm_val_u8(uint8_t x);
wh_cm_val wh_cm_val_s16(int16_t x);
wh_cm_val wh_cm_val_u16(uint16_t x);
wh_cm_val wh_cm_val_s32(int32_t x);
wh_cm_val wh_cm_val_u32(uint32_t x);
wh_cm_val wh_cm_val_s64(int64_t x);
wh_cm_val wh_cm_val_u64(uint64_t x);
wh_cm_val wh_cm_val_f32(float x);
wh_cm_val wh_cm_val_f64(double x);
wh_cm_val wh_cm_val_char(uint32_t scalar);
/* ENUM case `idx`. */
wh_cm_val wh_cm_val_enum(uint32_t idx);
/* OWN / BORROW handle of resource type `rt` (borrowed; from
 * wh_cm_linker_define_resource, or the .rt of a handle received) with
 * representation `rep`.  Nothing to free. */
wh_cm_val wh_cm_val_own(wh_cm_rtype_t *rt, uint32_t rep);
wh_cm_val wh_cm_val_borrow(wh_cm_rtype_t *rt, uint32_t rep);

/* STRING from `len` bytes of UTF-8 at `s` (copied; not checked here:
 * lowering checks).  0 or WH_ENOMEM. */
int wh_cm_val_string(wh_cm_val *v, const char *s, size_t len);
/* LIST / RECORD / TUPLE (kind) with `n` zeroed children to fill in
 * (v->of.agg.v[i] = ...; each child is then owned by v).  0 or WH_ENOMEM. */
int wh_cm_val_agg(wh_cm_val *v, wh_cm_vkind_t kind, uint32_t n);
/* VARIANT / OPTION / RESULT (kind) with case `idx`; `payload` (may be
 * NULL) is moved into a new heap child and *payload zeroed.  0 or
 * WH_ENOMEM (payload then finished). */
int wh_cm_val_case(wh_cm_val *v, wh_cm_vkind_t kind, uint32_t idx,
                   wh_cm_val *payload);
/* FLAGS with room for `nflags` flags, all clear.  0 or WH_ENOMEM. */
int wh_cm_val_flags(wh_cm_val *v, uint32_t nflags);
void wh_cm_val_flag_set(wh_cm_val *v, uint32_t i, bool on);
bool wh_cm_val_flag_get(const wh_cm_val *v, uint32_t i);

/* Frees what `v` owns (recursively) and zeroes it.  NULL is a no-op. */
void wh_cm_val_fini(wh_cm_val *v);
/* Deep copy of `src` into *dst.  0 or WH_ENOMEM (*dst zeroed). */
int wh_cm_val_copy(wh_cm_val *dst, const wh_cm_val *src);
/* Structural equality (floats: NaN equals NaN, bitwise otherwise equal
 * values compare equal; -0 != +0 is not distinguished).  */
bool wh_cm_val_eq(const wh_cm_val *a, const wh_cm_val *b);
/* Name of a value kind ("u32", "string", "record", ...); static. */
const char *wh_cm_vkind_name(wh_cm_vkind_t k);

#endif /* WH_CM_VALUE_H */
