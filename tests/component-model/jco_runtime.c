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
 *   WASI (helpers.wasi, shim)  the real WASI 0.2 host (wh_wasi_p2.h):
 *                              wh_wasi_p2_define on the linker, one
 *                              context per run attached to its exec,
 *                              stdout/stderr captured (smoke's guest
 *                              prints "howdy"; a failing guest's panic
 *                              message shows).  Nothing is stubbed:
 *                              wh_cm_linker_trap_missing stays off, so
 *                              an import neither the .ts host nor WASI
 *                              provides fails the instantiation
 *   strictEqual(export(args), want)
 *                              wh_cm_call; arguments and results go
 *                              through the JSON mapping (docs/API.md),
 *                              and results must be equal to the
 *                              expected JSON exactly (json_equal: an
 *                              f32 1.0 is a real, a u8 1 an integer)
 *
 * Then every component in jco-runtime/ (with or without a .ts) is
 * instantiated with real WASI and whichever of the harness's .ts hosts
 * provides its other imports.  One that imports what no .ts host here
 * implements is reported with the imports it needs: a failure if the
 * component has a .ts test, skipped otherwise.  Any other failure to
 * instantiate (WASI not providing an import, a type mismatch, a trap in
 * a start function) fails.
 *
 * Prints one line per .ts (PASS/FAIL/SKIP with the number of checks),
 * every mismatch, one line per component, and the totals at the end;
 * exits 1 if anything failed, 77 when the test data is absent.
 *
 *   wharf-jco-runtime [-v] [NAME.ts ...]
 */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "wasi_p2_int.h"   /* the live WASI object count (smoke) */
#include "wh_cm.h"
#include "wh_engine.h"
#include "wh_wasi_p2.h"

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
} host_t;

/* Names a link function defined (host functions and resources): what
 * the component sweep compares a component's imports with. */
typedef struct names {
  char **v;
  size_t n, cap;
} names_t;

typedef struct run {
  const char *ts;
  wh_engine_t *e;
  wh_exec_t *x;
  wh_cm_component_t *c;
  wh_cm_linker_t *l;
  wh_wasi_p2_t *w;            /* the run's WASI context */
  wh_cm_instance_t *inst;
  host_t host;
  names_t defined;            /* what the link function defined */
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

/* Adds a copy of `name` to `s`.  0 or WH_ENOMEM. */
static int names_add(names_t *s, const char *name) {
  if (s->n == s->cap) {
    size_t nc = s->cap ? 2 * s->cap : 16;
    char **nv = realloc(s->v, nc * sizeof *nv);
    if (!nv) return WH_ENOMEM;
    s->v = nv;
    s->cap = nc;
  }
  size_t len = strlen(name) + 1;
  char *copy = malloc(len);
  if (!copy) return WH_ENOMEM;
  memcpy(copy, name, len);
  s->v[s->n++] = copy;
  return 0;
}

static bool names_has(const names_t *s, const char *name) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], name) == 0) return true;
  return false;
}

static void names_fini(names_t *s) {
  for (size_t i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof *s);
}

/* A host function or resource of the .ts host, recorded in r->defined. */
static int def_func(run_t *r, const char *name, wh_cm_host_fn_t fn) {
  int rc = wh_cm_linker_define_func(r->l, name, fn, &r->host);
  return rc ? rc : names_add(&r->defined, name);
}

static int def_resource(run_t *r, const char *name, wh_cm_resource_dtor_t dtor,
                        wh_cm_rtype_t **out) {
  int rc = wh_cm_linker_define_resource(r->l, name, dtor, &r->host, out);
  return rc ? rc : names_add(&r->defined, name);
}

static int define_all(run_t *r, const char *iface, const hostdef_t *defs) {
  char full[256];
  for (const hostdef_t *d = defs; d->name; d++) {
    snprintf(full, sizeof full, "%s%s%s", iface ? iface : "", iface ? "#" : "", d->name);
    int rc = def_func(r, full, d->fn);
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

/* ---- WASI ------------------------------------------------------------------------------
 * The real WASI 0.2 host: jco's helpers.wasi gives the guests stdio,
 * get-directories and the stream classes, which the
 * wasi_snapshot_preview1 adapter inside the Rust and C guests asks for
 * the first time a guest touches a file descriptor (a print, a panic
 * message).  Here every run has a context with the defaults (no args,
 * no env, no preopens, empty stdin, stdout/stderr captured). */

/* WASI objects (streams, ...) of the run's context still alive: ones a
 * guest holds, and none once its instance is freed. */
static uint32_t wasi_live(const run_t *r) { return r->w ? r->w->nobjs : 0; }

/* The captured stdout (which 0) or stderr (1) is exactly `want`. */
static bool wasi_output_is(const run_t *r, int which, const char *want) {
  size_t len = 0;
  bool cut = false;
  const uint8_t *p = which ? wh_wasi_p2_stderr(r->w, &len, &cut)
                           : wh_wasi_p2_stdout(r->w, &len, &cut);
  return !cut && len == strlen(want) && (len == 0 || memcmp(p, want, len) == 0);
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
   * and WASI's wasi:cli/stdout */
  expect_true(r, wasi_output_is(r, 0, "howdy\n"),
              "the guest printed \"howdy\" to stdout (captured by WASI)");
  expect_true(r, wasi_output_is(r, 1, ""), "the guest wrote nothing to stderr");
  /* the adapter holds stdin, stdout and stderr to the end; run_one
   * checks that freeing the instance destroys them */
  char what[160];
  snprintf(what, sizeof what,
           "the adapter holds its three stdio streams while the instance lives (%u alive)",
           wasi_live(r));
  expect_true(r, wasi_live(r) == 3, what);
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
  int rc = def_resource(r, BACKEND2 "#scalars", res_dtor, &r->host.rt);
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
  int rc = def_resource(r, "r", res_dtor, &r->host.rt);
  if (rc == 0) rc = def_func(r, "[constructor]r", rbs_constructor);
  if (rc == 0) rc = def_func(r, "test", rbs_test);
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
  int (*link)(run_t *r);      /* the .ts host (WASI is added to it) */
  void (*run)(run_t *r);
  void (*after)(run_t *r);    /* checks after the instance is freed */
  const char *skip;           /* reason, or NULL */
  const char *unlinked;       /* not a .ts: instantiation must fail naming
                                 this import (and only the test imports) */
} jco_test_t;

static const jco_test_t tests[] = {
    {"asmjs_bigint.ts", "asmjs_bigint.component.wasm", none_link, bigint_run, NULL, NULL, NULL},
    {"dummy_proxy.ts", NULL, NULL, NULL, NULL,
     "needs wasi:http (incoming-handler) and the preview2 shim; no such component in "
     "jco-runtime",
     NULL},
    {"example_guest_export.ts", "example_guest_export.wasm", none_link, guest_export_run, NULL,
     NULL, NULL},
    {"example_guest_import.ts", "example_guest_import.wasm", guest_import_link,
     guest_import_run, guest_import_after, NULL, NULL},
    {"import-fn.ts", NULL, NULL, NULL, NULL,
     "holds only a flags comment (no checks) and has no component in jco-runtime", NULL},
    {"lists.ts", "lists.component.wasm", lists_link, lists_run, NULL, NULL, NULL},
    {"numbers.ts", "numbers.component.wasm", numbers_link, numbers_run, NULL, NULL, NULL},
    {"records.ts", "records.component.wasm", records_link, records_run, NULL, NULL, NULL},
    {"resource_borrow_simple.ts", "resource_borrow_simple.component.wasm", rbs_link, rbs_run,
     NULL, NULL, NULL},
    {"smoke.ts", "smoke.component.wasm", smoke_link, smoke_run, NULL, NULL, NULL},
    {"strings.async+js.ts", "strings.component.wasm", strings_link, strings_run, NULL, NULL,
     NULL},
    {"strings.sync+js.ts", "strings.component.wasm", strings_link, strings_run, NULL, NULL,
     NULL},
    {"strings.sync.ts", "strings.component.wasm", strings_link, strings_run, NULL, NULL, NULL},
    {"strings.ts", "strings.component.wasm", strings_link, strings_run, NULL, NULL, NULL},
    {"variants.ts", "variants.component.wasm", variants_link, variants_run, NULL, NULL, NULL},
    {"wasi-http-proxy.ts", NULL, NULL, NULL, NULL,
     "needs wasi:http (outgoing-handler, types) and a server; no such component in "
     "jco-runtime",
     NULL},
    /* not a .ts: with WASI but without the test host, instantiation
     * fails and names exactly the test imports (so WASI provided every
     * other import, and nothing is stubbed) */
    {"(numbers without its imports)", "numbers.component.wasm", none_link, NULL, NULL, NULL,
     "test:numbers/test#roundtrip-u8"},
    {"(resource_borrow_simple without its imports)", "resource_borrow_simple.component.wasm",
     none_link, NULL, NULL, NULL, "[constructor]r"},
};

#define NTESTS (sizeof tests / sizeof tests[0])

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

/* Engine, exec, a WASI context attached to the exec, and component
 * jco-runtime/<wasm>.  0, or -1 after recording the failure. */
static int run_open(run_t *r, const char *dir, const char *wasm) {
  char path[1024];
  size_t len = 0;
  wh_diag_t diag;
  wh_wasi_p2_config_t cfg;

  snprintf(path, sizeof path, "%s/components/jco-runtime/%s", dir, wasm);
  uint8_t *bytes = read_file(path, &len);
  if (!bytes) {
    failf(r, "cannot read %s", path);
    return -1;
  }
  r->e = wh_engine_new(NULL);
  r->x = r->e ? wh_exec_new(r->e) : NULL;
  wh_wasi_p2_config_init(&cfg);
  wh_diag_clear(&diag);
  r->w = r->x ? wh_wasi_p2_new(&cfg, &diag) : NULL;
  if (!r->w) {
    failf(r, "no engine, exec or WASI context: %s", diag.msg[0] ? diag.msg : "out of memory");
    free(bytes);
    return -1;
  }
  wh_wasi_p2_attach(r->x, r->w);
  wh_diag_clear(&diag);
  r->c = wh_cm_component_new(r->e, bytes, len, &diag);
  free(bytes);
  if (!r->c) {
    failf(r, "%s does not load: %s", wasm, diag.msg);
    return -1;
  }
  return 0;
}

/* A new linker holding `link`'s .ts host (recorded in r->defined, with a
 * fresh host_t) and every WASI 0.2 function: no trap_missing.  0, or -1
 * after recording the failure. */
static int run_link(run_t *r, int (*link)(run_t *r)) {
  wh_cm_linker_free(r->l);
  names_fini(&r->defined);
  memset(&r->host, 0, sizeof r->host);
  r->l = wh_cm_linker_new(r->e);
  int rc = r->l ? link(r) : WH_ENOMEM;
  if (rc == 0) rc = wh_wasi_p2_define(r->l);
  if (rc) {
    failf(r, "defining the host imports failed: %s", wh_strerror(rc));
    return -1;
  }
  return 0;
}

/* Frees what run_open and run_link made; the instance first, then the
 * WASI context it ran with. */
static void run_close(run_t *r) {
  wh_cm_instance_free(r->inst);
  r->inst = NULL;
  wh_cm_linker_free(r->l);
  wh_wasi_p2_free(r->w);
  wh_cm_component_free(r->c);
  wh_exec_free(r->x);
  wh_engine_free(r->e);
  names_fini(&r->defined);
}

/* Frees the instance; every WASI object its guest still held must die
 * with it (wh_cm_instance_free returns the handles to the host). */
static void free_instance_check(run_t *r) {
  uint32_t before = wasi_live(r);
  char what[200];
  wh_cm_instance_free(r->inst);
  r->inst = NULL;
  snprintf(what, sizeof what,
           "freeing the instance destroyed every WASI object its guest held (%u alive before, "
           "%u after)", before, wasi_live(r));
  expect_true(r, wasi_live(r) == 0, what);
}

/* Shows what the guest wrote to stdout and stderr (WASI's capture). */
static void print_output(const run_t *r, const char *what) {
  for (int i = 0; r->w && i < 2; i++) {
    size_t len = 0;
    bool cut = false;
    const uint8_t *p = i ? wh_wasi_p2_stderr(r->w, &len, &cut) : wh_wasi_p2_stdout(r->w, &len, &cut);
    if (len)
      printf("  note %s: the guest wrote %zu bytes to %s%s: \"%.*s\"%s\n", what, len,
             i ? "stderr" : "stdout", cut ? " (truncated)" : "", (int)(len > 300 ? 300 : len),
             (const char *)p, len > 300 ? "..." : "");
  }
}

/* What component `c` imports that is not WASI's, into `out`: "fn" for a
 * function imported directly, "iface#item" for each function (or
 * module, instance, ...) of an imported instance; modules and
 * components imported directly by name.  Types are left out (a resource
 * nobody defines stays opaque).  0 or WH_ENOMEM. */
static int non_wasi_imports(const wh_cm_component_t *c, names_t *out) {
  char full[512];
  for (uint32_t i = 0; i < wh_cm_import_count(c); i++) {
    const char *name, *en;
    wh_cm_kind_t kind, ek;
    wh_cm_type_ref_t t, et;
    int rc = 0;
    if (wh_cm_import(c, i, &name, &kind, &t) != 0 || strncmp(name, "wasi:", 5) == 0) continue;
    if (kind == WH_CM_KIND_TYPE) continue;
    if (kind != WH_CM_KIND_INSTANCE) {
      rc = names_add(out, name);
    } else {
      for (uint32_t k = 0; rc == 0 && k < wh_cm_type_export_count(c, t); k++) {
        if (wh_cm_type_export(c, t, k, &en, &ek, &et) != 0 || ek == WH_CM_KIND_TYPE) continue;
        snprintf(full, sizeof full, "%s#%s", name, en);
        rc = names_add(out, full);
      }
    }
    if (rc) return rc;
  }
  return 0;
}

/* Prints `missing` grouped by interface into f: "test:x/test (f, g),
 * toplevel-import". */
static void print_grouped(FILE *f, const names_t *missing) {
  for (size_t i = 0; i < missing->n; i++) {
    const char *hash = strchr(missing->v[i], '#');
    size_t plen = hash ? (size_t)(hash - missing->v[i]) : 0;
    bool first = true;
    for (size_t k = 0; hash && k < i; k++)
      if (strncmp(missing->v[k], missing->v[i], plen + 1) == 0) first = false;
    if (!first) continue;
    fprintf(f, "%s", i ? ", " : "");
    if (!hash) {
      fprintf(f, "%s", missing->v[i]);
      continue;
    }
    fprintf(f, "%.*s (", (int)plen, missing->v[i]);
    for (size_t k = i, m = 0; k < missing->n; k++)
      if (strncmp(missing->v[k], missing->v[i], plen + 1) == 0)
        fprintf(f, "%s%s", m++ ? ", " : "", missing->v[k] + plen + 1);
    fprintf(f, ")");
  }
}

/* How many imports wh_cm_linker_check finds missing on r's linker (its
 * message "N imports were not provided: ..." into *diag); 0 if none. */
static unsigned long linker_missing(const run_t *r, wh_diag_t *diag) {
  if (wh_cm_linker_check(r->l, r->c, diag) == 0) return 0;
  return diag->code == WH_EUNLINKABLE ? strtoul(diag->msg, NULL, 10) : 0;
}

/* Instantiating without the test host (WASI only) must fail with
 * WH_EUNLINKABLE; the linker must name `want` and count exactly the
 * component's non-WASI imports missing: WASI provided every other
 * import. */
static void expect_unlinked(run_t *r, int rc, const wh_diag_t *diag, const char *want) {
  names_t need = {0};
  wh_diag_t check;
  char what[512];
  if (non_wasi_imports(r->c, &need) != 0) {
    failf(r, "out of memory");
    names_fini(&need);
    return;
  }
  snprintf(what, sizeof what, "instantiation without the test imports fails (got %s: %s)",
           rc ? wh_errname(rc) : "0", rc ? diag->msg : "instantiated");
  expect_true(r, rc == WH_EUNLINKABLE, what);
  wh_diag_clear(&check);
  unsigned long n = linker_missing(r, &check);
  snprintf(what, sizeof what,
           "the linker names %s and counts only the %zu non-WASI imports missing (%lu: %s)",
           want, need.n, n, check.msg);
  expect_true(r, need.n > 0 && n == need.n && strstr(check.msg, want) != NULL, what);
  names_fini(&need);
}

/* Runs one .ts test; returns 1 passed, 0 failed.  Adds its checks to
 * *checks and *failed. */
static int run_one(const char *dir, const jco_test_t *t, unsigned *checks, unsigned *failed) {
  run_t r;
  wh_diag_t diag;
  int rc;

  memset(&r, 0, sizeof r);
  r.ts = t->ts;
  if (run_open(&r, dir, t->wasm) != 0 || run_link(&r, t->link) != 0) goto done;
  wh_diag_clear(&diag);
  rc = wh_cm_instantiate(r.l, r.c, r.x, NULL, &r.inst, &diag);
  if (t->unlinked) {
    expect_unlinked(&r, rc, &diag, t->unlinked);
    goto done;
  }
  if (rc) {
    failf(&r, "instantiation failed: %s: %s", wh_errname(rc), diag.msg);
    goto done;
  }
  t->run(&r);
  free_instance_check(&r);
  if (t->after) t->after(&r);
done:
  print_output(&r, t->ts);
  run_close(&r);
  printf("%s %s (%s): %u checks, %u failed, %u host calls\n", r.failed ? "FAIL" : "PASS",
         t->ts, t->wasm, r.checks, r.failed, r.host.calls);
  *checks += r.checks;
  *failed += r.failed;
  return r.failed == 0 && r.checks > 0;
}

/* ---- every component in jco-runtime ------------------------------------------------- */

typedef enum { COMP_INSTANTIATED, COMP_SKIPPED, COMP_FAILED } comp_result_t;

/* The .ts test of `wasm` (one with checks), or NULL. */
static const jco_test_t *test_of(const char *wasm) {
  for (size_t i = 0; i < NTESTS; i++)
    if (tests[i].wasm && !tests[i].unlinked && strcmp(tests[i].wasm, wasm) == 0)
      return &tests[i];
  return NULL;
}

/* Instantiates component `wasm` with real WASI and the .ts host that
 * provides its other imports: its own test's first, else the first of
 * the table's hosts the linker finds every import on; when none does,
 * the one providing most of its non-WASI imports, and the rest is
 * reported as missing. */
static comp_result_t run_component(const char *dir, const char *wasm, unsigned *checks) {
  run_t r;
  wh_diag_t diag, check;
  names_t need = {0}, missing = {0};
  const jco_test_t *own = test_of(wasm), *via = NULL;
  const jco_test_t *hosts[NTESTS + 1];
  size_t nhosts = 0, best_cover = 0;
  comp_result_t res = COMP_FAILED;
  bool said = false;          /* a FAIL/SKIP line for it was printed */
  int rc;

  memset(&r, 0, sizeof r);
  r.ts = wasm;
  if (run_open(&r, dir, wasm) != 0) goto done;
  if (non_wasi_imports(r.c, &need) != 0) {
    failf(&r, "out of memory");
    goto done;
  }
  /* the hosts to try: its own test's first, then every other link
   * function of the table once */
  for (size_t i = 0; i <= NTESTS; i++) {
    const jco_test_t *t = i == 0 ? own : &tests[i - 1];
    bool dup = false;
    if (!t || !t->link) continue;
    for (size_t k = 0; k < nhosts; k++)
      if (hosts[k]->link == t->link) dup = true;
    if (!dup) hosts[nhosts++] = t;
  }
  for (size_t i = 0; i < nhosts && !via; i++) {
    if (run_link(&r, hosts[i]->link) != 0) goto done;
    wh_diag_clear(&check);
    if (wh_cm_linker_check(r.l, r.c, &check) == 0) {
      via = hosts[i];
      break;
    }
    size_t cover = 0;
    for (size_t k = 0; k < need.n; k++)
      if (names_has(&r.defined, need.v[k])) cover++;
    if (i == 0 || cover > best_cover) {
      best_cover = cover;
      hosts[0] = hosts[i];    /* the best so far */
    }
  }
  if (!via) {
    /* none provides everything: the one providing most */
    via = hosts[0];
    if (nhosts == 0 || run_link(&r, via->link) != 0) goto done;
  }
  wh_diag_clear(&diag);
  r.checks++;
  rc = wh_cm_instantiate(r.l, r.c, r.x, NULL, &r.inst, &diag);
  if (rc == 0) {
    free_instance_check(&r);
    if (r.failed == 0) {
      res = COMP_INSTANTIATED;
      printf("PASS component %s: instantiated with WASI%s%s\n", wasm,
             r.defined.n ? " and the host of " : "", r.defined.n ? via->ts : "");
    }
    goto done;
  }
  for (size_t k = 0; k < need.n; k++)
    if (!names_has(&r.defined, need.v[k]) && names_add(&missing, need.v[k]) != 0) {
      failf(&r, "out of memory");
      goto done;
    }
  /* missing for want of a test host only when the linker counts
   * exactly those: else WASI lacks one, or it is not about imports
   * (types, a trap in a start function) */
  wh_diag_clear(&check);
  unsigned long nmissing = linker_missing(&r, &check);
  if (rc != WH_EUNLINKABLE || missing.n == 0 || nmissing != missing.n) {
    failf(&r, "instantiation failed: %s: %s (linker: %lu missing: %s)", wh_errname(rc),
          diag.msg, nmissing, check.msg);
    goto done;
  }
  printf("%s component %s: not instantiated: needs ", own ? "FAIL" : "SKIP", wasm);
  said = true;
  print_grouped(stdout, &missing);
  printf(own ? " (its .ts test %s does not provide them)\n"
             : " (no .ts test; no host here implements them)\n",
         own ? own->ts : "");
  if (own) {
    r.failed++;
  } else {
    res = COMP_SKIPPED;
  }
  if (verbose) printf("  instantiate: %s\n  linker: %s\n", diag.msg, check.msg);
done:
  print_output(&r, wasm);
  if (res == COMP_FAILED && r.failed == 0) failf(&r, "not instantiated");
  run_close(&r);
  names_fini(&need);
  names_fini(&missing);
  if (res == COMP_FAILED && !said) printf("FAIL component %s\n", wasm);
  *checks += r.checks;
  return res;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The *.wasm files of jco-runtime/, sorted, into `out`.  0, or -1 when
 * the directory cannot be read (or out of memory). */
static int list_components(const char *dir, names_t *out) {
  char path[1024];
  snprintf(path, sizeof path, "%s/components/jco-runtime", dir);
  DIR *d = opendir(path);
  struct dirent *de;
  int rc = 0;
  if (!d) return -1;
  while (rc == 0 && (de = readdir(d)) != NULL) {
    size_t n = strlen(de->d_name);
    if (n > 5 && strcmp(de->d_name + n - 5, ".wasm") == 0) rc = names_add(out, de->d_name);
  }
  closedir(d);
  if (rc) return -1;
  if (out->n) qsort(out->v, out->n, sizeof out->v[0], cmp_str);
  return 0;
}

/* ---- main ----------------------------------------------------------------------------- */

static bool selected(int argc, char **argv, const char *name) {
  bool any = false;
  for (int i = 1; i < argc; i++) {
    if (argv[i][0] == '-') continue;
    any = true;
    if (strcmp(argv[i], name) == 0) return true;
  }
  return !any;
}

int main(int argc, char **argv) {
  const char *dir = getenv("WHARF_TESTDATA");
  char probe[1024];
  struct stat st;
  unsigned passed = 0, failed = 0, skipped = 0, checks = 0, checks_failed = 0;
  unsigned ncomp = 0, c_ok = 0, c_skip = 0, c_fail = 0, c_checks = 0;
  names_t comps = {0};

  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-v") == 0) verbose = 1;
  if (!dir || !*dir) dir = WHARF_TESTDATA_DEFAULT;
  snprintf(probe, sizeof probe, "%s/components/jco-runtime-tests", dir);
  if (stat(probe, &st) != 0 || !S_ISDIR(st.st_mode)) {
    printf("jco runtime test data not found at %s (set WHARF_TESTDATA): skipped\n", probe);
    return 77;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  for (size_t i = 0; i < NTESTS; i++) {
    const jco_test_t *t = &tests[i];
    if (!selected(argc, argv, t->ts)) continue;
    if (t->skip) {
      printf("SKIP %s: %s\n", t->ts, t->skip);
      skipped++;
      continue;
    }
    if (run_one(dir, t, &checks, &checks_failed)) passed++;
    else failed++;
  }
  if (list_components(dir, &comps) != 0) {
    printf("FAIL cannot list %s/components/jco-runtime\n", dir);
    c_fail++;
  }
  for (size_t i = 0; i < comps.n; i++) {
    if (!selected(argc, argv, comps.v[i])) continue;
    ncomp++;
    switch (run_component(dir, comps.v[i], &c_checks)) {
    case COMP_INSTANTIATED: c_ok++; break;
    case COMP_SKIPPED: c_skip++; break;
    case COMP_FAILED: c_fail++; break;
    }
  }
  names_fini(&comps);
  printf(".ts tests: %u passed, %u failed, %u skipped (%u checks, %u failed)\n", passed, failed,
         skipped, checks, checks_failed);
  if (ncomp || c_fail)
    printf("components: %u in jco-runtime (%u checks): %u instantiated with real WASI, "
           "%u failed, %u skipped (not instantiated: no .ts test, and they need imports no "
           "host here implements)\n",
           ncomp, c_checks, c_ok, c_fail, c_skip);
  printf("%u passed, %u failed, %u skipped\n", passed + c_ok, failed + c_fail, skipped + c_skip);
  return failed || c_fail ? 1 : 0;
}
