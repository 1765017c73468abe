/*
 * pool.c - the pooling instance allocator: slabs reserved at start-up,
 * slot lists, module affinity, reset on release, statistics.
 *
 * Three slabs, each one reservation made by wh_pool_new:
 *
 *   instance state  total_instances x max_instance_size, read/write,
 *                   MAP_NORESERVE; a free slot is all zero
 *   tables          total_tables x table_elements x 8 bytes, likewise
 *   memories        total_memories x (max_memory_size + memory_guard_size),
 *                   PROT_NONE until an instance needs the bytes (see the
 *                   slot states in pool_int.h)
 *
 * Free instance and table slots sit on stacks (LIFO: the most recently
 * used slot is the warmest in the CPU caches).  Free memory slots are
 * either CLEAN (on a stack) or WARM: still mapping their module's image,
 * linked both into that image's list (for affinity) and into one
 * pool-wide LRU list (for eviction when no clean slot is left).
 *
 * Every list operation holds `lock`; system calls (mmap, mprotect,
 * madvise) and memsets run outside it, on a slot the caller owns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pool_int.h"

#define NONE UINT32_MAX
#define WASM_PAGE 65536u
/* A released state/table slot is zeroed with memset up to this many bytes
 * and with madvise beyond (then its pages are not resident any more). */
#define MEMSET_LIMIT (64u * 1024u)
/* A released memory with at most this many written bytes is reset page by
 * page in place (see wh_pool__reset_dirty); more is dropped with madvise. */
#define DIRTY_BUDGET (256u * 1024u)
/* Slots of one kind a pool may have (the config allows 1,000,000). */
#define MAX_SLOTS 10000000u

struct wh_pool {
  wh_inst_alloc_t alloc;          /* first: the engine calls through it */
  wh_pool_config_t cfg;
  pthread_mutex_t lock;

  uint8_t *inst_base;
  size_t inst_stride, inst_bytes;
  uint32_t *inst_free, ninst_free;

  uint8_t *tab_base;
  size_t tab_stride, tab_bytes;
  uint32_t *tab_free, ntab_free;

  uint8_t *mem_base;
  size_t mem_stride, mem_bytes;
  wh_mem_slot_state_t *mslots;
  uint32_t *clean, nclean;
  uint32_t lru_head, lru_tail, nwarm, mem_live;

  uint64_t acquisitions, affinity_hits, image_maps, failures;
  uint64_t images, image_bytes;
  wh_pool_image_t *image_list;    /* every image attached by this pool */
};

void wh_pool_config_default(wh_pool_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->total_instances = 1000;
  cfg->total_memories = 1000;
  cfg->total_tables = 1000;
  cfg->max_memory_size = 4ull << 30;
  cfg->memory_guard_size = 2ull << 30;
  cfg->table_elements = 20000;
  cfg->max_instance_size = 1u << 20;
  cfg->keep_resident = 0;
  cfg->max_unused_warm_slots = 100;
}

/* ---- images ---------------------------------------------------------------- */

static void image_unref(wh_pool_image_t *img) {
  if (!img) return;
  if (atomic_fetch_sub(&img->refs, 1) != 1) return;
  wh_pool_t *p = img->pool;       /* NULL once the pool is gone */
  if (p) {
    pthread_mutex_lock(&p->lock);
    if (img->prev_img) img->prev_img->next_img = img->next_img;
    else if (p->image_list == img) p->image_list = img->next_img;
    if (img->next_img) img->next_img->prev_img = img->prev_img;
    if (img->fd >= 0) {
      p->images--;
      p->image_bytes -= img->len;
    }
    pthread_mutex_unlock(&p->lock);
  }
  wh_pool__image_close(img);
  free(img);
}

static void image_fini(void *p) { image_unref(p); }

/* The module's image, built on first use; *why says why it has none.
 * Modules that cannot have one get an image marked `eager` (so the
 * attempt is made once; *why keeps the reason).  NULL (eager) also for a
 * module attached to another pool (*why WH_EEXISTS) or on OOM. */
static wh_pool_image_t *module_image(wh_pool_t *p, const wh_module_t *m, int *why) {
  wh_pool_image_t *img = wh_module_attachment(m);
  *why = 0;
  if (img) {
    if (img->pool != p) *why = WH_EEXISTS;
    else if (img->eager) *why = img->eager_why;
    return img->pool == p ? img : NULL;
  }
  uint8_t *bytes = NULL;
  size_t len = 0;
  int rc = wh_module_memory_image(m, &bytes, &len);
  if (rc == 0) img = wh_pool__image_create(p, bytes, len, &rc);
  free(bytes);
  if (!img) {
    /* no image possible (or it failed): remember to initialise eagerly */
    img = calloc(1, sizeof *img);
    if (!img) {
      *why = WH_ENOMEM;
      return NULL;
    }
    img->pool = p;
    img->fd = -1;
    img->eager = true;
    img->eager_why = rc;
    img->warm_head = NONE;
    atomic_store(&img->refs, 1);
  }
  wh_pool_image_t *got = wh_module_attach(m, img, image_fini);
  if (got != img) {
    img->pool = NULL;               /* never linked: nothing to undo */
    image_unref(img);
    return module_image(p, m, why);
  }
  pthread_mutex_lock(&p->lock);
  img->next_img = p->image_list;
  if (p->image_list) p->image_list->prev_img = img;
  p->image_list = img;
  if (img->fd >= 0) {
    p->images++;
    p->image_bytes += img->len;
  }
  pthread_mutex_unlock(&p->lock);
  *why = img->eager ? img->eager_why : 0;
  return img;
}

int wh_pool_prepare_module(wh_pool_t *p, const wh_module_t *m) {
  int why;
  module_image(p, m, &why);
  return why;
}

/* ---- memory slot lists (caller holds the lock) ---------------------------- */

static void warm_unlink(wh_pool_t *p, uint32_t i) {
  wh_mem_slot_state_t *s = &p->mslots[i];
  wh_pool_image_t *img = s->image;
  if (s->prev != NONE) p->mslots[s->prev].next = s->next;
  else img->warm_head = s->next;
  if (s->next != NONE) p->mslots[s->next].prev = s->prev;
  img->nwarm--;
  if (s->lru_prev != NONE) p->mslots[s->lru_prev].lru_next = s->lru_next;
  else p->lru_head = s->lru_next;
  if (s->lru_next != NONE) p->mslots[s->lru_next].lru_prev = s->lru_prev;
  else p->lru_tail = s->lru_prev;
  p->nwarm--;
  s->prev = s->next = s->lru_prev = s->lru_next = NONE;
}

static void warm_link(wh_pool_t *p, uint32_t i) {
  wh_mem_slot_state_t *s = &p->mslots[i];
  wh_pool_image_t *img = s->image;
  s->state = WH_SLOT_WARM;
  s->prev = NONE;
  s->next = img->warm_head;
  if (img->warm_head != NONE) p->mslots[img->warm_head].prev = i;
  img->warm_head = i;
  img->nwarm++;
  s->lru_next = NONE;
  s->lru_prev = p->lru_tail;
  if (p->lru_tail != NONE) p->mslots[p->lru_tail].lru_next = i;
  else p->lru_head = i;
  p->lru_tail = i;
  p->nwarm++;
}

static uint8_t *slot_base(const wh_pool_t *p, uint32_t i) {
  return p->mem_base + (size_t)i * p->mem_stride;
}

/* ---- the engine's allocator interface -------------------------------------- */

static int memory_acquire(wh_inst_alloc_t *a, const wh_module_t *m, uint64_t min,
                          uint64_t max, wh_mem_slot_t *out) {
  wh_pool_t *p = (wh_pool_t *)a;
  if (min > p->cfg.max_memory_size || p->cfg.total_memories == 0) {
    pthread_mutex_lock(&p->lock);
    p->failures++;
    pthread_mutex_unlock(&p->lock);
    return WH_ELIMIT;
  }
  int why;
  wh_pool_image_t *img = module_image(p, m, &why);   /* NULL: eager */
  bool mapped_image = img && !img->eager && img->fd >= 0;
  uint32_t i = NONE;
  bool affinity = false;

  pthread_mutex_lock(&p->lock);
  if (mapped_image && img->warm_head != NONE) {
    i = img->warm_head;
    warm_unlink(p, i);
    affinity = true;
  } else if (p->nclean) {
    i = p->clean[--p->nclean];
  } else if (p->lru_head != NONE) {
    i = p->lru_head;                    /* evict the oldest warm slot */
    warm_unlink(p, i);
  }
  if (i == NONE) {
    p->failures++;
    pthread_mutex_unlock(&p->lock);
    return WH_ELIMIT;
  }
  p->mslots[i].state = WH_SLOT_LIVE;
  p->mem_live++;
  p->acquisitions++;
  if (affinity) p->affinity_hits++;
  pthread_mutex_unlock(&p->lock);

  wh_mem_slot_state_t *s = &p->mslots[i];
  uint8_t *base = slot_base(p, i);
  int rc = 0;
  if (!affinity) {
    if (s->image) {                      /* another module's image */
      uint64_t len = s->rw > s->image->len ? s->rw : s->image->len;
      rc = wh_pool__unmap(base, len);
      image_unref(s->image);
      s->image = NULL;
      s->rw = 0;
      if (rc) goto fail;
    }
    if (mapped_image) {
      rc = wh_pool__image_map(img, base);
      if (rc) goto fail;
      atomic_fetch_add(&img->refs, 1);
      s->image = img;
      if (s->rw < img->len) s->rw = img->len;
      pthread_mutex_lock(&p->lock);
      p->image_maps++;
      pthread_mutex_unlock(&p->lock);
    }
  }
  /* exactly [0, min) accessible */
  if (s->rw < min) {
    if (mprotect(base + s->rw, min - s->rw, PROT_READ | PROT_WRITE) != 0) {
      rc = WH_ENOMEM;
      goto fail;
    }
  } else if (s->rw > min) {
    if (mprotect(base + min, s->rw - min, PROT_NONE) != 0) {
      rc = WH_ENOMEM;
      goto fail;
    }
  }
  s->rw = min;
  out->base = base;
  out->reserved = p->cfg.max_memory_size;
  out->size = min;
  out->max_size = max < p->cfg.max_memory_size ? max : p->cfg.max_memory_size;
  out->max_size &= ~(uint64_t)(WASM_PAGE - 1);
  out->data_ready = img && !img->eager;
  return 0;

fail:
  /* the slot's mapping is unknown now: make it clean and empty */
  if (s->image) image_unref(s->image);
  s->image = NULL;
  s->rw = wh_pool__unmap(base, p->cfg.max_memory_size) == 0 ? 0 : p->cfg.max_memory_size;
  pthread_mutex_lock(&p->lock);
  p->mem_live--;
  p->failures++;
  s->state = WH_SLOT_CLEAN;
  p->clean[p->nclean++] = i;
  pthread_mutex_unlock(&p->lock);
  return rc;
}

static void memory_release(wh_inst_alloc_t *a, const wh_module_t *m,
                           const wh_mem_slot_t *slot) {
  (void)m;
  wh_pool_t *p = (wh_pool_t *)a;
  uint32_t i = (uint32_t)((size_t)(slot->base - p->mem_base) / p->mem_stride);
  wh_mem_slot_state_t *s = &p->mslots[i];
  uint8_t *base = slot->base;
  uint64_t rw = s->rw > slot->size ? s->rw : slot->size;
  wh_pool_image_t *img = s->image;
  uint64_t start = img ? img->len : 0;
  bool ok = true;

  /* undo what the instance wrote: few pages are put back in place (no
   * system call that interrupts other CPUs); many are dropped with
   * madvise, the image's pages reverting to the file, the rest to zero */
  uint64_t budget = p->cfg.keep_resident > DIRTY_BUDGET ? p->cfg.keep_resident : DIRTY_BUDGET;
  if (wh_pool__reset_dirty(img, base, rw, budget) != 0) {
    if (img && madvise(base, img->len, MADV_DONTNEED) != 0) ok = false;
    uint64_t keep_end = p->cfg.keep_resident < rw ? p->cfg.keep_resident : rw;
    if (keep_end > start) {
      memset(base + start, 0, keep_end - start);
      start = keep_end;
    }
    if (rw > start && madvise(base + start, rw - start, MADV_DONTNEED) != 0) ok = false;
  }
  s->rw = rw;

  pthread_mutex_lock(&p->lock);
  p->mem_live--;
  if (ok && img && p->nwarm < p->cfg.max_unused_warm_slots) {
    warm_link(p, i);
    pthread_mutex_unlock(&p->lock);
    return;
  }
  pthread_mutex_unlock(&p->lock);

  if (img || !ok) {
    /* not kept warm (or the reset failed): start over from nothing */
    uint64_t len = img && img->len > rw ? img->len : rw;
    if (wh_pool__unmap(base, len) == 0) s->rw = 0;
    image_unref(img);
    s->image = NULL;
  }
  pthread_mutex_lock(&p->lock);
  s->state = WH_SLOT_CLEAN;
  p->clean[p->nclean++] = i;
  pthread_mutex_unlock(&p->lock);
}

static void *stack_pop(wh_pool_t *p, uint32_t *stack, uint32_t *n, uint8_t *base,
                       size_t stride) {
  void *slot = NULL;
  pthread_mutex_lock(&p->lock);
  if (*n) slot = base + (size_t)stack[--*n] * stride;
  else p->failures++;
  pthread_mutex_unlock(&p->lock);
  return slot;
}

static void stack_push(wh_pool_t *p, uint32_t *stack, uint32_t *n, uint8_t *base,
                       size_t stride, void *slot) {
  pthread_mutex_lock(&p->lock);
  stack[(*n)++] = (uint32_t)((size_t)((uint8_t *)slot - base) / stride);
  pthread_mutex_unlock(&p->lock);
}

/* Zeroes a released slot: memset keeps small ones resident, madvise gives
 * big ones back. */
static void zero_slot(void *slot, size_t used) {
  if (used <= MEMSET_LIMIT) {
    memset(slot, 0, used);
    return;
  }
  memset(slot, 0, MEMSET_LIMIT);
  size_t rest = (used - MEMSET_LIMIT + 4095) & ~(size_t)4095;
  if (madvise((uint8_t *)slot + MEMSET_LIMIT, rest, MADV_DONTNEED) != 0)
    memset((uint8_t *)slot + MEMSET_LIMIT, 0, used - MEMSET_LIMIT);
}

static void *state_acquire(wh_inst_alloc_t *a, size_t size) {
  wh_pool_t *p = (wh_pool_t *)a;
  if (size > p->cfg.max_instance_size) {
    pthread_mutex_lock(&p->lock);
    p->failures++;
    pthread_mutex_unlock(&p->lock);
    return NULL;
  }
  return stack_pop(p, p->inst_free, &p->ninst_free, p->inst_base, p->inst_stride);
}

static void state_release(wh_inst_alloc_t *a, void *block, size_t size) {
  wh_pool_t *p = (wh_pool_t *)a;
  zero_slot(block, size);
  stack_push(p, p->inst_free, &p->ninst_free, p->inst_base, p->inst_stride, block);
}

static void **table_acquire(wh_inst_alloc_t *a, uint32_t min, uint32_t max,
                            uint32_t *capacity) {
  wh_pool_t *p = (wh_pool_t *)a;
  (void)max;
  if (min > p->cfg.table_elements) {
    pthread_mutex_lock(&p->lock);
    p->failures++;
    pthread_mutex_unlock(&p->lock);
    return NULL;
  }
  *capacity = p->cfg.table_elements;
  return stack_pop(p, p->tab_free, &p->ntab_free, p->tab_base, p->tab_stride);
}

static void table_release(wh_inst_alloc_t *a, void **elems, uint32_t size) {
  wh_pool_t *p = (wh_pool_t *)a;
  zero_slot(elems, (size_t)size * sizeof(void *));
  stack_push(p, p->tab_free, &p->ntab_free, p->tab_base, p->tab_stride, elems);
}

/* ---- life cycle ------------------------------------------------------------ */

static uint8_t *reserve(size_t bytes, int prot) {
  if (bytes == 0) return NULL;
  void *q = mmap(NULL, bytes, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return q == MAP_FAILED ? NULL : q;
}

static bool mul_ok(uint64_t a, uint64_t b, size_t *out) {
  if (a && b > SIZE_MAX / a) return false;
  *out = (size_t)(a * b);
  return true;
}

wh_pool_t *wh_pool_new(const wh_pool_config_t *cfg, wh_diag_t *diag) {
  wh_diag_clear(diag);
  wh_pool_t *p = calloc(1, sizeof *p);
  if (!p) {
    wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    return NULL;
  }
  p->cfg = *cfg;
  /* the critical sections are a few pointer moves: spin briefly before
   * sleeping, so two executors never meet in the kernel over a slot */
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ADAPTIVE_NP);
  pthread_mutex_init(&p->lock, &attr);
  pthread_mutexattr_destroy(&attr);
  p->alloc = (wh_inst_alloc_t){state_acquire, state_release, table_acquire,
                               table_release, memory_acquire, memory_release};
  p->lru_head = p->lru_tail = NONE;

  if (cfg->max_memory_size % WASM_PAGE || cfg->memory_guard_size % 4096) {
    wh_diag_set(diag, WH_EINVAL, -1,
                "max_memory_size must be a multiple of 64 KiB and memory_guard_size of 4 KiB");
    goto fail;
  }
  if (cfg->total_instances > MAX_SLOTS || cfg->total_memories > MAX_SLOTS ||
      cfg->total_tables > MAX_SLOTS) {
    wh_diag_set(diag, WH_EINVAL, -1, "at most %u slots of each kind", MAX_SLOTS);
    goto fail;
  }
  if ((cfg->total_memories && cfg->max_memory_size == 0) ||
      (cfg->total_tables && cfg->table_elements == 0) ||
      (cfg->total_instances && cfg->max_instance_size == 0)) {
    wh_diag_set(diag, WH_EINVAL, -1,
                "max_memory_size, table_elements and max_instance_size must not be 0");
    goto fail;
  }
  /* madvise works on whole pages: keep_resident ends on one */
  p->cfg.keep_resident &= ~(uint64_t)4095;
  p->inst_stride = (cfg->max_instance_size + 4095) & ~(size_t)4095;
  p->tab_stride = ((size_t)cfg->table_elements * sizeof(void *) + 4095) & ~(size_t)4095;
  p->mem_stride = cfg->max_memory_size + cfg->memory_guard_size;
  if (!mul_ok(cfg->total_instances, p->inst_stride, &p->inst_bytes) ||
      !mul_ok(cfg->total_tables, p->tab_stride, &p->tab_bytes) ||
      !mul_ok(cfg->total_memories, p->mem_stride, &p->mem_bytes)) {
    wh_diag_set(diag, WH_EINVAL, -1, "pool sizes overflow the address space");
    goto fail;
  }
  p->inst_free = calloc((size_t)cfg->total_instances + 1, sizeof *p->inst_free);
  p->tab_free = calloc((size_t)cfg->total_tables + 1, sizeof *p->tab_free);
  p->clean = calloc((size_t)cfg->total_memories + 1, sizeof *p->clean);
  p->mslots = calloc((size_t)cfg->total_memories + 1, sizeof *p->mslots);
  if (!p->inst_free || !p->tab_free || !p->clean || !p->mslots) {
    wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    goto fail;
  }
  if ((p->inst_bytes && !(p->inst_base = reserve(p->inst_bytes, PROT_READ | PROT_WRITE))) ||
      (p->tab_bytes && !(p->tab_base = reserve(p->tab_bytes, PROT_READ | PROT_WRITE))) ||
      (p->mem_bytes && !(p->mem_base = reserve(p->mem_bytes, PROT_NONE)))) {
    wh_diag_set(diag, WH_ENOMEM, -1,
                "cannot reserve %zu + %zu + %zu bytes of address space for the pool "
                "(instances, tables, memories); lower total_* or max_memory_size",
                p->inst_bytes, p->tab_bytes, p->mem_bytes);
    goto fail;
  }
  /* LIFO stacks: slot 0 on top */
  for (uint32_t i = 0; i < cfg->total_instances; i++) p->inst_free[i] = cfg->total_instances - 1 - i;
  p->ninst_free = cfg->total_instances;
  for (uint32_t i = 0; i < cfg->total_tables; i++) p->tab_free[i] = cfg->total_tables - 1 - i;
  p->ntab_free = cfg->total_tables;
  for (uint32_t i = 0; i < cfg->total_memories; i++) {
    p->clean[i] = cfg->total_memories - 1 - i;
    p->mslots[i].prev = p->mslots[i].next = NONE;
    p->mslots[i].lru_prev = p->mslots[i].lru_next = NONE;
  }
  p->nclean = cfg->total_memories;
  return p;
fail:
  wh_pool_free(p);
  return NULL;
}

void wh_pool_free(wh_pool_t *p) {
  if (!p) return;
  if (p->mslots)
    for (uint32_t i = 0; i < p->cfg.total_memories; i++) image_unref(p->mslots[i].image);
  /* images modules still hold outlive the pool, orphaned */
  for (wh_pool_image_t *img = p->image_list; img; img = img->next_img) img->pool = NULL;
  if (p->inst_base) munmap(p->inst_base, p->inst_bytes);
  if (p->tab_base) munmap(p->tab_base, p->tab_bytes);
  if (p->mem_base) munmap(p->mem_base, p->mem_bytes);
  free(p->inst_free);
  free(p->tab_free);
  free(p->clean);
  free(p->mslots);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

wh_inst_alloc_t *wh_pool_allocator(wh_pool_t *p) { return &p->alloc; }

void wh_pool_stats(wh_pool_t *p, wh_pool_stats_t *out) {
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&p->lock);
  out->instances_free = p->ninst_free;
  out->instances_live = p->cfg.total_instances - p->ninst_free;
  out->tables_free = p->ntab_free;
  out->tables_live = p->cfg.total_tables - p->ntab_free;
  out->memories_live = p->mem_live;
  out->memories_warm = p->nwarm;
  out->memories_clean = p->nclean;
  for (uint32_t i = 0; i < p->cfg.total_memories; i++) out->memory_committed += p->mslots[i].rw;
  out->acquisitions = p->acquisitions;
  out->affinity_hits = p->affinity_hits;
  out->image_maps = p->image_maps;
  out->failures = p->failures;
  out->images = p->images;
  out->image_bytes = p->image_bytes;
  pthread_mutex_unlock(&p->lock);
}
