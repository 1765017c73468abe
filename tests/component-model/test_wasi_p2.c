/*
 * test_wasi_p2.c - wharf-unit-wasi-p2: the WASI 0.2 host
 * (component-model/wasi_p2*.c), one CUnit suite per interface group.
 *
 * Most tests call the host functions directly (wh_wasi_p2__call: the
 * arguments a lifted call would pass, the result it would lower), so each
 * function's behaviour is checked without a guest; handles are the reps
 * of earlier results.  The "components" suite then runs real components
 * (testdata jco-commands / jco-runtime) through a linker with
 * wh_wasi_p2_define: semver-compatible linking (@0.2.3 imports on @0.2.0
 * definitions), capture of stdout/stderr through wasi:cli/run, and
 * instantiation of every jco-runtime component with real WASI.  Those
 * tests pass trivially (and say so) when the testdata is absent.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/Basic.h>

#include "wasi_p2_int.h"
#include "wh_engine.h"
#include "wh_wasi_p2.h"

static wh_engine_t *engine;
static wh_exec_t *exec_;
static char trap[CM_TRAPMSG];
static char tmpdir[256];

/* ---- helpers ----------------------------------------------------------------------- */

static wh_wasi_p2_t *ctx_new(const wh_wasi_p2_config_t *cfg) {
  wh_wasi_p2_config_t def;
  if (!cfg) {
    wh_wasi_p2_config_init(&def);
    cfg = &def;
  }
  return wh_wasi_p2_new(cfg, NULL);
}

static int call(wh_wasi_p2_t *w, const char *name, const wh_cm_val *args, uint32_t n,
                wh_cm_val *res) {
  return wh_wasi_p2__call(w, exec_, name, args, n, res, trap);
}

static wh_cm_val borrow(uint32_t rep) { return wh_cm_val_borrow(NULL, rep); }

/* The rep of an own handle result, directly or inside ok(...). */
static uint32_t rep_of(const wh_cm_val *v) {
  if (v->kind == WH_CM_V_RESULT && v->of.var.idx == 0 && v->of.var.payload) v = v->of.var.payload;
  return v->kind == WH_CM_V_OWN ? v->of.handle.rep : 0;
}

/* rep_of, then finishes *v */
static uint32_t take_rep(wh_cm_val *v) {
  uint32_t rep = rep_of(v);
  wh_cm_val_fini(v);
  return rep;
}

static bool is_ok(const wh_cm_val *v) { return v->kind == WH_CM_V_RESULT && v->of.var.idx == 0; }

/* err(enum code) */
static bool is_err_code(const wh_cm_val *v, uint32_t code) {
  return v->kind == WH_CM_V_RESULT && v->of.var.idx == 1 && v->of.var.payload &&
         v->of.var.payload->kind == WH_CM_V_ENUM && v->of.var.payload->of.var.idx == code;
}

static bool bytes_eq(const wh_cm_val *l, const char *s) {
  size_t n = strlen(s);
  if (l->kind != WH_CM_V_LIST || l->of.agg.n != n) return false;
  for (size_t i = 0; i < n; i++)
    if (l->of.agg.v[i].kind != WH_CM_V_U8 || l->of.agg.v[i].of.u != (uint8_t)s[i]) return false;
  return true;
}

static wh_cm_val bytes(const char *s) {
  wh_cm_val v;
  size_t n = strlen(s);
  if (wh_cm_val_agg(&v, WH_CM_V_LIST, (uint32_t)n) != 0) abort();
  for (size_t i = 0; i < n; i++) v.of.agg.v[i] = wh_cm_val_u8((uint8_t)s[i]);
  return v;
}

static wh_cm_val str(const char *s) {
  wh_cm_val v;
  if (wh_cm_val_string(&v, s, strlen(s)) != 0) abort();
  return v;
}

static wh_cm_val flags(uint32_t n, uint32_t bits) {
  wh_cm_val v;
  if (wh_cm_val_flags(&v, n) != 0) abort();
  for (uint32_t i = 0; i < n; i++) wh_cm_val_flag_set(&v, i, (bits >> i) & 1);
  return v;
}

/* (runs before the tests: no CUnit assertions) */
static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f) abort();
  fputs(text, f);
  fclose(f);
}

/* ---- cli ------------------------------------------------------------------------- */

static void test_environment_is_the_config(void) {
  const char *argv[] = {"prog", "one", "two words"};
  const char *envp[] = {"A=1", "EMPTY=", "EQ=x=y"};
  wh_wasi_p2_config_t cfg;
  wh_wasi_p2_config_init(&cfg);
  cfg.argv = argv;
  cfg.argc = 3;
  cfg.envp = envp;
  cfg.envc = 3;
  setenv("WH_P2_HOST_SECRET", "leak", 1);
  wh_wasi_p2_t *w = ctx_new(&cfg);
  CU_ASSERT_PTR_NOT_NULL_FATAL(w);
  wh_cm_val r;
  CU_ASSERT_EQUAL_FATAL(call(w, "cli/environment#get-environment", NULL, 0, &r), 0);
  CU_ASSERT_EQUAL_FATAL(r.of.agg.n, 3);
  const char *keys[] = {"A", "EMPTY", "EQ"}, *vals[] = {"1", "", "x=y"};
  for (uint32_t i = 0; i < 3; i++) {
    const wh_cm_val *t = &r.of.agg.v[i];
    CU_ASSERT(t->kind == WH_CM_V_TUPLE && strcmp(t->of.agg.v[0].of.str.ptr, keys[i]) == 0 &&
              strcmp(t->of.agg.v[1].of.str.ptr, vals[i]) == 0);
  }
  wh_cm_val_fini(&r);
  CU_ASSERT_EQUAL_FATAL(call(w, "cli/environment#get-arguments", NULL, 0, &r), 0);
  CU_ASSERT(r.of.agg.n == 3 && strcmp(r.of.agg.v[2].of.str.ptr, "two words") == 0);
  wh_cm_val_fini(&r);
  CU_ASSERT_EQUAL(call(w, "cli/environment#initial-cwd", NULL, 0, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_OPTION && r.of.var.idx == 0);
  wh_wasi_p2_free(w);

  /* the default context has no arguments and no environment at all,
   * whatever the host process has */
  w = ctx_new(NULL);
  CU_ASSERT_EQUAL(call(w, "cli/environment#get-environment", NULL, 0, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_LIST && r.of.agg.n == 0);
  wh_cm_val_fini(&r);
  CU_ASSERT_EQUAL(call(w, "cli/environment#get-arguments", NULL, 0, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_LIST && r.of.agg.n == 0);
  wh_cm_val_fini(&r);
  wh_wasi_p2_free(w);
  unsetenv("WH_P2_HOST_SECRET");

  const char *bad[] = {"NOEQUALS"};
  cfg.envp = bad;
  cfg.envc = 1;
  wh_diag_t d;
  CU_ASSERT_PTR_NULL(wh_wasi_p2_new(&cfg, &d));
  CU_ASSERT_EQUAL(d.code, WH_EINVAL);
}

static void test_exit_status(void) {
  wh_wasi_p2_t *w = ctx_new(NULL);
  wh_cm_val arg;
  int st = -1;
  CU_ASSERT_FALSE(wh_wasi_p2_exited(w, &st));
  wh_cm_val_case(&arg, WH_CM_V_RESULT, 1, NULL);
  CU_ASSERT_EQUAL(call(w, "cli/exit#exit", &arg, 1, NULL), WH_EEXIT);
  CU_ASSERT(wh_wasi_p2_exited(w, &st) && st == 1);
  wh_cm_val_case(&arg, WH_CM_V_RESULT, 0, NULL);
  CU_ASSERT_EQUAL(call(w, "cli/exit#exit", &arg, 1, NULL), WH_EEXIT);
  CU_ASSERT(wh_wasi_p2_exited(w, &st) && st == 0);
  arg = wh_cm_val_u8(42);
  CU_ASSERT_EQUAL(call(w, "cli/exit#exit-with-code", &arg, 1, NULL), WH_EEXIT);
  CU_ASSERT(wh_wasi_p2_exited(w, &st) && st == 42);
  /* a guest whose import has another type traps, it does not exit */
  arg = wh_cm_val_u32(3);
  CU_ASSERT_EQUAL(call(w, "cli/exit#exit", &arg, 1, NULL), WH_ETRAP);
  wh_wasi_p2_free(w);
}

static void test_no_terminal(void) {
  wh_wasi_p2_t *w = ctx_new(NULL);
  const char *names[] = {"cli/terminal-stdin#get-terminal-stdin",
                         "cli/terminal-stdout#get-terminal-stdout",
                         "cli/terminal-stderr#get-terminal-stderr"};
  for (int i = 0; i < 3; i++) {
    wh_cm_val r;
    CU_ASSERT_EQUAL(call(w, names[i], NULL, 0, &r), 0);
    CU_ASSERT(r.kind == WH_CM_V_OPTION && r.of.var.idx == 0);
  }
  wh_wasi_p2_free(w);
}

/* ---- io: streams ---------------------------------------------------------------------- */

static uint32_t get_stream(wh_wasi_p2_t *w, const char *fn) {
  wh_cm_val r;
  CU_ASSERT_EQUAL(call(w, fn, NULL, 0, &r), 0);
  return rep_of(&r);
}

static void test_stdout_stderr_capture(void) {
  wh_wasi_p2_t *w = ctx_new(NULL);
  uint32_t out = get_stream(w, "cli/stdout#get-stdout");
  uint32_t err = get_stream(w, "cli/stderr#get-stderr");
  CU_ASSERT(out != 0 && err != 0 && out != err);
  wh_cm_val args[2] = {borrow(out), bytes("hello, ")}, r;
  CU_ASSERT_EQUAL(call(w, "io/streams#[method]output-stream.write", args, 2, &r), 0);
  CU_ASSERT(is_ok(&r));
  wh_cm_val_fini(&args[1]);
  args[1] = bytes("world\n");
  CU_ASSERT_EQUAL(call(w, "io/streams#[method]output-stream.blocking-write-and-flush", args, 2,
                       &r), 0);
  wh_cm_val_fini(&args[1]);
  args[0] = borrow(err);
  args[1] = bytes("oops");
  CU_ASSERT_EQUAL(call(w, "io/streams#[method]output-stream.write", args, 2, &r), 0);
  wh_cm_val_fini(&args[1]);
  args[1] = wh_cm_val_u64(3);
  CU_ASSERT_EQUAL(call(w, "io/streams#[method]output-stream.write-zeroes", args, 2, &r), 0);
  CU_ASSERT_EQUAL(call(w, "io/streams#[method]output-stream.check-write", args, 1, &r), 0);
  CU_ASSERT(is_ok(&r) && r.of.var.payload->of.u > 0);
  wh_cm_val_fini(&r);
  CU_ASSERT_EQUAL(call(w, "io/streams#[method]output-stream.blocking-flush", args, 1, &r), 0);
  CU_ASSERT(is_ok(&r));

  size_t len;
  bool cut;
  const uint8_t *p = wh_wasi_p2_stdout(w, &len, &cut);
  CU_ASSERT(len == 13 && memcmp(p, "hello, world\n", 13) == 0 && !cut);
  p = wh_wasi_p2_stderr(w, &len, &cut);
  CU_ASSERT(len == 7 && memcmp(p, "oops\0\0\0", 7) == 0 && !cut);
  wh_wasi_p2_free(w);
}

static void test_capture_truncates(void) {
  wh_wasi_p2_config_t cfg;
  wh_wasi_p2_config_init(&cfg);
  cfg.stdout_max = 64;
  wh_wasi_p2_t *w = ctx_new(&cfg);
  uint32_t out = get_stream(w, "cli/stdout#get-stdout");
  wh_cm_val args[2] = {borrow(out), bytes("0123456789")}, r;
  for (int i = 0; i < 20; i++) {
    CU_ASSERT_EQUAL(call(w, "io/streams#[method]output-stream.write", args, 2, &r), 0);
    CU_ASSERT(is_ok(&r));   /* the guest is not told */
  }
  wh_cm_val_fini(&args[1]);
  size_t len, mlen = strlen(WH_WASI_P2_TRUNCATED_MARKER);
  bool cut;
  const uint8_t *p = wh_wasi_p2_stdout(w, &len, &cut);
  CU_ASSERT(cut);
  CU_ASSERT_EQUAL(len, 64);
  CU_ASSERT(memcmp(p, "0123456789", 10) == 0);
  CU_ASSERT(memcmp(p + len - mlen, WH_WASI_P2_TRUNCATED_MARKER, mlen) == 0);
  wh_wasi_p2_free(w);
}

static void test_stdin_is_empty(void) {
  wh_wasi_p2_t *w = ctx_new(NULL);
  uint32_t in = get_stream(w, "cli/stdin#get-stdin");
  wh_cm_val args[2] = {borrow(in), wh_cm_val_u64(100)}, r;
  const char *fns[] = {"io/streams#[method]input-stream.read",
                       "io/streams#[method]input-stream.blocking-read",
                       "io/streams#[method]input-stream.skip"};
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(call(w, fns[i], args, 2, &r), 0);
    /* err(stream-error.closed) */
    CU_ASSERT(r.kind == WH_CM_V_RESULT && r.of.var.idx == 1 && r.of.var.payload &&
              r.of.var.payload->kind == WH_CM_V_VARIANT && r.of.var.payload->of.var.idx == 1);
    wh_cm_val_fini(&r);
  }
  wh_wasi_p2_free(w);
}

static void test_handles_are_checked(void) {
  wh_wasi_p2_t *w1 = ctx_new(NULL), *w2 = ctx_new(NULL);
  uint32_t out = get_stream(w1, "cli/stdout#get-stdout");
  uint32_t in = get_stream(w1, "cli/stdin#get-stdin");
  wh_cm_val args[2] = {borrow(out), wh_cm_val_u64(1)}, r;
  /* another invocation's stream */
  CU_ASSERT_EQUAL(call(w2, "io/streams#[method]output-stream.check-write", args, 1, &r), WH_ETRAP);
  CU_ASSERT(strstr(trap, "output-stream") != NULL);
  /* the wrong resource */
  args[0] = borrow(in);
  CU_ASSERT_EQUAL(call(w1, "io/streams#[method]output-stream.check-write", args, 1, &r), WH_ETRAP);
  /* a rep that was never handed out */
  args[0] = borrow(0x7ffff);
  CU_ASSERT_EQUAL(call(w1, "io/streams#[method]output-stream.check-write", args, 1, &r), WH_ETRAP);
  wh_wasi_p2__obj_free(NULL);   /* a no-op */
  args[0] = borrow(out);
  CU_ASSERT_EQUAL(call(w1, "io/streams#[method]output-stream.check-write", args, 1, &r), 0);
  wh_cm_val_fini(&r);
  /* a kind mismatch in the arguments (an import with another type) */
  args[0] = wh_cm_val_u32(out);
  CU_ASSERT_EQUAL(call(w1, "io/streams#[method]output-stream.check-write", args, 1, &r), WH_ETRAP);
  wh_wasi_p2_free(w1);
  /* freed with its context: the rep is dead, even for a new context */
  wh_wasi_p2_t *w3 = ctx_new(NULL);
  args[0] = borrow(out);
  CU_ASSERT_EQUAL(call(w3, "io/streams#[method]output-stream.check-write", args, 1, &r), WH_ETRAP);
  wh_wasi_p2_free(w2);
  wh_wasi_p2_free(w3);
}

/* ---- io: poll, clocks --------------------------------------------------------------------- */

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void test_clocks(void) {
  wh_wasi_p2_t *w = ctx_new(NULL);
  wh_cm_val r, r2;
  CU_ASSERT_EQUAL(call(w, "clocks/wall-clock#now", NULL, 0, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_RECORD && r.of.agg.n == 2);
  int64_t d = (int64_t)r.of.agg.v[0].of.u - (int64_t)time(NULL);
  CU_ASSERT(d >= -2 && d <= 2);
  CU_ASSERT(r.of.agg.v[1].of.u < 1000000000u);
  wh_cm_val_fini(&r);
  CU_ASSERT_EQUAL(call(w, "clocks/wall-clock#resolution", NULL, 0, &r), 0);
  CU_ASSERT(r.of.agg.v[0].of.u > 0 || r.of.agg.v[1].of.u > 0);
  wh_cm_val_fini(&r);
  CU_ASSERT_EQUAL(call(w, "clocks/monotonic-clock#now", NULL, 0, &r), 0);
  CU_ASSERT_EQUAL(call(w, "clocks/monotonic-clock#now", NULL, 0, &r2), 0);
  CU_ASSERT(r.kind == WH_CM_V_U64 && r2.of.u >= r.of.u);
  CU_ASSERT_EQUAL(call(w, "clocks/monotonic-clock#resolution", NULL, 0, &r), 0);
  CU_ASSERT(r.of.u > 0);
  wh_wasi_p2_free(w);
}

static void test_poll_timers(void) {
  wh_wasi_p2_t *w = ctx_new(NULL);
  wh_cm_val a = wh_cm_val_u64(30 * 1000000ull), r;
  CU_ASSERT_EQUAL(call(w, "clocks/monotonic-clock#subscribe-duration", &a, 1, &r), 0);
  uint32_t timer = rep_of(&r);
  uint32_t out = get_stream(w, "cli/stdout#get-stdout");
  a = borrow(out);
  CU_ASSERT_EQUAL(call(w, "io/streams#[method]output-stream.subscribe", &a, 1, &r), 0);
  uint32_t ready = rep_of(&r);
  CU_ASSERT(timer && ready);

  a = borrow(timer);
  CU_ASSERT_EQUAL(call(w, "io/poll#[method]pollable.ready", &a, 1, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_BOOL && !r.of.b);
  /* poll returns the ready one at once */
  wh_cm_val list;
  wh_cm_val_agg(&list, WH_CM_V_LIST, 2);
  list.of.agg.v[0] = borrow(timer);
  list.of.agg.v[1] = borrow(ready);
  uint64_t t0 = now_ms();
  CU_ASSERT_EQUAL(call(w, "io/poll#poll", &list, 1, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_LIST && r.of.agg.n == 1 && r.of.agg.v[0].of.u == 1);
  CU_ASSERT(now_ms() - t0 < 25);
  wh_cm_val_fini(&r);
  /* poll on the timer alone waits for it */
  list.of.agg.n = 1;
  CU_ASSERT_EQUAL(call(w, "io/poll#poll", &list, 1, &r), 0);
  CU_ASSERT(r.of.agg.n == 1 && r.of.agg.v[0].of.u == 0);
  CU_ASSERT(now_ms() - t0 >= 29);
  wh_cm_val_fini(&r);
  list.of.agg.n = 2;
  wh_cm_val_fini(&list);
  CU_ASSERT_EQUAL(call(w, "io/poll#[method]pollable.ready", &a, 1, &r), 0);
  CU_ASSERT(r.of.b);
  /* a timer that never rings traps at once, deadline or not */
  a = wh_cm_val_u64(UINT64_MAX);
  CU_ASSERT_EQUAL(call(w, "clocks/monotonic-clock#subscribe-instant", &a, 1, &r), 0);
  a = borrow(take_rep(&r));
  t0 = now_ms();
  CU_ASSERT_EQUAL(call(w, "io/poll#[method]pollable.block", &a, 1, NULL), WH_ETRAP);
  CU_ASSERT(strstr(trap, "never become ready") != NULL && now_ms() - t0 < 100);
  /* an empty poll traps rather than waiting for nothing */
  wh_cm_val_agg(&list, WH_CM_V_LIST, 0);
  CU_ASSERT_EQUAL(call(w, "io/poll#poll", &list, 1, &r), WH_ETRAP);
  wh_wasi_p2_free(w);
}

static void test_waits_end_at_the_deadline(void) {
  wh_wasi_p2_t *w = ctx_new(NULL);
  wh_cm_val a = wh_cm_val_u64(3600ull * 1000000000ull), r;   /* an hour */
  CU_ASSERT_EQUAL(call(w, "clocks/monotonic-clock#subscribe-duration", &a, 1, &r), 0);
  a = borrow(rep_of(&r));
  CU_ASSERT_FATAL(wh_epoch_start(1) == 0);
  wh_exec_set_deadline_ms(exec_, 60);
  uint64_t t0 = now_ms();
  CU_ASSERT_EQUAL(call(w, "io/poll#[method]pollable.block", &a, 1, NULL), WH_ETRAP);
  CU_ASSERT(strstr(trap, "deadline exceeded") != NULL);
  wh_cm_val list;
  wh_cm_val_agg(&list, WH_CM_V_LIST, 1);
  list.of.agg.v[0] = a;
  CU_ASSERT_EQUAL(call(w, "io/poll#poll", &list, 1, &r), WH_ETRAP);
  wh_cm_val_fini(&list);
  CU_ASSERT(now_ms() - t0 < 2000);
  wh_exec_set_deadline_ms(exec_, 0);
  wh_wasi_p2_free(w);
}

/* ---- random ------------------------------------------------------------------------------- */

static void test_random(void) {
  wh_wasi_p2_t *w = ctx_new(NULL);
  wh_cm_val n = wh_cm_val_u64(32), a, b;
  CU_ASSERT_EQUAL(call(w, "random/random#get-random-bytes", &n, 1, &a), 0);
  CU_ASSERT_EQUAL(call(w, "random/random#get-random-bytes", &n, 1, &b), 0);
  CU_ASSERT(a.kind == WH_CM_V_LIST && a.of.agg.n == 32 && b.of.agg.n == 32);
  CU_ASSERT_FALSE(wh_cm_val_eq(&a, &b));
  wh_cm_val_fini(&a);
  wh_cm_val_fini(&b);
  CU_ASSERT_EQUAL(call(w, "random/random#get-random-u64", NULL, 0, &a), 0);
  CU_ASSERT_EQUAL(call(w, "random/random#get-random-u64", NULL, 0, &b), 0);
  CU_ASSERT(a.kind == WH_CM_V_U64 && a.of.u != b.of.u);
  n = wh_cm_val_u64(13);
  CU_ASSERT_EQUAL(call(w, "random/insecure#get-insecure-random-bytes", &n, 1, &a), 0);
  CU_ASSERT(a.of.agg.n == 13);
  wh_cm_val_fini(&a);
  CU_ASSERT_EQUAL(call(w, "random/insecure#get-insecure-random-u64", NULL, 0, &a), 0);
  CU_ASSERT_EQUAL(call(w, "random/insecure#get-insecure-random-u64", NULL, 0, &b), 0);
  CU_ASSERT(a.of.u != b.of.u);
  CU_ASSERT_EQUAL(call(w, "random/insecure-seed#insecure-seed", NULL, 0, &a), 0);
  CU_ASSERT(a.kind == WH_CM_V_TUPLE && a.of.agg.n == 2);
  wh_cm_val_fini(&a);
  n = wh_cm_val_u64(1ull << 40);   /* bounded: a trap, not a terabyte */
  CU_ASSERT_EQUAL(call(w, "random/random#get-random-bytes", &n, 1, &a), WH_ETRAP);
  wh_wasi_p2_free(w);
}

/* ---- filesystem and the sandbox ------------------------------------------------------------ */

/* tmpdir/
 *   secret.txt            outside the preopen
 *   pre/a.txt             "alpha"
 *   pre/sub/b.txt         "beta"
 *   pre/up -> ../secret.txt, pre/abs -> /etc/hostname, pre/in -> sub/b.txt */
static void make_tree(void) {
  char p[512];
  snprintf(tmpdir, sizeof tmpdir, "/tmp/wh-wasi-p2-XXXXXX");
  if (!mkdtemp(tmpdir)) abort();
  snprintf(p, sizeof p, "%s/secret.txt", tmpdir);
  write_file(p, "secret");
  snprintf(p, sizeof p, "%s/pre", tmpdir);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/pre/sub", tmpdir);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/pre/a.txt", tmpdir);
  write_file(p, "alpha");
  snprintf(p, sizeof p, "%s/pre/sub/b.txt", tmpdir);
  write_file(p, "beta");
  snprintf(p, sizeof p, "%s/pre/up", tmpdir);
  if (symlink("../secret.txt", p) != 0) abort();
  snprintf(p, sizeof p, "%s/pre/abs", tmpdir);
  if (symlink("/etc/hostname", p) != 0) abort();
  snprintf(p, sizeof p, "%s/pre/in", tmpdir);
  if (symlink("sub/b.txt", p) != 0) abort();
}

static void rm_tree(void) {
  const char *names[] = {"pre/in", "pre/abs", "pre/up", "pre/sub/b.txt", "pre/a.txt",
                         "pre/sub", "pre", "secret.txt"};
  char p[512];
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
    if (unlink(p) != 0) rmdir(p);
  }
  rmdir(tmpdir);
}

static wh_wasi_p2_t *fs_ctx(bool portable) {
  char host[512];
  snprintf(host, sizeof host, "%s/pre", tmpdir);
  wh_wasi_p2_preopen_t pre = {host, "/data"};
  wh_wasi_p2_config_t cfg;
  wh_wasi_p2_config_init(&cfg);
  cfg.preopens = &pre;
  cfg.npreopens = 1;
  cfg.portable_resolve = portable;
  return ctx_new(&cfg);
}

static uint32_t preopen_rep(wh_wasi_p2_t *w) {
  wh_cm_val r;
  CU_ASSERT_EQUAL(call(w, "filesystem/preopens#get-directories", NULL, 0, &r), 0);
  CU_ASSERT_FATAL(r.kind == WH_CM_V_LIST && r.of.agg.n == 1);
  const wh_cm_val *t = &r.of.agg.v[0];
  CU_ASSERT(strcmp(t->of.agg.v[1].of.str.ptr, "/data") == 0);
  uint32_t rep = t->of.agg.v[0].of.handle.rep;
  wh_cm_val_fini(&r);
  return rep;
}

/* open-at(dir, path) read-only; returns the result (owned). */
static wh_cm_val open_at(wh_wasi_p2_t *w, uint32_t dir, const char *path, uint32_t pflags,
                         uint32_t oflags, uint32_t dflags) {
  wh_cm_val args[5] = {borrow(dir), flags(1, pflags), str(path), flags(4, oflags),
                       flags(6, dflags)}, r;
  memset(&r, 0, sizeof r);
  CU_ASSERT_EQUAL(call(w, "filesystem/types#[method]descriptor.open-at", args, 5, &r), 0);
  for (int i = 1; i < 5; i++) wh_cm_val_fini(&args[i]);
  return r;
}

static char *read_all(wh_wasi_p2_t *w, uint32_t file) {
  wh_cm_val args[3] = {borrow(file), wh_cm_val_u64(100), wh_cm_val_u64(0)}, r;
  static char buf[128];
  buf[0] = '\0';
  CU_ASSERT_EQUAL(call(w, "filesystem/types#[method]descriptor.read", args, 3, &r), 0);
  if (is_ok(&r)) {
    const wh_cm_val *l = &r.of.var.payload->of.agg.v[0];
    for (uint32_t i = 0; i < l->of.agg.n && i < sizeof buf - 1; i++) buf[i] = (char)l->of.agg.v[i].of.u;
    buf[l->of.agg.n < sizeof buf ? l->of.agg.n : 0] = '\0';
    CU_ASSERT(r.of.var.payload->of.agg.v[1].of.b);   /* end of file */
  }
  wh_cm_val_fini(&r);
  return buf;
}

static void fs_reads(bool portable) {
  wh_wasi_p2_t *w = fs_ctx(portable);
  CU_ASSERT_PTR_NOT_NULL_FATAL(w);
  uint32_t dir = preopen_rep(w);
  wh_cm_val r = open_at(w, dir, "a.txt", 1, 0, 1);
  CU_ASSERT_FATAL(is_ok(&r));
  uint32_t a = take_rep(&r);
  CU_ASSERT_STRING_EQUAL(read_all(w, a), "alpha");
  r = open_at(w, dir, "in", 1, 0, 1);   /* a symlink that stays inside */
  CU_ASSERT_FATAL(is_ok(&r));
  CU_ASSERT_STRING_EQUAL(read_all(w, take_rep(&r)), "beta");
  r = open_at(w, dir, "sub/../sub/./b.txt", 1, 0, 1);
  CU_ASSERT_FATAL(is_ok(&r));
  CU_ASSERT_STRING_EQUAL(read_all(w, take_rep(&r)), "beta");

  /* read-via-stream + input-stream.read */
  wh_cm_val args[3] = {borrow(a), wh_cm_val_u64(1)};
  CU_ASSERT_EQUAL(call(w, "filesystem/types#[method]descriptor.read-via-stream", args, 2, &r), 0);
  CU_ASSERT_FATAL(is_ok(&r));
  args[0] = borrow(take_rep(&r));
  args[1] = wh_cm_val_u64(100);
  CU_ASSERT_EQUAL(call(w, "io/streams#[method]input-stream.read", args, 2, &r), 0);
  CU_ASSERT(is_ok(&r) && bytes_eq(r.of.var.payload, "lpha"));
  wh_cm_val_fini(&r);
  CU_ASSERT_EQUAL(call(w, "io/streams#[method]input-stream.read", args, 2, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_RESULT && r.of.var.idx == 1);   /* closed at the end */
  wh_cm_val_fini(&r);

  /* stat, stat-at, get-type */
  args[0] = borrow(a);
  CU_ASSERT_EQUAL(call(w, "filesystem/types#[method]descriptor.stat", args, 1, &r), 0);
  CU_ASSERT(is_ok(&r) && r.of.var.payload->of.agg.v[0].of.var.idx == 6 &&
            r.of.var.payload->of.agg.v[2].of.u == 5);
  wh_cm_val_fini(&r);
  wh_cm_val sargs[3] = {borrow(dir), flags(1, 0), str("in")};
  CU_ASSERT_EQUAL(call(w, "filesystem/types#[method]descriptor.stat-at", sargs, 3, &r), 0);
  CU_ASSERT(is_ok(&r) && r.of.var.payload->of.agg.v[0].of.var.idx == 5);   /* symbolic-link */
  wh_cm_val_fini(&r);
  wh_cm_val_fini(&sargs[1]);
  sargs[1] = flags(1, 1);
  CU_ASSERT_EQUAL(call(w, "filesystem/types#[method]descriptor.stat-at", sargs, 3, &r), 0);
  CU_ASSERT(is_ok(&r) && r.of.var.payload->of.agg.v[0].of.var.idx == 6 &&
            r.of.var.payload->of.agg.v[2].of.u == 4);
  wh_cm_val_fini(&r);
  wh_cm_val_fini(&sargs[1]);
  wh_cm_val_fini(&sargs[2]);
  wh_cm_val rl[2] = {borrow(dir), str("in")};
  CU_ASSERT_EQUAL(call(w, "filesystem/types#[method]descriptor.readlink-at", rl, 2, &r), 0);
  CU_ASSERT(is_ok(&r) && strcmp(r.of.var.payload->of.str.ptr, "sub/b.txt") == 0);
  wh_cm_val_fini(&r);
  wh_cm_val_fini(&rl[1]);

  /* read-directory lists the preopen's entries, without . and .. */
  args[0] = borrow(dir);
  CU_ASSERT_EQUAL(call(w, "filesystem/types#[method]descriptor.read-directory", args, 1, &r), 0);
  CU_ASSERT_FATAL(is_ok(&r));
  args[0] = borrow(take_rep(&r));
  int seen = 0, n = 0;
  for (;;) {
    CU_ASSERT_EQUAL_FATAL(call(w, "filesystem/types#[method]directory-entry-stream.read-directory-entry",
                               args, 1, &r), 0);
    CU_ASSERT_FATAL(is_ok(&r));
    const wh_cm_val *o = r.of.var.payload;
    if (o->of.var.idx == 0) {
      wh_cm_val_fini(&r);
      break;
    }
    const char *name = o->of.var.payload->of.agg.v[1].of.str.ptr;
    uint32_t type = o->of.var.payload->of.agg.v[0].of.var.idx;
    n++;
    if (strcmp(name, "a.txt") == 0 && type == 6) seen |= 1;
    if (strcmp(name, "sub") == 0 && type == 3) seen |= 2;
    if (strcmp(name, "up") == 0 && type == 5) seen |= 4;
    wh_cm_val_fini(&r);
  }
  CU_ASSERT_EQUAL(n, 5);
  CU_ASSERT_EQUAL(seen, 7);
  wh_wasi_p2_free(w);
}

static void test_fs_reads(void) { fs_reads(false); }
static void test_fs_reads_portable(void) { fs_reads(true); }

/* The guest cannot see what it was not given: a file beside the preopen,
 * through `..`, an absolute path, or symlinks pointing out. */
static void sandbox(bool portable) {
  wh_wasi_p2_t *w = fs_ctx(portable);
  CU_ASSERT_PTR_NOT_NULL_FATAL(w);
  uint32_t dir = preopen_rep(w);
  const char *escapes[] = {"../secret.txt", "/etc/hostname", "up", "abs", "sub/../../secret.txt",
                           "sub/../up", "..", "/"};
  for (size_t i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
    wh_cm_val r = open_at(w, dir, escapes[i], 1, 0, 1);
    CU_ASSERT_FALSE(is_ok(&r));
    if (is_ok(&r)) fprintf(stderr, "escaped through %s\n", escapes[i]);
    CU_ASSERT(is_err_code(&r, FS_NOT_PERMITTED) || is_err_code(&r, FS_NO_ENTRY) ||
              is_err_code(&r, FS_LOOP));
    wh_cm_val_fini(&r);
    wh_cm_val sargs[3] = {borrow(dir), flags(1, 1), str(escapes[i])};
    CU_ASSERT_EQUAL(call(w, "filesystem/types#[method]descriptor.stat-at", sargs, 3, &r), 0);
    CU_ASSERT_FALSE(is_ok(&r));
    wh_cm_val_fini(&r);
    wh_cm_val_fini(&sargs[1]);
    wh_cm_val_fini(&sargs[2]);
  }
  /* nothing changes on the host: the preopen is read-only */
  wh_cm_val r = open_at(w, dir, "new.txt", 0, 1, 3);
  CU_ASSERT(is_err_code(&r, FS_READ_ONLY));
  wh_cm_val_fini(&r);
  r = open_at(w, dir, "a.txt", 0, 0, 2);   /* write */
  CU_ASSERT(is_err_code(&r, FS_READ_ONLY));
  wh_cm_val_fini(&r);
  wh_cm_val u[2] = {borrow(dir), str("a.txt")};
  CU_ASSERT_EQUAL(call(w, "filesystem/types#[method]descriptor.unlink-file-at", u, 2, &r), 0);
  CU_ASSERT(is_err_code(&r, FS_READ_ONLY));
  wh_cm_val_fini(&r);
  wh_cm_val_fini(&u[1]);
  char p[512];
  snprintf(p, sizeof p, "%s/pre/a.txt", tmpdir);
  CU_ASSERT(access(p, F_OK) == 0);
  r = open_at(w, dir, "a.txt", 0, 0, 1);
  wh_cm_val wv[2] = {borrow(take_rep(&r)), wh_cm_val_u64(0)};
  CU_ASSERT_EQUAL(call(w, "filesystem/types#[method]descriptor.write-via-stream", wv, 2, &r), 0);
  CU_ASSERT(is_err_code(&r, FS_BAD_DESCRIPTOR));
  wh_cm_val_fini(&r);
  wh_wasi_p2_free(w);

  /* no preopens by default: no directory at all */
  w = ctx_new(NULL);
  CU_ASSERT_EQUAL(call(w, "filesystem/preopens#get-directories", NULL, 0, &r), 0);
  CU_ASSERT(r.kind == WH_CM_V_LIST && r.of.agg.n == 0);
  wh_wasi_p2_free(w);
}

static void test_sandbox(void) { sandbox(false); }
static void test_sandbox_portable(void) { sandbox(true); }

/* ---- sockets ------------------------------------------------------------------------------ */

static void test_sockets_denied(void) {
  wh_wasi_p2_t *w = ctx_new(NULL);
  wh_cm_val r, a = wh_cm_val_enum(0);
  CU_ASSERT_EQUAL(call(w, "sockets/tcp-create-socket#create-tcp-socket", &a, 1, &r), 0);
  CU_ASSERT(is_err_code(&r, 1));   /* access-denied */
  wh_cm_val_fini(&r);
  CU_ASSERT_EQUAL(call(w, "sockets/udp-create-socket#create-udp-socket", &a, 1, &r), 0);
  CU_ASSERT(is_err_code(&r, 1));
  wh_cm_val_fini(&r);
  CU_ASSERT_EQUAL(call(w, "sockets/instance-network#instance-network", NULL, 0, &r), 0);
  wh_cm_val args[2] = {borrow(rep_of(&r)), str("localhost")};
  CU_ASSERT_EQUAL(call(w, "sockets/ip-name-lookup#resolve-addresses", args, 2, &r), 0);
  CU_ASSERT(is_err_code(&r, 1));
  wh_cm_val_fini(&r);
  wh_cm_val_fini(&args[1]);
  /* no socket can exist, so a socket method has no valid self */
  CU_ASSERT_EQUAL(call(w, "sockets/tcp#[method]tcp-socket.start-listen", args, 1, &r), WH_ETRAP);
  wh_wasi_p2_free(w);
}

/* ---- components (linker, instances, wasi:cli/run) ------------------------------------------ */

static const char *testdata(void) {
  const char *d = getenv("WHARF_TESTDATA");
  return d && *d ? d : WHARF_TESTDATA_DEFAULT;
}

static uint8_t *load(const char *rel, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/components/%s", testdata(), rel);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static void test_define(void) {
  wh_cm_linker_t *l = wh_cm_linker_new(engine);
  CU_ASSERT_EQUAL(wh_wasi_p2_define(l), 0);
  CU_ASSERT_EQUAL(wh_wasi_p2_define(l), WH_EEXISTS);
  wh_cm_linker_free(l);
}

/* hello_stdout imports WASI @0.2.3; the host defines @0.2.0.  Run it with
 * stdout/stderr captured. */
static void test_command_component(void) {
  size_t len;
  uint8_t *b = load("jco-commands/hello_stdout.component.wasm", &len);
  if (!b) {
    fprintf(stderr, "(testdata absent: skipped) ");
    return;
  }
  wh_diag_t d;
  wh_cm_component_t *c = wh_cm_component_new(engine, b, len, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  wh_cm_linker_t *l = wh_cm_linker_new(engine), *l2 = wh_cm_linker_new(engine);
  CU_ASSERT_EQUAL(wh_wasi_p2_define(l), 0);
  CU_ASSERT_EQUAL(wh_cm_linker_check(l, c, &d), 0);
  /* a major version is not compatible: 1.2.0 does not satisfy 0.2.3 */
  wh_cm_linker_define_func(l2, "wasi:cli/environment@1.2.0#get-environment",
                           (wh_cm_host_fn_t)(void (*)(void))abort, NULL);
  CU_ASSERT_EQUAL(wh_cm_linker_check(l2, c, &d), WH_EUNLINKABLE);
  CU_ASSERT(strstr(d.msg, "wasi:cli/environment@0.2.3#get-environment") != NULL);
  char name[128];
  CU_ASSERT_EQUAL(wh_wasi_p2_run_export(c, name, sizeof name), 0);
  CU_ASSERT_STRING_EQUAL(name, "wasi:cli/run@0.2.3#run");

  for (int round = 0; round < 2; round++) {   /* one linker, two invocations */
    wh_wasi_p2_t *w = ctx_new(NULL);
    wh_cm_instance_t *inst = NULL;
    wh_wasi_p2_attach(exec_, w);
    CU_ASSERT_EQUAL_FATAL(wh_cm_instantiate(l, c, exec_, NULL, &inst, &d), 0);
    int st = -1;
    CU_ASSERT_EQUAL(wh_wasi_p2_run(inst, c, exec_, &st), 0);
    CU_ASSERT_EQUAL(st, 0);
    wh_cm_instance_free(inst);
    size_t n;
    const uint8_t *p = wh_wasi_p2_stdout(w, &n, NULL);
    CU_ASSERT(n == 32 && memcmp(p, "writing to stdout: hello, world\n", 32) == 0);
    p = wh_wasi_p2_stderr(w, &n, NULL);
    CU_ASSERT(n == 32 && memcmp(p, "writing to stderr: hello, world\n", 32) == 0);
    CU_ASSERT(w->nobjs == 0);   /* the instance gave every resource back */
    wh_wasi_p2_attach(exec_, NULL);
    wh_wasi_p2_free(w);
  }
  /* without a context attached, the first WASI call traps */
  wh_cm_instance_t *inst = NULL;
  CU_ASSERT_EQUAL(wh_cm_instantiate(l, c, exec_, NULL, &inst, &d), 0);
  int st;
  CU_ASSERT_EQUAL(wh_wasi_p2_run(inst, c, exec_, &st), WH_ETRAP);
  CU_ASSERT(strstr(wh_cm_instance_trap(inst), "no WASI context") != NULL);
  wh_cm_instance_free(inst);
  wh_cm_linker_free(l);
  wh_cm_linker_free(l2);
  wh_cm_component_free(c);
  free(b);
}

/* Executor threads: each with its own linker, exec and contexts, all
 * sharing the process-wide object table. */
typedef struct runner {
  const wh_cm_component_t *c;
  int ok;
} runner_t;

static void *run_many(void *arg) {
  runner_t *r = arg;
  wh_cm_linker_t *l = wh_cm_linker_new(engine);
  wh_exec_t *x = wh_exec_new(engine);
  if (!l || !x || wh_wasi_p2_define(l) != 0) goto out;
  for (int i = 0; i < 25; i++) {
    wh_wasi_p2_t *w = ctx_new(NULL);
    wh_cm_instance_t *inst = NULL;
    wh_diag_t d;
    int st = -1;
    size_t n = 0;
    wh_wasi_p2_attach(x, w);
    if (wh_cm_instantiate(l, r->c, x, NULL, &inst, &d) == 0 &&
        wh_wasi_p2_run(inst, r->c, x, &st) == 0 && st == 0) {
      const uint8_t *p = wh_wasi_p2_stdout(w, &n, NULL);
      r->ok += n == 32 && memcmp(p, "writing to stdout: hello, world\n", 32) == 0;
    }
    wh_cm_instance_free(inst);
    wh_wasi_p2_attach(x, NULL);
    wh_wasi_p2_free(w);
  }
out:
  wh_exec_free(x);
  wh_cm_linker_free(l);
  return NULL;
}

static void test_threads(void) {
  size_t len;
  uint8_t *b = load("jco-commands/hello_stdout.component.wasm", &len);
  if (!b) {
    fprintf(stderr, "(testdata absent: skipped) ");
    return;
  }
  wh_diag_t d;
  wh_cm_component_t *c = wh_cm_component_new(engine, b, len, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  pthread_t th[4];
  runner_t rs[4];
  for (int i = 0; i < 4; i++) {
    rs[i].c = c;
    rs[i].ok = 0;
    CU_ASSERT_FATAL(pthread_create(&th[i], NULL, run_many, &rs[i]) == 0);
  }
  for (int i = 0; i < 4; i++) {
    pthread_join(th[i], NULL);
    CU_ASSERT_EQUAL(rs[i].ok, 25);
  }
  wh_cm_component_free(c);
  free(b);
}

/* wasi:cli/exit with an error ends the run with status 1 (dir.virt
 * without an argument prints its usage to stdout and exits). */
static void test_command_exit(void) {
  size_t len;
  uint8_t *b = load("jco-commands/dir.virt.wasm", &len);
  if (!b) {
    fprintf(stderr, "(testdata absent: skipped) ");
    return;
  }
  wh_diag_t d;
  wh_cm_component_t *c = wh_cm_component_new(engine, b, len, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  wh_cm_linker_t *l = wh_cm_linker_new(engine);
  CU_ASSERT_EQUAL(wh_wasi_p2_define(l), 0);
  wh_wasi_p2_t *w = ctx_new(NULL);
  wh_cm_instance_t *inst = NULL;
  wh_wasi_p2_attach(exec_, w);
  CU_ASSERT_EQUAL_FATAL(wh_cm_instantiate(l, c, exec_, NULL, &inst, &d), 0);
  wh_cm_func_t *run = NULL;
  CU_ASSERT_EQUAL(wh_cm_instance_func_handle(inst, "wasi:cli/run@0.2.0#run", &run), 0);
  wh_cm_val res;
  CU_ASSERT_EQUAL(wh_cm_call_func(inst, run, NULL, 0, &res, 1, exec_), WH_EEXIT);
  CU_ASSERT_EQUAL(wh_exec_exit_status(exec_), 1);
  int st;
  CU_ASSERT(wh_wasi_p2_exited(w, &st) && st == 1);
  size_t n;
  const uint8_t *p = wh_wasi_p2_stdout(w, &n, NULL);
  CU_ASSERT(n > 0 && memmem(p, n, "Usage:", 6) != NULL);
  wh_cm_instance_free(inst);
  wh_wasi_p2_attach(exec_, NULL);
  wh_wasi_p2_free(w);
  wh_cm_linker_free(l);
  wh_cm_component_free(c);
  free(b);
}

/* A component importing wasi:clocks/monotonic-clock at @0.2.0 and at
 * @0.2.3 (`jco parse` of this WAT):
 *
 *   (component
 *     (import "wasi:clocks/monotonic-clock@0.2.0" (instance $a (export "now" (func (result u64)))))
 *     (import "wasi:clocks/monotonic-clock@0.2.3" (instance $b (export "now" (func (result u64)))))
 *     (alias export $a "now" (func $fa))
 *     (alias export $b "now" (func $fb))
 *     (core func $la (canon lower (func $fa)))
 *     (core func $lb (canon lower (func $fb)))
 *     (core module $m
 *       (import "h" "a" (func $a (result i64)))
 *       (import "h" "b" (func $b (result i64)))
 *       (func (export "f") (result i64) (local i64)
 *         call $a  local.set 0  call $b  local.get 0  i64.sub))
 *     (core instance $h (export "a" (func $la)) (export "b" (func $lb)))
 *     (core instance $i (instantiate $m (with "h" (instance $h))))
 *     (func $f (result u64) (canon lift (core func $i "f")))
 *     (export "elapsed" (func $f)))
 */
static const uint8_t dual_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x07, 0x10, 0x01, 0x42,
  0x02, 0x01, 0x40, 0x00, 0x00, 0x77, 0x04, 0x00, 0x03, 0x6e, 0x6f, 0x77,
  0x01, 0x00, 0x0a, 0x26, 0x01, 0x00, 0x21, 0x77, 0x61, 0x73, 0x69, 0x3a,
  0x63, 0x6c, 0x6f, 0x63, 0x6b, 0x73, 0x2f, 0x6d, 0x6f, 0x6e, 0x6f, 0x74,
  0x6f, 0x6e, 0x69, 0x63, 0x2d, 0x63, 0x6c, 0x6f, 0x63, 0x6b, 0x40, 0x30,
  0x2e, 0x32, 0x2e, 0x30, 0x05, 0x00, 0x07, 0x10, 0x01, 0x42, 0x02, 0x01,
  0x40, 0x00, 0x00, 0x77, 0x04, 0x00, 0x03, 0x6e, 0x6f, 0x77, 0x01, 0x00,
  0x0a, 0x26, 0x01, 0x00, 0x21, 0x77, 0x61, 0x73, 0x69, 0x3a, 0x63, 0x6c,
  0x6f, 0x63, 0x6b, 0x73, 0x2f, 0x6d, 0x6f, 0x6e, 0x6f, 0x74, 0x6f, 0x6e,
  0x69, 0x63, 0x2d, 0x63, 0x6c, 0x6f, 0x63, 0x6b, 0x40, 0x30, 0x2e, 0x32,
  0x2e, 0x33, 0x05, 0x01, 0x06, 0x0f, 0x02, 0x01, 0x00, 0x00, 0x03, 0x6e,
  0x6f, 0x77, 0x01, 0x00, 0x01, 0x03, 0x6e, 0x6f, 0x77, 0x08, 0x09, 0x02,
  0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01, 0x4e, 0x00, 0x61,
  0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01,
  0x7e, 0x02, 0x0d, 0x02, 0x01, 0x68, 0x01, 0x61, 0x00, 0x00, 0x01, 0x68,
  0x01, 0x62, 0x00, 0x00, 0x03, 0x02, 0x01, 0x00, 0x07, 0x05, 0x01, 0x01,
  0x66, 0x00, 0x02, 0x0a, 0x0f, 0x01, 0x0d, 0x01, 0x01, 0x7e, 0x10, 0x00,
  0x21, 0x00, 0x10, 0x01, 0x20, 0x00, 0x7d, 0x0b, 0x00, 0x12, 0x04, 0x6e,
  0x61, 0x6d, 0x65, 0x00, 0x02, 0x01, 0x6d, 0x01, 0x07, 0x02, 0x00, 0x01,
  0x61, 0x01, 0x01, 0x62, 0x02, 0x12, 0x02, 0x01, 0x02, 0x01, 0x61, 0x00,
  0x00, 0x01, 0x62, 0x00, 0x01, 0x00, 0x00, 0x01, 0x01, 0x68, 0x12, 0x00,
  0x07, 0x05, 0x01, 0x40, 0x00, 0x00, 0x77, 0x06, 0x07, 0x01, 0x00, 0x00,
  0x01, 0x01, 0x01, 0x66, 0x08, 0x06, 0x01, 0x00, 0x00, 0x02, 0x00, 0x02,
  0x0b, 0x0d, 0x01, 0x00, 0x07, 0x65, 0x6c, 0x61, 0x70, 0x73, 0x65, 0x64,
  0x01, 0x02, 0x00, 0x00, 0x48, 0x0e, 0x63, 0x6f, 0x6d, 0x70, 0x6f, 0x6e,
  0x65, 0x6e, 0x74, 0x2d, 0x6e, 0x61, 0x6d, 0x65, 0x01, 0x0b, 0x00, 0x00,
  0x02, 0x00, 0x02, 0x6c, 0x61, 0x01, 0x02, 0x6c, 0x62, 0x01, 0x06, 0x00,
  0x11, 0x01, 0x00, 0x01, 0x6d, 0x01, 0x09, 0x00, 0x12, 0x02, 0x00, 0x01,
  0x68, 0x01, 0x01, 0x69, 0x01, 0x0d, 0x01, 0x03, 0x00, 0x02, 0x66, 0x61,
  0x01, 0x02, 0x66, 0x62, 0x02, 0x01, 0x66, 0x01, 0x08, 0x05, 0x02, 0x00,
  0x01, 0x61, 0x01, 0x01, 0x62
};

/* Both versions link to the one host function; with the second import
 * patched to @0.3.3 (another minor of a 0.x: not compatible) it does not
 * link. */
static void test_two_versions(void) {
  wh_diag_t d;
  wh_cm_component_t *c = wh_cm_component_new(engine, dual_wasm, sizeof dual_wasm, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  wh_cm_linker_t *l = wh_cm_linker_new(engine);
  CU_ASSERT_EQUAL(wh_wasi_p2_define(l), 0);
  CU_ASSERT_EQUAL(wh_cm_linker_check(l, c, &d), 0);
  wh_wasi_p2_t *w = ctx_new(NULL);
  wh_cm_instance_t *inst = NULL;
  wh_wasi_p2_attach(exec_, w);
  CU_ASSERT_EQUAL_FATAL(wh_cm_instantiate(l, c, exec_, NULL, &inst, &d), 0);
  wh_cm_val r;
  CU_ASSERT_EQUAL(wh_cm_call(inst, "elapsed", NULL, 0, &r, 1, exec_), 0);
  CU_ASSERT(r.kind == WH_CM_V_U64 && r.of.u < 1000000000ull);   /* b - a: both real clocks */
  wh_cm_instance_free(inst);
  wh_cm_component_free(c);
  wh_wasi_p2_attach(exec_, NULL);
  wh_wasi_p2_free(w);

  uint8_t patched[sizeof dual_wasm];
  memcpy(patched, dual_wasm, sizeof patched);
  uint8_t *v = memmem(patched, sizeof patched, "@0.2.3", 6);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  v[3] = '3';
  c = wh_cm_component_new(engine, patched, sizeof patched, &d);
  CU_ASSERT_PTR_NOT_NULL_FATAL(c);
  CU_ASSERT_EQUAL(wh_cm_linker_check(l, c, &d), WH_EUNLINKABLE);
  CU_ASSERT(strstr(d.msg, "wasi:clocks/monotonic-clock@0.3.3#now") != NULL);
  wh_cm_component_free(c);
  wh_cm_linker_free(l);
}

/* A component that sleeps through WASI resources: a pollable from
 * monotonic-clock@0.2.3 subscribe-duration, blocked on through
 * poll@0.2.0 (one resource type across two versions), then dropped
 * (`jco parse` of this WAT):
 *
 *   (component
 *     (import "wasi:io/poll@0.2.0" (instance $poll
 *       (export "pollable" (type $p (sub resource)))
 *       (export "[method]pollable.block" (func (param "self" (borrow $p))))))
 *     (alias export $poll "pollable" (type $pollable))
 *     (import "wasi:clocks/monotonic-clock@0.2.3" (instance $clk
 *       (alias outer 1 $pollable (type $p0))
 *       (export "pollable" (type $p1 (eq $p0)))
 *       (export "subscribe-duration" (func (param "when" u64) (result (own $p1))))))
 *     (alias export $poll "[method]pollable.block" (func $block))
 *     (alias export $clk "subscribe-duration" (func $sub))
 *     (core func $lblock (canon lower (func $block)))
 *     (core func $lsub (canon lower (func $sub)))
 *     (core func $drop (canon resource.drop $pollable))
 *     (core module $m
 *       (import "h" "block" (func $block (param i32)))
 *       (import "h" "sub" (func $sub (param i64) (result i32)))
 *       (import "h" "drop" (func $drop (param i32)))
 *       (func (export "sleep") (param i64) (local i32)
 *         local.get 0
 *         call $sub
 *         local.set 1
 *         local.get 1
 *         call $block
 *         local.get 1
 *         call $drop))
 *     (core instance $h (export "block" (func $lblock)) (export "sub" (func $lsub))
 *                       (export "drop" (func $drop)))
 *     (core instance $i (instantiate $m (with "h" (instance $h))))
 *     (func $f (param "ns" u64) (canon lift (core func $i "sleep")))
 *     (export "sleep" (func $f)))
 */
static const uint8_t sleep_wasm[] = {
  0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x07, 0x39, 0x01, 0x42,
  0x04, 0x04, 0x00, 0x08, 0x70, 0x6f, 0x6c, 0x6c, 0x61, 0x62, 0x6c, 0x65,
  0x03, 0x01, 0x01, 0x68, 0x00, 0x01, 0x40, 0x01, 0x04, 0x73, 0x65, 0x6c,
  0x66, 0x01, 0x01, 0x00, 0x04, 0x00, 0x16, 0x5b, 0x6d, 0x65, 0x74, 0x68,
  0x6f, 0x64, 0x5d, 0x70, 0x6f, 0x6c, 0x6c, 0x61, 0x62, 0x6c, 0x65, 0x2e,
  0x62, 0x6c, 0x6f, 0x63, 0x6b, 0x01, 0x02, 0x0a, 0x17, 0x01, 0x00, 0x12,
  0x77, 0x61, 0x73, 0x69, 0x3a, 0x69, 0x6f, 0x2f, 0x70, 0x6f, 0x6c, 0x6c,
  0x40, 0x30, 0x2e, 0x32, 0x2e, 0x30, 0x05, 0x00, 0x06, 0x0d, 0x01, 0x03,
  0x00, 0x00, 0x08, 0x70, 0x6f, 0x6c, 0x6c, 0x61, 0x62, 0x6c, 0x65, 0x07,
  0x3b, 0x01, 0x42, 0x05, 0x02, 0x03, 0x02, 0x01, 0x01, 0x04, 0x00, 0x08,
  0x70, 0x6f, 0x6c, 0x6c, 0x61, 0x62, 0x6c, 0x65, 0x03, 0x00, 0x00, 0x01,
  0x69, 0x01, 0x01, 0x40, 0x01, 0x04, 0x77, 0x68, 0x65, 0x6e, 0x77, 0x00,
  0x02, 0x04, 0x00, 0x12, 0x73, 0x75, 0x62, 0x73, 0x63, 0x72, 0x69, 0x62,
  0x65, 0x2d, 0x64, 0x75, 0x72, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x01, 0x03,
  0x0a, 0x26, 0x01, 0x00, 0x21, 0x77, 0x61, 0x73, 0x69, 0x3a, 0x63, 0x6c,
  0x6f, 0x63, 0x6b, 0x73, 0x2f, 0x6d, 0x6f, 0x6e, 0x6f, 0x74, 0x6f, 0x6e,
  0x69, 0x63, 0x2d, 0x63, 0x6c, 0x6f, 0x63, 0x6b, 0x40, 0x30, 0x2e, 0x32,
  0x2e, 0x33, 0x05, 0x02, 0x06, 0x31, 0x02, 0x01, 0x00, 0x00, 0x16, 0x5b,
  0x6d, 0x65, 0x74, 0x68, 0x6f, 0x64, 0x5d, 0x70, 0x6f, 0x6c, 0x6c, 0x61,
  0x62, 0x6c, 0x65, 0x2e, 0x62, 0x6c, 0x6f, 0x63, 0x6b, 0x01, 0x00, 0x01,
  0x12, 0x73, 0x75, 0x62, 0x73, 0x63, 0x72, 0x69, 0x62, 0x65, 0x2d, 0x64,
  0x75, 0x72, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x08, 0x0b, 0x03, 0x01, 0x00,
  0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x03, 0x01, 0x01, 0x7b, 0x00, 0x61,
  0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x0e, 0x03, 0x60, 0x01, 0x7f,
  0x00, 0x60, 0x01, 0x7e, 0x01, 0x7f, 0x60, 0x01, 0x7e, 0x00, 0x02, 0x1c,
  0x03, 0x01, 0x68, 0x05, 0x62, 0x6c, 0x6f, 0x63, 0x6b, 0x00, 0x00, 0x01,
  0x68, 0x03, 0x73, 0x75, 0x62, 0x00, 0x01, 0x01, 0x68, 0x04, 0x64, 0x72,
  0x6f, 0x70, 0x00, 0x00, 0x03, 0x02, 0x01, 0x02, 0x07, 0x09, 0x01, 0x05,
  0x73, 0x6c, 0x65, 0x65, 0x70, 0x00, 0x03, 0x0a, 0x14, 0x01, 0x12, 0x01,
  0x01, 0x7f, 0x20, 0x00, 0x10, 0x01, 0x21, 0x01, 0x20, 0x01, 0x10, 0x00,
  0x20, 0x01, 0x10, 0x02, 0x0b, 0x00, 0x1e, 0x04, 0x6e, 0x61, 0x6d, 0x65,
  0x00, 0x02, 0x01, 0x6d, 0x01, 0x13, 0x03, 0x00, 0x05, 0x62, 0x6c, 0x6f,
  0x63, 0x6b, 0x01, 0x03, 0x73, 0x75, 0x62, 0x02, 0x04, 0x64, 0x72, 0x6f,
  0x70, 0x02, 0x1f, 0x02, 0x01, 0x03, 0x05, 0x62, 0x6c, 0x6f, 0x63, 0x6b,
  0x00, 0x00, 0x03, 0x73, 0x75, 0x62, 0x00, 0x01, 0x04, 0x64, 0x72, 0x6f,
  0x70, 0x00, 0x02, 0x00, 0x00, 0x01, 0x01, 0x68, 0x12, 0x00, 0x07, 0x09,
  0x01, 0x40, 0x01, 0x02, 0x6e, 0x73, 0x77, 0x01, 0x00, 0x06, 0x0b, 0x01,
  0x00, 0x00, 0x01, 0x01, 0x05, 0x73, 0x6c, 0x65, 0x65, 0x70, 0x08, 0x06,
  0x01, 0x00, 0x00, 0x03, 0x00, 0x03, 0x0b, 0x0b, 0x01, 0x00, 0x05, 0x73,
  0x6c, 0x65, 0x65, 0x70, 0x01, 0x02, 0x00, 0x00, 0x6b, 0x0e, 0x63, 0x6f,
  0x6d, 0x70, 0x6f, 0x6e, 0x65, 0x6e, 0x74, 0x2d, 0x6e, 0x61, 0x6d, 0x65,
  0x01, 0x17, 0x00, 0x00, 0x03, 0x00, 0x06, 0x6c, 0x62, 0x6c, 0x6f, 0x63,
  0x6b, 0x01, 0x04, 0x6c, 0x73, 0x75, 0x62, 0x02, 0x04, 0x64, 0x72, 0x6f,
  0x70, 0x01, 0x06, 0x00, 0x11, 0x01, 0x00, 0x01, 0x6d, 0x01, 0x09, 0x00,
  0x12, 0x02, 0x00, 0x01, 0x68, 0x01, 0x01, 0x69, 0x01, 0x11, 0x01, 0x03,
  0x00, 0x05, 0x62, 0x6c, 0x6f, 0x63, 0x6b, 0x01, 0x03, 0x73, 0x75, 0x62,
  0x02, 0x01, 0x66, 0x01, 0x0c, 0x03, 0x01, 0x01, 0x08, 0x70, 0x6f, 0x6c,
  0x6c, 0x61, 0x62, 0x6c, 0x65, 0x01, 0x0d, 0x05, 0x02, 0x00, 0x04, 0x70,
  0x6f, 0x6c, 0x6c, 0x01, 0x03, 0x63, 0x6c, 0x6b
};

static wh_cm_instance_t *sleeper(wh_cm_linker_t *l, wh_cm_component_t **c) {
  wh_diag_t d;
  wh_cm_instance_t *inst = NULL;
  *c = wh_cm_component_new(engine, sleep_wasm, sizeof sleep_wasm, &d);
  if (*c && wh_cm_instantiate(l, *c, exec_, NULL, &inst, &d) != 0) fprintf(stderr, "%s\n", d.msg);
  return inst;
}

static void test_resources_through_a_guest(void) {
  wh_cm_linker_t *l = wh_cm_linker_new(engine);
  CU_ASSERT_EQUAL(wh_wasi_p2_define(l), 0);
  wh_wasi_p2_t *w = ctx_new(NULL);
  wh_wasi_p2_attach(exec_, w);
  wh_cm_component_t *c;
  wh_cm_instance_t *inst = sleeper(l, &c);
  CU_ASSERT_PTR_NOT_NULL_FATAL(inst);
  wh_cm_val ns = wh_cm_val_u64(20 * 1000000ull);
  uint64_t t0 = now_ms();
  CU_ASSERT_EQUAL(wh_cm_call(inst, "sleep", &ns, 1, NULL, 0, exec_), 0);
  CU_ASSERT(now_ms() - t0 >= 19);
  CU_ASSERT_EQUAL(w->nobjs, 0);   /* the guest dropped its pollable: freed */

  /* an hour's sleep ends at the deadline, as a deadline trap */
  CU_ASSERT_FATAL(wh_epoch_start(1) == 0);
  wh_exec_set_deadline_ms(exec_, 50);
  ns = wh_cm_val_u64(3600ull * 1000000000ull);
  t0 = now_ms();
  CU_ASSERT_EQUAL(wh_cm_call(inst, "sleep", &ns, 1, NULL, 0, exec_), WH_ETRAP);
  CU_ASSERT(now_ms() - t0 < 2000);
  CU_ASSERT_EQUAL(wh_exec_trap(exec_, NULL, NULL), WH_TRAP_DEADLINE);
  CU_ASSERT(strstr(wh_cm_instance_trap(inst), "deadline exceeded") != NULL);
  wh_exec_set_deadline_ms(exec_, 0);
  CU_ASSERT_EQUAL(w->nobjs, 1);   /* the trap left the pollable in the guest's table */
  wh_cm_instance_free(inst);
  CU_ASSERT_EQUAL(w->nobjs, 0);   /* ... and freeing the instance gave it back */
  wh_cm_component_free(c);
  wh_wasi_p2_attach(exec_, NULL);
  wh_wasi_p2_free(w);
  wh_cm_linker_free(l);
}

/* Every jco-runtime component links against WASI with no import left
 * to trap, and instantiates. */
static void test_jco_runtime_instantiate(void) {
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/components/jco-runtime", testdata());
  FILE *ls;
  char cmd[1200];
  snprintf(cmd, sizeof cmd, "ls %s/*.wasm 2>/dev/null", dir);
  ls = popen(cmd, "r");
  if (!ls) return;
  wh_cm_linker_t *l = wh_cm_linker_new(engine);
  CU_ASSERT_EQUAL(wh_wasi_p2_define(l), 0);
  char path[1200];
  int n = 0, ok = 0;
  while (fgets(path, sizeof path, ls)) {
    path[strcspn(path, "\n")] = '\0';
    const char *rel = strstr(path, "jco-runtime/");
    size_t len;
    uint8_t *b = rel ? load(rel, &len) : NULL;
    if (!b) continue;
    wh_diag_t d;
    wh_cm_component_t *c = wh_cm_component_new(engine, b, len, &d);
    n++;
    if (c) {
      bool wasi = false;
      for (uint32_t i = 0; i < wh_cm_import_count(c); i++) {
        const char *name;
        wh_cm_kind_t k;
        wh_cm_type_ref_t t;
        wh_cm_import(c, i, &name, &k, &t);
        wasi |= strncmp(name, "wasi:", 5) == 0;
      }
      /* components importing non-WASI interfaces need their own host */
      bool only_wasi = true;
      for (uint32_t i = 0; i < wh_cm_import_count(c); i++) {
        const char *name;
        wh_cm_kind_t k;
        wh_cm_type_ref_t t;
        wh_cm_import(c, i, &name, &k, &t);
        if (strncmp(name, "wasi:", 5) != 0) only_wasi = false;
      }
      if (wasi && only_wasi) {
        wh_wasi_p2_t *w = ctx_new(NULL);
        wh_cm_instance_t *inst = NULL;
        wh_wasi_p2_attach(exec_, w);
        int rc = wh_cm_instantiate(l, c, exec_, NULL, &inst, &d);
        if (rc) fprintf(stderr, "\n  %s: %s", rel, d.msg);
        CU_ASSERT_EQUAL(rc, 0);
        ok += rc == 0;
        wh_cm_instance_free(inst);
        wh_wasi_p2_attach(exec_, NULL);
        wh_wasi_p2_free(w);
      } else if (wasi) {
        /* check only the WASI imports: the others are reported missing */
        int rc = wh_cm_linker_check(l, c, &d);
        CU_ASSERT(rc == 0 || strstr(d.msg, "wasi:") == NULL);
      }
      wh_cm_component_free(c);
    }
    free(b);
  }
  pclose(ls);
  wh_cm_linker_free(l);
  if (n == 0) fprintf(stderr, "(testdata absent: skipped) ");
  else fprintf(stderr, "(%d components, %d instantiated with WASI only) ", n, ok);
}

/* ---- runner ----------------------------------------------------------------------------------- */

int main(void) {
  engine = wh_engine_new(NULL);
  exec_ = engine ? wh_exec_new(engine) : NULL;
  if (!exec_) return 1;
  if (CU_initialize_registry() != CUE_SUCCESS) return 1;
  CU_pSuite s = CU_add_suite("wasi:cli", NULL, NULL);
  CU_add_test(s, "environment and arguments are the config's, never the host's",
              test_environment_is_the_config);
  CU_add_test(s, "exit ends the call with its status", test_exit_status);
  CU_add_test(s, "there is no terminal", test_no_terminal);
  s = CU_add_suite("wasi:io", NULL, NULL);
  CU_add_test(s, "stdout and stderr are captured apart", test_stdout_stderr_capture);
  CU_add_test(s, "capture stops at its bound with a marker", test_capture_truncates);
  CU_add_test(s, "stdin is empty", test_stdin_is_empty);
  CU_add_test(s, "handles of other kinds or invocations trap", test_handles_are_checked);
  CU_add_test(s, "poll returns ready pollables and waits for timers", test_poll_timers);
  CU_add_test(s, "waits end at the exec's deadline", test_waits_end_at_the_deadline);
  s = CU_add_suite("wasi:clocks", NULL, NULL);
  CU_add_test(s, "wall and monotonic clocks", test_clocks);
  s = CU_add_suite("wasi:random", NULL, NULL);
  CU_add_test(s, "random, insecure and the seed", test_random);
  s = CU_add_suite("wasi:filesystem", NULL, NULL);
  CU_add_test(s, "a read-only preopen reads, stats and lists", test_fs_reads);
  CU_add_test(s, "the same, resolving component by component", test_fs_reads_portable);
  CU_add_test(s, "a guest sees nothing it was not given", test_sandbox);
  CU_add_test(s, "the same, resolving component by component", test_sandbox_portable);
  s = CU_add_suite("wasi:sockets", NULL, NULL);
  CU_add_test(s, "sockets are linked and denied", test_sockets_denied);
  s = CU_add_suite("components", NULL, NULL);
  CU_add_test(s, "wh_wasi_p2_define defines once", test_define);
  CU_add_test(s, "a command component at @0.2.3 runs on @0.2.0 definitions",
              test_command_component);
  CU_add_test(s, "four threads, one linker each, share the object table", test_threads);
  CU_add_test(s, "wasi:cli/exit ends the invocation with its status", test_command_exit);
  CU_add_test(s, "one component importing @0.2.0 and @0.2.3 links both; @0.3 does not",
              test_two_versions);
  CU_add_test(s, "guest resources: made, blocked on, dropped, freed with the instance",
              test_resources_through_a_guest);
  CU_add_test(s, "jco-runtime components instantiate with real WASI",
              test_jco_runtime_instantiate);
  make_tree();
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  CU_cleanup_registry();
  rm_tree();
  wh_exec_free(exec_);
  wh_engine_free(engine);
  return failed ? 1 : 0;
}
