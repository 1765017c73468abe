/*
 * cow_none.c - no copy-on-write images (systems without memfd): every
 * module is initialised eagerly, its data segments copied at
 * instantiation.  Chosen by CMake where cow_linux.c cannot build.
 */
#include <stdlib.h>
#include <sys/mman.h>

#include "pool_int.h"

wh_pool_image_t *wh_pool__image_create(wh_pool_t *p, const uint8_t *bytes,
                                       size_t len, int *rc) {
  (void)p;
  (void)bytes;
  (void)len;
  *rc = WH_EUNSUPPORTED;
  return NULL;
}

void wh_pool__image_close(wh_pool_image_t *img) { (void)img; }

int wh_pool__image_map(const wh_pool_image_t *img, uint8_t *at) {
  (void)img;
  (void)at;
  return WH_EUNSUPPORTED;
}

int wh_pool__unmap(uint8_t *at, uint64_t len) {
  if (len == 0) return 0;
  void *q = mmap(at, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  return q == MAP_FAILED ? WH_ENOMEM : 0;
}

int wh_pool__reset_dirty(const wh_pool_image_t *img, uint8_t *at, uint64_t len,
                         uint64_t budget) {
  (void)img;
  (void)at;
  (void)len;
  (void)budget;
  return WH_EUNSUPPORTED;
}
