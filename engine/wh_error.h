/*
 * wh_error.h - wharf's error codes.
 *
 * Every function in libwharf that can fail returns 0 or one of the negative
 * codes below.  One X-macro list generates the enum, wh_strerror() and
 * wh_errname(), so a code, its name and its text never drift apart
 * (libuv's UV_ERRNO_MAP habit).  Rich diagnostics (byte offset, line, a
 * sentence of context) travel separately in a wh_diag_t.
 */
#ifndef WH_ERROR_H
#define WH_ERROR_H

#include <stddef.h>
#include <stdint.h>

#define WH_ERRNO_MAP(X)                                                     \
  X(NOMEM,       "out of memory")                                           \
  X(INVAL,       "invalid argument")                                        \
  X(MALFORMED,   "malformed binary")                                        \
  X(INVALID,     "validation failed")                                       \
  X(UNLINKABLE,  "import could not be resolved")                            \
  X(TRAP,        "guest trapped")                                           \
  X(NOTFOUND,    "not found")                                               \
  X(EXISTS,      "already exists")                                          \
  X(RANGE,       "value out of range")                                      \
  X(LIMIT,       "limit exceeded")                                          \
  X(IO,          "input/output error")                                      \
  X(CORRUPT,     "corrupt or foreign data")                                 \
  X(UNSUPPORTED, "unsupported feature")                                     \
  X(COMPONENT,   "this is a component, not a core module")                  \
  X(NOTCOMPONENT,"this is a core module, not a component")                  \
  X(BUSY,        "resource busy")                                           \
  X(EXIT,        "guest exited")

typedef enum wh_err {
  WH_OK = 0,
#define WH__ERR_ENUM(name, text) WH_E##name,
  WH__ERR_FIRST = -1000,
  WH_ERRNO_MAP(WH__ERR_ENUM)
#undef WH__ERR_ENUM
  WH__ERR_LAST
} wh_err_t;

/* Text for an error code (static storage); "unknown error" for others. */
const char *wh_strerror(int err);
/* Symbolic name ("WH_ENOMEM") for an error code (static storage). */
const char *wh_errname(int err);

/*
 * A diagnostic: what went wrong and where.  `offset` is a byte offset into
 * the input for binary formats, `line` a line number for text formats;
 * either is -1 when it does not apply.  Filled by the callee, owned by the
 * caller (usually on its stack).
 */
typedef struct wh_diag {
  int code;          /* a WH_E* code */
  long long offset;  /* byte offset into the input, or -1 */
  int line;          /* line number, or -1 */
  char msg[256];     /* one sentence, no trailing newline */
} wh_diag_t;

/* Clears a diagnostic (code 0, offset/line -1, empty message). */
void wh_diag_clear(wh_diag_t *d);
/* Records code, offset and a printf-style message; returns code.  `d` may be
 * NULL, in which case only the code is returned. */
int wh_diag_set(wh_diag_t *d, int code, long long offset, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* WH_ERROR_H */
