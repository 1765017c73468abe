/*
 * daemon.h - wharfd's shared state, between its files (wharfd.c: start-up,
 * signals, reload; http.c: the HTTP API on the I/O thread; executor.c: the
 * worker threads; deploy.c: the in-memory table of deployments; log.c).
 *
 *   client --HTTP--> I/O thread (libevent) --job--> queue --> worker
 *                      ^                                        |
 *                      +--- its done list (wh_http_job_complete) +
 *
 * The I/O thread parses, authenticates, checks limits and hands a job to
 * the bounded queue; a worker compiles (deploys), instantiates and calls
 * (invokes) or deletes, fills in the job's reply and wakes the I/O thread,
 * which sends it.  Guest code never runs on the I/O thread, nor does a
 * write to the registry or the cache (their fsyncs).
 */
#ifndef WH_DAEMON_H
#define WH_DAEMON_H

#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "registry.h"
#include "wh_cache.h"
#include "wh_cm.h"
#include "wh_config.h"
#include "wh_engine.h"
#include "wh_pool.h"

/* ---- logging (log.c) ---------------------------------------------------- */

enum { WH_LOG_DEBUG, WH_LOG_INFO, WH_LOG_WARN, WH_LOG_ERROR };
void wh_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wh_log_set_level(int level);

/* ---- tenants ------------------------------------------------------------ */

/* Runtime state of one tenant.  `cfg` is replaced on reload (under
 * d->cfg_lock); the counters survive it. */
typedef struct wh_tenant {
  char name[WH_CFG_NAME_MAX + 1];
  wh_cfg_tenant_t cfg;            /* key and merged limits; cfg_lock */
  bool present;                   /* still in the config file */
  _Atomic uint32_t running;       /* invocations queued or running */
  pthread_mutex_t bucket_lock;    /* fuel_per_second token bucket */
  double bucket;                  /* fuel available now */
  uint64_t bucket_ms;             /* when it was last refilled */
  _Atomic uint64_t invocations, fuel, traps;
} wh_tenant_t;

/* ---- deployments (deploy.c) ---------------------------------------------- */

/* One live version of (tenant, name): the compiled module or component
 * and its facts.  Reference-counted: the table holds one reference, every
 * job using it another, so a delete or redeploy never pulls it from under
 * a call.  Immutable once installed. */
typedef struct wh_deployment {
  _Atomic int refs;
  wh_reg_entry_t reg;             /* tenant, name, version, digest, options */
  wh_module_t *module;            /* a core module, or NULL */
  wh_cm_component_t *component;   /* a component, or NULL */
  bool wasi_p1;                   /* the module imports wasi_snapshot_preview1 */
  /* deploy options (reg.options, parsed; docs/API.md "Deploy options") */
  bool stub_missing_imports;      /* missing imports trap when called */
  char **args;                    /* nargs program arguments after argv[0] */
  size_t nargs;
  char **envp;                    /* envc "KEY=VALUE" strings */
  size_t envc;
  uint64_t compile_us;
  bool cached;                    /* compiled artifact came from the cache */
  /* deploy-time links (?link=IMPORT=COMPONENT): import links[i].import is
   * satisfied by link_deps[i] (referenced: the target pinned at the
   * version it had when the link was made; deploy.c) */
  wh_reg_link_t *links;
  struct wh_deployment **link_deps;
  size_t nlinks;
} wh_deployment_t;

void wh_dep_ref(wh_deployment_t *d);
void wh_dep_unref(wh_deployment_t *d);

/* ---- jobs (executor.c) ---------------------------------------------------- */

enum { WH_JOB_DEPLOY, WH_JOB_INVOKE, WH_JOB_DELETE };

typedef struct wh_daemon wh_daemon_t;

typedef struct wh_job {
  int kind;
  wh_daemon_t *d;
  struct evhttp_request *req;     /* I/O thread only */
  struct wh_io *io;               /* the I/O thread that answers it */
  uint64_t start_us;
  char request_id[17];
  wh_tenant_t *tenant;
  /* deploy */
  char name[WH_REG_NAME_MAX + 1];
  char *options;                  /* deploy options as JSON text; owned */
  uint8_t *body;                  /* owned */
  size_t body_len;
  /* invoke */
  wh_deployment_t *dep;           /* referenced */
  char *export_name;              /* owned */
  json_t *args;                   /* owned reference */
  uint64_t fuel;                  /* 0 = unmetered */
  uint64_t wall_ms;
  uint64_t memory_limit;
  /* result, written by the worker */
  int status;                     /* HTTP status */
  json_t *reply;                  /* owned reference */
  const char *trap_kind;          /* for metrics; static string or NULL */
  struct wh_job *next;            /* queue link, then done-list link */
} wh_job_t;

/* ---- the daemon ----------------------------------------------------------- */

struct wh_daemon {
  wh_config_t cfg;                /* cfg_lock for tenants and limits */
  const char *config_path;        /* NULL: embedded dev config */
  pthread_rwlock_t cfg_lock;
  wh_tenant_t *tenants;           /* runtime tenants, up to WH_CFG_MAX_TENANTS */
  uint32_t ntenants;

  wh_engine_t *engine;
  wh_pool_t *pool;
  wh_reg_t *reg;
  wh_cache_t *cache;              /* compiled artifacts; NULL if it would not open */

  /* deployment table: (tenant, name) -> wh_deployment_t*, under dep_lock */
  pthread_mutex_t dep_lock;
  struct dep_slot *deps;
  uint32_t deps_cap, deps_len;

  /* executor */
  pthread_mutex_t q_lock;
  pthread_cond_t q_cond;
  wh_job_t *q_head, *q_tail;
  uint32_t q_len;
  bool q_stop;
  uint32_t q_idle;                /* workers waiting on q_cond */
  pthread_t *workers;
  uint32_t nworkers;

  struct event_base *base;
  struct evhttp *http;
  struct event *sig_term, *sig_int, *sig_hup, *drain_timer;
  _Atomic bool ready;             /* start-up reload finished */
  _Atomic bool draining;         /* read by every I/O thread */
  _Atomic uint32_t in_flight;     /* jobs queued or running */

  /* metrics (atomics; read by GET /metrics) */
  _Atomic uint64_t http_requests[6][8];   /* [route][status class] */
  _Atomic uint64_t latency_bucket[12];
  _Atomic uint64_t latency_count, latency_sum_us;
  _Atomic uint64_t traps_by_kind[WH__TRAP_COUNT];
  _Atomic uint64_t deploys, compile_us_total;
  _Atomic uint64_t request_timeouts;      /* connections cut: request too slow */
};

/* executor.c */
int wh_exec_start(wh_daemon_t *d, wh_diag_t *diag);
/* Queues a job; false when the queue is full or stopping (the caller
 * answers 503).  *wake says
 * whether an idle worker is waiting: then the caller calls wh_exec_wake,
 * after queueing what else it has at hand. */
bool wh_exec_submit(wh_daemon_t *d, wh_job_t *job, bool *wake);
/* Wakes as many idle workers as there are queued jobs (at most). */
void wh_exec_wake(wh_daemon_t *d);
void wh_exec_stop(wh_daemon_t *d);
void wh_job_free(wh_job_t *job);

/* deploy.c */
int wh_deps_init(wh_daemon_t *d);
void wh_deps_fini(wh_daemon_t *d);
/* The live deployment of (tenant, name), referenced; NULL if none. */
wh_deployment_t *wh_deps_get(wh_daemon_t *d, const char *tenant, const char *name);
/* Installs `dep` (takes the caller's reference), replacing and
 * unreferencing an older version. */
void wh_deps_put(wh_daemon_t *d, wh_deployment_t *dep);
/* Removes (tenant, name); false if absent. */
bool wh_deps_remove(wh_daemon_t *d, const char *tenant, const char *name);
/* Live deployments by the tier serving them now (tier auto moves them
 * from the interpreter to native as their compiles end). */
void wh_deps_count_tiers(wh_daemon_t *d, uint32_t *native, uint32_t *interp);
/* Cache pins (docs/CACHE.md "Pinning"): each deployment's artifact is
 * pinned under the holder "deploy:TENANT/NAME", so eviction never drops
 * what a live deployment loads from at the next start.  wh_deps_pin moves
 * the holder's pin to dep's version (a deploy), wh_deps_unpin drops it (a
 * delete), wh_deps_pin_all replaces every "deploy:" pin by the live
 * deployments' (start-up; also clears pins a crash left behind).  Cache
 * trouble is logged, never an error. */
void wh_deps_pin(wh_daemon_t *d, const wh_deployment_t *dep);
void wh_deps_unpin(wh_daemon_t *d, const char *tenant, const char *name);
void wh_deps_pin_all(wh_daemon_t *d);
/* Sets "tier" ("native" or "interpreter": what serves dep now) and, when
 * native code was asked for and is not serving, "tier_reason" on obj. */
void wh_deps_tier_json(const wh_deployment_t *dep, json_t *obj);
/* Compiles `bytes` (a core module or a component) into a deployment for
 * `e` (not installed) with deploy options `options` (JSON text from
 * wh_deps_parse_options; NULL or "" for none).  The cache is keyed by
 * e->digest, or `digest` (the bytes' SHA-256 in hex) when e is NULL. */
wh_deployment_t *wh_deps_compile(wh_daemon_t *d, const wh_reg_entry_t *e, const char *digest,
                                 const char *options, const uint8_t *bytes, size_t len,
                                 wh_diag_t *diag);
/* Deploy options from a request's query string (NULL: none) into
 * canonical JSON text (*out malloc'ed; NULL when there are none).  On a
 * bad option returns WH_EINVAL with the reason in `why`. */
int wh_deps_parse_options(const char *query, char **out, char *why, size_t n);
/* Fills dep's option fields (stub_missing_imports, args, envp, links)
 * from such JSON text; wh_dep_unref frees them.  WH_ECORRUPT for text that
 * is not such options (a damaged registry row), WH_ENOMEM. */
int wh_deps_apply_options(wh_deployment_t *dep, const char *text, wh_diag_t *diag);
/* Resolves a component deployment's links (deploy option `link`) against
 * the tenant's live components and checks each import's type against the
 * target's export (wh_cm_link_check).  0, or the HTTP status to answer
 * (404: no such component of this tenant; 400: not linkable, `why` names
 * both types) with the error code in *code. */
int wh_deps_link(wh_daemon_t *d, wh_deployment_t *dep, const char *tenant, const char **code,
                 char *why, size_t n);
/* wh_cm_linker_check on `l` with dep's linked imports counted as provided. */
int wh_deps_check_imports(const wh_deployment_t *dep, const wh_cm_linker_t *l, wh_diag_t *diag);
/* Instantiates component deployment `dep` on `x` from `alloc`, after the
 * components it links to (recursively), each with `strict` or `stub` as
 * its options say; their instances go to *linked (*nlinked of them), to
 * free with wh_deps_free_linked after *out.  Errors as wh_cm_instantiate. */
int wh_deps_instantiate(const wh_deployment_t *dep, wh_cm_linker_t *strict,
                        wh_cm_linker_t *stub, wh_exec_t *x, wh_inst_alloc_t *alloc,
                        wh_cm_instance_t **out, wh_cm_instance_t ***linked, size_t *nlinked,
                        wh_diag_t *diag);
void wh_deps_free_linked(wh_cm_instance_t **linked, size_t n);
/* Loads every registry deployment at start-up; counts failures. */
int wh_deps_load_all(wh_daemon_t *d, uint32_t *loaded, uint32_t *failed);
/* A deployment as JSON: name, kind, version, digest, size, options,
 * exports and imports (docs/API.md). */
json_t *wh_deps_describe(const wh_deployment_t *dep);

/* http.c */
int wh_http_start(wh_daemon_t *d, wh_diag_t *diag);
/* An event base for an I/O thread (epoll with its changelist). */
struct event_base *wh_http_base_new(void);
void wh_http_stop_accepting(wh_daemon_t *d);
/* Hands a finished job back to the I/O thread that received its request
 * (any thread; lock-free: the job joins that thread's done list, and the
 * thread is woken only when the list was empty). */
void wh_http_job_complete(wh_job_t *job);
void wh_http_fini(wh_daemon_t *d);
/* Replies handed to libevent but not yet fully written (drain waits). */
uint32_t wh_http_replies_pending(void);
/* The API's code for a trap kind ("out_of_fuel", ...); static storage. */
const char *wh_trap_api_code(wh_trap_code_t t);

/* Tenants (wharfd.c): the tenant whose key hashes to `key`, or NULL;
 * constant time in the key. */
wh_tenant_t *wh_tenant_by_key(wh_daemon_t *d, const char *key, size_t len);

uint64_t wh_now_us(void);
uint64_t wh_now_ms_real(void);

#endif /* WH_DAEMON_H */
