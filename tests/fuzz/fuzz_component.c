/*
 * fuzz_component.c - wh_cm_component_new (decode + validate, including the
 * core modules inside) on arbitrary bytes.  Accepted or refused, it must
 * not crash or leak; a refusal carries a documented code and a message
 * whose offset lies inside the input; an accepted component prints as WIT.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "wh_cm.h"

static wh_engine_t *engine;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  engine = wh_engine_new(NULL);
  if (!engine) fuzz_fail("wh_engine_new failed");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  wh_diag_t d;
  wh_cm_component_t *c = wh_cm_component_new(engine, data, size, &d);
  if (!c) {
    if (d.code != WH_EMALFORMED && d.code != WH_EINVALID && d.code != WH_EUNSUPPORTED &&
        d.code != WH_ENOTCOMPONENT && d.code != WH_ENOMEM && d.code != WH_ELIMIT &&
        d.code != WH_ECOMPONENT)
      abort();                          /* an undocumented refusal */
    if (!d.msg[0] || d.offset > (long long)size) abort();
    return 0;
  }
  char *wit = NULL;
  if (wh_cm_component_wit(c, &wit) == 0 && !wit) abort();
  free(wit);
  wh_cm_component_free(c);
  return 0;
}
