/*
 * wasi_p2_io.c - wasi:io/error, wasi:io/poll and wasi:io/streams.
 *
 *   input-stream   stdin: always empty (every read: stream-error.closed);
 *                  a file (descriptor.read-via-stream): pread from an
 *                  offset on its own dup of the file's fd
 *   output-stream  stdout / stderr: captured or written to the
 *                  embedder's fd (wh_wasi_p2__emit); never blocks
 *   pollable       ready now (streams: nothing here ever waits), or at a
 *                  monotonic instant (wasi:clocks subscriptions)
 *
 * Nothing can wait for ever: the only waits are for clock pollables,
 * and those end at the exec's deadline (wh_wasi_p2__sleep_until).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wasi_p2_int.h"

#define WRITE_BUDGET 65536u        /* check-write's answer, bytes */

enum { SE_FAILED = 0, SE_CLOSED = 1 };   /* stream-error cases */

/* ---- error -------------------------------------------------------------------- */

p2_obj_t *wh_wasi_p2__error_new(p2_call_t *k, int fs_code, const char *msg) {
  p2_obj_t *o = wh_wasi_p2__obj_new(k, P2_ERROR);
  if (!o) return NULL;
  o->u.err.fs_code = fs_code;
  snprintf(o->u.err.msg, sizeof o->u.err.msg, "%s", msg);
  return o;
}

static int error_to_debug_string(p2_call_t *k) {
  p2_obj_t *o = wh_wasi_p2__arg_obj(k, 0, P2_ERROR);
  wh_cm_val v;
  if (!o) return P2_TRAPPED;
  if (wh_cm_val_string(&v, o->u.err.msg, strlen(o->u.err.msg)) != 0) {
    wh_cm_val_fini(&v);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret(k, v);
}

/* err(stream-error.closed) */
static int ret_closed(p2_call_t *k) {
  wh_cm_val e;
  if (wh_cm_val_case(&e, WH_CM_V_VARIANT, SE_CLOSED, NULL) != 0)
    return wh_wasi_p2__trap(k, "out of memory");
  return wh_wasi_p2__ret_err(k, &e);
}

/* err(stream-error.last-operation-failed(error)) for host errno `e` */
static int ret_failed(p2_call_t *k, int e) {
  p2_obj_t *o = wh_wasi_p2__error_new(k, (int)wh_wasi_p2__fs_errno(e), strerror(e));
  wh_cm_val h, v;
  if (!o) return P2_TRAPPED;
  h = wh_wasi_p2__own(o);
  if (wh_cm_val_case(&v, WH_CM_V_VARIANT, SE_FAILED, &h) != 0) {
    wh_wasi_p2__obj_free(o);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret_err(k, &v);
}

/* ---- poll ----------------------------------------------------------------------- */

static bool poll_ready(const p2_obj_t *p, uint64_t now) {
  return p->u.poll.when_ns == 0 || p->u.poll.when_ns <= now;
}

static p2_obj_t *ready_pollable(p2_call_t *k) {
  return wh_wasi_p2__obj_new(k, P2_POLLABLE);   /* when_ns 0: always ready */
}

static int pollable_ready(p2_call_t *k) {
  p2_obj_t *p = wh_wasi_p2__arg_obj(k, 0, P2_POLLABLE);
  if (!p) return P2_TRAPPED;
  return wh_wasi_p2__ret(k, wh_cm_val_bool(poll_ready(p, wh_wasi_p2__mono_ns())));
}

static int pollable_block(p2_call_t *k) {
  p2_obj_t *p = wh_wasi_p2__arg_obj(k, 0, P2_POLLABLE);
  if (!p) return P2_TRAPPED;
  return wh_wasi_p2__sleep_until(k, p->u.poll.when_ns);
}

#define POLL_MAX 4096u

/* poll(in: list<borrow<pollable>>) -> list<u32>: waits until at least one
 * is ready (the earliest clock), then lists every ready one. */
static int poll_poll(p2_call_t *k) {
  const wh_cm_val *l = k->nargs ? &k->args[0] : NULL;
  if (!l || l->kind != WH_CM_V_LIST) return wh_wasi_p2__trap(k, "wasi: poll takes a list");
  uint32_t n = l->of.agg.n;
  if (n == 0) return wh_wasi_p2__trap(k, "wasi: poll of an empty list");
  if (n > POLL_MAX) return wh_wasi_p2__trap(k, "wasi: poll of more than %u pollables", POLL_MAX);
  uint64_t first = UINT64_MAX;
  for (uint32_t i = 0; i < n; i++) {
    p2_call_t sub = *k;
    sub.args = l->of.agg.v;
    sub.nargs = n;
    p2_obj_t *p = wh_wasi_p2__arg_obj(&sub, i, P2_POLLABLE);
    if (!p) return P2_TRAPPED;
    if (p->u.poll.when_ns < first) first = p->u.poll.when_ns;
  }
  int rc = wh_wasi_p2__sleep_until(k, first);
  if (rc) return rc;
  uint64_t now = wh_wasi_p2__mono_ns();
  uint32_t nready = 0;
  uint32_t *idx = malloc(n * sizeof *idx);
  if (!idx) return wh_wasi_p2__trap(k, "out of memory");
  for (uint32_t i = 0; i < n; i++) {
    p2_call_t sub = *k;
    sub.args = l->of.agg.v;
    sub.nargs = n;
    if (poll_ready(wh_wasi_p2__arg_obj(&sub, i, P2_POLLABLE), now)) idx[nready++] = i;
  }
  wh_cm_val v;
  if (wh_cm_val_agg(&v, WH_CM_V_LIST, nready) != 0) {
    free(idx);
    wh_cm_val_fini(&v);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  for (uint32_t i = 0; i < nready; i++) v.of.agg.v[i] = wh_cm_val_u32(idx[i]);
  free(idx);
  return wh_wasi_p2__ret(k, v);
}

/* ---- input-stream ------------------------------------------------------------------ */

static int in_read(p2_call_t *k) {
  p2_obj_t *s = wh_wasi_p2__arg_obj(k, 0, P2_INPUT);
  uint64_t len;
  if (!s || !wh_wasi_p2__arg_u64(k, 1, &len)) return P2_TRAPPED;
  if (s->u.in.src == P2_IN_EMPTY || s->u.in.closed) return ret_closed(k);
  if (len > READ_MAX) len = READ_MAX;
  uint8_t *buf = malloc(len ? len : 1);
  if (!buf) return wh_wasi_p2__trap(k, "out of memory");
  ssize_t r = 0;
  if (len) {
    do r = pread(s->u.in.fd, buf, len, (off_t)s->u.in.off);
    while (r < 0 && errno == EINTR);
  }
  if (r < 0) {
    int e = errno;
    free(buf);
    return ret_failed(k, e);
  }
  if (r == 0 && len > 0) {
    free(buf);
    s->u.in.closed = true;
    return ret_closed(k);
  }
  s->u.in.off += (uint64_t)r;
  wh_cm_val v;
  int rc = wh_wasi_p2__bytes_val(&v, buf, (size_t)r);
  free(buf);
  if (rc) {
    wh_cm_val_fini(&v);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret_ok(k, &v);
}

static int in_skip(p2_call_t *k) {
  p2_obj_t *s = wh_wasi_p2__arg_obj(k, 0, P2_INPUT);
  uint64_t len;
  struct stat st;
  if (!s || !wh_wasi_p2__arg_u64(k, 1, &len)) return P2_TRAPPED;
  if (s->u.in.src == P2_IN_EMPTY || s->u.in.closed) return ret_closed(k);
  if (fstat(s->u.in.fd, &st) != 0) return ret_failed(k, errno);
  uint64_t size = st.st_size > 0 ? (uint64_t)st.st_size : 0;
  uint64_t left = size > s->u.in.off ? size - s->u.in.off : 0;
  if (left == 0 && len > 0) {
    s->u.in.closed = true;
    return ret_closed(k);
  }
  uint64_t n = len < left ? len : left;
  s->u.in.off += n;
  wh_cm_val v = wh_cm_val_u64(n);
  return wh_wasi_p2__ret_ok(k, &v);
}

static int ret_ready_pollable(p2_call_t *k, p2_kind_t kind) {
  if (!wh_wasi_p2__arg_obj(k, 0, kind)) return P2_TRAPPED;
  p2_obj_t *p = ready_pollable(k);
  if (!p) return P2_TRAPPED;
  return wh_wasi_p2__ret(k, wh_wasi_p2__own(p));
}

static int in_subscribe(p2_call_t *k) { return ret_ready_pollable(k, P2_INPUT); }

/* ---- output-stream ------------------------------------------------------------------ */

static int out_check_write(p2_call_t *k) {
  if (!wh_wasi_p2__arg_obj(k, 0, P2_OUTPUT)) return P2_TRAPPED;
  wh_cm_val v = wh_cm_val_u64(WRITE_BUDGET);
  return wh_wasi_p2__ret_ok(k, &v);
}

/* write and blocking-write-and-flush: the sinks never block. */
static int out_write(p2_call_t *k) {
  p2_obj_t *s = wh_wasi_p2__arg_obj(k, 0, P2_OUTPUT);
  uint8_t *b;
  size_t n;
  if (!s || !wh_wasi_p2__arg_bytes(k, 1, &b, &n)) return P2_TRAPPED;
  wh_wasi_p2__emit(k->w, s->u.out.which, b, n);
  free(b);
  return wh_wasi_p2__ret_ok(k, NULL);
}

static int out_flush(p2_call_t *k) {
  if (!wh_wasi_p2__arg_obj(k, 0, P2_OUTPUT)) return P2_TRAPPED;
  return wh_wasi_p2__ret_ok(k, NULL);
}

static int out_subscribe(p2_call_t *k) { return ret_ready_pollable(k, P2_OUTPUT); }

static int out_write_zeroes(p2_call_t *k) {
  static const uint8_t zeroes[4096];
  p2_obj_t *s = wh_wasi_p2__arg_obj(k, 0, P2_OUTPUT);
  uint64_t len;
  if (!s || !wh_wasi_p2__arg_u64(k, 1, &len)) return P2_TRAPPED;
  if (len > WRITE_BUDGET) return ret_failed(k, EFBIG);   /* more than check-write allows */
  for (uint64_t done = 0; done < len;) {
    size_t n = len - done < sizeof zeroes ? (size_t)(len - done) : sizeof zeroes;
    wh_wasi_p2__emit(k->w, s->u.out.which, zeroes, n);
    done += n;
  }
  return wh_wasi_p2__ret_ok(k, NULL);
}

/* splice(src, len) and blocking-splice: copies up to len bytes (at most
 * one read's worth) from src. */
static int out_splice(p2_call_t *k) {
  p2_obj_t *s = wh_wasi_p2__arg_obj(k, 0, P2_OUTPUT);
  p2_obj_t *src = s ? wh_wasi_p2__arg_obj(k, 1, P2_INPUT) : NULL;
  uint64_t len;
  if (!src || !wh_wasi_p2__arg_u64(k, 2, &len)) return P2_TRAPPED;
  if (src->u.in.src == P2_IN_EMPTY || src->u.in.closed) return ret_closed(k);
  if (len > READ_MAX) len = READ_MAX;
  uint8_t *buf = malloc(len ? len : 1);
  ssize_t r = 0;
  if (!buf) return wh_wasi_p2__trap(k, "out of memory");
  if (len) {
    do r = pread(src->u.in.fd, buf, len, (off_t)src->u.in.off);
    while (r < 0 && errno == EINTR);
  }
  if (r < 0) {
    int e = errno;
    free(buf);
    return ret_failed(k, e);
  }
  if (r == 0 && len > 0) {
    free(buf);
    src->u.in.closed = true;
    return ret_closed(k);
  }
  src->u.in.off += (uint64_t)r;
  wh_wasi_p2__emit(k->w, s->u.out.which, buf, (size_t)r);
  free(buf);
  wh_cm_val v = wh_cm_val_u64((uint64_t)r);
  return wh_wasi_p2__ret_ok(k, &v);
}

const p2_fn_t wh_wasi_p2__io_fns[] = {
  {"io/error#[method]error.to-debug-string", error_to_debug_string},
  {"io/poll#[method]pollable.ready", pollable_ready},
  {"io/poll#[method]pollable.block", pollable_block},
  {"io/poll#poll", poll_poll},
  {"io/streams#[method]input-stream.read", in_read},
  {"io/streams#[method]input-stream.blocking-read", in_read},
  {"io/streams#[method]input-stream.skip", in_skip},
  {"io/streams#[method]input-stream.blocking-skip", in_skip},
  {"io/streams#[method]input-stream.subscribe", in_subscribe},
  {"io/streams#[method]output-stream.check-write", out_check_write},
  {"io/streams#[method]output-stream.write", out_write},
  {"io/streams#[method]output-stream.blocking-write-and-flush", out_write},
  {"io/streams#[method]output-stream.flush", out_flush},
  {"io/streams#[method]output-stream.blocking-flush", out_flush},
  {"io/streams#[method]output-stream.subscribe", out_subscribe},
  {"io/streams#[method]output-stream.write-zeroes", out_write_zeroes},
  {"io/streams#[method]output-stream.blocking-write-zeroes-and-flush", out_write_zeroes},
  {"io/streams#[method]output-stream.splice", out_splice},
  {"io/streams#[method]output-stream.blocking-splice", out_splice},
  {NULL, NULL},
};
