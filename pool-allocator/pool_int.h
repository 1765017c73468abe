/*
 * pool_int.h - structures shared by pool.c and the platform's copy-on-write
 * file (cow_linux.c, or cow_none.c where there is no memfd).
 *
 * Memory slab (one reservation, PROT_NONE where not accessible):
 *
 *   base
 *   |<------ slot 0 ------>|<- guard ->|<------ slot 1 ------>|<- guard ->| ...
 *   |<- image ->|<- zero ->|  PROT_NONE|
 *     MAP_PRIVATE  anonymous
 *     of the memfd
 *
 * A memory slot is in one of three states:
 *
 *   CLEAN  no image mapped; every byte reads zero; free
 *   WARM   free, with image I mapped at its start (reads as I's initial
 *          memory); kept for I's next instance, up to max_unused_warm_slots
 *   LIVE   held by an instance (with or without an image)
 *
 *   CLEAN --acquire(I)--> LIVE --release--> WARM(I) or CLEAN
 *   WARM(I) --acquire(I)--> LIVE            (affinity: nothing to map)
 *   WARM(I) --acquire(J)--> LIVE            (unmap I, map J)
 *
 * A free (CLEAN or WARM) slot sits in exactly one place: the pool's
 * lists, or one thread's cache (pool.c says how slots move between them).
 *
 * `rw` is how many bytes at the slot's start are PROT_READ|PROT_WRITE now;
 * acquire adjusts it to the new instance's size with one mprotect.  Only
 * the thread holding the slot writes it (relaxed atomics, so that
 * wh_pool_stats may add them up at any time).
 *
 * Each slot's bookkeeping fills one 64-byte cache line of its own: two
 * threads working on neighbouring slots never write the same line.
 */
#ifndef WH_POOL_INT_H
#define WH_POOL_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "wh_pool.h"

typedef struct wh_pool_image wh_pool_image_t;

enum { WH_SLOT_CLEAN = 0, WH_SLOT_WARM = 1, WH_SLOT_LIVE = 2 };

typedef union wh_mem_slot_state {
  struct {
    uint8_t state;
    wh_pool_image_t *image;   /* mapped image (WARM, or LIVE with one) */
    _Atomic uint64_t rw;      /* accessible bytes at the slot start */
    uint32_t prev, next;      /* warm list of its image; UINT32_MAX ends */
    uint32_t lru_prev, lru_next; /* pool-wide warm LRU, oldest at head */
  };
  uint8_t line[64];
} wh_mem_slot_state_t;

/* A module's memory image.  Referenced by the module (its attachment) and
 * by every slot that maps it; freed with the last reference. */
struct wh_pool_image {
  _Atomic uint32_t refs;
  wh_pool_t *pool;
  int fd;                   /* sealed memfd, or -1: all-zero initial memory */
  bool eager;               /* no image possible: copy segments instead */
  int eager_why;            /* WH_EUNSUPPORTED, or the error that stopped it */
  uint64_t len;             /* bytes mapped from fd (page multiple) */
  uint32_t warm_head;       /* slots holding it WARM in the pool's lists
                               (not in threads' caches); pool lock */
  _Atomic uint32_t nwarm;   /* how many: written under the pool lock,
                               peeked at without it */
  /* the pool's list of its images (pool lock), so wh_pool_free can orphan
   * images that modules still hold: their `pool` becomes NULL */
  wh_pool_image_t *prev_img, *next_img;
};

/* An image for `m` from its initial memory; NULL with *rc set. */
wh_pool_image_t *wh_pool__image_create(wh_pool_t *p, const uint8_t *bytes,
                                       size_t len, int *rc);
/* Closes the image's file (the caller frees the struct). */
void wh_pool__image_close(wh_pool_image_t *img);
/* Maps `img` at `at`, copy-on-write, replacing what was there. */
int wh_pool__image_map(const wh_pool_image_t *img, uint8_t *at);
/* Puts fresh PROT_NONE anonymous memory over [at, at+len). */
int wh_pool__unmap(uint8_t *at, uint64_t len);
/* Resets only the pages an instance wrote in [at, at+len) (image `img`,
 * or NULL, mapped at `at`): written image pages are copied back from the
 * image, other written pages zeroed, with no madvise (which, with several
 * threads, costs a TLB shootdown on every CPU).  Returns 0 when done,
 * WH_ELIMIT when more than `budget` bytes were written, WH_EUNSUPPORTED
 * where the kernel cannot tell (then the caller madvises). */
int wh_pool__reset_dirty(const wh_pool_image_t *img, uint8_t *at, uint64_t len,
                         uint64_t budget);

#endif /* WH_POOL_INT_H */
