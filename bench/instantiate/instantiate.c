/*
 * instantiate.c - what one invocation's fresh instance costs (issue 3's
 * acceptance benchmark).
 *
 * One cycle = instantiate + call the export "nop" + free the instance.
 * For modules whose data segments hold 0 B, 64 KiB, 1 MiB, 16 MiB and
 * 64 MiB (one segment of a non-zero pattern at offset 0, minimum memory
 * one page more, maximum = minimum), it measures in the same run:
 *
 *   pool       wh_linker_instantiate_in with the pool allocator; the
 *              module's copy-on-write image is made at load time
 *              (wh_pool_prepare_module), as the daemon does
 *   on demand  wh_linker_instantiate (allocator NULL): mmap of the
 *              memory, memcpy of the segments, munmap at free
 *
 * and prints the median microseconds per cycle (each cycle timed on its
 * own), then the pool's throughput in cycles/s with 1 and 2 threads
 * (each thread its own exec and linker, one shared pool and module): the
 * median of BENCH_REPS runs, with the CPU time per cycle (which shows
 * contention even when other work on the machine blurs the wall time)
 * and the rounds of the pool-wide lock per cycle.
 *
 * Targets (issue 3): pool under 10 us at every size; 64 MiB no more than
 * 1.5x the 0-byte case; 2 threads >= 1.6x one thread.
 *
 * Built and run by run.sh (gcc -O2 against build/libwharf.a); not part
 * of the default build.  Environment: BENCH_SECONDS (time per
 * throughput run, default 1), BENCH_REPS (throughput runs per size and
 * thread count, default 3), BENCH_CYCLES (pool cycles per size, default
 * 20000), BENCH_KEEP_RESIDENT (the pool's keep_resident, bytes; default
 * 0, as wh_pool_config_default).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wh_engine.h"
#include "wh_pool.h"

#define PAGE 65536u
#define NSIZES 5
static const uint64_t SIZES[NSIZES] = {0, 64u << 10, 1u << 20, 16u << 20, 64u << 20};
static const char *const SIZE_NAMES[NSIZES] = {"0 B", "64 KiB", "1 MiB", "16 MiB", "64 MiB"};

static void die(const char *what, const char *why) {
  fprintf(stderr, "instantiate: %s: %s\n", what, why);
  exit(1);
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* ---- the modules ------------------------------------------------------------ */

typedef struct buf {
  uint8_t *p;
  size_t len, cap;
} buf_t;

static void put(buf_t *b, const void *src, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p) die("module", "out of memory");
  }
  memcpy(b->p + b->len, src, n);
  b->len += n;
}

static void byte(buf_t *b, uint8_t v) { put(b, &v, 1); }

static void uleb(buf_t *b, uint64_t v) {
  do {
    uint8_t c = v & 0x7f;
    v >>= 7;
    byte(b, c | (v ? 0x80 : 0));
  } while (v);
}

static void section(buf_t *out, uint8_t id, const buf_t *body) {
  byte(out, id);
  uleb(out, body->len);
  put(out, body->p, body->len);
}

/* (module (memory P P) (func (export "nop")) (data (i32.const 0) "<n bytes>")) */
static uint8_t *make_module(uint64_t data_bytes, size_t *len) {
  uint64_t pages = (data_bytes + PAGE - 1) / PAGE + 1;
  buf_t out = {0}, s = {0};
  put(&out, "\0asm\1\0\0\0", 8);
  s.len = 0; uleb(&s, 1); byte(&s, 0x60); uleb(&s, 0); uleb(&s, 0);
  section(&out, 1, &s);                                  /* type () -> () */
  s.len = 0; uleb(&s, 1); uleb(&s, 0);
  section(&out, 3, &s);                                  /* func 0 : type 0 */
  s.len = 0; uleb(&s, 1); byte(&s, 1); uleb(&s, pages); uleb(&s, pages);
  section(&out, 5, &s);                                  /* memory min = max */
  s.len = 0; uleb(&s, 1); uleb(&s, 3); put(&s, "nop", 3); byte(&s, 0); uleb(&s, 0);
  section(&out, 7, &s);                                  /* export "nop" */
  s.len = 0; uleb(&s, 1); uleb(&s, 2); uleb(&s, 0); byte(&s, 0x0b);
  section(&out, 10, &s);                                 /* code: empty body */
  if (data_bytes) {
    s.len = 0;
    uleb(&s, 1);
    uleb(&s, 0);                                         /* active, memory 0 */
    byte(&s, 0x41); byte(&s, 0); byte(&s, 0x0b);         /* i32.const 0; end */
    uleb(&s, data_bytes);
    size_t at = s.len;
    if (s.len + data_bytes > s.cap) {
      s.cap = s.len + data_bytes;
      s.p = realloc(s.p, s.cap);
      if (!s.p) die("module", "out of memory");
    }
    for (uint64_t i = 0; i < data_bytes; i++) s.p[at + i] = (uint8_t)(i * 131 + 7) | 1;
    s.len += data_bytes;
    section(&out, 11, &s);
  }
  free(s.p);
  *len = out.len;
  return out.p;
}

/* ---- one cycle ---------------------------------------------------------------- */

typedef struct ctx {
  wh_exec_t *x;
  wh_linker_t *l;
  wh_inst_alloc_t *alloc;     /* NULL: on demand */
  const wh_module_t *m;
} ctx_t;

static void cycle(ctx_t *c) {
  wh_instance_t *inst;
  wh_diag_t diag;
  int rc = wh_linker_instantiate_in(c->l, c->m, c->x, c->alloc, &inst, &diag);
  if (rc) die("instantiate", diag.msg);
  wh_exec_set_fuel(c->x, 1000);
  rc = wh_call(c->x, wh_instance_func(inst, "nop"), NULL, 0, NULL, 0);
  if (rc) die("call", wh_strerror(rc));
  wh_instance_free(inst);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Median (and 99th percentile) of `n` individually timed cycles, after
 * `warm` untimed ones; stops early once `budget_us` is spent (at least
 * 5 cycles). */
static void timed(ctx_t *c, int n, int warm, double budget_us, double *median, double *p99,
                  int *done) {
  for (int i = 0; i < warm; i++) cycle(c);
  double *t = malloc(sizeof *t * (size_t)n);
  double start = now_us();
  int k = 0;
  while (k < n) {
    double t0 = now_us();
    cycle(c);
    t[k++] = now_us() - t0;
    if (k >= 5 && now_us() - start > budget_us) break;
  }
  qsort(t, (size_t)k, sizeof *t, cmp_double);
  *median = k % 2 ? t[k / 2] : (t[k / 2 - 1] + t[k / 2]) / 2;
  *p99 = t[(size_t)(k * 0.99)];
  *done = k;
  free(t);
}

/* ---- throughput ------------------------------------------------------------- */

/* One per thread, each on cache lines of its own: `cycles` is written on
 * every cycle, and two threads' counters on one line would make the
 * benchmark itself a source of contention. */
typedef struct runner {
  _Alignas(64) pthread_t tid;
  wh_engine_t *e;
  wh_inst_alloc_t *alloc;
  const wh_module_t *m;
  atomic_int *go, *stop;
  long cycles;
  double cpu_us;              /* the thread's CPU time while measured */
  char pad[64];
} runner_t;

static double thread_cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void *run_main(void *arg) {
  runner_t *r = arg;
  ctx_t c = {wh_exec_new(r->e), wh_linker_new(r->e), r->alloc, r->m};
  for (int i = 0; i < 200; i++) cycle(&c);          /* warm */
  while (!atomic_load(r->go)) {}
  double c0 = thread_cpu_us();
  while (!atomic_load_explicit(r->stop, memory_order_relaxed)) {
    cycle(&c);
    r->cycles++;
  }
  r->cpu_us = thread_cpu_us() - c0;
  wh_linker_free(c.l);
  wh_exec_free(c.x);
  return NULL;
}

/* Cycles per second on `nthreads` threads; *cpu_per_cycle gets the CPU
 * time the measuring threads used per cycle (user + system), which other
 * processes on the machine do not inflate the way they inflate wall
 * time, but contention does. */
static double throughput(wh_engine_t *e, wh_inst_alloc_t *alloc, const wh_module_t *m,
                         int nthreads, double seconds, double *cpu_per_cycle) {
  runner_t r[8];
  atomic_int go = 0, stop = 0;
  for (int i = 0; i < nthreads; i++) {
    r[i] = (runner_t){.e = e, .alloc = alloc, .m = m, .go = &go, .stop = &stop};
    pthread_create(&r[i].tid, NULL, run_main, &r[i]);
  }
  struct timespec pause = {0, 50 * 1000 * 1000};
  nanosleep(&pause, NULL);                          /* let every thread warm up */
  double t0 = now_us();
  atomic_store(&go, 1);
  struct timespec run = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
  nanosleep(&run, NULL);
  atomic_store(&stop, 1);
  double t1 = now_us(), cpu = 0;
  long total = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(r[i].tid, NULL);
    total += r[i].cycles;
    cpu += r[i].cpu_us;
  }
  if (cpu_per_cycle) *cpu_per_cycle = total ? cpu / (double)total : 0;
  return (double)total / ((t1 - t0) / 1e6);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#define MAX_REPS 15

typedef struct tp_result {
  double tp[2], cpu[2];       /* medians for 1 and 2 threads */
  double locks;               /* pool-lock rounds per cycle, -1: unknown */
} tp_result_t;

/* `reps` throughput runs on 1 thread and on 2, alternating (so that a
 * change of load on the machine hits both alike); medians. */
static void throughput_reps(wh_engine_t *e, wh_pool_t *pool, const wh_module_t *m,
                            double seconds, int reps, tp_result_t *out) {
  double tp[2][MAX_REPS], cpu[2][MAX_REPS];
  wh_pool_stats_t s0 = {0}, s1 = {0};
  wh_pool_stats(pool, &s0);
  for (int r = 0; r < reps; r++)
    for (int t = 0; t < 2; t++)
      tp[t][r] = throughput(e, wh_pool_allocator(pool), m, t + 1, seconds, &cpu[t][r]);
  wh_pool_stats(pool, &s1);
  for (int t = 0; t < 2; t++) {
    out->tp[t] = median(tp[t], reps);
    out->cpu[t] = median(cpu[t], reps);
  }
  /* a library from before the threads' caches leaves these fields 0 */
  uint64_t cycles = s1.acquisitions - s0.acquisitions;
  out->locks = s1.caches && cycles ? (double)(s1.pool_locks - s0.pool_locks) / (double)cycles
                                   : -1;
}

/* ---- main ------------------------------------------------------------------- */

/* Pure computation on 1 and 2 threads: how much parallelism the machine
 * gives right now (other work shares its cores). */
typedef struct spin {
  pthread_t tid;
  atomic_int *stop;
  long n;
} spin_t;

static void *spin_main(void *arg) {
  spin_t *s = arg;
  volatile uint64_t h = 1469598103934665603ull;
  while (!atomic_load_explicit(s->stop, memory_order_relaxed)) {
    for (int i = 0; i < 1000; i++) h = (h ^ (uint64_t)i) * 1099511628211ull;
    s->n++;
  }
  return NULL;
}

static double spin_rate(int nthreads, double seconds) {
  spin_t s[8];
  atomic_int stop = 0;
  double t0 = now_us();
  for (int i = 0; i < nthreads; i++) {
    s[i] = (spin_t){.stop = &stop};
    pthread_create(&s[i].tid, NULL, spin_main, &s[i]);
  }
  struct timespec run = {(time_t)seconds, (long)((seconds - (time_t)seconds) * 1e9)};
  nanosleep(&run, NULL);
  atomic_store(&stop, 1);
  long total = 0;
  for (int i = 0; i < nthreads; i++) {
    pthread_join(s[i].tid, NULL);
    total += s[i].n;
  }
  return (double)total / ((now_us() - t0) / 1e6);
}

int main(int argc, char **argv) {
  double seconds = getenv("BENCH_SECONDS") ? atof(getenv("BENCH_SECONDS")) : 1.0;
  int ncycles = getenv("BENCH_CYCLES") ? atoi(getenv("BENCH_CYCLES")) : 20000;
  int reps = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 3;
  if (seconds <= 0) seconds = 1.0;
  if (reps < 1) reps = 1;
  if (reps > MAX_REPS) reps = MAX_REPS;
  if (ncycles < 10) ncycles = 10;

  wh_engine_t *e = wh_engine_new(NULL);              /* defaults: fuel and epoch checks on */
  wh_pool_config_t cfg;
  wh_pool_config_default(&cfg);
  cfg.total_instances = cfg.total_memories = cfg.total_tables = 16;
  cfg.max_memory_size = 128u << 20;
  if (getenv("BENCH_KEEP_RESIDENT")) cfg.keep_resident = strtoull(getenv("BENCH_KEEP_RESIDENT"), NULL, 0);
  wh_diag_t diag;
  wh_pool_t *pool = wh_pool_new(&cfg, &diag);
  if (!e || !pool) die("pool", diag.msg);
  wh_inst_alloc_t *alloc = wh_pool_allocator(pool);

  /* "throughput SIZE-INDEX THREADS": one throughput run only (for perf) */
  if (argc == 4 && strcmp(argv[1], "throughput") == 0) {
    int s = atoi(argv[2]), n = atoi(argv[3]);
    if (s < 0 || s >= NSIZES || n < 1 || n > 8) die("usage", "throughput 0-4 1-8");
    size_t len;
    uint8_t *bytes = make_module(SIZES[s], &len);
    wh_module_t *m = wh_module_new(e, bytes, len, &diag);
    free(bytes);
    if (!m) die("module", diag.msg);
    wh_pool_prepare_module(pool, m);
    double cpc = 0, tp = throughput(e, alloc, m, n, seconds, &cpc);
    printf("%s, %d thread(s): %.0f cycles/s, %.2f us of CPU per cycle\n", SIZE_NAMES[s], n, tp,
           cpc);
    wh_module_free(m);
    wh_pool_free(pool);
    wh_engine_free(e);
    return 0;
  }

  double pool_med[NSIZES], pool_p99[NSIZES], od_med[NSIZES], od_p99[NSIZES];
  tp_result_t tp[NSIZES];
  int pool_n[NSIZES], od_n[NSIZES];
  wh_module_t *mods[NSIZES];
  for (int s = 0; s < NSIZES; s++) {
    size_t len;
    uint8_t *bytes = make_module(SIZES[s], &len);
    mods[s] = wh_module_new(e, bytes, len, &diag);
    free(bytes);
    if (!mods[s]) die("module", diag.msg);
    int rc = wh_pool_prepare_module(pool, mods[s]);
    if (rc) die("wh_pool_prepare_module", wh_strerror(rc));
  }

  wh_exec_t *x = wh_exec_new(e);
  wh_linker_t *l = wh_linker_new(e);
  for (int s = 0; s < NSIZES; s++) {
    ctx_t pc = {x, l, alloc, mods[s]}, oc = {x, l, NULL, mods[s]};
    timed(&pc, ncycles, 1000, 5e6, &pool_med[s], &pool_p99[s], &pool_n[s]);
    timed(&oc, ncycles, 3, 3e6, &od_med[s], &od_p99[s], &od_n[s]);
    throughput_reps(e, pool, mods[s], seconds, reps, &tp[s]);
    fprintf(stderr, "  %-7s done\n", SIZE_NAMES[s]);
  }

  double spin1 = spin_rate(1, seconds), spin2 = spin_rate(2, seconds);
  double load[3] = {0};
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
    fclose(f);
  }
  printf("instantiate + call nop + free (%s; load average %.2f)\n\n",
         wh_engine_fingerprint(e), load[0]);
  printf("%-8s | %8s %8s %6s | %10s %6s | %8s | %10s %10s %6s | %7s %7s %5s %6s | %6s\n",
         "data", "pool us", "p99", "cycles", "on-demand", "cycles", "speedup", "1 thr/s",
         "2 thr/s", "2t/1t", "cpu 1t", "cpu 2t", "cpus", "2t@2", "locks");
  printf("---------+--------------------------+-------------------+----------+"
         "-------------------------------+-----------------------------+-------\n");
  for (int s = 0; s < NSIZES; s++) {
    char locks[16] = "-";
    if (tp[s].locks >= 0) snprintf(locks, sizeof locks, "%.3f", tp[s].locks);
    printf("%-8s | %8.2f %8.2f %6d | %10.1f %6d | %7.0fx | %10.0f %10.0f %5.2fx | %7.2f %7.2f "
           "%5.2f %5.2fx | %6s\n",
           SIZE_NAMES[s], pool_med[s], pool_p99[s], pool_n[s], od_med[s], od_n[s],
           od_med[s] / pool_med[s], tp[s].tp[0], tp[s].tp[1], tp[s].tp[1] / tp[s].tp[0],
           tp[s].cpu[0], tp[s].cpu[1], tp[s].tp[1] * tp[s].cpu[1] / 1e6,
           2 * tp[s].cpu[0] / tp[s].cpu[1], locks);
  }
  printf("\n(us: median microseconds per cycle; on-demand: wh_linker_instantiate without a pool;\n"
         " speedup: on-demand / pool; thr/s: pool cycles per second, median of %d runs; cpu:\n"
         " microseconds of CPU time per cycle, summed over the cycling threads (median), which\n"
         " contention raises and other load does not; cpus: CPUs the two threads got (2 thr/s x\n"
         " cpu 2t); 2t@2: 2t/1t had they had two CPUs, 2 x cpu 1t / cpu 2t; locks: rounds of\n"
         " the pool-wide lock per cycle in those runs)\n", reps);
  printf("\n64 MiB vs 0 B (pool, median): %.2fx\n", pool_med[NSIZES - 1] / pool_med[0]);
  printf("the machine now: pure computation on 2 threads = %.2fx 1 thread\n", spin2 / spin1);

  bool under10 = true, scale = true, cpu_scale = true;
  double worst_scale = 1e9, worst_cpu_scale = 1e9;
  for (int s = 0; s < NSIZES; s++) {
    under10 = under10 && pool_med[s] < 10.0;
    double r = tp[s].tp[1] / tp[s].tp[0], rc = 2 * tp[s].cpu[0] / tp[s].cpu[1];
    if (r < worst_scale) worst_scale = r;
    if (rc < worst_cpu_scale) worst_cpu_scale = rc;
    scale = scale && r >= 1.6;
    cpu_scale = cpu_scale && rc >= 1.6;
  }
  double ratio = pool_med[NSIZES - 1] / pool_med[0];
  printf("\ntargets: pool < 10 us at every size: %s; 64 MiB <= 1.5x 0 B: %s (%.2fx); "
         "2 threads >= 1.6x 1 thread: %s (worst %.2fx)\n",
         under10 ? "met" : "MISSED", ratio <= 1.5 ? "met" : "MISSED", ratio,
         scale ? "met" : "MISSED", worst_scale);
  printf("         (2 threads at two free CPUs, from CPU per cycle: %s, worst %.2fx)\n",
         cpu_scale ? "met" : "MISSED", worst_cpu_scale);
  wh_pool_stats_t st = {0};
  wh_pool_stats(pool, &st);
  printf("pool: %llu acquisitions, %llu affinity hits, %llu image maps, %llu failures, "
         "%llu pool-lock rounds, %llu steals\n",
         (unsigned long long)st.acquisitions, (unsigned long long)st.affinity_hits,
         (unsigned long long)st.image_maps, (unsigned long long)st.failures,
         (unsigned long long)st.pool_locks, (unsigned long long)st.steals);

  wh_linker_free(l);
  wh_exec_free(x);
  for (int s = 0; s < NSIZES; s++) wh_module_free(mods[s]);
  wh_pool_free(pool);
  wh_engine_free(e);
  return 0;
}
