/*
 * cm_int.h - the component model's internal representation, shared by
 * binary.c (the decoder), validate.c (type checking) and the later slices
 * (instantiation, canonical ABI, WIT printing).  Not installed.
 *
 * A decoded component is one arena of memory plus one table of types:
 *
 *   wh_cm_component_t
 *     arena ........ every name, vector and nested structure (freed once)
 *     bytes ........ a private copy of the input; core module spans and
 *                    names point into it
 *     types[] ...... the type table; a type is a wh_cm_tid_t index in it
 *     root ......... the top-level wh_cm_comp_t
 *
 *   wh_cm_comp_t (one per component definition, nested ones included)
 *     defs[] ....... every definition in binary order (what instantiation
 *                    replays): core module, core instance, core type,
 *                    component, instance, alias, type, canon, import,
 *                    export
 *     type ......... its component type (imports, exports, resources)
 *
 * Type table.  tids 1..13 are the primitive value types, so a primitive's
 * tid is its kind; tid 0 means "none".  Every other type is a node:
 *
 *   kind            uses
 *   RECORD          f[n] (name, type)
 *   VARIANT         f[n] (name, type or 0)
 *   TUPLE           f[n] (type)
 *   FLAGS, ENUM     f[n] (name)
 *   LIST, OPTION    a = element; FIXED_LIST also n = length
 *   RESULT          a = ok (or 0), b = err (or 0)
 *   OWN, BORROW     a = the resource (as referenced: may be an ALIAS)
 *   FUNC            f[n] params, a = result (or 0), async_ (rejected)
 *   RESOURCE        rep (core valtype), dtor (core func index + 1 or 0)
 *   ALIAS           a = target: the same type under a new identity
 *                   (every import/export of a type makes one, so the
 *                   "is this type named" checks can tell names apart)
 *   COMPONENT       imp[nimp], exp[nexp], ires/dres/xres resource lists
 *   INSTANCE        exp[nexp], dres/xres
 *   CORE_FUNC       np params then nr results in vt[]
 *   CORE_MODULE     cimp[ncimp] (module, name, tid), cexp[ncexp]
 *   CORE_INSTANCE   cexp[ncexp]
 *   CORE_TABLE      vt[0] = element type, limits
 *   CORE_MEMORY     limits, is64, shared, page_log2
 *   CORE_GLOBAL     vt[0] = value type, mut
 *   CORE_TAG        a = CORE_FUNC type
 *
 * Resources have identity: two RESOURCE nodes are the same type iff they
 * are the same node.  Structural types compare structurally (wasm-tools'
 * rule: subtyping of value and function types is equality).  Resource
 * lists on component/instance types carry a path: the index of the
 * import/export, then of each nested instance export, that names it.
 */
#ifndef WH_CM_INT_H
#define WH_CM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wh_cm.h"
#include "wh_engine.h"
#include "wh_error.h"

/* ---- limits (wasm-tools' values) ----------------------------------------- */
#define WH_CM_MAX_STRING 100000u
#define WH_CM_MAX_TYPE_SIZE 1000000u
#define WH_CM_MAX_TYPE_DEPTH 100u
#define WH_CM_MAX_FLAGS 32u
#define WH_CM_MAX_FLAT_PARAMS 16u
#define WH_CM_MAX_FLAT_RESULTS 1u
#define WH_CM_MAX_NESTING 100u      /* nested components / types */
#define WH_CM_MAX_ITEMS 1000000u    /* entries of one index space */

typedef uint32_t wh_cm_tid_t;

/* ---- arena ---------------------------------------------------------------- */
typedef struct wh_cm_chunk wh_cm_chunk_t;
typedef struct wh_cm_arena {
  wh_cm_chunk_t *head;
  size_t total;            /* bytes handed out, for the size cap */
} wh_cm_arena_t;

void *wh_cm__alloc(wh_cm_arena_t *a, size_t n);   /* zeroed; NULL on OOM */
void wh_cm__arena_fini(wh_cm_arena_t *a);
/* Grows *v (elements of `size` bytes, *cap of them) to hold one more:
 * copies into a new arena block when full.  Returns false on OOM. */
bool wh_cm__grow(wh_cm_arena_t *a, void **v, uint32_t n, uint32_t *cap,
                 size_t size);
#define WH_CM_VEC(T) struct { T *v; uint32_t n, cap; }
#define WH_CM_PUSH(arena, vec, val)                                          \
  (((vec).n < (vec).cap ||                                                   \
    wh_cm__grow((arena), (void **)&(vec).v, (vec).n, &(vec).cap,             \
                sizeof *(vec).v))                                            \
       ? ((vec).v[(vec).n++] = (val), true)                                  \
       : false)

/* ---- types ------------------------------------------------------------------ */
enum {
  WH_CM_T_NONE = 0,
  WH_CM_T_BOOL, WH_CM_T_S8, WH_CM_T_U8, WH_CM_T_S16, WH_CM_T_U16,
  WH_CM_T_S32, WH_CM_T_U32, WH_CM_T_S64, WH_CM_T_U64, WH_CM_T_F32,
  WH_CM_T_F64, WH_CM_T_CHAR, WH_CM_T_STRING,          /* 1..13 */
  WH_CM_T_RECORD, WH_CM_T_VARIANT, WH_CM_T_LIST, WH_CM_T_FIXED_LIST,
  WH_CM_T_TUPLE, WH_CM_T_FLAGS, WH_CM_T_ENUM, WH_CM_T_OPTION,
  WH_CM_T_RESULT, WH_CM_T_OWN, WH_CM_T_BORROW,
  WH_CM_T_FUNC, WH_CM_T_COMPONENT, WH_CM_T_INSTANCE, WH_CM_T_RESOURCE,
  WH_CM_T_ALIAS,
  WH_CM_T_CORE_FUNC, WH_CM_T_CORE_MODULE, WH_CM_T_CORE_INSTANCE,
  WH_CM_T_CORE_TABLE, WH_CM_T_CORE_MEMORY, WH_CM_T_CORE_GLOBAL,
  WH_CM_T_CORE_TAG,
};
#define WH_CM_T_LAST_PRIM WH_CM_T_STRING

/* Sorts of component-level definitions (binary `sort` byte, with core
 * module as its own value). */
enum {
  WH_CM_SORT_CORE_MODULE = 0x11,
  WH_CM_SORT_FUNC = 0x01,
  WH_CM_SORT_VALUE = 0x02,
  WH_CM_SORT_TYPE = 0x03,
  WH_CM_SORT_COMPONENT = 0x04,
  WH_CM_SORT_INSTANCE = 0x05,
};
/* Core sorts (binary core:sort). */
enum {
  WH_CM_CSORT_FUNC = 0x00, WH_CM_CSORT_TABLE = 0x01,
  WH_CM_CSORT_MEMORY = 0x02, WH_CM_CSORT_GLOBAL = 0x03,
  WH_CM_CSORT_TAG = 0x04, WH_CM_CSORT_TYPE = 0x10,
  WH_CM_CSORT_MODULE = 0x11, WH_CM_CSORT_INSTANCE = 0x12,
};

/* A typed item: an import/export of a component or instance type.  For
 * the type sort, `type` is the created type (an ALIAS, or a fresh
 * RESOURCE) and `ref` the type it was made from. */
typedef struct wh_cm_ext {
  uint8_t sort;
  wh_cm_tid_t type, ref;
} wh_cm_ext_t;

typedef struct wh_cm_item {
  const char *name;        /* NUL-terminated, in the arena */
  uint32_t len;
  wh_cm_ext_t ext;
} wh_cm_item_t;

typedef struct wh_cm_citem {     /* core import/export */
  const char *module;      /* imports only */
  const char *name;
  uint32_t module_len, len;
  wh_cm_tid_t type;        /* CORE_FUNC/TABLE/MEMORY/GLOBAL/TAG */
} wh_cm_citem_t;

typedef struct wh_cm_field {
  const char *name;        /* NULL for tuple elements */
  uint32_t len;
  wh_cm_tid_t type;        /* 0 for a case without payload, flags, enum */
} wh_cm_field_t;

typedef struct wh_cm_respath {
  wh_cm_tid_t res;         /* a RESOURCE node */
  uint32_t npath;
  uint32_t *path;
  uint8_t rep;             /* defined resources: core rep type, 0 unknown */
} wh_cm_respath_t;

typedef struct wh_cm_type {
  uint8_t kind;
  uint8_t borrow;          /* transitively contains a borrow */
  uint8_t depth;
  uint8_t async_;          /* FUNC: async (rejected) */
  uint32_t size;           /* effective type size (wasm-tools' TypeInfo) */
  uint32_t n;              /* fields, or FIXED_LIST length */
  wh_cm_field_t *f;
  wh_cm_tid_t a, b;
  /* COMPONENT / INSTANCE */
  uint32_t nimp, nexp, nires, ndres, nxres;
  wh_cm_item_t *imp, *exp;
  wh_cm_respath_t *ires, *dres, *xres;
  /* core */
  uint32_t np, nr;         /* CORE_FUNC */
  uint8_t *vt;
  uint32_t ncimp, ncexp;
  wh_cm_citem_t *cimp, *cexp;
  uint64_t min, max;       /* CORE_TABLE / CORE_MEMORY */
  uint8_t has_max, is64, shared, mut, page_log2;
  uint8_t rep;             /* RESOURCE: core valtype of the rep */
  uint32_t dtor;           /* RESOURCE: core func index + 1, or 0 */
} wh_cm_type_t;

/* ---- definitions (what instantiation replays) ----------------------------- */
enum {
  WH_CM_DEF_CORE_MODULE = 1, WH_CM_DEF_CORE_INSTANCE, WH_CM_DEF_CORE_TYPE,
  WH_CM_DEF_COMPONENT, WH_CM_DEF_INSTANCE, WH_CM_DEF_ALIAS, WH_CM_DEF_TYPE,
  WH_CM_DEF_CANON, WH_CM_DEF_START, WH_CM_DEF_IMPORT, WH_CM_DEF_EXPORT,
};

/* An instantiation argument or inline export: name, sort, index.  `sort`
 * is a component sort, or WH_CM_SORT_CORE_MODULE; for core instances it
 * is a core sort. */
typedef struct wh_cm_arg {
  const char *name;
  uint32_t len;
  uint8_t sort;
  uint32_t idx;
} wh_cm_arg_t;

enum { WH_CM_ALIAS_EXPORT = 0, WH_CM_ALIAS_CORE_EXPORT = 1, WH_CM_ALIAS_OUTER = 2 };
enum { WH_CM_ENC_UTF8 = 0, WH_CM_ENC_UTF16 = 1, WH_CM_ENC_LATIN1_UTF16 = 2 };
enum {
  WH_CM_CANON_LIFT = 0x00, WH_CM_CANON_LOWER = 0x01,
  WH_CM_CANON_RESOURCE_NEW = 0x02, WH_CM_CANON_RESOURCE_DROP = 0x03,
  WH_CM_CANON_RESOURCE_REP = 0x04,
};

typedef struct wh_cm_canon {
  uint8_t op;              /* WH_CM_CANON_* */
  uint32_t func;           /* lift: core func; lower: func */
  wh_cm_tid_t type;        /* lift: FUNC type; resource.*: the resource */
  uint32_t type_idx;       /* as written */
  uint8_t encoding;        /* WH_CM_ENC_* */
  bool has_memory, has_realloc, has_post_return;
  uint32_t memory, realloc, post_return;
  wh_cm_tid_t core_type;   /* the CORE_FUNC type of the core side */
} wh_cm_canon_t;

typedef struct wh_cm_comp wh_cm_comp_t;

typedef struct wh_cm_def {
  uint8_t kind;
  long long offset;
  union {
    struct {                       /* CORE_MODULE */
      const uint8_t *bytes;
      size_t len;
      wh_module_t *module;         /* validated + compiled; owned */
      wh_cm_tid_t type;
    } module;
    struct {                       /* CORE_INSTANCE, INSTANCE */
      uint8_t form;                /* 0 instantiate, 1 inline exports */
      uint32_t of;                 /* module / component index */
      uint32_t nargs;
      wh_cm_arg_t *args;
    } inst;
    struct {                       /* ALIAS */
      uint8_t target;              /* WH_CM_ALIAS_* */
      uint8_t sort;                /* component sort, or a core sort */
      bool core;                   /* sort is a core sort (WH_CM_CSORT_*) */
      uint32_t a, b;               /* instance & -, or count & index */
      const char *name;
      uint32_t len;
    } alias;
    wh_cm_tid_t type;              /* TYPE, CORE_TYPE */
    wh_cm_comp_t *component;       /* COMPONENT */
    wh_cm_canon_t canon;           /* CANON */
    struct {                       /* IMPORT, EXPORT */
      const char *name;
      uint32_t len;
      wh_cm_ext_t ext;             /* the import's / export's type */
      uint8_t sort;                /* EXPORT: sort of the exported item */
      uint32_t idx;                /* EXPORT: its index */
    } item;
  } u;
} wh_cm_def_t;

struct wh_cm_comp {
  WH_CM_VEC(wh_cm_def_t) defs;
  wh_cm_tid_t type;                /* COMPONENT type */
};

struct wh_cm_component {
  wh_engine_t *engine;             /* borrowed */
  wh_cm_arena_t arena;
  uint8_t *bytes;                  /* private copy of the input */
  size_t len;
  wh_cm_type_t *types;             /* malloc'ed; grows */
  uint32_t ntypes, captypes;
  wh_cm_comp_t *root;
  /* every core module validated, to free them */
  WH_CM_VEC(wh_module_t *) modules;
  /* while decoding only: compiled core modules to take instead of
   * compiling (cached.c), or NULL */
  struct wh_cm_premods *pre;
};

/* Compiled core modules handed to the decoder, one per core module
 * section in binary order (nested components included), e.g. from the
 * compilation cache.  wh_cm__v_core_module takes v[next] (and NULLs the
 * slot: the component then owns it) instead of calling wh_module_new,
 * after checking that it is the module at that place: its span in the
 * component's bytes (span[2*i] offset, span[2*i+1] length) and its
 * import and export counts must match.  A module that does not match,
 * or one too few, sets `mismatch` and fails the decode with
 * WH_ECORRUPT. */
typedef struct wh_cm_premods {
  wh_module_t **v;
  uint32_t n, next;
  const uint64_t *span;
  bool mismatch;
} wh_cm_premods_t;

/* binary.c: wh_cm_component_new, with core modules from `pre` (may be
 * NULL: compile them). */
wh_cm_component_t *wh_cm__component_build(wh_engine_t *e, const uint8_t *bytes, size_t len,
                                          wh_cm_premods_t *pre, wh_diag_t *diag);

/* ---- decoder <-> validator interface ---------------------------------- */
typedef struct wh_cm_v wh_cm_v_t;

/* Scope kinds: a component definition, a component type, an instance
 * type. */
enum { WH_CM_SCOPE_COMPONENT = 0, WH_CM_SCOPE_CTYPE = 1, WH_CM_SCOPE_ITYPE = 2 };

/* A raw component value type as read: a primitive (1..13) or an index
 * into the type index space. */
typedef struct wh_cm_rawval {
  bool is_idx;
  uint32_t v;
} wh_cm_rawval_t;

typedef struct wh_cm_rawfield {
  const char *name;
  uint32_t len;
  bool has_type;
  wh_cm_rawval_t type;
} wh_cm_rawfield_t;

/* One defvaltype / functype / resource type as read. */
typedef struct wh_cm_rawtype {
  uint8_t kind;                    /* WH_CM_T_* */
  uint32_t n;
  wh_cm_rawfield_t *f;
  bool has_a, has_b;
  wh_cm_rawval_t a, b;
  uint32_t idx;                    /* own/borrow type index */
  uint32_t len;                    /* fixed list length */
  uint8_t rep;                     /* resource */
  bool has_dtor;
  uint32_t dtor;
  bool async_;
} wh_cm_rawtype_t;

typedef struct wh_cm_rawext {       /* externtype */
  uint8_t sort;
  uint8_t bound;                   /* type sort: 0 eq, 1 sub resource */
  uint32_t idx;
} wh_cm_rawext_t;

typedef struct wh_cm_rawname {      /* nameattributes */
  const char *name;
  uint32_t len;
  bool has_implements, has_version, has_external;
  const char *implements, *version;
  uint32_t implements_len, version_len;
} wh_cm_rawname_t;

typedef struct wh_cm_rawcanon {
  uint8_t op;
  uint32_t func, type;
  uint32_t nopts;
  uint8_t opt[16];
  uint32_t optidx[16];
} wh_cm_rawcanon_t;

/* Core extern types as read (core:importdesc / core:externtype). */
typedef struct wh_cm_rawcext {
  uint8_t kind;                    /* core sort 0..4 */
  uint32_t idx;                    /* func / tag: type index */
  uint8_t vt;                      /* table elem / global type */
  bool mut;
  uint64_t min, max;
  bool has_max, is64, shared;
  uint8_t page_log2;
} wh_cm_rawcext_t;

/* validate.c entry points; each returns 0 or a negative WH_E* code with
 * the diagnostic filled at `off`. */
int wh_cm__v_init(wh_cm_v_t **out, wh_cm_component_t *c, wh_diag_t *diag);
void wh_cm__v_free(wh_cm_v_t *v);
int wh_cm__v_push(wh_cm_v_t *v, int scope_kind, long long off);
/* Pops the innermost scope; *tid receives its COMPONENT or INSTANCE type
 * (for a component scope, *comp its definition list). */
int wh_cm__v_pop(wh_cm_v_t *v, long long off, wh_cm_tid_t *tid, wh_cm_comp_t **comp);
int wh_cm__v_core_module(wh_cm_v_t *v, const uint8_t *bytes, size_t len, long long off);
int wh_cm__v_core_instance(wh_cm_v_t *v, uint8_t form, uint32_t of,
                           uint32_t nargs, wh_cm_arg_t *args, long long off);
int wh_cm__v_instance(wh_cm_v_t *v, uint8_t form, uint32_t of,
                      uint32_t nargs, wh_cm_arg_t *args,
                      wh_cm_rawname_t *names, long long off);
int wh_cm__v_alias(wh_cm_v_t *v, uint8_t target, uint8_t sort, bool core,
                   uint32_t a, uint32_t b, const char *name, uint32_t len,
                   long long off);
int wh_cm__v_type(wh_cm_v_t *v, const wh_cm_rawtype_t *t, long long off);
/* A component/instance type finished by wh_cm__v_pop is added with: */
int wh_cm__v_type_tid(wh_cm_v_t *v, wh_cm_tid_t tid, long long off);
/* Core function type (params, results). */
int wh_cm__v_core_functype(wh_cm_v_t *v, const uint8_t *vt, uint32_t np,
                           uint32_t nr, long long off);
/* Core module type: begin, declarations, end. */
int wh_cm__v_mt_begin(wh_cm_v_t *v, long long off);
int wh_cm__v_mt_import(wh_cm_v_t *v, const char *module, uint32_t mlen,
                       const char *name, uint32_t len,
                       const wh_cm_rawcext_t *ext, long long off);
int wh_cm__v_mt_export(wh_cm_v_t *v, const char *name, uint32_t len,
                       const wh_cm_rawcext_t *ext, long long off);
int wh_cm__v_mt_functype(wh_cm_v_t *v, const uint8_t *vt, uint32_t np,
                         uint32_t nr, long long off);
int wh_cm__v_mt_alias(wh_cm_v_t *v, uint32_t count, uint32_t idx, long long off);
int wh_cm__v_mt_end(wh_cm_v_t *v, long long off);
int wh_cm__v_canon(wh_cm_v_t *v, const wh_cm_rawcanon_t *c, long long off);
int wh_cm__v_import(wh_cm_v_t *v, const wh_cm_rawname_t *n,
                    const wh_cm_rawext_t *ext, long long off);
int wh_cm__v_export(wh_cm_v_t *v, const wh_cm_rawname_t *n, uint8_t sort,
                    uint32_t idx, const wh_cm_rawext_t *ext, long long off);
/* The nested component just popped is added to the current scope. */
int wh_cm__v_component(wh_cm_v_t *v, wh_cm_tid_t tid, wh_cm_comp_t *comp,
                       long long off);
/* Current nesting depth (scopes on the stack). */
uint32_t wh_cm__v_depth(const wh_cm_v_t *v);

/* ---- types: helpers shared by the slices ------------------------------- */
/* Follows ALIAS nodes to the type they name. */
wh_cm_tid_t wh_cm__peel(const wh_cm_component_t *c, wh_cm_tid_t t);
static inline wh_cm_type_t *wh_cm__ty(const wh_cm_component_t *c, wh_cm_tid_t t) {
  return &c->types[t];
}

/* binary.c: decodes `len` bytes of a component body (after the preamble
 * has been checked by the caller) into the current scope. */
int wh_cm__decode(wh_cm_component_t *c, wh_cm_v_t *v, wh_diag_t *diag);

#endif /* WH_CM_INT_H */
