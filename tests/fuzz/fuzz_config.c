/*
 * fuzz_config.c - wharfd's config parser (wh_cfg_load_string) on arbitrary
 * text.  Accepted or refused, it must not crash or leak; a refusal names
 * a line inside the text; an accepted config has its invariants.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "wh_config.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 65536) return 0;
  char *text = malloc(size + 1);
  if (!text) return 0;
  memcpy(text, data, size);
  text[size] = '\0';
  unsigned lines = 1;
  for (size_t i = 0; i < size; i++) lines += text[i] == '\n';
  wh_config_t c;
  wh_diag_t d;
  int rc = wh_cfg_load_string(text, "fuzz.conf", &c, &d);
  if (rc) {
    if (rc != WH_EINVAL && rc != WH_ENOMEM) abort();
    if (!d.msg[0] || (d.line > 0 && (unsigned)d.line > lines)) abort();
  } else {
    if (c.nlisten == 0 || c.nlisten > WH_CFG_MAX_LISTEN || !c.data_dir) abort();
    if (!c.tls_cert != !c.tls_key) abort();
    for (uint32_t i = 0; i < c.ntenants; i++)
      if (!c.tenants[i].has_key) abort();
    wh_cfg_fini(&c);
  }
  free(text);
  return 0;
}
