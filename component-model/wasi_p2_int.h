/*
 * wasi_p2_int.h - what the WASI 0.2 host's files share (wasi_p2.c: the
 * context, the object table, cli/clocks/random; wasi_p2_io.c: error,
 * poll, streams; wasi_p2_fs.c: filesystem; wasi_p2_net.c: sockets).
 * Not installed.
 *
 * Objects.  Every WASI resource the host hands out (a stream, pollable,
 * descriptor, ...) is a p2_obj_t in one process-wide table; its rep (the
 * i32 the component model keeps in the guest's handle table) is
 *
 *      31        20 19                 0
 *     +------------+--------------------+
 *     | generation |   slot index (>0)  |
 *     +------------+--------------------+
 *
 * The table is process-wide because a resource destructor receives only
 * the rep (wh_cm_resource_dtor_t), and one linker serves every context.
 * A slot's generation changes when it is freed, so a stale rep (a handle
 * an instance still held after its context was freed) finds nothing.
 * Each object also belongs to the context that made it (owner, and that
 * context's list): a host call accepts only objects of its own context,
 * and wh_wasi_p2_free frees what is left.  The table's mutex guards the
 * slots; an object itself is used only by its owner's thread.
 */
#ifndef WH_WASI_P2_INT_H
#define WH_WASI_P2_INT_H

#define READ_MAX 65536u   /* bytes one stream or descriptor read returns at most */

#include <stdbool.h>
#include <stdint.h>

#include "cm_run.h"
#include "wh_wasi_p2.h"

typedef enum p2_kind {
  P2_INPUT = 1, P2_OUTPUT, P2_POLLABLE, P2_ERROR, P2_DESCRIPTOR, P2_DIRSTREAM,
  P2_TERM_IN, P2_TERM_OUT, P2_NETWORK, P2_TCP, P2_UDP, P2_RESOLVE, P2_DGRAM_IN,
  P2_DGRAM_OUT,
  P2_NKINDS
} p2_kind_t;

/* stream sources and sinks */
enum { P2_IN_EMPTY = 1, P2_IN_FILE };
enum { P2_OUT_STDOUT = 0, P2_OUT_STDERR = 1 };

typedef struct p2_obj p2_obj_t;
struct p2_obj {
  uint8_t kind;               /* p2_kind_t */
  uint32_t rep;
  wh_wasi_p2_t *owner;
  p2_obj_t *prev, *next;      /* the owner's list */
  union {
    struct { int src; int fd; uint64_t off; bool closed; } in;
    struct { int which; } out;
    struct { uint64_t when_ns; } poll;       /* monotonic ns; 0: ready now */
    struct { char msg[120]; int fs_code; } err;
    struct { int fd; uint8_t type; } desc;   /* type: descriptor-type */
    struct { void *dir; bool done; } dirs;   /* a DIR * */
  } u;
};

/* One captured (or passed-through) output. */
typedef struct p2_out {
  int fd;                     /* >= 0: write here; -1: capture */
  uint8_t *buf;
  size_t len, max;
  bool truncated;
} p2_out_t;

typedef struct p2_preopen {
  int fd;
  char *guest;
} p2_preopen_t;

#define P2_MAGIC 0x32706877u   /* "whp2" */

struct wh_wasi_p2 {
  uint32_t magic;
  char **argv;
  size_t argc;
  char **env;                 /* "K=V" */
  size_t envc;
  char *cwd;
  p2_out_t out[2];
  p2_preopen_t *pre;
  size_t npre;
  bool portable;
  bool exited;
  int status;
  p2_obj_t *objs;             /* live objects, newest first */
  uint32_t nobjs;
  uint64_t insecure[2];       /* xorshift128+ state for wasi:random/insecure */
};

/* A call in progress. */
typedef struct p2_call {
  wh_wasi_p2_t *w;
  wh_exec_t *x;
  wh_cm_hostcall_t *hc;       /* NULL for wh_wasi_p2__call */
  char *trapbuf;              /* without hc: receives a trap message */
  const wh_cm_val *args;
  uint32_t nargs;
  wh_cm_val *res;             /* the result (NULL when the import has none) */
} p2_call_t;

typedef int (*p2_impl_t)(p2_call_t *k);

/* One host function: its name below "wasi:" without version
 * ("io/streams#[method]output-stream.write") and its implementation. */
typedef struct p2_fn {
  const char *name;
  p2_impl_t impl;
} p2_fn_t;

/* Function tables of each file, ended by a NULL name. */
extern const p2_fn_t wh_wasi_p2__io_fns[];
extern const p2_fn_t wh_wasi_p2__fs_fns[];
extern const p2_fn_t wh_wasi_p2__net_fns[];

/* Runs WASI function `name` ("io/streams#[method]output-stream.write",
 * no "wasi:" or version) on context `w` and exec `x` without a guest:
 * args as a lifted call would pass them (handles: wh_cm_val_borrow(NULL,
 * rep) of a rep from an earlier result), *result (may be NULL) receives
 * the result.  Returns the function's code: 0, WH_ETRAP (message in
 * trap[CM_TRAPMSG]), WH_EEXIT; WH_ENOTFOUND for an unknown name.  For
 * unit tests. */
int wh_wasi_p2__call(wh_wasi_p2_t *w, wh_exec_t *x, const char *name, const wh_cm_val *args,
                     uint32_t nargs, wh_cm_val *result, char *trap);

/* ---- objects (wasi_p2.c) ---- */
/* A new object of `kind` owned by k->w (zeroed payload).  NULL after
 * trapping (too many objects, out of memory): return p2_trapped(k). */
p2_obj_t *wh_wasi_p2__obj_new(p2_call_t *k, p2_kind_t kind);
/* Frees an object now (its rep dies). */
void wh_wasi_p2__obj_free(p2_obj_t *o);
/* The object behind argument i, which must be a handle to a `kind`
 * object of this context: else traps and returns NULL. */
p2_obj_t *wh_wasi_p2__arg_obj(p2_call_t *k, uint32_t i, p2_kind_t kind);

/* ---- arguments and results ---- */
int wh_wasi_p2__trap(p2_call_t *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The return code of a helper that already trapped. */
#define P2_TRAPPED WH_ETRAP
bool wh_wasi_p2__arg_u64(p2_call_t *k, uint32_t i, uint64_t *out);
bool wh_wasi_p2__arg_bool(p2_call_t *k, uint32_t i, bool *out);
/* A string argument (borrowed from args; NUL-terminated). */
bool wh_wasi_p2__arg_str(p2_call_t *k, uint32_t i, const char **s, size_t *len);
/* A list<u8> argument copied into a malloc'ed buffer (*out; the caller
 * frees it); traps on a non-byte element. */
bool wh_wasi_p2__arg_bytes(p2_call_t *k, uint32_t i, uint8_t **out, size_t *len);
/* Sets k->res (if the import has a result).  Each returns 0 or a trap
 * (out of memory). */
int wh_wasi_p2__ret(p2_call_t *k, wh_cm_val v);
int wh_wasi_p2__ret_ok(p2_call_t *k, wh_cm_val *payload);   /* payload may be NULL */
int wh_wasi_p2__ret_err(p2_call_t *k, wh_cm_val *payload);
int wh_wasi_p2__ret_err_enum(p2_call_t *k, uint32_t code);
/* list<u8> of n bytes into *v.  0 or WH_ENOMEM. */
int wh_wasi_p2__bytes_val(wh_cm_val *v, const uint8_t *p, size_t n);
/* own<resource> of o. */
wh_cm_val wh_wasi_p2__own(const p2_obj_t *o);

/* ---- shared pieces ---- */
/* Monotonic clock in ns. */
uint64_t wh_wasi_p2__mono_ns(void);
/* Waits until monotonic time `until_ns` (0: do not wait) or the exec's
 * deadline, whichever is first: 0, or a trap "deadline exceeded". */
int wh_wasi_p2__sleep_until(p2_call_t *k, uint64_t until_ns);
/* Appends to stdout/stderr (capture or fd). */
void wh_wasi_p2__emit(wh_wasi_p2_t *w, int which, const uint8_t *p, size_t n);
/* A new error resource (for stream-error.last-operation-failed) with a
 * message and a filesystem error code (-1: none). */
p2_obj_t *wh_wasi_p2__error_new(p2_call_t *k, int fs_code, const char *msg);
/* Closes a directory-entry-stream's directory (wasi_p2_fs.c). */
void wh_wasi_p2__dir_close(p2_obj_t *o);

/* filesystem error-code enum cases (wasi:filesystem/types) */
enum {
  FS_ACCESS = 0, FS_WOULD_BLOCK, FS_ALREADY, FS_BAD_DESCRIPTOR, FS_BUSY, FS_DEADLOCK,
  FS_QUOTA, FS_EXIST, FS_FILE_TOO_LARGE, FS_ILLEGAL_BYTE_SEQUENCE, FS_IN_PROGRESS,
  FS_INTERRUPTED, FS_INVALID, FS_IO, FS_IS_DIRECTORY, FS_LOOP, FS_TOO_MANY_LINKS,
  FS_MESSAGE_SIZE, FS_NAME_TOO_LONG, FS_NO_DEVICE, FS_NO_ENTRY, FS_NO_LOCK,
  FS_INSUFFICIENT_MEMORY, FS_INSUFFICIENT_SPACE, FS_NOT_DIRECTORY, FS_NOT_EMPTY,
  FS_NOT_RECOVERABLE, FS_UNSUPPORTED, FS_NO_TTY, FS_NO_SUCH_DEVICE, FS_OVERFLOW,
  FS_NOT_PERMITTED, FS_PIPE, FS_READ_ONLY, FS_INVALID_SEEK, FS_TEXT_FILE_BUSY,
  FS_CROSS_DEVICE,
};
/* errno -> error-code */
uint32_t wh_wasi_p2__fs_errno(int e);

#endif /* WH_WASI_P2_INT_H */
