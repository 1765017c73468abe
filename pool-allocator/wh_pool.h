/*
 * wh_pool.h - the pooling instance allocator (model: wasmtime's).
 *
 * At start-up the pool reserves address space for every instance it may
 * ever hold: `total_memories` linear-memory slots of `max_memory_size` +
 * `memory_guard_size` bytes, `total_tables` table slots of
 * `table_elements` entries, `total_instances` instance-state slots.  An
 * instantiation takes one slot of each kind it needs and gives them back
 * when the instance is freed; nothing is mmap'ed or malloc'ed on that path.
 *
 * A module whose data segments sit at constant offsets gets a sealed memfd
 * holding its initial memory (its "image"); instantiation maps the image
 * copy-on-write into the slot instead of copying the segments, and a slot
 * released by an instance of the module keeps the image mapped for the
 * next one (affinity).  Releasing a slot resets it: the bytes an instance
 * wrote are dropped (madvise), so the next occupant, of the same module or
 * another tenant's, sees only its own initial state.
 *
 * Threads: every function may be called from any thread.  Each thread
 * keeps a small cache of free slots per pool (a few memory slots, warm
 * with the images it used last, and a few state and table slots), so the
 * usual acquire and release touch no lock or cache line that another
 * thread writes; the pool's own lists, under one mutex, refill and
 * receive those caches in batches.  A slot in one thread's cache is
 * taken by another that finds no other free slot, so exhaustion still
 * means every slot is held by an instance.  A thread's cache goes back to
 * the pool when the thread exits.  The system calls that map and reset
 * memory run outside every lock.
 */
#ifndef WH_POOL_H
#define WH_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wh_engine.h"
#include "wh_error.h"

typedef struct wh_pool wh_pool_t;

typedef struct wh_pool_config {
  uint32_t total_instances;       /* instance-state slots */
  uint32_t total_memories;        /* linear-memory slots */
  uint32_t total_tables;          /* table slots */
  uint64_t max_memory_size;       /* bytes a memory slot can grow to */
  uint64_t memory_guard_size;     /* PROT_NONE bytes after each slot */
  uint32_t table_elements;        /* entries per table slot */
  uint64_t max_instance_size;     /* bytes of state per instance slot */
  uint64_t keep_resident;         /* bytes of a released memory zeroed with
                                     memset (kept resident) rather than
                                     dropped with madvise */
  uint32_t max_unused_warm_slots; /* released memory slots that keep their
                                     module's image mapped */
} wh_pool_config_t;

/* Defaults: 1000 instances, memories and tables; 4 GiB memories with a
 * 2 GiB guard... see docs/CONFIG.md for each value. */
void wh_pool_config_default(wh_pool_config_t *cfg);

/* Reserves the pool's address space (at most 10,000,000 slots of a kind;
 * no size may be 0).  NULL on failure with `diag` saying
 * which reservation failed and why (e.g. too little address space for
 * total_memories * (max_memory_size + memory_guard_size)). */
wh_pool_t *wh_pool_new(const wh_pool_config_t *cfg, wh_diag_t *diag);
/* Releases the reservations.  Every instance made from the pool must be
 * freed first. */
void wh_pool_free(wh_pool_t *p);

/* The pool as an instance allocator, for wh_linker_instantiate_in.
 * Exhaustion of any slot kind makes instantiation fail with WH_ELIMIT
 * (never an abort); the daemon answers 503. */
wh_inst_alloc_t *wh_pool_allocator(wh_pool_t *p);

/* Builds `m`'s memory image now (it is otherwise built on the module's
 * first instantiation): call it when a module is loaded so the first
 * invocation does not pay for it.  Returns 0 when an image was built or
 * exists, WH_EUNSUPPORTED when the module must be initialised eagerly
 * (see wh_module_memory_image), WH_EEXISTS when the module belongs to
 * another pool, or an error (WH_EIO, WH_ENOMEM) after which the module is
 * initialised eagerly.  A module may outlive its pool (its image is then
 * orphaned and the module instantiates eagerly in any later pool). */
int wh_pool_prepare_module(wh_pool_t *p, const wh_module_t *m);

typedef struct wh_pool_stats {
  uint32_t instances_live, instances_free;
  uint32_t tables_live, tables_free;
  uint32_t memories_live;         /* held by instances */
  uint32_t memories_warm;         /* free, holding a module's image */
  uint32_t memories_clean;        /* free, no image */
  uint64_t memory_committed;      /* bytes made accessible in memory slots */
  uint64_t acquisitions;          /* successful memory-slot acquisitions */
  uint64_t affinity_hits;         /* ... that found their image mapped */
  uint64_t image_maps;            /* images mapped into a slot */
  uint64_t failures;              /* instantiations refused: exhausted */
  uint64_t images;                /* live module images */
  uint64_t image_bytes;           /* bytes in them */
  /* contention: how often the threads' caches did not suffice */
  uint64_t pool_locks;            /* acquire/release calls' rounds under the
                                     pool-wide lock (the others touched
                                     only their thread's cache) */
  uint64_t steals;                /* free slots taken from another
                                     thread's cache */
  uint32_t caches;                /* threads with a cache for this pool */
} wh_pool_stats_t;

/* A consistent snapshot of the pool's counters: slot counts include the
 * slots waiting in threads' caches (memory_committed is summed without
 * stopping the threads that hold the slots). */
void wh_pool_stats(wh_pool_t *p, wh_pool_stats_t *out);

#endif /* WH_POOL_H */
