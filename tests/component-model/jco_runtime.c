/*
 * jco_runtime.c - wharf-jco-runtime: the jco runtime tests, run on wharf.
 *
 * $WHARF_TESTDATA/components/jco-runtime-tests/X.ts are jco's host-side
 * tests of the components in jco-runtime/ (wit-bindgen guests in C,
 * C++ and Rust, from jco's fixtures).  Each .ts instantiates its component with
 * JS host functions for the test interfaces, calls the exports and
 * checks what they return; the guests check what the host imports
 * return (a failed guest check is a panic, which reaches us as a trap).
 * This runner does the same through the C API:
 *
 *   .ts host object            C host functions (wh_cm_linker_define_func)
 *                              doing what the .ts function does; its
 *                              `assert`s fail the call with a trap that
 *                              says which argument was wrong
 *   .ts `class R` (resources)  host resources
 *                              (wh_cm_linker_define_resource)
 *   WASI (helpers.wasi, shim)  stdio only, as helpers.wasi gives it
 *                              (wasi_link: get-stdin/stdout/stderr,
 *                              no terminals, no preopens, writes
 *                              captured): smoke's guest prints, and
 *                              a failing guest's panic message shows;
 *                              everything else is linked by
 *                              wh_cm_linker_trap_missing to functions
 *                              that trap "import X was not provided"
 *   strictEqual(export(args), want)
 *                              wh_cm_call; arguments and results go
 *                              through the JSON mapping (docs/API.md),
 *                              and results must be equal to the
 *                              expected JSON exactly (json_equal: an
 *                              f32 1.0 is a real, a u8 1 an integer)
 *
 * Prints one line per .ts (PASS/FAIL/SKIP with the number of checks),
 * every mismatch, and "N passed, M failed, K skipped" at the end; exits
 * 1 if anything failed, 77 when the test data is absent.
 *
 *   wharf-jco-runtime [-v] [NAME.ts ...]
 */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "wh_cm.h"
#include "wh_engine.h"

#ifndef WHARF_TESTDATA_DEFAULT
#define WHARF_TESTDATA_DEFAULT "../shared/testdata"
#endif

static int verbose;

/* ---- one test run --------------------------------------------------------------- */

#define MAX_OBJS 64

/* What the .ts host keeps between calls (one per run, zeroed first). */
typedef struct host {
  char failure[256];          /* the first host-side assertion that failed */
  uint32_t calls;             /* host functions called */
  /* smoke */
  bool hit;
  /* numbers */
  uint32_t scalar;
  /* resources: objects are host reps 0..nobjs-1 */
  wh_cm_rtype_t *rt;
  uint32_t nobjs;
  uint32_t owns_given;        /* own handles handed to the guest */
  uint32_t drops[MAX_OBJS];   /* dtor calls per rep */
  uint32_t ndrops;
  uint32_t received[MAX_OBJS];
  uint32_t nreceived;
  bool constructed, tested;
  /* minimal WASI stdio (wasi_link) */
  wh_cm_rtype_t *rt_in, *rt_out;
  char out[2][1024];          /* what the guest wrote to stdout, stderr */
  size_t nout[2];
  uint32_t wasi_calls;
  uint32_t wasi_owns, wasi_drops;  /* stream handles given / destroyed */
} host_t;

typedef struct run {
  const char *ts;
  wh_engine_t *e;
  wh_exec_t *x;
  wh_cm_component_t *c;
  wh_cm_linker_t *l;
  wh_cm_instance_t *inst;
  host_t host;
  uint32_t checks, failed;
} run_t;

static void failf(run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void failf(run_t *r, const char *fmt, ...) {
  va_list ap;
  r->failed++;
  printf("  FAIL %s: ", r->ts);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

/* A check that is not a call: counts it, reports it when false. */
static bool expect_true(run_t *r, bool ok, const char *what) {
  r->checks++;
  if (!ok) failf(r, "%s", what);
  return ok;
}

/* ---- host-side helpers ------------------------------------------------------------ */

/* A compact untyped rendering of a value, for host-side assertions:
 * 7, -1, 1.5, true, 'a', "s", [..] list, (..) tuple, {..} record,
 * case#i(payload) for variant/enum/option/result, flags:0x.., own(rep). */
static void show(const wh_cm_val *v, char *buf, size_t cap) {
  size_t len = strlen(buf);
  char *p = buf + len;
  size_t room = cap > len ? cap - len : 0;
  if (room < 2) return;
  switch (v->kind) {
  case WH_CM_V_BOOL: snprintf(p, room, "%s", v->of.b ? "true" : "false"); break;
  case WH_CM_V_S8: case WH_CM_V_S16: case WH_CM_V_S32: case WH_CM_V_S64:
    snprintf(p, room, "%lld", (long long)v->of.s);
    break;
  case WH_CM_V_U8: case WH_CM_V_U16: case WH_CM_V_U32: case WH_CM_V_U64:
    snprintf(p, room, "%llu", (unsigned long long)v->of.u);
    break;
  case WH_CM_V_F32: snprintf(p, room, "%.9g", (double)v->of.f32); break;
  case WH_CM_V_F64: snprintf(p, room, "%.17g", v->of.f64); break;
  case WH_CM_V_CHAR: snprintf(p, room, "U+%04X", (unsigned)v->of.ch); break;
  case WH_CM_V_STRING: snprintf(p, room, "\"%s\"", v->of.str.ptr); break;
  case WH_CM_V_LIST: case WH_CM_V_TUPLE: case WH_CM_V_RECORD: {
    const char *open = v->kind == WH_CM_V_LIST ? "[" : v->kind == WH_CM_V_TUPLE ? "(" : "{";
    const char *close = v->kind == WH_CM_V_LIST ? "]" : v->kind == WH_CM_V_TUPLE ? ")" : "}";
    snprintf(p, room, "%s", open);
    for (uint32_t i = 0; i < v->of.agg.n; i++) {
      if (i) strncat(buf, ",", cap - strlen(buf) - 1);
      show(&v->of.agg.v[i], buf, cap);
    }
    strncat(buf, close, cap - strlen(buf) - 1);
    break;
  }
  case WH_CM_V_VARIANT: case WH_CM_V_ENUM: case WH_CM_V_OPTION: case WH_CM_V_RESULT:
    snprintf(p, room, "case%u", v->of.var.idx);
    if (v->of.var.payload) {
      strncat(buf, "(", cap - strlen(buf) - 1);
      show(v->of.var.payload, buf, cap);
      strncat(buf, ")", cap - strlen(buf) - 1);
    }
    break;
  case WH_CM_V_FLAGS:
    snprintf(p, room, "flags:0x%x", v->of.flags.nwords ? v->of.flags.bits[0] : 0u);
    break;
  case WH_CM_V_OWN: case WH_CM_V_BORROW:
    snprintf(p, room, "%s(%u)", v->kind == WH_CM_V_OWN ? "own" : "borrow", v->of.handle.rep);
    break;
  default: snprintf(p, room, "?%u", v->kind); break;
  }
}

/* The .ts host's `assert.deepStrictEqual(arg, want)`: the argument's
 * rendering must be `want`; otherwise the call traps (as the JS throw
 * does) and the run records the failure. */
static int host_expect(wh_cm_hostcall_t *call, host_t *h, const char *fn,
                       const wh_cm_val *arg, const char *want) {
  char got[512] = "";
  show(arg, got, sizeof got);
  if (strcmp(got, want) == 0) return 0;
  if (!h->failure[0])
    snprintf(h->failure, sizeof h->failure, "%s got %.180s, expected %s", fn, got, want);
  return wh_cm_hostcall_trap(call, "host assertion failed: %s got %.180s", fn, got);
}

static int host_string(wh_cm_val *v, const char *s) { return wh_cm_val_string(v, s, strlen(s)); }

/* A tuple of copies of args[0..n-1]. */
static int host_tuple_of(const wh_cm_val *args, uint32_t n, wh_cm_val *out) {
  int rc = wh_cm_val_agg(out, WH_CM_V_TUPLE, n);
  for (uint32_t i = 0; rc == 0 && i < n; i++) rc = wh_cm_val_copy(&out->of.agg.v[i], &args[i]);
  return rc;
}

/* Host functions get the run's host_t as env. */
#define HOST_FN(name)                                                                   \
  static int name(wh_cm_hostcall_t *call, void *env, const wh_cm_val *args,           \
                  uint32_t nargs, wh_cm_val *res, uint32_t nres)
#define HOST_UNUSED (void)call, (void)args, (void)nargs, (void)res, (void)nres

/* `roundtripX(x) { return x; }` */
HOST_FN(h_identity) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  if (nargs != 1 || nres != 1) return wh_cm_hostcall_trap(call, "identity: bad arity");
  return wh_cm_val_copy(&res[0], &args[0]);
}

typedef struct hostdef {
  const char *name;
  wh_cm_host_fn_t fn;
} hostdef_t;

static int define_all(run_t *r, const char *iface, const hostdef_t *defs) {
  char full[256];
  for (const hostdef_t *d = defs; d->name; d++) {
    snprintf(full, sizeof full, "%s%s%s", iface ? iface : "", iface ? "#" : "", d->name);
    int rc = wh_cm_linker_define_func(r->l, full, d->fn, &r->host);
    if (rc) return rc;
  }
  return 0;
}

/* ---- calling exports -------------------------------------------------------------- */

/* Calls export `fn` with JSON `args` and compares with `want`: the JSON
 * of the expected result ("null" when there is none), or "trap:TEXT"
 * when the call must trap with a message containing TEXT. */
static bool expect_call(run_t *r, const char *fn, const char *args, const char *want) {
  wh_cm_type_ref_t ft;
  wh_cm_val *vals = NULL, result;
  size_t nvals = 0;
  json_error_t jerr;
  json_t *jargs = json_loads(args, JSON_DECODE_ANY, &jerr), *jres = NULL, *jwant = NULL;
  wh_diag_t diag;
  bool ok = false, have = false;
  bool want_trap = strncmp(want, "trap:", 5) == 0;

  memset(&result, 0, sizeof result);
  r->checks++;
  if (!jargs) {
    failf(r, "%s%s: bad test arguments: %s", fn, args, jerr.text);
    goto done;
  }
  if (wh_cm_instance_func(r->inst, fn, &ft) != 0) {
    failf(r, "%s is not exported", fn);
    goto done;
  }
  wh_diag_clear(&diag);
  if (wh_cm_json_args(r->c, ft, jargs, &vals, &nvals, &diag) != 0) {
    failf(r, "%s%s: %s", fn, args, diag.msg);
    goto done;
  }
  r->host.failure[0] = '\0';
  int rc = wh_cm_call(r->inst, fn, vals, nvals, &result, 1, r->x);
  if (rc == WH_ETRAP) {
    const char *msg = wh_cm_instance_trap(r->inst);
    if (want_trap && strstr(msg, want + 5)) {
      ok = true;
    } else {
      const char *bt = NULL;
      wh_exec_trap(r->x, NULL, &bt);
      if (verbose && bt) printf("  core backtrace:\n%s", bt);
      failf(r, "%s%s trapped: %s%s%s", fn, args, msg, r->host.failure[0] ? "; host: " : "",
            r->host.failure);
    }
    goto done;
  }
  if (rc) {
    failf(r, "%s%s: %s (%s)", fn, args, wh_strerror(rc), wh_cm_instance_trap(r->inst));
    goto done;
  }
  have = true;
  if (want_trap) {
    failf(r, "%s%s returned, expected a trap with \"%s\"", fn, args, want + 5);
    goto done;
  }
  wh_diag_clear(&diag);
  if (wh_cm_json_result(r->c, ft, &result, &jres, &diag) != 0) {
    failf(r, "%s%s: result: %s", fn, args, diag.msg);
    goto done;
  }
  jwant = json_loads(want, JSON_DECODE_ANY, &jerr);
  if (!jwant) {
    failf(r, "%s: bad expected JSON %s", fn, want);
    goto done;
  }
  if (!json_equal(jres, jwant)) {
    char *text = json_dumps(jres, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
    failf(r, "%s%s = %s, expected %s", fn, args, text ? text : "?", want);
    free(text);
    goto done;
  }
  ok = true;
  if (verbose) printf("  ok %s%s = %s\n", fn, args, want);
done:
  if (have) wh_cm_val_fini(&result);
  wh_cm_vals_free(vals, nvals);
  json_decref(jargs);
  json_decref(jres);
  json_decref(jwant);
  return ok;
}

/* Calls export `fn` with values (resources), the result into *out (zeroed
 * on failure; the caller finishes it). */
static bool call_vals(run_t *r, const char *fn, const wh_cm_val *args, size_t nargs,
                      wh_cm_val *out) {
  memset(out, 0, sizeof *out);
  r->host.failure[0] = '\0';
  int rc = wh_cm_call(r->inst, fn, args, nargs, out, 1, r->x);
  if (rc) {
    r->checks++;
    failf(r, "%s: %s: %s%s%s", fn, wh_strerror(rc), wh_cm_instance_trap(r->inst),
          r->host.failure[0] ? "; host: " : "", r->host.failure);
    return false;
  }
  return true;
}

/* call_vals, then the result must equal u32 `want`. */
static void expect_u32(run_t *r, const char *fn, const wh_cm_val *args, size_t nargs,
                       uint32_t want) {
  wh_cm_val got;
  if (!call_vals(r, fn, args, nargs, &got)) return;
  r->checks++;
  if (got.kind != WH_CM_V_U32 || got.of.u != want) {
    char text[128] = "";
    show(&got, text, sizeof text);
    failf(r, "%s = %s, expected %u", fn, text, want);
  } else if (verbose) {
    printf("  ok %s = %u\n", fn, want);
  }
  wh_cm_val_fini(&got);
}

/* ---- WASI stdio -----------------------------------------------------------------------
 * jco's helpers.wasi gives the guests get-stdin/get-stdout/get-stderr,
 * get-directories and the stream classes; the wasi_snapshot_preview1
 * adapter inside the Rust and C guests asks for them the first time a
 * guest touches a file descriptor (a print, a panic message).  The
 * harness does the same with deterministic stubs: stdin is rep 0,
 * stdout rep 1, stderr rep 2; no terminals, no preopens; writes are
 * captured in host_t.out (at most 1 KiB each) and always succeed.
 * Everything else in WASI stays unprovided (traps when called). */

enum { WASI_STDIN, WASI_STDOUT, WASI_STDERR };

static void wasi_dtor(void *env, uint32_t rep) {
  host_t *h = env;
  (void)rep;
  h->wasi_drops++;
}

HOST_FN(w_get_stdin) {
  host_t *h = env;
  HOST_UNUSED;
  h->wasi_calls++;
  h->wasi_owns++;
  res[0] = wh_cm_val_own(h->rt_in, WASI_STDIN);
  return 0;
}

HOST_FN(w_get_stdout) {
  host_t *h = env;
  HOST_UNUSED;
  h->wasi_calls++;
  h->wasi_owns++;
  res[0] = wh_cm_val_own(h->rt_out, WASI_STDOUT);
  return 0;
}

HOST_FN(w_get_stderr) {
  host_t *h = env;
  HOST_UNUSED;
  h->wasi_calls++;
  h->wasi_owns++;
  res[0] = wh_cm_val_own(h->rt_out, WASI_STDERR);
  return 0;
}

/* get-terminal-*: none (not a terminal) */
HOST_FN(w_none) {
  host_t *h = env;
  HOST_UNUSED;
  h->wasi_calls++;
  res[0].kind = WH_CM_V_OPTION;
  return 0;
}

/* get-directories: no preopens */
HOST_FN(w_empty_list) {
  host_t *h = env;
  HOST_UNUSED;
  h->wasi_calls++;
  return wh_cm_val_agg(&res[0], WH_CM_V_LIST, 0);
}

/* check-write: ok(4096) */
HOST_FN(w_check_write) {
  host_t *h = env;
  HOST_UNUSED;
  h->wasi_calls++;
  wh_cm_val n = wh_cm_val_u64(4096);
  return wh_cm_val_case(&res[0], WH_CM_V_RESULT, 0, &n);
}

/* write / blocking-write-and-flush(self, contents): captured, ok */
HOST_FN(w_write) {
  host_t *h = env;
  HOST_UNUSED;
  h->wasi_calls++;
  if (nargs != 2 || args[0].kind != WH_CM_V_BORROW || args[0].of.handle.rt != h->rt_out ||
      args[1].kind != WH_CM_V_LIST)
    return wh_cm_hostcall_trap(call, "output-stream.write: bad arguments");
  uint32_t which = args[0].of.handle.rep == WASI_STDERR ? 1 : 0;
  for (uint32_t i = 0; i < args[1].of.agg.n; i++)
    if (h->nout[which] + 1 < sizeof h->out[which])
      h->out[which][h->nout[which]++] = (char)args[1].of.agg.v[i].of.u;
  res[0].kind = WH_CM_V_RESULT;
  return 0;
}

/* blocking-flush: ok */
HOST_FN(w_ok) {
  host_t *h = env;
  HOST_UNUSED;
  h->wasi_calls++;
  res[0].kind = WH_CM_V_RESULT;
  return 0;
}

static int wasi_link(run_t *r) {
  static const hostdef_t streams[] = {
      {"[method]output-stream.check-write", w_check_write},
      {"[method]output-stream.write", w_write},
      {"[method]output-stream.blocking-write-and-flush", w_write},
      {"[method]output-stream.blocking-flush", w_ok}, {NULL, NULL}};
  static const hostdef_t in[] = {{"get-stdin", w_get_stdin}, {NULL, NULL}};
  static const hostdef_t out[] = {{"get-stdout", w_get_stdout}, {NULL, NULL}};
  static const hostdef_t err[] = {{"get-stderr", w_get_stderr}, {NULL, NULL}};
  static const hostdef_t tin[] = {{"get-terminal-stdin", w_none}, {NULL, NULL}};
  static const hostdef_t tout[] = {{"get-terminal-stdout", w_none}, {NULL, NULL}};
  static const hostdef_t terr[] = {{"get-terminal-stderr", w_none}, {NULL, NULL}};
  static const hostdef_t pre[] = {{"get-directories", w_empty_list}, {NULL, NULL}};
  int rc = wh_cm_linker_define_resource(r->l, "wasi:io/streams@0.2.0#input-stream", wasi_dtor,
                                        &r->host, &r->host.rt_in);
  if (rc == 0)
    rc = wh_cm_linker_define_resource(r->l, "wasi:io/streams@0.2.0#output-stream", wasi_dtor,
                                      &r->host, &r->host.rt_out);
  if (rc == 0) rc = define_all(r, "wasi:io/streams@0.2.0", streams);
  if (rc == 0) rc = define_all(r, "wasi:cli/stdin@0.2.0", in);
  if (rc == 0) rc = define_all(r, "wasi:cli/stdout@0.2.0", out);
  if (rc == 0) rc = define_all(r, "wasi:cli/stderr@0.2.0", err);
  if (rc == 0) rc = define_all(r, "wasi:cli/terminal-stdin@0.2.0", tin);
  if (rc == 0) rc = define_all(r, "wasi:cli/terminal-stdout@0.2.0", tout);
  if (rc == 0) rc = define_all(r, "wasi:cli/terminal-stderr@0.2.0", terr);
  if (rc == 0) rc = define_all(r, "wasi:filesystem/preopens@0.2.0", pre);
  return rc;
}

/* ---- smoke.ts ------------------------------------------------------------------------ */

HOST_FN(smoke_thunk) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  h->hit = true;
  return 0;
}

static int smoke_link(run_t *r) {
  static const hostdef_t defs[] = {{"thunk", smoke_thunk}, {NULL, NULL}};
  return define_all(r, "test:smoke/imports", defs);
}

static void smoke_run(run_t *r) {
  expect_call(r, "thunk", "[]", "null");
  expect_true(r, r->host.hit, "import not called (the export thunk did not call the imported thunk)");
  /* not in smoke.ts: the C guest's printf, through the preview1 adapter
   * and the WASI stdio stubs */
  expect_true(r, r->host.nout[0] == 6 && memcmp(r->host.out[0], "howdy\n", 6) == 0,
              "the guest printed \"howdy\" to stdout");
  expect_true(r, r->host.wasi_owns == 3 && r->host.wasi_drops == 0,
              "the adapter holds its three stdio streams while the instance lives");
}

/* The preview1 adapter keeps its stdio streams to the end: freeing the
 * instance hands every own handle still in its tables to the dtor. */
static void smoke_after(run_t *r) {
  char what[160];
  snprintf(what, sizeof what,
           "freeing the instance destroyed every stream handle the guest kept (%u given, "
           "%u destroyed)", r->host.wasi_owns, r->host.wasi_drops);
  expect_true(r, r->host.wasi_owns == 3 && r->host.wasi_drops == 3, what);
}

/* ---- numbers.ts ---------------------------------------------------------------------- */

HOST_FN(num_set_scalar) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  h->scalar = (uint32_t)args[0].of.u;
  return 0;
}

HOST_FN(num_get_scalar) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  res[0] = wh_cm_val_u32(h->scalar);
  return 0;
}

static int numbers_link(run_t *r) {
  static const hostdef_t defs[] = {
      {"roundtrip-u8", h_identity}, {"roundtrip-s8", h_identity},
      {"roundtrip-u16", h_identity}, {"roundtrip-s16", h_identity},
      {"roundtrip-u32", h_identity}, {"roundtrip-s32", h_identity},
      {"roundtrip-u64", h_identity}, {"roundtrip-s64", h_identity},
      {"roundtrip-f32", h_identity}, {"roundtrip-f64", h_identity},
      {"roundtrip-char", h_identity}, {"set-scalar", num_set_scalar},
      {"get-scalar", num_get_scalar}, {NULL, NULL}};
  return define_all(r, "test:numbers/test", defs);
}

static void numbers_run(run_t *r) {
  static const char *const t[][3] = {
      {"roundtrip-u8", "[1]", "1"},
      {"roundtrip-u8", "[255]", "255"},
      {"roundtrip-s8", "[1]", "1"},
      {"roundtrip-s8", "[127]", "127"},
      {"roundtrip-s8", "[-128]", "-128"},
      {"roundtrip-u16", "[1]", "1"},
      {"roundtrip-u16", "[65535]", "65535"},
      {"roundtrip-s16", "[1]", "1"},
      {"roundtrip-s16", "[32767]", "32767"},
      {"roundtrip-s16", "[-32768]", "-32768"},
      {"roundtrip-u32", "[1]", "1"},
      {"roundtrip-u32", "[4294967295]", "4294967295"},
      {"roundtrip-s32", "[1]", "1"},
      {"roundtrip-s32", "[2147483647]", "2147483647"},
      {"roundtrip-s32", "[-2147483648]", "-2147483648"},
      {"roundtrip-u64", "[1]", "1"},
      {"roundtrip-u64", "[\"18446744073709551615\"]", "\"18446744073709551615\""},
      {"roundtrip-s64", "[1]", "1"},
      {"roundtrip-s64", "[\"9223372036854775807\"]", "\"9223372036854775807\""},
      {"roundtrip-s64", "[\"-9223372036854775808\"]", "\"-9223372036854775808\""},
      {"roundtrip-f32", "[1]", "1.0"},
      {"roundtrip-f32", "[\"Infinity\"]", "\"Infinity\""},
      {"roundtrip-f32", "[\"-Infinity\"]", "\"-Infinity\""},
      {"roundtrip-f32", "[\"NaN\"]", "\"NaN\""},
      {"roundtrip-f64", "[1]", "1.0"},
      {"roundtrip-f64", "[\"Infinity\"]", "\"Infinity\""},
      {"roundtrip-f64", "[\"-Infinity\"]", "\"-Infinity\""},
      {"roundtrip-f64", "[\"NaN\"]", "\"NaN\""},
      {"roundtrip-char", "[\"a\"]", "\"a\""},
      {"roundtrip-char", "[\" \"]", "\" \""},
      {"roundtrip-char", "[\"\xf0\x9f\x9a\xa9\"]", "\"\xf0\x9f\x9a\xa9\""},
      {"set-scalar", "[2]", "null"},
      {"get-scalar", "[]", "2"},
      {"set-scalar", "[4]", "null"},
      {"get-scalar", "[]", "4"},
  };
  char fn[96];
  expect_call(r, "test-imports", "[]", "null");
  expect_true(r, r->host.calls >= 13, "test-imports called every numbers import");
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    snprintf(fn, sizeof fn, "test:numbers/test#%s", t[i][0]);
    expect_call(r, fn, t[i][1], t[i][2]);
  }
}

/* Without the test imports (WASI and test:numbers all stubbed), the
 * guest's first import call traps and the message names the import. */
static int stub_link(run_t *r) {
  (void)r;
  return 0;
}

static void stub_run(run_t *r) {
  expect_call(r, "test-imports", "[]",
              "trap:import test:numbers/test#roundtrip-u8 was not provided");
}

/* The same for a function imported directly (and `resource r` left
 * opaque: the linker does not define it). */
static void stub_rbs_run(run_t *r) {
  expect_call(r, "test-imports", "[]", "trap:import [constructor]r was not provided");
}

/* ---- strings*.ts --------------------------------------------------------------------- */

#define UNICODE_STR "\xf0\x9f\x9a\x80\xf0\x9f\x9a\x80\xf0\x9f\x9a\x80 \xf0\xa0\x88\x84\xf0\x93\x80\x80"

HOST_FN(str_take_basic) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  return host_expect(call, h, "take-basic", &args[0], "\"latin utf16\"");
}

HOST_FN(str_return_unicode) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  return host_string(&res[0], UNICODE_STR);
}

static int strings_link(run_t *r) {
  static const hostdef_t defs[] = {
      {"take-basic", str_take_basic}, {"return-unicode", str_return_unicode}, {NULL, NULL}};
  return define_all(r, "test:strings/imports", defs);
}

static void strings_run(run_t *r) {
  expect_call(r, "test-imports", "[]", "null");
  expect_true(r, r->host.calls == 2, "test-imports called take-basic and return-unicode");
  expect_call(r, "roundtrip", "[\"str\"]", "\"str\"");
  expect_call(r, "roundtrip", "[\"" UNICODE_STR "\"]", "\"" UNICODE_STR "\"");
}

/* ---- lists.ts ------------------------------------------------------------------------ */

/* Host functions asserting their argument(s) and returning nothing. */
typedef struct want_args {
  const char *name;
  const char *want[2];
} want_args_t;

static const want_args_t list_params[] = {
    {"empty-list-param", {"[]", NULL}},
    {"empty-string-param", {"\"\"", NULL}},
    {"list-param", {"[1,2,3,4]", NULL}},
    {"list-param2", {"\"foo\"", NULL}},
    {"list-param3", {"[\"foo\",\"bar\",\"baz\"]", NULL}},
    {"list-param4", {"[[\"foo\",\"bar\"],[\"baz\"]]", NULL}},
    {"list-param5", {"[(1,2,3),(4,5,6)]", NULL}},
    {"list-minmax8", {"[0,255]", "[-128,127]"}},
    {"list-minmax16", {"[0,65535]", "[-32768,32767]"}},
    {"list-minmax32", {"[0,4294967295]", "[-2147483648,2147483647]"}},
    {"list-minmax64",
     {"[0,18446744073709551615]", "[-9223372036854775808,9223372036854775807]"}},
    {"list-minmax-float",
     {"[-3.40282347e+38,3.40282347e+38,-inf,inf]",
      "[-1.7976931348623157e+308,1.7976931348623157e+308,-inf,inf]"}},
    {NULL, {NULL, NULL}},
};

static const want_args_t *list_want(const char *fn) {
  for (const want_args_t *w = list_params; w->name; w++)
    if (strcmp(w->name, fn) == 0) return w;
  return NULL;
}

/* One function for every asserting list import: env is the host; the
 * hostcall does not say which import it is, so each gets a thunk. */
static int list_check(wh_cm_hostcall_t *call, host_t *h, const char *fn,
                      const wh_cm_val *args, uint32_t nargs, wh_cm_val *res, uint32_t nres) {
  const want_args_t *w = list_want(fn);
  h->calls++;
  for (uint32_t i = 0; i < nargs && i < 2 && w->want[i]; i++) {
    int rc = host_expect(call, h, fn, &args[i], w->want[i]);
    if (rc) return rc;
  }
  if (nres) return host_tuple_of(args, nargs, &res[0]);   /* minmax: [u, s] */
  return 0;
}

#define LIST_THUNK(cname, wit)                                                          \
  HOST_FN(cname) { return list_check(call, env, wit, args, nargs, res, nres); }
LIST_THUNK(l_empty_list_param, "empty-list-param")
LIST_THUNK(l_empty_string_param, "empty-string-param")
LIST_THUNK(l_list_param, "list-param")
LIST_THUNK(l_list_param2, "list-param2")
LIST_THUNK(l_list_param3, "list-param3")
LIST_THUNK(l_list_param4, "list-param4")
LIST_THUNK(l_list_param5, "list-param5")
LIST_THUNK(l_minmax8, "list-minmax8")
LIST_THUNK(l_minmax16, "list-minmax16")
LIST_THUNK(l_minmax32, "list-minmax32")
LIST_THUNK(l_minmax64, "list-minmax64")
LIST_THUNK(l_minmax_float, "list-minmax-float")

HOST_FN(l_empty_list_result) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  return wh_cm_val_agg(&res[0], WH_CM_V_LIST, 0);
}

HOST_FN(l_empty_string_result) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  return host_string(&res[0], "");
}

HOST_FN(l_list_result) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  int rc = wh_cm_val_agg(&res[0], WH_CM_V_LIST, 5);
  for (uint32_t i = 0; rc == 0 && i < 5; i++) res[0].of.agg.v[i] = wh_cm_val_u8((uint8_t)(i + 1));
  return rc;
}

HOST_FN(l_list_result2) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  return host_string(&res[0], "hello!");
}

HOST_FN(l_list_result3) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  int rc = wh_cm_val_agg(&res[0], WH_CM_V_LIST, 2);
  if (rc == 0) rc = host_string(&res[0].of.agg.v[0], "hello,");
  if (rc == 0) rc = host_string(&res[0].of.agg.v[1], "world!");
  return rc;
}

static int lists_link(run_t *r) {
  static const hostdef_t defs[] = {
      {"empty-list-param", l_empty_list_param}, {"empty-string-param", l_empty_string_param},
      {"empty-list-result", l_empty_list_result},
      {"empty-string-result", l_empty_string_result},
      {"list-param", l_list_param}, {"list-param2", l_list_param2},
      {"list-param3", l_list_param3}, {"list-param4", l_list_param4},
      {"list-param5", l_list_param5}, {"list-result", l_list_result},
      {"list-result2", l_list_result2}, {"list-result3", l_list_result3},
      {"list-minmax8", l_minmax8}, {"list-minmax16", l_minmax16},
      {"list-minmax32", l_minmax32}, {"list-minmax64", l_minmax64},
      {"list-minmax-float", l_minmax_float}, {"list-roundtrip", h_identity},
      {"string-roundtrip", h_identity}, {NULL, NULL}};
  return define_all(r, "test:lists/test", defs);
}

/* allocated-bytes() as a number, or -1. */
static long long lists_allocated(run_t *r) {
  wh_cm_val v;
  if (!call_vals(r, "allocated-bytes", NULL, 0, &v)) return -1;
  long long n = v.kind == WH_CM_V_U32 ? (long long)v.of.u : -1;
  wh_cm_val_fini(&v);
  return n;
}

static void lists_run(run_t *r) {
  static const char *const t[][3] = {
      {"empty-list-param", "[[]]", "null"},
      {"empty-string-param", "[\"\"]", "null"},
      {"list-param", "[[1,2,3,4]]", "null"},
      {"list-param2", "[\"foo\"]", "null"},
      {"list-param3", "[[\"foo\",\"bar\",\"baz\"]]", "null"},
      {"list-param4", "[[[\"foo\",\"bar\"],[\"baz\"]]]", "null"},
      {"empty-list-result", "[]", "[]"},
      {"empty-string-result", "[]", "\"\""},
      {"list-result", "[]", "[1,2,3,4,5]"},
      {"list-result2", "[]", "\"hello!\""},
      {"list-result3", "[]", "[\"hello,\",\"world!\"]"},
      {"list-roundtrip", "[[1,2,3,4]]", "[1,2,3,4]"},
      {"string-roundtrip", "[\"x\"]", "\"x\""},
      {"string-roundtrip", "[\"\"]", "\"\""},
      {"string-roundtrip", "[\"hello \xe2\x9a\x91 world\"]", "\"hello \xe2\x9a\x91 world\""},
  };
  char fn[96];
  long long before = lists_allocated(r);
  expect_true(r, before >= 0, "allocated-bytes() returns a u32");
  expect_call(r, "test-imports", "[]", "null");
  expect_true(r, r->host.calls >= 19, "test-imports called every lists import");
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    snprintf(fn, sizeof fn, "test:lists/test#%s", t[i][0]);
    expect_call(r, fn, t[i][1], t[i][2]);
  }
  /* listParamLarge('blah '.repeat(1000).slice(0, -1).split(' ')):
   * 1000 strings "blah" (the guest asserts the length) */
  static char large[8 + 1000 * 7];
  size_t n = 0;
  n += (size_t)snprintf(large + n, sizeof large - n, "[[");
  for (int i = 0; i < 1000; i++)
    n += (size_t)snprintf(large + n, sizeof large - n, "%s\"blah\"", i ? "," : "");
  snprintf(large + n, sizeof large - n, "]]");
  expect_call(r, "test:lists/test#list-param-large", large, "null");
  long long after = lists_allocated(r);
  r->checks++;
  if (before != after)
    failf(r, "allocated-bytes() went from %lld to %lld: some glue did not free", before, after);
}

/* ---- records.ts ---------------------------------------------------------------------- */

HOST_FN(rec_multiple_results) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  int rc = wh_cm_val_agg(&res[0], WH_CM_V_TUPLE, 2);
  if (rc == 0) {
    res[0].of.agg.v[0] = wh_cm_val_u8(4);
    res[0].of.agg.v[1] = wh_cm_val_u16(5);
  }
  return rc;
}

HOST_FN(rec_swap_tuple) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  if (args[0].kind != WH_CM_V_TUPLE || args[0].of.agg.n != 2)
    return wh_cm_hostcall_trap(call, "swap-tuple: not a pair");
  int rc = wh_cm_val_agg(&res[0], WH_CM_V_TUPLE, 2);
  if (rc == 0) rc = wh_cm_val_copy(&res[0].of.agg.v[0], &args[0].of.agg.v[1]);
  if (rc == 0) rc = wh_cm_val_copy(&res[0].of.agg.v[1], &args[0].of.agg.v[0]);
  return rc;
}

/* roundtripFlags3(r0, r1, r2) { return [r0, r1, r2]; } */
HOST_FN(rec_flags3) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  return host_tuple_of(args, nargs, &res[0]);
}

static int records_link(run_t *r) {
  static const hostdef_t defs[] = {
      {"multiple-results", rec_multiple_results}, {"swap-tuple", rec_swap_tuple},
      {"roundtrip-flags1", h_identity}, {"roundtrip-flags2", h_identity},
      {"roundtrip-flags3", rec_flags3}, {"roundtrip-record1", h_identity},
      {"tuple1", h_identity}, {NULL, NULL}};
  return define_all(r, "test:records/test", defs);
}

static void records_run(run_t *r) {
  static const char *const t[][3] = {
      {"multiple-results", "[]", "[100,200]"},
      {"swap-tuple", "[[1,2]]", "[2,1]"},
      {"roundtrip-flags1", "[[\"a\"]]", "[\"a\"]"},
      {"roundtrip-flags1", "[[]]", "[]"},
      {"roundtrip-flags1", "[[\"a\",\"b\"]]", "[\"a\",\"b\"]"},
      {"roundtrip-flags2", "[[\"c\"]]", "[\"c\"]"},
      {"roundtrip-flags2", "[[]]", "[]"},
      {"roundtrip-flags2", "[[\"d\"]]", "[\"d\"]"},
      {"roundtrip-flags2", "[[\"c\",\"e\"]]", "[\"c\",\"e\"]"},
      {"roundtrip-record1", "[{\"a\":8,\"b\":[]}]", "{\"a\":8,\"b\":[]}"},
      {"roundtrip-record1", "[{\"a\":0,\"b\":[\"a\",\"b\"]}]", "{\"a\":0,\"b\":[\"a\",\"b\"]}"},
      {"tuple1", "[[1]]", "[1]"},
  };
  char fn[96];
  expect_call(r, "test-imports", "[]", "null");
  expect_true(r, r->host.calls >= 7, "test-imports called every records import");
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    snprintf(fn, sizeof fn, "test:records/test#%s", t[i][0]);
    expect_call(r, fn, t[i][1], t[i][2]);
  }
}

/* ---- variants.ts --------------------------------------------------------------------- */

/* jco's toUint8: a JS number to u8 (truncate, wrap mod 2^8). */
static uint8_t js_to_u8(double d) {
  if (!isfinite(d)) return 0;
  return (uint8_t)(uint64_t)(int64_t)fmod(trunc(d), 256.0);
}

/* roundtripOption(x) { return x; }: option<f32> -> option<u8> */
HOST_FN(var_option) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  const wh_cm_val *a = &args[0];
  if (a->of.var.idx == 0 || !a->of.var.payload) {
    res[0].kind = WH_CM_V_OPTION;
    return 0;
  }
  wh_cm_val p = wh_cm_val_u8(js_to_u8((double)a->of.var.payload->of.f32));
  return wh_cm_val_case(&res[0], WH_CM_V_OPTION, 1, &p);
}

/* roundtripResult(x): ok(v) -> v (result<f64, u8> ok), err(f) -> throws
 * {payload: Math.round(f)} (err). */
HOST_FN(var_result) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  const wh_cm_val *a = &args[0];
  if (!a->of.var.payload) return wh_cm_hostcall_trap(call, "roundtrip-result: no payload");
  if (a->of.var.idx == 0) {
    wh_cm_val p = wh_cm_val_f64((double)a->of.var.payload->of.u);
    return wh_cm_val_case(&res[0], WH_CM_V_RESULT, 0, &p);
  }
  wh_cm_val p = wh_cm_val_u8(js_to_u8(floor((double)a->of.var.payload->of.f32 + 0.5)));
  return wh_cm_val_case(&res[0], WH_CM_V_RESULT, 1, &p);
}

HOST_FN(var_invert_bool) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  res[0] = wh_cm_val_bool(!args[0].of.b);
  return 0;
}

HOST_FN(var_typedefs) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  return 0;
}

/* variantEnums(a, b, c): asserts (true, ok, success), returns
 * [false, err, 'a']. */
HOST_FN(var_enums) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  static const char *const want[3] = {"true", "case0", "case0"};
  for (uint32_t i = 0; i < 3 && i < nargs; i++) {
    int rc = host_expect(call, h, "variant-enums", &args[i], want[i]);
    if (rc) return rc;
  }
  int rc = wh_cm_val_agg(&res[0], WH_CM_V_TUPLE, 3);
  if (rc) return rc;
  res[0].of.agg.v[0] = wh_cm_val_bool(false);
  res[0].of.agg.v[1].kind = WH_CM_V_RESULT;
  res[0].of.agg.v[1].of.var.idx = 1;
  res[0].of.agg.v[2] = wh_cm_val_enum(1);
  return 0;
}

static int variants_link(run_t *r) {
  static const hostdef_t defs[] = {
      {"roundtrip-option", var_option}, {"roundtrip-result", var_result},
      {"roundtrip-enum", h_identity}, {"invert-bool", var_invert_bool},
      {"variant-casts", h_identity}, {"variant-zeros", h_identity},
      {"variant-typedefs", var_typedefs}, {"variant-enums", var_enums}, {NULL, NULL}};
  return define_all(r, "test:variants/test", defs);
}

static void variants_run(run_t *r) {
  static const char *const t[][3] = {
      {"roundtrip-option", "[1]", "1"},
      {"roundtrip-option", "[null]", "null"},
      {"roundtrip-option", "[null]", "null"},
      {"roundtrip-option", "[null]", "null"},
      {"roundtrip-option", "[2]", "2"},
      {"roundtrip-result", "[{\"ok\":2}]", "{\"ok\":2.0}"},
      {"roundtrip-result", "[{\"ok\":4}]", "{\"ok\":4.0}"},
      /* Math.fround(5.2): the guest rounds it; jco throws payload 5 */
      {"roundtrip-result", "[{\"err\":5.1999998092651367}]", "{\"err\":5}"},
      {"roundtrip-enum", "[\"a\"]", "\"a\""},
      {"roundtrip-enum", "[\"b\"]", "\"b\""},
      {"invert-bool", "[true]", "false"},
      {"invert-bool", "[false]", "true"},
      {"variant-casts", "[[{\"a\":1},{\"a\":2},{\"a\":3},{\"a\":4},{\"a\":5},{\"a\":6}]]",
       "[{\"a\":1},{\"a\":2},{\"a\":3},{\"a\":4},{\"a\":5},{\"a\":6.0}]"},
      {"variant-casts", "[[{\"b\":1},{\"b\":2},{\"b\":3},{\"b\":4},{\"b\":5},{\"b\":6}]]",
       "[{\"b\":1},{\"b\":2.0},{\"b\":3.0},{\"b\":4.0},{\"b\":5.0},{\"b\":6.0}]"},
      {"variant-zeros", "[[{\"a\":1},{\"a\":2},{\"a\":3},{\"a\":4}]]",
       "[{\"a\":1},{\"a\":2},{\"a\":3.0},{\"a\":4.0}]"},
      {"variant-typedefs", "[null,false,{\"err\":null}]", "null"},
  };
  char fn[96];
  expect_call(r, "test-imports", "[]", "null");
  expect_true(r, r->host.calls >= 8, "test-imports called every variants import");
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    snprintf(fn, sizeof fn, "test:variants/test#%s", t[i][0]);
    expect_call(r, fn, t[i][1], t[i][2]);
  }
}

/* ---- asmjs_bigint.ts ----------------------------------------------------------------- */

static int none_link(run_t *r) {
  (void)r;
  return 0;
}

static void bigint_run(run_t *r) {
  expect_call(r, "add", "[1,2]", "3");
  expect_call(r, "add", "[8589934592,-4398046511104]", "-4389456576512");
}

/* ---- example_guest_export.ts: a guest-defined resource ------------------------------- */

#define BACKEND "example:component/backend@0.1.0#"

static void guest_export_run(run_t *r) {
  wh_cm_val obj, arg;
  /* new backend.Scalars() */
  if (!call_vals(r, BACKEND "[constructor]scalars", NULL, 0, &obj)) return;
  if (!expect_true(r, obj.kind == WH_CM_V_OWN, "the constructor returns own<scalars>")) {
    wh_cm_val_fini(&obj);
    return;
  }
  expect_call(r, BACKEND "[static]scalars.get-a", "[]", "5");
  arg = wh_cm_val_borrow(obj.of.handle.rt, obj.of.handle.rep);
  expect_u32(r, BACKEND "[method]scalars.get-b", &arg, 1, 2);
  expect_u32(r, BACKEND "scalar-arg", &arg, 1, 7);
  /* a borrow of the guest's own resource passed back to it is its rep
   * (CanonicalABI lower_borrow): a second round gives the same answers */
  expect_u32(r, BACKEND "scalar-arg", &arg, 1, 7);
  /* not in the .ts (JS leaves it to the GC): the host drops its own,
   * which runs the guest's destructor */
  int rc = wh_cm_resource_drop(r->inst, &obj, r->x);
  char what[320];
  snprintf(what, sizeof what, "dropping the own<scalars> runs its destructor: %s%s%s",
           wh_strerror(rc), rc ? ": " : "", rc ? wh_cm_instance_trap(r->inst) : "");
  expect_true(r, rc == 0, what);
}

/* ---- example_guest_import.ts: a host-defined resource -------------------------------- */

#define BACKEND2 "example2:component/backend@0.1.0"
#define FRONT2 "example2:component/front@0.1.0#"

static void res_dtor(void *env, uint32_t rep) {
  host_t *h = env;
  h->ndrops++;
  if (rep < MAX_OBJS) h->drops[rep]++;
  if (rep >= h->nobjs && !h->failure[0])
    snprintf(h->failure, sizeof h->failure, "destructor called for unknown rep %u", rep);
}

/* `new Scalars()`: the next instance number is the rep. */
static uint32_t scalars_new(host_t *h) { return h->nobjs < MAX_OBJS ? h->nobjs++ : MAX_OBJS - 1; }

/* A borrow<scalars> argument's rep, or a trap. */
static int host_borrowed(wh_cm_hostcall_t *call, host_t *h, const wh_cm_val *v, uint32_t *rep) {
  if (v->kind != WH_CM_V_BORROW || v->of.handle.rt != h->rt || v->of.handle.rep >= h->nobjs) {
    char got[64] = "";
    show(v, got, sizeof got);
    if (!h->failure[0])
      snprintf(h->failure, sizeof h->failure, "expected a borrow of a host object, got %s", got);
    return wh_cm_hostcall_trap(call, "host assertion failed: not a borrow of a host object");
  }
  *rep = v->of.handle.rep;
  return 0;
}

/* Scalars.getB() { return this.instance; } */
HOST_FN(gi_get_b) {
  host_t *h = env;
  uint32_t rep;
  HOST_UNUSED;
  h->calls++;
  int rc = host_borrowed(call, h, &args[0], &rep);
  if (rc) return rc;
  res[0] = wh_cm_val_u32(rep);
  return 0;
}

/* fetch(scalar) { received.push(scalar); return new Scalars(); } */
HOST_FN(gi_fetch) {
  host_t *h = env;
  uint32_t rep;
  HOST_UNUSED;
  h->calls++;
  int rc = host_borrowed(call, h, &args[0], &rep);
  if (rc) return rc;
  if (h->nreceived < MAX_OBJS) h->received[h->nreceived++] = rep;
  res[0] = wh_cm_val_own(h->rt, scalars_new(h));
  h->owns_given++;
  return 0;
}

static int guest_import_link(run_t *r) {
  static const hostdef_t defs[] = {
      {"[method]scalars.get-b", gi_get_b}, {"fetch", gi_fetch}, {NULL, NULL}};
  int rc = wh_cm_linker_define_resource(r->l, BACKEND2 "#scalars", res_dtor, &r->host,
                                        &r->host.rt);
  return rc ? rc : define_all(r, BACKEND2, defs);
}

/* front.handle(x) with a new own handle to host object `rep`. */
static void gi_handle(run_t *r, uint32_t rep, uint32_t want) {
  wh_cm_val arg = wh_cm_val_own(r->host.rt, rep);
  r->host.owns_given++;
  expect_u32(r, FRONT2 "handle", &arg, 1, want);
}

static void guest_import_run(run_t *r) {
  host_t *h = &r->host;
  uint32_t x = scalars_new(h), y = scalars_new(h);
  gi_handle(r, x, 2);
  expect_true(r, h->drops[x] == 1, "the guest dropped the own<scalars> it was given (dtor called)");
  gi_handle(r, y, 4);
  /* "we got a borrow to our own defined resource ... we are able to
   * convert that borrow into a local reference again" */
  if (!expect_true(r, h->nreceived == 2, "fetch received two borrows")) return;
  expect_true(r, h->received[0] == x && h->received[1] == y,
              "fetch received borrows of the objects handed to handle");
  gi_handle(r, h->received[0], 4);
  gi_handle(r, h->received[1], 6);
}

/* After the instance is freed: every own handed over was destroyed once. */
static void guest_import_after(run_t *r) {
  char what[160];
  snprintf(what, sizeof what,
           "every own<scalars> given to the guest was destroyed once (%u given, %u destructor calls)",
           r->host.owns_given, r->host.ndrops);
  expect_true(r, r->host.owns_given == r->host.ndrops, what);
}

/* ---- resource_borrow_simple.ts: a host resource imported directly ------------------ */

/* class R { constructor() { constructed = true; } } */
HOST_FN(rbs_constructor) {
  host_t *h = env;
  HOST_UNUSED;
  h->calls++;
  h->constructed = true;
  res[0] = wh_cm_val_own(h->rt, scalars_new(h));
  h->owns_given++;
  return 0;
}

/* test(r) { assert.ok(r instanceof R); tested = true; } */
HOST_FN(rbs_test) {
  host_t *h = env;
  uint32_t rep;
  HOST_UNUSED;
  h->calls++;
  int rc = host_borrowed(call, h, &args[0], &rep);
  if (rc) return rc;
  h->tested = true;
  return 0;
}

static int rbs_link(run_t *r) {
  int rc = wh_cm_linker_define_resource(r->l, "r", res_dtor, &r->host, &r->host.rt);
  if (rc == 0) rc = wh_cm_linker_define_func(r->l, "[constructor]r", rbs_constructor, &r->host);
  if (rc == 0) rc = wh_cm_linker_define_func(r->l, "test", rbs_test, &r->host);
  return rc;
}

static void rbs_run(run_t *r) {
  expect_call(r, "test-imports", "[]", "null");
  expect_true(r, r->host.constructed, "the guest constructed an R (constructed)");
  expect_true(r, r->host.tested, "the guest passed a borrow<r> to test (tested)");
  expect_true(r, r->host.nobjs == 1 && r->host.drops[0] == 1,
              "the guest dropped its R at the end of test-imports (dtor called once)");
}

/* ---- the table of .ts tests ----------------------------------------------------------- */

typedef struct jco_test {
  const char *ts;
  const char *wasm;           /* in jco-runtime/ */
  int (*link)(run_t *r);
  void (*run)(run_t *r);
  void (*after)(run_t *r);    /* checks after the instance is freed */
  const char *skip;           /* reason, or NULL */
} jco_test_t;

static const jco_test_t tests[] = {
    {"asmjs_bigint.ts", "asmjs_bigint.component.wasm", none_link, bigint_run, NULL, NULL},
    {"dummy_proxy.ts", NULL, NULL, NULL, NULL,
     "needs wasi:http (incoming-handler) and the preview2 shim; no such component in "
     "jco-runtime"},
    {"example_guest_export.ts", "example_guest_export.wasm", none_link, guest_export_run, NULL,
     NULL},
    {"example_guest_import.ts", "example_guest_import.wasm", guest_import_link,
     guest_import_run, guest_import_after, NULL},
    {"import-fn.ts", NULL, NULL, NULL, NULL,
     "holds only a flags comment (no checks) and has no component in jco-runtime"},
    {"lists.ts", "lists.component.wasm", lists_link, lists_run, NULL, NULL},
    {"numbers.ts", "numbers.component.wasm", numbers_link, numbers_run, NULL, NULL},
    {"records.ts", "records.component.wasm", records_link, records_run, NULL, NULL},
    {"resource_borrow_simple.ts", "resource_borrow_simple.component.wasm", rbs_link, rbs_run,
     NULL, NULL},
    {"smoke.ts", "smoke.component.wasm", smoke_link, smoke_run, smoke_after, NULL},
    {"strings.async+js.ts", "strings.component.wasm", strings_link, strings_run, NULL, NULL},
    {"strings.sync+js.ts", "strings.component.wasm", strings_link, strings_run, NULL, NULL},
    {"strings.sync.ts", "strings.component.wasm", strings_link, strings_run, NULL, NULL},
    {"strings.ts", "strings.component.wasm", strings_link, strings_run, NULL, NULL},
    {"variants.ts", "variants.component.wasm", variants_link, variants_run, NULL, NULL},
    {"wasi-http-proxy.ts", NULL, NULL, NULL, NULL,
     "needs wasi:http (outgoing-handler, types) and a server; no such component in "
     "jco-runtime"},
    /* not a .ts: the stub message when the test imports are missing */
    {"(numbers without its imports)", "numbers.component.wasm", stub_link, stub_run, NULL,
     NULL},
    {"(resource_borrow_simple without its imports)", "resource_borrow_simple.component.wasm",
     stub_link, stub_rbs_run, NULL, NULL},
};

/* ---- driver --------------------------------------------------------------------------- */

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  uint8_t *buf = NULL;
  long n;
  if (!f) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) goto out;
  buf = malloc(n ? (size_t)n : 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  *len = (size_t)n;
out:
  fclose(f);
  return buf;
}

/* Runs one test; returns 1 passed, 0 failed. */
static int run_one(const char *dir, const jco_test_t *t) {
  run_t r;
  char path[1024];
  size_t len = 0;
  wh_diag_t diag;
  uint8_t *bytes;
  int rc;

  memset(&r, 0, sizeof r);
  r.ts = t->ts;
  snprintf(path, sizeof path, "%s/components/jco-runtime/%s", dir, t->wasm);
  bytes = read_file(path, &len);
  if (!bytes) {
    failf(&r, "cannot read %s", path);
    goto done;
  }
  r.e = wh_engine_new(NULL);
  r.x = r.e ? wh_exec_new(r.e) : NULL;
  r.l = r.e ? wh_cm_linker_new(r.e) : NULL;
  if (!r.x || !r.l) {
    failf(&r, "out of memory");
    goto done;
  }
  wh_diag_clear(&diag);
  r.c = wh_cm_component_new(r.e, bytes, len, &diag);
  if (!r.c) {
    failf(&r, "%s does not load: %s", t->wasm, diag.msg);
    goto done;
  }
  rc = t->link(&r);
  if (rc == 0 && t->link != stub_link) rc = wasi_link(&r);
  if (rc) {
    failf(&r, "defining the host imports failed: %s", wh_strerror(rc));
    goto done;
  }
  /* WASI (and anything else not defined above) traps when called */
  wh_cm_linker_trap_missing(r.l, true);
  wh_diag_clear(&diag);
  rc = wh_cm_instantiate(r.l, r.c, r.x, NULL, &r.inst, &diag);
  if (rc) {
    failf(&r, "instantiation failed: %s", diag.msg);
    goto done;
  }
  t->run(&r);
  wh_cm_instance_free(r.inst);
  r.inst = NULL;
  if (t->after) t->after(&r);
done:
  wh_cm_instance_free(r.inst);
  wh_cm_linker_free(r.l);
  wh_cm_component_free(r.c);
  wh_exec_free(r.x);
  wh_engine_free(r.e);
  free(bytes);
  for (int i = 0; i < 2; i++)
    if (r.host.nout[i])
      printf("  note %s: the guest wrote to %s: \"%.*s\"\n", t->ts, i ? "stderr" : "stdout",
             (int)r.host.nout[i], r.host.out[i]);
  printf("%s %s (%s): %u checks, %u failed, %u host calls, %u WASI calls\n",
         r.failed ? "FAIL" : "PASS", t->ts, t->wasm, r.checks, r.failed, r.host.calls,
         r.host.wasi_calls);
  return r.failed == 0 && r.checks > 0;
}

static bool selected(int argc, char **argv, const char *ts) {
  bool any = false;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-') continue;
    any = true;
    if (strcmp(argv[i], ts) == 0) return true;
  }
  return !any;
}

int main(int argc, char **argv) {
  const char *dir = getenv("WHARF_TESTDATA");
  char probe[1024];
  struct stat st;
  unsigned passed = 0, failed = 0, skipped = 0;

  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-v") == 0) verbose = 1;
  if (!dir || !*dir) dir = WHARF_TESTDATA_DEFAULT;
  snprintf(probe, sizeof probe, "%s/components/jco-runtime-tests", dir);
  if (stat(probe, &st) != 0 || !S_ISDIR(st.st_mode)) {
    printf("jco runtime test data not found at %s (set WHARF_TESTDATA): skipped\n", probe);
    return 77;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++) {
    const jco_test_t *t = &tests[i];
    if (!selected(argc, argv, t->ts)) continue;
    if (t->skip) {
      printf("SKIP %s: %s\n", t->ts, t->skip);
      skipped++;
      continue;
    }
    if (run_one(dir, t)) passed++;
    else failed++;
  }
  printf("%u passed, %u failed, %u skipped\n", passed, failed, skipped);
  return failed ? 1 : 0;
}
