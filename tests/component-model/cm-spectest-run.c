/*
 * cm-spectest.c - wharf-component-spectest: runs the component-model spec
 * tests (converted to JSON command lists + binaries, see the testdata
 * README) against wh_cm_component_new.
 *
 *   wharf-component-spectest [-v] [FILE.json | DIR]...
 *
 * Default: every .json under $WHARF_TESTDATA/component-spec/{component-
 * model,wasmtime,wasm-tools} (else ../shared/testdata/...); exit 77 when
 * the data is absent.
 *
 * This slice evaluates the decode/validate directives only:
 *   component                       must decode and validate
 *   assert_invalid, assert_malformed must fail to decode or validate
 * Every other directive is counted as skipped ("needs instantiation").
 * Files gated on an out-of-scope feature (the wasmtime `;;! f = true`
 * lines, wasm-tools' `-f f` RUN flags, the async/ directories) are
 * skipped whole, named with the reason.  Ends with exactly
 * "N passed, M failed, K skipped".
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>

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
static unsigned unsupported;   /* components skipped as WH_EUNSUPPORTED */

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

/* Features a file may require that this slice does not implement. */
static const char *gated_reason(const char *feat) {
  static const struct { const char *f, *why; } tab[] = {
      {"component_model_async", "async (stream/future) is not supported"},
      {"component_model_async_stackful", "async is not supported"},
      {"component_model_more_async_builtins", "async is not supported"},
      {"component_model_error_context", "async (error-context) is not supported"},
      {"component_model_threading", "threading is not supported"},
      {"component_model_memory64", "64-bit component memories are not supported"},
      {"component_model_fixed_length_lists", "fixed-length lists are not supported"},
      {"component_model_map", "map types are not supported"},
      {"gc", "GC is not supported"},
      {"threads", "threads are not supported"},
      {"shared_everything_threads", "threads are not supported"},
      {"multi_memory", "multiple memories are not supported by the engine"},
      {"memory64", "memory64 is not supported by the engine"},
      {"exceptions", "exceptions are not supported by the engine"},
      {"function_references", "typed function references are not supported by the engine"},
      {"custom_page_sizes", "custom page sizes are not supported by the engine"},
      {"cm-async", "async (stream/future) is not supported"},
      {"cm-async-stackful", "async is not supported"},
      {"cm-more-async-builtins", "async is not supported"},
      {"cm-error-context", "async (error-context) is not supported"},
      {"cm-threading", "threading is not supported"},
      {"shared-everything-threads", "threads are not supported"},
      {"cm-gc", "GC is not supported"},
      {"cm64", "64-bit component memories are not supported"},
      {"cm-values", "component values (value section, start) are not supported"},
      {"cm-fixed-length-lists", "fixed-length lists are not supported"},
      {"cm-map", "map types are not supported"},
      {"cm-nested-names", "nested namespaces in names are not supported"},
      {"custom-page-sizes", "custom page sizes are not supported by the engine"},
  };
  for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
    if (strcmp(tab[i].f, feat) == 0) return tab[i].why;
  return NULL;
}

/* Reads the head of the .wast source for feature requirements; returns a
 * static reason string if the file is gated, else NULL. */
static const char *file_gate(const char *root, const char *json_path, const char *source) {
  static char why[256];
  if (strstr(json_path, "/async/") || (source && strstr(source, "/async/")))
    return "async (stream/future) is not supported";
  if (!source) return NULL;
  char path[4096];
  snprintf(path, sizeof path, "%s/component-spec/%s", root, source);
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char line[1024];
  const char *res = NULL;
  for (int n = 0; n < 12 && fgets(line, sizeof line, f); n++) {
    char feat[128];
    if (sscanf(line, ";;! %127s = true", feat) == 1) {
      const char *r = gated_reason(feat);
      if (r) {
        snprintf(why, sizeof why, "needs %s: %s", feat, r);
        res = why;
        break;
      }
    }
    if (sscanf(line, ";;! %127s = false", feat) == 1 &&
        strcmp(feat, "component_model_implements") == 0) {
      snprintf(why, sizeof why, "tests %s disabled; wharf implements it", feat);
      res = why;
      break;
    }
    char *run = strstr(line, ";; RUN:");
    if (run && !strstr(line, "RUN[")) {
      char *fl = strstr(run, " -f ");
      if (fl) {
        char list[512];
        if (sscanf(fl + 4, "%511s", list) == 1) {
          for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
            const char *r = gated_reason(tok);
            if (r) {
              snprintf(why, sizeof why, "needs %s: %s", tok, r);
              res = why;
              break;
            }
          }
        }
      }
      if (!res && strstr(run, "--features=-exceptions")) res = NULL;
    }
    if (res) break;
  }
  fclose(f);
  return res;
}

/* ---- s-expression values (the testdata README's forms) ----------------------- */

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
}

static size_t put_u8(char *o, uint32_t cp) {
  if (cp < 0x80) { o[0] = (char)cp; return 1; }
  if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
  if (cp < 0x10000) { o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[2] = (char)(0x80 | (cp & 0x3F)); return 3; }
  o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 0x3F)); o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); o[3] = (char)(0x80 | (cp & 0x3F)); return 4;
}

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool sx_parse(const char **p, sx_t *out) {
  memset(out, 0, sizeof *out);
  while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r') (*p)++;
  if (**p == '(') {
    (*p)++;
    size_t cap = 0;
    for (;;) {
      while (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r') (*p)++;
      if (**p == ')') { (*p)++; return true; }
      if (!**p) return false;
      if (out->n == cap) {
        cap = cap ? cap * 2 : 4;
        out->kids = realloc(out->kids, cap * sizeof *out->kids);
      }
      if (!sx_parse(p, &out->kids[out->n++])) return false;
    }
  }
  if (**p == '"') {
    (*p)++;
    size_t cap = strlen(*p) * 4 + 8;
    char *b = malloc(cap);
    size_t o = 0;
    while (**p && **p != '"') {
      if (**p == '\\') {
        (*p)++;
        char c = **p;
        if (c == 'n') { b[o++] = '\n'; (*p)++; }
        else if (c == 't') { b[o++] = '\t'; (*p)++; }
        else if (c == 'r') { b[o++] = '\r'; (*p)++; }
        else if (c == '"' || c == '\\' || c == '\'') { b[o++] = c; (*p)++; }
        else if (c == 'u' && (*p)[1] == '{') {
          *p += 2;
          uint32_t cp = 0;
          while (**p && **p != '}') { if (**p != '_') cp = cp * 16 + (uint32_t)hexv(**p); (*p)++; }
          if (**p) (*p)++;
          o += put_u8(b + o, cp);
        } else if (hexv(c) >= 0 && hexv((*p)[1]) >= 0) {
          b[o++] = (char)(hexv(c) * 16 + hexv((*p)[1]));
          *p += 2;
        } else { b[o++] = c; (*p)++; }
      } else {
        b[o++] = **p;
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
  while (**p && **p != ' ' && **p != '(' && **p != ')' && **p != '\n' && **p != '\t') (*p)++;
  if (*p == st) return false;
  out->atom = 1;
  out->len = (size_t)(*p - st);
  out->s = malloc(out->len + 1);
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
  for (; *s && o < sizeof buf - 1; s++) if (*s != '_') buf[o++] = *s;
  buf[o] = '\0';
  char *end;
  errno = 0;
  if (sign && buf[0] == '-') {
    long long v = strtoll(buf, &end, 0);
    *out = (uint64_t)v;
  } else {
    const char *b = buf[0] == '+' ? buf + 1 : buf;
    *out = strtoull(b, &end, 0);
  }
  return *end == '\0' && errno == 0;
}

static bool parse_float(const char *s, bool is32, wh_cm_val *v) {
  char buf[128];
  size_t o = 0;
  for (; *s && o < sizeof buf - 1; s++) if (*s != '_') buf[o++] = *s;
  buf[o] = '\0';
  const char *b = buf;
  bool neg = false;
  if (*b == '-' || *b == '+') { neg = *b == '-'; b++; }
  if (strncmp(b, "nan", 3) == 0) {
    if (is32) { uint32_t bits = 0x7fc00000u | (neg ? 0x80000000u : 0); memcpy(&v->of.f32, &bits, 4); }
    else { uint64_t bits = 0x7ff8000000000000ull | (neg ? 1ull << 63 : 0); memcpy(&v->of.f64, &bits, 8); }
    return true;
  }
  double d = strcmp(b, "inf") == 0 ? HUGE_VAL : strtod(b, NULL);
  if (neg) d = -d;
  if (is32) v->of.f32 = (float)d; else v->of.f64 = d;
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

/* Converts an s-expression value of type t into *v; false if it does not fit. */
static bool sx_val(const wh_cm_component_t *c, wh_cm_type_ref_t t, const sx_t *x, wh_cm_val *v) {
  memset(v, 0, sizeof *v);
  if (x->atom || x->n == 0 || x->kids[0].atom != 1) return false;
  const char *h = x->kids[0].s;
  wh_cm_tkind_t k = wh_cm_type_kind(c, t);
  const sx_t *a1 = x->n > 1 ? &x->kids[1] : NULL;
  if (strcmp(h, "bool.const") == 0) {
    if (!a1) return false;
    *v = wh_cm_val_bool(strcmp(a1->s, "true") == 0);
    return true;
  }
  static const char *ints[] = {"s8.const", "u8.const", "s16.const", "u16.const", "s32.const", "u32.const", "s64.const", "u64.const"};
  static const uint8_t ik[] = {WH_CM_V_S8, WH_CM_V_U8, WH_CM_V_S16, WH_CM_V_U16, WH_CM_V_S32, WH_CM_V_U32, WH_CM_V_S64, WH_CM_V_U64};
  for (int i = 0; i < 8; i++) {
    if (strcmp(h, ints[i]) != 0) continue;
    uint64_t u;
    if (!a1 || !parse_int(a1->s, true, &u)) return false;
    v->kind = ik[i];
    bool sgn = i % 2 == 0;
    unsigned bits = 8u << (i / 2);
    if (sgn) {
      int64_t s = (int64_t)u;
      if (bits < 64) { uint64_t m = (1ull << bits) - 1; s = (int64_t)(u & m); if (s & (int64_t)(1ull << (bits - 1))) s -= (int64_t)(1ull << bits); }
      v->of.s = s;
    } else {
      v->of.u = bits < 64 ? (u & ((1ull << bits) - 1)) : u;
    }
    return true;
  }
  if (strcmp(h, "f32.const") == 0 || strcmp(h, "f64.const") == 0) {
    bool is32 = h[1] == '3';
    v->kind = is32 ? WH_CM_V_F32 : WH_CM_V_F64;
    return a1 && parse_float(a1->s, is32, v);
  }
  if (strcmp(h, "char.const") == 0) {
    if (!a1) return false;
    const unsigned char *s = (const unsigned char *)a1->s;
    uint32_t cp = s[0];
    if (cp >= 0xF0) cp = ((cp & 7u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
    else if (cp >= 0xE0) cp = ((cp & 15u) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
    else if (cp >= 0xC0) cp = ((cp & 31u) << 6) | (s[1] & 0x3Fu);
    *v = wh_cm_val_char(cp);
    return true;
  }
  if (strcmp(h, "str.const") == 0) return a1 && wh_cm_val_string(v, a1->s, a1->len) == 0;
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
      if (!sx_head(f, "field") || f->n < 3) return false;
      int fi = name_index(c, t, f->kids[1].s);
      if (fi < 0) return false;
      const char *nm;
      wh_cm_type_ref_t ft;
      wh_cm_type_field(c, t, (uint32_t)fi, &nm, &ft);
      sx_t tmp = {0, NULL, 0, (sx_t *)&f->kids[2], f->n - 2};
      if (f->kids[2].atom == 0) { if (!sx_val(c, ft, &f->kids[2], &v->of.agg.v[fi])) return false; }
      else if (!sx_val(c, ft, &tmp, &v->of.agg.v[fi])) return false;
    }
    return true;
  }
  if (strcmp(h, "variant.const") == 0) {
    if (!a1) return false;
    int ci = name_index(c, t, a1->s);
    if (ci < 0) return false;
    const char *nm;
    wh_cm_type_ref_t ct;
    wh_cm_type_field(c, t, (uint32_t)ci, &nm, &ct);
    wh_cm_val p;
    if (x->n > 2) {
      if (!sx_val(c, ct, &x->kids[2], &p)) return false;
      return wh_cm_val_case(v, WH_CM_V_VARIANT, (uint32_t)ci, &p) == 0;
    }
    return wh_cm_val_case(v, WH_CM_V_VARIANT, (uint32_t)ci, NULL) == 0;
  }
  if (strcmp(h, "enum.const") == 0) {
    int ci = a1 ? name_index(c, t, a1->s) : -1;
    if (ci < 0) return false;
    *v = wh_cm_val_enum((uint32_t)ci);
    return true;
  }
  if (strcmp(h, "flags.const") == 0) {
    if (wh_cm_val_flags(v, wh_cm_type_field_count(c, t))) return false;
    for (size_t i = 1; i < x->n; i++) {
      int fi = name_index(c, t, x->kids[i].s);
      if (fi < 0) return false;
      wh_cm_val_flag_set(v, (uint32_t)fi, true);
    }
    return true;
  }
  if (strcmp(h, "option.none") == 0) return wh_cm_val_case(v, WH_CM_V_OPTION, 0, NULL) == 0;
  if (strcmp(h, "option.some") == 0) {
    wh_cm_val p;
    if (!a1 || !sx_val(c, wh_cm_type_elem(c, t), a1, &p)) return false;
    return wh_cm_val_case(v, WH_CM_V_OPTION, 1, &p) == 0;
  }
  if (strcmp(h, "result.ok") == 0 || strcmp(h, "result.err") == 0) {
    bool ok = h[7] == 'o';
    wh_cm_type_ref_t pt = ok ? wh_cm_type_elem(c, t) : wh_cm_type_err(c, t);
    if (a1) {
      wh_cm_val p;
      if (!sx_val(c, pt, a1, &p)) return false;
      return wh_cm_val_case(v, WH_CM_V_RESULT, ok ? 0 : 1, &p) == 0;
    }
    return wh_cm_val_case(v, WH_CM_V_RESULT, ok ? 0 : 1, NULL) == 0;
  }
  (void)k;
  return false;
}

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
  if (!gate && source) {
    char sp[4096];
    snprintf(sp, sizeof sp, "%s/component-spec/%s", root, source);
    size_t sl;
    uint8_t *src = read_file(sp, &sl);
    if (src) {
      char *z = realloc(src, sl + 1);
      if (z) {
        z[sl] = 0;
        if (strstr(z, "(import \"host\"")) gate = "imports wasmtime's `host` harness instance (host resources, "
                                                  "return/trap host functions): not provided by this runner";
        free(z);
      } else {
        free(src);
      }
    }
  }
  if (gate) {
    unsigned k = 0;
    for (size_t i = 0; i < ncmds; i++) {
      const char *ty = json_string_value(json_object_get(json_array_get(cmds, i), "type"));
      if (ty) k++;
    }
    printf("skip %s (%u directives): %s\n", path, k, gate);
    total.skip += k;
    dc->skip += k;
    json_decref(doc);
    return;
  }
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  unsigned skipped_inst = 0, skipped_text = 0;
  wh_cm_component_t *cur_comp = NULL;      /* of the current instance */
  wh_cm_instance_t *cur = NULL;
  wh_cm_component_t *defs[64];
  char *defnames[64];
  unsigned ndefs = 0;
  wh_cm_component_t *owned[512];
  unsigned nowned = 0;
  wh_cm_linker_t *lk = wh_cm_linker_new(engine);
  wh_exec_t *x = wh_exec_new(engine);
  for (size_t i = 0; i < ncmds; i++) {
    json_t *c = json_array_get(cmds, i);
    const char *ty = json_string_value(json_object_get(c, "type"));
    const char *fn = json_string_value(json_object_get(c, "filename"));
    const char *text = json_string_value(json_object_get(c, "text"));
    long line = (long)json_integer_value(json_object_get(c, "line"));
    if (!ty) continue;
#define PASS() do { total.pass++; dc->pass++; } while (0)
#define FAILF(...) do { total.fail++; dc->fail++; printf("FAIL %s:%ld: ", path, line); printf(__VA_ARGS__); printf("\n"); } while (0)
    if (strcmp(ty, "component_instance") == 0) {
      const char *dn = json_string_value(json_object_get(c, "definition_name"));
      wh_cm_component_t *def = NULL;
      for (unsigned k = 0; dn && k < ndefs; k++) if (strcmp(defnames[k], dn) == 0) def = defs[k];
      if (!def) { skipped_inst++; continue; }
      wh_diag_t d;
      wh_cm_instance_t *ni = NULL;
      int rc = wh_cm_instantiate(lk, def, x, NULL, &ni, &d);
      if (rc) { FAILF("instance of %s: %s", dn, d.msg); continue; }
      wh_cm_instance_free(cur);
      cur = ni;
      cur_comp = def;
      PASS();
      continue;
    }
    if (strcmp(ty, "assert_return") == 0 || strcmp(ty, "assert_trap") == 0 || strcmp(ty, "invoke") == 0) {
      if (!cur || !text) { skipped_inst++; if (verbose) printf("skip %s:%ld: no instance\n", path, line); continue; }
      const char *tp = text;
      sx_t cmd;
      if (!sx_parse(&tp, &cmd)) { sx_free(&cmd); FAILF("cannot parse %s", text); continue; }
      const sx_t *inv = strcmp(ty, "invoke") == 0 ? &cmd : (cmd.n > 1 ? &cmd.kids[1] : NULL);
      if (!inv || !sx_head(inv, "invoke") || inv->n < 2) { sx_free(&cmd); FAILF("bad invoke %s", text); continue; }
      const char *fname = inv->kids[1].s;
      wh_cm_type_ref_t ft;
      if (wh_cm_instance_func(cur, fname, &ft)) { FAILF("no export %s", fname); sx_free(&cmd); continue; }
      uint32_t np = wh_cm_type_field_count(cur_comp, ft);
      wh_cm_val args[32];
      memset(args, 0, sizeof args);
      bool ok = np == inv->n - 2 && np <= 32;
      for (uint32_t k = 0; ok && k < np; k++) {
        const char *nm;
        wh_cm_type_ref_t pt;
        wh_cm_type_field(cur_comp, ft, k, &nm, &pt);
        ok = sx_val(cur_comp, pt, &inv->kids[2 + k], &args[k]);
      }
      if (!ok) {
        for (uint32_t k = 0; k < 32; k++) wh_cm_val_fini(&args[k]);
        sx_free(&cmd);
        FAILF("cannot convert args of %s", text);
        continue;
      }
      wh_cm_type_ref_t rt = wh_cm_type_elem(cur_comp, ft);
      wh_cm_val res;
      memset(&res, 0, sizeof res);
      int rc = wh_cm_call(cur, fname, args, np, &res, rt ? 1 : 0, x);
      for (uint32_t k = 0; k < np; k++) wh_cm_val_fini(&args[k]);
      if (strcmp(ty, "assert_trap") == 0) {
        const char *want = cmd.n > 2 && cmd.kids[2].atom == 2 ? cmd.kids[2].s : "";
        const char *got = wh_cm_instance_trap(cur);
        if (rc == WH_ETRAP && (strstr(got, want) || !*want)) PASS();
        else if (rc == WH_ETRAP) {
          /* the same trap, worded by another engine */
          static const char *same[][2] = {
              {"string pointer/length out of bounds of memory", "string content out-of-bounds"},
              {"wasm `unreachable` instruction executed", "unreachable"},
              {"unreachable", "unreachable"},
              {"wasm trap: list content out-of-bounds", "list content out-of-bounds"},
              {"wasm trap: unaligned pointer", "unaligned pointer"},
              {"invalid utf-8", "invalid utf-8"},
              {"string pointer not aligned to 2", "unaligned pointer"},
              {"invalid variant discriminant", "invalid variant discriminant"},
              {"discriminant", "invalid variant discriminant"},
              {"unaligned pointer", "not aligned"},
              {"list content out-of-bounds", "beyond end of memory"},
          };
          bool eq = false;
          for (size_t q = 0; q < sizeof same / sizeof same[0]; q++)
            if (strstr(want, same[q][0]) && strstr(got, same[q][1])) eq = true;
          if (eq) PASS();
          else FAILF("%s: trapped \"%s\", expected \"%s\"", fname, got, want);
        } else {
          FAILF("%s: expected trap \"%s\", got rc %s", fname, want, wh_errname(rc));
        }
      } else if (rc) {
        FAILF("%s: %s: %s", fname, wh_errname(rc), wh_cm_instance_trap(cur));
      } else if (strcmp(ty, "invoke") == 0) {
        PASS();
      } else {
        wh_cm_val want;
        memset(&want, 0, sizeof want);
        bool has = cmd.n > 2;
        if (has && !sx_val(cur_comp, rt, &cmd.kids[2], &want)) {
          FAILF("cannot convert expected result of %s", text);
        } else if (!has && !rt) {
          PASS();
        } else if (has && rt && wh_cm_val_eq(&want, &res)) {
          PASS();
        } else {
          FAILF("%s: wrong result for %s", fname, text);
        }
        wh_cm_val_fini(&want);
      }
      wh_cm_val_fini(&res);
      sx_free(&cmd);
      continue;
    }
    bool want_ok;
    bool unlinkable = strcmp(ty, "assert_unlinkable") == 0;
    if (strcmp(ty, "component") == 0 || unlinkable) want_ok = true;
    else if (strcmp(ty, "assert_invalid") == 0 || strcmp(ty, "assert_malformed") == 0) want_ok = false;
    else {
      skipped_inst++;
      continue;
    }
    if (!fn) {
      skipped_text++;
      continue;
    }
    char wpath[8192];
    snprintf(wpath, sizeof wpath, "%s/%s", dir, fn);
    size_t len;
    uint8_t *bytes = read_file(wpath, &len);
    if (!bytes) {
      printf("FAIL %s:%ld: cannot read %s\n", path, line, wpath);
      total.fail++;
      dc->fail++;
      continue;
    }
    wh_diag_t d;
    wh_cm_component_t *comp = wh_cm_component_new(engine, bytes, len, &d);
    bool ok = comp != NULL;
    free(bytes);
    if (ok && want_ok) {
      /* instantiate: a definition is only compiled; assert_unlinkable must fail */
      bool is_def = json_is_true(json_object_get(c, "definition"));
      const char *nm = json_string_value(json_object_get(c, "name"));
      if (is_def) {
        if (ndefs < 64 && nm) {
          defs[ndefs] = comp;
          defnames[ndefs++] = (char *)nm;
        }
        if (nowned < 512) owned[nowned++] = comp; else wh_cm_component_free(comp);
        PASS();
        continue;
      }
      wh_cm_instance_t *ni = NULL;
      wh_diag_t d2;
      int rc = wh_cm_instantiate(lk, comp, x, NULL, &ni, &d2);
      if (rc == WH_EUNLINKABLE && !unlinkable) {
        /* imports this runner does not provide: link them to trapping stubs */
        wh_cm_linker_trap_missing(lk, true);
        rc = wh_cm_instantiate(lk, comp, x, NULL, &ni, &d2);
        wh_cm_linker_trap_missing(lk, false);
      }
      if (unlinkable) {
        if (rc) PASS();
        else FAILF("(%s) assert_unlinkable: instantiated", fn);
        wh_cm_instance_free(ni);
        wh_cm_component_free(comp);
        continue;
      }
      if (rc) {
        FAILF("(%s) cannot instantiate: %s: %s", fn, wh_errname(rc), d2.msg);
        wh_cm_component_free(comp);
        continue;
      }
      wh_cm_instance_free(cur);
      cur = ni;
      cur_comp = comp;
      if (nowned < 512) owned[nowned++] = comp;
      PASS();
      continue;
    }
    if (!ok && unlinkable) {
      PASS();  /* rejected at validation: also unlinkable */
      continue;
    }
    wh_cm_component_free(comp);
    if (!ok && want_ok && d.code == WH_EUNSUPPORTED) {
      /* a deliberate gap (async, GC, engine proposals, host limits) */
      printf("skip %s:%ld (%s): unsupported: %s\n", path, line, fn, d.msg);
      total.skip++;
      dc->skip++;
      unsupported++;
    } else if (ok == want_ok) {
      total.pass++;
      dc->pass++;
      if (verbose && !ok) {
        bool same = text && *text && strstr(d.msg, text);
        printf("ok%s %s:%ld %s: got \"%s\" want \"%s\"\n", same ? "  " : "~ ", path, line, ty,
               d.msg, text ? text : "");
      }
    } else {
      total.fail++;
      dc->fail++;
      if (want_ok)
        printf("FAIL %s:%ld (%s): component rejected: %s: %s (at %lld)\n", path, line, fn,
               wh_errname(d.code), d.msg, d.offset);
      else
        printf("FAIL %s:%ld (%s): %s accepted (expected \"%s\")\n", path, line, fn, ty,
               text ? text : "");
    }
  }
  wh_cm_instance_free(cur);
  for (unsigned k = 0; k < nowned; k++) wh_cm_component_free(owned[k]);
  wh_cm_linker_free(lk);
  wh_exec_free(x);
  if (skipped_inst || skipped_text) {
    if (verbose || skipped_text)
      printf("skip %s: %u directives not run (no instance to invoke)%s%u text-only\n",
             path, skipped_inst, skipped_text ? ", " : ", ", skipped_text);
    total.skip += skipped_inst + skipped_text;
    dc->skip += skipped_inst + skipped_text;
  }
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
      names = realloc(names, cap * sizeof *names);
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
  for (unsigned i = 0; i < ndirs; i++)
    printf("%s: %u passed, %u failed, %u skipped\n", dirs[i].name, dirs[i].c.pass,
           dirs[i].c.fail, dirs[i].c.skip);
  wh_engine_free(engine);
  if (unsupported)
    printf("(%u component definitions skipped: they use a feature wharf does not support)\n",
           unsupported);
  printf("%u passed, %u failed, %u skipped\n", total.pass, total.fail, total.skip);
  return total.fail ? 1 : 0;
}
