/*
 * wh_cm.h - wharf's WebAssembly component model: the public contract.
 *
 *   bytes --wh_cm_component_new--> wh_cm_component_t
 *          (decoded and validated: every section, nested components, core
 *           modules validated by the engine; immutable afterwards, so it
 *           may be shared between threads)
 *
 * A component lists its imports and exports by name with their types.
 * Types are handles (wh_cm_type_ref_t) valid as long as the component;
 * the accessors below walk them (enough to print WIT).
 *
 * Async (stream, future, error-context, async options and built-ins) is
 * not supported: such components fail with WH_EUNSUPPORTED.
 */
#ifndef WH_CM_H
#define WH_CM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wh_engine.h"
#include "wh_error.h"

typedef struct wh_cm_component wh_cm_component_t;
typedef uint32_t wh_cm_type_ref_t;

/* What an import or export is. */
typedef enum wh_cm_kind {
  WH_CM_KIND_MODULE = 0,      /* a core module */
  WH_CM_KIND_FUNC = 1,
  WH_CM_KIND_VALUE = 2,       /* never: values are rejected */
  WH_CM_KIND_TYPE = 3,
  WH_CM_KIND_COMPONENT = 4,
  WH_CM_KIND_INSTANCE = 5,
} wh_cm_kind_t;

/* What a type handle is. */
typedef enum wh_cm_tkind {
  WH_CM_TK_BOOL = 1, WH_CM_TK_S8, WH_CM_TK_U8, WH_CM_TK_S16, WH_CM_TK_U16,
  WH_CM_TK_S32, WH_CM_TK_U32, WH_CM_TK_S64, WH_CM_TK_U64, WH_CM_TK_F32,
  WH_CM_TK_F64, WH_CM_TK_CHAR, WH_CM_TK_STRING,
  WH_CM_TK_RECORD, WH_CM_TK_VARIANT, WH_CM_TK_LIST, WH_CM_TK_FIXED_LIST,
  WH_CM_TK_TUPLE, WH_CM_TK_FLAGS, WH_CM_TK_ENUM, WH_CM_TK_OPTION,
  WH_CM_TK_RESULT, WH_CM_TK_OWN, WH_CM_TK_BORROW,
  WH_CM_TK_FUNC, WH_CM_TK_COMPONENT, WH_CM_TK_INSTANCE, WH_CM_TK_RESOURCE,
  WH_CM_TK_MODULE = 32,       /* a core module type */
} wh_cm_tkind_t;

/* Decodes and validates `len` bytes (borrowed; copied).  On failure
 * returns NULL and fills `diag` (may be NULL): WH_EMALFORMED (not a
 * well-formed binary), WH_EINVALID (a validation rule; the message says
 * which), WH_EUNSUPPORTED (async, values, GC and other gated features),
 * WH_ENOTCOMPONENT (a core module), WH_ENOMEM.  `e` must outlive the
 * component. */
wh_cm_component_t *wh_cm_component_new(wh_engine_t *e, const uint8_t *bytes,
                                       size_t len, wh_diag_t *diag);
/* Frees a component (NULL is a no-op). */
void wh_cm_component_free(wh_cm_component_t *c);

/* wh_cm_component_new through the compilation cache `cache` (NULL: no
 * cache; borrowed): on a hit the core modules come from the component's
 * artifact instead of being compiled, while the component's own sections
 * are still decoded and validated from `bytes`; on a miss the component
 * is built as by wh_cm_component_new and its compiled core modules are
 * stored.  *hit (may be NULL) says which.  An artifact that does not fit
 * the bytes (another module at a place, a missing one) is dropped as
 * corrupt and the component compiled; cache trouble is worked around and
 * counted, never returned (docs/CACHE.md).  Errors as
 * wh_cm_component_new.  component-model/cached.c. */
struct wh_cache;
struct wh_cache_key;
wh_cm_component_t *wh_cm_component_new_cached(wh_engine_t *e, struct wh_cache *cache,
                                              const uint8_t *bytes, size_t len, bool *hit,
                                              wh_diag_t *diag);
/* The same with a key the caller made already (kind COMPONENT, e's
 * fingerprint: wh_cache_key_component, or wh_cache_key_from_digest with
 * the digest of `bytes`), so the bytes are not hashed again.  A key of
 * another kind: NULL, WH_EINVAL. */
wh_cm_component_t *wh_cm_component_new_cached_keyed(wh_engine_t *e, struct wh_cache *cache,
                                                    const struct wh_cache_key *k,
                                                    const uint8_t *bytes, size_t len,
                                                    bool *hit, wh_diag_t *diag);

/* The tier the component's core modules run in: WH_TIER_NATIVE when every
 * one of them has native code, else WH_TIER_INTERP, with *reason (may be
 * NULL) the first module's reason for staying interpreted (NULL when the
 * engine never asked for native code).  component-model/cached.c. */
wh_tier_t wh_cm_component_tier(const wh_cm_component_t *c, const char **reason);

/* Imports and exports of the top-level component, in binary order.
 * `name` is borrowed from the component (NUL-terminated); `type` is the
 * item's type (a FUNC, INSTANCE, COMPONENT, MODULE, or for a type the
 * type itself).  Returns WH_ERANGE for i out of range. */
uint32_t wh_cm_import_count(const wh_cm_component_t *c);
int wh_cm_import(const wh_cm_component_t *c, uint32_t i, const char **name,
                 wh_cm_kind_t *kind, wh_cm_type_ref_t *type);
uint32_t wh_cm_export_count(const wh_cm_component_t *c);
int wh_cm_export(const wh_cm_component_t *c, uint32_t i, const char **name,
                 wh_cm_kind_t *kind, wh_cm_type_ref_t *type);

/* ---- type handles ---------------------------------------------------------
 * Aliases are looked through; use wh_cm_type_same to compare identity
 * (resources are equal only to themselves). */
wh_cm_tkind_t wh_cm_type_kind(const wh_cm_component_t *c, wh_cm_type_ref_t t);
/* Fields of a record, cases of a variant, elements of a tuple, names of
 * flags/enum, params of a func: count, then one by one.  `name` is NULL
 * for tuple elements; `type` is 0 for a case without payload and for
 * flags/enum names. */
uint32_t wh_cm_type_field_count(const wh_cm_component_t *c, wh_cm_type_ref_t t);
int wh_cm_type_field(const wh_cm_component_t *c, wh_cm_type_ref_t t, uint32_t i,
                     const char **name, wh_cm_type_ref_t *type);
/* list/option/fixed-list element, result ok, func result, own/borrow
 * resource; 0 if none. */
wh_cm_type_ref_t wh_cm_type_elem(const wh_cm_component_t *c, wh_cm_type_ref_t t);
/* result err; 0 if none.  fixed-list: see wh_cm_type_length. */
wh_cm_type_ref_t wh_cm_type_err(const wh_cm_component_t *c, wh_cm_type_ref_t t);
uint32_t wh_cm_type_length(const wh_cm_component_t *c, wh_cm_type_ref_t t);
/* Exports (instance, component) and imports (component) of a type, as
 * for the component itself. */
uint32_t wh_cm_type_export_count(const wh_cm_component_t *c, wh_cm_type_ref_t t);
int wh_cm_type_export(const wh_cm_component_t *c, wh_cm_type_ref_t t, uint32_t i,
                      const char **name, wh_cm_kind_t *kind,
                      wh_cm_type_ref_t *type);
uint32_t wh_cm_type_import_count(const wh_cm_component_t *c, wh_cm_type_ref_t t);
int wh_cm_type_import(const wh_cm_component_t *c, wh_cm_type_ref_t t, uint32_t i,
                      const char **name, wh_cm_kind_t *kind,
                      wh_cm_type_ref_t *type);
/* True if a and b are the same type after looking through aliases. */
bool wh_cm_type_same(const wh_cm_component_t *c, wh_cm_type_ref_t a,
                     wh_cm_type_ref_t b);

/* ==== instances and calls ==================================================
 *
 *   wh_cm_linker_t    host functions by name ("ns:pkg/iface@1.0.0#fn" for a
 *                     function of an imported instance, "fn" for a
 *                     function imported directly)
 *   wh_cm_instantiate one wh_cm_instance_t: core modules instantiated
 *                     through the engine (from `alloc` if given), imports
 *                     lowered through trampolines, nested components
 *   wh_cm_call        lowers wh_cm_val args into the callee, runs it,
 *                     lifts the results (canonical ABI, abi.c)
 *
 * An instance and the exec it runs on are used by one thread at a time.
 */
#include "value.h"

typedef struct wh_cm_linker wh_cm_linker_t;
typedef struct wh_cm_instance wh_cm_instance_t;
typedef struct wh_cm_hostcall wh_cm_hostcall_t;

/* A component-level host function: `args` are lifted from the caller
 * (borrowed), `results` (nresults of them, zeroed) are filled by the
 * callback and then owned and freed by wharf.  Return 0, or the result of
 * wh_cm_hostcall_trap() to trap. */
typedef int (*wh_cm_host_fn_t)(wh_cm_hostcall_t *call, void *env,
                               const wh_cm_val *args, uint32_t nargs,
                               wh_cm_val *results, uint32_t nresults);
/* Records a trap with a message; returns WH_ETRAP. */
int wh_cm_hostcall_trap(wh_cm_hostcall_t *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The exec the call runs on. */
wh_exec_t *wh_cm_hostcall_exec(wh_cm_hostcall_t *call);

wh_cm_linker_t *wh_cm_linker_new(wh_engine_t *e);
void wh_cm_linker_free(wh_cm_linker_t *l);
/* Defines a host function (name copied).  WH_EEXISTS if defined. */
int wh_cm_linker_define_func(wh_cm_linker_t *l, const char *name,
                             wh_cm_host_fn_t fn, void *env);
/* When on, imported functions the linker lacks are linked to functions
 * that trap "import X was not provided" instead of failing. */
void wh_cm_linker_trap_missing(wh_cm_linker_t *l, bool on);
/* On (the default): a component's import satisfied by a function
 * another component instance lifts is called through a fused adapter
 * that moves arguments and results memory to memory (fuse.c).  Off:
 * through wh_cm_val values (lift, then lower), for benchmarks and tests
 * that compare the two.  Applies to instances made afterwards. */
void wh_cm_linker_fuse(wh_cm_linker_t *l, bool on);
/* Defines a host core module (name copied; `m` borrowed: it must outlive
 * the linker and every instance linked with it), for a component's
 * `(import "name" (core module ...))` or an imported instance's core
 * module export ("iface#m").  Nested instances of an imported instance
 * are looked up with one more "#": "iface#inner#fn".  WH_EEXISTS if the
 * name is defined (as a module or a function). */
int wh_cm_linker_define_module(wh_cm_linker_t *l, const char *name,
                               const wh_module_t *m);
/* Makes the exports of component instance `inst` (borrowed: it must
 * outlive the linker's use and every instance linked to it, and run on
 * the same exec) the import `name` of later components: functions,
 * resource types (with their identity: an import whose type requires
 * another resource fails with WH_EUNLINKABLE "mismatched resource
 * types"), core modules, instances.  Defining a name again replaces the
 * instance.  0, WH_EINVAL, WH_ENOMEM. */
int wh_cm_linker_define_instance(wh_cm_linker_t *l, const char *name,
                                 wh_cm_instance_t *inst);
/* The same with the instance `inst` exports as `export_name` (an
 * exported interface, "ns:pkg/iface@1.0.0") instead of its top-level
 * exports: how one component's export satisfies another's import of the
 * interface.  0, WH_EINVAL, WH_ENOMEM; an `inst` without that instance
 * export makes instantiation fail with WH_EUNLINKABLE. */
int wh_cm_linker_define_instance_export(wh_cm_linker_t *l, const char *name,
                                        wh_cm_instance_t *inst, const char *export_name);
/* Removes the instance defined as `name` (a host that links instances
 * for one instantiation at a time, on a linker it keeps).  0 or
 * WH_ENOTFOUND. */
int wh_cm_linker_undefine_instance(wh_cm_linker_t *l, const char *name);
/* Whether export `name` of `exporter` can satisfy import `name` of
 * `importer` (both borrowed), from their types alone (link.c): both must
 * be instances (interfaces), and the export must have every function and
 * type the import lists, with equal types (names of parameters, fields
 * and cases included).
 * 0; WH_ENOTFOUND (the importer has no such import) or WH_EUNLINKABLE,
 * with `why` (n bytes) naming the item and, for a function, both WIT
 * types. */
int wh_cm_link_check(const wh_cm_component_t *importer, const char *name,
                     const wh_cm_component_t *exporter, char *why, size_t n);

/* ---- host resources ---------------------------------------------------------
 * A component that imports `resource r` gets its handles' meaning from
 * the host.  The host defines the type once on the linker and works with
 * reps (a uint32_t of its choosing, e.g. an index into its own table):
 *
 *   wh_cm_linker_define_resource(l, "ns:pkg/iface@1.0.0#r", dtor, env, &rt)
 *       ("r" for a resource imported directly by the component)
 *   a host function returns own<r>:   results[0] = wh_cm_val_own(rt, rep)
 *   it receives borrow<r> / own<r>:   args[i].of.handle.rep (and .rt == rt)
 *   the guest drops its own<r>:       dtor(env, rep)
 *
 * The handles themselves live in the instance's handle tables (the guest
 * sees small indices, never reps).  An own<r> passed to the host (an
 * argument or an export's result) leaves the tables: the host then owns
 * that rep.  When an instance is freed, own<r> handles still in its
 * tables are destroyed through dtor, so host state is never leaked by a
 * guest that forgets a drop.  Every instance that links the type holds a
 * reference to it, so the linker may be freed before its instances.
 * Define a resource under the interface that declares it
 * ("wasi:io/streams@0.2.0#output-stream"); interfaces that `use` it see
 * the same type.  Imported resources the linker does not define keep
 * working as opaque types (handles with no host behind them and no
 * destructor). */
typedef void (*wh_cm_resource_dtor_t)(void *env, uint32_t rep);
/* Defines host resource `name` (copied).  `dtor` may be NULL.  *out (may
 * be NULL) receives the type, borrowed from the linker (valid while the
 * linker or an instance linking it lives).  0, WH_EINVAL, WH_EEXISTS
 * (already defined), WH_ENOMEM.  Instantiating a component whose import
 * of that name is not a resource fails with WH_EUNLINKABLE. */
int wh_cm_linker_define_resource(wh_cm_linker_t *l, const char *name,
                                 wh_cm_resource_dtor_t dtor, void *env,
                                 wh_cm_rtype_t **out);
/* Whether wh_cm_instantiate(l, c, ...) would find every import, without
 * instantiating: 0, or WH_EUNLINKABLE with diag naming the missing ones
 * (functions count as found when trap_missing is on; imported modules,
 * components and values never are). */
int wh_cm_linker_check(const wh_cm_linker_t *l, const wh_cm_component_t *c,
                       wh_diag_t *diag);
/* The same, with the imports named in linked[n] counted as provided
 * (linked to another component's exports by the host). */
int wh_cm_linker_check_linked(const wh_cm_linker_t *l, const wh_cm_component_t *c,
                              const char *const *linked, uint32_t n, wh_diag_t *diag);

/* Instantiates `c` (borrowed; must outlive the instance) on `exec`.
 * `alloc` may be NULL (on demand).  Errors: WH_EUNLINKABLE (diag names
 * every missing import), WH_ETRAP (a start function trapped; see
 * wh_cm_instance_trap), WH_ELIMIT, WH_ENOMEM. */
int wh_cm_instantiate(wh_cm_linker_t *l, const wh_cm_component_t *c,
                      wh_exec_t *exec, wh_inst_alloc_t *alloc,
                      wh_cm_instance_t **out, wh_diag_t *diag);
void wh_cm_instance_free(wh_cm_instance_t *inst);
/* Finds an exported function: an exact export name, "iface#fn" inside an
 * exported instance, or a bare name when unambiguous.  *type receives
 * its FUNC type (for the wh_cm_type_* accessors).  WH_ENOTFOUND, or
 * WH_EEXISTS when a bare name is ambiguous. */
int wh_cm_instance_func(wh_cm_instance_t *inst, const char *name,
                        wh_cm_type_ref_t *type);
/* Calls an exported function.  `args` are borrowed; `results` (room for
 * nresults; 0 or 1) receive owned values (wh_cm_val_fini them).
 * Returns 0, WH_ENOTFOUND, WH_EINVAL (args do not match the type;
 * wh_cm_instance_trap says why), WH_ETRAP (message from
 * wh_cm_instance_trap), WH_ENOMEM. */
int wh_cm_call(wh_cm_instance_t *inst, const char *name, const wh_cm_val *args,
               size_t nargs, wh_cm_val *results, size_t nresults,
               wh_exec_t *exec);
/* A resolved exported function: wh_cm_call without the name lookup, for
 * hosts that call the same export many times.  *out is borrowed from
 * `inst` (valid while it lives); errors as wh_cm_instance_func, *out
 * then NULL. */
typedef struct wh_cm_func wh_cm_func_t;
int wh_cm_instance_func_handle(wh_cm_instance_t *inst, const char *name,
                               wh_cm_func_t **out);
/* Its FUNC type (for the wh_cm_type_* and JSON functions). */
wh_cm_type_ref_t wh_cm_func_type(const wh_cm_func_t *f);
/* As wh_cm_call, on a function `f` from wh_cm_instance_func_handle of
 * the same `inst`. */
int wh_cm_call_func(wh_cm_instance_t *inst, wh_cm_func_t *f, const wh_cm_val *args,
                    size_t nargs, wh_cm_val *results, size_t nresults,
                    wh_exec_t *exec);
/* The message of the last trap or argument error on `inst` (borrowed). */
const char *wh_cm_instance_trap(const wh_cm_instance_t *inst);
/* Drops an own handle the host holds (`own`, borrowed; an export's
 * result or a host function's argument): runs the guest destructor of a
 * resource `inst` defines, or the host dtor of a host resource.  The
 * host must not use the handle afterwards.  0, WH_EINVAL (not an own
 * handle of `inst` or of a host resource; wh_cm_instance_trap says why),
 * WH_ETRAP (the destructor trapped, or the instance cannot be entered). */
int wh_cm_resource_drop(wh_cm_instance_t *inst, const wh_cm_val *own, wh_exec_t *exec);

/* ==== WIT text and JSON values (wit.c, json.c) ==============================
 * Printing for `wharf inspect`, and the JSON mapping of values
 * (docs/API.md "JSON value mapping"). */

/* The component's imports and exports as WIT: a `world root` like
 * `jco wit` prints, then a `package ns:pkg@ver { interface ... }` block
 * with the body of every named interface.  *out receives a malloc'ed
 * NUL-terminated string (the caller frees it).  0 or WH_ENOMEM. */
int wh_cm_component_wit(const wh_cm_component_t *c, char **out);
/* A core module's imports (`import "mod" "name": func`) and exports
 * (`export "name": func (i32, i32) -> (i32)`), one a line; *out as above.
 * 0 or WH_ENOMEM. */
int wh_cm_module_listing(const wh_module_t *m, char **out);
/* A name the component gives type `t` (an exported or imported type
 * name: "point"), or NULL; borrowed from the component. */
const char *wh_cm_type_name(const wh_cm_component_t *c, wh_cm_type_ref_t t);

/* Function type `fn` as WIT, "func(a: s32, b: string) -> point", types
 * named as in wh_cm_component_wit.  *out is malloc'ed (caller frees).
 * 0, WH_EINVAL (not a function type) or WH_ENOMEM. */
int wh_cm_func_wit(const wh_cm_component_t *c, wh_cm_type_ref_t fn, char **out);

/* JSON (jansson's json_t; include <jansson.h> to use these).  The
 * mapping, type by type, is docs/API.md "JSON value mapping".  Errors fill
 * `diag` (may be NULL) with the path from `path` ("args[1].point.x:
 * expected s32, got string") and return WH_EINVAL (the JSON or value does
 * not fit the type), WH_ELIMIT (more than WH_CM_JSON_MAX_VALUES values or
 * WH_CM_JSON_MAX_BYTES string bytes, or nested too deep) or WH_ENOMEM.
 * Any json_t is accepted: conversion walks the type, not the JSON. */
#define WH_CM_JSON_MAX_VALUES 4000000u
#define WH_CM_JSON_MAX_BYTES (64u << 20)
struct json_t;
/* JSON `j` (borrowed) as a value of type `t` into *out (zeroed first;
 * owned by the caller, wh_cm_val_fini it; left zeroed on error). */
int wh_cm_json_to_val(const wh_cm_component_t *c, wh_cm_type_ref_t t,
                      const struct json_t *j, const char *path, wh_cm_val *out,
                      wh_diag_t *diag);
/* Value `v` (borrowed) of type `t` as JSON: *out is a new reference. */
int wh_cm_val_to_json(const wh_cm_component_t *c, wh_cm_type_ref_t t,
                      const wh_cm_val *v, const char *path,
                      struct json_t **out, wh_diag_t *diag);
/* The arguments of function type `fn` from a JSON array (paths
 * "args[i]..."): *out receives *nout values (free with wh_cm_vals_free). */
int wh_cm_json_args(const wh_cm_component_t *c, wh_cm_type_ref_t fn,
                    const struct json_t *args, wh_cm_val **out, size_t *nout,
                    wh_diag_t *diag);
/* The result of function type `fn` as JSON (path "result"): JSON null
 * when the function has no result (then `result` may be NULL). */
int wh_cm_json_result(const wh_cm_component_t *c, wh_cm_type_ref_t fn,
                      const wh_cm_val *result, struct json_t **out,
                      wh_diag_t *diag);
/* Finishes n values and frees the array (NULL is a no-op). */
void wh_cm_vals_free(wh_cm_val *v, size_t n);

#endif /* WH_CM_H */
