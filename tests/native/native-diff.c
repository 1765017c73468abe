/*
 * native-diff.c - differential test of the two tiers: the same programs
 * with the same inputs on an interpreter engine and a native engine must
 * give the same results (bit for bit; NaNs by class, see val_bits), the
 * same traps (kind, message and backtrace),
 * the same exits and output, and consume the same fuel.
 *
 *   native-diff [--control] [--spec DIR] [--run FILE.wasm[,DIR[,ARG...]]]...
 *
 * --spec DIR   every DIR/<name>/<name>.json (wast2json output), simd_*
 *              included (both engines have SIMD on): each module command
 *              instantiates on both tiers (start functions compared), each
 *              invoke or get (of any assertion, whatever it expects) runs
 *              on both; v128 results compare bit for bit, but for the
 *              NaN lanes of one the script expects as f32x4 or f64x2,
 *              which compare by class (as scalar NaNs, val_bits).  Every module
 *              the native engine loads must report WH_TIER_NATIVE.
 * --run ...    a WASI command: _start on both tiers with ARGs, DIR (if
 *              given and not empty) preopened as "." and made the working
 *              directory, stdout captured; exit status, stdout and fuel
 *              compared.  bench.start/bench.end are no-ops (sightglass).
 *
 * --control   (first) both sides run the interpreter: shows what a program
 *             does differently from run to run by itself (a Rust HashMap
 *             seeded by random_get iterates differently and so burns
 *             different fuel), i.e. what must not be run as a tier test.
 *
 * Prints one line per disagreement and a summary; exits 0 when the tiers
 * agree on everything, 1 otherwise, 77 in a build without LLVM.
 */
#include <dirent.h>
#include <fcntl.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wasi_p1.h"
#include "wh_engine.h"

#define FUEL (1ull << 40)

static wh_engine_t *engines[2];     /* interp, native */
static long compared, disagreed, native_modules;
static bool check_tier;             /* not --control: engines[1] is native */

#define DISAGREE(...)                                                              \
  do {                                                                             \
    disagreed++;                                                                   \
    printf(__VA_ARGS__);                                                           \
    putchar('\n');                                                                 \
  } while (0)

static uint8_t *slurp(const char *path, size_t *len) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  if (b && fread(b, 1, (size_t)n, fp) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(fp);
  *len = (size_t)n;
  return b;
}

/* ---- spec files -------------------------------------------------------------- */

typedef struct named {
  char *name;
  wh_instance_t *inst;
} named_t;

typedef struct side {
  wh_engine_t *e;
  wh_linker_t *l;
  wh_exec_t *x;
  wh_memory_t *mem;
  wh_table_t *tab;
  wh_global_t *g[4];
  wh_module_t **mods;
  wh_instance_t **insts;
  size_t nmods, ninsts;
  named_t *names;
  size_t nnames;
  wh_instance_t *cur;
} side_t;

static int print_fn(wh_caller_t *c, void *env, uint64_t *s) { return 0; }

static void side_init(side_t *s, wh_engine_t *e) {
  memset(s, 0, sizeof *s);
  s->e = e;
  s->l = wh_linker_new(e);
  s->x = wh_exec_new(e);
  static const struct { const char *name, *params; } fns[] = {
      {"print", ""}, {"print_i32", "i"}, {"print_i64", "I"}, {"print_f32", "f"},
      {"print_f64", "F"}, {"print_i32_f32", "if"}, {"print_f64_f64", "FF"}};
  for (size_t i = 0; i < sizeof fns / sizeof *fns; i++)
    wh_linker_define_func(s->l, "spectest", fns[i].name, fns[i].params, "", print_fn, NULL);
  wh_val_t gv[4] = {{.type = WH_I32, .of.i32 = 666}, {.type = WH_I64, .of.i64 = 666},
                    {.type = WH_F32, .of.f32 = 666.6f}, {.type = WH_F64, .of.f64 = 666.6}};
  static const char *gn[4] = {"global_i32", "global_i64", "global_f32", "global_f64"};
  for (int i = 0; i < 4; i++) {
    s->g[i] = wh_global_new(gv[i], false);
    wh_linker_define_global(s->l, "spectest", gn[i], s->g[i]);
  }
  s->mem = wh_memory_new(1, 2);
  s->tab = wh_table_new(WH_FUNCREF, 10, 20);
  wh_linker_define_memory(s->l, "spectest", "memory", s->mem);
  wh_linker_define_table(s->l, "spectest", "table", s->tab);
}

static void side_fini(side_t *s) {
  for (size_t i = s->ninsts; i-- > 0;) wh_instance_free(s->insts[i]);
  wh_linker_free(s->l);   /* frees instances it kept after traps */
  for (size_t i = 0; i < s->nmods; i++) wh_module_free(s->mods[i]);
  for (size_t i = 0; i < s->nnames; i++) free(s->names[i].name);
  free(s->mods);
  free(s->insts);
  free(s->names);
  wh_exec_free(s->x);
  wh_memory_free(s->mem);
  wh_table_free(s->tab);
  for (int i = 0; i < 4; i++) wh_global_free(s->g[i]);
}

static wh_instance_t *lookup(side_t *s, const char *name) {
  if (!name) return s->cur;
  for (size_t i = s->nnames; i-- > 0;)
    if (strcmp(s->names[i].name, name) == 0) return s->names[i].inst;
  return NULL;
}

static void name_inst(side_t *s, const char *name, wh_instance_t *inst) {
  s->names = realloc(s->names, (s->nnames + 1) * sizeof *s->names);
  s->names[s->nnames].name = strdup(name);
  s->names[s->nnames++].inst = inst;
}

/* What one side did with a command. */
typedef struct result {
  int rc;
  wh_trap_code_t trap;
  char msg[160];
  char bt[4096];          /* the trap's backtrace */
  uint64_t vals[32];      /* a v128 takes two */
  size_t nvals;
  uint64_t fuel;
} result_t;

static void record_trap(side_t *s, result_t *r) {
  if (r->rc == WH_ETRAP) {
    const char *msg, *bt;
    r->trap = wh_exec_trap(s->x, &msg, &bt);
    snprintf(r->msg, sizeof r->msg, "%s", msg ? msg : "");
    snprintf(r->bt, sizeof r->bt, "%s", bt ? bt : "");
  }
}

static bool results_equal(const result_t *a, const result_t *b) {
  if (a->rc != b->rc || a->trap != b->trap || strcmp(a->msg, b->msg) != 0 ||
      strcmp(a->bt, b->bt) != 0 ||
      a->fuel != b->fuel || a->nvals != b->nvals)
    return false;
  return memcmp(a->vals, b->vals, a->nvals * sizeof *a->vals) == 0;
}

static void load_module(side_t *s, const uint8_t *bytes, size_t len, const char *name,
                        result_t *r) {
  memset(r, 0, sizeof *r);
  wh_diag_t d;
  wh_module_t *m = wh_module_new(s->e, bytes, len, &d);
  if (!m) {
    r->rc = d.code;
    s->cur = NULL;
    return;
  }
  s->mods = realloc(s->mods, (s->nmods + 1) * sizeof *s->mods);
  s->mods[s->nmods++] = m;
  const char *why = NULL;
  if (check_tier && s->e == engines[1]) {
    if (wh_module_tier(m, &why) != WH_TIER_NATIVE)
      DISAGREE("a module runs in the interpreter on the native engine: %s", why ? why : "?");
    else
      native_modules++;
  }
  wh_instance_t *inst;
  wh_exec_set_fuel(s->x, FUEL);
  r->rc = wh_linker_instantiate(s->l, m, s->x, &inst, &d);
  r->fuel = wh_exec_fuel_consumed(s->x);
  record_trap(s, r);
  if (r->rc) {
    s->cur = NULL;
    return;
  }
  s->insts = realloc(s->insts, (s->ninsts + 1) * sizeof *s->insts);
  s->insts[s->ninsts++] = inst;
  s->cur = inst;
  if (name) name_inst(s, name, inst);
}

static bool parse_val(json_t *v, wh_val_t *out) {
  const char *t = json_string_value(json_object_get(v, "type"));
  const char *val = json_string_value(json_object_get(v, "value"));
  memset(out, 0, sizeof *out);
  if (t && strcmp(t, "v128") == 0) val = "";
  if (!t || !val) return false;
  uint64_t bits = strcmp(val, "null") == 0 ? 0 : strtoull(val, NULL, 10);
  if (strcmp(t, "i32") == 0) { out->type = WH_I32; out->of.i32 = (int32_t)(uint32_t)bits; }
  else if (strcmp(t, "i64") == 0) { out->type = WH_I64; out->of.i64 = (int64_t)bits; }
  else if (strcmp(t, "f32") == 0) { out->type = WH_F32; uint32_t b = (uint32_t)bits; memcpy(&out->of.f32, &b, 4); }
  else if (strcmp(t, "f64") == 0) { out->type = WH_F64; memcpy(&out->of.f64, &bits, 8); }
  else if (strcmp(t, "externref") == 0) {
    out->type = WH_EXTERNREF;
    out->of.ref = strcmp(val, "null") == 0 ? NULL : (void *)(uintptr_t)(bits + 0x1000);
  } else if (strcmp(t, "v128") == 0) {
    /* lanes of lane_type, each a decimal bit pattern */
    json_t *lanes = json_object_get(v, "value");
    const char *lt = json_string_value(json_object_get(v, "lane_type"));
    size_t n = json_array_size(lanes);
    if (!lt || !n || 16 % n) return false;
    size_t w = 16 / n;
    uint8_t b[16];
    for (size_t i = 0; i < n; i++) {
      const char *lv = json_string_value(json_array_get(lanes, i));
      if (!lv) return false;
      uint64_t x = strtoull(lv, NULL, 10);
      memcpy(b + i * w, &x, w);   /* little-endian lanes */
    }
    out->type = WH_V128;
    memcpy(out->of.v128, b, 16);
    (void)lt;
  } else if (strcmp(t, "funcref") == 0) {
    out->type = WH_FUNCREF;   /* only null can be written in a script */
  } else return false;
  return true;
}

/* A value's bits for comparison.  NaNs compare by class only (quiet or
 * signalling): when both operands of an operator are NaNs, which payload
 * and sign come out depends on operand order, which neither gcc (the
 * interpreter's build) nor LLVM promises to keep; the spec allows any. */
static uint64_t val_bits(const wh_val_t *v) {
  switch (v->type) {
  case WH_I32: return (uint32_t)v->of.i32;
  case WH_F32: {
    uint32_t b;
    memcpy(&b, &v->of.f32, 4);
    if ((b & 0x7f800000u) == 0x7f800000u && (b & 0x007fffffu))
      return (b & 0x00400000u) ? 0x7fc00000u : 0x7f800001u;
    return b;
  }
  case WH_F64: {
    uint64_t b = v->of.bits;
    if ((b & 0x7ff0000000000000ull) == 0x7ff0000000000000ull && (b & 0x000fffffffffffffull))
      return (b & 0x0008000000000000ull) ? 0x7ff8000000000000ull : 0x7ff0000000000001ull;
    return b;
  }
  case WH_FUNCREF: return v->of.ref != NULL;   /* pointers differ per side */
  case WH_EXTERNREF: return (uint64_t)(uintptr_t)v->of.ref;
  default: return v->of.bits;
  }
}

/* v's float lanes (f32 or f64, else nothing) with each NaN by class only,
 * as val_bits does for scalars: a lane op on two NaNs gives one of them,
 * and which one the interpreter gives is gcc's choice of operand order
 * (the -O2 and the sanitizer builds differ on f32x4.mul, f64x2.add,
 * min and max). */
static void v128_nan_class(uint64_t *lo, uint64_t *hi, const char *lane_type) {
  uint8_t b[16];
  memcpy(b, lo, 8);
  memcpy(b + 8, hi, 8);
  for (int i = 0; lane_type && strcmp(lane_type, "f32") == 0 && i < 4; i++) {
    wh_val_t v = {.type = WH_F32};
    memcpy(&v.of.f32, b + 4 * i, 4);
    uint32_t c = (uint32_t)val_bits(&v);
    memcpy(b + 4 * i, &c, 4);
  }
  for (int i = 0; lane_type && strcmp(lane_type, "f64") == 0 && i < 2; i++) {
    wh_val_t v = {.type = WH_F64};
    memcpy(&v.of.bits, b + 8 * i, 8);
    uint64_t c = val_bits(&v);
    memcpy(b + 8 * i, &c, 8);
  }
  memcpy(lo, b, 8);
  memcpy(hi, b + 8, 8);
}

/* Runs an action on one side (expected: the script's expected results,
 * or NULL); false when it cannot be run at all. */
static bool run_action(side_t *s, json_t *act, json_t *expected, result_t *r) {
  memset(r, 0, sizeof *r);
  const char *type = json_string_value(json_object_get(act, "type"));
  json_t *field = json_object_get(act, "field");
  wh_instance_t *inst = lookup(s, json_string_value(json_object_get(act, "module")));
  if (!type || !field || !inst) return false;
  const char *fname = json_string_value(field);
  size_t flen = json_string_length(field);
  if (strcmp(type, "get") == 0) {
    wh_global_t *g = wh_instance_global(inst, fname);
    if (!g) return false;
    wh_val_t v = wh_global_get(g);
    r->vals[0] = val_bits(&v);
    r->nvals = 1;
    if (v.type == WH_V128) r->vals[r->nvals++] = v.of.v128[1];
    return true;
  }
  wh_func_t *f = wh_instance_func_n(inst, fname, flen);
  if (!f) return false;
  json_t *args = json_object_get(act, "args");
  size_t nargs = json_array_size(args);
  wh_val_t av[64], rv[16];
  if (nargs > 64) return false;
  for (size_t i = 0; i < nargs; i++)
    if (!parse_val(json_array_get(args, i), &av[i])) return false;
  const char *params, *results;
  wh_func_type(f, &params, &results);
  size_t nres = strlen(results);
  if (nres > 16) return false;
  wh_exec_set_fuel(s->x, FUEL);
  r->rc = wh_call(s->x, f, av, nargs, rv, nres);
  r->fuel = wh_exec_fuel_consumed(s->x);
  record_trap(s, r);
  if (r->rc == 0) {
    for (size_t i = 0; i < nres; i++) {
      r->vals[r->nvals++] = val_bits(&rv[i]);
      if (rv[i].type != WH_V128) continue;
      r->vals[r->nvals++] = rv[i].of.v128[1];
      json_t *lt = json_object_get(json_array_get(expected, i), "lane_type");
      v128_nan_class(&r->vals[r->nvals - 2], &r->vals[r->nvals - 1], json_string_value(lt));
    }
  }
  return true;
}

static void run_spec_file(const char *json_path) {
  json_error_t err;
  json_t *root = json_load_file(json_path, JSON_ALLOW_NUL, &err);
  if (!root) {
    DISAGREE("%s: cannot parse: %s", json_path, err.text);
    return;
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", json_path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  side_t sides[2];
  for (int k = 0; k < 2; k++) side_init(&sides[k], engines[k]);
  json_t *cmds = json_object_get(root, "commands");
  for (size_t c = 0; c < json_array_size(cmds); c++) {
    json_t *cmd = json_array_get(cmds, c);
    const char *type = json_string_value(json_object_get(cmd, "type"));
    long line = (long)json_integer_value(json_object_get(cmd, "line"));
    if (!type) continue;
    result_t r[2];
    if (strcmp(type, "module") == 0 || strcmp(type, "assert_uninstantiable") == 0 ||
        strcmp(type, "assert_unlinkable") == 0) {
      const char *file = json_string_value(json_object_get(cmd, "filename"));
      if (!file) continue;
      char path[8192];
      snprintf(path, sizeof path, "%s/%s", dir, file);
      size_t len;
      uint8_t *bytes = slurp(path, &len);
      if (!bytes) continue;
      const char *name = json_string_value(json_object_get(cmd, "name"));
      for (int k = 0; k < 2; k++) load_module(&sides[k], bytes, len, name, &r[k]);
      free(bytes);
      compared++;
      if (!results_equal(&r[0], &r[1]))
        DISAGREE("%s:%ld: %s %s: interp rc %d trap '%s' fuel %llu, native rc %d trap '%s' fuel %llu",
                 json_path, line, type, file, r[0].rc, r[0].msg, (unsigned long long)r[0].fuel,
                 r[1].rc, r[1].msg, (unsigned long long)r[1].fuel);
    } else if (strcmp(type, "register") == 0) {
      const char *as = json_string_value(json_object_get(cmd, "as"));
      const char *name = json_string_value(json_object_get(cmd, "name"));
      for (int k = 0; k < 2; k++) {
        wh_instance_t *inst = lookup(&sides[k], name);
        if (inst && as) wh_linker_define_instance(sides[k].l, as, inst);
      }
    } else {
      json_t *act = json_object_get(cmd, "action");
      if (!act) continue;
      json_t *exp = json_object_get(cmd, "expected");
      bool ok0 = run_action(&sides[0], act, exp, &r[0]);
      bool ok1 = run_action(&sides[1], act, exp, &r[1]);
      if (!ok0 && !ok1) continue;
      compared++;
      if (ok0 != ok1 || !results_equal(&r[0], &r[1])) {
        const char *field = json_string_value(json_object_get(act, "field"));
        DISAGREE("%s:%ld: %s %s: interp rc %d trap '%s' v0 %#llx fuel %llu; "
                 "native rc %d trap '%s' v0 %#llx fuel %llu",
                 json_path, line, type, field ? field : "?", r[0].rc, r[0].msg,
                 (unsigned long long)r[0].vals[0], (unsigned long long)r[0].fuel, r[1].rc,
                 r[1].msg, (unsigned long long)r[1].vals[0], (unsigned long long)r[1].fuel);
      }
    }
  }
  for (int k = 0; k < 2; k++) side_fini(&sides[k]);
  json_decref(root);
}

static void run_spec_dir(const char *dir) {
  char pattern[4200];
  snprintf(pattern, sizeof pattern, "%s/*/*.json", dir);
  glob_t g;
  if (glob(pattern, 0, NULL, &g) != 0) {
    DISAGREE("%s: no spec files", dir);
    return;
  }
  for (size_t i = 0; i < g.gl_pathc; i++) {
    const char *base = strrchr(g.gl_pathv[i], '/');
    base = base ? base + 1 : g.gl_pathv[i];
    run_spec_file(g.gl_pathv[i]);
  }
  globfree(&g);
}

/* ---- WASI commands ----------------------------------------------------------------- */

static int bench_nop(wh_caller_t *c, void *env, uint64_t *s) { return 0; }

typedef struct run_result {
  int rc, exit_status;
  wh_trap_code_t trap;
  uint64_t fuel;
  char *out;
  size_t out_len;
} run_result_t;

static bool run_command(wh_engine_t *e, const uint8_t *bytes, size_t len, const char *dir,
                        const char *const *argv, size_t argc, run_result_t *r) {
  memset(r, 0, sizeof *r);
  char tmpl[] = "/tmp/native-diff-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return false;
  unlink(tmpl);
  wh_wasi_config_t wc;
  wh_wasi_config_init(&wc);
  wc.argv = argv;
  wc.argc = argc;
  wc.stdout_fd = fd;
  wh_wasi_preopen_t pre = {.host_path = dir, .guest_path = "."};
  if (dir && *dir) {
    wc.preopens = &pre;
    wc.npreopens = 1;
  }
  wh_diag_t d;
  wh_wasi_t *w = wh_wasi_new(&wc, &d);
  wh_module_t *m = wh_module_new(e, bytes, len, &d);
  wh_linker_t *l = wh_linker_new(e);
  wh_exec_t *x = wh_exec_new(e);
  wh_instance_t *inst = NULL;
  bool ok = w && m && l && x;
  if (ok) {
    wh_wasi_define(w, l);
    wh_linker_define_func(l, "bench", "start", "", "", bench_nop, NULL);
    wh_linker_define_func(l, "bench", "end", "", "", bench_nop, NULL);
    wh_exec_set_fuel(x, FUEL);
    r->rc = wh_linker_instantiate(l, m, x, &inst, &d);
    if (r->rc == 0) {
      wh_func_t *start = wh_instance_func(inst, "_start");
      r->rc = start ? wh_call(x, start, NULL, 0, NULL, 0) : WH_ENOTFOUND;
    }
    r->fuel = wh_exec_fuel_consumed(x);
    r->trap = r->rc == WH_ETRAP ? wh_exec_trap(x, NULL, NULL) : WH_TRAP_NONE;
    r->exit_status = wh_exec_exit_status(x);
    off_t n = lseek(fd, 0, SEEK_END);
    r->out = malloc(n > 0 ? (size_t)n : 1);
    r->out_len = n > 0 && r->out && pread(fd, r->out, (size_t)n, 0) == n ? (size_t)n : 0;
  } else {
    fprintf(stderr, "native-diff: cannot load: %s\n", d.msg);
  }
  wh_instance_free(inst);
  wh_exec_free(x);
  wh_linker_free(l);
  wh_module_free(m);
  wh_wasi_free(w);
  close(fd);
  return ok;
}

static void run_wasi(const char *spec) {
  char *copy = strdup(spec);
  const char *argv[64];
  size_t argc = 0;
  char *rest = copy;
  char *file = strsep(&rest, ",");     /* empty fields count: "f.wasm,,30" */
  char *dir = rest ? strsep(&rest, ",") : NULL;
  argv[argc++] = file;
  while (argc < 64 && rest) argv[argc++] = strsep(&rest, ",");
  size_t len;
  uint8_t *bytes = slurp(file, &len);
  if (!bytes) {
    DISAGREE("%s: cannot read", file);
    free(copy);
    return;
  }
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) cwd[0] = '\0';
  if (dir && *dir && chdir(dir) != 0) DISAGREE("%s: no directory %s", file, dir);
  run_result_t r[2];
  bool ok[2];
  for (int k = 0; k < 2; k++) ok[k] = run_command(engines[k], bytes, len, dir, argv, argc, &r[k]);
  if (cwd[0] && chdir(cwd) != 0) perror("chdir");
  compared++;
  if (!ok[0] || !ok[1]) DISAGREE("%s: does not load on both tiers", file);
  else if (r[0].rc != r[1].rc || r[0].exit_status != r[1].exit_status ||
           r[0].trap != r[1].trap || r[0].fuel != r[1].fuel || r[0].out_len != r[1].out_len ||
           memcmp(r[0].out, r[1].out, r[0].out_len) != 0)
    DISAGREE("%s: interp rc %d exit %d trap %d fuel %llu out %zu bytes; native rc %d exit %d "
             "trap %d fuel %llu out %zu bytes", file, r[0].rc, r[0].exit_status, r[0].trap,
             (unsigned long long)r[0].fuel, r[0].out_len, r[1].rc, r[1].exit_status, r[1].trap,
             (unsigned long long)r[1].fuel, r[1].out_len);
  else
    printf("%s: agree (rc %d, exit %d, fuel %llu, %zu bytes of output)\n", file, r[0].rc,
           r[0].exit_status, (unsigned long long)r[0].fuel, r[0].out_len);
  for (int k = 0; k < 2; k++) free(r[k].out);
  free(bytes);
  free(copy);
}

int main(int argc, char **argv) {
  if (!wh_tier_available(WH_TIER_NATIVE)) {
    printf("native-diff: this build has no native tier; skipping\n");
    return 77;
  }
  bool control = argc > 1 && strcmp(argv[1], "--control") == 0;
  check_tier = !control;
  for (int k = 0; k < 2; k++) {
    wh_engine_config_t cfg;
    wh_engine_config_default(&cfg);
    cfg.tier = k && !control ? WH_TIER_NATIVE : WH_TIER_INTERP;
    cfg.simd = true;
    engines[k] = wh_engine_new(&cfg);
  }
  int status = 0;
  for (int i = 1 + control; i < argc; i++) {
    if (strcmp(argv[i], "--spec") == 0 && i + 1 < argc) {
      struct stat st;
      if (stat(argv[i + 1], &st) != 0) {
        printf("native-diff: %s not found; skipping\n", argv[i + 1]);
        status = 77;
        i++;
        continue;
      }
      run_spec_dir(argv[++i]);
    } else if (strcmp(argv[i], "--run") == 0 && i + 1 < argc) {
      run_wasi(argv[++i]);
    } else {
      fprintf(stderr, "usage: native-diff [--control] [--spec DIR] [--run FILE.wasm[,DIR[,ARG...]]]...\n");
      return 2;
    }
  }
  printf("native-diff: %ld compared, %ld disagreed; %ld modules ran native code\n", compared,
         disagreed, native_modules);
  for (int k = 0; k < 2; k++) wh_engine_free(engines[k]);
  if (disagreed) return 1;
  return compared ? 0 : status ? status : 1;
}
