/*
 * clock_random.c - a reactor component written in C, built at test time
 * (tests/components/build.sh): clang --target=wasm32-wasi + wasi-libc,
 * `jco embed` with clock_random.wit, `jco new --wasi-reactor` with the
 * preview1 adapter.  It reaches the host only through wasi-libc, so every
 * call below ends in a WASI 0.2 import once adapted:
 *
 *   printf/fputs + fflush  -> wasi:cli/stdout, stderr + wasi:io/streams
 *   clock_gettime          -> wasi:clocks/wall-clock, monotonic-clock
 *   nanosleep              -> wasi:clocks/monotonic-clock subscribe, wasi:io/poll
 *   getentropy             -> wasi:random/random
 *   getenv, args_get       -> wasi:cli/environment
 *   exit                   -> wasi:cli/exit
 *
 * No bindings generator: the canonical ABI glue is written out by hand.
 * Each export has its flat core signature (at most one flat result; more
 * are returned through a pointer to a return area), strings and lists
 * passed in are allocated by the host through cabi_realloc and owned by
 * the guest from then on, and results left in memory are freed by the
 * export's cabi_post_* function once the host has read them.
 *
 *   export        core signature         return area (offset: field)
 *   print(s)      (ptr, len)
 *   eprint(s)     (ptr, len)
 *   clocks()      () -> area             0: u64 wall ns  8: u64 monotonic ns
 *                                        16: u64 monotonic ns after a 2 ms sleep
 *   random(n)     (n) -> area            0: ptr  4: len          (u8 bytes)
 *   getenv(s)     (ptr, len) -> area     0: u8 some?  4: ptr  8: len
 *   args()        () -> area             0: ptr  4: len  -> len x {ptr, len}
 *   nap(ms)       (ms)
 *   spam(n)       (n)
 *   quit(code)    (code)                 never returns
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

#define EXPORT(name) __attribute__((export_name(name)))

/* one return area for every export: the host reads it before the next call */
static _Alignas(8) uint8_t ret_area[24];

static void put_u32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* The canonical ABI's allocator: the host asks it for memory to lower
 * strings and lists into (old_ptr NULL, old_size 0) or to grow them. */
EXPORT("cabi_realloc")
void *cabi_realloc(void *old_ptr, size_t old_size, size_t align, size_t new_size) {
  (void)old_size;
  if (new_size == 0) return (void *)align;   /* any aligned address will do */
  if (align > 16) {                          /* beyond malloc's own alignment */
    void *p = aligned_alloc(align, (new_size + align - 1) / align * align);
    if (p && old_ptr) {
      memcpy(p, old_ptr, old_size < new_size ? old_size : new_size);
      free(old_ptr);
    }
    if (!p) abort();
    return p;
  }
  void *p = realloc(old_ptr, new_size);
  if (!p) abort();   /* a trap: the canonical ABI has no way to say "no memory" */
  return p;
}

/* A string passed in: the guest owns it and frees it. */
static void write_line(FILE *f, char *ptr, size_t len) {
  fwrite(ptr, 1, len, f);
  fputc('\n', f);
  fflush(f);
  free(ptr);
}

EXPORT("print")
void export_print(char *ptr, size_t len) { write_line(stdout, ptr, len); }

EXPORT("eprint")
void export_eprint(char *ptr, size_t len) { write_line(stderr, ptr, len); }

static uint64_t ns_of(clockid_t id) {
  struct timespec ts;
  if (clock_gettime(id, &ts) != 0) abort();
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

EXPORT("clocks")
uint8_t *export_clocks(void) {
  put_u64(ret_area, ns_of(CLOCK_REALTIME));
  put_u64(ret_area + 8, ns_of(CLOCK_MONOTONIC));
  struct timespec nap = {.tv_sec = 0, .tv_nsec = 2000000};
  if (nanosleep(&nap, NULL) != 0) abort();
  put_u64(ret_area + 16, ns_of(CLOCK_MONOTONIC));
  return ret_area;
}

EXPORT("random")
uint8_t *export_random(uint32_t n) {
  uint8_t *buf = malloc(n ? n : 1);
  if (!buf) abort();
  for (uint32_t off = 0; off < n;) {   /* getentropy takes at most 256 bytes */
    uint32_t chunk = n - off > 256 ? 256 : n - off;
    if (getentropy(buf + off, chunk) != 0) abort();
    off += chunk;
  }
  put_u32(ret_area, (uint32_t)(uintptr_t)buf);
  put_u32(ret_area + 4, n);
  return ret_area;
}

EXPORT("cabi_post_random")
void post_random(uint8_t *area) {
  uint32_t ptr;
  memcpy(&ptr, area, 4);
  free((void *)(uintptr_t)ptr);
}

EXPORT("getenv")
uint8_t *export_getenv(char *ptr, size_t len) {
  char *name = cabi_realloc(ptr, len, 1, len + 1);   /* NUL-terminate it */
  name[len] = 0;
  const char *v = getenv(name);
  free(name);
  memset(ret_area, 0, 12);
  if (v) {   /* points into environ: nothing to free after the call */
    ret_area[0] = 1;
    put_u32(ret_area + 4, (uint32_t)(uintptr_t)v);
    put_u32(ret_area + 8, (uint32_t)strlen(v));
  }
  return ret_area;
}

EXPORT("args")
uint8_t *export_args(void) {
  __wasi_size_t argc = 0, size = 0;
  if (__wasi_args_sizes_get(&argc, &size) != 0) abort();
  uint8_t **argv = malloc((argc + 1) * sizeof *argv);
  uint8_t *buf = malloc(size ? size : 1);
  uint32_t *list = malloc((argc ? argc : 1) * 8);
  if (!argv || !buf || !list || __wasi_args_get(argv, buf) != 0) abort();
  for (__wasi_size_t i = 0; i < argc; i++) {
    list[2 * i] = (uint32_t)(uintptr_t)argv[i];
    list[2 * i + 1] = (uint32_t)strlen((char *)argv[i]);
  }
  free(argv);
  /* the strings all live in buf, the first one at its start */
  put_u32(ret_area, (uint32_t)(uintptr_t)list);
  put_u32(ret_area + 4, argc);
  put_u32(ret_area + 8, (uint32_t)(uintptr_t)buf);
  return ret_area;
}

EXPORT("cabi_post_args")
void post_args(uint8_t *area) {
  uint32_t list, buf;
  memcpy(&list, area, 4);
  memcpy(&buf, area + 8, 4);
  free((void *)(uintptr_t)list);
  free((void *)(uintptr_t)buf);
}

EXPORT("nap")
void export_nap(uint32_t ms) {
  struct timespec t = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
  if (nanosleep(&t, NULL) != 0) abort();
}

EXPORT("spam")
void export_spam(uint32_t n) {
  char block[4096];
  memset(block, 'A', sizeof block);
  for (uint32_t left = n; left > 0;) {
    uint32_t k = left > sizeof block ? (uint32_t)sizeof block : left;
    fwrite(block, 1, k, stdout);
    left -= k;
  }
  fflush(stdout);
}

EXPORT("quit")
void export_quit(uint32_t code) {
  puts("exiting");
  fflush(stdout);
  exit((int)code);
}
