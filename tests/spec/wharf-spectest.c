/*
 * wharf-spectest.c - runs the WebAssembly core spec tests against libwharf.
 *
 * Input is wabt's wast2json output: one <name>.json per .wast file holding
 * an ordered list of commands, with every module beside it as
 * <name>.N.wasm.  A run is laid out like this:
 *
 *   run   one wh_engine + one wh_exec for every file; pass/fail/skip tallies
 *    file one wh_linker holding the "spectest" host module and every
 *         `register`ed instance; the instances the file made (named or
 *         not), kept alive until the file ends and then freed in reverse
 *     cmd module | register | action | assert_{return,trap,exhaustion,
 *         invalid,malformed,unlinkable,uninstantiable}
 *
 * Values travel as JSON strings of decimal integers: i32/i64 as unsigned,
 * f32/f64 as their bit patterns, externref N as the host pointer N+1 (so
 * that null stays NULL).  Expected floats may be "nan:canonical" or
 * "nan:arithmetic"; a v128 is its lanes ("lane_type", one string per
 * lane), float lanes possibly NaN patterns.  Text-format modules (.wat, only in assert_malformed)
 * are skipped: wharf reads binaries only.  So are actions on an export
 * whose name holds a NUL byte, which the C-string API cannot name.  The
 * few 2.0 assertions that Wasm 3.0's multi-memory reverses are checked
 * the 3.0 way (see reversed_by_3_0).
 *
 * Every module, register, action and assert_* command counts as one pass
 * or fail; a failure prints "FILE:LINE: <command> <field>: <why>".  The
 * last line is "N passed, M failed, K skipped"; the exit status is 0 when
 * nothing failed, 1 otherwise, and 77 (ctest's skip) when no test data is
 * found.
 */
#include <errno.h>
#include <glob.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "wh_engine.h"

#ifndef WHARF_TESTDATA_DEFAULT
#define WHARF_TESTDATA_DEFAULT ""
#endif

#define EXIT_SKIP 77

typedef struct run {
  wh_engine_t *engine;
  wh_exec_t *exec;
  bool verbose;
  unsigned timeout_ms;    /* per call and instantiation; 0 = none */
  bool have_deadline;     /* wh_epoch_start succeeded */
  long passed, failed, skipped;
} run_t;

/* One module command's outcome.  `inst` is NULL when it failed to load;
 * the entry is still kept so that commands naming it report why. */
typedef struct inst_entry {
  char *name;             /* "$M" or NULL; owned */
  wh_module_t *mod;       /* owned; outlives `inst` */
  wh_instance_t *inst;    /* owned */
} inst_entry_t;

typedef struct file {
  run_t *run;
  const char *path;       /* the .json, borrowed */
  char *dir;              /* its directory, owned */
  const char *src;        /* source .wast name for messages, borrowed */
  long passed, failed, skipped;

  wh_linker_t *linker;
  wh_memory_t *sp_memory; /* spectest externs; the linker borrows them */
  wh_table_t *sp_table;
  wh_global_t *sp_globals[4];

  inst_entry_t *insts;
  size_t ninsts, capinsts;
  long current;           /* index into insts of the last module, or -1 */
} file_t;

/* What an assert_return expects of one result. */
typedef enum expect_kind {
  EXPECT_VALUE,           /* exactly `val` (bit-exact for floats) */
  EXPECT_NAN_CANONICAL,
  EXPECT_NAN_ARITHMETIC,
  EXPECT_NONNULL,         /* a ref that is not null */
} expect_kind_t;

typedef struct expect {
  expect_kind_t kind;
  wh_val_t val;           /* val.type is always set */
  /* v128 (kind EXPECT_VALUE): the lanes' width in bytes, and per lane
   * 0 (bits in val.of.v128) or an EXPECT_NAN_* kind (float lanes) */
  uint8_t lane_bytes;
  uint8_t lane_nan[16];
} expect_t;

/* ---- reporting ---------------------------------------------------------- */

static int cmd_line(json_t *cmd) {
  return (int)json_integer_value(json_object_get(cmd, "line"));
}

static const char *cmd_str(json_t *cmd, const char *key) {
  return json_string_value(json_object_get(cmd, key));
}

static void pass(file_t *f) { f->passed++; }

static void skip(file_t *f) { f->skipped++; }

static void fail(file_t *f, json_t *cmd, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints an export or file name with control bytes escaped (names.wast
 * has them all); UTF-8 passes through. */
static void print_name(const char *s) {
  if (!s) s = "-";
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c < 0x20 || c == 0x7f) printf("\\x%02x", c);
    else putchar(c);
  }
}

/* Counts a failure and prints "FILE:LINE: <type> <field>: <why>" (or
 * "FILE: <why>" for a failure that belongs to no command). */
static void fail(file_t *f, json_t *cmd, const char *field, const char *fmt, ...) {
  va_list ap;
  const char *type = cmd ? cmd_str(cmd, "type") : NULL;

  f->failed++;
  if (cmd) {
    printf("%s:%d: %s ", f->src, cmd_line(cmd), type ? type : "?");
    print_name(field);
    fputs(": ", stdout);
  } else {
    printf("%s: ", f->src);
  }
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static void note(file_t *f, json_t *cmd, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* With -v, prints a remark about a command that passed anyway. */
static void note(file_t *f, json_t *cmd, const char *field, const char *fmt, ...) {
  va_list ap;

  if (!f->run->verbose) return;
  printf("%s:%d: note: %s ", f->src, cmd_line(cmd), cmd_str(cmd, "type"));
  print_name(field);
  fputs(": ", stdout);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
}

static const char *type_name(wh_valtype_t t) {
  switch (t) {
  case WH_I32: return "i32";
  case WH_I64: return "i64";
  case WH_F32: return "f32";
  case WH_F64: return "f64";
  case WH_V128: return "v128";
  case WH_FUNCREF: return "funcref";
  case WH_EXTERNREF: return "externref";
  }
  return "?";
}

static uint32_t f32_bits(const wh_val_t *v) {
  uint32_t b;
  memcpy(&b, &v->of.f32, sizeof b);
  return b;
}

static uint64_t f64_bits(const wh_val_t *v) {
  uint64_t b;
  memcpy(&b, &v->of.f64, sizeof b);
  return b;
}

/* Formats `v` as "type value (bits)" into `buf`. */
static const char *val_str(char *buf, size_t n, const wh_val_t *v) {
  switch (v->type) {
  case WH_I32:
    snprintf(buf, n, "i32 %" PRId32 " (0x%08" PRIx32 ")", v->of.i32,
             (uint32_t)v->of.i32);
    break;
  case WH_I64:
    snprintf(buf, n, "i64 %" PRId64 " (0x%016" PRIx64 ")", v->of.i64,
             (uint64_t)v->of.i64);
    break;
  case WH_F32:
    snprintf(buf, n, "f32 %.9g (0x%08" PRIx32 ")", (double)v->of.f32,
             f32_bits(v));
    break;
  case WH_F64:
    snprintf(buf, n, "f64 %.17g (0x%016" PRIx64 ")", v->of.f64, f64_bits(v));
    break;
  case WH_FUNCREF:
    if (v->of.ref) snprintf(buf, n, "funcref %p", v->of.ref);
    else snprintf(buf, n, "funcref null");
    break;
  case WH_EXTERNREF:
    if (v->of.ref)
      snprintf(buf, n, "externref %" PRIuPTR, (uintptr_t)v->of.ref - 1);
    else snprintf(buf, n, "externref null");
    break;
  case WH_V128:
    snprintf(buf, n, "v128 0x%016" PRIx64 "%016" PRIx64, v->of.v128[1],
             v->of.v128[0]);
    break;
  default:
    snprintf(buf, n, "%s (type 0x%02x) bits 0x%016" PRIx64, type_name(v->type),
             (unsigned)v->type, v->of.bits);
    break;
  }
  return buf;
}

static const char *expect_str(char *buf, size_t n, const expect_t *e) {
  switch (e->kind) {
  case EXPECT_NAN_CANONICAL:
    snprintf(buf, n, "%s nan:canonical", type_name(e->val.type));
    return buf;
  case EXPECT_NAN_ARITHMETIC:
    snprintf(buf, n, "%s nan:arithmetic", type_name(e->val.type));
    return buf;
  case EXPECT_NONNULL:
    snprintf(buf, n, "%s non-null", type_name(e->val.type));
    return buf;
  case EXPECT_VALUE:
    break;
  }
  return val_str(buf, n, &e->val);
}

/* ---- values ------------------------------------------------------------- */

/* The linker's type character for `t` (see wh_linker_define_func). */
static char type_char(wh_valtype_t t) {
  switch (t) {
  case WH_I32: return 'i';
  case WH_I64: return 'I';
  case WH_F32: return 'f';
  case WH_F64: return 'F';
  case WH_FUNCREF: return 'r';
  case WH_EXTERNREF: return 'e';
  case WH_V128: return 'v';
  }
  return '?';
}

static bool parse_u64(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  unsigned long long v;

  if (!s || !*s || *s == '-') return false;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || v > max) return false;
  *out = v;
  return true;
}

static bool parse_type(const char *s, wh_valtype_t *t) {
  static const struct { const char *name; wh_valtype_t t; } types[] = {
    {"i32", WH_I32}, {"i64", WH_I64}, {"f32", WH_F32}, {"f64", WH_F64},
    {"v128", WH_V128}, {"funcref", WH_FUNCREF}, {"externref", WH_EXTERNREF},
  };
  for (size_t i = 0; s && i < sizeof types / sizeof types[0]; i++) {
    if (strcmp(s, types[i].name) == 0) {
      *t = types[i].t;
      return true;
    }
  }
  return false;
}

/* A v128: {"type": "v128", "lane_type": "i8".."f64", "value": [lanes]}. */
static bool parse_v128(json_t *j, expect_t *e, char *why, size_t whylen) {
  static const struct { const char *name; uint8_t bytes; bool fp; } shapes[] = {
    {"i8", 1, false}, {"i16", 2, false}, {"i32", 4, false},
    {"i64", 8, false}, {"f32", 4, true}, {"f64", 8, true},
  };
  const char *lt = json_string_value(json_object_get(j, "lane_type"));
  json_t *lanes = json_object_get(j, "value");
  uint8_t bytes = 0;
  bool fp = false;
  uint8_t raw[16];

  for (size_t i = 0; lt && i < sizeof shapes / sizeof shapes[0]; i++)
    if (strcmp(lt, shapes[i].name) == 0) {
      bytes = shapes[i].bytes;
      fp = shapes[i].fp;
    }
  if (!bytes || !json_is_array(lanes) || json_array_size(lanes) != 16u / bytes) {
    snprintf(why, whylen, "bad v128 value (lane type \"%s\")", lt ? lt : "(none)");
    return false;
  }
  e->lane_bytes = bytes;
  for (size_t i = 0; i < 16u / bytes; i++) {
    const char *vs = json_string_value(json_array_get(lanes, i));
    uint64_t max = bytes == 8 ? UINT64_MAX : (1ull << (8 * bytes)) - 1, u = 0;
    if (fp && vs && strcmp(vs, "nan:canonical") == 0) {
      e->lane_nan[i] = EXPECT_NAN_CANONICAL;
    } else if (fp && vs && strcmp(vs, "nan:arithmetic") == 0) {
      e->lane_nan[i] = EXPECT_NAN_ARITHMETIC;
    } else if (!parse_u64(vs, max, &u)) {
      snprintf(why, whylen, "bad v128 lane \"%s\"", vs ? vs : "(not a string)");
      return false;
    }
    memcpy(raw + i * bytes, &u, bytes);   /* little-endian host */
  }
  memcpy(e->val.of.v128, raw, 16);
  return true;
}

/* Does the v128 `got` meet `e`, lane by lane? */
static bool v128_matches(const expect_t *e, const wh_val_t *got) {
  uint8_t have[16], want[16];
  memcpy(have, got->of.v128, 16);
  memcpy(want, e->val.of.v128, 16);
  for (unsigned i = 0; i < 16u / e->lane_bytes; i++) {
    const uint8_t *h = have + i * e->lane_bytes;
    if (!e->lane_nan[i]) {
      if (memcmp(h, want + i * e->lane_bytes, e->lane_bytes)) return false;
    } else if (e->lane_bytes == 4) {
      uint32_t b;
      memcpy(&b, h, 4);
      uint32_t mask = e->lane_nan[i] == EXPECT_NAN_CANONICAL ? 0x7fffffffu : 0x7fc00000u;
      if ((b & mask) != 0x7fc00000u) return false;
    } else {
      uint64_t b;
      memcpy(&b, h, 8);
      uint64_t mask = e->lane_nan[i] == EXPECT_NAN_CANONICAL ? 0x7fffffffffffffffull
                                                             : 0x7ff8000000000000ull;
      if ((b & mask) != 0x7ff8000000000000ull) return false;
    }
  }
  return true;
}

/* Parses one JSON value ({"type": .., "value": ..}) into `e`.  Arguments
 * must be EXPECT_VALUE; results may be any kind.  Returns false and a
 * reason in `why` for what this runner cannot represent. */
static bool parse_value(json_t *j, expect_t *e, char *why, size_t whylen) {
  const char *ts = json_string_value(json_object_get(j, "type"));
  json_t *jv = json_object_get(j, "value");
  const char *vs = json_string_value(jv);
  uint64_t u;

  memset(e, 0, sizeof *e);
  e->kind = EXPECT_VALUE;
  if (!parse_type(ts, &e->val.type)) {
    snprintf(why, whylen, "unknown value type \"%s\"", ts ? ts : "(none)");
    return false;
  }
  switch (e->val.type) {
  case WH_V128:
    return parse_v128(j, e, why, whylen);
  case WH_FUNCREF:
  case WH_EXTERNREF:
    if (!jv) {                       /* e.g. (ref.func) without an index */
      e->kind = EXPECT_NONNULL;
      return true;
    }
    if (vs && strcmp(vs, "null") == 0) {
      e->val.of.ref = NULL;
      return true;
    }
    if (e->val.type == WH_EXTERNREF && parse_u64(vs, UINTPTR_MAX - 1, &u)) {
      e->val.of.ref = (void *)(uintptr_t)(u + 1);
      return true;
    }
    if (e->val.type == WH_FUNCREF) {  /* a function: only checked non-null */
      e->kind = EXPECT_NONNULL;
      return true;
    }
    break;
  case WH_F32:
  case WH_F64:
    if (vs && strcmp(vs, "nan:canonical") == 0) {
      e->kind = EXPECT_NAN_CANONICAL;
      return true;
    }
    if (vs && strcmp(vs, "nan:arithmetic") == 0) {
      e->kind = EXPECT_NAN_ARITHMETIC;
      return true;
    }
    if (e->val.type == WH_F32 && parse_u64(vs, UINT32_MAX, &u)) {
      uint32_t b = (uint32_t)u;
      memcpy(&e->val.of.f32, &b, sizeof b);
      return true;
    }
    if (e->val.type == WH_F64 && parse_u64(vs, UINT64_MAX, &u)) {
      memcpy(&e->val.of.f64, &u, sizeof u);
      return true;
    }
    break;
  case WH_I32:
    if (parse_u64(vs, UINT32_MAX, &u)) {
      e->val.of.i32 = (int32_t)(uint32_t)u;
      return true;
    }
    break;
  case WH_I64:
    if (parse_u64(vs, UINT64_MAX, &u)) {
      e->val.of.i64 = (int64_t)u;
      return true;
    }
    break;
  }
  snprintf(why, whylen, "bad %s value \"%s\"", ts, vs ? vs : "(not a string)");
  return false;
}

/* Does `got` (of the declared type `e->val.type`) meet `e`? */
static bool value_matches(const expect_t *e, const wh_val_t *got) {
  switch (e->kind) {
  case EXPECT_NAN_CANONICAL:
    if (e->val.type == WH_F32)
      return (f32_bits(got) & 0x7fffffffu) == 0x7fc00000u;
    return (f64_bits(got) & 0x7fffffffffffffffull) == 0x7ff8000000000000ull;
  case EXPECT_NAN_ARITHMETIC:
    if (e->val.type == WH_F32)
      return (f32_bits(got) & 0x7fc00000u) == 0x7fc00000u;
    return (f64_bits(got) & 0x7ff8000000000000ull) == 0x7ff8000000000000ull;
  case EXPECT_NONNULL:
    return got->of.ref != NULL;
  case EXPECT_VALUE:
    break;
  }
  switch (e->val.type) {
  case WH_I32: return got->of.i32 == e->val.of.i32;
  case WH_I64: return got->of.i64 == e->val.of.i64;
  case WH_F32: return f32_bits(got) == f32_bits(&e->val);
  case WH_F64: return f64_bits(got) == f64_bits(&e->val);
  case WH_FUNCREF:
  case WH_EXTERNREF: return got->of.ref == e->val.of.ref;
  case WH_V128: return v128_matches(e, got);
  default: return false;
  }
}

/* ---- the spectest host module -------------------------------------------- */

static int spectest_print(wh_caller_t *caller, void *env, uint64_t *slots) {
  return 0;
}

/* Defines spectest.* in a fresh linker (fresh per file, as in the
 * reference interpreter: a file that writes the spectest memory must not
 * affect the next). */
static int spectest_define(file_t *f) {
  static const struct { const char *name, *params; } funcs[] = {
    {"print", ""}, {"print_i32", "i"}, {"print_i64", "I"},
    {"print_f32", "f"}, {"print_f64", "F"}, {"print_i32_f32", "if"},
    {"print_f64_f64", "FF"},
  };
  static const char *gnames[4] = {
    "global_i32", "global_i64", "global_f32", "global_f64",
  };
  wh_val_t gv[4];
  int rc = WH_ENOMEM;

  memset(gv, 0, sizeof gv);
  gv[0].type = WH_I32; gv[0].of.i32 = 666;
  gv[1].type = WH_I64; gv[1].of.i64 = 666;
  gv[2].type = WH_F32; gv[2].of.f32 = 666.6f;
  gv[3].type = WH_F64; gv[3].of.f64 = 666.6;

  f->linker = wh_linker_new(f->run->engine);
  f->sp_memory = wh_memory_new(1, 2);
  f->sp_table = wh_table_new(WH_FUNCREF, 10, 20);
  if (!f->linker || !f->sp_memory || !f->sp_table) goto fail;
  for (int i = 0; i < 4; i++) {
    f->sp_globals[i] = wh_global_new(gv[i], false);
    if (!f->sp_globals[i]) goto fail;
  }
  for (size_t i = 0; i < sizeof funcs / sizeof funcs[0]; i++) {
    rc = wh_linker_define_func(f->linker, "spectest", funcs[i].name,
                               funcs[i].params, "", spectest_print, NULL);
    if (rc) goto fail;
  }
  for (int i = 0; i < 4; i++) {
    rc = wh_linker_define_global(f->linker, "spectest", gnames[i],
                                 f->sp_globals[i]);
    if (rc) goto fail;
  }
  rc = wh_linker_define_memory(f->linker, "spectest", "memory", f->sp_memory);
  if (rc) goto fail;
  rc = wh_linker_define_table(f->linker, "spectest", "table", f->sp_table);
  if (rc) goto fail;
  return 0;

fail:
  return rc ? rc : WH_ENOMEM;
}

/* ---- modules ------------------------------------------------------------ */

/* Reads a whole file; *out is malloc'ed (never NULL on success). */
static int read_whole(const char *path, uint8_t **out, size_t *len) {
  FILE *fp = fopen(path, "rb");
  uint8_t *buf = NULL;
  long size;

  if (!fp) return WH_EIO;
  if (fseek(fp, 0, SEEK_END) != 0 || (size = ftell(fp)) < 0 ||
      fseek(fp, 0, SEEK_SET) != 0)
    goto fail;
  buf = malloc((size_t)size + 1);
  if (!buf) goto fail;
  if (fread(buf, 1, (size_t)size, fp) != (size_t)size) goto fail;
  fclose(fp);
  *out = buf;
  *len = (size_t)size;
  return 0;

fail:
  free(buf);
  fclose(fp);
  return WH_EIO;
}

/* Gives the exec all the fuel there is and, if deadlines work, a deadline
 * so that an engine bug that loops forever fails one command, not the
 * whole run. */
static void arm(run_t *r) {
  wh_exec_set_fuel(r->exec, UINT64_MAX);
  if (r->have_deadline) wh_exec_set_deadline_ms(r->exec, r->timeout_ms);
}

/* The message of the last trap on the exec ("" if none was recorded). */
static const char *trap_msg(run_t *r, wh_trap_code_t *code) {
  const char *msg = NULL;
  wh_trap_code_t c = wh_exec_trap(r->exec, &msg, NULL);

  if (code) *code = c;
  if (!msg) msg = c != WH_TRAP_NONE ? wh_trap_text(c) : "";
  return msg;
}

/* The spec's trap texts and ours differ in length only ("out of bounds"
 * vs "out of bounds memory access", "uninitialized element 2"): a match
 * is either being a prefix of the other. */
static bool trap_text_matches(const char *want, const char *got) {
  size_t lw = strlen(want), lg = strlen(got);
  size_t n = lw < lg ? lw : lg;

  return n > 0 && strncmp(want, got, n) == 0;
}

/* Loads `filename` (relative to the file's directory) into a module.
 * Returns NULL with `diag` filled on failure. */
static wh_module_t *load_module(file_t *f, const char *filename,
                                wh_diag_t *diag) {
  char path[4096];
  uint8_t *bytes = NULL;
  size_t len = 0;
  wh_module_t *m;

  wh_diag_clear(diag);
  if (!filename) {
    wh_diag_set(diag, WH_EINVAL, -1, "command names no module file");
    return NULL;
  }
  snprintf(path, sizeof path, "%s/%s", f->dir, filename);
  if (read_whole(path, &bytes, &len) != 0) {
    wh_diag_set(diag, WH_EIO, -1, "cannot read %s: %s", path, strerror(errno));
    return NULL;
  }
  m = wh_module_new(f->run->engine, bytes, len, diag);
  free(bytes);
  if (!m && diag->code == 0) diag->code = WH_EINVAL;  /* engine forgot */
  return m;
}

static const char *diag_str(char *buf, size_t n, const wh_diag_t *d) {
  if (d->offset >= 0)
    snprintf(buf, n, "%s at byte %lld: %s", wh_errname(d->code), d->offset,
             d->msg);
  else snprintf(buf, n, "%s: %s", wh_errname(d->code), d->msg);
  return buf;
}

/* Keeps a module and its instance (either may be NULL) until the file
 * ends; with `current`, later unnamed commands target it.  Modules that
 * failed to instantiate are kept too: an instantiation that traps leaves
 * the element segments it already wrote in imported tables, and the spec
 * calls those functions afterwards (linking.wast:275). */
static int keep(file_t *f, const char *name, wh_module_t *m,
                wh_instance_t *inst, bool current) {
  inst_entry_t *e;

  if (f->ninsts == f->capinsts) {
    size_t cap = f->capinsts ? f->capinsts * 2 : 16;
    inst_entry_t *n = realloc(f->insts, cap * sizeof *n);
    if (!n) return WH_ENOMEM;
    f->insts = n;
    f->capinsts = cap;
  }
  e = &f->insts[f->ninsts];
  e->name = name ? strdup(name) : NULL;
  if (name && !e->name) return WH_ENOMEM;
  e->mod = m;
  e->inst = inst;
  if (current) f->current = (long)f->ninsts;
  f->ninsts++;
  return 0;
}

/* The instance a command targets: named, else the current one.  NULL
 * with a reason in `why` if there is none or it failed to load. */
static wh_instance_t *target(file_t *f, const char *name, char *why,
                             size_t whylen) {
  long i = -1;

  if (name) {
    for (i = (long)f->ninsts - 1; i >= 0; i--)
      if (f->insts[i].name && strcmp(f->insts[i].name, name) == 0) break;
    if (i < 0) {
      snprintf(why, whylen, "no module named %s", name);
      return NULL;
    }
  } else {
    i = f->current;
    if (i < 0) {
      snprintf(why, whylen, "no module defined yet");
      return NULL;
    }
  }
  if (!f->insts[i].inst)
    snprintf(why, whylen, "module %s failed to load",
             f->insts[i].name ? f->insts[i].name : "(current)");
  return f->insts[i].inst;
}

/* module: instantiate it; it becomes current (even when it fails, so that
 * later commands against it fail rather than hit an older module). */
static void cmd_module(file_t *f, json_t *cmd) {
  const char *filename = cmd_str(cmd, "filename");
  const char *name = cmd_str(cmd, "name");
  wh_instance_t *inst = NULL;
  wh_module_t *m;
  wh_diag_t diag;
  char buf[512];
  int rc;

  m = load_module(f, filename, &diag);
  if (!m) {
    fail(f, cmd, filename, "module failed to load: %s",
         diag_str(buf, sizeof buf, &diag));
    goto record;
  }
  wh_diag_clear(&diag);
  arm(f->run);
  rc = wh_linker_instantiate(f->linker, m, f->run->exec, &inst, &diag);
  if (rc != 0) {
    if (rc == WH_ETRAP)
      fail(f, cmd, filename, "instantiation trapped: %s",
           trap_msg(f->run, NULL));
    else
      fail(f, cmd, filename, "instantiation failed: %s",
           diag_str(buf, sizeof buf, &diag));
    /* Kept, but the entry marks the module as failed for later commands. */
    if (keep(f, NULL, m, inst, false) != 0) goto oom;
    m = NULL;
    inst = NULL;
    goto record;
  }
  pass(f);

record:
  if (keep(f, name, m, inst, true) != 0) goto oom;
  return;

oom:
  wh_instance_free(inst);
  wh_module_free(m);
  fail(f, cmd, filename, "out of memory in the runner");
}

/* register: the target's exports become importable under "as". */
static void cmd_register(file_t *f, json_t *cmd) {
  const char *as = cmd_str(cmd, "as");
  char why[256];
  wh_instance_t *inst = target(f, cmd_str(cmd, "name"), why, sizeof why);
  int rc;

  if (!inst) {
    fail(f, cmd, as, "%s", why);
    return;
  }
  if (!as) {
    fail(f, cmd, as, "command has no \"as\"");
    return;
  }
  rc = wh_linker_define_instance(f->linker, as, inst);
  if (rc != 0) {
    fail(f, cmd, as, "wh_linker_define_instance: %s", wh_errname(rc));
    return;
  }
  pass(f);
}

/* ---- actions ------------------------------------------------------------ */

/* An action's outcome.  rc is 0, WH_ETRAP (trap/msg set) or another code
 * (`why` says what went wrong before or around the call). */
typedef struct outcome {
  int rc;
  wh_trap_code_t trap;
  const char *trap_msg;   /* borrowed from the exec */
  char why[512];
  const char *rtypes;     /* declared result type chars, borrowed */
  wh_val_t *results;      /* malloc'ed, strlen(rtypes) of them */
  size_t nresults;
} outcome_t;

static void outcome_fini(outcome_t *o) {
  free(o->results);
  o->results = NULL;
}

/* Runs an "invoke" or "get" action.  Returns o->rc. */
static int do_action(file_t *f, json_t *action, outcome_t *o) {
  const char *type = json_string_value(json_object_get(action, "type"));
  const char *field = json_string_value(json_object_get(action, "field"));
  json_t *jargs = json_object_get(action, "args");
  wh_instance_t *inst;
  wh_val_t *args = NULL;
  size_t nargs = 0;
  const char *ptypes = NULL;

  memset(o, 0, sizeof *o);
  o->rc = WH_EINVAL;
  inst = target(f, json_string_value(json_object_get(action, "module")), o->why,
                sizeof o->why);
  if (!inst) goto done;
  if (!field) {
    snprintf(o->why, sizeof o->why, "action has no field");
    goto done;
  }

  if (type && strcmp(type, "get") == 0) {
    wh_global_t *g = wh_instance_global(inst, field);
    static char rtype[2];
    if (!g) {
      o->rc = WH_ENOTFOUND;
      snprintf(o->why, sizeof o->why, "no exported global \"%s\"", field);
      goto done;
    }
    o->results = calloc(1, sizeof *o->results);
    if (!o->results) {
      o->rc = WH_ENOMEM;
      snprintf(o->why, sizeof o->why, "out of memory in the runner");
      goto done;
    }
    o->results[0] = wh_global_get(g);
    o->nresults = 1;
    rtype[0] = type_char(o->results[0].type);
    o->rtypes = rtype;
    o->rc = 0;
    goto done;
  }

  if (!type || strcmp(type, "invoke") != 0) {
    snprintf(o->why, sizeof o->why, "unknown action type \"%s\"",
             type ? type : "(none)");
    goto done;
  }
  size_t field_len = json_string_length(json_object_get(action, "field"));
  wh_func_t *fn = wh_instance_func_n(inst, field, field_len);
  if (!fn) {
    o->rc = WH_ENOTFOUND;
    snprintf(o->why, sizeof o->why, "no exported function \"%s\"", field);
    goto done;
  }
  wh_func_type(fn, &ptypes, &o->rtypes);
  if (!ptypes) ptypes = "";
  if (!o->rtypes) o->rtypes = "";

  nargs = json_array_size(jargs);
  if (nargs != strlen(ptypes)) {
    snprintf(o->why, sizeof o->why,
             "function takes %zu params (\"%s\") but the command passes %zu",
             strlen(ptypes), ptypes, nargs);
    goto done;
  }
  args = calloc(nargs + 1, sizeof *args);
  o->nresults = strlen(o->rtypes);
  o->results = calloc(o->nresults + 1, sizeof *o->results);
  if (!args || !o->results) {
    o->rc = WH_ENOMEM;
    snprintf(o->why, sizeof o->why, "out of memory in the runner");
    goto done;
  }
  for (size_t i = 0; i < nargs; i++) {
    expect_t e;
    char why[256];
    if (!parse_value(json_array_get(jargs, i), &e, why, sizeof why)) {
      snprintf(o->why, sizeof o->why, "arg %zu: %s", i, why);
      goto done;
    }
    if (e.kind != EXPECT_VALUE) {
      snprintf(o->why, sizeof o->why, "arg %zu: a %s argument other than "
               "null cannot be made", i, type_name(e.val.type));
      goto done;
    }
    if (type_char(e.val.type) != ptypes[i]) {
      snprintf(o->why, sizeof o->why, "arg %zu is %s but the param is '%c'",
               i, type_name(e.val.type), ptypes[i]);
      goto done;
    }
    args[i] = e.val;
  }

  arm(f->run);
  o->rc = wh_call(f->run->exec, fn, args, nargs, o->results, o->nresults);
  if (o->rc == WH_ETRAP) {
    o->trap_msg = trap_msg(f->run, &o->trap);
    snprintf(o->why, sizeof o->why, "trapped: %s", o->trap_msg);
  } else if (o->rc != 0) {
    snprintf(o->why, sizeof o->why, "wh_call returned %s", wh_errname(o->rc));
  }

done:
  free(args);
  return o->rc;
}

/* action: passes if it runs without error. */
static void cmd_action(file_t *f, json_t *cmd) {
  json_t *action = json_object_get(cmd, "action");
  const char *field = json_string_value(json_object_get(action, "field"));
  outcome_t o;

  if (do_action(f, action, &o) != 0) fail(f, cmd, field, "%s", o.why);
  else pass(f);
  outcome_fini(&o);
}

static void cmd_assert_return(file_t *f, json_t *cmd) {
  json_t *action = json_object_get(cmd, "action");
  const char *field = json_string_value(json_object_get(action, "field"));
  json_t *jexp = json_object_get(cmd, "expected");
  size_t nexp = json_array_size(jexp);
  char b1[160], b2[160];
  outcome_t o;

  if (do_action(f, action, &o) != 0) {
    fail(f, cmd, field, "%s", o.why);
    goto done;
  }
  if (o.nresults != nexp) {
    fail(f, cmd, field, "expected %zu results, the function has %zu (\"%s\")",
         nexp, o.nresults, o.rtypes);
    goto done;
  }
  for (size_t i = 0; i < nexp; i++) {
    expect_t e;
    wh_val_t got = o.results[i];
    if (!parse_value(json_array_get(jexp, i), &e, b1, sizeof b1)) {
      fail(f, cmd, field, "result %zu: %s", i, b1);
      goto done;
    }
    if (type_char(e.val.type) != o.rtypes[i]) {
      fail(f, cmd, field, "result %zu: expected type %s, declared '%c'", i,
           type_name(e.val.type), o.rtypes[i]);
      goto done;
    }
    got.type = e.val.type;  /* the declared type, in case the engine left 0 */
    if (!value_matches(&e, &got)) {
      fail(f, cmd, field, "result %zu: expected %s, got %s", i,
           expect_str(b1, sizeof b1, &e), val_str(b2, sizeof b2, &got));
      goto done;
    }
  }
  pass(f);

done:
  outcome_fini(&o);
}

/* assert_trap / assert_exhaustion on an action. */
static void cmd_assert_trap_action(file_t *f, json_t *cmd, bool exhaustion) {
  json_t *action = json_object_get(cmd, "action");
  const char *field = json_string_value(json_object_get(action, "field"));
  const char *want = cmd_str(cmd, "text");
  outcome_t o;
  int rc = do_action(f, action, &o);

  if (!want) want = "";
  if (rc == 0) {
    fail(f, cmd, field, "expected trap \"%s\", returned normally", want);
  } else if (rc != WH_ETRAP) {
    fail(f, cmd, field, "expected trap \"%s\", got: %s", want, o.why);
  } else if (exhaustion && o.trap != WH_TRAP_STACK_EXHAUSTED) {
    fail(f, cmd, field, "expected stack exhaustion, got trap \"%s\"",
         o.trap_msg);
  } else if (!exhaustion && !trap_text_matches(want, o.trap_msg)) {
    fail(f, cmd, field, "expected trap \"%s\", got trap \"%s\"", want,
         o.trap_msg);
  } else {
    pass(f);
  }
  outcome_fini(&o);
}

/* ---- module assertions -------------------------------------------------- */

/* Assertions of the 2.0 suite that Wasm 3.0 reverses for a proposal wharf
 * implements, multi-memory: several memories are valid ("multiple
 * memories"), and the byte after memory.size and memory.grow is a u32
 * memory index, so a long LEB128 zero such as "\80\00" names memory 0
 * ("zero byte expected"; a non-zero index is still refused, as an
 * unknown memory).  For these, loading is the right outcome. */
static bool reversed_by_3_0(const char *type, const char *text) {
  if (!type || !text) return false;
  return (strcmp(type, "assert_invalid") == 0 && strcmp(text, "multiple memories") == 0) ||
         (strcmp(type, "assert_malformed") == 0 && strcmp(text, "zero byte expected") == 0);
}

/* assert_invalid, assert_malformed: wh_module_new must refuse (but see
 * reversed_by_3_0). */
static void cmd_assert_rejected(file_t *f, json_t *cmd) {
  const char *filename = cmd_str(cmd, "filename");
  const char *want = cmd_str(cmd, "text");
  wh_module_t *m;
  wh_diag_t diag;
  char buf[512];

  m = load_module(f, filename, &diag);
  if (m) {
    wh_module_free(m);
    if (reversed_by_3_0(cmd_str(cmd, "type"), want)) {
      pass(f);
      return;
    }
    fail(f, cmd, filename, "module loaded, expected \"%s\"", want ? want : "");
    return;
  }
  if (diag.code == WH_EIO) {
    fail(f, cmd, filename, "%s", diag_str(buf, sizeof buf, &diag));
    return;
  }
  if (diag.code != WH_EMALFORMED && diag.code != WH_EINVALID)
    note(f, cmd, filename, "rejected with %s, expected \"%s\"",
         diag_str(buf, sizeof buf, &diag), want ? want : "");
  pass(f);
}

/* assert_unlinkable, assert_uninstantiable and assert_trap on a module:
 * the module loads but instantiating it fails (unlinkable) or traps. */
static void cmd_assert_instantiate_fails(file_t *f, json_t *cmd,
                                         bool want_trap) {
  const char *filename = cmd_str(cmd, "filename");
  const char *want = cmd_str(cmd, "text");
  wh_instance_t *inst = NULL;
  wh_module_t *m;
  wh_diag_t diag;
  char buf[512];
  int rc;

  if (!want) want = "";
  m = load_module(f, filename, &diag);
  if (!m) {
    fail(f, cmd, filename, "module failed to load: %s",
         diag_str(buf, sizeof buf, &diag));
    return;
  }
  wh_diag_clear(&diag);
  arm(f->run);
  rc = wh_linker_instantiate(f->linker, m, f->run->exec, &inst, &diag);
  if (rc == 0) {
    fail(f, cmd, filename, "instantiated, expected \"%s\"", want);
  } else if (want_trap) {
    const char *got;
    if (rc != WH_ETRAP) {
      fail(f, cmd, filename, "expected trap \"%s\", got %s", want,
           diag_str(buf, sizeof buf, &diag));
    } else if (!trap_text_matches(want, (got = trap_msg(f->run, NULL)))) {
      fail(f, cmd, filename, "expected trap \"%s\", got trap \"%s\"", want, got);
    } else {
      pass(f);
    }
  } else {
    if (rc != WH_EUNLINKABLE)
      note(f, cmd, filename, "instantiation failed with %s, expected "
           "WH_EUNLINKABLE \"%s\"", wh_errname(rc), want);
    pass(f);
  }
  /* Kept to the end of the file: see keep(). */
  if (keep(f, NULL, m, inst, false) != 0) {
    wh_instance_free(inst);
    wh_module_free(m);
  }
}

/* ---- files -------------------------------------------------------------- */

static void run_command(file_t *f, json_t *cmd) {
  const char *type = cmd_str(cmd, "type");
  const char *mtype = cmd_str(cmd, "module_type");

  if (!type) {
    fail(f, cmd, NULL, "command has no type");
    return;
  }
  if (mtype && strcmp(mtype, "binary") != 0) {
    skip(f);                         /* text-format module: not ours */
    return;
  }
  if (strcmp(type, "module") == 0) cmd_module(f, cmd);
  else if (strcmp(type, "register") == 0) cmd_register(f, cmd);
  else if (strcmp(type, "action") == 0) cmd_action(f, cmd);
  else if (strcmp(type, "assert_return") == 0) cmd_assert_return(f, cmd);
  else if (strcmp(type, "assert_trap") == 0) {
    if (json_object_get(cmd, "action")) cmd_assert_trap_action(f, cmd, false);
    else cmd_assert_instantiate_fails(f, cmd, true);
  } else if (strcmp(type, "assert_exhaustion") == 0)
    cmd_assert_trap_action(f, cmd, true);
  else if (strcmp(type, "assert_invalid") == 0 ||
           strcmp(type, "assert_malformed") == 0)
    cmd_assert_rejected(f, cmd);
  else if (strcmp(type, "assert_unlinkable") == 0)
    cmd_assert_instantiate_fails(f, cmd, false);
  else if (strcmp(type, "assert_uninstantiable") == 0)
    cmd_assert_instantiate_fails(f, cmd, true);
  else fail(f, cmd, NULL, "unknown command type");
}

static void file_fini(file_t *f) {
  for (size_t i = f->ninsts; i-- > 0;) {
    wh_instance_free(f->insts[i].inst);
    wh_module_free(f->insts[i].mod);
    free(f->insts[i].name);
  }
  free(f->insts);
  wh_linker_free(f->linker);
  for (int i = 3; i >= 0; i--) wh_global_free(f->sp_globals[i]);
  wh_table_free(f->sp_table);
  wh_memory_free(f->sp_memory);
  free(f->dir);
}

static void run_file(run_t *r, const char *path) {
  file_t f;
  json_t *root = NULL, *cmds;
  json_error_t jerr;
  const char *slash;
  int rc;

  memset(&f, 0, sizeof f);
  f.run = r;
  f.path = path;
  f.src = path;
  f.current = -1;
  slash = strrchr(path, '/');
  f.dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
  if (!f.dir) {
    fail(&f, NULL, path, "out of memory in the runner");
    goto done;
  }

  root = json_load_file(path, JSON_ALLOW_NUL, &jerr);
  if (!root) {
    fail(&f, NULL, path, "cannot read JSON: %s (line %d)", jerr.text,
         jerr.line);
    goto done;
  }
  cmds = json_object_get(root, "commands");
  if (!json_is_array(cmds)) {
    fail(&f, NULL, path, "no \"commands\" array");
    goto done;
  }
  if (json_string_value(json_object_get(root, "source_filename")))
    f.src = json_string_value(json_object_get(root, "source_filename"));

  rc = spectest_define(&f);
  if (rc != 0) {
    fail(&f, NULL, "spectest", "cannot define the spectest module: %s",
         wh_errname(rc));
    goto done;
  }
  for (size_t i = 0; i < json_array_size(cmds); i++)
    run_command(&f, json_array_get(cmds, i));

done:
  if (r->verbose)
    printf("%s: %ld passed, %ld failed, %ld skipped\n", path, f.passed,
           f.failed, f.skipped);
  fflush(stdout);
  r->passed += f.passed;
  r->failed += f.failed;
  r->skipped += f.skipped;
  file_fini(&f);
  json_decref(root);
}

/* ---- main --------------------------------------------------------------- */

static bool is_dir(const char *path) {
  struct stat st;
  return path && *path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Finds the spec/json directory: $WHARF_TESTDATA, ../shared/testdata from
 * the current directory, then the path CMake knew.  Writes it to `out`. */
static bool find_data(char *out, size_t n) {
  const char *roots[3] = {
    getenv("WHARF_TESTDATA"), "../shared/testdata", WHARF_TESTDATA_DEFAULT,
  };

  for (int i = 0; i < 3; i++) {
    if (!roots[i] || !*roots[i]) continue;
    snprintf(out, n, "%s/spec/json", roots[i]);
    if (is_dir(out)) return true;
  }
  return false;
}

static void usage(FILE *fp) {
  fprintf(fp,
          "usage: wharf-spectest [-v] [--simd] [--tier interp|native|auto] [--timeout SEC] [FILE.json ...]\n"
          "Runs wast2json spec tests; with no files, every */*.json under\n"
          "$WHARF_TESTDATA/spec/json (else ../shared/testdata/spec/json).\n"
          "  -v          per-file tallies and notes\n"
          "  --simd      also run simd_* files (skipped by default) with the\n"
          "              engine's SIMD support on\n"
          "  --tier      the engine's execution tier (default interp)\n"
          "  --timeout   seconds per call before it is failed (default 60, "
          "0 = none)\n");
}

int main(int argc, char **argv) {
  run_t r;
  bool simd = false;
  int tier = WH_TIER_INTERP;
  int nfiles = 0, status = 1;
  char **files = calloc((size_t)argc + 1, sizeof *files);
  glob_t g;
  bool have_glob = false;
  long skipped_files = 0;

  memset(&r, 0, sizeof r);
  memset(&g, 0, sizeof g);
  r.timeout_ms = 60000;
  if (!files) return 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) r.verbose = true;
    else if (strcmp(argv[i], "--simd") == 0) simd = true;
    else if (strcmp(argv[i], "--tier") == 0 && i + 1 < argc) {
      if ((tier = wh_tier_parse(argv[++i])) < 0) {
        usage(stderr);
        status = 2;
        goto out;
      }
      if (!wh_tier_available((wh_tier_t)tier)) {
        fprintf(stderr, "wharf-spectest: tier %s: wharf was not built with LLVM\n", argv[i]);
        status = 77;
        goto out;
      }
    }
    else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
      r.timeout_ms = (unsigned)strtoul(argv[++i], NULL, 10) * 1000u;
    else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      status = 0;
      goto out;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      usage(stderr);
      status = 2;
      goto out;
    } else files[nfiles++] = argv[i];
  }

  if (nfiles == 0) {
    char dir[4096], pattern[4200];
    if (!find_data(dir, sizeof dir)) {
      printf("spec test data is absent: no spec/json under $WHARF_TESTDATA, "
             "../shared/testdata or %s; skipping\n",
             *WHARF_TESTDATA_DEFAULT ? WHARF_TESTDATA_DEFAULT : "(none)");
      status = EXIT_SKIP;
      goto out;
    }
    snprintf(pattern, sizeof pattern, "%s/*/*.json", dir);
    if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
      printf("spec test data is absent: no */*.json in %s; skipping\n", dir);
      status = EXIT_SKIP;
      have_glob = true;
      goto out;
    }
    have_glob = true;
    free(files);
    files = calloc(g.gl_pathc + 1, sizeof *files);
    if (!files) goto out;
    for (size_t i = 0; i < g.gl_pathc; i++) {
      const char *base = strrchr(g.gl_pathv[i], '/');
      base = base ? base + 1 : g.gl_pathv[i];
      if (!simd && strncmp(base, "simd_", 5) == 0) skipped_files++;
      else files[nfiles++] = g.gl_pathv[i];
    }
  }

  wh_engine_config_t cfg;
  wh_engine_config_default(&cfg);
  cfg.simd = simd;        /* --simd turns the engine's SIMD support on */
  cfg.tier = (wh_tier_t)tier;
  r.engine = wh_engine_new(&cfg);
  if (!r.engine) {
    fprintf(stderr, "wharf-spectest: wh_engine_new failed\n");
    goto out;
  }
  r.exec = wh_exec_new(r.engine);
  if (!r.exec) {
    fprintf(stderr, "wharf-spectest: wh_exec_new failed\n");
    goto out;
  }
  if (r.timeout_ms) r.have_deadline = wh_epoch_start(10) == 0;

  if (skipped_files)
    printf("skipping %ld SIMD files (pass --simd to run them)\n",
           skipped_files);
  for (int i = 0; i < nfiles; i++) run_file(&r, files[i]);
  printf("%ld passed, %ld failed, %ld skipped\n", r.passed, r.failed,
         r.skipped);
  status = r.failed == 0 ? 0 : 1;

out:
  if (r.have_deadline) wh_epoch_stop();
  wh_exec_free(r.exec);
  wh_engine_free(r.engine);
  if (have_glob) globfree(&g);
  free(files);
  return status;
}
