/*
 * native_compile.c - the engine's side of the LLVM plugin (native_plugin.h):
 * finds libwharf-llvm.so, loads it once per process on the first native
 * compile, and turns its object code into a module's native code.
 *
 * Where the plugin is looked for, first match wins:
 *   $WHARF_LLVM_PLUGIN             (a path; nothing else is tried)
 *   <executable's dir>/libwharf-llvm.so        (the build tree)
 *   <executable's dir>/../lib/wharf/libwharf-llvm.so  (an installed tree)
 *   the plugin this build made (WHARF_LLVM_PLUGIN_BUILD; test programs
 *   live in subdirectories of the build tree)
 *   WHARF_LLVM_PLUGIN_INSTALL      (lib/wharf in CMake's install prefix)
 * A plugin of another build is refused (wh__native_plugin_abi), with its
 * path in the message.
 */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "native_plugin.h"

static const wh_llvm_host_t host = {
    .diag_set = wh_diag_set,
    .wop_of_handler = wh__wop_of_handler,
    .wop_words = wh__wop_words,
    .wop_kinds = wh__wop_kinds,
    .wop_names = wh__wop_names,
};

static pthread_once_t plugin_once = PTHREAD_ONCE_INIT;
static wh_llvm_plugin_compile_fn plugin_compile;
static int plugin_err;           /* WH_E* when plugin_compile is NULL */
static char plugin_msg[PATH_MAX + 256];

/* Formats a candidate into out and says whether it is there (a path too
 * long for out is not). */
static bool candidate(char *out, size_t cap, const char *fmt, const char *arg) {
  int n = snprintf(out, cap, fmt, arg);
  return n > 0 && (size_t)n < cap && access(out, R_OK) == 0;
}

/* The first candidate that exists, in `out`; false if none does (out then
 * names where we looked). */
static bool find_plugin(char *out, size_t cap) {
  const char *env = getenv("WHARF_LLVM_PLUGIN");
  if (env && *env) return candidate(out, cap, "%s", env);
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0';
      if (candidate(out, cap, "%s/" WH_LLVM_PLUGIN_FILE, exe)) return true;
      if (candidate(out, cap, "%s/../lib/wharf/" WH_LLVM_PLUGIN_FILE, exe)) return true;
    }
  }
#ifdef WHARF_LLVM_PLUGIN_BUILD
  if (candidate(out, cap, "%s", WHARF_LLVM_PLUGIN_BUILD)) return true;
#endif
#ifdef WHARF_LLVM_PLUGIN_INSTALL
  if (candidate(out, cap, "%s", WHARF_LLVM_PLUGIN_INSTALL)) return true;
#endif
  snprintf(out, cap, "%s (beside the executable, in ../lib/wharf, or set WHARF_LLVM_PLUGIN)",
           WH_LLVM_PLUGIN_FILE);
  return false;
}

static void plugin_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void plugin_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  plugin_err = WH_EIO;
  vsnprintf(plugin_msg, sizeof plugin_msg, fmt, ap);
  va_end(ap);
}

static void load_plugin(void) {
  char path[PATH_MAX];
  if (!find_plugin(path, sizeof path)) {
    plugin_fail("tier native: the LLVM compiler plugin %s was not found", path);
    return;
  }
  /* RTLD_LOCAL: LLVM's symbols stay out of the process's namespace */
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    plugin_fail("tier native: cannot load the LLVM compiler plugin %s: %s", path, dlerror());
    return;
  }
  wh_llvm_plugin_abi_fn abi = (wh_llvm_plugin_abi_fn)dlsym(h, WH_LLVM_PLUGIN_ABI_SYM);
  wh_llvm_plugin_compile_fn compile =
      (wh_llvm_plugin_compile_fn)dlsym(h, WH_LLVM_PLUGIN_COMPILE_SYM);
  if (!abi || !compile) {
    plugin_fail("tier native: %s is not a wharf LLVM plugin", path);
    dlclose(h);
    return;
  }
  if (abi() != wh__native_plugin_abi()) {
    plugin_fail("tier native: %s belongs to another build of wharf (install the plugin of "
                "this one)", path);
    dlclose(h);
    return;
  }
  plugin_compile = compile;   /* the handle stays open for the process's life */
}

bool wh__native_available(void) { return true; }

int wh__native_compiler_check(wh_diag_t *diag) {
  pthread_once(&plugin_once, load_plugin);
  if (plugin_compile) return 0;
  return wh_diag_set(diag, plugin_err, -1, "%s", plugin_msg);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int wh__native_compile(wh_module_t *m, wh_diag_t *diag) {
  uint64_t t0 = now_ns();
  int rc = wh__native_compiler_check(diag);
  if (rc == 0) {
    uint8_t *obj = NULL;
    size_t len = 0;
    rc = plugin_compile(&host, m, &obj, &len, diag);
    if (rc == 0) rc = wh__native_load(m, obj, len, diag);
    free(obj);
  }
  wh__native_count(rc, now_ns() - t0);
  return rc;
}
