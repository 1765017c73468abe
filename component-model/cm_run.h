/*
 * cm_run.h - runtime structures shared by abi.c (canonical ABI, handle
 * tables) and instance.c (instantiation, calls).  Not installed.
 *
 *   wh_cm_instance_t (public; one per wh_cm_instantiate)
 *     root ........ cm_rinst_t of the top-level component
 *     every cm_rinst_t, cm_func_t, core instance, trampoline made while
 *     instantiating is on one list and freed with the instance.
 *
 *   cm_rinst_t (one per component instance, nested ones too)
 *     index spaces replayed from the definitions in binary order
 *     handles ..... the resource handle table (index 0 reserved)
 *     may_enter / may_leave (the spec's reentrance flags)
 */
#ifndef WH_CM_RUN_H
#define WH_CM_RUN_H

#include "cm_int.h"
#include "value.h"
#include "wh_cm.h"

typedef struct cm_rinst cm_rinst_t;
typedef struct cm_call cm_call_t;

struct wh_cm_rtype {
  cm_rinst_t *impl;          /* the instance that defined it (NULL: host) */
  wh_func_t *dtor;           /* core destructor or NULL */
  wh_cm_tid_t tid;
  /* Host resources (wh_cm_linker_define_resource; impl NULL, tid 0):
   * malloc'ed, shared by the linker and every instance linking it, freed
   * when the last of them lets go (refs updated atomically). */
  wh_cm_resource_dtor_t host_dtor;
  void *host_env;
  uint32_t refs;
  char *name;
};

typedef struct cm_handle {
  wh_cm_rtype_t *rt;
  uint32_t rep;
  bool used, own;
  uint32_t lends;
  cm_call_t *scope;          /* borrow: the call it was lent to */
} cm_handle_t;

typedef struct cm_htable {
  cm_handle_t *v;            /* v[0] never used */
  uint32_t n, cap;
  uint32_t *free;
  uint32_t nfree, capfree;
} cm_htable_t;

/* One lifted call in progress (the spec's Task / Subtask borrow scope). */
struct cm_call {
  uint32_t borrows;          /* borrow handles lent to the callee, alive */
  cm_handle_t **lenders;     /* by table index: (inst, idx) pairs */
  cm_rinst_t **lend_inst;
  uint32_t *lend_idx;
  uint32_t nlend, caplend;
};

/* ABI context: the options of one side of a call. */
typedef struct cm_cx {
  const wh_cm_component_t *c;
  wh_exec_t *x;
  wh_memory_t *mem;          /* NULL if none */
  wh_func_t *realloc;
  uint8_t enc;               /* WH_CM_ENC_* */
  cm_rinst_t *inst;
  cm_call_t *call;           /* borrow scope */
  char *trap;                /* receives the trap message (256 bytes) */
} cm_cx_t;

#define CM_TRAPMSG 256

/* ---- abi.c ---------------------------------------------------------------- */
/* Flattens `t` (value type) appending core types (WH_I32...) to out[*n];
 * stops counting beyond `max` (returns false if more than max). */
bool wh_cm__flatten(const wh_cm_component_t *c, wh_cm_tid_t t, uint8_t *out,
                    uint32_t *n, uint32_t max);
uint32_t wh_cm__align(const wh_cm_component_t *c, wh_cm_tid_t t);
uint32_t wh_cm__size(const wh_cm_component_t *c, wh_cm_tid_t t);
/* The tuple of `types` as one record: its alignment and size. */
void wh_cm__tuple_shape(const wh_cm_component_t *c, const wh_cm_tid_t *types, uint32_t n,
                        uint32_t *align, uint32_t *size);
/* Flat signature of a FUNC type as lowered (import side: results beyond
 * one become a trailing i32 retptr param) or lifted (export side: a
 * result pointer returned).  Writes type chars "iIfF" to params/results
 * (room for 18 / 2 bytes + NUL). */
void wh_cm__core_sig(const wh_cm_component_t *c, wh_cm_tid_t ft, bool lower,
                     char *params, char *results);

/* Lifts the params/results of a function: from flat core values `flat`
 * (raw slots, n of them) into vals[] (count = number of types).  Returns
 * 0, WH_ETRAP (cx->trap set) or WH_ENOMEM. */
int wh_cm__lift_values(cm_cx_t *cx, const wh_cm_tid_t *types, uint32_t ntypes,
                       uint32_t max_flat, const uint64_t *flat, uint32_t nflat,
                       wh_cm_val *vals);
/* Lowers vals[] into flat core values.  When they flatten to more than
 * `max_flat`: if `retptr` is given (a caller-provided out pointer,
 * lowering results into an import's caller), stores there; otherwise
 * reallocs space and writes one i32 pointer into flat[0].  *nflat gets
 * the number of flat values written.  Values are checked against the
 * types (WH_EINVAL with cx->trap naming the mismatch). */
int wh_cm__lower_values(cm_cx_t *cx, const wh_cm_tid_t *types, uint32_t ntypes,
                        uint32_t max_flat, const wh_cm_val *vals, uint64_t *flat,
                        uint32_t *nflat, const uint64_t *retptr);
/* How many flat values `types` flatten to (counting stops past `max`),
 * for a caller that lifts or lowers the same types on every call to pass
 * as `total` to the _k variants of the two functions above. */
uint32_t wh_cm__flat_total(const wh_cm_component_t *c, const wh_cm_tid_t *types, uint32_t n,
                           uint32_t max);
int wh_cm__lift_values_k(cm_cx_t *cx, const wh_cm_tid_t *types, uint32_t ntypes,
                         uint32_t max_flat, uint32_t total, const uint64_t *flat,
                         uint32_t nflat, wh_cm_val *vals);
int wh_cm__lower_values_k(cm_cx_t *cx, const wh_cm_tid_t *types, uint32_t ntypes,
                          uint32_t max_flat, uint32_t total, const wh_cm_val *vals,
                          uint64_t *flat, uint32_t *nflat, const uint64_t *retptr);

int wh_cm__trap(cm_cx_t *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Handle tables. */
void wh_cm__htable_fini(cm_htable_t *t);
int wh_cm__htable_add(cm_cx_t *cx, cm_htable_t *t, const cm_handle_t *h, uint32_t *idx);
cm_handle_t *wh_cm__htable_get(cm_cx_t *cx, cm_htable_t *t, uint32_t idx);
/* Resolves a resource type (peeled through aliases) in `inst` to its
 * runtime identity, or NULL if unknown here. */
wh_cm_rtype_t *wh_cm__rtype(cm_rinst_t *inst, wh_cm_tid_t res);
cm_htable_t *wh_cm__handles(cm_rinst_t *inst);
/* Ends a call: releases lends; traps if borrows remain. */
int wh_cm__call_end(cm_cx_t *cx, cm_call_t *call, bool check);

/* For fuse.c: a variant-like type's case count, discriminant size and
 * payload offset; the payload type of case i (0: none); realloc with
 * the spec's checks on its result; one handle lifted out of cx's table
 * (own: removed; borrow: a lend recorded in cx->call) into a handle
 * value (no allocation), or lowered into cx's table; UTF-8 validity with
 * the lifting trap's message. */
void wh_cm__case_shape(const wh_cm_component_t *c, wh_cm_tid_t t, uint32_t *ncase,
                       uint32_t *dsize, uint32_t *payload);
wh_cm_tid_t wh_cm__case_type(const wh_cm_component_t *c, wh_cm_tid_t t, uint32_t i);
int wh_cm__realloc(cm_cx_t *cx, uint32_t old, uint32_t old_size, uint32_t align,
                   uint32_t new_size, uint32_t *out);
int wh_cm__lift_handle(cm_cx_t *cx, uint8_t kind, uint32_t idx, wh_cm_tid_t res,
                       wh_cm_val *out);
int wh_cm__lower_handle(cm_cx_t *cx, const wh_cm_val *v, uint8_t kind, wh_cm_tid_t res,
                        uint32_t *out);
int wh_cm__utf8_check(cm_cx_t *cx, const uint8_t *s, size_t n);

/* ---- fuse.c: fused adapters -------------------------------------------------
 * A lowered import whose callee is a function lifted by another
 * component instance moves its arguments and results straight from one
 * side's memory and flat values into the other's (see fuse.c).
 *
 * Whether the two functions' types (ft1 in c1, ft2 in c2) have one shape
 * the adapter can walk in parallel; false sends the call through values
 * (fixed-length lists, or types whose shapes differ). */
bool wh_cm__fuse_compatible(const wh_cm_component_t *c1, wh_cm_tid_t ft1,
                            const wh_cm_component_t *c2, wh_cm_tid_t ft2);
/* Per-slot fix-ups of a signature made only of scalars (bool, integers,
 * floats, char) flattening to at most 16 params and 1 result: codes in
 * out[] (params then the result, WH_CM_FIX_*), *n of them.  false if the
 * signature is not of that kind. */
enum { WH_CM_FIX_NONE = 0, WH_CM_FIX_BOOL, WH_CM_FIX_S8, WH_CM_FIX_U8, WH_CM_FIX_S16,
       WH_CM_FIX_U16, WH_CM_FIX_32, WH_CM_FIX_F32, WH_CM_FIX_F64, WH_CM_FIX_CHAR };
bool wh_cm__fuse_scalar_plan(const wh_cm_component_t *c, wh_cm_tid_t ft, uint8_t *out,
                             uint32_t *n);
/* Applies fix-up `code` to one flat slot; WH_ETRAP (cx->trap set) for an
 * invalid char. */
int wh_cm__fuse_fix(cm_cx_t *cx, uint8_t code, uint64_t *slot);
/* The same walk for the commonest signatures, without the type tree:
 * params that are strings or scalars flattening to at most 16 values,
 * a string, a scalar or no result.  wh_cm__fuse_flat_plan fills codes[]
 * (one a param: WH_CM_FUSE_STRING or a WH_CM_FIX_* code), *n and *res
 * (WH_CM_FUSE_NONE, _STRING or a fix code); false for other signatures.
 * wh_cm__fuse_flat_params moves the caller's flat params into the
 * callee's (out, *nout); wh_cm__fuse_flat_result moves the callee's core
 * result `core` into the caller: a scalar into *out, a string (`core`
 * points at its pair) to the caller's out pointer *retptr.  Errors as
 * wh_cm__fuse_values. */
enum { WH_CM_FUSE_STRING = 0xF0, WH_CM_FUSE_NONE = 0xF1 };
bool wh_cm__fuse_flat_plan(const wh_cm_component_t *c, wh_cm_tid_t ft, uint8_t *codes,
                           uint32_t *n, uint8_t *res);
int wh_cm__fuse_flat_params(cm_cx_t *from, cm_cx_t *to, const uint8_t *codes, uint32_t n,
                            const uint64_t *in, uint64_t *out, uint32_t *nout);
int wh_cm__fuse_flat_result(cm_cx_t *from, cm_cx_t *to, uint8_t code, uint64_t core,
                            const uint64_t *retptr, uint64_t *out);
/* Moves values of `types1` (in from->c) lifted from `from` into `to`
 * as `types2` (in to->c), as lifting + lowering would, with no value
 * tree in between: flat `in[nin]` -> flat `out` (*nout set) when they
 * flatten to at most max_flat; otherwise in[0] points at the tuple in
 * from's memory, and it is copied to *retptr in to's memory (results
 * into a caller's out pointer) or into space from to's realloc, whose
 * address goes to out[0].  0, WH_ETRAP (trap message set), WH_ENOMEM. */
int wh_cm__fuse_values(cm_cx_t *from, cm_cx_t *to, const wh_cm_tid_t *types1,
                       const wh_cm_tid_t *types2, uint32_t n, uint32_t max_flat,
                       uint32_t total, const uint64_t *in, uint32_t nin, uint64_t *out,
                       uint32_t *nout, const uint64_t *retptr);

/* ---- instance.c ----------------------------------------------------------- */
/* Ends the whole invocation from a host function with `status` (WASI
 * wasi:cli/exit): returns WH_EEXIT for the host function to return; the
 * call then unwinds every frame, wh_cm_call returns WH_EEXIT and
 * wh_exec_exit_status() gives `status`. */
int wh_cm__hostcall_exit(wh_cm_hostcall_t *call, int status);
/* Traps a host function with one of the engine's kinds (a wait that ran
 * into the deadline: WH_TRAP_DEADLINE) and its spec text; the kind
 * survives the way out (wh_exec_trap).  Returns WH_ETRAP. */
int wh_cm__hostcall_trap_kind(wh_cm_hostcall_t *call, wh_trap_code_t kind);

#endif /* WH_CM_RUN_H */
