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
  for (size_t i = 0; i < ncmds; i++) {
    json_t *c = json_array_get(cmds, i);
    const char *ty = json_string_value(json_object_get(c, "type"));
    const char *fn = json_string_value(json_object_get(c, "filename"));
    long line = (long)json_integer_value(json_object_get(c, "line"));
    if (!ty) continue;
    bool want_ok;
    if (strcmp(ty, "component") == 0) want_ok = true;
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
    wh_cm_component_free(comp);
    free(bytes);
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
        const char *text = json_string_value(json_object_get(c, "text"));
        bool same = text && *text && strstr(d.msg, text);
        printf("ok%s %s:%ld %s: got \"%s\" want \"%s\"\n", same ? "  " : "~ ", path, line, ty,
               d.msg, text ? text : "");
      }
    } else {
      total.fail++;
      dc->fail++;
      const char *text = json_string_value(json_object_get(c, "text"));
      if (want_ok)
        printf("FAIL %s:%ld (%s): component rejected: %s: %s (at %lld)\n", path, line, fn,
               wh_errname(d.code), d.msg, d.offset);
      else
        printf("FAIL %s:%ld (%s): %s accepted (expected \"%s\")\n", path, line, fn, ty,
               text ? text : "");
    }
  }
  if (skipped_inst || skipped_text) {
    if (verbose || skipped_text)
      printf("skip %s: %u directives need instantiation (not implemented yet)%s%u text-only\n",
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
