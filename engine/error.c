/*
 * error.c - error code names and texts, and the diagnostic helpers.
 */
#include "wh_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *wh_strerror(int err) {
  switch (err) {
  case WH_OK: return "success";
#define WH__ERR_TEXT(name, text) case WH_E##name: return text;
    WH_ERRNO_MAP(WH__ERR_TEXT)
#undef WH__ERR_TEXT
  default: return "unknown error";
  }
}

const char *wh_errname(int err) {
  switch (err) {
  case WH_OK: return "WH_OK";
#define WH__ERR_NAME(name, text) case WH_E##name: return "WH_E" #name;
    WH_ERRNO_MAP(WH__ERR_NAME)
#undef WH__ERR_NAME
  default: return "WH_EUNKNOWN";
  }
}

void wh_diag_clear(wh_diag_t *d) {
  if (!d) return;
  d->code = 0;
  d->offset = -1;
  d->line = -1;
  d->msg[0] = '\0';
}

int wh_diag_set(wh_diag_t *d, int code, long long offset, const char *fmt, ...) {
  if (!d) return code;
  va_list ap;
  d->code = code;
  d->offset = offset;
  d->line = -1;
  va_start(ap, fmt);
  vsnprintf(d->msg, sizeof d->msg, fmt, ap);
  va_end(ap);
  return code;
}
