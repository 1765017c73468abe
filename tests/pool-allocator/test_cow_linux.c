/*
 * test_cow_linux.c - the "cow_linux.c" suite: copy-on-write memory
 * images (memfd) and the eager path beside them.  Which modules get an
 * image, that eager modules still start right, that an image never
 * shows through to the next occupant of a slot, that an element segment
 * trapping after the image was mapped leaves no data segment visible,
 * and injected failures: no file descriptors left for memfd_create
 * (RLIMIT_NOFILE) and no memory for mapping the slot (RLIMIT_DATA),
 * each in a forked child; and a forked child resetting slots in place
 * from its own pagemap, not its parent's.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pt.h"

static void test_prepare(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  wh_module_t *a = pt_tenant_module(&PT_A), *cc = pt_tenant_module(&PT_C),
              *imp = pt_module("(module (import \"env\" \"m\" (memory 1)) (data (i32.const 0) \"x\"))"),
              *none = pt_module("(module (func (export \"f\")))");
  if (!a || !cc || !imp || !none) goto mods;
  PT_CHECK(wh_pool_prepare_module(e.pool, a) == 0, "A module with constant offsets gets an image.");
  PT_CHECK(wh_pool_prepare_module(e.pool, a) == 0, "Preparing it twice is harmless.");
  PT_CHECK(wh_pool_prepare_module(e.pool, cc) == 0, "A module without data needs no file but "
           "is prepared.");
  int rc = wh_pool_prepare_module(e.pool, imp);
  PT_CHECK(rc == WH_EUNSUPPORTED, "A module importing its memory can have no image "
           "(WH_EUNSUPPORTED; got %s).", wh_errname(rc));
  rc = wh_pool_prepare_module(e.pool, none);
  PT_CHECK(rc == WH_EUNSUPPORTED, "A module without memory can have no image "
           "(WH_EUNSUPPORTED; got %s).", wh_errname(rc));
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.images == 1 && s.image_bytes == 73728,
           "One image file exists, A's 72 KiB (%llu images, %llu bytes).",
           (unsigned long long)s.images, (unsigned long long)s.image_bytes);
  wh_instance_t *inst = NULL;
  pt_inst(&e, cc, &inst);
  if (inst) pt_check_initial(e.x, inst, &PT_C, "with an empty image");
  wh_instance_free(inst);
  pt_inst(&e, a, &inst);
  if (inst) pt_check_initial(e.x, inst, &PT_A, "from a prepared image");
  wh_instance_free(inst);
  s = pt_stats(&e);
  PT_CHECK(s.image_maps == 1 && s.acquisitions == 2,
           "Only the module with data maps an image (%llu maps).", (unsigned long long)s.image_maps);
mods:
  wh_module_free(a);
  wh_module_free(cc);
  wh_module_free(imp);
  wh_module_free(none);
out:
  pt_env_fini(&e);
}

static void test_eager_global_offset(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  wh_module_t *m = pt_tenant_module(&PT_E);
  if (!m) goto out;
  int rc = wh_pool_prepare_module(e.pool, m);
  PT_CHECK(rc == WH_EUNSUPPORTED, "A data segment at global.get of an imported global rules "
           "out an image (WH_EUNSUPPORTED; got %s).", wh_errname(rc));
  for (int round = 0; round < 3; round++) {
    wh_instance_t *inst = NULL;
    rc = pt_inst(&e, m, &inst);
    PT_CHECK(rc == 0, "The eager module instantiates through the pool (%s: %s).",
             wh_errname(rc), e.diag.msg);
    if (!inst) break;
    pt_check_initial(e.x, inst, &PT_E, round ? "eagerly, in a reused slot" : "eagerly");
    pt_call(e.x, inst, "scribble", NULL, 0);
    wh_instance_free(inst);
  }
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.images == 0 && s.image_maps == 0, "No image was made or mapped for it.");
  wh_module_free(m);
out:
  pt_env_fini(&e);
}

static void test_eager_out_of_range(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  /* the second segment ends one byte past the minimum: instantiation traps */
  wh_module_t *m = pt_module(
      "(module (memory 1 2) (data (i32.const 0) \"ok\") (data (i32.const 65535) \"xy\"))");
  wh_module_t *a = pt_tenant_module(&PT_A);
  if (!m || !a) goto mods;
  int rc = wh_pool_prepare_module(e.pool, m);
  PT_CHECK(rc == WH_EUNSUPPORTED, "A segment outside the minimum memory rules out an image "
           "(got %s).", wh_errname(rc));
  wh_instance_t *inst = NULL;
  rc = pt_inst(&e, m, &inst);
  PT_CHECK(rc == WH_ETRAP && strstr(e.diag.msg, "out of bounds memory access"),
           "Instantiating it traps \"out of bounds memory access\" (%s: %s).", wh_errname(rc),
           e.diag.msg);
  wh_instance_free(inst);
  /* the trapped instance is kept by the linker; freeing it frees the slot */
  wh_linker_free(e.l);
  e.l = pt_linker(NULL);
  rc = pt_inst(&e, a, &inst);
  PT_CHECK(rc == 0, "Once the linker is gone its slot serves the next module (%s).",
           wh_errname(rc));
  if (inst) pt_check_initial(e.x, inst, &PT_A, "after a data segment trapped in the slot");
  wh_instance_free(inst);
mods:
  wh_module_free(m);
  wh_module_free(a);
out:
  pt_env_fini(&e);
}

/* A slot holding A's image (warm, or just released) then used by eager
 * module E: E sees its own segments and zeros, nothing of A's image. */
static void test_image_then_eager(void) {
  for (uint32_t warm = 0; warm <= 1; warm++) {
    wh_pool_config_t c;
    pt_small_config(&c, 1);
    c.max_unused_warm_slots = warm;
    pt_env_t e;
    if (!pt_env_init(&e, &c)) goto next;
    wh_module_t *a = pt_tenant_module(&PT_A), *m = pt_tenant_module(&PT_E);
    if (a && m) {
      wh_instance_t *inst = NULL;
      pt_inst(&e, a, &inst);               /* untouched: the image as mapped */
      wh_instance_free(inst);
      wh_pool_stats_t s = pt_stats(&e);
      PT_CHECK(s.memories_warm == warm, "A's slot is %s after release.", warm ? "warm" : "clean");
      pt_inst(&e, m, &inst);
      if (inst)
        pt_check_initial(e.x, inst, &PT_E,
                         warm ? "in a slot still mapping A's image" : "in a slot A used");
      wh_instance_free(inst);
      pt_inst(&e, a, &inst);
      if (inst) pt_check_initial(e.x, inst, &PT_A, "after eager E in its slot");
      wh_instance_free(inst);
    }
    wh_module_free(a);
    wh_module_free(m);
  next:
    pt_env_fini(&e);
  }
}

/* Element segments come before data segments: when one traps, no data
 * segment has been applied, even though the image was mapped first. */
static void test_elem_trap_after_image(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  c.total_instances = 2;
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  const char *f_wat =
      "(module\n"
      "  (import \"env\" \"tab\" (table $it 2 funcref))\n"
      "  (memory (export \"mem\") 1)\n"
      "  (data (i32.const 0) \"\\de\\ad\\be\\ef\")\n"
      "  (data (i32.const 40000) \"\\11\\22\\33\\44\")\n"
      "  (func $peek (export \"peek\") (param i32) (result i32) (i32.load (local.get 0)))\n"
      "  (elem (table $it) (i32.const 0) func $peek)\n"
      "  (elem (table $it) (i32.const 5) func $peek))\n";
  const char *p_wat =
      "(module\n"
      "  (import \"env\" \"tab\" (table $it 1 funcref))\n"
      "  (type $i_i (func (param i32) (result i32)))\n"
      "  (func (export \"peek\") (param i32) (result i32)\n"
      "    (call_indirect $it (type $i_i) (local.get 0) (i32.const 0))))\n";
  wh_module_t *f = pt_module(f_wat), *probe = pt_module(p_wat);
  wh_table_t *small = wh_table_new(WH_FUNCREF, 2, UINT32_MAX);
  wh_table_t *big = wh_table_new(WH_FUNCREF, 8, UINT32_MAX);
  if (!f || !probe || !small || !big) goto mods;
  PT_CHECK(wh_pool_prepare_module(e.pool, f) == 0, "The trapping module has an image.");
  wh_linker_t *l = pt_linker(small);
  wh_instance_t *inst = NULL, *pi = NULL;
  int rc = wh_linker_instantiate_in(l, f, e.x, wh_pool_allocator(e.pool), &inst, &e.diag);
  PT_CHECK(rc == WH_ETRAP && inst == NULL,
           "An element segment past the imported table's end traps instantiation (%s).",
           wh_errname(rc));
  /* its first segment put $peek into the imported table: look through it */
  rc = wh_linker_instantiate(l, probe, e.x, &pi, &e.diag);
  PT_CHECK(rc == 0, "A probe linked to the same table instantiates (%s).", e.diag.msg);
  if (pi) {
    static const int32_t at[] = {0, 4, 40000, 65532};
    for (size_t k = 0; k < sizeof at / sizeof *at; k++) {
      int32_t v = -1;
      rc = pt_call(e.x, pi, "peek", &v, 1, at[k]);
      PT_CHECK(rc == 0 && v == 0,
               "The trapped instance's memory reads zero at %d: its data segments were never "
               "applied (got 0x%08x, rc %s).", at[k], (unsigned)v, wh_errname(rc));
    }
  }
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.memories_live == 1, "The trapped instance stays alive (its function is in the "
           "table) and holds its slot.");
  wh_instance_free(pi);
  wh_linker_free(l);
  s = pt_stats(&e);
  PT_CHECK(s.memories_live == 0 && s.instances_live == 0, "Freeing the linker frees its slots.");
  /* the same module with a table large enough: the image is intact */
  l = pt_linker(big);
  rc = wh_linker_instantiate_in(l, f, e.x, wh_pool_allocator(e.pool), &inst, &e.diag);
  PT_CHECK(rc == 0, "With a table of 8 the module instantiates (%s).", e.diag.msg);
  if (inst) {
    int32_t v = 0, w = 0;
    pt_call(e.x, inst, "peek", &v, 1, 0);
    pt_call(e.x, inst, "peek", &w, 1, 40000);
    PT_CHECK(v == (int32_t)0xefbeadde && w == 0x44332211,
             "Its memory holds both data segments, the zeros written after the trap gone "
             "(0x%08x, 0x%08x).", (unsigned)v, (unsigned)w);
  }
  wh_instance_free(inst);
  wh_linker_free(l);
mods:
  wh_table_free(small);
  wh_table_free(big);
  wh_module_free(f);
  wh_module_free(probe);
out:
  pt_env_fini(&e);
}

/* A warm slot outlives its module; a later module gets its own image. */
static void test_warm_slot_of_freed_module(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e;
  if (!pt_env_init(&e, &c)) goto out;
  for (int round = 0; round < 4; round++) {
    const pt_tenant_t *t = round % 2 ? &PT_B : &PT_A;
    wh_module_t *m = pt_tenant_module(t);
    if (!m) break;
    wh_instance_t *inst = NULL;
    pt_inst(&e, m, &inst);
    if (inst) pt_check_initial(e.x, inst, t, "in a slot warm for a freed module");
    pt_call(e.x, inst, "scribble", NULL, 0);
    wh_instance_free(inst);
    wh_module_free(m);
  }
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.images == 1, "Only the image a warm slot maps is left (%llu).",
           (unsigned long long)s.images);
out:
  pt_env_fini(&e);
}

/* ---- injected failures ------------------------------------------------------ */

static void no_fds_child(void *arg) {
  (void)arg;
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e;
  if (!pt_env_init(&e, &c)) return;
  wh_module_t *a = pt_tenant_module(&PT_A), *a2 = pt_tenant_module(&PT_A),
              *b = pt_tenant_module(&PT_B);
  if (!a || !a2 || !b) return;
  wh_instance_t *inst = NULL;
  pt_inst(&e, b, &inst);                  /* B's image made and left warm */
  pt_call(e.x, inst, "scribble", NULL, 0);
  wh_instance_free(inst);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  struct rlimit low = {64, rl.rlim_max};
  PT_CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0, "RLIMIT_NOFILE can be lowered.");
  int held[128], n = 0;
  while (n < 128 && (held[n] = open("/dev/null", O_RDONLY)) >= 0) n++;
  int rc = wh_pool_prepare_module(e.pool, a);
  PT_CHECK(rc == WH_EIO,
           "With no file descriptor left, preparing A reports the failure to make its image "
           "(WH_EIO, as wh_pool.h documents; got %s).", wh_errname(rc));
  rc = pt_inst(&e, a, &inst);
  PT_CHECK(rc == 0, "A still instantiates, eagerly (%s: %s).", wh_errname(rc), e.diag.msg);
  if (inst) pt_check_initial(e.x, inst, &PT_A, "eagerly after memfd_create failed");
  pt_call(e.x, inst, "scribble", NULL, 0);
  wh_instance_free(inst);
  rc = pt_inst(&e, a2, &inst);             /* image attempted on first use */
  PT_CHECK(rc == 0, "A module whose image fails on first use instantiates eagerly (%s).",
           wh_errname(rc));
  if (inst) pt_check_initial(e.x, inst, &PT_A, "eagerly, image failed on first use");
  wh_instance_free(inst);
  rc = pt_inst(&e, b, &inst);              /* B's file is still open */
  PT_CHECK(rc == 0, "B, whose image exists, still maps it (%s).", wh_errname(rc));
  if (inst) pt_check_initial(e.x, inst, &PT_B, "mapped while no fd was free");
  wh_instance_free(inst);
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.images == 1 && s.memories_live == 0 && s.failures == 0,
           "The pool holds B's image only and counts no failure (%llu images, %llu failures).",
           (unsigned long long)s.images, (unsigned long long)s.failures);
  while (n > 0) close(held[--n]);
  setrlimit(RLIMIT_NOFILE, &rl);
  rc = pt_inst(&e, a, &inst);
  if (inst) pt_check_initial(e.x, inst, &PT_A, "after descriptors came back");
  wh_instance_free(inst);
  wh_module_free(a);
  wh_module_free(a2);
  wh_module_free(b);
  pt_env_fini(&e);
}

static void test_memfd_failure(void) {
  /* compile in the parent so the child needs no wat2wasm */
  wh_module_free(pt_tenant_module(&PT_A));
  wh_module_free(pt_tenant_module(&PT_B));
  pt_in_child("the pool without file descriptors", no_fds_child, NULL);
}

static uint64_t vm_data_bytes(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  uint64_t v = 0;
  while (f && fgets(line, sizeof line, f))
    if (strncmp(line, "VmData:", 7) == 0) v = strtoull(line + 7, NULL, 10) * 1024;
  if (f) fclose(f);
  return v;
}

static const pt_tenant_t PT_G = {
    .name = "G", .min = 32, .max = 48, .tmin = 1, .tmax = 4, .g = 1, .h = 2, .id = 7,
    .elem_at = -1, .nsegs = 1, .segs = {{0, 300000, 0x47}}};
static const pt_tenant_t PT_Z = {
    .name = "Z", .min = 32, .max = 48, .tmin = 1, .tmax = 4, .g = 3, .h = 4, .id = 8,
    .elem_at = -1, .nsegs = 0};

static void no_memory_child(void *arg) {
  (void)arg;
  wh_pool_config_t c;
  pt_small_config(&c, 2);
  c.max_memory_size = 4u << 20;
  pt_env_t e;
  if (!pt_env_init(&e, &c)) return;
  wh_module_t *g = pt_tenant_module(&PT_G), *z = pt_tenant_module(&PT_Z);
  if (!g || !z) return;
  PT_CHECK(wh_pool_prepare_module(e.pool, g) == 0, "G gets an image.");
  struct rlimit rl;
  getrlimit(RLIMIT_DATA, &rl);
  struct rlimit low = {vm_data_bytes() + (256u << 10), rl.rlim_max};
  PT_CHECK(setrlimit(RLIMIT_DATA, &low) == 0, "RLIMIT_DATA can be lowered.");
  wh_instance_t *inst = NULL;
  int rc = pt_inst(&e, g, &inst);
  PT_CHECK(rc == WH_ENOMEM && inst == NULL,
           "Without memory to make a 2 MiB slot writable, instantiating G fails with "
           "WH_ENOMEM (%s: %s).", wh_errname(rc), e.diag.msg);
  rc = pt_inst(&e, z, &inst);
  PT_CHECK(rc == WH_ENOMEM && inst == NULL,
           "Likewise for Z, which has no image (%s).", wh_errname(rc));
  wh_pool_stats_t s = pt_stats(&e);
  PT_CHECK(s.memories_live == 0 && s.memories_clean + s.memories_warm == 2 &&
               s.instances_live == 0 && s.tables_live == 0,
           "Failed acquisitions leave every slot free (live %u, clean %u, warm %u).",
           s.memories_live, s.memories_clean, s.memories_warm);
  PT_CHECK(s.images == 1, "G's image survives the failure (%llu images).",
           (unsigned long long)s.images);
  setrlimit(RLIMIT_DATA, &rl);
  rc = pt_inst(&e, g, &inst);
  PT_CHECK(rc == 0, "With memory back, G instantiates (%s).", wh_errname(rc));
  if (inst) pt_check_initial(e.x, inst, &PT_G, "after a failed acquisition of the slot");
  wh_instance_free(inst);
  rc = pt_inst(&e, z, &inst);
  PT_CHECK(rc == 0, "With memory back, Z instantiates (%s).", wh_errname(rc));
  if (inst) {
    low.rlim_cur = vm_data_bytes() + (256u << 10);
    setrlimit(RLIMIT_DATA, &low);
    int32_t old = 0;
    rc = pt_call(e.x, inst, "grow", &old, 1, 16);
    PT_CHECK(rc == 0 && old == -1,
             "memory.grow returns -1 when the new pages cannot be made writable (got %d).", old);
    setrlimit(RLIMIT_DATA, &rl);
    rc = pt_call(e.x, inst, "grow", &old, 1, 16);
    PT_CHECK(rc == 0 && old == 32, "With memory back the same grow succeeds (got %d).", old);
    wh_instance_free(inst);
  }
  setrlimit(RLIMIT_DATA, &rl);
  s = pt_stats(&e);
  PT_CHECK(s.memories_live == 0, "Nothing is live at the end.");
  wh_module_free(g);
  wh_module_free(z);
  pt_env_fini(&e);
}

static void test_map_failure(void) {
  wh_module_free(pt_tenant_module(&PT_G));
  wh_module_free(pt_tenant_module(&PT_Z));
  pt_in_child("the pool under RLIMIT_DATA", no_memory_child, NULL);
}

/* ---- dirty-page reset and fork -------------------------------------------- */

/* A few written bytes, then the instance is freed: the slot is reset in
 * place from the pagemap of the calling thread, kept warm, and the next
 * instance must not see the bytes. */
static int write_free_reuse(pt_env_t *e, const wh_module_t *a, const char *ctx) {
  int bad = 0;
  for (int round = 0; round < 3; round++) {
    wh_instance_t *inst = NULL;
    if (pt_inst(e, a, &inst) != 0) return bad + 1;
    if (round) bad += pt_check_initial(e->x, inst, &PT_A, ctx);
    pt_call(e->x, inst, "store", NULL, 2, 10, 0x5A);               /* image page */
    pt_call(e->x, inst, "store", NULL, 2, (int32_t)PT_PAGE + 7, 0x5A); /* zero page */
    wh_instance_free(inst);
  }
  return bad;
}

static void fork_reset_child(void *arg) {
  (void)arg;
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e;
  if (!pt_env_init(&e, &c)) return;
  wh_module_t *a = pt_tenant_module(&PT_A);
  if (a) {
    int bad = write_free_reuse(&e, a, "in a forked child, after bytes were written");
    wh_pool_stats_t s = pt_stats(&e);
    PT_CHECK(bad == 0 && s.affinity_hits == 2,
             "In a forked child the slot is reset from the child's own page tables and stays "
             "warm (%d findings, %llu affinity hits).", bad, (unsigned long long)s.affinity_hits);
  }
  wh_module_free(a);
  pt_env_fini(&e);
}

/* The pagemap file a thread opened describes its process: a child
 * forked after the parent's thread opened one must open its own. */
static void test_fork_resets_own_pages(void) {
  wh_pool_config_t c;
  pt_small_config(&c, 1);
  pt_env_t e;
  wh_module_t *a = NULL;
  if (pt_env_init(&e, &c) && (a = pt_tenant_module(&PT_A)) != NULL) {
    int bad = write_free_reuse(&e, a, "after bytes were written");
    PT_CHECK(bad == 0, "A slot reset in place shows none of the bytes written (%d findings).",
             bad);
  }
  wh_module_free(a);
  pt_env_fini(&e);
  pt_in_child("slot resets in a forked child", fork_reset_child, NULL);
}

CU_TestInfo pt_tests_cow_linux[] = {
    {"which modules get an image", test_prepare},
    {"a global-relative data segment is applied eagerly", test_eager_global_offset},
    {"an out-of-range data segment traps, eagerly", test_eager_out_of_range},
    {"an eager module after an image in the slot", test_image_then_eager},
    {"an element trap after the image was mapped", test_elem_trap_after_image},
    {"a warm slot of a freed module", test_warm_slot_of_freed_module},
    {"memfd_create failing falls back to eager", test_memfd_failure},
    {"mapping failures leave the pool consistent", test_map_failure},
    {"a forked child resets slots from its own page tables", test_fork_resets_own_pages},
    CU_TEST_INFO_NULL,
};
