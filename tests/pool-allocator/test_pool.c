/*
 * test_pool.c - the "pool.c" suite: reservations, slot lists, exhaustion,
 * statistics, affinity and the warm-slot LRU, memory.grow inside a slot
 * and the per-exec limit, isolation between the occupants of a slot
 * (memory, tables, globals), many threads on one pool, and the threads'
 * slot caches (release on another thread, a thread exiting with slots
 * cached, exhaustion and the warm budget across caches, counters summed
 * over them).
 *
 * Most tests use pools of one slot of each kind, so the next instance is
 * sure to land in the slot the previous one left.  Modules are compiled
 * per pool and freed before it (a module's image belongs to the first
 * pool that used it; see test_module_outlives_pool).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pt.h"

/* ---- helpers --------------------------------------------------------------- */

static int32_t call0(pt_env_t *e, wh_instance_t *inst, const char *name) {
  int32_t r = -99;
  if (pt_call(e->x, inst, name, &r, 0) != 0) return -98;
  return r;
}

static int32_t call1(pt_env_t *e, wh_instance_t *inst, const char *name, int32_t arg) {
  int32_t r = -99;
  if (pt_call(e->x, inst, name, &r, 1, arg) != 0) return -98;
  return r;
}

static uint64_t vm_kb(const char *field) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  uint64_t v = 0;
  size_t n = strlen(field);
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, field, n) == 0 && line[n] == ':') v = strtoull(line + n + 1, NULL, 10);
  if (f) fclose(f);
  return v;
}

/* ---- configuration and reservations ----------------------------------------- */

static void test_config_default(void) {
  wh_pool_config_t c;
  memset(&c, 0xff, sizeof c);
  wh_pool_config_default(&c);
  PT_CHECK(c.total_instances == 1000 && c.total_memories == 1000 && c.total_tables == 1000,
           "The default pool has 1000 instance, memory and table slots (docs/CONFIG.md).");
  PT_CHECK(c.max_memory_size == 4ull << 30, "A default memory slot grows to 4 GiB.");
  PT_CHECK(c.memory_guard_size == 2ull << 30, "A default memory slot has a 2 GiB guard.");
  PT_CHECK(c.table_elements == 20000, "A default table slot holds 20000 elements.");
  PT_CHECK(c.max_instance_size == 1u << 20, "A default instance slot holds 1 MiB of state.");
  PT_CHECK(c.keep_resident == 0, "By default no byte of a released memory is kept resident.");
  PT_CHECK(c.max_unused_warm_slots == 100, "By default up to 100 released slots stay warm.");
}

static void test_new_rejects_misaligned_sizes(void) {
  wh_pool_config_t c;
  wh_diag_t d;
  pt_small_config(&c, 1);
  c.max_memory_size = PT_PAGE + 4096;
  PT_CHECK(wh_pool_new(&c, &d) == NULL && d.code == WH_EINVAL,
           "A max_memory_size that is not a multiple of 64 KiB is refused with WH_EINVAL (%s).",
           wh_errname(d.code));
  pt_small_config(&c, 1);
  c.memory_guard_size = 100;
  PT_CHECK(wh_pool_new(&c, &d) == NULL && d.code == WH_EINVAL,
           "A memory_guard_size that is not a multiple of 4 KiB is refused with WH_EINVAL (%s).",
           wh_errname(d.code));
}

static void test_new_impossible_reservation(void) {
  wh_pool_config_t c;
  wh_diag_t d;
  wh_pool_config_default(&c);
  c.total_memories = 100000;            /* 100000 x 6 GiB: 600 TB */
  uint64_t vm = vm_kb("VmSize");
  wh_pool_t *p = wh_pool_new(&c, &d);
  PT_CHECK(p == NULL, "A pool needing 600 TB of address space cannot be made.");
  wh_pool_free(p);
  PT_CHECK(d.code == WH_ENOMEM && strstr(d.msg, "reserve") != NULL,
           "The diagnostic of an impossible reservation says what could not be reserved "
           "(got %s: \"%s\").", wh_errname(d.code), d.msg);
  /* the slabs it did reserve (1 GB of instance state, 160 MB of tables)
   * are gone again; the allocator may keep a few MiB of its own */
  uint64_t after = vm_kb("VmSize");
  PT_CHECK(after < vm + (64u << 10),
           "A failed wh_pool_new leaves no reservation behind (%llu -> %llu kB of address space).",
           (unsigned long long)vm, (unsigned long long)after);
}

static void huge_count_child(void *arg) {
  (void)arg;
  wh_pool_config_t c;
  wh_diag_t d;
  pt_small_config(&c, 1);
  c.total_instances = UINT32_MAX;       /* 16 TB of NORESERVE state slots */
  c.max_instance_size = 4096;
  wh_pool_t *p = wh_pool_new(&c, &d);
  PT_CHECK(p != NULL || d.msg[0], "A refused pool says why.");
  wh_pool_free(p);
}

/* total_instances + 1 is computed in 32 bits: UINT32_MAX slots get a
 * free list of 0 entries, then 2^32 are written into it. */
static void test_new_huge_slot_count(void) {
  pt_in_child("wh_pool_new with total_instances = 4294967295", huge_count_child, NULL);
}

/* Zero-sized slots (max_memory_size 0 and no guard; table_elements 0):
 * wh_pool_new refuses them, or instances that fit them come and go. */
static void zero_slots_child(void *arg) {
  (void)arg;
  wh_pool_config_t c;
  pt_small_config(&c, 2);
  c.max_memory_size = 0;
  c.memory_guard_size = 0;
  c.table_elements = 0;
  pt_env_t e;
  memset(&e, 0, sizeof e);
  wh_diag_t d;
  e.pool = wh_pool_new(&c, &d);
  if (!e.pool) {
    PT_CHECK(d.code == WH_EINVAL, "Zero-sized slots are refused with WH_EINVAL (%s).",
             wh_errname(d.code));
    return;
  }
  e.x = wh_exec_new(pt_engine());
  e.l = pt_linker(NULL);
  wh_module_t *m = pt_module("(module (memory 0) (table 0 funcref))");
  wh_module_t *mem_only = pt_module("(module (memory 0))");
  for (int round = 0; m && mem_only && round < 3; round++) {
    wh_instance_t *inst = NULL;
    int rc = pt_inst(&e, mem_only, &inst);
    PT_CHECK(rc == 0 || rc == WH_ELIMIT, "A module with an empty memory instantiates or is "
             "refused (%s).", wh_errname(rc));
    wh_instance_free(inst);                  /* slot index = offset / stride 0 */
    rc = pt_inst(&e, m, &inst);
    PT_CHECK(rc == 0 || rc == WH_ELIMIT, "A module with an empty memory and table "
             "instantiates or is refused (%s).", wh_errname(rc));
    wh_instance_free(inst);
    wh_pool_stats_t s = pt_stats(&e);
    PT_CHECK(s.tables_free == 2 && s.instances_free == 2 && s.memories_live == 0,
             "Round %d leaves every slot free (tables free %u, instances free %u).", round,
             s.tables_free, s.instances_free);
  }
  wh_module_free(m);
  wh_module_free(mem_only);
  pt_env_fini(&e);
}

static void test_zero_sized_slots(void) {
  wh_module_free(pt_module("(module (memory 0) (table 0 funcref))"));
  wh_module_free(pt_module("(module (memory 0))"));
  pt_in_child("a pool of zero-sized slots", zero_slots_child, NULL);
}

/* Every allocation wh_pool_new makes, failing in turn: NULL with "out of
 * memory", nothing leaked (the sanitizer build's leak check), and the
 * next attempt works. */
static void test_new_allocation_faults(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 4);
  int faults = 0;
  for (long n = 1; n < 50; n++) {
    wh_diag_t d;
    pt_fail_calloc(n);
    wh_pool_t *p = wh_pool_new(&c, &d);
    long calls = pt_calloc_calls();
    pt_fail_calloc(0);
    if (calls < n) {                    /* no allocation was left to fail */
      PT_CHECK(p != NULL, "wh_pool_new succeeds when no allocation fails (%s).", d.msg);
      wh_pool_free(p);
      break;
    }
    faults++;
    PT_CHECK(p == NULL && d.code == WH_ENOMEM,
             "wh_pool_new with allocation %ld failing returns NULL and WH_ENOMEM (got %s, %s).",
             n, p ? "a pool" : "NULL", wh_errname(d.code));
    wh_pool_free(p);
  }
  PT_CHECK(faults >= 4, "wh_pool_new's allocations were each made to fail (%d).", faults);
}

/* The allocations of a module's first instantiation (its image) failing
 * in turn: the instance is still right (made eagerly) or refused with
 * WH_ENOMEM, and the pool is left consistent. */
static void test_image_allocation_faults(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  int faults = 0;
  for (long n = 1; n < 50; n++) {
    pt_env_t e;
    if (!pt_env_init(&e, &c)) break;
    wh_module_t *a = pt_tenant_module(&PT_A);
    if (!a) {
      pt_env_fini(&e);
      break;
    }
    wh_instance_t *inst = NULL;
    pt_fail_calloc(n);
    int rc = pt_inst(&e, a, &inst);
    long calls = pt_calloc_calls();
    pt_fail_calloc(0);
    if (calls >= n) faults++;
    PT_CHECK(rc == 0 || rc == WH_ENOMEM,
             "With allocation %ld failing, A's first instantiation succeeds or fails with "
             "WH_ENOMEM (got %s: %s).", n, wh_errname(rc), e.diag.msg);
    if (inst) pt_check_initial(e.x, inst, &PT_A, "with an allocation failing");
    wh_instance_free(inst);
    wh_pool_stats_t s = pt_stats(&e);
    PT_CHECK(s.memories_live == 0 && s.instances_live == 0 && s.tables_live == 0,
             "With allocation %ld failing, nothing is left live.", n);
    inst = NULL;
    rc = pt_inst(&e, a, &inst);
    PT_CHECK(rc == 0, "After allocation %ld failed, A instantiates (%s).", n, wh_errname(rc));
    if (inst) pt_check_initial(e.x, inst, &PT_A, "after an allocation failed");
    wh_instance_free(inst);
    wh_module_free(a);
    pt_env_fini(&e);
    if (calls < n) break;
  }
  PT_CHECK(faults >= 2, "The image's allocations were each made to fail (%d).", faults);
}

/* ---- exhaustion ------------------------------------------------------------- */

typedef enum { EX_MEMORIES, EX_INSTANCES, EX_TABLES } exhaust_kind_t;

static void exhaust(exhaust_kind_t kind) {
  static const char *const what[] = {"total_memories", "total_instances", "total_tables"};
  static const char *const word[] = {"memory slot", "instance slot", "table slot"};
  wh_pool_config_t c;
  pt_small_config(&c, 8);
  if (kind == EX_MEMORIES) c.total_memories = 2;
  if (kind == EX_INSTANCES) c.total_instances = 2;
  if (kind == EX_TABLES) c.total_tables = 2;
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  wh_module_t *m = pt_tenant_module(&PT_A);
  if (!m) goto out;
  wh_instance_t *i1 = NULL, *i2 = NULL, *i3 = NULL, *i4 = NULL;
  PT_CHECK(pt_inst(&e, m, &i1) == 0 && pt_inst(&e, m, &i2) == 0,
           "With %s = 2, two instances can be live.", what[kind]);
  int rc = pt_inst(&e, m, &i3);
  PT_CHECK(rc == WH_ELIMIT && i3 == NULL,
           "With %s = 2, a third live instance is refused with WH_ELIMIT (got %s).", what[kind],
           wh_errname(rc));
  PT_CHECK(e.diag.code == WH_ELIMIT && strstr(e.diag.msg, word[kind]) &&
               strstr(e.diag.msg, "exhausted"),
           "The refusal's diagnostic says the pool has no %s left (\"%s\").", word[kind],
           e.diag.msg);
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.failures == 1, "The pool counts one refused instantiation (it counts %llu).",
           (unsigned long long)s.failures);
  PT_CHECK(s.memories_live == 2 && s.instances_live == 2 && s.tables_live == 2,
           "A refused instantiation gives back the slots it took before it failed "
           "(live: %u memories, %u instances, %u tables).",
           s.memories_live, s.instances_live, s.tables_live);
  PT_CHECK(pt_check_initial(e.x, i2, &PT_A, "beside a refused instantiation") == 0,
           "The live instances are untouched by the refusal.");
  wh_instance_free(i1);
  rc = pt_inst(&e, m, &i4);
  PT_CHECK(rc == 0, "Once an instance is freed, the next instantiation succeeds (got %s).",
           wh_errname(rc));
  if (i4) pt_check_initial(e.x, i4, &PT_A, "in a slot freed after exhaustion");
  wh_instance_free(i2);
  wh_instance_free(i4);
  s = pt_stats(&e);
  PT_CHECK(s.memories_live == 0 && s.instances_live == 0 && s.tables_live == 0,
           "After every instance is freed nothing is live.");
  PT_CHECK(s.acquisitions == 3, "Three memory slots were acquired (the pool says %llu).",
           (unsigned long long)s.acquisitions);
  wh_module_free(m);
out:
  pt_env_fini(&e);
}

static void test_exhaust_memories(void) { exhaust(EX_MEMORIES); }
static void test_exhaust_instances(void) { exhaust(EX_INSTANCES); }
static void test_exhaust_tables(void) { exhaust(EX_TABLES); }

static void test_over_slot_limits(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 2);
  c.max_memory_size = 4 * PT_PAGE;
  c.table_elements = 8;
  c.max_instance_size = 4096;
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  wh_module_t *big_mem = pt_module("(module (memory 5))");
  wh_module_t *big_tab = pt_module("(module (table 9 funcref))");
  /* 100 functions: 100 pointers + 100 function records > 4096 bytes */
  char wat[4096] = "(module";
  for (int i = 0; i < 100; i++) strcat(wat, " (func)");
  strcat(wat, ")");
  wh_module_t *big_state = pt_module(wat);
  wh_module_t *grow_tab = pt_module(
      "(module (table $t 2 100 funcref)"
      " (func (export \"tgrow\") (param i32) (result i32)"
      "   (table.grow $t (ref.null func) (local.get 0))))");
  wh_instance_t *inst = NULL;
  int rc;
  if (big_mem) {
    rc = pt_inst(&e, big_mem, &inst);
    PT_CHECK(rc == WH_ELIMIT && e.diag.code == WH_ELIMIT,
             "A module whose minimum memory (5 pages) exceeds the slot (4 pages) is refused "
             "with WH_ELIMIT (got %s: %s).", wh_errname(rc), e.diag.msg);
    wh_instance_free(inst);
  }
  if (big_tab) {
    rc = pt_inst(&e, big_tab, &inst);
    PT_CHECK(rc == WH_ELIMIT, "A table of 9 elements in a pool of 8-element slots is refused "
             "with WH_ELIMIT (got %s).", wh_errname(rc));
    wh_instance_free(inst);
  }
  if (big_state) {
    rc = pt_inst(&e, big_state, &inst);
    PT_CHECK(rc == WH_ELIMIT, "A module whose state exceeds max_instance_size is refused with "
             "WH_ELIMIT (got %s).", wh_errname(rc));
    wh_instance_free(inst);
  }
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.failures == 3 && s.instances_live == 0 && s.memories_live == 0 &&
               s.tables_live == 0,
           "Three refusals are counted and hold no slot (failures %llu, live %u/%u/%u).",
           (unsigned long long)s.failures, s.instances_live, s.memories_live, s.tables_live);
  if (grow_tab) {
    inst = NULL;
    rc = pt_inst(&e, grow_tab, &inst);
    PT_CHECK(rc == 0, "A table of 2 (max 100) fits an 8-element slot.");
    if (inst) {
      PT_CHECK(call1(&e, inst, "tgrow", 6) == 2,
               "table.grow up to the slot's 8 elements succeeds.");
      PT_CHECK(call1(&e, inst, "tgrow", 1) == -1,
               "table.grow past the slot's 8 elements returns -1 though the module allows 100.");
    }
    wh_instance_free(inst);
  }
  wh_module_free(big_mem);
  wh_module_free(big_tab);
  wh_module_free(big_state);
  wh_module_free(grow_tab);
out:
  pt_env_fini(&e);
}

/* ---- statistics, affinity, LRU ---------------------------------------------- */

static uint64_t image_len(const pt_tenant_t *t) {
  uint64_t end = 0;
  for (int i = 0; i < t->nsegs; i++)
    if (t->segs[i].off + t->segs[i].len > end) end = t->segs[i].off + t->segs[i].len;
  return (end + 4095) & ~(uint64_t)4095;
}

static void test_stats_lifecycle(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 4);
  c.max_unused_warm_slots = 2;
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.memories_clean == 4 && s.memories_warm == 0 && s.memories_live == 0 &&
               s.instances_free == 4 && s.tables_free == 4 && s.memory_committed == 0 &&
               s.acquisitions == 0 && s.images == 0,
           "A new pool has every slot clean and free, nothing committed, no image.");
  wh_module_t *a = pt_tenant_module(&PT_A), *b = pt_tenant_module(&PT_B),
              *cc = pt_tenant_module(&PT_C);
  if (!a || !b || !cc) goto mods;
  PT_CHECK(wh_pool_prepare_module(e.pool, a) == 0, "Module A (constant offsets) gets an image.");
  s = pt_stats(&e);
  PT_CHECK(s.images == 1 && s.image_bytes == image_len(&PT_A),
           "Preparing A makes one image of %llu bytes (the pool says %llu images, %llu bytes).",
           (unsigned long long)image_len(&PT_A), (unsigned long long)s.images,
           (unsigned long long)s.image_bytes);
  wh_instance_t *i[4] = {0};
  int rc = pt_inst(&e, a, &i[0]) | pt_inst(&e, a, &i[1]) | pt_inst(&e, b, &i[2]) |
           pt_inst(&e, cc, &i[3]);
  PT_CHECK(rc == 0, "Four instances fit four slots.");
  s = pt_stats(&e);
  PT_CHECK(s.memories_live == 4 && s.memories_clean == 0 && s.memories_warm == 0,
           "Four live instances: 4 live memories, none clean or warm (%u/%u/%u).",
           s.memories_live, s.memories_clean, s.memories_warm);
  PT_CHECK(s.instances_live == 4 && s.instances_free == 0 && s.tables_live == 4,
           "Four live instances hold four instance and table slots.");
  uint64_t want = (uint64_t)(2 * PT_A.min + PT_B.min + PT_C.min) * PT_PAGE;
  PT_CHECK(s.memory_committed == want,
           "The committed bytes are the four memories' sizes, %llu (the pool says %llu).",
           (unsigned long long)want, (unsigned long long)s.memory_committed);
  PT_CHECK(s.acquisitions == 4 && s.affinity_hits == 0 && s.image_maps == 3,
           "Four acquisitions, no affinity hit, three images mapped (A, A, B; C has no data): "
           "%llu, %llu, %llu.", (unsigned long long)s.acquisitions,
           (unsigned long long)s.affinity_hits, (unsigned long long)s.image_maps);
  PT_CHECK(s.images == 2 && s.image_bytes == image_len(&PT_A) + image_len(&PT_B),
           "Two images exist, A's and B's (%llu, %llu bytes).", (unsigned long long)s.images,
           (unsigned long long)s.image_bytes);
  for (int k = 0; k < 4; k++) wh_instance_free(i[k]);
  s = pt_stats(&e);
  PT_CHECK(s.memories_live == 0 && s.memories_warm == 2 && s.memories_clean == 2,
           "Released: two A slots stay warm (the limit is 2), B's and C's are clean "
           "(live %u, warm %u, clean %u).", s.memories_live, s.memories_warm, s.memories_clean);
  PT_CHECK(s.instances_free == 4 && s.tables_free == 4, "Released: every state and table slot is free.");
  PT_CHECK(s.failures == 0, "Nothing failed.");
  wh_instance_t *again = NULL;
  pt_inst(&e, a, &again);
  s = pt_stats(&e);
  PT_CHECK(s.affinity_hits == 1 && s.image_maps == 3 && s.memories_warm == 1,
           "A again takes a warm slot: one affinity hit, no new image map (%llu, %llu).",
           (unsigned long long)s.affinity_hits, (unsigned long long)s.image_maps);
  wh_instance_free(again);
mods:
  wh_module_free(a);
  wh_module_free(b);
  wh_module_free(cc);
  s = pt_stats(&e);
  PT_CHECK(s.images == 1, "Once the modules are freed only the image that a warm slot maps "
           "stays (%llu images).", (unsigned long long)s.images);
out:
  pt_env_fini(&e);
}

static void test_affinity(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  wh_module_t *a = pt_tenant_module(&PT_A);
  if (!a) goto out;
  for (int round = 0; round < 3; round++) {
    wh_instance_t *inst = NULL;
    int rc = pt_inst(&e, a, &inst);
    PT_CHECK(rc == 0, "Instance %d of A is made (%s).", round, wh_errname(rc));
    if (!inst) break;
    pt_check_initial(e.x, inst, &PT_A, round ? "in A's warm slot" : "in a clean slot");
    pt_call(e.x, inst, "scribble", NULL, 0);
    wh_instance_free(inst);
    wh_pool_stats_t s = pt_stats(&e);
    PT_CHECK(s.affinity_hits == (uint64_t)round && s.image_maps == 1 && s.memories_warm == 1,
             "After %d rounds of A: %d affinity hits and one image map (%llu, %llu), slot warm.",
             round + 1, round, (unsigned long long)s.affinity_hits,
             (unsigned long long)s.image_maps);
  }
  wh_module_free(a);
out:
  pt_env_fini(&e);
}

static void test_no_warm_slots(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  c.max_unused_warm_slots = 0;
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  wh_module_t *a = pt_tenant_module(&PT_A);
  if (!a) goto out;
  for (int round = 0; round < 3; round++) {
    wh_instance_t *inst = NULL;
    pt_inst(&e, a, &inst);
    if (!inst) break;
    pt_check_initial(e.x, inst, &PT_A, "with max_unused_warm_slots = 0");
    pt_call(e.x, inst, "scribble", NULL, 0);
    wh_instance_free(inst);
    wh_pool_stats_t s = pt_stats(&e);
    PT_CHECK(s.memories_warm == 0 && s.memories_clean == 1,
             "With max_unused_warm_slots = 0 a released slot is clean (warm %u, clean %u).",
             s.memories_warm, s.memories_clean);
    PT_CHECK(s.affinity_hits == 0 && s.image_maps == (uint64_t)round + 1,
             "Without warm slots every instance maps the image afresh (%llu maps, %llu hits).",
             (unsigned long long)s.image_maps, (unsigned long long)s.affinity_hits);
  }
  wh_module_free(a);
out:
  pt_env_fini(&e);
}

static void test_lru_eviction(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 2);
  c.max_unused_warm_slots = 2;
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  wh_module_t *a = pt_tenant_module(&PT_A), *b = pt_tenant_module(&PT_B),
              *cc = pt_tenant_module(&PT_C);
  if (!a || !b || !cc) goto mods;
  wh_instance_t *ia = NULL, *ib = NULL, *ic = NULL;
  pt_inst(&e, a, &ia);
  pt_inst(&e, b, &ib);
  pt_call(e.x, ia, "scribble", NULL, 0);
  pt_call(e.x, ib, "scribble", NULL, 0);
  wh_instance_free(ia);            /* A's slot warm first: the oldest */
  wh_instance_free(ib);
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.memories_warm == 2 && s.memories_clean == 0, "A's and B's slots are both warm.");
  /* C needs a slot and none is clean: the oldest warm slot (A's) goes */
  int rc = pt_inst(&e, cc, &ic);
  PT_CHECK(rc == 0, "With every free slot warm, a third module still gets one (%s).",
           wh_errname(rc));
  if (ic) pt_check_initial(e.x, ic, &PT_C, "in a slot evicted from A");
  s = pt_stats(&e);
  PT_CHECK(s.memories_warm == 1, "Evicting leaves one warm slot (%u).", s.memories_warm);
  uint64_t maps = s.image_maps;
  ib = NULL;
  pt_inst(&e, b, &ib);
  s = pt_stats(&e);
  PT_CHECK(s.affinity_hits == 1 && s.image_maps == maps,
           "B, the newer warm slot, survived the eviction: B hits it (%llu hits).",
           (unsigned long long)s.affinity_hits);
  if (ib) pt_check_initial(e.x, ib, &PT_B, "in B's warm slot after an eviction");
  wh_instance_free(ib);
  wh_instance_free(ic);
  ia = NULL;
  pt_inst(&e, a, &ia);
  s = pt_stats(&e);
  PT_CHECK(s.affinity_hits == 1 && s.image_maps == maps + 1,
           "A's slot was the one evicted: A maps its image again (%llu maps, %llu hits).",
           (unsigned long long)s.image_maps, (unsigned long long)s.affinity_hits);
  if (ia) pt_check_initial(e.x, ia, &PT_A, "after its warm slot was evicted");
  wh_instance_free(ia);
mods:
  wh_module_free(a);
  wh_module_free(b);
  wh_module_free(cc);
out:
  pt_env_fini(&e);
}

/* ---- memory.grow and the limit ---------------------------------------------- */

static const char *GROW_WAT =
    "(module (memory (export \"mem\") 1 %s)"
    " (func (export \"grow\") (param i32) (result i32) (memory.grow (local.get 0)))"
    " (func (export \"size\") (result i32) (memory.size))"
    " (func (export \"poke\") (param i32) (i32.store8 (local.get 0) (i32.const 7)))"
    " (func (export \"load\") (param i32) (result i32) (i32.load8_u (local.get 0))))";

static wh_module_t *grow_module(const char *max) {
  char wat[1024];
  snprintf(wat, sizeof wat, GROW_WAT, max);
  return pt_module(wat);
}

static void test_grow(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  c.max_memory_size = 8 * PT_PAGE;
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  wh_module_t *capped = grow_module("4"), *open = grow_module("");
  if (!capped || !open) goto mods;
  wh_instance_t *inst = NULL;
  pt_inst(&e, capped, &inst);
  if (inst) {
    PT_CHECK(call1(&e, inst, "grow", 3) == 1, "memory.grow to the module's maximum (4 pages) "
             "returns the old size, 1.");
    PT_CHECK(pt_call(e.x, inst, "poke", NULL, 1, 4 * PT_PAGE - 1) == 0 &&
                 call1(&e, inst, "load", 4 * PT_PAGE - 1) == 7,
             "The last byte of the grown memory can be written and read.");
    PT_CHECK(call1(&e, inst, "grow", 1) == -1,
             "memory.grow past the module's maximum returns -1.");
    PT_CHECK(call0(&e, inst, "size") == 4, "A refused grow leaves the size at 4 pages.");
    PT_CHECK(pt_call(e.x, inst, "load", NULL, 1, 4 * PT_PAGE) == WH_ETRAP,
             "Reading past the grown memory traps.");
  }
  wh_instance_free(inst);
  inst = NULL;
  pt_inst(&e, open, &inst);
  if (inst) {
    PT_CHECK(call1(&e, inst, "grow", 7) == 1,
             "A module without a maximum grows up to the slot's max_memory_size (8 pages).");
    PT_CHECK(call1(&e, inst, "grow", 1) == -1,
             "memory.grow past the pool's max_memory_size returns -1.");
    PT_CHECK(call1(&e, inst, "grow", 0x10000) == -1,
             "memory.grow by 65536 pages returns -1.");
    PT_CHECK(call0(&e, inst, "size") == 8, "Refused grows leave the size at 8 pages.");
  }
  wh_instance_free(inst);
  /* the tenant's limit: 3.5 pages means 3 */
  wh_exec_set_memory_limit(e.x, 3 * PT_PAGE + PT_PAGE / 2);
  inst = NULL;
  pt_inst(&e, open, &inst);
  if (inst) {
    PT_CHECK(call1(&e, inst, "grow", 2) == 1, "memory.grow within the exec's limit succeeds.");
    PT_CHECK(call1(&e, inst, "grow", 1) == -1,
             "memory.grow past the exec's memory limit (3.5 pages) returns -1.");
    PT_CHECK(call0(&e, inst, "size") == 3, "The memory stays at 3 pages.");
  }
  wh_instance_free(inst);
  wh_module_t *four = pt_module("(module (memory 4))");
  inst = NULL;
  int rc = four ? pt_inst(&e, four, &inst) : WH_EINVAL;
  /* WH_ERANGE, not WH_ELIMIT: the tenant's limit, not an exhausted pool
   * (wh_exec_set_memory_limit in wh_engine.h) */
  PT_CHECK(rc == WH_ERANGE && inst == NULL,
           "A module whose minimum (4 pages) exceeds the exec's limit is refused with WH_ERANGE "
           "(got %s).", wh_errname(rc));
  PT_CHECK(strstr(e.diag.msg, "limit") != NULL,
           "The refusal's diagnostic names the limit (\"%s\").", e.diag.msg);
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.memories_live == 0 && s.instances_live == 0 && s.memories_clean + s.memories_warm == 1,
           "A module over the exec's limit holds no slot.");
  wh_exec_set_memory_limit(e.x, 0);
  inst = NULL;
  rc = four ? pt_inst(&e, four, &inst) : WH_EINVAL;
  PT_CHECK(rc == 0, "Without the limit the same module instantiates (%s).", wh_errname(rc));
  wh_instance_free(inst);
  wh_module_free(four);
mods:
  wh_module_free(capped);
  wh_module_free(open);
out:
  pt_env_fini(&e);
}

/* ---- isolation --------------------------------------------------------------- */

static const pt_tenant_t *const TENANTS[] = {&PT_A, &PT_B, &PT_C, &PT_E};
#define NTENANTS 4

/* The check the isolation tests rely on notices each kind of secret: an
 * instance that scribbled is not "fresh". */
static void test_check_notices_secrets(void) {
  wh_exec_t *x = wh_exec_new(pt_engine());
  wh_linker_t *l = pt_linker(NULL);
  for (int t = 0; t < NTENANTS; t++) {
    wh_module_t *m = pt_tenant_module(TENANTS[t]);
    wh_instance_t *inst = NULL;
    wh_diag_t d;
    if (!m || wh_linker_instantiate(l, m, x, &inst, &d) != 0) {
      PT_CHECK(false, "Tenant %s instantiates on demand.", TENANTS[t]->name);
      wh_module_free(m);
      continue;
    }
    PT_CHECK(pt_check_initial(x, inst, TENANTS[t], "on demand") == 0,
             "A fresh on-demand instance of %s passes the initial-state check.", TENANTS[t]->name);
    wh_instance_free(inst);
    wh_linker_instantiate(l, m, x, &inst, &d);
    pt_call(x, inst, "scribble", NULL, 0);
    pt_quiet_begin();
    int bad = pt_check_initial(x, inst, TENANTS[t], "after scribbling");
    pt_quiet_end();
    /* size, a byte, table size, globals g and h (and table entries) */
    PT_CHECK(bad >= 5, "The initial-state check finds %s's own secrets (%d findings).",
             TENANTS[t]->name, bad);
    wh_instance_free(inst);
    wh_module_free(m);
  }
  wh_linker_free(l);
  wh_exec_free(x);
}

/* Every ordered pair of tenants (X, Y), for several reset settings: X
 * fills its memory (image region, the rest, grown pages), table (grown,
 * every entry a funcref) and globals with secrets and is freed; Y, in
 * the same slot, must see only its own initial state. */
static void test_isolation(void) {
  static const uint64_t keeps[] = {0, 64u << 10, 256u << 10, 1u << 20};
  static const uint32_t warms[] = {0, 4};
  for (size_t k = 0; k < sizeof keeps / sizeof *keeps; k++)
    for (size_t w = 0; w < sizeof warms / sizeof *warms; w++) {
      wh_pool_config_t c;
      pt_small_config(&c, 1);
      c.keep_resident = keeps[k];
      c.max_unused_warm_slots = warms[w];
      pt_env_t e;
      wh_module_t *mods[NTENANTS] = {0};
      if (!pt_env_init(&e, &c)) goto next;
      for (int t = 0; t < NTENANTS; t++)
        if (!(mods[t] = pt_tenant_module(TENANTS[t]))) goto next;
      int bad = 0;
      for (int x = 0; x < NTENANTS; x++)
        for (int y = 0; y < NTENANTS; y++) {
          char ctx[160];
          snprintf(ctx, sizeof ctx,
                   "after %s scribbled in the slot; keep_resident %llu, %u warm slots",
                   TENANTS[x]->name, (unsigned long long)keeps[k], warms[w]);
          wh_instance_t *ix = NULL, *iy = NULL;
          int rc = pt_inst(&e, mods[x], &ix);
          if (rc) {
            PT_CHECK(false, "Tenant %s instantiates in a one-slot pool (%s: %s).",
                     TENANTS[x]->name, wh_errname(rc), e.diag.msg);
            bad++;
            continue;
          }
          PT_CHECK(pt_call(e.x, ix, "scribble", NULL, 0) == 0, "Tenant %s scribbles.",
                   TENANTS[x]->name);
          wh_instance_free(ix);
          rc = pt_inst(&e, mods[y], &iy);
          if (rc) {
            PT_CHECK(false, "Tenant %s instantiates %s (%s: %s).", TENANTS[y]->name, ctx,
                     wh_errname(rc), e.diag.msg);
            bad++;
            continue;
          }
          bad += pt_check_initial(e.x, iy, TENANTS[y], ctx);
          wh_instance_free(iy);
          if (bad > 20) goto next;   /* enough said */
        }
      wh_pool_stats_t s = pt_stats(&e);
      PT_CHECK(s.failures == 0 && s.memories_live == 0,
               "The isolation rounds leave nothing live and nothing failed.");
    next:
      for (int t = 0; t < NTENANTS; t++) wh_module_free(mods[t]);
      pt_env_fini(&e);
    }
}

/* A keep_resident that is not a page multiple still resets correctly and
 * lets released slots stay warm (madvise needs a page-aligned start). */
static void test_keep_resident_unaligned(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  c.keep_resident = 100000;             /* past A's 72 KiB image, not a page multiple */
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  wh_module_t *a = pt_tenant_module(&PT_A);
  if (!a) goto out;
  for (int round = 0; round < 2; round++) {
    wh_instance_t *inst = NULL;
    pt_inst(&e, a, &inst);
    if (!inst) break;
    pt_check_initial(e.x, inst, &PT_A, "with keep_resident = 100000");
    pt_call(e.x, inst, "scribble", NULL, 0);
    wh_instance_free(inst);
  }
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.memories_warm == 1 && s.affinity_hits == 1,
           "With keep_resident = 100000 bytes a released slot of A stays warm and A's next "
           "instance hits it (warm %u, affinity hits %llu).", s.memories_warm,
           (unsigned long long)s.affinity_hits);
  wh_module_free(a);
out:
  pt_env_fini(&e);
}

/* ---- slots held after failed instantiations --------------------------------- */

static void test_start_trap_releases_slots(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  /* nothing can escape this instance: it imports nothing */
  wh_module_t *s_mod = pt_module("(module (memory 1) (data (i32.const 0) \"secret\")"
                                 " (table 1 funcref) (func $s unreachable) (start $s))");
  wh_module_t *a = pt_tenant_module(&PT_A);
  if (!s_mod || !a) goto mods;
  wh_instance_t *inst = NULL;
  int rc = pt_inst(&e, s_mod, &inst);
  PT_CHECK(rc == WH_ETRAP, "A module whose start function traps fails with WH_ETRAP (%s).",
           wh_errname(rc));
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.memories_live == 0 && s.instances_live == 0 && s.tables_live == 0,
           "An instance whose start function trapped, and which imports nothing, gives its "
           "slots back at once (live: %u memories, %u instances, %u tables).",
           s.memories_live, s.instances_live, s.tables_live);
  rc = pt_inst(&e, a, &inst);
  PT_CHECK(rc == 0, "The next instantiation on the same linker gets the slot (got %s: %s).",
           wh_errname(rc), e.diag.msg);
  if (inst) pt_check_initial(e.x, inst, &PT_A, "after a start trap in the slot");
  wh_instance_free(inst);
  wh_linker_free(e.l);
  e.l = pt_linker(NULL);
  s = pt_stats(&e);
  PT_CHECK(s.memories_live == 0 && s.instances_live == 0,
           "Once the linker is freed no slot is live.");
mods:
  wh_module_free(s_mod);
  wh_module_free(a);
out:
  pt_env_fini(&e);
}

/* ---- module and pool lifetimes ---------------------------------------------- */

static void outlive_child(void *arg) {
  (void)arg;
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e;
  if (!pt_env_init(&e, &c)) return;
  wh_module_t *a = pt_tenant_module(&PT_A);
  wh_instance_t *inst = NULL;
  pt_inst(&e, a, &inst);
  wh_instance_free(inst);
  wh_pool_t *old = e.pool;
  wh_pool_free(e.pool);                 /* every instance is freed: allowed */
  e.pool = pt_pool(&c);
  wh_module_free(a);                    /* the module outlives its first pool */
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.images == 0 && s.image_bytes == 0,
           "Freeing a module after the pool it was used with leaves other pools' counters "
           "alone (a new pool%s counts %llu images of %llu bytes).",
           e.pool == old ? " at the old one's address" : "", (unsigned long long)s.images,
           (unsigned long long)s.image_bytes);
  pt_env_fini(&e);
}

static void test_module_outlives_pool(void) {
  pt_in_child("a module freed after its pool", outlive_child, NULL);
}

static void test_module_in_two_pools(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e1, e2;
  bool ok = pt_env_init(&e1, &c);
  ok = pt_env_init(&e2, &c) && ok;
  wh_module_t *a = ok ? pt_tenant_module(&PT_A) : NULL;
  if (a) {
    PT_CHECK(wh_pool_prepare_module(e1.pool, a) == 0, "A gets an image in the first pool.");
    int rc = wh_pool_prepare_module(e2.pool, a);
    PT_CHECK(rc == WH_EEXISTS,
             "Preparing A for a second pool says it belongs to another (WH_EEXISTS), not %s.",
             wh_errname(rc));
    wh_instance_t *i1 = NULL, *i2 = NULL;
    PT_CHECK(pt_inst(&e1, a, &i1) == 0 && pt_inst(&e2, a, &i2) == 0,
             "A instantiates in both pools.");
    if (i1) pt_check_initial(e1.x, i1, &PT_A, "in its first pool");
    if (i2) pt_check_initial(e2.x, i2, &PT_A, "in a second pool");
    wh_instance_free(i1);
    wh_instance_free(i2);
  }
  wh_module_free(a);
  pt_env_fini(&e1);
  pt_env_fini(&e2);
}

/* ---- threads ------------------------------------------------------------------ */

typedef struct probe {
  uint32_t off;
  uint8_t want;
} probe_t;

typedef struct worker {
  pthread_t tid;
  int id, iters;
  wh_pool_t *pool;
  wh_module_t **mods;
  const pt_tenant_t *const *tenants;
  probe_t (*probes)[16];
  int *nprobes;
  int ntenants;
  pthread_barrier_t *start;  /* threads 0 and 1 race to make A's image */
  long ok, limited, errors, wrong;
  char first_error[300];
} worker_t;

static void probes_for(const pt_tenant_t *t, probe_t *p, int *n) {
  size_t len;
  uint8_t *img = pt_tenant_image(t, &len);
  uint32_t offs[16];
  int k = 0;
  offs[k++] = 0;
  offs[k++] = t->min * PT_PAGE - 1;
  for (int s = 0; s < t->nsegs; s++) {
    offs[k++] = t->segs[s].off;
    offs[k++] = t->segs[s].off + t->segs[s].len - 1;
    offs[k++] = t->segs[s].off + t->segs[s].len;
  }
  for (int i = 0; i < k; i++) p[i] = (probe_t){offs[i], img[offs[i]]};
  *n = k;
  free(img);
}

static void *worker_main(void *arg) {
  worker_t *w = arg;
  wh_exec_t *x = wh_exec_new(pt_engine());
  wh_linker_t *l = pt_linker(NULL);
  wh_inst_alloc_t *alloc = wh_pool_allocator(w->pool);
  wh_diag_t diag;
  pthread_barrier_wait(w->start);
  for (int i = 0; i < w->iters; i++) {
    int t = (i + w->id / 2) % w->ntenants;
    wh_instance_t *inst = NULL;
    int rc = wh_linker_instantiate_in(l, w->mods[t], x, alloc, &inst, &diag);
    if (rc == WH_ELIMIT) {
      w->limited++;
      continue;
    }
    if (rc) {
      if (!w->errors++)
        snprintf(w->first_error, sizeof w->first_error, "%s: %s", wh_errname(rc), diag.msg);
      continue;
    }
    uint64_t size;
    uint8_t *mem = wh_memory_data(wh_instance_memory(inst, "mem"), &size);
    bool good = size == (uint64_t)w->tenants[t]->min * PT_PAGE;
    for (int k = 0; good && k < w->nprobes[t]; k++)
      good = mem[w->probes[t][k].off] == w->probes[t][k].want;
    /* leave secrets behind: at every probe, and in a grown page */
    for (int k = 0; k < w->nprobes[t]; k++) mem[w->probes[t][k].off] = 0xA5;
    int32_t old = -1;
    if (pt_call(x, inst, "grow", &old, 1, 1) == 0 && old >= 0) {
      mem = wh_memory_data(wh_instance_memory(inst, "mem"), &size);
      good = good && mem[size - 1] == 0;
      mem[size - 1] = 0xA5;
    }
    good = good && pt_call(x, inst, "nop", NULL, 0) == 0;
    if (good) w->ok++;
    else w->wrong++;
    wh_instance_free(inst);
  }
  wh_linker_free(l);
  wh_exec_free(x);
  return NULL;
}

static int iterations(int dflt) {
  const char *s = getenv("PT_ITERS");
  return s && atoi(s) > 0 ? atoi(s) : dflt;
}

static void run_threads(uint32_t slots, int nthreads, int iters) {
  wh_pool_config_t c;
  pt_small_config(&c, slots);
  c.max_unused_warm_slots = 2;
  wh_pool_t *pool = pt_pool(&c);
  const pt_tenant_t *const tenants[] = {&PT_A, &PT_B, &PT_E};
  wh_module_t *mods[3] = {0};
  probe_t probes[3][16];
  int nprobes[3];
  worker_t w[4];
  memset(w, 0, sizeof w);
  pthread_barrier_t start;
  if (!pool) return;
  pthread_barrier_init(&start, NULL, (unsigned)nthreads);
  for (int t = 0; t < 3; t++) {
    if (!(mods[t] = pt_tenant_module(tenants[t]))) goto out;
    probes_for(tenants[t], probes[t], &nprobes[t]);
  }
  for (int i = 0; i < nthreads; i++) {
    w[i] = (worker_t){.id = i, .iters = iters, .pool = pool, .mods = mods, .tenants = tenants,
                      .probes = probes, .nprobes = nprobes, .ntenants = 3,
                      .start = &start};
    pthread_create(&w[i].tid, NULL, worker_main, &w[i]);
  }
  long ok = 0, limited = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(w[i].tid, NULL);
    PT_CHECK(w[i].errors == 0, "Thread %d's instantiations fail only for lack of a slot "
             "(%ld failed otherwise, first: %s).", i, w[i].errors, w[i].first_error);
    PT_CHECK(w[i].wrong == 0, "Every instance of thread %d starts with its own initial memory "
             "(%ld did not).", i, w[i].wrong);
    ok += w[i].ok + w[i].wrong;
    limited += w[i].limited;
  }
  PT_CHECK(ok + limited == (long)nthreads * iters,
           "Every one of the %d x %d cycles either made an instance or was refused (%ld + %ld).",
           nthreads, iters, ok, limited);
  if (slots >= (uint32_t)nthreads)
    PT_CHECK(limited == 0, "With a slot per thread no instantiation is refused (%ld were).",
             limited);
  else
    PT_CHECK(ok > 0, "With fewer slots than threads some instantiations still succeed.");
  wh_pool_stats_t s;
  wh_pool_stats(pool, &s);
  PT_CHECK(s.acquisitions == (uint64_t)ok,
           "The pool counts one acquisition per instance made (%llu vs %ld).",
           (unsigned long long)s.acquisitions, ok);
  PT_CHECK(s.failures == (uint64_t)limited,
           "The pool counts one failure per refused instantiation (%llu vs %ld).",
           (unsigned long long)s.failures, limited);
  PT_CHECK(s.memories_live == 0 && s.instances_live == 0 && s.tables_live == 0 &&
               s.memories_warm + s.memories_clean == slots && s.instances_free == slots,
           "After the threads finish every slot is free (live %u/%u/%u, warm %u, clean %u).",
           s.memories_live, s.instances_live, s.tables_live, s.memories_warm, s.memories_clean);
out:
  pthread_barrier_destroy(&start);
  for (int t = 0; t < 3; t++) wh_module_free(mods[t]);
  wh_pool_free(pool);
}

static void test_threads(void) { run_threads(4, 3, iterations(20000)); }
static void test_threads_exhausted(void) { run_threads(2, 3, iterations(20000) / 4); }

/* ---- threads' caches ---------------------------------------------------------- */

/* An agent is a thread that runs one step at a time for the test's main
 * thread, which waits until the step is done: so a test says which
 * thread acquires and which releases, and the checks a step makes never
 * run beside another thread's.  Each agent has its own exec and linker
 * on a borrowed pool; agent_stop ends the thread, whose cache then goes
 * back to the pool. */
typedef struct agent agent_t;
typedef void (*agent_fn)(agent_t *a, void *arg);
struct agent {
  pthread_t tid;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  agent_fn fn;              /* the step to run; NULL when idle */
  void *arg;
  bool quit;
  pt_env_t env;             /* env.pool borrowed; x and l made by the thread */
};

static void *agent_main(void *arg) {
  agent_t *a = arg;
  a->env.x = wh_exec_new(pt_engine());
  a->env.l = pt_linker(NULL);
  pthread_mutex_lock(&a->mu);
  for (;;) {
    while (!a->fn && !a->quit) pthread_cond_wait(&a->cv, &a->mu);
    if (!a->fn) break;
    pthread_mutex_unlock(&a->mu);
    a->fn(a, a->arg);
    pthread_mutex_lock(&a->mu);
    a->fn = NULL;
    pthread_cond_broadcast(&a->cv);
  }
  pthread_mutex_unlock(&a->mu);
  wh_linker_free(a->env.l);
  wh_exec_free(a->env.x);
  return NULL;
}

static void agent_start(agent_t *a, wh_pool_t *pool) {
  memset(a, 0, sizeof *a);
  pthread_mutex_init(&a->mu, NULL);
  pthread_cond_init(&a->cv, NULL);
  a->env.pool = pool;
  pthread_create(&a->tid, NULL, agent_main, a);
}

static void agent_do(agent_t *a, agent_fn fn, void *arg) {
  pthread_mutex_lock(&a->mu);
  a->fn = fn;
  a->arg = arg;
  pthread_cond_broadcast(&a->cv);
  while (a->fn) pthread_cond_wait(&a->cv, &a->mu);
  pthread_mutex_unlock(&a->mu);
}

static void agent_stop(agent_t *a) {
  pthread_mutex_lock(&a->mu);
  a->quit = true;
  pthread_cond_broadcast(&a->cv);
  pthread_mutex_unlock(&a->mu);
  pthread_join(a->tid, NULL);
  pthread_cond_destroy(&a->cv);
  pthread_mutex_destroy(&a->mu);
}

/* Instances an agent makes and keeps, and what became of them. */
typedef struct job {
  const wh_module_t *m;
  const pt_tenant_t *t;     /* checked and scribbled on when made */
  int n;                    /* how many to make, at most 8 */
  wh_instance_t *inst[8];
  int rc[8];
  int made, bad;            /* made; failed initial-state checks */
} job_t;

static void do_make(agent_t *a, void *arg) {
  job_t *j = arg;
  j->made = 0;
  for (int k = 0; k < j->n; k++) {
    j->rc[k] = pt_inst(&a->env, j->m, &j->inst[k]);
    if (j->rc[k]) continue;
    j->made++;
    j->bad += pt_check_initial(a->env.x, j->inst[k], j->t, "in a slot from a thread's cache");
    pt_call(a->env.x, j->inst[k], "scribble", NULL, 0);
  }
}

static void do_free(agent_t *a, void *arg) {
  (void)a;
  job_t *j = arg;
  for (int k = 0; k < 8; k++) {
    wh_instance_free(j->inst[k]);
    j->inst[k] = NULL;
  }
}

static wh_pool_stats_t stats_of(wh_pool_t *p) {
  wh_pool_stats_t s;
  wh_pool_stats(p, &s);
  return s;
}

/* An instance made on one thread and freed on another: the slots go to
 * the releasing thread's cache, which serves it next (affinity without
 * the pool lock); the first thread, finding nothing in its cache or the
 * pool, takes them from the other's. */
static void test_cache_cross_thread_release(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  wh_pool_t *pool = pt_pool(&c);
  wh_module_t *a = pt_tenant_module(&PT_A);
  if (!pool || !a) goto out;
  agent_t t1, t2;
  agent_start(&t1, pool);
  agent_start(&t2, pool);
  job_t j = {.m = a, .t = &PT_A, .n = 1};
  agent_do(&t1, do_make, &j);
  PT_CHECK(j.made == 1, "Thread 1 makes an instance of A (%s).", wh_errname(j.rc[0]));
  agent_do(&t2, do_free, &j);
  wh_pool_stats_t s = stats_of(pool);
  PT_CHECK(s.memories_live == 0 && s.memories_warm == 1 && s.instances_free == 1 &&
               s.tables_free == 1 && s.caches == 2,
           "Freed by thread 2, the instance's slots are free, the memory warm (live %u, warm "
           "%u, state slots free %u, table slots free %u, caches %u).",
           s.memories_live, s.memories_warm, s.instances_free, s.tables_free, s.caches);
  agent_do(&t2, do_make, &j);
  s = stats_of(pool);
  PT_CHECK(j.made == 1 && s.affinity_hits == 1 && s.image_maps == 1 && s.steals == 0,
           "Thread 2 finds A's warm slot in its own cache (affinity hits %llu, image maps "
           "%llu, steals %llu).", (unsigned long long)s.affinity_hits,
           (unsigned long long)s.image_maps, (unsigned long long)s.steals);
  agent_do(&t2, do_free, &j);
  agent_do(&t1, do_make, &j);
  s = stats_of(pool);
  PT_CHECK(j.made == 1, "Thread 1 gets the only slots, parked in thread 2's cache (%s).",
           wh_errname(j.rc[0]));
  PT_CHECK(s.steals == 3 && s.affinity_hits == 2 && s.image_maps == 1,
           "It took the state, table and memory slot from thread 2's cache, the memory still "
           "warm with A (steals %llu, affinity hits %llu, image maps %llu).",
           (unsigned long long)s.steals, (unsigned long long)s.affinity_hits,
           (unsigned long long)s.image_maps);
  agent_do(&t1, do_free, &j);
  agent_stop(&t1);
  agent_stop(&t2);
  s = stats_of(pool);
  PT_CHECK(j.bad == 0, "Every instance started from A's initial state (%d findings).", j.bad);
  PT_CHECK(s.caches == 0 && s.memories_live == 0 && s.memories_warm == 1 &&
               s.instances_free == 1 && s.acquisitions == 3 && s.failures == 0,
           "Once both threads exit their caches are gone, with their counts: caches %u, warm "
           "%u, acquisitions %llu, failures %llu.", s.caches, s.memories_warm,
           (unsigned long long)s.acquisitions, (unsigned long long)s.failures);
out:
  wh_module_free(a);
  wh_pool_free(pool);
}

/* A thread that exits gives its cached slots back: warm ones stay warm
 * in the pool for another thread's affinity; its counters survive. */
static void test_cache_thread_exit(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 4);
  wh_pool_t *pool = pt_pool(&c);
  wh_module_t *a = pt_tenant_module(&PT_A), *b = pt_tenant_module(&PT_B);
  if (!pool || !a || !b) goto out;
  agent_t t;
  agent_start(&t, pool);
  job_t ja = {.m = a, .t = &PT_A, .n = 2}, jb = {.m = b, .t = &PT_B, .n = 1};
  agent_do(&t, do_make, &ja);
  agent_do(&t, do_make, &jb);
  agent_do(&t, do_free, &ja);
  agent_do(&t, do_free, &jb);
  wh_pool_stats_t s = stats_of(pool);
  PT_CHECK(ja.made == 2 && jb.made == 1 && s.caches == 1 && s.memories_warm == 3 &&
               s.memories_live == 0 && s.instances_free == 4,
           "The thread's cache holds its three released slots, warm (caches %u, warm %u).",
           s.caches, s.memories_warm);
  agent_stop(&t);
  s = stats_of(pool);
  PT_CHECK(s.caches == 0 && s.memories_warm == 3 && s.memories_clean == 1 &&
               s.instances_free == 4 && s.tables_free == 4 && s.acquisitions == 3 &&
               s.image_maps == 3,
           "After the thread exits the pool holds its slots, still warm, and its counts "
           "(caches %u, warm %u, clean %u, acquisitions %llu, image maps %llu).", s.caches,
           s.memories_warm, s.memories_clean, (unsigned long long)s.acquisitions,
           (unsigned long long)s.image_maps);
  agent_start(&t, pool);
  job_t again = {.m = b, .t = &PT_B, .n = 1};
  agent_do(&t, do_make, &again);
  s = stats_of(pool);
  PT_CHECK(again.made == 1 && s.affinity_hits == 1 && s.image_maps == 3,
           "A new thread finds B's slot warm in the pool (affinity hits %llu, image maps %llu).",
           (unsigned long long)s.affinity_hits, (unsigned long long)s.image_maps);
  agent_do(&t, do_free, &again);
  agent_stop(&t);
  PT_CHECK(ja.bad + jb.bad + again.bad == 0, "Every instance started from its initial state.");
out:
  wh_module_free(a);
  wh_module_free(b);
  wh_pool_free(pool);
}

/* Every free slot sits in one thread's cache: other threads still get
 * them all, and only a request beyond the pool's size is refused. */
static void test_cache_exhaustion(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 4);
  wh_pool_t *pool = pt_pool(&c);
  wh_module_t *a = pt_tenant_module(&PT_A), *b = pt_tenant_module(&PT_B);
  if (!pool || !a || !b) goto out;
  agent_t t1, t2, t3;
  agent_start(&t1, pool);
  agent_start(&t2, pool);
  agent_start(&t3, pool);
  job_t j1 = {.m = a, .t = &PT_A, .n = 4};
  agent_do(&t1, do_make, &j1);
  agent_do(&t1, do_free, &j1);
  wh_pool_stats_t s = stats_of(pool);
  PT_CHECK(j1.made == 4 && s.memories_live == 0 && s.pool_locks > 0,
           "Thread 1 used all four slots and freed them (made %d).", j1.made);
  /* thread 2 wants B: thread 1's cache holds every free slot, warm with A */
  job_t j2 = {.m = b, .t = &PT_B, .n = 5};
  agent_do(&t2, do_make, &j2);
  s = stats_of(pool);
  PT_CHECK(j2.made == 4 && j2.rc[4] == WH_ELIMIT,
           "Thread 2 gets all four slots out of thread 1's cache, and a fifth instance is "
           "refused with WH_ELIMIT (made %d, last %s).", j2.made, wh_errname(j2.rc[4]));
  PT_CHECK(s.failures == 1 && s.memories_live == 4 && s.instances_live == 4 &&
               s.tables_live == 4 && s.steals >= 4,
           "One failure; every slot is live; slots were stolen (failures %llu, live %u, "
           "steals %llu).", (unsigned long long)s.failures, s.memories_live,
           (unsigned long long)s.steals);
  /* half go back through thread 3, half through thread 2 */
  job_t half = {.m = b, .n = 0};
  half.inst[0] = j2.inst[0];
  half.inst[1] = j2.inst[1];
  j2.inst[0] = j2.inst[1] = NULL;
  agent_do(&t3, do_free, &half);
  agent_do(&t2, do_free, &j2);
  job_t j1b = {.m = a, .t = &PT_A, .n = 4};
  agent_do(&t1, do_make, &j1b);
  s = stats_of(pool);
  PT_CHECK(j1b.made == 4 && s.failures == 1,
           "Thread 1 gets all four slots back from threads 2 and 3 (made %d, failures %llu).",
           j1b.made, (unsigned long long)s.failures);
  agent_do(&t1, do_free, &j1b);
  agent_stop(&t1);
  agent_stop(&t2);
  agent_stop(&t3);
  s = stats_of(pool);
  PT_CHECK(j1.bad + j2.bad + j1b.bad == 0,
           "No instance saw another tenant's bytes (%d findings).", j1.bad + j2.bad + j1b.bad);
  PT_CHECK(s.memories_live == 0 && s.memories_clean + s.memories_warm == 4 &&
               s.instances_free == 4 && s.tables_free == 4 && s.caches == 0,
           "At the end every slot is free in the pool (live %u, clean %u, warm %u).",
           s.memories_live, s.memories_clean, s.memories_warm);
out:
  wh_module_free(a);
  wh_module_free(b);
  wh_pool_free(pool);
}

/* max_unused_warm_slots bounds the warm slots of all caches together; a
 * release that finds the budget spent takes back a token another thread
 * holds for a live slot. */
static void test_cache_warm_budget(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 4);
  c.max_unused_warm_slots = 1;
  wh_pool_t *pool = pt_pool(&c);
  wh_module_t *a = pt_tenant_module(&PT_A);
  if (!pool || !a) goto out;
  agent_t t1, t2, t3;
  agent_start(&t1, pool);
  agent_start(&t2, pool);
  agent_start(&t3, pool);
  job_t j1 = {.m = a, .t = &PT_A, .n = 1}, j2 = j1, j3 = j1;
  agent_do(&t1, do_make, &j1);
  agent_do(&t1, do_free, &j1);
  agent_do(&t1, do_make, &j1);           /* its warm slot, LIVE again */
  agent_do(&t2, do_make, &j2);
  agent_do(&t2, do_free, &j2);           /* needs the token thread 1 holds */
  wh_pool_stats_t s = stats_of(pool);
  PT_CHECK(s.memories_warm == 1, "Thread 2's released slot is the one warm slot (warm %u).",
           s.memories_warm);
  agent_do(&t1, do_free, &j1);           /* no token left: clean */
  agent_do(&t3, do_make, &j3);
  agent_do(&t3, do_free, &j3);
  s = stats_of(pool);
  PT_CHECK(s.memories_warm == 1 && s.memories_clean == 3 && s.memories_live == 0,
           "With max_unused_warm_slots = 1 and three threads releasing, one slot is warm "
           "(warm %u, clean %u).", s.memories_warm, s.memories_clean);
  agent_do(&t2, do_make, &j2);
  s = stats_of(pool);
  PT_CHECK(j2.made == 1 && s.affinity_hits == 2,
           "Thread 2 hits A's warm slot again (affinity hits %llu).",
           (unsigned long long)s.affinity_hits);
  agent_do(&t2, do_free, &j2);
  agent_stop(&t1);
  agent_stop(&t2);
  agent_stop(&t3);
  s = stats_of(pool);
  PT_CHECK(s.memories_warm <= 1 && s.memories_live == 0 && j1.bad + j2.bad + j3.bad == 0,
           "After the threads exit at most one slot is warm (%u) and every instance was "
           "fresh.", s.memories_warm);
out:
  wh_module_free(a);
  wh_pool_free(pool);
}

/* A pool freed while a thread that used it still runs, its cache full:
 * the thread goes on with a new pool (maybe at the same address) and
 * exits without touching the old one. */
static void test_cache_pool_freed_first(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 2);
  wh_pool_t *pool = pt_pool(&c);
  wh_module_t *a = pt_tenant_module(&PT_A), *cc = pt_tenant_module(&PT_C);
  if (!pool || !a || !cc) goto out;
  agent_t t;
  agent_start(&t, pool);
  job_t j = {.m = a, .t = &PT_A, .n = 2};
  agent_do(&t, do_make, &j);
  agent_do(&t, do_free, &j);
  PT_CHECK(stats_of(pool).memories_warm == 2, "The thread's cache holds two warm slots.");
  wh_pool_free(pool);                   /* every instance is freed: allowed */
  pool = pt_pool(&c);
  if (!pool) {
    agent_stop(&t);
    goto out;
  }
  t.env.pool = pool;
  /* A's image was orphaned with the old pool: A is made eagerly now */
  job_t ja = {.m = a, .t = &PT_A, .n = 1}, jc = {.m = cc, .t = &PT_C, .n = 2};
  agent_do(&t, do_make, &ja);
  agent_do(&t, do_make, &jc);
  wh_pool_stats_t s = stats_of(pool);
  PT_CHECK(ja.made == 1 && jc.made == 1 && jc.rc[1] == WH_ELIMIT && s.failures == 1 &&
               s.memories_live == 2,
           "In the new pool the thread makes instances of A (orphaned image) and C up to its "
           "two slots (made %d + %d, failures %llu).", ja.made, jc.made,
           (unsigned long long)s.failures);
  agent_do(&t, do_free, &ja);
  agent_do(&t, do_free, &jc);
  s = stats_of(pool);
  PT_CHECK(s.caches == 1 && s.memories_live == 0 && s.memories_clean == 2,
           "The new pool has one cache, the thread's, with both slots clean (caches %u, "
           "clean %u).", s.caches, s.memories_clean);
  agent_stop(&t);
  s = stats_of(pool);
  PT_CHECK(s.caches == 0 && s.memories_clean == 2 && ja.bad + jc.bad + j.bad == 0,
           "The thread's exit gives back the new pool's slots only (caches %u, clean %u).",
           s.caches, s.memories_clean);
out:
  wh_module_free(a);
  wh_module_free(cc);
  wh_pool_free(pool);
}

/* One thread using more pools at once than it keeps caches for: the
 * others work on the pools' lists, with the same results. */
static void test_cache_many_pools(void) {
  enum { NPOOLS = 12 };
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e[NPOOLS];
  memset(e, 0, sizeof e);
  int ready = 0;
  for (; ready < NPOOLS; ready++)
    if (!pt_env_init(&e[ready], &c)) break;
  wh_module_t *m = pt_tenant_module(&PT_C);   /* no image: any pool may use it */
  int made = 0, bad = 0, uncached = 0;
  for (int round = 0; m && round < 2; round++)
    for (int k = 0; k < ready; k++) {
      wh_instance_t *inst = NULL;
      if (pt_inst(&e[k], m, &inst) == 0) made++;
      if (inst) bad += pt_check_initial(e[k].x, inst, &PT_C, "with many pools in one thread");
      wh_instance_free(inst);
    }
  for (int k = 0; k < ready; k++) {
    wh_pool_stats_t s = pt_stats(&e[k]);
    PT_CHECK(s.acquisitions == 2 && s.memories_live == 0 && s.memories_clean == 1 &&
                 s.instances_free == 1 && s.caches <= 1,
             "Pool %d of %d counts its two acquisitions and has its slot back (acquisitions "
             "%llu, clean %u, caches %u).", k, ready, (unsigned long long)s.acquisitions,
             s.memories_clean, s.caches);
    if (s.caches == 0) {
      uncached++;
      PT_CHECK(s.pool_locks >= 8, "A pool without a cache for the thread counts every call "
               "under its lock (%llu).", (unsigned long long)s.pool_locks);
    }
  }
  PT_CHECK(ready == NPOOLS && made == 2 * NPOOLS && bad == 0,
           "%d pools in one thread each make two fresh instances (made %d).", ready, made);
  PT_CHECK(uncached > 0, "With %d pools some are used without a cache (%d).", ready, uncached);
  wh_module_free(m);
  for (int k = 0; k < ready; k++) pt_env_fini(&e[k]);
}

/* Counters summed over the threads' caches while the threads run: every
 * snapshot is consistent (no slot counted twice, counters never go
 * back); at the end they add up to what the threads did, and almost no
 * call needed the pool lock. */
typedef struct cycler {
  pthread_t tid;
  wh_pool_t *pool;
  wh_module_t *m;
  int iters;
  atomic_bool *go;
  atomic_int *finished;
  long made;
} cycler_t;

static void *cycler_main(void *arg) {
  cycler_t *y = arg;
  wh_exec_t *x = wh_exec_new(pt_engine());
  wh_linker_t *l = pt_linker(NULL);
  wh_diag_t d;
  while (!atomic_load(y->go)) {}
  for (int i = 0; i < y->iters; i++) {
    wh_instance_t *inst = NULL;
    if (wh_linker_instantiate_in(l, y->m, x, wh_pool_allocator(y->pool), &inst, &d) == 0)
      y->made++;
    wh_instance_free(inst);
  }
  wh_linker_free(l);
  wh_exec_free(x);
  atomic_fetch_add(y->finished, 1);
  return NULL;
}

static void test_cache_stats_while_running(void) {
  enum { NTHREADS = 3 };
  wh_pool_config_t c;
  pt_small_config(&c, 8);
  wh_pool_t *pool = pt_pool(&c);
  wh_module_t *a = pt_tenant_module(&PT_A);
  if (!pool || !a) goto out;
  int iters = iterations(20000) / 4;
  atomic_bool go = false;
  atomic_int finished = 0;
  cycler_t y[NTHREADS];
  for (int i = 0; i < NTHREADS; i++) {
    y[i] = (cycler_t){.pool = pool, .m = a, .iters = iters, .go = &go, .finished = &finished};
    pthread_create(&y[i].tid, NULL, cycler_main, &y[i]);
  }
  atomic_store(&go, true);
  int snapshots = 0, inconsistent = 0;
  uint64_t last_acq = 0;
  bool monotonic = true;
  while (atomic_load(&finished) < NTHREADS) {
    wh_pool_stats_t s = stats_of(pool);
    snapshots++;
    if (s.memories_live > NTHREADS || s.instances_live > NTHREADS ||
        s.tables_live > NTHREADS || s.memories_warm + s.memories_clean + s.memories_live != 8 ||
        s.caches > NTHREADS)
      inconsistent++;
    monotonic = monotonic && s.acquisitions >= last_acq;
    last_acq = s.acquisitions;
  }
  long made = 0;
  for (int i = 0; i < NTHREADS; i++) {
    pthread_join(y[i].tid, NULL);
    made += y[i].made;
  }
  PT_CHECK(inconsistent == 0,
           "Each of %d snapshots taken while %d threads cycle is consistent: at most one live "
           "slot of a kind per thread, every memory slot counted once (%d were not).",
           snapshots, NTHREADS, inconsistent);
  PT_CHECK(monotonic, "The summed acquisitions never go back between snapshots.");
  wh_pool_stats_t s = stats_of(pool);
  PT_CHECK(made == (long)NTHREADS * iters && s.acquisitions == (uint64_t)made &&
               s.failures == 0,
           "The acquisitions summed over caches are the instances made (%llu vs %ld).",
           (unsigned long long)s.acquisitions, made);
  PT_CHECK(s.pool_locks * 20 < s.acquisitions,
           "Fewer than 1 in 20 instantiations took the pool lock (%llu rounds for %llu).",
           (unsigned long long)s.pool_locks, (unsigned long long)s.acquisitions);
  PT_CHECK(s.affinity_hits + NTHREADS * 2 >= s.acquisitions,
           "Nearly every instantiation hit a warm slot of A (%llu of %llu).",
           (unsigned long long)s.affinity_hits, (unsigned long long)s.acquisitions);
  PT_CHECK(s.caches == 0 && s.memories_live == 0 && s.instances_free == 8,
           "After the threads exit no cache is left and every slot is free.");
out:
  wh_module_free(a);
  wh_pool_free(pool);
}

CU_TestInfo pt_tests_pool[] = {
    {"the default configuration is the documented one", test_config_default},
    {"misaligned sizes are refused", test_new_rejects_misaligned_sizes},
    {"an impossible reservation fails cleanly", test_new_impossible_reservation},
    {"a slot count of 2^32-1 does not crash wh_pool_new", test_new_huge_slot_count},
    {"zero-sized slots", test_zero_sized_slots},
    {"wh_pool_new's allocations fail in turn", test_new_allocation_faults},
    {"an image's allocations fail in turn", test_image_allocation_faults},
    {"exhausted memories give WH_ELIMIT", test_exhaust_memories},
    {"exhausted instances give WH_ELIMIT", test_exhaust_instances},
    {"exhausted tables give WH_ELIMIT", test_exhaust_tables},
    {"memory, table and state over a slot's size", test_over_slot_limits},
    {"stats through a slot's life", test_stats_lifecycle},
    {"affinity reuses the warm slot", test_affinity},
    {"max_unused_warm_slots = 0 keeps no slot warm", test_no_warm_slots},
    {"the oldest warm slot is evicted", test_lru_eviction},
    {"memory.grow, the slot's size and the exec's limit", test_grow},
    {"the initial-state check notices secrets", test_check_notices_secrets},
    {"no occupant sees a byte of the previous one", test_isolation},
    {"an unaligned keep_resident keeps slots warm", test_keep_resident_unaligned},
    {"a start trap gives the slots back", test_start_trap_releases_slots},
    {"a module may outlive its pool", test_module_outlives_pool},
    {"one module in two pools", test_module_in_two_pools},
    {"threads share a pool", test_threads},
    {"threads share an exhausted pool", test_threads_exhausted},
    {"a slot released by another thread", test_cache_cross_thread_release},
    {"a thread exits with cached slots", test_cache_thread_exit},
    {"exhaustion while other threads cache the slots", test_cache_exhaustion},
    {"the warm budget across threads' caches", test_cache_warm_budget},
    {"a pool freed before a thread that cached its slots", test_cache_pool_freed_first},
    {"more pools in one thread than it caches", test_cache_many_pools},
    {"stats summed while threads cycle", test_cache_stats_while_running},
    CU_TEST_INFO_NULL,
};
