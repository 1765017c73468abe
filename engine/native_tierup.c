/*
 * native_tierup.c - tier `auto`: a module starts in the interpreter and
 * its native code is compiled in the background; instances made after the
 * code is published (m->native, an atomic pointer store) run it, earlier
 * ones keep the interpreter.  Only one background compile runs at a time
 * in the process (LLVM at O2 is CPU-heavy; guests come first).
 *
 * The job belongs to the module: wh_module_free cancels a job that has not
 * started and waits for one that has (an LLVM compile cannot be stopped
 * half-way), so the module never goes away under its compiler.  The
 * compiler reads only the module's immutable parts (its wcode, types and
 * tables), which the interpreter may be running meanwhile.
 *
 * A job may have one watcher (wh__native_tierup_watch; the compilation
 * cache, which rewrites the module's artifact with the native code).  Its
 * `done` runs on a background thread of the job, never on the caller's,
 * and after compile_lock is released (the next compile need not wait for
 * a cache write); its `fini` runs when the module is freed:
 *
 *   job:    RUNNING ──compile returns rc──> ENDED (rc kept in the job)
 *
 *   watch while RUNNING        done(rc) on the compile's thread, at the end
 *   watch when ENDED, late     the ended thread is joined and a new one
 *                              runs done(rc) (same pthread_t slot)
 *   watch when ENDED, !late,   done never runs (a module without a job
 *   or no job (NONE)           gets a thread-less job to hold the watch)
 *   wh_module_free             cancel; join the thread (so a running done
 *                              finishes first); fini; free the job
 *
 * `lock` guards ended, rc, ran and the watch; the watch is written once,
 * before any thread that reads it can see it set.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

struct wh_native_job {
  pthread_t thread;
  bool has_thread;        /* `thread` is to be joined */
  bool compiles;          /* started for a compile (not a watch holder) */
  _Atomic bool cancel;
  pthread_mutex_t lock;   /* guards the fields below */
  bool ended;             /* job_main is past the compile */
  bool ran;               /* ... and ran it (not cancelled first) */
  int rc;                 /* its result */
  bool watched;
  wh_tierup_watch_t watch;
};

static pthread_mutex_t compile_lock = PTHREAD_MUTEX_INITIALIZER;

/* wh_native_stats: process-wide, relaxed (metrics) */
static _Atomic uint64_t n_compiled, n_refused, n_failed, n_compile_ns, n_pending;

void wh__native_count(int rc, uint64_t ns) {
  atomic_fetch_add_explicit(rc == 0 ? &n_compiled : rc == WH_EUNSUPPORTED ? &n_refused : &n_failed,
                            1, memory_order_relaxed);
  atomic_fetch_add_explicit(&n_compile_ns, ns, memory_order_relaxed);
}

void wh_native_stats(wh_native_stats_t *out) {
  out->compiled = atomic_load_explicit(&n_compiled, memory_order_relaxed);
  out->refused = atomic_load_explicit(&n_refused, memory_order_relaxed);
  out->failed = atomic_load_explicit(&n_failed, memory_order_relaxed);
  out->compile_ns = atomic_load_explicit(&n_compile_ns, memory_order_relaxed);
  out->pending = atomic_load_explicit(&n_pending, memory_order_relaxed);
}

static struct wh_native_job *job_new(void) {
  struct wh_native_job *j = calloc(1, sizeof *j);
  if (j) pthread_mutex_init(&j->lock, NULL);
  return j;
}

static void job_free(struct wh_native_job *j) {
  pthread_mutex_destroy(&j->lock);
  free(j);
}

static void *job_main(void *arg) {
  wh_module_t *m = arg;
  struct wh_native_job *j = m->native_job;
  int rc = 0;
  bool ran = false;
  pthread_mutex_lock(&compile_lock);
  if (!atomic_load(&j->cancel)) {
    wh_diag_t d;
    wh_diag_clear(&d);
    ran = true;
    if ((rc = wh__native_compile(m, &d)) != 0) {
      char *why = strdup(d.msg);
      __atomic_store_n(&m->native_reason, why, __ATOMIC_RELEASE);
    }
  }
  pthread_mutex_unlock(&compile_lock);
  atomic_fetch_sub_explicit(&n_pending, 1, memory_order_relaxed);

  pthread_mutex_lock(&j->lock);
  j->ended = true;
  j->ran = ran;
  j->rc = rc;
  wh_tierup_watch_t w = j->watch;
  bool tell = j->watched && ran && w.done;
  pthread_mutex_unlock(&j->lock);
  if (tell) w.done(m, rc, w.arg);
  return NULL;
}

/* The thread of a watch that came after the compile ended. */
static void *late_main(void *arg) {
  wh_module_t *m = arg;
  struct wh_native_job *j = m->native_job;
  j->watch.done(m, j->rc, j->watch.arg);
  return NULL;
}

int wh__native_tierup_start(wh_module_t *m) {
  struct wh_native_job *j = job_new();
  if (!j) return WH_ENOMEM;
  j->compiles = j->has_thread = true;
  m->native_job = j;
  atomic_fetch_add_explicit(&n_pending, 1, memory_order_relaxed);
  if (pthread_create(&j->thread, NULL, job_main, m) != 0) {
    atomic_fetch_sub_explicit(&n_pending, 1, memory_order_relaxed);
    m->native_job = NULL;
    job_free(j);
    return WH_ENOMEM;   /* the module simply stays in the interpreter */
  }
  return 0;
}

void wh__native_tierup_stop(wh_module_t *m) {
  struct wh_native_job *j = m->native_job;
  if (!j) return;
  atomic_store(&j->cancel, true);
  if (j->has_thread) pthread_join(j->thread, NULL);
  if (j->watched && j->watch.fini) j->watch.fini(j->watch.arg);
  job_free(j);
  m->native_job = NULL;
}

wh_tierup_state_t wh__native_tierup_state(const wh_module_t *m) {
  struct wh_native_job *j = m->native_job;
  if (!j || !j->compiles) return WH_TIERUP_NONE;
  pthread_mutex_lock(&j->lock);
  bool ended = j->ended;
  pthread_mutex_unlock(&j->lock);
  return ended ? WH_TIERUP_ENDED : WH_TIERUP_RUNNING;
}

int wh__native_tierup_watch(wh_module_t *m, const wh_tierup_watch_t *w, bool late) {
  struct wh_native_job *j = m->native_job;
  if (!j) {   /* nothing compiles: a job that only carries the watch */
    if (!(j = job_new())) return WH_ENOMEM;
    j->watched = true;
    j->watch = *w;
    m->native_job = j;
    return 0;
  }
  pthread_mutex_lock(&j->lock);
  if (j->watched) {
    pthread_mutex_unlock(&j->lock);
    return WH_EBUSY;
  }
  j->watched = true;
  j->watch = *w;
  bool running = j->compiles && !j->ended;
  bool again = j->has_thread && j->compiles && j->ended && j->ran && late && w->done;
  pthread_mutex_unlock(&j->lock);
  if (running) return 1;   /* job_main tells it */
  if (!again) return 0;
  /* The compile ended before the watch: its thread has returned (or is
   * returning); a new one tells the watcher, off the caller's thread. */
  pthread_join(j->thread, NULL);
  if (pthread_create(&j->thread, NULL, late_main, m) != 0) {
    j->has_thread = false;
    pthread_mutex_lock(&j->lock);
    j->watched = false;
    memset(&j->watch, 0, sizeof j->watch);
    pthread_mutex_unlock(&j->lock);
    return WH_ENOMEM;
  }
  return 1;
}
