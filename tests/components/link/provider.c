/*
 * provider.c - the exporting side of the linking test: a reactor
 * component exporting interface wharf:link/store@0.1.0 (store.wit), built
 * at test time by tests/components/build.sh (clang + wasi-libc, jco embed,
 * jco new).  Canonical ABI glue by hand, as in clock_random.c; wit-component's
 * names for an exported interface ("IFACE#fn", "[constructor]r",
 * "[method]r.m", "[dtor]r", resource built-ins imported from
 * "[export]IFACE").
 *
 *   export                 core signature                 return area
 *   greet(name)            (ptr, len) -> area             0: ptr 4: len
 *   sum(xs)                (ptr, len) -> i64
 *   upper(entry)           (kptr, klen, tptr, tlen, score) -> area
 *                                                         0: key 8: tags 16: score
 *   [constructor]counter   (start) -> handle
 *   [method]counter.add    (rep, n) -> u32               (a borrow of its own
 *   [method]counter.label  (rep) -> area 0: ptr 4: len    resource is the rep)
 *   [dtor]counter          (rep)
 *
 * Memory handed in (strings, lists) is the callee's to free; results left
 * in memory are freed by the cabi_post_* functions once copied out.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IFACE "wharf:link/store@0.1.0"
#define EXPORT(name) __attribute__((export_name(name)))

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
  (void)align;   /* malloc aligns to 16, more than any type here needs */
  if (new_size == 0) return (void *)16;
  void *p = realloc(old_ptr, new_size);
  if (!p) abort();
  return p;
}

/* ---- functions ---------------------------------------------------------- */

EXPORT(IFACE "#greet")
uint8_t *export_greet(char *name, size_t len) {
  static const char hello[] = "hello, ";
  char *out = malloc(sizeof hello - 1 + len + 1);
  if (!out) abort();
  memcpy(out, hello, sizeof hello - 1);
  memcpy(out + sizeof hello - 1, name, len);
  free(name);
  put_u32(ret_area, (uint32_t)(uintptr_t)out);
  put_u32(ret_area + 4, (uint32_t)(sizeof hello - 1 + len));
  return ret_area;
}

EXPORT("cabi_post_" IFACE "#greet")
void post_greet(uint8_t *area) { free((void *)(uintptr_t)get_u32(area)); }

EXPORT(IFACE "#sum")
int64_t export_sum(int32_t *xs, size_t n) {
  int64_t s = 0;
  for (size_t i = 0; i < n; i++) s += xs[i];
  free(xs);
  return s;
}

static void upcase(char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] >= 'a' && s[i] <= 'z') s[i] = (char)(s[i] - 'a' + 'A');
}

/* The entry comes in flat; the strings and the tags list are ours, so
 * they are changed in place and handed back (freed by post-return). */
EXPORT(IFACE "#upper")
uint8_t *export_upper(char *key, size_t klen, uint8_t *tags, size_t ntags, uint32_t score) {
  upcase(key, klen);
  for (size_t i = 0; i < ntags; i++)
    upcase((char *)(uintptr_t)get_u32(tags + 8 * i), get_u32(tags + 8 * i + 4));
  put_u32(ret_area, (uint32_t)(uintptr_t)key);
  put_u32(ret_area + 4, (uint32_t)klen);
  put_u32(ret_area + 8, (uint32_t)(uintptr_t)tags);
  put_u32(ret_area + 12, (uint32_t)ntags);
  put_u32(ret_area + 16, score + 1);
  return ret_area;
}

EXPORT("cabi_post_" IFACE "#upper")
void post_upper(uint8_t *area) {
  free((void *)(uintptr_t)get_u32(area));
  uint8_t *tags = (uint8_t *)(uintptr_t)get_u32(area + 8);
  for (uint32_t i = 0; i < get_u32(area + 12); i++) free((void *)(uintptr_t)get_u32(tags + 8 * i));
  free(tags);
}

/* ---- resource counter ----------------------------------------------------- */

typedef struct counter {
  uint32_t value;
} counter_t;

__attribute__((import_module("[export]" IFACE), import_name("[resource-new]counter")))
extern int32_t counter_new(int32_t rep);

static uint32_t live_counters;   /* made minus destroyed */

EXPORT(IFACE "#[constructor]counter")
int32_t export_counter_new(uint32_t start) {
  counter_t *c = malloc(sizeof *c);
  if (!c) abort();
  c->value = start;
  live_counters++;
  return counter_new((int32_t)(uintptr_t)c);
}

EXPORT(IFACE "#[method]counter.add")
uint32_t export_counter_add(counter_t *c, uint32_t n) { return c->value += n; }

EXPORT(IFACE "#[method]counter.label")
uint8_t *export_counter_label(counter_t *c) {
  char *s = malloc(32);
  if (!s) abort();
  int n = snprintf(s, 32, "counter=%u", c->value);
  put_u32(ret_area, (uint32_t)(uintptr_t)s);
  put_u32(ret_area + 4, (uint32_t)n);
  return ret_area;
}

EXPORT("cabi_post_" IFACE "#[method]counter.label")
void post_counter_label(uint8_t *area) { free((void *)(uintptr_t)get_u32(area)); }

EXPORT(IFACE "#[dtor]counter")
void export_counter_dtor(counter_t *c) {
  live_counters--;
  free(c);
}
