/*
 * wasi_p1.h - WASI preview1 ("wasi_snapshot_preview1") host functions.
 *
 * A wh_wasi_t is one guest's view of the outside world: its argv and
 * environment, a table of file descriptors (0-2 are the stdio fds the
 * embedder hands in, preopened directories start at 3) and, once the
 * guest has called proc_exit, its exit status.  wh_wasi_define() puts
 * every preview1 function on a linker, bound to that one wh_wasi_t, so a
 * wh_wasi_t serves the instances linked through that linker, one call at
 * a time.
 *
 * Guests are untrusted: every pointer and length they pass is checked
 * against the size of their linear memory (EFAULT otherwise), paths are
 * resolved beneath the directory fd they name (absolute paths, `..` and
 * symlinks that would leave it fail with ENOTCAPABLE), and counts are
 * bounded so a guest cannot make the host allocate without limit.
 * Errors reach the guest as WASI errno values, never Linux ones.
 *
 * Nothing here prints; I/O only happens on the fds the embedder gave or
 * the guest opened.
 */
#ifndef WH_WASI_P1_H
#define WH_WASI_P1_H

#include <stdbool.h>
#include <stddef.h>

#include "wh_engine.h"

typedef struct wh_wasi wh_wasi_t;

/* A host directory the guest sees under `guest_path` (e.g. "." or "/data"). */
typedef struct wh_wasi_preopen {
  const char *host_path;
  const char *guest_path;
} wh_wasi_preopen_t;

typedef struct wh_wasi_config {
  const char *const *argv;   /* argc strings; argv[0] is the program name */
  size_t argc;
  const char *const *envp;   /* envc "KEY=VALUE" strings */
  size_t envc;
  const wh_wasi_preopen_t *preopens;  /* become guest fds 3, 4, ... */
  size_t npreopens;
  /* Host fds behind guest fds 0, 1, 2; borrowed (never closed by the
   * wasi object), -1 for none (the guest gets EBADF). */
  int stdin_fd, stdout_fd, stderr_fd;
  /* Resolve paths with openat() one component at a time even where
   * openat2(RESOLVE_BENEATH) exists (used by tests; both are safe). */
  bool portable_resolve;
} wh_wasi_config_t;

/* Fills `cfg` with defaults: no args, no env, no preopens, stdio 0/1/2. */
void wh_wasi_config_init(wh_wasi_config_t *cfg);

/* Creates a WASI context from `cfg` (all strings are copied; the config
 * may go away afterwards).  Opens each preopen's host directory.  Returns
 * NULL on failure and fills `diag` (may be NULL): WH_ENOMEM, or WH_EIO
 * naming a preopen directory that could not be opened. */
wh_wasi_t *wh_wasi_new(const wh_wasi_config_t *cfg, wh_diag_t *diag);

/* Closes the fds the guest opened and the preopens (not the borrowed
 * stdio fds) and frees `w`.  NULL is a no-op.  Every instance linked
 * against `w` must be done calling it. */
void wh_wasi_free(wh_wasi_t *w);

/* Defines every wasi_snapshot_preview1 function on `l`, bound to `w`
 * (which must outlive the instances linked through `l`).  Returns 0 or
 * the linker's error. */
int wh_wasi_define(wh_wasi_t *w, wh_linker_t *l);

/* True once the guest has called proc_exit; *status (may be NULL) then
 * holds the code it passed.  wh_call returns WH_EEXIT for that call and
 * wh_exec_exit_status() gives the same status. */
bool wh_wasi_exited(const wh_wasi_t *w, int *status);

/* Defines WASI preview1 in `l` once for every context: each call finds its
 * wh_wasi_t in the exec's user pointer (wh_exec_set_user), so one linker
 * serves many invocations, each with its own fds and exit status.  A call
 * on an exec without one traps. */
int wh_wasi_define_dynamic(wh_linker_t *l);

#endif /* WH_WASI_P1_H */
