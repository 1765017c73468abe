/*
 * pool.c - the pooling instance allocator: slabs reserved at start-up,
 * slot lists, per-thread slot caches, module affinity, reset on release,
 * statistics.
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
 * Where free slots wait
 * ---------------------
 * A free slot is in exactly one place: the pool's lists (guarded by the
 * pool's `lock`) or the cache that one thread keeps for this pool
 * (guarded by that cache's own `lock`):
 *
 *   the pool                              a thread's cache
 *   free[STATE], free[TABLE]: stacks      stk[STATE], stk[TABLE]: stacks
 *                                           of up to CACHE_STACK slots
 *   clean: stack of CLEAN memory slots    mem: up to CACHE_MEM memory
 *   per-image lists of WARM slots, and      slots, CLEAN or WARM, oldest
 *     one LRU list of them all              first, each with its image
 *
 * The common path touches the caller's cache only: acquire takes from it
 * and release puts the slot back into it, under a lock no other thread
 * takes unless slots run short.  Two executors cycling instances thus
 * share no lock of the pool's and write none of its cache lines in
 * common (the cache, its counters and every memory slot's bookkeeping sit
 * on lines of their own; what the kernel shares, the mm's locks, remains).
 * The pool's lists are the back store, reached under the pool lock:
 *
 *   refill   a thread whose stack is empty takes a slot and up to
 *            CACHE_STACK / 2 more; a memory slot it does not find in its
 *            cache comes from the pool one at a time (see below)
 *   flush    a thread whose cache is full moves its older half back
 *   steal    when neither its cache nor the pool has a slot, a thread
 *            takes one from another thread's cache, so a slot parked in a
 *            cache never makes an acquisition fail
 *   retire   a thread that exits moves its whole cache back (a pthread
 *            key destructor); wh_pool_free frees the caches of threads
 *            still running
 *
 * A thread finds its cache through a thread-local table keyed by the
 * pool's address and its process-unique id, so a new pool at a freed
 * one's address never meets a stale cache.  Exiting threads check that a
 * pool is still alive in the registry of live pools (`reg_lock`).
 *
 * Lock order: reg_lock, then a pool's lock, then one cache's lock.  A
 * thread never waits for the pool lock while it holds a cache lock, and
 * only the pool lock's holder takes the lock of another thread's cache
 * (one at a time; wh_pool_stats takes them all, in list order).
 *
 * Memory slot for an instance of image I (NULL: a module without one),
 * the first that applies:
 *
 *   1  a WARM(I) slot in my cache, the newest       affinity, no pool lock
 *   2  a WARM(I) slot in the pool (if img->nwarm,    affinity
 *      peeked without the lock, says there is one)
 *   3  a CLEAN slot in my cache                     no pool lock
 *   4  a CLEAN slot in the pool, else the pool's oldest WARM slot
 *   5  a CLEAN slot in my cache, else my oldest WARM one
 *   6  steal: WARM(I), else CLEAN, else any WARM slot of another cache
 *   7  WH_ELIMIT
 *
 * Release resets the slot outside every lock, then puts it into the
 * releasing thread's cache (not necessarily the acquiring thread's):
 * WARM if it maps an image and a warm token is at hand, CLEAN otherwise.
 *
 * Warm tokens keep max_unused_warm_slots exact without a counter that
 * every release would write.  Each WARM slot in a cache holds one of its
 * cache's tokens, and
 *
 *   WARM slots in the pool + tokens lent to caches <= max_unused_warm_slots
 *
 * A cache borrows a token when a release needs one (pool lock), keeps it
 * while the slot is LIVE again (so the slot's next release needs no
 * lock), and returns it with the slot when it flushes, is stolen from or
 * retires.  A release that finds no token free takes back one that
 * another cache holds for a LIVE slot.
 *
 * Counters (acquisitions, affinity hits, image maps, pool-lock rounds)
 * live in each cache, written by its thread only; wh_pool_stats adds
 * them up with the pool's own (which hold those of retired caches and of
 * calls made without a cache: more than TLS_POOLS pools in one thread, or
 * no memory for one).
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
/* Free memory slots a thread's cache holds. */
#define CACHE_MEM 8u
/* Free state (and table) slots a thread's cache holds. */
#define CACHE_STACK 8u
/* Pools a thread keeps caches for at once; beyond, it uses the pool's
 * lists directly. */
#define TLS_POOLS 8
#define LINE 64

enum { STATE, TABLE, NKINDS };    /* the slots kept on stacks */

typedef struct mem_entry {
  uint32_t slot;
  wh_pool_image_t *img;           /* mapped: WARM; NULL: CLEAN */
} mem_entry_t;

typedef struct cache cache_t;
struct cache {
  uint8_t pad0[LINE];             /* the lines below are this cache's own */
  pthread_mutex_t lock;           /* see the lock order above */
  cache_t *next;                  /* the pool's list of caches; pool lock */
  /* free slots; cache lock */
  uint32_t nstk[NKINDS], stk[NKINDS][CACHE_STACK];
  uint32_t nmem, nwarm, tokens;   /* slots in mem, WARM ones, warm tokens */
  mem_entry_t mem[CACHE_MEM];     /* oldest first */
  /* written by the owning thread only (single writer: relaxed atomics
   * for the readers in wh_pool_stats) */
  _Atomic uint64_t acquisitions, affinity_hits, image_maps, pool_locks;
  uint8_t pad1[LINE];
};

struct wh_pool {
  wh_inst_alloc_t alloc;          /* first: the engine calls through it */
  /* read-only after wh_pool_new */
  wh_pool_config_t cfg;
  uint64_t id;                    /* unique in the process: see my_cache */
  struct {
    uint8_t *base;
    size_t stride, bytes;
    uint32_t total;
  } kind[NKINDS];
  uint8_t *mem_base;
  size_t mem_stride, mem_bytes;
  wh_mem_slot_state_t *mslots;    /* 64-byte aligned inside mslots_raw */
  void *mslots_raw;
  bool registered;
  wh_pool_t *reg_prev, *reg_next; /* the registry of live pools; reg_lock */

  uint8_t pad[LINE];              /* what follows is written under the lock */
  pthread_mutex_t lock;
  uint32_t *free[NKINDS], nfree[NKINDS];
  uint32_t *clean, nclean;
  uint32_t lru_head, lru_tail, nwarm;
  uint32_t tokens_out;            /* warm tokens lent to caches */
  cache_t *caches;                /* one per thread that used the pool */
  uint64_t acquisitions, affinity_hits, image_maps, failures, pool_locks, steals;
  uint64_t images, image_bytes;
  wh_pool_image_t *image_list;    /* every image attached by this pool */
};

static void bump(_Atomic uint64_t *c) {   /* single writer */
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + 1,
                        memory_order_relaxed);
}

static uint64_t load(_Atomic uint64_t *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

static uint64_t rw_get(wh_mem_slot_state_t *s) {
  return atomic_load_explicit(&s->rw, memory_order_relaxed);
}

static void rw_set(wh_mem_slot_state_t *s, uint64_t v) {
  atomic_store_explicit(&s->rw, v, memory_order_relaxed);
}

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

/* ---- the pool's memory lists (pool lock held) ------------------------------- */

static void img_nwarm_add(wh_pool_image_t *img, int d) {
  atomic_store_explicit(&img->nwarm,
                        atomic_load_explicit(&img->nwarm, memory_order_relaxed) + (uint32_t)d,
                        memory_order_relaxed);
}

static void warm_unlink(wh_pool_t *p, uint32_t i) {
  wh_mem_slot_state_t *s = &p->mslots[i];
  wh_pool_image_t *img = s->image;
  if (s->prev != NONE) p->mslots[s->prev].next = s->next;
  else img->warm_head = s->next;
  if (s->next != NONE) p->mslots[s->next].prev = s->prev;
  img_nwarm_add(img, -1);
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
  img_nwarm_add(img, 1);
  s->lru_next = NONE;
  s->lru_prev = p->lru_tail;
  if (p->lru_tail != NONE) p->mslots[p->lru_tail].lru_next = i;
  else p->lru_head = i;
  p->lru_tail = i;
  p->nwarm++;
}

/* A free memory slot from the pool's lists: WARM(want) (sets *affinity),
 * else CLEAN, else the oldest WARM one (evicted).  NONE if none is free. */
static uint32_t pool_take_mem(wh_pool_t *p, wh_pool_image_t *want, bool *affinity) {
  uint32_t i = NONE;
  if (want && want->warm_head != NONE) {
    i = want->warm_head;
    warm_unlink(p, i);
    *affinity = true;
  } else if (p->nclean) {
    i = p->clean[--p->nclean];
  } else if (p->lru_head != NONE) {
    i = p->lru_head;
    warm_unlink(p, i);
  }
  return i;
}

static bool warm_budget(const wh_pool_t *p) {
  return p->nwarm + p->tokens_out < p->cfg.max_unused_warm_slots;
}

/* ---- a thread's cache (its lock held) ------------------------------------------ */

static void cache_put(wh_pool_t *p, cache_t *c, uint32_t i, wh_pool_image_t *img) {
  p->mslots[i].state = img ? WH_SLOT_WARM : WH_SLOT_CLEAN;
  c->mem[c->nmem++] = (mem_entry_t){i, img};
  if (img) c->nwarm++;
}

/* Removes entry k; a WARM slot leaves its token with the cache. */
static uint32_t cache_take(cache_t *c, uint32_t k) {
  uint32_t i = c->mem[k].slot;
  if (c->mem[k].img) c->nwarm--;
  memmove(&c->mem[k], &c->mem[k + 1], (c->nmem - k - 1) * sizeof *c->mem);
  c->nmem--;
  return i;
}

/* The newest entry holding `img` (NULL: the newest CLEAN one), or NONE. */
static uint32_t cache_find(const cache_t *c, const wh_pool_image_t *img) {
  for (uint32_t k = c->nmem; k-- > 0;)
    if (c->mem[k].img == img) return k;
  return NONE;
}

static uint32_t cache_oldest_warm(const cache_t *c) {
  for (uint32_t k = 0; k < c->nmem; k++)
    if (c->mem[k].img) return k;
  return NONE;
}

/* Moves the `n` oldest memory slots of `c` to the pool's lists, each WARM
 * one with its token.  (Pool lock too.) */
static void flush_mem(wh_pool_t *p, cache_t *c, uint32_t n) {
  for (uint32_t k = 0; k < n; k++) {
    mem_entry_t *e = &c->mem[k];
    if (e->img) {
      warm_link(p, e->slot);
      c->nwarm--;
      c->tokens--;
      p->tokens_out--;
    } else {
      p->mslots[e->slot].state = WH_SLOT_CLEAN;
      p->clean[p->nclean++] = e->slot;
    }
  }
  memmove(c->mem, c->mem + n, (c->nmem - n) * sizeof *c->mem);
  c->nmem -= n;
}

/* Moves the `n` bottom (least recently used) state or table slots of `c`
 * to the pool's stack.  (Pool lock too.) */
static void flush_stack(wh_pool_t *p, cache_t *c, int kind, uint32_t n) {
  memcpy(p->free[kind] + p->nfree[kind], c->stk[kind], n * sizeof(uint32_t));
  p->nfree[kind] += n;
  memmove(c->stk[kind], c->stk[kind] + n, (c->nstk[kind] - n) * sizeof(uint32_t));
  c->nstk[kind] -= n;
}

/* ---- stealing (pool lock held; takes one other cache's lock at a time) ------ */

/* A memory slot from another thread's cache: WARM(want) (sets
 * *affinity), else CLEAN, else the oldest WARM slot of a cache. */
static uint32_t steal_mem(wh_pool_t *p, cache_t *self, wh_pool_image_t *want, bool *affinity) {
  for (int round = want ? 0 : 1; round < 3; round++)
    for (cache_t *c = p->caches; c; c = c->next) {
      if (c == self) continue;
      pthread_mutex_lock(&c->lock);
      uint32_t k = round == 0 ? cache_find(c, want)
                 : round == 1 ? cache_find(c, NULL)
                              : cache_oldest_warm(c);
      uint32_t i = NONE;
      if (k != NONE) {
        if (c->mem[k].img) {            /* its token comes back with it */
          c->tokens--;
          p->tokens_out--;
        }
        i = cache_take(c, k);
      }
      pthread_mutex_unlock(&c->lock);
      if (i != NONE) {
        p->steals++;
        *affinity = round == 0;
        return i;
      }
    }
  return NONE;
}

static uint32_t steal_stack(wh_pool_t *p, cache_t *self, int kind) {
  for (cache_t *c = p->caches; c; c = c->next) {
    if (c == self) continue;
    uint32_t i = NONE;
    pthread_mutex_lock(&c->lock);
    if (c->nstk[kind]) i = c->stk[kind][--c->nstk[kind]];
    pthread_mutex_unlock(&c->lock);
    if (i != NONE) {
      p->steals++;
      return i;
    }
  }
  return NONE;
}

/* Takes back one warm token that another cache holds for a LIVE slot
 * (it holds more tokens than WARM slots), for a release that finds none
 * free. */
static void reclaim_token(wh_pool_t *p, cache_t *self) {
  for (cache_t *c = p->caches; c && !warm_budget(p); c = c->next) {
    if (c == self) continue;
    pthread_mutex_lock(&c->lock);
    if (c->tokens > c->nwarm) {
      c->tokens--;
      p->tokens_out--;
    }
    pthread_mutex_unlock(&c->lock);
  }
}

/* ---- finding the caller's cache: thread-local table, registry ------------ */

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static wh_pool_t *reg_head;       /* live pools; reg_lock */
static uint64_t reg_ids;          /* the last id given; reg_lock */

typedef struct tls_entry {
  wh_pool_t *pool;                /* may be freed: compare, never follow, */
  uint64_t id;                    /* unless pool->id matches for a live pool */
  cache_t *c;
} tls_entry_t;

static _Thread_local struct {
  tls_entry_t e[TLS_POOLS];
  bool armed;                     /* the key's destructor will run */
} tls;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static bool tls_key_ok;

static bool pool_live(const wh_pool_t *p, uint64_t id) {   /* reg_lock held */
  for (const wh_pool_t *q = reg_head; q; q = q->reg_next)
    if (q == p) return q->id == id;
  return false;
}

static void cache_free(cache_t *c) {
  pthread_mutex_destroy(&c->lock);
  free(c);
}

/* Moves all of `c` back to the pool and frees it. */
static void cache_retire(wh_pool_t *p, cache_t *c) {
  pthread_mutex_lock(&p->lock);
  for (cache_t **pp = &p->caches; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  pthread_mutex_lock(&c->lock);
  flush_mem(p, c, c->nmem);
  for (int k = 0; k < NKINDS; k++) flush_stack(p, c, k, c->nstk[k]);
  p->tokens_out -= c->tokens;     /* those of LIVE slots */
  p->acquisitions += load(&c->acquisitions);
  p->affinity_hits += load(&c->affinity_hits);
  p->image_maps += load(&c->image_maps);
  p->pool_locks += load(&c->pool_locks);
  pthread_mutex_unlock(&c->lock);
  pthread_mutex_unlock(&p->lock);
  cache_free(c);
}

/* The key's destructor: a thread that exits gives its cached slots back
 * to the pools still alive. */
static void tls_exit(void *arg) {
  (void)arg;
  pthread_mutex_lock(&reg_lock);
  for (int k = 0; k < TLS_POOLS; k++)
    if (tls.e[k].pool && pool_live(tls.e[k].pool, tls.e[k].id))
      cache_retire(tls.e[k].pool, tls.e[k].c);
  memset(&tls, 0, sizeof tls);
  pthread_mutex_unlock(&reg_lock);
}

static void tls_init(void) { tls_key_ok = pthread_key_create(&tls_key, tls_exit) == 0; }

static int tls_free_entry(void) {
  for (int k = 0; k < TLS_POOLS; k++)
    if (!tls.e[k].pool) return k;
  return -1;
}

/* A new cache for the calling thread, or NULL (no memory, no key, or
 * TLS_POOLS live pools cached already): the caller then works on the
 * pool's lists. */
static cache_t *cache_new(wh_pool_t *p) {
  pthread_once(&tls_once, tls_init);
  if (!tls_key_ok) return NULL;
  int k = tls_free_entry();
  if (k < 0) {                    /* forget the pools freed since */
    pthread_mutex_lock(&reg_lock);
    for (int j = 0; j < TLS_POOLS; j++)
      if (!pool_live(tls.e[j].pool, tls.e[j].id)) tls.e[j] = (tls_entry_t){0};
    pthread_mutex_unlock(&reg_lock);
    k = tls_free_entry();
    if (k < 0) return NULL;
  }
  if (!tls.armed) {
    if (pthread_setspecific(tls_key, &tls) != 0) return NULL;
    tls.armed = true;
  }
  cache_t *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  pthread_mutex_init(&c->lock, NULL);
  pthread_mutex_lock(&p->lock);
  c->next = p->caches;
  p->caches = c;
  pthread_mutex_unlock(&p->lock);
  tls.e[k] = (tls_entry_t){p, p->id, c};
  return c;
}

/* The calling thread's cache for `p` (made on first use), or NULL. */
static cache_t *my_cache(wh_pool_t *p) {
  for (int k = 0; k < TLS_POOLS; k++)
    if (tls.e[k].pool == p && tls.e[k].id == p->id) return tls.e[k].c;
  return cache_new(p);
}

/* ---- counters ---------------------------------------------------------------- */

static void note_acquired(wh_pool_t *p, cache_t *c, bool affinity) {
  if (c) {
    bump(&c->acquisitions);
    if (affinity) bump(&c->affinity_hits);
    return;
  }
  pthread_mutex_lock(&p->lock);
  p->acquisitions++;
  if (affinity) p->affinity_hits++;
  pthread_mutex_unlock(&p->lock);
}

static void note_image_map(wh_pool_t *p, cache_t *c) {
  if (c) {
    bump(&c->image_maps);
    return;
  }
  pthread_mutex_lock(&p->lock);
  p->image_maps++;
  pthread_mutex_unlock(&p->lock);
}

static void note_failure(wh_pool_t *p) {
  pthread_mutex_lock(&p->lock);
  p->failures++;
  pthread_mutex_unlock(&p->lock);
}

/* Takes the pool lock for a call its cache could not serve, counting
 * the round (pool_locks in wh_pool_stats). */
static void lock_pool(wh_pool_t *p, cache_t *c) {
  if (c) bump(&c->pool_locks);
  pthread_mutex_lock(&p->lock);
  if (!c) p->pool_locks++;
}

/* ---- memory slots --------------------------------------------------------------- */

static uint8_t *slot_base(const wh_pool_t *p, uint32_t i) {
  return p->mem_base + (size_t)i * p->mem_stride;
}

/* A free memory slot for image `want` (NULL: no image to map), chosen
 * in the order the comment at the top gives; *affinity says it maps
 * `want` already.  NONE when every slot is LIVE. */
static uint32_t take_mem(wh_pool_t *p, cache_t *c, wh_pool_image_t *want, bool *affinity) {
  uint32_t i = NONE, k;
  *affinity = false;
  if (c) {                                              /* 1, 3 */
    pthread_mutex_lock(&c->lock);
    if (want && (k = cache_find(c, want)) != NONE) {
      i = cache_take(c, k);
      *affinity = true;
    } else if (!(want && atomic_load_explicit(&want->nwarm, memory_order_relaxed)) &&
               (k = cache_find(c, NULL)) != NONE) {
      i = cache_take(c, k);
    }
    pthread_mutex_unlock(&c->lock);
    if (i != NONE) return i;
  }
  lock_pool(p, c);                                      /* 2, 4 */
  i = pool_take_mem(p, want, affinity);
  pthread_mutex_unlock(&p->lock);
  if (i != NONE) return i;
  if (c) {                                              /* 5 */
    pthread_mutex_lock(&c->lock);
    if ((k = cache_find(c, NULL)) != NONE || (k = cache_oldest_warm(c)) != NONE)
      i = cache_take(c, k);
    pthread_mutex_unlock(&c->lock);
    if (i != NONE) return i;
  }
  lock_pool(p, c);                                      /* 6, 7 */
  i = steal_mem(p, c, want, affinity);
  if (i == NONE) p->failures++;
  pthread_mutex_unlock(&p->lock);
  return i;
}

/* Puts free slot `i`, mapping `img`, back WARM: into c if a warm token
 * is at hand (borrowing one from the pool if needed), or into the pool's
 * lists without a cache.  False when the warm budget is spent: the
 * caller makes the slot CLEAN. */
static bool put_warm(wh_pool_t *p, cache_t *c, uint32_t i, wh_pool_image_t *img) {
  bool kept = false;
  if (c) {
    pthread_mutex_lock(&c->lock);
    kept = c->nmem < CACHE_MEM && c->nwarm < c->tokens;
    if (kept) cache_put(p, c, i, img);
    pthread_mutex_unlock(&c->lock);
    if (kept) return true;
  }
  lock_pool(p, c);
  if (!c) {
    kept = warm_budget(p);
    if (kept) warm_link(p, i);
  } else {
    pthread_mutex_lock(&c->lock);
    if (c->nmem == CACHE_MEM) flush_mem(p, c, CACHE_MEM / 2);
    bool need = c->nwarm == c->tokens;
    pthread_mutex_unlock(&c->lock);
    if (need && !warm_budget(p)) reclaim_token(p, c);
    pthread_mutex_lock(&c->lock);
    if (c->nwarm == c->tokens && warm_budget(p)) {
      c->tokens++;
      p->tokens_out++;
    }
    kept = c->nwarm < c->tokens;
    if (kept) cache_put(p, c, i, img);
    pthread_mutex_unlock(&c->lock);
  }
  pthread_mutex_unlock(&p->lock);
  return kept;
}

/* Puts free slot `i`, which maps nothing, back CLEAN. */
static void put_clean(wh_pool_t *p, cache_t *c, uint32_t i) {
  if (c) {
    pthread_mutex_lock(&c->lock);
    bool done = c->nmem < CACHE_MEM;
    if (done) cache_put(p, c, i, NULL);
    pthread_mutex_unlock(&c->lock);
    if (done) return;
  }
  lock_pool(p, c);
  if (c) {
    pthread_mutex_lock(&c->lock);
    flush_mem(p, c, CACHE_MEM / 2);
    cache_put(p, c, i, NULL);
    pthread_mutex_unlock(&c->lock);
  } else {
    p->mslots[i].state = WH_SLOT_CLEAN;
    p->clean[p->nclean++] = i;
  }
  pthread_mutex_unlock(&p->lock);
}

/* ---- the engine's allocator interface -------------------------------------- */

static int memory_acquire(wh_inst_alloc_t *a, const wh_module_t *m, uint64_t min,
                          uint64_t max, wh_mem_slot_t *out) {
  wh_pool_t *p = (wh_pool_t *)a;
  if (min > p->cfg.max_memory_size || p->cfg.total_memories == 0) {
    note_failure(p);
    return WH_ELIMIT;
  }
  int why;
  wh_pool_image_t *img = module_image(p, m, &why);   /* NULL: eager */
  bool mapped_image = img && !img->eager && img->fd >= 0;
  cache_t *c = my_cache(p);
  bool affinity;
  uint32_t i = take_mem(p, c, mapped_image ? img : NULL, &affinity);
  if (i == NONE) return WH_ELIMIT;
  note_acquired(p, c, affinity);

  wh_mem_slot_state_t *s = &p->mslots[i];
  s->state = WH_SLOT_LIVE;
  uint8_t *base = slot_base(p, i);
  int rc = 0;
  if (!affinity) {
    if (s->image) {                      /* another module's image */
      uint64_t len = rw_get(s) > s->image->len ? rw_get(s) : s->image->len;
      rc = wh_pool__unmap(base, len);
      image_unref(s->image);
      s->image = NULL;
      rw_set(s, 0);
      if (rc) goto fail;
    }
    if (mapped_image) {
      rc = wh_pool__image_map(img, base);
      if (rc) goto fail;
      atomic_fetch_add(&img->refs, 1);
      s->image = img;
      if (rw_get(s) < img->len) rw_set(s, img->len);
      note_image_map(p, c);
    }
  }
  /* exactly [0, min) accessible */
  uint64_t rw = rw_get(s);
  if (rw < min) {
    if (mprotect(base + rw, min - rw, PROT_READ | PROT_WRITE) != 0) {
      rc = WH_ENOMEM;
      goto fail;
    }
  } else if (rw > min) {
    if (mprotect(base + min, rw - min, PROT_NONE) != 0) {
      rc = WH_ENOMEM;
      goto fail;
    }
  }
  rw_set(s, min);
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
  rw_set(s, wh_pool__unmap(base, p->cfg.max_memory_size) == 0 ? 0 : p->cfg.max_memory_size);
  put_clean(p, c, i);
  note_failure(p);
  return rc;
}

static void memory_release(wh_inst_alloc_t *a, const wh_module_t *m,
                           const wh_mem_slot_t *slot) {
  (void)m;
  wh_pool_t *p = (wh_pool_t *)a;
  uint32_t i = (uint32_t)((size_t)(slot->base - p->mem_base) / p->mem_stride);
  wh_mem_slot_state_t *s = &p->mslots[i];
  uint8_t *base = slot->base;
  uint64_t rw = rw_get(s) > slot->size ? rw_get(s) : slot->size;
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
  rw_set(s, rw);

  cache_t *c = my_cache(p);
  if (ok && img && put_warm(p, c, i, img)) return;
  if (img || !ok) {
    /* not kept warm (or the reset failed): start over from nothing */
    uint64_t len = img && img->len > rw ? img->len : rw;
    if (wh_pool__unmap(base, len) == 0) rw_set(s, 0);
    image_unref(img);
    s->image = NULL;
  }
  put_clean(p, c, i);
}

/* ---- instance-state and table slots ------------------------------------------ */

static void *kind_addr(const wh_pool_t *p, int kind, uint32_t i) {
  return p->kind[kind].base + (size_t)i * p->kind[kind].stride;
}

/* A free slot of `kind`: from the caller's cache; else from the pool,
 * which refills the cache with up to CACHE_STACK / 2 more; else stolen
 * from another cache.  NULL (counted as a failure) when all are LIVE. */
static void *stack_acquire(wh_pool_t *p, int kind) {
  cache_t *c = my_cache(p);
  uint32_t i = NONE;
  if (c) {
    pthread_mutex_lock(&c->lock);
    if (c->nstk[kind]) i = c->stk[kind][--c->nstk[kind]];
    pthread_mutex_unlock(&c->lock);
    if (i != NONE) return kind_addr(p, kind, i);
  }
  lock_pool(p, c);
  if (p->nfree[kind]) {
    i = p->free[kind][--p->nfree[kind]];
    if (c) {
      uint32_t n = p->nfree[kind] < CACHE_STACK / 2 ? p->nfree[kind] : CACHE_STACK / 2;
      pthread_mutex_lock(&c->lock);
      if (n > CACHE_STACK - c->nstk[kind]) n = CACHE_STACK - c->nstk[kind];
      p->nfree[kind] -= n;
      memcpy(c->stk[kind] + c->nstk[kind], p->free[kind] + p->nfree[kind], n * sizeof(uint32_t));
      c->nstk[kind] += n;
      pthread_mutex_unlock(&c->lock);
    }
  } else {
    i = steal_stack(p, c, kind);
  }
  if (i == NONE) p->failures++;
  pthread_mutex_unlock(&p->lock);
  return i == NONE ? NULL : kind_addr(p, kind, i);
}

static void stack_release(wh_pool_t *p, int kind, void *slot) {
  uint32_t i = (uint32_t)((size_t)((uint8_t *)slot - p->kind[kind].base) / p->kind[kind].stride);
  cache_t *c = my_cache(p);
  if (c) {
    pthread_mutex_lock(&c->lock);
    bool done = c->nstk[kind] < CACHE_STACK;
    if (done) c->stk[kind][c->nstk[kind]++] = i;
    pthread_mutex_unlock(&c->lock);
    if (done) return;
  }
  lock_pool(p, c);
  if (c) {
    pthread_mutex_lock(&c->lock);
    flush_stack(p, c, kind, CACHE_STACK / 2);
    c->stk[kind][c->nstk[kind]++] = i;
    pthread_mutex_unlock(&c->lock);
  } else {
    p->free[kind][p->nfree[kind]++] = i;
  }
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
    note_failure(p);
    return NULL;
  }
  return stack_acquire(p, STATE);
}

static void state_release(wh_inst_alloc_t *a, void *block, size_t size) {
  wh_pool_t *p = (wh_pool_t *)a;
  zero_slot(block, size);
  stack_release(p, STATE, block);
}

static void **table_acquire(wh_inst_alloc_t *a, uint32_t min, uint32_t max,
                            uint32_t *capacity) {
  wh_pool_t *p = (wh_pool_t *)a;
  (void)max;
  if (min > p->cfg.table_elements) {
    note_failure(p);
    return NULL;
  }
  *capacity = p->cfg.table_elements;
  return stack_acquire(p, TABLE);
}

static void table_release(wh_inst_alloc_t *a, void **elems, uint32_t size) {
  wh_pool_t *p = (wh_pool_t *)a;
  zero_slot(elems, (size_t)size * sizeof(void *));
  stack_release(p, TABLE, elems);
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
   * sleeping, so two threads never meet in the kernel over a slot */
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
  p->kind[STATE].total = cfg->total_instances;
  p->kind[STATE].stride = (cfg->max_instance_size + 4095) & ~(size_t)4095;
  p->kind[TABLE].total = cfg->total_tables;
  p->kind[TABLE].stride = ((size_t)cfg->table_elements * sizeof(void *) + 4095) & ~(size_t)4095;
  p->mem_stride = cfg->max_memory_size + cfg->memory_guard_size;
  if (!mul_ok(cfg->total_instances, p->kind[STATE].stride, &p->kind[STATE].bytes) ||
      !mul_ok(cfg->total_tables, p->kind[TABLE].stride, &p->kind[TABLE].bytes) ||
      !mul_ok(cfg->total_memories, p->mem_stride, &p->mem_bytes)) {
    wh_diag_set(diag, WH_EINVAL, -1, "pool sizes overflow the address space");
    goto fail;
  }
  for (int k = 0; k < NKINDS; k++)
    p->free[k] = calloc((size_t)p->kind[k].total + 1, sizeof *p->free[k]);
  p->clean = calloc((size_t)cfg->total_memories + 1, sizeof *p->clean);
  /* one cache line per slot, aligned (see pool_int.h) */
  p->mslots_raw = calloc((size_t)cfg->total_memories + 2, sizeof *p->mslots);
  if (!p->free[STATE] || !p->free[TABLE] || !p->clean || !p->mslots_raw) {
    wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
    goto fail;
  }
  p->mslots = (wh_mem_slot_state_t *)(((uintptr_t)p->mslots_raw + LINE - 1) & ~(uintptr_t)(LINE - 1));
  if ((p->kind[STATE].bytes &&
       !(p->kind[STATE].base = reserve(p->kind[STATE].bytes, PROT_READ | PROT_WRITE))) ||
      (p->kind[TABLE].bytes &&
       !(p->kind[TABLE].base = reserve(p->kind[TABLE].bytes, PROT_READ | PROT_WRITE))) ||
      (p->mem_bytes && !(p->mem_base = reserve(p->mem_bytes, PROT_NONE)))) {
    wh_diag_set(diag, WH_ENOMEM, -1,
                "cannot reserve %zu + %zu + %zu bytes of address space for the pool "
                "(instances, tables, memories); lower total_* or max_memory_size",
                p->kind[STATE].bytes, p->kind[TABLE].bytes, p->mem_bytes);
    goto fail;
  }
  /* LIFO stacks: slot 0 on top */
  for (int k = 0; k < NKINDS; k++) {
    uint32_t n = p->kind[k].total;
    for (uint32_t i = 0; i < n; i++) p->free[k][i] = n - 1 - i;
    p->nfree[k] = n;
  }
  for (uint32_t i = 0; i < cfg->total_memories; i++) {
    p->clean[i] = cfg->total_memories - 1 - i;
    p->mslots[i].prev = p->mslots[i].next = NONE;
    p->mslots[i].lru_prev = p->mslots[i].lru_next = NONE;
  }
  p->nclean = cfg->total_memories;
  pthread_mutex_lock(&reg_lock);
  p->id = ++reg_ids;
  p->reg_next = reg_head;
  if (reg_head) reg_head->reg_prev = p;
  reg_head = p;
  p->registered = true;
  pthread_mutex_unlock(&reg_lock);
  return p;
fail:
  wh_pool_free(p);
  return NULL;
}

void wh_pool_free(wh_pool_t *p) {
  if (!p) return;
  if (p->registered) {            /* from now on exiting threads leave it alone */
    pthread_mutex_lock(&reg_lock);
    if (p->reg_prev) p->reg_prev->reg_next = p->reg_next;
    else reg_head = p->reg_next;
    if (p->reg_next) p->reg_next->reg_prev = p->reg_prev;
    pthread_mutex_unlock(&reg_lock);
  }
  /* caches of threads still running; their slots are freed below */
  while (p->caches) {
    cache_t *c = p->caches;
    p->caches = c->next;
    cache_free(c);
  }
  if (p->mslots)
    for (uint32_t i = 0; i < p->cfg.total_memories; i++) image_unref(p->mslots[i].image);
  /* images modules still hold outlive the pool, orphaned */
  for (wh_pool_image_t *img = p->image_list; img; img = img->next_img) img->pool = NULL;
  for (int k = 0; k < NKINDS; k++) {
    if (p->kind[k].base) munmap(p->kind[k].base, p->kind[k].bytes);
    free(p->free[k]);
  }
  if (p->mem_base) munmap(p->mem_base, p->mem_bytes);
  free(p->clean);
  free(p->mslots_raw);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

wh_inst_alloc_t *wh_pool_allocator(wh_pool_t *p) { return &p->alloc; }

void wh_pool_stats(wh_pool_t *p, wh_pool_stats_t *out) {
  memset(out, 0, sizeof *out);
  /* every cache locked at once: no slot can be counted in two of them */
  pthread_mutex_lock(&p->lock);
  uint64_t ninst = p->nfree[STATE], ntab = p->nfree[TABLE];
  uint64_t clean = p->nclean, warm = p->nwarm;
  out->acquisitions = p->acquisitions;
  out->affinity_hits = p->affinity_hits;
  out->image_maps = p->image_maps;
  out->pool_locks = p->pool_locks;
  for (cache_t *c = p->caches; c; c = c->next) {
    pthread_mutex_lock(&c->lock);
    ninst += c->nstk[STATE];
    ntab += c->nstk[TABLE];
    clean += c->nmem - c->nwarm;
    warm += c->nwarm;
    out->acquisitions += load(&c->acquisitions);
    out->affinity_hits += load(&c->affinity_hits);
    out->image_maps += load(&c->image_maps);
    out->pool_locks += load(&c->pool_locks);
    out->caches++;
  }
  for (cache_t *c = p->caches; c; c = c->next) pthread_mutex_unlock(&c->lock);
  out->instances_free = (uint32_t)ninst;
  out->instances_live = p->cfg.total_instances - (uint32_t)ninst;
  out->tables_free = (uint32_t)ntab;
  out->tables_live = p->cfg.total_tables - (uint32_t)ntab;
  out->memories_warm = (uint32_t)warm;
  out->memories_clean = (uint32_t)clean;
  out->memories_live = p->cfg.total_memories - (uint32_t)(clean + warm);
  out->failures = p->failures;
  out->steals = p->steals;
  out->images = p->images;
  out->image_bytes = p->image_bytes;
  pthread_mutex_unlock(&p->lock);
  /* the slots' sizes are kept by the threads holding them: a sum of
   * relaxed reads, not part of the snapshot */
  for (uint32_t i = 0; i < p->cfg.total_memories; i++)
    out->memory_committed += rw_get(&p->mslots[i]);
}
