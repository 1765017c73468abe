/*
 * native_plugin.h - the boundary between the engine and its LLVM compiler.
 *
 * The native tier's compiler (native_llvm.c) is a shared object of its
 * own, libwharf-llvm.so, that the engine dlopens the first time it has to
 * compile something natively (native_compile.c).  Loading libLLVM and
 * what it drags in (z3, libxml2, ICU, libstdc++) costs ~18 ms and ~13 ms
 * of CPU per process, and most processes never compile: `wharf run` of a
 * cached or precompiled module, a daemon restart whose artifacts are all
 * in the cache, every interpreted run.  Running native code needs no LLVM
 * at all (native_load.c, native_rt.c).
 *
 * The plugin calls nothing in the engine by name: what it needs comes in
 * a wh_llvm_host_t, so it links against libLLVM alone (and is linked with
 * -z defs to prove it).  It reads the engine's structures directly, so a
 * plugin is only ever used with the build it came from: both sides
 * compute wh__native_plugin_abi() and the engine refuses a plugin whose
 * answer differs.
 */
#ifndef WH_NATIVE_PLUGIN_H
#define WH_NATIVE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "native.h"
#include "wcode.h"

#define WH_LLVM_PLUGIN_FILE "libwharf-llvm.so"
#define WH_LLVM_PLUGIN_ABI_SYM "wh_llvm_plugin_abi"
#define WH_LLVM_PLUGIN_COMPILE_SYM "wh_llvm_plugin_compile"

/* What the engine lends the plugin. */
typedef struct wh_llvm_host {
  int (*diag_set)(wh_diag_t *d, int code, long long offset, const char *fmt, ...)
      __attribute__((format(printf, 4, 5)));
  int (*wop_of_handler)(const uint8_t *cell);
  const int8_t *wop_words;
  const char *const *wop_kinds;
  const char *const *wop_names;
} wh_llvm_host_t;

/* uint32_t wh_llvm_plugin_abi(void): the plugin's wh__native_plugin_abi(). */
typedef uint32_t (*wh_llvm_plugin_abi_fn)(void);
/* int wh_llvm_plugin_compile(host, m, &obj, &len, diag): translates every
 * defined function of m and returns the x86-64 ELF object in *obj
 * (malloc'ed, *len bytes; the caller frees).  0, or an error code with
 * diag set (WH_EUNSUPPORTED for a module the tier does not take).
 * Thread-safe. */
typedef int (*wh_llvm_plugin_compile_fn)(const wh_llvm_host_t *host, wh_module_t *m,
                                         uint8_t **obj, size_t *len, wh_diag_t *diag);

/* A stamp of everything the plugin and the engine must agree on: the
 * version, the wcode op set and the layout of the structures the plugin
 * reads or bakes into code. */
static inline uint32_t wh__native_plugin_abi(void) {
  const size_t v[] = {
      WOP__COUNT,          sizeof(wh_module_t),     sizeof(wh_func_def_t),
      sizeof(wh_instance_t), sizeof(wh_functype_t), sizeof(wh_diag_t),
      sizeof(wh_llvm_host_t), offsetof(wh_module_t, defs), offsetof(wh_module_t, native),
      wh__native_layout_hash(),
  };
  uint32_t h = 2166136261u;
  for (const char *p = WHARF_VERSION; *p; p++) h = (h ^ (uint8_t)*p) * 16777619u;
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) h = (h ^ (uint32_t)v[i]) * 16777619u;
  return h;
}

#endif /* WH_NATIVE_PLUGIN_H */
