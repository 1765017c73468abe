/*
 * wh_wasi_p2.h - the WASI 0.2 ("preview 2") host for components.
 *
 *   wh_wasi_p2_define(l)    once per linker: every WASI 0.2 function and
 *                           resource type on it (any 0.2.x import links:
 *                           the linker matches versions semver-wise)
 *   wh_wasi_p2_new(cfg)     once per invocation: args, env, captured
 *                           stdout/stderr, preopens, exit status
 *   wh_wasi_p2_attach(x, w) before instantiating and calling: host calls
 *                           made on exec `x` use `w`
 *   ... wh_cm_instantiate / wh_cm_call (or wh_wasi_p2_run) ...
 *   wh_cm_instance_free     (drops the instance's WASI resources)
 *   wh_wasi_p2_stdout/stderr/exited, then wh_wasi_p2_free
 *
 * One linker (one per executor thread) serves every invocation: a host
 * call finds its context through the exec's user pointer
 * (wh_exec_set_user), the same rule as wasi_p1's dynamic mode.  A call on
 * an exec with no context attached traps "no WASI context".
 *
 * Interfaces (all 0.2.x): wasi:cli/{environment, exit, stdin, stdout,
 * stderr, terminal-input, terminal-output, terminal-stdin,
 * terminal-stdout, terminal-stderr}; wasi:io/{error, poll, streams};
 * wasi:clocks/{wall-clock, monotonic-clock}; wasi:random/{random,
 * insecure, insecure-seed}; wasi:filesystem/{types, preopens};
 * wasi:sockets/{network, instance-network, ip-name-lookup, tcp,
 * tcp-create-socket, udp, udp-create-socket} (linked; creating a socket
 * or resolving a name fails with access-denied, so no socket exists).
 *
 * Sandbox: the guest sees only what the config gives it.  Arguments and
 * environment come from the config (never the host process's environ);
 * stdin is empty; there is no terminal; filesystem access is limited to
 * the configured preopens, which are read-only, with every path resolved
 * beneath its preopen (openat2 RESOLVE_BENEATH, or a component-by-
 * component walk; `..`, absolute paths and symlinks cannot leave it).
 * Nothing waits forever: a poll or blocking call ends at the exec's
 * deadline (wh_exec_set_deadline_ms) with the trap "deadline exceeded"
 * (kind WH_TRAP_DEADLINE); a wait on a clock a century or more away
 * traps at once; stdin and stdout/stderr are always ready.
 *
 * Resources (streams, pollables, descriptors, errors, directory streams)
 * are host resources (wh_cm_linker_define_resource): the guest holds
 * handles in its instance's tables, and wh_cm_instance_free returns the
 * ones it still holds to the host, which frees them.  Free an instance
 * before the context it ran with; wh_wasi_p2_free then releases whatever
 * is left (objects the guest never received).
 *
 * wasi:cli/exit ends the invocation: wh_cm_call (and wh_wasi_p2_run)
 * returns WH_EEXIT, wh_exec_exit_status() and wh_wasi_p2_exited() give
 * the status (exit(ok) is 0, exit(err) is 1, exit-with-code its code).
 *
 * Thread safety: a context is used by one thread at a time (the one
 * running its exec).  wh_wasi_p2_define may be called for several
 * linkers from several threads.
 */
#ifndef WH_WASI_P2_H
#define WH_WASI_P2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wh_cm.h"

typedef struct wh_wasi_p2 wh_wasi_p2_t;

/* A host directory the guest sees, read-only, as `guest_path` in
 * wasi:filesystem/preopens get-directories (e.g. "/data" or "."). */
typedef struct wh_wasi_p2_preopen {
  const char *host_path;
  const char *guest_path;
} wh_wasi_p2_preopen_t;

/* Default bound on each of the captured stdout and stderr (bytes). */
#define WH_WASI_P2_CAPTURE_DEFAULT (1u << 20)
/* What a capture buffer ends with once output was cut (counted in its
 * bound). */
#define WH_WASI_P2_TRUNCATED_MARKER "\n[output truncated]\n"

typedef struct wh_wasi_p2_config {
  const char *const *argv;   /* argc strings (get-arguments); argv[0] is
                                the program name by convention */
  size_t argc;
  const char *const *envp;   /* envc "KEY=VALUE" strings (get-environment) */
  size_t envc;
  const wh_wasi_p2_preopen_t *preopens;  /* read-only; none by default */
  size_t npreopens;
  const char *initial_cwd;   /* wasi:cli/environment initial-cwd; NULL: none */
  /* stdout / stderr: -1 (default) captures into a buffer of at most
   * stdout_max / stderr_max bytes (0: WH_WASI_P2_CAPTURE_DEFAULT); past
   * it the buffer ends with WH_WASI_P2_TRUNCATED_MARKER and further
   * output is dropped (the guest is not told).  A host fd >= 0 (borrowed,
   * never closed) receives the bytes directly instead (`wharf run`). */
  int stdout_fd, stderr_fd;
  size_t stdout_max, stderr_max;
  /* Resolve paths one component at a time even where openat2 exists
   * (tests; both are confined). */
  bool portable_resolve;
} wh_wasi_p2_config_t;

/* Fills `cfg` with the defaults: no args, no env, no preopens, no
 * initial cwd, stdout/stderr captured with the default bounds. */
void wh_wasi_p2_config_init(wh_wasi_p2_config_t *cfg);

/* A context for one invocation from `cfg` (strings copied; `cfg` may go
 * away afterwards); opens each preopen's host directory.  NULL on
 * failure, with `diag` (may be NULL) filled: WH_ENOMEM, WH_EINVAL (a bad
 * env entry or guest path), WH_EIO (a preopen that cannot be opened as a
 * directory; the message names it). */
wh_wasi_p2_t *wh_wasi_p2_new(const wh_wasi_p2_config_t *cfg, wh_diag_t *diag);

/* Frees `w`: closes its preopens and frees every WASI object it still
 * owns.  NULL is a no-op.  Free the instances that ran with `w` first
 * (their handles to objects freed here become dead: dropping them later
 * is harmless). */
void wh_wasi_p2_free(wh_wasi_p2_t *w);

/* Defines every WASI 0.2 function and resource type on `l` under its
 * @0.2.0 name ("wasi:io/streams@0.2.0#[method]output-stream.write");
 * the linker's semver matching lets imports of any 0.2.x use them.
 * Call once per linker.  0, or the linker's error (WH_EEXISTS if a name
 * is already defined, WH_ENOMEM). */
int wh_wasi_p2_define(wh_cm_linker_t *l);

/* Makes host calls on `x` use `w` (the exec's user pointer; NULL
 * detaches).  `w` must outlive its use on `x`. */
void wh_wasi_p2_attach(wh_exec_t *x, wh_wasi_p2_t *w);

/* Captured output (empty when written to an fd): *len receives its
 * length, *truncated (may be NULL) whether output was cut.  The bytes
 * are borrowed from `w` until it is freed; not NUL-terminated. */
const uint8_t *wh_wasi_p2_stdout(const wh_wasi_p2_t *w, size_t *len, bool *truncated);
const uint8_t *wh_wasi_p2_stderr(const wh_wasi_p2_t *w, size_t *len, bool *truncated);

/* True once the guest called wasi:cli/exit; *status (may be NULL) then
 * holds its status. */
bool wh_wasi_p2_exited(const wh_wasi_p2_t *w, int *status);

/* The name of `c`'s wasi:cli/run function ("wasi:cli/run@0.2.3#run"),
 * written into buf[size]; 0, WH_ENOTFOUND (not a command component:
 * no wasi:cli/run@0.2.x export), WH_ERANGE (buf too small). */
int wh_wasi_p2_run_export(const wh_cm_component_t *c, char *buf, size_t size);

/* Calls wasi:cli/run on `inst` (an instance of `c`, made on `x` with a
 * context attached).  Returns 0 with *status the command's exit status:
 * 0 when run returned ok, 1 for err, or the status given to
 * wasi:cli/exit; WH_ENOTFOUND (no run export); WH_ETRAP and the other
 * errors of wh_cm_call (message: wh_cm_instance_trap). */
int wh_wasi_p2_run(wh_cm_instance_t *inst, const wh_cm_component_t *c, wh_exec_t *x,
                   int *status);

#endif /* WH_WASI_P2_H */
