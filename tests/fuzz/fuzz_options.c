/*
 * fuzz_options.c - wharfd's deploy options (wh_deps_parse_options: the
 * query string of POST /v1/components/NAME, docs/API.md "Deploy options"
 * and "Links") on arbitrary text.  Accepted or refused, it must not crash
 * or leak; a refusal explains itself; an accepted query gives JSON (or
 * nothing) that parses back to an object of the known options within the
 * registry's size bound, and that the daemon's own option reader takes.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

static void check_options(const char *text) {
  json_error_t jerr;
  json_t *o = json_loads(text, 0, &jerr);
  if (!json_is_object(o) || json_object_size(o) == 0) abort();
  if (strlen(text) > WH_REG_OPTIONS_MAX) abort();
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    if (!strcmp(key, "stub_missing_imports")) {
      if (!json_is_boolean(v)) abort();
    } else if (!strcmp(key, "args")) {
      if (!json_is_array(v) || json_array_size(v) == 0) abort();
    } else if (!strcmp(key, "env") || !strcmp(key, "link")) {
      if (!json_is_object(v) || json_object_size(v) == 0) abort();
      const char *k2;
      json_t *v2;
      json_object_foreach(v, k2, v2) {
        if (!json_is_string(v2) || !k2[0]) abort();
        if (!strcmp(key, "link") && !wh_reg_valid_name(json_string_value(v2))) abort();
      }
    } else {
      abort();
    }
  }
  json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 16384) return 0;
  char *q = malloc(size + 1);
  if (!q) return 0;
  memcpy(q, data, size);
  q[size] = '\0';
  char *out = NULL, why[256] = "";
  int rc = wh_deps_parse_options(q, &out, why, sizeof why);
  if (rc) {
    if ((rc != WH_EINVAL && rc != WH_ENOMEM) || out || !why[0]) abort();
  } else if (out) {
    check_options(out);
    wh_deployment_t *dep = calloc(1, sizeof *dep);
    if (!dep) abort();
    dep->refs = 1;
    wh_diag_t d;
    if (wh_deps_apply_options(dep, out, &d) != 0) abort();
    wh_dep_unref(dep);
  }
  free(out);
  free(q);
  return 0;
}
