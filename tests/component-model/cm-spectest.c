/*
 * cm-spectest.c - wharf-component-spectest: runs the component-model spec
 * tests (converted to JSON command lists + binaries, see the testdata
 * README, section component-spec) through wh_cm_component_new,
 * wh_cm_instantiate and wh_cm_call.
 *
 *   wharf-component-spectest [-v] [FILE.json | DIR]...
 *
 * Default: every .json under $WHARF_TESTDATA/component-spec/{component-
 * model,wasmtime,wasm-tools} (else ../shared/testdata/...); exit 77 when
 * the data is absent, 1 when any assertion failed.
 *
 *   component            decode + validate, then instantiate (it becomes
 *                        the target of later invokes); `definition: true`
 *                        is only compiled, for a later component_instance
 *   component_instance   instantiate a named definition
 *   assert_invalid,      decode or validate must reject it (WH_EINVALID /
 *   assert_malformed     WH_EMALFORMED)
 *   assert_unlinkable    decode + validate, then instantiation must fail
 *                        with WH_EUNLINKABLE
 *   assert_trap (file)   instantiation must trap with the message
 *   invoke, assert_return, assert_trap (invoke)
 *                        call the current instance; values are the
 *                        README's s-expression forms
 *
 * Imports are satisfied by a linker that plays wasmtime's test harness
 * (_harness/wasmtime-crates-wast-spectest.rs, link_component_spectest):
 * host-return-two, host-echo-u32, and the `host` instance (return-three,
 * nested/return-four, return-hi, simple-module); and, as wasmtime's wast
 * runner does, a named instance ($x) becomes the import "x" of later
 * components.  Nothing is stubbed: an import without a provider makes a
 * component unlinkable.  Calls between component instances go through
 * fused adapters (component-model/fuse.c); with WHARF_CM_FUSE=0 through
 * values instead (ctest spec-component-unfused).
 *
 * What is skipped, and why (each is counted, and named in the output):
 *   - files gated on an out-of-scope feature (wasmtime's `;;! f = true`
 *     lines, wasm-tools' `-f f` RUN flags, the async/ directories).  An
 *     engine proposal with a probe below (multi-memory) gates a file only
 *     while the engine rejects the probe, so support is picked up
 *     automatically;
 *   - a component that wh_cm_component_new refuses with WH_EUNSUPPORTED,
 *     and every directive that would target it (invokes until the next
 *     component, component_instance of such a definition);
 *   - an assert_invalid/assert_malformed refused as WH_EUNSUPPORTED for
 *     another reason than the one the test names (whether it is also
 *     invalid cannot be told);
 *   - text-format assertions (`component quote`, no binary) and forms the
 *     converter could not encode.
 * Where a wasmtime test expects what contradicts the reference spec,
 * the spec's outcome is checked instead (spec_outcomes, printed as a note).
 * Ends with exactly "N passed, M failed, K skipped".
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
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
static wh_engine_t *engine;

typedef struct counts {
  unsigned pass, fail, skip;
} counts_t;

static counts_t total;

/* Per top-level directory. */
typedef struct dircount {
  char name[64];
  counts_t c;
} dircount_t;
static dircount_t dirs[16];
static unsigned ndirs;

static counts_t *dir_counts(const char *path) {
  const char *keys[] = {"component-model", "wasmtime", "wasm-tools"};
  const char *name = "other";
  for (unsigned i = 0; i < 3; i++) {
    char pat[80];
    snprintf(pat, sizeof pat, "component-spec/%s/", keys[i]);
    if (strstr(path, pat)) name = keys[i];
  }
  for (unsigned i = 0; i < ndirs; i++)
    if (strcmp(dirs[i].name, name) == 0) return &dirs[i].c;
  if (ndirs == 16) return &dirs[15].c;
  snprintf(dirs[ndirs].name, sizeof dirs[ndirs].name, "%s", name);
  return &dirs[ndirs++].c;
}

/* Skips tallied by reason. */
typedef struct skipcat {
  char why[400];
  unsigned n, files;
} skipcat_t;
static skipcat_t cats[64];
static unsigned ncats;

static void tally_skip(counts_t *dc, const char *why, unsigned n, bool whole_file) {
  total.skip += n;
  dc->skip += n;
  for (unsigned i = 0; i < ncats; i++)
    if (strncmp(cats[i].why, why, sizeof cats[i].why - 1) == 0) {
      cats[i].n += n;
      cats[i].files += whole_file;
      return;
    }
  if (ncats == 64) return;
  snprintf(cats[ncats].why, sizeof cats[ncats].why, "%s", why);
  cats[ncats].n = n;
  cats[ncats++].files = whole_file;
}

/* ---- feature gates -------------------------------------------------------------------- */

/* Engine proposals the runner can probe: a tiny core module that uses the
 * feature.  The gate holds only while the engine rejects it. */
static const uint8_t probe_multi_memory[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,  /* magic, version */
    0x05, 0x05, 0x02, 0x00, 0x01, 0x00, 0x01,        /* memory section: two memories */
};

static bool engine_supports(const uint8_t *bytes, size_t len, char *why, size_t whysz) {
  wh_diag_t d;
  wh_module_t *m = wh_module_new(engine, bytes, len, &d);
  if (m) {
    wh_module_free(m);
    return true;
  }
  snprintf(why, whysz, "%.100s", d.msg);
  return false;
}

/* Features a file may require that wharf does not implement; NULL if the
 * feature is supported. */
static const char *gated_reason(const char *feat) {
  static const struct {
    const char *f, *why;
    const uint8_t *probe;
    size_t probe_len;
  } tab[] = {
      {"component_model_async", "async (stream/future) is not supported", NULL, 0},
      {"component_model_async_stackful", "async is not supported", NULL, 0},
      {"component_model_more_async_builtins", "async is not supported", NULL, 0},
      {"component_model_error_context", "async (error-context) is not supported", NULL, 0},
      {"component_model_threading", "threading is not supported", NULL, 0},
      {"component_model_memory64", "64-bit component memories are not supported", NULL, 0},
      {"component_model_fixed_length_lists", "fixed-length lists are not supported", NULL, 0},
      {"component_model_map", "map types are not supported", NULL, 0},
      {"gc", "GC is not supported", NULL, 0},
      {"threads", "threads are not supported", NULL, 0},
      {"shared_everything_threads", "threads are not supported", NULL, 0},
      {"multi_memory", "the engine rejects a module with two memories", probe_multi_memory,
       sizeof probe_multi_memory},
      {"memory64", "memory64 is not supported by the engine", NULL, 0},
      {"hogs_memory",
       "grows memories to 4 GiB and passes strings of up to 2 GiB between components; with "
       "WHARF_CM_FUSE=0 (calls through values) each string is copied whole into the host, "
       "beyond this suite's time and memory budget (it runs with fused adapters)",
       NULL, 0},
      {"exceptions", "exceptions are not supported by the engine", NULL, 0},
      {"function_references", "typed function references are not supported by the engine", NULL, 0},
      {"custom_page_sizes", "custom page sizes are not supported by the engine", NULL, 0},
      {"cm-async", "async (stream/future) is not supported", NULL, 0},
      {"cm-async-stackful", "async is not supported", NULL, 0},
      {"cm-more-async-builtins", "async is not supported", NULL, 0},
      {"cm-error-context", "async (error-context) is not supported", NULL, 0},
      {"cm-threading", "threading is not supported", NULL, 0},
      {"shared-everything-threads", "threads are not supported", NULL, 0},
      {"cm-gc", "GC is not supported", NULL, 0},
      {"cm64", "64-bit component memories are not supported", NULL, 0},
      {"cm-values", "component values (value section, start) are not supported", NULL, 0},
      {"cm-fixed-length-lists", "fixed-length lists are not supported", NULL, 0},
      {"cm-map", "map types are not supported", NULL, 0},
      {"cm-nested-names", "nested namespaces in names are not supported", NULL, 0},
      {"custom-page-sizes", "custom page sizes are not supported by the engine", NULL, 0},
  };
  static char why[200];
  /* hogs_memory (big-strings: 4 GiB memories, strings up to 2 GiB
   * between components) runs through fused adapters: they check and
   * trap before copying, about 20 s and a few MiB resident on the
   * 2-core test machine.  Through values (WHARF_CM_FUSE=0) each string
   * would be copied whole into the host first: skipped there. */
  const char *fuse = getenv("WHARF_CM_FUSE");
  if (strcmp(feat, "hogs_memory") == 0 && !(fuse && strcmp(fuse, "0") == 0)) return NULL;
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
    if (strcmp(tab[i].f, feat) != 0) continue;
    if (!tab[i].probe) return tab[i].why;
    char msg[128];
    if (engine_supports(tab[i].probe, tab[i].probe_len, msg, sizeof msg)) return NULL;
    snprintf(why, sizeof why, "%s (\"%s\")", tab[i].why, msg);
    return why;
  }
  return NULL;
}

/* Reads the head of the .wast source for feature requirements; returns a
 * static reason string if the file is gated, else NULL. */
static const char *file_gate(const char *root, const char *json_path, const char *source) {
  static char why[320];
  if (strstr(json_path, "/async/") || (source && strstr(source, "/async/")))
    return "needs async: async (stream/future) is not supported";
  if (!source) return NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s/component-spec/%s", root, source);
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char line[1024];
  const char *res = NULL;
  for (int n = 0; n < 12 && !res && fgets(line, sizeof line, f); n++) {
    char feat[128], val[16];
    if (sscanf(line, ";;! %127s = %15s", feat, val) == 2) {
      const char *r = strcmp(val, "true") == 0 ? gated_reason(feat) : NULL;
      if (r) {
        snprintf(why, sizeof why, "needs %s: %s", feat, r);
        res = why;
      } else if (strcmp(val, "false") == 0 && strcmp(feat, "component_model_implements") == 0) {
        snprintf(why, sizeof why, "tests %s disabled: wharf always implements it", feat);
        res = why;
      }
      continue;
    }
    char *run = strstr(line, ";; RUN:");
    if (!run || strstr(line, "RUN[")) continue;
    char *fl = strstr(run, " -f ");
    char list[512];
    if (!fl || sscanf(fl + 4, "%511s", list) != 1) continue;
    for (char *tok = strtok(list, ","); tok && !res; tok = strtok(NULL, ",")) {
      const char *r = gated_reason(tok);
      if (r) {
        snprintf(why, sizeof why, "needs %s: %s", tok, r);
        res = why;
      }
    }
  }
  fclose(f);
  return res;
}

/* ---- s-expression values (the testdata README's forms) ------------------------------- */

typedef struct sx {
  int atom;                 /* 1 atom, 2 string, 0 list */
  char *s;                  /* atom / string text (decoded) */
  size_t len;
  struct sx *kids;
  size_t n;
} sx_t;

static void sx_free(sx_t *x) {
  free(x->s);
  for (size_t i = 0; i < x->n; i++) sx_free(&x->kids[i]);
  free(x->kids);
  memset(x, 0, sizeof *x);
}

static size_t put_u8(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* Parses one s-expression at *p; false on a syntax error (out is still
 * freeable). */
static bool sx_parse(const char **p, sx_t *out) {
  memset(out, 0, sizeof *out);
  while (is_space(**p)) (*p)++;
  if (**p == '(') {
    (*p)++;
    size_t cap = 0;
    for (;;) {
      while (is_space(**p)) (*p)++;
      if (**p == ')') {
        (*p)++;
        return true;
      }
      if (!**p) return false;
      if (out->n == cap) {
        cap = cap ? cap * 2 : 4;
        sx_t *nk = realloc(out->kids, cap * sizeof *nk);
        if (!nk) return false;
        out->kids = nk;
      }
      if (!sx_parse(p, &out->kids[out->n++])) return false;
    }
  }
  if (**p == '"') {
    (*p)++;
    char *b = malloc(strlen(*p) * 4 + 8);
    if (!b) return false;
    size_t o = 0;
    while (**p && **p != '"') {
      if (**p != '\\') {
        b[o++] = *(*p)++;
        continue;
      }
      (*p)++;
      char c = **p;
      if (c == 'n' || c == 't' || c == 'r') {
        b[o++] = c == 'n' ? '\n' : c == 't' ? '\t' : '\r';
        (*p)++;
      } else if (c == '"' || c == '\\' || c == '\'') {
        b[o++] = c;
        (*p)++;
      } else if (c == 'u' && (*p)[1] == '{') {
        *p += 2;
        uint32_t cp = 0;
        while (**p && **p != '}') {
          if (**p != '_') cp = cp * 16 + (uint32_t)hexv(**p);
          (*p)++;
        }
        if (**p) (*p)++;
        o += put_u8(b + o, cp);
      } else if (hexv(c) >= 0 && hexv((*p)[1]) >= 0) {
        b[o++] = (char)(hexv(c) * 16 + hexv((*p)[1]));
        *p += 2;
      } else if (c) {
        b[o++] = c;
        (*p)++;
      }
    }
    if (**p) (*p)++;
    b[o] = '\0';
    out->atom = 2;
    out->s = b;
    out->len = o;
    return true;
  }
  const char *st = *p;
  while (**p && !is_space(**p) && **p != '(' && **p != ')') (*p)++;
  if (*p == st) return false;
  out->atom = 1;
  out->len = (size_t)(*p - st);
  out->s = malloc(out->len + 1);
  if (!out->s) return false;
  memcpy(out->s, st, out->len);
  out->s[out->len] = '\0';
  return true;
}

static bool sx_head(const sx_t *x, const char *name) {
  return x->atom == 0 && x->n > 0 && x->kids[0].atom == 1 && strcmp(x->kids[0].s, name) == 0;
}

static bool parse_int(const char *s, bool sign, uint64_t *out) {
  char buf[128];
  size_t o = 0;
  for (; *s && o < sizeof buf - 1; s++)
    if (*s != '_') buf[o++] = *s;
  buf[o] = '\0';
  char *end;
  errno = 0;
  if (sign && buf[0] == '-') {
    *out = (uint64_t)strtoll(buf, &end, 0);
  } else {
    const char *b = buf[0] == '+' ? buf + 1 : buf;
    *out = strtoull(b, &end, 0);
  }
  return *end == '\0' && errno == 0;
}

/* f32/f64 text: decimal, hex float, inf, nan, nan:0xPAYLOAD. */
static bool parse_float(const char *s, bool is32, wh_cm_val *v) {
  char buf[128];
  size_t o = 0;
  for (; *s && o < sizeof buf - 1; s++)
    if (*s != '_') buf[o++] = *s;
  buf[o] = '\0';
  const char *b = buf;
  bool neg = false;
  if (*b == '-' || *b == '+') neg = *b++ == '-';
  if (strncmp(b, "nan", 3) == 0) {
    uint64_t payload = 0;
    if (b[3] == ':' && !parse_int(b + 4, false, &payload)) return false;
    if (is32) {
      uint32_t bits = 0x7f800000u | (payload ? (uint32_t)payload : 0x400000u);
      if (neg) bits |= 0x80000000u;
      memcpy(&v->of.f32, &bits, 4);
    } else {
      uint64_t bits = 0x7ff0000000000000ull | (payload ? payload : 0x8000000000000ull) |
                      (neg ? 1ull << 63 : 0);
      memcpy(&v->of.f64, &bits, 8);
    }
    return true;
  }
  char *end = NULL;
  if (is32) {
    /* strtof: hex floats name the f32 exactly, decimals round once */
    float f = strcmp(b, "inf") == 0 ? HUGE_VALF : strtof(b, &end);
    if (end && *end) return false;
    v->of.f32 = neg ? -f : f;
  } else {
    double f = strcmp(b, "inf") == 0 ? HUGE_VAL : strtod(b, &end);
    if (end && *end) return false;
    v->of.f64 = neg ? -f : f;
  }
  return true;
}

static int name_index(const wh_cm_component_t *c, wh_cm_type_ref_t t, const char *name) {
  uint32_t n = wh_cm_type_field_count(c, t);
  for (uint32_t i = 0; i < n; i++) {
    const char *fn;
    wh_cm_type_ref_t ft;
    if (wh_cm_type_field(c, t, i, &fn, &ft) == 0 && fn && strcmp(fn, name) == 0) return (int)i;
  }
  return -1;
}

/* Converts an s-expression value of type t into *v (zeroed first; owned by
 * the caller either way); false if it does not fit. */
static bool sx_val(const wh_cm_component_t *c, wh_cm_type_ref_t t, const sx_t *x, wh_cm_val *v) {
  memset(v, 0, sizeof *v);
  if (x->atom || x->n == 0 || x->kids[0].atom != 1) return false;
  const char *h = x->kids[0].s;
  const sx_t *a1 = x->n > 1 ? &x->kids[1] : NULL;
  if (strcmp(h, "bool.const") == 0) {
    if (!a1 || !a1->s) return false;
    *v = wh_cm_val_bool(strcmp(a1->s, "true") == 0);
    return strcmp(a1->s, "true") == 0 || strcmp(a1->s, "false") == 0;
  }
  static const char *ints[] = {"s8.const",  "u8.const",  "s16.const", "u16.const",
                               "s32.const", "u32.const", "s64.const", "u64.const"};
  static const uint8_t ik[] = {WH_CM_V_S8,  WH_CM_V_U8,  WH_CM_V_S16, WH_CM_V_U16,
                               WH_CM_V_S32, WH_CM_V_U32, WH_CM_V_S64, WH_CM_V_U64};
  for (int i = 0; i < 8; i++) {
    if (strcmp(h, ints[i]) != 0) continue;
    uint64_t u;
    if (!a1 || !a1->s || !parse_int(a1->s, true, &u)) return false;
    v->kind = ik[i];
    bool sgn = i % 2 == 0;
    unsigned bits = 8u << (i / 2);
    if (sgn) {
      int64_t s = (int64_t)u;
      if (bits < 64) {
        s = (int64_t)(u & ((1ull << bits) - 1));
        if (s & (int64_t)(1ull << (bits - 1))) s -= (int64_t)(1ull << bits);
      }
      v->of.s = s;
    } else {
      v->of.u = bits < 64 ? (u & ((1ull << bits) - 1)) : u;
    }
    return true;
  }
  if (strcmp(h, "f32.const") == 0 || strcmp(h, "f64.const") == 0) {
    bool is32 = h[1] == '3';
    v->kind = is32 ? WH_CM_V_F32 : WH_CM_V_F64;
    return a1 && a1->s && parse_float(a1->s, is32, v);
  }
  if (strcmp(h, "char.const") == 0) {
    if (!a1 || !a1->s) return false;
    const unsigned char *s = (const unsigned char *)a1->s;
    uint32_t cp = s[0];
    if (cp >= 0xF0)
      cp = ((cp & 7u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    else if (cp >= 0xE0) cp = ((cp & 15u) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    else if (cp >= 0xC0) cp = ((cp & 31u) << 6) | (s[1] & 0x3Fu);
    *v = wh_cm_val_char(cp);
    return true;
  }
  if (strcmp(h, "str.const") == 0) return a1 && a1->s && wh_cm_val_string(v, a1->s, a1->len) == 0;
  if (strcmp(h, "list.const") == 0 || strcmp(h, "tuple.const") == 0) {
    bool list = h[0] == 'l';
    if (wh_cm_val_agg(v, list ? WH_CM_V_LIST : WH_CM_V_TUPLE, (uint32_t)(x->n - 1))) return false;
    for (size_t i = 1; i < x->n; i++) {
      wh_cm_type_ref_t et = 0;
      const char *nm;
      if (list) et = wh_cm_type_elem(c, t);
      else if (wh_cm_type_field(c, t, (uint32_t)(i - 1), &nm, &et)) return false;
      if (!sx_val(c, et, &x->kids[i], &v->of.agg.v[i - 1])) return false;
    }
    return true;
  }
  if (strcmp(h, "record.const") == 0) {
    uint32_t n = wh_cm_type_field_count(c, t);
    if (wh_cm_val_agg(v, WH_CM_V_RECORD, n)) return false;
    for (size_t i = 1; i < x->n; i++) {
      const sx_t *f = &x->kids[i];
      if (!sx_head(f, "field") || f->n < 3 || !f->kids[1].s) return false;
      int fi = name_index(c, t, f->kids[1].s);
      if (fi < 0) return false;
      const char *nm;
      wh_cm_type_ref_t ft;
      wh_cm_type_field(c, t, (uint32_t)fi, &nm, &ft);
      /* (field "n" u32.const 7): the value is not parenthesised */
      sx_t tmp = {0, NULL, 0, (sx_t *)&f->kids[2], f->n - 2};
      const sx_t *fv = f->kids[2].atom == 0 ? &f->kids[2] : &tmp;
      if (!sx_val(c, ft, fv, &v->of.agg.v[fi])) return false;
    }
    return true;
  }
  if (strcmp(h, "variant.const") == 0) {
    if (!a1 || !a1->s) return false;
    int ci = name_index(c, t, a1->s);
    if (ci < 0) return false;
    const char *nm;
    wh_cm_type_ref_t ct;
    wh_cm_type_field(c, t, (uint32_t)ci, &nm, &ct);
    if (x->n > 2) {
      wh_cm_val p;
      if (!sx_val(c, ct, &x->kids[2], &p)) {
        wh_cm_val_fini(&p);
        return false;
      }
      return wh_cm_val_case(v, WH_CM_V_VARIANT, (uint32_t)ci, &p) == 0;
    }
    return wh_cm_val_case(v, WH_CM_V_VARIANT, (uint32_t)ci, NULL) == 0;
  }
  if (strcmp(h, "enum.const") == 0) {
    int ci = a1 && a1->s ? name_index(c, t, a1->s) : -1;
    if (ci < 0) return false;
    *v = wh_cm_val_enum((uint32_t)ci);
    return true;
  }
  if (strcmp(h, "flags.const") == 0) {
    if (wh_cm_val_flags(v, wh_cm_type_field_count(c, t))) return false;
    for (size_t i = 1; i < x->n; i++) {
      int fi = x->kids[i].s ? name_index(c, t, x->kids[i].s) : -1;
      if (fi < 0) return false;
      wh_cm_val_flag_set(v, (uint32_t)fi, true);
    }
    return true;
  }
  if (strcmp(h, "option.none") == 0) return wh_cm_val_case(v, WH_CM_V_OPTION, 0, NULL) == 0;
  if (strcmp(h, "option.some") == 0 || strcmp(h, "result.ok") == 0 ||
      strcmp(h, "result.err") == 0) {
    bool opt = h[0] == 'o', ok = opt || h[7] == 'o';
    wh_cm_vkind_t k = opt ? WH_CM_V_OPTION : WH_CM_V_RESULT;
    uint32_t idx = opt ? 1 : ok ? 0 : 1;
    wh_cm_type_ref_t pt = ok ? wh_cm_type_elem(c, t) : wh_cm_type_err(c, t);
    if (!a1) return !opt && wh_cm_val_case(v, k, idx, NULL) == 0;
    wh_cm_val p;
    if (!sx_val(c, pt, a1, &p)) {
      wh_cm_val_fini(&p);
      return false;
    }
    return wh_cm_val_case(v, k, idx, &p) == 0;
  }
  return false;
}

/* Prints a value (for failure messages) into b[*o..size). */
static void val_print(char *b, size_t size, size_t *o, const wh_cm_val *v) {
#define PUT(...)                                                     \
  do {                                                               \
    if (*o < size) *o += (size_t)snprintf(b + *o, size - *o, __VA_ARGS__); \
  } while (0)
  switch (v->kind) {
  case WH_CM_V_BOOL: PUT("%s", v->of.b ? "true" : "false"); break;
  case WH_CM_V_S8: case WH_CM_V_S16: case WH_CM_V_S32: case WH_CM_V_S64:
    PUT("%s %lld", wh_cm_vkind_name(v->kind), (long long)v->of.s);
    break;
  case WH_CM_V_U8: case WH_CM_V_U16: case WH_CM_V_U32: case WH_CM_V_U64:
    PUT("%s %llu", wh_cm_vkind_name(v->kind), (unsigned long long)v->of.u);
    break;
  case WH_CM_V_F32: PUT("f32 %a", (double)v->of.f32); break;
  case WH_CM_V_F64: PUT("f64 %a", v->of.f64); break;
  case WH_CM_V_CHAR: PUT("char U+%04X", v->of.ch); break;
  case WH_CM_V_STRING:
    PUT("\"%.*s\"", (int)(v->of.str.len > 200 ? 200 : v->of.str.len), v->of.str.ptr);
    break;
  case WH_CM_V_LIST: case WH_CM_V_RECORD: case WH_CM_V_TUPLE: case WH_CM_V_FIXED_LIST:
    PUT("(%s", wh_cm_vkind_name(v->kind));
    for (uint32_t i = 0; i < v->of.agg.n; i++) {
      PUT(" ");
      val_print(b, size, o, &v->of.agg.v[i]);
    }
    PUT(")");
    break;
  case WH_CM_V_ENUM: PUT("(enum #%u)", v->of.var.idx); break;
  case WH_CM_V_VARIANT: case WH_CM_V_OPTION: case WH_CM_V_RESULT:
    PUT("(%s #%u", wh_cm_vkind_name(v->kind), v->of.var.idx);
    if (v->of.var.payload) {
      PUT(" ");
      val_print(b, size, o, v->of.var.payload);
    }
    PUT(")");
    break;
  case WH_CM_V_FLAGS:
    PUT("(flags");
    for (uint32_t i = 0; i < v->of.flags.nwords; i++) PUT(" 0x%x", v->of.flags.bits[i]);
    PUT(")");
    break;
  case WH_CM_V_OWN: case WH_CM_V_BORROW:
    PUT("(%s rep %u)", wh_cm_vkind_name(v->kind), v->of.handle.rep);
    break;
  default: PUT("(nothing)"); break;
  }
#undef PUT
}

/* ---- the host side: wasmtime's component spectest harness -------------------------- */

static int host_const_u32(wh_cm_hostcall_t *call, void *env, const wh_cm_val *args,
                          uint32_t nargs, wh_cm_val *results, uint32_t nresults) {
  (void)args;
  if (nargs != 0 || nresults != 1)
    return wh_cm_hostcall_trap(call, "host function takes () -> u32");
  results[0] = wh_cm_val_u32((uint32_t)(uintptr_t)env);
  return 0;
}

static int host_echo_u32(wh_cm_hostcall_t *call, void *env, const wh_cm_val *args,
                         uint32_t nargs, wh_cm_val *results, uint32_t nresults) {
  (void)env;
  if (nargs != 1 || nresults != 1 || args[0].kind != WH_CM_V_U32)
    return wh_cm_hostcall_trap(call, "host-echo-u32 takes (u32) -> u32");
  results[0] = args[0];
  return 0;
}

static int host_return_hi(wh_cm_hostcall_t *call, void *env, const wh_cm_val *args,
                          uint32_t nargs, wh_cm_val *results, uint32_t nresults) {
  (void)env;
  (void)args;
  if (nargs != 0 || nresults != 1) return wh_cm_hostcall_trap(call, "return-hi takes () -> string");
  return wh_cm_val_string(&results[0], "hi", 2);
}

/* simple-module: (global (export "g") i32 (i32.const 100))
 *                (func (export "f") (result i32) (i32.const 101)) */
static const uint8_t simple_module_wasm[] = {
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f,                   /* type: () -> i32 */
    0x03, 0x02, 0x01, 0x00,                                     /* func 0: type 0 */
    0x06, 0x07, 0x01, 0x7f, 0x00, 0x41, 0xe4, 0x00, 0x0b,       /* global i32 = 100 */
    0x07, 0x09, 0x02, 0x01, 0x67, 0x03, 0x00, 0x01, 0x66, 0x00, 0x00, /* export g, f */
    0x0a, 0x07, 0x01, 0x05, 0x00, 0x41, 0xe5, 0x00, 0x0b,       /* body: i32.const 101 */
};

static wh_module_t *simple_module;

/* A linker with what wasmtime's harness provides (async-only functions
 * such as never-return are left out: nothing that runs here can call
 * them).  NULL on failure. */
static wh_cm_linker_t *harness_linker(void) {
  wh_cm_linker_t *l = wh_cm_linker_new(engine);
  if (!l) return NULL;
  /* WHARF_CM_FUSE=0: component-to-component calls through values, so
   * both paths are checked against the same files */
  const char *fuse = getenv("WHARF_CM_FUSE");
  wh_cm_linker_fuse(l, !(fuse && strcmp(fuse, "0") == 0));
  int rc = 0;
  rc |= wh_cm_linker_define_func(l, "host-return-two", host_const_u32, (void *)(uintptr_t)2);
  rc |= wh_cm_linker_define_func(l, "host-echo-u32", host_echo_u32, NULL);
  rc |= wh_cm_linker_define_func(l, "host#return-three", host_const_u32, (void *)(uintptr_t)3);
  rc |= wh_cm_linker_define_func(l, "host#nested#return-four", host_const_u32,
                                 (void *)(uintptr_t)4);
  rc |= wh_cm_linker_define_func(l, "host#return-hi", host_return_hi, NULL);
  rc |= wh_cm_linker_define_module(l, "host#simple-module", simple_module);
  if (rc) {
    wh_cm_linker_free(l);
    return NULL;
  }
  return l;
}

/* ---- running a file ----------------------------------------------------------------- */

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *buf = malloc(n > 0 ? (size_t)n : 1);
  if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *len = n > 0 ? (size_t)n : 0;
  return buf;
}

/* Does trap message `got` say what the test expects (`want`, worded by
 * wasmtime or the reference interpreter)? */
static bool same_trap(const char *want, const char *got) {
  if (!*want || strstr(got, want)) return true;
  static const char *same[][2] = {
      {"string pointer/length out of bounds of memory", "string content out-of-bounds"},
      {"wasm `unreachable` instruction executed", "unreachable"},
      {"wasm trap: list content out-of-bounds", "list content out-of-bounds"},
      {"wasm trap: unaligned pointer", "unaligned pointer"},
      {"string pointer not aligned to 2", "unaligned pointer"},
      {"discriminant", "invalid variant discriminant"},
      {"unaligned pointer", "not aligned"},
      {"list content out-of-bounds", "beyond end of memory"},
      {"string content out-of-bounds", "beyond end of memory"},
  };
  for (size_t q = 0; q < sizeof same / sizeof same[0]; q++)
    if (strstr(want, same[q][0]) && strstr(got, same[q][1])) return true;
  return false;
}

/* Where a wasmtime test expects what its own adapters do and the
 * reference CanonicalABI.md (../shared/reference/component-model) says
 * otherwise, wharf follows the spec: the assertion is checked against the
 * spec's outcome instead, and the output says so. */
static const struct {
  const char *file;          /* suffix of the .json path */
  long line;
  const char *trap;          /* the trap the spec leads to */
  const char *why;
} spec_outcomes[] = {
    {"wasmtime/component-model/strings/strings.json", 173, "unreachable",
     "store_probably_utf16_to_latin1_or_utf16 deflates with realloc(ptr, 4, 1, 2): "
     "alignment 1, which the test's realloc rejects with unreachable (wasmtime asks "
     "alignment 2 and then reports the unaligned result)"},
};

static const char *spec_trap(const char *path, long line, const char **why) {
  size_t pl = strlen(path);
  for (size_t i = 0; i < sizeof spec_outcomes / sizeof spec_outcomes[0]; i++) {
    size_t fl = strlen(spec_outcomes[i].file);
    if (spec_outcomes[i].line == line && pl >= fl &&
        strcmp(path + pl - fl, spec_outcomes[i].file) == 0) {
      *why = spec_outcomes[i].why;
      return spec_outcomes[i].trap;
    }
  }
  return NULL;
}

#define MAX_DEFS 128
#define MAX_OWNED 1024

typedef struct filerun {
  const char *path;
  counts_t *dc;
  char dir[4096];
  wh_cm_linker_t *lk;
  wh_exec_t *x;
  wh_cm_component_t *cur_comp;     /* of the current instance */
  wh_cm_instance_t *cur;
  char cur_skip[200];              /* why there is no current instance */
  struct {
    const char *name;
    wh_cm_component_t *comp;       /* NULL: skipped, see why */
    char why[200];
  } defs[MAX_DEFS];
  unsigned ndefs;
  wh_cm_component_t *owned[MAX_OWNED];
  unsigned nowned;
  wh_cm_instance_t *named[MAX_DEFS];  /* registered in the linker: freed last */
  unsigned nnamed;
  char *source;                    /* the .wast text (NULL if unreadable) */
} filerun_t;

#define PASS() (total.pass++, fr->dc->pass++)
#define FAILF(...)                                   \
  do {                                               \
    total.fail++;                                    \
    fr->dc->fail++;                                  \
    printf("FAIL %s:%ld: ", fr->path, line);         \
    printf(__VA_ARGS__);                             \
    printf("\n");                                    \
  } while (0)

static void skip_one(filerun_t *fr, long line, const char *why) {
  if (verbose) printf("skip %s:%ld: %s\n", fr->path, line, why);
  tally_skip(fr->dc, why, 1, false);
}

static void keep(filerun_t *fr, wh_cm_component_t *c) {
  if (fr->nowned < MAX_OWNED) fr->owned[fr->nowned++] = c;
  else wh_cm_component_free(c);
}

static bool is_named(const filerun_t *fr, const wh_cm_instance_t *inst) {
  for (unsigned i = 0; i < fr->nnamed; i++)
    if (fr->named[i] == inst) return true;
  return false;
}

static void set_current(filerun_t *fr, wh_cm_instance_t *inst, wh_cm_component_t *c,
                        const char *skip) {
  if (!is_named(fr, fr->cur)) wh_cm_instance_free(fr->cur);
  fr->cur = inst;
  fr->cur_comp = c;
  snprintf(fr->cur_skip, sizeof fr->cur_skip, "%s", skip ? skip : "");
}

/* wasmtime's wast runner makes a named instance ($x) the import "x" of
 * later components.  Only names some import in the file uses are
 * registered (those instances then live until the end of the file). */
static void register_named(filerun_t *fr, const char *name, wh_cm_instance_t *inst) {
  if (!name || name[0] != '$' || !fr->source || fr->nnamed == MAX_DEFS) return;
  char pat[300];
  snprintf(pat, sizeof pat, "(import \"%.280s\"", name + 1);
  if (!strstr(fr->source, pat)) return;
  if (wh_cm_linker_define_instance(fr->lk, name + 1, inst) == 0) fr->named[fr->nnamed++] = inst;
}

/* Instantiates `c` with the harness linker (no stubs: an import the
 * harness lacks makes it unlinkable). */
static int instantiate(filerun_t *fr, wh_cm_component_t *c, wh_cm_instance_t **out, wh_diag_t *d) {
  return wh_cm_instantiate(fr->lk, c, fr->x, NULL, out, d);
}

/* invoke / assert_return / assert_trap on the current instance. */
static void run_invoke(filerun_t *fr, const char *ty, const char *text, long line) {
  if (!fr->cur) {
    skip_one(fr, line, fr->cur_skip[0] ? fr->cur_skip : "no instance to invoke");
    return;
  }
  const char *tp = text;
  sx_t cmd;
  wh_cm_val args[32], res, want;
  memset(args, 0, sizeof args);
  memset(&res, 0, sizeof res);
  memset(&want, 0, sizeof want);
  uint32_t np = 0;
  if (!sx_parse(&tp, &cmd)) {
    FAILF("cannot parse %s", text);
    goto out;
  }
  bool is_invoke = strcmp(ty, "invoke") == 0;
  const sx_t *inv = is_invoke ? &cmd : (cmd.n > 1 ? &cmd.kids[1] : NULL);
  if (!inv || !sx_head(inv, "invoke") || inv->n < 2 || !inv->kids[1].s) {
    FAILF("bad invoke %s", text);
    goto out;
  }
  const char *fname = inv->kids[1].s;
  wh_cm_type_ref_t ft;
  if (wh_cm_instance_func(fr->cur, fname, &ft)) {
    FAILF("no export %s", fname);
    goto out;
  }
  const wh_cm_component_t *cc = fr->cur_comp;
  np = wh_cm_type_field_count(cc, ft);
  if (np != inv->n - 2 || np > 32) {
    FAILF("%s takes %u arguments, the test passes %zu", fname, np, inv->n - 2);
    np = 0;
    goto out;
  }
  for (uint32_t k = 0; k < np; k++) {
    const char *nm;
    wh_cm_type_ref_t pt;
    wh_cm_type_field(cc, ft, k, &nm, &pt);
    if (!sx_val(cc, pt, &inv->kids[2 + k], &args[k])) {
      FAILF("cannot convert argument %u of %s", k, text);
      goto out;
    }
  }
  wh_cm_type_ref_t rt = wh_cm_type_elem(cc, ft);
  int rc = wh_cm_call(fr->cur, fname, args, np, &res, rt ? 1 : 0, fr->x);
  if (strcmp(ty, "assert_trap") == 0) {
    const char *w = cmd.n > 2 && cmd.kids[2].atom == 2 ? cmd.kids[2].s : "";
    const char *why = NULL, *st = spec_trap(fr->path, line, &why);
    if (st) {
      printf("note %s:%ld: expecting \"%s\" (the spec's outcome) for \"%s\": %s\n", fr->path,
             line, st, w, why);
      w = st;
    }
    const char *got = wh_cm_instance_trap(fr->cur);
    if (rc == WH_ETRAP && same_trap(w, got)) PASS();
    else if (rc == WH_ETRAP) FAILF("%s: trapped \"%s\", expected \"%s\"", fname, got, w);
    else FAILF("%s: expected trap \"%s\", got %s", fname, w, rc ? wh_errname(rc) : "a result");
    goto out;
  }
  if (rc) {
    FAILF("%s: %s: %s", fname, wh_errname(rc), wh_cm_instance_trap(fr->cur));
    goto out;
  }
  if (is_invoke) {
    PASS();
    goto out;
  }
  bool has = cmd.n > 2;
  if (has != (rt != 0)) {
    FAILF("%s: the test expects %s result, the function has %s", fname, has ? "a" : "no",
          rt ? "one" : "none");
  } else if (has && !sx_val(cc, rt, &cmd.kids[2], &want)) {
    FAILF("cannot convert expected result of %s", text);
  } else if (!has || wh_cm_val_eq(&want, &res)) {
    PASS();
  } else {
    char gb[512], wb[512];
    size_t go = 0, wo = 0;
    val_print(gb, sizeof gb, &go, &res);
    val_print(wb, sizeof wb, &wo, &want);
    FAILF("%s: got %s, expected %s", fname, gb, wb);
  }
out:
  for (uint32_t k = 0; k < 32; k++) wh_cm_val_fini(&args[k]);
  wh_cm_val_fini(&res);
  wh_cm_val_fini(&want);
  sx_free(&cmd);
}

/* component_instance: instantiate a named definition. */
static void run_instance(filerun_t *fr, json_t *c, long line) {
  const char *dn = json_string_value(json_object_get(c, "definition_name"));
  for (unsigned k = 0; dn && k < fr->ndefs; k++) {
    if (strcmp(fr->defs[k].name, dn) != 0) continue;
    if (!fr->defs[k].comp) {
      skip_one(fr, line, fr->defs[k].why);
      set_current(fr, NULL, NULL, fr->defs[k].why);
      return;
    }
    wh_diag_t d;
    wh_cm_instance_t *ni = NULL;
    int rc = instantiate(fr, fr->defs[k].comp, &ni, &d);
    if (rc) {
      FAILF("instance of %s: %s: %s", dn, wh_errname(rc), d.msg);
      set_current(fr, NULL, NULL, "the instance the test targets failed to instantiate");
      return;
    }
    set_current(fr, ni, fr->defs[k].comp, NULL);
    register_named(fr, json_string_value(json_object_get(c, "name")), ni);
    PASS();
    return;
  }
  FAILF("no definition named %s", dn ? dn : "(none)");
}

/* component, assert_invalid, assert_malformed, assert_unlinkable,
 * assert_trap on a component. */
static void run_component(filerun_t *fr, json_t *c, const char *ty, long line) {
  const char *fn = json_string_value(json_object_get(c, "filename"));
  const char *text = json_string_value(json_object_get(c, "text"));
  bool is_comp = strcmp(ty, "component") == 0;
  bool unlinkable = strcmp(ty, "assert_unlinkable") == 0;
  bool trap = strcmp(ty, "assert_trap") == 0;
  bool want_ok = is_comp || unlinkable || trap;
  bool is_def = json_is_true(json_object_get(c, "definition"));
  const char *name = json_string_value(json_object_get(c, "name"));
  if (!fn) {
    const char *pe = json_string_value(json_object_get(c, "parse_error"));
    const char *why =
        pe && strstr(pe, "component quote")
            ? "text format: `component quote` forms have no binary; wharf reads binaries only"
            : "not converted to a binary: uses the removed async `cancellable` option";
    skip_one(fr, line, why);
    if (is_comp && !is_def) set_current(fr, NULL, NULL, why);
    return;
  }
  char wpath[8192];
  snprintf(wpath, sizeof wpath, "%s/%s", fr->dir, fn);
  size_t len;
  uint8_t *bytes = read_file(wpath, &len);
  if (!bytes) {
    FAILF("cannot read %s", wpath);
    return;
  }
  wh_diag_t d;
  wh_cm_component_t *comp = wh_cm_component_new(engine, bytes, len, &d);
  free(bytes);
  if (!comp && d.code == WH_EUNSUPPORTED && !want_ok && text && *text && strstr(d.msg, text)) {
    PASS();   /* refused for exactly the reason the test names */
    return;
  }
  if (!comp && d.code == WH_EUNSUPPORTED) {
    /* a deliberate gap (async, GC, engine proposals, map types, ...) */
    char why[200];
    snprintf(why, sizeof why, "unsupported: %.150s", d.msg);
    printf("skip %s:%ld (%s): %s\n", fr->path, line, fn, why);
    tally_skip(fr->dc, why, 1, false);
    if (is_def && name && fr->ndefs < MAX_DEFS) {
      fr->defs[fr->ndefs].name = name;
      fr->defs[fr->ndefs].comp = NULL;
      snprintf(fr->defs[fr->ndefs++].why, sizeof fr->defs[0].why,
               "its definition was skipped as %.160s", why);
    } else if (is_comp) {
      char w2[200];
      snprintf(w2, sizeof w2, "targets a component skipped as %.160s", why);
      set_current(fr, NULL, NULL, w2);
    }
    return;
  }
  if (!want_ok) {
    wh_cm_component_free(comp);
    if (comp) FAILF("(%s) %s accepted (expected \"%s\")", fn, ty, text ? text : "");
    else PASS();
    if (verbose && !comp)
      printf("ok%s %s:%ld %s: got \"%s\" want \"%s\"\n",
             text && *text && strstr(d.msg, text) ? "  " : "~ ", fr->path, line, ty, d.msg,
             text ? text : "");
    return;
  }
  if (!comp) {
    if (unlinkable) {
      PASS();   /* rejected at validation: also unlinkable */
      return;
    }
    FAILF("(%s) component rejected: %s: %s (at %lld)", fn, wh_errname(d.code), d.msg, d.offset);
    if (is_comp && !is_def) set_current(fr, NULL, NULL, "the component failed to compile");
    return;
  }
  if (is_def) {
    if (name && fr->ndefs < MAX_DEFS) {
      fr->defs[fr->ndefs].name = name;
      fr->defs[fr->ndefs++].comp = comp;
    }
    keep(fr, comp);
    PASS();
    return;
  }
  wh_cm_instance_t *ni = NULL;
  wh_diag_t d2;
  int rc = instantiate(fr, comp, &ni, &d2);
  if (unlinkable) {
    if (rc == WH_EUNLINKABLE) {
      PASS();
      if (verbose) printf("ok %s:%ld assert_unlinkable: got \"%s\" want \"%s\"\n", fr->path, line,
                          d2.msg, text ? text : "");
    }
    else if (rc) FAILF("(%s) assert_unlinkable: %s: %s", fn, wh_errname(rc), d2.msg);
    else FAILF("(%s) assert_unlinkable: instantiated (expected \"%s\")", fn, text ? text : "");
    wh_cm_instance_free(ni);
    wh_cm_component_free(comp);
    return;
  }
  if (trap) {
    if (rc == WH_ETRAP && same_trap(text ? text : "", d2.msg)) PASS();
    else if (rc == WH_ETRAP) FAILF("(%s) trapped \"%s\", expected \"%s\"", fn, d2.msg, text);
    else FAILF("(%s) expected trap \"%s\", got %s %s", fn, text,
               rc ? wh_errname(rc) : "an instance", d2.msg);
    wh_cm_instance_free(ni);
    wh_cm_component_free(comp);
    return;
  }
  if (rc) {
    FAILF("(%s) cannot instantiate: %s: %s", fn, wh_errname(rc), d2.msg);
    wh_cm_component_free(comp);
    set_current(fr, NULL, NULL, "the component failed to instantiate");
    return;
  }
  set_current(fr, ni, comp, NULL);
  keep(fr, comp);
  register_named(fr, name, ni);
  PASS();
}

static void run_json(const char *root, const char *path) {
  json_error_t jerr;
  json_t *doc = json_load_file(path, 0, &jerr);
  counts_t *dc = dir_counts(path);
  if (!doc) {
    printf("FAIL %s: cannot parse JSON: %s\n", path, jerr.text);
    total.fail++;
    dc->fail++;
    return;
  }
  const char *source = json_string_value(json_object_get(doc, "source_filename"));
  json_t *cmds = json_object_get(doc, "commands");
  const char *gate = file_gate(root, path, source);
  size_t ncmds = json_array_size(cmds);
  if (gate) {
    unsigned k = 0;
    for (size_t i = 0; i < ncmds; i++)
      if (json_string_value(json_object_get(json_array_get(cmds, i), "type"))) k++;
    printf("skip %s (%u directives): %s\n", path, k, gate);
    tally_skip(dc, gate, k, true);
    json_decref(doc);
    return;
  }
  filerun_t *fr = calloc(1, sizeof *fr);
  if (!fr) {
    printf("FAIL %s: out of memory\n", path);
    total.fail++;
    dc->fail++;
    json_decref(doc);
    return;
  }
  fr->path = path;
  fr->dc = dc;
  snprintf(fr->dir, sizeof fr->dir, "%s", path);
  char *slash = strrchr(fr->dir, '/');
  if (slash) *slash = '\0';
  if (source) {
    char sp[4096];
    size_t sl;
    snprintf(sp, sizeof sp, "%s/component-spec/%s", root, source);
    uint8_t *src = read_file(sp, &sl);
    char *z = src ? realloc(src, sl + 1) : NULL;
    if (z) {
      z[sl] = '\0';
      fr->source = z;
    } else {
      free(src);
    }
  }
  fr->lk = harness_linker();
  fr->x = wh_exec_new(engine);
  snprintf(fr->cur_skip, sizeof fr->cur_skip, "no instance to invoke");
  if (!fr->lk || !fr->x) {
    printf("FAIL %s: cannot set up the linker\n", path);
    total.fail++;
    dc->fail++;
    ncmds = 0;
  }
  for (size_t i = 0; i < ncmds; i++) {
    json_t *c = json_array_get(cmds, i);
    const char *ty = json_string_value(json_object_get(c, "type"));
    const char *text = json_string_value(json_object_get(c, "text"));
    long line = (long)json_integer_value(json_object_get(c, "line"));
    if (!ty) continue;
    if (verbose) {
      printf("run %s:%ld %s\n", path, line, ty);
      fflush(stdout);
    }
    if (strcmp(ty, "component_instance") == 0) {
      run_instance(fr, c, line);
    } else if (strcmp(ty, "assert_return") == 0 || strcmp(ty, "invoke") == 0 ||
               (strcmp(ty, "assert_trap") == 0 && !json_object_get(c, "filename"))) {
      if (text) run_invoke(fr, ty, text, line);
      else FAILF("%s without text", ty);
    } else if (strcmp(ty, "component") == 0 || strcmp(ty, "assert_invalid") == 0 ||
               strcmp(ty, "assert_malformed") == 0 || strcmp(ty, "assert_unlinkable") == 0 ||
               strcmp(ty, "assert_trap") == 0) {
      run_component(fr, c, ty, line);
    } else {
      FAILF("unknown directive %s", ty);
    }
  }
  set_current(fr, NULL, NULL, NULL);
  for (unsigned k = fr->nnamed; k > 0; k--) wh_cm_instance_free(fr->named[k - 1]);
  for (unsigned k = 0; k < fr->nowned; k++) wh_cm_component_free(fr->owned[k]);
  free(fr->source);
  wh_cm_linker_free(fr->lk);
  wh_exec_free(fr->x);
  free(fr);
  json_decref(doc);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(const char *root, const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    printf("FAIL %s: %s\n", path, strerror(errno));
    total.fail++;
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".json") == 0) run_json(root, path);
    return;
  }
  DIR *d = opendir(path);
  if (!d) return;
  char **names = NULL;
  size_t nn = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    if (nn == cap) {
      cap = cap ? cap * 2 : 64;
      char **nv = realloc(names, cap * sizeof *names);
      if (!nv) break;
      names = nv;
    }
    names[nn++] = strdup(e->d_name);
  }
  closedir(d);
  qsort(names, nn, sizeof *names, cmp_str);
  for (size_t i = 0; i < nn; i++) {
    char sub[4096];
    snprintf(sub, sizeof sub, "%s/%s", path, names[i]);
    walk(root, sub);
    free(names[i]);
  }
  free(names);
}

int main(int argc, char **argv) {
  const char *root = getenv("WHARF_TESTDATA");
  int first = 1;
  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    verbose = 1;
    first = 2;
  }
  char buf[4096];
  if (!root || !*root) root = WHARF_TESTDATA_DEFAULT;
  snprintf(buf, sizeof buf, "%s/component-spec", root);
  struct stat st;
  if (first >= argc && stat(buf, &st) != 0) {
    root = "../shared/testdata";
    snprintf(buf, sizeof buf, "%s/component-spec", root);
    if (stat(buf, &st) != 0) {
      printf("component-spec test data not found (set WHARF_TESTDATA)\n");
      return 77;
    }
  }
  engine = wh_engine_new(NULL);
  if (!engine) {
    printf("cannot create engine\n");
    return 2;
  }
  wh_diag_t d;
  simple_module = wh_module_new(engine, simple_module_wasm, sizeof simple_module_wasm, &d);
  if (!simple_module) {
    printf("cannot compile the harness's simple-module: %s\n", d.msg);
    wh_engine_free(engine);
    return 2;
  }
  if (first < argc) {
    for (int i = first; i < argc; i++) walk(root, argv[i]);
  } else {
    const char *sub[] = {"component-model", "wasmtime", "wasm-tools"};
    for (int i = 0; i < 3; i++) {
      char p[4096];
      snprintf(p, sizeof p, "%s/component-spec/%s", root, sub[i]);
      walk(root, p);
    }
  }
  printf("skipped, by reason:\n");
  for (unsigned i = 0; i < ncats; i++) {
    if (cats[i].files)
      printf("  %5u  %s (%u whole file%s)\n", cats[i].n, cats[i].why, cats[i].files,
             cats[i].files == 1 ? "" : "s");
    else
      printf("  %5u  %s\n", cats[i].n, cats[i].why);
  }
  for (unsigned i = 0; i < ndirs; i++)
    printf("%s: %u passed, %u failed, %u skipped\n", dirs[i].name, dirs[i].c.pass,
           dirs[i].c.fail, dirs[i].c.skip);
  wh_module_free(simple_module);
  wh_engine_free(engine);
  printf("%u passed, %u failed, %u skipped\n", total.pass, total.fail, total.skip);
  return total.fail ? 1 : 0;
}
