/*
 * provider_bad.c - exports wharf:link/store@0.1.0 with greet returning a
 * u32 (store_bad.wit), so a link of consumer.c's import to it must be
 * refused at deploy with both types named (tests/components/link).
 */
#include <stdint.h>
#include <stdlib.h>

#define EXPORT(name) __attribute__((export_name(name)))

EXPORT("cabi_realloc")
void *cabi_realloc(void *old_ptr, size_t old_size, size_t align, size_t new_size) {
  (void)old_size;
  (void)align;
  if (new_size == 0) return (void *)16;
  void *p = realloc(old_ptr, new_size);
  if (!p) abort();
  return p;
}

EXPORT("wharf:link/store@0.1.0#greet")
uint32_t export_greet(char *name, size_t len) {
  free(name);
  return (uint32_t)len;
}
