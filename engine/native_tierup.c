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
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

struct wh_native_job {
  pthread_t thread;
  _Atomic bool cancel;
};

static pthread_mutex_t compile_lock = PTHREAD_MUTEX_INITIALIZER;

static void *job_main(void *arg) {
  wh_module_t *m = arg;
  pthread_mutex_lock(&compile_lock);
  if (!atomic_load(&m->native_job->cancel)) {
    wh_diag_t d;
    wh_diag_clear(&d);
    if (wh__native_compile(m, &d) != 0) {
      char *why = strdup(d.msg);
      __atomic_store_n(&m->native_reason, why, __ATOMIC_RELEASE);
    }
  }
  pthread_mutex_unlock(&compile_lock);
  return NULL;
}

int wh__native_tierup_start(wh_module_t *m) {
  struct wh_native_job *j = calloc(1, sizeof *j);
  if (!j) return WH_ENOMEM;
  m->native_job = j;
  if (pthread_create(&j->thread, NULL, job_main, m) != 0) {
    m->native_job = NULL;
    free(j);
    return WH_ENOMEM;   /* the module simply stays in the interpreter */
  }
  return 0;
}

void wh__native_tierup_stop(wh_module_t *m) {
  struct wh_native_job *j = m->native_job;
  if (!j) return;
  atomic_store(&j->cancel, true);
  pthread_join(j->thread, NULL);
  free(j);
  m->native_job = NULL;
}
