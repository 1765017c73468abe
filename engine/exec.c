/*
 * exec.c - execution contexts: calls from the host, host functions called
 * from wasm, traps and their backtraces, fuel, deadlines and interrupts.
 *
 * Deadlines use one process-wide epoch counter ticked by one timer thread
 * (never a thread per call).  A call traps when the epoch reaches its
 * exec's deadline; wh_exec_interrupt sets the deadline to 0, which every
 * running check sees at its next function entry or loop header.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine_int.h"

/* host -> wasm -> host ... re-entries of wh_call on one exec */
#define WH_MAX_NESTED_CALLS 64

static unsigned epoch_tick_ms;   /* see the epoch section below */

struct wh_caller {
  wh_exec_t *x;
  wh_instance_t *inst;
};

const char *wh_trap_text(wh_trap_code_t code) {
  switch (code) {
#define WH__TRAP_TEXT(name, text) case WH_TRAP_##name: return text;
    WH_TRAP_MAP(WH__TRAP_TEXT)
#undef WH__TRAP_TEXT
  default: return "no trap";
  }
}

/* ---- exec --------------------------------------------------------------- */

wh_exec_t *wh_exec_new(wh_engine_t *e) {
  wh_exec_t *x = calloc(1, sizeof *x);
  if (!x) return NULL;
  x->engine = e;
  size_t slots = e->cfg.max_wasm_stack / 8;
  if (slots < 64) slots = 64;
  x->stack = calloc(slots, 8);
  x->frames = calloc((size_t)e->cfg.max_call_depth + 2, sizeof *x->frames);
  x->backtrace_cap = 4096;
  x->backtrace = calloc(1, x->backtrace_cap);
  if (!x->stack || !x->frames || !x->backtrace) {
    wh_exec_free(x);
    return NULL;
  }
  x->stack_end = x->stack + slots;
  x->stack_top = x->stack;
  x->frames_end = x->frames + e->cfg.max_call_depth + 1;
  x->frame_top = x->frames;          /* frames[0] is a sentinel */
  x->fuel = INT64_MAX;
  x->fuel_given = INT64_MAX;
  atomic_store(&x->deadline, UINT64_MAX);
  return x;
}

void wh_exec_free(wh_exec_t *x) {
  if (!x) return;
  wh__budget_unref(x->budget);
  free(x->stack);
  free(x->frames);
  free(x->backtrace);
  free(x);
}

void wh_exec_set_fuel(wh_exec_t *x, uint64_t fuel) {
  if (fuel > INT64_MAX) fuel = INT64_MAX;
  x->fuel = (int64_t)fuel;
  x->fuel_given = fuel;
}

uint64_t wh_exec_fuel_remaining(const wh_exec_t *x) { return (uint64_t)x->fuel; }

uint64_t wh_exec_fuel_consumed(const wh_exec_t *x) {
  return x->fuel_given - (uint64_t)x->fuel;
}

void wh_exec_set_user(wh_exec_t *x, void *user) { x->user = user; }

bool wh__budget_charge(wh_mem_budget_t *b, uint64_t bytes) {
  uint64_t used = atomic_load(&b->used);
  do {
    if (bytes > b->limit || used > b->limit - bytes) return false;
  } while (!atomic_compare_exchange_weak(&b->used, &used, used + bytes));
  return true;
}

void wh__budget_refund(wh_mem_budget_t *b, uint64_t bytes) { atomic_fetch_sub(&b->used, bytes); }

void wh__budget_unref(wh_mem_budget_t *b) {
  if (b && atomic_fetch_sub(&b->refs, 1) == 1) free(b);
}

void wh_exec_set_memory_limit(wh_exec_t *x, uint64_t bytes) {
  x->memory_limit = bytes;
  /* no memory holds the current budget: reuse it (it is at zero) */
  if (x->budget && bytes && atomic_load(&x->budget->refs) == 1) {
    x->budget->limit = bytes;
    return;
  }
  wh__budget_unref(x->budget);
  x->budget = bytes ? calloc(1, sizeof *x->budget) : NULL;
  if (x->budget) {
    x->budget->limit = bytes;
    atomic_store(&x->budget->refs, 1);
  }
  /* without one (out of memory) the limit still caps each memory */
}

void *wh_exec_user(const wh_exec_t *x) { return x->user; }

uint64_t wh_exec_deadline_remaining_ms(const wh_exec_t *x) {
  uint64_t deadline = atomic_load(&x->deadline);
  if (deadline == UINT64_MAX) return UINT64_MAX;
  uint64_t now = atomic_load(&wh__epoch);
  if (now >= deadline) return 0;
  return (deadline - now) * (epoch_tick_ms ? epoch_tick_ms : 10);
}

void wh_exec_interrupt(wh_exec_t *x) {
  atomic_store(&x->interrupt, 1);
  atomic_store(&x->deadline, 0);
}

wh_trap_code_t wh_exec_trap(const wh_exec_t *x, const char **msg,
                            const char **backtrace) {
  if (msg) *msg = x->trap ? x->trap_msg : NULL;
  if (backtrace) *backtrace = x->backtrace;
  return x->trap;
}

int wh_exec_exit_status(const wh_exec_t *x) { return x->exit_status; }

/* ---- traps ------------------------------------------------------------- */

static void bt_append(wh_exec_t *x, size_t *len, const char *fmt, ...) {
  if (*len + 1 >= x->backtrace_cap) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(x->backtrace + *len, x->backtrace_cap - *len, fmt, ap);
  va_end(ap);
  if (n > 0) *len += (size_t)n;
  if (*len >= x->backtrace_cap) *len = x->backtrace_cap - 1;
}

int wh__trap(wh_exec_t *x, wh_trap_code_t code, const wh_frame_t *base,
             const wh_frame_t *top, const wh_func_def_t *cur) {
  (void)cur;
  if (code != WH_TRAP_HOST || !x->trap_msg[0])
    snprintf(x->trap_msg, sizeof x->trap_msg, "%s", wh_trap_text(code));
  x->trap = code;
  if (code == WH_TRAP_INTERRUPTED) {
    atomic_store(&x->interrupt, 0);
    atomic_store(&x->deadline, UINT64_MAX);
  }
  size_t len = 0;
  x->backtrace[0] = '\0';
  if (base && top && top >= base) {
    /* the innermost 32 frames and the outermost 8; the count of the
     * rest in between */
    long total = (long)(top - base) + 1;
    for (long n = 0; n < total; n++) {
      if (n == 32 && total > 40) {
        bt_append(x, &len, "  ... %ld more frames\n", total - 40);
        n = total - 8;
      }
      const wh_func_def_t *d = top[-n].def;
      if (d->name) bt_append(x, &len, "  #%ld %s\n", n, d->name);
      else bt_append(x, &len, "  #%ld func[%u]\n", n, d->index);
    }
  }
  return WH_ETRAP;
}

/* ---- host functions ------------------------------------------------------ */

uint8_t *wh_caller_memory(wh_caller_t *c, uint64_t *size) {
  wh_memory_t *m = c->inst ? c->inst->mem : NULL;
  if (size) *size = m ? m->size : 0;
  return m ? m->base : NULL;
}

wh_exec_t *wh_caller_exec(wh_caller_t *c) { return c->x; }

wh_instance_t *wh_caller_instance(wh_caller_t *c) { return c->inst; }

int wh_caller_trap(wh_caller_t *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->x->trap_msg, sizeof c->x->trap_msg, fmt, ap);
  va_end(ap);
  c->x->trap = WH_TRAP_HOST;
  return WH_ETRAP;
}

int wh_caller_trap_kind(wh_caller_t *c, wh_trap_code_t code) {
  c->x->trap = code;
  snprintf(c->x->trap_msg, sizeof c->x->trap_msg, "%s", wh_trap_text(code));
  return WH_ETRAP;
}

int wh_caller_exit(wh_caller_t *c, int status) {
  c->x->exit_status = status;
  c->x->trap = WH_TRAP_EXIT;
  snprintf(c->x->trap_msg, sizeof c->x->trap_msg, "exit with status %d", status);
  return WH_EEXIT;
}

int wh__call_host(wh_exec_t *x, const wh_func_t *f, uint64_t *slots,
                  wh_instance_t *caller) {
  wh_caller_t c = {.x = x, .inst = caller};
  x->trap = WH_TRAP_NONE;
  x->trap_msg[0] = '\0';
  x->backtrace[0] = '\0';
  int rc = f->host(&c, f->env, slots);
  if (rc == 0) return 0;
  if (rc == WH_EEXIT) return WH_EEXIT;
  if (x->trap == WH_TRAP_NONE) {
    x->trap = WH_TRAP_HOST;
    snprintf(x->trap_msg, sizeof x->trap_msg, "host function failed: %s", wh_strerror(rc));
  }
  return WH_ETRAP;
}

/* ---- calls from the host ------------------------------------------------- */

static bool val_matches(const wh_val_t *v, uint8_t t) { return (uint8_t)v->type == t; }

static uint64_t val_to_slot(const wh_val_t *v) {
  uint64_t s = 0;
  switch (v->type) {
  case WH_I32: s = (uint32_t)v->of.i32; break;
  case WH_F32: { uint32_t b; memcpy(&b, &v->of.f32, 4); s = b; break; }
  case WH_F64: memcpy(&s, &v->of.f64, 8); break;
  case WH_FUNCREF: case WH_EXTERNREF: s = (uint64_t)(uintptr_t)v->of.ref; break;
  default: s = (uint64_t)v->of.i64; break;
  }
  return s;
}

static wh_val_t slot_to_val(uint64_t s, uint8_t t) {
  wh_val_t v;
  memset(&v, 0, sizeof v);
  v.type = (wh_valtype_t)t;
  switch (t) {
  case WH_I32: v.of.i32 = (int32_t)(uint32_t)s; break;
  case WH_F32: { uint32_t b = (uint32_t)s; memcpy(&v.of.f32, &b, 4); break; }
  case WH_F64: memcpy(&v.of.f64, &s, 8); break;
  case WH_FUNCREF: case WH_EXTERNREF: v.of.ref = (void *)(uintptr_t)s; break;
  default: v.of.i64 = (int64_t)s; break;
  }
  return v;
}

/* Slots taken by the first n types at `types` (a v128 takes two). */
static uint32_t nslots(const uint8_t *types, uint32_t n) {
  uint32_t k = n;
  for (uint32_t i = 0; i < n; i++) k += types[i] == WH_V128;
  return k;
}

int wh_call(wh_exec_t *x, wh_func_t *f, const wh_val_t *args, size_t nargs,
            wh_val_t *results, size_t nresults) {
  const wh_functype_t *ft = f->type;
  if (nargs != ft->nparams || nresults < ft->nresults) return WH_EINVAL;
  for (size_t i = 0; i < nargs; i++)
    if (!val_matches(&args[i], ft->types[i])) return WH_EINVAL;
  if (x->depth >= WH_MAX_NESTED_CALLS) {
    x->trap = WH_TRAP_STACK_EXHAUSTED;
    snprintf(x->trap_msg, sizeof x->trap_msg, "%s", wh_trap_text(x->trap));
    x->backtrace[0] = '\0';
    return WH_ETRAP;
  }
  uint32_t nps = nslots(ft->types, ft->nparams);
  uint32_t nrs = nslots(ft->types + ft->nparams, ft->nresults);
  uint32_t need = nps > nrs ? nps : nrs;
  uint64_t *base = x->stack_top;
  if ((size_t)(x->stack_end - base) < need + 1) {
    x->trap = WH_TRAP_STACK_EXHAUSTED;
    snprintf(x->trap_msg, sizeof x->trap_msg, "%s", wh_trap_text(x->trap));
    x->backtrace[0] = '\0';
    return WH_ETRAP;
  }
  for (size_t i = 0, k = 0; i < nargs; i++) {
    if (args[i].type == WH_V128) {
      base[k++] = args[i].of.v128[0];
      base[k++] = args[i].of.v128[1];
    } else {
      base[k++] = val_to_slot(&args[i]);
    }
  }
  x->trap = WH_TRAP_NONE;
  x->trap_msg[0] = '\0';
  x->backtrace[0] = '\0';

  wh_frame_t *saved_frame = x->frame_top;
  x->depth++;
  int rc;
  if (f->host) {
    x->stack_top = base + need;
    rc = wh__call_host(x, f, base, NULL);
  } else {
    rc = wh__interp_run(x, f, base);
  }
  x->depth--;
  x->frame_top = saved_frame;
  x->stack_top = base;
  if (rc) return rc;
  for (uint32_t i = 0, k = 0; i < ft->nresults; i++) {
    uint8_t t = ft->types[ft->nparams + i];
    results[i] = slot_to_val(base[k++], t);
    if (t == WH_V128) {
      results[i].of.v128[0] = base[k - 1];
      results[i].of.v128[1] = base[k++];
    }
  }
  return 0;
}

/* ---- epochs ---------------------------------------------------------------- */

_Atomic uint64_t wh__epoch;
static pthread_mutex_t epoch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t epoch_thread;
static bool epoch_running;
static _Atomic bool epoch_stop;

static void *epoch_main(void *arg) {
  (void)arg;
  struct timespec ts = {.tv_sec = epoch_tick_ms / 1000,
                        .tv_nsec = (long)(epoch_tick_ms % 1000) * 1000000L};
  while (!atomic_load(&epoch_stop)) {
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {}
    ts.tv_sec = epoch_tick_ms / 1000;
    ts.tv_nsec = (long)(epoch_tick_ms % 1000) * 1000000L;
    atomic_fetch_add_explicit(&wh__epoch, 1, memory_order_relaxed);
  }
  return NULL;
}

int wh_epoch_start(unsigned tick_ms) {
  int rc = 0;
  if (tick_ms == 0) tick_ms = 1;
  pthread_mutex_lock(&epoch_lock);
  if (!epoch_running) {
    epoch_tick_ms = tick_ms;
    atomic_store(&epoch_stop, false);
    if (pthread_create(&epoch_thread, NULL, epoch_main, NULL) == 0) epoch_running = true;
    else rc = WH_ENOMEM;
  }
  pthread_mutex_unlock(&epoch_lock);
  return rc;
}

void wh_epoch_stop(void) {
  pthread_mutex_lock(&epoch_lock);
  if (epoch_running) {
    atomic_store(&epoch_stop, true);
    pthread_join(epoch_thread, NULL);
    epoch_running = false;
  }
  pthread_mutex_unlock(&epoch_lock);
}

uint64_t wh_epoch_now(void) { return atomic_load(&wh__epoch); }

unsigned wh_epoch_tick_ms(void) { return epoch_tick_ms; }

void wh_exec_set_deadline_ms(wh_exec_t *x, uint64_t ms) {
  if (ms == 0) {
    atomic_store(&x->deadline, UINT64_MAX);
    return;
  }
  if (!epoch_running) wh_epoch_start(10);
  unsigned tick = epoch_tick_ms ? epoch_tick_ms : 10;
  uint64_t ticks = (ms + tick - 1) / tick;
  atomic_store(&x->deadline, wh_epoch_now() + ticks + 1);
}
