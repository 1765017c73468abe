/*
 * consumer.c - the importing side of the linking test: a reactor
 * component importing interface wharf:link/store@0.1.0 (store.wit) and
 * exporting functions that call it, built at test time like provider.c.
 * wharfd links the import to provider.c's export at deploy
 * (?link=wharf:link/store@0.1.0=NAME); every call below then crosses
 * from this component's memory into the provider's and back.
 *
 *   import (module IFACE)   core signature
 *   greet                   (ptr, len, retptr)          -> retptr: ptr, len
 *   sum                     (ptr, len) -> i64
 *   upper                   (kptr, klen, tptr, tlen, score, retptr)
 *                                                       -> retptr: entry (20 bytes)
 *   [constructor]counter    (start) -> own handle
 *   [method]counter.add     (handle, n) -> u32
 *   [method]counter.label   (handle, retptr)            -> retptr: ptr, len
 *   [resource-drop]counter  (handle)
 *
 * What the imports return in memory was allocated here (cabi_realloc)
 * and is ours to free; what we pass them stays ours too.
 *
 *   export                  core signature              return area
 *   greet-twice(name)       (ptr, len) -> area          0: ptr 4: len
 *   total(xs)               (ptr, len) -> i64
 *   shout(key, tags, score) (kptr, klen, tptr, tlen, score) -> area (entry)
 *   count(start, times)     (start, times) -> area      0: u32 4: ptr 8: len
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IFACE "wharf:link/store@0.1.0"
#define EXPORT(name) __attribute__((export_name(name)))
#define IMPORT(name) __attribute__((import_module(IFACE), import_name(name)))

IMPORT("greet") extern void store_greet(const char *p, size_t n, uint8_t *ret);
IMPORT("sum") extern int64_t store_sum(const int32_t *p, size_t n);
IMPORT("upper") extern void store_upper(const char *kp, size_t kn, const uint8_t *tp, size_t tn,
                                        uint32_t score, uint8_t *ret);
IMPORT("[constructor]counter") extern int32_t store_counter_new(uint32_t start);
IMPORT("[method]counter.add") extern uint32_t store_counter_add(int32_t h, uint32_t n);
IMPORT("[method]counter.label") extern void store_counter_label(int32_t h, uint8_t *ret);
IMPORT("[resource-drop]counter") extern void store_counter_drop(int32_t h);

static _Alignas(8) uint8_t ret_area[24];

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

EXPORT("cabi_realloc")
void *cabi_realloc(void *old_ptr, size_t old_size, size_t align, size_t new_size) {
  (void)old_size;
  (void)align;
  if (new_size == 0) return (void *)16;
  void *p = realloc(old_ptr, new_size);
  if (!p) abort();
  return p;
}

EXPORT("greet-twice")
uint8_t *export_greet_twice(char *name, size_t len) {
  _Alignas(4) uint8_t r1[8], r2[8];
  store_greet(name, len, r1);
  free(name);
  char *once = (char *)(uintptr_t)get_u32(r1);
  store_greet(once, get_u32(r1 + 4), r2);
  free(once);
  memcpy(ret_area, r2, 8);
  return ret_area;
}

EXPORT("cabi_post_greet-twice")
void post_greet_twice(uint8_t *area) { free((void *)(uintptr_t)get_u32(area)); }

EXPORT("total")
int64_t export_total(int32_t *xs, size_t n) {
  int64_t s = store_sum(xs, n);
  free(xs);
  return s;
}

EXPORT("shout")
uint8_t *export_shout(char *key, size_t klen, uint8_t *tags, size_t ntags, uint32_t score) {
  store_upper(key, klen, tags, ntags, score, ret_area);
  /* ours again: what we passed (the provider got copies) */
  free(key);
  for (size_t i = 0; i < ntags; i++) free((void *)(uintptr_t)get_u32(tags + 8 * i));
  free(tags);
  return ret_area;   /* the entry the provider returned, now in our memory */
}

EXPORT("cabi_post_shout")
void post_shout(uint8_t *area) {
  free((void *)(uintptr_t)get_u32(area));
  uint8_t *tags = (uint8_t *)(uintptr_t)get_u32(area + 8);
  for (uint32_t i = 0; i < get_u32(area + 12); i++) free((void *)(uintptr_t)get_u32(tags + 8 * i));
  free(tags);
}

EXPORT("count")
uint8_t *export_count(uint32_t start, uint32_t times) {
  int32_t h = store_counter_new(start);
  uint32_t v = start;
  for (uint32_t i = 0; i < times; i++) v = store_counter_add(h, 1);
  _Alignas(4) uint8_t label[8];
  store_counter_label(h, label);
  store_counter_drop(h);
  put_u32(ret_area, v);
  memcpy(ret_area + 4, label, 8);
  return ret_area;
}

EXPORT("cabi_post_count")
void post_count(uint8_t *area) { free((void *)(uintptr_t)get_u32(area + 4)); }
