/*
 * wasi_p2.c - the WASI 0.2 host (wh_wasi_p2.h): the per-invocation
 * context, the object table (layout in wasi_p2_int.h), one trampoline
 * for every host function, and wasi:cli, wasi:clocks, wasi:random.
 *
 * Every host function is a row (name, implementation) in a table; each
 * is defined on the linker under "wasi:<name>" at @0.2.0 with the row as
 * its env.  The trampoline finds the context through the exec's user
 * pointer, checks it, and runs the row.  Arguments arrive as wh_cm_val
 * lifted with the *guest's* import type, which the linker does not check
 * against WASI's, so every implementation checks the kinds it reads
 * (wh_wasi_p2__arg_*) and traps on a mismatch; results are checked
 * against the guest's type when lowered.
 *
 * Handles returned to the guest are own(NULL rt, rep): the component
 * model gives them the type the caller's import expects, which is the
 * host resource type the linker bound to that import.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "wasi_p2_int.h"

#define MAX_OBJS_PER_CTX 16384     /* live WASI objects per invocation */
#define MAX_RANDOM (1u << 20)      /* bytes per get-random-bytes call */
#define NEVER_NS (100ull * 365 * 24 * 3600 * 1000000000ull)   /* a century */
#define SLOT_BITS 20
#define SLOT_MASK ((1u << SLOT_BITS) - 1)

/* ---- the object table ------------------------------------------------------ */

typedef struct slot {
  p2_obj_t *obj;              /* NULL: free */
  uint32_t gen;               /* 12 bits used */
  uint32_t next_free;
} slot_t;

static struct {
  pthread_mutex_t mu;
  slot_t *v;                  /* v[0] unused */
  uint32_t n, cap, free_head; /* free list through next_free, 0 ends it */
} tab = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0, 0};

/* Takes a slot for `o` and sets o->rep.  false when full or out of memory. */
static bool slot_take(p2_obj_t *o) {
  bool ok = true;
  pthread_mutex_lock(&tab.mu);
  uint32_t i = tab.free_head;
  if (i) {
    tab.free_head = tab.v[i].next_free;
  } else {
    if (tab.n == 0) tab.n = 1;
    if (tab.n >= tab.cap) {
      uint32_t nc = tab.cap ? 2 * tab.cap : 256;
      slot_t *nv = nc <= SLOT_MASK + 1u ? realloc(tab.v, nc * sizeof *nv) : NULL;
      if (!nv) {
        ok = false;
        goto out;
      }
      memset(nv + tab.cap, 0, (nc - tab.cap) * sizeof *nv);
      tab.v = nv;
      tab.cap = nc;
    }
    i = tab.n++;
  }
  tab.v[i].obj = o;
  o->rep = ((tab.v[i].gen & 0xfffu) << SLOT_BITS) | i;
out:
  pthread_mutex_unlock(&tab.mu);
  return ok;
}

/* The object behind `rep` (NULL if dead); `take` also frees the slot. */
static p2_obj_t *slot_get(uint32_t rep, bool take) {
  uint32_t i = rep & SLOT_MASK;
  p2_obj_t *o = NULL;
  pthread_mutex_lock(&tab.mu);
  if (i > 0 && i < tab.n && tab.v[i].obj && tab.v[i].obj->rep == rep) {
    o = tab.v[i].obj;
    if (take) {
      tab.v[i].obj = NULL;
      tab.v[i].gen++;
      tab.v[i].next_free = tab.free_head;
      tab.free_head = i;
    }
  }
  pthread_mutex_unlock(&tab.mu);
  return o;
}

static void obj_release(p2_obj_t *o) {
  wh_wasi_p2_t *w = o->owner;
  if (o->prev) o->prev->next = o->next;
  else w->objs = o->next;
  if (o->next) o->next->prev = o->prev;
  w->nobjs--;
  switch (o->kind) {
  case P2_INPUT:
    if (o->u.in.fd >= 0) close(o->u.in.fd);
    break;
  case P2_DESCRIPTOR:
    if (o->u.desc.fd >= 0) close(o->u.desc.fd);
    break;
  case P2_DIRSTREAM:
    wh_wasi_p2__dir_close(o);
    break;
  default:
    break;
  }
  free(o);
}

void wh_wasi_p2__obj_free(p2_obj_t *o) {
  if (o && slot_get(o->rep, true) == o) obj_release(o);
}

/* The destructor of every WASI resource type (env unused): the guest
 * dropped its handle, or its instance was freed. */
static void obj_dtor(void *env, uint32_t rep) {
  (void)env;
  p2_obj_t *o = slot_get(rep, true);
  if (o) obj_release(o);
}

p2_obj_t *wh_wasi_p2__obj_new(p2_call_t *k, p2_kind_t kind) {
  wh_wasi_p2_t *w = k->w;
  if (w->nobjs >= MAX_OBJS_PER_CTX) {
    wh_wasi_p2__trap(k, "too many WASI resources (more than %u alive)", MAX_OBJS_PER_CTX);
    return NULL;
  }
  p2_obj_t *o = calloc(1, sizeof *o);
  if (!o || !slot_take(o)) {
    free(o);
    wh_wasi_p2__trap(k, "out of memory");
    return NULL;
  }
  o->kind = (uint8_t)kind;
  o->owner = w;
  o->next = w->objs;
  if (w->objs) w->objs->prev = o;
  w->objs = o;
  w->nobjs++;
  if (kind == P2_INPUT) o->u.in.fd = -1;
  if (kind == P2_DESCRIPTOR) o->u.desc.fd = -1;
  return o;
}

static const char *const kind_names[P2_NKINDS] = {
  [P2_INPUT] = "input-stream", [P2_OUTPUT] = "output-stream", [P2_POLLABLE] = "pollable",
  [P2_ERROR] = "error", [P2_DESCRIPTOR] = "descriptor",
  [P2_DIRSTREAM] = "directory-entry-stream", [P2_TERM_IN] = "terminal-input",
  [P2_TERM_OUT] = "terminal-output", [P2_NETWORK] = "network", [P2_TCP] = "tcp-socket",
  [P2_UDP] = "udp-socket", [P2_RESOLVE] = "resolve-address-stream",
  [P2_DGRAM_IN] = "incoming-datagram-stream", [P2_DGRAM_OUT] = "outgoing-datagram-stream",
};

p2_obj_t *wh_wasi_p2__arg_obj(p2_call_t *k, uint32_t i, p2_kind_t kind) {
  const wh_cm_val *v = i < k->nargs ? &k->args[i] : NULL;
  if (!v || (v->kind != WH_CM_V_BORROW && v->kind != WH_CM_V_OWN)) {
    wh_wasi_p2__trap(k, "wasi: argument %u is not a %s handle", i, kind_names[kind]);
    return NULL;
  }
  p2_obj_t *o = slot_get(v->of.handle.rep, false);
  if (!o || o->owner != k->w || o->kind != kind) {
    wh_wasi_p2__trap(k, "wasi: handle is not a live %s of this invocation", kind_names[kind]);
    return NULL;
  }
  return o;
}

wh_cm_val wh_wasi_p2__own(const p2_obj_t *o) { return wh_cm_val_own(NULL, o->rep); }

/* ---- arguments and results ------------------------------------------------- */

int wh_wasi_p2__trap(p2_call_t *k, const char *fmt, ...) {
  char msg[CM_TRAPMSG];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (!k->hc) {
    snprintf(k->trapbuf, CM_TRAPMSG, "%s", msg);
    return WH_ETRAP;
  }
  return wh_cm_hostcall_trap(k->hc, "%s", msg);
}

static bool is_int_kind(uint8_t kind) {
  return kind >= WH_CM_V_S8 && kind <= WH_CM_V_U64;
}

bool wh_wasi_p2__arg_u64(p2_call_t *k, uint32_t i, uint64_t *out) {
  if (i >= k->nargs || !is_int_kind(k->args[i].kind)) {
    wh_wasi_p2__trap(k, "wasi: argument %u is not an integer", i);
    return false;
  }
  *out = k->args[i].of.u;
  return true;
}

bool wh_wasi_p2__arg_bool(p2_call_t *k, uint32_t i, bool *out) {
  if (i >= k->nargs || k->args[i].kind != WH_CM_V_BOOL) {
    wh_wasi_p2__trap(k, "wasi: argument %u is not a bool", i);
    return false;
  }
  *out = k->args[i].of.b;
  return true;
}

bool wh_wasi_p2__arg_str(p2_call_t *k, uint32_t i, const char **s, size_t *len) {
  if (i >= k->nargs || k->args[i].kind != WH_CM_V_STRING) {
    wh_wasi_p2__trap(k, "wasi: argument %u is not a string", i);
    return false;
  }
  *s = k->args[i].of.str.ptr ? k->args[i].of.str.ptr : "";
  *len = k->args[i].of.str.len;
  return true;
}

bool wh_wasi_p2__arg_bytes(p2_call_t *k, uint32_t i, uint8_t **out, size_t *len) {
  *out = NULL;
  *len = 0;
  if (i >= k->nargs || k->args[i].kind != WH_CM_V_LIST) {
    wh_wasi_p2__trap(k, "wasi: argument %u is not a list<u8>", i);
    return false;
  }
  const wh_cm_val *l = &k->args[i];
  uint8_t *b = malloc(l->of.agg.n ? l->of.agg.n : 1);
  if (!b) {
    wh_wasi_p2__trap(k, "out of memory");
    return false;
  }
  for (uint32_t j = 0; j < l->of.agg.n; j++) {
    if (l->of.agg.v[j].kind != WH_CM_V_U8) {
      free(b);
      wh_wasi_p2__trap(k, "wasi: argument %u is not a list<u8>", i);
      return false;
    }
    b[j] = (uint8_t)l->of.agg.v[j].of.u;
  }
  *out = b;
  *len = l->of.agg.n;
  return true;
}

int wh_wasi_p2__ret(p2_call_t *k, wh_cm_val v) {
  if (k->res) *k->res = v;
  else wh_cm_val_fini(&v);
  return 0;
}

static int ret_case(p2_call_t *k, uint32_t idx, wh_cm_val *payload) {
  wh_cm_val v;
  if (wh_cm_val_case(&v, WH_CM_V_RESULT, idx, payload) != 0)
    return wh_wasi_p2__trap(k, "out of memory");
  return wh_wasi_p2__ret(k, v);
}

int wh_wasi_p2__ret_ok(p2_call_t *k, wh_cm_val *payload) { return ret_case(k, 0, payload); }
int wh_wasi_p2__ret_err(p2_call_t *k, wh_cm_val *payload) { return ret_case(k, 1, payload); }

int wh_wasi_p2__ret_err_enum(p2_call_t *k, uint32_t code) {
  wh_cm_val e = wh_cm_val_enum(code);
  return ret_case(k, 1, &e);
}

int wh_wasi_p2__bytes_val(wh_cm_val *v, const uint8_t *p, size_t n) {
  if (n > UINT32_MAX) return WH_ENOMEM;
  if (wh_cm_val_agg(v, WH_CM_V_LIST, (uint32_t)n) != 0) return WH_ENOMEM;
  for (size_t i = 0; i < n; i++) v->of.agg.v[i] = wh_cm_val_u8(p[i]);
  return 0;
}

/* list<string> from strs[n], or with `pairs` list<tuple<string,string>>
 * from "K=V" strings split at the first '='. */
static int strings_val(wh_cm_val *v, char *const *strs, size_t n, bool pairs) {
  if (wh_cm_val_agg(v, WH_CM_V_LIST, (uint32_t)n) != 0) return WH_ENOMEM;
  for (size_t i = 0; i < n; i++) {
    const char *s = strs[i];
    if (!pairs) {
      if (wh_cm_val_string(&v->of.agg.v[i], s, strlen(s)) != 0) return WH_ENOMEM;
      continue;
    }
    const char *eq = strchr(s, '=');
    wh_cm_val *t = &v->of.agg.v[i];
    if (wh_cm_val_agg(t, WH_CM_V_TUPLE, 2) != 0 ||
        wh_cm_val_string(&t->of.agg.v[0], s, (size_t)(eq - s)) != 0 ||
        wh_cm_val_string(&t->of.agg.v[1], eq + 1, strlen(eq + 1)) != 0)
      return WH_ENOMEM;
  }
  return 0;
}

/* ---- clocks and waiting ------------------------------------------------------ */

uint64_t wh_wasi_p2__mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int wh_wasi_p2__sleep_until(p2_call_t *k, uint64_t until_ns) {
  wh_exec_t *x = k->x;
  /* a clock centuries away (subscribe-instant(u64::MAX)) never rings:
   * say so now instead of sleeping until the deadline, or for ever
   * where there is none */
  if (until_ns > wh_wasi_p2__mono_ns() + NEVER_NS)
    return wh_wasi_p2__trap(k, "wasi: waiting on a pollable that can never become ready");
  for (;;) {
    uint64_t now = wh_wasi_p2__mono_ns();
    if (until_ns <= now) return 0;
    uint64_t left_ms = wh_exec_deadline_remaining_ms(x);
    if (left_ms == 0)
      return k->hc ? wh_cm__hostcall_trap_kind(k->hc, WH_TRAP_DEADLINE)
                   : wh_wasi_p2__trap(k, "%s", wh_trap_text(WH_TRAP_DEADLINE));
    /* sleep in slices of at most 10 ms so an interrupt or a deadline is
     * seen promptly */
    uint64_t step = until_ns - now;
    if (step > 10000000ull) step = 10000000ull;
    if (left_ms != UINT64_MAX && step > left_ms * 1000000ull) step = left_ms * 1000000ull;
    struct timespec ts = {(time_t)(step / 1000000000ull), (long)(step % 1000000000ull)};
    nanosleep(&ts, NULL);
  }
}

static wh_cm_val datetime_val(const struct timespec *ts, int *rc) {
  wh_cm_val v;
  *rc = wh_cm_val_agg(&v, WH_CM_V_RECORD, 2);
  if (*rc == 0) {
    v.of.agg.v[0] = wh_cm_val_u64((uint64_t)ts->tv_sec);
    v.of.agg.v[1] = wh_cm_val_u32((uint32_t)ts->tv_nsec);
  }
  return v;
}

static int ret_datetime(p2_call_t *k, clockid_t id, bool resolution) {
  struct timespec ts;
  int rc;
  if (resolution) clock_getres(id, &ts);
  else clock_gettime(id, &ts);
  wh_cm_val v = datetime_val(&ts, &rc);
  if (rc) {
    wh_cm_val_fini(&v);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret(k, v);
}

static int wall_now(p2_call_t *k) { return ret_datetime(k, CLOCK_REALTIME, false); }
static int wall_resolution(p2_call_t *k) { return ret_datetime(k, CLOCK_REALTIME, true); }

static int mono_now(p2_call_t *k) {
  return wh_wasi_p2__ret(k, wh_cm_val_u64(wh_wasi_p2__mono_ns()));
}

static int mono_resolution(p2_call_t *k) {
  struct timespec ts;
  clock_getres(CLOCK_MONOTONIC, &ts);
  return wh_wasi_p2__ret(k, wh_cm_val_u64((uint64_t)ts.tv_sec * 1000000000ull +
                                          (uint64_t)ts.tv_nsec));
}

static int ret_timer(p2_call_t *k, uint64_t when) {
  p2_obj_t *o = wh_wasi_p2__obj_new(k, P2_POLLABLE);
  if (!o) return P2_TRAPPED;
  o->u.poll.when_ns = when ? when : 1;   /* 0 means "always ready" */
  return wh_wasi_p2__ret(k, wh_wasi_p2__own(o));
}

static int mono_subscribe_instant(p2_call_t *k) {
  uint64_t when;
  if (!wh_wasi_p2__arg_u64(k, 0, &when)) return P2_TRAPPED;
  return ret_timer(k, when);
}

static int mono_subscribe_duration(p2_call_t *k) {
  uint64_t d, now = wh_wasi_p2__mono_ns();
  if (!wh_wasi_p2__arg_u64(k, 0, &d)) return P2_TRAPPED;
  return ret_timer(k, d > UINT64_MAX - now ? UINT64_MAX : now + d);
}

/* ---- random ------------------------------------------------------------------ */

static int random_bytes(p2_call_t *k) {
  uint64_t n;
  if (!wh_wasi_p2__arg_u64(k, 0, &n)) return P2_TRAPPED;
  if (n > MAX_RANDOM) return wh_wasi_p2__trap(k, "wasi: get-random-bytes of more than %u bytes",
                                              MAX_RANDOM);
  uint8_t *b = malloc(n ? n : 1);
  wh_cm_val v;
  if (!b) return wh_wasi_p2__trap(k, "out of memory");
  if (n && RAND_bytes(b, (int)n) != 1) {
    free(b);
    return wh_wasi_p2__trap(k, "wasi: the random generator failed");
  }
  int rc = wh_wasi_p2__bytes_val(&v, b, n);
  free(b);
  if (rc) {
    wh_cm_val_fini(&v);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret(k, v);
}

static int random_u64(p2_call_t *k) {
  uint64_t x;
  if (RAND_bytes((unsigned char *)&x, sizeof x) != 1)
    return wh_wasi_p2__trap(k, "wasi: the random generator failed");
  return wh_wasi_p2__ret(k, wh_cm_val_u64(x));
}

/* xorshift128+: fast, not for secrets (what wasi:random/insecure asks) */
static uint64_t insecure_next(wh_wasi_p2_t *w) {
  uint64_t s1 = w->insecure[0];
  const uint64_t s0 = w->insecure[1];
  w->insecure[0] = s0;
  s1 ^= s1 << 23;
  w->insecure[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
  return w->insecure[1] + s0;
}

static int insecure_bytes(p2_call_t *k) {
  uint64_t n;
  wh_cm_val v;
  if (!wh_wasi_p2__arg_u64(k, 0, &n)) return P2_TRAPPED;
  if (n > MAX_RANDOM)
    return wh_wasi_p2__trap(k, "wasi: get-insecure-random-bytes of more than %u bytes",
                            MAX_RANDOM);
  if (wh_cm_val_agg(&v, WH_CM_V_LIST, (uint32_t)n) != 0) {
    wh_cm_val_fini(&v);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  for (uint64_t i = 0; i < n; i += 8) {
    uint64_t r = insecure_next(k->w);
    for (uint64_t j = i; j < n && j < i + 8; j++, r >>= 8) v.of.agg.v[j] = wh_cm_val_u8((uint8_t)r);
  }
  return wh_wasi_p2__ret(k, v);
}

static int insecure_u64(p2_call_t *k) {
  return wh_wasi_p2__ret(k, wh_cm_val_u64(insecure_next(k->w)));
}

static int insecure_seed(p2_call_t *k) {
  uint64_t s[2];
  wh_cm_val v;
  if (RAND_bytes((unsigned char *)s, sizeof s) != 1)
    return wh_wasi_p2__trap(k, "wasi: the random generator failed");
  if (wh_cm_val_agg(&v, WH_CM_V_TUPLE, 2) != 0) return wh_wasi_p2__trap(k, "out of memory");
  v.of.agg.v[0] = wh_cm_val_u64(s[0]);
  v.of.agg.v[1] = wh_cm_val_u64(s[1]);
  return wh_wasi_p2__ret(k, v);
}

/* ---- cli ------------------------------------------------------------------------ */

static int cli_environment(p2_call_t *k) {
  wh_cm_val v;
  if (strings_val(&v, k->w->env, k->w->envc, true) != 0) {
    wh_cm_val_fini(&v);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret(k, v);
}

static int cli_arguments(p2_call_t *k) {
  wh_cm_val v;
  if (strings_val(&v, k->w->argv, k->w->argc, false) != 0) {
    wh_cm_val_fini(&v);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret(k, v);
}

static int cli_initial_cwd(p2_call_t *k) {
  wh_cm_val v, s;
  if (!k->w->cwd) return wh_wasi_p2__ret(k, (wh_cm_val){.kind = WH_CM_V_OPTION});
  if (wh_cm_val_string(&s, k->w->cwd, strlen(k->w->cwd)) != 0 ||
      wh_cm_val_case(&v, WH_CM_V_OPTION, 1, &s) != 0) {
    wh_cm_val_fini(&s);
    return wh_wasi_p2__trap(k, "out of memory");
  }
  return wh_wasi_p2__ret(k, v);
}

static int do_exit(p2_call_t *k, int status) {
  k->w->exited = true;
  k->w->status = status;
  return k->hc ? wh_cm__hostcall_exit(k->hc, status) : WH_EEXIT;
}

static int cli_exit(p2_call_t *k) {
  if (k->nargs < 1 || k->args[0].kind != WH_CM_V_RESULT)
    return wh_wasi_p2__trap(k, "wasi: exit takes a result");
  return do_exit(k, k->args[0].of.var.idx == 0 ? 0 : 1);
}

static int cli_exit_with_code(p2_call_t *k) {
  uint64_t code;
  if (!wh_wasi_p2__arg_u64(k, 0, &code)) return P2_TRAPPED;
  return do_exit(k, (int)(uint8_t)code);
}

static int cli_stdin(p2_call_t *k) {
  p2_obj_t *o = wh_wasi_p2__obj_new(k, P2_INPUT);
  if (!o) return P2_TRAPPED;
  o->u.in.src = P2_IN_EMPTY;
  return wh_wasi_p2__ret(k, wh_wasi_p2__own(o));
}

static int ret_output(p2_call_t *k, int which) {
  p2_obj_t *o = wh_wasi_p2__obj_new(k, P2_OUTPUT);
  if (!o) return P2_TRAPPED;
  o->u.out.which = which;
  return wh_wasi_p2__ret(k, wh_wasi_p2__own(o));
}

static int cli_stdout(p2_call_t *k) { return ret_output(k, P2_OUT_STDOUT); }
static int cli_stderr(p2_call_t *k) { return ret_output(k, P2_OUT_STDERR); }

/* There is no terminal: option::none. */
static int cli_no_terminal(p2_call_t *k) {
  return wh_wasi_p2__ret(k, (wh_cm_val){.kind = WH_CM_V_OPTION});
}

void wh_wasi_p2__emit(wh_wasi_p2_t *w, int which, const uint8_t *p, size_t n) {
  p2_out_t *o = &w->out[which];
  if (o->fd >= 0) {
    while (n > 0) {
      ssize_t r = write(o->fd, p, n);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return;
      p += r;
      n -= (size_t)r;
    }
    return;
  }
  if (o->truncated || n == 0) return;
  size_t mlen = sizeof WH_WASI_P2_TRUNCATED_MARKER - 1;
  size_t room = o->max > mlen ? o->max - mlen : 0;
  if (o->len + n > room) {
    /* cut: keep what fits, then the marker */
    size_t keep = room > o->len ? room - o->len : 0;
    size_t need = o->len + keep + mlen;
    uint8_t *nb = realloc(o->buf, need);
    if (!nb) return;
    o->buf = nb;
    memcpy(o->buf + o->len, p, keep);
    memcpy(o->buf + o->len + keep, WH_WASI_P2_TRUNCATED_MARKER, mlen);
    o->len = need;
    o->truncated = true;
    return;
  }
  uint8_t *nb = realloc(o->buf, o->len + n);
  if (!nb) return;
  o->buf = nb;
  memcpy(o->buf + o->len, p, n);
  o->len += n;
}

/* ---- the table of functions ---------------------------------------------------- */

static const p2_fn_t core_fns[] = {
  {"cli/environment#get-environment", cli_environment},
  {"cli/environment#get-arguments", cli_arguments},
  {"cli/environment#initial-cwd", cli_initial_cwd},
  {"cli/exit#exit", cli_exit},
  {"cli/exit#exit-with-code", cli_exit_with_code},
  {"cli/stdin#get-stdin", cli_stdin},
  {"cli/stdout#get-stdout", cli_stdout},
  {"cli/stderr#get-stderr", cli_stderr},
  {"cli/terminal-stdin#get-terminal-stdin", cli_no_terminal},
  {"cli/terminal-stdout#get-terminal-stdout", cli_no_terminal},
  {"cli/terminal-stderr#get-terminal-stderr", cli_no_terminal},
  {"clocks/wall-clock#now", wall_now},
  {"clocks/wall-clock#resolution", wall_resolution},
  {"clocks/monotonic-clock#now", mono_now},
  {"clocks/monotonic-clock#resolution", mono_resolution},
  {"clocks/monotonic-clock#subscribe-instant", mono_subscribe_instant},
  {"clocks/monotonic-clock#subscribe-duration", mono_subscribe_duration},
  {"random/random#get-random-bytes", random_bytes},
  {"random/random#get-random-u64", random_u64},
  {"random/insecure#get-insecure-random-bytes", insecure_bytes},
  {"random/insecure#get-insecure-random-u64", insecure_u64},
  {"random/insecure-seed#insecure-seed", insecure_seed},
  {NULL, NULL},
};

/* Resource types, under the interface that declares each. */
static const char *const resources[] = {
  "io/error#error", "io/poll#pollable", "io/streams#input-stream",
  "io/streams#output-stream", "cli/terminal-input#terminal-input",
  "cli/terminal-output#terminal-output", "filesystem/types#descriptor",
  "filesystem/types#directory-entry-stream", "sockets/network#network",
  "sockets/tcp#tcp-socket", "sockets/udp#udp-socket",
  "sockets/udp#incoming-datagram-stream", "sockets/udp#outgoing-datagram-stream",
  "sockets/ip-name-lookup#resolve-address-stream", NULL,
};

/* The trampoline of every WASI function: env is its row. */
static int tramp(wh_cm_hostcall_t *call, void *env, const wh_cm_val *args, uint32_t nargs,
                 wh_cm_val *results, uint32_t nresults) {
  const p2_fn_t *fn = env;
  wh_wasi_p2_t *w = wh_exec_user(wh_cm_hostcall_exec(call));
  if (!w || w->magic != P2_MAGIC)
    return wh_cm_hostcall_trap(call, "wasi:%s: no WASI context", fn->name);
  p2_call_t k = {w, wh_cm_hostcall_exec(call), call, NULL, args, nargs,
                 nresults ? &results[0] : NULL};
  return fn->impl(&k);
}

static const p2_fn_t *const all_tables[] = {core_fns, wh_wasi_p2__io_fns, wh_wasi_p2__fs_fns,
                                            wh_wasi_p2__net_fns};

int wh_wasi_p2__call(wh_wasi_p2_t *w, wh_exec_t *x, const char *name, const wh_cm_val *args,
                     uint32_t nargs, wh_cm_val *result, char *trap) {
  trap[0] = '\0';
  if (result) memset(result, 0, sizeof *result);
  for (size_t t = 0; t < sizeof all_tables / sizeof all_tables[0]; t++)
    for (const p2_fn_t *f = all_tables[t]; f->name; f++)
      if (strcmp(f->name, name) == 0) {
        p2_call_t k = {w, x, NULL, trap, args, nargs, result};
        int rc = f->impl(&k);
        if (rc && result) wh_cm_val_fini(result);
        return rc;
      }
  return WH_ENOTFOUND;
}

/* "wasi:" + name with "@0.2.0" put before its '#'. */
static int full_name(const char *name, char *buf, size_t size) {
  const char *hash = strchr(name, '#');
  int n = snprintf(buf, size, "wasi:%.*s@0.2.0%s", (int)(hash - name), name, hash);
  return n > 0 && (size_t)n < size ? 0 : WH_EINVAL;
}

int wh_wasi_p2_define(wh_cm_linker_t *l) {
  const p2_fn_t *const *tables = all_tables;
  size_t ntables = sizeof all_tables / sizeof all_tables[0];
  char buf[256];
  int rc;
  if (!l) return WH_EINVAL;
  for (size_t i = 0; resources[i]; i++) {
    if ((rc = full_name(resources[i], buf, sizeof buf)) != 0) return rc;
    if ((rc = wh_cm_linker_define_resource(l, buf, obj_dtor, NULL, NULL)) != 0) return rc;
  }
  for (size_t t = 0; t < ntables; t++)
    for (const p2_fn_t *f = tables[t]; f->name; f++) {
      if ((rc = full_name(f->name, buf, sizeof buf)) != 0) return rc;
      if ((rc = wh_cm_linker_define_func(l, buf, tramp, (void *)f)) != 0) return rc;
    }
  return 0;
}

/* ---- contexts ---------------------------------------------------------------------- */

void wh_wasi_p2_config_init(wh_wasi_p2_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->stdout_fd = cfg->stderr_fd = -1;
}

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static char **dupv(const char *const *v, size_t n) {
  char **d = calloc(n ? n : 1, sizeof *d);
  for (size_t i = 0; d && i < n; i++)
    if (!(d[i] = dupstr(v[i] ? v[i] : ""))) {
      while (i--) free(d[i]);
      free(d);
      return NULL;
    }
  return d;
}

wh_wasi_p2_t *wh_wasi_p2_new(const wh_wasi_p2_config_t *cfg, wh_diag_t *diag) {
  wh_wasi_p2_t *w = calloc(1, sizeof *w);
  if (diag) wh_diag_clear(diag);
  if (!w) goto oom;
  w->magic = P2_MAGIC;
  for (size_t i = 0; i < 2; i++) w->out[i].fd = -1;
  for (size_t i = 0; i < cfg->envc; i++)
    if (!cfg->envp[i] || !strchr(cfg->envp[i], '=')) {
      wh_diag_set(diag, WH_EINVAL, -1, "environment entry %zu is not KEY=VALUE", i);
      wh_wasi_p2_free(w);
      return NULL;
    }
  if (!(w->argv = dupv(cfg->argv, cfg->argc))) goto oom;
  w->argc = cfg->argc;
  if (!(w->env = dupv(cfg->envp, cfg->envc))) goto oom;
  w->envc = cfg->envc;
  if (cfg->initial_cwd && !(w->cwd = dupstr(cfg->initial_cwd))) goto oom;
  w->out[0].fd = cfg->stdout_fd;
  w->out[1].fd = cfg->stderr_fd;
  w->out[0].max = cfg->stdout_max ? cfg->stdout_max : WH_WASI_P2_CAPTURE_DEFAULT;
  w->out[1].max = cfg->stderr_max ? cfg->stderr_max : WH_WASI_P2_CAPTURE_DEFAULT;
  w->portable = cfg->portable_resolve;
  if (cfg->npreopens) {
    if (!(w->pre = calloc(cfg->npreopens, sizeof *w->pre))) goto oom;
    for (size_t i = 0; i < cfg->npreopens; i++) {
      const wh_wasi_p2_preopen_t *p = &cfg->preopens[i];
      if (!p->host_path || !p->guest_path || !p->guest_path[0]) {
        wh_diag_set(diag, WH_EINVAL, -1, "preopen %zu lacks a host or guest path", i);
        wh_wasi_p2_free(w);
        return NULL;
      }
      int fd = open(p->host_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) {
        wh_diag_set(diag, WH_EIO, -1, "preopen %s: %s", p->host_path, strerror(errno));
        wh_wasi_p2_free(w);
        return NULL;
      }
      w->pre[w->npre].fd = fd;
      if (!(w->pre[w->npre++].guest = dupstr(p->guest_path))) goto oom;
    }
  }
  if (RAND_bytes((unsigned char *)w->insecure, sizeof w->insecure) != 1 ||
      (w->insecure[0] | w->insecure[1]) == 0)
    w->insecure[0] = 0x9e3779b97f4a7c15ull ^ wh_wasi_p2__mono_ns();
  return w;
oom:
  wh_wasi_p2_free(w);
  wh_diag_set(diag, WH_ENOMEM, -1, "out of memory");
  return NULL;
}

void wh_wasi_p2_free(wh_wasi_p2_t *w) {
  if (!w) return;
  while (w->objs) {
    p2_obj_t *o = w->objs;
    if (slot_get(o->rep, true) == o) {
      obj_release(o);
    } else {
      /* cannot happen: every listed object holds its slot */
      w->objs = o->next;
      free(o);
    }
  }
  for (size_t i = 0; w->argv && i < w->argc; i++) free(w->argv[i]);
  free(w->argv);
  for (size_t i = 0; w->env && i < w->envc; i++) free(w->env[i]);
  free(w->env);
  free(w->cwd);
  for (size_t i = 0; i < 2; i++) free(w->out[i].buf);
  for (size_t i = 0; i < w->npre; i++) {
    close(w->pre[i].fd);
    free(w->pre[i].guest);
  }
  free(w->pre);
  w->magic = 0;
  free(w);
}

void wh_wasi_p2_attach(wh_exec_t *x, wh_wasi_p2_t *w) { wh_exec_set_user(x, w); }

static const uint8_t *captured(const wh_wasi_p2_t *w, int which, size_t *len, bool *truncated) {
  const p2_out_t *o = &w->out[which];
  *len = o->len;
  if (truncated) *truncated = o->truncated;
  return o->buf ? o->buf : (const uint8_t *)"";
}

const uint8_t *wh_wasi_p2_stdout(const wh_wasi_p2_t *w, size_t *len, bool *truncated) {
  return captured(w, P2_OUT_STDOUT, len, truncated);
}

const uint8_t *wh_wasi_p2_stderr(const wh_wasi_p2_t *w, size_t *len, bool *truncated) {
  return captured(w, P2_OUT_STDERR, len, truncated);
}

bool wh_wasi_p2_exited(const wh_wasi_p2_t *w, int *status) {
  if (w->exited && status) *status = w->status;
  return w->exited;
}

/* ---- wasi:cli/run ------------------------------------------------------------------ */

int wh_wasi_p2_run_export(const wh_cm_component_t *c, char *buf, size_t size) {
  static const char prefix[] = "wasi:cli/run@0.2.";
  uint32_t n = wh_cm_export_count(c);
  for (uint32_t i = 0; i < n; i++) {
    const char *name;
    wh_cm_kind_t kind;
    wh_cm_type_ref_t type;
    if (wh_cm_export(c, i, &name, &kind, &type) != 0 || kind != WH_CM_KIND_INSTANCE) continue;
    if (strncmp(name, prefix, sizeof prefix - 1) != 0) continue;
    int w = snprintf(buf, size, "%s#run", name);
    return w > 0 && (size_t)w < size ? 0 : WH_ERANGE;
  }
  return WH_ENOTFOUND;
}

int wh_wasi_p2_run(wh_cm_instance_t *inst, const wh_cm_component_t *c, wh_exec_t *x,
                   int *status) {
  char name[256];
  wh_cm_val res;
  int rc = wh_wasi_p2_run_export(c, name, sizeof name);
  *status = 0;
  if (rc) return rc;
  rc = wh_cm_call(inst, name, NULL, 0, &res, 1, x);
  if (rc == WH_EEXIT) {
    *status = wh_exec_exit_status(x);
    return 0;
  }
  if (rc) return rc;
  *status = res.kind == WH_CM_V_RESULT && res.of.var.idx == 0 ? 0 : 1;
  wh_cm_val_fini(&res);
  return 0;
}
